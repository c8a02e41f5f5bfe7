/*
 * Vexil fuzz target — request targets: paths and query strings.
 *
 * The input's first line is "METHOD TARGET" (the request line without the
 * version); any further lines are query parameter names to look up, on
 * top of the ones the dialects use. The target is split and routed by
 * the real router over every dialect's real route table and error writer,
 * but each route's handler is replaced by one that answers 200 with what
 * it was given, so no call leaves the process and the run is fast. The
 * whole-request target, with real handlers and a real vexild, is
 * fuzz_gateway.
 *
 * Invariants: exactly one answer; a matched route sees every parameter
 * its pattern names, decoded, with no NUL inside; the owning dialect of a
 * path is stable; query lookups and percent-decoding never read past
 * their input and agree with each other; error bodies are valid JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "fuzz.h"
#include "gateway/dialects.h"
#include "gateway/router.h"

static vx_gw_router *router;
static vx_arena arena;
static int handled;

static void
stub(vx_gw_req *r)
{
	handled++;
	VX_FUZZ_ASSERT(r->dialect != NULL, "no dialect");
	for (size_t i = 0; i < r->n_params; i++) {
		VX_FUZZ_ASSERT(r->param_names[i] != NULL && r->params[i] != NULL,
		    "parameter %zu is missing", i);
		VX_FUZZ_ASSERT(vx_gw_param(r, r->param_names[i]) != NULL, "parameter %s lost",
		    r->param_names[i]);
	}
	vx_gw_reply_empty(r, 200);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static vx_gw_dialect copies[16];
	static const vx_gw_dialect *list[16];
	size_t n = vx_gw_n_dialects < 16 ? vx_gw_n_dialects : 16;

	(void)argc;
	(void)argv;
	vx_log_set_level(VX_LOG_ERROR);
	/* The real dialects with every handler swapped for the stub. */
	for (size_t i = 0; i < n; i++) {
		vx_gw_route *routes = calloc(vx_gw_dialects[i]->n_routes + 1, sizeof(*routes));
		if (routes == NULL)
			abort();
		copies[i] = *vx_gw_dialects[i];
		for (size_t j = 0; j < copies[i].n_routes; j++) {
			routes[j] = copies[i].routes[j];
			routes[j].fn = stub;
		}
		copies[i].routes = routes;
		list[i] = &copies[i];
	}
	if (vx_gw_router_alloc(&router, list, n, list[0]) != 0)
		abort();
	vx_arena_init(&arena, 32 << 20);
	return 0;
}

static void
lookup(vx_gw_req *r, const char *name)
{
	const char *v = NULL;
	int rc = vx_gw_query(r, name, &v);

	VX_FUZZ_ASSERT(rc >= -1 && rc <= 1, "vx_gw_query returned %d", rc);
	if (rc == 1)
		VX_FUZZ_ASSERT(v != NULL && strlen(v) <= strlen(r->query), "query %s", name);
	if (rc == -1)
		VX_FUZZ_ASSERT(r->err_msg[0] != '\0', "a malformed query without a message");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"limit", "offset", "skip", "period", "tag",
		"environment", "flag", "days", "page", "q", ""};
	char *text, *line, *save = NULL, *method, *target, *dec;
	const char *path, *query;
	const vx_gw_dialect *owner;
	char rid[VX_GW_REQUEST_ID_MAX + 1];
	vx_gw_req r;
	long n;

	if (size > 16 * 1024)
		return 0;
	vx_arena_reset(&arena);
	if ((text = vx_arena_alloc(&arena, size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	line = strtok_r(text, "\n", &save);
	if (line == NULL || (target = strchr(line, ' ')) == NULL)
		return 0;
	*target++ = '\0';
	method = line;

	/* Percent-decoding on its own: never longer than its input. */
	n = (long)strlen(target);
	if ((dec = vx_arena_alloc(&arena, (size_t)n + 1)) == NULL)
		return 0;
	for (int plus = 0; plus < 2; plus++) {
		long got = vx_gw_pct_decode(dec, target, (size_t)n, plus);
		VX_FUZZ_ASSERT(got >= -1 && got <= n, "decoded %ld of %ld bytes", got, n);
		if (got >= 0)
			VX_FUZZ_ASSERT(strlen(dec) == (size_t)got, "a NUL inside the decoded text");
	}
	vx_gw_request_id(target, rid);
	VX_FUZZ_ASSERT(strlen(rid) >= 1 && strlen(rid) <= VX_GW_REQUEST_ID_MAX, "request id");
	(void)vx_gw_token_ok(target);

	vx_gw_split_target(target, &path, &query);
	owner = vx_gw_router_owner(router, path);
	VX_FUZZ_ASSERT(owner != NULL, "no owner for %s", path);
	VX_FUZZ_ASSERT(owner == vx_gw_router_owner(router, path), "the owner changed");
	vx_gw_req_init(&r, method, path, query, NULL, rid);
	r.arena = &arena;
	handled = 0;
	vx_gw_router_dispatch(router, &r);
	VX_FUZZ_ASSERT(r.status >= 200 && r.status <= 599, "status %d for %s %s", r.status,
	    method, path);
	VX_FUZZ_ASSERT(handled <= 1, "%d handlers ran", handled);
	if (handled == 0 && r.res_len > 0 && r.content_type != NULL &&
	    strstr(r.content_type, "json") != NULL) {
		cJSON *j = cJSON_ParseWithLength(r.res_body, r.res_len);
		VX_FUZZ_ASSERT(j != NULL, "the %d error body is not JSON: %.*s", r.status,
		    (int)r.res_len, r.res_body);
		cJSON_Delete(j);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		lookup(&r, names[i]);
	while ((line = strtok_r(NULL, "\n", &save)) != NULL)
		lookup(&r, line);
	vx_gw_req_fini(&r);
	return 0;
}
