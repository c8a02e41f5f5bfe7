/*
 * Vexil gateway — the one mapping from the core's status codes to HTTP.
 *
 * vexild answers every call with a gRPC-style code (wire/wire.h). Every
 * dialect turns a refused call into an HTTP status through this one table,
 * the way grpc-gateway does, so the same refusal means the same status in
 * all four REST APIs; only the error body differs per dialect.
 */
#ifndef VX_GW_STATUS_H
#define VX_GW_STATUS_H

#include "vexil/v1/envelope.pb-c.h"
#include "wire/wire.h"

/* The HTTP status for a status code: 200 for OK, 500 for anything unknown. */
int vx_gw_http_status(Vexil__V1__Code code);
/*
 * The HTTP status for a refused call: the code's, except that a full disk
 * under vexild's data dir (RESOURCE_EXHAUSTED with the constraint
 * VX_CONSTRAINT_DISK_FULL) is 507 Insufficient Storage, not a rate limit's
 * 429: retrying soon does not help, freeing space does.
 */
int vx_gw_call_status(const vx_status *st);

#endif
