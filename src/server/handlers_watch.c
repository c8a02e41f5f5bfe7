/*
 * Vexil — WatchService: what changed in a project since a revision.
 *
 * A PUB notice only says that something changed; subscribers come here for
 * the changes themselves, authenticated and scoped like any other call.
 * The reply is read in one transaction. It carries at most MAX_ENTRIES log
 * entries, `revision` being the last one's, and the current state of the
 * flags they name (which may be newer: applying a newer state early is
 * harmless, since the caller goes on to the head). When the log no longer
 * reaches back to `since` (or the caller has nothing yet), the reply is a
 * full snapshot at the head.
 *
 * With wait_ms, a caller already at the head is held (the dispatcher
 * parks the request, server.c) until a write to the project commits, and
 * then gets that change in the reply: one reply per subscriber per write,
 * with no notice-then-fetch round trip.
 */
#include "server/server.h"

#include <string.h>

/* Log entries per reply; the caller asks again for the rest. */
#define MAX_ENTRIES 1000
/* The longest a long-poll may wait. */
#define MAX_WAIT_MS 60000

static bool
seen_before(Vexil__V1__Change **ch, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(ch[j]->flag_key, ch[i]->flag_key) == 0)
			return true;
	return false;
}

static int
add_changed_flags(vx_call *c, uint64_t pid, Vexil__V1__ChangesReply *out)
{
	Vexil__V1__Flag **flags = vx_arena_alloc(c->arena, (out->n_changes + 1) * sizeof(*flags));
	char **gone = vx_arena_alloc(c->arena, (out->n_changes + 1) * sizeof(*gone));
	int rc;

	if (flags == NULL || gone == NULL)
		return VX_ENOMEM;
	out->flags = flags;
	out->deleted_flags = gone;
	for (size_t i = 0; i < out->n_changes; i++) {
		const char *key = out->changes[i]->flag_key;
		if (*key == '\0' || seen_before(out->changes, i))
			continue;
		rc = vx_store_flag_get(c->reader->txn, c->store, pid, key, c->alloc,
		    &flags[out->n_flags]);
		if (rc == 0)
			out->n_flags++;
		else if (rc == VX_ENOTFOUND)
			gone[out->n_deleted_flags++] = (char *)key;
		else
			return rc;
	}
	return 0;
}

static bool
any_import(const Vexil__V1__ChangesReply *out)
{
	for (size_t i = 0; i < out->n_changes; i++)
		if (out->changes[i]->kind == VEXIL__V1__CHANGE_KIND__PROJECT_IMPORTED)
			return true;
	return false;
}

static void
changes(Vexil__V1__WatchService_Service *svc, const Vexil__V1__ChangesRequest *in,
    Vexil__V1__ChangesReply_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ChangesReply *out = NULL;
	Vexil__V1__Project *p;
	uint64_t oldest;
	int rc;

	(void)svc;
	if (in->wait_ms > MAX_WAIT_MS) {
		rc = vx_fail(
		    c, VX_EINVAL, "wait_ms", "max", "wait_ms is at most %d", MAX_WAIT_MS);
		goto out;
	}
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__changes_reply__init(out);
	out->project_id = p->id;
	out->revision = p->revision;
	out->head_revision = p->revision;
	if (in->head_only) {
		/* Nothing to apply: it brings the caller up to nothing. */
		out->revision = 0;
		goto out;
	}
	if (in->since == p->revision && in->wait_ms > 0 && !c->woken) {
		/* Parked: this reply is never sent (the request is served again
		 * when woken), so it reads no more than the revision. */
		c->park_ms = in->wait_ms;
		c->park_project = p->id;
		goto out;
	}
	/* The same answer, packed for another caller in this snapshot. */
	c->share.txnid = mdb_txn_id(c->reader->txn);
	c->share.project = p->id;
	c->share.since = in->since;
	if (c->replies != NULL && (c->packed = vx_replymemo_find(c->replies, &c->share,
	                               c->arena, &c->packed_len)) != NULL)
		goto out;
	c->sharing = c->replies != NULL;
	if ((rc = vx_store_env_list(c->reader->txn, c->store, p->id, c->alloc,
	         &out->environments, &out->n_environments)) != 0 ||
	    (rc = vx_store_segment_list(c->reader->txn, c->store, p->id, c->alloc,
	         &out->segments, &out->n_segments)) != 0)
		goto out;
	if (in->since == p->revision)
		goto out;
	if (in->since != 0 && in->since < p->revision) {
		rc = vx_store_changes(c->reader->txn, c->store, p->id, in->since, MAX_ENTRIES,
		    c->alloc, &out->changes, &out->n_changes, &oldest);
		if (rc != 0)
			goto out;
		/* Covered: the log holds every revision after `since`, and
		 * none of them is an import, which names no flag (a snapshot
		 * brings the caller up to date instead). */
		if (oldest != 0 && oldest <= in->since + 1 && !any_import(out)) {
			if (out->n_changes > 0)
				out->revision = out->changes[out->n_changes - 1]->revision;
			rc = add_changed_flags(c, p->id, out);
			goto out;
		}
	}
	/* A snapshot: since is 0, older than the log, or ahead of us. */
	out->snapshot = true;
	out->n_changes = 0;
	rc = vx_store_flag_list(c->reader->txn, c->store, p->id, c->alloc, &out->flags,
	    &out->n_flags);
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__WatchService_Service vx_watch_service = VEXIL__V1__WATCH_SERVICE__INIT();
