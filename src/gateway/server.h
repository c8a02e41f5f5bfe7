/*
 * Vexil gateway — the HTTP server: our own HTTP/1.1 connection layer on
 * nng streams (TCP, or TLS through nng's mbedTLS), a bounded job queue and
 * a pool of worker threads.
 *
 * nng's threads run the connections' aio callbacks, which never block:
 * they parse the request head (with limits on the target, the header
 * count and the head's size, and deadlines for the head, the body and an
 * idle keep-alive connection), read the body and queue the request; a
 * full queue is answered 503 at once. Workers take requests off the queue,
 * route them and make the blocking calls to vexild. Requests on one
 * connection are served one at a time, in order. Every response carries
 * X-Request-Id, and each request writes one access-log line. A handler
 * may turn its response into a stream (vx_gw_reply_stream, http.h).
 */
#ifndef VX_GW_SERVER_H
#define VX_GW_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"

typedef struct vx_gw_opts {
	const char *listen_url;  /* http://host:port or https://host:port */
	const char *tls_cert;    /* PEM files, required for https:// */
	const char *tls_key;
	const char *rpc_url;     /* vexild's REP socket */
	const char *sub_url;     /* vexild's PUB socket, for server-sent events */
	int workers;             /* threads making core calls */
	size_t queue;            /* requests waiting for a worker */
	size_t max_body;         /* larger bodies are answered 413 */
	int rpc_timeout_ms;      /* per core call */
	size_t max_url;          /* longer request targets get 414 */
	size_t max_headers;      /* more request headers get 431 */
	size_t max_header_bytes; /* a larger request head gets 431 */
	int header_timeout_ms;   /* for a whole request head: 408 */
	int body_timeout_ms;     /* for a whole request body: 408 */
	int idle_timeout_ms;     /* an idle keep-alive connection closes */
	size_t max_conns;        /* open connections; past it 503 and close */
	int sse_heartbeat_ms;    /* comment line on every event stream */
	size_t max_streams;      /* open event streams; past it 503 */
	bool quiet;              /* no access log */
	struct vx_gw_edge *edge; /* edge.h; NULL: every evaluation asks vexild */
} vx_gw_opts;

typedef struct vx_gw_server vx_gw_server;

/*
 * Starts listening and the workers.
 * @return 0; VX_EINVAL for a bad URL or TLS files; VX_EIO when the address
 *         cannot be bound; VX_ENOMEM. The reason is logged.
 */
int vx_gw_server_start(vx_gw_server **out, const vx_gw_opts *o) VX_MUST_USE;

/*
 * Graceful stop: new requests are answered 503 with Connection: close,
 * requests already read are finished and answered, then the listener,
 * the workers and the core connection close. Frees s.
 */
void vx_gw_server_stop(vx_gw_server *s);

#endif
