/*
 * Vexil gateway — the JSON helpers every dialect shares (cJSON; see
 * docs/json.md for why cJSON).
 *
 * Request bodies are parsed once per request into r->json. The field
 * readers check a field's JSON type and range and, when it is wrong, leave
 * a message that names the field in r->err_msg (and the field in
 * r->err_field) for vx_gw_fail_input(). Every reader returns:
 *    1  the field is there, with the right type; *out is set
 *    0  the field is absent or null; *out is untouched
 *   -1  the field has the wrong type or is out of range
 * so "only provided fields are updated" and "wrong type is a 400" are one
 * test each in a handler.
 */
#ifndef VX_GW_JSON_H
#define VX_GW_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gateway/http.h"
#include "vexil/v1/service.pb-c.h"

/*
 * Parses the body as one JSON object into r->json (freed with the
 * request) and hands it out. An empty body is an empty object only when
 * empty_ok; anything but an object, trailing garbage, or malformed JSON is
 * -1 with r->err_msg set; 0 on success.
 */
int vx_gw_json_body(vx_gw_req *r, bool empty_ok, cJSON **out) VX_MUST_USE;

int vx_gw_json_string(vx_gw_req *r, const cJSON *obj, const char *name,
    const char **out) VX_MUST_USE;
int vx_gw_json_bool(vx_gw_req *r, const cJSON *obj, const char *name, bool *out)
    VX_MUST_USE;
/* An integral number within [min, max]. */
int vx_gw_json_int(vx_gw_req *r, const cJSON *obj, const char *name, int64_t min,
    int64_t max, int64_t *out) VX_MUST_USE;
/* A JSON object (borrowed from obj). */
int vx_gw_json_object(vx_gw_req *r, const cJSON *obj, const char *name,
    const cJSON **out) VX_MUST_USE;

/* Records a dialect's own refusal of field the way the readers do
 * (r->err_field, and the formatted message in r->err_msg); returns -1. */
int vx_gw_json_refuse(vx_gw_req *r, const char *field, const char *fmt, ...)
    VX_PRINTF(3, 4);

/*
 * Replies written straight into their body, without a cJSON tree, for the
 * evaluation endpoints (the hot path). The text is what cJSON_Print-
 * Unformatted() would write for the same tree, byte for byte. A failed
 * allocation sticks: vx_gw_jbuf_reply() then answers 500.
 */
typedef struct vx_gw_jbuf {
	char *p; /* heap; handed to the reply */
	size_t len, cap;
	bool failed;
} vx_gw_jbuf;

/* 1 when JSON text t is exactly true, 0 when false, -1 for anything else:
 * letter by letter, no call (it runs for every flag of a reply). */
static inline int
vx_gw_json_bool_text(const char *t)
{
	if (t[0] == 't' && t[1] == 'r' && t[2] == 'u' && t[3] == 'e' && t[4] == '\0')
		return 1;
	if (t[0] == 'f' && t[1] == 'a' && t[2] == 'l' && t[3] == 's' && t[4] == 'e' &&
	    t[5] == '\0')
		return 0;
	return -1;
}

/* Makes room for n more bytes, growing b; false once b failed. */
bool vx_gw_jbuf_grow(vx_gw_jbuf *b, size_t n);
/* n bytes of s, as they are. Inline: most replies are a few dozen short
 * literals, where a call and a memcpy() of unknown size cost more than
 * the copy (with a literal, n is a constant and the copy a move or two). */
static inline void
vx_gw_jbuf_raw(vx_gw_jbuf *b, const char *s, size_t n)
{
	if (b->len + n <= b->cap || vx_gw_jbuf_grow(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}
/* A string literal, as it is. */
#define VX_GW_JBUF_LIT(b, lit) vx_gw_jbuf_raw((b), "" lit, sizeof(lit) - 1)
/* s as a JSON string: quoted, escaped as cJSON escapes. */
void vx_gw_jbuf_str(vx_gw_jbuf *b, const char *s);
/* A JSON text (a served value from the core, "" for none) as cJSON would
 * print it once parsed; "" and text cJSON cannot parse are null. */
void vx_gw_jbuf_value(vx_gw_jbuf *b, const char *json);
/* A parsed JSON value, as cJSON prints it unformatted. */
void vx_gw_jbuf_tree(vx_gw_jbuf *b, const cJSON *v);
/* Answers r with b's text as application/json (b's buffer is taken over;
 * a failed b, or one left with nothing, is a 500). */
void vx_gw_jbuf_reply(vx_gw_req *r, int status, vx_gw_jbuf *b);

/* Building replies: append item to arr (false, and item freed, when either
 * is NULL); add a number unless *ok is already false (a failure clears it);
 * o when ok, else NULL with o freed. */
bool vx_gw_json_append(cJSON *arr, cJSON *item);
void vx_gw_json_put_num(cJSON *o, bool *ok, const char *name, double v);
cJSON *vx_gw_json_done(cJSON *o, bool ok);

/*
 * A JSON value as an evaluation-context attribute (a string, number or
 * boolean, or a list of those, kept as text), allocated in r's arena.
 * @return 0; VX_EINVAL for any other JSON type; VX_ENOMEM.
 */
int vx_gw_json_attr(vx_gw_req *r, const cJSON *v, Vexil__V1__AttrValue *out) VX_MUST_USE;

/* Bounds on the context attributes vx_gw_json_attrs() reads. */
#define VX_GW_ATTR_DEPTH 8      /* parts of a dotted name */
#define VX_GW_ATTR_NAME_MAX 256 /* bytes of a dotted name */

/*
 * The members of the JSON object o as evaluation-context attributes,
 * appended to ctx->attributes (allocated for max when NULL): a string,
 * number, boolean or list is one attribute under its name; the members
 * of a nested object are attributes named by their dotted path
 * ({"user": {"name": ...}} is "user.name"), up to VX_GW_ATTR_DEPTH levels.
 * Null members, and o's own members named in skip (NULL-terminated, or
 * NULL), are left out. A name given twice, over max attributes or any
 * other value is refused as the readers refuse (messages name
 * prefix.path).
 * @return 0, or -1 after vx_gw_json_refuse().
 */
int vx_gw_json_attrs(vx_gw_req *r, const cJSON *o, const char *prefix,
    const char *const *skip, size_t max, Vexil__V1__EvalContext *ctx) VX_MUST_USE;

#endif
