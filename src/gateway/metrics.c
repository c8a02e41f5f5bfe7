/*
 * Vexil gateway — the metrics registry and the gateway's own families:
 * see metrics.h.
 *
 * The table is static memory (VX_GW_METRICS_SHARDS x VX_GW_METRICS_CELLS
 * cells, 1 MiB, touched only where counted). Each shard's row starts on a
 * cache line of its own, so threads in different shards never write the
 * same line; threads share a shard only past VX_GW_METRICS_SHARDS of
 * them, and then still count exactly (the adds are atomic).
 *
 * Series are found by index, never by name: a route's series is its
 * dialect's base plus its place in the dialect's table, a core call's its
 * service's base plus the method index, a status or a code a slot of a
 * fixed list. So counting a request costs two table look-ups and three
 * atomic adds.
 */
#include "gateway/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vexil/v1/stubs.h"
#include "wire/wire.h"

static _Alignas(64) _Atomic uint64_t cells[VX_GW_METRICS_SHARDS][VX_GW_METRICS_CELLS];
_Atomic uint64_t (*const vx_gw_metrics_cells)[VX_GW_METRICS_CELLS] = cells;
_Thread_local int vx_gw_metrics_shard_ = -1;
static atomic_int next_shard;
static atomic_size_t used; /* cells reserved */

#define MAX_RENDERERS 32
static struct {
	vx_gw_metrics_render_fn fn;
	void *arg;
} renderers[MAX_RENDERERS];
static atomic_size_t n_renderers;

int
vx_gw_metrics_shard_assign(void)
{
	vx_gw_metrics_shard_ =
	    atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
	    VX_GW_METRICS_SHARDS;
	return vx_gw_metrics_shard_;
}

int
vx_gw_metrics_reserve(size_t n, size_t *first)
{
	size_t at = atomic_fetch_add(&used, n);

	if (at + n > VX_GW_METRICS_CELLS) {
		atomic_fetch_sub(&used, n);
		return VX_EFULL;
	}
	*first = at;
	return 0;
}

uint64_t
vx_gw_metrics_read(size_t cell)
{
	uint64_t v = 0;

	for (int s = 0; s < VX_GW_METRICS_SHARDS; s++)
		v += atomic_load_explicit(&cells[s][cell], memory_order_relaxed);
	return v;
}

int
vx_gw_metrics_register(vx_gw_metrics_render_fn fn, void *arg)
{
	size_t i = atomic_fetch_add(&n_renderers, 1);

	if (i >= MAX_RENDERERS) {
		atomic_fetch_sub(&n_renderers, 1);
		return VX_EFULL;
	}
	renderers[i].fn = fn;
	renderers[i].arg = arg;
	return 0;
}

/* ---- the text format ---- */

void
vx_gw_mbuf_printf(vx_gw_mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 16384;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
}

void
vx_gw_metrics_head(vx_gw_mbuf *b, const char *name, const char *type, const char *help)
{
	vx_gw_mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
vx_gw_metrics_label(vx_gw_mbuf *b, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			vx_gw_mbuf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			vx_gw_mbuf_printf(b, "\\n");
		else
			vx_gw_mbuf_printf(b, "%c", *p);
	}
}

/* Upper bounds in ns, and as the le label prints them. */
static const uint64_t bucket_ns[VX_GW_METRICS_BUCKETS] = {500000, 1000000, 2500000,
    5000000, 10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
    2500000000u, 5000000000u, 10000000000u};
static const char *const bucket_le[VX_GW_METRICS_BUCKETS] = {"0.0005", "0.001", "0.0025",
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

void
vx_gw_metrics_observe(size_t first, uint64_t ns)
{
	size_t i = 0;

	while (i < VX_GW_METRICS_BUCKETS && ns > bucket_ns[i])
		i++;
	/* Buckets are kept apart and summed up when written. */
	vx_gw_metrics_add(first + i, 1);
	vx_gw_metrics_add(first + VX_GW_METRICS_BUCKETS + 1, ns);
}

uint64_t
vx_gw_metrics_write_hist(
    vx_gw_mbuf *b, const char *name, const char *labels, size_t first)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= VX_GW_METRICS_BUCKETS; i++) {
		cum += vx_gw_metrics_read(first + i);
		vx_gw_mbuf_printf(b, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels,
		    i < VX_GW_METRICS_BUCKETS ? bucket_le[i] : "+Inf",
		    (unsigned long long)cum);
	}
	uint64_t sum = vx_gw_metrics_read(first + VX_GW_METRICS_BUCKETS + 1);
	vx_gw_mbuf_printf(b, "%s_sum{%s} %llu.%09llu\n%s_count{%s} %llu\n", name, labels,
	    (unsigned long long)(sum / 1000000000u),
	    (unsigned long long)(sum % 1000000000u), name, labels,
	    (unsigned long long)cum);
	return cum;
}

static void
render_one(vx_gw_mbuf *b, void *arg)
{
	const vx_gw_metric *m = arg;

	vx_gw_metrics_head(b, m->name, m->type, m->help);
	if (strcmp(m->type, "gauge") == 0)
		vx_gw_mbuf_printf(b, "%s %lld\n", m->name,
		    (long long)(int64_t)vx_gw_metrics_read(m->cell));
	else
		vx_gw_mbuf_printf(b, "%s %llu\n", m->name,
		    (unsigned long long)vx_gw_metrics_read(m->cell));
}

int
vx_gw_metric_register(vx_gw_metric *m)
{
	int rc;

	if (m->registered)
		return 0;
	if ((rc = vx_gw_metrics_reserve(1, &m->cell)) != 0 ||
	    (rc = vx_gw_metrics_register(render_one, m)) != 0)
		return rc;
	m->registered = true;
	return 0;
}

/* ---- the gateway's families ---- */

/* HTTP statuses with a series of their own; anything else is "other". */
static const int statuses[] = {200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404,
    405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 422, 429, 431, 500, 501,
    502, 503, 504, 505};
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)
static uint8_t status_slot[600]; /* status -> slot + 1; 0: other */

/* A series of the HTTP family: the status counts, then a histogram. */
#define HTTP_CELLS (N_STATUS + VX_GW_HIST_CELLS)

static const char *const reasons[] = {"STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED",
    "DEFAULT", "PREREQUISITE_FAILED", "FLAG_NOT_FOUND", "ERROR", "other"};
#define N_REASON (sizeof(reasons) / sizeof(reasons[0]))

/* Services: every one a gateway may call (vx_service_descriptors, stubs.h). */
#define MAX_SERVICES 32
#define N_CODE 17 /* gRPC's codes, 0..16 */
#define CALL_CELLS (N_CODE + VX_GW_HIST_CELLS)

#define MAX_DIALECTS 16
static struct {
	bool ready;
	const vx_gw_dialect *dialects[MAX_DIALECTS];
	size_t n_dialects;
	size_t http_first[MAX_DIALECTS]; /* the dialect's first route series */
	size_t eval_first;
	size_t call_first[MAX_SERVICES];
} g;

void
vx_gw_metrics_http(const vx_gw_dialect *d, const vx_gw_route *rt, int status, uint64_t ns)
{
	size_t i = 0, r, first;

	if (!g.ready)
		return;
	while (i < g.n_dialects && g.dialects[i] != d)
		i++;
	if (i == g.n_dialects)
		return;
	r = rt != NULL && rt >= d->routes && rt < d->routes + d->n_routes
	        ? (size_t)(rt - d->routes)
	        : d->n_routes;
	first = g.http_first[i] + r * HTTP_CELLS;
	vx_gw_metrics_add(first + (status >= 0 && status < 600 && status_slot[status]
	                                  ? status_slot[status] - 1u
	                                  : N_STATUS - 1),
	    1);
	vx_gw_metrics_observe(first + N_STATUS, ns);
}

/* The reasons[] index of a reason ("other" for an unknown one). */
static size_t
reason_index(const char *reason)
{
	size_t i = 0;

	if (reason == NULL)
		reason = "";
	/* The first letters differ but for the rare ones: compare them first. */
	while (i < N_REASON - 1 &&
	       (reasons[i][0] != reason[0] || strcmp(reasons[i], reason) != 0))
		i++;
	return i;
}

void
vx_gw_metrics_eval(const char *reason)
{
	if (g.ready)
		vx_gw_metrics_add(g.eval_first + reason_index(reason), 1);
}

void
vx_gw_metrics_evals(const Vexil__V1__EvaluationList *l)
{
	uint64_t n[N_REASON] = {0};
	vx_gw_reason_memo memo = {0};

	if (!g.ready || l == NULL)
		return;
	for (size_t i = 0; i < l->n_results; i++)
		if (l->results[i] != NULL)
			n[vx_gw_reason_memo_get(&memo, l->results[i]->reason, reason_index)]++;
	for (size_t i = 0; i < N_REASON; i++)
		if (n[i] != 0)
			vx_gw_metrics_add(g.eval_first + i, n[i]);
}

void
vx_gw_metrics_core_call(void *arg, const ProtobufCServiceDescriptor *svc, unsigned method,
    Vexil__V1__Code code, uint64_t ns)
{
	size_t first;

	(void)arg;
	if (!g.ready)
		return;
	for (size_t s = 0; s < vx_n_service_descriptors; s++) {
		if (vx_service_descriptors[s] != svc)
			continue;
		if (method >= svc->n_methods)
			return;
		first = g.call_first[s] + method * CALL_CELLS;
		vx_gw_metrics_add(
		    first + ((unsigned)code < N_CODE ? (unsigned)code
		                                     : VEXIL__V1__CODE__UNKNOWN),
		    1);
		vx_gw_metrics_observe(first + N_CODE, ns);
		return;
	}
}

/* The observations of the histogram at first. */
static uint64_t
hist_count(size_t first)
{
	uint64_t n = 0;

	for (size_t k = 0; k <= VX_GW_METRICS_BUCKETS; k++)
		n += vx_gw_metrics_read(first + k);
	return n;
}

static void
render_http(vx_gw_mbuf *b)
{
	char labels[512];

	vx_gw_metrics_head(b, "vexil_http_requests_total", "counter",
	    "HTTP requests answered, by dialect, route pattern (\"\" for none) and "
	    "status");
	for (size_t i = 0; i < g.n_dialects; i++) {
		const vx_gw_dialect *d = g.dialects[i];
		for (size_t r = 0; r <= d->n_routes; r++) {
			size_t first = g.http_first[i] + r * HTTP_CELLS;
			for (size_t s = 0; s < N_STATUS; s++) {
				uint64_t v = vx_gw_metrics_read(first + s);
				if (v == 0)
					continue;
				vx_gw_mbuf_printf(b,
				    "vexil_http_requests_total{dialect=\"%s\",route=\"",
				    d->name);
				vx_gw_metrics_label(
				    b, r < d->n_routes ? d->routes[r].pattern : "");
				if (s < N_STATUS - 1)
					vx_gw_mbuf_printf(b, "\",status=\"%d\"} %llu\n",
					    statuses[s], (unsigned long long)v);
				else
					vx_gw_mbuf_printf(b,
					    "\",status=\"other\"} %llu\n",
					    (unsigned long long)v);
			}
		}
	}
	vx_gw_metrics_head(b, "vexil_http_request_duration_seconds", "histogram",
	    "From a request head's first byte to its answer, by dialect and route");
	for (size_t i = 0; i < g.n_dialects; i++) {
		const vx_gw_dialect *d = g.dialects[i];
		for (size_t r = 0; r <= d->n_routes; r++) {
			size_t first = g.http_first[i] + r * HTTP_CELLS + N_STATUS;
			if (hist_count(first) == 0)
				continue;
			/* Patterns are ours: letters, '/', '{', '}', '_', '-', '.'. */
			snprintf(labels, sizeof(labels), "dialect=\"%s\",route=\"%s\"",
			    d->name, r < d->n_routes ? d->routes[r].pattern : "");
			(void)vx_gw_metrics_write_hist(
			    b, "vexil_http_request_duration_seconds", labels, first);
		}
	}
}

static void
render_calls(vx_gw_mbuf *b)
{
	char labels[256];

	vx_gw_metrics_head(b, "vexil_core_calls_total", "counter",
	    "Calls from this gateway to vexild, by method and status code");
	for (size_t s = 0; s < vx_n_service_descriptors; s++)
		for (unsigned m = 0; m < vx_service_descriptors[s]->n_methods; m++) {
			size_t first = g.call_first[s] + m * CALL_CELLS;
			for (unsigned c = 0; c < N_CODE; c++) {
				uint64_t v = vx_gw_metrics_read(first + c);
				if (v > 0)
					vx_gw_mbuf_printf(b,
					    "vexil_core_calls_total{method=\"%s/"
					    "%s\",code=\"%s\"} "
					    "%llu\n",
					    vx_service_descriptors[s]->name,
					    vx_service_descriptors[s]->methods[m].name,
					    vx_code_name((Vexil__V1__Code)c),
					    (unsigned long long)v);
			}
		}
	vx_gw_metrics_head(b, "vexil_core_call_duration_seconds", "histogram",
	    "Round trip of a call to vexild, by method");
	for (size_t s = 0; s < vx_n_service_descriptors; s++)
		for (unsigned m = 0; m < vx_service_descriptors[s]->n_methods; m++) {
			size_t first = g.call_first[s] + m * CALL_CELLS + N_CODE;
			if (hist_count(first) == 0)
				continue;
			snprintf(labels, sizeof(labels), "method=\"%s/%s\"",
			    vx_service_descriptors[s]->name,
			    vx_service_descriptors[s]->methods[m].name);
			(void)vx_gw_metrics_write_hist(
			    b, "vexil_core_call_duration_seconds", labels, first);
		}
}

static void
render_own(vx_gw_mbuf *b, void *arg)
{
	(void)arg;
	render_http(b);
	vx_gw_metrics_head(b, "vexil_evaluations_total", "counter",
	    "Flag evaluations this gateway answered (at the edge or through vexild), by "
	    "reason");
	for (size_t i = 0; i < N_REASON; i++)
		vx_gw_mbuf_printf(b, "vexil_evaluations_total{reason=\"%s\"} %llu\n",
		    reasons[i], (unsigned long long)vx_gw_metrics_read(g.eval_first + i));
	render_calls(b);
}

int
vx_gw_metrics_init(const vx_gw_dialect *const *dialects, size_t n)
{
	int rc;

	if (g.ready)
		return 0;
	if (n > MAX_DIALECTS || vx_n_service_descriptors > MAX_SERVICES)
		return VX_EFULL;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		status_slot[statuses[i]] = (uint8_t)(i + 1);
	for (size_t i = 0; i < n; i++) {
		g.dialects[i] = dialects[i];
		if ((rc = vx_gw_metrics_reserve((dialects[i]->n_routes + 1) * HTTP_CELLS,
		         &g.http_first[i])) != 0)
			return rc;
	}
	g.n_dialects = n;
	if ((rc = vx_gw_metrics_reserve(N_REASON, &g.eval_first)) != 0)
		return rc;
	for (size_t s = 0; s < vx_n_service_descriptors; s++)
		if ((rc = vx_gw_metrics_reserve(
		         vx_service_descriptors[s]->n_methods * CALL_CELLS,
		         &g.call_first[s])) != 0)
			return rc;
	if ((rc = vx_gw_metrics_register(render_own, NULL)) != 0)
		return rc;
	g.ready = true;
	return 0;
}

int
vx_gw_metrics_render(vx_gw_metrics_render_fn extra, void *arg, char **out, size_t *len)
{
	vx_gw_mbuf b = {0};
	size_t n = atomic_load(&n_renderers);

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n && i < MAX_RENDERERS; i++)
		renderers[i].fn(&b, renderers[i].arg);
	if (extra)
		extra(&b, arg);
	if (b.oom || b.data == NULL) {
		free(b.data);
		return VX_ENOMEM;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}
