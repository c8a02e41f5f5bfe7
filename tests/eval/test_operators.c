/*
 * test_operators.c: every condition operator, one table each.
 *
 * Each row is a condition `a <op> values` with negate and case-insensitive
 * switches, an attribute value (or none), and whether the rule must match.
 * The edge cases are the same for all of them. A missing attribute never
 * matches, even negated. So does an attribute of the wrong type, or one that
 * does not parse. Several values mean "any of them".
 */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

Test(op_equals, matches_exact_strings_and_any_of_several_values)
{
	const struct cond_case cases[] = {
		{ VX_OP_EQUALS, VALS("pro"), ASTR("pro"), .want = true },
		{ VX_OP_EQUALS, VALS("pro"), ASTR("Pro"), .want = false },
		{ VX_OP_EQUALS, VALS("pro"), ASTR("pro "), .want = false },
		{ VX_OP_EQUALS, VALS("pro"), ASTR("pr"), .want = false },
		{ VX_OP_EQUALS, VALS("free", "pro"), ASTR("pro"), .want = true },
		{ VX_OP_EQUALS, VALS(""), ASTR(""), .want = true },
		{ VX_OP_EQUALS, VALS("PRO"), ASTR("pRo"), .ci = true,
		    .want = true },
		{ VX_OP_EQUALS, VALS("pro"), ASTR("free"), .negate = true,
		    .want = true },
		{ VX_OP_EQUALS, VALS("pro"), ASTR("pro"), .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_equals, compares_numbers_and_bools_by_value)
{
	const struct cond_case cases[] = {
		{ VX_OP_EQUALS, VALS("5"), ANUM(5), .want = true },
		{ VX_OP_EQUALS, VALS("5.0"), ANUM(5), .want = true },
		{ VX_OP_EQUALS, VALS("5e0", "7"), ANUM(7), .want = true },
		{ VX_OP_EQUALS, VALS("5"), ANUM(5.5), .want = false },
		{ VX_OP_EQUALS, VALS("five"), ANUM(5), .want = false },
		{ VX_OP_EQUALS, VALS("5"), ANUM(6), .negate = true,
		    .want = true },
		{ VX_OP_EQUALS, VALS("true"), ABOOL(true), .want = true },
		{ VX_OP_EQUALS, VALS("true"), ABOOL(false), .want = false },
		{ VX_OP_EQUALS, VALS("false"), ABOOL(false), .want = true },
		{ VX_OP_EQUALS, VALS("TRUE"), ABOOL(true), .want = false },
		{ VX_OP_EQUALS, VALS("TRUE"), ABOOL(true), .ci = true,
		    .want = true },
		/* A string attribute is compared as a string. */
		{ VX_OP_EQUALS, VALS("5"), ASTR("5.0"), .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_equals, is_false_for_a_missing_attribute_even_when_negated)
{
	const struct cond_case cases[] = {
		{ VX_OP_EQUALS, VALS("pro"), AMISSING, .want = false },
		{ VX_OP_EQUALS, VALS("pro"), AMISSING, .negate = true,
		    .want = false },
		{ VX_OP_IN, VALS("a", "b"), AMISSING, .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(missing, holds_on_a_missing_attribute_only_when_asked_to)
{
	const struct cond_case cases[] = {
	    /* Unleash's NOT_IN: a user with no country is not in [US]. */
	    {VX_OP_IN, VALS("US"), AMISSING, .negate = true, .missing = true,
	        .want = true},
	    {VX_OP_IN, VALS("US"), AMISSING, .missing = true, .want = true},
	    /* Present, it compares as usual, negate included. */
	    {VX_OP_IN, VALS("US"), ASTR("US"), .negate = true, .missing = true,
	        .want = false},
	    {VX_OP_IN, VALS("US"), ASTR("DE"), .negate = true, .missing = true,
	        .want = true},
	    /* A wrong type or an unparseable value is no missing value. */
	    {VX_OP_SEMVER_GT, VALS("1.0.0"), ASTR("banana"), .negate = true,
	        .missing = true, .want = false},
	    {VX_OP_STARTS_WITH, VALS("a"), ABOOL(true), .negate = true, .missing = true,
	        .want = false},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_in, holds_when_any_value_or_any_list_element_is_equal)
{
	const struct cond_case cases[] = {
		{ VX_OP_IN, VALS("US", "CA", "MX"), ASTR("CA"), .want = true },
		{ VX_OP_IN, VALS("US", "CA", "MX"), ASTR("BR"), .want = false },
		{ VX_OP_IN, VALS("us", "ca"), ASTR("CA"), .ci = true,
		    .want = true },
		{ VX_OP_IN, VALS("US", "CA"), ASTR("BR"), .negate = true,
		    .want = true },
		{ VX_OP_IN, VALS("beta", "staff"), ALIST("users", "staff"),
		    .want = true },
		{ VX_OP_IN, VALS("beta", "staff"), ALIST("users"),
		    .want = false },
		{ VX_OP_IN, VALS("beta"), ALIST("users"), .negate = true,
		    .want = true },
		{ VX_OP_IN, VALS("1", "2"), ANUM(2), .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_contains, is_a_substring_test_on_strings)
{
	const struct cond_case cases[] = {
		{ VX_OP_CONTAINS, VALS("corp"), ASTR("acme-corp-eu"),
		    .want = true },
		{ VX_OP_CONTAINS, VALS("CORP"), ASTR("acme-corp-eu"),
		    .want = false },
		{ VX_OP_CONTAINS, VALS("CORP"), ASTR("acme-corp-eu"),
		    .ci = true, .want = true },
		{ VX_OP_CONTAINS, VALS("x", "eu"), ASTR("acme-corp-eu"),
		    .want = true },
		{ VX_OP_CONTAINS, VALS("acme-corp-eu!"), ASTR("acme-corp-eu"),
		    .want = false },
		{ VX_OP_CONTAINS, VALS(""), ASTR("anything"), .want = true },
		{ VX_OP_CONTAINS, VALS("corp"), ASTR("acme"), .negate = true,
		    .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_contains, is_membership_on_lists_not_a_substring_test)
{
	const struct cond_case cases[] = {
		{ VX_OP_CONTAINS, VALS("admin"), ALIST("dev", "admin"),
		    .want = true },
		{ VX_OP_CONTAINS, VALS("admin"), ALIST("admins"),
		    .want = false },
		{ VX_OP_CONTAINS, VALS("ADMIN"), ALIST("dev", "Admin"),
		    .ci = true, .want = true },
		{ VX_OP_CONTAINS, VALS("admin"), ALIST("dev"), .negate = true,
		    .want = true },
		/* An empty list contains nothing, so negate applies. */
		{ VX_OP_CONTAINS, VALS("admin"), AEMPTYLIST, .want = false },
		{ VX_OP_CONTAINS, VALS("admin"), AEMPTYLIST, .negate = true,
		    .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_contains, is_false_for_numbers_and_bools_even_when_negated)
{
	const struct cond_case cases[] = {
		{ VX_OP_CONTAINS, VALS("1"), ANUM(12), .want = false },
		{ VX_OP_CONTAINS, VALS("1"), ANUM(12), .negate = true,
		    .want = false },
		{ VX_OP_STARTS_WITH, VALS("t"), ABOOL(true), .want = false },
		{ VX_OP_STARTS_WITH, VALS("t"), ABOOL(true), .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_starts_with, matches_prefixes)
{
	const struct cond_case cases[] = {
		{ VX_OP_STARTS_WITH, VALS("admin-"), ASTR("admin-42"),
		    .want = true },
		{ VX_OP_STARTS_WITH, VALS("admin-"), ASTR("admin"),
		    .want = false },
		{ VX_OP_STARTS_WITH, VALS("ADMIN-"), ASTR("admin-42"),
		    .want = false },
		{ VX_OP_STARTS_WITH, VALS("ADMIN-"), ASTR("Admin-42"),
		    .ci = true, .want = true },
		{ VX_OP_STARTS_WITH, VALS("x", "adm"), ASTR("admin"),
		    .want = true },
		{ VX_OP_STARTS_WITH, VALS("adm"), ALIST("x", "admin"),
		    .want = true },
		{ VX_OP_STARTS_WITH, VALS("adm"), AMISSING, .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_ends_with, matches_suffixes_such_as_email_domains)
{
	const struct cond_case cases[] = {
		{ VX_OP_ENDS_WITH, VALS("@company.com"),
		    ASTR("alice@company.com"), .want = true },
		{ VX_OP_ENDS_WITH, VALS("@company.com"),
		    ASTR("alice@company.com.evil.io"), .want = false },
		{ VX_OP_ENDS_WITH, VALS("@company.com"), ASTR("company.com"),
		    .want = false },
		{ VX_OP_ENDS_WITH, VALS("@Company.COM"),
		    ASTR("alice@COMPANY.com"), .ci = true, .want = true },
		{ VX_OP_ENDS_WITH, VALS("@a.io", "@b.io"), ASTR("x@b.io"),
		    .want = true },
		{ VX_OP_ENDS_WITH, VALS("@company.com"), ASTR("x@gmail.com"),
		    .negate = true, .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_matches, searches_with_pcre2_patterns)
{
	const struct cond_case cases[] = {
		{ VX_OP_MATCHES, VALS("^user-[0-9]+$"), ASTR("user-123"),
		    .want = true },
		{ VX_OP_MATCHES, VALS("^user-[0-9]+$"), ASTR("user-12a"),
		    .want = false },
		/* Unanchored patterns search. */
		{ VX_OP_MATCHES, VALS("[0-9]{3}"), ASTR("ab1234cd"),
		    .want = true },
		{ VX_OP_MATCHES, VALS("^(alpha|beta)$"), ASTR("beta"),
		    .want = true },
		{ VX_OP_MATCHES, VALS("^BETA$"), ASTR("beta"), .want = false },
		{ VX_OP_MATCHES, VALS("^BETA$"), ASTR("beta"), .ci = true,
		    .want = true },
		{ VX_OP_MATCHES, VALS("^a$", "^b$"), ASTR("b"), .want = true },
		{ VX_OP_MATCHES, VALS("^qa-"), ALIST("dev", "qa-eu"),
		    .want = true },
		{ VX_OP_MATCHES, VALS("^qa-"), ASTR("dev"), .negate = true,
		    .want = true },
		{ VX_OP_MATCHES, VALS("."), ANUM(1), .want = false },
		{ VX_OP_MATCHES, VALS("."), AMISSING, .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_matches, reads_escapes_and_classes_as_javascript_does)
{
	const struct cond_case cases[] = {
	    /* The case: \d was a literal d under POSIX. */
	    {VX_OP_MATCHES, VALS("^user\\d{3}$"), ASTR("user123"), .want = true},
	    {VX_OP_MATCHES, VALS("^user\\d{3}$"), ASTR("userddd"), .want = false},
	    {VX_OP_MATCHES, VALS("^\\w+$"), ASTR("snake_Case9"), .want = true},
	    {VX_OP_MATCHES, VALS("^\\w+$"), ASTR("kebab-case"), .want = false},
	    {VX_OP_MATCHES, VALS("^a\\sb$"), ASTR("a\tb"), .want = true},
	    {VX_OP_MATCHES, VALS("^a\\sb$"), ASTR("a_b"), .want = false},
	    {VX_OP_MATCHES, VALS("^\\D\\W\\S$"), ASTR("x-y"), .want = true},
	    {VX_OP_MATCHES, VALS("\\bcat\\b"), ASTR("a cat sat"), .want = true},
	    {VX_OP_MATCHES, VALS("\\bcat\\b"), ASTR("concatenate"), .want = false},
	    /* JavaScript's \uhhhh and \u{h...}, and [^] for any char. */
	    {VX_OP_MATCHES, VALS("^caf\\u00e9$"), ASTR("caf\xc3\xa9"), .want = true},
	    {VX_OP_MATCHES, VALS("^\\u{1F600}$"), ASTR("\xf0\x9f\x98\x80"), .want = true},
	    {VX_OP_MATCHES, VALS("^a[^]b$"), ASTR("a\nb"), .want = true},
	    /* Lookaround and back-references. */
	    {VX_OP_MATCHES, VALS("(?<=@)corp\\.com$"), ASTR("x@corp.com"), .want = true},
	    {VX_OP_MATCHES, VALS("^(?!admin).+$"), ASTR("admin-1"), .want = false},
	    {VX_OP_MATCHES, VALS("^(\\w)\\1$"), ASTR("zz"), .want = true},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_matches, takes_inline_flags_and_case_insensitivity)
{
	const struct cond_case cases[] = {
	    {VX_OP_MATCHES, VALS("(?i)^beta$"), ASTR("BeTa"), .want = true},
	    {VX_OP_MATCHES, VALS("^(?i:beta)-X$"), ASTR("BETA-X"), .want = true},
	    {VX_OP_MATCHES, VALS("^(?i:beta)-X$"), ASTR("BETA-x"), .want = false},
	    /* Case-insensitive is Unicode-aware, as JavaScript's /iu. */
	    {VX_OP_MATCHES,
	        VALS("(?i)^\xc3\x89"
	             "cole$"),
	        ASTR("\xc3\xa9"
	             "cole"),
	        .want = true},
	    {VX_OP_MATCHES,
	        VALS("^\xc3\x89"
	             "COLE$"),
	        ASTR("\xc3\xa9"
	             "cole"),
	        .ci = true, .want = true},
	    {VX_OP_MATCHES, VALS("(?x) ^ a b $"), ASTR("ab"), .want = true},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_matches, anchors_at_the_start_and_the_very_end)
{
	const struct cond_case cases[] = {
	    {VX_OP_MATCHES, VALS("^abc"), ASTR("abcd"), .want = true},
	    {VX_OP_MATCHES, VALS("^abc"), ASTR("xabc"), .want = false},
	    {VX_OP_MATCHES, VALS("abc$"), ASTR("xabc"), .want = true},
	    /* $ is the very end, as in JavaScript, not before a final \n. */
	    {VX_OP_MATCHES, VALS("abc$"), ASTR("abc\n"), .want = false},
	    {VX_OP_MATCHES, VALS("\\Aabc\\z"), ASTR("abc"), .want = true},
	    {VX_OP_MATCHES, VALS("^$"), ASTR(""), .want = true},
	    {VX_OP_MATCHES, VALS("(?m)^b$"), ASTR("a\nb\nc"), .want = true},
	    {VX_OP_MATCHES, VALS("^b$"), ASTR("a\nb\nc"), .want = false},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_matches, matches_utf8_subjects_by_character)
{
	const struct cond_case cases[] = {
	    /* Three characters, nine bytes. */
	    {VX_OP_MATCHES, VALS("^.{3}$"),
	        ASTR("\xe6\x97\xa5\xe6\x9c"
	             "\xac\xe8\xaa\x9e"),
	        .want = true},
	    {VX_OP_MATCHES, VALS("^\\p{Han}+$"), ASTR("\xe6\x97\xa5\xe6\x9c\xac"),
	        .want = true},
	    {VX_OP_MATCHES, VALS("^[\xc3\xa0-\xc3\xbf]$"), ASTR("\xc3\xa9"),
	        .want = true},
	    /* \w is ASCII, as in JavaScript. */
	    {VX_OP_MATCHES, VALS("^\\w+$"), ASTR("caf\xc3\xa9"), .want = false},
	    /* An ill-formed sequence matches nothing but is searched past. */
	    {VX_OP_MATCHES, VALS("abc"),
	        ASTR("\xff\xfe"
	             "abc"),
	        .want = true},
	    {VX_OP_MATCHES, VALS("^.+$"),
	        ASTR("a\xff"
	             "b"),
	        .want = false},
	    {VX_OP_MATCHES, VALS("^a.b$"),
	        ASTR("a\xc3"
	             "b"),
	        .want = false},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_matches, does_not_search_attribute_values_over_the_length_cap)
{
	static char at_cap[VX_EVAL_MATCH_MAX_LEN + 1];
	static char over[VX_EVAL_MATCH_MAX_LEN + 2];

	memset(at_cap, 'a', VX_EVAL_MATCH_MAX_LEN);
	memset(over, 'a', VX_EVAL_MATCH_MAX_LEN + 1);
	const struct cond_case cases[] = {
		{ VX_OP_MATCHES, VALS("a$"), ASTR(at_cap), .want = true },
		{ VX_OP_MATCHES, VALS("a$"), ASTR(over), .want = false },
		{ VX_OP_MATCHES, VALS("b"), ASTR(over), .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_numeric, compares_numbers_including_boundaries)
{
	const struct cond_case cases[] = {
		{ VX_OP_LT, VALS("18"), ANUM(17), .want = true },
		{ VX_OP_LT, VALS("18"), ANUM(18), .want = false },
		{ VX_OP_LTE, VALS("18"), ANUM(18), .want = true },
		{ VX_OP_LTE, VALS("18"), ANUM(18.0001), .want = false },
		{ VX_OP_GT, VALS("18"), ANUM(18), .want = false },
		{ VX_OP_GT, VALS("18"), ANUM(18.5), .want = true },
		{ VX_OP_GTE, VALS("18"), ANUM(18), .want = true },
		{ VX_OP_GTE, VALS("-1.5e3"), ANUM(-1500), .want = true },
		{ VX_OP_GTE, VALS("18"), ANUM(17), .negate = true,
		    .want = true },
		/* Any value: gt 100 or gt 10. */
		{ VX_OP_GT, VALS("100", "10"), ANUM(50), .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_numeric, parses_string_attributes_and_rejects_non_numbers)
{
	const struct cond_case cases[] = {
		{ VX_OP_GTE, VALS("5"), ASTR("5"), .want = true },
		{ VX_OP_GTE, VALS("5"), ASTR("10"), .want = true },
		{ VX_OP_LT, VALS("5"), ASTR("4.99"), .want = true },
		{ VX_OP_LT, VALS("5"), ASTR("four"), .want = false },
		{ VX_OP_LT, VALS("5"), ASTR("four"), .negate = true,
		    .want = false },
		{ VX_OP_LT, VALS("5"), ASTR(" 4"), .want = false },
		{ VX_OP_LT, VALS("5"), ASTR("0x4"), .want = false },
		{ VX_OP_LT, VALS("5"), ASTR("-inf"), .want = false },
		{ VX_OP_LT, VALS("5"), ASTR(""), .want = false },
		{ VX_OP_LT, VALS("5"), ABOOL(true), .want = false },
		{ VX_OP_LT, VALS("5"), ABOOL(true), .negate = true,
		    .want = false },
		{ VX_OP_GT, VALS("5"), ALIST("1", "9"), .want = true },
		{ VX_OP_GT, VALS("5"), AMISSING, .negate = true, .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_num_eq, compares_numbers_given_as_text_by_value)
{
	const struct cond_case cases[] = {
	    {VX_OP_NUM_EQ, VALS("12"), ASTR("12.0"), .want = true},
	    {VX_OP_NUM_EQ, VALS("12.0"), ANUM(12), .want = true},
	    {VX_OP_NUM_EQ, VALS("1.2e1"), ASTR("12"), .want = true},
	    {VX_OP_NUM_EQ, VALS("3", "12"), ASTR("12"), .want = true},
	    {VX_OP_NUM_EQ, VALS("12"), ASTR("12.5"), .want = false},
	    {VX_OP_NUM_EQ, VALS("12"), ASTR("12.5"), .negate = true, .want = true},
	    {VX_OP_NUM_EQ, VALS("12"), ASTR("twelve"), .want = false},
	    {VX_OP_NUM_EQ, VALS("12"), ASTR("twelve"), .negate = true, .want = false},
	    {VX_OP_NUM_EQ, VALS("12"), ABOOL(true), .want = false},
	    {VX_OP_NUM_EQ, VALS("12"), ALIST("7", "12.00"), .want = true},
	    /* equals stays a string comparison for string attributes. */
	    {VX_OP_EQUALS, VALS("12"), ASTR("12.0"), .want = false},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_semver, orders_by_semver_precedence)
{
	const struct cond_case cases[] = {
	    {VX_OP_SEMVER_EQ, VALS("1.2.3"), ASTR("1.2.3"), .want = true},
	    /* Strict SemVer 2.0.0: a leading v is no version at all. */
	    {VX_OP_SEMVER_EQ, VALS("1.2.3"), ASTR("v1.2.3"), .want = false},
	    {VX_OP_SEMVER_EQ, VALS("1.2.3+build.1"), ASTR("1.2.3+b2"), .want = true},
	    {VX_OP_SEMVER_EQ, VALS("1.2.3"), ASTR("1.2.3-rc.1"), .want = false},
	    {VX_OP_SEMVER_LT, VALS("2.0.0"), ASTR("1.10.0"), .want = true},
	    {VX_OP_SEMVER_LT, VALS("1.10.0"), ASTR("1.9.0"), .want = true},
	    {VX_OP_SEMVER_LT, VALS("1.0.0"), ASTR("1.0.0-rc.1"), .want = true},
	    {VX_OP_SEMVER_LT, VALS("1.0.0"), ASTR("1.0.0"), .want = false},
	    {VX_OP_SEMVER_GT, VALS("1.0.0-beta.2"), ASTR("1.0.0-beta.11"), .want = true},
	    {VX_OP_SEMVER_GT, VALS("1.0.0-alpha"), ASTR("1.0.0-alpha.1"), .want = true},
	    {VX_OP_SEMVER_GT, VALS("1.0.0"), ASTR("1.0.0-rc.1"), .want = false},
	    {VX_OP_SEMVER_GT, VALS("3.0.0", "1.0.0"), ASTR("2.0.0"), .want = true},
	    {VX_OP_SEMVER_GT, VALS("2.0.0"), ASTR("1.0.0"), .negate = true, .want = true},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_semver, is_false_for_versions_that_do_not_parse)
{
	const struct cond_case cases[] = {
		{ VX_OP_SEMVER_LT, VALS("2.0.0"), ASTR("1.0"), .want = false },
		{ VX_OP_SEMVER_LT, VALS("2.0.0"), ASTR("1.0"), .negate = true,
		    .want = false },
		{ VX_OP_SEMVER_LT, VALS("2.0.0"), ASTR("01.0.0"),
		    .want = false },
		{ VX_OP_SEMVER_LT, VALS("2.0.0"), ASTR("1.0.0-01"),
		    .want = false },
		{ VX_OP_SEMVER_EQ, VALS("1.0.0"), ANUM(1), .want = false },
		{ VX_OP_SEMVER_EQ, VALS("1.0.0"), AMISSING, .negate = true,
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_semver, reads_versions_as_flagd_does_when_loose)
{
	const struct cond_case cases[] = {
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ASTR("v1.0.0"), .loose = true, .want = true},
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ASTR("V1.0.0"), .loose = true, .want = true},
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ASTR("1"), .loose = true, .want = true},
	    {VX_OP_SEMVER_EQ, VALS("1.2.0"), ASTR("1.2"), .loose = true, .want = true},
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ANUM(1), .loose = true, .want = true},
	    {VX_OP_SEMVER_GT, VALS("1.1.0"), ANUM(1.2), .loose = true, .want = true},
	    {VX_OP_SEMVER_GT, VALS("1.1.0"), ANUM(1.1), .loose = true, .want = false},
	    /* Still no version: four parts, a word, a prefix on a partial
	     * pre-release; negated too. */
	    {VX_OP_SEMVER_EQ, VALS("2.0.0"), ASTR("2.0.0.0"), .loose = true,
	        .want = false},
	    {VX_OP_SEMVER_EQ, VALS("2.0.0"), ASTR("2.0.0.0"), .loose = true,
	        .negate = true, .want = false},
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ASTR("not-a-version"), .loose = true,
	        .want = false},
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ASTR("1-rc"), .loose = true, .want = false},
	    {VX_OP_SEMVER_EQ, VALS("1.0.0"), ASTR("vv1.0.0"), .loose = true,
	        .want = false},
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_dates, compare_instants_across_time_zone_offsets)
{
	const struct cond_case cases[] = {
		/* 00:30+01:00 is 23:30Z the day before. */
		{ VX_OP_BEFORE, VALS("2025-01-01T00:00:00Z"),
		    ASTR("2025-01-01T00:30:00+01:00"), .want = true },
		{ VX_OP_AFTER, VALS("2025-01-01T00:00:00Z"),
		    ASTR("2024-12-31T20:00:00-04:30"), .want = true },
		{ VX_OP_BEFORE, VALS("2025-01-01T00:00:00+05:45"),
		    ASTR("2024-12-31T18:15:00Z"), .want = false },
		{ VX_OP_AFTER, VALS("2025-01-01T00:00:00+05:45"),
		    ASTR("2024-12-31T18:15:00Z"), .want = false },
		{ VX_OP_AFTER, VALS("2025-06-01T12:00:00Z"),
		    ASTR("2025-06-01T12:00:00.000000001Z"), .want = true },
		{ VX_OP_BEFORE, VALS("2025-06-01T12:00:00.5Z"),
		    ASTR("2025-06-01t12:00:00.25z"), .want = true },
		{ VX_OP_BEFORE, VALS("2025-06-01"), ASTR("2025-05-31T23:59:59Z"),
		    .want = true },
		{ VX_OP_AFTER, VALS("2025-01-01T00:00:00Z"),
		    ASTR("2024-01-01T00:00:00Z"), .negate = true, .want = true },
		{ VX_OP_BEFORE, VALS("2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
		    ASTR("2025-01-01T00:00:00Z"), .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_dates, take_numbers_as_unix_seconds_and_reject_bad_dates)
{
	const struct cond_case cases[] = {
		{ VX_OP_AFTER, VALS("2001-09-09T01:46:39Z"), ANUM(1e9),
		    .want = true },
		{ VX_OP_BEFORE, VALS("2001-09-09T01:46:40.5Z"), ANUM(1e9),
		    .want = true },
		{ VX_OP_AFTER, VALS("2001-09-09T01:46:40Z"), ANUM(1e9),
		    .want = false },
		{ VX_OP_BEFORE, VALS("2025-01-01T00:00:00Z"),
		    ASTR("2024-01-01T00:00:00"), .want = false },
		{ VX_OP_BEFORE, VALS("2025-01-01T00:00:00Z"),
		    ASTR("2023-02-29T00:00:00Z"), .want = false },
		{ VX_OP_BEFORE, VALS("2025-01-01T00:00:00Z"),
		    ASTR("yesterday"), .negate = true, .want = false },
		{ VX_OP_BEFORE, VALS("2025-01-01T00:00:00Z"), ABOOL(true),
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_cidr, matches_ipv4_prefixes)
{
	const struct cond_case cases[] = {
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("10.20.30.40"),
		    .want = true },
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("11.0.0.1"),
		    .want = false },
		{ VX_OP_CIDR, VALS("192.168.1.0/23"), ASTR("192.168.0.255"),
		    .want = true },
		{ VX_OP_CIDR, VALS("192.168.1.0/23"), ASTR("192.168.2.0"),
		    .want = false },
		{ VX_OP_CIDR, VALS("203.0.113.7"), ASTR("203.0.113.7"),
		    .want = true },
		{ VX_OP_CIDR, VALS("203.0.113.7"), ASTR("203.0.113.8"),
		    .want = false },
		{ VX_OP_CIDR, VALS("0.0.0.0/0"), ASTR("8.8.8.8"), .want = true },
		{ VX_OP_CIDR, VALS("172.16.0.0/12", "10.0.0.0/8"),
		    ASTR("172.31.255.255"), .want = true },
		/* IPv4-mapped IPv6 addresses are IPv4 addresses. */
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("::ffff:10.1.2.3"),
		    .want = true },
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("8.8.8.8"),
		    .negate = true, .want = true },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_cidr, matches_ipv6_prefixes)
{
	const struct cond_case cases[] = {
		{ VX_OP_CIDR, VALS("2001:db8::/32"), ASTR("2001:db8:1::5"),
		    .want = true },
		{ VX_OP_CIDR, VALS("2001:db8::/32"), ASTR("2001:db9::1"),
		    .want = false },
		{ VX_OP_CIDR, VALS("2001:db8:abcd:12::/63"),
		    ASTR("2001:db8:abcd:13:ffff::1"), .want = true },
		{ VX_OP_CIDR, VALS("2001:db8:abcd:12::/63"),
		    ASTR("2001:db8:abcd:14::1"), .want = false },
		{ VX_OP_CIDR, VALS("::1"), ASTR("::1"), .want = true },
		{ VX_OP_CIDR, VALS("::/0"), ASTR("fe80::1"), .want = true },
		{ VX_OP_CIDR, VALS("::ffff:10.0.0.0/104"), ASTR("10.9.9.9"),
		    .want = true },
		/* Families do not mix: IPv6 prefixes never match IPv4. */
		{ VX_OP_CIDR, VALS("::/0"), ASTR("10.0.0.1"), .want = false },
		{ VX_OP_CIDR, VALS("0.0.0.0/0"), ASTR("2001:db8::1"),
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_cidr, is_false_for_addresses_that_do_not_parse)
{
	const struct cond_case cases[] = {
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("10.0.0"), .want = false },
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("10.0.0.1/32"),
		    .want = false },
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("fe80::1%eth0"),
		    .want = false },
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ASTR("not an ip"),
		    .negate = true, .want = false },
		{ VX_OP_CIDR, VALS("10.0.0.0/8"), ANUM(167772161),
		    .want = false },
	};

	run_cond_cases(cases, ARRAY_LEN(cases));
}

Test(op_cidr, reads_the_well_known_ip_attribute)
{
	const char *const nets[] = { "2001:db8::/32" };
	vx_eval_condition_src c = {
		.attribute = "ip", .op = VX_OP_CIDR, .values = nets, .nvalues = 1
	};
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f = must_compile(&src);
	vx_eval_ctx in = { .ip = "2001:db8::42" }, out = { .ip = "10.0.0.1" };

	cr_expect_eq(must_eval(f, &in).reason, VX_REASON_TARGETING_MATCH);
	cr_expect_eq(must_eval(f, &out).reason, VX_REASON_DEFAULT);
	vx_eval_flag_free(f);
}

Test(op_contains, reads_the_well_known_groups_list)
{
	vx_eval_condition_src c = cond("groups", VX_OP_CONTAINS, VALS("beta"));
	vx_eval_rule_src r = rule_on(&c, 1);
	vx_eval_flag_src src = bool_flag(&r, 1);
	vx_eval_flag *f = must_compile(&src);
	const char *const g1[] = { "staff", "beta" }, *const g2[] = { "staff" };
	vx_eval_ctx in = { .groups = g1, .ngroups = 2 };
	vx_eval_ctx out = { .groups = g2, .ngroups = 1 };
	vx_eval_ctx none = { 0 };

	cr_expect_eq(must_eval(f, &in).reason, VX_REASON_TARGETING_MATCH);
	cr_expect_eq(must_eval(f, &out).reason, VX_REASON_DEFAULT);
	cr_expect_eq(must_eval(f, &none).reason, VX_REASON_DEFAULT);
	vx_eval_flag_free(f);
}
