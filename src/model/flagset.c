/*
 * Vexil — compiled flag sets: see flagset.h.
 */
#include "model/flagset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
vx_flagset_free(vx_flagset *fs)
{
	if (fs == NULL)
		return;
	for (size_t i = 0; i < fs->n; i++) {
		vx_eval_flag_free(fs->flags[i].flag);
		free(fs->flags[i].rule_ids);
		free(fs->flags[i].metadata);
	}
	free(fs->flags);
	free(fs->env);
	free(fs);
}

static int
by_key(const void *a, const void *b)
{
	return strcmp(((const vx_compiled *)a)->key, ((const vx_compiled *)b)->key);
}

/*
 * Links each flag to its parents, parents first (a depth-first walk in key
 * order). A parent still on the walk's path is not linked yet, so the
 * engine refuses it: a flag on a cycle, or over the depth bounds, becomes
 * broken and serves its off variant with reason ERROR, and its children
 * then fail their prerequisite on it.
 */
struct link_walk {
	vx_flagset *fs;
	uint8_t *state; /* 0 new, 1 on the path, 2 done */
	char *err;
	size_t errlen;
};

static void
link_flag(struct link_walk *lw, size_t i, unsigned depth)
{
	vx_compiled *cf = &lw->fs->flags[i];
	const vx_eval_flag *parents[VX_EVAL_PREREQ_MAX];
	size_t np = vx_eval_flag_prereq_count(cf->flag);
	char why[200];

	if (lw->state[i] != 0)
		return;
	lw->state[i] = 1;
	for (size_t j = 0; j < np && j < VX_EVAL_PREREQ_MAX; j++) {
		const vx_compiled *p =
		    vx_flagset_find(lw->fs, vx_eval_flag_prereq_key(cf->flag, j));
		parents[j] = NULL;
		if (p == NULL)
			continue;
		/* Past the bound the parent stays unlinked and the link fails. */
		if (depth < VX_EVAL_PREREQ_MAX_DEPTH)
			link_flag(lw, (size_t)(p - lw->fs->flags), depth + 1);
		parents[j] = p->flag;
	}
	if (!vx_eval_flag_is_linked(cf->flag) &&
	    vx_eval_flag_link(cf->flag, parents, why, sizeof(why)) != VX_EVAL_OK) {
		lw->fs->nbroken++;
		if (lw->err && lw->fs->nbroken == 1)
			snprintf(lw->err, lw->errlen, "flag %.128s: %s", cf->key, why);
	}
	lw->state[i] = 2;
}

static int
link_set(vx_flagset *fs, char *err, size_t errlen)
{
	struct link_walk lw = {fs, NULL, err, errlen};

	if (fs->n == 0)
		return 0;
	if ((lw.state = calloc(fs->n, 1)) == NULL)
		return VX_ENOMEM;
	for (size_t i = 0; i < fs->n; i++)
		link_flag(&lw, i, 0);
	free(lw.state);
	return 0;
}

/*
 * Copies f's metadata into cf as result entries: one block holding the
 * pointer array, the entries and their text. 0 or VX_ENOMEM.
 */
static int
copy_metadata(const Vexil__V1__Flag *f, vx_compiled *cf)
{
	size_t n = f->n_metadata, text = 0;
	Vexil__V1__EvaluationResult__MetadataEntry *ents;
	char *p;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		text += strlen(f->metadata[i]->key) + strlen(f->metadata[i]->value) + 2;
	cf->metadata = malloc(n * (sizeof(*cf->metadata) + sizeof(*ents)) + text);
	if (cf->metadata == NULL)
		return VX_ENOMEM;
	ents = (void *)(cf->metadata + n);
	p = (char *)(ents + n);
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(f->metadata[i]->key) + 1;
		size_t v = strlen(f->metadata[i]->value) + 1;

		vexil__v1__evaluation_result__metadata_entry__init(&ents[i]);
		ents[i].key = memcpy(p, f->metadata[i]->key, k);
		ents[i].value = memcpy(p + k, f->metadata[i]->value, v);
		p += k + v;
		cf->metadata[i] = &ents[i];
	}
	cf->n_metadata = n;
	return 0;
}

int
vx_flagset_build(Vexil__V1__Flag *const *flags, size_t n, Vexil__V1__Segment *const *segs,
    size_t nsegs, uint64_t project_id, uint64_t revision, const char *env,
    vx_flagset **out, char *err, size_t errlen)
{
	vx_flagset *fs;
	char why[200];
	int rc = VX_ENOMEM;

	*out = NULL;
	if ((fs = calloc(1, sizeof(*fs))) == NULL || (fs->env = strdup(env)) == NULL)
		goto fail;
	fs->project_id = project_id;
	fs->revision = revision;
	if (n && (fs->flags = calloc(n, sizeof(*fs->flags))) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const Vexil__V1__FlagEnvConfig *cfg = NULL;
		vx_compiled *cf = &fs->flags[fs->n];

		for (size_t j = 0; j < flags[i]->n_envs; j++)
			if (strcmp(flags[i]->envs[j]->environment, env) == 0)
				cfg = flags[i]->envs[j];
		if (cfg == NULL)
			continue; /* stored flags configure every environment */
		cf->type = flags[i]->type;
		cf->disabled_default = flags[i]->disabled_serves_default;
		cf->targeted_default = flags[i]->targeted_default;
		cf->no_default = flags[i]->no_default_variant;
		cf->parse_error = flags[i]->parse_error[0] != '\0';
		if (copy_metadata(flags[i], cf) != 0 ||
		    (cfg->n_rules && (cf->rule_ids = calloc(cfg->n_rules, 8)) == NULL))
			goto fail_flag;
		for (size_t j = 0; j < cfg->n_rules; j++)
			cf->rule_ids[j] = cfg->rules[j]->id;
		/* A definition that did not translate answers ERROR, as a
		 * stored flag that no longer compiles does. */
		rc = cf->parse_error ? vx_flag_compile_broken(flags[i], cfg, &cf->flag)
		                     : vx_flag_compile_in(flags[i], cfg, segs, nsegs,
		                           &cf->flag, why, sizeof(why));
		/*
		 * A stored flag that no longer compiles (a pattern an older
		 * engine took) serves its off variant with reason ERROR rather
		 * than failing every flag of its environment; one whose
		 * variants do not compile either is left out (FLAG_NOT_FOUND).
		 */
		if (rc == VX_EINVAL) {
			fs->nbroken++;
			if (err && fs->nbroken == 1)
				snprintf(err, errlen, "flag %.128s: %s", flags[i]->key, why);
			rc = vx_flag_compile_broken(flags[i], cfg, &cf->flag);
			if (rc == VX_EINVAL) {
				free(cf->rule_ids);
				free(cf->metadata);
				memset(cf, 0, sizeof(*cf));
				continue;
			}
		}
		if (rc != 0)
			goto fail_flag;
		/* The compiled flag's own copy: one string less per flag. */
		cf->key = (char *)vx_eval_flag_key(cf->flag);
		fs->n++;
	}
	if (fs->n > 1)
		qsort(fs->flags, fs->n, sizeof(*fs->flags), by_key);
	if ((rc = link_set(fs, err, errlen)) != 0)
		goto fail;
	*out = fs;
	return 0;
fail_flag:
	free(fs->flags[fs->n].rule_ids);
	free(fs->flags[fs->n].metadata);
	if (rc == 0)
		rc = VX_ENOMEM;
fail:
	vx_flagset_free(fs);
	return rc;
}

const vx_compiled *
vx_flagset_find(const vx_flagset *fs, const char *key)
{
	size_t lo = 0, hi = fs->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(fs->flags[mid].key, key);
		if (cmp == 0)
			return &fs->flags[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
vx_flagset_result(const vx_flagset *fs, const vx_compiled *cf, const vx_eval_ctx *ctx,
    Vexil__V1__EvaluationResult *out)
{
	vx_eval_result res;
	int rc = vx_eval_flag_evaluate(cf->flag, ctx, &res);

	if (rc != VX_EVAL_OK && rc != VX_EVAL_ENOMEM)
		return VX_EINTERNAL;
	vx_compiled_settle(cf, &res);
	vexil__v1__evaluation_result__init(out);
	out->flag_key = cf->key;
	out->variant = (char *)(res.variant_key ? res.variant_key : "");
	out->value = (char *)(res.value ? res.value : "");
	out->reason = (char *)vx_eval_reason_name(res.reason);
	out->rule_id = res.rule >= 0 ? cf->rule_ids[res.rule] : 0;
	out->type = cf->type;
	out->revision = fs->revision;
	out->environment = fs->env;
	out->is_static = vx_eval_flag_is_static(cf->flag);
	out->prerequisite = (char *)(res.prereq ? res.prereq : "");
	out->n_metadata = cf->n_metadata;
	out->metadata = cf->metadata;
	return 0;
}

void
vx_compiled_settle(const vx_compiled *cf, vx_eval_result *res)
{
	bool none = false;

	if (res->reason == VX_REASON_DISABLED)
		none = cf->disabled_default;
	else if (res->reason == VX_REASON_ERROR)
		none = cf->parse_error;
	else if (res->rule < 0 &&
	         (res->reason == VX_REASON_STATIC || res->reason == VX_REASON_SPLIT)) {
		if (cf->no_default || cf->targeted_default)
			res->reason = VX_REASON_DEFAULT;
		none = cf->no_default;
	}
	if (none) {
		res->variant = -1;
		res->variant_key = NULL;
		res->value = NULL;
	}
}
