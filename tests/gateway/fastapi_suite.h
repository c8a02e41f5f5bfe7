/*
 * Vexil gateway tests — what the FastAPI-shaped suites (feature-flag table,
 * toggles) share: a fresh vexild and gateway per test, requests with the
 * admin key, and FastAPI's error shapes. Included by one test file each.
 */
#ifndef VX_TEST_FASTAPI_SUITE_H
#define VX_TEST_FASTAPI_SUITE_H

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

/* vexild with a rate limit of its own per API key (every request with
 * one is admitted through it); rate NULL: one no test reaches. */
static void
start(const char *rate)
{
	/* Static: the harness keeps the pointer for vx_harness_restart(). */
	static const char *extra[] = {"--rate-limit", NULL, NULL};

	extra[1] = rate ? rate : "100000";

	vx_harness_start(&h, extra);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
}

static void
setup(void)
{
	start(NULL);
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

/* One request; auth is the whole Authorization value (NULL: none). */
static vx_http_res
req_a(const char *method, const char *path, const char *auth, const char *body)
{
	char url[1024], hdr[4200];
	const char *hs[2] = {NULL, NULL};
	vx_http_req rq = {.method = method, .url = url, .headers = hs, .body = body};

	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		hs[0] = hdr;
	}
	snprintf(url, sizeof(url), "%s%s", g.base, path);
	return vx_http(&rq);
}

/* Signs up a user and logs in: "Bearer <jwt>", from vx_fmt()'s buffers. */
static const char *
user_auth(const char *email)
{
	const char *body = vx_fmt("{\"email\":\"%s\",\"password\":\"secret-pw\"}", email);
	vx_http_res r;
	const char *auth;
	cJSON *t;

	r = req_a("POST", "/auth/register", NULL, body);
	cr_assert_eq(r.status, 201, "sign-up: %s", r.body);
	vx_http_res_free(&r);
	r = req_a("POST", "/auth/login", NULL, body);
	cr_assert_eq(r.status, 200, "login: %s", r.body);
	t = cJSON_GetObjectItemCaseSensitive(r.json, "token");
	cr_assert(cJSON_IsString(t), "login answers a token: %s", r.body);
	auth = vx_fmt("Bearer %s", t->valuestring);
	vx_http_res_free(&r);
	return auth;
}

/* With the bootstrap admin key. */
static vx_http_res
req(const char *method, const char *path, const char *body)
{
	return req_a(method, path, vx_fmt("ApiKey %s", h.key), body);
}

static const cJSON *
jget(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	cr_assert(v != NULL, "no %s", name);
	return v;
}

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON *v = jget(o, name);
	cr_assert(cJSON_IsString(v), "%s is not a string", name);
	return v->valuestring;
}

static bool
jbool(const cJSON *o, const char *name)
{
	const cJSON *v = jget(o, name);
	cr_assert(cJSON_IsBool(v), "%s is not a boolean", name);
	return cJSON_IsTrue(v);
}

static void
expect_status(const vx_http_res *r, long status)
{
	cr_assert_eq(r->status, status, "status %ld, wanted %ld: %s", r->status, status,
	    r->body);
	cr_assert(r->request_id[0], "every response has X-Request-Id");
}

/* FastAPI's {"detail": "..."}. */
static void
expect_detail(vx_http_res *r, long status, const char *detail)
{
	expect_status(r, status);
	cr_assert_str_eq(r->content_type, "application/json");
	cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r->json, "detail")),
	    "detail is a string: %s", r->body);
	if (detail)
		cr_assert_str_eq(jstr(r->json, "detail"), detail);
	vx_http_res_free(r);
}

/*
 * FastAPI's 422: detail is a list and holds an entry with loc
 * [where, field] (field NULL: [where]) of the given type.
 */
static void
expect_422(vx_http_res *r, const char *where, const char *field, const char *type)
{
	const cJSON *d, *e;
	bool found = false;

	expect_status(r, 422);
	d = jget(r->json, "detail");
	cr_assert(cJSON_IsArray(d), "detail is a list: %s", r->body);
	cJSON_ArrayForEach(e, d)
	{
		const cJSON *loc = jget(e, "loc");
		int n = cJSON_GetArraySize(loc);
		cr_assert(cJSON_IsString(jget(e, "msg")));
		if (n != (field ? 2 : 1) ||
		    strcmp(cJSON_GetArrayItem(loc, 0)->valuestring, where) != 0 ||
		    (field && strcmp(cJSON_GetArrayItem(loc, 1)->valuestring, field) != 0))
			continue;
		cr_assert_str_eq(jstr(e, "type"), type, "%s", r->body);
		found = true;
	}
	cr_assert(found, "no error at %s.%s in %s", where, field ? field : "", r->body);
	vx_http_res_free(r);
}

/* ---- one request, one write ---- */

/* The revision of the `default` project, where both documents' records
 * live, read through libvexil. */
static uint64_t
rev(void)
{
	return vx_project_revision(h.admin, "default");
}

/* A request with the admin key that must answer status and move the
 * revision by exactly writes (0 for a read or a refusal). */
static vx_http_res
counted(
    const char *method, const char *path, const char *body, long status, uint64_t writes)
{
	uint64_t before = rev();
	vx_http_res r = req(method, path, body);

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

#endif
