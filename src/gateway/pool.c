/*
 * Vexil gateway — request slots and worker threads: see pool.h.
 *
 * One mutex guards the free list, the queue and the counters; workers
 * sleep on `work` and a drain on `idle`. A worker owns an arena that the
 * request's small allocations (split paths, decoded parameters, unpacked
 * core replies) come from, reset after each request.
 */
#include "gateway/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "gateway/metrics.h"

/* Unpacked core replies per request; the core's replies are <= 1 MiB. */
#define ARENA_BUDGET ((size_t)32 << 20)
/* Body buffers up to this size stay with their job for the next request. */
#define KEEP_BODY (64 * 1024)

struct worker {
	vx_gw_pool *pool;
	pthread_t th;
	vx_arena arena;
};

struct vx_gw_pool {
	vx_gw_pool_opts o;
	pthread_mutex_t mu;
	pthread_cond_t work;    /* a job was queued, or stopping was set */
	pthread_cond_t idle;    /* inflight dropped to 0 */
	vx_gw_job *head, *tail; /* submitted */
	vx_gw_job *free_jobs;
	size_t njobs, max_jobs;
	size_t inflight; /* jobs taken and not yet given back */
	atomic_bool draining; /* read without mu by every answer */
	bool stopping;
	struct worker *workers;
	int nworkers;
};

static vx_gw_job *
job_alloc(const vx_gw_pool *p)
{
	vx_gw_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->head = malloc(p->o.max_header_bytes + 1);
	j->h.fields = calloc(p->o.max_headers, sizeof(*j->h.fields));
	if (j->head == NULL || j->h.fields == NULL) {
		free(j->head);
		free(j->h.fields);
		free(j);
		return NULL;
	}
	vx_arena_init(&j->arena, ARENA_BUDGET);
	return j;
}

static void
job_free(vx_gw_job *j)
{
	free(j->head);
	free(j->h.fields);
	free(j->body);
	vx_arena_fini(&j->arena);
	free(j);
}

int
vx_gw_pool_take(vx_gw_pool *p, vx_gw_job **out)
{
	vx_gw_job *j = NULL;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		rc = VX_ECLOSED;
	} else if (p->draining) {
		rc = VX_ESTATE;
	} else if ((j = p->free_jobs) != NULL) {
		p->free_jobs = j->next;
	} else if (p->njobs >= p->max_jobs) {
		rc = VX_EFULL;
	} else if ((j = job_alloc(p)) == NULL) {
		rc = VX_ENOMEM;
	} else {
		p->njobs++;
	}
	if (j)
		p->inflight++;
	pthread_mutex_unlock(&p->mu);
	if (j == NULL)
		return rc;
	j->next = NULL;
	j->conn = NULL;
	j->body_len = j->body_got = 0;
	j->h.n_fields = 0;
	j->path = j->query = NULL;
	j->hdrs.fields = j->h.fields;
	j->hdrs.n = 0;
	*out = j;
	return 0;
}

void
vx_gw_pool_release(vx_gw_pool *p, vx_gw_job *j)
{
	if (j->body_cap > KEEP_BODY) {
		free(j->body);
		j->body = NULL;
		j->body_cap = 0;
	}
	j->conn = NULL;
	pthread_mutex_lock(&p->mu);
	j->next = p->free_jobs;
	p->free_jobs = j;
	if (--p->inflight == 0 && p->draining)
		pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->mu);
}

void
vx_gw_pool_submit(vx_gw_pool *p, vx_gw_job *j)
{
	pthread_mutex_lock(&p->mu);
	j->next = NULL;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

bool
vx_gw_pool_draining(vx_gw_pool *p)
{
	return atomic_load(&p->draining);
}

/* Routes j's request and answers it; false when r blocked (no_block: it
 * needed a core call, and nothing was answered or counted). */
static bool
process(
    vx_gw_pool *p, vx_arena *arena, vx_gw_job *j, bool no_block, vx_gw_answer_fn answer)
{
	const vx_gw_pool_opts *o = &p->o;
	const char *path, *query;
	vx_gw_req r;

	/* A job tried on its connection's thread first has its target split
	 * already (the split is in place and cannot run twice). */
	if (j->path == NULL)
		vx_gw_split_target((char *)j->h.target, &j->path, &j->query);
	path = j->path;
	query = j->query;
	vx_gw_req_init(&r, j->h.method, path, query, &j->hdrs, j->rid);
	r.arena = arena;
	r.rpc = o->rpc;
	r.tls = o->tls;
	r.body = j->body;
	r.body_len = j->body_len;
	r.conn = j->conn;
	r.no_block = no_block;
	vx_gw_router_dispatch(o->router, &r);
	if (r.blocked) {
		vx_gw_req_fini(&r);
		return false;
	}
	vx_gw_metrics_http(
	    r.dialect, r.route, r.status ? r.status : 500, vx_mono_ns() - j->t0);
	if (!o->quiet)
		vx_gw_access_log(
		    r.method, r.path, r.status ? r.status : 500, j->t0, r.request_id);
	answer(j, &r);
	vx_gw_req_fini(&r);
	return true;
}

/* For GET /metrics: how many requests needed no worker. */
static vx_gw_metric answered_here = {"vexil_http_requests_on_conn_thread_total",
    "counter", "Requests answered on the thread that read them, with no worker", 0,
    false};

bool
vx_gw_pool_try(vx_gw_pool *p, vx_gw_job *j, vx_gw_answer_fn answer)
{
	bool done = process(p, &j->arena, j, true, answer);

	vx_arena_reset(&j->arena);
	if (done)
		vx_gw_metric_add(&answered_here, 1);
	return done;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	vx_gw_pool *p = w->pool;
	vx_gw_job *j;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->work, &p->mu);
		if ((j = p->head) == NULL) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		if ((p->head = j->next) == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		(void)process(p, &w->arena, j, false, p->o.answer);
		vx_arena_reset(&w->arena);
		vx_gw_pool_release(p, j);
	}
	return NULL;
}

void
vx_gw_pool_drain(vx_gw_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->draining = true;
	while (p->inflight > 0)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void
vx_gw_pool_close(vx_gw_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void
vx_gw_pool_stop(vx_gw_pool *p)
{
	vx_gw_job *j;

	if (p == NULL)
		return;
	vx_gw_pool_close(p);
	for (int i = 0; i < p->nworkers; i++) {
		pthread_join(p->workers[i].th, NULL);
		vx_arena_fini(&p->workers[i].arena);
	}
	while ((j = p->free_jobs) != NULL) {
		p->free_jobs = j->next;
		job_free(j);
	}
	free(p->workers);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int
vx_gw_pool_start(vx_gw_pool **out, const vx_gw_pool_opts *o)
{
	vx_gw_pool *p;

	*out = NULL;
	if (vx_gw_metric_register(&answered_here) != 0)
		return VX_EFULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return VX_ENOMEM;
	p->o = *o;
	p->max_jobs = o->queue + (size_t)o->workers;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	if ((p->workers = calloc((size_t)o->workers, sizeof(*p->workers))) == NULL)
		goto fail;
	for (int i = 0; i < o->workers; i++) {
		struct worker *w = &p->workers[i];
		w->pool = p;
		vx_arena_init(&w->arena, ARENA_BUDGET);
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			vx_arena_fini(&w->arena);
			goto fail;
		}
		p->nworkers++;
	}
	*out = p;
	return 0;
fail:
	vx_gw_pool_stop(p);
	return VX_ENOMEM;
}
