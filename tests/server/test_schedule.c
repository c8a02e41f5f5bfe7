/*
 * Vexil tests — scheduled writes and the stale-flag report, over the wire.
 *
 * A schedule is made with ScheduleService/CreateSchedule (the method and
 * the packed input of a write) or `vexilctl ... --at`, and must then apply
 * at its time as an ordinary write: the flag changes, the project's
 * revision moves by one, the audit log names the schedule and a notice
 * goes out. One test stops vexild, lets the times pass and starts it
 * again: the overdue writes apply at start, in time order. Bad schedules
 * are refused and change nothing; a write that fails at its time stays
 * listed with its error. The stale report is checked on flags evaluated
 * with one variant, with two, and never.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "vexil_watch.h"

#define FLAG "launch"
#define SET_ENABLED "vexil.v1.FlagService/SetFlagEnabled"

static vx_harness h;

static void ctl_ok(const char *args);

/* Every test gets a vexild of its own, with the flag FLAG (off everywhere). */
static void
setup(void)
{
	vx_harness_start(&h, NULL);
	ctl_ok("flag create --project default " FLAG);
}

static void
teardown(void)
{
	vx_harness_fini(&h);
}

TestSuite(schedule, .init = setup, .fini = teardown, .timeout = 120);

/* Waits up to 30 s for cond, checking every 50 ms. */
#define WAIT_FOR(cond)                                                                   \
	do {                                                                             \
		for (int i_ = 0; i_ < 600 && !(cond); i_++)                              \
			usleep(50000);                                                   \
	} while (0)

static Vexil__V1__Schedule *
schedule_as(vx_client *c, const char *method, const ProtobufCMessage *in, int64_t at,
    vx_status *st)
{
	Vexil__V1__CreateScheduleRequest req = VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Schedule *out = NULL;
	uint8_t buf[4096];

	req.method = (char *)method;
	req.payload.len = protobuf_c_message_pack(in, buf);
	req.payload.data = buf;
	req.at = at;
	if (vx_create_schedule(c, &req, &out, st) != 0)
		return NULL;
	return out;
}

/* Schedules SetFlagEnabled of FLAG in production for `at`, as c. */
static Vexil__V1__Schedule *
schedule_enable(vx_client *c, const char *key, bool enabled, int64_t at, vx_status *st)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;

	in.project = "default";
	in.key = (char *)key;
	in.environment = "production";
	in.enabled = enabled;
	return schedule_as(c, SET_ENABLED, &in.base, at, st);
}

static bool
enabled_in_production(const char *key)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;
	bool on = false;

	in.project = "default";
	in.key = (char *)key;
	cr_assert(vx_get_flag(h.admin, &in, &f, &st) == 0, "%s", st.message);
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, "production") == 0)
			on = f->envs[i]->enabled;
	vx_free(f);
	return on;
}

static Vexil__V1__Project *
project(void)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.project = "default";
	cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	return p;
}

static uint64_t
revision(void)
{
	Vexil__V1__Project *p = project();
	uint64_t r = p->revision;
	vx_free(p);
	return r;
}

static Vexil__V1__AuditList *
audit(uint32_t limit)
{
	Vexil__V1__ListAuditRequest in = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *out;
	vx_status st;

	in.project = "default";
	in.limit = limit;
	cr_assert(vx_list_audit(h.admin, &in, &out, &st) == 0, "%s", st.message);
	return out;
}

static Vexil__V1__ScheduleList *
schedules(void)
{
	Vexil__V1__ListSchedulesRequest in = VEXIL__V1__LIST_SCHEDULES_REQUEST__INIT;
	Vexil__V1__ScheduleList *out;
	vx_status st;

	in.project = "default";
	cr_assert(vx_list_schedules(h.admin, &in, &out, &st) == 0, "%s", st.message);
	return out;
}

static size_t
schedule_count(void)
{
	Vexil__V1__ScheduleList *l = schedules();
	size_t n = l->n_schedules;
	vx_free(l);
	return n;
}

/* The schedule's state in the list (0 when it is not listed). */
static Vexil__V1__ScheduleState
schedule_state(uint64_t id)
{
	Vexil__V1__ScheduleList *l = schedules();
	Vexil__V1__ScheduleState s = 0;

	for (size_t i = 0; i < l->n_schedules; i++)
		if (l->schedules[i]->id == id)
			s = l->schedules[i]->state;
	vx_free(l);
	return s;
}

static int
cancel(vx_client *c, uint64_t id, vx_status *st)
{
	Vexil__V1__CancelScheduleRequest in = VEXIL__V1__CANCEL_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Empty *out;
	int rc;

	in.id = id;
	if ((rc = vx_cancel_schedule(c, &in, &out, st)) == 0)
		vx_free(out);
	return rc;
}

static vx_client *
client_with_role(const char *project, Vexil__V1__Role role, char *secret, size_t cap)
{
	vx_harness_key(&h, project, role, secret, cap);
	char cred[160];
	snprintf(cred, sizeof(cred), "ApiKey %s", secret);
	return vx_harness_client(&h, cred);
}

#define ctl(out, cap, ...) vx_harness_ctl(&h, (out), (cap), __VA_ARGS__)

static void
ctl_ok(const char *args)
{
	char out[4096];
	cr_assert_eq(ctl(out, sizeof(out), "%s", args), 0, "vexilctl %s: %s", args, out);
}

/* RFC 3339 for unix ms. */
static const char *
rfc3339(char buf[VX_TIME_LEN], int64_t ms)
{
	vx_format_time_ms(buf, ms);
	return buf;
}

Test(schedule, applies_at_its_time_as_one_write_with_audit_and_notice)
{
	Vexil__V1__Project *p = project();
	uint64_t r0 = p->revision, pid = p->id;
	Vexil__V1__Schedule *sc;
	Vexil__V1__AuditList *a;
	vx_status st;
	nng_socket sub;
	char topic[32];
	bool noticed = false;
	int64_t at =
	    vx_now_ms() + 4000; /* room for the checks before it, in slow (ASan) builds */

	vx_free(p);
	cr_assert_not(enabled_in_production(FLAG));
	/* A subscriber, as any SDK cache is. */
	snprintf(topic, sizeof(topic), "p/%llu/", (unsigned long long)pid);
	cr_assert_eq(nng_sub0_open(&sub), 0);
	cr_assert_eq(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, topic, strlen(topic)), 0);
	cr_assert_eq(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 30000), 0);
	cr_assert_eq(nng_dial(sub, h.pub, NULL, 0), 0);

	sc = schedule_enable(h.admin, FLAG, true, at, &st);
	cr_assert_not_null(sc, "%s", st.message);
	cr_assert_gt(sc->id, 0);
	cr_assert_eq(sc->state, VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING);
	cr_assert_str_eq(sc->method, SET_ENABLED);
	cr_assert_str_eq(sc->target, FLAG);
	cr_assert_eq(sc->at, at);
	cr_assert_eq(sc->project_id, pid);
	/* Making it wrote no revision. */
	cr_assert_eq(revision(), r0);
	cr_assert_eq(schedule_count(), 1);

	WAIT_FOR(enabled_in_production(FLAG));
	cr_assert(enabled_in_production(FLAG), "the schedule was never applied");
	cr_assert_eq(revision(), r0 + 1, "one write, one revision");
	a = audit(1);
	cr_assert_eq(a->n_entries, 1);
	cr_assert_str_eq(a->entries[0]->method, SET_ENABLED);
	cr_assert_eq(a->entries[0]->schedule_id, sc->id);
	cr_assert_eq(a->entries[0]->revision, r0 + 1);
	cr_assert_str_eq(a->entries[0]->actor, sc->actor);
	cr_assert_geq(a->entries[0]->time, at, "applied before its time");
	vx_free(a);
	cr_assert_eq(schedule_count(), 0, "an applied schedule is gone");

	/* The notice of that revision was published. */
	for (;;) {
		nng_msg *m;
		Vexil__V1__ChangeNotice *n;
		if (nng_recvmsg(sub, &m, 0) != 0)
			break;
		n = vexil__v1__change_notice__unpack(NULL, nng_msg_len(m) - strlen(topic),
		    (uint8_t *)nng_msg_body(m) + strlen(topic));
		nng_msg_free(m);
		cr_assert_not_null(n);
		noticed = n->revision == r0 + 1 && strcmp(n->flag_key, FLAG) == 0;
		vexil__v1__change_notice__free_unpacked(n, NULL);
		if (noticed)
			break;
	}
	cr_assert(
	    noticed, "no change notice for revision %llu", (unsigned long long)r0 + 1);
	nng_close(sub);
	vx_free(sc);
}

/* What a watch saw: revisions and their flag keys. */
struct seen {
	pthread_mutex_t lock;
	uint64_t revs[64];
	size_t n;
};

static void
on_change(void *arg, const Vexil__V1__Change *c, const Vexil__V1__Flag *f)
{
	struct seen *s = arg;

	(void)f;
	pthread_mutex_lock(&s->lock);
	if (s->n < 64 && strcmp(c->flag_key, FLAG) == 0)
		s->revs[s->n++] = c->revision;
	pthread_mutex_unlock(&s->lock);
}

static size_t
seen_count(struct seen *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

Test(schedule, overdue_writes_apply_at_start_in_time_order)
{
	struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
	vx_watch_opts wo = {.rpc_url = h.rpc,
	    .pub_url = h.pub,
	    .project = "default",
	    .on_change = on_change,
	    .arg = &seen};
	Vexil__V1__Schedule *later, *sooner;
	Vexil__V1__AuditList *a;
	char cred[160];
	vx_watch *w;
	vx_status st;
	uint64_t r0 = revision();
	int64_t now = vx_now_ms();

	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	wo.credential = cred;
	cr_assert_eq(vx_watch_start(&w, &wo, &st), 0, "%s", st.message);
	/* Made in the other order than they are due: the later one gets the
	 * lower id. Applied by time, the flag ends off; by id, on. */
	later = schedule_enable(h.admin, FLAG, false, now + 2500, &st);
	cr_assert_not_null(later, "%s", st.message);
	sooner = schedule_enable(h.admin, FLAG, true, now + 2000, &st);
	cr_assert_not_null(sooner, "%s", st.message);
	cr_assert_lt(later->id, sooner->id);

	cr_assert_eq(vx_harness_stop(&h), 0);
	while (vx_now_ms() <= later->at + 500)
		usleep(100000);
	vx_harness_restart(&h);

	/* vexild answers only once the overdue writes are made. */
	cr_assert_eq(revision(), r0 + 2);
	cr_assert_not(enabled_in_production(FLAG), "applied out of order");
	a = audit(2);
	cr_assert_eq(a->n_entries, 2);
	cr_assert_eq(a->entries[1]->schedule_id, sooner->id);
	cr_assert_eq(a->entries[1]->revision, r0 + 1);
	cr_assert_eq(a->entries[0]->schedule_id, later->id);
	cr_assert_eq(a->entries[0]->revision, r0 + 2);
	cr_assert_str_eq(a->entries[0]->method, SET_ENABLED);
	vx_free(a);
	cr_assert_eq(schedule_count(), 0);

	/* The subscriber that rode out the restart gets both changes. */
	WAIT_FOR(seen_count(&seen) >= 2);
	cr_assert_eq(seen_count(&seen), 2);
	cr_assert_eq(seen.revs[0], r0 + 1);
	cr_assert_eq(seen.revs[1], r0 + 2);
	vx_watch_stop(w);
	vx_free(later);
	vx_free(sooner);
}

Test(schedule, cancel_removes_a_schedule_for_callers_who_may_write)
{
	Vexil__V1__Schedule *sc;
	Vexil__V1__AuditList *a;
	char secret[128];
	vx_client *reader, *other;
	vx_status st;
	uint64_t r0 = revision();

	sc = schedule_enable(h.admin, FLAG, true, vx_now_ms() + 3600 * 1000, &st);
	cr_assert_not_null(sc, "%s", st.message);

	reader = client_with_role(
	    "default", VEXIL__V1__ROLE__ROLE_READ, secret, sizeof(secret));
	cr_assert_eq(cancel(reader, sc->id, &st), VX_EPERM);
	cr_assert_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	ctl_ok("project create elsewhere");
	other = client_with_role(
	    "elsewhere", VEXIL__V1__ROLE__ROLE_ADMIN, secret, sizeof(secret));
	cr_assert_eq(
	    cancel(other, sc->id, &st), VX_ENOTFOUND, "another project's schedule");
	cr_assert_eq(schedule_count(), 1);

	cr_assert_eq(cancel(h.admin, sc->id, &st), 0, "%s", st.message);
	cr_assert_eq(schedule_count(), 0);
	cr_assert_eq(cancel(h.admin, sc->id, &st), VX_ENOTFOUND);
	cr_assert_str_eq(st.field, "id");
	a = audit(1);
	cr_assert_eq(a->entries[0]->kind, VEXIL__V1__CHANGE_KIND__SCHEDULE_CANCELLED);
	cr_assert_eq(a->entries[0]->revision, 0, "a cancel is no change to the project");
	vx_free(a);
	cr_assert_eq(revision(), r0);
	cr_assert_not(enabled_in_production(FLAG));
	vx_client_close(reader);
	vx_client_close(other);
	vx_free(sc);
}

Test(schedule, bad_schedules_are_refused_and_change_nothing)
{
	Vexil__V1__DeleteEnvironmentRequest del =
	    VEXIL__V1__DELETE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__CreateApiKeyRequest key = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreateScheduleRequest raw = VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Schedule *out;
	Vexil__V1__AuditList *a;
	char secret[128];
	vx_client *reader, *writer;
	vx_status st;
	uint64_t r0 = revision(), seq0;
	int64_t soon = vx_now_ms() + 3600 * 1000;
	uint8_t junk[] = {0x0a, 0xff, 0x01};

	reader = client_with_role(
	    "default", VEXIL__V1__ROLE__ROLE_READ, secret, sizeof(secret));
	writer = client_with_role(
	    "default", VEXIL__V1__ROLE__ROLE_WRITE, secret, sizeof(secret));
	a = audit(1);
	seq0 = a->entries[0]->seq;
	vx_free(a);

	cr_assert_null(schedule_enable(h.admin, FLAG, true, vx_now_ms() - 1000, &st));
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert_str_eq(st.field, "at");
	cr_assert_null(schedule_enable(h.admin, "no-such-flag", true, soon, &st));
	cr_assert_eq(st.code, VEXIL__V1__CODE__NOT_FOUND);
	cr_assert_str_eq(st.field, "key");
	cr_assert_null(schedule_enable(reader, FLAG, true, soon, &st));
	cr_assert_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	/* The write's own role: deleting an environment takes admin. */
	del.project = "default";
	del.key = "staging";
	cr_assert_null(schedule_as(writer,
	    "vexil.v1.EnvironmentService/DeleteEnvironment", &del.base, soon, &st));
	cr_assert_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	/* Not a write that can be scheduled. */
	key.name = "later";
	key.role = VEXIL__V1__ROLE__ROLE_ADMIN;
	cr_assert_null(schedule_as(
	    h.admin, "vexil.v1.KeyService/CreateApiKey", &key.base, soon, &st));
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert_str_eq(st.field, "method");
	/* A payload that is not the method's input. */
	raw.method = SET_ENABLED;
	raw.payload.data = junk;
	raw.payload.len = sizeof(junk);
	raw.at = soon;
	cr_assert_neq(vx_create_schedule(h.admin, &raw, &out, &st), 0);
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert_str_eq(st.field, "payload");

	cr_assert_eq(schedule_count(), 0);
	cr_assert_eq(revision(), r0);
	a = audit(1);
	cr_assert_eq(a->entries[0]->seq, seq0, "a refused schedule left an audit entry");
	vx_free(a);
	cr_assert_not(enabled_in_production(FLAG));
	vx_client_close(reader);
	vx_client_close(writer);
}

Test(schedule, a_write_that_fails_at_its_time_stays_listed_with_its_error)
{
	Vexil__V1__RevokeApiKeyRequest rev = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__DeleteFlagRequest delf = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__ListApiKeysRequest lk = VEXIL__V1__LIST_API_KEYS_REQUEST__INIT;
	Vexil__V1__ApiKeyList *keys;
	Vexil__V1__Schedule *by_revoked, *gone;
	Vexil__V1__ScheduleList *l;
	Vexil__V1__Empty *e;
	char secret[128], out[4096];
	vx_client *writer;
	vx_status st;
	uint64_t r0;
	int64_t at = vx_now_ms() + 5000; /* room for the revoke and the delete first */

	writer = client_with_role(
	    "default", VEXIL__V1__ROLE__ROLE_WRITE, secret, sizeof(secret));
	by_revoked = schedule_enable(writer, FLAG, true, at, &st);
	cr_assert_not_null(by_revoked, "%s", st.message);
	ctl_ok("flag create --project default doomed");
	delf.project = "default";
	delf.key = "doomed";
	gone =
	    schedule_as(h.admin, "vexil.v1.FlagService/DeleteFlag", &delf.base, at, &st);
	cr_assert_not_null(gone, "%s", st.message);
	/* Before their time, the key that made one is revoked and the flag
	 * the other deletes is deleted. */
	lk.project = "default";
	cr_assert_eq(vx_list_api_keys(h.admin, &lk, &keys, &st), 0);
	for (size_t i = 0; i < keys->n_keys; i++)
		if (strncmp(keys->keys[i]->prefix, secret,
		        strlen(keys->keys[i]->prefix)) == 0)
			rev.id = keys->keys[i]->id;
	vx_free(keys);
	cr_assert_neq(rev.id, 0);
	cr_assert_eq(vx_revoke_api_key(h.admin, &rev, &e, &st), 0, "%s", st.message);
	vx_free(e);
	ctl_ok("flag delete --project default doomed");
	r0 = revision();

	WAIT_FOR(schedule_state(by_revoked->id) ==
	             VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED &&
	         schedule_state(gone->id) == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED);
	l = schedules();
	cr_assert_eq(l->n_schedules, 2);
	for (size_t i = 0; i < 2; i++) {
		Vexil__V1__Schedule *sc = l->schedules[i];
		cr_assert_eq(sc->state, VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED);
		cr_assert_not_null(sc->error);
		cr_assert_geq(sc->failed_at, at);
		if (sc->id == by_revoked->id)
			cr_assert_eq(sc->error->code, VEXIL__V1__CODE__UNAUTHENTICATED,
			    "%s", sc->error->message);
		else
			cr_assert_eq(sc->error->code, VEXIL__V1__CODE__NOT_FOUND, "%s",
			    sc->error->message);
	}
	vx_free(l);
	cr_assert_not(enabled_in_production(FLAG));
	cr_assert_eq(revision(), r0, "a failed write changed the project");
	cr_assert_eq(ctl(out, sizeof(out), "schedule list --project default"), 0);
	cr_assert(strstr(out, "failed") && strstr(out, "UNAUTHENTICATED"), "%s", out);

	/* The data dir with failed schedules is consistent. */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "%s --check --data '%s' >/dev/null 2>&1",
	    VX_VEXILD_PATH, h.dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(cancel(h.admin, gone->id, &st), 0, "%s", st.message);
	cr_assert_eq(schedule_count(), 1);
	vx_client_close(writer);
	vx_free(by_revoked);
	vx_free(gone);
}

Test(schedule, vexilctl_schedules_lists_and_cancels)
{
	char out[4096], at[VX_TIME_LEN], id[24];
	const char *p;

	rfc3339(at, vx_now_ms() + 3600 * 1000);
	cr_assert_eq(
	    ctl(out, sizeof(out),
	        "flag enable --project default " FLAG " --env production --at %s --json",
	        at),
	    0, "%s", out);
	cr_assert_not_null(p = strstr(out, "\"id\":"), "%s", out);
	snprintf(id, sizeof(id), "%llu", strtoull(p + 5 + (p[5] == '"'), NULL, 10));
	cr_assert(strstr(out, "SetFlagEnabled"), "%s", out);
	cr_assert_not(enabled_in_production(FLAG));
	cr_assert_eq(ctl(out, sizeof(out), "schedule list --project default"), 0);
	cr_assert(
	    strstr(out, "pending") && strstr(out, FLAG) && strstr(out, "SetFlagEnabled"),
	    "%s", out);
	cr_assert_eq(ctl(out, sizeof(out), "schedule cancel %s", id), 0, "%s", out);
	cr_assert_eq(schedule_count(), 0);

	cr_assert_eq(
	    ctl(out, sizeof(out),
	        "flag enable --project default " FLAG " --env production --at tomorrow"),
	    2);
	cr_assert(strstr(out, "RFC 3339"), "%s", out);
	cr_assert_eq(ctl(out, sizeof(out),
	                 "flag disable --project default " FLAG
	                 " --env production --at 2020-01-01T00:00:00Z"),
	    1);
	cr_assert(strstr(out, "at must be in the future"), "%s", out);
	cr_assert_eq(schedule_count(), 0);
}

/* ---- stale flags ---- */

static void
evaluate(const char *key, const char *env, const char *email)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out;
	vx_status st;

	in.project = "default";
	in.environment = (char *)env;
	in.flag_key = (char *)key;
	ctx.user_id = "u1";
	ctx.email = (char *)email;
	in.context = &ctx;
	cr_assert(vx_evaluate(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

/* Evaluations of key counted so far, in every environment. */
static uint64_t
counted(const char *key)
{
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	vx_status st;
	uint64_t n = 0;

	in.project = "default";
	in.flag_key = (char *)key;
	cr_assert(vx_get_eval_counts(h.admin, &in, &out, &st) == 0, "%s", st.message);
	for (size_t i = 0; i < out->n_counts; i++)
		if (strcmp(out->counts[i]->kind, "evaluation") == 0)
			n += out->counts[i]->count;
	vx_free(out);
	return n;
}

static const Vexil__V1__StaleFlag *
find_stale(const Vexil__V1__StaleFlagsReply *r, const char *key)
{
	for (size_t i = 0; i < r->n_flags; i++)
		if (strcmp(r->flags[i]->key, key) == 0)
			return r->flags[i];
	return NULL;
}

static const Vexil__V1__StaleEnv *
stale_env(const Vexil__V1__StaleFlag *f, const char *env)
{
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, env) == 0)
			return f->envs[i];
	return NULL;
}

Test(schedule, stale_report_tells_unevaluated_from_one_variant_flags)
{
	Vexil__V1__StaleFlagsRequest in = VEXIL__V1__STALE_FLAGS_REQUEST__INIT;
	Vexil__V1__StaleFlagsReply *r;
	const Vexil__V1__StaleFlag *f;
	char out[8192];
	vx_status st;
	int32_t today = (int32_t)(vx_now_ms() / 86400000LL);

	/* steady: on for everyone; mixed: a rule serves some users off;
	 * idle: never asked for. */
	ctl_ok("flag create --project default steady");
	ctl_ok("flag create --project default mixed");
	ctl_ok("flag create --project default idle");
	ctl_ok("flag enable --project default steady --env '*'");
	ctl_ok("flag enable --project default mixed --env production");
	ctl_ok("rule add --project default mixed --env production "
	       "--cond 'email ends_with @example.com' --variant off");
	evaluate("steady", "production", "a@example.com");
	evaluate("steady", "staging", "b@other.org");
	evaluate("mixed", "production", "a@example.com");
	evaluate("mixed", "production", "b@other.org");
	WAIT_FOR(counted("steady") == 2 && counted("mixed") == 2);
	cr_assert_eq(counted("steady"), 2);
	cr_assert_eq(counted("mixed"), 2);

	in.project = "default";
	in.days = 7;
	cr_assert_eq(vx_stale_flags(h.admin, &in, &r, &st), 0, "%s", st.message);
	cr_assert_eq(r->days, 7);
	cr_assert_eq(r->from_day, today - 6);
	cr_assert_null(find_stale(r, "mixed"), "mixed served two variants");
	cr_assert_not_null(f = find_stale(r, "steady"));
	cr_assert_eq(f->reason, VEXIL__V1__STALE_REASON__STALE_ONE_VARIANT);
	cr_assert_str_eq(f->variant, "on");
	cr_assert_eq(stale_env(f, "production")->last_day, today);
	cr_assert_eq(stale_env(f, "production")->evaluations, 1);
	cr_assert_eq(stale_env(f, "staging")->last_day, today);
	cr_assert_eq(stale_env(f, "development")->last_day, 0);
	cr_assert_not_null(f = find_stale(r, "idle"));
	cr_assert_eq(f->reason, VEXIL__V1__STALE_REASON__STALE_NOT_EVALUATED);
	cr_assert_eq(f->n_envs, 3);
	for (size_t i = 0; i < f->n_envs; i++)
		cr_assert_eq(f->envs[i]->last_day, 0);
	/* The seeded flags were never evaluated either. */
	cr_assert_not_null(find_stale(r, FLAG));
	vx_free(r);

	in.days = 5000;
	cr_assert_neq(vx_stale_flags(h.admin, &in, &r, &st), 0);
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert_str_eq(st.field, "days");

	cr_assert_eq(
	    ctl(out, sizeof(out), "flag stale --project default --days 7"), 0, "%s", out);
	cr_assert(strstr(out, "idle") && strstr(out, "not-evaluated"), "%s", out);
	cr_assert(strstr(out, "steady") && strstr(out, "one-variant"), "%s", out);
	cr_assert_null(strstr(out, "mixed"), "%s", out);
}

Test(schedule, a_schedule_keeps_its_project_across_a_rename)
{
	Vexil__V1__UpdateRuleRequest in = VEXIL__V1__UPDATE_RULE_REQUEST__INIT;
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Rule upd = VEXIL__V1__RULE__INIT;
	Vexil__V1__ListRulesRequest lr = VEXIL__V1__LIST_RULES_REQUEST__INIT;
	Vexil__V1__RuleList *rules;
	Vexil__V1__Schedule *sc;
	char out[4096], *mask[] = {"priority"};
	const char *p;
	vx_status st;

	ctl_ok("project create shop");
	ctl_ok("flag create --project shop cart");
	cr_assert_eq(ctl(out, sizeof(out),
	                 "rule add --project shop cart --env production "
	                 "--cond 'country equals DE' --variant on --priority 1 --json"),
	    0, "%s", out);
	cr_assert_not_null(p = strstr(out, "\"id\":"), "%s", out);
	ref.rule_id = strtoull(p + 5 + (p[5] == '"'), NULL, 10);
	ref.project = "shop";
	ref.flag_key = "cart";
	upd.priority = 7;
	in.ref = &ref;
	in.update = &upd;
	in.update_mask = mask;
	in.n_update_mask = 1;
	/* UpdateRule names its project in ref.project. */
	sc = schedule_as(h.admin, "vexil.v1.RuleService/UpdateRule", &in.base,
	    vx_now_ms() + 4000, &st);
	cr_assert_not_null(sc, "%s", st.message);
	cr_assert_str_eq(sc->target, "cart");
	ctl_ok("project update shop --name store");

	lr.project = "store";
	lr.flag_key = "cart";
	lr.environment = "production";
	for (int i = 0; i < 600; i++) {
		cr_assert(
		    vx_list_rules(h.admin, &lr, &rules, &st) == 0, "%s", st.message);
		bool done = rules->n_rules == 1 && rules->rules[0]->priority == 7;
		vx_free(rules);
		if (done)
			break;
		usleep(50000);
	}
	cr_assert(vx_list_rules(h.admin, &lr, &rules, &st) == 0, "%s", st.message);
	cr_assert_eq(rules->n_rules, 1);
	cr_assert_eq(
	    rules->rules[0]->priority, 7, "the renamed project's rule was not updated");
	vx_free(rules);
	vx_free(sc);
}
