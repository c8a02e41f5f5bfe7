/*
 * Vexil — the compiled-flag cache: see evalcache.h.
 *
 * Sets live in a list keyed by (project, environment); there are as many
 * entries as environments that have been evaluated. Building runs outside
 * the lock; when two readers race to build, the newer revision is
 * installed and the other copy is freed with its last reference.
 *
 * A build unpacks every flag of the project (about 2 KiB each) only to
 * compile them, so the unpacked messages go into an arena of their own
 * and leave with it. With thousands of flags the arena's blocks are large
 * enough to be mapped apart from the heap (vexild fixes malloc's mmap
 * threshold at start-up, see main.c), so their pages go back to the
 * system at once instead of staying in a malloc arena as free holes
 * between the compiled flags that outlive them.
 */
#include "server/evalcache.h"

#include "common/arena.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A build that read at least this many flags leaves the map's pages out of
 * vexild's page tables (vx_store_unmap()). Reading 10,000 flags maps every
 * page of them (some 4 MiB), on top of the pages the writes that made
 * them mapped (change log, audit), and the set just built answers for all
 * of them until the project changes; left mapped, they would count in
 * vexild's resident set as long as they stay in the page cache. Smaller
 * builds are frequent and read little, so they keep what they map.
 */
#define BULK_FLAGS 1000

struct slot {
	struct slot *next;
	vx_snapshot *snap;
};

struct vx_evalcache {
	pthread_mutex_t lock;
	struct slot *slots;
};

int
vx_evalcache_alloc(vx_evalcache **out)
{
	vx_evalcache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VX_ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

static void
snap_free(vx_snapshot *s)
{
	bool bulk;

	if (s == NULL)
		return;
	bulk = s->fs->n >= BULK_FLAGS;
	vx_flagset_free(s->fs);
	free(s);
	/*
	 * A large set's compiled flags (some 700 bytes each) were malloc'd by
	 * the thread that built it, in that thread's malloc arena, and leave
	 * free holes there that glibc keeps: every change to a project of
	 * 10,000 flags, its set rebuilt on one worker thread or another,
	 * added some 7 MiB to vexild (bench_mem). malloc_trim() gives the
	 * whole free pages of every arena back.
	 */
#ifdef __GLIBC__
	if (bulk)
		malloc_trim(0);
#else
	(void)bulk;
#endif
}

void
vx_evalcache_free(vx_evalcache *c)
{
	struct slot *s, *next;
	if (c == NULL)
		return;
	for (s = c->slots; s != NULL; s = next) {
		next = s->next;
		snap_free(s->snap);
		free(s);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int
build(MDB_txn *txn, vx_store *st, const Vexil__V1__Project *p, const char *env,
    vx_snapshot **out)
{
	Vexil__V1__Flag **flags = NULL;
	Vexil__V1__Segment **segs = NULL;
	vx_snapshot *s;
	vx_arena unpacked;
	size_t n = 0, nsegs = 0;
	char err[300];
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VX_ENOMEM;
	vx_arena_init(&unpacked, SIZE_MAX);
	if ((rc = vx_store_flag_list(txn, st, p->id, &unpacked.pb, &flags, &n)) == 0 &&
	    (rc = vx_store_segment_list(txn, st, p->id, &unpacked.pb, &segs, &nsegs)) ==
	        0) {
		rc = vx_flagset_build(flags, n, segs, nsegs, p->id, p->revision, env,
		    &s->fs, err, sizeof(err));
		if (rc == 0 && s->fs->nbroken > 0)
			vx_log(VX_LOG_ERROR,
			    "eval: %zu stored flag(s) of project %llu in %s do not "
			    "compile and serve their off variant with reason ERROR; the "
			    "first: %s",
			    s->fs->nbroken, (unsigned long long)p->id, env, err);
	}
	vx_arena_fini(&unpacked);
	if (rc != 0) {
		free(s);
		return rc;
	}
	/* The set now answers for what the walk read: see BULK_FLAGS. */
	if (n >= BULK_FLAGS)
		vx_store_unmap(txn, st);
	*out = s;
	return 0;
}

static struct slot *
find(vx_evalcache *c, uint64_t project_id, const char *env)
{
	struct slot *sl;
	for (sl = c->slots; sl != NULL; sl = sl->next)
		if (sl->snap->fs->project_id == project_id && strcmp(sl->snap->fs->env, env) == 0)
			break;
	return sl;
}

int
vx_evalcache_get(vx_evalcache *c, MDB_txn *txn, vx_store *st, const Vexil__V1__Project *p,
    const char *env, vx_snapshot **out)
{
	struct slot *sl;
	vx_snapshot *fresh, *old = NULL;
	int rc;

	pthread_mutex_lock(&c->lock);
	sl = find(c, p->id, env);
	if (sl != NULL && sl->snap->fs->revision == p->revision) {
		sl->snap->refs++;
		*out = sl->snap;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);

	if ((rc = build(txn, st, p, env, &fresh)) != 0)
		return rc;

	pthread_mutex_lock(&c->lock);
	if ((sl = find(c, p->id, env)) == NULL && (sl = calloc(1, sizeof(*sl))) != NULL) {
		sl->next = c->slots;
		c->slots = sl;
	}
	if (sl != NULL && (sl->snap == NULL || sl->snap->fs->revision < fresh->fs->revision)) {
		old = sl->snap;
		fresh->refs = 1; /* the cache's own reference */
		sl->snap = fresh;
		if (old != NULL && --old->refs > 0)
			old = NULL;
	}
	fresh->refs++;
	pthread_mutex_unlock(&c->lock);
	snap_free(old);
	*out = fresh;
	return 0;
}

void
vx_evalcache_release(vx_evalcache *c, vx_snapshot *snap)
{
	bool last;
	pthread_mutex_lock(&c->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		snap_free(snap);
}
