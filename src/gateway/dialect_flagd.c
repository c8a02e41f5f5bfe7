/*
 * Vexil gateway — a flagd sync source: GET /flagd/v1/{project}/{env}.json.
 *
 * A running flagd (`--uri http://gateway/flagd/v1/shop/production.json`,
 * with the key as its bearer token) or an OpenFeature in-process provider
 * can follow Vexil as its source of truth: the answer is the project
 * environment in flagd's definition format, written by src/migrate/flagd.c
 * from the edge's live snapshot (the same one OFREP evaluates), with an
 * ETag of the project revision and 304 for a matching If-None-Match.
 *
 * A flag flagd cannot express exactly (docs/migrate.md) is left out, so no
 * flagd computes a different answer than Vexil would: flagd answers
 * FLAG_NOT_FOUND for it, the caller's default stands, and the response's
 * X-Vexil-Omitted header names it. Credentials are OFREP's: an SDK key or
 * an API key in "Authorization: Bearer" or "X-API-Key"; an API key is
 * admitted (and rate-limited) by vexild first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/json.h"
#include "gateway/rpc.h"
#include "gateway/status.h"
#include "migrate/migrate.h"

void
vx_gw_sync_error(vx_gw_req *r, int status, const char *field, const char *message)
{
	cJSON *o;

	(void)field;
	if (status == 401 || status == 403) {
		vx_gw_reply_empty(r, status);
		return;
	}
	o = cJSON_CreateObject();
	vx_gw_reply_json(r, status,
	    vx_gw_json_done(
	        o, o && cJSON_AddStringToObject(o, "error", message) != NULL));
}

void
vx_gw_name_omitted(vx_gw_req *r, const vx_mig_report *rep)
{
	char list[VX_GW_HEADER_VALUE_MAX];
	size_t n = 0;

	list[0] = '\0';
	for (size_t i = 0; i < rep->n; i++) {
		const char *line = rep->lines[i], *key, *end;
		if (strncmp(line, "flag ", 5) != 0)
			continue;
		key = line + 5;
		end = strchr(key, ':');
		if (end == NULL || n + (size_t)(end - key) + 2 >= sizeof(list))
			break;
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%.*s", n ? "," : "",
		    (int)(end - key), key);
	}
	if (n > 0)
		(void)vx_gw_set_header(r, "X-Vexil-Omitted", "%s", list);
}

/* Whether a rule of the snapshot's flags names a segment. */
static bool
names_segments(const Vexil__V1__Snapshot *s)
{
	for (size_t i = 0; i < s->n_flags; i++)
		for (size_t j = 0; j < s->flags[i]->n_envs; j++)
			for (size_t k = 0; k < s->flags[i]->envs[j]->n_rules; k++)
				if (s->flags[i]->envs[j]->rules[k]->n_segments > 0)
					return true;
	return false;
}

int
vx_gw_snapshot_whole(vx_gw_req *r, const Vexil__V1__GetSnapshotRequest *in,
    Vexil__V1__Snapshot **out, vx_status *st)
{
	int rc = vx_gw_edge_snapshot(r->rpc->edge, r, in, out, st);

	/* The edge's snapshot carries the flags only: when a rule names a
	 * segment, the core's has the segments too. */
	if (rc == 0 && (*out)->n_segments == 0 && names_segments(*out))
		rc = vx_get_snapshot_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
	return rc;
}

static void
sync_file(vx_gw_req *r)
{
	const char *file = vx_gw_param(r, "file");
	Vexil__V1__GetSnapshotRequest in = VEXIL__V1__GET_SNAPSHOT_REQUEST__INIT;
	Vexil__V1__ExportReply view = VEXIL__V1__EXPORT_REPLY__INIT;
	Vexil__V1__Snapshot *out;
	vx_mig_report rep = {NULL, 0};
	size_t n = file ? strlen(file) : 0;
	char *env, *text, etag[48];
	const char *bound;
	vx_status st;

	if (n <= 5 || strcmp(file + n - 5, ".json") != 0) {
		vx_gw_sync_error(r, 404, NULL,
		    "the sync file is /flagd/v1/{project}/{environment}.json");
		return;
	}
	if (!vx_gw_ofrep_admit(r, &bound))
		return;
	if ((env = vx_arena_alloc(r->arena, n - 4)) == NULL) {
		vx_gw_sync_error(r, 500, NULL, "out of memory");
		return;
	}
	memcpy(env, file, n - 5);
	env[n - 5] = '\0';
	in.project = (char *)vx_gw_param(r, "project");
	in.environment = env;
	if (vx_gw_snapshot_whole(r, &in, &out, &st) != 0) {
		vx_gw_fail_status(r, &st);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llu-%llu\"", (unsigned long long)out->project_id,
	    (unsigned long long)out->revision);
	(void)vx_gw_set_header(r, "ETag", "%s", etag);
	if (vx_gw_etag_matches(vx_gw_header(r, "If-None-Match"), etag)) {
		vx_gw_reply_empty(r, 304);
		return;
	}
	view.flags = out->flags;
	view.n_flags = out->n_flags;
	view.segments = out->segments;
	view.n_segments = out->n_segments;
	if ((text = vx_mig_flagd_write(&view, env, &rep)) == NULL) {
		vx_mig_report_fini(&rep);
		vx_gw_sync_error(r, 500, NULL, "out of memory");
		return;
	}
	vx_gw_name_omitted(r, &rep);
	vx_mig_report_fini(&rep);
	vx_gw_reply(r, 200, "application/json", text, strlen(text));
	free(text);
}

static const vx_gw_route routes[] = {
    {"GET", "/flagd/v1/{project}/{file}", sync_file},
};

static const char *const prefixes[] = {"/flagd", NULL};

const vx_gw_dialect vx_gw_flagd_dialect = {
    .name = "flagd",
    .prefixes = prefixes,
    .error = vx_gw_sync_error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
};
