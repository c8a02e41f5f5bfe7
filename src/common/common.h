/*
 * Vexil — shared basics: error codes, clocks, logging and small helpers.
 *
 * Every component below the binaries uses these. Functions return 0 or a
 * negative VX_E* code and hand results back through out-parameters; the
 * code-to-status mapping lives in one place (wire/status.c).
 */
#ifndef VX_COMMON_H
#define VX_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* VX_MUST_USE, the VX_E* codes and vx_strerror(): libvexil's public
 * header, so a program linking libvexil sees the codes used here. */
#include "vexil/errors.h"

#define VX_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * How keys begin, the one place that says so (see src/auth/auth.h). An
 * API key is "vxk_" + 40 hex digits. An SDK key is "sdk_" + 32 letters and
 * digits, the form the flag-service document shows; SDK keys issued
 * before that are "vxs_" + 40 hex digits and are still accepted.
 */
#define VX_APIKEY_PREFIX "vxk_"
#define VX_SDKKEY_PREFIX "sdk_"
#define VX_SDKKEY_PREFIX_OLD "vxs_"
#define VX_SDKKEY_CHARS 32 /* alphanumerics after VX_SDKKEY_PREFIX */

/* True when key begins like an SDK key (either form): clients send such a
 * key as "SdkKey <key>", any other as "ApiKey <key>". */
bool vx_is_sdk_key(const char *key);

/* Wall-clock time in unix milliseconds. */
int64_t vx_now_ms(void);
/* Monotonic time in nanoseconds, for durations. */
uint64_t vx_mono_ns(void);
/* Unix milliseconds as RFC 3339 in UTC ("2026-12-07T02:35:19.123Z") into
 * out, which holds VX_TIME_LEN bytes. */
#define VX_TIME_LEN 32
void vx_format_time_ms(char out[VX_TIME_LEN], int64_t ms);

enum vx_log_level { VX_LOG_ERROR, VX_LOG_WARN, VX_LOG_INFO, VX_LOG_DEBUG };

/* Sets the most verbose level that is written (default VX_LOG_INFO). */
void vx_log_set_level(enum vx_log_level lvl);
int vx_log_enabled(enum vx_log_level lvl);
/* "error", "warn", "info" or "debug" into *out; VX_EINVAL for anything else. */
int vx_log_parse_level(const char *name, enum vx_log_level *out) VX_MUST_USE;

/* text: "2026-12-07T02:35:19.123Z info message"; json: one object a line,
 * {"time":"…","level":"info","msg":"message"}, for log collectors. */
enum vx_log_format { VX_LOG_TEXT, VX_LOG_JSON };
void vx_log_set_format(enum vx_log_format fmt);
/* "text" or "json" into *out; VX_EINVAL for anything else. */
int vx_log_parse_format(const char *name, enum vx_log_format *out) VX_MUST_USE;
/*
 * The binaries' --log-level and --log-format: applies opt's value v.
 * 0 applied; -1 after a message on stderr naming prog; 1 when opt is
 * neither.
 */
int vx_log_option(const char *prog, const char *opt, const char *v) VX_MUST_USE;
/*
 * Writes one line to stderr with a UTC timestamp and the level, in the
 * format set. The line is assembled first and written with one write(2),
 * so lines from concurrent threads never interleave.
 */
void vx_log(enum vx_log_level lvl, const char *fmt, ...) VX_PRINTF(2, 3);

/* Big-endian 64-bit encode/decode, used for LMDB keys that sort by number. */
void vx_be64_put(uint8_t out[8], uint64_t v);
uint64_t vx_be64_get(const uint8_t in[8]);

/*
 * 32-bit FNV-1a, for in-memory hash tables: start from VX_FNV32_INIT and
 * feed bytes; feed VX_FNV32_SEP between strings (0xff is in no UTF-8
 * text), so ("ab", "c") and ("a", "bc") differ.
 */
#define VX_FNV32_INIT 2166136261u
#define VX_FNV32_SEP "\xff"
static inline uint32_t
vx_fnv32(uint32_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void vx_hex(char *out, const uint8_t *in, size_t len);

/*
 * Parses a whole string as an unsigned decimal number. Returns 0, or
 * VX_EINVAL when s is empty, has anything but digits, or overflows.
 */
int vx_parse_u64(const char *s, uint64_t *out) VX_MUST_USE;

#endif
