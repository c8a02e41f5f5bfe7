/*
 * bench_push — how soon a committed write reaches libvexil watchers.
 *
 * It starts the real vexild (the one from this build, or --vexild PATH) on
 * a fresh temp data dir and free addresses, creates one boolean flag, and
 * then, for each subscriber count N (--subscribers, default 1,10,100),
 * starts N watches with vx_watch_start() on project "default",
 * environment "production", each with its own connections and thread, as
 * N separate services would have. Once caught up, each watch long-polls
 * WatchService/Changes (wait_ms), so a write reaches it as the reply to
 * its parked call; poll_ms is 5 s (the watch caps its wait at 1 s).
 *
 * A writer then makes W sequential writes (--writes, default 300):
 * SetFlagEnabled toggling the flag in production, each sent as soon as
 * the previous one was acknowledged. Every committed write raises the
 * project revision by exactly one, so write i commits revision base + i,
 * where base is read with GetProject before the first. The writer records
 * CLOCK_MONOTONIC just before sending (t_sent) and just after the reply
 * (t_acked, the commit acknowledged). Each subscriber's on_change
 * callback, which libvexil calls once its cache and compiled set hold the
 * change, records the clock into a per-subscriber array indexed by
 * revision - base, allocated before the level. When every subscriber has
 * seen the last revision (or after a timeout longer than poll_ms, when
 * what is missing is reported) the watches are stopped and the figures
 * computed over every (write, subscriber) pair:
 *
 *   ack>cb   callback - t_acked: commit acknowledged to callback done
 *   snd>cb   callback - t_sent: client send to callback done
 *   ack>all  per write, the last subscriber's callback - t_acked
 *   rtt      t_acked - t_sent of the writes themselves
 *
 * vexild publishes the notice after the commit, under its writer lock,
 * and before it sends the reply, so a subscriber can legitimately run its
 * callback a little before the writer has read its acknowledgement:
 * ack>cb can be negative. Nothing is clamped.
 *
 * Before each level's measured writes, warm-up writes are made until a
 * few in a row reach every subscriber within a second: a watch's SUB
 * socket dials in the background, and a notice published before it is
 * connected is lost (the watch would only catch up after poll_ms). The
 * row says how many warm-up writes that took.
 *
 * vexild runs with --quiet and, by default, once with its default
 * durability (an fsync per commit) and once with --no-sync
 * (--durability). There are no thresholds: it prints a settings line and
 * one row per (durability, subscribers), and exits 0; or non-zero, with a
 * message, when vexild fails, a write fails, or a subscriber misses a
 * change, gets one twice, or gets it before its compiled set holds it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "probe.h"
#include "vexil.h"
#include "vexil_watch.h"

#ifndef VX_VEXILD_PATH
#define VX_VEXILD_PATH "vexild"
#endif

#define MAX_LEVELS 8
#define MAX_SUBS 1000
#define MAX_WRITES 1000000
/* Long enough that a level never relies on the watchers' polling. */
#define POLL_MS 5000
/* Consecutive warm-up writes every subscriber must see within the wait. */
#define WARMUP_STREAK 3
#define WARMUP_WAIT_MS 1000
#define WARMUP_MAX_WRITES 30
/* Past poll_ms, so that a lost last notice still shows up as a late callback. */
#define SETTLE_TIMEOUT_MS (POLL_MS + 5000)
/* While stopping watches, a write every this often wakes their threads. */
#define WAKE_EVERY_MS 50
#define STOP_TIMEOUT_MS (2 * POLL_MS + 5000)

#define FLAG_KEY "push-flag"

enum durability { D_SYNC, D_NOSYNC, D_COUNT };
static const char *const durability_names[D_COUNT] = {"sync", "nosync"};
static const char *const durability_args[D_COUNT][2] = {{NULL, NULL}, {"--no-sync", NULL}};

struct opts {
	const char *vexild;
	enum bench_transport transport;
	bool durability[D_COUNT];
	int levels[MAX_LEVELS];
	int nlevels;
	int writes;
};

/* The measured writes of a level, as the callbacks see them. */
struct window {
	/* Write i (1..writes) commits revision base + i; UINT64_MAX until set. */
	atomic_uint_fast64_t base;
	int writes;
};

/* One subscriber. Apart from the atomics, only its watch thread writes it. */
struct sub {
	const struct window *win;
	_Atomic(vx_watch *) watch; /* set once vx_watch_start returned */
	uint64_t *cb_ns;           /* [writes]: when revision base+1+i arrived; 0: not yet */
	atomic_uint_fast64_t last; /* the newest revision a callback was given */
	atomic_uint seen;          /* distinct measured revisions seen */
	atomic_uint dups;          /* measured revisions given twice */
	atomic_uint resyncs;       /* resyncs from a full snapshot */
	atomic_uint stale;         /* callbacks whose compiled set lagged the change */
};

struct row {
	int subs;
	int writes;
	int warmup_writes;
	double start_ms; /* starting every watch */
	double settle_ms; /* last acknowledgement to the last callback */
	double ack_min, ack_p50, ack_p99, ack_max;
	double snd_p50, snd_p99;
	double all_p50, all_p99;
	double rtt_p50, rtt_p99;
	uint64_t missed, dups, resyncs, stale;
};

/*
 * Runs on the watch's thread, after the cache applied the change. The time
 * is taken first, so the checks below do not count.
 */
static void
on_change(void *arg, const Vexil__V1__Change *c, const Vexil__V1__Flag *f)
{
	uint64_t t = bench_now_ns();
	struct sub *s = arg;
	uint64_t base = atomic_load_explicit(&s->win->base, memory_order_acquire);
	const vx_eval_snapshot *snap;
	vx_watch *w;

	(void)f;
	if (c->kind == VEXIL__V1__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED) {
		/* A resync: the revisions it jumped over get no callback. */
		atomic_fetch_add(&s->resyncs, 1);
	} else if (c->revision > base && c->revision - base <= (uint64_t)s->win->writes) {
		size_t i = (size_t)(c->revision - base - 1);
		if (s->cb_ns[i] != 0) {
			atomic_fetch_add(&s->dups, 1);
		} else {
			s->cb_ns[i] = t;
			atomic_fetch_add_explicit(&s->seen, 1, memory_order_release);
		}
	}
	/* The promise under test: the live cache already holds this change. */
	if ((w = atomic_load(&s->watch)) != NULL) {
		snap = vx_watch_acquire(w);
		if (snap == NULL || vx_eval_snapshot_revision(snap) < c->revision)
			atomic_fetch_add(&s->stale, 1);
		vx_watch_release(w, snap);
	}
	atomic_store_explicit(&s->last, c->revision, memory_order_release);
}

/* ---- subscribers ---- */

static void
free_subs(struct sub *subs, int n)
{
	for (int i = 0; subs != NULL && i < n; i++)
		free(subs[i].cb_ns);
	free(subs);
}

static struct sub *
alloc_subs(int n, const struct window *win)
{
	struct sub *subs = calloc((size_t)n, sizeof(*subs));

	if (subs == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		struct sub *s = &subs[i];
		s->win = win;
		atomic_init(&s->watch, NULL);
		atomic_init(&s->last, 0);
		atomic_init(&s->seen, 0);
		atomic_init(&s->dups, 0);
		atomic_init(&s->resyncs, 0);
		atomic_init(&s->stale, 0);
		/* Zeroed, as 0 means not seen; allocated now so the callback never does. */
		if ((s->cb_ns = calloc((size_t)win->writes, sizeof(uint64_t))) == NULL) {
			free_subs(subs, i + 1);
			return NULL;
		}
	}
	return subs;
}

static int
start_watches(const struct bench_vexild *v, struct sub *subs, int n)
{
	for (int i = 0; i < n; i++) {
		vx_watch_opts o = {.rpc_url = v->rpc, .pub_url = v->pub, .credential = v->key,
		    .project = "default", .environment = "production", .on_change = on_change,
		    .arg = &subs[i], .poll_ms = POLL_MS};
		vx_watch *w;
		vx_status st;

		if (vx_watch_start(&w, &o, &st) != 0) {
			fprintf(stderr, "bench_push: watch %d of %d did not start: %s: %s\n",
			    i + 1, n, vx_code_name(st.code), st.message);
			return -1;
		}
		atomic_store(&subs[i].watch, w);
	}
	return 0;
}

struct stopper {
	vx_watch *w;
	pthread_t thread;
	atomic_bool *done;
};

static void *
stopper_main(void *arg)
{
	struct stopper *s = arg;
	vx_watch_stop(s->w);
	atomic_store(s->done, true);
	return NULL;
}

/*
 * Stops every watch. vx_watch_stop() joins the watch's thread before it
 * closes the SUB socket, and that thread waits in a receive of up to
 * poll_ms, so one stop can take poll_ms and N in a row N times that. The
 * stops run in parallel, and writes from the writer wake every thread
 * with a notice so that none waits for its timeout.
 */
static int
stop_watches(vx_client *writer, bool *enabled, struct sub *subs, int n)
{
	struct stopper *st = calloc((size_t)n, sizeof(*st));
	atomic_bool *done = calloc((size_t)n, sizeof(*done));
	uint64_t deadline = bench_now_ns() + STOP_TIMEOUT_MS * 1000000ull;
	int rc = 0;
	bool all;

	if (st == NULL || done == NULL) {
		/* Without memory for threads, stop them one by one. */
		for (int i = 0; i < n; i++)
			vx_watch_stop(atomic_exchange(&subs[i].watch, NULL));
		free(st);
		free(done);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		atomic_init(&done[i], false);
		st[i].w = atomic_exchange(&subs[i].watch, NULL);
		st[i].done = &done[i];
		if (st[i].w == NULL ||
		    pthread_create(&st[i].thread, NULL, stopper_main, &st[i]) != 0) {
			vx_watch_stop(st[i].w);
			atomic_store(&done[i], true);
			st[i].w = NULL;
		}
	}
	for (;;) {
		all = true;
		for (int i = 0; i < n && all; i++)
			all = atomic_load(&done[i]);
		if (all)
			break;
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "bench_push: watches did not stop within %d ms\n",
			    STOP_TIMEOUT_MS);
			rc = -1;
			break;
		}
		/* A failing write only means the threads wait for their timeout. */
		if (writer != NULL && bench_probe_toggle(writer, FLAG_KEY, enabled) != 0)
			writer = NULL;
		bench_sleep_ms(WAKE_EVERY_MS);
	}
	for (int i = 0; i < n; i++)
		if (st[i].w != NULL)
			pthread_join(st[i].thread, NULL);
	free(st);
	free(done);
	return rc;
}

/* Every subscriber at least at want, by last revision or by count seen. */
struct catch_up {
	struct sub *all;
	uint64_t want;
};

static bool
last_at_least(void *arg, int i)
{
	struct catch_up *c = arg;
	return atomic_load_explicit(&c->all[i].last, memory_order_acquire) >= c->want;
}

static bool
seen_at_least(void *arg, int i)
{
	struct catch_up *c = arg;
	return atomic_load_explicit(&c->all[i].seen, memory_order_acquire) >= c->want;
}

/* Waits until every subscriber's callback saw revision rev. */
static bool
wait_all_last(struct sub *subs, int n, uint64_t rev, int timeout_ms)
{
	struct catch_up c = {subs, rev};
	return bench_wait_all(last_at_least, &c, n, timeout_ms);
}

/* Waits until every subscriber saw every measured write. */
static bool
wait_all_seen(struct sub *subs, int n, unsigned writes, int timeout_ms)
{
	struct catch_up c = {subs, writes};
	return bench_wait_all(seen_at_least, &c, n, timeout_ms);
}

/* ---- one level ---- */

static double
us_i64(const int64_t *sorted, size_t n, double p)
{
	return n ? (double)sorted[bench_rank(n, p)] / 1000.0 : 0.0;
}

/*
 * Turns the timestamps into the row. The watches are stopped, so nothing
 * writes cb_ns any more.
 */
static int
summarise(struct sub *subs, int n, int writes, const uint64_t *t_sent,
    const uint64_t *t_acked, struct row *r)
{
	size_t pairs = (size_t)n * (size_t)writes, k = 0;
	int64_t *ack = malloc(pairs * sizeof(*ack));
	int64_t *snd = malloc(pairs * sizeof(*snd));
	int64_t *all = malloc((size_t)writes * sizeof(*all));
	int64_t *rtt = malloc((size_t)writes * sizeof(*rtt));
	size_t nall = 0;
	int rc = -1;

	if (ack == NULL || snd == NULL || all == NULL || rtt == NULL) {
		fprintf(stderr, "bench_push: out of memory for %zu samples\n", pairs);
		goto out;
	}
	for (int i = 0; i < writes; i++) {
		int64_t last = INT64_MIN;
		bool complete = true;
		for (int j = 0; j < n; j++) {
			uint64_t cb = subs[j].cb_ns[i];
			if (cb == 0) {
				r->missed++;
				complete = false;
				continue;
			}
			ack[k] = (int64_t)(cb - t_acked[i]);
			snd[k] = (int64_t)(cb - t_sent[i]);
			if (ack[k] > last)
				last = ack[k];
			k++;
		}
		if (complete)
			all[nall++] = last;
		rtt[i] = (int64_t)(t_acked[i] - t_sent[i]);
	}
	for (int j = 0; j < n; j++) {
		r->dups += atomic_load(&subs[j].dups);
		r->resyncs += atomic_load(&subs[j].resyncs);
		r->stale += atomic_load(&subs[j].stale);
	}
	qsort(ack, k, sizeof(*ack), bench_cmp_i64);
	qsort(snd, k, sizeof(*snd), bench_cmp_i64);
	qsort(all, nall, sizeof(*all), bench_cmp_i64);
	qsort(rtt, (size_t)writes, sizeof(*rtt), bench_cmp_i64);
	r->ack_p50 = us_i64(ack, k, 0.50);
	r->ack_p99 = us_i64(ack, k, 0.99);
	r->ack_min = k ? (double)ack[0] / 1000.0 : 0.0;
	r->ack_max = k ? (double)ack[k - 1] / 1000.0 : 0.0;
	r->snd_p50 = us_i64(snd, k, 0.50);
	r->snd_p99 = us_i64(snd, k, 0.99);
	r->all_p50 = us_i64(all, nall, 0.50);
	r->all_p99 = us_i64(all, nall, 0.99);
	r->rtt_p50 = us_i64(rtt, (size_t)writes, 0.50);
	r->rtt_p99 = us_i64(rtt, (size_t)writes, 0.99);
	rc = 0;
out:
	free(ack);
	free(snd);
	free(all);
	free(rtt);
	return rc;
}

/*
 * Warm-up writes until WARMUP_STREAK in a row reach every subscriber
 * within WARMUP_WAIT_MS; *rev follows the project revision.
 */
static int
warm_up(vx_client *writer, bool *enabled, struct sub *subs, int n, uint64_t *rev,
    int *made)
{
	int streak = 0;

	for (*made = 0; streak < WARMUP_STREAK; (*made)++) {
		if (*made == WARMUP_MAX_WRITES) {
			fprintf(stderr,
			    "bench_push: after %d warm-up writes, %d in a row had not reached"
			    " all %d subscribers within %d ms\n",
			    WARMUP_MAX_WRITES, WARMUP_STREAK, n, WARMUP_WAIT_MS);
			return -1;
		}
		if (bench_interrupted || bench_probe_toggle(writer, FLAG_KEY, enabled) != 0)
			return -1;
		(*rev)++;
		streak = wait_all_last(subs, n, *rev, WARMUP_WAIT_MS) ? streak + 1 : 0;
	}
	return 0;
}

static int
run_level(struct bench_vexild *v, const struct opts *o, int nsubs, bool *enabled,
    struct row *r)
{
	struct window win = {.writes = o->writes};
	struct sub *subs = NULL;
	uint64_t *t_sent = NULL, *t_acked = NULL, rev, base, end, t0;
	int rc = -1, w = o->writes;

	memset(r, 0, sizeof(*r));
	r->subs = nsubs;
	r->writes = w;
	atomic_init(&win.base, UINT64_MAX);
	t_sent = calloc((size_t)w, sizeof(*t_sent));
	t_acked = calloc((size_t)w, sizeof(*t_acked));
	if (t_sent == NULL || t_acked == NULL || (subs = alloc_subs(nsubs, &win)) == NULL) {
		fprintf(stderr, "bench_push: out of memory for %d subscribers\n", nsubs);
		goto out;
	}
	t0 = bench_now_ns();
	if (start_watches(v, subs, nsubs) != 0)
		goto out;
	r->start_ms = (double)(bench_now_ns() - t0) / 1e6;
	if (bench_probe_revision(v->client, &rev) != 0 ||
	    warm_up(v->client, enabled, subs, nsubs, &rev, &r->warmup_writes) != 0)
		goto out;
	if (bench_probe_revision(v->client, &base) != 0)
		goto out;
	if (base != rev) {
		fprintf(stderr,
		    "bench_push: the project is at revision %llu after the warm-up,"
		    " not %llu: someone else writes\n",
		    (unsigned long long)base, (unsigned long long)rev);
		goto out;
	}
	atomic_store_explicit(&win.base, base, memory_order_release);

	for (int i = 0; i < w && !bench_interrupted; i++) {
		t_sent[i] = bench_now_ns();
		if (bench_probe_toggle(v->client, FLAG_KEY, enabled) != 0)
			goto out;
		t_acked[i] = bench_now_ns();
	}
	if (bench_interrupted)
		goto out;
	if (!wait_all_seen(subs, nsubs, (unsigned)w, SETTLE_TIMEOUT_MS) && !bench_interrupted)
		fprintf(stderr,
		    "bench_push: %d subscribers: not every callback came within %d ms of"
		    " the last write\n",
		    nsubs, SETTLE_TIMEOUT_MS);
	r->settle_ms = (double)(bench_now_ns() - t_acked[w - 1]) / 1e6;
	if (bench_probe_revision(v->client, &end) != 0)
		goto out;
	if (end != base + (uint64_t)w) {
		fprintf(stderr,
		    "bench_push: %d writes moved the revision by %llu; the latencies"
		    " would be matched to the wrong writes\n",
		    w, (unsigned long long)(end - base));
		goto out;
	}
	/* Stopped before reading: a late callback must not race the summary. */
	if (stop_watches(v->client, enabled, subs, nsubs) != 0)
		goto out;
	rc = summarise(subs, nsubs, w, t_sent, t_acked, r);
out:
	if (subs != NULL && stop_watches(rc == 0 ? NULL : v->client, enabled, subs, nsubs) != 0)
		rc = -1;
	free_subs(subs, nsubs);
	free(t_sent);
	free(t_acked);
	return rc;
}

/* ---- output ---- */

static void
print_header(const struct opts *o)
{
	printf("bench_push: %d sequential SetFlagEnabled writes per level from one client;"
	       " watchers: vx_watch_start(default, production), poll_ms %d, one thread"
	       " and two sockets each; vexild --quiet (%s) over %s; %ld CPUs\n",
	    o->writes, POLL_MS, o->vexild, bench_transport_names[o->transport],
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("bench_push: in us: ack>cb = callback - write acknowledged and snd>cb ="
	       " callback - write sent, over every (write, subscriber); ack>all = the last"
	       " subscriber's callback - acknowledged, per write; rtt = the write's round"
	       " trip. warm = warm-up writes it took; start_ms = starting every watch;"
	       " settle_ms = last acknowledgement to every callback seen\n");
	printf("%-6s %5s %6s | %10s %10s %10s %10s | %10s %10s | %10s %10s | %8s %8s |"
	       " %6s %4s %7s %5s | %4s %8s %9s\n",
	    "durab", "subs", "writes", "ack>cb_min", "ack>cb_p50", "ack>cb_p99", "ack>cb_max",
	    "snd>cb_p50", "snd>cb_p99", "ack>all_p50", "ack>all_p99", "rtt_p50", "rtt_p99",
	    "missed", "dups", "resyncs", "stale", "warm", "start_ms", "settle_ms");
	fflush(stdout);
}

static void
print_row(enum durability d, const struct row *r)
{
	printf("%-6s %5d %6d | %10.1f %10.1f %10.1f %10.1f | %10.1f %10.1f | %10.1f %10.1f |"
	       " %8.1f %8.1f | %6llu %4llu %7llu %5llu | %4d %8.1f %9.1f\n",
	    durability_names[d], r->subs, r->writes, r->ack_min, r->ack_p50, r->ack_p99,
	    r->ack_max,
	    r->snd_p50, r->snd_p99, r->all_p50, r->all_p99, r->rtt_p50, r->rtt_p99,
	    (unsigned long long)r->missed, (unsigned long long)r->dups,
	    (unsigned long long)r->resyncs, (unsigned long long)r->stale, r->warmup_writes,
	    r->start_ms, r->settle_ms);
	fflush(stdout);
}

/* Reports on stderr what makes a row wrong rather than slow. */
static int
check_row(enum durability d, const struct row *r)
{
	if (r->missed == 0 && r->dups == 0 && r->stale == 0)
		return 0;
	fprintf(stderr,
	    "bench_push: %s x%d: %llu callbacks missing, %llu repeated, %llu with a"
	    " compiled set older than the change\n",
	    durability_names[d], r->subs, (unsigned long long)r->missed,
	    (unsigned long long)r->dups, (unsigned long long)r->stale);
	return -1;
}

/* One vexild, one durability, every level. */
static int
run_durability(const struct opts *o, const char *root, enum durability d)
{
	struct bench_vexild v = {.pid = 0};
	bool enabled = false; /* the flag starts disabled everywhere */
	char tag[32];
	struct row r;
	int rc = -1, failed = 0;

	snprintf(tag, sizeof(tag), "push-%s", durability_names[d]);
	if (bench_vexild_start(&v, o->vexild, root, tag, o->transport, durability_args[d]) != 0 ||
	    bench_probe_create(v.client, FLAG_KEY, "Push latency probe") != 0)
		goto out;
	for (int i = 0; i < o->nlevels && !bench_interrupted; i++) {
		if (run_level(&v, o, o->levels[i], &enabled, &r) != 0) {
			bench_vexild_check(&v, "during the level");
			goto out;
		}
		print_row(d, &r);
		failed |= check_row(d, &r) != 0;
		if (bench_vexild_check(&v, "during the level") != 0)
			goto out;
	}
	if (bench_interrupted)
		goto out;
	rc = failed ? -1 : 0;
out:
	if (bench_vexild_stop(&v) != 0)
		rc = -1;
	return rc;
}

/* ---- command line ---- */

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: bench_push [options]\n"
	    "  --vexild PATH          vexild to run (default %s)\n"
	    "  --subscribers LIST     watchers per level, e.g. 1,10,100 (default)\n"
	    "  --writes N             measured writes per level (default 300)\n"
	    "  --durability LIST      from sync,nosync: vexild's default fsync per\n"
	    "                         commit, or --no-sync (default sync,nosync)\n"
	    "  --transport T          tcp (default) or ipc\n"
	    "  --help                 this text\n",
	    VX_VEXILD_PATH);
}

static int
parse_durability(const char *v, struct opts *o)
{
	char buf[64], *tok, *save = NULL;
	int d;

	memset(o->durability, 0, sizeof(o->durability));
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (d = 0; d < D_COUNT; d++)
			if (strcmp(tok, durability_names[d]) == 0)
				break;
		if (d == D_COUNT) {
			fprintf(stderr, "bench_push: unknown durability %s (sync, nosync)\n",
			    tok);
			return -1;
		}
		o->durability[d] = true;
	}
	for (d = 0; d < D_COUNT; d++)
		if (o->durability[d])
			return 0;
	fprintf(stderr, "bench_push: --durability names none\n");
	return -1;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL) {
			fprintf(stderr, "bench_push: %s needs a value\n", a);
			usage(stderr);
			return -1;
		}
		i++;
		if (strcmp(a, "--vexild") == 0) {
			o->vexild = v;
		} else if (strcmp(a, "--subscribers") == 0) {
			if (bench_parse_ints(a, v, 1, MAX_SUBS, o->levels, MAX_LEVELS,
				&o->nlevels) != 0)
				return -1;
		} else if (strcmp(a, "--writes") == 0) {
			if (bench_parse_int(a, v, 1, MAX_WRITES, &o->writes) != 0)
				return -1;
		} else if (strcmp(a, "--durability") == 0) {
			if (parse_durability(v, o) != 0)
				return -1;
		} else if (strcmp(a, "--transport") == 0) {
			if (strcmp(v, "tcp") == 0) {
				o->transport = BENCH_TCP;
			} else if (strcmp(v, "ipc") == 0) {
				o->transport = BENCH_IPC;
			} else {
				fprintf(stderr, "bench_push: unknown transport %s (tcp, ipc)\n",
				    v);
				return -1;
			}
		} else {
			fprintf(stderr, "bench_push: unknown option %s\n", a);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = {
	    .vexild = VX_VEXILD_PATH,
	    .transport = BENCH_TCP,
	    .durability = {true, true},
	    .levels = {1, 10, 100},
	    .nlevels = 3,
	    .writes = 300,
	};
	char root[64];
	int rc = 0;

	bench_init("bench_push");
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if (access(o.vexild, X_OK) != 0) {
		fprintf(stderr,
		    "bench_push: cannot run vexild at %s: %s (use --vexild PATH)\n",
		    o.vexild, strerror(errno));
		return 1;
	}
	if (bench_make_root(root, sizeof(root)) != 0)
		return 1;
	print_header(&o);
	/* A failed durability does not hide the other's figures. */
	for (int d = 0; d < D_COUNT && !bench_interrupted; d++)
		if (o.durability[d] && run_durability(&o, root, (enum durability)d) != 0)
			rc = 1;
	if (bench_interrupted) {
		fprintf(stderr, "bench_push: interrupted\n");
		rc = 1;
	}
	bench_remove_tree(root);
	return rc;
}
