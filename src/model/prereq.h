/*
 * Vexil — the prerequisite graph of a project's flags, checked.
 *
 * Prerequisites name flags by key, per environment (model.proto,
 * Prerequisite). vexild checks the graph before it stores a flag that has
 * any, and `vexild --check` checks every project's, with this one walk, so
 * the two agree on what is refused: a parent the project does not have, a
 * variant the parent does not have, a cycle, and chains past the engine's
 * bounds (VX_EVAL_PREREQ_MAX_DEPTH, VX_EVAL_PREREQ_MAX_EVALS), which the
 * flag set's link step would otherwise turn into ERROR at evaluation.
 */
#ifndef VX_MODEL_PREREQ_H
#define VX_MODEL_PREREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"
#include "vexil/v1/model.pb-c.h"

enum vx_prereq_problem {
	VX_PREREQ_MISSING, /* the parent is not a flag of the project */
	VX_PREREQ_VARIANT, /* variants[variant] is not one of the parent's */
	VX_PREREQ_CYCLE,   /* the parent leads back to the flag */
	VX_PREREQ_BOUNDS   /* the chain is too deep or too costly */
};

/*
 * Called once per problem: flag f's prerequisite `prereq` (an index into
 * its config for env) is at fault; `variant` is the variant index for
 * VX_PREREQ_VARIANT, else 0. msg says what is wrong in a sentence that
 * names the flags ("cycle: a -> b -> a"). Return false to stop the walk.
 */
typedef bool (*vx_prereq_problem_fn)(void *arg, const Vexil__V1__Flag *f, size_t prereq,
    size_t variant, int problem, const char *msg);

/*
 * Checks the prerequisites that the flags (one project's, in any order)
 * have in environment env. The walk starts at the flag keyed `first` (when
 * not NULL), so a cycle through it is reported at it, on the prerequisite
 * that leads into the cycle; then it goes on in key order.
 * @return 0 when the walk ran (problems were reported through fn), or
 *         VX_ENOMEM.
 */
int vx_prereq_check(Vexil__V1__Flag *const *flags, size_t n, const char *env,
    const char *first, vx_prereq_problem_fn fn, void *arg) VX_MUST_USE;

#endif
