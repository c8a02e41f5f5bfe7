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
	default: return "internal error";
	}
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

void
vx_log(enum vx_log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if (!vx_log_enabled(lvl))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ",
	    ts.tv_nsec / 1000000, names[lvl]);
	n += (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
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
