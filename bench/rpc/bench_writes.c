/*
 * bench_writes — durable writes per second from concurrent writers, and
 * what they do to reads meanwhile (issue 17, group commit).
 *
 * It starts the real vexild of this build (or --vexild PATH) on a fresh
 * temp data dir over tcp, with fsync on unless --no-sync, and gives each
 * of --writers threads a libvexil client of its own and a flag of its
 * own. Then two phases of --seconds each, after a short warm-up:
 *
 *  - reads alone: --readers threads, each with its own client, call
 *    EvaluationService/Evaluate on a flag with a 50% rollout in a loop,
 *    over contexts with varying user ids;
 *  - writes and reads: the same readers, and the writers, each toggling
 *    its own flag in production (FlagService/SetFlagEnabled: one write, one
 *    revision) in a loop, each call waiting for its reply.
 *
 * Every call is timed with CLOCK_MONOTONIC; it prints acknowledged writes
 * per second with their p50 and p99, reads per second with their p50 and
 * p99 in each phase, the ratio of reads in the two phases, and how many
 * writes vexild committed per transaction (GetStats: writes_total over
 * commits_total; 0 commits from a vexild without group commit). The
 * project's revision is read before and after the write phase, and the
 * run fails unless it moved by exactly the writes acknowledged. There are
 * no thresholds; it exits non-zero, with a message, when vexild cannot be
 * started or stopped or a call fails.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "probe.h"
#include "vexil.h"

#ifndef VX_VEXILD_PATH
#define VX_VEXILD_PATH "vexild"
#endif

#define MAX_THREADS 256
#define CONTEXTS 256

struct opts {
	const char *vexild;
	int writers, readers;
	double seconds, warmup;
	bool no_sync;
};

/* A loop of calls on one thread, and its latencies. */
struct worker {
	pthread_t thread;
	bool writer;
	int id;
	vx_client *client;
	atomic_bool *measure, *stop;
	uint64_t *ns;
	size_t n, cap;
	bool enabled; /* a writer's flag, in production */
	char error[300];
};

static const char *vexild_path = VX_VEXILD_PATH;

static int
record(struct worker *w, uint64_t ns)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4096;
		uint64_t *p = realloc(w->ns, cap * sizeof(*p));
		if (p == NULL)
			return -1;
		w->ns = p;
		w->cap = cap;
	}
	w->ns[w->n++] = ns;
	return 0;
}

static int
write_once(struct worker *w)
{
	char key[32];

	snprintf(key, sizeof(key), "bw-%03d", w->id);
	return bench_probe_toggle(w->client, key, &w->enabled);
}

static int
read_once(struct worker *w, uint64_t seq, vx_status *st)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out = NULL;
	char user[32];
	int rc;

	snprintf(user, sizeof(user), "user-%d-%llu", w->id,
	    (unsigned long long)(seq % CONTEXTS));
	ctx.user_id = user;
	in.project = "default";
	in.environment = "production";
	in.flag_key = "bw-read";
	in.context = &ctx;
	rc = vx_evaluate(w->client, &in, &out, st);
	vx_free(out);
	return rc;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	vx_status st;
	uint64_t seq = 0;

	while (!atomic_load(w->stop) && !bench_interrupted) {
		bool measured = atomic_load(w->measure);
		uint64_t t0 = bench_now_ns();
		int rc = w->writer ? write_once(w) : read_once(w, seq, &st);
		uint64_t t1 = bench_now_ns();
		seq++;
		if (rc != 0) {
			/* bench_probe_toggle said what failed. */
			snprintf(w->error, sizeof(w->error), "%s",
			    w->writer ? "a write failed" : st.message);
			break;
		}
		/* A call counts when it started inside the measured window. */
		if (measured && atomic_load(w->measure) && record(w, t1 - t0) != 0) {
			snprintf(w->error, sizeof(w->error), "out of memory");
			break;
		}
	}
	return NULL;
}

/* Throughput and percentiles of the writers (or readers) of a phase. */
struct figures {
	uint64_t calls;
	double per_s;
	double p50_us, p99_us;
};

static int
figures(struct worker *ws, int n, bool writers, double secs, struct figures *out)
{
	size_t total = 0, k = 0;
	uint64_t *all;

	for (int i = 0; i < n; i++)
		if (ws[i].writer == writers)
			total += ws[i].n;
	memset(out, 0, sizeof(*out));
	if (total == 0)
		return 0;
	if ((all = malloc(total * sizeof(*all))) == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (ws[i].writer == writers) {
			memcpy(all + k, ws[i].ns, ws[i].n * sizeof(*all));
			k += ws[i].n;
		}
	qsort(all, total, sizeof(*all), bench_cmp_u64);
	out->calls = total;
	out->per_s = (double)total / secs;
	out->p50_us = (double)all[bench_rank(total, 0.50)] / 1000.0;
	out->p99_us = (double)all[bench_rank(total, 0.99)] / 1000.0;
	free(all);
	return 0;
}

/*
 * Runs the readers, and the writers when with_writes, for warm-up then
 * o->seconds measured; *rd and *wr get the readers' and writers' figures.
 */
static int
run_phase(const struct opts *o, struct bench_vexild *v, bool with_writes,
    struct figures *rd, struct figures *wr)
{
	struct worker *ws = calloc(MAX_THREADS, sizeof(*ws));
	atomic_bool measure = false, stop = false;
	int n = 0, rc = -1;
	uint64_t t0, t1;

	if (ws == NULL)
		return -1;
	for (int i = 0; i < o->readers + (with_writes ? o->writers : 0); i++) {
		struct worker *w = &ws[n];
		vx_client_opts co = {.credential = v->key, .timeout_ms = 30000};
		vx_status st;
		co.status = &st;
		w->writer = i >= o->readers;
		w->id = w->writer ? i - o->readers : i;
		w->measure = &measure;
		w->stop = &stop;
		if (vx_client_open(&w->client, v->rpc, &co) != 0) {
			fprintf(stderr, "%s: cannot open a client: %s\n", bench_prog,
			    st.message);
			goto out;
		}
		n++;
	}
	for (int i = 0; i < n; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "%s: cannot start a thread\n", bench_prog);
			atomic_store(&stop, true);
			for (int j = 0; j < i; j++)
				pthread_join(ws[j].thread, NULL);
			goto out;
		}
	bench_sleep_ms((int)(o->warmup * 1000));
	t0 = bench_now_ns();
	atomic_store(&measure, true);
	bench_sleep_ms((int)(o->seconds * 1000));
	atomic_store(&measure, false);
	t1 = bench_now_ns();
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(ws[i].thread, NULL);
	for (int i = 0; i < n; i++)
		if (ws[i].error[0]) {
			fprintf(stderr, "%s: %s\n", bench_prog, ws[i].error);
			goto out;
		}
	if (bench_interrupted)
		goto out;
	if (figures(ws, n, false, (double)(t1 - t0) / 1e9, rd) != 0 ||
	    figures(ws, n, true, (double)(t1 - t0) / 1e9, wr) != 0)
		goto out;
	rc = 0;
out:
	for (int i = 0; i < n; i++) {
		vx_client_close(ws[i].client);
		free(ws[i].ns);
	}
	free(ws);
	return rc;
}

/* vexild's write and commit counters (GetStats). */
static int
counters(vx_client *c, uint64_t *writes, uint64_t *commits)
{
	Vexil__V1__GetStatsRequest in = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CoreStats *out;
	vx_status st;

	if (vx_get_stats(c, &in, &out, &st) != 0) {
		fprintf(stderr, "%s: GetStats: %s\n", bench_prog, st.message);
		return -1;
	}
	*writes = out->writes_total;
	*commits = out->commits_total;
	vx_free(out);
	return 0;
}

/* The writers' flags, and the flag the readers evaluate (on, 50% rollout). */
static int
make_flags(vx_client *c, int writers)
{
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig env = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	char *mask[] = {"env.enabled", "env.rollout_percentage"};
	char key[32];
	vx_status st;

	for (int i = -1; i < writers; i++) {
		if (i < 0)
			snprintf(key, sizeof(key), "bw-read");
		else
			snprintf(key, sizeof(key), "bw-%03d", i);
		if (bench_probe_create(c, key, key) != 0)
			return -1;
	}
	env.environment = "production";
	env.enabled = true;
	env.rollout_percentage = 50;
	up.project = "default";
	up.key = "bw-read";
	up.update = &f;
	up.update_mask = mask;
	up.n_update_mask = 2;
	up.env = &env;
	f.key = "bw-read";
	if (vx_update_flag(c, &up, &out, &st) != 0) {
		fprintf(stderr, "%s: UpdateFlag bw-read: %s\n", bench_prog, st.message);
		return -1;
	}
	vx_free(out);
	return 0;
}

static int
run(const struct opts *o)
{
	static const char *const sync_args[] = {"--workers", "16", NULL};
	static const char *const nosync_args[] = {"--workers", "16", "--no-sync", NULL};
	struct bench_vexild v = {0};
	struct figures alone, rd, wr, none;
	char root[32];
	uint64_t before, after, w0, w1, c0, c1;
	int rc = -1;

	if (bench_make_root(root, sizeof(root)) != 0)
		return -1;
	if (bench_vexild_start(&v, o->vexild, root, "writes", BENCH_TCP,
	        o->no_sync ? nosync_args : sync_args) != 0 ||
	    make_flags(v.client, o->writers) != 0)
		goto out;
	printf("bench_writes: vexild --workers 16, fsync %s, tcp; %d writers (toggles), "
	       "%d readers (Evaluate); %g s per phase after %g s warm-up\n",
	    o->no_sync ? "off (--no-sync)" : "on", o->writers, o->readers, o->seconds,
	    o->warmup);
	fflush(stdout);
	if (run_phase(o, &v, false, &alone, &none) != 0)
		goto out;
	if (bench_probe_revision(v.client, &before) != 0 ||
	    counters(v.client, &w0, &c0) != 0 || run_phase(o, &v, true, &rd, &wr) != 0 ||
	    bench_probe_revision(v.client, &after) != 0 ||
	    counters(v.client, &w1, &c1) != 0)
		goto out;
	if (bench_vexild_check(&v, "the run") != 0)
		goto out;
	printf("%-14s %10s %9s %9s %10s %9s %9s\n", "phase", "writes/s", "w_p50_ms",
	    "w_p99_ms", "reads/s", "r_p50_us", "r_p99_us");
	printf("%-14s %10s %9s %9s %10.0f %9.1f %9.1f\n", "reads alone", "-", "-", "-",
	    alone.per_s, alone.p50_us, alone.p99_us);
	printf("%-14s %10.0f %9.2f %9.2f %10.0f %9.1f %9.1f\n", "writes+reads", wr.per_s,
	    wr.p50_us / 1000.0, wr.p99_us / 1000.0, rd.per_s, rd.p50_us, rd.p99_us);
	printf("write phase (with warm-up): %llu writes in %llu commits, %.1f writes per "
	       "commit\n",
	    (unsigned long long)(w1 - w0), (unsigned long long)(c1 - c0),
	    c1 > c0 ? (double)(w1 - w0) / (double)(c1 - c0) : 0.0);
	printf("reads with writes / alone: throughput %.2fx, p50 %.2fx, p99 %.2fx\n",
	    alone.per_s > 0 ? rd.per_s / alone.per_s : 0,
	    alone.p50_us > 0 ? rd.p50_us / alone.p50_us : 0,
	    alone.p99_us > 0 ? rd.p99_us / alone.p99_us : 0);
	/* Writes counted after the window still moved the revision. */
	if (after - before < wr.calls) {
		fprintf(stderr,
		    "%s: %llu writes acknowledged but the revision moved by %llu\n",
		    bench_prog, (unsigned long long)wr.calls,
		    (unsigned long long)(after - before));
		goto out;
	}
	rc = 0;
out:
	if (bench_vexild_stop(&v) != 0)
		rc = -1;
	bench_remove_tree(root);
	return rc;
}

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: bench_writes [options]\n"
	    "  --vexild PATH     vexild to run (default %s)\n"
	    "  --writers N       concurrent writers, one client each (default 16)\n"
	    "  --readers N       concurrent readers, one client each (default 2)\n"
	    "  --seconds S       measured time per phase (default 5)\n"
	    "  --warmup S        unmeasured time before each phase (default 0.5)\n"
	    "  --no-sync         run vexild with --no-sync (default: fsync on)\n"
	    "  --help            this text\n",
	    vexild_path);
}

int
main(int argc, char **argv)
{
	struct opts o = {.vexild = vexild_path,
	    .writers = 16,
	    .readers = 2,
	    .seconds = 5,
	    .warmup = 0.5};

	bench_init("bench_writes");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--no-sync") == 0) {
			o.no_sync = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "bench_writes: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--vexild") == 0)
			o.vexild = v;
		else if ((strcmp(a, "--writers") == 0 &&
		             bench_parse_int(a, v, 1, MAX_THREADS / 2, &o.writers) ==
		                 0) ||
		         (strcmp(a, "--readers") == 0 &&
		             bench_parse_int(a, v, 0, MAX_THREADS / 2, &o.readers) ==
		                 0) ||
		         (strcmp(a, "--seconds") == 0 &&
		             bench_parse_seconds(a, v, 0.1, &o.seconds) == 0) ||
		         (strcmp(a, "--warmup") == 0 &&
		             bench_parse_seconds(a, v, 0, &o.warmup) == 0))
			continue;
		else {
			usage(stderr);
			return 2;
		}
	}
	return run(&o) == 0 ? 0 : 1;
}
