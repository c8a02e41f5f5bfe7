/*
 * What bench_push and bench_sse share: the probe flag a writer toggles
 * (one committed change, one revision each), the project revision that
 * numbers the writes, and waiting for every subscriber to catch up.
 * Errors are printed with bench_prog.
 */
#ifndef VX_BENCH_PROBE_H
#define VX_BENCH_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vexil.h"

/* A boolean flag `key` in default, disabled everywhere, as vexild makes it. */
int bench_probe_create(vx_client *c, const char *key, const char *name);
/* Flips `key` in production and *enabled with it. */
int bench_probe_toggle(vx_client *c, const char *key, bool *enabled);
/* An SDK key of default bound to production: its secret (and id, when
 * id is not NULL). */
int bench_probe_sdk_key(vx_client *c, char *secret, size_t cap, uint64_t *id);
/* The revision of project default. */
int bench_probe_revision(vx_client *c, uint64_t *rev);

/*
 * Polls done(arg, i) for every i in [0, n) each millisecond until all are
 * true. @return true then; false at timeout_ms or on an interrupt.
 */
bool bench_wait_all(bool (*done)(void *arg, int i), void *arg, int n, int timeout_ms);

#endif
