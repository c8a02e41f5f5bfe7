/*
 * Vexil gateway integration tests: the Platform REST API v1
 * (specs/platform-api-v1.md) over real HTTP.
 *
 * Every test gets a fresh vexild (the harness) with two projects and API
 * keys of each role, and a fresh vexil-gateway in front of it, and speaks
 * HTTP to the gateway with libcurl. The limiter suite starts vexild with
 * --rate-limit 5 so that its 6th request is the one refused.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "eval/eval.h"
#include "gateway/http.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;
static char p1[32], p2[32];  /* "proj-<id>" */
static char k_admin[128], k_write[128], k_read[128], k_other[128];

static void
make_project(const char *name, char out[32])
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.name = (char *)name;
	in.description = "";
	cr_assert(vx_create_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	snprintf(out, 32, "proj-%llu", (unsigned long long)p->id);
	vx_free(p);
}

static void
start(const char *rate)
{
	const char *extra[] = {"--rate-limit", rate, NULL};

	vx_harness_start(&h, rate ? extra : NULL);
	make_project("p1", p1);
	make_project("p2", p2);
	vx_harness_key(&h, "p1", VEXIL__V1__ROLE__ROLE_ADMIN, k_admin, sizeof(k_admin));
	vx_harness_key(&h, "p1", VEXIL__V1__ROLE__ROLE_WRITE, k_write, sizeof(k_write));
	vx_harness_key(&h, "p1", VEXIL__V1__ROLE__ROLE_READ, k_read, sizeof(k_read));
	vx_harness_key(&h, "p2", VEXIL__V1__ROLE__ROLE_ADMIN, k_other, sizeof(k_other));
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
}

static void
setup(void)
{
	start("100000");
}

static void
setup_limited(void)
{
	start("5");
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

TestSuite(platform, .init = setup, .fini = teardown, .timeout = 180);
TestSuite(platform_limit, .init = setup_limited, .fini = teardown, .timeout = 180);

/* vexild's own default: 100 requests per minute per API key. */
static void
setup_default(void)
{
	start(NULL);
}

TestSuite(platform_default_limit, .init = setup_default, .fini = teardown, .timeout = 180);

/* ---- helpers ---- */

static vx_http_res
req_h(const char *method, const char *path, const char *const *headers, const char *body)
{
	char url[1024];
	vx_http_req rq = {.method = method, .url = url, .headers = headers, .body = body};

	snprintf(url, sizeof(url), "%s%s", g.base, path);
	return vx_http(&rq);
}

/* A request with "Authorization: ApiKey <key>" (key NULL: none). */
static vx_http_res
req(const char *method, const char *path, const char *key, const char *body)
{
	char auth[300];
	const char *hs[2] = {NULL, NULL};

	if (key) {
		snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", key);
		hs[0] = auth;
	}
	return req_h(method, path, hs, body);
}

static const cJSON *
jget(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static const char *
jstr(const vx_http_res *r, const char *name)
{
	const cJSON *v = jget(r->json, name);
	cr_assert(cJSON_IsString(v), "%s is not a string in %s", name, r->body);
	return v->valuestring;
}

static double
jnum(const vx_http_res *r, const char *name)
{
	const cJSON *v = jget(r->json, name);
	cr_assert(cJSON_IsNumber(v), "%s is not a number in %s", name, r->body);
	return v->valuedouble;
}

static void
expect_status(vx_http_res *r, long status)
{
	cr_assert_eq(r->status, status, "status %ld, wanted %ld: %s", r->status, status,
	    r->body);
	cr_assert(r->request_id[0], "every response has X-Request-Id");
}

/* The document's error body; field NULL accepts any. Frees r. */
static void
expect_error(vx_http_res *r, long status, const char *code, const char *field)
{
	const cJSON *e, *d, *f;

	expect_status(r, status);
	cr_assert_str_eq(r->content_type, "application/json");
	e = jget(r->json, "error");
	cr_assert(cJSON_IsObject(e), "{\"error\":{...}}: %s", r->body);
	cr_assert(cJSON_IsString(jget(e, "code")), "error.code: %s", r->body);
	cr_assert(cJSON_IsString(jget(e, "message")), "error.message: %s", r->body);
	if (code)
		cr_assert_str_eq(jget(e, "code")->valuestring, code, "%s", r->body);
	d = jget(e, "details");
	cr_assert(cJSON_IsObject(d), "error.details: %s", r->body);
	cr_assert(jget(d, "field") && jget(d, "constraint"), "details.field and "
	    ".constraint: %s", r->body);
	if (field) {
		f = jget(d, "field");
		cr_assert(cJSON_IsString(f) && strcmp(f->valuestring, field) == 0,
		    "details.field is %s: %s", field, r->body);
		cr_assert(cJSON_IsString(jget(d, "constraint")), "%s", r->body);
	}
	vx_http_res_free(r);
}

static void
ok_free(vx_http_res r, long status)
{
	expect_status(&r, status);
	vx_http_res_free(&r);
}

/* Creates a flag in p1; fills its id. */
static void
new_flag(const char *body, char id[32])
{
	vx_http_res r = req("POST", "/v1/flags", k_write, body);

	expect_status(&r, 201);
	if (id)
		snprintf(id, 32, "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
}

static bool
state_of(const vx_http_res *r, const char *env)
{
	const cJSON *s = jget(r->json, "state"), *v = jget(s, env);
	cr_assert(cJSON_IsBool(v), "state.%s in %s", env, r->body);
	return cJSON_IsTrue(v);
}

/* ---- auth ---- */

Test(platform, credentials)
{
	const char *bearer[] = {"Authorization: Bearer abc", NULL};
	vx_http_res r;

	r = req("GET", "/v1/flags", NULL, NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	r = req("GET", "/v1/flags", "not-a-key", NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	r = req_h("GET", "/v1/flags", bearer, NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	/* An unknown path under /v1 is this dialect's 404, a known one 405. */
	r = req("GET", "/v1/nothing", k_read, NULL);
	expect_error(&r, 404, "not_found", NULL);
	r = req("PUT", "/v1/environments", k_read, NULL);
	expect_error(&r, 405, NULL, NULL);
}

/* ---- flags ---- */

Test(platform, flag_crud)
{
	char id[32];
	vx_http_res r;
	const cJSON *tags;

	r = req("POST", "/v1/flags", k_write,
	    "{\"key\":\"new-checkout-flow\",\"name\":\"New Checkout Flow\",\"description\":"
	    "\"Enables it\",\"state\":{\"staging\":true,\"production\":false},"
	    "\"tags\":[\"checkout\",\"beta\"]}");
	expect_status(&r, 201);
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	cr_assert(strncmp(id, "flag-", 5) == 0, "%s", id);
	cr_assert_str_eq(jstr(&r, "key"), "new-checkout-flow");
	cr_assert_str_eq(jstr(&r, "name"), "New Checkout Flow");
	cr_assert(state_of(&r, "staging"));
	cr_assert(!state_of(&r, "production"));
	cr_assert(!state_of(&r, "development"));
	tags = jget(r.json, "tags");
	cr_assert_eq(cJSON_GetArraySize(tags), 2);
	cr_assert(strlen(jstr(&r, "created_at")) == 20);
	vx_http_res_free(&r);

	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert(cJSON_IsArray(jget(r.json, "rules")), "%s", r.body);
	cr_assert(state_of(&r, "staging"));
	vx_http_res_free(&r);

	/* Partial update: only the given fields change. */
	r = req("PUT", vx_fmt("/v1/flags/%s", id), k_write,
	    "{\"name\":\"Updated\",\"tags\":[\"checkout\",\"beta\",\"redesign\"]}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "Updated");
	cr_assert_str_eq(jstr(&r, "description"), "Enables it");
	cr_assert_str_eq(jstr(&r, "key"), "new-checkout-flow");
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "tags")), 3);
	cr_assert(state_of(&r, "staging"));
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("/v1/flags/%s", id), k_write, "{\"key\":\"other\"}");
	expect_error(&r, 400, "invalid_request", "key");
	r = req("PUT", vx_fmt("/v1/flags/%s", id), k_write, "{\"name\":\"\"}");
	expect_error(&r, 400, "invalid_request", "name");

	r = req("DELETE", vx_fmt("/v1/flags/%s", id), k_write, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("DELETE", vx_fmt("/v1/flags/%s", id), k_write, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
}

Test(platform, flag_validation)
{
	vx_http_res r;

	new_flag("{\"key\":\"dup\"}", NULL);
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"dup\"}");
	expect_error(&r, 409, "conflict", "key");
	r = req("POST", "/v1/flags", k_write, "{\"name\":\"no key\"}");
	expect_error(&r, 400, "invalid_request", "key");
	r = req("POST", "/v1/flags", k_write, "{\"key\":5}");
	expect_error(&r, 400, "invalid_request", "key");
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"t\",\"tags\":\"x\"}");
	expect_error(&r, 400, "invalid_request", "tags");
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"t\",\"state\":{\"staging\":1}}");
	expect_error(&r, 400, "invalid_request", "state");
	r = req("POST", "/v1/flags", k_write, "{\"key\":");
	expect_error(&r, 400, "invalid_request", NULL);
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"t\",\"state\":{\"nowhere\":true}}");
	cr_assert(r.status == 400 || r.status == 404, "%s", r.body);
	expect_error(&r, r.status, NULL, NULL);
}

Test(platform, ids)
{
	vx_http_res r;

	r = req("GET", "/v1/flags/rule-1", k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("GET", "/v1/flags/flag-", k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("GET", "/v1/flags/flag-12x", k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("GET", "/v1/flags/flag-999999", k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("DELETE", "/v1/environments/flag-1", k_admin, NULL);
	expect_error(&r, 404, "not_found", "environment_id");
}

Test(platform, toggle_state)
{
	char id[32];
	vx_http_res r;

	new_flag("{\"key\":\"tog\"}", id);
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"enabled\":true}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), id);
	cr_assert_str_eq(jstr(&r, "key"), "tog");
	cr_assert(state_of(&r, "staging"));
	cr_assert(!state_of(&r, "production"));
	cr_assert(strlen(jstr(&r, "updated_at")) == 20);
	vx_http_res_free(&r);

	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"moon\",\"enabled\":true}");
	cr_assert(r.status == 404 || r.status == 400, "%s", r.body);
	expect_error(&r, r.status, NULL, "environment");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write, "{\"enabled\":true}");
	expect_error(&r, 400, "invalid_request", "environment");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\"}");
	expect_error(&r, 400, "invalid_request", "enabled");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"enabled\":\"yes\"}");
	expect_error(&r, 400, "invalid_request", "enabled");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_read,
	    "{\"environment\":\"staging\",\"enabled\":false}");
	expect_error(&r, 403, "forbidden", NULL);
}

Test(platform, pagination)
{
	vx_http_res r;

	for (int i = 0; i < 5; i++)
		new_flag(vx_fmt("{\"key\":\"f%d\"}", i), NULL);
	r = req("GET", "/v1/flags", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 5);
	cr_assert_eq(jnum(&r, "limit"), 20);
	cr_assert_eq(jnum(&r, "offset"), 0);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "flags")), 5);
	vx_http_res_free(&r);

	r = req("GET", "/v1/flags?limit=2&offset=4", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "flags")), 1);
	cr_assert_eq(jnum(&r, "total"), 5);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?limit=2", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "flags")), 2);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?offset=50", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "flags")), 0);
	cr_assert_eq(jnum(&r, "total"), 5);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?limit=100", k_read, NULL);
	ok_free(r, 200);

	r = req("GET", "/v1/flags?limit=0", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "limit");
	r = req("GET", "/v1/flags?limit=101", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "limit");
	r = req("GET", "/v1/flags?limit=x", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "limit");
	r = req("GET", "/v1/flags?offset=-1", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "offset");
}

Test(platform, list_filters)
{
	char env_id[32] = "";
	vx_http_res r;
	const cJSON *e, *f;

	new_flag("{\"key\":\"a\"}", NULL);
	r = req("GET", "/v1/environments", k_read, NULL);
	expect_status(&r, 200);
	cJSON_ArrayForEach(e, jget(r.json, "environments"))
		if (strcmp(jget(e, "key")->valuestring, "staging") == 0)
			snprintf(env_id, sizeof(env_id), "%s", jget(e, "id")->valuestring);
	vx_http_res_free(&r);
	cr_assert(env_id[0]);

	r = req("GET", vx_fmt("/v1/flags?environment_id=%s", env_id), k_read, NULL);
	expect_status(&r, 200);
	f = cJSON_GetArrayItem(jget(r.json, "flags"), 0);
	cr_assert_eq(cJSON_GetArraySize(jget(f, "state")), 1, "%s", r.body);
	cr_assert(cJSON_IsBool(jget(jget(f, "state"), "staging")));
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?environment_id=env-999999", k_read, NULL);
	expect_error(&r, 404, "not_found", "environment_id");

	/* project_id: the key's own project, another one (404); a global key
	 * without one acts on the `default` project (its three seeded flags). */
	r = req("GET", vx_fmt("/v1/flags?project_id=%s", p1), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 1);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/flags?project_id=%s", p2), k_read, NULL);
	expect_error(&r, 404, "not_found", "project_id");
	r = req("GET", "/v1/flags?project_id=banana", k_read, NULL);
	expect_error(&r, 404, "not_found", "project_id");
	r = req("GET", "/v1/flags", h.key, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 3, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/flags?project_id=%s", p1), h.key, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 1);
	vx_http_res_free(&r);
}

/* ---- scopes ---- */

Test(platform, scopes)
{
	char id[32], env[32];
	vx_http_res r;

	new_flag("{\"key\":\"scoped\"}", id);
	r = req("POST", "/v1/flags", k_read, "{\"key\":\"nope\"}");
	expect_error(&r, 403, "forbidden", NULL);
	r = req("DELETE", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req("POST", "/v1/environments", k_read, "{\"key\":\"qa\"}");
	expect_error(&r, 403, "forbidden", NULL);
	/* Deleting an environment takes an admin key. */
	r = req("GET", "/v1/environments", k_write, NULL);
	expect_status(&r, 200);
	snprintf(env, sizeof(env), "%s",
	    jget(cJSON_GetArrayItem(jget(r.json, "environments"), 0), "id")->valuestring);
	vx_http_res_free(&r);
	r = req("DELETE", vx_fmt("/v1/environments/%s", env), k_write, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req("GET", "/v1/api-keys", k_write, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req("POST", "/v1/api-keys", k_write, "{\"name\":\"x\",\"role\":\"read\"}");
	expect_error(&r, 403, "forbidden", NULL);
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	ok_free(r, 200);
	/* Another project's key does not see the flag. */
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_other, NULL);
	expect_error(&r, 404, "not_found", NULL);
	r = req("DELETE", vx_fmt("/v1/flags/%s", id), k_other, NULL);
	expect_error(&r, 404, "not_found", NULL);
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	ok_free(r, 200);
}

/* ---- rules ---- */

Test(platform, rules)
{
	static const char *const ops[][2] = {
	    {"equals", "a"},
	    {"in", "a"},
	    {"contains", "a"},
	    {"starts_with", "a"},
	    {"ends_with", "@company.com"},
	    {"matches", "^a.*$"},
	    {"lt", "5"},
	    {"lte", "5"},
	    {"gt", "5"},
	    {"gte", "5"},
	    {"semver_eq", "1.2.3"},
	    {"semver_lt", "1.2.3"},
	    {"semver_gt", "1.2.3"},
	    {"before", "2025-01-01T00:00:00Z"},
	    {"after", "2025-01-01T00:00:00Z"},
	    {"cidr", "10.0.0.0/8"},
	    {"num_eq", "12"},
	};
	char id[32], rule[32];
	vx_http_res r;

	new_flag("{\"key\":\"ruled\"}", id);
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"type\":\"user\",\"attribute\":\"email\",\"operator\":\"ends_with\","
	    "\"values\":[\"@company.com\"],\"environment\":\"staging\"}");
	expect_status(&r, 201);
	snprintf(rule, sizeof(rule), "%s", jstr(&r, "id"));
	cr_assert(strncmp(rule, "rule-", 5) == 0, "%s", rule);
	cr_assert_str_eq(jstr(&r, "operator"), "ends_with");
	cr_assert_str_eq(jstr(&r, "environment"), "staging");
	cr_assert_str_eq(jstr(&r, "type"), "user");
	vx_http_res_free(&r);

	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "rules")), 1, "%s", r.body);
	cr_assert_str_eq(jget(cJSON_GetArrayItem(jget(r.json, "rules"), 0), "id")->valuestring,
	    rule);
	vx_http_res_free(&r);

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
		    vx_fmt("{\"type\":\"attribute\",\"attribute\":\"x\",\"operator\":\"%s\","
		        "\"values\":[\"%s\"],\"environment\":\"development\"}",
		        ops[i][0], ops[i][1]));
		cr_assert_eq(r.status, 201, "operator %s: %s", ops[i][0], r.body);
		vx_http_res_free(&r);
	}

	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"email\",\"operator\":\"like\",\"values\":[\"a\"],"
	    "\"environment\":\"staging\"}");
	expect_error(&r, 400, "invalid_request", "operator");
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"email\",\"operator\":\"equals\",\"values\":[],"
	    "\"environment\":\"staging\"}");
	expect_error(&r, 400, "invalid_request", "values");
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"email\",\"operator\":\"equals\",\"values\":[\"a\"]}");
	expect_error(&r, 400, "invalid_request", "environment");
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"operator\":\"equals\",\"values\":[\"a\"],\"environment\":\"staging\"}");
	expect_error(&r, 400, "invalid_request", "attribute");
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"type\":\"robot\",\"attribute\":\"a\",\"operator\":\"equals\","
	    "\"values\":[\"a\"],\"environment\":\"staging\"}");
	expect_error(&r, 400, "invalid_request", "type");
	r = req("POST", "/v1/flags/flag-999999/rules", k_write,
	    "{\"attribute\":\"a\",\"operator\":\"equals\",\"values\":[\"a\"],"
	    "\"environment\":\"staging\"}");
	expect_error(&r, 404, "not_found", "flag_id");

	/* Staging is enabled and targets @company.com only. */
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"enabled\":true}");
	ok_free(r, 200);
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"staging\",\"user\":{\"id\":\"u2\","
	    "\"email\":\"a@company.com\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(jget(r.json, "flags"), "ruled")), "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"staging\",\"user\":{\"id\":\"u1\",\"email\":\"a@other.com\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(jget(r.json, "flags"), "ruled")), "%s", r.body);
	vx_http_res_free(&r);

	r = req("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, rule), k_write, NULL);
	ok_free(r, 204);
	/* Without rules an enabled environment serves on to everyone. */
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"staging\",\"user\":{\"id\":\"u1\",\"email\":\"a@other.com\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(jget(r.json, "flags"), "ruled")), "%s", r.body);
	vx_http_res_free(&r);
	r = req("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, rule), k_write, NULL);
	expect_error(&r, 404, "not_found", "rule_id");
	r = req("DELETE", vx_fmt("/v1/flags/%s/rules/env-1", id), k_write, NULL);
	expect_error(&r, 404, "not_found", "rule_id");
}

/* A negated condition holds for users without the attribute when it says so. */
Test(platform, a_condition_can_hold_for_users_without_the_attribute)
{
	char id[32];
	vx_http_res r;
	const char *eval_none = "{\"environment\":\"staging\",\"user\":{\"id\":\"u1\"}}";
	const char *eval_us = "{\"environment\":\"staging\",\"user\":{\"id\":\"u1\","
	                      "\"country\":\"US\"}}";

	new_flag("{\"key\":\"outside-us\"}", id);
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"country\",\"operator\":\"in\",\"values\":[\"US\"],"
	    "\"negate\":true,\"missing\":true,\"environment\":\"staging\"}");
	expect_status(&r, 201);
	cr_assert(cJSON_IsTrue(jget(r.json, "negate")), "%s", r.body);
	cr_assert(cJSON_IsTrue(jget(r.json, "missing")), "%s", r.body);
	vx_http_res_free(&r);
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"enabled\":true}");
	ok_free(r, 200);
	r = req("POST", "/v1/sdk/evaluate", k_read, eval_none);
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(jget(r.json, "flags"), "outside-us")), "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", "/v1/sdk/evaluate", k_read, eval_us);
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(jget(r.json, "flags"), "outside-us")), "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"country\",\"operator\":\"in\",\"values\":[\"US\"],"
	    "\"missing\":\"yes\",\"environment\":\"staging\"}");
	expect_error(&r, 400, "invalid_request", "missing");
}

/* ---- environments ---- */

Test(platform, environments)
{
	char env[32], id[32];
	vx_http_res r;

	r = req("GET", "/v1/environments", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "environments")), 3, "%s", r.body);
	vx_http_res_free(&r);

	r = req("POST", "/v1/environments", k_admin,
	    "{\"key\":\"beta\",\"name\":\"Beta\",\"description\":\"Beta test\"}");
	expect_status(&r, 201);
	snprintf(env, sizeof(env), "%s", jstr(&r, "id"));
	cr_assert(strncmp(env, "env-", 4) == 0);
	cr_assert_str_eq(jstr(&r, "key"), "beta");
	cr_assert_str_eq(jstr(&r, "name"), "Beta");
	cr_assert(strlen(jstr(&r, "created_at")) == 20);
	vx_http_res_free(&r);
	r = req("POST", "/v1/environments", k_admin, "{\"key\":\"beta\"}");
	expect_error(&r, 409, "conflict", NULL);
	r = req("POST", "/v1/environments", k_admin, "{\"name\":\"x\"}");
	expect_error(&r, 400, "invalid_request", "key");

	/* A flag has state in the new environment; deleting the environment
	 * drops it from every flag. */
	new_flag("{\"key\":\"envd\",\"state\":{\"beta\":true}}", id);
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert(state_of(&r, "beta"));
	vx_http_res_free(&r);
	r = req("DELETE", vx_fmt("/v1/environments/%s", env), k_admin, NULL);
	ok_free(r, 204);
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_null(jget(jget(r.json, "state"), "beta"), "%s", r.body);
	vx_http_res_free(&r);
	r = req("DELETE", vx_fmt("/v1/environments/%s", env), k_admin, NULL);
	expect_error(&r, 404, "not_found", "environment_id");
}

/* ---- SDK ---- */

Test(platform, sdk)
{
	char id[32];
	vx_http_res r;
	const cJSON *flags;

	new_flag("{\"key\":\"checkout\",\"state\":{\"production\":true}}", id);
	new_flag("{\"key\":\"dark\",\"state\":{\"production\":false}}", NULL);
	new_flag("{\"key\":\"everyone\",\"state\":{\"production\":true}}", NULL);
	r = req("GET", "/v1/sdk/config?environment=production", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "environment"), "production");
	flags = jget(r.json, "flags");
	cr_assert(cJSON_IsTrue(jget(flags, "checkout")), "%s", r.body);
	cr_assert(cJSON_IsFalse(jget(flags, "dark")), "%s", r.body);
	cr_assert(strlen(jstr(&r, "updated_at")) == 20);
	vx_http_res_free(&r);
	r = req("GET", "/v1/sdk/config", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "environment");
	r = req("GET", "/v1/sdk/config?environment=moon", k_read, NULL);
	expect_error(&r, 404, "not_found", NULL);

	/* A rule on an extra user field: it reaches the core as an attribute. */
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"plan\",\"operator\":\"equals\",\"values\":[\"pro\"],"
	    "\"environment\":\"production\"}");
	ok_free(r, 201);
	r = req("PUT", vx_fmt("/v1/flags/%s", id), k_write, "{}");
	ok_free(r, 200);
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"id\":\"user-123\",\"email\":"
	    "\"john@company.com\",\"groups\":[\"beta-testers\"],\"country\":\"US\","
	    "\"plan\":\"pro\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "environment"), "production");
	flags = jget(r.json, "flags");
	cr_assert(cJSON_IsTrue(jget(flags, "checkout")), "%s", r.body);
	cr_assert(cJSON_IsFalse(jget(flags, "dark")), "%s", r.body);
	cr_assert(strlen(jstr(&r, "evaluated_at")) == 20);
	vx_http_res_free(&r);

	/* The environment now targets: a user no rule matches gets off. */
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u2\",\"plan\":\"free\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(jget(r.json, "flags"), "checkout")), "%s", r.body);
	cr_assert(cJSON_IsTrue(jget(jget(r.json, "flags"), "everyone")), "%s", r.body);
	vx_http_res_free(&r);

	r = req("POST", "/v1/sdk/evaluate", k_read, "{\"user\":{\"id\":\"u\"}}");
	expect_error(&r, 400, "invalid_request", "environment");
	r = req("POST", "/v1/sdk/evaluate", k_read, "{\"environment\":\"production\"}");
	expect_error(&r, 400, "invalid_request", "user");
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"id\":7}}");
	expect_error(&r, 400, "invalid_request", "user.id");
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"groups\":\"x\"}}");
	expect_error(&r, 400, "invalid_request", "user.groups");
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"nested\":[{\"a\":1}]}}");
	expect_error(&r, 400, "invalid_request", "user");
}

/* ---- analytics ---- */

Test(platform, analytics)
{
	char id[32];
	vx_http_res r;
	const cJSON *exp, *bd;

	new_flag("{\"key\":\"seen\",\"state\":{\"production\":true}}", id);
	r = req("POST", "/v1/analytics/exposure", k_write,
	    "{\"flag_key\":\"seen\",\"environment\":\"production\",\"user_id\":\"u1\","
	    "\"timestamp\":\"2025-04-07T18:10:00Z\",\"client_id\":\"web-app\"}");
	ok_free(r, 204);
	r = req("POST", "/v1/analytics/exposure", k_write,
	    "{\"flag_key\":\"ghost\",\"environment\":\"production\"}");
	expect_error(&r, 404, "not_found", "flag_key");
	r = req("POST", "/v1/analytics/exposure", k_write,
	    "{\"flag_key\":\"seen\",\"environment\":\"moon\"}");
	expect_error(&r, 404, "not_found", "environment");
	r = req("POST", "/v1/analytics/exposure", k_write, "{\"environment\":\"production\"}");
	expect_error(&r, 400, "invalid_request", "flag_key");

	r = req("GET", vx_fmt("/v1/analytics/flags/%s/stats?period=7d&environment=production", id),
	    k_read, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "flag_id"), id);
	cr_assert_str_eq(jstr(&r, "flag_key"), "seen");
	cr_assert_str_eq(jstr(&r, "period"), "7d");
	exp = jget(r.json, "exposures");
	bd = jget(exp, "breakdown");
	cr_assert(cJSON_IsNumber(jget(exp, "total")), "%s", r.body);
	cr_assert_eq(cJSON_GetArraySize(bd), 7, "%s", r.body);
	cr_assert_eq(strlen(bd->child->string), 10);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/analytics/flags/%s/stats?period=24h", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(jget(r.json, "exposures"), "breakdown")), 1);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/analytics/flags/%s/stats?period=30d", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(jget(r.json, "exposures"), "breakdown")), 30);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/analytics/flags/%s/stats?period=1y", id), k_read, NULL);
	expect_error(&r, 400, "invalid_request", "period");
	r = req("GET", "/v1/analytics/flags/flag-999999/stats", k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
}

/* ---- API keys ---- */

Test(platform, api_keys)
{
	char secret[128], kid[32];
	vx_http_res r;
	const cJSON *k;
	bool listed = false;

	r = req("POST", "/v1/api-keys", k_admin,
	    vx_fmt("{\"name\":\"ci\",\"role\":\"read\",\"project_id\":\"%s\"}", p1));
	expect_status(&r, 201);
	snprintf(secret, sizeof(secret), "%s", jstr(&r, "key"));
	snprintf(kid, sizeof(kid), "%s", jstr(&r, "id"));
	cr_assert(strncmp(kid, "key-", 4) == 0);
	cr_assert_str_eq(jstr(&r, "role"), "read");
	cr_assert_str_eq(jstr(&r, "project_id"), p1);
	vx_http_res_free(&r);

	r = req("GET", "/v1/flags", secret, NULL);
	ok_free(r, 200);

	r = req("GET", "/v1/api-keys", k_admin, NULL);
	expect_status(&r, 200);
	cJSON_ArrayForEach(k, jget(r.json, "api_keys"))
	{
		cr_assert_null(jget(k, "key"), "no secrets in the list: %s", r.body);
		if (strcmp(jget(k, "id")->valuestring, kid) == 0)
			listed = true;
	}
	cr_assert(listed, "%s", r.body);
	cr_assert_null(strstr(r.body, secret));
	vx_http_res_free(&r);

	r = req("POST", "/v1/api-keys", k_admin, "{\"name\":\"x\",\"role\":\"root\"}");
	expect_error(&r, 400, "invalid_request", "role");
	r = req("POST", "/v1/api-keys", k_admin, "{\"role\":\"read\"}");
	expect_error(&r, 400, "invalid_request", "name");
	/* A project key cannot make a global key, nor one for another
	 * project: naming none makes one for its own project. */
	r = req("POST", "/v1/api-keys", k_admin, "{\"name\":\"g\",\"role\":\"read\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "project_id"), p1, "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", "/v1/api-keys", k_admin,
	    vx_fmt("{\"name\":\"o\",\"role\":\"read\",\"project_id\":\"%s\"}", p2));
	expect_error(&r, 404, "not_found", NULL);

	r = req("DELETE", vx_fmt("/v1/api-keys/%s", kid), k_admin, NULL);
	ok_free(r, 204);
	r = req("GET", "/v1/flags", secret, NULL);
	expect_error(&r, 401, "unauthorized", NULL);
	r = req("DELETE", "/v1/api-keys/key-999999", k_admin, NULL);
	expect_error(&r, 404, "not_found", NULL);
	r = req("DELETE", "/v1/api-keys/flag-1", k_admin, NULL);
	expect_error(&r, 404, "not_found", "key_id");
}

/* ---- the limiter ---- */

Test(platform_limit, limit)
{
	vx_http_res r;
	const cJSON *e;

	for (int i = 0; i < 5; i++) {
		r = req("GET", "/v1/environments", k_read, NULL);
		ok_free(r, 200);
	}
	r = req("GET", "/v1/environments", k_read, NULL);
	expect_status(&r, 429);
	e = jget(r.json, "error");
	cr_assert_str_eq(jget(e, "code")->valuestring, "rate_limited", "%s", r.body);
	cr_assert_str_eq(jget(jget(e, "details"), "constraint")->valuestring, "rate_limit");
	vx_http_res_free(&r);
	/* Every route counts, and refused requests stay refused. */
	r = req("POST", "/v1/flags", k_read, "{\"key\":\"x\"}");
	expect_error(&r, 429, "rate_limited", NULL);
	/* Another key of the same project is unaffected. */
	r = req("GET", "/v1/environments", k_write, NULL);
	ok_free(r, 200);
	r = req("GET", "/v1/environments", k_other, NULL);
	ok_free(r, 200);
}

/* The window lives in vexild: two gateways share it. */
Test(platform_limit, two_gateways)
{
	char auth[300], url[1024];
	const char *hs[] = {auth, NULL};
	vx_http_req rq = {.method = "GET", .url = url, .headers = hs};
	vx_gateway g2;
	vx_http_res r;

	vx_gateway_start(&g2, &h, NULL, NULL, NULL);
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", k_read);
	for (int i = 0; i < 5; i++) {
		snprintf(url, sizeof(url), "%s/v1/environments", i % 2 ? g2.base : g.base);
		r = vx_http(&rq);
		ok_free(r, 200);
	}
	snprintf(url, sizeof(url), "%s/v1/environments", g2.base);
	r = vx_http(&rq);
	expect_error(&r, 429, "rate_limited", NULL);
	r = req("GET", "/v1/environments", k_read, NULL);
	expect_error(&r, 429, "rate_limited", NULL);
	cr_assert_eq(vx_gateway_stop(&g2), 0);
	unlink(g2.log);
}

/* ---- the rate-limit headers ---- */

struct heads {
	char limit[32], remaining[32], reset[32], retry[32];
};

static void
grab(const char *line, size_t len, const char *name, char *out)
{
	size_t nl = strlen(name), i = 0;

	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	line += nl + 1;
	len -= nl + 1;
	while (len > 0 && *line == ' ')
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	for (; i < len && i < 31; i++)
		out[i] = line[i];
	out[i] = '\0';
}

static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
	struct heads *hd = arg;

	grab(line, size * n, "X-RateLimit-Limit", hd->limit);
	grab(line, size * n, "X-RateLimit-Remaining", hd->remaining);
	grab(line, size * n, "X-RateLimit-Reset", hd->reset);
	grab(line, size * n, "Retry-After", hd->retry);
	return size * n;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One request with key; returns the status and fills the headers. */
static long
heads_of(const char *method, const char *path, const char *key, struct heads *hd)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hs = NULL;
	char auth[300];
	long status = 0;

	memset(hd, 0, sizeof(*hd));
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", key);
	hs = curl_slist_append(hs, auth);
	curl_easy_setopt(c, CURLOPT_URL, vx_fmt("%s%s", g.base, path));
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, hd);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	return status;
}

Test(platform_limit, every_admitted_response_carries_the_rate_headers)
{
	struct heads hd;
	long now = (long)time(NULL), reset;

	/* On every admitted response: 200, 404, 400 and the 429 alike. */
	cr_assert_eq(heads_of("GET", "/v1/environments", k_read, &hd), 200);
	cr_assert_str_eq(hd.limit, "5");
	cr_assert_str_eq(hd.remaining, "4");
	reset = atol(hd.reset);
	cr_assert(reset > now && reset <= now + 61, "reset %s is unix seconds", hd.reset);
	cr_assert_str_empty(hd.retry);
	cr_assert_eq(heads_of("GET", "/v1/flags/flag-999", k_read, &hd), 404);
	cr_assert_str_eq(hd.remaining, "3");
	cr_assert_eq(heads_of("GET", "/v1/flags?limit=0", k_read, &hd), 400);
	cr_assert_str_eq(hd.remaining, "2");
	cr_assert_eq(heads_of("GET", "/v1/environments", k_read, &hd), 200);
	cr_assert_eq(heads_of("GET", "/v1/environments", k_read, &hd), 200);
	cr_assert_str_eq(hd.remaining, "0");
	cr_assert_eq(heads_of("GET", "/v1/environments", k_read, &hd), 429);
	cr_assert_str_eq(hd.limit, "5");
	cr_assert_str_eq(hd.remaining, "0");
	cr_assert(atol(hd.retry) >= 1 && atol(hd.retry) <= 60, "Retry-After %s", hd.retry);
	/* Another key has its own window. */
	cr_assert_eq(heads_of("GET", "/v1/environments", k_write, &hd), 200);
	cr_assert_str_eq(hd.remaining, "4");
}

Test(platform_default_limit, the_101st_request_in_a_minute_answers_429)
{
	vx_http_res r;

	for (int i = 0; i < 100; i++) {
		r = req("GET", "/v1/environments", k_read, NULL);
		ok_free(r, 200);
	}
	r = req("GET", "/v1/environments", k_read, NULL);
	expect_error(&r, 429, "rate_limited", NULL);
	r = req("GET", "/v1/environments", k_write, NULL);
	ok_free(r, 200);
}

/* ---- one request, one write ---- */

/* p1's revision, read through libvexil. */
static uint64_t
rev(void)
{
	return vx_project_revision(h.admin, p1 + 5);
}

/* The request answers status and moves p1's revision by exactly writes. */
static vx_http_res
counted(
    const char *method, const char *path, const char *body, long status, uint64_t writes)
{
	uint64_t before = rev();
	vx_http_res r = req(method, path, k_admin, body);

	vx_expect_writes(
	    &r, status, before, rev(), writes, vx_fmt("%s %s", method, path));
	return r;
}

static void
counted_free(
    const char *method, const char *path, const char *body, long status, uint64_t writes)
{
	vx_http_res r = counted(method, path, body, status, writes);
	vx_http_res_free(&r);
}

/* The production config of flag key in p1, from the core. */
static Vexil__V1__FlagEnvConfig *
prod_config(const char *key, Vexil__V1__Flag **f)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	vx_status st;

	in.project = p1 + 5;
	in.key = (char *)key;
	cr_assert(vx_get_flag(h.admin, &in, f, &st) == 0, "%s", st.message);
	for (size_t i = 0; i < (*f)->n_envs; i++)
		if (strcmp((*f)->envs[i]->environment, "production") == 0)
			return (*f)->envs[i];
	cr_assert_fail("no production config");
	return NULL;
}

#define RULE_BODY                                                                        \
	"{\"type\":\"user\",\"attribute\":\"user_id\",\"operator\":\"equals\","          \
	"\"values\":[\"u1\"],\"environment\":\"production\"}"

Test(platform, every_write_request_makes_one_revision_and_a_read_none)
{
	char id[32], rule[32], env[32];
	vx_http_res r;

	r = counted("POST", "/v1/flags",
	    "{\"key\":\"counted\",\"state\":{\"production\":true}}", 201, 1);
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	counted_free("GET", "/v1/flags", NULL, 200, 0);
	counted_free("GET", vx_fmt("/v1/flags/%s", id), NULL, 200, 0);
	counted_free("PUT", vx_fmt("/v1/flags/%s", id),
	    "{\"name\":\"Counted\",\"description\":\"d\",\"tags\":[\"t\"]}", 200, 1);
	counted_free("PATCH", vx_fmt("/v1/flags/%s/state", id),
	    "{\"environment\":\"staging\",\"enabled\":true}", 200, 1);
	/* A rule and the environment's fallthrough: one write each way. */
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id), RULE_BODY, 201, 1);
	snprintf(rule, sizeof(rule), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	counted_free("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, rule), NULL, 204, 1);
	counted_free("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, rule), NULL, 404, 0);
	r = counted("POST", "/v1/environments", "{\"key\":\"qa\"}", 201, 1);
	snprintf(env, sizeof(env), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	counted_free("GET", "/v1/environments", NULL, 200, 0);
	counted_free("DELETE", vx_fmt("/v1/environments/%s", env), NULL, 204, 1);
	counted_free("GET", "/v1/sdk/config?environment=production", NULL, 200, 0);
	counted_free("POST", "/v1/sdk/evaluate",
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\"}}", 200, 0);
	counted_free("GET", vx_fmt("/v1/analytics/flags/%s/stats", id), NULL, 200, 0);
	/* Refused requests write nothing. */
	counted_free("POST", "/v1/flags", "{\"key\":\"bad key\"}", 400, 0);
	counted_free("POST", "/v1/flags", "{\"key\":\"counted\"}", 409, 0);
	counted_free("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"attribute\":\"a\",\"operator\":\"equals\",\"values\":[\"a\"],"
	    "\"environment\":\"nowhere\"}",
	    404, 0);
	counted_free("DELETE", vx_fmt("/v1/flags/%s", id), NULL, 204, 1);
}

/* A flag `key` in p1, enabled in production with n rules there; fills
 * its id and the rules' ids, and the Authorization header of k_write. */
static void
targeted_flag(const char *key, int n, char id[32], char rules[][32], char auth[300])
{
	vx_http_res r;

	snprintf(auth, 300, "Authorization: ApiKey %s", k_write);
	new_flag(vx_fmt("{\"key\":\"%s\",\"state\":{\"production\":true}}", key), id);
	for (int i = 0; i < n; i++) {
		r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write, RULE_BODY);
		expect_status(&r, 201);
		snprintf(rules[i], 32, "%s", jstr(&r, "id"));
		vx_http_res_free(&r);
	}
}

/* The issue's case: deleting a flag's last two rules at once left an
 * enabled flag serving off to everyone. */
Test(platform, deleting_the_last_two_rules_at_once_serves_on_to_everyone_again)
{
	for (int round = 0; round < 10; round++) {
		char id[32], rules[2][32], url[2][300], auth[300];
		const char *key = vx_fmt("race-%d", round), *hs[] = {auth, NULL};
		vx_http_req rq[2];
		vx_http_res res[2];
		Vexil__V1__FlagEnvConfig *cfg;
		Vexil__V1__Flag *f;

		targeted_flag(key, 2, id, rules, auth);
		for (int i = 0; i < 2; i++) {
			snprintf(url[i], sizeof(url[i]), "%s/v1/flags/%s/rules/%s",
			    g.base, id, rules[i]);
			rq[i] = (vx_http_req){
			    .method = "DELETE", .url = url[i], .headers = hs};
		}
		vx_http_race(rq, 2, res);
		for (int i = 0; i < 2; i++) {
			expect_status(&res[i], 204);
			vx_http_res_free(&res[i]);
		}
		cfg = prod_config(key, &f);
		cr_assert_eq(cfg->n_rules, 0);
		cr_assert(cfg->enabled);
		cr_assert_str_eq(
		    cfg->default_variant, "on", "round %d: no rules serve on", round);
		vx_free(f);
	}
}

/* The issue's other case: deleting one rule while adding another left a
 * targeted flag on for everyone. */
Test(platform, deleting_a_rule_while_adding_one_keeps_the_flag_targeted)
{
	for (int round = 0; round < 10; round++) {
		char id[32], rule[1][32], url[2][300], auth[300];
		const char *key = vx_fmt("swap-%d", round), *hs[] = {auth, NULL};
		vx_http_req rq[2];
		vx_http_res res[2], r;
		Vexil__V1__FlagEnvConfig *cfg;
		Vexil__V1__Flag *f;

		targeted_flag(key, 1, id, rule, auth);
		snprintf(url[0], sizeof(url[0]), "%s/v1/flags/%s/rules/%s", g.base, id,
		    rule[0]);
		snprintf(url[1], sizeof(url[1]), "%s/v1/flags/%s/rules", g.base, id);
		rq[0] = (vx_http_req){.method = "DELETE", .url = url[0], .headers = hs};
		rq[1] = (vx_http_req){
		    .method = "POST", .url = url[1], .headers = hs, .body = RULE_BODY};
		vx_http_race(rq, 2, res);
		expect_status(&res[0], 204);
		expect_status(&res[1], 201);
		vx_http_res_free(&res[0]);
		vx_http_res_free(&res[1]);
		cfg = prod_config(key, &f);
		cr_assert_eq(cfg->n_rules, 1);
		cr_assert_str_eq(
		    cfg->default_variant, "off", "round %d: a rule targets", round);
		vx_free(f);
		/* And served so: the rule's user gets on, anyone else off. */
		r = req("POST", "/v1/sdk/evaluate", k_read,
		    "{\"environment\":\"production\",\"user\":{\"id\":\"u2\"}}");
		expect_status(&r, 200);
		cr_assert(cJSON_IsFalse(jget(jget(r.json, "flags"), key)), "%s", r.body);
		vx_http_res_free(&r);
	}
}

/* ---- one credential and id story ---- */

/* The rate limit is the key's, whichever API it calls: a key refused on
 * /v1 is refused by the FastAPI dialects too, in their error format. */
Test(platform_limit, a_key_over_its_limit_is_refused_by_every_dialect)
{
	char auth[300];
	const char *hs[] = {auth, NULL};
	vx_http_res r;

	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", k_read);
	for (int i = 0; i < 3; i++)
		ok_free(req("GET", "/v1/environments", k_read, NULL), 200);
	/* The FastAPI dialects count too: requests 4 and 5 of the minute. */
	ok_free(
	    req_h("GET", vx_fmt("/feature-toggles/?application=%s", p1), hs, NULL), 200);
	ok_free(req_h("GET", "/api/feature-flags/", hs, NULL), 404);
	r = req("GET", "/v1/environments", k_read, NULL);
	expect_error(&r, 429, "rate_limited", NULL);
	r = req_h("GET", vx_fmt("/feature-toggles/?application=%s", p1), hs, NULL);
	expect_status(&r, 429);
	cr_assert(r.retry_after[0], "Retry-After on the 429");
	cr_assert(cJSON_IsString(jget(r.json, "detail")), "FastAPI's body: %s", r.body);
	vx_http_res_free(&r);
	r = req_h("POST", "/api/feature-flags/", hs,
	    "{\"name_flag\":\"x\",\"strategy\":\"s\"}");
	expect_status(&r, 429);
	cr_assert(cJSON_IsString(jget(r.json, "detail")), "%s", r.body);
	vx_http_res_free(&r);
}

/* The document names no project: the global admin key acts on the
 * `default` project, and project_id still selects another. */
Test(platform, the_global_admin_key_acts_on_the_default_project)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;
	vx_http_res r;

	r = req("POST", "/v1/flags", h.key, "{\"key\":\"in_default\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "project_id"), "proj-1", "%s", r.body);
	vx_http_res_free(&r);
	in.project = "default";
	in.key = "in_default";
	cr_assert(vx_get_flag(h.admin, &in, &f, &st) == 0, "%s", st.message);
	vx_free(f);
	r = req("GET", "/v1/environments", h.key, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "environments")), 3, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags/flag-1", h.key, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "key"), "average_user");
	vx_http_res_free(&r);
	r = req(
	    "POST", vx_fmt("/v1/flags?project_id=%s", p2), h.key, "{\"key\":\"in_p2\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "project_id"), p2);
	vx_http_res_free(&r);
}

/* One identity across the APIs: the ids the other dialects print name the
 * same objects here. */
Test(platform, ids_in_the_other_dialects_forms_name_the_same_objects)
{
	char id[32], uuid[40], rules[1][32], auth[300];
	unsigned long long n, rn;
	vx_http_res r;

	targeted_flag("forms", 1, id, rules, auth);
	n = strtoull(id + 5, NULL, 10);
	rn = strtoull(rules[0] + 5, NULL, 10);
	/* The flag-service form: kind 3 (flag), the id's low 48 bits. */
	snprintf(uuid, sizeof(uuid), "00000003-0000-4000-8000-%012llx", n);
	r = req("GET", vx_fmt("/v1/flags/%s", uuid), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), id);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/v1/flags/%llu", n), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), id);
	vx_http_res_free(&r);
	/* The project as the table API's number and the flag-service UUID. */
	r = req("GET", vx_fmt("/v1/flags/%s?project_id=%s", id, p1 + 5), k_read, NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req("GET",
	    vx_fmt("/v1/flags/%s?project_id=00000002-0000-4000-8000-%012llx", id,
	        strtoull(p1 + 5, NULL, 10)),
	    k_read, NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	/* A rule by its UUID (kind 4). */
	snprintf(uuid, sizeof(uuid), "00000004-0000-4000-8000-%012llx", rn);
	r = req("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, uuid), k_write, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	/* Still no id of the wrong kind, leading zeros or garbage. */
	r = req("GET", vx_fmt("/v1/flags/rule-%llu", n), k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("GET", vx_fmt("/v1/flags/0%llu", n), k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	snprintf(uuid, sizeof(uuid), "00000002-0000-4000-8000-%012llx", n);
	r = req("GET", vx_fmt("/v1/flags/%s", uuid), k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
}

/* ---- text the core refuses ---- */

Test(platform, text_that_is_not_utf8_or_holds_nul_is_refused_naming_the_field)
{
	char id[32];
	vx_http_res r;

	/* A NUL escape is refused, not cut to "nul". */
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"nul\\u0000tail\"}");
	expect_error(&r, 400, "invalid_request", "key");
	r = req("GET", "/v1/flags/nul", k_read, NULL);
	expect_status(&r, 404);
	vx_http_res_free(&r);
	/* Invalid UTF-8: the core's refusal, in the document's field names. */
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"ok\",\"name\":\"bad\xff\"}");
	expect_error(&r, 400, "invalid_request", "name");
	r = req(
	    "POST", "/v1/flags", k_write, "{\"key\":\"ok\",\"tags\":[\"a\",\"\xc3\"]}");
	expect_error(&r, 400, "invalid_request", "tags");
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"bad key\"}");
	expect_error(&r, 400, "invalid_request", "key");
	new_flag("{\"key\":\"ok\"}", id);
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"attribute\":\"email\",\"operator\":\"equals\",\"values\":[\"\xe2\x82\"],"
	    "\"environment\":\"production\"}");
	expect_error(&r, 400, "invalid_request", "values");
	/* Nothing of it was stored: the list is valid JSON with one flag. */
	r = req("GET", "/v1/flags", k_read, NULL);
	expect_status(&r, 200);
	cr_assert(r.json != NULL, "valid JSON: %s", r.body);
	cr_assert_eq(jnum(&r, "total"), 1, "%s", r.body);
	vx_http_res_free(&r);
	/* A value echoed in a message is escaped: the body stays JSON. */
	r = req(
	    "POST", "/v1/flags", k_write, "{\"key\":\"e\",\"state\":{\"\xff\x01\":1}}");
	expect_error(&r, 400, "invalid_request", "state");
	r = req(
	    "POST", "/v1/flags", k_write, "{\"key\":\"e\",\"state\":{\"\xff\x01\":1}}");
	cr_assert(strstr(r.body, "\\\\xff\\\\x01") != NULL, "%s", r.body);
	vx_http_res_free(&r);
}

/*
 * Vexil's extensions to the flag JSON: a flag shows the flags it requires
 * per environment, and its rules the segments they name.
 */
Test(platform, a_flag_shows_its_prerequisites_and_its_rules_segments)
{
	Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__Prerequisite p = VEXIL__V1__PREREQUISITE__INIT, *pp[] = {&p};
	Vexil__V1__CreateSegmentRequest sin = VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
	Vexil__V1__Segment seg = VEXIL__V1__SEGMENT__INIT, *sout;
	Vexil__V1__CreateRuleRequest rin = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule rule = VEXIL__V1__RULE__INIT, *rout;
	Vexil__V1__Flag *out;
	char *mask[] = {"prerequisites"}, *vars[] = {"on"}, *segs[] = {"staff"}, id[32];
	const cJSON *pre, *prod, *rules;
	vx_status st;
	vx_http_res r;

	r = req("POST", "/v1/flags", k_write, "{\"key\":\"parent\",\"name\":\"Parent\"}");
	expect_status(&r, 201);
	cr_assert(cJSON_GetArraySize(jget(r.json, "prerequisites")) == 0, "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", "/v1/flags", k_write, "{\"key\":\"child\",\"name\":\"Child\"}");
	expect_status(&r, 201);
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);

	p.flag_key = "parent";
	p.variants = vars;
	p.n_variants = 1;
	cfg.environment = "production";
	cfg.prerequisites = pp;
	cfg.n_prerequisites = 1;
	in.project = "p1";
	in.key = "child";
	in.update = &cfg;
	in.update_mask = mask;
	in.n_update_mask = 1;
	cr_assert(vx_update_flag_env(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	seg.name = "staff";
	sin.project = "p1";
	sin.segment = &seg;
	cr_assert(vx_create_segment(h.admin, &sin, &sout, &st) == 0, "%s", st.message);
	vx_free(sout);
	rule.enabled = true;
	rule.variant = "on";
	rule.segments = segs;
	rule.n_segments = 1;
	rin.project = "p1";
	rin.flag_key = "child";
	rin.environment = "production";
	rin.rule = &rule;
	cr_assert(vx_create_rule(h.admin, &rin, &rout, &st) == 0, "%s", st.message);
	vx_free(rout);

	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	pre = jget(r.json, "prerequisites");
	cr_assert(cJSON_IsObject(pre), "%s", r.body);
	cr_assert_null(
	    jget(pre, "staging"), "only environments that have any: %s", r.body);
	prod = jget(pre, "production");
	cr_assert_eq(cJSON_GetArraySize(prod), 1, "%s", r.body);
	cr_expect_str_eq(
	    jget(cJSON_GetArrayItem(prod, 0), "flag")->valuestring, "parent");
	cr_expect_str_eq(jget(cJSON_GetArrayItem(prod, 0), "when")->valuestring, "on");
	cr_expect_str_eq(
	    cJSON_GetArrayItem(jget(cJSON_GetArrayItem(prod, 0), "variants"), 0)
	        ->valuestring,
	    "on");
	rules = jget(r.json, "rules");
	cr_assert_eq(cJSON_GetArraySize(rules), 1, "%s", r.body);
	cr_expect_str_eq(
	    cJSON_GetArrayItem(jget(cJSON_GetArrayItem(rules, 0), "segments"), 0)
	        ->valuestring,
	    "staff");
	vx_http_res_free(&r);
}

/* ---- extensions: scheduled writes (?at=) and stale flags ---- */

/* The flag's state in env, read through the API. */
static bool
state_now(const char *id, const char *env)
{
	vx_http_res r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	bool on;

	expect_status(&r, 200);
	on = state_of(&r, env);
	vx_http_res_free(&r);
	return on;
}

Test(platform, a_write_with_at_is_scheduled_and_made_at_that_time)
{
	char id[32], at[VX_TIME_LEN], sid[32];
	vx_http_res r;
	const cJSON *l;

	new_flag("{\"key\":\"later\"}", id);
	vx_format_time_ms(at, vx_now_ms() + 4000); /* room for the list below first */
	r = req("PATCH", vx_fmt("/v1/flags/%s/state?at=%s", id, at), k_write,
	    "{\"environment\":\"staging\",\"enabled\":true}");
	expect_status(&r, 202);
	snprintf(sid, sizeof(sid), "%s", jstr(&r, "id"));
	cr_assert_eq(strncmp(sid, "schedule-", 9), 0, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "state"), "pending");
	cr_assert_str_eq(jstr(&r, "operation"), "SetFlagEnabled");
	cr_assert_str_eq(jstr(&r, "target"), "later");
	vx_http_res_free(&r);

	r = req("GET", "/v1/schedules", k_read, NULL);
	expect_status(&r, 200);
	l = jget(r.json, "schedules");
	cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", r.body);
	cr_assert_str_eq(jget(cJSON_GetArrayItem(l, 0), "id")->valuestring, sid);
	vx_http_res_free(&r);

	for (int i = 0; i < 600 && !state_now(id, "staging"); i++)
		usleep(50000);
	cr_assert(state_now(id, "staging"), "the scheduled write was never made");
	r = req("GET", "/v1/schedules", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "schedules")), 0, "%s", r.body);
	vx_http_res_free(&r);
}

Test(platform, scheduled_writes_are_checked_when_made_and_can_be_cancelled)
{
	char id[32], at[VX_TIME_LEN], sid[32];
	vx_http_res r;

	new_flag("{\"key\":\"checked\"}", id);
	vx_format_time_ms(at, vx_now_ms() + 3600 * 1000);
	r = req("PATCH", vx_fmt("/v1/flags/%s/state?at=tomorrow", id), k_write,
	    "{\"environment\":\"staging\",\"enabled\":true}");
	expect_error(&r, 400, "invalid_request", "at");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state?at=2020-01-01T00:00:00Z", id),
	    k_write, "{\"environment\":\"staging\",\"enabled\":true}");
	expect_error(&r, 400, "invalid_request", "at");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state?at=%s", id, at), k_write,
	    "{\"environment\":\"moon\",\"enabled\":true}");
	cr_assert(r.status == 404 || r.status == 400, "%s", r.body);
	expect_error(&r, r.status, NULL, "environment");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state?at=%s", id, at), k_read,
	    "{\"environment\":\"staging\",\"enabled\":true}");
	expect_error(&r, 403, "forbidden", NULL);
	r = req("DELETE", vx_fmt("/v1/environments/env-1?at=%s", at), k_write, NULL);
	cr_assert(r.status == 403 || r.status == 404, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/v1/schedules", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "schedules")), 0, "%s", r.body);
	vx_http_res_free(&r);

	r = req("DELETE", vx_fmt("/v1/flags/%s?at=%s", id, at), k_write, NULL);
	expect_status(&r, 202);
	snprintf(sid, sizeof(sid), "%s", jstr(&r, "id"));
	cr_assert_str_eq(jstr(&r, "operation"), "DeleteFlag");
	vx_http_res_free(&r);
	r = req("DELETE", vx_fmt("/v1/schedules/%s", sid), k_other, NULL);
	expect_error(&r, 404, "not_found", "schedule_id");
	r = req("DELETE", vx_fmt("/v1/schedules/%s", sid), k_read, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	ok_free(req("DELETE", vx_fmt("/v1/schedules/%s", sid), k_write, NULL), 204);
	r = req("DELETE", vx_fmt("/v1/schedules/%s", sid), k_write, NULL);
	expect_error(&r, 404, "not_found", "schedule_id");
	ok_free(req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL), 200);
}

Test(platform, stale_flags_report)
{
	char used[32], unused[32];
	const cJSON *flags, *f;
	vx_http_res r;
	bool saw_used = false, saw_unused = false;

	new_flag("{\"key\":\"used\",\"state\":{\"production\":true}}", used);
	new_flag("{\"key\":\"unused\"}", unused);
	r = req("GET", "/v1/flags/stale?days=7", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "days"), 7);
	cr_assert_eq(strlen(jstr(&r, "since")), 10, "%s", r.body);
	flags = jget(r.json, "flags");
	cJSON_ArrayForEach(f, flags)
	{
		const char *k = jget(f, "key")->valuestring;
		cr_assert_str_eq(
		    jget(f, "reason")->valuestring, "not_evaluated", "%s", r.body);
		cr_assert(cJSON_IsNull(jget(jget(f, "last_evaluated"), "production")),
		    "%s", r.body);
		saw_used |= strcmp(k, "used") == 0;
		saw_unused |= strcmp(k, "unused") == 0;
	}
	cr_assert(saw_used && saw_unused, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags/stale?days=0", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "days");
	r = req("GET", "/v1/flags/stale", k_other, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "flags")), 0, "%s", r.body);
	vx_http_res_free(&r);
}

/* ---- change requests (docs/teams.md) ---- */

/* Makes `env` of p1 protected (or not), as the harness's admin. */
static void
protect_env(const char *env, bool on)
{
	Vexil__V1__UpdateEnvironmentRequest in =
	    VEXIL__V1__UPDATE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment upd = VEXIL__V1__ENVIRONMENT__INIT, *out;
	char *mask[] = {"protected"};
	vx_status st;

	in.project = "p1";
	in.key = (char *)env;
	upd.protected_ = on;
	in.update = &upd;
	in.update_mask = mask;
	in.n_update_mask = 1;
	cr_assert(vx_update_environment(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

/* A toggle of flag id in production that protection holds: the change
 * request's id ("change-<n>") into cid. */
static void
held_toggle(const char *id, bool on, char cid[32])
{
	vx_http_res r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    on ? "{\"environment\":\"production\",\"enabled\":true}"
	       : "{\"environment\":\"production\",\"enabled\":false}");
	const cJSON *e = jget(r.json, "error");
	unsigned long long n = 0;

	expect_status(&r, 400);
	cr_assert(cJSON_IsString(jget(e, "message")), "%s", r.body);
	cr_assert_eq(
	    sscanf(jget(e, "message")->valuestring, "change request %llu opened", &n), 1,
	    "%s", r.body);
	snprintf(cid, 32, "change-%llu", n);
	vx_http_res_free(&r);
}

static int
open_count(void)
{
	vx_http_res r = req("GET", "/v1/change-requests", k_read, NULL);
	int n;

	expect_status(&r, 200);
	n = cJSON_GetArraySize(jget(r.json, "change_requests"));
	vx_http_res_free(&r);
	return n;
}

Test(platform, change_requests_are_listed_commented_and_approved_by_another_key)
{
	char id[32], cid[32];
	const cJSON *l, *c;
	vx_http_res r;

	new_flag("{\"key\":\"guarded\"}", id);
	protect_env("production", true);
	held_toggle(id, true, cid);
	cr_assert(!state_now(id, "production"), "held, not made");

	r = req("GET", "/v1/change-requests", k_read, NULL);
	expect_status(&r, 200);
	l = jget(r.json, "change_requests");
	cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", r.body);
	c = cJSON_GetArrayItem(l, 0);
	cr_assert_str_eq(jget(c, "id")->valuestring, cid);
	cr_assert_str_eq(jget(c, "state")->valuestring, "open");
	cr_assert_str_eq(jget(c, "environment")->valuestring, "production");
	cr_assert_str_eq(jget(c, "operation")->valuestring, "SetFlagEnabled");
	cr_assert_str_eq(jget(c, "target")->valuestring, "guarded");
	cr_assert(cJSON_IsNull(jget(c, "at")), "%s", r.body);
	vx_http_res_free(&r);

	r = req("POST", vx_fmt("/v1/change-requests/%s/comments", cid), k_read,
	    "{\"text\":\"after the freeze\"}");
	expect_status(&r, 201);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "comments")), 1, "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", vx_fmt("/v1/change-requests/%s/comments", cid), k_read,
	    "{\"text\":\"\"}");
	expect_error(&r, 400, NULL, "text");

	/* Not its author; not a key without admin; a stranger sees nothing. */
	r = req("POST", vx_fmt("/v1/change-requests/%s/approve", cid), k_write, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req("POST", vx_fmt("/v1/change-requests/%s/approve", cid), k_other, NULL);
	expect_error(&r, 404, "not_found", "change_id");
	cr_assert(!state_now(id, "production"));

	r = req("POST", vx_fmt("/v1/change-requests/%s/approve", cid), k_admin, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "state"), "approved");
	cr_assert(strstr(jstr(&r, "approved_by"), "apikey:") != NULL, "%s", r.body);
	vx_http_res_free(&r);
	cr_assert(state_now(id, "production"), "approved: made");
	cr_assert_eq(open_count(), 0);
	r = req("POST", vx_fmt("/v1/change-requests/%s/approve", cid), k_admin, NULL);
	expect_error(&r, 404, "not_found", "change_id");
}

Test(platform, stale_withdrawn_and_rejected_change_requests)
{
	char id[32], stale[32], other[32];
	vx_http_res r;

	new_flag("{\"key\":\"held\"}", id);
	protect_env("production", true);
	held_toggle(id, true, stale);
	held_toggle(id, true, other);
	cr_assert_eq(open_count(), 2);

	/* An admin key bypasses protection; the flag has changed since. */
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_admin,
	    "{\"environment\":\"production\",\"enabled\":true}");
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req("POST", vx_fmt("/v1/change-requests/%s/approve", stale), k_admin, NULL);
	expect_error(&r, 409, NULL, "change_id");

	/* Only the author withdraws; a read key cannot reject. */
	r = req("POST", vx_fmt("/v1/change-requests/%s/withdraw", stale), k_admin, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req("POST", vx_fmt("/v1/change-requests/%s/withdraw", stale), k_write, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	r = req("POST", vx_fmt("/v1/change-requests/%s/reject", other), k_read, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req("POST", vx_fmt("/v1/change-requests/%s/reject", other), k_admin, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	cr_assert_eq(open_count(), 0);
	r = req("POST", "/v1/change-requests/change-x/reject", k_admin, NULL);
	expect_error(&r, 404, "not_found", "change_id");
}

/* ---- Vexil's extensions for the admin UI (docs/ui.md) ---- */

/* Signs up and in through the flag-service API; fills "Bearer <token>". */
static void
sign_in(const char *email, char auth[600])
{
	const char *body = vx_fmt("{\"email\":\"%s\",\"password\":\"secret-pw\"}", email);
	vx_http_res r = req_h("POST", "/auth/register", NULL, body);

	expect_status(&r, 201);
	vx_http_res_free(&r);
	r = req_h("POST", "/auth/login", NULL, body);
	expect_status(&r, 200);
	snprintf(auth, 600, "Authorization: Bearer %s", jstr(&r, "token"));
	vx_http_res_free(&r);
}

Test(platform, a_signed_in_user_works_with_its_token_on_its_own_projects_only)
{
	char auth[600], other[600], pid[32];
	const char *hs[] = {auth, NULL}, *hs_other[] = {other, NULL};
	vx_http_res r;
	uint64_t before;

	sign_in("ann@example.com", auth);
	sign_in("bob@example.com", other);
	/* A new user has its own `default` project and sees nothing else. */
	r = req_h("GET", "/v1/projects", hs, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "projects")), 1, "%s", r.body);
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(jget(r.json, "projects"), 0), "name")->valuestring,
	    "default");
	vx_http_res_free(&r);

	r = req_h(
	    "POST", "/v1/projects", hs, "{\"name\":\"shop\",\"description\":\"d\"}");
	expect_status(&r, 201);
	snprintf(pid, sizeof(pid), "%s", jstr(&r, "id"));
	cr_assert_str_eq(jstr(&r, "name"), "shop");
	cr_assert(strncmp(jstr(&r, "sdk_key"), "sdk_", 4) == 0, "%s", r.body);
	vx_http_res_free(&r);
	r = req_h("POST", "/v1/projects", hs, "{\"description\":\"no name\"}");
	expect_error(&r, 400, "invalid_request", "name");

	/* A flag write with the token is one core write, as with a key. */
	before = vx_project_revision(h.admin, pid + 5);
	r = req_h("POST", "/v1/flags", hs,
	    vx_fmt("{\"project_id\":\"%s\",\"key\":\"checkout\"}", pid));
	vx_expect_writes(&r, 201, before, vx_project_revision(h.admin, pid + 5), 1,
	    "POST /v1/flags with a token");
	vx_http_res_free(&r);

	/* Another user's project does not exist for this one. */
	r = req_h("GET", vx_fmt("/v1/flags?project_id=%s", pid), hs_other, NULL);
	expect_error(&r, 404, "not_found", "project_id");
	r = req_h("GET", "/v1/projects", hs_other, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "projects")), 1, "%s", r.body);
	vx_http_res_free(&r);
	/* A key of a project lists that project only. */
	r = req("GET", "/v1/projects", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "projects")), 1, "%s", r.body);
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(jget(r.json, "projects"), 0), "id")->valuestring, p1);
	vx_http_res_free(&r);
	/* A read key may not create a project. */
	r = req("POST", "/v1/projects", k_read, "{\"name\":\"nope\"}");
	cr_assert(r.status == 403 || r.status == 404, "%ld %s", r.status, r.body);
	vx_http_res_free(&r);
}

/* The environment of project pid (as auth sees it) with key, its id into id. */
static void
env_id_of(const char *const *hs, const char *pid, const char *key, char id[32])
{
	vx_http_res r =
	    req_h("GET", vx_fmt("/v1/environments?project_id=%s", pid), hs, NULL);
	const cJSON *e;

	expect_status(&r, 200);
	id[0] = '\0';
	cJSON_ArrayForEach(e,
	    jget(r.json, "environments")) if (strcmp(jget(e, "key")->valuestring, key) ==
	                                      0)
	    snprintf(id, 32, "%s", jget(e, "id")->valuestring);
	cr_assert(id[0], "%s in %s", key, r.body);
	vx_http_res_free(&r);
}

Test(platform, members_and_protection_through_the_extensions)
{
	char auth[600], other[600], pid[32], fid[32], env[32], mid[32];
	const char *hs[] = {auth, NULL}, *hb[] = {other, NULL};
	const cJSON *c;
	vx_http_res r;
	unsigned long long n = 0;
	uint64_t before;

	sign_in("mann@example.com", auth);
	sign_in("mbob@example.com", other);
	r = req_h("POST", "/v1/projects", hs, "{\"name\":\"team\"}");
	expect_status(&r, 201);
	snprintf(pid, sizeof(pid), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	r = req_h("POST", "/v1/flags", hs,
	    vx_fmt("{\"project_id\":\"%s\",\"key\":\"f\"}", pid));
	expect_status(&r, 201);
	snprintf(fid, sizeof(fid), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);

	/* Bad input names its field and adds no one. */
	r = req_h("POST", "/v1/members", hs,
	    vx_fmt("{\"project_id\":\"%s\",\"email\":\"mbob@example.com\",\"role\":"
	           "\"boss\"}",
	        pid));
	expect_error(&r, 400, "invalid_request", "role");
	r = req_h("POST", "/v1/members", hs,
	    vx_fmt("{\"project_id\":\"%s\",\"email\":\"nobody@example.com\",\"role\":"
	           "\"write\"}",
	        pid));
	cr_assert(r.status == 400 || r.status == 404, "%ld %s", r.status, r.body);
	expect_error(&r, r.status, NULL, "email");
	r = req_h("GET", vx_fmt("/v1/flags?project_id=%s", pid), hb, NULL);
	expect_error(&r, 404, "not_found", "project_id");

	/* Added, bob sees the project with his role. */
	before = vx_project_revision(h.admin, pid + 5);
	r = req_h("POST", "/v1/members", hs,
	    vx_fmt("{\"project_id\":\"%s\",\"email\":\"mbob@example.com\",\"role\":"
	           "\"write\"}",
	        pid));
	vx_expect_writes(&r, 201, before, vx_project_revision(h.admin, pid + 5), 1,
	    "POST /v1/members");
	cr_assert_str_eq(jstr(&r, "role"), "write");
	cr_assert_str_eq(jstr(&r, "email"), "mbob@example.com");
	snprintf(mid, sizeof(mid), "%s", jstr(&r, "id"));
	cr_assert(strncmp(mid, "user-", 5) == 0, "%s", r.body);
	vx_http_res_free(&r);
	r = req_h("GET", vx_fmt("/v1/members?project_id=%s", pid), hb, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "members")), 2, "%s", r.body);
	c = cJSON_GetArrayItem(jget(r.json, "members"), 0);
	cr_assert_str_eq(jget(c, "email")->valuestring, "mann@example.com");
	cr_assert_str_eq(jget(c, "role")->valuestring, "admin");
	vx_http_res_free(&r);
	r = req_h("POST", "/v1/members", hb,
	    vx_fmt("{\"project_id\":\"%s\",\"email\":\"mbob@example.com\",\"role\":"
	           "\"admin\"}",
	        pid));
	expect_error(&r, 403, "forbidden", NULL);

	/* Only an admin protects; the environment says it is protected. */
	env_id_of(hs, pid, "production", env);
	r = req_h("PATCH", vx_fmt("/v1/environments/%s?project_id=%s", env, pid), hb,
	    "{\"protected\":true}");
	expect_error(&r, 403, "forbidden", NULL);
	r = req_h("PATCH", vx_fmt("/v1/environments/%s?project_id=%s", env, pid), hs,
	    "{\"protected\":true}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(r.json, "protected")), "%s", r.body);
	vx_http_res_free(&r);

	/* Bob's delete is held, with its diff; Ann approves it. */
	before = vx_project_revision(h.admin, pid + 5);
	r = req_h("DELETE", vx_fmt("/v1/flags/%s?project_id=%s", fid, pid), hb, NULL);
	expect_status(&r, 400);
	cr_assert_eq(sscanf(jget(jget(r.json, "error"), "message")->valuestring,
	                 "change request %llu opened", &n),
	    1, "%s", r.body);
	vx_http_res_free(&r);
	cr_assert_eq(vx_project_revision(h.admin, pid + 5), before, "held: no write");
	r = req_h("GET", vx_fmt("/v1/change-requests?project_id=%s", pid), hs, NULL);
	expect_status(&r, 200);
	c = cJSON_GetArrayItem(jget(r.json, "change_requests"), 0);
	cr_assert_str_eq(jget(c, "operation")->valuestring, "DeleteFlag");
	cr_assert(
	    strstr(jget(c, "diff")->valuestring, "production.enabled: off → (none)"),
	    "%s", r.body);
	vx_http_res_free(&r);
	r = req_h("POST",
	    vx_fmt("/v1/change-requests/change-%llu/approve?project_id=%s", n, pid), hb,
	    NULL);
	expect_error(&r, 403, "forbidden", NULL);
	r = req_h("POST",
	    vx_fmt("/v1/change-requests/change-%llu/approve?project_id=%s", n, pid), hs,
	    NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req_h("GET", vx_fmt("/v1/flags/%s?project_id=%s", fid, pid), hs, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	/* Deleting production waits for its protection to be lifted. */
	r = req_h(
	    "DELETE", vx_fmt("/v1/environments/%s?project_id=%s", env, pid), hs, NULL);
	expect_error(&r, 400, NULL, "key");

	/* Role changes and removal take effect on the next call. */
	r = req_h("PATCH", vx_fmt("/v1/members/%s?project_id=%s", mid, pid), hs,
	    "{\"role\":\"read\"}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "role"), "read");
	vx_http_res_free(&r);
	r = req_h("POST", "/v1/flags", hb,
	    vx_fmt("{\"project_id\":\"%s\",\"key\":\"g\"}", pid));
	expect_error(&r, 403, "forbidden", NULL);
	r = req_h(
	    "DELETE", vx_fmt("/v1/members/user-999999?project_id=%s", pid), hs, NULL);
	cr_assert_eq(r.status, 404, "%s", r.body);
	vx_http_res_free(&r);
	r = req_h("DELETE", vx_fmt("/v1/members/%s?project_id=%s", mid, pid), hs, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	r = req_h("GET", vx_fmt("/v1/members?project_id=%s", pid), hb, NULL);
	expect_error(&r, 404, "not_found", "project_id");
}

Test(platform, search_finds_flags_by_key_name_or_tag_and_pages_the_matches)
{
	vx_http_res r;

	new_flag("{\"key\":\"new-checkout\",\"name\":\"New checkout\"}", NULL);
	new_flag("{\"key\":\"dark-mode\",\"name\":\"Dark CHECKOUT theme\"}", NULL);
	new_flag("{\"key\":\"banner\",\"tags\":[\"checkout-team\"]}", NULL);
	new_flag("{\"key\":\"other\",\"tags\":[\"web\"]}", NULL);

	r = req("GET", "/v1/flags?q=Checkout", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 3, "%s", r.body);
	vx_http_res_free(&r);
	/* Paging counts the matches only. */
	r = req("GET", "/v1/flags?q=checkout&limit=2&offset=2", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 3, "%s", r.body);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "flags")), 1, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?tag=web", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 1, "%s", r.body);
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(jget(r.json, "flags"), 0), "key")->valuestring,
	    "other");
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?tag=web&q=checkout", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 0, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/v1/flags?q=zzz", k_read, NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "total"), 0, "%s", r.body);
	vx_http_res_free(&r);
}

Test(platform, the_audit_log_lists_who_changed_what_newest_first)
{
	char id[32];
	vx_http_res r;
	const cJSON *e;
	uint64_t before;

	new_flag("{\"key\":\"audited\"}", id);
	new_flag("{\"key\":\"bystander\"}", NULL);
	ok_free(req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	            "{\"environment\":\"production\",\"enabled\":true}"),
	    200);

	/* The core's rule: reading the audit log takes more than a read key. */
	r = req("GET", "/v1/audit", k_read, NULL);
	expect_error(&r, 403, "forbidden", NULL);
	before = vx_project_revision(h.admin, "p1");
	r = req("GET", "/v1/audit?target=audited", k_admin, NULL);
	vx_expect_writes(
	    &r, 200, before, vx_project_revision(h.admin, "p1"), 0, "GET /v1/audit");
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "entries")), 2, "%s", r.body);
	e = cJSON_GetArrayItem(jget(r.json, "entries"), 0);
	cr_assert_str_eq(jget(e, "kind")->valuestring, "FLAG_TOGGLED", "%s", r.body);
	cr_assert_str_eq(jget(e, "target")->valuestring, "audited");
	cr_assert(
	    strncmp(jget(e, "actor")->valuestring, "apikey:", 7) == 0, "%s", r.body);
	cr_assert(strstr(jget(e, "method")->valuestring, "SetFlagEnabled"), "%s", r.body);
	/* What changed, in words: the field, before and after. */
	cr_assert_str_eq(jget(e, "detail")->valuestring, "production.enabled: off → on", "%s",
	    r.body);
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(jget(r.json, "entries"), 1), "kind")->valuestring,
	    "FLAG_CREATED");
	vx_http_res_free(&r);

	/* A rule and a rename, each a line per field changed. */
	ok_free(req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	            "{\"environment\":\"production\",\"attribute\":\"email\",\"operator\":"
	            "\"ends_with\",\"values\":[\"@a.com\"],\"negate\":true,\"rollout\":20}"),
	    201);
	ok_free(req("PUT", vx_fmt("/v1/flags/%s", id), k_write,
	            "{\"name\":\"Audited\\nflag\",\"tags\":[\"x\",\"y\"]}"),
	    200);
	r = req("GET", "/v1/audit?target=audited&limit=2", k_admin, NULL);
	expect_status(&r, 200);
	e = cJSON_GetArrayItem(jget(r.json, "entries"), 0);
	cr_assert_str_eq(jget(e, "detail")->valuestring,
	    "name: audited → Audited flag\ntags: (none) → x, y", "%s", r.body);
	e = cJSON_GetArrayItem(jget(r.json, "entries"), 1);
	cr_assert(strstr(jget(e, "detail")->valuestring,
	              "production.rules: (none) → if !email ends_with @a.com then on (20%)"),
	    "%s", r.body);
	vx_http_res_free(&r);
	/* Changes that are not flag writes say nothing more. */
	r = req("GET", "/v1/audit?target=bystander", k_admin, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jget(cJSON_GetArrayItem(jget(r.json, "entries"), 0), "detail")->valuestring,
	    "", "%s", r.body);
	vx_http_res_free(&r);

	r = req("GET", "/v1/audit?limit=1", k_admin, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "entries")), 1, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/v1/audit?limit=0", k_admin, NULL);
	expect_error(&r, 400, "invalid_request", "limit");
	r = req("GET", vx_fmt("/v1/audit?project_id=%s", p2), k_admin, NULL);
	expect_error(&r, 404, "not_found", "project_id");
}

/* The flag's id and its one rule in production: "rule-<id>". */
static void
flag_with_rule(const char *key, char id[32], char rule[32], const char *rule_body)
{
	vx_http_res r;

	new_flag(vx_fmt("{\"key\":\"%s\",\"state\":{\"production\":true}}", key), id);
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write, rule_body);
	expect_status(&r, 201);
	snprintf(rule, 32, "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
}

Test(platform, rules_take_a_priority_and_a_rollout_and_can_be_reordered)
{
	char id[32], first[32], second[32];
	vx_http_res r;
	uint64_t before;

	flag_with_rule("ordered", id, first,
	    "{\"environment\":\"production\",\"attribute\":\"email\",\"operator\":"
	    "\"ends_with\",\"values\":[\"@a.com\"],\"priority\":1,\"rollout\":0}");
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"environment\":\"production\",\"attribute\":\"country\",\"operator\":"
	    "\"equals\",\"values\":[\"NZ\"],\"priority\":2}");
	expect_status(&r, 201);
	snprintf(second, sizeof(second), "%s", jstr(&r, "id"));
	cr_assert_eq(jnum(&r, "priority"), 2);
	cr_assert(cJSON_IsNull(jget(r.json, "rollout")), "%s", r.body);
	vx_http_res_free(&r);

	/* A rule at 0% serves nobody it matches. */
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\",\"email\":\"x@a."
	    "com\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(jget(r.json, "flags"), "ordered")), "%s", r.body);
	vx_http_res_free(&r);

	/* Reordered and rolled out to everyone: one write each. */
	before = vx_project_revision(h.admin, "p1");
	r = req("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, first), k_write,
	    "{\"priority\":3,\"rollout\":null}");
	vx_expect_writes(
	    &r, 200, before, vx_project_revision(h.admin, "p1"), 1, "PATCH a rule");
	cr_assert_eq(jnum(&r, "priority"), 3);
	cr_assert(cJSON_IsNull(jget(r.json, "rollout")), "%s", r.body);
	cr_assert_str_eq(jstr(&r, "environment"), "production");
	vx_http_res_free(&r);
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\",\"email\":\"x@a."
	    "com\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(jget(r.json, "flags"), "ordered")), "%s", r.body);
	vx_http_res_free(&r);

	/* The flag lists its rules highest priority first, as they run. */
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(jget(r.json, "rules"), 0), "id")->valuestring, first,
	    "%s", r.body);
	vx_http_res_free(&r);

	r = req("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, second), k_write, "{}");
	expect_error(&r, 400, "invalid_request", NULL);
	r = req("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, second), k_write,
	    "{\"rollout\":101}");
	expect_error(&r, 400, "invalid_request", "rollout");
	r = req("PATCH", vx_fmt("/v1/flags/%s/rules/rule-999999", id), k_write,
	    "{\"priority\":1}");
	expect_error(&r, 404, "not_found", "rule_id");
	r = req("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, second), k_read,
	    "{\"priority\":1}");
	expect_error(&r, 403, "forbidden", NULL);
}

Test(platform, state_takes_a_rollout_percentage_in_one_write)
{
	char id[32];
	vx_http_res r;
	uint64_t before;

	new_flag("{\"key\":\"rolled\"}", id);
	before = vx_project_revision(h.admin, "p1");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"enabled\":true,\"rollout_percentage\":0}");
	vx_expect_writes(&r, 200, before, vx_project_revision(h.admin, "p1"), 1,
	    "PATCH state with a rollout");
	cr_assert(state_of(&r, "staging"));
	cr_assert_eq(
	    jget(jget(r.json, "rollout"), "staging")->valuedouble, 0, "%s", r.body);
	cr_assert_eq(jget(jget(r.json, "rollout"), "production")->valuedouble, 100);
	vx_http_res_free(&r);
	/* At 0% an enabled environment serves its default to nobody. */
	r = req("POST", "/v1/sdk/evaluate", k_read,
	    "{\"environment\":\"staging\",\"user\":{\"id\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(jget(r.json, "flags"), "rolled")), "%s", r.body);
	vx_http_res_free(&r);
	/* The rollout alone keeps the state. */
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"rollout_percentage\":100}");
	expect_status(&r, 200);
	cr_assert(state_of(&r, "staging"));
	vx_http_res_free(&r);
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"staging\",\"rollout_percentage\":101}");
	expect_error(&r, 400, "invalid_request", "rollout_percentage");
	r = req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	    "{\"environment\":\"nope\",\"rollout_percentage\":5}");
	cr_assert(r.status == 400 || r.status == 404, "%ld %s", r.status, r.body);
	vx_http_res_free(&r);
}

Test(platform, a_write_with_a_stale_if_revision_changes_nothing)
{
	char id[32];
	vx_http_res r;
	uint64_t rev;

	new_flag("{\"key\":\"guarded\"}", id);
	rev = vx_project_revision(h.admin, "p1");
	/* Another write comes between the read and this one. */
	ok_free(req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	            "{\"environment\":\"production\",\"enabled\":true}"),
	    200);
	r = req("PUT",
	    vx_fmt("/v1/flags/%s?if_revision=%llu", id, (unsigned long long)rev), k_write,
	    "{\"description\":\"stale\"}");
	expect_error(&r, 400, "invalid_request", "if_revision");
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	cr_assert_str_eq(jstr(&r, "description"), "");
	vx_http_res_free(&r);
	rev = vx_project_revision(h.admin, "p1");
	r = req("PUT",
	    vx_fmt("/v1/flags/%s?if_revision=%llu", id, (unsigned long long)rev), k_write,
	    "{\"description\":\"fresh\"}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "description"), "fresh");
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("/v1/flags/%s?if_revision=banana", id), k_write,
	    "{\"description\":\"x\"}");
	expect_error(&r, 400, "invalid_request", "if_revision");
}

/* Polls GET path with the read key until its body holds want (the core
 * batches evaluation records); returns the last answer. */
static vx_http_res
poll_for(const char *path, const char *want)
{
	vx_http_res r = {0};

	for (int i = 0; i < 1000; i++) {
		if (i > 0) {
			vx_http_res_free(&r);
			usleep(10000);
		}
		r = req("GET", path, k_read, NULL);
		if (r.status == 200 && strstr(r.body, want) != NULL)
			break;
	}
	return r;
}

Test(platform, recent_evaluations_and_counts_by_variant_show_what_was_served)
{
	char id[32], other[32];
	vx_http_res r;
	const cJSON *e, *on;

	new_flag("{\"key\":\"watched\",\"state\":{\"production\":true}}", id);
	new_flag("{\"key\":\"unwatched\",\"state\":{\"production\":true}}", other);
	ok_free(req("POST", "/v1/sdk/evaluate", k_read,
	            "{\"environment\":\"production\",\"user\":{\"id\":\"u-log\"}}"),
	    200);

	r = poll_for(vx_fmt("/v1/analytics/evaluations?flag_id=%s", id), "u-log");
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "evaluations")), 1, "%s", r.body);
	e = cJSON_GetArrayItem(jget(r.json, "evaluations"), 0);
	cr_assert_str_eq(jget(e, "flag_key")->valuestring, "watched");
	cr_assert_str_eq(jget(e, "variant")->valuestring, "on");
	cr_assert_str_eq(jget(e, "reason")->valuestring, "STATIC");
	cr_assert_str_eq(jget(e, "environment")->valuestring, "production");
	cr_assert(cJSON_IsNumber(jget(r.json, "dropped")), "%s", r.body);
	vx_http_res_free(&r);
	/* Without flag_id, every flag's. */
	r = poll_for("/v1/analytics/evaluations", "unwatched");
	expect_status(&r, 200);
	cr_assert_geq(cJSON_GetArraySize(jget(r.json, "evaluations")), 2, "%s", r.body);
	vx_http_res_free(&r);

	r = poll_for(vx_fmt("/v1/analytics/flags/%s/stats?period=7d", id), "\"on\"");
	expect_status(&r, 200);
	on = jget(jget(jget(r.json, "exposures"), "by_variant"), "on");
	cr_assert_eq(cJSON_GetArraySize(on), 7, "%s", r.body);
	cr_assert_geq(cJSON_GetArrayItem(on, 6)->valuedouble, 1, "today's: %s", r.body);
	vx_http_res_free(&r);

	r = req("GET", "/v1/analytics/evaluations?flag_id=flag-999999", k_read, NULL);
	expect_error(&r, 404, "not_found", "flag_id");
	r = req("GET", "/v1/analytics/evaluations?limit=0", k_read, NULL);
	expect_error(&r, 400, "invalid_request", "limit");
	r = req(
	    "GET", vx_fmt("/v1/analytics/evaluations?project_id=%s", p2), k_read, NULL);
	expect_error(&r, 404, "not_found", "project_id");
}

Test(platform, sdk_keys_are_created_shown_once_listed_and_revoked)
{
	char secret[128], kid[32];
	const char *hs[2] = {NULL, NULL};
	char auth[200];
	vx_http_res r;
	const cJSON *e;
	bool listed = false;

	r = req("POST", "/v1/sdk-keys", k_admin, "{\"environment\":\"staging\"}");
	expect_status(&r, 201);
	snprintf(secret, sizeof(secret), "%s", jstr(&r, "key"));
	snprintf(kid, sizeof(kid), "%s", jstr(&r, "id"));
	cr_assert(strncmp(secret, "sdk_", 4) == 0, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "environment"), "staging");
	cr_assert_str_eq(jstr(&r, "project_id"), p1);
	vx_http_res_free(&r);

	/* The key evaluates its environment through OFREP. */
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
	hs[0] = auth;
	new_flag("{\"key\":\"sdk-seen\"}", NULL);
	r = req_h("POST", "/ofrep/v1/evaluate/flags/sdk-seen", hs, "{\"context\":{}}");
	expect_status(&r, 200);
	cr_assert_str_eq(r.vexil_env, "staging", "%s", r.body);
	vx_http_res_free(&r);

	/* Listed without its secret. */
	r = req("GET", "/v1/sdk-keys", k_admin, NULL);
	expect_status(&r, 200);
	cr_assert_null(strstr(r.body, secret), "a secret in the list: %s", r.body);
	cJSON_ArrayForEach(e, jget(r.json, "sdk_keys"))
		listed |= strcmp(jget(e, "id")->valuestring, kid) == 0;
	cr_assert(listed, "%s not in %s", kid, r.body);
	vx_http_res_free(&r);

	ok_free(req("DELETE", vx_fmt("/v1/sdk-keys/%s", kid), k_admin, NULL), 204);
	r = req_h("POST", "/ofrep/v1/evaluate/flags/sdk-seen", hs, "{\"context\":{}}");
	expect_status(&r, 401);
	vx_http_res_free(&r);
	r = req("GET", "/v1/sdk-keys", k_admin, NULL);
	cr_assert_null(strstr(r.body, kid), "a revoked key listed: %s", r.body);
	vx_http_res_free(&r);
	r = req("DELETE", "/v1/sdk-keys/key-1", k_admin, NULL);
	expect_error(&r, 404, "not_found", "sdk_key_id");
	r = req("POST", "/v1/sdk-keys", k_read, "{}");
	expect_error(&r, 403, "forbidden", NULL);
	r = req("POST", "/v1/sdk-keys", k_admin, "{\"environment\":\"moon\"}");
	cr_assert(r.status == 400 || r.status == 404, "%ld %s", r.status, r.body);
	vx_http_res_free(&r);
}

/* ---- extensions: flag types and variants, compound rules and splits,
 * segments and prerequisites (the admin UI's, docs/gateway.md) ---- */

/* What /v1/sdk/evaluate serves flag `key` in production for the user
 * given as a JSON object's members ("\"id\":\"u1\""). The caller frees
 * nothing: the value is printed into a static buffer. */
static const char *
served(const char *key, const char *user)
{
	static char out[256];
	vx_http_res r = req("POST", "/v1/sdk/evaluate", k_read,
	    vx_fmt("{\"environment\":\"production\",\"user\":{%s}}", user));
	char *s;

	expect_status(&r, 200);
	s = cJSON_PrintUnformatted(jget(jget(r.json, "flags"), key));
	cr_assert(s != NULL, "%s is not served: %s", key, r.body);
	snprintf(out, sizeof(out), "%s", s);
	free(s);
	vx_http_res_free(&r);
	return out;
}

/* served(), asked again until it is want: a write's change notice reaches
 * the gateway's edge a moment after the write's reply (docs/gateway.md,
 * "Not behind"), so an evaluation right after a write may still answer
 * from before it. */
static void
expect_served(const char *key, const char *user, const char *want)
{
	char v[256] = "";

	for (int i = 0; i < 1000; i++) {
		if (i > 0)
			usleep(10000);
		snprintf(v, sizeof(v), "%s", served(key, user));
		if (strcmp(v, want) == 0)
			return;
	}
	cr_assert_fail("%s for {%s} is %s, not %s", key, user, v, want);
}

#define COLOR_FLAG                                                                       \
	"{\"key\":\"color\",\"type\":\"string\",\"state\":{\"production\":true},"        \
	"\"variants\":[{\"key\":\"red\",\"value\":\"red\"},{\"key\":\"green\","          \
	"\"value\":\"green\"},{\"key\":\"blue\",\"value\":\"blue\",\"description\":"     \
	"\"the last\"}]}"

Test(platform, a_flag_of_any_type_is_made_with_its_variants_and_serves_the_ones_chosen)
{
	char id[32];
	const cJSON *v;
	vx_http_res r;

	r = req("POST", "/v1/flags", k_write, COLOR_FLAG);
	expect_status(&r, 201);
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	cr_assert_str_eq(jstr(&r, "type"), "string");
	v = jget(r.json, "variants");
	cr_assert_eq(cJSON_GetArraySize(v), 3, "%s", r.body);
	cr_assert_str_eq(jget(cJSON_GetArrayItem(v, 2), "value")->valuestring, "blue");
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(v, 2), "description")->valuestring, "the last");
	/* The core's defaults: the first variant on, the last off. */
	cr_assert_str_eq(
	    jget(jget(r.json, "default_variant"), "production")->valuestring, "red");
	cr_assert_str_eq(
	    jget(jget(r.json, "off_variant"), "production")->valuestring, "blue");
	vx_http_res_free(&r);
	expect_served("color", "\"id\":\"u1\"", "\"red\"");

	/* Pick what production serves by default and when off: one write. */
	r = counted("PATCH", vx_fmt("/v1/flags/%s/state", id),
	    "{\"environment\":\"production\",\"default_variant\":\"green\","
	    "\"off_variant\":\"red\"}",
	    200, 1);
	cr_assert_str_eq(
	    jget(jget(r.json, "default_variant"), "production")->valuestring, "green");
	cr_assert(state_of(&r, "production"), "enabled is left as it was: %s", r.body);
	vx_http_res_free(&r);
	expect_served("color", "\"id\":\"u1\"", "\"green\"");
	ok_free(req("PATCH", vx_fmt("/v1/flags/%s/state", id), k_write,
	            "{\"environment\":\"production\",\"enabled\":false}"),
	    200);
	expect_served("color", "\"id\":\"u1\"", "\"red\"");

	/* Edit the variants: one UpdateFlag; a variant an environment serves
	 * cannot go, and the refusal changes nothing. */
	counted_free("PUT", vx_fmt("/v1/flags/%s", id),
	    "{\"variants\":[{\"key\":\"red\",\"value\":\"crimson\"},{\"key\":\"green\","
	    "\"value\":\"green\"}]}",
	    400, 0);
	r = counted("PUT", vx_fmt("/v1/flags/%s", id),
	    "{\"variants\":[{\"key\":\"red\",\"value\":\"crimson\"},{\"key\":\"green\","
	    "\"value\":\"green\"},{\"key\":\"blue\",\"value\":\"navy\"}]}",
	    200, 1);
	cr_assert_str_eq(
	    jget(cJSON_GetArrayItem(jget(r.json, "variants"), 0), "value")->valuestring,
	    "crimson");
	vx_http_res_free(&r);
	expect_served("color", "\"id\":\"u1\"", "\"crimson\"");

	/* Numbers and JSON keep their JSON type. */
	r = req("POST", "/v1/flags", k_write,
	    "{\"key\":\"limit\",\"type\":\"number\",\"state\":{\"production\":true},"
	    "\"variants\":[{\"key\":\"high\",\"value\":100},{\"key\":\"low\",\"value\":5}"
	    "]}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "type"), "number");
	cr_assert(cJSON_IsNumber(
	              jget(cJSON_GetArrayItem(jget(r.json, "variants"), 0), "value")),
	    "%s", r.body);
	vx_http_res_free(&r);
	expect_served("limit", "\"id\":\"u1\"", "100");
	new_flag("{\"key\":\"cfg\",\"type\":\"json\",\"state\":{\"production\":true},"
	         "\"variants\":[{\"key\":\"a\",\"value\":{\"n\":1}},{\"key\":\"b\","
	         "\"value\":{\"n\":2}}]}",
	    NULL);
	expect_served("cfg", "\"id\":\"u1\"", "{\"n\":1}");

	/* Refusals name the field and write nothing. */
	r = counted("POST", "/v1/flags", "{\"key\":\"t1\",\"type\":\"text\"}", 400, 0);
	expect_error(&r, 400, "invalid_request", "type");
	r = counted("POST", "/v1/flags", "{\"key\":\"t2\",\"type\":\"string\"}", 400, 0);
	expect_error(&r, 400, "invalid_request", "variants");
	r = counted("POST", "/v1/flags",
	    "{\"key\":\"t3\",\"type\":\"string\",\"variants\":[{\"key\":\"a\"}]}", 400,
	    0);
	expect_error(&r, 400, "invalid_request", "variants.value");
	r = counted("POST", "/v1/flags",
	    "{\"key\":\"t4\",\"type\":\"number\",\"variants\":[{\"key\":\"a\",\"value\":"
	    "\"x\"}]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
	r = counted("PATCH", vx_fmt("/v1/flags/%s/state", id),
	    "{\"environment\":\"production\",\"default_variant\":\"purple\"}", 400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
}

Test(platform, a_rule_takes_several_conditions_and_serves_a_variant_or_a_split)
{
	char id[32], rule[32], split[32];
	int seen[3] = {0, 0, 0};
	const cJSON *rl;
	vx_http_res r;

	new_flag(COLOR_FLAG, id);
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"priority\":10,\"variant\":\"green\","
	    "\"conditions\":[{\"attribute\":\"country\",\"operator\":\"in\",\"values\":"
	    "[\"NZ\",\"AU\"]},{\"attribute\":\"plan\",\"operator\":\"equals\",\"values\":"
	    "[\"free\"],\"negate\":true},{\"attribute\":\"beta\",\"operator\":\"equals\","
	    "\"values\":[\"yes\"],\"missing\":true}]}",
	    201, 1);
	snprintf(rule, sizeof(rule), "%s", jstr(&r, "id"));
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "conditions")), 3, "%s", r.body);
	cr_assert(cJSON_IsTrue(
	              jget(cJSON_GetArrayItem(jget(r.json, "conditions"), 1), "negate")),
	    "%s", r.body);
	cr_assert_str_eq(jstr(&r, "variant"), "green");
	vx_http_res_free(&r);
	/* Every condition must hold; the default stays what it was. */
	expect_served(
	    "color", "\"id\":\"u1\",\"country\":\"NZ\",\"plan\":\"pro\"", "\"green\"");
	expect_served(
	    "color", "\"id\":\"u1\",\"country\":\"NZ\",\"plan\":\"free\"", "\"red\"");
	expect_served("color",
	    "\"id\":\"u1\",\"country\":\"NZ\",\"plan\":\"pro\",\"beta\":\"no\"",
	    "\"red\"");
	expect_served(
	    "color", "\"id\":\"u1\",\"country\":\"FR\",\"plan\":\"pro\"", "\"red\"");

	/* A 50/50 split by a chosen attribute. */
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"priority\":5,\"split\":[{\"variant\":"
	    "\"green\",\"weight\":50},{\"variant\":\"blue\",\"weight\":50}],"
	    "\"split_stickiness\":\"account\",\"conditions\":[{\"attribute\":\"plan\","
	    "\"operator\":\"equals\",\"values\":[\"free\"]}]}",
	    201, 1);
	snprintf(split, sizeof(split), "%s", jstr(&r, "id"));
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "split")), 2, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "split_stickiness"), "account");
	cr_assert_str_eq(jstr(&r, "variant"), "");
	vx_http_res_free(&r);
	/* The rule is in force once a matching user no longer gets red. */
	for (int i = 0;
	     i < 1000 &&
	     strcmp(served("color", "\"id\":\"u\",\"plan\":\"free\",\"account\":\"a0\""),
	         "\"red\"") == 0;
	     i++)
		usleep(10000);
	for (int i = 0; i < 40; i++) {
		char v[64];

		snprintf(v, sizeof(v), "%s",
		    served("color",
		        vx_fmt("\"id\":\"u\",\"plan\":\"free\",\"account\":\"a%d\"", i)));
		cr_assert(strcmp(v, "\"green\"") == 0 || strcmp(v, "\"blue\"") == 0,
		    "a split serves its variants only: %s", v);
		seen[strcmp(v, "\"green\"") == 0]++;
		/* Sticky: the same account gets the same variant again. */
		cr_assert_str_eq(v,
		    served("color",
		        vx_fmt("\"id\":\"other\",\"plan\":\"free\",\"account\":\"a%d\"",
		            i)));
	}
	cr_assert(seen[0] > 0 && seen[1] > 0, "both halves are served");

	/* PATCH changes what the split buckets by: then users of one team
	 * share a variant, whatever their accounts. */
	r = counted("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, split),
	    "{\"split_stickiness\":\"team\"}", 200, 1);
	cr_assert_str_eq(jstr(&r, "split_stickiness"), "team");
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "split")), 2, "%s", r.body);
	vx_http_res_free(&r);
	for (int i = 0, moved = 0; i < 40; i++) {
		/* The split's group is the flag key; weights 50/50 of 100. Copies:
		 * vx_fmt's buffers are reused by served(). */
		char team[16], user[128], other[128], account[16];
		bool green;

		snprintf(team, sizeof(team), "t%d", i % 6);
		snprintf(account, sizeof(account), "a%d", i);
		green = vx_eval_bucket("color", team, VX_EVAL_VARIANT_SEED, 100) <= 50;
		snprintf(user, sizeof(user),
		    "\"id\":\"u\",\"plan\":\"free\",\"account\":\"%s\",\"team\":\"%s\"",
		    account, team);
		snprintf(other, sizeof(other),
		    "\"id\":\"v\",\"plan\":\"free\",\"account\":\"b%d\",\"team\":\"%s\"",
		    i, team);
		expect_served("color", user, green ? "\"green\"" : "\"blue\"");
		cr_assert_str_eq(
		    served("color", other), green ? "\"green\"" : "\"blue\"");
		moved += (vx_eval_bucket("color", account, VX_EVAL_VARIANT_SEED, 100) <=
		             50) != green;
		if (i == 39)
			cr_assert(moved > 0, "bucketing by account would serve the same");
	}
	/* A name that is no attribute's, empty or too long: 400 naming the
	 * field, and no write. */
	for (int i = 0; i < 4; i++) {
		const char *bad[] = {"\"not a key\"", "\"\"", "\"-x\"",
		    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "\""};

		r = counted("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, split),
		    vx_fmt("{\"split_stickiness\":%s}", bad[i]), 400, 0);
		expect_error(&r, 400, "invalid_request", "split_stickiness");
	}
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	cr_assert(strstr(r.body, "\"split_stickiness\":\"team\"") != NULL, "%s", r.body);
	vx_http_res_free(&r);
	/* null: the rollout's stickiness again (the default's). */
	r = counted("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, split),
	    "{\"split_stickiness\":null}", 200, 1);
	cr_assert_str_eq(jstr(&r, "split_stickiness"), "");
	vx_http_res_free(&r);

	/* PATCH rewrites the conditions, or turns a split into a variant. */
	r = counted("PATCH", vx_fmt("/v1/flags/%s/rules/%s", id, split),
	    "{\"variant\":\"blue\",\"conditions\":[{\"attribute\":\"plan\",\"operator\":"
	    "\"equals\",\"values\":[\"trial\"]}]}",
	    200, 1);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "split")), 0, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "variant"), "blue");
	vx_http_res_free(&r);
	expect_served("color", "\"id\":\"u1\",\"plan\":\"trial\"", "\"blue\"");
	expect_served("color", "\"id\":\"u1\",\"plan\":\"free\"", "\"red\"");
	r = req("GET", vx_fmt("/v1/flags/%s", id), k_read, NULL);
	expect_status(&r, 200);
	rl = cJSON_GetArrayItem(jget(r.json, "rules"), 0);
	cr_assert_str_eq(jget(rl, "id")->valuestring, rule, "%s", r.body);
	cr_assert_eq(cJSON_GetArraySize(jget(rl, "conditions")), 3, "%s", r.body);
	vx_http_res_free(&r);

	/* Refusals name the field and write nothing. */
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"variant\":\"red\",\"attribute\":\"a\","
	    "\"conditions\":[]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", "conditions");
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"variant\":\"red\",\"conditions\":"
	    "[{\"attribute\":\"a\",\"operator\":\"near\",\"values\":[\"x\"]}]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", "conditions.operator");
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"split\":[{\"variant\":\"purple\","
	    "\"weight\":1}],\"conditions\":[]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"variant\":\"red\",\"split\":[{\"variant\":"
	    "\"red\",\"weight\":1}],\"conditions\":[]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
	/* Deleting a rule of a string flag keeps the default chosen. */
	ok_free(
	    req("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, rule), k_write, NULL), 204);
	ok_free(req("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, split), k_write, NULL),
	    204);
	expect_served("color", "\"id\":\"u1\"", "\"red\"");
}

Test(platform, segments_are_made_named_by_rules_changed_and_deleted)
{
	char id[32], rule[32];
	vx_http_res r;

	new_flag(COLOR_FLAG, id);
	r = counted("POST", "/v1/segments",
	    "{\"name\":\"kiwis\",\"description\":\"NZ\",\"conditions\":[{\"attribute\":"
	    "\"country\",\"operator\":\"equals\",\"values\":[\"NZ\"]}]}",
	    201, 1);
	cr_assert_str_eq(jstr(&r, "name"), "kiwis");
	cr_assert_eq(strncmp(jstr(&r, "id"), "seg-", 4), 0, "%s", r.body);
	vx_http_res_free(&r);
	r = counted("GET", "/v1/segments", NULL, 200, 0);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "segments")), 1, "%s", r.body);
	vx_http_res_free(&r);
	r = req("POST", vx_fmt("/v1/flags/%s/rules", id), k_write,
	    "{\"environment\":\"production\",\"variant\":\"blue\",\"segments\":["
	    "\"kiwis\"]}");
	expect_status(&r, 201);
	snprintf(rule, sizeof(rule), "%s", jstr(&r, "id"));
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "conditions")), 0, "%s", r.body);
	vx_http_res_free(&r);
	expect_served("color", "\"id\":\"u1\",\"country\":\"NZ\"", "\"blue\"");
	expect_served("color", "\"id\":\"u1\",\"country\":\"AU\"", "\"red\"");

	/* Changing the segment changes every rule naming it, in one write. */
	r = counted("PUT", "/v1/segments/kiwis",
	    "{\"conditions\":[{\"attribute\":\"country\",\"operator\":\"equals\","
	    "\"values\":[\"AU\"]}]}",
	    200, 1);
	cr_assert_str_eq(jstr(&r, "description"), "NZ");
	vx_http_res_free(&r);
	expect_served("color", "\"id\":\"u1\",\"country\":\"AU\"", "\"blue\"");
	expect_served("color", "\"id\":\"u1\",\"country\":\"NZ\"", "\"red\"");

	/* Refusals: an unknown segment, one in use, bad conditions. */
	r = counted("POST", vx_fmt("/v1/flags/%s/rules", id),
	    "{\"environment\":\"production\",\"variant\":\"blue\",\"segments\":["
	    "\"nobody\"]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
	r = counted("DELETE", "/v1/segments/kiwis", NULL, 400, 0);
	expect_error(&r, 400, "invalid_request", "segment_name");
	r = counted("PUT", "/v1/segments/kiwis",
	    "{\"conditions\":[{\"attribute\":\"country\",\"operator\":\"nearby\","
	    "\"values\":[\"AU\"]}]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", "conditions.operator");
	r = counted("POST", "/v1/segments", "{\"description\":\"x\"}", 400, 0);
	expect_error(&r, 400, "invalid_request", "name");
	r = counted("GET", "/v1/segments/nobody", NULL, 404, 0);
	expect_error(&r, 404, "not_found", "segment_name");
	r = req("POST", "/v1/segments", k_read, "{\"name\":\"readers\"}");
	expect_error(&r, 403, "forbidden", NULL);

	ok_free(
	    req("DELETE", vx_fmt("/v1/flags/%s/rules/%s", id, rule), k_write, NULL), 204);
	counted_free("DELETE", "/v1/segments/kiwis", NULL, 204, 1);
	r = req("GET", "/v1/segments/kiwis", k_read, NULL);
	expect_error(&r, 404, "not_found", "segment_name");
}

Test(platform, prerequisites_are_set_per_environment_in_one_write)
{
	char parent[32], child[32];
	const cJSON *pre;
	vx_http_res r;

	new_flag("{\"key\":\"parent\"}", parent);
	new_flag(COLOR_FLAG, child);
	r = counted("PUT", vx_fmt("/v1/flags/%s/prerequisites", child),
	    "{\"environment\":\"production\",\"prerequisites\":[{\"flag\":\"parent\","
	    "\"variants\":[\"on\"]}]}",
	    200, 1);
	pre = jget(jget(r.json, "prerequisites"), "production");
	cr_assert_eq(cJSON_GetArraySize(pre), 1, "%s", r.body);
	cr_assert_str_eq(jget(cJSON_GetArrayItem(pre, 0), "flag")->valuestring, "parent");
	cr_assert_str_eq(jget(cJSON_GetArrayItem(pre, 0), "when")->valuestring, "on");
	vx_http_res_free(&r);
	/* The parent is off: the child serves its off variant. */
	expect_served("color", "\"id\":\"u1\"", "\"blue\"");
	ok_free(req("PATCH", vx_fmt("/v1/flags/%s/state", parent), k_write,
	            "{\"environment\":\"production\",\"enabled\":true}"),
	    200);
	expect_served("color", "\"id\":\"u1\"", "\"red\"");

	/* Refusals: an unknown parent, itself, a bad `when`; nothing written. */
	r = counted("PUT", vx_fmt("/v1/flags/%s/prerequisites", child),
	    "{\"environment\":\"production\",\"prerequisites\":[{\"flag\":\"nope\"}]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
	r = counted("PUT", vx_fmt("/v1/flags/%s/prerequisites", child),
	    "{\"environment\":\"production\",\"prerequisites\":[{\"flag\":\"color\"}]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", NULL);
	r = counted("PUT", vx_fmt("/v1/flags/%s/prerequisites", child),
	    "{\"environment\":\"production\",\"prerequisites\":[{\"flag\":\"parent\","
	    "\"when\":\"maybe\"}]}",
	    400, 0);
	expect_error(&r, 400, "invalid_request", "prerequisites.when");
	r = counted("PUT", vx_fmt("/v1/flags/%s/prerequisites", child),
	    "{\"prerequisites\":[]}", 400, 0);
	expect_error(&r, 400, "invalid_request", "environment");

	/* [] removes them. */
	r = counted("PUT", vx_fmt("/v1/flags/%s/prerequisites", child),
	    "{\"environment\":\"production\",\"prerequisites\":[]}", 200, 1);
	cr_assert_null(jget(jget(r.json, "prerequisites"), "production"), "%s", r.body);
	vx_http_res_free(&r);
}
