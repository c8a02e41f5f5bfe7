/*
 * Vexil — compiled flags, cached per project environment and revision.
 *
 * Evaluation must neither decode protobuf nor compile anything, so the
 * flags of one project environment are compiled once per project revision
 * into an immutable flag set (model/flagset.h). A cached set is
 * reference-counted: a reader takes a reference and evaluates with no lock
 * held. A write bumps the revision, and the next reader builds and installs
 * a fresh set from its own read transaction, so set and revision agree.
 */
#ifndef VX_EVALCACHE_H
#define VX_EVALCACHE_H

#include "model/flagset.h"
#include "store/store.h"

typedef struct vx_evalcache vx_evalcache;

typedef struct vx_snapshot {
	vx_flagset *fs;
	int refs;  /* under the cache lock */
} vx_snapshot;

int vx_evalcache_alloc(vx_evalcache **out) VX_MUST_USE;
void vx_evalcache_free(vx_evalcache *c);

/*
 * The flag set of (project, env) at project->revision, built from txn when
 * the cache has none as new. Release it with vx_evalcache_release().
 * @return 0; VX_EINVAL when a stored flag no longer compiles (logged);
 *         VX_ENOMEM; a storage error.
 */
int vx_evalcache_get(vx_evalcache *c, MDB_txn *txn, vx_store *s,
    const Vexil__V1__Project *project, const char *env, vx_snapshot **out) VX_MUST_USE;
void vx_evalcache_release(vx_evalcache *c, vx_snapshot *snap);

#endif
