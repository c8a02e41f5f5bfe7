/*
 * Vexil gateway — nng's HTTP server, a bounded job pool and the workers:
 * see server.h.
 *
 * The life of a request:
 *
 *   nng thread   on_request(): admit (take a job or answer 503), check
 *                Content-Length (413 over --max-body), start reading the
 *                body on our own aio (after a 100 Continue when the client
 *                asked for one), or queue the job at once
 *   nng thread   on_body(): queue the job (or note why the read failed)
 *   worker       process(): route, call vexild, build the response, hand
 *                it to nng, write the access-log line, free the job
 *
 * Admission is the only place a request can be refused for load: there
 * are --queue + --workers jobs, so a request that got one always finds
 * room in the queue, and memory is bounded by jobs x --max-body. Nothing
 * on nng's threads blocks; only workers wait, on vexild.
 *
 * nng collects bodies itself only up to a cap past which it answers 400,
 * and the documents promise 413, so the handler is registered without body
 * collection and reads the body itself with nng_http_conn_read_all().
 */
#include "gateway/server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "gateway/dialects.h"
#include "gateway/http.h"
#include "gateway/router.h"
#include "gateway/rpc.h"

/* A client that stops sending half way through its body loses its job. */
#define BODY_TIMEOUT_MS 30000
/* Unpacked core replies per request; the core's replies are <= 1 MiB. */
#define ARENA_BUDGET ((size_t)32 << 20)
/* Body buffers up to this size stay with their job for the next request. */
#define KEEP_BODY (64 * 1024)
/* nng reports no completion for a response write, so a stop waits this
 * long after the last answer was handed over before closing connections. */
#define DRAIN_GRACE_MS 200
#define TLS_FILE_MAX (1024 * 1024)

struct job {
	struct job *next;
	vx_gw_server *srv;
	nng_aio *http_aio;   /* nng's: finished once we answer */
	nng_http_req *req;   /* nng's: valid until http_aio is finished */
	nng_aio *rd_aio;     /* ours: sends 100 Continue, then reads the body */
	nng_http_conn *conn; /* nng's: valid until http_aio is finished */
	bool continuing;     /* rd_aio is sending 100 Continue */
	uint8_t *body;
	size_t body_len, body_cap;
	int read_rv;         /* why the body read failed, or 0 */
	uint64_t t0;
	char rid[VX_GW_REQUEST_ID_MAX + 1];
};

struct worker {
	vx_gw_server *srv;
	pthread_t th;
	vx_arena arena;
};

struct vx_gw_server {
	vx_gw_opts o;
	nng_http_server *http;
	vx_gw_router *router;
	vx_gw_rpc rpc;

	pthread_mutex_t mu;
	pthread_cond_t work;  /* a job was queued, or stopping was set */
	pthread_cond_t idle;  /* inflight dropped to 0 while draining */
	struct job *head, *tail;
	struct job *free_jobs;
	size_t njobs, max_jobs;
	size_t inflight;      /* jobs taken and not yet answered */
	bool draining;        /* answer new requests 503 */
	bool stopping;        /* workers exit; nng callbacks touch nothing */

	struct worker *workers;
	int nworkers;         /* started */
};


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
	clean(m, sizeof(m), method, "");
	clean(p, sizeof(p), path, "?");
	vx_log(VX_LOG_INFO, "http method=%s path=%s status=%d us=%llu req=%s", m, p, status,
	    (unsigned long long)((vx_mono_ns() - t0) / 1000), rid);
}

/* Hands r's response to nng (which frees it once written) and logs it. */
static void
respond(vx_gw_server *s, nng_aio *aio, vx_gw_req *r, uint64_t t0)
{
	nng_http_res *res = NULL;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0 ||
	    (rv = nng_http_res_set_status(res, (uint16_t)r->status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "X-Request-Id", r->request_id)) != 0)
		goto fail;
	if (r->content_type &&
	    (rv = nng_http_res_set_header(res, "Content-Type", r->content_type)) != 0)
		goto fail;
	if (r->allow[0] && (rv = nng_http_res_set_header(res, "Allow", r->allow)) != 0)
		goto fail;
	if (r->close && (rv = nng_http_res_set_header(res, "Connection", "close")) != 0)
		goto fail;
	for (size_t i = 0; i < r->n_headers; i++)
		if ((rv = nng_http_res_set_header(res, r->headers[i].name,
		         r->headers[i].value)) != 0)
			goto fail;
	if (r->res_len > 0) {
		rv = nng_http_res_copy_data(res, r->res_body, r->res_len);
	} else if (r->status != 204 && r->status != 304) {
		/* Without a length a keep-alive client would wait for more. */
		rv = nng_http_res_set_data(res, NULL, 0);
	}
	if (rv != 0)
		goto fail;
	access_log(s, r->method, r->path, r->status, t0, r->request_id);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
	return;
fail:
	if (res)
		nng_http_res_free(res);
	access_log(s, r->method, r->path, 500, t0, r->request_id);
	/* An error result makes nng drop the connection: the best we can do
	 * without memory for a response. */
	nng_aio_finish(aio, rv);
}

/* Answers on nng's thread, before any worker: overload, shutdown, a body
 * we will not read. The connection closes, since its body may be unread. */
static void
answer_now(vx_gw_server *s, nng_aio *aio, nng_http_req *req, const char *rid,
    uint64_t t0, int status, const char *msg)
{
	char *target = strdup(nng_http_req_get_uri(req));
	const char *path, *query;
	vx_gw_req r;

	if (target == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	vx_gw_split_target(target, &path, &query);
	vx_gw_req_init(&r, nng_http_req_get_method(req), path, query, req, rid);
	r.dialect = vx_gw_router_owner(s->router, path);
	r.close = true;
	vx_gw_fail(&r, status, NULL, "%s", msg);
	respond(s, aio, &r, t0);
	vx_gw_req_fini(&r);
	free(target);
}

static void on_body(void *arg);

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
		if (nng_aio_alloc(&j->rd_aio, on_body, j) != 0) {
			free(j);
			return NULL;
		}
		j->srv = s;
		s->njobs++;
	}
	j->next = NULL;
	j->body_len = 0;
	j->read_rv = 0;
	s->inflight++;
	return j;
}

/* Returns an answered job to the pool. */
static void
job_done(vx_gw_server *s, struct job *j)
{
	if (j->body_cap > KEEP_BODY) {
		free(j->body);
		j->body = NULL;
		j->body_cap = 0;
	}
	j->http_aio = NULL;
	j->req = NULL;
	j->conn = NULL;
	j->continuing = false;
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

static int
read_body(struct job *j)
{
	nng_iov iov = {.iov_buf = j->body, .iov_len = j->body_len};
	int rv;

	if ((rv = nng_aio_set_iov(j->rd_aio, 1, &iov)) != 0)
		return rv;
	nng_aio_set_timeout(j->rd_aio, BODY_TIMEOUT_MS);
	nng_http_conn_read_all(j->conn, j->rd_aio);
	return 0;
}

static void
on_body(void *arg)
{
	struct job *j = arg;
	int rv = nng_aio_result(j->rd_aio);

	if (j->continuing) {
		j->continuing = false;
		if (rv == 0 && (rv = read_body(j)) == 0)
			return;
	} else if (rv == 0 && nng_aio_count(j->rd_aio) != j->body_len) {
		rv = NNG_EPROTO;
	}
	j->read_rv = rv;
	if (rv == 0)
		j->body[j->body_len] = '\0';
	/* Even a failed read goes to a worker, so that a job is never
	 * released (and its aio reused) inside its own aio's callback. */
	enqueue(j->srv, j);
}

static void
on_request(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	nng_http_conn *conn = nng_aio_get_input(aio, 2);
	vx_gw_server *s = nng_http_handler_get_data(h);
	uint64_t t0 = vx_mono_ns(), len = 0;
	const char *cl, *te, *expect, *refusal = NULL;
	char rid[VX_GW_REQUEST_ID_MAX + 1], msg[96];
	struct job *j = NULL;
	int status = 503;

	vx_gw_request_id(nng_http_req_get_header(req, "X-Request-Id"), rid);
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		nng_aio_finish(aio, NNG_ECLOSED);
		return;
	}
	if (s->draining)
		refusal = "The gateway is shutting down";
	else if ((j = job_take(s)) == NULL)
		refusal = "The gateway is overloaded, retry later";
	pthread_mutex_unlock(&s->mu);
	if (refusal) {
		answer_now(s, aio, req, rid, t0, status, refusal);
		return;
	}
	j->http_aio = aio;
	j->req = req;
	j->conn = conn;
	j->t0 = t0;
	memcpy(j->rid, rid, sizeof(rid));

	te = nng_http_req_get_header(req, "Transfer-Encoding");
	cl = nng_http_req_get_header(req, "Content-Length");
	if (te && strcasecmp(te, "identity") != 0) {
		/* nng does not decode chunked request bodies. */
		status = 411;
		refusal = "Request bodies must be sent with Content-Length";
	} else if (cl && vx_parse_u64(cl, &len) != 0) {
		status = 400;
		refusal = "Invalid Content-Length";
	} else if (len > s->o.max_body) {
		status = 413;
		snprintf(msg, sizeof(msg), "Request body is larger than %zu bytes",
		    s->o.max_body);
		refusal = msg;
	} else if (len + 1 > j->body_cap) {
		uint8_t *b = realloc(j->body, (size_t)len + 1);
		if (b == NULL) {
			status = 503;
			refusal = "The gateway is out of memory, retry later";
		} else {
			j->body = b;
			j->body_cap = (size_t)len + 1;
		}
	}
	if (refusal) {
		answer_now(s, aio, req, rid, t0, status, refusal);
		job_done(s, j);
		return;
	}
	if (len == 0) {
		enqueue(s, j);
		return;
	}
	j->body_len = (size_t)len;
	expect = nng_http_req_get_header(req, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0) {
		/* The client holds the body back until told to send it; nng
		 * does not say so itself. */
		static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		nng_iov iov = {.iov_buf = cont, .iov_len = sizeof(cont) - 1};
		if (nng_aio_set_iov(j->rd_aio, 1, &iov) == 0) {
			j->continuing = true;
			nng_aio_set_timeout(j->rd_aio, BODY_TIMEOUT_MS);
			nng_http_conn_write_all(conn, j->rd_aio);
			return;
		}
	} else if (read_body(j) == 0) {
		return;
	}
	answer_now(s, aio, req, rid, t0, 500, "Could not read the request body");
	job_done(s, j);
}

static void
process(struct worker *w, struct job *j)
{
	vx_gw_server *s = w->srv;
	const char *path, *query;
	char *target;
	vx_gw_req r;

	if (j->read_rv != 0) {
		/* The client went away or stalled mid-body: no one to answer. */
		char uri[257];
		clean(uri, sizeof(uri), nng_http_req_get_uri(j->req), "?");
		if (!s->o.quiet)
			vx_log(VX_LOG_INFO, "http method=%s path=%s status=- us=%llu req=%s "
			    "error=\"body: %s\"", nng_http_req_get_method(j->req), uri,
			    (unsigned long long)((vx_mono_ns() - j->t0) / 1000), j->rid,
			    nng_strerror(j->read_rv));
		nng_aio_finish(j->http_aio, j->read_rv);
		return;
	}
	if ((target = vx_arena_strdup(&w->arena, nng_http_req_get_uri(j->req))) == NULL) {
		nng_aio_finish(j->http_aio, NNG_ENOMEM);
		return;
	}
	vx_gw_split_target(target, &path, &query);
	vx_gw_req_init(&r, nng_http_req_get_method(j->req), path, query, j->req, j->rid);
	r.arena = &w->arena;
	r.rpc = &s->rpc;
	r.body = j->body;
	r.body_len = j->body_len;
	vx_gw_router_dispatch(s->router, &r);
	respond(s, j->http_aio, &r, j->t0);
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
	    (rv = nng_http_server_set_tls(s->http, cfg)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: TLS with %s and %s: %s", s->o.tls_cert,
		    s->o.tls_key, nng_strerror(rv));
		goto out;
	}
	rc = 0;
out:
	/* The server holds its own reference to the configuration. */
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
	nng_http_handler *h = NULL;
	nng_url *url = NULL;
	bool https;
	int rv, rc = VX_EINVAL;

	if ((rv = nng_url_parse(&url, s->o.listen_url)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: bad --listen URL %s: %s", s->o.listen_url,
		    nng_strerror(rv));
		goto out;
	}
	https = strcmp(url->u_scheme, "https") == 0;
	if (!https && strcmp(url->u_scheme, "http") != 0) {
		vx_log(VX_LOG_ERROR, "gateway: --listen must be http:// or https://");
		goto out;
	}
	if (https != (s->o.tls_cert != NULL) || https != (s->o.tls_key != NULL)) {
		vx_log(VX_LOG_ERROR, "gateway: https:// needs --tls-cert and --tls-key, "
		    "and they need https://");
		goto out;
	}
	if ((rv = nng_http_server_hold(&s->http, url)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: %s: %s", s->o.listen_url, nng_strerror(rv));
		goto out;
	}
	if (https && (rc = tls_setup(s)) != 0)
		goto out;
	rc = VX_ENOMEM;
	/* One tree handler for every method: the router decides 404 and 405,
	 * so they come in the dialect's error format. */
	if ((rv = nng_http_handler_alloc(&h, "/", on_request)) != 0 ||
	    (rv = nng_http_handler_set_method(h, NULL)) != 0 ||
	    (rv = nng_http_handler_set_tree(h)) != 0 ||
	    (rv = nng_http_handler_collect_body(h, false, 0)) != 0 ||
	    (rv = nng_http_handler_set_data(h, s, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(s->http, h)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: handler: %s", nng_strerror(rv));
		if (h)
			nng_http_handler_free(h);
		goto out;
	}
	if ((rv = nng_http_server_start(s->http)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: cannot listen on %s: %s", s->o.listen_url,
		    nng_strerror(rv));
		rc = VX_EIO;
		goto out;
	}
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

	while ((j = s->free_jobs) != NULL) {
		s->free_jobs = j->next;
		nng_aio_free(j->rd_aio);
		free(j->body);
		free(j);
	}
	if (s->rpc.client)
		vx_client_close(s->rpc.client);
	/* nng tears the HTTP server down on its reaper thread; nng_fini()
	 * waits for that, so no nng callback can run once we free s. */
	nng_fini();
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
	if (s->http) {
		nng_http_server_stop(s->http);
		nng_http_server_release(s->http);
	}
	free_all(s);
	return rc;
}

void
vx_gw_server_stop(vx_gw_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->draining = true;
	while (s->inflight > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	nng_msleep(DRAIN_GRACE_MS);
	/* From here on nng's callbacks answer nothing and take no job. */
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	nng_http_server_stop(s->http);
	nng_http_server_release(s->http);
	stop_workers(s);
	free_all(s);
}
