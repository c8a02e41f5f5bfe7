/*
 * Vexil gateway — HTTP/1.1 connections on nng streams: see conn.h.
 *
 * Lifetime. A connection is freed once it is closed, no aio of its is
 * busy, no worker holds its job, and no stream handle refers to it
 * (refs). Closing calls nng_stream_close(), which aborts the busy aios;
 * whichever finishes last tears the connection down. Locks: a
 * connection's mu may be held while taking the set's mu or the pool's,
 * never the other way round.
 */
#include "gateway/conn.h"

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/http1.h"
#include "gateway/metrics.h"

/* Connections past --max-conns that are still answered 503 (the rest are
 * closed at once). */
#define OVER_CONNS 64
/* Room for the empty lines tolerated before a request line. */
#define EMPTY_ROOM (2 * VX_HTTP1_MAX_EMPTY_LINES)
#define MS 1000000ULL

enum cstate { C_HEAD, C_CONTINUE, C_BODY, C_WORK, C_WRITE, C_STREAM };

/* A growable byte buffer; off is how much of it was written out. */
struct bytes {
	char *p;
	size_t len, cap, off;
};

/* A connection. Stream handles (http.h) point at their connection. */
typedef struct vx_gw_stream conn;
struct vx_gw_stream {
	vx_gw_conns *cs;
	conn *prev, *next; /* cs->all, under cs->mu */
	nng_stream *st;
	nng_aio *rd, *wr;
	pthread_mutex_t mu;
	atomic_int refs; /* 1 until torn down, + stream handles */
	enum cstate state;
	bool closing, rd_busy, wr_busy, in_work, torn;
	bool served;       /* answered a request already */
	bool out_close;    /* close once out is written */
	uint64_t head_t0;  /* mono ns of this head's first byte; 0 */
	uint64_t deadline; /* of the body read */
	char *buf;         /* received, not yet consumed */
	size_t len;
	vx_gw_job *job;
	struct bytes out;  /* being written */
	struct bytes pend; /* a stream's bytes waiting for out */
	size_t backlog;    /* a stream's limit on pend */
	vx_gw_stream_fn on_close;
	void *arg;
	char sink[512]; /* a stream's discarded input */
};

struct vx_gw_conns {
	vx_gw_conn_opts o;
	pthread_mutex_t mu;
	pthread_cond_t idle; /* n dropped to 0 */
	conn *all;
	size_t n;
};

static void on_read(void *arg);
static void on_write(void *arg);
static void try_head(conn *c);
static void answer_locked(vx_gw_job *j, vx_gw_req *r);

/* ---- responses ---- */

static int
reserve(struct bytes *b, size_t n)
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
	return 0;
}

static int
put(struct bytes *b, const void *data, size_t n)
{
	if (reserve(b, n) != 0)
		return VX_ENOMEM;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

/* r's response head (and body, unless head_only) into b, replacing what
 * it held. A failure leaves a bare 500. */
static void
build(struct bytes *b, const vx_gw_req *r, bool head_only, bool close)
{
	static const char bare[] = "HTTP/1.1 500 Internal Server Error\r\n"
	                           "Content-Length: 0\r\nConnection: close\r\n\r\n";
	vx_http1_field f[2 + VX_GW_MAX_HEADERS];
	vx_http1_response res = {.status = r->status ? r->status : 500, .fields = f};
	bool body;
	size_t n;

	f[res.n_fields++] = (vx_http1_field){"X-Request-Id", r->request_id};
	if (r->allow[0])
		f[res.n_fields++] = (vx_http1_field){"Allow", r->allow};
	for (size_t i = 0; i < r->n_headers; i++)
		f[res.n_fields++] =
		    (vx_http1_field){r->headers[i].name, r->headers[i].value};
	/* 1xx, 204 and 304 have no body and no length; a stream has a body
	 * and no length. */
	body = res.status != 204 && res.status != 304 && !r->no_length;
	if (r->content_type && (r->res_len > 0 || r->no_length))
		res.content_type = r->content_type;
	res.has_length = body;
	res.content_length = r->res_len;
	res.close = close;
	body = body && !head_only && r->res_len > 0;
	b->len = b->off = 0;
	if (reserve(b, vx_http1_response_size(&res) + (body ? r->res_len : 0)) != 0 ||
	    vx_http1_write_response(b->p, b->cap, &n, &res) != 0) {
		b->len = 0;
		if (reserve(b, sizeof(bare) - 1) == 0)
			(void)put(b, bare, sizeof(bare) - 1);
		return;
	}
	b->len = n;
	if (body)
		(void)put(b, r->res_body, r->res_len);
}

/* ---- closing and teardown ---- */

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
	vx_gw_conns *cs = c->cs;
	vx_gw_job *j = c->job;

	c->job = NULL;
	if (j)
		vx_gw_pool_release(cs->o.pool, j);
	if (c->on_close)
		c->on_close(c->arg);
	nng_stream_free(c->st);
	c->st = NULL;
	pthread_mutex_lock(&cs->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (--cs->n == 0)
		pthread_cond_broadcast(&cs->idle);
	pthread_mutex_unlock(&cs->mu);
	conn_unref(c);
}

/* ---- writing ---- */

static void
start_write(conn *c)
{
	nng_iov iov = {
	    .iov_buf = c->out.p + c->out.off, .iov_len = c->out.len - c->out.off};

	c->wr_busy = true;
	(void)nng_aio_set_iov(c->wr, 1, &iov);
	nng_aio_set_timeout(c->wr, NNG_DURATION_INFINITE);
	nng_stream_send(c->st, c->wr);
}

/* Writes out, then closes or goes on as out_close says (c->mu held). */
static void
send_out(conn *c, bool close)
{
	c->state = C_WRITE;
	c->out_close = close;
	if (c->out.len > 0)
		start_write(c);
	else
		close_locked(c);
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
	const vx_gw_conn_opts *o = &c->cs->o;
	char fresh[VX_GW_REQUEST_ID_MAX + 1];
	vx_gw_req r;

	if (rid == NULL) {
		vx_gw_request_id(NULL, fresh);
		rid = fresh;
	}
	vx_gw_req_init(&r, method ? method : "-", path ? path : "/", "", NULL, rid);
	r.dialect = vx_gw_router_owner(o->router, path ? path : "");
	vx_gw_fail(&r, status, NULL, "%s", msg);
	build(&c->out, &r, method && strcmp(method, "HEAD") == 0, true);
	vx_gw_metrics_http(
	    r.dialect, NULL, r.status, c->head_t0 ? vx_mono_ns() - c->head_t0 : 0);
	if (!o->quiet)
		vx_gw_access_log(
		    method, path, r.status, c->head_t0 ? c->head_t0 : vx_mono_ns(), rid);
	vx_gw_req_fini(&r);
	send_out(c, true);
}

/* ---- reading ---- */

/* Milliseconds until a deadline, at least 1. */
static nng_duration
until(uint64_t deadline, uint64_t now)
{
	return deadline > now ? (nng_duration)((deadline - now + MS - 1) / MS) : 1;
}

/* Posts the read the state calls for (c->mu held). */
static void
start_read(conn *c)
{
	const vx_gw_conn_opts *o = &c->cs->o;
	nng_duration ms = NNG_DURATION_INFINITE;
	uint64_t now = vx_mono_ns();
	nng_iov iov;

	switch (c->state) {
	case C_HEAD:
		iov.iov_buf = c->buf + c->len;
		iov.iov_len = o->max_header_bytes + EMPTY_ROOM - c->len;
		if (c->head_t0 == 0)
			/* Nothing of the next request yet: the idle deadline (a
			 * new connection must start its request in time). */
			ms = c->served ? o->idle_timeout_ms : o->header_timeout_ms;
		else
			ms = until(c->head_t0 + (uint64_t)o->header_timeout_ms * MS, now);
		break;
	case C_BODY:
		iov.iov_buf = c->job->body + c->job->body_got;
		iov.iov_len = c->job->body_len - c->job->body_got;
		ms = until(c->deadline, now);
		break;
	case C_STREAM:
		iov.iov_buf = c->sink;
		iov.iov_len = sizeof(c->sink);
		break;
	default: return;
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
	vx_gw_job *j = c->job;

	j->body[j->body_len] = '\0';
	c->state = C_WORK;
	c->in_work = true;
	c->job = NULL;
	/* What needs no core call (health, an evaluation from a live
	 * snapshot with a cached key) is answered here, on this callback,
	 * without the hand-off to a worker and back. */
	if (vx_gw_pool_try(c->cs->o.pool, j, answer_locked)) {
		vx_gw_pool_release(c->cs->o.pool, j);
		return;
	}
	vx_gw_pool_submit(c->cs->o.pool, j);
}

static void
start_body(conn *c)
{
	c->state = C_BODY;
	c->deadline = vx_mono_ns() + (uint64_t)c->cs->o.body_timeout_ms * MS;
	start_read(c);
}

/* The path of a parsed target, for choosing an error's dialect. */
static const char *
err_path(vx_gw_job *j)
{
	const char *path, *query;

	vx_gw_split_target((char *)j->h.target, &path, &query);
	return path;
}

/* No job slot for a request whose head is buf[0..n): 503. The head is
 * parsed on a copy, only to find the path and the request id. */
static void
refuse_503(conn *c, int why_rc, size_t n)
{
	vx_http1_field f[16];
	vx_http1_head h = {.fields = f};
	vx_http1_limits lim = {.max_target = c->cs->o.max_url, .max_fields = 16};
	const char *why = NULL, *path = NULL, *m = NULL, *q;
	char head[2048], rid[VX_GW_REQUEST_ID_MAX + 1];

	if (n < sizeof(head)) {
		memcpy(head, c->buf, n);
		if (vx_http1_parse(head, n, &lim, &h, &why) == 0) {
			m = h.method;
			vx_gw_split_target((char *)h.target, &path, &q);
		}
	}
	vx_gw_request_id(vx_http1_field_get(f, h.n_fields, "X-Request-Id"), rid);
	fail_conn(c, 503, m, path, rid,
	    why_rc == VX_ESTATE ? "The gateway is shutting down"
	                        : "The gateway is overloaded, retry later");
}

/* How the job's body is framed, as this gateway takes it: its length, or
 * the status to refuse it with. */
static int
body_length(const vx_gw_conns *cs, vx_gw_job *j, const char **why, char *msg, size_t cap)
{
	if (j->h.framing == VX_HTTP1_CHUNKED) {
		/* Chunked request bodies are not decoded; see docs/gateway.md. */
		*why = "Request bodies must be sent with Content-Length";
		return 411;
	}
	if (j->h.content_length > cs->o.max_body) {
		snprintf(
		    msg, cap, "Request body is larger than %zu bytes", cs->o.max_body);
		*why = msg;
		return 413;
	}
	j->body_len = (size_t)j->h.content_length;
	if (j->body_len + 1 > j->body_cap) {
		uint8_t *b = realloc(j->body, j->body_len + 1);
		if (b == NULL) {
			*why = "The gateway is out of memory, retry later";
			return 503;
		}
		j->body = b;
		j->body_cap = j->body_len + 1;
	}
	return 0;
}

/* Takes what it can of the next request out of the buffer (c->mu held,
 * state C_HEAD, nothing busy): reads more, refuses it, or starts its body. */
static void
try_head(conn *c)
{
	vx_gw_conns *cs = c->cs;
	const vx_gw_conn_opts *o = &cs->o;
	vx_http1_limits lim = {.max_target = o->max_url, .max_fields = o->max_headers};
	const char *why = NULL;
	char msg[96];
	size_t skip, n, take;
	vx_gw_job *j;
	int status, rc;
	bool parsed;

	/* The head's deadline runs from its first byte, empty lines too. */
	if (c->len > 0 && c->head_t0 == 0)
		c->head_t0 = vx_mono_ns();
	status = vx_http1_scan(c->buf, c->len, o->max_header_bytes, &skip, &n);
	if (status == VX_HTTP1_MORE) {
		start_read(c);
		return;
	}
	if (status != 0) {
		fail_conn(c, status, NULL, NULL, NULL,
		    status == 400   ? "Too many empty lines before the request line"
		    : status == 414 ? "Request target is too long"
		                    : "Request header fields are too large");
		return;
	}
	/* The empty lines before the request line go; the head is next. */
	memmove(c->buf, c->buf + skip, c->len - skip);
	c->len -= skip;
	if ((rc = vx_gw_pool_take(o->pool, &j)) != 0) {
		if (rc == VX_ECLOSED)
			close_locked(c);
		else
			refuse_503(c, rc, n);
		return;
	}
	j->conn = c;
	j->t0 = c->head_t0;
	memcpy(j->head, c->buf, n);
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	c->job = j;
	status = vx_http1_parse(j->head, n, &lim, &j->h, &why);
	parsed = status == 0;
	j->hdrs.n = j->h.n_fields;
	vx_gw_request_id(
	    parsed ? vx_http1_field_get(j->h.fields, j->h.n_fields, "X-Request-Id")
	           : NULL,
	    j->rid);
	if (parsed)
		status = body_length(cs, j, &why, msg, sizeof(msg));
	if (status != 0) {
		c->job = NULL;
		fail_conn(c, status, j->h.method, j->h.method ? err_path(j) : NULL,
		    j->rid, why);
		vx_gw_pool_release(o->pool, j);
		return;
	}
	take = c->len < j->body_len ? c->len : j->body_len;
	memcpy(j->body, c->buf, take);
	memmove(c->buf, c->buf + take, c->len - take);
	c->len -= take;
	j->body_got = take;
	if (j->body_got == j->body_len) {
		dispatch(c);
		return;
	}
	if (j->h.expect_continue) {
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
	vx_gw_conns *cs = c->cs;
	int rv = nng_aio_result(c->rd);
	size_t n = nng_aio_count(c->rd);
	bool done;

	pthread_mutex_lock(&c->mu);
	c->rd_busy = false;
	if (c->closing)
		goto out;
	if (rv == NNG_ETIMEDOUT && c->state == C_HEAD && c->head_t0 == 0) {
		/* Idle: closed without a word. */
		close_locked(c);
	} else if (rv == NNG_ETIMEDOUT && (c->state == C_HEAD || c->state == C_BODY)) {
		vx_gw_job *j = c->job;
		c->job = NULL;
		fail_conn(c, 408, j ? j->h.method : NULL, j ? err_path(j) : NULL,
		    j ? j->rid : NULL,
		    c->state == C_HEAD ? "The request head did not arrive in time"
		                       : "The request body did not arrive in time");
		if (j)
			vx_gw_pool_release(cs->o.pool, j);
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

/* Writes the answer to j's request (c->mu held). */
static void
answer_locked(vx_gw_job *j, vx_gw_req *r)
{
	conn *c = j->conn;
	bool head_only = strcmp(j->h.method, "HEAD") == 0;
	bool close = j->h.close || r->close;

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
		close = close || vx_gw_pool_draining(c->cs->o.pool);
		build(&c->out, r, head_only, close);
		send_out(c, close);
	}
}

void
vx_gw_conn_answer(vx_gw_job *j, vx_gw_req *r)
{
	conn *c = j->conn;

	pthread_mutex_lock(&c->mu);
	answer_locked(j, r);
	pthread_mutex_unlock(&c->mu);
}

/* ---- streams (http.h) ---- */

vx_gw_stream *
vx_gw_reply_stream(vx_gw_req *r, const char *content_type, size_t max_backlog,
    vx_gw_stream_fn on_close, void *arg)
{
	conn *c = r->conn;
	struct bytes head = {0};

	if (c == NULL) {
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return NULL;
	}
	vx_gw_reply(r, 200, NULL, NULL, 0);
	r->content_type = content_type;
	r->no_length = true;
	r->close = true;
	if (vx_gw_set_header(r, "Cache-Control", "no-cache") != 0) {
		vx_gw_reply(r, 500, NULL, NULL, 0);
		return NULL;
	}
	/* HEAD: the same head, no stream; the connection closes after it. */
	if (strcmp(r->method, "HEAD") == 0)
		return NULL;
	build(&head, r, true, true);
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
	/* While the handler still runs (in_work), the worker's answer
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

/* ---- the set of connections ---- */

int
vx_gw_conns_alloc(vx_gw_conns **out, const vx_gw_conn_opts *o)
{
	vx_gw_conns *cs = calloc(1, sizeof(*cs));

	*out = NULL;
	if (cs == NULL)
		return VX_ENOMEM;
	cs->o = *o;
	pthread_mutex_init(&cs->mu, NULL);
	pthread_cond_init(&cs->idle, NULL);
	*out = cs;
	return 0;
}

void
vx_gw_conns_accept(vx_gw_conns *cs, nng_stream *st)
{
	bool over, refuse;
	conn *c;

	pthread_mutex_lock(&cs->mu);
	over = cs->n >= cs->o.max_conns;
	refuse = cs->n >= cs->o.max_conns + OVER_CONNS;
	c = refuse ? NULL : calloc(1, sizeof(*c));
	if (c && (c->buf = malloc(cs->o.max_header_bytes + EMPTY_ROOM + 1)) != NULL &&
	    nng_aio_alloc(&c->rd, on_read, c) == 0 &&
	    nng_aio_alloc(&c->wr, on_write, c) == 0) {
		c->cs = cs;
		c->st = st;
		atomic_init(&c->refs, 1);
		pthread_mutex_init(&c->mu, NULL);
		c->next = cs->all;
		if (cs->all)
			cs->all->prev = c;
		cs->all = c;
		cs->n++;
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
	pthread_mutex_unlock(&cs->mu);
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

void
vx_gw_conns_close(vx_gw_conns *cs, bool gentle)
{
	conn **all;
	size_t n = 0;

	pthread_mutex_lock(&cs->mu);
	if ((all = calloc(cs->n + 1, sizeof(*all))) == NULL) {
		pthread_mutex_unlock(&cs->mu);
		return;
	}
	/* A reference keeps each one allocated once cs->mu is let go. */
	for (conn *c = cs->all; c; c = c->next) {
		atomic_fetch_add(&c->refs, 1);
		all[n++] = c;
	}
	pthread_mutex_unlock(&cs->mu);
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
vx_gw_conns_wait(vx_gw_conns *cs, int ms)
{
	struct timespec end;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	if (ms >= 0) {
		end.tv_sec += ms / 1000;
		end.tv_nsec += (long)(ms % 1000) * 1000000;
		if (end.tv_nsec >= 1000000000) {
			end.tv_sec++;
			end.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&cs->mu);
	while (cs->n > 0 && rc == 0) {
		if (ms < 0)
			pthread_cond_wait(&cs->idle, &cs->mu);
		else if (pthread_cond_timedwait(&cs->idle, &cs->mu, &end) != 0)
			rc = VX_ETIMEDOUT;
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

void
vx_gw_conns_free(vx_gw_conns *cs)
{
	if (cs == NULL)
		return;
	pthread_cond_destroy(&cs->idle);
	pthread_mutex_destroy(&cs->mu);
	free(cs);
}
