/*
 * Vexil gateway — calling vexild on behalf of an HTTP request.
 *
 * The gateway keeps no credential of its own. Each call carries the one
 * the HTTP client sent (r->credential, set by the dialect), so vexild
 * authenticates and authorises every request itself, through libvexil's
 * vx_call_as(), which takes the credential (and the request id, for
 * vexild's log) per call: one shared client serves every worker, each call
 * on an nng context of its own.
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
};

/*
 * Calls svc's method `method` (its proto name, "CreateFlag") with `in`
 * and r's credential; *out is unpacked into r->arena.
 * @return 0 with *out set; otherwise a negative VX_E* code with st set
 *         (UNIMPLEMENTED when this vexild has no such method, for a
 *         gateway newer than its core).
 */
int vx_gw_call(vx_gw_req *r, const ProtobufCServiceDescriptor *svc, const char *method,
    const ProtobufCMessage *in, ProtobufCMessage **out, vx_status *st) VX_MUST_USE;

/* Typed sugar: VX_GW_CALL(r, vexil__v1__flag_service, "GetFlag", &in, &flag, &st). */
#define VX_GW_CALL(r, svc, method, in, out, st)                                  \
	vx_gw_call((r), &svc##__descriptor, (method), &(in)->base,                \
	    (ProtobufCMessage **)(void *)(out), (st))

/*
 * Admission: AuthService/Admit with r's credential, once per request of
 * the dialects that rate-limit (platform, OFREP). When the key has a
 * limit, sets X-RateLimit-Limit/-Remaining/-Reset on r (and Retry-After,
 * in seconds, when it is spent).
 * @return 0 admitted (*out says who); 1 over the limit (the caller
 *         answers 429 in its own format); or a negative VX_E* code with st
 *         set, as vx_gw_call().
 */
int vx_gw_admit(vx_gw_req *r, Vexil__V1__AdmitReply **out, vx_status *st) VX_MUST_USE;

/*
 * The key of "Authorization: Bearer <key>" or "X-API-Key: <key>" (the
 * OFREP documents' forms) as a core credential: "SdkKey <key>" for an SDK
 * key (VX_SDKKEY_PREFIX), else "ApiKey <key>". NULL when there is none or
 * it is not a token (vx_gw_token_ok), or out of memory.
 */
const char *vx_gw_key_credential(vx_gw_req *r);

#endif
