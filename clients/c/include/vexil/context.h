/*
 * libvexil — what an evaluation takes and gives (public, installed as
 * <vexil/context.h>): the context, the result and the reasons. Vexil's
 * evaluation engine (src/eval/eval.h, which includes this header) and
 * libvexil's local evaluation (vexil/eval.h) share them. The semantics
 * are in docs/evaluation.md. Needs nothing but the C library.
 */
#ifndef VEXIL_CONTEXT_H
#define VEXIL_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(default)

/* Why a result is what it is. vx_eval_reason_name() gives the names. */
enum vx_eval_reason {
	VX_REASON_TARGETING_MATCH,    /* a rule matched */
	VX_REASON_SPLIT,              /* in the environment rollout: default */
	VX_REASON_DISABLED,           /* flag disabled: off variant */
	VX_REASON_DEFAULT,            /* out of the rollout: off variant */
	VX_REASON_FLAG_NOT_FOUND,     /* no flag given */
	VX_REASON_ERROR,              /* evaluation failed: off variant */
	VX_REASON_STATIC,             /* no enabled rule, 100%: default variant */
	VX_REASON_PREREQUISITE_FAILED /* a prerequisite failed: off variant */
};

/* Kinds of context attribute. */
enum vx_attr_kind {
	VX_ATTR_STRING,
	VX_ATTR_NUMBER,
	VX_ATTR_BOOL,
	VX_ATTR_LIST /* list of strings */
};

/*
 * Evaluation context. The caller builds it, typically on the stack, and
 * owns every string in it. Nothing is copied, and nothing needs freeing.
 */

/* A custom attribute. */
typedef struct vx_eval_attr {
	const char *name;
	int kind; /* enum vx_attr_kind */
	union {
		const char *s; /* VX_ATTR_STRING: NUL-terminated */
		double num;    /* VX_ATTR_NUMBER */
		bool b;        /* VX_ATTR_BOOL */
		struct {
			const char *const *items; /* VX_ATTR_LIST */
			size_t n;
		} list;
	} u;
} vx_eval_attr;

/*
 * The context. The well-known attributes have their own fields. A NULL field
 * is a missing attribute (groups is present whenever groups != NULL, even
 * with ngroups == 0). If a well-known field is NULL, a custom attribute
 * with that name is used instead. For duplicate custom names, the first wins.
 * Initialise with `vx_eval_ctx ctx = {0};`.
 */
typedef struct vx_eval_ctx {
	const char *user_id;
	const char *email;
	const char *country;
	const char *ip;
	const char *const *groups;
	size_t ngroups;
	const vx_eval_attr *attrs;
	size_t nattrs;
} vx_eval_ctx;

/*
 * An evaluation result. Its pointers point into the compiled flag and are
 * valid until that flag is freed.
 */
typedef struct vx_eval_result {
	int reason;              /* enum vx_eval_reason */
	int32_t variant;         /* variant index, or -1 (FLAG_NOT_FOUND) */
	const char *variant_key; /* NULL when variant == -1 */
	const char *value;       /* JSON text; NULL when variant == -1 */
	int32_t rule;            /* index in the source rules[], or -1 */
	const char *rule_id;     /* the rule's id ("" if none), or NULL */
	uint32_t bucket;         /* rollout bucket 1..100 that decided, or 0 */
	uint32_t split_bucket;   /* split bucket 1..total weight, or 0 */
	const char *prereq;      /* PREREQUISITE_FAILED: the parent, else NULL */
} vx_eval_result;

/* The name of a reason ("TARGETING_MATCH", ...), or NULL if unknown. */
const char *vx_eval_reason_name(int reason);

#pragma GCC visibility pop

#endif
