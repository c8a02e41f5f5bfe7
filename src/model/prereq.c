/*
 * Vexil — the prerequisite graph of a project's flags: see prereq.h.
 *
 * A depth-first walk over one environment, parents first, that computes
 * what the engine's link step will (eval/link.c): the longest chain of
 * parents above each flag and how many evaluations one evaluation of it
 * costs. A parent still on the walk's path closes a cycle. The walk never
 * goes deeper than the engine would link, so a long stored chain cannot
 * exhaust the stack; it is reported as over the bounds instead.
 */
#include "model/prereq.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

struct node {
	const Vexil__V1__Flag *f;
	const Vexil__V1__FlagEnvConfig *cfg;
	uint8_t state; /* 0 new, 1 on the path, 2 done */
	uint32_t depth;
	uint32_t evals;
};

struct walk {
	struct node *nodes; /* sorted by key */
	size_t n;
	size_t path[VX_EVAL_PREREQ_MAX_DEPTH + 2];
	size_t pidx[VX_EVAL_PREREQ_MAX_DEPTH + 2]; /* the prerequisite taken */
	size_t npath;
	vx_prereq_problem_fn fn;
	void *arg;
	bool stop;
};

static int
by_key(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->f->key, ((const struct node *)b)->f->key);
}

static struct node *
find(struct walk *w, const char *key)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(w->nodes[mid].f->key, key);
		if (cmp == 0)
			return &w->nodes[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
report(struct walk *w, const struct node *at, size_t i, size_t v, int problem,
    const char *msg)
{
	if (!w->stop && !w->fn(w->arg, at->f, i, v, problem, msg))
		w->stop = true;
}

/*
 * "a -> b -> a": the path from the parent back round to it. *from is where
 * the cycle starts on the path: the cycle is reported at that flag, so a
 * walk that starts at the flag being written reports it there.
 */
static void
cycle_msg(struct walk *w, const struct node *parent, char *buf, size_t cap, size_t *fromp)
{
	size_t from = 0, len = 0;

	for (size_t i = 0; i < w->npath; i++)
		if (&w->nodes[w->path[i]] == parent)
			from = i;
	*fromp = from;
	len += (size_t)snprintf(buf, cap, "cycle: ");
	for (size_t i = from; i < w->npath && len < cap; i++)
		len += (size_t)snprintf(
		    buf + len, cap - len, "%.64s -> ", w->nodes[w->path[i]].f->key);
	if (len < cap)
		snprintf(buf + len, cap - len, "%.64s", parent->f->key);
}

static void
visit(struct walk *w, struct node *at)
{
	char msg[400];
	uint32_t depth = 0, evals = 1;
	bool bad = false;

	at->state = 1;
	w->path[w->npath++] = (size_t)(at - w->nodes);
	for (size_t i = 0; at->cfg && i < at->cfg->n_prerequisites && !w->stop; i++) {
		const Vexil__V1__Prerequisite *p = at->cfg->prerequisites[i];
		struct node *parent = find(w, p->flag_key);

		if (parent == NULL || parent == at) {
			snprintf(msg, sizeof(msg), "flag %.128s requires %.128s, %s",
			    at->f->key, p->flag_key,
			    parent ? "itself" : "which is not a flag of its project");
			report(w, at, i, 0, VX_PREREQ_MISSING, msg);
			bad = true;
			continue;
		}
		for (size_t j = 0; j < p->n_variants; j++) {
			bool found = false;
			for (size_t k = 0; k < parent->f->n_variants && !found; k++)
				found = strcmp(parent->f->variants[k]->key,
				            p->variants[j]) == 0;
			if (!found) {
				snprintf(msg, sizeof(msg),
				    "flag %.128s requires variant %.64s of %.128s, which "
				    "has none",
				    at->f->key, p->variants[j], p->flag_key);
				report(w, at, i, j, VX_PREREQ_VARIANT, msg);
			}
		}
		w->pidx[w->npath - 1] = i;
		if (parent->state == 1) {
			size_t from;
			cycle_msg(w, parent, msg, sizeof(msg), &from);
			report(w, &w->nodes[w->path[from]], w->pidx[from], 0,
			    VX_PREREQ_CYCLE, msg);
			bad = true;
			continue;
		}
		if (parent->state == 0) {
			if (w->npath > VX_EVAL_PREREQ_MAX_DEPTH) {
				depth = VX_EVAL_PREREQ_MAX_DEPTH + 1;
			} else {
				visit(w, parent);
			}
		}
		if (parent->state == 2) {
			if (parent->depth + 1 > depth)
				depth = parent->depth + 1;
			evals += parent->evals;
		}
		if (!bad && (depth > VX_EVAL_PREREQ_MAX_DEPTH ||
		                evals > VX_EVAL_PREREQ_MAX_EVALS)) {
			snprintf(msg, sizeof(msg),
			    "flag %.128s: requiring %.128s makes a chain deeper than %d "
			    "flags "
			    "or over %d evaluations",
			    at->f->key, p->flag_key, VX_EVAL_PREREQ_MAX_DEPTH,
			    VX_EVAL_PREREQ_MAX_EVALS);
			report(w, at, i, 0, VX_PREREQ_BOUNDS, msg);
			bad = true;
		}
	}
	/* A flag that will not link is broken: it counts as no chain above it. */
	at->depth = bad ? 0 : depth;
	at->evals = bad ? 1 : evals;
	at->state = 2;
	w->npath--;
}

int
vx_prereq_check(Vexil__V1__Flag *const *flags, size_t n, const char *env,
    const char *first, vx_prereq_problem_fn fn, void *arg)
{
	struct node *start;
	struct walk w = {0};

	if (n == 0)
		return 0;
	if ((w.nodes = calloc(n, sizeof(*w.nodes))) == NULL)
		return VX_ENOMEM;
	w.n = n;
	w.fn = fn;
	w.arg = arg;
	for (size_t i = 0; i < n; i++) {
		w.nodes[i].f = flags[i];
		for (size_t j = 0; j < flags[i]->n_envs; j++)
			if (strcmp(flags[i]->envs[j]->environment, env) == 0)
				w.nodes[i].cfg = flags[i]->envs[j];
	}
	qsort(w.nodes, n, sizeof(*w.nodes), by_key);
	if (first != NULL && (start = find(&w, first)) != NULL)
		visit(&w, start);
	for (size_t i = 0; i < n && !w.stop; i++)
		if (w.nodes[i].state == 0)
			visit(&w, &w.nodes[i]);
	free(w.nodes);
	return 0;
}
