/*
 * Vexil gateway — one HTTP request and its response, as handlers see them.
 *
 * The connection layer (conn.c) reads a request and its body, a worker (pool.c) wraps
 * it in a vx_gw_req, the router (router.c) picks the route and its dialect,
 * and the route's handler answers through the reply helpers below. A
 * handler never touches nng: it reads headers, path parameters, the query
 * string and the JSON body from here, and writes exactly one response.
 *
 * Memory. A vx_gw_req lives on the worker's stack for one request. Small
 * things (the split path, decoded parameters, unpacked protobuf replies)
 * come from the worker's arena, reset after the request; the parsed JSON
 * body and the response body are heap memory freed by vx_gw_req_fini().
 * With no arena (answers given before a request reaches a worker) only the
 * reply helpers may be used.
 */
#ifndef VX_GW_HTTP_H
#define VX_GW_HTTP_H

#include <cjson/cJSON.h>
#include <nng/nng.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/arena.h"
#include "common/common.h"
#include "gateway/http1.h"
#include "wire/wire.h"

/* Whether a and b are the same string, their first bytes compared before
 * strcmp(): on the evaluation paths most compared strings differ there. */
static inline bool
vx_gw_streq(const char *a, const char *b)
{
	return a[0] == b[0] && strcmp(a, b) == 0;
}

/*
 * The results of one reply share a handful of reason strings (a compiled
 * set's, or static names): a lookup of a reason (an index into a table)
 * is done once per string, by address. Starts zeroed ({0}).
 */
typedef struct vx_gw_reason_memo {
	const char *key[4];
	size_t idx[4];
	size_t n;
} vx_gw_reason_memo;

static inline size_t
vx_gw_reason_memo_get(
    vx_gw_reason_memo *m, const char *reason, size_t (*lookup)(const char *))
{
	size_t k = 0;

	while (k < m->n && m->key[k] != reason)
		k++;
	if (k == m->n) {
		if (m->n == sizeof(m->key) / sizeof(m->key[0]))
			k = m->n = 0; /* start over: rare */
		m->key[k] = reason;
		m->idx[k] = lookup(reason);
		m->n++;
	}
	return m->idx[k];
}

#define VX_GW_MAX_PARAMS 8
#define VX_GW_REQUEST_ID_MAX 64
/* Response headers a handler may add (vx_gw_set_header). */
#define VX_GW_MAX_HEADERS 6
#define VX_GW_HEADER_VALUE_MAX 64

typedef struct vx_gw_dialect vx_gw_dialect;
typedef struct vx_gw_rpc vx_gw_rpc;
typedef struct vx_gw_stream vx_gw_stream;

/* One request header as parsed (http1.c): the name as sent, the value
 * without its surrounding white space. */
typedef vx_http1_field vx_gw_header_field;

/* A request's headers, in the order sent. */
typedef struct vx_gw_headers {
	const vx_gw_header_field *fields;
	size_t n;
} vx_gw_headers;

typedef struct vx_gw_req vx_gw_req;

/* ---- dialects ---- */

typedef void (*vx_gw_handler)(vx_gw_req *r);

typedef struct vx_gw_route {
	const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *pattern; /* "/api/projects/{project_id}/flags" */
	vx_gw_handler fn;
} vx_gw_route;

/*
 * A dialect: one REST document. A table of routes, the path prefixes it
 * owns, and the way it writes errors (vx_gw_fail() calls it). The router
 * (router.h) matches routes; the HTTP layer only asks which dialect owns
 * a path, to write its own errors in that dialect's format.
 */
struct vx_gw_dialect {
	const char *name;            /* for logs: "flag-service" */
	const char *const *prefixes; /* NULL-terminated: "/api/projects", ... */
	void (*error)(vx_gw_req *r, int status, const char *field, const char *message);
	const vx_gw_route *routes;
	size_t n_routes;
	/*
	 * Handlers that may be tried on the connection's own thread, before
	 * any worker (NULL-terminated; NULL: none). Each makes its core calls
	 * only through vx_gw_admit() and the edge (edge.h), which refuse to
	 * call while r->no_block: the request is then set aside unanswered
	 * and a worker runs it from the start. So such a handler does nothing
	 * that counts (metrics, records, writes) before its last core call.
	 */
	const vx_gw_handler *nonblocking;
};

struct vx_gw_req {
	/* ---- the request, as read ---- */
	const char *method;        /* as sent: "GET", "POST", ... */
	const char *path;          /* the raw path, without the query */
	const char *query;         /* the raw query after '?', or "" */
	const vx_gw_headers *http; /* for headers; NULL when there is none */
	const uint8_t *body;       /* exactly body_len bytes, not NUL-terminated */
	size_t body_len;
	char request_id[VX_GW_REQUEST_ID_MAX + 1];
	bool tls; /* the gateway listens on https:// */

	/* ---- set by the router ---- */
	const vx_gw_dialect *dialect;
	const vx_gw_route *route; /* the route that answered; NULL: none */
	size_t n_params;
	const char *param_names[VX_GW_MAX_PARAMS];
	const char *params[VX_GW_MAX_PARAMS]; /* percent-decoded */

	/* ---- per-request state ---- */
	vx_arena *arena; /* NULL before a worker has the request */
	const vx_gw_rpc *rpc;
	const char *credential; /* set by the dialect; NULL sends none */
	cJSON *json;            /* the parsed body, see vx_gw_json_body() */
	char err_field[64];     /* the field a JSON helper refused */
	char err_msg[256];      /* and why, naming the field */
	bool no_block;          /* on the connection's thread: no core call */
	bool blocked;           /* one was needed: a worker runs r again */
	/* Gives back what was spent for r before it blocked (edge.c). */
	void (*undo)(vx_gw_req *r, void *arg);
	void *undo_arg;
	/* Run by vx_gw_req_fini(): lets go of what the answer borrowed (the
	 * edge's pinned snapshot, whose strings the results point into). */
	void (*hold_release)(void *arg);
	void *hold_arg;
	/* The edge's principal for this request's credential, once it was
	 * admitted at the edge (edge.c; in the arena). */
	void *edge_memo;

	/* ---- the response ---- */
	int status; /* 0 until a reply helper ran */
	const char *content_type;
	char *res_body; /* heap, res_len bytes */
	size_t res_len;
	char allow[64];   /* the Allow header of a 405 */
	size_t n_headers; /* extra headers, see vx_gw_set_header() */
	struct {
		const char *name; /* static */
		char value[VX_GW_HEADER_VALUE_MAX];
	} headers[VX_GW_MAX_HEADERS];
	bool close;           /* send Connection: close */
	bool no_length;       /* a stream's head: no Content-Length */
	void *conn;           /* the server's connection (for streams), or NULL */
	vx_gw_stream *stream; /* set by vx_gw_reply_stream() */
};

/*
 * Prepares r for one request. The strings are borrowed and must outlive r.
 * request_id is copied (truncated to VX_GW_REQUEST_ID_MAX).
 */
void vx_gw_req_init(vx_gw_req *r, const char *method, const char *path, const char *query,
    const vx_gw_headers *http, const char *request_id);
/* Frees what r owns (the JSON body and the response body) and runs
 * r->hold_release. */
void vx_gw_req_fini(vx_gw_req *r);

/*
 * Splits an HTTP request target ("/a/b?x=1", or the absolute form
 * "http://host/a/b?x=1") into path and query, in place. Both point into
 * target; the query is "" when there is none.
 */
void vx_gw_split_target(char *target, const char **path, const char **query);

/* A request header (names are case-insensitive; the first of repeated
 * ones), or NULL. */
const char *vx_gw_header(const vx_gw_req *r, const char *name);
/* A path parameter named in the route pattern ("{project_id}"), or NULL. */
const char *vx_gw_param(const vx_gw_req *r, const char *name);

/*
 * Percent-decodes n bytes of src into dst (room for n + 1 bytes), writing
 * a NUL. With plus_is_space, '+' becomes ' ' (query strings).
 * @return the decoded length, or -1 for a bad escape or a decoded NUL.
 */
long vx_gw_pct_decode(char *dst, const char *src, size_t n, bool plus_is_space);

/*
 * Finds a query parameter by its decoded name and decodes its value into
 * the arena. A parameter given as "a" (no '=') has the value "".
 * @return 1 found, 0 absent, -1 malformed (r->err_msg says so).
 */
int vx_gw_query(vx_gw_req *r, const char *name, const char **out);

/*
 * Chooses the request id: the incoming X-Request-Id when it is 1..64
 * characters of [A-Za-z0-9._:-] (so it is safe to log and to echo),
 * otherwise 32 fresh random hex digits.
 */
void vx_gw_request_id(const char *incoming, char out[VX_GW_REQUEST_ID_MAX + 1]);

/*
 * Adds a response header (name must be static; the value is formatted and
 * truncated to VX_GW_HEADER_VALUE_MAX - 1). Kept by whatever reply helper
 * answers later. @return 0, or -1 when all VX_GW_MAX_HEADERS are taken.
 */
int vx_gw_set_header(vx_gw_req *r, const char *name, const char *fmt, ...)
    VX_PRINTF(3, 4);
/* The same for a value as it is, or a number in decimal, without a
 * format to interpret: for the headers of the evaluation endpoints. */
int vx_gw_set_header_str(vx_gw_req *r, const char *name, const char *value);
int vx_gw_set_header_int(vx_gw_req *r, const char *name, int64_t value);
int vx_gw_set_header_uint(vx_gw_req *r, const char *name, uint64_t value);
/* The value of a response header vx_gw_set_header() added, or NULL. */
const char *vx_gw_res_header(const vx_gw_req *r, const char *name);

/* ---- responses: each handler calls exactly one ---- */

/* Sends body (taken over and freed, may be NULL for an empty body) as
 * application/json. Out of memory becomes a bare 500. */
void vx_gw_reply_json(vx_gw_req *r, int status, cJSON *body);
/* Sends len bytes of data (copied) with the content type. */
void vx_gw_reply(
    vx_gw_req *r, int status, const char *content_type, const void *data, size_t len);
/* Sends an empty response (204, or any status with no body). */
void vx_gw_reply_empty(vx_gw_req *r, int status);

/*
 * Answers with the dialect's error body. field names the request field at
 * fault (or NULL); the message is printf-formatted.
 */
void vx_gw_fail(vx_gw_req *r, int status, const char *field, const char *fmt, ...)
    VX_PRINTF(4, 5);
/*
 * Call before every core call that a nonblocking handler can reach: with
 * r->no_block it marks r blocked, undoes what r spent (r->undo), fills st
 * (UNAVAILABLE) and returns true, and the caller fails as on an error
 * (that answer is thrown away). Otherwise false.
 */
bool vx_gw_would_block(vx_gw_req *r, vx_status *st);
/* 400 with the error a JSON or query helper left in r->err_msg. */
void vx_gw_fail_input(vx_gw_req *r);
/* The error of a refused core call: its code mapped to HTTP (status.h),
 * its message and field. */
void vx_gw_fail_status(vx_gw_req *r, const vx_status *st);

/* ---- streamed responses (server-sent events) ---- */

/* Called once when a stream ends, whatever ended it: the client went away
 * or was too slow, vx_gw_stream_close(), or the gateway stops. Runs on an
 * nng thread, outside the stream's lock; it must not block. */
typedef void (*vx_gw_stream_fn)(void *arg);

/*
 * Answers r with a stream instead of a body (on a worker, as a handler's
 * one reply): status 200, the content type, X-Request-Id and the headers
 * set with vx_gw_set_header(), Cache-Control: no-cache and Connection:
 * close, and no Content-Length: the body is whatever is sent until the
 * connection closes. The head goes out once the handler returns; bytes
 * sent before that queue behind it.
 *
 * The caller holds one reference and gives it back with
 * vx_gw_stream_release() (it may do so inside on_close). Up to
 * max_backlog bytes may wait unsent; a send past that closes the stream
 * (a consumer that slow is disconnected).
 *
 * A HEAD request gets the same head and no stream: the connection closes
 * after it.
 * @return the stream; NULL when r is a HEAD (answered as above), or (r
 *         answered 500) when out of memory or r came from no connection.
 */
vx_gw_stream *vx_gw_reply_stream(vx_gw_req *r, const char *content_type,
    size_t max_backlog, vx_gw_stream_fn on_close, void *arg);
/*
 * Queues len bytes (copied). Thread-safe, never blocks.
 * @return 0; VX_ECLOSED once the stream has ended; VX_EFULL when the
 *         backlog would pass max_backlog (the stream is then closed);
 *         VX_ENOMEM (closed too).
 */
int vx_gw_stream_send(vx_gw_stream *s, const void *data, size_t len);
/* Ends the stream (on_close follows). Thread-safe; idempotent. */
void vx_gw_stream_close(vx_gw_stream *s);
/* Gives back the caller's reference. */
void vx_gw_stream_release(vx_gw_stream *s);

/*
 * Writes one access-log line (INFO): method, path (without the query),
 * status, microseconds since t0 (vx_mono_ns) and the request id. Bytes
 * from the client are made printable.
 */
void vx_gw_access_log(
    const char *method, const char *path, int status, uint64_t t0, const char *rid);

/* Longest credential a request may carry. */
#define VX_GW_CREDENTIAL_MAX 4096

/* A presented token: 1..VX_GW_CREDENTIAL_MAX printable ASCII, no spaces. */
bool vx_gw_token_ok(const char *t);

#endif
