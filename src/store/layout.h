/*
 * Vexil — the store's on-disk layout (docs/storage.md): the named
 * databases, the sequence counters' meta keys and the id+string key form.
 * One definition for the store (store.c) and the checker (check.c).
 */
#ifndef VX_STORE_LAYOUT_H
#define VX_STORE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/common.h"
#include "store/store.h"

enum vx_dbi_id {
	DB_META,
	DB_PROJECTS,
	DB_PROJECT_NAMES,
	DB_ENVS,
	DB_FLAGS,
	DB_FLAG_IDS,
	DB_APIKEYS,
	DB_APIKEY_HASHES,
	DB_SDKKEYS,
	DB_SDKKEY_HASHES,
	DB_USERS,
	DB_USER_EMAILS,
	DB_CHANGES,
	DB_AUDIT,
	DB_EVAL_COUNTS,
	DB_EVAL_LOG,
	DB_SEGMENTS,  /* (project id, name) -> Segment */
	DB_SCHEDULES, /* schedule id -> Schedule */
	DB_COUNT_
};

/* LMDB's names for the databases, indexed by enum vx_dbi_id. */
extern const char *const vx_store_db_names[DB_COUNT_];
/* The meta keys of the sequence counters, indexed by VX_SEQ_*. */
extern const char *const vx_store_seq_names[VX_SEQ_COUNT_];

/*
 * A key of 8 big-endian id bytes followed by a non-empty string, in buf
 * (cap bytes). @return its length, or 0 when s is empty or it won't fit.
 */
static inline size_t
vx_store_id_str_key(uint8_t *buf, size_t cap, uint64_t id, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || 8 + n > cap)
		return 0;
	vx_be64_put(buf, id);
	memcpy(buf + 8, s, n);
	return 8 + n;
}

/* The meta key of a project's audit entry count (store.h, audit_keep):
 * printf with the project id as unsigned long long. */
#define VX_STORE_AUDIT_COUNT_KEY "audit.count.%llu"

#endif
