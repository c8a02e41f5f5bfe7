/*
 * Vexil integration tests: change notices, WatchService/Changes and the
 * libvexil live cache, under concurrent writers, restarts, slow
 * subscribers and a short change log.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "vexil_watch.h"

static vx_harness h;

/* What a subscriber saw. */
struct seen {
	pthread_mutex_t lock;
	uint64_t *revs;
	size_t n, cap;
	int delay_us;
	atomic_int hold; /* while set, the callback waits */
};

static void
on_change(void *arg, const Vexil__V1__Change *c, const Vexil__V1__Flag *f)
{
	struct seen *s = arg;
	(void)f;
	while (atomic_load(&s->hold))
		usleep(1000);
	if (s->delay_us)
		usleep((useconds_t)s->delay_us);
	pthread_mutex_lock(&s->lock);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->revs = realloc(s->revs, s->cap * sizeof(*s->revs));
	}
	s->revs[s->n++] = c->kind == VEXIL__V1__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED
	    ? 0 : c->revision;
	pthread_mutex_unlock(&s->lock);
}

static void
seen_fini(struct seen *s)
{
	free(s->revs);
	pthread_mutex_destroy(&s->lock);
}

static vx_watch *
watch(struct seen *s, const char *cred, const char *project)
{
	vx_watch_opts o = {.rpc_url = h.rpc, .pub_url = h.pub, .credential = cred,
		.project = project, .environment = "production", .on_change = on_change,
		.arg = s, .poll_ms = 200};
	vx_watch *w;
	vx_status st;
	pthread_mutex_init(&s->lock, NULL);
	cr_assert(vx_watch_start(&w, &o, &st) == 0, "%s", st.message);
	return w;
}

/* Waits for the cache to reach the server's revision, then compares every
 * flag byte for byte. */
static void
assert_cache_equals_server(vx_watch *w, const char *project)
{
	uint64_t rev = vx_project_revision(h.admin, project), have = 0;
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *list;
	Vexil__V1__Flag **mine;
	vx_status st;
	size_t n;

	for (int i = 0; i < 1000 && vx_watch_revision(w) < rev; i++)
		usleep(10000);
	cr_assert(vx_watch_flags(w, &mine, &n, &have) == 0);
	cr_assert_eq(have, rev, "cache at revision %llu, server at %llu",
	    (unsigned long long)have, (unsigned long long)rev);
	in.project = (char *)project;
	cr_assert(vx_list_flags(h.admin, &in, &list, &st) == 0, "%s", st.message);
	cr_assert_eq(n, list->n_flags, "cache has %zu flags, server %zu", n, list->n_flags);
	for (size_t i = 0; i < n; i++) {
		size_t a = vexil__v1__flag__get_packed_size(mine[i]);
		size_t b = vexil__v1__flag__get_packed_size(list->flags[i]);
		uint8_t *x = malloc(a), *y = malloc(b);
		vexil__v1__flag__pack(mine[i], x);
		vexil__v1__flag__pack(list->flags[i], y);
		cr_assert(a == b && memcmp(x, y, a) == 0, "flag %s differs", mine[i]->key);
		free(x);
		free(y);
		vx_free(mine[i]);
	}
	free(mine);
	vx_free(list);
}

/* Every revision after `from` up to `to`, each once, in order. */
static void
assert_saw_every_revision(struct seen *s, uint64_t from, uint64_t to)
{
	/* The cache is updated before the callbacks run; let them finish. */
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&s->lock);
		size_t n = s->n;
		pthread_mutex_unlock(&s->lock);
		if (n >= to - from)
			break;
		usleep(10000);
	}
	usleep(50000); /* and catch any extra (duplicate) callback */
	pthread_mutex_lock(&s->lock);
	cr_assert_eq(s->n, to - from, "saw %zu changes, expected %llu", s->n,
	    (unsigned long long)(to - from));
	for (size_t i = 0; i < s->n; i++)
		cr_assert_eq(s->revs[i], from + 1 + i, "change %zu is revision %llu", i,
		    (unsigned long long)s->revs[i]);
	pthread_mutex_unlock(&s->lock);
}

struct writer {
	int id, writes, ok;
	vx_client *c;
};

/* Creates one flag, then toggles it: one change per acknowledged write. */
static void *
write_loop(void *arg)
{
	struct writer *wr = arg;
	Vexil__V1__CreateFlagRequest cf = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__SetFlagEnabledRequest en = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	char key[32];
	vx_status st;

	snprintf(key, sizeof(key), "w%d", wr->id);
	f.key = key;
	cf.project = "default";
	cf.flag = &f;
	while (vx_create_flag(wr->c, &cf, &out, &st) != 0 && st.code != VEXIL__V1__CODE__ALREADY_EXISTS)
		usleep(20000);
	if (st.code == VEXIL__V1__CODE__OK)
		vx_free(out);
	en.project = "default";
	en.key = key;
	en.environment = "production";
	for (int i = 1; i < wr->writes; i++) {
		en.enabled = i % 2;
		if (vx_set_flag_enabled(wr->c, &en, &out, &st) == 0) {
			vx_free(out);
			wr->ok++;
		} else {
			usleep(20000); /* vexild is restarting */
		}
	}
	return NULL;
}

static void
run_writers(int n, int writes)
{
	pthread_t t[8];
	struct writer w[8];
	for (int i = 0; i < n; i++) {
		w[i] = (struct writer){.id = i, .writes = writes, .c = vx_harness_client(&h, h.key)};
		pthread_create(&t[i], NULL, write_loop, &w[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		vx_client_close(w[i].c);
	}
}

Test(watch, four_writers_make_ten_thousand_writes_and_the_subscriber_sees_each_in_order,
    .timeout = 180)
{
	static const char *const args[] = {"--no-sync", "--quiet", NULL};
	struct seen s = {0};
	vx_harness_start(&h, args);
	uint64_t start = vx_project_revision(h.admin, "default");
	vx_watch *w = watch(&s, h.key, "default");

	run_writers(4, 2500);
	uint64_t end = vx_project_revision(h.admin, "default");
	cr_assert_eq(end - start, 10000);
	assert_cache_equals_server(w, "default");
	assert_saw_every_revision(&s, start, end);
	cr_assert_eq(vx_watch_resyncs(w), 0);
	vx_watch_stop(w);
	seen_fini(&s);
	vx_harness_fini(&h);
}

static void *
writers_thread(void *arg)
{
	(void)arg;
	run_writers(2, 400);
	return NULL;
}

Test(watch, a_vexild_killed_mid_stream_loses_and_repeats_nothing, .timeout = 120)
{
	static const char *const args[] = {"--quiet", NULL};
	struct seen s = {0};
	pthread_t writers;
	vx_harness_start(&h, args);
	uint64_t start = vx_project_revision(h.admin, "default");
	vx_watch *w = watch(&s, h.key, "default");

	/* vexild is started from this thread: it dies with its parent thread. */
	pthread_create(&writers, NULL, writers_thread, NULL);
	usleep(300000);
	kill(h.pid, SIGKILL);
	waitpid(h.pid, NULL, 0);
	h.pid = 0;
	usleep(200000);
	vx_harness_restart(&h);
	pthread_join(writers, NULL);
	uint64_t end = vx_project_revision(h.admin, "default");
	assert_cache_equals_server(w, "default");
	assert_saw_every_revision(&s, start, end);
	vx_watch_stop(w);
	seen_fini(&s);
	vx_harness_fini(&h);
}

Test(watch, a_slow_subscriber_catches_up_through_changes, .timeout = 120)
{
	static const char *const args[] = {"--no-sync", "--quiet", NULL};
	struct seen s = {.delay_us = 300};
	vx_harness_start(&h, args);
	uint64_t start = vx_project_revision(h.admin, "default");
	vx_watch *w = watch(&s, h.key, "default");

	/* Hold the callback while 3000 writes go by, so its socket overflows. */
	atomic_store(&s.hold, 1);
	run_writers(2, 1500);
	atomic_store(&s.hold, 0);
	uint64_t end = vx_project_revision(h.admin, "default");
	assert_cache_equals_server(w, "default");
	assert_saw_every_revision(&s, start, end);
	vx_watch_stop(w);
	seen_fini(&s);
	vx_harness_fini(&h);
}

Test(watch, a_subscriber_behind_a_short_log_resyncs_from_a_snapshot, .timeout = 60)
{
	static const char *const args[] = {"--change-log-keep", "5", "--quiet", NULL};
	struct seen s = {0};
	vx_harness_start(&h, args);
	vx_watch *w = watch(&s, h.key, "default");

	atomic_store(&s.hold, 1);
	run_writers(1, 1); /* the first write: the watch fetches it and blocks */
	usleep(300000);
	run_writers(1, 30);
	atomic_store(&s.hold, 0);
	assert_cache_equals_server(w, "default");
	cr_assert_geq(vx_watch_resyncs(w), 1, "the watch fell behind the log");
	vx_watch_stop(w);
	seen_fini(&s);
	vx_harness_fini(&h);
}

Test(watch, a_key_scoped_to_one_project_cannot_follow_another, .timeout = 60)
{
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_status st;
	char key_a[128];
	vx_watch *w;

	vx_harness_start(&h, NULL);
	cp.name = "a";
	cr_assert(vx_create_project(h.admin, &cp, &p, &st) == 0);
	vx_free(p);
	vx_harness_key(&h, "a", VEXIL__V1__ROLE__ROLE_READ, key_a, sizeof(key_a));
	vx_client *a = vx_harness_client(&h, key_a);
	in.project = "default";
	cr_assert_eq(vx_changes(a, &in, &out, &st), VX_ENOTFOUND);
	in.project = "1";
	cr_assert_eq(vx_changes(a, &in, &out, &st), VX_ENOTFOUND);
	vx_client_close(a);

	vx_watch_opts o = {.rpc_url = h.rpc, .pub_url = h.pub, .credential = key_a,
		.project = "default"};
	cr_assert_eq(vx_watch_start(&w, &o, &st), VX_ENOTFOUND);
	o.project = "a";
	cr_assert(vx_watch_start(&w, &o, &st) == 0, "%s", st.message);
	vx_watch_stop(w);
	vx_harness_fini(&h);
}

Test(watch, the_live_cache_evaluates_like_the_server, .timeout = 60)
{
	struct seen s = {0};
	Vexil__V1__SetFlagEnabledRequest en = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;
	vx_eval_result res;
	vx_eval_ctx ctx = {.user_id = "u1"};

	vx_harness_start(&h, NULL);
	vx_watch *w = watch(&s, h.key, "default");
	run_writers(1, 1); /* creates flag w0, disabled */
	assert_cache_equals_server(w, "default");
	const vx_eval_snapshot *snap = vx_watch_acquire(w);
	cr_assert_not_null(snap);
	cr_assert(vx_eval_local(snap, "w0", &ctx, &res, NULL) == 0);
	cr_assert_eq(res.reason, VX_REASON_DISABLED);
	vx_watch_release(w, snap);

	en.project = "default";
	en.key = "w0";
	en.environment = "production";
	en.enabled = true;
	cr_assert(vx_set_flag_enabled(h.admin, &en, &out, &st) == 0);
	vx_free(out);
	assert_cache_equals_server(w, "default");
	snap = vx_watch_acquire(w);
	cr_assert(vx_eval_local(snap, "w0", &ctx, &res, NULL) == 0);
	cr_assert_eq(res.reason, VX_REASON_STATIC);
	vx_watch_release(w, snap);
	vx_watch_stop(w);
	seen_fini(&s);
	vx_harness_fini(&h);
}

/* head_only: where the project is, and nothing to apply. */
Test(watch, head_only_answers_the_head_revision_and_nothing_else, .timeout = 60)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	Vexil__V1__Project *p;
	vx_status st;

	vx_harness_start(&h, NULL);
	gp.project = "default";
	cr_assert(vx_get_project(h.admin, &gp, &p, &st) == 0, "%s", st.message);
	in.project = "default";
	in.head_only = true;
	cr_assert(vx_changes(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_eq(out->head_revision, p->revision);
	cr_assert_gt(out->head_revision, 0);
	cr_assert_eq(out->project_id, p->id);
	cr_assert_eq(out->revision, 0, "it brings the caller up to nothing");
	cr_assert(!out->snapshot);
	cr_assert_eq(out->n_changes, 0);
	cr_assert_eq(out->n_flags, 0, "the seeded flags are not sent");
	cr_assert_eq(out->n_environments, 0);
	vx_free(out);
	vx_free(p);
	vx_harness_fini(&h);
}
