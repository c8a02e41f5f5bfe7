/*
 * Vexil gateway — edge evaluation: answering evaluations from live local
 * snapshots instead of a call to vexild per request.
 *
 * For each (project, environment) that an evaluation asks for, the edge
 * keeps a libvexil watch (vexil_watch.h): a compiled snapshot kept live
 * from vexild's PUB notices, evaluated with no I/O and no allocation. At
 * most max_snapshots are held, the least recently used evicted, and one
 * unused for idle_ms is dropped.
 *
 * Credentials are resolved at the edge too: a cache keyed by the BLAKE2b
 * hash of the credential (never the secret) maps it to the principal
 * AuthService/Admit names (kind, project, bound environment). A miss asks
 * vexild once. Every change notice about keys or the project (revocation,
 * SDK key regeneration, deletion) drops the project's entries at once,
 * and a short TTL backs that up; so a revoked key is refused within the
 * push latency.
 *
 * The edge answers only what it can answer exactly as vexild would: a
 * known principal, an environment it may evaluate, a live snapshot, a
 * known flag. Everything else (the first request for a target, errors,
 * refusals) is the core call as before, so every error reads as it did.
 * When vexild is out of reach the edge keeps answering from the last
 * snapshot and logs that it is stale; with no snapshot (and the PUB
 * connection gone) it answers UNAVAILABLE at once, which the dialects
 * turn into 503.
 *
 * What the edge answers is recorded in vexild as if vexild had answered:
 * each snapshot buffers its evaluations and sends them every 100 ms in
 * one EdgeService/RecordEvaluations call, with the credential its watch
 * follows with. The first 256 of a batch go one by one (vexild's recent
 * log keeps those, with their user), every later one as a count of its
 * (flag, variant) (EdgeEvalRecord.count), so every evaluation is counted
 * however many there are; only a batch with more than 6144 distinct
 * (flag, variant) pairs drops (and counts) the rest. A watch and its batches hold that
 * credential in memory, as any libvexil client does; the credential cache holds only
 * hashes.
 *
 * Admission too (rpc.c vx_gw_admit, for every dialect that rate-limits):
 * a key in the credential cache is admitted here, and an API key's
 * request spends one of the tokens this gateway leased from vexild's
 * window for the key (EdgeService/LeaseTokens, a twentieth of the limit
 * per call). A window is never over-spent: tokens end with the window
 * they were taken from. Tokens one gateway holds unspent when a window
 * ends are lost to the others (the tolerance, docs/gateway.md). While
 * vexild is out of reach each gateway keeps the key's window alone.
 */
#ifndef VX_GW_EDGE_H
#define VX_GW_EDGE_H

#include <stddef.h>

#include "gateway/http.h"
#include "vexil.h"
#include "vexil/v1/service.pb-c.h"

typedef struct vx_gw_edge vx_gw_edge;

typedef struct vx_gw_edge_opts {
	const char *rpc_url;  /* vexild's REP socket */
	const char *sub_url;  /* vexild's PUB socket */
	size_t max_snapshots; /* live snapshots held; the LRU one is evicted */
	int idle_ms;          /* a snapshot unused this long is dropped */
	int key_ttl_ms;       /* a cached credential is asked again after this */
	int timeout_ms;       /* per core call */
} vx_gw_edge_opts;

/*
 * Starts the edge: a core connection for credential look-ups and a
 * thread following every project's notices.
 * @return 0; VX_EINVAL for a bad URL; VX_ENOMEM. The reason is logged.
 */
int vx_gw_edge_start(vx_gw_edge **out, const vx_gw_edge_opts *o) VX_MUST_USE;
/*
 * A dialect's own AuthService/Admit for a request (rpc.c vx_gw_admit) also
 * fills the credential cache, so an admitted request never pays for a
 * second Admit here (which would also count twice against a rate limit).
 * Take the epoch before the Admit: an answer that a revocation notice
 * overtook is not cached. Both accept e == NULL.
 */
uint64_t vx_gw_edge_epoch(vx_gw_edge *e);
void vx_gw_edge_admitted(vx_gw_edge *e, const char *credential,
    const Vexil__V1__AdmitReply *a, uint64_t epoch);

/*
 * Admits r's SDK or API key from the credential cache, with no core call
 * while the key's leased tokens last: *out (in r's arena) is what Admit
 * would say, rate included (rate->limited: the caller answers 429). An
 * expired entry answers only while vexild is out of reach, or with
 * expired_ok (the caller's own Admit found vexild unreachable).
 * @return 0; VX_ENOTFOUND when the edge cannot say (not cached, expired,
 *         or vexild refused the lease): the caller calls AuthService/Admit
 *         and passes its answer to vx_gw_edge_admitted(); VX_ENOMEM. e may
 *         be NULL (VX_ENOTFOUND).
 */
int vx_gw_edge_admit(vx_gw_edge *e, vx_gw_req *r, bool expired_ok,
    Vexil__V1__AdmitReply **out) VX_MUST_USE;

/* What the edge has done so far, for a metrics endpoint. */
typedef struct vx_gw_edge_counters {
	uint64_t evaluations;     /* answered from a snapshot */
	uint64_t behind;          /* sent to vexild while a watch caught up */
	uint64_t key_lookups;     /* credentials asked of vexild (Admit) */
	uint64_t admitted;        /* requests admitted from the cache */
	uint64_t leases;          /* LeaseTokens calls */
	uint64_t records_dropped; /* evaluations vexild never got */
	uint64_t snapshots;       /* live snapshots held */
	uint64_t stale;           /* of which stale (vexild out of reach) */
} vx_gw_edge_counters;

/* Fills *c; all zero for e == NULL. */
void vx_gw_edge_counters_get(vx_gw_edge *e, vx_gw_edge_counters *c);

/* Stops every watch and the thread, and frees e. NULL is a no-op. */
void vx_gw_edge_stop(vx_gw_edge *e);

/*
 * The project reached this revision (a change notice, or the reply to a
 * write this gateway made: vx_client_opts.on_commit): its snapshots are
 * not answered from until their watch has applied it, so a gateway reads
 * its own writes. e may be NULL (no edge).
 */
void vx_gw_edge_heard(vx_gw_edge *e, uint64_t project_id, uint64_t revision);

/*
 * EvaluationService/EvaluateAll and /Evaluate for r, with r's credential:
 * from a live snapshot when the edge can (see above), else the core call.
 * Same contract as the typed calls (rpc.h): 0 with *out set (allocated in
 * r's arena), or a negative VX_E* code with st set. e may be NULL (no
 * edge: always the core call). An answer from a snapshot points into it:
 * the snapshot stays pinned until vx_gw_req_fini(r) (r->hold_release), so
 * *out is good until then, as an arena's is (a second evaluation in the
 * same request gets copies instead).
 */
int vx_gw_edge_evaluate_all(vx_gw_edge *e, vx_gw_req *r,
    const Vexil__V1__EvaluateAllRequest *in, Vexil__V1__EvaluationList **out,
    vx_status *st) VX_MUST_USE;
int vx_gw_edge_evaluate(vx_gw_edge *e, vx_gw_req *r, const Vexil__V1__EvaluateRequest *in,
    Vexil__V1__EvaluationResult **out, vx_status *st) VX_MUST_USE;
/* EvaluationService/GetSnapshot for r, the same way: the watch's flags,
 * each with only the asked environment's config. */
int vx_gw_edge_snapshot(vx_gw_edge *e, vx_gw_req *r,
    const Vexil__V1__GetSnapshotRequest *in, Vexil__V1__Snapshot **out,
    vx_status *st) VX_MUST_USE;

#endif
