/*
 * libvexil — the status of a call (public, installed as <vexil/status.h>).
 *
 * A call to vexild answers with a gRPC-style status code
 * (Vexil__V1__Code, generated from proto/vexil/v1/envelope.proto), a
 * message and, for bad input, the request field at fault and the rule it
 * broke. libvexil copies them into a vx_status the caller provides, so
 * nothing in it needs freeing.
 */
#ifndef VEXIL_STATUS_H
#define VEXIL_STATUS_H

#include <stdint.h>

#include "vexil/errors.h"
#include "vexil/v1/envelope.pb-c.h"

#pragma GCC visibility push(default)

/* The outcome of a call: a gRPC-style code and what went wrong. */
typedef struct vx_status {
	Vexil__V1__Code code;
	char message[256];
	char field[64];      /* the request field at fault, or "" */
	char constraint[32]; /* the rule it broke, or "" */
	/* A write that committed: the project it changed and the revision it
	 * made; 0 for reads, refusals and writes that changed nothing. */
	uint64_t project_id;
	uint64_t revision;
} vx_status;

/* "OK", "NOT_FOUND", ...: a static string. */
const char *vx_code_name(Vexil__V1__Code code);
/* The VX_E* error code for a status code (VX_OK for OK). */
int vx_err_from_code(Vexil__V1__Code code);

#pragma GCC visibility pop

#endif
