/*
 * Vexil — OpsService: vexild's own figures for monitoring (ops.proto).
 *
 * GetStats reads the store's figures in the caller's read transaction
 * (store.h vx_store_stats_get), the server's queues and connections, the
 * evaluation-record queue's drops and the engine's regex budget count. It
 * needs a global admin API key, as backups do: what it shows is about
 * every project. The gateway's GET /metrics calls it with --metrics-key.
 */
#include "server/server.h"

#include "eval/eval.h"

static void
get_stats(Vexil__V1__OpsService_Service *svc, const Vexil__V1__GetStatsRequest *in,
    Vexil__V1__CoreStats_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__CoreStats *out = NULL;
	vx_store_stats ss;
	vx_server_figures sf;
	int rc;

	(void)svc;
	(void)in;
	if ((rc = vx_auth_check(&c->who, 0, 0, VEXIL__V1__ROLE__ROLE_ADMIN)) != 0 ||
	    c->who.kind != VX_PRINCIPAL_APIKEY) {
		rc = vx_fail(c, VX_EPERM, NULL, NULL, "figures need a global admin key");
		goto out;
	}
	if ((rc = vx_store_stats_get(c->reader->txn, c->store, &ss)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vx_server_figures_get(c->srv, &sf);
	vexil__v1__core_stats__init(out);
	out->writes_total = ss.writes_total;
	out->commits_total = ss.commits_total;
	out->projects = ss.projects;
	out->revisions = ss.revisions;
	out->change_log_entries = ss.change_log_entries;
	out->audit_entries = ss.audit_entries;
	out->audit_trimmed_total = ss.audit_trimmed_total;
	out->map_size_bytes = ss.map_size_bytes;
	out->map_max_bytes = ss.map_max_bytes;
	out->pages_used = ss.pages_used;
	out->page_size_bytes = ss.page_size_bytes;
	out->data_file_bytes = ss.data_file_bytes;
	out->readers = ss.readers;
	out->max_readers = ss.max_readers;
	out->eval_records_dropped_total = vx_evalrec_dropped(c->records);
	out->hash_queue_depth = sf.hash_queue_depth;
	out->hash_queue_capacity = sf.hash_queue_capacity;
	out->hash_refused_total = sf.hash_refused_total;
	out->subscribers = sf.subscribers;
	out->rpc_connections = sf.rpc_connections;
	out->regex_budget_exhausted_total = vx_eval_match_budget_exhausted();
	out->uptime_seconds = sf.uptime_seconds;
	if ((out->storage_why = vx_arena_alloc(c->arena, 256)) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	out->storage_state =
	    (char *)vx_store_state_name(vx_server_storage(c->srv, out->storage_why, 256));
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__OpsService_Service vx_ops_service = VEXIL__V1__OPS_SERVICE__INIT();
