/*
 * Vexil integration tests: segments over the wire.
 *
 * A segment is kept once per project and named by rules of many flags.
 * Changing it is one write (one revision) that changes every using flag's
 * evaluation at once, on the server and in a live watch; a segment in use
 * cannot be deleted, and a rule cannot name a segment that does not exist.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "model/flagset.h"
#include "vexil_eval.h"
#include "vexil_watch.h"

VX_SERVER_SUITE(segment, 120);

static uint64_t
revision(void)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	uint64_t rev;

	in.project = "default";
	cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	rev = p->revision;
	vx_free(p);
	return rev;
}

/* A segment of one condition `attr op value`; returns the call's rc. */
static int
put_segment(bool create, const char *name, const char *attr, const char *op,
    const char *value, vx_status *st)
{
	Vexil__V1__Segment g = VEXIL__V1__SEGMENT__INIT, *out;
	Vexil__V1__Condition k = VEXIL__V1__CONDITION__INIT, *kp[] = {&k};
	char *vals[] = {(char *)value}, *mask[] = {"conditions"};
	int rc;

	k.attribute = (char *)attr;
	k.operator_ = (char *)op;
	k.values = vals;
	k.n_values = 1;
	g.name = (char *)name;
	g.conditions = kp;
	g.n_conditions = 1;
	if (create) {
		Vexil__V1__CreateSegmentRequest in =
		    VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
		in.project = "default";
		in.segment = &g;
		rc = vx_create_segment(h.admin, &in, &out, st);
	} else {
		Vexil__V1__UpdateSegmentRequest in =
		    VEXIL__V1__UPDATE_SEGMENT_REQUEST__INIT;
		in.project = "default";
		in.name = (char *)name;
		in.update = &g;
		in.update_mask = mask;
		in.n_update_mask = 1;
		rc = vx_update_segment(h.admin, &in, &out, st);
	}
	if (rc == 0)
		vx_free(out);
	return rc;
}

/* A boolean flag, enabled in production, off for everyone but its rule. */
static void
flag(const char *key)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cp[] = {&cfg};
	vx_status st;

	f.key = (char *)key;
	cfg.environment = "production";
	cfg.enabled = true;
	cfg.rollout_percentage = 0;
	f.envs = cp;
	f.n_envs = 1;
	in.project = "default";
	in.flag = &f;
	cr_assert(
	    vx_create_flag(h.admin, &in, &out, &st) == 0, "%s: %s", st.field, st.message);
	vx_free(out);
}

/* A production rule of key serving "on" to the segment; returns rc. */
static int
rule(const char *key, const char *segment, uint64_t *id, vx_status *st)
{
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out;
	char *segs[] = {(char *)segment};
	int rc;

	r.enabled = true;
	r.variant = "on";
	r.segments = segs;
	r.n_segments = 1;
	in.project = "default";
	in.flag_key = (char *)key;
	in.environment = "production";
	in.rule = &r;
	if ((rc = vx_create_rule(h.admin, &in, &out, st)) == 0) {
		if (id != NULL)
			*id = out->id;
		vx_free(out);
	}
	return rc;
}

static const char *
served(const char *key, const char *email)
{
	static char variant[32];
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out;
	vx_status st;

	ctx.user_id = "u1";
	ctx.email = (char *)email;
	in.project = "default";
	in.environment = "production";
	in.flag_key = (char *)key;
	in.context = &ctx;
	cr_assert(vx_evaluate(h.admin, &in, &out, &st) == 0, "%s", st.message);
	snprintf(variant, sizeof(variant), "%s", out->variant);
	vx_free(out);
	return variant;
}

static const char *
served_locally(const vx_eval_snapshot *s, const char *key, const char *email)
{
	vx_eval_ctx ctx = {.user_id = "u1", .email = email};
	vx_eval_result res;

	cr_assert(vx_eval_local(s, key, &ctx, &res, NULL) == 0);
	return res.variant_key;
}

Test(segment, one_update_is_one_revision_that_changes_every_using_flag_at_once)
{
	vx_watch_opts o = {.rpc_url = h.rpc,
	    .pub_url = h.pub,
	    .credential = h.key,
	    .project = "default",
	    .environment = "production",
	    .poll_ms = 200};
	Vexil__V1__ChangesRequest ch = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *reply;
	const vx_eval_snapshot *live;
	vx_eval_snapshot *snap;
	vx_watch *w;
	vx_status st;
	uint64_t before;

	cr_assert(
	    put_segment(true, "staff", "email", "ends_with", "@corp.example", &st) == 0,
	    "%s", st.message);
	flag("alpha");
	flag("bravo");
	cr_assert(rule("alpha", "staff", NULL, &st) == 0, "%s", st.message);
	cr_assert(rule("bravo", "staff", NULL, &st) == 0, "%s", st.message);
	cr_assert(vx_watch_start(&w, &o, &st) == 0, "%s", st.message);
	cr_expect_str_eq(served("alpha", "ann@corp.example"), "on");
	cr_expect_str_eq(served("bravo", "ann@corp.example"), "on");
	cr_expect_str_eq(served("alpha", "bob@else.example"), "off");

	before = revision();
	cr_assert(
	    put_segment(false, "staff", "email", "ends_with", "@else.example", &st) == 0,
	    "%s", st.message);
	cr_assert_eq(revision(), before + 1, "one write, one revision");
	cr_expect_str_eq(served("alpha", "ann@corp.example"), "off");
	cr_expect_str_eq(served("bravo", "ann@corp.example"), "off");
	cr_expect_str_eq(served("alpha", "bob@else.example"), "on");
	cr_expect_str_eq(served("bravo", "bob@else.example"), "on");

	/* The change log says what changed; the reply carries the segment. */
	ch.project = "default";
	ch.since = before;
	cr_assert(vx_changes(h.admin, &ch, &reply, &st) == 0, "%s", st.message);
	cr_assert_eq(reply->n_changes, 1);
	cr_expect_eq(reply->changes[0]->kind, VEXIL__V1__CHANGE_KIND__SEGMENT_UPDATED);
	cr_expect_str_eq(reply->changes[0]->flag_key, "");
	cr_assert_eq(reply->n_segments, 1);
	cr_expect_str_eq(reply->segments[0]->conditions[0]->values[0], "@else.example");
	vx_free(reply);

	/* A watch follows: both flags at the new revision. */
	for (int i = 0; i < 100 && vx_watch_revision(w) < before + 1; i++)
		usleep(20000);
	cr_assert_eq(vx_watch_revision(w), before + 1);
	live = vx_watch_acquire(w);
	cr_expect_str_eq(served_locally(live, "alpha", "bob@else.example"), "on");
	cr_expect_str_eq(served_locally(live, "bravo", "bob@else.example"), "on");
	cr_expect_str_eq(served_locally(live, "bravo", "ann@corp.example"), "off");
	vx_watch_release(w, live);
	vx_watch_stop(w);

	/* So does a snapshot. */
	cr_assert(
	    vx_eval_snapshot_fetch(h.admin, "default", "production", &snap, &st) == 0,
	    "%s", st.message);
	cr_expect_str_eq(served_locally(snap, "alpha", "bob@else.example"), "on");
	cr_expect_str_eq(served_locally(snap, "alpha", "ann@corp.example"), "off");
	vx_eval_snapshot_free(snap);
}

Test(segment, a_segment_in_use_cannot_be_deleted)
{
	Vexil__V1__DeleteSegmentRequest del = VEXIL__V1__DELETE_SEGMENT_REQUEST__INIT;
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Empty *out;
	vx_status st;
	uint64_t id;

	cr_assert(put_segment(true, "beta", "groups", "contains", "beta", &st) == 0, "%s",
	    st.message);
	flag("alpha");
	cr_assert(rule("alpha", "beta", &id, &st) == 0, "%s", st.message);
	del.project = "default";
	del.name = "beta";
	cr_assert_eq(vx_delete_segment(h.admin, &del, &out, &st), VX_ESTATE);
	cr_expect_str_eq(st.field, "name");
	cr_expect(strstr(st.message, "flag alpha") != NULL, "%s", st.message);
	ref.project = "default";
	ref.flag_key = "alpha";
	ref.rule_id = id;
	cr_assert(vx_delete_rule(h.admin, &ref, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	cr_assert(vx_delete_segment(h.admin, &del, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

Test(segment, a_rule_cannot_name_a_missing_segment)
{
	vx_status st;
	uint64_t rev;

	flag("alpha");
	rev = revision();
	cr_assert_eq(rule("alpha", "nobody", NULL, &st), VX_ESTATE);
	cr_expect_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_expect_str_eq(st.field, "rules[0].segments[0]");
	cr_expect_eq(revision(), rev);
}

Test(segment, bad_conditions_and_duplicates_are_refused_naming_the_field)
{
	vx_status st;

	cr_assert_eq(
	    put_segment(true, "old", "version", "semver_lt", "v2.0.0", &st), VX_EINVAL);
	cr_expect_str_eq(st.field, "conditions");
	cr_assert_eq(
	    put_segment(true, "bad name", "email", "equals", "x", &st), VX_EINVAL);
	cr_expect_str_eq(st.field, "segment.name");
	cr_assert(
	    put_segment(true, "ok", "email", "equals", "x", &st) == 0, "%s", st.message);
	cr_assert_eq(put_segment(true, "ok", "email", "equals", "x", &st), VX_EEXIST);
	cr_assert_eq(put_segment(false, "ok", "n", "nope", "1", &st), VX_EINVAL);
	cr_expect_str_eq(st.field, "conditions");
	cr_assert_eq(
	    put_segment(false, "missing", "email", "equals", "x", &st), VX_ENOTFOUND);
}

Test(segment, a_read_key_may_list_but_not_write)
{
	Vexil__V1__ListSegmentsRequest in = VEXIL__V1__LIST_SEGMENTS_REQUEST__INIT;
	Vexil__V1__CreateSegmentRequest cin = VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
	Vexil__V1__Segment g = VEXIL__V1__SEGMENT__INIT, *out;
	Vexil__V1__SegmentList *list;
	char secret[128];
	vx_client *reader;
	vx_status st;

	cr_assert(
	    put_segment(true, "staff", "email", "ends_with", "@corp.example", &st) == 0,
	    "%s", st.message);
	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_READ, secret, sizeof(secret));
	reader = vx_harness_client(&h, secret);
	in.project = "default";
	cr_assert(vx_list_segments(reader, &in, &list, &st) == 0, "%s", st.message);
	cr_assert_eq(list->n_segments, 1);
	cr_expect_str_eq(list->segments[0]->name, "staff");
	vx_free(list);
	g.name = "more";
	cin.project = "default";
	cin.segment = &g;
	cr_assert_eq(vx_create_segment(reader, &cin, &out, &st), VX_EPERM);
	vx_client_close(reader);
}

/*
 * The model inlines a segment's conditions into each rule that names it,
 * after the rule's own: a table of rule conditions, segments and contexts
 * against what the flag serves (no vexild needed).
 */
TestSuite(segment_model);

struct seg_case {
	const char *rule_country; /* the rule's own condition, or NULL */
	const char *segs[2];      /* segments the rule names */
	const char *email, *country;
	const char *want;
};

Test(segment_model, a_rule_holds_when_its_own_and_every_named_segments_conditions_hold)
{
	static const struct seg_case cases[] = {
	    {NULL, {"staff"}, "a@corp.example", "NO", "on"},
	    {NULL, {"staff"}, "a@else.example", "NO", "off"},
	    {NULL, {"staff"}, NULL, "NO", "off"},
	    {"NO", {"staff"}, "a@corp.example", "NO", "on"},
	    {"NO", {"staff"}, "a@corp.example", "SE", "off"},
	    {NULL, {"staff", "nordic"}, "a@corp.example", "SE", "on"},
	    {NULL, {"staff", "nordic"}, "a@corp.example", "DE", "off"},
	    {NULL, {"staff", "nordic"}, "a@else.example", "SE", "off"},
	    {NULL, {"everyone"}, NULL, NULL, "on"},
	};
	char *staff_v[] = {"@corp.example"}, *nordic_v[] = {"NO", "SE", "DK"};
	Vexil__V1__Condition staff_c = VEXIL__V1__CONDITION__INIT,
	                     *staff_cp[] = {&staff_c};
	Vexil__V1__Condition nordic_c = VEXIL__V1__CONDITION__INIT,
	                     *nordic_cp[] = {&nordic_c};
	Vexil__V1__Segment staff = VEXIL__V1__SEGMENT__INIT,
	                   nordic = VEXIL__V1__SEGMENT__INIT,
	                   everyone = VEXIL__V1__SEGMENT__INIT;
	Vexil__V1__Segment *segs[] = {&staff, &nordic, &everyone};

	staff_c.attribute = "email";
	staff_c.operator_ = "ends_with";
	staff_c.values = staff_v;
	staff_c.n_values = 1;
	nordic_c.attribute = "country";
	nordic_c.operator_ = "in";
	nordic_c.values = nordic_v;
	nordic_c.n_values = 3;
	staff.name = "staff";
	staff.conditions = staff_cp;
	staff.n_conditions = 1;
	nordic.name = "nordic";
	nordic.conditions = nordic_cp;
	nordic.n_conditions = 1;
	everyone.name = "everyone";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct seg_case *k = &cases[i];
		Vexil__V1__Variant on = VEXIL__V1__VARIANT__INIT,
		                   off = VEXIL__V1__VARIANT__INIT;
		Vexil__V1__Variant *vp[] = {&on, &off};
		Vexil__V1__Condition own = VEXIL__V1__CONDITION__INIT, *ownp[] = {&own};
		Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *rp[] = {&r};
		Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT,
		                         *cp[] = {&cfg};
		Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *fp[] = {&f};
		char *own_v[] = {(char *)k->rule_country};
		vx_eval_ctx ctx = {
		    .user_id = "u1", .email = k->email, .country = k->country};
		vx_eval_result res;
		vx_flagset *fs;
		char err[200];

		on.key = "on", on.value = "true";
		off.key = "off", off.value = "false";
		own.attribute = "country";
		own.operator_ = "equals";
		own.values = own_v;
		own.n_values = 1;
		r.enabled = true;
		r.variant = "on";
		r.conditions = ownp;
		r.n_conditions = k->rule_country ? 1 : 0;
		r.segments = (char **)k->segs;
		r.n_segments = k->segs[1] ? 2 : 1;
		cfg.environment = "production";
		cfg.enabled = true;
		cfg.default_variant = "on";
		cfg.off_variant = "off";
		cfg.rules = rp;
		cfg.n_rules = 1;
		f.key = "f";
		f.variants = vp;
		f.n_variants = 2;
		f.envs = cp;
		f.n_envs = 1;
		cr_assert_eq(vx_flagset_build(fp, 1, segs, 3, 1, 1, "production", &fs,
		                 err, sizeof(err)),
		    0, "%s", err);
		cr_assert_eq(fs->nbroken, 0, "row %zu: %s", i, err);
		cr_assert(
		    vx_eval_flag_evaluate(fs->flags[0].flag, &ctx, &res) == VX_EVAL_OK);
		cr_expect_str_eq(res.variant_key, k->want, "row %zu", i);
		vx_flagset_free(fs);
	}
}

Test(segment_model, a_rule_naming_a_segment_the_set_lacks_makes_the_flag_broken)
{
	Vexil__V1__Variant on = VEXIL__V1__VARIANT__INIT, *vp[] = {&on};
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *rp[] = {&r};
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cp[] = {&cfg};
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *fp[] = {&f};
	char *segs[] = {"gone"}, err[200];
	vx_eval_result res;
	vx_flagset *fs;

	on.key = "on", on.value = "true";
	r.enabled = true;
	r.variant = "on";
	r.segments = segs;
	r.n_segments = 1;
	cfg.environment = "production";
	cfg.enabled = true;
	cfg.default_variant = cfg.off_variant = "on";
	cfg.rules = rp;
	cfg.n_rules = 1;
	f.key = "f";
	f.variants = vp;
	f.n_variants = 1;
	f.envs = cp;
	f.n_envs = 1;
	cr_assert_eq(
	    vx_flagset_build(fp, 1, NULL, 0, 1, 1, "production", &fs, err, sizeof(err)),
	    0);
	cr_expect_eq(fs->nbroken, 1);
	cr_expect(strstr(err, "no segment gone") != NULL, "%s", err);
	cr_assert(vx_eval_flag_evaluate(fs->flags[0].flag, NULL, &res) == VX_EVAL_OK);
	cr_expect_eq(res.reason, VX_REASON_ERROR);
	vx_flagset_free(fs);
}
