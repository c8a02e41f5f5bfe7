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

		if (a->name == NULL || strcmp(a->name, name) != 0)
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

static bool
lookup(const vx_eval_ctx *ctx, const struct vxe_attr_ref *ref,
    vx_eval_attr *out)
{
	const char *s = NULL;

	switch (ref->slot) {
	case VXE_SLOT_USER_ID:
		s = ctx->user_id;
		break;
	case VXE_SLOT_EMAIL:
		s = ctx->email;
		break;
	case VXE_SLOT_COUNTRY:
		s = ctx->country;
		break;
	case VXE_SLOT_IP:
		s = ctx->ip;
		break;
	case VXE_SLOT_GROUPS:
		if (ctx->groups != NULL) {
			out->name = ref->name;
			out->kind = VX_ATTR_LIST;
			out->u.list.items = ctx->groups;
			out->u.list.n = ctx->ngroups;
			return true;
		}
		break;
	default:
		break;
	}
	if (s != NULL) {
		out->name = ref->name;
		out->kind = VX_ATTR_STRING;
		out->u.s = s;
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

static bool
bytes_eq(const char *a, const char *b, size_t n, bool ci)
{
	return ci ? eq_fold(a, b, n) : memcmp(a, b, n) == 0;
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
 * Test a string attribute, or one element of a list attribute (in_list),
 * against every value of the condition.
 */
static int
test_string(const struct vxe_cond *c, const char *s, bool in_list)
{
	size_t len = strlen(s);
	int op = c->op;
	struct vxe_semver sv;
	struct vxe_time t;
	struct vxe_cidr ip;
	double n;
	bool undecided = false;

	/* For a list element, contains means "equals a value": membership. */
	if (in_list && op == VX_OP_CONTAINS)
		op = VX_OP_EQUALS;
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
	case VX_OP_MATCHES:
		/* Long subjects only spend the match budget faster. */
		if (len > VX_EVAL_MATCH_MAX_LEN)
			return T_NA;
		break;
	default:
		break;
	}
	for (size_t i = 0; i < c->nvalues; i++) {
		const struct vxe_value *v = &c->values[i];
		int rc;

		switch (op) {
		case VX_OP_EQUALS:
		case VX_OP_IN:
			if (len == v->len && bytes_eq(s, v->s, len, c->ci))
				return T_YES;
			break;
		case VX_OP_CONTAINS:
			if (has_substr(s, len, v, c->ci))
				return T_YES;
			break;
		case VX_OP_STARTS_WITH:
			if (len >= v->len && bytes_eq(s, v->s, v->len, c->ci))
				return T_YES;
			break;
		case VX_OP_ENDS_WITH:
			if (len >= v->len &&
			    bytes_eq(s + len - v->len, v->s, v->len, c->ci))
				return T_YES;
			break;
		case VX_OP_MATCHES:
			/*
			 * Another value may still match; if none does, a
			 * budget that ran out leaves the test undecided.
			 */
			rc = vxe_regex_match(v->u.re, s, len);
			if (rc == VXE_RX_YES)
				return T_YES;
			if (rc == VXE_RX_ENOMEM)
				return T_ERR;
			if (rc == VXE_RX_UNDECIDED)
				undecided = true;
			break;
		default:
			return T_NA;
		}
	}
	return undecided ? T_NA : T_NO;
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
	vx_eval_attr a;
	int r;

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
	format_int(st, (int64_t)((x * 0x2545F4914F6CDD1Du) >> 33) % 10000 + 1);
}

/*
 * The stickiness value a rollout buckets by (see eval.h, "Rollouts and
 * splits"). false only for a named attribute the context lacks.
 */
static bool
stick_value(const vx_eval_ctx *ctx, const struct vxe_rollout *ro, struct stick *st)
{
	static const struct vxe_attr_ref session[] = {
	    {"session_id", VXE_SLOT_CUSTOM},
	    {"sessionId", VXE_SLOT_CUSTOM},
	};

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

/* Unleash's normalised bucket, from the precomputed "<group>:" state. */
static uint32_t
bucket(const struct vxe_rollout *ro, const struct stick *st, int which,
    uint32_t modulus)
{
	struct vxe_mm3 h = ro->prefix[which];

	vxe_mm3_update(&h, st->s, st->len);
	return vxe_mm3_final(&h) % modulus + 1;
}

/*
 * Does the rule apply to this context? On T_YES, *variant is what it serves
 * and res has its buckets.
 */
static int
rule_applies(const struct vxe_rule *r, const vx_eval_ctx *ctx,
    uint32_t *variant, vx_eval_result *res)
{
	struct stick st;
	bool have_stick = false;
	uint32_t b;

	for (size_t i = 0; i < r->nconds; i++) {
		int t = cond_holds(&r->conds[i], ctx);

		if (t != T_YES)
			return t;
	}
	/* 100% lets everyone in without hashing. */
	if (r->ro.enabled && r->ro.pct < 100) {
		if (!stick_value(ctx, &r->ro, &st))
			return T_NO;
		have_stick = true;
		b = bucket(&r->ro, &st, VXE_HASH_ROLLOUT, 100);
		if (b > r->ro.pct)
			return T_NO;
		res->bucket = b;
	}
	if (r->nsplits == 0) {
		*variant = r->variant;
		return T_YES;
	}
	if (r->split_own) {
		if (!stick_value(ctx, &r->split_ro, &st))
			return T_NO;
	} else if (!have_stick && !stick_value(ctx, &r->ro, &st)) {
		return T_NO;
	}
	if (r->split_flagd) {
		/* Hashed whole here, so rollouts keep no third prefix state. */
		struct vxe_mm3 h;
		vxe_mm3_init(&h, 0);
		vxe_mm3_update(&h, r->split_ro.group, strlen(r->split_ro.group));
		vxe_mm3_update(&h, st.s, st.len);
		/* flagd's 0..total-1, shifted to the 1..total of "cum >= b". */
		b = (uint32_t)(((uint64_t)vxe_mm3_final(&h) * r->total_weight) >> 32) + 1;
	} else {
		b = bucket(&r->split_ro, &st, VXE_HASH_VARIANT, r->total_weight);
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
	uint32_t b;

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
		uint32_t variant = 0;
		int t;

		if (!r->enabled)
			continue;
		t = rule_applies(r, ctx, &variant, res);
		if (t == T_NO) {
			/* A rule that was not taken must not leave buckets. */
			res->bucket = res->split_bucket = 0;
			continue;
		}
		res->rule = r->src_index;
		res->rule_id = r->id;
		if (t == T_ERR) {
			res->bucket = res->split_bucket = 0;
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
	if (!stick_value(ctx, &f->ro, &st)) {
		serve(f, f->off, VX_REASON_DEFAULT, res);
		return VX_EVAL_OK;
	}
	b = bucket(&f->ro, &st, VXE_HASH_ROLLOUT, 100);
	res->bucket = b;
	if (b <= f->ro.pct)
		serve(f, f->def, VX_REASON_SPLIT, res);
	else
		serve(f, f->off, VX_REASON_DEFAULT, res);
	return VX_EVAL_OK;
}
