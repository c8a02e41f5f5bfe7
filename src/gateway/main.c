/*
 * Vexil gateway — vexil-gateway, the REST front of vexild.
 *
 * Parses the command line, opens the core connection (rpc.h), starts the
 * change stream's hub (sse.h) and the HTTP server (server.h) with every
 * dialect (dialects.h), and waits for SIGINT or SIGTERM. As in vexild, the stop signals
 * are blocked in every thread before any starts and taken here with sigwait(), so
 * shutdown is ordinary code: new requests get 503, requests in flight finish and are
 * answered, then everything closes and we exit 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/envopts.h"
#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"
#include "gateway/server.h"
#include "gateway/sse.h"

/* Where an install keeps the docs assets, relative to the directory of
 * this binary ("../share/vexil/assets"; the CMakeLists computes it). */
#ifndef VX_INSTALL_ASSETS_REL
#define VX_INSTALL_ASSETS_REL "../share/vexil/assets"
#endif

/* vexild down this long: core calls answer 503 at once (wire.h). It is
 * over nng's reconnect backoff (1 s), so a restart is waited for. */
#define UNREACHABLE_MS 2000

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: vexil-gateway [options]\n"
	    "  --listen URL        where to serve HTTP (default http://127.0.0.1:8080);\n"
	    "                      https://HOST:PORT needs --tls-cert and --tls-key\n"
	    "  --tls-cert FILE     PEM certificate (chain) for https://\n"
	    "  --tls-key FILE      PEM private key for https://\n"
	    "  --rpc URL           vexild's RPC socket (default tcp://127.0.0.1:7311)\n"
	    "  --rpc-tls-ca FILE   CA of vexild's certificate for tls+tcp:// --rpc and\n"
	    "                      --sub (default $VEXIL_TLS_CA)\n"
	    "  --sub URL           vexild's change notices, for GET /ofrep/v1/events\n"
	    "                      (default tcp://127.0.0.1:7312)\n"
	    "  --workers N         threads calling vexild (default 16)\n"
	    "  --queue N           requests waiting for a worker before new ones get "
	    "503\n"
	    "                      (default 512)\n"
	    "  --max-msg BYTES     vexild's --max-msg (default 1048576): the largest\n"
	    "                      request the core takes\n"
	    "  --max-body BYTES    larger request bodies get 413 (default: what fits in\n"
	    "                      --max-msg with the request around it)\n"
	    "  --rpc-timeout MS    per call to vexild (default 10000)\n"
	    "  --max-url BYTES     longer request targets get 414 (default 8192)\n"
	    "  --max-headers N     more request headers get 431 (default 100)\n"
	    "  --max-header-bytes BYTES\n"
	    "                      a larger request head gets 431 (default 16384)\n"
	    "  --header-timeout S  a request head not complete this long after its "
	    "first\n"
	    "                      byte gets 408 and the connection closes (default 10)\n"
	    "  --body-timeout S    the same for a request body (default 30)\n"
	    "  --idle-timeout S    an idle keep-alive connection is closed (default 60)\n"
	    "  --max-conns N       open connections; a new one past it gets 503 and is\n"
	    "                      closed (default 1024)\n"
	    "  --sse-heartbeat S   keep-alive comment on event streams (default 15)\n"
	    "  --max-streams N     open event streams; past it 503 (default 1000)\n"
	    "  --assets DIR        node_modules holding swagger-ui-dist and redoc, "
	    "served\n"
	    "                      at /docs and /redoc (default %s)\n"
	    "  --edge-max-snapshots N\n"
	    "                      answer evaluations from up to N live snapshots, the\n"
	    "                      least recently used evicted (default 256; 0: every\n"
	    "                      evaluation asks vexild; docs/gateway.md)\n"
	    "  --edge-idle S       drop a snapshot unused this long (default 300)\n"
	    "  --edge-key-ttl S    ask vexild about a cached SDK or API key again after\n"
	    "                      this (change notices drop it sooner; default 5)\n"
	    "  --metrics-token T   GET /metrics needs Authorization: Bearer T (default:\n"
	    "                      open, like /health)\n"
	    "  --metrics-key KEY   a global admin API key: /metrics then adds vexild's\n"
	    "                      own figures (OpsService/GetStats)\n"
	    "  --quiet             no access-log line per request\n"
	    "  --log-level L       error, warn, info (default) or debug\n"
	    "  --log-format F      text (default) or json, one object a line\n"
	    "  --version           print the version and exit\n"
	    "  --help              this text\n"
	    "\n"
	    "Every option can also come from the environment as VEXIL_ and its name\n"
	    "upper-cased with - as _: VEXIL_LISTEN, VEXIL_RPC, VEXIL_SUB,\n"
	    "VEXIL_RPC_TIMEOUT, VEXIL_QUIET=1, VEXIL_LOG_FORMAT=json, ... The command\n"
	    "line wins.\n",
	    vx_gw_docs_assets());
}

/*
 * The default of --assets: the install's share/vexil/assets beside this
 * binary's bin/ when it is there, so an installed gateway serves /docs and
 * /redoc wherever its prefix is (a package, a temp prefix, a moved tree);
 * otherwise the compiled-in default stays (web/node_modules of the source
 * tree, for a gateway run from its build folder).
 */
static void
find_installed_assets(void)
{
	static char dir[4096];
	char exe[4096];
	struct stat st;
	char *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return;
	*slash = '\0';
	n = snprintf(dir, sizeof(dir), "%s/%s", exe, VX_INSTALL_ASSETS_REL);
	if (n > 0 && (size_t)n < sizeof(dir) && stat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode))
		vx_gw_docs_set_assets(dir);
}

/* The options that can come from the environment (see common/envopts.h). */
static const char env_options[] =
    "listen= tls-cert= tls-key= rpc= rpc-tls-ca= sub= workers= queue= max-msg= max-body= "
    "rpc-timeout= max-url= max-headers= max-header-bytes= header-timeout= "
    "body-timeout= idle-timeout= max-conns= sse-heartbeat= max-streams= assets= "
    "edge-max-snapshots= edge-idle= edge-key-ttl= metrics-token= metrics-key= quiet "
    "log-level= log-format=";

static int
parse_num(const char *opt, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	if (v == NULL || vx_parse_u64(v, out) != 0 || *out < min || *out > max) {
		fprintf(stderr, "vexil-gateway: %s needs a number from %llu to %llu\n", opt,
		    (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

/* A duration in whole seconds, 1 s to a day, kept in milliseconds. */
static int
parse_secs(const char *opt, const char *v, int *ms)
{
	uint64_t n;

	if (parse_num(opt, v, 1, 86400, &n) != 0)
		return -1;
	*ms = (int)n * 1000;
	return 0;
}

/* vx_client_opts.on_commit of the core connection: rpc.edge is set before
 * the server starts, so before any call. */
static void
on_commit(void *arg, uint64_t project_id, uint64_t revision)
{
	vx_gw_edge_heard(((vx_gw_rpc *)arg)->edge, project_id, revision);
}

int
main(int argc, char **argv)
{
	vx_gw_opts o = {
	    .listen_url = "http://127.0.0.1:8080",
	    .dialects = vx_gw_dialects,
	    .n_dialects = vx_gw_n_dialects,
	    .workers = 16,
	    .queue = 512,
	    .max_url = 8192,
	    .max_headers = 100,
	    .max_header_bytes = 16384,
	    .header_timeout_ms = 10000,
	    .body_timeout_ms = 30000,
	    .idle_timeout_ms = 60000,
	    .max_conns = 1024,
	};
	const char *rpc_url = "tcp://127.0.0.1:7311";
	const char *metrics_token = NULL, *metrics_key = NULL;
	vx_gw_sse_opts so = {
	    .sub_url = "tcp://127.0.0.1:7312",
	    .heartbeat_ms = 15000,
	    .max_streams = 1000,
	};
	vx_gw_rpc rpc = {.timeout_ms = 10000};
	vx_gw_edge_opts eo = {
	    .max_snapshots = 256, .idle_ms = 300000, .key_ttl_ms = 5000};
	vx_gw_server *srv;
	int rc;
	sigset_t set;
	uint64_t n;
	int sig;

	find_installed_assets();
	if (vx_envopts_argv(env_options, argc, argv, &argc, &argv) != 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("vexil-gateway %s\n", VX_VERSION);
			return 0;
		} else if (strcmp(a, "--quiet") == 0) {
			o.quiet = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "vexil-gateway: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--listen") == 0) {
			o.listen_url = v;
		} else if (strcmp(a, "--tls-cert") == 0) {
			o.tls_cert = v;
		} else if (strcmp(a, "--tls-key") == 0) {
			o.tls_key = v;
		} else if (strcmp(a, "--rpc") == 0) {
			rpc_url = v;
		} else if (strcmp(a, "--rpc-tls-ca") == 0) {
			/* libvexil reads it for every tls+tcp:// connection. */
			setenv("VEXIL_TLS_CA", v, 1);
		} else if (strcmp(a, "--metrics-token") == 0) {
			metrics_token = v;
		} else if (strcmp(a, "--metrics-key") == 0) {
			metrics_key = v;
		} else if (strcmp(a, "--assets") == 0) {
			vx_gw_docs_set_assets(v);
		} else if (strcmp(a, "--sub") == 0) {
			so.sub_url = v;
		} else if (strcmp(a, "--workers") == 0) {
			if (parse_num(a, v, 1, 1024, &n) != 0)
				return 2;
			o.workers = (int)n;
		} else if (strcmp(a, "--queue") == 0) {
			if (parse_num(a, v, 1, 1 << 20, &n) != 0)
				return 2;
			o.queue = (size_t)n;
		} else if (strcmp(a, "--max-msg") == 0) {
			if (parse_num(a, v, 1024, (uint64_t)1 << 30, &n) != 0)
				return 2;
			o.max_msg = (size_t)n;
		} else if (strcmp(a, "--max-body") == 0) {
			/* Bodies are held whole in memory, one per admitted request. */
			if (parse_num(a, v, 1, (uint64_t)1 << 30, &n) != 0)
				return 2;
			o.max_body = (size_t)n;
		} else if (strcmp(a, "--rpc-timeout") == 0) {
			if (parse_num(a, v, 1, 3600000, &n) != 0)
				return 2;
			rpc.timeout_ms = (int)n;
		} else if (strcmp(a, "--max-url") == 0) {
			if (parse_num(a, v, 16, 1 << 20, &n) != 0)
				return 2;
			o.max_url = (size_t)n;
		} else if (strcmp(a, "--max-headers") == 0) {
			if (parse_num(a, v, 1, 10000, &n) != 0)
				return 2;
			o.max_headers = (size_t)n;
		} else if (strcmp(a, "--max-header-bytes") == 0) {
			if (parse_num(a, v, 256, 1 << 20, &n) != 0)
				return 2;
			o.max_header_bytes = (size_t)n;
		} else if (strcmp(a, "--header-timeout") == 0) {
			if (parse_secs(a, v, &o.header_timeout_ms) != 0)
				return 2;
		} else if (strcmp(a, "--body-timeout") == 0) {
			if (parse_secs(a, v, &o.body_timeout_ms) != 0)
				return 2;
		} else if (strcmp(a, "--idle-timeout") == 0) {
			if (parse_secs(a, v, &o.idle_timeout_ms) != 0)
				return 2;
		} else if (strcmp(a, "--sse-heartbeat") == 0) {
			if (parse_secs(a, v, &so.heartbeat_ms) != 0)
				return 2;
		} else if (strcmp(a, "--max-conns") == 0) {
			if (parse_num(a, v, 1, 1 << 20, &n) != 0)
				return 2;
			o.max_conns = (size_t)n;
		} else if (strcmp(a, "--edge-max-snapshots") == 0) {
			if (parse_num(a, v, 0, 1 << 16, &n) != 0)
				return 2;
			eo.max_snapshots = (size_t)n;
		} else if (strcmp(a, "--edge-key-ttl") == 0) {
			if (parse_secs(a, v, &eo.key_ttl_ms) != 0)
				return 2;
		} else if (strcmp(a, "--edge-idle") == 0) {
			if (parse_secs(a, v, &eo.idle_ms) != 0)
				return 2;
		} else if (strcmp(a, "--max-streams") == 0) {
			if (parse_num(a, v, 1, 1 << 20, &n) != 0)
				return 2;
			so.max_streams = (size_t)n;
		} else if ((rc = vx_log_option("vexil-gateway", a, v)) != 1) {
			if (rc != 0)
				return 2;
		} else {
			fprintf(stderr, "vexil-gateway: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}

	if ((rc = vx_gw_ops_configure(metrics_token, metrics_key)) != 0) {
		fprintf(stderr, "vexil-gateway: %s\n",
		    rc == VX_EINVAL ? "--metrics-token must be printable ASCII without "
		                      "spaces, up to 4096 characters"
		                    : vx_strerror(rc));
		return 2;
	}
	if (vx_gw_metrics_init(vx_gw_dialects, vx_gw_n_dialects) != 0) {
		fprintf(stderr, "vexil-gateway: too many routes for the metrics table\n");
		return 1;
	}

	/* Block the stop signals everywhere before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* No credential of its own: every call carries its caller's. */
	/* Calls fail fast (503 naming vexild) while no connection is up. */
	/* A write's reply tells the edge that its project moved on, before
	 * the notice does: the gateway reads its own writes. */
	if ((rc = vx_client_open(&rpc.client, rpc_url,
	         &(vx_client_opts){.unreachable_ms = UNREACHABLE_MS,
	             .on_call = vx_gw_metrics_core_call,
	             .on_commit = on_commit,
	             .on_commit_arg = &rpc})) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: bad --rpc URL %s: %s", rpc_url, vx_strerror(rc));
		return 1;
	}
	eo.rpc_url = rpc_url;
	eo.sub_url = so.sub_url;
	eo.timeout_ms = rpc.timeout_ms;
	if (eo.max_snapshots > 0 && vx_gw_edge_start(&rpc.edge, &eo) != 0)
		goto fail_client;
	o.rpc = &rpc;
	so.rpc = &rpc;
	if (vx_gw_sse_start(&so) != 0)
		goto fail_edge;
	if (vx_gw_server_start(&srv, &o) != 0)
		goto fail_sse;
	vx_log(VX_LOG_INFO, "vexil-gateway: vexild at %s", rpc_url);
	sigwait(&set, &sig);
	vx_log(VX_LOG_INFO, "vexil-gateway: %s received, finishing in-flight requests",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* The server first: once its connections are closed, no stream is
	 * left for the hub, which then closes; the edge's watches and the core
	 * connection last. */
	vx_gw_server_stop(srv);
	vx_gw_sse_stop();
	vx_gw_edge_stop(rpc.edge);
	vx_client_close(rpc.client);
	vx_log(VX_LOG_INFO, "vexil-gateway: stopped cleanly");
	return 0;
fail_sse:
	vx_gw_sse_stop();
fail_edge:
	vx_gw_edge_stop(rpc.edge);
fail_client:
	vx_client_close(rpc.client);
	vx_log(VX_LOG_ERROR, "vexil-gateway: startup failed");
	return 1;
}
