/*
 * Vexil integration tests: group commit (issue 17).
 *
 * Writes that arrive together are committed several to a transaction
 * with one fsync. What must hold however they are grouped: every write
 * acknowledged is durable (a kill -9 right after loses none), each has
 * its own revision (dense, no two alike) and its own change log entry,
 * and a write refused inside a batch is refused alone, with its own
 * error, while the others commit. The store's own suite pins a batch
 * deterministically; here the writes come over the wire from sixteen
 * clients at once, with fsync on.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static vx_harness h;

static void
teardown(void)
{
	vx_harness_fini(&h);
}

/* Each test starts vexild itself, with fsync on (no --no-sync). */
TestSuite(group, .fini = teardown, .timeout = 180);

#define P "default"
#define WRITERS 16
#define PER_WRITER 25

/* One writer's calls and what each was answered. */
struct writer {
	int id;
	int bad_every; /* every bad_every-th call recreates a taken key; 0: none */
	int rc[PER_WRITER];
	vx_status st[PER_WRITER];
	char key[PER_WRITER][32];
};

static void *
write_flags(void *arg)
{
	struct writer *w = arg;
	vx_client *c = vx_harness_client(&h, h.key);

	for (int i = 0; i < PER_WRITER; i++) {
		Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
		Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out = NULL;
		bool bad = w->bad_every && i % w->bad_every == w->bad_every - 1;

		if (bad)
			snprintf(w->key[i], sizeof(w->key[i]), "taken");
		else
			snprintf(w->key[i], sizeof(w->key[i]), "w%02d-%03d", w->id, i);
		f.key = w->key[i];
		in.project = P;
		in.flag = &f;
		w->rc[i] = vx_create_flag(c, &in, &out, &w->st[i]);
		vx_free(out);
	}
	vx_client_close(c);
	return NULL;
}

static void
run_writers(struct writer *w, int bad_every)
{
	pthread_t t[WRITERS];

	for (int i = 0; i < WRITERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].bad_every = bad_every;
		pthread_create(&t[i], NULL, write_flags, &w[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
}

/*
 * The project's change log after `since`, in order, must be exactly the
 * acknowledged writes: one entry each, at the revision its reply named,
 * for the flag it created.
 */
static void
assert_log_is_the_acknowledged(struct writer *w, uint64_t since, size_t acked)
{
	const char **at = calloc(acked + 1, sizeof(*at));
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_status st;
	size_t seen = 0;

	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < PER_WRITER; j++) {
			uint64_t rev = w[i].st[j].revision;
			if (w[i].rc[j] != 0)
				continue;
			cr_assert(rev > since && rev <= since + acked,
			    "%s was acknowledged at revision %llu, outside %llu..%llu",
			    w[i].key[j], (unsigned long long)rev,
			    (unsigned long long)since + 1,
			    (unsigned long long)(since + acked));
			cr_assert_null(at[rev - since],
			    "revision %llu acknowledged twice", (unsigned long long)rev);
			at[rev - since] = w[i].key[j];
		}
	in.project = P;
	in.since = since;
	do {
		cr_assert(vx_changes(h.admin, &in, &out, &st) == 0, "%s", st.message);
		cr_assert(!out->snapshot);
		for (size_t i = 0; i < out->n_changes; i++) {
			const Vexil__V1__Change *c = out->changes[i];
			seen++;
			cr_assert_eq(c->revision, since + seen, "dense revisions");
			cr_assert_eq(c->kind, VEXIL__V1__CHANGE_KIND__FLAG_CREATED);
			cr_assert_str_eq(c->flag_key, at[c->revision - since],
			    "revision %llu's entry", (unsigned long long)c->revision);
		}
		in.since = out->revision;
		bool more = out->revision < out->head_revision;
		vx_free(out);
		if (!more)
			break;
	} while (true);
	cr_assert_eq(seen, acked, "one change log entry per acknowledged write");
	free(at);
}

/* The project's flags (at most 1000: these tests make fewer). */
static Vexil__V1__FlagList *
list_flags(void)
{
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *list;
	vx_status st;

	in.project = P;
	cr_assert(vx_list_flags(h.admin, &in, &list, &st) == 0, "%s", st.message);
	cr_assert_lt(list->n_flags, 1000);
	return list;
}

static bool
has_flag(const Vexil__V1__FlagList *list, const char *key)
{
	for (size_t i = 0; i < list->n_flags; i++)
		if (strcmp(list->flags[i]->key, key) == 0)
			return true;
	return false;
}

static Vexil__V1__CoreStats *
stats(void)
{
	Vexil__V1__GetStatsRequest in = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CoreStats *out;
	vx_status st;

	cr_assert(vx_get_stats(h.admin, &in, &out, &st) == 0, "%s", st.message);
	return out;
}

Test(group, sixteen_writers_are_all_acknowledged_and_survive_a_kill_9)
{
	static const char *const args[] = {"--quiet", NULL};
	static struct writer w[WRITERS];
	Vexil__V1__CoreStats *a, *b;
	uint64_t start;

	vx_harness_start(&h, args);
	start = vx_project_revision(h.admin, P);
	a = stats();
	run_writers(w, 0);
	b = stats();
	cr_assert_eq(b->writes_total - a->writes_total, WRITERS * PER_WRITER);
	cr_assert(b->commits_total > a->commits_total &&
	              b->commits_total - a->commits_total <= WRITERS * PER_WRITER,
	    "%llu transactions",
	    (unsigned long long)(b->commits_total - a->commits_total));
	vx_free(a);
	vx_free(b);
	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < PER_WRITER; j++) {
			cr_assert_eq(
			    w[i].rc[j], 0, "%s: %s", w[i].key[j], w[i].st[j].message);
			cr_assert_eq(w[i].st[j].project_id, w[0].st[0].project_id);
		}

	/* No clean shutdown: what was acknowledged must already be on disk. */
	kill(h.pid, SIGKILL);
	waitpid(h.pid, NULL, 0);
	h.pid = 0;
	vx_harness_restart(&h);
	cr_assert_eq(vx_project_revision(h.admin, P), start + WRITERS * PER_WRITER);
	Vexil__V1__FlagList *list = list_flags();
	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < PER_WRITER; j++)
			cr_assert(has_flag(list, w[i].key[j]), "%s lost", w[i].key[j]);
	vx_free(list);
	assert_log_is_the_acknowledged(w, start, WRITERS * PER_WRITER);
}

Test(group, a_bad_write_among_concurrent_ones_is_refused_alone)
{
	static const char *const args[] = {"--quiet", NULL};
	static struct writer w[WRITERS];
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__FlagList *list;
	vx_status st;
	uint64_t start;
	size_t good = 0, bad = 0, before;

	vx_harness_start(&h, args);
	f.key = "taken";
	in.project = P;
	in.flag = &f;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	list = list_flags();
	before = list->n_flags;
	vx_free(list);
	start = vx_project_revision(h.admin, P);

	/* A third of the writes create a key that exists: refused in the
	 * write itself, in whatever batch they fall, next to good ones. */
	run_writers(w, 3);
	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < PER_WRITER; j++) {
			if (strcmp(w[i].key[j], "taken") != 0) {
				cr_assert_eq(w[i].rc[j], 0, "%s: %s", w[i].key[j],
				    w[i].st[j].message);
				good++;
				continue;
			}
			bad++;
			cr_assert_neq(w[i].rc[j], 0);
			cr_assert_eq(w[i].st[j].code, VEXIL__V1__CODE__ALREADY_EXISTS,
			    "%s", vx_code_name(w[i].st[j].code));
			cr_assert_not_null(
			    strstr(w[i].st[j].message, "flag taken already exists"), "%s",
			    w[i].st[j].message);
			cr_assert_eq(
			    w[i].st[j].revision, 0, "a refused write names no revision");
		}
	cr_assert_gt(bad, 0);
	cr_assert_eq(vx_project_revision(h.admin, P), start + good);
	assert_log_is_the_acknowledged(w, start, good);
	list = list_flags();
	cr_assert_eq(list->n_flags, before + good);
	for (int i = 0; i < WRITERS; i++)
		for (int j = 0; j < PER_WRITER; j++)
			cr_assert_eq(has_flag(list, w[i].key[j]),
			    w[i].rc[j] == 0 || strcmp(w[i].key[j], "taken") == 0, "%s",
			    w[i].key[j]);
	vx_free(list);
}
