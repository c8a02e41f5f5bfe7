/*
 * Vexil gateway — gRPC-style status codes to HTTP statuses: see status.h.
 *
 * The table is grpc-gateway's (runtime/errors.go, HTTPStatusFromCode), so
 * people who know that mapping can predict ours. CANCELLED is 499 there,
 * a status nginx invented; we answer 500 instead because a cancelled call
 * here can only be one the gateway itself gave up on.
 */
#include "gateway/status.h"

#include <string.h>

int
vx_gw_http_status(Vexil__V1__Code code)
{
	switch (code) {
	case VEXIL__V1__CODE__OK: return 200;
	case VEXIL__V1__CODE__INVALID_ARGUMENT:
	case VEXIL__V1__CODE__FAILED_PRECONDITION:
	case VEXIL__V1__CODE__OUT_OF_RANGE: return 400;
	case VEXIL__V1__CODE__UNAUTHENTICATED: return 401;
	case VEXIL__V1__CODE__PERMISSION_DENIED: return 403;
	case VEXIL__V1__CODE__NOT_FOUND: return 404;
	case VEXIL__V1__CODE__ALREADY_EXISTS:
	case VEXIL__V1__CODE__ABORTED: return 409;
	case VEXIL__V1__CODE__RESOURCE_EXHAUSTED: return 429;
	case VEXIL__V1__CODE__UNIMPLEMENTED: return 501;
	case VEXIL__V1__CODE__UNAVAILABLE: return 503;
	case VEXIL__V1__CODE__DEADLINE_EXCEEDED: return 504;
	default: return 500;
	}
}

int
vx_gw_call_status(const vx_status *st)
{
	if (st->code == VEXIL__V1__CODE__RESOURCE_EXHAUSTED &&
	    strcmp(st->constraint, VX_CONSTRAINT_DISK_FULL) == 0)
		return 507;
	return vx_gw_http_status(st->code);
}
