/*
 * Vexil gateway integration tests: OpenFeature's Remote Evaluation Protocol
 * (OFREP, /ofrep/v1) over real HTTP.
 *
 * Every test gets a fresh vexild (the harness) and vexil-gateway. The
 * flags are made with vexilctl in the default project's production
 * environment, one per flag type and reason:
 *
 *   flag         type     production                          serves
 *   static-on    boolean  on, rollout 100, no rules           on (STATIC)
 *   rollout-off  boolean  on, rollout 0                       off (DEFAULT)
 *   banner       string   on, email ends_with @example.com    green (TARGETING_MATCH)
 *                                                             else blue (SPLIT)
 *   limit        number   on, age gte 18 and tags contains    half = 0.5
 *                         beta                                else ten = 10
 *   theme        json     off                                 light (DISABLED)
 *
 * The sdk suite runs the real OpenFeature Node SDK with the OFREP provider
 * (web/tests/ofrep-sdk.mjs) against the gateway; the rest speak HTTP with
 * libcurl. The limit suite starts vexild with --rate-limit 3.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;
static char sdk_key[128];      /* bound to production */
static char sdk_any[128];      /* any environment of the default project */
static char api_key[128];      /* a read key of the default project */

/* ---- setup ---- */

/* Runs vexilctl with the admin key; returns its first line of output. */
static const char *
ctl(const char *fmt, ...)
{
	static char line[4096];
	char args[2048], cmd[4096];
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --rpc %s --key %s %s", VX_VEXILCTL_PATH, h.rpc, h.key,
	    args);
	line[0] = '\0';
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	cr_assert_eq(pclose(p), 0, "vexilctl %s failed", args);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static void
make_sdk_key(const char *env_arg, char out[128])
{
	cJSON *j = cJSON_Parse(ctl("sdk-key create --project default %s --json", env_arg));
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "secret");

	cr_assert(cJSON_IsString(s), "sdk-key create answered no secret");
	snprintf(out, 128, "%s", s->valuestring);
	cJSON_Delete(j);
}

static void
start(const char *rate)
{
	const char *extra[] = {"--rate-limit", rate, NULL};
	const char *on = "--project default --env production";

	vx_harness_start(&h, extra);
	ctl("flag create --project default static-on --name 'Static on'");
	ctl("flag enable %s static-on", on);
	ctl("flag create --project default rollout-off");
	ctl("flag enable %s rollout-off", on);
	ctl("flag rollout %s rollout-off 0", on);
	ctl("flag create --project default banner --type string --variant blue='\"blue\"' "
	    "--variant green='\"green\"' --variant red='\"red\"'");
	ctl("flag enable %s banner", on);
	ctl("rule add %s banner --cond 'email ends_with @example.com' --variant green "
	    "--priority 10", on);
	ctl("flag create --project default limit --type number --variant ten=10 "
	    "--variant half=0.5");
	ctl("flag enable %s limit", on);
	ctl("rule add %s limit --cond 'age gte 18' --cond 'tags contains beta' "
	    "--variant half", on);
	ctl("flag create --project default theme --type json "
	    "--variant dark='{\"bg\":\"#000\",\"size\":3}' --variant light='{\"bg\":\"#fff\"}'");
	make_sdk_key("--env production", sdk_key);
	make_sdk_key("", sdk_any);
	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_READ, api_key, sizeof(api_key));
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
	start("3");
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

TestSuite(ofrep, .init = setup, .fini = teardown, .timeout = 180);
TestSuite(ofrep_sdk, .init = setup, .fini = teardown, .timeout = 180);
TestSuite(ofrep_limit, .init = setup_limited, .fini = teardown, .timeout = 180);

/* ---- helpers ---- */

/* POST path with headers (NULL-terminated, may be NULL) and a body. */
static vx_http_res
post_h(const char *path, const char *const *headers, const char *body)
{
	char url[1024];
	vx_http_req rq = {.method = "POST", .url = url, .headers = headers, .body = body};

	snprintf(url, sizeof(url), "%s%s", g.base, path);
	return vx_http(&rq);
}

/* POST with "Authorization: Bearer <key>". */
static vx_http_res
post(const char *path, const char *key, const char *body)
{
	char auth[300];
	const char *hs[] = {auth, "Content-Type: application/json", NULL};

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	return post_h(path, hs, body);
}

/* POST to the platform API with "Authorization: ApiKey <api_key>". */
static vx_http_res
post_platform(const char *path, const char *body)
{
	char auth[300];
	const char *hs[] = {auth, "Content-Type: application/json", NULL};

	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", api_key);
	return post_h(path, hs, body);
}

static const cJSON *
jget(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON *v = jget(o, name);

	cr_assert(cJSON_IsString(v), "%s is not a string", name);
	return v->valuestring;
}

static void
expect_status(const vx_http_res *r, long status)
{
	cr_assert_eq(r->status, status, "status %ld, want %ld: %s", r->status, status,
	    r->body ? r->body : "");
}

/* An OFREP failure body: status, errorCode, and a key when given. */
static void
expect_failure(vx_http_res *r, long status, const char *code, const char *key)
{
	expect_status(r, status);
	cr_assert_not_null(r->json, "not JSON: %s", r->body);
	cr_assert_str_eq(jstr(r->json, "errorCode"), code, "%s", r->body);
	cr_assert_gt(strlen(jstr(r->json, "errorDetails")), 0);
	if (key)
		cr_assert_str_eq(jstr(r->json, "key"), key, "%s", r->body);
	else
		cr_assert_null(jget(r->json, "key"), "%s", r->body);
	vx_http_res_free(r);
}

static void
expect_empty(vx_http_res *r, long status)
{
	expect_status(r, status);
	cr_assert_eq(r->len, 0, "no body, not %s", r->body);
	vx_http_res_free(r);
}

/* The item of flag key in a bulk answer. */
static const cJSON *
bulk_item(const cJSON *flags, const char *key)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, flags)
	{
		if (strcmp(jstr(e, "key"), key) == 0)
			return e;
	}
	cr_assert_fail("no %s among the flags", key);
	return NULL;
}

/* ---- single flag ---- */

Test(ofrep, a_single_flag_answers_value_variant_reason_and_metadata)
{
	vx_http_res r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"email\":\"ann@example.com\"}}");

	expect_status(&r, 200);
	cr_assert(strncmp(r.content_type, "application/json", 16) == 0);
	cr_assert_str_eq(jstr(r.json, "key"), "banner");
	cr_assert_str_eq(jstr(r.json, "value"), "green");
	cr_assert_str_eq(jstr(r.json, "variant"), "green");
	cr_assert_str_eq(jstr(r.json, "reason"), "TARGETING_MATCH");
	/* metadata is the flag's own (none here); the environment and the
	 * rule are headers. */
	cr_assert(cJSON_IsObject(jget(r.json, "metadata")), "%s", r.body);
	cr_assert_eq(cJSON_GetArraySize(jget(r.json, "metadata")), 0, "%s", r.body);
	cr_assert_str_eq(r.vexil_env, "production");
	cr_assert_gt(strtoull(r.vexil_rule, NULL, 10), 0, "%s", r.vexil_rule);
	vx_http_res_free(&r);

	/* Values keep the flag's type. */
	r = post("/ofrep/v1/evaluate/flags/limit", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"age\":30,\"tags\":[\"x\",\"beta\"]}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsNumber(jget(r.json, "value")), "%s", r.body);
	cr_assert_float_eq(jget(r.json, "value")->valuedouble, 0.5, 1e-9);
	cr_assert_str_eq(jstr(r.json, "reason"), "TARGETING_MATCH");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/limit", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"age\":17,\"tags\":[\"beta\"]}}");
	expect_status(&r, 200);
	cr_assert_float_eq(jget(r.json, "value")->valuedouble, 10, 1e-9);
	cr_assert_str_eq(jstr(r.json, "reason"), "SPLIT", "a flag with rules splits");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/theme", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsObject(jget(r.json, "value")), "%s", r.body);
	cr_assert_str_eq(jstr(jget(r.json, "value"), "bg"), "#fff");
	cr_assert_str_eq(jstr(r.json, "reason"), "DISABLED");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/static-on", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(r.json, "value")), "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "reason"), "STATIC");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/rollout-off", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(r.json, "value")), "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "reason"), "DEFAULT");
	vx_http_res_free(&r);
}

Test(ofrep, an_unknown_flag_is_404_flag_not_found)
{
	vx_http_res r = post("/ofrep/v1/evaluate/flags/nope", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");

	expect_failure(&r, 404, "FLAG_NOT_FOUND", "nope");
	/* A key the core cannot hold names no flag either. */
	r = post("/ofrep/v1/evaluate/flags/%20bad%20key", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_failure(&r, 404, "FLAG_NOT_FOUND", " bad key");
}

Test(ofrep, a_context_without_a_targeting_key_is_evaluated_like_any_other)
{
	vx_http_res r = post("/ofrep/v1/evaluate/flags/limit", sdk_key, "{\"context\":{}}");

	/* A 100% rollout lets everyone in, with or without an id. */
	expect_status(&r, 200);
	cr_assert_float_eq(jget(r.json, "value")->valuedouble, 10, 1e-9);
	cr_assert_str_eq(jstr(r.json, "reason"), "SPLIT");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "value"), "blue");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/static-on", sdk_key, "{}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(r.json, "value")), "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "reason"), "STATIC");
	vx_http_res_free(&r);
	/* A flag that needs no bucket answers without one. */
	r = post("/ofrep/v1/evaluate/flags/theme", sdk_key, "{}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "reason"), "DISABLED");
	vx_http_res_free(&r);
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"email\":\"ann@example.com\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "reason"), "TARGETING_MATCH");
	vx_http_res_free(&r);
}

Test(ofrep, bad_and_missing_keys_are_401_with_no_body)
{
	const char *none[] = {"Content-Type: application/json", NULL};
	const char *xkey[] = {"X-API-Key: vxk_0000000000000000000000000000000000000000", NULL};
	const char *basic[] = {"Authorization: Basic dTpw", NULL};
	vx_http_res r;

	r = post_h("/ofrep/v1/evaluate/flags/banner", none, "{}");
	expect_empty(&r, 401);
	r = post_h("/ofrep/v1/evaluate/flags/banner", xkey, "{}");
	expect_empty(&r, 401);
	r = post_h("/ofrep/v1/evaluate/flags", basic, "{}");
	expect_empty(&r, 401);
	r = post("/ofrep/v1/evaluate/flags/banner", "vxs_0000000000000000000000000000000000000000",
	    "{}");
	expect_empty(&r, 401);
	/* And the gateway keeps serving. */
	r = post("/ofrep/v1/evaluate/flags/static-on", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	vx_http_res_free(&r);
}

Test(ofrep, an_api_key_names_the_environment_in_the_context)
{
	char auth[300];
	const char *hs[] = {auth, NULL};
	vx_http_res r;

	snprintf(auth, sizeof(auth), "X-API-Key: %s", api_key);
	r = post_h("/ofrep/v1/evaluate/flags/banner", hs,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"production\","
	    "\"email\":\"a@example.com\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "value"), "green");
	vx_http_res_free(&r);
	/* In development the flag is off. */
	r = post_h("/ofrep/v1/evaluate/flags/banner", hs,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"development\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "reason"), "DISABLED");
	cr_assert_str_eq(jstr(r.json, "value"), "red");
	vx_http_res_free(&r);
	/* Neither the key nor the context names one. */
	r = post_h("/ofrep/v1/evaluate/flags/banner", hs, "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 400);
	cr_assert(strstr(r.body, "environment") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	r = post("/ofrep/v1/evaluate/flags", sdk_any, "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_failure(&r, 400, "INVALID_CONTEXT", NULL);
	/* A global key has no project. */
	snprintf(auth, sizeof(auth), "X-API-Key: %s", h.key);
	r = post_h("/ofrep/v1/evaluate/flags/banner", hs,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"production\"}}");
	expect_status(&r, 400);
	cr_assert(strstr(r.body, "not bound to a project") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	snprintf(auth, sizeof(auth), "X-API-Key: %s", api_key);
	/* One that does not exist. */
	r = post_h("/ofrep/v1/evaluate/flags/banner", hs,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"moon\"}}");
	expect_status(&r, 400);
	cr_assert(strstr(r.body, "moon") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	/* An SDK key bound to production cannot be pointed elsewhere. */
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"staging\"}}");
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	/* An unbound SDK key takes the context's. */
	r = post("/ofrep/v1/evaluate/flags/static-on", sdk_any,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"staging\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "reason"), "DISABLED");
	vx_http_res_free(&r);
}

Test(ofrep, bad_bodies_and_contexts_are_400_naming_the_problem)
{
	vx_http_res r;

	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key, "{\"context\":");
	expect_failure(&r, 400, "PARSE_ERROR", "banner");
	r = post("/ofrep/v1/evaluate/flags", sdk_key, "[1]");
	expect_failure(&r, 400, "PARSE_ERROR", NULL);
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key, "{\"context\":3}");
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":42}}");
	expect_status(&r, 400);
	cr_assert(strstr(r.body, "targetingKey") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"address\":[{\"city\":\"Oslo\"}]}}");
	expect_status(&r, 400);
	cr_assert(strstr(r.body, "context.address") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	/* Nested objects are read by dotted path, within bounds. */
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"a\":{\"b\":{\"c\":{\"d\":{\"e\":"
	    "{\"f\":{\"g\":{\"h\":{\"i\":1}}}}}}}}}}");
	expect_status(&r, 400);
	cr_assert(strstr(r.body, "a name of 8 parts") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"user.name\":\"a\","
	    "\"user\":{\"name\":\"b\"}}}");
	expect_status(&r, 400);
	cr_assert(
	    strstr(r.body, "context.user.name is given twice") != NULL, "%s", r.body);
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"groups\":[1]}}");
	expect_failure(&r, 400, "INVALID_CONTEXT", "banner");
	/* Nothing changed, and the gateway keeps serving. */
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"groups\":[\"a\"],\"n\":null}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "value"), "blue");
	vx_http_res_free(&r);
}

/* ---- flagd's expectations (nested context, metadata, disabled) ---- */

Test(ofrep, a_nested_context_is_matched_by_dotted_path)
{
	const char *on = "--project default --env production";
	vx_http_res r;

	ctl("flag create --project default nested");
	ctl("flag enable %s nested", on);
	ctl("flag rollout %s nested 0", on);
	ctl("rule add %s nested --cond 'user.address.city equals Oslo' "
	    "--cond 'user.tier in 1,2' --variant on",
	    on);
	r = post("/ofrep/v1/evaluate/flags/nested", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"user\":{\"tier\":2,"
	    "\"address\":{\"city\":\"Oslo\",\"zip\":null}}}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(r.json, "value")), "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "reason"), "TARGETING_MATCH");
	vx_http_res_free(&r);
	/* Another city: the rule does not match. */
	r = post("/ofrep/v1/evaluate/flags/nested", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"user\":{\"tier\":2,"
	    "\"address\":{\"city\":\"Bergen\"}}}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsFalse(jget(r.json, "value")), "%s", r.body);
	cr_assert_str_eq(jstr(r.json, "reason"), "DEFAULT");
	vx_http_res_free(&r);
	/* The same context flattened by the caller is the same attribute. */
	r = post("/ofrep/v1/evaluate/flags/nested", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"user.tier\":1,"
	    "\"user.address.city\":\"Oslo\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(r.json, "value")), "%s", r.body);
	vx_http_res_free(&r);
	/* The platform API's user object nests the same way. */
	r = post_platform("/v1/sdk/evaluate",
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\",\"user\":"
	    "{\"tier\":1,\"address\":{\"city\":\"Oslo\"}}}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(jget(r.json, "flags"), "nested")), "%s", r.body);
	vx_http_res_free(&r);
}

Test(ofrep, metadata_is_the_flags_own_with_json_scalars_typed)
{
	vx_http_res r;
	const cJSON *md;

	ctl("flag update --project default banner --meta version=1.0.2 --meta count=2 "
	    "--meta ratio=0.1 --meta beta=true --meta code=007");
	r = post("/ofrep/v1/evaluate/flags/banner", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	md = jget(r.json, "metadata");
	cr_assert_str_eq(jstr(md, "version"), "1.0.2");
	cr_assert(cJSON_IsNumber(jget(md, "count")), "%s", r.body);
	cr_assert_eq(jget(md, "count")->valuedouble, 2);
	cr_assert_float_eq(jget(md, "ratio")->valuedouble, 0.1, 1e-12);
	cr_assert(cJSON_IsTrue(jget(md, "beta")), "%s", r.body);
	cr_assert_str_eq(jstr(md, "code"), "007", "not a JSON number: kept as text");
	cr_assert_eq(cJSON_GetArraySize(md), 5, "%s", r.body);
	vx_http_res_free(&r);
	/* The same in a bulk answer, with the environment as a header. */
	r = post("/ofrep/v1/evaluate/flags", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(r.vexil_env, "production");
	md = jget(bulk_item(jget(r.json, "flags"), "banner"), "metadata");
	cr_assert_eq(cJSON_GetArraySize(md), 5, "%s", r.body);
	md = jget(bulk_item(jget(r.json, "flags"), "static-on"), "metadata");
	cr_assert(cJSON_IsObject(md) && cJSON_GetArraySize(md) == 0, "%s", r.body);
	vx_http_res_free(&r);
}

Test(ofrep, a_disabled_flag_can_leave_the_callers_default_standing)
{
	vx_http_res r;

	/* Vexil's meaning: the off variant. */
	r = post("/ofrep/v1/evaluate/flags/theme", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "variant"), "light");
	vx_http_res_free(&r);
	/* flagd's: reason DISABLED with no value and no variant. */
	ctl("flag update --project default theme --when-disabled default");
	r = post("/ofrep/v1/evaluate/flags/theme", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "reason"), "DISABLED");
	cr_assert_null(jget(r.json, "value"), "%s", r.body);
	cr_assert_null(jget(r.json, "variant"), "%s", r.body);
	vx_http_res_free(&r);
	r = post_platform("/v1/sdk/evaluate",
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsNull(jget(jget(r.json, "flags"), "theme")), "%s", r.body);
	vx_http_res_free(&r);
	/* Where the flag is on, it serves as before. */
	ctl("flag enable --project default --env production theme");
	r = post("/ofrep/v1/evaluate/flags/theme", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsObject(jget(r.json, "value")), "%s", r.body);
	vx_http_res_free(&r);
	/* And back to Vexil's meaning. */
	ctl("flag disable --project default --env production theme");
	ctl("flag update --project default theme --when-disabled off");
	r = post("/ofrep/v1/evaluate/flags/theme", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "variant"), "light");
	vx_http_res_free(&r);
}

/* ---- one evaluation, every surface ---- */

/*
 * vexilctl, OFREP, the platform API and the flag-service API report the
 * same value and reason for the same evaluation (the flag-service API maps
 * the reason into its own words, and a non-boolean flag's value follows
 * its enabled).
 */
Test(ofrep, every_surface_reports_the_same_value_and_reason)
{
	static const struct {
		const char *flag, *value, *reason, *fs_reason;
		bool fs_enabled;
	} want[] = {
	    {"static-on", "true", "STATIC", "rollout", true},
	    {"rollout-off", "false", "DEFAULT", "rollout_excluded", false},
	    {"banner", "\"blue\"", "SPLIT", "rollout", true},
	    {"limit", "10", "SPLIT", "rollout", true},
	    {"theme", "{\"bg\":\"#fff\"}", "DISABLED", "disabled", false},
	};
	char plat_auth[300], fs_key[300];
	const char *plat_h[] = {plat_auth, "Content-Type: application/json", NULL};
	const char *fs_h[] = {fs_key, "Content-Type: application/json", NULL};
	vx_http_res plat, fs;

	snprintf(plat_auth, sizeof(plat_auth), "Authorization: ApiKey %s", api_key);
	snprintf(fs_key, sizeof(fs_key), "X-SDK-Key: %s", sdk_key);
	plat = post_h("/v1/sdk/evaluate", plat_h,
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\"}}");
	expect_status(&plat, 200);
	fs = post_h("/sdk/v1/evaluate", fs_h, "{\"user_id\":\"u1\"}");
	expect_status(&fs, 200);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *f = want[i].flag;
		char body[256], *v;
		const cJSON *e;
		cJSON *cl;
		vx_http_res r;

		cl = cJSON_Parse(
		    ctl("eval --project default --env production %s --ctx user_id=u1 "
		        "--json",
		        f));
		cr_assert_not_null(cl, "vexilctl eval %s printed no JSON", f);
		cr_assert_str_eq(jstr(cl, "reason"), want[i].reason, "vexilctl %s", f);
		cr_assert_str_eq(jstr(cl, "value"), want[i].value, "vexilctl %s", f);
		cJSON_Delete(cl);

		snprintf(body, sizeof(body), "/ofrep/v1/evaluate/flags/%s", f);
		r = post(body, sdk_key, "{\"context\":{\"targetingKey\":\"u1\"}}");
		expect_status(&r, 200);
		cr_assert_str_eq(jstr(r.json, "reason"), want[i].reason, "OFREP %s", f);
		v = cJSON_PrintUnformatted(jget(r.json, "value"));
		cr_assert_str_eq(v, want[i].value, "OFREP %s", f);
		free(v);
		vx_http_res_free(&r);

		v = cJSON_PrintUnformatted(jget(jget(plat.json, "flags"), f));
		cr_assert_not_null(v, "platform: no %s in %s", f, plat.body);
		cr_assert_str_eq(v, want[i].value, "platform %s", f);
		free(v);

		e = jget(fs.json, f);
		cr_assert_not_null(e, "flag-service: no %s in %s", f, fs.body);
		cr_assert_str_eq(
		    jstr(e, "reason"), want[i].fs_reason, "flag-service %s", f);
		cr_assert_eq(cJSON_IsTrue(jget(e, "enabled")), want[i].fs_enabled,
		    "flag-service %s: %s", f, fs.body);
		if (strcmp(want[i].value, "true") != 0 &&
		    strcmp(want[i].value, "false") != 0) {
			v = cJSON_PrintUnformatted(jget(e, "value"));
			cr_assert_str_eq(v, want[i].value, "flag-service %s value", f);
			free(v);
		}
	}
	vx_http_res_free(&plat);
	vx_http_res_free(&fs);
}

/* A key in UTF-8 is one percent-encoded path segment. */
Test(ofrep, a_utf8_flag_key_evaluates_percent_encoded)
{
	vx_http_res r;

	ctl("flag create --project default \xc3\xbcnicode-flag");
	ctl("flag enable --project default \xc3\xbcnicode-flag --env production");
	r = post("/ofrep/v1/evaluate/flags/%C3%BCnicode-flag", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "key"), "\xc3\xbcnicode-flag");
	cr_assert(cJSON_IsTrue(jget(r.json, "value")), "%s", r.body);
	vx_http_res_free(&r);
}

/* A failed prerequisite: OFREP names the reason, flag-service says disabled. */
Test(ofrep, a_failed_prerequisite_reads_the_same_everywhere)
{
	char fs_key[300];
	const char *fs_h[] = {fs_key, "Content-Type: application/json", NULL};
	const cJSON *e;
	vx_http_res r;

	ctl("flag create --project default parent");
	ctl("flag create --project default child");
	ctl("flag enable --project default child --env production");
	ctl("flag require --project default child --env production parent");
	r = post("/ofrep/v1/evaluate/flags/child", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(r.json, "reason"), "PREREQUISITE_FAILED");
	cr_assert(cJSON_IsFalse(jget(r.json, "value")), "%s", r.body);
	vx_http_res_free(&r);
	snprintf(fs_key, sizeof(fs_key), "X-SDK-Key: %s", sdk_key);
	r = post_h("/sdk/v1/evaluate", fs_h, "{\"user_id\":\"u1\"}");
	expect_status(&r, 200);
	e = jget(r.json, "child");
	cr_assert_not_null(e, "%s", r.body);
	cr_assert_str_eq(jstr(e, "reason"), "disabled");
	cr_assert(cJSON_IsFalse(jget(e, "enabled")), "%s", r.body);
	vx_http_res_free(&r);
	/* Once the parent is on, so is the child. */
	ctl("flag enable --project default parent --env production");
	r = post("/ofrep/v1/evaluate/flags/child", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\"}}");
	expect_status(&r, 200);
	cr_assert(cJSON_IsTrue(jget(r.json, "value")), "%s", r.body);
	vx_http_res_free(&r);
}

/* ---- bulk ---- */

Test(ofrep, bulk_evaluates_every_flag_with_an_event_stream)
{
	vx_http_res r = post("/ofrep/v1/evaluate/flags", sdk_key, "{\"context\":{}}");
	const cJSON *flags, *e, *s;
	char url[256];

	expect_status(&r, 200);
	flags = jget(r.json, "flags");
	cr_assert(cJSON_IsArray(flags), "%s", r.body);
	/* Five made here and the three the default project is seeded with. */
	cr_assert_eq(cJSON_GetArraySize(flags), 8, "%s", r.body);
	e = bulk_item(flags, "limit");
	cr_assert_null(jget(e, "errorCode"), "%s", r.body);
	cr_assert_float_eq(jget(e, "value")->valuedouble, 10, 1e-9);
	cr_assert_str_eq(jstr(e, "reason"), "SPLIT");
	cr_assert_str_eq(jstr(bulk_item(flags, "static-on"), "reason"), "STATIC");
	e = bulk_item(flags, "theme");
	cr_assert_str_eq(jstr(e, "reason"), "DISABLED");
	cr_assert_str_eq(jstr(jget(e, "value"), "bg"), "#fff");
	s = cJSON_GetArrayItem(jget(r.json, "eventStreams"), 0);
	cr_assert_not_null(s, "%s", r.body);
	cr_assert_str_eq(jstr(s, "type"), "sse");
	snprintf(url, sizeof(url), "%s/ofrep/v1/events", g.base);
	cr_assert_str_eq(jstr(s, "url"), url);
	cr_assert_eq(jget(s, "inactivityDelaySec")->valueint, 120);
	vx_http_res_free(&r);

	r = post("/ofrep/v1/evaluate/flags", sdk_key,
	    "{\"context\":{\"targetingKey\":\"u1\",\"email\":\"b@example.com\"}}");
	expect_status(&r, 200);
	flags = jget(r.json, "flags");
	cr_assert_str_eq(jstr(bulk_item(flags, "banner"), "value"), "green");
	cr_assert_str_eq(jstr(bulk_item(flags, "static-on"), "reason"), "STATIC");
	cr_assert_str_eq(jstr(bulk_item(flags, "rollout-off"), "reason"), "DEFAULT");
	cr_assert_float_eq(jget(bulk_item(flags, "limit"), "value")->valuedouble, 10, 1e-9);
	vx_http_res_free(&r);
}

Test(ofrep, bulk_answers_304_while_the_etag_holds)
{
	const char *body = "{\"context\":{\"targetingKey\":\"u1\"}}";
	char auth[300], inm[300], etag[128];
	const char *hs[] = {auth, inm, NULL};
	vx_http_res r = post("/ofrep/v1/evaluate/flags", sdk_key, body);

	expect_status(&r, 200);
	cr_assert(r.etag[0] == '"', "a strong ETag, not %s", r.etag);
	snprintf(etag, sizeof(etag), "%s", r.etag);
	vx_http_res_free(&r);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sdk_key);
	snprintf(inm, sizeof(inm), "If-None-Match: \"other\", %s", etag);
	r = post_h("/ofrep/v1/evaluate/flags", hs, body);
	cr_assert_str_eq(r.etag, etag);
	expect_empty(&r, 304);
	/* Another context evaluates differently: another tag. */
	r = post_h("/ofrep/v1/evaluate/flags", hs,
	    "{\"context\":{\"targetingKey\":\"u1\",\"email\":\"c@example.com\"}}");
	expect_status(&r, 200);
	cr_assert_str_neq(r.etag, etag);
	vx_http_res_free(&r);
	/* A change to a flag is a new tag. */
	ctl("flag enable --project default --env production theme");
	r = post_h("/ofrep/v1/evaluate/flags", hs, body);
	expect_status(&r, 200);
	cr_assert_str_neq(r.etag, etag);
	cr_assert_str_eq(jstr(bulk_item(jget(r.json, "flags"), "theme"), "reason"), "STATIC");
	vx_http_res_free(&r);
}

/* ---- the rate limit ---- */

Test(ofrep_limit, past_an_api_keys_limit_is_429_with_retry_after_and_no_body)
{
	const char *body =
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"production\"}}";
	char auth[300];
	const char *hs[] = {auth, NULL};
	vx_http_res r;

	snprintf(auth, sizeof(auth), "X-API-Key: %s", api_key);
	for (int i = 0; i < 3; i++) {
		r = post_h("/ofrep/v1/evaluate/flags/static-on", hs, body);
		expect_status(&r, 200);
		cr_assert_str_eq(r.retry_after, "");
		vx_http_res_free(&r);
	}
	r = post_h("/ofrep/v1/evaluate/flags", hs, body);
	cr_assert_gt(atoi(r.retry_after), 0, "Retry-After in seconds, not '%s'", r.retry_after);
	expect_empty(&r, 429);
	r = post_h("/ofrep/v1/evaluate/flags/static-on", hs, body);
	expect_empty(&r, 429);
	/* vexild limits API keys only: SDK keys serve clients at any rate. */
	for (int i = 0; i < 5; i++) {
		r = post("/ofrep/v1/evaluate/flags/static-on", sdk_key, body);
		expect_status(&r, 200);
		vx_http_res_free(&r);
	}
}

/* ---- the OpenFeature Node SDK ---- */

/* Runs web/tests/ofrep-sdk.mjs with spec; returns its answer. */
static cJSON *
node_sdk(const char *key, const char *spec)
{
	static const char *const needed[] = {"@openfeature/server-sdk",
		"@openfeature/ofrep-provider", "@openfeature/ofrep-core"};
	char cmd[8192];
	static char out[65536];
	size_t n;
	FILE *p;
	cJSON *j;

	vx_harness_need_node(VX_WEB_DIR, needed, sizeof(needed) / sizeof(needed[0]));
	cr_assert_null(strchr(spec, '\''));
	snprintf(cmd, sizeof(cmd), "node %s/tests/ofrep-sdk.mjs %s %s '%s'", VX_WEB_DIR,
	    g.base, key, spec);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "%s failed: %s", cmd, out);
	j = cJSON_Parse(out);
	cr_assert(cJSON_IsArray(j), "ofrep-sdk.mjs printed no JSON array: %s", out);
	return j;
}

/* Checks one SDK answer: the value as JSON text, variant, reason. */
static void
expect_sdk(const cJSON *res, int i, const char *value, const char *variant,
    const char *reason, const char *error_code)
{
	const cJSON *e = cJSON_GetArrayItem(res, i);
	char *v;

	cr_assert_not_null(e, "no answer %d", i);
	v = cJSON_PrintUnformatted(jget(e, "value"));
	cr_assert_str_eq(v, value, "%s: value", jstr(e, "flag"));
	free(v);
	if (variant)
		cr_assert_str_eq(jstr(e, "variant"), variant, "%s: variant", jstr(e, "flag"));
	cr_assert_str_eq(jstr(e, "reason"), reason, "%s: reason", jstr(e, "flag"));
	if (error_code)
		cr_assert_str_eq(jstr(e, "errorCode"), error_code, "%s", jstr(e, "flag"));
	else
		cr_assert(cJSON_IsNull(jget(e, "errorCode")), "%s: errorCode %s", jstr(e, "flag"),
		    cJSON_PrintUnformatted(jget(e, "errorCode")));
}

Test(ofrep_sdk, the_openfeature_node_sdk_evaluates_every_flag_type)
{
	const char *spec = "["
	    "{\"flag\":\"static-on\",\"type\":\"boolean\",\"default\":false,"
	    "\"context\":{\"targetingKey\":\"u1\"}},"
	    "{\"flag\":\"rollout-off\",\"type\":\"boolean\",\"default\":true,"
	    "\"context\":{\"targetingKey\":\"u1\"}},"
	    "{\"flag\":\"banner\",\"type\":\"string\",\"default\":\"none\","
	    "\"context\":{\"targetingKey\":\"u1\",\"email\":\"ann@example.com\"}},"
	    "{\"flag\":\"banner\",\"type\":\"string\",\"default\":\"none\","
	    "\"context\":{\"targetingKey\":\"u1\",\"email\":\"bob@example.org\"}},"
	    "{\"flag\":\"limit\",\"type\":\"number\",\"default\":-1,"
	    "\"context\":{\"targetingKey\":\"u1\",\"age\":30,\"tags\":[\"beta\"]}},"
	    "{\"flag\":\"limit\",\"type\":\"number\",\"default\":-1,"
	    "\"context\":{\"targetingKey\":\"u1\",\"age\":12,\"tags\":[\"beta\"]}},"
	    "{\"flag\":\"theme\",\"type\":\"object\",\"default\":{},"
	    "\"context\":{\"targetingKey\":\"u1\"}},"
	    "{\"flag\":\"nope\",\"type\":\"boolean\",\"default\":true,"
	    "\"context\":{\"targetingKey\":\"u1\"}},"
	    "{\"flag\":\"limit\",\"type\":\"number\",\"default\":-1,\"context\":{}},"
	    "{\"flag\":\"banner\",\"type\":\"number\",\"default\":7,"
	    "\"context\":{\"targetingKey\":\"u1\"}}"
	    "]";
	cJSON *res = node_sdk(sdk_key, spec);

	expect_sdk(res, 0, "true", "on", "STATIC", NULL);
	expect_sdk(res, 1, "false", "off", "DEFAULT", NULL);
	expect_sdk(res, 2, "\"green\"", "green", "TARGETING_MATCH", NULL);
	expect_sdk(res, 3, "\"blue\"", "blue", "SPLIT", NULL);
	expect_sdk(res, 4, "0.5", "half", "TARGETING_MATCH", NULL);
	expect_sdk(res, 5, "10", "ten", "SPLIT", NULL);
	expect_sdk(res, 6, "{\"bg\":\"#fff\"}", "light", "DISABLED", NULL);
	/* Errors come back as the SDK's own, with the caller's default. */
	expect_sdk(res, 7, "true", NULL, "ERROR", "FLAG_NOT_FOUND");
	expect_sdk(res, 8, "10", "ten", "SPLIT", NULL);
	expect_sdk(res, 9, "7", NULL, "ERROR", "TYPE_MISMATCH");
	cJSON_Delete(res);
}
