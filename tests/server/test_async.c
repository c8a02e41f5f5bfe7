/*
 * Vexil integration tests: vexild's asynchronous request path keeps
 * --workers contexts receiving however many requests wait elsewhere. A
 * request handed to a lane (a sign-up waiting for Argon2, a write waiting
 * for fsync) gives up its context to a fresh one; before that was so,
 * --workers of them left no context receiving and every read waited
 * behind them (the stall that reverted the first landing of this path).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static vx_harness h;

#define WORKERS 2
#define SIGNUPS 12

struct signup {
	vx_client *c;
	int i, rc;
	vx_status st;
	atomic_int *done;
};

static void *
signup_main(void *arg)
{
	struct signup *s = arg;
	Vexil__V1__RegisterRequest in = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__User *u = NULL;
	char email[64];

	snprintf(email, sizeof(email), "lane%d@example.com", s->i);
	in.email = email;
	in.password = "secret-pw";
	s->rc = vx_register_user(s->c, &in, &u, &s->st);
	vx_free(u);
	atomic_fetch_add(s->done, 1);
	return NULL;
}

/*
 * Two receiving contexts, one Argon2 hash at a time and room for all the
 * sign-ups in its queue: every sign-up is received at once and waits in
 * the lane, more of them than there are contexts, while reads (GetStats,
 * which reports the queue) are answered meanwhile. Had each waiting
 * sign-up kept its context, the queue could never hold more than the
 * contexts, and the reads would wait for the hashes.
 */
Test(async, sign_ups_waiting_for_argon2_leave_the_contexts_to_reads, .timeout = 120)
{
	static const char *const args[] = {
	    "--workers", "2", "--hash-workers", "1", "--hash-queue", "64", NULL};
	Vexil__V1__GetStatsRequest in = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CoreStats *out;
	struct signup s[SIGNUPS];
	pthread_t th[SIGNUPS];
	atomic_int done = 0;
	uint32_t most = 0;
	vx_client *anon;
	vx_status st;

	vx_harness_start(&h, args);
	anon = vx_harness_client(&h, NULL);
	vx_client_set_timeout(anon, 100000);
	for (int i = 0; i < SIGNUPS; i++) {
		s[i] = (struct signup){.c = anon, .i = i, .done = &done};
		cr_assert_eq(pthread_create(&th[i], NULL, signup_main, &s[i]), 0);
	}
	/* Reads while the sign-ups hash one at a time: the deepest queue
	 * they see. */
	while (atomic_load(&done) < SIGNUPS && most <= WORKERS) {
		cr_assert_eq(vx_get_stats(h.admin, &in, &out, &st), 0,
		    "a read is answered while sign-ups wait: %s", st.message);
		if (out->hash_queue_depth > most)
			most = out->hash_queue_depth;
		vx_free(out);
	}
	for (int i = 0; i < SIGNUPS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < SIGNUPS; i++)
		cr_assert_eq(s[i].rc, 0, "sign-up %d: %s", i, s[i].st.message);
	cr_assert_gt(most, WORKERS,
	    "with %d contexts, %d sign-ups waited for Argon2 at once, and reads "
	    "were answered meanwhile (the deepest queue seen was %u)",
	    WORKERS, SIGNUPS, most);
	vx_client_close(anon);
	vx_harness_fini(&h);
}
