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

/* A record as the flusher reads it. */
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
	bool log;   /* goes to the recent log (decided before the write) */
	size_t pos; /* its position in the queue */
};

/*
 * A queue slot: 128 bytes. A record takes one or more consecutive slots:
 * its head slot holds the numbers and the first HEAD_TEXT bytes of its
 * strings (env, flag, variant, reason, user, unterminated, lengths in
 * len[]), and the rest follow in the next slots, MORE_TEXT bytes each.
 * Most records (a flag key, an environment, a variant, a user id of a few
 * dozen bytes) fit one slot; the longest take four. The queue was an
 * array of 456-byte records, 7 MiB at the default size and all of it
 * resident from the start.
 */
enum { FIELDS = 5, SLOT_BYTES = 120 };

struct head {
	uint8_t kind, slots, tally, len[FIELDS];
	int64_t time;
	uint64_t project_id;
	uint64_t n;
};

/* The bytes a record's field keeps, with its NUL: the size in struct rec. */
#define CAP(f) sizeof(((struct rec *)0)->f)
#define HEAD_TEXT (SLOT_BYTES - sizeof(struct head))
#define MORE_TEXT SLOT_BYTES
#define TEXT_MAX (CAP(env) + CAP(flag) + CAP(variant) + CAP(reason) + CAP(user) - FIELDS)
#define SLOTS_MAX (1 + (TEXT_MAX - HEAD_TEXT + MORE_TEXT - 1) / MORE_TEXT)

struct cell {
	atomic_size_t seq;
	union {
		struct {
			struct head h;
			char text[HEAD_TEXT];
		} first;
		char more[MORE_TEXT];
	} u;
};
_Static_assert(sizeof(struct cell) == 128, "a queue slot is 128 bytes");
_Static_assert(CAP(flag) - 1 <= UINT8_MAX && CAP(user) - 1 <= UINT8_MAX, "a length fits len[]");

/* One aggregated count, while a batch is being written. */
struct agg {
	const struct rec *r; /* env, flag, variant and project of the first record */
	int32_t day;
	uint64_t n;
};

/*
 * Records written per write transaction, and the smallest queue. The
 * flusher drains the queue a chunk at a time, so its batch (and the
 * aggregation table) stay small however large --eval-buffer is: a full
 * queue of 16,384 records used to be copied whole into a second array of
 * the same 7 MiB.
 */
#define CHUNK 1024
/* A batch updating this many counters (some 2 KiB of the map per 16 of
 * them) is followed by vx_store_unmap(). */
#define UNMAP_COUNTERS 256
#define AGG_SLOTS (2 * CHUNK) /* a power of two, at least twice CHUNK */
/*
 * The recent log keeps the newest `keep` records per project, so a flush
 * first counts each project's loggable records queued (the look-ahead)
 * and logs a record only when fewer than `keep` of its project follow it:
 * the others would be trimmed by the same flush. At tens of thousands of
 * evaluations a second that is most of them, and appending each only to
 * delete it again was most of the flusher's work. AHEAD_SLOTS projects
 * are counted (a power of two); records of any other, or queued after the
 * look-ahead, are logged and trimmed as before.
 */
#define AHEAD_SLOTS 256
/* Projects a chunk trims by name; past them it trims every project. */
#define TRIM_MAX 16

/* One project's loggable records the flush has not passed yet. */
struct ahead {
	uint64_t project_id; /* 0: empty */
	size_t left;
};
_Static_assert(SLOTS_MAX < CHUNK, "the smallest queue holds the longest record");

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
	size_t log_from; /* positions before this are counted, not logged */
	size_t ahead_end;        /* positions from here on were not counted ahead */
	struct ahead *ahead;     /* AHEAD_SLOTS; flusher only */
	uint64_t trim[TRIM_MAX]; /* projects the chunk logged for */
	size_t ntrim;            /* TRIM_MAX + 1: trim every project */
	struct agg *aggs;
	size_t naggs;
	uint32_t *slots; /* AGG_SLOTS indices into aggs, plus one; 0: empty */
};

/* The length of src kept in a record field of cap bytes (with its NUL). */
static uint8_t
kept(const char *src, size_t cap)
{
	size_t n = src ? strlen(src) : 0;
	return (uint8_t)(n >= cap ? cap - 1 : n);
}

/* Where byte off of the text of the record at pos lies, and how many
 * bytes of its slot follow it. */
static char *
text_at(const vx_evalrec *r, size_t pos, size_t off, size_t *room)
{
	struct cell *c;
	if (off < HEAD_TEXT) {
		c = &r->cells[pos & r->mask];
		*room = HEAD_TEXT - off;
		return c->u.first.text + off;
	}
	off -= HEAD_TEXT;
	c = &r->cells[(pos + 1 + off / MORE_TEXT) & r->mask];
	*room = MORE_TEXT - off % MORE_TEXT;
	return c->u.more + off % MORE_TEXT;
}

/* Copies n bytes between a record's text, from offset off, and buf. */
static void
text_copy(const vx_evalrec *r, size_t pos, size_t off, char *buf, size_t n, bool put)
{
	while (n > 0) {
		size_t room;
		char *at = text_at(r, pos, off, &room);
		if (room > n)
			room = n;
		memcpy(put ? at : buf, put ? buf : at, room);
		buf += room;
		off += room;
		n -= room;
	}
}

/* Claims k consecutive slots; false when the queue has no room for them. */
static bool
claim(vx_evalrec *r, size_t k, size_t *out)
{
	size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);

	for (;;) {
		struct cell *c = &r->cells[pos & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			/* The flusher frees slots in order: if the last is free for
			 * this lap, so is every one before it. */
			if (k > 1) {
				struct cell *last = &r->cells[(pos + k - 1) & r->mask];
				size_t ls = atomic_load_explicit(
				    &last->seq, memory_order_acquire);
				if ((intptr_t)ls - (intptr_t)(pos + k - 1) < 0)
					return false;
			}
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + k,
			        memory_order_relaxed, memory_order_relaxed)) {
				*out = pos;
				return true;
			}
		} else if (dif < 0) {
			return false;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
}

static void
push(vx_evalrec *r, int kind, uint64_t project_id, const char *env, const char *flag,
    const char *variant, const char *reason, const char *user_id, uint64_t n)
{
	const char *src[FIELDS] = {env, flag, variant, reason, user_id};
	static const size_t cap[FIELDS] = {
	    CAP(env), CAP(flag), CAP(variant), CAP(reason), CAP(user)};
	struct head h = {
	    .kind = (uint8_t)kind, .tally = n != 0, .project_id = project_id, .n = n};
	size_t total = 0, k, pos, off = 0;
	struct timespec ts;

	for (int i = 0; i < FIELDS; i++)
		total += h.len[i] = kept(src[i], cap[i]);
	k = total <= HEAD_TEXT ? 1 : 1 + (total - HEAD_TEXT + MORE_TEXT - 1) / MORE_TEXT;
	h.slots = (uint8_t)k;
	if (!claim(r, k, &pos)) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	h.time = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	r->cells[pos & r->mask].u.first.h = h;
	for (int i = 0; i < FIELDS; i++) {
		text_copy(r, pos, off, (char *)src[i], h.len[i], true);
		off += h.len[i];
	}
	/* The head slot last: the flusher reads the record once it is set. */
	for (size_t i = k - 1; i > 0; i--)
		atomic_store_explicit(&r->cells[(pos + i) & r->mask].seq, pos + i + 1,
		    memory_order_release);
	atomic_store_explicit(
	    &r->cells[pos & r->mask].seq, pos + 1, memory_order_release);
	atomic_fetch_add_explicit(&r->pushed, 1, memory_order_relaxed);
	/* Each time the queue has taken another half of its size, wake the
	 * flusher rather than let it sleep out its half second: at tens of
	 * thousands of evaluations a second the queue fills sooner. A wake
	 * lost to the race with its wait costs only that wait. */
	size_t half = (r->mask + 1) / 2;
	if ((pos + k) / half != pos / half)
		pthread_cond_broadcast(&r->cond);
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
 * Moves ready records into the batch; returns how many, at most a chunk.
 * Producers refill the slots as they are freed.
 */
static size_t
drain(vx_evalrec *r)
{
	size_t n = 0;
	while (n < CHUNK) {
		struct cell *c = &r->cells[r->tail & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		if ((intptr_t)seq - (intptr_t)(r->tail + 1) < 0)
			break;
		struct head h = c->u.first.h;
		struct rec *x = &r->batch[n++];
		char *dst[FIELDS] = {x->env, x->flag, x->variant, x->reason, x->user};
		size_t off = 0;
		x->kind = h.kind;
		x->project_id = h.project_id;
		x->time = h.time;
		x->n = h.n;
		x->tally = h.tally;
		x->pos = r->tail;
		for (int i = 0; i < FIELDS; i++) {
			text_copy(r, r->tail, off, dst[i], h.len[i], false);
			dst[i][h.len[i]] = '\0';
			off += h.len[i];
		}
		for (size_t i = 0; i < h.slots; i++)
			atomic_store_explicit(&r->cells[(r->tail + i) & r->mask].seq,
			    r->tail + i + r->mask + 1, memory_order_release);
		r->tail += h.slots;
	}
	return n;
}

/* The look-ahead entry of project_id; NULL when the table is full. */
static struct ahead *
ahead_slot(vx_evalrec *r, uint64_t project_id)
{
	size_t h = (size_t)(project_id * 0x9e3779b97f4a7c15ull) & (AHEAD_SLOTS - 1);

	if (project_id == 0)
		return NULL; /* the empty mark: never counted */
	for (size_t i = 0; i < AHEAD_SLOTS; i++, h = (h + 1) & (AHEAD_SLOTS - 1))
		if (r->ahead[h].project_id == project_id || r->ahead[h].project_id == 0) {
			r->ahead[h].project_id = project_id;
			return &r->ahead[h];
		}
	return NULL;
}

/* Whether a record of head h is one for the recent log. */
static bool
loggable(const struct head *h)
{
	return h->kind == VX_COUNT_EVALUATION && !h->tally;
}

/*
 * Counts the loggable records ready in the queue per project, up to head,
 * without taking them: the flusher alone frees slots, so what is ready
 * now stays put until it drains it.
 */
static void
look_ahead(vx_evalrec *r, size_t head)
{
	size_t pos = r->tail;

	memset(r->ahead, 0, AHEAD_SLOTS * sizeof(*r->ahead));
	while ((intptr_t)head - (intptr_t)pos > 0) {
		struct cell *c = &r->cells[pos & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		if ((intptr_t)seq - (intptr_t)(pos + 1) < 0)
			break;
		const struct head *h = &c->u.first.h;
		struct ahead *a;
		if (loggable(h) && (a = ahead_slot(r, h->project_id)) != NULL)
			a->left++;
		pos += h->slots;
	}
	r->ahead_end = pos;
}

/*
 * Decides which of the batch's n records are logged (x->log) and which
 * projects the chunk trims. Done once per chunk, outside the write, which
 * the store may run again.
 */
static void
choose_logged(vx_evalrec *r, size_t n)
{
	r->ntrim = 0;
	for (size_t i = 0; i < n; i++) {
		struct rec *x = &r->batch[i];
		struct head h = {.kind = (uint8_t)x->kind, .tally = x->tally};
		struct ahead *a = NULL;
		if (!(x->log = loggable(&h)))
			continue;
		if ((intptr_t)x->pos - (intptr_t)r->ahead_end < 0)
			a = ahead_slot(r, x->project_id);
		if (a != NULL && a->left > 0)
			/* Logged unless `keep` newer ones of its project follow. */
			x->log = --a->left < r->keep;
		else /* not counted: only the newest 4 × keep overall */
			x->log = (intptr_t)x->pos - (intptr_t)r->log_from >= 0;
		if (!x->log)
			continue;
		size_t j = 0;
		while (j < r->ntrim && j < TRIM_MAX && r->trim[j] != x->project_id)
			j++;
		if (j == r->ntrim && j < TRIM_MAX)
			r->trim[r->ntrim++] = x->project_id;
		else if (j == TRIM_MAX)
			r->ntrim = TRIM_MAX + 1;
	}
}

static uint32_t
agg_hash(const struct rec *x, int32_t day)
{
	/* What a count is kept by. */
	const char *parts[] = {x->flag, x->env, x->variant};
	int64_t nums[] = {(int64_t)x->project_id, day, x->kind};
	uint32_t h = vx_fnv32(VX_FNV32_INIT, nums, sizeof(nums));

	for (size_t i = 0; i < 3; i++) {
		h = vx_fnv32(h, parts[i], strlen(parts[i]));
		h = vx_fnv32(h, VX_FNV32_SEP, 1);
	}
	return h;
}

/* Sums the batch's records by (day, project, kind, flag, environment,
 * variant), through a hash table: an EvaluateAll of a large project puts
 * as many distinct flags in one batch. */
static void
aggregate(vx_evalrec *r, size_t n)
{
	r->naggs = 0;
	memset(r->slots, 0, AGG_SLOTS * sizeof(*r->slots));
	for (size_t i = 0; i < n; i++) {
		const struct rec *x = &r->batch[i];
		int32_t day = (int32_t)(x->time / 86400000);
		size_t h = agg_hash(x, day) & (AGG_SLOTS - 1), j;

		for (;; h = (h + 1) & (AGG_SLOTS - 1)) {
			if (r->slots[h] == 0) {
				j = r->naggs++;
				r->aggs[j] = (struct agg){x, day, 0};
				r->slots[h] = (uint32_t)j + 1;
				break;
			}
			j = r->slots[h] - 1;
			const struct rec *y = r->aggs[j].r;
			if (r->aggs[j].day == day && y->project_id == x->project_id &&
			    y->kind == x->kind && strcmp(y->flag, x->flag) == 0 &&
			    strcmp(y->env, x->env) == 0 &&
			    strcmp(y->variant, x->variant) == 0)
				break;
		}
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
	int rc;

	for (size_t i = 0; i < r->naggs; i++) {
		const struct rec *x = r->aggs[i].r;
		if ((rc = vx_store_evalcount_add(w, x->project_id, r->aggs[i].day, x->kind, x->env,
			 x->flag, x->variant, r->aggs[i].n)) != 0)
			return rc;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct rec *x = &r->batch[i];
		if (!x->log)
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
	/* Only a project the chunk logged for can be over `keep`. */
	for (size_t i = 0; i < r->ntrim && i < TRIM_MAX; i++)
		if ((rc = vx_store_evallog_trim(w, r->trim[i], r->keep)) != 0)
			return rc;
	for (size_t i = 0; r->ntrim > TRIM_MAX && i < r->naggs; i++) {
		uint64_t pid = r->aggs[i].r->project_id;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = r->aggs[j].r->project_id == pid;
		if (!seen && (rc = vx_store_evallog_trim(w, pid, r->keep)) != 0)
			return rc;
	}
	return 0;
}

/* Writes what is queued, a chunk per write transaction. Every record is
 * counted; the log gets those its trim keeps (choose_logged), and of
 * records the look-ahead did not count, none more than 4 × keep older
 * than the newest. */
static void
flush_once(vx_evalrec *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	struct batch_arg b = {r, 0};
	int rc;

	r->log_from =
	    head - (head - r->tail > r->keep * 4 ? r->keep * 4 : head - r->tail);
	look_ahead(r, head);
	while ((b.n = drain(r)) != 0) {
		aggregate(r, b.n);
		choose_logged(r, b.n);
		rc = vx_store_write(r->store, NULL, write_batch, &b);
		if (rc != 0)
			vx_log(VX_LOG_ERROR, "evalrec: %zu records not written: %s", b.n,
			    vx_strerror(rc));
		pthread_mutex_lock(&r->lock);
		atomic_fetch_add(&r->written, b.n);
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		/*
		 * A batch that updated counters across many flags mapped the
		 * pages of all of them, and the next one maps their new copies:
		 * leave them to the page cache (vx_store_unmap()), as a
		 * compiled flag set's build does, so that vexild's resident set
		 * does not grow with the counters it updates. A batch of a few
		 * counters (the common load: many evaluations of few flags)
		 * maps a few pages, the same ones again and again, and
		 * unmapping after it would only make readers fault the map's
		 * hot pages back in, hundreds of times a second.
		 */
		if (r->naggs >= UNMAP_COUNTERS)
			vx_store_unmap(NULL, r->store);
		if (b.n < CHUNK)
			break;
	}
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
	size_t cap = CHUNK; /* the smallest queue */

	while (cap < capacity)
		cap <<= 1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return VX_ENOMEM;
	r->store = s;
	r->mask = cap - 1;
	r->keep = keep ? keep : 1000;
	r->cells = calloc(cap, sizeof(*r->cells));
	r->batch = calloc(CHUNK, sizeof(*r->batch));
	r->aggs = calloc(CHUNK, sizeof(*r->aggs));
	r->slots = calloc(AGG_SLOTS, sizeof(*r->slots));
	r->ahead = calloc(AHEAD_SLOTS, sizeof(*r->ahead));
	if (!r->cells || !r->batch || !r->aggs || !r->slots || !r->ahead)
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
	free(r->slots);
	free(r->ahead);
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
	free(r->slots);
	free(r->ahead);
	free(r);
}
