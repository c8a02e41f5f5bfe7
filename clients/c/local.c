/*
 * libvexil — local evaluation: see vexil_eval.h.
 */
#include "vexil_eval.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int
vx_eval_snapshot_fetch(vx_client *c, const char *project, const char *env,
    vx_eval_snapshot **out, vx_status *st)
{
	Vexil__V1__GetSnapshotRequest in = VEXIL__V1__GET_SNAPSHOT_REQUEST__INIT;
	Vexil__V1__Snapshot *snap;
	vx_eval_snapshot *s;
	char err[300];
	int rc;

	*out = NULL;
	in.project = (char *)project;
	in.environment = (char *)env;
	if ((rc = vx_get_snapshot(c, &in, &snap, st)) != 0)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		vx_free(snap);
		vx_status_set(st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL, "out of memory");
		return VX_ENOMEM;
	}
	rc =
	    vx_flagset_build(snap->flags, snap->n_flags, snap->segments, snap->n_segments,
	        snap->project_id, snap->revision, env, &s->fs, err, sizeof(err));
	vx_free(snap);
	if (rc != 0) {
		free(s);
		vx_status_set(st, VEXIL__V1__CODE__INTERNAL, NULL, NULL, "snapshot: %s",
		    rc == VX_EINVAL ? err : vx_strerror(rc));
		return rc == VX_EINVAL ? VX_EPROTO : rc;
	}
	s->serial = vx_eval_snapshot_next_serial();
	*out = s;
	return 0;
}

void
vx_eval_snapshot_free(vx_eval_snapshot *s)
{
	if (s == NULL)
		return;
	vx_flagset_free(s->fs);
	free(s);
}

uint64_t
vx_eval_snapshot_next_serial(void)
{
	static atomic_uint_fast64_t last;

	return atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1;
}

uint64_t
vx_eval_snapshot_serial(const vx_eval_snapshot *s)
{
	return s->serial;
}

uint64_t
vx_eval_snapshot_revision(const vx_eval_snapshot *s)
{
	return s->fs->revision;
}

int
vx_eval_local(const vx_eval_snapshot *s, const char *key, const vx_eval_ctx *ctx,
    vx_eval_result *res, uint64_t *rule_id)
{
	const vx_compiled *cf = vx_flagset_find(s->fs, key);
	int rc = vx_eval_flag_evaluate(cf ? cf->flag : NULL, ctx, res);

	if (cf && rc == VX_EVAL_OK)
		vx_compiled_settle(cf, res);
	if (rule_id)
		*rule_id = cf && res->rule >= 0 ? cf->rule_ids[res->rule] : 0;
	if (rc == VX_EVAL_ENOTFOUND)
		return VX_ENOTFOUND;
	return rc == VX_EVAL_OK ? 0 : VX_ENOMEM;
}

size_t
vx_eval_snapshot_count(const vx_eval_snapshot *s)
{
	return s->fs->n;
}

const char *
vx_eval_snapshot_env(const vx_eval_snapshot *s)
{
	return s->fs->env;
}

int
vx_eval_local_result(const vx_eval_snapshot *s, size_t i, const char *key,
    const vx_eval_ctx *ctx, Vexil__V1__EvaluationResult *out)
{
	const vx_compiled *cf = key            ? vx_flagset_find(s->fs, key)
	                        : i < s->fs->n ? &s->fs->flags[i]
	                                       : NULL;
	if (cf == NULL)
		return VX_ENOTFOUND;
	return vx_flagset_result(s->fs, cf, ctx, out);
}
