/*
 * bench_sse — how soon a committed write reaches an open OFREP event
 * stream through vexil-gateway (issue #9: a change reaches an open stream
 * within milliseconds of its commit, because it comes from the PUB
 * notices, not from polling).
 *
 * It starts the real vexild of this build (or --vexild PATH) with
 * --rate-limit 0 on a fresh temp data dir and free ports, and the real
 * vexil-gateway (or --gateway PATH) in front of it, its --sub on vexild's
 * PUB socket. Through libvexil it creates one boolean flag and an SDK key
 * of project "default" bound to "production". Then, for each stream
 * count S (--streams, default 1,10,100), it opens S streams
 * `GET /ofrep/v1/events` with `Authorization: Bearer <sdk key>`, each on
 * its own raw TCP socket read by its own thread, as S separate OFREP
 * providers would, and checks that each answers 200.
 *
 * A writer then makes W sequential writes (--writes, default 300) with
 * libvexil: SetFlagEnabled toggling the flag in production, each sent as
 * soon as the previous one was acknowledged (or, with --interval-ms N, N ms
 * after the previous one was sent). Every committed write raises
 * the project revision by exactly one and the stream's event ids are the
 * revisions, so write i is the event with id base + i, where base is read
 * with GetProject before the first. The writer records CLOCK_MONOTONIC
 * just before sending (t_sent) and just after the reply (t_acked). A
 * stream's thread records the clock right after the recv() that completed
 * an event (`id: N ... \n\n`; `: keep-alive` comments are skipped) into a
 * per-stream array indexed by id - base. When every stream has seen the
 * last revision (or after SETTLE_TIMEOUT_MS, when what is missing is
 * reported) the streams are closed and the figures computed over every
 * (write, stream) pair:
 *
 *   ack>ev   event read - t_acked: commit acknowledged to event read
 *   snd>ev   event read - t_sent: client send to event read
 *   last     per write, the last stream's event - t_acked
 *   rtt      t_acked - t_sent of the writes themselves
 *
 * vexild publishes the notice before it sends the reply, so an event can
 * be read before the writer has read its acknowledgement: ack>ev can be
 * negative. Nothing is clamped.
 *
 * Before each level's measured writes, warm-up writes are made until a
 * few in a row reach every stream within a second: the gateway's SUB
 * socket dials in the background, and a notice published before it is
 * connected is only filled in at the next change. The row says how many
 * warm-up writes that took.
 *
 * Back to back, the writes can come faster than the gateway fans them out
 * to many streams on a small machine; the events then queue and ack>ev
 * grows over the level (settle_ms shows it). --interval-ms spaces the
 * writes to see the latency of one change without that queue.
 *
 * There are no thresholds: it prints a settings line and one row per
 * level, and exits 0; or non-zero, with a message, when vexild or the
 * gateway fails, a write fails, a stream is refused or ends, or a stream
 * misses an event, gets one twice or out of order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench_common.h"
#include "probe.h"
#include "vexil.h"

#ifndef VX_VEXILD_PATH
#define VX_VEXILD_PATH "vexild"
#endif
#ifndef VX_GATEWAY_PATH
#define VX_GATEWAY_PATH "vexil-gateway"
#endif

#define MAX_LEVELS 8
#define MAX_STREAMS 900 /* under the gateway's default --max-streams 1000 */
#define MAX_WRITES 1000000
/* Consecutive warm-up writes every stream must see within the wait. */
#define WARMUP_STREAK 3
#define WARMUP_WAIT_MS 1000
#define WARMUP_MAX_WRITES 30
/* A lost last notice is never filled in; this long is plenty for the rest. */
#define SETTLE_TIMEOUT_MS 5000
/* For the response head of a new stream. */
#define OPEN_TIMEOUT_S 5
/* Bytes of a stream not yet parsed; an event is about 100. */
#define STREAM_BUF 4096

#define FLAG_KEY "sse-flag"

struct opts {
	const char *vexild;
	const char *gateway;
	bool no_sync;
	int interval_ms;
	int levels[MAX_LEVELS];
	int nlevels;
	int writes;
};

/* The measured writes of a level, as the streams see them. */
struct window {
	/* Write i (1..writes) commits revision base + i; UINT64_MAX until set. */
	atomic_uint_fast64_t base;
	int writes;
};

/* One stream. Apart from the atomics, only its reader thread writes it. */
struct stream {
	const struct window *win;
	int fd;
	pthread_t thread;
	bool started;
	uint64_t *ev_ns;           /* [writes]: when revision base+1+i was read; 0: not yet */
	atomic_uint_fast64_t last; /* the newest id read */
	atomic_uint seen;          /* distinct measured revisions read */
	atomic_uint dups;          /* ids at or below one read before */
	atomic_uint bad;           /* events without a readable id */
	atomic_bool ended;         /* the connection ended or failed */
	char buf[STREAM_BUF];
	size_t len;
};

struct row {
	int streams;
	int writes;
	int warmup_writes;
	double open_ms;   /* opening every stream */
	double settle_ms; /* last acknowledgement to the last event */
	double ack_p50, ack_p90, ack_p99, ack_max;
	double snd_p50, snd_p90, snd_p99, snd_max;
	double last_p50, last_p99;
	double rtt_p50, rtt_p99;
	uint64_t missed, dups, bad, ended;
};

/* ---- vexild calls ---- */

/* ---- streams ---- */

/* The offset just past the first "\n\n" in b[0..len), or 0. */
static size_t
event_end(const char *b, size_t len)
{
	for (size_t i = 1; i < len; i++)
		if (b[i] == '\n' && b[i - 1] == '\n')
			return i + 1;
	return 0;
}

/* One whole event (or comment) of n bytes, read at t. */
static void
on_event(struct stream *s, const char *ev, size_t n, uint64_t t)
{
	uint64_t base = atomic_load_explicit(&s->win->base, memory_order_acquire);
	unsigned long long id;
	char line[64];

	if (ev[0] == ':')
		return; /* a keep-alive comment */
	snprintf(line, sizeof(line), "%.*s", (int)(n < 63 ? n : 63), ev);
	if (sscanf(line, "id: %llu\n", &id) != 1 || strstr(line, "\nevent: message\n") == NULL) {
		atomic_fetch_add(&s->bad, 1);
		return;
	}
	if (id <= atomic_load(&s->last)) {
		atomic_fetch_add(&s->dups, 1);
		return;
	}
	if (id > base && id - base <= (uint64_t)s->win->writes) {
		s->ev_ns[id - base - 1] = t;
		atomic_fetch_add_explicit(&s->seen, 1, memory_order_release);
	}
	atomic_store_explicit(&s->last, id, memory_order_release);
}

/* Reads the stream until it ends; shutdown() from the main thread ends it. */
static void *
reader_main(void *arg)
{
	struct stream *s = arg;

	for (;;) {
		ssize_t n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
		uint64_t t = bench_now_ns();
		size_t end;

		if (n <= 0)
			break;
		s->len += (size_t)n;
		while ((end = event_end(s->buf, s->len)) != 0) {
			on_event(s, s->buf, end, t);
			memmove(s->buf, s->buf + end, s->len - end);
			s->len -= end;
		}
		if (s->len == sizeof(s->buf)) {
			atomic_fetch_add(&s->bad, 1); /* no event is this long */
			break;
		}
	}
	atomic_store(&s->ended, true);
	return NULL;
}

/*
 * Connects, asks for the stream and reads the response head; what came
 * after it is the start of the stream. -1 with a message unless 200.
 */
static int
open_stream(struct stream *s, int port, const char *sdk_key, int nth)
{
	struct timeval tv = {OPEN_TIMEOUT_S, 0}, none = {0, 0};
	char req[512], *head_end = NULL;
	size_t head;
	int n;

	if ((s->fd = bench_dial(port)) < 0) {
		fprintf(stderr, "bench_sse: stream %d: cannot connect to port %d: %s\n", nth,
		    port, strerror(errno));
		return -1;
	}
	n = snprintf(req, sizeof(req),
	    "GET /ofrep/v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
	    port, sdk_key);
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(s->fd, req, (size_t)n, 0) != n) {
		fprintf(stderr, "bench_sse: stream %d: send: %s\n", nth, strerror(errno));
		return -1;
	}
	errno = 0; /* a closed connection leaves it alone */
	while (head_end == NULL) {
		ssize_t got;
		if (s->len == sizeof(s->buf) - 1 ||
		    (got = recv(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len, 0)) <= 0) {
			fprintf(stderr, "bench_sse: stream %d: no response head%s%s\n", nth,
			    errno ? ": " : "", errno ? strerror(errno) : "");
			return -1;
		}
		s->len += (size_t)got;
		s->buf[s->len] = '\0';
		head_end = strstr(s->buf, "\r\n\r\n");
	}
	if (strncmp(s->buf, "HTTP/1.1 200 ", 13) != 0) {
		fprintf(stderr, "bench_sse: stream %d: refused: %.*s\n", nth,
		    (int)strcspn(s->buf, "\r\n"), s->buf);
		return -1;
	}
	head = (size_t)(head_end - s->buf) + 4;
	memmove(s->buf, s->buf + head, s->len - head);
	s->len -= head;
	/* From here the reader waits as long as the stream stays open. */
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	if (pthread_create(&s->thread, NULL, reader_main, s) != 0) {
		fprintf(stderr, "bench_sse: stream %d: no thread\n", nth);
		return -1;
	}
	s->started = true;
	return 0;
}

static struct stream *
alloc_streams(int n, const struct window *win)
{
	struct stream *ss = calloc((size_t)n, sizeof(*ss));

	if (ss == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		struct stream *s = &ss[i];
		s->win = win;
		s->fd = -1;
		atomic_init(&s->last, 0);
		atomic_init(&s->seen, 0);
		atomic_init(&s->dups, 0);
		atomic_init(&s->bad, 0);
		atomic_init(&s->ended, false);
		/* Zeroed, as 0 means not read; allocated now so the reader never does. */
		if ((s->ev_ns = calloc((size_t)win->writes, sizeof(uint64_t))) == NULL) {
			for (int j = 0; j <= i; j++)
				free(ss[j].ev_ns);
			free(ss);
			return NULL;
		}
	}
	return ss;
}

/* Ends every stream (our side closes), joins the readers, frees. */
static void
close_streams(struct stream *ss, int n)
{
	for (int i = 0; ss != NULL && i < n; i++)
		if (ss[i].fd >= 0)
			shutdown(ss[i].fd, SHUT_RDWR);
	for (int i = 0; ss != NULL && i < n; i++) {
		if (ss[i].started)
			pthread_join(ss[i].thread, NULL);
		if (ss[i].fd >= 0)
			close(ss[i].fd);
		free(ss[i].ev_ns);
	}
	free(ss);
}

/* Every subscriber at least at want, by last revision or by count seen. */
struct catch_up {
	struct stream *all;
	uint64_t want;
};

static bool
last_at_least(void *arg, int i)
{
	struct catch_up *c = arg;
	return atomic_load_explicit(&c->all[i].last, memory_order_acquire) >= c->want;
}

static bool
seen_at_least(void *arg, int i)
{
	struct catch_up *c = arg;
	return atomic_load_explicit(&c->all[i].seen, memory_order_acquire) >= c->want;
}

/* Waits until every stream read revision rev. */
static bool
wait_all_last(struct stream *ss, int n, uint64_t rev, int timeout_ms)
{
	struct catch_up c = {ss, rev};
	return bench_wait_all(last_at_least, &c, n, timeout_ms);
}

/* Waits until every stream read every measured write. */
static bool
wait_all_seen(struct stream *ss, int n, unsigned writes, int timeout_ms)
{
	struct catch_up c = {ss, writes};
	return bench_wait_all(seen_at_least, &c, n, timeout_ms);
}

/* ---- one level ---- */

static double
us_at(const int64_t *sorted, size_t n, double p)
{
	return n ? (double)sorted[bench_rank(n, p)] / 1000.0 : 0.0;
}

/*
 * Turns the timestamps into the row, with every reader joined or at
 * least past the measured window.
 */
static int
summarise(struct stream *ss, int n, int writes, const uint64_t *t_sent,
    const uint64_t *t_acked, struct row *r)
{
	size_t pairs = (size_t)n * (size_t)writes, k = 0, nlast = 0;
	int64_t *ack = malloc(pairs * sizeof(*ack));
	int64_t *snd = malloc(pairs * sizeof(*snd));
	int64_t *last = malloc((size_t)writes * sizeof(*last));
	int64_t *rtt = malloc((size_t)writes * sizeof(*rtt));
	int rc = -1;

	if (ack == NULL || snd == NULL || last == NULL || rtt == NULL) {
		fprintf(stderr, "bench_sse: out of memory for %zu samples\n", pairs);
		goto out;
	}
	for (int i = 0; i < writes; i++) {
		int64_t latest = INT64_MIN;
		bool complete = true;
		for (int j = 0; j < n; j++) {
			uint64_t ev = ss[j].ev_ns[i];
			if (ev == 0) {
				r->missed++;
				complete = false;
				continue;
			}
			ack[k] = (int64_t)(ev - t_acked[i]);
			snd[k] = (int64_t)(ev - t_sent[i]);
			if (ack[k] > latest)
				latest = ack[k];
			k++;
		}
		if (complete)
			last[nlast++] = latest;
		rtt[i] = (int64_t)(t_acked[i] - t_sent[i]);
	}
	for (int j = 0; j < n; j++) {
		r->dups += atomic_load(&ss[j].dups);
		r->bad += atomic_load(&ss[j].bad);
	}
	qsort(ack, k, sizeof(*ack), bench_cmp_i64);
	qsort(snd, k, sizeof(*snd), bench_cmp_i64);
	qsort(last, nlast, sizeof(*last), bench_cmp_i64);
	qsort(rtt, (size_t)writes, sizeof(*rtt), bench_cmp_i64);
	r->ack_p50 = us_at(ack, k, 0.50);
	r->ack_p90 = us_at(ack, k, 0.90);
	r->ack_p99 = us_at(ack, k, 0.99);
	r->ack_max = k ? (double)ack[k - 1] / 1000.0 : 0.0;
	r->snd_p50 = us_at(snd, k, 0.50);
	r->snd_p90 = us_at(snd, k, 0.90);
	r->snd_p99 = us_at(snd, k, 0.99);
	r->snd_max = k ? (double)snd[k - 1] / 1000.0 : 0.0;
	r->last_p50 = us_at(last, nlast, 0.50);
	r->last_p99 = us_at(last, nlast, 0.99);
	r->rtt_p50 = us_at(rtt, (size_t)writes, 0.50);
	r->rtt_p99 = us_at(rtt, (size_t)writes, 0.99);
	rc = 0;
out:
	free(ack);
	free(snd);
	free(last);
	free(rtt);
	return rc;
}

/*
 * Warm-up writes until WARMUP_STREAK in a row reach every stream within
 * WARMUP_WAIT_MS; *rev follows the project revision.
 */
static int
warm_up(vx_client *writer, bool *enabled, struct stream *ss, int n, uint64_t *rev,
    int *made)
{
	int streak = 0;

	for (*made = 0; streak < WARMUP_STREAK; (*made)++) {
		if (*made == WARMUP_MAX_WRITES) {
			fprintf(stderr,
			    "bench_sse: after %d warm-up writes, %d in a row had not reached"
			    " all %d streams within %d ms\n",
			    WARMUP_MAX_WRITES, WARMUP_STREAK, n, WARMUP_WAIT_MS);
			return -1;
		}
		if (bench_interrupted || bench_probe_toggle(writer, FLAG_KEY, enabled) != 0)
			return -1;
		(*rev)++;
		streak = wait_all_last(ss, n, *rev, WARMUP_WAIT_MS) ? streak + 1 : 0;
	}
	return 0;
}

static int
run_level(struct bench_vexild *v, const struct bench_gateway *g, const char *sdk_key,
    const struct opts *o, int nstreams, bool *enabled, struct row *r)
{
	struct window win = {.writes = o->writes};
	struct stream *ss = NULL;
	uint64_t *t_sent = NULL, *t_acked = NULL, rev, base, end, t0;
	int rc = -1, w = o->writes;

	memset(r, 0, sizeof(*r));
	r->streams = nstreams;
	r->writes = w;
	atomic_init(&win.base, UINT64_MAX);
	t_sent = calloc((size_t)w, sizeof(*t_sent));
	t_acked = calloc((size_t)w, sizeof(*t_acked));
	if (t_sent == NULL || t_acked == NULL || (ss = alloc_streams(nstreams, &win)) == NULL) {
		fprintf(stderr, "bench_sse: out of memory for %d streams\n", nstreams);
		goto out;
	}
	t0 = bench_now_ns();
	for (int i = 0; i < nstreams; i++)
		if (open_stream(&ss[i], g->port, sdk_key, i + 1) != 0)
			goto out;
	r->open_ms = (double)(bench_now_ns() - t0) / 1e6;
	if (bench_probe_revision(v->client, &rev) != 0 ||
	    warm_up(v->client, enabled, ss, nstreams, &rev, &r->warmup_writes) != 0)
		goto out;
	if (bench_probe_revision(v->client, &base) != 0)
		goto out;
	if (base != rev) {
		fprintf(stderr,
		    "bench_sse: the project is at revision %llu after the warm-up,"
		    " not %llu: someone else writes\n",
		    (unsigned long long)base, (unsigned long long)rev);
		goto out;
	}
	atomic_store_explicit(&win.base, base, memory_order_release);

	for (int i = 0; i < w && !bench_interrupted; i++) {
		t_sent[i] = bench_now_ns();
		if (bench_probe_toggle(v->client, FLAG_KEY, enabled) != 0)
			goto out;
		t_acked[i] = bench_now_ns();
		if (o->interval_ms > 0) {
			uint64_t next = t_sent[i] + (uint64_t)o->interval_ms * 1000000ull;
			while (!bench_interrupted && bench_now_ns() < next)
				bench_sleep_ms(1);
		}
	}
	if (bench_interrupted)
		goto out;
	if (!wait_all_seen(ss, nstreams, (unsigned)w, SETTLE_TIMEOUT_MS) && !bench_interrupted)
		fprintf(stderr,
		    "bench_sse: %d streams: not every event came within %d ms of the last"
		    " write\n",
		    nstreams, SETTLE_TIMEOUT_MS);
	r->settle_ms = (double)(bench_now_ns() - t_acked[w - 1]) / 1e6;
	/* Streams the gateway ended before we closed them. */
	for (int i = 0; i < nstreams; i++)
		r->ended += atomic_load(&ss[i].ended);
	if (bench_probe_revision(v->client, &end) != 0)
		goto out;
	if (end != base + (uint64_t)w) {
		fprintf(stderr,
		    "bench_sse: %d writes moved the revision by %llu; the latencies"
		    " would be matched to the wrong writes\n",
		    w, (unsigned long long)(end - base));
		goto out;
	}
	/* Closed and joined first: a late event must not race the summary. */
	for (int i = 0; i < nstreams; i++)
		shutdown(ss[i].fd, SHUT_RDWR);
	for (int i = 0; i < nstreams; i++) {
		if (ss[i].started)
			pthread_join(ss[i].thread, NULL);
		ss[i].started = false;
	}
	rc = summarise(ss, nstreams, w, t_sent, t_acked, r);
out:
	close_streams(ss, nstreams);
	free(t_sent);
	free(t_acked);
	return rc;
}

/* ---- output ---- */

static void
print_header(const struct opts *o)
{
	char pace[64];

	if (o->interval_ms > 0)
		snprintf(pace, sizeof(pace), "sent %d ms apart", o->interval_ms);
	else
		snprintf(pace, sizeof(pace), "each sent on the previous one's ack");
	printf("bench_sse: %d sequential SetFlagEnabled writes per level from one libvexil"
	       " client, %s; streams: GET /ofrep/v1/events with an SDK key of (default,"
	       " production), one TCP socket and reader thread each; vexild --quiet"
	       " --rate-limit 0%s (%s) over tcp; vexil-gateway --quiet (%s); %ld CPUs\n",
	    o->writes, pace, o->no_sync ? " --no-sync" : "", o->vexild, o->gateway,
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("bench_sse: in us: ack>ev = event read - write acknowledged and snd>ev ="
	       " event read - write sent, over every (write, stream); last = the last"
	       " stream's event - acknowledged, per write; rtt = the write's round trip."
	       " warm = warm-up writes it took; open_ms = opening every stream;"
	       " settle_ms = last acknowledgement to every event read\n");
	printf("%7s %6s | %9s %9s %9s %9s | %9s %9s %9s %9s | %9s %9s | %8s %8s |"
	       " %6s %4s %3s %5s | %4s %8s %9s\n",
	    "streams", "writes", "ack>ev50", "ack>ev90", "ack>ev99", "ack>evmax", "snd>ev50",
	    "snd>ev90", "snd>ev99", "snd>evmax", "last_p50", "last_p99", "rtt_p50", "rtt_p99",
	    "missed", "dups", "bad", "ended", "warm", "open_ms", "settle_ms");
	fflush(stdout);
}

static void
print_row(const struct row *r)
{
	printf("%7d %6d | %9.1f %9.1f %9.1f %9.1f | %9.1f %9.1f %9.1f %9.1f | %9.1f %9.1f |"
	       " %8.1f %8.1f | %6llu %4llu %3llu %5llu | %4d %8.1f %9.1f\n",
	    r->streams, r->writes, r->ack_p50, r->ack_p90, r->ack_p99, r->ack_max, r->snd_p50,
	    r->snd_p90, r->snd_p99, r->snd_max, r->last_p50, r->last_p99, r->rtt_p50,
	    r->rtt_p99, (unsigned long long)r->missed, (unsigned long long)r->dups,
	    (unsigned long long)r->bad, (unsigned long long)r->ended, r->warmup_writes,
	    r->open_ms, r->settle_ms);
	fflush(stdout);
}

/* Reports on stderr what makes a row wrong rather than slow. */
static int
check_row(const struct row *r)
{
	if (r->missed == 0 && r->dups == 0 && r->bad == 0 && r->ended == 0)
		return 0;
	fprintf(stderr,
	    "bench_sse: x%d: %llu events missing, %llu repeated or out of order, %llu"
	    " unreadable, %llu streams ended by the gateway\n",
	    r->streams, (unsigned long long)r->missed, (unsigned long long)r->dups,
	    (unsigned long long)r->bad, (unsigned long long)r->ended);
	return -1;
}

static int
check_children(struct bench_vexild *v, struct bench_gateway *g)
{
	int rc = bench_vexild_check(v, "during the level");
	return bench_gateway_check(g, "during the level") != 0 ? -1 : rc;
}

/* One vexild, one gateway, every level. */
static int
run(const struct opts *o, const char *root)
{
	static const char *const sync_args[] = {"--rate-limit", "0", NULL};
	static const char *const nosync_args[] = {"--rate-limit", "0", "--no-sync", NULL};
	struct bench_vexild v = {.pid = 0};
	struct bench_gateway g = {.pid = 0};
	bool enabled = false; /* the flag starts disabled everywhere */
	char sdk_key[128];
	struct row r;
	int rc = -1, failed = 0;

	if (bench_vexild_start(&v, o->vexild, root, "sse", BENCH_TCP,
	        o->no_sync ? nosync_args : sync_args) != 0 ||
	    bench_probe_create(v.client, FLAG_KEY, "SSE latency probe") != 0 ||
	    bench_probe_sdk_key(v.client, sdk_key, sizeof(sdk_key), NULL) != 0 ||
	    bench_gateway_start(&g, o->gateway, root, "sse", &v, NULL) != 0)
		goto out;
	for (int i = 0; i < o->nlevels && !bench_interrupted; i++) {
		if (run_level(&v, &g, sdk_key, o, o->levels[i], &enabled, &r) != 0) {
			check_children(&v, &g);
			goto out;
		}
		print_row(&r);
		failed |= check_row(&r) != 0;
		if (check_children(&v, &g) != 0)
			goto out;
	}
	if (bench_interrupted)
		goto out;
	rc = failed ? -1 : 0;
out:
	if (bench_gateway_stop(&g) != 0)
		rc = -1;
	if (bench_vexild_stop(&v) != 0)
		rc = -1;
	return rc;
}

/* ---- command line ---- */

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: bench_sse [options]\n"
	    "  --vexild PATH          vexild to run (default %s)\n"
	    "  --gateway PATH         vexil-gateway to run (default %s)\n"
	    "  --streams LIST         open event streams per level, e.g. 1,10,100 (default)\n"
	    "  --writes N             measured writes per level (default 300)\n"
	    "  --interval-ms N        send write i+1 N ms after write i was sent\n"
	    "                         (default 0: as soon as it was acknowledged)\n"
	    "  --no-sync              run vexild with --no-sync (no fsync per commit)\n"
	    "  --help                 this text\n",
	    VX_VEXILD_PATH, VX_GATEWAY_PATH);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--no-sync") == 0) {
			o->no_sync = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "bench_sse: %s needs a value\n", a);
			usage(stderr);
			return -1;
		}
		i++;
		if (strcmp(a, "--vexild") == 0) {
			o->vexild = v;
		} else if (strcmp(a, "--gateway") == 0) {
			o->gateway = v;
		} else if (strcmp(a, "--streams") == 0) {
			if (bench_parse_ints(a, v, 1, MAX_STREAMS, o->levels, MAX_LEVELS,
				&o->nlevels) != 0)
				return -1;
		} else if (strcmp(a, "--interval-ms") == 0) {
			if (bench_parse_int(a, v, 0, 60000, &o->interval_ms) != 0)
				return -1;
		} else if (strcmp(a, "--writes") == 0) {
			if (bench_parse_int(a, v, 1, MAX_WRITES, &o->writes) != 0)
				return -1;
		} else {
			fprintf(stderr, "bench_sse: unknown option %s\n", a);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = {
	    .vexild = VX_VEXILD_PATH,
	    .gateway = VX_GATEWAY_PATH,
	    .levels = {1, 10, 100},
	    .nlevels = 3,
	    .writes = 300,
	};
	char root[64];
	int rc;

	bench_init("bench_sse");
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	for (int i = 0; i < 2; i++) {
		const char *path = i == 0 ? o.vexild : o.gateway;
		if (access(path, X_OK) != 0) {
			fprintf(stderr, "bench_sse: cannot run %s at %s: %s (use %s PATH)\n",
			    i == 0 ? "vexild" : "vexil-gateway", path, strerror(errno),
			    i == 0 ? "--vexild" : "--gateway");
			return 1;
		}
	}
	if (bench_make_root(root, sizeof(root)) != 0)
		return 1;
	print_header(&o);
	rc = run(&o, root) != 0 ? 1 : 0;
	if (bench_interrupted) {
		fprintf(stderr, "bench_sse: interrupted\n");
		rc = 1;
	}
	bench_remove_tree(root);
	return rc;
}
