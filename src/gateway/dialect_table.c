/*
 * Vexil gateway — the feature-flag table dialect
 * (specs/feature-flag-table-api.md, a FastAPI service).
 *
 * A thin adapter over the one domain model (docs/gateway.md):
 *  - a record is a flag of the core's `default` project; `id` is the
 *    core's flag id, `name_flag` the flag's name;
 *  - the flag key is derived from name_flag by the core (CreateFlag with
 *    derive_key: it picks a free key in the same write; the table has no
 *    unique names, the core has unique keys). Renaming keeps the key;
 *  - `is_enabled` is written to every environment of the project (one
 *    write: CreateFlag.enabled, UpdateFlag.all_environments) and read as
 *    the production environment's state;
 *  - `status`, `strategy`, `variation`, `created_by` and `updated_by` are
 *    flag metadata (the integers as decimal strings);
 *  - `created_at`/`updated_at` are the core's times in RFC 3339.
 * Every request makes at most one core write. A PUT merges the request's
 * columns into the flag's metadata, a read-modify-write, so it carries
 * if_revision (the project revision read before the flag) and reads again
 * when another write came between.
 * Errors are FastAPI's: {"detail": "..."}, and 422 with
 * {"detail": [{"loc", "msg", "type"}]} for validation, with pydantic v2's
 * error types; the core's refusals of a column are 422s at that column.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/dialects.h"
#include "gateway/fastapi.h"
#include "gateway/format.h"
#include "gateway/json.h"
#include "gateway/rpc.h"
#include "wire/text.h"

#define PROJECT "default"
#define ENV "production"
#define PAGE 1000         /* the core's largest ListFlags page */
#define NOT_FOUND "Feature flag not found"
#define RETRIES 8 /* PUT's read-modify-write, when others write between */

/* ---- errors ---- */

/* The column a core field path names, or NULL. metadata entries are
 * named by their key (c: the request's metadata, in the order sent). */
static const char *
column(const char *field, const Vexil__V1__Flag *sent)
{
	size_t i;

	if (strcmp(field, "flag.name") == 0 || strcmp(field, "update.name") == 0 ||
	    strcmp(field, "name") == 0)
		return "name_flag";
	if (sent == NULL)
		return NULL;
	/* flagcheck's "metadata[i]": the i-th entry sent. */
	if (sscanf(field, "metadata[%zu]", &i) == 1 && i < sent->n_metadata)
		return sent->metadata[i]->key;
	/* The text check's path names no entry: the first not valid text. */
	if (strstr(field, "metadata") != NULL)
		for (i = 0; i < sent->n_metadata; i++)
			if (!vx_utf8_valid((const uint8_t *)sent->metadata[i]->value,
			        strlen(sent->metadata[i]->value)))
				return sent->metadata[i]->key;
	return NULL;
}

/*
 * A refused core call. The core's NOT_FOUND for the flag id is the
 * document's 404; a refused column is pydantic's 422 at that column; a
 * write that lost its if_revision race too often is 409.
 */
static void
fail_call(vx_gw_req *r, const vx_status *st, const Vexil__V1__Flag *sent)
{
	struct vx_fa_errors v = {0};
	const char *col;

	if (st->code == VEXIL__V1__CODE__NOT_FOUND &&
	    (strcmp(st->field, "id") == 0 || strcmp(st->field, "key") == 0)) {
		vx_gw_fail(r, 404, st->field, NOT_FOUND);
		return;
	}
	if (st->code == VEXIL__V1__CODE__INVALID_ARGUMENT &&
	    (col = column(st->field, sent)) != NULL) {
		if (strcmp(st->constraint, "required") == 0)
			vx_fa_add(&v, "body", col, "string_too_short",
			    "String should have at least 1 character");
		else if (strcmp(st->constraint, "max_length") == 0)
			vx_fa_add(&v, "body", col, "string_too_long", st->message);
		else if (strcmp(st->constraint, "utf8") == 0)
			vx_fa_add(&v, "body", col, "string_unicode",
			    "Input should be a valid string, unable to parse raw data as "
			    "a "
			    "unicode string");
		else
			vx_fa_add(&v, "body", col, "value_error", st->message);
		vx_fa_reply(r, &v);
		return;
	}
	if (st->code == VEXIL__V1__CODE__FAILED_PRECONDITION &&
	    strcmp(st->field, "if_revision") == 0) {
		vx_gw_fail(r, 409, NULL,
		    "Feature flag was changed by another request; try again");
		return;
	}
	vx_gw_fail_status(r, st);
}

/* A query integer >= 0 with a default; errors are collected in v. */
static void
query_uint(vx_gw_req *r, struct vx_fa_errors *v, const char *name, uint32_t dflt, uint32_t *out)
{
	const char *s;
	char *end;
	long long n;
	int q = vx_gw_query(r, name, &s);

	*out = dflt;
	if (q == 0)
		return;
	if (q < 0) {
		vx_fa_add(v, "query", name, "int_parsing",
		    "Input should be a valid integer, unable to parse string as an integer");
	} else {
		n = strtoll(s, &end, 10);
		if (*s == '\0' || *end != '\0')
			vx_fa_add(v, "query", name, "int_parsing",
			    "Input should be a valid integer, unable to parse string as an "
			    "integer");
		else if (n < 0)
			vx_fa_add(v, "query", name, "greater_than_equal",
			    "Input should be greater than or equal to 0");
		else
			*out = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
}

/* ---- credentials ---- */


/* "Authorization: Bearer <jwt>" or "Authorization: ApiKey <key>" becomes
 * the credential as it is; vexild checks it. */

/* ---- the record ---- */

static const char *
meta(const Vexil__V1__Flag *f, const char *name)
{
	for (size_t i = 0; i < f->n_metadata; i++)
		if (f->metadata[i] && strcmp(f->metadata[i]->key, name) == 0)
			return f->metadata[i]->value;
	return NULL;
}


static cJSON *
str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* An integer column kept as a decimal string (null when absent or not one). */
static cJSON *
int_or_null(const char *s)
{
	char *end;
	long long n;

	if (s == NULL || *s == '\0')
		return cJSON_CreateNull();
	n = strtoll(s, &end, 10);
	return *end ? cJSON_CreateNull() : cJSON_CreateNumber((double)n);
}


static cJSON *
record_json(const Vexil__V1__Flag *f)
{
	const char *strategy = meta(f, "strategy");
	cJSON *o = cJSON_CreateObject();
	bool enabled = false;

	for (size_t i = 0; i < f->n_envs; i++)
		if (f->envs[i] && strcmp(f->envs[i]->environment, ENV) == 0)
			enabled = f->envs[i]->enabled;
	if (o == NULL || !vx_fa_put(o, "id", cJSON_CreateNumber((double)f->id)) ||
	    !vx_fa_put(o, "name_flag", cJSON_CreateString(*f->name ? f->name : f->key)) ||
	    !vx_fa_put(o, "is_enabled", cJSON_CreateBool(enabled)) ||
	    !vx_fa_put(o, "status", str_or_null(meta(f, "status"))) ||
	    !vx_fa_put(o, "strategy", cJSON_CreateString(strategy ? strategy : "")) ||
	    !vx_fa_put(o, "variation", str_or_null(meta(f, "variation"))) ||
	    !vx_fa_put(o, "created_at", vx_fa_time(f->created_at)) ||
	    !vx_fa_put(o, "updated_at", vx_fa_time(f->updated_at)) ||
	    !vx_fa_put(o, "created_by", int_or_null(meta(f, "created_by"))) ||
	    !vx_fa_put(o, "updated_by", int_or_null(meta(f, "updated_by")))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The request's columns. has_* are f_*'s results. */
struct cols {
	const char *name, *status, *strategy, *variation;
	bool enabled;
	int64_t created_by, updated_by;
	int has_name, has_enabled, has_status, has_strategy, has_variation;
	int has_created_by, has_updated_by;
};

/* A required field that is absent; null is pydantic's type error. */
static void
required(struct vx_fa_errors *v, const cJSON *b, const char *name, int has, const char *type,
    const char *msg)
{
	if (has != 0)
		return;
	if (cJSON_GetObjectItemCaseSensitive(b, name) == NULL)
		vx_fa_add(v, "body", name, "missing", "Field required");
	else
		vx_fa_add(v, "body", name, type, msg);
}

/* Reads the columns in the schema's order, as pydantic reports them.
 * create: FeatureFlagCreate (name_flag and strategy required); else
 * FeatureFlagUpdate (updated_by required). */
static void
read_cols(struct vx_fa_errors *v, const cJSON *b, struct cols *c, bool create)
{
	const char *s = "Input should be a valid string";

	c->has_name = vx_fa_str(v, b, "name_flag", &c->name);
	if (create)
		required(v, b, "name_flag", c->has_name, "string_type", s);
	/* A create's empty name is the core's refusal (mapped to this 422);
	 * an update's would rename the flag after its key instead. */
	else if (c->has_name == 1 && *c->name == '\0')
		vx_fa_add(v, "body", "name_flag", "string_too_short",
		    "String should have at least 1 character");
	c->has_enabled = vx_fa_bool(v, b, "is_enabled", &c->enabled);
	c->has_status = vx_fa_str(v, b, "status", &c->status);
	c->has_strategy = vx_fa_str(v, b, "strategy", &c->strategy);
	if (create)
		required(v, b, "strategy", c->has_strategy, "string_type", s);
	c->has_variation = vx_fa_str(v, b, "variation", &c->variation);
	c->has_created_by = vx_fa_int(v, b, "created_by", &c->created_by);
	c->has_updated_by = vx_fa_int(v, b, "updated_by", &c->updated_by);
	if (!create)
		required(v, b, "updated_by", c->has_updated_by, "int_type",
		    "Input should be a valid integer");
}

/* Sets metadata entry name (replacing or adding) in a list with room. */
static int
meta_set(vx_gw_req *r, Vexil__V1__Flag__MetadataEntry **m, size_t *n, const char *name,
    const char *value)
{
	Vexil__V1__Flag__MetadataEntry *e;

	for (size_t i = 0; i < *n; i++)
		if (strcmp(m[i]->key, name) == 0) {
			m[i]->value = (char *)value;
			return 0;
		}
	if ((e = vx_arena_alloc(r->arena, sizeof(*e))) == NULL)
		return VX_ENOMEM;
	vexil__v1__flag__metadata_entry__init(e);
	e->key = (char *)name;
	e->value = (char *)value;
	m[(*n)++] = e;
	return 0;
}

/*
 * The flag's metadata with the request's columns applied (copies of the
 * old entries, so the reply they came from is left as it was).
 */
static int
merge_meta(vx_gw_req *r, const Vexil__V1__Flag *old, const struct cols *c,
    Vexil__V1__Flag *f)
{
	size_t n = 0, cap = (old ? old->n_metadata : 0) + 5;
	Vexil__V1__Flag__MetadataEntry **m = vx_arena_alloc(r->arena, cap * sizeof(*m));
	char *cb = NULL, *ub = NULL;
	int rc = 0;

	if (m == NULL)
		return VX_ENOMEM;
	for (size_t i = 0; old && i < old->n_metadata; i++)
		if (old->metadata[i] &&
		    (rc = meta_set(r, m, &n, old->metadata[i]->key,
		         old->metadata[i]->value)) != 0)
			return rc;
	if (c->has_created_by == 1 &&
	    (cb = vx_arena_printf(r->arena, "%" PRId64, c->created_by)) == NULL)
		return VX_ENOMEM;
	if (c->has_updated_by == 1 &&
	    (ub = vx_arena_printf(r->arena, "%" PRId64, c->updated_by)) == NULL)
		return VX_ENOMEM;
	if ((c->has_status == 1 && (rc = meta_set(r, m, &n, "status", c->status)) != 0) ||
	    (c->has_strategy == 1 &&
	        (rc = meta_set(r, m, &n, "strategy", c->strategy)) != 0) ||
	    (c->has_variation == 1 &&
	        (rc = meta_set(r, m, &n, "variation", c->variation)) != 0) ||
	    (cb && (rc = meta_set(r, m, &n, "created_by", cb)) != 0) ||
	    (ub && (rc = meta_set(r, m, &n, "updated_by", ub)) != 0))
		return rc;
	f->metadata = m;
	f->n_metadata = n;
	return 0;
}

/* ---- core calls ---- */

/* {feature_flag_id}: an integer (ids under 1 are simply not found), or
 * the flag's id as the other dialects print it ("flag-7", the UUID form);
 * anything else is 422. */
static bool
path_id(vx_gw_req *r, uint64_t *id)
{
	const char *s = vx_gw_param(r, "feature_flag_id");
	struct vx_fa_errors v = {0};
	char *end;
	long long n = strtoll(s, &end, 10);

	if (*s != '\0' && *end == '\0') {
		*id = n > 0 ? (uint64_t)n : 0;
		return true;
	}
	if (vx_gw_id_parse(s, VX_GW_KIND_FLAG, id) == 0)
		return true;
	vx_fa_add(&v, "path", "feature_flag_id", "int_parsing",
	    "Input should be a valid integer, unable to parse string as an integer");
	vx_fa_reply(r, &v);
	return false;
}

/* GetFlag of {feature_flag_id}; false after answering. */
static bool
load_id(vx_gw_req *r, uint64_t id, Vexil__V1__Flag **f)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	vx_status st;

	if (id == 0) {
		vx_gw_fail(r, 404, "feature_flag_id", NOT_FOUND);
		return false;
	}
	in.project = PROJECT;
	in.id = id;
	if (vx_get_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, f, &st) != 0) {
		fail_call(r, &st, NULL);
		return false;
	}
	return true;
}

static bool
load(vx_gw_req *r, Vexil__V1__Flag **f)
{
	uint64_t id;

	return path_id(r, &id) && load_id(r, id, f);
}

/* The project's revision, read before the flag a PUT changes. */
static bool
revision(vx_gw_req *r, uint64_t *rev)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.project = PROJECT;
	if (vx_get_project_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &p, &st) != 0) {
		fail_call(r, &st, NULL);
		return false;
	}
	*rev = p->revision;
	return true;
}

/* ---- routes ---- */

static void
ff_create(vx_gw_req *r)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	struct cols c = {0};
	struct vx_fa_errors v = {0};
	vx_status st;
	cJSON *b;

	if (!vx_fa_need_credential(r) || !vx_fa_body(r, &b))
		return;
	read_cols(&v, b, &c, true);
	if (vx_fa_reply(r, &v))
		return;
	if (merge_meta(r, NULL, &c, &f) != 0) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	/* One write: the core derives a free key from the name, and
	 * is_enabled (default true) holds in every environment. */
	f.key = "";
	f.name = (char *)c.name;
	in.project = PROJECT;
	in.flag = &f;
	in.derive_key = true;
	in.enabled = c.has_enabled != 1 || c.enabled;
	if (vx_create_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		fail_call(r, &st, &f);
		return;
	}
	vx_gw_reply_json(r, 201, record_json(out));
}

static void
ff_list(vx_gw_req *r)
{
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	struct vx_fa_errors v = {0};
	uint32_t skip, limit;
	vx_status st;
	cJSON *arr;

	if (!vx_fa_need_credential(r))
		return;
	query_uint(r, &v, "skip", 0, &skip);
	query_uint(r, &v, "limit", 100, &limit);
	if (vx_fa_reply(r, &v))
		return;
	if ((arr = cJSON_CreateArray()) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	in.project = PROJECT;
	in.offset = skip;
	/* limit=0 still asks once, so the credential is checked. */
	do {
		in.limit = limit - (uint32_t)cJSON_GetArraySize(arr);
		if (in.limit == 0 || in.limit > PAGE)
			in.limit = limit ? PAGE : 1;
		if (vx_list_flags_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
			cJSON_Delete(arr);
			fail_call(r, &st, NULL);
			return;
		}
		for (size_t i = 0; i < out->n_flags && (uint32_t)cJSON_GetArraySize(arr) < limit;
		     i++) {
			cJSON *o = record_json(out->flags[i]);
			if (o == NULL) {
				cJSON_Delete(arr);
				vx_gw_fail(r, 500, NULL, "out of memory");
				return;
			}
			cJSON_AddItemToArray(arr, o);
		}
		in.offset += (uint32_t)out->n_flags;
	} while (out->n_flags > 0 && (uint32_t)cJSON_GetArraySize(arr) < limit &&
	    in.offset < out->total);
	vx_gw_reply_json(r, 200, arr);
}

static void
ff_get(vx_gw_req *r)
{
	Vexil__V1__Flag *f;

	if (!vx_fa_need_credential(r) || !load(r, &f))
		return;
	vx_gw_reply_json(r, 200, record_json(f));
}

/*
 * One UpdateFlag: name, the metadata columns merged into the flag's, and
 * is_enabled in every environment, all in one write. The merge reads the
 * flag first, so the write carries the revision read before it; when
 * another write came between, the core refuses it unchanged and the PUT
 * reads again (RETRIES times at most, then 409).
 */
static void
ff_update(vx_gw_req *r)
{
	Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *f;
	Vexil__V1__FlagEnvConfig env = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	struct cols c = {0};
	struct vx_fa_errors v = {0};
	char *mask[3];
	vx_status st;
	cJSON *b;
	uint64_t id;

	if (!vx_fa_need_credential(r) || !path_id(r, &id) || !vx_fa_body(r, &b))
		return;
	read_cols(&v, b, &c, false);
	if (vx_fa_reply(r, &v))
		return;
	if (c.has_name == 1) {
		upd.name = (char *)c.name;
		mask[in.n_update_mask++] = "name";
	}
	mask[in.n_update_mask++] = "metadata";
	if (c.has_enabled == 1) {
		env.enabled = c.enabled;
		in.env = &env;
		in.all_environments = true;
		mask[in.n_update_mask++] = "env.enabled";
	}
	in.project = PROJECT;
	in.update = &upd;
	in.update_mask = mask;
	for (int attempt = 0;; attempt++) {
		if (!revision(r, &in.if_revision) || !load_id(r, id, &f))
			return;
		if (merge_meta(r, f, &c, &upd) != 0) {
			vx_gw_fail(r, 500, NULL, "out of memory");
			return;
		}
		in.key = f->key;
		if (vx_update_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &f, &st) == 0)
			break;
		if (st.code != VEXIL__V1__CODE__FAILED_PRECONDITION ||
		    strcmp(st.field, "if_revision") != 0 || attempt + 1 == RETRIES) {
			fail_call(r, &st, &upd);
			return;
		}
	}
	vx_gw_reply_json(r, 200, record_json(f));
}

static void
ff_delete(vx_gw_req *r)
{
	Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	Vexil__V1__Empty *e;
	vx_status st;

	if (!vx_fa_need_credential(r) || !load(r, &f))
		return;
	in.project = PROJECT;
	in.key = f->key;
	if (vx_delete_flag_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &e, &st) != 0) {
		fail_call(r, &st, NULL);
		return;
	}
	vx_gw_reply_empty(r, 204);
}

/* ---- the dialect ---- */

/* The router ignores one trailing slash: "/api/feature-flags/" is served
 * like "/api/feature-flags". */
static const vx_gw_route routes[] = {
	{"POST", "/api/feature-flags", ff_create},
	{"GET", "/api/feature-flags", ff_list},
	{"GET", "/api/feature-flags/{feature_flag_id}", ff_get},
	{"PUT", "/api/feature-flags/{feature_flag_id}", ff_update},
	{"DELETE", "/api/feature-flags/{feature_flag_id}", ff_delete},
};

static const char *const prefixes[] = {"/api/feature-flags", NULL};

const vx_gw_dialect vx_gw_table_dialect = {
	.name = "feature-flag-table",
	.prefixes = prefixes,
	.error = vx_fa_error,
	.routes = routes,
	.n_routes = sizeof(routes) / sizeof(routes[0]),
};
