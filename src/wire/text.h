/*
 * Vexil — the text rule every request obeys: each string field is valid
 * UTF-8 and holds no NUL character.
 *
 * protobuf-c unpacks a string field by copying its bytes and adding a NUL,
 * so an embedded NUL silently cuts the string short and invalid UTF-8 is
 * kept as it came. Neither can be seen in the unpacked message, so the
 * check walks the packed bytes with the message's descriptor instead: every
 * length-delimited field that the descriptor says is a string is checked
 * where it lies, and every one that is a message (a map entry, a oneof
 * member) is walked in turn. It needs no I/O and no allocation, so it is
 * fuzzed with the envelope.
 */
#ifndef VX_WIRE_TEXT_H
#define VX_WIRE_TEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* What vx_text_check found wrong. */
enum vx_text_fault {
	VX_TEXT_OK,
	VX_TEXT_UTF8, /* a string field is not valid UTF-8 */
	VX_TEXT_NUL,  /* a string field holds a NUL character */
	VX_TEXT_WIRE, /* the bytes are not a message (or nest too deep) */
};

/* True when s[0..n) is valid UTF-8: shortest forms only, no surrogates,
 * nothing past U+10FFFF. */
bool vx_utf8_valid(const uint8_t *s, size_t n);

/*
 * Copies in into out (cap bytes, NUL-terminated), escaping what a request
 * may have put in it: control characters and bytes that are not UTF-8
 * become \xNN, and a character that does not fit is dropped whole, so the
 * copy is always printable UTF-8 (gateways put it in JSON, logs in one
 * line). For messages that echo request values.
 */
void vx_text_escape(char *out, size_t cap, const char *in);

/*
 * Checks every string field of the message packed in data[0..len) whose
 * type is d, nested messages included.
 * @param[out] path  on a fault, the field's path ("flag.variants.key"),
 *                   NUL-terminated and cut to cap bytes.
 * @return VX_TEXT_OK, or the first fault found.
 */
enum vx_text_fault vx_text_check(const ProtobufCMessageDescriptor *d, const uint8_t *data,
    size_t len, char *path, size_t cap);

#endif
