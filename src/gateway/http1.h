/*
 * Vexil gateway — HTTP/1.1 message syntax (RFC 9112): finding and parsing
 * a request head, deciding how its body is framed, and writing heads.
 *
 * This is the gateway's only HTTP parser, and it is pure: no nng, no
 * threads, no clock and no allocation. It works in the caller's buffers
 * (a head is parsed in place) so that tests/fuzz/fuzz_http1.c can drive it
 * alone and compare it with another parser. The connection layer (conn.c)
 * feeds it bytes and acts on its answers.
 *
 * It is strict where leniency has been used to smuggle requests: every
 * head is either refused or framed exactly one way (vx_http1_parse()).
 *
 * Return convention, for every function of this file: 0 for success;
 * VX_HTTP1_MORE (vx_http1_scan() only) when the input is incomplete; or an
 * HTTP status code >= 400 that the request must be refused with, with
 * *why set to a static, printable reason. After a refusal the connection
 * cannot be trusted to be in sync and must be closed. Nothing here
 * returns a negative VX_E* code.
 */
#ifndef VX_GW_HTTP1_H
#define VX_GW_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* vx_http1_scan(): the head has not all arrived. */
#define VX_HTTP1_MORE 1

/* CR LF (or bare LF) lines tolerated before a request line (RFC 9112
 * 2.2 asks a server to ignore "at least one"); more is a 400. */
#define VX_HTTP1_MAX_EMPTY_LINES 4

/* One header field: the name as sent, the value without surrounding
 * white space. Both NUL-terminated, pointing into the parsed head. */
typedef struct vx_http1_field {
	const char *name;
	const char *value;
} vx_http1_field;

/* How a request's body is delimited (RFC 9112 6.3). */
typedef enum vx_http1_framing {
	VX_HTTP1_NO_BODY, /* neither Content-Length nor Transfer-Encoding */
	VX_HTTP1_LENGTH,  /* Content-Length: content_length bytes (may be 0) */
	VX_HTTP1_CHUNKED, /* Transfer-Encoding: chunked, and nothing else */
} vx_http1_framing;

typedef struct vx_http1_limits {
	size_t max_target; /* a longer request target is 414 */
	size_t max_fields; /* more header fields is 431 (and the room in fields) */
} vx_http1_limits;

/* A parsed request head. Strings point into the buffer given to
 * vx_http1_parse() and live as long as it does. */
typedef struct vx_http1_head {
	const char *method;     /* a token, as sent ("GET") */
	const char *target;     /* origin, absolute or asterisk form, as sent */
	int minor;              /* HTTP/1.<minor>: 0 or 1 */
	vx_http1_field *fields; /* the caller's array of limits.max_fields */
	size_t n_fields;
	vx_http1_framing framing;
	uint64_t content_length; /* with VX_HTTP1_LENGTH; else 0 */
	bool close;              /* HTTP/1.0, or Connection: close */
	bool expect_continue;    /* Expect: 100-continue (HTTP/1.1) */
} vx_http1_head;

/*
 * Looks for a complete request head at the start of buf.
 *
 * Up to VX_HTTP1_MAX_EMPTY_LINES empty lines before the request line are
 * skipped; the caller drops those *skip bytes whatever the result (they
 * count toward the head's deadline and size like any other byte).
 *
 * @param buf   len bytes received; not modified.
 * @param max   the largest head accepted (--max-header-bytes), without
 *              the skipped lines.
 * @param skip  out: leading empty-line bytes to drop.
 * @param end   out: on 0, the head's length from buf + *skip, including
 *              its final empty line.
 * @return 0 a head is complete; VX_HTTP1_MORE read more (fewer than max
 *         bytes so far); 400 too many empty lines; 414 a request line
 *         longer than max; 431 a head longer than max.
 */
int vx_http1_scan(
    const char *buf, size_t len, size_t max, size_t *skip, size_t *end) VX_MUST_USE;

/*
 * Parses one complete head in place and decides its framing.
 *
 * Accepted: "METHOD SP target SP HTTP/1.x" with a token method and a
 * target of visible ASCII (origin form, absolute http(s) form, or "*" for
 * OPTIONS); line ends CRLF or bare LF; fields "name: value" with a token
 * name, no white space before the colon, and a value of visible ASCII,
 * obs-text, SP and HTAB only; exactly one Host for HTTP/1.1 (at most one
 * for 1.0). Framing: Content-Length, given once, as 1*DIGIT; or
 * Transfer-Encoding, given once, without Content-Length, naming chunked
 * as its only coding.
 *
 * @param buf     n bytes from vx_http1_scan(): the head, ending in its
 *                empty line. buf[n] must be writable (a NUL is stored
 *                there); line ends and separators become NULs.
 * @param lim     limits; lim->max_fields entries of h->fields are used.
 * @param h       out: h->fields must point at lim->max_fields fields; the
 *                rest is filled in. On a refusal the fields parsed so far
 *                stay readable (to find a request id) and method and
 *                target are set only if the request line was good.
 * @param why     out: on a refusal, why (static text).
 * @return 0; 400 malformed (request line, field syntax, NUL or a control
 *         byte in a value, obs-fold, no or several Host, a bad or repeated
 *         Content-Length, more than one Transfer-Encoding field, both
 *         Transfer-Encoding and Content-Length, "identity" anywhere in
 *         Transfer-Encoding, empty list elements in it, a final coding
 *         other than chunked, a field name that begins with
 *         "Transfer-Encoding" or "Content-Length" and goes on, or an HTAB
 *         anywhere in the value of either); 414
 *         target over lim->max_target; 431 more fields than
 *         lim->max_fields; 501 a transfer coding other than chunked, last
 *         and alone; 505 an HTTP version other than 1.0 and 1.1.
 */
int vx_http1_parse(char *buf, size_t n, const vx_http1_limits *lim, vx_http1_head *h,
    const char **why) VX_MUST_USE;

/* The value of the first field named name (any case), or NULL. */
const char *vx_http1_field_get(const vx_http1_field *f, size_t n, const char *name);

/* Whether a comma-separated field value lists token (any case). */
bool vx_http1_has_token(const char *value, const char *token);

/* The reason phrase of a status ("Not Found"); never NULL. */
const char *vx_http1_reason(int status);

/* A response head to write. */
typedef struct vx_http1_response {
	int status;
	const vx_http1_field *fields; /* written in order, as given */
	size_t n_fields;
	const char *content_type; /* or NULL for none */
	bool has_length;          /* write Content-Length */
	uint64_t content_length;
	bool close; /* write Connection: close */
} vx_http1_response;

/*
 * An upper bound on the size of r's head: a buffer this large always
 * holds what vx_http1_write_response() writes.
 */
size_t vx_http1_response_size(const vx_http1_response *r);

/*
 * Writes r's status line and fields, then Content-Type, Content-Length
 * and Connection as asked, then the empty line.
 *
 * @param buf  cap bytes of the caller's; nothing is written past them.
 * @param len  out: bytes written (on 0).
 * @return 0; 500 when the head does not fit in cap (buf is then
 *         undefined), or a field name or value would break the head
 *         (a CR or LF in it).
 */
int vx_http1_write_response(
    char *buf, size_t cap, size_t *len, const vx_http1_response *r) VX_MUST_USE;

/*
 * Writes h back as a request head (request line, fields in order with
 * ": " between name and value, CRLF line ends, the empty line), as
 * vx_http1_parse() accepts it: the fuzz target's round trip.
 *
 * @return 0 with *len set; 500 when it does not fit in cap.
 */
int vx_http1_write_request(
    char *buf, size_t cap, size_t *len, const vx_http1_head *h) VX_MUST_USE;

#endif
