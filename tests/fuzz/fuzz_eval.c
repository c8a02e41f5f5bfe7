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

#define MAX_ITEMS 16

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
};

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

	if (size > 64 * 1024)
		return 0;
	vx_arena_reset(&arena);
	if ((text = vx_arena_alloc(&arena, size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&in, 0, sizeof(in));
	parse(&in, text);
	if (vx_flag_compile(&in.flag, &in.cfg, &f, err, sizeof(err)) != 0)
		return 0;
	vx_ctx_from_proto(&in.ctx, attrs, MAX_ITEMS, &ctx);
	n0 = vx_eval_match_budget_exhausted();
	VX_FUZZ_ASSERT(vx_eval_flag_evaluate(f, &ctx, &a) == 0, "evaluation failed");
	check_result(&in.flag, &a);
	n1 = vx_eval_match_budget_exhausted();
	VX_FUZZ_ASSERT(vx_eval_flag_evaluate(f, &ctx, &b) == 0, "evaluation failed");
	VX_FUZZ_ASSERT(vx_eval_match_budget_exhausted() - n1 == n1 - n0,
	    "match budgets ran out %llu times, then %llu", (unsigned long long)(n1 - n0),
	    (unsigned long long)(vx_eval_match_budget_exhausted() - n1));
	VX_FUZZ_ASSERT(a.variant == b.variant && a.reason == b.reason && a.rule == b.rule &&
	    a.bucket == b.bucket && a.split_bucket == b.split_bucket,
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
	return 0;
}
