/*
 * async_load — bench_rpc's asynchronous load and its separate-process floor.
 *
 * The asynchronous mode is what a service that pipelines its calls sees:
 * one client thread opens a raw nng REQ socket with N contexts, sends the
 * first request on each, and from then on each context's aio callback
 * takes the reply, checks its status, times it and sends the next request,
 * so N calls are in flight all the time without N threads. The requests
 * are packed envelopes prepared before the run and cycled through.
 *
 * The floor is a separate process (bench_rpc itself, run with
 * --floor-serve): an nng REP socket served by asynchronous contexts in the
 * style of nng's demo/async, which answer every request at once with a
 * canned Response of the size vexild's reply has. Being a process of its
 * own, it pays for its scheduling as vexild does, and being asynchronous
 * it is not bound by a thread per call.
 */
#ifndef VX_BENCH_ASYNC_LOAD_H
#define VX_BENCH_ASYNC_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench_common.h"

/* Contexts of the floor's REP socket. */
#define FLOOR_CONTEXTS 64

/* One point's figures, synchronous or asynchronous. */
struct result {
	double p50_us;
	double p99_us;
	double rate;
	uint64_t calls;
	uint64_t answered;
	uint64_t errors;
	uint64_t dropped;
	uint64_t max_ns;
	char first_err[320];
};

/* Sets r's p50 and p99 from k arrays of ns[i] latencies (ns); -1 out of memory. */
int result_percentiles(struct result *r, uint64_t *const *lats, const size_t *ns, int k);

/* A packed Request envelope. */
struct async_req {
	uint8_t *buf;
	size_t len;
};

struct async_point {
	const char *url;
	const struct async_req *reqs; /* cycled through; each context starts elsewhere */
	size_t nreqs;
	int inflight;
	double warmup;  /* seconds of unrecorded calls */
	double seconds; /* measured */
	size_t cap;     /* latency slots per context */
};

/*
 * Runs one point: inflight contexts on a fresh REQ socket dialled to url,
 * each sending its next request as soon as the previous reply is in,
 * until the measured time is over. A reply counts when its status is OK.
 * Returns -1 (with a message) when the socket cannot be set up.
 */
int async_run(const struct async_point *p, struct result *r);

/* Packs Request{method, payload = in, credential} into out (malloc). */
int async_req_pack(struct async_req *out, const char *method, const ProtobufCMessage *in,
    const char *credential);

/* The floor process. */
struct floor_proc {
	pid_t pid;
	char url[300];
	char reply_path[300];
};

/*
 * Writes reply (a packed Response) to root/floor-<tag>.bin and starts
 * self --floor-serve on a fresh ipc path or free tcp port, returning once
 * it answers. On failure it says why and leaves f for floor_proc_stop().
 */
int floor_proc_start(struct floor_proc *f, const char *self, const char *root,
    const char *tag, enum bench_transport t, const uint8_t *reply, size_t len);
/* SIGTERM, then reap (killing it if it hangs); 0 when it exited cleanly. */
int floor_proc_stop(struct floor_proc *f);
/* The floor's main: --floor-serve URL FILE. Returns the exit status. */
int floor_serve_main(const char *url, const char *file);

#endif
