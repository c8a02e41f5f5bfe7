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

#define MAX_ATTRS 64

static int
fill(vx_call *c, const vx_compiled *cf, const vx_eval_ctx *ctx, uint64_t revision,
    Vexil__V1__EvaluationResult *out)
{
	vx_eval_result res;
	int rc = vx_eval_flag_evaluate(cf->flag, ctx, &res);

	if (rc != VX_EVAL_OK && rc != VX_EVAL_ENOMEM)
		return vx_fail(c, VX_EINTERNAL, NULL, NULL, "evaluation failed");
	vexil__v1__evaluation_result__init(out);
	out->flag_key = (char *)cf->key;
	out->variant = (char *)(res.variant_key ? res.variant_key : "");
	out->value = (char *)(res.value ? res.value : "");
	out->reason = (char *)vx_eval_reason_name(res.reason);
	out->rule_id = res.rule >= 0 ? cf->rule_ids[res.rule] : 0;
	out->type = cf->type;
	out->revision = revision;
	return 0;
}

/* Resolves project and environment, and takes the snapshot. */
static int
snapshot(vx_call *c, const char *project, const char *env, vx_snapshot **out)
{
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e;
	int rc;

	if ((rc = vx_check_key(c, "environment", env, 64)) != 0 ||
	    (rc = vx_call_project_read(c, project, &p)) != 0)
		return rc;
	rc = vx_store_env_get(c->reader->txn, c->store, p->id, env, c->alloc, &e);
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "environment", NULL,
		    "environment %.64s not found in project %.100s", env, p->name);
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
	if ((cf = vx_snapshot_find(snap, in->flag_key)) == NULL) {
		rc = vx_fail(c, VX_ENOTFOUND, "flag_key", "FLAG_NOT_FOUND",
		    "flag %.128s not found", in->flag_key);
		goto out;
	}
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
	rc = fill(c, cf, &ctx, snap->revision, out);
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
	res = vx_arena_alloc(c->arena, (snap->n + 1) * sizeof(*res));
	ptrs = vx_arena_alloc(c->arena, (snap->n + 1) * sizeof(*ptrs));
	if (out == NULL || res == NULL || ptrs == NULL) {
		rc = VX_ENOMEM;
		out = NULL;
		goto out;
	}
	vexil__v1__evaluation_list__init(out);
	out->results = ptrs;
	vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
	for (size_t i = 0; i < snap->n && rc == 0; i++) {
		rc = fill(c, &snap->flags[i], &ctx, snap->revision, &res[i]);
		out->results[i] = &res[i];
	}
	out->n_results = snap->n;
	out->revision = snap->revision;
out:
	c->snap = snap;
	VX_REPLY(c, rc, out);
}

Vexil__V1__EvaluationService_Service vx_evaluation_service =
    VEXIL__V1__EVALUATION_SERVICE__INIT();
