/*
 * libvexil — local evaluation (public, installed as <vexil/eval.h>).
 *
 * vx_eval_snapshot_fetch() fetches one project environment in a single
 * RPC (EvaluationService/GetSnapshot) and compiles it with the same engine
 * and the same flag-to-engine code vexild uses (src/eval, src/model), so a
 * local answer is the server's answer at that revision. Evaluating then
 * does no I/O and no allocation: vx_eval_local() is safe to call from any
 * number of threads on one snapshot.
 */
#ifndef VEXIL_EVAL_PUBLIC_H
#define VEXIL_EVAL_PUBLIC_H

#include "vexil/context.h"
#include "vexil/vexil.h"

#pragma GCC visibility push(default)

typedef struct vx_eval_snapshot vx_eval_snapshot;

/*
 * Fetches and compiles (project, env). Works with an API key or an SDK key.
 * @param[out] out  the snapshot; free it with vx_eval_snapshot_free().
 * @return as any call (vexil.h); VX_EPROTO when a fetched flag does not
 *         compile (st says which).
 */
int vx_eval_snapshot_fetch(vx_client *c, const char *project, const char *env,
    vx_eval_snapshot **out, vx_status *st) VX_MUST_USE;
void vx_eval_snapshot_free(vx_eval_snapshot *s);
/* The project revision the snapshot was taken at. */
uint64_t vx_eval_snapshot_revision(const vx_eval_snapshot *s);

/*
 * Evaluates flag `key` for ctx. res's strings point into the snapshot.
 * @param[out] rule_id  the matching rule's id (0 when none); may be NULL.
 * @return 0; VX_ENOTFOUND for an unknown flag (res->reason is
 *         VX_REASON_FLAG_NOT_FOUND); VX_ENOMEM when a thread found no memory
 *         for its first regex match.
 */
int vx_eval_local(const vx_eval_snapshot *s, const char *key, const vx_eval_ctx *ctx,
    vx_eval_result *res, uint64_t *rule_id) VX_MUST_USE;

/* How many flags the snapshot holds (index them 0..count-1, in key order). */
size_t vx_eval_snapshot_count(const vx_eval_snapshot *s);
/* The environment the snapshot was compiled for. */
const char *vx_eval_snapshot_env(const vx_eval_snapshot *s);

/*
 * Evaluates the snapshot's i-th flag (or, with key non-NULL, flag `key`)
 * for ctx into out, field by field as vexild's EvaluationService fills an
 * EvaluationResult, so a gateway answering from a snapshot gives the
 * core's reply. out's strings point into the snapshot. No allocation.
 * @return 0; VX_ENOTFOUND for an unknown key or an index past the end;
 *         VX_EINTERNAL when the engine fails (vexild answers INTERNAL).
 */
int vx_eval_local_result(const vx_eval_snapshot *s, size_t i, const char *key,
    const vx_eval_ctx *ctx, Vexil__V1__EvaluationResult *out) VX_MUST_USE;

#pragma GCC visibility pop

#endif
