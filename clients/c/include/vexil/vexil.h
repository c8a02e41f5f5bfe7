/*
 * libvexil — the C client of Vexil (public, installed as <vexil/vexil.h>).
 *
 * A vx_client holds one nng REQ socket dialled to vexild. Every RPC has two
 * typed calls (declared in vexil/v1/stubs.h, generated from proto/):
 * vx_<method>() sends the request with the client's credential and waits
 * for the reply or the timeout; vx_<method>_as() takes a vx_call_opts with
 * the credential, request id, timeout and reply allocator of this one call
 * (what a gateway acting for many callers needs). Both, and the untyped
 * vx_call(), go through vx_call_as(). Any number of threads may call
 * through one client at once: each call in flight has an nng context of
 * its own.
 *
 * Errors. Every call returns 0 or a negative VX_E* code (vexil/errors.h)
 * and fills a vx_status with the server's gRPC-style code, its message and,
 * for bad input, the field at fault:
 *   VX_EINVAL     INVALID_ARGUMENT: the request was refused as it stands
 *   VX_ENOTFOUND  NOT_FOUND, also for what lies outside the key's scope
 *   VX_EEXIST     ALREADY_EXISTS
 *   VX_EAUTH      UNAUTHENTICATED: missing, unknown or revoked key
 *   VX_EPERM      PERMISSION_DENIED: the key's role is too low
 *   VX_EFULL      RESOURCE_EXHAUSTED
 *   VX_ESTATE     FAILED_PRECONDITION
 *   VX_ETIMEDOUT  no reply within the timeout (the call may still apply)
 *   VX_ECLOSED    UNAVAILABLE: the connection failed
 *   VX_EPROTO     the reply did not decode
 *
 * Ownership. Messages passed in stay the caller's. A message handed out
 * (*out) is the caller's and is freed with vx_free().
 */
#ifndef VEXIL_VEXIL_H
#define VEXIL_VEXIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil/status.h"
#include "vexil/v1/service.pb-c.h"

#pragma GCC visibility push(default)

typedef struct vx_client vx_client;

typedef struct vx_client_opts {
	/*
	 * The credential sent with every call: "ApiKey <key>", "Bearer <jwt>"
	 * or "SdkKey <key>". A bare key (no space) is sent as "ApiKey <key>".
	 * NULL sends none, and every call then fails with VX_EAUTH.
	 */
	const char *credential;
	int timeout_ms; /* per call; 0 means 5000 */
	size_t max_msg; /* largest reply accepted; 0 means 1 MiB */
	/*
	 * For tls+tcp:// URLs: the PEM CA file vexild's certificate must chain
	 * to (NULL: $VEXIL_TLS_CA; with neither, the open fails: the check
	 * is never skipped), and the name the certificate must carry (NULL:
	 * the URL's host).
	 */
	const char *tls_ca;
	const char *tls_server_name;
	/* When not NULL, says why vx_client_open() failed; when NULL, the
	 * reason is logged (vx_log) instead. */
	vx_status *status;
	/*
	 * Connect during the open: a vexild that cannot be reached fails it at
	 * once (VX_EIO, status UNAVAILABLE "cannot connect to URL: connection
	 * refused") rather than each call after its timeout. For one-shot
	 * tools; a service that may start before vexild leaves it false.
	 */
	bool connect_now;
	/*
	 * A grace in ms: when no connection to vexild is up, a call waits for
	 * one only while it has been down for less than this (a restart), and
	 * otherwise fails at once (VX_ECLOSED, status UNAVAILABLE "vexild at
	 * URL cannot be reached") instead of after its timeout. 0, the
	 * default: a call waits its whole timeout for vexild to come back. For
	 * a service that would rather answer "unavailable" than hang.
	 */
	int unreachable_ms;
	/*
	 * Called after every call through this client, on the calling thread,
	 * with the service, the method's index in it, the status code (OK on
	 * success) and the call's round trip in nanoseconds: for metrics. It
	 * must not block or call the client. NULL: none.
	 */
	void (*on_call)(void *arg, const ProtobufCServiceDescriptor *svc, unsigned method,
	    Vexil__V1__Code code, uint64_t ns);
	void *on_call_arg;
	/*
	 * Called after every call through this client that committed a write,
	 * on the calling thread, with the project it changed and the revision
	 * it made (vx_status.project_id and .revision), before the call
	 * returns: so a cache kept live from change notices can tell that it
	 * is behind its own write before the notice comes. It must not block
	 * or call the client. NULL: none.
	 */
	void (*on_commit)(void *arg, uint64_t project_id, uint64_t revision);
	void *on_commit_arg;
} vx_client_opts;

/*
 * Opens a client for the vexild at url (tcp://host:port, ipc:///path,
 * tls+tcp://host:port). Connecting happens in the background and is
 * retried, so this succeeds while vexild is down; calls then wait up to
 * their timeout. For tls+tcp:// the first connection is tried at once, so
 * that a certificate the CA does not vouch for fails the open (against a
 * host that drops the connection attempt, the open waits for TCP's own
 * connect timeout; one that refuses it is dialled in the background).
 * @param[out] out   the client; close it with vx_client_close().
 * @param      opts  may be NULL for the defaults; copied.
 * @return 0; VX_EINVAL for a malformed URL or a missing or unusable CA
 *         file; VX_EAUTH when the TLS handshake failed; VX_ENOMEM; VX_EIO
 *         (also when connect_now is set and vexild cannot be reached).
 */
int vx_client_open(
    vx_client **out, const char *url, const vx_client_opts *opts) VX_MUST_USE;

/* Closes the client. No call may be in progress. NULL is a no-op. */
void vx_client_close(vx_client *c);

/* Changes the timeout of later calls (milliseconds, > 0). */
void vx_client_set_timeout(vx_client *c, int timeout_ms);

/*
 * The settings of one call, for vx_<method>_as(). Passing NULL instead
 * means the client's own: its credential, its timeout, no request id and
 * malloc. The struct and its strings are only read during the call.
 */
typedef struct vx_call_opts {
	/*
	 * The credential sent, as it goes on the wire ("ApiKey <key>",
	 * "Bearer <jwt>", "SdkKey <key>"; not completed as vx_client_opts'
	 * is). NULL sends none (vexild then answers UNAUTHENTICATED to all
	 * but the calls that need no key); it does not fall back to the
	 * client's.
	 */
	const char *credential;
	/* Goes into the envelope and vexild's log line; NULL: none. */
	const char *request_id;
	/* For the whole exchange, in milliseconds; <= 0: the client's. */
	int timeout_ms;
	/*
	 * Unpacks the reply. NULL: malloc, and the caller frees *out with
	 * vx_free(). Otherwise the caller frees it with
	 * protobuf_c_message_free_unpacked(*out, alloc), or lets an arena go.
	 */
	ProtobufCAllocator *alloc;
} vx_call_opts;

/*
 * The untyped call behind the typed ones: method `method` (an index into
 * svc->methods) with input `in`. Every call, typed or not, goes through
 * here.
 * @param credential  sent as it is; NULL sends none.
 * @param request_id  for vexild's log; may be NULL.
 * @param timeout_ms  for the whole exchange; <= 0: the client's timeout.
 * @param alloc       unpacks *out; NULL: malloc (free with vx_free()),
 *                    otherwise free through alloc or let its arena go.
 * @param[out] out    the reply on success, NULL otherwise.
 * @param[out] st     may be NULL.
 * @return as the typed calls (see the top of this file).
 */
int vx_call_as(vx_client *c, const char *credential, const char *request_id,
    const ProtobufCServiceDescriptor *svc, unsigned method, const ProtobufCMessage *in,
    int timeout_ms, ProtobufCAllocator *alloc, ProtobufCMessage **out,
    vx_status *st) VX_MUST_USE;

/* vx_call_as() with the client's credential, no request id and malloc.
 * *out is freed with vx_free(). */
int vx_call(vx_client *c, const ProtobufCServiceDescriptor *svc, unsigned method,
    const ProtobufCMessage *in, int timeout_ms, ProtobufCMessage **out,
    vx_status *st) VX_MUST_USE;

/* Frees a message a call handed out. NULL is a no-op. */
void vx_free(void *msg);

/*
 * For the generated wrappers only: a ProtobufCService whose invoke() is
 * vx_call_as() with opts (NULL: the client's own), so that protoc-c's
 * closure stubs, which own each method's index and reply type, run over
 * the wire. Make one per call on the stack, pass &stub->base to the
 * closure stub with vx_client_stub_closure as the closure and the stub as
 * its data; then stub->out and stub->rc hold the result. opts and st
 * (which may be NULL) are borrowed for the call.
 */
typedef struct vx_client_stub {
	ProtobufCService base;
	vx_client *client;
	const vx_call_opts *opts;
	vx_status *st;
	ProtobufCMessage *out;
	int rc;
} vx_client_stub;

void vx_client_stub_init(vx_client_stub *stub, vx_client *c,
    const ProtobufCServiceDescriptor *svc, const vx_call_opts *opts, vx_status *st);
void vx_client_stub_closure(const ProtobufCMessage *msg, void *stub);

#include "vexil/v1/stubs.h"

#pragma GCC visibility pop

#endif
