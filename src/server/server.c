/*
 * Vexil — vexild's dispatcher and its asynchronous request path.
 *
 * The REP socket is served by a pool of nng contexts driven by aio
 * callbacks, as in nng's demo/async/server.c: no thread waits on a
 * context. Each context is a slot that owns a request arena and a store
 * reader, so a request allocates nothing from the heap in the steady state
 * and holds its read transaction only while it runs. A request that only
 * reads (gets, lists, evaluations, Changes) is answered on the receive
 * callback itself, with no thread hand-off. One that writes waits for
 * fsync, which must not stall nng's task threads, so its slot is queued to
 * the write lane: threads of our own that serve it and send the reply,
 * and whose writes the store group-commits (several in one transaction
 * and one fsync) when they arrive together. Password hashing has a lane
 * of its own (the slow lane). A lane's queue is bounded and a request
 * past it is answered RESOURCE_EXHAUSTED at once. Receives time out every
 * 200 ms so that a stop request is noticed; a request already received is
 * always answered.
 *
 * --workers contexts are always receiving. A slot whose request leaves the
 * callback (queued to a lane, or parked) leaves that pool first and a spare
 * or new slot takes its place on the socket; coming back, it receives again
 * only if the pool is short, and is spare otherwise. Without that, --workers
 * writes waiting for fsync (or sign-ups waiting for Argon2) left no context
 * receiving, and every read waited behind them.
 *
 * A long-poll Changes (wait_ms) that finds nothing new parks its slot on
 * an nng sleep and a fresh slot takes its place on the socket; the commit
 * hook cancels the sleep of every slot parked on the project it committed
 * to, and the slot serves the request again, now with the change. So a
 * caught-up subscriber gets each change in one reply, with no notice and
 * no request in between.
 *
 * Committed changes reach the PUB socket from the store's commit hook,
 * which runs under the writer lock, so notices leave in revision order.
 */
#include "server/server.h"
#include "server/readmemo.h"
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
/*
 * The write lane: its threads and the writes that may wait for them. A
 * thread serves one write at a time and mostly waits in vx_store_write()
 * for the group commit its write is in, so there are enough of them for
 * the writes arriving during one fsync to be committed together by the
 * next (the store commits up to VX_STORE_BATCH_MAX at once).
 */
#define WRITE_THREADS 32
#define WRITE_QUEUE 1024
#define SEND_TIMEOUT_MS 5000
/* Long-polls parked at once; more are refused RESOURCE_EXHAUSTED. */
#define MAX_PARKED 4096
/* Times a long-poll reads again when commits race its parking. */
#define PARK_TRIES 8

enum lane_kind { LANE_READ, LANE_WRITE, LANE_SLOW, LANES };

enum slot_state {
	SLOT_IDLE,   /* off the socket: stopped, or spare */
	SLOT_RECV,   /* waiting for a request */
	SLOT_BUSY,   /* serving one, on a callback or in a lane */
	SLOT_PARKED, /* a long-poll waiting for a commit or its time */
	SLOT_SEND,   /* sending the reply */
};

/* One REP context and what serving a request on it needs. */
struct slot {
	vx_server *srv;
	struct slot *next_all;  /* every slot, for the stop */
	struct slot *next_park; /* parked on a project, or spare */
	nng_ctx ctx;
	nng_aio *aio;      /* receives (untimed: a stop cancels them) */
	nng_aio *send_aio; /* sends the reply: never the receives' aio */
	nng_aio *park_aio; /* the long-poll's sleep, cancelled by a commit */
	enum slot_state state;
	bool rotation; /* counts towards the receiving contexts */
	bool woken;    /* a parked request served again */
	uint64_t park_project;
	uint64_t seq; /* the commit count before the request's reader began */
	nng_msg *msg;
	vx_arena arena;
	vx_store_reader reader;
	vx_readmemo memo; /* the last credential admitted, per snapshot */
};

/* Slots waiting for threads of our own, and the threads. */
struct lane {
	vx_server *srv;
	enum lane_kind kind;
	const char *busy; /* the refusal when the queue is full */
	pthread_t threads[SLOW_MAX];
	int nthreads;
	struct slot **queue;
	size_t cap, head, len;
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
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
	atomic_uint_fast64_t refused;
	/* The write and slow lanes (lanes[LANE_READ] is unused). */
	struct lane lanes[LANES];
	bool lanes_started;
	/*
	 * Slots: every one (all), the spare ones (spare), the parked ones
	 * (parked), how many are off IDLE (live) and how many receive for the
	 * pool (rotation, kept at opts.workers while parked slots are out).
	 * commit_seq counts commits; a request that parks checks it did not
	 * move since its reader began. All under slock.
	 */
	pthread_mutex_t slock;
	vx_replymemo replies; /* the last Changes reply packed */
	vx_credmemo creds;    /* the last credential admitted, for every slot */
	pthread_cond_t scond;
	struct slot *all, *spare, *parked;
	int live, rotation, nparked;
	atomic_uint_fast64_t commit_seq;
	atomic_uint_fast64_t slow_refused; /* slow-lane requests refused, full */
	uint64_t started_ns;               /* vx_mono_ns() at start */
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

/*
 * vx_call_project, with the project decoded into the call's arena, or
 * (view) shared from the slot's memo when the call has one.
 */
static int
call_project(vx_call *c, MDB_txn *txn, const char *ref, Vexil__V1__Role need, bool view,
    Vexil__V1__Project **out)
{
	uint64_t id, owner = c->who.kind == VX_PRINCIPAL_USER ? c->who.id : 0;
	const Vexil__V1__Project *shared;
	int rc;

	if (ref == NULL || *ref == '\0') {
		/* A key bound to one project names it by itself. */
		if (c->who.project_id == 0)
			return vx_fail(
			    c, VX_EINVAL, "project", "required", "project is required");
		id = c->who.project_id;
	} else if (vx_parse_u64(ref, &id) != 0) {
		rc = view && c->memo != NULL
		         ? vx_readmemo_project_find(
		               c->memo, txn, c->store, owner, ref, &id)
		         : vx_store_project_find(txn, c->store, owner, ref, &id);
		if (rc == VX_ENOTFOUND)
			goto notfound;
		if (rc != 0)
			return rc;
	}
	if (view && c->memo != NULL) {
		rc = vx_readmemo_project(c->memo, txn, c->store, id, &shared);
		/* Handed out as const by vx_call_project_view. */
		*out = (Vexil__V1__Project *)shared;
	} else {
		rc = vx_store_project_get(txn, c->store, id, c->alloc, out);
	}
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
vx_call_project(vx_call *c, MDB_txn *txn, const char *ref, Vexil__V1__Role need,
    Vexil__V1__Project **out)
{
	return call_project(c, txn, ref, need, false, out);
}

int
vx_call_project_read(vx_call *c, const char *ref, Vexil__V1__Project **out)
{
	return vx_call_project(c, c->reader->txn, ref, VEXIL__V1__ROLE__ROLE_READ, out);
}

int
vx_call_project_view(vx_call *c, const char *ref, const Vexil__V1__Project **out)
{
	Vexil__V1__Project *p = NULL;
	int rc =
	    call_project(c, c->reader->txn, ref, VEXIL__V1__ROLE__ROLE_READ, true, &p);

	*out = p;
	return rc;
}

/* ---- publishing ---- */

/*
 * Counts the commit and wakes the long-polls parked on a project it
 * changed: cancelling a slot's sleep runs its callback, which serves the
 * request again. The sleep is cancelled under slock, where the slot
 * parked, so it cannot be a later operation of that slot's.
 */
static void
wake_parked(vx_server *srv, const Vexil__V1__Change *const *changes, size_t n)
{
	if (n == 0)
		return; /* a write that changed no project (key bookkeeping) */
	pthread_mutex_lock(&srv->slock);
	atomic_fetch_add(&srv->commit_seq, 1);
	for (struct slot **pp = &srv->parked; *pp != NULL;) {
		struct slot *sl = *pp;
		bool hit = false;
		for (size_t i = 0; i < n && !hit; i++)
			hit = changes[i]->project_id == sl->park_project;
		if (!hit) {
			pp = &sl->next_park;
			continue;
		}
		*pp = sl->next_park;
		sl->next_park = NULL;
		sl->park_project = 0;
		srv->nparked--;
		nng_aio_cancel(sl->park_aio);
	}
	pthread_mutex_unlock(&srv->slock);
}

static void
publish(void *arg, const Vexil__V1__Change *const *changes, size_t n)
{
	vx_server *srv = arg;
	Vexil__V1__ChangeNotice note;
	char topic[32];
	nng_msg *msg;
	size_t tlen, blen;

	wake_parked(srv, changes, n);
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
	c->out_packed.len = 0;
	c->out_packed.data = NULL;
	c->protected_env = NULL;
	/* The store names the project and revision the request's last write
	 * made (so a gateway reads its own writes before their notice). */
	c->reader->committed_project = c->reader->committed_revision = 0;
	m->service->invoke(m->service, m->index, in, take_output, c);
	if (c->st.code == VEXIL__V1__CODE__OK && c->out == NULL)
		vx_status_set(&c->st, VEXIL__V1__CODE__INTERNAL, NULL, NULL,
		    "handler gave no reply");
	if (c->st.code == VEXIL__V1__CODE__OK) {
		c->st.project_id = c->reader->committed_project;
		c->st.revision = c->reader->committed_revision;
	}
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
 * The lane a method runs in: reads on the receive callback; writes, which
 * wait for fsync, on the write lane; password hashing on the slow lane.
 * A method not known to only read is taken for a write: that is always
 * correct, only slower.
 */
static enum lane_kind
lane_of(const vx_wire_method *m)
{
	static const char *const read_verbs[] = {"Get", "List", "Evaluate", "Changes",
	    "Admit", "RecordEvaluations", "RecordExposure"};
	const char *verb = strchr(m->name, '/');

	if (is_slow(m))
		return LANE_SLOW;
	if (verb == NULL)
		return LANE_WRITE;
	verb++;
	for (size_t i = 0; i < sizeof(read_verbs) / sizeof(read_verbs[0]); i++)
		if (strncmp(verb, read_verbs[i], strlen(read_verbs[i])) == 0)
			return LANE_READ;
	return LANE_WRITE;
}

enum served {
	SERVED,    /* sl->msg is the reply */
	PARKED,    /* a long-poll waits; sl->msg is kept as it was */
	ELSEWHERE, /* belongs to another lane; sl->msg untouched */
};

static bool slot_park(struct slot *sl, uint64_t project, uint32_t ms, bool *full);

/*
 * Serves the request in sl->msg in lane `here`. On the read lane, a
 * request of another lane is left for it (*want) and a long-poll with
 * nothing new may park; a lane's thread serves whatever it is handed.
 */
static enum served
serve(struct slot *sl, enum lane_kind here, enum lane_kind *want)
{
	vx_server *srv = sl->srv;
	nng_msg *msg = sl->msg;
	vx_call c;
	Vexil__V1__Request *req;
	const vx_wire_method *m = NULL;
	ProtobufCMessage *in;
	const char *why = NULL;
	char name[96], rid[40];
	uint64_t t0 = vx_mono_ns();
	bool full = false;
	int rc, tries = 0;

again:
	memset(&c, 0, sizeof(c));
	c.srv = srv;
	c.store = srv->store;
	c.reader = &sl->reader;
	sl->reader.if_revision = 0;
	c.arena = &sl->arena;
	c.alloc = &sl->arena.pb;
	c.cache = srv->cache;
	c.records = srv->records;
	c.woken = sl->woken || here != LANE_READ;
	c.memo = &sl->memo;
	c.replies = &srv->replies;
	vx_arena_reset(&sl->arena);

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
	if (here == LANE_READ && (*want = lane_of(m)) != LANE_READ)
		return ELSEWHERE;
	sl->seq = atomic_load(&srv->commit_seq);
	if ((rc = vx_store_reader_acquire(&sl->reader)) != 0) {
		char fault[sizeof(c.st.message)];
		vx_store_refusal(srv->store, rc, fault, sizeof(fault));
		vx_status_set(&c.st, VEXIL__V1__CODE__UNAVAILABLE, NULL, "storage",
		    "storage unavailable: %s", fault);
		goto reply;
	}
	rc = is_public(m) && *req->credential == '\0'
	         ? 0
	         : vx_readmemo_authenticate(&sl->memo, sl->reader.txn, srv->store,
	               req->credential, &c.who, &why);
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
	if (c.park_ms != 0 && c.st.code == VEXIL__V1__CODE__OK) {
		/* Parked, it holds no LMDB reader slot: there may be more
		 * long-polls (MAX_PARKED) than slots. */
		vx_store_reader_fini(&sl->reader);
		if (c.snap != NULL)
			vx_evalcache_release(srv->cache, c.snap);
		c.snap = NULL;
		if (slot_park(sl, c.park_project, c.park_ms, &full))
			return PARKED;
		if (!full) {
			/* A commit came in meanwhile, maybe to this project: read
			 * again, and park again if it was not; after a few tries
			 * (a busy server), or when stopping, answer as is. */
			sl->woken = ++tries >= PARK_TRIES || atomic_load(&srv->stopping);
			goto again;
		}
		vx_status_set(&c.st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, "wait_ms", NULL,
		    "too many long-polls waiting; retry shortly, or without wait_ms");
		c.out = NULL;
		c.out_packed.len = 0;
	}
reply:
	/* Packed before the reader is released: out_packed may be its pages.
	 * c.packed is a whole Changes reply another slot packed (replymemo). */
	if (c.packed != NULL && c.st.code == VEXIL__V1__CODE__OK) {
		nng_msg_clear(msg);
		if (nng_msg_append(msg, c.packed, c.packed_len) != 0)
			vx_log(VX_LOG_ERROR, "rpc: cannot build a reply");
	} else if ((c.out_packed.len != 0 ? vx_wire_reply_packed(msg, &c.st,
	                                        c.out_packed.data, c.out_packed.len)
	                                  : vx_wire_reply(msg, &c.st, c.out)) != 0) {
		vx_status_set(&c.st, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL,
		    "reply too large");
		if (vx_wire_reply(msg, &c.st, NULL) != 0)
			vx_log(VX_LOG_ERROR, "rpc: cannot build a reply");
	} else if (c.sharing && c.st.code == VEXIL__V1__CODE__OK)
		vx_replymemo_keep(
		    &srv->replies, &c.share, nng_msg_body(msg), nng_msg_len(msg));
	vx_store_reader_release(&sl->reader);
	if (c.snap != NULL)
		vx_evalcache_release(srv->cache, c.snap);
	if (!srv->opts.quiet)
		vx_log(VX_LOG_INFO, "rpc method=%s code=%s us=%llu actor=%s req=%s%s%s",
		    name, vx_code_name(c.st.code),
		    (unsigned long long)((vx_mono_ns() - t0) / 1000),
		    c.who.actor[0] ? c.who.actor : "-", rid[0] ? rid : "-",
		    c.st.code ? " msg=" : "", c.st.code ? c.st.message : "");
	/* The reply is packed: what the request decoded and built goes back
	 * now, not when this slot next serves (dozens of slots take turns). */
	vx_arena_reset(&sl->arena);
	return SERVED;
}

/* ---- slots ---- */

static void slot_cb(void *arg);
static void send_cb(void *arg);
static void park_cb(void *arg);

/* A new slot on the REP socket, IDLE, on the list of all slots. */
static int
slot_alloc(vx_server *srv, struct slot **out)
{
	struct slot *sl = calloc(1, sizeof(*sl));

	if (sl == NULL)
		return VX_ENOMEM;
	sl->srv = srv;
	if (nng_ctx_open(&sl->ctx, srv->rep) != 0)
		goto no_ctx;
	if (nng_aio_alloc(&sl->aio, slot_cb, sl) != 0)
		goto no_aio;
	if (nng_aio_alloc(&sl->send_aio, send_cb, sl) != 0)
		goto no_send_aio;
	if (nng_aio_alloc(&sl->park_aio, park_cb, sl) != 0)
		goto no_park_aio;
	/* Room for the decoded request and the reply built from it. */
	vx_arena_init(&sl->arena, 4 * srv->opts.max_msg + (1 << 20));
	vx_store_reader_init(&sl->reader, srv->store);
	vx_readmemo_init(&sl->memo);
	sl->memo.shared = &srv->creds;
	pthread_mutex_lock(&srv->slock);
	sl->next_all = srv->all;
	srv->all = sl;
	pthread_mutex_unlock(&srv->slock);
	*out = sl;
	return 0;

no_park_aio:
	nng_aio_free(sl->send_aio);
no_send_aio:
	nng_aio_free(sl->aio);
no_aio:
	nng_ctx_close(sl->ctx);
no_ctx:
	free(sl);
	return VX_EIO;
}

/*
 * Receives with no timeout: an idle server wakes for nothing (with a
 * timeout, every slot's receive woke nng's timer threads, 3% of a core
 * idle). vx_server_stop() sets stopping, then cancels every slot's
 * receive; a receive posted after that pass sees stopping here and ends
 * itself, so none is left waiting (stopping and the post are both
 * sequentially consistent, so one side sees the other).
 */
static void
slot_recv(struct slot *sl)
{
	sl->state = SLOT_RECV;
	nng_aio_set_timeout(sl->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(sl->ctx, sl->aio);
	if (atomic_load(&sl->srv->stopping))
		nng_aio_cancel(sl->aio);
}

/*
 * Sends sl->msg as the reply; the callback takes it from there.
 *
 * On an aio of its own, never the receives' one: nng 1.5.2's timer thread
 * collects the operations that fall due, lets go of its lock, and only
 * then cancels each with the cancel function the aio holds at that
 * moment. A receive that fell due just as a request arrived is collected,
 * completes with the request anyway, and the request is served on the
 * callback; its reply, sent on the same aio and waiting for the pipe
 * (another reply to the same peer ahead of it), was then the operation
 * cancelled, "Timed out" at once, and the caller never had an answer
 * (the gateway's 504 after 10 s, its OFREP stream's fill retried 10 s
 * late). A stale cancel on the receive aio only ends the next receive,
 * which receives again.
 */
static void
slot_send(struct slot *sl)
{
	sl->state = SLOT_SEND;
	nng_aio_set_msg(sl->send_aio, sl->msg);
	sl->msg = NULL;
	nng_aio_set_timeout(sl->send_aio, SEND_TIMEOUT_MS);
	nng_ctx_send(sl->ctx, sl->send_aio);
}

/* Takes sl off the socket, under slock; the last one wakes the stop. */
static void
slot_retire_locked(struct slot *sl, bool spare)
{
	vx_server *srv = sl->srv;

	sl->state = SLOT_IDLE;
	if (sl->rotation) {
		sl->rotation = false;
		srv->rotation--;
	}
	if (spare) {
		vx_store_reader_fini(&sl->reader); /* its LMDB reader slot */
		sl->next_park = srv->spare;
		srv->spare = sl;
	}
	if (--srv->live == 0)
		pthread_cond_broadcast(&srv->scond);
}

/* After a reply: back to receiving, or spare when the pool is full
 * without it (it came back from a lane or a long-poll, or the pool is over
 * by a replacement that raced its return), or idle when stopping. */
static void
slot_next(struct slot *sl)
{
	vx_server *srv = sl->srv;
	bool recv = false;

	pthread_mutex_lock(&srv->slock);
	if (atomic_load(&srv->stopping)) {
		slot_retire_locked(sl, false);
	} else if (srv->rotation > srv->opts.workers ||
	           (!sl->rotation && srv->rotation >= srv->opts.workers)) {
		slot_retire_locked(sl, true);
	} else {
		if (!sl->rotation) {
			sl->rotation = true;
			srv->rotation++;
		}
		recv = true;
	}
	pthread_mutex_unlock(&srv->slock);
	if (recv)
		slot_recv(sl);
}

/*
 * Puts a slot on the socket in place of one that left the pool: a spare
 * one, or a new one. Without one the pool is a context short until a slot
 * comes back. Called while the slot that left is still live, so that a
 * stop cannot have finished meanwhile.
 */
static void
slot_replace(vx_server *srv)
{
	struct slot *sl;
	bool recv = false;

	pthread_mutex_lock(&srv->slock);
	if ((sl = srv->spare) != NULL)
		srv->spare = sl->next_park;
	pthread_mutex_unlock(&srv->slock);
	if (sl == NULL && slot_alloc(srv, &sl) != 0) {
		vx_log(VX_LOG_WARN, "rpc: no context to replace one taken by a request");
		return;
	}
	pthread_mutex_lock(&srv->slock);
	sl->next_park = NULL;
	if (atomic_load(&srv->stopping)) {
		sl->next_park = srv->spare;
		srv->spare = sl;
	} else {
		sl->rotation = true;
		srv->rotation++;
		srv->live++;
		recv = true;
	}
	pthread_mutex_unlock(&srv->slock);
	if (recv)
		slot_recv(sl);
}

/*
 * sl's request leaves the callback (to a lane, or to park): sl leaves the
 * receiving pool and another slot takes its place, so that the pool keeps
 * --workers contexts receiving however many requests wait elsewhere.
 */
static void
slot_hand_off(struct slot *sl)
{
	vx_server *srv = sl->srv;
	bool replace = false;

	pthread_mutex_lock(&srv->slock);
	if (sl->rotation) {
		sl->rotation = false;
		srv->rotation--;
		replace = true;
	}
	pthread_mutex_unlock(&srv->slock);
	if (replace)
		slot_replace(srv);
}

/*
 * Parks sl on an nng sleep of ms until a commit to project wakes it. Not
 * parked when a commit came in since the request's reader began, when
 * stopping, or (*full) with MAX_PARKED already parked.
 */
static bool
slot_park(struct slot *sl, uint64_t project, uint32_t ms, bool *full)
{
	vx_server *srv = sl->srv;

	pthread_mutex_lock(&srv->slock);
	*full = srv->nparked >= MAX_PARKED;
	if (*full || atomic_load(&srv->stopping) ||
	    atomic_load(&srv->commit_seq) != sl->seq) {
		pthread_mutex_unlock(&srv->slock);
		return false;
	}
	pthread_mutex_unlock(&srv->slock);
	/* Replaced before it parks: once parked, a commit may answer it and
	 * a stop finish before a replacement could be put on. */
	slot_hand_off(sl);
	pthread_mutex_lock(&srv->slock);
	if (atomic_load(&srv->stopping) || atomic_load(&srv->commit_seq) != sl->seq) {
		pthread_mutex_unlock(&srv->slock);
		return false;
	}
	sl->state = SLOT_PARKED;
	sl->park_project = project;
	sl->next_park = srv->parked;
	srv->parked = sl;
	srv->nparked++;
	/* Under slock, so that wake_parked() cannot cancel before it. */
	nng_sleep_aio((nng_duration)ms, sl->park_aio);
	pthread_mutex_unlock(&srv->slock);
	return true;
}

/* A parked slot's sleep ended: off the list if a commit did not take it. */
static void
slot_unpark(struct slot *sl)
{
	vx_server *srv = sl->srv;

	pthread_mutex_lock(&srv->slock);
	if (sl->park_project != 0) {
		for (struct slot **pp = &srv->parked; *pp != NULL; pp = &(*pp)->next_park)
			if (*pp == sl) {
				*pp = sl->next_park;
				srv->nparked--;
				break;
			}
		sl->park_project = 0;
	}
	sl->next_park = NULL;
	pthread_mutex_unlock(&srv->slock);
}

/* Queues sl for a lane's threads; false when the queue is full. */
static bool
lane_push(struct lane *l, struct slot *sl)
{
	bool ok = false;

	pthread_mutex_lock(&l->lock);
	if (l->len < l->cap) {
		l->queue[(l->head + l->len++) % l->cap] = sl;
		pthread_cond_signal(&l->cond);
		ok = true;
	}
	pthread_mutex_unlock(&l->lock);
	if (!ok && l->kind == LANE_SLOW)
		atomic_fetch_add_explicit(&l->srv->slow_refused, 1, memory_order_relaxed);
	return ok;
}

void
vx_server_figures_get(vx_server *srv, vx_server_figures *out)
{
	struct lane *l = &srv->lanes[LANE_SLOW];

	pthread_mutex_lock(&l->lock);
	out->hash_queue_depth = (uint32_t)l->len;
	out->hash_queue_capacity = (uint32_t)l->cap;
	pthread_mutex_unlock(&l->lock);
	out->hash_refused_total =
	    atomic_load_explicit(&srv->slow_refused, memory_order_relaxed);
	out->rpc_connections = (uint32_t)atomic_load(&srv->conns[0]);
	out->subscribers = (uint32_t)atomic_load(&srv->conns[1]);
	out->uptime_seconds = (vx_mono_ns() - srv->started_ns) / 1000000000u;
}

/* Serves a received request on the callback, or hands it to its lane. */
static void
dispatch(struct slot *sl)
{
	vx_server *srv = sl->srv;
	enum lane_kind want = LANE_READ;
	vx_status busy;

	sl->state = SLOT_BUSY;
	switch (serve(sl, LANE_READ, &want)) {
	case SERVED: slot_send(sl); return;
	case PARKED: return;
	case ELSEWHERE:
		/* Replaced first: once queued, the lane may answer it and a stop
		 * finish before a replacement could be put on. Refused, it is
		 * answered here and goes spare (the pool is full without it). */
		slot_hand_off(sl);
		/* Queued, it holds no LMDB reader slot (WRITE_QUEUE and the slow
		 * lane's queue exceed them); its lane's thread takes one. */
		vx_store_reader_fini(&sl->reader);
		if (lane_push(&srv->lanes[want], sl))
			return;
		vx_status_set(&busy, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, NULL, NULL,
		    "%s", srv->lanes[want].busy);
		if (vx_wire_reply(sl->msg, &busy, NULL) != 0)
			vx_log(VX_LOG_ERROR, "rpc: cannot build a reply");
		slot_send(sl);
		return;
	}
}

/* A parked slot's sleep ended: its time is up (0) or a commit woke it
 * (NNG_ECANCELED); either way the request is served again. */
static void
park_cb(void *arg)
{
	struct slot *sl = arg;

	/* Cancelled, it was taken off the list first (wake_parked(), the
	 * stop): not taking slock here keeps the slots a commit wakes from
	 * queueing on the lock their waker holds. */
	if (nng_aio_result(sl->park_aio) != NNG_ECANCELED)
		slot_unpark(sl);
	sl->woken = true;
	dispatch(sl);
}

static void
slot_cb(void *arg)
{
	struct slot *sl = arg;
	vx_server *srv = sl->srv;
	int rv = nng_aio_result(sl->aio);

	switch (sl->state) {
	case SLOT_RECV:
		if (rv != 0) {
			bool stop = atomic_load(&srv->stopping);
			if (rv != NNG_ECLOSED && !(stop && rv == NNG_ECANCELED))
				vx_log(VX_LOG_WARN, "rpc: receive failed: %s",
				    nng_strerror(rv));
			if (rv != NNG_ECLOSED && !stop) {
				slot_recv(sl);
				return;
			}
			pthread_mutex_lock(&srv->slock);
			slot_retire_locked(sl, false);
			pthread_mutex_unlock(&srv->slock);
			return;
		}
		sl->msg = nng_aio_get_msg(sl->aio);
		sl->woken = false;
		dispatch(sl);
		return;
	default: vx_log(VX_LOG_ERROR, "rpc: callback on a slot in state %d", sl->state);
	}
}

/* A reply went out (or failed to): the slot goes on (slot_next). */
static void
send_cb(void *arg)
{
	struct slot *sl = arg;
	int rv = nng_aio_result(sl->send_aio);

	if (rv != 0) {
		/* A failed send leaves the message with us. */
		nng_msg_free(nng_aio_get_msg(sl->send_aio));
		nng_aio_set_msg(sl->send_aio, NULL);
		vx_log(VX_LOG_WARN, "rpc: reply not sent: %s", nng_strerror(rv));
	}
	slot_next(sl);
}

static void *
lane_main(void *arg)
{
	struct lane *l = arg;
	struct slot *sl;
	enum lane_kind want;

	for (;;) {
		pthread_mutex_lock(&l->lock);
		while (l->len == 0 && !l->stop)
			pthread_cond_wait(&l->cond, &l->lock);
		if (l->len == 0) {
			pthread_mutex_unlock(&l->lock);
			break;
		}
		sl = l->queue[l->head];
		l->head = (l->head + 1) % l->cap;
		l->len--;
		pthread_mutex_unlock(&l->lock);
		(void)serve(sl, l->kind, &want);
		slot_send(sl);
	}
	return NULL;
}

static int
lane_start(
    vx_server *srv, enum lane_kind kind, int nthreads, size_t cap, const char *busy)
{
	struct lane *l = &srv->lanes[kind];

	l->srv = srv;
	l->kind = kind;
	l->busy = busy;
	l->cap = cap;
	if ((l->queue = calloc(cap, sizeof(*l->queue))) == NULL)
		return VX_ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	for (; l->nthreads < nthreads; l->nthreads++)
		if (pthread_create(&l->threads[l->nthreads], NULL, lane_main, l) != 0)
			return VX_EIO;
	return 0;
}

/* Lets the lane's threads finish what is queued, then joins them. */
static void
lane_stop(struct lane *l)
{
	if (l->queue == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	for (int i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->queue);
}

/* ---- start and stop ---- */

struct pipe_count {
	vx_server *srv;
	int which;
};

static struct pipe_count pipe_counts[2];

/*
 * Counts connections and refuses those past --max-conns. A pipe closed in
 * its ADD_PRE event never reaches the socket, but nng still sends its
 * REM_POST event when it is torn down, so it stays counted until then:
 * taking it off the count at the refusal as well made every refused
 * connection free a slot that was not free, and the refused client's
 * next redial got in past the limit.
 */
static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct pipe_count *pc = arg;
	vx_server *srv = pc->srv;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		if (atomic_fetch_add(&srv->conns[pc->which], 1) >= srv->opts.max_conns) {
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
		srv->opts.workers = 64;
	if (srv->opts.max_msg == 0)
		srv->opts.max_msg = VX_WIRE_MAX_MSG;
	if (srv->opts.max_conns <= 0)
		srv->opts.max_conns = 1024;
	vx_rate_limit_set(opts->rate_limit < 0 ? 100 : (uint32_t)opts->rate_limit);
	atomic_init(&srv->stopping, false);
	srv->started_ns = vx_mono_ns();
	pthread_mutex_init(&srv->slock, NULL);
	vx_replymemo_init(&srv->replies);
	vx_credmemo_init(&srv->creds);
	pthread_cond_init(&srv->scond, NULL);

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

	{
		int nslow = opts->hash_workers > 0 ? opts->hash_workers : SLOW_WORKERS;
		size_t qcap = opts->hash_queue > 0 ? opts->hash_queue : SLOW_QUEUE;
		srv->lanes_started = true;
		if ((rc = lane_start(srv, LANE_WRITE, WRITE_THREADS, WRITE_QUEUE,
		         "too many writes waiting; retry shortly")) != 0 ||
		    (rc = lane_start(srv, LANE_SLOW, nslow > SLOW_MAX ? SLOW_MAX : nslow,
		         qcap > SLOW_QUEUE_MAX ? SLOW_QUEUE_MAX : qcap,
		         "too many sign-ups and logins at once; retry shortly")) != 0)
			goto fail;
	}
	for (int i = 0; i < srv->opts.workers; i++) {
		struct slot *sl;
		if ((rc = slot_alloc(srv, &sl)) != 0)
			goto fail;
		pthread_mutex_lock(&srv->slock);
		sl->rotation = true;
		srv->rotation++;
		srv->live++;
		pthread_mutex_unlock(&srv->slock);
		slot_recv(sl);
	}
	vx_log(VX_LOG_INFO, "vexild serving with %d contexts, data in %s",
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
	/* Parked long-polls are answered now, with what there is. */
	pthread_mutex_lock(&srv->slock);
	while (srv->parked != NULL) {
		struct slot *sl = srv->parked;
		srv->parked = sl->next_park;
		sl->next_park = NULL;
		sl->park_project = 0;
		srv->nparked--;
		nng_aio_cancel(sl->park_aio);
	}
	/* Every receive ends now (see slot_recv); every request received,
	 * queued or parked is answered first. */
	for (struct slot *sl = srv->all; sl != NULL; sl = sl->next_all)
		nng_aio_cancel(sl->aio);
	while (srv->live > 0)
		pthread_cond_wait(&srv->scond, &srv->slock);
	pthread_mutex_unlock(&srv->slock);
	if (srv->lanes_started)
		for (int i = 0; i < LANES; i++)
			lane_stop(&srv->lanes[i]);
	for (struct slot *sl = srv->all, *next; sl != NULL; sl = next) {
		next = sl->next_all;
		nng_aio_free(sl->aio);
		nng_aio_free(sl->send_aio);
		nng_aio_free(sl->park_aio);
		nng_ctx_close(sl->ctx);
		vx_store_reader_fini(&sl->reader);
		vx_arena_fini(&sl->arena);
		vx_readmemo_fini(&sl->memo);
		free(sl);
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
	pthread_mutex_destroy(&srv->slock);
	vx_replymemo_fini(&srv->replies);
	vx_credmemo_fini(&srv->creds);
	pthread_cond_destroy(&srv->scond);
	free(srv);
}
