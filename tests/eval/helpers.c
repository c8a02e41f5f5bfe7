/*
 * helpers.c: shared fixtures for the evaluation engine's tests.
 * See helpers.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "helpers.h"

const vx_eval_variant_src bool_variants[2] = {
	{ .key = "off", .value = "false" },
	{ .key = "on", .value = "true" },
};

size_t
count_vals(const char *const *vals)
{
	size_t n = 0;

	while (vals[n] != NULL)
		n++;
	return n;
}

vx_eval_condition_src
cond(const char *attr, int op, const char *const *vals)
{
	return (vx_eval_condition_src){
		.attribute = attr,
		.op = op,
		.values = vals,
		.nvalues = count_vals(vals),
	};
}

vx_eval_rule_src
rule_on(const vx_eval_condition_src *conds, size_t nconds)
{
	return (vx_eval_rule_src){
		.enabled = true,
		.conditions = conds,
		.nconditions = nconds,
		.variant = 1,
	};
}

vx_eval_flag_src
bool_flag(const vx_eval_rule_src *rules, size_t nrules)
{
	return (vx_eval_flag_src){
		.key = "f",
		.type = VX_FLAG_BOOL,
		.variants = bool_variants,
		.nvariants = 2,
		.enabled = true,
		.default_variant = 1,
		.off_variant = 0,
		.rollout_percentage = 0,
		.rules = rules,
		.nrules = nrules,
	};
}

vx_eval_flag *
must_compile(const vx_eval_flag_src *src)
{
	char err[256];
	vx_eval_flag *f = NULL;
	int rc = vx_eval_compile(src, &f, err, sizeof(err));

	cr_assert_eq(rc, VX_EVAL_OK, "compile failed (%d): %s", rc, err);
	cr_assert_not_null(f);
	return f;
}

void
must_reject(const vx_eval_flag_src *src, char *err, size_t errlen)
{
	vx_eval_flag *f = (vx_eval_flag *)&f; /* must be reset to NULL */
	int rc = vx_eval_compile(src, &f, err, errlen);

	cr_assert_eq(rc, VX_EVAL_EINVAL, "expected EINVAL, got %d", rc);
	cr_assert_null(f);
	cr_assert_neq(err[0], '\0', "no error message");
}

vx_eval_result
must_eval(const vx_eval_flag *f, const vx_eval_ctx *ctx)
{
	vx_eval_result res;
	int rc = vx_eval_flag_evaluate(f, ctx, &res);

	cr_assert_eq(rc, VX_EVAL_OK, "evaluate returned %d", rc);
	return res;
}

static void
describe(const struct cond_case *c, char *buf, size_t len)
{
	const char *kinds[] = { "string", "number", "bool", "list" };
	int n = snprintf(buf, len, "%s%s%s%s [", c->missing ? "missing-holds " : "",
	    c->negate ? "not " : "", vx_op_name(c->op), c->ci ? " (ci)" : "");

	for (size_t i = 0; c->values[i] != NULL && n > 0 && (size_t)n < len;
	     i++)
		n += snprintf(buf + n, len - (size_t)n, "%s\"%s\"",
		    i ? ", " : "", c->values[i]);
	if (n < 0 || (size_t)n >= len)
		return;
	if (c->attr.name == NULL)
		snprintf(buf + n, len - (size_t)n, "] on missing attribute");
	else if (c->attr.kind == VX_ATTR_STRING)
		snprintf(buf + n, len - (size_t)n, "] on \"%s\"", c->attr.u.s);
	else if (c->attr.kind == VX_ATTR_NUMBER)
		snprintf(buf + n, len - (size_t)n, "] on %g", c->attr.u.num);
	else
		snprintf(buf + n, len - (size_t)n, "] on a %s",
		    kinds[c->attr.kind]);
}

void
run_cond_cases(const struct cond_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct cond_case *c = &cases[i];
		vx_eval_condition_src cs = cond("a", c->op, c->values);
		vx_eval_rule_src r;
		vx_eval_flag_src src;
		vx_eval_ctx ctx = { 0 };
		vx_eval_flag *f;
		vx_eval_result res;
		char what[512];

		cs.negate = c->negate;
		cs.case_insensitive = c->ci;
		cs.missing = c->missing;
		cs.loose_semver = c->loose;
		r = rule_on(&cs, 1);
		src = bool_flag(&r, 1);
		f = must_compile(&src);
		if (c->attr.name != NULL) {
			ctx.attrs = &c->attr;
			ctx.nattrs = 1;
		}
		res = must_eval(f, &ctx);
		describe(c, what, sizeof(what));
		cr_expect_eq(res.reason == VX_REASON_TARGETING_MATCH, c->want,
		    "row %zu: %s: want %s", i, what,
		    c->want ? "match" : "no match");
		vx_eval_flag_free(f);
	}
}
