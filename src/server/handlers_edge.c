/*
 * Vexil — EdgeService: evaluation records from gateways that evaluate at
 * the edge (src/gateway/edge.c).
 *
 * A gateway answering from its snapshot sends what it answered in
 * batches, one call per (project, environment) and batch, with the
 * credential of one of the requests it answered. Each record goes into
 * the same queue as vexild's own evaluations (evalrec.h), so counts and
 * the recent log read as if vexild had evaluated; a record with a count
 * is that many evaluations an SDK reported in aggregate (Unleash's client
 * metrics), counted but not logged. The caller must be
 * allowed to evaluate the target, as in EvaluationService; records of
 * flags the environment does not have are skipped, so a key holder
 * cannot write counts for flags that do not exist.
 *
 * LeaseTokens hands such a gateway a block of an API key's rate limit at
 * once (see lease_tokens below).
 */
#include "server/server.h"

#include <string.h>

#include "model/flagset.h"

/* The reasons an evaluation can have (docs/evaluation.md). */
static bool
reason_ok(const char *r)
{
	static const char *const reasons[] = {
	    "STATIC",
	    "TARGETING_MATCH",
	    "SPLIT",
	    "DISABLED",
	    "DEFAULT",
	    "ERROR",
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(r, reasons[i]) == 0)
			return true;
	return false;
}

static void
record_evaluations(Vexil__V1__EdgeService_Service *svc,
    const Vexil__V1__EdgeRecordsRequest *in, Vexil__V1__EdgeRecordsReply_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__EdgeRecordsReply *out = NULL;
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e;
	vx_snapshot *snap = NULL;
	const char *env = in->environment;
	int rc;

	(void)svc;
	/* As EvaluationService's target(): a bound SDK key records only its
	 * own environment. */
	if (*env == '\0')
		env = c->who.env;
	if ((rc = vx_check_key(c, "environment", env, 64)) != 0 ||
	    (rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	if (c->who.env[0] && strcmp(c->who.env, env) != 0) {
		rc = vx_fail(c, VX_EPERM, "environment", NULL,
		    "this SDK key is bound to environment %s", c->who.env);
		goto out;
	}
	rc = vx_store_env_get(c->reader->txn, c->store, p->id, env, c->alloc, &e);
	if (rc == VX_ENOTFOUND)
		rc = vx_fail(
		    c, rc, "environment", NULL, "environment %.64s not found", env);
	if (rc != 0 || (rc = vx_evalcache_get(
	                    c->cache, c->reader->txn, c->store, p, env, &snap)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__edge_records_reply__init(out);
	for (size_t i = 0; i < in->n_records; i++) {
		const Vexil__V1__EdgeEvalRecord *r = in->records[i];
		const vx_compiled *cf;
		if (r == NULL || (r->count == 0 && !reason_ok(r->reason)) ||
		    (cf = vx_flagset_find(snap->fs, r->flag_key)) == NULL)
			continue;
		if (r->count != 0)
			vx_evalrec_push_count(c->records, p->id, snap->fs->env, cf->key,
			    r->variant, r->count);
		else
			vx_evalrec_push(c->records, VX_COUNT_EVALUATION, p->id,
			    snap->fs->env, cf->key, r->variant, r->reason, r->user_id);
		out->accepted++;
	}
	if (in->dropped)
		vx_log(VX_LOG_WARN,
		    "edge: a gateway dropped %llu evaluation records of project %llu",
		    (unsigned long long)in->dropped, (unsigned long long)p->id);
out:
	c->snap = snap;
	VX_REPLY(c, rc, out);
}

/*
 * A block of the caller's rate-limit window (vx_rate_take, as Admit takes
 * one), for a gateway to spend without a call per request. Only API keys
 * are limited; anyone else is granted what was asked, with limit 0.
 */
static void
lease_tokens(Vexil__V1__EdgeService_Service *svc, const Vexil__V1__LeaseTokensRequest *in,
    Vexil__V1__LeaseTokensReply_Closure closure, void *closure_data)
{
	Vexil__V1__RateLimit rate = VEXIL__V1__RATE_LIMIT__INIT;
	vx_call *c = closure_data;
	Vexil__V1__LeaseTokensReply *out = NULL;
	int64_t now = vx_now_ms();
	int rc = 0;

	(void)svc;
	if (in->want < 1 || in->want > 1000) {
		rc = vx_fail(c, VX_EINVAL, "want", "range",
		    "want must be 1 to 1000, not %u", in->want);
		goto out;
	}
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__lease_tokens_reply__init(out);
	if (c->who.kind != VX_PRINCIPAL_APIKEY) {
		out->granted = in->want;
		goto out;
	}
	out->granted = vx_rate_take(c->who.id, in->want, &rate);
	out->limit = rate.limit;
	out->remaining = rate.remaining;
	out->reset_at = rate.reset_at;
	if (rate.limit != 0 && rate.reset_at > now)
		out->valid_ms = (uint32_t)(rate.reset_at - now);
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__EdgeService_Service vx_edge_service = VEXIL__V1__EDGE_SERVICE__INIT();
