/*
 * Vexil gateway — UUID-shaped ids and RFC 3339 times: see format.h.
 */
#include "gateway/format.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void
vx_gw_uuid_format(char out[VX_GW_UUID_LEN + 1], enum vx_gw_kind kind, uint64_t id)
{
	snprintf(out, VX_GW_UUID_LEN + 1, "%08x-%04x-4000-8000-%012llx", (unsigned)kind,
	    (unsigned)(id >> 48), (unsigned long long)(id & 0xffffffffffffULL));
}

/* Reads n hex digits; -1 if any is not one. */
static int
hex_run(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

int
vx_gw_uuid_parse(const char *s, enum vx_gw_kind kind, uint64_t *id)
{
	uint64_t k, hi, lo;

	if (s == NULL || strlen(s) != VX_GW_UUID_LEN || s[8] != '-' || s[13] != '-' ||
	    s[18] != '-' || s[23] != '-')
		return VX_EINVAL;
	if (hex_run(s, 8, &k) != 0 || hex_run(s + 9, 4, &hi) != 0 ||
	    memcmp(s + 14, "4000", 4) != 0 || memcmp(s + 19, "8000", 4) != 0 ||
	    hex_run(s + 24, 12, &lo) != 0)
		return VX_EINVAL;
	if (k != (uint64_t)kind || (hi == 0 && lo == 0))
		return VX_EINVAL;
	*id = hi << 48 | lo;
	return 0;
}

static int
decimal_id(const char *s, uint64_t *id)
{
	if (s[0] < '1' || s[0] > '9' || vx_parse_u64(s, id) != 0 || *id == 0)
		return VX_EINVAL;
	return 0;
}

int
vx_gw_id_parse(const char *s, enum vx_gw_kind kind, uint64_t *id)
{
	static const char *const prefix[] = {[VX_GW_KIND_PROJECT] = "proj-",
	    [VX_GW_KIND_FLAG] = "flag-",
	    [VX_GW_KIND_RULE] = "rule-"};
	const char *p =
	    (size_t)kind < sizeof(prefix) / sizeof(prefix[0]) ? prefix[kind] : NULL;

	if (s == NULL)
		return VX_EINVAL;
	if (vx_gw_uuid_parse(s, kind, id) == 0)
		return 0;
	if (p && strncmp(s, p, strlen(p)) == 0)
		return decimal_id(s + strlen(p), id);
	return decimal_id(s, id);
}

void
vx_gw_time_format(char out[32], int64_t unix_ms)
{
	time_t t = (time_t)(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
	/* The thread's last second: replies stamped "now" ask for the same
	 * one many times a second, and gmtime_r() with strftime() cost more
	 * than the rest of such a reply's text. */
	static _Thread_local time_t last_t = -1;
	static _Thread_local char last[32];
	struct tm tm;

	if (t == last_t && t != -1) {
		memcpy(out, last, 32);
		return;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(out, 32, "1970-01-01T00:00:00Z");
		return;
	}
	memcpy(last, out, 32);
	last_t = t;
}
