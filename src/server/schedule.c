/*
 * Vexil — scheduled writes: ScheduleService and the scheduler thread.
 *
 * A schedule is a stored request of an existing write RPC (method, packed
 * input, who asked), so every write that can be scheduled is scheduled the
 * same way, and at its time it runs through the same handler as if its
 * caller had sent it then (vx_invoke). Nothing here knows what a write
 * does:
 *
 *  - CreateSchedule decodes the input, names the project by id in it (a
 *    rename cannot redirect it), and runs the write once as a dry run (the
 *    store aborts it: vx_store_reader.dry_run), so a bad input, an unknown
 *    flag or a caller without the role is refused now with the handler's
 *    own error. Then one write stores the schedule and its audit entry.
 *  - The scheduler thread sleeps until the next schedule is due (at most a
 *    second, and it is woken when one is made), loads the caller again
 *    (a revoked key or a deleted user fails the write) and runs the write
 *    with the reader's schedule_id set: the store removes the schedule in
 *    the write's own transaction, so a schedule applies once, even across
 *    a crash, and a cancel that wins the race leaves nothing applied. The
 *    write gets its own revision, audit entry (with the schedule's id) and
 *    change notice like any other.
 *  - A write that fails at its time marks its schedule failed, with the
 *    error, in a write of its own; it stays listed until cancelled.
 *  - At start the overdue schedules apply in order (time, then id) before
 *    vexild takes requests.
 */
#include "server/server.h"
#include "wire/text.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How far ahead a write may be scheduled. */
#define AT_MAX_MS (10LL * 366 * 24 * 3600 * 1000)
/* The longest the scheduler sleeps without looking (a clock step, say). */
#define TICK_MS 1000

/* The writes that can be scheduled: each names its project in `project`,
 * or in `ref.project` (UpdateRule). */
static const char *const schedulable[] = {
    "vexil.v1.FlagService/CreateFlag",
    "vexil.v1.FlagService/UpdateFlag",
    "vexil.v1.FlagService/DeleteFlag",
    "vexil.v1.FlagService/SetFlagEnabled",
    "vexil.v1.FlagService/UpdateFlagEnv",
    "vexil.v1.RuleService/CreateRule",
    "vexil.v1.RuleService/UpdateRule",
    "vexil.v1.RuleService/DeleteRule",
    "vexil.v1.SegmentService/CreateSegment",
    "vexil.v1.SegmentService/UpdateSegment",
    "vexil.v1.SegmentService/DeleteSegment",
    "vexil.v1.EnvironmentService/CreateEnvironment",
    "vexil.v1.EnvironmentService/UpdateEnvironment",
    "vexil.v1.EnvironmentService/DeleteEnvironment",
};

struct vx_scheduler {
	vx_server *srv;
	vx_store *store;
	vx_evalcache *cache;
	vx_evalrec *records;
	bool quiet;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping, woken;
	vx_arena arena;
	vx_store_reader reader;
};

static bool
is_schedulable(const char *method)
{
	for (size_t i = 0; i < sizeof(schedulable) / sizeof(schedulable[0]); i++)
		if (strcmp(method, schedulable[i]) == 0)
			return true;
	return false;
}

/* A string field of m by name, or NULL. */
static char **
string_field(ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (fd == NULL || fd->type != PROTOBUF_C_TYPE_STRING ||
	    fd->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return (char **)((char *)m + fd->offset);
}

/* A message field of m by name, or NULL (also when unset). */
static ProtobufCMessage *
message_field(ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
	    fd->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(ProtobufCMessage **)((char *)m + fd->offset);
}

/* Where the input names its project. */
static char **
project_field(ProtobufCMessage *in)
{
	ProtobufCMessage *ref;
	char **f = string_field(in, "project");

	if (f == NULL && (ref = message_field(in, "ref")) != NULL)
		f = string_field(ref, "project");
	return f;
}

/* What the write is about, for listing: its flag, segment or environment. */
static const char *
target_of(ProtobufCMessage *in)
{
	static const char *const names[] = {"key", "flag_key", "name"};
	static const char *const subs[] = {"ref", "flag", "segment", "environment"};
	ProtobufCMessage *sub;
	char **f;

	for (size_t i = 0; i < 3; i++)
		if ((f = string_field(in, names[i])) != NULL && **f)
			return *f;
	for (size_t j = 0; j < 4; j++) {
		if ((sub = message_field(in, subs[j])) == NULL)
			continue;
		for (size_t i = 0; i < 3; i++)
			if ((f = string_field(sub, names[i])) != NULL && **f)
				return *f;
	}
	return "";
}

int
vx_run_stored(vx_call *c, const vx_wire_method *m, const ProtobufCBinaryData *payload)
{
	ProtobufCMessage *in;
	char path[sizeof(c->st.field)];

	in = protobuf_c_message_unpack(
	    m->desc->input, c->alloc, payload->len, payload->data);
	if (in == NULL)
		return vx_fail(c, VX_EINVAL, "payload", NULL,
		    "payload does not decode as %s", m->desc->input->name);
	switch (vx_text_check(
	    m->desc->input, payload->data, payload->len, path, sizeof(path))) {
	case VX_TEXT_OK: break;
	case VX_TEXT_NUL:
		return vx_fail(
		    c, VX_EINVAL, path, "nul", "%s contains a NUL character", path);
	default:
		return vx_fail(c, VX_EINVAL, path, "utf8", "%s is not valid UTF-8", path);
	}
	c->method = m->name;
	c->out = NULL;
	vx_invoke(c, m, in);
	if (c->snap != NULL) {
		vx_evalcache_release(c->cache, c->snap);
		c->snap = NULL;
	}
	return c->st.code == VEXIL__V1__CODE__OK ? 0 : VX_EINVAL;
}

int
vx_schedule_record(vx_call *c, const vx_wire_method *m, ProtobufCMessage *in,
    uint64_t project_id, Vexil__V1__Schedule **out)
{
	Vexil__V1__Schedule *sc;
	char **proj = project_field(in);

	if (proj == NULL)
		return vx_fail(
		    c, VX_EINTERNAL, "method", NULL, "%s names no project", m->name);
	if ((sc = vx_arena_alloc(c->arena, sizeof(*sc))) == NULL ||
	    (*proj = vx_arena_printf(c->arena, "%llu", (unsigned long long)project_id)) ==
	        NULL)
		return VX_ENOMEM;
	vexil__v1__schedule__init(sc);
	sc->project_id = project_id;
	sc->method = (char *)m->name;
	sc->state = VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING;
	sc->actor = c->who.actor;
	sc->role = c->who.role;
	sc->created_at = vx_now_ms();
	sc->target = (char *)target_of(in);
	sc->caller = c->who.kind == VX_PRINCIPAL_USER
	                 ? VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_USER
	                 : VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_API_KEY;
	sc->caller_id = c->who.id;
	sc->payload.len = protobuf_c_message_get_packed_size(in);
	if ((sc->payload.data = vx_arena_alloc(c->arena, sc->payload.len + 1)) == NULL)
		return VX_ENOMEM;
	protobuf_c_message_pack(in, sc->payload.data);
	*out = sc;
	return 0;
}

/* ---- ScheduleService ---- */

struct put_op {
	vx_call *c;
	Vexil__V1__Schedule *sc;
	const char *method; /* for the audit log */
	Vexil__V1__ChangeKind kind;
};

static int
create_tx(vx_wtxn *w, void *arg)
{
	struct put_op *op = arg;
	char target[32];
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_SCHEDULE, &op->sc->id)) != 0 ||
	    (rc = vx_store_schedule_put(w, op->sc)) != 0)
		return rc;
	snprintf(target, sizeof(target), "schedule:%llu", (unsigned long long)op->sc->id);
	return vx_store_audit(
	    w, op->sc->project_id, op->kind, target, op->c->who.actor, op->method);
}

static void
create_schedule(Vexil__V1__ScheduleService_Service *svc,
    const Vexil__V1__CreateScheduleRequest *in, Vexil__V1__Schedule_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data, dry;
	Vexil__V1__Schedule *sc = NULL;
	Vexil__V1__Project *p;
	const vx_wire_method *m;
	ProtobufCMessage *req;
	char **proj;
	int64_t now = vx_now_ms();
	int rc;

	(void)svc;
	if (!is_schedulable(in->method) ||
	    (m = vx_server_method(c->srv, in->method)) == NULL) {
		rc = vx_fail(c, VX_EINVAL, "method", "enum",
		    "%.100s cannot be scheduled (FlagService, RuleService, "
		    "SegmentService "
		    "and EnvironmentService writes can)",
		    in->method);
		goto out;
	}
	if (in->at <= now || in->at > now + AT_MAX_MS) {
		rc = vx_fail(c, VX_EINVAL, "at", "range",
		    in->at <= now ? "at must be in the future"
		                  : "at must be within ten years");
		goto out;
	}
	/* The input, with its project named by id. */
	req = protobuf_c_message_unpack(
	    m->desc->input, c->alloc, in->payload.len, in->payload.data);
	if (req == NULL) {
		rc = vx_fail(c, VX_EINVAL, "payload", NULL,
		    "payload does not decode as %s", m->desc->input->name);
		goto out;
	}
	if ((proj = project_field(req)) == NULL) {
		rc = vx_fail(
		    c, VX_EINTERNAL, "method", NULL, "%s names no project", m->name);
		goto out;
	}
	if ((rc = vx_call_project(
	         c, c->reader->txn, *proj, VEXIL__V1__ROLE__ROLE_WRITE, &p)) != 0)
		goto out;
	if ((rc = vx_schedule_record(c, m, req, p->id, &sc)) != 0)
		goto out;
	sc->at = in->at;

	/* The write as it would run now, aborted: its own checks refuse it. */
	dry = *c;
	memset(&dry.st, 0, sizeof(dry.st));
	dry.snap = NULL;
	c->reader->dry_run = true;
	rc = vx_run_stored(&dry, m, &sc->payload);
	c->reader->dry_run = false;
	/* A write a protected environment stops waits for review. */
	if (rc != 0 && (rc = vx_change_review(c, &dry, sc)) != 0) {
		c->st = dry.st;
		goto out;
	}
	struct put_op op = {c, sc, c->method, VEXIL__V1__CHANGE_KIND__SCHEDULE_CREATED};
	if ((rc = vx_store_write(c->store, c->reader, create_tx, &op)) == 0)
		vx_scheduler_wake(vx_server_scheduler(c->srv));
out:
	VX_REPLY(c, rc, rc == 0 ? sc : NULL);
}

static int
by_time(const void *x, const void *y)
{
	const Vexil__V1__Schedule *a = *(Vexil__V1__Schedule *const *)x;
	const Vexil__V1__Schedule *b = *(Vexil__V1__Schedule *const *)y;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

int
vx_schedules_of(
    vx_call *c, const char *project, bool changes, Vexil__V1__Schedule ***out, size_t *n)
{
	Vexil__V1__Project *p;
	size_t k = 0;
	int rc;

	if ((rc = vx_call_project_read(c, project, &p)) != 0 ||
	    (rc = vx_store_schedule_list(
	         c->reader->txn, c->store, p->id, c->alloc, out, n)) != 0)
		return rc;
	for (size_t i = 0; i < *n; i++)
		if (vx_schedule_in_review((*out)[i]) == changes)
			(*out)[k++] = (*out)[i];
	if ((*n = k) > 1)
		qsort(*out, k, sizeof(**out), by_time);
	return 0;
}

static void
list_schedules(Vexil__V1__ScheduleService_Service *svc,
    const Vexil__V1__ListSchedulesRequest *in, Vexil__V1__ScheduleList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ScheduleList *out;
	int rc = VX_ENOMEM;

	(void)svc;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) != NULL) {
		vexil__v1__schedule_list__init(out);
		rc = vx_schedules_of(
		    c, in->project, false, &out->schedules, &out->n_schedules);
	}
	VX_REPLY(c, rc, out);
}

struct cancel_op {
	vx_call *c;
	uint64_t id;
	uint64_t project_id;
};

static int
cancel_tx(vx_wtxn *w, void *arg)
{
	struct cancel_op *op = arg;
	char target[32];
	int rc;

	if ((rc = vx_store_schedule_del(w, op->id)) == VX_ENOTFOUND)
		return vx_fail(op->c, rc, "id", NULL, "schedule %llu not found",
		    (unsigned long long)op->id);
	if (rc != 0)
		return rc;
	snprintf(target, sizeof(target), "schedule:%llu", (unsigned long long)op->id);
	return vx_store_audit(w, op->project_id,
	    VEXIL__V1__CHANGE_KIND__SCHEDULE_CANCELLED, target, op->c->who.actor,
	    op->c->method);
}

static void
cancel_schedule(Vexil__V1__ScheduleService_Service *svc,
    const Vexil__V1__CancelScheduleRequest *in, Vexil__V1__Empty_Closure closure,
    void *closure_data)
{
	static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;
	vx_call *c = closure_data;
	Vexil__V1__Schedule *sc;
	Vexil__V1__Project *p;
	struct cancel_op op = {c, in->id, 0};
	char ref[24];
	int rc;

	(void)svc;
	rc = vx_store_schedule_get(c->reader->txn, c->store, in->id, c->alloc, &sc);
	if (rc == 0 && vx_schedule_in_review(sc)) /* ChangeService's */
		rc = VX_ENOTFOUND;
	if (rc == 0) {
		/* Outside the caller's scope, or not of the project it names, a
		 * schedule does not exist for it. */
		snprintf(ref, sizeof(ref), "%llu", (unsigned long long)sc->project_id);
		rc = vx_call_project(
		    c, c->reader->txn, ref, VEXIL__V1__ROLE__ROLE_WRITE, &p);
		if (rc == VX_ENOTFOUND ||
		    (rc == 0 && *in->project && strcmp(in->project, ref) != 0 &&
		        strcmp(in->project, p->name) != 0))
			rc = VX_ENOTFOUND;
		else if (rc != 0)
			goto out;
	}
	if (rc == VX_ENOTFOUND) {
		memset(&c->st, 0, sizeof(c->st));
		rc = vx_fail(c, rc, "id", NULL, "schedule %llu not found",
		    (unsigned long long)in->id);
		goto out;
	}
	if (rc != 0)
		goto out;
	op.project_id = p->id;
	rc = vx_store_write(c->store, c->reader, cancel_tx, &op);
out:
	VX_REPLY(c, rc, &empty);
}

Vexil__V1__ScheduleService_Service vx_schedule_service =
    VEXIL__V1__SCHEDULE_SERVICE__INIT();

/* ---- the scheduler ---- */

struct fail_op {
	vx_scheduler *sch;
	uint64_t id;
	const vx_status *st;
};

/* Keeps a schedule whose write failed, with the error, until cancelled. */
static int
mark_failed_tx(vx_wtxn *w, void *arg)
{
	struct fail_op *op = arg;
	Vexil__V1__Schedule *sc;
	Vexil__V1__Status err = VEXIL__V1__STATUS__INIT;
	Vexil__V1__StatusDetail det = VEXIL__V1__STATUS_DETAIL__INIT;
	int rc;

	rc = vx_store_schedule_get(
	    vx_wtxn_txn(w), op->sch->store, op->id, &op->sch->arena.pb, &sc);
	if (rc == VX_ENOTFOUND) /* cancelled meanwhile: nothing to keep */
		return 0;
	if (rc != 0)
		return rc;
	err.code = op->st->code;
	err.message = (char *)op->st->message;
	det.field = (char *)op->st->field;
	det.constraint = (char *)op->st->constraint;
	err.details = &det;
	sc->state = VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED;
	sc->failed_at = vx_now_ms();
	sc->error = &err;
	return vx_store_schedule_put(w, sc);
}

/* Removes a schedule whose write succeeded without writing anything. */
static int
remove_tx(vx_wtxn *w, void *arg)
{
	int rc = vx_store_schedule_del(w, *(uint64_t *)arg);
	return rc == VX_ENOTFOUND ? 0 : rc;
}

/* Applies one due schedule as its caller. */
static void
apply(vx_scheduler *sch, const Vexil__V1__Schedule *sc)
{
	vx_call c;
	const vx_wire_method *m;
	const char *why = "";
	struct fail_op fop = {sch, sc->id, &c.st};
	uint64_t id = sc->id;
	int rc;

	vx_arena_reset(&sch->arena);
	memset(&c, 0, sizeof(c));
	c.srv = sch->srv;
	c.store = sch->store;
	c.reader = &sch->reader;
	c.arena = &sch->arena;
	c.alloc = &sch->arena.pb;
	c.cache = sch->cache;
	c.records = sch->records;
	c.method = sc->method;
	if ((m = vx_server_method(sch->srv, sc->method)) == NULL) {
		rc = vx_fail(
		    &c, VX_EINVAL, "method", NULL, "unknown method %.100s", sc->method);
		goto failed;
	}
	if (vx_store_reader_acquire(&sch->reader) != 0) {
		vx_log(VX_LOG_ERROR, "schedule %llu: storage unavailable; will retry",
		    (unsigned long long)id);
		return;
	}
	rc = vx_auth_principal(sch->reader.txn, sch->store,
	    sc->caller == VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_USER
	        ? VX_PRINCIPAL_USER
	        : VX_PRINCIPAL_APIKEY,
	    sc->caller_id, &c.who, &why);
	if (rc != 0) {
		vx_store_reader_release(&sch->reader);
		rc = vx_fail(&c, rc, "credential", NULL, "%s (%s, who scheduled this)",
		    why, sc->actor);
		goto failed;
	}
	/* An approved change request: its write passes the protection. */
	struct vx_review rv = {id, sc->review ? sc->review->base_revision : 0, NULL};
	if (sc->review != NULL)
		c.review = &rv;
	sch->reader.schedule_id = id;
	sch->reader.schedule_done = false;
	rc = vx_run_stored(&c, m, &sc->payload);
	sch->reader.schedule_id = 0;
	vx_store_reader_release(&sch->reader);
	if (rc != 0)
		goto failed;
	if (!sch->reader.schedule_done &&
	    vx_store_write(sch->store, NULL, remove_tx, &id) != 0)
		vx_log(VX_LOG_ERROR, "schedule %llu: applied, but not removed",
		    (unsigned long long)id);
	if (!sch->quiet)
		vx_log(VX_LOG_INFO, "schedule id=%llu method=%s code=OK actor=%s",
		    (unsigned long long)id, sc->method, sc->actor);
	return;
failed:
	vx_log(VX_LOG_WARN, "schedule id=%llu method=%s code=%s actor=%s msg=%s",
	    (unsigned long long)id, sc->method, vx_code_name(c.st.code), sc->actor,
	    c.st.message);
	if (vx_store_write(sch->store, NULL, mark_failed_tx, &fop) != 0)
		vx_log(VX_LOG_ERROR, "schedule %llu: cannot record its failure",
		    (unsigned long long)id);
}

/*
 * Applies every pending schedule that is due, in order. Returns the time
 * of the next pending one (0: none), or -1 when the store cannot be read.
 */
static int64_t
run_due(vx_scheduler *sch)
{
	Vexil__V1__Schedule **all = NULL, **due;
	size_t n = 0, ndue = 0;
	int64_t now = vx_now_ms(), next = 0;

	if (vx_store_reader_acquire(&sch->reader) != 0)
		return -1;
	if (vx_store_schedule_list(sch->reader.txn, sch->store, 0, NULL, &all, &n) != 0) {
		vx_store_reader_release(&sch->reader);
		return -1;
	}
	vx_store_reader_release(&sch->reader);
	if ((due = calloc(n ? n : 1, sizeof(*due))) == NULL)
		next = -1;
	for (size_t i = 0; due && i < n; i++) {
		if (all[i]->state != VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING)
			continue;
		if (all[i]->at <= now)
			due[ndue++] = all[i];
		else if (next == 0 || all[i]->at < next)
			next = all[i]->at;
	}
	if (ndue > 1)
		qsort(due, ndue, sizeof(*due), by_time);
	for (size_t i = 0; i < ndue; i++)
		apply(sch, due[i]);
	for (size_t i = 0; i < n; i++)
		vexil__v1__schedule__free_unpacked(all[i], NULL);
	free(all);
	free(due);
	return next;
}

static void *
scheduler_main(void *arg)
{
	vx_scheduler *sch = arg;
	struct timespec ts;
	int64_t next, wait;

	for (;;) {
		next = run_due(sch);
		wait = TICK_MS;
		if (next > 0 && next - vx_now_ms() < wait)
			wait = next - vx_now_ms();
		if (wait < 1)
			wait = 1;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&sch->lock);
		while (!sch->stopping && !sch->woken &&
		       pthread_cond_timedwait(&sch->cond, &sch->lock, &ts) != ETIMEDOUT)
			;
		sch->woken = false;
		if (sch->stopping) {
			pthread_mutex_unlock(&sch->lock);
			break;
		}
		pthread_mutex_unlock(&sch->lock);
	}
	return NULL;
}

int
vx_scheduler_start(vx_scheduler **out, vx_server *srv, vx_store *store,
    vx_evalcache *cache, vx_evalrec *records, bool quiet)
{
	vx_scheduler *sch;

	if ((sch = calloc(1, sizeof(*sch))) == NULL)
		return VX_ENOMEM;
	sch->srv = srv;
	sch->store = store;
	sch->cache = cache;
	sch->records = records;
	sch->quiet = quiet;
	pthread_mutex_init(&sch->lock, NULL);
	pthread_cond_init(&sch->cond, NULL);
	/* A stored input was at most a message; its reply is built from it. */
	vx_arena_init(&sch->arena, 4 * VX_WIRE_MAX_MSG + (1 << 20));
	vx_store_reader_init(&sch->reader, store);
	*out = sch;
	/* The overdue ones first, before the caller serves anyone. */
	(void)run_due(sch);
	if (pthread_create(&sch->thread, NULL, scheduler_main, sch) != 0)
		return VX_EIO;
	sch->started = true;
	return 0;
}

void
vx_scheduler_wake(vx_scheduler *sch)
{
	if (sch == NULL)
		return;
	pthread_mutex_lock(&sch->lock);
	sch->woken = true;
	pthread_cond_signal(&sch->cond);
	pthread_mutex_unlock(&sch->lock);
}

void
vx_scheduler_stop(vx_scheduler *sch)
{
	if (sch == NULL)
		return;
	pthread_mutex_lock(&sch->lock);
	sch->stopping = true;
	pthread_cond_signal(&sch->cond);
	pthread_mutex_unlock(&sch->lock);
	if (sch->started)
		pthread_join(sch->thread, NULL);
	vx_store_reader_fini(&sch->reader);
	vx_arena_fini(&sch->arena);
	pthread_mutex_destroy(&sch->lock);
	pthread_cond_destroy(&sch->cond);
	free(sch);
}
