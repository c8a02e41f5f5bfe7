/*
 * Vexil — protobuf to JSON by descriptor: see pbjson.h.
 */
#include "json/pbjson.h"

#include <stdbool.h>
#include <stdint.h>
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
