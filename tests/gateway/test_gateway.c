/*
 * Vexil gateway integration tests: the flag-service REST API
 * (specs/flag-service-api.md) over real HTTP.
 *
 * Every test gets a fresh vexild (the harness) and a fresh vexil-gateway
 * in front of it, and speaks HTTP to the gateway with libcurl, as a client
 * written against the document would. Teardown stops the gateway with
 * SIGTERM and checks that it exits 0.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "client.h"
#include "gateway/format.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;

static void
setup(void)
{
	vx_harness_start(&h, NULL);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

TestSuite(gateway, .init = setup, .fini = teardown, .timeout = 180);

/* For tests that make a thousand flags: vexild without fsync. */
static void
setup_nosync(void)
{
	static const char *const extra[] = {"--no-sync", NULL};

	vx_harness_start(&h, extra);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
}

TestSuite(gateway_bulk, .init = setup_nosync, .fini = teardown, .timeout = 180);

/* ---- helpers ---- */

/* printf into one of a few rotating buffers, for paths and bodies. */
/* One request to the suite's gateway; headers may be NULL. */
static vx_http_res
req_h(const char *method, const char *path, const char *const *headers, const char *body)
{
	char url[1024];
	vx_http_req rq = {.method = method, .url = url, .headers = headers, .body = body};

	snprintf(url, sizeof(url), "%s%s", g.base, path);
	return vx_http(&rq);
}

/* A request with the user's token (NULL: none). */
static vx_http_res
req(const char *method, const char *path, const char *token, const char *body)
{
	char auth[1200];
	const char *hs[2] = {NULL, NULL};

	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hs[0] = auth;
	}
	return req_h(method, path, hs, body);
}

static const char *
jstr(const vx_http_res *r, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);
	cr_assert(cJSON_IsString(v), "%s is not a string in %s", name, r->body);
	return v->valuestring;
}

static double
jnum(const vx_http_res *r, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);
	cr_assert(cJSON_IsNumber(v), "%s is not a number in %s", name, r->body);
	return v->valuedouble;
}

static bool
jbool(const vx_http_res *r, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);
	cr_assert(cJSON_IsBool(v), "%s is not a boolean in %s", name, r->body);
	return cJSON_IsTrue(v);
}

/* The document's error: the status, and the body a JSON string. */
static void
expect_error(vx_http_res *r, long status, const char *message)
{
	cr_assert_eq(r->status, status, "status %ld, wanted %ld: %s", r->status, status,
	    r->body);
	cr_assert(cJSON_IsString(r->json),
	    "the error body is a JSON string: %s", r->body);
	if (message)
		cr_assert_str_eq(r->json->valuestring, message);
	cr_assert_str_eq(r->content_type, "application/json");
	cr_assert(r->request_id[0], "every response has X-Request-Id");
	vx_http_res_free(r);
}

static void
expect_status(vx_http_res *r, long status)
{
	cr_assert_eq(r->status, status, "status %ld, wanted %ld: %s", r->status, status,
	    r->body);
	cr_assert(r->request_id[0], "every response has X-Request-Id");
}

static bool
is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	}
	return true;
}

static bool
is_rfc3339(const char *s)
{
	int y, mo, d, hh, mm, ss;
	char z;
	return strlen(s) == 20 &&
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &hh, &mm, &ss, &z) == 7 &&
	    z == 'Z' && y >= 2024;
}

/* Registers and logs in; the token is the caller's to free. */
static char *
user_token(const char *email)
{
	vx_http_res r;
	char *token;

	r = req("POST", "/auth/register", NULL,
	    vx_fmt("{\"email\":\"%s\",\"password\":\"secret-pw\"}", email));
	expect_status(&r, 201);
	vx_http_res_free(&r);
	r = req("POST", "/auth/login", NULL,
	    vx_fmt("{\"email\":\"%s\",\"password\":\"secret-pw\"}", email));
	expect_status(&r, 200);
	token = strdup(jstr(&r, "token"));
	vx_http_res_free(&r);
	return token;
}

/* Creates a project; fills its id and SDK key. */
static void
new_project(const char *token, const char *name, char id[64], char sdk[128])
{
	vx_http_res r = req("POST", "/api/projects", token,
	    vx_fmt("{\"name\":\"%s\"}", name));

	expect_status(&r, 201);
	snprintf(id, 64, "%s", jstr(&r, "id"));
	if (sdk)
		snprintf(sdk, 128, "%s", jstr(&r, "sdk_key"));
	vx_http_res_free(&r);
}

/* Creates a flag from a JSON body; fills its id. */
static void
new_flag(const char *token, const char *project, const char *body, char id[64])
{
	vx_http_res r = req("POST", vx_fmt("/api/projects/%s/flags", project), token, body);

	expect_status(&r, 201);
	snprintf(id, 64, "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
}

static void
new_rule(const char *token, const char *project, const char *flag, const char *body,
    char id[64])
{
	vx_http_res r =
	    req("POST",
	    vx_fmt("/api/projects/%s/flags/%s/rules", project, flag), token, body);

	expect_status(&r, 201);
	if (id)
		snprintf(id, 64, "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
}

static vx_http_res
evaluate(const char *sdk_key, const char *body)
{
	char hdr[200];
	const char *hs[] = {hdr, NULL};

	if (sdk_key == NULL)
		return req_h("POST", "/sdk/v1/evaluate", NULL, body);
	snprintf(hdr, sizeof(hdr), "X-SDK-Key: %s", sdk_key);
	return req_h("POST", "/sdk/v1/evaluate", hs, body);
}

/* The {enabled, reason} of one flag in an evaluation response. */
static void
expect_eval(const vx_http_res *r, const char *key, bool enabled, const char *reason)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(r->json, key);
	cr_assert(cJSON_IsObject(f), "no %s in %s", key, r->body);
	cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f,
	    "enabled")), enabled,
	    "%s enabled in %s", key, r->body);
	cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(f,
	    "reason")->valuestring, reason,
	    "%s reason in %s", key, r->body);
}

/* ---- health, request ids, the access log ---- */

Test(gateway, health_answers_ok_as_a_json_string)
{
	vx_http_res r = req("GET", "/health", NULL, NULL);

	expect_status(&r, 200);
	cr_assert_str_eq(r.body, "\"OK\"");
	cr_assert_str_eq(r.content_type, "application/json");
	vx_http_res_free(&r);
	r = req("HEAD", "/health", NULL, NULL);
	expect_status(&r, 200);
	cr_assert_eq(r.len, 0, "HEAD has no body");
	vx_http_res_free(&r);
}

Test(gateway, a_sane_request_id_is_echoed_and_any_other_replaced)
{
	const char *sane[] = {"X-Request-Id: trace-42.a:b_c", NULL};
	const char *insane[] = {"X-Request-Id: has space", NULL};
	char longid[100];
	const char *toolong[] = {longid, NULL};
	vx_http_res r;

	r = req_h("GET", "/health", sane, NULL);
	cr_assert_str_eq(r.request_id, "trace-42.a:b_c");
	vx_http_res_free(&r);
	r = req_h("GET", "/health", insane, NULL);
	cr_assert_eq(strlen(r.request_id), 32, "a generated id: %s", r.request_id);
	vx_http_res_free(&r);
	snprintf(longid, sizeof(longid), "X-Request-Id: %065d", 1);
	r = req_h("GET", "/health", toolong, NULL);
	cr_assert_eq(strlen(r.request_id), 32);
	vx_http_res_free(&r);
	/* Two requests without one get different ids. */
	char first[128];
	r = req("GET", "/health", NULL, NULL);
	snprintf(first, sizeof(first), "%s", r.request_id);
	vx_http_res_free(&r);
	r = req("GET", "/health", NULL, NULL);
	cr_assert_str_neq(r.request_id, first);
	vx_http_res_free(&r);
}

Test(gateway, every_error_response_carries_a_request_id)
{
	/* expect_error checks the header on each of these. */
	vx_http_res r = req("GET", "/nope", NULL, NULL);
	expect_error(&r, 404, "Not found");
	r = req("DELETE", "/health", NULL, NULL);
	expect_error(&r, 405, NULL);
	r = req("GET", "/api/projects", NULL, NULL);
	expect_error(&r, 401, NULL);
	r = req("POST", "/auth/login", NULL, "{");
	expect_error(&r, 400, NULL);
}

Test(gateway, each_request_writes_one_access_log_line)
{
	const char *hs[] = {"X-Request-Id: log-line-check-1", NULL};
	vx_http_res r = req_h("GET", "/api/projects?page=2", hs, NULL);
	char line[1024];
	int found = 0;
	FILE *f;

	expect_error(&r, 401, NULL);
	cr_assert_not_null(f = fopen(g.log, "r"));
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "req=log-line-check-1")) {
			found++;
			cr_assert(strstr(line,
			    "method=GET path=/api/projects status=401 us="),
			    "%s", line);
		}
	fclose(f);
	cr_assert_eq(found, 1, "one line for the request");
}

/* ---- the router ---- */

Test(gateway, unknown_paths_are_404_and_wrong_methods_405_in_the_dialects_format)
{
	vx_http_res r;

	r = req("GET", "/nope", NULL, NULL);
	expect_error(&r, 404, "Not found");
	r = req("GET", "/api/projects/a/b/c/d/e/f", NULL, NULL);
	expect_error(&r, 404, "Not found");
	r = req("PATCH", "/api/projects", NULL, "{}");
	cr_assert_str_eq(r.allow, "POST, GET");
	expect_error(&r, 405, "Method not allowed");
	r = req("DELETE", "/health", NULL, NULL);
	cr_assert_str_eq(r.allow, "GET");
	expect_error(&r, 405, "Method not allowed");
	r = req("GET", "/sdk/v1/evaluate", NULL, NULL);
	cr_assert_str_eq(r.allow, "POST");
	expect_error(&r, 405, NULL);
	/* A trailing slash and a query string change nothing. */
	r = req("GET", "/health/?probe=1", NULL, NULL);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	/* A path that does not decode. */
	r = req("GET", "/api/projects/%zz", NULL, NULL);
	expect_error(&r, 400, NULL);
}

/* ---- accounts ---- */

Test(gateway, register_login_and_me_round_trip)
{
	vx_http_res r;
	char id[64];

	r = req("POST", "/auth/register", NULL,
	    "{\"email\":\"developer@example.com\",\"password\":\"secure_password_123\"}");
	expect_status(&r, 201);
	cr_assert(is_uuid(jstr(&r, "id")), "%s", r.body);
	cr_assert_str_eq(jstr(&r, "email"), "developer@example.com");
	cr_assert_null(cJSON_GetObjectItem(r.json, "password"));
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);

	r = req("POST", "/auth/login", NULL,
	    "{\"email\":\"developer@example.com\",\"password\":\"secure_password_123\"}");
	expect_status(&r, 200);
	char *token = strdup(jstr(&r, "token"));
	cr_assert_eq(cJSON_GetArraySize(r.json), 1, "only the token: %s", r.body);
	vx_http_res_free(&r);

	r = req("GET", "/api/me", token, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "user_id"), id);
	vx_http_res_free(&r);
	free(token);
}

Test(gateway, register_validates_email_password_and_uniqueness)
{
	vx_http_res r;

	r = req("POST", "/auth/register", NULL,
	    "{\"email\":\"not-an-email\",\"password\":\"secret-pw\"}");
	expect_error(&r, 400, NULL);
	r = req("POST", "/auth/register", NULL,
	    "{\"email\":\"a@example.com\",\"password\":\"12345\"}");
	expect_error(&r, 400, NULL);
	r = req("POST", "/auth/register", NULL, "{\"email\":\"a@example.com\"}");
	expect_error(&r, 400, "password is required");
	r = req("POST", "/auth/register", NULL,
	    "{\"email\":5,\"password\":\"secret-pw\"}");
	expect_error(&r, 400, "email must be a string");
	r = req("POST", "/auth/register", NULL,
	    "{\"email\":\"a@example.com\",\"password\":\"secret-pw\"}");
	expect_status(&r, 201);
	vx_http_res_free(&r);
	r = req("POST", "/auth/register", NULL,
	    "{\"email\":\"a@example.com\",\"password\":\"other-pw\"}");
	expect_error(&r, 409, NULL);
}

Test(gateway, bad_logins_are_401_and_repeated_ones_429)
{
	vx_http_res r;

	free(user_token("brute@example.com"));
	r = req("POST", "/auth/login", NULL,
	    "{\"email\":\"nobody@example.com\",\"password\":\"secret-pw\"}");
	expect_error(&r, 401, NULL);
	for (int i = 0; i < 5; i++) {
		r = req("POST", "/auth/login", NULL,
		    "{\"email\":\"brute@example.com\",\"password\":\"guess\"}");
		expect_error(&r, 401, NULL);
	}
	/* The core now refuses this email for a while, even the right password. */
	r = req("POST", "/auth/login", NULL,
	    "{\"email\":\"brute@example.com\",\"password\":\"secret-pw\"}");
	expect_error(&r, 429, NULL);
}


static long
me_status(const char *token)
{
	vx_http_res r = req("GET", "/api/me", token, NULL);
	long st = r.status;

	if (st != 200)
		expect_error(&r, st, NULL);
	else
		vx_http_res_free(&r);
	return st;
}

Test(gateway, missing_and_forged_tokens_are_401)
{
	const char *basic[] = {"Authorization: Basic YTpi", NULL};
	const char *apikey[2] = {NULL, NULL};
	char hdr[200], tampered[1200], payload[600];
	uint8_t secret[32], other[32];
	char token[512];
	int64_t now = vx_now_ms();
	vx_http_res r;
	size_t plen;

	char *real = user_token("jwt@example.com");
	cr_assert_eq(me_status(real), 200);
	cr_assert_eq(me_status(NULL), 401, "no token");
	cr_assert_eq(me_status("garbage"), 401);
	/* A bad token is 401 whatever else is wrong with the request. */
	r = req("GET", "/api/projects/not-a-uuid", "garbage", NULL);
	expect_error(&r, 401, NULL);
	r = req("POST", "/api/projects", "garbage", "{bad json");
	expect_error(&r, 401, NULL);
	r = req("POST", "/api/projects", NULL, "{bad json");
	expect_error(&r, 401, NULL);
	r = req_h("GET", "/api/me", basic, NULL);
	expect_error(&r, 401, "Missing or invalid authorization token");
	/* This document knows bearer tokens only, not the core's API keys. */
	snprintf(hdr, sizeof(hdr), "Authorization: ApiKey %s", h.key);
	apikey[0] = hdr;
	r = req_h("GET", "/api/projects", apikey, NULL);
	expect_error(&r, 401, NULL);

	/* alg "none": {"alg":"none","typ":"JWT"} . {"sub":"1","exp":9999999999} . */
	cr_assert_eq(me_status("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
				"eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ."),
	    401);

	/* A changed payload: one digit of the claims differs, same signature. */
	const char *dot1 = strchr(real, '.'), *dot2 = strchr(dot1 + 1, '.');
	cr_assert(sodium_base642bin((unsigned char *)payload, sizeof(payload) - 1, dot1 + 1,
		      (size_t)(dot2 - dot1 - 1), NULL, &plen, NULL,
		      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
	payload[plen] = '\0';
	char *digit = strpbrk(payload, "0123456789");
	cr_assert_not_null(digit);
	*digit = *digit == '9' ? '8' : (char)(*digit + 1);
	char enc[800];
	sodium_bin2base64(enc, sizeof(enc), (unsigned char *)payload, plen,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(tampered, sizeof(tampered),
	    "%.*s.%s%s", (int)(dot1 - real), real, enc, dot2);
	cr_assert_eq(me_status(tampered), 401, "changed payload");

	/* Expired, and signed with another secret. */
	cr_assert(sodium_init() >= 0);
	vx_harness_jwt_secret(&h, secret);
	vx_auth_set_jwt_secret(secret);
	cr_assert(vx_auth_jwt_issue(1, now, now + 60000, token, sizeof(token)) == 0);
	cr_assert_eq(me_status(token), 200,
	    "a token minted with the server's secret works");
	cr_assert(vx_auth_jwt_issue(1, now - 7200000, now - 3600000, token, sizeof(token)) == 0);
	cr_assert_eq(me_status(token), 401, "expired");
	memset(other, 7, sizeof(other));
	vx_auth_set_jwt_secret(other);
	cr_assert(vx_auth_jwt_issue(1, now, now + 60000, token, sizeof(token)) == 0);
	cr_assert_eq(me_status(token), 401, "signed with another secret");
	free(real);
}

/* ---- projects ---- */

Test(gateway, projects_create_list_get_update_and_delete)
{
	char *t = user_token("owner@example.com");
	char id[64], key[128];
	vx_http_res r;

	r = req("POST", "/api/projects", t,
	    "{\"name\":\"My Mobile App\",\"description\":\"iOS and Android application\"}");
	expect_status(&r, 201);
	cr_assert(is_uuid(jstr(&r, "id")));
	cr_assert_str_eq(jstr(&r, "name"), "My Mobile App");
	cr_assert_str_eq(jstr(&r, "description"), "iOS and Android application");
	cr_assert(strlen(jstr(&r, "sdk_key")) > 8);
	cr_assert(is_rfc3339(jstr(&r, "created_at")), "%s", r.body);
	cr_assert(is_rfc3339(jstr(&r, "updated_at")));
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	snprintf(key, sizeof(key), "%s", jstr(&r, "sdk_key"));
	vx_http_res_free(&r);

	r = req("POST", "/api/projects", t, "{\"name\":\"Web Dashboard\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "description"), "");
	vx_http_res_free(&r);

	r = req("GET", "/api/projects", t, NULL);
	expect_status(&r, 200);
	cr_assert(cJSON_IsArray(r.json));
	/* The two, and the user's own `default` from sign-up. */
	cr_assert_eq(cJSON_GetArraySize(r.json), 3, "%s", r.body);
	vx_http_res_free(&r);

	r = req("GET", vx_fmt("/api/projects/%s", id), t, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "My Mobile App");
	cr_assert_str_eq(jstr(&r, "sdk_key"), key, "the SDK key stays readable");
	vx_http_res_free(&r);

	/* Only provided fields change. */
	r = req("PUT", vx_fmt("/api/projects/%s", id), t,
	    "{\"name\":\"My Mobile App (Production)\"}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "My Mobile App (Production)");
	cr_assert_str_eq(jstr(&r, "description"), "iOS and Android application");
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("/api/projects/%s", id), t,
	    "{\"description\":\"Production app\"}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "My Mobile App (Production)");
	cr_assert_str_eq(jstr(&r, "description"), "Production app");
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("/api/projects/%s", id), t, "{}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "description"), "Production app");
	vx_http_res_free(&r);

	r = req("DELETE", vx_fmt("/api/projects/%s", id), t, NULL);
	expect_status(&r, 204);
	cr_assert_eq(r.len, 0);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/api/projects/%s", id), t, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", "/api/projects", t, NULL);
	cr_assert_eq(
	    cJSON_GetArraySize(r.json), 2, "and the sign-up default: %s", r.body);
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, project_bodies_are_validated)
{
	char *t = user_token("v@example.com");
	char id[64];
	vx_http_res r;

	r = req("POST", "/api/projects", t, "{\"description\":\"no name\"}");
	expect_error(&r, 400, "name is required");
	r = req("POST", "/api/projects", t, "{\"name\":42}");
	expect_error(&r, 400, "name must be a string");
	r = req("POST", "/api/projects", t, "{\"name\":\"ok\",\"description\":[]}");
	expect_error(&r, 400, "description must be a string");
	new_project(t, "Dup", id, NULL);
	r = req("POST", "/api/projects", t, "{\"name\":\"Dup\"}");
	expect_error(&r, 409, NULL);
	r = req("PUT", vx_fmt("/api/projects/%s", id), t, "{\"name\":\"\"}");
	expect_error(&r, 400, "name cannot be empty");
	r = req("PUT", vx_fmt("/api/projects/%s", id), t, "{\"name\":false}");
	expect_error(&r, 400, "name must be a string");
	free(t);
}

Test(gateway, another_users_project_is_not_found)
{
	char *a = user_token("a@example.com"), *b = user_token("b@example.com");
	char pa[64], fa[64];
	vx_http_res r;

	new_project(a, "Secret", pa, NULL);
	new_flag(a, pa, "{\"name\":\"X\",\"key\":\"x\"}", fa);
	r = req("GET", vx_fmt("/api/projects/%s", pa), b, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("PUT", vx_fmt("/api/projects/%s", pa), b, "{\"name\":\"mine\"}");
	expect_error(&r, 404, "Project not found");
	r = req("DELETE", vx_fmt("/api/projects/%s", pa), b, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("POST", vx_fmt("/api/projects/%s/regenerate-key", pa), b, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", vx_fmt("/api/projects/%s/flags", pa), b, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s", pa, fa), b, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("POST", vx_fmt("/api/projects/%s/flags/%s/toggle", pa, fa), b, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", "/api/projects", b, NULL);
	cr_assert_eq(cJSON_GetArraySize(r.json), 1, "b's sign-up default: %s", r.body);
	vx_http_res_free(&r);
	/* And the owner still has it, unchanged. */
	r = req("GET", vx_fmt("/api/projects/%s", pa), a, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "Secret");
	vx_http_res_free(&r);
	free(a);
	free(b);
}

Test(gateway, unknown_malformed_and_wrong_kind_ids_are_404)
{
	char *t = user_token("ids@example.com");
	char p[64], f[64];
	vx_http_res r;

	new_project(t, "P", p, NULL);
	new_flag(t, p, "{\"name\":\"F\",\"key\":\"f\"}", f);
	r = req("GET", "/api/projects/00000002-0000-4000-8000-0000000003e7", t, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", "/api/projects/not-a-uuid", t, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", "/api/projects/550e8400-e29b-41d4-a716-446655440000", t, NULL);
	expect_error(&r, 404, "Project not found");
	/* A flag's id where a project's belongs. */
	r = req("GET", vx_fmt("/api/projects/%s", f), t, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s", p, p), t, NULL);
	expect_error(&r, 404, "Flag not found");
	r = req("GET",
	    vx_fmt("/api/projects/%s/flags/00000003-0000-4000-8000-0000000003e7", p), t,
	    NULL);
	expect_error(&r, 404, "Flag not found");
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s/rules/%s", p, f, f), t, NULL);
	expect_error(&r, 404, "Rule not found");
	r = req("GET",
	    vx_fmt("/api/projects/%s/flags/%s/rules/00000004-0000-4000-8000-000000000009",
			   p, f),
	    t, NULL);
	expect_error(&r, 404, "Rule not found");
	free(t);
}

Test(gateway, a_flag_of_another_project_is_not_found_under_this_one)
{
	char *t = user_token("two@example.com");
	char p1[64], p2[64], f1[64];
	vx_http_res r;

	new_project(t, "One", p1, NULL);
	new_project(t, "Two", p2, NULL);
	new_flag(t, p1, "{\"name\":\"F\",\"key\":\"f\"}", f1);
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s", p2, f1), t, NULL);
	expect_error(&r, 404, "Flag not found");
	r = req("DELETE", vx_fmt("/api/projects/%s/flags/%s", p2, f1), t, NULL);
	expect_error(&r, 404, "Flag not found");
	free(t);
}

/* ---- flags ---- */

Test(gateway, flags_create_list_get_update_toggle_and_delete)
{
	char *t = user_token("flags@example.com");
	char p[64], id[64];
	vx_http_res r;

	new_project(t, "App", p, NULL);
	r = req("POST", vx_fmt("/api/projects/%s/flags", p), t,
	    "{\"name\":\"New Checkout\",\"key\":\"new_checkout\",\"description\":\"Optional\","
	    "\"enabled\":true,\"rollout_percentage\":50}");
	expect_status(&r, 201);
	cr_assert(is_uuid(jstr(&r, "id")));
	cr_assert_str_eq(jstr(&r, "project_id"), p);
	cr_assert_str_eq(jstr(&r, "name"), "New Checkout");
	cr_assert_str_eq(jstr(&r, "key"), "new_checkout");
	cr_assert_str_eq(jstr(&r, "description"), "Optional");
	cr_assert(jbool(&r, "enabled"));
	cr_assert_eq(jnum(&r, "rollout_percentage"), 50);
	cr_assert(is_rfc3339(jstr(&r, "created_at")));
	cr_assert(is_rfc3339(jstr(&r, "updated_at")));
	snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);

	/* Defaults: disabled, 0%. */
	r = req("POST", vx_fmt("/api/projects/%s/flags", p), t,
	    "{\"name\":\"Dark\",\"key\":\"dark-mode\"}");
	expect_status(&r, 201);
	cr_assert_not(jbool(&r, "enabled"));
	cr_assert_eq(jnum(&r, "rollout_percentage"), 0);
	vx_http_res_free(&r);

	r = req("GET", vx_fmt("/api/projects/%s/flags", p), t, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 2, "%s", r.body);
	vx_http_res_free(&r);

	r = req("GET", vx_fmt("/api/projects/%s/flags/%s", p, id), t, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "key"), "new_checkout");
	vx_http_res_free(&r);

	/* Only provided fields change. */
	r = req("PUT", vx_fmt("/api/projects/%s/flags/%s", p, id), t,
	    "{\"rollout_percentage\":75}");
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "rollout_percentage"), 75);
	cr_assert(jbool(&r, "enabled"));
	cr_assert_str_eq(jstr(&r, "name"), "New Checkout");
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("/api/projects/%s/flags/%s", p, id), t,
	    "{\"name\":\"Updated Name\",\"description\":\"Updated description\",\"enabled\":false}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "Updated Name");
	cr_assert_str_eq(jstr(&r, "description"), "Updated description");
	cr_assert_not(jbool(&r, "enabled"));
	cr_assert_eq(jnum(&r, "rollout_percentage"), 75);
	cr_assert_str_eq(jstr(&r, "key"), "new_checkout", "the key never changes");
	vx_http_res_free(&r);

	r = req("POST", vx_fmt("/api/projects/%s/flags/%s/toggle", p, id), t, NULL);
	expect_status(&r, 200);
	cr_assert(jbool(&r, "enabled"));
	vx_http_res_free(&r);
	r = req("POST", vx_fmt("/api/projects/%s/flags/%s/toggle", p, id), t, NULL);
	expect_status(&r, 200);
	cr_assert_not(jbool(&r, "enabled"));
	vx_http_res_free(&r);

	r = req("DELETE", vx_fmt("/api/projects/%s/flags/%s", p, id), t, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s", p, id), t, NULL);
	expect_error(&r, 404, "Flag not found");
	r = req("DELETE", vx_fmt("/api/projects/%s/flags/%s", p, id), t, NULL);
	expect_error(&r, 404, "Flag not found");
	free(t);
}

Test(gateway, flag_keys_follow_the_documents_rules)
{
	char *t = user_token("keys@example.com");
	char p[64], f[64];
	vx_http_res r;

	new_project(t, "App", p, NULL);
	char path[256];
	snprintf(path, sizeof(path), "/api/projects/%s/flags", p);
	r = req("POST", path, t, "{\"name\":\"x\",\"key\":\"1st\"}");
	expect_error(&r, 400, "Flag key must start with a letter");
	r = req("POST", path, t, "{\"name\":\"x\",\"key\":\"_x\"}");
	expect_error(&r, 400, "Flag key must start with a letter");
	r = req("POST", path, t, "{\"name\":\"x\",\"key\":\"NewCheckout\"}");
	expect_error(&r, 400,
	    "Flag key can only contain lowercase letters, numbers, _ and -");
	r = req("POST", path, t, "{\"name\":\"x\",\"key\":\"new checkout\"}");
	expect_error(&r, 400,
	    "Flag key can only contain lowercase letters, numbers, _ and -");
	r = req("POST", path, t, "{\"name\":\"x\",\"key\":\"a.b\"}");
	expect_error(&r, 400,
	    "Flag key can only contain lowercase letters, numbers, _ and -");
	r = req("POST", path, t, "{\"name\":\"x\"}");
	expect_error(&r, 400, "key is required");
	r = req("POST", path, t, "{\"name\":\"x\",\"key\":7}");
	expect_error(&r, 400, "key must be a string");
	new_flag(t, p, "{\"name\":\"ok\",\"key\":\"a1_b-2\"}", f);
	r = req("POST", path, t, "{\"name\":\"again\",\"key\":\"a1_b-2\"}");
	expect_error(&r, 409, NULL);
	/* Without a name the key names the flag. */
	r = req("POST", path, t, "{\"key\":\"nameless\"}");
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "name"), "nameless");
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, rollout_percentage_must_be_an_integer_from_0_to_100)
{
	char *t = user_token("pct@example.com");
	char p[64], f[64];
	vx_http_res r;

	new_project(t, "App", p, NULL);
	char path[256];
	snprintf(path, sizeof(path), "/api/projects/%s/flags", p);
	const char *bad[] = {"101", "-1", "50.5", "\"50\"", "true", "1e9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = req("POST", path, t,
		    vx_fmt("{\"name\":\"x\",\"key\":\"x\",\"rollout_percentage\":%s}",
					      bad[i]));
		expect_error(&r, 400, NULL);
	}
	r = req("POST", path, t,
	    "{\"name\":\"x\",\"key\":\"x\",\"rollout_percentage\":101}");
	expect_error(&r, 400, "rollout_percentage must be between 0 and 100");
	r = req("POST", path, t,
	    "{\"name\":\"x\",\"key\":\"x\",\"rollout_percentage\":\"5\"}");
	expect_error(&r, 400, "rollout_percentage must be an integer");
	new_flag(t, p, "{\"name\":\"x\",\"key\":\"edge\",\"rollout_percentage\":100}", f);
	r = req("PUT", vx_fmt("/api/projects/%s/flags/%s", p, f), t,
	    "{\"rollout_percentage\":0}");
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "rollout_percentage"), 0);
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("/api/projects/%s/flags/%s", p, f), t,
	    "{\"rollout_percentage\":200}");
	expect_error(&r, 400, "rollout_percentage must be between 0 and 100");
	free(t);
}

Test(gateway, wrong_json_types_are_400_naming_the_field_and_change_nothing)
{
	char *t = user_token("types@example.com");
	char p[64], f[64];
	vx_http_res r;

	new_project(t, "App", p, NULL);
	new_flag(t, p, "{\"name\":\"Keep\",\"key\":\"keep\"}", f);
	char path[256];
	snprintf(path, sizeof(path), "/api/projects/%s/flags/%s", p, f);
	r = req("PUT", path, t, "{\"name\":\"Changed\",\"enabled\":\"yes\"}");
	expect_error(&r, 400, "enabled must be a boolean");
	r = req("PUT", path, t, "{\"name\":5}");
	expect_error(&r, 400, "name must be a string");
	r = req("PUT", path, t, "{\"description\":{}}");
	expect_error(&r, 400, "description must be a string");
	r = req("GET", path, t, NULL);
	cr_assert_str_eq(jstr(&r, "name"), "Keep", "a refused request changes nothing");
	vx_http_res_free(&r);
	/* null means "not given". */
	r = req("PUT", path, t, "{\"name\":null}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "name"), "Keep");
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, malformed_json_and_non_object_bodies_are_400)
{
	char *t = user_token("json@example.com");
	vx_http_res r;

	const char *bad[] = {"{\"name\":", "[1,2]", "\"name\"", "{\"name\":\"a\"} x",
	    "nul",
		"{\"name\":\"a\",}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = req("POST", "/api/projects", t, bad[i]);
		expect_error(&r, 400, NULL);
	}
	r = req("POST", "/api/projects", t, "{\"name\":");
	expect_error(&r, 400, "Malformed JSON in request body");
	r = req("POST", "/api/projects", t, "[]");
	expect_error(&r, 400, "Request body must be a JSON object");
	r = req("POST", "/api/projects", t, "");
	expect_error(&r, 400, "Request body is required");
	r = req("GET", "/api/projects", t, NULL);
	cr_assert_eq(cJSON_GetArraySize(r.json), 1, "the sign-up default: %s", r.body);
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, bodies_over_the_limit_are_413)
{
	char *t = user_token("big@example.com");
	size_t n = 3 * 1024 * 1024;
	char *big = malloc(n + 1);
	vx_http_res r;

	/* A 3 MiB JSON object: {"name":"aaaa..."}. */
	memset(big, 'a', n);
	memcpy(big, "{\"name\":\"", 9);
	memcpy(big + n - 2, "\"}", 2);
	big[n] = '\0';
	r = req("POST", "/api/projects", t, big);
	expect_error(&r, 413, NULL);
	r = req("GET", "/api/projects", t, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 1, "the sign-up default: %s", r.body);
	vx_http_res_free(&r);
	free(big);
	free(t);
}

Test(gateway, max_body_is_the_exact_limit)
{
	vx_gateway small;
	const char *args[] = {"--max-body", "64", NULL};
	/* Expect: 100-continue makes curl wait for our answer before sending
	 * a body we are about to refuse. */
	const char *hs[] = {"Expect: 100-continue", NULL};
	char body[100], url[200];

	vx_gateway_start(&small, &h, NULL, args, NULL);
	snprintf(url, sizeof(url), "%s/auth/login", small.base);
	/* Exactly 64 bytes, then 65: {"email":"a@example.com","password":"00...0"}. */
	const char *head = "{\"email\":\"a@example.com\",\"password\":\"", *tail = "\"}";
	int pad = 64 - (int)(strlen(head) + strlen(tail));
	snprintf(body, sizeof(body), "%s%0*d%s", head, pad, 0, tail);
	cr_assert_eq(strlen(body), 64);
	vx_http_req rq = {.method = "POST", .url = url, .headers = hs, .body = body};
	vx_http_res r = vx_http(&rq);
	expect_error(&r, 401, NULL);
	snprintf(body, sizeof(body), "%s%0*d%s", head, pad + 1, 0, tail);
	r = vx_http(&rq);
	expect_error(&r, 413, "Request body is larger than 64 bytes");
	cr_assert_eq(vx_gateway_stop(&small), 0);
	unlink(small.log);
}

Test(gateway, chunked_request_bodies_are_refused_with_411)
{
	const char *hs[] = {"Transfer-Encoding: chunked", NULL};
	vx_http_res r = req_h("POST", "/auth/login", hs, "{}");
	expect_error(&r, 411, NULL);
}

/* ---- rules ---- */

Test(gateway, rules_create_list_get_update_and_delete_in_priority_order)
{
	char *t = user_token("rules@example.com");
	char p[64], f[64], r1[64], r2[64], r3[64];
	vx_http_res r;

	new_project(t, "App", p, NULL);
	new_flag(t, p, "{\"name\":\"F\",\"key\":\"f\"}", f);
	char rules[256];
	snprintf(rules, sizeof(rules), "/api/projects/%s/flags/%s/rules", p, f);
	r = req("POST", rules, t,
	    "{\"rule_type\":\"user_email\",\"rule_value\":\"admin@example.com\",\"enabled\":true,"
	    "\"priority\":10}");
	expect_status(&r, 201);
	cr_assert(is_uuid(jstr(&r, "id")));
	cr_assert_str_eq(jstr(&r, "flag_id"), f);
	cr_assert_str_eq(jstr(&r, "rule_type"), "user_email");
	cr_assert_str_eq(jstr(&r, "rule_value"), "admin@example.com");
	cr_assert(jbool(&r, "enabled"));
	cr_assert_eq(jnum(&r, "priority"), 10);
	cr_assert(is_rfc3339(jstr(&r, "created_at")));
	snprintf(r1, sizeof(r1), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	/* Defaults: enabled, priority 0. */
	r = req("POST", rules, t,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"user_12345\"}");
	expect_status(&r, 201);
	cr_assert(jbool(&r, "enabled"));
	cr_assert_eq(jnum(&r, "priority"), 0);
	snprintf(r2, sizeof(r2), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	new_rule(t, p, f,
	    "{\"rule_type\":\"email_domain\",\"rule_value\":\"@company.com\","
			  "\"priority\":20,\"enabled\":false}",
	    r3);

	/* Highest priority first. */
	r = req("GET", rules, t, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 3, "%s", r.body);
	cr_assert_str_eq(cJSON_GetArrayItem(r.json, 0)->child->valuestring, r3);
	cr_assert_str_eq(cJSON_GetArrayItem(r.json, 1)->child->valuestring, r1);
	cr_assert_str_eq(cJSON_GetArrayItem(r.json, 2)->child->valuestring, r2);
	vx_http_res_free(&r);

	r = req("GET", vx_fmt("%s/%s", rules, r3), t, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "rule_type"), "email_domain");
	cr_assert_str_eq(jstr(&r, "rule_value"), "@company.com");
	cr_assert_not(jbool(&r, "enabled"));
	vx_http_res_free(&r);

	/* Only provided fields change; a new type is checked with the kept value. */
	r = req("PUT", vx_fmt("%s/%s", rules, r1), t, "{\"priority\":30}");
	expect_status(&r, 200);
	cr_assert_eq(jnum(&r, "priority"), 30);
	cr_assert_str_eq(jstr(&r, "rule_value"), "admin@example.com");
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("%s/%s", rules, r1), t, "{\"rule_type\":\"email_domain\"}");
	expect_error(&r, 400, "Email domains must start with @");
	r = req("PUT", vx_fmt("%s/%s", rules, r1), t,
	    "{\"rule_type\":\"email_domain\",\"rule_value\":\"@newcompany.com\",\"enabled\":false,"
	    "\"priority\":20}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "rule_type"), "email_domain");
	cr_assert_str_eq(jstr(&r, "rule_value"), "@newcompany.com");
	cr_assert_not(jbool(&r, "enabled"));
	cr_assert_eq(jnum(&r, "priority"), 20);
	vx_http_res_free(&r);
	r = req("PUT", vx_fmt("%s/%s", rules, r2), t, "{\"rule_value\":\"user_999\"}");
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "rule_type"), "user_id");
	cr_assert_str_eq(jstr(&r, "rule_value"), "user_999");
	vx_http_res_free(&r);

	r = req("DELETE", vx_fmt("%s/%s", rules, r2), t, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("%s/%s", rules, r2), t, NULL);
	expect_error(&r, 404, "Rule not found");
	r = req("GET", rules, t, NULL);
	cr_assert_eq(cJSON_GetArraySize(r.json), 2);
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, rule_bodies_are_validated)
{
	char *t = user_token("rv@example.com");
	char p[64], f[64];
	vx_http_res r;

	new_project(t, "App", p, NULL);
	new_flag(t, p, "{\"name\":\"F\",\"key\":\"f\"}", f);
	char rules[256];
	snprintf(rules, sizeof(rules), "/api/projects/%s/flags/%s/rules", p, f);
	r = req("POST", rules, t, "{\"rule_type\":\"user_id\",\"rule_value\":\"\"}");
	expect_error(&r, 400, "rule_value cannot be empty");
	r = req("POST", rules, t, "{\"rule_type\":\"user_id\",\"rule_value\":\"   \"}");
	expect_error(&r, 400, "rule_value cannot be empty");
	r = req("POST", rules, t, "{\"rule_type\":\"user_id\"}");
	expect_error(&r, 400, "rule_value cannot be empty");
	r = req("POST", rules, t,
	    "{\"rule_type\":\"user_email\",\"rule_value\":\"admin\"}");
	expect_error(&r, 400, "User emails must contain @");
	r = req("POST", rules, t,
	    "{\"rule_type\":\"email_domain\",\"rule_value\":\"company.com\"}");
	expect_error(&r, 400, "Email domains must start with @");
	r = req("POST", rules, t, "{\"rule_type\":\"country\",\"rule_value\":\"NL\"}");
	expect_error(&r, 400,
	    "rule_type must be one of user_id, user_email, email_domain");
	r = req("POST", rules, t, "{\"rule_value\":\"x\"}");
	expect_error(&r, 400, NULL);
	r = req("POST", rules, t,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"u\",\"priority\":\"1\"}");
	expect_error(&r, 400, "priority must be an integer");
	r = req("POST", rules, t,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"u\",\"enabled\":1}");
	expect_error(&r, 400, "enabled must be a boolean");
	r = req("POST", rules, t, "{\"rule_type\":\"user_id\",\"rule_value\":7}");
	expect_error(&r, 400, "rule_value must be a string");
	r = req("GET", rules, t, NULL);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0, "nothing was created: %s", r.body);
	vx_http_res_free(&r);
	free(t);
}

/* ---- SDK evaluation ---- */

Test(gateway, sdk_evaluate_gives_every_documented_reason)
{
	char *t = user_token("sdk@example.com");
	char p[64], sdk[128], f[64];
	vx_http_res r;

	new_project(t, "App", p, sdk);
	new_flag(t, p,
	    "{\"name\":\"Off\",\"key\":\"premium_features\",\"rollout_percentage\":100}", f);
	new_flag(t, p, "{\"name\":\"All\",\"key\":\"dark_mode\",\"enabled\":true,"
		       "\"rollout_percentage\":100}", f);
	new_flag(t, p, "{\"name\":\"None\",\"key\":\"beta\",\"enabled\":true}", f);
	new_flag(t, p,
	    "{\"name\":\"Ruled\",\"key\":\"new_checkout\",\"enabled\":true}", f);
	new_rule(t, p, f,
	    "{\"rule_type\":\"user_email\",\"rule_value\":\"alice@example.com\"}", NULL);
	new_flag(t, p, "{\"name\":\"Domain\",\"key\":\"corp\",\"enabled\":true}", f);
	new_rule(t, p, f,
	    "{\"rule_type\":\"email_domain\",\"rule_value\":\"@Company.com\"}", NULL);
	new_flag(t, p, "{\"name\":\"Id\",\"key\":\"by_id\",\"enabled\":true}", f);
	new_rule(t, p, f,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"user_12345\"}", NULL);
	/* A disabled rule never matches. */
	new_flag(t, p, "{\"name\":\"Quiet\",\"key\":\"quiet\",\"enabled\":true}", f);
	new_rule(t, p, f, "{\"rule_type\":\"user_id\",\"rule_value\":\"user_12345\","
			  "\"enabled\":false}", NULL);

	r = evaluate(sdk,
	    "{\"user_id\":\"user_12345\",\"user_email\":\"alice@example.com\","
			  "\"custom_attributes\":{}}");
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 7, "%s", r.body);
	expect_eval(&r, "premium_features", false, "disabled");
	expect_eval(&r, "dark_mode", true, "rollout");
	expect_eval(&r, "beta", false, "rollout_excluded");
	expect_eval(&r, "new_checkout", true, "rule_match");
	expect_eval(&r, "corp", false, "rollout_excluded");
	expect_eval(&r, "by_id", true, "rule_match");
	expect_eval(&r, "quiet", false, "rollout_excluded");
	vx_http_res_free(&r);

	/* Email domains match whatever the case. */
	r = evaluate(sdk, "{\"user_id\":\"u2\",\"user_email\":\"bob@company.com\"}");
	expect_status(&r, 200);
	expect_eval(&r, "corp", true, "rule_match");
	expect_eval(&r, "new_checkout", false, "rollout_excluded");
	expect_eval(&r, "by_id", false, "rollout_excluded");
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, sdk_rollout_is_consistent_for_a_user)
{
	char *t = user_token("roll@example.com");
	char p[64], sdk[128], f[64];
	int in = 0;

	new_project(t, "App", p, sdk);
	new_flag(t, p, "{\"name\":\"Half\",\"key\":\"half\",\"enabled\":true,"
		       "\"rollout_percentage\":50}", f);
	for (int i = 0; i < 40; i++) {
		const char *body = vx_fmt("{\"user_id\":\"user-%d\"}", i);
		vx_http_res a = evaluate(sdk, body), b = evaluate(sdk, body);
		const cJSON *fa = cJSON_GetObjectItem(a.json, "half");
		const cJSON *fb = cJSON_GetObjectItem(b.json, "half");
		cr_assert_not_null(fa);
		cr_assert_not_null(fb);
		cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(fa, "enabled")),
		    cJSON_IsTrue(cJSON_GetObjectItem(fb, "enabled")),
		    "the same answer twice");
		in += cJSON_IsTrue(cJSON_GetObjectItem(fa, "enabled"));
		vx_http_res_free(&a);
		vx_http_res_free(&b);
	}
	cr_assert(in > 0 && in < 40,
	    "a 50%% rollout lets some users in and not others (%d)", in);
	free(t);
}

Test(gateway, sdk_evaluate_needs_a_key_and_a_user_id)
{
	char *t = user_token("sdkv@example.com");
	char p[64], sdk[128];
	vx_http_res r;

	new_project(t, "App", p, sdk);
	r = evaluate(NULL, "{\"user_id\":\"u\"}");
	expect_error(&r, 401, "Missing or invalid SDK key");
	r = evaluate("vxs_0000000000000000000000000000000000000000",
	    "{\"user_id\":\"u\"}");
	expect_error(&r, 401, NULL);
	r = evaluate(sdk, "{\"user_email\":\"a@example.com\"}");
	expect_error(&r, 400, "user_id is required");
	r = evaluate(sdk, "{\"user_id\":\"\"}");
	expect_error(&r, 400, "user_id is required");
	r = evaluate(sdk, "{\"user_id\":12}");
	expect_error(&r, 400, "user_id must be a string");
	r = evaluate(sdk, "{\"user_id\":\"u\",\"custom_attributes\":[]}");
	expect_error(&r, 400, "custom_attributes must be an object");
	r = evaluate(sdk, "{\"user_id\":\"u\",\"custom_attributes\":{\"x\":[{}]}}");
	expect_error(&r, 400, NULL);
	r = evaluate(sdk,
	    "{\"user_id\":\"u\",\"custom_attributes\":{\"plan\":\"pro\",\"n\":3,"
			  "\"b\":true,\"l\":[\"a\"]}}");
	expect_status(&r, 200);
	vx_http_res_free(&r);
	/* A user's token is not an SDK key. */
	const char *hs[] = {vx_fmt("Authorization: Bearer %s", t), NULL};
	r = req_h("POST", "/sdk/v1/evaluate", hs, "{\"user_id\":\"u\"}");
	expect_error(&r, 401, NULL);
	/* Nor is an SDK key a user's token. */
	r = req("GET", "/api/projects", sdk, NULL);
	expect_error(&r, 401, NULL);
	free(t);
}

Test(gateway, regenerate_key_kills_the_old_sdk_key_at_once)
{
	char *t = user_token("regen@example.com");
	char p[64], old[128], f[64];
	vx_http_res r;

	new_project(t, "App", p, old);
	new_flag(t, p,
	    "{\"name\":\"F\",\"key\":\"f\",\"enabled\":true,\"rollout_percentage\":100}",
	    f);
	r = evaluate(old, "{\"user_id\":\"u\"}");
	expect_status(&r, 200);
	vx_http_res_free(&r);

	r = req("POST", vx_fmt("/api/projects/%s/regenerate-key", p), t, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), p);
	cr_assert_str_neq(jstr(&r, "sdk_key"), old);
	char *fresh = strdup(jstr(&r, "sdk_key"));
	vx_http_res_free(&r);

	r = evaluate(old, "{\"user_id\":\"u\"}");
	expect_error(&r, 401, NULL);
	r = evaluate(fresh, "{\"user_id\":\"u\"}");
	expect_status(&r, 200);
	expect_eval(&r, "f", true, "rollout");
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/api/projects/%s", p), t, NULL);
	cr_assert_str_eq(jstr(&r, "sdk_key"), fresh);
	vx_http_res_free(&r);
	free(fresh);
	free(t);
}

Test(gateway, an_sdk_key_evaluates_only_its_own_project)
{
	char *t = user_token("iso@example.com");
	char p1[64], k1[128], p2[64], k2[128], f[64];
	vx_http_res r;

	new_project(t, "One", p1, k1);
	new_project(t, "Two", p2, k2);
	new_flag(t, p1, "{\"name\":\"A\",\"key\":\"only_one\",\"enabled\":true}", f);
	new_flag(t, p2, "{\"name\":\"B\",\"key\":\"only_two\",\"enabled\":true}", f);
	r = evaluate(k1, "{\"user_id\":\"u\"}");
	expect_status(&r, 200);
	cr_assert_not_null(cJSON_GetObjectItem(r.json, "only_one"));
	cr_assert_null(cJSON_GetObjectItem(r.json, "only_two"), "%s", r.body);
	vx_http_res_free(&r);
	r = evaluate(k2, "{\"user_id\":\"u\"}");
	cr_assert_null(cJSON_GetObjectItem(r.json, "only_one"), "%s", r.body);
	vx_http_res_free(&r);
	free(t);
}

Test(gateway, deleting_a_project_deletes_its_flags_rules_and_key)
{
	char *t = user_token("cascade@example.com");
	char p[64], sdk[128], f[64], rl[64];
	vx_http_res r;

	new_project(t, "Doomed", p, sdk);
	new_flag(t, p, "{\"name\":\"F\",\"key\":\"f\",\"enabled\":true}", f);
	new_rule(t, p, f, "{\"rule_type\":\"user_id\",\"rule_value\":\"u\"}", rl);
	r = req("DELETE", vx_fmt("/api/projects/%s", p), t, NULL);
	expect_status(&r, 204);
	vx_http_res_free(&r);
	r = req("GET", vx_fmt("/api/projects/%s/flags", p), t, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s", p, f), t, NULL);
	expect_error(&r, 404, NULL);
	r = req("GET", vx_fmt("/api/projects/%s/flags/%s/rules/%s", p, f, rl), t, NULL);
	expect_error(&r, 404, NULL);
	r = evaluate(sdk, "{\"user_id\":\"u\"}");
	expect_error(&r, 401, NULL);

	/* The core agrees: the flag is gone, not just hidden by the gateway. */
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;
	char ref[32];
	snprintf(ref, sizeof(ref),
	    "%llu", (unsigned long long)strtoull(p + 24, NULL, 16));
	in.project = ref;
	in.id = strtoull(f + 24, NULL, 16);
	cr_assert_eq(vx_get_flag(h.admin, &in, &out, &st), VX_ENOTFOUND);
	/* A project of the same name starts empty. */
	new_project(t, "Doomed", p, sdk);
	r = req("GET", vx_fmt("/api/projects/%s/flags", p), t, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 0);
	vx_http_res_free(&r);
	free(t);
}

/* ---- load and shutdown ---- */

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

Test(gateway, two_hundred_requests_in_flight_at_once_all_succeed)
{
	enum { N = 200 };
	char *t = user_token("load@example.com");
	char p[64], sdk[128], f[64], url[200], hdr[200];
	CURL *e[N];
	CURLM *m = curl_multi_init();
	struct curl_slist *hs = NULL;
	int running = 0, ok = 0;
	CURLMsg *msg;

	new_project(t, "Load", p, sdk);
	for (int i = 0; i < 10; i++)
		new_flag(t, p, vx_fmt("{\"name\":\"F\",\"key\":\"f%d\",\"enabled\":true,"
				   "\"rollout_percentage\":%d}", i, i * 10),
		    f);
	snprintf(url, sizeof(url), "%s/sdk/v1/evaluate", g.base);
	snprintf(hdr, sizeof(hdr), "X-SDK-Key: %s", sdk);
	hs = curl_slist_append(hs, hdr);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	for (int i = 0; i < N; i++) {
		e[i] = curl_easy_init();
		curl_easy_setopt(e[i], CURLOPT_URL, url);
		curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hs);
		curl_easy_setopt(e[i], CURLOPT_COPYPOSTFIELDS,
		    vx_fmt("{\"user_id\":\"u%d\"}", i));
		curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(e[i], CURLOPT_TIMEOUT, 120L);
		curl_multi_add_handle(m, e[i]);
	}
	do {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 1000, NULL);
	} while (running > 0);
	while ((msg = curl_multi_info_read(m, &running)) != NULL) {
		long code = 0;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		ok += msg->data.result == CURLE_OK && code == 200;
	}
	for (int i = 0; i < N; i++) {
		curl_multi_remove_handle(m, e[i]);
		curl_easy_cleanup(e[i]);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(hs);
	cr_assert_eq(ok, N, "%d of %d answered 200", ok, N);
	free(t);
}

/* True once some connection to port has bytes waiting unread. */
static bool
port_has_unread_data(int port)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/net/tcp", "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned lport, st, txq, rxq;
		if (sscanf(line,
		    " %*d: %*x:%x %*x:%*x %x %x:%x", &lport, &st, &txq, &rxq) == 4)
			found = lport == (unsigned)port && st == 1 && rxq > 0;
	}
	fclose(f);
	return found;
}

/*
 * SIGSTOPs pid and waits until every one of its threads has stopped, so
 * nothing it has not read yet is read until SIGCONT.
 */
static void
freeze(pid_t pid)
{
	char dir[64], path[400], stat[512];
	bool all;

	cr_assert_eq(kill(pid, SIGSTOP), 0);
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	for (int i = 0; i < 2000; i++) {
		DIR *d = opendir(dir);
		struct dirent *e;
		cr_assert_not_null(d);
		all = true;
		while (all && (e = readdir(d)) != NULL) {
			FILE *f;
			char *close;
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
			if ((f = fopen(path, "r")) == NULL)
				continue;
			if (fgets(stat, sizeof(stat), f) && (close = strrchr(stat, ')')) != NULL)
				all = close[1] == ' ' && (close[2] == 'T' || close[2] == 't');
			fclose(f);
		}
		closedir(d);
		if (all)
			return;
		usleep(5000);
	}
	cr_assert_fail("pid %d did not stop", (int)pid);
}

/* Waits (at most a minute, as a guard) for a request to reach port. */
static void
wait_for_unread_data(int port)
{
	for (int i = 0; i < 12000; i++) {
		if (port_has_unread_data(port))
			return;
		usleep(5000);
	}
	cr_assert_fail("no request reached port %d", port);
}

struct pending {
	char *token;
	long status;
	char body[256];
};

static void *
slow_list(void *arg)
{
	struct pending *pd = arg;
	vx_http_res r = req("GET", "/api/projects", pd->token, NULL);
	pd->status = r.status;
	snprintf(pd->body, sizeof(pd->body), "%s", r.body);
	vx_http_res_free(&r);
	return NULL;
}

/* slow_list against the gateway whose base URL is in pd->body. */
static void *
slow_list_at(void *arg)
{
	struct pending *pd = arg;
	char url[300], auth[1200];
	const char *hs[] = {auth, NULL};

	snprintf(url, sizeof(url), "%.200s/api/projects", pd->body);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", pd->token);
	vx_http_req rq = {.method = "GET", .url = url, .headers = hs};
	vx_http_res r = vx_http(&rq);
	pd->status = r.status;
	snprintf(pd->body, sizeof(pd->body), "%s", r.body);
	vx_http_res_free(&r);
	return NULL;
}

Test(gateway, sigterm_answers_requests_in_flight_then_exits_zero)
{
	struct pending pd = {.token = user_token("stop@example.com")};
	int rpc_port = atoi(strrchr(h.rpc, ':') + 1), rc;
	pthread_t th;
	vx_http_res r;

	/* Freeze vexild, so a request the gateway forwards stays in flight. */
	freeze(h.pid);
	cr_assert_eq(pthread_create(&th, NULL, slow_list, &pd), 0);
	wait_for_unread_data(rpc_port);
	/* The request is at vexild now. SIGTERM; once new requests get 503
	 * the gateway is draining. */
	kill(g.pid, SIGTERM);
	for (int i = 0;; i++) {
		cr_assert(i < 12000, "the gateway never started draining");
		r = req("GET", "/health", NULL, NULL);
		long st = r.status;
		if (st == 503)
			cr_assert_str_eq(r.json ? r.json->valuestring : "",
			    "The gateway is shutting down");
		vx_http_res_free(&r);
		if (st == 503)
			break;
		cr_assert_eq(st, 200, "health is 200 until the drain starts");
		usleep(5000);
	}
	cr_assert_eq(kill(h.pid, SIGCONT), 0);
	pthread_join(th, NULL);
	cr_assert_eq(pd.status, 200, "the request in flight was answered: %s", pd.body);
	rc = vx_gateway_stop(&g);
	cr_assert_eq(rc, 0, "exit status %d", rc);
	/* Teardown stops nothing more; start one so it has a gateway to stop. */
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	free(pd.token);
}

struct probe {
	const char *url;
	const char *token;    /* sent as a bearer token when set */
	_Atomic long status;  /* read while the probe's thread runs */
};

static void *
probe_health(void *arg)
{
	struct probe *pr = arg;
	char auth[1200];
	const char *hs[] = {auth, NULL};
	vx_http_req rq = {
	    .method = "GET", .url = pr->url, .headers = pr->token ? hs : NULL};

	snprintf(
	    auth, sizeof(auth), "Authorization: Bearer %s", pr->token ? pr->token : "");
	vx_http_res r = vx_http(&rq);

	pr->status = r.status;
	vx_http_res_free(&r);
	return NULL;
}

Test(gateway, a_full_queue_answers_503_at_once)
{
	const char *args[] = {"--workers", "1", "--queue", "1", NULL};
	int rpc_port = atoi(strrchr(h.rpc, ':') + 1);
	struct pending pd = {.token = user_token("full@example.com")};
	struct probe b = {0}, c = {0};
	pthread_t ta, tb, tc;
	vx_gateway small;
	char url[200];

	/* One worker, one queued request: two requests in all. The probes
	 * need a worker (/health would be answered on its connection). */
	vx_gateway_start(&small, &h, NULL, args, NULL);
	snprintf(url, sizeof(url), "%s/api/me", small.base);
	b.url = c.url = url;
	b.token = c.token = pd.token;
	/* The first request holds the worker, waiting on a frozen vexild. */
	freeze(h.pid);
	snprintf(pd.body, sizeof(pd.body), "%s", small.base);
	cr_assert_eq(pthread_create(&ta, NULL, slow_list_at, &pd), 0);
	wait_for_unread_data(rpc_port);
	/* Two more: one takes the last place, the other is refused at once. */
	cr_assert_eq(pthread_create(&tb, NULL, probe_health, &b), 0);
	cr_assert_eq(pthread_create(&tc, NULL, probe_health, &c), 0);
	for (int i = 0; b.status == 0 && c.status == 0; i++) {
		cr_assert(i < 12000, "neither request was answered");
		usleep(5000);
	}
	cr_assert(b.status == 503 || c.status == 503, "one is refused at once");
	cr_assert_eq(kill(h.pid, SIGCONT), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	cr_assert_eq(pd.status, 200);
	long sb = b.status, sc = c.status;
	cr_assert((sb == 200 && sc == 503) || (sb == 503 && sc == 200), "%ld %ld", sb, sc);
	cr_assert_eq(vx_gateway_stop(&small), 0);
	unlink(small.log);
	free(pd.token);
}

Test(gateway, health_is_answered_while_every_worker_waits_on_vexild)
{
	const char *args[] = {"--workers", "1", "--queue", "4", NULL};
	int rpc_port = atoi(strrchr(h.rpc, ':') + 1);
	struct pending pd = {.token = user_token("busy@example.com")};
	struct probe b = {0};
	pthread_t ta, tb;
	vx_gateway small;
	char url[200], me[200];
	vx_http_res r;

	vx_gateway_start(&small, &h, NULL, args, NULL);
	/* The only worker waits on a frozen vexild. */
	freeze(h.pid);
	snprintf(pd.body, sizeof(pd.body), "%s", small.base);
	cr_assert_eq(pthread_create(&ta, NULL, slow_list_at, &pd), 0);
	wait_for_unread_data(rpc_port);
	/* A request for the core queues behind it... */
	snprintf(me, sizeof(me), "%s/api/me", small.base);
	b.url = me;
	b.token = pd.token;
	cr_assert_eq(pthread_create(&tb, NULL, probe_health, &b), 0);
	/* ...while health, which needs no core call, is answered at once,
	 * and HEAD too, with GET's head and no body. */
	snprintf(url, sizeof(url), "%s/health", small.base);
	r = vx_http(&(vx_http_req){.method = "GET", .url = url});
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.json ? r.json->valuestring : "", "OK");
	vx_http_res_free(&r);
	r = vx_http(&(vx_http_req){.method = "HEAD", .url = url});
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 0);
	vx_http_res_free(&r);
	cr_assert_eq(
	    b.status, 0, "the core's request waits for the worker: %ld", (long)b.status);
	cr_assert_eq(kill(h.pid, SIGCONT), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	cr_assert_eq(pd.status, 200);
	cr_assert_eq(b.status, 200);
	cr_assert_eq(vx_gateway_stop(&small), 0);
	unlink(small.log);
	free(pd.token);
}

/* ---- TLS ---- */

Test(gateway, https_with_a_certificate_and_key)
{
	char cert[300], key[300], cmd[1200], url[200];
	vx_gateway tls;
	vx_http_res r;

	snprintf(cert, sizeof(cert), "%s.cert.pem", h.dir);
	snprintf(key, sizeof(key), "%s.key.pem", h.dir);
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout '%s' -out '%s' -days 1 -subj /CN=127.0.0.1 "
	    "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
	    key, cert);
	if (system(cmd) != 0)
		cr_skip_test("openssl could not make a test certificate");
	const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	vx_gateway_start(&tls, &h, "https", args, cert);
	snprintf(url, sizeof(url), "%s/auth/register", tls.base);
	vx_http_req rq = {.method = "POST",
		.url = url,
		.body = "{\"email\":\"tls@example.com\",\"password\":\"secret-pw\"}",
		.cainfo = cert};
	r = vx_http(&rq);
	expect_status(&r, 201);
	cr_assert_str_eq(jstr(&r, "email"), "tls@example.com");
	vx_http_res_free(&r);
	/* Plain HTTP to the TLS port gets nowhere. */
	snprintf(url, sizeof(url), "http://%.120s/health", tls.base + strlen("https://"));
	vx_http_req plain = {.method = "GET", .url = url};
	r = vx_http(&plain);
	cr_assert_neq(r.status, 200);
	vx_http_res_free(&r);
	cr_assert_eq(vx_gateway_stop(&tls), 0);
	unlink(tls.log);
	unlink(cert);
	unlink(key);
}

/* ---- the HTTP edges ---- */

/* Reads from fd until the buffer holds "\r\n\r\n" (or the peer stops). */
static void
read_head(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t got;

	buf[0] = '\0';
	while (n + 1 < cap && strstr(buf, "\r\n\r\n") == NULL &&
	    (got = read(fd, buf + n, cap - 1 - n)) > 0) {
		n += (size_t)got;
		buf[n] = '\0';
	}
}

Test(gateway, expect_100_continue_is_answered_before_the_body_is_read)
{
	const char *body = "{\"email\":\"x@example.com\",\"password\":\"secret-pw\"}";
	int port = atoi(strrchr(g.base, ':') + 1), fd;
	struct sockaddr_in a = {0};
	char head[600], buf[4096];

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(head, sizeof(head),
	    "POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nExpect: 100-continue\r\n\r\n",
	    strlen(body));
	cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	read_head(fd, buf, sizeof(buf));
	cr_assert(strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0, "%s", buf);
	cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	read_head(fd, buf, sizeof(buf));
	cr_assert(strncmp(buf, "HTTP/1.1 201", 12) == 0, "%s", buf);
	cr_assert(strstr(buf, "X-Request-Id: "), "%s", buf);
	close(fd);
}

Test(gateway, without_vexild_calls_fail_with_5xx_and_health_stays_up)
{
	vx_gateway lone;
	vx_harness nowhere = h;
	char url[200];

	/*
	 * A gateway whose vexild is not there. With no connection up a core
	 * call fails at once with 503, not after the (here a minute long)
	 * --rpc-timeout with 504.
	 */
	snprintf(nowhere.rpc, sizeof(nowhere.rpc), "tcp://127.0.0.1:%d", vx_free_port());
	/* Its own log, beside the suite gateway's (named after the dir). */
	cr_assert_lt((size_t)snprintf(nowhere.dir, sizeof(nowhere.dir), "%s-lone", h.dir),
	    sizeof(nowhere.dir));
	const char *args[] = {"--rpc-timeout", "60000", NULL};
	vx_gateway_start(&lone, &nowhere, NULL, args, NULL);
	snprintf(url, sizeof(url), "%s/auth/login", lone.base);
	vx_http_req rq = {.method = "POST",
		.url = url,
		.body = "{\"email\":\"a@example.com\",\"password\":\"secret-pw\"}"};
	vx_http_res r = vx_http(&rq);
	cr_assert_eq(r.status, 503, "status %ld: %s", r.status, r.body ? r.body : "");
	expect_error(&r, r.status, NULL);
	snprintf(url, sizeof(url), "%s/health", lone.base);
	vx_http_req hr = {.method = "GET", .url = url};
	r = vx_http(&hr);
	expect_status(&r, 200);
	vx_http_res_free(&r);
	int rc = vx_gateway_stop(&lone);
	cr_assert_eq(
	    rc, 0, "SIGTERM makes the gateway exit 0, not %d (see %s)", rc, lone.log);
	unlink(lone.log);
}

/* ---- one request, one write ---- */

/* The revision of the project with this UUID, read as its owner. */
static uint64_t
rev_of(vx_client *c, const char *project_uuid)
{
	uint64_t id;

	cr_assert_eq(vx_gw_uuid_parse(project_uuid, VX_GW_KIND_PROJECT, &id), 0);
	return vx_project_revision(c, vx_fmt("%llu", (unsigned long long)id));
}

struct counter {
	vx_client *c;
	const char *token, *project;
};

static vx_http_res
counted(const struct counter *k, const char *method, const char *path, const char *body,
    long status, uint64_t writes)
{
	uint64_t before = rev_of(k->c, k->project), after;
	vx_http_res r = req(method, path, k->token, body);

	expect_status(&r, status);
	after = rev_of(k->c, k->project);
	cr_assert_eq(after - before, writes, "%s %s made %llu writes, not %llu", method,
	    path, (unsigned long long)(after - before), (unsigned long long)writes);
	return r;
}

static void
counted_free(const struct counter *k, const char *method, const char *path,
    const char *body, long status, uint64_t writes)
{
	vx_http_res r = counted(k, method, path, body, status, writes);
	vx_http_res_free(&r);
}

Test(gateway, every_write_request_makes_one_revision_and_a_read_none)
{
	char *token = user_token("count@example.com");
	char pid[64], fid[64], rid[64];
	struct counter k = {
	    vx_harness_client(&h, vx_fmt("Bearer %s", token)), token, pid};
	const char *flags, *flag, *rules, *rule;
	vx_http_res r;

	new_project(token, "counted", pid, NULL);
	flags = strdup(vx_fmt("/api/projects/%s/flags", pid));
	r = counted(&k, "POST", flags, "{\"key\":\"f\",\"enabled\":true}", 201, 1);
	snprintf(fid, sizeof(fid), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	flag = strdup(vx_fmt("%s/%s", flags, fid));
	rules = strdup(vx_fmt("%s/rules", flag));
	counted_free(&k, "GET", flags, NULL, 200, 0);
	counted_free(&k, "GET", flag, NULL, 200, 0);
	counted_free(&k, "GET", vx_fmt("/api/projects/%s", pid), NULL, 200, 0);
	counted_free(&k, "PUT", flag,
	    "{\"name\":\"F\",\"enabled\":false,\"rollout_percentage\":50}", 200, 1);
	counted_free(&k, "POST", vx_fmt("%s/toggle", flag), NULL, 200, 1);
	r = counted(&k, "POST", rules,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"u1\"}", 201, 1);
	snprintf(rid, sizeof(rid), "%s", jstr(&r, "id"));
	vx_http_res_free(&r);
	rule = strdup(vx_fmt("%s/%s", rules, rid));
	counted_free(&k, "GET", rules, NULL, 200, 0);
	counted_free(&k, "GET", rule, NULL, 200, 0);
	/* A value alone keeps the type: read, then written with if_revision. */
	counted_free(&k, "PUT", rule, "{\"rule_value\":\"u2\"}", 200, 1);
	counted_free(&k, "PUT", rule, "{\"enabled\":false,\"priority\":3}", 200, 1);
	counted_free(&k, "DELETE", rule, NULL, 204, 1);
	counted_free(&k, "DELETE", rule, NULL, 404, 0);
	counted_free(&k, "POST", flags, "{\"key\":\"f\"}", 409, 0);
	counted_free(&k, "POST", flags, "{\"key\":\"9f\"}", 400, 0);
	counted_free(&k, "PUT", vx_fmt("/api/projects/%s", pid),
	    "{\"description\":\"d\"}", 200, 1);
	r = counted(
	    &k, "POST", vx_fmt("/api/projects/%s/regenerate-key", pid), NULL, 200, 1);
	cr_assert(strncmp(jstr(&r, "sdk_key"), "sdk_", 4) == 0, "%s", r.body);
	cr_assert_eq(strlen(jstr(&r, "sdk_key")), 36, "%s", r.body);
	vx_http_res_free(&r);
	counted_free(&k, "DELETE", flag, NULL, 204, 1);
	vx_client_close(k.c);
	free((void *)flags);
	free((void *)flag);
	free((void *)rules);
	free((void *)rule);
	free(token);
}

/* Toggles flip the state inside the core's write: eight at once flip it
 * eight times, back to where it was. */
Test(gateway, concurrent_toggles_each_flip_the_flag_once)
{
	enum { N = 8 };
	char *token = user_token("race@example.com");
	char pid[64], fid[64], auth[1200], url[400];
	const char *hs[] = {auth, NULL};
	vx_http_req rq[N];
	vx_http_res res[N], r;

	new_project(token, "raced", pid, NULL);
	new_flag(token, pid, "{\"key\":\"t\",\"enabled\":true}", fid);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(
	    url, sizeof(url), "%s/api/projects/%s/flags/%s/toggle", g.base, pid, fid);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++)
			rq[i] =
			    (vx_http_req){.method = "POST", .url = url, .headers = hs};
		vx_http_race(rq, N - round % 2, res);
		for (int i = 0; i < N - round % 2; i++) {
			expect_status(&res[i], 200);
			vx_http_res_free(&res[i]);
		}
		r = req(
		    "GET", vx_fmt("/api/projects/%s/flags/%s", pid, fid), token, NULL);
		expect_status(&r, 200);
		/* Rounds flip 8, 7, 8 times: on, off, off. */
		cr_assert_eq(
		    jbool(&r, "enabled"), round == 0, "round %d: %s", round, r.body);
		vx_http_res_free(&r);
	}
	free(token);
}

/* The document's list has no paging: every flag, past the core's pages of
 * a thousand. */
Test(gateway_bulk, the_flag_list_has_every_flag_of_the_project)
{
	char *token = user_token("many@example.com");
	vx_client *c = vx_harness_client(&h, vx_fmt("Bearer %s", token));
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	char pid[64], key[32];
	uint64_t id;
	vx_status st;
	vx_http_res r;

	new_project(token, "many", pid, NULL);
	cr_assert_eq(vx_gw_uuid_parse(pid, VX_GW_KIND_PROJECT, &id), 0);
	in.project = (char *)vx_fmt("%llu", (unsigned long long)id);
	in.flag = &f;
	for (int i = 0; i < 1005; i++) {
		snprintf(key, sizeof(key), "f%04d", i);
		f.key = key;
		cr_assert(vx_create_flag(c, &in, &out, &st) == 0, "%s", st.message);
		vx_free(out);
	}
	r = req("GET", vx_fmt("/api/projects/%s/flags", pid), token, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 1005);
	cr_assert_str_eq(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.json, 1004), "key")
	        ->valuestring,
	    "f1004");
	vx_http_res_free(&r);
	vx_client_close(c);
	free(token);
}

/* ---- one credential and id story ---- */

/* The document's SDK key form, sent as it says: X-SDK-Key: sdk_... */
Test(gateway, sdk_keys_are_sdk_and_32_alphanumerics_sent_as_x_sdk_key)
{
	char *token = user_token("sdk@example.com");
	char pid[64], sdk[128], fid[64];
	vx_http_res r;

	new_project(token, "keyed", pid, sdk);
	cr_assert_eq(strlen(sdk), 36, "%s", sdk);
	cr_assert(strncmp(sdk, "sdk_", 4) == 0, "%s", sdk);
	for (size_t i = 4; i < 36; i++)
		cr_assert(isalnum((unsigned char)sdk[i]), "%s", sdk);
	new_flag(token, pid,
	    "{\"key\":\"k\",\"enabled\":true,\"rollout_percentage\":100}", fid);
	r = evaluate(sdk, "{\"user_id\":\"u1\"}");
	expect_status(&r, 200);
	expect_eval(&r, "k", true, "rollout");
	vx_http_res_free(&r);
	free(token);
}

/* Ids as the platform API ("proj-7", "flag-9") and the table API (9)
 * print them name the same objects. */
Test(gateway, ids_in_the_other_dialects_forms_name_the_same_objects)
{
	char *token = user_token("forms@example.com");
	char pid[64], fid[64], rid[64];
	uint64_t p, f, rl;
	vx_http_res r;

	new_project(token, "forms", pid, NULL);
	new_flag(token, pid, "{\"key\":\"k\"}", fid);
	new_rule(
	    token, pid, fid, "{\"rule_type\":\"user_id\",\"rule_value\":\"u\"}", rid);
	cr_assert_eq(vx_gw_uuid_parse(pid, VX_GW_KIND_PROJECT, &p), 0);
	cr_assert_eq(vx_gw_uuid_parse(fid, VX_GW_KIND_FLAG, &f), 0);
	cr_assert_eq(vx_gw_uuid_parse(rid, VX_GW_KIND_RULE, &rl), 0);
	r = req(
	    "GET", vx_fmt("/api/projects/proj-%llu", (unsigned long long)p), token, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), pid);
	vx_http_res_free(&r);
	r = req("GET",
	    vx_fmt("/api/projects/%llu/flags/flag-%llu", (unsigned long long)p,
	        (unsigned long long)f),
	    token, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), fid);
	vx_http_res_free(&r);
	r = req("GET",
	    vx_fmt("/api/projects/%s/flags/%llu/rules/rule-%llu", pid,
	        (unsigned long long)f, (unsigned long long)rl),
	    token, NULL);
	expect_status(&r, 200);
	cr_assert_str_eq(jstr(&r, "id"), rid);
	vx_http_res_free(&r);
	/* Still 404: the wrong kind's prefix, a leading zero. */
	r = req(
	    "GET", vx_fmt("/api/projects/flag-%llu", (unsigned long long)p), token, NULL);
	expect_error(&r, 404, "Project not found");
	r = req("GET", vx_fmt("/api/projects/0%llu", (unsigned long long)p), token, NULL);
	expect_error(&r, 404, "Project not found");
	free(token);
}

/* ---- text the core refuses ---- */

Test(gateway, text_that_is_not_utf8_or_holds_nul_is_a_400_naming_the_field)
{
	char *token = user_token("text@example.com");
	char pid[64], fid[64];
	vx_http_res r;

	new_project(token, "texts", pid, NULL);
	r = req("POST", vx_fmt("/api/projects/%s/flags", pid), token,
	    "{\"key\":\"nul\\u0000tail\"}");
	expect_error(&r, 400, "key must not contain a NUL character (\\u0000)");
	r = req("POST", vx_fmt("/api/projects/%s/flags", pid), token,
	    "{\"key\":\"k\",\"name\":\"bad\xff\"}");
	expect_error(&r, 400, "name must be valid UTF-8 text");
	r = req(
	    "POST", "/api/projects", token, "{\"name\":\"p\",\"description\":\"\xc3\"}");
	expect_error(&r, 400, "description must be valid UTF-8 text");
	new_flag(token, pid, "{\"key\":\"k\"}", fid);
	r = req("POST", vx_fmt("/api/projects/%s/flags/%s/rules", pid, fid), token,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"\xff\"}");
	expect_error(&r, 400, "rule_value must be valid UTF-8 text");
	r = req("GET", vx_fmt("/api/projects/%s/flags", pid), token, NULL);
	expect_status(&r, 200);
	cr_assert_eq(cJSON_GetArraySize(r.json), 1, "%s", r.body);
	vx_http_res_free(&r);
	free(token);
}
