/*
 * Vexil — MemberService: users who share a project (docs/teams.md).
 *
 * A project's members live in its own record (Project.members), so the
 * check every call makes (vx_call_project() -> vx_auth_check_project())
 * reads them with the project and needs no second lookup. The owner is
 * not a member entry: the owner is always an admin, cannot be removed and
 * keeps the role, so a project never loses its last admin. Each change is
 * one write: the project's revision goes up, with an audit entry and a
 * PROJECT_UPDATED notice.
 */
#include "server/server.h"

#include <ctype.h>
#include <string.h>

/* Members a project may have; far beyond a team, well within a record. */
#define MEMBERS_MAX 1000

struct member_op {
	vx_call *c;
	const void *in;
	Vexil__V1__Member *out;
};

static int
check_role(vx_call *c, Vexil__V1__Role role)
{
	if (role < VEXIL__V1__ROLE__ROLE_READ || role > VEXIL__V1__ROLE__ROLE_ADMIN)
		return vx_fail(
		    c, VX_EINVAL, "role", "enum", "role must be read, write or admin");
	return 0;
}

/* The user with this email (emails are stored lower-cased). */
static int
find_user(vx_call *c, MDB_txn *txn, const char *email, Vexil__V1__User **out)
{
	char *lower;
	int rc;

	if (email == NULL || *email == '\0')
		return vx_fail(c, VX_EINVAL, "email", "required", "email is required");
	if ((lower = vx_arena_strdup(c->arena, email)) == NULL)
		return VX_ENOMEM;
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	rc = vx_store_user_find(txn, c->store, lower, c->alloc, out);
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "email", NULL, "no user with email %.200s", email);
	return rc;
}

/* The user ref names (by id, else by email). */
static int
member_id(vx_call *c, MDB_txn *txn, const Vexil__V1__MemberRef *ref, uint64_t *id)
{
	Vexil__V1__User *u;
	int rc;

	if ((*id = ref->user_id) != 0)
		return 0;
	if ((rc = find_user(c, txn, ref->email, &u)) != 0)
		return rc;
	*id = u->id;
	return 0;
}

/* The index in p->members of user id (the owner is refused with
 * what_owner). */
static int
member_at(vx_call *c, const Vexil__V1__Project *p, uint64_t id, const char *what_owner,
    size_t *at)
{
	if (id == p->owner_user_id)
		return vx_fail(c, VX_ESTATE, "member", "owner", "%s", what_owner);
	for (size_t i = 0; i < p->n_members; i++)
		if (p->members[i]->user_id == id) {
			*at = i;
			return 0;
		}
	return vx_fail(c, VX_ENOTFOUND, "member", NULL,
	    "user %llu is not a member of %.100s", (unsigned long long)id, p->name);
}

/* Commits p's changed membership: one revision, an audit entry, a notice. */
static int
commit(vx_wtxn *w, vx_call *c, Vexil__V1__Project *p)
{
	int rc;

	p->updated_at = vx_now_ms();
	p->updated_by = c->who.actor;
	if ((rc = vx_store_project_put(w, p)) != 0)
		return rc;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__PROJECT_UPDATED, "",
	    "", p->id, c->who.actor, c->method);
}

static int
add_tx(vx_wtxn *w, void *arg)
{
	struct member_op *op = arg;
	const Vexil__V1__AddMemberRequest *in = op->in;
	vx_call *c = op->c;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Project *p;
	Vexil__V1__Member *m, **all;
	Vexil__V1__User *u;
	int rc;

	if ((rc = vx_call_project(
	         c, txn, in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0 ||
	    (rc = find_user(c, txn, in->email, &u)) != 0)
		return rc;
	if (vx_auth_member_role(p, u->id) != VEXIL__V1__ROLE__ROLE_UNSPECIFIED)
		return vx_fail(c, VX_EEXIST, "email", "unique",
		    "%.200s is already %s of %.100s", u->email,
		    u->id == p->owner_user_id ? "the owner" : "a member", p->name);
	if (p->n_members >= MEMBERS_MAX)
		return vx_fail(c, VX_EINVAL, "members", "max_items",
		    "a project has at most %d members", MEMBERS_MAX);
	m = vx_arena_alloc(c->arena, sizeof(*m));
	all = vx_arena_alloc(c->arena, (p->n_members + 1) * sizeof(*all));
	if (m == NULL || all == NULL)
		return VX_ENOMEM;
	vexil__v1__member__init(m);
	m->user_id = u->id;
	m->role = in->role;
	m->email = u->email;
	m->added_at = vx_now_ms();
	m->added_by = c->who.actor;
	if (p->n_members)
		memcpy(all, p->members, p->n_members * sizeof(*all));
	all[p->n_members++] = m;
	p->members = all;
	op->out = m;
	return commit(w, c, p);
}

static void
add_member(Vexil__V1__MemberService_Service *svc, const Vexil__V1__AddMemberRequest *in,
    Vexil__V1__Member_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct member_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if ((rc = check_role(c, in->role)) == 0)
		rc = vx_store_write(c->store, c->reader, add_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static int
set_role_tx(vx_wtxn *w, void *arg)
{
	struct member_op *op = arg;
	const Vexil__V1__SetMemberRoleRequest *in = op->in;
	vx_call *c = op->c;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Project *p;
	uint64_t id;
	size_t at = 0;
	int rc;

	if ((rc = vx_call_project(
	         c, txn, in->member->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0 ||
	    (rc = member_id(c, txn, in->member, &id)) != 0 ||
	    (rc = member_at(
	         c, p, id, "the owner is always an admin of the project", &at)) != 0)
		return rc;
	p->members[at]->role = in->role;
	op->out = p->members[at];
	return commit(w, c, p);
}

static void
set_member_role(Vexil__V1__MemberService_Service *svc,
    const Vexil__V1__SetMemberRoleRequest *in, Vexil__V1__Member_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct member_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if (in->member == NULL)
		rc = vx_fail(c, VX_EINVAL, "member", "required", "member is required");
	else if ((rc = check_role(c, in->role)) == 0)
		rc = vx_store_write(c->store, c->reader, set_role_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static int
remove_tx(vx_wtxn *w, void *arg)
{
	struct member_op *op = arg;
	const Vexil__V1__MemberRef *in = op->in;
	vx_call *c = op->c;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Project *p;
	uint64_t id;
	size_t at = 0;
	int rc;

	/* Members may leave by themselves; removing another takes admin. The
	 * project is checked first, so that who cannot see it learns nothing
	 * of its users. */
	if ((rc = vx_call_project(c, txn, in->project, VEXIL__V1__ROLE__ROLE_READ, &p)) !=
	        0 ||
	    (rc = member_id(c, txn, in, &id)) != 0)
		return rc;
	if (!(c->who.kind == VX_PRINCIPAL_USER && id == c->who.id) &&
	    (rc = vx_call_project(
	         c, txn, in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0)
		return rc;
	if ((rc = member_at(c, p, id,
	         "the owner cannot be removed: the owner is always an admin", &at)) != 0)
		return rc;
	memmove(p->members + at, p->members + at + 1,
	    (p->n_members - at - 1) * sizeof(*p->members));
	p->n_members--;
	return commit(w, c, p);
}

static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;

static void
remove_member(Vexil__V1__MemberService_Service *svc, const Vexil__V1__MemberRef *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct member_op op = {c, in, NULL};
	int rc;

	(void)svc;
	rc = vx_store_write(c->store, c->reader, remove_tx, &op);
	VX_REPLY(c, rc, rc == 0 ? &empty : NULL);
}

static void
list_members(Vexil__V1__MemberService_Service *svc,
    const Vexil__V1__ListMembersRequest *in, Vexil__V1__MemberList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__MemberList *out = NULL;
	Vexil__V1__Project *p;
	Vexil__V1__Member *owner;
	Vexil__V1__User *u = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	/* The owner (none for a project made with an API key) comes first. */
	if (p->owner_user_id != 0) {
		rc = vx_store_user_get(
		    c->reader->txn, c->store, p->owner_user_id, c->alloc, &u);
		if (rc != 0 && rc != VX_ENOTFOUND)
			goto out;
	}
	out = vx_arena_alloc(c->arena, sizeof(*out));
	owner = vx_arena_alloc(c->arena, sizeof(*owner));
	if (out != NULL)
		vexil__v1__member_list__init(out);
	if (out == NULL || owner == NULL ||
	    (out->members = vx_arena_alloc(
	         c->arena, (p->n_members + 1) * sizeof(*out->members))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	rc = 0;
	if (u != NULL) {
		vexil__v1__member__init(owner);
		owner->user_id = u->id;
		owner->role = VEXIL__V1__ROLE__ROLE_ADMIN;
		owner->email = u->email;
		owner->added_at = p->created_at;
		owner->added_by = p->created_by;
		out->members[out->n_members++] = owner;
	}
	for (size_t i = 0; i < p->n_members; i++)
		out->members[out->n_members++] = p->members[i];
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__MemberService_Service vx_member_service = VEXIL__V1__MEMBER_SERVICE__INIT();
