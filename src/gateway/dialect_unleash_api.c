/*
 * Vexil gateway — the rest of Unleash's APIs beside the client features
 * (dialect_unleash.c): what Unleash SDKs send back, and the frontend API
 * the proxy SDKs (browser, mobile) evaluate through.
 *
 *  - POST /api/client/register: the SDK's hello at start. Validated,
 *    logged, 202 with no body as Unleash answers. Nothing is stored: a
 *    registration per call would be a core write per SDK start.
 *  - POST /api/client/metrics: a bucket of the SDK's own yes/no and
 *    variant counts. They become Vexil's evaluation counts through one
 *    EdgeService/RecordEvaluations call per bucket, each (flag, variant)
 *    one record carrying its count; toggles the environment lacks are
 *    ignored and counted (X-Vexil-Unknown-Toggles). 202, no body.
 *  - GET and POST /api/frontend: every flag evaluated by Vexil for the
 *    context (query parameters, or {"context": ...}), from the edge's
 *    live snapshot, answered as Unleash's frontend API does: only the
 *    enabled toggles, with their variant and impressionData. ETag/304.
 *  - POST /api/frontend/client/metrics and /register: as the client ones,
 *    answered 200 as Unleash's frontend API answers them.
 *
 * Credentials are the client API's (vx_gw_unleash_admit): an SDK key in
 * Authorization, bare as Unleash SDKs send it, names its project and
 * environment; an API key is admitted by vexild and names the environment
 * with ?environment= (the context's environment for the frontend API).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/json.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"
#include "migrate/migrate.h"

#define MAX_ATTRS 64                 /* as vexild's handlers_eval.c */
#define MAX_TOGGLES 10000            /* per metrics bucket */
#define MAX_COUNT 9007199254740991LL /* 2^53 - 1: JSON's exact integers */

/* ---- register ---- */

/* A date as Unleash's dateSchema has it: an ISO 8601 date-time, or a
 * number (milliseconds). -1 after refusing. */
static int
date_field(
    vx_gw_req *r, const cJSON *o, const char *path, const char *name, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	const char *s;

	if (v == NULL || cJSON_IsNull(v))
		return required
		           ? vx_gw_json_refuse(r, name, "%s%s is required", path, name)
		           : 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= 0)
		return 0;
	s = cJSON_IsString(v) ? v->valuestring : "";
	/* YYYY-MM-DDTHH:MM */
	if (strlen(s) < 16 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':')
		return vx_gw_json_refuse(r, name,
		    "%s%s must be a date-time (2024-01-31T12:00:00Z) or milliseconds",
		    path, name);
	return 0;
}

/* A required string. -1 after refusing. */
static int
required_string(vx_gw_req *r, const cJSON *o, const char *name, const char **out)
{
	int rc = vx_gw_json_string(r, o, name, out);

	if (rc == 0)
		return vx_gw_json_refuse(r, name, "%s is required", name);
	return rc < 0 ? -1 : 0;
}

/* The target the key names: "" for an SDK key (its own), ?environment=
 * for an API key. NULL after answering. */
static const char *
target_env(vx_gw_req *r)
{
	const char *env = NULL;

	if (vx_gw_query(r, "environment", &env) < 0) {
		vx_gw_fail_input(r);
		return NULL;
	}
	return env ? env : "";
}

/* The key's environment as the edge holds it (no core call once held):
 * authenticates the key and names what the SDK evaluates. */
static int
snapshot(vx_gw_req *r, const char *env, Vexil__V1__Snapshot **out)
{
	Vexil__V1__GetSnapshotRequest in = VEXIL__V1__GET_SNAPSHOT_REQUEST__INIT;
	vx_status st;

	in.project = "";
	in.environment = (char *)env;
	if (vx_gw_edge_snapshot(r->rpc->edge, r, &in, out, &st) != 0) {
		vx_gw_fail_status(r, &st);
		return -1;
	}
	return 0;
}

static void
do_register(vx_gw_req *r, int status)
{
	const char *app, *instance = "", *sdk = "", *env;
	const cJSON *strategies, *s;
	Vexil__V1__Snapshot *snap;
	int64_t interval = 0;
	cJSON *b;

	if (!vx_gw_unleash_admit(r) || (env = target_env(r)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    required_string(r, b, "appName", &app) ||
	    vx_gw_json_string(r, b, "instanceId", &instance) < 0 ||
	    vx_gw_json_string(r, b, "sdkVersion", &sdk) < 0 ||
	    vx_gw_json_int(r, b, "interval", 0, INT32_MAX, &interval) < 0 ||
	    date_field(r, b, "", "started", false) != 0) {
		vx_gw_fail_input(r);
		return;
	}
	strategies = cJSON_GetObjectItemCaseSensitive(b, "strategies");
	if (strategies != NULL && !cJSON_IsNull(strategies)) {
		bool ok = cJSON_IsArray(strategies);
		const cJSON *list = ok ? strategies : NULL;
		cJSON_ArrayForEach(s, list) ok = ok && cJSON_IsString(s);
		if (!ok) {
			vx_gw_fail(
			    r, 400, "strategies", "strategies must be a list of strings");
			return;
		}
	}
	if (*app == '\0' || strlen(app) > 256) {
		vx_gw_fail(r, 400, "appName", "appName must be 1 to 256 characters");
		return;
	}
	if (snapshot(r, env, &snap) != 0)
		return;
	vx_log(VX_LOG_INFO,
	    "unleash: app %.256s instance %.256s (%.64s, %d strategies, metrics every "
	    "%" PRId64 " ms) registered for project %" PRIu64 " environment %.64s",
	    app, instance ? instance : "", sdk ? sdk : "",
	    cJSON_IsArray(strategies) ? cJSON_GetArraySize(strategies) : 0, interval,
	    snap->project_id, snap->environment);
	vx_gw_reply_empty(r, status);
}

/* ---- metrics ---- */

static const Vexil__V1__Flag *
find_flag(const Vexil__V1__Snapshot *s, const char *key)
{
	for (size_t i = 0; i < s->n_flags; i++)
		if (strcmp(s->flags[i]->key, key) == 0)
			return s->flags[i];
	return NULL;
}

/* The variant an Unleash "yes" stands for when no variant was asked: a
 * boolean flag's true one, else the environment's default variant. */
static const char *
yes_variant(const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *c)
{
	if (f->type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN)
		for (size_t i = 0; i < f->n_variants; i++)
			if (strcmp(f->variants[i]->value, "true") == 0)
				return f->variants[i]->key;
	return c->default_variant;
}

/* A count of the bucket: a whole number 0..2^53-1. -1 after refusing. */
static int
count_of(vx_gw_req *r, const cJSON *o, const char *name, const char *path, int64_t *n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*n = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > MAX_COUNT ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return vx_gw_json_refuse(
		    r, "bucket", "%s must be a whole number of at least 0", path);
	*n = (int64_t)v->valuedouble;
	return 0;
}

struct batch {
	Vexil__V1__EdgeEvalRecord *items;
	Vexil__V1__EdgeEvalRecord **ptrs;
	size_t n, cap;
};

static void
add(struct batch *b, const char *flag, const char *variant, int64_t count)
{
	Vexil__V1__EdgeEvalRecord *x;

	if (count <= 0 || b->n == b->cap)
		return;
	x = &b->items[b->n];
	vexil__v1__edge_eval_record__init(x);
	x->flag_key = (char *)flag;
	x->variant = (char *)(variant ? variant : "");
	x->reason = "";
	x->user_id = "";
	x->count = (uint64_t)count;
	b->ptrs[b->n++] = x;
}

/*
 * Reads the bucket's toggles into records of the flags snap has: its
 * variants by name, then the rest of yes (yes_variant) and no (the off
 * variant). *unknown counts the toggles snap lacks. -1 after refusing.
 */
static int
read_toggles(vx_gw_req *r, const cJSON *toggles, const Vexil__V1__Snapshot *snap,
    struct batch *b, int *unknown)
{
	const cJSON *t, *vs, *v;
	char path[300];

	cJSON_ArrayForEach(t, toggles)
	{
		const Vexil__V1__Flag *f;
		int64_t yes, no, named = 0, n;
		if (!cJSON_IsObject(t))
			return vx_gw_json_refuse(r, "bucket",
			    "bucket.toggles.%.128s must be an object {yes, no, variants}",
			    t->string);
		snprintf(path, sizeof(path), "bucket.toggles.%.128s.yes", t->string);
		if (count_of(r, t, "yes", path, &yes) != 0)
			return -1;
		snprintf(path, sizeof(path), "bucket.toggles.%.128s.no", t->string);
		if (count_of(r, t, "no", path, &no) != 0)
			return -1;
		vs = cJSON_GetObjectItemCaseSensitive(t, "variants");
		if (vs != NULL && !cJSON_IsNull(vs) && !cJSON_IsObject(vs))
			return vx_gw_json_refuse(r, "bucket",
			    "bucket.toggles.%.128s.variants must be an object of counts",
			    t->string);
		f = find_flag(snap, t->string);
		if (!cJSON_IsObject(vs))
			vs = NULL;
		cJSON_ArrayForEach(v, vs)
		{
			snprintf(path, sizeof(path),
			    "bucket.toggles.%.128s.variants.%.64s", t->string, v->string);
			if (count_of(r, vs, v->string, path, &n) != 0)
				return -1;
			if (f != NULL && vx_mig_flag_variant(f, v->string) != NULL) {
				add(b, f->key, v->string, n);
				named += n;
			}
		}
		if (f == NULL || f->n_envs == 0) {
			++*unknown;
			continue;
		}
		add(b, f->key, yes_variant(f, f->envs[0]), yes - named);
		add(b, f->key, f->envs[0]->off_variant, no);
	}
	return 0;
}

static void
do_metrics(vx_gw_req *r, int status)
{
	Vexil__V1__EdgeRecordsRequest in = VEXIL__V1__EDGE_RECORDS_REQUEST__INIT;
	Vexil__V1__EdgeRecordsReply *out;
	const cJSON *bucket = NULL, *toggles = NULL;
	const char *app, *s, *env;
	Vexil__V1__Snapshot *snap;
	struct batch b = {0};
	int unknown = 0, n;
	vx_status st;
	cJSON *body;

	if (!vx_gw_unleash_admit(r) || (env = target_env(r)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &body) != 0 ||
	    required_string(r, body, "appName", &app) != 0 ||
	    vx_gw_json_string(r, body, "instanceId", &s) < 0 ||
	    vx_gw_json_string(r, body, "environment", &s) < 0 ||
	    vx_gw_json_object(r, body, "bucket", &bucket) < 0) {
		vx_gw_fail_input(r);
		return;
	}
	if (bucket == NULL) {
		vx_gw_fail(
		    r, 400, "bucket", "bucket is required: {start, stop, toggles}");
		return;
	}
	if (date_field(r, bucket, "bucket.", "start", true) != 0 ||
	    date_field(r, bucket, "bucket.", "stop", true) != 0 ||
	    vx_gw_json_object(r, bucket, "toggles", &toggles) < 0) {
		vx_gw_fail_input(r);
		return;
	}
	if (toggles == NULL || (n = cJSON_GetArraySize(toggles)) > MAX_TOGGLES) {
		vx_gw_fail(r, 400, "bucket",
		    "bucket.toggles must be an object of at most %d toggles",
		    MAX_TOGGLES);
		return;
	}
	if (snapshot(r, env, &snap) != 0)
		return;
	/* At most two records per toggle plus one per named variant. */
	b.cap = 2 * (size_t)n;
	cJSON_ArrayForEach(bucket, toggles)
	{
		const cJSON *vs = cJSON_GetObjectItemCaseSensitive(bucket, "variants");
		b.cap += cJSON_IsObject(vs) ? (size_t)cJSON_GetArraySize(vs) : 0;
	}
	b.items = vx_arena_alloc(r->arena, (b.cap + 1) * sizeof(*b.items));
	b.ptrs = vx_arena_alloc(r->arena, (b.cap + 1) * sizeof(*b.ptrs));
	if (b.items == NULL || b.ptrs == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	if (read_toggles(r, toggles, snap, &b, &unknown) != 0) {
		vx_gw_fail_input(r);
		return;
	}
	(void)vx_gw_set_header(r, "X-Vexil-Unknown-Toggles", "%d", unknown);
	if (b.n > 0) {
		in.project = "";
		in.environment = snap->environment;
		in.records = b.ptrs;
		in.n_records = b.n;
		if (vx_record_evaluations_as(
		        vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
			vx_gw_fail_status(r, &st);
			return;
		}
	}
	if (unknown)
		vx_log(VX_LOG_INFO,
		    "unleash: metrics of app %.256s: %d of %d toggles unknown in project "
		    "%" PRIu64 " environment %.64s, ignored",
		    app, unknown, n, snap->project_id, snap->environment);
	vx_gw_reply_empty(r, status);
}

/* Unleash answers an SDK's register and metrics 202, the frontend API's
 * 200. */
static void
client_register(vx_gw_req *r)
{
	do_register(r, 202);
}

static void
client_metrics(vx_gw_req *r)
{
	do_metrics(r, 202);
}

static void
frontend_register(vx_gw_req *r)
{
	do_register(r, 200);
}

static void
frontend_metrics(vx_gw_req *r)
{
	do_metrics(r, 200);
}

/* ---- the frontend API ---- */

/* Appends attribute name = value (a string) to ctx, refusing a name given
 * twice. -1 after refusing. */
static int
put_attr(vx_gw_req *r, Vexil__V1__EvalContext *ctx, const char *name, const char *value)
{
	Vexil__V1__EvalContext__AttributesEntry *e;
	Vexil__V1__AttrValue *v;

	for (size_t i = 0; i < ctx->n_attributes; i++)
		if (strcmp(ctx->attributes[i]->key, name) == 0)
			return vx_gw_json_refuse(
			    r, "context", "context field %.64s is given twice", name);
	if (ctx->n_attributes == MAX_ATTRS)
		return vx_gw_json_refuse(
		    r, "context", "at most %d context fields", MAX_ATTRS);
	e = vx_arena_alloc(r->arena, sizeof(*e));
	v = vx_arena_alloc(r->arena, sizeof(*v));
	if (e == NULL || v == NULL)
		return vx_gw_json_refuse(r, "context", "out of memory");
	vexil__v1__eval_context__attributes_entry__init(e);
	vexil__v1__attr_value__init(v);
	v->kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
	v->str = (char *)value;
	e->key = (char *)name;
	e->value = v;
	ctx->attributes[ctx->n_attributes++] = e;
	return 0;
}

/* One context field of Unleash's: userId and remoteAddress are the
 * engine's user_id and ip, environment (for an API key) picks what is
 * evaluated, every other one (sessionId, appName, properties) is an
 * attribute of its name. */
static int
put_field(vx_gw_req *r, Vexil__V1__EvalContext *ctx, const char **env, const char *name,
    const char *value)
{
	char **slot = strcmp(name, "userId") == 0          ? &ctx->user_id
	              : strcmp(name, "remoteAddress") == 0 ? &ctx->ip
	                                                   : NULL;

	if (slot != NULL) {
		/* Unset is protobuf-c's shared empty string, not a value. */
		if (*slot != NULL && *slot != protobuf_c_empty_string)
			return vx_gw_json_refuse(
			    r, "context", "context field %s is given twice", name);
		*slot = (char *)value;
	} else {
		if (strcmp(name, "environment") == 0)
			*env = value;
		return put_attr(r, ctx, name, value);
	}
	return 0;
}

/* The context from the query: userId=..&properties[plan]=pro. */
static int
query_context(vx_gw_req *r, Vexil__V1__EvalContext *ctx, const char **env)
{
	const char *p = r->query;

	while (*p) {
		size_t len = strcspn(p, "&"), nlen = strcspn(p, "=");
		char *name, *value;
		if (nlen > len)
			nlen = len;
		if (len > 0) {
			name = vx_arena_alloc(r->arena, nlen + 1);
			value = vx_arena_alloc(r->arena, len - nlen + 1);
			if (name == NULL || value == NULL)
				return vx_gw_json_refuse(r, "context", "out of memory");
			if (vx_gw_pct_decode(name, p, nlen, true) < 0 ||
			    vx_gw_pct_decode(value, p + nlen + (nlen < len),
			        len - nlen - (nlen < len), true) < 0)
				return vx_gw_json_refuse(r, "query",
				    "the query string has a bad percent-escape");
			if (strncmp(name, "properties[", 11) == 0) {
				size_t k = strlen(name);
				if (k < 13 || name[k - 1] != ']')
					return vx_gw_json_refuse(r, "query",
					    "%.64s: a property is properties[NAME]=VALUE",
					    name);
				name[k - 1] = '\0';
				name += 11;
				if (strcmp(name, "userId") == 0 ||
				    strcmp(name, "remoteAddress") == 0)
					return vx_gw_json_refuse(r, "query",
					    "properties[%s] would hide the context field "
					    "%s",
					    name, name);
				if (put_attr(r, ctx, name, value) != 0)
					return -1;
			} else if (put_field(r, ctx, env, name, value) != 0)
				return -1;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* The context from the body: {"context": {"userId": ..., "properties":
 * {...}}}. Top-level fields are strings, as Unleash's context has them;
 * properties may hold strings, numbers, booleans and lists. */
static int
body_context(vx_gw_req *r, Vexil__V1__EvalContext *ctx, const char **env)
{
	const cJSON *c = NULL, *v, *props = NULL;
	cJSON *b;

	if (vx_gw_json_body(r, true, &b) != 0 ||
	    vx_gw_json_object(r, b, "context", &c) < 0)
		return -1;
	for (v = c ? c->child : NULL; v; v = v->next) {
		if (cJSON_IsNull(v) || strcmp(v->string, "properties") == 0)
			continue;
		if (!cJSON_IsString(v))
			return vx_gw_json_refuse(
			    r, "context", "context.%.64s must be a string", v->string);
		if (put_field(r, ctx, env, v->string, v->valuestring) != 0)
			return -1;
	}
	if (c && vx_gw_json_object(r, c, "properties", &props) < 0)
		return -1;
	if (props &&
	    vx_gw_json_attrs(r, props, "context.properties", NULL, MAX_ATTRS, ctx) != 0)
		return -1;
	for (size_t i = 0; i < ctx->n_attributes; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(ctx->attributes[i]->key, ctx->attributes[j]->key) == 0)
				return vx_gw_json_refuse(r, "context",
				    "context.properties.%.64s is also a context field",
				    ctx->attributes[i]->key);
	return 0;
}

/* Enabled as Unleash means it: a rule or the rollout let the context in
 * (and, for a boolean flag, served true). */
static bool
enabled(const Vexil__V1__EvaluationResult *e)
{
	if (strcmp(e->reason, "STATIC") != 0 &&
	    strcmp(e->reason, "TARGETING_MATCH") != 0 && strcmp(e->reason, "SPLIT") != 0)
		return false;
	return e->type != VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN ||
	       strcmp(e->value, "true") == 0;
}

static bool
impression(const Vexil__V1__EvaluationResult *e)
{
	for (size_t i = 0; i < e->n_metadata; i++)
		if (strcmp(e->metadata[i]->key, "unleash.impressionData") == 0)
			return strcmp(e->metadata[i]->value, "true") == 0;
	return false;
}

/* {"name", "enabled", "variant": {...}, "impressionData"} of an enabled
 * toggle: a boolean flag has no variant in Unleash ("disabled"), any
 * other serves its variant with the value as payload. */
static cJSON *
toggle_json(const Vexil__V1__EvaluationResult *e)
{
	cJSON *t = cJSON_CreateObject(), *v = cJSON_CreateObject();
	bool boolean = e->type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN, ok;

	ok = t && v && cJSON_AddStringToObject(t, "name", e->flag_key) &&
	     cJSON_AddTrueToObject(t, "enabled") &&
	     cJSON_AddStringToObject(v, "name", boolean ? "disabled" : e->variant) &&
	     cJSON_AddBoolToObject(v, "enabled", !boolean) &&
	     cJSON_AddTrueToObject(v, "feature_enabled");
	if (ok && !boolean) {
		cJSON *p = vx_mig_unleash_payload(e->value);
		ok = p != NULL && cJSON_AddItemToObject(v, "payload", p);
	}
	if (ok && cJSON_AddItemToObject(t, "variant", v))
		v = NULL;
	else
		ok = false;
	cJSON_Delete(v);
	ok = ok && cJSON_AddBoolToObject(t, "impressionData", impression(e));
	return vx_gw_json_done(t, ok);
}

static void
frontend(vx_gw_req *r)
{
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	const char *env = NULL;
	cJSON *o, *toggles;
	char *text;
	vx_status st;
	bool ok;

	if (!vx_gw_unleash_admit(r))
		return;
	ctx.attributes = vx_arena_alloc(r->arena, MAX_ATTRS * sizeof(*ctx.attributes));
	if (ctx.attributes == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	if ((strcmp(r->method, "GET") == 0 ? query_context(r, &ctx, &env)
	                                   : body_context(r, &ctx, &env)) != 0) {
		vx_gw_fail_input(r);
		return;
	}
	/* An SDK key evaluates its own environment, as an Unleash frontend
	 * token does (the context's environment is then only a field). */
	in.project = "";
	in.environment =
	    (char *)(strncmp(r->credential, "SdkKey ", 7) == 0 || env == NULL ? "" : env);
	in.context = &ctx;
	if (vx_gw_edge_evaluate_all(r->rpc->edge, r, &in, &out, &st) != 0) {
		vx_gw_fail_status(r, &st);
		return;
	}
	vx_gw_metrics_evals(out);
	o = cJSON_CreateObject();
	toggles = cJSON_AddArrayToObject(o, "toggles");
	ok = toggles != NULL;
	for (size_t i = 0; ok && i < out->n_results; i++)
		if (out->results[i] && enabled(out->results[i]))
			ok = vx_gw_json_append(toggles, toggle_json(out->results[i]));
	if (!ok || (text = cJSON_PrintUnformatted(o)) == NULL) {
		cJSON_Delete(o);
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	cJSON_Delete(o);
	(void)vx_gw_set_header(r, "Cache-Control", "no-cache");
	vx_gw_reply_tagged(r, text);
	free(text);
}

static const vx_gw_route routes[] = {
    {"POST", "/api/client/register", client_register},
    {"POST", "/api/client/metrics", client_metrics},
    {"GET", "/api/frontend", frontend},
    {"POST", "/api/frontend", frontend},
    {"POST", "/api/frontend/client/register", frontend_register},
    {"POST", "/api/frontend/client/metrics", frontend_metrics},
};

/* /api/client is dialect_unleash.c's; both write errors the same way. */
static const char *const prefixes[] = {"/api/frontend", NULL};

const vx_gw_dialect vx_gw_unleash_api_dialect = {
    .name = "unleash-api",
    .prefixes = prefixes,
    .error = vx_gw_sync_error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
};
