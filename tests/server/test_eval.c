/*
 * Vexil integration tests: EvaluationService over the wire. The engine's
 * own operator tables are in tests/eval; these check the RPC, the cache
 * and the flag-to-engine mapping.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eval/eval.h"
#include "harness.h"

VX_SERVER_SUITE(eval_rpc, 60);

static void
make_flag(const char *key)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_status st;
	f.key = (char *)key;
	in.project = "default";
	in.flag = &f;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

static void
set_enabled(const char *key, bool on)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;
	in.project = "default";
	in.key = (char *)key;
	in.environment = "production";
	in.enabled = on;
	cr_assert(vx_set_flag_enabled(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

static uint64_t
add_rule(const char *key, const char *attr, const char *op, const char *value,
    int priority, const char *variant)
{
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Condition c = VEXIL__V1__CONDITION__INIT, *cs[] = {&c};
	char *vals[] = {(char *)value};
	vx_status st;
	uint64_t id;

	c.attribute = (char *)attr;
	c.operator_ = (char *)op;
	c.values = vals;
	c.n_values = 1;
	r.conditions = cs;
	r.n_conditions = 1;
	r.enabled = true;
	r.priority = priority;
	r.variant = (char *)variant;
	in.project = "default";
	in.flag_key = (char *)key;
	in.environment = "production";
	in.rule = &r;
	cr_assert(vx_create_rule(h.admin, &in, &out, &st) == 0, "%s", st.message);
	id = out->id;
	vx_free(out);
	return id;
}

static Vexil__V1__EvaluationResult *
eval(const char *key, const char *user, const char *email, int *rc)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out = NULL;
	vx_status st;

	ctx.user_id = (char *)(user ? user : "");
	ctx.email = (char *)(email ? email : "");
	in.project = "default";
	in.environment = "production";
	in.flag_key = (char *)key;
	in.context = &ctx;
	*rc = vx_evaluate(h.admin, &in, &out, &st);
	return out;
}

Test(eval_rpc, disabled_flags_serve_the_off_variant)
{
	int rc;
	make_flag("dark");
	Vexil__V1__EvaluationResult *r = eval("dark", "u1", NULL, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(r->reason, "DISABLED");
	cr_assert_str_eq(r->variant, "off");
	cr_assert_str_eq(r->value, "false");
	vx_free(r);
}

Test(eval_rpc, rules_match_in_priority_order_and_writes_are_seen_at_once)
{
	int rc;
	make_flag("beta");
	set_enabled("beta", true);
	uint64_t low = add_rule("beta", "email", "ends_with", "@example.com", 1, "off");
	Vexil__V1__EvaluationResult *r = eval("beta", "u1", "ann@example.com", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(r->reason, "TARGETING_MATCH");
	cr_assert_str_eq(r->variant, "off");
	cr_assert_eq(r->rule_id, low);
	uint64_t rev = r->revision;
	vx_free(r);

	/* A higher-priority rule written now wins on the very next call. */
	uint64_t high = add_rule("beta", "email", "starts_with", "ann", 10, "on");
	r = eval("beta", "u1", "ann@example.com", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(r->rule_id, high);
	cr_assert_str_eq(r->variant, "on");
	cr_assert_eq(r->revision, rev + 1);
	vx_free(r);

	/* No rule matches: the environment rollout (100% by default). */
	r = eval("beta", "u2", "bob@other.org", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(r->reason, "SPLIT");
	vx_free(r);
	/* No user id: a 100% rollout lets everyone in. */
	r = eval("beta", NULL, "bob@other.org", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(r->reason, "SPLIT");
	vx_free(r);
}

Test(eval_rpc, unknown_flags_and_environments_are_not_found)
{
	int rc;
	Vexil__V1__EvaluationResult *r = eval("ghost", "u1", NULL, &rc);
	cr_assert_eq(rc, VX_ENOTFOUND);
	cr_assert_null(r);

	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvaluationList *out;
	vx_status st;
	in.project = "default";
	in.environment = "qa";
	cr_assert_eq(vx_evaluate_all(h.admin, &in, &out, &st), VX_ENOTFOUND);
	cr_assert_str_eq(st.field, "environment");
}

Test(eval_rpc, evaluate_all_answers_every_flag_at_one_revision)
{
	char key[16];
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "f%02d", i);
		make_flag(key);
	}
	set_enabled("f07", true);
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	vx_status st;
	ctx.user_id = "someone";
	in.project = "default";
	in.environment = "production";
	in.context = &ctx;
	cr_assert(vx_evaluate_all(h.admin, &in, &out, &st) == 0, "%s", st.message);
	/* Ours, and the three flags every new database is seeded with (on). */
	cr_assert_eq(out->n_results, 23);
	for (size_t i = 0; i < out->n_results; i++) {
		const char *fk = out->results[i]->flag_key;
		bool on = fk[0] != 'f' || strcmp(fk, "f07") == 0;
		cr_assert_eq(out->results[i]->revision, out->revision);
		/* On with no rule at 100%: the same for everyone. */
		cr_assert_str_eq(
		    out->results[i]->reason, on ? "STATIC" : "DISABLED", "%s", fk);
	}
	vx_free(out);
}

/* An SDK key's client for default, bound to env (NULL: unbound). */
static vx_client *
sdk_client(const char *env)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	vx_status st;
	char cred[100];

	in.project = "default";
	in.environment = (char *)(env ? env : "");
	cr_assert(vx_create_sdk_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	snprintf(cred, sizeof(cred), "SdkKey %s", k->secret);
	vx_free(k);
	return vx_harness_client(&h, cred);
}

/*
 * No environment in the request: an SDK key bound to one evaluates that
 * one (and says so); an unbound key, or an API key, must name it.
 */
Test(eval_rpc, an_sdk_key_bound_to_an_environment_evaluates_it_when_none_is_named)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvaluateAllRequest all = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out = NULL;
	Vexil__V1__EvaluationList *list = NULL;
	vx_client *bound = sdk_client("production"), *any = sdk_client(NULL);
	vx_status st;

	make_flag("envless");
	set_enabled("envless", true);
	in.flag_key = "envless";
	in.context = &ctx;
	cr_assert(vx_evaluate(bound, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_str_eq(out->environment, "production");
	cr_assert_str_neq(out->reason, "DISABLED", "production has it on");
	vx_free(out);
	all.context = &ctx;
	cr_assert(vx_evaluate_all(bound, &all, &list, &st) == 0, "%s", st.message);
	cr_assert_gt(list->n_results, 0);
	cr_assert_str_eq(list->results[0]->environment, "production");
	vx_free(list);

	cr_assert_eq(vx_evaluate(any, &in, &out, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "environment");
	cr_assert(strstr(st.message, "not bound") != NULL, "%s", st.message);
	in.project = "default";
	cr_assert_eq(vx_evaluate(h.admin, &in, &out, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "environment");
	/* A bound key still cannot name another. */
	in.project = "";
	in.environment = "staging";
	cr_assert_eq(vx_evaluate(bound, &in, &out, &st), VX_EPERM);
	vx_client_close(bound);
	vx_client_close(any);
}

/*
 * `matches` is PCRE2 over the wire too, and a rule whose patterns are too
 * large to keep is refused at write, naming the condition, without
 * stalling the writes after it.
 */
Test(eval_rpc, oversized_patterns_are_refused_naming_the_condition_and_writes_go_on)
{
	/* About 12 KB compiled each; three in one rule are over its 32 KB. */
	char *big[] = {"(a{999}){999}"};
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Condition c[4] = {VEXIL__V1__CONDITION__INIT,
	    VEXIL__V1__CONDITION__INIT, VEXIL__V1__CONDITION__INIT,
	    VEXIL__V1__CONDITION__INIT};
	Vexil__V1__Condition *cs[] = {&c[0], &c[1], &c[2], &c[3]};
	char *domain[] = {"@a.io"};
	Vexil__V1__EvaluationResult *res;
	struct timespec t0, t1;
	vx_status st;
	int rc;

	make_flag("rx");
	set_enabled("rx", true);
	add_rule("rx", "email", "matches", "(?i)^user\\d{3}@", 5, "on");
	res = eval("rx", "u1", "USER123@a.io", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(res->reason, "TARGETING_MATCH");
	vx_free(res);

	c[0].attribute = "email";
	c[0].operator_ = "ends_with";
	c[0].values = domain;
	c[0].n_values = 1;
	for (int i = 1; i < 4; i++) {
		c[i].attribute = "email";
		c[i].operator_ = "matches";
		c[i].values = big;
		c[i].n_values = 1;
	}
	r.conditions = cs;
	r.n_conditions = 4;
	r.enabled = true;
	r.variant = "off";
	in.project = "default";
	in.flag_key = "rx";
	in.environment = "production";
	in.rule = &r;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(vx_create_rule(h.admin, &in, &out, &st), VX_EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert(
	    strstr(st.message, "condition 3 (email matches)") != NULL, "%s", st.message);
	cr_assert(strstr(st.message, "over the limit of 32768 per rule") != NULL, "%s",
	    st.message);
	cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000,
	    1000, "the refusal took over a second");

	/* Two of them fit, and the writes after it are served at once. */
	r.n_conditions = 3;
	cr_assert(vx_create_rule(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	add_rule("rx", "email", "equals", "x@b.io", 1, "on");
	res = eval("rx", "u1", "USER123@a.io", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(res->reason, "TARGETING_MATCH");
	cr_assert_str_eq(res->variant, "on");
	vx_free(res);
}

/* Keys in any script, as Unleash allows, kept and compared in NFC. */
Test(eval_rpc, flag_keys_take_utf8_letters_in_nfc)
{
	/* "ünicode-flag" (NFC, U+00FC) and "日本-フラグ". */
	const char *nfc = "\xc3\xbcnicode-flag",
	           *cjk = "\xe6\x97\xa5\xe6\x9c\xac-\xe3\x83\x95"
	                  "\xe3\x83\xa9\xe3\x82\xb0";
	/* The same as the first, decomposed: u + U+0308. */
	const char *nfd = "u\xcc\x88nicode-flag";
	const char *bad[] = {
	    "has space", "a/b", "-lead", "\xcc\x88lead-mark", "tab\tkey"};
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__EvaluationResult *r;
	vx_status st;
	int rc;

	make_flag(nfc);
	make_flag(cjk);
	set_enabled(nfc, true);
	r = eval(nfc, "u1", NULL, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(r->flag_key, nfc);
	cr_assert_str_eq(r->variant, "on");
	vx_free(r);
	r = eval(cjk, "u1", NULL, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(r->reason, "DISABLED");
	vx_free(r);

	in.project = "default";
	in.flag = &f;
	f.key = (char *)nfd;
	cr_assert_eq(vx_create_flag(h.admin, &in, &out, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "flag.key");
	cr_assert_str_eq(st.constraint, "nfc");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.key = (char *)bad[i];
		cr_assert_eq(
		    vx_create_flag(h.admin, &in, &out, &st), VX_EINVAL, "%s", bad[i]);
		cr_assert_str_eq(st.field, "flag.key", "%s", bad[i]);
	}
}

/* A rule of key serving a 50/50 split of on and off by stickiness and
 * group (bucketing: "" or "flagd"); *rc is CreateRule's. */
static Vexil__V1__Rule *
add_split_rule(const char *key, const char *stickiness, const char *group,
    const char *bucketing, int *rc, vx_status *st)
{
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out = NULL;
	Vexil__V1__WeightedVariant on = VEXIL__V1__WEIGHTED_VARIANT__INIT,
	                           off = VEXIL__V1__WEIGHTED_VARIANT__INIT;
	Vexil__V1__WeightedVariant *split[] = {&on, &off};

	on.variant = "on", on.weight = 5000;
	off.variant = "off", off.weight = 5000;
	r.enabled = true;
	r.split = split;
	r.n_split = 2;
	r.split_stickiness = (char *)stickiness;
	r.split_group_id = (char *)group;
	r.split_bucketing = (char *)bucketing;
	in.project = "default";
	in.flag_key = (char *)key;
	in.environment = "production";
	in.rule = &r;
	*rc = vx_create_rule(h.admin, &in, &out, st);
	return out;
}

/* A rule's split can bucket by another attribute and group than its rollout. */
Test(eval_rpc, a_split_keeps_its_own_stickiness_and_group)
{
	Vexil__V1__Rule *out;
	vx_status st;
	int rc;

	make_flag("colour");
	set_enabled("colour", true);
	out = add_split_rule("colour", "email", "by-mail", "", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(out->split_stickiness, "email");
	cr_assert_str_eq(out->split_group_id, "by-mail");
	vx_free(out);
	for (int i = 0; i < 40; i++) {
		char user[16], email[32];
		Vexil__V1__EvaluationResult *res;
		uint32_t b;

		snprintf(user, sizeof(user), "u%d", i);
		snprintf(email, sizeof(email), "m%d@example.com", i % 7);
		b = vx_eval_bucket("by-mail", email, VX_EVAL_VARIANT_SEED, 10000);
		res = eval("colour", user, email, &rc);
		cr_assert_eq(rc, 0);
		cr_assert_str_eq(res->reason, "TARGETING_MATCH");
		cr_assert_str_eq(res->variant, b <= 5000 ? "on" : "off", "%s", email);
		vx_free(res);
	}
	out = add_split_rule("colour", "not a key", "by-mail", "", &rc, &st);
	cr_assert_eq(rc, VX_EINVAL);
	cr_assert(strstr(st.field, "split_stickiness") != NULL, "%s", st.field);
}

/* An UpdateRule of the split's stickiness: the split then buckets by the
 * new attribute. */
static Vexil__V1__Rule *
set_split_stickiness(uint64_t id, const char *attr, int *rc, vx_status *st)
{
	Vexil__V1__UpdateRuleRequest in = VEXIL__V1__UPDATE_RULE_REQUEST__INIT;
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Rule u = VEXIL__V1__RULE__INIT, *out = NULL;
	char *mask[] = {"split_stickiness"};

	ref.project = "default";
	ref.flag_key = "hue";
	ref.environment = "production";
	ref.rule_id = id;
	u.split_stickiness = (char *)attr;
	in.ref = &ref;
	in.update = &u;
	in.update_mask = mask;
	in.n_update_mask = 1;
	*rc = vx_update_rule(h.admin, &in, &out, st);
	return out;
}

/* The newest audit entry's detail and kind. */
static void
newest_audit(char *detail, size_t n, Vexil__V1__ChangeKind *kind)
{
	Vexil__V1__ListAuditRequest in = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *out;
	vx_status st;

	in.project = "default";
	in.limit = 1;
	cr_assert_eq(vx_list_audit(h.admin, &in, &out, &st), 0, "%s", st.message);
	cr_assert_eq(out->n_entries, 1);
	snprintf(detail, n, "%s", out->entries[0]->detail);
	*kind = out->entries[0]->kind;
	vx_free(out);
}

Test(eval_rpc, a_splits_stickiness_changes_with_update_rule_and_bad_names_change_nothing)
{
	Vexil__V1__Rule *out;
	Vexil__V1__ChangeKind kind;
	char detail[512], big[80];
	const char *bad[] = {"not a key", "-lead", big};
	uint64_t id, rev;
	vx_status st;
	int rc, differ = 0, first = -1;

	make_flag("hue");
	set_enabled("hue", true);
	out = add_split_rule("hue", "", "g", "", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	id = out->id;
	cr_assert_str_eq(out->split_stickiness, "");
	vx_free(out);

	rev = vx_project_revision(h.admin, "default");
	out = set_split_stickiness(id, "email", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(out->split_stickiness, "email");
	cr_assert_eq(out->n_split, 2, "the split is kept");
	vx_free(out);
	/* One write, audited with what changed. */
	cr_assert_eq(vx_project_revision(h.admin, "default"), rev + 1);
	newest_audit(detail, sizeof(detail), &kind);
	cr_assert_eq(kind, VEXIL__V1__CHANGE_KIND__RULE_UPDATED);
	cr_assert(strstr(detail, "by email") != NULL, "%s", detail);

	/* Users sharing an email share a bucket: the email's, not the id's. */
	for (int i = 0; i < 40; i++) {
		char user[16], email[32];
		Vexil__V1__EvaluationResult *res;
		const char *want;

		snprintf(user, sizeof(user), "u%d", i);
		snprintf(email, sizeof(email), "m%d@example.com", i % 7);
		want = vx_eval_bucket("g", email, VX_EVAL_VARIANT_SEED, 10000) <= 5000
		           ? "on"
		           : "off";
		if (strcmp(want,
		        vx_eval_bucket("g", user, VX_EVAL_VARIANT_SEED, 10000) <= 5000
		            ? "on"
		            : "off") != 0 &&
		    differ++ == 0)
			first = i;
		res = eval("hue", user, email, &rc);
		cr_assert_eq(rc, 0);
		cr_assert_str_eq(res->variant, want, "%s", email);
		vx_free(res);
	}
	cr_assert(differ > 0, "bucketing by user id would serve the same");

	/* A bad name is refused naming the field; nothing changes. */
	memset(big, 'a', 65);
	big[65] = '\0';
	rev = vx_project_revision(h.admin, "default");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = set_split_stickiness(id, bad[i], &rc, &st);
		cr_assert_eq(rc, VX_EINVAL, "%s", bad[i]);
		cr_assert_str_eq(st.field, "update.split_stickiness", "%s", bad[i]);
		cr_assert(
		    strstr(st.message, "split_stickiness") != NULL, "%s", st.message);
	}
	cr_assert_eq(vx_project_revision(h.admin, "default"), rev);
	{
		Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;

		ref.project = "default";
		ref.flag_key = "hue";
		ref.environment = "production";
		ref.rule_id = id;
		cr_assert_eq(vx_get_rule(h.admin, &ref, &out, &st), 0, "%s", st.message);
		cr_assert_str_eq(out->split_stickiness, "email");
		vx_free(out);
	}

	/* Empty: back to the rollout's stickiness (the default's user id). */
	out = set_split_stickiness(id, "", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(out->split_stickiness, "");
	vx_free(out);
	{
		char user[16], email[32];
		Vexil__V1__EvaluationResult *res;

		snprintf(user, sizeof(user), "u%d", first);
		snprintf(email, sizeof(email), "m%d@example.com", first % 7);
		res = eval("hue", user, email, &rc);
		cr_assert_eq(rc, 0);
		cr_assert_str_eq(res->variant,
		    vx_eval_bucket("g", user, VX_EVAL_VARIANT_SEED, 10000) <= 5000
		        ? "on"
		        : "off");
		vx_free(res);
	}

	/* flagd's bucketing has no rollout to fall back on: it needs a name. */
	out = add_split_rule("hue", "", "g", "flagd", &rc, &st);
	cr_assert_eq(rc, VX_EINVAL);
	cr_assert(strstr(st.field, "split_stickiness") != NULL, "%s", st.field);
}
