/*
 * Vexil — budgeted request arena: see arena.h.
 *
 * Blocks are chained; a request that needs more than the first block gets
 * further blocks, up to the budget. Reset keeps only the first block, and
 * only at its usual size (FIRST_BLOCK), so a worker's steady state is one
 * small block and no malloc per request, and a large request's memory goes
 * back to the allocator at the reset that follows it.
 */
#include "common/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vx_arena_block {
	struct vx_arena_block *next;
	size_t size;
	size_t off;
	_Alignas(16) unsigned char data[];
};

#define FIRST_BLOCK (64 * 1024)

static void *
pb_alloc(void *ctx, size_t n)
{
	return vx_arena_alloc(ctx, n);
}

static void
pb_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

void
vx_arena_init(vx_arena *a, size_t budget)
{
	a->head = NULL;
	a->used = 0;
	a->budget = budget;
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
}

void
vx_arena_fini(vx_arena *a)
{
	struct vx_arena_block *b = a->head, *next;
	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
	a->used = 0;
}

void
vx_arena_reset(vx_arena *a)
{
	struct vx_arena_block *b = a->head, *next;
	if (b == NULL)
		return;
	/* The oldest block is the last in the chain; keep it. */
	while (b->next != NULL) {
		next = b->next;
		free(b);
		b = next;
	}
	/*
	 * Unless a large first allocation made it larger than a first block:
	 * kept, a request's megabytes would stay with the arena's owner (a
	 * vexild slot, of which there are dozens) until it is used again.
	 */
	if (b->size > FIRST_BLOCK) {
		free(b);
		b = NULL;
	} else {
		b->off = 0;
	}
	a->head = b;
	a->used = 0;
}

void *
vx_arena_alloc(vx_arena *a, size_t n)
{
	struct vx_arena_block *b = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	size_t size;

	if (need < n || need > a->budget - a->used || a->used > a->budget)
		return NULL;
	if (b == NULL || b->size - b->off < need) {
		size = b == NULL ? FIRST_BLOCK : b->size * 2;
		if (size < need)
			size = need;
		b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->size = size;
		b->off = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->off;
	b->off += need;
	a->used += need;
	return p;
}

char *
vx_arena_join(vx_arena *ar, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *p = vx_arena_alloc(ar, na + nb + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, a, na);
	p[na] = ' ';
	memcpy(p + na + 1, b, nb + 1);
	return p;
}

char *
vx_arena_strdup(vx_arena *a, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *p = vx_arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
vx_arena_printf(vx_arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = vx_arena_alloc(a, (size_t)n + 1);
	if (p == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
