/*
 * Vexil — the last Changes reply packed: see replymemo.h.
 */
#include "server/replymemo.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void
vx_replymemo_init(vx_replymemo *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

void
vx_replymemo_fini(vx_replymemo *m)
{
	pthread_mutex_destroy(&m->lock);
	free(m->buf);
	m->buf = NULL;
}

static bool
same_key(const vx_replykey *a, const vx_replykey *b)
{
	return a->txnid != 0 && a->txnid == b->txnid && a->project == b->project &&
	       a->since == b->since;
}

const uint8_t *
vx_replymemo_find(vx_replymemo *m, const vx_replykey *key, vx_arena *arena, size_t *len)
{
	uint8_t *copy = NULL;

	pthread_mutex_lock(&m->lock);
	if (same_key(&m->key, key) && (copy = vx_arena_alloc(arena, m->len)) != NULL) {
		memcpy(copy, m->buf, m->len);
		*len = m->len;
	}
	pthread_mutex_unlock(&m->lock);
	return copy;
}

void
vx_replymemo_keep(vx_replymemo *m, const vx_replykey *key, const void *reply, size_t len)
{
	if (key->txnid == 0 || len == 0 || len > VX_REPLYMEMO_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	if (!same_key(&m->key, key)) {
		m->key.txnid = 0;
		if (len > m->cap) {
			uint8_t *bigger = realloc(m->buf, len);
			if (bigger == NULL) {
				pthread_mutex_unlock(&m->lock);
				return;
			}
			m->buf = bigger;
			m->cap = len;
		}
		memcpy(m->buf, reply, len);
		m->len = len;
		m->key = *key;
	}
	pthread_mutex_unlock(&m->lock);
}
