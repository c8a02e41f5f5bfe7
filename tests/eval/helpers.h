/*
 * helpers.h: shared fixtures for the evaluation engine's tests.
 *
 * Most tests need a small flag: two boolean variants ("off" = false at 0,
 * "on" = true at 1), enabled, with some rules. These helpers build the source
 * form on the stack and compile it, so each test shows only what it is about.
 */
#ifndef VX_TESTS_EVAL_HELPERS_H
#define VX_TESTS_EVAL_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include "eval/eval.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* NULL-terminated value lists for tables. */
#define VALS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A custom attribute named "a", as a brace initializer for tables. */
#define ASTR(v) { .name = "a", .kind = VX_ATTR_STRING, .u.s = (v) }
#define ANUM(v) { .name = "a", .kind = VX_ATTR_NUMBER, .u.num = (v) }
#define ABOOL(v) { .name = "a", .kind = VX_ATTR_BOOL, .u.b = (v) }
#define ALIST(...)                                                          \
	{ .name = "a", .kind = VX_ATTR_LIST,                                \
	  .u.list = { .items = (const char *const[]){ __VA_ARGS__ },        \
	      .n = sizeof((const char *const[]){ __VA_ARGS__ }) /           \
		  sizeof(const char *) } }
#define AEMPTYLIST { .name = "a", .kind = VX_ATTR_LIST }
#define AMISSING { .name = NULL }

/* One row of an operator table: does `a <op> values` hold for attr? */
struct cond_case {
	int op;
	const char *const *values; /* NULL-terminated */
	vx_eval_attr attr;	   /* name NULL: the attribute is missing */
	bool negate;
	bool ci;
	bool missing; /* the condition holds on a missing attribute */
	bool loose;   /* loose_semver */
	bool want;
};

extern const vx_eval_variant_src bool_variants[2];

/* Count a NULL-terminated list. */
size_t
count_vals(const char *const *vals);

/* A condition on attribute `attr` from a NULL-terminated value list. */
vx_eval_condition_src
cond(const char *attr, int op, const char *const *vals);

/* A rule serving "on" (variant 1) with the given conditions. */
vx_eval_rule_src
rule_on(const vx_eval_condition_src *conds, size_t nconds);

/* An enabled bool flag "f", off = 0, default = 1, rollout 0. */
vx_eval_flag_src
bool_flag(const vx_eval_rule_src *rules, size_t nrules);

/* Compile src, failing the test with the engine's message if it fails. */
vx_eval_flag *
must_compile(const vx_eval_flag_src *src);

/* Compile src and expect EINVAL; returns the message in err. */
void
must_reject(const vx_eval_flag_src *src, char *err, size_t errlen);

/* Evaluate, failing the test unless the engine returns VX_EVAL_OK. */
vx_eval_result
must_eval(const vx_eval_flag *f, const vx_eval_ctx *ctx);

/* Run a table of operator cases, naming the failing row. */
void
run_cond_cases(const struct cond_case *cases, size_t n);

#endif
