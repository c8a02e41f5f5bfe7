/*
 * test_parse.c: the value parsers behind the typed operators.
 *
 * These call the engine's internal parsers directly (eval_int.h). A parser
 * bug shows up here as one wrong value, rather than as a rule that
 * mysteriously fails to match.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "eval_int.h"
#include "helpers.h"

static int
semver_cmp_str(const char *a, const char *b)
{
	struct vxe_semver sa, sb;

	cr_assert(vxe_parse_semver(a, &sa), "%s should parse", a);
	cr_assert(vxe_parse_semver(b, &sb), "%s should parse", b);
	return vxe_semver_cmp(&sa, &sb);
}

Test(semver, orders_pre_releases_as_the_spec_example_does)
{
	/* SemVer 2.0.0, section 11.4, plus releases around it. */
	const char *chain[] = {
		"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
		"1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0",
	};

	for (size_t i = 0; i < ARRAY_LEN(chain); i++) {
		for (size_t j = 0; j < ARRAY_LEN(chain); j++) {
			int want = (i > j) - (i < j);

			cr_expect_eq(semver_cmp_str(chain[i], chain[j]), want,
			    "%s vs %s", chain[i], chain[j]);
		}
	}
}

Test(semver, ignores_build_metadata_and_compares_long_numeric_identifiers)
{
	cr_expect_eq(semver_cmp_str("1.0.0+a", "1.0.0+b.2"), 0);
	cr_expect_eq(semver_cmp_str("1.0.0-rc.1+x", "1.0.0-rc.1"), 0);
	cr_expect_lt(semver_cmp_str("1.0.0-99999999999999999999",
			 "1.0.0-100000000000000000000"),
	    0);
	cr_expect_lt(semver_cmp_str("1.0.0-999", "1.0.0-a"), 0);
	cr_expect_lt(semver_cmp_str("1.0.0-A", "1.0.0-a"), 0);
	cr_expect_lt(semver_cmp_str("1.0.0-alpha-1", "1.0.0-alpha-2"), 0);
	cr_expect_gt(semver_cmp_str("18446744073709551615.0.0", "1.0.0"), 0);
}

Test(semver, rejects_malformed_versions)
{
	const char *bad[] = {
	    "",
	    "1",
	    "1.0",
	    "1.0.0.0",
	    "v1.2.3",
	    "V1.2.3",
	    "01.0.0",
	    "1.01.0",
	    "1.0.01",
	    "1.0.0-",
	    "1.0.0-01",
	    "1.0.0-a..b",
	    "1.0.0-a.",
	    "1.0.0+",
	    "1.0.0+a..b",
	    "1.0.0-a_b",
	    " 1.0.0",
	    "1.0.0 ",
	    "V1.0.0",
	    "vv1.0.0",
	    "1.0.0-+",
	    "-1.0.0",
	    "18446744073709551616.0.0",
	};
	struct vxe_semver sv;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect_not(vxe_parse_semver(bad[i], &sv), "\"%s\" parsed",
		    bad[i]);
	cr_expect(vxe_parse_semver("1.0.0-0.3.7", &sv));
	cr_expect(vxe_parse_semver("1.0.0-x.7.z.92", &sv));
	cr_expect(vxe_parse_semver("1.0.0-x-y-z.--", &sv));
	cr_expect(vxe_parse_semver("1.0.0+001", &sv));
}

static struct vxe_time
must_time(const char *s)
{
	struct vxe_time t;

	cr_assert(vxe_parse_rfc3339(s, &t), "\"%s\" should parse", s);
	return t;
}

Test(rfc3339, converts_offsets_to_the_same_instant)
{
	struct vxe_time z = must_time("2024-06-01T10:00:00Z");
	struct vxe_time plus = must_time("2024-06-01T12:00:00+02:00");
	struct vxe_time minus = must_time("2024-06-01T05:30:00-04:30");
	struct vxe_time space = must_time("2024-06-01 10:00:00+00:00");
	struct vxe_time negzero = must_time("2024-06-01T10:00:00-00:00");

	cr_expect_eq(vxe_time_cmp(&z, &plus), 0);
	cr_expect_eq(vxe_time_cmp(&z, &minus), 0);
	cr_expect_eq(vxe_time_cmp(&z, &space), 0);
	cr_expect_eq(vxe_time_cmp(&z, &negzero), 0);
}

Test(rfc3339, knows_the_epoch_and_keeps_nanoseconds)
{
	cr_expect_eq(must_time("1970-01-01T00:00:00Z").sec, 0);
	cr_expect_eq(must_time("2000-01-01T00:00:00Z").sec, 946684800);
	cr_expect_eq(must_time("1969-12-31T23:59:59Z").sec, -1);
	cr_expect_eq(must_time("2024-02-29T00:00:00Z").sec, 1709164800);
	cr_expect_eq(must_time("2000-01-01").sec, 946684800);
	cr_expect_eq(must_time("2000-01-01T00:00:00.5Z").nsec, 500000000);
	cr_expect_eq(must_time("2000-01-01T00:00:00.123456789Z").nsec,
	    123456789);
	/* Digits beyond nanoseconds are accepted and dropped. */
	cr_expect_eq(must_time("2000-01-01T00:00:00.1234567891Z").nsec,
	    123456789);
	/* A leap second is the next minute's first second. */
	cr_expect_eq(must_time("2016-12-31T23:59:60Z").sec,
	    must_time("2017-01-01T00:00:00Z").sec);
	cr_expect_eq(must_time("9999-12-31T23:59:59Z").sec, 253402300799);
}

Test(rfc3339, rejects_malformed_date_times)
{
	const char *bad[] = {
		"", "2024", "2024-06-01T10:00:00", "2024-06-01T10:00Z",
		"2024-06-01T10:00:00+0100", "2024-06-01T10:00:00+01",
		"2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z",
		"2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
		"2024-06-01T24:00:00Z", "2024-06-01T10:60:00Z",
		"2024-06-01T10:00:61Z", "2024-06-01T10:00:00.Z",
		"2024-06-01T10:00:00+24:00", "2024-06-01T10:00:00+01:60",
		"2024-06-01T10:00:00ZZ", "2024-6-01T10:00:00Z",
		"2024-06-01X10:00:00Z", " 2024-06-01T10:00:00Z", "1e9",
	};
	struct vxe_time t;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect_not(vxe_parse_rfc3339(bad[i], &t), "\"%s\" parsed",
		    bad[i]);
}

Test(rfc3339, unix_seconds_floor_towards_the_past)
{
	struct vxe_time t;

	cr_assert(vxe_time_from_unix(-1.5, &t));
	cr_expect_eq(t.sec, -2);
	cr_expect_eq(t.nsec, 500000000);
	cr_assert(vxe_time_from_unix(1.25, &t));
	cr_expect_eq(t.sec, 1);
	cr_expect_eq(t.nsec, 250000000);
	cr_expect_not(vxe_time_from_unix(1e300, &t));
	cr_expect_not(vxe_time_from_unix(-1e300, &t));
}

Test(cidr, masks_host_bits_and_parses_bare_addresses)
{
	struct vxe_cidr n, ip;

	cr_assert(vxe_parse_cidr("10.1.2.3/8", &n));
	cr_expect_eq(n.family, 4);
	cr_expect_eq(n.bits, 8);
	cr_expect_eq(n.addr[0], 10);
	cr_expect_eq(n.addr[1], 0);
	cr_assert(vxe_parse_cidr("2001:db8::1", &n));
	cr_expect_eq(n.family, 6);
	cr_expect_eq(n.bits, 128);
	cr_assert(vxe_parse_cidr("::ffff:192.0.2.0/120", &n));
	cr_expect_eq(n.family, 4);
	cr_expect_eq(n.bits, 24);
	cr_assert(vxe_parse_ip("192.0.2.77", &ip));
	cr_expect(vxe_cidr_contains(&n, &ip));
	cr_assert(vxe_parse_cidr("2001:db8:ffff::/33", &n));
	cr_expect_eq(n.addr[4], 0x80);
	cr_expect_eq(n.addr[5], 0);
}

Test(cidr, rejects_malformed_prefixes)
{
	const char *bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
		"10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0/8", "::/129",
		"2001:db8::/1000", "2001:db8:::/32", "010.0.0.0/8",
		"10.0.0.0/8 ", "fe80::1%eth0/64",
		"0000000000000000000000000000000000000000000000000000000000000000/8",
	};
	struct vxe_cidr n;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect_not(vxe_parse_cidr(bad[i], &n), "\"%s\" parsed",
		    bad[i]);
}

Test(number, accepts_decimals_and_rejects_everything_else)
{
	const char *good[] = { "0", "-1", "+2", "1.5", ".5", "5.", "-1.5e3",
		"1E-3", "007" };
	const double want[] = { 0, -1, 2, 1.5, 0.5, 5, -1500, 0.001, 7 };
	const char *bad[] = { "", "-", ".", "e5", "1e", "1e+", "0x10", "inf",
		"nan", " 1", "1 ", "1,5", "1e999", "--1", "1.2.3" };
	double d;

	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		cr_expect(vxe_parse_number(good[i], &d), "\"%s\"", good[i]);
		cr_expect_eq(d, want[i], "\"%s\"", good[i]);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		cr_expect_not(vxe_parse_number(bad[i], &d), "\"%s\" parsed",
		    bad[i]);
}

Test(json, validates_variant_numbers_and_strings)
{
	cr_expect(vxe_json_number_valid("0"));
	cr_expect(vxe_json_number_valid("-12.5e+3"));
	cr_expect_not(vxe_json_number_valid("01"));
	cr_expect_not(vxe_json_number_valid("+1"));
	cr_expect_not(vxe_json_number_valid(".5"));
	cr_expect_not(vxe_json_number_valid("1."));
	cr_expect(vxe_json_string_valid("\"\""));
	cr_expect(vxe_json_string_valid("\"a \\\"b\\\" \\u00e9\\n\""));
	cr_expect_not(vxe_json_string_valid("blue"));
	cr_expect_not(vxe_json_string_valid("\"blue"));
	cr_expect_not(vxe_json_string_valid("\"a\"b\""));
	cr_expect_not(vxe_json_string_valid("\"\\x\""));
	cr_expect_not(vxe_json_string_valid("\"\\u12\""));
	cr_expect_not(vxe_json_string_valid("\"tab\there\""));
}
