/*
 * parse.c: the value parsers behind the typed operators.
 *
 * Rule values are parsed once, at compile time. Context attributes arrive as
 * strings and are parsed on every evaluation. Both sides use the same
 * functions, so a value and an attribute that look the same compare equal.
 * The parsers read NUL-terminated strings, write only to their out-parameter,
 * never allocate, and never depend on the locale, except that strtod()
 * expects LC_NUMERIC "C". Each is strict about its format:
 *
 *  - numbers: optional sign, digits with an optional fraction, optional
 *    exponent. No hex, inf, nan or surrounding space. At most 64 bytes,
 *    which bounds strtod()'s work on the hot path.
 *  - SemVer 2.0.0, strictly: MAJOR.MINOR.PATCH[-pre][+build], no leading
 *    zeros in numeric parts. "v1.2.3" is not a SemVer version (the spec
 *    says so in its FAQ), so it does not parse.
 *  - RFC 3339 date-time, with 'T', 't' or ' ' between date and time, 'Z' or
 *    a numeric offset, and any number of fraction digits (nanosecond
 *    precision is kept). A bare full-date means midnight UTC.
 *  - IP addresses and CIDR prefixes via inet_pton().
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "eval_int.h"

#define NUMBER_MAX_LEN 64

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    c == '-';
}

bool
vxe_parse_number(const char *s, double *out)
{
	const char *p = s;
	bool digits = false;
	char *end;
	double v;

	if (*p == '+' || *p == '-')
		p++;
	for (; is_digit(*p); p++)
		digits = true;
	if (*p == '.') {
		for (p++; is_digit(*p); p++)
			digits = true;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
	}
	if (*p != '\0' || p - s > NUMBER_MAX_LEN)
		return false;
	v = strtod(s, &end);
	if (end != p || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool
semver_part(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (!is_digit(*p) || (*p == '0' && is_digit(p[1])))
		return false;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*pp = p;
	*out = v;
	return true;
}

static size_t
ident_len(const char *p)
{
	size_t n = 0;

	while (is_ident_char(p[n]))
		n++;
	return n;
}

static bool
all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(p[i]))
			return false;
	return true;
}

bool
vxe_parse_semver(const char *s, struct vxe_semver *out)
{
	const char *p = s;
	size_t n;

	if (!semver_part(&p, &out->major) || *p++ != '.' ||
	    !semver_part(&p, &out->minor) || *p++ != '.' ||
	    !semver_part(&p, &out->patch))
		return false;
	out->pre = p;
	out->prelen = 0;
	if (*p == '-') {
		out->pre = ++p;
		for (;;) {
			n = ident_len(p);
			if (n == 0)
				return false;
			/* Numeric identifiers must not have leading zeros. */
			if (n > 1 && p[0] == '0' && all_digits(p, n))
				return false;
			p += n;
			if (*p != '.')
				break;
			p++;
		}
		out->prelen = (size_t)(p - out->pre);
	}
	if (*p == '+') {
		p++;
		for (;;) {
			n = ident_len(p);
			if (n == 0)
				return false;
			p += n;
			if (*p != '.')
				break;
			p++;
		}
	}
	return *p == '\0';
}

bool
vxe_parse_semver_loose(const char *s, struct vxe_semver *out)
{
	const char *p;

	if (*s == 'v' || *s == 'V')
		s++;
	if (vxe_parse_semver(s, out))
		return true;
	p = s;
	out->minor = out->patch = 0;
	if (!semver_part(&p, &out->major))
		return false;
	if (*p == '.' && (p++, !semver_part(&p, &out->minor)))
		return false;
	out->pre = p;
	out->prelen = 0;
	return *p == '\0';
}

static int
cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int
cmp_size(size_t a, size_t b)
{
	return (a > b) - (a < b);
}

/* SemVer 2.0.0 section 11: precedence of two pre-release identifiers. */
static int
cmp_ident(const char *a, size_t na, const char *b, size_t nb)
{
	bool da = all_digits(a, na), db = all_digits(b, nb);
	int c;

	if (da && db) {
		/* No leading zeros, so the longer number is the larger. */
		if (na != nb)
			return cmp_size(na, nb);
		c = memcmp(a, b, na);
		return (c > 0) - (c < 0);
	}
	if (da != db)
		return da ? -1 : 1;
	c = memcmp(a, b, na < nb ? na : nb);
	if (c != 0)
		return (c > 0) - (c < 0);
	return cmp_size(na, nb);
}

int
vxe_semver_cmp(const struct vxe_semver *a, const struct vxe_semver *b)
{
	const char *pa = a->pre, *ea = a->pre + a->prelen;
	const char *pb = b->pre, *eb = b->pre + b->prelen;
	int c;

	if ((c = cmp_u64(a->major, b->major)) != 0 ||
	    (c = cmp_u64(a->minor, b->minor)) != 0 ||
	    (c = cmp_u64(a->patch, b->patch)) != 0)
		return c;
	/* A release ranks above any of its pre-releases. */
	if (a->prelen == 0 || b->prelen == 0)
		return (a->prelen == 0) - (b->prelen == 0);
	while (pa < ea && pb < eb) {
		const char *da = memchr(pa, '.', (size_t)(ea - pa));
		const char *db = memchr(pb, '.', (size_t)(eb - pb));
		size_t na = (size_t)((da != NULL ? da : ea) - pa);
		size_t nb = (size_t)((db != NULL ? db : eb) - pb);

		if ((c = cmp_ident(pa, na, pb, nb)) != 0)
			return c;
		pa += na + (da != NULL);
		pb += nb + (db != NULL);
	}
	/* All shared identifiers equal: more identifiers rank higher. */
	return (pa < ea) - (pb < eb);
}

/* Read exactly n digits. */
static bool
fixed_digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0;

	for (int i = 0; i < n; i++, p++) {
		if (!is_digit(*p))
			return false;
		v = v * 10 + (*p - '0');
	}
	*pp = p;
	*out = v;
	return true;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int dim[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
vxe_parse_rfc3339(const char *s, struct vxe_time *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	int32_t nsec = 0;
	int sign = 0;

	if (!fixed_digits(&p, 4, &y) || *p++ != '-' ||
	    !fixed_digits(&p, 2, &mo) || *p++ != '-' ||
	    !fixed_digits(&p, 2, &d))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return false;
	if (*p == '\0')
		goto done;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!fixed_digits(&p, 2, &h) || *p++ != ':' ||
	    !fixed_digits(&p, 2, &mi) || *p++ != ':' ||
	    !fixed_digits(&p, 2, &sec))
		return false;
	/* 60 is a leap second; it counts as the next minute's first. */
	if (h > 23 || mi > 59 || sec > 60)
		return false;
	if (*p == '.') {
		int ndig = 0;

		for (p++; is_digit(*p); p++, ndig++)
			if (ndig < 9)
				nsec = nsec * 10 + (*p - '0');
		if (ndig == 0)
			return false;
		for (; ndig < 9; ndig++)
			nsec *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!fixed_digits(&p, 2, &oh) || *p++ != ':' ||
		    !fixed_digits(&p, 2, &om) || oh > 23 || om > 59)
			return false;
	} else {
		return false;
	}
	if (*p != '\0')
		return false;
done:
	/* Local time minus its offset is UTC. */
	out->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
	    sec - sign * (oh * 3600 + om * 60);
	out->nsec = nsec;
	return true;
}

bool
vx_parse_rfc3339_ms(const char *s, int64_t *out_ms)
{
	struct vxe_time t;

	if (!vxe_parse_rfc3339(s, &t))
		return false;
	*out_ms = t.sec * 1000 + t.nsec / 1000000;
	return true;
}

bool
vxe_time_from_unix(double secs, struct vxe_time *out)
{
	int64_t whole;
	double frac;

	/* Beyond +-1e15 s (30 million years) the conversion would overflow. */
	if (!isfinite(secs) || secs > 1e15 || secs < -1e15)
		return false;
	whole = (int64_t)secs;
	if ((double)whole > secs)
		whole--;
	frac = (secs - (double)whole) * 1e9;
	out->sec = whole;
	out->nsec = frac >= 999999999.0 ? 999999999 : (int32_t)frac;
	return true;
}

int
vxe_time_cmp(const struct vxe_time *a, const struct vxe_time *b)
{
	if (a->sec != b->sec)
		return (a->sec > b->sec) - (a->sec < b->sec);
	return (a->nsec > b->nsec) - (a->nsec < b->nsec);
}

static bool
is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* Parse a bare address, storing an IPv4-mapped IPv6 one as IPv4. */
static bool
parse_addr(const char *s, struct vxe_cidr *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(s, ':') != NULL) {
		if (inet_pton(AF_INET6, s, out->addr) != 1)
			return false;
		if (is_v4_mapped(out->addr)) {
			memmove(out->addr, out->addr + 12, 4);
			memset(out->addr + 4, 0, 12);
			out->family = 4;
			out->bits = 32;
			return true;
		}
		out->family = 6;
		out->bits = 128;
		return true;
	}
	if (inet_pton(AF_INET, s, out->addr) != 1)
		return false;
	out->family = 4;
	out->bits = 32;
	return true;
}

bool
vxe_parse_ip(const char *s, struct vxe_cidr *out)
{
	return parse_addr(s, out);
}

bool
vxe_parse_cidr(const char *s, struct vxe_cidr *out)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	bool mapped;
	unsigned bits, max;

	if (alen == 0 || alen >= sizeof(buf))
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (!parse_addr(buf, out))
		return false;
	/* parse_addr() unmapped ::ffff:a.b.c.d; its prefix needs the same. */
	mapped = out->family == 4 && strchr(buf, ':') != NULL;
	max = mapped ? 128 : out->family == 4 ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		int ndig = 0;

		bits = 0;
		for (; is_digit(*p) && ndig < 4; p++, ndig++)
			bits = bits * 10 + (unsigned)(*p - '0');
		if (ndig == 0 || *p != '\0' || bits > max)
			return false;
	}
	if (mapped) {
		if (bits < 96) {
			/* A prefix wider than ::ffff:0:0/96 is an IPv6 one. */
			memmove(out->addr + 12, out->addr, 4);
			memset(out->addr, 0, 10);
			out->addr[10] = out->addr[11] = 0xff;
			out->family = 6;
		} else {
			bits -= 96;
		}
	}
	out->bits = (uint8_t)bits;
	/* Clear host bits so that matching compares whole bytes. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;

		if (lo >= bits)
			out->addr[i] = 0;
		else if (bits - lo < 8)
			out->addr[i] &= (uint8_t)(0xff << (8 - (bits - lo)));
	}
	return true;
}

bool
vxe_cidr_contains(const struct vxe_cidr *net, const struct vxe_cidr *ip)
{
	unsigned full = net->bits / 8, rest = net->bits % 8;

	if (net->family != ip->family)
		return false;
	if (memcmp(net->addr, ip->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net->addr[full] ^ ip->addr[full]) &
	    (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
vxe_json_number_valid(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (is_digit(*p))
		while (is_digit(*p))
			p++;
	else
		return false;
	if (*p == '.') {
		if (!is_digit(*++p))
			return false;
		while (is_digit(*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return false;
		while (is_digit(*p))
			p++;
	}
	return *p == '\0';
}

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
vxe_json_string_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p++ != '"')
		return false;
	for (;;) {
		if (*p == '"')
			return p[1] == '\0';
		if (*p < 0x20) /* includes the terminating NUL */
			return false;
		if (*p++ != '\\')
			continue;
		switch (*p++) {
		case '"': case '\\': case '/': case 'b':
		case 'f': case 'n': case 'r': case 't':
			break;
		case 'u':
			for (int i = 0; i < 4; i++)
				if (!is_hex((char)*p++))
					return false;
			break;
		default:
			return false;
		}
	}
}
