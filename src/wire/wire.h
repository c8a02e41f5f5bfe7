/*
 * Vexil — the RPC binding shared by vexild and libvexil.
 *
 * A call is one nng REQ/REP exchange. The request is a protobuf envelope
 * Request{method, payload, credential, request_id}; the reply is
 * Response{status{code, message, details}, payload}. Methods are named
 * "<package>.<Service>/<Method>" and resolved through the service
 * descriptors protoc-c generates, on both sides, so nobody hand-writes the
 * marshalling of a method:
 *
 *  - the client side sends a call on an nng context of its own
 *    (vx_wire_client_*); libvexil puts it behind a ProtobufCService, so
 *    protoc-c's generated closure stubs work unchanged over the network;
 *  - the server side is a registry from method name to (service, index)
 *    (vx_wire_registry_*), so vexild calls the generated service's invoke.
 *
 * This file also holds the one mapping from VX_E* codes to status codes.
 */
#ifndef VX_WIRE_H
#define VX_WIRE_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"
#include "vexil/status.h"
#include "vexil/v1/envelope.pb-c.h"

/* Default cap on any message a Vexil socket accepts. */
#define VX_WIRE_MAX_MSG (1024 * 1024)

/* vx_status, vx_code_name() and vx_err_from_code() are libvexil's public
 * vexil/status.h. */

/*
 * The constraint of a RESOURCE_EXHAUSTED refusal for a full disk under the
 * data dir, which HTTP answers 507 (Insufficient Storage) rather than the
 * 429 of a rate limit (gateway/status.h).
 */
#define VX_CONSTRAINT_DISK_FULL "disk_full"

/* The status code for a VX_E* error code. */
Vexil__V1__Code vx_code_from_err(int err);
/* Fills st; fmt may be NULL for the code's default message. */
void vx_status_set(vx_status *st, Vexil__V1__Code code, const char *field,
    const char *constraint, const char *fmt, ...) VX_PRINTF(5, 6);

/*
 * Applies the options every Vexil socket gets: NNG_OPT_RECVMAXSZ (nng 1.5
 * accepts any size by default).
 */
int vx_wire_harden(nng_socket sock, size_t max_msg) VX_MUST_USE;

/* ---- server side ---- */

/*
 * The TLS configuration of a server (vexild's tls+tcp:// sockets, the
 * gateway's https:// listener): the PEM certificate (chain) and private
 * key read from two files (each at most 1 MiB), checked to be a pair with
 * mbedTLS, and no client certificate asked for (callers authenticate with
 * their credential). Every failure is logged, naming the file and why.
 * @param out  the configuration; the caller frees it with
 *             nng_tls_config_free() (a listener keeps its own reference).
 * @return 0; VX_EINVAL a file is missing, unreadable, not PEM, or the key
 *         is not the certificate's; VX_ENOMEM.
 */
int vx_wire_tls_server_config(
    const char *cert_path, const char *key_path, nng_tls_config **out) VX_MUST_USE;

/* ---- client side ---- */

typedef struct vx_wire_client vx_wire_client;

/*
 * How a client checks vexild over tls+tcp://. There is no way to skip the
 * check: a tls+tcp:// URL with no CA file (here or in $VEXIL_TLS_CA) is
 * refused.
 */
typedef struct vx_wire_tls {
	const char *ca_file;     /* PEM CA the server's certificate must chain to;
	                          * NULL or "": $VEXIL_TLS_CA */
	const char *server_name; /* name the certificate must carry; NULL: the
	                          * URL's host */
} vx_wire_tls;

/* True for a tls+tcp:// (or tls+tcp4/6://) URL. */
bool vx_wire_is_tls(const char *url);

/*
 * Dials sock to url. For tls+tcp:// it first sets up the TLS check from
 * tls (may be NULL). With `wait`, or always for TLS, it tries one blocking
 * dial first, so that an untrusted certificate or a failed handshake is
 * reported at once; when the server is merely not there (yet), it keeps
 * dialling in the background, and so it does without `wait`.
 * @return 0; VX_EINVAL for a bad URL or TLS setting (no CA, unreadable
 *         or invalid CA file); VX_EAUTH when the TLS handshake failed
 *         (st says why); VX_ENOMEM; VX_EIO.
 */
int vx_wire_dial(nng_socket sock, const char *url, const vx_wire_tls *tls, bool wait,
    vx_status *st) VX_MUST_USE;

/*
 * Opens a REQ socket dialled to url (tcp://, ipc://, tls+tcp://). The dial
 * is non-blocking: calls wait for the connection until their timeout.
 * @param max_msg  cap on replies, 0 for VX_WIRE_MAX_MSG.
 * @return 0, VX_EINVAL for a bad URL, VX_ENOMEM, VX_EIO.
 */
int vx_wire_client_open(
    vx_wire_client **out, const char *url, size_t max_msg) VX_MUST_USE;
/* Same, with the TLS check for tls+tcp:// URLs (tls may be NULL) and st
 * (may be NULL) saying why the open failed. With connect_now the first
 * connection is made before it returns, and a server that cannot be
 * reached fails the open (VX_EIO, UNAVAILABLE "cannot connect to URL:
 * connection refused") instead of being dialled in the background. */
/*
 * A grace of ms: when no connection to the server is up, a call waits for
 * one only while the connection has been down (or, since the open, never
 * up) for less than ms, and otherwise fails at once UNAVAILABLE ("vexild at
 * URL cannot be reached") instead of waiting out its timeout; 0 (the
 * default) waits the whole timeout.
 */
void vx_wire_client_set_unreachable(vx_wire_client *c, int ms);
int vx_wire_client_open_tls(vx_wire_client **out, const char *url, size_t max_msg,
    const vx_wire_tls *tls, bool connect_now, vx_status *st) VX_MUST_USE;
void vx_wire_client_close(vx_wire_client *c);

/*
 * Makes one call. request_id (may be NULL) goes into the envelope and
 * vexild's log line. The input is packed, sent on a context of its own (so
 * any number of threads may call at once), and the reply is unpacked with
 * the method's output descriptor into *out using alloc (NULL: malloc);
 * free it with protobuf_c_message_free_unpacked(*out, alloc).
 * @param timeout_ms  for the whole exchange; <= 0 waits forever.
 * @return 0 with st->code OK and *out set; otherwise a negative VX_E* code
 *         with st describing it (a server error keeps its code and
 *         message; VX_ETIMEDOUT, VX_ECLOSED, VX_EPROTO are local).
 */
int vx_wire_client_call(vx_wire_client *c, const ProtobufCServiceDescriptor *svc,
    unsigned method, const ProtobufCMessage *in, const char *credential,
    const char *request_id, int timeout_ms, ProtobufCAllocator *alloc,
    ProtobufCMessage **out, vx_status *st) VX_MUST_USE;

/* ---- server side ---- */

typedef struct vx_wire_registry vx_wire_registry;

typedef struct vx_wire_method {
	ProtobufCService *service;
	unsigned index;
	const ProtobufCMethodDescriptor *desc;
	const char *name; /* "vexil.v1.FlagService/CreateFlag" */
} vx_wire_method;

int vx_wire_registry_alloc(vx_wire_registry **out) VX_MUST_USE;
void vx_wire_registry_free(vx_wire_registry *r);
/* Registers every method of an initialised generated service. */
int vx_wire_registry_add(vx_wire_registry *r, ProtobufCService *service) VX_MUST_USE;
/* Finds a method by its full name, or NULL. */
const vx_wire_method *vx_wire_registry_find(const vx_wire_registry *r, const char *name);

/*
 * Replaces msg's body with a packed Response: the status, and when the
 * code is OK, the packed output message.
 */
int vx_wire_reply(
    nng_msg *msg, const vx_status *st, const ProtobufCMessage *out) VX_MUST_USE;
/*
 * vx_wire_reply() with the output message already packed (len bytes at
 * data, copied): for bytes stored in the wire form, sent as they are.
 */
int vx_wire_reply_packed(
    nng_msg *msg, const vx_status *st, const uint8_t *data, size_t len) VX_MUST_USE;

#endif
