/*
 * Vexil — the last WatchService/Changes reply packed, for the callers
 * that ask the same in the same snapshot.
 *
 * A commit wakes every long-poll parked on its project at once, and each
 * asks the same question: what changed in this project since the revision
 * they all had. The answer depends on the snapshot, the project and since
 * alone (not on the caller, who is authenticated and checked on the
 * project before the memo is consulted), so the first woken call packs it
 * and keeps its bytes here, and the others send a copy instead of reading
 * the change log, the flags, the environments and the segments and packing
 * them again. The memo is keyed on the LMDB transaction id of the read
 * transaction, as readmemo.h's is: two read transactions with the same id
 * see the same committed data, and any commit moves it.
 *
 * One entry, shared by every slot under a mutex; a reply larger than
 * VX_REPLYMEMO_MAX is not kept.
 */
#ifndef VX_REPLYMEMO_H
#define VX_REPLYMEMO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

#define VX_REPLYMEMO_MAX (256 * 1024)

/* What a reply answers: a snapshot, a project and a since. */
typedef struct vx_replykey {
	size_t txnid; /* 0: none */
	uint64_t project;
	uint64_t since;
} vx_replykey;

typedef struct vx_replymemo {
	pthread_mutex_t lock;
	vx_replykey key;
	uint8_t *buf;
	size_t len, cap;
} vx_replymemo;

void vx_replymemo_init(vx_replymemo *m);
void vx_replymemo_fini(vx_replymemo *m);

/* A copy in arena of the packed reply kept for key, and its length in
 * *len; NULL when none is (or out of memory). */
const uint8_t *vx_replymemo_find(
    vx_replymemo *m, const vx_replykey *key, vx_arena *arena, size_t *len);

/* Keeps the packed reply (len bytes) for key, replacing the last one. */
void vx_replymemo_keep(
    vx_replymemo *m, const vx_replykey *key, const void *reply, size_t len);

#endif
