/*
 * Vexil tests — start and stop a real vexild.
 *
 * Each test gets its own temp data dir and free loopback ports, starts
 * the vexild binary of this build, and talks to it over the wire.
 */
#ifndef VX_HARNESS_H
#define VX_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vexil.h"

typedef struct vx_harness {
	char dir[256];       /* data dir */
	char rpc[128];       /* tcp://127.0.0.1:PORT */
	char pub[128];
	char key[128];       /* the bootstrap admin key */
	char log[300];       /* vexild's stderr */
	char tls_ca[300];    /* for tls+tcp:// URLs: the CA clients trust, or "" */
	pid_t pid;
	vx_client *admin;    /* a client with the admin key */
} vx_harness;

/*
 * Declares `h` and a Criterion suite in which every test gets a fresh
 * vexild of its own (Criterion runs each test in its own process).
 */
#define VX_SERVER_SUITE(name, seconds)                                                   \
	static vx_harness h;                                                               \
	static void name##_setup(void) { vx_harness_start(&h, NULL); }                    \
	static void name##_teardown(void) { vx_harness_fini(&h); }                        \
	TestSuite(name, .init = name##_setup, .fini = name##_teardown, .timeout = seconds)

/* Makes a data dir and ports, starts vexild, waits until it answers. */
void vx_harness_start(vx_harness *h, const char *const *extra_args);
/*
 * Same, with RPC and PUB on tls+tcp:// (vexild gets --tls-cert cert
 * --tls-key key), and the harness's clients trusting the CA file ca.
 */
void vx_harness_start_tls(vx_harness *h, const char *cert, const char *key, const char *ca,
    const char *const *extra_args);
/* Same as vx_harness_start, on the data dir `dir` (made by vexild when
 * missing), for tests that put it somewhere of their own (a tmpfs). */
void vx_harness_start_in(vx_harness *h, const char *dir, const char *const *extra_args);
/* Starts vexild again on the same dir and ports. */
void vx_harness_restart(vx_harness *h);
/* SIGTERM; returns vexild's exit status (0 when it shut down cleanly). */
int vx_harness_stop(vx_harness *h);
/* Stops and removes the data dir. */
void vx_harness_fini(vx_harness *h);

/*
 * Starts argv[0] with argv, its stdout and stderr appended to log. The
 * child dies with the calling thread (PR_SET_PDEATHSIG), so start
 * processes from the test's main thread.
 */
pid_t vx_spawn(const char *const *argv, const char *log);
/* Reads vexild's JWT secret from the data dir, to mint test tokens. */
void vx_harness_jwt_secret(vx_harness *h, uint8_t out[32]);

/*
 * Runs this build's vexilctl against h with the admin key and the
 * arguments fmt makes (shell words); its stdout and stderr, as much as fits,
 * into out (cap bytes). @return its exit status, -1 when it did not exit.
 */
int vx_harness_ctl(vx_harness *h, char *out, size_t cap, const char *fmt, ...)
    VX_PRINTF(4, 5);

/* A new client with the given credential (NULL: none). */
vx_client *vx_harness_client(vx_harness *h, const char *credential);
/* A free TCP port on 127.0.0.1. */
int vx_free_port(void);
/* Creates an API key and returns its secret (static buffer per call site). */
void vx_harness_key(vx_harness *h, const char *project, Vexil__V1__Role role, char *out,
    size_t cap);

/*
 * Fails the test unless node is on PATH and each of the n npm packages is
 * installed in web_dir/node_modules (./tools/dev installs them).
 */
void vx_harness_need_node(const char *web_dir, const char *const *packages, size_t n);

/* The project's revision, read with GetProject through libvexil. */
uint64_t vx_project_revision(vx_client *c, const char *project);

#endif
