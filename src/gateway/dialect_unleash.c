/*
 * Vexil gateway — Unleash's client API, so unmodified Unleash server-side
 * SDKs evaluate Vexil flags locally: GET /api/client/features.
 *
 * The SDK sends its key as "Authorization: <key>" (an SDK key bound to an
 * environment, as Unleash's are; "Bearer <key>" and X-API-Key work too).
 * The answer is the environment in the client API's shape (version 2:
 * features with their strategies, constraints, parameters, segments and
 * variants, dependencies, and the segments), written by
 * src/migrate/unleash.c from the edge's live snapshot, so every user gets
 * from the SDK the bucket and variant Vexil gives them. `namePrefix` keeps
 * the flags whose key starts with it; `project` names the Vexil project
 * (the key's own by default); `environment` names the environment for an
 * API key (an SDK key's own is used otherwise). The ETag covers the answer;
 * a matching If-None-Match gets 304.
 *
 * A flag Unleash cannot express exactly (docs/migrate.md) is left out,
 * never approximated, and named in X-Vexil-Omitted: the SDK then treats it
 * as unknown (isEnabled false, the fallback variant).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/json.h"
#include "gateway/rpc.h"
#include "migrate/migrate.h"

bool
vx_gw_unleash_admit(vx_gw_req *r)
{
	const char *raw = vx_gw_header(r, "Authorization"), *bound;

	if (raw != NULL && strchr(raw, ' ') == NULL && vx_gw_token_ok(raw)) {
		r->credential = vx_arena_join(
		    r->arena, vx_is_sdk_key(raw) ? "SdkKey" : "ApiKey", raw);
		if (r->credential == NULL) {
			vx_gw_sync_error(r, 500, NULL, "out of memory");
			return false;
		}
		if (vx_is_sdk_key(raw))
			return true;
	}
	return vx_gw_ofrep_admit(r, &bound);
}

void
vx_gw_reply_tagged(vx_gw_req *r, const char *text)
{
	char etag[24];

	snprintf(
	    etag, sizeof(etag), "\"%016llx\"", (unsigned long long)vx_gw_fnv1a(text));
	(void)vx_gw_set_header(r, "ETag", "%s", etag);
	if (vx_gw_etag_matches(vx_gw_header(r, "If-None-Match"), etag))
		vx_gw_reply_empty(r, 304);
	else
		vx_gw_reply(r, 200, "application/json", text, strlen(text));
}

static void
client_features(vx_gw_req *r)
{
	Vexil__V1__GetSnapshotRequest in = VEXIL__V1__GET_SNAPSHOT_REQUEST__INIT;
	Vexil__V1__ExportReply view = VEXIL__V1__EXPORT_REPLY__INIT;
	Vexil__V1__Snapshot *out;
	vx_mig_report rep = {NULL, 0};
	const char *project = NULL, *env = NULL, *prefix = NULL;
	char *text;
	vx_status st;

	if (vx_gw_query(r, "project", &project) < 0 ||
	    vx_gw_query(r, "environment", &env) < 0 ||
	    vx_gw_query(r, "namePrefix", &prefix) < 0) {
		vx_gw_fail_input(r);
		return;
	}
	if (!vx_gw_unleash_admit(r))
		return;
	in.project = (char *)(project ? project : "");
	in.environment = (char *)(env ? env : "");
	if (vx_gw_snapshot_whole(r, &in, &out, &st) != 0) {
		vx_gw_fail_status(r, &st);
		return;
	}
	view.flags = out->flags;
	view.n_flags = out->n_flags;
	view.segments = out->segments;
	view.n_segments = out->n_segments;
	text =
	    vx_mig_unleash_client(&view, out->environment, project ? project : "default",
	        prefix && *prefix ? prefix : NULL, out->revision, &rep);
	if (text == NULL) {
		vx_mig_report_fini(&rep);
		vx_gw_sync_error(r, 500, NULL, "out of memory");
		return;
	}
	vx_gw_name_omitted(r, &rep);
	vx_mig_report_fini(&rep);
	vx_gw_reply_tagged(r, text);
	free(text);
}

static const vx_gw_route routes[] = {
    {"GET", "/api/client/features", client_features},
};

static const char *const prefixes[] = {"/api/client", NULL};

const vx_gw_dialect vx_gw_unleash_dialect = {
    .name = "unleash",
    .prefixes = prefixes,
    .error = vx_gw_sync_error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
};
