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

/* The HTTP status for a status code: 200 for OK, 500 for anything unknown. */
int vx_gw_http_status(Vexil__V1__Code code);

#endif
