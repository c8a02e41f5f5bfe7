/*
 * libvexil — the change subscription and live cache: see vexil_watch.h.
 *
 * One thread per watch owns the SUB socket and every write to the cache.
 * Once caught up it long-polls (Changes with wait_ms): vexild holds the
 * call until the next commit to the project and answers with the change,
 * so a change costs one reply and no notice-then-fetch round trip. The
 * notices wake the watch only while long-polls fail.
 * The flag map is guarded by a mutex (it is read only by
 * vx_watch_flags()); the compiled set is published with an atomic pointer
 * swap and read without locks.
 */
#include "vexil_watch.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* The longest a long-poll waits, which bounds vx_watch_stop(). */
#define LONG_POLL_MAX_MS 1000

struct vx_watch {
	vx_watch_opts o;
	char *project, *env;
	vx_client *client;
	nng_socket sub;
	nng_aio *rx; /* the one receive on sub; it has no timeout */
	uint64_t project_id;
	char topic[32];
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t wake_lock; /* notified */
	pthread_cond_t wake;       /* a newer notice came, or stop */
	bool notified;

	pthread_mutex_t lock;
	Vexil__V1__Flag **flags; /* sorted by key; each unpacked on its own */
	size_t n, cap;
	Vexil__V1__SegmentList *segs; /* the project's, as of revision; or NULL */
	atomic_uint_fast64_t revision;
	atomic_uint_fast64_t resyncs;
	_Atomic int64_t synced_at;

	_Atomic(vx_eval_snapshot *) live;
	atomic_int readers;
	vx_eval_snapshot **retired;
	size_t nretired;
};

/* A flag of its own, outliving the reply it came in. */
static Vexil__V1__Flag *
dup_flag(const Vexil__V1__Flag *f)
{
	size_t len = vexil__v1__flag__get_packed_size(f);
	uint8_t *buf = malloc(len ? len : 1);
	Vexil__V1__Flag *copy;

	if (buf == NULL)
		return NULL;
	vexil__v1__flag__pack(f, buf);
	copy = vexil__v1__flag__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

static size_t
position(vx_watch *w, const char *key, bool *found)
{
	size_t lo = 0, hi = w->n;
	*found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(w->flags[mid]->key, key);
		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
put_flag(vx_watch *w, const Vexil__V1__Flag *f)
{
	Vexil__V1__Flag *copy = dup_flag(f), **bigger;
	bool found;
	size_t at;

	if (copy == NULL)
		return VX_ENOMEM;
	at = position(w, f->key, &found);
	if (found) {
		vexil__v1__flag__free_unpacked(w->flags[at], NULL);
		w->flags[at] = copy;
		return 0;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		if ((bigger = realloc(w->flags, cap * sizeof(*bigger))) == NULL) {
			vexil__v1__flag__free_unpacked(copy, NULL);
			return VX_ENOMEM;
		}
		w->flags = bigger;
		w->cap = cap;
	}
	memmove(&w->flags[at + 1], &w->flags[at], (w->n - at) * sizeof(*w->flags));
	w->flags[at] = copy;
	w->n++;
	return 0;
}

static void
drop_flag(vx_watch *w, const char *key)
{
	bool found;
	size_t at = position(w, key, &found);
	if (!found)
		return;
	vexil__v1__flag__free_unpacked(w->flags[at], NULL);
	memmove(&w->flags[at], &w->flags[at + 1], (w->n - at - 1) * sizeof(*w->flags));
	w->n--;
}

static void
clear_flags(vx_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		vexil__v1__flag__free_unpacked(w->flags[i], NULL);
	w->n = 0;
}

/* Frees retired sets once no reader can still hold one. */
static void
reclaim(vx_watch *w, bool force)
{
	if (!force && atomic_load(&w->readers) != 0)
		return;
	for (size_t i = 0; i < w->nretired; i++) {
		vx_flagset_free(w->retired[i]->fs);
		free(w->retired[i]);
	}
	w->nretired = 0;
}

/*
 * Replaces the cached segments with a reply's: every reply carries all of
 * the project's, so a changed segment reaches each flag that names it at
 * the next recompile.
 */
static int
set_segments(vx_watch *w, Vexil__V1__Segment **segs, size_t n)
{
	Vexil__V1__SegmentList l = VEXIL__V1__SEGMENT_LIST__INIT, *copy;
	size_t len;
	uint8_t *buf;

	l.segments = segs;
	l.n_segments = n;
	len = vexil__v1__segment_list__get_packed_size(&l);
	if ((buf = malloc(len ? len : 1)) == NULL)
		return VX_ENOMEM;
	vexil__v1__segment_list__pack(&l, buf);
	copy = vexil__v1__segment_list__unpack(NULL, len, buf);
	free(buf);
	if (copy == NULL)
		return VX_ENOMEM;
	if (w->segs != NULL)
		vexil__v1__segment_list__free_unpacked(w->segs, NULL);
	w->segs = copy;
	return 0;
}

static int
recompile(vx_watch *w)
{
	vx_eval_snapshot *s, *old, **bigger;
	char err[300];
	int rc;

	if (w->env == NULL)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VX_ENOMEM;
	rc = vx_flagset_build(w->flags, w->n, w->segs ? w->segs->segments : NULL,
	    w->segs ? w->segs->n_segments : 0, w->project_id, atomic_load(&w->revision),
	    w->env, &s->fs, err, sizeof(err));
	if (rc != 0) {
		vx_log(VX_LOG_ERROR, "watch: cannot compile: %s", err);
		free(s);
		return rc;
	}
	s->serial = vx_eval_snapshot_next_serial();
	if ((bigger = realloc(w->retired, (w->nretired + 1) * sizeof(*bigger))) == NULL) {
		vx_flagset_free(s->fs);
		free(s);
		return VX_ENOMEM;
	}
	w->retired = bigger;
	old = atomic_exchange(&w->live, s);
	if (old != NULL)
		w->retired[w->nretired++] = old;
	reclaim(w, false);
	return 0;
}

static const Vexil__V1__Flag *
cached(vx_watch *w, const char *key)
{
	bool found;
	size_t at = position(w, key, &found);
	return found ? w->flags[at] : NULL;
}

/* Fetches what changed since the cache's revision and applies it, one
 * bounded reply; *more says the head is further on. With wait_ms, a cache
 * already at the head waits up to that long for the next change. */
static int
sync_step(vx_watch *w, vx_status *st, bool *more, int wait_ms)
{
	vx_call_opts poll = {.credential = vx_client_credential(w->client),
	    .timeout_ms = w->o.timeout_ms + wait_ms};
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	char pid[24];
	uint64_t before = atomic_load(&w->revision);
	int rc = 0;

	snprintf(pid, sizeof(pid), "%llu", (unsigned long long)w->project_id);
	in.project = pid;
	in.since = before;
	in.wait_ms = (uint32_t)wait_ms;
	*more = false;
	if ((rc = vx_changes_as(w->client, wait_ms > 0 ? &poll : NULL, &in, &out, st)) !=
	    0)
		return rc;
	*more = out->revision < out->head_revision;
	if (out->revision == before && !out->snapshot) {
		vx_free(out);
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	if (out->snapshot)
		clear_flags(w);
	for (size_t i = 0; i < out->n_flags && rc == 0; i++)
		rc = put_flag(w, out->flags[i]);
	for (size_t i = 0; i < out->n_deleted_flags; i++)
		drop_flag(w, out->deleted_flags[i]);
	if (rc == 0)
		rc = set_segments(w, out->segments, out->n_segments);
	if (rc == 0) {
		atomic_store(&w->revision, out->revision);
		rc = recompile(w);
	}
	pthread_mutex_unlock(&w->lock);
	if (rc != 0) {
		/* Start over from a snapshot next time. */
		atomic_store(&w->revision, 0);
		vx_free(out);
		vx_status_set(st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL,
		    "cannot apply changes: %s", vx_strerror(rc));
		return rc;
	}
	if (w->o.on_change != NULL) {
		if (out->snapshot && before != 0) {
			Vexil__V1__Change c = VEXIL__V1__CHANGE__INIT;
			c.revision = out->revision;
			c.project_id = out->project_id;
			atomic_fetch_add(&w->resyncs, 1);
			w->o.on_change(w->o.arg, &c, NULL);
		}
		for (size_t i = 0; i < out->n_changes; i++)
			w->o.on_change(w->o.arg, out->changes[i],
			    *out->changes[i]->flag_key ? cached(w, out->changes[i]->flag_key) : NULL);
	}
	vx_free(out);
	return 0;
}

static int
sync_once(vx_watch *w, vx_status *st, int wait_ms)
{
	bool more = true;
	int rc = 0;
	while (more && rc == 0 && !atomic_load(&w->stop))
		rc = sync_step(w, st, &more, wait_ms);
	if (rc == 0)
		atomic_store(&w->synced_at, vx_now_ms());
	return rc;
}

/* Reads the revision out of a notice; 0 when it is not one of ours. */
static uint64_t
notice_revision(vx_watch *w, nng_msg *msg)
{
	size_t tlen = strlen(w->topic), len = nng_msg_len(msg);
	Vexil__V1__ChangeNotice *n;
	uint64_t rev = 0;

	if (len < tlen || memcmp(nng_msg_body(msg), w->topic, tlen) != 0)
		return 0;
	n = vexil__v1__change_notice__unpack(NULL, len - tlen, (uint8_t *)nng_msg_body(msg) + tlen);
	if (n != NULL) {
		rev = n->revision;
		vexil__v1__change_notice__free_unpacked(n, NULL);
	}
	return rev;
}

/*
 * The receive's callback (an nng thread): notes a notice newer than the
 * cache and receives the next one, until the socket is closed.
 *
 * No receive on the socket has a timeout, so that vx_watch_stop() can
 * close it at any time: nng 1.5.2 may run a timed-out receive's cancel in
 * its timer thread after another thread's nng_close() has freed the
 * socket, and aborts ("pthread_mutex_lock: Invalid argument"). The waits
 * are timed here instead, on a condition variable.
 */
static void
on_rx(void *arg)
{
	vx_watch *w = arg;
	int rv = nng_aio_result(w->rx);

	if (rv == 0) {
		nng_msg *msg = nng_aio_get_msg(w->rx);
		bool newer = notice_revision(w, msg) > atomic_load(&w->revision);
		nng_msg_free(msg);
		if (newer) {
			pthread_mutex_lock(&w->wake_lock);
			w->notified = true;
			pthread_cond_signal(&w->wake);
			pthread_mutex_unlock(&w->wake_lock);
		}
	}
	if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
		nng_recv_aio(w->sub, w->rx);
}

/*
 * Waits up to ms (poll_ms at most) for a notice newer than the cache, and
 * returns when one came, the time is up or the watch stops; with ms 0 it
 * only forgets the notices that came meanwhile.
 */
static void
await_notice(vx_watch *w, int ms)
{
	struct timespec until;

	if (ms > w->o.poll_ms)
		ms = w->o.poll_ms;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->wake_lock);
	while (ms > 0 && !w->notified && !atomic_load(&w->stop) &&
	       pthread_cond_timedwait(&w->wake, &w->wake_lock, &until) == 0)
		;
	w->notified = false;
	pthread_mutex_unlock(&w->wake_lock);
}

static void *
run(void *arg)
{
	vx_watch *w = arg;
	vx_status st;
	int backoff = 0;

	while (!atomic_load(&w->stop)) {
		/* Caught up: the long-poll answers at the next commit, or after
		 * its wait with nothing (a quiet check that vexild is there). */
		if (sync_once(w, &st,
		        w->o.poll_ms < LONG_POLL_MAX_MS ? w->o.poll_ms
		                                        : LONG_POLL_MAX_MS) == 0) {
			backoff = 0;
			/* The notices it made redundant. */
			await_notice(w, 0);
			continue;
		}
		/* vexild away or refusing: back off, 50 ms doubling to 2 s, cut
		 * short by a notice (the SUB socket's receive times out after
		 * poll_ms at most). */
		backoff = backoff ? (backoff * 2 > 2000 ? 2000 : backoff * 2) : 50;
		if (!atomic_load(&w->stop))
			await_notice(w, backoff);
	}
	return NULL;
}

int
vx_watch_start(vx_watch **out, const vx_watch_opts *o, vx_status *st)
{
	Vexil__V1__ChangesRequest head = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *p;
	vx_client_opts co = {0};
	vx_wire_tls tls;
	pthread_condattr_t ca;
	vx_watch *w;
	int rc, rv;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return VX_ENOMEM;
	w->o = *o;
	if (w->o.poll_ms <= 0)
		w->o.poll_ms = 1000;
	if (w->o.timeout_ms <= 0)
		w->o.timeout_ms = 2000;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->wake_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	w->project = strdup(o->project ? o->project : "");
	w->env = o->environment ? strdup(o->environment) : NULL;
	co.credential = o->credential;
	co.timeout_ms = w->o.timeout_ms;
	co.tls_ca = tls.ca_file = o->tls_ca;
	co.tls_server_name = tls.server_name = o->tls_server_name;
	co.status = st;
	if (w->project == NULL || (o->environment && w->env == NULL)) {
		rc = VX_ENOMEM;
		goto fail;
	}
	if ((rc = vx_client_open(&w->client, o->rpc_url, &co)) != 0)
		goto fail;
	/* Where the project is, through the one method every credential that
	 * may watch can call (an SDK key cannot read the project itself). */
	head.project = w->project;
	head.head_only = true;
	if ((rc = vx_changes(w->client, &head, &p, st)) != 0)
		goto fail;
	w->project_id = p->project_id;
	vx_free(p);

	/* Subscribe before the first fetch: the clone pattern. */
	snprintf(w->topic, sizeof(w->topic), "p/%llu/", (unsigned long long)w->project_id);
	if ((rv = nng_sub0_open(&w->sub)) != 0 || vx_wire_harden(w->sub, 0) != 0 ||
	    nng_socket_set(w->sub, NNG_OPT_SUB_SUBSCRIBE, w->topic, strlen(w->topic)) != 0 ||
	    nng_socket_set_ms(w->sub, NNG_OPT_RECONNMINT, 20) != 0 ||
	    nng_socket_set_ms(w->sub, NNG_OPT_RECONNMAXT, 1000) != 0) {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, "pub_url", NULL,
		    "cannot subscribe to %s", o->pub_url);
		rc = VX_EINVAL;
		goto fail;
	}
	/*
	 * Connect before the first fetch, so that no notice published after
	 * it can be missed; if the PUB socket is not there yet, keep dialling
	 * in the background and let the poll catch up meanwhile.
	 */
	if ((rc = vx_wire_dial(w->sub, o->pub_url, &tls, true, st)) != 0)
		goto fail;
	if (nng_aio_alloc(&w->rx, on_rx, w) != 0) {
		rc = VX_ENOMEM;
		goto fail;
	}
	nng_recv_aio(w->sub, w->rx);
	if ((rc = sync_once(w, st, 0)) != 0)
		goto fail;
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		rc = VX_ENOMEM;
		goto fail;
	}
	w->started = true;
	*out = w;
	return 0;
fail:
	vx_watch_stop(w);
	return rc;
}

void
vx_watch_stop(vx_watch *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	/*
	 * The thread wakes out of a wait for a notice at once; a long-poll
	 * ends within LONG_POLL_MAX_MS. (Cancelling it instead leaves nng
	 * 1.5's REQ socket hanging in nng_close().) Closing the SUB socket
	 * ends the receive, which has no timeout (see on_rx()); the callback
	 * is stopped before w goes.
	 */
	pthread_mutex_lock(&w->wake_lock);
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->wake_lock);
	nng_close(w->sub);
	if (w->started)
		pthread_join(w->thread, NULL);
	if (w->rx != NULL) {
		nng_aio_stop(w->rx);
		nng_aio_free(w->rx);
	}
	vx_client_close(w->client);
	pthread_mutex_lock(&w->lock);
	clear_flags(w);
	pthread_mutex_unlock(&w->lock);
	vx_eval_snapshot *live = atomic_exchange(&w->live, NULL);
	if (live != NULL) {
		vx_flagset_free(live->fs);
		free(live);
	}
	reclaim(w, true);
	free(w->retired);
	free(w->flags);
	if (w->segs != NULL)
		vexil__v1__segment_list__free_unpacked(w->segs, NULL);
	free(w->project);
	free(w->env);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->wake_lock);
	pthread_cond_destroy(&w->wake);
	free(w);
}

uint64_t
vx_watch_revision(vx_watch *w)
{
	return atomic_load(&w->revision);
}

int64_t
vx_watch_synced_at(vx_watch *w)
{
	return atomic_load(&w->synced_at);
}

uint64_t
vx_watch_resyncs(vx_watch *w)
{
	return atomic_load(&w->resyncs);
}

const vx_eval_snapshot *
vx_watch_acquire(vx_watch *w)
{
	/* Announce the reader first: a writer that swaps after this sees us
	 * and keeps the old set; one that swapped before gave us the new. */
	atomic_fetch_add(&w->readers, 1);
	vx_eval_snapshot *s = atomic_load(&w->live);
	if (s == NULL)
		atomic_fetch_sub(&w->readers, 1);
	return s;
}

void
vx_watch_release(vx_watch *w, const vx_eval_snapshot *s)
{
	if (s != NULL)
		atomic_fetch_sub(&w->readers, 1);
}

int
vx_watch_flags(vx_watch *w, Vexil__V1__Flag ***out, size_t *n, uint64_t *revision)
{
	Vexil__V1__Flag **copy;
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	*n = 0;
	copy = calloc(w->n + 1, sizeof(*copy));
	for (size_t i = 0; copy != NULL && i < w->n; i++) {
		if ((copy[i] = dup_flag(w->flags[i])) == NULL) {
			rc = VX_ENOMEM;
			break;
		}
		(*n)++;
	}
	if (revision)
		*revision = atomic_load(&w->revision);
	pthread_mutex_unlock(&w->lock);
	if (copy == NULL)
		return VX_ENOMEM;
	if (rc != 0) {
		for (size_t i = 0; i < *n; i++)
			vx_free(copy[i]);
		free(copy);
		*n = 0;
		return rc;
	}
	*out = copy;
	return 0;
}
