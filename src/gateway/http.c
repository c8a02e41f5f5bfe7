/*
 * Vexil gateway — request helpers and response building: see http.h.
 *
 * Every error a handler writes goes through vx_gw_fail(), which hands it to
 * the dialect that owns the route, so each REST API keeps its documented
 * error shape while the code that decides *that* something failed is the
 * same for all of them.
 */
#include "gateway/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nng/supplemental/util/platform.h>

#include "gateway/status.h"

void
vx_gw_req_init(vx_gw_req *r, const char *method, const char *path, const char *query,
    const vx_gw_headers *http, const char *request_id)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->path = path;
	r->query = query ? query : "";
	r->http = http;
	if (request_id != NULL) {
		size_t n = strnlen(request_id, sizeof(r->request_id) - 1);
		memcpy(r->request_id, request_id, n); /* the memset ended it */
	}
}

void
vx_gw_req_fini(vx_gw_req *r)
{
	if (r->hold_release != NULL) {
		r->hold_release(r->hold_arg);
		r->hold_release = NULL;
	}
	cJSON_Delete(r->json);
	r->json = NULL;
	free(r->res_body);
	r->res_body = NULL;
	r->res_len = 0;
}

void
vx_gw_split_target(char *target, const char **path, const char **query)
{
	char *p = target, *q;

	/* The absolute form names the host too; routing needs only the path. */
	if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
		p = strstr(p, "://") + 3;
		if ((p = strchr(p, '/')) == NULL)
			p = "/";
	}
	if ((q = strchr(p, '#')) != NULL)
		*q = '\0';
	if ((q = strchr(p, '?')) != NULL) {
		*q++ = '\0';
		*query = q;
	} else {
		*query = "";
	}
	*path = *p ? p : "/";
}

const char *
vx_gw_header(const vx_gw_req *r, const char *name)
{
	return r->http ? vx_http1_field_get(r->http->fields, r->http->n, name) : NULL;
}

const char *
vx_gw_param(const vx_gw_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_params; i++)
		if (strcmp(r->param_names[i], name) == 0)
			return r->params[i];
	return NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
vx_gw_pct_decode(char *dst, const char *src, size_t n, bool plus_is_space)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			if ((hi = hexval(src[i + 1])) < 0 ||
			    (lo = hexval(src[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		/* A NUL would silently cut the value short further on. */
		if (c == '\0')
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return (long)o;
}

int
vx_gw_query(vx_gw_req *r, const char *name, const char **out)
{
	const char *p = r->query;

	while (*p) {
		const char *end = p + strcspn(p, "&;");
		const char *eq = memchr(p, '=', (size_t)(end - p));
		size_t klen = (size_t)((eq ? eq : end) - p);
		char *k = vx_arena_alloc(r->arena, klen + 1);

		if (k == NULL || vx_gw_pct_decode(k, p, klen, true) < 0)
			goto bad;
		if (strcmp(k, name) == 0) {
			size_t vlen = eq ? (size_t)(end - eq - 1) : 0;
			char *v = vx_arena_alloc(r->arena, vlen + 1);
			if (v == NULL ||
			    vx_gw_pct_decode(v, eq ? eq + 1 : "", vlen, true) < 0)
				goto bad;
			*out = v;
			return 1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
bad:
	snprintf(r->err_field, sizeof(r->err_field), "%.63s", name);
	snprintf(r->err_msg, sizeof(r->err_msg), "malformed query string");
	return -1;
}

void
vx_gw_request_id(const char *in, char out[VX_GW_REQUEST_ID_MAX + 1])
{
	size_t n = in ? strlen(in) : 0;
	bool ok = n > 0 && n <= VX_GW_REQUEST_ID_MAX;

	for (size_t i = 0; ok && i < n; i++) {
		char c = in[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
		     c == '-';
	}
	if (ok) {
		memcpy(out, in, n + 1);
		return;
	}
	/* The id only needs to be unique enough to find a request in the
	 * logs: a per-thread splitmix64 sequence seeded from nng_random()
	 * (the system's entropy) once, rather than four getrandom() calls a
	 * request. */
	static _Thread_local uint64_t state;
	static const char hex[] = "0123456789abcdef";
	uint64_t w[2];

	if (state == 0)
		state = (uint64_t)nng_random() << 32 | nng_random() | 1;
	for (int k = 0; k < 2; k++) {
		uint64_t z = (state += 0x9E3779B97F4A7C15ull);
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		w[k] = z ^ (z >> 31);
	}
	for (int i = 0; i < 32; i++)
		out[i] = hex[(w[i / 16] >> (60 - 4 * (i % 16))) & 15];
	out[32] = '\0';
}

void
vx_gw_reply(
    vx_gw_req *r, int status, const char *content_type, const void *data, size_t len)
{
	free(r->res_body);
	r->res_body = NULL;
	r->res_len = 0;
	r->content_type = NULL;
	if (len > 0) {
		if ((r->res_body = malloc(len)) == NULL) {
			r->status = 500;
			return;
		}
		memcpy(r->res_body, data, len);
		r->res_len = len;
		r->content_type = content_type;
	}
	r->status = status;
}

void
vx_gw_reply_json(vx_gw_req *r, int status, cJSON *body)
{
	char *text;

	if (body == NULL) {
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return;
	}
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (text == NULL) {
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return;
	}
	/* Keep cJSON's buffer rather than copying it. */
	free(r->res_body);
	r->res_body = text;
	r->res_len = strlen(text);
	r->content_type = "application/json";
	r->status = status;
}

/* The next response header's value buffer (VX_GW_HEADER_VALUE_MAX
 * bytes), the header named name; NULL when every slot is taken. */
static char *
header_slot(vx_gw_req *r, const char *name)
{
	if (r->n_headers == VX_GW_MAX_HEADERS)
		return NULL;
	r->headers[r->n_headers].name = name;
	return r->headers[r->n_headers++].value;
}

int
vx_gw_set_header(vx_gw_req *r, const char *name, const char *fmt, ...)
{
	char *v = header_slot(r, name);
	va_list ap;

	if (v == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(v, VX_GW_HEADER_VALUE_MAX, fmt, ap);
	va_end(ap);
	return 0;
}

int
vx_gw_set_header_str(vx_gw_req *r, const char *name, const char *value)
{
	size_t n = strnlen(value, VX_GW_HEADER_VALUE_MAX - 1);
	char *v = header_slot(r, name);

	if (v == NULL)
		return -1;
	memcpy(v, value, n);
	v[n] = '\0';
	return 0;
}

_Static_assert(VX_GW_HEADER_VALUE_MAX >= 24, "a number's digits fit a header value");

/* u in decimal, after a '-' when neg. */
static int
set_header_digits(vx_gw_req *r, const char *name, uint64_t u, bool neg)
{
	char buf[24], *p = buf + sizeof(buf), *v = header_slot(r, name);

	if (v == NULL)
		return -1;
	*--p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (neg)
		*--p = '-';
	/* At most 21 bytes with the NUL: no cut, no strnlen(). */
	memcpy(v, p, (size_t)(buf + sizeof(buf) - p));
	return 0;
}

int
vx_gw_set_header_int(vx_gw_req *r, const char *name, int64_t value)
{
	return set_header_digits(
	    r, name, value < 0 ? 0 - (uint64_t)value : (uint64_t)value, value < 0);
}

int
vx_gw_set_header_uint(vx_gw_req *r, const char *name, uint64_t value)
{
	return set_header_digits(r, name, value, false);
}

const char *
vx_gw_res_header(const vx_gw_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

void
vx_gw_reply_empty(vx_gw_req *r, int status)
{
	vx_gw_reply(r, status, NULL, NULL, 0);
}

void
vx_gw_fail(vx_gw_req *r, int status, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->dialect && r->dialect->error)
		r->dialect->error(r, status, field, msg);
	else
		vx_gw_reply(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

bool
vx_gw_would_block(vx_gw_req *r, vx_status *st)
{
	if (!r->no_block)
		return false;
	if (!r->blocked && r->undo)
		r->undo(r, r->undo_arg);
	r->undo = NULL;
	r->blocked = true;
	st->code = VEXIL__V1__CODE__UNAVAILABLE;
	snprintf(st->message, sizeof(st->message), "%s", "needs a worker");
	st->field[0] = st->constraint[0] = '\0';
	return true;
}

void
vx_gw_fail_input(vx_gw_req *r)
{
	vx_gw_fail(r, 400, r->err_field[0] ? r->err_field : NULL, "%s",
	    r->err_msg[0] ? r->err_msg : "bad request");
}

void
vx_gw_fail_status(vx_gw_req *r, const vx_status *st)
{
	vx_gw_fail(r, vx_gw_call_status(st), st->field[0] ? st->field : NULL, "%s",
	    st->message[0] ? st->message : vx_code_name(st->code));
}

bool
vx_gw_token_ok(const char *t)
{
	size_t n = 0;

	/* One pass: the printable bytes but space ('!' to '~'), up to the
	 * end or one past the longest. */
	while (n <= VX_GW_CREDENTIAL_MAX && (unsigned char)(t[n] - '!') < '~' - '!' + 1)
		n++;
	return n > 0 && n <= VX_GW_CREDENTIAL_MAX && t[n] == '\0';
}

/* Copies text from the client for the log: no control bytes or spaces,
 * and nothing from the first byte of stop on. */
static void
clean(char *out, size_t cap, const char *in, const char *stop)
{
	size_t i;

	for (i = 0; in[i] && !strchr(stop, in[i]) && i + 1 < cap; i++)
		out[i] = (in[i] > ' ' && in[i] < 127) ? in[i] : '?';
	out[i] = '\0';
}

void
vx_gw_access_log(
    const char *method, const char *path, int status, uint64_t t0, const char *rid)
{
	char m[17], p[257];

	clean(m, sizeof(m), method ? method : "-", "");
	clean(p, sizeof(p), path ? path : "-", "?");
	vx_log(VX_LOG_INFO, "http method=%s path=%s status=%d us=%llu req=%s", m, p,
	    status, (unsigned long long)((vx_mono_ns() - t0) / 1000), rid);
}
