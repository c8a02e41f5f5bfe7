/*
 * bench_common — what the benchmarks that drive the real vexild share.
 *
 * bench_rpc and bench_push both start the vexild of this build on a fresh
 * temp data dir and free addresses, wait until it answers with the admin
 * key it wrote at bootstrap, and stop it with SIGTERM at the end (killing
 * it if it hangs), also when the run fails. They also share the clock,
 * the signal handling that lets cleanup run after ^C, the nearest-rank
 * percentile and the parsing of list and number options. Messages start
 * with the program name set by bench_init(), so either bench reads as its
 * own.
 *
 * bench_sse also starts the vexil-gateway of this build in front of that
 * vexild (bench_gateway_*), stopped the same way.
 *
 * It lives next to bench_rpc, which it was taken out of; bench_push and
 * bench_sse include it from there.
 */
#ifndef VX_BENCH_COMMON_H
#define VX_BENCH_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vexil.h"

/* Per-call timeout of the admin client once vexild is up. */
#define BENCH_CALL_TIMEOUT_MS 5000

/* The program name in front of every message. */
extern const char *bench_prog;
/* Set by SIGINT/SIGTERM so that loops stop and cleanup still runs. */
extern volatile sig_atomic_t bench_interrupted;

/* Names the program and installs the SIGINT/SIGTERM handlers. */
void bench_init(const char *prog);

uint64_t bench_now_ns(void);
void bench_sleep_ms(int ms);

/*
 * Makes the run's temp dir under /tmp (not $TMPDIR: ipc paths must fit in
 * sun_path). root needs 32 bytes.
 */
int bench_make_root(char *root, size_t cap);
/* Removes path and everything under it; the tree is ours and shallow. */
void bench_remove_tree(const char *path);
/* n (at most 4) distinct free TCP ports on 127.0.0.1. */
int bench_free_ports(int *ports, int n);

enum bench_transport { BENCH_IPC, BENCH_TCP, BENCH_TRANSPORTS };
extern const char *const bench_transport_names[BENCH_TRANSPORTS];

struct bench_vexild {
	pid_t pid;
	char data[256];
	char log[300];
	char rpc[300];
	char pub[300];
	char key[128];
	vx_client *client; /* admin key, BENCH_CALL_TIMEOUT_MS */
};

/*
 * Starts vexild (path) with --quiet and the NULL-terminated extra args on
 * root/vexild-<tag> and ipc sockets or free tcp ports, and returns once an
 * RPC with the admin key succeeds. On failure it says why (with the end
 * of vexild's log) and leaves v for bench_vexild_stop().
 */
int bench_vexild_start(struct bench_vexild *v, const char *path, const char *root,
    const char *tag, enum bench_transport t, const char *const *args);
/* True once vexild has exited; *status is its wait status if reaped here. */
bool bench_vexild_exited(struct bench_vexild *v, int *status);
/* -1, with a message naming `during` and the log's end, when vexild died. */
int bench_vexild_check(struct bench_vexild *v, const char *during);
/*
 * Closes the client, sends SIGTERM and reaps vexild, killing it if it has
 * not stopped in time. Returns 0 when it exited cleanly (status 0) or was
 * never started.
 */
int bench_vexild_stop(struct bench_vexild *v);

/* A vexil-gateway in front of a bench_vexild. */
struct bench_gateway {
	pid_t pid;
	int port;         /* on 127.0.0.1 */
	char listen[64];  /* http://127.0.0.1:<port> */
	char log[300];
};

/*
 * Starts vexil-gateway (path) with --quiet on a free port, its --rpc and
 * --sub on v's sockets, plus the NULL-terminated extra args, and returns
 * once GET /health answers 200. On failure it says why (with the end of
 * the gateway's log) and leaves g for bench_gateway_stop().
 */
int bench_gateway_start(struct bench_gateway *g, const char *path, const char *root,
    const char *tag, const struct bench_vexild *v, const char *const *args);
/* -1, with a message naming `during` and the log's end, when the gateway died. */
int bench_gateway_check(struct bench_gateway *g, const char *during);
/* As bench_vexild_stop(), for the gateway. */
int bench_gateway_stop(struct bench_gateway *g);
/* A blocking TCP connection to 127.0.0.1:port, or -1 (errno set). */
int bench_dial(int port);
/* A client of v with the admin key for calls of large messages (64 MiB)
 * that may take long (600 s): bulk imports, EvaluateAll of many flags.
 * Prints why on failure. */
int bench_vexild_bulk_client(struct bench_vexild *v, vx_client **out);
/* CreateFlag of flag in the default project; prints why on failure. */
int bench_create_flag(vx_client *c, Vexil__V1__Flag *flag);

/*
 * Forks and execs argv[0] (NULL-terminated argv) in its own process group,
 * with its output appended to log and SIGTERM when we die.
 */
int bench_spawn(pid_t *pid, const char *log, const char *const *argv);
/* SIGTERM, then SIGKILL if it hangs; 0 when it exited with status 0. A
 * pid of 0 is a no-op; *pid is 0 afterwards. name is for messages. */
int bench_child_stop(pid_t *pid, const char *log, const char *name);

/* qsort comparators. */
int bench_cmp_u64(const void *a, const void *b);
int bench_cmp_i64(const void *a, const void *b);
/* The index of the nearest-rank p-th percentile (0 < p <= 1) of n > 0 sorted values. */
size_t bench_rank(size_t n, double p);

/*
 * Parses a comma list of integers in min..max into out (at most cap);
 * opt names the option in messages.
 */
int bench_parse_ints(const char *opt, const char *v, int min, int max, int *out, int cap,
    int *n);
/* Parses one integer in min..max. */
int bench_parse_int(const char *opt, const char *v, int min, int max, int *out);
/* Parses a number of seconds in min..3600. */
int bench_parse_seconds(const char *opt, const char *v, double min, double *out);

#endif
