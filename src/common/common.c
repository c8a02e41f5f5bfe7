/*
 * Vexil — shared basics: see common.h. Nothing here allocates.
 */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = VX_LOG_INFO;
static volatile int log_format = VX_LOG_TEXT;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *
vx_strerror(int err)
{
	switch (err) {
	case VX_OK: return "ok";
	case VX_EINVAL: return "invalid argument";
	case VX_ENOTFOUND: return "not found";
	case VX_EEXIST: return "already exists";
	case VX_ENOMEM: return "out of memory";
	case VX_EFULL: return "storage is full";
	case VX_EIO: return "i/o error";
	case VX_EAUTH: return "unauthenticated";
	case VX_EPERM: return "permission denied";
	case VX_ETIMEDOUT: return "timed out";
	case VX_ECLOSED: return "closed";
	case VX_EPROTO: return "protocol error";
	case VX_ESTATE: return "failed precondition";
	case VX_ESTALE: return "the project has changed since the given revision";
	case VX_ENOSPC: return "no space left on the device holding the data dir";
	case VX_EUNAVAIL: return "storage is not accepting writes";
	default: return "internal error";
	}
}

bool
vx_is_sdk_key(const char *key)
{
	return key != NULL &&
	       (strncmp(key, VX_SDKKEY_PREFIX, strlen(VX_SDKKEY_PREFIX)) == 0 ||
	           strncmp(key, VX_SDKKEY_PREFIX_OLD, strlen(VX_SDKKEY_PREFIX_OLD)) == 0);
}

int64_t
vx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
vx_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
vx_format_time_ms(char out[VX_TIME_LEN], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;
	size_t n;

	if (frac < 0) {
		frac += 1000;
		t--;
	}
	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(out, VX_TIME_LEN, "%lld", (long long)ms);
		return;
	}
	n = strftime(out, VX_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, VX_TIME_LEN - n, ".%03dZ", frac);
}

void
vx_log_set_level(enum vx_log_level lvl)
{
	log_level = (int)lvl;
}

int
vx_log_enabled(enum vx_log_level lvl)
{
	return (int)lvl <= log_level;
}

int
vx_log_parse_level(const char *name, enum vx_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum vx_log_level)i;
			return 0;
		}
	}
	return VX_EINVAL;
}

void
vx_log_set_format(enum vx_log_format fmt)
{
	log_format = (int)fmt;
}

int
vx_log_parse_format(const char *name, enum vx_log_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = VX_LOG_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = VX_LOG_JSON;
	else
		return VX_EINVAL;
	return 0;
}

int
vx_log_option(const char *prog, const char *opt, const char *v)
{
	enum vx_log_level level;
	enum vx_log_format format;

	if (strcmp(opt, "--log-level") == 0) {
		if (vx_log_parse_level(v, &level) != 0) {
			fprintf(stderr,
			    "%s: --log-level must be error, warn, info or debug\n", prog);
			return -1;
		}
		vx_log_set_level(level);
		return 0;
	}
	if (strcmp(opt, "--log-format") == 0) {
		if (vx_log_parse_format(v, &format) != 0) {
			fprintf(stderr, "%s: --log-format must be text or json\n", prog);
			return -1;
		}
		vx_log_set_format(format);
		return 0;
	}
	return 1;
}

/* Escapes msg[0..n) as a JSON string body into out; returns its length. */
static size_t
json_escape(char *out, size_t cap, const char *msg, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

void
vx_log(enum vx_log_level lvl, const char *fmt, ...)
{
	char msg[2048], line[4200], when[VX_TIME_LEN];
	size_t n;
	int r;
	va_list ap;

	if (!vx_log_enabled(lvl))
		return;
	vx_format_time_ms(when, vx_now_ms());
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	if ((size_t)r >= sizeof(msg))
		r = sizeof(msg) - 1;
	if (log_format == VX_LOG_JSON) {
		n = (size_t)snprintf(line, sizeof(line),
		    "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", when,
		    level_names[lvl]);
		n += json_escape(line + n, sizeof(line) - n - 4, msg, (size_t)r);
		memcpy(line + n, "\"}", 2);
		n += 2;
	} else {
		n = (size_t)snprintf(
		    line, sizeof(line), "%s %s %s", when, level_names[lvl], msg);
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	if (write(STDERR_FILENO, line, n) < 0)
		(void)errno;
}

void
vx_be64_put(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

uint64_t
vx_be64_get(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

void
vx_hex(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int
vx_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (s == NULL || *s == '\0')
		return VX_EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return VX_EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return VX_EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}
