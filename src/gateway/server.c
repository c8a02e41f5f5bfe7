/*
 * Vexil gateway — our own HTTP/1.1 server on nng streams, a bounded job
 * pool and the workers: see server.h.
 *
 * A connection is a small state machine driven by two aios of its own, one
 * reading and one writing, and never more than one request at a time:
 *
 *   C_HEAD      reading a request head into the connection's buffer, with
 *               the idle deadline (nothing received yet) or the head
 *               deadline (--header-timeout from its first byte)
 *   C_CONTINUE  writing "100 Continue" before the body
 *   C_BODY      reading the body into the job (--body-timeout)
 *   C_WORK      the job is queued or on a worker: nothing is read, so a
 *               pipelined request waits in the buffer or the socket
 *   C_WRITE     writing the response; then back to C_HEAD (keep-alive)
 *               or closed
 *   C_STREAM    a streamed response (vx_gw_reply_stream): bytes queued by
 *               any thread are written in order, and a read that discards
 *               what the client sends notices when it goes away
 *
 * nng's threads run the aio callbacks and never block: they parse, admit
 * (take a job or answer 503), check the framing, read the body and queue
 * the job. Workers route it, call vexild and hand the response bytes back
 * to the connection. Every error this layer writes itself goes through
 * fail_conn(), in the error format of the dialect that owns the path.
 *
 * Lifetime. A connection is freed once it is closed, no aio of its is
 * busy, no worker holds its job, and no stream handle refers to it
 * (refs). Closing calls nng_stream_close(), which aborts the busy aios;
 * whichever finishes last tears the connection down. Locks: a
 * connection's mu may be held while taking the server's mu, never the
 * other way round.
 */
#include "gateway/server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "gateway/dialects.h"
#include "gateway/http.h"
#include "gateway/router.h"
#include "gateway/rpc.h"
#include "gateway/sse.h"

/* Unpacked core replies per request; the core's replies are <= 1 MiB. */
#define ARENA_BUDGET ((size_t)32 << 20)
/* Body buffers up to this size stay with their job for the next request. */
#define KEEP_BODY (64 * 1024)
/* Connections past --max-conns that are still answered 503 (the rest are
 * closed at once). */
#define OVER_CONNS 64
/* A stop waits this long for responses being written before it closes
 * their connections. */
#define DRAIN_WRITE_MS 2000
#define TLS_FILE_MAX (1024 * 1024)
#define MS 1000000ULL

enum cstate { C_HEAD, C_CONTINUE, C_BODY, C_WORK, C_WRITE, C_STREAM };

/* A growable byte buffer; off is how much of it was written out. */
struct bytes {
	char *p;
	size_t len, cap, off;
};

/* One admitted request, from its head to its response. */
struct job {
	struct job *next;
	struct vx_gw_stream *c;
	char *head;                  /* the head, parsed in place */
	vx_gw_header_field *fields;
	vx_gw_headers hdrs;
	const char *method, *target;
	bool head_only;              /* HEAD: the response goes without body */
	bool close;                  /* HTTP/1.0 or Connection: close */
	uint8_t *body;
	size_t body_len, body_cap, body_got;
	uint64_t t0;
	char rid[VX_GW_REQUEST_ID_MAX + 1];
};

/* A connection. Stream handles (http.h) point at their connection. */
typedef struct vx_gw_stream conn;
struct vx_gw_stream {
	vx_gw_server *srv;
	conn *prev, *next;           /* s->conns, under s->mu */
	nng_stream *st;
	nng_aio *rd, *wr;
	pthread_mutex_t mu;
	atomic_int refs;             /* 1 until torn down, + stream handles */
	enum cstate state;
	bool closing, rd_busy, wr_busy, in_work, torn;
	bool served;                 /* answered a request already */
	bool out_close;              /* close once out is written */
	uint64_t head_t0;            /* mono ns of this head's first byte; 0 */
	uint64_t deadline;           /* of the body read */
	char *buf;                   /* received, not yet consumed */
	size_t len;
	struct job *job;
	struct bytes out;            /* being written */
	struct bytes pend;           /* a stream's bytes waiting for out */
	size_t backlog;              /* a stream's limit on pend */
	vx_gw_stream_fn on_close;
	void *arg;
	char sink[512];              /* a stream's discarded input */
};

struct worker {
	vx_gw_server *srv;
	pthread_t th;
	vx_arena arena;
};

struct vx_gw_server {
	vx_gw_opts o;
	nng_stream_listener *lst;
	nng_aio *acc;
	vx_gw_router *router;
	vx_gw_rpc rpc;
	bool tls;
	bool sse;                    /* the hub runs */

	pthread_mutex_t mu;
	pthread_cond_t work;         /* a job was queued, or stopping was set */
	pthread_cond_t idle;         /* inflight or nconns dropped to 0 */
	struct job *head, *tail;
	struct job *free_jobs;
	size_t njobs, max_jobs;
	size_t inflight;             /* jobs taken and not yet answered */
	conn *conns;
	size_t nconns;
	bool accepting;              /* the accept aio is busy */
	bool draining;               /* answer new requests 503 */
	bool stopping;               /* take no job, accept nothing */

	struct worker *workers;
	int nworkers;
};

static void on_read(void *arg);
static void on_write(void *arg);
static void try_head(conn *c);

/* ---- logging ---- */

static void
clean(char *out, size_t cap, const char *in, const char *stop)
{
	size_t i;

	/* Logged text came from the client: no control bytes or spaces. */
	for (i = 0; in[i] && !strchr(stop, in[i]) && i + 1 < cap; i++)
		out[i] = (in[i] > ' ' && in[i] < 127) ? in[i] : '?';
	out[i] = '\0';
}

static void
access_log(const vx_gw_server *s, const char *method, const char *path, int status,
    uint64_t t0, const char *rid)
{
	char m[17], p[257];

	if (s->o.quiet)
		return;
	clean(m, sizeof(m), method ? method : "-", "");
	clean(p, sizeof(p), path ? path : "-", "?");
	vx_log(VX_LOG_INFO, "http method=%s path=%s status=%d us=%llu req=%s", m, p, status,
	    (unsigned long long)((vx_mono_ns() - t0) / 1000), rid);
}

/* ---- responses ---- */

static const char *
reason(int status)
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
	default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Error";
	}
}

static int
put(struct bytes *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *p;
		while (cap < b->len + n)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return VX_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int VX_PRINTF(2, 3)
putf(struct bytes *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return VX_EINVAL;
	return put(b, line, (size_t)n);
}

/* The status line and the headers every response carries. */
static int
put_head(struct bytes *b, const vx_gw_req *r, int status, bool close)
{
	int rc = 0;

	rc |= putf(b, "HTTP/1.1 %d %s\r\n", status, reason(status));
	rc |= putf(b, "X-Request-Id: %s\r\n", r->request_id);
	if (r->allow[0])
		rc |= putf(b, "Allow: %s\r\n", r->allow);
	for (size_t i = 0; i < r->n_headers; i++)
		rc |= putf(b, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
	if (close)
		rc |= putf(b, "Connection: close\r\n");
	return rc ? VX_ENOMEM : 0;
}

/* r's whole response. A failure leaves a bare 500. */
static void
build(struct bytes *b, const vx_gw_req *r, bool head_only, bool close)
{
	int status = r->status ? r->status : 500;
	int rc;

	b->len = b->off = 0;
	rc = put_head(b, r, status, close);
	if (r->res_len > 0 && r->content_type)
		rc |= putf(b, "Content-Type: %s\r\n", r->content_type);
	/* 1xx, 204 and 304 have no body and no length. */
	if (status != 204 && status != 304)
		rc |= putf(b, "Content-Length: %zu\r\n", r->res_len);
	rc |= put(b, "\r\n", 2);
	if (!head_only && status != 204 && status != 304 && r->res_len > 0)
		rc |= put(b, r->res_body, r->res_len);
	if (rc != 0) {
		static const char bare[] = "HTTP/1.1 500 Internal Server Error\r\n"
					   "Content-Length: 0\r\nConnection: close\r\n\r\n";
		b->len = 0;
		if (b->cap >= sizeof(bare) - 1) {
			memcpy(b->p, bare, sizeof(bare) - 1);
			b->len = sizeof(bare) - 1;
		}
	}
}

/* ---- jobs ---- */

/* Takes a job for a new request, or NULL. Called with s->mu held. */
static struct job *
job_take(vx_gw_server *s)
{
	struct job *j;

	if ((j = s->free_jobs) != NULL) {
		s->free_jobs = j->next;
	} else {
		if (s->njobs >= s->max_jobs || (j = calloc(1, sizeof(*j))) == NULL)
			return NULL;
		j->head = malloc(s->o.max_header_bytes + 1);
		j->fields = calloc(s->o.max_headers, sizeof(*j->fields));
		if (j->head == NULL || j->fields == NULL) {
			free(j->head);
			free(j->fields);
			free(j);
			return NULL;
		}
		s->njobs++;
	}
	j->next = NULL;
	j->c = NULL;
	j->body_len = j->body_got = 0;
	j->hdrs.fields = j->fields;
	j->hdrs.n = 0;
	j->head_only = j->close = false;
	s->inflight++;
	return j;
}

/* Returns a job to the pool. */
static void
job_done(vx_gw_server *s, struct job *j)
{
	if (j->body_cap > KEEP_BODY) {
		free(j->body);
		j->body = NULL;
		j->body_cap = 0;
	}
	j->c = NULL;
	pthread_mutex_lock(&s->mu);
	j->next = s->free_jobs;
	s->free_jobs = j;
	if (--s->inflight == 0 && s->draining)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
}

static void
enqueue(vx_gw_server *s, struct job *j)
{
	pthread_mutex_lock(&s->mu);
	j->next = NULL;
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
}

/* ---- connections: closing and teardown ---- */

static void
conn_free(conn *c)
{
	nng_aio_reap(c->rd);
	nng_aio_reap(c->wr);
	pthread_mutex_destroy(&c->mu);
	free(c->buf);
	free(c->out.p);
	free(c->pend.p);
	free(c);
}

static void
conn_unref(conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1)
		conn_free(c);
}

/* Starts closing c (c->mu held). Whatever aio finishes last tears it down;
 * with none busy, a zero sleep on rd makes one finish. */
static void
close_locked(conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	nng_stream_close(c->st);
	if (!c->rd_busy && !c->wr_busy && !c->in_work) {
		c->rd_busy = true;
		nng_sleep_aio(0, c->rd);
	}
}

/* True when c is closing and nothing holds it any more (c->mu held). */
static bool
finished(conn *c)
{
	if (!c->closing || c->rd_busy || c->wr_busy || c->in_work || c->torn)
		return false;
	c->torn = true;
	return true;
}

/* Tears a finished connection down (no lock held, from an aio callback). */
static void
teardown(conn *c)
{
	vx_gw_server *s = c->srv;
	struct job *j = c->job;

	c->job = NULL;
	if (j)
		job_done(s, j);
	if (c->on_close)
		c->on_close(c->arg);
	nng_stream_free(c->st);
	c->st = NULL;
	pthread_mutex_lock(&s->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (--s->nconns == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	conn_unref(c);
}

/* ---- connections: writing ---- */

static void
start_write(conn *c)
{
	nng_iov iov = {.iov_buf = c->out.p + c->out.off, .iov_len = c->out.len - c->out.off};

	c->wr_busy = true;
	(void)nng_aio_set_iov(c->wr, 1, &iov);
	nng_aio_set_timeout(c->wr, NNG_DURATION_INFINITE);
	nng_stream_send(c->st, c->wr);
}

/* Moves a stream's pending bytes to out and writes them (c->mu held). */
static void
stream_flush(conn *c)
{
	struct bytes t;

	if (c->state != C_STREAM || c->wr_busy || c->closing || c->pend.len == 0)
		return;
	t = c->out;
	c->out = c->pend;
	c->out.off = 0;
	c->pend = t;
	c->pend.len = c->pend.off = 0;
	start_write(c);
}

/* Writes an error of this layer and closes (c->mu held, nothing busy).
 * path may be NULL (not known yet): the fallback dialect writes it. */
static void
fail_conn(conn *c, int status, const char *method, const char *path, const char *rid,
    const char *msg)
{
	vx_gw_server *s = c->srv;
	char fresh[VX_GW_REQUEST_ID_MAX + 1];
	vx_gw_req r;

	if (rid == NULL) {
		vx_gw_request_id(NULL, fresh);
		rid = fresh;
	}
	vx_gw_req_init(&r, method ? method : "-", path ? path : "/", "", NULL, rid);
	r.dialect = vx_gw_router_owner(s->router, path ? path : "");
	vx_gw_fail(&r, status, NULL, "%s", msg);
	build(&c->out, &r, method && strcmp(method, "HEAD") == 0, true);
	access_log(s, method, path, r.status, c->head_t0 ? c->head_t0 : vx_mono_ns(), rid);
	vx_gw_req_fini(&r);
	c->state = C_WRITE;
	c->out_close = true;
	if (c->out.len == 0)
		close_locked(c);
	else
		start_write(c);
}

/* ---- connections: reading ---- */

/* Posts the read the state calls for (c->mu held). */
static void
start_read(conn *c)
{
	vx_gw_server *s = c->srv;
	const vx_gw_opts *o = &s->o;
	nng_duration ms = NNG_DURATION_INFINITE;
	uint64_t now = vx_mono_ns();
	nng_iov iov;

	switch (c->state) {
	case C_HEAD:
		iov.iov_buf = c->buf + c->len;
		iov.iov_len = o->max_header_bytes - c->len;
		if (c->head_t0 == 0) {
			/* Nothing of the next request yet: the idle deadline (a
			 * new connection must start its request in time). */
			ms = c->served ? o->idle_timeout_ms : o->header_timeout_ms;
		} else {
			uint64_t end = c->head_t0 + (uint64_t)o->header_timeout_ms * MS;
			ms = end > now ? (nng_duration)((end - now + MS - 1) / MS) : 1;
		}
		break;
	case C_BODY:
		iov.iov_buf = c->job->body + c->job->body_got;
		iov.iov_len = c->job->body_len - c->job->body_got;
		ms = c->deadline > now ? (nng_duration)((c->deadline - now + MS - 1) / MS) : 1;
		break;
	case C_STREAM:
		iov.iov_buf = c->sink;
		iov.iov_len = sizeof(c->sink);
		break;
	default:
		return;
	}
	c->rd_busy = true;
	(void)nng_aio_set_iov(c->rd, 1, &iov);
	nng_aio_set_timeout(c->rd, ms);
	nng_stream_recv(c->st, c->rd);
}

/* The body has arrived (or there is none): off to the workers. */
static void
dispatch(conn *c)
{
	struct job *j = c->job;

	j->body[j->body_len] = '\0';
	c->state = C_WORK;
	c->in_work = true;
	c->job = NULL;
	enqueue(c->srv, j);
}

static void
start_body(conn *c)
{
	c->state = C_BODY;
	c->deadline = vx_mono_ns() + (uint64_t)c->srv->o.body_timeout_ms * MS;
	start_read(c);
}

static bool
tchar(unsigned char ch)
{
	return ch > ' ' && ch < 127 && strchr("\"(),/:;<=>?@[\\]{}", ch) == NULL;
}

/* Cuts the next line at p (LF, or CRLF) and returns it; NULL at the end. */
static char *
next_line(char **p, char *end)
{
	char *line = *p, *nl;

	if (line >= end || (nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
		return NULL;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*p = nl + 1;
	return line;
}

/*
 * Parses the head in j->head (n bytes, ending in an empty line) in place.
 * @return 0, or the status to refuse it with (400, 414, 431, 505) and why.
 */
static int
parse_head(vx_gw_server *s, struct job *j, size_t n, size_t max_headers, bool *http10,
    const char **why)
{
	char *p = j->head, *end = j->head + n, *line, *sp, *v;
	bool host = false;

	j->head[n] = '\0';
	if ((line = next_line(&p, end)) == NULL || (sp = strchr(line, ' ')) == NULL) {
		*why = "Malformed request line";
		return 400;
	}
	*sp = '\0';
	j->method = line;
	j->target = sp + 1;
	if ((sp = strchr(sp + 1, ' ')) == NULL) {
		*why = "Malformed request line";
		return 400;
	}
	*sp = '\0';
	v = sp + 1;
	for (const char *m = j->method; ; m++) {
		if (*m == '\0' && m > j->method)
			break;
		if (!tchar((unsigned char)*m)) {
			*why = "Malformed request line";
			return 400;
		}
	}
	if (strlen(j->target) > s->o.max_url) {
		*why = "Request target is too long";
		return 414;
	}
	for (const char *t = j->target; *t; t++)
		if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 127) {
			*why = "Malformed request target";
			return 400;
		}
	if (j->target[0] != '/' && strncasecmp(j->target, "http://", 7) != 0 &&
	    strncasecmp(j->target, "https://", 8) != 0 &&
	    !(strcmp(j->target, "*") == 0 && strcmp(j->method, "OPTIONS") == 0)) {
		*why = "Malformed request target";
		return 400;
	}
	if (strcmp(v, "HTTP/1.1") == 0) {
		*http10 = false;
	} else if (strcmp(v, "HTTP/1.0") == 0) {
		*http10 = true;
	} else if (strncmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
	    v[7] >= '0' && v[7] <= '9' && v[8] == '\0') {
		*why = "Only HTTP/1.0 and HTTP/1.1 are served";
		return 505;
	} else {
		*why = "Malformed request line";
		return 400;
	}
	while ((line = next_line(&p, end)) != NULL && *line != '\0') {
		char *colon, *val, *e;

		if (*line == ' ' || *line == '\t') {
			*why = "Obsolete header line folding is not accepted";
			return 400;
		}
		if (j->hdrs.n == max_headers) {
			*why = "Too many request headers";
			return 431;
		}
		if ((colon = strchr(line, ':')) == NULL || colon == line) {
			*why = "Malformed header line";
			return 400;
		}
		for (char *q = line; q < colon; q++)
			if (!tchar((unsigned char)*q)) {
				*why = "Malformed header name";
				return 400;
			}
		*colon = '\0';
		for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
			;
		for (e = val + strlen(val); e > val && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		for (char *q = val; *q; q++)
			if (((unsigned char)*q < ' ' && *q != '\t') || *q == 127) {
				*why = "Control character in a header value";
				return 400;
			}
		if (strcasecmp(line, "Host") == 0) {
			if (host) {
				*why = "More than one Host header";
				return 400;
			}
			host = true;
		}
		j->fields[j->hdrs.n].name = line;
		j->fields[j->hdrs.n].value = val;
		j->hdrs.n++;
	}
	if (!*http10 && !host) {
		*why = "Missing Host header";
		return 400;
	}
	return 0;
}

/* A header of a parsed head, or NULL. */
static const char *
hdr(const vx_gw_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->fields[i].name, name) == 0)
			return h->fields[i].value;
	return NULL;
}

/* Whether a comma-separated header value lists token (in any case). */
static bool
has_token(const char *v, const char *token)
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

/* The path of a parsed target, for choosing an error's dialect. */
static const char *
err_path(struct job *j)
{
	const char *path, *query;

	vx_gw_split_target((char *)j->target, &path, &query);
	return path;
}

/* What the request says about its body: its length, or a refusal. */
static int
framing(vx_gw_server *s, struct job *j, uint64_t *len, const char **why, char *msg,
    size_t cap)
{
	const char *te = hdr(&j->hdrs, "Transfer-Encoding");
	const char *cl = NULL;

	*len = 0;
	for (size_t i = 0; i < j->hdrs.n; i++) {
		if (strcasecmp(j->fields[i].name, "Content-Length") != 0)
			continue;
		if (cl && strcmp(cl, j->fields[i].value) != 0) {
			*why = "Conflicting Content-Length headers";
			return 400;
		}
		cl = j->fields[i].value;
	}
	if (te && strcasecmp(te, "identity") != 0) {
		/* Chunked request bodies are not decoded; see docs/gateway.md. */
		*why = "Request bodies must be sent with Content-Length";
		return 411;
	}
	if (cl && vx_parse_u64(cl, len) != 0) {
		*why = "Invalid Content-Length";
		return 400;
	}
	if (*len > s->o.max_body) {
		snprintf(msg, cap, "Request body is larger than %zu bytes", s->o.max_body);
		*why = msg;
		return 413;
	}
	return 0;
}

/* The end of the head in buf, or 0 when it has not all arrived. */
static size_t
head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Takes what it can of the next request out of the buffer (c->mu held,
 * state C_HEAD, nothing busy): reads more, refuses it, or starts its body. */
static void
try_head(conn *c)
{
	vx_gw_server *s = c->srv;
	const char *why = NULL, *expect, *conn_h;
	char msg[96], rid[VX_GW_REQUEST_ID_MAX + 1];
	bool http10 = false, stopping, parsed;
	struct job *j;
	size_t n, skip = 0, take;
	uint64_t len;
	int status;

	/* Empty lines before a request line are ignored (RFC 9112 2.2). */
	while (skip < c->len && (c->buf[skip] == '\r' || c->buf[skip] == '\n'))
		skip++;
	if (skip > 0) {
		memmove(c->buf, c->buf + skip, c->len - skip);
		c->len -= skip;
	}
	if (c->len > 0 && c->head_t0 == 0)
		c->head_t0 = vx_mono_ns();
	if ((n = head_end(c->buf, c->len)) == 0) {
		if (c->len < s->o.max_header_bytes) {
			start_read(c);
			return;
		}
		if (memchr(c->buf, '\n', c->len) == NULL && c->len > s->o.max_url)
			fail_conn(c, 414, NULL, NULL, NULL, "Request target is too long");
		else
			fail_conn(c, 431, NULL, NULL, NULL, "Request header fields are too large");
		return;
	}
	pthread_mutex_lock(&s->mu);
	stopping = s->stopping;
	j = s->draining ? NULL : job_take(s);
	pthread_mutex_unlock(&s->mu);
	if (stopping) {
		if (j)
			job_done(s, j);
		close_locked(c);
		return;
	}
	if (j == NULL) {
		/* Parsed on the connection's own buffer, only to find the path
		 * and the request id of the 503. */
		struct job tmp = {0};
		vx_gw_header_field f[16];
		char head[2048];
		const char *path = NULL, *m = NULL, *in;

		tmp.head = head;
		tmp.fields = f;
		tmp.hdrs.fields = f;
		if (n < sizeof(head)) {
			memcpy(head, c->buf, n);
			if (parse_head(s, &tmp, n, 16, &http10, &why) == 0) {
				m = tmp.method;
				path = err_path(&tmp);
			}
		}
		in = hdr(&tmp.hdrs, "X-Request-Id");
		vx_gw_request_id(in, rid);
		pthread_mutex_lock(&s->mu);
		why = s->draining ? "The gateway is shutting down"
				  : "The gateway is overloaded, retry later";
		pthread_mutex_unlock(&s->mu);
		fail_conn(c, 503, m, path, rid, why);
		return;
	}
	j->c = c;
	j->t0 = c->head_t0;
	memcpy(j->head, c->buf, n);
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	c->job = j;
	status = parse_head(s, j, n, s->o.max_headers, &http10, &why);
	parsed = status == 0;
	vx_gw_request_id(parsed ? hdr(&j->hdrs, "X-Request-Id") : NULL, j->rid);
	if (parsed)
		status = framing(s, j, &len, &why, msg, sizeof(msg));
	if (status == 0 && len + 1 > j->body_cap) {
		uint8_t *b = realloc(j->body, (size_t)len + 1);
		if (b == NULL) {
			status = 503;
			why = "The gateway is out of memory, retry later";
		} else {
			j->body = b;
			j->body_cap = (size_t)len + 1;
		}
	}
	if (status != 0) {
		c->job = NULL;
		fail_conn(c, status, parsed ? j->method : NULL, parsed ? err_path(j) : NULL,
		    j->rid, why);
		job_done(s, j);
		return;
	}
	j->head_only = strcmp(j->method, "HEAD") == 0;
	conn_h = hdr(&j->hdrs, "Connection");
	j->close = http10 || (conn_h && has_token(conn_h, "close"));
	j->body_len = (size_t)len;
	take = c->len < j->body_len ? c->len : j->body_len;
	memcpy(j->body, c->buf, take);
	memmove(c->buf, c->buf + take, c->len - take);
	c->len -= take;
	j->body_got = take;
	if (j->body_got == j->body_len) {
		dispatch(c);
		return;
	}
	expect = hdr(&j->hdrs, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0 && !http10) {
		/* The client holds the body back until told to send it. */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		c->out.len = c->out.off = 0;
		if (put(&c->out, cont, sizeof(cont) - 1) == 0) {
			c->state = C_CONTINUE;
			start_write(c);
			return;
		}
	}
	start_body(c);
}

static void
on_read(void *arg)
{
	conn *c = arg;
	vx_gw_server *s = c->srv;
	int rv = nng_aio_result(c->rd);
	size_t n = nng_aio_count(c->rd);
	bool done;

	pthread_mutex_lock(&c->mu);
	c->rd_busy = false;
	if (c->closing)
		goto out;
	if (rv == NNG_ETIMEDOUT && c->state == C_HEAD && c->head_t0 == 0 && c->len == 0) {
		/* Idle: closed without a word. */
		close_locked(c);
	} else if (rv == NNG_ETIMEDOUT && (c->state == C_HEAD || c->state == C_BODY)) {
		struct job *j = c->job;
		const char *m = NULL, *path = NULL, *rid = NULL;
		if (j) {
			m = j->method;
			path = err_path(j);
			rid = j->rid;
			c->job = NULL;
		}
		fail_conn(c, 408, m, path, rid,
		    c->state == C_HEAD ? "The request head did not arrive in time"
				       : "The request body did not arrive in time");
		if (j)
			job_done(s, j);
	} else if (rv != 0 || n == 0) {
		/* The client went away (or the stream failed). */
		close_locked(c);
	} else if (c->state == C_HEAD) {
		c->len += n;
		try_head(c);
	} else if (c->state == C_BODY) {
		c->job->body_got += n;
		if (c->job->body_got == c->job->body_len)
			dispatch(c);
		else
			start_read(c);
	} else if (c->state == C_STREAM) {
		start_read(c);
	}
out:
	done = finished(c);
	pthread_mutex_unlock(&c->mu);
	if (done)
		teardown(c);
}

static void
on_write(void *arg)
{
	conn *c = arg;
	int rv = nng_aio_result(c->wr);
	bool done;

	pthread_mutex_lock(&c->mu);
	c->wr_busy = false;
	if (c->closing)
		goto out;
	if (rv != 0) {
		close_locked(c);
		goto out;
	}
	c->out.off += nng_aio_count(c->wr);
	if (c->out.off < c->out.len) {
		start_write(c);
		goto out;
	}
	c->out.len = c->out.off = 0;
	if (c->state == C_CONTINUE) {
		start_body(c);
	} else if (c->state == C_STREAM) {
		stream_flush(c);
	} else if (c->out_close) {
		close_locked(c);
	} else {
		/* Keep-alive: the next request, perhaps already buffered. */
		c->state = C_HEAD;
		c->served = true;
		c->head_t0 = 0;
		try_head(c);
	}
out:
	done = finished(c);
	pthread_mutex_unlock(&c->mu);
	if (done)
		teardown(c);
}

/* ---- the worker's side ---- */

/* Hands a worker's answer to the connection (the job is no longer c's). */
static void
answer(conn *c, vx_gw_req *r, bool head_only, bool close)
{
	vx_gw_server *s = c->srv;

	pthread_mutex_lock(&c->mu);
	c->in_work = false;
	if (c->closing) {
		if (!c->rd_busy && !c->wr_busy) {
			c->rd_busy = true;
			nng_sleep_aio(0, c->rd);
		}
	} else if (r->stream) {
		c->state = C_STREAM;
		stream_flush(c);
		start_read(c);
	} else {
		pthread_mutex_lock(&s->mu);
		close = close || s->draining;
		pthread_mutex_unlock(&s->mu);
		build(&c->out, r, head_only, close);
		c->state = C_WRITE;
		c->out_close = close;
		if (c->out.len > 0)
			start_write(c);
		else
			close_locked(c);
	}
	pthread_mutex_unlock(&c->mu);
}

static void
process(struct worker *w, struct job *j)
{
	vx_gw_server *s = w->srv;
	conn *c = j->c;
	const char *path, *query;
	vx_gw_req r;

	vx_gw_split_target((char *)j->target, &path, &query);
	vx_gw_req_init(&r, j->method, path, query, &j->hdrs, j->rid);
	r.arena = &w->arena;
	r.rpc = &s->rpc;
	r.tls = s->tls;
	r.body = j->body;
	r.body_len = j->body_len;
	r.conn = c;
	vx_gw_router_dispatch(s->router, &r);
	access_log(s, r.method, r.path, r.status ? r.status : 500, j->t0, r.request_id);
	answer(c, &r, j->head_only, j->close || r.close);
	vx_gw_req_fini(&r);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	vx_gw_server *s = w->srv;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->work, &s->mu);
		if ((j = s->head) == NULL) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		if ((s->head = j->next) == NULL)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		process(w, j);
		vx_arena_reset(&w->arena);
		job_done(s, j);
	}
	return NULL;
}

/* ---- streams (http.h) ---- */

vx_gw_stream *
vx_gw_reply_stream(vx_gw_req *r, const char *content_type, size_t max_backlog,
    vx_gw_stream_fn on_close, void *arg)
{
	conn *c = r->conn;
	struct bytes head = {0};
	int rc;

	if (c == NULL) {
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return NULL;
	}
	rc = put_head(&head, r, 200, true);
	rc |= putf(&head, "Content-Type: %s\r\nCache-Control: no-cache\r\n\r\n", content_type);
	if (rc != 0) {
		free(head.p);
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return NULL;
	}
	vx_gw_reply(r, 200, NULL, NULL, 0);
	pthread_mutex_lock(&c->mu);
	free(c->pend.p);
	c->pend = head;
	c->backlog = max_backlog + head.len;
	c->on_close = on_close;
	c->arg = arg;
	atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&c->mu);
	r->stream = c;
	return c;
}

int
vx_gw_stream_send(vx_gw_stream *c, const void *data, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (c->closing || c->torn) {
		rc = VX_ECLOSED;
	} else if (c->pend.len + len > c->backlog) {
		rc = VX_EFULL;
		close_locked(c);
	} else if ((rc = put(&c->pend, data, len)) != 0) {
		close_locked(c);
	} else {
		stream_flush(c);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void
vx_gw_stream_close(vx_gw_stream *c)
{
	/* While the handler still runs (in_work), the worker's answer()
	 * finishes the close. */
	pthread_mutex_lock(&c->mu);
	if (!c->torn)
		close_locked(c);
	pthread_mutex_unlock(&c->mu);
}

void
vx_gw_stream_release(vx_gw_stream *c)
{
	conn_unref(c);
}

/* ---- accepting ---- */

static void
on_accept(void *arg)
{
	vx_gw_server *s = arg;
	nng_stream *st;
	bool over, refuse;
	conn *c;
	int rv = nng_aio_result(s->acc);

	pthread_mutex_lock(&s->mu);
	if (rv == 0 && s->stopping) {
		nng_stream_free(nng_aio_get_output(s->acc, 0));
		rv = NNG_ECLOSED;
	}
	if (rv != 0) {
		if (s->stopping || rv == NNG_ECLOSED) {
			s->accepting = false;
			pthread_cond_broadcast(&s->idle);
			pthread_mutex_unlock(&s->mu);
			return;
		}
		/* A failed handshake or a connection reset before it was
		 * taken; nng backs off by itself when out of descriptors. */
		pthread_mutex_unlock(&s->mu);
		nng_stream_listener_accept(s->lst, s->acc);
		return;
	}
	st = nng_aio_get_output(s->acc, 0);
	over = s->nconns >= s->o.max_conns;
	refuse = s->nconns >= s->o.max_conns + OVER_CONNS;
	c = refuse ? NULL : calloc(1, sizeof(*c));
	if (c && (c->buf = malloc(s->o.max_header_bytes + 1)) != NULL &&
	    nng_aio_alloc(&c->rd, on_read, c) == 0 && nng_aio_alloc(&c->wr, on_write, c) == 0) {
		c->srv = s;
		c->st = st;
		atomic_init(&c->refs, 1);
		pthread_mutex_init(&c->mu, NULL);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
	} else {
		if (c) {
			if (c->rd)
				nng_aio_free(c->rd);
			free(c->buf);
			free(c);
		}
		c = NULL;
		nng_stream_free(st);
	}
	pthread_mutex_unlock(&s->mu);
	nng_stream_listener_accept(s->lst, s->acc);
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->state = C_HEAD;
	if (over)
		fail_conn(c, 503, NULL, NULL, NULL, "Too many connections, retry later");
	else
		start_read(c);
	pthread_mutex_unlock(&c->mu);
}

/* ---- setting up ---- */

static int
read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	*out = NULL;
	if (f == NULL) {
		vx_log(VX_LOG_ERROR, "gateway: cannot open %s: %s", path, strerror(errno));
		return VX_EINVAL;
	}
	if ((buf = malloc(TLS_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return VX_ENOMEM;
	}
	n = fread(buf, 1, TLS_FILE_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > TLS_FILE_MAX) {
		vx_log(VX_LOG_ERROR, "gateway: %s is empty or larger than 1 MiB", path);
		free(buf);
		return VX_EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static int
tls_setup(vx_gw_server *s)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
	int rv, rc = VX_EINVAL;

	if (read_file(s->o.tls_cert, &cert) != 0 || read_file(s->o.tls_key, &key) != 0)
		goto out;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0 ||
	    (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0 ||
	    (rv = nng_stream_listener_set_ptr(s->lst, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: TLS with %s and %s: %s", s->o.tls_cert,
		    s->o.tls_key, nng_strerror(rv));
		goto out;
	}
	rc = 0;
out:
	/* The listener holds its own reference to the configuration. */
	if (cfg)
		nng_tls_config_free(cfg);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}

static int
listen_http(vx_gw_server *s)
{
	nng_url *url = NULL;
	char addr[300];
	int rv, rc = VX_EINVAL;

	if ((rv = nng_url_parse(&url, s->o.listen_url)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: bad --listen URL %s: %s", s->o.listen_url,
		    nng_strerror(rv));
		goto out;
	}
	s->tls = strcmp(url->u_scheme, "https") == 0;
	if (!s->tls && strcmp(url->u_scheme, "http") != 0) {
		vx_log(VX_LOG_ERROR, "gateway: --listen must be http:// or https://");
		goto out;
	}
	if (s->tls != (s->o.tls_cert != NULL) || s->tls != (s->o.tls_key != NULL)) {
		vx_log(VX_LOG_ERROR, "gateway: https:// needs --tls-cert and --tls-key, "
		    "and they need https://");
		goto out;
	}
	if ((url->u_path[0] && strcmp(url->u_path, "/") != 0) || url->u_port[0] == '\0') {
		vx_log(VX_LOG_ERROR, "gateway: --listen takes a scheme, host and port only");
		goto out;
	}
	/* nng's stream URLs: tcp://, and tls+tcp:// for TLS over TCP. */
	snprintf(addr, sizeof(addr), "%s://%s", s->tls ? "tls+tcp" : "tcp", url->u_host);
	if ((rv = nng_stream_listener_alloc(&s->lst, addr)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: %s: %s", s->o.listen_url, nng_strerror(rv));
		goto out;
	}
	if (s->tls && (rc = tls_setup(s)) != 0)
		goto out;
	rc = VX_ENOMEM;
	if ((rv = nng_aio_alloc(&s->acc, on_accept, s)) != 0)
		goto out;
	if ((rv = nng_stream_listener_listen(s->lst)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: cannot listen on %s: %s", s->o.listen_url,
		    nng_strerror(rv));
		rc = VX_EIO;
		goto out;
	}
	s->accepting = true;
	nng_stream_listener_accept(s->lst, s->acc);
	rc = 0;
out:
	if (url)
		nng_url_free(url);
	return rc;
}

static void
free_all(vx_gw_server *s)
{
	struct job *j;

	if (s->sse)
		vx_gw_sse_stop();
	if (s->acc)
		nng_aio_free(s->acc);
	if (s->lst)
		nng_stream_listener_free(s->lst);
	while ((j = s->free_jobs) != NULL) {
		s->free_jobs = j->next;
		free(j->head);
		free(j->fields);
		free(j->body);
		free(j);
	}
	if (s->rpc.client)
		vx_client_close(s->rpc.client);
	/*
	 * No nng_fini(): by now every aio of ours has finished and none is
	 * started again (connections are torn down, the accept and SUB aios
	 * freed), so no callback can reach s. Connections' aios may still sit
	 * on nng's reaper list, which touches nothing of ours. (nng 1.5.2's
	 * nng_fini() now and then waited forever on its expiry threads.)
	 */
	vx_gw_router_free(s->router);
	free(s->workers);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void
stop_workers(vx_gw_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++) {
		pthread_join(s->workers[i].th, NULL);
		vx_arena_fini(&s->workers[i].arena);
	}
	s->nworkers = 0;
}

/* Closes every connection; with gentle, a response being written is
 * finished first. */
static void
close_conns(vx_gw_server *s, bool gentle)
{
	conn **all;
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	if ((all = calloc(s->nconns + 1, sizeof(*all))) == NULL) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	/* A reference keeps each one allocated once s->mu is let go. */
	for (conn *c = s->conns; c; c = c->next) {
		atomic_fetch_add(&c->refs, 1);
		all[n++] = c;
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		conn *c = all[i];
		pthread_mutex_lock(&c->mu);
		if (gentle && (c->state == C_WRITE || c->state == C_WORK))
			c->out_close = true;
		else if (!c->in_work)
			close_locked(c);
		pthread_mutex_unlock(&c->mu);
		conn_unref(c);
	}
	free(all);
}

int
vx_gw_server_start(vx_gw_server **out, const vx_gw_opts *o)
{
	vx_gw_server *s;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VX_ENOMEM;
	s->o = *o;
	s->max_jobs = o->queue + (size_t)o->workers;
	s->rpc.timeout_ms = o->rpc_timeout_ms;
	s->rpc.edge = o->edge;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	if ((rc = vx_gw_router_alloc(&s->router, vx_gw_dialects,
	         vx_gw_n_dialects, vx_gw_dialects[0])) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: route table: %s", vx_strerror(rc));
		goto fail;
	}
	/* No credential of its own: every call carries its caller's. */
	if ((rc = vx_client_open(&s->rpc.client, o->rpc_url, NULL)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: bad --rpc URL %s: %s", o->rpc_url,
		    vx_strerror(rc));
		goto fail;
	}
	vx_gw_sse_opts so = {
		.sub_url = o->sub_url,
		.rpc = &s->rpc,
		.heartbeat_ms = o->sse_heartbeat_ms,
		.max_streams = o->max_streams,
	};
	if ((rc = vx_gw_sse_start(&so)) != 0)
		goto fail;
	s->sse = true;
	rc = VX_ENOMEM;
	if ((s->workers = calloc((size_t)o->workers, sizeof(*s->workers))) == NULL)
		goto fail;
	for (int i = 0; i < o->workers; i++) {
		struct worker *w = &s->workers[i];
		w->srv = s;
		vx_arena_init(&w->arena, ARENA_BUDGET);
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			vx_arena_fini(&w->arena);
			goto fail;
		}
		s->nworkers++;
	}
	if ((rc = listen_http(s)) != 0)
		goto fail;
	vx_log(VX_LOG_INFO, "gateway: listening on %s, vexild at %s, %d workers",
	    o->listen_url, o->rpc_url, o->workers);
	*out = s;
	return 0;
fail:
	stop_workers(s);
	if (s->lst)
		nng_stream_listener_close(s->lst);
	pthread_mutex_lock(&s->mu);
	while (s->accepting)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	free_all(s);
	return rc;
}

void
vx_gw_server_stop(vx_gw_server *s)
{
	struct timespec until;

	pthread_mutex_lock(&s->mu);
	s->draining = true;
	while (s->inflight > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	/* From here on no job is taken and nothing is accepted. */
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	nng_stream_listener_close(s->lst);
	close_conns(s, true);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DRAIN_WRITE_MS / 1000;
	pthread_mutex_lock(&s->mu);
	while (s->nconns > 0 &&
	    pthread_cond_timedwait(&s->idle, &s->mu, &until) == 0)
		;
	pthread_mutex_unlock(&s->mu);
	close_conns(s, false);
	pthread_mutex_lock(&s->mu);
	while (s->nconns > 0 || s->accepting)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	stop_workers(s);
	free_all(s);
}
