/*
 * Vexil integration tests: the long-poll WatchService/Changes (wait_ms),
 * answered from a parked request when a write to its project commits, and
 * vexild's asynchronous request path around it (parked requests do not
 * take the contexts others need; a stop answers them).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static vx_harness h;

/* A long-poll made on a thread of its own. */
struct poll {
	pthread_t thread;
	vx_client *client;
	const char *project;
	uint64_t since;
	uint32_t wait_ms;
	int rc;
	vx_status st;
	Vexil__V1__ChangesReply *out;
};

static void *
poll_main(void *arg)
{
	struct poll *p = arg;
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;

	in.project = (char *)p->project;
	in.since = p->since;
	in.wait_ms = p->wait_ms;
	p->rc = vx_changes(p->client, &in, &p->out, &p->st);
	return NULL;
}

/* Starts a long-poll from since on its own client, whose timeout outlasts
 * the wait. */
static void
poll_start(struct poll *p, const char *project, uint64_t since, uint32_t wait_ms)
{
	memset(p, 0, sizeof(*p));
	p->client = vx_harness_client(&h, h.key);
	vx_client_set_timeout(p->client, (int)wait_ms + 30000);
	p->project = project;
	p->since = since;
	p->wait_ms = wait_ms;
	cr_assert(pthread_create(&p->thread, NULL, poll_main, p) == 0);
}

static void
poll_join(struct poll *p)
{
	pthread_join(p->thread, NULL);
	vx_client_close(p->client);
}

static void
create_flag(const char *project, const char *key)
{
	Vexil__V1__Flag flag = VEXIL__V1__FLAG__INIT;
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	flag.key = (char *)key;
	flag.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
	in.project = (char *)project;
	in.flag = &flag;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

static void
create_project(const char *name)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *out;
	vx_status st;

	in.name = (char *)name;
	cr_assert(vx_create_project(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

Test(longpoll, a_long_poll_at_the_head_is_answered_with_the_next_write, .timeout = 60)
{
	struct poll p;
	uint64_t rev;

	vx_harness_start(&h, NULL);
	rev = vx_project_revision(h.admin, "default");
	poll_start(&p, "default", rev, 30000);
	/* Give the poll time to park first (were it answered at once, it
	 * would carry nothing). */
	usleep(300000);
	create_flag("default", "woken-by-this");
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "%s", p.st.message);
	cr_assert_eq(p.out->revision, rev + 1, "at %llu from %llu, %zu changes",
	    (unsigned long long)p.out->revision, (unsigned long long)rev,
	    p.out->n_changes);
	cr_assert_eq(p.out->n_changes, 1);
	cr_assert_str_eq(p.out->changes[0]->flag_key, "woken-by-this");
	cr_assert_eq(p.out->n_flags, 1, "the changed flag's state comes with it");
	cr_assert_str_eq(p.out->flags[0]->key, "woken-by-this");
	vx_free(p.out);
	vx_harness_fini(&h);
}

Test(longpoll, a_long_poll_with_nothing_new_answers_nothing_when_its_time_is_up,
    .timeout = 60)
{
	struct poll p;
	uint64_t rev;

	vx_harness_start(&h, NULL);
	rev = vx_project_revision(h.admin, "default");
	poll_start(&p, "default", rev, 300);
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "%s", p.st.message);
	cr_assert_eq(p.out->revision, rev);
	cr_assert_eq(p.out->head_revision, rev);
	cr_assert_eq(p.out->n_changes, 0);
	cr_assert(!p.out->snapshot);
	vx_free(p.out);
	vx_harness_fini(&h);
}

Test(longpoll, a_write_to_another_project_does_not_answer_a_long_poll, .timeout = 60)
{
	struct poll p;
	uint64_t rev;

	vx_harness_start(&h, NULL);
	create_project("elsewhere");
	rev = vx_project_revision(h.admin, "default");
	poll_start(&p, "default", rev, 30000);
	usleep(300000);
	create_flag("elsewhere", "not-this-one");
	create_flag("elsewhere", "nor-this-one");
	create_flag("default", "this-one");
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "%s", p.st.message);
	cr_assert_eq(p.out->revision, rev + 1);
	cr_assert_eq(p.out->n_changes, 1);
	cr_assert_str_eq(p.out->changes[0]->flag_key, "this-one");
	vx_free(p.out);
	vx_harness_fini(&h);
}

Test(longpoll, a_long_poll_behind_the_head_is_answered_at_once, .timeout = 60)
{
	struct poll p;
	uint64_t rev;

	vx_harness_start(&h, NULL);
	rev = vx_project_revision(h.admin, "default");
	create_flag("default", "already-there");
	/* A wait far longer than the test's timeout: it must not be waited. */
	poll_start(&p, "default", rev, 60000);
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "%s", p.st.message);
	cr_assert_eq(p.out->revision, rev + 1);
	cr_assert_str_eq(p.out->changes[0]->flag_key, "already-there");
	vx_free(p.out);
	vx_harness_fini(&h);
}

Test(longpoll, wait_ms_over_a_minute_is_refused_naming_the_field, .timeout = 60)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out = NULL;
	vx_status st;

	vx_harness_start(&h, NULL);
	in.project = "default";
	in.since = vx_project_revision(h.admin, "default");
	in.wait_ms = 60001;
	cr_assert_neq(vx_changes(h.admin, &in, &out, &st), 0);
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert_str_eq(st.field, "wait_ms");
	cr_assert_null(out);
	vx_harness_fini(&h);
}

/*
 * With two receiving contexts, eight parked long-polls would take them all
 * if parking kept its context: reads and writes still get through, and
 * the write answers all eight.
 */
Test(longpoll, parked_long_polls_leave_the_contexts_to_other_requests, .timeout = 90)
{
	static const char *const args[] = {"--workers", "2", NULL};
	struct poll p[8];
	uint64_t rev;

	vx_harness_start(&h, args);
	rev = vx_project_revision(h.admin, "default");
	for (int i = 0; i < 8; i++)
		poll_start(&p[i], "default", rev, 30000);
	usleep(500000);
	cr_assert_eq(
	    vx_project_revision(h.admin, "default"), rev, "a read is served meanwhile");
	create_flag("default", "wakes-all-eight");
	for (int i = 0; i < 8; i++) {
		poll_join(&p[i]);
		cr_assert_eq(p[i].rc, 0, "poll %d: %s", i, p[i].st.message);
		cr_assert_eq(p[i].out->revision, rev + 1, "poll %d", i);
		cr_assert_eq(p[i].out->n_changes, 1, "poll %d", i);
		vx_free(p[i].out);
	}
	vx_harness_fini(&h);
}

Test(longpoll, stopping_vexild_answers_a_parked_long_poll, .timeout = 60)
{
	struct poll p;
	uint64_t rev;

	vx_harness_start(&h, NULL);
	rev = vx_project_revision(h.admin, "default");
	poll_start(&p, "default", rev, 60000);
	usleep(300000);
	cr_assert_eq(vx_harness_stop(&h), 0, "vexild stops cleanly");
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "answered, not cut off: %s", p.st.message);
	cr_assert_eq(p.out->revision, rev);
	cr_assert_eq(p.out->n_changes, 0);
	vx_free(p.out);
	vx_harness_fini(&h);
}
