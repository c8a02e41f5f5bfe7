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

/* One read, its vx_* result code and status. */
typedef int (*read_fn)(vx_client *c, vx_status *st);

struct reader {
	vx_client *c;
	read_fn call;
	int want, ok, as_wanted, other; /* want: the refusal expected */
	char last[sizeof(((vx_status *)0)->message) + 16];
};

/* MEMO_CALLS reads, counted by how they were answered. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	vx_status st;

	for (int i = 0; i < MEMO_CALLS; i++) {
		int rc = r->call(r->c, &st);
		if (rc == 0) {
			r->ok++;
		} else if (rc == r->want) {
			r->as_wanted++;
		} else {
			r->other++;
			snprintf(r->last, sizeof(r->last), "%d: %s", rc, st.message);
		}
	}
	return NULL;
}

/*
 * MEMO_CLIENTS connections with credential make MEMO_CALLS reads each at
 * once, spread over every receiving context; asserts that all of them were
 * answered (want 0) or all refused with want.
 */
static void
read_everywhere(const char *credential, read_fn call, int want)
{
	struct reader r[MEMO_CLIENTS];
	pthread_t th[MEMO_CLIENTS];

	for (int i = 0; i < MEMO_CLIENTS; i++) {
		r[i] = (struct reader){
		    .c = vx_harness_client(&h, credential), .call = call, .want = want};
		cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < MEMO_CLIENTS; i++) {
		pthread_join(th[i], NULL);
		vx_client_close(r[i].c);
	}
	for (int i = 0; i < MEMO_CLIENTS; i++)
		cr_assert_eq(want == 0 ? r[i].ok : r[i].as_wanted, MEMO_CALLS,
		    "client %d: of %d reads, %d answered, %d refused with %d, %d "
		    "otherwise "
		    "(%s)",
		    i, MEMO_CALLS, r[i].ok, r[i].as_wanted, want, r[i].other, r[i].last);
}

static int
list_projects(vx_client *c, vx_status *st)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out = NULL;
	int rc = vx_list_projects(c, &in, &out, st);

	if (rc == VX_EAUTH && strstr(st->message, "revoked") == NULL)
		rc = VX_EINTERNAL; /* refused, but not for the revocation */
	vx_free(out);
	return rc;
}

/* What evaluate_in() evaluates, and the field a refusal must name. */
static const char *eval_project, *eval_env, *eval_field;

static int
evaluate_in(vx_client *c, vx_status *st)
{
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out = NULL;
	int rc;

	in.project = (char *)eval_project;
	in.environment = (char *)eval_env;
	in.context = &ctx;
	ctx.user_id = "memo-user";
	rc = vx_evaluate_all(c, &in, &out, st);
	if (rc != 0 && strcmp(st->field, eval_field) != 0)
		rc = VX_EINTERNAL; /* refused, but not for that field */
	vx_free(out);
	return rc;
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
	vx_status st;

	vx_harness_start(&h, args);
	in.name = "memo";
	in.role = VEXIL__V1__ROLE__ROLE_READ;
	cr_assert(vx_create_api_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	read_everywhere(k->secret, list_projects, 0);
	rv.id = k->key->id;
	cr_assert(vx_revoke_api_key(h.admin, &rv, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	read_everywhere(k->secret, list_projects, VX_EAUTH);
	vx_free(k);
	vx_harness_fini(&h);
}

static int
get_default(vx_client *c, vx_status *st)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *out = NULL;
	int rc;

	in.project = "default";
	rc = vx_get_project(c, &in, &out, st);
	vx_free(out);
	return rc;
}

/*
 * The contexts also share the last key any of them admitted in the
 * snapshot (server/readmemo.h, vx_credmemo). A key of this project, a key
 * of another one and a forged key one character off the first, used at
 * once over every context, are each answered as their own.
 */
Test(async, keys_used_at_once_over_every_context_are_each_answered_as_their_own,
    .timeout = 120)
{
	static const char *const args[] = {"--workers", "4", NULL};
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	char keys[3][128];
	int want[3] = {0, 0, VX_EAUTH};
	struct reader r[3][2];
	pthread_t th[3][2];
	vx_client *once;
	vx_status st;
	size_t len;

	vx_harness_start(&h, args);
	cp.name = "memo-b";
	cr_assert(vx_create_project(h.admin, &cp, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	vx_harness_key(
	    &h, "default", VEXIL__V1__ROLE__ROLE_READ, keys[0], sizeof(keys[0]));
	vx_harness_key(
	    &h, "memo-b", VEXIL__V1__ROLE__ROLE_READ, keys[1], sizeof(keys[1]));
	strcpy(keys[2], keys[0]);
	len = strlen(keys[2]);
	keys[2][len - 1] = keys[2][len - 1] == 'a' ? 'b' : 'a';
	once = vx_harness_client(&h, keys[1]);
	want[1] = get_default(once, &st);
	cr_assert_neq(want[1], 0, "a key of memo-b reads nothing of default");
	vx_client_close(once);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 2; i++) {
			r[k][i] = (struct reader){.c = vx_harness_client(&h, keys[k]),
			    .call = get_default,
			    .want = want[k]};
			cr_assert_eq(
			    pthread_create(&th[k][i], NULL, reader_main, &r[k][i]), 0);
		}
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 2; i++) {
			pthread_join(th[k][i], NULL);
			vx_client_close(r[k][i].c);
			cr_assert_eq(k == 0 ? r[k][i].ok : r[k][i].as_wanted, MEMO_CALLS,
			    "key %d, client %d: of %d reads, %d answered, %d refused "
			    "with "
			    "%d, %d otherwise (%s)",
			    k, i, MEMO_CALLS, r[k][i].ok, r[k][i].as_wanted, want[k],
			    r[k][i].other, r[k][i].last);
		}
	vx_harness_fini(&h);
}

/*
 * The contexts also remember the project an evaluation found by name and
 * the environment it found in it, under the same rule: once the project
 * is renamed, or the environment deleted, every context says so.
 */
Test(async, a_renamed_project_and_a_deleted_environment_are_seen_by_every_context,
    .timeout = 120)
{
	static const char *const args[] = {"--workers", "4", NULL};
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__UpdateProjectRequest up = VEXIL__V1__UPDATE_PROJECT_REQUEST__INIT;
	Vexil__V1__DeleteEnvironmentRequest de =
	    VEXIL__V1__DELETE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Project *p, update = VEXIL__V1__PROJECT__INIT;
	Vexil__V1__Empty *e;
	char *mask[] = {"name"};
	vx_status st;

	vx_harness_start(&h, args);
	cp.name = "memo-p";
	cr_assert(vx_create_project(h.admin, &cp, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	eval_project = "memo-p";
	eval_env = "staging";
	eval_field = "project";
	read_everywhere(h.key, evaluate_in, 0);

	up.project = "memo-p";
	update.name = "memo-q";
	up.update = &update;
	up.update_mask = mask;
	up.n_update_mask = 1;
	cr_assert(vx_update_project(h.admin, &up, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	read_everywhere(h.key, evaluate_in, VX_ENOTFOUND);

	eval_project = "memo-q";
	read_everywhere(h.key, evaluate_in, 0);
	de.project = "memo-q";
	de.key = "staging";
	cr_assert(vx_delete_environment(h.admin, &de, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	eval_field = "environment";
	read_everywhere(h.key, evaluate_in, VX_ENOTFOUND);
	vx_harness_fini(&h);
}
