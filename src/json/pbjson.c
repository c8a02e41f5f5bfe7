/*
 * Vexil — protobuf to JSON by descriptor: see pbjson.h.
 */
#include "json/pbjson.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static size_t
elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM: return 4;
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	default: return 8;
	}
}

/* Timestamps are int64 unix milliseconds in fields named at, time or *_at. */
static bool
is_time(const ProtobufCFieldDescriptor *f)
{
	size_t n = strlen(f->name);

	if (f->type != PROTOBUF_C_TYPE_INT64)
		return false;
	return strcmp(f->name, "at") == 0 || strcmp(f->name, "time") == 0 ||
	       (n > 3 && strcmp(f->name + n - 3, "_at") == 0);
}

/*
 * An enum value without its type's prefix, lower-cased: FLAG_TYPE_BOOLEAN of
 * FlagType reads "boolean", ROLE_ADMIN of Role "admin". Values that do not
 * carry the prefix (NOT_FOUND of Code) keep their name.
 */
static cJSON *
enum_name(const ProtobufCEnumDescriptor *d, const ProtobufCEnumValue *ev)
{
	char prefix[64], name[64];
	size_t n = 0, i;

	for (const char *c = d->short_name; *c && n < sizeof(prefix) - 2; c++) {
		if (*c >= 'A' && *c <= 'Z' && c != d->short_name)
			prefix[n++] = '_';
		prefix[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
	}
	prefix[n++] = '_';
	if (strncmp(ev->name, prefix, n) != 0 || strlen(ev->name + n) >= sizeof(name))
		return cJSON_CreateString(ev->name);
	for (i = 0; ev->name[n + i]; i++) {
		char c = ev->name[n + i];
		name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	name[i] = '\0';
	return cJSON_CreateString(name);
}

static cJSON *
scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
	char when[VX_TIME_LEN];
	char hex[129];
	const ProtobufCBinaryData *b;
	const ProtobufCEnumValue *ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: return cJSON_CreateNumber(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: return cJSON_CreateNumber(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (is_time(f)) {
			if (*(const int64_t *)p == 0)
				return cJSON_CreateNull();
			vx_format_time_ms(when, *(const int64_t *)p);
			return cJSON_CreateString(when);
		}
		return cJSON_CreateNumber((double)*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return cJSON_CreateNumber((double)*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT: return cJSON_CreateNumber(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return cJSON_CreateNumber(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL: return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return ev ? enum_name(f->descriptor, ev)
		          : cJSON_CreateNumber(*(const int *)p);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return cJSON_CreateString(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES:
		b = p;
		vx_hex(hex, b->data, b->len > 64 ? 64 : b->len);
		return cJSON_CreateString(hex);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		return m ? vx_pb_to_json(m) : cJSON_CreateNull();
	}
	}
	return cJSON_CreateNull();
}

static bool
is_map_entry(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE || d->n_fields != 2)
		return false;
	n = strlen(d->short_name);
	return n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 &&
	    strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

cJSON *
vx_pb_to_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	cJSON *obj = cJSON_CreateObject(), *v;

	if (obj == NULL)
		return NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *member = (const char *)m + f->offset;

		/* The members of a oneof share their memory: only the one set
		 * may be read (reading a number as a string pointer crashes). */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			const char *arr = *(char *const *)member;
			bool map = is_map_entry(f);
			v = map ? cJSON_CreateObject() : cJSON_CreateArray();
			for (size_t j = 0; v && j < n; j++) {
				const void *p = arr + j * elem_size(f->type);
				if (map) {
					const ProtobufCMessage *e = *(ProtobufCMessage *const *)p;
					const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
					const char *key = *(char *const *)((const char *)e + kf->offset);
					cJSON_AddItemToObject(v, key ? key : "",
					    scalar(&e->descriptor->fields[1],
						(const char *)e + e->descriptor->fields[1].offset));
				} else {
					cJSON_AddItemToArray(v, scalar(f, p));
				}
			}
		} else {
			v = scalar(f, member);
		}
		if (v == NULL) {
			cJSON_Delete(obj);
			return NULL;
		}
		cJSON_AddItemToObject(obj, f->name, v);
	}
	return obj;
}

/* ---- JSON to protobuf ---- */

struct jerr {
	char *buf;
	size_t cap;
};

static int
bad(struct jerr *e, const char *path, const char *why)
{
	snprintf(e->buf, e->cap, "%s: %s", *path ? path : "(top level)", why);
	return VX_EINVAL;
}

static int fill(const ProtobufCMessageDescriptor *d, const cJSON *obj,
    ProtobufCMessage *m, const char *path, struct jerr *e);

/* An enum value by short lower-case name (as vx_pb_to_json prints it) or
 * by its full name. */
static int
enum_value(const ProtobufCEnumDescriptor *d, const cJSON *v, int *out)
{
	for (unsigned i = 0; cJSON_IsString(v) && i < d->n_values; i++) {
		cJSON *name = enum_name(d, &d->values[i]);
		bool same = name && strcmp(name->valuestring, v->valuestring) == 0;
		cJSON_Delete(name);
		if (same || strcmp(d->values[i].name, v->valuestring) == 0) {
			*out = d->values[i].value;
			return 0;
		}
	}
	return VX_EINVAL;
}

static int
integer(const cJSON *v, double lo, double hi, double *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble ||
	    v->valuedouble < lo || v->valuedouble > hi)
		return VX_EINVAL;
	*out = v->valuedouble;
	return 0;
}

/* One value of field f from v into p. */
static int
scalar_in(const ProtobufCFieldDescriptor *f, const cJSON *v, void *p, const char *path,
    struct jerr *e)
{
	double n;
	int ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (integer(v, INT32_MIN, INT32_MAX, &n) != 0)
			return bad(e, path, "must be an integer (32-bit)");
		*(int32_t *)p = (int32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (integer(v, 0, UINT32_MAX, &n) != 0)
			return bad(e, path, "must be a non-negative integer (32-bit)");
		*(uint32_t *)p = (uint32_t)n;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (is_time(f) && cJSON_IsString(v))
			return 0; /* server-owned; see vx_json_to_pb() */
		if (integer(v, -9007199254740992.0, 9007199254740992.0, &n) != 0)
			return bad(e, path, "must be an integer");
		*(int64_t *)p = (int64_t)n;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (integer(v, 0, 9007199254740992.0, &n) != 0)
			return bad(e, path, "must be a non-negative integer");
		*(uint64_t *)p = (uint64_t)n;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!cJSON_IsNumber(v))
			return bad(e, path, "must be a number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)v->valuedouble;
		else
			*(double *)p = v->valuedouble;
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!cJSON_IsBool(v))
			return bad(e, path, "must be true or false");
		*(protobuf_c_boolean *)p = cJSON_IsTrue(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (enum_value(f->descriptor, v, &ev) != 0)
			return bad(e, path, "is not one of the names this field takes");
		*(int *)p = ev;
		return 0;
	case PROTOBUF_C_TYPE_STRING:
		if (!cJSON_IsString(v))
			return bad(e, path, "must be a string");
		if ((*(char **)p = strdup(v->valuestring)) == NULL)
			return VX_ENOMEM;
		return 0;
	case PROTOBUF_C_TYPE_BYTES: return bad(e, path, "bytes cannot be given in JSON");
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *md = f->descriptor;
		ProtobufCMessage *sub;
		if (!cJSON_IsObject(v))
			return bad(e, path, "must be an object");
		if ((sub = calloc(1, md->sizeof_message)) == NULL)
			return VX_ENOMEM;
		md->message_init(sub);
		*(ProtobufCMessage **)p = sub;
		return fill(md, v, sub, path, e);
	}
	}
	return bad(e, path, "has a type JSON cannot give");
}

/* A map field from a JSON object: one entry message per member. */
static int
map_in(const ProtobufCFieldDescriptor *f, const cJSON *v, ProtobufCMessage *m,
    const char *path, struct jerr *e)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
	ProtobufCMessage **arr;
	char sub[512];
	const cJSON *it;
	int rc;

	if (!cJSON_IsObject(v))
		return bad(e, path, "must be an object");
	if (n == 0)
		return 0;
	if ((arr = calloc(n, sizeof(*arr))) == NULL)
		return VX_ENOMEM;
	*(ProtobufCMessage ***)((char *)m + f->offset) = arr;
	cJSON_ArrayForEach(it, v)
	{
		ProtobufCMessage *ent = calloc(1, ed->sizeof_message);
		if (ent == NULL)
			return VX_ENOMEM;
		ed->message_init(ent);
		arr[i++] = ent;
		*(size_t *)((char *)m + f->quantifier_offset) = i;
		if (snprintf(sub, sizeof(sub), "%s.%s", path, it->string) < 0)
			sub[0] = '\0';
		if ((*(char **)((char *)ent + ed->fields[0].offset) =
		            strdup(it->string)) == NULL)
			return VX_ENOMEM;
		if ((rc = scalar_in(&ed->fields[1], it,
		         (char *)ent + ed->fields[1].offset, sub, e)) != 0)
			return rc;
	}
	return 0;
}

static int
fill(const ProtobufCMessageDescriptor *d, const cJSON *obj, ProtobufCMessage *m,
    const char *path, struct jerr *e)
{
	char sub[512];
	const cJSON *v;
	int rc;

	cJSON_ArrayForEach(v, obj)
	{
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(d, v->string);
		void *at;

		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", v->string);
		if (f == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			return bad(e, sub, "unknown field");
		if (cJSON_IsNull(v))
			continue;
		at = (char *)m + f->offset;
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(void **)at != NULL)
				return bad(e, sub, "is given twice");
			if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)at != NULL &&
			    *(char **)at != (char *)f->default_value) {
				free(*(char **)at);
				*(char **)at = NULL;
			}
			if ((rc = scalar_in(f, v, at, sub, e)) != 0)
				return rc;
			continue;
		}
		if (*(size_t *)((char *)m + f->quantifier_offset) != 0)
			return bad(e, sub, "is given twice");
		if (is_map_entry(f)) {
			if ((rc = map_in(f, v, m, sub, e)) != 0)
				return rc;
			continue;
		}
		if (!cJSON_IsArray(v))
			return bad(e, sub, "must be an array");
		size_t n = (size_t)cJSON_GetArraySize(v), i = 0, sz = elem_size(f->type);
		char *arr;
		const cJSON *it;
		if (n == 0)
			continue;
		if ((arr = calloc(n, sz)) == NULL)
			return VX_ENOMEM;
		*(char **)at = arr;
		cJSON_ArrayForEach(it, v)
		{
			snprintf(sub, sizeof(sub), "%s%s%s[%zu]", path, *path ? "." : "",
			    v->string, i);
			if (cJSON_IsNull(it))
				return bad(e, sub, "must not be null");
			/* Counted before it is filled, so a failure frees it. */
			*(size_t *)((char *)m + f->quantifier_offset) = i + 1;
			if ((rc = scalar_in(f, it, arr + i * sz, sub, e)) != 0)
				return rc;
			i++;
		}
	}
	return 0;
}

int
vx_json_to_pb(const ProtobufCMessageDescriptor *d, const cJSON *obj,
    ProtobufCMessage **out, char *err, size_t cap)
{
	struct jerr e = {err, cap};
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	if (!cJSON_IsObject(obj))
		return bad(&e, "", "must be an object");
	if ((m = calloc(1, d->sizeof_message)) == NULL)
		return VX_ENOMEM;
	d->message_init(m);
	if ((rc = fill(d, obj, m, "", &e)) != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	*out = m;
	return 0;
}
