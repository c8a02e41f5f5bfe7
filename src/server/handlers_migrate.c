/*
 * Vexil — AdminService/Import and Export: a project in one piece.
 *
 * Import writes a set of environments, segments and flags in one write
 * transaction, checked with the same rules as the one-at-a-time calls
 * (vx_flag_check, vx_segment_check), and records one change of kind
 * PROJECT_IMPORTED: one revision and one notice, however many flags. A
 * watcher answers that change with a snapshot (handlers_watch.c). The first
 * entity that fails refuses the whole import, and the failure names it.
 * A dry run runs the same body and then aborts it.
 *
 * Export reads the same three lists in one read transaction. File formats
 * (Vexil's JSON, Unleash, flagd) are the caller's business (src/migrate).
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct import_op {
	vx_call *c;
	const Vexil__V1__ImportRequest *in;
	Vexil__V1__ImportReply *out;
	bool checked; /* a dry run got through every check */
};

/* Prefixes the recorded failure with the entity it is about. */
static int
name_failure(vx_call *c, int rc, const char *what, size_t i, const char *key)
{
	char field[2 * sizeof(c->st.field)], msg[2 * sizeof(c->st.message)];
	int n;

	if (c->st.code == VEXIL__V1__CODE__OK)
		return rc;
	n = snprintf(field, sizeof(field), "%s[%zu]%s%s", what, i,
	    c->st.field[0] ? "." : "", c->st.field);
	if (n > 0 && (size_t)n < sizeof(c->st.field))
		memcpy(c->st.field, field, (size_t)n + 1);
	/* "flags" -> "flag", "segments" -> "segment", ... */
	n = snprintf(msg, sizeof(msg), "%.*s %.128s: %s", (int)strlen(what) - 1, what,
	    key, c->st.message);
	if (n > 0) {
		size_t len = (size_t)n < sizeof(c->st.message)
		                 ? (size_t)n
		                 : sizeof(c->st.message) - 1;
		memcpy(c->st.message, msg, len);
		c->st.message[len] = '\0';
	}
	return rc;
}

static int
import_envs(vx_wtxn *w, struct import_op *op, Vexil__V1__Project *p)
{
	vx_call *c = op->c;
	const Vexil__V1__ImportRequest *in = op->in;
	Vexil__V1__Environment *e, *old;
	int rc;

	for (size_t i = 0; i < in->n_environments; i++) {
		e = in->environments[i];
		if ((rc = vx_check_key(c, "key", e->key, 64)) != 0 ||
		    (rc = vx_check_text(c, "name", e->name, 0, VX_NAME_MAX)) != 0 ||
		    (rc = vx_check_text(
		         c, "description", e->description, 0, VX_DESC_MAX)) != 0)
			return name_failure(c, rc, "environments", i, e->key);
		rc = vx_store_env_get(
		    vx_wtxn_txn(w), c->store, p->id, e->key, c->alloc, &old);
		if (rc == 0)
			continue;
		if (rc != VX_ENOTFOUND ||
		    (rc = vx_store_next_id(w, VX_SEQ_ENV, &e->id)) != 0)
			return rc;
		e->project_id = p->id;
		if (*e->name == '\0')
			e->name = e->key;
		e->created_at = e->updated_at = vx_now_ms();
		if ((rc = vx_store_env_put(w, e)) != 0)
			return rc;
		op->out->environments_created++;
	}
	return 0;
}

static int
import_segments(vx_wtxn *w, struct import_op *op, Vexil__V1__Project *p)
{
	vx_call *c = op->c;
	const Vexil__V1__ImportRequest *in = op->in;
	Vexil__V1__Segment *g, *old;
	int rc;

	for (size_t i = 0; i < in->n_segments; i++) {
		g = in->segments[i];
		if ((rc = vx_segment_check(c, g)) != 0)
			return name_failure(c, rc, "segments", i, g->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(in->segments[j]->name, g->name) == 0)
				return vx_fail(c, VX_EINVAL, "segments", "unique",
				    "segment %.128s appears twice", g->name);
		rc = vx_store_segment_get(
		    vx_wtxn_txn(w), c->store, p->id, g->name, c->alloc, &old);
		if (rc == 0) {
			g->id = old->id;
			g->created_at = old->created_at;
			g->created_by = old->created_by;
			op->out->segments_replaced++;
		} else if (rc == VX_ENOTFOUND) {
			if ((rc = vx_store_next_id(w, VX_SEQ_SEGMENT, &g->id)) != 0)
				return rc;
			g->created_at = vx_now_ms();
			g->created_by = c->who.actor;
			op->out->segments_created++;
		} else {
			return rc;
		}
		g->project_id = p->id;
		g->updated_at = vx_now_ms();
		g->updated_by = c->who.actor;
		if ((rc = vx_store_segment_put(w, g)) != 0)
			return rc;
	}
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No flag key twice (sorted, as an import may hold many thousands). */
static int
unique_keys(vx_call *c, const Vexil__V1__ImportRequest *in)
{
	char **keys;

	if (in->n_flags < 2)
		return 0;
	if ((keys = vx_arena_alloc(c->arena, in->n_flags * sizeof(*keys))) == NULL)
		return VX_ENOMEM;
	for (size_t i = 0; i < in->n_flags; i++)
		keys[i] = in->flags[i]->key;
	qsort(keys, in->n_flags, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < in->n_flags; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			return vx_fail(c, VX_EINVAL, "flags", "unique",
			    "flag %.128s appears twice", keys[i]);
	return 0;
}

/*
 * Flags go in two passes: every flag is stored first, then each is checked
 * against the store as it will be, so a prerequisite may name a flag that
 * comes later in the request.
 */
static int
import_flags(vx_wtxn *w, struct import_op *op, Vexil__V1__Project *p)
{
	vx_call *c = op->c;
	const Vexil__V1__ImportRequest *in = op->in;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Flag *f, *old;
	int rc;

	if ((rc = unique_keys(c, in)) != 0)
		return rc;
	for (size_t i = 0; i < in->n_flags; i++) {
		f = in->flags[i];
		if ((rc = vx_check_key(c, "key", f->key, VX_KEY_MAX)) != 0)
			return name_failure(c, rc, "flags", i, f->key);
		rc = vx_store_flag_get(txn, c->store, p->id, f->key, c->alloc, &old);
		if (rc == 0) {
			op->out->flags_replaced++;
		} else if (rc == VX_ENOTFOUND) {
			old = NULL;
			op->out->flags_created++;
		} else {
			return rc;
		}
		if ((rc = vx_flag_prepare(w, c, p, f, old)) != 0 ||
		    (rc = vx_protect_import(c, w, p, old, f)) != 0 ||
		    (rc = vx_store_flag_put(w, f)) != 0)
			return name_failure(c, rc, "flags", i, f->key);
	}
	for (size_t i = 0; i < in->n_flags; i++) {
		if ((rc = vx_flag_check(c, txn, in->flags[i])) != 0)
			return name_failure(c, rc, "flags", i, in->flags[i]->key);
	}
	return 0;
}

static int
import_tx(vx_wtxn *w, void *arg)
{
	struct import_op *op = arg;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	int rc;

	/* The body runs again when the map grows: count from nothing. */
	vexil__v1__import_reply__init(op->out);
	if ((rc = vx_call_project(c, vx_wtxn_txn(w), op->in->project,
	         VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0 ||
	    (rc = import_envs(w, op, p)) != 0 || (rc = import_segments(w, op, p)) != 0 ||
	    (rc = import_flags(w, op, p)) != 0)
		return rc;
	/* Flags of the project the import left alone must still compile with
	 * the segments it replaced. */
	for (size_t i = 0; i < op->in->n_segments; i++)
		if ((rc = vx_segment_users_compile(
		         c, vx_wtxn_txn(w), p, op->in->segments[i])) != 0)
			return name_failure(
			    c, rc, "segments", i, op->in->segments[i]->name);
	if (op->in->dry_run) {
		op->out->revision = p->revision;
		op->checked = true;
		return VX_ESTATE; /* aborts the transaction; see vx_admin_import() */
	}
	if ((rc = vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__PROJECT_IMPORTED,
	         "", "", p->id, c->who.actor, c->method)) != 0)
		return rc;
	op->out->revision = p->revision;
	return 0;
}

void
vx_admin_import(Vexil__V1__AdminService_Service *svc, const Vexil__V1__ImportRequest *in,
    Vexil__V1__ImportReply_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ImportReply *out = vx_arena_alloc(c->arena, sizeof(*out));
	struct import_op op = {c, in, out, false};
	int rc;

	(void)svc;
	if (out == NULL) {
		rc = VX_ENOMEM;
		goto done;
	}
	vexil__v1__import_reply__init(out);
	rc = vx_store_write(c->store, c->reader, import_tx, &op);
	if (op.checked && rc == VX_ESTATE)
		rc = 0;
	out->dry_run = in->dry_run;
done:
	VX_REPLY(c, rc, out);
}

void
vx_admin_export(Vexil__V1__AdminService_Service *svc, const Vexil__V1__ExportRequest *in,
    Vexil__V1__ExportReply_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ExportReply *out = NULL;
	MDB_txn *txn = c->reader->txn;
	Vexil__V1__Project *p;
	int rc;

	(void)svc;
	if ((rc = vx_call_project(
	         c, txn, in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0)
		goto done;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto done;
	}
	vexil__v1__export_reply__init(out);
	out->project = p;
	if ((rc = vx_store_env_list(txn, c->store, p->id, c->alloc, &out->environments,
	         &out->n_environments)) != 0 ||
	    (rc = vx_store_segment_list(
	         txn, c->store, p->id, c->alloc, &out->segments, &out->n_segments)) != 0)
		goto done;
	rc = vx_store_flag_list(
	    txn, c->store, p->id, c->alloc, &out->flags, &out->n_flags);
done:
	VX_REPLY(c, rc, out);
}
