/*
 * Vexil — SegmentService handlers, and the checks flags make on the
 * segments their rules name.
 *
 * A segment is a named list of conditions kept once per project. Rules
 * name segments; the model inlines a segment's conditions into each rule
 * that names it when a flag set is compiled (model/compile.h), so flags
 * are never rewritten when a segment changes. Each write here is one
 * transaction with one change: an update bumps the project revision once,
 * and every evaluator recompiles the project at that revision (vexild's
 * cache by revision; a watch because every Changes reply carries all the
 * segments). Before an update is stored, every flag that names the segment
 * is compiled with the new conditions, so none stops compiling; a segment
 * that a rule names cannot be deleted.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "model/compile.h"

#define MAX_SEGMENTS_PER_RULE 16

static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;

static bool
rule_names(const Vexil__V1__Rule *r, const char *name)
{
	for (size_t i = 0; i < r->n_segments; i++)
		if (strcmp(r->segments[i], name) == 0)
			return true;
	return false;
}

/* The first rule of f (in any environment) that names segment `name`. */
static bool
flag_uses(const Vexil__V1__Flag *f, const char *name, const char **env, uint64_t *rule)
{
	for (size_t i = 0; i < f->n_envs; i++)
		for (size_t j = 0; j < f->envs[i]->n_rules; j++)
			if (rule_names(f->envs[i]->rules[j], name)) {
				*env = f->envs[i]->environment;
				*rule = f->envs[i]->rules[j]->id;
				return true;
			}
	return false;
}

int
vx_segments_for(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f,
    Vexil__V1__Segment ***out, size_t *n)
{
	bool any = false;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < f->n_envs && !any; i++)
		for (size_t j = 0; j < f->envs[i]->n_rules && !any; j++)
			any = f->envs[i]->rules[j]->n_segments > 0;
	if (!any)
		return 0;
	return vx_store_segment_list(txn, c->store, f->project_id, c->alloc, out, n);
}

int
vx_segment_refs_check(vx_call *c, const Vexil__V1__FlagEnvConfig *cfg,
    Vexil__V1__Segment *const *segs, size_t nsegs)
{
	char field[96];
	int rc;

	for (size_t i = 0; i < cfg->n_rules; i++) {
		const Vexil__V1__Rule *r = cfg->rules[i];
		if (r->n_segments > MAX_SEGMENTS_PER_RULE) {
			snprintf(field, sizeof(field), "rules[%zu].segments", i);
			return vx_fail(c, VX_EINVAL, field, "max_items", "%s: at most %d",
			    field, MAX_SEGMENTS_PER_RULE);
		}
		for (size_t j = 0; j < r->n_segments; j++) {
			bool found = false;
			snprintf(field, sizeof(field), "rules[%zu].segments[%zu]", i, j);
			if ((rc = vx_check_key(c, field, r->segments[j], VX_KEY_MAX)) !=
			    0)
				return rc;
			for (size_t k = 0; k < j; k++)
				if (strcmp(r->segments[k], r->segments[j]) == 0)
					return vx_fail(c, VX_EINVAL, field, "unique",
					    "%s: segment %.128s is named twice", field,
					    r->segments[j]);
			for (size_t k = 0; k < nsegs && !found; k++)
				found = strcmp(segs[k]->name, r->segments[j]) == 0;
			if (!found)
				return vx_fail(c, VX_ESTATE, field, "reference",
				    "%s: no segment %.128s in the flag's project", field,
				    r->segments[j]);
		}
	}
	return 0;
}

/* The segment's own fields, and its conditions compiled by the engine. */
int
vx_segment_check(vx_call *c, const Vexil__V1__Segment *g)
{
	Vexil__V1__Variant on = VEXIL__V1__VARIANT__INIT, *vp[] = {&on};
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *rp[] = {&r};
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT;
	vx_eval_flag *compiled;
	char err[200];
	int rc;

	if ((rc = vx_check_key(c, "name", g->name, VX_KEY_MAX)) != 0 ||
	    (rc = vx_check_text(c, "description", g->description, 0, VX_DESC_MAX)) != 0 ||
	    (rc = vx_conditions_check(c, "", g->conditions, g->n_conditions)) != 0)
		return rc;
	/* A one-rule flag holding the conditions: what compiles there compiles
	 * in any rule (the per-rule pattern bounds are checked per flag). */
	on.key = "on";
	on.value = "true";
	r.conditions = g->conditions;
	r.n_conditions = g->n_conditions;
	r.variant = "on";
	cfg.environment = "";
	cfg.default_variant = cfg.off_variant = "on";
	cfg.rules = rp;
	cfg.n_rules = 1;
	f.key = g->name;
	f.variants = vp;
	f.n_variants = 1;
	rc = vx_flag_compile(&f, &cfg, &compiled, err, sizeof(err));
	if (rc == VX_EINVAL)
		return vx_fail(c, rc, "conditions", "compile", "%s",
		    strncmp(err, "rules[0].", 9) == 0 ? err + 9 : err);
	if (rc != 0)
		return rc;
	vx_eval_flag_free(compiled);
	return 0;
}

static int
segment_load(vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p, const char *name,
    Vexil__V1__Segment **out)
{
	int rc = vx_store_segment_get(txn, c->store, p->id, name, c->alloc, out);
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "name", NULL,
		    "segment %.128s not found in project %.100s", name, p->name);
	return rc;
}

/*
 * Every flag of p that names segment g->name must still compile with g as
 * it is about to be stored, in each environment.
 */
int
vx_segment_users_compile(
    vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p, Vexil__V1__Segment *g)
{
	Vexil__V1__Flag **flags;
	Vexil__V1__Segment **segs;
	size_t n, nsegs;
	const char *env;
	uint64_t rule;
	int rc;

	if ((rc = vx_store_flag_list(txn, c->store, p->id, c->alloc, &flags, &n)) != 0 ||
	    (rc = vx_store_segment_list(txn, c->store, p->id, c->alloc, &segs, &nsegs)) !=
	        0)
		return rc;
	for (size_t i = 0; i < nsegs; i++)
		if (strcmp(segs[i]->name, g->name) == 0)
			segs[i] = g;
	for (size_t i = 0; i < n; i++) {
		if (!flag_uses(flags[i], g->name, &env, &rule))
			continue;
		for (size_t j = 0; j < flags[i]->n_envs; j++) {
			vx_eval_flag *compiled;
			char err[200];
			rc = vx_flag_compile_in(flags[i], flags[i]->envs[j], segs, nsegs,
			    &compiled, err, sizeof(err));
			if (rc == VX_EINVAL)
				return vx_fail(c, rc, "conditions", "compile",
				    "flag %.128s would not compile in environment %.64s: "
				    "%s",
				    flags[i]->key, flags[i]->envs[j]->environment, err);
			if (rc != 0)
				return rc;
			vx_eval_flag_free(compiled);
		}
	}
	return 0;
}

/* ---- the write path: one transaction, one change ---- */

enum seg_op { SEG_CREATE, SEG_UPDATE, SEG_DELETE };

struct seg_write {
	vx_call *c;
	enum seg_op op;
	const char *project;
	const char *name;
	const Vexil__V1__Segment *in; /* create: the segment; update: the new fields */
	char **mask;
	size_t nmask;
	Vexil__V1__Segment *out;
};

static int
seg_write_tx(vx_wtxn *w, void *arg)
{
	struct seg_write *sw = arg;
	vx_call *c = sw->c;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Project *p;
	Vexil__V1__Segment *g, *old;
	Vexil__V1__ChangeKind kind;
	int rc;

	if ((rc = vx_call_project(
	         c, txn, sw->project, VEXIL__V1__ROLE__ROLE_WRITE, &p)) != 0)
		return rc;
	if (sw->op == SEG_CREATE) {
		rc = vx_store_segment_get(
		    txn, c->store, p->id, sw->in->name, c->alloc, &old);
		if (rc == 0)
			return vx_fail(c, VX_EEXIST, "name", "unique",
			    "segment %.128s already exists in project %.100s",
			    sw->in->name, p->name);
		if (rc != VX_ENOTFOUND)
			return rc;
		g = (Vexil__V1__Segment *)sw->in;
		if ((rc = vx_store_next_id(w, VX_SEQ_SEGMENT, &g->id)) != 0)
			return rc;
		g->project_id = p->id;
		g->created_at = vx_now_ms();
		g->created_by = c->who.actor;
		kind = VEXIL__V1__CHANGE_KIND__SEGMENT_CREATED;
	} else {
		if ((rc = segment_load(c, txn, p, sw->name, &g)) != 0)
			return rc;
		kind = sw->op == SEG_UPDATE ? VEXIL__V1__CHANGE_KIND__SEGMENT_UPDATED
		                            : VEXIL__V1__CHANGE_KIND__SEGMENT_DELETED;
	}
	if (sw->op == SEG_DELETE) {
		Vexil__V1__Flag **flags;
		size_t n;
		const char *env;
		uint64_t rule;
		if ((rc = vx_store_flag_list(
		         txn, c->store, p->id, c->alloc, &flags, &n)) != 0)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (flag_uses(flags[i], g->name, &env, &rule))
				return vx_fail(c, VX_ESTATE, "name", "in_use",
				    "segment %.128s is used by rule %llu of flag %.128s "
				    "in "
				    "environment %.64s; remove it from the rule first",
				    g->name, (unsigned long long)rule, flags[i]->key,
				    env);
		rc = vx_store_segment_del(w, p->id, g->name);
	} else {
		if (sw->op == SEG_UPDATE) {
			if (vx_mask_has(sw->mask, sw->nmask, "description"))
				g->description = sw->in->description;
			if (vx_mask_has(sw->mask, sw->nmask, "conditions")) {
				g->conditions = sw->in->conditions;
				g->n_conditions = sw->in->n_conditions;
			}
		}
		g->updated_at = vx_now_ms();
		g->updated_by = c->who.actor;
		if ((rc = vx_segment_check(c, g)) != 0 ||
		    (sw->op == SEG_UPDATE &&
		        (rc = vx_segment_users_compile(c, txn, p, g)) != 0))
			return rc;
		rc = vx_store_segment_put(w, g);
	}
	if (rc != 0)
		return rc;
	sw->out = g;
	/* No flag key: a watcher refetches no flag, and recompiles with the
	 * segments every reply carries. */
	return vx_store_record_change(w, p, kind, "", "", g->id, c->who.actor, c->method);
}

static int
seg_write(struct seg_write *sw)
{
	return vx_store_write(sw->c->store, sw->c->reader, seg_write_tx, sw);
}

static void
create_segment(Vexil__V1__SegmentService_Service *svc,
    const Vexil__V1__CreateSegmentRequest *in, Vexil__V1__Segment_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct seg_write sw = {
	    c, SEG_CREATE, in->project, NULL, in->segment, NULL, 0, NULL};
	int rc;

	(void)svc;
	if (in->segment == NULL)
		rc = vx_fail(c, VX_EINVAL, "segment", "required", "segment is required");
	else if ((rc = vx_check_key(c, "segment.name", in->segment->name, VX_KEY_MAX)) ==
	         0)
		rc = seg_write(&sw);
	VX_REPLY(c, rc, sw.out);
}

static void
update_segment(Vexil__V1__SegmentService_Service *svc,
    const Vexil__V1__UpdateSegmentRequest *in, Vexil__V1__Segment_Closure closure,
    void *closure_data)
{
	static const char *const allowed[] = {"description", "conditions", NULL};
	vx_call *c = closure_data;
	struct seg_write sw = {c, SEG_UPDATE, in->project, in->name, in->update,
	    in->update_mask, in->n_update_mask, NULL};
	int rc;

	(void)svc;
	if (in->update == NULL)
		rc = vx_fail(c, VX_EINVAL, "update", "required", "update is required");
	else if ((rc = vx_check_mask(c, in->update_mask, in->n_update_mask, allowed)) ==
	         0)
		rc = seg_write(&sw);
	VX_REPLY(c, rc, sw.out);
}

static void
delete_segment(Vexil__V1__SegmentService_Service *svc,
    const Vexil__V1__DeleteSegmentRequest *in, Vexil__V1__Empty_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	struct seg_write sw = {c, SEG_DELETE, in->project, in->name, NULL, NULL, 0, NULL};

	(void)svc;
	VX_REPLY(c, seg_write(&sw), &empty);
}

static void
get_segment(Vexil__V1__SegmentService_Service *svc,
    const Vexil__V1__GetSegmentRequest *in, Vexil__V1__Segment_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Project *p;
	Vexil__V1__Segment *g = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) == 0)
		rc = segment_load(c, c->reader->txn, p, in->name, &g);
	VX_REPLY(c, rc, g);
}

static void
list_segments(Vexil__V1__SegmentService_Service *svc,
    const Vexil__V1__ListSegmentsRequest *in, Vexil__V1__SegmentList_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Project *p;
	Vexil__V1__SegmentList *out = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__segment_list__init(out);
	rc = vx_store_segment_list(
	    c->reader->txn, c->store, p->id, c->alloc, &out->segments, &out->n_segments);
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__SegmentService_Service vx_segment_service = VEXIL__V1__SEGMENT_SERVICE__INIT();
