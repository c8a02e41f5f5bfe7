/*
 * Vexil — what vexilctl's commands share (main.c holds the command table
 * and the parsing; commands in other files, like migrate.c, use these).
 */
#ifndef VX_CTL_H
#define VX_CTL_H

#include <stdbool.h>

#include "vexil.h"

#define MAX_ARGS 64

/* What a handler gets besides its arguments. */
struct cli {
	vx_client *c; /* connected; NULL for watch, which dials by itself */
	const char *rpc, *pub, *key, *tls_ca;
};

/* A command line after the noun and verb, checked against its command. */
struct args {
	const char *pos[MAX_ARGS];
	int npos;
	const char *name[MAX_ARGS];
	const char *val[MAX_ARGS];
	int nopt;
	bool json;
	/* Options any command takes (see `globals`), NULL when absent. */
	const char *rpc, *pub, *key, *tls_ca, *timeout;
};

/* The last value of --name, or NULL. */
const char *vx_ctl_opt(const struct args *a, const char *name);
/* Exactly n positional arguments; -1 after a message naming what. */
int vx_ctl_need_pos(const struct args *a, int n, const char *what);
/* Prints a refusal on stderr; returns 1, the exit status. */
int vx_ctl_fail(const vx_status *st);
/* With --json prints m as JSON; frees it; returns 0. */
int vx_ctl_done(const struct args *a, void *m);

/* vexilctl import and export (migrate.c). */
int vx_ctl_import(struct cli *s, struct args *a);
int vx_ctl_export(struct cli *s, struct args *a);

#endif
