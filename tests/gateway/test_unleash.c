/*
 * Vexil gateway integration tests: Unleash's client register and metrics
 * and its frontend API (src/gateway/dialect_unleash_api.c), over HTTP.
 *
 * Each test gets a fresh vexild (the harness) with flags in the default
 * project's production and one in a second project, SDK keys of both, and
 * a gateway. Metrics are read back through the platform API's stats
 * (/v1/analytics/flags/{id}/stats); the frontend API is compared with
 * OFREP's bulk evaluation on randomized contexts (the seed is printed);
 * Unleash's own Node SDK (unleash-client, web/tests/unleash-metrics.mjs)
 * registers and sends its metrics to the gateway.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;
static char sdk_key[128];   /* default project, production */
static char other_key[128]; /* project other, production */
static char api_key[128];   /* a read API key of the default project */
static char id_b[32], id_s[32];

/* vexilctl with the admin key; its output (fails the test on an error). */
static const char *
ctl(const char *fmt, ...)
{
	static char out[8192];
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	cr_assert_eq(vx_harness_ctl(&h, out, sizeof(out), "%s", args), 0,
	    "vexilctl %s: %s", args, out);
	return out;
}

/* The "id" or "secret" of vexilctl's --json answer. */
static void
json_field(const char *text, const char *name, char *out, size_t cap)
{
	cJSON *j = cJSON_Parse(text), *k, *v;

	cr_assert_not_null(j, "not JSON: %s", text);
	k = cJSON_GetObjectItemCaseSensitive(j, "key");
	v = cJSON_GetObjectItemCaseSensitive(j, name);
	if (v == NULL && k != NULL)
		v = cJSON_GetObjectItemCaseSensitive(k, name);
	cr_assert_not_null(v, "no %s in %s", name, text);
	if (cJSON_IsNumber(v))
		snprintf(out, cap, "%.0f", v->valuedouble);
	else
		snprintf(out, cap, "%s", v->valuestring);
	cJSON_Delete(j);
}

static void
setup(void)
{
	/* The stats are polled with an API key: no limit to spend. */
	static const char *const args[] = {"--rate-limit", "1000000", NULL};
	const char *on = "--project default --env production";

	vx_harness_start(&h, args);
	json_field(
	    ctl("flag create --project default b --json"), "id", id_b, sizeof(id_b));
	ctl("flag enable %s b", on);
	ctl("flag rollout %s b 50", on);
	json_field(
	    ctl("flag create --project default s --type string --variant a='\"a\"' "
	        "--variant b='\"b\"' --variant c='\"c\"' --json"),
	    "id", id_s, sizeof(id_s));
	ctl("flag enable %s s", on);
	ctl("rule add %s s --cond 'country in NL,DE' --variant c --priority 10", on);
	ctl("rule add %s s --cond 'plan equals pro' --split a=50,b=50 --priority 5", on);
	ctl("flag create --project default pro --meta unleash.impressionData=true");
	ctl("flag enable %s pro", on);
	ctl("flag rollout %s pro 0", on);
	ctl("rule add %s pro --cond 'plan equals pro' --variant on --priority 10", on);
	ctl("flag create --project default dark");
	ctl("project create other");
	ctl("flag create --project other o1");
	ctl("flag enable --project other --env production o1");
	json_field(ctl("sdk-key create --project default --env production --json"),
	    "secret", sdk_key, sizeof(sdk_key));
	json_field(ctl("sdk-key create --project other --env production --json"),
	    "secret", other_key, sizeof(other_key));
	vx_harness_key(
	    &h, "default", VEXIL__V1__ROLE__ROLE_READ, api_key, sizeof(api_key));
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

TestSuite(unleash, .init = setup, .fini = teardown, .timeout = 240);

/* ---- helpers ---- */

static vx_http_res
call(const char *method, const char *path, const char *key, const char *body)
{
	const char *headers[] = {key ? vx_fmt("Authorization: %s", key) : NULL,
	    "Content-Type: application/json", NULL};
	char url[2048];

	snprintf(url, sizeof(url), "%s%s", g.base, path);
	if (key == NULL)
		headers[0] = headers[1], headers[1] = NULL;
	return vx_http(&(vx_http_req){
	    .method = method, .url = url, .headers = headers, .body = body});
}

/* The status of a call; the answer is freed. */
static long
status_of(const char *method, const char *path, const char *key, const char *body,
    const char *expect_in_body)
{
	vx_http_res r = call(method, path, key, body);
	long s = r.status;

	if (expect_in_body)
		cr_expect(r.body && strstr(r.body, expect_in_body),
		    "%s %s %s: %ld %s, not naming %s", method, path, body ? body : "",
		    r.status, r.body ? r.body : "", expect_in_body);
	vx_http_res_free(&r);
	return s;
}

/* A flag's production counts today (the platform API's stats): total,
 * and *of_variant for variant (when not NULL). */
static long
counts(const char *id, const char *variant, long *of_variant)
{
	vx_http_res r = call("GET",
	    vx_fmt("/v1/analytics/flags/%s/stats?period=24h&environment=production", id),
	    vx_fmt("ApiKey %s", api_key), NULL);
	const cJSON *ex, *day, *byv;
	long total;

	cr_assert_eq(r.status, 200, "%s", r.body);
	ex = cJSON_GetObjectItem(r.json, "exposures");
	total = (long)cJSON_GetObjectItem(ex, "total")->valuedouble;
	if (of_variant) {
		*of_variant = 0;
		byv = cJSON_GetObjectItem(cJSON_GetObjectItem(ex, "by_variant"), variant);
		cJSON_ArrayForEach(day, byv) *of_variant += (long)day->valuedouble;
	}
	vx_http_res_free(&r);
	return total;
}

/* Waits (a bounded number of polls) until flag id has want evaluations
 * counted: vexild writes counts in batches. */
static long
wait_counts(const char *id, long want)
{
	long n = 0;

	for (int i = 0; i < 200 && (n = counts(id, "", NULL)) < want; i++)
		usleep(50 * 1000);
	return n;
}

static bool
log_has(const char *needle)
{
	FILE *f = fopen(g.log, "r");
	char line[2048];
	bool found = false;

	cr_assert_not_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static const char register_body[] =
    "{\"appName\": \"shop\", \"instanceId\": \"pod-1\", \"sdkVersion\": "
    "\"unleash-client-node:6.12.1\", \"strategies\": [\"default\", "
    "\"flexibleRollout\"], \"started\": \"2026-12-07T10:00:00.000Z\", \"interval\": "
    "60000}";

/* ---- register ---- */

static const struct {
	const char *body, *names; /* what the error must name */
} bad_register[] = {
    {"{\"instanceId\": \"x\"}", "appName"},
    {"{\"appName\": \"a\", \"strategies\": \"default\"}", "strategies"},
    {"{\"appName\": \"a\", \"started\": \"yesterday\"}", "started"},
    {"{\"appName\": \"a\", \"interval\": -5}", "interval"},
    {"{\"appName\": \"\"}", "appName"},
    {"[1,", NULL},
};

Test(unleash, register_is_validated_answered_202_and_logged_without_a_write)
{
	uint64_t before = vx_project_revision(h.admin, "default");

	cr_expect_eq(
	    status_of("POST", "/api/client/register", sdk_key, register_body, NULL), 202);
	cr_expect(log_has("unleash: app shop instance pod-1"));
	cr_expect_eq(status_of("POST", "/api/frontend/client/register", sdk_key,
	                 register_body, NULL),
	    200);
	for (size_t i = 0; i < sizeof(bad_register) / sizeof(bad_register[0]); i++)
		cr_expect_eq(status_of("POST", "/api/client/register", sdk_key,
		                 bad_register[i].body, bad_register[i].names),
		    400, "body %zu", i);
	cr_expect_eq(
	    status_of("POST", "/api/client/register", NULL, register_body, NULL), 401);
	cr_expect_eq(status_of("POST", "/api/client/register", "sdk_wrongwrongwrong",
	                 register_body, NULL),
	    401);
	cr_expect_eq(vx_project_revision(h.admin, "default"), before,
	    "a registration wrote to the project");
}

/* ---- metrics ---- */

/* The production default and off variants of flag key. */
static void
env_variants(const char *key, char dflt[64], char off[64])
{
	cJSON *j = cJSON_Parse(ctl("flag get --project default %s --json", key)), *e;

	cr_assert_not_null(j);
	dflt[0] = off[0] = '\0';
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "envs"))
	{
		const cJSON *d = cJSON_GetObjectItem(e, "default_variant"),
		            *o = cJSON_GetObjectItem(e, "off_variant");
		if (strcmp(cJSON_GetObjectItem(e, "environment")->valuestring,
		        "production") != 0)
			continue;
		snprintf(dflt, 64, "%s", cJSON_IsString(d) ? d->valuestring : "");
		snprintf(off, 64, "%s", cJSON_IsString(o) ? o->valuestring : "");
	}
	cJSON_Delete(j);
	cr_assert(dflt[0] && off[0], "no production config of %s", key);
}

static const char metrics_body[] =
    "{\"appName\": \"shop\", \"instanceId\": \"pod-1\", \"bucket\": {"
    " \"start\": \"2026-12-07T10:00:00.000Z\", \"stop\": \"2026-12-07T10:01:00.000Z\","
    " \"toggles\": {"
    "  \"b\": {\"yes\": 5, \"no\": 3, \"variants\": {}},"
    "  \"s\": {\"yes\": 6, \"no\": 2, \"variants\": {\"c\": 1, \"b\": 2, \"disabled\": "
    "4}},"
    "  \"nope\": {\"yes\": 7, \"no\": 0}}}}";

Test(unleash, metrics_become_evaluation_counts_by_variant)
{
	uint64_t before = vx_project_revision(h.admin, "default");
	long on, off, c, b, dflt, soff;
	char s_default[64], s_off[64];

	env_variants("s", s_default, s_off);
	cr_assert_eq(counts(id_b, "on", NULL), 0);
	cr_expect_eq(
	    status_of("POST", "/api/client/metrics", sdk_key, metrics_body, NULL), 202);
	cr_expect_eq(wait_counts(id_b, 8), 8);
	cr_expect_eq(wait_counts(id_s, 8), 8);
	counts(id_b, "on", &on);
	counts(id_b, "off", &off);
	cr_expect(on == 5 && off == 3, "b: on %ld, off %ld", on, off);
	/* Named variants as they are; the rest of yes goes to the default
	 * variant, no to the off variant. */
	counts(id_s, "c", &c);
	counts(id_s, "b", &b);
	counts(id_s, s_default, &dflt);
	counts(id_s, s_off, &soff);
	cr_expect(b == 2 + (strcmp(s_default, "b") == 0 ? 3 : 0) +
	                   (strcmp(s_off, "b") == 0 ? 2 : 0),
	    "s: b %ld", b);
	cr_expect(c == 1 + (strcmp(s_default, "c") == 0 ? 3 : 0) +
	                   (strcmp(s_off, "c") == 0 ? 2 : 0),
	    "s: c %ld", c);
	cr_expect(dflt >= 3 && soff >= 2, "s: default %s %ld, off %s %ld", s_default,
	    dflt, s_off, soff);
	cr_expect(
	    log_has("1 of 3 toggles unknown"), "the unknown toggle was not counted");
	/* The frontend API's metrics count the same way. */
	cr_expect_eq(status_of("POST", "/api/frontend/client/metrics", sdk_key,
	                 metrics_body, NULL),
	    200);
	cr_expect_eq(wait_counts(id_b, 16), 16);
	cr_expect_eq(vx_project_revision(h.admin, "default"), before,
	    "metrics wrote to the project");
}

Test(unleash, bad_metrics_are_400_naming_the_field_and_count_nothing)
{
	static const struct {
		const char *body, *names;
	} bad[] = {
	    {"{\"bucket\": {\"start\": \"2026-12-07T10:00:00Z\", \"stop\": "
	     "\"2026-12-07T10:01:00Z\", \"toggles\": {}}}",
	        "appName"},
	    {"{\"appName\": \"a\"}", "bucket"},
	    {"{\"appName\": \"a\", \"bucket\": {\"stop\": \"2026-12-07T10:01:00Z\", "
	     "\"toggles\": {}}}",
	        "bucket.start"},
	    {"{\"appName\": \"a\", \"bucket\": {\"start\": \"2026-12-07T10:00:00Z\", "
	     "\"stop\": \"2026-12-07T10:01:00Z\", \"toggles\": []}}",
	        "toggles"},
	    {"{\"appName\": \"a\", \"bucket\": {\"start\": \"2026-12-07T10:00:00Z\", "
	     "\"stop\": \"2026-12-07T10:01:00Z\", \"toggles\": {\"b\": {\"yes\": 2}, "
	     "\"s\": "
	     "{\"yes\": -1}}}}",
	        "bucket.toggles.s.yes"},
	    {"{\"appName\": \"a\", \"bucket\": {\"start\": \"2026-12-07T10:00:00Z\", "
	     "\"stop\": \"2026-12-07T10:01:00Z\", \"toggles\": {\"b\": {\"yes\": 2}, "
	     "\"s\": "
	     "{\"variants\": {\"a\": 1.5}}}}}",
	        "bucket.toggles.s.variants.a"},
	    {"{\"appName\": \"a\", \"bucket\": {\"start\": \"2026-12-07T10:00:00Z\", "
	     "\"stop\": \"2026-12-07T10:01:00Z\", \"toggles\": {\"b\": 3}}}",
	        "bucket.toggles.b"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(status_of("POST", "/api/client/metrics", sdk_key,
		                 bad[i].body, bad[i].names),
		    400, "body %zu", i);
	cr_expect_eq(
	    status_of("POST", "/api/client/metrics", NULL, metrics_body, NULL), 401);
	/* Another project's key: its environment has no flag b or s, so the
	 * toggles are unknown there and nothing is counted here. */
	cr_expect_eq(
	    status_of("POST", "/api/client/metrics", other_key, metrics_body, NULL), 202);
	/* A good bucket after them: only its counts arrive. */
	cr_expect_eq(status_of("POST", "/api/client/metrics", sdk_key,
	                 "{\"appName\": \"a\", \"bucket\": {\"start\": "
	                 "\"2026-12-07T10:00:00Z\", \"stop\": \"2026-12-07T10:01:00Z\", "
	                 "\"toggles\": {\"s\": {\"yes\": 1}}}}",
	                 NULL),
	    202);
	cr_expect_eq(wait_counts(id_s, 1), 1);
	cr_expect_eq(counts(id_b, "", NULL), 0, "a refused bucket was counted");
}

/* ---- the frontend API ---- */

/* The enabled toggles of a frontend answer, as "name=variant;" in order. */
static void
toggles_of(const vx_http_res *r, char *out, size_t cap)
{
	const cJSON *t;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(r->json, "toggles"))
	{
		const cJSON *v = cJSON_GetObjectItem(t, "variant");
		cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(t, "enabled")));
		cr_expect(cJSON_IsBool(cJSON_GetObjectItem(t, "impressionData")));
		n += (size_t)snprintf(out + n, cap - n, "%s=%s;",
		    cJSON_GetObjectItem(t, "name")->valuestring,
		    cJSON_GetObjectItem(v, "name")->valuestring);
	}
}

/* What OFREP's bulk evaluation says, in the same form: the flags Unleash
 * calls enabled, a boolean one without a variant ("disabled"). */
static void
ofrep_toggles(const char *context, char *out, size_t cap)
{
	vx_http_res r = call("POST", "/ofrep/v1/evaluate/flags",
	    vx_fmt("Bearer %s", sdk_key), vx_fmt("{\"context\": %s}", context));
	const cJSON *f;
	size_t n = 0;

	cr_assert_eq(r.status, 200, "%s", r.body);
	out[0] = '\0';
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(r.json, "flags"))
	{
		const char *reason = cJSON_GetObjectItem(f, "reason")->valuestring;
		const cJSON *value = cJSON_GetObjectItem(f, "value");
		if (strcmp(reason, "STATIC") != 0 &&
		    strcmp(reason, "TARGETING_MATCH") != 0 &&
		    strcmp(reason, "SPLIT") != 0)
			continue;
		if (cJSON_IsBool(value) && !cJSON_IsTrue(value))
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s=%s;",
		    cJSON_GetObjectItem(f, "key")->valuestring,
		    cJSON_IsBool(value) ? "disabled"
		                        : cJSON_GetObjectItem(f, "variant")->valuestring);
	}
	vx_http_res_free(&r);
}

Test(unleash, the_frontend_api_answers_as_ofrep_for_random_contexts)
{
	static const char *const countries[] = {"NL", "US", "DE", ""};
	static const char *const plans[] = {"pro", "free", ""};
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int on = 0;

	fprintf(stderr, "unleash: seed %u\n", seed);
	srand(seed);
	for (int i = 0; i < 60; i++) {
		const char *country = countries[rand() % 4], *plan = plans[rand() % 3];
		char user[32], q[512], body[512], ctx[512], got[1024], post[1024],
		    want[1024];
		vx_http_res r;
		size_t n;

		snprintf(user, sizeof(user), "user-%d", rand() % 100000);
		n = (size_t)snprintf(
		    q, sizeof(q), "userId=%s&appName=web&sessionId=s%d", user, i);
		n = (size_t)snprintf(ctx, sizeof(ctx),
		    "{\"targetingKey\": \"%s\", \"appName\": \"web\", \"sessionId\": "
		    "\"s%d\"",
		    user, i);
		(void)n;
		snprintf(body, sizeof(body),
		    "{\"context\": {\"userId\": \"%s\", \"appName\": \"web\", "
		    "\"sessionId\": "
		    "\"s%d\", \"properties\": {%s%s%s%s%s%s%s}}}",
		    user, i, *country ? "\"country\": \"" : "", country,
		    *country ? "\"" : "", *country && *plan ? ", " : "",
		    *plan ? "\"plan\": \"" : "", plan, *plan ? "\"" : "");
		if (*country) {
			strcat(q, vx_fmt("&properties%%5Bcountry%%5D=%s", country));
			strcat(ctx, vx_fmt(", \"country\": \"%s\"", country));
		}
		if (*plan) {
			strcat(q, vx_fmt("&properties[plan]=%s", plan));
			strcat(ctx, vx_fmt(", \"plan\": \"%s\"", plan));
		}
		strcat(ctx, "}");

		r = call("GET", vx_fmt("/api/frontend?%s", q), sdk_key, NULL);
		cr_assert_eq(r.status, 200, "%s", r.body);
		toggles_of(&r, got, sizeof(got));
		vx_http_res_free(&r);
		r = call("POST", "/api/frontend", sdk_key, body);
		cr_assert_eq(r.status, 200, "%s: %s", body, r.body);
		toggles_of(&r, post, sizeof(post));
		vx_http_res_free(&r);
		ofrep_toggles(ctx, want, sizeof(want));
		cr_expect_str_eq(got, want, "seed %u, GET ?%s", seed, q);
		cr_expect_str_eq(post, want, "seed %u, POST %s", seed, body);
		on += strstr(want, "s=c;") != NULL || strstr(want, "pro=") != NULL;
	}
	cr_expect(on > 0, "no context reached a rule");
}

Test(unleash, the_frontend_api_lists_enabled_toggles_with_variant_and_impression_data)
{
	vx_http_res r, again;
	const char *hdr[3];
	const cJSON *t;
	int seen = 0;

	r = call("GET",
	    "/api/frontend?userId=u1&properties[plan]=pro&properties[country]=NL",
	    sdk_key, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(r.json, "toggles"))
	{
		const char *name = cJSON_GetObjectItem(t, "name")->valuestring;
		const cJSON *v = cJSON_GetObjectItem(t, "variant");
		cr_expect_str_neq(name, "dark", "a disabled flag was listed");
		if (strcmp(name, "s") == 0) {
			const cJSON *p = cJSON_GetObjectItem(v, "payload");
			seen++;
			cr_expect_str_eq(
			    cJSON_GetObjectItem(v, "name")->valuestring, "c");
			cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(v, "enabled")));
			cr_expect_str_eq(
			    cJSON_GetObjectItem(p, "type")->valuestring, "string");
			cr_expect_str_eq(
			    cJSON_GetObjectItem(p, "value")->valuestring, "c");
		}
		if (strcmp(name, "pro") == 0) {
			seen++;
			cr_expect_str_eq(
			    cJSON_GetObjectItem(v, "name")->valuestring, "disabled");
			cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(v, "enabled")));
			cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(t, "impressionData")));
		}
	}
	cr_expect_eq(seen, 2, "%s", r.body);
	/* The same answer again: 304. */
	hdr[0] = vx_fmt("Authorization: %s", sdk_key);
	hdr[1] = vx_fmt("If-None-Match: %s", r.etag);
	hdr[2] = NULL;
	again = vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt(
	        "%s/api/frontend?userId=u1&properties[plan]=pro&properties[country]=NL",
	        g.base),
	    .headers = hdr});
	cr_expect_eq(again.status, 304);
	vx_http_res_free(&again);
	vx_http_res_free(&r);

	/* Another project's key sees its own flags only. */
	r = call("GET", "/api/frontend?userId=u1", other_key, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_expect_eq(
	    cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "toggles")), 1, "%s", r.body);
	cr_expect(strstr(r.body, "\"o1\"") != NULL, "%s", r.body);
	vx_http_res_free(&r);

	cr_expect_eq(status_of("GET", "/api/frontend?userId=u1", NULL, NULL, NULL), 401);
	cr_expect_eq(status_of("GET", "/api/frontend?userId=u1", "sdk_wrongwrongwrong",
	                 NULL, NULL),
	    401);
	cr_expect_eq(
	    status_of("GET", "/api/frontend?properties[]=x", sdk_key, NULL, "properties"),
	    400);
	cr_expect_eq(
	    status_of("GET", "/api/frontend?userId=a&userId=b", sdk_key, NULL, "userId"),
	    400);
	cr_expect_eq(status_of("POST", "/api/frontend", sdk_key,
	                 "{\"context\": {\"userId\": 7}}", "context.userId"),
	    400);
	cr_expect_eq(status_of("POST", "/api/frontend", sdk_key,
	                 "{\"context\": {\"properties\": [1]}}", "properties"),
	    400);
}

/* ---- Unleash's own SDK ---- */

/* Runs a node script (needing npm package) and returns its output
 * (malloc'd); fails the test when it fails. */
static char *
node(const char *package, const char *cmd)
{
	size_t cap = 1 << 16, n = 0, got;
	char *out = malloc(cap);
	FILE *p;

	vx_harness_need_node(VX_WEB_DIR, (const char *const[]){package}, 1);
	cr_assert_not_null(out);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
		n += got;
		if (n + 1 == cap)
			cr_assert_not_null(out = realloc(out, cap *= 2));
	}
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "%s failed: %.500s", cmd, out);
	return out;
}

Test(unleash, the_unleash_node_sdk_registers_and_its_metrics_become_counts)
{
	long on, off, yes, no;
	cJSON *j;
	char *out;

	out = node("unleash-client",
	    vx_fmt("UNLEASH_KEY='%s' node %s/tests/unleash-metrics.mjs %s/api/ b 40",
	        sdk_key, VX_WEB_DIR, g.base));
	j = cJSON_Parse(out);
	cr_assert_not_null(j, "%s", out);
	cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(j, "registered")), "%s", out);
	cr_expect(cJSON_IsObject(cJSON_GetObjectItem(j, "sent")), "%s", out);
	yes = (long)cJSON_GetObjectItem(j, "yes")->valuedouble;
	no = (long)cJSON_GetObjectItem(j, "no")->valuedouble;
	cr_expect_eq(yes + no, 40);
	cr_expect(log_has("unleash: app vexil-metrics-test instance test-1"));
	cr_expect_eq(wait_counts(id_b, 40), 40);
	counts(id_b, "on", &on);
	counts(id_b, "off", &off);
	cr_expect(on == yes && off == no, "SDK: %ld yes, %ld no; Vexil: on %ld, off %ld",
	    yes, no, on, off);
	cJSON_Delete(j);
	free(out);
}

/*
 * Unleash's proxy SDK on the frontend API, by GET and by POST, answers
 * what OFREP answers on every randomized context.
 */
Test(unleash, the_unleash_proxy_sdk_agrees_with_ofrep_on_random_contexts)
{
	static const char *const countries[] = {"NL", "US", "DE", NULL};
	static const char *const plans[] = {"pro", "free", NULL};
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	cJSON *list = cJSON_CreateArray(), *ofctx[40];
	char path[300], want[1024], *text;
	const char *mode[] = {"get", "post"};
	int on = 0;
	FILE *f;

	fprintf(stderr, "unleash proxy: seed %u\n", seed);
	srand(seed);
	for (int i = 0; i < 40; i++) {
		cJSON *c = cJSON_CreateObject(), *props = cJSON_CreateObject();
		const char *country = countries[rand() % 4], *plan = plans[rand() % 3];
		char user[32];
		snprintf(user, sizeof(user), "user-%d", rand() % 100000);
		cJSON_AddStringToObject(c, "userId", user);
		cJSON_AddStringToObject(c, "sessionId", vx_fmt("s%d", i));
		ofctx[i] = cJSON_CreateObject();
		cJSON_AddStringToObject(ofctx[i], "targetingKey", user);
		cJSON_AddStringToObject(ofctx[i], "sessionId", vx_fmt("s%d", i));
		cJSON_AddStringToObject(ofctx[i], "appName", "vexil-frontend-test");
		if (country) {
			cJSON_AddStringToObject(props, "country", country);
			cJSON_AddStringToObject(ofctx[i], "country", country);
		}
		if (plan) {
			cJSON_AddStringToObject(props, "plan", plan);
			cJSON_AddStringToObject(ofctx[i], "plan", plan);
		}
		cJSON_AddItemToObject(c, "properties", props);
		cJSON_AddItemToArray(list, c);
	}
	snprintf(path, sizeof(path), "%s/contexts.json", h.dir);
	cr_assert_not_null(text = cJSON_PrintUnformatted(list));
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	free(text);
	for (int m = 0; m < 2; m++) {
		char *out = node("unleash-proxy-client",
		    vx_fmt("UNLEASH_KEY='%s' node %s/tests/unleash-frontend.mjs "
		           "%s/api/frontend "
		           "%s %s",
		        sdk_key, VX_WEB_DIR, g.base, path, mode[m]));
		cJSON *res = cJSON_Parse(out);
		cr_assert(cJSON_GetArraySize(res) == 40, "%s", out);
		for (int i = 0; i < 40; i++) {
			char *c = cJSON_PrintUnformatted(ofctx[i]);
			const char *got = cJSON_GetArrayItem(res, i)->valuestring;
			ofrep_toggles(c, want, sizeof(want));
			cr_expect_str_eq(
			    got, want, "seed %u, %s, context %s", seed, mode[m], c);
			on +=
			    strstr(want, "s=c;") != NULL || strstr(want, "pro=") != NULL;
			free(c);
		}
		cJSON_Delete(res);
		free(out);
	}
	cr_expect(on > 0, "no context reached a rule");
	for (int i = 0; i < 40; i++)
		cJSON_Delete(ofctx[i]);
	cJSON_Delete(list);
}

/* An API key is admitted by vexild and names the environment: with
 * ?environment= for metrics, with the context's environment for the
 * frontend API; without one it is refused and nothing is counted. */
Test(unleash, an_api_key_names_the_environment)
{
	static const char bucket[] =
	    "{\"appName\": \"a\", \"bucket\": {\"start\": \"2026-12-07T10:00:00Z\", "
	    "\"stop\": \"2026-12-07T10:01:00Z\", \"toggles\": {\"b\": {\"yes\": 2, "
	    "\"no\": "
	    "1}}}}";
	vx_http_res r;

	cr_expect_eq(
	    status_of("POST", "/api/client/metrics", api_key, bucket, NULL), 400);
	cr_expect_eq(status_of("POST", "/api/client/metrics?environment=nowhere", api_key,
	                 bucket, "nowhere"),
	    404);
	cr_expect_eq(status_of("POST", "/api/client/metrics?environment=production",
	                 api_key, bucket, NULL),
	    202);
	cr_expect_eq(wait_counts(id_b, 3), 3);
	r = call("GET",
	    "/api/frontend?userId=u1&properties[plan]=pro&environment=production",
	    api_key, NULL);
	cr_expect_eq(r.status, 200, "%s", r.body);
	cr_expect(strstr(r.body ? r.body : "", "\"pro\"") != NULL, "%s", r.body);
	vx_http_res_free(&r);
	cr_expect_eq(
	    status_of("GET", "/api/frontend?userId=u1", api_key, NULL, NULL), 400);
}
