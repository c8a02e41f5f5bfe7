/*
 * Vexil gateway integration tests: edge evaluation (src/gateway/edge.c).
 *
 * Every test gets a fresh vexild (the harness) and two gateways in front
 * of it: `edge`, started with --edge-max-snapshots, which answers
 * evaluations from live snapshots, and `core`, without, which asks vexild
 * for every one. The edge's answers are compared with the core gateway's,
 * byte for byte (bodies and ETags), and with vexild's own EvaluateAll, on
 * randomized flags and contexts (the seed is printed to reproduce a run).
 *
 * The edge's credential cache lives for a day here (--edge-key-ttl), so a
 * revoked or regenerated key can only be refused through the change
 * notice, not because its cache entry ran out.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

#define NFLAGS 10
#define NCONTEXTS 150

static vx_harness h;
static vx_gateway edge, core;
static char sdk_key[128]; /* bound to production */
static char sdk_any[128]; /* any environment of the default project */
static char sdk_id[32];   /* sdk_key's id */
static char api_key[128]; /* a read key of the default project */

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
	snprintf(cmd, sizeof(cmd), "%s --rpc %s --key %s %s 2>&1", VX_VEXILCTL_PATH,
	    h.rpc, h.key, args);
	line[0] = '\0';
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	cr_assert_eq(pclose(p), 0, "vexilctl %s failed: %s", args, line);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

/* Makes an SDK or API key with vexilctl ("sdk-key create ..." or "key
 * create ..."); out is its secret, id (if not NULL) its id. */
static void
make_key(const char *args, char out[128], char id[32])
{
	cJSON *j = cJSON_Parse(ctl("%s --json", args));
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "secret");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(k ? k : j, "id");

	cr_assert(cJSON_IsString(s), "%s answered no secret", args);
	snprintf(out, 128, "%s", s->valuestring);
	if (id != NULL) {
		cr_assert(i != NULL, "%s answered no id", args);
		if (cJSON_IsNumber(i))
			snprintf(id, 32, "%.0f", i->valuedouble);
		else
			snprintf(id, 32, "%s", i->valuestring);
	}
	cJSON_Delete(j);
}

static void
make_sdk_key(const char *env_arg, char out[128], char id[32])
{
	make_key(vx_fmt("sdk-key create --project default %s", env_arg), out, id);
}

static const char *const conds[] = {
    "country equals NL",
    "country in NL,DE",
    "email ends_with @example.com",
    "groups contains beta",
    "age gte 30",
    "!country equals US",
    "age lt 20",
};

/* NFLAGS flags of random type, state, rollout and rules in production. */
static void
random_flags(void)
{
	const char *on = "--project default --env production";

	for (int i = 0; i < NFLAGS; i++) {
		bool str = rand() % 2;
		int nrules = rand() % 3;
		if (str)
			ctl("flag create --project default f%d --type string --variant "
			    "a='\"a\"' "
			    "--variant b='\"b\"' --variant c='\"c\"'",
			    i);
		else
			ctl("flag create --project default f%d", i);
		if (rand() % 4 != 0)
			ctl("flag enable %s f%d", on, i);
		if (rand() % 2)
			ctl("flag rollout %s f%d %d", on, i, rand() % 101);
		for (int k = 0; k < nrules; k++) {
			const char *c1 =
			    conds[rand() % (sizeof(conds) / sizeof(conds[0]))];
			const char *c2 =
			    conds[rand() % (sizeof(conds) / sizeof(conds[0]))];
			const char *v =
			    str ? (rand() % 2 ? "--variant c" : "--split a=50,b=50")
			        : (rand() % 2 ? "--variant on" : "--variant off");
			ctl("rule add %s f%d --cond '%s' %s %s --priority %d%s", on, i,
			    c1, rand() % 2 ? vx_fmt("--cond '%s'", c2) : "", v, 10 + k,
			    rand() % 3 == 0 ? " --rollout 50" : "");
		}
	}
}

static void
start_gateways(void)
{
	const char *extra[] = {
	    "--edge-max-snapshots", "4", "--edge-key-ttl", "86400", NULL};

	vx_gateway_start(&edge, &h, NULL, extra, NULL);
	vx_gateway_start(&core, &h, NULL, NULL, NULL);
}

static void
setup(void)
{
	/* The harness keeps the arguments for a restart. */
	static const char *const args[] = {"--rate-limit", "1000000", NULL};
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

	fprintf(stderr, "edge: seed %u\n", seed);
	srand(seed);
	vx_harness_start(&h, args);
	random_flags();
	make_sdk_key("--env production", sdk_key, sdk_id);
	make_sdk_key("", sdk_any, NULL);
	vx_harness_key(
	    &h, "default", VEXIL__V1__ROLE__ROLE_READ, api_key, sizeof(api_key));
	start_gateways();
}

static void
teardown(void)
{
	vx_gateway_stop(&core);
	vx_gateway_teardown(&edge, &h);
}

TestSuite(edge, .init = setup, .fini = teardown, .timeout = 240);

/* ---- helpers ---- */

static vx_http_res
call(const vx_gateway *g, const char *method, const char *path, const char *header,
    const char *body)
{
	const char *headers[] = {header, NULL};
	char url[1024];
	vx_http_req rq = {.method = method, .url = url, .headers = headers, .body = body};

	snprintf(url, sizeof(url), "%s%s", g->base, path);
	return vx_http(&rq);
}

static const char *
bearer(const char *key)
{
	return vx_fmt("Authorization: Bearer %s", key);
}

/* A random context as OFREP's JSON, and the same as an EvalContext. */
static const char *
random_context(Vexil__V1__EvalContext *ctx, Vexil__V1__EvalContext__AttributesEntry *ent,
    Vexil__V1__AttrValue *age, char **groups)
{
	static char uid[32], email[64];
	static const char *const countries[] = {"NL", "DE", "US", ""};
	static const char *const domains[] = {"@example.com", "@other.org"};
	const char *country = countries[rand() % 4];
	int a = rand() % 60, has_email = rand() % 3;

	snprintf(uid, sizeof(uid), "u%d", rand() % 100000);
	snprintf(email, sizeof(email), "p%d%s", rand() % 10, domains[rand() % 2]);
	ctx->user_id = uid;
	ctx->email = has_email ? email : "";
	ctx->country = (char *)country;
	ctx->groups = groups;
	groups[0] = "beta";
	ctx->n_groups = (size_t)(rand() % 2);
	vexil__v1__attr_value__init(age);
	age->kind_case = VEXIL__V1__ATTR_VALUE__KIND_NUM;
	age->num = a;
	vexil__v1__eval_context__attributes_entry__init(ent);
	ent->key = "age";
	ent->value = age;
	ctx->n_attributes = 1;
	return vx_fmt("{\"context\":{\"targetingKey\":\"%s\"%s%s%s%s%s%s,\"age\":%d}}",
	    uid, has_email ? ",\"email\":\"" : "", has_email ? email : "",
	    has_email ? "\"" : "", *country ? ",\"country\":\"" : "", country,
	    *country ? "\"" : "", a);
}

/* The OFREP body with groups, when the context has them. */
static const char *
with_groups(const char *body, const Vexil__V1__EvalContext *ctx)
{
	size_t n = strlen(body);

	if (ctx->n_groups == 0)
		return body;
	return vx_fmt("%.*s,\"groups\":[\"beta\"]}}", (int)(n - 2), body);
}

static const cJSON *
item(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* The same "flags", to the byte (the bodies differ in eventStreams' URL,
 * which names each gateway's port). */
static void
expect_same_flags(const vx_http_res *a, const vx_http_res *b, const char *ctx)
{
	char *x = cJSON_PrintUnformatted(item(a->json, "flags"));
	char *y = cJSON_PrintUnformatted(item(b->json, "flags"));
	size_t d = 0;

	cr_assert(x != NULL && y != NULL, "%s\n%s", a->body, b->body);
	while (x[d] && x[d] == y[d])
		d++;
	if (x[d] != y[d]) {
		d = d > 80 ? d - 80 : 0;
		cr_assert_fail(
		    "context %s\nedge ...%.300s\ncore ...%.300s", ctx, x + d, y + d);
	}
	free(x);
	free(y);
}

/* The edge's OFREP flag against vexild's own result. */
static void
expect_core_result(const cJSON *f, const Vexil__V1__EvaluationResult *e)
{
	cJSON *want = cJSON_Parse(e->value);

	cr_assert_str_eq(item(f, "key")->valuestring, e->flag_key);
	cr_assert_str_eq(
	    item(f, "variant")->valuestring, e->variant, "flag %s", e->flag_key);
	cr_assert_str_eq(
	    item(f, "reason")->valuestring, e->reason, "flag %s", e->flag_key);
	cr_assert(
	    cJSON_Compare(item(f, "value"), want, true), "flag %s value", e->flag_key);
	cr_assert_eq(cJSON_GetArraySize(item(f, "metadata")), (int)e->n_metadata,
	    "flag %s metadata", e->flag_key);
	cJSON_Delete(want);
}

/* Waits (bounded, with no claim on how fast) until the edge follows. */
static void
warm(const char *key, const char *body)
{
	for (int i = 0; i < 2; i++) {
		vx_http_res r =
		    call(&edge, "POST", "/ofrep/v1/evaluate/flags", bearer(key), body);
		cr_assert_eq(r.status, 200, "%s", r.body);
		vx_http_res_free(&r);
	}
}

/* How often a log file says what. */
static int
file_count(const char *path, const char *what)
{
	static char buf[1 << 22];
	FILE *f = fopen(path, "r");
	const char *p;
	size_t n;
	int k = 0;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	for (p = buf; (p = strstr(p, what)) != NULL; p++)
		k++;
	return k;
}

/* How often the gateways' log (one file for all of a test's) says what. */
static int
log_count(const vx_gateway *g, const char *what)
{
	return file_count(g->log, what);
}

/* How many calls of method (a prefix: "AuthService/Admit ") vexild has
 * logged. */
static int
core_calls(const char *method)
{
	return file_count(h.log, vx_fmt("method=vexil.v1.%s", method));
}

static bool
log_has(const vx_gateway *g, const char *what)
{
	return log_count(g, what) > 0;
}

/*
 * Repeats the request (bounded, with no claim on how fast) until the edge
 * refuses it with 401, and prints how long that took since t0: the key
 * was revoked at t0, and its cache entry lives a day, so only the notice
 * can drop it.
 */
static void
until_refused(const struct timespec *t0, const char *path, const char *header,
    const char *body, const char *what)
{
	struct timespec t1;
	long status = 200;
	int i;

	for (i = 0; i < 1000 && status == 200; i++) {
		vx_http_res a = call(&edge, "POST", path, header, body);
		status = a.status;
		vx_http_res_free(&a);
		if (status == 200)
			usleep(1000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(status, 401, "a revoked %s still evaluates at the edge", what);
	fprintf(stderr, "edge: revoked %s refused after %d requests, %.2f ms\n", what, i,
	    (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	        (double)(t1.tv_nsec - t0->tv_nsec) / 1e6);
}

static void evaluate_with(const vx_gateway *g, const char *key, int n);

/* ---- tests ---- */

Test(edge, answers_as_the_core_does_on_random_flags_and_contexts)
{
	vx_client *c = vx_harness_client(&h, vx_fmt("SdkKey %s", sdk_key));
	const char *empty = "{\"context\":{\"targetingKey\":\"x\"}}";

	warm(sdk_key, empty);
	cr_assert(log_has(&edge, "edge: following project"), "the edge follows nothing");
	for (int n = 0; n < NCONTEXTS; n++) {
		Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
		Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
		Vexil__V1__EvalContext__AttributesEntry ent, *ents[1] = {&ent};
		Vexil__V1__EvaluationList *want;
		Vexil__V1__AttrValue age;
		char *groups[1], single[64];
		const char *body;
		vx_http_res a, b;
		const cJSON *flags, *f;
		vx_status st;
		size_t i = 0;

		body = random_context(&ctx, &ent, &age, groups);
		body = with_groups(vx_fmt("%s", body), &ctx);
		ctx.attributes = ents;
		in.project = "";
		in.context = &ctx;

		/* Bulk: the same bytes and ETag as the core gateway, and vexild's
		 * results flag by flag. */
		a = call(
		    &edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_key), body);
		b = call(
		    &core, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_key), body);
		cr_assert_eq(a.status, 200, "%s", a.body);
		expect_same_flags(&a, &b, body);
		cr_assert_str_eq(a.etag, b.etag);
		cr_assert_eq(vx_evaluate_all(c, &in, &want, &st), 0, "%s", st.message);
		flags = item(a.json, "flags");
		cr_assert_eq((size_t)cJSON_GetArraySize(flags), want->n_results);
		cJSON_ArrayForEach(f, flags) expect_core_result(f, want->results[i++]);
		vx_free(want);
		vx_http_res_free(&a);
		vx_http_res_free(&b);

		/* One flag, and an unknown one. */
		snprintf(single, sizeof(single), "/ofrep/v1/evaluate/flags/%s",
		    n % 7 == 0 ? "ghost" : vx_fmt("f%d", rand() % NFLAGS));
		a = call(&edge, "POST", single, bearer(sdk_key), body);
		b = call(&core, "POST", single, bearer(sdk_key), body);
		cr_assert_eq(a.status, b.status);
		cr_assert_str_eq(a.body, b.body, "%s %s", single, body);
		vx_http_res_free(&a);
		vx_http_res_free(&b);

		/* An API key, which names the environment in the context. */
		body =
		    vx_fmt("{\"context\":{\"environment\":\"production\",%s", body + 12);
		a = call(
		    &edge, "POST", "/ofrep/v1/evaluate/flags", bearer(api_key), body);
		b = call(
		    &core, "POST", "/ofrep/v1/evaluate/flags", bearer(api_key), body);
		cr_assert_eq(a.status, 200, "%s", a.body);
		expect_same_flags(&a, &b, body);
		cr_assert_str_eq(a.etag, b.etag);
		vx_http_res_free(&a);
		vx_http_res_free(&b);
	}

	/* The flag-service and platform dialects, for one user each way. */
	for (int n = 0; n < 20; n++) {
		const char *fs =
		    vx_fmt("{\"user_id\":\"u%d\",\"user_email\":\"x%d@example.com\","
		           "\"custom_attributes\":{\"country\":\"NL\",\"age\":%d}}",
		        n, n, n * 3);
		const char *pl =
		    vx_fmt("{\"environment\":\"production\",\"user\":{\"id\":\"u%d\","
		           "\"country\":\"%s\",\"age\":%d,\"groups\":[\"beta\"]}}",
		        n, n % 2 ? "NL" : "US", n * 3);
		vx_http_res a = call(&edge, "POST", "/sdk/v1/evaluate",
		    vx_fmt("X-SDK-Key: %s", sdk_any), fs);
		vx_http_res b = call(&core, "POST", "/sdk/v1/evaluate",
		    vx_fmt("X-SDK-Key: %s", sdk_any), fs);
		cr_assert_eq(a.status, 200, "%s", a.body);
		cr_assert_str_eq(a.body, b.body);
		vx_http_res_free(&a);
		vx_http_res_free(&b);
		a = call(&edge, "POST", "/v1/sdk/evaluate",
		    vx_fmt("Authorization: ApiKey %s", api_key), pl);
		b = call(&core, "POST", "/v1/sdk/evaluate",
		    vx_fmt("Authorization: ApiKey %s", api_key), pl);
		cr_assert_eq(a.status, 200, "%s", a.body);
		cr_assert(
		    cJSON_Compare(item(a.json, "flags"), item(b.json, "flags"), true),
		    "%s\n%s", a.body, b.body);
		vx_http_res_free(&a);
		vx_http_res_free(&b);
	}
	vx_client_close(c);
}

Test(edge, follows_a_change_pushed_by_vexild)
{
	const char *body = "{\"context\":{\"targetingKey\":\"u1\",\"country\":\"SE\"}}";
	vx_http_res a;
	bool seen = false;

	warm(sdk_key, body);
	ctl("flag create --project default pushed");
	ctl("flag enable --project default --env production pushed");
	/* The change reaches the edge as a notice; wait for it, bounded. */
	for (int i = 0; i < 500 && !seen; i++) {
		a = call(&edge, "POST", "/ofrep/v1/evaluate/flags/pushed",
		    bearer(sdk_key), body);
		seen = a.status == 200 && strstr(a.body, "\"value\":true") != NULL;
		vx_http_res_free(&a);
		if (!seen)
			usleep(10000);
	}
	cr_assert(seen, "the edge never saw the new flag");
}

Test(edge, refuses_a_revoked_sdk_key_through_the_notice)
{
	const char *body = "{\"context\":{\"targetingKey\":\"u1\"}}";
	struct timespec t0;

	warm(sdk_key, body);
	ctl("sdk-key revoke %s", sdk_id);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	until_refused(&t0, "/ofrep/v1/evaluate/flags", bearer(sdk_key), body, "SDK key");
	/* Another key of the project still evaluates. */
	{
		vx_http_res a =
		    call(&edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_any),
		        "{\"context\":{\"targetingKey\":\"u1\",\"environment\":"
		        "\"production\"}}");
		cr_assert_eq(a.status, 200, "%s", a.body);
		vx_http_res_free(&a);
	}
}

Test(edge, refuses_a_regenerated_sdk_key_through_the_notice)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	const char *fs = "{\"user_id\":\"u1\"}";
	char old[128];
	long status = 200;
	vx_status st;

	in.project = "default";
	cr_assert_eq(vx_get_project(h.admin, &in, &p, &st), 0, "%s", st.message);
	snprintf(old, sizeof(old), "%s", p->sdk_key);
	vx_free(p);
	for (int i = 0; i < 2; i++) {
		vx_http_res a = call(
		    &edge, "POST", "/sdk/v1/evaluate", vx_fmt("X-SDK-Key: %s", old), fs);
		cr_assert_eq(a.status, 200, "%s", a.body);
		vx_http_res_free(&a);
	}
	cr_assert_eq(vx_regenerate_sdk_key(h.admin, &in, &p, &st), 0, "%s", st.message);
	vx_free(p);
	for (int i = 0; i < 1000 && status == 200; i++) {
		vx_http_res a = call(
		    &edge, "POST", "/sdk/v1/evaluate", vx_fmt("X-SDK-Key: %s", old), fs);
		status = a.status;
		vx_http_res_free(&a);
		if (status == 200)
			usleep(1000);
	}
	cr_assert_eq(status, 401, "a regenerated key still evaluates at the edge");
}

Test(edge, serves_the_last_snapshot_while_vexild_is_gone_and_503_without_one)
{
	const char *body = "{\"context\":{\"targetingKey\":\"u1\"}}";
	vx_http_res a, b;
	char before[8192];

	warm(sdk_key, body);
	evaluate_with(&edge, api_key, 3);
	a = call(&edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_key), body);
	snprintf(before, sizeof(before), "%s", a.body);
	vx_http_res_free(&a);
	cr_assert_eq(vx_harness_stop(&h), 0);

	a = call(&edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_key), body);
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert_str_eq(a.body, before);
	vx_http_res_free(&a);
	/* An API key the edge knows is admitted and evaluated there too. */
	evaluate_with(&edge, api_key, 3);
	/* No snapshot of staging, and no vexild to ask: 503 naming it. */
	b = call(&edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_any),
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"staging\"}}");
	cr_assert_eq(b.status, 503, "%s", b.body);
	vx_http_res_free(&b);
	b = call(&edge, "POST", "/sdk/v1/evaluate", vx_fmt("X-SDK-Key: %s", sdk_any),
	    "{\"user_id\":\"u1\",\"environment\":\"staging\"}");
	cr_assert_eq(b.status, 503, "%s", b.body);
	cr_assert(
	    strstr(b.body, "vexild") != NULL, "the 503 does not name vexild: %s", b.body);
	vx_http_res_free(&b);
	/* Stale after the watch's quiet period: logged once, not per request. */
	for (int i = 0; i < 100 && !log_has(&edge, "(stale)"); i++) {
		a = call(
		    &edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_key), body);
		cr_assert_eq(a.status, 200);
		vx_http_res_free(&a);
		usleep(100000);
	}
	cr_assert(log_has(&edge, "(stale)"), "no stale line in %s", edge.log);
	evaluate_with(&edge, api_key, 10);
	cr_assert_eq(log_count(&edge, "(stale)"), 1, "stale logged more than once");

	/* vexild back: the edge catches up, and asks about keys again. */
	vx_harness_restart(&h);
	ctl("flag create --project default after");
	ctl("flag enable --project default --env production after");
	for (int i = 0; i < 500; i++) {
		a = call(&edge, "POST", "/ofrep/v1/evaluate/flags/after", bearer(sdk_key),
		    body);
		if (a.status == 200 && strstr(a.body, "\"value\":true") != NULL)
			break;
		vx_http_res_free(&a);
		usleep(10000);
	}
	cr_assert_eq(a.status, 200, "%s", a.body);
	cr_assert(strstr(a.body, "\"value\":true") != NULL, "the edge never caught up");
	vx_http_res_free(&a);
	/* The credential cache was dropped on reconnecting: the API key is
	 * asked about again, and still evaluates. */
	evaluate_with(&edge, api_key, 2);
}

/* How many of the recent evaluations vexild logged are user's. */
static size_t
logged(const char *user, const char *reason_of_f0, bool *reason_ok)
{
	Vexil__V1__ListEvalLogRequest in = VEXIL__V1__LIST_EVAL_LOG_REQUEST__INIT;
	Vexil__V1__EvalLog *log;
	vx_status st;
	size_t n = 0;

	in.project = "default";
	in.limit = 1000;
	cr_assert_eq(vx_list_eval_log(h.admin, &in, &log, &st), 0, "%s", st.message);
	for (size_t i = 0; i < log->n_records; i++) {
		const Vexil__V1__EvalRecord *r = log->records[i];
		if (strcmp(r->user_id, user) != 0)
			continue;
		n++;
		cr_assert_str_eq(r->environment, "production");
		if (strcmp(r->flag_key, "f0") == 0 &&
		    strcmp(r->reason, reason_of_f0) != 0)
			*reason_ok = false;
	}
	vx_free(log);
	return n;
}

Test(edge, sends_its_evaluation_records_to_vexild)
{
	const char *body = "{\"context\":{\"targetingKey\":\"edge-rec\"}}";
	char reason[32] = "";
	size_t flags = 0, n = 0;
	bool same = true;

	warm(sdk_key, "{\"context\":{\"targetingKey\":\"warm\"}}");
	for (int i = 0; i < 5; i++) {
		vx_http_res a = call(
		    &edge, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_key), body);
		const cJSON *f;
		cr_assert_eq(a.status, 200, "%s", a.body);
		flags = (size_t)cJSON_GetArraySize(item(a.json, "flags"));
		cJSON_ArrayForEach(
		    f, item(a.json, "flags")) if (strcmp(item(f, "key")->valuestring,
		                                      "f0") == 0) snprintf(reason,
		    sizeof(reason), "%s", item(f, "reason")->valuestring);
		vx_http_res_free(&a);
	}
	/* Batches leave every 100 ms and vexild writes every 500 ms: wait,
	 * bounded, for all of them. */
	for (int i = 0; i < 100 && (n = logged("edge-rec", reason, &same)) < 5 * flags;
	     i++)
		usleep(50000);
	cr_assert_eq(n, 5 * flags, "vexild logged %zu of the edge's %zu evaluations", n,
	    5 * flags);
	cr_assert(same, "a logged reason is not the one the edge answered");
}

/* One thread of a burst: its own keep-alive connection, each request a
 * bulk evaluation of every flag. */
struct burster {
	const char *url, *auth;
	int n, ok;
};

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void *
burst_one(void *arg)
{
	struct burster *b = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hs = curl_slist_append(NULL, b->auth);
	char body[96];

	hs = curl_slist_append(hs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, b->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (int i = 0; i < b->n; i++) {
		long status = 0;
		snprintf(body, sizeof(body),
		    "{\"context\":{\"targetingKey\":\"burst-%d\"}}", i % 50);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		if (curl_easy_perform(c) == CURLE_OK &&
		    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
		    status == 200)
			b->ok++;
	}
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	return NULL;
}

/* vexild's evaluation count of the default project's production, every
 * flag and variant. */
static uint64_t
counted(uint64_t *dropped)
{
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	uint64_t n = 0;
	vx_status st;

	in.project = "default";
	in.environment = "production";
	cr_assert_eq(vx_get_eval_counts(h.admin, &in, &out, &st), 0, "%s", st.message);
	for (size_t i = 0; i < out->n_counts; i++)
		if (strcmp(out->counts[i]->kind, "evaluation") == 0)
			n += out->counts[i]->count;
	*dropped = out->dropped;
	vx_free(out);
	return n;
}

/*
 * A burst of 2000 requests (26,000 evaluations) from 8 connections at
 * once, far past what a batch sends one by one (and past the 4096 records
 * a batch used to hold, dropping the rest): vexild counts every one.
 */
Test(edge, counts_every_evaluation_of_a_burst)
{
	enum { THREADS = 8, EACH = 250 };
	struct burster b[THREADS];
	pthread_t th[THREADS];
	uint64_t want, got = 0, dropped = 0;
	int ok = 0, flags = 0;

	/* Two requests, the first perhaps the core's: counted all the same.
	 * Every flag of the project is evaluated (the project's own three
	 * besides the test's). */
	for (int i = 0; i < 2; i++) {
		vx_http_res a = call(&edge, "POST", "/ofrep/v1/evaluate/flags",
		    bearer(sdk_key), "{\"context\":{\"targetingKey\":\"warm\"}}");
		cr_assert_eq(a.status, 200, "%s", a.body);
		flags = cJSON_GetArraySize(item(a.json, "flags"));
		vx_http_res_free(&a);
	}
	cr_assert_geq(flags, NFLAGS);
	for (int i = 0; i < THREADS; i++) {
		b[i] = (struct burster){
		    .url = vx_fmt("%s/ofrep/v1/evaluate/flags", edge.base),
		    .auth = bearer(sdk_key),
		    .n = EACH,
		};
		b[i].url = strdup(b[i].url);
		b[i].auth = strdup(b[i].auth);
		cr_assert_eq(pthread_create(&th[i], NULL, burst_one, &b[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += b[i].ok;
		free((char *)b[i].url);
		free((char *)b[i].auth);
	}
	cr_assert_eq(ok, THREADS * EACH, "%d of %d burst requests answered 200", ok,
	    THREADS * EACH);
	want = (uint64_t)(2 + ok) * (uint64_t)flags;
	/* Batches leave every 100 ms and vexild writes every 500 ms: wait,
	 * bounded, for all of them. */
	for (int i = 0; i < 100 && (got = counted(&dropped)) < want; i++)
		usleep(100000);
	cr_assert_eq(got, want, "vexild counted %llu of %llu evaluations",
	    (unsigned long long)got, (unsigned long long)want);
	cr_assert_eq(
	    dropped, 0, "vexild dropped %llu records", (unsigned long long)dropped);
	/* Nothing more arrives later (a count is never sent twice). */
	usleep(700000);
	cr_assert_eq(counted(&dropped), want, "counts grew past the evaluations made");
	cr_assert_eq(log_count(&edge, "not recorded"), 0, "the edge lost a batch");
}

/* (flag, variant) counts: what a thread was answered, or what vexild
 * counted. */
#define MAX_PAIRS 64
struct pairs {
	char key[MAX_PAIRS][32], variant[MAX_PAIRS][32];
	uint64_t n[MAX_PAIRS];
	size_t used;
};

static void
pairs_add(struct pairs *p, const char *key, const char *variant, uint64_t n)
{
	size_t i = 0;

	while (i < p->used &&
	       (strcmp(p->key[i], key) != 0 || strcmp(p->variant[i], variant) != 0))
		i++;
	if (i == p->used) {
		cr_assert_lt(
		    p->used, (size_t)MAX_PAIRS, "too many (flag, variant) pairs");
		snprintf(p->key[i], sizeof(p->key[i]), "%s", key);
		snprintf(p->variant[i], sizeof(p->variant[i]), "%s", variant);
		p->used++;
	}
	p->n[i] += n;
}

/* Adds the (flag, variant) of each flag of an OFREP bulk answer to p. */
static void
pairs_of_answer(struct pairs *p, const cJSON *json)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, item(json, "flags"))
	{
		const cJSON *v = item(f, "variant");
		pairs_add(p, item(f, "key")->valuestring,
		    cJSON_IsString(v) ? v->valuestring : "", 1);
	}
}

/* One thread evaluating every flag until told to stop, each answer's
 * pairs counted. */
struct flipper {
	const char *base;
	struct pairs got;
	atomic_bool *stop;
	int ok, failed;
};

static void *
evaluate_until_stopped(void *arg)
{
	struct flipper *f = arg;
	char url[512], auth[192], body[96];
	const char *headers[] = {auth, NULL};

	/* vx_fmt()'s buffers are the main thread's. */
	snprintf(url, sizeof(url), "%s/ofrep/v1/evaluate/flags", f->base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sdk_key);
	for (int i = 0; !atomic_load(f->stop) || i < 50; i++) {
		vx_http_req rq = {
		    .method = "POST", .url = url, .headers = headers, .body = body};
		vx_http_res a;
		snprintf(body, sizeof(body),
		    "{\"context\":{\"targetingKey\":\"flip-%d\"}}", i % 40);
		a = vx_http(&rq);
		if (a.status == 200 && a.json != NULL) {
			pairs_of_answer(&f->got, a.json);
			f->ok++;
		} else {
			f->failed++;
		}
		vx_http_res_free(&a);
	}
	return NULL;
}

/* vexild's evaluation counts of the default project's production. */
static void
counted_pairs(struct pairs *p, uint64_t *dropped)
{
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	vx_status st;

	memset(p, 0, sizeof(*p));
	in.project = "default";
	in.environment = "production";
	cr_assert_eq(vx_get_eval_counts(h.admin, &in, &out, &st), 0, "%s", st.message);
	for (size_t i = 0; i < out->n_counts; i++)
		if (strcmp(out->counts[i]->kind, "evaluation") == 0)
			pairs_add(p, out->counts[i]->flag_key, out->counts[i]->variant,
			    out->counts[i]->count);
	*dropped = out->dropped;
	vx_free(out);
}

static bool
pairs_equal(const struct pairs *a, const struct pairs *b)
{
	if (a->used != b->used)
		return false;
	for (size_t i = 0; i < a->used; i++) {
		size_t j = 0;
		while (j < b->used && (strcmp(a->key[i], b->key[j]) != 0 ||
		                          strcmp(a->variant[i], b->variant[j]) != 0))
			j++;
		if (j == b->used || a->n[i] != b->n[j])
			return false;
	}
	return true;
}

/*
 * Evaluations answered while flags change under them: the edge counts
 * them by the compiled set that answered, and a batch outlives a set, so
 * each must still reach vexild under the flag and variant it was answered
 * with, none lost and none moved to another pair.
 */
Test(edge, counts_each_flag_and_variant_across_flag_changes)
{
	enum { THREADS = 4 };
	const char *on = "--project default --env production";
	struct flipper f[THREADS] = {0};
	struct pairs want = {0}, got;
	pthread_t th[THREADS];
	atomic_bool stop = false;
	uint64_t dropped = 0;
	int ok = 0, failed = 0;

	/* Two requests first, so that the edge follows (the first perhaps
	 * the core's answer: counted all the same). */
	for (int i = 0; i < 2; i++) {
		vx_http_res a = call(&edge, "POST", "/ofrep/v1/evaluate/flags",
		    bearer(sdk_key), "{\"context\":{\"targetingKey\":\"warm\"}}");
		cr_assert_eq(a.status, 200, "%s", a.body);
		pairs_of_answer(&want, a.json);
		vx_http_res_free(&a);
	}
	for (int i = 0; i < THREADS; i++) {
		f[i].base = edge.base;
		f[i].stop = &stop;
		cr_assert_eq(
		    pthread_create(&th[i], NULL, evaluate_until_stopped, &f[i]), 0);
	}
	/* Each change is a new compiled set at the edge: the variant served
	 * moves between on and off, and between a, b and c. */
	for (int k = 0; k < 6; k++) {
		usleep(150000);
		ctl("flag %s %s f0", k % 2 ? "enable" : "disable", on);
		ctl("flag rollout %s f1 %d", on, (k * 37) % 101);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += f[i].ok;
		failed += f[i].failed;
		for (size_t j = 0; j < f[i].got.used; j++)
			pairs_add(
			    &want, f[i].got.key[j], f[i].got.variant[j], f[i].got.n[j]);
	}
	cr_assert_eq(failed, 0, "%d of %d evaluations failed", failed, ok + failed);
	/* Batches leave every 100 ms and vexild writes every 500 ms: wait,
	 * bounded, for all of them. */
	for (int i = 0; i < 100; i++) {
		counted_pairs(&got, &dropped);
		if (pairs_equal(&want, &got))
			break;
		usleep(100000);
	}
	for (size_t i = 0; i < want.used; i++) {
		uint64_t n = 0;
		for (size_t j = 0; j < got.used; j++)
			if (strcmp(want.key[i], got.key[j]) == 0 &&
			    strcmp(want.variant[i], got.variant[j]) == 0)
				n = got.n[j];
		cr_expect_eq(n, want.n[i],
		    "flag %s variant '%s': vexild counted %llu of %llu", want.key[i],
		    want.variant[i], (unsigned long long)n,
		    (unsigned long long)want.n[i]);
	}
	cr_assert(pairs_equal(&want, &got), "vexild counted other (flag, variant) pairs");
	cr_assert_eq(
	    dropped, 0, "vexild dropped %llu records", (unsigned long long)dropped);
}

Test(edge, refuses_records_outside_the_credential)
{
	Vexil__V1__EdgeRecordsRequest in = VEXIL__V1__EDGE_RECORDS_REQUEST__INIT;
	Vexil__V1__EdgeEvalRecord rec = VEXIL__V1__EDGE_EVAL_RECORD__INIT,
	                          *recs[] = {&rec};
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__EdgeRecordsReply *out;
	Vexil__V1__Project *other;
	vx_client *c = vx_harness_client(&h, vx_fmt("SdkKey %s", sdk_key));
	vx_status st;

	cp.name = "other";
	cr_assert_eq(vx_create_project(h.admin, &cp, &other, &st), 0, "%s", st.message);
	rec.flag_key = "f0";
	rec.variant = "on";
	rec.reason = "DEFAULT";
	in.records = recs;
	in.n_records = 1;
	/* Another project, another environment than the key's, an unknown
	 * flag, a made-up reason. */
	in.project = (char *)vx_fmt("%llu", (unsigned long long)other->id);
	cr_assert_neq(vx_record_evaluations(c, &in, &out, &st), 0);
	in.project = "";
	in.environment = "development";
	cr_assert_neq(vx_record_evaluations(c, &in, &out, &st), 0);
	in.environment = "";
	rec.flag_key = "no-such-flag";
	cr_assert_eq(vx_record_evaluations(c, &in, &out, &st), 0, "%s", st.message);
	cr_assert_eq(out->accepted, 0);
	vx_free(out);
	rec.flag_key = "f0";
	rec.reason = "BECAUSE";
	cr_assert_eq(vx_record_evaluations(c, &in, &out, &st), 0, "%s", st.message);
	cr_assert_eq(out->accepted, 0);
	vx_free(out);
	rec.reason = "DEFAULT";
	cr_assert_eq(vx_record_evaluations(c, &in, &out, &st), 0, "%s", st.message);
	cr_assert_eq(out->accepted, 1);
	vx_free(out);
	vx_free(other);
	vx_client_close(c);
}

Test(edge, evicts_and_drops_snapshots_and_still_answers_as_the_core)
{
	static const char *const envs[] = {"development", "staging", "production"};
	const char *extra[] = {"--edge-max-snapshots", "1", "--edge-idle", "1", NULL};
	vx_gateway small;

	/* One snapshot for three environments: every switch evicts one, and
	 * a pause longer than --edge-idle drops it. */
	vx_gateway_start(&small, &h, NULL, extra, NULL);
	for (int i = 0; i < 30; i++) {
		const char *body =
		    vx_fmt("{\"context\":{\"targetingKey\":\"u%d\",\"environment\":"
		           "\"%s\",\"country\":\"NL\"}}",
		        i, envs[(i / 2) % 3]);
		vx_http_res a = call(
		    &small, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_any), body);
		vx_http_res b = call(
		    &core, "POST", "/ofrep/v1/evaluate/flags", bearer(sdk_any), body);
		cr_assert_eq(a.status, 200, "%s", a.body);
		expect_same_flags(&a, &b, body);
		cr_assert_str_eq(a.etag, b.etag);
		vx_http_res_free(&a);
		vx_http_res_free(&b);
		if (i == 20)
			usleep(1600000);
	}
	/* A snapshot for each run of two requests but the first of each. */
	cr_assert_geq(log_count(&small, "edge: following project"), 10);
	cr_assert_eq(vx_gateway_stop(&small), 0);
}

Test(edge, serves_the_platform_sdk_config_as_the_core)
{
	const char *auth = vx_fmt("Authorization: ApiKey %s", api_key);
	static const char *const envs[] = {"production", "staging"};

	for (int i = 0; i < 6; i++) {
		const char *path = vx_fmt("/v1/sdk/config?environment=%s", envs[i % 2]);
		vx_http_res a, b;
		if (i == 4)
			ctl("flag disable --project default --env production f0");
		a = call(&edge, "GET", path, auth, NULL);
		b = call(&core, "GET", path, auth, NULL);
		/* After the change, wait (bounded) for its notice. */
		for (int k = 0; i >= 4 && k < 500 && strcmp(a.body, b.body) != 0; k++) {
			vx_http_res_free(&a);
			usleep(10000);
			a = call(&edge, "GET", path, auth, NULL);
		}
		cr_assert_eq(a.status, 200, "%s", a.body);
		cr_assert_str_eq(a.body, b.body);
		vx_http_res_free(&a);
		vx_http_res_free(&b);
	}
	cr_assert(log_has(&edge, "environment staging"), "the edge follows no staging");
}

/* A counter of g's /metrics (one without labels). */
static double
metric(const vx_gateway *g, const char *name)
{
	vx_http_res r = call(g, "GET", "/metrics", NULL, NULL);
	size_t n = strlen(name);
	double v = -1;

	cr_assert_eq(r.status, 200, "%s", r.body);
	for (const char *p = r.body; p != NULL && *p; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = strtod(p + n + 1, NULL);
	}
	vx_http_res_free(&r);
	cr_assert_geq(v, 0, "/metrics has no %s", name);
	return v;
}

/* Once its snapshot is live and its key cached, /v1/sdk/config is answered
 * on the connection's thread, as /v1/sdk/evaluate is: no worker. */
Test(edge, answers_the_platform_sdk_config_on_the_connections_thread)
{
	const char *auth = vx_fmt("Authorization: ApiKey %s", api_key);
	const char *path = "/v1/sdk/config?environment=production";
	const char *here = "vexil_http_requests_on_conn_thread_total";
	double before, after;
	bool seen = false;

	/* Until one is (bounded, no claim on how fast): the first starts
	 * the watch and caches the key, the next may find it catching up. */
	before = metric(&edge, here);
	for (int i = 0; i < 200 && !seen; i++) {
		vx_http_res a = call(&edge, "GET", path, auth, NULL);
		cr_assert_eq(a.status, 200, "%s", a.body);
		vx_http_res_free(&a);
		after = metric(&edge, here);
		seen = after > before;
		before = after;
		if (!seen)
			usleep(10000);
	}
	cr_assert(seen, "/v1/sdk/config never answered on the connection's thread");
	/* Then 20 in a row. A cached key is asked about again every
	 * --edge-key-ttl (5 s), by a worker, and that moment can fall inside
	 * a run of 20: three runs, and one must be whole. */
	for (int run = 0; run < 3; run++) {
		before = metric(&edge, here);
		for (int i = 0; i < 20; i++) {
			vx_http_res a = call(&edge, "GET", path, auth, NULL);
			cr_assert_eq(a.status, 200, "%s", a.body);
			vx_http_res_free(&a);
		}
		after = metric(&edge, here);
		if (after - before == 20)
			return;
		cr_log_warn("run %d: %.0f of 20 answered on the connection's thread", run,
		    after - before);
	}
	cr_assert_fail("no run of 20 was answered whole on the connection's thread");
}

/* ---- API keys: admission and the rate limit at the edge ---- */

static const char *
apikey(const char *key)
{
	return vx_fmt("Authorization: ApiKey %s", key);
}

#define PLATFORM_BODY "{\"environment\":\"production\",\"user\":{\"id\":\"u1\"}}"
#define OFREP_BODY                                                                       \
	"{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"production\"}}"

/* n platform and OFREP evaluations with key at g, each answered 200. */
static void
evaluate_with(const vx_gateway *g, const char *key, int n)
{
	for (int i = 0; i < n; i++) {
		vx_http_res a =
		    call(g, "POST", "/v1/sdk/evaluate", apikey(key), PLATFORM_BODY);
		vx_http_res b =
		    call(g, "POST", "/ofrep/v1/evaluate/flags", bearer(key), OFREP_BODY);
		cr_assert_eq(a.status, 200, "%s", a.body);
		cr_assert_eq(b.status, 200, "%s", b.body);
		vx_http_res_free(&a);
		vx_http_res_free(&b);
	}
}

Test(edge, repeated_api_key_evaluations_make_no_core_call)
{
	int admits, leases, evals;

	/* The first asks vexild (Admit, the evaluation, the watch starts);
	 * the next leases a block of the key's limit. */
	evaluate_with(&edge, api_key, 3);
	admits = core_calls("AuthService/Admit ");
	leases = core_calls("EdgeService/LeaseTokens ");
	evals = core_calls("EvaluationService/Evaluate");
	cr_assert_gt(leases, 0, "the edge leased no tokens");

	evaluate_with(&edge, api_key, 100);
	cr_assert_eq(core_calls("AuthService/Admit "), admits,
	    "API-key evaluations at the edge still call Admit");
	cr_assert_eq(core_calls("EdgeService/LeaseTokens "), leases,
	    "200 requests took more than the one block leased");
	cr_assert_eq(core_calls("EvaluationService/Evaluate"), evals,
	    "API-key evaluations at the edge still call vexild to evaluate");
}

Test(edge, refuses_a_revoked_api_key_through_the_notice)
{
	struct timespec t0;
	char key[128], id[32];

	make_key("key create edge-revoked --role read --project default", key, id);
	evaluate_with(&edge, key, 3);
	ctl("key revoke %s", id);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	until_refused(&t0, "/v1/sdk/evaluate", apikey(key), PLATFORM_BODY, "API key");
	/* Still refused: the key's leased tokens do not let it back in. */
	{
		vx_http_res a = call(
		    &edge, "POST", "/ofrep/v1/evaluate/flags", bearer(key), OFREP_BODY);
		cr_assert_eq(a.status, 401, "%s", a.body);
		vx_http_res_free(&a);
	}
	evaluate_with(&edge, api_key, 1);
}

/* ---- the rate limit across gateways ---- */

#define LIMIT 100
#define BLOCK (LIMIT / 20) /* edge.c's LEASE_SHARE: the documented tolerance */

static vx_gateway edge2;

static void
limit_setup(void)
{
	static const char *const args[] = {"--rate-limit", "100", NULL};
	const char *extra[] = {"--edge-key-ttl", "86400", NULL};

	vx_harness_start(&h, args);
	ctl("flag create --project default f0");
	ctl("flag enable --project default --env production f0");
	vx_harness_key(
	    &h, "default", VEXIL__V1__ROLE__ROLE_READ, api_key, sizeof(api_key));
	vx_gateway_start(&edge, &h, NULL, extra, NULL);
	vx_gateway_start(&edge2, &h, NULL, extra, NULL);
}

static void
limit_teardown(void)
{
	cr_assert_eq(
	    vx_gateway_stop(&edge2), 0, "the second gateway did not stop cleanly");
	vx_gateway_teardown(&edge, &h);
}

TestSuite(edge_limit, .init = limit_setup, .fini = limit_teardown, .timeout = 120);

Test(edge_limit, two_gateways_together_admit_no_more_than_the_limit)
{
	enum { PER = 4, ROUNDS = 40 };
	const char *headers[] = {apikey(api_key), NULL};
	char url1[256], url2[256];
	vx_http_req rq[2 * PER];
	vx_http_res res[2 * PER];
	int ok = 0, limited = 0, calls;

	snprintf(url1, sizeof(url1), "%s/v1/sdk/evaluate", edge.base);
	snprintf(url2, sizeof(url2), "%s/v1/sdk/evaluate", edge2.base);
	for (int i = 0; i < 2 * PER; i++)
		rq[i] = (vx_http_req){.method = "POST",
		    .url = i % 2 ? url2 : url1,
		    .headers = headers,
		    .body = PLATFORM_BODY};
	/* curl's global init, from the main thread. */
	res[0] = vx_http(&rq[0]);
	cr_assert_eq(res[0].status, 200, "%s", res[0].body);
	vx_http_res_free(&res[0]);
	ok = 1;
	for (int round = 0; round < ROUNDS; round++) {
		vx_http_race(rq, 2 * PER, res);
		for (int i = 0; i < 2 * PER; i++) {
			if (res[i].status == 200) {
				ok++;
			} else {
				cr_assert_eq(res[i].status, 429, "%s", res[i].body);
				cr_assert(
				    res[i].retry_after[0], "a 429 without Retry-After");
				limited++;
			}
			vx_http_res_free(&res[i]);
		}
	}
	calls = core_calls("AuthService/Admit ") + core_calls("EdgeService/LeaseTokens ");
	fprintf(stderr,
	    "edge_limit: %d admitted, %d refused of %d requests through two gateways; "
	    "%d core calls\n",
	    ok, limited, 1 + 2 * PER * ROUNDS, calls);
	cr_assert_leq(
	    ok, LIMIT, "two gateways admitted %d requests past a limit of %d", ok, LIMIT);
	cr_assert_geq(ok, LIMIT - 2 * BLOCK,
	    "two gateways admitted only %d of a limit of %d (tolerance: a block each)",
	    ok, LIMIT);
	cr_assert_gt(core_calls("EdgeService/LeaseTokens "), 0, "no tokens were leased");
	cr_assert_lt(calls, ok, "not fewer core calls (%d) than admitted requests (%d)",
	    calls, ok);
}

/*
 * Read your writes: a write made through the gateway, then an evaluation
 * at once. The write's reply names the revision it made, so the edge does
 * not answer from a snapshot behind it even when the change notice has not
 * come yet (before, an evaluation right after a write could still see the
 * old state now and then).
 */
Test(edge, reads_its_own_writes_at_once)
{
	const char *body = "{\"context\":{\"targetingKey\":\"u1\"}}";
	char wkey[128], id[32], auth[160];
	vx_http_res r;

	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_WRITE, wkey, sizeof(wkey));
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", wkey);
	r = call(&edge, "POST", "/v1/flags", auth, "{\"key\":\"ryw\",\"name\":\"ryw\"}");
	cr_assert_eq(r.status, 201, "%s", r.body);
	snprintf(id, sizeof(id), "%s",
	    cJSON_GetObjectItemCaseSensitive(r.json, "id")->valuestring);
	vx_http_res_free(&r);
	warm(sdk_key, body);
	for (int i = 0; i < 200; i++) {
		bool on = i % 2 == 0;

		r = call(&edge, "PATCH", vx_fmt("/v1/flags/%s/state", id), auth,
		    vx_fmt("{\"environment\":\"production\",\"enabled\":%s}",
		        on ? "true" : "false"));
		cr_assert_eq(r.status, 200, "%s", r.body);
		vx_http_res_free(&r);
		r = call(
		    &edge, "POST", "/ofrep/v1/evaluate/flags/ryw", bearer(sdk_key), body);
		cr_assert_eq(r.status, 200, "%s", r.body);
		cr_assert(strstr(r.body, on ? "\"value\":true" : "\"value\":false"),
		    "write %d turned the flag %s, the evaluation after it: %s", i,
		    on ? "on" : "off", r.body);
		vx_http_res_free(&r);
	}
}
