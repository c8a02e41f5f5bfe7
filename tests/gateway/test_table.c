/*
 * Vexil gateway integration tests: the feature-flag table API
 * (specs/feature-flag-table-api.md, in Portuguese) over real HTTP.
 *
 * Every test gets a fresh vexild (the harness), whose new database holds
 * the three seeded flags in the `default` project, and a fresh
 * vexil-gateway in front of it, and speaks HTTP to the gateway with
 * libcurl, mostly with the bootstrap admin key ("Authorization: ApiKey").
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastapi_suite.h"

TestSuite(table, .init = setup, .fini = teardown, .timeout = 180);

/* ---- helpers ---- */

static double
jnum(const cJSON *o, const char *name)
{
	const cJSON *v = jget(o, name);
	cr_assert(cJSON_IsNumber(v), "%s is not a number", name);
	return v->valuedouble;
}

static Vexil__V1__Flag *
core_flag(uint64_t id)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;

	in.project = "default";
	in.id = id;
	cr_assert(vx_get_flag(h.admin, &in, &f, &st) == 0, "%s", st.message);
	return f;
}

/* The number of the core's environments where the flag is enabled. */
static size_t
envs_enabled(uint64_t id, size_t *n_envs)
{
	Vexil__V1__Flag *f = core_flag(id);
	size_t n = 0;

	for (size_t i = 0; i < f->n_envs; i++)
		n += f->envs[i]->enabled;
	*n_envs = f->n_envs;
	vx_free(f);
	return n;
}

static size_t
count(void)
{
	vx_http_res r = req("GET", "/api/feature-flags/", NULL);
	size_t n;

	expect_status(&r, 200);
	n = (size_t)cJSON_GetArraySize(r.json);
	vx_http_res_free(&r);
	return n;
}

static const char *const EXAMPLE =
    "{\"name_flag\":\"habilitar_novo_formulario\",\"is_enabled\":true,"
    "\"status\":\"beta\",\"strategy\":\"liberar_para_grupo_a; rollout=25%; "
    "regra: idade>=5\",\"variation\":\"A\",\"created_by\":10,\"updated_by\":10}";

/* ---- the seeded flags ---- */

static const struct {
	int id;
	const char *name, *strategy, *variation;
} seeds[] = {
	{1, "average_user", "restricted_access",
	    "{\"percentage\": 25, \"target_group\": \"standard_users\"}"},
	{2, "admin_super", "unrestricted_access",
	    "{\"allowed_roles\": [\"admin\", \"superadmin\"], \"visible_logs\": true}"},
	{3, "professional_tools", "role_based_access",
	    "{\"features\": [\"advanced_analytics\", \"bulk_export\"], "
	    "\"allowed_roles\": [\"pro\", \"specialist\"]}"},
};

static void
expect_seed(const cJSON *o, size_t i)
{
	cr_assert_eq(jnum(o, "id"), seeds[i].id);
	cr_assert_str_eq(jstr(o, "name_flag"), seeds[i].name);
	cr_assert(jbool(o, "is_enabled"));
	cr_assert_str_eq(jstr(o, "status"), "active");
	cr_assert_str_eq(jstr(o, "strategy"), seeds[i].strategy);
	cr_assert_str_eq(jstr(o, "variation"), seeds[i].variation);
	cr_assert(cJSON_IsNull(jget(o, "created_by")));
	cr_assert(cJSON_IsNull(jget(o, "updated_by")));
	cr_assert_eq(strlen(jstr(o, "created_at")), 20, "RFC 3339 to the second");
	cr_assert_eq(jstr(o, "created_at")[19], 'Z');
	cr_assert_str_eq(jstr(o, "created_at"), jstr(o, "updated_at"));
}

Test(table, a_new_database_lists_the_three_seeded_flags_with_their_values)
{
	vx_http_res r = req("GET", "/api/feature-flags/", NULL);
	const cJSON *o;
	size_t seen = 0;

	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 3, "%s", r.body);
	cJSON_ArrayForEach(o, r.json)
	{
		for (size_t i = 0; i < 3; i++)
			if (strcmp(jstr(o, "name_flag"), seeds[i].name) == 0) {
				expect_seed(o, i);
				seen |= (size_t)1 << i;
			}
	}
	cr_assert_eq(seen, 7, "all three seeds: %s", r.body);
	vx_http_res_free(&r);
	for (size_t i = 0; i < 3; i++) {
		r = req("GET", vx_fmt("/api/feature-flags/%d", seeds[i].id), NULL);
		expect_status(&r, 200);
		expect_seed(r.json, i);
		vx_http_res_free(&r);
	}
	/* average_user, checked word for word. */
	r = req("GET", "/api/feature-flags/1", NULL);
	cr_assert_str_eq(jstr(r.json, "variation"),
	    "{\"percentage\": 25, \"target_group\": \"standard_users\"}");
	vx_http_res_free(&r);
}

Test(table, the_seed_is_not_repeated_after_a_restart)
{
	vx_http_res r = req("DELETE", "/api/feature-flags/2", NULL);

	expect_status(&r, 204);
	vx_http_res_free(&r);
	cr_assert_eq(vx_harness_stop(&h), 0);
	vx_harness_restart(&h);
	cr_assert_eq(count(), 2, "a deleted seed stays deleted, none is added");
}

/* ---- credentials ---- */

Test(table, every_route_needs_a_credential)
{
	static const char *const routes[][2] = {
		{"GET", "/api/feature-flags/"},
		{"GET", "/api/feature-flags"},
		{"POST", "/api/feature-flags/"},
		{"GET", "/api/feature-flags/1"},
		{"PUT", "/api/feature-flags/1"},
		{"DELETE", "/api/feature-flags/1"},
	};
	vx_http_res r;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		r = req_a(routes[i][0], routes[i][1], NULL, EXAMPLE);
		expect_detail(&r, 401, "Not authenticated");
		r = req_a(routes[i][0], routes[i][1], "Basic dXNlcjpwdw==", EXAMPLE);
		expect_detail(&r, 401, "Not authenticated");
	}
	/* Credentials vexild refuses: its 401, through the status table. */
	r = req_a("GET", "/api/feature-flags/", "ApiKey vx_not_a_real_key", NULL);
	expect_detail(&r, 401, NULL);
	r = req_a("GET", "/api/feature-flags/1", "Bearer not.a.jwt", NULL);
	expect_detail(&r, 401, NULL);
	cr_assert_eq(count(), 3, "nothing was created");
}

/*
 * A signed-up user has a table of their own (their own `default` project,
 * made on first use): empty at first, theirs to write, and out of reach
 * of other users and of the shared table.
 */
Test(table, each_user_has_a_table_of_their_own)
{
	char ana[2048], bo[2048];
	vx_http_res r;
	long id;

	snprintf(ana, sizeof(ana), "%s", user_auth("ana@example.com"));
	snprintf(bo, sizeof(bo), "%s", user_auth("bo@example.com"));

	r = req_a("GET", "/api/feature-flags/", ana, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0, "a new user's table is empty: %s", r.body);
	vx_http_res_free(&r);

	r = req_a("POST", "/api/feature-flags/", ana, EXAMPLE);
	expect_status(&r, 201);
	id = (long)jget(r.json, "id")->valuedouble;
	vx_http_res_free(&r);
	r = req_a("GET", vx_fmt("/api/feature-flags/%ld", id), ana, NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	r = req_a("PUT", vx_fmt("/api/feature-flags/%ld", id), ana,
	    "{\"is_enabled\":false,\"updated_by\":7}");
	expect_status(&r, 200);
	cr_assert(!jbool(r.json, "is_enabled"));
	vx_http_res_free(&r);

	/* Another user: their own empty table; Ana's record is not found. */
	r = req_a("GET", "/api/feature-flags/", bo, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0, "Bo sees nothing of Ana's: %s", r.body);
	vx_http_res_free(&r);
	r = req_a("GET", vx_fmt("/api/feature-flags/%ld", id), bo, NULL);
	expect_detail(&r, 404, NULL);
	r = req_a("DELETE", vx_fmt("/api/feature-flags/%ld", id), bo, NULL);
	expect_detail(&r, 404, NULL);

	/* The shared table still holds exactly the seeds. */
	cr_assert_eq(count(), 3, "a user's write never reaches the shared table");

	r = req_a("DELETE", vx_fmt("/api/feature-flags/%ld", id), ana, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	/* A token that is not signed by vexild changes nothing. */
	r = req_a("POST", "/api/feature-flags/", vx_fmt("%s1", ana), EXAMPLE);
	expect_detail(&r, 401, NULL);
}

/* ---- create ---- */

Test(table, create_answers_201_with_the_record_and_enables_every_environment)
{
	vx_http_res r = req("POST", "/api/feature-flags/", EXAMPLE);
	size_t n, on;
	int id;

	expect_status(&r, 201);
	id = (int)jnum(r.json, "id");
	cr_assert_eq(id, 4, "ids go on from the seeds");
	cr_assert_str_eq(jstr(r.json, "name_flag"), "habilitar_novo_formulario");
	cr_assert(jbool(r.json, "is_enabled"));
	cr_assert_str_eq(jstr(r.json, "status"), "beta");
	cr_assert_str_eq(jstr(r.json, "strategy"),
	    "liberar_para_grupo_a; rollout=25%; regra: idade>=5");
	cr_assert_str_eq(jstr(r.json, "variation"), "A");
	cr_assert_eq(jnum(r.json, "created_by"), 10);
	cr_assert_eq(jnum(r.json, "updated_by"), 10);
	cr_assert_str_eq(jstr(r.json, "created_at"), jstr(r.json, "updated_at"));
	vx_http_res_free(&r);
	on = envs_enabled(4, &n);
	cr_assert_eq(n, 3);
	cr_assert_eq(on, 3, "is_enabled holds in every environment");

	r = req("GET", "/api/feature-flags/4", NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "status"), "beta");
	vx_http_res_free(&r);

	/* Without the trailing slash too; is_enabled defaults to true and the
	 * optional columns are null. */
	r = req("POST", "/api/feature-flags",
	    "{\"name_flag\":\"minimal\",\"strategy\":\"all\"}");
	expect_status(&r, 201);
	cr_assert(jbool(r.json, "is_enabled"));
	cr_assert(cJSON_IsNull(jget(r.json, "status")));
	cr_assert(cJSON_IsNull(jget(r.json, "variation")));
	cr_assert(cJSON_IsNull(jget(r.json, "created_by")));
	vx_http_res_free(&r);

	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"off_everywhere\",\"strategy\":\"none\",\"is_enabled\":false}");
	expect_status(&r, 201);
	cr_assert_not(jbool(r.json, "is_enabled"));
	id = (int)jnum(r.json, "id");
	vx_http_res_free(&r);
	cr_assert_eq(envs_enabled((uint64_t)id, &n), 0);
}

Test(table, create_derives_a_valid_unique_key_from_name_flag)
{
	vx_http_res r;
	Vexil__V1__Flag *f;
	int id;

	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"Novo formul\\u00e1rio beta!\",\"strategy\":\"s\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(r.json, "name_flag"), "Novo formul\xc3\xa1rio beta!");
	id = (int)jnum(r.json, "id");
	vx_http_res_free(&r);
	f = core_flag((uint64_t)id);
	cr_assert_str_eq(f->key, "Novo-formul-rio-beta");
	vx_free(f);

	/* The table allows equal names; the core's keys get a suffix. */
	for (int n = 2; n <= 3; n++) {
		r = req("POST", "/api/feature-flags/",
		    "{\"name_flag\":\"average_user\",\"strategy\":\"s\"}");
		expect_status(&r, 201);
		cr_assert_str_eq(jstr(r.json, "name_flag"), "average_user");
		id = (int)jnum(r.json, "id");
		vx_http_res_free(&r);
		f = core_flag((uint64_t)id);
		cr_assert_str_eq(f->key, vx_fmt("average_user-%d", n));
		vx_free(f);
	}
}

Test(table, create_validation_errors_are_fastapi_422s)
{
	vx_http_res r;

	r = req("POST", "/api/feature-flags/", "{\"name_flag\":\"x\"}");
	expect_422(&r, "body", "strategy", "missing");
	r = req("POST", "/api/feature-flags/", "{}");
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "detail")), 2,
	    "both missing fields at once: %s", r.body);
	expect_422(&r, "body", "name_flag", "missing");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"x\",\"strategy\":\"s\",\"is_enabled\":\"yes\"}");
	expect_422(&r, "body", "is_enabled", "bool_parsing");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"x\",\"strategy\":\"s\",\"is_enabled\":[]}");
	expect_422(&r, "body", "is_enabled", "bool_type");
	r = req("POST", "/api/feature-flags/", "{\"name_flag\":5,\"strategy\":\"s\"}");
	expect_422(&r, "body", "name_flag", "string_type");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"x\",\"strategy\":\"s\",\"variation\":{\"a\":1}}");
	expect_422(&r, "body", "variation", "string_type");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"x\",\"strategy\":\"s\",\"created_by\":\"ten\"}");
	expect_422(&r, "body", "created_by", "int_parsing");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"x\",\"strategy\":\"s\",\"created_by\":1.5}");
	expect_422(&r, "body", "created_by", "int_from_float");
	r = req("POST", "/api/feature-flags/", "{\"name_flag\":");
	expect_422(&r, "body", NULL, "json_invalid");
	r = req("POST", "/api/feature-flags/", "[1]");
	expect_422(&r, "body", NULL, "model_attributes_type");
	r = req("POST", "/api/feature-flags/", NULL);
	expect_422(&r, "body", NULL, "missing");
	cr_assert_eq(count(), 3, "no refused request created anything");
}

/* ---- list ---- */

Test(table, list_pages_with_skip_and_limit)
{
	vx_http_res r;

	/* Listed in the core's key order: admin_super, average_user,
	 * professional_tools. */
	r = req("GET", "/api/feature-flags/?skip=1&limit=1", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 1, "%s", r.body);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(r.json, 0), "name_flag"), "average_user");
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags?skip=1", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 2);
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/?limit=2", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 2);
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/?limit=0", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0);
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/?skip=10", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0);
	vx_http_res_free(&r);

	r = req("GET", "/api/feature-flags/?skip=-1", NULL);
	expect_422(&r, "query", "skip", "greater_than_equal");
	r = req("GET", "/api/feature-flags/?limit=ten", NULL);
	expect_422(&r, "query", "limit", "int_parsing");
}

Test(table, list_defaults_to_a_limit_of_100)
{
	vx_http_res r;

	for (int i = 0; i < 100; i++) {
		r = req("POST", "/api/feature-flags/",
		    vx_fmt("{\"name_flag\":\"f%03d\",\"strategy\":\"s\",\"is_enabled\":false}", i));
		expect_status(&r, 201);
		vx_http_res_free(&r);
	}
	r = req("GET", "/api/feature-flags/", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 100);
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/?limit=1000", NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 103);
	vx_http_res_free(&r);
}

/* ---- get ---- */

Test(table, an_unknown_id_is_404_and_a_non_integer_id_is_422)
{
	vx_http_res r;

	r = req("GET", "/api/feature-flags/999", NULL);
	expect_detail(&r, 404, "Feature flag not found");
	r = req("GET", "/api/feature-flags/0", NULL);
	expect_detail(&r, 404, "Feature flag not found");
	r = req("PUT", "/api/feature-flags/999", "{\"updated_by\":1}");
	expect_detail(&r, 404, "Feature flag not found");
	r = req("DELETE", "/api/feature-flags/999", NULL);
	expect_detail(&r, 404, "Feature flag not found");
	r = req("GET", "/api/feature-flags/abc", NULL);
	expect_422(&r, "path", "feature_flag_id", "int_parsing");
	/* The router's own answers, in FastAPI's words. */
	r = req("PATCH", "/api/feature-flags/1", "{}");
	expect_detail(&r, 405, "Method Not Allowed");
	r = req("GET", "/api/feature-flags/1/extra", NULL);
	expect_detail(&r, 404, "Not Found");
}

/* ---- update ---- */

Test(table, put_is_a_partial_update_that_needs_updated_by)
{
	vx_http_res r;
	size_t n;

	r = req("PUT", "/api/feature-flags/1", "{\"status\":\"inactive\"}");
	expect_422(&r, "body", "updated_by", "missing");
	r = req("PUT", "/api/feature-flags/1", "{\"updated_by\":null}");
	expect_422(&r, "body", "updated_by", "int_type");
	r = req("PUT", "/api/feature-flags/1", "{\"updated_by\":\"x\"}");
	expect_422(&r, "body", "updated_by", "int_parsing");
	r = req("PUT", "/api/feature-flags/1", "{\"updated_by\":1,\"is_enabled\":1}");
	expect_422(&r, "body", "is_enabled", "bool_type");
	r = req("PUT", "/api/feature-flags/1", NULL);
	expect_422(&r, "body", NULL, "missing");
	r = req("GET", "/api/feature-flags/1", NULL);
	expect_seed(r.json, 0);
	vx_http_res_free(&r);

	r = req("PUT", "/api/feature-flags/1", "{\"updated_by\":7,\"status\":\"inactive\"}");
	expect_status(&r, 200);
	cr_assert_eq(jnum(r.json, "id"), 1);
	cr_assert_str_eq(jstr(r.json, "status"), "inactive");
	cr_assert_eq(jnum(r.json, "updated_by"), 7);
	cr_assert(cJSON_IsNull(jget(r.json, "created_by")));
	cr_assert_str_eq(jstr(r.json, "strategy"), "restricted_access", "kept");
	cr_assert_str_eq(jstr(r.json, "variation"),
	    "{\"percentage\": 25, \"target_group\": \"standard_users\"}", "kept");
	cr_assert(jbool(r.json, "is_enabled"), "kept");
	cr_assert_str_eq(jstr(r.json, "name_flag"), "average_user", "kept");
	vx_http_res_free(&r);

	r = req("PUT", "/api/feature-flags/1",
	    "{\"updated_by\":8,\"is_enabled\":false,\"name_flag\":\"renamed user\","
	    "\"strategy\":\"open\",\"variation\":\"B\",\"created_by\":3}");
	expect_status(&r, 200);
	cr_assert_not(jbool(r.json, "is_enabled"));
	cr_assert_str_eq(jstr(r.json, "name_flag"), "renamed user");
	cr_assert_str_eq(jstr(r.json, "strategy"), "open");
	cr_assert_str_eq(jstr(r.json, "variation"), "B");
	cr_assert_eq(jnum(r.json, "created_by"), 3);
	cr_assert_eq(jnum(r.json, "updated_by"), 8);
	cr_assert_str_eq(jstr(r.json, "status"), "inactive", "kept");
	vx_http_res_free(&r);
	cr_assert_eq(envs_enabled(1, &n), 0, "is_enabled false in every environment");

	r = req("PUT", "/api/feature-flags/1", "{\"updated_by\":8,\"is_enabled\":true}");
	expect_status(&r, 200);
	cr_assert(jbool(r.json, "is_enabled"));
	vx_http_res_free(&r);
	cr_assert_eq(envs_enabled(1, &n), 3);

	r = req("GET", "/api/feature-flags/1", NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "name_flag"), "renamed user");
	vx_http_res_free(&r);
}

/* ---- delete ---- */

Test(table, delete_answers_204_and_the_record_is_gone)
{
	vx_http_res r = req("DELETE", "/api/feature-flags/3", NULL);

	expect_status(&r, 204);
	cr_assert_eq(r.len, 0, "no content: %s", r.body ? r.body : "");
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/3", NULL);
	expect_detail(&r, 404, "Feature flag not found");
	r = req("DELETE", "/api/feature-flags/3", NULL);
	expect_detail(&r, 404, "Feature flag not found");
	cr_assert_eq(count(), 2);
}

/* ---- one request, one write ---- */

Test(table, every_write_request_makes_one_revision_and_a_read_none)
{
	vx_http_res r;
	int id, id2;
	size_t n;

	/* Create: the key derived and every environment enabled, one write. */
	r = counted("POST", "/api/feature-flags/", EXAMPLE, 201, 1);
	id = (int)jnum(r.json, "id");
	vx_http_res_free(&r);
	cr_assert_eq(envs_enabled((uint64_t)id, &n), n);
	/* The same name again: a second key, still one write. */
	r = counted("POST", "/api/feature-flags/", EXAMPLE, 201, 1);
	id2 = (int)jnum(r.json, "id");
	vx_http_res_free(&r);
	cr_assert_neq(id, id2);
	counted_free("GET", "/api/feature-flags/", NULL, 200, 0);
	counted_free("GET", vx_fmt("/api/feature-flags/%d", id), NULL, 200, 0);
	/* is_enabled in every environment, the name and the columns: one. */
	counted_free("PUT", vx_fmt("/api/feature-flags/%d", id),
	    "{\"is_enabled\":false,\"name_flag\":\"renamed\",\"status\":\"ga\","
	    "\"updated_by\":11}",
	    200, 1);
	cr_assert_eq(envs_enabled((uint64_t)id, &n), 0);
	counted_free("PUT", vx_fmt("/api/feature-flags/%d", id),
	    "{\"is_enabled\":true,\"updated_by\":12}", 200, 1);
	cr_assert_eq(envs_enabled((uint64_t)id, &n), n);
	/* Refusals write nothing. */
	counted_free(
	    "PUT", vx_fmt("/api/feature-flags/%d", id), "{\"is_enabled\":true}", 422, 0);
	counted_free("PUT", "/api/feature-flags/999999", "{\"updated_by\":1}", 404, 0);
	counted_free("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"\",\"strategy\":\"s\"}", 422, 0);
	counted_free("DELETE", vx_fmt("/api/feature-flags/%d", id), NULL, 204, 1);
	counted_free("DELETE", vx_fmt("/api/feature-flags/%d", id), NULL, 404, 0);
}

/* A PUT with the caller's columns. */
static vx_http_req
put_req(char *url, size_t cap, const char *const *hs, int id, const char *body)
{
	snprintf(url, cap, "%s/api/feature-flags/%d", g.base, id);
	return (vx_http_req){.method = "PUT", .url = url, .headers = hs, .body = body};
}

/* The case: concurrent PUTs of is_enabled left environments
 * disagreeing. Here PUTs that set is_enabled one way or the other, and
 * others that change only a column, race: every environment agrees with
 * the others afterwards, and no PUT's column is lost to another's
 * read-modify-write. */
Test(table, concurrent_puts_leave_every_environment_agreeing_and_lose_no_column)
{
	enum { N = 8 };
	char auth[300], urls[N][300];
	const char *hs[] = {auth, NULL};
	const char *bodies[N];
	vx_http_req rq[N];
	vx_http_res res[N], r;
	size_t n, on;
	int id;

	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", h.key);
	r = req("POST", "/api/feature-flags/", EXAMPLE);
	expect_status(&r, 201);
	id = (int)jnum(r.json, "id");
	vx_http_res_free(&r);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < N; i++) {
			/* Even: is_enabled; odd: a column of its own (created_by,
			 * status, strategy, variation). */
			static const char *const cols[] = {
			    "created_by", "status", "strategy", "variation"};
			if (i % 2 == 0)
				bodies[i] =
				    vx_fmt("{\"is_enabled\":%s,\"updated_by\":%d}",
				        (i / 2) % 2 ? "true" : "false", i);
			else if (i / 2 == 0)
				bodies[i] =
				    vx_fmt("{\"created_by\":%d,\"updated_by\":%d}",
				        100 + round, i);
			else
				bodies[i] = vx_fmt("{\"%s\":\"r%d\",\"updated_by\":%d}",
				    cols[i / 2], round, i);
			rq[i] = put_req(urls[i], sizeof(urls[i]), hs, id, bodies[i]);
		}
		vx_http_race(rq, N, res);
		for (int i = 0; i < N; i++) {
			expect_status(&res[i], 200);
			vx_http_res_free(&res[i]);
		}
		on = envs_enabled((uint64_t)id, &n);
		cr_assert(on == 0 || on == n, "round %d: %zu of %zu environments on",
		    round, on, n);
		r = req("GET", vx_fmt("/api/feature-flags/%d", id), NULL);
		expect_status(&r, 200);
		cr_assert_eq(jnum(r.json, "created_by"), 100 + round, "%s", r.body);
		cr_assert_str_eq(jstr(r.json, "status"), vx_fmt("r%d", round));
		cr_assert_str_eq(jstr(r.json, "strategy"), vx_fmt("r%d", round));
		cr_assert_str_eq(jstr(r.json, "variation"), vx_fmt("r%d", round));
		vx_http_res_free(&r);
	}
}

/* ---- ids ---- */

/* A record's id as the platform API ("flag-7") and the flag-service API
 * (its UUID) print it names the same record. */
Test(table, ids_in_the_other_dialects_forms_name_the_same_record)
{
	vx_http_res r = req("GET", "/api/feature-flags/flag-2", NULL);

	expect_status(&r, 200);
	cr_assert_eq(jnum(r.json, "id"), 2);
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/00000003-0000-4000-8000-000000000003", NULL);
	expect_status(&r, 200);
	cr_assert_eq(jnum(r.json, "id"), 3);
	vx_http_res_free(&r);
	r = req("GET", "/api/feature-flags/rule-2", NULL);
	expect_422(&r, "path", "feature_flag_id", "int_parsing");
	r = req("GET", "/api/feature-flags/flag-999999", NULL);
	expect_detail(&r, 404, "Feature flag not found");
}

/* ---- text and long text ---- */

Test(table, text_that_is_not_utf8_or_holds_nul_is_a_422_at_its_column)
{
	size_t before = count();
	vx_http_res r;

	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"bad\xff\",\"strategy\":\"s\"}");
	expect_422(&r, "body", "name_flag", "string_unicode");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"n\",\"strategy\":\"s\xc3\"}");
	expect_422(&r, "body", "strategy", "string_unicode");
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"n\",\"strategy\":\"s\",\"variation\":\"\xed\xa0\x80\"}");
	expect_422(&r, "body", "variation", "string_unicode");
	/* \u0000 is refused, not cut. */
	r = req("POST", "/api/feature-flags/",
	    "{\"name_flag\":\"nul\\u0000tail\",\"strategy\":\"s\"}");
	expect_422(&r, "body", "name_flag", "value_error");
	r = req(
	    "PUT", "/api/feature-flags/1", "{\"status\":\"a\\u0000b\",\"updated_by\":1}");
	expect_422(&r, "body", "status", "value_error");
	r = req("PUT", "/api/feature-flags/1", "{\"status\":\"\xff\",\"updated_by\":1}");
	expect_422(&r, "body", "status", "string_unicode");
	cr_assert_eq(count(), before);
	r = req("GET", "/api/feature-flags/1", NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "status"), "active");
	vx_http_res_free(&r);
}

/* name_flag and strategy are long text; name_flag is no key (the id is),
 * so any number of records share one; an empty one is a 422. */
Test(table, name_flag_and_strategy_are_long_text_and_names_repeat)
{
	char *name = malloc(301), *strategy = malloc(5001);
	vx_http_res r;
	size_t before;

	memset(name, 'n', 300);
	name[300] = '\0';
	memset(strategy, 's', 5000);
	strategy[5000] = '\0';
	r = req("POST", "/api/feature-flags/",
	    vx_fmt("{\"name_flag\":\"%s\",\"strategy\":\"%s\"}", name, "x"));
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(r.json, "name_flag"), name);
	vx_http_res_free(&r);
	{
		/* vx_fmt's buffers hold 4 KiB: build this body by hand. */
		size_t n = strlen(strategy) + 64;
		char *body = malloc(n);
		snprintf(
		    body, n, "{\"name_flag\":\"long\",\"strategy\":\"%s\"}", strategy);
		r = req("POST", "/api/feature-flags/", body);
		free(body);
	}
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(r.json, "strategy"), strategy);
	vx_http_res_free(&r);
	before = count();
	for (int i = 0; i < 101; i++) {
		r = req("POST", "/api/feature-flags/",
		    "{\"name_flag\":\"same\",\"strategy\":\"s\"}");
		expect_status(&r, 201);
		cr_assert_str_eq(jstr(r.json, "name_flag"), "same");
		vx_http_res_free(&r);
	}
	r = req("GET", "/api/feature-flags/?limit=1000", NULL);
	expect_status(&r, 200);
	cr_assert_eq((size_t)cJSON_GetArraySize(r.json), before + 101);
	vx_http_res_free(&r);
	r = req("POST", "/api/feature-flags/", "{\"name_flag\":\"\",\"strategy\":\"s\"}");
	expect_422(&r, "body", "name_flag", "string_too_short");
	r = req("PUT", "/api/feature-flags/1", "{\"name_flag\":\"\",\"updated_by\":1}");
	expect_422(&r, "body", "name_flag", "string_too_short");
	/* Past the core's 10000 bytes: 422 at the column. */
	{
		char *big = malloc(10002), *body = malloc(10100);
		memset(big, 'b', 10001);
		big[10001] = '\0';
		snprintf(body, 10100, "{\"name_flag\":\"n\",\"strategy\":\"%s\"}", big);
		r = req("POST", "/api/feature-flags/", body);
		expect_422(&r, "body", "strategy", "string_too_long");
		snprintf(body, 10100, "{\"name_flag\":\"%s\",\"strategy\":\"s\"}", big);
		r = req("POST", "/api/feature-flags/", body);
		expect_422(&r, "body", "name_flag", "string_too_long");
		free(body);
		free(big);
	}
	free(name);
	free(strategy);
}
