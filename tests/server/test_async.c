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

#define MEMO_CLIENTS 6
#define MEMO_CALLS 30

struct lister {
	vx_client *c;
	int ok, revoked, other;
	char last[256];
};

/* MEMO_CALLS reads with one key, counted by how they were answered. */
static void *
lister_main(void *arg)
{
	struct lister *l = arg;
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_status st;

	for (int i = 0; i < MEMO_CALLS; i++) {
		int rc = vx_list_projects(l->c, &in, &out, &st);
		if (rc == 0) {
			l->ok++;
			vx_free(out);
		} else if (rc == VX_EAUTH && strstr(st.message, "revoked") != NULL) {
			l->revoked++;
		} else {
			l->other++;
			snprintf(l->last, sizeof(l->last), "%s", st.message);
		}
	}
	return NULL;
}

/* MEMO_CLIENTS connections read with key at once; the tallies in l. */
static void
read_with(const char *key, struct lister l[MEMO_CLIENTS])
{
	pthread_t th[MEMO_CLIENTS];

	for (int i = 0; i < MEMO_CLIENTS; i++) {
		l[i] = (struct lister){.c = vx_harness_client(&h, key)};
		cr_assert_eq(pthread_create(&th[i], NULL, lister_main, &l[i]), 0);
	}
	for (int i = 0; i < MEMO_CLIENTS; i++) {
		pthread_join(th[i], NULL);
		vx_client_close(l[i].c);
	}
}

/*
 * Each receiving context remembers the last key it admitted, for as long
 * as no commit came in (server/readmemo.h). Reads from several
 * connections at once spread one key over every context; once the key is
 * revoked, every read with it is refused, whichever context takes it.
 */
Test(async, a_revoked_key_is_refused_by_every_context_that_admitted_it, .timeout = 120)
{
	static const char *const args[] = {"--workers", "4", NULL};
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__RevokeApiKeyRequest rv = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	Vexil__V1__Empty *e;
	struct lister l[MEMO_CLIENTS];
	vx_status st;

	vx_harness_start(&h, args);
	in.name = "memo";
	in.role = VEXIL__V1__ROLE__ROLE_READ;
	cr_assert(vx_create_api_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	read_with(k->secret, l);
	for (int i = 0; i < MEMO_CLIENTS; i++)
		cr_assert_eq(l[i].ok, MEMO_CALLS,
		    "client %d: %d of %d reads answered (%s)", i, l[i].ok, MEMO_CALLS,
		    l[i].last);

	rv.id = k->key->id;
	cr_assert(vx_revoke_api_key(h.admin, &rv, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	read_with(k->secret, l);
	for (int i = 0; i < MEMO_CLIENTS; i++)
		cr_assert_eq(l[i].revoked, MEMO_CALLS,
		    "client %d: %d of %d reads refused as revoked, %d answered (%s)", i,
		    l[i].revoked, MEMO_CALLS, l[i].ok, l[i].last);
	vx_free(k);
	vx_harness_fini(&h);
}
