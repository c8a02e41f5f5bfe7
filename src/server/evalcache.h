/*
 * Vexil — compiled flags, cached per project environment and revision.
 *
 * Evaluation must neither decode protobuf nor compile anything, so the
 * flags of one project environment are compiled once per project revision
 * into an immutable snapshot. A snapshot is reference-counted: readers take
 * a reference and evaluate without any lock held; a write bumps the
 * revision and the next reader builds (and installs) a fresh snapshot from
 * its own read transaction, so snapshot and revision always agree.
 */
#ifndef VX_EVALCACHE_H
#define VX_EVALCACHE_H

#include "eval/eval.h"
#include "store/store.h"

typedef struct vx_evalcache vx_evalcache;

typedef struct vx_compiled {
	const char *key;       /* flag key */
	vx_eval_flag *flag;
	Vexil__V1__FlagType type;
	uint64_t *rule_ids;    /* by rule index in evaluation order */
} vx_compiled;

typedef struct vx_snapshot {
	uint64_t project_id;
	uint64_t revision;
	char *env;
	size_t n;
	vx_compiled *flags;    /* sorted by key */
	int refs;              /* under the cache lock */
} vx_snapshot;

int vx_evalcache_alloc(vx_evalcache **out) VX_MUST_USE;
void vx_evalcache_free(vx_evalcache *c);

/*
 * The snapshot of (project, env) at project->revision, built from txn when
 * the cache has none as new. Release it with vx_evalcache_release().
 * @return 0; VX_EINVAL when a stored flag no longer compiles (logged);
 *         VX_ENOMEM; a storage error.
 */
int vx_evalcache_get(vx_evalcache *c, MDB_txn *txn, vx_store *s,
    const Vexil__V1__Project *project, const char *env, vx_snapshot **out) VX_MUST_USE;
void vx_evalcache_release(vx_evalcache *c, vx_snapshot *snap);

/* The compiled flag with this key, or NULL. */
const vx_compiled *vx_snapshot_find(const vx_snapshot *snap, const char *key);

#endif
