/*
 * Vexil — the checks a flag passes before it is stored.
 *
 * Handlers change a flag in memory and call vx_flag_check() on the result,
 * so create, update and every rule operation share one set of rules, and
 * each failure names the field (for example "variants[2].key").
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "model/compile.h"

#define MAX_TAGS 50
#define MAX_META 64
/* A metadata value is text like a flag's name (the table API keeps its
 * long-text columns there). */
#define META_VALUE_MAX 10000
#define MAX_VARIANTS 100
#define MAX_RULES 200
#define MAX_CONDITIONS 50
#define MAX_VALUES 1000
#define VALUE_MAX 1024
#define VARIANT_VALUE_MAX (64 * 1024)

int
vx_flag_compile_check(vx_call *c, const Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *cfg, Vexil__V1__Segment *const *segs, size_t nsegs)
{
	vx_eval_flag *compiled;
	char err[200];
	int rc = vx_flag_compile_in(f, cfg, segs, nsegs, &compiled, err, sizeof(err));

	if (rc == VX_EINVAL)
		return vx_fail(c, rc, "rules", "compile", "environment %.64s: %s",
		    cfg->environment, err);
	if (rc != 0)
		return rc;
	vx_eval_flag_free(compiled);
	return 0;
}

int
vx_conditions_check(
    vx_call *c, const char *at, Vexil__V1__Condition *const *conds, size_t n)
{
	char field[256];
	int rc;

	if (n > MAX_CONDITIONS)
		return vx_fail(c, VX_EINVAL, at, "max_items",
		    "%s has more than %d conditions", at, MAX_CONDITIONS);
	for (size_t i = 0; i < n; i++) {
		const Vexil__V1__Condition *k = conds[i];
		snprintf(field, sizeof(field), "%s%sconditions[%zu].attribute", at,
		    *at ? "." : "", i);
		if ((rc = vx_check_text(c, field, k->attribute, 1, 128)) != 0)
			return rc;
		snprintf(field, sizeof(field), "%s%sconditions[%zu].values", at,
		    *at ? "." : "", i);
		if (k->n_values == 0)
			return vx_fail(c, VX_EINVAL, field, "min_items",
			    "%s must hold at least one value", field);
		if (k->n_values > MAX_VALUES)
			return vx_fail(c, VX_EINVAL, field, "max_items",
			    "%s holds more than %d values", field, MAX_VALUES);
		for (size_t j = 0; j < k->n_values; j++)
			if ((rc = vx_check_text(c, field, k->values[j], 0, VALUE_MAX)) !=
			    0)
				return rc;
	}
	return 0;
}

static bool
has_variant(const Vexil__V1__Flag *f, const char *key)
{
	for (size_t i = 0; i < f->n_variants; i++)
		if (strcmp(f->variants[i]->key, key) == 0)
			return true;
	return false;
}

static int
check_rollout(vx_call *c, const char *at, const Vexil__V1__Rollout *r)
{
	char field[96];
	int rc;

	if (r == NULL)
		return 0;
	snprintf(field, sizeof(field), "%s.percentage", at);
	if (r->percentage > 100)
		return vx_fail(c, VX_EINVAL, field, "range", "%s must be between 0 and 100",
		    field);
	snprintf(field, sizeof(field), "%s.stickiness", at);
	if (*r->stickiness && (rc = vx_check_key(c, field, r->stickiness, 64)) != 0)
		return rc;
	snprintf(field, sizeof(field), "%s.group_id", at);
	return vx_check_text(c, field, r->group_id, 0, VX_KEY_MAX);
}

static int
check_rule(vx_call *c, const Vexil__V1__Flag *f, const char *at, const Vexil__V1__Rule *r)
{
	char field[256];
	uint64_t total = 0;
	int rc;

	snprintf(field, sizeof(field), "%s.name", at);
	if ((rc = vx_check_text(c, field, r->name, 0, VX_NAME_MAX)) != 0)
		return rc;
	if ((rc = vx_conditions_check(c, at, r->conditions, r->n_conditions)) != 0)
		return rc;
	snprintf(field, sizeof(field), "%s.rollout", at);
	if ((rc = check_rollout(c, field, r->rollout)) != 0)
		return rc;
	snprintf(field, sizeof(field), "%s.split_stickiness", at);
	if (*r->split_stickiness &&
	    (rc = vx_check_key(c, field, r->split_stickiness, 64)) != 0)
		return rc;
	snprintf(field, sizeof(field), "%s.split_bucketing", at);
	if (*r->split_bucketing && strcmp(r->split_bucketing, "unleash") != 0 &&
	    strcmp(r->split_bucketing, "flagd") != 0)
		return vx_fail(c, VX_EINVAL, field, "enum",
		    "%s must be \"unleash\" or \"flagd\", not %.32s", field,
		    r->split_bucketing);
	/* flagd's bucketing reads one attribute (no rollout's to fall back
	 * on): a split in that mode names it. */
	snprintf(field, sizeof(field), "%s.split_stickiness", at);
	if (r->n_split && strcmp(r->split_bucketing, "flagd") == 0 &&
	    *r->split_stickiness == '\0')
		return vx_fail(c, VX_EINVAL, field, "required",
		    "%s is required with flagd bucketing", field);
	snprintf(field, sizeof(field), "%s.split_group_id", at);
	if ((rc = vx_check_text(c, field, r->split_group_id, 0, VX_KEY_MAX)) != 0)
		return rc;
	if (*r->variant && r->n_split)
		return vx_fail(c, VX_EINVAL, at, "one_of",
		    "%s serves either a variant or a split, not both", at);
	if (*r->variant == '\0' && r->n_split == 0)
		return vx_fail(c, VX_EINVAL, at, "required",
		    "%s must serve a variant or a split", at);
	if (*r->variant && !has_variant(f, r->variant)) {
		snprintf(field, sizeof(field), "%s.variant", at);
		return vx_fail(c, VX_EINVAL, field, "reference", "%s: no variant %.64s", field,
		    r->variant);
	}
	for (size_t i = 0; i < r->n_split; i++) {
		snprintf(field, sizeof(field), "%s.split[%zu].variant", at, i);
		if (!has_variant(f, r->split[i]->variant))
			return vx_fail(c, VX_EINVAL, field, "reference", "%s: no variant %.64s",
			    field, r->split[i]->variant);
		if (r->split[i]->weight > 10000) {
			snprintf(field, sizeof(field), "%s.split[%zu].weight", at, i);
			return vx_fail(c, VX_EINVAL, field, "range",
			    "%s must be at most 10000", field);
		}
		total += r->split[i]->weight;
	}
	if (r->n_split && total == 0) {
		snprintf(field, sizeof(field), "%s.split", at);
		return vx_fail(c, VX_EINVAL, field, "range", "%s weights must not all be 0",
		    field);
	}
	return 0;
}

static int
check_env(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f, size_t idx,
    Vexil__V1__Segment *const *segs, size_t nsegs)
{
	const Vexil__V1__FlagEnvConfig *cfg = f->envs[idx];
	Vexil__V1__Environment *e;
	char at[64], field[96];
	int rc;

	snprintf(at, sizeof(at), "envs[%zu]", idx);
	for (size_t j = 0; j < idx; j++)
		if (strcmp(f->envs[j]->environment, cfg->environment) == 0)
			return vx_fail(c, VX_EINVAL, at, "unique",
			    "environment %.64s is configured twice", cfg->environment);
	rc = vx_store_env_get(txn, c->store, f->project_id, cfg->environment, c->alloc, &e);
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "environment", NULL, "environment %.64s not found",
		    cfg->environment);
	if (rc != 0)
		return rc;
	snprintf(field, sizeof(field), "%s.default_variant", at);
	if (!has_variant(f, cfg->default_variant))
		return vx_fail(c, VX_EINVAL, field, "reference", "%s: no variant %.64s", field,
		    cfg->default_variant);
	snprintf(field, sizeof(field), "%s.off_variant", at);
	if (!has_variant(f, cfg->off_variant))
		return vx_fail(c, VX_EINVAL, field, "reference", "%s: no variant %.64s", field,
		    cfg->off_variant);
	snprintf(field, sizeof(field), "%s.rollout_percentage", at);
	if (cfg->rollout_percentage > 100)
		return vx_fail(c, VX_EINVAL, field, "range", "%s must be between 0 and 100",
		    field);
	snprintf(field, sizeof(field), "%s.rollout", at);
	if ((rc = check_rollout(c, field, cfg->rollout)) != 0)
		return rc;
	if (cfg->n_rules > MAX_RULES)
		return vx_fail(c, VX_EINVAL, at, "max_items", "%s has more than %d rules", at,
		    MAX_RULES);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		snprintf(field, sizeof(field), "rules[%zu]", i);
		if ((rc = check_rule(c, f, field, cfg->rules[i])) != 0)
			return rc;
	}
	if ((rc = vx_prereq_fields_check(c, f, idx)) != 0 ||
	    (rc = vx_segment_refs_check(c, cfg, segs, nsegs)) != 0)
		return rc;
	return vx_flag_compile_check(c, f, cfg, segs, nsegs);
}

int
vx_flag_check(vx_call *c, MDB_txn *txn, const Vexil__V1__Flag *f)
{
	char field[64];
	int rc;

	if ((rc = vx_check_key(c, "key", f->key, VX_KEY_MAX)) != 0 ||
	    (rc = vx_check_text(c, "name", f->name, 1, VX_FLAG_NAME_MAX)) != 0 ||
	    (rc = vx_check_text(c, "description", f->description, 0, VX_DESC_MAX)) != 0 ||
	    (rc = vx_check_text(c, "owner", f->owner, 0, VX_NAME_MAX)) != 0 ||
	    (rc = vx_check_text(c, "parse_error", f->parse_error, 0, VX_DESC_MAX)) != 0)
		return rc;
	if ((unsigned)f->type > VEXIL__V1__FLAG_TYPE__FLAG_TYPE_JSON)
		return vx_fail(c, VX_EINVAL, "type", "enum", "type %d is not a flag type",
		    (int)f->type);
	if (f->n_tags > MAX_TAGS)
		return vx_fail(c, VX_EINVAL, "tags", "max_items", "at most %d tags", MAX_TAGS);
	for (size_t i = 0; i < f->n_tags; i++) {
		snprintf(field, sizeof(field), "tags[%zu]", i);
		if ((rc = vx_check_text(c, field, f->tags[i], 1, 64)) != 0)
			return rc;
	}
	if (f->n_metadata > MAX_META)
		return vx_fail(c, VX_EINVAL, "metadata", "max_items",
		    "at most %d metadata entries", MAX_META);
	for (size_t i = 0; i < f->n_metadata; i++) {
		snprintf(field, sizeof(field), "metadata[%zu]", i);
		if ((rc = vx_check_text(c, field, f->metadata[i]->key, 1, VX_KEY_MAX)) !=
		        0 ||
		    (rc = vx_check_text(
		         c, field, f->metadata[i]->value, 0, META_VALUE_MAX)) != 0)
			return rc;
	}
	if (f->n_variants == 0)
		return vx_fail(c, VX_EINVAL, "variants", "required",
		    "a non-boolean flag needs its variants");
	if (f->n_variants > MAX_VARIANTS)
		return vx_fail(c, VX_EINVAL, "variants", "max_items", "at most %d variants",
		    MAX_VARIANTS);
	for (size_t i = 0; i < f->n_variants; i++) {
		snprintf(field, sizeof(field), "variants[%zu].key", i);
		if ((rc = vx_check_key(c, field, f->variants[i]->key, 64)) != 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->variants[j]->key, f->variants[i]->key) == 0)
				return vx_fail(c, VX_EINVAL, field, "unique",
				    "variant %s appears twice", f->variants[i]->key);
		snprintf(field, sizeof(field), "variants[%zu].value", i);
		if ((rc = vx_check_text(c, field, f->variants[i]->value, 1, VARIANT_VALUE_MAX)) != 0)
			return rc;
	}
	Vexil__V1__Segment **segs = NULL;
	size_t nsegs = 0;
	if ((rc = vx_segments_for(c, txn, f, &segs, &nsegs)) != 0)
		return rc;
	for (size_t i = 0; i < f->n_envs; i++)
		if ((rc = check_env(c, txn, f, i, segs, nsegs)) != 0)
			return rc;
	return vx_prereq_graph_check(c, txn, f);
}
