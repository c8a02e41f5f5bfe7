/*
 * test_evaluate.c: the evaluation walk of DESIGN.md "Evaluation semantics".
 *
 * Disabled flags, rule order, rule rollouts, the environment rollout, and
 * weighted splits, each checked for the variant served, the reason, and the
 * buckets reported. The distribution tests use 10,000 synthetic users, and
 * the tolerance is +-2 percentage points, as the issue asks.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

#define NUSERS 10000

static const vx_eval_variant_src color_variants[4] = {
	{ "off", "\"none\"" },
	{ "red", "\"red\"" },
	{ "green", "\"green\"" },
	{ "blue", "\"blue\"" },
};

static vx_eval_flag_src
color_flag(const vx_eval_rule_src *rules, size_t nrules)
{
	vx_eval_flag_src src = bool_flag(rules, nrules);

	src.key = "color";
	src.type = VX_FLAG_STRING;
	src.variants = color_variants;
	src.nvariants = 4;
	return src;
}

static vx_eval_ctx
user(char *buf, size_t len, int i)
{
	snprintf(buf, len, "user-%d", i);
	return (vx_eval_ctx){ .user_id = buf };
}

Test(evaluate, reports_flag_not_found_for_a_null_flag)
{
	vx_eval_result res;

	cr_expect_eq(vx_eval_flag_evaluate(NULL, NULL, &res),
	    VX_EVAL_ENOTFOUND);
	cr_expect_eq(res.reason, VX_REASON_FLAG_NOT_FOUND);
	cr_expect_eq(res.variant, -1);
	cr_expect_null(res.value);
	cr_expect_eq(res.rule, -1);
}

Test(evaluate, rejects_a_null_result)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_flag *f = must_compile(&src);

	cr_expect_eq(vx_eval_flag_evaluate(f, NULL, NULL), VX_EVAL_EINVAL);
	vx_eval_flag_free(f);
}

Test(evaluate, serves_the_off_variant_when_disabled_even_if_a_rule_matches)
{
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_ctx ctx = { .user_id = "u1" };
	vx_eval_flag *f;
	vx_eval_result res;

	src.enabled = false;
	src.rollout_percentage = 100;
	src.off_variant = 0;
	f = must_compile(&src);
	res = must_eval(f, &ctx);
	cr_expect_eq(res.reason, VX_REASON_DISABLED);
	cr_expect_eq(res.variant, 0);
	cr_expect_str_eq(res.variant_key, "off");
	cr_expect_str_eq(res.value, "false");
	cr_expect_eq(res.rule, -1);
	cr_expect_null(res.rule_id);
	vx_eval_flag_free(f);
}

Test(evaluate, serves_a_matching_rule_with_its_index_and_id)
{
	vx_eval_condition_src c = cond("email", VX_OP_ENDS_WITH,
	    VALS("@company.com"));
	vx_eval_rule_src r[2] = { rule_on(NULL, 0), rule_on(&c, 1) };
	vx_eval_flag_src src = color_flag(r, 2);
	vx_eval_ctx ctx = { .email = "bob@company.com" };
	vx_eval_flag *f;
	vx_eval_result res;

	r[0].enabled = false; /* would match everyone */
	r[0].variant = 3;
	r[1].id = "staff";
	r[1].variant = 2;
	f = must_compile(&src);
	res = must_eval(f, &ctx);
	cr_expect_eq(res.reason, VX_REASON_TARGETING_MATCH);
	cr_expect_eq(res.rule, 1);
	cr_expect_str_eq(res.rule_id, "staff");
	cr_expect_eq(res.variant, 2);
	cr_expect_str_eq(res.variant_key, "green");
	cr_expect_str_eq(res.value, "\"green\"");
	cr_expect_eq(res.bucket, 0);
	vx_eval_flag_free(f);
}

Test(evaluate, requires_every_condition_of_a_rule)
{
	vx_eval_condition_src c[2] = {
		cond("country", VX_OP_IN, VALS("US", "CA")),
		cond("plan", VX_OP_EQUALS, VALS("pro")),
	};
	vx_eval_rule_src r = rule_on(c, 2);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f = must_compile(&src);
	vx_eval_attr pro = { .name = "plan", .kind = VX_ATTR_STRING,
		.u.s = "pro" };
	vx_eval_ctx both = { .country = "CA", .attrs = &pro, .nattrs = 1 };
	vx_eval_ctx one = { .country = "BR", .attrs = &pro, .nattrs = 1 };

	cr_expect_eq(must_eval(f, &both).reason, VX_REASON_TARGETING_MATCH);
	cr_expect_eq(must_eval(f, &one).reason, VX_REASON_DEFAULT);
	vx_eval_flag_free(f);
}

Test(evaluate, walks_rules_by_priority_then_creation_order)
{
	/* Every rule matches; only the order decides which one serves. */
	vx_eval_rule_src r[5];
	vx_eval_flag_src src;
	vx_eval_flag *f;
	vx_eval_result res;

	r[0] = (vx_eval_rule_src){ .id = "low", .enabled = true,
		.priority = 1, .order = 0, .variant = 1 };
	r[1] = (vx_eval_rule_src){ .id = "high-later", .enabled = true,
		.priority = 10, .order = 7, .variant = 2 };
	r[2] = (vx_eval_rule_src){ .id = "high-earlier", .enabled = true,
		.priority = 10, .order = 3, .variant = 3 };
	r[3] = (vx_eval_rule_src){ .id = "negative", .enabled = true,
		.priority = -5, .order = 0, .variant = 1 };
	r[4] = (vx_eval_rule_src){ .id = "highest-but-off", .enabled = false,
		.priority = 99, .order = 0, .variant = 1 };
	src = color_flag(r, 5);
	f = must_compile(&src);
	res = must_eval(f, NULL);
	cr_expect_str_eq(res.rule_id, "high-earlier");
	cr_expect_eq(res.rule, 2);
	cr_expect_eq(res.variant, 3);
	vx_eval_flag_free(f);

	/* Equal priority and order: the earlier source entry wins. */
	r[1].order = 3;
	f = must_compile(&src);
	cr_expect_str_eq(must_eval(f, NULL).rule_id, "high-later");
	vx_eval_flag_free(f);
}

Test(evaluate, falls_through_to_a_lower_rule_when_a_higher_one_fails)
{
	vx_eval_condition_src c = cond("country", VX_OP_EQUALS, VALS("US"));
	vx_eval_rule_src r[2] = { rule_on(&c, 1), rule_on(NULL, 0) };
	vx_eval_flag_src src = color_flag(r, 2);
	vx_eval_ctx ctx = { .country = "FR" };
	vx_eval_flag *f;

	r[0].priority = 5;
	r[0].variant = 1;
	r[1].variant = 2;
	f = must_compile(&src);
	cr_expect_eq(must_eval(f, &ctx).rule, 1);
	ctx.country = "US";
	cr_expect_eq(must_eval(f, &ctx).rule, 0);
	vx_eval_flag_free(f);
}

Test(evaluate, puts_25_percent_of_10000_users_in_a_25_percent_rollout)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_flag *f;
	int in = 0;

	src.key = "new_checkout";
	src.rollout_percentage = 25;
	f = must_compile(&src);
	for (int i = 0; i < NUSERS; i++) {
		char id[32];
		vx_eval_ctx ctx = user(id, sizeof(id), i);
		vx_eval_result res = must_eval(f, &ctx);
		uint32_t want = vx_eval_bucket("new_checkout", id, 0, 100);

		cr_assert_eq(res.bucket, want, "%s", id);
		if (res.reason == VX_REASON_SPLIT) {
			cr_assert_leq(res.bucket, 25);
			cr_assert_eq(res.variant, 1); /* default */
			in++;
		} else {
			cr_assert_eq(res.reason, VX_REASON_DEFAULT);
			cr_assert_gt(res.bucket, 25);
			cr_assert_eq(res.variant, 0); /* off */
		}
	}
	cr_expect(in >= 2300 && in <= 2700, "%d of %d users in", in, NUSERS);
	vx_eval_flag_free(f);
}

Test(evaluate, rolls_out_to_nobody_at_0_and_everybody_at_100)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_ctx empty = {.user_id = ""};
	vx_eval_flag *none, *all;
	vx_eval_result res;

	src.rollout_percentage = 0;
	none = must_compile(&src);
	src.rollout_percentage = 100;
	all = must_compile(&src);
	for (int i = 0; i < 1000; i++) {
		char id[32];
		vx_eval_ctx ctx = user(id, sizeof(id), i);

		cr_assert_eq(must_eval(none, &ctx).reason, VX_REASON_DEFAULT);
		cr_assert_eq(must_eval(all, &ctx).reason, VX_REASON_STATIC);
	}
	/* With or without a user id, and without hashing. */
	res = must_eval(all, NULL);
	cr_expect_eq(res.reason, VX_REASON_STATIC);
	cr_expect_eq(res.variant, 1);
	cr_expect_eq(res.bucket, 0);
	cr_expect_eq(must_eval(all, &empty).reason, VX_REASON_STATIC);
	cr_expect(vx_eval_flag_is_static(all));
	cr_expect(!vx_eval_flag_is_static(none));
	vx_eval_flag_free(none);
	vx_eval_flag_free(all);
}

Test(evaluate, serves_the_default_to_everyone_at_100_when_no_rule_matched)
{
	vx_eval_condition_src c = cond("email", VX_OP_ENDS_WITH, VALS("@company.com"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f;
	vx_eval_result res;

	r.variant = 0;
	src.rollout_percentage = 100;
	f = must_compile(&src);
	res = must_eval(f, NULL);
	cr_expect_eq(res.reason, VX_REASON_SPLIT);
	cr_expect_eq(res.variant, 1);
	cr_expect(!vx_eval_flag_is_static(f));
	vx_eval_flag_free(f);
}

/* How many of n evaluations of ctx the flag serves its default. */
static int
count_in(const vx_eval_flag *f, const vx_eval_ctx *ctx, int n)
{
	int in = 0;

	for (int i = 0; i < n; i++)
		in += must_eval(f, ctx).reason == VX_REASON_SPLIT;
	return in;
}

Test(evaluate, falls_back_to_a_session_id_then_a_random_value_without_a_user_id)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_attr snake = {
	    .name = "session_id", .kind = VX_ATTR_STRING, .u.s = "sess-1"};
	vx_eval_attr camel = {
	    .name = "sessionId", .kind = VX_ATTR_STRING, .u.s = "sess-1"};
	vx_eval_ctx s1 = {.attrs = &snake, .nattrs = 1};
	vx_eval_ctx s2 = {.user_id = "", .attrs = &camel, .nattrs = 1};
	vx_eval_attr list = { .name = "user_id", .kind = VX_ATTR_LIST };
	vx_eval_ctx listy = { .attrs = &list, .nattrs = 1 };
	uint32_t want = vx_eval_bucket("f", "sess-1", 0, 100);
	vx_eval_flag *f;
	int in;

	src.rollout_percentage = 50;
	f = must_compile(&src);
	cr_expect_eq(must_eval(f, &s1).bucket, want);
	cr_expect_eq(must_eval(f, &s2).bucket, want);
	/* No id at all: a random value per evaluation, as Unleash draws. */
	in = count_in(f, NULL, 4000);
	cr_expect(in > 1600 && in < 2400, "%d of 4000 in a 50%% rollout", in);
	in = count_in(f, &listy, 4000);
	cr_expect(in > 1600 && in < 2400, "%d of 4000 in a 50%% rollout", in);
	vx_eval_flag_free(f);
}

Test(evaluate, leaves_users_without_a_named_stickiness_attribute_out)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_attr sess = {
	    .name = "session_id", .kind = VX_ATTR_STRING, .u.s = "sess-1"};
	vx_eval_ctx ctx = {.attrs = &sess, .nattrs = 1};
	vx_eval_flag *f;
	vx_eval_result res;

	src.rollout_percentage = 99;
	src.stickiness = "user_id";
	f = must_compile(&src);
	res = must_eval(f, &ctx);
	cr_expect_eq(res.reason, VX_REASON_DEFAULT);
	cr_expect_eq(res.variant, 0);
	cr_expect_eq(res.bucket, 0);
	cr_expect_eq(count_in(f, NULL, 100), 0);
	vx_eval_flag_free(f);
}

Test(evaluate, draws_per_evaluation_under_random_stickiness)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_ctx ctx = {.user_id = "always-the-same"};
	vx_eval_flag *f;
	int in;

	src.rollout_percentage = 50;
	src.stickiness = "random";
	f = must_compile(&src);
	in = count_in(f, &ctx, 4000);
	cr_expect(in > 1600 && in < 2400, "%d of 4000 in a 50%% rollout", in);
	vx_eval_flag_free(f);
}

Test(evaluate, buckets_by_a_custom_stickiness_attribute_and_group)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_attr acct_s = { .name = "account", .kind = VX_ATTR_STRING,
		.u.s = "42" };
	vx_eval_attr acct_n = { .name = "account", .kind = VX_ATTR_NUMBER,
		.u.num = 42 };
	vx_eval_attr acct_f = { .name = "account", .kind = VX_ATTR_NUMBER,
		.u.num = 4.5 };
	vx_eval_ctx s = { .user_id = "ignored", .attrs = &acct_s, .nattrs = 1 };
	vx_eval_ctx n = { .attrs = &acct_n, .nattrs = 1 };
	vx_eval_ctx frac = { .attrs = &acct_f, .nattrs = 1 };
	vx_eval_flag *f;
	uint32_t want = vx_eval_bucket("shared-group", "42", 0, 100);

	src.rollout_percentage = 99;
	src.stickiness = "account";
	src.group_id = "shared-group";
	f = must_compile(&src);
	cr_expect_eq(must_eval(f, &s).bucket, want);
	/* An integral number sticks as its decimal string, as in JS. */
	cr_expect_eq(must_eval(f, &n).bucket, want);
	cr_expect_eq(
	    must_eval(f, &n).reason, want <= 99 ? VX_REASON_SPLIT : VX_REASON_DEFAULT);
	cr_expect_eq(must_eval(f, &frac).reason, VX_REASON_DEFAULT);
	vx_eval_flag_free(f);
}

Test(evaluate, lets_a_rule_rollout_admit_only_its_percentage)
{
	vx_eval_condition_src c = cond("email", VX_OP_ENDS_WITH,
	    VALS("@company.com"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f;
	int in = 0;

	r.rollout = (vx_eval_rollout_src){ .enabled = true, .percentage = 25,
		.group_id = "staff-25" };
	f = must_compile(&src);
	for (int i = 0; i < NUSERS; i++) {
		char id[32], email[64];
		vx_eval_ctx ctx = user(id, sizeof(id), i);
		vx_eval_result res;
		uint32_t b = vx_eval_bucket("staff-25", id, 0, 100);

		snprintf(email, sizeof(email), "%s@company.com", id);
		ctx.email = email;
		res = must_eval(f, &ctx);
		if (b <= 25) {
			cr_assert_eq(res.reason, VX_REASON_TARGETING_MATCH);
			cr_assert_eq(res.bucket, b);
			in++;
		} else {
			/* Out of the rule; the environment rollout is 0. */
			cr_assert_eq(res.reason, VX_REASON_DEFAULT);
			cr_assert_eq(res.rule, -1);
		}
	}
	cr_expect(in >= 2300 && in <= 2700, "%d of %d users in", in, NUSERS);
	vx_eval_flag_free(f);
}

Test(evaluate, skips_a_rule_rollout_for_users_without_stickiness)
{
	vx_eval_rule_src r[2] = { rule_on(NULL, 0), rule_on(NULL, 0) };
	vx_eval_flag_src src = color_flag(r, 2);
	vx_eval_flag *f;
	vx_eval_result res;

	r[0].priority = 1;
	r[0].variant = 1;
	r[0].rollout = (vx_eval_rollout_src){
	    .enabled = true, .percentage = 99, .stickiness = "account"};
	r[1].variant = 2;
	f = must_compile(&src);
	res = must_eval(f, NULL);
	cr_expect_eq(res.rule, 1);
	cr_expect_eq(res.variant, 2);
	vx_eval_attr acct = {.name = "account", .kind = VX_ATTR_STRING, .u.s = "a1"};
	vx_eval_ctx ctx = {.attrs = &acct, .nattrs = 1};
	cr_expect_eq(
	    must_eval(f, &ctx).rule, vx_eval_bucket("color", "a1", 0, 100) <= 99 ? 0 : 1);
	vx_eval_flag_free(f);
}

Test(evaluate, splits_users_by_weight)
{
	vx_eval_split_src split[] = { { 1, 500 }, { 2, 300 }, { 3, 200 } };
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = color_flag(&r, 1);
	vx_eval_flag *f;
	int count[4] = { 0 };

	r.splits = split;
	r.nsplits = 3;
	f = must_compile(&src);
	for (int i = 0; i < NUSERS; i++) {
		char id[32];
		vx_eval_ctx ctx = user(id, sizeof(id), i);
		vx_eval_result res = must_eval(f, &ctx);
		/* Unleash: normalizedVariantValue over the total weight. */
		uint32_t b = vx_eval_bucket("color", id, VX_EVAL_VARIANT_SEED,
		    1000);
		int want = b <= 500 ? 1 : b <= 800 ? 2 : 3;

		cr_assert_eq(res.reason, VX_REASON_TARGETING_MATCH);
		cr_assert_eq(res.split_bucket, b, "%s", id);
		cr_assert_eq(res.variant, want, "%s bucket %u", id,
		    (unsigned)b);
		count[res.variant]++;
	}
	cr_expect(count[1] >= 4800 && count[1] <= 5200, "red %d", count[1]);
	cr_expect(count[2] >= 2800 && count[2] <= 3200, "green %d", count[2]);
	cr_expect(count[3] >= 1800 && count[3] <= 2200, "blue %d", count[3]);
	vx_eval_flag_free(f);
}

Test(evaluate, never_serves_a_zero_weight_split_entry)
{
	vx_eval_split_src split[] = { { 1, 0 }, { 2, 1 }, { 3, 0 } };
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = color_flag(&r, 1);
	vx_eval_flag *f;

	r.splits = split;
	r.nsplits = 3;
	f = must_compile(&src);
	for (int i = 0; i < 1000; i++) {
		char id[32];
		vx_eval_ctx ctx = user(id, sizeof(id), i);

		cr_assert_eq(must_eval(f, &ctx).variant, 2);
	}
	vx_eval_flag_free(f);
}

Test(evaluate, splits_by_the_rule_rollout_stickiness_and_group)
{
	vx_eval_split_src split[] = { { 1, 1 }, { 2, 1 } };
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = color_flag(&r, 1);
	vx_eval_attr team = { .name = "team", .kind = VX_ATTR_STRING,
		.u.s = "platform" };
	vx_eval_ctx ctx = { .user_id = "u", .attrs = &team, .nattrs = 1 };
	vx_eval_flag *f;
	vx_eval_result res;

	r.splits = split;
	r.nsplits = 2;
	/* Not a rollout, but its stickiness and group drive the split. */
	r.rollout = (vx_eval_rollout_src){ .stickiness = "team",
		.group_id = "exp-7" };
	f = must_compile(&src);
	res = must_eval(f, &ctx);
	cr_expect_eq(res.split_bucket,
	    vx_eval_bucket("exp-7", "platform", VX_EVAL_VARIANT_SEED, 2));
	cr_expect_eq(res.bucket, 0);
	/* No team: the split cannot bucket, so the rule does not apply. */
	ctx.nattrs = 0;
	res = must_eval(f, &ctx);
	cr_expect_eq(res.reason, VX_REASON_DEFAULT);
	cr_expect_eq(res.split_bucket, 0);
	vx_eval_flag_free(f);
}

Test(evaluate, fills_both_buckets_for_a_rollout_rule_with_a_split)
{
	vx_eval_split_src split[] = { { 1, 5000 }, { 2, 5000 } };
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = color_flag(&r, 1);
	vx_eval_ctx ctx = { .user_id = "user-7" };
	vx_eval_flag *f;
	vx_eval_result res;

	r.splits = split;
	r.nsplits = 2;
	r.rollout = (vx_eval_rollout_src){.enabled = true, .percentage = 99};
	cr_assert_leq(vx_eval_bucket("color", "user-7", 0, 100), 99);
	f = must_compile(&src);
	res = must_eval(f, &ctx);
	cr_expect_eq(res.reason, VX_REASON_TARGETING_MATCH);
	cr_expect_eq(res.bucket, vx_eval_bucket("color", "user-7", 0, 100));
	cr_expect_eq(res.split_bucket,
	    vx_eval_bucket("color", "user-7", VX_EVAL_VARIANT_SEED, 10000));
	cr_expect_eq(res.variant, res.split_bucket <= 5000 ? 1 : 2);
	vx_eval_flag_free(f);
}

/*
 * Rules are sorted into evaluation order after they are compiled, so each
 * split must still bucket by its own rule's stickiness and group once its
 * rule has moved: here the rule written first is evaluated last.
 */
Test(evaluate, keeps_each_split_with_its_rule_when_rules_are_reordered)
{
	static const char *const de[] = {"DE", NULL}, *const fr[] = {"FR", NULL};
	vx_eval_condition_src in_de = cond("country", VX_OP_IN, de);
	vx_eval_condition_src in_fr = cond("country", VX_OP_IN, fr);
	vx_eval_split_src split[] = {{1, 3000}, {2, 3000}, {3, 4000}};
	vx_eval_rule_src r[2] = {rule_on(&in_de, 1), rule_on(&in_fr, 1)};
	vx_eval_flag_src src = color_flag(r, 2);
	vx_eval_flag *f;

	/* Written first, evaluated last: a split of its own. */
	r[0].priority = 1;
	r[0].splits = split;
	r[0].nsplits = 3;
	r[0].split_stickiness = "team";
	r[0].split_group_id = "teams";
	/* Written second, evaluated first: the split buckets as its rollout,
	 * whose group is not the other rule's. */
	r[1].priority = 5;
	r[1].splits = split;
	r[1].nsplits = 3;
	r[1].rollout =
	    (vx_eval_rollout_src){.enabled = true, .percentage = 100, .group_id = "fr"};
	f = must_compile(&src);
	for (int i = 0; i < 50; i++) {
		char id[16], team[16];
		vx_eval_attr attr = {.name = "team", .kind = VX_ATTR_STRING, .u.s = team};
		vx_eval_ctx ctx = {.user_id = id, .attrs = &attr, .nattrs = 1};
		vx_eval_result res;

		snprintf(id, sizeof(id), "u-%d", i);
		snprintf(team, sizeof(team), "t-%d", i % 7);
		ctx.country = "DE";
		res = must_eval(f, &ctx);
		cr_assert_eq(res.rule, 0);
		cr_assert_eq(res.split_bucket,
		    vx_eval_bucket("teams", team, VX_EVAL_VARIANT_SEED, 10000));
		ctx.country = "FR";
		res = must_eval(f, &ctx);
		cr_assert_eq(res.rule, 1);
		cr_assert_eq(res.split_bucket,
		    vx_eval_bucket("fr", id, VX_EVAL_VARIANT_SEED, 10000));
	}
	vx_eval_flag_free(f);
}

/* 25% of accounts are in; each of their users gets a colour of their own. */
Test(evaluate, lets_a_split_bucket_by_other_stickiness_and_group_than_the_rollout)
{
	vx_eval_split_src split[] = {{1, 5000}, {2, 5000}};
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = color_flag(&r, 1);
	vx_eval_flag *f;
	int seen[4] = {0};

	r.splits = split;
	r.nsplits = 2;
	r.rollout = (vx_eval_rollout_src){.enabled = true,
	    .percentage = 25,
	    .stickiness = "account",
	    .group_id = "accounts"};
	r.split_stickiness = "user_id";
	r.split_group_id = "colours";
	f = must_compile(&src);
	for (int a = 0; a < 200; a++) {
		char acct[16];
		vx_eval_attr attr = {
		    .name = "account", .kind = VX_ATTR_STRING, .u.s = acct};
		uint32_t ab;

		snprintf(acct, sizeof(acct), "acct-%d", a);
		ab = vx_eval_bucket("accounts", acct, 0, 100);
		for (int u = 0; u < 5; u++) {
			char id[16];
			vx_eval_ctx ctx = {.user_id = id, .attrs = &attr, .nattrs = 1};
			vx_eval_result res;
			uint32_t sb;

			snprintf(id, sizeof(id), "u-%d-%d", a, u);
			res = must_eval(f, &ctx);
			if (ab > 25) {
				cr_assert_eq(res.reason, VX_REASON_DEFAULT);
				continue;
			}
			sb = vx_eval_bucket("colours", id, VX_EVAL_VARIANT_SEED, 10000);
			cr_assert_eq(res.reason, VX_REASON_TARGETING_MATCH);
			cr_assert_eq(res.bucket, ab);
			cr_assert_eq(res.split_bucket, sb);
			cr_assert_eq(res.variant, sb <= 5000 ? 1 : 2);
			seen[res.variant]++;
		}
	}
	/* Users of one account do not all get the same colour. */
	cr_expect_gt(seen[1], 0);
	cr_expect_gt(seen[2], 0);
	vx_eval_flag_free(f);
}

Test(evaluate, gives_the_same_result_every_time_for_the_same_user)
{
	vx_eval_split_src split[] = { { 1, 1 }, { 2, 1 }, { 3, 1 } };
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = color_flag(&r, 1);
	vx_eval_ctx ctx = { .user_id = "stable" };
	vx_eval_flag *f, *g;
	vx_eval_result a, b;

	r.splits = split;
	r.nsplits = 3;
	f = must_compile(&src);
	g = must_compile(&src);
	a = must_eval(f, &ctx);
	b = must_eval(g, &ctx);
	cr_expect_eq(a.variant, b.variant);
	cr_expect_eq(a.split_bucket, b.split_bucket);
	vx_eval_flag_free(f);
	vx_eval_flag_free(g);
}

Test(context, finds_well_known_and_custom_attributes)
{
	const char *const groups[] = { "a", "b" };
	vx_eval_attr attrs[] = {
		{ .name = "email", .kind = VX_ATTR_STRING, .u.s = "fallback" },
		{ .name = "age", .kind = VX_ATTR_NUMBER, .u.num = 30 },
		{ .name = "age", .kind = VX_ATTR_NUMBER, .u.num = 99 },
	};
	vx_eval_ctx ctx = { .user_id = "u1", .groups = groups, .ngroups = 2,
		.attrs = attrs, .nattrs = 3 };
	vx_eval_attr a;

	cr_assert_eq(vx_eval_ctx_get(&ctx, "user_id", &a), VX_EVAL_OK);
	cr_expect_eq(a.kind, VX_ATTR_STRING);
	cr_expect_str_eq(a.u.s, "u1");
	cr_assert_eq(vx_eval_ctx_get(&ctx, "groups", &a), VX_EVAL_OK);
	cr_expect_eq(a.kind, VX_ATTR_LIST);
	cr_expect_eq(a.u.list.n, 2);
	/* A NULL well-known field falls back to a custom attribute. */
	cr_assert_eq(vx_eval_ctx_get(&ctx, "email", &a), VX_EVAL_OK);
	cr_expect_str_eq(a.u.s, "fallback");
	cr_assert_eq(vx_eval_ctx_get(&ctx, "age", &a), VX_EVAL_OK);
	cr_expect_eq(a.u.num, 30);
	cr_expect_str_eq(a.name, "age");
	cr_expect_eq(vx_eval_ctx_get(&ctx, "country", &a), VX_EVAL_ENOTFOUND);
	cr_expect_eq(vx_eval_ctx_get(NULL, "age", &a), VX_EVAL_ENOTFOUND);
	cr_expect_eq(vx_eval_ctx_get(&ctx, NULL, &a), VX_EVAL_EINVAL);
}

Test(names, round_trip_every_operator_and_reject_unknown_ones)
{
	const char *want[] = {"equals", "in", "contains", "starts_with", "ends_with",
	    "matches", "lt", "lte", "gt", "gte", "semver_eq", "semver_lt", "semver_gt",
	    "before", "after", "cidr", "num_eq"};
	int op = -1;

	cr_assert_eq(ARRAY_LEN(want), VX_OP_COUNT_);
	for (int i = 0; i < VX_OP_COUNT_; i++) {
		cr_expect_str_eq(vx_op_name(i), want[i]);
		cr_expect_eq(vx_op_from_string(want[i], &op), VX_EVAL_OK);
		cr_expect_eq(op, i);
	}
	cr_expect_null(vx_op_name(VX_OP_COUNT_));
	cr_expect_null(vx_op_name(-1));
	cr_expect_eq(vx_op_from_string("Equals", &op), VX_EVAL_ENOTFOUND);
	cr_expect_eq(vx_op_from_string("regex", &op), VX_EVAL_ENOTFOUND);
	cr_expect_eq(vx_op_from_string(NULL, &op), VX_EVAL_EINVAL);
}

Test(names, name_every_reason)
{
	cr_expect_str_eq(vx_eval_reason_name(VX_REASON_TARGETING_MATCH),
	    "TARGETING_MATCH");
	cr_expect_str_eq(vx_eval_reason_name(VX_REASON_SPLIT), "SPLIT");
	cr_expect_str_eq(vx_eval_reason_name(VX_REASON_DISABLED), "DISABLED");
	cr_expect_str_eq(vx_eval_reason_name(VX_REASON_DEFAULT), "DEFAULT");
	cr_expect_str_eq(vx_eval_reason_name(VX_REASON_FLAG_NOT_FOUND),
	    "FLAG_NOT_FOUND");
	cr_expect_str_eq(vx_eval_reason_name(VX_REASON_ERROR), "ERROR");
	cr_expect_null(vx_eval_reason_name(42));
}

Test(evaluate, calls_an_enabled_flag_with_no_enabled_rule_and_full_rollout_static)
{
	vx_eval_condition_src c = cond("country", VX_OP_EQUALS, VALS("DE"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_flag *f;

	cr_expect_not(vx_eval_flag_is_static(NULL));
	src.rollout_percentage = 100;
	f = must_compile(&src);
	cr_expect(vx_eval_flag_is_static(f));
	vx_eval_flag_free(f);
	src.rollout_percentage = 99;
	f = must_compile(&src);
	cr_expect_not(vx_eval_flag_is_static(f), "a partial rollout splits");
	vx_eval_flag_free(f);
	src = bool_flag(&r, 1);
	src.rollout_percentage = 100;
	f = must_compile(&src);
	cr_expect_not(vx_eval_flag_is_static(f), "an enabled rule targets");
	vx_eval_flag_free(f);
	r.enabled = false;
	f = must_compile(&src);
	cr_expect(vx_eval_flag_is_static(f), "a disabled rule does not");
	vx_eval_flag_free(f);
	src.enabled = false;
	f = must_compile(&src);
	cr_expect_not(vx_eval_flag_is_static(f), "a disabled flag is DISABLED");
	vx_eval_flag_free(f);
}

/*
 * flagd's fractional bucketing (split_flagd), on vectors from OpenFeature's
 * flagd-testbed (evaluator/gherkin/fractional.feature, @fractional-v2):
 * what a flagd-compatible evaluator answers for these keys.
 */
static const vx_eval_variant_src suit_variants[] = {{"clubs", "\"clubs\""},
    {"diamonds", "\"diamonds\""}, {"hearts", "\"hearts\""}, {"spades", "\"spades\""},
    {"wild", "\"wild\""}};

static const char *
flagd_pick(const char *key, const char *group, const char *attr, const char *value,
    const vx_eval_split_src *split, size_t n, const vx_eval_variant_src *vars, size_t nv)
{
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_attr a = {.name = attr, .kind = VX_ATTR_STRING, .u.s = value};
	vx_eval_ctx ctx = {.attrs = &a, .nattrs = 1};
	static char out[32];
	vx_eval_flag *f;
	vx_eval_result res;

	src.key = key;
	src.type = VX_FLAG_STRING;
	src.variants = vars;
	src.nvariants = nv;
	r.splits = split;
	r.nsplits = n;
	r.split_flagd = true;
	r.split_stickiness = attr;
	r.split_group_id = group;
	f = must_compile(&src);
	res = must_eval(f, &ctx);
	cr_assert_eq(res.reason, VX_REASON_TARGETING_MATCH);
	snprintf(out, sizeof(out), "%s", res.variant_key);
	vx_eval_flag_free(f);
	return out;
}

Test(evaluate, buckets_a_flagd_split_as_flagd_does)
{
	vx_eval_split_src quarters[] = {{0, 25}, {1, 25}, {2, 25}, {3, 25}};
	vx_eval_split_src halves[] = {{0, 50}, {1, 50}};
	vx_eval_split_src coin[] = {{0, 1}, {1, 1}};
	static const vx_eval_variant_src edge[] = {
	    {"lower", "\"lower\""}, {"upper", "\"upper\""}};
	static const vx_eval_variant_src heads[] = {
	    {"heads", "\"heads\""}, {"tails", "\"tails\""}};
	static const struct {
		const char *name, *want;
	} seed[] = {{"seven", "hearts"}, {"eight", "diamonds"}, {"nine", "clubs"},
	    {"two", "spades"}},
	  hash_edge[] = {{"ejOoVL", "lower"}, {"bY9fO-", "lower"}, {"SI7p-", "lower"},
	      {"6LvT0", "upper"}, {"ceQdGm", "upper"}};

	/* {"cat": ["shared-seed", {"var": "user.name"}]} over four quarters. */
	for (size_t i = 0; i < ARRAY_LEN(seed); i++)
		cr_expect_str_eq(
		    flagd_pick("fractional-flag-A-shared-seed", "shared-seed",
		        "user.name", seed[i].name, quarters, 4, suit_variants, 5),
		    seed[i].want, "%s", seed[i].name);
	/* {"var": "targetingKey"} alone: no prefix at all. */
	for (size_t i = 0; i < ARRAY_LEN(hash_edge); i++)
		cr_expect_str_eq(
		    flagd_pick("fractional-hash-edge-flag", "", "targetingKey",
		        hash_edge[i].name, halves, 2, edge, 2),
		    hash_edge[i].want, "%s", hash_edge[i].name);
	/* The shorthand: the flag key, then the targeting key. */
	cr_expect_str_eq(
	    flagd_pick("fractional-flag-shorthand", "fractional-flag-shorthand",
	        "targetingKey", "jon@company.com", coin, 2, heads, 2),
	    "heads");
	cr_expect_str_eq(
	    flagd_pick("fractional-flag-shorthand", "fractional-flag-shorthand",
	        "targetingKey", "jane@company.com", coin, 2, heads, 2),
	    "tails");
}

Test(evaluate, refuses_a_flagd_split_without_its_bucketing_attribute)
{
	vx_eval_split_src halves[] = {{0, 50}, {1, 50}};
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f;
	char err[200];

	r.splits = halves;
	r.nsplits = 2;
	r.split_flagd = true;
	cr_expect_eq(vx_eval_compile(&src, &f, err, sizeof(err)), VX_EVAL_EINVAL);
	cr_expect(strstr(err, "bucketing attribute") != NULL, "%s", err);
}
