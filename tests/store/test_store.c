/*
 * Vexil store unit tests: the LMDB layer on a temp dir, no server.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

static char dir[64];
static vx_store *s;
static size_t commits;

static void
count_commits(void *arg, const Vexil__V1__Change *const *changes, size_t n)
{
	(void)arg;
	(void)changes;
	commits += n;
}

static void
open_store(size_t map_size, size_t map_max)
{
	vx_store_opts o = {.path = dir, .map_size = map_size, .map_max = map_max,
		.on_commit = count_commits};
	cr_assert(vx_store_open(&s, &o) == 0);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vexil-store-XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	commits = 0;
	open_store(0, 0);
}

static void
teardown(void)
{
	char cmd[128];
	vx_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert(system(cmd) == 0);
}

TestSuite(store, .init = setup, .fini = teardown);

struct mk {
	const char *name;
	uint64_t id;
	int fail_after; /* return this error after recording the change */
	int nflags;
	size_t desc_len;
};

static int
make_project(vx_wtxn *w, void *arg)
{
	struct mk *m = arg;
	Vexil__V1__Project p = VEXIL__V1__PROJECT__INIT;
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_PROJECT, &p.id)) != 0)
		return rc;
	p.name = (char *)m->name;
	if ((rc = vx_store_project_put(w, &p)) != 0)
		return rc;
	if ((rc = vx_store_record_change(w, &p, VEXIL__V1__CHANGE_KIND__PROJECT_CREATED, "", "",
		 p.id, "test", "make_project")) != 0)
		return rc;
	m->id = p.id;
	return m->fail_after;
}

static int
add_flags(vx_wtxn *w, void *arg)
{
	struct mk *m = arg;
	Vexil__V1__Project *p;
	char key[32], *desc = malloc(m->desc_len + 1);
	int rc;

	memset(desc, 'x', m->desc_len);
	desc[m->desc_len] = '\0';
	if ((rc = vx_store_project_get(vx_wtxn_txn(w), s, m->id, NULL, &p)) != 0)
		goto out;
	for (int i = 0; i < m->nflags; i++) {
		Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT;
		snprintf(key, sizeof(key), "flag-%05d", m->nflags - i);
		f.project_id = m->id;
		f.key = key;
		f.description = desc;
		if ((rc = vx_store_next_id(w, VX_SEQ_FLAG, &f.id)) != 0 ||
		    (rc = vx_store_flag_put(w, &f)) != 0)
			break;
	}
	if (rc == 0)
		rc = vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__FLAG_CREATED, "", "", 0,
		    "test", "add_flags");
	protobuf_c_message_free_unpacked(&p->base, NULL);
out:
	free(desc);
	return rc;
}

Test(store, a_project_round_trips_and_its_name_is_unique)
{
	struct mk m = {.name = "alpha"};
	vx_store_reader r;
	Vexil__V1__Project *p;
	uint64_t id;

	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	cr_assert_eq(vx_store_write(s, NULL, make_project, &m), VX_EEXIST);
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_project_find(r.txn, s, 0, "alpha", &id) == 0);
	cr_assert(vx_store_project_get(r.txn, s, id, NULL, &p) == 0);
	cr_assert_str_eq(p->name, "alpha");
	cr_assert_eq(p->revision, 1);
	protobuf_c_message_free_unpacked(&p->base, NULL);
	cr_assert_eq(vx_store_project_get(r.txn, s, id + 100, NULL, &p), VX_ENOTFOUND);
	vx_store_reader_fini(&r);
}

Test(store, revision_change_log_and_audit_commit_together_or_not_at_all)
{
	struct mk ok = {.name = "beta"}, bad = {.name = "gamma", .fail_after = VX_EINVAL};
	vx_store_reader r;
	Vexil__V1__Change **ch;
	Vexil__V1__AuditEntry **au;
	size_t n;
	uint64_t id, oldest;

	cr_assert(vx_store_write(s, NULL, make_project, &ok) == 0);
	cr_assert_eq(commits, 1, "the commit hook saw the change");
	cr_assert_eq(vx_store_write(s, NULL, make_project, &bad), VX_EINVAL);
	cr_assert_eq(commits, 1, "an aborted write publishes nothing");

	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert_eq(vx_store_project_find(r.txn, s, 0, "gamma", &id), VX_ENOTFOUND);
	cr_assert(vx_store_changes(r.txn, s, bad.id, 0, 0, NULL, &ch, &n, &oldest) == 0);
	cr_assert_eq(n, 0, "no change logged for the aborted write");
	cr_assert(vx_store_audit_list(r.txn, s, bad.id, 0, NULL, &au, &n) == 0);
	cr_assert_eq(n, 0, "no audit entry for the aborted write");
	cr_assert(vx_store_changes(r.txn, s, ok.id, 0, 0, NULL, &ch, &n, &oldest) == 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(ch[0]->revision, 1);
	cr_assert_eq(oldest, 1);
	cr_assert(vx_store_audit_list(r.txn, s, ok.id, 0, NULL, &au, &n) == 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(au[0]->revision, 1);
	vx_store_reader_fini(&r);
}

Test(store, flags_list_in_key_order_within_their_project)
{
	struct mk a = {.name = "one"}, b = {.name = "two"};
	vx_store_reader r;
	Vexil__V1__Flag **fl;
	size_t n;

	cr_assert(vx_store_write(s, NULL, make_project, &a) == 0);
	cr_assert(vx_store_write(s, NULL, make_project, &b) == 0);
	a.nflags = 50;
	b.nflags = 3;
	cr_assert(vx_store_write(s, NULL, add_flags, &a) == 0);
	cr_assert(vx_store_write(s, NULL, add_flags, &b) == 0);
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_flag_list(r.txn, s, a.id, NULL, &fl, &n) == 0);
	cr_assert_eq(n, 50);
	for (size_t i = 1; i < n; i++)
		cr_assert_lt(strcmp(fl[i - 1]->key, fl[i]->key), 0);
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&fl[i]->base, NULL);
	free(fl);
	cr_assert(vx_store_flag_list(r.txn, s, b.id, NULL, &fl, &n) == 0);
	cr_assert_eq(n, 3, "the other project's flags stay apart");
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&fl[i]->base, NULL);
	free(fl);
	vx_store_reader_fini(&r);
}

Test(store, projects_list_in_numeric_id_order_past_255)
{
	vx_store_reader r;
	Vexil__V1__Project **pl;
	size_t n;
	char name[32];

	for (int i = 0; i < 300; i++) {
		struct mk m = {.name = name};
		snprintf(name, sizeof(name), "p%d", i);
		cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	}
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_project_list(r.txn, s, NULL, &pl, &n) == 0);
	cr_assert_eq(n, 300);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(pl[i]->id, i + 1);
		protobuf_c_message_free_unpacked(&pl[i]->base, NULL);
	}
	free(pl);
	vx_store_reader_fini(&r);
}

Test(store, the_map_grows_from_a_tiny_start_and_nothing_is_lost)
{
	struct mk m = {.name = "big"};
	vx_store_reader r;
	Vexil__V1__Flag **fl;
	size_t n, before;

	vx_store_close(s);
	open_store(64 * 1024, 0);
	before = vx_store_map_size(s);
	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	m.nflags = 2000;
	m.desc_len = 1000;
	cr_assert(vx_store_write(s, NULL, add_flags, &m) == 0);
	cr_assert_gt(vx_store_map_size(s), before);
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_flag_list(r.txn, s, m.id, NULL, &fl, &n) == 0);
	cr_assert_eq(n, 2000);
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&fl[i]->base, NULL);
	free(fl);
	vx_store_reader_fini(&r);
}

/* Resident KiB of this process's map of the test's data.mdb; -1 if none. */
static long
map_rss_kb(void)
{
	char file[96], line[512];
	long kb = -1;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	cr_assert(f != NULL);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strchr(line, '-') != NULL && strstr(line, " r") != NULL &&
		    strchr(line, ':') - line > 8)
			in = strstr(line, file) != NULL;
		else if (in && strncmp(line, "Rss:", 4) == 0)
			kb = strtol(line + 4, NULL, 10);
	}
	fclose(f);
	return kb;
}

static void
check_flags(vx_store_reader *r, uint64_t project, size_t want, size_t desc_len)
{
	Vexil__V1__Flag **fl;
	size_t n;

	cr_assert(vx_store_flag_list(r->txn, s, project, NULL, &fl, &n) == 0);
	cr_assert_eq(n, want);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(strlen(fl[i]->description), desc_len);
		cr_assert_eq(fl[i]->description[desc_len / 2], 'x');
		protobuf_c_message_free_unpacked(&fl[i]->base, NULL);
	}
	free(fl);
}

Test(store, unmapping_the_map_drops_its_resident_pages_and_loses_nothing)
{
	struct mk m = {.name = "mapped"}, more = {.name = "later"};
	vx_store_reader r;

	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	m.nflags = 1000;
	m.desc_len = 1000;
	cr_assert(vx_store_write(s, NULL, add_flags, &m) == 0);
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	check_flags(&r, m.id, 1000, 1000);
	cr_assert_geq(map_rss_kb(), 1000, "reading 1 MB of flags mapped their pages");
	vx_store_unmap(r.txn, s);
	cr_assert_eq(map_rss_kb(), 0, "no page of the map is left resident");
	check_flags(&r, m.id, 1000, 1000);
	vx_store_reader_release(&r);
	/* Without a transaction of the caller's; writes and reads go on. */
	vx_store_unmap(NULL, s);
	cr_assert_eq(map_rss_kb(), 0);
	cr_assert(vx_store_write(s, NULL, make_project, &more) == 0);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	check_flags(&r, m.id, 1000, 1000);
	vx_store_reader_fini(&r);
}

Test(store, at_the_cap_writes_fail_with_efull_and_reads_keep_working)
{
	struct mk m = {.name = "capped"};
	vx_store_reader r;
	Vexil__V1__Project *p;

	vx_store_close(s);
	open_store(64 * 1024, 256 * 1024);
	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	m.nflags = 1000;
	m.desc_len = 1000;
	cr_assert_eq(vx_store_write(s, NULL, add_flags, &m), VX_EFULL);
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_project_get(r.txn, s, m.id, NULL, &p) == 0);
	cr_assert_eq(p->revision, 1, "the refused write left no trace");
	protobuf_c_message_free_unpacked(&p->base, NULL);
	vx_store_reader_fini(&r);
}

Test(store, the_change_log_keeps_a_bounded_window_and_reads_from_since)
{
	struct mk m = {.name = "log"};
	vx_store_reader r;
	Vexil__V1__Change **ch;
	size_t n;
	uint64_t oldest;

	vx_store_close(s);
	vx_store_opts o = {.path = dir, .change_log_keep = 10};
	cr_assert(vx_store_open(&s, &o) == 0);
	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	m.nflags = 1;
	for (int i = 0; i < 24; i++)
		cr_assert(vx_store_write(s, NULL, add_flags, &m) == 0);
	/* 25 writes, revisions 1..25; the newest 10 remain. */
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_changes(r.txn, s, m.id, 20, 0, NULL, &ch, &n, &oldest) == 0);
	cr_assert_eq(oldest, 16);
	cr_assert_eq(n, 5);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(ch[i]->revision, 21 + i);
		protobuf_c_message_free_unpacked(&ch[i]->base, NULL);
	}
	free(ch);
	vx_store_reader_fini(&r);
}

/* Readiness (vx_store_state, behind vx_server_storage) sees what a write
 * would find, and a write is refused with the same sentence. */
Test(store, the_state_tells_a_read_only_and_a_removed_data_file_and_writes_follow_it)
{
	struct mk m = {.name = "faults"};
	char why[256], said[256], file[128], moved[140];

	cr_assert_eq(vx_store_state(s, why, sizeof(why)), VX_STORE_OK, "%s", why);
	cr_assert_str_eq(why, "");
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	cr_assert_eq(chmod(file, 0400), 0);
	cr_assert_eq(vx_store_state(s, why, sizeof(why)), VX_STORE_READ_ONLY);
	cr_assert_not_null(strstr(why, "is read-only"), "%s", why);
	cr_assert_eq(vx_store_write(s, NULL, make_project, &m), VX_EUNAVAIL);
	vx_store_refusal(s, VX_EUNAVAIL, said, sizeof(said));
	cr_assert_str_eq(said, why);
	cr_assert_eq(chmod(file, 0600), 0);
	cr_assert_eq(vx_store_write(s, NULL, make_project, &m), 0);

	/* Moved away: the path no longer names the open file. */
	snprintf(moved, sizeof(moved), "%s/moved.mdb", dir);
	cr_assert_eq(rename(file, moved), 0);
	cr_assert_eq(vx_store_state(s, why, sizeof(why)), VX_STORE_GONE);
	cr_assert_str_eq(vx_store_state_name(VX_STORE_GONE), "gone");
	m.name = "lost";
	cr_assert_eq(vx_store_write(s, NULL, make_project, &m), VX_EUNAVAIL);
	vx_store_refusal(s, VX_EUNAVAIL, said, sizeof(said));
	cr_assert_not_null(strstr(said, "no longer holds the data.mdb"), "%s", said);
	cr_assert_eq(rename(moved, file), 0);
	cr_assert_eq(vx_store_state(s, why, sizeof(why)), VX_STORE_OK, "%s", why);
}

/* ---- group commit ---- */

/* A write that holds the batch it runs in until released. */
struct gate {
	atomic_int entered, release;
};

static int
gate_body(vx_wtxn *w, void *arg)
{
	struct gate *g = arg;
	atomic_store(&g->entered, 1);
	while (!atomic_load(&g->release))
		usleep(1000);
	return vx_store_meta_put(w, "test.gate", "1", 1);
}

static void *
gate_thread(void *arg)
{
	return (void *)(intptr_t)vx_store_write(s, NULL, gate_body, arg);
}

/* One change to project id; then fails with fail, or succeeds. */
struct bump {
	uint64_t id;
	int fail, rc;
	char key[16];
};

static int
bump_body(vx_wtxn *w, void *arg)
{
	struct bump *b = arg;
	Vexil__V1__Project *p;
	int rc;

	if ((rc = vx_store_project_get(vx_wtxn_txn(w), s, b->id, NULL, &p)) != 0)
		return rc;
	rc = vx_store_record_change(
	    w, p, VEXIL__V1__CHANGE_KIND__FLAG_UPDATED, "", b->key, 0, "test", "bump");
	protobuf_c_message_free_unpacked(&p->base, NULL);
	return rc ? rc : b->fail;
}

static void *
bump_thread(void *arg)
{
	struct bump *b = arg;
	b->rc = vx_store_write(s, NULL, bump_body, b);
	return NULL;
}

static void
stats(vx_store_stats *out)
{
	vx_store_reader r;
	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_stats_get(r.txn, s, out) == 0);
	vx_store_reader_fini(&r);
}

/*
 * Holds a batch with the gate's write, then queues n bumps of project id
 * behind it (bump i keys "<prefix><i>" and fails with fail[i]), and waits
 * until all n are queued: they will commit as the next batch.
 */
static void
queue_behind_gate(struct gate *g, pthread_t *gt, struct bump *b, pthread_t *bt, int n,
    uint64_t id, const char *prefix, const int *fail)
{
	*g = (struct gate){0};
	pthread_create(gt, NULL, gate_thread, g);
	while (!atomic_load(&g->entered))
		usleep(1000);
	for (int i = 0; i < n; i++) {
		b[i] = (struct bump){.id = id, .fail = fail ? fail[i] : 0};
		snprintf(b[i].key, sizeof(b[i].key), "%s%d", prefix, i);
		pthread_create(&bt[i], NULL, bump_thread, &b[i]);
	}
	while (vx_store_writes_waiting(s) < (size_t)n)
		usleep(1000);
}

/* Writes that queue while a batch commits go in the next one together,
 * and the one whose body fails is rolled back alone: the others keep
 * their own consecutive revisions, change log entries and audit entries. */
Test(store, writes_queued_together_commit_as_one_and_a_failing_one_alone_is_refused)
{
	static const int fail[6] = {0, 0, VX_EINVAL, 0, 0, 0};
	struct mk m = {.name = "batch"};
	struct gate g;
	struct bump b[6];
	pthread_t gt, bt[6];
	vx_store_stats before, after;
	vx_store_reader r;
	Vexil__V1__Change **ch;
	Vexil__V1__AuditEntry **au;
	Vexil__V1__Project *p;
	size_t n;
	uint64_t oldest;
	void *grc;

	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	stats(&before);
	queue_behind_gate(&g, &gt, b, bt, 6, m.id, "w", fail);
	atomic_store(&g.release, 1);
	pthread_join(gt, &grc);
	cr_assert_eq((intptr_t)grc, 0);
	for (int i = 0; i < 6; i++) {
		pthread_join(bt[i], NULL);
		cr_assert_eq(b[i].rc, fail[i], "write %d: %d", i, b[i].rc);
	}
	stats(&after);
	cr_assert_eq(after.commits_total - before.commits_total, 2,
	    "the gate's write, then the six queued ones in one transaction");
	cr_assert_eq(after.writes_total - before.writes_total, 6, "the gate and five");
	cr_assert_eq(commits, 1 + 5, "the hook saw each committed change once");

	vx_store_reader_init(&r, s);
	cr_assert(vx_store_reader_acquire(&r) == 0);
	cr_assert(vx_store_project_get(r.txn, s, m.id, NULL, &p) == 0);
	cr_assert_eq(p->revision, 1 + 5, "one revision per committed write");
	protobuf_c_message_free_unpacked(&p->base, NULL);
	cr_assert(vx_store_changes(r.txn, s, m.id, 1, 0, NULL, &ch, &n, &oldest) == 0);
	cr_assert_eq(n, 5);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(ch[i]->revision, 2 + i, "dense revisions");
		cr_assert_str_neq(
		    ch[i]->flag_key, "w2", "the failed write left no change");
	}
	cr_assert(vx_store_audit_list(r.txn, s, m.id, 0, NULL, &au, &n) == 0);
	cr_assert_eq(n, 1 + 5, "an audit entry per committed write, none for the failed");
	for (size_t i = 0; i < n; i++)
		cr_assert_str_neq(au[i]->target, "w2");
	vx_store_reader_fini(&r);
}

/* A batch that the storage refuses acknowledges none of its writes. */
Test(store, a_batch_refused_by_the_storage_acknowledges_none_of_its_writes)
{
	struct mk m = {.name = "refused"};
	struct gate g;
	struct bump b[4];
	pthread_t gt, bt[4];
	char file[128];
	void *grc;

	cr_assert(vx_store_write(s, NULL, make_project, &m) == 0);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	queue_behind_gate(&g, &gt, b, bt, 4, m.id, "r", NULL);
	/* The next batch finds the data file read-only. */
	cr_assert_eq(chmod(file, 0400), 0);
	atomic_store(&g.release, 1);
	pthread_join(gt, &grc);
	for (int i = 0; i < 4; i++) {
		pthread_join(bt[i], NULL);
		cr_assert_eq(b[i].rc, VX_EUNAVAIL, "write %d: %d", i, b[i].rc);
	}
	cr_assert_eq(chmod(file, 0600), 0);
	cr_assert_eq(commits, 1, "only the project's creation was published");
}
