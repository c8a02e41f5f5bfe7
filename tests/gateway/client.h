/*
 * Vexil gateway tests — a vexil-gateway process and a small libcurl client.
 *
 * Each test starts the vexil-gateway of this build in front of the vexild
 * the harness started, on a free port, and talks plain HTTP to it the way
 * any REST client would.
 */
#ifndef VX_GW_TEST_CLIENT_H
#define VX_GW_TEST_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

typedef struct vx_gateway {
	char base[128];  /* http://127.0.0.1:PORT */
	char log[300];   /* the gateway's stderr */
	pid_t pid;
} vx_gateway;

/*
 * Starts vexil-gateway for the vexild of h with the extra arguments
 * (NULL-terminated, may be NULL) and waits until GET /health answers. With
 * base_scheme "https", extra must carry --tls-cert and --tls-key, and
 * cainfo names the CA file the readiness probe trusts.
 */
void vx_gateway_start(vx_gateway *g, const vx_harness *h, const char *scheme,
    const char *const *extra, const char *cainfo);
/* SIGTERM; returns the exit status (0 for a clean stop), -1 if it hung. */
int vx_gateway_stop(vx_gateway *g);
/* A suite's .fini: stops g (if it was started) and the harness's vexild,
 * then fails the test unless the gateway exited 0 (its log is kept). */
void vx_gateway_teardown(vx_gateway *g, vx_harness *h);

/* printf into one of 8 rotating 4 KiB buffers: for paths and bodies. */
const char *vx_fmt(const char *f, ...) VX_PRINTF(1, 2);

typedef struct vx_http_res {
	long status;         /* 0 when the exchange failed */
	char *body;          /* NUL-terminated */
	size_t len;
	char request_id[128];
	char content_type[128];
	char allow[128];
	char etag[128];
	char retry_after[64];
	char vexil_env[128]; /* Vexil-Environment (OFREP) */
	char vexil_rule[32]; /* Vexil-Rule-Id (OFREP) */
	cJSON *json;         /* the body parsed, or NULL */
} vx_http_res;

typedef struct vx_http_req {
	const char *method;
	const char *url;              /* full URL */
	const char *const *headers;   /* "Name: value", NULL-terminated; may be NULL */
	const char *body;             /* may be NULL */
	size_t body_len;              /* 0: strlen(body) */
	const char *cainfo;           /* for https */
} vx_http_req;

/* Makes one request; never fails the test itself. */
vx_http_res vx_http(const vx_http_req *req);
void vx_http_res_free(vx_http_res *res);

/*
 * Makes the n requests at once, each from a thread of its own, started
 * together behind a barrier; out[i] is the answer to reqs[i]. Make one
 * request from the main thread first (curl's global init is not
 * thread-safe).
 */
void vx_http_race(const vx_http_req *reqs, size_t n, vx_http_res *out);

/* Fails the test unless r answered status and the project's revision went
 * from before to after by exactly writes; what names the request. */
void vx_expect_writes(const vx_http_res *r, long status, uint64_t before, uint64_t after,
    uint64_t writes, const char *what);

#endif
