/*
 * Vexil integration tests: local evaluation agrees with the server, SDK
 * keys, and evaluation records.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "model/flagset.h"
#include "vexil_eval.h"

VX_SERVER_SUITE(local, 120);

/* A flag with variants a, b, c and the rules given as (attr, op, value, variant). */
static void
flag_with_rules(const char *key, unsigned rollout, const char *const rules[][4],
    size_t nrules, bool split)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Variant v[3] = {
	    VEXIL__V1__VARIANT__INIT, VEXIL__V1__VARIANT__INIT, VEXIL__V1__VARIANT__INIT};
	Vexil__V1__Variant *vp[] = {&v[0], &v[1], &v[2]};
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cp[] = {&cfg};
	Vexil__V1__Rule r[8], *rp[9];
	Vexil__V1__Condition c[8], *cnd[8];
	Vexil__V1__Rule sr = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rollout half = VEXIL__V1__ROLLOUT__INIT;
	Vexil__V1__WeightedVariant w[3] = {VEXIL__V1__WEIGHTED_VARIANT__INIT,
	    VEXIL__V1__WEIGHTED_VARIANT__INIT, VEXIL__V1__WEIGHTED_VARIANT__INIT};
	Vexil__V1__WeightedVariant *wp[] = {&w[0], &w[1], &w[2]};
	char *vals[8][4], *copies[8] = {0};
	vx_status st;

	v[0].key = "a", v[0].value = "\"A\"";
	v[1].key = "b", v[1].value = "\"B\"";
	v[2].key = "c", v[2].value = "\"C\"";
	f.key = (char *)key;
	f.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_STRING;
	f.variants = vp;
	f.n_variants = 3;
	cfg.environment = "production";
	cfg.enabled = true;
	cfg.default_variant = "a";
	cfg.off_variant = "c";
	cfg.rollout_percentage = rollout;
	for (size_t i = 0; i < nrules; i++) {
		char *copy = copies[i] = strdup(rules[i][2]), *save = NULL;
		size_t nv = 0;
		for (char *t = strtok_r(copy, ",", &save); t && nv < 4;
		     t = strtok_r(NULL, ",", &save))
			vals[i][nv++] = t;
		vexil__v1__condition__init(&c[i]);
		c[i].attribute = (char *)rules[i][0];
		c[i].operator_ = (char *)rules[i][1];
		c[i].values = vals[i];
		c[i].n_values = nv;
		cnd[i] = &c[i];
		vexil__v1__rule__init(&r[i]);
		r[i].enabled = true;
		r[i].priority = (int32_t)(i % 3); /* ties exercise creation order */
		r[i].conditions = &cnd[i];
		r[i].n_conditions = 1;
		r[i].variant = (char *)rules[i][3];
		if (i == 1) {
			half.percentage = 30;
			r[i].rollout = &half;
		}
		rp[i] = &r[i];
	}
	if (split) {
		w[0].variant = "a", w[0].weight = 5000;
		w[1].variant = "b", w[1].weight = 3000;
		w[2].variant = "c", w[2].weight = 2000;
		sr.enabled = true;
		sr.priority = -1;
		sr.split = wp;
		sr.n_split = 3;
		rp[nrules++] = &sr;
	}
	cfg.rules = rp;
	cfg.n_rules = nrules;
	f.envs = cp;
	f.n_envs = 1;
	in.project = "default";
	in.flag = &f;
	cr_assert(
	    vx_create_flag(h.admin, &in, &out, &st) == 0, "%s: %s", st.field, st.message);
	vx_free(out);
	for (size_t i = 0; i < nrules - (split ? 1 : 0); i++)
		free(copies[i]);
}

static const char *const rules_a[][4] = {
    {"email", "ends_with", "@corp.example", "b"},
    {"country", "in", "US,CA,MX", "c"},
    {"groups", "contains", "beta", "b"},
    {"age", "gte", "40", "c"},
    {"version", "semver_lt", "2.0.0-rc.1", "b"},
    {"email", "matches", "^[a-f].*@", "c"},
    {"ip", "cidr", "10.1.0.0/16,2001:db8::/32", "b"},
};
static const char *const rules_b[][4] = {
    {"country", "equals", "DE", "b"},
    {"plan", "starts_with", "ent", "c"},
};

static const char *const countries[] = {"US", "DE", "FR", "CA", "BR", "JP"};
static const char *const domains[] = {"@corp.example", "@gmail.com", "@example.org"};
static const char *const versions[] = {
    "1.9.9", "2.0.0-beta", "2.0.0-rc.1", "2.0.0", "10.0.0"};
static const char *const ips[] = {"10.1.2.3", "10.2.0.1", "2001:db8::1", "192.168.0.1"};
static const char *const plans[] = {"enterprise", "free", "pro"};

Test(local, server_and_local_evaluation_agree_on_ten_thousand_random_contexts)
{
	vx_eval_snapshot *snap;
	vx_status st;

	flag_with_rules("alpha", 50, rules_a, 7, true);
	flag_with_rules("bravo", 25, rules_b, 2, false);
	flag_with_rules("charlie", 100, NULL, 0, true);
	cr_assert(
	    vx_eval_snapshot_fetch(h.admin, "default", "production", &snap, &st) == 0,
	    "%s", st.message);

	int seen[8] = {0};
	srand(7);
	for (int i = 0; i < 10000; i++) {
		char user[32], email[64], *groups[2] = {"beta", "staff"};
		Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
		Vexil__V1__AttrValue age = VEXIL__V1__ATTR_VALUE__INIT,
				     ver = VEXIL__V1__ATTR_VALUE__INIT,
				     plan = VEXIL__V1__ATTR_VALUE__INIT;
		Vexil__V1__AttrValue sess = VEXIL__V1__ATTR_VALUE__INIT;
		Vexil__V1__EvalContext__AttributesEntry e[4] = {
		    VEXIL__V1__EVAL_CONTEXT__ATTRIBUTES_ENTRY__INIT,
		    VEXIL__V1__EVAL_CONTEXT__ATTRIBUTES_ENTRY__INIT,
		    VEXIL__V1__EVAL_CONTEXT__ATTRIBUTES_ENTRY__INIT,
		    VEXIL__V1__EVAL_CONTEXT__ATTRIBUTES_ENTRY__INIT};
		Vexil__V1__EvalContext__AttributesEntry *ep[] = {
		    &e[0], &e[1], &e[2], &e[3]};
		Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
		Vexil__V1__EvaluationList *out;

		snprintf(user, sizeof(user), "user-%d", rand() % 100000);
		snprintf(email, sizeof(email), "%c%d%s", 'a' + rand() % 26, rand() % 1000,
		    domains[rand() % 3]);
		ctx.user_id = rand() % 20 ? user : "";
		ctx.email = rand() % 10 ? email : "";
		ctx.country = (char *)countries[rand() % 6];
		ctx.ip = (char *)ips[rand() % 4];
		ctx.groups = groups;
		ctx.n_groups = (size_t)(rand() % 3);
		age.kind_case = VEXIL__V1__ATTR_VALUE__KIND_NUM;
		age.num = rand() % 80;
		ver.kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
		ver.str = (char *)versions[rand() % 5];
		plan.kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
		plan.str = (char *)plans[rand() % 3];
		e[0].key = "age", e[0].value = &age;
		e[1].key = "version", e[1].value = &ver;
		e[2].key = "plan", e[2].value = &plan;
		ctx.attributes = ep;
		ctx.n_attributes = (size_t)(rand() % 4);
		/*
		 * Without a user id the default stickiness takes the session id
		 * (with neither it draws at random, which no two evaluations can
		 * agree on: the engine's tests cover that).
		 */
		sess.kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
		sess.str = user;
		e[3].key = "session_id", e[3].value = &sess;
		if (ctx.user_id[0] == '\0') {
			ep[0] = &e[3], ep[3] = &e[0];
			ctx.n_attributes++;
		}
		in.project = "default";
		in.environment = "production";
		in.context = &ctx;
		cr_assert(
		    vx_evaluate_all(h.admin, &in, &out, &st) == 0, "%s", st.message);
		cr_assert_eq(out->n_results, 3 + 3, "ours and the three seeded flags");

		vx_eval_attr attrs[8];
		vx_eval_ctx lctx;
		vx_ctx_from_proto(&ctx, attrs, 8, &lctx);
		for (size_t k = 0; k < out->n_results; k++) {
			const Vexil__V1__EvaluationResult *r = out->results[k];
			vx_eval_result res;
			uint64_t rule_id;
			cr_assert(
			    vx_eval_local(snap, r->flag_key, &lctx, &res, &rule_id) == 0);
			cr_assert_str_eq(res.variant_key, r->variant,
			    "context %d flag %s", i, r->flag_key);
			cr_assert_str_eq(vx_eval_reason_name(res.reason), r->reason);
			cr_assert_eq(rule_id, r->rule_id);
			cr_assert_str_eq(res.value, r->value);
			seen[res.reason]++;
		}
		vx_free(out);
	}
	vx_eval_snapshot_free(snap);
	/* The contexts exercised rules, rollouts and exclusions alike. */
	cr_assert_gt(seen[VX_REASON_TARGETING_MATCH], 1000);
	cr_assert_gt(seen[VX_REASON_SPLIT], 1000);
	cr_assert_gt(seen[VX_REASON_DEFAULT], 1000);
}

Test(local, sdk_keys_evaluate_their_environment_and_nothing_else)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	Vexil__V1__RevokeSdkKeyRequest rv = VEXIL__V1__REVOKE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__Empty *e;
	vx_eval_snapshot *snap;
	vx_status st;
	char cred[100];

	flag_with_rules("charlie", 100, NULL, 0, true);
	in.project = "default";
	in.environment = "production";
	cr_assert(vx_create_sdk_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	cr_assert(strncmp(k->secret, "sdk_", 4) == 0 && strlen(k->secret) == 36, "%s",
	    k->secret);
	cr_assert_null(k->key->hash.data);
	snprintf(cred, sizeof(cred), "SdkKey %s", k->secret);
	vx_client *sdk = vx_harness_client(&h, cred);

	cr_assert(vx_eval_snapshot_fetch(sdk, "default", "production", &snap, &st) == 0,
	    "%s", st.message);
	vx_eval_snapshot_free(snap);
	cr_assert_eq(
	    vx_eval_snapshot_fetch(sdk, "default", "staging", &snap, &st), VX_EPERM);

	Vexil__V1__GetFlagRequest gf = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	gf.project = "default";
	gf.key = "charlie";
	cr_assert_eq(
	    vx_get_flag(sdk, &gf, &f, &st), VX_EPERM, "no management with an SDK key");

	rv.id = k->key->id;
	cr_assert(vx_revoke_sdk_key(h.admin, &rv, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	cr_assert_eq(
	    vx_eval_snapshot_fetch(sdk, "default", "production", &snap, &st), VX_EAUTH);
	vx_client_close(sdk);
	vx_free(k);
}

Test(local, every_evaluation_is_counted_and_logged)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *r;
	Vexil__V1__GetEvalCountsRequest gc = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *counts;
	Vexil__V1__ListEvalLogRequest gl = VEXIL__V1__LIST_EVAL_LOG_REQUEST__INIT;
	Vexil__V1__EvalLog *log;
	vx_status st;
	uint64_t total = 0;

	flag_with_rules("charlie", 100, NULL, 0, true);
	in.project = "default";
	in.environment = "production";
	in.flag_key = "charlie";
	in.context = &ctx;
	ctx.user_id = "counted-user";
	for (int i = 0; i < 50; i++) {
		cr_assert(vx_evaluate(h.admin, &in, &r, &st) == 0, "%s", st.message);
		vx_free(r);
	}
	gc.project = "default";
	gc.flag_key = "charlie";
	/* Records are written in batches; wait for the flush, at most 5 s. */
	for (int tries = 0; tries < 50 && total < 50; tries++) {
		usleep(100000);
		cr_assert(vx_get_eval_counts(h.admin, &gc, &counts, &st) == 0, "%s",
		    st.message);
		total = 0;
		for (size_t i = 0; i < counts->n_counts; i++) {
			cr_assert_str_eq(counts->counts[i]->environment, "production");
			total += counts->counts[i]->count;
		}
		cr_assert_eq(counts->dropped, 0);
		vx_free(counts);
	}
	cr_assert_eq(total, 50);
	gl.project = "default";
	gl.limit = 10;
	cr_assert(vx_list_eval_log(h.admin, &gl, &log, &st) == 0, "%s", st.message);
	cr_assert_eq(log->n_records, 10);
	cr_assert_str_eq(log->records[0]->user_id, "counted-user");
	cr_assert_str_eq(log->records[0]->flag_key, "charlie");
	vx_free(log);
}

struct burst {
	atomic_ullong *evaluated;
	char why[320]; /* the status of the call that failed, if one did */
};

/* Concurrent producers refill the queue while the flusher drains it. */
static void *
burst(void *arg)
{
	struct burst *b = arg;
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	vx_status st;
	vx_client *c = vx_harness_client(&h, h.key);

	in.project = "default";
	in.environment = "production";
	in.context = &ctx;
	ctx.user_id = "burst";
	for (int i = 0; i < 15; i++) {
		if (vx_evaluate_all(c, &in, &out, &st) != 0) {
			snprintf(b->why, sizeof(b->why), "%.40s: %.250s",
			    vx_code_name(st.code), st.message);
			break;
		}
		atomic_fetch_add(b->evaluated, out->n_results);
		vx_free(out);
	}
	vx_client_close(c);
	return NULL;
}

Test(local, a_full_record_buffer_drops_and_counts_without_blocking_evaluations)
{
	static const char *const args[] = {"--eval-buffer", "1024", "--quiet", NULL};
	Vexil__V1__GetEvalCountsRequest gc = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *counts = NULL;
	vx_status st;
	char key[16];
	uint64_t total = 0, dropped = 0, evaluated = 0;

	/* This test needs its own vexild with a small buffer. */
	vx_harness_fini(&h);
	vx_harness_start(&h, args);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "r%03d", i);
		flag_with_rules(key, 100, NULL, 0, false);
	}
	atomic_ullong count = 0;
	struct burst b[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		b[i] = (struct burst){.evaluated = &count};
		pthread_create(&t[i], NULL, burst, &b[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	evaluated = atomic_load(&count);
	for (int i = 0; i < 4; i++)
		cr_assert_str_empty(b[i].why, "producer %d: %s", i, b[i].why);
	cr_assert_eq(evaluated, 4 * 15 * (200 + 3), "ours and the three seeded flags");
	gc.project = "default";
	/* Wait for the flusher to write what it kept, then account for all. */
	for (int tries = 0; tries < 50 && total + dropped < evaluated; tries++) {
		usleep(100000);
		vx_free(counts);
		cr_assert(vx_get_eval_counts(h.admin, &gc, &counts, &st) == 0, "%s",
		    st.message);
		total = 0;
		for (size_t i = 0; i < counts->n_counts; i++)
			total += counts->counts[i]->count;
		dropped = counts->dropped;
	}
	vx_free(counts);
	cr_assert_gt(dropped, 0, "a 1024-slot buffer cannot hold %llu records",
	    (unsigned long long)evaluated);
	cr_assert_eq(total + dropped, evaluated, "counted %llu + dropped %llu != %llu",
	    (unsigned long long)total, (unsigned long long)dropped,
	    (unsigned long long)evaluated);
}

Test(local, exposures_are_counted_apart_from_evaluations)
{
	Vexil__V1__ExposureRequest in = VEXIL__V1__EXPOSURE_REQUEST__INIT;
	Vexil__V1__GetEvalCountsRequest gc = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *counts = NULL;
	Vexil__V1__Empty *e;
	vx_status st;
	uint64_t exposures = 0, evaluations = 0;

	flag_with_rules("charlie", 100, NULL, 0, true);
	in.project = "default";
	in.environment = "production";
	in.flag_key = "charlie";
	in.variant = "b";
	in.user_id = "u1";
	for (int i = 0; i < 7; i++) {
		cr_assert(
		    vx_record_exposure(h.admin, &in, &e, &st) == 0, "%s", st.message);
		vx_free(e);
	}
	in.flag_key = "nope";
	cr_assert_eq(vx_record_exposure(h.admin, &in, &e, &st), VX_ENOTFOUND);
	cr_assert_str_eq(st.field, "flag_key");
	in.flag_key = "charlie";
	in.environment = "qa";
	cr_assert_eq(vx_record_exposure(h.admin, &in, &e, &st), VX_ENOTFOUND);

	gc.project = "default";
	for (int tries = 0; tries < 50 && exposures < 7; tries++) {
		usleep(100000);
		vx_free(counts);
		cr_assert(vx_get_eval_counts(h.admin, &gc, &counts, &st) == 0, "%s",
		    st.message);
		exposures = evaluations = 0;
		for (size_t i = 0; i < counts->n_counts; i++) {
			if (strcmp(counts->counts[i]->kind, "exposure") == 0)
				exposures += counts->counts[i]->count;
			else
				evaluations += counts->counts[i]->count;
		}
	}
	vx_free(counts);
	cr_assert_eq(exposures, 7);
	cr_assert_eq(evaluations, 0, "exposures are not evaluations");
}

/*
 * A stored flag that no longer compiles (here a pattern PCRE2 refuses,
 * which the POSIX engine of earlier releases took) serves its off variant
 * with reason ERROR, and the other flags of its environment still serve.
 */
Test(flagset, a_flag_that_no_longer_compiles_serves_its_off_variant_with_error)
{
	Vexil__V1__Variant on = VEXIL__V1__VARIANT__INIT, off = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant *vars[] = {&on, &off};
	Vexil__V1__Condition cond = VEXIL__V1__CONDITION__INIT, *conds[] = {&cond};
	char *vals[] = {"a)b"};
	Vexil__V1__Rule rule = VEXIL__V1__RULE__INIT, *rules[] = {&rule};
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cfgs[] = {&cfg};
	Vexil__V1__Flag bad = VEXIL__V1__FLAG__INIT, good = VEXIL__V1__FLAG__INIT;
	Vexil__V1__FlagEnvConfig gcfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT,
	                         *gcfgs[] = {&gcfg};
	Vexil__V1__Flag *flags[] = {&bad, &good};
	vx_eval_ctx ctx = {.user_id = "u1", .email = "a)b"};
	vx_flagset *fs;
	vx_eval_result res;
	const vx_compiled *cf;
	char err[256];

	on.key = "on", on.value = "true";
	off.key = "off", off.value = "false";
	cond.attribute = "email", cond.operator_ = "matches";
	cond.values = vals, cond.n_values = 1;
	rule.conditions = conds, rule.n_conditions = 1, rule.enabled = true;
	rule.variant = "on";
	cfg.environment = "production", cfg.enabled = true;
	cfg.default_variant = "on", cfg.off_variant = "off";
	cfg.rollout_percentage = 100;
	cfg.rules = rules, cfg.n_rules = 1;
	gcfg = cfg;
	gcfg.rules = NULL, gcfg.n_rules = 0;
	bad.key = "bad", bad.variants = vars, bad.n_variants = 2;
	bad.envs = cfgs, bad.n_envs = 1;
	good = bad;
	good.key = "good", good.envs = gcfgs;

	cr_assert_eq(vx_flagset_build(
	                 flags, 2, NULL, 0, 1, 7, "production", &fs, err, sizeof(err)),
	    0);
	cr_assert_eq(fs->n, 2);
	cr_assert_eq(fs->nbroken, 1);
	cr_assert(strstr(err, "bad") != NULL, "%s", err);
	cr_assert_not_null(cf = vx_flagset_find(fs, "bad"));
	cr_assert_eq(vx_eval_flag_evaluate(cf->flag, &ctx, &res), VX_EVAL_OK);
	cr_assert_eq(res.reason, VX_REASON_ERROR);
	cr_assert_str_eq(res.variant_key, "off");
	cr_assert_not_null(cf = vx_flagset_find(fs, "good"));
	cr_assert_eq(vx_eval_flag_evaluate(cf->flag, &ctx, &res), VX_EVAL_OK);
	cr_assert_eq(res.reason, VX_REASON_STATIC);
	vx_flagset_free(fs);
}
