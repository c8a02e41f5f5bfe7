/*
 * Vexil crash-safety test: SIGKILL vexild at random moments while writers
 * commit, then check the data dir. VX_CRASH_ROUNDS sets the number of
 * rounds (200 by default; CI's sanitizer pass runs fewer).
 *
 * After each round:
 *  - vexild starts on the data dir and answers;
 *  - every write it acknowledged is there;
 *  - nothing is half-written: the change log runs without a gap up to the
 *    project's revision, and the flags that exist are exactly those the
 *    log says were created;
 *  - every few rounds, `vexild --check` finds the killed one's data dir
 *    clean (every index, revision and log invariant of the store).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static vx_harness h;

struct writer {
	int id, round;
	char (*acked)[48];
	atomic_int *nacked;
	atomic_bool *stop;
};

static void *
write_flags(void *arg)
{
	struct writer *w = arg;
	vx_client *c = vx_harness_client(&h, h.key);
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_status st;
	char key[48];

	vx_client_set_timeout(c, 1000);
	in.project = "default";
	in.flag = &f;
	f.key = key;
	for (int i = 0; !atomic_load(w->stop); i++) {
		snprintf(key, sizeof(key), "r%d-w%d-%d", w->round, w->id, i);
		if (vx_create_flag(c, &in, &out, &st) != 0)
			break; /* vexild is gone */
		vx_free(out);
		int slot = atomic_fetch_add(w->nacked, 1);
		snprintf(w->acked[slot], sizeof(w->acked[slot]), "%s", key);
	}
	vx_client_close(c);
	return NULL;
}

/* Reads every flag key, a page at a time. */
static char **
all_flags(size_t *n)
{
	Vexil__V1__ListFlagsRequest lf = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *page;
	vx_status st;
	char **keys = NULL;

	*n = 0;
	lf.project = "default";
	lf.limit = 500;
	do {
		lf.offset = (uint32_t)*n;
		cr_assert(vx_list_flags(h.admin, &lf, &page, &st) == 0, "%s", st.message);
		keys = realloc(keys, (*n + page->n_flags + 1) * sizeof(*keys));
		for (size_t i = 0; i < page->n_flags; i++)
			keys[(*n)++] = strdup(page->flags[i]->key);
		bool last = page->n_flags < lf.limit;
		vx_free(page);
		if (last)
			break;
	} while (1);
	return keys;
}

/* `vexild --check` on the data dir of the vexild just killed. */
static void
check_store(int round)
{
	char cmd[600], out[8192];
	size_t n;
	FILE *p;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s --check --data '%s' 2>&1", VX_VEXILD_PATH, h.dir);
	cr_assert_not_null(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	rc = pclose(p);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "round %d: --check failed:\n%s",
	    round, out);
}

static int
by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
check(char (*acked)[48], int nacked)
{
	Vexil__V1__ChangesRequest ch = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *log;
	vx_status st;
	size_t created = 0, n;
	uint64_t rev = 1, head;
	char **keys = all_flags(&n);

	/* Walk the whole log, a bounded reply at a time. */
	ch.project = "default";
	do {
		ch.since = rev; /* revision 1 is the bootstrap */
		cr_assert(vx_changes(h.admin, &ch, &log, &st) == 0, "%s", st.message);
		cr_assert(!log->snapshot, "the whole log is kept");
		for (size_t i = 0; i < log->n_changes; i++) {
			cr_assert_eq(log->changes[i]->revision, rev + 1, "the log has a gap after %llu",
			    (unsigned long long)rev);
			rev++;
			if (log->changes[i]->kind == VEXIL__V1__CHANGE_KIND__FLAG_CREATED)
				created++;
		}
		head = log->head_revision;
		vx_free(log);
	} while (rev < head);
	cr_assert_eq(rev, head, "log ends at %llu, revision is %llu", (unsigned long long)rev,
	    (unsigned long long)head);
	cr_assert_eq(created, n, "%zu flags, %zu creations logged", n, created);
	/* Every acknowledged write survived (flags list in key order). */
	for (int i = 0; i < nacked; i++) {
		char *want = acked[i];
		cr_assert_not_null(bsearch(&want, keys, n, sizeof(*keys), by_str),
		    "acknowledged flag %s is gone", acked[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

Test(crash, sigkill_mid_write_loses_no_acknowledged_write, .timeout = 900)
{
	const char *env = getenv("VX_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : 200;
	static char acked[200000][48];
	atomic_int nacked = 0;

	srand((unsigned)getpid());
	vx_harness_start(&h, NULL);
	for (int round = 0; round < rounds; round++) {
		enum { W = 4 };
		pthread_t t[W];
		struct writer w[W];
		atomic_bool stop = false;
		int before = atomic_load(&nacked);

		for (int i = 0; i < W; i++) {
			w[i] = (struct writer){i, round, acked, &nacked, &stop};
			pthread_create(&t[i], NULL, write_flags, &w[i]);
		}
		usleep((useconds_t)(2000 + rand() % 40000));
		kill(h.pid, SIGKILL);
		waitpid(h.pid, NULL, 0);
		h.pid = 0;
		atomic_store(&stop, true);
		for (int i = 0; i < W; i++)
			pthread_join(t[i], NULL);
		cr_assert_lt(atomic_load(&nacked), 190000, "too many writes for the buffer");
		if (round % 5 == 0 || round == rounds - 1)
			check_store(round);
		vx_harness_restart(&h);
		check(acked, atomic_load(&nacked));
		(void)before;
	}
	cr_log_info("%d rounds, %d acknowledged writes checked", rounds, atomic_load(&nacked));
	cr_assert_gt(atomic_load(&nacked), 0, "writes were acknowledged at all");
	vx_harness_fini(&h);
}
