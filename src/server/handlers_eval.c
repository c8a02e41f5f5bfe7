/*
 * Vexil — EvaluationService handlers.
 *
 * Both calls read the project in the request's read transaction, take the
 * compiled snapshot of that environment at the project's revision, and run
 * the engine. Nothing here decodes a flag or compiles a rule.
 */
#include "server/server.h"

#include <string.h>

#include "model/compile.h"
#include "server/evalcache.h"
#include "server/evalrec.h"
#include "server/readmemo.h"

#define MAX_ATTRS 64

static int
fill(vx_call *c, const vx_compiled *cf, const vx_eval_ctx *ctx, const vx_snapshot *snap,
    Vexil__V1__EvaluationResult *out)
{
	if (vx_flagset_result(snap->fs, cf, ctx, out) != 0)
		return vx_fail(c, VX_EINTERNAL, NULL, NULL, "evaluation failed");
	return 0;
}

static void
record(vx_call *c, const vx_snapshot *snap, const Vexil__V1__EvaluationResult *r,
    const vx_eval_ctx *ctx)
{
	vx_evalrec_push(c->records, VX_COUNT_EVALUATION, snap->fs->project_id, snap->fs->env,
	    r->flag_key,
	    r->variant, r->reason, ctx->user_id);
}

/* 0 when the project has environment env, or VX_ENOTFOUND. */
static int
env_exists(vx_call *c, uint64_t project_id, const char *env)
{
	Vexil__V1__Environment *e;

	return vx_store_env_get(c->reader->txn, c->store, project_id, env, c->alloc, &e);
}

/*
 * Resolves and checks the project and environment an evaluation targets.
 * No environment, with an SDK key bound to one, means that one (*envp is
 * set to it). The project may be shared with the slot's earlier requests
 * (vx_call_project_view): read it, never change it.
 */
static int
target(vx_call *c, const char *project, const char **envp, const Vexil__V1__Project **out)
{
	const Vexil__V1__Project *p;
	const char *env = *envp;
	int rc;

	if ((env == NULL || env[0] == '\0') && c->who.env[0])
		*envp = env = c->who.env;
	if ((env == NULL || env[0] == '\0') && c->who.kind == VX_PRINCIPAL_SDKKEY)
		return vx_fail(c, VX_EINVAL, "environment", "required",
		    "no environment: this SDK key is not bound to one, so the request must "
		    "name it");
	if ((rc = vx_check_key(c, "environment", env, 64)) != 0 ||
	    (rc = vx_call_project_view(c, project, &p)) != 0)
		return rc;
	/* An SDK key bound to one environment evaluates only that one. */
	if (c->who.env[0] && strcmp(c->who.env, env) != 0)
		return vx_fail(c, VX_EPERM, "environment", NULL,
		    "this SDK key is bound to environment %s", c->who.env);
	rc = c->memo != NULL
	         ? vx_readmemo_env(c->memo, c->reader->txn, c->store, p->id, env)
	         : env_exists(c, p->id, env);
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "environment", NULL,
		    "environment %.64s not found in project %.100s", env, p->name);
	if (rc != 0)
		return rc;
	*out = p;
	return 0;
}

/* The compiled flag set of the target. */
static int
snapshot(vx_call *c, const char *project, const char *env, vx_snapshot **out)
{
	const Vexil__V1__Project *p = NULL;
	int rc = target(c, project, &env, &p);

	if (rc != 0)
		return rc;
	rc = vx_evalcache_get(c->cache, c->reader->txn, c->store, p, env, out);
	if (rc == VX_EINVAL)
		return vx_fail(c, VX_EINTERNAL, NULL, NULL, "a stored flag does not compile");
	return rc;
}

static void
evaluate(Vexil__V1__EvaluationService_Service *svc, const Vexil__V1__EvaluateRequest *in,
    Vexil__V1__EvaluationResult_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__EvaluationResult *out = NULL;
	vx_snapshot *snap = NULL;
	const vx_compiled *cf;
	vx_eval_attr attrs[MAX_ATTRS];
	vx_eval_ctx ctx;
	int rc;

	(void)svc;
	if ((rc = vx_check_key(c, "flag_key", in->flag_key, VX_KEY_MAX)) != 0 ||
	    (rc = snapshot(c, in->project, in->environment, &snap)) != 0)
		goto out;
	if ((cf = vx_flagset_find(snap->fs, in->flag_key)) == NULL) {
		rc = vx_fail(c, VX_ENOTFOUND, "flag_key", "FLAG_NOT_FOUND",
		    "flag %.128s not found", in->flag_key);
		goto out;
	}
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
	if ((rc = fill(c, cf, &ctx, snap, out)) == 0)
		record(c, snap, out, &ctx);
out:
	/* The reply points into the snapshot; the dispatcher releases it once
	 * the reply is packed. */
	c->snap = snap;
	VX_REPLY(c, rc, out);
}

static void
evaluate_all(Vexil__V1__EvaluationService_Service *svc,
    const Vexil__V1__EvaluateAllRequest *in, Vexil__V1__EvaluationList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__EvaluationList *out = NULL;
	Vexil__V1__EvaluationResult *res, **ptrs;
	vx_snapshot *snap = NULL;
	vx_eval_attr attrs[MAX_ATTRS];
	vx_eval_ctx ctx;
	int rc;

	(void)svc;
	if ((rc = snapshot(c, in->project, in->environment, &snap)) != 0)
		goto out;
	out = vx_arena_alloc(c->arena, sizeof(*out));
	res = vx_arena_alloc(c->arena, (snap->fs->n + 1) * sizeof(*res));
	ptrs = vx_arena_alloc(c->arena, (snap->fs->n + 1) * sizeof(*ptrs));
	if (out == NULL || res == NULL || ptrs == NULL) {
		rc = VX_ENOMEM;
		out = NULL;
		goto out;
	}
	vexil__v1__evaluation_list__init(out);
	out->results = ptrs;
	vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
	for (size_t i = 0; i < snap->fs->n && rc == 0; i++) {
		if ((rc = fill(c, &snap->fs->flags[i], &ctx, snap, &res[i])) == 0)
			record(c, snap, &res[i], &ctx);
		out->results[i] = &res[i];
	}
	out->n_results = snap->fs->n;
	out->revision = snap->fs->revision;
out:
	c->snap = snap;
	VX_REPLY(c, rc, out);
}

static void
get_snapshot(Vexil__V1__EvaluationService_Service *svc, const Vexil__V1__GetSnapshotRequest *in,
    Vexil__V1__Snapshot_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Snapshot *out = NULL;
	const Vexil__V1__Project *p;
	Vexil__V1__Flag **flags;
	const char *env = in->environment;
	size_t n;
	int rc;

	(void)svc;
	if ((rc = target(c, in->project, &env, &p)) != 0 ||
	    (rc = vx_store_flag_list(c->reader->txn, c->store, p->id, c->alloc, &flags, &n)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__snapshot__init(out);
	out->project_id = p->id;
	out->environment = (char *)env;
	out->revision = p->revision;
	/* Each flag keeps only the asked environment's config. */
	for (size_t i = 0; i < n; i++) {
		Vexil__V1__FlagEnvConfig *cfg = vx_flag_env(flags[i], env);
		flags[i]->n_envs = 0;
		if (cfg != NULL) {
			Vexil__V1__FlagEnvConfig **one = vx_arena_alloc(c->arena, sizeof(*one));
			if (one == NULL) {
				rc = VX_ENOMEM;
				out = NULL;
				goto out;
			}
			one[0] = cfg;
			flags[i]->envs = one;
			flags[i]->n_envs = 1;
		}
	}
	out->flags = flags;
	out->n_flags = n;
	rc = vx_store_segment_list(
	    c->reader->txn, c->store, p->id, c->alloc, &out->segments, &out->n_segments);
out:
	VX_REPLY(c, rc, out);
}

static void
get_eval_counts(Vexil__V1__EvaluationService_Service *svc,
    const Vexil__V1__GetEvalCountsRequest *in, Vexil__V1__EvalCountList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__EvalCountList *out = NULL;
	Vexil__V1__Project *p;
	uint32_t days = in->days ? in->days : 30;
	int32_t today = (int32_t)(vx_now_ms() / 86400000);
	int rc;

	(void)svc;
	if (days > 3660) {
		rc = vx_fail(c, VX_EINVAL, "days", "range", "days must be at most 3660");
		goto out;
	}
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__eval_count_list__init(out);
	out->dropped = vx_evalrec_dropped(c->records);
	rc = vx_store_evalcount_list(c->reader->txn, c->store, p->id, today - (int32_t)days + 1,
	    in->environment, in->flag_key, c->alloc, &out->counts, &out->n_counts);
out:
	VX_REPLY(c, rc, out);
}

static void
record_exposure(Vexil__V1__EvaluationService_Service *svc, const Vexil__V1__ExposureRequest *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;
	vx_call *c = closure_data;
	vx_snapshot *snap = NULL;
	const vx_compiled *cf;
	int rc;

	(void)svc;
	if ((rc = vx_check_key(c, "flag_key", in->flag_key, VX_KEY_MAX)) != 0 ||
	    (rc = vx_check_text(c, "variant", in->variant, 0, 64)) != 0 ||
	    (rc = vx_check_text(c, "user_id", in->user_id, 0, 256)) != 0 ||
	    (rc = snapshot(c, in->project, in->environment, &snap)) != 0)
		goto out;
	if ((cf = vx_flagset_find(snap->fs, in->flag_key)) == NULL) {
		rc = vx_fail(c, VX_ENOTFOUND, "flag_key", "FLAG_NOT_FOUND", "flag %.128s not found",
		    in->flag_key);
		goto out;
	}
	vx_evalrec_push(c->records, VX_COUNT_EXPOSURE, snap->fs->project_id, snap->fs->env,
	    cf->key, in->variant, "EXPOSURE", in->user_id);
out:
	c->snap = snap;
	VX_REPLY(c, rc, &empty);
}

static void
list_eval_log(Vexil__V1__EvaluationService_Service *svc, const Vexil__V1__ListEvalLogRequest *in,
    Vexil__V1__EvalLog_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__EvalLog *out = NULL;
	Vexil__V1__Project *p;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__eval_log__init(out);
	out->dropped = vx_evalrec_dropped(c->records);
	rc = vx_store_evallog_list(c->reader->txn, c->store, p->id, in->limit ? in->limit : 100,
	    c->alloc, &out->records, &out->n_records);
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__EvaluationService_Service vx_evaluation_service =
    VEXIL__V1__EVALUATION_SERVICE__INIT();
