/*
 * test_compile.c: what compilation accepts and what it rejects.
 *
 * A bad rule is rejected when it is written, never when it is evaluated.
 * The message goes back to the user who wrote it, so these tests check that
 * it names the rule and the value at fault, not only that compile failed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

static void
expect_msg(const char *err, const char *part)
{
	cr_expect_not_null(strstr(err, part), "message \"%s\" lacks \"%s\"",
	    err, part);
}

static void
reject_condition(int op, const char *value, const char *part)
{
	const char *vals[] = { value };
	vx_eval_condition_src c = {
		.attribute = "a", .op = op, .values = vals, .nvalues = 1
	};
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	must_reject(&src, err, sizeof(err));
	expect_msg(err, part);
}

Test(compile, rejects_an_invalid_regex_naming_the_rule_and_pattern)
{
	vx_eval_condition_src ok = cond("email", VX_OP_ENDS_WITH, VALS("@x.io"));
	vx_eval_condition_src bad[] = {
		cond("email", VX_OP_EQUALS, VALS("a@b.c")),
		cond("email", VX_OP_MATCHES, VALS("^ok$", "([a-z]+")),
	};
	vx_eval_rule_src rules[] = { rule_on(&ok, 1), rule_on(bad, 2) };
	vx_eval_flag_src src = bool_flag(rules, 2);
	char err[256];

	rules[1].id = "beta-testers";
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 1");
	expect_msg(err, "beta-testers");
	expect_msg(err, "condition 1");
	expect_msg(err, "matches");
	expect_msg(err, "\"([a-z]+\"");
}

Test(compile, rejects_an_unknown_operator_naming_it)
{
	vx_eval_condition_src c = cond("a", 99, VALS("x"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	must_reject(&src, err, sizeof(err));
	expect_msg(err, "unknown operator 99");
	c.op = -1;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "unknown operator -1");
}

Test(compile, rejects_a_condition_with_an_empty_value_list)
{
	vx_eval_condition_src c = { .attribute = "country", .op = VX_OP_IN };
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	must_reject(&src, err, sizeof(err));
	expect_msg(err, "country in");
	expect_msg(err, "at least one value");
}

Test(compile, rejects_values_the_operator_cannot_parse)
{
	reject_condition(VX_OP_LT, "ten", "\"ten\" is not a number");
	reject_condition(VX_OP_GTE, "", "is not a number");
	reject_condition(VX_OP_SEMVER_GT, "1.0", "not a semantic version");
	reject_condition(VX_OP_SEMVER_EQ, "1.0.0-01", "semantic version");
	reject_condition(VX_OP_BEFORE, "2025-13-01T00:00:00Z", "RFC 3339");
	reject_condition(VX_OP_AFTER, "2025-01-01T00:00:00", "RFC 3339");
	reject_condition(VX_OP_CIDR, "10.0.0.0/33", "CIDR");
	reject_condition(VX_OP_CIDR, "2001:db8::/129", "CIDR");
	reject_condition(VX_OP_CIDR, "example.com", "CIDR");
}

Test(compile, rejects_an_empty_attribute_name)
{
	vx_eval_condition_src c = cond("", VX_OP_EQUALS, VALS("x"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	must_reject(&src, err, sizeof(err));
	expect_msg(err, "attribute name is empty");
}

Test(compile, rejects_variant_indexes_out_of_range)
{
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_split_src split[] = { { 0, 50 }, { 2, 50 } };
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	r.variant = 2;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "variant 2 is out of range");
	r.splits = split;
	r.nsplits = 2;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "split 1");
	src = bool_flag(NULL, 0);
	src.off_variant = 5;
	must_reject(&src, err, sizeof(err));
	src = bool_flag(NULL, 0);
	src.default_variant = 2;
	must_reject(&src, err, sizeof(err));
}

Test(compile, rejects_splits_whose_weights_total_zero_or_overflow)
{
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_split_src zero[] = { { 0, 0 }, { 1, 0 } };
	vx_eval_split_src big[] = { { 0, UINT32_MAX }, { 1, 1 } };
	vx_eval_flag_src src = bool_flag(&r, 1);
	char err[256];

	r.splits = zero;
	r.nsplits = 2;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "total 0");
	r.splits = big;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "total more than");
}

Test(compile, rejects_percentages_over_100)
{
	vx_eval_rule_src r = rule_on(NULL, 0);
	vx_eval_flag_src src = bool_flag(NULL, 0);
	char err[256];

	src.rollout_percentage = 101;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "environment");
	expect_msg(err, "101");
	src = bool_flag(&r, 1);
	r.rollout.enabled = true;
	r.rollout.percentage = 250;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "rule 0");
}

Test(compile, rejects_variant_values_that_do_not_fit_the_type)
{
	vx_eval_variant_src v[2] = { { "a", "\"x\"" }, { "b", "yes" } };
	vx_eval_flag_src src = bool_flag(NULL, 0);
	char err[256];

	src.variants = v;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "not a boolean");
	src.type = VX_FLAG_STRING;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "'yes' is not a JSON string");
	v[1].value = "\"yes\"";
	vx_eval_flag_free(must_compile(&src));
	src.type = VX_FLAG_NUMBER;
	v[0].value = "1.5";
	v[1].value = "01";
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "not a JSON number");
	src.type = VX_FLAG_JSON;
	v[1].value = "{\"k\": [1, 2]}";
	vx_eval_flag_free(must_compile(&src));
	src.type = 7;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "unknown type 7");
}

Test(compile, rejects_missing_duplicate_or_empty_variants_and_keys)
{
	vx_eval_variant_src dup[2] = { { "on", "true" }, { "on", "false" } };
	vx_eval_variant_src nul[2] = { { "on", "true" }, { NULL, "false" } };
	vx_eval_flag_src src = bool_flag(NULL, 0);
	char err[256];

	src.nvariants = 0;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "no variants");
	src = bool_flag(NULL, 0);
	src.variants = dup;
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "duplicate key \"on\"");
	src.variants = nul;
	must_reject(&src, err, sizeof(err));
	src = bool_flag(NULL, 0);
	src.key = "";
	must_reject(&src, err, sizeof(err));
	src.key = NULL;
	must_reject(&src, err, sizeof(err));
}

Test(compile, rejects_null_arguments_and_null_arrays)
{
	vx_eval_flag_src src = bool_flag(NULL, 0);
	vx_eval_condition_src c = { .attribute = "a", .op = VX_OP_IN,
		.nvalues = 2 };
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag *f = NULL;
	char err[256];

	cr_expect_eq(vx_eval_compile(NULL, &f, err, sizeof(err)),
	    VX_EVAL_EINVAL);
	cr_expect_eq(vx_eval_compile(&src, NULL, err, sizeof(err)),
	    VX_EVAL_EINVAL);
	src.nrules = 3;
	must_reject(&src, err, sizeof(err));
	src = bool_flag(&r, 1);
	must_reject(&src, err, sizeof(err));
	expect_msg(err, "values is NULL");
}

Test(compile, writes_no_more_than_errlen_and_accepts_a_null_buffer)
{
	vx_eval_condition_src c = cond("a", VX_OP_MATCHES, VALS("(unclosed"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f = NULL;
	char err[8];

	memset(err, 'x', sizeof(err));
	cr_expect_eq(vx_eval_compile(&src, &f, err, 4), VX_EVAL_EINVAL);
	cr_expect_eq(err[3], '\0');
	cr_expect_eq(err[4], 'x');
	cr_expect_eq(vx_eval_compile(&src, &f, NULL, 0), VX_EVAL_EINVAL);
	cr_expect_null(f);
}

Test(compile, copies_the_source_so_the_caller_may_free_it)
{
	char attr[] = "plan", val[] = "pro", key[] = "flag-key", id[] = "r1";
	const char *vals[] = { val };
	vx_eval_condition_src c = {
		.attribute = attr, .op = VX_OP_EQUALS, .values = vals,
		.nvalues = 1
	};
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_attr a = { .name = "plan", .kind = VX_ATTR_STRING,
		.u.s = "pro" };
	vx_eval_ctx ctx = { .attrs = &a, .nattrs = 1 };
	vx_eval_flag *f;
	vx_eval_result res;

	r.id = id;
	src.key = key;
	f = must_compile(&src);
	memset(attr, 'X', sizeof(attr) - 1);
	memset(val, 'X', sizeof(val) - 1);
	memset(key, 'X', sizeof(key) - 1);
	memset(id, 'X', sizeof(id) - 1);
	res = must_eval(f, &ctx);
	cr_expect_eq(res.reason, VX_REASON_TARGETING_MATCH);
	cr_expect_str_eq(res.rule_id, "r1");
	cr_expect_str_eq(vx_eval_flag_key(f), "flag-key");
	cr_expect_eq(vx_eval_flag_type(f), VX_FLAG_BOOL);
	vx_eval_flag_free(f);
	vx_eval_flag_free(NULL);
}

Test(compile, accepts_every_operator_and_ignores_case_for_typed_ones)
{
	const char *vals[VX_OP_COUNT_] = {
	    [VX_OP_EQUALS] = "x",
	    [VX_OP_IN] = "x",
	    [VX_OP_CONTAINS] = "x",
	    [VX_OP_STARTS_WITH] = "x",
	    [VX_OP_ENDS_WITH] = "x",
	    [VX_OP_MATCHES] = "^x$",
	    [VX_OP_LT] = "1",
	    [VX_OP_LTE] = "1",
	    [VX_OP_GT] = "1",
	    [VX_OP_GTE] = "1",
	    [VX_OP_SEMVER_EQ] = "1.0.0",
	    [VX_OP_SEMVER_LT] = "1.0.0",
	    [VX_OP_SEMVER_GT] = "1.0.0",
	    [VX_OP_BEFORE] = "2025-01-01T00:00:00Z",
	    [VX_OP_AFTER] = "2025-01-01T00:00:00Z",
	    [VX_OP_CIDR] = "10.0.0.0/8",
	    [VX_OP_NUM_EQ] = "1",
	};
	vx_eval_condition_src c[VX_OP_COUNT_];

	for (int op = 0; op < VX_OP_COUNT_; op++) {
		c[op] = (vx_eval_condition_src){ .attribute = "a", .op = op,
			.values = &vals[op], .nvalues = 1,
			.case_insensitive = true };
	}
	vx_eval_rule_src r = rule_on(c, VX_OP_COUNT_);
	vx_eval_flag_src src = bool_flag(&r, 1);

	vx_eval_flag_free(must_compile(&src));
}

Test(compile, refuses_patterns_pcre2_cannot_compile_with_its_offset_and_reason)
{
	reject_condition(VX_OP_MATCHES, "([a-z]+",
	    "pattern \"([a-z]+\" does not compile at offset 7: missing closing "
	    "parenthesis");
	reject_condition(VX_OP_MATCHES, "a)b", "unmatched closing parenthesis");
	reject_condition(VX_OP_MATCHES, "a{2,1}", "out of order");
	reject_condition(VX_OP_MATCHES, "((a{99}){99}){99}", "too large");
	reject_condition(VX_OP_MATCHES, "[z-a]", "out of order");
	reject_condition(VX_OP_MATCHES, "ab\\", "offset 3");
	/* \C would split UTF-8 characters; it is never allowed. */
	reject_condition(VX_OP_MATCHES, "a\\Cb", "\\C is disabled");
	/* The pattern itself must be UTF-8. */
	reject_condition(VX_OP_MATCHES, "caf\xe9", "UTF-8");
}

Test(compile, accepts_ordinary_patterns_within_the_bounds)
{
	vx_eval_condition_src c = cond("a", VX_OP_MATCHES,
	    VALS("^[[:alnum:]._%+-]+@(foo|bar)\\.com$", "[]a]{3}",
		"x{1,}y{2,5}", "(.*a){12}", "((a{9}){9}){9}", "[a-z]{9999}",
		"(a|b)+c?", "\\(literal\\)", "^(a)\\1$", "(?i)^user\\d{3}$",
		"(?<=@)corp\\.com$", "\\u00e9", "[^]"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);

	vx_eval_flag_free(must_compile(&src));
}
