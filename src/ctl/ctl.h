/*
 * Vexil — vexilctl's shared pieces: what a command handler gets, and the
 * argument and output helpers every command file uses (main.c holds the
 * command table, the parser and the helpers; other files hold commands:
 * schedule.c, migrate.c).
 */
#ifndef VX_CTL_H
#define VX_CTL_H

#include <stdbool.h>
#include <stdint.h>

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

/* The last value of --name, or NULL; "" instead of NULL. */
const char *opt(const struct args *a, const char *name);
char *opt_or_empty(const struct args *a, const char *name);
bool has_opt(const struct args *a, const char *name);
/* A numeric --name in 0..max, left as is when absent; -1 after a message. */
int opt_u32(const struct args *a, const char *name, uint32_t max, uint32_t *out);
/* Exactly n positionals; the id at positional i (the last); a required
 * option (NULL after a message). -1 after a message. */
int need_pos(const struct args *a, int n, const char *what);
int need_id(const struct args *a, int i, const char *what, uint64_t *out);
const char *need_opt(const struct args *a, const char *name);
/* Prints a refusal on stderr; returns the exit status 1. */
int fail(const vx_status *st);
/* A time as RFC 3339 UTC into buf ("-" for 0). */
const char *when(char buf[VX_TIME_LEN], int64_t ms);
void print_json(const void *m);
/* Prints a reply (as JSON, or with human when not NULL), frees it, 0. */
int done(const struct args *a, void *m, void (*human)(void *));
void human_ok(void *m);

/* ---- schedule.c ---- */

/*
 * With --at TIME, sends the write `method` with input `in` as a schedule
 * for TIME instead of making it now, prints the schedule and returns the
 * exit status; returns -1 (nothing done) without --at.
 */
int ctl_schedule_write(
    struct cli *s, struct args *a, const char *method, const ProtobufCMessage *in);
int schedule_list(struct cli *s, struct args *a);
int schedule_cancel(struct cli *s, struct args *a);
int flag_stale(struct cli *s, struct args *a);

/* ---- change.c ---- */

int env_protect(struct cli *s, struct args *a);
int change_list(struct cli *s, struct args *a);
int change_show(struct cli *s, struct args *a);
int change_comment(struct cli *s, struct args *a);
int change_approve(struct cli *s, struct args *a);
int change_reject(struct cli *s, struct args *a);
int change_withdraw(struct cli *s, struct args *a);
/* Prints an environment (main.c). */
void human_env(void *m);
/* ---- migrate.c: vexilctl import and export ---- */

int cmd_import(struct cli *s, struct args *a);
int cmd_export(struct cli *s, struct args *a);

#endif
