/*
 * Vexil gateway — the request slots and the worker pool.
 *
 * A job is one admitted request, from its head to its response: the
 * connection layer (conn.c) takes a free slot for every request head it
 * reads, fills it (the head, parsed in place, and the body), and submits
 * it. Workers take submitted jobs in order, wrap each in a vx_gw_req,
 * route it (router.c), make the blocking core calls, and hand the answered
 * request back through the pool's answer callback; then the slot is free
 * again. The number of slots (--queue + --workers) bounds the requests in
 * the gateway at once, so a full pool is answered 503 at once instead of
 * queueing without end.
 *
 * Return convention: 0 or a negative VX_E* code.
 */
#ifndef VX_GW_POOL_H
#define VX_GW_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "gateway/http.h"
#include "gateway/http1.h"
#include "gateway/router.h"

typedef struct vx_gw_job {
	struct vx_gw_job *next;
	void *conn;         /* the connection it came from (conn.c) */
	char *head;         /* max_header_bytes + 1, parsed in place */
	vx_http1_head h;    /* h.fields: max_headers of them */
	vx_gw_headers hdrs; /* h's fields, as handlers read them */
	const char *path, *query; /* h.target split; NULL until it is */
	uint8_t *body;      /* body_len bytes and a NUL */
	size_t body_len, body_cap, body_got;
	uint64_t t0; /* mono ns of the head's first byte */
	char rid[VX_GW_REQUEST_ID_MAX + 1];
	vx_arena arena; /* for vx_gw_pool_try(): reset after each request */
} vx_gw_job;

/* Called on the worker with the answered request; r is finished with
 * (vx_gw_req_fini) after it returns, and j goes back to the pool. */
typedef void (*vx_gw_answer_fn)(vx_gw_job *j, vx_gw_req *r);

typedef struct vx_gw_pool_opts {
	int workers;
	size_t queue;            /* jobs waiting for a worker */
	size_t max_header_bytes; /* the room of each job's head */
	size_t max_headers;      /* and of its fields */
	const vx_gw_router *router;
	const vx_gw_rpc *rpc;
	bool tls;   /* requests came over https:// */
	bool quiet; /* no access log */
	vx_gw_answer_fn answer;
} vx_gw_pool_opts;

typedef struct vx_gw_pool vx_gw_pool;

/*
 * Starts the workers. o is copied; router and rpc are borrowed and must
 * outlive the pool. Registers its metric (requests answered on the
 * connection's thread, vx_gw_pool_try).
 * @return 0; VX_ENOMEM (also when a thread cannot start); VX_EFULL (no
 *         room for the metric).
 */
int vx_gw_pool_start(vx_gw_pool **out, const vx_gw_pool_opts *o) VX_MUST_USE;

/*
 * A free job for a new request (reset, with head and fields allocated).
 * Thread-safe, never blocks.
 * @return 0 with *out set; VX_EFULL every slot is taken (answer 503);
 *         VX_ESTATE the pool drains (answer 503 and close); VX_ECLOSED the
 *         pool stops (close without an answer); VX_ENOMEM.
 */
int vx_gw_pool_take(vx_gw_pool *p, vx_gw_job **out) VX_MUST_USE;

/*
 * Runs j's request on the calling thread (the connection's, which must
 * not block) when its handler is one of its dialect's nonblocking ones
 * and it needs no core call; then answer is called, with the caller's
 * locks held, as a worker would (metrics and the access log too).
 * @return true answered (j is still the caller's: give it back with
 *         vx_gw_pool_release()); false nothing happened that counts:
 *         submit j.
 */
bool vx_gw_pool_try(vx_gw_pool *p, vx_gw_job *j, vx_gw_answer_fn answer);

/* Queues a job taken with vx_gw_pool_take() for a worker. */
void vx_gw_pool_submit(vx_gw_pool *p, vx_gw_job *j);

/* Gives back a job that was taken and not submitted (refused requests). */
void vx_gw_pool_release(vx_gw_pool *p, vx_gw_job *j);

/* Whether the pool drains: answers should close their connection. */
bool vx_gw_pool_draining(vx_gw_pool *p);

/*
 * From now on vx_gw_pool_take() says VX_ESTATE; waits until every job
 * taken has been answered and given back.
 */
void vx_gw_pool_drain(vx_gw_pool *p);

/* vx_gw_pool_take() says VX_ECLOSED from now on. */
void vx_gw_pool_close(vx_gw_pool *p);

/* Joins the workers (queued jobs are answered first) and frees p. Call it
 * once no connection can give a job back any more. */
void vx_gw_pool_stop(vx_gw_pool *p);

#endif
