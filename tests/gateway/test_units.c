/*
 * Vexil gateway unit tests: the pieces every dialect shares (router, JSON
 * readers, percent-decoding, request ids, the id and time formats, the
 * status table), in process and without any server.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/format.h"
#include "gateway/http.h"
#include "gateway/http1.h"
#include "gateway/json.h"
#include "gateway/router.h"
#include "gateway/status.h"

TestSuite(units, .timeout = 30);

/* ---- ids and times ---- */

Test(units, uuids_round_trip_every_id_and_keep_their_kind)
{
	const uint64_t ids[] = {1, 42, 0xffffffffffffULL, 0x1000000000000ULL, UINT64_MAX};
	char s[VX_GW_UUID_LEN + 1];
	uint64_t back;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		vx_gw_uuid_format(s, VX_GW_KIND_FLAG, ids[i]);
		cr_assert_eq(strlen(s), 36);
		cr_assert_eq(vx_gw_uuid_parse(s, VX_GW_KIND_FLAG, &back), 0, "%s", s);
		cr_assert_eq(back, ids[i]);
		cr_assert_eq(vx_gw_uuid_parse(s, VX_GW_KIND_RULE, &back), VX_EINVAL,
		    "another kind is not found");
	}
	vx_gw_uuid_format(s, VX_GW_KIND_PROJECT, 7);
	cr_assert_str_eq(s, "00000002-0000-4000-8000-000000000007");
	cr_assert_eq(vx_gw_uuid_parse("00000002-0000-4000-8000-00000000000A",
	                 VX_GW_KIND_PROJECT, &back), 0, "either case");
	cr_assert_eq(back, 10);
}

Test(units, malformed_uuids_are_refused)
{
	const char *bad[] = {"", "x", "00000002-0000-4000-8000-000000000000",
		"00000002-0000-4000-8000-00000000000g", "00000002-0000-4000-8001-000000000001",
		"00000002-0000-4001-8000-000000000001", "00000002-0000-4000-8000-0000000000011",
		"00000002_0000-4000-8000-000000000001", "550e8400-e29b-41d4-a716-446655440000"};
	uint64_t id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(vx_gw_uuid_parse(bad[i], VX_GW_KIND_PROJECT, &id), VX_EINVAL, "%s",
		    bad[i]);
	cr_assert_eq(vx_gw_uuid_parse(NULL, VX_GW_KIND_PROJECT, &id), VX_EINVAL);
}

Test(units, ids_parse_in_every_dialects_form_and_kind)
{
	const struct {
		const char *s;
		enum vx_gw_kind kind;
		uint64_t id; /* 0: refused */
	} cases[] = {
	    {"7", VX_GW_KIND_FLAG, 7},
	    {"flag-7", VX_GW_KIND_FLAG, 7},
	    {"00000003-0000-4000-8000-000000000007", VX_GW_KIND_FLAG, 7},
	    {"proj-12", VX_GW_KIND_PROJECT, 12},
	    {"rule-9", VX_GW_KIND_RULE, 9},
	    {"rule-9", VX_GW_KIND_FLAG, 0},
	    {"proj-7", VX_GW_KIND_FLAG, 0},
	    {"00000002-0000-4000-8000-000000000007", VX_GW_KIND_FLAG, 0},
	    {"07", VX_GW_KIND_FLAG, 0},
	    {"flag-07", VX_GW_KIND_FLAG, 0},
	    {"0", VX_GW_KIND_FLAG, 0},
	    {"flag-", VX_GW_KIND_FLAG, 0},
	    {"-7", VX_GW_KIND_FLAG, 0},
	    {"+7", VX_GW_KIND_FLAG, 0},
	    {"7x", VX_GW_KIND_FLAG, 0},
	    {"", VX_GW_KIND_FLAG, 0},
	    {"99999999999999999999", VX_GW_KIND_FLAG, 0},
	    {"user-1", VX_GW_KIND_USER, 0},
	};
	uint64_t id;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = vx_gw_id_parse(cases[i].s, cases[i].kind, &id);
		if (cases[i].id == 0) {
			cr_assert_eq(rc, VX_EINVAL, "%s", cases[i].s);
		} else {
			cr_assert_eq(rc, 0, "%s", cases[i].s);
			cr_assert_eq(id, cases[i].id, "%s", cases[i].s);
		}
	}
	cr_assert_eq(vx_gw_id_parse(NULL, VX_GW_KIND_FLAG, &id), VX_EINVAL);
}

Test(units, times_are_rfc3339_utc_seconds)
{
	char s[32];

	vx_gw_time_format(s, 1734170400000LL);
	cr_assert_str_eq(s, "2024-12-14T10:00:00Z");
	vx_gw_time_format(s, 1734170400999LL);
	cr_assert_str_eq(s, "2024-12-14T10:00:00Z");
	vx_gw_time_format(s, 0);
	cr_assert_str_eq(s, "1970-01-01T00:00:00Z");
	/* Back to a second asked before, and on to the next: each its own. */
	vx_gw_time_format(s, 1734170400500LL);
	cr_assert_str_eq(s, "2024-12-14T10:00:00Z");
	vx_gw_time_format(s, 1734170401000LL);
	cr_assert_str_eq(s, "2024-12-14T10:00:01Z");
	vx_gw_time_format(s, -1);
	cr_assert_str_eq(s, "1969-12-31T23:59:59Z");
}

/* ---- HTTP helpers ---- */

Test(units, percent_decoding_refuses_bad_escapes_and_nul)
{
	char out[64];

	cr_assert_eq(vx_gw_pct_decode(out, "a%20b%2Fc", 9, false), 5);
	cr_assert_str_eq(out, "a b/c");
	cr_assert_eq(vx_gw_pct_decode(out, "a+b", 3, false), 3);
	cr_assert_str_eq(out, "a+b");
	cr_assert_eq(vx_gw_pct_decode(out, "a+b", 3, true), 3);
	cr_assert_str_eq(out, "a b");
	cr_assert_eq(vx_gw_pct_decode(out, "%zz", 3, false), -1);
	cr_assert_eq(vx_gw_pct_decode(out, "ab%", 3, false), -1);
	cr_assert_eq(vx_gw_pct_decode(out, "ab%4", 4, false), -1);
	cr_assert_eq(vx_gw_pct_decode(out, "a%00b", 5, false), -1);
}

Test(units, targets_split_into_path_and_query)
{
	char a[] = "/api/projects?x=1&y=2", b[] = "http://host:8080/health?q", c[] = "/",
	     d[] = "https://host", e[] = "/p#frag";
	const char *path, *query;

	vx_gw_split_target(a, &path, &query);
	cr_assert_str_eq(path, "/api/projects");
	cr_assert_str_eq(query, "x=1&y=2");
	vx_gw_split_target(b, &path, &query);
	cr_assert_str_eq(path, "/health");
	cr_assert_str_eq(query, "q");
	vx_gw_split_target(c, &path, &query);
	cr_assert_str_eq(path, "/");
	cr_assert_str_eq(query, "");
	vx_gw_split_target(d, &path, &query);
	cr_assert_str_eq(path, "/");
	vx_gw_split_target(e, &path, &query);
	cr_assert_str_eq(path, "/p");
}

static vx_arena arena;

static void
req_at(vx_gw_req *r, const char *method, const char *path, const char *query)
{
	vx_gw_req_init(r, method, path, query, NULL, "test");
	vx_arena_reset(&arena);
	r->arena = &arena;
}

/* vx_arena_join (the credentials) reads as "%s %s"; a request id is kept
 * whole up to its size, and cut there. */
Test(units, arena_join_and_request_ids_read_as_printf_did)
{
	char want[sizeof(((vx_gw_req *)0)->request_id) + 10];
	vx_gw_req r;

	vx_arena_init(&arena, 1 << 20);
	cr_assert_str_eq(
	    vx_arena_join(&arena, "SdkKey", "vx_sdk_abc"), "SdkKey vx_sdk_abc");
	cr_assert_str_eq(vx_arena_join(&arena, "", ""), " ");
	vx_gw_req_init(&r, "GET", "/", NULL, NULL, "req-1");
	cr_assert_str_eq(r.request_id, "req-1");
	vx_gw_req_init(&r, "GET", "/", NULL, NULL, NULL);
	cr_assert_str_eq(r.request_id, "");
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	vx_gw_req_init(&r, "GET", "/", NULL, NULL, want);
	cr_assert_eq(strlen(r.request_id), sizeof(r.request_id) - 1);
	cr_assert_eq(strncmp(r.request_id, want, sizeof(r.request_id) - 1), 0);
}

Test(units, query_parameters_are_found_and_decoded)
{
	vx_gw_req r;
	const char *v;

	vx_arena_init(&arena, 1 << 20);
	req_at(&r, "GET", "/x", "a=1&name=New+Checkout%21&flag&empty=&k%20ey=v");
	cr_assert_eq(vx_gw_query(&r, "name", &v), 1);
	cr_assert_str_eq(v, "New Checkout!");
	cr_assert_eq(vx_gw_query(&r, "flag", &v), 1);
	cr_assert_str_eq(v, "");
	cr_assert_eq(vx_gw_query(&r, "empty", &v), 1);
	cr_assert_str_eq(v, "");
	cr_assert_eq(vx_gw_query(&r, "k ey", &v), 1);
	cr_assert_str_eq(v, "v");
	cr_assert_eq(vx_gw_query(&r, "missing", &v), 0);
	req_at(&r, "GET", "/x", "bad=%zz");
	cr_assert_eq(vx_gw_query(&r, "bad", &v), -1);
	cr_assert_str_eq(r.err_msg, "malformed query string");
	vx_gw_req_fini(&r);
	vx_arena_fini(&arena);
}

Test(units, tokens_are_printable_ascii_without_spaces_and_not_too_long)
{
	char *big = malloc(VX_GW_CREDENTIAL_MAX + 2);

	cr_assert(vx_gw_token_ok("abc-123_x.y:z!~"));
	cr_assert_not(vx_gw_token_ok(""));
	cr_assert_not(vx_gw_token_ok("a b"));
	cr_assert_not(vx_gw_token_ok("ab\t"));
	cr_assert_not(vx_gw_token_ok("ab\x7f"));
	cr_assert_not(vx_gw_token_ok("caf\xc3\xa9"));
	memset(big, 'k', VX_GW_CREDENTIAL_MAX);
	big[VX_GW_CREDENTIAL_MAX] = '\0';
	cr_assert(vx_gw_token_ok(big), "the longest is fine");
	big[VX_GW_CREDENTIAL_MAX] = 'k';
	big[VX_GW_CREDENTIAL_MAX + 1] = '\0';
	cr_assert_not(vx_gw_token_ok(big), "one more is not");
	free(big);
}

Test(units, header_values_read_as_printf_writes_them)
{
	vx_gw_req r;
	char longv[100];

	memset(&r, 0, sizeof(r));
	cr_assert_eq(vx_gw_set_header_int(&r, "A", 0), 0);
	cr_assert_eq(vx_gw_set_header_int(&r, "B", -42), 0);
	cr_assert_eq(vx_gw_set_header_int(&r, "C", INT64_MIN), 0);
	cr_assert_eq(vx_gw_set_header_uint(&r, "D", UINT64_MAX), 0);
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	cr_assert_eq(vx_gw_set_header_str(&r, "E", longv), 0);
	cr_assert_eq(vx_gw_set_header_str(&r, "F", "production"), 0);
	cr_assert_eq(vx_gw_set_header_str(&r, "G", "full"), -1, "six at most");
	cr_assert_str_eq(vx_gw_res_header(&r, "A"), "0");
	cr_assert_str_eq(vx_gw_res_header(&r, "B"), "-42");
	cr_assert_str_eq(vx_gw_res_header(&r, "C"), "-9223372036854775808");
	cr_assert_str_eq(vx_gw_res_header(&r, "D"), "18446744073709551615");
	cr_assert_eq(strlen(vx_gw_res_header(&r, "E")), VX_GW_HEADER_VALUE_MAX - 1,
	    "cut as vx_gw_set_header() cuts");
	cr_assert_str_eq(vx_gw_res_header(&r, "F"), "production");
}

Test(units, request_ids_are_echoed_only_when_safe)
{
	char id[VX_GW_REQUEST_ID_MAX + 1], longid[80];

	vx_gw_request_id("abc-123_x.y:z", id);
	cr_assert_str_eq(id, "abc-123_x.y:z");
	vx_gw_request_id("bad id", id);
	cr_assert_eq(strlen(id), 32);
	vx_gw_request_id("evil\r\nSet-Cookie: x", id);
	cr_assert_eq(strlen(id), 32);
	vx_gw_request_id("", id);
	cr_assert_eq(strlen(id), 32);
	vx_gw_request_id(NULL, id);
	cr_assert_eq(strlen(id), 32);
	memset(longid, 'a', 64);
	longid[64] = '\0';
	vx_gw_request_id(longid, id);
	cr_assert_str_eq(id, longid, "64 characters are fine");
	longid[64] = 'a';
	longid[65] = '\0';
	vx_gw_request_id(longid, id);
	cr_assert_eq(strlen(id), 32, "65 are not");
}

Test(units, the_status_table_is_grpc_gateways)
{
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__OK), 200);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__INVALID_ARGUMENT), 400);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__FAILED_PRECONDITION), 400);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__OUT_OF_RANGE), 400);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__UNAUTHENTICATED), 401);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__PERMISSION_DENIED), 403);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__NOT_FOUND), 404);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__ALREADY_EXISTS), 409);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__ABORTED), 409);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__RESOURCE_EXHAUSTED), 429);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__UNIMPLEMENTED), 501);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__UNAVAILABLE), 503);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__DEADLINE_EXCEEDED), 504);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__INTERNAL), 500);
	cr_assert_eq(vx_gw_http_status(VEXIL__V1__CODE__DATA_LOSS), 500);
	cr_assert_eq(vx_gw_http_status((Vexil__V1__Code)99), 500);
}

Test(units, a_full_disk_under_vexild_is_507_and_a_rate_limit_stays_429)
{
	vx_status st = {.code = VEXIL__V1__CODE__RESOURCE_EXHAUSTED};

	cr_assert_eq(vx_gw_call_status(&st), 429);
	snprintf(st.constraint, sizeof(st.constraint), "%s", VX_CONSTRAINT_DISK_FULL);
	cr_assert_eq(vx_gw_call_status(&st), 507);
	st.code = VEXIL__V1__CODE__UNAVAILABLE;
	snprintf(st.constraint, sizeof(st.constraint), "storage");
	cr_assert_eq(vx_gw_call_status(&st), 503);
}

/* ---- JSON readers ---- */

static void
body(vx_gw_req *r, const char *text)
{
	vx_gw_req_fini(r);
	vx_gw_req_init(r, "POST", "/", "", NULL, "t");
	r->body = (const uint8_t *)text;
	r->body_len = strlen(text);
}

Test(units, json_bodies_must_be_one_object)
{
	vx_gw_req r;
	cJSON *o;

	memset(&r, 0, sizeof(r));
	const char *bad[] = {"{", "[]", "1", "\"s\"", "{} {}", "{}x", "{\"a\":1,}", "nul"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body(&r, bad[i]);
		cr_assert_eq(vx_gw_json_body(&r, true, &o), -1, "%s", bad[i]);
		cr_assert(r.err_msg[0]);
	}
	body(&r, "  {\"a\":1}  \n");
	cr_assert_eq(vx_gw_json_body(&r, false, &o), 0);
	cr_assert(cJSON_IsObject(o));
	body(&r, "   ");
	cr_assert_eq(vx_gw_json_body(&r, false, &o), -1);
	cr_assert_str_eq(r.err_msg, "Request body is required");
	body(&r, "");
	cr_assert_eq(vx_gw_json_body(&r, true, &o), 0, "an empty body may be an empty object");
	cr_assert_eq(cJSON_GetArraySize(o), 0);
	/* A NUL inside the body is trailing garbage. */
	vx_gw_req_fini(&r);
	vx_gw_req_init(&r, "POST", "/", "", NULL, "t");
	r.body = (const uint8_t *)"{}\0{}";
	r.body_len = 5;
	cr_assert_eq(vx_gw_json_body(&r, true, &o), -1);
	vx_gw_req_fini(&r);
}

Test(units, a_nul_escape_in_a_string_is_refused_naming_the_member)
{
	const struct {
		const char *text, *field; /* field NULL: accepted */
	} cases[] = {
	    {"{\"key\":\"nul\\u0000tail\"}", "key"},
	    {"{\"a\":{\"b\":[\"x\",\"\\u0000\"]}}", "a.b[1]"},
	    {"{\"ke\\u0000y\":1}", "ke"},
	    {"{\"key\":\"\\\\u0000\"}", NULL}, /* an escaped backslash, then text */
	    {"{\"key\":\"\\u00001\"}", "key"},
	    {"{\"key\":\"a\\u0001b\"}", NULL},
	};
	vx_gw_req r;
	cJSON *o;

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body(&r, cases[i].text);
		if (cases[i].field == NULL) {
			cr_assert_eq(
			    vx_gw_json_body(&r, false, &o), 0, "%s", cases[i].text);
			continue;
		}
		cr_assert_eq(vx_gw_json_body(&r, false, &o), -1, "%s", cases[i].text);
		cr_assert_str_eq(r.err_field, cases[i].field, "%s", cases[i].text);
		cr_assert(strstr(r.err_msg, "NUL") != NULL, "%s", r.err_msg);
	}
	/* An escaped backslash before "u0000" is text, kept whole. */
	body(&r, "{\"key\":\"\\\\u0000\"}");
	cr_assert_eq(vx_gw_json_body(&r, false, &o), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(o, "key")->valuestring, "\\u0000");
	vx_gw_req_fini(&r);
}

Test(units, json_readers_check_types_and_ranges_and_name_the_field)
{
	vx_gw_req r;
	cJSON *o;
	const char *s;
	const cJSON *obj;
	bool b;
	int64_t n;

	memset(&r, 0, sizeof(r));
	body(&r, "{\"s\":\"x\",\"b\":true,\"n\":42,\"f\":4.5,\"big\":1e300,\"o\":{},\"z\":null,"
	         "\"neg\":-3}");
	cr_assert_eq(vx_gw_json_body(&r, false, &o), 0);
	cr_assert_eq(vx_gw_json_string(&r, o, "s", &s), 1);
	cr_assert_str_eq(s, "x");
	cr_assert_eq(vx_gw_json_string(&r, o, "missing", &s), 0);
	cr_assert_eq(vx_gw_json_string(&r, o, "z", &s), 0, "null is not given");
	cr_assert_eq(vx_gw_json_string(&r, o, "b", &s), -1);
	cr_assert_str_eq(r.err_msg, "b must be a string");
	cr_assert_str_eq(r.err_field, "b");
	cr_assert_eq(vx_gw_json_bool(&r, o, "b", &b), 1);
	cr_assert(b);
	cr_assert_eq(vx_gw_json_bool(&r, o, "n", &b), -1);
	cr_assert_str_eq(r.err_msg, "n must be a boolean");
	cr_assert_eq(vx_gw_json_int(&r, o, "n", 0, 100, &n), 1);
	cr_assert_eq(n, 42);
	cr_assert_eq(vx_gw_json_int(&r, o, "n", 0, 10, &n), -1);
	cr_assert_str_eq(r.err_msg, "n must be between 0 and 10");
	cr_assert_eq(vx_gw_json_int(&r, o, "neg", -5, 5, &n), 1);
	cr_assert_eq(n, -3);
	cr_assert_eq(vx_gw_json_int(&r, o, "f", 0, 100, &n), -1);
	cr_assert_str_eq(r.err_msg, "f must be an integer");
	cr_assert_eq(vx_gw_json_int(&r, o, "big", 0, 100, &n), -1);
	cr_assert_eq(vx_gw_json_int(&r, o, "s", 0, 100, &n), -1);
	cr_assert_eq(vx_gw_json_object(&r, o, "o", &obj), 1);
	cr_assert_eq(vx_gw_json_object(&r, o, "s", &obj), -1);
	cr_assert_str_eq(r.err_msg, "s must be an object");
	vx_gw_req_fini(&r);
}

/* ---- the router ---- */

static void
echo(vx_gw_req *r)
{
	char out[256];
	size_t n = 0;

	n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", r->dialect->name);
	for (size_t i = 0; i < r->n_params; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, " %s=%s", r->param_names[i],
		    r->params[i]);
	vx_gw_reply(r, 200, "text/plain", out, n);
}

static void
posted(vx_gw_req *r)
{
	vx_gw_reply(r, 201, "text/plain", "posted", 6);
}

static void
silent(vx_gw_req *r)
{
	(void)r;
}

static void
err_a(vx_gw_req *r, int status, const char *field, const char *message)
{
	char out[300];
	int n = snprintf(out, sizeof(out), "A:%s:%s", field ? field : "-", message);
	vx_gw_reply(r, status, "text/plain", out, (size_t)n);
}

static void
err_b(vx_gw_req *r, int status, const char *field, const char *message)
{
	char out[300];
	int n = snprintf(out, sizeof(out), "B:%s:%s", field ? field : "-", message);
	vx_gw_reply(r, status, "text/plain", out, (size_t)n);
}

static const vx_gw_route routes_a[] = {
	{"GET", "/a/items", echo},
	{"POST", "/a/items", posted},
	{"GET", "/a/items/{id}", echo},
	{"GET", "/a/items/{id}/parts/{part}", echo},
	{"GET", "/a/silent", silent},
};
static const char *const prefixes_a[] = {"/a", NULL};
static const vx_gw_dialect dialect_a = {.name = "A", .prefixes = prefixes_a,
	.error = err_a, .routes = routes_a, .n_routes = 5};

static const vx_gw_route routes_b[] = {
	{"DELETE", "/a/items/{id}", echo},
	{"GET", "/b", echo},
};
static const char *const prefixes_b[] = {"/b", "/a/items/special", NULL};
static const vx_gw_dialect dialect_b = {.name = "B", .prefixes = prefixes_b,
	.error = err_b, .routes = routes_b, .n_routes = 2};

static void
route(const vx_gw_router *rt, vx_gw_req *r, const char *method, const char *path,
    int status, const char *body)
{
	vx_gw_req_fini(r);
	req_at(r, method, path, "");
	vx_gw_router_dispatch(rt, r);
	cr_assert_eq(r->status, status, "%s %s: %d", method, path, r->status);
	cr_assert_eq(r->res_len, strlen(body), "%s %s: %.*s", method, path, (int)r->res_len,
	    r->res_body);
	cr_assert(memcmp(r->res_body, body, r->res_len) == 0, "%s %s: %.*s", method, path,
	    (int)r->res_len, r->res_body);
}

/* A router over ds for one test, with the test's arena and r zeroed. */
static vx_gw_router *
router_open(const vx_gw_dialect *const *ds, size_t n, vx_gw_req *r)
{
	vx_gw_router *rt;

	memset(r, 0, sizeof(*r));
	vx_arena_init(&arena, 1 << 20);
	cr_assert_eq(vx_gw_router_alloc(&rt, ds, n, ds[0]), 0);
	return rt;
}

static void
router_close(vx_gw_router *rt, vx_gw_req *r)
{
	vx_gw_req_fini(r);
	vx_gw_router_free(rt);
	vx_arena_fini(&arena);
}

Test(units, the_router_matches_params_and_answers_404_405_per_dialect)
{
	const vx_gw_dialect *ds[] = {&dialect_a, &dialect_b};
	vx_gw_req r;
	vx_gw_router *rt = router_open(ds, 2, &r);

	route(rt, &r, "GET", "/a/items", 200, "A");
	route(rt, &r, "GET", "/a/items/", 200, "A");
	route(rt, &r, "HEAD", "/a/items", 200, "A");
	route(rt, &r, "POST", "/a/items", 201, "posted");
	route(rt, &r, "GET", "/a/items/42", 200, "A id=42");
	route(rt, &r, "GET", "/a/items/x%2Fy", 200, "A id=x/y");
	route(rt, &r, "GET", "/a/items/7/parts/wheel", 200, "A id=7 part=wheel");
	route(rt, &r, "DELETE", "/a/items/7", 200, "B id=7");
	route(rt, &r, "GET", "/b", 200, "B");
	/* 405 lists every method the path has, from any dialect. */
	route(rt, &r, "PUT", "/a/items", 405, "A:-:Method not allowed");
	cr_assert_str_eq(r.allow, "GET, POST");
	route(rt, &r, "PUT", "/a/items/9", 405, "A:-:Method not allowed");
	cr_assert_str_eq(r.allow, "GET, DELETE");
	/* 404 in the format of whoever owns the prefix. */
	route(rt, &r, "GET", "/a/nothing", 404, "A:-:Not found");
	route(rt, &r, "GET", "/b/nothing", 404, "B:-:Not found");
	route(rt, &r, "GET", "/a/items/special/x/y", 404, "B:-:Not found");
	route(rt, &r, "GET", "/bb", 404, "A:-:Not found");
	route(rt, &r, "GET", "/", 404, "A:-:Not found");
	route(rt, &r, "GET", "/a/items//parts/x", 404, "A:-:Not found");
	route(rt, &r, "GET", "/a/items/%zz", 400, "A:-:malformed path");
	route(rt, &r, "GET", "/a/items/%00", 400, "A:-:malformed path");
	route(rt, &r, "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", 404, "A:-:Not found");
	/* A handler that forgets to answer still gets one. */
	route(rt, &r, "GET", "/a/silent", 500, "A:-:the handler gave no answer");
	cr_assert(vx_gw_router_owner(rt, "/a/items/special") == &dialect_b);
	cr_assert(vx_gw_router_owner(rt, "/a/items/specialist") == &dialect_a);
	router_close(rt, &r);
}

static const vx_gw_route routes_root[] = {
    {"GET", "/fixed/info", posted},
    {"GET", "/{t}/info", echo},
    {"GET", "/{t}/first", echo},
    {"GET", "/lit/first", posted},
    {"GET", "/", echo},
};
static const vx_gw_dialect dialect_c_root = {
    .name = "C", .error = err_a, .routes = routes_root, .n_routes = 5};

Test(units, the_first_route_in_table_order_wins_whatever_its_first_segment)
{
	const vx_gw_dialect *ds[] = {&dialect_c_root};
	vx_gw_req r;
	vx_gw_router *rt = router_open(ds, 1, &r);

	route(rt, &r, "GET", "/fixed/info", 201, "posted");
	route(rt, &r, "GET", "/q/info", 200, "C t=q");
	route(rt, &r, "GET", "/a%2Fb/info", 200, "C t=a/b");
	/* A parameter first segment matches any literal, before a later
	 * route that names it. */
	route(rt, &r, "GET", "/lit/first", 200, "C t=lit");
	route(rt, &r, "GET", "/", 200, "C");
	route(rt, &r, "POST", "/", 405, "A:-:Method not allowed");
	route(rt, &r, "POST", "/x/info", 405, "A:-:Method not allowed");
	route(rt, &r, "GET", "/x/y", 404, "A:-:Not found");
	router_close(rt, &r);
}

/* RFC 9110 5.6.2's tchar, as the RFC lists it. */
static bool
rfc_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

Test(units, header_names_and_methods_take_exactly_the_token_bytes)
{
	for (int c = 1; c < 256; c++) {
		char head[128];
		vx_http1_field fields[8];
		vx_http1_head h = {.fields = fields};
		const vx_http1_limits lim = {.max_target = 64, .max_fields = 8};
		const char *why = NULL;
		int n = snprintf(head, sizeof(head),
		    "GET / HTTP/1.1\r\nHost: h\r\nX%cY: v\r\n\r\n", c);
		int rc = vx_http1_parse(head, (size_t)n, &lim, &h, &why);
		/* A colon ends the name early: "X" with the value "Y: v". */
		cr_assert_eq(rc == 0, rfc_tchar(c) || c == ':', "name byte %d: %d %s", c,
		    rc, why ? why : "");
		n = snprintf(head, sizeof(head), "G%cT / HTTP/1.1\r\nHost: h\r\n\r\n", c);
		rc = vx_http1_parse(head, (size_t)n, &lim, &h, &why);
		/* A space ends the method early: "G T" is a bad request line. */
		cr_assert_eq(rc == 0, rfc_tchar(c), "method byte %d: %d %s", c, rc,
		    why ? why : "");
	}
}

/* Values and targets are checked eight bytes at a time: every byte value at
 * every position of a word (and in the tail after the last whole word)
 * gets the verdict RFC 9110/9112 give it. */
Test(units, header_values_and_targets_take_exactly_their_bytes)
{
	for (int c = 0; c < 256; c++)
		for (int at = 0; at < 19; at++) {
			char head[160], value[20], target[21];
			vx_http1_field fields[8];
			vx_http1_head h = {.fields = fields};
			const vx_http1_limits lim = {.max_target = 64, .max_fields = 8};
			const char *why = NULL;
			bool value_ok = c == '\t' || (c >= ' ' && c != 127);
			bool target_ok = c > ' ' && c < 127;
			int n, rc;

			/* 19 bytes: two whole words and a tail of 3. */
			memset(value, 'v', 19);
			value[19] = '\0';
			value[at] = (char)c;
			if (c == '\0' || c == '\r' || c == '\n')
				continue; /* end the line, not the value: elsewhere */
			n = snprintf(head, sizeof(head),
			    "GET / HTTP/1.1\r\nHost: h\r\nX-V: %s\r\n\r\n", value);
			rc = vx_http1_parse(head, (size_t)n, &lim, &h, &why);
			cr_assert_eq(rc == 0, value_ok, "value byte %d at %d: %d %s", c,
			    at, rc, why ? why : "");
			/* (White space at either end is trimmed off the value.) */
			if (rc == 0 &&
			    !((at == 0 || at == 18) && (c == ' ' || c == '\t')))
				cr_assert_str_eq(
				    vx_http1_field_get(fields, h.n_fields, "X-V"), value,
				    "value byte %d at %d", c, at);
			target[0] = '/';
			memset(target + 1, 't', 19);
			target[20] = '\0';
			target[1 + at] = (char)c;
			n = snprintf(head, sizeof(head),
			    "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
			rc = vx_http1_parse(head, (size_t)n, &lim, &h, &why);
			/* A space splits the line in three pieces or more. */
			cr_assert_eq(rc == 0, target_ok, "target byte %d at %d: %d %s", c,
			    at, rc, why ? why : "");
		}
}

Test(units, malformed_route_patterns_are_refused)
{
	static const vx_gw_route bad1[] = {{"GET", "no-slash", echo}};
	static const vx_gw_route bad2[] = {{"GET", "/a/{open", echo}};
	static const vx_gw_route bad3[] = {{"GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", echo}};
	const vx_gw_route *tables[] = {bad1, bad2, bad3};
	vx_gw_router *rt;

	for (size_t i = 0; i < 3; i++) {
		vx_gw_dialect d = {.name = "x", .error = err_a, .routes = tables[i], .n_routes = 1};
		const vx_gw_dialect *ds[] = {&d};
		cr_assert_eq(vx_gw_router_alloc(&rt, ds, 1, &d), VX_EINVAL, "table %zu", i);
		cr_assert_null(rt);
	}
}

/* ---- the connection's thread ---- */

/* A handler that needs the core unless its query says otherwise. */
static void
maybe_core(vx_gw_req *r)
{
	vx_status st;

	if (strcmp(r->query, "local") != 0 && vx_gw_would_block(r, &st)) {
		vx_gw_fail(r, 503, NULL, "%s", st.message);
		return;
	}
	vx_gw_reply(r, 200, "text/plain", "local", 5);
}

static int undone;

static void
undo_count(vx_gw_req *r, void *arg)
{
	(void)r;
	(void)arg;
	undone++;
}

static const vx_gw_route routes_c[] = {
    {"GET", "/c/quick", maybe_core},
    {"GET", "/c/slow", echo},
};
static const vx_gw_handler nonblocking_c[] = {maybe_core, NULL};
static const char *const prefixes_c[] = {"/c", NULL};
static const vx_gw_dialect dialect_c = {.name = "C",
    .prefixes = prefixes_c,
    .error = err_a,
    .routes = routes_c,
    .n_routes = 2,
    .nonblocking = nonblocking_c};

/* Routes method path?query, on the connection's thread or not, with
 * undo_count to give back; returns whether it blocked. */
static bool
try_route(const vx_gw_router *rt, vx_gw_req *r, const char *path, const char *query,
    bool no_block)
{
	vx_gw_req_fini(r);
	req_at(r, "GET", path, query);
	r->no_block = no_block;
	r->undo = undo_count;
	vx_gw_router_dispatch(rt, r);
	return r->blocked;
}

Test(units, only_nonblocking_handlers_run_on_the_connections_thread)
{
	const vx_gw_dialect *ds[] = {&dialect_c};
	vx_gw_router *rt;
	vx_gw_req r;

	memset(&r, 0, sizeof(r));
	vx_arena_init(&arena, 1 << 20);
	cr_assert_eq(vx_gw_router_alloc(&rt, ds, 1, &dialect_c), 0);
	undone = 0;
	/* A handler outside the list is not run at all. */
	cr_assert(try_route(rt, &r, "/c/slow", "", true));
	cr_assert_eq(r.status, 0, "nothing was answered");
	/* One in the list answers when it needs no core call... */
	cr_assert_not(try_route(rt, &r, "/c/quick", "local", true));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(undone, 0);
	/* ...and is set aside, with what it spent given back once, when it
	 * does. */
	cr_assert(try_route(rt, &r, "/c/quick", "", true));
	cr_assert_eq(undone, 1);
	/* On a worker the same handler makes its call. */
	cr_assert_not(try_route(rt, &r, "/c/quick", "", false));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(undone, 1, "nothing to give back");
	vx_gw_req_fini(&r);
	vx_gw_router_free(rt);
	vx_arena_fini(&arena);
}

/* ---- replies written directly ---- */

/* b's text, NUL-terminated (b is reset). */
static char *
jbuf_text(vx_gw_jbuf *b)
{
	char *s = malloc(b->len + 1);

	cr_assert_not_null(s);
	cr_assert_not(b->failed);
	memcpy(s, b->p, b->len);
	s[b->len] = '\0';
	free(b->p);
	*b = (vx_gw_jbuf){0};
	return s;
}

/* vx_gw_jbuf_str(s) is what cJSON prints for the string s. */
static void
str_as_cjson(const char *s)
{
	vx_gw_jbuf jb = {0};
	cJSON *item = cJSON_CreateString(s);
	char *a, *b;

	vx_gw_jbuf_str(&jb, s);
	a = jbuf_text(&jb);
	b = cJSON_PrintUnformatted(item);
	cr_assert_str_eq(a, b);
	free(a);
	cJSON_free(b);
	cJSON_Delete(item);
}

Test(units, direct_json_reads_byte_for_byte_as_cjson_prints_it)
{
	const char *values[] = {"true", "false", "null", "truex", "false ", " null",
	    "1.50", "-0", "1e3", "\"blue\"", " \"sp\" ", "{\"a\": [1, 2, {\"b\": null}]}",
	    "\"\\u00e9\\n\"", "[]"};
	char s[300], *a, *b;
	vx_gw_jbuf jb = {0};
	unsigned x = 12345;

	/* Every byte but NUL, alone and among others, and random strings. */
	for (int c = 1; c < 256; c++) {
		snprintf(s, sizeof(s), "a%cb%c", c, c);
		str_as_cjson(s);
	}
	/* An escape after a plain run, at the end, and only escapes. */
	str_as_cjson("flag_5\"");
	str_as_cjson("plain run then \\ and \x01 and more plain");
	str_as_cjson("\n\n\n");
	for (int n = 0; n < 200; n++) {
		size_t len = (size_t)(n % 120);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			s[i] = (char)(1 + (x >> 16) % 255);
		}
		s[len] = '\0';
		str_as_cjson(s);
	}
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		cJSON *v = cJSON_Parse(values[i]);
		vx_gw_jbuf_value(&jb, values[i]);
		a = jbuf_text(&jb);
		b = cJSON_PrintUnformatted(v);
		cr_assert_str_eq(a, b, "%s", values[i]);
		free(a);
		cJSON_free(b);
		cJSON_Delete(v);
	}
	vx_gw_jbuf_value(&jb, "");
	vx_gw_jbuf_value(&jb, "{oops");
	a = jbuf_text(&jb);
	cr_assert_str_eq(a, "nullnull", "no value, or one that does not parse, is null");
	free(a);
}
