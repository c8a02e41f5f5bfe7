/*
 * Vexil gateway — the flag-service dialect (specs/flag-service-api.md).
 *
 * A thin adapter: each handler checks what the document itself adds on top
 * of the core's rules (the flag key's first letter and alphabet, the
 * rollout range, the rule types and their values, JSON types), makes the
 * core calls with the caller's own credential, and maps the replies to the
 * document's JSON. Everything else, from key lengths to who owns which
 * project, the core decides.
 *
 * How the document's model sits on the one domain model (docs/gateway.md):
 *  - ids are the core's uint64 ids in UUID form (format.h);
 *  - a flag is a boolean flag (variants on/off), and its `enabled` and
 *    `rollout_percentage` are its config in the project's **production**
 *    environment; the other environments keep the core's defaults;
 *  - a rule is one condition in production serving "on": user_id is
 *    `user_id equals V`, user_email is `email equals V`, email_domain is
 *    `email ends_with V` (both email kinds case-insensitive);
 *  - /sdk/v1/evaluate evaluates production for the SDK key's project;
 *    `enabled` is "the on variant was served".
 * Errors are the document's plain JSON strings: `"Flag not found"`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/format.h"
#include "gateway/json.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"

#define ENV "production"
#define ON "on"
#define OFF "off"
#define MAX_CUSTOM_ATTRS 64

/* ---- errors ---- */

static void
error(vx_gw_req *r, int status, const char *field, const char *message)
{
	(void)field;
	/* The document's error body is a bare JSON string. */
	vx_gw_reply_json(r, status, cJSON_CreateString(message));
}

/* A refused core call. The core names what it did not find by field; the
 * document's clients know projects, flags and rules by UUID, so a message
 * quoting the core's numeric id would only confuse them. */
static void
fail_call(vx_gw_req *r, const vx_status *st)
{
	const char *what = NULL;

	if (st->code == VEXIL__V1__CODE__NOT_FOUND) {
		if (strcmp(st->field, "project") == 0)
			what = "Project not found";
		else if (strcmp(st->field, "rule_id") == 0)
			what = "Rule not found";
		else if (strcmp(st->field, "id") == 0 || strcmp(st->field, "key") == 0 ||
		    strcmp(st->field, "flag_key") == 0)
			what = "Flag not found";
	}
	if (what) {
		vx_gw_fail(r, 404, st->field, "%s", what);
	} else if (st->code == VEXIL__V1__CODE__FAILED_PRECONDITION &&
	           strcmp(st->field, "if_revision") == 0) {
		vx_gw_fail(r, 409, NULL, "Changed by another request; try again");
	} else if (st->code == VEXIL__V1__CODE__INVALID_ARGUMENT &&
	           (strcmp(st->constraint, "utf8") == 0 ||
	               strcmp(st->constraint, "nul") == 0)) {
		/* The core's path ("flag.name", "rule.conditions.values") in
		 * the document's words ("name", "rule_value"). */
		const char *f =
		    strrchr(st->field, '.') ? strrchr(st->field, '.') + 1 : st->field;
		if (strcmp(f, "values") == 0)
			f = "rule_value";
		vx_gw_fail(r, 400, f, "%s %s", f,
		    st->constraint[0] == 'u' ? "must be valid UTF-8 text"
		                             : "must not contain a NUL character");
	} else {
		vx_gw_fail_status(r, st);
	}
}

/*
 * Refuses a request that failed the document's own checks. A caller whose
 * token the core refuses hears that first (401), as the document promises,
 * whatever else is wrong with the request; asking costs one core call, and
 * only on this path.
 */
static void
refuse(vx_gw_req *r, int status, const char *field, const char *message)
{
	Vexil__V1__GetMeRequest in = VEXIL__V1__GET_ME_REQUEST__INIT;
	Vexil__V1__User *u;
	vx_status st;

	if (r->credential && strncmp(r->credential, "Bearer ", 7) == 0 &&
	    vx_get_me_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &u, &st) != 0 &&
	    st.code == VEXIL__V1__CODE__UNAUTHENTICATED) {
		fail_call(r, &st);
		return;
	}
	vx_gw_fail(r, status, field, "%s", message);
}

/* refuse() with what a JSON reader or check left in r. */
static void
fail_input(vx_gw_req *r)
{
	refuse(r, 400, r->err_field[0] ? r->err_field : NULL,
	    r->err_msg[0] ? r->err_msg : "bad request");
}

/* ---- credentials ---- */

/* Under /api: "Authorization: Bearer <jwt>" becomes the credential "Bearer <jwt>".
 * Only a bearer token is taken here: this document knows no other. */
static bool
need_user(vx_gw_req *r)
{
	const char *h = vx_gw_header(r, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || !vx_gw_token_ok(h + 7)) {
		vx_gw_fail(r, 401, NULL, "Missing or invalid authorization token");
		return false;
	}
	if ((r->credential = vx_arena_join(r->arena, "Bearer", h + 7)) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return false;
	}
	return true;
}

/* Under /sdk: "X-SDK-Key: <key>" becomes "SdkKey <key>". */
static bool
need_sdk_key(vx_gw_req *r)
{
	const char *h = vx_gw_header(r, "X-SDK-Key");

	if (h == NULL || !vx_gw_token_ok(h)) {
		vx_gw_fail(r, 401, NULL, "Missing or invalid SDK key");
		return false;
	}
	if ((r->credential = vx_arena_join(r->arena, "SdkKey", h)) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return false;
	}
	return true;
}

/* ---- ids in paths ---- */

/* The core's project reference for {project_id}: its numeric id, which a
 * project name can never be. The id may come in any form a dialect
 * prints (the UUID, "proj-7", "7"). NULL after answering 404. */
static char *
project_ref(vx_gw_req *r)
{
	uint64_t id;
	char *ref;

	if (vx_gw_id_parse(vx_gw_param(r, "project_id"), VX_GW_KIND_PROJECT, &id) != 0) {
		refuse(r, 404, "project_id", "Project not found");
		return NULL;
	}
	if ((ref = vx_arena_printf(r->arena, "%llu", (unsigned long long)id)) == NULL)
		vx_gw_fail(r, 500, NULL, "out of memory");
	return ref;
}

/* Loads {flag_id} of {project_id}; false after answering. */
static bool
load_flag(vx_gw_req *r, const char *project, Vexil__V1__Flag **out)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	vx_status st;
	uint64_t id;

	if (vx_gw_id_parse(vx_gw_param(r, "flag_id"), VX_GW_KIND_FLAG, &id) != 0) {
		refuse(r, 404, "flag_id", "Flag not found");
		return false;
	}
	in.project = (char *)project;
	in.id = id;
	if (vx_get_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, out, &st) != 0) {
		fail_call(r, &st);
		return false;
	}
	return true;
}

static bool
rule_id(vx_gw_req *r, uint64_t *id)
{
	if (vx_gw_id_parse(vx_gw_param(r, "rule_id"), VX_GW_KIND_RULE, id) != 0) {
		refuse(r, 404, "rule_id", "Rule not found");
		return false;
	}
	return true;
}

/* ---- JSON out ---- */

/* cJSON's Add* return NULL when out of memory; one flag collects that. */
static void
put_str(cJSON *o, bool *ok, const char *name, const char *v)
{
	if (*ok && cJSON_AddStringToObject(o, name, v) == NULL)
		*ok = false;
}

static void
put_id(cJSON *o, bool *ok, const char *name, enum vx_gw_kind kind, uint64_t id)
{
	char s[VX_GW_UUID_LEN + 1];

	vx_gw_uuid_format(s, kind, id);
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
put_bool(cJSON *o, bool *ok, const char *name, bool v)
{
	if (*ok && cJSON_AddBoolToObject(o, name, v) == NULL)
		*ok = false;
}

static cJSON *
project_json(const Vexil__V1__Project *p)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(o, &ok, "id", VX_GW_KIND_PROJECT, p->id);
	put_str(o, &ok, "name", p->name);
	put_str(o, &ok, "description", p->description);
	put_str(o, &ok, "sdk_key", p->sdk_key);
	put_time(o, &ok, "created_at", p->created_at);
	put_time(o, &ok, "updated_at", p->updated_at);
	return vx_gw_json_done(o, ok);
}

static const Vexil__V1__FlagEnvConfig *
prod(const Vexil__V1__Flag *f)
{
	for (size_t i = 0; i < f->n_envs; i++)
		if (f->envs[i] && strcmp(f->envs[i]->environment, ENV) == 0)
			return f->envs[i];
	return NULL;
}

static cJSON *
flag_json(const Vexil__V1__Flag *f)
{
	const Vexil__V1__FlagEnvConfig *cfg = prod(f);
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(o, &ok, "id", VX_GW_KIND_FLAG, f->id);
	put_id(o, &ok, "project_id", VX_GW_KIND_PROJECT, f->project_id);
	put_str(o, &ok, "name", f->name);
	put_str(o, &ok, "key", f->key);
	put_str(o, &ok, "description", f->description);
	put_bool(o, &ok, "enabled", cfg ? cfg->enabled : false);
	vx_gw_json_put_num(o, &ok, "rollout_percentage", cfg ? cfg->rollout_percentage : 0);
	put_time(o, &ok, "created_at", f->created_at);
	put_time(o, &ok, "updated_at", f->updated_at);
	return vx_gw_json_done(o, ok);
}

/* The document's rule types as conditions. */
static const struct rule_type {
	const char *name;
	const char *attribute;
	const char *op;
} rule_types[] = {
	{"user_id", "user_id", "equals"},
	{"user_email", "email", "equals"},
	{"email_domain", "email", "ends_with"},
};

static const struct rule_type *
rule_type_named(const char *name)
{
	for (size_t i = 0; i < sizeof(rule_types) / sizeof(rule_types[0]); i++)
		if (strcmp(rule_types[i].name, name) == 0)
			return &rule_types[i];
	return NULL;
}

/* The type of a stored rule, or NULL for one this document cannot express
 * (made through another API). */
static const struct rule_type *
rule_type_of(const Vexil__V1__Rule *rl, const char **value)
{
	const Vexil__V1__Condition *c;

	*value = "";
	if (rl->n_conditions != 1 || (c = rl->conditions[0]) == NULL || c->negate ||
	    c->n_values != 1)
		return NULL;
	*value = c->values[0];
	for (size_t i = 0; i < sizeof(rule_types) / sizeof(rule_types[0]); i++)
		if (strcmp(rule_types[i].attribute, c->attribute) == 0 &&
		    strcmp(rule_types[i].op, c->operator_) == 0)
			return &rule_types[i];
	return NULL;
}

static cJSON *
rule_json(const Vexil__V1__Rule *rl, uint64_t flag_id)
{
	const char *value;
	const struct rule_type *t = rule_type_of(rl, &value);
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;

	put_id(o, &ok, "id", VX_GW_KIND_RULE, rl->id);
	put_id(o, &ok, "flag_id", VX_GW_KIND_FLAG, flag_id);
	put_str(o, &ok, "rule_type", t ? t->name : "custom");
	put_str(o, &ok, "rule_value", value);
	put_bool(o, &ok, "enabled", rl->enabled);
	vx_gw_json_put_num(o, &ok, "priority", rl->priority);
	put_time(o, &ok, "created_at", rl->created_at);
	return vx_gw_json_done(o, ok);
}

/* ---- health and accounts ---- */

static void
health(vx_gw_req *r)
{
	/* The gateway's own liveness; it does not ask vexild, so a load
	 * balancer keeps routing while the core restarts. */
	vx_gw_reply_json(r, 200, cJSON_CreateString("OK"));
}

/* Reads the {email, password} body shared by register and login. */
static bool
credentials_body(vx_gw_req *r, const char **email, const char **password)
{
	cJSON *b;
	int e, p;

	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (e = vx_gw_json_string(r, b, "email", email)) < 0 ||
	    (p = vx_gw_json_string(r, b, "password", password)) < 0) {
		fail_input(r);
		return false;
	}
	if (e == 0 || **email == '\0') {
		refuse(r, 400, "email", "email is required");
		return false;
	}
	if (p == 0 || **password == '\0') {
		refuse(r, 400, "password", "password is required");
		return false;
	}
	return true;
}

static void
auth_register(vx_gw_req *r)
{
	Vexil__V1__RegisterRequest in = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__User *u;
	const char *email, *password;
	vx_status st;
	cJSON *o;
	bool ok;

	if (!credentials_body(r, &email, &password))
		return;
	in.email = (char *)email;
	in.password = (char *)password;
	if (vx_register_user_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &u, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	put_id(o, &ok, "id", VX_GW_KIND_USER, u->id);
	put_str(o, &ok, "email", u->email);
	vx_gw_reply_json(r, 201, vx_gw_json_done(o, ok));
}

static void
auth_login(vx_gw_req *r)
{
	Vexil__V1__LoginRequest in = VEXIL__V1__LOGIN_REQUEST__INIT;
	Vexil__V1__LoginReply *out;
	const char *email, *password;
	vx_status st;
	cJSON *o;
	bool ok;

	if (!credentials_body(r, &email, &password))
		return;
	in.email = (char *)email;
	in.password = (char *)password;
	if (vx_login_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	put_str(o, &ok, "token", out->token);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

static void
me(vx_gw_req *r)
{
	Vexil__V1__GetMeRequest in = VEXIL__V1__GET_ME_REQUEST__INIT;
	Vexil__V1__User *u;
	vx_status st;
	cJSON *o;
	bool ok;

	if (!need_user(r))
		return;
	if (vx_get_me_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &u, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	put_id(o, &ok, "user_id", VX_GW_KIND_USER, u->id);
	vx_gw_reply_json(r, 200, vx_gw_json_done(o, ok));
}

/* ---- projects ---- */

static void
project_create(vx_gw_req *r)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	const char *name = NULL, *desc = NULL;
	vx_status st;
	cJSON *b;
	int n;

	if (!need_user(r))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    vx_gw_json_string(r, b, "description", &desc) < 0) {
		fail_input(r);
		return;
	}
	if (n == 0 || *name == '\0') {
		refuse(r, 400, "name", "name is required");
		return;
	}
	in.name = (char *)name;
	in.description = (char *)(desc ? desc : "");
	if (vx_create_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &p, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, project_json(p));
}

static void
project_list(vx_gw_req *r)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_status st;
	cJSON *arr;

	if (!need_user(r))
		return;
	/* "Projects the user owns", as the document says: shared projects
	 * (docs/teams.md) are reachable by id, not listed here. */
	in.owned_only = true;
	if (vx_list_projects_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_projects; i++) {
		if (!vx_gw_json_append(arr, project_json(out->projects[i]))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	vx_gw_reply_json(r, 200, arr);
}

static void
project_get(vx_gw_req *r)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	if (!need_user(r) || (in.project = project_ref(r)) == NULL)
		return;
	if (vx_get_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &p, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, project_json(p));
}

static void
project_update(vx_gw_req *r)
{
	Vexil__V1__UpdateProjectRequest in = VEXIL__V1__UPDATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project upd = VEXIL__V1__PROJECT__INIT, *p;
	const char *name = NULL, *desc = NULL;
	char *mask[2];
	vx_status st;
	cJSON *b;
	int n, d;

	if (!need_user(r) || (in.project = project_ref(r)) == NULL)
		return;
	if (vx_gw_json_body(r, true, &b) != 0 ||
	    (n = vx_gw_json_string(r, b, "name", &name)) < 0 ||
	    (d = vx_gw_json_string(r, b, "description", &desc)) < 0) {
		fail_input(r);
		return;
	}
	if (n == 1 && *name == '\0') {
		refuse(r, 400, "name", "name cannot be empty");
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
	in.update = &upd;
	in.update_mask = mask;
	/* Nothing to change still answers the project, as the document's
	 * "only provided fields are updated" implies. */
	if (in.n_update_mask == 0) {
		project_get(r);
		return;
	}
	if (vx_update_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &p, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, project_json(p));
}

static void
project_delete(vx_gw_req *r)
{
	Vexil__V1__DeleteProjectRequest in = VEXIL__V1__DELETE_PROJECT_REQUEST__INIT;
	Vexil__V1__Empty *e;
	vx_status st;

	if (!need_user(r) || (in.project = project_ref(r)) == NULL)
		return;
	if (vx_delete_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

static void
project_regenerate_key(vx_gw_req *r)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	if (!need_user(r) || (in.project = project_ref(r)) == NULL)
		return;
	if (vx_regenerate_sdk_key_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &p, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, project_json(p));
}

/* ---- flags ---- */

/* The document's key rule, on top of the core's own key checks. */
static int
check_flag_key(vx_gw_req *r, const char *key)
{
	if (*key == '\0')
		return vx_gw_json_refuse(r, "key", "key is required");
	if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z')))
		return vx_gw_json_refuse(r, "key", "Flag key must start with a letter");
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		        *p == '-'))
			return vx_gw_json_refuse(r, "key",
			    "Flag key can only contain lowercase letters, numbers, _ and -");
	return 0;
}

/* The optional fields of a flag body: present[i] says which were given. */
struct flag_body {
	const char *name, *description;
	bool enabled;
	int64_t rollout;
	int has_name, has_description, has_enabled, has_rollout;
};

static int
read_flag_body(vx_gw_req *r, const cJSON *b, struct flag_body *fb)
{
	if ((fb->has_name = vx_gw_json_string(r, b, "name", &fb->name)) < 0 ||
	    (fb->has_description = vx_gw_json_string(r, b, "description",
	         &fb->description)) < 0 ||
	    (fb->has_enabled = vx_gw_json_bool(r, b, "enabled", &fb->enabled)) < 0 ||
	    (fb->has_rollout = vx_gw_json_int(r, b, "rollout_percentage", 0, 100,
	         &fb->rollout)) < 0)
		return -1;
	if (fb->has_name == 1 && *fb->name == '\0')
		return vx_gw_json_refuse(r, "name", "name cannot be empty");
	return 0;
}

static void
flag_create(vx_gw_req *r)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *envs[] = {&cfg};
	struct flag_body fb = {0};
	const char *key = NULL;
	vx_status st;
	cJSON *b;
	int k;

	if (!need_user(r) || (in.project = project_ref(r)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (k = vx_gw_json_string(r, b, "key", &key)) < 0 ||
	    check_flag_key(r, k ? key : "") != 0 || read_flag_body(r, b, &fb) != 0) {
		fail_input(r);
		return;
	}
	f.key = (char *)key;
	/* The document shows a name on every flag but does not require one;
	 * without it the key serves as the name. */
	f.name = (char *)(fb.has_name == 1 ? fb.name : key);
	f.description = (char *)(fb.has_description == 1 ? fb.description : "");
	f.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
	cfg.environment = ENV;
	cfg.enabled = fb.has_enabled == 1 && fb.enabled;
	cfg.rollout_percentage = fb.has_rollout == 1 ? (uint32_t)fb.rollout : 0;
	cfg.default_variant = ON;
	cfg.off_variant = OFF;
	f.envs = envs;
	f.n_envs = 1;
	in.flag = &f;
	if (vx_create_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, flag_json(out));
}

/* Every flag of the project, paged through the core (whose pages are at
 * most 1000 flags): the document's list has no paging of its own. */
static void
flag_list(vx_gw_req *r)
{
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	vx_status st;
	cJSON *arr;

	if (!need_user(r) || (in.project = project_ref(r)) == NULL)
		return;
	if ((arr = cJSON_CreateArray()) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	do {
		if (vx_list_flags_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) !=
		    0) {
			cJSON_Delete(arr);
			fail_call(r, &st);
			return;
		}
		for (size_t i = 0; i < out->n_flags; i++) {
			if (!vx_gw_json_append(arr, flag_json(out->flags[i]))) {
				cJSON_Delete(arr);
				vx_gw_fail(r, 500, NULL, "out of memory");
				return;
			}
		}
		in.offset += (uint32_t)out->n_flags;
	} while (out->n_flags > 0 && in.offset < out->total);
	vx_gw_reply_json(r, 200, arr);
}

static void
flag_get(vx_gw_req *r)
{
	Vexil__V1__Flag *f;
	char *project;

	if (!need_user(r) || (project = project_ref(r)) == NULL || !load_flag(r, project, &f))
		return;
	vx_gw_reply_json(r, 200, flag_json(f));
}

static void
flag_update(vx_gw_req *r)
{
	Vexil__V1__UpdateFlagRequest uf = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *f;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	struct flag_body fb = {0};
	char *project, *mask[4];
	vx_status st;
	cJSON *b;

	if (!need_user(r) || (project = project_ref(r)) == NULL)
		return;
	/* Every field is checked before anything is written. */
	if (vx_gw_json_body(r, true, &b) != 0 || read_flag_body(r, b, &fb) != 0) {
		fail_input(r);
		return;
	}
	if (!load_flag(r, project, &f))
		return;
	if (fb.has_name == 1) {
		upd.name = (char *)fb.name;
		mask[uf.n_update_mask++] = "name";
	}
	if (fb.has_description == 1) {
		upd.description = (char *)fb.description;
		mask[uf.n_update_mask++] = "description";
	}
	if (fb.has_enabled == 1) {
		cfg.enabled = fb.enabled;
		mask[uf.n_update_mask++] = "env.enabled";
	}
	if (fb.has_rollout == 1) {
		cfg.rollout_percentage = (uint32_t)fb.rollout;
		mask[uf.n_update_mask++] = "env.rollout_percentage";
	}
	if (uf.n_update_mask == 0) {
		vx_gw_reply_json(r, 200, flag_json(f));
		return;
	}
	/* One core write: the flag and its production state change together. */
	cfg.environment = ENV;
	uf.project = project;
	uf.key = f->key;
	uf.update = &upd;
	uf.update_mask = mask;
	uf.env = &cfg;
	if (vx_update_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &uf, &f, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, flag_json(f));
}

static void
flag_toggle(vx_gw_req *r)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *f;
	char *project;
	vx_status st;

	if (!need_user(r) || (project = project_ref(r)) == NULL || !load_flag(r, project, &f))
		return;
	/* The core flips the state inside its write, so toggles never race. */
	in.project = project;
	in.key = f->key;
	in.environment = ENV;
	in.toggle = true;
	if (vx_set_flag_enabled_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &f, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 200, flag_json(f));
}

static void
flag_delete(vx_gw_req *r)
{
	Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	Vexil__V1__Empty *e;
	char *project;
	vx_status st;

	if (!need_user(r) || (project = project_ref(r)) == NULL || !load_flag(r, project, &f))
		return;
	in.project = project;
	in.key = f->key;
	if (vx_delete_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* ---- rules ---- */

static bool
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/* The document's rule validation. */
static int
check_rule(vx_gw_req *r, const struct rule_type *t, const char *value)
{
	if (blank(value))
		return vx_gw_json_refuse(r, "rule_value", "rule_value cannot be empty");
	if (strcmp(t->name, "user_email") == 0 && strchr(value, '@') == NULL)
		return vx_gw_json_refuse(r, "rule_value", "User emails must contain @");
	if (strcmp(t->name, "email_domain") == 0 && value[0] != '@')
		return vx_gw_json_refuse(r, "rule_value", "Email domains must start with @");
	return 0;
}

struct rule_body {
	const char *type, *value;
	bool enabled;
	int64_t priority;
	int has_type, has_value, has_enabled, has_priority;
	const struct rule_type *t;
};

static int
read_rule_body(vx_gw_req *r, const cJSON *b, struct rule_body *rb)
{
	if ((rb->has_type = vx_gw_json_string(r, b, "rule_type", &rb->type)) < 0 ||
	    (rb->has_value = vx_gw_json_string(r, b, "rule_value", &rb->value)) < 0 ||
	    (rb->has_enabled = vx_gw_json_bool(r, b, "enabled", &rb->enabled)) < 0 ||
	    (rb->has_priority = vx_gw_json_int(r, b, "priority", INT32_MIN, INT32_MAX,
	         &rb->priority)) < 0)
		return -1;
	if (rb->has_type == 1 && (rb->t = rule_type_named(rb->type)) == NULL)
		return vx_gw_json_refuse(r, "rule_type",
		    "rule_type must be one of user_id, user_email, email_domain");
	return 0;
}

/* Fills the rule's one condition (storage owned by the caller). */
static void
set_condition(Vexil__V1__Rule *rl, Vexil__V1__Condition *c, Vexil__V1__Condition **cs,
    char **values, const struct rule_type *t, const char *value)
{
	c->attribute = (char *)t->attribute;
	c->operator_ = (char *)t->op;
	/* Email addresses and domains match regardless of case. */
	c->case_insensitive = strcmp(t->attribute, "email") == 0;
	values[0] = (char *)value;
	c->values = values;
	c->n_values = 1;
	cs[0] = c;
	rl->conditions = cs;
	rl->n_conditions = 1;
}

static void
rule_create(vx_gw_req *r)
{
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule rl = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Condition c = VEXIL__V1__CONDITION__INIT, *cs[1];
	struct rule_body rb = {0};
	Vexil__V1__Flag *f;
	char *project, *values[1];
	vx_status st;
	cJSON *b;

	if (!need_user(r) || (project = project_ref(r)) == NULL)
		return;
	if (vx_gw_json_body(r, false, &b) != 0 || read_rule_body(r, b, &rb) != 0 ||
	    (rb.has_type == 0 && vx_gw_json_refuse(r, "rule_type",
	         "rule_type is required (user_id, user_email or email_domain)")) ||
	    check_rule(r, rb.t, rb.has_value == 1 ? rb.value : "") != 0) {
		fail_input(r);
		return;
	}
	if (!load_flag(r, project, &f))
		return;
	rl.priority = rb.has_priority == 1 ? (int32_t)rb.priority : 0;
	rl.enabled = rb.has_enabled == 1 ? rb.enabled : true;
	rl.variant = ON;
	set_condition(&rl, &c, cs, values, rb.t, rb.value);
	in.project = project;
	in.flag_key = f->key;
	in.environment = ENV;
	in.rule = &rl;
	if (vx_create_rule_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_json(r, 201, rule_json(out, f->id));
}

static void
rule_list(vx_gw_req *r)
{
	Vexil__V1__ListRulesRequest in = VEXIL__V1__LIST_RULES_REQUEST__INIT;
	Vexil__V1__RuleList *out;
	Vexil__V1__Flag *f;
	char *project;
	vx_status st;
	cJSON *arr;

	if (!need_user(r) || (project = project_ref(r)) == NULL || !load_flag(r, project, &f))
		return;
	in.project = project;
	in.flag_key = f->key;
	in.environment = ENV;
	if (vx_list_rules_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	/* The core lists in evaluation order: highest priority first, which is
	 * the order the document promises. */
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < out->n_rules; i++) {
		if (!vx_gw_json_append(arr, rule_json(out->rules[i], f->id))) {
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	vx_gw_reply_json(r, 200, arr);
}

/* Loads {rule_id} of {flag_id}; ref is filled for later calls. */
static bool
load_rule(vx_gw_req *r, Vexil__V1__RuleRef *ref, Vexil__V1__Flag **f,
    Vexil__V1__Rule **out)
{
	char *project;
	vx_status st;

	if ((project = project_ref(r)) == NULL || !load_flag(r, project, f) ||
	    !rule_id(r, &ref->rule_id))
		return false;
	ref->project = project;
	ref->flag_key = (*f)->key;
	ref->environment = ENV;
	if (out && vx_get_rule_as(vx_gw_client(r), VX_GW_OPTS(r), ref, out, &st) != 0) {
		fail_call(r, &st);
		return false;
	}
	return true;
}

/* {project_id}'s revision, for a write that must not lose another. */
static bool
project_revision(vx_gw_req *r, uint64_t *rev)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	if ((in.project = project_ref(r)) == NULL)
		return false;
	if (vx_get_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &p, &st) != 0) {
		fail_call(r, &st);
		return false;
	}
	*rev = p->revision;
	return true;
}

static void
rule_get(vx_gw_req *r)
{
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Flag *f;
	Vexil__V1__Rule *rl;

	if (!need_user(r) || !load_rule(r, &ref, &f, &rl))
		return;
	vx_gw_reply_json(r, 200, rule_json(rl, f->id));
}

static void
rule_update(vx_gw_req *r)
{
	Vexil__V1__UpdateRuleRequest in = VEXIL__V1__UPDATE_RULE_REQUEST__INIT;
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Rule upd = VEXIL__V1__RULE__INIT, *rl;
	Vexil__V1__Condition c = VEXIL__V1__CONDITION__INIT, *cs[1];
	const struct rule_type *t;
	struct rule_body rb = {0};
	const char *value;
	char *values[1], *mask[3];
	Vexil__V1__Flag *f;
	vx_status st;
	cJSON *b;

	if (!need_user(r))
		return;
	if (vx_gw_json_body(r, true, &b) != 0 || read_rule_body(r, b, &rb) != 0) {
		fail_input(r);
		return;
	}
	/* A new type alone keeps the stored value (and a value the type): a
	 * read-modify-write, so the update carries the revision read before
	 * the rule, and a rule changed in between is 409. */
	if (rb.has_type != rb.has_value && !project_revision(r, &in.if_revision))
		return;
	if (!load_rule(r, &ref, &f, &rl))
		return;
	/* A new type or value is checked together with what it keeps. */
	if (rb.has_type == 1 || rb.has_value == 1) {
		t = rule_type_of(rl, &value);
		if (rb.has_type == 1)
			t = rb.t;
		if (rb.has_value == 1)
			value = rb.value;
		if (t == NULL) {
			refuse(r, 400, "rule_type",
			    "rule_type is required to change a rule of another kind");
			return;
		}
		if (check_rule(r, t, value) != 0) {
			fail_input(r);
			return;
		}
		set_condition(&upd, &c, cs, values, t, value);
		mask[in.n_update_mask++] = "conditions";
	}
	if (rb.has_enabled == 1) {
		upd.enabled = rb.enabled;
		mask[in.n_update_mask++] = "enabled";
	}
	if (rb.has_priority == 1) {
		upd.priority = (int32_t)rb.priority;
		mask[in.n_update_mask++] = "priority";
	}
	if (in.n_update_mask > 0) {
		in.ref = &ref;
		in.update = &upd;
		in.update_mask = mask;
		if (vx_update_rule_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &rl, &st) != 0) {
			fail_call(r, &st);
			return;
		}
	}
	vx_gw_reply_json(r, 200, rule_json(rl, f->id));
}

static void
rule_delete(vx_gw_req *r)
{
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Flag *f;
	Vexil__V1__Empty *e;
	vx_status st;

	if (!need_user(r) || !load_rule(r, &ref, &f, NULL))
		return;
	if (vx_delete_rule_as(vx_gw_client(r), VX_GW_OPTS(r), &ref, &e, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* ---- SDK ---- */

/* The document's reason for a core reason, as the JSON that ends a
 * flag's object (written as it is), and its length; serves: the flag
 * serves a rule's or its default variant (what "enabled" means for a flag
 * that is not boolean). */
#define REASON(core, doc, serves)                                                        \
	{core, ",\"reason\":\"" doc "\"}", sizeof(",\"reason\":\"" doc "\"}") - 1, serves}
static const struct {
	const char *core, *json;
	size_t len;
	bool serves;
} reasons[] = {
    REASON("DISABLED", "disabled", false),
    REASON("TARGETING_MATCH", "rule_match", true),
    REASON("SPLIT", "rollout", true),
    REASON("STATIC", "rollout", true),
    /* Off because a flag it requires is not as required. */
    REASON("PREREQUISITE_FAILED", "disabled", false),
    REASON("DEFAULT", "rollout_excluded", false),
    /* Last, for the rest: FLAG_NOT_FOUND or ERROR, a flag that could not
     * be evaluated. */
    REASON("", "error", false),
};
#undef REASON
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

/* The reasons[] index of a core reason. */
static size_t
reason_index(const char *core)
{
	size_t i = 0;

	while (i < N_REASONS - 1 &&
	       (reasons[i].core[0] != core[0] || strcmp(reasons[i].core, core) != 0))
		i++;
	return i;
}

/* Whether a boolean flag's served value (JSON text) is true. */
static bool
serves_true(const char *value)
{
	int lit = vx_gw_json_bool_text(value);
	cJSON *v;
	bool yes;

	if (lit >= 0)
		return lit == 1;
	v = cJSON_Parse(value);
	yes = cJSON_IsTrue(v);
	cJSON_Delete(v);
	return yes;
}

static void
sdk_evaluate(vx_gw_req *r)
{
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	const char *user_id = NULL, *email = NULL;
	const cJSON *custom = NULL;
	vx_gw_jbuf jb = {0};
	vx_gw_reason_memo memo = {0};
	vx_status st;
	cJSON *b;
	int u;

	if (!need_sdk_key(r))
		return;
	if (vx_gw_json_body(r, false, &b) != 0 ||
	    (u = vx_gw_json_string(r, b, "user_id", &user_id)) < 0 ||
	    vx_gw_json_string(r, b, "user_email", &email) < 0 ||
	    vx_gw_json_object(r, b, "custom_attributes", &custom) < 0 ||
	    (u == 0 && vx_gw_json_refuse(r, "user_id", "user_id is required")) ||
	    (*user_id == '\0' &&
	        vx_gw_json_refuse(r, "user_id", "user_id is required")) ||
	    (custom && vx_gw_json_attrs(r, custom, "custom_attributes", NULL,
	                   MAX_CUSTOM_ATTRS, &ctx) != 0)) {
		fail_input(r);
		return;
	}
	ctx.user_id = (char *)user_id;
	ctx.email = (char *)(email ? email : "");
	/* An empty project means the SDK key's own project: the document's
	 * request names none, and an SDK key may not look its project up. */
	in.project = "";
	in.environment = ENV;
	in.context = &ctx;
	if (vx_gw_edge_evaluate_all(r->rpc->edge, r, &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_metrics_evals(out);
	/* Written straight into the body: this is the hot path. */
	VX_GW_JBUF_LIT(&jb, "{");
	for (size_t i = 0; i < out->n_results; i++) {
		const Vexil__V1__EvaluationResult *e = out->results[i];
		bool enabled;
		size_t k;
		if (e == NULL)
			continue;
		k = vx_gw_reason_memo_get(&memo, e->reason, reason_index);
		/*
		 * A boolean flag is enabled when it serves true. Any other
		 * flag (made through another API) is enabled when it serves a
		 * rule's or its default variant, and its value follows.
		 */
		if (e->type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN)
			enabled = serves_true(e->value);
		else
			enabled = reasons[k].serves;
		if (jb.len > 1)
			VX_GW_JBUF_LIT(&jb, ",");
		vx_gw_jbuf_str(&jb, e->flag_key);
		if (enabled)
			VX_GW_JBUF_LIT(&jb, ":{\"enabled\":true");
		else
			VX_GW_JBUF_LIT(&jb, ":{\"enabled\":false");
		if (e->type != VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN && *e->value) {
			VX_GW_JBUF_LIT(&jb, ",\"value\":");
			vx_gw_jbuf_value(&jb, e->value);
		}
		vx_gw_jbuf_raw(&jb, reasons[k].json, reasons[k].len);
	}
	VX_GW_JBUF_LIT(&jb, "}");
	vx_gw_jbuf_reply(r, 200, &jb);
}

/* ---- the dialect ---- */

/* Tried on the connection's thread first (http.h): their only core
 * calls are vx_gw_admit() and the edge's. */
static const vx_gw_handler nonblocking[] = {health, sdk_evaluate, NULL};

static const vx_gw_route routes[] = {
	{"GET", "/health", health},
	{"POST", "/auth/register", auth_register},
	{"POST", "/auth/login", auth_login},
	{"GET", "/api/me", me},
	{"POST", "/api/projects", project_create},
	{"GET", "/api/projects", project_list},
	{"GET", "/api/projects/{project_id}", project_get},
	{"PUT", "/api/projects/{project_id}", project_update},
	{"DELETE", "/api/projects/{project_id}", project_delete},
	{"POST", "/api/projects/{project_id}/regenerate-key", project_regenerate_key},
	{"POST", "/api/projects/{project_id}/flags", flag_create},
	{"GET", "/api/projects/{project_id}/flags", flag_list},
	{"GET", "/api/projects/{project_id}/flags/{flag_id}", flag_get},
	{"PUT", "/api/projects/{project_id}/flags/{flag_id}", flag_update},
	{"DELETE", "/api/projects/{project_id}/flags/{flag_id}", flag_delete},
	{"POST", "/api/projects/{project_id}/flags/{flag_id}/toggle", flag_toggle},
	{"POST", "/api/projects/{project_id}/flags/{flag_id}/rules", rule_create},
	{"GET", "/api/projects/{project_id}/flags/{flag_id}/rules", rule_list},
	{"GET", "/api/projects/{project_id}/flags/{flag_id}/rules/{rule_id}", rule_get},
	{"PUT", "/api/projects/{project_id}/flags/{flag_id}/rules/{rule_id}", rule_update},
	{"DELETE", "/api/projects/{project_id}/flags/{flag_id}/rules/{rule_id}", rule_delete},
	{"POST", "/sdk/v1/evaluate", sdk_evaluate},
};

static const char *const prefixes[] = {
	"/health", "/auth", "/api/me", "/api/projects", "/sdk", NULL,
};

const vx_gw_dialect vx_gw_flagservice_dialect = {
    .name = "flag-service",
    .prefixes = prefixes,
    .error = error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
    .nonblocking = nonblocking,
};
