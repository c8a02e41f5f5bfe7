/*
 * Vexil — the RPC binding: see wire.h.
 *
 * Envelopes are packed straight into the nng message: the envelope's own
 * fields first, then field 2 (payload, the same number in Request and
 * Response) written as a length-delimited field that the method's message
 * is packed into in place. Protobuf accepts fields in any order, so this
 * is an ordinary Request or Response to any decoder, and the payload is
 * never copied.
 */
#include "wire/wire.h"

#include <errno.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *
vx_code_name(Vexil__V1__Code code)
{
	if ((unsigned)code < sizeof(code_names) / sizeof(code_names[0]))
		return code_names[code];
	return "UNKNOWN";
}

Vexil__V1__Code
vx_code_from_err(int err)
{
	switch (err) {
	case VX_OK: return VEXIL__V1__CODE__OK;
	case VX_EINVAL: return VEXIL__V1__CODE__INVALID_ARGUMENT;
	case VX_EPROTO: return VEXIL__V1__CODE__INVALID_ARGUMENT;
	case VX_ENOTFOUND: return VEXIL__V1__CODE__NOT_FOUND;
	case VX_EEXIST: return VEXIL__V1__CODE__ALREADY_EXISTS;
	case VX_EFULL: return VEXIL__V1__CODE__RESOURCE_EXHAUSTED;
	case VX_ENOMEM: return VEXIL__V1__CODE__RESOURCE_EXHAUSTED;
	case VX_ENOSPC: return VEXIL__V1__CODE__RESOURCE_EXHAUSTED;
	case VX_EUNAVAIL: return VEXIL__V1__CODE__UNAVAILABLE;
	case VX_EAUTH: return VEXIL__V1__CODE__UNAUTHENTICATED;
	case VX_EPERM: return VEXIL__V1__CODE__PERMISSION_DENIED;
	case VX_ETIMEDOUT: return VEXIL__V1__CODE__DEADLINE_EXCEEDED;
	case VX_ECLOSED: return VEXIL__V1__CODE__UNAVAILABLE;
	case VX_ESTATE: return VEXIL__V1__CODE__FAILED_PRECONDITION;
	case VX_ESTALE: return VEXIL__V1__CODE__FAILED_PRECONDITION;
	default: return VEXIL__V1__CODE__INTERNAL;
	}
}

int
vx_err_from_code(Vexil__V1__Code code)
{
	switch (code) {
	case VEXIL__V1__CODE__OK: return VX_OK;
	case VEXIL__V1__CODE__INVALID_ARGUMENT:
	case VEXIL__V1__CODE__OUT_OF_RANGE: return VX_EINVAL;
	case VEXIL__V1__CODE__NOT_FOUND: return VX_ENOTFOUND;
	case VEXIL__V1__CODE__ALREADY_EXISTS: return VX_EEXIST;
	case VEXIL__V1__CODE__RESOURCE_EXHAUSTED: return VX_EFULL;
	case VEXIL__V1__CODE__UNAUTHENTICATED: return VX_EAUTH;
	case VEXIL__V1__CODE__PERMISSION_DENIED: return VX_EPERM;
	case VEXIL__V1__CODE__DEADLINE_EXCEEDED: return VX_ETIMEDOUT;
	case VEXIL__V1__CODE__UNAVAILABLE: return VX_ECLOSED;
	case VEXIL__V1__CODE__FAILED_PRECONDITION: return VX_ESTATE;
	default: return VX_EINTERNAL;
	}
}

void
vx_status_set(vx_status *st, Vexil__V1__Code code, const char *field,
    const char *constraint, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	st->project_id = st->revision = 0;
	snprintf(st->field, sizeof(st->field), "%s", field ? field : "");
	snprintf(st->constraint, sizeof(st->constraint), "%s",
	    constraint ? constraint : "");
	if (fmt == NULL) {
		snprintf(st->message, sizeof(st->message), "%s", vx_code_name(code));
		return;
	}
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

int
vx_wire_harden(nng_socket sock, size_t max_msg)
{
	int rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ,
	    max_msg ? max_msg : VX_WIRE_MAX_MSG);
	return rv ? VX_EIO : 0;
}

/*
 * Packs head, then the payload as field 2, into msg's body (replacing it):
 * the message payload, or (payload NULL) the rawlen bytes at raw, which
 * are one already packed.
 */
static int
pack_envelope(nng_msg *msg, const ProtobufCMessage *head, const ProtobufCMessage *payload,
    const uint8_t *raw, size_t rawlen)
{
	size_t hlen = protobuf_c_message_get_packed_size(head);
	size_t plen = payload ? protobuf_c_message_get_packed_size(payload) : rawlen;
	uint8_t pre[11];
	size_t prelen = 0, v;
	uint8_t *body;

	if (plen > 0) {
		pre[prelen++] = (2 << 3) | 2; /* field 2, length-delimited */
		for (v = plen; v >= 0x80; v >>= 7)
			pre[prelen++] = (uint8_t)(v | 0x80);
		pre[prelen++] = (uint8_t)v;
	}
	nng_msg_clear(msg);
	if (nng_msg_realloc(msg, hlen + prelen + (prelen ? plen : 0)) != 0)
		return VX_ENOMEM;
	body = nng_msg_body(msg);
	protobuf_c_message_pack(head, body);
	if (prelen) {
		memcpy(body + hlen, pre, prelen);
		if (payload != NULL)
			protobuf_c_message_pack(payload, body + hlen + prelen);
		else
			memcpy(body + hlen + prelen, raw, plen);
	}
	return 0;
}

/* A Response: st, and when OK, out packed or the rawlen bytes at raw. */
static int
reply(nng_msg *msg, const vx_status *st, const ProtobufCMessage *out, const uint8_t *raw,
    size_t rawlen)
{
	Vexil__V1__Response r = VEXIL__V1__RESPONSE__INIT;
	Vexil__V1__Status s = VEXIL__V1__STATUS__INIT;
	Vexil__V1__StatusDetail d = VEXIL__V1__STATUS_DETAIL__INIT;
	bool ok = st->code == VEXIL__V1__CODE__OK;

	s.code = st->code;
	s.message = (char *)st->message;
	if (st->field[0] || st->constraint[0]) {
		d.field = (char *)st->field;
		d.constraint = (char *)st->constraint;
		s.details = &d;
	}
	r.status = &s;
	if (ok) {
		r.project_id = st->project_id;
		r.revision = st->revision;
	}
	return pack_envelope(
	    msg, &r.base, ok ? out : NULL, ok ? raw : NULL, ok ? rawlen : 0);
}

int
vx_wire_reply(nng_msg *msg, const vx_status *st, const ProtobufCMessage *out)
{
	return reply(msg, st, out, NULL, 0);
}

int
vx_wire_reply_packed(nng_msg *msg, const vx_status *st, const uint8_t *data, size_t len)
{
	return reply(msg, st, NULL, data, len);
}

/* ---- client ---- */

struct slot {
	struct slot *next;
	nng_ctx ctx;
	nng_aio *aio;
};

struct vx_wire_client {
	nng_socket sock;
	pthread_mutex_t lock;
	struct slot *free;  /* idle contexts, reused across calls */
	atomic_int pipes;   /* connections to the server that are up */
	atomic_int unreachable_ms; /* vx_wire_client_set_unreachable() */
	_Atomic uint64_t down_since; /* vx_mono_ns() when the last one went */
	char url[256];
};

/* Counts the connections that are up (nng's pipe events). */
static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	vx_wire_client *c = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&c->pipes, 1);
	else if (atomic_fetch_sub(&c->pipes, 1) == 1)
		atomic_store(&c->down_since, vx_mono_ns());
}

void
vx_wire_client_set_unreachable(vx_wire_client *c, int ms)
{
	atomic_store(&c->unreachable_ms, ms);
}

/*
 * With a grace set and no connection up: while the connection has been
 * down for less than the grace (a restart, whose reconnect takes up to the
 * reconnect backoff), the call waits for it; past that it fails at once,
 * UNAVAILABLE naming the server. 0 when one is up (or no grace is set).
 */
static int
check_reachable(vx_wire_client *c, vx_status *st)
{
	uint64_t grace = (uint64_t)atomic_load(&c->unreachable_ms) * 1000000u;

	if (grace == 0)
		return 0;
	while (atomic_load(&c->pipes) <= 0) {
		if (vx_mono_ns() - atomic_load(&c->down_since) >= grace) {
			vx_status_set(st, VEXIL__V1__CODE__UNAVAILABLE, NULL, NULL,
			    "vexild at %s cannot be reached", c->url);
			return VX_ECLOSED;
		}
		nng_msleep(5);
	}
	return 0;
}

bool
vx_wire_is_tls(const char *url)
{
	return url != NULL && strncmp(url, "tls+", 4) == 0;
}

/*
 * A client TLS config that trusts only the CA file and checks the server's
 * name. nng's own default for a dialer is to verify too, but against no CA
 * at all, so every handshake would fail with a less helpful error.
 */
static int
tls_client_config(const char *url, const vx_wire_tls *tls, nng_tls_config **out,
    vx_status *st)
{
	const char *ca = tls ? tls->ca_file : NULL, *name = tls ? tls->server_name : NULL;
	nng_tls_config *cfg = NULL;
	nng_url *u = NULL;
	FILE *f;
	int rv;

	if (ca == NULL || *ca == '\0')
		ca = getenv("VEXIL_TLS_CA");
	if (ca == NULL || *ca == '\0') {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, "tls_ca", NULL,
		    "%s needs a CA file to verify vexild's certificate: pass one "
		    "(vexilctl --tls-ca FILE) or set VEXIL_TLS_CA",
		    url);
		return VX_EINVAL;
	}
	if ((f = fopen(ca, "r")) == NULL) {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, "tls_ca", NULL,
		    "cannot read the CA file %s: %s", ca, strerror(errno));
		return VX_EINVAL;
	}
	fclose(f);
	if ((rv = nng_url_parse(&u, url)) != 0) {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, "url", NULL,
		    "bad URL %s: %s", url, nng_strerror(rv));
		return VX_EINVAL;
	}
	if (name == NULL || *name == '\0')
		name = u->u_hostname;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
	    (rv = nng_tls_config_server_name(cfg, name)) != 0) {
		vx_status_set(st, VEXIL__V1__CODE__INTERNAL, NULL, NULL,
		    "cannot set up TLS for %s: %s", url, nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_tls_config_ca_file(cfg, ca)) != 0) {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, "tls_ca", NULL,
		    "the CA file %s holds no usable PEM certificate: %s", ca,
		    nng_strerror(rv));
		rv = NNG_EINVAL;
		goto fail;
	}
	nng_url_free(u);
	*out = cfg;
	return 0;
fail:
	if (cfg)
		nng_tls_config_free(cfg);
	nng_url_free(u);
	return rv == NNG_EINVAL ? VX_EINVAL : VX_ENOMEM;
}

/* How a dial treats a server that is not there: keep trying in the
 * background, try once first (and then keep trying), or fail at once. */
enum dial_mode { DIAL_BACKGROUND, DIAL_TRY_FIRST, DIAL_NOW };

static int
dial(nng_socket sock, const char *url, const vx_wire_tls *tls, enum dial_mode mode,
    vx_status *st)
{
	bool wait = mode != DIAL_BACKGROUND;
	nng_tls_config *cfg = NULL;
	nng_dialer d;
	bool is_tls = vx_wire_is_tls(url);
	int rc, rv;

	if (is_tls && (rc = tls_client_config(url, tls, &cfg, st)) != 0)
		return rc;
	if ((rv = nng_dialer_create(&d, sock, url)) != 0)
		goto fail;
	if (cfg && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
		goto fail;
	/*
	 * A blocking first dial reports a bad certificate at once; a server
	 * that is not up yet is still dialled in the background.
	 */
	if ((wait || is_tls) && (rv = nng_dialer_start(d, 0)) != 0) {
		nng_dialer_close(d);
		if (rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO) {
			vx_status_set(st, VEXIL__V1__CODE__UNAUTHENTICATED, "tls_ca", NULL,
			    "TLS handshake with %s failed: %s (is its certificate "
			    "signed by the CA file, and issued for this host name?)",
			    url, nng_strerror(rv));
			nng_tls_config_free(cfg);
			return VX_EAUTH;
		}
		if (mode == DIAL_NOW) {
			char why[64];
			snprintf(why, sizeof(why), "%s", nng_strerror(rv));
			if (why[0] >= 'A' && why[0] <= 'Z')
				why[0] = (char)(why[0] - 'A' + 'a');
			vx_status_set(st, VEXIL__V1__CODE__UNAVAILABLE, "url", NULL,
			    "cannot connect to %s: %s", url, why);
			if (cfg)
				nng_tls_config_free(cfg);
			return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ||
			               rv == NNG_EINVAL
			           ? VX_EINVAL
			           : VX_EIO;
		}
		if ((rv = nng_dialer_create(&d, sock, url)) != 0 ||
		    (cfg && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0) ||
		    (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
			goto fail;
	} else if (!(wait || is_tls) && (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		goto fail;
	}
	/* The dialer holds the config now. */
	if (cfg)
		nng_tls_config_free(cfg);
	return 0;
fail:
	if (cfg)
		nng_tls_config_free(cfg);
	vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, "url", NULL,
	    "cannot dial %s: %s", url, nng_strerror(rv));
	return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL ? VX_EINVAL
									    : VX_EIO;
}

int
vx_wire_dial(
    nng_socket sock, const char *url, const vx_wire_tls *tls, bool wait, vx_status *st)
{
	return dial(sock, url, tls, wait ? DIAL_TRY_FIRST : DIAL_BACKGROUND, st);
}

int
vx_wire_client_open(vx_wire_client **out, const char *url, size_t max_msg)
{
	return vx_wire_client_open_tls(out, url, max_msg, NULL, false, NULL);
}

int
vx_wire_client_open_tls(vx_wire_client **out, const char *url, size_t max_msg,
    const vx_wire_tls *tls, bool connect_now, vx_status *st)
{
	vx_status local;
	vx_wire_client *c;
	int rv, rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return VX_ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	snprintf(c->url, sizeof(c->url), "%s", url ? url : "");
	atomic_init(&c->down_since, vx_mono_ns());
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		free(c);
		return VX_EIO;
	}
	/*
	 * nng resends a request that has no reply after a minute; for a write
	 * that would apply it twice, so resends are off and the caller's
	 * timeout decides instead.
	 */
	if (vx_wire_harden(c->sock, max_msg) != 0 ||
	    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) !=
	        0 ||
	    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20) != 0 ||
	    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000) != 0 ||
	    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, on_pipe, c) != 0 ||
	    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, on_pipe, c) != 0) {
		rv = NNG_EINVAL;
		goto fail;
	}
	if ((rc = dial(c->sock, url, tls, connect_now ? DIAL_NOW : DIAL_BACKGROUND,
	         st ? st : &local)) != 0) {
		nng_close(c->sock);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
fail:
	nng_close(c->sock);
	pthread_mutex_destroy(&c->lock);
	free(c);
	vx_status_set(st ? st : &local, VEXIL__V1__CODE__INTERNAL, NULL, NULL,
	    "cannot open a socket: %s", nng_strerror(rv));
	return rv == NNG_EINVAL ? VX_EINVAL : VX_EIO;
}

void
vx_wire_client_close(vx_wire_client *c)
{
	struct slot *s, *next;

	if (c == NULL)
		return;
	nng_close(c->sock);
	for (s = c->free; s != NULL; s = next) {
		next = s->next;
		nng_aio_free(s->aio);
		free(s);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct slot *
slot_get(vx_wire_client *c)
{
	struct slot *s;

	pthread_mutex_lock(&c->lock);
	if ((s = c->free) != NULL)
		c->free = s->next;
	pthread_mutex_unlock(&c->lock);
	if (s != NULL)
		return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (nng_ctx_open(&s->ctx, c->sock) != 0) {
		free(s);
		return NULL;
	}
	if (nng_aio_alloc(&s->aio, NULL, NULL) != 0) {
		nng_ctx_close(s->ctx);
		free(s);
		return NULL;
	}
	return s;
}

static void
slot_put(vx_wire_client *c, struct slot *s)
{
	pthread_mutex_lock(&c->lock);
	s->next = c->free;
	c->free = s;
	pthread_mutex_unlock(&c->lock);
}

static int
nng_to_vx(int rv, vx_status *st)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		vx_status_set(st, VEXIL__V1__CODE__DEADLINE_EXCEEDED, NULL, NULL,
		    "no reply from vexild before the timeout");
		return VX_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		vx_status_set(st, VEXIL__V1__CODE__UNAVAILABLE, NULL, NULL,
		    "connection closed");
		return VX_ECLOSED;
	default:
		vx_status_set(st, VEXIL__V1__CODE__UNAVAILABLE, NULL, NULL,
		    "transport error: %s", nng_strerror(rv));
		return VX_ECLOSED;
	}
}

int
vx_wire_client_call(vx_wire_client *c, const ProtobufCServiceDescriptor *svc,
    unsigned method, const ProtobufCMessage *in, const char *credential,
    const char *request_id, int timeout_ms, ProtobufCAllocator *alloc,
    ProtobufCMessage **out, vx_status *st)
{
	Vexil__V1__Request req = VEXIL__V1__REQUEST__INIT;
	Vexil__V1__Response *resp = NULL;
	const ProtobufCMethodDescriptor *md;
	char name[160];
	nng_msg *msg = NULL;
	struct slot *s;
	uint64_t deadline = 0, now;
	int rv, rc;

	*out = NULL;
	if (method >= svc->n_methods) {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, NULL, NULL,
		    "no such method");
		return VX_EINVAL;
	}
	md = &svc->methods[method];
	if (in == NULL || in->descriptor != md->input) {
		vx_status_set(st, VEXIL__V1__CODE__INVALID_ARGUMENT, NULL, NULL,
		    "input is not a %s", md->input->name);
		return VX_EINVAL;
	}
	if ((rc = check_reachable(c, st)) != 0)
		return rc;
	snprintf(name, sizeof(name), "%s/%s", svc->name, md->name);
	req.method = name;
	req.credential = (char *)(credential ? credential : "");
	req.request_id = (char *)(request_id ? request_id : "");
	if ((s = slot_get(c)) == NULL) {
		vx_status_set(st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL,
		    "out of memory");
		return VX_ENOMEM;
	}
	if (nng_msg_alloc(&msg, 0) != 0 ||
	    pack_envelope(msg, &req.base, in, NULL, 0) != 0) {
		if (msg)
			nng_msg_free(msg);
		slot_put(c, s);
		vx_status_set(st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL,
		    "out of memory");
		return VX_ENOMEM;
	}
	if (timeout_ms > 0)
		deadline = vx_mono_ns() + (uint64_t)timeout_ms * 1000000u;

	nng_aio_set_msg(s->aio, msg);
	nng_aio_set_timeout(s->aio, timeout_ms > 0 ? timeout_ms : NNG_DURATION_INFINITE);
	nng_ctx_send(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	if ((rv = nng_aio_result(s->aio)) != 0) {
		/* A failed send leaves the message with us. */
		nng_msg_free(nng_aio_get_msg(s->aio));
		rc = nng_to_vx(rv, st);
		goto done;
	}
	if (deadline) {
		now = vx_mono_ns();
		nng_aio_set_timeout(s->aio, now >= deadline ? 1
		    : (nng_duration)((deadline - now + 999999) / 1000000));
	}
	nng_ctx_recv(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	if ((rv = nng_aio_result(s->aio)) != 0) {
		rc = nng_to_vx(rv, st);
		goto done;
	}
	msg = nng_aio_get_msg(s->aio);
	resp = vexil__v1__response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	if (resp == NULL || resp->status == NULL) {
		vx_status_set(st, VEXIL__V1__CODE__INTERNAL, NULL, NULL,
		    "malformed reply from vexild");
		rc = VX_EPROTO;
		goto done_msg;
	}
	vx_status_set(st, resp->status->code,
	    resp->status->details ? resp->status->details->field : NULL,
	    resp->status->details ? resp->status->details->constraint : NULL, "%s",
	    resp->status->message);
	if (resp->status->code != VEXIL__V1__CODE__OK) {
		rc = vx_err_from_code(resp->status->code);
		goto done_msg;
	}
	*out = protobuf_c_message_unpack(md->output, alloc, resp->payload.len,
	    resp->payload.data);
	if (*out == NULL) {
		vx_status_set(st, VEXIL__V1__CODE__INTERNAL, NULL, NULL,
		    "malformed %s in reply", md->output->name);
		rc = VX_EPROTO;
		goto done_msg;
	}
	st->project_id = resp->project_id;
	st->revision = resp->revision;
	rc = 0;
done_msg:
	if (resp)
		vexil__v1__response__free_unpacked(resp, NULL);
	nng_msg_free(msg);
done:
	slot_put(c, s);
	return rc;
}

/* ---- server registry ---- */

struct vx_wire_registry {
	vx_wire_method *m;
	size_t n, cap;
};

int
vx_wire_registry_alloc(vx_wire_registry **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : VX_ENOMEM;
}

void
vx_wire_registry_free(vx_wire_registry *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free((char *)r->m[i].name);
	free(r->m);
	free(r);
}

static int
method_cmp(const void *a, const void *b)
{
	return strcmp(((const vx_wire_method *)a)->name, ((const vx_wire_method *)b)->name);
}

int
vx_wire_registry_add(vx_wire_registry *r, ProtobufCService *service)
{
	const ProtobufCServiceDescriptor *d = service->descriptor;
	vx_wire_method *bigger;
	char *name;
	size_t len;

	for (unsigned i = 0; i < d->n_methods; i++) {
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 32;
			bigger = realloc(r->m, r->cap * sizeof(*r->m));
			if (bigger == NULL)
				return VX_ENOMEM;
			r->m = bigger;
		}
		len = strlen(d->name) + strlen(d->methods[i].name) + 2;
		if ((name = malloc(len)) == NULL)
			return VX_ENOMEM;
		snprintf(name, len, "%s/%s", d->name, d->methods[i].name);
		r->m[r->n].service = service;
		r->m[r->n].index = i;
		r->m[r->n].desc = &d->methods[i];
		r->m[r->n].name = name;
		r->n++;
	}
	qsort(r->m, r->n, sizeof(*r->m), method_cmp);
	return 0;
}

const vx_wire_method *
vx_wire_registry_find(const vx_wire_registry *r, const char *name)
{
	vx_wire_method key = {.name = name};
	if (name == NULL)
		return NULL;
	return bsearch(&key, r->m, r->n, sizeof(*r->m), method_cmp);
}
