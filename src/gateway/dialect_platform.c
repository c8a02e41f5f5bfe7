/*
 * Vexil gateway — the Platform REST API v1 dialect (specs/platform-api-v1.md).
 *
 * A thin adapter, like dialect_flagservice.c: every request first goes to
 * AuthService/Admit with the caller's own credential ("Authorization:
 * ApiKey <key>" becomes "ApiKey <key>"), which authenticates it and takes
 * one request from the key's rate limit, kept in vexild so it holds across
 * gateways. Then the handler maps the document's JSON onto the core calls.
 * Roles, scopes, uniqueness and lengths are the core's; PERMISSION_DENIED
 * is 403, a project outside the key's scope is 404.
 *
 * How the document's model sits on the one domain model (docs/gateway.md):
 *  - ids are "flag-<id>", "rule-<id>", "env-<id>", "key-<id>" and
 *    "proj-<id>" with the core's numeric ids; a wrong prefix or garbage is
 *    404;
 *  - the project: a key bound to one project needs none (the core uses the
 *    key's); a global key names it with `project_id` ("proj-<id>") in the
 *    query, or in the body of a create;
 *  - a flag's `state` is {environment key: enabled} from its per-environment
 *    configs; flags are boolean (variants on/off), or (an extension) of
 *    any type with the variants given;
 *  - a rule is one condition in one environment, serving "on"; or (an
 *    extension) several conditions and segments, serving a variant or a
 *    weighted split;
 *  - segments and prerequisites are extensions onto SegmentService and
 *    UpdateFlagEnv.
 * Errors: {"error":{"code","message","details":{"field","constraint"}}}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "eval/eval.h"
#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/format.h"
#include "gateway/json.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"
#include "gateway/status.h"

#define ON "on"
#define OFF "off"
#define DEFAULT_LIMIT 20
#define MAX_LIMIT 100
#define MAX_LIST 256
#define DEFAULT_PROJECT "default"

/* ---- errors ---- */

static const char *
code_name(int status)
{
	switch (status) {
	case 400: return "invalid_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 411: return "length_required";
	case 413: return "payload_too_large";
	case 429: return "rate_limited";
	case 501: return "not_implemented";
	case 503: return "unavailable";
	case 504: return "timeout";
	case 507: return "insufficient_storage";
	default: return status >= 500 ? "internal_error" : "invalid_request";
	}
}

/* The document's error body. constraint NULL takes a default by status. */
static void
write_error(vx_gw_req *r, int status, const char *field, const char *constraint,
    const char *message)
{
	cJSON *o = cJSON_CreateObject(), *e, *d;

	if (constraint == NULL || *constraint == '\0')
		constraint = status == 404 ? "exists" : status == 409 ? "unique" :
		    status == 400 ? "invalid" : NULL;
	if (o == NULL || (e = cJSON_AddObjectToObject(o, "error")) == NULL ||
	    cJSON_AddStringToObject(e, "code", code_name(status)) == NULL ||
	    cJSON_AddStringToObject(e, "message", message) == NULL ||
	    (d = cJSON_AddObjectToObject(e, "details")) == NULL ||
	    (field && *field ? cJSON_AddStringToObject(d, "field", field) :
	                       cJSON_AddNullToObject(d, "field")) == NULL ||
	    (constraint ? cJSON_AddStringToObject(d, "constraint", constraint) :
	                  cJSON_AddNullToObject(d, "constraint")) == NULL) {
		cJSON_Delete(o);
		o = NULL;
	}
	vx_gw_reply_json(r, status, o);
}

static void
error(vx_gw_req *r, int status, const char *field, const char *message)
{
	write_error(r, status, field, NULL, message);
}

/*
 * The request field a core field path names: the core's paths are its
 * messages' ("flag.key", "rule.conditions.values", "update.name"), the
 * document's are the body's ("key", "values", "name"); the core's
 * "project" is project_id and a flag's environment configs are `state`.
 */
static const char *
body_field(const char *field)
{
	static const char *const strip[] = {
	    "flag.", "update.", "rule.conditions.", "rule.", "env.", "segment."};
	size_t n;

	if (strcmp(field, "project") == 0)
		return "project_id";
	if (strncmp(field, "flag.envs", 9) == 0)
		return "state";
	if (strncmp(field, "rule.conditions", 15) == 0 && field[15] != '.')
		return "values";
	for (size_t i = 0; i < sizeof(strip) / sizeof(strip[0]); i++)
		if (strncmp(field, strip[i], n = strlen(strip[i])) == 0)
			return field + n;
	return field;
}

/* A refused core call, with the core's field (in the document's terms)
 * and constraint. */
static void
fail_call(vx_gw_req *r, const vx_status *st)
{
	const char *field = st->field[0] ? body_field(st->field) : NULL;

	write_error(r, vx_gw_call_status(st), field, st->constraint,
	    st->message[0] ? st->message : vx_code_name(st->code));
}

static void
fail_input(vx_gw_req *r)
{
	vx_gw_fail_input(r);
}

/* ---- ids ---- */

/* Parses "<prefix>-<digits>" into a non-zero id; -1 otherwise. */
static int
id_parse(const char *s, const char *prefix, uint64_t *id)
{
	size_t n = strlen(prefix);

	if (s == NULL || strncmp(s, prefix, n) != 0 || s[n] != '-' || s[n + 1] < '1' ||
	    s[n + 1] > '9' || vx_parse_u64(s + n + 1, id) != 0 || *id == 0)
		return -1;
	return 0;
}

static char *
id_text(vx_gw_req *r, const char *prefix, uint64_t id)
{
	return vx_arena_printf(r->arena, "%s-%llu", prefix, (unsigned long long)id);
}

/* ---- auth and the rate limit ---- */

/*
 * Every request: "Authorization: ApiKey <key>", or (Vexil's extension, for
 * the admin UI and scripts of signed-in users) "Authorization: Bearer
 * <jwt>" from the flag-service API's /auth/login, and AuthService/Admit.
 * false after answering 401 or 429; *who is the admitted key or user.
 * Admitted requests carry the X-RateLimit-* headers, and a 429 also
 * Retry-After (users are not limited).
 */
static bool
admit(vx_gw_req *r, Vexil__V1__AdmitReply **who)
{
	Vexil__V1__AdmitReply *out;
	const char *h = vx_gw_header(r, "Authorization");
	bool user = h != NULL && strncasecmp(h, "Bearer ", 7) == 0;
	vx_status st;
	int rc;

	if (h == NULL || (!user && strncasecmp(h, "ApiKey ", 7) != 0) ||
	    !vx_gw_token_ok(h + 7)) {
		write_error(r, 401, "Authorization", "required",
		    "API key is missing or invalid (Authorization: ApiKey <key>, or "
		    "Bearer <token> from /auth/login)");
		return false;
	}
	if ((r->credential =
	            vx_arena_join(r->arena, user ? "Bearer" : "ApiKey", h + 7)) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return false;
	}
	if ((rc = vx_gw_admit(r, &out, &st)) < 0) {
		fail_call(r, &st);
		return false;
	}
	if (strcmp(out->kind, user ? "user" : "apikey") != 0) {
		write_error(r, 401, "Authorization", user ? "token" : "api_key",
		    user ? "Token is missing or invalid"
		         : "API key is missing or invalid");
		return false;
	}
	if (rc == 1) {
		char msg[160];

		snprintf(msg, sizeof(msg),
		    "Rate limit of %u requests per minute exceeded; retry in %s s",
		    out->rate->limit, vx_gw_res_header(r, "Retry-After"));
		write_error(r, 429, NULL, "rate_limit", msg);
		return false;
	}
	*who = out;
	return true;
}

/*
 * The core's project reference: the id from ?project_id= (or body_ref,
 * from a body), in any form the dialects print (vx_gw_id_parse); without
 * one, "" (the key's own project) for a key bound to a project and
 * "default" for a global key. NULL after answering.
 */
static char *
project_ref(vx_gw_req *r, const Vexil__V1__AdmitReply *who, const char *body_ref)
{
	const char *q = body_ref;
	char *ref;
	uint64_t id;
	int rc;

	if (q == NULL && (rc = vx_gw_query(r, "project_id", &q)) != 1) {
		if (rc < 0) {
			fail_input(r);
			return NULL;
		}
		return (char *)(who->project_id ? "" : DEFAULT_PROJECT);
	}
	if (vx_gw_id_parse(q, VX_GW_KIND_PROJECT, &id) != 0) {
		write_error(r, 404, "project_id", "exists", "Project not found");
		return NULL;
	}
	if ((ref = vx_arena_printf(r->arena, "%llu", (unsigned long long)id)) == NULL)
		vx_gw_fail(r, 500, NULL, "out of memory");
	return ref;
}

/* Loads the flag the id text names (in any form); false after answering. */
static bool
load_flag_id(vx_gw_req *r, const char *project, const char *text, Vexil__V1__Flag **out)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	vx_status st;
	uint64_t id;

	if (vx_gw_id_parse(text, VX_GW_KIND_FLAG, &id) != 0) {
		write_error(r, 404, "flag_id", "exists", "Flag not found");
		return false;
	}
	in.project = (char *)project;
	in.id = id;
	if (vx_get_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, out, &st) != 0) {
		if (st.code == VEXIL__V1__CODE__NOT_FOUND && strcmp(st.field, "project") != 0)
			write_error(r, 404, "flag_id", "exists", "Flag not found");
		else
			fail_call(r, &st);
		return false;
	}
	return true;
}

/* Loads {flag_id}; false after answering. */
static bool
load_flag(vx_gw_req *r, const char *project, Vexil__V1__Flag **out)
{
	return load_flag_id(r, project, vx_gw_param(r, "flag_id"), out);
}

/* ---- JSON out ---- */

static void
put_str(cJSON *o, bool *ok, const char *name, const char *v)
{
	if (*ok && cJSON_AddStringToObject(o, name, v ? v : "") == NULL)
		*ok = false;
}

static void
put_id(vx_gw_req *r, cJSON *o, bool *ok, const char *name, const char *prefix,
    uint64_t id)
{
	char *s = id_text(r, prefix, id);

	if (s == NULL)
		*ok = false;
	put_str(o, ok, name, s);
}

static void
put_time(cJSON *o, bool *ok, const char *name, int64_t ms)
{
	char s[32];

	vx_gw_time_format(s, ms);
	put_str(o, ok, name, s);
}

static void
put_item(cJSON *o, bool *ok, const char *name, cJSON *item)
{
	if (!*ok || item == NULL) {
		cJSON_Delete(item);
		*ok = false;
		return;
	}
	cJSON_AddItemToObject(o, name, item);
}

static cJSON *
strings_json(char **v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++)
		if (!vx_gw_json_append(a, cJSON_CreateString(v[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

static cJSON *
state_json(const Vexil__V1__Flag *f)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < f->n_envs; i++) {
		if (f->envs[i] == NULL)
			continue;
		if (cJSON_AddBoolToObject(o, f->envs[i]->environment, f->envs[i]->enabled) ==
		    NULL) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

/* Vexil's extension: {"<env>": percentage}, the share of the users no
 * rule matches that get the flag in each environment. */
static cJSON *
rollout_json(const Vexil__V1__Flag *f)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < f->n_envs; i++)
		if (f->envs[i] != NULL)
			vx_gw_json_put_num(o, &ok, f->envs[i]->environment,
			    f->envs[i]->rollout_percentage);
	return vx_gw_json_done(o, ok);
}

/*
 * Vexil's extension (docs/gateway.md): {"<env>": [{"flag", "when",
 * "variants"}]} for each environment whose config has prerequisites.
 */
static cJSON *
prereqs_json(const Vexil__V1__Flag *f)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < f->n_envs; i++) {
		const Vexil__V1__FlagEnvConfig *cfg = f->envs[i];
		cJSON *arr;
		if (cfg == NULL || cfg->n_prerequisites == 0)
			continue;
		arr = cJSON_CreateArray();
		for (size_t k = 0; arr && k < cfg->n_prerequisites; k++) {
			const Vexil__V1__Prerequisite *p = cfg->prerequisites[k];
			cJSON *e = cJSON_CreateObject();
			bool eok = e != NULL;
			put_str(e, &eok, "flag", p->flag_key);
			put_str(e, &eok, "when", p->when_off ? "off" : "on");
			put_item(e, &eok, "variants",
			    strings_json(p->variants, p->n_variants));
			if (!vx_gw_json_append(arr, vx_gw_json_done(e, eok))) {
				cJSON_Delete(arr);
				arr = NULL;
			}
		}
		put_item(o, &ok, cfg->environment, arr);
	}
	return vx_gw_json_done(o, ok);
}

static const char *const flag_types[] = {"boolean", "string", "number", "json"};

static const char *
type_name(Vexil__V1__FlagType t)
{
	return (unsigned)t < 4 ? flag_types[t] : "boolean";
}

/* A variant's value: its JSON text as JSON (a string when it is not). */
static cJSON *
value_json(const char *text)
{
	cJSON *v = cJSON_Parse(text ? text : "");

	return v ? v : cJSON_CreateString(text ? text : "");
}

static cJSON *
variants_json(const Vexil__V1__Flag *f)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < f->n_variants; i++) {
		cJSON *o = cJSON_CreateObject();
		bool ok = o != NULL;
		put_str(o, &ok, "key", f->variants[i]->key);
		put_item(o, &ok, "value", value_json(f->variants[i]->value));
		put_str(o, &ok, "description", f->variants[i]->description);
		if (!vx_gw_json_append(a, vx_gw_json_done(o, ok))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

/* {"<env>": variant key}: each environment's default (or off) variant. */
static cJSON *
env_variants_json(const Vexil__V1__Flag *f, bool off)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < f->n_envs; i++)
		if (f->envs[i] != NULL)
			put_str(o, &ok, f->envs[i]->environment,
			    off ? f->envs[i]->off_variant : f->envs[i]->default_variant);
	return vx_gw_json_done(o, ok);
}

static cJSON *
condition_json(const Vexil__V1__Condition *c)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_str(o, &ok, "attribute", c->attribute);
	put_str(o, &ok, "operator", c->operator_);
	put_item(o, &ok, "values", strings_json(c->values, c->n_values));
	put_item(o, &ok, "negate", cJSON_CreateBool(c->negate));
	put_item(o, &ok, "missing", cJSON_CreateBool(c->missing));
	put_item(o, &ok, "case_insensitive", cJSON_CreateBool(c->case_insensitive));
	return vx_gw_json_done(o, ok);
}

static cJSON *
conditions_json(Vexil__V1__Condition *const *cs, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++)
		if (!vx_gw_json_append(a, condition_json(cs[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

static cJSON *
split_json(const Vexil__V1__Rule *rl)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < rl->n_split; i++) {
		cJSON *o = cJSON_CreateObject();
		bool ok = o != NULL;
		put_str(o, &ok, "variant", rl->split[i]->variant);
		vx_gw_json_put_num(o, &ok, "weight", rl->split[i]->weight);
		if (!vx_gw_json_append(a, vx_gw_json_done(o, ok))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static cJSON *
rule_json(vx_gw_req *r, const Vexil__V1__Rule *rl, const char *env)
{
	const Vexil__V1__Condition *c = rl->n_conditions > 0 ? rl->conditions[0] : NULL;
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "rule", rl->id);
	put_str(o, &ok, "type", strcmp(c ? c->attribute : "", "user_id") == 0 ||
	    strcmp(c ? c->attribute : "", "email") == 0 ||
	    strcmp(c ? c->attribute : "", "groups") == 0 ? "user" : "attribute");
	put_str(o, &ok, "attribute", c ? c->attribute : "");
	put_str(o, &ok, "operator", c ? c->operator_ : "");
	put_item(o, &ok, "values", c ? strings_json(c->values, c->n_values) :
	    cJSON_CreateArray());
	put_item(o, &ok, "negate", cJSON_CreateBool(c && c->negate));
	put_item(o, &ok, "missing", cJSON_CreateBool(c && c->missing));
	/* Vexil's extensions: the segments the rule names, its priority
	 * (higher first) and the share of matching users it serves
	 * (docs/gateway.md). */
	put_item(o, &ok, "segments", strings_json(rl->segments, rl->n_segments));
	vx_gw_json_put_num(o, &ok, "priority", rl->priority);
	put_item(o, &ok, "rollout",
	    rl->rollout ? cJSON_CreateNumber(rl->rollout->percentage)
	                : cJSON_CreateNull());
	/* Vexil's extensions: every condition (all must hold), and what the
	 * rule serves: a variant, or a weighted split with its stickiness. */
	put_item(o, &ok, "conditions", conditions_json(rl->conditions, rl->n_conditions));
	put_str(o, &ok, "variant", rl->variant);
	put_item(o, &ok, "split", split_json(rl));
	put_str(o, &ok, "split_stickiness", rl->split_stickiness);
	put_str(o, &ok, "environment", env);
	put_time(o, &ok, "created_at", rl->created_at);
	return vx_gw_json_done(o, ok);
}

static cJSON *
flag_json(vx_gw_req *r, const Vexil__V1__Flag *f, bool rules)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "flag", f->id);
	put_id(r, o, &ok, "project_id", "proj", f->project_id);
	put_str(o, &ok, "key", f->key);
	put_str(o, &ok, "name", f->name);
	put_str(o, &ok, "description", f->description);
	put_time(o, &ok, "created_at", f->created_at);
	put_time(o, &ok, "updated_at", f->updated_at);
	put_item(o, &ok, "state", state_json(f));
	put_item(o, &ok, "tags", strings_json(f->tags, f->n_tags));
	put_item(o, &ok, "prerequisites", prereqs_json(f));
	put_item(o, &ok, "rollout", rollout_json(f));
	/* Vexil's extensions: the type, the variants and what each
	 * environment serves by default and when off. */
	put_str(o, &ok, "type", type_name(f->type));
	put_item(o, &ok, "variants", variants_json(f));
	put_item(o, &ok, "default_variant", env_variants_json(f, false));
	put_item(o, &ok, "off_variant", env_variants_json(f, true));
	if (rules && ok) {
		arr = cJSON_CreateArray();
		for (size_t i = 0; arr && i < f->n_envs; i++) {
			const Vexil__V1__FlagEnvConfig *cfg = f->envs[i];
			for (size_t k = 0; cfg && k < cfg->n_rules; k++)
				if (!vx_gw_json_append(arr, rule_json(r, cfg->rules[k], cfg->environment))) {
					cJSON_Delete(arr);
					arr = NULL;
					break;
				}
		}
		put_item(o, &ok, "rules", arr);
	}
	return vx_gw_json_done(o, ok);
}

/* ---- JSON in ---- */

/* An optional array of strings; same contract as the json.h readers. The
 * array is in the arena. */
static int
json_strings(vx_gw_req *r, const cJSON *obj, const char *name, char ***out, size_t *n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name), *e;
	char **items;
	size_t i = 0;
	int cnt;

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return vx_gw_json_refuse(r, name, "%s must be an array of strings", name);
	if ((cnt = cJSON_GetArraySize(v)) > MAX_LIST)
		return vx_gw_json_refuse(r, name, "%s has more than %d items", name, MAX_LIST);
	if ((items = vx_arena_alloc(r->arena, (size_t)(cnt ? cnt : 1) * sizeof(*items))) ==
	    NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsString(e))
			return vx_gw_json_refuse(r, name, "%s must be an array of strings", name);
		items[i++] = e->valuestring;
	}
	*out = items;
	*n = i;
	return 1;
}

/* "operator must be one of equals, in, ...": the engine's own list. */
static void
operator_message(char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "operator must be one of ");

	for (int i = 0; i < VX_OP_COUNT_ && n < cap; i++)
		n += (size_t)snprintf(
		    buf + n, cap - n, "%s%s", i ? ", " : "", vx_op_name(i));
}

/* ---- variants, conditions and splits (extensions, docs/gateway.md) ---- */

/* An optional array of objects `name`; *items points into the body. Same
 * contract as the json.h readers. */
static int
json_objects(vx_gw_req *r, const cJSON *obj, const char *name, const cJSON **arr, int *n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name), *e;

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return vx_gw_json_refuse(r, name, "%s must be an array of objects", name);
	if ((*n = cJSON_GetArraySize(v)) > MAX_LIST)
		return vx_gw_json_refuse(
		    r, name, "%s has more than %d items", name, MAX_LIST);
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsObject(e))
			return vx_gw_json_refuse(
			    r, name, "%s must be an array of objects", name);
	}
	*arr = v;
	return 1;
}

/* Room for n pointers to messages of size sz, each initialised by init. */
static void **
arena_msgs(vx_gw_req *r, int n, size_t sz, void (*init)(void *))
{
	void **v = vx_arena_alloc(r->arena, (size_t)(n ? n : 1) * sizeof(*v));

	for (int i = 0; v && i < n; i++)
		if ((v[i] = vx_arena_alloc(r->arena, sz)) == NULL)
			return NULL;
		else
			init(v[i]);
	return v;
}

static void
init_variant(void *m)
{
	vexil__v1__variant__init(m);
}

static void
init_condition(void *m)
{
	vexil__v1__condition__init(m);
}

static void
init_weighted(void *m)
{
	vexil__v1__weighted_variant__init(m);
}

static void
init_prereq(void *m)
{
	vexil__v1__prerequisite__init(m);
}

/*
 * `variants`: [{key, value, description?}], value any JSON (kept as its
 * JSON text, the core's form). Same contract as the json.h readers.
 */
static int
json_variants(vx_gw_req *r, const cJSON *obj, Vexil__V1__Variant ***out, size_t *n)
{
	const cJSON *arr = NULL, *e;
	Vexil__V1__Variant **v;
	int cnt = 0, rc, i = 0;

	if ((rc = json_objects(r, obj, "variants", &arr, &cnt)) <= 0)
		return rc;
	if ((v = (Vexil__V1__Variant **)arena_msgs(r, cnt, sizeof(**v), init_variant)) ==
	    NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(e, "value");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "description");
		char *text;

		if (!cJSON_IsString(k) || *k->valuestring == '\0')
			return vx_gw_json_refuse(r, "variants.key",
			    "variants[%d].key must be a non-empty string", i);
		if (val == NULL || cJSON_IsNull(val))
			return vx_gw_json_refuse(
			    r, "variants.value", "variants[%d].value is required", i);
		if (d != NULL && !cJSON_IsNull(d) && !cJSON_IsString(d))
			return vx_gw_json_refuse(r, "variants.description",
			    "variants[%d].description must be a string", i);
		if ((text = cJSON_PrintUnformatted(val)) == NULL)
			return vx_gw_json_refuse(r, NULL, "out of memory");
		v[i]->value = vx_arena_strdup(r->arena, text);
		free(text);
		if (v[i]->value == NULL)
			return vx_gw_json_refuse(r, NULL, "out of memory");
		v[i]->key = k->valuestring;
		v[i]->description = cJSON_IsString(d) ? d->valuestring : "";
		i++;
	}
	*out = v;
	*n = (size_t)i;
	return 1;
}

/* `type`: boolean, string, number or json. Same contract. */
static int
json_type(vx_gw_req *r, const cJSON *obj, Vexil__V1__FlagType *out)
{
	const char *t;
	int rc;

	if ((rc = vx_gw_json_string(r, obj, "type", &t)) <= 0)
		return rc;
	for (int i = 0; i < 4; i++)
		if (strcmp(t, flag_types[i]) == 0) {
			*out = (Vexil__V1__FlagType)i;
			return 1;
		}
	return vx_gw_json_refuse(
	    r, "type", "type must be boolean, string, number or json");
}

/*
 * `conditions`: [{attribute, operator, values, negate?, missing?,
 * case_insensitive?}], every one must hold. The operator is checked here
 * against the engine's list (as the one-condition form is); the rest is
 * the core's. Same contract.
 */
static int
json_conditions(vx_gw_req *r, const cJSON *obj, Vexil__V1__Condition ***out, size_t *n)
{
	const cJSON *arr = NULL, *e;
	Vexil__V1__Condition **v;
	int cnt = 0, rc, i = 0, opn;

	if ((rc = json_objects(r, obj, "conditions", &arr, &cnt)) <= 0)
		return rc;
	if ((v = (Vexil__V1__Condition **)arena_msgs(
	         r, cnt, sizeof(**v), init_condition)) == NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	cJSON_ArrayForEach(e, arr)
	{
		const char *attr = NULL, *op = NULL;
		bool negate = false, missing = false, ci = false;

		if (vx_gw_json_string(r, e, "attribute", &attr) != 1 || *attr == '\0')
			return vx_gw_json_refuse(r, "conditions.attribute",
			    "conditions[%d].attribute must be a non-empty string", i);
		if (vx_gw_json_string(r, e, "operator", &op) != 1 ||
		    vx_op_from_string(op, &opn) != VX_EVAL_OK) {
			char msg[320];
			operator_message(msg, sizeof(msg));
			return vx_gw_json_refuse(
			    r, "conditions.operator", "conditions[%d].%s", i, msg);
		}
		if (json_strings(r, e, "values", &v[i]->values, &v[i]->n_values) < 0)
			return vx_gw_json_refuse(r, "conditions.values",
			    "conditions[%d].values must be an array of strings", i);
		if (vx_gw_json_bool(r, e, "negate", &negate) < 0 ||
		    vx_gw_json_bool(r, e, "missing", &missing) < 0 ||
		    vx_gw_json_bool(r, e, "case_insensitive", &ci) < 0)
			return vx_gw_json_refuse(r, "conditions", "conditions[%d]: %s", i,
			    "negate, missing and case_insensitive must be booleans");
		v[i]->attribute = (char *)attr;
		v[i]->operator_ = (char *)op;
		v[i]->negate = negate;
		v[i]->missing = missing;
		v[i]->case_insensitive = ci;
		i++;
	}
	*out = v;
	*n = (size_t)i;
	return 1;
}

/* `split`: [{variant, weight}], weights relative (the core's: each at most
 * 10000, not all 0). Same contract. */
static int
json_split(vx_gw_req *r, const cJSON *obj, Vexil__V1__WeightedVariant ***out, size_t *n)
{
	const cJSON *arr = NULL, *e;
	Vexil__V1__WeightedVariant **v;
	int cnt = 0, rc, i = 0;

	if ((rc = json_objects(r, obj, "split", &arr, &cnt)) <= 0)
		return rc;
	if ((v = (Vexil__V1__WeightedVariant **)arena_msgs(
	         r, cnt, sizeof(**v), init_weighted)) == NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	cJSON_ArrayForEach(e, arr)
	{
		const char *var = NULL;
		int64_t w = 0;

		if (vx_gw_json_string(r, e, "variant", &var) != 1)
			return vx_gw_json_refuse(
			    r, "split.variant", "split[%d].variant must be a string", i);
		if (vx_gw_json_int(r, e, "weight", 0, UINT32_MAX, &w) != 1)
			return vx_gw_json_refuse(r, "split.weight",
			    "split[%d].weight must be a non-negative integer", i);
		v[i]->variant = (char *)var;
		v[i]->weight = (uint32_t)w;
		i++;
	}
	*out = v;
	*n = (size_t)i;
	return 1;
}

/* ---- flags ---- */

/* ---- scheduled writes and stale flags (extensions, docs/gateway.md) ---- */

static cJSON *
schedule_json(vx_gw_req *r, const Vexil__V1__Schedule *sc)
{
	cJSON *o = cJSON_CreateObject(), *e;
	bool ok = o != NULL;
	const char *slash = strrchr(sc->method, '/');

	put_id(r, o, &ok, "id", "schedule", sc->id);
	put_time(o, &ok, "at", sc->at);
	put_str(o, &ok, "state",
	    sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED ? "failed"
	    : sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW
	        ? "review" /* a change request (docs/teams.md) */
	        : "pending");
	put_str(o, &ok, "operation", slash ? slash + 1 : sc->method);
	put_str(o, &ok, "target", sc->target);
	put_str(o, &ok, "created_by", sc->actor);
	put_time(o, &ok, "created_at", sc->created_at);
	if (sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED && sc->error) {
		e = cJSON_CreateObject();
		put_str(e, &ok, "code", vx_code_name(sc->error->code));
		put_str(e, &ok, "message", sc->error->message);
		put_time(e, &ok, "failed_at", sc->failed_at);
		put_item(o, &ok, "error", e);
	} else if (ok) {
		ok = cJSON_AddNullToObject(o, "error") != NULL;
	}
	return vx_gw_json_done(o, ok);
}

static cJSON *
schedule_item(vx_gw_req *r, const void *sc)
{
	return schedule_json(r, sc);
}

/* 200 with {name: [item(each)]}, as the list routes answer. */
static void
reply_items(vx_gw_req *r, const char *name, const void *const *items, size_t n,
    cJSON *(*item)(vx_gw_req *r, const void *))
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
	bool ok = o != NULL;

	for (size_t i = 0; arr && i < n; i++)
		if (!vx_gw_json_append(arr, item(r, items[i]))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	put_item(o, &ok, name, arr);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/*
 * `?at=<RFC 3339>` on a write: instead of making it, schedules the core
 * write `method` with input `in` for that time (ScheduleService) and
 * answers 202 with the schedule. false (nothing done) without `at`; true
 * after answering.
 */
static bool
scheduled(vx_gw_req *r, const char *method, const ProtobufCMessage *in)
{
	Vexil__V1__CreateScheduleRequest req = VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Schedule *out;
	const char *at;
	vx_status st;
	int rc;

	if ((rc = vx_gw_query(r, "at", &at)) == 0)
		return false;
	if (rc < 0) {
		fail_input(r);
		return true;
	}
	if (!vx_parse_rfc3339_ms(at, &req.at)) {
		write_error(r, 400, "at", "format",
		    "at must be an RFC 3339 time, such as 2026-12-24T09:00:00Z");
		return true;
	}
	req.method = (char *)method;
	req.payload.len = protobuf_c_message_get_packed_size(in);
	if ((req.payload.data = vx_arena_alloc(r->arena, req.payload.len + 1)) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return true;
	}
	protobuf_c_message_pack(in, req.payload.data);
	if (vx_create_schedule_as(vx_gw_client(r), VX_GW_OPTS(r), &req, &out, &st) != 0)
		fail_call(r, &st);
	else
		vx_gw_reply_json(r, 202, schedule_json(r, out));
	return true;
}

static void
schedule_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListSchedulesRequest in = VEXIL__V1__LIST_SCHEDULES_REQUEST__INIT;
	Vexil__V1__ScheduleList *out;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_list_schedules_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	reply_items(r, "schedules", (const void *const *)out->schedules, out->n_schedules,
	    schedule_item);
}

static void
schedule_delete(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CancelScheduleRequest in = VEXIL__V1__CANCEL_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Empty *e;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (id_parse(vx_gw_param(r, "schedule_id"), "schedule", &in.id) != 0) {
		write_error(r, 404, "schedule_id", "exists", "Schedule not found");
		return;
	}
	if (vx_cancel_schedule_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		if (st.code == VEXIL__V1__CODE__NOT_FOUND)
			write_error(
			    r, 404, "schedule_id", "exists", "Schedule not found");
		else
			fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* ---- change requests (extensions, docs/teams.md) ---- */

static cJSON *
change_json(vx_gw_req *r, const Vexil__V1__Schedule *sc)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray(), *c;
	const Vexil__V1__ChangeReview *rv = sc->review;
	bool ok = o != NULL && rv != NULL;
	const char *slash = strrchr(sc->method, '/');

	put_id(r, o, &ok, "id", "change", sc->id);
	/* approved: made now (at null), or a schedule waiting for its time */
	put_str(o, &ok, "state",
	    sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW
	        ? "open"
	        : "approved");
	if (rv != NULL && *rv->approved_by)
		put_str(o, &ok, "approved_by", rv->approved_by);
	put_str(o, &ok, "operation", slash ? slash + 1 : sc->method);
	put_str(o, &ok, "target", sc->target);
	put_str(o, &ok, "environment", rv ? rv->environment : "");
	/* What the write changes: "field: old → new" lines, as in the audit. */
	put_str(o, &ok, "diff", rv ? rv->diff : "");
	if (ok)
		ok = cJSON_AddNumberToObject(
		         o, "base_revision", rv ? (double)rv->base_revision : 0) != NULL;
	put_str(o, &ok, "created_by", sc->actor);
	put_time(o, &ok, "created_at", sc->created_at);
	if (sc->at != 0)
		put_time(o, &ok, "at", sc->at);
	else if (ok)
		ok = cJSON_AddNullToObject(o, "at") != NULL;
	for (size_t i = 0; ok && arr && rv && i < rv->n_comments; i++) {
		bool cok = (c = cJSON_CreateObject()) != NULL;
		put_str(c, &cok, "by", rv->comments[i]->actor);
		put_time(c, &cok, "at", rv->comments[i]->time);
		put_str(c, &cok, "text", rv->comments[i]->text);
		if (!vx_gw_json_append(arr, vx_gw_json_done(c, cok))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	put_item(o, &ok, "comments", arr);
	return vx_gw_json_done(o, ok);
}

static cJSON *
change_item(vx_gw_req *r, const void *sc)
{
	return change_json(r, sc);
}

static void
change_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListChangesRequest in = VEXIL__V1__LIST_CHANGES_REQUEST__INIT;
	Vexil__V1__ChangeList *out;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_list_changes_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	reply_items(r, "change_requests", (const void *const *)out->changes,
	    out->n_changes, change_item);
}

/* Admits the request and reads its project and the "<prefix>-<id>" of
 * path parameter param (404 `missing` when malformed); false after
 * answering. */
static bool
path_ref(vx_gw_req *r, const char *param, const char *prefix, const char *missing,
    char **project, uint64_t *id)
{
	Vexil__V1__AdmitReply *who;

	if (!admit(r, &who) || (*project = project_ref(r, who, NULL)) == NULL)
		return false;
	if (id_parse(vx_gw_param(r, param), prefix, id) != 0) {
		write_error(r, 404, param, "exists", missing);
		return false;
	}
	return true;
}

/* The {change_id} of the path, in ref; false after answering. */
static bool
change_ref(vx_gw_req *r, Vexil__V1__ChangeRef *ref)
{
	return path_ref(r, "change_id", "change", "Change request not found",
	    &ref->project, &ref->id);
}

static void
fail_change(vx_gw_req *r, const vx_status *st)
{
	if (st->code == VEXIL__V1__CODE__NOT_FOUND && strcmp(st->field, "id") == 0)
		write_error(r, 404, "change_id", "exists", "Change request not found");
	else if (st->code == VEXIL__V1__CODE__FAILED_PRECONDITION &&
	         strcmp(st->constraint, "stale") == 0)
		write_error(r, 409, "change_id", "stale", st->message);
	else
		fail_call(r, st);
}

static void
change_approve(vx_gw_req *r)
{
	Vexil__V1__ChangeRef in = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *out;
	vx_status st;

	if (!change_ref(r, &in))
		return;
	if (vx_approve_change_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0)
		fail_change(r, &st);
	else
		vx_gw_reply_json(r, 200, change_json(r, out));
}

/* Reject or withdraw: 204. */
static void
change_drop(vx_gw_req *r, bool withdraw)
{
	Vexil__V1__ChangeRef in = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Empty *e;
	vx_status st;
	int rc;

	if (!change_ref(r, &in))
		return;
	rc = withdraw
	         ? vx_withdraw_change_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st)
	         : vx_reject_change_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st);
	if (rc != 0)
		fail_change(r, &st);
	else
		vx_gw_reply_empty(r, 204);
}

static void
change_reject(vx_gw_req *r)
{
	change_drop(r, false);
}

static void
change_withdraw(vx_gw_req *r)
{
	change_drop(r, true);
}

static void
change_comment(vx_gw_req *r)
{
	Vexil__V1__CommentChangeRequest in = VEXIL__V1__COMMENT_CHANGE_REQUEST__INIT;
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *out;
	const char *text = NULL;
	vx_status st;
	cJSON *b;

	if (!change_ref(r, &ref))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    vx_gw_json_string(r, b, "text", &text) < 0) {
		fail_input(r);
		return;
	}
	in.ref = &ref;
	in.text = (char *)(text ? text : "");
	if (vx_comment_change_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0)
		fail_change(r, &st);
	else
		vx_gw_reply_json(r, 201, change_json(r, out));
}

/* A day number as its date, or null for 0 (never). */
static void
put_day(cJSON *o, bool *ok, const char *name, int32_t day)
{
	char s[32];

	if (day == 0) {
		if (*ok)
			*ok = cJSON_AddNullToObject(o, name) != NULL;
		return;
	}
	vx_gw_time_format(s, (int64_t)day * 86400000);
	s[10] = '\0';
	put_str(o, ok, name, s);
}

static void
flags_stale(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__StaleFlagsRequest in = VEXIL__V1__STALE_FLAGS_REQUEST__INIT;
	Vexil__V1__StaleFlagsReply *out;
	const char *q;
	uint64_t days = 30;
	cJSON *o, *arr;
	vx_status st;
	bool ok;
	int rc;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if ((rc = vx_gw_query(r, "days", &q)) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 1 && (vx_parse_u64(q, &days) != 0 || days == 0 || days > 3650)) {
		write_error(
		    r, 400, "days", "range", "days must be an integer from 1 to 3650");
		return;
	}
	in.days = (uint32_t)days;
	if (vx_stale_flags_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_flags; i++) {
		const Vexil__V1__StaleFlag *f = out->flags[i];
		cJSON *fj = cJSON_CreateObject(), *last = cJSON_CreateObject();
		bool fok = fj != NULL;
		put_str(fj, &fok, "key", f->key);
		put_str(fj, &fok, "reason",
		    f->reason == VEXIL__V1__STALE_REASON__STALE_ONE_VARIANT
		        ? "one_variant"
		        : "not_evaluated");
		if (*f->variant)
			put_str(fj, &fok, "variant", f->variant);
		else if (fok)
			fok = cJSON_AddNullToObject(fj, "variant") != NULL;
		put_time(fj, &fok, "created_at", f->created_at);
		for (size_t j = 0; last && j < f->n_envs; j++)
			put_day(
			    last, &fok, f->envs[j]->environment, f->envs[j]->last_day);
		put_item(fj, &fok, "last_evaluated", last);
		if (!vx_gw_json_append(arr, vx_gw_json_done(fj, fok))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	vx_gw_json_put_num(o, &ok, "days", out->days);
	put_day(o, &ok, "since", out->from_day);
	put_item(o, &ok, "flags", arr);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/*
 * Vexil's extension on writes: ?if_revision=N, the project's revision the
 * caller read (GET /v1/projects, or the id of the last event of
 * /ofrep/v1/events); the core refuses the write, changing nothing, when
 * the project has moved on since (400 naming if_revision). 0 when absent;
 * false after answering.
 */
static bool
if_revision(vx_gw_req *r, uint64_t *out)
{
	const char *q;
	int rc;

	*out = 0;
	if ((rc = vx_gw_query(r, "if_revision", &q)) < 0) {
		fail_input(r);
		return false;
	}
	if (rc == 1 && (vx_parse_u64(q, out) != 0 || *out == 0)) {
		write_error(r, 400, "if_revision", "range",
		    "if_revision must be a revision number (1 or more)");
		return false;
	}
	return true;
}

static void
flag_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	const char *q, *env = NULL;
	uint64_t limit = DEFAULT_LIMIT, offset = 0, eid;
	char *project;
	vx_status st;
	cJSON *o, *arr;
	bool ok;
	int rc;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if ((rc = vx_gw_query(r, "limit", &q)) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 1 && (vx_parse_u64(q, &limit) != 0 || limit < 1 || limit > MAX_LIMIT)) {
		write_error(r, 400, "limit", "range", "limit must be an integer from 1 to 100");
		return;
	}
	if ((rc = vx_gw_query(r, "offset", &q)) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 1 && (vx_parse_u64(q, &offset) != 0 || offset > UINT32_MAX)) {
		write_error(r, 400, "offset", "range", "offset must be a non-negative integer");
		return;
	}
	if ((rc = vx_gw_query(r, "environment_id", &q)) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 1) {
		/* The environment as a filter: it must exist, and every flag has a
		 * config in every environment, so it narrows nothing else. */
		Vexil__V1__ListEnvironmentsRequest le = VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
		Vexil__V1__EnvironmentList *envs;
		if (id_parse(q, "env", &eid) != 0) {
			write_error(r, 404, "environment_id", "exists", "Environment not found");
			return;
		}
		le.project = project;
		if (vx_list_environments_as(vx_gw_client(r), VX_GW_OPTS(r), &le, &envs, &st) != 0) {
			fail_call(r, &st);
			return;
		}
		for (size_t i = 0; i < envs->n_environments; i++)
			if (envs->environments[i]->id == eid)
				env = envs->environments[i]->key;
		if (env == NULL) {
			write_error(r, 404, "environment_id", "exists", "Environment not found");
			return;
		}
	}
	/* Vexil's extensions: ?tag= (exact) and ?q= (key, name or a tag
	 * containing it), filtered in the core so paging stays right. */
	if ((rc = vx_gw_query(r, "tag", &q)) < 0) {
		fail_input(r);
		return;
	}
	in.tag = rc == 1 ? (char *)q : "";
	if ((rc = vx_gw_query(r, "q", &q)) < 0) {
		fail_input(r);
		return;
	}
	in.search = rc == 1 ? (char *)q : "";
	in.project = project;
	in.limit = (uint32_t)limit;
	in.offset = (uint32_t)offset;
	if (vx_list_flags_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_flags; i++) {
		cJSON *fj = flag_json(r, out->flags[i], false);
		/* With environment_id, state shows that environment only. */
		if (fj && env) {
			cJSON *s = cJSON_GetObjectItemCaseSensitive(fj, "state"), *c;
			for (c = s ? s->child : NULL; c;) {
				cJSON *next = c->next;
				if (strcmp(c->string, env) != 0)
					cJSON_Delete(cJSON_DetachItemViaPointer(s, c));
				c = next;
			}
		}
		if (!vx_gw_json_append(arr, fj)) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	put_item(o, &ok, "flags", arr);
	vx_gw_json_put_num(o, &ok, "total", out->total);
	vx_gw_json_put_num(o, &ok, "limit", (double)limit);
	vx_gw_json_put_num(o, &ok, "offset", (double)offset);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

static void
flag_get(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__Flag *f;
	char *project;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL ||
	    !load_flag(r, project, &f))
		return;
	vx_gw_reply_json(r, 200, flag_json(r, f, true));
}

/* {env: bool} into FlagEnvConfigs (in the arena). */
static int
read_state(vx_gw_req *r, const cJSON *state, Vexil__V1__FlagEnvConfig ***out, size_t *n)
{
	int cnt = cJSON_GetArraySize(state);
	Vexil__V1__FlagEnvConfig **envs;
	const cJSON *v;
	size_t i = 0;

	if (cnt > MAX_LIST)
		return vx_gw_json_refuse(r, "state", "state has more than %d entries", MAX_LIST);
	if ((envs = vx_arena_alloc(r->arena, (size_t)(cnt ? cnt : 1) * sizeof(*envs))) ==
	    NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	cJSON_ArrayForEach(v, state)
	{
		Vexil__V1__FlagEnvConfig *c = vx_arena_alloc(r->arena, sizeof(*c));
		if (c == NULL)
			return vx_gw_json_refuse(r, NULL, "out of memory");
		if (!cJSON_IsBool(v))
			return vx_gw_json_refuse(r, "state", "state.%.64s must be a boolean",
			    v->string);
		vexil__v1__flag_env_config__init(c);
		c->environment = v->string;
		c->enabled = cJSON_IsTrue(v);
		/* Empty: the core's, the flag's first and last variants. */
		c->default_variant = "";
		c->off_variant = "";
		/* The core's default for environments not given: everyone. */
		c->rollout_percentage = 100;
		envs[i++] = c;
	}
	*out = envs;
	*n = i;
	return 0;
}

static void
flag_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Variant von = VEXIL__V1__VARIANT__INIT, voff = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant *variants[] = {&von, &voff};
	const char *key = NULL, *name = NULL, *desc = NULL, *pid = NULL;
	const cJSON *state = NULL;
	char *project;
	vx_status st;
	cJSON *b;
	int k, n, nv;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 || json_type(r, b, &f.type) < 0 ||
	    (nv = json_variants(r, b, &f.variants, &f.n_variants)) < 0 ||
	    (k = vx_gw_json_string(r, b, "key", &key)) < 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    vx_gw_json_string(r, b, "description", &desc) < 0 ||
	    vx_gw_json_string(r, b, "project_id", &pid) < 0 ||
	    vx_gw_json_object(r, b, "state", &state) < 0 ||
	    json_strings(r, b, "tags", &f.tags, &f.n_tags) < 0 ||
	    (state && read_state(r, state, &f.envs, &f.n_envs) != 0)) {
		fail_input(r);
		return;
	}
	if (k == 0 || *key == '\0') {
		write_error(r, 400, "key", "required", "key is required");
		return;
	}
	if ((project = project_ref(r, who, pid)) == NULL)
		return;
	f.key = (char *)key;
	f.name = (char *)(n == 1 && *name ? name : key);
	f.description = (char *)(desc ? desc : "");
	/* Vexil's extension: `type` and `variants`; without them a boolean
	 * flag with variants on and off, as the document has it. */
	if (nv == 0 && f.type != VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN) {
		write_error(r, 400, "variants", "required",
		    "variants is required for a string, number or json flag");
		return;
	}
	if (nv == 0) {
		von.key = ON;
		von.value = "true";
		voff.key = OFF;
		voff.value = "false";
		f.variants = variants;
		f.n_variants = 2;
	}
	in.project = project;
	in.flag = &f;
	if (scheduled(r, "vexil.v1.FlagService/CreateFlag", &in.base))
		return;
	if (vx_create_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, flag_json(r, out, false));
}

static void
flag_update(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *f;
	const char *name = NULL, *desc = NULL, *key = NULL;
	char *project, *mask[5];
	vx_status st;
	cJSON *b;
	int n, d, t, k, ty, nv;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, true, &b) != 0 || (ty = json_type(r, b, &upd.type)) < 0 ||
	    (nv = json_variants(r, b, &upd.variants, &upd.n_variants)) < 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    (d = vx_gw_json_string(r, b, "description", &desc)) < 0 ||
	    (k = vx_gw_json_string(r, b, "key", &key)) < 0 ||
	    (t = json_strings(r, b, "tags", &upd.tags, &upd.n_tags)) < 0) {
		fail_input(r);
		return;
	}
	if (n == 1 && *name == '\0') {
		write_error(r, 400, "name", "required", "name cannot be empty");
		return;
	}
	if (!if_revision(r, &in.if_revision) || !load_flag(r, project, &f))
		return;
	if (k == 1 && strcmp(key, f->key) != 0) {
		write_error(r, 400, "key", "immutable", "a flag's key cannot change");
		return;
	}
	if (n == 1) {
		upd.name = (char *)name;
		mask[in.n_update_mask++] = "name";
	}
	if (d == 1) {
		upd.description = (char *)desc;
		mask[in.n_update_mask++] = "description";
	}
	if (t == 1)
		mask[in.n_update_mask++] = "tags";
	/* Vexil's extension: the type and the variants, checked by the core
	 * against every environment and rule that names one. */
	if (ty == 1)
		mask[in.n_update_mask++] = "type";
	if (nv == 1)
		mask[in.n_update_mask++] = "variants";
	if (in.n_update_mask > 0) {
		in.project = project;
		in.key = f->key;
		in.update = &upd;
		in.update_mask = mask;
		if (scheduled(r, "vexil.v1.FlagService/UpdateFlag", &in.base))
			return;
		if (vx_update_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &f, &st) != 0) {
			fail_call(r, &st);
			return;
		}
	}
	vx_gw_reply_json(r, 200, flag_json(r, f, false));
}

/*
 * PATCH .../state: {environment, enabled} is SetFlagEnabled. Vexil's
 * extension: with `rollout_percentage` (0..100), `default_variant` or
 * `off_variant` (`enabled` then optional) it is one UpdateFlag of that
 * environment's fields given instead.
 */
static void
flag_state(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	const char *env = NULL, *dv = NULL, *ov = NULL;
	bool enabled = false;
	int64_t pct = 0;
	char *mask[4];
	Vexil__V1__Flag *f;
	char *project;
	vx_status st;
	cJSON *b, *o;
	bool ok;
	int e, en, ro, rc, d, of;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (e = vx_gw_json_string(r, b, "environment", &env)) < 0 ||
	    (en = vx_gw_json_bool(r, b, "enabled", &enabled)) < 0 ||
	    (ro = vx_gw_json_int(r, b, "rollout_percentage", 0, 100, &pct)) < 0 ||
	    (d = vx_gw_json_string(r, b, "default_variant", &dv)) < 0 ||
	    (of = vx_gw_json_string(r, b, "off_variant", &ov)) < 0) {
		fail_input(r);
		return;
	}
	if (e == 0 || *env == '\0') {
		write_error(r, 400, "environment", "required", "environment is required");
		return;
	}
	if (en == 0 && ro == 0 && d == 0 && of == 0) {
		write_error(r, 400, "enabled", "required", "enabled is required");
		return;
	}
	if (!if_revision(r, &in.if_revision) || !load_flag(r, project, &f))
		return;
	if (ro == 0 && d == 0 && of == 0) {
		in.project = project;
		in.key = f->key;
		in.environment = (char *)env;
		in.enabled = enabled;
		if (scheduled(r, "vexil.v1.FlagService/SetFlagEnabled", &in.base))
			return;
		rc = vx_set_flag_enabled_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &f, &st);
	} else {
		cfg.environment = (char *)env;
		cfg.enabled = enabled;
		cfg.rollout_percentage = (uint32_t)pct;
		cfg.default_variant = (char *)(dv ? dv : "");
		cfg.off_variant = (char *)(ov ? ov : "");
		if (en == 1)
			mask[up.n_update_mask++] = "env.enabled";
		if (ro == 1)
			mask[up.n_update_mask++] = "env.rollout_percentage";
		if (d == 1)
			mask[up.n_update_mask++] = "env.default_variant";
		if (of == 1)
			mask[up.n_update_mask++] = "env.off_variant";
		up.project = project;
		up.key = f->key;
		up.update = &upd;
		up.update_mask = mask;
		up.env = &cfg;
		up.if_revision = in.if_revision;
		if (scheduled(r, "vexil.v1.FlagService/UpdateFlag", &up.base))
			return;
		rc = vx_update_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &up, &f, &st);
	}
	if (rc != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	put_id(r, o, &ok, "id", "flag", f->id);
	put_str(o, &ok, "key", f->key);
	put_item(o, &ok, "state", state_json(f));
	put_item(o, &ok, "rollout", rollout_json(f));
	put_item(o, &ok, "default_variant", env_variants_json(f, false));
	put_item(o, &ok, "off_variant", env_variants_json(f, true));
	put_time(o, &ok, "updated_at", f->updated_at);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

static void
flag_delete(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	Vexil__V1__Empty *e;
	char *project;
	vx_status st;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL ||
	    !load_flag(r, project, &f))
		return;
	in.project = project;
	in.key = f->key;
	if (scheduled(r, "vexil.v1.FlagService/DeleteFlag", &in.base))
		return;
	if (vx_delete_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* ---- rules ---- */

static void
rule_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule rl = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Condition c = VEXIL__V1__CONDITION__INIT, *cs[1] = {&c};
	const char *type = NULL, *attr = NULL, *op = NULL, *env = NULL;
	const char *variant = NULL, *sticky = NULL;
	bool negate = false, missing = false;
	Vexil__V1__Rollout ro = VEXIL__V1__ROLLOUT__INIT;
	int64_t priority = 0, pct = 100;
	int opn;
	Vexil__V1__Flag *f;
	char *project;
	vx_status st;
	cJSON *b;
	int t, a, o, e, v, rp, nc, ns, vr, sp;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (t = vx_gw_json_string(r, b, "type", &type)) < 0 ||
	    (a = vx_gw_json_string(r, b, "attribute", &attr)) < 0 ||
	    (o = vx_gw_json_string(r, b, "operator", &op)) < 0 ||
	    (e = vx_gw_json_string(r, b, "environment", &env)) < 0 ||
	    (v = json_strings(r, b, "values", &c.values, &c.n_values)) < 0 ||
	    vx_gw_json_bool(r, b, "negate", &negate) < 0 ||
	    vx_gw_json_bool(r, b, "missing", &missing) < 0 ||
	    vx_gw_json_int(r, b, "priority", INT32_MIN, INT32_MAX, &priority) < 0 ||
	    (rp = vx_gw_json_int(r, b, "rollout", 0, 100, &pct)) < 0 ||
	    (nc = json_conditions(r, b, &rl.conditions, &rl.n_conditions)) < 0 ||
	    (ns = json_strings(r, b, "segments", &rl.segments, &rl.n_segments)) < 0 ||
	    (vr = vx_gw_json_string(r, b, "variant", &variant)) < 0 ||
	    (sp = json_split(r, b, &rl.split, &rl.n_split)) < 0 ||
	    vx_gw_json_string(r, b, "split_stickiness", &sticky) < 0) {
		fail_input(r);
		return;
	}
	if (t == 1 && strcmp(type, "user") != 0 && strcmp(type, "attribute") != 0) {
		write_error(r, 400, "type", "enum", "type must be user or attribute");
		return;
	}
	/* Vexil's extension: `conditions` (all must hold) instead of the one
	 * condition, or none with `segments`. */
	if (nc == 1 && (a == 1 || o == 1 || v == 1)) {
		write_error(r, 400, "conditions", "one_of",
		    "give conditions, or attribute, operator and values, not both");
		return;
	}
	if (nc == 0 && (a == 1 || ns == 0)) {
		if (a == 0 || *attr == '\0') {
			write_error(
			    r, 400, "attribute", "required", "attribute is required");
			return;
		}
		if (o == 0 || vx_op_from_string(op, &opn) != VX_EVAL_OK) {
			char msg[320];

			operator_message(msg, sizeof(msg));
			write_error(
			    r, 400, "operator", o == 0 ? "required" : "enum", msg);
			return;
		}
		if (v == 0 || c.n_values == 0) {
			write_error(r, 400, "values", "required",
			    "values must list at least one value");
			return;
		}
		c.attribute = (char *)attr;
		c.operator_ = (char *)op;
		c.negate = negate;
		c.missing = missing;
		rl.conditions = cs;
		rl.n_conditions = 1;
	}
	if (e == 0 || *env == '\0') {
		write_error(r, 400, "environment", "required", "environment is required");
		return;
	}
	if (!if_revision(r, &in.if_revision) || !load_flag(r, project, &f))
		return;
	rl.enabled = true;
	rl.priority = (int32_t)priority;
	/* What it serves: `variant` or a `split` (Vexil's extension, the
	 * environment's default left as it is), else "on", the document's
	 * model, whose environment then serves only the users rules match:
	 * its fallthrough becomes "off" in the same write. */
	rl.variant = (char *)(vr == 1 ? variant : sp == 1 ? "" : ON);
	rl.split_stickiness = (char *)(sticky ? sticky : "");
	in.targeted_fallthrough = vr == 0 && sp == 0;
	if (rp == 1) {
		ro.percentage = (uint32_t)pct;
		rl.rollout = &ro;
	}
	in.project = project;
	in.flag_key = f->key;
	in.environment = (char *)env;
	in.rule = &rl;
	if (scheduled(r, "vexil.v1.RuleService/CreateRule", &in.base))
		return;
	if (vx_create_rule_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, rule_json(r, out, env));
}

/* The rule {rule_id} of the flag f; false after answering 404. */
static bool
rule_ref(
    vx_gw_req *r, const char *project, const Vexil__V1__Flag *f, Vexil__V1__RuleRef *ref)
{
	if (vx_gw_id_parse(vx_gw_param(r, "rule_id"), VX_GW_KIND_RULE, &ref->rule_id) !=
	    0) {
		write_error(r, 404, "rule_id", "exists", "Rule not found");
		return false;
	}
	ref->project = (char *)project;
	ref->flag_key = f->key;
	return true;
}

/* A refused call on a rule: its 404s in the document's terms. */
static void
fail_rule_call(vx_gw_req *r, const vx_status *st)
{
	if (st->code == VEXIL__V1__CODE__NOT_FOUND && strcmp(st->field, "rule_id") == 0)
		write_error(r, 404, "rule_id", "exists", "Rule not found");
	else if (st->code == VEXIL__V1__CODE__NOT_FOUND &&
	         strcmp(st->field, "project") != 0)
		write_error(r, 404, "flag_id", "exists", "Flag not found");
	else
		fail_call(r, st);
}

/*
 * Vexil's extension: PATCH .../rules/{rule_id} {priority?, rollout?,
 * conditions?, segments?, variant?, split?, split_stickiness?} is one
 * UpdateRule of the fields given (rollout null: the rule serves every
 * matching user again; split_stickiness null: the split buckets by the
 * rollout's stickiness again), so rules can be reordered, rolled out and
 * rewritten. A variant replaces the rule's split and a split its variant.
 */
static void
rule_update(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__UpdateRuleRequest in = VEXIL__V1__UPDATE_RULE_REQUEST__INIT;
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Rule upd = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Rollout ro = VEXIL__V1__ROLLOUT__INIT;
	int64_t priority = 0, pct = 0;
	const char *env = "", *variant = NULL, *sticky = NULL;
	char *project, *mask[8];
	Vexil__V1__Flag *f;
	vx_status st;
	cJSON *b;
	int p, rp, nc, ns, vr, sp, ss;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (p = vx_gw_json_int(r, b, "priority", INT32_MIN, INT32_MAX, &priority)) < 0 ||
	    (rp = vx_gw_json_int(r, b, "rollout", 0, 100, &pct)) < 0 ||
	    (nc = json_conditions(r, b, &upd.conditions, &upd.n_conditions)) < 0 ||
	    (ns = json_strings(r, b, "segments", &upd.segments, &upd.n_segments)) < 0 ||
	    (vr = vx_gw_json_string(r, b, "variant", &variant)) < 0 ||
	    (sp = json_split(r, b, &upd.split, &upd.n_split)) < 0 ||
	    (ss = vx_gw_json_string(r, b, "split_stickiness", &sticky)) < 0) {
		fail_input(r);
		return;
	}
	if (ss == 1 && *sticky == '\0') {
		write_error(r, 400, "split_stickiness", "required",
		    "split_stickiness must name an attribute (null: the rollout's "
		    "stickiness again)");
		return;
	}
	if (ss == 1 ||
	    cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "split_stickiness"))) {
		upd.split_stickiness = (char *)(ss == 1 ? sticky : "");
		mask[in.n_update_mask++] = "split_stickiness";
	}
	if (nc == 1)
		mask[in.n_update_mask++] = "conditions";
	if (ns == 1)
		mask[in.n_update_mask++] = "segments";
	if (vr == 1 || sp == 1) {
		upd.variant = (char *)(vr == 1 ? variant : "");
		mask[in.n_update_mask++] = "variant";
		mask[in.n_update_mask++] = "split";
	}
	if (p == 1) {
		upd.priority = (int32_t)priority;
		mask[in.n_update_mask++] = "priority";
	}
	if (rp == 1) {
		ro.percentage = (uint32_t)pct;
		upd.rollout = &ro;
	}
	if (rp == 1 || cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(b, "rollout")))
		mask[in.n_update_mask++] = "rollout";
	if (in.n_update_mask == 0) {
		write_error(r, 400, NULL, "required",
		    "give priority, rollout, conditions, segments, variant, split or "
		    "split_stickiness to change");
		return;
	}
	if (!if_revision(r, &in.if_revision) || !load_flag(r, project, &f) ||
	    !rule_ref(r, project, f, &ref))
		return;
	in.ref = &ref;
	in.update = &upd;
	in.update_mask = mask;
	if (vx_update_rule_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_rule_call(r, &st);
		return;
	}
	/* A rule stays in its environment: the one it was read in. */
	for (size_t i = 0; i < f->n_envs; i++)
		for (size_t k = 0; f->envs[i] && k < f->envs[i]->n_rules; k++)
			if (f->envs[i]->rules[k]->id == ref.rule_id)
				env = f->envs[i]->environment;
	vx_gw_reply_json(r, 200, rule_json(r, out, env));
}

static void
rule_delete(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Flag *f;
	Vexil__V1__Empty *e;
	char *project;
	vx_status st;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL ||
	    !load_flag(r, project, &f) || !rule_ref(r, project, f, &ref))
		return;
	/* The environment's fallthrough is "on" again when its last rule goes,
	 * in the same write: the document's model, for its boolean flags; a
	 * flag of another type keeps the default variant it was given. */
	ref.targeted_fallthrough = f->type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
	if (scheduled(r, "vexil.v1.RuleService/DeleteRule", &ref.base))
		return;
	if (vx_delete_rule_as(vx_gw_client(r), VX_GW_OPTS(r), &ref, &e, &st) != 0) {
		fail_rule_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* ---- environments ---- */

static cJSON *
env_json(vx_gw_req *r, const Vexil__V1__Environment *e)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "env", e->id);
	put_str(o, &ok, "key", e->key);
	put_str(o, &ok, "name", e->name);
	put_str(o, &ok, "description", e->description);
	put_time(o, &ok, "created_at", e->created_at);
	/* Vexil's extension: writes to its flags' state are change requests
	 * (docs/teams.md). */
	if (ok)
		ok = cJSON_AddBoolToObject(o, "protected", e->protected_) != NULL;
	return vx_gw_json_done(o, ok);
}

static cJSON *
env_item(vx_gw_req *r, const void *e)
{
	return env_json(r, e);
}

static void
env_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListEnvironmentsRequest in = VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
	Vexil__V1__EnvironmentList *out;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_list_environments_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	reply_items(r, "environments", (const void *const *)out->environments,
	    out->n_environments, env_item);
}

static void
env_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateEnvironmentRequest in = VEXIL__V1__CREATE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment *out;
	const char *key = NULL, *name = NULL, *desc = NULL, *pid = NULL;
	vx_status st;
	cJSON *b;
	int k, n;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (k = vx_gw_json_string(r, b, "key", &key)) < 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    vx_gw_json_string(r, b, "description", &desc) < 0 ||
	    vx_gw_json_string(r, b, "project_id", &pid) < 0) {
		fail_input(r);
		return;
	}
	if (k == 0 || *key == '\0') {
		write_error(r, 400, "key", "required", "key is required");
		return;
	}
	if ((in.project = project_ref(r, who, pid)) == NULL)
		return;
	in.key = (char *)key;
	in.name = (char *)(n == 1 && *name ? name : key);
	in.description = (char *)(desc ? desc : "");
	if (scheduled(r, "vexil.v1.EnvironmentService/CreateEnvironment", &in.base))
		return;
	if (vx_create_environment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, env_json(r, out));
}

/* The key of {environment_id} in project (the core names environments by
 * key); NULL after answering. */
static const char *
env_key(vx_gw_req *r, const char *project)
{
	Vexil__V1__ListEnvironmentsRequest le =
	    VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
	Vexil__V1__EnvironmentList *envs;
	vx_status st;
	uint64_t id;

	if (id_parse(vx_gw_param(r, "environment_id"), "env", &id) != 0) {
		write_error(r, 404, "environment_id", "exists", "Environment not found");
		return NULL;
	}
	le.project = (char *)project;
	if (vx_list_environments_as(vx_gw_client(r), VX_GW_OPTS(r), &le, &envs, &st) != 0) {
		fail_call(r, &st);
		return NULL;
	}
	for (size_t i = 0; i < envs->n_environments; i++)
		if (envs->environments[i]->id == id)
			return envs->environments[i]->key;
	write_error(r, 404, "environment_id", "exists", "Environment not found");
	return NULL;
}

static void
env_delete(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__DeleteEnvironmentRequest in =
	    VEXIL__V1__DELETE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Empty *e;
	const char *key;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL ||
	    (key = env_key(r, in.project)) == NULL)
		return;
	in.key = (char *)key;
	if (scheduled(r, "vexil.v1.EnvironmentService/DeleteEnvironment", &in.base))
		return;
	if (vx_delete_environment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/*
 * PATCH /v1/environments/{id} (Vexil's extension): {name, description,
 * protected}, each optional; EnvironmentService/UpdateEnvironment with the
 * mask of the fields sent (protected needs admin).
 */
static void
env_update(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__UpdateEnvironmentRequest in =
	    VEXIL__V1__UPDATE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment upd = VEXIL__V1__ENVIRONMENT__INIT, *out;
	const char *name = NULL, *desc = NULL, *key;
	char *mask[3];
	bool prot = false;
	vx_status st;
	cJSON *b;
	int n, d, pr;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    (d = vx_gw_json_string(r, b, "description", &desc)) < 0 ||
	    (pr = vx_gw_json_bool(r, b, "protected", &prot)) < 0) {
		fail_input(r);
		return;
	}
	if ((key = env_key(r, in.project)) == NULL)
		return;
	in.key = (char *)key;
	in.update = &upd;
	in.update_mask = mask;
	if (n == 1) {
		upd.name = (char *)name;
		mask[in.n_update_mask++] = "name";
	}
	if (d == 1) {
		upd.description = (char *)desc;
		mask[in.n_update_mask++] = "description";
	}
	if (pr == 1) {
		upd.protected_ = prot;
		mask[in.n_update_mask++] = "protected";
	}
	if (vx_update_environment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) !=
	    0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, env_json(r, out));
}

/* ---- SDK ---- */

static void
now_text(char out[32])
{
	vx_gw_time_format(out, (int64_t)time(NULL) * 1000);
}

static void
sdk_config(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__GetSnapshotRequest in = VEXIL__V1__GET_SNAPSHOT_REQUEST__INIT;
	Vexil__V1__Snapshot *out;
	const char *env = NULL;
	int64_t updated = 0;
	vx_status st;
	cJSON *o, *flags;
	bool ok;
	int rc;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if ((rc = vx_gw_query(r, "environment", &env)) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 0 || *env == '\0') {
		write_error(r, 400, "environment", "required", "environment is required");
		return;
	}
	in.environment = (char *)env;
	if (vx_gw_edge_snapshot(r->rpc->edge, r, &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	flags = cJSON_CreateObject();
	for (size_t i = 0; flags && i < out->n_flags; i++) {
		const Vexil__V1__Flag *f = out->flags[i];
		bool on = false;
		for (size_t k = 0; k < f->n_envs; k++)
			if (f->envs[k] && strcmp(f->envs[k]->environment, env) == 0)
				on = f->envs[k]->enabled;
		if (f->updated_at > updated)
			updated = f->updated_at;
		if (cJSON_AddBoolToObject(flags, f->key, on) == NULL) {
			cJSON_Delete(flags);
			flags = NULL;
		}
	}
	put_str(o, &ok, "environment", env);
	put_item(o, &ok, "flags", flags);
	put_time(o, &ok, "updated_at", updated);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/* user {id, email, groups, country, ip, ...}: the rest become attributes
 * (a nested object's members by their dotted path). */
static int
read_user(vx_gw_req *r, const cJSON *u, Vexil__V1__EvalContext *ctx)
{
	static const char *const named[] = {
	    "id", "email", "country", "ip", "groups", NULL};
	const char *s;
	int rc;

	if ((rc = vx_gw_json_string(r, u, "id", &s)) < 0)
		return vx_gw_json_refuse(r, "user.id", "user.id must be a string");
	ctx->user_id = (char *)(rc == 1 ? s : "");
	if ((rc = vx_gw_json_string(r, u, "email", &s)) < 0)
		return vx_gw_json_refuse(r, "user.email", "user.email must be a string");
	ctx->email = (char *)(rc == 1 ? s : "");
	if ((rc = vx_gw_json_string(r, u, "country", &s)) < 0)
		return vx_gw_json_refuse(r, "user.country", "user.country must be a string");
	ctx->country = (char *)(rc == 1 ? s : "");
	if ((rc = vx_gw_json_string(r, u, "ip", &s)) < 0)
		return vx_gw_json_refuse(r, "user.ip", "user.ip must be a string");
	ctx->ip = (char *)(rc == 1 ? s : "");
	if (json_strings(r, u, "groups", &ctx->groups, &ctx->n_groups) < 0)
		return vx_gw_json_refuse(r, "user.groups", "user.groups must be an array of "
		    "strings");
	return vx_gw_json_attrs(r, u, "user", named, MAX_LIST, ctx);
}

static void
sdk_evaluate(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	const char *env = NULL, *pid = NULL;
	const cJSON *user = NULL;
	char now[32];
	vx_gw_jbuf jb = {0};
	vx_status st;
	cJSON *b;
	int e;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (e = vx_gw_json_string(r, b, "environment", &env)) < 0 ||
	    vx_gw_json_string(r, b, "project_id", &pid) < 0 ||
	    vx_gw_json_object(r, b, "user", &user) < 0 ||
	    (user && read_user(r, user, &ctx) != 0)) {
		fail_input(r);
		return;
	}
	if (e == 0 || *env == '\0') {
		write_error(r, 400, "environment", "required", "environment is required");
		return;
	}
	if (user == NULL) {
		write_error(r, 400, "user", "required", "user is required");
		return;
	}
	if ((in.project = project_ref(r, who, pid)) == NULL)
		return;
	in.environment = (char *)env;
	in.context = &ctx;
	if (vx_gw_edge_evaluate_all(r->rpc->edge, r, &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_metrics_evals(out);
	/* Written straight into the body: this is the hot path. */
	now_text(now);
	VX_GW_JBUF_LIT(&jb, "{\"environment\":");
	vx_gw_jbuf_str(&jb, env);
	VX_GW_JBUF_LIT(&jb, ",\"flags\":{");
	for (size_t i = 0, n = 0; i < out->n_results; i++) {
		const Vexil__V1__EvaluationResult *res = out->results[i];
		if (res == NULL)
			continue;
		if (n++ > 0)
			VX_GW_JBUF_LIT(&jb, ",");
		/* The served value in the flag's type: a boolean flag's true or
		 * false, a string flag's "blue"; null for a disabled flag that
		 * serves the caller's default. */
		vx_gw_jbuf_str(&jb, res->flag_key);
		VX_GW_JBUF_LIT(&jb, ":");
		vx_gw_jbuf_value(&jb, res->value);
	}
	VX_GW_JBUF_LIT(&jb, "},\"evaluated_at\":");
	vx_gw_jbuf_str(&jb, now);
	VX_GW_JBUF_LIT(&jb, "}");
	vx_gw_jbuf_reply(r, 200, &jb);
}

/* ---- analytics ---- */

/*
 * An exposure is counted by the core (EvaluationService/RecordExposure),
 * in the same batched counters as evaluations; /stats reports both.
 */
static void
exposure(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ExposureRequest in = VEXIL__V1__EXPOSURE_REQUEST__INIT;
	Vexil__V1__Empty *out;
	const char *key = NULL, *env = NULL, *uid = NULL, *ts = NULL, *cid = NULL;
	const char *pid = NULL, *variant = NULL;
	vx_status st;
	cJSON *b;
	int k, e;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (k = vx_gw_json_string(r, b, "flag_key", &key)) < 0 ||
	    (e = vx_gw_json_string(r, b, "environment", &env)) < 0 ||
	    vx_gw_json_string(r, b, "user_id", &uid) < 0 ||
	    vx_gw_json_string(r, b, "timestamp", &ts) < 0 ||
	    vx_gw_json_string(r, b, "client_id", &cid) < 0 ||
	    vx_gw_json_string(r, b, "variant", &variant) < 0 ||
	    vx_gw_json_string(r, b, "project_id", &pid) < 0) {
		fail_input(r);
		return;
	}
	if (k == 0 || *key == '\0') {
		write_error(r, 400, "flag_key", "required", "flag_key is required");
		return;
	}
	if (e == 0 || *env == '\0') {
		write_error(r, 400, "environment", "required", "environment is required");
		return;
	}
	if ((in.project = project_ref(r, who, pid)) == NULL)
		return;
	in.flag_key = (char *)key;
	in.environment = (char *)env;
	in.user_id = (char *)(uid ? uid : "");
	in.variant = (char *)(variant ? variant : "");
	if (vx_record_exposure_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		if (st.code == VEXIL__V1__CODE__NOT_FOUND && strcmp(st.field, "flag_key") == 0)
			write_error(r, 404, "flag_key", "exists", "Flag not found");
		else if (st.code == VEXIL__V1__CODE__NOT_FOUND && strcmp(st.field, "environment") == 0)
			write_error(r, 404, "environment", "exists", "Environment not found");
		else
			fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* Vexil's extension: {"<variant>": {"<day>": count}} over the period, every
 * day of it for each variant counted at all, oldest first. */
static cJSON *
by_variant(const Vexil__V1__EvalCountList *out, int64_t today, uint32_t days)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < out->n_counts; i++) {
		const char *v = out->counts[i]->variant;
		cJSON *row;

		if (cJSON_GetObjectItemCaseSensitive(o, v) != NULL)
			continue;
		row = cJSON_CreateObject();
		for (int64_t d = today - (int64_t)days + 1; row && d <= today; d++) {
			char day[32];
			double n = 0;
			bool rok = true;

			vx_gw_time_format(day, d * 86400000);
			day[10] = '\0';
			for (size_t k = 0; k < out->n_counts; k++)
				if (out->counts[k]->day == d &&
				    strcmp(out->counts[k]->variant, v) == 0)
					n += (double)out->counts[k]->count;
			vx_gw_json_put_num(row, &rok, day, n);
			if (!rok) {
				cJSON_Delete(row);
				row = NULL;
			}
		}
		put_item(o, &ok, v, row);
	}
	return vx_gw_json_done(o, ok);
}

static void
stats(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	const char *period = "7d", *env = NULL;
	Vexil__V1__Flag *f;
	char *project;
	int64_t today;
	double total = 0;
	vx_status st;
	cJSON *o, *exp, *bd;
	bool ok;
	int rc;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if ((rc = vx_gw_query(r, "period", &period)) < 0 ||
	    vx_gw_query(r, "environment", &env) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 0)
		period = "7d";
	if (strcmp(period, "24h") == 0)
		in.days = 1;
	else if (strcmp(period, "7d") == 0)
		in.days = 7;
	else if (strcmp(period, "30d") == 0)
		in.days = 30;
	else {
		write_error(r, 400, "period", "enum", "period must be 24h, 7d or 30d");
		return;
	}
	if (!load_flag(r, project, &f))
		return;
	in.project = project;
	in.flag_key = f->key;
	in.environment = (char *)(env ? env : "");
	if (vx_get_eval_counts_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	exp = cJSON_CreateObject();
	bd = cJSON_CreateObject();
	/* Every day of the period, oldest first, zero when nothing was counted. */
	today = (int64_t)time(NULL) / 86400;
	for (int64_t d = today - (int64_t)in.days + 1; bd && d <= today; d++) {
		char day[32];
		double n = 0;
		vx_gw_time_format(day, d * 86400000);
		day[10] = '\0';
		for (size_t i = 0; i < out->n_counts; i++)
			if (out->counts[i]->day == d)
				n += (double)out->counts[i]->count;
		total += n;
		if (cJSON_AddNumberToObject(bd, day, n) == NULL) {
			cJSON_Delete(bd);
			bd = NULL;
		}
	}
	vx_gw_json_put_num(exp, &ok, "total", total);
	put_item(exp, &ok, "breakdown", bd);
	put_item(exp, &ok, "by_variant", by_variant(out, today, in.days));
	put_id(r, o, &ok, "flag_id", "flag", f->id);
	put_str(o, &ok, "flag_key", f->key);
	if (env)
		put_str(o, &ok, "environment", env);
	else if (ok)
		ok = cJSON_AddNullToObject(o, "environment") != NULL;
	put_str(o, &ok, "period", period);
	put_item(o, &ok, "exposures", exp);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/* ?limit= of the extensions' logs: 1..1000, *limit untouched without one;
 * false after answering. */
static bool
query_limit(vx_gw_req *r, uint64_t *limit)
{
	const char *q;
	int rc;

	if ((rc = vx_gw_query(r, "limit", &q)) < 0) {
		fail_input(r);
		return false;
	}
	if (rc == 1 && (vx_parse_u64(q, limit) != 0 || *limit < 1 || *limit > 1000)) {
		write_error(
		    r, 400, "limit", "range", "limit must be an integer from 1 to 1000");
		return false;
	}
	return true;
}

/*
 * Vexil's extension: GET /v1/analytics/evaluations[?flag_id=&limit=], the
 * project's recent evaluations, newest first (EvaluationService/ListEvalLog,
 * the core's bounded log); with flag_id only that flag's, of those read.
 */
static void
evaluations(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListEvalLogRequest in = VEXIL__V1__LIST_EVAL_LOG_REQUEST__INIT;
	Vexil__V1__EvalLog *out;
	Vexil__V1__Flag *f = NULL;
	const char *q;
	uint64_t limit = 100;
	vx_status st;
	cJSON *o, *arr;
	bool ok;
	int rc;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL ||
	    !query_limit(r, &limit))
		return;
	if ((rc = vx_gw_query(r, "flag_id", &q)) < 0) {
		fail_input(r);
		return;
	}
	if (rc == 1 && !load_flag_id(r, in.project, q, &f))
		return;
	in.limit = (uint32_t)limit;
	if (vx_list_eval_log_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_records; i++) {
		const Vexil__V1__EvalRecord *e = out->records[i];
		cJSON *j;
		bool jok;

		if (f && strcmp(e->flag_key, f->key) != 0)
			continue;
		j = cJSON_CreateObject();
		jok = j != NULL;
		put_time(j, &jok, "time", e->time);
		put_str(j, &jok, "environment", e->environment);
		put_str(j, &jok, "flag_key", e->flag_key);
		put_str(j, &jok, "variant", e->variant);
		put_str(j, &jok, "reason", e->reason);
		put_str(j, &jok, "user_id", e->user_id);
		if (!vx_gw_json_append(arr, vx_gw_json_done(j, jok))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	put_item(o, &ok, "evaluations", arr);
	vx_gw_json_put_num(o, &ok, "dropped", (double)out->dropped);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/* ---- API keys ---- */

static const char *
role_name(Vexil__V1__Role role)
{
	switch (role) {
	case VEXIL__V1__ROLE__ROLE_READ: return "read";
	case VEXIL__V1__ROLE__ROLE_WRITE: return "write";
	case VEXIL__V1__ROLE__ROLE_ADMIN: return "admin";
	default: return "";
	}
}

/* A body's role (NULL: absent) as the core's; false after answering. */
static bool
role_parse(vx_gw_req *r, const char *role, Vexil__V1__Role *out)
{
	if (role == NULL || (strcmp(role, "read") != 0 && strcmp(role, "write") != 0 &&
	                        strcmp(role, "admin") != 0)) {
		write_error(r, 400, "role", role == NULL ? "required" : "enum",
		    "role must be read, write or admin");
		return false;
	}
	*out = role[0] == 'r'   ? VEXIL__V1__ROLE__ROLE_READ
	       : role[0] == 'w' ? VEXIL__V1__ROLE__ROLE_WRITE
	                        : VEXIL__V1__ROLE__ROLE_ADMIN;
	return true;
}

static cJSON *
key_json(vx_gw_req *r, const Vexil__V1__ApiKey *k)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "key", k->id);
	put_str(o, &ok, "name", k->name);
	put_str(o, &ok, "role", role_name(k->role));
	if (k->project_id)
		put_id(r, o, &ok, "project_id", "proj", k->project_id);
	else if (ok)
		ok = cJSON_AddNullToObject(o, "project_id") != NULL;
	put_str(o, &ok, "prefix", k->prefix);
	put_time(o, &ok, "created_at", k->created_at);
	return vx_gw_json_done(o, ok);
}

static cJSON *
sdk_key_json(vx_gw_req *r, const Vexil__V1__SdkKey *k)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "sdkkey", k->id);
	put_id(r, o, &ok, "project_id", "proj", k->project_id);
	if (*k->environment)
		put_str(o, &ok, "environment", k->environment);
	else if (ok)
		ok = cJSON_AddNullToObject(o, "environment") != NULL;
	put_str(o, &ok, "prefix", k->prefix);
	put_time(o, &ok, "created_at", k->created_at);
	return vx_gw_json_done(o, ok);
}

static void
key_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *out;
	const char *name = NULL, *role = NULL, *pid = NULL;
	vx_status st;
	cJSON *b, *o;
	bool ok;
	int n, ro, p;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    (ro = vx_gw_json_string(r, b, "role", &role)) < 0 ||
	    (p = vx_gw_json_string(r, b, "project_id", &pid)) < 0) {
		fail_input(r);
		return;
	}
	if (n == 0 || *name == '\0') {
		write_error(r, 400, "name", "required", "name is required");
		return;
	}
	if (!role_parse(r, ro == 1 ? role : NULL, &in.role))
		return;
	in.name = (char *)name;
	/* No project_id: the caller's own project for a key bound to one (the
	 * core's rule), else a global key, which only a global admin may make. */
	if (p == 1 && (in.project = project_ref(r, who, pid)) == NULL)
		return;
	if (p == 0)
		in.project = "";
	if (vx_create_api_key_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = key_json(r, out->key);
	ok = o != NULL;
	put_str(o, &ok, "key", out->secret);
	vx_gw_reply_json(r, 201, vx_gw_json_done(o, ok));
}

/*
 * GET /v1/api-keys[?project_id=] (without it, every key the caller may see)
 * and (Vexil's extension) GET /v1/sdk-keys (the project's): the keys that
 * are not revoked, without secrets.
 */
static void
list_keys(vx_gw_req *r, bool sdk)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListApiKeysRequest in = VEXIL__V1__LIST_API_KEYS_REQUEST__INIT;
	Vexil__V1__ListSdkKeysRequest sin = VEXIL__V1__LIST_SDK_KEYS_REQUEST__INIT;
	Vexil__V1__ApiKeyList *out = NULL;
	Vexil__V1__SdkKeyList *sout = NULL;
	vx_status st;
	cJSON *o, *arr;
	bool ok;
	int rc;
	const char *q;

	if (!admit(r, &who))
		return;
	if ((rc = vx_gw_query(r, "project_id", &q)) < 0) {
		fail_input(r);
		return;
	}
	if ((rc == 1 || sdk) && (in.project = project_ref(r, who, rc == 1 ? q : NULL)) == NULL)
		return;
	sin.project = in.project;
	rc = sdk ? vx_list_sdk_keys_as(vx_gw_client(r), VX_GW_OPTS(r), &sin, &sout, &st) :
	           vx_list_api_keys_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st);
	if (rc != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < (sdk ? sout->n_keys : out->n_keys); i++) {
		if (sdk ? sout->keys[i]->revoked : out->keys[i]->revoked)
			continue;
		if (!vx_gw_json_append(arr, sdk ? sdk_key_json(r, sout->keys[i]) :
		                                  key_json(r, out->keys[i]))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	put_item(o, &ok, sdk ? "sdk_keys" : "api_keys", arr);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

static void
key_list(vx_gw_req *r)
{
	list_keys(r, false);
}

/* DELETE /v1/api-keys/key-<id> and (Vexil's extension)
 * /v1/sdk-keys/sdkkey-<id>: one revocation, effective at once. */
static void
revoke_key(vx_gw_req *r, bool sdk)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__RevokeApiKeyRequest in = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__RevokeSdkKeyRequest sin = VEXIL__V1__REVOKE_SDK_KEY_REQUEST__INIT;
	const char *param = sdk ? "sdk_key_id" : "key_id";
	Vexil__V1__Empty *e;
	vx_status st;
	int rc;

	if (!admit(r, &who))
		return;
	if (id_parse(vx_gw_param(r, param), sdk ? "sdkkey" : "key", &in.id) != 0) {
		write_error(r, 404, param, "exists", sdk ? "SDK key not found" : "API key not found");
		return;
	}
	sin.id = in.id;
	rc = sdk ? vx_revoke_sdk_key_as(vx_gw_client(r), VX_GW_OPTS(r), &sin, &e, &st) :
	           vx_revoke_api_key_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st);
	if (rc != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

static void
key_delete(vx_gw_req *r)
{
	revoke_key(r, false);
}

/* ---- SDK keys (Vexil's extension) ---- */

/* POST /v1/sdk-keys {environment?}: KeyService/CreateSdkKey in the
 * project; the secret is in `key`, shown this once. */
static void
sdk_key_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *out;
	const char *env = NULL, *pid = NULL;
	vx_status st;
	cJSON *b, *o;
	bool ok;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, true, &b) != 0 ||
	    vx_gw_json_string(r, b, "environment", &env) < 0 ||
	    vx_gw_json_string(r, b, "project_id", &pid) < 0) {
		fail_input(r);
		return;
	}
	if ((in.project = project_ref(r, who, pid)) == NULL)
		return;
	in.environment = (char *)(env ? env : "");
	if (vx_create_sdk_key_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = sdk_key_json(r, out->key);
	ok = o != NULL;
	put_str(o, &ok, "key", out->secret);
	vx_gw_reply_json(r, 201, vx_gw_json_done(o, ok));
}

static void
sdk_key_list(vx_gw_req *r)
{
	list_keys(r, true);
}

static void
sdk_key_delete(vx_gw_req *r)
{
	revoke_key(r, true);
}

/* ---- projects and the audit log (Vexil's extensions) ---- */

static cJSON *
project_json(vx_gw_req *r, const Vexil__V1__Project *p)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "proj", p->id);
	put_str(o, &ok, "name", p->name);
	put_str(o, &ok, "description", p->description);
	vx_gw_json_put_num(o, &ok, "revision", (double)p->revision);
	/* The project's primary SDK key, as the flag-service API shows it:
	 * the admin UI follows /ofrep/v1/events and evaluates with it. */
	put_str(o, &ok, "sdk_key", p->sdk_key);
	put_time(o, &ok, "created_at", p->created_at);
	put_time(o, &ok, "updated_at", p->updated_at);
	return vx_gw_json_done(o, ok);
}

/* Every project the caller may see: a user's own, a key's one, or all of
 * them for a global key. */
static void
project_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_status st;
	cJSON *o, *arr;
	bool ok;

	if (!admit(r, &who))
		return;
	if (vx_list_projects_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_projects; i++)
		if (!vx_gw_json_append(arr, project_json(r, out->projects[i]))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	put_item(o, &ok, "projects", arr);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

static void
project_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *out;
	const char *name = NULL, *desc = NULL;
	vx_status st;
	cJSON *b;
	int n;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    vx_gw_json_string(r, b, "description", &desc) < 0) {
		fail_input(r);
		return;
	}
	if (n == 0) {
		write_error(r, 400, "name", "required", "name is required");
		return;
	}
	in.name = (char *)name;
	in.description = (char *)(desc ? desc : "");
	if (vx_create_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, project_json(r, out));
}

/* The project's audit log, newest first: ?limit= 1..1000 (default 100),
 * and ?target= keeps the entries about that flag key (or other target). */
static void
audit_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListAuditRequest in = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *out;
	const char *target = NULL;
	uint64_t limit = 100;
	vx_status st;
	cJSON *o, *arr;
	bool ok;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL ||
	    !query_limit(r, &limit))
		return;
	if (vx_gw_query(r, "target", &target) < 0) {
		fail_input(r);
		return;
	}
	in.limit = (uint32_t)limit;
	if (vx_list_audit_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_entries; i++) {
		const Vexil__V1__AuditEntry *a = out->entries[i];
		const ProtobufCEnumValue *k = protobuf_c_enum_descriptor_get_value(
		    &vexil__v1__change_kind__descriptor, a->kind);
		cJSON *e;
		bool eok;

		if (target && strcmp(a->target, target) != 0)
			continue;
		e = cJSON_CreateObject();
		eok = e != NULL;
		vx_gw_json_put_num(e, &eok, "seq", (double)a->seq);
		vx_gw_json_put_num(e, &eok, "revision", (double)a->revision);
		put_time(e, &eok, "time", a->time);
		put_str(e, &eok, "actor", a->actor);
		put_str(e, &eok, "method", a->method);
		put_str(e, &eok, "kind", k ? k->name : "");
		put_str(e, &eok, "target", a->target);
		/* What a flag or rule write changed, a "field: old → new" a line. */
		put_str(e, &eok, "detail", a->detail);
		if (!vx_gw_json_append(arr, vx_gw_json_done(e, eok))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	put_item(o, &ok, "entries", arr);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/* ---- members (extensions, docs/teams.md) ---- */

static cJSON *
member_json(vx_gw_req *r, const Vexil__V1__Member *m)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "user", m->user_id);
	put_str(o, &ok, "email", m->email);
	put_str(o, &ok, "role", role_name(m->role));
	put_time(o, &ok, "added_at", m->added_at);
	put_str(o, &ok, "added_by", m->added_by);
	return vx_gw_json_done(o, ok);
}

static cJSON *
member_item(vx_gw_req *r, const void *m)
{
	return member_json(r, m);
}

static void
member_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListMembersRequest in = VEXIL__V1__LIST_MEMBERS_REQUEST__INIT;
	Vexil__V1__MemberList *out;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_list_members_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	reply_items(
	    r, "members", (const void *const *)out->members, out->n_members, member_item);
}

/* POST /v1/members {project_id, email, role}: 201 with the member. */
static void
member_add(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__AddMemberRequest in = VEXIL__V1__ADD_MEMBER_REQUEST__INIT;
	Vexil__V1__Member *out;
	const char *email = NULL, *role = NULL, *pid = NULL;
	vx_status st;
	cJSON *b;
	int e, ro, p;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (e = vx_gw_json_string(r, b, "email", &email)) < 0 ||
	    (ro = vx_gw_json_string(r, b, "role", &role)) < 0 ||
	    (p = vx_gw_json_string(r, b, "project_id", &pid)) < 0) {
		fail_input(r);
		return;
	}
	if (e == 0 || *email == '\0') {
		write_error(r, 400, "email", "required", "email is required");
		return;
	}
	if (!role_parse(r, ro == 1 ? role : NULL, &in.role) ||
	    (in.project = project_ref(r, who, p == 1 ? pid : NULL)) == NULL)
		return;
	in.email = (char *)email;
	if (vx_add_member_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0)
		fail_call(r, &st);
	else
		vx_gw_reply_json(r, 201, member_json(r, out));
}

/* The {member_id} of the path ("user-<id>") in ref; false after answering. */
static bool
member_ref(vx_gw_req *r, Vexil__V1__MemberRef *ref)
{
	return path_ref(
	    r, "member_id", "user", "Member not found", &ref->project, &ref->user_id);
}

/* PATCH /v1/members/{member_id} {role}: 200 with the member. */
static void
member_role(vx_gw_req *r)
{
	Vexil__V1__SetMemberRoleRequest in = VEXIL__V1__SET_MEMBER_ROLE_REQUEST__INIT;
	Vexil__V1__MemberRef ref = VEXIL__V1__MEMBER_REF__INIT;
	Vexil__V1__Member *out;
	const char *role = NULL;
	vx_status st;
	cJSON *b;
	int ro;

	if (!member_ref(r, &ref))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (ro = vx_gw_json_string(r, b, "role", &role)) < 0) {
		fail_input(r);
		return;
	}
	if (!role_parse(r, ro == 1 ? role : NULL, &in.role))
		return;
	in.member = &ref;
	if (vx_set_member_role_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0)
		fail_call(r, &st);
	else
		vx_gw_reply_json(r, 200, member_json(r, out));
}

static void
member_remove(vx_gw_req *r)
{
	Vexil__V1__MemberRef ref = VEXIL__V1__MEMBER_REF__INIT;
	Vexil__V1__Empty *e;
	vx_status st;

	if (!member_ref(r, &ref))
		return;
	if (vx_remove_member_as(vx_gw_client(r), VX_GW_OPTS(r), &ref, &e, &st) != 0)
		fail_call(r, &st);
	else
		vx_gw_reply_empty(r, 204);
}

/* ---- segments and prerequisites (extensions, docs/gateway.md) ---- */

static cJSON *
segment_json(vx_gw_req *r, const Vexil__V1__Segment *sg)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(r, o, &ok, "id", "seg", sg->id);
	put_str(o, &ok, "name", sg->name);
	put_str(o, &ok, "description", sg->description);
	put_item(o, &ok, "conditions", conditions_json(sg->conditions, sg->n_conditions));
	put_time(o, &ok, "created_at", sg->created_at);
	put_time(o, &ok, "updated_at", sg->updated_at);
	return vx_gw_json_done(o, ok);
}

static cJSON *
segment_item(vx_gw_req *r, const void *sg)
{
	return segment_json(r, sg);
}

/* A refused call on the segment of the path: the core's "name" is the
 * path's segment_name (404 when there is none). */
static void
fail_segment(vx_gw_req *r, const vx_status *st)
{
	if (st->code == VEXIL__V1__CODE__NOT_FOUND && strcmp(st->field, "name") == 0)
		write_error(r, 404, "segment_name", "exists", "Segment not found");
	else if (strcmp(st->field, "name") == 0)
		write_error(r, vx_gw_call_status(st), "segment_name", st->constraint,
		    st->message);
	else
		fail_call(r, st);
}

/* GET /v1/segments: SegmentService/ListSegments of the project. */
static void
segment_list(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__ListSegmentsRequest in = VEXIL__V1__LIST_SEGMENTS_REQUEST__INIT;
	Vexil__V1__SegmentList *out;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_list_segments_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	reply_items(r, "segments", (const void *const *)out->segments, out->n_segments,
	    segment_item);
}

static void
segment_get(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__GetSegmentRequest in = VEXIL__V1__GET_SEGMENT_REQUEST__INIT;
	Vexil__V1__Segment *out;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	in.name = (char *)vx_gw_param(r, "segment_name");
	if (vx_get_segment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_segment(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, segment_json(r, out));
}

/* POST /v1/segments {name, description?, conditions?, project_id?}: one
 * CreateSegment. */
static void
segment_create(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__CreateSegmentRequest in = VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
	Vexil__V1__Segment sg = VEXIL__V1__SEGMENT__INIT, *out;
	const char *name = NULL, *desc = NULL, *pid = NULL;
	vx_status st;
	cJSON *b;
	int n;

	if (!admit(r, &who))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    vx_gw_json_string(r, b, "description", &desc) < 0 ||
	    vx_gw_json_string(r, b, "project_id", &pid) < 0 ||
	    json_conditions(r, b, &sg.conditions, &sg.n_conditions) < 0) {
		fail_input(r);
		return;
	}
	if (n == 0 || *name == '\0') {
		write_error(r, 400, "name", "required", "name is required");
		return;
	}
	if ((in.project = project_ref(r, who, pid)) == NULL)
		return;
	sg.name = (char *)name;
	sg.description = (char *)(desc ? desc : "");
	in.segment = &sg;
	if (vx_create_segment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, segment_json(r, out));
}

/* PUT /v1/segments/{segment_name} {description?, conditions?}: one
 * UpdateSegment, which every flag naming the segment follows. */
static void
segment_update(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__UpdateSegmentRequest in = VEXIL__V1__UPDATE_SEGMENT_REQUEST__INIT;
	Vexil__V1__Segment upd = VEXIL__V1__SEGMENT__INIT, *out;
	const char *desc = NULL;
	char *mask[2];
	vx_status st;
	cJSON *b;
	int d, c;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (d = vx_gw_json_string(r, b, "description", &desc)) < 0 ||
	    (c = json_conditions(r, b, &upd.conditions, &upd.n_conditions)) < 0) {
		fail_input(r);
		return;
	}
	if (d == 1) {
		upd.description = (char *)desc;
		mask[in.n_update_mask++] = "description";
	}
	if (c == 1)
		mask[in.n_update_mask++] = "conditions";
	if (in.n_update_mask == 0) {
		write_error(
		    r, 400, NULL, "required", "give description or conditions to change");
		return;
	}
	in.name = (char *)vx_gw_param(r, "segment_name");
	in.update = &upd;
	in.update_mask = mask;
	if (vx_update_segment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_segment(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, segment_json(r, out));
}

/* DELETE /v1/segments/{segment_name}: refused (409 from the core) while a
 * rule names it. */
static void
segment_delete(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__DeleteSegmentRequest in = VEXIL__V1__DELETE_SEGMENT_REQUEST__INIT;
	Vexil__V1__Empty *e;
	vx_status st;

	if (!admit(r, &who) || (in.project = project_ref(r, who, NULL)) == NULL)
		return;
	in.name = (char *)vx_gw_param(r, "segment_name");
	if (vx_delete_segment_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		fail_segment(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/*
 * `prerequisites`: [{flag, when?: "on"|"off", variants?}], into the arena.
 * Same contract as the json.h readers.
 */
static int
json_prereqs(vx_gw_req *r, const cJSON *obj, Vexil__V1__Prerequisite ***out, size_t *n)
{
	const cJSON *arr = NULL, *e;
	Vexil__V1__Prerequisite **v;
	int cnt = 0, rc, i = 0;

	if ((rc = json_objects(r, obj, "prerequisites", &arr, &cnt)) <= 0)
		return rc;
	if ((v = (Vexil__V1__Prerequisite **)arena_msgs(
	         r, cnt, sizeof(**v), init_prereq)) == NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	cJSON_ArrayForEach(e, arr)
	{
		const char *flag = NULL, *when = NULL;
		int w;

		if (vx_gw_json_string(r, e, "flag", &flag) != 1 || *flag == '\0')
			return vx_gw_json_refuse(r, "prerequisites.flag",
			    "prerequisites[%d].flag must be a flag key", i);
		if ((w = vx_gw_json_string(r, e, "when", &when)) < 0 ||
		    (w == 1 && strcmp(when, "on") != 0 && strcmp(when, "off") != 0))
			return vx_gw_json_refuse(r, "prerequisites.when",
			    "prerequisites[%d].when must be on or off", i);
		if (json_strings(r, e, "variants", &v[i]->variants, &v[i]->n_variants) <
		    0)
			return vx_gw_json_refuse(r, "prerequisites.variants",
			    "prerequisites[%d].variants must be an array of strings", i);
		v[i]->flag_key = (char *)flag;
		v[i]->when_off = w == 1 && strcmp(when, "off") == 0;
		i++;
	}
	*out = v;
	*n = (size_t)i;
	return 1;
}

/*
 * PUT /v1/flags/{flag_id}/prerequisites {environment, prerequisites}: the
 * environment's whole list, one UpdateFlagEnv (the core checks the parents,
 * their variants, the limit and cycles).
 */
static void
flag_prereqs(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *who;
	Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	char *mask[] = {"prerequisites"};
	const char *env = NULL;
	Vexil__V1__Flag *f;
	char *project;
	vx_status st;
	cJSON *b;
	int e, p;

	if (!admit(r, &who) || (project = project_ref(r, who, NULL)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (e = vx_gw_json_string(r, b, "environment", &env)) < 0 ||
	    (p = json_prereqs(r, b, &cfg.prerequisites, &cfg.n_prerequisites)) < 0) {
		fail_input(r);
		return;
	}
	if (e == 0 || *env == '\0') {
		write_error(r, 400, "environment", "required", "environment is required");
		return;
	}
	if (p == 0) {
		write_error(r, 400, "prerequisites", "required",
		    "prerequisites is required ([] for none)");
		return;
	}
	if (!if_revision(r, &in.if_revision) || !load_flag(r, project, &f))
		return;
	cfg.environment = (char *)env;
	in.project = project;
	in.key = f->key;
	in.update = &cfg;
	in.update_mask = mask;
	in.n_update_mask = 1;
	if (vx_update_flag_env_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &f, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, flag_json(r, f, false));
}

/* ---- the dialect ---- */

/* Tried on the connection's thread first (http.h): their only core
 * calls are vx_gw_admit() and the edge's. */
static const vx_gw_handler nonblocking[] = {sdk_evaluate, sdk_config, NULL};

static const vx_gw_route routes[] = {
	{"GET", "/v1/flags", flag_list},
	{"POST", "/v1/flags", flag_create},
	{"GET", "/v1/flags/stale", flags_stale},
	{"GET", "/v1/flags/{flag_id}", flag_get},
	{"PUT", "/v1/flags/{flag_id}", flag_update},
	{"DELETE", "/v1/flags/{flag_id}", flag_delete},
	{"PATCH", "/v1/flags/{flag_id}/state", flag_state},
	{"POST", "/v1/flags/{flag_id}/rules", rule_create},
	{"PATCH", "/v1/flags/{flag_id}/rules/{rule_id}", rule_update},
	{"DELETE", "/v1/flags/{flag_id}/rules/{rule_id}", rule_delete},
	{"PUT", "/v1/flags/{flag_id}/prerequisites", flag_prereqs},
	{"GET", "/v1/segments", segment_list},
	{"POST", "/v1/segments", segment_create},
	{"GET", "/v1/segments/{segment_name}", segment_get},
	{"PUT", "/v1/segments/{segment_name}", segment_update},
	{"DELETE", "/v1/segments/{segment_name}", segment_delete},
	{"GET", "/v1/environments", env_list},
	{"POST", "/v1/environments", env_create},
	{"DELETE", "/v1/environments/{environment_id}", env_delete},
	{"PATCH", "/v1/environments/{environment_id}", env_update},
	{"GET", "/v1/sdk/config", sdk_config},
	{"POST", "/v1/sdk/evaluate", sdk_evaluate},
	{"POST", "/v1/analytics/exposure", exposure},
	{"GET", "/v1/analytics/flags/{flag_id}/stats", stats},
	{"GET", "/v1/analytics/evaluations", evaluations},
	{"POST", "/v1/api-keys", key_create},
	{"GET", "/v1/api-keys", key_list},
	{"DELETE", "/v1/api-keys/{key_id}", key_delete},
	{"POST", "/v1/sdk-keys", sdk_key_create},
	{"GET", "/v1/sdk-keys", sdk_key_list},
	{"DELETE", "/v1/sdk-keys/{sdk_key_id}", sdk_key_delete},
	{"GET", "/v1/projects", project_list},
	{"POST", "/v1/projects", project_create},
	{"GET", "/v1/audit", audit_list},
	{"GET", "/v1/schedules", schedule_list},
	{"DELETE", "/v1/schedules/{schedule_id}", schedule_delete},
	{"GET", "/v1/change-requests", change_list},
	{"POST", "/v1/change-requests/{change_id}/approve", change_approve},
	{"POST", "/v1/change-requests/{change_id}/reject", change_reject},
	{"POST", "/v1/change-requests/{change_id}/withdraw", change_withdraw},
	{"POST", "/v1/change-requests/{change_id}/comments", change_comment},
	{"GET", "/v1/members", member_list},
	{"POST", "/v1/members", member_add},
	{"PATCH", "/v1/members/{member_id}", member_role},
	{"DELETE", "/v1/members/{member_id}", member_remove},
};

static const char *const prefixes[] = {"/v1", NULL};

const vx_gw_dialect vx_gw_platform_dialect = {
    .name = "platform-v1",
    .prefixes = prefixes,
    .error = error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
    .nonblocking = nonblocking,
};
