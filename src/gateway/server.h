/*
 * Vexil gateway — the HTTP server: nng's HTTP server, a bounded job queue
 * and a pool of worker threads.
 *
 * One tree handler at "/" takes every request. nng runs it on its own
 * threads, which must never block, so it only reads the body (with a size
 * cap and a timeout) and queues the request; a full queue is answered 503
 * at once. Workers take requests off the queue, route them and make the
 * blocking calls to vexild. Every response carries X-Request-Id, and each
 * request writes one access-log line.
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
	const char *sub_url;     /* vexild's PUB socket (kept for SSE; unused) */
	int workers;             /* threads making core calls */
	size_t queue;            /* requests waiting for a worker */
	size_t max_body;         /* larger bodies are answered 413 */
	int rpc_timeout_ms;      /* per core call */
	bool quiet;              /* no access log */
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
