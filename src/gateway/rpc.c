/*
 * Vexil gateway — one core call with the caller's credential: see rpc.h.
 */
#include "gateway/rpc.h"

int
vx_gw_call(vx_gw_req *r, const ProtobufCServiceDescriptor *svc, const char *method,
    const ProtobufCMessage *in, ProtobufCMessage **out, vx_status *st)
{
	const ProtobufCMethodDescriptor *md;

	*out = NULL;
	/* Call sites name methods as the proto does; an index into the
	 * descriptor would silently change meaning if the proto reordered them. */
	if ((md = protobuf_c_service_descriptor_get_method_by_name(svc, method)) == NULL) {
		vx_status_set(st, VEXIL__V1__CODE__UNIMPLEMENTED, NULL, NULL,
		    "%s/%s is not available", svc->name, method);
		return VX_EINVAL;
	}
	return vx_call_as(r->rpc->client, r->credential, r->request_id, svc,
	    (unsigned)(md - svc->methods), in, r->rpc->timeout_ms,
	    r->arena ? &r->arena->pb : NULL, out, st);
}
