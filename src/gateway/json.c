/*
 * Vexil gateway — JSON body parsing and typed field readers: see json.h.
 */
#include "gateway/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/text.h"

int
vx_gw_json_refuse(vx_gw_req *r, const char *field, const char *fmt, ...)
{
	char msg[sizeof(r->err_msg)];
	va_list ap;

	/* Both may echo the request (a key of its JSON): escaped, so that
	 * the error body is valid JSON and one log line. */
	vx_text_escape(r->err_field, sizeof(r->err_field), field ? field : "");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vx_text_escape(r->err_msg, sizeof(r->err_msg), msg);
	return -1;
}

static bool
only_space(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return false;
	return true;
}

/*
 * NUL inside a string. cJSON decodes "\u0000" into a NUL byte and so cuts
 * the string there; {"key":"nul\u0000tail"} would become "nul". So the
 * escape is rewritten before parsing into the two bytes C0 80 (an
 * overlong NUL, never valid UTF-8, so never in a string we keep), and a
 * string or key holding them afterwards is refused, naming the field.
 */
#define NUL_MARK "\xc0\x80"

/* A copy of text[0..n) with every \u0000 escape inside a string as
 * NUL_MARK (malloc'ed, *len set), or NULL when there is none or out of
 * memory (*oom then). */
static char *
mark_nuls(const char *text, size_t n, size_t *len, bool *oom)
{
	bool in_str = false, any = false;
	size_t o = 0;
	char *c;

	*oom = false;
	/* Most bodies have no escape at all. */
	if (memchr(text, '\\', n) == NULL)
		return NULL;
	for (size_t i = 0; i < n && !any; i++) {
		if (!in_str)
			in_str = text[i] == '"';
		else if (text[i] == '"')
			in_str = false;
		else if (text[i] == '\\' && i + 1 < n) {
			any = n - i >= 6 && memcmp(text + i, "\\u0000", 6) == 0;
			i++;
		}
	}
	if (!any)
		return NULL;
	if ((c = malloc(n)) == NULL) {
		*oom = true;
		return NULL;
	}
	in_str = false;
	for (size_t i = 0; i < n; i++) {
		if (in_str && text[i] == '\\' && n - i >= 6 &&
		    memcmp(text + i, "\\u0000", 6) == 0) {
			memcpy(c + o, NUL_MARK, 2);
			o += 2;
			i += 5;
			continue;
		}
		if (!in_str)
			in_str = text[i] == '"';
		else if (text[i] == '"')
			in_str = false;
		else if (text[i] == '\\' && i + 1 < n)
			c[o++] = text[i++];
		c[o++] = text[i];
	}
	*len = o;
	return c;
}

/* The first member (at any depth) whose key or string holds NUL_MARK:
 * its path ("metadata.owner", "values[2]") in out; false when none. */
static bool
find_nul(const cJSON *item, char *out, size_t cap, size_t len)
{
	int i = 0;

	for (const cJSON *c = item->child; c; c = c->next, i++) {
		int n = c->string ? snprintf(out + len, cap - len, "%s%s", len ? "." : "",
		                        c->string)
		                  : snprintf(out + len, cap - len, "[%d]", i);
		size_t l = n < 0                   ? len
		           : len + (size_t)n < cap ? len + (size_t)n
		                                   : cap - 1;
		if ((c->string && strstr(c->string, NUL_MARK)) ||
		    (cJSON_IsString(c) && strstr(c->valuestring, NUL_MARK)) ||
		    find_nul(c, out, cap, l)) {
			/* A key is named up to its NUL. */
			char *m = strstr(out, NUL_MARK);
			if (m)
				*m = '\0';
			return true;
		}
		out[len] = '\0';
	}
	return false;
}

int
vx_gw_json_body(vx_gw_req *r, bool empty_ok, cJSON **out)
{
	const char *text = (const char *)r->body, *end = NULL;
	char path[64] = "";
	size_t len = r->body_len;
	char *marked = NULL;
	bool oom;

	*out = NULL;
	if (r->json == NULL) {
		if (r->body_len == 0 || only_space(text, text + r->body_len)) {
			if (!empty_ok)
				return vx_gw_json_refuse(r, NULL, "Request body is required");
			if ((r->json = cJSON_CreateObject()) == NULL)
				return vx_gw_json_refuse(r, NULL, "out of memory");
		} else {
			if ((marked = mark_nuls(text, len, &len, &oom)) != NULL)
				text = marked;
			else if (oom)
				return vx_gw_json_refuse(r, NULL, "out of memory");
			/* cJSON stops at a NUL, so one inside the body is trailing
			 * garbage like any other. */
			r->json = cJSON_ParseWithLengthOpts(text, len, &end, false);
			if (r->json != NULL && !only_space(end, text + len)) {
				cJSON_Delete(r->json);
				r->json = NULL;
				free(marked);
				return vx_gw_json_refuse(r, NULL,
				    "Malformed JSON in request body: trailing data");
			}
			free(marked);
			if (r->json == NULL)
				return vx_gw_json_refuse(
				    r, NULL, "Malformed JSON in request body");
			if (marked && find_nul(r->json, path, sizeof(path), 0)) {
				cJSON_Delete(r->json);
				r->json = NULL;
				return vx_gw_json_refuse(r, path[0] ? path : "body",
				    "%s must not contain a NUL character (\\u0000)",
				    path[0] ? path : "body");
			}
		}
	}
	if (!cJSON_IsObject(r->json))
		return vx_gw_json_refuse(r, NULL, "Request body must be a JSON object");
	*out = r->json;
	return 0;
}

/* The field, or NULL when absent or null. */
static const cJSON *
field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return v == NULL || cJSON_IsNull(v) ? NULL : v;
}

int
vx_gw_json_string(vx_gw_req *r, const cJSON *obj, const char *name, const char **out)
{
	const cJSON *v = field(obj, name);

	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return vx_gw_json_refuse(r, name, "%s must be a string", name);
	*out = v->valuestring;
	return 1;
}

int
vx_gw_json_bool(vx_gw_req *r, const cJSON *obj, const char *name, bool *out)
{
	const cJSON *v = field(obj, name);

	if (v == NULL)
		return 0;
	if (!cJSON_IsBool(v))
		return vx_gw_json_refuse(r, name, "%s must be a boolean", name);
	*out = cJSON_IsTrue(v);
	return 1;
}

int
vx_gw_json_int(vx_gw_req *r, const cJSON *obj, const char *name, int64_t min,
    int64_t max, int64_t *out)
{
	const cJSON *v = field(obj, name);
	double d;

	if (v == NULL)
		return 0;
	if (!cJSON_IsNumber(v))
		return vx_gw_json_refuse(r, name, "%s must be an integer", name);
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return vx_gw_json_refuse(r, name, "%s must be an integer", name);
	if (d < (double)min || d > (double)max)
		return vx_gw_json_refuse(r, name, "%s must be between %lld and %lld", name,
		    (long long)min, (long long)max);
	*out = (int64_t)d;
	return 1;
}

int
vx_gw_json_object(vx_gw_req *r, const cJSON *obj, const char *name, const cJSON **out)
{
	const cJSON *v = field(obj, name);

	if (v == NULL)
		return 0;
	if (!cJSON_IsObject(v))
		return vx_gw_json_refuse(r, name, "%s must be an object", name);
	*out = v;
	return 1;
}

/* An array item as list text: a string as is, a number in its shortest
 * exact form, a boolean as true/false. NULL for anything else. */
static char *
list_item(vx_gw_req *r, const cJSON *e)
{
	char num[32];

	if (cJSON_IsString(e))
		return e->valuestring;
	if (cJSON_IsBool(e))
		return cJSON_IsTrue(e) ? "true" : "false";
	if (!cJSON_IsNumber(e))
		return NULL;
	snprintf(num, sizeof(num), "%.15g", e->valuedouble);
	if (strtod(num, NULL) != e->valuedouble)
		snprintf(num, sizeof(num), "%.17g", e->valuedouble);
	return vx_arena_strdup(r->arena, num);
}

/* A JSON value as an evaluation-context attribute: a string, number,
 * boolean or list of those (as text). */
int
vx_gw_json_attr(vx_gw_req *r, const cJSON *v, Vexil__V1__AttrValue *out)
{
	vexil__v1__attr_value__init(out);
	if (cJSON_IsString(v)) {
		out->kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
		out->str = v->valuestring;
	} else if (cJSON_IsNumber(v)) {
		out->kind_case = VEXIL__V1__ATTR_VALUE__KIND_NUM;
		out->num = v->valuedouble;
	} else if (cJSON_IsBool(v)) {
		out->kind_case = VEXIL__V1__ATTR_VALUE__KIND_FLAG;
		out->flag = cJSON_IsTrue(v);
	} else if (cJSON_IsArray(v)) {
		int n = cJSON_GetArraySize(v);
		Vexil__V1__StringList *l = vx_arena_alloc(r->arena, sizeof(*l));
		char **items = vx_arena_alloc(r->arena, (size_t)(n ? n : 1) * sizeof(*items));
		const cJSON *e;
		size_t i = 0;

		if (l == NULL || items == NULL)
			return VX_ENOMEM;
		vexil__v1__string_list__init(l);
		cJSON_ArrayForEach(e, v)
		{
			if (!cJSON_IsString(e) && !cJSON_IsNumber(e) && !cJSON_IsBool(e))
				return VX_EINVAL;
			if ((items[i++] = list_item(r, e)) == NULL)
				return VX_ENOMEM;
		}
		l->items = items;
		l->n_items = i;
		out->kind_case = VEXIL__V1__ATTR_VALUE__KIND_LIST;
		out->list = l;
	} else {
		return VX_EINVAL;
	}
	return 0;
}

static bool
skipped(const char *name, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (vx_gw_streq(name, *skip))
			return true;
	return false;
}

/* One attribute named key with v's value, after the bounds. */
static int
attr_add(vx_gw_req *r, const char *prefix, const char *key, const cJSON *v, size_t max,
    Vexil__V1__EvalContext *ctx)
{
	Vexil__V1__EvalContext__AttributesEntry *ent;
	Vexil__V1__AttrValue *val;
	int rc;

	if (ctx->n_attributes == max)
		return vx_gw_json_refuse(
		    r, prefix, "%s has more than %zu attributes", prefix, max);
	for (size_t i = 0; i < ctx->n_attributes; i++)
		if (strcmp(ctx->attributes[i]->key, key) == 0)
			return vx_gw_json_refuse(
			    r, prefix, "%s.%.128s is given twice", prefix, key);
	ent = vx_arena_alloc(r->arena, sizeof(*ent));
	val = vx_arena_alloc(r->arena, sizeof(*val));
	if (ent == NULL || val == NULL || (rc = vx_gw_json_attr(r, v, val)) == VX_ENOMEM)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	if (rc != 0)
		return vx_gw_json_refuse(r, prefix,
		    "%s.%.128s must be a string, number, boolean, object, or list of "
		    "strings, numbers or booleans",
		    prefix, key);
	vexil__v1__eval_context__attributes_entry__init(ent);
	ent->key = (char *)key;
	ent->value = val;
	ctx->attributes[ctx->n_attributes++] = ent;
	return 0;
}

static int
attrs_walk(vx_gw_req *r, const cJSON *o, const char *path, int depth, const char *prefix,
    const char *const *skip, size_t max, Vexil__V1__EvalContext *ctx)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, o)
	{
		const char *key = v->string;
		int rc;

		if (cJSON_IsNull(v) || (depth == 0 && skipped(key, skip)))
			continue;
		if (path && (key = vx_arena_printf(r->arena, "%s.%s", path, key)) == NULL)
			return vx_gw_json_refuse(r, NULL, "out of memory");
		if (strlen(key) > VX_GW_ATTR_NAME_MAX)
			return vx_gw_json_refuse(r, prefix,
			    "%s.%.64s...: an attribute name is at most %d bytes", prefix,
			    key, VX_GW_ATTR_NAME_MAX);
		if (cJSON_IsObject(v)) {
			if (depth + 1 == VX_GW_ATTR_DEPTH)
				return vx_gw_json_refuse(r, prefix,
				    "%s.%.128s: objects nest deeper than a name of %d "
				    "parts",
				    prefix, key, VX_GW_ATTR_DEPTH);
			rc = attrs_walk(r, v, key, depth + 1, prefix, NULL, max, ctx);
		} else {
			rc = attr_add(r, prefix, key, v, max, ctx);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
vx_gw_json_attrs(vx_gw_req *r, const cJSON *o, const char *prefix,
    const char *const *skip, size_t max, Vexil__V1__EvalContext *ctx)
{
	if (ctx->attributes == NULL && (ctx->attributes = vx_arena_alloc(r->arena,
	                                    max * sizeof(*ctx->attributes))) == NULL)
		return vx_gw_json_refuse(r, NULL, "out of memory");
	return attrs_walk(r, o, NULL, 0, prefix, skip, max, ctx);
}

bool
vx_gw_json_append(cJSON *arr, cJSON *item)
{
	if (arr == NULL || item == NULL) {
		cJSON_Delete(item);
		return false;
	}
	cJSON_AddItemToArray(arr, item);
	return true;
}

cJSON *
vx_gw_json_done(cJSON *o, bool ok)
{
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void
vx_gw_json_put_num(cJSON *o, bool *ok, const char *name, double v)
{
	if (*ok && cJSON_AddNumberToObject(o, name, v) == NULL)
		*ok = false;
}

/* ---- replies written directly ---- */

bool
vx_gw_jbuf_grow(vx_gw_jbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + n <= b->cap)
		return true;
	for (cap = b->cap ? b->cap * 2 : 1024; cap < b->len + n; cap *= 2)
		;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

/* The bytes a JSON string cannot hold as they are: the controls (NUL
 * included, which ends the scan), '"' and '\\'. */
#define CTL16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char needs_escape[256] = {CTL16, CTL16, ['"'] = 1, ['\\'] = 1};
#undef CTL16

void
vx_gw_jbuf_str(vx_gw_jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *c = (const unsigned char *)(s ? s : "");
	size_t k = 0, n;
	char *o;

	/* Most strings (keys, variants, ids) need no escape: one scan finds
	 * their end, and they are copied in one piece. */
	while (!needs_escape[c[k]])
		k++;
	n = c[k] == '\0' ? k : k + strlen((const char *)c + k);
	/* At most six bytes for each escaped (a \u00XX escape), and the
	 * quotes. */
	if (b->len + k + 6 * (n - k) + 2 > b->cap &&
	    !vx_gw_jbuf_grow(b, k + 6 * (n - k) + 2))
		return;
	o = b->p + b->len;
	*o++ = '"';
	memcpy(o, c, k);
	o += k;
	for (c += k; *c; c++) {
		if (!needs_escape[*c]) {
			*o++ = (char)*c;
			continue;
		}
		*o++ = '\\';
		switch (*c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[*c >> 4];
			*o++ = hex[*c & 15];
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

void
vx_gw_jbuf_value(vx_gw_jbuf *b, const char *json)
{
	cJSON *v;
	int lit;

	/* The common cases as they are; anything else is printed by cJSON,
	 * so a number or string reads exactly as the tree built it. */
	if (json == NULL || *json == '\0' || vx_gw_streq(json, "null")) {
		vx_gw_jbuf_raw(b, "null", 4);
	} else if ((lit = vx_gw_json_bool_text(json)) >= 0) {
		if (lit)
			VX_GW_JBUF_LIT(b, "true");
		else
			VX_GW_JBUF_LIT(b, "false");
	} else if ((v = cJSON_Parse(json)) == NULL) {
		vx_gw_jbuf_raw(b, "null", 4);
	} else {
		vx_gw_jbuf_tree(b, v);
		cJSON_Delete(v);
	}
}

void
vx_gw_jbuf_tree(vx_gw_jbuf *b, const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);

	if (text == NULL)
		b->failed = true;
	else
		vx_gw_jbuf_raw(b, text, strlen(text));
	free(text);
}

void
vx_gw_jbuf_reply(vx_gw_req *r, int status, vx_gw_jbuf *b)
{
	if (b->failed || b->len == 0) {
		free(b->p);
		*b = (vx_gw_jbuf){0};
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return;
	}
	free(r->res_body);
	r->res_body = b->p;
	r->res_len = b->len;
	r->content_type = "application/json";
	r->status = status;
	*b = (vx_gw_jbuf){0};
}
