/*
 * Vexil — Flag message to compiled engine flag: see compile.h.
 *
 * The source structs are built in one temporary allocation, since the
 * engine copies what it keeps. Variant references become indexes here; a
 * reference to a missing variant is an error with the rule's position.
 */
#include "model/compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
variant_index(const Vexil__V1__Flag *f, const char *key, uint32_t *out)
{
	for (size_t i = 0; i < f->n_variants; i++) {
		if (strcmp(f->variants[i]->key, key) == 0) {
			*out = (uint32_t)i;
			return 0;
		}
	}
	return VX_EINVAL;
}

static void
rollout_src(const Vexil__V1__Rollout *r, vx_eval_rollout_src *out)
{
	memset(out, 0, sizeof(*out));
	if (r == NULL)
		return;
	out->enabled = true;
	out->percentage = r->percentage;
	out->stickiness = *r->stickiness ? r->stickiness : NULL;
	out->group_id = *r->group_id ? r->group_id : NULL;
}

static const Vexil__V1__Segment *
find_segment(Vexil__V1__Segment *const *segs, size_t nsegs, const char *name)
{
	for (size_t i = 0; i < nsegs; i++)
		if (strcmp(segs[i]->name, name) == 0)
			return segs[i];
	return NULL;
}

static void
condition_src(const Vexil__V1__Condition *k, int op, vx_eval_condition_src *c)
{
	c->attribute = k->attribute;
	c->op = op;
	c->values = (const char *const *)k->values;
	c->nvalues = k->n_values;
	c->negate = k->negate;
	c->missing = k->missing;
	c->case_insensitive = k->case_insensitive;
	c->loose_semver = k->loose_semver;
}

int
vx_flag_compile(const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg,
    vx_eval_flag **out, char *err, size_t errlen)
{
	return vx_flag_compile_in(f, cfg, NULL, 0, out, err, errlen);
}

int
vx_flag_compile_in(const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg,
    Vexil__V1__Segment *const *segs, size_t nsegs, vx_eval_flag **out, char *err,
    size_t errlen)
{
	vx_eval_flag_src src;
	vx_eval_variant_src *variants = NULL;
	vx_eval_rule_src *rules = NULL;
	vx_eval_condition_src *conds = NULL;
	vx_eval_split_src *splits = NULL;
	vx_eval_prereq_src *prereqs = NULL;
	size_t nconds = 0, nsplits = 0, ci = 0, si = 0;
	int rc = VX_ENOMEM, op;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	for (size_t i = 0; i < cfg->n_rules; i++) {
		nconds += cfg->rules[i]->n_conditions;
		nsplits += cfg->rules[i]->n_split;
		for (size_t j = 0; j < cfg->rules[i]->n_segments; j++) {
			const Vexil__V1__Segment *g =
			    find_segment(segs, nsegs, cfg->rules[i]->segments[j]);
			nconds += g ? g->n_conditions : 0;
		}
	}
	variants = calloc(f->n_variants ? f->n_variants : 1, sizeof(*variants));
	rules = calloc(cfg->n_rules ? cfg->n_rules : 1, sizeof(*rules));
	conds = calloc(nconds ? nconds : 1, sizeof(*conds));
	splits = calloc(nsplits ? nsplits : 1, sizeof(*splits));
	prereqs =
	    calloc(cfg->n_prerequisites ? cfg->n_prerequisites : 1, sizeof(*prereqs));
	if (!variants || !rules || !conds || !splits || !prereqs)
		goto out;

	memset(&src, 0, sizeof(src));
	src.key = f->key;
	src.type = (int)f->type; /* FlagType and vx_flag_type share their order */
	for (size_t i = 0; i < f->n_variants; i++) {
		variants[i].key = f->variants[i]->key;
		variants[i].value = f->variants[i]->value;
	}
	src.variants = variants;
	src.nvariants = f->n_variants;
	src.enabled = cfg->enabled;
	src.rollout_percentage = cfg->rollout_percentage;
	if (cfg->rollout != NULL) {
		src.stickiness = *cfg->rollout->stickiness ? cfg->rollout->stickiness : NULL;
		src.group_id = *cfg->rollout->group_id ? cfg->rollout->group_id : NULL;
	}
	rc = VX_EINVAL;
	if (variant_index(f, cfg->default_variant, &src.default_variant) != 0) {
		snprintf(err, errlen, "default variant %.64s does not exist",
		    cfg->default_variant);
		goto out;
	}
	if (variant_index(f, cfg->off_variant, &src.off_variant) != 0) {
		snprintf(err, errlen, "off variant %.64s does not exist", cfg->off_variant);
		goto out;
	}
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const Vexil__V1__Rule *r = cfg->rules[i];
		vx_eval_rule_src *rs = &rules[i];

		rs->priority = r->priority;
		rs->enabled = r->enabled;
		rs->order = (uint32_t)r->seq;
		rs->conditions = &conds[ci];
		rs->nconditions = r->n_conditions;
		for (size_t j = 0; j < r->n_conditions; j++, ci++) {
			const Vexil__V1__Condition *k = r->conditions[j];
			if (vx_op_from_string(k->operator_, &op) != VX_EVAL_OK) {
				snprintf(err, errlen,
				    "rules[%zu].conditions[%zu]: unknown operator %.32s", i, j,
				    k->operator_);
				goto out;
			}
			condition_src(k, op, &conds[ci]);
		}
		/* A segment's conditions are inlined after the rule's own. */
		for (size_t j = 0; j < r->n_segments; j++) {
			const Vexil__V1__Segment *g =
			    find_segment(segs, nsegs, r->segments[j]);
			if (g == NULL) {
				snprintf(err, errlen,
				    "rules[%zu].segments[%zu]: no segment %.64s", i, j,
				    r->segments[j]);
				goto out;
			}
			for (size_t k = 0; k < g->n_conditions; k++, ci++) {
				if (vx_op_from_string(g->conditions[k]->operator_, &op) !=
				    VX_EVAL_OK) {
					snprintf(err, errlen,
					    "segment %.64s: conditions[%zu]: unknown "
					    "operator %.32s",
					    g->name, k, g->conditions[k]->operator_);
					goto out;
				}
				condition_src(g->conditions[k], op, &conds[ci]);
			}
			rs->nconditions += g->n_conditions;
		}
		rollout_src(r->rollout, &rs->rollout);
		rs->split_stickiness = *r->split_stickiness ? r->split_stickiness : NULL;
		rs->split_group_id = *r->split_group_id ? r->split_group_id : NULL;
		/* flagd's prefix is literal: empty is no prefix, not the flag key. */
		rs->split_flagd = strcmp(r->split_bucketing, "flagd") == 0;
		if (rs->split_flagd)
			rs->split_group_id = r->split_group_id;
		if (r->n_split) {
			rs->splits = &splits[si];
			rs->nsplits = r->n_split;
			for (size_t j = 0; j < r->n_split; j++, si++) {
				if (variant_index(f, r->split[j]->variant, &splits[si].variant) != 0) {
					snprintf(err, errlen, "rules[%zu].split[%zu]: no variant %.64s",
					    i, j, r->split[j]->variant);
					goto out;
				}
				splits[si].weight = r->split[j]->weight;
			}
		} else if (variant_index(f, r->variant, &rs->variant) != 0) {
			snprintf(err, errlen, "rules[%zu]: no variant %.64s", i, r->variant);
			goto out;
		}
	}
	src.rules = rules;
	src.nrules = cfg->n_rules;
	for (size_t i = 0; i < cfg->n_prerequisites; i++) {
		const Vexil__V1__Prerequisite *p = cfg->prerequisites[i];
		prereqs[i].flag = p->flag_key;
		prereqs[i].when_off = p->when_off;
		prereqs[i].variants = (const char *const *)p->variants;
		prereqs[i].nvariants = p->n_variants;
	}
	src.prereqs = prereqs;
	src.nprereqs = cfg->n_prerequisites;
	rc = vx_eval_compile(&src, out, err, errlen);
	rc = rc == VX_EVAL_OK ? 0 : rc == VX_EVAL_ENOMEM ? VX_ENOMEM : VX_EINVAL;
out:
	free(variants);
	free(rules);
	free(conds);
	free(splits);
	free(prereqs);
	return rc;
}

int
vx_flag_compile_broken(
    const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg, vx_eval_flag **out)
{
	vx_eval_flag_src src;
	vx_eval_variant_src *variants;
	char why[200];
	int rc;

	*out = NULL;
	if ((variants = calloc(f->n_variants ? f->n_variants : 1, sizeof(*variants))) ==
	    NULL)
		return VX_ENOMEM;
	memset(&src, 0, sizeof(src));
	src.key = f->key;
	src.type = (int)f->type;
	for (size_t i = 0; i < f->n_variants; i++) {
		variants[i].key = f->variants[i]->key;
		variants[i].value = f->variants[i]->value;
	}
	src.variants = variants;
	src.nvariants = f->n_variants;
	src.broken = true;
	if (variant_index(f, cfg->off_variant, &src.off_variant) != 0)
		src.off_variant = 0;
	src.default_variant = src.off_variant;
	rc = vx_eval_compile(&src, out, why, sizeof(why));
	free(variants);
	return rc == VX_EVAL_OK ? 0 : rc == VX_EVAL_ENOMEM ? VX_ENOMEM : VX_EINVAL;
}

void
vx_ctx_from_proto(const Vexil__V1__EvalContext *in, vx_eval_attr *attrs, size_t cap,
    vx_eval_ctx *ctx)
{
	size_t n = 0;

	memset(ctx, 0, sizeof(*ctx));
	if (in == NULL)
		return;
	/* Empty well-known fields are missing attributes. */
	ctx->user_id = *in->user_id ? in->user_id : NULL;
	ctx->email = *in->email ? in->email : NULL;
	ctx->country = *in->country ? in->country : NULL;
	ctx->ip = *in->ip ? in->ip : NULL;
	if (in->n_groups > 0) {
		ctx->groups = (const char *const *)in->groups;
		ctx->ngroups = in->n_groups;
	}
	for (size_t i = 0; i < in->n_attributes && n < cap; i++) {
		const Vexil__V1__EvalContext__AttributesEntry *e = in->attributes[i];
		const Vexil__V1__AttrValue *v = e->value;
		vx_eval_attr *a = &attrs[n];
		if (v == NULL)
			continue;
		a->name = e->key;
		switch (v->kind_case) {
		case VEXIL__V1__ATTR_VALUE__KIND_STR:
			a->kind = VX_ATTR_STRING;
			a->u.s = v->str;
			break;
		case VEXIL__V1__ATTR_VALUE__KIND_NUM:
			a->kind = VX_ATTR_NUMBER;
			a->u.num = v->num;
			break;
		case VEXIL__V1__ATTR_VALUE__KIND_FLAG:
			a->kind = VX_ATTR_BOOL;
			a->u.b = v->flag;
			break;
		case VEXIL__V1__ATTR_VALUE__KIND_LIST:
			a->kind = VX_ATTR_LIST;
			a->u.list.items = v->list ? (const char *const *)v->list->items : NULL;
			a->u.list.n = v->list ? v->list->n_items : 0;
			break;
		default:
			continue;
		}
		n++;
	}
	ctx->attrs = attrs;
	ctx->nattrs = n;
}
