/*
 * Vexil — flagd's flag definitions in and out.
 *
 * A flagd flag's targeting is a JSON Logic expression that yields a variant
 * name. The reader flattens the shapes that mean "first match wins" into
 * Vexil's ordered rules: an `if` chain is one rule per condition (an `or`
 * is one rule per alternative), `fractional` is a split in flagd's own
 * bucketing mode (Rule.split_bucketing "flagd"; a variant name read from
 * the context is a split per variant behind a condition), a literal is a rule
 * serving it, and `$ref` is replaced by its evaluator. Conditions are the
 * comparisons of a `var` with literals (`==`, `!=`, `in`, `starts_with`,
 * `ends_with`, `sem_ver`, `<`...`>=`), joined by `and`, under `!`. Anything
 * else is reported, naming the flag and the construct, and not imported.
 * Like unleash.c it builds the Vexil file's JSON and lets vx_json_to_pb()
 * make the ImportRequest. The writer does the reverse, for what flagd can
 * express (docs/migrate.md).
 */
#include "migrate/migrate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/pbjson.h"

/* flagd's targeting key is Vexil's user_id. */
static const char *
attr_in(const char *var)
{
	return strcmp(var, "targetingKey") == 0 ? "user_id" : var;
}

static const char *
attr_out(const char *attr)
{
	return strcmp(attr, "user_id") == 0 ? "targetingKey" : attr;
}

/* ---- reading ---- */

/* Bounds on one flag's targeting: if/fractional nesting, rules_of's calls
 * in all, and the length of a chain of $refs. */
#define MAX_DEPTH 64
#define MAX_STEPS 4096
#define MAX_REFS 16

struct reader {
	const cJSON *evaluators;
	vx_mig_report *rep;
	const char *flag;
	bool bad;
	int oom;
	int depth; /* rules_of's nesting, at most MAX_DEPTH */
	int steps; /* rules_of's calls for this flag, at most MAX_STEPS */
	/* A `$ref` to a missing evaluator: the flag is stored with this as
	 * its parse_error and no rules (flagd answers it PARSE_ERROR). */
	char broken[200];
	/* Negating for the branch a condition's false takes (a top-level
	 * comparison serves "false"): an operator that errors (null in JSON
	 * Logic) serves neither, so the negation fails there too. */
	bool falsy;
	/* The flag's defaultVariant, or NULL when it has none. */
	const char *dflt;
};

static void refuse(struct reader *r, const char *fmt, ...) VX_PRINTF(2, 3);

static void
refuse(struct reader *r, const char *fmt, ...)
{
	char line[300];
	va_list ap;

	if (r->broken[0])
		return; /* what follows a missing $ref is not read */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (vx_mig_report_add(r->rep, "flag %s: %s", r->flag, line) != 0)
		r->oom = 1;
	r->bad = true;
}

/* The only operator of a JSON Logic object ({"op": args}), or NULL. */
static const cJSON *
logic_op(const cJSON *e, const char **op)
{
	if (!cJSON_IsObject(e) || cJSON_GetArraySize(e) != 1)
		return NULL;
	*op = e->child->string;
	return e->child;
}

/* A `$ref` resolved, or e itself. */
static const cJSON *
deref(struct reader *r, const cJSON *e)
{
	const char *op;
	const cJSON *a = logic_op(e, &op);
	int hops = 0;

	while (a != NULL && strcmp(op, "$ref") == 0) {
		if (++hops > MAX_REFS) {
			if (!r->bad) /* the same chain may be read twice */
				refuse(r, "a $ref chain over %d long", MAX_REFS);
			return NULL;
		}
		const cJSON *t = cJSON_IsString(a) ? cJSON_GetObjectItemCaseSensitive(
		                                         r->evaluators, a->valuestring)
		                                   : NULL;
		if (t == NULL) {
			if (!r->broken[0])
				snprintf(r->broken, sizeof(r->broken),
				    "$ref to %.100s, which $evaluators does not hold",
				    cJSON_IsString(a) ? a->valuestring : "(not a name)");
			r->bad = true;
			return NULL;
		}
		e = t;
		a = logic_op(e, &op);
	}
	return e;
}

/* {"var": "name"} (or ["name"]) -> "name". */
static const char *
var_name(const cJSON *e)
{
	const char *op;
	const cJSON *a = logic_op(e, &op);

	if (a == NULL || strcmp(op, "var") != 0)
		return NULL;
	if (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 1)
		a = a->child;
	return cJSON_IsString(a) ? a->valuestring : NULL;
}

static cJSON *
cond(const char *attr, const char *op, cJSON *values, bool negate)
{
	/* JSON Logic on a missing var: the comparison is false, so its
	 * negation holds. */
	return vx_mig_condition(attr_in(attr), op, values, negate, negate, false);
}

static cJSON *
one(cJSON *v)
{
	cJSON *a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, v);
	return a;
}

/*
 * A version on the flag's side as flagd reads it (flagd-core's
 * normalizeVersion): a leading v or V dropped, "1" and "1.2" padded to
 * "1.0.0" and "1.2.0", a number as its text. The major and minor come
 * back for ^ and ~. False when it is no version (flagd's sem_ver is then
 * null on every context).
 */
static bool
flagd_version(
    const cJSON *v, char *out, size_t cap, unsigned long *maj, unsigned long *min)
{
	char num[64];
	const char *s, *p;
	int parts = 0;

	if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.15g", v->valuedouble);
		s = num;
	} else if (cJSON_IsString(v)) {
		s = v->valuestring;
	} else {
		return false;
	}
	if (*s == 'v' || *s == 'V')
		s++;
	*maj = *min = 0;
	for (p = s; parts < 3; parts++) {
		size_t d = strspn(p, "0123456789");
		if (d == 0 || d > 9)
			return false;
		if (parts == 0)
			*maj = strtoul(p, NULL, 10);
		else if (parts == 1)
			*min = strtoul(p, NULL, 10);
		p += d;
		if (*p != '.')
			break;
		p++;
	}
	if (parts < 2 ? *p != '\0' : (*p != '\0' && *p != '-' && *p != '+'))
		return false;
	if (parts == 0)
		snprintf(out, cap, "%s.0.0", s);
	else if (parts == 1)
		snprintf(out, cap, "%s.0", s);
	else
		snprintf(out, cap, "%s", s);
	return strlen(s) + 4 < cap;
}

static cJSON *
semver_cond(const char *var, const char *op, const char *ver, bool negate)
{
	/* A missing or unparseable version fails sem_ver, negated or not;
	 * versions are read as flagd reads them. */
	cJSON *c = vx_mig_condition(
	    attr_in(var), op, one(cJSON_CreateString(ver)), negate, false, false);
	cJSON_AddBoolToObject(c, "loose_semver", true);
	return c;
}

/*
 * {"sem_ver": [var, s, version]}: one condition, or for ^ (the same
 * major) and ~ (the same major and minor) the pair of bounds in one rule,
 * as an array: >= M.0.0-0 (the lowest version of that major, prereleases
 * included) and < (M+1).0.0-0. negate is allowed only for the false
 * branch of a top-level comparison (r->falsy), where flagd's null on a bad
 * version serves neither branch, as Vexil's negated semver does.
 */
static cJSON *
semver(struct reader *r, const char *var, const char *s, const cJSON *ver, bool negate)
{
	char v[80], lo[64], hi[64];
	unsigned long maj, min;
	cJSON *c, *pair;
	bool ne = false;
	const char *op = strcmp(s, "=") == 0    ? "semver_eq"
	                 : strcmp(s, "!=") == 0 ? (ne = true, "semver_eq")
	                 : strcmp(s, "<") == 0  ? "semver_lt"
	                 : strcmp(s, ">") == 0  ? "semver_gt"
	                 : strcmp(s, "<=") == 0 ? (ne = true, "semver_gt")
	                 : strcmp(s, ">=") == 0 ? (ne = true, "semver_lt")
	                                        : NULL;

	if (negate && !r->falsy) {
		refuse(r, "! of a sem_ver comparison");
		return NULL;
	}
	if (!flagd_version(ver, v, sizeof(v), &maj, &min)) {
		refuse(r, "sem_ver against something other than a version");
		return NULL;
	}
	if (op != NULL)
		return semver_cond(var, op, v, ne != negate);
	if (strcmp(s, "^") != 0 && strcmp(s, "~") != 0) {
		refuse(r, "sem_ver operator %s (flagd has =, !=, <, <=, >, >=, ^, ~)", s);
		return NULL;
	}
	if (negate) {
		refuse(r, "the false branch of sem_ver %s (either bound may fail)", s);
		return NULL;
	}
	if (s[0] == '^') {
		snprintf(lo, sizeof(lo), "%lu.0.0-0", maj);
		snprintf(hi, sizeof(hi), "%lu.0.0-0", maj + 1);
	} else {
		snprintf(lo, sizeof(lo), "%lu.%lu.0-0", maj, min);
		snprintf(hi, sizeof(hi), "%lu.%lu.0-0", maj, min + 1);
	}
	pair = cJSON_CreateArray();
	cJSON_AddItemToArray(pair, semver_cond(var, "semver_lt", lo, true));
	c = semver_cond(var, "semver_lt", hi, false);
	cJSON_AddItemToArray(pair, c);
	return pair;
}

/* One comparison as a condition, or NULL after a report. */
static cJSON *
atom(struct reader *r, const cJSON *e, bool negate)
{
	static const char *const cmp[][2] = {
	    {"<", "lt"}, {"<=", "lte"}, {">", "gt"}, {">=", "gte"}, {NULL, NULL}};
	const char *op, *var;
	const cJSON *a = logic_op(e, &op), *x, *y;
	cJSON *v;

	if (a != NULL && strcmp(op, "!") == 0 && !cJSON_IsArray(a))
		return atom(r, deref(r, a), !negate); /* {"!": x} is {"!": [x]} */
	if (a == NULL || !cJSON_IsArray(a)) {
		refuse(r, "a condition that is not a comparison of a var with values");
		return NULL;
	}
	x = cJSON_GetArrayItem(a, 0);
	y = cJSON_GetArrayItem(a, 1);
	if (strcmp(op, "!") == 0 || strcmp(op, "!!") == 0) {
		if (cJSON_GetArraySize(a) == 1 && strcmp(op, "!") == 0)
			return atom(r, deref(r, x), !negate);
		refuse(r, "%s of something other than one comparison", op);
		return NULL;
	}
	if ((strcmp(op, "==") == 0 || strcmp(op, "===") == 0 || strcmp(op, "!=") == 0 ||
	        strcmp(op, "!==") == 0) &&
	    cJSON_GetArraySize(a) == 2) {
		bool ne = op[0] == '!';
		if ((var = var_name(x)) == NULL) {
			var = var_name(y);
			y = x;
		}
		if (var == NULL || (v = vx_mig_json_text(y)) == NULL) {
			refuse(r, "%s between other things than a var and a literal", op);
			return NULL;
		}
		return cond(var, "equals", one(v), negate != ne);
	}
	if (strcmp(op, "in") == 0 && cJSON_GetArraySize(a) == 2) {
		if ((var = var_name(x)) != NULL && cJSON_IsArray(y)) {
			cJSON *vals = cJSON_CreateArray();
			const cJSON *it;
			cJSON_ArrayForEach(it, y)
			{
				cJSON *lit = vx_mig_json_text(it);
				if (lit == NULL) {
					cJSON_Delete(vals);
					refuse(r, "in with a list of other things than "
					          "literals");
					return NULL;
				}
				cJSON_AddItemToArray(vals, lit);
			}
			return cond(var, "in", vals, negate);
		}
		if (cJSON_IsString(x) && (var = var_name(y)) != NULL)
			return cond(var, "contains",
			    one(cJSON_CreateString(x->valuestring)), negate);
		refuse(r, "in other than var-in-list or text-in-var");
		return NULL;
	}
	if ((strcmp(op, "starts_with") == 0 || strcmp(op, "ends_with") == 0) &&
	    cJSON_GetArraySize(a) == 2 && (var = var_name(x)) != NULL &&
	    cJSON_IsString(y))
		return r->falsy ? vx_mig_condition(attr_in(var), op,
		                      one(cJSON_CreateString(y->valuestring)), true,
		                      false, false)
		                : cond(var, op, one(cJSON_CreateString(y->valuestring)),
		                      negate);
	if (strcmp(op, "sem_ver") == 0 && cJSON_GetArraySize(a) == 3 &&
	    (var = var_name(x)) != NULL && cJSON_IsString(y))
		return semver(r, var, y->valuestring, cJSON_GetArrayItem(a, 2), negate);
	for (int i = 0; cmp[i][0]; i++) {
		if (strcmp(op, cmp[i][0]) != 0 || cJSON_GetArraySize(a) != 2)
			continue;
		if ((var = var_name(x)) == NULL || !cJSON_IsNumber(y)) {
			refuse(r, "%s other than a var against a number", op);
			return NULL;
		}
		if (negate) {
			refuse(r, "! of a numeric comparison");
			return NULL;
		}
		cJSON *c = cond(var, cmp[i][1], one(vx_mig_json_text(y)), false);
		return c;
	}
	refuse(r, "operator %s", op);
	return NULL;
}

/*
 * A condition as alternatives, each a list of conditions that must all
 * hold: or -> several alternatives, and -> their product.
 */
static cJSON *
alternatives(struct reader *r, const cJSON *e)
{
	const char *op;
	const cJSON *a, *it;
	cJSON *out = cJSON_CreateArray(), *c;

	if ((e = deref(r, e)) == NULL)
		return out;
	if (cJSON_IsTrue(e)) {
		cJSON_AddItemToArray(out, cJSON_CreateArray());
		return out;
	}
	a = logic_op(e, &op);
	if (a != NULL && strcmp(op, "or") == 0 && cJSON_IsArray(a)) {
		cJSON_ArrayForEach(it, a)
		{
			cJSON *sub = alternatives(r, it), *alt;
			while ((alt = cJSON_DetachItemFromArray(sub, 0)) != NULL)
				cJSON_AddItemToArray(out, alt);
			cJSON_Delete(sub);
		}
		return out;
	}
	if (a != NULL && strcmp(op, "and") == 0 && cJSON_IsArray(a)) {
		cJSON_AddItemToArray(out, cJSON_CreateArray());
		cJSON_ArrayForEach(it, a)
		{
			cJSON *sub = alternatives(r, it), *prod = cJSON_CreateArray(), *x,
			      *y;
			cJSON_ArrayForEach(x, out) cJSON_ArrayForEach(y, sub)
			{
				cJSON *both = cJSON_Duplicate(x, true), *k;
				cJSON_ArrayForEach(k, y)
				    cJSON_AddItemToArray(both, cJSON_Duplicate(k, true));
				cJSON_AddItemToArray(prod, both);
			}
			cJSON_Delete(out);
			cJSON_Delete(sub);
			out = prod;
			if (cJSON_GetArraySize(out) > 64) {
				refuse(r, "and/or nesting that expands to over 64 rules");
				break;
			}
		}
		return out;
	}
	if ((c = atom(r, e, false)) != NULL)
		cJSON_AddItemToArray(out, cJSON_IsArray(c) ? c : one(c));
	return out;
}

/* A variant name a branch yields, checked against the flag's. */
static const char *
variant_name(struct reader *r, const cJSON *v, const cJSON *variants)
{
	const char *name = cJSON_IsString(v)  ? v->valuestring
	                   : cJSON_IsTrue(v)  ? "true"
	                   : cJSON_IsFalse(v) ? "false"
	                                      : NULL;

	if (name == NULL) {
		refuse(r, "a branch that yields a computed variant name");
		return NULL;
	}
	if (!cJSON_HasObjectItem(variants, name)) {
		refuse(r, "a branch yields %s, which is not a variant", name);
		return NULL;
	}
	return name;
}

/*
 * The fractional split of a rule: {"fractional": [bucketBy?, [name, w]...]}.
 * tf, when not NULL, is the variants an `if` serves for a fractional
 * condition's true and false entries.
 */
static bool
fractional(struct reader *r, const cJSON *args, const cJSON *variants, cJSON *rule,
    const char *const *tf)
{
	const cJSON *it, *first = cJSON_GetArrayItem(args, 0);
	cJSON *split = cJSON_CreateArray();
	char prefix[256] = "";
	const char *attr = "targetingKey";
	size_t used = 0;
	bool by = first != NULL && !cJSON_IsArray(first);

	snprintf(prefix, sizeof(prefix), "%s", r->flag);
	if (by) {
		const char *op, *var;
		const cJSON *a = logic_op(first, &op), *p;
		if ((var = var_name(first)) != NULL) {
			prefix[0] = '\0';
			attr = var;
		} else if (a != NULL && strcmp(op, "cat") == 0 && cJSON_IsArray(a) &&
		           (var = var_name(cJSON_GetArrayItem(
		                a, cJSON_GetArraySize(a) - 1))) != NULL) {
			prefix[0] = '\0';
			for (p = a->child; p && p->next; p = p->next) {
				const char *s = cJSON_IsString(p) ? p->valuestring : NULL;
				const char *pv = var_name(p);
				if (pv != NULL && strcmp(pv, "$flagd.flagKey") == 0)
					s = r->flag;
				if (s == NULL || used + strlen(s) >= sizeof(prefix)) {
					refuse(r, "a fractional bucketing key other than "
					          "literals, "
					          "the flag key and one var");
					cJSON_Delete(split);
					return false;
				}
				memcpy(prefix + used, s, strlen(s) + 1);
				used += strlen(s);
			}
			attr = var;
		} else {
			refuse(r,
			    "a fractional bucketing key other than a var or a cat ending "
			    "in one");
			cJSON_Delete(split);
			return false;
		}
	}
	cJSON_ArrayForEach(it, args)
	{
		const cJSON *name, *w;
		double weight = 1;
		if (by && it == first)
			continue;
		name = cJSON_GetArrayItem(it, 0);
		w = cJSON_GetArrayItem(it, 1);
		if (!cJSON_IsArray(it) || (w != NULL && !cJSON_IsNumber(w))) {
			refuse(r, "a fractional entry other than [variant, weight]");
			cJSON_Delete(split);
			return false;
		}
		const char *v = tf == NULL            ? variant_name(r, name, variants)
		                : cJSON_IsTrue(name)  ? tf[0]
		                : cJSON_IsFalse(name) ? tf[1]
		                                      : NULL;
		if (v == NULL) {
			if (tf != NULL)
				refuse(r, "a fractional condition with an entry other "
				          "than true or false");
			cJSON_Delete(split);
			return false;
		}
		if (w != NULL)
			weight =
			    w->valuedouble < 0 ? 0 : w->valuedouble; /* flagd clamps */
		if (weight != (double)(uint32_t)weight) {
			refuse(r, "a fractional weight that is not a whole number");
			cJSON_Delete(split);
			return false;
		}
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "variant", v);
		cJSON_AddNumberToObject(e, "weight", weight);
		cJSON_AddItemToArray(split, e);
	}
	bool any = false;
	cJSON_ArrayForEach(it, split) any =
	    any || cJSON_GetObjectItem(it, "weight")->valuedouble > 0;
	if (!any) {
		/* flagd answers null: the default variant. The rule is left out. */
		cJSON_Delete(split);
		return false;
	}
	cJSON_AddItemToObject(rule, "split", split);
	cJSON_AddStringToObject(rule, "split_bucketing", "flagd");
	cJSON_AddStringToObject(rule, "split_stickiness", attr_in(attr));
	cJSON_AddStringToObject(rule, "split_group_id", prefix);
	return true;
}

/* At most this many splits from one fractional with variant names read
 * from the context ((variants + 1) ^ such entries). */
#define VAR_SPLITS_MAX 64

/* Whether a fractional entry's variant name is a var ([{"var": X}, w]). */
static bool
var_named(const cJSON *entry)
{
	return cJSON_IsArray(entry) && var_name(cJSON_GetArrayItem(entry, 0)) != NULL;
}

/*
 * {"fractional": [..., [{"var": X}, w], ...]}: flagd buckets the user and
 * then serves the variant that X names. The variants are a finite set, so
 * this is one split per variant v, behind X equals v, with v in that
 * entry, then one split without a condition on X with the default variant
 * in it (X missing, or naming no variant: flagd answers its default, or an
 * error so the caller's default stands). Every split buckets on the same
 * key, so a user lands in the same entry in each. Several such entries
 * multiply, in order (the first entry's variant varies slowest), so the
 * first split that holds is the one each X names; the expansion is
 * bounded by VAR_SPLITS_MAX.
 */
static void
var_named_rules(struct reader *r, const cJSON *args, const cJSON *conds,
    const cJSON *variants, cJSON *rules)
{
	int at[8], pick[8] = {0}, n = 0, i = 0, j;
	int nv = cJSON_GetArraySize(variants);
	long splits = 1;
	const cJSON *it;

	cJSON_ArrayForEach(it, args)
	{
		if (var_named(it)) {
			if (n < 8)
				at[n] = i;
			n++;
			splits = splits > VAR_SPLITS_MAX ? splits : splits * (nv + 1);
		}
		i++;
	}
	if (n > 8 || splits > VAR_SPLITS_MAX) {
		refuse(r,
		    "fractional variant names read from the context that expand "
		    "to over %d splits (%d variants + 1, to the power of %d such "
		    "entries)",
		    VAR_SPLITS_MAX, nv, n);
		return;
	}
	if (r->dflt == NULL) {
		refuse(r,
		    "a fractional variant name read from the context (var %s) in "
		    "a flag without defaultVariant (where the name is no variant "
		    "flagd answers no value, which a split cannot serve)",
		    var_name(cJSON_GetArrayItem(cJSON_GetArrayItem(args, at[0]), 0)));
		return;
	}
	do {
		cJSON *copy = cJSON_Duplicate(args, true), *rule = cJSON_CreateObject();
		cJSON *all = cJSON_Duplicate(conds, true);
		for (j = 0; j < n; j++) {
			const char *x = var_name(
			    cJSON_GetArrayItem(cJSON_GetArrayItem(args, at[j]), 0));
			const char *v =
			    pick[j] < nv ? cJSON_GetArrayItem(variants, pick[j])->string
			                 : r->dflt;
			if (pick[j] < nv)
				cJSON_AddItemToArray(all,
				    cond(x, "equals", one(cJSON_CreateString(v)), false));
			cJSON_ReplaceItemInArray(
			    cJSON_GetArrayItem(copy, at[j]), 0, cJSON_CreateString(v));
		}
		cJSON_AddBoolToObject(rule, "enabled", true);
		cJSON_AddItemToObject(rule, "conditions", all);
		if (fractional(r, copy, variants, rule, NULL))
			cJSON_AddItemToArray(rules, rule);
		else
			cJSON_Delete(rule);
		cJSON_Delete(copy);
		/* The next combination: the last entry varies fastest. */
		for (j = n - 1; j >= 0 && ++pick[j] > nv; j--)
			pick[j] = 0;
	} while (j >= 0 && !r->bad);
}

/*
 * A fractional entry whose variant name or weight is computed by an `if`
 * ({"if": [c, x, y]}): flagd evaluates it before bucketing, so the split
 * is the same as one rule per outcome, in order: behind c (each of its
 * alternatives) the entry with x, then the entry with y. Returns the
 * expression with that part replaced by x (then) or y (!then), or NULL
 * when no entry is computed; *c is the condition.
 */
static cJSON *
fractional_outcome(const cJSON *e, const cJSON *args, bool then, const cJSON **c)
{
	const cJSON *it;
	int i = 0;

	cJSON_ArrayForEach(it, args)
	{
		for (int part = 0; cJSON_IsArray(it) && part < 2; part++) {
			const char *op;
			const cJSON *x = cJSON_GetArrayItem(it, part),
			            *a = logic_op(x, &op);
			if (a == NULL || strcmp(op, "if") != 0 || !cJSON_IsArray(a) ||
			    cJSON_GetArraySize(a) != 3)
				continue;
			*c = cJSON_GetArrayItem(a, 0);
			cJSON *copy = cJSON_Duplicate(e, true);
			cJSON *entry = cJSON_GetArrayItem(copy->child, i);
			cJSON_ReplaceItemInArray(entry, part,
			    cJSON_Duplicate(cJSON_GetArrayItem(a, then ? 1 : 2), true));
			return copy;
		}
		i++;
	}
	return NULL;
}

/* A comparison: JSON Logic's value is true, false or (on an error) null. */
static bool
comparison(const char *op)
{
	static const char *const ops[] = {"==", "===", "!=", "!==", "in", "starts_with",
	    "ends_with", "sem_ver", "<", "<=", ">", ">=", NULL};

	for (int i = 0; ops[i]; i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

/* Whether flagd's operator is null on every context: starts_with and
 * ends_with take 2 arguments, sem_ver 3 with a known operator. */
static bool
always_null(const char *op, const cJSON *a)
{
	int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
	const cJSON *s = cJSON_GetArrayItem(a, 1);
	static const char *const known[] = {
	    "=", "!=", "<", "<=", ">", ">=", "^", "~", NULL};

	if (strcmp(op, "starts_with") == 0 || strcmp(op, "ends_with") == 0)
		return n != 2;
	if (strcmp(op, "sem_ver") != 0)
		return false;
	if (n != 3 || !cJSON_IsString(s))
		return true;
	for (int i = 0; known[i]; i++)
		if (strcmp(s->valuestring, known[i]) == 0)
			return false;
	return true;
}

/*
 * A comparison where a variant name is expected: flagd serves the variant
 * named "true" or "false" (a rule each, behind conds), and on null (a
 * missing or wrong-typed value for the operators that are null there)
 * neither: the default.
 */
static void
comparison_rules(struct reader *r, const cJSON *e, const cJSON *op_args, const char *op,
    const cJSON *conds, const cJSON *variants, cJSON *rules)
{
	if (always_null(op, op_args))
		return; /* never a variant: the default */
	for (int pass = 0; pass < 2; pass++) {
		cJSON *name = pass == 0 ? cJSON_CreateTrue() : cJSON_CreateFalse(), *c;
		const char *v = variant_name(r, name, variants);
		cJSON_Delete(name);
		if (v == NULL)
			return;
		r->falsy = pass == 1;
		c = atom(r, e, pass == 1);
		r->falsy = false;
		if (c == NULL)
			return;
		cJSON *rule = cJSON_CreateObject(), *all = cJSON_Duplicate(conds, true),
		      *k;
		cJSON_AddBoolToObject(rule, "enabled", true);
		if (cJSON_IsArray(c)) {
			cJSON_ArrayForEach(k, c)
			    cJSON_AddItemToArray(all, cJSON_Duplicate(k, true));
			cJSON_Delete(c);
		} else {
			cJSON_AddItemToArray(all, c);
		}
		cJSON_AddItemToObject(rule, "conditions", all);
		cJSON_AddStringToObject(rule, "variant", v);
		cJSON_AddItemToArray(rules, rule);
	}
}

/*
 * {"if": [..., {"fractional": [..., [true, w1], [false, w2]]}, A, B]} with
 * A and B variant names and B the chain's last branch: a split serving A
 * for the true entries and B for the false ones (behind conds). A context
 * the split cannot bucket (fractional is null, so the `if` takes B) goes
 * on to B's rule, which the chain adds after. False when the condition at
 * a[i] is not such a fractional.
 */
static bool
fractional_if(struct reader *r, const cJSON *a, int i, const cJSON *conds,
    const cJSON *variants, cJSON *rules)
{
	const char *op, *tf[2];
	const cJSON *c = deref(r, cJSON_GetArrayItem(a, i)), *args = logic_op(c, &op);
	const cJSON *x = cJSON_GetArrayItem(a, i + 1), *y = cJSON_GetArrayItem(a, i + 2);

	if (args == NULL || strcmp(op, "fractional") != 0 || !cJSON_IsArray(args))
		return false;
	if (cJSON_GetArraySize(a) != i + 3 || !cJSON_IsString(x) || !cJSON_IsString(y)) {
		refuse(r, "fractional as a condition other than the last of an if "
		          "between two variant names");
		return true;
	}
	if ((tf[0] = variant_name(r, x, variants)) == NULL ||
	    (tf[1] = variant_name(r, y, variants)) == NULL)
		return true;
	cJSON *rule = cJSON_CreateObject();
	cJSON_AddBoolToObject(rule, "enabled", true);
	cJSON_AddItemToObject(rule, "conditions", cJSON_Duplicate(conds, true));
	if (fractional(r, args, variants, rule, tf))
		cJSON_AddItemToArray(rules, rule);
	else
		cJSON_Delete(rule);
	return true;
}

static void rules_in(struct reader *r, const cJSON *e, const cJSON *conds,
    const cJSON *variants, cJSON *rules);

/*
 * Appends the rules a targeting expression is, each behind `conds`. Its
 * nesting is bounded, and so is its work in all (a tree of ifs doubles
 * the branches at each level).
 */
static void
rules_of(struct reader *r, const cJSON *e, const cJSON *conds, const cJSON *variants,
    cJSON *rules)
{
	if (r->bad)
		return;
	if (r->depth == MAX_DEPTH) {
		refuse(r, "targeting nested over %d deep", MAX_DEPTH);
		return;
	}
	if (++r->steps > MAX_STEPS) {
		refuse(r, "targeting with over %d branches", MAX_STEPS);
		return;
	}
	r->depth++;
	rules_in(r, e, conds, variants, rules);
	r->depth--;
}

static void
rules_in(struct reader *r, const cJSON *e, const cJSON *conds, const cJSON *variants,
    cJSON *rules)
{
	const char *op;
	const cJSON *a;

	if ((e = deref(r, e)) == NULL || cJSON_IsNull(e))
		return; /* null: the default variant */
	a = logic_op(e, &op);
	if (a != NULL && strcmp(op, "if") == 0 && cJSON_IsArray(a)) {
		int n = cJSON_GetArraySize(a), i;
		for (i = 0; i + 1 < n; i += 2) {
			if (fractional_if(r, a, i, conds, variants, rules))
				continue;
			cJSON *alts = alternatives(r, cJSON_GetArrayItem(a, i)), *alt;
			cJSON_ArrayForEach(alt, alts)
			{
				cJSON *both = cJSON_Duplicate(conds, true), *k;
				cJSON_ArrayForEach(k, alt)
				    cJSON_AddItemToArray(both, cJSON_Duplicate(k, true));
				rules_of(r, cJSON_GetArrayItem(a, i + 1), both, variants,
				    rules);
				cJSON_Delete(both);
			}
			cJSON_Delete(alts);
		}
		if (i < n)
			rules_of(r, cJSON_GetArrayItem(a, i), conds, variants, rules);
		return;
	}
	if (a != NULL && comparison(op)) {
		comparison_rules(r, e, a, op, conds, variants, rules);
		return;
	}
	const cJSON *c;
	cJSON *then;
	if (a != NULL && strcmp(op, "fractional") == 0 && cJSON_IsArray(a) &&
	    (then = fractional_outcome(e, a, true, &c)) != NULL) {
		cJSON *alts = alternatives(r, c), *alt,
		      *other = fractional_outcome(e, a, false, &c);
		cJSON_ArrayForEach(alt, alts)
		{
			cJSON *both = cJSON_Duplicate(conds, true), *k;
			cJSON_ArrayForEach(k, alt)
			    cJSON_AddItemToArray(both, cJSON_Duplicate(k, true));
			rules_of(r, then, both, variants, rules);
			cJSON_Delete(both);
		}
		rules_of(r, other, conds, variants, rules);
		cJSON_Delete(alts);
		cJSON_Delete(then);
		cJSON_Delete(other);
		return;
	}
	if (a != NULL && strcmp(op, "fractional") == 0 && cJSON_IsArray(a)) {
		cJSON_ArrayForEach(c, a) if (var_named(c)) break;
		if (c != NULL) {
			var_named_rules(r, a, conds, variants, rules);
			return;
		}
	}
	cJSON *rule = cJSON_CreateObject();
	cJSON_AddBoolToObject(rule, "enabled", true);
	cJSON_AddItemToObject(rule, "conditions", cJSON_Duplicate(conds, true));
	if (a != NULL && strcmp(op, "fractional") == 0 && cJSON_IsArray(a)) {
		if (!fractional(r, a, variants, rule, NULL)) {
			cJSON_Delete(rule);
			return;
		}
	} else {
		const char *v = variant_name(r, e, variants);
		if (v == NULL) {
			cJSON_Delete(rule);
			return;
		}
		cJSON_AddStringToObject(rule, "variant", v);
	}
	cJSON_AddItemToArray(rules, rule);
}

/*
 * cJSON keeps a number as a double, so 1.0 would print as 1 and a float
 * variant would come back an integer. Each number node of the tree parsed
 * from text gets its text as written in valuestring (cJSON frees and
 * duplicates it with the node, and reads it for no number), so a variant
 * keeps its type: the numbers of the text in order, matched with the
 * tree's number nodes in document order. Returns the next unmatched
 * position in text; *oom on a failed allocation.
 */
static const char *
number_text(cJSON *node, const char *p, const char *end, int *oom)
{
	if (cJSON_IsNumber(node)) {
		/* The next number outside a string. */
		while (p < end && *p != '-' && (*p < '0' || *p > '9')) {
			if (*p++ != '"')
				continue;
			for (; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			p = p < end ? p + 1 : end;
		}
		size_t n = 0;
		while (p + n < end && strchr("-+.0123456789eE", p[n]) != NULL &&
		       p[n] != '\0')
			n++;
		if ((node->valuestring = malloc(n + 1)) == NULL) {
			*oom = 1;
			return end;
		}
		memcpy(node->valuestring, p, n);
		node->valuestring[n] = '\0';
		return p + n;
	}
	for (cJSON *c = node->child; c != NULL; c = c->next)
		p = number_text(c, p, end, oom);
	return p;
}

/* Whether v is a number with its text from number_text(). */
static bool
as_written(const cJSON *v)
{
	char *e;

	return cJSON_IsNumber(v) && v->valuestring != NULL && v->valuestring[0] &&
	       strtod(v->valuestring, &e) == v->valuedouble && *e == '\0';
}

static cJSON *
read_flag(struct reader *r, const char *key, const cJSON *fl, const char *env)
{
	const cJSON *variants = cJSON_GetObjectItemCaseSensitive(fl, "variants"), *v;
	const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(fl, "defaultVariant");
	const cJSON *targeting = cJSON_GetObjectItemCaseSensitive(fl, "targeting");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(fl, "metadata");
	const char *state =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fl, "state"));
	cJSON *f = cJSON_CreateObject(), *vs, *envc, *m;
	bool all_bool = true, all_str = true, all_num = true;

	r->flag = key;
	r->bad = false;
	r->depth = 0;
	r->steps = 0;
	r->broken[0] = '\0';
	r->dflt = cJSON_IsString(dflt) ? dflt->valuestring : NULL;
	cJSON_AddStringToObject(f, "key", key);
	/* flagd's meaning of DISABLED: no value, the caller's default stands
	 * (docs/gateway.md, "Disabled flags"). */
	cJSON_AddBoolToObject(f, "disabled_serves_default", true);
	vs = cJSON_AddArrayToObject(f, "variants");
	if (!cJSON_IsObject(variants) || cJSON_GetArraySize(variants) == 0)
		refuse(r, "no variants");
	cJSON_ArrayForEach(v, variants)
	{
		/* A number as written (1.0 stays a float), else as cJSON
		 * prints it. */
		char *text =
		    as_written(v) ? strdup(v->valuestring) : cJSON_PrintUnformatted(v);
		cJSON *o = cJSON_CreateObject();
		all_bool = all_bool && cJSON_IsBool(v);
		all_str = all_str && cJSON_IsString(v);
		all_num = all_num && cJSON_IsNumber(v);
		cJSON_AddStringToObject(o, "key", v->string);
		cJSON_AddStringToObject(o, "value", text ? text : "null");
		cJSON_AddItemToArray(vs, o);
		free(text);
	}
	cJSON_AddStringToObject(f, "type",
	    all_bool  ? "boolean"
	    : all_str ? "string"
	    : all_num ? "number"
	              : "json");
	/* No defaultVariant: where targeting gives no variant, the caller's
	 * default stands (reason DEFAULT). */
	bool no_default = dflt == NULL || cJSON_IsNull(dflt);
	if (no_default)
		cJSON_AddBoolToObject(f, "no_default_variant", true);
	else if (!cJSON_IsString(dflt) ||
	         !cJSON_HasObjectItem(variants, dflt->valuestring))
		refuse(r, "defaultVariant is not a variant");
	m = cJSON_AddObjectToObject(f, "metadata");
	cJSON_ArrayForEach(v, meta)
	{
		cJSON *lit = vx_mig_json_text(v);
		if (lit == NULL) {
			refuse(r, "metadata %s is not a string, number or boolean",
			    v->string);
			continue;
		}
		cJSON_AddItemToObject(m, v->string, lit);
	}
	envc = cJSON_CreateObject();
	cJSON_AddStringToObject(envc, "environment", env);
	cJSON_AddBoolToObject(
	    envc, "enabled", state == NULL || strcmp(state, "DISABLED") != 0);
	/* Without one, the first variant stands in where the model needs a
	 * default and off variant; no_default_variant keeps it unserved. */
	const char *dv = cJSON_IsString(dflt) ? dflt->valuestring
	                 : cJSON_IsObject(variants) && variants->child
	                     ? variants->child->string
	                     : NULL;
	if (dv != NULL) {
		cJSON_AddStringToObject(envc, "default_variant", dv);
		cJSON_AddStringToObject(envc, "off_variant", dv);
	}
	cJSON_AddNumberToObject(envc, "rollout_percentage", 100);
	cJSON *rules = cJSON_AddArrayToObject(envc, "rules"), *none = cJSON_CreateArray();
	if (targeting != NULL &&
	    !(cJSON_IsObject(targeting) && targeting->child == NULL)) {
		/* flagd answers DEFAULT, not STATIC, where targeting gives no
		 * variant. */
		cJSON_AddBoolToObject(f, "targeted_default", true);
		rules_of(r, targeting, none, variants, rules);
	}
	cJSON_Delete(none);
	if (r->broken[0]) {
		/* The flag is kept, answering PARSE_ERROR, and the rest of the
		 * file is imported. */
		while (cJSON_GetArraySize(rules) > 0)
			cJSON_DeleteItemFromArray(rules, 0);
		cJSON_AddStringToObject(f, "parse_error", r->broken);
		r->bad = false;
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(f, "envs"), envc);
	if (r->bad) {
		cJSON_Delete(f);
		return NULL;
	}
	return f;
}

int
vx_mig_flagd_read(const char *text, size_t len, const char *env,
    Vexil__V1__ImportRequest **out, vx_mig_report *rep, char *err, size_t cap)
{
	cJSON *file = cJSON_ParseWithLength(text, len), *vx = NULL, *flags;
	const cJSON *fl, *all;
	struct reader r = {.rep = rep};
	int rc = VX_EINVAL;

	*out = NULL;
	all = cJSON_GetObjectItemCaseSensitive(file, "flags");
	if (!cJSON_IsObject(all)) {
		snprintf(err, cap, "not a flagd definition (no \"flags\" object)");
		goto out;
	}
	(void)number_text(file, text, text + len, &r.oom);
	r.evaluators = cJSON_GetObjectItemCaseSensitive(file, "$evaluators");
	vx = cJSON_CreateObject();
	flags = cJSON_AddArrayToObject(vx, "flags");
	cJSON_ArrayForEach(fl, all)
	{
		cJSON *f = read_flag(&r, fl->string, fl, env);
		if (f != NULL)
			cJSON_AddItemToArray(flags, f);
	}
	if (r.oom) {
		rc = VX_ENOMEM;
		goto out;
	}
	rc = vx_mig_request(vx, out, err, cap);
out:
	cJSON_Delete(vx);
	cJSON_Delete(file);
	return rc;
}

/* ---- writing ---- */

struct writer {
	vx_mig_report *rep;
	const char *what, *key;
	bool bad;
	int oom;
};

static void wrefuse(struct writer *w, const char *fmt, ...) VX_PRINTF(2, 3);

static void
wrefuse(struct writer *w, const char *fmt, ...)
{
	char line[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (vx_mig_report_add(w->rep, "%s %s: %s", w->what, w->key, line) != 0)
		w->oom = 1;
	w->bad = true;
}

static cJSON *
var(const char *attr)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "var", attr_out(attr));
	return o;
}

static cJSON *
op2(const char *op, cJSON *x, cJSON *y)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, op);
	cJSON_AddItemToArray(a, x);
	cJSON_AddItemToArray(a, y);
	return o;
}

/* A condition as JSON Logic, or NULL after a report. */
static cJSON *
logic_of(struct writer *w, const Vexil__V1__Condition *k)
{
	const char *op = k->operator_;
	cJSON *e = NULL, *any;

	if (k->case_insensitive) {
		wrefuse(w, "a case-insensitive %s (flagd compares exactly)", op);
		return NULL;
	}
	if (strcmp(op, "in") == 0 || strcmp(op, "equals") == 0) {
		cJSON *list = cJSON_CreateArray();
		for (size_t i = 0; i < k->n_values; i++)
			cJSON_AddItemToArray(list, cJSON_CreateString(k->values[i]));
		e = op2("in", var(k->attribute), list);
	} else if (strcmp(op, "starts_with") == 0 || strcmp(op, "ends_with") == 0 ||
	           strcmp(op, "contains") == 0) {
		any = cJSON_CreateArray();
		for (size_t i = 0; i < k->n_values; i++)
			cJSON_AddItemToArray(
			    any, strcmp(op, "contains") == 0
			             ? op2("in", cJSON_CreateString(k->values[i]),
			                   var(k->attribute))
			             : op2(op, var(k->attribute),
			                   cJSON_CreateString(k->values[i])));
		if (k->n_values == 1) {
			e = cJSON_DetachItemFromArray(any, 0);
			cJSON_Delete(any);
		} else {
			e = cJSON_CreateObject();
			cJSON_AddItemToObject(e, "or", any);
		}
	} else if (strncmp(op, "semver_", 7) == 0 && k->n_values == 1) {
		/* sem_ver fails on a missing version, negated or not; so a negated
		 * condition that fails there too is the opposite comparison, and one
		 * that holds there is a "!" (handled below). */
		bool flip = k->negate && !k->missing;
		cJSON *o = cJSON_CreateObject(),
		      *a = cJSON_AddArrayToObject(o, "sem_ver");
		cJSON_AddItemToArray(a, var(k->attribute));
		cJSON_AddItemToArray(a,
		    cJSON_CreateString(strcmp(op, "semver_eq") == 0 ? (flip ? "!=" : "=")
		                       : strcmp(op, "semver_lt") == 0
		                           ? (flip ? ">=" : "<")
		                           : (flip ? "<=" : ">")));
		cJSON_AddItemToArray(a, cJSON_CreateString(k->values[0]));
		if (flip)
			return o;
		e = o;
	} else if ((strcmp(op, "lt") == 0 || strcmp(op, "lte") == 0 ||
	               strcmp(op, "gt") == 0 || strcmp(op, "gte") == 0) &&
	           k->n_values == 1 && !k->negate && !k->missing) {
		const char *js = strcmp(op, "lt") == 0    ? "<"
		                 : strcmp(op, "lte") == 0 ? "<="
		                 : strcmp(op, "gt") == 0  ? ">"
		                                          : ">=";
		return op2(js, var(k->attribute), cJSON_CreateNumber(atof(k->values[0])));
	} else {
		wrefuse(w, "operator %s%s has no flagd form", k->negate ? "negated " : "",
		    op);
		return NULL;
	}
	if (k->missing != k->negate) {
		wrefuse(w, "a condition on %s that %s on a missing attribute",
		    k->attribute, k->missing ? "holds" : "fails");
		cJSON_Delete(e);
		return NULL;
	}
	if (k->negate) {
		cJSON *n = cJSON_CreateObject();
		cJSON_AddItemToObject(n, "!", e);
		return n;
	}
	return e;
}

static cJSON *
conjunction(struct writer *w, Vexil__V1__Condition *const *ks, size_t n, cJSON *and)
{
	for (size_t i = 0; i < n; i++) {
		cJSON *c = logic_of(w, ks[i]);
		if (c != NULL)
			cJSON_AddItemToArray(and, c);
	}
	return and;
}

/* What a rule serves, as a targeting branch. */
static cJSON *
serve_of(struct writer *w, const Vexil__V1__Flag *f, const Vexil__V1__Rule *r)
{
	cJSON *o, *a, *by;

	if (r->n_split == 0)
		return cJSON_CreateString(r->variant);
	if (strcmp(r->split_bucketing, "flagd") != 0) {
		wrefuse(w, "a split in Unleash's bucketing (flagd's fractional hashes "
		           "differently; users would move)");
		return NULL;
	}
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "fractional");
	if (*r->split_group_id == '\0') {
		by = var(r->split_stickiness);
	} else {
		by = cJSON_CreateObject();
		cJSON *cat = cJSON_AddArrayToObject(by, "cat");
		if (strcmp(r->split_group_id, f->key) == 0) {
			cJSON *fk = cJSON_CreateObject();
			cJSON_AddStringToObject(fk, "var", "$flagd.flagKey");
			cJSON_AddItemToArray(cat, fk);
		} else {
			cJSON_AddItemToArray(cat, cJSON_CreateString(r->split_group_id));
		}
		cJSON_AddItemToArray(cat, var(r->split_stickiness));
	}
	cJSON_AddItemToArray(a, by);
	for (size_t i = 0; i < r->n_split; i++) {
		cJSON *e = cJSON_CreateArray();
		cJSON_AddItemToArray(e, cJSON_CreateString(r->split[i]->variant));
		cJSON_AddItemToArray(e, cJSON_CreateNumber(r->split[i]->weight));
		cJSON_AddItemToArray(a, e);
	}
	return o;
}

static cJSON *
write_flag(struct writer *w, const Vexil__V1__Flag *f, const Vexil__V1__ExportReply *in,
    const char *env)
{
	const Vexil__V1__FlagEnvConfig *cfg = NULL;
	cJSON *o, *vars, *chain;

	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, env) == 0)
			cfg = f->envs[i];
	if (cfg == NULL)
		return NULL;
	w->what = "flag";
	w->key = f->key;
	w->bad = false;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", cfg->enabled ? "ENABLED" : "DISABLED");
	vars = cJSON_AddObjectToObject(o, "variants");
	for (size_t i = 0; i < f->n_variants; i++) {
		const char *text = f->variants[i]->value;
		cJSON *v = cJSON_Parse(text);
		/* A number as it is stored, so a float stays one (1.0). */
		if (cJSON_IsNumber(v) && text[strspn(text, "-+.0123456789eE")] == '\0') {
			cJSON_Delete(v);
			v = cJSON_CreateRaw(text);
		}
		cJSON_AddItemToObject(
		    vars, f->variants[i]->key, v ? v : cJSON_CreateNull());
	}
	if (f->no_default_variant)
		cJSON_AddNullToObject(o, "defaultVariant");
	else
		cJSON_AddStringToObject(o, "defaultVariant", cfg->default_variant);
	if (f->parse_error[0])
		wrefuse(w, "its definition did not translate (%s)", f->parse_error);
	if (cfg->enabled && strcmp(cfg->off_variant, cfg->default_variant) != 0 &&
	    cfg->rollout_percentage < 100)
		wrefuse(w,
		    "an environment rollout of %u%% (flagd has no Unleash-hashed "
		    "rollout)",
		    cfg->rollout_percentage);
	/* A disabled flagd flag serves no value (the caller's default): what
	 * a Vexil flag with disabled_serves_default does. */
	if (!cfg->enabled && !f->disabled_serves_default)
		wrefuse(w,
		    "disabled, serving its off variant (%s): a disabled flagd flag serves "
		    "no value; `vexilctl flag update --when-disabled default` gives it "
		    "flagd's meaning",
		    cfg->off_variant);
	if (cfg->n_prerequisites > 0)
		wrefuse(w, "prerequisites (flagd has none)");
	chain = cJSON_CreateArray();
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const Vexil__V1__Rule *r = cfg->rules[i];
		cJSON *and = cJSON_CreateArray(), *c, *s;
		if (!r->enabled)
			continue;
		if (r->rollout != NULL && r->rollout->percentage < 100)
			wrefuse(w, "a rule rollout (Unleash's hashing; flagd's "
			           "fractional differs)");
		conjunction(w, r->conditions, r->n_conditions, and);
		for (size_t j = 0; j < r->n_segments; j++) {
			cJSON *ref = cJSON_CreateObject();
			cJSON_AddStringToObject(ref, "$ref", r->segments[j]);
			cJSON_AddItemToArray(and, ref);
		}
		if ((s = serve_of(w, f, r)) == NULL) {
			cJSON_Delete(and);
			continue;
		}
		if (cJSON_GetArraySize(and) == 0) {
			c = cJSON_CreateTrue();
			cJSON_Delete(and);
		} else if (cJSON_GetArraySize(and) == 1) {
			c = cJSON_DetachItemFromArray(and, 0);
			cJSON_Delete(and);
		} else {
			c = cJSON_CreateObject();
			cJSON_AddItemToObject(c, "and", and);
		}
		cJSON_AddItemToArray(chain, c);
		cJSON_AddItemToArray(chain, s);
	}
	if (cJSON_GetArraySize(chain) > 0) {
		cJSON *t = cJSON_AddObjectToObject(o, "targeting");
		cJSON_AddItemToObject(t, "if", chain);
	} else {
		cJSON_Delete(chain);
		cJSON_AddObjectToObject(o, "targeting");
	}
	if (f->n_metadata > 0) {
		cJSON *m = cJSON_AddObjectToObject(o, "metadata");
		for (size_t i = 0; i < f->n_metadata; i++)
			cJSON_AddStringToObject(
			    m, f->metadata[i]->key, f->metadata[i]->value);
	}
	(void)in;
	if (w->bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *
vx_mig_flagd_write(const Vexil__V1__ExportReply *in, const char *env, vx_mig_report *rep)
{
	struct writer w = {rep, NULL, NULL, false, 0};
	cJSON *out = cJSON_CreateObject(), *flags, *evs;
	char *text;

	cJSON_AddStringToObject(out, "$schema", "https://flagd.dev/schema/v0/flags.json");
	flags = cJSON_AddObjectToObject(out, "flags");
	for (size_t i = 0; i < in->n_flags; i++) {
		cJSON *f = write_flag(&w, in->flags[i], in, env);
		if (f != NULL)
			cJSON_AddItemToObject(flags, in->flags[i]->key, f);
	}
	/* Segments are evaluators that rules name with $ref. */
	evs = cJSON_AddObjectToObject(out, "$evaluators");
	for (size_t i = 0; i < in->n_segments; i++) {
		const Vexil__V1__Segment *g = in->segments[i];
		cJSON *and = cJSON_CreateArray(), *e;
		w.what = "segment";
		w.key = g->name;
		conjunction(&w, g->conditions, g->n_conditions, and);
		if (cJSON_GetArraySize(and) == 1) {
			e = cJSON_DetachItemFromArray(and, 0);
			cJSON_Delete(and);
		} else if (cJSON_GetArraySize(and) == 0) {
			e = cJSON_CreateTrue();
			cJSON_Delete(and);
		} else {
			e = cJSON_CreateObject();
			cJSON_AddItemToObject(e, "and", and);
		}
		cJSON_AddItemToObject(evs, g->name, e);
	}
	text = w.oom ? NULL : cJSON_Print(out);
	cJSON_Delete(out);
	return text;
}
