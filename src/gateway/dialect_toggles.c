/*
 * Vexil gateway — the feature toggles dialect (specs/toggles-api.md, a
 * FastAPI service whose document gives no JSON; the names are issue 7's).
 *
 * A thin adapter over the one domain model (docs/gateway.md):
 *  - a toggle is a flag; `name` is its key (and its name), `description`,
 *    `owner` and `metadata` (strings only) are the flag's own;
 *  - `application` is a project, named by name (or id); a toggle without
 *    one is global and lives in the `default` project;
 *  - `environments` is each environment's enabled state, and `is_active`
 *    is the production environment's state. Writing `is_active` without an
 *    `environment` sets every environment (global); with one, only that
 *    environment; either way one core write (UpdateFlag with
 *    all_environments / env / envs);
 *  - `created_at`/`updated_at` are the core's times in RFC 3339.
 * Errors are FastAPI's: {"detail": "..."}, and 422 with
 * {"detail": [{"loc", "msg", "type"}]} for validation, with pydantic v2's
 * error types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/dialects.h"
#include "gateway/fastapi.h"
#include "gateway/format.h"
#include "gateway/json.h"
#include "gateway/rpc.h"

#define GLOBAL "default"
#define ENV "production"
#define PAGE 1000  /* the core's largest ListFlags page */
#define MAX_ENVS 64

/* ---- errors ---- */

/* The body field a core field path names, or NULL. */
static const char *
body_field(const char *field)
{
	static const struct {
		const char *core, *body;
	} map[] = {
	    {"flag.key", "name"},
	    {"flag.name", "name"},
	    {"key", "name"},
	    {"flag.description", "description"},
	    {"update.description", "description"},
	    {"description", "description"},
	    {"flag.owner", "owner"},
	    {"update.owner", "owner"},
	    {"owner", "owner"},
	    {"flag.metadata", "metadata"},
	    {"update.metadata", "metadata"},
	    {"metadata", "metadata"},
	    {"flag.envs", "environments"},
	    {"envs", "environments"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].core);
		if (strncmp(field, map[i].core, n) == 0 &&
		    (field[n] == '\0' || field[n] == '.' || field[n] == '['))
			return map[i].body;
	}
	return NULL;
}

/*
 * A refused core call: what the core did not find, in the document's
 * words; text or a value the core refuses, pydantic's 422 at the body's
 * field; anything else through the status table.
 */
static void
fail_call(vx_gw_req *r, const vx_status *st)
{
	struct vx_fa_errors v = {0};
	const char *f = st->field;

	if (st->code == VEXIL__V1__CODE__NOT_FOUND && strcmp(f, "project") == 0)
		vx_gw_fail(r, 404, "application", "Application not found");
	else if ((st->code == VEXIL__V1__CODE__NOT_FOUND &&
	             strcmp(f, "environment") == 0) ||
	         (st->code == VEXIL__V1__CODE__INVALID_ARGUMENT &&
	             (strcmp(f, "env.environment") == 0 ||
	                 strcmp(f, "envs.environment") == 0)))
		/* An environment key that cannot exist is not found either. */
		vx_gw_fail(r, 404, "environment", "Environment not found");
	else if (st->code == VEXIL__V1__CODE__NOT_FOUND &&
	         (strcmp(f, "id") == 0 || strcmp(f, "key") == 0))
		vx_gw_fail(r, 404, "name", "Feature toggle not found");
	else if (st->code == VEXIL__V1__CODE__INVALID_ARGUMENT &&
	         (strcmp(st->constraint, "utf8") == 0 ||
	             strcmp(st->constraint, "nul") == 0) &&
	         strcmp(f, "project") == 0) {
		vx_fa_add(&v, "body", "application", "string_unicode",
		    "Input should be a valid string, unable to parse raw data as a "
		    "unicode "
		    "string");
		vx_fa_reply(r, &v);
	} else if (st->code == VEXIL__V1__CODE__INVALID_ARGUMENT &&
	           strcmp(st->constraint, "utf8") == 0 && body_field(f) != NULL) {
		vx_fa_add(&v, "body", body_field(f), "string_unicode",
		    "Input should be a valid string, unable to parse raw data as a "
		    "unicode "
		    "string");
		vx_fa_reply(r, &v);
	} else
		vx_gw_fail_status(r, st);
}

/* Answers the collected errors; false when there were none. */

/* The body as a JSON object; false after answering 422 as FastAPI does. */

/* pydantic's strict-enough field checks. Each returns 1 present, 0 absent
 * (or null), -1 wrong (recorded in v). */



/* ---- credentials ---- */


/* "Authorization: Bearer <jwt>" or "Authorization: ApiKey <key>" becomes
 * the credential as it is; vexild checks it. */


/* ---- toggle fields ---- */

/* vx_fa_add() for an entry of an object field: loc ["body", field, entry]. */
static void
v_add_entry(struct vx_fa_errors *v, const char *field, const char *entry, const char *type,
    const char *msg)
{
	cJSON *last, *loc;

	vx_fa_add(v, "body", field, type, msg);
	if (v->oom)
		return;
	last = cJSON_GetArrayItem(v->list, cJSON_GetArraySize(v->list) - 1);
	loc = cJSON_GetObjectItemCaseSensitive(last, "loc");
	cJSON_AddItemToArray(loc, cJSON_CreateString(entry));
	if (cJSON_GetArraySize(loc) != 3)
		v->oom = true;
}


/* `metadata`: an object of strings. */
static void
check_metadata(struct vx_fa_errors *v, const cJSON *m)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, m)
	{
		if (!cJSON_IsString(e))
			v_add_entry(v, "metadata", e->string, "string_type",
			    "Input should be a valid string");
	}
}

/* `environments`: an object of booleans. */
static void
check_environments(struct vx_fa_errors *v, const cJSON *m)
{
	const cJSON *e;

	if (cJSON_GetArraySize(m) > MAX_ENVS) {
		vx_fa_add(v, "body", "environments", "too_long",
		    "Dictionary should have at most 64 items");
		return;
	}
	cJSON_ArrayForEach(e, m)
	{
		if (cJSON_IsString(e))
			v_add_entry(v, "environments", e->string, "bool_parsing",
			    "Input should be a valid boolean, unable to interpret input");
		else if (!cJSON_IsBool(e))
			v_add_entry(v, "environments", e->string, "bool_type",
			    "Input should be a valid boolean");
	}
}

/* The flag's metadata for an object of strings (checked already). */
static bool
metadata_of(vx_gw_req *r, const cJSON *m, Vexil__V1__Flag *f)
{
	int n = cJSON_GetArraySize(m);
	Vexil__V1__Flag__MetadataEntry **es, *e;
	const cJSON *it;
	size_t i = 0;

	if (n == 0)
		return true;
	if ((es = vx_arena_alloc(r->arena, (size_t)n * sizeof(*es))) == NULL)
		return false;
	cJSON_ArrayForEach(it, m)
	{
		if ((e = vx_arena_alloc(r->arena, sizeof(*e))) == NULL)
			return false;
		vexil__v1__flag__metadata_entry__init(e);
		e->key = it->string;
		e->value = it->valuestring;
		es[i++] = e;
	}
	f->metadata = es;
	f->n_metadata = i;
	return true;
}

/* The core's reference for an application: its name, or its id in any
 * form a dialect prints ("proj-7", the UUID, "7"). */
static const char *
project_of(vx_gw_req *r, const char *app)
{
	uint64_t id;
	const char *ref;

	if (vx_gw_id_parse(app, VX_GW_KIND_PROJECT, &id) != 0)
		return app;
	ref = vx_arena_printf(r->arena, "%llu", (unsigned long long)id);
	return ref ? ref : app;
}

/* The project: the body's `application`, else the query's, else the
 * global `default`. NULL after answering. */
static const char *
application(vx_gw_req *r, const cJSON *b, struct vx_fa_errors *v)
{
	const char *app = NULL;
	int q;

	if (b && vx_fa_str(v, b, "application", &app) == 1 && *app)
		return app;
	if ((q = vx_gw_query(r, "application", &app)) < 0) {
		vx_fa_add(v, "query", "application", "string_type", "Input should be a valid string");
		return NULL;
	}
	return q == 1 && *app ? app : GLOBAL;
}

/* ---- the toggle ---- */



static cJSON *
toggle_json(const Vexil__V1__Flag *f, const char *app)
{
	cJSON *o = cJSON_CreateObject(), *meta = cJSON_CreateObject(),
	      *envs = cJSON_CreateObject();
	bool active = false, ok = o && meta && envs;

	for (size_t i = 0; ok && i < f->n_metadata; i++)
		ok = f->metadata[i] && cJSON_AddStringToObject(meta, f->metadata[i]->key,
		                           f->metadata[i]->value) != NULL;
	for (size_t i = 0; ok && i < f->n_envs; i++) {
		if (f->envs[i] == NULL)
			continue;
		if (strcmp(f->envs[i]->environment, ENV) == 0)
			active = f->envs[i]->enabled;
		ok = cJSON_AddBoolToObject(envs, f->envs[i]->environment, f->envs[i]->enabled) !=
		    NULL;
	}
	if (!ok || !vx_fa_put(o, "name", cJSON_CreateString(f->key)) ||
	    !vx_fa_put(o, "description", cJSON_CreateString(f->description)) ||
	    !vx_fa_put(o, "is_active", cJSON_CreateBool(active)) ||
	    !vx_fa_put(o, "owner", cJSON_CreateString(f->owner)) ||
	    !vx_fa_put(o, "metadata", meta) || (meta = NULL) ||
	    !vx_fa_put(o, "application", cJSON_CreateString(app)) ||
	    !vx_fa_put(o, "environments", envs) || (envs = NULL) ||
	    !vx_fa_put(o, "created_at", vx_fa_time(f->created_at)) ||
	    !vx_fa_put(o, "updated_at", vx_fa_time(f->updated_at))) {
		cJSON_Delete(meta);
		cJSON_Delete(envs);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* ---- core calls ---- */

/* `environments` as FlagEnvConfigs with their state (in the arena). */
static bool
env_configs(
    vx_gw_req *r, const cJSON *per_env, Vexil__V1__FlagEnvConfig ***out, size_t *n)
{
	Vexil__V1__FlagEnvConfig **cfgs;
	const cJSON *e;
	size_t i = 0;

	*n = 0;
	if (per_env == NULL || cJSON_GetArraySize(per_env) == 0)
		return true;
	if ((cfgs = vx_arena_alloc(
	         r->arena, (size_t)cJSON_GetArraySize(per_env) * sizeof(*cfgs))) == NULL)
		return false;
	cJSON_ArrayForEach(e, per_env)
	{
		if ((cfgs[i] = vx_arena_alloc(r->arena, sizeof(**cfgs))) == NULL)
			return false;
		vexil__v1__flag_env_config__init(cfgs[i]);
		cfgs[i]->environment = e->string;
		cfgs[i]->enabled = cJSON_IsTrue(e);
		cfgs[i]->rollout_percentage = 100;
		i++;
	}
	*out = cfgs;
	*n = i;
	return true;
}

static bool
load(vx_gw_req *r, const char *app, Vexil__V1__Flag **f)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	vx_status st;

	in.project = (char *)project_of(r, app);
	in.key = (char *)vx_gw_param(r, "toggle_name");
	if (vx_get_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, f, &st) != 0) {
		fail_call(r, &st);
		return false;
	}
	return true;
}

/* ---- routes ---- */

static void
t_create(vx_gw_req *r)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	const cJSON *meta = NULL, *per_env = NULL;
	const char *name = NULL, *desc = NULL, *owner = NULL, *app;
	struct vx_fa_errors v = {0};
	bool active = false;
	vx_status st;
	cJSON *b;

	if (!vx_fa_need_credential(r) || !vx_fa_body(r, &b))
		return;
	if (vx_fa_str(&v, b, "name", &name) == 0) {
		if (cJSON_GetObjectItemCaseSensitive(b, "name") == NULL)
			vx_fa_add(&v, "body", "name", "missing", "Field required");
		else
			vx_fa_add(&v, "body", "name", "string_type", "Input should be a valid string");
	}
	(void)vx_fa_str(&v, b, "description", &desc);
	(void)vx_fa_str(&v, b, "owner", &owner);
	(void)vx_fa_bool(&v, b, "is_active", &active);
	if (vx_fa_obj(&v, b, "metadata", &meta) == 1)
		check_metadata(&v, meta);
	if (vx_fa_obj(&v, b, "environments", &per_env) == 1)
		check_environments(&v, per_env);
	app = application(r, b, &v);
	if (vx_fa_reply(r, &v))
		return;
	if ((meta && !metadata_of(r, meta, &f)) ||
	    !env_configs(r, per_env, &f.envs, &f.n_envs)) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	/* One write: `environments` as configs, and is_active in every other
	 * environment of the application (CreateFlag.enabled). An unknown
	 * environment is the core's NOT_FOUND, and nothing is made. */
	f.key = (char *)name;
	f.description = (char *)(desc ? desc : "");
	f.owner = (char *)(owner ? owner : "");
	in.project = (char *)project_of(r, app);
	in.flag = &f;
	in.enabled = active;
	if (vx_create_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, toggle_json(out, app));
}

static void
t_list(vx_gw_req *r)
{
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	struct vx_fa_errors v = {0};
	const char *app;
	vx_status st;
	cJSON *arr;

	if (!vx_fa_need_credential(r))
		return;
	app = application(r, NULL, &v);
	if (vx_fa_reply(r, &v))
		return;
	if ((arr = cJSON_CreateArray()) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	in.project = (char *)project_of(r, app);
	in.limit = PAGE;
	do {
		if (vx_list_flags_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
			cJSON_Delete(arr);
			fail_call(r, &st);
			return;
		}
		for (size_t i = 0; i < out->n_flags; i++) {
			cJSON *o = toggle_json(out->flags[i], app);
			if (o == NULL) {
				cJSON_Delete(arr);
				vx_gw_fail(r, 500, NULL, "out of memory");
				return;
			}
			cJSON_AddItemToArray(arr, o);
		}
		in.offset += (uint32_t)out->n_flags;
	} while (out->n_flags > 0 && in.offset < out->total);
	vx_gw_reply_json(r, 200, arr);
}

static void
t_get(vx_gw_req *r)
{
	struct vx_fa_errors v = {0};
	Vexil__V1__Flag *f;
	const char *app;

	if (!vx_fa_need_credential(r))
		return;
	app = application(r, NULL, &v);
	if (vx_fa_reply(r, &v) || !load(r, app, &f))
		return;
	vx_gw_reply_json(r, 200, toggle_json(f, app));
}

/*
 * One UpdateFlag: description, owner, metadata (replaced whole) and the
 * state in one write. `environment` with is_active sets that environment
 * (env); is_active alone sets every environment (all_environments);
 * `environments` sets each one named after those (envs). Nothing is read
 * first, so there is nothing to lose to a concurrent write; an unknown
 * toggle or environment is the core's NOT_FOUND and changes nothing.
 */
static void
t_update(vx_gw_req *r)
{
	Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *f;
	Vexil__V1__FlagEnvConfig one = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	const cJSON *meta = NULL, *per_env = NULL;
	const char *desc = NULL, *owner = NULL, *env = NULL, *app;
	struct vx_fa_errors v = {0};
	bool active = false;
	int has_active, has_env;
	char *mask[4];
	vx_status st;
	cJSON *b;

	if (!vx_fa_need_credential(r) || !vx_fa_body(r, &b))
		return;
	if (vx_fa_str(&v, b, "description", &desc) == 1)
		mask[in.n_update_mask++] = "description";
	if (vx_fa_str(&v, b, "owner", &owner) == 1)
		mask[in.n_update_mask++] = "owner";
	if (vx_fa_obj(&v, b, "metadata", &meta) == 1) {
		check_metadata(&v, meta);
		mask[in.n_update_mask++] = "metadata";
	}
	has_active = vx_fa_bool(&v, b, "is_active", &active);
	has_env = vx_fa_str(&v, b, "environment", &env);
	if (vx_fa_obj(&v, b, "environments", &per_env) == 1)
		check_environments(&v, per_env);
	/* An environment's state is set from is_active. */
	if (has_env == 1 && has_active == 0)
		vx_fa_add(&v, "body", "is_active", "missing", "Field required");
	app = application(r, b, &v);
	if (vx_fa_reply(r, &v))
		return;
	upd.description = (char *)(desc ? desc : "");
	upd.owner = (char *)(owner ? owner : "");
	if ((meta && !metadata_of(r, meta, &upd)) ||
	    !env_configs(r, per_env, &in.envs, &in.n_envs)) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	if (has_active == 1) {
		one.enabled = active;
		if (has_env == 1)
			one.environment = (char *)env;
		else
			in.all_environments = true;
		in.env = &one;
	}
	if (has_active == 1 || in.n_envs > 0)
		mask[in.n_update_mask++] = "env.enabled";
	in.project = (char *)project_of(r, app);
	in.key = (char *)vx_gw_param(r, "toggle_name");
	if (in.n_update_mask == 0) {
		/* Nothing to change: the toggle as it is, and no write. */
		if (load(r, app, &f))
			vx_gw_reply_json(r, 200, toggle_json(f, app));
		return;
	}
	in.update = &upd;
	in.update_mask = mask;
	if (vx_update_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &f, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, toggle_json(f, app));
}

/* ---- the dialect ---- */

/* The router ignores one trailing slash: "/feature-toggles/" is served
 * like "/feature-toggles". */
static const vx_gw_route routes[] = {
	{"POST", "/feature-toggles", t_create},
	{"GET", "/feature-toggles", t_list},
	{"GET", "/feature-toggles/{toggle_name}", t_get},
	{"PUT", "/feature-toggles/{toggle_name}", t_update},
};

static const char *const prefixes[] = {"/feature-toggles", NULL};

const vx_gw_dialect vx_gw_toggles_dialect = {
	.name = "feature-toggles",
	.prefixes = prefixes,
	.error = vx_fa_error,
	.routes = routes,
	.n_routes = sizeof(routes) / sizeof(routes[0]),
};
