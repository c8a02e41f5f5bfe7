/*
 * Vexil gateway tests — the gateway's own HTTP/1.1 layer and the OFREP
 * change stream (GET /ofrep/v1/events), over real sockets.
 *
 * Each test starts vexild (the harness) and a vexil-gateway with the flags
 * it needs, and talks to it over raw TCP (malformed requests, pipelining,
 * slow clients, streams) or libcurl (HTTPS, the REST calls that change
 * flags). Reads carry a generous socket timeout only so that a broken
 * gateway fails the test instead of hanging it; no assertion depends on
 * how long anything took.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;

static void
setup(void)
{
	vx_harness_start(&h, NULL);
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ---- */

static void
start(const char *const *extra)
{
	vx_gateway_start(&g, &h, NULL, extra, NULL);
}

/* A connection to the gateway; reads give up after 30 s. */
static int
dial(void)
{
	struct timeval tv = {.tv_sec = 30};
	struct sockaddr_in a = {0};
	int fd;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(strrchr(g.base, ':') + 1));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_all(int fd, const char *data, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
		cr_assert(w > 0, "send failed");
		data += w;
		n -= (size_t)w;
	}
}

static void
sends(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* One response as read off the wire. */
struct resp {
	int status;
	char head[8192];
	char body[16384];
	size_t body_len;
	cJSON *json;
};

/* A header of r, or NULL (a static copy). */
static const char *
header(const struct resp *r, const char *name)
{
	static char v[512];
	const char *p = r->head;
	size_t n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *e = strstr(p, "\r\n");
			p += n + 1;
			while (*p == ' ')
				p++;
			snprintf(v, sizeof(v), "%.*s", (int)(e - p), p);
			return v;
		}
	}
	return NULL;
}

/* Buffered reads from a connection: what one read took past a response
 * stays for the next (pipelining). */
struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

static bool
fill(struct conn *c)
{
	ssize_t n;

	if (c->len == sizeof(c->buf))
		return false;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n <= 0)
		return false;
	c->len += (size_t)n;
	return true;
}

static void
consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Reads one response (head, then Content-Length bytes); false at EOF. */
static bool
read_resp(struct conn *c, struct resp *r, bool head_only)
{
	char *end;
	const char *cl;
	size_t hl, bl;

	memset(r, 0, sizeof(*r));
	for (;;) {
		c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) != NULL)
			break;
		if (!fill(c))
			return false;
	}
	hl = (size_t)(end - c->buf) + 4;
	cr_assert(hl < sizeof(r->head));
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	consume(c, hl);
	cr_assert(sscanf(r->head, "HTTP/1.1 %d", &r->status) == 1, "%s", r->head);
	cl = header(r, "Content-Length");
	bl = cl && !head_only ? (size_t)atol(cl) : 0;
	cr_assert(bl < sizeof(r->body));
	while (c->len < bl)
		cr_assert(fill(c), "the body was cut short: %s", r->head);
	memcpy(r->body, c->buf, bl);
	r->body_len = bl;
	consume(c, bl);
	r->json = cJSON_Parse(r->body);
	return true;
}

/* Whether the peer has closed (EOF, with nothing more to read). */
static bool
closed(struct conn *c)
{
	return c->len == 0 && !fill(c);
}

static void
resp_free(struct resp *r)
{
	cJSON_Delete(r->json);
	r->json = NULL;
}

/* Sends raw bytes on a new connection and reads one response. */
static void
exchange(const char *raw, struct resp *r, bool *was_closed)
{
	struct conn c = {.fd = dial()};

	sends(c.fd, raw);
	cr_assert(read_resp(&c, r, false), "no response to %.80s", raw);
	if (was_closed)
		*was_closed = closed(&c);
	close(c.fd);
}

/* An error of this layer: JSON, with a request id, and the connection
 * closed afterwards. */
static void
expect_layer_error(const char *raw, int status)
{
	struct resp r;
	bool gone;

	exchange(raw, &r, &gone);
	cr_assert_eq(r.status, status, "wanted %d: %s%s", status, r.head, r.body);
	cr_assert(header(&r, "X-Request-Id"), "%s", r.head);
	cr_assert_str_eq(header(&r, "Content-Type"), "application/json");
	cr_assert(r.json != NULL, "a JSON body: %s", r.body);
	cr_assert(gone, "the connection closes after %d", status);
	resp_free(&r);
}

static void
expect_health(void)
{
	struct resp r;

	exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", &r, NULL);
	cr_assert_eq(r.status, 200, "the gateway keeps serving: %s", r.head);
	resp_free(&r);
}

/* ---- limits ---- */

Test(http, a_request_target_over_max_url_is_414)
{
	const char *args[] = {"--max-url", "100", NULL};
	char path[300];

	start(args);
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	expect_layer_error(
	    vx_fmt("GET /health?%s HTTP/1.1\r\nHost: x\r\n\r\n", path), 414);
	/* A target exactly at the limit is served. */
	path[100 - strlen("/health?")] = '\0';
	struct resp r;
	exchange(vx_fmt("GET /health?%s HTTP/1.1\r\nHost: x\r\n\r\n", path), &r, NULL);
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
}

Test(http, more_headers_than_max_headers_is_431)
{
	const char *args[] = {"--max-headers", "5", NULL};
	char raw[1024] = "GET /health HTTP/1.1\r\nHost: x\r\n";

	start(args);
	for (int i = 0; i < 4; i++)
		strcat(raw, vx_fmt("X-H%d: v\r\n", i));
	/* Host + 4 = 5 headers: served. */
	struct resp r;
	exchange(vx_fmt("%s\r\n", raw), &r, NULL);
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
	strcat(raw, "X-H5: v\r\n\r\n");
	expect_layer_error(raw, 431);
	expect_health();
}

Test(http, a_head_over_max_header_bytes_is_431)
{
	const char *args[] = {"--max-header-bytes", "1024", NULL};
	char big[2000];

	start(args);
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_layer_error(
	    vx_fmt("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big), 431);
	/* Within it, served. */
	big[800] = '\0';
	struct resp r;
	exchange(vx_fmt("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big), &r,
	    NULL);
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
}

Test(http, a_body_over_max_body_is_413_in_the_paths_dialect)
{
	const char *args[] = {"--max-body", "64", NULL};
	struct resp r;
	bool gone;

	start(args);
	exchange("POST /v1/flags HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n", &r,
	    &gone);
	cr_assert_eq(r.status, 413, "%s", r.head);
	cr_assert(header(&r, "X-Request-Id"));
	/* /v1 belongs to the platform dialect: its error object. */
	cr_assert(cJSON_IsObject(cJSON_GetObjectItem(r.json, "error")), "%s", r.body);
	cr_assert(gone);
	resp_free(&r);
	/* A path no dialect owns: the fallback's (a bare JSON string). */
	exchange(
	    "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n", &r, NULL);
	cr_assert_eq(r.status, 413, "%s", r.head);
	cr_assert(cJSON_IsString(r.json), "%s", r.body);
	resp_free(&r);
}

/* ---- malformed requests ---- */

Test(http, malformed_requests_get_a_json_400_or_505_with_a_request_id)
{
	start(NULL);
	expect_layer_error("GARBAGE\r\n\r\n", 400);
	expect_layer_error("GET /health\r\nHost: x\r\n\r\n", 400);
	expect_layer_error("GET  /health HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_layer_error("GET /health HTTP/1.1\r\n\r\n", 400); /* no Host */
	expect_layer_error("GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400);
	expect_layer_error("GET /health HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400);
	expect_layer_error("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x01"
	                   "b\r\n\r\n",
	    400);
	expect_layer_error("GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505);
	expect_layer_error(
	    "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", 400);
	expect_health();
}

Test(http, bare_lf_line_ends_and_http_1_0_are_served)
{
	struct conn c;
	struct resp r;

	start(NULL);
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "GET /health HTTP/1.1\nHost: x\n\n");
	cr_assert(read_resp(&c, &r, false));
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
	close(c.fd);
	/* HTTP/1.0: no Host needed, and the connection is not kept. */
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "GET /health HTTP/1.0\r\n\r\n");
	cr_assert(read_resp(&c, &r, false));
	cr_assert_eq(r.status, 200, "%s", r.head);
	cr_assert_str_eq(header(&r, "Connection"), "close");
	cr_assert(closed(&c));
	resp_free(&r);
	close(c.fd);
}

Test(http, head_answers_the_length_without_a_body)
{
	struct conn c;
	struct resp r;

	start(NULL);
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
	            "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert(read_resp(&c, &r, true));
	cr_assert_eq(r.status, 200, "%s", r.head);
	cr_assert(atoi(header(&r, "Content-Length")) > 0);
	resp_free(&r);
	/* Had HEAD carried a body, this would read it as the next head. */
	cr_assert(read_resp(&c, &r, false));
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
	close(c.fd);
}

/* ---- framing (RFC 9112 6.1, 6.3): one way to frame a request, or none ---- */

/* Sends raw bytes (n of them: NULs allowed) on a new connection and reads
 * one response; the connection must close after it. */
static void
exchange_n(const char *raw, size_t n, struct resp *r)
{
	struct conn c = {.fd = dial()};

	send_all(c.fd, raw, n);
	cr_assert(read_resp(&c, r, false), "no response to %.80s", raw);
	cr_assert(closed(&c), "the connection closes after %d: %.80s", r->status, raw);
	close(c.fd);
}

Test(http, conflicting_or_duplicated_framing_headers_are_refused_and_close)
{
	/* Every framing header combination this layer must not guess at:
	 * the head (after the request line and Host), and its answer. */
	static const struct {
		const char *fields;
		int status;
	} cases[] = {
	    /* The smuggling of issue 14: Content-Length framed it, and the
	     * chunk data ran as a second request. */
	    {"Content-Length: 5\r\nTransfer-Encoding: identity\r\n"
	     "Transfer-Encoding: chunked\r\n",
	        400},
	    {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400},
	    {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
	    {"content-length: 5\r\ntransfer-encoding: CHUNKED\r\n", 400},
	    {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
	    {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 400},
	    {"Transfer-Encoding: identity\r\n", 400},
	    {"Transfer-Encoding: IdEnTiTy\r\n", 400},
	    {"Transfer-Encoding: identity, chunked\r\n", 400},
	    {"Transfer-Encoding: chunked, identity\r\n", 400},
	    {"Transfer-Encoding: chunked, chunked\r\n", 400},
	    {"Transfer-Encoding: chunked, gzip\r\n", 400},
	    {"Transfer-Encoding: gzip\r\n", 400},
	    {"Transfer-Encoding: \"chunked\"\r\n", 400},
	    {"Transfer-Encoding: chunked;x=1\r\n", 400},
	    {"Transfer-Encoding: chunked x\r\n", 400},
	    {"Transfer-Encoding:\r\n", 400},
	    {"Transfer-Encoding : chunked\r\n", 400},
	    {"Transfer-Encoding: identity\r\n chunked\r\n", 400}, /* folded */
	    {"Transfer-Encoding:\r\n\tchunked\r\n", 400},         /* folded */
	    {"Content-Length: 5\r\n 5\r\n", 400},                 /* folded */
	    {"Content-Length: 5\r\nContent-Length: 5\r\n", 400},
	    {"Content-Length: 5\r\ncontent-length: 6\r\n", 400},
	    {"Content-Length: 5, 5\r\n", 400},
	    {"Content-Length: +5\r\n", 400},
	    {"Content-Length: -1\r\n", 400},
	    {"Content-Length: 0x5\r\n", 400},
	    {"Content-Length: 5 5\r\n", 400},
	    {"Content-Length:\r\n", 400},
	    {"Content-Length: 99999999999999999999999\r\n", 400},
	    {"Content-Length : 5\r\n", 400},
	    /* Tabs in framing values (parsers differ on them). */
	    {"Content-Length: 5\t\r\n", 400},
	    {"Transfer-Encoding:\tchunked\r\n", 400},
	    /* Names that extend a framing header's (some parsers match the
	     * prefix). */
	    {"Content-Length: 5\r\nTransfer-EncodingX: chunked\r\n", 400},
	    {"Content-LengthX: 5\r\n", 400},
	    /* Codings we do not implement, chunked last: 501. */
	    {"Transfer-Encoding: gzip, chunked\r\n", 501},
	    {"Transfer-Encoding: x-custom, chunked\r\n", 501},
	    {"Transfer-Encoding: deflate;q=1, chunked\r\n", 501},
	    /* Unambiguous chunked, in any case: not decoded (docs/gateway.md). */
	    {"Transfer-Encoding: chunked\r\n", 411},
	    {"Transfer-Encoding: Chunked\r\n", 411},
	    {"TRANSFER-ENCODING:  chunked \r\n", 411},
	};
	struct resp r;

	start(NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Chunk data that would be a request of its own if the head
		 * were framed by Content-Length. */
		const char *raw =
		    vx_fmt("POST /v1/flags HTTP/1.1\r\nHost: x\r\n%s\r\n"
		           "0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
		        cases[i].fields);
		exchange_n(raw, strlen(raw), &r);
		cr_assert_eq(r.status, cases[i].status, "case %zu (%s): %s%s", i,
		    cases[i].fields, r.head, r.body);
		cr_assert(header(&r, "X-Request-Id"));
		cr_assert(r.json != NULL, "a JSON error: %s", r.body);
		resp_free(&r);
	}
	/* The same with HTTP/1.0. */
	exchange("POST /v1/flags HTTP/1.0\r\nContent-Length: 2\r\n"
	         "Transfer-Encoding: chunked\r\n\r\n{}",
	    &r, NULL);
	cr_assert_eq(r.status, 400, "%s", r.head);
	resp_free(&r);
	expect_health();
}

/* ---- control bytes ---- */

Test(http, nul_and_control_bytes_in_a_header_value_are_refused)
{
	char key[128], raw[512];
	struct resp r;
	int n;

	start(NULL);
	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_READ, key, sizeof(key));
	/* The key alone is good. */
	exchange(
	    vx_fmt(
	        "GET /v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey %s\r\n\r\n",
	        key),
	    &r, NULL);
	cr_assert_eq(r.status, 200, "%s%s", r.head, r.body);
	resp_free(&r);
	/* With a NUL and junk after it: 400, not authenticated by the key. */
	n = snprintf(raw, sizeof(raw),
	    "GET /v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey %s@junk\r\n\r\n",
	    key);
	cr_assert(n > 0 && (size_t)n < sizeof(raw));
	*strchr(raw, '@') = '\0';
	exchange_n(raw, (size_t)n, &r);
	cr_assert_eq(r.status, 400, "%s%s", r.head, r.body);
	resp_free(&r);
	/* Every control byte but HTAB, and DEL. */
	for (int ch = 1; ch < 32; ch++) {
		if (ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		expect_layer_error(
		    vx_fmt("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a%cb\r\n\r\n", ch),
		    400);
	}
	expect_layer_error("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x7f"
	                   "b\r\n\r\n",
	    400);
	/* Nor a NUL in the request line, after the version. */
	exchange_n("GET /health HTTP/1.1\0junk\r\nHost: x\r\n\r\n", 38, &r);
	cr_assert_eq(r.status, 400, "%s%s", r.head, r.body);
	resp_free(&r);
	/* A bare CR inside a value is no line end either. */
	expect_layer_error("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400);
	/* HTAB and obs-text are field content. */
	exchange("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\tb\xe9\r\n\r\n", &r, NULL);
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
}

/* ---- empty lines before a request line ---- */

Test(http, empty_lines_start_the_head_deadline_and_are_bounded)
{
	const char *args[] = {"--header-timeout", "1", NULL};
	struct conn c;
	struct resp r;

	start(args);
	/* A few are tolerated (RFC 9112 2.2). */
	exchange("\r\n\r\n\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", &r, NULL);
	cr_assert_eq(r.status, 200, "%s", r.head);
	resp_free(&r);
	/* More is a 400, and the connection closes. */
	expect_layer_error(
	    "\r\n\r\n\r\n\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	/* One empty line starts the head's deadline: 408, not a silent
	 * idle close that a trickle of them would put off forever. */
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "\r\n");
	cr_assert(read_resp(&c, &r, false), "an answer, not a silent close");
	cr_assert_eq(r.status, 408, "%s", r.head);
	cr_assert(closed(&c));
	resp_free(&r);
	close(c.fd);
	/* A trickle (one empty line per read) ends the same way. */
	c.fd = dial();
	c.len = 0;
	for (int i = 0; i < 4; i++)
		sends(c.fd, "\n");
	cr_assert(read_resp(&c, &r, false));
	cr_assert(r.status == 408, "%s", r.head);
	cr_assert(closed(&c));
	resp_free(&r);
	close(c.fd);
	expect_health();
}

/* ---- the body limit and vexild's message limit ---- */

Test(http, a_body_either_fits_vexilds_message_limit_or_gets_413)
{
	struct resp r;
	const cJSON *msg;
	unsigned long max = 0;
	char *body;
	size_t hl;

	start(NULL);
	/* Just under vexild's 1 MiB --max-msg: the envelope would not fit. */
	exchange("POST /v1/flags HTTP/1.1\r\nHost: x\r\nContent-Length: 1048575\r\n\r\n",
	    &r, NULL);
	cr_assert_eq(r.status, 413, "%s%s", r.head, r.body);
	msg = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "error"), "message");
	cr_assert(cJSON_IsString(msg), "%s", r.body);
	cr_assert(
	    sscanf(msg->valuestring, "Request body is larger than %lu bytes", &max) == 1,
	    "%s", msg->valuestring);
	cr_assert(max > 0 && max < 1048576);
	resp_free(&r);
	/* A body of exactly the limit reaches vexild and is answered on its
	 * merits (an unknown key is 401), never 503. */
	body = malloc(max + 256);
	cr_assert_not_null(body);
	hl = (size_t)snprintf(body, 256,
	    "POST /v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey vxk_nope\r\n"
	    "Content-Length: %lu\r\n\r\n{\"key\":\"big\",\"description\":\"",
	    max);
	memset(body + hl, 'd', max - 34);
	memcpy(body + hl + max - 34, "\"}", 2);
	exchange_n(body, hl + max - 32, &r);
	free(body);
	cr_assert(r.status != 503 && r.status != 413, "%s%s", r.head, r.body);
	resp_free(&r);
	expect_health();
}

Test(http, a_max_body_that_cannot_fit_vexilds_message_limit_is_refused_at_startup)
{
	char log[] = "/tmp/vexil-test-maxbody-XXXXXX";
	const char *argv[] = {VX_GATEWAY_PATH, "--listen", NULL, "--rpc", h.rpc, "--sub",
	    "tcp://127.0.0.1:1", "--max-msg", "65536", "--max-body", "65536", NULL};
	char listen[64], text[4096] = "";
	int fd = mkstemp(log), status = 0;
	FILE *f;
	pid_t pid;

	cr_assert(fd >= 0);
	close(fd);
	snprintf(listen, sizeof(listen), "http://127.0.0.1:%d", vx_free_port());
	argv[2] = listen;
	pid = vx_spawn(argv, log);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(
	    WIFEXITED(status) && WEXITSTATUS(status) == 1, "exits 1, not %d", status);
	cr_assert_not_null(f = fopen(log, "r"));
	text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
	fclose(f);
	cr_assert(
	    strstr(text, "--max-body 65536 does not fit in vexild's --max-msg 65536"),
	    "%s", text);
	unlink(log);
}

/* ---- connections ---- */

Test(http, pipelined_requests_are_answered_in_order)
{
	struct conn c;
	struct resp r;

	start(NULL);
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n"
	            "GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\n\r\n"
	            "POST /auth/login HTTP/1.1\r\nHost: x\r\nX-Request-Id: third\r\n"
	            "Content-Length: 2\r\n\r\n{}"
	            "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: fourth\r\n\r\n");
	const char *ids[] = {"first", "second", "third", "fourth"};
	int want[] = {200, 404, 400, 200};
	for (int i = 0; i < 4; i++) {
		cr_assert(read_resp(&c, &r, false), "response %d", i);
		cr_assert_str_eq(header(&r, "X-Request-Id"), ids[i]);
		cr_assert_eq(r.status, want[i], "%s: %s", ids[i], r.head);
		resp_free(&r);
	}
	close(c.fd);
}

Test(http, a_slow_loris_head_gets_408_and_is_closed)
{
	const char *args[] = {"--header-timeout", "1", NULL};
	struct conn c;
	struct resp r;

	start(args);
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
	cr_assert(read_resp(&c, &r, false), "a 408 comes before the close");
	cr_assert_eq(r.status, 408, "%s", r.head);
	cr_assert(header(&r, "X-Request-Id"));
	cr_assert(r.json != NULL, "%s", r.body);
	cr_assert(closed(&c));
	resp_free(&r);
	close(c.fd);
	expect_health();
}

Test(http, a_body_that_stalls_gets_408)
{
	const char *args[] = {"--body-timeout", "1", NULL};
	struct conn c;
	struct resp r;

	start(args);
	c.fd = dial();
	c.len = 0;
	sends(c.fd,
	    "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\"");
	cr_assert(read_resp(&c, &r, false));
	cr_assert_eq(r.status, 408, "%s", r.head);
	cr_assert(closed(&c));
	resp_free(&r);
	close(c.fd);
	expect_health();
}

Test(http, an_idle_keep_alive_connection_is_closed_silently)
{
	const char *args[] = {"--idle-timeout", "1", NULL};
	struct conn c;
	struct resp r;

	start(args);
	c.fd = dial();
	c.len = 0;
	sends(c.fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert(read_resp(&c, &r, false));
	cr_assert_eq(r.status, 200);
	cr_assert_null(header(&r, "Connection"), "kept alive");
	resp_free(&r);
	/* Nothing more is sent: the gateway closes without a response. */
	cr_assert(closed(&c), "closed with nothing written: %.*s", (int)c.len, c.buf);
	close(c.fd);
}

/* Dials until the gateway serves the connection, which stays open. */
static void
held(struct conn *c)
{
	struct resp r;

	for (int i = 0;; i++) {
		cr_assert(i < 1000, "no connection was ever served");
		c->fd = dial();
		c->len = 0;
		sends(c->fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
		cr_assert(read_resp(c, &r, false));
		int st = r.status;
		resp_free(&r);
		if (st == 200)
			return;
		cr_assert_eq(st, 503);
		close(c->fd);
		usleep(10000);
	}
}

Test(http, connections_past_max_conns_get_503_and_are_closed)
{
	const char *args[] = {"--max-conns", "2", NULL};
	struct conn a = {0}, b = {0}, x = {0};
	struct resp r;

	start(args);
	/* Two keep-alive connections, each known to be accepted (the start's
	 * readiness probe may hold a place for a moment). */
	held(&a);
	held(&b);
	x.fd = dial();
	cr_assert(read_resp(&x, &r, false), "the third gets an answer");
	cr_assert_eq(r.status, 503, "%s", r.head);
	cr_assert(header(&r, "X-Request-Id"));
	cr_assert(r.json != NULL);
	cr_assert(closed(&x));
	resp_free(&r);
	close(x.fd);
	/* The two still work; once one goes, a new one is served. */
	sends(a.fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_assert(read_resp(&a, &r, false));
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	close(b.fd);
	for (int i = 0;; i++) {
		cr_assert(i < 1000, "the closed connection was never let go");
		exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", &r, NULL);
		int st = r.status;
		resp_free(&r);
		if (st == 200)
			break;
		usleep(10000);
	}
	close(a.fd);
}

Test(http, https_with_a_self_signed_certificate)
{
	char cert[300], key[300], cmd[1200], url[200];
	vx_http_res res;

	snprintf(cert, sizeof(cert), "%s.cert.pem", h.dir);
	snprintf(key, sizeof(key), "%s.key.pem", h.dir);
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout '%s' -out '%s' -days 1 -subj /CN=127.0.0.1 "
	    "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
	    key, cert);
	cr_assert_eq(system(cmd), 0, "openssl made a certificate");
	const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
	vx_gateway_start(&g, &h, "https", args, cert);
	snprintf(url, sizeof(url), "%s/nowhere", g.base);
	vx_http_req rq = {.method = "GET", .url = url, .cainfo = cert};
	res = vx_http(&rq);
	cr_assert_eq(res.status, 404, "%s", res.body);
	cr_assert(res.request_id[0]);
	vx_http_res_free(&res);
	snprintf(url, sizeof(url), "%s/auth/register", g.base);
	vx_http_req reg = {.method = "POST",
	    .url = url,
	    .body = "{\"email\":\"tls@example.com\",\"password\":\"secret-pw\"}",
	    .cainfo = cert};
	res = vx_http(&reg);
	cr_assert_eq(res.status, 201, "%s", res.body);
	vx_http_res_free(&res);
	unlink(cert);
	unlink(key);
}

/* ---- the change stream ---- */

static char p1[32], p2[32];   /* project ids */
static char k1[128], k2[128]; /* write keys of p1 and p2 */

static void
make_project(const char *name, char out[32])
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.name = (char *)name;
	in.description = "";
	cr_assert(vx_create_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	snprintf(out, 32, "%llu", (unsigned long long)p->id);
	vx_free(p);
}

static void
sse_start(const char *const *extra)
{
	make_project("p1", p1);
	make_project("p2", p2);
	vx_harness_key(&h, "p1", VEXIL__V1__ROLE__ROLE_WRITE, k1, sizeof(k1));
	vx_harness_key(&h, "p2", VEXIL__V1__ROLE__ROLE_WRITE, k2, sizeof(k2));
	start(extra);
}

/* The project's head revision, from vexild itself. */
static uint64_t
head_of(const char *project)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_status st;
	uint64_t rev;

	in.project = (char *)project;
	cr_assert(vx_changes(h.admin, &in, &out, &st) == 0, "%s", st.message);
	rev = out->head_revision;
	vx_free(out);
	return rev;
}

/* A flag change through the platform API, with the project's key. */
static void
change(const char *key, const char *flag)
{
	char url[200], auth[200], body[200];
	const char *hs[] = {auth, NULL};

	snprintf(url, sizeof(url), "%s/v1/flags", g.base);
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", key);
	snprintf(body, sizeof(body), "{\"key\":\"%s\"}", flag);
	vx_http_req rq = {.method = "POST", .url = url, .headers = hs, .body = body};
	vx_http_res r = vx_http(&rq);
	cr_assert_eq(r.status, 201, "%s", r.body);
	vx_http_res_free(&r);
}

/* Opens a stream; extra_header may be "" or NULL. Returns the status. */
static int
open_stream(struct conn *c, const char *auth, const char *extra, struct resp *r)
{
	c->fd = dial();
	c->len = 0;
	sends(c->fd, vx_fmt("GET /ofrep/v1/events HTTP/1.1\r\nHost: x\r\n%s%s\r\n",
	                 auth ? auth : "", extra ? extra : ""));
	cr_assert(read_resp(c, r, true), "a response head");
	return r->status;
}

/* The next event's id (heartbeat comments skipped); 0 at EOF. */
static uint64_t
next_event(struct conn *c)
{
	for (;;) {
		char *end;
		c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
		if ((end = strstr(c->buf, "\n\n")) != NULL) {
			size_t n = (size_t)(end - c->buf) + 2;
			unsigned long long id = 0;
			char ev[512];
			snprintf(ev, sizeof(ev), "%.*s", (int)n, c->buf);
			consume(c, n);
			if (ev[0] == ':')
				continue;
			cr_assert(sscanf(ev, "id: %llu\n", &id) == 1, "an id: %s", ev);
			cr_assert(strstr(ev, "\nevent: message\n"), "%s", ev);
			cr_assert(
			    strstr(ev, vx_fmt("\ndata: {\"type\":\"refetchEvaluation\","
			                      "\"etag\":\"\\\"%llu\\\"\"}\n\n",
			                   id)),
			    "%s", ev);
			return id;
		}
		if (!fill(c))
			return 0;
	}
}

Test(http, a_change_reaches_the_stream_with_its_revision)
{
	struct conn a, b;
	struct resp r;
	uint64_t before, after;

	sse_start(NULL);
	before = head_of(p1);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r), 200,
	    "%s", r.head);
	cr_assert(strncmp(header(&r, "Content-Type"), "text/event-stream", 17) == 0);
	cr_assert_str_eq(header(&r, "Cache-Control"), "no-cache");
	cr_assert(header(&r, "X-Request-Id"));
	cr_assert_null(header(&r, "Content-Length"));
	resp_free(&r);
	/* The other project's key sees its own project only. */
	cr_assert_eq(open_stream(&b, vx_fmt("X-API-Key: %s\r\n", k2), NULL, &r), 200);
	resp_free(&r);
	change(k1, "one");
	change(k1, "two");
	after = head_of(p1);
	cr_assert(after >= before + 2);
	for (uint64_t rev = before + 1; rev <= after; rev++)
		cr_assert_eq(next_event(&a), rev, "every revision once, in order");
	/* Then one change in p2: b's first event is that one, so nothing of
	 * p1 reached it. */
	uint64_t p2_before = head_of(p2);
	change(k2, "theirs");
	cr_assert_eq(next_event(&b), p2_before + 1);
	cr_assert_eq(head_of(p2), p2_before + 1);
	close(a.fd);
	close(b.fd);
	expect_health();
}

Test(http, last_event_id_replays_exactly_the_missed_revisions)
{
	struct conn a;
	struct resp r;
	uint64_t seen, head;

	sse_start(NULL);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r), 200);
	resp_free(&r);
	change(k1, "first");
	seen = next_event(&a);
	cr_assert_eq(seen, head_of(p1));
	close(a.fd);
	/* Missed while away. */
	change(k1, "second");
	change(k1, "third");
	head = head_of(p1);
	cr_assert(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1),
	        vx_fmt("Last-Event-ID: %llu\r\n", (unsigned long long)seen), &r) == 200);
	resp_free(&r);
	for (uint64_t rev = seen + 1; rev <= head; rev++)
		cr_assert_eq(next_event(&a), rev, "the missed revisions, in order");
	/* Then live, with nothing repeated. */
	change(k1, "fourth");
	cr_assert_eq(next_event(&a), head + 1);
	close(a.fd);
}

/*
 * vexild is killed and started again under an open stream: the gateway's
 * SUB socket reconnects, and whatever notices it missed meanwhile come
 * from WatchService/Changes, so the stream still sees every revision
 * once, in order.
 */
Test(http, a_stream_survives_a_vexild_restart_without_a_gap)
{
	struct conn a;
	struct resp r;
	uint64_t seen, head;

	sse_start(NULL);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r), 200);
	resp_free(&r);
	change(k1, "before");
	seen = next_event(&a);
	cr_assert_eq(seen, head_of(p1));

	kill(h.pid, SIGKILL);
	waitpid(h.pid, NULL, 0);
	h.pid = 0;
	vx_harness_restart(&h);
	/* At once: the gateway's SUB socket may not be back yet. */
	change(k1, "after1");
	change(k1, "after2");
	change(k1, "after3");
	head = head_of(p1);
	cr_assert_geq(head, seen + 3);
	for (uint64_t rev = seen + 1; rev <= head; rev++)
		cr_assert_eq(next_event(&a), rev, "every revision once, in order");
	close(a.fd);
	expect_health();
}

Test(http, a_last_event_id_beyond_the_log_gets_one_refetch_at_the_head)
{
	struct conn a;
	struct resp r;

	sse_start(NULL);
	change(k1, "x");
	cr_assert(open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1),
	              "Last-Event-ID: 999999\r\n", &r) == 200);
	resp_free(&r);
	cr_assert_eq(next_event(&a), head_of(p1));
	close(a.fd);
}

Test(http, the_stream_needs_a_valid_key)
{
	struct conn a;
	struct resp r;

	sse_start(NULL);
	cr_assert_eq(open_stream(&a, NULL, NULL, &r), 401);
	cr_assert_str_eq(header(&r, "Content-Length"), "0");
	resp_free(&r);
	close(a.fd);
	cr_assert_eq(
	    open_stream(&a, "Authorization: Bearer vxk_nope\r\n", NULL, &r), 401);
	resp_free(&r);
	close(a.fd);
	cr_assert_eq(open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1),
	                 "Last-Event-ID: banana\r\n", &r),
	    400);
	resp_free(&r);
	close(a.fd);
}

Test(http, max_streams_is_enforced_and_a_closed_stream_is_freed)
{
	const char *args[] = {"--max-streams", "1", NULL};
	struct conn a, b;
	struct resp r;
	int st;

	sse_start(args);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r), 200);
	resp_free(&r);
	cr_assert_eq(
	    open_stream(&b, vx_fmt("Authorization: Bearer %s\r\n", k2), NULL, &r), 503);
	resp_free(&r);
	close(b.fd);
	/* The client goes away: its place is freed and the gateway serves on. */
	close(a.fd);
	for (int i = 0;; i++) {
		cr_assert(i < 1000, "the closed stream was never freed");
		st =
		    open_stream(&b, vx_fmt("Authorization: Bearer %s\r\n", k2), NULL, &r);
		resp_free(&r);
		if (st == 200)
			break;
		cr_assert_eq(st, 503);
		close(b.fd);
		usleep(10000);
	}
	change(k2, "after");
	cr_assert_eq(next_event(&b), head_of(p2));
	close(b.fd);
	expect_health();
}

/* The state of flag `id` in env, through the platform API. */
static void
set_state(const char *key, const char *id, const char *env)
{
	char url[200], auth[200], body[200];
	const char *hs[] = {auth, NULL};

	snprintf(url, sizeof(url), "%s/v1/flags/%s/state", g.base, id);
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", key);
	snprintf(body, sizeof(body), "{\"environment\":\"%s\",\"enabled\":true}", env);
	vx_http_req rq = {.method = "PATCH", .url = url, .headers = hs, .body = body};
	vx_http_res r = vx_http(&rq);
	cr_assert_eq(r.status, 200, "%s", r.body);
	vx_http_res_free(&r);
}

Test(http, an_sdk_key_bound_to_an_environment_skips_the_others_changes)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	char url[200], auth[200], id[64], sdk[128];
	const char *hs[] = {auth, NULL};
	struct conn a;
	struct resp r;
	vx_status st;
	uint64_t staging;

	sse_start(NULL);
	in.project = p1;
	in.environment = "production";
	cr_assert(vx_create_sdk_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	snprintf(sdk, sizeof(sdk), "%s", k->secret);
	vx_free(k);
	snprintf(url, sizeof(url), "%s/v1/flags", g.base);
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", k1);
	vx_http_req rq = {
	    .method = "POST", .url = url, .headers = hs, .body = "{\"key\":\"f\"}"};
	vx_http_res cr = vx_http(&rq);
	cr_assert_eq(cr.status, 201, "%s", cr.body);
	snprintf(id, sizeof(id), "%s", cJSON_GetObjectItem(cr.json, "id")->valuestring);
	vx_http_res_free(&cr);

	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", sdk), NULL, &r), 200,
	    "%s", r.head);
	resp_free(&r);
	set_state(k1, id, "staging");
	staging = head_of(p1);
	set_state(k1, id, "production");
	cr_assert_eq(next_event(&a), staging + 1, "staging's change is not this key's");
	close(a.fd);
}

Test(http, an_idle_stream_gets_heartbeat_comments)
{
	const char *args[] = {"--sse-heartbeat", "1", NULL};
	struct conn a;
	struct resp r;

	sse_start(args);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r), 200);
	resp_free(&r);
	for (;;) {
		a.buf[a.len] = '\0';
		if (strstr(a.buf, ": keep-alive\n\n"))
			break;
		cr_assert(fill(&a), "the stream stays open with heartbeats");
	}
	close(a.fd);
}

Test(http, a_stop_ends_open_streams_and_exits_zero)
{
	struct conn a;
	struct resp r;

	sse_start(NULL);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r), 200);
	resp_free(&r);
	cr_assert_eq(vx_gateway_stop(&g), 0);
	cr_assert(closed(&a) || next_event(&a) == 0, "the stream ends");
	close(a.fd);
	unlink(g.log);
}

Test(http, head_on_the_event_stream_answers_its_head_and_closes)
{
	struct conn a;
	struct resp r;

	sse_start(NULL);
	a.fd = dial();
	a.len = 0;
	sends(a.fd, vx_fmt("HEAD /ofrep/v1/events HTTP/1.1\r\nHost: x\r\n"
	                   "Authorization: Bearer %s\r\n\r\n",
	                k1));
	cr_assert(read_resp(&a, &r, true));
	cr_assert_eq(r.status, 200, "%s", r.head);
	cr_assert(strncmp(header(&r, "Content-Type"), "text/event-stream", 17) == 0, "%s",
	    r.head);
	cr_assert_null(header(&r, "Content-Length"));
	cr_assert_str_eq(header(&r, "Connection"), "close");
	resp_free(&r);
	/* No body, not even a heartbeat: the connection just closes. */
	cr_assert(closed(&a), "%.*s", (int)a.len, a.buf);
	close(a.fd);
	/* A change later reaches no one, and the gateway serves on. */
	change(k1, "after-head");
	expect_health();
}

Test(http, a_revoked_keys_stream_ends_at_the_revocation)
{
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__RevokeApiKeyRequest rv = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	Vexil__V1__Empty *e;
	struct conn a, b;
	struct resp r;
	char doomed[128];
	vx_status st;

	sse_start(NULL);
	in.name = "doomed";
	in.project = p1;
	in.role = VEXIL__V1__ROLE__ROLE_READ;
	cr_assert(vx_create_api_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	snprintf(doomed, sizeof(doomed), "%s", k->secret);
	rv.id = k->key->id;
	vx_free(k);
	/* Two streams of the doomed key (checked once for both), one of k1. */
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", doomed), NULL, &r),
	    200);
	resp_free(&r);
	cr_assert_eq(open_stream(&b, vx_fmt("X-API-Key: %s\r\n", doomed), NULL, &r), 200);
	resp_free(&r);
	struct conn live;
	cr_assert_eq(
	    open_stream(&live, vx_fmt("Authorization: Bearer %s\r\n", k1), NULL, &r),
	    200);
	resp_free(&r);
	change(k1, "seen");
	cr_assert_eq(next_event(&a), head_of(p1));
	cr_assert_eq(next_event(&b), head_of(p1));
	cr_assert_eq(next_event(&live), head_of(p1));
	cr_assert(vx_revoke_api_key(h.admin, &rv, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	/* A revocation is a change of its project: it is the first the
	 * doomed streams would see, so they end there. */
	uint64_t revoked = head_of(p1);
	change(k1, "unseen");
	cr_assert_eq(next_event(&a), 0, "the revoked key's stream ends");
	cr_assert_eq(next_event(&b), 0, "the revoked key's stream ends");
	cr_assert_eq(next_event(&live), revoked, "the other key's stream goes on");
	cr_assert_eq(next_event(&live), head_of(p1), "the other key's stream goes on");
	close(a.fd);
	close(b.fd);
	close(live.fd);
	/* The revoked key opens nothing new. */
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", doomed), NULL, &r),
	    401);
	resp_free(&r);
	close(a.fd);
}

Test(http, a_regenerated_sdk_keys_stream_ends)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	struct conn a;
	struct resp r;
	char sdk[128];
	vx_status st;

	sse_start(NULL);
	in.project = p1;
	cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	snprintf(sdk, sizeof(sdk), "%s", p->sdk_key);
	vx_free(p);
	cr_assert_eq(
	    open_stream(&a, vx_fmt("Authorization: Bearer %s\r\n", sdk), NULL, &r), 200,
	    "%s", r.head);
	resp_free(&r);
	change(k1, "before");
	cr_assert_eq(next_event(&a), head_of(p1));
	/* Regenerating is a change of the project: the old key's stream
	 * checks its key again and ends. */
	cr_assert(vx_regenerate_sdk_key(h.admin, &in, &p, &st) == 0, "%s", st.message);
	cr_assert_str_neq(p->sdk_key, sdk);
	vx_free(p);
	cr_assert_eq(next_event(&a), 0, "the old SDK key's stream ends");
	close(a.fd);
	expect_health();
}
