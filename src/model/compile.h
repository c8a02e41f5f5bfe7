/*
 * Vexil — from the stored flag to the evaluation engine's compiled form.
 *
 * The engine (src/eval) knows nothing of protobuf; this is the one place
 * that turns a Flag message and one of its environments into the engine's
 * source structs and compiles them. vexild uses it to refuse flags the
 * engine cannot evaluate and to build its compiled cache; libvexil uses it
 * for local evaluation, so both run the same code.
 */
#ifndef VX_MODEL_COMPILE_H
#define VX_MODEL_COMPILE_H

#include <stddef.h>

#include "common/common.h"
#include "eval/eval.h"
#include "vexil/v1/model.pb-c.h"
#include "vexil/v1/service.pb-c.h"

/*
 * Compiles flag f as configured in environment env, with no segments (a
 * rule that names one is VX_EINVAL).
 * @param[out] out  the compiled flag; free with vx_eval_flag_free().
 * @param[out] err  on VX_EINVAL, why (naming the rule or variant at fault).
 * @return 0; VX_EINVAL when the flag cannot be evaluated, or has no config
 *         for env (a flag always gets one per environment when stored);
 *         VX_ENOMEM.
 */
int vx_flag_compile(const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg,
    vx_eval_flag **out, char *err, size_t errlen) VX_MUST_USE;

/*
 * Same, with the segments of the flag's project: a rule that names a
 * segment gets its conditions after its own (all must hold). A rule naming
 * a segment that is not among segs is VX_EINVAL.
 */
int vx_flag_compile_in(const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg,
    Vexil__V1__Segment *const *segs, size_t nsegs, vx_eval_flag **out, char *err,
    size_t errlen) VX_MUST_USE;

/*
 * The stand-in for a stored flag that vx_flag_compile() refuses: its
 * variants without its rules, marked broken (vx_eval_flag_src.broken), so
 * it serves its off variant (or its first, when the off one is gone) with
 * reason ERROR.
 * @return 0; VX_EINVAL when even its variants do not compile; VX_ENOMEM.
 */
int vx_flag_compile_broken(const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg,
    vx_eval_flag **out) VX_MUST_USE;

/*
 * Builds an engine context over an EvalContext message. Nothing is copied:
 * ctx points into in, and custom attributes go into attrs (cap entries;
 * attributes past cap are ignored).
 */
void vx_ctx_from_proto(const Vexil__V1__EvalContext *in, vx_eval_attr *attrs, size_t cap,
    vx_eval_ctx *ctx);

#endif
