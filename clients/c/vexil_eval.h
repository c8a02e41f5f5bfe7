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

#endif
