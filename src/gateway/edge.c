/*
 * Vexil gateway — edge evaluation: see edge.h.
 *
 * Three parts, each with its own lock:
 *  - the snapshot table (a read-write lock; lookups take it shared): a
 *    small array scanned linearly, as the router does, since it holds at
 *    most max_snapshots entries. An entry is reference-counted; removing
 *    it (eviction, idle, a notice) moves it to the graveyard, and only the
 *    edge's own thread stops a watch, once no request holds it, so no
 *    request ever waits for a watch thread to end;
 *  - the credential cache (a mutex): direct-mapped by the credential's
 *    BLAKE2b-256 hash, positive answers only. An epoch bumped by every
 *    invalidation keeps an Admit that raced with a revocation from
 *    filling the cache with what it learnt before it;
 *  - the notice thread: one SUB socket on every project's topic, which
 *    drops credentials and snapshots as changes require and sweeps idle
 *    snapshots and the graveyard.
 */
#include "gateway/edge.h"

#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/rpc.h"
#include "vexil_eval.h"
#include "vexil_watch.h"

#define KEY_SLOTS 4096 /* a power of two */
#define MAX_ATTRS 64   /* as vexild's handlers_eval.c */
#define ENV_MAX 72
#define POLL_MS 1000 /* the watches' quiet-period catch-up */
#define REC_CAP 4096 /* evaluation records buffered per snapshot */
#define FLUSH_MS 100 /* how often they are sent */

struct key_ent {
	bool used;
	uint8_t hash[32];
	bool sdk;            /* an SDK key, else an API key */
	uint64_t project_id; /* 0: every project */
	char env[ENV_MAX];   /* the bound environment, or "" */
	int64_t expires_at;
};

/* One evaluation answered here, for vexild's counts and recent log (the
 * sizes are what vexild keeps, server/evalrec.c). */
struct rec {
	char flag[129];
	char variant[65];
	const char *reason; /* static: vx_eval_reason_name() */
	char user[129];
};

struct snap {
	uint64_t project_id;
	char env[ENV_MAX];
	vx_watch *w;
	char *credential; /* the watch's, for the record batches */
	atomic_int refs;
	_Atomic int64_t used_at;
	atomic_bool stale;
	/* The newest project revision a notice announced: a watch behind it
	 * has not applied a committed write yet, so the core answers. */
	atomic_uint_fast64_t heard;
	struct snap *next; /* in the graveyard */

	pthread_mutex_t rlock; /* recs, nrec, dropped */
	struct rec *recs;      /* REC_CAP, or NULL before the first record */
	size_t nrec;
	uint64_t dropped;
	struct rec *spare; /* the flusher's own */
};

struct vx_gw_edge {
	vx_gw_edge_opts o;
	char *rpc_url, *sub_url;
	vx_client *client;

	pthread_rwlock_t lock; /* snaps, n, grave */
	struct snap **snaps;
	size_t n;
	struct snap *grave;
	pthread_mutex_t starting; /* one watch start at a time */

	pthread_mutex_t klock;
	struct key_ent *keys;
	uint64_t epoch;

	nng_socket sub;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_uint_fast64_t served, misses;
	atomic_uint_fast64_t behind;      /* answered by the core: a watch was behind */
	atomic_uint_fast64_t rec_dropped; /* records vexild never got */
	int64_t flushed_at;
	atomic_int pipes; /* connections to vexild's PUB socket */
	atomic_bool ever; /* there was one */
};

/* The principal a credential resolves to. */
struct who {
	bool sdk;
	uint64_t project_id;
	char env[ENV_MAX];
};

/* ---- vexild's reachability ---- */

/*
 * Whether vexild is out of reach: the PUB connection was up and is gone
 * (nng redials it). Then a core call would only wait for its timeout, so
 * the edge answers from what it holds, or UNAVAILABLE at once.
 */
static bool
down(vx_gw_edge *e)
{
	return atomic_load(&e->ever) && atomic_load(&e->pipes) == 0;
}

static void keys_drop(vx_gw_edge *e, uint64_t project_id);

static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	vx_gw_edge *e = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_REM_POST) {
		if (atomic_fetch_sub(&e->pipes, 1) == 1)
			vx_log(VX_LOG_WARN,
			    "edge: lost vexild's change notices; answering from the "
			    "snapshots held");
		return;
	}
	/* Back after an outage (perhaps a restarted vexild): the notices
	 * missed meanwhile may have revoked keys, so forget them all. The
	 * watches catch up on their own. */
	if (atomic_exchange(&e->ever, true))
		keys_drop(e, 0);
	atomic_fetch_add(&e->pipes, 1);
}

/* The core call, unless vexild is known to be out of reach. */
static int
unavailable(vx_status *st)
{
	vx_status_set(st, VEXIL__V1__CODE__UNAVAILABLE, NULL, NULL,
	    "vexild is out of reach and this gateway holds no snapshot to answer from");
	return VX_ECLOSED;
}

/* ---- credentials ---- */

static struct key_ent *
key_slot(vx_gw_edge *e, const uint8_t hash[32])
{
	uint32_t i;

	memcpy(&i, hash, sizeof(i));
	return &e->keys[i & (KEY_SLOTS - 1)];
}

/* Drops every cached credential of project_id (all, for 0: a global API
 * key may act on any project). */
static void
keys_drop(vx_gw_edge *e, uint64_t project_id)
{
	pthread_mutex_lock(&e->klock);
	e->epoch++;
	for (size_t i = 0; i < KEY_SLOTS; i++)
		if (e->keys[i].used &&
		    (project_id == 0 || e->keys[i].project_id == project_id ||
		        e->keys[i].project_id == 0))
			e->keys[i].used = false;
	pthread_mutex_unlock(&e->klock);
}

/*
 * Caches what an Admit said of the credential with this hash, unless a
 * notice dropped credentials since epoch (the answer may predate it).
 * 0 with *who; -1 for an answer that is not of the credential's kind.
 */
static int
learn(vx_gw_edge *e, const uint8_t hash[32], bool sdk, const Vexil__V1__AdmitReply *out,
    uint64_t epoch, int64_t now, struct who *who)
{
	struct key_ent *k = key_slot(e, hash);

	if (strcmp(out->kind, sdk ? "sdkkey" : "apikey") != 0 ||
	    strlen(out->environment) >= ENV_MAX)
		return -1;
	who->sdk = sdk;
	who->project_id = out->project_id;
	snprintf(who->env, sizeof(who->env), "%s", out->environment);
	pthread_mutex_lock(&e->klock);
	if (epoch == e->epoch) {
		k->used = true;
		memcpy(k->hash, hash, 32);
		k->sdk = who->sdk;
		k->project_id = who->project_id;
		memcpy(k->env, who->env, sizeof(k->env));
		k->expires_at = now + e->o.key_ttl_ms;
	}
	pthread_mutex_unlock(&e->klock);
	return 0;
}

/*
 * Resolves r's credential: the cache, else AuthService/Admit. When vexild
 * is out of reach, an expired entry still answers (degraded mode); one
 * dropped by a notice never does. 0 with *who; -1 when the edge cannot
 * say (the caller makes the core call, which gives the exact answer).
 */
static int
resolve(vx_gw_edge *e, vx_gw_req *r, struct who *who)
{
	Vexil__V1__AdmitRequest in = VEXIL__V1__ADMIT_REQUEST__INIT;
	Vexil__V1__AdmitReply *out;
	struct key_ent *k;
	uint8_t hash[32];
	int64_t now = vx_now_ms();
	uint64_t epoch;
	bool expired = false, sdk;
	vx_status st;
	int rc;

	if (r->credential == NULL)
		return -1;
	sdk = strncmp(r->credential, "SdkKey ", 7) == 0;
	if (!sdk && strncmp(r->credential, "ApiKey ", 7) != 0)
		return -1;
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)r->credential,
	    strlen(r->credential), NULL, 0);
	k = key_slot(e, hash);
	pthread_mutex_lock(&e->klock);
	if (k->used && sodium_memcmp(k->hash, hash, sizeof(hash)) == 0) {
		who->sdk = k->sdk;
		who->project_id = k->project_id;
		memcpy(who->env, k->env, sizeof(who->env));
		expired = now >= k->expires_at;
		if (!expired) {
			pthread_mutex_unlock(&e->klock);
			return 0;
		}
	}
	epoch = e->epoch;
	pthread_mutex_unlock(&e->klock);
	if (down(e))
		return expired ? 0 : -1;

	atomic_fetch_add(&e->misses, 1);
	rc = vx_admit_as(e->client, VX_GW_OPTS(r), &in, &out, &st);
	if (rc != 0)
		return expired && (st.code == VEXIL__V1__CODE__UNAVAILABLE ||
		                      st.code == VEXIL__V1__CODE__DEADLINE_EXCEEDED)
		           ? 0
		           : -1;
	if (out->rate && out->rate->limited) /* the dialect's own Admit says 429 */
		return -1;
	return learn(e, hash, sdk, out, epoch, now, who);
}

uint64_t
vx_gw_edge_epoch(vx_gw_edge *e)
{
	uint64_t epoch;

	if (e == NULL)
		return 0;
	pthread_mutex_lock(&e->klock);
	epoch = e->epoch;
	pthread_mutex_unlock(&e->klock);
	return epoch;
}

void
vx_gw_edge_admitted(
    vx_gw_edge *e, const char *credential, const Vexil__V1__AdmitReply *a, uint64_t epoch)
{
	uint8_t hash[32];
	struct who who;
	bool sdk;

	if (e == NULL || credential == NULL || a == NULL || (a->rate && a->rate->limited))
		return;
	sdk = strncmp(credential, "SdkKey ", 7) == 0;
	if (!sdk && strncmp(credential, "ApiKey ", 7) != 0)
		return;
	crypto_generichash(
	    hash, sizeof(hash), (const uint8_t *)credential, strlen(credential), NULL, 0);
	(void)learn(e, hash, sdk, a, epoch, vx_now_ms(), &who);
}

/*
 * The environment vexild would evaluate for who, as its handlers_eval.c
 * target() picks it; NULL when that is an error or another project (the
 * core call answers it).
 */
static const char *
target_env(const struct who *who, const char *project, const char *env)
{
	if (who->project_id == 0 || (project != NULL && *project != '\0'))
		return NULL;
	if (env == NULL || *env == '\0')
		env = who->env;
	if (*env == '\0' || strlen(env) >= ENV_MAX)
		return NULL;
	if (who->env[0] != '\0' && strcmp(who->env, env) != 0)
		return NULL;
	return env;
}

/* ---- snapshots ---- */

static void snap_free(vx_gw_edge *e, struct snap *s);

static void
unref(struct snap *s)
{
	atomic_fetch_sub(&s->refs, 1);
}

/* Moves table entry i to the graveyard. Under the write lock. */
static void
bury(vx_gw_edge *e, size_t i)
{
	struct snap *s = e->snaps[i];

	e->snaps[i] = e->snaps[--e->n];
	s->next = e->grave;
	e->grave = s;
}

/* The live entry of (project_id, env), with a reference taken; NULL. */
static struct snap *
find(vx_gw_edge *e, uint64_t project_id, const char *env)
{
	struct snap *s = NULL;

	pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; i < e->n; i++)
		if (e->snaps[i]->project_id == project_id &&
		    strcmp(e->snaps[i]->env, env) == 0) {
			s = e->snaps[i];
			atomic_fetch_add(&s->refs, 1);
			atomic_store(&s->used_at, vx_now_ms());
			break;
		}
	pthread_rwlock_unlock(&e->lock);
	return s;
}

/*
 * Starts following (project_id, env) with r's credential, which has just
 * been allowed to evaluate it by the core. A failure only means the next
 * request asks the core again.
 */
static void
start(vx_gw_edge *e, vx_gw_req *r, uint64_t project_id, const char *env)
{
	char pid[24];
	vx_watch_opts wo = {0};
	struct snap *s;
	vx_status st;

	pthread_mutex_lock(&e->starting);
	if ((s = find(e, project_id, env)) != NULL) {
		unref(s);
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	if ((s->credential = strdup(r->credential)) == NULL) {
		free(s);
		goto out;
	}
	pthread_mutex_init(&s->rlock, NULL);
	snprintf(pid, sizeof(pid), "%" PRIu64, project_id);
	wo.rpc_url = e->rpc_url;
	wo.pub_url = e->sub_url;
	wo.credential = r->credential;
	wo.project = pid;
	wo.environment = env;
	wo.poll_ms = POLL_MS;
	wo.timeout_ms = e->o.timeout_ms;
	wo.tls_ca = getenv("VEXIL_TLS_CA");
	if (vx_watch_start(&s->w, &wo, &st) != 0) {
		vx_log(VX_LOG_WARN,
		    "edge: cannot follow project %" PRIu64 " environment %s: %s",
		    project_id, env, st.message);
		snap_free(e, s);
		goto out;
	}
	s->project_id = project_id;
	snprintf(s->env, sizeof(s->env), "%s", env);
	atomic_store(&s->used_at, vx_now_ms());
	pthread_rwlock_wrlock(&e->lock);
	if (e->n == e->o.max_snapshots) {
		size_t lru = 0;
		for (size_t i = 1; i < e->n; i++)
			if (atomic_load(&e->snaps[i]->used_at) <
			    atomic_load(&e->snaps[lru]->used_at))
				lru = i;
		bury(e, lru);
	}
	e->snaps[e->n++] = s;
	pthread_rwlock_unlock(&e->lock);
	vx_log(VX_LOG_INFO,
	    "edge: following project %" PRIu64 " environment %s at revision %" PRIu64,
	    project_id, env, vx_watch_revision(s->w));
out:
	pthread_mutex_unlock(&e->starting);
}

/* Logs the move into and out of degraded mode, once each way. */
static void
check_stale(struct snap *s)
{
	bool stale = vx_now_ms() - vx_watch_synced_at(s->w) > 3 * POLL_MS;

	if (atomic_exchange(&s->stale, stale) == stale)
		return;
	if (stale)
		vx_log(VX_LOG_WARN,
		    "edge: vexild out of reach: serving project %" PRIu64
		    " environment %s from revision %" PRIu64 " (stale)",
		    s->project_id, s->env, vx_watch_revision(s->w));
	else
		vx_log(VX_LOG_INFO,
		    "edge: project %" PRIu64
		    " environment %s caught up at revision %" PRIu64,
		    s->project_id, s->env, vx_watch_revision(s->w));
}

/* ---- evaluation records ---- */

static void
copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/*
 * Buffers what was answered, for vexild. A short lock shared only with
 * other evaluations of this snapshot and the flusher's pointer swap; a
 * full buffer drops (and counts) instead of waiting.
 */
static void
push_records(
    struct snap *s, const Vexil__V1__EvaluationResult *res, size_t n, const char *user)
{
	pthread_mutex_lock(&s->rlock);
	if (s->recs == NULL)
		s->recs = malloc(REC_CAP * sizeof(*s->recs));
	for (size_t i = 0; i < n; i++) {
		struct rec *r;
		if (s->recs == NULL || s->nrec == REC_CAP) {
			s->dropped += n - i;
			break;
		}
		r = &s->recs[s->nrec++];
		copy(r->flag, sizeof(r->flag), res[i].flag_key);
		copy(r->variant, sizeof(r->variant), res[i].variant);
		r->reason = res[i].reason;
		copy(r->user, sizeof(r->user), user);
	}
	pthread_mutex_unlock(&s->rlock);
}

/* Sends s's buffered records in one EdgeService/RecordEvaluations call,
 * with the credential the watch follows with. The flusher's only. */
static void
flush(vx_gw_edge *e, struct snap *s)
{
	Vexil__V1__EdgeRecordsRequest in = VEXIL__V1__EDGE_RECORDS_REQUEST__INIT;
	Vexil__V1__EdgeRecordsReply *out;
	Vexil__V1__EdgeEvalRecord *items = NULL, **ptrs = NULL;
	struct rec *b;
	char pid[24];
	uint64_t dropped;
	vx_status st;
	size_t n;

	pthread_mutex_lock(&s->rlock);
	n = s->nrec;
	dropped = s->dropped;
	pthread_mutex_unlock(&s->rlock);
	if (n == 0 && dropped == 0)
		return;
	if (s->spare == NULL && (s->spare = malloc(REC_CAP * sizeof(*s->spare))) == NULL)
		return;
	pthread_mutex_lock(&s->rlock);
	b = s->recs;
	n = s->nrec;
	dropped = s->dropped;
	if (b != NULL) {
		s->recs = s->spare;
		s->spare = b;
	}
	s->nrec = 0;
	s->dropped = 0;
	pthread_mutex_unlock(&s->rlock);
	if (n == 0 && dropped == 0)
		return;
	if (down(e) || (items = calloc(n + 1, sizeof(*items))) == NULL ||
	    (ptrs = calloc(n + 1, sizeof(*ptrs))) == NULL)
		goto lost;
	for (size_t i = 0; i < n; i++) {
		vexil__v1__edge_eval_record__init(&items[i]);
		items[i].flag_key = b[i].flag;
		items[i].variant = b[i].variant;
		items[i].reason = (char *)b[i].reason;
		items[i].user_id = b[i].user;
		ptrs[i] = &items[i];
	}
	snprintf(pid, sizeof(pid), "%" PRIu64, s->project_id);
	in.project = pid;
	in.environment = s->env;
	in.records = ptrs;
	in.n_records = n;
	in.dropped = dropped;
	if (vx_record_evaluations_as(e->client,
	        &(vx_call_opts){
	            .credential = s->credential, .timeout_ms = e->o.timeout_ms},
	        &in, &out, &st) != 0) {
		vx_log(VX_LOG_WARN,
		    "edge: %zu evaluation records of project %" PRIu64 " lost: %s", n,
		    s->project_id, st.message);
		goto lost;
	}
	vx_free(out);
	free(items);
	free(ptrs);
	if (dropped)
		atomic_fetch_add(&e->rec_dropped, dropped);
	return;
lost:
	free(items);
	free(ptrs);
	atomic_fetch_add(&e->rec_dropped, n + dropped);
}

/* Flushes every live snapshot, at most every FLUSH_MS. */
static void
flush_all(vx_gw_edge *e)
{
	struct snap **held;
	int64_t now = vx_now_ms();
	size_t n = 0;

	if (now - e->flushed_at < FLUSH_MS)
		return;
	e->flushed_at = now;
	if ((held = calloc(e->o.max_snapshots + 1, sizeof(*held))) == NULL)
		return;
	pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; i < e->n; i++) {
		held[n] = e->snaps[i];
		atomic_fetch_add(&held[n++]->refs, 1);
	}
	pthread_rwlock_unlock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		flush(e, held[i]);
		unref(held[i]);
	}
	free(held);
}

static void
snap_free(vx_gw_edge *e, struct snap *s)
{
	flush(e, s);
	vx_watch_stop(s->w);
	if (s->credential != NULL) {
		sodium_memzero(s->credential, strlen(s->credential));
		free(s->credential);
	}
	free(s->recs);
	free(s->spare);
	pthread_mutex_destroy(&s->rlock);
	free(s);
}

/* ---- the notice thread ---- */

static void
on_notice(vx_gw_edge *e, nng_msg *msg)
{
	const char *body = nng_msg_body(msg), *slash;
	size_t len = nng_msg_len(msg);
	Vexil__V1__ChangeNotice *n;
	uint64_t pid;
	bool keys = false, all = false;

	/* "p/<id>/" then the notice. */
	if (len < 4 || memcmp(body, "p/", 2) != 0 ||
	    (slash = memchr(body + 2, '/', len - 2)) == NULL)
		return;
	n = vexil__v1__change_notice__unpack(
	    NULL, len - (size_t)(slash + 1 - body), (const uint8_t *)slash + 1);
	if (n == NULL)
		return;
	pid = n->project_id;
	pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; i < e->n; i++) {
		struct snap *s = e->snaps[i];
		uint_fast64_t h = atomic_load(&s->heard);

		while (s->project_id == pid && h < n->revision &&
		       !atomic_compare_exchange_weak(&s->heard, &h, n->revision))
			;
	}
	pthread_rwlock_unlock(&e->lock);
	switch (n->kind) {
	case VEXIL__V1__CHANGE_KIND__KEY_CREATED:
	case VEXIL__V1__CHANGE_KIND__KEY_REVOKED:
	case VEXIL__V1__CHANGE_KIND__PROJECT_UPDATED: /* an SDK key regenerated */
	case VEXIL__V1__CHANGE_KIND__PROJECT_DELETED:
		/* The project's snapshots too: a watch may follow with a key that
		 * no longer opens the project. The next request starts it again
		 * with its own, just checked, credential. */
		keys = all = true;
		break;
	case VEXIL__V1__CHANGE_KIND__ENVIRONMENT_DELETED:
	case VEXIL__V1__CHANGE_KIND__ENVIRONMENT_UPDATED: break;
	default: vexil__v1__change_notice__free_unpacked(n, NULL); return;
	}
	if (keys)
		keys_drop(e, pid);
	pthread_rwlock_wrlock(&e->lock);
	for (size_t i = e->n; i-- > 0;)
		if (e->snaps[i]->project_id == pid &&
		    (all || strcmp(e->snaps[i]->env, n->environment) == 0))
			bury(e, i);
	pthread_rwlock_unlock(&e->lock);
	vexil__v1__change_notice__free_unpacked(n, NULL);
}

/* Drops idle snapshots and stops the buried ones no request holds. */
static void
sweep(vx_gw_edge *e, bool all)
{
	struct snap *done = NULL, **p;
	int64_t now = vx_now_ms();

	pthread_rwlock_wrlock(&e->lock);
	for (size_t i = e->n; i-- > 0;)
		if (all || now - atomic_load(&e->snaps[i]->used_at) > e->o.idle_ms)
			bury(e, i);
	for (p = &e->grave; *p != NULL;) {
		struct snap *s = *p;
		if (atomic_load(&s->refs) == 0) {
			*p = s->next;
			s->next = done;
			done = s;
		} else {
			p = &s->next;
		}
	}
	pthread_rwlock_unlock(&e->lock);
	while (done != NULL) {
		struct snap *s = done;
		done = s->next;
		snap_free(e, s);
	}
}

static void *
run(void *arg)
{
	vx_gw_edge *e = arg;

	while (!atomic_load(&e->stop)) {
		nng_msg *msg;
		if (nng_recvmsg(e->sub, &msg, 0) == 0) {
			on_notice(e, msg);
			nng_msg_free(msg);
		}
		sweep(e, false);
		flush_all(e);
	}
	return NULL;
}

/* ---- evaluation ---- */

/* A result of its own in r's arena: the snapshot's strings outlive no
 * release. */
static int
copy_result(vx_gw_req *r, Vexil__V1__EvaluationResult *res)
{
	Vexil__V1__EvaluationResult__MetadataEntry **md = res->metadata;

	if (res->n_metadata) {
		res->metadata = vx_arena_alloc(r->arena, res->n_metadata * sizeof(*md));
		if (res->metadata == NULL)
			return VX_ENOMEM;
		for (size_t i = 0; i < res->n_metadata; i++) {
			Vexil__V1__EvaluationResult__MetadataEntry *m =
			    vx_arena_alloc(r->arena, sizeof(*m));
			if (m == NULL)
				return VX_ENOMEM;
			*m = *md[i];
			if ((m->key = vx_arena_strdup(r->arena, m->key)) == NULL ||
			    (m->value = vx_arena_strdup(r->arena, m->value)) == NULL)
				return VX_ENOMEM;
			res->metadata[i] = m;
		}
	}
	return (res->flag_key = vx_arena_strdup(r->arena, res->flag_key)) != NULL &&
	               (res->variant = vx_arena_strdup(r->arena, res->variant)) != NULL &&
	               (res->value = vx_arena_strdup(r->arena, res->value)) != NULL &&
	               (res->environment = vx_arena_strdup(r->arena, res->environment)) !=
	                   NULL &&
	               (res->prerequisite = vx_arena_strdup(r->arena, res->prerequisite)) != NULL
	           ? 0
	           : VX_ENOMEM;
}

/*
 * The snapshot of r's target, acquired; NULL when the edge cannot answer
 * (then *pid and start_env say what to start after a successful core
 * call, *pid 0 for nothing).
 */
static const vx_eval_snapshot *
acquire(vx_gw_edge *e, vx_gw_req *r, const char *project, const char *env,
    struct snap **sp, uint64_t *pid, char start_env[ENV_MAX])
{
	const vx_eval_snapshot *snap;
	struct who who;
	struct snap *s;

	*pid = 0;
	if (e == NULL || r->arena == NULL || resolve(e, r, &who) != 0 ||
	    (env = target_env(&who, project, env)) == NULL)
		return NULL;
	if ((s = find(e, who.project_id, env)) == NULL) {
		*pid = who.project_id;
		/* env may be who's own, which ends with this call. */
		snprintf(start_env, ENV_MAX, "%s", env);
		return NULL;
	}
	/* Read your writes: a committed change announced but not applied
	 * yet is the core's to answer, never an older answer of ours. */
	if ((snap = vx_watch_acquire(s->w)) == NULL) {
		unref(s);
		return NULL;
	}
	if (vx_eval_snapshot_revision(snap) < atomic_load(&s->heard)) {
		atomic_fetch_add(&e->behind, 1);
		vx_watch_release(s->w, snap);
		unref(s);
		return NULL;
	}
	check_stale(s);
	*sp = s;
	return snap;
}

/* Unpins the compiled set; the caller still holds s (unref() it). */
static void
release(struct snap *s, const vx_eval_snapshot *snap)
{
	vx_watch_release(s->w, snap);
}

int
vx_gw_edge_evaluate_all(vx_gw_edge *e, vx_gw_req *r,
    const Vexil__V1__EvaluateAllRequest *in, Vexil__V1__EvaluationList **out,
    vx_status *st)
{
	Vexil__V1__EvaluationResult *res, **ptrs;
	Vexil__V1__EvaluationList *list;
	const vx_eval_snapshot *snap;
	vx_eval_attr attrs[MAX_ATTRS];
	vx_eval_ctx ctx;
	char env[ENV_MAX];
	struct snap *s = NULL;
	uint64_t pid;
	size_t n;
	int rc = 0;

	snap = acquire(e, r, in->project, in->environment, &s, &pid, env);
	if (snap == NULL) {
		if (e != NULL && down(e))
			return unavailable(st);
		rc = vx_evaluate_all_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
		if (rc == 0 && pid != 0)
			start(e, r, pid, env);
		return rc;
	}
	n = vx_eval_snapshot_count(snap);
	list = vx_arena_alloc(r->arena, sizeof(*list));
	res = vx_arena_alloc(r->arena, (n + 1) * sizeof(*res));
	ptrs = vx_arena_alloc(r->arena, (n + 1) * sizeof(*ptrs));
	if (list == NULL || res == NULL || ptrs == NULL) {
		release(s, snap);
		unref(s);
		return vx_evaluate_all_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
	}
	vexil__v1__evaluation_list__init(list);
	list->results = ptrs;
	vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = vx_eval_local_result(snap, i, NULL, &ctx, &res[i])) == 0)
			rc = copy_result(r, &res[i]);
		ptrs[i] = &res[i];
	}
	list->n_results = n;
	list->revision = n ? res[0].revision : vx_watch_revision(s->w);
	release(s, snap);
	if (rc != 0) {
		unref(s);
		return vx_evaluate_all_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
	}
	push_records(s, res, n, ctx.user_id);
	unref(s);
	atomic_fetch_add(&e->served, 1);
	*out = list;
	return 0;
}

int
vx_gw_edge_evaluate(vx_gw_edge *e, vx_gw_req *r, const Vexil__V1__EvaluateRequest *in,
    Vexil__V1__EvaluationResult **out, vx_status *st)
{
	Vexil__V1__EvaluationResult *res;
	const vx_eval_snapshot *snap;
	vx_eval_attr attrs[MAX_ATTRS];
	vx_eval_ctx ctx;
	char env[ENV_MAX];
	struct snap *s = NULL;
	uint64_t pid;
	int rc;

	snap = acquire(e, r, in->project, in->environment, &s, &pid, env);
	if (snap == NULL) {
		if (e != NULL && down(e))
			return unavailable(st);
		rc = vx_evaluate_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
		if (rc == 0 && pid != 0)
			start(e, r, pid, env);
		return rc;
	}
	/* An unknown flag: the core's refusal, word for word. */
	rc = VX_ENOTFOUND;
	if ((res = vx_arena_alloc(r->arena, sizeof(*res))) != NULL) {
		vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
		if ((rc = vx_eval_local_result(snap, 0, in->flag_key, &ctx, res)) == 0)
			rc = copy_result(r, res);
	}
	release(s, snap);
	if (rc != 0) {
		unref(s);
		return vx_evaluate_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
	}
	push_records(s, res, 1, ctx.user_id);
	unref(s);
	atomic_fetch_add(&e->served, 1);
	*out = res;
	return 0;
}

/* ---- start and stop ---- */

int
vx_gw_edge_start(vx_gw_edge **out, const vx_gw_edge_opts *o)
{
	vx_client_opts co = {0};
	vx_gw_edge *e;
	int rv;

	*out = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return VX_ENOMEM;
	e->o = *o;
	pthread_rwlock_init(&e->lock, NULL);
	pthread_mutex_init(&e->starting, NULL);
	pthread_mutex_init(&e->klock, NULL);
	if (sodium_init() < 0 || (e->rpc_url = strdup(o->rpc_url)) == NULL ||
	    (e->sub_url = strdup(o->sub_url)) == NULL ||
	    (e->snaps = calloc(o->max_snapshots + 1, sizeof(*e->snaps))) == NULL ||
	    (e->keys = calloc(KEY_SLOTS, sizeof(*e->keys))) == NULL)
		goto nomem;
	co.timeout_ms = o->timeout_ms;
	if (vx_client_open(&e->client, o->rpc_url, &co) != 0) {
		vx_log(VX_LOG_ERROR, "edge: cannot use --rpc %s", o->rpc_url);
		goto bad;
	}
	if ((rv = nng_sub0_open(&e->sub)) != 0 ||
	    (rv = nng_socket_set(e->sub, NNG_OPT_SUB_SUBSCRIBE, "p/", 2)) != 0 ||
	    (rv = nng_socket_set_ms(e->sub, NNG_OPT_RECVTIMEO, 500)) != 0 ||
	    (rv = nng_socket_set_ms(e->sub, NNG_OPT_RECONNMINT, 20)) != 0 ||
	    (rv = nng_socket_set_ms(e->sub, NNG_OPT_RECONNMAXT, 1000)) != 0 ||
	    (rv = nng_pipe_notify(e->sub, NNG_PIPE_EV_ADD_POST, on_pipe, e)) != 0 ||
	    (rv = nng_pipe_notify(e->sub, NNG_PIPE_EV_REM_POST, on_pipe, e)) != 0 ||
	    (rv = nng_dial(e->sub, o->sub_url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		vx_log(VX_LOG_ERROR, "edge: cannot subscribe to --sub %s: %s", o->sub_url,
		    nng_strerror(rv));
		goto bad;
	}
	if (pthread_create(&e->thread, NULL, run, e) != 0)
		goto nomem;
	e->started = true;
	*out = e;
	return 0;
nomem:
	vx_gw_edge_stop(e);
	return VX_ENOMEM;
bad:
	vx_gw_edge_stop(e);
	return VX_EINVAL;
}

void
vx_gw_edge_stop(vx_gw_edge *e)
{
	if (e == NULL)
		return;
	atomic_store(&e->stop, true);
	nng_close(e->sub);
	if (e->started)
		pthread_join(e->thread, NULL);
	/* No request is in flight any more: the server stopped first. */
	sweep(e, true);
	vx_log(VX_LOG_INFO,
	    "edge: answered %" PRIu64 " evaluations (%" PRIu64 " more went to vexild "
	    "while a watch caught up), asked vexild about %" PRIu64
	    " credentials, dropped %" PRIu64 " evaluation records",
	    (uint64_t)atomic_load(&e->served), (uint64_t)atomic_load(&e->behind),
	    (uint64_t)atomic_load(&e->misses), (uint64_t)atomic_load(&e->rec_dropped));
	vx_client_close(e->client);
	if (e->keys != NULL)
		sodium_memzero(e->keys, KEY_SLOTS * sizeof(*e->keys));
	free(e->keys);
	free(e->snaps);
	free(e->rpc_url);
	free(e->sub_url);
	pthread_rwlock_destroy(&e->lock);
	pthread_mutex_destroy(&e->starting);
	pthread_mutex_destroy(&e->klock);
	free(e);
}

/* ---- the environment's flags ---- */

/* A copy of f in r's arena keeping only env's config, as GetSnapshot
 * sends it. NULL when out of memory. */
static Vexil__V1__Flag *
arena_flag(vx_gw_req *r, const Vexil__V1__Flag *f, const char *env)
{
	size_t len = vexil__v1__flag__get_packed_size(f);
	uint8_t *buf = vx_arena_alloc(r->arena, len ? len : 1);
	Vexil__V1__FlagEnvConfig **one;
	Vexil__V1__Flag *copy;
	size_t k;

	if (buf == NULL)
		return NULL;
	vexil__v1__flag__pack(f, buf);
	if ((copy = vexil__v1__flag__unpack(&r->arena->pb, len, buf)) == NULL)
		return NULL;
	for (k = 0; k < copy->n_envs; k++)
		if (copy->envs[k] && strcmp(copy->envs[k]->environment, env) == 0)
			break;
	if (k == copy->n_envs) {
		copy->n_envs = 0;
		return copy;
	}
	if ((one = vx_arena_alloc(r->arena, sizeof(*one))) == NULL)
		return NULL;
	one[0] = copy->envs[k];
	copy->envs = one;
	copy->n_envs = 1;
	return copy;
}

int
vx_gw_edge_snapshot(vx_gw_edge *e, vx_gw_req *r, const Vexil__V1__GetSnapshotRequest *in,
    Vexil__V1__Snapshot **out, vx_status *st)
{
	const vx_eval_snapshot *snap;
	Vexil__V1__Snapshot *res = NULL;
	Vexil__V1__Flag **flags = NULL;
	char env[ENV_MAX];
	struct snap *s = NULL;
	uint64_t pid, rev;
	size_t n = 0, i = 0;
	int rc;

	snap = acquire(e, r, in->project, in->environment, &s, &pid, env);
	if (snap == NULL) {
		if (e != NULL && down(e))
			return unavailable(st);
		rc = vx_get_snapshot_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
		if (rc == 0 && pid != 0)
			start(e, r, pid, env);
		return rc;
	}
	/* The flags, not the compiled set: the watch keeps both. */
	release(s, snap);
	if (vx_watch_flags(s->w, &flags, &n, &rev) == 0 &&
	    (res = vx_arena_alloc(r->arena, sizeof(*res))) != NULL) {
		vexil__v1__snapshot__init(res);
		res->project_id = s->project_id;
		res->revision = rev;
		res->environment = vx_arena_strdup(r->arena, s->env);
		res->flags = vx_arena_alloc(r->arena, (n + 1) * sizeof(*res->flags));
		for (i = 0; res->flags && i < n; i++)
			if ((res->flags[i] = arena_flag(r, flags[i], s->env)) == NULL)
				break;
		res->n_flags = n;
		if (res->environment == NULL || res->flags == NULL || i < n)
			res = NULL;
	}
	for (size_t k = 0; k < n; k++)
		vx_free(flags[k]);
	free(flags);
	unref(s);
	if (res == NULL)
		return vx_get_snapshot_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
	atomic_fetch_add(&e->served, 1);
	*out = res;
	return 0;
}
