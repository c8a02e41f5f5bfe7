/*
 * Vexil gateway — HTTP/1.1 connections on nng streams: the only code of
 * the gateway that reads or writes an nng_stream.
 *
 * A connection is a small state machine driven by two aios of its own, one
 * reading and one writing, and never more than one request at a time:
 *
 *   C_HEAD      reading a request head, with the idle deadline (nothing
 *               received yet) or the head deadline (--header-timeout from
 *               the first byte of anything, empty lines included)
 *   C_CONTINUE  writing "100 Continue" before the body
 *   C_BODY      reading the body into the job (--body-timeout)
 *   C_WORK      the job is queued or on a worker (pool.h): nothing is
 *               read, so a pipelined request waits in the buffer or socket
 *   C_WRITE     writing the response; then back to C_HEAD (keep-alive)
 *               or closed
 *   C_STREAM    a streamed response (vx_gw_reply_stream, http.h): bytes
 *               queued by any thread are written in order, and a read that
 *               discards what the client sends notices when it goes away
 *
 * nng's threads run the aio callbacks, which never block: they frame the
 * request with http1.c, take a job slot (or answer 503), read the body and
 * submit the job. Every error this layer writes itself is in the error
 * format of the dialect that owns the path, and closes the connection.
 *
 * Return convention: 0 or a negative VX_E* code.
 */
#ifndef VX_GW_CONN_H
#define VX_GW_CONN_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"
#include "gateway/pool.h"
#include "gateway/router.h"

typedef struct vx_gw_conn_opts {
	size_t max_url;             /* longer request targets get 414 */
	size_t max_headers;         /* more request headers get 431 */
	size_t max_header_bytes;    /* a larger request head gets 431 */
	size_t max_body;            /* larger bodies get 413 */
	size_t max_conns;           /* open connections; past it 503 and close */
	int header_timeout_ms;      /* for a whole request head: 408 */
	int body_timeout_ms;        /* for a whole request body: 408 */
	int idle_timeout_ms;        /* an idle keep-alive connection closes */
	bool quiet;                 /* no access log */
	const vx_gw_router *router; /* whose dialect writes this layer's errors */
	vx_gw_pool *pool;           /* job slots and workers */
} vx_gw_conn_opts;

/* The open connections of one listener. */
typedef struct vx_gw_conns vx_gw_conns;

/* o is copied; router and pool are borrowed. @return 0; VX_ENOMEM. */
int vx_gw_conns_alloc(vx_gw_conns **out, const vx_gw_conn_opts *o) VX_MUST_USE;

/*
 * Serves a newly accepted stream, which cs takes over (it is freed when
 * the connection ends, or at once when there is no room or memory). Past
 * max_conns the connection gets 503 and is closed; far past it, it is
 * closed without a word.
 */
void vx_gw_conns_accept(vx_gw_conns *cs, nng_stream *st);

/*
 * The pool's answer callback (vx_gw_answer_fn): hands a worker's answered
 * request to the job's connection, which writes it (or starts the stream).
 */
void vx_gw_conn_answer(vx_gw_job *j, vx_gw_req *r);

/* Closes every connection; with gentle, a response being worked on or
 * written is finished first (and then the connection closes). */
void vx_gw_conns_close(vx_gw_conns *cs, bool gentle);

/* Waits until no connection is open, at most ms (< 0: without limit).
 * @return 0; VX_ETIMEDOUT. */
int vx_gw_conns_wait(vx_gw_conns *cs, int ms);

/* Frees cs; every connection must have ended (vx_gw_conns_wait). */
void vx_gw_conns_free(vx_gw_conns *cs);

#endif
