/*
 * Vexil gateway — operating the gateway: GET /metrics and GET /readyz.
 *
 * /metrics answers in Prometheus's text format (0.0.4): everything the
 * registry holds (metrics.h: HTTP requests, evaluations, event streams,
 * core calls), the edge's counters (edge.h, vx_gw_edge_counters_get) and,
 * when the gateway has a --metrics-key, vexild's own
 * figures from OpsService/GetStats, one core call per scrape. With
 * --metrics-token a scrape must send "Authorization: Bearer <token>".
 *
 * /readyz says whether this gateway can serve: 200 when vexild answers a
 * call (any answer from vexild will do, a refusal of the credential
 * included, so no key is needed), 503 with the reason when it cannot be
 * reached or does not answer in time. With --metrics-key vexild also says
 * how its storage is: when it refuses writes (a full disk, a read-only or
 * removed data dir, a failed commit) the answer is still 200, reads being
 * served, with "degraded: <state>: <why>". /health (flag-service) stays the
 * gateway's own liveness, as its document defines it.
 *
 * Both are extensions of ours, documented in docs/openapi.json under the
 * tag "meta". Errors are plain text, as the docs pages write them.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/eval.h"
#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"

/* A readiness check waits at most this for vexild (or --rpc-timeout). */
#define READY_TIMEOUT_MS 2000
#define TEXT_FORMAT "text/plain; version=0.0.4; charset=utf-8"

static const char *metrics_token;
static char *metrics_credential;

int
vx_gw_ops_configure(const char *token, const char *core_key)
{
	if (token != NULL && *token != '\0' && !vx_gw_token_ok(token))
		return VX_EINVAL;
	metrics_token = token && *token ? token : NULL;
	free(metrics_credential);
	metrics_credential = NULL;
	if (core_key != NULL && *core_key != '\0') {
		size_t n = strlen(core_key) + 8;
		if ((metrics_credential = malloc(n)) == NULL)
			return VX_ENOMEM;
		/* A bare key is an API key, as libvexil takes it. */
		snprintf(metrics_credential, n, "%s%s",
		    strchr(core_key, ' ') ? "" : "ApiKey ", core_key);
	}
	return 0;
}

static void
ops_error(vx_gw_req *r, int status, const char *field, const char *message)
{
	vx_gw_docs_dialect.error(r, status, field, message);
}

/* ---- vexild's figures ---- */

struct core {
	const Vexil__V1__CoreStats *s; /* NULL: not fetched */
	vx_gw_edge_counters edge;      /* this gateway's edge (edge.h) */
};

static void
figure(vx_gw_mbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	vx_gw_metrics_head(b, name, type, help);
	vx_gw_mbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void
render_core(vx_gw_mbuf *b, void *arg)
{
	const struct core *c = arg;
	const Vexil__V1__CoreStats *s = c->s;

	figure(b, "vexil_gateway_regex_budget_exhausted_total", "counter",
	    "Regex matches in this gateway's evaluations that ran out of their budget",
	    vx_eval_match_budget_exhausted());
	figure(b, "vexil_edge_evaluations_total", "counter",
	    "Evaluations the edge answered from a live snapshot", c->edge.evaluations);
	figure(b, "vexil_edge_behind_total", "counter",
	    "Evaluations sent to vexild while a snapshot caught up", c->edge.behind);
	figure(b, "vexil_edge_key_lookups_total", "counter",
	    "Credentials the edge asked vexild about (Admit)", c->edge.key_lookups);
	figure(b, "vexil_edge_admitted_total", "counter",
	    "Requests the edge admitted from its credential cache", c->edge.admitted);
	figure(b, "vexil_edge_leases_total", "counter",
	    "Rate-limit token leases asked of vexild (LeaseTokens)", c->edge.leases);
	figure(b, "vexil_edge_records_dropped_total", "counter",
	    "Evaluations the edge answered that vexild never recorded",
	    c->edge.records_dropped);
	figure(b, "vexil_edge_snapshots", "gauge", "Live snapshots the edge holds",
	    c->edge.snapshots);
	figure(b, "vexil_edge_snapshots_stale", "gauge",
	    "Snapshots kept while vexild is out of reach", c->edge.stale);
	vx_gw_metrics_head(b, "vexil_core_up", "gauge",
	    "1 when this scrape read vexild's figures (needs --metrics-key)");
	vx_gw_mbuf_printf(b, "vexil_core_up %d\n", s != NULL);
	if (s == NULL)
		return;
	figure(b, "vexil_core_writes_total", "counter", "Writes vexild committed",
	    s->writes_total);
	figure(b, "vexil_core_commits_total", "counter",
	    "LMDB transactions (fsyncs) those writes took (group commit)",
	    s->commits_total);
	figure(b, "vexil_core_projects", "gauge", "Projects", s->projects);
	figure(b, "vexil_core_revisions", "gauge", "The sum of every project's revision",
	    s->revisions);
	figure(b, "vexil_core_change_log_entries", "gauge",
	    "Change log entries, every project (--change-log-keep each)",
	    s->change_log_entries);
	figure(b, "vexil_core_audit_entries", "gauge",
	    "Audit log entries, every project (--audit-keep each)", s->audit_entries);
	figure(b, "vexil_core_audit_trimmed_total", "counter",
	    "Audit entries dropped by --audit-keep", s->audit_trimmed_total);
	figure(b, "vexil_core_lmdb_map_size_bytes", "gauge", "The LMDB map's size",
	    s->map_size_bytes);
	figure(b, "vexil_core_lmdb_map_max_bytes", "gauge",
	    "The LMDB map's cap (--map-max)", s->map_max_bytes);
	figure(
	    b, "vexil_core_lmdb_pages_used", "gauge", "LMDB pages in use", s->pages_used);
	figure(b, "vexil_core_lmdb_page_size_bytes", "gauge", "LMDB's page size",
	    s->page_size_bytes);
	figure(b, "vexil_core_lmdb_data_file_bytes", "gauge", "data.mdb's size on disk",
	    s->data_file_bytes);
	figure(b, "vexil_core_lmdb_readers", "gauge",
	    "LMDB reader slots taken (mdb_env_info: the most used at once)", s->readers);
	figure(b, "vexil_core_lmdb_max_readers", "gauge", "LMDB reader slots",
	    s->max_readers);
	figure(b, "vexil_core_eval_records_dropped_total", "counter",
	    "Evaluation records vexild dropped because its buffer was full",
	    s->eval_records_dropped_total);
	figure(b, "vexil_core_hash_queue_depth", "gauge",
	    "Sign-ups and logins waiting for an Argon2 hash", s->hash_queue_depth);
	figure(b, "vexil_core_hash_queue_capacity", "gauge", "vexild's --hash-queue",
	    s->hash_queue_capacity);
	figure(b, "vexil_core_hash_refused_total", "counter",
	    "Sign-ups and logins refused because the hash queue was full",
	    s->hash_refused_total);
	figure(b, "vexil_core_subscribers", "gauge", "Connections on vexild's PUB socket",
	    s->subscribers);
	figure(b, "vexil_core_rpc_connections", "gauge",
	    "Connections on vexild's RPC socket", s->rpc_connections);
	figure(b, "vexil_core_regex_budget_exhausted_total", "counter",
	    "Regex matches in vexild's evaluations that ran out of their budget",
	    s->regex_budget_exhausted_total);
	figure(b, "vexil_core_uptime_seconds", "gauge", "Seconds since vexild started",
	    s->uptime_seconds);
	vx_gw_metrics_head(b, "vexil_core_storage_ok", "gauge",
	    "1 when vexild's writes can commit; else 0, with the state as a label "
	    "(disk_full, read_only, gone, failed)");
	vx_gw_mbuf_printf(b, "vexil_core_storage_ok{state=\"");
	vx_gw_metrics_label(b, s->storage_state);
	vx_gw_mbuf_printf(b, "\"} %d\n", strcmp(s->storage_state, "ok") == 0);
}

/* ---- handlers ---- */

/* The scrape's bearer token matches --metrics-token (constant time). */
static bool
token_matches(vx_gw_req *r)
{
	const char *h = vx_gw_header(r, "Authorization");
	size_t n = strlen(metrics_token);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	return strlen(h) == n && sodium_memcmp(h, metrics_token, n) == 0;
}

static void
metrics(vx_gw_req *r)
{
	Vexil__V1__GetStatsRequest in = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CoreStats *stats;
	struct core c = {0};
	vx_status st;
	char *text;
	size_t len;

	if (metrics_token != NULL && !token_matches(r)) {
		(void)vx_gw_set_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
		vx_gw_fail(r, 401, NULL,
		    "/metrics needs Authorization: Bearer <--metrics-token>");
		return;
	}
	if (metrics_credential != NULL) {
		r->credential = metrics_credential;
		if (vx_get_stats_as(vx_gw_client(r), VX_GW_OPTS(r), &in, &stats, &st) ==
		    0)
			c.s = stats;
		else
			vx_log(VX_LOG_WARN, "metrics: vexild's figures: %s: %s",
			    vx_code_name(st.code), st.message);
	}
	vx_gw_edge_counters_get(r->rpc->edge, &c.edge);
	if (vx_gw_metrics_render(render_core, &c, &text, &len) != 0) {
		vx_gw_fail(r, 500, NULL, "out of memory");
		return;
	}
	vx_gw_reply(r, 200, TEXT_FORMAT, text, len);
	free(text);
}

static void
readyz(vx_gw_req *r)
{
	Vexil__V1__GetStatsRequest in = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CoreStats *stats;
	vx_call_opts o = *VX_GW_OPTS(r);
	vx_status st;

	/* With no key vexild answers UNAUTHENTICATED: an answer all the same. */
	o.credential = metrics_credential;
	if (o.timeout_ms > READY_TIMEOUT_MS)
		o.timeout_ms = READY_TIMEOUT_MS;
	if (vx_get_stats_as(vx_gw_client(r), &o, &in, &stats, &st) != 0) {
		if (st.code == VEXIL__V1__CODE__UNAVAILABLE ||
		    st.code == VEXIL__V1__CODE__DEADLINE_EXCEEDED) {
			vx_gw_fail(r, 503, NULL, "not ready: %s", st.message);
			return;
		}
	} else if (strcmp(stats->storage_state, "ok") != 0) {
		/* Reads are still served, so still ready; say why writes are not
		 * (with --metrics-key, which lets vexild tell). */
		char *text = vx_arena_printf(r->arena, "degraded: %s: %s\n",
		    stats->storage_state, stats->storage_why);
		if (text != NULL) {
			vx_gw_reply(r, 200, "text/plain; charset=utf-8", text, strlen(text));
			return;
		}
	}
	vx_gw_reply(r, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

static const vx_gw_route routes[] = {
    {"GET", "/metrics", metrics},
    {"GET", "/readyz", readyz},
};

static const char *const prefixes[] = {"/metrics", "/readyz", NULL};

const vx_gw_dialect vx_gw_ops_dialect = {
    .name = "ops",
    .prefixes = prefixes,
    .error = ops_error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
};
