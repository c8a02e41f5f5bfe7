/*
 * libvexil — client lifecycle and the untyped call: see vexil.h.
 *
 * The wire binding does the work; this file keeps the client's settings
 * (credential, timeout, the TLS check) and binds the generated stubs to
 * vx_call_as(), the one path every call takes.
 */
#include "vexil.h"
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vx_client {
	vx_wire_client *wire;
	char *credential;
	atomic_int timeout_ms;
	void (*on_call)(void *arg, const ProtobufCServiceDescriptor *svc, unsigned method,
	    Vexil__V1__Code code, uint64_t ns);
	void *on_call_arg;
	void (*on_commit)(void *arg, uint64_t project_id, uint64_t revision);
	void *on_commit_arg;
};

int
vx_client_open(vx_client **out, const char *url, const vx_client_opts *opts)
{
	vx_client_opts none = {0};
	vx_wire_tls tls;
	vx_status local, *st;
	vx_client *c;
	int rc;

	if (opts == NULL)
		opts = &none;
	st = opts->status ? opts->status : &local;
	vx_status_set(st, VEXIL__V1__CODE__OK, NULL, NULL, NULL);
	if (url == NULL || out == NULL)
		return VX_EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return VX_ENOMEM;
	atomic_init(&c->timeout_ms, opts->timeout_ms > 0 ? opts->timeout_ms : 5000);
	if (opts->credential != NULL) {
		size_t n = strlen(opts->credential) + 8;
		if ((c->credential = malloc(n)) == NULL) {
			free(c);
			return VX_ENOMEM;
		}
		snprintf(c->credential, n, "%s%s",
		    strchr(opts->credential, ' ') ? "" : "ApiKey ", opts->credential);
	}
	tls.ca_file = opts->tls_ca;
	tls.server_name = opts->tls_server_name;
	if ((rc = vx_wire_client_open_tls(
	         &c->wire, url, opts->max_msg, &tls, opts->connect_now, st)) != 0) {
		if (opts->status == NULL)
			vx_log(VX_LOG_ERROR, "libvexil: %s", st->message);
		free(c->credential);
		free(c);
		return rc;
	}
	vx_wire_client_set_unreachable(c->wire, opts->unreachable_ms);
	c->on_call = opts->on_call;
	c->on_call_arg = opts->on_call_arg;
	c->on_commit = opts->on_commit;
	c->on_commit_arg = opts->on_commit_arg;
	*out = c;
	return 0;
}

void
vx_client_close(vx_client *c)
{
	if (c == NULL)
		return;
	vx_wire_client_close(c->wire);
	free(c->credential);
	free(c);
}

const char *
vx_client_credential(const vx_client *c)
{
	return c->credential;
}

void
vx_client_set_timeout(vx_client *c, int timeout_ms)
{
	if (timeout_ms > 0)
		atomic_store(&c->timeout_ms, timeout_ms);
}

int
vx_call_as(vx_client *c, const char *credential, const char *request_id,
    const ProtobufCServiceDescriptor *svc, unsigned method, const ProtobufCMessage *in,
    int timeout_ms, ProtobufCAllocator *alloc, ProtobufCMessage **out, vx_status *st)
{
	vx_status local;
	uint64_t t0 = c->on_call ? vx_mono_ns() : 0;
	int rc;

	if (st == NULL)
		st = &local;
	rc = vx_wire_client_call(c->wire, svc, method, in, credential, request_id,
	    timeout_ms > 0 ? timeout_ms : atomic_load(&c->timeout_ms), alloc, out, st);
	if (c->on_call)
		c->on_call(c->on_call_arg, svc, method,
		    rc == 0 ? VEXIL__V1__CODE__OK : st->code, vx_mono_ns() - t0);
	if (rc == 0 && st->revision != 0 && c->on_commit)
		c->on_commit(c->on_commit_arg, st->project_id, st->revision);
	return rc;
}

int
vx_call(vx_client *c, const ProtobufCServiceDescriptor *svc, unsigned method,
    const ProtobufCMessage *in, int timeout_ms, ProtobufCMessage **out, vx_status *st)
{
	return vx_call_as(c, c->credential, NULL, svc, method, in, timeout_ms, NULL, out, st);
}

void
vx_free(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static void
stub_invoke(ProtobufCService *service, unsigned method, const ProtobufCMessage *in,
    ProtobufCClosure closure, void *closure_data)
{
	vx_client_stub *stub = (vx_client_stub *)service;
	vx_client *c = stub->client;
	const vx_call_opts *o = stub->opts;
	vx_call_opts own = {.credential = c->credential};
	ProtobufCMessage *out = NULL;

	if (o == NULL)
		o = &own;
	stub->rc = vx_call_as(c, o->credential, o->request_id, service->descriptor, method,
	    in, o->timeout_ms, o->alloc, &out, stub->st);
	closure(out, closure_data);
}

void
vx_client_stub_init(vx_client_stub *stub, vx_client *c,
    const ProtobufCServiceDescriptor *svc, const vx_call_opts *opts, vx_status *st)
{
	memset(stub, 0, sizeof(*stub));
	stub->base.descriptor = svc;
	stub->base.invoke = stub_invoke;
	stub->client = c;
	stub->opts = opts;
	stub->st = st;
	stub->rc = VX_EINTERNAL;
}

void
vx_client_stub_closure(const ProtobufCMessage *msg, void *stub)
{
	((vx_client_stub *)stub)->out = (ProtobufCMessage *)msg;
}
