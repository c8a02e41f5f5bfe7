/*
 * Vexil — protected environments and change requests (docs/teams.md).
 *
 * Every flag write (UpdateFlag, SetFlagEnabled, UpdateFlagEnv, the rule
 * writes, DeleteFlag) goes through flag_write_tx (handlers_flag.c), which
 * calls vx_protect_before and vx_protect_after (vx_protect_delete for a
 * delete) around its mutation, and CreateFlag calls vx_protect_create: when
 * the state of a protected environment of the flag changed, the write goes on
 * only for an approved change request (review set on the call) or an
 * admin API key (audited PROTECTION_BYPASSED); anyone else's write is
 * aborted and the call remembers why. vx_invoke then hands the request to
 * vx_change_open, which stores it as a change request: a Schedule
 * (server/schedule.c) with `review` set, state SCHEDULE_AWAITING_REVIEW
 * and no time, so the scheduler never runs it. Approval runs the stored
 * write through vx_run_stored, as its author loaded again, with the
 * reader's schedule_id set: the store removes the request in the write's
 * own transaction, so it applies once, and the write gets its revision,
 * audit entries (its own, and CHANGE_APPROVED naming the approver) and
 * change notice like any other.
 */
#include "server/flagdiff.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMENT_MAX 2000
#define COMMENTS_MAX 200

/* ---- the guard in the flag write path ---- */

static int
pack_env(vx_call *c, const Vexil__V1__FlagEnvConfig *cfg, ProtobufCBinaryData *out)
{
	out->len = 0;
	out->data = NULL;
	if (cfg == NULL) /* not configured yet: the write may add it */
		return 0;
	out->len = protobuf_c_message_get_packed_size(&cfg->base);
	if ((out->data = vx_arena_alloc(c->arena, out->len + 1)) == NULL)
		return VX_ENOMEM;
	protobuf_c_message_pack(&cfg->base, out->data);
	return 0;
}

int
vx_protect_before(vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p,
    const Vexil__V1__Flag *f, struct vx_protect *g)
{
	Vexil__V1__Environment **envs;
	size_t n;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = vx_store_env_list(txn, c->store, p->id, c->alloc, &envs, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!envs[i]->protected_)
			continue;
		if (g->env == NULL &&
		    ((g->env = vx_arena_alloc(c->arena, n * sizeof(*g->env))) == NULL ||
		        (g->before = vx_arena_alloc(c->arena, n * sizeof(*g->before))) ==
		            NULL))
			return VX_ENOMEM;
		g->env[g->n] = envs[i]->key;
		if ((rc = pack_env(c, vx_flag_env(f, envs[i]->key), &g->before[g->n])) !=
		    0)
			return rc;
		g->n++;
	}
	return 0;
}

/* Did the flag change after revision base (or can the log not tell)? */
static int
stale_check(vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p, const char *key,
    const struct vx_review *rv)
{
	Vexil__V1__Change **chs;
	size_t n;
	uint64_t oldest;
	int rc;

	rc = vx_store_changes(
	    txn, c->store, p->id, rv->base_revision, 0, c->alloc, &chs, &n, &oldest);
	if (rc != 0)
		return rc;
	if (oldest > rv->base_revision + 1 && p->revision > rv->base_revision)
		return vx_fail(c, VX_ESTATE, "id", "stale",
		    "change request %llu is stale: the change log no longer reaches "
		    "its base revision %llu; propose the change again",
		    (unsigned long long)rv->id, (unsigned long long)rv->base_revision);
	for (size_t i = 0; i < n; i++)
		if (strcmp(chs[i]->flag_key, key) == 0)
			return vx_fail(c, VX_ESTATE, "id", "stale",
			    "change request %llu is stale: flag %.128s changed at "
			    "revision %llu, after its base revision %llu; propose the "
			    "change again",
			    (unsigned long long)rv->id, key,
			    (unsigned long long)chs[i]->revision,
			    (unsigned long long)rv->base_revision);
	return 0;
}

/* An approved request's write: its stale check, and CHANGE_APPROVED
 * naming the approver (unless it was approved ahead of its time). */
static int
approved(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const char *key)
{
	char target[160];
	int rc;

	if ((rc = stale_check(c, vx_wtxn_txn(w), p, key, c->review)) != 0 ||
	    c->review->approver == NULL)
		return rc;
	snprintf(
	    target, sizeof(target), "change:%llu", (unsigned long long)c->review->id);
	return vx_store_audit(w, p->id, VEXIL__V1__CHANGE_KIND__CHANGE_APPROVED, target,
	    c->review->approver, "vexil.v1.ChangeService/ApproveChange");
}

static bool
may_bypass(const vx_call *c)
{
	return c->who.kind == VX_PRINCIPAL_APIKEY &&
	       c->who.role == VEXIL__V1__ROLE__ROLE_ADMIN;
}

/* An admin API key's write to protected environment env, audited. */
static int
bypass(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const char *env)
{
	char target[160];

	snprintf(target, sizeof(target), "environment:%.128s", env);
	return vx_store_audit(w, p->id, VEXIL__V1__CHANGE_KIND__PROTECTION_BYPASSED,
	    target, c->who.actor, c->method);
}

/*
 * The write changes protected environment env of p: an admin API key goes
 * on, audited as a bypass; anyone else's write stops, and the call notes
 * what to store (its diff: the flag's summary before, against after, NULL
 * when the flag is deleted).
 */
static int
changed(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const char *env,
    const char *before, const Vexil__V1__Flag *after)
{
	const char *now = "";

	if (may_bypass(c))
		return bypass(c, w, p, env);
	if (after != NULL && (now = vx_flag_summary(c->arena, after)) == NULL)
		return VX_ENOMEM;
	c->protected_diff = vx_flag_diff(c->arena, before ? before : "", now);
	if (c->protected_diff == NULL)
		return VX_ENOMEM;
	c->protected_env = env;
	c->protected_project = p->id;
	c->protected_base = p->revision;
	return vx_fail(c, VX_ESTATE, "environment", "protected",
	    "environment %.128s is protected: this write needs a change "
	    "request that another member approves",
	    env);
}

int
vx_protect_after(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const Vexil__V1__Flag *f,
    const struct vx_protect *g)
{
	ProtobufCBinaryData now;
	int rc;

	if (c->review != NULL)
		return approved(c, w, p, f->key);
	for (size_t i = 0; i < g->n; i++) {
		if ((rc = pack_env(c, vx_flag_env(f, g->env[i]), &now)) != 0)
			return rc;
		if (now.len == g->before[i].len &&
		    (now.len == 0 || memcmp(now.data, g->before[i].data, now.len) == 0))
			continue;
		/* An admin API key may: each protected environment it changes
		 * is audited as a bypass. */
		if ((rc = changed(c, w, p, g->env[i], g->summary, f)) != 0)
			return rc;
	}
	return 0;
}

int
vx_protect_delete(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const Vexil__V1__Flag *f,
    const struct vx_protect *g)
{
	int rc;

	if (c->review != NULL)
		return approved(c, w, p, f->key);
	for (size_t i = 0; i < g->n; i++)
		if (g->before[i].len > 0 &&
		    (rc = changed(c, w, p, g->env[i], g->summary, NULL)) != 0)
			return rc;
	return 0;
}

int
vx_protect_create(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, const Vexil__V1__Flag *f)
{
	Vexil__V1__Environment **envs;
	const Vexil__V1__FlagEnvConfig *cfg;
	size_t n;
	int rc;

	if (c->review != NULL)
		return approved(c, w, p, f->key);
	if ((rc = vx_store_env_list(
	         vx_wtxn_txn(w), c->store, p->id, c->alloc, &envs, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (envs[i]->protected_ && (cfg = vx_flag_env(f, envs[i]->key)) != NULL &&
		    cfg->enabled && (rc = changed(c, w, p, envs[i]->key, "", f)) != 0)
			return rc;
	return 0;
}

/* cfg (or NULL) packed with every rule id 0: an import numbers its rules
 * anew, and the same rules must compare the same. */
static int
pack_env_unnumbered(vx_call *c, Vexil__V1__FlagEnvConfig *cfg, ProtobufCBinaryData *out)
{
	uint64_t *ids = NULL;
	int rc;

	if (cfg != NULL && cfg->n_rules > 0) {
		if ((ids = vx_arena_alloc(c->arena, cfg->n_rules * sizeof(*ids))) == NULL)
			return VX_ENOMEM;
		for (size_t i = 0; i < cfg->n_rules; i++) {
			ids[i] = cfg->rules[i]->id;
			cfg->rules[i]->id = 0;
		}
	}
	rc = pack_env(c, cfg, out);
	for (size_t i = 0; ids != NULL && i < cfg->n_rules; i++)
		cfg->rules[i]->id = ids[i];
	return rc;
}

int
vx_protect_import(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p,
    const Vexil__V1__Flag *old, const Vexil__V1__Flag *f)
{
	Vexil__V1__Environment **envs;
	Vexil__V1__FlagEnvConfig *was, *now;
	ProtobufCBinaryData a, b;
	size_t n;
	int rc;

	if ((rc = vx_store_env_list(
	         vx_wtxn_txn(w), c->store, p->id, c->alloc, &envs, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!envs[i]->protected_)
			continue;
		now = (Vexil__V1__FlagEnvConfig *)vx_flag_env(f, envs[i]->key);
		if (old == NULL) {
			if (now == NULL || !now->enabled)
				continue; /* starts off: as CreateFlag, no review */
		} else {
			was = (Vexil__V1__FlagEnvConfig *)vx_flag_env(old, envs[i]->key);
			if ((rc = pack_env_unnumbered(c, was, &a)) != 0 ||
			    (rc = pack_env_unnumbered(c, now, &b)) != 0)
				return rc;
			if (a.len == b.len &&
			    (a.len == 0 || memcmp(a.data, b.data, a.len) == 0))
				continue;
		}
		if (!may_bypass(c))
			return vx_fail(c, VX_ESTATE, "environment", "protected",
			    "environment %.128s is protected: an import may change it "
			    "only with an admin API key (a change request holds one "
			    "flag write, not an import)",
			    envs[i]->key);
		if ((rc = bypass(c, w, p, envs[i]->key)) != 0)
			return rc;
	}
	return 0;
}

/* ---- opening a request ---- */

bool
vx_schedule_in_review(const Vexil__V1__Schedule *sc)
{
	return sc->review != NULL &&
	       sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW;
}

int
vx_change_review(vx_call *c, const vx_call *stopped, Vexil__V1__Schedule *sc)
{
	Vexil__V1__ChangeReview *rv;

	if (stopped->protected_env == NULL)
		return VX_ESTATE;
	if ((rv = vx_arena_alloc(c->arena, sizeof(*rv))) == NULL)
		return VX_ENOMEM;
	vexil__v1__change_review__init(rv);
	rv->environment = (char *)stopped->protected_env;
	rv->base_revision = stopped->protected_base;
	rv->diff = (char *)(stopped->protected_diff ? stopped->protected_diff : "");
	sc->review = rv;
	sc->state = VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW;
	return 0;
}

struct open_op {
	vx_call *c;
	Vexil__V1__Schedule *sc;
};

static int
open_tx(vx_wtxn *w, void *arg)
{
	struct open_op *op = arg;
	char target[32];
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_SCHEDULE, &op->sc->id)) != 0 ||
	    (rc = vx_store_schedule_put(w, op->sc)) != 0)
		return rc;
	snprintf(target, sizeof(target), "change:%llu", (unsigned long long)op->sc->id);
	vx_store_audit_detail(w, op->sc->review->diff);
	return vx_store_audit(w, op->sc->project_id,
	    VEXIL__V1__CHANGE_KIND__CHANGE_REQUESTED, target, op->c->who.actor,
	    op->c->method);
}

void
vx_change_open(vx_call *c, const vx_wire_method *m, ProtobufCMessage *in)
{
	Vexil__V1__Schedule *sc;
	struct open_op op = {c, NULL};
	const char *env = c->protected_env;
	vx_call stopped = *c;
	vx_status why = c->st;
	int rc;

	c->protected_env = NULL;
	memset(&c->st, 0, sizeof(c->st));
	/* A read-modify-write's if_revision becomes the base revision: the
	 * request is stale if its flag changed after what the caller read,
	 * while other flags' writes do not stop it. */
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field_by_name(
	        in->descriptor, "if_revision");
	if (fd != NULL && fd->type == PROTOBUF_C_TYPE_UINT64 &&
	    fd->label != PROTOBUF_C_LABEL_REPEATED) {
		uint64_t *ifr = (uint64_t *)((char *)in + fd->offset);
		if (*ifr != 0 && *ifr < stopped.protected_base)
			stopped.protected_base = *ifr;
		*ifr = 0;
	}
	if ((rc = vx_schedule_record(c, m, in, c->protected_project, &sc)) != 0 ||
	    (rc = vx_change_review(c, &stopped, sc)) != 0)
		goto failed;
	op.sc = sc;
	if ((rc = vx_store_write(c->store, c->reader, open_tx, &op)) != 0)
		goto failed;
	vx_status_set(&c->st, VEXIL__V1__CODE__FAILED_PRECONDITION, "change_request",
	    "change_request",
	    "change request %llu opened: environment %.100s is protected, so this "
	    "write waits for another member with write or admin to approve it",
	    (unsigned long long)sc->id, env);
	c->out = NULL;
	return;
failed:
	/* Not stored: the caller still learns why the write was not made. */
	if (c->st.code == VEXIL__V1__CODE__OK)
		c->st = why;
	c->out = NULL;
}

/* ---- ChangeService ---- */

/*
 * The change request `ref` names, of a project the caller may act on with
 * `need` (a request outside the caller's scope does not exist for it).
 */
static int
change_get(vx_call *c, MDB_txn *txn, const Vexil__V1__ChangeRef *ref,
    Vexil__V1__Role need, Vexil__V1__Schedule **sc, Vexil__V1__Project **p)
{
	char id[24];
	int rc;

	if (ref == NULL)
		return vx_fail(c, VX_EINVAL, "ref", "required", "ref is required");
	rc = vx_store_schedule_get(txn, c->store, ref->id, c->alloc, sc);
	if (rc == 0 && !vx_schedule_in_review(*sc))
		rc = VX_ENOTFOUND;
	if (rc == 0) {
		snprintf(id, sizeof(id), "%llu", (unsigned long long)(*sc)->project_id);
		rc = vx_call_project(c, txn, id, need, p);
		if (rc == 0 && *ref->project && strcmp(ref->project, id) != 0 &&
		    strcmp(ref->project, (*p)->name) != 0)
			rc = VX_ENOTFOUND;
		if (rc != 0 && rc != VX_ENOTFOUND)
			return rc;
	}
	if (rc == VX_ENOTFOUND) {
		memset(&c->st, 0, sizeof(c->st));
		return vx_fail(c, rc, "id", NULL, "change request %llu not found",
		    (unsigned long long)ref->id);
	}
	return rc;
}

static bool
is_author(const vx_call *c, const Vexil__V1__Schedule *sc)
{
	bool user = sc->caller == VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_USER;
	return (c->who.kind == VX_PRINCIPAL_USER) == user && c->who.id == sc->caller_id;
}

static void
list_changes(Vexil__V1__ChangeService_Service *svc,
    const Vexil__V1__ListChangesRequest *in, Vexil__V1__ChangeList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ChangeList *out;
	int rc = VX_ENOMEM;

	(void)svc;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) != NULL) {
		vexil__v1__change_list__init(out);
		rc =
		    vx_schedules_of(c, in->project, true, &out->changes, &out->n_changes);
	}
	VX_REPLY(c, rc, out);
}

static void
get_change(Vexil__V1__ChangeService_Service *svc, const Vexil__V1__ChangeRef *in,
    Vexil__V1__Schedule_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Schedule *sc = NULL;
	Vexil__V1__Project *p;
	int rc;

	(void)svc;
	rc = change_get(c, c->reader->txn, in, VEXIL__V1__ROLE__ROLE_READ, &sc, &p);
	VX_REPLY(c, rc, sc);
}

/* A review step that only edits or drops the request: comment, reject,
 * withdraw. */
struct review_op {
	vx_call *c;
	const Vexil__V1__ChangeRef *ref;
	Vexil__V1__Role need;
	Vexil__V1__ChangeKind kind;
	const char *comment; /* CHANGE_COMMENTED */
	Vexil__V1__Schedule *out;
};

static int
review_tx(vx_wtxn *w, void *arg)
{
	struct review_op *op = arg;
	vx_call *c = op->c;
	Vexil__V1__Schedule *sc;
	Vexil__V1__Project *p;
	Vexil__V1__ChangeComment *cm, **all;
	Vexil__V1__ChangeReview *rv;
	char target[32];
	int rc;

	if ((rc = change_get(c, vx_wtxn_txn(w), op->ref, op->need, &sc, &p)) != 0)
		return rc;
	rv = sc->review;
	switch (op->kind) {
	case VEXIL__V1__CHANGE_KIND__CHANGE_WITHDRAWN:
		if (!is_author(c, sc))
			return vx_fail(c, VX_EPERM, "id", "author",
			    "only the author of change request %llu (%.200s) can "
			    "withdraw it",
			    (unsigned long long)sc->id, sc->actor);
		rc = vx_store_schedule_del(w, sc->id);
		break;
	case VEXIL__V1__CHANGE_KIND__CHANGE_REJECTED:
		rc = vx_store_schedule_del(w, sc->id);
		break;
	default:
		if (rv->n_comments >= COMMENTS_MAX)
			return vx_fail(c, VX_EINVAL, "text", "max",
			    "change request %llu has %d comments, the most it keeps",
			    (unsigned long long)sc->id, COMMENTS_MAX);
		if ((cm = vx_arena_alloc(c->arena, sizeof(*cm))) == NULL ||
		    (all = vx_arena_alloc(
		         c->arena, (rv->n_comments + 1) * sizeof(*all))) == NULL)
			return VX_ENOMEM;
		vexil__v1__change_comment__init(cm);
		cm->actor = c->who.actor;
		cm->time = vx_now_ms();
		cm->text = (char *)op->comment;
		if (rv->n_comments)
			memcpy(all, rv->comments, rv->n_comments * sizeof(*all));
		all[rv->n_comments++] = cm;
		rv->comments = all;
		rc = vx_store_schedule_put(w, sc);
		op->out = sc;
		break;
	}
	if (rc != 0)
		return rc;
	snprintf(target, sizeof(target), "change:%llu", (unsigned long long)sc->id);
	return vx_store_audit(w, p->id, op->kind, target, c->who.actor, c->method);
}

static int
review(vx_call *c, struct review_op *op)
{
	return vx_store_write(c->store, c->reader, review_tx, op);
}

static void
comment_change(Vexil__V1__ChangeService_Service *svc,
    const Vexil__V1__CommentChangeRequest *in, Vexil__V1__Schedule_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct review_op op = {c, in->ref, VEXIL__V1__ROLE__ROLE_READ,
	    VEXIL__V1__CHANGE_KIND__CHANGE_COMMENTED, in->text, NULL};
	int rc;

	(void)svc;
	if ((rc = vx_check_text(c, "text", in->text, 1, COMMENT_MAX)) == 0)
		rc = review(c, &op);
	VX_REPLY(c, rc, op.out);
}

static void
reject_change(Vexil__V1__ChangeService_Service *svc, const Vexil__V1__ChangeRef *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;
	vx_call *c = closure_data;
	struct review_op op = {c, in, VEXIL__V1__ROLE__ROLE_WRITE,
	    VEXIL__V1__CHANGE_KIND__CHANGE_REJECTED, NULL, NULL};
	int rc;

	(void)svc;
	rc = review(c, &op);
	VX_REPLY(c, rc, &empty);
}

static void
withdraw_change(Vexil__V1__ChangeService_Service *svc, const Vexil__V1__ChangeRef *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;
	vx_call *c = closure_data;
	struct review_op op = {c, in, VEXIL__V1__ROLE__ROLE_READ,
	    VEXIL__V1__CHANGE_KIND__CHANGE_WITHDRAWN, NULL, NULL};
	int rc;

	(void)svc;
	rc = review(c, &op);
	VX_REPLY(c, rc, &empty);
}

/* Approving a timed request ahead of its time: it becomes a pending
 * schedule again, which the scheduler makes at its time. */
struct ahead_op {
	vx_call *c;
	const Vexil__V1__ChangeRef *ref;
	Vexil__V1__Schedule *out;
};

static int
ahead_tx(vx_wtxn *w, void *arg)
{
	struct ahead_op *op = arg;
	vx_call *c = op->c;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Schedule *sc;
	Vexil__V1__Project *p;
	struct vx_review rv = {op->ref->id, 0, NULL};
	char target[32];
	int rc;

	if ((rc = change_get(c, txn, op->ref, VEXIL__V1__ROLE__ROLE_WRITE, &sc, &p)) != 0)
		return rc;
	rv.base_revision = sc->review->base_revision;
	if ((rc = stale_check(c, txn, p, sc->target, &rv)) != 0)
		return rc;
	sc->state = VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING;
	sc->review->approved_by = c->who.actor;
	sc->review->approved_at = vx_now_ms();
	if ((rc = vx_store_schedule_put(w, sc)) != 0)
		return rc;
	op->out = sc;
	snprintf(target, sizeof(target), "change:%llu", (unsigned long long)sc->id);
	return vx_store_audit(w, p->id, VEXIL__V1__CHANGE_KIND__CHANGE_APPROVED, target,
	    c->who.actor, c->method);
}

/*
 * Approval: by a member with write or admin (or an admin API key) who is
 * not the author; the stored write then runs as its author (loaded again, so a
 * removed member's request fails), in one write that removes the request.
 */
static void
approve_change(Vexil__V1__ChangeService_Service *svc, const Vexil__V1__ChangeRef *in,
    Vexil__V1__Schedule_Closure closure, void *closure_data)
{
	vx_call *c = closure_data, run;
	Vexil__V1__Schedule *sc = NULL;
	Vexil__V1__Project *p;
	const vx_wire_method *m;
	struct vx_review rv;
	const char *why = "";
	int rc;

	(void)svc;
	if ((rc = change_get(
	         c, c->reader->txn, in, VEXIL__V1__ROLE__ROLE_WRITE, &sc, &p)) != 0)
		goto out;
	if (is_author(c, sc)) {
		rc = vx_fail(c, VX_EPERM, "id", "author",
		    "change request %llu is yours: another member must approve it",
		    (unsigned long long)sc->id);
		goto out;
	}
	/* A key that could bypass protection may approve; no other key. */
	if (c->who.kind != VX_PRINCIPAL_USER &&
	    c->who.role != VEXIL__V1__ROLE__ROLE_ADMIN) {
		rc = vx_fail(c, VX_EPERM, "credential", "member",
		    "a change request is approved by a member with write or admin, or "
		    "an admin API key");
		goto out;
	}
	if (sc->at > vx_now_ms()) {
		struct ahead_op op = {c, in, NULL};
		if ((rc = vx_store_write(c->store, c->reader, ahead_tx, &op)) == 0) {
			sc = op.out;
			vx_scheduler_wake(vx_server_scheduler(c->srv));
		}
		goto out;
	}
	if ((m = vx_server_method(c->srv, sc->method)) == NULL) {
		rc = vx_fail(
		    c, VX_EINTERNAL, "method", NULL, "unknown method %.100s", sc->method);
		goto out;
	}
	run = *c;
	memset(&run.st, 0, sizeof(run.st));
	run.snap = NULL;
	rc = vx_auth_principal(c->reader->txn, c->store,
	    sc->caller == VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_USER
	        ? VX_PRINCIPAL_USER
	        : VX_PRINCIPAL_APIKEY,
	    sc->caller_id, &run.who, &why);
	if (rc != 0) {
		rc = vx_fail(c, VX_ESTATE, "id", "author",
		    "change request %llu cannot apply: %s of %.200s, its author",
		    (unsigned long long)sc->id, why, sc->actor);
		goto out;
	}
	rv.id = sc->id;
	rv.base_revision = sc->review->base_revision;
	rv.approver = c->who.actor;
	run.review = &rv;
	c->reader->schedule_id = sc->id;
	c->reader->schedule_done = false;
	rc = vx_run_stored(&run, m, &sc->payload);
	c->reader->schedule_id = 0;
	if (rc != 0) {
		c->st = run.st;
		rc = VX_ESTATE;
	} else {
		/* The reply: the request as approved (and made). */
		sc->state = VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING;
		sc->review->approved_by = c->who.actor;
		sc->review->approved_at = vx_now_ms();
	}
out:
	VX_REPLY(c, rc, rc == 0 ? sc : NULL);
}

Vexil__V1__ChangeService_Service vx_change_service = VEXIL__V1__CHANGE_SERVICE__INIT();
