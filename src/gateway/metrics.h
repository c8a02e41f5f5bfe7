/*
 * Vexil gateway — the metrics registry behind GET /metrics.
 *
 * Counting is on the hot path of every request, so it takes no lock and
 * shares no cache line between threads that count: the registry is one
 * table of 64-bit cells per shard (VX_GW_METRICS_SHARDS of them), a
 * thread counts in the shard it was given on its first count, and a
 * scrape sums the shards. A count is one relaxed atomic add into the
 * thread's own shard. A gauge is a counter that also goes down (an add of
 * (uint64_t)-1): the sum over the shards, modulo 2^64, is its value.
 *
 * Cells are reserved at startup, before the server starts, by whoever
 * counts: vx_gw_metrics_reserve() for a block of cells, or a vx_gw_metric
 * for one named value. A module that has labelled series of its own
 * reserves its block and registers a renderer that writes them in the
 * Prometheus text format (version 0.0.4) through the helpers below.
 *
 * The gateway's own families (registered by vx_gw_metrics_init):
 *   vexil_http_requests_total{dialect,route,status}
 *   vexil_http_request_duration_seconds{dialect,route}  (histogram)
 *   vexil_evaluations_total{reason}
 *   vexil_core_calls_total{method,code}
 *   vexil_core_call_duration_seconds{method}             (histogram)
 * Series that never counted are left out, so a scrape lists what
 * happened. Everything here is process-global, like the SSE hub.
 */
#ifndef VX_GW_METRICS_H
#define VX_GW_METRICS_H

#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "gateway/http.h"
#include "vexil/v1/envelope.pb-c.h"
#include "vexil/v1/service.pb-c.h"

#define VX_GW_METRICS_SHARDS 8
#define VX_GW_METRICS_CELLS 16384

/* ---- cells ---- */

/*
 * Reserves n consecutive cells, all 0, before any thread counts in them.
 * @return 0 with *first set; VX_EFULL when the table is out of cells.
 */
int vx_gw_metrics_reserve(size_t n, size_t *first) VX_MUST_USE;

/* This thread's shard (assigned on its first call). */
extern _Thread_local int vx_gw_metrics_shard_;
int vx_gw_metrics_shard_assign(void);
extern _Atomic uint64_t (*const vx_gw_metrics_cells)[VX_GW_METRICS_CELLS];

/* Adds v to a cell. Lock-free; any thread. */
static inline void
vx_gw_metrics_add(size_t cell, uint64_t v)
{
	int s = vx_gw_metrics_shard_;

	if (s < 0)
		s = vx_gw_metrics_shard_assign();
	atomic_fetch_add_explicit(&vx_gw_metrics_cells[s][cell], v, memory_order_relaxed);
}

/* A cell's value: the sum over the shards. */
uint64_t vx_gw_metrics_read(size_t cell);

/* ---- rendering ---- */

/* The scrape being written: a heap buffer that grows. */
typedef struct vx_gw_mbuf {
	char *data;
	size_t len, cap;
	bool oom;
} vx_gw_mbuf;

void vx_gw_mbuf_printf(vx_gw_mbuf *b, const char *fmt, ...) VX_PRINTF(2, 3);
/* "# HELP name help" and "# TYPE name type". */
void vx_gw_metrics_head(
    vx_gw_mbuf *b, const char *name, const char *type, const char *help);

/* Latency histogram buckets, in seconds (the last, +Inf, is implicit). */
#define VX_GW_METRICS_BUCKETS 14
/* The cells of one histogram: the buckets, +Inf, and the sum in ns. */
#define VX_GW_HIST_CELLS (VX_GW_METRICS_BUCKETS + 2)
/* Counts one observation of ns nanoseconds into the histogram at first. */
void vx_gw_metrics_observe(size_t first, uint64_t ns);
/* Writes the _bucket, _sum and _count lines of the histogram at first,
 * labels ("dialect=\"platform\",route=\"/v1/flags\"") put before le.
 * @return its count. */
uint64_t vx_gw_metrics_write_hist(
    vx_gw_mbuf *b, const char *name, const char *labels, size_t first);
/* Writes v as a label value, escaped as the text format wants. */
void vx_gw_metrics_label(vx_gw_mbuf *b, const char *v);

/* A renderer writes its families into b at each scrape. */
typedef void (*vx_gw_metrics_render_fn)(vx_gw_mbuf *b, void *arg);
/* Adds a renderer (at startup). @return 0; VX_EFULL. */
int vx_gw_metrics_register(vx_gw_metrics_render_fn fn, void *arg) VX_MUST_USE;

/* One named value without labels: a counter or a gauge. */
typedef struct vx_gw_metric {
	const char *name, *type, *help; /* static; type "counter" or "gauge" */
	size_t cell;
	bool registered;
} vx_gw_metric;

/* Reserves m's cell and registers it (again: no-op). @return 0; VX_EFULL. */
int vx_gw_metric_register(vx_gw_metric *m) VX_MUST_USE;
static inline void
vx_gw_metric_add(vx_gw_metric *m, int64_t v)
{
	if (m->registered)
		vx_gw_metrics_add(m->cell, (uint64_t)v);
}

/* ---- the gateway's own families ---- */

/*
 * Reserves the HTTP series of every route of the n dialects (and one for
 * each dialect's unrouted requests), the evaluation reasons and the core
 * calls of every service, and registers their renderer. Call once, before
 * the server starts. @return 0; VX_EFULL.
 */
int vx_gw_metrics_init(const vx_gw_dialect *const *dialects, size_t n) VX_MUST_USE;

/*
 * One answered request: its dialect, the route that answered it (NULL:
 * none did, as for a 404, or this layer's own refusals), its status and
 * the nanoseconds since its head's first byte. A no-op before init or for
 * a dialect init was not given.
 */
void vx_gw_metrics_http(
    const vx_gw_dialect *d, const vx_gw_route *rt, int status, uint64_t ns);

/* One evaluation answered, by its reason (STATIC, TARGETING_MATCH, ...). */
void vx_gw_metrics_eval(const char *reason);
/* Each evaluation of a list answered. */
void vx_gw_metrics_evals(const Vexil__V1__EvaluationList *l);

/* libvexil's vx_client_opts.on_call: one core call, its code and time. */
void vx_gw_metrics_core_call(void *arg, const ProtobufCServiceDescriptor *svc,
    unsigned method, Vexil__V1__Code code, uint64_t ns);

/*
 * The whole scrape in the text format: every renderer's families, then
 * extra (may be NULL: a renderer for this one scrape, such as the core's
 * figures). *out is heap memory for the caller to free.
 * @return 0; VX_ENOMEM.
 */
int vx_gw_metrics_render(
    vx_gw_metrics_render_fn extra, void *arg, char **out, size_t *len) VX_MUST_USE;

#endif
