/*
 * test_prereq.c: prerequisites (eval.h, "Prerequisites").
 *
 * A child requires a parent; the parent is evaluated with the child's
 * context, and what it serves decides whether the prerequisite holds. The
 * table crosses the parent's states (a rule matched, the rollout let the
 * context in, disabled, rolled out, broken) with the three kinds of
 * prerequisite (on, on with given variants, off). Linking is checked for
 * its order, its cycle refusal and its bounds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static const vx_eval_variant_src color_variants[3] = {
    {"off", "\"none\""},
    {"red", "\"red\""},
    {"green", "\"green\""},
};

/* Parent states, as the table names them. */
enum pstate { P_RULE, P_ROLLOUT, P_DISABLED, P_ROLLED_OUT, P_BROKEN };

/*
 * "parent": a string flag serving red by a rule for country NO, green by
 * its rollout, and "off" when off.
 */
static vx_eval_flag *
parent_flag(enum pstate st)
{
	static const char *const no_vals[] = {"NO"};
	static const vx_eval_condition_src no[1] = {
	    {.attribute = "country", .op = VX_OP_EQUALS, .values = no_vals, .nvalues = 1},
	};
	vx_eval_rule_src r = rule_on(no, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);

	src.key = "parent";
	src.type = VX_FLAG_STRING;
	src.variants = color_variants;
	src.nvariants = 3;
	src.default_variant = 2;
	src.rollout_percentage = st == P_ROLLED_OUT ? 0 : 100;
	src.enabled = st != P_DISABLED;
	src.broken = st == P_BROKEN;
	return must_compile(&src);
}

/* "child": a bool flag, on for everyone, that requires p. */
static vx_eval_flag *
child_flag(const char *key, const vx_eval_prereq_src *p, size_t np)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);

	src.key = key;
	src.rollout_percentage = 100;
	src.prereqs = p;
	src.nprereqs = np;
	return must_compile(&src);
}

static void
must_link(vx_eval_flag *f, const vx_eval_flag *const *parents)
{
	char err[200];

	cr_assert_eq(
	    vx_eval_flag_link(f, parents, err, sizeof(err)), VX_EVAL_OK, "link: %s", err);
}

struct prereq_case {
	enum pstate parent;
	const char *country;
	bool when_off;
	const char *const *variants; /* NULL-terminated, or NULL */
	bool holds;
};

static const char *const RED[] = {"red", NULL};
static const char *const GREEN_OR_OFF[] = {"green", "off", NULL};
static const char *const ON[] = {"on"};

Test(prereq, holds_as_the_table_says_for_each_parent_state_and_kind)
{
	const struct prereq_case cases[] = {
	    /* on: a rule or the rollout served the parent */
	    {P_RULE, "NO", false, NULL, true},
	    {P_ROLLOUT, "SE", false, NULL, true},
	    {P_DISABLED, "NO", false, NULL, false},
	    {P_ROLLED_OUT, "SE", false, NULL, false},
	    {P_BROKEN, "NO", false, NULL, false},
	    /* on, serving one of the listed variants */
	    {P_RULE, "NO", false, RED, true},
	    {P_ROLLOUT, "SE", false, RED, false},
	    {P_ROLLOUT, "SE", false, GREEN_OR_OFF, true},
	    /* "off" is served, but the parent is not on */
	    {P_DISABLED, "NO", false, GREEN_OR_OFF, false},
	    {P_ROLLED_OUT, "SE", false, GREEN_OR_OFF, false},
	    /* off */
	    {P_RULE, "NO", true, NULL, false},
	    {P_ROLLOUT, "SE", true, NULL, false},
	    {P_DISABLED, "NO", true, NULL, true},
	    {P_ROLLED_OUT, "SE", true, NULL, true},
	    /* a broken parent fails either way */
	    {P_BROKEN, "NO", true, NULL, false},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct prereq_case *k = &cases[i];
		vx_eval_prereq_src p = {
		    .flag = "parent",
		    .when_off = k->when_off,
		    .variants = k->variants,
		    .nvariants = k->variants ? count_vals(k->variants) : 0,
		};
		vx_eval_flag *parent = parent_flag(k->parent);
		vx_eval_flag *child = child_flag("child", &p, 1);
		const vx_eval_flag *parents[1] = {parent};
		vx_eval_ctx ctx = {.user_id = "u1", .country = k->country};
		vx_eval_result res;

		must_link(child, parents);
		res = must_eval(child, &ctx);
		if (k->holds) {
			cr_expect_eq(res.reason, VX_REASON_SPLIT, "row %zu: reason %s", i,
			    vx_eval_reason_name(res.reason));
			cr_expect_str_eq(res.variant_key, "on", "row %zu", i);
			cr_expect_null(res.prereq, "row %zu", i);
		} else {
			cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED,
			    "row %zu: reason %s", i, vx_eval_reason_name(res.reason));
			cr_expect_str_eq(res.variant_key, "off", "row %zu", i);
			cr_expect_str_eq(res.prereq, "parent", "row %zu", i);
			cr_expect_eq(res.rule, -1, "row %zu", i);
		}
		vx_eval_flag_free(child);
		vx_eval_flag_free(parent);
	}
}

Test(prereq, a_disabled_child_is_disabled_before_its_prerequisites_are_checked)
{
	vx_eval_prereq_src p = {.flag = "parent"};
	vx_eval_flag *parent = parent_flag(P_DISABLED);
	vx_eval_flag_src src = bool_flag(NULL, 0);
	const vx_eval_flag *parents[1] = {parent};
	vx_eval_flag *child;
	vx_eval_result res;

	src.key = "child";
	src.enabled = false;
	src.prereqs = &p;
	src.nprereqs = 1;
	child = must_compile(&src);
	must_link(child, parents);
	res = must_eval(child, NULL);
	cr_expect_eq(res.reason, VX_REASON_DISABLED);
	cr_expect_null(res.prereq);
	vx_eval_flag_free(child);
	vx_eval_flag_free(parent);
}

Test(prereq, the_first_failing_prerequisite_in_order_is_named)
{
	vx_eval_prereq_src ps[3] = {
	    {.flag = "parent"},
	    {.flag = "parent2", .when_off = true},
	    {.flag = "parent3"},
	};
	vx_eval_flag *on = parent_flag(P_ROLLOUT);
	vx_eval_flag *child = child_flag("child", ps, 3);
	const vx_eval_flag *parents[3] = {on, on, NULL};
	vx_eval_result res;

	must_link(child, parents);
	res = must_eval(child, NULL);
	cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED);
	cr_expect_str_eq(res.prereq, "parent2");
	vx_eval_flag_free(child);
	vx_eval_flag_free(on);
}

Test(prereq, a_parent_missing_from_the_set_fails_whether_it_must_be_on_or_off)
{
	vx_eval_prereq_src ps[2] = {
	    {.flag = "gone"}, {.flag = "gone2", .when_off = true}};
	const vx_eval_flag *parents[2] = {NULL, NULL};

	for (size_t i = 0; i < 2; i++) {
		vx_eval_flag *child = child_flag("child", &ps[i], 1);
		vx_eval_result res;

		must_link(child, parents);
		res = must_eval(child, NULL);
		cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED);
		cr_expect_str_eq(res.prereq, ps[i].flag);
		vx_eval_flag_free(child);
	}
}

Test(prereq, an_unlinked_flag_fails_its_prerequisites)
{
	vx_eval_prereq_src p = {.flag = "parent", .when_off = true};
	vx_eval_flag *child = child_flag("child", &p, 1);
	vx_eval_result res;

	cr_expect_not(vx_eval_flag_is_linked(child));
	res = must_eval(child, NULL);
	cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED);
	cr_expect_str_eq(res.prereq, "parent");
	vx_eval_flag_free(child);
}

Test(prereq, a_variant_the_parent_lacks_is_never_served)
{
	vx_eval_prereq_src p = {
	    .flag = "parent", .variants = VALS("purple"), .nvariants = 1};
	vx_eval_flag *parent = parent_flag(P_RULE);
	vx_eval_flag *child = child_flag("child", &p, 1);
	const vx_eval_flag *parents[1] = {parent};
	vx_eval_ctx ctx = {.country = "NO"};

	must_link(child, parents);
	cr_expect_eq(must_eval(child, &ctx).reason, VX_REASON_PREREQUISITE_FAILED);
	vx_eval_flag_free(child);
	vx_eval_flag_free(parent);
}

/*
 * d requires c requires b requires a: the chain of depth 3. Each link is
 * made parents first, and each flag's answer follows a's for every user
 * of a 50% rollout, since every parent sees the child's own context.
 */
Test(prereq, a_chain_of_depth_three_follows_its_root_for_every_context)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_prereq_src pb = {.flag = "a"}, pc = {.flag = "b"}, pd = {.flag = "c"};
	vx_eval_flag *a, *b, *c, *d;
	char id[32];
	int on = 0;

	src.key = "a";
	src.rollout_percentage = 50;
	a = must_compile(&src);
	b = child_flag("b", &pb, 1);
	c = child_flag("c", &pc, 1);
	d = child_flag("d", &pd, 1);
	must_link(b, (const vx_eval_flag *const[]){a});
	must_link(c, (const vx_eval_flag *const[]){b});
	must_link(d, (const vx_eval_flag *const[]){c});
	for (int i = 0; i < 1000; i++) {
		vx_eval_ctx ctx = {.user_id = id};
		vx_eval_result ra, rd;

		snprintf(id, sizeof(id), "user-%d", i);
		ra = must_eval(a, &ctx);
		rd = must_eval(d, &ctx);
		if (ra.reason == VX_REASON_SPLIT) {
			on++;
			cr_assert_eq(rd.reason, VX_REASON_SPLIT, "%s", id);
			cr_assert_str_eq(rd.variant_key, "on");
		} else {
			cr_assert_eq(ra.reason, VX_REASON_DEFAULT);
			cr_assert_eq(rd.reason, VX_REASON_PREREQUISITE_FAILED, "%s", id);
			/* The child names its own parent; c says why in turn. */
			cr_assert_str_eq(rd.prereq, "c");
		}
	}
	cr_expect(on > 400 && on < 600, "%d of 1000 in a 50%% rollout", on);
	vx_eval_flag_free(d);
	vx_eval_flag_free(c);
	vx_eval_flag_free(b);
	vx_eval_flag_free(a);
}

Test(prereq, linking_to_an_unlinked_parent_is_refused_and_breaks_the_flag)
{
	vx_eval_prereq_src pa = {.flag = "b"}, pb = {.flag = "a"};
	vx_eval_flag *a = child_flag("a", &pa, 1);
	vx_eval_flag *b = child_flag("b", &pb, 1);
	char err[200];
	vx_eval_result res;

	/* a -> b -> a: whichever is linked first meets an unlinked parent. */
	cr_expect_eq(
	    vx_eval_flag_link(a, (const vx_eval_flag *const[]){b}, err, sizeof(err)),
	    VX_EVAL_EINVAL);
	cr_expect(strstr(err, "cycle") != NULL, "%s", err);
	cr_expect(vx_eval_flag_is_linked(a));
	res = must_eval(a, NULL);
	cr_expect_eq(res.reason, VX_REASON_ERROR);
	cr_expect_str_eq(res.variant_key, "off");
	/* b may link to the broken a, and fails its prerequisite on it. */
	must_link(b, (const vx_eval_flag *const[]){a});
	res = must_eval(b, NULL);
	cr_expect_eq(res.reason, VX_REASON_PREREQUISITE_FAILED);
	cr_expect_str_eq(res.prereq, "a");
	/* Linking twice is refused. */
	cr_expect_eq(
	    vx_eval_flag_link(b, (const vx_eval_flag *const[]){a}, err, sizeof(err)),
	    VX_EVAL_EINVAL);
	vx_eval_flag_free(a);
	vx_eval_flag_free(b);
}

Test(prereq, chains_deeper_than_the_bound_are_refused)
{
	vx_eval_flag *flags[VX_EVAL_PREREQ_MAX_DEPTH + 2];
	vx_eval_prereq_src ps[VX_EVAL_PREREQ_MAX_DEPTH + 2];
	char keys[VX_EVAL_PREREQ_MAX_DEPTH + 2][8], err[200];
	vx_eval_flag_src src = bool_flag(NULL, 0);
	size_t n = VX_EVAL_PREREQ_MAX_DEPTH + 2;

	src.key = "f0";
	src.rollout_percentage = 100;
	flags[0] = must_compile(&src);
	for (size_t i = 1; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "f%zu", i);
		ps[i] = (vx_eval_prereq_src){.flag = vx_eval_flag_key(flags[i - 1])};
		flags[i] = child_flag(keys[i], &ps[i], 1);
		if (i <= VX_EVAL_PREREQ_MAX_DEPTH) {
			must_link(flags[i], (const vx_eval_flag *const *)&flags[i - 1]);
			cr_expect_eq(must_eval(flags[i], NULL).reason, VX_REASON_SPLIT);
		} else {
			cr_expect_eq(vx_eval_flag_link(flags[i],
			                 (const vx_eval_flag *const *)&flags[i - 1], err,
			                 sizeof(err)),
			    VX_EVAL_EINVAL);
			cr_expect(strstr(err, "deeper") != NULL, "%s", err);
			cr_expect_eq(must_eval(flags[i], NULL).reason, VX_REASON_ERROR);
		}
	}
	for (size_t i = 0; i < n; i++)
		vx_eval_flag_free(flags[i]);
}

Test(prereq, a_diamond_counts_each_path_against_the_evaluation_bound)
{
	/* Each level requires the level above twice: evals double per level. */
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_flag *x[8], *y[8];
	vx_eval_prereq_src ps[8][2];
	char kx[8][8], ky[8][8], err[200];
	int refused_at = -1;

	src.key = "x0";
	src.rollout_percentage = 100;
	x[0] = must_compile(&src);
	src.key = "y0";
	y[0] = must_compile(&src);
	for (int i = 1; i < 8; i++) {
		const vx_eval_flag *parents[2] = {x[i - 1], y[i - 1]};
		snprintf(kx[i], 8, "x%d", i);
		snprintf(ky[i], 8, "y%d", i);
		ps[i][0] = (vx_eval_prereq_src){.flag = vx_eval_flag_key(x[i - 1])};
		ps[i][1] = (vx_eval_prereq_src){.flag = vx_eval_flag_key(y[i - 1])};
		x[i] = child_flag(kx[i], ps[i], 2);
		y[i] = child_flag(ky[i], ps[i], 2);
		if (vx_eval_flag_link(x[i], parents, err, sizeof(err)) != VX_EVAL_OK &&
		    refused_at < 0)
			refused_at = i;
		if (vx_eval_flag_link(y[i], parents, err, sizeof(err)) != VX_EVAL_OK)
			cr_expect_geq(i, 6);
	}
	/* evals(level i) = 2^(i+1) - 1: 63 at level 5, 127 at level 6. */
	cr_expect_eq(refused_at, 6);
	for (int i = 0; i < 8; i++) {
		vx_eval_flag_free(x[i]);
		vx_eval_flag_free(y[i]);
	}
}

Test(prereq, compile_refuses_malformed_prerequisites)
{
	static const struct {
		vx_eval_prereq_src p[2];
		size_t n;
		const char *want;
	} cases[] = {
	    {{{.flag = "child"}}, 1, "itself"},
	    {{{.flag = ""}}, 1, "empty"},
	    {{{.flag = "a"}, {.flag = "a"}}, 2, "twice"},
	    {{{.flag = "a", .when_off = true, .variants = ON, .nvariants = 1}}, 1,
	        "only when"},
	    {{{.flag = NULL}}, 1, "NULL"},
	};
	char err[200];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		vx_eval_flag_src src = bool_flag(NULL, 0);

		src.key = "child";
		src.prereqs = cases[i].p;
		src.nprereqs = cases[i].n;
		must_reject(&src, err, sizeof(err));
		cr_expect(strstr(err, cases[i].want) != NULL, "row %zu: %s", i, err);
	}
}

Test(prereq, compile_refuses_more_than_the_bound)
{
	vx_eval_prereq_src ps[VX_EVAL_PREREQ_MAX + 1];
	char keys[VX_EVAL_PREREQ_MAX + 1][8], err[200];
	vx_eval_flag_src src = bool_flag(NULL, 0);

	for (size_t i = 0; i <= VX_EVAL_PREREQ_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "p%zu", i);
		ps[i] = (vx_eval_prereq_src){.flag = keys[i]};
	}
	src.prereqs = ps;
	src.nprereqs = VX_EVAL_PREREQ_MAX + 1;
	must_reject(&src, err, sizeof(err));
	cr_expect(strstr(err, "more than") != NULL, "%s", err);
	src.nprereqs = VX_EVAL_PREREQ_MAX;
	vx_eval_flag_free(must_compile(&src));
}

Test(prereq, a_flag_with_prerequisites_is_not_static)
{
	vx_eval_prereq_src p = {.flag = "parent"};
	vx_eval_flag *parent = parent_flag(P_ROLLOUT);
	vx_eval_flag *child = child_flag("child", &p, 1);

	must_link(child, (const vx_eval_flag *const[]){parent});
	cr_expect_not(vx_eval_flag_is_static(child));
	cr_expect_eq(must_eval(child, NULL).reason, VX_REASON_SPLIT);
	cr_expect_str_eq(
	    vx_eval_reason_name(VX_REASON_PREREQUISITE_FAILED), "PREREQUISITE_FAILED");
	vx_eval_flag_free(child);
	vx_eval_flag_free(parent);
}
