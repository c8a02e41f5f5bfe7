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
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>

#include "eval_int.h"

/* Compile options: PCRE2 read as JavaScript reads a pattern. */
#define RX_OPTIONS                                                                       \
	(PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_BSUX |                          \
	    PCRE2_ALLOW_EMPTY_CLASS | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C)

/* Groups may nest this deep; PCRE2's default is 250. */
#define RX_NEST_MAX 64

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

int
vxe_regex_compile(const char *pattern, bool caseless, size_t jit_room,
    struct vxe_regex *out, char *why, size_t whylen)
{
	pcre2_compile_context *cc;
	pcre2_code *re;
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE at = 0;
	size_t len = strlen(pattern), jit = 0;
	int code = 0;

	memset(out, 0, sizeof(*out));
	if (len > VX_EVAL_PATTERN_MAX_LEN) {
		snprintf(why, whylen, "is %zu bytes long, over the limit of %d", len,
		    VX_EVAL_PATTERN_MAX_LEN);
		return VX_EVAL_EINVAL;
	}
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
	if (pcre2_pattern_info(re, PCRE2_INFO_SIZE, &out->size) != 0)
		out->size = len;
	/*
	 * JIT where it works; the interpreter is the fallback, with the same
	 * results. A flag's JIT code is capped (jit_room): past it, keep a
	 * copy without JIT, since pcre2_code_copy() leaves the JIT code out.
	 */
	if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0 &&
	    pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &jit) == 0 && jit > 0) {
		if (jit <= jit_room) {
			out->jit_size = jit;
		} else {
			pcre2_code *plain = pcre2_code_copy(re);

			pcre2_code_free(re);
			if ((re = plain) == NULL)
				goto nomem;
		}
	}
	out->re = re;
	return VX_EVAL_OK;

nomem:
	snprintf(why, whylen, "could not be compiled: out of memory");
	return VX_EVAL_ENOMEM;
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
