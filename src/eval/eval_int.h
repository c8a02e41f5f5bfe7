/*
 * eval_int.h: the engine's private types, shared by its .c files.
 *
 * This is the compiled form. compile.c builds it, and evaluate.c only ever
 * reads it. Everything a compiled flag points to lives in the flag's single
 * allocation, except the compiled patterns, which PCRE2 allocates. The
 * value parsers (parse.c) serve both sides: compile-time parsing of rule
 * values, and evaluation-time parsing of context attributes, which must not
 * allocate. Symbols shared between the engine's files carry the vxe_
 * prefix. They are not part of the API.
 */
#ifndef VX_EVAL_EVAL_INT_H
#define VX_EVAL_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "eval.h"

/*
 * Well-known attributes are resolved to a slot at compile time, so
 * evaluation reads a struct field instead of comparing names.
 */
enum vxe_slot {
	VXE_SLOT_CUSTOM,
	VXE_SLOT_USER_ID,
	VXE_SLOT_EMAIL,
	VXE_SLOT_COUNTRY,
	VXE_SLOT_IP,
	VXE_SLOT_GROUPS
};

struct vxe_attr_ref {
	const char *name;
	int slot; /* enum vxe_slot */
};

/* The slot for an attribute name; VXE_SLOT_CUSTOM if not well-known. */
int
vxe_slot_for(const char *name);

/* A parsed semantic version. pre points into the string it came from. */
struct vxe_semver {
	uint64_t major, minor, patch;
	const char *pre; /* pre-release identifiers, without the '-' */
	size_t prelen;	 /* 0: no pre-release */
};

/* An instant: seconds since the Unix epoch, UTC, and nanoseconds. */
struct vxe_time {
	int64_t sec;
	int32_t nsec;
};

/* An address or prefix. IPv4-mapped IPv6 is stored as IPv4. */
struct vxe_cidr {
	uint8_t family; /* 4 or 6 */
	uint8_t bits;	/* prefix length */
	uint8_t addr[16];
};

/* One condition value, pre-parsed for its operator. */
struct vxe_value {
	const char *s; /* the text, ASCII-folded when case-insensitive */
	uint32_t len;  /* a request is far smaller than 4 GiB */
	/* For equals/in against number and bool attributes (u.num). */
	bool has_num;
	int8_t boolv; /* 1 true, 0 false, -1 not a bool */
	bool jit;     /* u.re has JIT code (vxe_regex.jit_size > 0) */
	union {
		double num;
		struct vxe_semver sv;
		struct vxe_time t;
		struct vxe_cidr cidr;
		const pcre2_code *re;
	} u;
};

struct vxe_cond {
	struct vxe_attr_ref attr;
	int op;
	bool negate;
	bool ci;
	bool missing; /* the condition's value when the attribute is missing */
	bool loose;   /* semver_*: vxe_parse_semver_loose() on the attribute */
	const struct vxe_value *values;
	size_t nvalues;
};

/* Incremental MurmurHash3 x86_32, so a bucket input is never assembled. */
struct vxe_mm3 {
	uint32_t h;
	uint32_t carry;
	uint32_t total;
	unsigned ncarry;
};

enum { VXE_HASH_ROLLOUT, VXE_HASH_VARIANT };

/*
 * Where a rollout's stickiness value comes from: one attribute; Unleash's
 * `default` chain (user_id, then session_id or sessionId, then a random
 * value); or a random value per evaluation.
 */
enum vxe_stick_mode { VXE_STICK_ATTR, VXE_STICK_DEFAULT, VXE_STICK_RANDOM };

struct vxe_rollout {
	bool enabled;
	uint32_t pct;
	uint8_t stick_mode;        /* enum vxe_stick_mode */
	struct vxe_attr_ref stick; /* the attribute, or user_id for DEFAULT */
	const char *group;
	/*
	 * The hash state after "<group>:", one per seed (VXE_HASH_*). A
	 * bucket then only hashes the stickiness value.
	 */
	struct vxe_mm3 prefix[2];
};

struct vxe_split {
	uint32_t variant;
	uint32_t cum; /* running total of weights up to this entry */
};

/*
 * A rule. The fields evaluate.c reads for every rule come first, so a
 * rule whose conditions fail is read from its first 32 bytes.
 */
struct vxe_rule {
	bool enabled;
	/*
	 * The rule has a rollout under 100% or a split, so a context its
	 * conditions let in is still to be bucketed. Without one, it serves
	 * `variant` to everyone they let in.
	 */
	bool hashes;
	/*
	 * ro buckets a context as the environment rollout does (the same
	 * stickiness and group), so a bucket it computes from an attribute is
	 * the environment's too.
	 */
	bool ro_env;
	bool split_own;   /* split_ro differs from ro */
	bool split_flagd; /* flagd's fractional bucketing */
	int32_t src_index;
	uint32_t variant;
	const struct vxe_cond *conds;
	size_t nconds;
	const char *id;
	int32_t priority;
	uint32_t order;
	struct vxe_rollout ro;
	/*
	 * The split's stickiness and group: &ro, or (split_own) a rollout of
	 * the flag's own block, kept out of the rule so that the many rules
	 * without a split of their own stay small.
	 */
	const struct vxe_rollout *split_ro;
	const struct vxe_split *splits;
	size_t nsplits;
	uint32_t total_weight;
};

struct vxe_variant {
	const char *key;
	const char *value;
};

/*
 * A prerequisite. parent is NULL until vx_eval_flag_link() sets it, and
 * stays NULL for a parent the set does not hold; such a prerequisite always
 * fails. vidx[i] is the parent's index of variant vkeys[i], or -1.
 */
struct vxe_prereq {
	const char *key;
	const vx_eval_flag *parent;
	bool when_off;
	const char **vkeys;
	int32_t *vidx;
	size_t nvariants;
};

/* A compiled flag. What every evaluation reads comes first. */
struct vx_eval_flag {
	bool enabled;
	bool broken;   /* vx_eval_flag_src.broken (then enabled is false) */
	bool any_rule; /* some rule is enabled */
	uint32_t def;
	uint32_t off;
	struct vxe_variant *variants;
	struct vxe_rule *rules;	     /* sorted into evaluation order */
	size_t nrules;
	struct vxe_prereq *prereqs; /* in source order */
	size_t nprereqs;
	struct vxe_rollout ro; /* environment rollout; always enabled */
	const char *key;
	int type;
	size_t nvariants;
	struct vxe_rx **regexes; /* nregex shared patterns, for vxe_regex_release() */
	size_t nregex;
	/*
	 * Set by vx_eval_flag_link() (at compile when there is nothing to
	 * link): depth is the longest chain of parents above the flag, and
	 * evals how many flags one evaluation of it may evaluate, itself
	 * included. Linking only to linked parents keeps the graph acyclic.
	 */
	bool linked;
	uint32_t depth;
	uint32_t evals;
};

void
vxe_mm3_init(struct vxe_mm3 *st, uint32_t seed);
void
vxe_mm3_update(struct vxe_mm3 *st, const void *data, size_t len);
uint32_t
vxe_mm3_final(const struct vxe_mm3 *st);

/* MurmurHash3 x86_32's pieces, inline for the hot path's bucket. */
static inline uint32_t
vxe_mm3_rotl(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static inline uint32_t
vxe_mm3_scramble(uint32_t k)
{
	k *= 0xcc9e2d51u;
	k = vxe_mm3_rotl(k, 15);
	return k * 0x1b873593u;
}

static inline uint32_t
vxe_mm3_mix(uint32_t h, uint32_t k)
{
	h ^= vxe_mm3_scramble(k);
	h = vxe_mm3_rotl(h, 13);
	return h * 5 + 0xe6546b64u;
}

/* Blocks are read little-endian whatever the host's byte order. */
static inline uint32_t
vxe_mm3_load(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint32_t
vxe_mm3_fmix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/*
 * The hash of a prefix state (a rollout's "<group>:") followed by len
 * bytes at data: vxe_mm3_update() then vxe_mm3_final() on a copy, in one
 * pass and without writing the state back.
 */
static inline uint32_t
vxe_mm3_finish(const struct vxe_mm3 *pre, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t h = pre->h;
	uint32_t carry = pre->carry;
	uint32_t total = pre->total + (uint32_t)len;
	unsigned n = pre->ncarry;

	/* Complete the block the prefix left partial (n is 0..3). */
	if (n != 0 && len >= 4 - n) {
		switch (n) {
		case 1:
			carry |= (uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 |
			         (uint32_t)p[2] << 24;
			break;
		case 2: carry |= (uint32_t)p[0] << 16 | (uint32_t)p[1] << 24; break;
		default: carry |= (uint32_t)p[0] << 24; break;
		}
		h = vxe_mm3_mix(h, carry);
		p += 4 - n;
		len -= 4 - n;
		n = 0;
	} else if (n != 0) {
		/* Too short to complete it: all of it goes to the carry. */
		for (; len != 0; n++, len--)
			carry |= (uint32_t)*p++ << (8 * n);
	}
	/* Here len != 0 only when n == 0. */
	if (len != 0) {
		for (; len >= 4; p += 4, len -= 4)
			h = vxe_mm3_mix(h, vxe_mm3_load(p));
		n = (unsigned)len;
		carry = 0;
		switch (len) {
		case 3:
			carry |= (uint32_t)p[2] << 16;
			/* fall through */
		case 2:
			carry |= (uint32_t)p[1] << 8;
			/* fall through */
		case 1: carry |= p[0]; break;
		default: break;
		}
	}
	if (n != 0)
		h ^= vxe_mm3_scramble(carry);
	return vxe_mm3_fmix(h ^ total);
}

/* Parsers: return true on success. None of them allocates. */
bool
vxe_parse_number(const char *s, double *out);
bool
vxe_parse_semver(const char *s, struct vxe_semver *out);
/* flagd's sem_ver reading (flagd-core's normalizeVersion): a leading v or
 * V dropped, then strict SemVer, or "M" or "M.m" as M.0.0 and M.m.0. */
bool vxe_parse_semver_loose(const char *s, struct vxe_semver *out);
int
vxe_semver_cmp(const struct vxe_semver *a, const struct vxe_semver *b);
bool
vxe_parse_rfc3339(const char *s, struct vxe_time *out);
bool
vxe_time_from_unix(double secs, struct vxe_time *out);
int
vxe_time_cmp(const struct vxe_time *a, const struct vxe_time *b);
bool
vxe_parse_cidr(const char *s, struct vxe_cidr *out);
bool
vxe_parse_ip(const char *s, struct vxe_cidr *out);
bool
vxe_cidr_contains(const struct vxe_cidr *net, const struct vxe_cidr *ip);
bool
vxe_json_number_valid(const char *s);
bool
vxe_json_string_valid(const char *s);

/* A shared compiled pattern, a reference-counted entry of regex.c's cache. */
struct vxe_rx;

/* A compiled `matches` pattern and what it costs to keep. */
struct vxe_regex {
	struct vxe_rx *rx; /* the reference, for vxe_regex_release() */
	pcre2_code *re;    /* rx's compiled pattern, read-only */
	size_t size;       /* PCRE2_INFO_SIZE: the compiled pattern, bytes */
	size_t jit_size;   /* PCRE2_INFO_JITSIZE, or 0 without JIT */
};

/*
 * Compile a `matches` pattern (regex.c), or take it from the cache of
 * compiled patterns, keyed by (pattern, caseless). Refuses a pattern longer
 * than VX_EVAL_PATTERN_MAX_LEN or one PCRE2 cannot compile, writing why
 * into why, to follow the pattern in a message ("does not compile at
 * offset 5: missing closing parenthesis"). Gives JIT code when JIT works
 * and its code fits in jit_room bytes; otherwise the pattern runs
 * interpreted. On success the caller holds a reference to out->rx and
 * drops it with vxe_regex_release(); out->re lives as long as it. Thread
 * safe. Returns VX_EVAL_OK, VX_EVAL_EINVAL or VX_EVAL_ENOMEM.
 */
int vxe_regex_compile(const char *pattern, bool caseless, size_t jit_room,
    struct vxe_regex *out, char *why, size_t whylen);

/*
 * Drop a reference taken by vxe_regex_compile(). The last one makes the
 * entry idle: kept for the next compile of the same pattern while the cache
 * is within its bounds, evicted least recently released first. NULL is a
 * no-op.
 */
void vxe_regex_release(struct vxe_rx *rx);

/* What the cache holds and has done, for tests and benchmarks. */
struct vxe_regex_cache_stats {
	size_t entries; /* in use and idle */
	size_t idle;    /* no reference: evictable */
	size_t bytes;   /* entries' cost: compiled size, JIT code, key */
	uint64_t hits, misses, evictions;
};

void vxe_regex_cache_stats(struct vxe_regex_cache_stats *out);

/*
 * Bound the cache to entries entries and bytes bytes (tests: the defaults
 * are regex.c's RX_CACHE_ENTRIES and RX_CACHE_BYTES). Idle entries past the
 * new bounds go at once; entries in use stay whatever the bounds.
 */
void vxe_regex_cache_limit(size_t entries, size_t bytes);

/* vxe_regex_match() outcomes. */
enum {
	VXE_RX_ENOMEM = -2,    /* no memory for this thread's match data */
	VXE_RX_UNDECIDED = -1, /* the match ran out of its budget (counted) */
	VXE_RX_NO = 0,
	VXE_RX_YES = 1
};

/*
 * Search s (len bytes) for re under the match budget. jit says that re has
 * JIT code (vxe_regex.jit_size > 0), which is then called directly. Safe to
 * call from any number of threads on the same re; allocates only on a
 * thread's first call (its match data) and when PCRE2's cached frames must
 * grow.
 */
int vxe_regex_match(const pcre2_code *re, bool jit, const char *s, size_t len);

/* ASCII-only folding: locale-independent and the same on every host. */
static inline unsigned char
vxe_fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

#endif /* VX_EVAL_EVAL_INT_H */
