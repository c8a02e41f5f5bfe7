/*
 * libvexil — the change subscription and the live local cache (public,
 * installed as <vexil/watch.h>).
 *
 * A watch follows one project. It subscribes to vexild's PUB socket for
 * the project's notices and connects, then fetches the project
 * (WatchService/Changes, since 0), then applies whatever notices arrived
 * meanwhile: the clone pattern, so no change falls between the fetch and
 * the subscription. (When the PUB socket cannot be reached at start, the
 * watch keeps dialling and the poll below covers the gap.)
 * After that the watch long-polls: it asks for the changes since the
 * cache's revision with wait_ms = poll_ms (at most 1 s, which also bounds
 * how long vx_watch_stop() waits for the call), and vexild, finding none,
 * holds the call until the next commit to the project and answers with
 * it, or after the wait with nothing. A change thus costs each watch one
 * reply, with no notice-then-fetch round trip and no burst of fetches
 * from every subscriber at once. While calls fail, they are retried with
 * backoff, and a notice newer than the cache cuts the wait short; nng
 * reconnects by itself.
 *
 * The cache keeps every flag of the project. With an environment set, it
 * also keeps that environment compiled: vx_watch_acquire() pins the
 * current compiled set without a lock (the writer swaps a pointer and
 * frees old sets once no reader is in), for vx_eval_local().
 */
#ifndef VEXIL_WATCH_PUBLIC_H
#define VEXIL_WATCH_PUBLIC_H

#include "vexil/eval.h"

#pragma GCC visibility push(default)

typedef struct vx_watch vx_watch;

/*
 * Called on the watch's thread, in revision order, once the cache holds
 * the change. `flag` is the flag's current state in the cache (NULL when
 * the change is not about a flag, or the flag no longer exists). After a
 * resync from a full snapshot (the log no longer reached back), it is
 * called once with kind CHANGE_KIND_UNSPECIFIED and the new revision.
 */
typedef void (*vx_watch_fn)(
    void *arg, const Vexil__V1__Change *change, const Vexil__V1__Flag *flag);

typedef struct vx_watch_opts {
	const char *rpc_url;     /* vexild's REP socket */
	const char *pub_url;     /* vexild's PUB socket */
	const char *credential;  /* as in vx_client_opts: API key or SDK key */
	const char *project;     /* id or name */
	const char *environment; /* compiled for vx_watch_acquire(); NULL: none */
	vx_watch_fn on_change;   /* may be NULL */
	void *arg;
	int poll_ms;        /* the long-poll's wait; 0: 1000, at most 1000 */
	int timeout_ms;     /* per call; 0: 2000 */
	const char *tls_ca; /* for tls+tcp:// URLs, as in vx_client_opts:
	                     * checks both the REQ and the SUB connection */
	const char *tls_server_name;
} vx_watch_opts;

/*
 * Starts a watch and returns once the cache holds the project. The
 * credential needs only WatchService/Changes (an SDK key will do).
 * @param[out] out  the watch; stop it with vx_watch_stop().
 * @return 0; the first failing call's code (st says why) when the project
 *         cannot be read: bad URL, credential or project, or no vexild.
 */
int vx_watch_start(vx_watch **out, const vx_watch_opts *opts, vx_status *st) VX_MUST_USE;
/* Stops the thread and frees everything. NULL is a no-op. */
void vx_watch_stop(vx_watch *w);
/* The revision the cache holds. */
uint64_t vx_watch_revision(vx_watch *w);
/* When the cache last caught up with vexild (unix ms): a watch polls
 * every poll_ms, so a time well past that means vexild is out of reach
 * and the cache is stale. */
int64_t vx_watch_synced_at(vx_watch *w);
/* How many times the cache was resynced from a full snapshot. */
uint64_t vx_watch_resyncs(vx_watch *w);

/*
 * Pins the compiled environment for vx_eval_local(); NULL when the watch
 * has no environment. Release it soon with vx_watch_release(): old sets
 * are freed only when no reader holds one.
 */
const vx_eval_snapshot *vx_watch_acquire(vx_watch *w);
void vx_watch_release(vx_watch *w, const vx_eval_snapshot *s);

/*
 * Copies the cached flags, in key order. Free each with vx_free() and the
 * array with free().
 */
int vx_watch_flags(
    vx_watch *w, Vexil__V1__Flag ***out, size_t *n, uint64_t *revision) VX_MUST_USE;

#pragma GCC visibility pop

#endif
