/*
 * libvexil — local evaluation, for Vexil's own code: the public
 * include/vexil/eval.h with the engine (eval/eval.h) and the proto-to-
 * context helper (model/compile.h: vx_ctx_from_proto()) its users inside
 * the tree rely on. Programs outside the tree include <vexil/eval.h>.
 */
#ifndef VEXIL_EVAL_H
#define VEXIL_EVAL_H

#include "eval/eval.h"
#include "model/compile.h" /* vx_ctx_from_proto() */
#include "vexil.h"
#include "vexil/eval.h"

/*
 * A number no other compiled set of this process has or had (never 0):
 * what a cache of results' string pointers keys the set by, where a freed
 * set's address (and its strings') may be another set's later.
 */
uint64_t vx_eval_snapshot_serial(const vx_eval_snapshot *s);

#endif
