/*
 * Vexil gateway — the OFREP change stream and its hub: see sse.h.
 *
 * Who touches what. A worker runs vx_gw_sse_events(): it admits the key,
 * learns the project's head revision (Changes since 0), creates the stream
 * and links a subscriber. The SUB socket's aio callback (an nng thread)
 * only decodes notices into a ring and wakes the hub thread. The hub
 * thread alone applies notices, fills gaps, writes heartbeats and frees
 * subscribers; a stream's close callback only marks its subscriber dead.
 * Everything shared is under hub.mu, which is never held across a call to
 * vexild; stream sends never block and never call back synchronously.
 *
 * Exactly once, in order: a subscriber's `last` is the revision it has
 * accounted for (sent, or skipped as another environment's). A notice for
 * last + 1 is sent; one at or below last is a duplicate; one further on is
 * a gap and marks the subscriber for a fill: Changes since last, paged
 * until the head, on the hub thread, while notices wait in the ring. A
 * new subscriber starts with a fill too (since its Last-Event-ID, or since
 * the head it learnt when it connected), which also covers the changes
 * committed between that and its joining the hub.
 *
 * Credentials. A key may be revoked (or an SDK key regenerated) while its
 * stream is open. So before the hub sends the events of a batch of
 * notices, every stream of a project in the batch has its credential
 * checked again, by a fill (Changes with that credential, which vexild
 * authenticates and authorises): once per distinct credential and project,
 * however many streams share them. A refused credential ends all of them,
 * before any event of the batch reaches them.
 */
#include "gateway/sse.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/arena.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"
#include "vexil/v1/model.pb-c.h"

/* Notices waiting for the hub thread; past it they are dropped, and the
 * next notice of the project shows the gap. */
#define RING 4096
/* Unsent bytes a stream may hold before its client counts as too slow. */
#define BACKLOG (64 * 1024)
/* A fill that failed for a reason that may pass is retried after this. */
#define RETRY_MS 1000
#define ENV_MAX 64
#define ARENA_BUDGET ((size_t)8 << 20)

struct sub {
	struct sub *next;
	vx_gw_stream *st;
	char *credential; /* "ApiKey ..." or "SdkKey ..." */
	char project[24]; /* the project id, as the core takes it */
	uint64_t project_id;
	char env[ENV_MAX]; /* an SDK key's environment, or "" */
	char rid[VX_GW_REQUEST_ID_MAX + 1];
	uint64_t last;     /* the revision accounted for */
	bool fill;         /* Changes since last are owed */
	bool filling;      /* the hub thread is at it, unlocked */
	bool refill;       /* and another is owed after it */
	bool dead;         /* the stream ended */
	bool check;        /* its credential is due a check (hub thread) */
	int checked;       /* that check's result: fill()'s return, or 1
	                    * while there is none */
	uint64_t retry_at; /* mono ns; 0: now */
};

struct notice {
	uint64_t revision, project_id;
	char env[ENV_MAX];
};

struct hub {
	vx_gw_sse_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool stop, started;
	nng_socket sock;
	nng_aio *rx;
	struct sub *subs;
	size_t nsubs; /* linked or being set up */
	struct notice ring[RING];
	size_t ring_head, ring_len;
	uint64_t dropped;
	vx_arena arena; /* the hub thread's, for Changes replies */
};

static struct hub *the_hub;

/* For GET /metrics (metrics.h). */
static vx_gw_metric streams_open = {"vexil_sse_streams_open", "gauge",
    "Open OFREP event streams (GET /ofrep/v1/events)", 0, false};
static vx_gw_metric events_sent = {"vexil_sse_events_sent_total", "counter",
    "Change events queued to OFREP event streams", 0, false};

static uint64_t
now_ns(void)
{
	return vx_mono_ns();
}

/* ---- the SUB socket (nng's thread) ---- */

/* "p/<id>/" + a ChangeNotice, as src/server publishes them. */
static bool
decode(nng_msg *msg, struct notice *n)
{
	const char *b = nng_msg_body(msg);
	size_t len = nng_msg_len(msg), i = 2;
	Vexil__V1__ChangeNotice *cn;

	if (len < 4 || b[0] != 'p' || b[1] != '/')
		return false;
	while (i < len && b[i] != '/')
		i++;
	if (i == len)
		return false;
	i++;
	cn = vexil__v1__change_notice__unpack(NULL, len - i, (const uint8_t *)b + i);
	if (cn == NULL)
		return false;
	n->revision = cn->revision;
	n->project_id = cn->project_id;
	snprintf(n->env, sizeof(n->env), "%s", cn->environment ? cn->environment : "");
	vexil__v1__change_notice__free_unpacked(cn, NULL);
	return n->revision != 0 && n->project_id != 0;
}

static void
on_notice(void *arg)
{
	struct hub *h = arg;
	int rv = nng_aio_result(h->rx);
	struct notice n;

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv == 0) {
		nng_msg *msg = nng_aio_get_msg(h->rx);
		bool ok = decode(msg, &n);
		nng_msg_free(msg);
		pthread_mutex_lock(&h->mu);
		if (ok && h->ring_len == RING) {
			h->dropped++;
		} else if (ok) {
			h->ring[(h->ring_head + h->ring_len) % RING] = n;
			h->ring_len++;
			pthread_cond_signal(&h->cv);
		}
		pthread_mutex_unlock(&h->mu);
	}
	nng_recv_aio(h->sock, h->rx);
}

/* A (re)connection to vexild's PUB socket: notices may have been lost
 * while there was none, so every stream catches up from Changes. */
static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct hub *h = arg;

	(void)p;
	(void)ev;
	pthread_mutex_lock(&h->mu);
	for (struct sub *s = h->subs; s; s = s->next) {
		s->fill = true;
		s->refill = s->filling;
		s->retry_at = 0;
	}
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* ---- events ---- */

static bool
env_matches(const struct sub *s, const char *env)
{
	return s->env[0] == '\0' || env == NULL || env[0] == '\0' ||
	       strcmp(s->env, env) == 0;
}

static void
send_event(struct sub *s, uint64_t revision)
{
	char ev[160];
	int n = snprintf(ev, sizeof(ev),
	    "id: %llu\nevent: message\ndata: "
	    "{\"type\":\"refetchEvaluation\",\"etag\":\"\\\"%llu\\\"\"}\n\n",
	    (unsigned long long)revision, (unsigned long long)revision);

	/* A failed send has closed the stream; its callback marks s dead. */
	if (vx_gw_stream_send(s->st, ev, (size_t)n) == 0)
		vx_gw_metric_add(&events_sent, 1);
}

/* A live notice for s's project (hub.mu held). */
static void
apply(struct sub *s, const struct notice *n)
{
	if (s->dead || s->fill || n->revision <= s->last)
		return;
	if (n->revision != s->last + 1) {
		/* A notice was lost: Changes will say what it was. */
		s->fill = true;
		s->retry_at = 0;
		return;
	}
	s->last = n->revision;
	if (env_matches(s, n->env))
		send_event(s, n->revision);
}

/*
 * Brings s up to the project's head from Changes, on the hub thread
 * without the lock (only this thread frees subscribers or moves `last`
 * outside apply(), which skips a subscriber owing a fill).
 * @return 0; VX_EAUTH the credential was refused and the stream closed;
 *         VX_EIO a failure that may pass (a retry is scheduled).
 */
static int
fill(struct hub *h, struct sub *s)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	uint64_t last = s->last;
	vx_status st;
	vx_gw_req r;
	int rc;

	vx_gw_req_init(&r, "GET", "/ofrep/v1/events", "", NULL, s->rid);
	r.arena = &h->arena;
	r.rpc = h->o.rpc;
	r.credential = s->credential;
	in.project = s->project;
	for (;;) {
		in.since = last;
		rc = vx_changes_as(vx_gw_client(&r), VX_GW_OPTS(&r), &in, &out, &st);
		if (rc != 0) {
			vx_arena_reset(&h->arena);
			if (st.code == VEXIL__V1__CODE__UNAUTHENTICATED ||
			    st.code == VEXIL__V1__CODE__PERMISSION_DENIED ||
			    st.code == VEXIL__V1__CODE__NOT_FOUND) {
				/* The key was revoked or the project deleted. */
				vx_log(VX_LOG_INFO, "sse: stream req=%s ends: %s", s->rid,
				    st.message);
				vx_gw_stream_close(s->st);
				return VX_EAUTH;
			}
			vx_log(VX_LOG_WARN, "sse: Changes for project %s: %s; retrying",
			    s->project,
			    st.message[0] ? st.message : vx_code_name(st.code));
			pthread_mutex_lock(&h->mu);
			s->last = last;
			s->refill = false;
			s->retry_at = now_ns() + (uint64_t)RETRY_MS * 1000000;
			pthread_mutex_unlock(&h->mu);
			return VX_EIO;
		}
		if (out->snapshot) {
			/* The log no longer reaches back to `last`: one event at
			 * the head says "refetch everything". */
			last = out->revision;
			send_event(s, last);
			vx_arena_reset(&h->arena);
			break;
		}
		for (size_t i = 0; i < out->n_changes; i++) {
			const Vexil__V1__Change *c = out->changes[i];
			if (c == NULL || c->revision <= last)
				continue;
			last = c->revision;
			if (env_matches(s, c->environment))
				send_event(s, last);
		}
		if (out->revision > last)
			last = out->revision;
		bool done = out->revision >= out->head_revision || out->n_changes == 0;
		vx_arena_reset(&h->arena);
		if (done)
			break;
	}
	pthread_mutex_lock(&h->mu);
	s->last = last;
	s->fill = s->refill;
	s->refill = false;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

/* An earlier subscriber of `subs` whose check for the same credential and
 * project is done, or NULL. */
static const struct sub *
checked_twin(const struct sub *subs, const struct sub *s)
{
	for (const struct sub *t = subs; t && t != s; t = t->next)
		if (!t->check && t->checked != 1 && t->project_id == s->project_id &&
		    strcmp(t->credential, s->credential) == 0)
			return t;
	return NULL;
}

/*
 * Checks the credential of every subscriber marked `check`, once per
 * credential and project (hub thread, h->mu held; let go around each
 * fill). Subscribers are only linked at the head and only this thread
 * unlinks them, so the walk from `first` stays valid unlocked.
 */
static void
recheck(struct hub *h)
{
	struct sub *first = h->subs;

	for (struct sub *s = first; s; s = s->next)
		if (s->check)
			s->checked = 1; /* not yet */
	for (struct sub *s = first; s; s = s->next) {
		const struct sub *twin;
		if (!s->check)
			continue;
		s->check = false;
		if (s->dead || s->fill) {
			/* A fill is owed anyway, and checks the credential;
			 * till then this is no answer for its twins. */
			s->checked = 1;
		} else if ((twin = checked_twin(first, s)) != NULL) {
			s->checked = twin->checked;
			if (s->checked == VX_EAUTH)
				vx_gw_stream_close(s->st);
		} else {
			s->filling = true;
			pthread_mutex_unlock(&h->mu);
			s->checked = fill(h, s);
			pthread_mutex_lock(&h->mu);
			s->filling = false;
		}
	}
}

static void
heartbeat(struct hub *h)
{
	static const char beat[] = ": keep-alive\n\n";

	for (struct sub *s = h->subs; s; s = s->next)
		if (!s->dead)
			(void)vx_gw_stream_send(s->st, beat, sizeof(beat) - 1);
}

static void
sub_free(struct sub *s)
{
	if (s->st)
		vx_gw_stream_release(s->st);
	if (s->credential) {
		explicit_bzero(s->credential, strlen(s->credential));
		free(s->credential);
	}
	free(s);
}

/* Unlinks and frees dead subscribers (hub.mu held). */
static void
reap(struct hub *h)
{
	struct sub **pp = &h->subs, *s;

	while ((s = *pp) != NULL) {
		if (s->dead) {
			*pp = s->next;
			h->nsubs--;
			sub_free(s);
		} else {
			pp = &s->next;
		}
	}
}

static void *
hub_main(void *arg)
{
	struct hub *h = arg;
	uint64_t next_beat = now_ns() + (uint64_t)h->o.heartbeat_ms * 1000000;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct sub *due = NULL;
		uint64_t now, wake;
		struct timespec ts;

		reap(h);
		if (h->ring_len > 0) {
			/* The notices waiting now are one batch: the credentials
			 * of their projects' streams are checked first. */
			size_t batch = h->ring_len;
			for (size_t i = 0; i < batch; i++) {
				struct notice *n = &h->ring[(h->ring_head + i) % RING];
				for (struct sub *s = h->subs; s; s = s->next)
					s->check =
					    s->check || s->project_id == n->project_id;
			}
			recheck(h);
			for (size_t i = 0; i < batch; i++) {
				struct notice *n = &h->ring[h->ring_head];
				for (struct sub *s = h->subs; s; s = s->next)
					if (s->project_id == n->project_id &&
					    s->checked != VX_EAUTH)
						apply(s, n);
				h->ring_head = (h->ring_head + 1) % RING;
				h->ring_len--;
			}
		}
		now = now_ns();
		if (now >= next_beat) {
			heartbeat(h);
			next_beat = now + (uint64_t)h->o.heartbeat_ms * 1000000;
		}
		wake = next_beat;
		for (struct sub *s = h->subs; s; s = s->next) {
			if (s->dead || !s->fill)
				continue;
			if (s->retry_at <= now) {
				due = s;
				break;
			}
			if (s->retry_at < wake)
				wake = s->retry_at;
		}
		if (due) {
			due->filling = true;
			pthread_mutex_unlock(&h->mu);
			(void)fill(h, due);
			pthread_mutex_lock(&h->mu);
			due->filling = false;
			continue;
		}
		if (h->ring_len > 0)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		wake = wake > now ? wake - now : 0;
		ts.tv_sec += (time_t)(wake / 1000000000);
		ts.tv_nsec += (long)(wake % 1000000000);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* ---- the hub's life ---- */

int
vx_gw_sse_start(const vx_gw_sse_opts *o)
{
	struct hub *h;
	vx_status st;
	int rv, rc = VX_ENOMEM;

	if (vx_gw_metric_register(&streams_open) != 0 ||
	    vx_gw_metric_register(&events_sent) != 0)
		return VX_EFULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return VX_ENOMEM;
	h->o = *o;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	vx_arena_init(&h->arena, ARENA_BUDGET);
	if ((rv = nng_sub0_open(&h->sock)) != 0 ||
	    (rv = nng_socket_set(h->sock, NNG_OPT_SUB_SUBSCRIBE, "p/", 2)) != 0 ||
	    (rv = nng_socket_set_size(h->sock, NNG_OPT_RECVMAXSZ, 64 * 1024)) != 0 ||
	    (rv = nng_socket_set_ms(h->sock, NNG_OPT_RECONNMINT, 20)) != 0 ||
	    (rv = nng_socket_set_ms(h->sock, NNG_OPT_RECONNMAXT, 1000)) != 0 ||
	    (rv = nng_pipe_notify(h->sock, NNG_PIPE_EV_ADD_POST, on_pipe, h)) != 0 ||
	    (rv = nng_aio_alloc(&h->rx, on_notice, h)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: SUB socket: %s", nng_strerror(rv));
		goto fail;
	}
	/* In the background: vexild may start after us, and nng redials.
	 * tls+tcp:// is checked against --rpc-tls-ca ($VEXIL_TLS_CA). */
	if ((rc = vx_wire_dial(h->sock, o->sub_url, NULL, false, &st)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: --sub %s: %s", o->sub_url, st.message);
		goto fail;
	}
	rc = VX_ENOMEM;
	if (pthread_create(&h->th, NULL, hub_main, h) != 0)
		goto fail;
	h->started = true;
	nng_recv_aio(h->sock, h->rx);
	the_hub = h;
	return 0;
fail:
	if (h->rx)
		nng_aio_free(h->rx);
	if (nng_socket_id(h->sock) > 0)
		nng_close(h->sock);
	vx_arena_fini(&h->arena);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
	return rc;
}

void
vx_gw_sse_stop(void)
{
	struct hub *h = the_hub;
	struct sub *s;

	if (h == NULL)
		return;
	the_hub = NULL;
	nng_close(h->sock);
	nng_aio_stop(h->rx);
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->th, NULL);
	nng_aio_free(h->rx);
	while ((s = h->subs) != NULL) {
		h->subs = s->next;
		sub_free(s);
	}
	vx_arena_fini(&h->arena);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* ---- the handler (a worker) ---- */

/* The stream ended (an nng thread): the hub thread frees s. */
static void
on_stream_closed(void *arg)
{
	struct sub *s = arg;
	struct hub *h = the_hub;

	vx_gw_metric_add(&streams_open, -1);
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	s->dead = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Admits the key: its project and environment, or false after answering. */
static bool
admit(vx_gw_req *r, uint64_t *project, const char **env)
{
	Vexil__V1__AdmitReply *out;
	vx_status st;
	int rc;

	if ((r->credential = vx_gw_key_credential(r)) == NULL) {
		vx_gw_reply_empty(r, 401);
		return false;
	}
	if ((rc = vx_gw_admit(r, &out, &st)) < 0) {
		if (st.code == VEXIL__V1__CODE__UNAUTHENTICATED)
			vx_gw_reply_empty(r, 401);
		else
			vx_gw_fail_status(r, &st);
		return false;
	}
	if (strcmp(out->kind, "user") == 0) {
		/* The document's credentials are keys, not user tokens. */
		vx_gw_reply_empty(r, 401);
		return false;
	}
	if (rc == 1) {
		vx_gw_reply_empty(r, 429);
		return false;
	}
	if (out->project_id == 0) {
		vx_gw_fail(
		    r, 400, NULL, "The change stream needs a key bound to one project");
		return false;
	}
	*project = out->project_id;
	*env = out->environment ? out->environment : "";
	return true;
}

/* The project's head revision now, or false after answering. */
static bool
head_revision(vx_gw_req *r, const char *project, uint64_t *head)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	vx_status st;

	in.project = (char *)project;
	in.head_only = true;
	if (vx_changes_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &out, &st) != 0) {
		vx_gw_fail_status(r, &st);
		return false;
	}
	*head = out->head_revision;
	return true;
}

void
vx_gw_sse_events(vx_gw_req *r)
{
	struct hub *h = the_hub;
	const char *env = "", *lei;
	uint64_t pid = 0, last = 0;
	struct sub *s = NULL;
	bool full;

	if (h == NULL) {
		vx_gw_fail(r, 503, NULL, "The change stream is not available");
		return;
	}
	if (!admit(r, &pid, &env))
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->credential = strdup(r->credential)) == NULL) {
		free(s);
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	s->project_id = pid;
	snprintf(s->project, sizeof(s->project), "%llu", (unsigned long long)pid);
	snprintf(s->env, sizeof(s->env), "%s", env);
	snprintf(s->rid, sizeof(s->rid), "%s", r->request_id);
	if ((lei = vx_gw_header(r, "Last-Event-ID")) != NULL && *lei != '\0') {
		if (vx_parse_u64(lei, &last) != 0) {
			vx_gw_fail(
			    r, 400, NULL, "Last-Event-ID must be a revision number");
			goto fail;
		}
	} else if (!head_revision(r, s->project, &last)) {
		goto fail;
	}
	s->last = last;
	s->fill = true;
	pthread_mutex_lock(&h->mu);
	full = h->nsubs >= h->o.max_streams;
	if (!full)
		h->nsubs++;
	pthread_mutex_unlock(&h->mu);
	if (full) {
		vx_gw_fail(r, 503, NULL, "Too many open event streams, retry later");
		goto fail;
	}
	if ((s->st = vx_gw_reply_stream(
	         r, "text/event-stream", BACKLOG, on_stream_closed, s)) == NULL) {
		pthread_mutex_lock(&h->mu);
		h->nsubs--;
		pthread_mutex_unlock(&h->mu);
		goto fail;
	}
	vx_gw_metric_add(&streams_open, 1);
	/* The fill (since Last-Event-ID, or since the head just read) runs
	 * on the hub thread; events queue behind the response head. */
	pthread_mutex_lock(&h->mu);
	s->next = h->subs;
	h->subs = s;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return;
fail:
	sub_free(s);
}
