/*
 * Vexil gateway — the HTTP server: our own HTTP/1.1 layer on nng streams
 * (TCP, or TLS through nng's mbedTLS), a bounded pool of request slots and
 * worker threads, and the listener that ties them together.
 *
 * The pieces, lowest first, each in a file of its own:
 *   http1.c   the HTTP/1.1 syntax: request heads, framing, response heads
 *             (pure: no nng, no allocation; fuzzed alone)
 *   conn.c    a connection's state machine, the only code on nng_stream
 *   pool.c    request slots and the workers that route and answer them
 *   server.c  listening, and starting and stopping the above in order
 *
 * The server knows no dialect: main.c hands it the dialects to route to
 * (dialects.h) and the core connection (rpc.h), and starts the change
 * stream's hub (sse.h) itself. Requests on one connection are served one
 * at a time, in order. Every response carries X-Request-Id, and each
 * request writes one access-log line. A handler may turn its response into
 * a stream (vx_gw_reply_stream, http.h).
 *
 * Return convention: 0 or a negative VX_E* code.
 */
#ifndef VX_GW_SERVER_H
#define VX_GW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"
#include "gateway/http.h"

typedef struct vx_gw_opts {
	const char *listen_url; /* http://host:port or https://host:port */
	const char *tls_cert;   /* PEM files, required for https:// */
	const char *tls_key;
	const vx_gw_rpc *rpc; /* the core connection; outlives the server */
	const vx_gw_dialect *const *dialects; /* routed; [0] is the fallback */
	size_t n_dialects;
	int workers;             /* threads making core calls */
	size_t queue;            /* requests waiting for a worker */
	size_t max_msg;          /* vexild's --max-msg; 0: VX_WIRE_MAX_MSG */
	size_t max_body;         /* larger bodies are answered 413; 0: all that
	                          * fits in max_msg with the request around it */
	size_t max_url;          /* longer request targets get 414 */
	size_t max_headers;      /* more request headers get 431 */
	size_t max_header_bytes; /* a larger request head gets 431 */
	int header_timeout_ms;   /* for a whole request head: 408 */
	int body_timeout_ms;     /* for a whole request body: 408 */
	int idle_timeout_ms;     /* an idle keep-alive connection closes */
	size_t max_conns;        /* open connections; past it 503 and close */
	bool quiet;              /* no access log */
} vx_gw_opts;

typedef struct vx_gw_server vx_gw_server;

/*
 * Starts the workers and listening. o is copied (its strings, rpc and
 * dialects are borrowed and must outlive the server).
 * @return 0; VX_EINVAL for a bad URL or TLS files, or a --max-body that
 *         does not fit in max_msg; VX_EIO when the address cannot be
 *         bound; VX_ENOMEM. The reason is logged.
 */
int vx_gw_server_start(vx_gw_server **out, const vx_gw_opts *o) VX_MUST_USE;

/*
 * Graceful stop: new requests are answered 503 with Connection: close,
 * requests already read are finished and answered, then the listener,
 * the connections (open streams too) and the workers close. Frees s.
 */
void vx_gw_server_stop(vx_gw_server *s);

#endif
