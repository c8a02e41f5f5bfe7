/*
 * Vexil — string fields are valid UTF-8 without NUL: see text.h.
 */
#include "wire/text.h"

#include <stdio.h>
#include <string.h>

/* Deeper nesting than any Vexil message has; more is refused. */
#define MAX_DEPTH 32

bool
vx_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		uint32_t cp;
		size_t need;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			cp = b & 0x07;
		} else {
			return false; /* a continuation byte, 0xc0/0xc1 or 0xf5.. */
		}
		if (n - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

void
vx_text_escape(char *out, size_t cap, const char *in)
{
	size_t o = 0, n = strlen(in);

	if (cap == 0)
		return;
	for (size_t i = 0; i < n && o + 1 < cap;) {
		unsigned char b = (unsigned char)in[i];
		size_t len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
		if (b >= 0x80 && i + len <= n &&
		    vx_utf8_valid((const uint8_t *)in + i, len)) {
			if (o + len + 1 > cap)
				break;
			memcpy(out + o, in + i, len);
			o += len;
			i += len;
		} else if (b < 0x20 || b == 0x7f || b >= 0x80) {
			if (o + 5 > cap)
				break;
			snprintf(out + o, cap - o, "\\x%02x", b);
			o += 4;
			i++;
		} else {
			out[o++] = (char)b;
			i++;
		}
	}
	out[o] = '\0';
}

static bool
varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Appends ".name" (or "name" at the top) to path[0..*plen), cut to cap.
 * It runs for every nested message of every request: no snprintf. */
static void
path_push(char *path, size_t cap, size_t *plen, const char *name)
{
	size_t at = *plen, n = strlen(name);

	if (at > 0 && at + 1 < cap)
		path[at++] = '.';
	if (n > cap - 1 - at)
		n = cap - 1 - at;
	memcpy(path + at, name, n);
	path[at + n] = '\0';
	*plen = at + n;
}

static enum vx_text_fault
walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
    char *path, size_t cap, size_t plen, int depth)
{
	enum vx_text_fault f;

	if (depth > MAX_DEPTH)
		return VX_TEXT_WIRE;
	while (p < end) {
		const ProtobufCFieldDescriptor *fd;
		uint64_t tag, n;

		if (!varint(&p, end, &tag))
			return VX_TEXT_WIRE;
		switch (tag & 7) {
		case 0:
			if (!varint(&p, end, &n))
				return VX_TEXT_WIRE;
			continue;
		case 1:
			if (end - p < 8)
				return VX_TEXT_WIRE;
			p += 8;
			continue;
		case 5:
			if (end - p < 4)
				return VX_TEXT_WIRE;
			p += 4;
			continue;
		case 2: break;
		default: return VX_TEXT_WIRE; /* groups: not in proto3 */
		}
		if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
			return VX_TEXT_WIRE;
		fd = tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(
		                                  d, (unsigned)(tag >> 3))
		                            : NULL;
		if (fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING) {
			f = memchr(p, 0, n) != NULL ? VX_TEXT_NUL
			    : !vx_utf8_valid(p, n)  ? VX_TEXT_UTF8
			                            : VX_TEXT_OK;
			if (f != VX_TEXT_OK) {
				path_push(path, cap, &plen, fd->name);
				return f;
			}
		} else if (fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			size_t sub = plen;
			path_push(path, cap, &sub, fd->name);
			f = walk(fd->descriptor, p, p + n, path, cap, sub, depth + 1);
			if (f != VX_TEXT_OK)
				return f;
			path[plen] = '\0';
		}
		p += n;
	}
	return VX_TEXT_OK;
}

enum vx_text_fault
vx_text_check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
    char *path, size_t cap)
{
	if (cap == 0)
		return VX_TEXT_WIRE;
	path[0] = '\0';
	/* An empty payload (all defaults) holds no text; data may be NULL. */
	if (len == 0)
		return VX_TEXT_OK;
	return walk(d, data, data + len, path, cap, 0, 0);
}
