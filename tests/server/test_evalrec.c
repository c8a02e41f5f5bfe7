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
