/*
 * test_regex_cache.c: compiled `matches` patterns are shared between flags.
 *
 * regex.c keeps one compiled pattern per (pattern bytes, caseless) with a
 * count of the flags using it, so recompiling a flag set reuses the
 * patterns that did not change. These tests read the engine's internals
 * (eval_int.h): which entry a compiled flag holds, and the cache's counts.
 * Criterion runs each test in its own process, so each starts with an empty
 * cache.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>

#include "eval_int.h"
#include "helpers.h"

/* A flag serving "on" when `email` matches pattern. */
static vx_eval_flag *
pattern_flag(const char *pattern, bool caseless)
{
	const char *vals[] = {pattern};
	vx_eval_condition_src c = {.attribute = "email",
	    .op = VX_OP_MATCHES,
	    .values = vals,
	    .nvalues = 1,
	    .case_insensitive = caseless};
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);

	return must_compile(&src);
}

static struct vxe_regex_cache_stats
stats(void)
{
	struct vxe_regex_cache_stats st;

	vxe_regex_cache_stats(&st);
	return st;
}

static const char *
served(const vx_eval_flag *f, const char *email)
{
	vx_eval_ctx ctx = {.user_id = "u1", .email = email};

	return must_eval(f, &ctx).variant_key;
}

Test(regex_cache, gives_two_flags_with_the_same_pattern_one_compiled_code)
{
	vx_eval_flag *a = pattern_flag("^admin\\d+@", false);
	vx_eval_flag *b = pattern_flag("^admin\\d+@", false);
	struct vxe_regex_cache_stats st = stats();

	cr_assert_eq(a->nregex, 1);
	cr_assert_eq(b->nregex, 1);
	cr_expect_eq(a->regexes[0], b->regexes[0]);
	cr_expect_eq(st.entries, 1);
	cr_expect_eq(st.idle, 0);
	cr_expect_eq(st.misses, 1);
	cr_expect_eq(st.hits, 1);
	/* Both still match with it, and the first's free leaves it to b. */
	cr_expect_str_eq(served(a, "admin12@x.io"), "on");
	vx_eval_flag_free(a);
	cr_expect_str_eq(served(b, "admin12@x.io"), "on");
	cr_expect_str_eq(served(b, "bob@x.io"), "off");
	cr_expect_eq(stats().idle, 0);
	vx_eval_flag_free(b);
	cr_expect_eq(stats().idle, 1);
}

Test(regex_cache, keeps_caseless_and_case_sensitive_patterns_apart)
{
	vx_eval_flag *cs = pattern_flag("^admin@", false);
	vx_eval_flag *ci = pattern_flag("^admin@", true);

	cr_expect_neq(cs->regexes[0], ci->regexes[0]);
	cr_expect_eq(stats().entries, 2);
	cr_expect_str_eq(served(cs, "ADMIN@x.io"), "off");
	cr_expect_str_eq(served(ci, "ADMIN@x.io"), "on");
	vx_eval_flag_free(cs);
	vx_eval_flag_free(ci);
}

Test(regex_cache, frees_a_pattern_once_its_last_flag_is_gone_and_it_is_evicted)
{
	vx_eval_flag *a = pattern_flag("^ops-[a-z]+$", false);
	vx_eval_flag *b = pattern_flag("^ops-[a-z]+$", false);
	struct vxe_regex_cache_stats st;

	/* In use: no bound evicts it. */
	vxe_regex_cache_limit(0, 0);
	cr_expect_eq(stats().entries, 1);
	vx_eval_flag_free(a);
	cr_expect_eq(stats().entries, 1);
	cr_expect_str_eq(served(b, "ops-eu"), "on");
	/* The last user goes: with no room for idle entries, so does it. */
	vx_eval_flag_free(b);
	st = stats();
	cr_expect_eq(st.entries, 0);
	cr_expect_eq(st.bytes, 0);
	cr_expect_eq(st.evictions, 1);
	/* Compiled again from scratch, and right. */
	a = pattern_flag("^ops-[a-z]+$", false);
	cr_expect_eq(stats().misses, 2);
	cr_expect_str_eq(served(a, "ops-us"), "on");
	vx_eval_flag_free(a);
}

Test(regex_cache, keeps_idle_patterns_within_its_bounds_least_recent_out_first)
{
	char pat[32];
	vx_eval_flag *f;
	struct vxe_regex_cache_stats st;
	size_t one;

	vxe_regex_cache_limit(8, SIZE_MAX);
	for (int i = 0; i < 100; i++) {
		snprintf(pat, sizeof(pat), "^user%d\\d*$", i);
		vx_eval_flag_free(pattern_flag(pat, false));
		cr_assert_leq(stats().entries, 8);
	}
	st = stats();
	cr_expect_eq(st.entries, 8);
	cr_expect_eq(st.idle, 8);
	cr_expect_eq(st.evictions, 92);
	/* The most recently released is still there, the first is not. */
	f = pattern_flag("^user99\\d*$", false);
	cr_expect_eq(stats().hits, st.hits + 1);
	vx_eval_flag_free(f);
	f = pattern_flag("^user0\\d*$", false);
	cr_expect_eq(stats().misses, st.misses + 1);
	vx_eval_flag_free(f);

	/* A byte bound: room for about three entries of this size. */
	one = stats().bytes / stats().entries;
	vxe_regex_cache_limit(SIZE_MAX, 3 * one + one / 2);
	st = stats();
	cr_expect_leq(st.bytes, 3 * one + one / 2);
	cr_expect_geq(st.entries, 1);
	cr_expect_leq(st.entries, 4);
}

Test(regex_cache, gives_a_flag_without_jit_room_its_own_interpreted_pattern)
{
	struct vxe_regex jit, plain;
	char why[200];

	cr_assert_eq(
	    vxe_regex_compile("^a(b|c)+d$", false, SIZE_MAX, &jit, why, sizeof(why)),
	    VX_EVAL_OK, "%s", why);
	cr_assert_eq(vxe_regex_compile("^a(b|c)+d$", false, 0, &plain, why, sizeof(why)),
	    VX_EVAL_OK, "%s", why);
	cr_expect_eq(plain.jit_size, 0);
	if (jit.jit_size > 0)
		cr_expect_neq(plain.rx, jit.rx, "JIT code given to a flag without room");
	else
		cr_expect_eq(plain.rx, jit.rx); /* no JIT here: one entry serves */
	cr_expect_eq(vxe_regex_match(plain.re, false, "abcbd", 5), VXE_RX_YES);
	vxe_regex_release(jit.rx);
	vxe_regex_release(plain.rx);
	cr_expect_eq(stats().idle, stats().entries);
}

Test(regex_cache, refuses_a_bad_pattern_without_keeping_anything)
{
	struct vxe_regex rx;
	char why[200];

	cr_expect_eq(vxe_regex_compile("([a-z]+", false, SIZE_MAX, &rx, why, sizeof(why)),
	    VX_EVAL_EINVAL);
	cr_expect_null(rx.rx);
	cr_expect_eq(stats().entries, 0);
}

#define NTHREADS 4
#define ROUNDS 200

static int
compile_loop(void *arg)
{
	char pat[32];

	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(pat, sizeof(pat), "^t%d$", i % 7);
		vx_eval_flag *f = pattern_flag(pat, i % 2 == 0);

		snprintf(pat, sizeof(pat), "t%d", i % 7);
		if (strcmp(served(f, pat), "on") != 0)
			return 1;
		vx_eval_flag_free(f);
	}
	return 0;
}

Test(regex_cache, is_shared_safely_by_threads_compiling_at_once)
{
	thrd_t t[NTHREADS];
	struct vxe_regex_cache_stats st;
	int rc;

	for (int i = 0; i < NTHREADS; i++)
		cr_assert_eq(thrd_create(&t[i], compile_loop, NULL), thrd_success);
	for (int i = 0; i < NTHREADS; i++) {
		cr_assert_eq(thrd_join(t[i], &rc), thrd_success);
		cr_expect_eq(rc, 0, "a thread's flag served the wrong variant");
	}
	st = stats();
	/* 7 patterns, each caseless and not: no more entries, all idle. */
	cr_expect_eq(st.entries, 14);
	cr_expect_eq(st.idle, 14);
	cr_expect_eq(st.hits + st.misses, (uint64_t)NTHREADS * ROUNDS);
}
