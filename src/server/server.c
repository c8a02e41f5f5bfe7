/*
 * Vexil — vexild's dispatcher and worker pool.
 *
 * The REP socket is served by a pool of nng contexts, one per worker
 * thread (the model is nng's demo/async/server.c, but with our own threads
 * because a write blocks on fsync and must not stall nng's task threads).
 * Each worker owns a request arena and a store reader, so a request
 * allocates nothing from the heap in the steady state and holds its read
 * transaction only while it runs. Receives time out every 200 ms so that a
 * stop request is noticed; a request already received is always answered.
 *
 * Committed changes reach the PUB socket from the store's commit hook,
 * which runs under the writer lock, so notices leave in revision order.
 */
#include "server/server.h"
#include "wire/text.h"

#include <errno.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults of --hash-workers (concurrent Argon2 hashes, 64 MiB each) and
 * --hash-queue (hashing requests waiting for one). */
#define SLOW_WORKERS 2
#define SLOW_QUEUE 64
#define SLOW_MAX 64
#define SLOW_QUEUE_MAX 65536

struct worker {
	vx_server *srv;
	pthread_t thread;
	bool started;
	bool slow; /* serves the slow lane (password hashing) */
	nng_ctx ctx;
	nng_aio *aio;
	vx_arena arena;
	vx_store_reader reader;
};

struct vx_server {
	vx_server_opts opts;
	vx_store *store;
	vx_wire_registry *registry;
	vx_evalcache *cache;
	vx_evalrec *records;
	nng_socket rep;
	nng_socket pub;
	bool rep_open, pub_open;
	atomic_bool stopping;
	atomic_int conns[2]; /* pipes on REP and PUB */
	/* The slow lane: requests that hash passwords, handed over with
	 * their REP context so that request workers never run Argon2. */
	struct worker slow[SLOW_MAX];
	int nslow;
	struct slow_job {
		nng_ctx ctx;
		nng_msg *msg;
	} * queue;
	size_t qcap, qhead, qlen;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	bool slow_started;
	atomic_uint_fast64_t slow_refused; /* slow-lane requests refused, full */
	uint64_t started_ns;               /* vx_mono_ns() at start */
	atomic_uint_fast64_t refused;
	struct worker *workers;
	int nworkers;
	vx_scheduler *sched;
};

int
vx_fail(
    vx_call *c, int err, const char *field, const char *constraint, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(c->st.message)], esc[sizeof(c->st.message)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vx_text_escape(esc, sizeof(esc), msg);
	vx_status_set(&c->st, vx_code_from_err(err), field, constraint, "%s", esc);
	return err;
}

void
vx_reply(vx_call *c, int rc, const void *out, void *closure, void *closure_data)
{
	ProtobufCClosure cl = (ProtobufCClosure)closure;

	if (rc == 0 && out != NULL) {
		c->st.code = VEXIL__V1__CODE__OK;
		cl(out, closure_data);
		return;
	}
	if (rc == 0)
		rc = VX_EINTERNAL;
	if (c->st.code == VEXIL__V1__CODE__OK && rc == VX_ESTALE)
		vx_status_set(&c->st, vx_code_from_err(rc), "if_revision", "revision",
		    "the project is at revision %llu, not %llu; read it again",
		    (unsigned long long)c->reader->stale_revision,
		    (unsigned long long)c->reader->if_revision);
	else if (c->st.code == VEXIL__V1__CODE__OK &&
	         (rc == VX_ENOSPC || rc == VX_EUNAVAIL)) {
		/* A storage fault: what happened and what to do. The gateway
		 * answers a full disk 507, told apart by its constraint. */
		char why[sizeof(c->st.message)];
		vx_store_refusal(c->store, rc, why, sizeof(why));
		vx_status_set(&c->st, vx_code_from_err(rc), NULL,
		    rc == VX_ENOSPC ? VX_CONSTRAINT_DISK_FULL : "storage", "%s", why);
	} else if (c->st.code == VEXIL__V1__CODE__OK && rc == VX_ENOMEM)
		vx_status_set(&c->st, vx_code_from_err(rc), NULL, NULL,
		    "the answer exceeds the request's memory budget; ask for less "
		    "(limit)");
	else if (c->st.code == VEXIL__V1__CODE__OK)
		vx_status_set(
		    &c->st, vx_code_from_err(rc), NULL, NULL, "%s", vx_strerror(rc));
	cl(NULL, closure_data);
}

int
vx_call_project(vx_call *c, MDB_txn *txn, const char *ref, Vexil__V1__Role need,
    Vexil__V1__Project **out)
{
	uint64_t id, owner = c->who.kind == VX_PRINCIPAL_USER ? c->who.id : 0;
	int rc;

	if (ref == NULL || *ref == '\0') {
		/* A key bound to one project names it by itself. */
		if (c->who.project_id == 0)
			return vx_fail(
			    c, VX_EINVAL, "project", "required", "project is required");
		id = c->who.project_id;
	} else if (vx_parse_u64(ref, &id) != 0) {
		rc = vx_store_project_find(txn, c->store, owner, ref, &id);
		if (rc == VX_ENOTFOUND)
			goto notfound;
		if (rc != 0)
			return rc;
	}
	rc = vx_store_project_get(txn, c->store, id, c->alloc, out);
	if (rc == VX_ENOTFOUND)
		goto notfound;
	if (rc != 0)
		return rc;
	/* A project outside the caller's scope does not exist for it. */
	rc = vx_auth_check_project(&c->who, *out, need);
	if (rc == VX_ENOTFOUND)
		goto notfound;
	if (rc == VX_EPERM && c->who.kind == VX_PRINCIPAL_USER)
		return vx_fail(c, rc, NULL, NULL, "a member with role %s cannot do this",
		    vx_role_name(vx_auth_member_role(*out, c->who.id)));
	if (rc == VX_EPERM)
		return vx_fail(c, rc, NULL, NULL, "a %s key cannot do this",
		    vx_role_name(c->who.role));
	return rc;
notfound:
	return vx_fail(c, VX_ENOTFOUND, "project", NULL, "project %.100s not found",
	    ref && *ref ? ref : "of this key");
}

int
vx_call_project_read(vx_call *c, const char *ref, Vexil__V1__Project **out)
{
	return vx_call_project(c, c->reader->txn, ref, VEXIL__V1__ROLE__ROLE_READ, out);
}

/* ---- publishing ---- */

static void
publish(void *arg, const Vexil__V1__Change *const *changes, size_t n)
{
	vx_server *srv = arg;
	Vexil__V1__ChangeNotice note;
	char topic[32];
	nng_msg *msg;
	size_t tlen, blen;

	if (!srv->pub_open)
		return;
	for (size_t i = 0; i < n; i++) {
		vexil__v1__change_notice__init(&note);
		note.revision = changes[i]->revision;
		note.project_id = changes[i]->project_id;
		note.environment = changes[i]->environment;
		note.kind = changes[i]->kind;
		note.flag_key = changes[i]->flag_key;
		tlen = (size_t)snprintf(
		    topic, sizeof(topic), "p/%llu/", (unsigned long long)note.project_id);
		blen = vexil__v1__change_notice__get_packed_size(&note);
		if (nng_msg_alloc(&msg, tlen + blen) != 0) {
			vx_log(VX_LOG_ERROR, "pub: out of memory, notice %llu dropped",
			    (unsigned long long)note.revision);
			continue;
		}
		memcpy(nng_msg_body(msg), topic, tlen);
		vexil__v1__change_notice__pack(
		    &note, (uint8_t *)nng_msg_body(msg) + tlen);
		/* PUB never blocks; a slow subscriber loses notices and catches
		 * up through WatchService/Changes. */
		if (nng_sendmsg(srv->pub, msg, 0) != 0)
			nng_msg_free(msg);
	}
}

/* ---- dispatch ---- */

static void
take_output(const ProtobufCMessage *msg, void *data)
{
	vx_call *c = data;
	c->out = msg;
}

/* A printable copy of an untrusted method name, for the log. */
static void
clean_name(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = (src[i] > 32 && src[i] < 127) ? src[i] : '?';
	dst[i] = '\0';
}

/* Every string field of the input is UTF-8 without NUL (wire/text.h);
 * false after recording the refusal. */
static bool
text_ok(
    vx_call *c, const ProtobufCMessageDescriptor *d, const ProtobufCBinaryData *payload)
{
	char path[sizeof(c->st.field)];

	switch (vx_text_check(d, payload->data, payload->len, path, sizeof(path))) {
	case VX_TEXT_OK: return true;
	case VX_TEXT_UTF8:
		vx_status_set(&c->st, VEXIL__V1__CODE__INVALID_ARGUMENT, path, "utf8",
		    "%s is not valid UTF-8", path);
		return false;
	case VX_TEXT_NUL:
		vx_status_set(&c->st, VEXIL__V1__CODE__INVALID_ARGUMENT, path, "nul",
		    "%s contains a NUL character", path);
		return false;
	default:
		vx_status_set(&c->st, VEXIL__V1__CODE__INVALID_ARGUMENT, "payload", NULL,
		    "malformed %s payload", d->name);
		return false;
	}
}

/* The input's if_revision (every write request has one), or 0. */
static uint64_t
if_revision(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *in)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field_by_name(d, "if_revision");

	if (fd == NULL || fd->type != PROTOBUF_C_TYPE_UINT64 ||
	    fd->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	return *(const uint64_t *)((const char *)in + fd->offset);
}

void
vx_invoke(vx_call *c, const vx_wire_method *m, ProtobufCMessage *in)
{
	c->reader->if_revision = if_revision(m->desc->input, in);
	c->reader->stale_revision = 0;
	c->protected_env = NULL;
	m->service->invoke(m->service, m->index, in, take_output, c);
	if (c->st.code == VEXIL__V1__CODE__OK && c->out == NULL)
		vx_status_set(&c->st, VEXIL__V1__CODE__INTERNAL, NULL, NULL,
		    "handler gave no reply");
	c->reader->if_revision = 0;
	/* A write a protected environment stopped is kept for review (not
	 * when it is only checked, nor when a schedule's time comes). */
	if (c->protected_env != NULL && !c->reader->dry_run &&
	    c->reader->schedule_id == 0)
		vx_change_open(c, m, in);
}

const vx_wire_method *
vx_server_method(vx_server *srv, const char *name)
{
	return vx_wire_registry_find(srv->registry, name);
}

vx_scheduler *
vx_server_scheduler(vx_server *srv)
{
	return srv->sched;
}

/* Signing up and logging in are the calls made before one has a credential. */
static bool
is_public(const vx_wire_method *m)
{
	return strcmp(m->name, "vexil.v1.UserService/RegisterUser") == 0 ||
	       strcmp(m->name, "vexil.v1.UserService/Login") == 0;
}

/* Methods that hash a password: they run in the slow lane. */
static bool
is_slow(const vx_wire_method *m)
{
	return is_public(m);
}

/* SDK keys ship inside client apps; they may evaluate, nothing more. */
static bool
sdk_may_call(const vx_wire_method *m)
{
	static const char *const allowed[] = {
	    "vexil.v1.EvaluationService/Evaluate",
	    "vexil.v1.EvaluationService/EvaluateAll",
	    "vexil.v1.EvaluationService/GetSnapshot",
	    "vexil.v1.WatchService/Changes",
	    "vexil.v1.AuthService/Admit",
	    "vexil.v1.EdgeService/RecordEvaluations",
	};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(m->name, allowed[i]) == 0)
			return true;
	return false;
}

/*
 * Serves one request in place: msg becomes the reply. Returns false
 * without touching msg when the request belongs to the slow lane and w is
 * a request worker; the caller hands it over.
 */
static bool
serve(struct worker *w, nng_msg *msg)
{
	vx_server *srv = w->srv;
	vx_call c;
	Vexil__V1__Request *req;
	const vx_wire_method *m = NULL;
	ProtobufCMessage *in;
	const char *why = NULL;
	char name[96], rid[40];
	uint64_t t0 = vx_mono_ns();
	int rc;

	memset(&c, 0, sizeof(c));
	c.srv = srv;
	c.store = srv->store;
	c.reader = &w->reader;
	w->reader.if_revision = 0;
	c.arena = &w->arena;
	c.alloc = &w->arena.pb;
	c.cache = srv->cache;
	c.records = srv->records;
	vx_arena_reset(&w->arena);

	req = vexil__v1__request__unpack(c.alloc, nng_msg_len(msg), nng_msg_body(msg));
	if (req == NULL) {
		vx_status_set(&c.st, VEXIL__V1__CODE__INVALID_ARGUMENT, NULL, NULL,
		    "malformed request envelope");
		strcpy(name, "-");
		rid[0] = '\0';
		goto reply;
	}
	clean_name(name, sizeof(name), req->method);
	clean_name(rid, sizeof(rid), req->request_id);
	c.method = req->method;
	if ((m = vx_wire_registry_find(srv->registry, req->method)) == NULL) {
		vx_status_set(&c.st, VEXIL__V1__CODE__UNIMPLEMENTED, "method", NULL,
		    "unknown method %s", name);
		goto reply;
	}
	if (is_slow(m) && !w->slow)
		return false;
	if ((rc = vx_store_reader_acquire(&w->reader)) != 0) {
		char fault[sizeof(c.st.message)];
		vx_store_refusal(srv->store, rc, fault, sizeof(fault));
		vx_status_set(&c.st, VEXIL__V1__CODE__UNAVAILABLE, NULL, "storage",
		    "storage unavailable: %s", fault);
		goto reply;
	}
	rc = is_public(m) && *req->credential == '\0'
	         ? 0
	         : vx_auth_authenticate(
	               w->reader.txn, srv->store, req->credential, &c.who, &why);
	if (rc != 0) {
		vx_status_set(&c.st, vx_code_from_err(rc), "credential", NULL, "%s",
		    why ? why : vx_strerror(rc));
		goto reply;
	}
	if (c.who.kind == VX_PRINCIPAL_SDKKEY && !sdk_may_call(m)) {
		vx_status_set(&c.st, VEXIL__V1__CODE__PERMISSION_DENIED, "credential",
		    NULL, "an SDK key can only evaluate flags");
		goto reply;
	}
	in = protobuf_c_message_unpack(
	    m->desc->input, c.alloc, req->payload.len, req->payload.data);
	if (in == NULL) {
		vx_status_set(&c.st, VEXIL__V1__CODE__INVALID_ARGUMENT, "payload", NULL,
		    "malformed %s payload (or over the size budget)",
		    m->desc->input->name);
		goto reply;
	}
	if (!text_ok(&c, m->desc->input, &req->payload))
		goto reply;
	vx_invoke(&c, m, in);
reply:
	if (vx_wire_reply(msg, &c.st, c.out) != 0) {
		vx_status_set(&c.st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL,
		    "reply too large");
		if (vx_wire_reply(msg, &c.st, NULL) != 0)
			vx_log(VX_LOG_ERROR, "rpc: cannot build a reply");
	}
	vx_store_reader_release(&w->reader);
	if (c.snap != NULL)
		vx_evalcache_release(srv->cache, c.snap);
	if (!srv->opts.quiet)
		vx_log(VX_LOG_INFO, "rpc method=%s code=%s us=%llu actor=%s req=%s%s%s",
		    name, vx_code_name(c.st.code),
		    (unsigned long long)((vx_mono_ns() - t0) / 1000),
		    c.who.actor[0] ? c.who.actor : "-", rid[0] ? rid : "-",
		    c.st.code ? " msg=" : "", c.st.code ? c.st.message : "");
	return true;
}

/* Sends msg as the reply on ctx; a failed send leaves msg with us. */
static void
reply_on(struct worker *w, nng_ctx ctx, nng_msg *msg)
{
	int rv;

	nng_aio_set_msg(w->aio, msg);
	nng_aio_set_timeout(w->aio, 5000);
	nng_ctx_send(ctx, w->aio);
	nng_aio_wait(w->aio);
	if ((rv = nng_aio_result(w->aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(w->aio));
		vx_log(VX_LOG_WARN, "rpc: reply not sent: %s", nng_strerror(rv));
	}
}

/*
 * Hands a slow request, with the context it came on, to the slow lane and
 * gives the worker a fresh context. Returns false when the lane is full.
 */
static bool
hand_over(struct worker *w, nng_msg *msg)
{
	vx_server *srv = w->srv;
	nng_ctx fresh;
	bool ok = false;

	if (nng_ctx_open(&fresh, srv->rep) != 0)
		return false;
	pthread_mutex_lock(&srv->qlock);
	if (srv->qlen < srv->qcap) {
		srv->queue[(srv->qhead + srv->qlen++) % srv->qcap] =
		    (struct slow_job){w->ctx, msg};
		pthread_cond_signal(&srv->qcond);
		ok = true;
	}
	pthread_mutex_unlock(&srv->qlock);
	if (ok) {
		w->ctx = fresh;
	} else {
		nng_ctx_close(fresh);
		atomic_fetch_add_explicit(&srv->slow_refused, 1, memory_order_relaxed);
	}
	return ok;
}

void
vx_server_figures_get(vx_server *srv, vx_server_figures *out)
{
	pthread_mutex_lock(&srv->qlock);
	out->hash_queue_depth = (uint32_t)srv->qlen;
	out->hash_queue_capacity = (uint32_t)srv->qcap;
	pthread_mutex_unlock(&srv->qlock);
	out->hash_refused_total =
	    atomic_load_explicit(&srv->slow_refused, memory_order_relaxed);
	out->rpc_connections = (uint32_t)atomic_load(&srv->conns[0]);
	out->subscribers = (uint32_t)atomic_load(&srv->conns[1]);
	out->uptime_seconds = (vx_mono_ns() - srv->started_ns) / 1000000000u;
}

static void *
slow_main(void *arg)
{
	struct worker *w = arg;
	vx_server *srv = w->srv;
	struct slow_job job;

	for (;;) {
		pthread_mutex_lock(&srv->qlock);
		while (srv->qlen == 0 && !atomic_load(&srv->stopping))
			pthread_cond_wait(&srv->qcond, &srv->qlock);
		if (srv->qlen == 0) {
			pthread_mutex_unlock(&srv->qlock);
			break;
		}
		job = srv->queue[srv->qhead];
		srv->qhead = (srv->qhead + 1) % srv->qcap;
		srv->qlen--;
		pthread_mutex_unlock(&srv->qlock);
		(void)serve(w, job.msg);
		reply_on(w, job.ctx, job.msg);
		nng_ctx_close(job.ctx);
	}
	return NULL;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	vx_server *srv = w->srv;
	nng_msg *msg;
	int rv;

	while (!atomic_load(&srv->stopping)) {
		nng_aio_set_timeout(w->aio, 200);
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			vx_log(VX_LOG_WARN, "rpc: receive failed: %s", nng_strerror(rv));
			continue;
		}
		msg = nng_aio_get_msg(w->aio);
		if (!serve(w, msg)) {
			if (hand_over(w, msg))
				continue;
			vx_status busy;
			vx_status_set(&busy, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL,
			    NULL, "too many sign-ups and logins at once; retry shortly");
			if (vx_wire_reply(msg, &busy, NULL) != 0)
				vx_log(VX_LOG_ERROR, "rpc: cannot build a reply");
		}
		reply_on(w, w->ctx, msg);
	}
	return NULL;
}

/* ---- start and stop ---- */

struct pipe_count {
	vx_server *srv;
	int which;
};

static struct pipe_count pipe_counts[2];

/*
 * Counts connections and refuses those past --max-conns: a pipe closed
 * before it is added never reaches the socket (and gets no removal event).
 */
static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct pipe_count *pc = arg;
	vx_server *srv = pc->srv;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		if (atomic_fetch_add(&srv->conns[pc->which], 1) >= srv->opts.max_conns) {
			atomic_fetch_sub(&srv->conns[pc->which], 1);
			if (atomic_fetch_add(&srv->refused, 1) % 1000 == 0)
				vx_log(VX_LOG_WARN,
				    "%s: connection refused, at the limit of %d",
				    pc->which ? "pub" : "rpc", srv->opts.max_conns);
			nng_pipe_close(p);
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&srv->conns[pc->which], 1);
	}
}

static int
listen_on(vx_server *srv, nng_socket *sock, int (*open_fn)(nng_socket *), const char *url,
    int which, const char *what)
{
	nng_tls_config *cfg = NULL;
	nng_listener l;
	int rv;

	if (vx_wire_is_tls(url) &&
	    vx_wire_tls_server_config(srv->opts.tls_cert, srv->opts.tls_key, &cfg) != 0) {
		vx_log(VX_LOG_ERROR, "cannot listen for %s on %s without TLS", what, url);
		return VX_EINVAL;
	}

	if ((rv = open_fn(sock)) != 0)
		goto fail;
	pipe_counts[which] = (struct pipe_count){srv, which};
	if (vx_wire_harden(*sock, srv->opts.max_msg) != 0 ||
	    nng_pipe_notify(*sock, NNG_PIPE_EV_ADD_PRE, on_pipe, &pipe_counts[which]) !=
	        0 ||
	    nng_pipe_notify(*sock, NNG_PIPE_EV_REM_POST, on_pipe, &pipe_counts[which]) !=
	        0) {
		rv = NNG_EINVAL;
		goto fail;
	}
	if ((rv = nng_listener_create(&l, *sock, url)) != 0)
		goto fail;
	/* The listener holds the config from here on. */
	if ((cfg && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0) ||
	    (rv = nng_listener_start(l, 0)) != 0)
		goto fail;
	vx_log(VX_LOG_INFO, "%s listening on %s%s", what, url, cfg ? " (TLS)" : "");
	if (cfg)
		nng_tls_config_free(cfg);
	return 0;
fail:
	if (cfg)
		nng_tls_config_free(cfg);
	vx_log(
	    VX_LOG_ERROR, "cannot listen for %s on %s: %s", what, url, nng_strerror(rv));
	return VX_EIO;
}

int
vx_server_start(vx_server **out, const vx_server_opts *opts)
{
	vx_server *srv;
	vx_store_opts so = {0};
	ProtobufCService *services[] = {
	    &vx_project_service.base,
	    &vx_environment_service.base,
	    &vx_flag_service.base,
	    &vx_rule_service.base,
	    &vx_key_service.base,
	    &vx_audit_service.base,
	    &vx_evaluation_service.base,
	    &vx_watch_service.base,
	    &vx_user_service.base,
	    &vx_admin_service.base,
	    &vx_auth_service.base,
	    &vx_edge_service.base,
	    &vx_segment_service.base,
	    &vx_member_service.base,
	    &vx_schedule_service.base,
	    &vx_stale_service.base,
	    &vx_change_service.base,
	    &vx_ops_service.base,
	};
	int rc;

	if (sodium_init() < 0) {
		vx_log(VX_LOG_ERROR, "libsodium cannot initialise");
		return VX_EINTERNAL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return VX_ENOMEM;
	srv->opts = *opts;
	if (srv->opts.workers <= 0)
		srv->opts.workers = 16;
	if (srv->opts.max_msg == 0)
		srv->opts.max_msg = VX_WIRE_MAX_MSG;
	if (srv->opts.max_conns <= 0)
		srv->opts.max_conns = 1024;
	vx_rate_limit_set(opts->rate_limit < 0 ? 100 : (uint32_t)opts->rate_limit);
	atomic_init(&srv->stopping, false);
	srv->started_ns = vx_mono_ns();

	so.path = opts->data_dir;
	so.map_size = opts->map_size;
	so.map_max = opts->map_max;
	so.no_sync = opts->no_sync;
	so.change_log_keep = opts->change_log_keep;
	so.audit_keep = opts->audit_keep;
	so.on_commit = publish;
	so.on_commit_arg = srv;
	if ((rc = vx_store_open(&srv->store, &so)) != 0)
		goto fail;
	if ((rc = vx_bootstrap(srv->store, opts->data_dir)) != 0)
		goto fail;
	if ((rc = vx_wire_registry_alloc(&srv->registry)) != 0 ||
	    (rc = vx_evalcache_alloc(&srv->cache)) != 0 ||
	    (rc = vx_evalrec_start(&srv->records, srv->store,
	         opts->eval_buffer ? opts->eval_buffer : 16384, opts->eval_log_keep)) !=
	        0)
		goto fail;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if ((rc = vx_wire_registry_add(srv->registry, services[i])) != 0)
			goto fail;

	if ((rc = listen_on(srv, &srv->pub, nng_pub0_open, opts->pub_url, 1, "pub")) != 0)
		goto fail;
	srv->pub_open = true;
	/* Writes whose time passed while vexild was down apply now, in order,
	 * before anyone can call. */
	if ((rc = vx_scheduler_start(&srv->sched, srv, srv->store, srv->cache,
	         srv->records, opts->quiet)) != 0)
		goto fail;
	if ((rc = listen_on(srv, &srv->rep, nng_rep0_open, opts->rpc_url, 0, "rpc")) != 0)
		goto fail;
	srv->rep_open = true;

	srv->nslow = opts->hash_workers > 0 ? opts->hash_workers : SLOW_WORKERS;
	if (srv->nslow > SLOW_MAX)
		srv->nslow = SLOW_MAX;
	srv->qcap = opts->hash_queue > 0 ? opts->hash_queue : SLOW_QUEUE;
	if (srv->qcap > SLOW_QUEUE_MAX)
		srv->qcap = SLOW_QUEUE_MAX;
	if ((srv->queue = calloc(srv->qcap, sizeof(*srv->queue))) == NULL) {
		rc = VX_ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&srv->qlock, NULL);
	pthread_cond_init(&srv->qcond, NULL);
	srv->slow_started = true;
	for (int i = 0; i < srv->nslow; i++) {
		struct worker *w = &srv->slow[i];
		w->srv = srv;
		w->slow = true;
		vx_arena_init(&w->arena, 4 * srv->opts.max_msg + (1 << 20));
		vx_store_reader_init(&w->reader, srv->store);
		if (nng_aio_alloc(&w->aio, NULL, NULL) != 0 ||
		    pthread_create(&w->thread, NULL, slow_main, w) != 0) {
			rc = VX_EIO;
			goto fail;
		}
		w->started = true;
	}

	srv->workers = calloc((size_t)srv->opts.workers, sizeof(*srv->workers));
	if (srv->workers == NULL) {
		rc = VX_ENOMEM;
		goto fail;
	}
	for (int i = 0; i < srv->opts.workers; i++) {
		struct worker *w = &srv->workers[i];
		w->srv = srv;
		/* Room for the decoded request and the reply built from it. */
		vx_arena_init(&w->arena, 4 * srv->opts.max_msg + (1 << 20));
		vx_store_reader_init(&w->reader, srv->store);
		if (nng_ctx_open(&w->ctx, srv->rep) != 0 ||
		    nng_aio_alloc(&w->aio, NULL, NULL) != 0) {
			rc = VX_EIO;
			goto fail;
		}
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rc = VX_EIO;
			goto fail;
		}
		w->started = true;
		srv->nworkers = i + 1;
	}
	vx_log(VX_LOG_INFO, "vexild serving with %d workers, data in %s",
	    srv->opts.workers, opts->data_dir);
	*out = srv;
	return 0;
fail:
	vx_server_stop(srv);
	return rc ? rc : VX_EIO;
}

enum vx_store_state
vx_server_storage(vx_server *srv, char *why, size_t cap)
{
	return vx_store_state(srv->store, why, cap);
}

void
vx_server_stop(vx_server *srv)
{
	if (srv == NULL)
		return;
	atomic_store(&srv->stopping, true);
	vx_scheduler_stop(srv->sched);
	/* Workers notice within one receive timeout; in-flight requests finish
	 * and are answered first. */
	for (int i = 0; i < srv->opts.workers && srv->workers; i++) {
		struct worker *w = &srv->workers[i];
		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->aio) {
			nng_aio_free(w->aio);
			nng_ctx_close(w->ctx);
		}
		vx_store_reader_fini(&w->reader);
		vx_arena_fini(&w->arena);
	}
	free(srv->workers);
	/* The slow lane finishes what it was handed, then stops. */
	if (srv->slow_started) {
		pthread_mutex_lock(&srv->qlock);
		pthread_cond_broadcast(&srv->qcond);
		pthread_mutex_unlock(&srv->qlock);
		for (int i = 0; i < srv->nslow; i++) {
			struct worker *w = &srv->slow[i];
			if (w->started)
				pthread_join(w->thread, NULL);
			if (w->aio)
				nng_aio_free(w->aio);
			vx_store_reader_fini(&w->reader);
			vx_arena_fini(&w->arena);
		}
		pthread_mutex_destroy(&srv->qlock);
		pthread_cond_destroy(&srv->qcond);
	}
	if (srv->rep_open) {
		/* Give the last replies a moment to leave before the pipes go. */
		nng_msleep(50);
		nng_close(srv->rep);
	}
	if (srv->pub_open) {
		nng_close(srv->pub);
		srv->pub_open = false;
	}
	vx_wire_registry_free(srv->registry);
	vx_evalcache_free(srv->cache);
	/* The last records are written before the store closes. */
	vx_evalrec_stop(srv->records);
	vx_store_close(srv->store);
	free(srv->queue);
	free(srv);
}
