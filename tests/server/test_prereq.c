/*
 * Vexil integration tests: prerequisites over the wire.
 *
 * vexild refuses what would make a prerequisite graph unevaluable (a
 * cycle, a parent of another project, a variant the parent lacks) and the
 * deletion of a flag others require; a chain of depth 3 evaluates the same
 * on the server, in a fetched snapshot and in a live watch.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "model/compile.h"
#include "vexil_eval.h"
#include "vexil_watch.h"

VX_SERVER_SUITE(prereq, 120);

/* A boolean flag, enabled in production with the given rollout. */
static void
bool_flag(const char *project, const char *key, unsigned rollout)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cp[] = {&cfg};
	vx_status st;

	f.key = (char *)key;
	cfg.environment = "production";
	cfg.enabled = true;
	cfg.rollout_percentage = rollout;
	f.envs = cp;
	f.n_envs = 1;
	in.project = (char *)project;
	in.flag = &f;
	cr_assert(
	    vx_create_flag(h.admin, &in, &out, &st) == 0, "%s: %s", st.field, st.message);
	vx_free(out);
}

/* Sets key's production prerequisites to one parent; returns the call's rc. */
static int
require(const char *key, const char *parent, bool when_off, const char *variant,
    vx_status *st)
{
	Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__Prerequisite p = VEXIL__V1__PREREQUISITE__INIT, *pp[] = {&p};
	Vexil__V1__Flag *out;
	char *mask[] = {"prerequisites"}, *vars[] = {(char *)variant};
	int rc;

	p.flag_key = (char *)parent;
	p.when_off = when_off;
	if (variant != NULL) {
		p.variants = vars;
		p.n_variants = 1;
	}
	cfg.environment = "production";
	cfg.prerequisites = pp;
	cfg.n_prerequisites = parent ? 1 : 0;
	in.project = "default";
	in.key = (char *)key;
	in.update = &cfg;
	in.update_mask = mask;
	in.n_update_mask = 1;
	if ((rc = vx_update_flag_env(h.admin, &in, &out, st)) == 0)
		vx_free(out);
	return rc;
}

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

Test(prereq, a_cycle_is_refused_naming_the_field_and_changes_nothing)
{
	vx_status st;
	uint64_t rev;

	bool_flag("default", "pa", 100);
	bool_flag("default", "pb", 100);
	bool_flag("default", "pc", 100);
	cr_assert(require("pb", "pa", false, NULL, &st) == 0, "%s", st.message);
	cr_assert(require("pc", "pb", false, NULL, &st) == 0, "%s", st.message);
	rev = revision();
	cr_assert_eq(require("pa", "pc", false, NULL, &st), VX_ESTATE, "%s", st.message);
	cr_expect_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_expect_str_eq(st.field, "envs[0].prerequisites[0]");
	cr_expect(
	    strstr(st.message, "cycle: pa -> pc -> pb -> pa") != NULL, "%s", st.message);
	cr_expect_eq(revision(), rev, "a refused write bumps nothing");
	/* A flag cannot require itself either. */
	cr_assert_eq(require("pa", "pa", false, NULL, &st), VX_EINVAL, "%s", st.message);
	cr_expect_str_eq(st.field, "envs[0].prerequisites[0].flag_key");
}

Test(prereq, a_parent_of_another_project_is_refused)
{
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	cp.name = "other";
	cr_assert(vx_create_project(h.admin, &cp, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	bool_flag("other", "elsewhere", 100);
	bool_flag("default", "child", 100);
	cr_assert_eq(
	    require("child", "elsewhere", false, NULL, &st), VX_ESTATE, "%s", st.message);
	cr_expect_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_expect_str_eq(st.field, "envs[0].prerequisites[0].flag_key");
	cr_expect(
	    strstr(st.message, "not a flag of its project") != NULL, "%s", st.message);
}

Test(prereq, a_variant_the_parent_lacks_is_refused)
{
	vx_status st;

	bool_flag("default", "parent", 100);
	bool_flag("default", "child", 100);
	cr_assert_eq(require("child", "parent", false, "purple", &st), VX_EINVAL, "%s",
	    st.message);
	cr_expect_str_eq(st.field, "envs[0].prerequisites[0].variants[0]");
	cr_assert_eq(
	    require("child", "parent", true, "on", &st), VX_EINVAL, "%s", st.message);
	cr_expect_str_eq(st.field, "envs[0].prerequisites[0].variants");
	cr_assert(require("child", "parent", false, "on", &st) == 0, "%s", st.message);
}

Test(prereq, deleting_a_required_flag_is_refused_until_no_flag_requires_it)
{
	Vexil__V1__DeleteFlagRequest del = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;

	bool_flag("default", "parent", 100);
	bool_flag("default", "child", 100);
	cr_assert(require("child", "parent", false, NULL, &st) == 0, "%s", st.message);
	del.project = "default";
	del.key = "parent";
	cr_assert_eq(vx_delete_flag(h.admin, &del, &out, &st), VX_ESTATE);
	cr_expect_str_eq(st.field, "key");
	cr_expect(strstr(st.message, "required by flag child") != NULL, "%s", st.message);
	cr_assert(require("child", NULL, false, NULL, &st) == 0, "%s", st.message);
	cr_assert(vx_delete_flag(h.admin, &del, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

/* d requires c requires b requires a; a is a 50% rollout. */
static void
chain(void)
{
	vx_status st;

	bool_flag("default", "a", 50);
	bool_flag("default", "b", 100);
	bool_flag("default", "c", 100);
	bool_flag("default", "d", 100);
	cr_assert(require("b", "a", false, NULL, &st) == 0, "%s", st.message);
	cr_assert(require("c", "b", false, NULL, &st) == 0, "%s", st.message);
	cr_assert(require("d", "c", false, "on", &st) == 0, "%s", st.message);
}

static Vexil__V1__EvaluationResult *
evaluate(const char *key, const char *user)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out;
	vx_status st;

	ctx.user_id = (char *)user;
	in.project = "default";
	in.environment = "production";
	in.flag_key = (char *)key;
	in.context = &ctx;
	cr_assert(vx_evaluate(h.admin, &in, &out, &st) == 0, "%s", st.message);
	return out;
}

Test(prereq, a_chain_of_depth_three_answers_alike_on_the_server_in_a_snapshot_and_a_watch)
{
	vx_watch_opts o = {.rpc_url = h.rpc,
	    .pub_url = h.pub,
	    .credential = h.key,
	    .project = "default",
	    .environment = "production",
	    .poll_ms = 200};
	vx_eval_snapshot *snap;
	const vx_eval_snapshot *live;
	vx_watch *w;
	vx_status st;
	int on = 0;

	chain();
	cr_assert(
	    vx_eval_snapshot_fetch(h.admin, "default", "production", &snap, &st) == 0,
	    "%s", st.message);
	cr_assert(vx_watch_start(&w, &o, &st) == 0, "%s", st.message);
	for (int i = 0; i < 100 && vx_watch_revision(w) < revision(); i++)
		usleep(20000);
	cr_assert_eq(vx_watch_revision(w), revision());
	live = vx_watch_acquire(w);
	cr_assert_not_null(live);
	for (int i = 0; i < 200; i++) {
		char user[32];
		Vexil__V1__EvaluationResult *a, *d;
		vx_eval_ctx ctx = {.user_id = user};
		vx_eval_result local, watched;

		snprintf(user, sizeof(user), "user-%d", i);
		a = evaluate("a", user);
		d = evaluate("d", user);
		cr_assert(vx_eval_local(snap, "d", &ctx, &local, NULL) == 0);
		cr_assert(vx_eval_local(live, "d", &ctx, &watched, NULL) == 0);
		if (strcmp(a->reason, "SPLIT") == 0) {
			on++;
			cr_assert_str_eq(d->reason, "SPLIT", "%s", user);
			cr_assert_str_eq(d->variant, "on");
			cr_assert_str_eq(d->prerequisite, "");
		} else {
			cr_assert_str_eq(d->reason, "PREREQUISITE_FAILED", "%s", user);
			cr_assert_str_eq(d->variant, "off");
			cr_assert_str_eq(d->prerequisite, "c");
		}
		cr_assert_str_eq(
		    vx_eval_reason_name(local.reason), d->reason, "%s", user);
		cr_assert_str_eq(local.variant_key, d->variant);
		cr_assert_str_eq(
		    vx_eval_reason_name(watched.reason), d->reason, "%s", user);
		cr_assert_str_eq(watched.variant_key, d->variant);
		if (local.prereq != NULL)
			cr_assert_str_eq(local.prereq, d->prerequisite);
		vx_free(a);
		vx_free(d);
	}
	cr_expect(on > 60 && on < 140, "%d of 200 in a 50%% rollout", on);
	vx_watch_release(w, live);
	vx_watch_stop(w);
	vx_eval_snapshot_free(snap);
}

Test(prereq, disabling_the_root_fails_the_chain_in_a_live_watch)
{
	vx_watch_opts o = {.rpc_url = h.rpc,
	    .pub_url = h.pub,
	    .credential = h.key,
	    .project = "default",
	    .environment = "production",
	    .poll_ms = 200};
	Vexil__V1__SetFlagEnabledRequest en = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	const vx_eval_snapshot *live;
	vx_eval_ctx ctx = {.user_id = "u1"};
	vx_eval_result res;
	vx_watch *w;
	vx_status st;
	uint64_t rev;

	chain();
	cr_assert(vx_watch_start(&w, &o, &st) == 0, "%s", st.message);
	en.project = "default";
	en.key = "a";
	en.environment = "production";
	en.enabled = false;
	cr_assert(vx_set_flag_enabled(h.admin, &en, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	rev = revision();
	for (int i = 0; i < 100 && vx_watch_revision(w) < rev; i++)
		usleep(20000);
	cr_assert_eq(vx_watch_revision(w), rev);
	live = vx_watch_acquire(w);
	cr_assert(vx_eval_local(live, "b", &ctx, &res, NULL) == 0);
	cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED);
	cr_expect_str_eq(res.prereq, "a");
	cr_assert(vx_eval_local(live, "d", &ctx, &res, NULL) == 0);
	cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED);
	cr_expect_str_eq(res.prereq, "c");
	vx_watch_release(w, live);
	vx_watch_stop(w);
}

Test(prereq, a_flag_shows_its_prerequisites)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;

	chain();
	in.project = "default";
	in.key = "d";
	cr_assert(vx_get_flag(h.admin, &in, &f, &st) == 0, "%s", st.message);
	for (size_t i = 0; i < f->n_envs; i++) {
		if (strcmp(f->envs[i]->environment, "production") != 0) {
			cr_expect_eq(f->envs[i]->n_prerequisites, 0);
			continue;
		}
		cr_assert_eq(f->envs[i]->n_prerequisites, 1);
		cr_expect_str_eq(f->envs[i]->prerequisites[0]->flag_key, "c");
		cr_assert_eq(f->envs[i]->prerequisites[0]->n_variants, 1);
		cr_expect_str_eq(f->envs[i]->prerequisites[0]->variants[0], "on");
	}
	vx_free(f);
}

Test(prereq, a_flag_created_with_prerequisites_is_checked_like_an_update)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cp[] = {&cfg};
	Vexil__V1__Prerequisite p = VEXIL__V1__PREREQUISITE__INIT, *pp[] = {&p};
	vx_status st;

	bool_flag("default", "parent", 100);
	f.key = "child";
	cfg.environment = "staging";
	cfg.enabled = true;
	cfg.prerequisites = pp;
	cfg.n_prerequisites = 1;
	f.envs = cp;
	f.n_envs = 1;
	in.project = "default";
	in.flag = &f;
	p.flag_key = "nobody";
	cr_assert_eq(
	    vx_create_flag(h.admin, &in, &out, &st), VX_ESTATE, "%s", st.message);
	cr_expect_str_eq(st.field, "envs[0].prerequisites[0].flag_key");
	p.flag_key = "parent";
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

Test(prereq, a_chain_deeper_than_eight_is_refused)
{
	char key[16], parent[16];
	vx_status st;
	int i;

	bool_flag("default", "c0", 100);
	for (i = 1; i <= 9; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		snprintf(parent, sizeof(parent), "c%d", i - 1);
		bool_flag("default", key, 100);
		if (require(key, parent, false, NULL, &st) != 0)
			break;
	}
	cr_expect_eq(i, 9, "c1..c8 may chain; c9 would be 9 deep");
	cr_expect_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_expect(strstr(st.message, "deeper than 8") != NULL, "%s", st.message);
}
