/*
 * Vexil gateway — HTTP/1.1 request heads and response heads: see http1.h.
 *
 * The parser walks the head once, line by line, checking every byte
 * against RFC 9112's grammar before cutting the line into NUL-terminated
 * pieces, so a NUL or a control byte can never hide the rest of a value
 * from the code that reads it. Framing is decided from every
 * Content-Length and Transfer-Encoding field at once, not from the first
 * of each, because a request that two parsers would frame differently is
 * how requests are smuggled.
 */
#include "gateway/http1.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The delimiters of RFC 9110 5.6.2 in the visible ASCII, as bits: of ch
 * for ch < 64, of ch - 64 above. A token's bytes are every other. */
#define BIT(c) (UINT64_C(1) << ((unsigned)(c)&63))
static const uint64_t delim_lo = BIT('"') | BIT('(') | BIT(')') | BIT(',') | BIT('/') |
                                 BIT(':') | BIT(';') | BIT('<') | BIT('=') | BIT('>') |
                                 BIT('?');
static const uint64_t delim_hi =
    BIT('@') | BIT('[') | BIT('\\') | BIT(']') | BIT('{') | BIT('}');

/* Per byte of every header name and method: a test, not a strchr(). */
static bool
tchar(unsigned char ch)
{
	if (ch <= ' ' || ch >= 127)
		return false;
	return ((ch < 64 ? delim_lo : delim_hi) & BIT(ch)) == 0;
}
#undef BIT

/* A field value's bytes: VCHAR, obs-text, SP and HTAB (RFC 9110 5.5). */
static bool
vchar(unsigned char ch)
{
	return ch == '\t' || (ch >= ' ' && ch != 127);
}

/*
 * Eight bytes at a time, for the long runs (field values, the target): a
 * word is known good when none of its bytes is below lo nor DEL, nor (if
 * high) 0x80 or above; a word that may hold one is looked at byte by byte.
 * (w - lo * ONES) & ~w & HIGHS is nonzero exactly when some byte of w is
 * below lo (lo <= 128): a borrow can only mark bytes above a true one.
 */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline bool
word_ok(uint64_t w, unsigned lo, bool high)
{
	uint64_t del = w ^ (127 * ONES);
	uint64_t bad = ((w - lo * ONES) & ~w) | ((del - ONES) & ~del) | (high ? w : 0);

	return (bad & HIGHS) == 0;
}

/* Whether every byte of p[0..n) passes ok(), the words first. */
static bool
all_of(const char *p, size_t n, unsigned lo, bool high, bool (*ok)(unsigned char))
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (word_ok(w, lo, high))
			continue;
		for (size_t j = i; j < i + 8; j++)
			if (!ok((unsigned char)p[j]))
				return false;
	}
	for (; i < n; i++)
		if (!ok((unsigned char)p[i]))
			return false;
	return true;
}

/* A request target's bytes: visible ASCII. */
static bool
target_char(unsigned char ch)
{
	return ch > ' ' && ch < 127;
}

/* The length of the line at p (without its LF or CRLF), and where the
 * next begins; -1 when a CR stands anywhere but before the LF. */
static long
line_len(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e;

	if (nl == NULL)
		return -1;
	e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	if (memchr(p, '\r', (size_t)(e - p)) != NULL)
		return -1;
	*next = nl + 1;
	return (long)(e - p);
}

/* The end of the head at buf (after its empty line), or 0. */
static size_t
head_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t i = (size_t)(nl - buf);
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
		p = nl + 1;
	}
	return 0;
}

int
vx_http1_scan(const char *buf, size_t len, size_t max, size_t *skip, size_t *end)
{
	size_t pos = 0, lines = 0, n;

	*skip = *end = 0;
	for (;;) {
		if (pos < len && buf[pos] == '\n')
			pos++;
		else if (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
			pos += 2;
		else
			break;
		if (++lines > VX_HTTP1_MAX_EMPTY_LINES) {
			*skip = pos;
			return 400;
		}
	}
	*skip = pos;
	buf += pos;
	len -= pos;
	if ((n = head_end(buf, len)) != 0 && n <= max) {
		*end = n;
		return 0;
	}
	if (n == 0 && len < max)
		return VX_HTTP1_MORE;
	if (memchr(buf, '\n', len < max ? len : max) == NULL)
		return 414;
	return 431;
}

static int
refuse(const char **why, const char *reason, int status)
{
	*why = reason;
	return status;
}

/* The request line, cut in place. */
static int
request_line(
    char *line, size_t n, const vx_http1_limits *lim, vx_http1_head *h, const char **why)
{
	char *sp1, *sp2, *v;
	size_t tlen;

	/* A NUL would cut the line short for the string functions below. */
	if (memchr(line, '\0', n) != NULL)
		return refuse(why, "Malformed request line", 400);
	line[n] = '\0';
	if ((sp1 = memchr(line, ' ', n)) == NULL || sp1 == line ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || sp2 == sp1 + 1)
		return refuse(why, "Malformed request line", 400);
	for (char *m = line; m < sp1; m++)
		if (!tchar((unsigned char)*m))
			return refuse(why, "Malformed request line", 400);
	v = sp2 + 1;
	if (strcmp(v, "HTTP/1.1") == 0) {
		h->minor = 1;
	} else if (strcmp(v, "HTTP/1.0") == 0) {
		h->minor = 0;
	} else if (strncmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
	           v[6] == '.' && v[7] >= '0' && v[7] <= '9' && v[8] == '\0') {
		return refuse(why, "Only HTTP/1.0 and HTTP/1.1 are served", 505);
	} else {
		return refuse(why, "Malformed request line", 400);
	}
	*sp1 = *sp2 = '\0';
	tlen = (size_t)(sp2 - sp1 - 1);
	if (tlen > lim->max_target)
		return refuse(why, "Request target is too long", 414);
	if (!all_of(sp1 + 1, tlen, '!', true, target_char))
		return refuse(why, "Malformed request target", 400);
	if (sp1[1] != '/' && strncasecmp(sp1 + 1, "http://", 7) != 0 &&
	    strncasecmp(sp1 + 1, "https://", 8) != 0 &&
	    !(strcmp(sp1 + 1, "*") == 0 && strcmp(line, "OPTIONS") == 0))
		return refuse(why, "Malformed request target", 400);
	h->method = line;
	h->target = sp1 + 1;
	return 0;
}

/*
 * strcasecmp(a, b) == 0, with the first letters compared first: most
 * names differ there. Equal letters in any case are equal with 0x20 set;
 * other bytes are then only equal if strcasecmp says.
 */
static inline bool
name_is(const char *a, const char *b)
{
	return (a[0] | 0x20) == (b[0] | 0x20) && strcasecmp(a, b) == 0;
}

/* The fields the parser itself reads, each named once per field line. */
enum field_kind {
	F_OTHER,
	F_HOST,
	F_LENGTH,
	F_CODING,
	F_CONNECTION,
	F_EXPECT,
	F_EXTENDS
};

/* The kind of the name at name (len bytes; any case). Some parsers take
 * any name that begins like a framing field's for that field
 * (libhttp-parser 2.9 does, for Transfer-Encoding): F_EXTENDS. */
static enum field_kind
field_kind(const char *name, size_t len)
{
	switch (name[0] | 0x20) {
	case 'c':
		if (len >= 14 && strncasecmp(name, "Content-Length", 14) == 0)
			return len == 14 ? F_LENGTH : F_EXTENDS;
		if (len == 10 && strncasecmp(name, "Connection", 10) == 0)
			return F_CONNECTION;
		break;
	case 't':
		if (len >= 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0)
			return len == 17 ? F_CODING : F_EXTENDS;
		break;
	case 'h':
		if (len == 4 && strncasecmp(name, "Host", 4) == 0)
			return F_HOST;
		break;
	case 'e':
		if (len == 6 && strncasecmp(name, "Expect", 6) == 0)
			return F_EXPECT;
		break;
	}
	return F_OTHER;
}

/* One field line, cut in place into h->fields; *kind says what it is. */
static int
field_line(char *line, size_t n, const vx_http1_limits *lim, vx_http1_head *h,
    enum field_kind *kind, const char **why)
{
	char *colon, *val, *e;

	if (*line == ' ' || *line == '\t')
		return refuse(why, "Obsolete header line folding is not accepted", 400);
	if (h->n_fields == lim->max_fields)
		return refuse(why, "Too many request headers", 431);
	if ((colon = memchr(line, ':', n)) == NULL || colon == line)
		return refuse(why, "Malformed header line", 400);
	for (char *q = line; q < colon; q++)
		if (!tchar((unsigned char)*q))
			return refuse(why, "Malformed header name", 400);
	if (!all_of(colon + 1, (size_t)(line + n - colon - 1), ' ', false, vchar))
		return refuse(why, "Control character in a header value", 400);
	*kind = field_kind(line, (size_t)(colon - line));
	*colon = '\0';
	/* Tabs are white space in a value, but not every parser reads them
	 * so around a length (libhttp-parser refuses a trailing one): the
	 * framing fields take none. */
	if ((*kind == F_LENGTH || *kind == F_CODING) &&
	    memchr(colon + 1, '\t', (size_t)(line + n - colon - 1)) != NULL)
		return refuse(why, "A tab in a framing header", 400);
	for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
		;
	for (e = line + n; e > val && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	h->fields[h->n_fields].name = line;
	h->fields[h->n_fields].value = val;
	h->n_fields++;
	return 0;
}

/* Transfer-Encoding's codings: chunked alone, or a refusal. */
static int
codings(const char *v, const char **why)
{
	bool last_chunked = false, chunked_before = false, other = false, any = false;
	bool more = true;

	while (more) {
		const char *tok;
		size_t len;
		bool params = false;

		/* Empty list elements are valid list syntax, but not all
		 * parsers agree on them here: refused (len == 0 below). */
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\0' && !any)
			break;
		for (tok = v; tchar((unsigned char)*v); v++)
			;
		if ((len = (size_t)(v - tok)) == 0)
			return refuse(why, "Malformed Transfer-Encoding", 400);
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == ';') {
			/* Parameters: only codings we do not implement have them. */
			params = true;
			while (*v && *v != ',')
				v++;
		} else if (*v != ',' && *v != '\0') {
			return refuse(why, "Malformed Transfer-Encoding", 400);
		}
		more = *v == ',';
		if (more)
			v++;
		if (len == 8 && strncasecmp(tok, "identity", 8) == 0)
			return refuse(why,
			    "Transfer-Encoding: identity is not a transfer coding", 400);
		any = true;
		chunked_before = chunked_before || last_chunked;
		last_chunked = len == 7 && strncasecmp(tok, "chunked", 7) == 0;
		if (last_chunked && params)
			return refuse(why, "Malformed Transfer-Encoding", 400);
		other = other || !last_chunked;
	}
	if (!any)
		return refuse(why, "Malformed Transfer-Encoding", 400);
	if (!last_chunked || chunked_before)
		return refuse(
		    why, "The final transfer coding must be chunked, applied once", 400);
	if (other)
		return refuse(
		    why, "Only the chunked transfer coding is implemented", 501);
	return 0;
}

/* Decides h's framing from its Transfer-Encoding and Content-Length
 * values (NULL: none), the only one of each (RFC 9112 6.1, 6.3). */
static int
framing(vx_http1_head *h, const char *te, const char *cl, const char **why)
{
	int rc;

	if (te && cl)
		return refuse(why, "Transfer-Encoding and Content-Length together", 400);
	if (te) {
		if ((rc = codings(te, why)) != 0)
			return rc;
		h->framing = VX_HTTP1_CHUNKED;
	} else if (cl) {
		uint64_t n = 0;
		if (*cl == '\0')
			return refuse(why, "Invalid Content-Length", 400);
		for (const char *p = cl; *p; p++) {
			if (*p < '0' || *p > '9' || n > (UINT64_MAX - 9) / 10)
				return refuse(why, "Invalid Content-Length", 400);
			n = n * 10 + (uint64_t)(*p - '0');
		}
		h->framing = VX_HTTP1_LENGTH;
		h->content_length = n;
	}
	return 0;
}

int
vx_http1_parse(
    char *buf, size_t n, const vx_http1_limits *lim, vx_http1_head *h, const char **why)
{
	const char *end = buf + n, *next;
	const char *te = NULL, *cl = NULL, *conn = NULL, *expect = NULL;
	const char *frame_why = NULL; /* the first framing field refused */
	char *p = buf;
	bool host = false;
	long len;
	int rc;

	h->method = h->target = NULL;
	h->minor = 1;
	h->n_fields = 0;
	h->framing = VX_HTTP1_NO_BODY;
	h->content_length = 0;
	h->close = h->expect_continue = false;
	buf[n] = '\0';
	if ((len = line_len(p, end, &next)) < 0)
		return refuse(why, "Malformed request line", 400);
	if ((rc = request_line(p, (size_t)len, lim, h, why)) != 0)
		return rc;
	for (p = (char *)next; (len = line_len(p, end, &next)) != 0; p = (char *)next) {
		enum field_kind kind;
		const char *value;

		if (len < 0)
			return refuse(why, "Malformed header line", 400);
		if ((rc = field_line(p, (size_t)len, lim, h, &kind, why)) != 0)
			return rc;
		value = h->fields[h->n_fields - 1].value;
		switch (kind) {
		case F_HOST:
			if (host)
				return refuse(why, "More than one Host header", 400);
			host = true;
			break;
		/* Framing faults are told after every line has been read (a
		 * malformed line or a missing Host first), the first one. */
		case F_EXTENDS:
			if (!frame_why)
				frame_why =
				    "A header name that extends a framing header's";
			break;
		case F_CODING:
			if (te && !frame_why)
				frame_why = "More than one Transfer-Encoding header";
			te = value;
			break;
		case F_LENGTH:
			if (cl && !frame_why)
				frame_why = "More than one Content-Length header";
			cl = value;
			break;
		case F_CONNECTION: conn = conn ? conn : value; break;
		case F_EXPECT: expect = expect ? expect : value; break;
		case F_OTHER: break;
		}
	}
	if (h->minor == 1 && !host)
		return refuse(why, "Missing Host header", 400);
	if (frame_why)
		return refuse(why, frame_why, 400);
	if ((rc = framing(h, te, cl, why)) != 0)
		return rc;
	h->close = h->minor == 0 || (conn && vx_http1_has_token(conn, "close"));
	h->expect_continue =
	    h->minor == 1 && expect && strcasecmp(expect, "100-continue") == 0;
	return 0;
}

const char *
vx_http1_field_get(const vx_http1_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (name_is(f[i].name, name))
			return f[i].value;
	return NULL;
}

bool
vx_http1_has_token(const char *v, const char *token)
{
	size_t n = strlen(token);

	while (*v) {
		size_t len;
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		len = strcspn(v, " \t,");
		if (len == n && strncasecmp(v, token, n) == 0)
			return true;
		v += len;
	}
	return false;
}

const char *
vx_http1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Error";
	}
}

/* ---- writing heads ---- */

/* Appends to a caller's buffer; a write past cap sets ok false. */
struct out {
	char *p;
	size_t len, cap;
	bool ok;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (!o->ok || n > o->cap - o->len) {
		o->ok = false;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
put_u64(struct out *o, uint64_t v)
{
	char d[24], *p = d + sizeof(d);

	/* By hand: snprintf was a tenth of a /health response's instructions. */
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(o, p, (size_t)(d + sizeof(d) - p));
}

static void
put_field(struct out *o, const char *name, const char *value)
{
	/* A CR or LF would end the head early: a response splitting. */
	if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n"))
		o->ok = false;
	puts_(o, name);
	put(o, ": ", 2);
	puts_(o, value);
	put(o, "\r\n", 2);
}

static void
response(struct out *o, const vx_http1_response *r)
{
	int status = r->status >= 100 && r->status <= 999 ? r->status : 500;

	puts_(o, "HTTP/1.1 ");
	put_u64(o, (uint64_t)status);
	put(o, " ", 1);
	puts_(o, vx_http1_reason(status));
	put(o, "\r\n", 2);
	for (size_t i = 0; i < r->n_fields; i++)
		put_field(o, r->fields[i].name, r->fields[i].value);
	if (r->content_type)
		put_field(o, "Content-Type", r->content_type);
	if (r->has_length) {
		puts_(o, "Content-Length: ");
		put_u64(o, r->content_length);
		put(o, "\r\n", 2);
	}
	if (r->close)
		puts_(o, "Connection: close\r\n");
	put(o, "\r\n", 2);
}

size_t
vx_http1_response_size(const vx_http1_response *r)
{
	/* An upper bound is enough for the caller to size its buffer. */
	size_t n = sizeof("HTTP/1.1 999 \r\n") + strlen(vx_http1_reason(r->status)) + 2;

	for (size_t i = 0; i < r->n_fields; i++)
		n += strlen(r->fields[i].name) + strlen(r->fields[i].value) + 4;
	if (r->content_type)
		n += strlen(r->content_type) + sizeof("Content-Type: \r\n");
	if (r->has_length)
		n += sizeof("Content-Length: 18446744073709551615\r\n");
	if (r->close)
		n += sizeof("Connection: close\r\n");
	return n;
}

int
vx_http1_write_response(char *buf, size_t cap, size_t *len, const vx_http1_response *r)
{
	struct out o = {buf, 0, cap, true};

	response(&o, r);
	*len = o.len;
	return o.ok ? 0 : 500;
}

int
vx_http1_write_request(char *buf, size_t cap, size_t *len, const vx_http1_head *h)
{
	struct out o = {buf, 0, cap, true};

	puts_(&o, h->method);
	put(&o, " ", 1);
	puts_(&o, h->target);
	puts_(&o, h->minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	for (size_t i = 0; i < h->n_fields; i++)
		put_field(&o, h->fields[i].name, h->fields[i].value);
	put(&o, "\r\n", 2);
	*len = o.len;
	return o.ok ? 0 : 500;
}
