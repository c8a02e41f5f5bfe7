/*
 * Vexil — the checks on a flag's prerequisites before it is stored.
 *
 * A prerequisite names a parent flag of the same project, per environment
 * (model.proto, Prerequisite). Its own fields are checked with the rest of
 * the flag (vx_flag_check); then, when the flag has any prerequisite, the
 * project's whole graph is checked with the flag as it is about to be
 * stored (model/prereq.h), because a new edge can close a cycle or make a
 * descendant's chain too deep. A flag that others require cannot be
 * deleted until they stop requiring it.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "model/prereq.h"

int
vx_prereq_fields_check(vx_call *c, const Vexil__V1__Flag *f, size_t idx)
{
	const Vexil__V1__FlagEnvConfig *cfg = f->envs[idx];
	char field[128];
	int rc;

	if (cfg->n_prerequisites > VX_EVAL_PREREQ_MAX) {
		snprintf(field, sizeof(field), "envs[%zu].prerequisites", idx);
		return vx_fail(c, VX_EINVAL, field, "max_items",
		    "%s has more than %d entries", field, VX_EVAL_PREREQ_MAX);
	}
	for (size_t i = 0; i < cfg->n_prerequisites; i++) {
		const Vexil__V1__Prerequisite *p = cfg->prerequisites[i];

		snprintf(field, sizeof(field), "envs[%zu].prerequisites[%zu].flag_key",
		    idx, i);
		if ((rc = vx_check_key(c, field, p->flag_key, VX_KEY_MAX)) != 0)
			return rc;
		if (strcmp(p->flag_key, f->key) == 0)
			return vx_fail(c, VX_EINVAL, field, "reference",
			    "%s: a flag cannot require itself", field);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->prerequisites[j]->flag_key, p->flag_key) == 0)
				return vx_fail(c, VX_EINVAL, field, "unique",
				    "%s: %.128s is required twice", field, p->flag_key);
		snprintf(field, sizeof(field), "envs[%zu].prerequisites[%zu].variants",
		    idx, i);
		if (p->when_off && p->n_variants)
			return vx_fail(c, VX_EINVAL, field, "one_of",
			    "%s: variants apply only when the parent must be on", field);
		if (p->n_variants > 100)
			return vx_fail(
			    c, VX_EINVAL, field, "max_items", "%s: at most 100", field);
		for (size_t j = 0; j < p->n_variants; j++)
			if ((rc = vx_check_key(c, field, p->variants[j], 64)) != 0)
				return rc;
	}
	return 0;
}

struct graph_check {
	vx_call *c;
	const Vexil__V1__Flag *f;
	size_t env; /* index into f->envs */
	int rc;
};

static bool
on_problem(void *arg, const Vexil__V1__Flag *at, size_t prereq, size_t variant,
    int problem, const char *msg)
{
	struct graph_check *g = arg;
	bool mine = strcmp(at->key, g->f->key) == 0;
	char field[128];

	/* Another flag's dangling reference is not this write's doing. */
	if (!mine && (problem == VX_PREREQ_MISSING || problem == VX_PREREQ_VARIANT))
		return true;
	if (!mine)
		snprintf(field, sizeof(field), "envs[%zu].prerequisites", g->env);
	else if (problem == VX_PREREQ_MISSING)
		snprintf(field, sizeof(field), "envs[%zu].prerequisites[%zu].flag_key",
		    g->env, prereq);
	else if (problem == VX_PREREQ_VARIANT)
		snprintf(field, sizeof(field),
		    "envs[%zu].prerequisites[%zu].variants[%zu]", g->env, prereq,
		    variant);
	else
		snprintf(
		    field, sizeof(field), "envs[%zu].prerequisites[%zu]", g->env, prereq);
	g->rc = vx_fail(g->c, problem == VX_PREREQ_VARIANT ? VX_EINVAL : VX_ESTATE, field,
	    problem == VX_PREREQ_CYCLE ? "acyclic" : "reference",
	    "%s (environment %.64s): %s", field, g->f->envs[g->env]->environment, msg);
	return false;
}

int
vx_prereq_graph_check(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f)
{
	Vexil__V1__Flag **flags, **all;
	size_t n, at;
	bool any = false;
	int rc;

	for (size_t i = 0; i < f->n_envs; i++)
		any = any || f->envs[i]->n_prerequisites > 0;
	if (!any)
		return 0;
	if ((rc = vx_store_flag_list(
	         txn, c->store, f->project_id, c->alloc, &flags, &n)) != 0)
		return rc;
	/* The graph as it will be: f in place of its stored self. */
	if ((all = vx_arena_alloc(c->arena, (n + 1) * sizeof(*all))) == NULL)
		return VX_ENOMEM;
	for (at = 0; at < n && strcmp(flags[at]->key, f->key) != 0; at++)
		;
	memcpy(all, flags, n * sizeof(*all));
	all[at] = (Vexil__V1__Flag *)f;
	if (at == n)
		n++;
	for (size_t i = 0; i < f->n_envs; i++) {
		struct graph_check g = {c, f, i, 0};
		if ((rc = vx_prereq_check(
		         all, n, f->envs[i]->environment, f->key, on_problem, &g)) != 0)
			return rc;
		if (g.rc != 0)
			return g.rc;
	}
	return 0;
}

int
vx_prereq_dependents_check(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f)
{
	Vexil__V1__Flag **flags;
	size_t n;
	int rc;

	if ((rc = vx_store_flag_list(
	         txn, c->store, f->project_id, c->alloc, &flags, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < flags[i]->n_envs; j++) {
			const Vexil__V1__FlagEnvConfig *cfg = flags[i]->envs[j];
			for (size_t k = 0; k < cfg->n_prerequisites; k++)
				if (strcmp(cfg->prerequisites[k]->flag_key, f->key) == 0)
					return vx_fail(c, VX_ESTATE, "key", "in_use",
					    "flag %.128s is required by flag %.128s in "
					    "environment "
					    "%.64s; remove that prerequisite first",
					    f->key, flags[i]->key, cfg->environment);
		}
	}
	return 0;
}
