/*
 * Vexil integration tests: the long-poll WatchService/Changes (wait_ms),
 * answered from a parked request when a write to its project commits, and
 * vexild's asynchronous request path around it (parked requests do not
 * take the contexts others need; a stop answers them).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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

static void
create_segment(const char *project, const char *name)
{
	Vexil__V1__Segment g = VEXIL__V1__SEGMENT__INIT, *out;
	Vexil__V1__Condition k = VEXIL__V1__CONDITION__INIT, *kp[] = {&k};
	Vexil__V1__CreateSegmentRequest in = VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
	char *vals[] = {"@corp.example"};
	vx_status st;

	k.attribute = "email";
	k.operator_ = "ends_with";
	k.values = vals;
	k.n_values = 1;
	g.name = (char *)name;
	g.conditions = kp;
	g.n_conditions = 1;
	in.project = (char *)project;
	in.segment = &g;
	cr_assert(vx_create_segment(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

/* The environments and segments a reply carries, as a plain Changes from
 * since gives them. */
static void
assert_same_lists(const Vexil__V1__ChangesReply *got, uint64_t since, const char *when)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *want;
	vx_status st;

	in.project = "default";
	in.since = since;
	cr_assert(vx_changes(h.admin, &in, &want, &st) == 0, "%s", st.message);
	cr_assert_gt(want->n_environments, 0);
	cr_assert_eq(want->n_segments, 1);
	cr_assert_eq(got->n_environments, want->n_environments, "%s", when);
	for (size_t i = 0; i < want->n_environments; i++)
		cr_assert_str_eq(got->environments[i]->key, want->environments[i]->key,
		    "%s: environment %zu", when, i);
	cr_assert_eq(got->n_segments, 1, "%s: the project's segment comes with it", when);
	cr_assert_str_eq(got->segments[0]->name, "staff", "%s", when);
	vx_free(want);
}

/*
 * A parked long-poll reads nothing but the revision; what it answers,
 * woken by a write or at the end of its wait, still carries the project's
 * environments and segments like any Changes reply.
 */
Test(longpoll, a_long_poll_answer_carries_the_environments_and_segments, .timeout = 60)
{
	struct poll p;
	uint64_t rev;

	vx_harness_start(&h, NULL);
	create_segment("default", "staff");
	rev = vx_project_revision(h.admin, "default");
	poll_start(&p, "default", rev, 300);
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "%s", p.st.message);
	cr_assert_eq(p.out->revision, rev, "nothing new: its time ran out");
	assert_same_lists(p.out, rev, "timed out");
	vx_free(p.out);

	poll_start(&p, "default", rev, 30000);
	usleep(300000);
	create_flag("default", "wakes-it");
	poll_join(&p);
	cr_assert_eq(p.rc, 0, "%s", p.st.message);
	cr_assert_eq(p.out->revision, rev + 1, "woken by the write");
	cr_assert_eq(p.out->n_changes, 1);
	assert_same_lists(p.out, rev + 1, "woken");
	vx_free(p.out);
	vx_harness_fini(&h);
}

/* Changes of "default" from since, through cl; rc, and the reply in *out. */
static int
changes_since(vx_client *cl, uint64_t since, Vexil__V1__ChangesReply **out, vx_status *st)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;

	in.project = "default";
	in.since = since;
	*out = NULL;
	return vx_changes(cl, &in, out, st);
}

/* A reply holds exactly the changes after since, up to rev0 + 3. */
static void
assert_changes_after(const Vexil__V1__ChangesReply *r, uint64_t rev0, uint64_t since,
    const char *const keys[3], const char *who)
{
	size_t want = (size_t)(rev0 + 3 - since);

	cr_assert(!r->snapshot, "%s: since %llu", who, (unsigned long long)since);
	cr_assert_eq(r->revision, rev0 + 3, "%s", who);
	cr_assert_eq(r->n_changes, want, "%s: %zu changes after %llu, not %zu", who,
	    r->n_changes, (unsigned long long)since, want);
	for (size_t i = 0; i < want; i++) {
		cr_assert_eq(r->changes[i]->revision, since + 1 + i, "%s", who);
		cr_assert_str_eq(
		    r->changes[i]->flag_key, keys[since - rev0 + i], "%s", who);
	}
	cr_assert_eq(r->n_flags, want, "%s: the changed flags' states", who);
}

/*
 * The woken long-polls of one commit share one packed answer, and so may
 * any call asking the same in the same snapshot: each caller still gets
 * exactly the changes after its own since, and a caller without access
 * to the project is refused whatever was packed for others.
 */
Test(longpoll, shared_answers_hold_the_changes_after_each_callers_since, .timeout = 90)
{
	static const char *const keys[3] = {"first", "second", "third"};
	static const uint64_t order[] = {2, 2, 0, 0, 1, 2, 1, 0};
	char other_key[128];
	struct poll p[6];
	Vexil__V1__ChangesReply *r;
	vx_client *other;
	vx_status st;
	uint64_t rev0;
	char who[32];

	vx_harness_start(&h, NULL);
	create_project("elsewhere");
	vx_harness_key(
	    &h, "elsewhere", VEXIL__V1__ROLE__ROLE_READ, other_key, sizeof(other_key));
	rev0 = vx_project_revision(h.admin, "default");
	create_flag("default", keys[0]);
	create_flag("default", keys[1]);
	for (int i = 0; i < 6; i++)
		poll_start(&p[i], "default", rev0 + 2, 30000);
	usleep(500000);
	create_flag("default", keys[2]);
	for (int i = 0; i < 6; i++) {
		poll_join(&p[i]);
		snprintf(who, sizeof(who), "woken poll %d", i);
		cr_assert_eq(p[i].rc, 0, "%s: %s", who, p[i].st.message);
		assert_changes_after(p[i].out, rev0, rev0 + 2, keys, who);
		vx_free(p[i].out);
	}
	/* No commit from here on: one snapshot, sinces taking turns. */
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		snprintf(who, sizeof(who), "call %zu", i);
		cr_assert_eq(changes_since(h.admin, rev0 + order[i], &r, &st), 0,
		    "%s: %s", who, st.message);
		assert_changes_after(r, rev0, rev0 + order[i], keys, who);
		vx_free(r);
	}
	other = vx_harness_client(&h, other_key);
	cr_assert_neq(changes_since(other, rev0, &r, &st), 0,
	    "a key of another project reads nothing of this one");
	cr_assert(st.code == VEXIL__V1__CODE__PERMISSION_DENIED ||
	              st.code == VEXIL__V1__CODE__NOT_FOUND,
	    "%s", st.message);
	cr_assert_null(r);
	vx_client_close(other);
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

/*
 * What the gateway does on its one connection to vexild: long-polls that
 * follow the head (the edge's watches) and plain Changes from the
 * revision before each commit (the OFREP stream's fills), all at once on
 * one client (one socket, one pipe), while commits land. vexild answers
 * the woken polls and the fills of a commit together, so their replies
 * queue on the pipe; every call must still get its reply, and a fill
 * must hold the change it asked after.
 */
#define FOLLOW_THREADS 4
#define FILL_THREADS 4
#define FOLLOW_WRITES 60

struct follower {
	pthread_t thread;
	vx_client *client;
	bool poll; /* a long-poll at the head; else a plain Changes per commit */
	int calls, lost;
	uint64_t last;
	char why[400];
};

static atomic_bool follow_done;

static void *
follower_main(void *arg)
{
	struct follower *f = arg;
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_call_opts o = {.credential = NULL, .timeout_ms = 0};
	vx_status st;
	char cred[160];

	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	o.credential = cred;
	in.project = "default";
	while (!atomic_load(&follow_done)) {
		in.since = f->last;
		in.wait_ms = f->poll ? 1000 : 0;
		/* A lost reply shows as this call's timeout: far longer than
		 * anything here takes, even on a loaded machine. */
		o.timeout_ms = (int)in.wait_ms + 8000;
		f->calls++;
		if (vx_changes_as(f->client, &o, &in, &out, &st) != 0) {
			f->lost++;
			snprintf(f->why, sizeof(f->why), "since %llu: %s (%s)",
			    (unsigned long long)in.since, vx_code_name(st.code),
			    st.message);
			continue;
		}
		if (out->revision > f->last)
			f->last = out->revision;
		vx_free(out);
		if (!f->poll)
			usleep(2000);
	}
	return NULL;
}

Test(longpoll, every_call_on_one_connection_is_answered_while_commits_wake_polls,
    .timeout = 240)
{
	struct follower f[FOLLOW_THREADS + FILL_THREADS];
	vx_client *shared;
	uint64_t rev;
	char key[32];

	vx_harness_start(&h, NULL);
	rev = vx_project_revision(h.admin, "default");
	shared = vx_harness_client(&h, h.key);
	atomic_store(&follow_done, false);
	for (int i = 0; i < FOLLOW_THREADS + FILL_THREADS; i++) {
		f[i] = (struct follower){
		    .client = shared, .poll = i < FOLLOW_THREADS, .last = rev};
		cr_assert_eq(pthread_create(&f[i].thread, NULL, follower_main, &f[i]), 0);
	}
	for (int i = 0; i < FOLLOW_WRITES; i++) {
		snprintf(key, sizeof(key), "followed-%d", i);
		create_flag("default", key);
		usleep(20000);
	}
	/* The last polls see the head and time out in their second. */
	usleep(1500000);
	atomic_store(&follow_done, true);
	for (int i = 0; i < FOLLOW_THREADS + FILL_THREADS; i++)
		pthread_join(f[i].thread, NULL);
	vx_client_close(shared);
	for (int i = 0; i < FOLLOW_THREADS + FILL_THREADS; i++) {
		cr_expect_eq(f[i].lost, 0, "%s %d: %d of %d calls unanswered; last: %s",
		    f[i].poll ? "poll" : "fill", i, f[i].lost, f[i].calls, f[i].why);
		cr_expect_eq(f[i].last, rev + FOLLOW_WRITES, "%s %d reached %llu of %llu",
		    f[i].poll ? "poll" : "fill", i, (unsigned long long)f[i].last,
		    (unsigned long long)(rev + FOLLOW_WRITES));
	}
	vx_harness_fini(&h);
}

/*
 * Replies that queue on one pipe, as the gateway's do: bursts of calls
 * from many threads over one client, so that a reply often waits for the
 * one ahead of it, while vexild's contexts' 200 ms receives keep falling
 * due. nng 1.5.2's timer thread collects the receives that fall due and
 * cancels them one by one afterwards; a context whose receive completed
 * with a request meanwhile, and which answered it on the callback, must
 * not lose the reply waiting for the pipe to that cancel (server.c,
 * slot_send). Many contexts make many receives fall due together, and two
 * spinning threads keep the machine as busy as a loaded CI runner, which
 * widens the timer thread's window as it was in the browser tests' runs.
 * Every call must get its reply: a lost one is this call's timeout.
 */
#define BURST_THREADS 16
#define BURST_ROUNDS 300

struct burster {
	pthread_t thread;
	vx_client *client;
	pthread_barrier_t *start;
	struct burster *first;
	int lost;
	char why[400];
};

static atomic_bool spin_done;

static void *
spin_main(void *arg)
{
	volatile unsigned long n = 0;

	(void)arg;
	while (!atomic_load(&spin_done))
		n++;
	return NULL;
}

static void *
burster_main(void *arg)
{
	struct burster *b = arg;
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_call_opts o = {.timeout_ms = 8000};
	vx_status st;
	char cred[160];

	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	o.credential = cred;
	in.project = "default";
	for (int i = 0; i < BURST_ROUNDS; i++) {
		pthread_barrier_wait(b->start);
		/* Bursts spread over many of the receives' 200 ms turns. */
		if (b == b->first)
			usleep((useconds_t)(1000 * (i * 7 % 41)));
		pthread_barrier_wait(b->start);
		in.since = (uint64_t)(i % 3);
		if (vx_changes_as(b->client, &o, &in, &out, &st) != 0) {
			b->lost++;
			snprintf(b->why, sizeof(b->why), "round %d: %s (%s)", i,
			    vx_code_name(st.code), st.message);
			continue;
		}
		vx_free(out);
	}
	return NULL;
}

Test(longpoll, replies_queued_on_one_pipe_all_arrive, .timeout = 300)
{
	static const char *const args[] = {"--workers", "512", NULL};
	struct burster b[BURST_THREADS];
	pthread_t spin[2];
	pthread_barrier_t start;
	vx_client *shared;
	char key[32];

	vx_harness_start(&h, args);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "burst-flag-%02d", i);
		create_flag("default", key);
	}
	shared = vx_harness_client(&h, h.key);
	cr_assert_eq(pthread_barrier_init(&start, NULL, BURST_THREADS), 0);
	atomic_store(&spin_done, false);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&spin[i], NULL, spin_main, NULL), 0);
	for (int i = 0; i < BURST_THREADS; i++) {
		b[i] =
		    (struct burster){.client = shared, .start = &start, .first = &b[0]};
		cr_assert_eq(pthread_create(&b[i].thread, NULL, burster_main, &b[i]), 0);
	}
	for (int i = 0; i < BURST_THREADS; i++)
		pthread_join(b[i].thread, NULL);
	atomic_store(&spin_done, true);
	for (int i = 0; i < 2; i++)
		pthread_join(spin[i], NULL);
	pthread_barrier_destroy(&start);
	vx_client_close(shared);
	for (int i = 0; i < BURST_THREADS; i++)
		cr_expect_eq(b[i].lost, 0,
		    "thread %d: %d of %d calls unanswered; last: %s", i, b[i].lost,
		    BURST_ROUNDS, b[i].why);
	vx_harness_fini(&h);
}

/*
 * More long-polls parked at once (1,100) than LMDB had reader slots
 * (1,024): a parked slot gives its reader slot back, so the write that
 * wakes them is made and every poll is answered with it. Before, each
 * parked slot kept a reset read transaction, and past about a thousand
 * subscribers every read and write was refused "storage unavailable".
 */
#define MANY_POLLS 1100

struct many_poll {
	pthread_t thread;
	vx_client *client;
	uint64_t since;
	int rc;
	uint64_t revision;
	char why[200];
};

static void *
many_poll_main(void *arg)
{
	struct many_poll *p = arg;
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_status st;

	in.project = "default";
	in.since = p->since;
	in.wait_ms = 60000;
	if ((p->rc = vx_changes(p->client, &in, &out, &st)) != 0) {
		snprintf(p->why, sizeof(p->why), "%s: %.150s", vx_code_name(st.code),
		    st.message);
		return NULL;
	}
	p->revision = out->revision;
	vx_free(out);
	return NULL;
}

Test(longpoll, more_parked_long_polls_than_lmdb_reader_slots_are_all_answered,
    .timeout = 240)
{
	static struct many_poll polls[MANY_POLLS];
	static const char *const args[] = {"--max-conns", "4096", NULL};
	pthread_attr_t attr;
	vx_client *shared;
	uint64_t rev;
	int failed = 0;

	vx_harness_start(&h, args);
	rev = vx_project_revision(h.admin, "default");
	shared = vx_harness_client(&h, h.key);
	vx_client_set_timeout(shared, 120000);
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
	for (int i = 0; i < MANY_POLLS; i++) {
		polls[i] = (struct many_poll){.client = shared, .since = rev};
		cr_assert_eq(
		    pthread_create(&polls[i].thread, &attr, many_poll_main, &polls[i]),
		    0);
	}
	pthread_attr_destroy(&attr);
	/* Time for them all to park; one that is late reads the write. */
	sleep(3);
	create_flag("default", "wakes-them-all");
	for (int i = 0; i < MANY_POLLS; i++) {
		pthread_join(polls[i].thread, NULL);
		if (polls[i].rc != 0 || polls[i].revision != rev + 1) {
			if (failed++ == 0)
				cr_log_error("poll %d: rc %d, revision %llu: %s", i,
				    polls[i].rc, (unsigned long long)polls[i].revision,
				    polls[i].why);
		}
	}
	cr_expect_eq(failed, 0, "%d of %d long-polls not answered with the write", failed,
	    MANY_POLLS);
	vx_client_close(shared);
	vx_harness_fini(&h);
}
