/*
 * Vexil gateway — what the two FastAPI dialects (the feature-flag table and
 * the toggles API) share: FastAPI's error bodies, pydantic-style field
 * checks that collect every fault into one 422, and their credentials.
 *
 * Whose `default`. Both documents keep their records in the project named
 * `default`. A project name resolves in the caller's owner space (see
 * docs/gateway.md), so an API key sees the `default` project vexild
 * created with the database (and its seeded table flags), and a signed-up
 * user sees a `default` of their own, which vexild creates with the
 * account (RegisterUser). A user never reaches the shared one: sign-up is
 * open, and anyone could otherwise rewrite the service's global flags.
 */
#include "gateway/fastapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/format.h"
#include "gateway/json.h"
#include "gateway/rpc.h"

void
vx_fa_error(vx_gw_req *r, int status, const char *field, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	(void)field;
	/* The router's own 404 and 405, as Starlette words them. */
	if (status == 404 && strcmp(message, "Not found") == 0)
		message = "Not Found";
	else if (status == 405)
		message = "Method Not Allowed";
	if (o && cJSON_AddStringToObject(o, "detail", message) == NULL) {
		cJSON_Delete(o);
		o = NULL;
	}
	vx_gw_reply_json(r, status, o);
}

void
vx_fa_add(struct vx_fa_errors *v, const char *where, const char *field, const char *type,
    const char *msg)
{
	cJSON *e, *loc;

	if (v->oom)
		return;
	if (v->list == NULL && (v->list = cJSON_CreateArray()) == NULL)
		goto oom;
	if ((e = cJSON_CreateObject()) == NULL)
		goto oom;
	cJSON_AddItemToArray(v->list, e);
	if ((loc = cJSON_AddArrayToObject(e, "loc")) == NULL)
		goto oom;
	cJSON_AddItemToArray(loc, cJSON_CreateString(where));
	if (field)
		cJSON_AddItemToArray(loc, cJSON_CreateString(field));
	if (cJSON_GetArraySize(loc) != (field ? 2 : 1) ||
	    cJSON_AddStringToObject(e, "msg", msg) == NULL ||
	    cJSON_AddStringToObject(e, "type", type) == NULL)
		goto oom;
	return;
oom:
	v->oom = true;
}

bool
vx_fa_reply(vx_gw_req *r, struct vx_fa_errors *v)
{
	cJSON *o;

	if (v->oom) {
		cJSON_Delete(v->list);
		vx_gw_fail(r, 500, NULL, "out of memory");
		return true;
	}
	if (v->list == NULL)
		return false;
	if ((o = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(v->list);
		vx_gw_fail(r, 500, NULL, "out of memory");
		return true;
	}
	cJSON_AddItemToObject(o, "detail", v->list);
	vx_gw_reply_json(r, 422, o);
	return true;
}

bool
vx_fa_body(vx_gw_req *r, cJSON **out)
{
	struct vx_fa_errors v = {0};

	if (r->body_len == 0 || vx_gw_json_body(r, false, out) == 0) {
		if (r->body_len != 0)
			return true;
		vx_fa_add(&v, "body", NULL, "missing", "Field required");
	} else if (r->json == NULL && r->err_field[0]) {
		/* A string holding \u0000 (json.c), refused rather than cut. */
		vx_fa_add(&v, "body", r->err_field, "value_error", r->err_msg);
	} else if (r->json == NULL) {
		vx_fa_add(&v, "body", NULL, "json_invalid", "JSON decode error");
	} else {
		vx_fa_add(&v, "body", NULL, "model_attributes_type",
		    "Input should be a valid dictionary or object to extract fields from");
	}
	vx_fa_reply(r, &v);
	return false;
}

static const cJSON *
member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
	return m == NULL || cJSON_IsNull(m) ? NULL : m;
}

int
vx_fa_str(struct vx_fa_errors *v, const cJSON *o, const char *name, const char **out)
{
	const cJSON *m = member(o, name);

	if (m == NULL)
		return 0;
	if (!cJSON_IsString(m)) {
		vx_fa_add(v, "body", name, "string_type", "Input should be a valid string");
		return -1;
	}
	*out = m->valuestring;
	return 1;
}

int
vx_fa_bool(struct vx_fa_errors *v, const cJSON *o, const char *name, bool *out)
{
	const cJSON *m = member(o, name);

	if (m == NULL)
		return 0;
	if (cJSON_IsString(m)) {
		vx_fa_add(v, "body", name, "bool_parsing",
		    "Input should be a valid boolean, unable to interpret input");
		return -1;
	}
	if (!cJSON_IsBool(m)) {
		vx_fa_add(v, "body", name, "bool_type", "Input should be a valid boolean");
		return -1;
	}
	*out = cJSON_IsTrue(m);
	return 1;
}

int
vx_fa_int(struct vx_fa_errors *v, const cJSON *o, const char *name, int64_t *out)
{
	const cJSON *m = member(o, name);
	double d;

	if (m == NULL)
		return 0;
	if (cJSON_IsString(m)) {
		vx_fa_add(v, "body", name, "int_parsing",
		    "Input should be a valid integer, unable to parse string as an integer");
		return -1;
	}
	if (!cJSON_IsNumber(m)) {
		vx_fa_add(v, "body", name, "int_type", "Input should be a valid integer");
		return -1;
	}
	d = m->valuedouble;
	/* The range first: casting a double outside int64_t's is undefined. */
	if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0)) {
		vx_fa_add(v, "body", name, "int_type", "Input should be a valid integer");
		return -1;
	}
	if (d != (double)(int64_t)d) {
		vx_fa_add(v, "body", name, "int_from_float",
		    "Input should be a valid integer, got a number with a fractional part");
		return -1;
	}
	*out = (int64_t)d;
	return 1;
}

/*
 * An API key's request is admitted as on /v1 (vx_gw_admit): vexild counts
 * it against the key's rate limit, so a key refused 429 there is refused
 * here too. Over the limit: 429 {"detail": ...} with Retry-After. A
 * user's token is not limited (vexild limits API keys only), so it costs
 * no call here.
 */
static bool
admit(vx_gw_req *r)
{
	Vexil__V1__AdmitReply *out;
	vx_status st;
	int rc = vx_gw_admit(r, &out, &st);

	if (rc < 0) {
		vx_gw_fail_status(r, &st);
		return false;
	}
	if (rc == 1) {
		vx_gw_fail(r, 429, NULL,
		    "Rate limit of %u requests per minute exceeded; retry in %s s",
		    out->rate->limit, vx_gw_res_header(r, "Retry-After"));
		return false;
	}
	return true;
}

bool
vx_fa_need_credential(vx_gw_req *r)
{
	const char *h = vx_gw_header(r, "Authorization");
	const char *scheme = NULL;

	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		scheme = "Bearer";
	else if (h && strncasecmp(h, "ApiKey ", 7) == 0)
		scheme = "ApiKey";
	if (scheme == NULL || !vx_gw_token_ok(h + 7)) {
		vx_gw_fail(r, 401, NULL, "Not authenticated");
		return false;
	}
	if ((r->credential = vx_arena_join(r->arena, scheme, h + 7)) == NULL) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return false;
	}
	return strcmp(scheme, "ApiKey") != 0 || admit(r);
}

bool
vx_fa_put(cJSON *o, const char *name, cJSON *item)
{
	if (item == NULL)
		return false;
	cJSON_AddItemToObject(o, name, item);
	return true;
}

cJSON *
vx_fa_time(int64_t ms)
{
	char s[32];

	vx_gw_time_format(s, ms);
	return cJSON_CreateString(s);
}

int
vx_fa_obj(struct vx_fa_errors *v, const cJSON *o, const char *name, const cJSON **out)
{
	const cJSON *m = member(o, name);

	if (m == NULL)
		return 0;
	if (!cJSON_IsObject(m)) {
		vx_fa_add(v, "body", name, "dict_type", "Input should be a valid dictionary");
		return -1;
	}
	*out = m;
	return 1;
}
