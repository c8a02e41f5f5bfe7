/*
 * eval.h: Vexil's flag evaluation engine.
 *
 * This engine decides what one flag serves to one context. It is linked into
 * vexild and into libvexil for local evaluation, so there is only one engine.
 * It knows nothing about protobuf, storage or the network. A caller describes
 * a flag's configuration for one environment in plain C structs (the "source"
 * form, vx_eval_flag_src), compiles it once per revision with
 * vx_eval_compile(), and then evaluates the compiled vx_eval_flag as often as
 * it likes. Compilation does all the work that can fail or allocate: it
 * copies strings, sorts rules, compiles regular expressions, and parses
 * numbers, semantic versions, RFC 3339 timestamps and CIDR blocks.
 * Evaluation does no I/O and no allocation per call. (`matches` allocates
 * one PCRE2 match data block per thread, the first time that thread
 * matches, and keeps it; see "Threads" below.)
 *
 * Evaluation follows DESIGN.md, "Evaluation semantics":
 *
 *  1. No flag (f == NULL): reason VX_REASON_FLAG_NOT_FOUND.
 *  2. The flag is disabled: the off variant, reason VX_REASON_DISABLED.
 *  2a. Its prerequisites, in order (see "Prerequisites" below). The first
 *     that fails serves the off variant, reason
 *     VX_REASON_PREREQUISITE_FAILED, with res->prereq naming the parent.
 *  3. The enabled rules, highest priority first and ties by `order` (then
 *     by position in the source array). The first rule whose conditions all
 *     hold, and whose own rollout (if it has one) lets the user in, serves
 *     its variant or split: reason VX_REASON_TARGETING_MATCH.
 *  4. Otherwise the environment's rollout decides. At 100% everyone gets
 *     the default variant without hashing: reason VX_REASON_STATIC when the
 *     flag has no enabled rule and no prerequisite (its answer is the same
 *     for every context), else VX_REASON_SPLIT. Below 100% the bucket is
 *     vx_eval_bucket(group, stickiness value, 0, 100), which is Unleash's
 *     normalizedValue(): murmur3_x86_32("<group>:<value>", 0) % 100 + 1.
 *     The group is the flag key unless set. When bucket <= percentage the
 *     default variant is served, reason VX_REASON_SPLIT. Otherwise, or when
 *     a named stickiness attribute is missing, the off variant is served,
 *     reason VX_REASON_DEFAULT.
 *
 * Rollouts and splits:
 *
 *  - Stickiness names where the value to hash comes from. NULL or
 *    "default" is Unleash's default stickiness: user_id, else the custom
 *    attribute session_id (or sessionId, as OpenFeature contexts spell
 *    it), else a random value. "random" is a random value per evaluation.
 *    Any other name is that attribute alone. A random value is what
 *    Unleash's randomGenerator() makes: a decimal number in 1..10000,
 *    hashed like any other, drawn from a per-thread generator (no lock, no
 *    I/O, no allocation).
 *  - A rollout of 100% lets everyone in without hashing, for rules too.
 *  - A stickiness value is a non-empty string attribute. An integral number
 *    attribute (|n| < 2^53) counts too, formatted in decimal as JavaScript
 *    would ("42"), and so does a bool ("true" or "false"). Anything else, or
 *    an empty string, is no value: under the default stickiness evaluation
 *    falls back along its chain; under a named attribute the user is out
 *    of that rollout.
 *  - A weighted split hashes the same input with seed VX_EVAL_VARIANT_SEED
 *    and takes bucket = hash % total_weight + 1. It serves the first entry
 *    whose cumulative weight is >= bucket. This is Unleash's
 *    selectVariantDefinition(). Weights are relative. Give weights in basis
 *    points (a total of 10000) for the design's 10000 buckets. Keep
 *    Unleash's own weights (a total of 1000) so that imported users keep
 *    their buckets; scaling them to 10000 would move users.
 *  - A split uses its own stickiness and group when the rule gives them
 *    (split_stickiness, split_group_id; each NULL falls back on its own),
 *    else the rule's rollout stickiness and group (the rollout settings
 *    apply even when the rollout is not enabled), or the default
 *    stickiness and the flag key. So a rule can admit 25% of accounts and
 *    split them by user.
 *  - A split with split_flagd buckets as flagd's `fractional` does:
 *    h = MurmurHash3 x86_32, seed 0, of "<group><value>" (no separator;
 *    flagd's default is the flag key then the targeting key), bucket =
 *    (h * total_weight) >> 32 in 0..total-1, and it serves the first entry
 *    whose cumulative weight is > bucket. res->split_bucket is bucket + 1.
 *    A context with no value for a named
 *    stickiness attribute cannot be bucketed, so the rule does not apply,
 *    and evaluation moves on to the next rule.
 *
 * Conditions:
 *
 *  - A condition holds when the attribute matches ANY of its values. So
 *    `equals` with several values is `in`. A condition must have at least
 *    one value.
 *  - A list attribute (`groups`, or a custom list) holds when ANY element
 *    holds. For `contains`, an element holds when it equals a value, which
 *    is list membership. For a string attribute, `contains` is a substring
 *    test.
 *  - `negate` inverts a comparison that could be made. A condition that
 *    cannot be made is false, with or without negate. That is the case for
 *    a missing attribute, an attribute of the wrong type (e.g. a bool with
 *    `starts_with`), and an attribute that does not parse (e.g. "banana"
 *    with `semver_gt`). So "country not in [US]" does not match a context
 *    with no country. `missing` changes the first case only: a condition
 *    with missing set holds when the context lacks the attribute (negate
 *    does not apply), which is Unleash's meaning for NOT_IN and its
 *    inverted operators. A wrong type or an unparseable value stays false.
 *  - Types: the string operators take string attributes. `equals`/`in` also
 *    compare number attributes numerically with values that parse as
 *    numbers, and bool attributes with the values "true"/"false".
 *    `lt`..`gte` and `num_eq` take numbers, or strings that parse as
 *    decimal numbers (contexts from OFREP and SDKs often carry numbers as
 *    text), so "12.0" num_eq 12 holds while "12.0" equals "12" does not.
 *    `semver_*` take strict SemVer 2.0.0 strings (no leading "v").
 *    `before`/`after` take RFC 3339 strings, or numbers as Unix seconds.
 *    `cidr` takes an IPv4 or IPv6 address string.
 *  - `case_insensitive` folds ASCII letters for `equals`, `in`, `contains`,
 *    `starts_with` and `ends_with`. For `matches` it is PCRE2_CASELESS,
 *    which folds Unicode letters too, like (?i) or JavaScript's /iu. The
 *    other operators ignore it.
 *  - `matches` is a PCRE2 regular expression in UTF-8 mode, written as in
 *    JavaScript and Unleash: \d, \w and \s (ASCII classes, as in
 *    JavaScript), \b, lookaround, (?<name>...), \uhhhh and \u{h...}; plus
 *    PCRE2's inline flags such as (?i). `$` matches only at the very end,
 *    and `[^]` is any character. It is unanchored (a search); anchor it
 *    with ^ and $ yourself. A subject that is not valid UTF-8 is still
 *    searched; an ill-formed sequence matches nothing.
 *  - Rule authors are not trusted with the reader's memory. Compile refuses
 *    a pattern PCRE2 cannot compile (the message gives PCRE2's offset and
 *    reason), one over VX_EVAL_PATTERN_MAX_LEN bytes, groups nested over
 *    64 deep, and patterns whose compiled sizes (PCRE2_INFO_SIZE) add up to
 *    more than VX_EVAL_REGEX_COND_BYTES in one condition,
 *    VX_EVAL_REGEX_RULE_BYTES in one rule or VX_EVAL_REGEX_FLAG_BYTES in
 *    the flag, or more than VX_EVAL_REGEX_FLAG_PATTERNS patterns in the
 *    flag. The message names the rule and condition at fault.
 *  - Contexts are not trusted with the evaluator's time. Every match runs
 *    under a budget (VX_EVAL_MATCH_LIMIT, VX_EVAL_MATCH_DEPTH_LIMIT,
 *    VX_EVAL_MATCH_HEAP_LIMIT_KIB). A match that runs out of it does not
 *    match, and is counted (vx_eval_match_budget_exhausted()): when no
 *    other value of the condition matches, the condition cannot be made,
 *    so it is false with or without negate. An attribute value longer than
 *    VX_EVAL_MATCH_MAX_LEN bytes is not searched, and the condition is
 *    false.
 *  - `semver_eq` compares precedence, so build metadata is ignored:
 *    1.0.0+a equals 1.0.0+b.
 *  - `before`: the attribute is earlier than the value; `after`: later.
 *    A bare full-date ("2025-01-31") in a value or attribute means midnight
 *    UTC. A leap second (:60) is accepted.
 *  - `cidr` values are "addr/len" or a bare address (a host route). Host bits
 *    are masked off. IPv4 prefixes match IPv4 addresses, including
 *    IPv4-mapped IPv6 ones (::ffff:a.b.c.d). IPv6 prefixes match other IPv6
 *    addresses.
 *
 * Prerequisites:
 *
 *  - A flag may require other flags of its set (its project, in the same
 *    environment): Unleash's dependent features, LaunchDarkly's
 *    prerequisites. Each prerequisite names a parent and what it must do.
 *    By default the parent must be on, that is, served with reason
 *    TARGETING_MATCH, SPLIT or STATIC (a rule or the rollout let the
 *    context in); with variants listed, it must also serve one of them.
 *    With when_off, the parent must be off: DISABLED, DEFAULT (rolled
 *    out) or PREREQUISITE_FAILED. A parent that is missing from the set,
 *    or that evaluates with ERROR, fails the prerequisite either way.
 *  - The parent is evaluated in full with the same context, its own
 *    prerequisites first; a prerequisite holds or fails for the child
 *    only, and the parent's result is not reported.
 *  - Prerequisites are resolved after every flag of the set is compiled,
 *    by vx_eval_flag_link(), parents before children. Linking refuses a
 *    parent that is not yet linked, so a linked graph has no cycle, and
 *    bounds the chain above a flag to VX_EVAL_PREREQ_MAX_DEPTH parents and
 *    the flags one evaluation can reach to VX_EVAL_PREREQ_MAX_EVALS (a
 *    parent reached along two paths counts twice, because it is evaluated
 *    twice). A flag that is never linked fails each of its prerequisites.
 *
 * Threads: a compiled flag is immutable once linked. Any number of threads may evaluate
 * it at once. Each thread that evaluates a `matches` condition gets its own
 * PCRE2 match data on its first match (a few hundred bytes, plus the
 * interpreter's backtracking frames, at most VX_EVAL_MATCH_HEAP_LIMIT_KIB),
 * freed when the thread exits. JIT-compiled patterns run on PCRE2's
 * default 32 KiB JIT stack, on the calling thread's own stack. A flag must
 * not be freed while an evaluation is in progress.
 *
 * Numbers are parsed with strtod(), so LC_NUMERIC must be "C" (the default
 * unless the program calls setlocale()).
 */
#ifndef VX_EVAL_EVAL_H
#define VX_EVAL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The context and result types and the reasons: part of libvexil's
 * public headers (clients/c/include), since local evaluation takes and
 * gives them. */
#include "vexil/context.h"

/* Status codes, returned by every function below that reports success. */
#define VX_EVAL_OK 0
#define VX_EVAL_EINVAL (-1)	/* bad input; compile writes why into err */
#define VX_EVAL_ENOMEM (-2)	/* allocation failed */
#define VX_EVAL_ENOTFOUND (-3) /* no such flag, attribute or name */

/*
 * `matches`: the longest attribute value it will search. With the budget
 * below this is not needed for safety, but a longer subject only spends
 * the budget, and no flag targets users by kilobytes of text.
 */
#define VX_EVAL_MATCH_MAX_LEN 1024

/*
 * `matches`: the budget of every match (pcre2_set_match_limit,
 * pcre2_set_depth_limit, pcre2_set_heap_limit). A catastrophic pattern
 * such as (a+)+$ against 1 KB of "a"s runs out in about 2.5 ms interpreted
 * and 0.4 ms with JIT; ordinary patterns use a few hundred steps.
 */
#define VX_EVAL_MATCH_LIMIT 100000
#define VX_EVAL_MATCH_DEPTH_LIMIT 2000
#define VX_EVAL_MATCH_HEAP_LIMIT_KIB 256

/*
 * `matches`: bounds on what a flag's patterns may cost to keep. A pattern's
 * source is at most VX_EVAL_PATTERN_MAX_LEN bytes. Compiled sizes
 * (PCRE2_INFO_SIZE, about 150 bytes plus the pattern; repeated groups are
 * copied, so "(a{999}){999}" is 12 KB) add up per condition, per rule and
 * per compiled flag (one environment). JIT code is capped per flag too;
 * patterns past that cap run interpreted rather than being refused, so
 * what is accepted does not depend on whether the host has JIT.
 */
#define VX_EVAL_PATTERN_MAX_LEN 1024
#define VX_EVAL_REGEX_COND_BYTES (16 * 1024)
#define VX_EVAL_REGEX_RULE_BYTES (32 * 1024)
#define VX_EVAL_REGEX_FLAG_BYTES (64 * 1024)
#define VX_EVAL_REGEX_FLAG_PATTERNS 100
#define VX_EVAL_REGEX_FLAG_JIT (1024 * 1024)

/*
 * Prerequisites: at most VX_EVAL_PREREQ_MAX per flag, chains at most
 * VX_EVAL_PREREQ_MAX_DEPTH parents deep, and at most
 * VX_EVAL_PREREQ_MAX_EVALS flag evaluations per evaluation, the flag's own
 * included. A chain of depth 3 costs four flag evaluations.
 */
#define VX_EVAL_PREREQ_MAX 16
#define VX_EVAL_PREREQ_MAX_DEPTH 8
#define VX_EVAL_PREREQ_MAX_EVALS 64

/* Hash seeds from Unleash: the rollout (normalizedValue) and variant seeds. */
#define VX_EVAL_ROLLOUT_SEED 0u
#define VX_EVAL_VARIANT_SEED 86028157u

#define VX_EVAL_WUR __attribute__((warn_unused_result))

/* Condition operators. vx_op_name() gives each one's snake_case name. */
enum vx_op {
	VX_OP_EQUALS,
	VX_OP_IN,
	VX_OP_CONTAINS,
	VX_OP_STARTS_WITH,
	VX_OP_ENDS_WITH,
	VX_OP_MATCHES,
	VX_OP_LT,
	VX_OP_LTE,
	VX_OP_GT,
	VX_OP_GTE,
	VX_OP_SEMVER_EQ,
	VX_OP_SEMVER_LT,
	VX_OP_SEMVER_GT,
	VX_OP_BEFORE,
	VX_OP_AFTER,
	VX_OP_CIDR,
	VX_OP_NUM_EQ, /* numeric equality: "12.0" num_eq 12 */
	VX_OP_COUNT_  /* not an operator */
};

/* Flag value types. They decide how variant values are validated. */
enum vx_flag_type {
	VX_FLAG_BOOL,	/* values are exactly `true` or `false` */
	VX_FLAG_STRING, /* values are JSON strings, quotes included */
	VX_FLAG_NUMBER, /* values are JSON numbers */
	VX_FLAG_JSON	/* any JSON text; not validated here */
};

/*
 * Source form. The caller owns all of it, and vx_eval_compile() copies what
 * it needs, so it may be freed as soon as compile returns.
 */

/* One condition: `attribute op values[]`, optionally negated. */
typedef struct vx_eval_condition_src {
	const char *attribute;	    /* context attribute name, non-empty */
	int op;			    /* enum vx_op */
	const char *const *values;  /* nvalues non-NULL strings */
	size_t nvalues;		    /* at least 1 */
	bool negate;		    /* invert (see "Conditions" above) */
	bool case_insensitive;	    /* ASCII folding for string ops */
	bool missing;               /* holds when the attribute is missing */
	bool loose_semver;          /* semver_*: flagd's lenient versions */
} vx_eval_condition_src;

/* A rollout: a percentage of the users, bucketed by a stickiness value. */
typedef struct vx_eval_rollout_src {
	bool enabled;	      /* rules: false means no rollout */
	uint32_t percentage;  /* 0..100 */
	const char *stickiness; /* NULL or "default", "random", or an attribute */
	const char *group_id;	/* hash group; NULL means the flag key */
} vx_eval_rollout_src;

/* One entry of a weighted split. */
typedef struct vx_eval_split_src {
	uint32_t variant; /* index into the flag's variants */
	uint32_t weight;  /* relative; 0 is allowed and never served */
} vx_eval_split_src;

/* A targeting rule. */
typedef struct vx_eval_rule_src {
	const char *id;	   /* optional (NULL); copied, reported in results */
	int32_t priority;  /* higher is evaluated first */
	bool enabled;	   /* disabled rules are compiled but never match */
	uint32_t order;	   /* creation order; breaks priority ties, lower first */
	const vx_eval_condition_src *conditions; /* all must hold */
	size_t nconditions;			 /* 0 means always holds */
	vx_eval_rollout_src rollout;
	uint32_t variant; /* served when nsplits == 0 */
	const vx_eval_split_src *splits; /* weighted split, if nsplits > 0 */
	size_t nsplits;
	/* The split's own stickiness and group; NULL: the rollout's. */
	const char *split_stickiness;
	const char *split_group_id;
	/*
	 * flagd's fractional bucketing for the split, instead of Unleash's:
	 * see "Rollouts and splits". split_stickiness must then name an
	 * attribute, and split_group_id is the hash prefix as it is ("" for
	 * none; NULL: the flag key).
	 */
	bool split_flagd;
} vx_eval_rule_src;

/*
 * A prerequisite: the parent flag `flag` must be on (and serve one of
 * `variants`, when there are any), or, with when_off, be off.
 */
typedef struct vx_eval_prereq_src {
	const char *flag;            /* the parent's key; not the flag's own */
	bool when_off;               /* the parent must be off */
	const char *const *variants; /* parent variant keys; only without when_off */
	size_t nvariants;            /* 0: any variant */
} vx_eval_prereq_src;

/* A variant: a key and its value as JSON text (e.g. `true`, `"blue"`). */
typedef struct vx_eval_variant_src {
	const char *key;   /* unique within the flag */
	const char *value; /* JSON text matching the flag's type */
} vx_eval_variant_src;

/* A flag's configuration in one environment. */
typedef struct vx_eval_flag_src {
	const char *key; /* non-empty; the default hash group */
	int type;	 /* enum vx_flag_type */
	const vx_eval_variant_src *variants;
	size_t nvariants;	  /* at least 1 */
	bool enabled;		  /* in this environment */
	/*
	 * A stored configuration that no longer compiles (say, a pattern
	 * an older engine accepted): every evaluation serves the off
	 * variant with reason VX_REASON_ERROR, and rules are ignored. It
	 * keeps one bad flag from taking its whole environment down.
	 */
	bool broken;
	uint32_t default_variant; /* served by the rollout */
	uint32_t off_variant;	  /* served when disabled or rolled out */
	uint32_t rollout_percentage; /* 0..100 */
	const char *stickiness;      /* as in vx_eval_rollout_src */
	const char *group_id;	     /* NULL means the flag key */
	const vx_eval_rule_src *rules;
	size_t nrules;
	const vx_eval_prereq_src *prereqs; /* checked in this order */
	size_t nprereqs;                   /* 0..VX_EVAL_PREREQ_MAX */
} vx_eval_flag_src;

/* The evaluation context (vx_eval_attr, vx_eval_ctx), the result
 * (vx_eval_result), the reasons and vx_eval_reason_name() are in
 * vexil/context.h, included above: libvexil's public headers use them. */

/* A compiled flag. Opaque. */
typedef struct vx_eval_flag vx_eval_flag;

/*
 * Compile a flag.
 *
 * Validates src and builds a self-contained compiled form in one allocation,
 * plus what PCRE2 allocates for each `matches` pattern (bounded: see
 * "Conditions" above).
 *
 * @param[in]  src    the flag's configuration. Only read; the caller keeps
 *                    ownership and may free it once this returns.
 * @param[out] out    on success, the compiled flag, which the caller frees
 *                    with vx_eval_flag_free(). Set to NULL on failure.
 * @param[out] err    if not NULL, on VX_EVAL_EINVAL receives a
 *                    NUL-terminated message naming the problem (the rule,
 *                    condition and value at fault), truncated to errlen.
 *                    Set to "" on success.
 * @param[in]  errlen size of err in bytes.
 * @return VX_EVAL_OK, or:
 *   - VX_EVAL_EINVAL: src or out is NULL, or src is invalid: a NULL
 *     pointer where an array or string is required; an empty key,
 *     attribute or stickiness name; no variants; a NULL or duplicate
 *     variant key; a variant value that does not fit the flag's type; a
 *     variant index out of range; a percentage over 100; an unknown type
 *     or operator; a condition with no values; a value the operator cannot
 *     parse (a number, semver, RFC 3339 date-time or CIDR); a `matches`
 *     pattern PCRE2 cannot compile, or patterns over a bound (see
 *     "Conditions" above); a split
 *     whose weights total 0 or more than UINT32_MAX.
 *   - VX_EVAL_ENOMEM: out of memory.
 */
VX_EVAL_WUR int
vx_eval_compile(const vx_eval_flag_src *src, vx_eval_flag **out, char *err,
    size_t errlen);

/*
 * Link a compiled flag's prerequisites to their parents (see
 * "Prerequisites" above). Call it once per flag after the whole set is
 * compiled, parents first; a flag with no prerequisites needs no call.
 * Parents' variant keys are resolved to indices here; a key the parent
 * does not have is never served, so that prerequisite fails when the
 * parent is on.
 *
 * @param[in,out] f       the flag; it must not be evaluated concurrently.
 * @param[in]     parents vx_eval_flag_prereq_count(f) entries, parents[i]
 *                        for prerequisite i, or NULL when the set has no
 *                        such flag (that prerequisite always fails).
 * @param[out]    err     on VX_EVAL_EINVAL, why, naming the prerequisite.
 * @return VX_EVAL_OK, or VX_EVAL_EINVAL: f is NULL or already linked; a
 *         parent is not linked yet (a cycle, when parents come first); or
 *         the chain would be deeper than VX_EVAL_PREREQ_MAX_DEPTH or cost
 *         more than VX_EVAL_PREREQ_MAX_EVALS evaluations. On EINVAL a
 *         non-NULL f is marked linked and broken: it serves its off
 *         variant with reason VX_REASON_ERROR, and children may link to it.
 */
VX_EVAL_WUR int vx_eval_flag_link(
    vx_eval_flag *f, const vx_eval_flag *const *parents, char *err, size_t errlen);

/* How many prerequisites f has (0 for NULL). */
size_t vx_eval_flag_prereq_count(const vx_eval_flag *f);

/* The parent key of prerequisite i, or NULL when out of range. */
const char *vx_eval_flag_prereq_key(const vx_eval_flag *f, size_t i);

/* Whether f is linked (true for a flag with no prerequisites). */
bool vx_eval_flag_is_linked(const vx_eval_flag *f);

/*
 * Free a compiled flag and everything it owns. NULL is a no-op.
 * Results that point into it become invalid.
 */
void
vx_eval_flag_free(vx_eval_flag *f);

/*
 * Evaluate a compiled flag for a context.
 *
 * Never allocates (apart from a thread's first `matches`, see "Threads"),
 * never does I/O, and always fills res with a reason.
 *
 * @param[in]  f    the compiled flag. NULL means the flag is unknown: res
 *                  gets reason VX_REASON_FLAG_NOT_FOUND and variant -1.
 * @param[in]  ctx  the context. NULL is an empty context.
 * @param[out] res  the result. Required.
 * @return VX_EVAL_OK, or:
 *   - VX_EVAL_ENOTFOUND: f is NULL (res is filled as above).
 *   - VX_EVAL_EINVAL: res is NULL.
 *   - VX_EVAL_ENOMEM: no memory for this thread's match data (or for PCRE2's
 *     backtracking frames, within their heap limit). res gets the off
 *     variant and reason VX_REASON_ERROR, with the rule being tried.
 */
VX_EVAL_WUR int
vx_eval_flag_evaluate(const vx_eval_flag *f, const vx_eval_ctx *ctx,
    vx_eval_result *res);

/* The flag's key, as compiled. Valid until the flag is freed. */
const char *
vx_eval_flag_key(const vx_eval_flag *f);

/* The flag's type (enum vx_flag_type), or VX_EVAL_EINVAL if f is NULL. */
int
vx_eval_flag_type(const vx_eval_flag *f);

/*
 * Whether the flag's answer is fixed: it is enabled, has no enabled rule,
 * no prerequisite, and its rollout is 100%, so every context gets the default variant
 * with reason VX_REASON_STATIC. false for NULL.
 */
bool
vx_eval_flag_is_static(const vx_eval_flag *f);

/*
 * Look up a context attribute by name: one of the well-known fields, or a
 * custom attribute.
 *
 * @param[in]  ctx   the context (NULL is empty).
 * @param[in]  name  the attribute name.
 * @param[out] out   on success, a view of the attribute. Its strings are
 *                   the caller's, from ctx. out->name is `name`.
 * @return VX_EVAL_OK, VX_EVAL_ENOTFOUND if absent, VX_EVAL_EINVAL if name
 *         or out is NULL.
 */
VX_EVAL_WUR int
vx_eval_ctx_get(const vx_eval_ctx *ctx, const char *name, vx_eval_attr *out);

/*
 * Map an operator name ("equals", "starts_with", "semver_lt", ...) to
 * enum vx_op. The match is exact and case-sensitive.
 *
 * @return VX_EVAL_OK and *op set, VX_EVAL_ENOTFOUND for an unknown name,
 *         VX_EVAL_EINVAL if name or op is NULL.
 */
VX_EVAL_WUR int
vx_op_from_string(const char *name, int *op);

/* The snake_case name of an operator, or NULL if op is not one. */
const char *
vx_op_name(int op);

/*
 * How many `matches` searches have run out of their budget in this process
 * since it started, over every flag and thread. Each one was answered as a
 * non-match. A rising count means some rule's pattern backtracks
 * catastrophically on some users' attributes: its author should fix it.
 * A relaxed atomic: cheap to read at any time, from any thread.
 */
uint64_t vx_eval_match_budget_exhausted(void);

/*
 * MurmurHash3 x86_32 of len bytes at data. Matches Austin Appleby's
 * reference (MurmurHash3_x86_32) on every platform.
 */
uint32_t
vx_murmur3_32(const void *data, size_t len, uint32_t seed);

/*
 * Unleash's normalised bucket: murmur3_x86_32("<group>:<stickiness>", seed)
 * % modulus + 1, which is in 1..modulus. The input is hashed in pieces,
 * so strings of any length work without allocating. A NULL string hashes
 * as "". Returns 0 if modulus is 0.
 */
uint32_t
vx_eval_bucket(const char *group, const char *stickiness, uint32_t seed,
    uint32_t modulus);

/*
 * Parses an RFC 3339 time (the form the `before` and `after` operators
 * take: "2026-12-24T09:00:00Z", an offset, or a date alone as midnight UTC)
 * into unix milliseconds. Returns true on success.
 */
bool vx_parse_rfc3339_ms(const char *s, int64_t *out_ms);

#endif /* VX_EVAL_EVAL_H */
