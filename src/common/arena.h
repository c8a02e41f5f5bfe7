/*
 * Vexil — a per-request arena with a byte budget.
 *
 * Protobuf unpacking and reply building on the request path allocate from
 * an arena that is reset after each request, so a request costs no frees
 * and a hostile message cannot make a worker allocate without end: once
 * the budget is spent, allocation fails and the unpack fails with it.
 */
#ifndef VX_ARENA_H
#define VX_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/common.h"

struct vx_arena_block;

typedef struct vx_arena {
	struct vx_arena_block *head;  /* newest block */
	size_t used;                  /* bytes handed out since reset */
	size_t budget;                /* cap on bytes handed out */
	ProtobufCAllocator pb;        /* allocator view for protobuf-c */
} vx_arena;

/* Initialises an empty arena that hands out at most budget bytes. */
void vx_arena_init(vx_arena *a, size_t budget);
/* Frees every block. The arena may be initialised again afterwards. */
void vx_arena_fini(vx_arena *a);
/* Forgets every allocation and frees every block but the first, which it
 * keeps for reuse when it is of the usual first size (64 KiB); a larger
 * one (a large first allocation) is freed too. */
void vx_arena_reset(vx_arena *a);

/* Returns 16-byte aligned memory, or NULL when the budget is spent. */
void *vx_arena_alloc(vx_arena *a, size_t n);
/* Copies s (which may be NULL, giving "") into the arena. */
char *vx_arena_strdup(vx_arena *a, const char *s);
/* printf into the arena. */
char *vx_arena_printf(vx_arena *a, const char *fmt, ...) VX_PRINTF(2, 3);
/* a, a space and b into the arena (a credential: "SdkKey <secret>"), as
 * vx_arena_printf(ar, "%s %s", a, b) without its cost on a hot path. */
char *vx_arena_join(vx_arena *ar, const char *a, const char *b);

#endif
