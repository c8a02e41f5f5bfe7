/*
 * link.c: resolving a compiled flag's prerequisites to their parents.
 *
 * A flag compiles alone, from its own source, so it only knows its
 * parents by key. Once a whole set is compiled, its owner links each flag
 * to its parents, parents first. Linking is where the graph's bounds are
 * kept: a flag may link only to parents that are linked already, so no
 * linked flag can reach itself, and the chain above it and the number of
 * evaluations one evaluation of it can cause are bounded (eval.h,
 * "Prerequisites"). Evaluation can then recurse into parents without a
 * visited set and without allocating.
 */
#include <stdio.h>
#include <string.h>

#include "eval_int.h"

static int
refuse(vx_eval_flag *f)
{
	/* Broken flags serve their off variant with ERROR, never a parent. */
	f->broken = true;
	f->enabled = false; /* evaluate() checks broken only when disabled */
	f->linked = true;
	f->depth = 0;
	f->evals = 1;
	return VX_EVAL_EINVAL;
}

int
vx_eval_flag_link(
    vx_eval_flag *f, const vx_eval_flag *const *parents, char *err, size_t errlen)
{
	uint32_t depth = 0, evals = 1;

	if (err != NULL && errlen != 0)
		err[0] = '\0';
	if (f == NULL || f->linked) {
		if (err != NULL && errlen != 0)
			snprintf(
			    err, errlen, "%s", f == NULL ? "no flag" : "already linked");
		return VX_EVAL_EINVAL;
	}
	if (f->nprereqs != 0 && parents == NULL) {
		snprintf(err, err ? errlen : 0, "parents is NULL");
		return refuse(f);
	}
	for (size_t i = 0; i < f->nprereqs; i++) {
		const vx_eval_flag *p = parents[i];

		if (p == NULL)
			continue;
		if (p == f || !p->linked) {
			snprintf(err, err ? errlen : 0,
			    "prerequisite %zu (\"%s\") is part of a cycle", i,
			    f->prereqs[i].key);
			return refuse(f);
		}
		if (p->depth + 1 > depth)
			depth = p->depth + 1;
		evals += p->evals;
		if (depth > VX_EVAL_PREREQ_MAX_DEPTH ||
		    evals > VX_EVAL_PREREQ_MAX_EVALS) {
			snprintf(err, err ? errlen : 0,
			    "prerequisite %zu (\"%s\"): chains deeper than %d "
			    "or over %d evaluations",
			    i, f->prereqs[i].key, VX_EVAL_PREREQ_MAX_DEPTH,
			    VX_EVAL_PREREQ_MAX_EVALS);
			return refuse(f);
		}
	}
	for (size_t i = 0; i < f->nprereqs; i++) {
		struct vxe_prereq *d = &f->prereqs[i];
		const vx_eval_flag *p = parents[i];

		d->parent = p;
		for (size_t j = 0; j < d->nvariants; j++) {
			d->vidx[j] = -1;
			for (size_t k = 0; p != NULL && k < p->nvariants; k++)
				if (strcmp(p->variants[k].key, d->vkeys[j]) == 0)
					d->vidx[j] = (int32_t)k;
		}
	}
	f->depth = depth;
	f->evals = evals;
	f->linked = true;
	return VX_EVAL_OK;
}

size_t
vx_eval_flag_prereq_count(const vx_eval_flag *f)
{
	return f != NULL ? f->nprereqs : 0;
}

const char *
vx_eval_flag_prereq_key(const vx_eval_flag *f, size_t i)
{
	return f != NULL && i < f->nprereqs ? f->prereqs[i].key : NULL;
}

bool
vx_eval_flag_is_linked(const vx_eval_flag *f)
{
	return f != NULL && f->linked;
}
