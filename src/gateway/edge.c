/*
 * Vexil gateway — edge evaluation: see edge.h.
 *
 * Four parts, each with its own lock, and two threads:
 *  - the snapshot table (a read-write lock; lookups take it shared): a
 *    small array scanned linearly, as the router does, since it holds at
 *    most max_snapshots entries. An entry is reference-counted; removing
 *    it (eviction, idle, a notice) moves it to the graveyard, and only the
 *    housekeeping thread stops a watch, once no request holds it, so no
 *    request ever waits for a watch thread to end;
 *  - the credential cache (a mutex): direct-mapped by the BLAKE2b-256
 *    hash of the key's secret, positive answers only. An epoch bumped by
 *    every invalidation keeps an Admit that raced with a revocation from
 *    filling the cache with what it learnt before it;
 *  - the API keys' leased rate-limit tokens (a mutex), by key id;
 *  - the notice thread: one SUB socket on every project's topic, which
 *    drops credentials and snapshots as changes require. It makes no
 *    core call, so a revocation is applied the moment its notice
 *    arrives; the housekeeping thread sends the record batches and sweeps
 *    idle snapshots and the graveyard every FLUSH_MS.
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
/* Evaluations per snapshot and batch sent one by one (2560 a second):
 * more than vexild's recent log keeps (--eval-log-keep, 1000 per project),
 * and few enough that many gateways do not fill vexild's record queue
 * (--eval-buffer, 16384 per half second), where a count is one record. */
#define LOG_CAP 256
#define TALLY_MIN 64 /* (flag, variant) counts per batch: first table */
#define TALLY_MAX 8192 /* and the most, a power of two (3/4 used) */
#define FLUSH_MS 100   /* how often a batch is sent */

#define LEASE_SLOTS 1024 /* a power of two */
#define LEASE_SHARE 20   /* a lease is this fraction of the limit */
#define LOCAL_WINDOW                                                                     \
	60000 /* vexild's window (handlers_auth.c), kept alone                           \
	       * while vexild is out of reach */

/* The principal a credential resolves to: what Admit said of it. */
struct who {
	bool sdk;            /* an SDK key, else an API key */
	uint64_t id;         /* the key's id */
	uint64_t project_id; /* 0: every project */
	int role;            /* Vexil__V1__Role */
	char env[ENV_MAX];   /* the bound environment, or "" */
};

struct key_ent {
	bool used;
	uint8_t hash[32]; /* of the secret, as vexild stores it */
	struct who who;
	int64_t expires_at;
};

/*
 * An API key's rate-limit tokens leased from vexild (LeaseTokens), spent
 * here one per request. Keyed by key id, not credential: a notice drops
 * the credential (so the next request is admitted by vexild again) but
 * the tokens already taken from the window stay spendable.
 */
struct lease {
	uint64_t id;         /* the API key's; 0: free */
	uint32_t limit;      /* per window; 0: unlimited */
	uint32_t tokens;     /* leased and not spent */
	uint32_t vremaining; /* what vexild's window had left at the last grant */
	int64_t reset_at;    /* the window's end, unix ms (for the headers) */
	int64_t valid_until; /* monotonic ms: the tokens end with the window */
	bool spent;          /* vexild granted none: 429 until valid_until */
	int64_t local_start; /* the window kept alone while vexild is away */
	uint32_t local_used;
};

/* One evaluation answered here, for vexild's counts and recent log (the
 * sizes are what vexild keeps, server/evalrec.c). */
struct rec {
	char flag[129];
	char variant[65];
	const char *reason; /* static: vx_eval_reason_name() */
	char user[129];
};

/* The evaluations of one (flag, variant) past a batch's LOG_CAP: sent as
 * one EdgeEvalRecord with its count, so every evaluation is counted. */
struct tally {
	uint64_t n; /* 0: a free slot */
	uint32_t hash;
	uint8_t fl, vl; /* strlen(flag), strlen(variant) */
	char flag[129];
	char variant[65];
};

/* An open-addressed table of tallies, grown by doubling to TALLY_MAX. */
struct tallies {
	struct tally *t; /* NULL before the first */
	size_t cap, used;
};

/* The tallies of one compiled set, keyed by the addresses of the flag key
 * and variant its results point at: no string is measured, hashed or
 * compared per evaluation. The strings are copied once, when a pair is
 * first seen, since the set may be freed before the batch is sent. */
struct seen_ent {
	uint64_t n;                 /* 0: a free slot */
	const char *flag, *variant; /* into the set: keys, never read */
	char flag_s[129];
	char variant_s[65];
};

/* Open-addressed like struct tallies; folded into them (by the strings)
 * when another set shows up and before the batch is sent. */
struct seen {
	uint64_t serial; /* vx_eval_snapshot_serial() of the set; 0: none */
	struct seen_ent *t;
	size_t cap, used;
};

/* What one batch will carry: the first LOG_CAP evaluations one by one (for
 * the recent-evaluation log, user included), the rest as counts. */
struct batch {
	struct rec *log; /* LOG_CAP, or NULL before the first record */
	size_t nlog;
	struct tallies tal;
	struct seen seen; /* the current set's counts, not in tal yet */
	uint64_t dropped; /* a tally table was full at TALLY_MAX */
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

	pthread_mutex_t rlock; /* cur */
	struct batch cur;      /* filled by evaluations */
	struct batch spare;    /* the flusher's own, swapped with cur */
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

	pthread_mutex_t llock;
	struct lease *leases;

	nng_socket sub;
	pthread_t thread, keeper;
	bool started, keeping;
	pthread_mutex_t wake_lock; /* wakes the keeper to stop */
	pthread_cond_t wake;
	atomic_bool stop;
	atomic_uint_fast64_t served, misses;
	atomic_uint_fast64_t admitted, leased; /* API-key admissions here; lease calls */
	atomic_uint_fast64_t behind;      /* answered by the core: a watch was behind */
	atomic_uint_fast64_t rec_dropped; /* records vexild never got */
	int64_t flushed_at;
	atomic_int pipes; /* connections to vexild's PUB socket */
	atomic_bool ever; /* there was one */
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

static void keys_expire(vx_gw_edge *e);

void
vx_gw_edge_heard(vx_gw_edge *e, uint64_t project_id, uint64_t revision)
{
	if (e == NULL)
		return;
	pthread_rwlock_rdlock(&e->lock);
	for (size_t i = 0; i < e->n; i++) {
		struct snap *s = e->snaps[i];
		uint_fast64_t h = atomic_load(&s->heard);

		while (s->project_id == project_id && h < revision &&
		       !atomic_compare_exchange_weak(&s->heard, &h, revision))
			;
	}
	pthread_rwlock_unlock(&e->lock);
}

static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	vx_gw_edge *e = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_REM_POST) {
		/* At stop the edge closes the socket itself: nothing is lost. */
		if (atomic_fetch_sub(&e->pipes, 1) == 1 && !atomic_load(&e->stop))
			vx_log(VX_LOG_WARN,
			    "edge: lost vexild's change notices; answering from the "
			    "snapshots held");
		return;
	}
	/* Back after an outage (perhaps a restarted vexild): the notices
	 * missed meanwhile may have revoked keys, so every key is asked about
	 * again at its next use; until vexild can answer (the core
	 * connection may redial later than this one) it is served as during
	 * the outage. The watches catch up on their own. */
	if (atomic_exchange(&e->ever, true))
		keys_expire(e);
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

/*
 * The hash of an SDK or API key credential ("SdkKey <key>", "ApiKey
 * <key>"): BLAKE2b-256 of the secret alone, the form vexild stores and
 * looks keys up by (auth.c vx_auth_hash). -1 for any other credential.
 */
static int
key_hash(const char *credential, bool *sdk, uint8_t hash[32])
{
	if (credential == NULL)
		return -1;
	*sdk = strncmp(credential, "SdkKey ", 7) == 0;
	if (!*sdk && strncmp(credential, "ApiKey ", 7) != 0)
		return -1;
	crypto_generichash(
	    hash, 32, (const uint8_t *)credential + 7, strlen(credential + 7), NULL, 0);
	return 0;
}

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
		    (project_id == 0 || e->keys[i].who.project_id == project_id ||
		        e->keys[i].who.project_id == 0))
			e->keys[i].used = false;
	pthread_mutex_unlock(&e->klock);
}

/* Makes every cached credential expired (not dropped: see lookup). */
static void
keys_expire(vx_gw_edge *e)
{
	pthread_mutex_lock(&e->klock);
	e->epoch++;
	for (size_t i = 0; i < KEY_SLOTS; i++)
		e->keys[i].expires_at = 0;
	pthread_mutex_unlock(&e->klock);
}

/*
 * The cached principal of the key with this hash and kind: 0 with *who
 * while fresh; 1 with *who once expired (still good while vexild is out
 * of reach: a notice, not the TTL, drops a revoked key); -1 with *epoch,
 * the epoch to cache an answer under, when there is none.
 */
static int
lookup(vx_gw_edge *e, const uint8_t hash[32], bool sdk, int64_t now, struct who *who,
    uint64_t *epoch)
{
	struct key_ent *k = key_slot(e, hash);
	int rc = -1;

	pthread_mutex_lock(&e->klock);
	if (k->used && k->who.sdk == sdk && sodium_memcmp(k->hash, hash, 32) == 0) {
		*who = k->who;
		rc = now < k->expires_at ? 0 : 1;
	}
	*epoch = e->epoch;
	pthread_mutex_unlock(&e->klock);
	return rc;
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
	who->id = out->id;
	who->project_id = out->project_id;
	who->role = (int)out->role;
	snprintf(who->env, sizeof(who->env), "%s", out->environment);
	pthread_mutex_lock(&e->klock);
	if (epoch == e->epoch) {
		k->used = true;
		memcpy(k->hash, hash, 32);
		k->who = *who;
		k->expires_at = now + e->o.key_ttl_ms;
	}
	pthread_mutex_unlock(&e->klock);
	return 0;
}

/* What vx_gw_edge_admit() found for r's credential, kept in r so that
 * the evaluation that follows in the same request neither hashes nor
 * looks the key up again (r->edge_memo). */
struct memo {
	const char *credential; /* r->credential then: the memo is for it only */
	struct who who;
};

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
	uint8_t hash[32];
	int64_t now = vx_now_ms();
	uint64_t epoch;
	bool sdk;
	vx_status st;
	int rc, found;

	if (r->edge_memo != NULL &&
	    ((const struct memo *)r->edge_memo)->credential == r->credential) {
		*who = ((const struct memo *)r->edge_memo)->who;
		return 0;
	}
	if (key_hash(r->credential, &sdk, hash) != 0)
		return -1;
	if ((found = lookup(e, hash, sdk, now, who, &epoch)) == 0)
		return 0;
	if (down(e))
		return found == 1 ? 0 : -1;
	if (r->no_block)
		return -1; /* the caller's core call sets r aside */

	atomic_fetch_add(&e->misses, 1);
	rc = vx_admit_as(e->client, VX_GW_OPTS(r), &in, &out, &st);
	if (rc != 0)
		return found == 1 && (st.code == VEXIL__V1__CODE__UNAVAILABLE ||
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

/* ---- the rate limit: tokens leased from vexild ---- */

static int64_t
mono_ms(void)
{
	return (int64_t)(vx_mono_ns() / 1000000);
}

static struct lease *
lease_slot(vx_gw_edge *e, uint64_t id)
{
	return &e->leases[(id * 0x9E3779B97F4A7C15ull >> 40) & (LEASE_SLOTS - 1)];
}

/* l as the key id's, its old tokens (another key's, or of a window that
 * has ended) forgotten. Under llock. */
static void
lease_own(struct lease *l, uint64_t id, int64_t now)
{
	if (l->id == id && now < l->valid_until)
		return;
	if (l->id != id) {
		memset(l, 0, sizeof(*l));
		l->id = id;
	}
	l->tokens = 0;
	l->spent = false;
}

/* Spends one of l's tokens into rate; false when there is none. Under
 * llock. */
static bool
lease_spend(struct lease *l, int64_t now, Vexil__V1__RateLimit *rate)
{
	if (l->id == 0 || now >= l->valid_until)
		return false;
	rate->limit = l->limit;
	if (l->limit == 0)
		return true;
	if (l->tokens == 0 && !l->spent)
		return false;
	if (l->tokens > 0)
		l->tokens--;
	else
		rate->limited = true;
	rate->remaining = l->vremaining + l->tokens;
	rate->reset_at = l->reset_at;
	return true;
}

/*
 * A token spent for a request tried on its connection's thread, given
 * back should the request go on to need a core call: a worker runs it
 * again from the start, and spends again.
 */
struct spent {
	vx_gw_edge *e;
	uint64_t id;
	int64_t window; /* valid_until, or local_start when alone */
	bool alone;
};

static void
give_back(vx_gw_req *r, void *arg)
{
	struct spent *t = arg;
	struct lease *l = lease_slot(t->e, t->id);

	(void)r;
	pthread_mutex_lock(&t->e->llock);
	if (l->id == t->id && !t->alone && l->valid_until == t->window)
		l->tokens++;
	else if (l->id == t->id && t->alone && l->local_start == t->window &&
	         l->local_used > 0)
		l->local_used--;
	pthread_mutex_unlock(&t->e->llock);
}

/* Remembers the token just spent from l for r. Under llock. */
static void
spent_on(vx_gw_edge *e, vx_gw_req *r, const struct lease *l, bool alone)
{
	struct spent *t = vx_arena_alloc(r->arena, sizeof(*t));

	if (t == NULL)
		return;
	*t = (struct spent){e, l->id, alone ? l->local_start : l->valid_until, alone};
	r->undo = give_back;
	r->undo_arg = t;
}

/*
 * While vexild is out of reach nothing can be leased: each gateway keeps
 * the key's window alone, with the last limit vexild named (so N
 * gateways admit up to N times the limit until it is back). Under llock.
 */
static void
lease_alone(struct lease *l, int64_t now, Vexil__V1__RateLimit *rate)
{
	rate->limit = l->limit;
	if (l->limit == 0)
		return;
	if (l->local_start == 0 || now - l->local_start >= LOCAL_WINDOW) {
		l->local_start = now;
		l->local_used = 0;
	}
	if (l->local_used < l->limit)
		l->local_used++;
	else
		rate->limited = true;
	rate->remaining = l->limit - l->local_used;
	rate->reset_at = vx_now_ms() + (l->local_start + LOCAL_WINDOW - now);
}

/*
 * Takes one request of API key id's limit into rate: a leased token, or
 * a new lease (one LeaseTokens call for LEASE_SHARE-th of the limit),
 * with r's credential. 0; -1 when vexild refused the credential (the
 * caller's Admit gives the exact answer).
 */
static int
lease_take(vx_gw_edge *e, vx_gw_req *r, uint64_t id, Vexil__V1__RateLimit *rate)
{
	Vexil__V1__LeaseTokensRequest in = VEXIL__V1__LEASE_TOKENS_REQUEST__INIT;
	Vexil__V1__LeaseTokensReply *out;
	struct lease *l = lease_slot(e, id);
	int64_t sent = mono_ms();
	bool ok, alone;
	vx_status st;
	int rc;

	pthread_mutex_lock(&e->llock);
	ok = l->id == id && lease_spend(l, sent, rate);
	alone = false;
	in.want = l->id == id && l->limit > LEASE_SHARE ? l->limit / LEASE_SHARE : 1;
	if (in.want > 1000)
		in.want = 1000;
	if (!ok && l->id == id && down(e)) {
		lease_alone(l, sent, rate);
		ok = alone = true;
	}
	if (ok && r->no_block && rate->limit != 0 && !rate->limited)
		spent_on(e, r, l, alone);
	pthread_mutex_unlock(&e->llock);
	if (ok)
		return 0;
	if (r->no_block)
		return -1; /* the caller's Admit sets r aside */

	atomic_fetch_add(&e->leased, 1);
	rc = vx_lease_tokens_as(e->client, VX_GW_OPTS(r), &in, &out, &st);
	pthread_mutex_lock(&e->llock);
	if (rc != 0) {
		if (l->id == id && (st.code == VEXIL__V1__CODE__UNAVAILABLE ||
		                       st.code == VEXIL__V1__CODE__DEADLINE_EXCEEDED)) {
			lease_alone(l, mono_ms(), rate);
			rc = 0;
		}
		pthread_mutex_unlock(&e->llock);
		return rc == 0 ? 0 : -1;
	}
	lease_own(l, id, sent);
	l->limit = out->limit;
	l->vremaining = out->remaining;
	l->reset_at = out->reset_at;
	/* From when the call was sent: vexild's window ends no sooner. An
	 * unlimited key asks again after the credential TTL. */
	l->valid_until = sent + (out->limit ? (int64_t)out->valid_ms : e->o.key_ttl_ms);
	l->tokens += out->granted;
	l->spent = out->limit != 0 && out->granted == 0;
	l->local_start = 0;
	if (!lease_spend(l, sent, rate))
		rate->limit = 0; /* a window that ended on the way: unlimited once */
	pthread_mutex_unlock(&e->llock);
	return 0;
}

int
vx_gw_edge_admit(
    vx_gw_edge *e, vx_gw_req *r, bool expired_ok, Vexil__V1__AdmitReply **out)
{
	static const char *const kinds[] = {"apikey", "sdkkey"};
	Vexil__V1__AdmitReply *a;
	Vexil__V1__RateLimit *rate;
	struct memo *m;
	struct who who;
	uint8_t hash[32];
	uint64_t epoch;
	bool sdk;
	int found;

	if (e == NULL || r->arena == NULL || key_hash(r->credential, &sdk, hash) != 0)
		return VX_ENOTFOUND;
	found = lookup(e, hash, sdk, vx_now_ms(), &who, &epoch);
	if (found < 0 || (found == 1 && !down(e) && !expired_ok))
		return VX_ENOTFOUND;
	a = vx_arena_alloc(r->arena, sizeof(*a));
	rate = vx_arena_alloc(r->arena, sizeof(*rate));
	if (a == NULL || rate == NULL)
		return VX_ENOMEM;
	vexil__v1__admit_reply__init(a);
	vexil__v1__rate_limit__init(rate);
	a->kind = (char *)kinds[who.sdk];
	a->id = who.id;
	a->project_id = who.project_id;
	a->role = (Vexil__V1__Role)who.role;
	if ((a->environment = vx_arena_strdup(r->arena, who.env)) == NULL)
		return VX_ENOMEM;
	a->rate = rate;
	if (!who.sdk && lease_take(e, r, who.id, rate) != 0)
		return VX_ENOTFOUND;
	/* Fresh only: an expired entry is the evaluation's to ask about. */
	if (found == 0 && (m = vx_arena_alloc(r->arena, sizeof(*m))) != NULL) {
		m->credential = r->credential;
		m->who = who;
		r->edge_memo = m;
	}
	atomic_fetch_add(&e->admitted, 1);
	*out = a;
	return 0;
}

void
vx_gw_edge_admitted(
    vx_gw_edge *e, const char *credential, const Vexil__V1__AdmitReply *a, uint64_t epoch)
{
	uint8_t hash[32];
	struct who who;
	bool sdk;

	if (e == NULL || a == NULL || (a->rate && a->rate->limited) ||
	    key_hash(credential, &sdk, hash) != 0 ||
	    learn(e, hash, sdk, a, epoch, vx_now_ms(), &who) != 0 || sdk ||
	    a->rate == NULL)
		return;
	/* The limit, for the first lease's size and for keeping the window
	 * alone should vexild go away before one. */
	pthread_mutex_lock(&e->llock);
	{
		struct lease *l = lease_slot(e, who.id);
		if (l->id != who.id) {
			memset(l, 0, sizeof(*l));
			l->id = who.id;
		}
		l->limit = a->rate->limit;
	}
	pthread_mutex_unlock(&e->llock);
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
			int64_t now = vx_now_ms();
			s = e->snaps[i];
			atomic_fetch_add(&s->refs, 1);
			/* Written once a millisecond, not by every request:
			 * the line is shared by every connection's thread. */
			if (atomic_load_explicit(&s->used_at, memory_order_relaxed) !=
			    now)
				atomic_store(&s->used_at, now);
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

/* FNV-1a of the flag key and the variant, as the tally table keys them
 * (truncated as they are stored: fl and vl bytes). */
static uint32_t
tally_hash(const char *flag, size_t fl, const char *variant, size_t vl)
{
	uint32_t h = vx_fnv32(VX_FNV32_INIT, flag, fl);

	h = vx_fnv32(h, VX_FNV32_SEP, 1);
	return vx_fnv32(h, variant, vl);
}

static bool
tally_is(const struct tally *t, uint32_t hash, const char *flag, size_t fl,
    const char *variant, size_t vl)
{
	return t->hash == hash && t->fl == fl && t->vl == vl &&
	       memcmp(t->flag, flag, fl) == 0 && memcmp(t->variant, variant, vl) == 0;
}

/* Moves the tallies into a table of cap slots (a power of two); false
 * when out of memory (then nothing changed). */
static bool
tally_grow(struct tallies *ts, size_t cap)
{
	struct tally *t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return false;
	for (size_t i = 0; i < ts->cap; i++) {
		const struct tally *o = &ts->t[i];
		size_t j;
		if (o->n == 0)
			continue;
		for (j = o->hash & (cap - 1); t[j].n != 0; j = (j + 1) & (cap - 1))
			;
		t[j] = *o;
	}
	free(ts->t);
	ts->t = t;
	ts->cap = cap;
	return true;
}

/* Counts n evaluations of (flag, variant); false when the table is full
 * (at TALLY_MAX, or out of memory), and the evaluations are dropped. */
static bool
tally_add(struct tallies *ts, const char *flag, const char *variant, uint64_t n)
{
	size_t fl = strnlen(flag, sizeof(ts->t->flag) - 1);
	size_t vl = strnlen(variant, sizeof(ts->t->variant) - 1);
	uint32_t hash = tally_hash(flag, fl, variant, vl);
	size_t j;

	if (ts->cap != 0) {
		for (j = hash & (ts->cap - 1); ts->t[j].n != 0;
		     j = (j + 1) & (ts->cap - 1))
			if (tally_is(&ts->t[j], hash, flag, fl, variant, vl)) {
				ts->t[j].n += n;
				return true;
			}
	}
	if ((ts->used + 1) * 4 > ts->cap * 3) {
		if (ts->cap >= TALLY_MAX ||
		    !tally_grow(ts, ts->cap ? ts->cap * 2 : TALLY_MIN))
			return false;
	}
	for (j = hash & (ts->cap - 1); ts->t[j].n != 0; j = (j + 1) & (ts->cap - 1))
		;
	ts->t[j].n = n;
	ts->t[j].hash = hash;
	ts->t[j].fl = (uint8_t)fl;
	ts->t[j].vl = (uint8_t)vl;
	memcpy(ts->t[j].flag, flag, fl);
	ts->t[j].flag[fl] = '\0';
	memcpy(ts->t[j].variant, variant, vl);
	ts->t[j].variant[vl] = '\0';
	ts->used++;
	return true;
}

/* The slot of (flag, variant) in a table of cap slots: the first that
 * holds it or is free. */
static size_t
seen_slot(const struct seen_ent *t, size_t cap, const char *flag, const char *variant)
{
	uint64_t h = ((uint64_t)(uintptr_t)flag ^ ((uint64_t)(uintptr_t)variant << 7)) *
	             UINT64_C(0x9E3779B97F4A7C15);
	size_t j = (size_t)(h >> 32) & (cap - 1);

	while (t[j].n != 0 && (t[j].flag != flag || t[j].variant != variant))
		j = (j + 1) & (cap - 1);
	return j;
}

static bool
seen_grow(struct seen *sn, size_t cap)
{
	struct seen_ent *t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return false;
	for (size_t i = 0; i < sn->cap; i++)
		if (sn->t[i].n != 0)
			t[seen_slot(t, cap, sn->t[i].flag, sn->t[i].variant)] = sn->t[i];
	free(sn->t);
	sn->t = t;
	sn->cap = cap;
	return true;
}

/* Counts one evaluation whose result points at flag and variant (strings
 * of the set sn is tied to, pinned by the caller); false when the table is
 * full (the caller tallies it by its strings). */
static bool
seen_add(struct seen *sn, const char *flag, const char *variant)
{
	size_t j = 0;

	if (sn->cap != 0) {
		j = seen_slot(sn->t, sn->cap, flag, variant);
		if (sn->t[j].n != 0) {
			sn->t[j].n++;
			return true;
		}
	}
	if ((sn->used + 1) * 4 > sn->cap * 3) {
		if (sn->cap >= TALLY_MAX ||
		    !seen_grow(sn, sn->cap ? sn->cap * 2 : TALLY_MIN))
			return false;
		j = seen_slot(sn->t, sn->cap, flag, variant);
	}
	sn->t[j].n = 1;
	sn->t[j].flag = flag;
	sn->t[j].variant = variant;
	copy(sn->t[j].flag_s, sizeof(sn->t[j].flag_s), flag);
	copy(sn->t[j].variant_s, sizeof(sn->t[j].variant_s), variant);
	sn->used++;
	return true;
}

/* Moves b's counts by set into its tallies by string, and unties it from
 * the set: when another set shows up, and before the batch is sent. */
static void
seen_fold(struct batch *b)
{
	struct seen *sn = &b->seen;

	sn->serial = 0;
	if (sn->used == 0)
		return;
	for (size_t i = 0; i < sn->cap; i++)
		if (sn->t[i].n != 0 &&
		    !tally_add(&b->tal, sn->t[i].flag_s, sn->t[i].variant_s, sn->t[i].n))
			b->dropped += sn->t[i].n;
	memset(sn->t, 0, sn->cap * sizeof(*sn->t));
	sn->used = 0;
}

static void
batch_free(struct batch *b)
{
	free(b->log);
	free(b->tal.t);
	free(b->seen.t);
}

/*
 * Buffers what was answered, for vexild: the first LOG_CAP evaluations of
 * a batch one by one (the recent log keeps single evaluations with their
 * user), every later one as a count of its (flag, variant), so that a
 * batch counts every evaluation. A short lock shared only with other
 * evaluations of this snapshot and the flusher's swap; nothing waits for
 * vexild. borrowed: res's strings are snap's (the request pins it), so
 * they may be counted by address (struct seen).
 */
static void
push_records(struct snap *s, const vx_eval_snapshot *snap,
    const Vexil__V1__EvaluationResult *res, size_t n, const char *user, bool borrowed)
{
	struct batch *b = &s->cur;
	uint64_t serial = vx_eval_snapshot_serial(snap);
	size_t i = 0;

	pthread_mutex_lock(&s->rlock);
	if (b->nlog < LOG_CAP && b->log == NULL)
		b->log = malloc(LOG_CAP * sizeof(*b->log));
	for (; b->log != NULL && b->nlog < LOG_CAP && i < n; i++) {
		struct rec *r = &b->log[b->nlog++];
		copy(r->flag, sizeof(r->flag), res[i].flag_key);
		copy(r->variant, sizeof(r->variant), res[i].variant);
		r->reason = res[i].reason;
		if (i == 0)
			copy(r->user, sizeof(r->user), user);
		else /* one user for every result of a request */
			memcpy(r->user, r[-1].user, sizeof(r->user));
	}
	if (i < n && borrowed && b->seen.serial != serial) {
		seen_fold(b);
		b->seen.serial = serial;
	}
	/* Results copied to the request's arena (not borrowed from the set)
	 * are counted by their strings: an arena's address is another
	 * string's in a later request. */
	for (; i < n; i++)
		if (!(borrowed && seen_add(&b->seen, res[i].flag_key, res[i].variant)) &&
		    !tally_add(&b->tal, res[i].flag_key, res[i].variant, 1))
			b->dropped++;
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
	struct batch *b = &s->spare, t;
	uint64_t lost = 0;
	char pid[24];
	vx_status st;
	size_t n = 0;

	pthread_mutex_lock(&s->rlock);
	if (s->cur.nlog == 0 && s->cur.tal.used == 0 && s->cur.seen.used == 0 &&
	    s->cur.dropped == 0) {
		pthread_mutex_unlock(&s->rlock);
		return;
	}
	t = s->cur;
	s->cur = *b;
	*b = t;
	pthread_mutex_unlock(&s->rlock);
	seen_fold(b);
	for (size_t i = 0; i < b->tal.cap; i++)
		lost += b->tal.t[i].n;
	lost += b->nlog;
	if (down(e) ||
	    (items = calloc(b->nlog + b->tal.used + 1, sizeof(*items))) == NULL ||
	    (ptrs = calloc(b->nlog + b->tal.used + 1, sizeof(*ptrs))) == NULL)
		goto lost;
	for (size_t i = 0; i < b->nlog; i++, n++) {
		vexil__v1__edge_eval_record__init(&items[n]);
		items[n].flag_key = b->log[i].flag;
		items[n].variant = b->log[i].variant;
		items[n].reason = (char *)b->log[i].reason;
		items[n].user_id = b->log[i].user;
		ptrs[n] = &items[n];
	}
	for (size_t i = 0; i < b->tal.cap; i++) {
		const struct tally *x = &b->tal.t[i];
		if (x->n == 0)
			continue;
		vexil__v1__edge_eval_record__init(&items[n]);
		items[n].flag_key = (char *)x->flag;
		items[n].variant = (char *)x->variant;
		items[n].count = x->n;
		ptrs[n] = &items[n];
		n++;
	}
	snprintf(pid, sizeof(pid), "%" PRIu64, s->project_id);
	in.project = pid;
	in.environment = s->env;
	in.records = ptrs;
	in.n_records = n;
	in.dropped = b->dropped;
	if (vx_record_evaluations_as(e->client,
	        &(vx_call_opts){
	            .credential = s->credential, .timeout_ms = e->o.timeout_ms},
	        &in, &out, &st) != 0) {
		vx_log(VX_LOG_WARN,
		    "edge: %" PRIu64 " evaluations of project %" PRIu64
		    " not recorded: %s",
		    lost, s->project_id, st.message);
		goto lost;
	}
	vx_free(out);
	lost = 0;
lost:
	free(items);
	free(ptrs);
	if (lost + b->dropped)
		atomic_fetch_add(&e->rec_dropped, lost + b->dropped);
	b->nlog = 0;
	b->dropped = 0;
	if (b->tal.used != 0)
		memset(b->tal.t, 0, b->tal.cap * sizeof(*b->tal.t));
	b->tal.used = 0;
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
	batch_free(&s->cur);
	batch_free(&s->spare);
	pthread_mutex_destroy(&s->rlock);
	free(s);
}

/* ---- the notice and housekeeping threads ---- */

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
	vx_gw_edge_heard(e, pid, n->revision);
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

/*
 * The notice thread: only what is in memory, so that a revocation is
 * applied as soon as it arrives, never behind a core call.
 *
 * The receive has no timeout: vx_gw_edge_stop() ends it by closing the
 * socket. A receive with one may be expiring in nng's timer thread while
 * another thread closes the socket, and nng 1.5.2 then runs the SUB
 * socket's cancel on a socket it has already freed (the gateway aborted
 * with "panic: pthread_mutex_lock: Invalid argument" at SIGTERM). A
 * receive without a timeout is only ever ended by a message or by the
 * close itself.
 */
static void *
run(void *arg)
{
	vx_gw_edge *e = arg;
	nng_msg *msg;
	int rv;

	while ((rv = nng_recvmsg(e->sub, &msg, 0)) != NNG_ECLOSED) {
		if (rv == 0) {
			on_notice(e, msg);
			nng_msg_free(msg);
		}
	}
	return NULL;
}

/* The housekeeping thread: the record batches (core calls) and stopping
 * idle and buried watches, every FLUSH_MS. */
static void *
keep(void *arg)
{
	vx_gw_edge *e = arg;
	struct timespec until;

	pthread_mutex_lock(&e->wake_lock);
	while (!atomic_load(&e->stop)) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FLUSH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&e->wake, &e->wake_lock, &until);
		if (atomic_load(&e->stop))
			break;
		pthread_mutex_unlock(&e->wake_lock);
		sweep(e, false);
		flush_all(e);
		pthread_mutex_lock(&e->wake_lock);
	}
	pthread_mutex_unlock(&e->wake_lock);
	return NULL;
}

/* ---- evaluation ---- */

/* s in r's arena; an empty string is not copied (most results have no
 * prerequisite, and many no variant). */
static char *
arena_str(vx_gw_req *r, const char *s)
{
	return s != NULL && *s ? vx_arena_strdup(r->arena, s) : "";
}

/* A result of its own in r's arena, for a request that cannot pin the
 * snapshot (struct pin): its strings outlive no release. env is the
 * request's copy of the environment's name. */
static int
copy_result(vx_gw_req *r, Vexil__V1__EvaluationResult *res, char *env)
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
	res->environment = env;
	return env != NULL && (res->flag_key = arena_str(r, res->flag_key)) != NULL &&
	               (res->variant = arena_str(r, res->variant)) != NULL &&
	               (res->value = arena_str(r, res->value)) != NULL &&
	               (res->prerequisite = arena_str(r, res->prerequisite)) != NULL
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
		if (!r->no_block) /* else counted when a worker asks */
			atomic_fetch_add(&e->behind, 1);
		vx_watch_release(s->w, snap);
		unref(s);
		return NULL;
	}
	check_stale(s);
	*sp = s;
	return snap;
}

/* The core calls the edge falls back on; none while r->no_block. */
static int
core_all(vx_gw_req *r, const Vexil__V1__EvaluateAllRequest *in,
    Vexil__V1__EvaluationList **out, vx_status *st)
{
	if (vx_gw_would_block(r, st))
		return VX_EUNAVAIL;
	return vx_evaluate_all_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
}

static int
core_one(vx_gw_req *r, const Vexil__V1__EvaluateRequest *in,
    Vexil__V1__EvaluationResult **out, vx_status *st)
{
	if (vx_gw_would_block(r, st))
		return VX_EUNAVAIL;
	return vx_evaluate_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
}

static int
core_snapshot(vx_gw_req *r, const Vexil__V1__GetSnapshotRequest *in,
    Vexil__V1__Snapshot **out, vx_status *st)
{
	if (vx_gw_would_block(r, st))
		return VX_EUNAVAIL;
	return vx_get_snapshot_as(vx_gw_client(r), VX_GW_OPTS(r), in, out, st);
}

/* Unpins the compiled set; the caller still holds s (unref() it). */
static void
release(struct snap *s, const vx_eval_snapshot *snap)
{
	vx_watch_release(s->w, snap);
}

/*
 * What a request's results point into: the compiled set stays pinned, and
 * its table entry referenced, until vx_gw_req_fini() (r->hold_release),
 * so the results borrow the snapshot's strings instead of copying them.
 */
struct pin {
	struct snap *s;
	const vx_eval_snapshot *snap;
};

static void
unpin(void *arg)
{
	struct pin *p = arg;

	release(p->s, p->snap);
	unref(p->s);
}

/* A pin for r's results; NULL when r holds one already (a second
 * evaluation in one request copies its results) or out of memory. */
static struct pin *
pin_alloc(vx_gw_req *r)
{
	return r->hold_release == NULL ? vx_arena_alloc(r->arena, sizeof(struct pin))
	                               : NULL;
}

/* Hands s and snap to r (p) or, with no pin, lets go of them now. */
static void
pin_or_release(vx_gw_req *r, struct pin *p, struct snap *s, const vx_eval_snapshot *snap)
{
	if (p == NULL) {
		release(s, snap);
		unref(s);
		return;
	}
	p->s = s;
	p->snap = snap;
	r->hold_release = unpin;
	r->hold_arg = p;
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
	char env[ENV_MAX], *renv = NULL;
	const char *senv = NULL;
	struct snap *s = NULL;
	struct pin *pin;
	uint64_t pid;
	size_t n;
	int rc = 0;

	snap = acquire(e, r, in->project, in->environment, &s, &pid, env);
	if (snap == NULL) {
		if (e != NULL && down(e))
			return unavailable(st);
		rc = core_all(r, in, out, st);
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
		return core_all(r, in, out, st);
	}
	vexil__v1__evaluation_list__init(list);
	list->results = ptrs;
	vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
	pin = pin_alloc(r);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = vx_eval_local_result(snap, i, NULL, &ctx, &res[i])) != 0)
			break;
		ptrs[i] = &res[i];
		if (pin != NULL)
			continue;
		/* One copy of the environment's name for all results that
		 * point at the same one (all, from one snapshot). */
		if (i == 0 || res[i].environment != senv)
			renv = arena_str(r, senv = res[i].environment);
		rc = copy_result(r, &res[i], renv);
	}
	list->n_results = n;
	list->revision = n ? res[0].revision : vx_watch_revision(s->w);
	if (rc != 0) {
		release(s, snap);
		unref(s);
		return core_all(r, in, out, st);
	}
	push_records(s, snap, res, n, ctx.user_id, pin != NULL);
	pin_or_release(r, pin, s, snap);
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
	struct pin *pin;
	uint64_t pid;
	int rc;

	snap = acquire(e, r, in->project, in->environment, &s, &pid, env);
	if (snap == NULL) {
		if (e != NULL && down(e))
			return unavailable(st);
		rc = core_one(r, in, out, st);
		if (rc == 0 && pid != 0)
			start(e, r, pid, env);
		return rc;
	}
	/* An unknown flag: the core's refusal, word for word. */
	rc = VX_ENOTFOUND;
	pin = pin_alloc(r);
	if ((res = vx_arena_alloc(r->arena, sizeof(*res))) != NULL) {
		vx_ctx_from_proto(in->context, attrs, MAX_ATTRS, &ctx);
		if ((rc = vx_eval_local_result(snap, 0, in->flag_key, &ctx, res)) == 0 &&
		    pin == NULL)
			rc = copy_result(r, res, arena_str(r, res->environment));
	}
	if (rc != 0) {
		release(s, snap);
		unref(s);
		return core_one(r, in, out, st);
	}
	push_records(s, snap, res, 1, ctx.user_id, pin != NULL);
	pin_or_release(r, pin, s, snap);
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
	pthread_mutex_init(&e->llock, NULL);
	pthread_mutex_init(&e->wake_lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	if (sodium_init() < 0 || (e->rpc_url = strdup(o->rpc_url)) == NULL ||
	    (e->sub_url = strdup(o->sub_url)) == NULL ||
	    (e->snaps = calloc(o->max_snapshots + 1, sizeof(*e->snaps))) == NULL ||
	    (e->keys = calloc(KEY_SLOTS, sizeof(*e->keys))) == NULL ||
	    (e->leases = calloc(LEASE_SLOTS, sizeof(*e->leases))) == NULL)
		goto nomem;
	co.timeout_ms = o->timeout_ms;
	if (vx_client_open(&e->client, o->rpc_url, &co) != 0) {
		vx_log(VX_LOG_ERROR, "edge: cannot use --rpc %s", o->rpc_url);
		goto bad;
	}
	if ((rv = nng_sub0_open(&e->sub)) != 0 ||
	    (rv = nng_socket_set(e->sub, NNG_OPT_SUB_SUBSCRIBE, "p/", 2)) != 0 ||
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
	if (pthread_create(&e->keeper, NULL, keep, e) != 0)
		goto nomem;
	e->keeping = true;
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
	pthread_mutex_lock(&e->wake_lock);
	atomic_store(&e->stop, true);
	pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->wake_lock);
	nng_close(e->sub);
	if (e->started)
		pthread_join(e->thread, NULL);
	if (e->keeping)
		pthread_join(e->keeper, NULL);
	/* No request is in flight any more: the server stopped first. */
	sweep(e, true);
	vx_log(VX_LOG_INFO,
	    "edge: answered %" PRIu64 " evaluations (%" PRIu64 " more went to vexild "
	    "while a watch caught up), asked vexild about %" PRIu64
	    " credentials, admitted %" PRIu64 " API-key requests itself with %" PRIu64
	    " token leases, dropped %" PRIu64 " evaluation records",
	    (uint64_t)atomic_load(&e->served), (uint64_t)atomic_load(&e->behind),
	    (uint64_t)atomic_load(&e->misses), (uint64_t)atomic_load(&e->admitted),
	    (uint64_t)atomic_load(&e->leased), (uint64_t)atomic_load(&e->rec_dropped));
	vx_client_close(e->client);
	if (e->keys != NULL)
		sodium_memzero(e->keys, KEY_SLOTS * sizeof(*e->keys));
	free(e->keys);
	free(e->leases);
	free(e->snaps);
	free(e->rpc_url);
	free(e->sub_url);
	pthread_rwlock_destroy(&e->lock);
	pthread_mutex_destroy(&e->starting);
	pthread_mutex_destroy(&e->klock);
	pthread_mutex_destroy(&e->llock);
	pthread_mutex_destroy(&e->wake_lock);
	pthread_cond_destroy(&e->wake);
	free(e);
}

void
vx_gw_edge_counters_get(vx_gw_edge *e, vx_gw_edge_counters *c)
{
	memset(c, 0, sizeof(*c));
	if (e == NULL)
		return;
	c->evaluations = atomic_load(&e->served);
	c->behind = atomic_load(&e->behind);
	c->key_lookups = atomic_load(&e->misses);
	c->admitted = atomic_load(&e->admitted);
	c->leases = atomic_load(&e->leased);
	c->records_dropped = atomic_load(&e->rec_dropped);
	pthread_rwlock_rdlock(&e->lock);
	c->snapshots = e->n;
	for (size_t i = 0; i < e->n; i++)
		c->stale += atomic_load(&e->snaps[i]->stale);
	pthread_rwlock_unlock(&e->lock);
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
		rc = core_snapshot(r, in, out, st);
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
		return core_snapshot(r, in, out, st);
	atomic_fetch_add(&e->served, 1);
	*out = res;
	return 0;
}
