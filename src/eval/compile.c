/*
 * compile.c: turning a flag's source form into its compiled form.
 *
 * Compilation does everything that can fail, so that evaluation has nothing
 * left to fail on except a thread's first `matches` finding no memory for
 * its match data. It runs in two passes. The first walks the source,
 * rejects NULL pointers and counts how much it needs. The second fills one
 * block sized from those counts. The block holds the flag, its variants,
 * rules, conditions, values, splits, pattern pointers and a copy of every
 * string. So a compiled flag is one allocation (plus its references to
 * compiled patterns, which regex.c shares between flags), cache-friendly to
 * walk, and freed in one call. The second pass
 * also parses each rule value for its operator, and compiles `matches`
 * patterns with regex.c, adding up their compiled sizes per condition, rule
 * and flag against the bounds in eval.h, so that one write cannot make its
 * readers keep megabytes. When it fails, its message names the rule,
 * condition and value at fault, because the caller passes that message on
 * to whoever wrote the rule. Finally the rules are sorted into evaluation
 * order.
 */
#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_int.h"

struct cerr {
	char *buf;
	size_t len;
};

/* What the first pass counts. */
struct sizes {
	size_t strings; /* bytes, NULs included */
	size_t nconds;
	size_t nvalues;
	size_t nsplits;
	size_t nsplit_ros; /* rules with a split rollout of their own */
	size_t nregex;
	size_t nprereqs;
	size_t nprereq_variants;
};

/* Cursors into the block while the second pass fills it. */
struct fill {
	char *str;
	char *str_end;
	struct vxe_cond *conds;
	struct vxe_value *values;
	struct vxe_split *splits;
	struct vxe_rollout *split_ros;
	const char **vkeys;
	int32_t *vidx;
	/* Compiled `matches` patterns so far, in bytes, and how many. */
	size_t rx_cond, rx_rule, rx_flag, rx_jit, rx_count;
};

static void seterr(struct cerr *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
seterr(struct cerr *e, const char *fmt, ...)
{
	va_list ap;

	if (e->buf == NULL || e->len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(e->buf, e->len, fmt, ap);
	va_end(ap);
}

/* "rule 2 (id \"beta\")", so a message says which rule is at fault. */
static void
rule_label(char *buf, size_t len, size_t i, const char *id)
{
	if (id != NULL && id[0] != '\0')
		snprintf(buf, len, "rule %zu (id \"%s\")", i, id);
	else
		snprintf(buf, len, "rule %zu", i);
}

static bool
add_size(size_t *acc, size_t n)
{
	if (n > SIZE_MAX - *acc)
		return false;
	*acc += n;
	return true;
}

static bool
add_str(size_t *acc, const char *s)
{
	return add_size(acc, strlen(s) + 1);
}

static int
measure_rule(const vx_eval_rule_src *r, size_t ri, struct sizes *sz,
    struct cerr *e)
{
	char where[160];
	bool ok = true;

	rule_label(where, sizeof(where), ri, r->id);
	if (r->nconditions != 0 && r->conditions == NULL) {
		seterr(e, "%s: conditions is NULL", where);
		return VX_EVAL_EINVAL;
	}
	if (r->nsplits != 0 && r->splits == NULL) {
		seterr(e, "%s: splits is NULL", where);
		return VX_EVAL_EINVAL;
	}
	ok = ok && add_size(&sz->strings, r->id != NULL ? strlen(r->id) + 1 : 1);
	ok = ok && add_size(&sz->nconds, r->nconditions);
	ok = ok && add_size(&sz->nsplits, r->nsplits);
	if (r->rollout.stickiness != NULL)
		ok = ok && add_str(&sz->strings, r->rollout.stickiness);
	if (r->rollout.group_id != NULL)
		ok = ok && add_str(&sz->strings, r->rollout.group_id);
	if (r->split_flagd || r->split_stickiness != NULL || r->split_group_id != NULL)
		ok = ok && add_size(&sz->nsplit_ros, 1);
	/* A split of its own copies its (or the rollout's) strings again. */
	if (r->split_stickiness != NULL || r->split_group_id != NULL) {
		const char *st =
		    r->split_stickiness ? r->split_stickiness : r->rollout.stickiness;
		const char *g =
		    r->split_group_id ? r->split_group_id : r->rollout.group_id;

		if (st != NULL)
			ok = ok && add_str(&sz->strings, st);
		if (g != NULL)
			ok = ok && add_str(&sz->strings, g);
	}
	for (size_t ci = 0; ok && ci < r->nconditions; ci++) {
		const vx_eval_condition_src *c = &r->conditions[ci];

		if (c->attribute == NULL) {
			seterr(e, "%s condition %zu: attribute is NULL", where,
			    ci);
			return VX_EVAL_EINVAL;
		}
		if (c->nvalues != 0 && c->values == NULL) {
			seterr(e, "%s condition %zu: values is NULL", where,
			    ci);
			return VX_EVAL_EINVAL;
		}
		ok = ok && add_str(&sz->strings, c->attribute);
		ok = ok && add_size(&sz->nvalues, c->nvalues);
		if (c->op == VX_OP_MATCHES)
			ok = ok && add_size(&sz->nregex, c->nvalues);
		for (size_t vi = 0; ok && vi < c->nvalues; vi++) {
			if (c->values[vi] == NULL) {
				seterr(e, "%s condition %zu: value %zu is NULL",
				    where, ci, vi);
				return VX_EVAL_EINVAL;
			}
			ok = add_str(&sz->strings, c->values[vi]);
		}
	}
	if (!ok) {
		seterr(e, "%s: too large", where);
		return VX_EVAL_ENOMEM;
	}
	return VX_EVAL_OK;
}

static int
measure_prereqs(const vx_eval_flag_src *src, struct sizes *sz, struct cerr *e)
{
	bool ok = true;

	if (src->nprereqs != 0 && src->prereqs == NULL) {
		seterr(e, "prerequisites is NULL");
		return VX_EVAL_EINVAL;
	}
	if (src->nprereqs > VX_EVAL_PREREQ_MAX) {
		seterr(e, "more than %d prerequisites", VX_EVAL_PREREQ_MAX);
		return VX_EVAL_EINVAL;
	}
	sz->nprereqs = src->nprereqs;
	for (size_t i = 0; ok && i < src->nprereqs; i++) {
		const vx_eval_prereq_src *p = &src->prereqs[i];

		if (p->flag == NULL || (p->nvariants != 0 && p->variants == NULL)) {
			seterr(e, "prerequisite %zu: flag or variants is NULL", i);
			return VX_EVAL_EINVAL;
		}
		ok = add_str(&sz->strings, p->flag) &&
		     add_size(&sz->nprereq_variants, p->nvariants);
		for (size_t j = 0; ok && j < p->nvariants; j++) {
			if (p->variants[j] == NULL) {
				seterr(e, "prerequisite %zu: variant %zu is NULL", i, j);
				return VX_EVAL_EINVAL;
			}
			ok = add_str(&sz->strings, p->variants[j]);
		}
	}
	if (!ok) {
		seterr(e, "prerequisites too large");
		return VX_EVAL_ENOMEM;
	}
	return VX_EVAL_OK;
}

/* First pass: reject NULLs that would crash the second, and count. */
static int
measure(const vx_eval_flag_src *src, struct sizes *sz, struct cerr *e)
{
	bool ok;
	int rc;

	if (src->key == NULL) {
		seterr(e, "flag key is NULL");
		return VX_EVAL_EINVAL;
	}
	if (src->nvariants != 0 && src->variants == NULL) {
		seterr(e, "variants is NULL");
		return VX_EVAL_EINVAL;
	}
	if (src->nrules != 0 && src->rules == NULL) {
		seterr(e, "rules is NULL");
		return VX_EVAL_EINVAL;
	}
	/* Results carry indices as int32_t. */
	if (src->nvariants > INT32_MAX || src->nrules > INT32_MAX) {
		seterr(e, "too many variants or rules");
		return VX_EVAL_EINVAL;
	}
	ok = add_str(&sz->strings, src->key);
	if (src->stickiness != NULL)
		ok = ok && add_str(&sz->strings, src->stickiness);
	if (src->group_id != NULL)
		ok = ok && add_str(&sz->strings, src->group_id);
	for (size_t i = 0; ok && i < src->nvariants; i++) {
		const vx_eval_variant_src *v = &src->variants[i];

		if (v->key == NULL || v->value == NULL) {
			seterr(e, "variant %zu: key or value is NULL", i);
			return VX_EVAL_EINVAL;
		}
		ok = add_str(&sz->strings, v->key) &&
		    add_str(&sz->strings, v->value);
	}
	if (!ok) {
		seterr(e, "flag too large");
		return VX_EVAL_ENOMEM;
	}
	for (size_t i = 0; i < src->nrules; i++)
		if ((rc = measure_rule(&src->rules[i], i, sz, e)) != 0)
			return rc;
	return measure_prereqs(src, sz, e);
}

/*
 * Copy a string into the block; fold it for case-insensitive matching.
 * The first pass sized the block, so this cannot run out.
 */
static const char *
copy_str(struct fill *fl, const char *s, bool fold, size_t *lenp)
{
	size_t len = strlen(s);
	char *d = fl->str;

	assert(len < (size_t)(fl->str_end - fl->str));
	if (fold)
		for (size_t i = 0; i < len; i++)
			d[i] = (char)vxe_fold((unsigned char)s[i]);
	else
		memcpy(d, s, len);
	d[len] = '\0';
	fl->str += len + 1;
	if (lenp != NULL)
		*lenp = len;
	return d;
}

static void
resolve_attr(struct fill *fl, const char *name, struct vxe_attr_ref *ref)
{
	ref->name = copy_str(fl, name, false, NULL);
	ref->slot = vxe_slot_for(name);
}

static int
compile_rollout(struct fill *fl, const vx_eval_flag *f, bool enabled,
    uint32_t pct, const char *stickiness, const char *group,
    struct vxe_rollout *ro, const char *where, struct cerr *e)
{
	if (pct > 100) {
		seterr(e, "%s: rollout percentage %u is over 100", where,
		    (unsigned)pct);
		return VX_EVAL_EINVAL;
	}
	ro->enabled = enabled;
	ro->pct = pct;
	if (stickiness != NULL && stickiness[0] == '\0') {
		seterr(e, "%s: stickiness attribute is empty", where);
		return VX_EVAL_EINVAL;
	}
	ro->stick_mode = VXE_STICK_ATTR;
	if (stickiness == NULL || strcmp(stickiness, "default") == 0)
		ro->stick_mode = VXE_STICK_DEFAULT;
	else if (strcmp(stickiness, "random") == 0)
		ro->stick_mode = VXE_STICK_RANDOM;
	if (ro->stick_mode == VXE_STICK_ATTR) {
		resolve_attr(fl, stickiness, &ro->stick);
	} else {
		ro->stick.name = "user_id";
		ro->stick.slot = VXE_SLOT_USER_ID;
	}
	/* An empty group id is valid in Unleash, so only NULL defaults. */
	ro->group = group != NULL ? copy_str(fl, group, false, NULL) : f->key;
	vxe_mm3_init(&ro->prefix[VXE_HASH_ROLLOUT], VX_EVAL_ROLLOUT_SEED);
	vxe_mm3_init(&ro->prefix[VXE_HASH_VARIANT], VX_EVAL_VARIANT_SEED);
	for (int i = 0; i < 2; i++) {
		vxe_mm3_update(&ro->prefix[i], ro->group, strlen(ro->group));
		vxe_mm3_update(&ro->prefix[i], ":", 1);
	}
	return VX_EVAL_OK;
}

/*
 * A pattern for a message: at most 40 bytes of it, so the rest fits, cut
 * at a UTF-8 character boundary.
 */
static void
quote_pattern(char *buf, size_t len, const char *text)
{
	size_t n = strlen(text);
	bool cut = n > 40;

	if (cut)
		for (n = 40; n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80; n--)
			;
	snprintf(buf, len, "\"%.*s%s\"", (int)n, text, cut ? "..." : "");
}

/*
 * Compile a `matches` value and count it against the bounds per condition,
 * rule and flag. A message names the condition, since that is what the
 * rule's author has to change.
 */
static int
compile_pattern(struct fill *fl, vx_eval_flag *f, const vx_eval_condition_src *c,
    const char *text, struct vxe_value *v, const char *where, struct cerr *e)
{
	struct vxe_regex rx;
	const char *over = NULL;
	size_t limit = 0, total = 0, room;
	char why[200], quoted[64];
	int rc;

	quote_pattern(quoted, sizeof(quoted), text);
	if (fl->rx_count >= VX_EVAL_REGEX_FLAG_PATTERNS) {
		seterr(e, "%s: pattern %s is over the limit of %d patterns per flag",
		    where, quoted, VX_EVAL_REGEX_FLAG_PATTERNS);
		return VX_EVAL_EINVAL;
	}
	room = VX_EVAL_REGEX_FLAG_JIT - fl->rx_jit;
	rc = vxe_regex_compile(text, c->case_insensitive, room, &rx, why, sizeof(why));
	if (rc != VX_EVAL_OK) {
		seterr(e, "%s: pattern %s %s", where, quoted, why);
		return rc;
	}
	fl->rx_cond += rx.size;
	fl->rx_rule += rx.size;
	fl->rx_flag += rx.size;
	if (fl->rx_cond > VX_EVAL_REGEX_COND_BYTES) {
		over = "condition";
		limit = VX_EVAL_REGEX_COND_BYTES;
		total = fl->rx_cond;
	} else if (fl->rx_rule > VX_EVAL_REGEX_RULE_BYTES) {
		over = "rule";
		limit = VX_EVAL_REGEX_RULE_BYTES;
		total = fl->rx_rule;
	} else if (fl->rx_flag > VX_EVAL_REGEX_FLAG_BYTES) {
		over = "flag";
		limit = VX_EVAL_REGEX_FLAG_BYTES;
		total = fl->rx_flag;
	}
	if (over != NULL) {
		vxe_regex_release(rx.rx);
		seterr(e,
		    "%s: pattern %s brings the %s's patterns to %zu "
		    "bytes compiled, over the limit of %zu per %s",
		    where, quoted, over, total, limit, over);
		return VX_EVAL_EINVAL;
	}
	fl->rx_jit += rx.jit_size;
	fl->rx_count++;
	f->regexes[f->nregex++] = rx.rx;
	v->u.re = rx.re;
	v->jit = rx.jit_size > 0;
	return VX_EVAL_OK;
}

static int
compile_value(struct fill *fl, vx_eval_flag *f, const vx_eval_condition_src *c,
    const char *text, struct vxe_value *v, const char *where, struct cerr *e)
{
	/* Fold values once here; evaluation folds only the attribute. */
	bool fold = c->case_insensitive && c->op <= VX_OP_ENDS_WITH;
	bool ok = true;
	const char *what = NULL;
	size_t len;

	memset(v, 0, sizeof(*v));
	v->s = copy_str(fl, text, fold, &len);
	if (len > UINT32_MAX) {
		seterr(e, "%s: a value of %zu bytes is too long", where, len);
		return VX_EVAL_EINVAL;
	}
	v->len = (uint32_t)len;
	v->boolv = -1;
	switch (c->op) {
	case VX_OP_EQUALS:
	case VX_OP_IN:
		v->has_num = vxe_parse_number(v->s, &v->u.num);
		if (strcmp(v->s, "true") == 0)
			v->boolv = 1;
		else if (strcmp(v->s, "false") == 0)
			v->boolv = 0;
		break;
	case VX_OP_CONTAINS:
	case VX_OP_STARTS_WITH:
	case VX_OP_ENDS_WITH:
		break;
	case VX_OP_MATCHES: return compile_pattern(fl, f, c, text, v, where, e);
	case VX_OP_LT:
	case VX_OP_LTE:
	case VX_OP_GT:
	case VX_OP_GTE:
	case VX_OP_NUM_EQ:
		ok = vxe_parse_number(v->s, &v->u.num);
		what = "a number";
		break;
	case VX_OP_SEMVER_EQ:
	case VX_OP_SEMVER_LT:
	case VX_OP_SEMVER_GT:
		/* Parse the copy: sv.pre points into it. */
		ok = vxe_parse_semver(v->s, &v->u.sv);
		what = "a semantic version";
		break;
	case VX_OP_BEFORE:
	case VX_OP_AFTER:
		ok = vxe_parse_rfc3339(v->s, &v->u.t);
		what = "an RFC 3339 date-time";
		break;
	case VX_OP_CIDR:
		ok = vxe_parse_cidr(v->s, &v->u.cidr);
		what = "an IP address or CIDR prefix";
		break;
	default:
		break;
	}
	if (!ok) {
		seterr(e, "%s: value \"%s\" is not %s", where, text, what);
		return VX_EVAL_EINVAL;
	}
	return VX_EVAL_OK;
}

static int
compile_cond(struct fill *fl, vx_eval_flag *f, const vx_eval_condition_src *c,
    struct vxe_cond *out, const char *rwhere, size_t ci, struct cerr *e)
{
	const char *opname = vx_op_name(c->op);
	char where[256];
	int rc;

	if (opname == NULL) {
		seterr(e, "%s condition %zu: unknown operator %d", rwhere, ci,
		    c->op);
		return VX_EVAL_EINVAL;
	}
	snprintf(where, sizeof(where), "%s condition %zu (%s %s)", rwhere, ci,
	    c->attribute, opname);
	if (c->attribute[0] == '\0') {
		seterr(e, "%s: attribute name is empty", where);
		return VX_EVAL_EINVAL;
	}
	if (c->nvalues == 0) {
		seterr(e, "%s: operator %s needs at least one value", where,
		    opname);
		return VX_EVAL_EINVAL;
	}
	resolve_attr(fl, c->attribute, &out->attr);
	fl->rx_cond = 0;
	out->op = c->op;
	out->negate = c->negate;
	out->missing = c->missing;
	out->ci = c->case_insensitive;
	out->loose = c->loose_semver;
	out->values = fl->values;
	out->nvalues = c->nvalues;
	for (size_t vi = 0; vi < c->nvalues; vi++) {
		rc = compile_value(fl, f, c, c->values[vi], fl->values++, where,
		    e);
		if (rc != 0)
			return rc;
	}
	return VX_EVAL_OK;
}

static int
compile_serve(struct fill *fl, const vx_eval_flag *f, const vx_eval_rule_src *r,
    struct vxe_rule *out, const char *where, struct cerr *e)
{
	uint64_t total = 0;

	out->variant = r->variant;
	out->splits = fl->splits;
	out->nsplits = 0;
	if (r->nsplits == 0) {
		if (r->variant >= f->nvariants) {
			seterr(e, "%s: variant %u is out of range (%zu variants)",
			    where, (unsigned)r->variant, f->nvariants);
			return VX_EVAL_EINVAL;
		}
		return VX_EVAL_OK;
	}
	for (size_t i = 0; i < r->nsplits; i++) {
		const vx_eval_split_src *s = &r->splits[i];

		if (s->variant >= f->nvariants) {
			seterr(e,
			    "%s: split %zu: variant %u is out of range (%zu "
			    "variants)",
			    where, i, (unsigned)s->variant, f->nvariants);
			return VX_EVAL_EINVAL;
		}
		/* A zero weight can never be picked, so drop it. */
		if (s->weight == 0)
			continue;
		total += s->weight;
		if (total > UINT32_MAX) {
			seterr(e, "%s: split weights total more than %u", where,
			    (unsigned)UINT32_MAX);
			return VX_EVAL_EINVAL;
		}
		fl->splits->variant = s->variant;
		fl->splits->cum = (uint32_t)total;
		fl->splits++;
		out->nsplits++;
	}
	if (total == 0) {
		seterr(e, "%s: split weights total 0", where);
		return VX_EVAL_EINVAL;
	}
	out->total_weight = (uint32_t)total;
	return VX_EVAL_OK;
}

/* Whether two rollouts bucket a context alike: stickiness and group. */
static bool
same_buckets(const struct vxe_rollout *a, const struct vxe_rollout *b)
{
	return a->stick_mode == b->stick_mode && a->stick.slot == b->stick.slot &&
	       strcmp(a->stick.name, b->stick.name) == 0 &&
	       strcmp(a->group, b->group) == 0;
}

static int
compile_rule(struct fill *fl, vx_eval_flag *f, const vx_eval_rule_src *r,
    size_t ri, struct vxe_rule *out, struct cerr *e)
{
	char where[160];
	int rc;

	rule_label(where, sizeof(where), ri, r->id);
	out->id = copy_str(fl, r->id != NULL ? r->id : "", false, NULL);
	out->src_index = (int32_t)ri;
	out->priority = r->priority;
	out->order = r->order;
	out->enabled = r->enabled;
	f->any_rule = f->any_rule || r->enabled;
	out->conds = fl->conds;
	out->nconds = r->nconditions;
	fl->rx_rule = 0;
	for (size_t ci = 0; ci < r->nconditions; ci++) {
		rc = compile_cond(fl, f, &r->conditions[ci], fl->conds++, where,
		    ci, e);
		if (rc != 0)
			return rc;
	}
	rc = compile_rollout(fl, f, r->rollout.enabled, r->rollout.percentage,
	    r->rollout.stickiness, r->rollout.group_id, &out->ro, where, e);
	if (rc != 0)
		return rc;
	out->split_ro = NULL; /* &out->ro once the rules are sorted */
	out->split_flagd = r->split_flagd;
	if (r->split_flagd && r->nsplits > 0 &&
	    (r->split_stickiness == NULL || strcmp(r->split_stickiness, "default") == 0 ||
	        strcmp(r->split_stickiness, "random") == 0)) {
		seterr(e,
		    "%s: a flagd split needs its bucketing attribute "
		    "(split_stickiness)",
		    where);
		return VX_EVAL_EINVAL;
	}
	out->split_own =
	    r->split_flagd || r->split_stickiness != NULL || r->split_group_id != NULL;
	if (out->split_own) {
		struct vxe_rollout *sro = fl->split_ros++;

		rc = compile_rollout(fl, f, false, 0,
		    r->split_stickiness ? r->split_stickiness : r->rollout.stickiness,
		    r->split_group_id ? r->split_group_id : r->rollout.group_id, sro,
		    where, e);
		if (rc != 0)
			return rc;
		out->split_ro = sro;
	}
	rc = compile_serve(fl, f, r, out, where, e);
	/* 100% lets everyone in without hashing (see eval.h). */
	out->hashes = (out->ro.enabled && out->ro.pct < 100) || out->nsplits != 0;
	out->ro_env = same_buckets(&out->ro, &f->ro);
	return rc;
}

static bool
check_variant_value(int type, const char *value)
{
	switch (type) {
	case VX_FLAG_BOOL:
		return strcmp(value, "true") == 0 || strcmp(value, "false") == 0;
	case VX_FLAG_NUMBER:
		return vxe_json_number_valid(value);
	case VX_FLAG_STRING:
		return vxe_json_string_valid(value);
	default:
		/* JSON is validated by whoever parsed it; just not empty. */
		return value[0] != '\0';
	}
}

static int
compile_variants(struct fill *fl, vx_eval_flag *f, const vx_eval_flag_src *src,
    struct cerr *e)
{
	static const char *const type_names[] = {
		"a boolean", "a JSON string", "a JSON number", "JSON"
	};

	if (src->nvariants == 0) {
		seterr(e, "flag \"%s\" has no variants", src->key);
		return VX_EVAL_EINVAL;
	}
	for (size_t i = 0; i < src->nvariants; i++) {
		const vx_eval_variant_src *v = &src->variants[i];

		if (v->key[0] == '\0') {
			seterr(e, "variant %zu: key is empty", i);
			return VX_EVAL_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(src->variants[j].key, v->key) == 0) {
				seterr(e, "variant %zu: duplicate key \"%s\"",
				    i, v->key);
				return VX_EVAL_EINVAL;
			}
		}
		if (!check_variant_value(src->type, v->value)) {
			seterr(e, "variant %zu (\"%s\"): value '%s' is not %s",
			    i, v->key, v->value, type_names[src->type]);
			return VX_EVAL_EINVAL;
		}
		f->variants[i].key = copy_str(fl, v->key, false, NULL);
		f->variants[i].value = copy_str(fl, v->value, false, NULL);
	}
	f->nvariants = src->nvariants;
	if (src->default_variant >= src->nvariants ||
	    src->off_variant >= src->nvariants) {
		seterr(e,
		    "default variant %u or off variant %u is out of range "
		    "(%zu variants)",
		    (unsigned)src->default_variant, (unsigned)src->off_variant,
		    src->nvariants);
		return VX_EVAL_EINVAL;
	}
	f->def = src->default_variant;
	f->off = src->off_variant;
	return VX_EVAL_OK;
}

/*
 * Prerequisites keep their keys; vx_eval_flag_link() finds the parents.
 * A flag with none is linked from the start.
 */
static int
compile_prereqs(
    struct fill *fl, vx_eval_flag *f, const vx_eval_flag_src *src, struct cerr *e)
{
	for (size_t i = 0; i < src->nprereqs; i++) {
		const vx_eval_prereq_src *p = &src->prereqs[i];
		struct vxe_prereq *d = &f->prereqs[i];

		if (p->flag[0] == '\0') {
			seterr(e, "prerequisite %zu: flag key is empty", i);
			return VX_EVAL_EINVAL;
		}
		if (strcmp(p->flag, src->key) == 0) {
			seterr(e, "prerequisite %zu: a flag cannot require itself", i);
			return VX_EVAL_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(src->prereqs[j].flag, p->flag) == 0) {
				seterr(e,
				    "prerequisite %zu: flag \"%s\" is required "
				    "twice",
				    i, p->flag);
				return VX_EVAL_EINVAL;
			}
		}
		if (p->when_off && p->nvariants != 0) {
			seterr(e,
			    "prerequisite %zu (\"%s\"): variants apply only "
			    "when the parent must be on",
			    i, p->flag);
			return VX_EVAL_EINVAL;
		}
		d->key = copy_str(fl, p->flag, false, NULL);
		d->parent = NULL;
		d->when_off = p->when_off;
		d->vkeys = fl->vkeys;
		d->vidx = fl->vidx;
		d->nvariants = p->nvariants;
		for (size_t j = 0; j < p->nvariants; j++) {
			d->vkeys[j] = copy_str(fl, p->variants[j], false, NULL);
			d->vidx[j] = -1;
		}
		fl->vkeys += p->nvariants;
		fl->vidx += p->nvariants;
	}
	f->nprereqs = src->nprereqs;
	f->linked = src->nprereqs == 0;
	f->depth = 0;
	f->evals = 1;
	return VX_EVAL_OK;
}

/* Evaluation order: priority descending, then creation order, then input. */
static int
rule_cmp(const void *pa, const void *pb)
{
	const struct vxe_rule *a = pa, *b = pb;

	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	return (a->src_index > b->src_index) - (a->src_index < b->src_index);
}

/*
 * Reserve count elements of size at an offset aligned for them in the block
 * (align: their type's, so no section pads past what it needs).
 */
static bool
reserve(size_t *off, size_t count, size_t size, size_t align, size_t *at)
{
	size_t start = (*off + align - 1) / align * align;

	if (start < *off || (size != 0 && count > (SIZE_MAX - start) / size))
		return false;
	*at = start;
	*off = start + count * size;
	return true;
}

int
vx_eval_compile(const vx_eval_flag_src *src, vx_eval_flag **out, char *err,
    size_t errlen)
{
	struct cerr e = { err, errlen };
	struct sizes sz = { 0 };
	struct fill fl;
	size_t off = sizeof(struct vx_eval_flag);
	size_t o_var, o_rule, o_cond, o_val, o_split, o_sro, o_re, o_str;
	size_t o_pre, o_vkey, o_vidx;
	vx_eval_flag *f = NULL;
	char *block;
	int rc;

	if (err != NULL && errlen != 0)
		err[0] = '\0';
	if (out == NULL || src == NULL) {
		seterr(&e, "src and out must not be NULL");
		return VX_EVAL_EINVAL;
	}
	*out = NULL;
	if ((rc = measure(src, &sz, &e)) != 0)
		return rc;
	if (!reserve(&off, src->nvariants, sizeof(struct vxe_variant),
	        _Alignof(struct vxe_variant), &o_var) ||
	    !reserve(&off, src->nrules, sizeof(struct vxe_rule),
	        _Alignof(struct vxe_rule), &o_rule) ||
	    !reserve(&off, sz.nconds, sizeof(struct vxe_cond), _Alignof(struct vxe_cond),
	        &o_cond) ||
	    !reserve(&off, sz.nvalues, sizeof(struct vxe_value),
	        _Alignof(struct vxe_value), &o_val) ||
	    !reserve(&off, sz.nsplits, sizeof(struct vxe_split),
	        _Alignof(struct vxe_split), &o_split) ||
	    !reserve(&off, sz.nsplit_ros, sizeof(struct vxe_rollout),
	        _Alignof(struct vxe_rollout), &o_sro) ||
	    !reserve(&off, sz.nregex, sizeof(struct vxe_rx *), _Alignof(struct vxe_rx *),
	        &o_re) ||
	    !reserve(&off, sz.nprereqs, sizeof(struct vxe_prereq),
	        _Alignof(struct vxe_prereq), &o_pre) ||
	    !reserve(
	        &off, sz.nprereq_variants, sizeof(char *), _Alignof(char *), &o_vkey) ||
	    !reserve(
	        &off, sz.nprereq_variants, sizeof(int32_t), _Alignof(int32_t), &o_vidx) ||
	    !reserve(&off, sz.strings, 1, 1, &o_str)) {
		seterr(&e, "flag too large");
		return VX_EVAL_ENOMEM;
	}
	if ((block = calloc(1, off)) == NULL) {
		seterr(&e, "out of memory");
		return VX_EVAL_ENOMEM;
	}
	f = (vx_eval_flag *)(void *)block;
	f->variants = (struct vxe_variant *)(void *)(block + o_var);
	f->rules = (struct vxe_rule *)(void *)(block + o_rule);
	f->regexes = (struct vxe_rx **)(void *)(block + o_re);
	fl.conds = (struct vxe_cond *)(void *)(block + o_cond);
	fl.values = (struct vxe_value *)(void *)(block + o_val);
	fl.splits = (struct vxe_split *)(void *)(block + o_split);
	fl.split_ros = (struct vxe_rollout *)(void *)(block + o_sro);
	f->prereqs = (struct vxe_prereq *)(void *)(block + o_pre);
	fl.vkeys = (const char **)(void *)(block + o_vkey);
	fl.vidx = (int32_t *)(void *)(block + o_vidx);
	fl.str = block + o_str;
	fl.str_end = block + off;
	fl.rx_cond = fl.rx_rule = fl.rx_flag = fl.rx_jit = fl.rx_count = 0;

	if (src->key[0] == '\0') {
		seterr(&e, "flag key is empty");
		rc = VX_EVAL_EINVAL;
		goto fail;
	}
	if (src->type < VX_FLAG_BOOL || src->type > VX_FLAG_JSON) {
		seterr(&e, "flag \"%s\": unknown type %d", src->key, src->type);
		rc = VX_EVAL_EINVAL;
		goto fail;
	}
	f->key = copy_str(&fl, src->key, false, NULL);
	f->type = src->type;
	/* A broken flag is never enabled: one branch on the hot path. */
	f->enabled = src->enabled && !src->broken;
	f->broken = src->broken;
	if ((rc = compile_variants(&fl, f, src, &e)) != 0)
		goto fail;
	rc = compile_rollout(&fl, f, true, src->rollout_percentage,
	    src->stickiness, src->group_id, &f->ro, "environment", &e);
	if (rc != 0)
		goto fail;
	for (size_t i = 0; i < src->nrules; i++) {
		rc = compile_rule(&fl, f, &src->rules[i], i, &f->rules[i], &e);
		if (rc != 0)
			goto fail;
	}
	f->nrules = src->nrules;
	if ((rc = compile_prereqs(&fl, f, src, &e)) != 0)
		goto fail;
	qsort(f->rules, f->nrules, sizeof(f->rules[0]), rule_cmp);
	/* Sorting moved the rules: only now can a split point at its rule's. */
	for (size_t i = 0; i < f->nrules; i++)
		if (f->rules[i].split_ro == NULL)
			f->rules[i].split_ro = &f->rules[i].ro;
	*out = f;
	return VX_EVAL_OK;

fail:
	vx_eval_flag_free(f);
	return rc;
}

void
vx_eval_flag_free(vx_eval_flag *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nregex; i++)
		vxe_regex_release(f->regexes[i]);
	free(f);
}

const char *
vx_eval_flag_key(const vx_eval_flag *f)
{
	return f != NULL ? f->key : NULL;
}

int
vx_eval_flag_type(const vx_eval_flag *f)
{
	return f != NULL ? f->type : VX_EVAL_EINVAL;
}

bool
vx_eval_flag_is_static(const vx_eval_flag *f)
{
	return f != NULL && f->enabled && f->ro.pct >= 100 && f->nprereqs == 0 &&
	       !f->any_rule;
}
