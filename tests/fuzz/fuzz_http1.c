/*
 * Vexil fuzz target — the gateway's HTTP/1.1 parser (src/gateway/http1.c),
 * alone: no nng, no process.
 *
 * The input is the bytes a client sent. They go through vx_http1_scan()
 * and, when a head is complete, vx_http1_parse().
 *
 * Invariants:
 *  - every answer is 0, VX_HTTP1_MORE (scan only) or a status this layer
 *    may refuse with, and a refusal says why;
 *  - an accepted head holds no NUL, and is framed exactly one way: by one Content-Length
 *    and no Transfer-Encoding, by one Transfer-Encoding of chunked alone
 *    and no Content-Length, or by neither (no body); no field value holds
 *    a control byte but HTAB;
 *  - written back with vx_http1_write_request() and parsed again, the
 *    head gives the same method, target, version, fields and framing, and
 *    a response head carrying its fields fits its announced size;
 *  - with VX_HAVE_HTTP_PARSER (Debian's libhttp-parser, the nodejs
 *    parser, as a test-only oracle): for a head both accept, the method,
 *    target, version, fields and body framing agree; where they disagree
 *    on framing, ours refuses. Heads it refuses for reasons that are not
 *    framing (a method or target its tables do not know) are not
 *    compared.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "gateway/http1.h"

#ifdef VX_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

#define MAX_HEAD 8192
#define MAX_FIELDS 64

/* What one parse of a head gave. */
struct parsed {
	int rc;
	char buf[MAX_HEAD + 1];
	vx_http1_field fields[MAX_FIELDS];
	vx_http1_head h;
	const char *why;
};

static const vx_http1_limits lim = {.max_target = 4096, .max_fields = MAX_FIELDS};

static int
parse(struct parsed *p, const char *head, size_t n)
{
	memcpy(p->buf, head, n);
	p->h.fields = p->fields;
	p->why = NULL;
	p->rc = vx_http1_parse(p->buf, n, &lim, &p->h, &p->why);
	return p->rc;
}

static bool
refusal(int rc)
{
	return rc == 400 || rc == 411 || rc == 414 || rc == 431 || rc == 501 || rc == 505;
}

static size_t
count(const vx_http1_head *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_fields; i++)
		n += strcasecmp(h->fields[i].name, name) == 0;
	return n;
}

static void
check_accepted(const vx_http1_head *h)
{
	size_t cl = count(h, "Content-Length"), te = count(h, "Transfer-Encoding");

	VX_FUZZ_ASSERT(
	    h->method && h->target && *h->method && *h->target, "no request line");
	VX_FUZZ_ASSERT(h->minor == 0 || h->minor == 1, "version 1.%d", h->minor);
	VX_FUZZ_ASSERT(h->n_fields <= MAX_FIELDS, "%zu fields", h->n_fields);
	switch (h->framing) {
	case VX_HTTP1_NO_BODY:
		VX_FUZZ_ASSERT(cl == 0 && te == 0, "no body with CL %zu TE %zu", cl, te);
		VX_FUZZ_ASSERT(h->content_length == 0, "a length without a body");
		break;
	case VX_HTTP1_LENGTH:
		VX_FUZZ_ASSERT(cl == 1 && te == 0, "length with CL %zu TE %zu", cl, te);
		break;
	case VX_HTTP1_CHUNKED:
		VX_FUZZ_ASSERT(cl == 0 && te == 1, "chunked with CL %zu TE %zu", cl, te);
		VX_FUZZ_ASSERT(strcasecmp(vx_http1_field_get(h->fields, h->n_fields,
		                              "Transfer-Encoding"),
		                   "chunked") == 0,
		    "chunked is not alone");
		break;
	default: VX_FUZZ_ASSERT(false, "framing %d", (int)h->framing);
	}
	for (size_t i = 0; i < h->n_fields; i++) {
		for (const unsigned char *v = (const unsigned char *)h->fields[i].value;
		     *v; v++)
			VX_FUZZ_ASSERT(*v == '\t' || (*v >= ' ' && *v != 127),
			    "control byte %u in %s", *v, h->fields[i].name);
		VX_FUZZ_ASSERT(*h->fields[i].name, "an empty field name");
	}
}

static void
same_head(const vx_http1_head *a, const vx_http1_head *b)
{
	VX_FUZZ_ASSERT(
	    strcmp(a->method, b->method) == 0, "method %s / %s", a->method, b->method);
	VX_FUZZ_ASSERT(
	    strcmp(a->target, b->target) == 0, "target %s / %s", a->target, b->target);
	VX_FUZZ_ASSERT(a->minor == b->minor, "version");
	VX_FUZZ_ASSERT(
	    a->n_fields == b->n_fields, "%zu / %zu fields", a->n_fields, b->n_fields);
	for (size_t i = 0; i < a->n_fields; i++) {
		VX_FUZZ_ASSERT(
		    strcmp(a->fields[i].name, b->fields[i].name) == 0, "field %zu", i);
		VX_FUZZ_ASSERT(strcmp(a->fields[i].value, b->fields[i].value) == 0,
		    "field %s: [%s] / [%s]", a->fields[i].name, a->fields[i].value,
		    b->fields[i].value);
	}
	VX_FUZZ_ASSERT(a->framing == b->framing && a->content_length == b->content_length,
	    "framing");
	VX_FUZZ_ASSERT(a->close == b->close && a->expect_continue == b->expect_continue,
	    "connection options");
}

/* Written back and parsed again: the same head. */
static void
round_trip(const vx_http1_head *h)
{
	static char out[2 * MAX_HEAD];
	static struct parsed again;
	size_t len, skip, end;
	int rc;

	rc = vx_http1_write_request(out, sizeof(out), &len, h);
	VX_FUZZ_ASSERT(rc == 0, "write_request: %d", rc);
	rc = vx_http1_scan(out, len, sizeof(out), &skip, &end);
	VX_FUZZ_ASSERT(rc == 0 && skip == 0 && end == len, "rescan: %d %zu %zu/%zu", rc,
	    skip, end, len);
	rc = parse(&again, out, len);
	VX_FUZZ_ASSERT(rc == 0, "reparse: %d (%s)", rc, again.why);
	same_head(h, &again.h);

	/* A response carrying the same fields fits its announced size. */
	vx_http1_response res = {
	    .status = 200,
	    .fields = h->fields,
	    .n_fields = h->n_fields,
	    .content_type = "text/plain",
	    .has_length = true,
	    .content_length = h->content_length,
	    .close = h->close,
	};
	size_t need = vx_http1_response_size(&res);
	char *rbuf = malloc(need);
	VX_FUZZ_ASSERT(rbuf != NULL, "out of memory");
	rc = vx_http1_write_response(rbuf, need, &len, &res);
	VX_FUZZ_ASSERT(
	    rc == 0 && len <= need, "write_response: %d %zu/%zu", rc, len, need);
	free(rbuf);
}

#ifdef VX_HAVE_HTTP_PARSER

/* What http-parser made of the same bytes. */
struct theirs {
	char url[MAX_HEAD + 1];
	size_t url_len;
	struct {
		char name[MAX_HEAD + 1], value[MAX_HEAD + 1];
		size_t nlen, vlen;
	} * f;
	size_t n;
	bool in_value, done, overflow;
	enum http_method method;
	int major, minor;
	uint64_t content_length;
	bool chunked;
};

static struct theirs t;

static int
append(char *dst, size_t *len, const char *at, size_t n)
{
	if (*len + n > MAX_HEAD) {
		t.overflow = true;
		return 1;
	}
	memcpy(dst + *len, at, n);
	*len += n;
	dst[*len] = '\0';
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	(void)p;
	return append(t.url, &t.url_len, at, n);
}

static int
on_field(http_parser *p, const char *at, size_t n)
{
	(void)p;
	if (t.in_value || t.n == 0) {
		if (t.n == MAX_FIELDS) {
			t.overflow = true;
			return 1;
		}
		t.n++;
		t.f[t.n - 1].nlen = t.f[t.n - 1].vlen = 0;
		t.f[t.n - 1].name[0] = t.f[t.n - 1].value[0] = '\0';
		t.in_value = false;
	}
	return append(t.f[t.n - 1].name, &t.f[t.n - 1].nlen, at, n);
}

static int
on_value(http_parser *p, const char *at, size_t n)
{
	(void)p;
	if (t.n == 0)
		return 1;
	t.in_value = true;
	return append(t.f[t.n - 1].value, &t.f[t.n - 1].vlen, at, n);
}

static int
on_headers_complete(http_parser *p)
{
	t.done = true;
	t.method = (enum http_method)p->method;
	t.major = p->http_major;
	t.minor = p->http_minor;
	t.content_length = p->content_length;
	t.chunked = (p->flags & F_CHUNKED) != 0;
	/* Only the head is compared: pause before any body. */
	http_parser_pause(p, 1);
	return 0;
}

/* Whether http-parser refused the head for something other than framing
 * (then the two are not compared). */
static bool
not_framing(enum http_errno e)
{
	return e == HPE_INVALID_METHOD || e == HPE_INVALID_URL ||
	       e == HPE_INVALID_VERSION || e == HPE_INVALID_CONSTANT || e == HPE_STRICT ||
	       e == HPE_HEADER_OVERFLOW || e == HPE_CB_url || e == HPE_CB_header_field ||
	       e == HPE_CB_header_value;
}

/* Trailing white space of a value: ours drops it, http-parser may not. */
static void
rtrim(char *v, size_t *len)
{
	while (*len > 0 && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
		v[--*len] = '\0';
}

static void
differential(const char *head, size_t n, const struct parsed *ours)
{
	static http_parser_settings s;
	static bool ready;
	http_parser p;
	enum http_errno e;

	if (!ready) {
		http_parser_settings_init(&s);
		s.on_url = on_url;
		s.on_header_field = on_field;
		s.on_header_value = on_value;
		s.on_headers_complete = on_headers_complete;
		t.f = calloc(MAX_FIELDS, sizeof(*t.f));
		VX_FUZZ_ASSERT(t.f != NULL, "out of memory");
		ready = true;
	}
	t.url_len = t.n = 0;
	t.url[0] = '\0';
	t.in_value = t.done = t.overflow = false;
	http_parser_init(&p, HTTP_REQUEST);
	(void)http_parser_execute(&p, &s, head, n);
	e = HTTP_PARSER_ERRNO(&p);
	if (e == HPE_PAUSED)
		e = HPE_OK;
	if (ours->rc != 0 || t.overflow)
		return; /* ours refuses: nothing to agree on */
	if (!t.done || e != HPE_OK) {
		/* Ours frames a head that http-parser does not: allowed only
		 * where the reason is not the framing. */
		VX_FUZZ_ASSERT(!t.done && e != HPE_OK && not_framing(e),
		    "ours accepts, http-parser: %s (headers %s)", http_errno_name(e),
		    t.done ? "complete" : "incomplete");
		return;
	}
	const vx_http1_head *h = &ours->h;
	VX_FUZZ_ASSERT(strcmp(http_method_str(t.method), h->method) == 0,
	    "method %s / %s", h->method, http_method_str(t.method));
	VX_FUZZ_ASSERT(
	    strcmp(t.url, h->target) == 0, "target [%s] / [%s]", h->target, t.url);
	VX_FUZZ_ASSERT(t.major == 1 && t.minor == h->minor, "version");
	VX_FUZZ_ASSERT(t.n == h->n_fields, "%zu / %zu fields", h->n_fields, t.n);
	for (size_t i = 0; i < t.n; i++) {
		rtrim(t.f[i].value, &t.f[i].vlen);
		VX_FUZZ_ASSERT(strcmp(t.f[i].name, h->fields[i].name) == 0,
		    "field %zu: %s / %s", i, h->fields[i].name, t.f[i].name);
		VX_FUZZ_ASSERT(strcmp(t.f[i].value, h->fields[i].value) == 0,
		    "field %s: [%s] / [%s]", h->fields[i].name, h->fields[i].value,
		    t.f[i].value);
	}
	switch (h->framing) {
	case VX_HTTP1_NO_BODY:
		VX_FUZZ_ASSERT(!t.chunked && t.content_length == ULLONG_MAX,
		    "no body / chunked %d length %llu", t.chunked,
		    (unsigned long long)t.content_length);
		break;
	case VX_HTTP1_LENGTH:
		VX_FUZZ_ASSERT(!t.chunked && t.content_length == h->content_length,
		    "length %llu / chunked %d length %llu",
		    (unsigned long long)h->content_length, t.chunked,
		    (unsigned long long)t.content_length);
		break;
	case VX_HTTP1_CHUNKED: VX_FUZZ_ASSERT(t.chunked, "chunked / not"); break;
	}
}

#endif

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct parsed ours;
	const char *in = (const char *)data;
	size_t skip, end;
	int rc;

	rc = vx_http1_scan(in, size, MAX_HEAD, &skip, &end);
	VX_FUZZ_ASSERT(
	    rc == 0 || rc == VX_HTTP1_MORE || rc == 400 || rc == 414 || rc == 431,
	    "scan: %d", rc);
	VX_FUZZ_ASSERT(
	    skip <= size && skip <= 2 * (VX_HTTP1_MAX_EMPTY_LINES + 1), "skip %zu", skip);
	if (rc != 0)
		return 0;
	VX_FUZZ_ASSERT(end > 0 && end <= MAX_HEAD && skip + end <= size, "end %zu", end);
	rc = parse(&ours, in + skip, end);
	if (rc != 0) {
		VX_FUZZ_ASSERT(refusal(rc) && ours.why != NULL, "parse: %d", rc);
	} else {
		/* Nothing of an accepted head is cut off unseen by a NUL. */
		VX_FUZZ_ASSERT(
		    memchr(in + skip, '\0', end) == NULL, "a NUL in an accepted head");
		check_accepted(&ours.h);
		round_trip(&ours.h);
	}
#ifdef VX_HAVE_HTTP_PARSER
	differential(in + skip, end, &ours);
#endif
	return 0;
}
