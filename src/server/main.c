/*
 * Vexil — vexild, the core process.
 *
 * Parses the command line, starts the server and waits for SIGINT or
 * SIGTERM. Signals are blocked in every thread and taken here with
 * sigwait(), so shutdown runs in ordinary code: in-flight requests finish
 * and are answered, then the sockets and the store close, and we exit 0.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/envopts.h"
#include "server/server.h"
#include "store/check.h"
#include "wire/wire.h"

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: vexild [options]\n"
	    "  --data DIR        data directory (default ./var)\n"
	    "  --rpc URL         REP socket for RPCs (default tcp://127.0.0.1:7311)\n"
	    "  --pub URL         PUB socket for change notices (default "
	    "tcp://127.0.0.1:7312)\n"
	    "  --workers N       REP contexts receiving requests (default 64)\n"
	    "  --max-msg BYTES   largest accepted message (default 1048576)\n"
	    "  --max-conns N     connections per socket, RPC and PUB (default 1024)\n"
	    "  --rate-limit N    requests per minute per API key through gateways\n"
	    "                    (AuthService/Admit; default 100, 0: unlimited)\n"
	    "  --map-size BYTES  initial LMDB map size (default 67108864)\n"
	    "  --map-max BYTES   cap on LMDB map growth (default 17179869184)\n"
	    "  --no-sync         do not fsync commits (faster; a crash may lose\n"
	    "                    the last acknowledged writes)\n"
	    "  --hash-workers N  concurrent Argon2 password hashes, 64 MiB each\n"
	    "                    (default 2)\n"
	    "  --hash-queue N    sign-ups and logins waiting for a hash; more are\n"
	    "                    refused RESOURCE_EXHAUSTED (default 64)\n"
	    "  --eval-buffer N   128-byte slots of queued evaluation records (1-4 each)\n"
	    "                    (default 16384)\n"
	    "  --eval-log-keep N recent evaluations kept per project (default 1000)\n"
	    "  --change-log-keep N  change log entries kept per project (default "
	    "100000)\n"
	    "  --audit-keep N    audit entries kept per project, the oldest dropped a\n"
	    "                    few per write (default: all)\n"
	    "  --tls-cert FILE   PEM certificate (chain) for tls+tcp:// URLs\n"
	    "  --tls-key FILE    PEM private key for tls+tcp:// URLs\n"
	    "  --quiet           no log line per request\n"
	    "  --log-level L     error, warn, info (default) or debug\n"
	    "  --log-format F    text (default) or json, one object a line\n"
	    "  --check           verify the database in --data and exit: 0 when\n"
	    "                    clean, 1 when a problem was found (each is printed)\n"
	    "  --version         print the version and exit\n"
	    "  --help            this text\n"
	    "\n"
	    "Every option can also come from the environment as VEXIL_ and its name\n"
	    "upper-cased with - as _: VEXIL_DATA, VEXIL_RPC, VEXIL_PUB, "
	    "VEXIL_MAX_CONNS,\n"
	    "VEXIL_NO_SYNC=1, VEXIL_LOG_FORMAT=json, ... The command line wins.\n");
}

/* The options that can come from the environment (see common/envopts.h). */
static const char env_options[] =
    "data= rpc= pub= workers= max-msg= max-conns= rate-limit= map-size= map-max= "
    "no-sync hash-workers= hash-queue= eval-buffer= eval-log-keep= change-log-keep= "
    "audit-keep= "
    "tls-cert= tls-key= quiet log-level= log-format=";

/*
 * Keep glibc malloc's mmap threshold where it starts, 128 KiB, instead of
 * letting it rise (to as much as 32 MiB) each time a large block is freed.
 * vexild's large blocks are transient: request arena blocks past the
 * first, packed replies, the messages unpacked to build a flag set. Left
 * to rise, the threshold puts the next ones inside the malloc arena of
 * whichever worker thread asked, and each of them keeps their pages after
 * the request; mapped apart, they go back to the system when freed.
 * bench_mem (bench/mem) measures it: 10,000 flags, EvaluateAll served 20
 * times. Fixing the threshold also fixes the heap trim threshold at its
 * default. An operator's MALLOC_MMAP_THRESHOLD_ wins.
 */
static void
malloc_setup(void)
{
#ifdef __GLIBC__
	if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL)
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

static int
parse_size(const char *opt, const char *v, size_t *out)
{
	uint64_t n;
	if (v == NULL || vx_parse_u64(v, &n) != 0 || n == 0) {
		fprintf(stderr, "vexild: %s needs a positive number of bytes\n", opt);
		return -1;
	}
	*out = (size_t)n;
	return 0;
}

/*
 * Checks --tls-cert and --tls-key before anything starts, with the
 * function the listeners use later (it logs what is wrong).
 */
static int
check_tls_files(const char *cert, const char *key)
{
	nng_tls_config *cfg;

	if (vx_wire_tls_server_config(cert, key, &cfg) != 0)
		return -1;
	nng_tls_config_free(cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	vx_server_opts o = {
	    .data_dir = "./var",
	    .rpc_url = "tcp://127.0.0.1:7311",
	    .pub_url = "tcp://127.0.0.1:7312",
	    .workers = 64,
	    .rate_limit = -1,
	};
	vx_server *srv;
	int rc;
	sigset_t set;
	size_t n;
	int sig;
	bool check = false;

	if (vx_envopts_argv(env_options, argc, argv, &argc, &argv) != 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("vexild %s\n", VX_VERSION);
			return 0;
		} else if (strcmp(a, "--no-sync") == 0) {
			o.no_sync = true;
			continue;
		} else if (strcmp(a, "--quiet") == 0) {
			o.quiet = true;
			continue;
		} else if (strcmp(a, "--check") == 0) {
			check = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "vexild: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--data") == 0) {
			o.data_dir = v;
		} else if (strcmp(a, "--rpc") == 0) {
			o.rpc_url = v;
		} else if (strcmp(a, "--pub") == 0) {
			o.pub_url = v;
		} else if (strcmp(a, "--tls-cert") == 0) {
			o.tls_cert = v;
		} else if (strcmp(a, "--tls-key") == 0) {
			o.tls_key = v;
		} else if (strcmp(a, "--workers") == 0) {
			if (parse_size(a, v, &n) != 0 || n > 1024) {
				fprintf(stderr, "vexild: --workers must be 1..1024\n");
				return 2;
			}
			o.workers = (int)n;
		} else if (strcmp(a, "--max-conns") == 0) {
			if (parse_size(a, v, &n) != 0 || n > 1000000) {
				fprintf(
				    stderr, "vexild: --max-conns must be 1..1000000\n");
				return 2;
			}
			o.max_conns = (int)n;
		} else if (strcmp(a, "--rate-limit") == 0) {
			uint64_t r;
			if (vx_parse_u64(v, &r) != 0 || r > 1000000000) {
				fprintf(stderr,
				    "vexild: --rate-limit must be 0..1000000000\n");
				return 2;
			}
			o.rate_limit = (long)r;
		} else if (strcmp(a, "--max-msg") == 0) {
			if (parse_size(a, v, &o.max_msg) != 0)
				return 2;
		} else if (strcmp(a, "--map-size") == 0) {
			if (parse_size(a, v, &o.map_size) != 0)
				return 2;
		} else if (strcmp(a, "--map-max") == 0) {
			if (parse_size(a, v, &o.map_max) != 0)
				return 2;
		} else if (strcmp(a, "--hash-workers") == 0) {
			if (parse_size(a, v, &n) != 0 || n < 1 || n > 64) {
				fprintf(stderr, "vexild: --hash-workers must be 1..64\n");
				return 2;
			}
			o.hash_workers = (int)n;
		} else if (strcmp(a, "--hash-queue") == 0) {
			if (parse_size(a, v, &o.hash_queue) != 0 || o.hash_queue < 1 ||
			    o.hash_queue > 65536) {
				fprintf(
				    stderr, "vexild: --hash-queue must be 1..65536\n");
				return 2;
			}
		} else if (strcmp(a, "--eval-buffer") == 0) {
			if (parse_size(a, v, &o.eval_buffer) != 0)
				return 2;
		} else if (strcmp(a, "--eval-log-keep") == 0) {
			if (parse_size(a, v, &o.eval_log_keep) != 0)
				return 2;
		} else if (strcmp(a, "--change-log-keep") == 0) {
			if (parse_size(a, v, &o.change_log_keep) != 0)
				return 2;
		} else if (strcmp(a, "--audit-keep") == 0) {
			if (parse_size(a, v, &o.audit_keep) != 0)
				return 2;
		} else if ((rc = vx_log_option("vexild", a, v)) != 1) {
			if (rc != 0)
				return 2;
		} else {
			fprintf(stderr, "vexild: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}

	if (check) {
		/* Read-only: no bootstrap, no sockets; a serving vexild may run. */
		unsigned long problems;
		if (vx_store_check(o.data_dir, stdout, &problems) != 0)
			return 1;
		return problems ? 1 : 0;
	}

	bool tls = vx_wire_is_tls(o.rpc_url) || vx_wire_is_tls(o.pub_url);
	if (tls && (o.tls_cert == NULL || o.tls_key == NULL)) {
		fprintf(stderr,
		    "vexild: a tls+tcp:// --rpc or --pub needs --tls-cert FILE "
		    "and --tls-key FILE\n");
		return 2;
	}
	if (!tls && (o.tls_cert != NULL || o.tls_key != NULL)) {
		fprintf(stderr,
		    "vexild: --tls-cert and --tls-key need a tls+tcp:// --rpc "
		    "or --pub\n");
		return 2;
	}
	if (tls && check_tls_files(o.tls_cert, o.tls_key) != 0)
		return 1;

	malloc_setup();
	/* Block the stop signals everywhere before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (vx_server_start(&srv, &o) != 0) {
		vx_log(VX_LOG_ERROR, "vexild: startup failed");
		return 1;
	}
	sigwait(&set, &sig);
	vx_log(VX_LOG_INFO, "vexild: %s received, finishing in-flight requests",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	vx_server_stop(srv);
	/* A rule author whose pattern backtracks catastrophically should know. */
	vx_log(VX_LOG_INFO, "vexild: %llu regex matches ran out of their budget",
	    (unsigned long long)vx_eval_match_budget_exhausted());
	vx_log(VX_LOG_INFO, "vexild: stopped cleanly");
	return 0;
}
