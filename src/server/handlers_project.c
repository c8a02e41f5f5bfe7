/*
 * Vexil — ProjectService and EnvironmentService handlers.
 *
 * A new project always starts with the environments development, staging
 * and production, created in the same write. Every write records exactly
 * one change, so a project's revision goes up by one per committed write.
 */
#include "server/server.h"

#include <string.h>

static const char *const default_envs[] = {"development", "staging", "production"};
static const char *const default_env_names[] = {"Development", "Staging", "Production"};

static bool
all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int
vx_project_create(vx_wtxn *w, vx_call *c, const char *name, const char *description,
    uint64_t owner, Vexil__V1__Project **out)
{
	Vexil__V1__Project *p;
	Vexil__V1__Environment e;
	Vexil__V1__SdkKey *sdk;
	int64_t now = vx_now_ms();
	int rc;

	if ((p = vx_arena_alloc(c->arena, sizeof(*p))) == NULL)
		return VX_ENOMEM;
	vexil__v1__project__init(p);
	if ((rc = vx_store_next_id(w, VX_SEQ_PROJECT, &p->id)) != 0)
		return rc;
	p->name = (char *)name;
	p->description = (char *)(description ? description : "");
	p->owner_user_id = owner;
	p->created_at = p->updated_at = now;
	p->created_by = p->updated_by = c->who.actor;
	if ((rc = vx_sdk_key_create(w, c, p->id, "", &sdk, &p->sdk_key)) != 0)
		return rc;
	p->sdk_key_id = sdk->id;
	rc = vx_store_project_put(w, p);
	if (rc == VX_EEXIST)
		return vx_fail(c, rc, "name", "unique",
		    "a project named %.100s already exists", name);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < 3; i++) {
		vexil__v1__environment__init(&e);
		if ((rc = vx_store_next_id(w, VX_SEQ_ENV, &e.id)) != 0)
			return rc;
		e.project_id = p->id;
		e.key = (char *)default_envs[i];
		e.name = (char *)default_env_names[i];
		e.description = "";
		e.created_at = e.updated_at = now;
		if ((rc = vx_store_env_put(w, &e)) != 0)
			return rc;
	}
	if ((rc = vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__PROJECT_CREATED,
	         "", "", p->id, c->who.actor, c->method)) != 0)
		return rc;
	*out = p;
	return 0;
}

static int
check_project_fields(vx_call *c, const char *name, const char *description)
{
	int rc;
	if ((rc = vx_check_text(c, "name", name, 1, VX_NAME_MAX)) != 0 ||
	    (rc = vx_check_text(c, "description", description, 0, VX_DESC_MAX)) != 0)
		return rc;
	if (all_digits(name))
		return vx_fail(c, VX_EINVAL, "name", "pattern",
		    "name must not be all digits (those are project ids)");
	return 0;
}

struct project_op {
	vx_call *c;
	const void *in;
	Vexil__V1__Project *out;
};

static int
create_project_tx(vx_wtxn *w, void *arg)
{
	struct project_op *op = arg;
	const Vexil__V1__CreateProjectRequest *in = op->in;
	vx_call *c = op->c;
	return vx_project_create(w, c, in->name, in->description,
	    c->who.kind == VX_PRINCIPAL_USER ? c->who.id : 0, &op->out);
}

static void
create_project(Vexil__V1__ProjectService_Service *svc,
    const Vexil__V1__CreateProjectRequest *in, Vexil__V1__Project_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct project_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if ((rc = vx_auth_check(&c->who, 0, 0, VEXIL__V1__ROLE__ROLE_WRITE)) != 0)
		rc = vx_fail(
		    c, rc, NULL, NULL, "creating projects needs a global write key");
	else if ((rc = check_project_fields(c, in->name, in->description)) == 0)
		rc = vx_store_write(c->store, c->reader, create_project_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static void
get_project(Vexil__V1__ProjectService_Service *svc,
    const Vexil__V1__GetProjectRequest *in, Vexil__V1__Project_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Project *p = NULL;
	int rc;

	(void)svc;
	rc = vx_call_project_read(c, in->project, &p);
	VX_REPLY(c, rc, p);
}

static void
list_projects(Vexil__V1__ProjectService_Service *svc,
    const Vexil__V1__ListProjectsRequest *in, Vexil__V1__ProjectList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ProjectList *out;
	Vexil__V1__Project **all;
	size_t n, k = 0;
	int rc;

	(void)svc;
	out = vx_arena_alloc(c->arena, sizeof(*out));
	if (out == NULL) {
		VX_REPLY(c, VX_ENOMEM, NULL);
		return;
	}
	vexil__v1__project_list__init(out);
	rc = vx_store_project_list(c->reader->txn, c->store, c->alloc, &all, &n);
	if (rc == 0) {
		/* A scoped key sees only its own project; a user, the projects
		 * they own and (unless owned_only) those they are a member of. */
		for (size_t i = 0; i < n; i++)
			if (vx_auth_check_project(
			        &c->who, all[i], VEXIL__V1__ROLE__ROLE_READ) == 0 &&
			    (!in->owned_only || c->who.kind != VX_PRINCIPAL_USER ||
			        all[i]->owner_user_id == c->who.id))
				all[k++] = all[i];
		out->total = (uint32_t)k;
		size_t off = in->offset < k ? in->offset : k;
		size_t cnt = k - off;
		if (in->limit && cnt > in->limit)
			cnt = in->limit;
		out->projects = all + off;
		out->n_projects = cnt;
	}
	VX_REPLY(c, rc, out);
}

static const char *const project_mask[] = {"name", "description", NULL};

static int
update_project_tx(vx_wtxn *w, void *arg)
{
	struct project_op *op = arg;
	const Vexil__V1__UpdateProjectRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	int rc;

	if ((rc = vx_call_project(
	         c, vx_wtxn_txn(w), in->project, VEXIL__V1__ROLE__ROLE_WRITE, &p)) != 0)
		return rc;
	/* Like deleting it: the APIs that keep their records in `default`
	 * (and a user's own, made at sign-up) rely on it being there. */
	if (vx_mask_has(in->update_mask, in->n_update_mask, "name") &&
	    strcmp(p->name, "default") == 0 && strcmp(in->update->name, "default") != 0)
		return vx_fail(c, VX_ESTATE, "name", "default",
		    "the default project cannot be renamed");
	if (vx_mask_has(in->update_mask, in->n_update_mask, "name"))
		p->name = in->update->name;
	if (vx_mask_has(in->update_mask, in->n_update_mask, "description"))
		p->description = in->update->description;
	if ((rc = check_project_fields(c, p->name, p->description)) != 0)
		return rc;
	p->updated_at = vx_now_ms();
	p->updated_by = c->who.actor;
	rc = vx_store_project_put(w, p);
	if (rc == VX_EEXIST)
		return vx_fail(c, rc, "name", "unique",
		    "a project named %.100s already exists", p->name);
	if (rc == 0)
		rc = vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__PROJECT_UPDATED,
		    "", "", p->id, c->who.actor, c->method);
	op->out = p;
	return rc;
}

static void
update_project(Vexil__V1__ProjectService_Service *svc,
    const Vexil__V1__UpdateProjectRequest *in, Vexil__V1__Project_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct project_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if (in->update == NULL && in->n_update_mask > 0)
		rc = vx_fail(c, VX_EINVAL, "update", "required", "update is required");
	else if ((rc = vx_check_mask(
	              c, in->update_mask, in->n_update_mask, project_mask)) == 0)
		rc = vx_store_write(c->store, c->reader, update_project_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static int
delete_project_tx(vx_wtxn *w, void *arg)
{
	struct project_op *op = arg;
	const Vexil__V1__DeleteProjectRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	int rc;

	if ((rc = vx_call_project(
	         c, vx_wtxn_txn(w), in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0)
		return rc;
	if (strcmp(p->name, "default") == 0)
		return vx_fail(c, VX_ESTATE, "project", "default",
		    "the default project cannot be deleted");
	if ((rc = vx_store_project_del(w, p)) != 0 ||
	    (rc = vx_sdk_key_revoke(w, c, p->sdk_key_id)) != 0)
		return rc;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__PROJECT_DELETED, "",
	    "", p->id, c->who.actor, c->method);
}

static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;

static int
regenerate_tx(vx_wtxn *w, void *arg)
{
	struct project_op *op = arg;
	const Vexil__V1__GetProjectRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	Vexil__V1__SdkKey *sdk;
	int rc;

	if ((rc = vx_call_project(
	         c, vx_wtxn_txn(w), in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0 ||
	    (rc = vx_sdk_key_revoke(w, c, p->sdk_key_id)) != 0 ||
	    (rc = vx_sdk_key_create(w, c, p->id, "", &sdk, &p->sdk_key)) != 0)
		return rc;
	p->sdk_key_id = sdk->id;
	p->updated_at = vx_now_ms();
	p->updated_by = c->who.actor;
	if ((rc = vx_store_project_put(w, p)) != 0)
		return rc;
	op->out = p;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__PROJECT_UPDATED, "",
	    "", p->id, c->who.actor, c->method);
}

static void
regenerate_sdk_key(Vexil__V1__ProjectService_Service *svc,
    const Vexil__V1__GetProjectRequest *in, Vexil__V1__Project_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct project_op op = {c, in, NULL};
	int rc;

	(void)svc;
	rc = vx_store_write(c->store, c->reader, regenerate_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static void
delete_project(Vexil__V1__ProjectService_Service *svc,
    const Vexil__V1__DeleteProjectRequest *in, Vexil__V1__Empty_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct project_op op = {c, in, NULL};
	int rc;

	(void)svc;
	rc = vx_store_write(c->store, c->reader, delete_project_tx, &op);
	VX_REPLY(c, rc, &empty);
}

Vexil__V1__ProjectService_Service vx_project_service = VEXIL__V1__PROJECT_SERVICE__INIT();

/* ---- environments ---- */

struct env_op {
	vx_call *c;
	const void *in;
	Vexil__V1__Environment *out;
};

static int
env_get(
    vx_call *c, MDB_txn *txn, uint64_t pid, const char *key, Vexil__V1__Environment **out)
{
	int rc = vx_store_env_get(txn, c->store, pid, key, c->alloc, out);
	if (rc == VX_ENOTFOUND)
		return vx_fail(
		    c, rc, "environment", NULL, "environment %.64s not found", key);
	return rc;
}

static int
create_env_tx(vx_wtxn *w, void *arg)
{
	struct env_op *op = arg;
	const Vexil__V1__CreateEnvironmentRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e;
	int rc;

	if ((rc = vx_call_project(
	         c, vx_wtxn_txn(w), in->project, VEXIL__V1__ROLE__ROLE_WRITE, &p)) != 0)
		return rc;
	rc = vx_store_env_get(vx_wtxn_txn(w), c->store, p->id, in->key, c->alloc, &e);
	if (rc == 0)
		return vx_fail(c, VX_EEXIST, "key", "unique",
		    "environment %s already exists in project %.100s", in->key, p->name);
	if (rc != VX_ENOTFOUND)
		return rc;
	if ((e = vx_arena_alloc(c->arena, sizeof(*e))) == NULL)
		return VX_ENOMEM;
	vexil__v1__environment__init(e);
	if ((rc = vx_store_next_id(w, VX_SEQ_ENV, &e->id)) != 0)
		return rc;
	e->project_id = p->id;
	e->key = in->key;
	e->name = *in->name ? in->name : in->key;
	e->description = in->description;
	e->created_at = e->updated_at = vx_now_ms();
	if ((rc = vx_store_env_put(w, e)) != 0)
		return rc;
	op->out = e;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__ENVIRONMENT_CREATED,
	    e->key, "", e->id, c->who.actor, c->method);
}

static void
create_environment(Vexil__V1__EnvironmentService_Service *svc,
    const Vexil__V1__CreateEnvironmentRequest *in, Vexil__V1__Environment_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct env_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if ((rc = vx_check_key(c, "key", in->key, 64)) == 0 &&
	    (rc = vx_check_text(c, "name", in->name, 0, VX_NAME_MAX)) == 0 &&
	    (rc = vx_check_text(c, "description", in->description, 0, VX_DESC_MAX)) == 0)
		rc = vx_store_write(c->store, c->reader, create_env_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static void
get_environment(Vexil__V1__EnvironmentService_Service *svc,
    const Vexil__V1__GetEnvironmentRequest *in, Vexil__V1__Environment_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) == 0)
		rc = env_get(c, c->reader->txn, p->id, in->key, &e);
	VX_REPLY(c, rc, e);
}

static void
list_environments(Vexil__V1__EnvironmentService_Service *svc,
    const Vexil__V1__ListEnvironmentsRequest *in,
    Vexil__V1__EnvironmentList_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Project *p;
	Vexil__V1__EnvironmentList *out = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) == 0) {
		if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
			rc = VX_ENOMEM;
		} else {
			vexil__v1__environment_list__init(out);
			rc = vx_store_env_list(c->reader->txn, c->store, p->id, c->alloc,
			    &out->environments, &out->n_environments);
		}
	}
	VX_REPLY(c, rc, out);
}

static const char *const env_mask[] = {"name", "description", "protected", NULL};

static int
update_env_tx(vx_wtxn *w, void *arg)
{
	struct env_op *op = arg;
	const Vexil__V1__UpdateEnvironmentRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e;
	int rc;

	/* Protecting an environment, or lifting it, is for admins. */
	bool protect = vx_mask_has(in->update_mask, in->n_update_mask, "protected");

	if ((rc = vx_call_project(c, vx_wtxn_txn(w), in->project,
	         protect ? VEXIL__V1__ROLE__ROLE_ADMIN : VEXIL__V1__ROLE__ROLE_WRITE,
	         &p)) != 0 ||
	    (rc = env_get(c, vx_wtxn_txn(w), p->id, in->key, &e)) != 0)
		return rc;
	/* Lifting a protection, or setting one, is said in its audit entry. */
	if (protect && e->protected_ != in->update->protected_)
		vx_store_audit_detail(w, in->update->protected_ ? "protected: no → yes"
		                                                : "protected: yes → no");
	if (protect)
		e->protected_ = in->update->protected_;
	if (vx_mask_has(in->update_mask, in->n_update_mask, "name"))
		e->name = in->update->name;
	if (vx_mask_has(in->update_mask, in->n_update_mask, "description"))
		e->description = in->update->description;
	if ((rc = vx_check_text(c, "name", e->name, 1, VX_NAME_MAX)) != 0 ||
	    (rc = vx_check_text(c, "description", e->description, 0, VX_DESC_MAX)) != 0)
		return rc;
	e->updated_at = vx_now_ms();
	if ((rc = vx_store_env_put(w, e)) != 0)
		return rc;
	op->out = e;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__ENVIRONMENT_UPDATED,
	    e->key, "", e->id, c->who.actor, c->method);
}

static void
update_environment(Vexil__V1__EnvironmentService_Service *svc,
    const Vexil__V1__UpdateEnvironmentRequest *in, Vexil__V1__Environment_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct env_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if (in->update == NULL && in->n_update_mask > 0)
		rc = vx_fail(c, VX_EINVAL, "update", "required", "update is required");
	else if ((rc = vx_check_mask(c, in->update_mask, in->n_update_mask, env_mask)) ==
	         0)
		rc = vx_store_write(c->store, c->reader, update_env_tx, &op);
	VX_REPLY(c, rc, op.out);
}

/*
 * Deleting an environment also drops its configuration (state, rollout and
 * rules) from every flag of the project, in the same write.
 */
static int
delete_env_tx(vx_wtxn *w, void *arg)
{
	struct env_op *op = arg;
	const Vexil__V1__DeleteEnvironmentRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e;
	Vexil__V1__Flag **flags;
	size_t n;
	int rc;

	if ((rc = vx_call_project(
	         c, vx_wtxn_txn(w), in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0 ||
	    (rc = env_get(c, vx_wtxn_txn(w), p->id, in->key, &e)) != 0)
		return rc;
	/* A protected environment goes in two steps, each an admin's and
	 * audited: lifting its protection, then deleting it. */
	if (e->protected_)
		return vx_fail(c, VX_ESTATE, "key", "protected",
		    "environment %.128s is protected: an admin lifts its protection "
		    "before deleting it",
		    e->key);
	if ((rc = vx_store_flag_list(
	         vx_wtxn_txn(w), c->store, p->id, c->alloc, &flags, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		Vexil__V1__Flag *f = flags[i];
		size_t k = 0;
		for (size_t j = 0; j < f->n_envs; j++)
			if (strcmp(f->envs[j]->environment, e->key) != 0)
				f->envs[k++] = f->envs[j];
		if (k == f->n_envs)
			continue;
		f->n_envs = k;
		if ((rc = vx_store_flag_put(w, f)) != 0)
			return rc;
	}
	if ((rc = vx_store_env_del(w, p->id, e->key)) != 0)
		return rc;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__ENVIRONMENT_DELETED,
	    e->key, "", e->id, c->who.actor, c->method);
}

static void
delete_environment(Vexil__V1__EnvironmentService_Service *svc,
    const Vexil__V1__DeleteEnvironmentRequest *in, Vexil__V1__Empty_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct env_op op = {c, in, NULL};
	int rc;

	(void)svc;
	rc = vx_store_write(c->store, c->reader, delete_env_tx, &op);
	VX_REPLY(c, rc, &empty);
}

Vexil__V1__EnvironmentService_Service vx_environment_service =
    VEXIL__V1__ENVIRONMENT_SERVICE__INIT();
