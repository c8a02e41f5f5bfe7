/*
 * Vexil gateway — calling vexild on behalf of an HTTP request.
 *
 * The gateway keeps no credential of its own. Each call carries the one
 * the HTTP client sent (r->credential, set by the dialect), so vexild
 * authenticates and authorises every request itself. Calls are libvexil's
 * generated typed calls with per-call options, vx_<rpc>_as(), which take
 * that credential (and the request id, for vexild's log) per call: one
 * shared client serves every worker, each call on an nng context of its
 * own. A call site reads
 *
 *	vx_get_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &flag, &st)
 *
 * so the compiler checks the method, its input and its reply type.
 *
 * Replies are unpacked into the request's arena and need no freeing.
 */
#ifndef VX_GW_RPC_H
#define VX_GW_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "gateway/http.h"
#include "vexil/v1/service.pb-c.h"
#include "vexil.h"

struct vx_gw_rpc {
	vx_client *client;
	int timeout_ms;  /* per call */
	struct vx_gw_edge *edge; /* evaluations from live snapshots; NULL: none */
};

/* The client r's core calls go through (one for the whole gateway). */
static inline vx_client *
vx_gw_client(const vx_gw_req *r)
{
	return r->rpc->client;
}

/*
 * The options of a core call made for r: r's credential (NULL sends
 * none), its request id, the gateway's --rpc-timeout, and r's arena to
 * unpack the reply into (malloc when r has no arena, which no handler
 * meets). A pointer to a compound literal, valid until the end of the
 * enclosing block; r is evaluated more than once. The typed call then
 * returns 0 with *out set, or a negative VX_E* code with st set.
 */
#define VX_GW_OPTS(r)                                                            \
	(&(vx_call_opts){.credential = (r)->credential,                           \
	    .request_id = (r)->request_id,                                        \
	    .timeout_ms = (r)->rpc->timeout_ms,                                   \
	    .alloc = (r)->arena ? &(r)->arena->pb : NULL})

/*
 * Admission: AuthService/Admit with r's credential, once per request of
 * the dialects that rate-limit (platform, OFREP). When the key has a
 * limit, sets X-RateLimit-Limit/-Remaining/-Reset on r (and Retry-After,
 * in seconds, when it is spent).
 * @return 0 admitted (*out says who); 1 over the limit (the caller
 *         answers 429 in its own format); or a negative VX_E* code with st
 *         set, as a typed call.
 */
int vx_gw_admit(vx_gw_req *r, Vexil__V1__AdmitReply **out, vx_status *st) VX_MUST_USE;

/*
 * The key of "Authorization: Bearer <key>" or "X-API-Key: <key>" (the
 * OFREP documents' forms) as a core credential: "SdkKey <key>" for an SDK
 * key (vx_is_sdk_key: sdk_, or an old vxs_), else "ApiKey <key>". NULL when there is none
 * or it is not a token (vx_gw_token_ok), or out of memory.
 */
const char *vx_gw_key_credential(vx_gw_req *r);

#endif
