/*
 * Unit tests for the evaluation-record queue (src/server/evalrec.c), in
 * process: producers push as fast as they can while the flusher drains.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/evalrec.h"

static char dir[64];
static vx_store *s;

static void
setup(void)
{
	vx_store_opts o = {0};
	snprintf(dir, sizeof(dir), "/tmp/vexil-evalrec-XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	o.path = dir;
	o.no_sync = true;
	cr_assert(vx_store_open(&s, &o) == 0);
}

static void
teardown(void)
{
	char cmd[128];
	vx_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert(system(cmd) == 0);
}

TestSuite(evalrec, .init = setup, .fini = teardown, .timeout = 120);

enum { PRODUCERS = 4, PER_PRODUCER = 200000 };

static void *
produce(void *arg)
{
	vx_evalrec *r = arg;
	for (int i = 0; i < PER_PRODUCER; i++)
		vx_evalrec_push(r, VX_COUNT_EVALUATION, 7, "production", i % 2 ? "a" : "b", "on", "SPLIT",
		    "u");
	return NULL;
}

static uint64_t
counted(void)
{
	vx_store_reader rd;
	Vexil__V1__EvalCount **c;
	size_t n;
	uint64_t total = 0;

	vx_store_reader_init(&rd, s);
	cr_assert(vx_store_reader_acquire(&rd) == 0);
	cr_assert(vx_store_evalcount_list(rd.txn, s, 7, 0, "", "", NULL, &c, &n) == 0);
	for (size_t i = 0; i < n; i++) {
		total += c[i]->count;
		free(c[i]);
	}
	free(c);
	vx_store_reader_fini(&rd);
	return total;
}

Test(evalrec, producers_racing_the_flusher_lose_nothing_uncounted)
{
	vx_evalrec *r;
	pthread_t t[PRODUCERS];

	/* A small queue that the producers refill while it is being drained. */
	cr_assert(vx_evalrec_start(&r, s, 1024, 100) == 0);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&t[i], NULL, produce, r);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	vx_evalrec_flush(r);
	uint64_t dropped = vx_evalrec_dropped(r);
	vx_evalrec_stop(r);
	cr_assert_gt(dropped, 0, "the queue overflowed");
	cr_assert_eq(counted() + dropped, (uint64_t)PRODUCERS * PER_PRODUCER);
}

Test(evalrec, stopping_writes_what_is_queued)
{
	vx_evalrec *r;
	cr_assert(vx_evalrec_start(&r, s, 4096, 100) == 0);
	for (int i = 0; i < 3000; i++)
		vx_evalrec_push(r, VX_COUNT_EVALUATION, 7, "production", "f", "on", "SPLIT", "u");
	vx_evalrec_stop(r);
	cr_assert_eq(counted(), 3000);
}

/* More distinct flags than a write chunk holds, queued at once (as one
 * EvaluateAll of a large project does): each is counted exactly once, and
 * the recent log holds the newest `keep`, newest first. */
Test(evalrec, a_queue_of_many_distinct_flags_is_counted_per_flag_and_logs_the_newest)
{
	enum { FLAGS = 5000, KEEP = 100 };
	vx_evalrec *r;
	vx_store_reader rd;
	Vexil__V1__EvalCount **c;
	Vexil__V1__EvalRecord **log;
	size_t n, nlog;
	char key[32];

	cr_assert(vx_evalrec_start(&r, s, 8192, KEEP) == 0);
	for (int i = 0; i < FLAGS; i++) {
		snprintf(key, sizeof(key), "flag-%05d", i);
		vx_evalrec_push(
		    r, VX_COUNT_EVALUATION, 7, "production", key, "on", "STATIC", "u");
	}
	vx_evalrec_stop(r);

	vx_store_reader_init(&rd, s);
	cr_assert(vx_store_reader_acquire(&rd) == 0);
	cr_assert(vx_store_evalcount_list(rd.txn, s, 7, 0, "", "", NULL, &c, &n) == 0);
	cr_expect_eq(n, FLAGS, "%zu counts for %d flags", n, FLAGS);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(c[i]->count, 1, "%s counted %llu times", c[i]->flag_key,
		    (unsigned long long)c[i]->count);
		free(c[i]);
	}
	free(c);
	cr_assert(vx_store_evallog_list(rd.txn, s, 7, 0, NULL, &log, &nlog) == 0);
	cr_expect_eq(nlog, KEEP, "the log holds %zu records", nlog);
	for (size_t i = 0; i < nlog; i++) {
		snprintf(key, sizeof(key), "flag-%05d", FLAGS - 1 - (int)i);
		cr_expect_str_eq(log[i]->flag_key, key, "log entry %zu", i);
		vexil__v1__eval_record__free_unpacked(log[i], NULL);
	}
	free(log);
	vx_store_reader_fini(&rd);
}

enum { LONG_PRODUCERS = 4, LONG_PER_PRODUCER = 50000 };

/* Records of every length, from one slot to the longest (a 128-byte flag
 * key and user id, which take four), pushed by racing producers: each is
 * counted once under its whole key, nothing is lost uncounted, and the
 * log's strings come back intact. */
static void *
produce_long(void *arg)
{
	vx_evalrec *r = arg;
	char flag[129], user[129];
	for (int i = 0; i < LONG_PER_PRODUCER; i++) {
		size_t fl = 1 + (size_t)i % 128, ul = (size_t)(i * 7) % 129;
		memset(flag, 'a' + i % 3, fl);
		flag[fl] = '\0';
		memset(user, 'u', ul);
		user[ul] = '\0';
		vx_evalrec_push(
		    r, VX_COUNT_EVALUATION, 7, "production", flag, "on", "SPLIT", user);
	}
	return NULL;
}

Test(evalrec, long_and_short_records_from_racing_producers_are_counted_whole)
{
	vx_evalrec *r;
	pthread_t t[LONG_PRODUCERS];
	vx_store_reader rd;
	Vexil__V1__EvalRecord **log;
	size_t nlog;

	cr_assert(vx_evalrec_start(&r, s, 1024, 100) == 0);
	for (int i = 0; i < LONG_PRODUCERS; i++)
		pthread_create(&t[i], NULL, produce_long, r);
	for (int i = 0; i < LONG_PRODUCERS; i++)
		pthread_join(t[i], NULL);
	vx_evalrec_flush(r);
	uint64_t dropped = vx_evalrec_dropped(r);
	vx_evalrec_stop(r);
	cr_assert_eq(counted() + dropped, (uint64_t)LONG_PRODUCERS * LONG_PER_PRODUCER);

	vx_store_reader_init(&rd, s);
	cr_assert(vx_store_reader_acquire(&rd) == 0);
	cr_assert(vx_store_evallog_list(rd.txn, s, 7, 0, NULL, &log, &nlog) == 0);
	cr_expect_gt(nlog, 0);
	for (size_t i = 0; i < nlog; i++) {
		const char *f = log[i]->flag_key, *u = log[i]->user_id;
		char one[2] = {f[0], '\0'};
		size_t fl = strlen(f);
		cr_expect(
		    fl >= 1 && fl <= 128 && strchr("abc", f[0]) && strspn(f, one) == fl,
		    "flag key %s", f);
		cr_expect_eq(strspn(u, "u"), strlen(u), "user %s", u);
		cr_expect_str_eq(log[i]->environment, "production");
		cr_expect_str_eq(log[i]->variant, "on");
		cr_expect_str_eq(log[i]->reason, "SPLIT");
		vexil__v1__eval_record__free_unpacked(log[i], NULL);
	}
	free(log);
	vx_store_reader_fini(&rd);
}

/* The flag keys of project's recent log, newest first, as "k1 k2 ...". */
static void
log_keys(uint64_t project, char *out, size_t cap, size_t *n)
{
	vx_store_reader rd;
	Vexil__V1__EvalRecord **log;
	size_t used = 0;

	out[0] = '\0';
	vx_store_reader_init(&rd, s);
	cr_assert(vx_store_reader_acquire(&rd) == 0);
	cr_assert(vx_store_evallog_list(rd.txn, s, project, 0, NULL, &log, n) == 0);
	for (size_t i = 0; i < *n; i++) {
		used += (size_t)snprintf(
		    out + used, cap - used, "%s%s", i ? " " : "", log[i]->flag_key);
		cr_assert(used < cap);
		vexil__v1__eval_record__free_unpacked(log[i], NULL);
	}
	free(log);
	vx_store_reader_fini(&rd);
}

/* What the newest `keep` of `total` records named f-<i> read as. */
static void
expect_keys(size_t total, size_t keep, size_t step, size_t first, char *out, size_t cap)
{
	size_t used = 0, k = 0;

	out[0] = '\0';
	for (size_t i = total; i-- > 0 && k < keep;) {
		if (i % step != first)
			continue;
		used += (size_t)snprintf(
		    out + used, cap - used, "%sf-%zu", k++ ? " " : "", i);
		cr_assert(used < cap);
	}
}

/*
 * A flush logs only what can survive its trim, and that changes nothing
 * the log shows: two projects interleaved over several write chunks (one
 * busy, one seldom evaluated), with aggregates and exposures among them,
 * leave each project's newest `keep` evaluations, newest first; the quiet
 * project keeps all of its own. A second flush replaces the first's.
 */
Test(evalrec, the_recent_log_keeps_the_newest_per_project_across_chunks_and_flushes)
{
	enum { TOTAL = 5000, KEEP = 100, QUIET_EVERY = 100 };
	static char got[16384], want[16384];
	vx_evalrec *r;
	char key[32];
	size_t n;

	cr_assert(vx_evalrec_start(&r, s, 16384, KEEP) == 0);
	for (size_t i = 0; i < TOTAL; i++) {
		snprintf(key, sizeof(key), "f-%zu", i);
		vx_evalrec_push(r, VX_COUNT_EVALUATION, i % QUIET_EVERY == 3 ? 8 : 7,
		    "production", key, "on", "SPLIT", "u");
		if (i % 700 == 0) {
			vx_evalrec_push(r, VX_COUNT_EXPOSURE, 7, "production", "x", "on",
			    "SPLIT", "u");
			vx_evalrec_push_count(r, 8, "production", "tallied", "on", 5);
		}
	}
	vx_evalrec_flush(r);
	log_keys(7, got, sizeof(got), &n);
	cr_expect_eq(n, KEEP);
	/* Project 7 holds every i but those of 8 (i % 100 == 3). */
	{
		size_t used = 0, k = 0;
		want[0] = '\0';
		for (size_t i = TOTAL; i-- > 0 && k < KEEP;)
			if (i % QUIET_EVERY != 3)
				used += (size_t)snprintf(want + used, sizeof(want) - used,
				    "%sf-%zu", k++ ? " " : "", i);
	}
	cr_expect_str_eq(got, want);
	log_keys(8, got, sizeof(got), &n);
	cr_expect_eq(n, TOTAL / QUIET_EVERY, "the quiet project keeps all %zu", n);
	expect_keys(TOTAL, KEEP, QUIET_EVERY, 3, want, sizeof(want));
	cr_expect_str_eq(got, want);

	/* A second flush of project 8 alone: its newest KEEP, none older. */
	for (size_t i = 0; i < 3 * KEEP; i++) {
		snprintf(key, sizeof(key), "f-%zu", TOTAL + i);
		vx_evalrec_push(
		    r, VX_COUNT_EVALUATION, 8, "production", key, "on", "SPLIT", "u");
	}
	vx_evalrec_stop(r);
	log_keys(8, got, sizeof(got), &n);
	cr_expect_eq(n, KEEP);
	expect_keys(TOTAL + 3 * KEEP, KEEP, 1, 0, want, sizeof(want));
	cr_expect_str_eq(got, want);
	log_keys(7, got, sizeof(got), &n);
	cr_expect_eq(n, KEEP, "project 7's log is untouched");
}
