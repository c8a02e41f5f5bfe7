/*
 * regex.c: the `matches` operator on PCRE2, with a bound on what a pattern
 * may cost to keep and a budget on what a match may cost to run.
 *
 * Anyone with a write key chooses the patterns, and anyone who can send a
 * context chooses the subjects, so neither is trusted. Compilation refuses
 * what PCRE2 cannot compile and what is too large (vxe_regex_compile; the
 * caller adds up the sizes per condition, rule and flag). Every match runs
 * under one shared match context whose match, depth and heap limits bound
 * its time and memory. A match that runs out of budget is counted and
 * reported as such, never as an error.
 *
 * The syntax is PCRE2's in UTF mode, set up to read as JavaScript does:
 * \uhhhh and \u{h...} escapes, `$` only at the very end, `[]` and `[^]`
 * allowed. Subjects are not validated: PCRE2_MATCH_INVALID_UTF makes an
 * ill-formed sequence match nothing, instead of failing the match or
 * costing a UTF check on every call.
 *
 * Evaluation allocates nothing per call. pcre2_match() needs a match data
 * block, which also caches the interpreter's backtracking frames; one may
 * not be shared by concurrent matches, and a compiled flag is evaluated by
 * many threads at once. So each thread creates one the first time it
 * matches and keeps it until it exits (a tss destructor frees it). The
 * frames it caches grow at most to the heap limit. JIT code runs on its
 * default 32 KiB stack, taken from the calling thread's stack.
 *
 * Compiled patterns are shared. Compiling one (above all JIT-compiling it)
 * costs microseconds, and a flag set is recompiled whole after every change
 * in its environment, where most patterns did not change. So a process-wide
 * cache keyed by (pattern bytes, caseless, with or without JIT) holds each
 * compiled pattern once, with a count of the compiled flags that use it;
 * vxe_regex_compile() takes a reference and vxe_regex_release() drops it.
 * A pattern is read-only once compiled, so any number of flags and threads
 * may match with it at once. An entry nobody uses stays, idle, for the next
 * compile, but only while the whole cache is within RX_CACHE_ENTRIES
 * entries and RX_CACHE_BYTES bytes: past that, idle entries go, least
 * recently released first. Entries in use are never evicted (their flags
 * need them, and they cost the same whether the cache lists them or not).
 * One mutex guards the table; compilation runs outside it, and of two
 * threads that compile the same pattern at once, the second to finish
 * frees its copy and takes the first's.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "eval_int.h"

/* Compile options: PCRE2 read as JavaScript reads a pattern. */
#define RX_OPTIONS                                                                       \
	(PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_BSUX |                          \
	    PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C)

/* Groups may nest this deep; PCRE2's default is 250. */
#define RX_NEST_MAX 64

/* Idle entries are kept while the cache is within these (see above). */
#define RX_CACHE_ENTRIES 1024
#define RX_CACHE_BYTES (8u * 1024 * 1024)
#define RX_CACHE_MIN_BUCKETS 256

/* A shared compiled pattern: one cache entry. */
struct vxe_rx {
	struct vxe_rx *hnext;       /* hash chain; a victims list once evicted */
	struct vxe_rx *prev, *next; /* idle list, while refs == 0 */
	pcre2_code *re;
	size_t size;     /* PCRE2_INFO_SIZE */
	size_t jit_size; /* PCRE2_INFO_JITSIZE, or 0 */
	size_t cost;     /* bytes counted against RX_CACHE_BYTES */
	size_t refs;
	uint32_t hash;
	bool caseless;
	bool jit; /* JIT was asked for (jit_size is 0 if it did not work) */
	size_t len;
	char pattern[]; /* len bytes and a NUL */
};

static struct {
	mtx_t lock;
	bool ok; /* the mutex was created */
	struct vxe_rx **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first entry */
	size_t entries, bytes;
	size_t max_entries, max_bytes;
	struct vxe_rx *idle_head, *idle_tail; /* least recently released first */
	struct vxe_regex_cache_stats st;
} cache;

static once_flag cache_once = ONCE_FLAG_INIT;

static atomic_uint_fast64_t exhausted;

static once_flag rx_once = ONCE_FLAG_INIT;
static pcre2_match_context *rx_mctx; /* shared, only ever read */
static tss_t rx_key;                 /* frees each thread's match data */
static bool rx_key_ok;
static _Thread_local pcre2_match_data *rx_md;

/* The thread is exiting; forget its match data in case it matches again. */
static void
md_free(void *md)
{
	rx_md = NULL;
	pcre2_match_data_free(md);
}

static void
rx_init(void)
{
	rx_key_ok = tss_create(&rx_key, md_free) == thrd_success;
	rx_mctx = pcre2_match_context_create(NULL);
	if (rx_mctx == NULL)
		return;
	pcre2_set_match_limit(rx_mctx, VX_EVAL_MATCH_LIMIT);
	pcre2_set_depth_limit(rx_mctx, VX_EVAL_MATCH_DEPTH_LIMIT);
	pcre2_set_heap_limit(rx_mctx, VX_EVAL_MATCH_HEAP_LIMIT_KIB);
}

/* This thread's match data, created on its first match; NULL if no memory. */
static pcre2_match_data *
thread_match_data(void)
{
	pcre2_match_data *md;

	if (rx_md != NULL)
		return rx_md;
	call_once(&rx_once, rx_init);
	if (rx_mctx == NULL)
		return NULL;
	/* One pair: `matches` needs no captures, only whether it matched. */
	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		return NULL;
	if (rx_key_ok && tss_set(rx_key, md) != thrd_success) {
		pcre2_match_data_free(md);
		return NULL;
	}
	rx_md = md;
	return md;
}

static void
cache_init(void)
{
	cache.ok = mtx_init(&cache.lock, mtx_plain) == thrd_success;
	cache.max_entries = RX_CACHE_ENTRIES;
	cache.max_bytes = RX_CACHE_BYTES;
}

static uint32_t
key_hash(const char *pattern, size_t len, bool caseless, bool jit)
{
	struct vxe_mm3 st;

	vxe_mm3_init(&st, (uint32_t)caseless | (uint32_t)jit << 1);
	vxe_mm3_update(&st, pattern, len);
	return vxe_mm3_final(&st);
}

/* The entry for this key, or NULL. Under the lock. */
static struct vxe_rx *
find(uint32_t hash, const char *pattern, size_t len, bool caseless, bool jit)
{
	struct vxe_rx *e;

	if (cache.nbuckets == 0)
		return NULL;
	for (e = cache.buckets[hash & (cache.nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hash && e->len == len && e->caseless == caseless &&
		    e->jit == jit && memcmp(e->pattern, pattern, len) == 0)
			return e;
	return NULL;
}

static void
idle_unlink(struct vxe_rx *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		cache.idle_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		cache.idle_tail = e->prev;
	e->prev = e->next = NULL;
}

/* Take a reference to e. Under the lock. */
static void
ref(struct vxe_rx *e)
{
	if (e->refs++ == 0)
		idle_unlink(e);
}

/*
 * Evict idle entries, oldest first, until the cache is within its bounds;
 * returns them chained on hnext, to be freed after the lock is let go.
 * Under the lock.
 */
static struct vxe_rx *
trim(void)
{
	struct vxe_rx *victims = NULL, *e, **pp;

	while ((e = cache.idle_head) != NULL &&
	       (cache.entries > cache.max_entries || cache.bytes > cache.max_bytes)) {
		idle_unlink(e);
		pp = &cache.buckets[e->hash & (cache.nbuckets - 1)];
		while (*pp != e)
			pp = &(*pp)->hnext;
		*pp = e->hnext;
		cache.entries--;
		cache.bytes -= e->cost;
		cache.st.evictions++;
		e->hnext = victims;
		victims = e;
	}
	return victims;
}

static void
free_entries(struct vxe_rx *e)
{
	struct vxe_rx *next;

	for (; e != NULL; e = next) {
		next = e->hnext;
		pcre2_code_free(e->re);
		free(e);
	}
}

/* Double the table when chains would grow past two on average. */
static bool
grow(void)
{
	size_t n = cache.nbuckets != 0 ? cache.nbuckets * 2 : RX_CACHE_MIN_BUCKETS;
	struct vxe_rx **b, *e, *next;

	if (cache.entries < cache.nbuckets * 2)
		return true;
	if ((b = calloc(n, sizeof(*b))) == NULL)
		return cache.nbuckets != 0; /* longer chains, still correct */
	for (size_t i = 0; i < cache.nbuckets; i++)
		for (e = cache.buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(cache.buckets);
	cache.buckets = b;
	cache.nbuckets = n;
	return true;
}

/*
 * Enter a freshly compiled entry with one reference, or, if another thread
 * entered the same key meanwhile, free it and take a reference to that one.
 * Returns NULL only if the table cannot be allocated (fresh is then freed).
 */
static struct vxe_rx *
enter(struct vxe_rx *fresh)
{
	struct vxe_rx *e, *victims = NULL;
	size_t i;

	mtx_lock(&cache.lock);
	e = find(fresh->hash, fresh->pattern, fresh->len, fresh->caseless, fresh->jit);
	if (e != NULL) {
		ref(e);
	} else if (grow()) {
		e = fresh;
		fresh = NULL;
		e->refs = 1;
		i = e->hash & (cache.nbuckets - 1);
		e->hnext = cache.buckets[i];
		cache.buckets[i] = e;
		cache.entries++;
		cache.bytes += e->cost;
		victims = trim();
	}
	mtx_unlock(&cache.lock);
	free_entries(victims);
	if (fresh != NULL) {
		fresh->hnext = NULL;
		free_entries(fresh);
	}
	return e;
}

/* Compile a pattern, with JIT if asked, into a new entry (not entered). */
static int
build(const char *pattern, size_t len, uint32_t hash, bool caseless, bool jit,
    struct vxe_rx **out, char *why, size_t whylen)
{
	pcre2_compile_context *cc;
	pcre2_code *re;
	struct vxe_rx *e;
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE at = 0;
	int code = 0;

	*out = NULL;
	if ((cc = pcre2_compile_context_create(NULL)) == NULL)
		goto nomem;
	pcre2_set_parens_nest_limit(cc, RX_NEST_MAX);
	pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
	re = pcre2_compile((PCRE2_SPTR)pattern, len,
	    RX_OPTIONS | (caseless ? PCRE2_CASELESS : 0), &code, &at, cc);
	pcre2_compile_context_free(cc);
	if (re == NULL) {
		if (code == PCRE2_ERROR_HEAP_FAILED)
			goto nomem;
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		snprintf(why, whylen, "does not compile at offset %zu: %s", (size_t)at,
		    (const char *)msg);
		return VX_EVAL_EINVAL;
	}
	if ((e = calloc(1, sizeof(*e) + len + 1)) == NULL) {
		pcre2_code_free(re);
		goto nomem;
	}
	e->re = re;
	e->hash = hash;
	e->caseless = caseless;
	e->jit = jit;
	e->len = len;
	memcpy(e->pattern, pattern, len);
	if (pcre2_pattern_info(re, PCRE2_INFO_SIZE, &e->size) != 0)
		e->size = len;
	/* JIT where it works; the interpreter is the fallback, same results. */
	if (jit && (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0 ||
	               pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &e->jit_size) != 0))
		e->jit_size = 0;
	e->cost = sizeof(*e) + len + 1 + e->size + e->jit_size;
	*out = e;
	return VX_EVAL_OK;

nomem:
	snprintf(why, whylen, "could not be compiled: out of memory");
	return VX_EVAL_ENOMEM;
}

/*
 * The entry for a key with a reference taken, from the cache or compiled
 * and entered.
 */
static int
get(const char *pattern, size_t len, bool caseless, bool jit, struct vxe_rx **out,
    char *why, size_t whylen)
{
	uint32_t hash = key_hash(pattern, len, caseless, jit);
	struct vxe_rx *e;
	int rc;

	mtx_lock(&cache.lock);
	if ((e = find(hash, pattern, len, caseless, jit)) != NULL) {
		ref(e);
		cache.st.hits++;
	} else {
		cache.st.misses++;
	}
	mtx_unlock(&cache.lock);
	if (e == NULL) {
		if ((rc = build(pattern, len, hash, caseless, jit, &e, why, whylen)) != 0)
			return rc;
		if ((e = enter(e)) == NULL) {
			snprintf(why, whylen, "could not be compiled: out of memory");
			return VX_EVAL_ENOMEM;
		}
	}
	*out = e;
	return VX_EVAL_OK;
}

int
vxe_regex_compile(const char *pattern, bool caseless, size_t jit_room,
    struct vxe_regex *out, char *why, size_t whylen)
{
	struct vxe_rx *e;
	size_t len = strlen(pattern);
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > VX_EVAL_PATTERN_MAX_LEN) {
		snprintf(why, whylen, "is %zu bytes long, over the limit of %d", len,
		    VX_EVAL_PATTERN_MAX_LEN);
		return VX_EVAL_EINVAL;
	}
	call_once(&cache_once, cache_init);
	if (!cache.ok) {
		snprintf(why, whylen, "could not be compiled: no lock for the cache");
		return VX_EVAL_ENOMEM;
	}
	if ((rc = get(pattern, len, caseless, true, &e, why, whylen)) != 0)
		return rc;
	/*
	 * A flag's JIT code is capped (jit_room): past it, the flag uses the
	 * pattern without JIT, an entry of its own. The JIT entry stays for
	 * flags with room; it is idle now if only this compile wanted it.
	 */
	if (e->jit_size > jit_room) {
		vxe_regex_release(e);
		if ((rc = get(pattern, len, caseless, false, &e, why, whylen)) != 0)
			return rc;
	}
	out->rx = e;
	out->re = e->re;
	out->size = e->size;
	out->jit_size = e->jit_size;
	return VX_EVAL_OK;
}

void
vxe_regex_release(struct vxe_rx *e)
{
	struct vxe_rx *victims = NULL;

	if (e == NULL)
		return;
	mtx_lock(&cache.lock);
	if (--e->refs == 0) {
		e->prev = cache.idle_tail;
		e->next = NULL;
		if (cache.idle_tail != NULL)
			cache.idle_tail->next = e;
		else
			cache.idle_head = e;
		cache.idle_tail = e;
		victims = trim();
	}
	mtx_unlock(&cache.lock);
	free_entries(victims);
}

/* Lock the cache, creating it first if need be; false if it cannot be. */
static bool
cache_lock(void)
{
	call_once(&cache_once, cache_init);
	return cache.ok && mtx_lock(&cache.lock) == thrd_success;
}

void
vxe_regex_cache_stats(struct vxe_regex_cache_stats *out)
{
	struct vxe_rx *e;

	memset(out, 0, sizeof(*out));
	if (!cache_lock())
		return;
	*out = cache.st;
	out->entries = cache.entries;
	out->bytes = cache.bytes;
	for (e = cache.idle_head; e != NULL; e = e->next)
		out->idle++;
	mtx_unlock(&cache.lock);
}

void
vxe_regex_cache_limit(size_t entries, size_t bytes)
{
	struct vxe_rx *victims;

	if (!cache_lock())
		return;
	cache.max_entries = entries;
	cache.max_bytes = bytes;
	victims = trim();
	mtx_unlock(&cache.lock);
	free_entries(victims);
}

int
vxe_regex_match(const pcre2_code *re, bool jit, const char *s, size_t len)
{
	pcre2_match_data *md = thread_match_data();
	int rc;

	if (md == NULL)
		return VXE_RX_ENOMEM;
	/*
	 * pcre2_match() would call the JIT code too, after checks that these
	 * options make moot: no UTF check (PCRE2_MATCH_INVALID_UTF) and no
	 * match-time option that JIT lacks (JIT compiled PCRE2_JIT_COMPLETE).
	 */
	if (jit)
		rc = pcre2_jit_match(re, (PCRE2_SPTR)s, len, 0, 0, md, rx_mctx);
	else
		rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, rx_mctx);
	/* 0: a match with more captures than the one pair; still a match. */
	if (rc >= 0)
		return VXE_RX_YES;
	switch (rc) {
	case PCRE2_ERROR_NOMATCH:
	case PCRE2_ERROR_PARTIAL: return VXE_RX_NO;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		atomic_fetch_add_explicit(&exhausted, 1, memory_order_relaxed);
		return VXE_RX_UNDECIDED;
	case PCRE2_ERROR_NOMEMORY: return VXE_RX_ENOMEM;
	default:
		/* Nothing else can happen with these options; be safe. */
		return VXE_RX_UNDECIDED;
	}
}

uint64_t
vx_eval_match_budget_exhausted(void)
{
	return (uint64_t)atomic_load_explicit(&exhausted, memory_order_relaxed);
}
