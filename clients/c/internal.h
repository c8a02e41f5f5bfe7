/*
 * libvexil — definitions shared by the library's own files only.
 */
#ifndef VEXIL_INTERNAL_H
#define VEXIL_INTERNAL_H

#include "model/flagset.h"
#include "vexil_eval.h"

struct vx_eval_snapshot {
	vx_flagset *fs;
};

/* The credential the client sends, as on the wire ("ApiKey <key>"), or NULL. */
const char *vx_client_credential(const vx_client *c);

#endif
