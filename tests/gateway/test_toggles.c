/*
 * Vexil gateway integration tests: the feature toggles API
 * (specs/toggles-api.md) over real HTTP.
 *
 * Every test gets a fresh vexild (the harness) and a fresh vexil-gateway
 * in front of it, and speaks HTTP to the gateway with libcurl, with the
 * bootstrap admin key ("Authorization: ApiKey"). Global toggles live in the
 * `default` project, which a new database holds with three environments
 * and the three flags of the table API.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastapi_suite.h"

TestSuite(toggles, .init = setup, .fini = teardown, .timeout = 180);

/* A 422 entry for one key of an object field: loc ["body", field, entry]. */
static void
expect_422_entry(vx_http_res *r, const char *field, const char *entry, const char *type)
{
	const cJSON *e, *loc;

	expect_status(r, 422);
	cr_assert(cJSON_IsArray(jget(r->json, "detail")), "%s", r->body);
	e = cJSON_GetArrayItem(jget(r->json, "detail"), 0);
	loc = jget(e, "loc");
	cr_assert_eq(cJSON_GetArraySize(loc), 3, "%s", r->body);
	cr_assert_str_eq(cJSON_GetArrayItem(loc, 0)->valuestring, "body");
	cr_assert_str_eq(cJSON_GetArrayItem(loc, 1)->valuestring, field);
	cr_assert_str_eq(cJSON_GetArrayItem(loc, 2)->valuestring, entry);
	cr_assert_str_eq(jstr(e, "type"), type);
	vx_http_res_free(r);
}

/* The toggle's state in one environment. */
static bool
env_on(const vx_http_res *r, const char *env)
{
	const cJSON *envs = jget(r->json, "environments");
	return jbool(envs, env);
}

static void
expect_envs(const vx_http_res *r, bool dev, bool staging, bool prod)
{
	cr_assert_eq(cJSON_GetArraySize(jget(r->json, "environments")), 3, "%s", r->body);
	cr_assert_eq(env_on(r, "development"), dev, "%s", r->body);
	cr_assert_eq(env_on(r, "staging"), staging, "%s", r->body);
	cr_assert_eq(env_on(r, "production"), prod, "%s", r->body);
	cr_assert_eq(jbool(r->json, "is_active"), prod, "is_active is production's state");
}

static void
make_project(const char *name)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.name = (char *)name;
	in.description = "";
	cr_assert(vx_create_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	vx_free(p);
}

static size_t
count(const char *query)
{
	vx_http_res r = req("GET", vx_fmt("/feature-toggles/%s", query), NULL);
	size_t n;

	expect_status(&r, 200);
	n = (size_t)cJSON_GetArraySize(r.json);
	vx_http_res_free(&r);
	return n;
}

static const char *const DARK =
    "{\"name\":\"dark_mode\",\"description\":\"Dark theme\",\"owner\":\"team-ui\","
    "\"metadata\":{\"jira\":\"UI-42\",\"since\":\"2026\"},\"is_active\":true}";

/* ---- credentials ---- */

Test(toggles, every_route_needs_a_credential)
{
	static const char *const routes[][2] = {
		{"GET", "/feature-toggles/"},
		{"GET", "/feature-toggles"},
		{"POST", "/feature-toggles/"},
		{"GET", "/feature-toggles/average_user"},
		{"PUT", "/feature-toggles/average_user"},
	};
	vx_http_res r;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		r = req_a(routes[i][0], routes[i][1], NULL, DARK);
		expect_detail(&r, 401, "Not authenticated");
		r = req_a(routes[i][0], routes[i][1], "Token abc", DARK);
		expect_detail(&r, 401, "Not authenticated");
	}
	r = req_a("GET", "/feature-toggles/", "ApiKey vx_not_a_real_key", NULL);
	expect_detail(&r, 401, NULL);
	r = req_a("GET", "/feature-toggles/", "Bearer not.a.jwt", NULL);
	expect_detail(&r, 401, NULL);
	cr_assert_eq(count(""), 3, "nothing was created");
}

/* ---- create, get, list ---- */

Test(toggles, create_get_and_list_a_global_toggle)
{
	vx_http_res r = req("POST", "/feature-toggles/", DARK);
	char created[32];

	expect_status(&r, 201);
	cr_assert_str_eq(jstr(r.json, "name"), "dark_mode");
	cr_assert_str_eq(jstr(r.json, "description"), "Dark theme");
	cr_assert_str_eq(jstr(r.json, "owner"), "team-ui");
	cr_assert_str_eq(jstr(jget(r.json, "metadata"), "jira"), "UI-42");
	cr_assert_str_eq(jstr(jget(r.json, "metadata"), "since"), "2026");
	cr_assert_str_eq(jstr(r.json, "application"), "default");
	expect_envs(&r, true, true, true);
	cr_assert_eq(strlen(jstr(r.json, "created_at")), 20);
	snprintf(created, sizeof(created), "%s", jstr(r.json, "created_at"));
	vx_http_res_free(&r);

	r = req("GET", "/feature-toggles/dark_mode", NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "name"), "dark_mode");
	cr_assert_str_eq(jstr(r.json, "created_at"), created);
	cr_assert_str_eq(jstr(r.json, "updated_at"), created);
	expect_envs(&r, true, true, true);
	vx_http_res_free(&r);

	/* A toggle is a flag: the seeded flags are toggles too. */
	r = req("GET", "/feature-toggles/", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 4, "%s", r.body);
	vx_http_res_free(&r);
	r = req("GET", "/feature-toggles/average_user", NULL);
	expect_status(&r, 200);
	expect_envs(&r, true, true, true);
	cr_assert_str_eq(jstr(jget(r.json, "metadata"), "strategy"), "restricted_access");
	vx_http_res_free(&r);

	/* Inactive by default; a duplicate name is the core's 409. */
	r = req("POST", "/feature-toggles", "{\"name\":\"quiet\"}");
	expect_status(&r, 201);
	expect_envs(&r, false, false, false);
	cr_assert_str_eq(jstr(r.json, "description"), "");
	vx_http_res_free(&r);
	r = req("POST", "/feature-toggles/", "{\"name\":\"quiet\"}");
	expect_detail(&r, 409, NULL);
}

Test(toggles, create_sets_environment_level_state)
{
	vx_http_res r = req("POST", "/feature-toggles/",
	    "{\"name\":\"beta\",\"is_active\":false,"
	    "\"environments\":{\"staging\":true,\"development\":true}}");

	expect_status(&r, 201);
	expect_envs(&r, true, true, false);
	vx_http_res_free(&r);
	r = req("POST", "/feature-toggles/",
	    "{\"name\":\"beta2\",\"environments\":{\"qa\":true}}");
	expect_detail(&r, 404, "Environment not found");
	cr_assert_eq(count(""), 4);
}

Test(toggles, validation_errors_are_fastapi_422s)
{
	vx_http_res r;

	r = req("POST", "/feature-toggles/", "{\"description\":\"x\"}");
	expect_422(&r, "body", "name", "missing");
	r = req("POST", "/feature-toggles/", "{\"name\":7}");
	expect_422(&r, "body", "name", "string_type");
	r = req("POST", "/feature-toggles/", "{\"name\":\"x\",\"is_active\":\"true\"}");
	expect_422(&r, "body", "is_active", "bool_parsing");
	r = req("POST", "/feature-toggles/", "{\"name\":\"x\",\"metadata\":[]}");
	expect_422(&r, "body", "metadata", "dict_type");
	r = req("POST", "/feature-toggles/", "{\"name\":\"x\",\"metadata\":{\"n\":1}}");
	expect_422_entry(&r, "metadata", "n", "string_type");
	r = req("POST", "/feature-toggles/",
	    "{\"name\":\"x\",\"environments\":{\"staging\":\"yes\"}}");
	expect_422_entry(&r, "environments", "staging", "bool_parsing");
	r = req("POST", "/feature-toggles/", "{\"name\":");
	expect_422(&r, "body", NULL, "json_invalid");
	r = req("POST", "/feature-toggles/", NULL);
	expect_422(&r, "body", NULL, "missing");
	r = req("PUT", "/feature-toggles/average_user", "{\"environment\":\"staging\"}");
	expect_422(&r, "body", "is_active", "missing");
	r = req("PUT", "/feature-toggles/average_user", "{\"environment\":5,"
	    "\"is_active\":true}");
	expect_422(&r, "body", "environment", "string_type");
	r = req("PUT", "/feature-toggles/average_user", "{\"metadata\":{\"a\":true}}");
	expect_422_entry(&r, "metadata", "a", "string_type");
	cr_assert_eq(count(""), 3, "no refused request created anything");
	r = req("GET", "/feature-toggles/average_user", NULL);
	expect_envs(&r, true, true, true);
	vx_http_res_free(&r);
}

Test(toggles, unknown_names_applications_and_routes_are_404)
{
	vx_http_res r;

	r = req("GET", "/feature-toggles/nope", NULL);
	expect_detail(&r, 404, "Feature toggle not found");
	r = req("PUT", "/feature-toggles/nope", "{\"is_active\":true}");
	expect_detail(&r, 404, "Feature toggle not found");
	r = req("GET", "/feature-toggles/?application=nope", NULL);
	expect_detail(&r, 404, "Application not found");
	r = req("GET", "/feature-toggles/average_user?application=nope", NULL);
	expect_detail(&r, 404, "Application not found");
	r = req("POST", "/feature-toggles/", "{\"name\":\"x\",\"application\":\"nope\"}");
	expect_detail(&r, 404, "Application not found");
	r = req("DELETE", "/feature-toggles/average_user", NULL);
	expect_detail(&r, 405, "Method Not Allowed");
	r = req("GET", "/feature-toggles/a/b", NULL);
	expect_detail(&r, 404, "Not Found");
}

/* ---- update ---- */

Test(toggles, put_sets_one_environment_or_every_environment)
{
	vx_http_res r;

	r = req("POST", "/feature-toggles/", "{\"name\":\"checkout\"}");
	expect_status(&r, 201);
	expect_envs(&r, false, false, false);
	vx_http_res_free(&r);

	/* Environment level. */
	r = req("PUT", "/feature-toggles/checkout",
	    "{\"environment\":\"staging\",\"is_active\":true}");
	expect_status(&r, 200);
	expect_envs(&r, false, true, false);
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/checkout",
	    "{\"environment\":\"production\",\"is_active\":true}");
	expect_status(&r, 200);
	expect_envs(&r, false, true, true);
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/checkout",
	    "{\"environment\":\"qa\",\"is_active\":true}");
	expect_detail(&r, 404, "Environment not found");
	/* An unknown environment is found before anything is written. */
	r = req("PUT", "/feature-toggles/checkout",
	    "{\"description\":\"new\",\"is_active\":true,\"environments\":{\"qa\":true}}");
	expect_detail(&r, 404, "Environment not found");
	r = req("GET", "/feature-toggles/checkout", NULL);
	cr_assert_str_eq(jstr(r.json, "description"), "", "unchanged");
	expect_envs(&r, false, true, true);
	vx_http_res_free(&r);

	/* Global: every environment. */
	r = req("PUT", "/feature-toggles/checkout", "{\"is_active\":false}");
	expect_status(&r, 200);
	expect_envs(&r, false, false, false);
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/checkout", "{\"is_active\":true}");
	expect_status(&r, 200);
	expect_envs(&r, true, true, true);
	vx_http_res_free(&r);

	/* Several environments at once. */
	r = req("PUT", "/feature-toggles/checkout",
	    "{\"environments\":{\"development\":false,\"staging\":false}}");
	expect_status(&r, 200);
	expect_envs(&r, false, false, true);
	vx_http_res_free(&r);

	r = req("GET", "/feature-toggles/checkout", NULL);
	expect_status(&r, 200);
	expect_envs(&r, false, false, true);
	vx_http_res_free(&r);
}

Test(toggles, put_changes_only_the_fields_it_names)
{
	vx_http_res r = req("POST", "/feature-toggles/", DARK);

	expect_status(&r, 201);
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/dark_mode", "{\"description\":\"Darker\"}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "description"), "Darker");
	cr_assert_str_eq(jstr(r.json, "owner"), "team-ui", "kept");
	cr_assert_str_eq(jstr(jget(r.json, "metadata"), "jira"), "UI-42", "kept");
	expect_envs(&r, true, true, true);
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/dark_mode",
	    "{\"owner\":\"team-web\",\"metadata\":{\"jira\":\"WEB-1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "description"), "Darker", "kept");
	cr_assert_str_eq(jstr(r.json, "owner"), "team-web");
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "metadata")), 1, "metadata is replaced");
	cr_assert_str_eq(jstr(jget(r.json, "metadata"), "jira"), "WEB-1");
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/dark_mode", "{}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "owner"), "team-web", "an empty body changes nothing");
	vx_http_res_free(&r);
}

/* ---- applications ---- */

Test(toggles, application_toggles_live_in_their_project)
{
	vx_http_res r;

	make_project("shop");
	r = req("POST", "/feature-toggles/",
	    "{\"name\":\"one_click\",\"application\":\"shop\",\"is_active\":true}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(r.json, "application"), "shop");
	expect_envs(&r, true, true, true);
	vx_http_res_free(&r);

	/* Not a global toggle. */
	r = req("GET", "/feature-toggles/one_click", NULL);
	expect_detail(&r, 404, "Feature toggle not found");
	cr_assert_eq(count(""), 3);
	cr_assert_eq(count("?application=shop"), 1);

	r = req("GET", "/feature-toggles/one_click?application=shop", NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "application"), "shop");
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/one_click?application=shop",
	    "{\"environment\":\"development\",\"is_active\":false}");
	expect_status(&r, 200);
	expect_envs(&r, false, true, true);
	vx_http_res_free(&r);
	/* The same name can be global as well. */
	r = req("POST", "/feature-toggles/", "{\"name\":\"one_click\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(r.json, "application"), "default");
	vx_http_res_free(&r);
	r = req("GET", "/feature-toggles/one_click?application=shop", NULL);
	expect_envs(&r, false, true, true);
	vx_http_res_free(&r);
}

/*
 * A signed-up user's global toggles live in their own `default` project:
 * other users and the shared toggles never see them.
 */
Test(toggles, each_user_has_global_toggles_of_their_own)
{
	char ana[2048], bo[2048];
	vx_http_res r;

	snprintf(ana, sizeof(ana), "%s", user_auth("ana@example.com"));
	snprintf(bo, sizeof(bo), "%s", user_auth("bo@example.com"));

	r = req_a("POST", "/feature-toggles/", ana, "{\"name\":\"dark_mode\",\"is_active\":true}");
	expect_status(&r, 201);
	expect_envs(&r, true, true, true);
	vx_http_res_free(&r);
	r = req_a("PUT", "/feature-toggles/dark_mode", ana,
	    "{\"environment\":\"staging\",\"is_active\":false}");
	expect_status(&r, 200);
	expect_envs(&r, true, false, true);
	vx_http_res_free(&r);

	r = req_a("GET", "/feature-toggles/dark_mode", bo, NULL);
	expect_detail(&r, 404, "Feature toggle not found");
	r = req_a("PUT", "/feature-toggles/dark_mode", bo, "{\"is_active\":false}");
	expect_detail(&r, 404, "Feature toggle not found");
	r = req_a("GET", "/feature-toggles/", bo, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0, "Bo's list is empty: %s", r.body);
	vx_http_res_free(&r);
	/* Not in the shared `default` either. */
	r = req("GET", "/feature-toggles/dark_mode", NULL);
	expect_detail(&r, 404, "Feature toggle not found");
	/* Another user's application is not found by name in Ana's space. */
	make_project("shop");
	r = req_a("GET", "/feature-toggles/?application=shop", ana, NULL);
	expect_detail(&r, 404, "Application not found");
}

/* ---- one request, one write ---- */

Test(toggles, every_write_request_makes_one_revision_and_a_read_none)
{
	vx_http_res r;

	counted_free("POST", "/feature-toggles/",
	    "{\"name\":\"counted\",\"is_active\":true,\"environments\":{\"staging\":"
	    "false}}",
	    201, 1);
	counted_free("GET", "/feature-toggles/", NULL, 200, 0);
	counted_free("GET", "/feature-toggles/counted", NULL, 200, 0);
	/* Global state (every environment), one environment, several, and the
	 * fields with them: each one write. */
	counted_free("PUT", "/feature-toggles/counted", "{\"is_active\":false}", 200, 1);
	counted_free("PUT", "/feature-toggles/counted",
	    "{\"environment\":\"staging\",\"is_active\":true,\"description\":\"d\"}", 200,
	    1);
	counted_free("PUT", "/feature-toggles/counted",
	    "{\"environments\":{\"development\":true,\"production\":true},\"owner\":"
	    "\"o\","
	    "\"metadata\":{\"team\":\"a\"}}",
	    200, 1);
	r = req("GET", "/feature-toggles/counted", NULL);
	expect_status(&r, 200);
	expect_envs(&r, true, true, true);
	cr_assert_str_eq(jstr(r.json, "owner"), "o");
	vx_http_res_free(&r);
	/* Nothing to change: no write. */
	counted_free("PUT", "/feature-toggles/counted", "{}", 200, 0);
	/* Refusals write nothing, an unknown environment among known ones
	 * included. */
	counted_free("PUT", "/feature-toggles/counted",
	    "{\"description\":\"x\",\"environments\":{\"development\":false,\"moon\":"
	    "true}}",
	    404, 0);
	counted_free("PUT", "/feature-toggles/counted",
	    "{\"environment\":\"moon\",\"is_active\":true}", 404, 0);
	counted_free("PUT", "/feature-toggles/nothing", "{\"is_active\":true}", 404, 0);
	counted_free("POST", "/feature-toggles/",
	    "{\"name\":\"other\",\"environments\":{\"moon\":true}}", 404, 0);
	counted_free("POST", "/feature-toggles/", "{\"name\":\"counted\"}", 409, 0);
	r = req("GET", "/feature-toggles/counted", NULL);
	expect_status(&r, 200);
	expect_envs(&r, true, true, true);
	cr_assert_str_eq(jstr(r.json, "description"), "d");
	vx_http_res_free(&r);
}

/* The case: global PUTs looped over the environments, so
 * concurrent ones left them disagreeing. Global PUTs one way and the
 * other race with PUTs of single environments: afterwards the
 * environments agree unless a single-environment PUT came last, and every
 * request answered 200. */
Test(toggles, concurrent_global_puts_leave_every_environment_agreeing)
{
	enum { N = 8 };
	char auth[300], url[300];
	const char *hs[] = {auth, NULL};
	vx_http_req rq[N];
	vx_http_res res[N], r;

	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", h.key);
	snprintf(url, sizeof(url), "%s/feature-toggles/raced", g.base);
	r = req("POST", "/feature-toggles/", "{\"name\":\"raced\"}");
	expect_status(&r, 201);
	vx_http_res_free(&r);
	for (int round = 0; round < 10; round++) {
		const cJSON *envs, *e;
		int on = 0, n = 0;

		for (int i = 0; i < N; i++)
			rq[i] = (vx_http_req){.method = "PUT",
			    .url = url,
			    .headers = hs,
			    .body =
			        i % 2 ? "{\"is_active\":true}" : "{\"is_active\":false}"};
		vx_http_race(rq, N, res);
		for (int i = 0; i < N; i++) {
			expect_status(&res[i], 200);
			vx_http_res_free(&res[i]);
		}
		r = req("GET", "/feature-toggles/raced", NULL);
		expect_status(&r, 200);
		envs = jget(r.json, "environments");
		cJSON_ArrayForEach(e, envs)
		{
			on += cJSON_IsTrue(e);
			n++;
		}
		cr_assert(n == 3 && (on == 0 || on == n), "round %d: %s", round, r.body);
		vx_http_res_free(&r);
	}
}

/* PUTs of different environments at once: none is lost. */
Test(toggles, concurrent_puts_of_different_environments_are_all_kept)
{
	static const char *const envs[] = {"development", "staging", "production"};
	char auth[300], url[300];
	const char *hs[] = {auth, NULL};
	vx_http_req rq[3];
	vx_http_res res[3], r;

	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", h.key);
	snprintf(url, sizeof(url), "%s/feature-toggles/parts", g.base);
	r = req("POST", "/feature-toggles/", "{\"name\":\"parts\"}");
	expect_status(&r, 201);
	vx_http_res_free(&r);
	for (int round = 0; round < 6; round++) {
		bool want = round % 2 == 0;
		for (int i = 0; i < 3; i++)
			rq[i] = (vx_http_req){.method = "PUT",
			    .url = url,
			    .headers = hs,
			    .body = vx_fmt(
			        "{\"environments\":{\"%s\":%s},\"description\":\"r%d\"}",
			        envs[i], want ? "true" : "false", round)};
		vx_http_race(rq, 3, res);
		for (int i = 0; i < 3; i++) {
			expect_status(&res[i], 200);
			vx_http_res_free(&res[i]);
		}
		r = req("GET", "/feature-toggles/parts", NULL);
		expect_status(&r, 200);
		expect_envs(&r, want, want, want);
		vx_http_res_free(&r);
	}
}

/* ---- ids ---- */

/* An application by the ids the other dialects print: "proj-7", the
 * flag-service UUID, or the number. */
Test(toggles, an_application_is_named_by_any_id_form)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	vx_http_res r;
	unsigned long long id;

	make_project("shop");
	in.project = "shop";
	cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	id = (unsigned long long)p->id;
	vx_free(p);
	r = req("POST", vx_fmt("/feature-toggles/?application=proj-%llu", id),
	    "{\"name\":\"cart\"}");
	expect_status(&r, 201);
	vx_http_res_free(&r);
	r = req("GET", "/feature-toggles/cart?application=shop", NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/feature-toggles/cart?application=%llu", id), NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req("GET",
	    vx_fmt(
	        "/feature-toggles/cart?application=00000002-0000-4000-8000-%012llx", id),
	    NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req("GET", "/feature-toggles/cart?application=proj-999999", NULL);
	expect_detail(&r, 404, "Application not found");
}

/* ---- text the core refuses ---- */

Test(toggles, text_that_is_not_utf8_or_holds_nul_is_a_422_at_its_field)
{
	vx_http_res r;

	r = req("POST", "/feature-toggles/", "{\"name\":\"nul\\u0000tail\"}");
	expect_422(&r, "body", "name", "value_error");
	r = req("GET", "/feature-toggles/nul", NULL);
	expect_detail(&r, 404, "Feature toggle not found");
	r = req("POST", "/feature-toggles/", "{\"name\":\"t\",\"description\":\"\xff\"}");
	expect_422(&r, "body", "description", "string_unicode");
	r = req("POST", "/feature-toggles/", "{\"name\":\"t\",\"owner\":\"\xc3(\"}");
	expect_422(&r, "body", "owner", "string_unicode");
	r = req("POST", "/feature-toggles/", "{\"name\":\"t\"}");
	expect_status(&r, 201);
	vx_http_res_free(&r);
	r = req("PUT", "/feature-toggles/t", "{\"metadata\":{\"team\":\"\xf5\"}}");
	expect_422(&r, "body", "metadata", "string_unicode");
	r = req("PUT", "/feature-toggles/t", "{\"description\":\"a\\u0000b\"}");
	expect_422(&r, "body", "description", "value_error");
	r = req("GET", "/feature-toggles/t", NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "description"), "");
	vx_http_res_free(&r);
}
