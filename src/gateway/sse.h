/*
 * Vexil gateway — the OFREP change stream, GET /ofrep/v1/events, as
 * server-sent events.
 *
 * One hub per gateway process holds ONE nng SUB socket on vexild's PUB
 * socket (--sub) and fans each ChangeNotice out to the open streams of
 * that notice's project. Every change is one event:
 *
 *   id: <revision>
 *   event: message
 *   data: {"type":"refetchEvaluation","etag":"\"<revision>\""}
 *
 * The revision is the project's (each change has its own), so a client's
 * Last-Event-ID resumes exactly: the changes after it are replayed from
 * WatchService/Changes, then live notices follow, never a revision twice
 * and none skipped. A stream tracks the last revision it accounted for;
 * a notice past the next one (the SUB socket is lossy) is a gap, filled
 * from Changes as well. When the change log no longer reaches back, one
 * event at the head revision tells the client to refetch. Streams of an
 * SDK key bound to one environment skip changes of other environments
 * (their ids simply jump).
 *
 * The hub runs one thread of its own: the SUB socket's aio only queues
 * notices, and the thread applies them, makes the (blocking) Changes
 * calls with each stream's own credential, and writes the heartbeat
 * comment (": keep-alive") every --sse-heartbeat.
 */
#ifndef VX_GW_SSE_H
#define VX_GW_SSE_H

#include <stddef.h>

#include "common/common.h"
#include "gateway/http.h"

typedef struct vx_gw_sse_opts {
	const char *sub_url;       /* vexild's PUB socket */
	const vx_gw_rpc *rpc;      /* for Changes; outlives the hub */
	int heartbeat_ms;          /* between keep-alive comments */
	size_t max_streams;        /* open streams; past it 503 */
} vx_gw_sse_opts;

/*
 * Starts the process's hub (dialling --sub in the background: vexild may
 * come later; nng redials).
 * @return 0; VX_EINVAL for a bad URL; VX_ENOMEM.
 */
int vx_gw_sse_start(const vx_gw_sse_opts *o) VX_MUST_USE;
/* Stops the hub and frees every stream it still holds. Call it once the
 * server's connections are closed. */
void vx_gw_sse_stop(void);

/*
 * GET /ofrep/v1/events. Credential: "Authorization: Bearer <key>" or
 * "X-API-Key: <key>", an SDK key (sdk_..., or an old vxs_...) or an API key bound to a
 * project, admitted through AuthService/Admit: none or a refused one is
 * 401 with no body, over the rate limit 429 with Retry-After. A key bound
 * to no project is 400. Last-Event-ID, when sent, must be a revision.
 */
void vx_gw_sse_events(vx_gw_req *r);

#endif
