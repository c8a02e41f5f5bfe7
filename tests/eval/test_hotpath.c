/*
 * test_hotpath.c: the shortcuts of the evaluation hot path give the
 * answers of the long way.
 *
 * evaluate.c finishes a bucket's hash from its rollout's precomputed
 * "<group>:" state in one inline pass, and reuses a rule rollout's bucket
 * for the environment rollout when both bucket alike. These tests compare
 * what they report with vx_eval_bucket() (the incremental hash, checked
 * against the reference in test_murmur.c) and with a flag that takes the
 * long way.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static const char *const groups[] = {
    "", "g", "gr", "grp", "grou", "group", "group6", "group-7", "group-08"};

Test(hotpath, buckets_every_group_and_value_length_as_vx_eval_bucket)
{
	/* Every split entry has weight 1, so split_bucket is the bucket. */
	vx_eval_split_src split[3] = {{.variant = 0, .weight = 1},
	    {.variant = 1, .weight = 1}, {.variant = 0, .weight = 9998}};
	const char *digits = "0123456789abcdef";

	for (size_t g = 0; g < ARRAY_LEN(groups); g++) {
		vx_eval_rule_src r = rule_on(NULL, 0);
		vx_eval_flag_src env = bool_flag(NULL, 0);
		vx_eval_flag_src spl = bool_flag(&r, 1);
		vx_eval_flag *fe, *fs;

		env.rollout_percentage = 50;
		env.group_id = groups[g];
		r.splits = split;
		r.nsplits = ARRAY_LEN(split);
		r.rollout.group_id = groups[g];
		fe = must_compile(&env);
		fs = must_compile(&spl);
		for (size_t len = 1; len <= 16; len++) {
			char id[17];
			vx_eval_ctx ctx = {.user_id = id};

			memcpy(id, digits, len);
			id[len] = '\0';
			cr_assert_eq(must_eval(fe, &ctx).bucket,
			    vx_eval_bucket(groups[g], id, 0, 100), "group \"%s\", \"%s\"",
			    groups[g], id);
			cr_assert_eq(must_eval(fs, &ctx).split_bucket,
			    vx_eval_bucket(groups[g], id, VX_EVAL_VARIANT_SEED, 10000),
			    "group \"%s\", \"%s\"", groups[g], id);
		}
		vx_eval_flag_free(fe);
		vx_eval_flag_free(fs);
	}
}

/*
 * Evaluate `with` (a rule rollout at 40% before an environment rollout at
 * 70%) and `without` (the same environment rollout alone) for ctx: a
 * context the rule turns away gets what `without` gives it, bucket too.
 */
static void
expect_env_alike(
    const vx_eval_flag *with, const vx_eval_flag *without, const vx_eval_ctx *ctx)
{
	vx_eval_result a = must_eval(with, ctx);
	vx_eval_result b = must_eval(without, ctx);

	if (a.reason == VX_REASON_TARGETING_MATCH)
		return;
	cr_assert_eq(a.rule, -1);
	cr_assert_eq(a.reason, b.reason, "user \"%s\"", ctx->user_id);
	cr_assert_eq(a.variant, b.variant, "user \"%s\"", ctx->user_id);
	cr_assert_eq(a.bucket, b.bucket, "user \"%s\"", ctx->user_id);
	cr_assert_eq(a.split_bucket, 0);
}

Test(
    hotpath, buckets_the_environment_rollout_alike_after_a_rule_rollout_turns_a_user_away)
{
	/* The rule's rollout: as the environment's, another group, another attribute. */
	static const vx_eval_rollout_src rollouts[] = {
	    {.enabled = true, .percentage = 40},
	    {.enabled = true, .percentage = 40, .stickiness = "default"},
	    {.enabled = true, .percentage = 40, .group_id = "other"},
	    {.enabled = true, .percentage = 40, .stickiness = "account"},
	};

	for (size_t k = 0; k < ARRAY_LEN(rollouts); k++) {
		vx_eval_rule_src r = rule_on(NULL, 0);
		vx_eval_flag_src src = bool_flag(&r, 1);
		vx_eval_flag_src alone = bool_flag(NULL, 0);
		vx_eval_flag *with, *without;
		int in = 0, away = 0;

		r.rollout = rollouts[k];
		src.rollout_percentage = alone.rollout_percentage = 70;
		with = must_compile(&src);
		without = must_compile(&alone);
		for (int i = 0; i < 2000; i++) {
			char id[32], acct[32];
			vx_eval_attr attrs[2] = {
			    {.name = "account", .kind = VX_ATTR_STRING, .u.s = acct},
			    {.name = "session_id", .kind = VX_ATTR_STRING, .u.s = id},
			};
			vx_eval_ctx ctx = {.user_id = id, .attrs = attrs, .nattrs = 1};
			vx_eval_ctx session = {
			    .user_id = "", .attrs = attrs + 1, .nattrs = 1};

			snprintf(id, sizeof(id), "user-%d", i);
			snprintf(acct, sizeof(acct), "acct-%d", i % 97);
			expect_env_alike(with, without, &ctx);
			/* The default chain's session_id, where there is one. */
			expect_env_alike(with, without, &session);
			if (must_eval(with, &ctx).reason == VX_REASON_TARGETING_MATCH)
				in++;
			else
				away++;
		}
		/* Both ways were taken, so the comparison above was made. */
		cr_expect(in > 0 && away > 0, "rollout %zu: %d in, %d away", k, in, away);
		vx_eval_flag_free(with);
		vx_eval_flag_free(without);
	}
}

Test(hotpath, draws_the_environment_bucket_anew_under_random_stickiness)
{
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f;
	bool differs = false;

	/* No stickiness value at all: both rollouts draw a random value. */
	r.rollout = (vx_eval_rollout_src){.enabled = true, .percentage = 50};
	src.rollout_percentage = 60;
	f = must_compile(&src);
	for (int i = 0; i < 2000; i++) {
		vx_eval_result res = must_eval(f, NULL);

		if (res.reason == VX_REASON_TARGETING_MATCH) {
			cr_assert(res.bucket >= 1 && res.bucket <= 50);
			continue;
		}
		cr_assert(res.bucket >= 1 && res.bucket <= 100);
		cr_assert_eq(
		    res.reason, res.bucket <= 60 ? VX_REASON_SPLIT : VX_REASON_DEFAULT);
		/* A reused draw would always be over the rule's 50. */
		if (res.bucket <= 50)
			differs = true;
	}
	cr_expect(differs, "the environment rollout reused the rule's random draw");
	vx_eval_flag_free(f);
}
