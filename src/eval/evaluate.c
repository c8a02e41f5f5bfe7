/*
 * evaluate.c: evaluating a compiled flag against a context.
 *
 * This is the hot path. It runs for every Evaluate RPC, for every flag of an
 * EvaluateAll, and in every libvexil local evaluation. So it only reads the
 * compiled flag and the caller's context. It allocates nothing, formats
 * nothing into the heap, and cannot fail except when a thread's first
 * `matches` finds no memory for its match data (regex.c). The walk follows
 * DESIGN.md "Evaluation semantics" step by step (see eval.h). A condition
 * test has three outcomes: it holds, it does not, or it cannot be made
 * (missing attribute, wrong type, unparseable value, or a `matches` search
 * that ran out of its budget). The third is false even under negate, so a
 * negated condition never matches a context that lacks the attribute.
 *
 * A flag pays only for what it uses. compile.c decides per rule whether
 * it hashes at all (vxe_rule.hashes) and whether its rollout's bucket is
 * the environment rollout's (vxe_rule.ro_env). The common steps are
 * inline: a set well-known field as the attribute or stickiness value,
 * the string operators, a rule's rollout, and the bucket's hash from its
 * precomputed prefix (vxe_mm3_finish). The rest is out of line: custom
 * and list attributes, the parsing operators and `matches`
 * (test_parsed), the stickiness fallbacks (stick_chain), splits
 * (rule_split) and prerequisites.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eval_int.h"

/* Outcome of one test. */
enum {
	T_ERR = -2, /* no memory for a match (regex.c) */
	T_NA = -1,  /* the comparison cannot be made */
	T_NO = 0,
	T_YES = 1
};

static const vx_eval_ctx empty_ctx;

int
vxe_slot_for(const char *name)
{
	static const struct {
		const char *name;
		int slot;
	} known[] = {
		{ "user_id", VXE_SLOT_USER_ID },
		{ "email", VXE_SLOT_EMAIL },
		{ "country", VXE_SLOT_COUNTRY },
		{ "ip", VXE_SLOT_IP },
		{ "groups", VXE_SLOT_GROUPS },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(name, known[i].name) == 0)
			return known[i].slot;
	return VXE_SLOT_CUSTOM;
}

static bool
find_custom(const vx_eval_ctx *ctx, const char *name, vx_eval_attr *out)
{
	for (size_t i = 0; i < ctx->nattrs; i++) {
		const vx_eval_attr *a = &ctx->attrs[i];

		/* The first byte turns most names away without a call. */
		if (a->name == NULL || a->name[0] != name[0] ||
		    strcmp(a->name, name) != 0)
			continue;
		/* A malformed attribute is treated as missing, not a crash. */
		if ((a->kind == VX_ATTR_STRING && a->u.s == NULL) ||
		    (a->kind == VX_ATTR_LIST && a->u.list.items == NULL &&
			a->u.list.n != 0) ||
		    a->kind < VX_ATTR_STRING || a->kind > VX_ATTR_LIST)
			return false;
		*out = *a;
		return true;
	}
	return false;
}

/* The well-known string field a slot names, or NULL (unset, or no field). */
static inline const char *
slot_str(const vx_eval_ctx *ctx, int slot)
{
	switch (slot) {
	case VXE_SLOT_USER_ID: return ctx->user_id;
	case VXE_SLOT_EMAIL: return ctx->email;
	case VXE_SLOT_COUNTRY: return ctx->country;
	case VXE_SLOT_IP: return ctx->ip;
	default: return NULL;
	}
}

/*
 * A well-known field that is set is that attribute; one that is not set
 * may still come as a custom attribute of the same name.
 */
static bool
lookup(const vx_eval_ctx *ctx, const struct vxe_attr_ref *ref, vx_eval_attr *out)
{
	const char *s = slot_str(ctx, ref->slot);

	if (s != NULL) {
		out->name = ref->name;
		out->kind = VX_ATTR_STRING;
		out->u.s = s;
		return true;
	}
	if (ref->slot == VXE_SLOT_GROUPS && ctx->groups != NULL) {
		out->name = ref->name;
		out->kind = VX_ATTR_LIST;
		out->u.list.items = ctx->groups;
		out->u.list.n = ctx->ngroups;
		return true;
	}
	return find_custom(ctx, ref->name, out);
}

int
vx_eval_ctx_get(const vx_eval_ctx *ctx, const char *name, vx_eval_attr *out)
{
	struct vxe_attr_ref ref;

	if (name == NULL || out == NULL)
		return VX_EVAL_EINVAL;
	ref.name = name;
	ref.slot = vxe_slot_for(name);
	if (!lookup(ctx != NULL ? ctx : &empty_ctx, &ref, out))
		return VX_EVAL_ENOTFOUND;
	out->name = name;
	return VX_EVAL_OK;
}

/* Compare n bytes of a (folded here) with b (folded at compile time). */
static bool
eq_fold(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (vxe_fold((unsigned char)a[i]) != (unsigned char)b[i])
			return false;
	return true;
}

static inline bool
bytes_eq(const char *a, const char *b, size_t n, bool ci)
{
	if (ci)
		return eq_fold(a, b, n);
	/* The first byte turns most values away without a call. */
	return n == 0 || (a[0] == b[0] && memcmp(a + 1, b + 1, n - 1) == 0);
}

static bool
has_substr(const char *s, size_t n, const struct vxe_value *v, bool ci)
{
	if (!ci)
		return strstr(s, v->s) != NULL;
	if (v->len > n)
		return false;
	for (size_t i = 0; i + v->len <= n; i++)
		if (eq_fold(s + i, v->s, v->len))
			return true;
	return false;
}

static bool
num_holds(int op, double a, double b)
{
	switch (op) {
	case VX_OP_LT:
		return a < b;
	case VX_OP_LTE:
		return a <= b;
	case VX_OP_GT:
		return a > b;
	case VX_OP_NUM_EQ: return a == b;
	default:
		return a >= b;
	}
}

static bool
cmp_holds(int op, int cmp)
{
	switch (op) {
	case VX_OP_SEMVER_LT:
	case VX_OP_BEFORE:
		return cmp < 0;
	case VX_OP_SEMVER_GT:
	case VX_OP_AFTER:
		return cmp > 0;
	default:
		return cmp == 0;
	}
}

static int
test_time(const struct vxe_cond *c, const struct vxe_time *t)
{
	for (size_t i = 0; i < c->nvalues; i++)
		if (cmp_holds(c->op, vxe_time_cmp(t, &c->values[i].u.t)))
			return T_YES;
	return T_NO;
}

static int
test_num(const struct vxe_cond *c, double n)
{
	for (size_t i = 0; i < c->nvalues; i++)
		if (num_holds(c->op, n, c->values[i].u.num))
			return T_YES;
	return T_NO;
}

/*
 * A string attribute against the operators that parse it first (numbers,
 * versions, times, addresses) and `matches`. Out of line, so the string
 * comparisons below stay small.
 */
static __attribute__((noinline)) int
test_parsed(const struct vxe_cond *c, int op, const char *s)
{
	struct vxe_semver sv;
	struct vxe_time t;
	struct vxe_cidr ip;
	double n;
	size_t len;
	bool undecided = false;

	switch (op) {
	case VX_OP_LT:
	case VX_OP_LTE:
	case VX_OP_GT:
	case VX_OP_GTE:
	case VX_OP_NUM_EQ: return vxe_parse_number(s, &n) ? test_num(c, n) : T_NA;
	case VX_OP_SEMVER_EQ:
	case VX_OP_SEMVER_LT:
	case VX_OP_SEMVER_GT:
		if (!(c->loose ? vxe_parse_semver_loose(s, &sv)
		               : vxe_parse_semver(s, &sv)))
			return T_NA;
		for (size_t i = 0; i < c->nvalues; i++)
			if (cmp_holds(op, vxe_semver_cmp(&sv, &c->values[i].u.sv)))
				return T_YES;
		return T_NO;
	case VX_OP_BEFORE:
	case VX_OP_AFTER:
		return vxe_parse_rfc3339(s, &t) ? test_time(c, &t) : T_NA;
	case VX_OP_CIDR:
		if (!vxe_parse_ip(s, &ip))
			return T_NA;
		for (size_t i = 0; i < c->nvalues; i++)
			if (vxe_cidr_contains(&c->values[i].u.cidr, &ip))
				return T_YES;
		return T_NO;
	case VX_OP_MATCHES: break;
	default: return T_NA;
	}
	/* Long subjects only spend the match budget faster. */
	len = strlen(s);
	if (len > VX_EVAL_MATCH_MAX_LEN)
		return T_NA;
	for (size_t i = 0; i < c->nvalues; i++) {
		/*
		 * Another value may still match; if none does, a budget that
		 * ran out leaves the test undecided.
		 */
		int rc = vxe_regex_match(c->values[i].u.re, c->values[i].jit, s, len);

		if (rc == VXE_RX_YES)
			return T_YES;
		if (rc == VXE_RX_ENOMEM)
			return T_ERR;
		if (rc == VXE_RX_UNDECIDED)
			undecided = true;
	}
	return undecided ? T_NA : T_NO;
}

/*
 * Test a string attribute, or one element of a list attribute (in_list),
 * against every value of the condition. One loop per operator, so the
 * operator is dispatched once per condition rather than once per value.
 */
static inline int
test_string(const struct vxe_cond *c, const char *s, bool in_list)
{
	const struct vxe_value *v = c->values;
	const struct vxe_value *end = v + c->nvalues;
	size_t len;

	switch (c->op) {
	case VX_OP_CONTAINS:
		/* For a list element, contains means "equals a value". */
		if (!in_list) {
			len = strlen(s);
			for (; v < end; v++)
				if (has_substr(s, len, v, c->ci))
					return T_YES;
			return T_NO;
		}
		/* fall through */
	case VX_OP_EQUALS:
	case VX_OP_IN:
		len = strlen(s);
		for (; v < end; v++)
			if (len == v->len && bytes_eq(s, v->s, len, c->ci))
				return T_YES;
		return T_NO;
	case VX_OP_STARTS_WITH:
		len = strlen(s);
		for (; v < end; v++)
			if (len >= v->len && bytes_eq(s, v->s, v->len, c->ci))
				return T_YES;
		return T_NO;
	case VX_OP_ENDS_WITH:
		len = strlen(s);
		for (; v < end; v++)
			if (len >= v->len &&
			    bytes_eq(s + len - v->len, v->s, v->len, c->ci))
				return T_YES;
		return T_NO;
	default: return test_parsed(c, c->op, s);
	}
}

static int
test_number_attr(const struct vxe_cond *c, double n)
{
	struct vxe_time t;
	char text[32];

	switch (c->op) {
	case VX_OP_EQUALS:
	case VX_OP_IN:
		for (size_t i = 0; i < c->nvalues; i++)
			if (c->values[i].has_num && c->values[i].u.num == n)
				return T_YES;
		return T_NO;
	case VX_OP_LT:
	case VX_OP_LTE:
	case VX_OP_GT:
	case VX_OP_GTE:
	case VX_OP_NUM_EQ: return test_num(c, n);
	case VX_OP_BEFORE:
	case VX_OP_AFTER:
		return vxe_time_from_unix(n, &t) ? test_time(c, &t) : T_NA;
	case VX_OP_SEMVER_EQ:
	case VX_OP_SEMVER_LT:
	case VX_OP_SEMVER_GT:
		/* flagd reads a number as its text: 1.2 is 1.2.0. */
		if (!c->loose)
			return T_NA;
		snprintf(text, sizeof(text), "%.15g", n);
		return test_string(c, text, false);
	default:
		return T_NA;
	}
}

static int
test_bool_attr(const struct vxe_cond *c, bool b)
{
	if (c->op != VX_OP_EQUALS && c->op != VX_OP_IN)
		return T_NA;
	for (size_t i = 0; i < c->nvalues; i++)
		if (c->values[i].boolv == (int8_t)b)
			return T_YES;
	return T_NO;
}

/* Returns T_YES, T_NO or T_ERR: negate applied, T_NA folded into T_NO. */
static int
cond_holds(const struct vxe_cond *c, const vx_eval_ctx *ctx)
{
	const char *s = slot_str(ctx, c->attr.slot);
	vx_eval_attr a;
	int r;

	/* The common case: a well-known string field (email, country...). */
	if (s != NULL) {
		r = test_string(c, s, false);
		goto done;
	}
	if (!lookup(ctx, &c->attr, &a))
		return c->missing ? T_YES : T_NO;
	switch (a.kind) {
	case VX_ATTR_STRING:
		r = test_string(c, a.u.s, false);
		break;
	case VX_ATTR_NUMBER:
		r = test_number_attr(c, a.u.num);
		break;
	case VX_ATTR_BOOL:
		r = test_bool_attr(c, a.u.b);
		break;
	default:
		/*
		 * Any element holding makes the list hold. An empty list is
		 * a comparison made (nothing is in it), so negate applies.
		 */
		r = a.u.list.n == 0 ? T_NO : T_NA;
		for (size_t i = 0; i < a.u.list.n; i++) {
			int t;

			if (a.u.list.items[i] == NULL)
				continue;
			t = test_string(c, a.u.list.items[i], true);
			if (t == T_ERR || t == T_YES) {
				r = t;
				break;
			}
			if (t == T_NO)
				r = T_NO;
		}
		break;
	}
done:
	if (r == T_ERR)
		return T_ERR;
	if (r == T_NA)
		return T_NO;
	return (r == T_YES) != c->negate ? T_YES : T_NO;
}

/* A stickiness value; buf holds a formatted number. */
struct stick {
	const char *s;
	size_t len;
	bool random; /* drawn by random_stick(), not read from the context */
	char buf[24];
};

/* Format an integer the way JavaScript's String(n) does. */
static void
format_int(struct stick *st, int64_t v)
{
	char *p = st->buf + sizeof(st->buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	st->s = p;
	st->len = (size_t)(st->buf + sizeof(st->buf) - p);
}

/* The value of one attribute as a stickiness value. */
static bool
attr_stick(const vx_eval_ctx *ctx, const struct vxe_attr_ref *ref, struct stick *st)
{
	/* Beyond 2^53 JavaScript prints exponents; refuse rather than differ. */
	const double limit = 9007199254740992.0;
	vx_eval_attr a;

	if (!lookup(ctx, ref, &a))
		return false;
	switch (a.kind) {
	case VX_ATTR_STRING:
		if (a.u.s[0] == '\0')
			return false;
		st->s = a.u.s;
		st->len = strlen(a.u.s);
		return true;
	case VX_ATTR_NUMBER:
		/* The negated test also rejects NaN. */
		if (!(a.u.num > -limit && a.u.num < limit) ||
		    (double)(int64_t)a.u.num != a.u.num)
			return false;
		format_int(st, (int64_t)a.u.num);
		return true;
	case VX_ATTR_BOOL:
		st->s = a.u.b ? "true" : "false";
		st->len = strlen(st->s);
		return true;
	default:
		return false;
	}
}

/*
 * A random stickiness value, as Unleash's randomGenerator() makes one: a
 * decimal number in 1..10000, hashed like any other value. The generator
 * is a per-thread xorshift64*, seeded once per thread from the clock and
 * the thread's own address; it needs no lock, no I/O and no allocation.
 */
static void
random_stick(struct stick *st)
{
	static _Thread_local uint64_t x;
	struct timespec ts;

	if (x == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
		    ((uint64_t)(uintptr_t)&x * 0x9E3779B97F4A7C15u);
		if (x == 0)
			x = 0x2545F4914F6CDD1Du;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	st->random = true;
	format_int(st, (int64_t)((x * 0x2545F4914F6CDD1Du) >> 33) % 10000 + 1);
}

/*
 * The stickiness value a rollout buckets by (see eval.h, "Rollouts and
 * splits"). false only for a named attribute the context lacks.
 */
static __attribute__((noinline)) bool
stick_chain(const vx_eval_ctx *ctx, const struct vxe_rollout *ro, struct stick *st)
{
	static const struct vxe_attr_ref session[] = {
	    {"session_id", VXE_SLOT_CUSTOM},
	    {"sessionId", VXE_SLOT_CUSTOM},
	};

	st->random = false;
	/* The common case first: the attribute (user_id by default) is there. */
	if (ro->stick_mode != VXE_STICK_RANDOM && attr_stick(ctx, &ro->stick, st))
		return true;
	if (ro->stick_mode == VXE_STICK_ATTR)
		return false;
	if (ro->stick_mode == VXE_STICK_DEFAULT &&
	    (attr_stick(ctx, &session[0], st) || attr_stick(ctx, &session[1], st)))
		return true;
	random_stick(st);
	return true;
}

/*
 * stick_chain(), with its most common case inline: a non-empty
 * well-known field, such as the user_id of the default stickiness.
 */
static inline bool
stick_value(const vx_eval_ctx *ctx, const struct vxe_rollout *ro, struct stick *st)
{
	const char *s;

	if (ro->stick_mode != VXE_STICK_RANDOM &&
	    (s = slot_str(ctx, ro->stick.slot)) != NULL && s[0] != '\0') {
		st->s = s;
		st->len = strlen(s);
		st->random = false;
		return true;
	}
	return stick_chain(ctx, ro, st);
}

/* Unleash's normalised bucket, from the precomputed "<group>:" state. */
static inline uint32_t
bucket(const struct vxe_rollout *ro, const struct stick *st, int which, uint32_t modulus)
{
	return vxe_mm3_finish(&ro->prefix[which], st->s, st->len) % modulus + 1;
}

/*
 * A rule's rollout, for a rule whose conditions hold: does it let the
 * context in? On T_YES, res has its bucket and st the stickiness value. A
 * bucket that is the environment rollout's too (see vxe_rule.ro_env) goes
 * to *env_bucket, so that a context the rule turns away is not hashed
 * again for the same answer.
 */
static inline int
rule_rollout(const struct vxe_rule *r, const vx_eval_ctx *ctx, struct stick *st,
    vx_eval_result *res, uint32_t *env_bucket)
{
	uint32_t b;

	if (!stick_value(ctx, &r->ro, st))
		return T_NO;
	b = bucket(&r->ro, st, VXE_HASH_ROLLOUT, 100);
	if (r->ro_env && !st->random)
		*env_bucket = b;
	if (b > r->ro.pct)
		return T_NO;
	res->bucket = b;
	return T_YES;
}

/*
 * A rule with a split whose conditions hold: does its rollout let the
 * context in, and which variant does the split serve? On T_YES, *variant
 * is what it serves and res has its buckets; on T_NO, res has none.
 */
static __attribute__((noinline)) int
rule_split(const struct vxe_rule *r, const vx_eval_ctx *ctx, uint32_t *variant,
    vx_eval_result *res, uint32_t *env_bucket)
{
	struct stick st;
	bool have_stick = false;
	uint32_t b;

	/* 100% lets everyone in without hashing. */
	if (r->ro.enabled && r->ro.pct < 100) {
		if (rule_rollout(r, ctx, &st, res, env_bucket) != T_YES)
			return T_NO;
		have_stick = true;
	}
	if (r->split_own) {
		if (!stick_value(ctx, r->split_ro, &st))
			goto out;
	} else if (!have_stick && !stick_value(ctx, &r->ro, &st)) {
		goto out;
	}
	if (r->split_flagd) {
		/* Hashed whole here, so rollouts keep no third prefix state. */
		struct vxe_mm3 h;
		vxe_mm3_init(&h, 0);
		vxe_mm3_update(&h, r->split_ro->group, strlen(r->split_ro->group));
		vxe_mm3_update(&h, st.s, st.len);
		/* flagd's 0..total-1, shifted to the 1..total of "cum >= b". */
		b = (uint32_t)(((uint64_t)vxe_mm3_final(&h) * r->total_weight) >> 32) + 1;
	} else {
		b = bucket(r->split_ro, &st, VXE_HASH_VARIANT, r->total_weight);
	}
	res->split_bucket = b;
	/* The last cum is total_weight >= b, so the loop always serves. */
	for (size_t i = 0; i < r->nsplits; i++) {
		if (r->splits[i].cum >= b) {
			*variant = r->splits[i].variant;
			break;
		}
	}
	return T_YES;
out:
	/* A rule that was not taken must not leave buckets. */
	res->bucket = 0;
	return T_NO;
}

static void
serve(const vx_eval_flag *f, uint32_t variant, int reason,
    vx_eval_result *res)
{
	res->reason = reason;
	res->variant = (int32_t)variant;
	res->variant_key = f->variants[variant].key;
	res->value = f->variants[variant].value;
}

static int evaluate(
    const vx_eval_flag *f, const vx_eval_ctx *ctx, vx_eval_result *res, uint32_t depth);

/*
 * Does the prerequisite hold? The parent is evaluated in full with the
 * same context. Linking bounded the depth; the guard only keeps a flag
 * that was never linked from recursing (its parents are NULL anyway).
 */
static int
prereq_holds(const struct vxe_prereq *p, const vx_eval_ctx *ctx, uint32_t depth)
{
	vx_eval_result pr;
	bool on;

	if (p->parent == NULL || depth >= VX_EVAL_PREREQ_MAX_DEPTH)
		return T_NO;
	if (evaluate(p->parent, ctx, &pr, depth + 1) == VX_EVAL_ENOMEM)
		return T_ERR;
	if (pr.reason == VX_REASON_ERROR)
		return T_NO;
	on = pr.reason == VX_REASON_TARGETING_MATCH || pr.reason == VX_REASON_SPLIT ||
	     pr.reason == VX_REASON_STATIC;
	if (p->when_off)
		return on ? T_NO : T_YES;
	if (!on)
		return T_NO;
	if (p->nvariants == 0)
		return T_YES;
	for (size_t i = 0; i < p->nvariants; i++)
		if (p->vidx[i] == pr.variant)
			return T_YES;
	return T_NO;
}

int
vx_eval_flag_evaluate(const vx_eval_flag *f, const vx_eval_ctx *ctx,
    vx_eval_result *res)
{
	if (res == NULL)
		return VX_EVAL_EINVAL;
	return evaluate(f, ctx, res, 0);
}

static int
evaluate(
    const vx_eval_flag *f, const vx_eval_ctx *ctx, vx_eval_result *res, uint32_t depth)
{
	struct stick st;
	uint32_t b = 0; /* the environment rollout's bucket, once known */

	memset(res, 0, sizeof(*res));
	res->variant = -1;
	res->rule = -1;
	if (f == NULL) {
		res->reason = VX_REASON_FLAG_NOT_FOUND;
		return VX_EVAL_ENOTFOUND;
	}
	if (ctx == NULL)
		ctx = &empty_ctx;
	if (!f->enabled) {
		serve(f, f->off, f->broken ? VX_REASON_ERROR : VX_REASON_DISABLED, res);
		return VX_EVAL_OK;
	}
	for (size_t i = 0; i < f->nprereqs; i++) {
		int t = prereq_holds(&f->prereqs[i], ctx, depth);

		if (t == T_YES)
			continue;
		if (t == T_ERR) {
			serve(f, f->off, VX_REASON_ERROR, res);
			return VX_EVAL_ENOMEM;
		}
		serve(f, f->off, VX_REASON_PREREQUISITE_FAILED, res);
		res->prereq = f->prereqs[i].key;
		return VX_EVAL_OK;
	}
	for (size_t i = 0; i < f->nrules; i++) {
		const struct vxe_rule *r = &f->rules[i];
		uint32_t variant = r->variant;
		int t = T_YES;

		if (!r->enabled)
			continue;
		for (size_t j = 0; j < r->nconds && t == T_YES; j++)
			t = cond_holds(&r->conds[j], ctx);
		/* hashes without a split: a rollout under 100%. */
		if (t == T_YES && r->hashes)
			t = r->nsplits == 0 ? rule_rollout(r, ctx, &st, res, &b)
			                    : rule_split(r, ctx, &variant, res, &b);
		if (t == T_NO)
			continue;
		res->rule = r->src_index;
		res->rule_id = r->id;
		if (t == T_ERR) {
			serve(f, f->off, VX_REASON_ERROR, res);
			return VX_EVAL_ENOMEM;
		}
		serve(f, variant, VX_REASON_TARGETING_MATCH, res);
		return VX_EVAL_OK;
	}
	if (f->ro.pct >= 100) {
		/* An answer that hangs on a rule or a parent is not static. */
		serve(f, f->def,
		    f->any_rule || f->nprereqs ? VX_REASON_SPLIT : VX_REASON_STATIC, res);
		return VX_EVAL_OK;
	}
	if (b == 0) {
		if (!stick_value(ctx, &f->ro, &st)) {
			serve(f, f->off, VX_REASON_DEFAULT, res);
			return VX_EVAL_OK;
		}
		b = bucket(&f->ro, &st, VXE_HASH_ROLLOUT, 100);
	}
	res->bucket = b;
	if (b <= f->ro.pct)
		serve(f, f->def, VX_REASON_SPLIT, res);
	else
		serve(f, f->off, VX_REASON_DEFAULT, res);
	return VX_EVAL_OK;
}
