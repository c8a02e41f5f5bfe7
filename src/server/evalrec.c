/*
 * Vexil — evaluation records: see evalrec.h.
 */
#include "server/evalrec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rec {
	int kind;
	uint64_t project_id;
	int64_t time;
	char env[65];
	char flag[129];
	char variant[65];
	char reason[20];
	char user[129];
	uint64_t n; /* evaluations this record stands for */
	bool tally; /* an aggregate (push_count): counted, not logged */
};

struct cell {
	atomic_size_t seq;
	struct rec r;
};

/* One aggregated count, while a batch is being written. */
struct agg {
	const struct rec *r; /* env, flag, variant and project of the first record */
	int32_t day;
	uint64_t n;
};

struct vx_evalrec {
	vx_store *store;
	struct cell *cells;
	size_t mask;
	size_t keep;
	atomic_size_t head; /* next slot to fill */
	size_t tail;        /* next slot to drain; the flusher's alone */
	atomic_uint_fast64_t dropped;
	atomic_uint_fast64_t pushed, written;
	atomic_bool stopping;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rec *batch;  /* drained records, flusher only */
	struct agg *aggs;
	size_t naggs;
};

static void
copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
push(vx_evalrec *r, int kind, uint64_t project_id, const char *env, const char *flag,
    const char *variant, const char *reason, const char *user_id, uint64_t n)
{
	size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	struct cell *c;
	struct timespec ts;

	for (;;) {
		c = &r->cells[pos & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
				memory_order_relaxed, memory_order_relaxed))
				break;
		} else if (dif < 0) {
			atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
			return;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	c->r.kind = kind;
	c->r.project_id = project_id;
	c->r.time = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	copy(c->r.env, sizeof(c->r.env), env);
	copy(c->r.flag, sizeof(c->r.flag), flag);
	copy(c->r.variant, sizeof(c->r.variant), variant);
	copy(c->r.reason, sizeof(c->r.reason), reason);
	copy(c->r.user, sizeof(c->r.user), user_id);
	c->r.n = n;
	c->r.tally = n != 0;
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	atomic_fetch_add_explicit(&r->pushed, 1, memory_order_relaxed);
}

void
vx_evalrec_push(vx_evalrec *r, int kind, uint64_t project_id, const char *env,
    const char *flag, const char *variant, const char *reason, const char *user_id)
{
	push(r, kind, project_id, env, flag, variant, reason, user_id, 0);
}

void
vx_evalrec_push_count(vx_evalrec *r, uint64_t project_id, const char *env,
    const char *flag, const char *variant, uint64_t n)
{
	if (n != 0)
		push(r, VX_COUNT_EVALUATION, project_id, env, flag, variant, "", "", n);
}

uint64_t
vx_evalrec_dropped(vx_evalrec *r)
{
	return atomic_load(&r->dropped);
}

/*
 * Moves ready records into the batch; returns how many. At most one
 * queue's worth: producers refill the slots as they are freed, and the
 * batch holds no more than that.
 */
static size_t
drain(vx_evalrec *r)
{
	size_t n = 0;
	while (n <= r->mask) {
		struct cell *c = &r->cells[r->tail & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		if ((intptr_t)seq - (intptr_t)(r->tail + 1) < 0)
			break;
		r->batch[n++] = c->r;
		atomic_store_explicit(&c->seq, r->tail + r->mask + 1, memory_order_release);
		r->tail++;
	}
	return n;
}

static void
aggregate(vx_evalrec *r, size_t n)
{
	r->naggs = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rec *x = &r->batch[i];
		int32_t day = (int32_t)(x->time / 86400000);
		size_t j;
		/* Batches hold few distinct keys; a linear scan is enough. */
		for (j = 0; j < r->naggs; j++) {
			const struct rec *y = r->aggs[j].r;
			if (r->aggs[j].day == day && y->project_id == x->project_id &&
			    y->kind == x->kind &&
			    strcmp(y->flag, x->flag) == 0 && strcmp(y->env, x->env) == 0 &&
			    strcmp(y->variant, x->variant) == 0)
				break;
		}
		if (j == r->naggs)
			r->aggs[r->naggs++] = (struct agg){x, day, 0};
		r->aggs[j].n += x->tally ? x->n : 1;
	}
}

struct batch_arg {
	vx_evalrec *r;
	size_t n;
};

static int
write_batch(vx_wtxn *w, void *arg)
{
	struct batch_arg *b = arg;
	vx_evalrec *r = b->r;
	Vexil__V1__EvalRecord e;
	size_t start;
	int rc;

	for (size_t i = 0; i < r->naggs; i++) {
		const struct rec *x = r->aggs[i].r;
		if ((rc = vx_store_evalcount_add(w, x->project_id, r->aggs[i].day, x->kind, x->env,
			 x->flag, x->variant, r->aggs[i].n)) != 0)
			return rc;
	}
	/* Only the newest `keep` of a batch can survive the trim anyway. */
	start = b->n > r->keep * 4 ? b->n - r->keep * 4 : 0;
	for (size_t i = start; i < b->n; i++) {
		const struct rec *x = &r->batch[i];
		if (x->kind != VX_COUNT_EVALUATION || x->tally)
			continue;
		vexil__v1__eval_record__init(&e);
		e.time = x->time;
		e.project_id = x->project_id;
		e.environment = (char *)x->env;
		e.flag_key = (char *)x->flag;
		e.variant = (char *)x->variant;
		e.reason = (char *)x->reason;
		e.user_id = (char *)x->user;
		if ((rc = vx_store_evallog_append(w, &e)) != 0)
			return rc;
	}
	for (size_t i = 0; i < r->naggs; i++) {
		uint64_t pid = r->aggs[i].r->project_id;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = r->aggs[j].r->project_id == pid;
		if (!seen && (rc = vx_store_evallog_trim(w, pid, r->keep)) != 0)
			return rc;
	}
	return 0;
}

static void
flush_once(vx_evalrec *r)
{
	struct batch_arg b = {r, drain(r)};
	int rc;

	if (b.n == 0)
		return;
	aggregate(r, b.n);
	rc = vx_store_write(r->store, NULL, write_batch, &b);
	if (rc != 0)
		vx_log(VX_LOG_ERROR, "evalrec: %zu records not written: %s", b.n, vx_strerror(rc));
	pthread_mutex_lock(&r->lock);
	atomic_fetch_add(&r->written, b.n);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void *
flusher(void *arg)
{
	vx_evalrec *r = arg;
	struct timespec ts;

	while (!atomic_load(&r->stopping)) {
		pthread_mutex_lock(&r->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		pthread_mutex_unlock(&r->lock);
		flush_once(r);
	}
	flush_once(r);
	return NULL;
}

void
vx_evalrec_flush(vx_evalrec *r)
{
	uint64_t target = atomic_load(&r->pushed);

	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond); /* wake the flusher now */
	while (atomic_load(&r->written) < target && !atomic_load(&r->stopping)) {
		pthread_cond_broadcast(&r->cond);
		pthread_cond_wait(&r->cond, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
}

int
vx_evalrec_start(vx_evalrec **out, vx_store *s, size_t capacity, size_t keep)
{
	vx_evalrec *r;
	size_t cap = 1024;

	while (cap < capacity)
		cap <<= 1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return VX_ENOMEM;
	r->store = s;
	r->mask = cap - 1;
	r->keep = keep ? keep : 1000;
	r->cells = calloc(cap, sizeof(*r->cells));
	r->batch = calloc(cap, sizeof(*r->batch));
	r->aggs = calloc(cap, sizeof(*r->aggs));
	if (!r->cells || !r->batch || !r->aggs)
		goto fail;
	for (size_t i = 0; i < cap; i++)
		atomic_init(&r->cells[i].seq, i);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, flusher, r) != 0) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	free(r->cells);
	free(r->batch);
	free(r->aggs);
	free(r);
	return VX_ENOMEM;
}

void
vx_evalrec_stop(vx_evalrec *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->stopping, true);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->cells);
	free(r->batch);
	free(r->aggs);
	free(r);
}
