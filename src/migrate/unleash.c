/*
 * Vexil — Unleash's feature export (one environment) in and out.
 *
 * Reading builds the Vexil file's JSON (migrate/vexil.c's shape) and lets
 * vx_json_to_pb() turn it into the ImportRequest, so both readers fill the
 * model one way. The mapping, which docs/migrate.md tabulates:
 *
 *  - a feature is a flag of the same key, in the one environment named by
 *    the caller; without variants it is a boolean flag (on/off), with them
 *    a string flag (a JSON flag when a payload is a number or JSON) whose
 *    variants are the feature's and its strategies', plus "disabled" (what
 *    Unleash answers when the feature is off) as the off variant;
 *  - each strategy, in sortOrder, is a rule: its constraints are
 *    conditions, its segments the rule's segments, its rollout the rule's
 *    rollout (stickiness and group kept, so every user keeps the bucket
 *    Unleash gave them); it serves its own variants, or the feature's (a
 *    feature variant's overrides become rules just before it), or "on";
 *    the environment's own rollout is 0%, so what no strategy admits is
 *    off, as in Unleash; an enabled feature without strategies gets one
 *    rule that admits everyone;
 *  - dependencies are the environment's prerequisites.
 *
 * Writing maps back what Unleash can express and reports the rest.
 */
#include "migrate/migrate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/pbjson.h"

/* ---- shared ---- */

/* Unleash context names that are Vexil's well-known fields. */
static const char *const ctx_names[][2] = {
    {"userId", "user_id"}, {"remoteAddress", "ip"}, {NULL, NULL}};

static const char *
attr_from_unleash(const char *name)
{
	for (int i = 0; ctx_names[i][0]; i++)
		if (strcmp(name, ctx_names[i][0]) == 0)
			return ctx_names[i][1];
	return name;
}

static const char *
attr_to_unleash(const char *name)
{
	for (int i = 0; ctx_names[i][0]; i++)
		if (strcmp(name, ctx_names[i][1]) == 0)
			return ctx_names[i][0];
	return name;
}

/* Constraint operators and the condition operators they are. */
static const char *const ops[][2] = {{"IN", "in"}, {"NOT_IN", "in"},
    {"STR_CONTAINS", "contains"}, {"STR_STARTS_WITH", "starts_with"},
    {"STR_ENDS_WITH", "ends_with"}, {"NUM_EQ", "num_eq"}, {"NUM_GT", "gt"},
    {"NUM_GTE", "gte"}, {"NUM_LT", "lt"}, {"NUM_LTE", "lte"}, {"DATE_AFTER", "after"},
    {"DATE_BEFORE", "before"}, {"SEMVER_EQ", "semver_eq"}, {"SEMVER_GT", "semver_gt"},
    {"SEMVER_LT", "semver_lt"}, {"REGEX", "matches"}, {NULL, NULL}};

static const char *
str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool
truthy(const cJSON *o, const char *name, bool dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const cJSON *
arr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsArray(v) ? v : NULL;
}

/* ---- reading ---- */

struct reader {
	const cJSON *file;
	const char *env;
	vx_mig_report *rep;
	cJSON *segs; /* the vexil file's segments, with the Unleash ids beside */
	int oom;
};

static void
note(struct reader *r, const char *flag, const char *what, const char *detail)
{
	if (vx_mig_report_add(r->rep, "flag %s: %s%s%s", flag, what, detail ? ": " : "",
	        detail ? detail : "") != 0)
		r->oom = 1;
}

/* "a, b,c" -> ["a","b","c"] (Unleash's list parameters). */
static cJSON *
split_list(const char *s)
{
	cJSON *out = cJSON_CreateArray();
	char item[512];

	while (out && s && *s) {
		size_t n = strcspn(s, ",");
		const char *b = s, *e = s + n;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b && (size_t)(e - b) < sizeof(item)) {
			memcpy(item, b, (size_t)(e - b));
			item[e - b] = '\0';
			cJSON_AddItemToArray(out, cJSON_CreateString(item));
		}
		s += n + (s[n] == ',');
	}
	return out;
}

/*
 * One Unleash constraint as a condition, or NULL after a report line.
 * Unleash evaluates a missing field as the operator on `undefined`: false,
 * except NOT_IN, which holds; `inverted` then flips it. So a condition
 * holds on a missing attribute exactly when it is negated.
 */
static cJSON *
constraint(struct reader *r, const char *flag, const cJSON *k)
{
	const char *name = str(k, "contextName"), *op = str(k, "operator"), *vop = NULL;
	const cJSON *vals = arr(k, "values"), *it;
	bool inverted = truthy(k, "inverted", false), negate;
	cJSON *values;

	if (name == NULL || op == NULL) {
		note(r, flag, "a constraint without contextName or operator", NULL);
		return NULL;
	}
	for (int i = 0; ops[i][0]; i++)
		if (strcmp(op, ops[i][0]) == 0)
			vop = ops[i][1];
	if (vop == NULL) {
		note(r, flag, "constraint operator", op);
		return NULL;
	}
	if (strcmp(name, "currentTime") == 0) {
		/* Unleash fills it in with the clock; Vexil's engine reads no
		 * clock, so the condition would never hold. */
		note(r, flag, "a constraint on currentTime (the evaluation clock)", op);
		return NULL;
	}
	values = cJSON_CreateArray();
	if (vals && cJSON_GetArraySize(vals) > 0) {
		cJSON_ArrayForEach(it, vals)
		    cJSON_AddItemToArray(values, vx_mig_json_text(it));
	} else if (cJSON_GetObjectItemCaseSensitive(k, "value") != NULL) {
		cJSON_AddItemToArray(values,
		    vx_mig_json_text(cJSON_GetObjectItemCaseSensitive(k, "value")));
	}
	if (cJSON_GetArraySize(values) == 0) {
		cJSON_Delete(values);
		note(r, flag, "a constraint without values", name);
		return NULL;
	}
	negate = inverted != (strcmp(op, "NOT_IN") == 0);
	return vx_mig_condition(attr_from_unleash(name), vop, values, negate, negate,
	    strncmp(op, "STR_", 4) == 0 && truthy(k, "caseInsensitive", false));
}

static const char *
stickiness_from_unleash(const char *s)
{
	if (s == NULL || *s == '\0' || strcmp(s, "default") == 0)
		return "default";
	return attr_from_unleash(s);
}

/* A variant's value as JSON text, and the flag type it asks for. */
static char *
payload_value(const cJSON *v, const char *name, int *type)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "payload");
	const char *t = str(p, "type"), *val = str(p, "value");
	cJSON *s;
	char *out;

	if (t != NULL && val != NULL &&
	    (strcmp(t, "json") == 0 || strcmp(t, "number") == 0)) {
		cJSON *parsed = cJSON_Parse(val);
		if (parsed == NULL)
			return NULL;
		out = cJSON_PrintUnformatted(parsed);
		cJSON_Delete(parsed);
		*type = 3;
		return out;
	}
	s = cJSON_CreateString(val ? val : name);
	out = cJSON_PrintUnformatted(s);
	cJSON_Delete(s);
	return out;
}

struct vset {
	cJSON *variants; /* the flag's variants, in the vexil file's shape */
	int type;        /* 1 string, 3 json */
};

/* Adds the variants of list to set (by name; the first payload wins). */
static void
collect_variants(struct reader *r, const char *flag, const cJSON *list, struct vset *vs)
{
	const cJSON *v, *have;

	cJSON_ArrayForEach(v, list)
	{
		const char *name = str(v, "name");
		bool dup = false;
		char *val;
		int t = 1;

		if (name == NULL) {
			note(r, flag, "a variant without a name", NULL);
			continue;
		}
		cJSON_ArrayForEach(have, vs->variants) dup =
		    dup || strcmp(str(have, "key"), name) == 0;
		if (dup)
			continue;
		if ((val = payload_value(v, name, &t)) == NULL) {
			note(r, flag, "variant payload is not valid JSON", name);
			continue;
		}
		if (t == 3)
			vs->type = 3;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", name);
		cJSON_AddStringToObject(o, "value", val);
		cJSON_AddItemToArray(vs->variants, o);
		free(val);
	}
}

/* A split over an Unleash variant list (weights as they are: a total of
 * 1000, so hash % 1000 + 1 is Unleash's bucket). */
static cJSON *
split_of(const cJSON *list)
{
	cJSON *split = cJSON_CreateArray();
	const cJSON *v, *w;

	cJSON_ArrayForEach(v, list)
	{
		w = cJSON_GetObjectItemCaseSensitive(v, "weight");
		if (!cJSON_IsNumber(w) || w->valuedouble <= 0 || str(v, "name") == NULL)
			continue;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "variant", str(v, "name"));
		cJSON_AddNumberToObject(e, "weight", w->valuedouble);
		cJSON_AddItemToArray(split, e);
	}
	return split;
}

static int
percent(const cJSON *params, const char *name, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	double d;

	if (cJSON_IsString(v))
		d = atof(v->valuestring);
	else if (cJSON_IsNumber(v))
		d = v->valuedouble;
	else
		return -1;
	if (d < 0 || d > 100 || d != (double)(int)d)
		return -1;
	*out = (int)d;
	return 0;
}

/*
 * The rule's admission for a strategy: conditions it adds and its
 * rollout. A rollout keyed on one attribute at 100% still needs the
 * attribute in Unleash, so it gets a condition that the attribute is there.
 */
static int
strategy_rule(
    struct reader *r, const char *flag, const cJSON *s, cJSON *rule, cJSON *conds)
{
	const char *name = str(s, "name");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(s, "parameters");
	const char *stick = NULL, *group = str(params, "groupId");
	int pct = 100;

	if (name == NULL) {
		note(r, flag, "a strategy without a name", NULL);
		return -1;
	}
	if (strcmp(name, "default") == 0)
		return 0;
	if (strcmp(name, "userWithId") == 0) {
		cJSON_AddItemToArray(
		    conds, vx_mig_condition("user_id", "in",
		               split_list(str(params, "userIds")), false, false, false));
		return 0;
	}
	if (strcmp(name, "remoteAddress") == 0) {
		cJSON_AddItemToArray(
		    conds, vx_mig_condition("ip", "cidr", split_list(str(params, "IPs")),
		               false, false, false));
		return 0;
	}
	if (strcmp(name, "applicationHostname") == 0) {
		cJSON_AddItemToArray(
		    conds, vx_mig_condition("hostname", "in",
		               split_list(str(params, "hostNames")), false, false, true));
		return 0;
	}
	if (strcmp(name, "gradualRolloutUserId") == 0)
		stick = "user_id";
	else if (strcmp(name, "gradualRolloutSessionId") == 0)
		stick = "sessionId";
	else if (strcmp(name, "gradualRolloutRandom") == 0)
		stick = "random";
	else if (strcmp(name, "flexibleRollout") == 0)
		stick = stickiness_from_unleash(str(params, "stickiness"));
	if (stick == NULL) {
		note(
		    r, flag, "strategy (not one of Unleash's built-in strategies)", name);
		return -1;
	}
	if (percent(params,
	        strcmp(name, "flexibleRollout") == 0 ? "rollout" : "percentage",
	        &pct) != 0) {
		note(r, flag, "a rollout percentage that is not a whole number 0..100",
		    name);
		return -1;
	}
	cJSON *ro = cJSON_CreateObject();
	cJSON_AddNumberToObject(ro, "percentage", pct);
	cJSON_AddStringToObject(ro, "stickiness", stick);
	cJSON_AddStringToObject(
	    ro, "group_id", strcmp(stick, "random") == 0 ? "" : (group ? group : flag));
	cJSON_AddItemToObject(rule, "rollout", ro);
	if (pct == 100 && strcmp(stick, "default") != 0 && strcmp(stick, "random") != 0)
		cJSON_AddItemToArray(conds, vx_mig_condition(stick, "matches",
		                                split_list("^"), false, false, false));
	return 0;
}

static int
by_sort_order(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	const cJSON *ox = cJSON_GetObjectItemCaseSensitive(x, "sortOrder");
	const cJSON *oy = cJSON_GetObjectItemCaseSensitive(y, "sortOrder");
	double dx = cJSON_IsNumber(ox) ? ox->valuedouble : 0;
	double dy = cJSON_IsNumber(oy) ? oy->valuedouble : 0;
	return dx < dy ? -1 : dx > dy;
}

/* The vexil segment name of an Unleash segment id, or NULL. */
static const char *
segment_name(struct reader *r, const cJSON *id)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, r->segs)
	{
		const cJSON *gid = cJSON_GetObjectItemCaseSensitive(g, "unleash_id");
		if (cJSON_IsNumber(gid) && cJSON_IsNumber(id) &&
		    gid->valuedouble == id->valuedouble)
			return str(g, "name");
	}
	return NULL;
}

static cJSON *
conditions_of(struct reader *r, const char *flag, const cJSON *list, bool *ok)
{
	cJSON *conds = cJSON_CreateArray(), *c;
	const cJSON *k;

	cJSON_ArrayForEach(k, list)
	{
		if ((c = constraint(r, flag, k)) == NULL)
			*ok = false;
		else
			cJSON_AddItemToArray(conds, c);
	}
	return conds;
}

/* Appends to rules what one strategy is. */
static void
strategy_rules(struct reader *r, const char *flag, const cJSON *s, const cJSON *fvariants,
    const char *on, cJSON *rules)
{
	const cJSON *svars = arr(s, "variants"), *id, *v, *sid;
	cJSON *rule = cJSON_CreateObject(), *conds, *segs = cJSON_CreateArray();
	const char *title = str(s, "title");
	bool ok = true;
	int n;

	conds = conditions_of(r, flag, arr(s, "constraints"), &ok);
	cJSON_ArrayForEach(sid, arr(s, "segments"))
	{
		const char *g = segment_name(r, sid);
		if (g == NULL) {
			note(r, flag, "a strategy names a segment the file does not hold",
			    NULL);
			ok = false;
		} else {
			cJSON_AddItemToArray(segs, cJSON_CreateString(g));
		}
	}
	if (strategy_rule(r, flag, s, rule, conds) != 0)
		ok = false;
	if (!ok) {
		cJSON_Delete(rule);
		cJSON_Delete(conds);
		cJSON_Delete(segs);
		return;
	}
	cJSON_AddStringToObject(rule, "name", title && *title ? title : str(s, "name"));
	cJSON_AddBoolToObject(rule, "enabled", !truthy(s, "disabled", false));
	cJSON_AddItemToObject(rule, "conditions", conds);
	cJSON_AddItemToObject(rule, "segments", segs);
	/* What it serves: its own variants, the feature's, or plain "on". */
	const cJSON *serve = svars && cJSON_GetArraySize(svars) > 0           ? svars
	                     : fvariants && cJSON_GetArraySize(fvariants) > 0 ? fvariants
	                                                                      : NULL;
	if (serve == NULL) {
		cJSON_AddStringToObject(rule, "variant", on);
		cJSON_AddItemToArray(rules, rule);
		return;
	}
	const char *group =
	    str(cJSON_GetObjectItemCaseSensitive(s, "parameters"), "groupId");
	cJSON_AddItemToObject(rule, "split", split_of(serve));
	cJSON_AddStringToObject(rule, "split_stickiness",
	    stickiness_from_unleash(str(cJSON_GetArrayItem(serve, 0), "stickiness")));
	cJSON_AddStringToObject(
	    rule, "split_group_id", serve == svars && group ? group : flag);
	/* One variant is served whatever the bucket, even to a context the
	 * split's stickiness cannot bucket (Unleash then draws at random). */
	cJSON *only = cJSON_GetObjectItemCaseSensitive(rule, "split");
	if (cJSON_GetArraySize(only) == 1) {
		cJSON_AddStringToObject(
		    rule, "variant", str(cJSON_GetArrayItem(only, 0), "variant"));
		cJSON_DeleteItemFromObjectCaseSensitive(rule, "split");
		cJSON_DeleteItemFromObjectCaseSensitive(rule, "split_stickiness");
		cJSON_DeleteItemFromObjectCaseSensitive(rule, "split_group_id");
	}
	/* Feature variants' overrides come first, each as this rule narrowed to
	 * the override's values (strategy variants have none). */
	if (serve == fvariants) {
		cJSON_ArrayForEach(v, fvariants)
		{
			const cJSON *o;
			cJSON_ArrayForEach(o, arr(v, "overrides"))
			{
				const char *ctx = str(o, "contextName");
				cJSON *copy = cJSON_Duplicate(rule, true),
				      *vals = cJSON_CreateArray();
				const cJSON *x;
				if (ctx == NULL)
					continue;
				cJSON_ArrayForEach(x, arr(o, "values"))
				    cJSON_AddItemToArray(vals, vx_mig_json_text(x));
				cJSON_DeleteItemFromObjectCaseSensitive(copy, "split");
				cJSON_DeleteItemFromObjectCaseSensitive(
				    copy, "split_stickiness");
				cJSON_DeleteItemFromObjectCaseSensitive(
				    copy, "split_group_id");
				cJSON_AddItemToArray(
				    cJSON_GetObjectItemCaseSensitive(copy, "conditions"),
				    vx_mig_condition(attr_from_unleash(ctx), "in", vals,
				        false, false, false));
				cJSON_AddStringToObject(copy, "variant", str(v, "name"));
				cJSON_AddItemToArray(rules, copy);
			}
		}
	}
	n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rule, "split"));
	if (n == 0 && cJSON_GetObjectItemCaseSensitive(rule, "variant") == NULL) {
		note(r, flag, "variants whose weights are all 0", NULL);
		cJSON_Delete(rule);
		return;
	}
	(void)id;
	cJSON_AddItemToArray(rules, rule);
}

static bool
named(const cJSON *o, const char *key, const char *value)
{
	const char *s = str(o, key);
	return s != NULL && strcmp(s, value) == 0;
}

/* The file's entry for this feature in this environment, or NULL. */
static const cJSON *
feature_env(struct reader *r, const char *flag)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr(r->file, "featureEnvironments"))
	{
		const char *env = str(e, "environment");
		if (named(e, "featureName", flag) &&
		    (env == NULL || strcmp(env, r->env) == 0))
			return e;
	}
	return NULL;
}

static cJSON *
read_feature(struct reader *r, const cJSON *feat)
{
	const char *key = str(feat, "name"), *on;
	const cJSON *fe, *fvars, *s, *d, *t;
	cJSON *f, *envc, *rules, *meta, *tags, *prereqs, *variants;
	const cJSON **strats = NULL;
	struct vset vs = {cJSON_CreateArray(), 1};
	size_t ns = 0;
	bool needs_on = false;

	fe = feature_env(r, key);
	fvars = arr(fe, "variants");
	if (fvars == NULL)
		fvars = arr(feat, "variants");
	collect_variants(r, key, fvars, &vs);
	cJSON_ArrayForEach(s, arr(r->file, "featureStrategies"))
	{
		const char *env = str(s, "environment");
		if (!named(s, "featureName", key) || (env && strcmp(env, r->env) != 0))
			continue;
		const cJSON **bigger = realloc(strats, (ns + 1) * sizeof(*strats));
		if (bigger == NULL) {
			r->oom = 1;
			break;
		}
		strats = bigger;
		strats[ns++] = s;
		if (arr(s, "variants") && cJSON_GetArraySize(arr(s, "variants")) > 0) {
			collect_variants(r, key, arr(s, "variants"), &vs);
		} else if (fvars == NULL || cJSON_GetArraySize(fvars) == 0) {
			needs_on = true;
		}
	}
	if (ns > 1)
		qsort(strats, ns, sizeof(*strats), by_sort_order);

	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "key", key);
	cJSON_AddStringToObject(f, "name", key);
	cJSON_AddStringToObject(
	    f, "description", str(feat, "description") ? str(feat, "description") : "");
	meta = cJSON_AddObjectToObject(f, "metadata");
	if (str(feat, "type"))
		cJSON_AddStringToObject(meta, "unleash.type", str(feat, "type"));
	if (truthy(feat, "impressionData", false))
		cJSON_AddStringToObject(meta, "unleash.impressionData", "true");
	tags = cJSON_AddArrayToObject(f, "tags");
	cJSON_ArrayForEach(t, arr(r->file, "featureTags"))
	{
		char tag[200];
		if (!named(t, "featureName", key) || str(t, "tagValue") == NULL)
			continue;
		snprintf(tag, sizeof(tag), "%s:%s",
		    str(t, "tagType") ? str(t, "tagType") : "simple", str(t, "tagValue"));
		cJSON_AddItemToArray(tags, cJSON_CreateString(tag));
	}
	bool toggle = cJSON_GetArraySize(vs.variants) == 0;
	if (toggle) {
		/* A plain toggle: Vexil's boolean flag. */
		cJSON_Delete(vs.variants);
		cJSON_AddStringToObject(f, "type", "boolean");
		variants = cJSON_Parse("[{\"key\":\"on\",\"value\":\"true\"},"
		                       "{\"key\":\"off\",\"value\":\"false\"}]");
		on = "on";
		cJSON_AddItemToObject(f, "variants", variants);
	} else {
		cJSON_AddStringToObject(f, "type", vs.type == 3 ? "json" : "string");
		/* "enabled": what a strategy without variants serves when the
		 * feature has none either (Unleash: enabled, no variant). */
		on =
		    needs_on ? "enabled" : str(cJSON_GetArrayItem(vs.variants, 0), "key");
		if (needs_on) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "key", on);
			cJSON_AddStringToObject(
			    o, "value", vs.type == 3 ? "null" : "\"enabled\"");
			cJSON_AddItemToArray(vs.variants, o);
		}
		cJSON *off = cJSON_CreateObject();
		cJSON_AddStringToObject(off, "key", "disabled");
		cJSON_AddStringToObject(
		    off, "value", vs.type == 3 ? "null" : "\"disabled\"");
		cJSON_AddItemToArray(vs.variants, off);
		cJSON_AddItemToObject(f, "variants", vs.variants);
	}
	envc = cJSON_CreateObject();
	cJSON_AddStringToObject(envc, "environment", r->env);
	cJSON_AddBoolToObject(envc, "enabled", fe ? truthy(fe, "enabled", false) : false);
	cJSON_AddStringToObject(envc, "default_variant", on);
	cJSON_AddStringToObject(envc, "off_variant", toggle ? "off" : "disabled");
	cJSON_AddNumberToObject(envc, "rollout_percentage", 0);
	rules = cJSON_AddArrayToObject(envc, "rules");
	for (size_t i = 0; i < ns; i++)
		strategy_rules(r, key, strats[i], fvars, on, rules);
	if (ns == 0) {
		/* Unleash turns an enabled feature without strategies on for all. */
		cJSON *s0 = cJSON_Parse("{\"name\":\"default\"}");
		strategy_rules(r, key, s0, fvars, on, rules);
		cJSON_Delete(s0);
	}
	free(strats);
	prereqs = cJSON_AddArrayToObject(envc, "prerequisites");
	cJSON_ArrayForEach(d, arr(r->file, "dependencies"))
	{
		const cJSON *p;
		if (!named(d, "feature", key))
			continue;
		cJSON_ArrayForEach(p, arr(d, "dependencies"))
		{
			bool enabled = truthy(p, "enabled", true);
			cJSON *q = cJSON_CreateObject();
			cJSON_AddStringToObject(
			    q, "flag_key", str(p, "feature") ? str(p, "feature") : "");
			cJSON_AddBoolToObject(q, "when_off", !enabled);
			if (enabled && arr(p, "variants"))
				cJSON_AddItemToObject(q, "variants",
				    cJSON_Duplicate(arr(p, "variants"), true));
			cJSON_AddItemToArray(prereqs, q);
		}
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(f, "envs"), envc);
	return f;
}

/* Unleash segments; the names become keys ("segment-<id>" when a name is
 * not one). */
static void
read_segments(struct reader *r)
{
	const cJSON *g;

	r->segs = cJSON_CreateArray();
	cJSON_ArrayForEach(g, arr(r->file, "segments"))
	{
		const char *name = str(g, "name");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(g, "id");
		char key[64];
		bool ok = true, valid = name != NULL && *name && strlen(name) <= 128;
		char label[200];

		for (const char *p = name; valid && *p; p++)
			valid = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			        (*p >= '0' && *p <= '9') ||
			        (p != name && (*p == '_' || *p == '-' || *p == '.'));
		snprintf(key, sizeof(key), "segment-%lld",
		    cJSON_IsNumber(id) ? (long long)id->valuedouble : 0LL);
		snprintf(label, sizeof(label), "segment %.100s", valid ? name : key);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", valid ? name : key);
		cJSON_AddStringToObject(o, "description",
		    str(g, "description") ? str(g, "description")
		                          : (valid || !name ? "" : name));
		cJSON_AddItemToObject(
		    o, "conditions", conditions_of(r, label, arr(g, "constraints"), &ok));
		if (cJSON_IsNumber(id))
			cJSON_AddNumberToObject(o, "unleash_id", id->valuedouble);
		cJSON_AddItemToArray(r->segs, o);
	}
}

int
vx_mig_unleash_read(const char *text, size_t len, const char *env,
    Vexil__V1__ImportRequest **out, vx_mig_report *rep, char *err, size_t cap)
{
	struct reader r = {NULL, env, rep, NULL, 0};
	cJSON *file = cJSON_ParseWithLength(text, len), *vx = NULL, *flags, *g;
	const cJSON *feat;
	int rc = VX_EINVAL;

	*out = NULL;
	if (!cJSON_IsObject(file) || arr(file, "features") == NULL) {
		snprintf(
		    err, cap, "not an Unleash feature export (no \"features\" list)");
		goto out;
	}
	r.file = file;
	read_segments(&r);
	vx = cJSON_CreateObject();
	flags = cJSON_AddArrayToObject(vx, "flags");
	cJSON_ArrayForEach(feat, arr(file, "features"))
	{
		if (str(feat, "name") == NULL) {
			snprintf(err, cap, "features: an entry without a name");
			goto out;
		}
		if (truthy(feat, "archived", false))
			continue;
		cJSON_AddItemToArray(flags, read_feature(&r, feat));
	}
	cJSON_ArrayForEach(g, r.segs)
	    cJSON_DeleteItemFromObjectCaseSensitive(g, "unleash_id");
	cJSON_AddItemToObject(vx, "segments", r.segs);
	r.segs = NULL;
	if (r.oom) {
		rc = VX_ENOMEM;
		goto out;
	}
	rc = vx_mig_request(vx, out, err, cap);
out:
	cJSON_Delete(r.segs);
	cJSON_Delete(vx);
	cJSON_Delete(file);
	return rc;
}

/* ---- writing ---- */

struct writer {
	const Vexil__V1__ExportReply *in;
	vx_mig_report *rep;
	cJSON *context; /* context field names used, as an object of names */
	bool bad;       /* the current flag has a construct Unleash lacks */
	int oom;
};

static void refuse(struct writer *w, const char *what, const char *key, const char *fmt,
    ...) VX_PRINTF(4, 5);

static void
refuse(struct writer *w, const char *what, const char *key, const char *fmt, ...)
{
	char line[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (vx_mig_report_add(w->rep, "%s %s: %s", what, key, line) != 0)
		w->oom = 1;
	w->bad = true;
}

static const char *
op_to_unleash(const Vexil__V1__Condition *k)
{
	if (strcmp(k->operator_, "in") == 0 || strcmp(k->operator_, "equals") == 0)
		return k->negate ? "NOT_IN" : "IN";
	for (int i = 2; ops[i][0]; i++)
		if (strcmp(k->operator_, ops[i][1]) == 0 &&
		    strcmp(ops[i][1], "matches") != 0)
			return ops[i][0];
	return NULL;
}

static cJSON *
constraints_of(struct writer *w, const char *what, const char *key,
    Vexil__V1__Condition *const *ks, size_t n, const char *skip_presence_of,
    const Vexil__V1__Condition *skip)
{
	cJSON *list = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		const Vexil__V1__Condition *k = ks[i];
		if (k == skip)
			continue;
		const char *op = op_to_unleash(k), *attr = attr_to_unleash(k->attribute);
		bool in = strcmp(op ? op : "", "IN") == 0 ||
		          strcmp(op ? op : "", "NOT_IN") == 0;
		/* The reader's "attribute is there" for a 100% rollout keyed on it:
		 * flexibleRollout asks for the attribute by itself. */
		if (skip_presence_of && strcmp(k->operator_, "matches") == 0 &&
		    strcmp(k->attribute, skip_presence_of) == 0 && k->n_values == 1 &&
		    strcmp(k->values[0], "^") == 0 && !k->negate)
			continue;
		if (op == NULL) {
			refuse(w, what, key,
			    "operator %s has no Unleash constraint operator",
			    k->operator_);
			continue;
		}
		if (k->missing != k->negate) {
			refuse(w, what, key,
			    "a condition on %s that %s on a missing attribute, which "
			    "Unleash's "
			    "constraints cannot say",
			    k->attribute, k->missing ? "holds" : "fails");
			continue;
		}
		if (k->loose_semver) {
			refuse(w, what, key,
			    "%s reading versions as flagd does (Unleash's SemVer is "
			    "strict)",
			    k->operator_);
			continue;
		}
		if (k->case_insensitive && in) {
			refuse(w, what, key,
			    "a case-insensitive %s (Unleash's IN is exact)",
			    k->operator_);
			continue;
		}
		if (!in && strncmp(op, "STR_", 4) != 0 && k->n_values != 1) {
			refuse(w, what, key, "%s with several values (Unleash takes one)",
			    k->operator_);
			continue;
		}
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "contextName", attr);
		cJSON_AddStringToObject(c, "operator", op);
		if (in || strncmp(op, "STR_", 4) == 0) {
			cJSON *vals = cJSON_AddArrayToObject(c, "values");
			for (size_t j = 0; j < k->n_values; j++)
				cJSON_AddItemToArray(
				    vals, cJSON_CreateString(k->values[j]));
		} else {
			cJSON_AddStringToObject(c, "value", k->values[0]);
		}
		cJSON_AddBoolToObject(c, "inverted", in ? false : k->negate);
		cJSON_AddBoolToObject(c, "caseInsensitive", k->case_insensitive);
		cJSON_AddItemToArray(list, c);
		if (strcmp(attr, "userId") != 0 && strcmp(attr, "sessionId") != 0 &&
		    strcmp(attr, "remoteAddress") != 0 && strcmp(attr, "appName") != 0 &&
		    strcmp(attr, "environment") != 0 &&
		    !cJSON_HasObjectItem(w->context, attr))
			cJSON_AddBoolToObject(w->context, attr, true);
	}
	return list;
}

static const char *
stickiness_to_unleash(const char *s)
{
	if (s == NULL || *s == '\0')
		return "default";
	return attr_to_unleash(s);
}

cJSON *
vx_mig_unleash_payload(const char *value)
{
	cJSON *val = cJSON_Parse(value), *p = cJSON_CreateObject();

	if (cJSON_IsString(val)) {
		cJSON_AddStringToObject(p, "type", "string");
		cJSON_AddStringToObject(p, "value", val->valuestring);
	} else {
		cJSON_AddStringToObject(
		    p, "type", cJSON_IsNumber(val) ? "number" : "json");
		cJSON_AddStringToObject(p, "value", value);
	}
	cJSON_Delete(val);
	return p;
}

const Vexil__V1__Variant *
vx_mig_flag_variant(const Vexil__V1__Flag *f, const char *key)
{
	for (size_t i = 0; i < f->n_variants; i++)
		if (strcmp(f->variants[i]->key, key) == 0)
			return f->variants[i];
	return NULL;
}

static cJSON *
strategy_variant(
    const Vexil__V1__Flag *f, const char *key, double weight, const char *stick)
{
	const Vexil__V1__Variant *v = vx_mig_flag_variant(f, key);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", key);
	cJSON_AddNumberToObject(o, "weight", weight);
	cJSON_AddStringToObject(o, "weightType", "fix");
	cJSON_AddStringToObject(o, "stickiness", stick);
	if (v != NULL)
		cJSON_AddItemToObject(o, "payload", vx_mig_unleash_payload(v->value));
	return o;
}

static int
segment_id(const struct writer *w, const char *name)
{
	for (size_t i = 0; i < w->in->n_segments; i++)
		if (strcmp(w->in->segments[i]->name, name) == 0)
			return (int)i + 1;
	return 0;
}

static bool
is_true(const Vexil__V1__Flag *f, const char *key)
{
	const Vexil__V1__Variant *v = vx_mig_flag_variant(f, key);
	return v != NULL && strcmp(v->value, "true") == 0;
}

/* One strategy: admission (rollout) and what it serves. */
static cJSON *
strategy(struct writer *w, const Vexil__V1__Flag *f, const Vexil__V1__FlagEnvConfig *cfg,
    const Vexil__V1__Rule *r, const Vexil__V1__Rollout *ro, uint32_t pct, int order)
{
	bool toggle = f->type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
	const char *stick = stickiness_to_unleash(ro ? ro->stickiness : NULL);
	const char *group = ro && *ro->group_id ? ro->group_id : f->key;
	cJSON *s = cJSON_CreateObject(), *params, *vars;
	char buf[16];

	/* An address range is Unleash's remoteAddress strategy, which has no
	 * rollout and no constraint operator for it. */
	const Vexil__V1__Condition *cidr = NULL;
	for (size_t i = 0; r && pct == 100 && r->n_split == 0 && i < r->n_conditions; i++)
		if (cidr == NULL && strcmp(r->conditions[i]->operator_, "cidr") == 0 &&
		    strcmp(r->conditions[i]->attribute, "ip") == 0 &&
		    !r->conditions[i]->negate)
			cidr = r->conditions[i];
	/* A rule that admits everyone its conditions match is Unleash's
	 * default strategy (and reads back as a rule without a rollout). */
	bool plain = r && ro == NULL && r->n_split == 0 && cidr == NULL;
	cJSON_AddStringToObject(s, "name",
	    cidr    ? "remoteAddress"
	    : plain ? "default"
	            : "flexibleRollout");
	if (r && *r->name)
		cJSON_AddStringToObject(s, "title", r->name);
	cJSON_AddStringToObject(s, "featureName", f->key);
	params = cJSON_AddObjectToObject(s, "parameters");
	if (cidr != NULL) {
		char ips[4096];
		size_t o = 0;
		ips[0] = '\0';
		for (size_t i = 0; i < cidr->n_values && o < sizeof(ips); i++)
			o += (size_t)snprintf(ips + o, sizeof(ips) - o, "%s%s",
			    i ? ", " : "", cidr->values[i]);
		if (o >= sizeof(ips))
			refuse(w, "flag", f->key, "an address list over %zu bytes",
			    sizeof(ips));
		cJSON_AddStringToObject(params, "IPs", ips);
	} else if (!plain) {
		snprintf(buf, sizeof(buf), "%u", pct);
		cJSON_AddStringToObject(params, "rollout", buf);
		cJSON_AddStringToObject(params, "stickiness", stick);
		cJSON_AddStringToObject(params, "groupId", group);
	}
	cJSON_AddItemToObject(s, "constraints",
	    r ? constraints_of(w, "flag", f->key, r->conditions, r->n_conditions,
	            ro && ro->percentage == 100 ? ro->stickiness : NULL, cidr)
	      : cJSON_CreateArray());
	cJSON *segs = cJSON_AddArrayToObject(s, "segments");
	for (size_t i = 0; r && i < r->n_segments; i++)
		cJSON_AddItemToArray(
		    segs, cJSON_CreateNumber(segment_id(w, r->segments[i])));
	cJSON_AddBoolToObject(s, "disabled", r ? !r->enabled : false);
	cJSON_AddNumberToObject(s, "sortOrder", order);
	vars = cJSON_AddArrayToObject(s, "variants");
	if (r && r->n_split > 0) {
		const char *sst = *r->split_stickiness ? r->split_stickiness
		                  : ro                 ? ro->stickiness
		                                       : "";
		const char *sg = *r->split_group_id ? r->split_group_id : group;
		uint32_t total = 0;
		for (size_t i = 0; i < r->n_split; i++)
			total += r->split[i]->weight;
		if (toggle)
			refuse(w, "flag", f->key, "a boolean flag's rule serves a split");
		else if (total != 1000)
			refuse(w, "flag", f->key,
			    "a split whose weights total %u, not 1000 (Unleash's "
			    "buckets; "
			    "scaling would move users)",
			    total);
		else if (strcmp(sg, group) != 0)
			refuse(w, "flag", f->key,
			    "a split grouped apart from its rollout (Unleash groups both "
			    "by "
			    "the strategy's groupId)");
		for (size_t i = 0; i < r->n_split; i++) {
			if (strcmp(r->split[i]->variant, cfg->off_variant) == 0)
				refuse(w, "flag", f->key,
				    "a split serves the off variant %s",
				    cfg->off_variant);
			cJSON_AddItemToArray(
			    vars, strategy_variant(f, r->split[i]->variant,
			              r->split[i]->weight, stickiness_to_unleash(sst)));
		}
		return s;
	}
	const char *serve = r ? r->variant : cfg->default_variant;
	if (toggle ? !is_true(f, serve) : strcmp(serve, cfg->off_variant) == 0)
		refuse(w, "flag", f->key,
		    "a rule serves %s, an off value (an Unleash strategy can only turn a "
		    "feature on)",
		    serve);
	else if (!toggle)
		cJSON_AddItemToArray(vars, strategy_variant(f, serve, 1000, "default"));
	return s;
}

static void
write_flag(struct writer *w, const Vexil__V1__Flag *f, const char *env,
    const char *project, cJSON *out)
{
	const Vexil__V1__FlagEnvConfig *cfg = NULL;
	cJSON *feat, *fe, *strats = cJSON_CreateArray(), *deps;
	const char *type = "release";
	bool impression = false;

	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, env) == 0)
			cfg = f->envs[i];
	if (cfg == NULL) {
		cJSON_Delete(strats);
		return;
	}
	for (size_t i = 0; i < f->n_metadata; i++) {
		if (strcmp(f->metadata[i]->key, "unleash.type") == 0)
			type = f->metadata[i]->value;
		if (strcmp(f->metadata[i]->key, "unleash.impressionData") == 0)
			impression = strcmp(f->metadata[i]->value, "true") == 0;
	}
	w->bad = false;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const Vexil__V1__Rule *r = cfg->rules[i];
		if (r->priority != cfg->rules[0]->priority) {
			refuse(w, "flag", f->key, "rules of different priorities");
			break;
		}
		cJSON_AddItemToArray(
		    strats, strategy(w, f, cfg, r, r->rollout,
		                r->rollout ? r->rollout->percentage : 100, (int)i));
	}
	if (cfg->rollout_percentage > 0 &&
	    (f->type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN
	            ? is_true(f, cfg->default_variant)
	            : strcmp(cfg->default_variant, cfg->off_variant) != 0))
		cJSON_AddItemToArray(
		    strats, strategy(w, f, cfg, NULL, cfg->rollout,
		                cfg->rollout_percentage, (int)cfg->n_rules));
	if (w->bad) {
		/* Refused: the report says why; the file leaves the flag out. */
		cJSON_Delete(strats);
		return;
	}
	feat = cJSON_CreateObject();
	cJSON_AddStringToObject(feat, "name", f->key);
	cJSON_AddStringToObject(feat, "description", f->description);
	cJSON_AddStringToObject(feat, "type", type);
	cJSON_AddStringToObject(feat, "project", project);
	cJSON_AddBoolToObject(feat, "stale", false);
	cJSON_AddBoolToObject(feat, "impressionData", impression);
	cJSON_AddBoolToObject(feat, "archived", false);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(out, "features"), feat);
	fe = cJSON_CreateObject();
	cJSON_AddStringToObject(fe, "featureName", f->key);
	cJSON_AddStringToObject(fe, "environment", env);
	cJSON_AddBoolToObject(fe, "enabled", cfg->enabled);
	cJSON_AddArrayToObject(fe, "variants");
	cJSON_AddItemToArray(
	    cJSON_GetObjectItemCaseSensitive(out, "featureEnvironments"), fe);
	cJSON *s;
	cJSON *all = cJSON_GetObjectItemCaseSensitive(out, "featureStrategies");
	while ((s = cJSON_DetachItemFromArray(strats, 0)) != NULL) {
		cJSON_AddStringToObject(s, "environment", env);
		cJSON_AddItemToArray(all, s);
	}
	cJSON_Delete(strats);
	for (size_t i = 0; i < f->n_tags; i++) {
		const char *colon = strchr(f->tags[i], ':');
		cJSON *t = cJSON_CreateObject();
		char type_buf[100];
		snprintf(type_buf, sizeof(type_buf), "%.*s",
		    colon ? (int)(colon - f->tags[i]) : 6, colon ? f->tags[i] : "simple");
		cJSON_AddStringToObject(t, "featureName", f->key);
		cJSON_AddStringToObject(t, "tagType", type_buf);
		cJSON_AddStringToObject(t, "tagValue", colon ? colon + 1 : f->tags[i]);
		cJSON_AddItemToArray(
		    cJSON_GetObjectItemCaseSensitive(out, "featureTags"), t);
	}
	if (cfg->n_prerequisites > 0) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "feature", f->key);
		deps = cJSON_AddArrayToObject(d, "dependencies");
		for (size_t i = 0; i < cfg->n_prerequisites; i++) {
			const Vexil__V1__Prerequisite *p = cfg->prerequisites[i];
			cJSON *q = cJSON_CreateObject();
			cJSON_AddStringToObject(q, "feature", p->flag_key);
			cJSON_AddBoolToObject(q, "enabled", !p->when_off);
			cJSON *vs = cJSON_AddArrayToObject(q, "variants");
			for (size_t j = 0; j < p->n_variants; j++)
				cJSON_AddItemToArray(
				    vs, cJSON_CreateString(p->variants[j]));
			cJSON_AddItemToArray(deps, q);
		}
		cJSON_AddItemToArray(
		    cJSON_GetObjectItemCaseSensitive(out, "dependencies"), d);
	}
}

/* The export as a tree; NULL when out of memory. */
static cJSON *
export_tree(const Vexil__V1__ExportReply *in, const char *env, const char *project,
    vx_mig_report *rep)
{
	struct writer w = {in, rep, cJSON_CreateObject(), false, 0};
	cJSON *out = cJSON_CreateObject(), *segs, *ctx, *it;

	cJSON_AddNumberToObject(out, "version", 1);
	cJSON_AddArrayToObject(out, "features");
	cJSON_AddArrayToObject(out, "featureStrategies");
	cJSON_AddArrayToObject(out, "featureEnvironments");
	cJSON_AddArrayToObject(out, "featureTags");
	cJSON_AddArrayToObject(out, "tagTypes");
	segs = cJSON_AddArrayToObject(out, "segments");
	cJSON_AddArrayToObject(out, "dependencies");
	for (size_t i = 0; i < in->n_segments; i++) {
		const Vexil__V1__Segment *g = in->segments[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)i + 1);
		cJSON_AddStringToObject(o, "name", g->name);
		cJSON_AddStringToObject(o, "description", g->description);
		cJSON_AddItemToObject(o, "constraints",
		    constraints_of(&w, "segment", g->name, g->conditions, g->n_conditions,
		        NULL, NULL));
		cJSON_AddItemToArray(segs, o);
	}
	for (size_t i = 0; i < in->n_flags; i++)
		write_flag(&w, in->flags[i], env, project, out);
	ctx = cJSON_AddArrayToObject(out, "contextFields");
	cJSON_ArrayForEach(it, w.context)
	{
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", it->string);
		cJSON_AddArrayToObject(o, "legalValues");
		cJSON_AddBoolToObject(o, "stickiness", false);
		cJSON_AddItemToArray(ctx, o);
	}
	{
		/* The tag types the tags name. */
		cJSON *types = cJSON_GetObjectItemCaseSensitive(out, "tagTypes"), *t;
		cJSON_ArrayForEach(
		    t, cJSON_GetObjectItemCaseSensitive(out, "featureTags"))
		{
			const char *name = str(t, "tagType");
			bool have = false;
			cJSON *x;
			cJSON_ArrayForEach(x, types) have =
			    have || named(x, "name", name);
			if (!have) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "name", name);
				cJSON_AddItemToArray(types, o);
			}
		}
	}
	cJSON_Delete(w.context);
	if (w.oom) {
		cJSON_Delete(out);
		return NULL;
	}
	return out;
}

char *
vx_mig_unleash_write(const Vexil__V1__ExportReply *in, const char *env,
    const char *project, vx_mig_report *rep)
{
	cJSON *out = export_tree(in, env, project, rep);
	char *text = out ? cJSON_Print(out) : NULL;

	cJSON_Delete(out);
	return text;
}

/* Moves the members of `from` named in keep (NULL-terminated) to `to`. */
static void
keep_members(cJSON *to, cJSON *from, const char *const *keep)
{
	for (; *keep; keep++) {
		cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(from, *keep);
		if (v != NULL)
			cJSON_AddItemToObject(to, *keep, v);
	}
}

char *
vx_mig_unleash_client(const Vexil__V1__ExportReply *in, const char *env,
    const char *project, const char *name_prefix, uint64_t revision, vx_mig_report *rep)
{
	static const char *const strategy_fields[] = {
	    "name", "title", "constraints", "parameters", "segments", "variants", NULL};
	cJSON *exp = export_tree(in, env, project, rep), *out, *features, *f, *s, *fe, *d;
	char *text;

	if (exp == NULL)
		return NULL;
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "version", 2);
	features = cJSON_AddArrayToObject(out, "features");
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(exp, "features"))
	{
		const char *name = str(f, "name");
		cJSON *o, *strats;
		if (name_prefix && strncmp(name, name_prefix, strlen(name_prefix)) != 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "type", str(f, "type"));
		cJSON_AddStringToObject(o, "description", str(f, "description"));
		cJSON_AddStringToObject(o, "project", project);
		cJSON_AddBoolToObject(o, "stale", false);
		cJSON_AddBoolToObject(
		    o, "impressionData", truthy(f, "impressionData", false));
		cJSON_ArrayForEach(
		    fe, cJSON_GetObjectItemCaseSensitive(exp,
		            "featureEnvironments")) if (named(fe, "featureName", name))
		{
			cJSON_AddBoolToObject(o, "enabled", truthy(fe, "enabled", false));
			cJSON_AddItemToObject(
			    o, "variants", cJSON_Duplicate(arr(fe, "variants"), true));
		}
		strats = cJSON_AddArrayToObject(o, "strategies");
		cJSON_ArrayForEach(
		    s, cJSON_GetObjectItemCaseSensitive(exp, "featureStrategies"))
		{
			cJSON *c;
			if (!named(s, "featureName", name) ||
			    truthy(s, "disabled", false))
				continue;
			c = cJSON_CreateObject();
			keep_members(c, s, strategy_fields);
			cJSON_AddItemToArray(strats, c);
		}
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(exp,
		                          "dependencies")) if (named(d, "feature", name))
		    cJSON_AddItemToObject(
		        o, "dependencies", cJSON_Duplicate(arr(d, "dependencies"), true));
		cJSON_AddItemToArray(features, o);
	}
	cJSON_AddItemToObject(
	    out, "segments", cJSON_DetachItemFromObjectCaseSensitive(exp, "segments"));
	cJSON *meta = cJSON_AddObjectToObject(out, "meta");
	cJSON_AddNumberToObject(meta, "revisionId", (double)revision);
	text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	cJSON_Delete(exp);
	return text;
}
