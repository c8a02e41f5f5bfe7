/*
 * Vexil fuzz target — rule conditions and evaluation contexts.
 *
 * The input describes one flag in one environment and a context, a line
 * each, in the words vexilctl uses:
 *
 *   key new-checkout               the flag key (default "fuzz")
 *   type boolean|string|number|json
 *   variant on true                a variant: key, then its JSON value
 *   env 1 25 on off                enabled, rollout %, default and off variant
 *   stickiness ATTR / group G      the environment rollout's settings
 *   rule 10 on [70] [ATTR] [off]   priority, variant or V=W,V=W split,
 *                                  rule rollout %, its stickiness, disabled
 *   cond [!][~]ATTR OP V1,V2       a condition of the last rule (~: case-
 *                                  insensitive), any operator name
 *   ctx NAME=VALUE                 user_id, email, country, ip, groups=a,b;
 *                                  others: a number, true/false, a list
 *                                  (with a comma) or a string
 *   requires KEY [off|V1,V2]       a prerequisite of the flag: KEY on (serving
 *                                  one of V1,V2), or off
 *   parent KEY 1 50 [REQ]          another boolean flag of the set: enabled,
 *                                  rollout %, and a flag it requires (which
 *                                  may be the first: a cycle)
 *
 * With prerequisites or parents, the flags are also built into one set
 * (vx_flagset_build, which links them) and every flag of it evaluated: a
 * PREREQUISITE_FAILED names one of the flag's own prerequisites and
 * serves its off variant, and whether the flag's prerequisites held must
 * agree with what its parents served to the same context.
 *
 * These become the Flag and EvalContext messages vexild stores and
 * receives, compiled by src/model (as vexild and libvexil do) and
 * evaluated by src/eval. A flag compile may refuse (that is its job);
 * an evaluation must then be deterministic, serve one of the flag's
 * variants with a known reason, and agree with vx_eval_ctx_get().
 * `matches` patterns are PCRE2's; one that runs out of its match budget
 * (the corpus has (a+)+$ against a long subject) must run out the same
 * number of times on every evaluation of the same context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "fuzz.h"
#include "model/compile.h"
#include "model/flagset.h"

#define MAX_ITEMS 16
#define MAX_PARENTS 4

static vx_arena arena;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vx_arena_init(&arena, 8 << 20);
	return 0;
}

/* Splits s at commas into at most MAX_ITEMS arena strings. */
static size_t
split(const char *s, char ***out)
{
	char **items = vx_arena_alloc(&arena, MAX_ITEMS * sizeof(*items));
	char *copy = vx_arena_strdup(&arena, s), *save = NULL, *t;
	size_t n = 0;

	if (items == NULL || copy == NULL)
		return 0;
	for (t = strtok_r(copy, ",", &save); t != NULL && n < MAX_ITEMS;
	     t = strtok_r(NULL, ",", &save))
		items[n++] = t;
	*out = items;
	return n;
}

struct input {
	Vexil__V1__Flag flag;
	Vexil__V1__FlagEnvConfig cfg, *cfg_ptr;
	Vexil__V1__Rollout env_rollout;
	Vexil__V1__Variant variants[MAX_ITEMS], *variant_ptrs[MAX_ITEMS];
	Vexil__V1__Rule rules[MAX_ITEMS], *rule_ptrs[MAX_ITEMS];
	Vexil__V1__Rollout rule_rollouts[MAX_ITEMS];
	Vexil__V1__Condition conds[MAX_ITEMS][MAX_ITEMS], *cond_ptrs[MAX_ITEMS][MAX_ITEMS];
	Vexil__V1__WeightedVariant splits[MAX_ITEMS][MAX_ITEMS],
	    *split_ptrs[MAX_ITEMS][MAX_ITEMS];
	Vexil__V1__EvalContext ctx;
	Vexil__V1__EvalContext__AttributesEntry attrs[MAX_ITEMS], *attr_ptrs[MAX_ITEMS];
	Vexil__V1__AttrValue values[MAX_ITEMS];
	Vexil__V1__StringList lists[MAX_ITEMS];
	Vexil__V1__Prerequisite prereqs[MAX_ITEMS], *prereq_ptrs[MAX_ITEMS];
	/* Parents: boolean flags with on/off variants and one prerequisite. */
	Vexil__V1__Flag parents[MAX_PARENTS], *set[MAX_PARENTS + 1];
	Vexil__V1__FlagEnvConfig pcfg[MAX_PARENTS], *pcfg_ptrs[MAX_PARENTS];
	Vexil__V1__Prerequisite preq[MAX_PARENTS], *preq_ptrs[MAX_PARENTS];
	size_t nparents;
};

static Vexil__V1__Variant on_variant = {
    PROTOBUF_C_MESSAGE_INIT(&vexil__v1__variant__descriptor), "on", "true", ""};
static Vexil__V1__Variant off_variant = {
    PROTOBUF_C_MESSAGE_INIT(&vexil__v1__variant__descriptor), "off", "false", ""};
static Vexil__V1__Variant *bool_variants[2] = {&on_variant, &off_variant};

/* "requires KEY [off|V1,V2]" */
static void
parse_requires(struct input *in, char *rest)
{
	size_t i = in->cfg.n_prerequisites;
	Vexil__V1__Prerequisite *p = &in->prereqs[i];
	char *save = NULL, *key, *how;

	if (i == MAX_ITEMS || (key = strtok_r(rest, " ", &save)) == NULL)
		return;
	vexil__v1__prerequisite__init(p);
	p->flag_key = vx_arena_strdup(&arena, key);
	if ((how = strtok_r(NULL, " ", &save)) != NULL) {
		if (strcmp(how, "off") == 0)
			p->when_off = true;
		else
			p->n_variants = split(how, &p->variants);
	}
	in->prereq_ptrs[i] = p;
	in->cfg.prerequisites = in->prereq_ptrs;
	in->cfg.n_prerequisites++;
}

/* "parent KEY ENABLED PCT [REQ]" */
static void
parse_parent(struct input *in, char *rest)
{
	size_t i = in->nparents;
	Vexil__V1__Flag *f = &in->parents[i];
	Vexil__V1__FlagEnvConfig *cfg = &in->pcfg[i];
	char *save = NULL, *t;

	if (i == MAX_PARENTS || (t = strtok_r(rest, " ", &save)) == NULL)
		return;
	vexil__v1__flag__init(f);
	vexil__v1__flag_env_config__init(cfg);
	f->id = 2 + i;
	f->project_id = 1;
	f->key = vx_arena_strdup(&arena, t);
	f->variants = bool_variants;
	f->n_variants = 2;
	cfg->environment = "production";
	cfg->default_variant = "on";
	cfg->off_variant = "off";
	if ((t = strtok_r(NULL, " ", &save)) != NULL)
		cfg->enabled = *t == '1';
	if ((t = strtok_r(NULL, " ", &save)) != NULL)
		cfg->rollout_percentage = (uint32_t)strtoul(t, NULL, 10);
	if ((t = strtok_r(NULL, " ", &save)) != NULL) {
		vexil__v1__prerequisite__init(&in->preq[i]);
		in->preq[i].flag_key = vx_arena_strdup(&arena, t);
		in->preq_ptrs[i] = &in->preq[i];
		cfg->prerequisites = &in->preq_ptrs[i];
		cfg->n_prerequisites = 1;
	}
	in->pcfg_ptrs[i] = cfg;
	f->envs = &in->pcfg_ptrs[i];
	f->n_envs = 1;
	in->nparents++;
}

static void
parse_rule(struct input *in, char *rest)
{
	size_t i = in->cfg.n_rules;
	Vexil__V1__Rule *r = &in->rules[i];
	char *save = NULL, *t;
	char **items;

	if (i == MAX_ITEMS)
		return;
	vexil__v1__rule__init(r);
	r->id = i + 1;
	r->seq = i + 1;
	r->enabled = true;
	r->conditions = in->cond_ptrs[i];
	r->split = in->split_ptrs[i];
	if ((t = strtok_r(rest, " ", &save)) != NULL)
		r->priority = (int32_t)strtol(t, NULL, 10);
	if ((t = strtok_r(NULL, " ", &save)) != NULL) {
		if (strchr(t, '=') == NULL) {
			r->variant = vx_arena_strdup(&arena, t);
		} else {
			size_t n = split(t, &items);
			for (size_t j = 0; j < n; j++) {
				Vexil__V1__WeightedVariant *w = &in->splits[i][j];
				char *eq = strchr(items[j], '=');
				vexil__v1__weighted_variant__init(w);
				if (eq != NULL) {
					*eq = '\0';
					w->weight = (uint32_t)strtoul(eq + 1, NULL, 10);
				}
				w->variant = items[j];
				in->split_ptrs[i][r->n_split++] = w;
			}
		}
	}
	for (t = strtok_r(NULL, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (strcmp(t, "off") == 0) {
			r->enabled = false;
		} else if (*t >= '0' && *t <= '9') {
			vexil__v1__rollout__init(&in->rule_rollouts[i]);
			in->rule_rollouts[i].percentage = (uint32_t)strtoul(t, NULL, 10);
			r->rollout = &in->rule_rollouts[i];
		} else if (r->rollout != NULL) {
			r->rollout->stickiness = vx_arena_strdup(&arena, t);
		}
	}
	in->rule_ptrs[in->cfg.n_rules++] = r;
}

static void
parse_cond(struct input *in, char *rest)
{
	Vexil__V1__Rule *r;
	Vexil__V1__Condition *c;
	size_t i, j;
	char *save = NULL, *attr, *op, *vals;

	if (in->cfg.n_rules == 0)
		return;
	i = in->cfg.n_rules - 1;
	r = &in->rules[i];
	if ((j = r->n_conditions) == MAX_ITEMS)
		return;
	c = &in->conds[i][j];
	vexil__v1__condition__init(c);
	if ((attr = strtok_r(rest, " ", &save)) == NULL ||
	    (op = strtok_r(NULL, " ", &save)) == NULL)
		return;
	vals = strtok_r(NULL, "", &save);
	for (;; attr++) {
		if (*attr == '!')
			c->negate = true;
		else if (*attr == '~')
			c->case_insensitive = true;
		else
			break;
	}
	c->attribute = vx_arena_strdup(&arena, attr);
	c->operator_ = vx_arena_strdup(&arena, op);
	c->n_values = vals ? split(vals, &c->values) : 0;
	in->cond_ptrs[i][r->n_conditions++] = c;
}

static void
parse_ctx(struct input *in, char *rest)
{
	Vexil__V1__EvalContext *x = &in->ctx;
	char *eq = strchr(rest, '='), *name = rest, *v, *end;
	size_t i = x->n_attributes;

	if (eq == NULL)
		return;
	*eq = '\0';
	v = vx_arena_strdup(&arena, eq + 1);
	if (strcmp(name, "user_id") == 0) {
		x->user_id = v;
	} else if (strcmp(name, "email") == 0) {
		x->email = v;
	} else if (strcmp(name, "country") == 0) {
		x->country = v;
	} else if (strcmp(name, "ip") == 0) {
		x->ip = v;
	} else if (strcmp(name, "groups") == 0) {
		x->n_groups = split(v, &x->groups);
	} else if (i < MAX_ITEMS) {
		Vexil__V1__AttrValue *a = &in->values[i];
		double d = strtod(v, &end);
		vexil__v1__attr_value__init(a);
		if (*v && *end == '\0') {
			a->kind_case = VEXIL__V1__ATTR_VALUE__KIND_NUM;
			a->num = d;
		} else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
			a->kind_case = VEXIL__V1__ATTR_VALUE__KIND_FLAG;
			a->flag = *v == 't';
		} else if (strchr(v, ',') != NULL) {
			vexil__v1__string_list__init(&in->lists[i]);
			in->lists[i].n_items = split(v, &in->lists[i].items);
			a->kind_case = VEXIL__V1__ATTR_VALUE__KIND_LIST;
			a->list = &in->lists[i];
		} else {
			a->kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
			a->str = v;
		}
		vexil__v1__eval_context__attributes_entry__init(&in->attrs[i]);
		in->attrs[i].key = vx_arena_strdup(&arena, name);
		in->attrs[i].value = a;
		in->attr_ptrs[x->n_attributes++] = &in->attrs[i];
	}
}

static void
parse(struct input *in, char *text)
{
	char *save = NULL, *line;

	vexil__v1__flag__init(&in->flag);
	vexil__v1__flag_env_config__init(&in->cfg);
	vexil__v1__rollout__init(&in->env_rollout);
	vexil__v1__eval_context__init(&in->ctx);
	in->flag.id = 1;
	in->flag.project_id = 1;
	in->flag.key = "fuzz";
	in->flag.variants = in->variant_ptrs;
	in->cfg.environment = "production";
	in->cfg.default_variant = "on";
	in->cfg.off_variant = "off";
	in->cfg.rules = in->rule_ptrs;
	in->cfg.rollout = &in->env_rollout;
	in->ctx.attributes = in->attr_ptrs;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), *rest = sp ? sp + 1 : (char *)"";
		if (sp != NULL)
			*sp = '\0';
		if (strcmp(line, "key") == 0 && *rest) {
			in->flag.key = vx_arena_strdup(&arena, rest);
		} else if (strcmp(line, "type") == 0) {
			in->flag.type = strcmp(rest, "string") == 0 ? VEXIL__V1__FLAG_TYPE__FLAG_TYPE_STRING
			    : strcmp(rest, "number") == 0 ? VEXIL__V1__FLAG_TYPE__FLAG_TYPE_NUMBER
			    : strcmp(rest, "json") == 0 ? VEXIL__V1__FLAG_TYPE__FLAG_TYPE_JSON
			    : VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
		} else if (strcmp(line, "variant") == 0 && in->flag.n_variants < MAX_ITEMS) {
			Vexil__V1__Variant *v = &in->variants[in->flag.n_variants];
			char *val = strchr(rest, ' ');
			vexil__v1__variant__init(v);
			if (val != NULL)
				*val++ = '\0';
			v->key = vx_arena_strdup(&arena, rest);
			v->value = vx_arena_strdup(&arena, val ? val : "");
			in->variant_ptrs[in->flag.n_variants++] = v;
		} else if (strcmp(line, "env") == 0) {
			char *s2 = NULL, *t;
			if ((t = strtok_r(rest, " ", &s2)) != NULL)
				in->cfg.enabled = *t == '1';
			if ((t = strtok_r(NULL, " ", &s2)) != NULL)
				in->cfg.rollout_percentage = (uint32_t)strtoul(t, NULL, 10);
			if ((t = strtok_r(NULL, " ", &s2)) != NULL)
				in->cfg.default_variant = vx_arena_strdup(&arena, t);
			if ((t = strtok_r(NULL, " ", &s2)) != NULL)
				in->cfg.off_variant = vx_arena_strdup(&arena, t);
		} else if (strcmp(line, "stickiness") == 0) {
			in->env_rollout.stickiness = vx_arena_strdup(&arena, rest);
		} else if (strcmp(line, "group") == 0) {
			in->env_rollout.group_id = vx_arena_strdup(&arena, rest);
		} else if (strcmp(line, "rule") == 0) {
			parse_rule(in, rest);
		} else if (strcmp(line, "cond") == 0) {
			parse_cond(in, rest);
		} else if (strcmp(line, "ctx") == 0) {
			parse_ctx(in, rest);
		} else if (strcmp(line, "requires") == 0) {
			parse_requires(in, rest);
		} else if (strcmp(line, "parent") == 0) {
			parse_parent(in, rest);
		}
	}
	in->cfg_ptr = &in->cfg;
	in->flag.envs = &in->cfg_ptr;
	in->flag.n_envs = 1;
}

static void
check_result(const Vexil__V1__Flag *f, const vx_eval_result *res)
{
	VX_FUZZ_ASSERT(res->reason >= 0 && vx_eval_reason_name(res->reason) != NULL,
	    "unknown reason %d", res->reason);
	VX_FUZZ_ASSERT(res->variant >= 0 && (size_t)res->variant < f->n_variants,
	    "variant %d of %zu", res->variant, f->n_variants);
	VX_FUZZ_ASSERT(strcmp(res->variant_key, f->variants[res->variant]->key) == 0,
	    "variant key %s is not variant %d", res->variant_key, res->variant);
	VX_FUZZ_ASSERT(res->value != NULL, "no value");
	VX_FUZZ_ASSERT(res->bucket <= 100, "bucket %u", res->bucket);
}

static bool
is_on(int reason)
{
	return reason == VX_REASON_TARGETING_MATCH || reason == VX_REASON_SPLIT ||
	       reason == VX_REASON_STATIC;
}

/* Did prerequisite p hold, judging by what its parent serves to ctx? */
static bool
prereq_held(
    const vx_flagset *fs, const Vexil__V1__Prerequisite *p, const vx_eval_ctx *ctx)
{
	const vx_compiled *parent = vx_flagset_find(fs, p->flag_key);
	vx_eval_result r;

	if (parent == NULL ||
	    vx_eval_flag_evaluate(parent->flag, ctx, &r) != VX_EVAL_OK ||
	    r.reason == VX_REASON_ERROR)
		return false;
	if (p->when_off)
		return !is_on(r.reason);
	if (!is_on(r.reason))
		return false;
	for (size_t i = 0; i < p->n_variants; i++)
		if (strcmp(p->variants[i], r.variant_key) == 0)
			return true;
	return p->n_variants == 0;
}

/* Builds the main flag and its parents into one set, and checks each. */
static void
check_set(struct input *in, const vx_eval_ctx *ctx, bool deterministic)
{
	vx_flagset *fs;
	char err[256];
	size_t n = 0;

	in->set[n++] = &in->flag;
	for (size_t i = 0; i < in->nparents; i++)
		in->set[n++] = &in->parents[i];
	/* Keys are unique in a project ("key" may follow a "parent" line). */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(in->set[i]->key, in->set[j]->key) == 0)
				return;
	VX_FUZZ_ASSERT(vx_flagset_build(in->set, n, NULL, 0, 1, 1, "production", &fs, err,
	                   sizeof(err)) == 0,
	    "flag set failed: %s", err);
	for (size_t i = 0; i < fs->n; i++) {
		const vx_compiled *cf = &fs->flags[i];
		const Vexil__V1__Flag *src = NULL;
		const Vexil__V1__FlagEnvConfig *cfg;
		vx_eval_result a, b;
		bool held = true;

		for (size_t j = 0; j < n && src == NULL; j++)
			if (strcmp(in->set[j]->key, cf->key) == 0)
				src = in->set[j];
		VX_FUZZ_ASSERT(src != NULL, "flag %s is not in the input", cf->key);
		cfg = src->envs[0];
		VX_FUZZ_ASSERT(
		    vx_eval_flag_evaluate(cf->flag, ctx, &a) == 0, "evaluation failed");
		check_result(src, &a);
		VX_FUZZ_ASSERT(
		    vx_eval_flag_evaluate(cf->flag, ctx, &b) == 0, "evaluation failed");
		VX_FUZZ_ASSERT(
		    !deterministic || (a.variant == b.variant && a.reason == b.reason &&
		                          (a.prereq == NULL) == (b.prereq == NULL)),
		    "two evaluations of %s differ", cf->key);
		if (a.reason == VX_REASON_PREREQUISITE_FAILED) {
			bool mine = false;
			VX_FUZZ_ASSERT(a.prereq != NULL,
			    "%s: no failed prerequisite named", cf->key);
			for (size_t j = 0; j < cfg->n_prerequisites; j++)
				mine = mine || strcmp(cfg->prerequisites[j]->flag_key,
				                   a.prereq) == 0;
			VX_FUZZ_ASSERT(
			    mine, "%s: %s is not its prerequisite", cf->key, a.prereq);
			VX_FUZZ_ASSERT(strcmp(a.variant_key, cfg->off_variant) == 0,
			    "%s: served %s, not its off variant", cf->key, a.variant_key);
		} else {
			VX_FUZZ_ASSERT(a.prereq == NULL,
			    "%s: a prerequisite named for reason %s", cf->key,
			    vx_eval_reason_name(a.reason));
		}
		if (!deterministic || a.reason == VX_REASON_DISABLED ||
		    a.reason == VX_REASON_ERROR)
			continue;
		for (size_t j = 0; j < cfg->n_prerequisites; j++)
			held = held && prereq_held(fs, cfg->prerequisites[j], ctx);
		VX_FUZZ_ASSERT(held == (a.reason != VX_REASON_PREREQUISITE_FAILED),
		    "%s: prerequisites held %d, reason %s", cf->key, held,
		    vx_eval_reason_name(a.reason));
	}
	vx_flagset_free(fs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct input in;
	vx_eval_attr attrs[MAX_ITEMS], got;
	vx_eval_ctx ctx, empty = {0};
	vx_eval_result a, b;
	vx_eval_flag *f;
	uint64_t n0, n1;
	char *text, err[256];
	bool random, deterministic;

	if (size > 64 * 1024)
		return 0;
	vx_arena_reset(&arena);
	if ((text = vx_arena_alloc(&arena, size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&in, 0, sizeof(in));
	random = strstr(text, "random") != NULL;
	parse(&in, text);
	if (vx_flag_compile(&in.flag, &in.cfg, &f, err, sizeof(err)) != 0)
		return 0;
	vx_ctx_from_proto(&in.ctx, attrs, MAX_ITEMS, &ctx);
	/*
	 * A random value (no user or session id under the default
	 * stickiness, or "random") is drawn per evaluation, so two
	 * evaluations may differ, down to which rules' patterns they try:
	 * then only the shape of each is checked.
	 */
	deterministic = ctx.user_id != NULL && !random;
	n0 = vx_eval_match_budget_exhausted();
	VX_FUZZ_ASSERT(vx_eval_flag_evaluate(f, &ctx, &a) == 0, "evaluation failed");
	check_result(&in.flag, &a);
	n1 = vx_eval_match_budget_exhausted();
	VX_FUZZ_ASSERT(vx_eval_flag_evaluate(f, &ctx, &b) == 0, "evaluation failed");
	VX_FUZZ_ASSERT(!deterministic || vx_eval_match_budget_exhausted() - n1 == n1 - n0,
	    "match budgets ran out %llu times, then %llu", (unsigned long long)(n1 - n0),
	    (unsigned long long)(vx_eval_match_budget_exhausted() - n1));
	VX_FUZZ_ASSERT(
	    !deterministic ||
	        (a.variant == b.variant && a.reason == b.reason && a.rule == b.rule &&
	            a.bucket == b.bucket && a.split_bucket == b.split_bucket),
	    "two evaluations of one context differ");
	VX_FUZZ_ASSERT(vx_eval_flag_evaluate(f, &empty, &b) == 0, "evaluation failed");
	check_result(&in.flag, &b);
	if (!in.cfg.enabled)
		VX_FUZZ_ASSERT(a.reason == VX_REASON_DISABLED, "a disabled flag gave reason %s",
		    vx_eval_reason_name(a.reason));
	/* Every attribute the context holds can be read back. */
	for (size_t i = 0; i < ctx.nattrs; i++)
		VX_FUZZ_ASSERT(vx_eval_ctx_get(&ctx, ctx.attrs[i].name, &got) == VX_EVAL_OK,
		    "attribute %s is in the context but not found", ctx.attrs[i].name);
	vx_eval_flag_free(f);
	if (in.cfg.n_prerequisites > 0 || in.nparents > 0)
		check_set(&in, &ctx, deterministic);
	return 0;
}
