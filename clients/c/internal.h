/*
 * libvexil — definitions shared by the library's own files only.
 */
#ifndef VEXIL_INTERNAL_H
#define VEXIL_INTERNAL_H

#include "model/flagset.h"
#include "vexil_eval.h"

struct vx_eval_snapshot {
	vx_flagset *fs;
	uint64_t serial; /* vx_eval_snapshot_serial() */
};

/* A process-wide number for a newly compiled set: never 0, never reused. */
uint64_t vx_eval_snapshot_next_serial(void);

/* The credential the client sends, as on the wire ("ApiKey <key>"), or NULL. */
const char *vx_client_credential(const vx_client *c);

#endif
