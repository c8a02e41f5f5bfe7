/*
 * test_regex.c: the limits of `matches`.
 *
 * Rule authors choose patterns and contexts choose subjects, so neither may
 * cost a reader unbounded memory or time. These tests pin the bounds on
 * compiled patterns per condition, rule and flag (each refusal naming the
 * condition), the match budget (a catastrophic pattern is a quick,
 * counted non-match), and that concurrent evaluations of one flag each
 * get their own match data.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include "helpers.h"

/* About 12 KB compiled: PCRE2 copies a repeated group. */
#define BIG "(a{999}){999}"

static void
expect_msg(const char *err, const char *part)
{
	cr_expect_not_null(strstr(err, part), "message \"%s\" lacks \"%s\"", err, part);
}

static double
now_ms(void)
{
	struct timespec ts;

	timespec_get(&ts, TIME_UTC);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A flag with one rule on `a matches vals`; the caller frees it. */
static vx_eval_flag *
compile_matches(const char *const *vals, bool negate)
{
	vx_eval_condition_src c = cond("a", VX_OP_MATCHES, vals);
	vx_eval_rule_src r;
	vx_eval_flag_src src;

	c.negate = negate;
	r = rule_on(&c, 1);
	src = bool_flag(&r, 1);
	return must_compile(&src);
}

/* Whether the flag's rule matches a = s. */
static bool
rule_matches(const vx_eval_flag *f, const char *s)
{
	vx_eval_attr a = ASTR(s);
	vx_eval_ctx ctx = {.attrs = &a, .nattrs = 1};
	vx_eval_result res = must_eval(f, &ctx);

	return res.reason == VX_REASON_TARGETING_MATCH;
}

Test(regex_bounds, refuses_a_pattern_over_its_length_naming_the_condition)
{
	static char pat[VX_EVAL_PATTERN_MAX_LEN + 2];
	vx_eval_condition_src c[2];
	vx_eval_rule_src r;
	vx_eval_flag_src src;
	char err[256];

	memset(pat, 'x', VX_EVAL_PATTERN_MAX_LEN);
	c[0] = cond("email", VX_OP_ENDS_WITH, VALS("@a.io"));
	c[1] = cond("a", VX_OP_MATCHES, VALS(pat));
	r = rule_on(c, 2);
	src = bool_flag(&r, 1);
	vx_eval_flag_free(must_compile(&src));

	pat[VX_EVAL_PATTERN_MAX_LEN] = 'x';
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 0 condition 1 (a matches)");
	expect_msg(err, "is 1025 bytes long, over the limit of 1024");
}

Test(regex_bounds, refuses_a_condition_whose_patterns_compile_too_large)
{
	vx_eval_condition_src c[2] = {
	    cond("email", VX_OP_ENDS_WITH, VALS("@a.io")),
	    cond("a", VX_OP_MATCHES, VALS("^x", BIG, BIG)),
	};
	vx_eval_rule_src r = rule_on(c, 2);
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 0 condition 1 (a matches): pattern \"" BIG "\"");
	expect_msg(err, "brings the condition's patterns to");
	expect_msg(err, "over the limit of 16384 per condition");
	/* One of them alone fits. */
	c[1] = cond("a", VX_OP_MATCHES, VALS("^x", BIG));
	vx_eval_flag_free(must_compile(&src));
}

Test(regex_bounds, refuses_a_rule_whose_patterns_compile_too_large)
{
	vx_eval_condition_src c[3] = {
	    cond("a", VX_OP_MATCHES, VALS(BIG)),
	    cond("b", VX_OP_MATCHES, VALS(BIG)),
	    cond("c", VX_OP_MATCHES, VALS(BIG)),
	};
	vx_eval_rule_src r[2] = {rule_on(c, 2), rule_on(c, 3)};
	vx_eval_flag_src src = bool_flag(r, 2);
	char err[256];

	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 1 condition 2 (c matches)");
	expect_msg(err, "brings the rule's patterns to");
	expect_msg(err, "over the limit of 32768 per rule");
	/* Two conditions' worth in each of the rules fits. */
	r[1].nconditions = 2;
	vx_eval_flag_free(must_compile(&src));
}

Test(regex_bounds, refuses_a_flag_whose_patterns_compile_too_large)
{
	vx_eval_condition_src c = cond("a", VX_OP_MATCHES, VALS(BIG));
	vx_eval_rule_src r[6];
	vx_eval_flag_src src;
	char err[256];

	for (size_t i = 0; i < ARRAY_LEN(r); i++)
		r[i] = rule_on(&c, 1);
	r[5].id = "last";
	src = bool_flag(r, 5);
	vx_eval_flag_free(must_compile(&src));
	src.nrules = 6;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 5 (id \"last\") condition 0 (a matches)");
	expect_msg(err, "brings the flag's patterns to");
	expect_msg(err, "over the limit of 65536 per flag");
}

Test(regex_bounds, refuses_more_than_a_hundred_patterns_in_a_flag)
{
	const char *vals[VX_EVAL_REGEX_FLAG_PATTERNS + 2] = {NULL};
	vx_eval_condition_src c;
	vx_eval_rule_src r;
	vx_eval_flag_src src;
	char err[256];

	for (size_t i = 0; i + 1 < ARRAY_LEN(vals); i++)
		vals[i] = "^x";
	c = cond("a", VX_OP_MATCHES, vals);
	c.nvalues = VX_EVAL_REGEX_FLAG_PATTERNS;
	r = rule_on(&c, 1);
	src = bool_flag(&r, 1);
	vx_eval_flag_free(must_compile(&src));
	c.nvalues++;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 0 condition 0 (a matches): pattern \"^x\" is "
	                "over the limit of 100 patterns per flag");
}

Test(regex_budget, a_catastrophic_pattern_is_a_quick_counted_non_match)
{
	/* Each row: a pattern that backtracks exponentially on "aaa...ab". */
	const char *const pats[] = {
	    "(a+)+$",          /* JIT: the match limit */
	    "(a|a)*$",         /* JIT: the JIT stack */
	    "(*NO_JIT)(a+)+$", /* the interpreter's match limit */
	    "(*NO_JIT)(a|aa)+$",
	};
	static char subject[VX_EVAL_MATCH_MAX_LEN + 1];

	memset(subject, 'a', VX_EVAL_MATCH_MAX_LEN - 1);
	subject[VX_EVAL_MATCH_MAX_LEN - 1] = 'b';
	for (size_t i = 0; i < ARRAY_LEN(pats); i++) {
		for (int negate = 0; negate < 2; negate++) {
			const char *vals[] = {pats[i], NULL};
			vx_eval_flag *f = compile_matches(vals, negate);
			uint64_t before = vx_eval_match_budget_exhausted();
			double t0 = now_ms(), ms;
			bool hit = rule_matches(f, subject);

			ms = now_ms() - t0;
			/* Undecided: false with or without negate. */
			cr_expect(!hit, "%s%s matched", negate ? "not " : "", pats[i]);
			cr_expect_eq(vx_eval_match_budget_exhausted(), before + 1,
			    "%s: not counted", pats[i]);
			cr_expect_lt(ms, 200.0, "%s took %.1f ms", pats[i], ms);
			/* On a short subject it is an ordinary match. */
			cr_expect(rule_matches(f, "aa") != negate, "%s on aa", pats[i]);
			vx_eval_flag_free(f);
		}
	}
}

Test(regex_budget, another_value_may_still_match_after_one_runs_out)
{
	static char subject[VX_EVAL_MATCH_MAX_LEN + 1];
	vx_eval_flag *f = compile_matches(VALS("(a+)+$", "^a{10}"), false);
	uint64_t before = vx_eval_match_budget_exhausted();

	memset(subject, 'a', VX_EVAL_MATCH_MAX_LEN - 1);
	subject[VX_EVAL_MATCH_MAX_LEN - 1] = 'b';
	cr_expect(rule_matches(f, subject));
	cr_expect_eq(vx_eval_match_budget_exhausted(), before + 1);
	vx_eval_flag_free(f);
}

Test(regex_budget, a_subject_over_the_length_limit_is_not_searched)
{
	static char subject[VX_EVAL_MATCH_MAX_LEN + 2];
	vx_eval_flag *f = compile_matches(VALS("a"), false);

	memset(subject, 'a', VX_EVAL_MATCH_MAX_LEN);
	cr_expect(rule_matches(f, subject));
	subject[VX_EVAL_MATCH_MAX_LEN] = 'a';
	cr_expect(!rule_matches(f, subject));
	vx_eval_flag_free(f);
}

struct worker {
	const vx_eval_flag *f;
	int wrong;
};

static int
evaluate_many(void *arg)
{
	struct worker *w = arg;
	static const char *const subjects[] = {"user123", "user12x", "USER999", "x"};

	for (int i = 0; i < 2000; i++) {
		const char *s = subjects[i % 4];
		bool want = i % 4 == 0 || i % 4 == 2;

		if (rule_matches(w->f, s) != want)
			w->wrong++;
	}
	return 0;
}

Test(regex_threads, concurrent_evaluations_of_one_flag_agree)
{
	vx_eval_flag *f = compile_matches(VALS("(?i)^user\\d{3}$"), false);
	struct worker w[4];
	thrd_t t[4];

	for (size_t i = 0; i < 4; i++) {
		w[i] = (struct worker){f, 0};
		cr_assert_eq(thrd_create(&t[i], evaluate_many, &w[i]), thrd_success);
	}
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(thrd_join(t[i], NULL), thrd_success);
		cr_expect_eq(w[i].wrong, 0, "thread %zu: %d wrong", i, w[i].wrong);
	}
	vx_eval_flag_free(f);
}
