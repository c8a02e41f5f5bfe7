/*
 * Vexil — the LMDB store: see store.h for the contract.
 *
 * Locking. LMDB serialises writers itself, but we hold our own writer
 * mutex from the start of a write to the end of its commit hook, so that
 * notices leave in revision order. Growing the map must not race a reader
 * in this process, so readers hold `maplock` shared while their
 * transaction is live and the grower takes it exclusively.
 *
 * Storage faults. LMDB reports a failed commit with an errno and aborts
 * the transaction; if it could not write the meta page it also marks the
 * environment unusable, after which every transaction gets MDB_PANIC. A
 * commit writes the transaction's pages, fdatasyncs them (unless
 * --no-sync), then writes the meta page through a descriptor opened with
 * O_DSYNC, so nothing of a failed commit is ever acknowledged. What
 * follows depends on the errno (commit_failed): a full device or a
 * read-only one is a condition that passes, so later writes are simply
 * tried again; anything else (EIO from a write or an fsync) leaves the
 * disk's contents unknown (Linux may drop the pages that failed to write
 * back), so writes stop until an operator restarts vexild, and reads go on
 * from what LMDB still serves. Before each write the data dir is looked
 * at (dir_fault): a data.mdb that was removed or replaced would swallow
 * every later commit, and one made read-only should refuse them.
 */
#include "store/store.h"
#include "store/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const char *const vx_store_db_names[DB_COUNT_] = {
    "meta",
    "projects",
    "project_names",
    "envs",
    "flags",
    "flag_ids",
    "apikeys",
    "apikey_hashes",
    "sdkkeys",
    "sdkkey_hashes",
    "users",
    "user_emails",
    "changes",
    "audit",
    "eval_counts",
    "eval_log",
    "segments",
    "schedules",
};

const char *const vx_store_seq_names[VX_SEQ_COUNT_] = {
    "seq.project",
    "seq.env",
    "seq.flag",
    "seq.rule",
    "seq.apikey",
    "seq.sdkkey",
    "seq.user",
    "seq.audit",
    "seq.evallog",
    "seq.segment",
    "seq.schedule",
};

#define MAX_CHANGES 16
#define KEY_MAX 511 /* LMDB's default maximum key size */
/* A short write (LMDB reports it as EIO) with less than this left on the
 * device is taken for a full device. */
#define NEARLY_FULL ((uint64_t)1 << 20)
#define WHY_MAX 240

struct vx_store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT_];
	size_t map_size;
	size_t map_max;
	size_t change_keep;
	size_t audit_keep;
	atomic_uint_fast64_t writes;        /* committed writes */
	atomic_uint_fast64_t audit_trimmed; /* committed audit trims */
	atomic_uint_fast64_t commits;       /* write transactions committed */
	pthread_mutex_t wlock;
	pthread_rwlock_t maplock;
	/* Writes waiting for a group commit, and whether one runs. */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct pending *qhead, **qtail;
	size_t nqueued;
	bool leading;
	vx_store_commit_fn on_commit;
	void *on_commit_arg;
	/* Storage faults, under flock (read by readiness outside wlock). */
	char *path; /* the data dir */
	char *file; /* its data.mdb */
	dev_t dev;  /* data.mdb's identity when opened */
	ino_t ino;
	/* LMDB's map of data.mdb (map_range()), for vx_store_unmap(); set at
	 * open and by grow() under maplock; NULL when not found. */
	void *map_addr;
	size_t map_len;
	pthread_mutex_t flock;
	bool failed;       /* sticky: a commit failed with an I/O error */
	bool disk_full;    /* the last commit found the device full */
	char why[WHY_MAX]; /* why writes are refused (failed, or the last refusal) */
};

struct vx_wtxn {
	vx_store *s;
	MDB_txn *txn;
	bool map_full;
	vx_store_reader *r;  /* whose if_revision applies, or NULL */
	size_t nchanges;
	uint64_t audit_trimmed; /* by this transaction, counted once it commits */
	Vexil__V1__Change changes[MAX_CHANGES];
	const Vexil__V1__Change *change_ptrs[MAX_CHANGES];
	const char *audit_detail;  /* for the next audit entry; borrowed */
};

/* Maps an LMDB return code, noting a full map so the write can grow it. */
static int
mdb_err(vx_wtxn *w, int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return VX_ENOTFOUND;
	case MDB_MAP_FULL:
		if (w != NULL)
			w->map_full = true;
		return VX_EFULL;
	default:
		vx_log(VX_LOG_ERROR, "store: %s: %s", what, mdb_strerror(rc));
		return VX_EIO;
	}
}

static int map_range(vx_store *s, void **addr, size_t *len);

int
vx_store_open(vx_store **out, const vx_store_opts *opts)
{
	vx_store *s;
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	int rc, dead = 0;
	unsigned flags = MDB_NOTLS;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VX_ENOMEM;
	s->map_size = opts->map_size ? opts->map_size : (size_t)64 << 20;
	s->map_max = opts->map_max ? opts->map_max : (size_t)16 << 30;
	if (s->map_max < s->map_size)
		s->map_max = s->map_size;
	s->change_keep = opts->change_log_keep ? opts->change_log_keep : 100000;
	s->audit_keep = opts->audit_keep;
	s->on_commit = opts->on_commit;
	s->on_commit_arg = opts->on_commit_arg;
	pthread_mutex_init(&s->wlock, NULL);
	pthread_rwlock_init(&s->maplock, NULL);
	pthread_mutex_init(&s->flock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcond, NULL);
	s->qtail = &s->qhead;
	if ((s->path = strdup(opts->path)) == NULL ||
	    (s->file = malloc(strlen(opts->path) + sizeof("/data.mdb"))) == NULL)
		goto fail;
	sprintf(s->file, "%s/data.mdb", opts->path);

	if (mkdir(opts->path, 0700) != 0 && errno != EEXIST) {
		vx_log(VX_LOG_ERROR, "store: cannot create %s: %s", opts->path,
		    strerror(errno));
		goto fail;
	}
	if (opts->no_sync)
		flags |= MDB_NOSYNC;
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, DB_COUNT_ + 8)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, VX_STORE_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, s->map_size)) != 0 ||
	    (rc = mdb_env_open(s->env, opts->path, flags, 0600)) != 0) {
		vx_log(VX_LOG_ERROR, "store: cannot open %s: %s", opts->path,
		    mdb_strerror(rc));
		goto fail;
	}
	/* A crashed process may have left reader slots that pin old pages. */
	if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
		vx_log(VX_LOG_WARN, "store: cleared %d stale reader slots", dead);
	/* An existing file larger than the asked size keeps its size. */
	mdb_env_info(s->env, &info);
	s->map_size = info.me_mapsize;
	if (s->map_max < s->map_size)
		s->map_max = s->map_size;
	{
		struct stat sb;
		mdb_filehandle_t fd;
		if ((rc = mdb_env_get_fd(s->env, &fd)) != 0)
			goto fail_rc;
		if (fstat(fd, &sb) != 0) {
			vx_log(VX_LOG_ERROR, "store: cannot stat %s: %s", s->file,
			    strerror(errno));
			goto fail;
		}
		s->dev = sb.st_dev;
		s->ino = sb.st_ino;
	}
	if (map_range(s, &s->map_addr, &s->map_len) != 0)
		s->map_addr = NULL;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail_rc;
	for (int i = 0; i < DB_COUNT_; i++)
		if ((rc = mdb_dbi_open(txn, vx_store_db_names[i], MDB_CREATE, &s->dbi[i])) != 0)
			goto fail_rc;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail_rc;
	*out = s;
	return 0;

fail_rc:
	vx_log(VX_LOG_ERROR, "store: cannot open databases: %s", mdb_strerror(rc));
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (s->env != NULL)
		mdb_env_close(s->env);
	pthread_mutex_destroy(&s->wlock);
	pthread_rwlock_destroy(&s->maplock);
	pthread_mutex_destroy(&s->flock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcond);
	free(s->path);
	free(s->file);
	free(s);
	return VX_EIO;
}

void
vx_store_close(vx_store *s)
{
	if (s == NULL)
		return;
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->wlock);
	pthread_rwlock_destroy(&s->maplock);
	pthread_mutex_destroy(&s->flock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcond);
	free(s->path);
	free(s->file);
	free(s);
}

/* A backup path ending in ".mdb" names the copy itself, not a dir. */
bool
vx_store_backup_is_file(const char *path)
{
	size_t n = strlen(path);
	struct stat sb;

	if (n < 5 || strcmp(path + n - 4, ".mdb") != 0)
		return false;
	return !(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
}

/* The copy into one new file: mdb_env_copy2's own work, on our fd. */
static int
backup_file(vx_store *s, const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return errno == EEXIST ? MDB_KEYEXIST : errno;
	rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	if (rc != 0)
		unlink(path);
	return rc;
}

int
vx_store_backup(vx_store *s, const char *dir, uint64_t *bytes)
{
	char path[4200];
	struct stat sb;
	bool file = vx_store_backup_is_file(dir);
	int rc;

	if (file)
		snprintf(path, sizeof(path), "%s", dir);
	else
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &sb) == 0)
		return VX_EEXIST;
	/* A shared hold on the map: growing it mid-copy would pull the pages
	 * from under the copier. */
	pthread_rwlock_rdlock(&s->maplock);
	rc = file ? backup_file(s, path) : mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&s->maplock);
	if (rc == MDB_KEYEXIST)
		return VX_EEXIST;
	if (rc != 0) {
		vx_log(VX_LOG_ERROR, "store: backup to %s failed: %s", dir, mdb_strerror(rc));
		return VX_EIO;
	}
	*bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

size_t
vx_store_map_size(vx_store *s)
{
	return s->map_size;
}

/* ---- storage faults ---- */

int
vx_store_device_space(const char *path, uint64_t *avail, uint64_t *total)
{
	struct statvfs v;

	if (statvfs(path, &v) != 0)
		return VX_EIO;
	/* Root may write into the blocks reserved for it. */
	*avail = (uint64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * v.f_frsize;
	if (total != NULL)
		*total = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}

const char *
vx_store_state_name(enum vx_store_state st)
{
	switch (st) {
	case VX_STORE_OK: return "ok";
	case VX_STORE_DISK_FULL: return "disk_full";
	case VX_STORE_READ_ONLY: return "read_only";
	case VX_STORE_GONE: return "gone";
	default: return "failed";
	}
}

/*
 * Why the data dir cannot take a write now (VX_STORE_GONE or
 * VX_STORE_READ_ONLY, with a sentence in why), or VX_STORE_OK.
 *
 * Before a write this is one stat(2) of data.mdb (syscalls cost tens of
 * microseconds on some sandboxes, next to a commit's fdatasync): the
 * path must still name the file LMDB holds open (else it was removed,
 * replaced or unmounted), and the file must keep a write bit (chmod a-w
 * holds even for root, whom access(2) would let write). A read-only mount
 * shows as EROFS when the commit writes (commit_failed); `thorough`
 * (readiness) also asks statvfs so it shows before a write is tried.
 */
static enum vx_store_state
dir_fault(vx_store *s, bool thorough, char *why, size_t cap)
{
	struct stat sb;
	struct statvfs v;
	int ro = 0;

	if (stat(s->file, &sb) != 0 || sb.st_dev != s->dev || sb.st_ino != s->ino) {
		snprintf(why, cap,
		    "the data dir %s no longer holds the data.mdb vexild opened "
		    "(removed, replaced or unmounted); writes are refused, reads are "
		    "served from the open file; restore the data dir and restart vexild",
		    s->path);
		return VX_STORE_GONE;
	}
	if ((sb.st_mode & 0222) == 0)
		ro = EACCES;
	else if (thorough && statvfs(s->path, &v) == 0 && (v.f_flag & ST_RDONLY))
		ro = EROFS;
	if (ro != 0) {
		snprintf(why, cap,
		    "the data dir %s is read-only (%s); writes are refused until it "
		    "can be written again, reads are served",
		    s->path,
		    ro == EROFS ? "read-only file system" : "no write permission");
		return VX_STORE_READ_ONLY;
	}
	return VX_STORE_OK;
}

static void
set_why(vx_store *s, const char *why)
{
	pthread_mutex_lock(&s->flock);
	snprintf(s->why, sizeof(s->why), "%s", why);
	pthread_mutex_unlock(&s->flock);
}

/* Stops writes for good (until a restart), saying why. */
static void
fail_writes(vx_store *s, int err, bool panic)
{
	char why[WHY_MAX];

	snprintf(why, sizeof(why),
	    "writes are stopped: a commit failed (%s)%s, so what reached the disk is "
	    "unknown; %s; restart vexild once the device is healthy",
	    strerror(err), panic ? " and LMDB refuses to go on" : "",
	    panic ? "reads fail too" : "reads are still served");
	pthread_mutex_lock(&s->flock);
	if (!s->failed) {
		s->failed = true;
		snprintf(s->why, sizeof(s->why), "%s", why);
		vx_log(VX_LOG_ERROR,
		    "store: commit failed: %s (errno %d)%s; refusing writes until vexild "
		    "restarts",
		    strerror(err), err,
		    panic ? "; LMDB marked the environment unusable" : "");
	}
	pthread_mutex_unlock(&s->flock);
}

/*
 * A commit (or a write's begin) failed with errno err: never acknowledged,
 * and classified as the header says. Called under wlock, with no write
 * transaction open.
 */
static int
commit_failed(vx_store *s, int err)
{
	MDB_txn *probe;
	uint64_t avail = 0;
	bool panic, nearly_full;
	char why[WHY_MAX];
	int rc;

	/* A failed meta page write leaves LMDB refusing every transaction. */
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &probe);
	if (rc == 0)
		mdb_txn_abort(probe);
	panic = rc == MDB_PANIC;
	nearly_full =
	    vx_store_device_space(s->path, &avail, NULL) == 0 && avail < NEARLY_FULL;
	if (!panic && (err == ENOSPC || err == EDQUOT || (err == EIO && nearly_full))) {
		vx_log(VX_LOG_WARN,
		    "store: commit refused: no space left on the device holding %s (%s, "
		    "%llu bytes free); writes resume when space is freed",
		    s->path, strerror(err), (unsigned long long)avail);
		pthread_mutex_lock(&s->flock);
		s->disk_full = true;
		pthread_mutex_unlock(&s->flock);
		return VX_ENOSPC;
	}
	if (!panic && (err == EROFS || err == EACCES || err == EPERM)) {
		snprintf(why, sizeof(why),
		    "the data dir %s is read-only (%s); writes are refused until it "
		    "can be written again, reads are served",
		    s->path, strerror(err));
		vx_log(VX_LOG_WARN, "store: commit refused: %s", why);
		set_why(s, why);
		return VX_EUNAVAIL;
	}
	fail_writes(s, err, panic);
	return VX_EUNAVAIL;
}

/*
 * Whether a write may start: VX_EUNAVAIL after a failed commit or when the
 * data dir is gone or read-only (the reason kept for vx_store_refusal).
 */
static int
write_allowed(vx_store *s)
{
	char why[WHY_MAX];
	bool failed;

	pthread_mutex_lock(&s->flock);
	failed = s->failed;
	pthread_mutex_unlock(&s->flock);
	if (failed)
		return VX_EUNAVAIL;
	if (dir_fault(s, false, why, sizeof(why)) != VX_STORE_OK) {
		set_why(s, why);
		return VX_EUNAVAIL;
	}
	return 0;
}

enum vx_store_state
vx_store_state(vx_store *s, char *why, size_t cap)
{
	enum vx_store_state st;
	uint64_t avail;
	bool full;

	*why = '\0';
	pthread_mutex_lock(&s->flock);
	if (s->failed) {
		snprintf(why, cap, "%s", s->why);
		pthread_mutex_unlock(&s->flock);
		return VX_STORE_FAILED;
	}
	full = s->disk_full;
	pthread_mutex_unlock(&s->flock);
	if ((st = dir_fault(s, true, why, cap)) != VX_STORE_OK)
		return st;
	/* Full until a write commits, or space comes back. */
	if (full && vx_store_device_space(s->path, &avail, NULL) == 0 &&
	    avail < NEARLY_FULL) {
		snprintf(why, cap,
		    "no space left on the device holding the data dir %s (%llu bytes "
		    "free); writes are refused until space is freed, reads are served",
		    s->path, (unsigned long long)avail);
		return VX_STORE_DISK_FULL;
	}
	return VX_STORE_OK;
}

void
vx_store_refusal(vx_store *s, int err, char *buf, size_t cap)
{
	if (err == VX_ENOSPC) {
		snprintf(buf, cap,
		    "%s; writes succeed again once space is freed, reads still work",
		    vx_strerror(err));
		return;
	}
	if (err != VX_EUNAVAIL) {
		snprintf(buf, cap, "%s", vx_strerror(err));
		return;
	}
	pthread_mutex_lock(&s->flock);
	snprintf(buf, cap, "%s", s->why[0] ? s->why : vx_strerror(err));
	pthread_mutex_unlock(&s->flock);
}

/* ---- readers ---- */

void
vx_store_reader_init(vx_store_reader *r, vx_store *s)
{
	r->s = s;
	r->txn = NULL;
	r->active = false;
	r->if_revision = 0;
	r->stale_revision = 0;
	r->dry_run = false;
	r->schedule_id = 0;
	r->schedule_done = false;
	r->committed_project = 0;
	r->committed_revision = 0;
}

void
vx_store_reader_fini(vx_store_reader *r)
{
	vx_store_reader_release(r);
	if (r->txn != NULL)
		mdb_txn_abort(r->txn);
	r->txn = NULL;
}

int
vx_store_reader_acquire(vx_store_reader *r)
{
	int rc;

	if (r->active)
		return 0;
	pthread_rwlock_rdlock(&r->s->maplock);
	rc = r->txn == NULL ? mdb_txn_begin(r->s->env, NULL, MDB_RDONLY, &r->txn)
			    : mdb_txn_renew(r->txn);
	if (rc != 0) {
		pthread_rwlock_unlock(&r->s->maplock);
		if (r->txn != NULL) {
			mdb_txn_abort(r->txn);
			r->txn = NULL;
		}
		if (rc == MDB_PANIC) {
			fail_writes(r->s, EIO, true);
			return VX_EUNAVAIL;
		}
		return mdb_err(NULL, rc, "begin read");
	}
	r->active = true;
	return 0;
}

void
vx_store_reader_release(vx_store_reader *r)
{
	if (!r->active)
		return;
	mdb_txn_reset(r->txn);
	pthread_rwlock_unlock(&r->s->maplock);
	r->active = false;
}

/*
 * Where LMDB mapped data.mdb: mdb_env_info() gives the address only for
 * MDB_FIXEDMAP, so it is found in /proc/self/maps by the file's device
 * and inode, once at open and again when the map grows. 0 or
 * VX_ENOTFOUND.
 */
static int
map_range(vx_store *s, void **addr, size_t *len)
{
	char line[512];
	unsigned long lo, hi, ino, maj, min;
	int rc = VX_ENOTFOUND;
	FILE *f = fopen("/proc/self/maps", "re");

	if (f == NULL)
		return VX_ENOTFOUND;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &lo, &hi, &maj, &min,
		        &ino) == 5 &&
		    ino == (unsigned long)s->ino && maj == major(s->dev) &&
		    min == minor(s->dev)) {
			*addr = (void *)lo;
			*len = hi - lo;
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

void
vx_store_unmap(MDB_txn *txn, vx_store *s)
{
	/* Without a transaction of the caller's, growing the map must wait. */
	if (txn == NULL)
		pthread_rwlock_rdlock(&s->maplock);
	if (s->map_addr != NULL && madvise(s->map_addr, s->map_len, MADV_DONTNEED) != 0)
		vx_log(VX_LOG_WARN, "store: madvise on the map: %s", strerror(errno));
	if (txn == NULL)
		pthread_rwlock_unlock(&s->maplock);
}

/* ---- writes ---- */

static void
changes_clear(vx_wtxn *w)
{
	for (size_t i = 0; i < w->nchanges; i++) {
		free(w->changes[i].environment);
		free(w->changes[i].flag_key);
	}
	w->nchanges = 0;
}

/* Doubles the map, up to the cap. Called with no transaction running. */
static int
grow(vx_store *s)
{
	size_t next;
	int rc;

	if (s->map_size >= s->map_max) {
		vx_log(VX_LOG_WARN, "store: map is full at its cap of %zu bytes",
		    s->map_max);
		return VX_EFULL;
	}
	next = s->map_size * 2;
	if (next > s->map_max || next < s->map_size)
		next = s->map_max;
	pthread_rwlock_wrlock(&s->maplock);
	rc = mdb_env_set_mapsize(s->env, next);
	if (rc == 0)
		s->map_size = next;
	/* LMDB mapped the file anew, maybe elsewhere. */
	if (map_range(s, &s->map_addr, &s->map_len) != 0)
		s->map_addr = NULL;
	pthread_rwlock_unlock(&s->maplock);
	if (rc != 0)
		return mdb_err(NULL, rc, "grow map");
	vx_log(VX_LOG_INFO, "store: map grown to %zu bytes", next);
	return 0;
}

/*
 * Group commit. Each vx_store_write() queues a pending write and waits;
 * the first caller that finds no batch running leads: it takes up to
 * VX_STORE_BATCH_MAX queued writes (its own and those that queued while
 * the last batch was committing), runs them in order in one LMDB write
 * transaction, commits once (one fsync) and only then marks each done.
 * When a body fails (validation, a stale precondition) the batch runs
 * again with each body in a nested transaction of its own (as a batch
 * with a dry run does from the start), so that one is rolled back alone
 * and the others commit. Every write keeps its own vx_wtxn: its own
 * revisions, change log and audit entries, and its own changes for the
 * commit hook, which sees them write by write in the order they were
 * applied.
 */
struct pending {
	vx_wtxn w; /* w.r: the caller's reader, or NULL */
	vx_store_write_fn fn;
	void *arg;
	int rc;
	bool ok;   /* its body succeeded and it is to be committed */
	bool done; /* answered: rc is final (under qlock) */
	struct pending *next;
};

/* Sets rc for every write of the batch that has none yet. */
static void
batch_fail(struct pending **batch, size_t n, int rc)
{
	for (size_t i = 0; i < n; i++)
		if (batch[i]->ok || batch[i]->rc == 0) {
			batch[i]->ok = false;
			batch[i]->rc = rc;
			changes_clear(&batch[i]->w);
		}
}

/*
 * Runs one write's body in txn (top, or a child of top when nest) and
 * sets p->ok and p->rc. Returns non-zero only when the nested transaction
 * itself cannot begin or commit, which fails the whole batch.
 */
static int
apply(vx_store *s, MDB_txn *top, struct pending *p, bool nest)
{
	vx_wtxn *w = &p->w;
	vx_store_reader *r = w->r;
	bool keep;
	int rc;

	w->map_full = false;
	w->audit_trimmed = 0;
	w->audit_detail = NULL;
	changes_clear(w);
	p->ok = false;
	w->txn = top;
	if (nest && (rc = mdb_txn_begin(s->env, top, 0, &w->txn)) != 0)
		return mdb_err(w, rc, "begin nested write");
	p->rc = p->fn(w, p->arg);
	if (p->rc == 0 && r != NULL && r->schedule_id != 0)
		p->rc = vx_store_schedule_del(w, r->schedule_id);
	keep = p->rc == 0 && !(r != NULL && r->dry_run);
	if (!keep)
		changes_clear(w);
	if (!nest) {
		p->ok = keep;
		return 0;
	}
	if (!keep) {
		mdb_txn_abort(w->txn);
		return 0;
	}
	if ((rc = mdb_txn_commit(w->txn)) != 0)
		return mdb_err(w, rc, "commit nested write");
	p->ok = true;
	return 0;
}

/* Runs and commits a batch under wlock; sets every write's rc. */
static void
run_batch(vx_store *s, struct pending **batch, size_t n)
{
	bool nest = false, at_cap = false, full, redo;
	size_t keep;
	MDB_txn *top;
	uint64_t trimmed;
	int rc;

	/* A batch runs flat, every body straight in the one transaction,
	 * until a body fails: then it runs again with each body nested, so
	 * that the failed one is rolled back alone. A nested transaction
	 * costs LMDB a dirty-page list of its own and a copy of each page it
	 * touches, for bodies that nearly always succeed. A dry run fails by
	 * design, so a batch holding one is nested from the start. */
	for (size_t i = 0; i < n && n > 1; i++)
		if (batch[i]->w.r != NULL && batch[i]->w.r->dry_run)
			nest = true;
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			batch[i]->rc = 0;
			batch[i]->ok = false;
		}
		if ((rc = write_allowed(s)) != 0)
			goto fail;
		if ((rc = mdb_txn_begin(s->env, NULL, 0, &top)) != 0) {
			vx_wtxn probe = {.s = s};
			if (rc == MDB_PANIC) {
				rc = commit_failed(s, EIO);
				goto fail;
			}
			rc = mdb_err(&probe, rc, "begin write");
			if (probe.map_full && (rc = grow(s)) == 0)
				continue;
			goto fail;
		}
		full = redo = false;
		keep = 0;
		for (size_t i = 0; i < n; i++) {
			if ((rc = apply(s, top, batch[i], nest)) != 0) {
				mdb_txn_abort(top);
				if (batch[i]->w.map_full && !at_cap) {
					full = true;
					break;
				}
				goto fail;
			}
			/* A full map aborts the batch to grow it, unless it is at
			 * its cap: then the write that did not fit fails alone. */
			if (batch[i]->w.map_full && !at_cap) {
				mdb_txn_abort(top);
				full = true;
				break;
			}
			if (!batch[i]->ok && n > 1 && !nest) {
				/* It may have written before failing. */
				mdb_txn_abort(top);
				nest = redo = true;
				break;
			}
			keep += batch[i]->ok;
		}
		if (redo)
			continue;
		if (full) {
			if (grow(s) != 0)
				at_cap = true;
			continue;
		}
		if (keep == 0) {
			/* Nothing to commit: every write failed or was a dry run. */
			mdb_txn_abort(top);
			return;
		}
		rc = mdb_txn_commit(top);
		if (rc == ENOMEM) {
			rc = VX_ENOMEM;
			goto fail;
		}
		if (rc > 0 || rc == MDB_PANIC) {
			/* An errno from writing or syncing: never acknowledged. */
			rc = commit_failed(s, rc > 0 ? rc : EIO);
			goto fail;
		}
		if (rc != 0) {
			vx_wtxn probe = {.s = s};
			rc = mdb_err(&probe, rc, "commit");
			if (probe.map_full && !at_cap) {
				if (grow(s) != 0)
					at_cap = true;
				continue;
			}
			goto fail;
		}
		break;
	}
	/* Durable: count, clear a disk-full state, and publish write by write. */
	trimmed = 0;
	for (size_t i = 0; i < n; i++)
		if (batch[i]->ok)
			trimmed += batch[i]->w.audit_trimmed;
	atomic_fetch_add_explicit(&s->writes, keep, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->commits, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->audit_trimmed, trimmed, memory_order_relaxed);
	if (s->disk_full) {
		pthread_mutex_lock(&s->flock);
		s->disk_full = false;
		pthread_mutex_unlock(&s->flock);
		vx_log(VX_LOG_INFO, "store: writes commit again on %s", s->path);
	}
	for (size_t i = 0; i < n; i++) {
		vx_wtxn *w = &batch[i]->w;
		if (!batch[i]->ok)
			continue;
		if (w->nchanges > 0 && w->r != NULL) {
			w->r->committed_project = w->changes[w->nchanges - 1].project_id;
			w->r->committed_revision = w->changes[w->nchanges - 1].revision;
		}
		if (s->on_commit != NULL && w->nchanges > 0) {
			for (size_t j = 0; j < w->nchanges; j++)
				w->change_ptrs[j] = &w->changes[j];
			s->on_commit(s->on_commit_arg, w->change_ptrs, w->nchanges);
		}
		if (w->r != NULL && w->r->schedule_id != 0)
			w->r->schedule_done = true;
		changes_clear(w);
	}
	return;
fail:
	batch_fail(batch, n, rc);
}

int
vx_store_write(vx_store *s, vx_store_reader *r, vx_store_write_fn fn, void *arg)
{
	struct pending me, *batch[VX_STORE_BATCH_MAX];
	size_t n;

	if (r != NULL)
		vx_store_reader_release(r);
	memset(&me, 0, sizeof(me));
	me.w.s = s;
	me.w.r = r;
	me.fn = fn;
	me.arg = arg;
	pthread_mutex_lock(&s->qlock);
	*s->qtail = &me;
	s->qtail = &me.next;
	s->nqueued++;
	for (;;) {
		while (!me.done && s->leading)
			pthread_cond_wait(&s->qcond, &s->qlock);
		if (me.done)
			break;
		/* Lead a batch: the oldest queued writes, this one among them
		 * unless VX_STORE_BATCH_MAX are ahead of it. */
		s->leading = true;
		for (n = 0; n < VX_STORE_BATCH_MAX && s->qhead != NULL; n++) {
			batch[n] = s->qhead;
			s->qhead = s->qhead->next;
		}
		s->nqueued -= n;
		if (s->qhead == NULL)
			s->qtail = &s->qhead;
		pthread_mutex_unlock(&s->qlock);
		pthread_mutex_lock(&s->wlock);
		run_batch(s, batch, n);
		pthread_mutex_unlock(&s->wlock);
		pthread_mutex_lock(&s->qlock);
		/* A write marked done may return at once: no touching it after. */
		for (size_t i = 0; i < n; i++)
			batch[i]->done = true;
		s->leading = false;
		pthread_cond_broadcast(&s->qcond);
	}
	pthread_mutex_unlock(&s->qlock);
	return me.rc;
}

size_t
vx_store_writes_waiting(vx_store *s)
{
	size_t n;

	pthread_mutex_lock(&s->qlock);
	n = s->nqueued;
	pthread_mutex_unlock(&s->qlock);
	return n;
}

MDB_txn *
vx_wtxn_txn(vx_wtxn *w)
{
	return w->txn;
}

/* ---- record helpers ---- */

static int
put_msg(vx_wtxn *w, enum vx_dbi_id db, const void *key, size_t klen,
    const ProtobufCMessage *m)
{
	MDB_val k = {klen, (void *)key};
	MDB_val v = {protobuf_c_message_get_packed_size(m), NULL};
	int rc;

	/* Reserve the space and pack straight into the map: no copy. */
	rc = mdb_put(w->txn, w->s->dbi[db], &k, &v, MDB_RESERVE);
	if (rc != 0)
		return mdb_err(w, rc, vx_store_db_names[db]);
	protobuf_c_message_pack(m, v.mv_data);
	return 0;
}

static int
put_raw(vx_wtxn *w, enum vx_dbi_id db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	int rc = mdb_put(w->txn, w->s->dbi[db], &k, &v, 0);
	return rc ? mdb_err(w, rc, vx_store_db_names[db]) : 0;
}

static int
del_key(vx_wtxn *w, enum vx_dbi_id db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc = mdb_del(w->txn, w->s->dbi[db], &k, NULL);
	return rc ? mdb_err(w, rc, vx_store_db_names[db]) : 0;
}

static int
unpack(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
    const MDB_val *v, void **out)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, alloc, v->mv_size,
	    v->mv_data);
	if (m == NULL) {
		/* protobuf-c fails alike on bad bytes and on a refused allocation;
		 * a budgeted allocator refuses often, so tell the two apart. */
		if (alloc != NULL &&
		    (m = protobuf_c_message_unpack(desc, NULL, v->mv_size, v->mv_data)) != NULL) {
			protobuf_c_message_free_unpacked(m, NULL);
			return VX_ENOMEM;
		}
		vx_log(VX_LOG_ERROR, "store: a %s record does not decode", desc->name);
		return VX_EIO;
	}
	*out = m;
	return 0;
}

/* The stored bytes of key in db, in txn's pages. */
static int
get_raw(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, const void *key, size_t klen,
    MDB_val *v)
{
	MDB_val k = {klen, (void *)key};
	int rc = mdb_get(txn, s->dbi[db], &k, v);
	return rc != 0 ? mdb_err(NULL, rc, vx_store_db_names[db]) : 0;
}

static int
get_msg(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, const void *key, size_t klen,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc, void **out)
{
	MDB_val v;
	int rc = get_raw(txn, s, db, key, klen, &v);
	return rc != 0 ? rc : unpack(desc, alloc, &v, out);
}

/* A key of 8 big-endian id bytes followed by a string. */
static int
id_str_key(uint8_t *buf, uint64_t id, const char *str, size_t *klen)
{
	*klen = vx_store_id_str_key(buf, KEY_MAX, id, str);
	return *klen ? 0 : VX_EINVAL;
}

/* protobuf-c takes a NULL allocator to mean malloc; so do we. */
static void *
alloc_mem(ProtobufCAllocator *a, size_t n)
{
	return a ? a->alloc(a->allocator_data, n) : malloc(n);
}

static void
free_mem(ProtobufCAllocator *a, void *p)
{
	if (a)
		a->free(a->allocator_data, p);
	else
		free(p);
}

/*
 * Appends every record whose key starts with prefix (or every record when
 * plen is 0) to a growing array, in key order, starting at the first key
 * >= start (slen > 0) or at the range's start. reverse walks backwards
 * from the range's end instead.
 */
static int
list_scan(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, const void *prefix, size_t plen,
    const void *start, size_t slen, bool reverse, size_t limit,
    const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc, void ***out,
    size_t *n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	void **arr = NULL, **bigger;
	size_t cap = 0, cnt = 0;
	uint8_t end[16];
	int rc, op;

	*out = NULL;
	*n = 0;
	if ((rc = mdb_cursor_open(txn, s->dbi[db], &cur)) != 0)
		return mdb_err(NULL, rc, "cursor");
	if (!reverse) {
		k.mv_size = slen ? slen : plen;
		k.mv_data = (void *)(slen ? start : prefix);
		rc = mdb_cursor_get(cur, &k, &v, k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
		op = MDB_NEXT;
	} else if (plen == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		op = MDB_PREV;
	} else {
		/* Position just past the range: the prefix plus 0xff bytes. */
		memcpy(end, prefix, plen);
		memset(end + plen, 0xff, sizeof(end) - plen);
		k.mv_size = sizeof(end);
		k.mv_data = end;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		else if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
		op = MDB_PREV;
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, op)) {
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if (limit && cnt == limit)
			break;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = alloc_mem(alloc, cap * sizeof(void *));
			if (bigger == NULL) {
				rc = VX_ENOMEM;
				goto out;
			}
			if (cnt)
				memcpy(bigger, arr, cnt * sizeof(void *));
			if (arr)
				free_mem(alloc, arr);
			arr = bigger;
		}
		if ((rc = unpack(desc, alloc, &v, &arr[cnt])) != 0)
			goto out;
		cnt++;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : mdb_err(NULL, rc, "cursor");
out:
	mdb_cursor_close(cur);
	if (rc != 0) {
		for (size_t i = 0; i < cnt; i++)
			protobuf_c_message_free_unpacked(arr[i], alloc);
		if (arr)
			free_mem(alloc, arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

static int
list_range(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, const void *prefix, size_t plen,
    bool reverse, size_t limit, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, void ***out, size_t *n)
{
	return list_scan(txn, s, db, prefix, plen, NULL, 0, reverse, limit, desc, alloc, out, n);
}

/* Like list_range, forwards from key `start`, within start's first plen bytes. */
static int
list_from(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, const void *start, size_t slen,
    size_t plen, size_t limit, const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *alloc, void ***out, size_t *n)
{
	return list_scan(txn, s, db, start, plen, start, slen, false, limit, desc, alloc, out, n);
}

/* Deletes every key starting with prefix; calls each(value) first if set. */
static int
del_range(vx_wtxn *w, enum vx_dbi_id db, const void *prefix, size_t plen,
    int (*each)(vx_wtxn *, const MDB_val *, const MDB_val *))
{
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc;

	if ((rc = mdb_cursor_open(w->txn, w->s->dbi[db], &cur)) != 0)
		return mdb_err(w, rc, "cursor");
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
		if (each != NULL && (rc = each(w, &k, &v)) != 0)
			goto out;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
	}
	rc = (rc == MDB_NOTFOUND || rc == 0 || rc == EINVAL) ? 0 : mdb_err(w, rc, "delete range");
out:
	mdb_cursor_close(cur);
	return rc;
}

/* ---- sequences, metadata, logs ---- */

int
vx_store_meta_get(MDB_txn *txn, vx_store *s, const char *key, void *buf,
    size_t cap, size_t *len)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc != 0)
		return mdb_err(NULL, rc, "meta");
	if (v.mv_size > cap)
		return VX_EINVAL;
	memcpy(buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return 0;
}

int
vx_store_meta_put(vx_wtxn *w, const char *key, const void *val, size_t len)
{
	return put_raw(w, DB_META, key, strlen(key), val, len);
}

int
vx_store_seq_last(MDB_txn *txn, vx_store *s, enum vx_seq seq, uint64_t *last)
{
	uint8_t buf[8];
	size_t len;
	int rc = vx_store_meta_get(txn, s, vx_store_seq_names[seq], buf, sizeof(buf), &len);

	*last = 0;
	if (rc == 0 && len == 8)
		*last = vx_be64_get(buf);
	else if (rc != 0 && rc != VX_ENOTFOUND)
		return rc;
	return 0;
}

int
vx_store_next_id(vx_wtxn *w, enum vx_seq seq, uint64_t *id)
{
	uint8_t buf[8];
	size_t len;
	uint64_t cur = 0;
	int rc;

	rc = vx_store_meta_get(w->txn, w->s, vx_store_seq_names[seq], buf, sizeof(buf), &len);
	if (rc == 0 && len == 8)
		cur = vx_be64_get(buf);
	else if (rc != 0 && rc != VX_ENOTFOUND)
		return rc;
	vx_be64_put(buf, ++cur);
	if ((rc = vx_store_meta_put(w, vx_store_seq_names[seq], buf, 8)) != 0)
		return rc;
	*id = cur;
	return 0;
}

/* Counts a project's audit entries (once, for a log that has no count). */
static int
audit_count_scan(vx_wtxn *w, uint64_t project_id, uint64_t *n)
{
	uint8_t prefix[8];
	MDB_cursor *cur;
	MDB_val k = {sizeof(prefix), prefix}, v;
	int rc;

	*n = 0;
	vx_be64_put(prefix, project_id);
	if ((rc = mdb_cursor_open(w->txn, w->s->dbi[DB_AUDIT], &cur)) != 0)
		return mdb_err(w, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, prefix, 8) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		(*n)++;
	mdb_cursor_close(cur);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : mdb_err(w, rc, "count audit");
}

/*
 * After an audit entry of project_id was appended: keeps the project's
 * count, and drops its oldest entries while it has more than audit_keep,
 * at most VX_STORE_AUDIT_TRIM_MAX (store.h). With no audit_keep a count
 * already kept is kept up (it stays right should audit_keep come back),
 * and none is started.
 */
static int
audit_trim(vx_wtxn *w, uint64_t project_id)
{
	char name[40];
	uint8_t buf[8], prefix[8];
	size_t len, keep = w->s->audit_keep;
	uint64_t n;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	snprintf(
	    name, sizeof(name), VX_STORE_AUDIT_COUNT_KEY, (unsigned long long)project_id);
	rc = vx_store_meta_get(w->txn, w->s, name, buf, sizeof(buf), &len);
	if (rc == 0 && len == 8)
		n = vx_be64_get(buf) + 1;
	else if (rc != 0 && rc != VX_ENOTFOUND)
		return rc;
	else if (keep == 0)
		return 0;
	else if ((rc = audit_count_scan(w, project_id, &n)) != 0)
		return rc;
	if (keep > 0 && n > keep) {
		vx_be64_put(prefix, project_id);
		if ((rc = mdb_cursor_open(w->txn, w->s->dbi[DB_AUDIT], &cur)) != 0)
			return mdb_err(w, rc, "cursor");
		/* The oldest first: sequences grow, so it is the range's start. */
		for (int i = 0; i < VX_STORE_AUDIT_TRIM_MAX && n > keep; i++) {
			k.mv_size = sizeof(prefix);
			k.mv_data = prefix;
			if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0 ||
			    k.mv_size != 16 || memcmp(k.mv_data, prefix, 8) != 0 ||
			    (rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			n--;
			w->audit_trimmed++;
		}
		mdb_cursor_close(cur);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return mdb_err(w, rc, "trim audit");
	}
	vx_be64_put(buf, n);
	return vx_store_meta_put(w, name, buf, 8);
}

static int
audit_put(vx_wtxn *w, uint64_t project_id, uint64_t revision, Vexil__V1__ChangeKind kind,
    const char *target, const char *actor, const char *method)
{
	Vexil__V1__AuditEntry a = VEXIL__V1__AUDIT_ENTRY__INIT;
	uint8_t key[16];
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_AUDIT, &a.seq)) != 0)
		return rc;
	a.time = vx_now_ms();
	a.actor = (char *)(actor ? actor : "");
	a.method = (char *)(method ? method : "");
	a.project_id = project_id;
	a.revision = revision;
	a.kind = kind;
	a.target = (char *)(target ? target : "");
	a.schedule_id = w->r != NULL ? w->r->schedule_id : 0;
	a.detail = (char *)(w->audit_detail ? w->audit_detail : "");
	w->audit_detail = NULL;
	vx_be64_put(key, project_id);
	vx_be64_put(key + 8, a.seq);
	if ((rc = put_msg(w, DB_AUDIT, key, sizeof(key), &a.base)) != 0)
		return rc;
	return audit_trim(w, project_id);
}

void
vx_store_audit_detail(vx_wtxn *w, const char *detail)
{
	w->audit_detail = detail;
}

int
vx_store_audit(vx_wtxn *w, uint64_t project_id, Vexil__V1__ChangeKind kind,
    const char *target, const char *actor, const char *method)
{
	return audit_put(w, project_id, 0, kind, target, actor, method);
}

int
vx_store_record_change(vx_wtxn *w, Vexil__V1__Project *project,
    Vexil__V1__ChangeKind kind, const char *environment, const char *flag_key,
    uint64_t entity_id, const char *actor, const char *method)
{
	Vexil__V1__Change *c;
	uint8_t key[16];
	int rc;

	if (w->nchanges == MAX_CHANGES)
		return VX_EINVAL;
	if (w->r != NULL && w->r->if_revision != 0) {
		bool first = true;
		for (size_t i = 0; first && i < w->nchanges; i++)
			first = w->changes[i].project_id != project->id;
		if (first && project->revision != w->r->if_revision) {
			w->r->stale_revision = project->revision;
			return VX_ESTALE;
		}
	}
	project->revision++;
	vx_be64_put(key, project->id);
	if (kind != VEXIL__V1__CHANGE_KIND__PROJECT_DELETED &&
	    (rc = put_msg(w, DB_PROJECTS, key, 8, &project->base)) != 0)
		return rc;

	c = &w->changes[w->nchanges];
	vexil__v1__change__init(c);
	c->revision = project->revision;
	c->project_id = project->id;
	c->kind = kind;
	c->entity_id = entity_id;
	c->time = vx_now_ms();
	c->environment = strdup(environment ? environment : "");
	c->flag_key = strdup(flag_key ? flag_key : "");
	if (c->environment == NULL || c->flag_key == NULL) {
		free(c->environment);
		free(c->flag_key);
		return VX_ENOMEM;
	}
	w->nchanges++;
	vx_be64_put(key + 8, c->revision);
	if ((rc = put_msg(w, DB_CHANGES, key, sizeof(key), &c->base)) != 0 ||
	    (rc = vx_store_changes_trim(w, project->id, c->revision, w->s->change_keep)) != 0)
		return rc;
	return audit_put(w, project->id, c->revision, kind,
	    flag_key && *flag_key ? flag_key : (environment ? environment : ""), actor,
	    method);
}

int
vx_store_changes(MDB_txn *txn, vx_store *s, uint64_t project_id, uint64_t since,
    size_t limit, ProtobufCAllocator *alloc, Vexil__V1__Change ***out, size_t *n,
    uint64_t *oldest)
{
	uint8_t key[16];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	/* The oldest retained entry tells the caller whether `since` is
	 * still covered by the log. */
	*oldest = 0;
	vx_be64_put(key, project_id);
	vx_be64_put(key + 8, 0);
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_CHANGES], &cur)) != 0)
		return mdb_err(NULL, rc, "cursor");
	k.mv_size = sizeof(key);
	k.mv_data = key;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, key, 8) == 0)
		*oldest = vx_be64_get((const uint8_t *)k.mv_data + 8);
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_err(NULL, rc, "cursor");
	vx_be64_put(key + 8, since + 1);
	return list_from(txn, s, DB_CHANGES, key, sizeof(key), 8, limit,
	    &vexil__v1__change__descriptor, alloc, (void ***)out, n);
}

int
vx_store_changes_trim(vx_wtxn *w, uint64_t project_id, uint64_t revision, size_t keep)
{
	uint8_t key[16];
	int rc;

	if (keep == 0 || revision <= keep)
		return 0;
	/* One write appends one entry, so dropping the one that fell out of
	 * the window keeps the log at `keep` entries. */
	vx_be64_put(key, project_id);
	vx_be64_put(key + 8, revision - keep);
	rc = del_key(w, DB_CHANGES, key, sizeof(key));
	return rc == VX_ENOTFOUND ? 0 : rc;
}

int
vx_store_audit_list(MDB_txn *txn, vx_store *s, uint64_t project_id, size_t limit,
    ProtobufCAllocator *alloc, Vexil__V1__AuditEntry ***out, size_t *n)
{
	uint8_t prefix[8];
	vx_be64_put(prefix, project_id);
	return list_range(txn, s, DB_AUDIT, prefix, 8, true, limit,
	    &vexil__v1__audit_entry__descriptor, alloc, (void ***)out, n);
}

/* ---- projects ---- */

int
vx_store_project_get(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__Project **out)
{
	uint8_t key[8];
	vx_be64_put(key, id);
	return get_msg(txn, s, DB_PROJECTS, key, 8, &vexil__v1__project__descriptor,
	    alloc, (void **)out);
}

/* Project names are unique per owner: the index key is owner(8) + name. */
static int
name_key(uint8_t *k, uint64_t owner, const char *name, size_t *klen)
{
	size_t n = strlen(name);
	if (n == 0 || 8 + n > KEY_MAX)
		return VX_EINVAL;
	vx_be64_put(k, owner);
	memcpy(k + 8, name, n);
	*klen = 8 + n;
	return 0;
}

int
vx_store_project_find(MDB_txn *txn, vx_store *s, uint64_t owner, const char *name,
    uint64_t *id)
{
	uint8_t kb[KEY_MAX];
	MDB_val k, v;
	size_t klen;
	int rc;

	if (name_key(kb, owner, name, &klen) != 0)
		return VX_ENOTFOUND;
	k.mv_size = klen;
	k.mv_data = kb;
	if ((rc = mdb_get(txn, s->dbi[DB_PROJECT_NAMES], &k, &v)) != 0)
		return mdb_err(NULL, rc, "project name");
	if (v.mv_size != 8)
		return VX_EIO;
	*id = vx_be64_get(v.mv_data);
	return 0;
}

int
vx_store_project_put(vx_wtxn *w, const Vexil__V1__Project *p)
{
	uint8_t key[8], nk[KEY_MAX];
	size_t nlen;
	uint64_t other;
	Vexil__V1__Project *old = NULL;
	int rc;

	if (p->name == NULL || name_key(nk, p->owner_user_id, p->name, &nlen) != 0)
		return VX_EINVAL;
	rc = vx_store_project_find(w->txn, w->s, p->owner_user_id, p->name, &other);
	if (rc == 0 && other != p->id)
		return VX_EEXIST;
	if (rc != 0 && rc != VX_ENOTFOUND)
		return rc;
	/* A rename frees the old name. */
	rc = vx_store_project_get(w->txn, w->s, p->id, NULL, &old);
	if (rc == 0) {
		uint8_t ok[KEY_MAX];
		size_t olen;
		if (strcmp(old->name, p->name) != 0 &&
		    name_key(ok, old->owner_user_id, old->name, &olen) == 0)
			rc = del_key(w, DB_PROJECT_NAMES, ok, olen);
		protobuf_c_message_free_unpacked(&old->base, NULL);
		if (rc != 0)
			return rc;
	} else if (rc != VX_ENOTFOUND) {
		return rc;
	}
	vx_be64_put(key, p->id);
	if ((rc = put_raw(w, DB_PROJECT_NAMES, nk, nlen, key, 8)) != 0)
		return rc;
	return put_msg(w, DB_PROJECTS, key, 8, &p->base);
}

static int
del_flag_id(vx_wtxn *w, const MDB_val *k, const MDB_val *v)
{
	Vexil__V1__Flag *f;
	uint8_t key[8];
	int rc;

	(void)k;
	if ((rc = unpack(&vexil__v1__flag__descriptor, NULL, v, (void **)&f)) != 0)
		return rc;
	vx_be64_put(key, f->id);
	protobuf_c_message_free_unpacked(&f->base, NULL);
	rc = del_key(w, DB_FLAG_IDS, key, 8);
	return rc == VX_ENOTFOUND ? 0 : rc;
}

/* Drops a project's schedules (keyed by id: a scan, they are few). */
static int
del_schedules(vx_wtxn *w, uint64_t project_id)
{
	Vexil__V1__Schedule *sc;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(w->txn, w->s->dbi[DB_SCHEDULES], &cur)) != 0)
		return mdb_err(w, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		sc = vexil__v1__schedule__unpack(NULL, v.mv_size, v.mv_data);
		bool mine = sc != NULL && sc->project_id == project_id;
		if (sc != NULL)
			vexil__v1__schedule__free_unpacked(sc, NULL);
		if (mine && (rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mdb_err(w, rc, "schedules");
}

int
vx_store_project_del(vx_wtxn *w, const Vexil__V1__Project *p)
{
	uint8_t key[8];
	int rc;

	vx_be64_put(key, p->id);
	if ((rc = del_range(w, DB_FLAGS, key, 8, del_flag_id)) != 0 ||
	    (rc = del_range(w, DB_ENVS, key, 8, NULL)) != 0 ||
	    (rc = del_range(w, DB_SEGMENTS, key, 8, NULL)) != 0 ||
	    (rc = del_range(w, DB_EVAL_COUNTS, key, 8, NULL)) != 0 ||
	    (rc = del_range(w, DB_EVAL_LOG, key, 8, NULL)) != 0 ||
	    (rc = del_schedules(w, p->id)) != 0)
		return rc;
	uint8_t nk[KEY_MAX];
	size_t nlen;
	if (name_key(nk, p->owner_user_id, p->name, &nlen) == 0) {
		rc = del_key(w, DB_PROJECT_NAMES, nk, nlen);
		if (rc != 0 && rc != VX_ENOTFOUND)
			return rc;
	}
	return del_key(w, DB_PROJECTS, key, 8);
}

int
vx_store_project_list(MDB_txn *txn, vx_store *s, ProtobufCAllocator *alloc,
    Vexil__V1__Project ***out, size_t *n)
{
	return list_range(txn, s, DB_PROJECTS, NULL, 0, false, 0,
	    &vexil__v1__project__descriptor, alloc, (void ***)out, n);
}

/* ---- environments ---- */

int
vx_store_env_get(MDB_txn *txn, vx_store *s, uint64_t project_id, const char *key,
    ProtobufCAllocator *alloc, Vexil__V1__Environment **out)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, project_id, key, &klen) != 0)
		return VX_ENOTFOUND;
	return get_msg(txn, s, DB_ENVS, k, klen, &vexil__v1__environment__descriptor,
	    alloc, (void **)out);
}

int
vx_store_env_put(vx_wtxn *w, const Vexil__V1__Environment *e)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, e->project_id, e->key, &klen) != 0)
		return VX_EINVAL;
	return put_msg(w, DB_ENVS, k, klen, &e->base);
}

int
vx_store_env_del(vx_wtxn *w, uint64_t project_id, const char *key)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, project_id, key, &klen) != 0)
		return VX_ENOTFOUND;
	return del_key(w, DB_ENVS, k, klen);
}

int
vx_store_env_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Environment ***out, size_t *n)
{
	uint8_t prefix[8];
	vx_be64_put(prefix, project_id);
	return list_range(txn, s, DB_ENVS, prefix, 8, false, 0,
	    &vexil__v1__environment__descriptor, alloc, (void ***)out, n);
}

/* ---- flags ---- */

int
vx_store_flag_get(MDB_txn *txn, vx_store *s, uint64_t project_id, const char *key,
    ProtobufCAllocator *alloc, Vexil__V1__Flag **out)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, project_id, key, &klen) != 0)
		return VX_ENOTFOUND;
	return get_msg(txn, s, DB_FLAGS, k, klen, &vexil__v1__flag__descriptor, alloc,
	    (void **)out);
}

int
vx_store_flag_get_packed(MDB_txn *txn, vx_store *s, uint64_t project_id, const char *key,
    ProtobufCBinaryData *out)
{
	uint8_t k[KEY_MAX];
	MDB_val v;
	size_t klen;
	int rc;

	if (id_str_key(k, project_id, key, &klen) != 0)
		return VX_ENOTFOUND;
	if ((rc = get_raw(txn, s, DB_FLAGS, k, klen, &v)) != 0)
		return rc;
	out->len = v.mv_size;
	out->data = v.mv_data;
	return 0;
}

int
vx_store_flag_get_by_id(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__Flag **out)
{
	uint8_t key[8];
	MDB_val k = {8, key}, v;
	int rc;

	vx_be64_put(key, id);
	if ((rc = mdb_get(txn, s->dbi[DB_FLAG_IDS], &k, &v)) != 0)
		return mdb_err(NULL, rc, "flag id");
	return get_msg(txn, s, DB_FLAGS, v.mv_data, v.mv_size,
	    &vexil__v1__flag__descriptor, alloc, (void **)out);
}

int
vx_store_flag_put(vx_wtxn *w, const Vexil__V1__Flag *f)
{
	uint8_t k[KEY_MAX], id[8];
	size_t klen;
	int rc;

	if (id_str_key(k, f->project_id, f->key, &klen) != 0)
		return VX_EINVAL;
	vx_be64_put(id, f->id);
	if ((rc = put_raw(w, DB_FLAG_IDS, id, 8, k, klen)) != 0)
		return rc;
	return put_msg(w, DB_FLAGS, k, klen, &f->base);
}

int
vx_store_flag_del(vx_wtxn *w, const Vexil__V1__Flag *f)
{
	uint8_t k[KEY_MAX], id[8];
	size_t klen;
	int rc;

	if (id_str_key(k, f->project_id, f->key, &klen) != 0)
		return VX_ENOTFOUND;
	vx_be64_put(id, f->id);
	rc = del_key(w, DB_FLAG_IDS, id, 8);
	if (rc != 0 && rc != VX_ENOTFOUND)
		return rc;
	return del_key(w, DB_FLAGS, k, klen);
}

int
vx_store_flag_page(MDB_txn *txn, vx_store *s, uint64_t project_id, size_t offset,
    size_t limit, bool (*keep)(const Vexil__V1__Flag *, void *), void *arg,
    ProtobufCAllocator *alloc, Vexil__V1__Flag ***out, size_t *n, size_t *total)
{
	uint8_t prefix[8];
	MDB_cursor *cur;
	MDB_val k, v;
	Vexil__V1__Flag **arr = NULL, *f;
	size_t seen = 0, cnt = 0;
	int rc;

	*out = NULL;
	*n = *total = 0;
	if (limit && (arr = alloc_mem(alloc, limit * sizeof(*arr))) == NULL)
		return VX_ENOMEM;
	vx_be64_put(prefix, project_id);
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_FLAGS], &cur)) != 0) {
		free_mem(alloc, arr);
		return mdb_err(NULL, rc, "cursor");
	}
	k.mv_size = 8;
	k.mv_data = prefix;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 8 || memcmp(k.mv_data, prefix, 8) != 0)
			break;
		/* Only a filter needs to look inside records outside the page. */
		if (keep != NULL) {
			if ((rc = unpack(&vexil__v1__flag__descriptor, NULL, &v, (void **)&f)) != 0)
				goto out;
			bool kept = keep(f, arg);
			protobuf_c_message_free_unpacked(&f->base, NULL);
			if (!kept)
				continue;
		}
		if (seen++ < offset || cnt == limit || limit == 0)
			continue;
		if ((rc = unpack(&vexil__v1__flag__descriptor, alloc, &v, (void **)&arr[cnt])) != 0)
			goto out;
		cnt++;
	}
	rc = (rc == MDB_NOTFOUND || rc == 0) ? 0 : mdb_err(NULL, rc, "cursor");
out:
	mdb_cursor_close(cur);
	if (rc != 0) {
		for (size_t i = 0; i < cnt; i++)
			protobuf_c_message_free_unpacked(&arr[i]->base, alloc);
		free_mem(alloc, arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	*total = seen;
	return 0;
}

int
vx_store_flag_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Flag ***out, size_t *n)
{
	uint8_t prefix[8];
	vx_be64_put(prefix, project_id);
	return list_range(txn, s, DB_FLAGS, prefix, 8, false, 0,
	    &vexil__v1__flag__descriptor, alloc, (void ***)out, n);
}

/* ---- segments ---- */

int
vx_store_segment_get(MDB_txn *txn, vx_store *s, uint64_t project_id, const char *name,
    ProtobufCAllocator *alloc, Vexil__V1__Segment **out)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, project_id, name, &klen) != 0)
		return VX_ENOTFOUND;
	return get_msg(txn, s, DB_SEGMENTS, k, klen, &vexil__v1__segment__descriptor,
	    alloc, (void **)out);
}

int
vx_store_segment_put(vx_wtxn *w, const Vexil__V1__Segment *g)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, g->project_id, g->name, &klen) != 0)
		return VX_EINVAL;
	return put_msg(w, DB_SEGMENTS, k, klen, &g->base);
}

int
vx_store_segment_del(vx_wtxn *w, uint64_t project_id, const char *name)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	if (id_str_key(k, project_id, name, &klen) != 0)
		return VX_ENOTFOUND;
	return del_key(w, DB_SEGMENTS, k, klen);
}

int
vx_store_segment_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Segment ***out, size_t *n)
{
	uint8_t prefix[8];
	vx_be64_put(prefix, project_id);
	return list_range(txn, s, DB_SEGMENTS, prefix, 8, false, 0,
	    &vexil__v1__segment__descriptor, alloc, (void ***)out, n);
}

/* ---- API keys and SDK keys: a record by id plus an index by hash ---- */

static int
key_get(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, const ProtobufCMessageDescriptor *desc,
    uint64_t id, ProtobufCAllocator *alloc, void **out)
{
	uint8_t key[8];
	vx_be64_put(key, id);
	return get_msg(txn, s, db, key, 8, desc, alloc, out);
}

static int
key_find(MDB_txn *txn, vx_store *s, enum vx_dbi_id db, enum vx_dbi_id hashdb,
    const ProtobufCMessageDescriptor *desc, const uint8_t hash[32],
    ProtobufCAllocator *alloc, void **out)
{
	MDB_val k = {32, (void *)hash}, v;
	int rc;

	if ((rc = mdb_get(txn, s->dbi[hashdb], &k, &v)) != 0)
		return mdb_err(NULL, rc, vx_store_db_names[hashdb]);
	if (v.mv_size != 8)
		return VX_EIO;
	return key_get(txn, s, db, desc, vx_be64_get(v.mv_data), alloc, out);
}

static int
key_put(vx_wtxn *w, enum vx_dbi_id db, enum vx_dbi_id hashdb, uint64_t id,
    const ProtobufCBinaryData *hash, const ProtobufCMessage *m)
{
	uint8_t key[8];
	int rc;

	if (hash->len != 32)
		return VX_EINVAL;
	vx_be64_put(key, id);
	if ((rc = put_raw(w, hashdb, hash->data, 32, key, 8)) != 0)
		return rc;
	return put_msg(w, db, key, 8, m);
}

int
vx_store_apikey_get(MDB_txn *txn, vx_store *s, uint64_t id, ProtobufCAllocator *alloc,
    Vexil__V1__ApiKey **out)
{
	return key_get(txn, s, DB_APIKEYS, &vexil__v1__api_key__descriptor, id, alloc,
	    (void **)out);
}

int
vx_store_apikey_find(MDB_txn *txn, vx_store *s, const uint8_t hash[32],
    ProtobufCAllocator *alloc, Vexil__V1__ApiKey **out)
{
	return key_find(txn, s, DB_APIKEYS, DB_APIKEY_HASHES, &vexil__v1__api_key__descriptor,
	    hash, alloc, (void **)out);
}

int
vx_store_apikey_put(vx_wtxn *w, const Vexil__V1__ApiKey *k)
{
	return key_put(w, DB_APIKEYS, DB_APIKEY_HASHES, k->id, &k->hash, &k->base);
}

int
vx_store_apikey_list(MDB_txn *txn, vx_store *s, ProtobufCAllocator *alloc,
    Vexil__V1__ApiKey ***out, size_t *n)
{
	return list_range(txn, s, DB_APIKEYS, NULL, 0, false, 0,
	    &vexil__v1__api_key__descriptor, alloc, (void ***)out, n);
}

int
vx_store_sdkkey_get(MDB_txn *txn, vx_store *s, uint64_t id, ProtobufCAllocator *alloc,
    Vexil__V1__SdkKey **out)
{
	return key_get(txn, s, DB_SDKKEYS, &vexil__v1__sdk_key__descriptor, id, alloc,
	    (void **)out);
}

int
vx_store_sdkkey_find(MDB_txn *txn, vx_store *s, const uint8_t hash[32],
    ProtobufCAllocator *alloc, Vexil__V1__SdkKey **out)
{
	return key_find(txn, s, DB_SDKKEYS, DB_SDKKEY_HASHES, &vexil__v1__sdk_key__descriptor,
	    hash, alloc, (void **)out);
}

int
vx_store_sdkkey_put(vx_wtxn *w, const Vexil__V1__SdkKey *k)
{
	return key_put(w, DB_SDKKEYS, DB_SDKKEY_HASHES, k->id, &k->hash, &k->base);
}

int
vx_store_sdkkey_list(MDB_txn *txn, vx_store *s, ProtobufCAllocator *alloc,
    Vexil__V1__SdkKey ***out, size_t *n)
{
	return list_range(txn, s, DB_SDKKEYS, NULL, 0, false, 0,
	    &vexil__v1__sdk_key__descriptor, alloc, (void ***)out, n);
}

/* ---- evaluation records ---- */

/* pid(8) day(4) kind(1) env NUL flag NUL variant */
#define COUNT_HEAD 13

static int
count_key(uint8_t *k, uint64_t pid, int32_t day, int kind, const char *env,
    const char *flag, const char *variant, size_t *klen)
{
	size_t a = strlen(env), b = strlen(flag), c = strlen(variant);
	if (COUNT_HEAD + a + b + c + 2 > KEY_MAX)
		return VX_EINVAL;
	vx_be64_put(k, pid);
	k[8] = (uint8_t)((uint32_t)day >> 24);
	k[9] = (uint8_t)((uint32_t)day >> 16);
	k[10] = (uint8_t)((uint32_t)day >> 8);
	k[11] = (uint8_t)day;
	k[12] = (uint8_t)kind;
	memcpy(k + COUNT_HEAD, env, a + 1);
	memcpy(k + COUNT_HEAD + 1 + a, flag, b + 1);
	memcpy(k + COUNT_HEAD + 2 + a + b, variant, c);
	*klen = COUNT_HEAD + 2 + a + b + c;
	return 0;
}

int
vx_store_evalcount_add(vx_wtxn *w, uint64_t project_id, int32_t day, int kind,
    const char *env, const char *flag, const char *variant, uint64_t delta)
{
	uint8_t k[KEY_MAX], val[8];
	MDB_val kv, v;
	size_t klen;
	uint64_t cur = 0;
	int rc;

	if ((rc = count_key(k, project_id, day, kind, env, flag, variant, &klen)) != 0)
		return rc;
	kv.mv_size = klen;
	kv.mv_data = k;
	rc = mdb_get(w->txn, w->s->dbi[DB_EVAL_COUNTS], &kv, &v);
	if (rc == 0 && v.mv_size == 8)
		cur = vx_be64_get(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_err(w, rc, "eval count");
	vx_be64_put(val, cur + delta);
	return put_raw(w, DB_EVAL_COUNTS, k, klen, val, 8);
}

int
vx_store_evalcount_each(MDB_txn *txn, vx_store *s, uint64_t project_id, int32_t from_day,
    int (*fn)(const Vexil__V1__EvalCount *c, void *arg), void *arg)
{
	uint8_t start[12];
	char variant[KEY_MAX + 1];
	MDB_cursor *cur;
	MDB_val k, v;
	Vexil__V1__EvalCount c;
	int rc;

	vx_be64_put(start, project_id);
	start[8] = (uint8_t)((uint32_t)from_day >> 24);
	start[9] = (uint8_t)((uint32_t)from_day >> 16);
	start[10] = (uint8_t)((uint32_t)from_day >> 8);
	start[11] = (uint8_t)from_day;
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_EVAL_COUNTS], &cur)) != 0)
		return mdb_err(NULL, rc, "cursor");
	k.mv_size = sizeof(start);
	k.mv_data = start;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *kp = (const char *)k.mv_data, *e, *f, *var;
		const uint8_t *ub = k.mv_data;
		if (k.mv_size < COUNT_HEAD + 2 || memcmp(k.mv_data, start, 8) != 0)
			break;
		/* Keys are NUL-separated; the variant runs to the key's end. */
		e = kp + COUNT_HEAD;
		f = memchr(e, 0, k.mv_size - COUNT_HEAD);
		if (f == NULL || v.mv_size != 8)
			continue;
		f++;
		var = memchr(f, 0, k.mv_size - (size_t)(f - kp));
		if (var == NULL)
			continue;
		var++;
		size_t vlen = k.mv_size - (size_t)(var - kp);
		memcpy(variant, var, vlen);
		variant[vlen] = '\0';
		vexil__v1__eval_count__init(&c);
		c.day = (int32_t)(((uint32_t)ub[8] << 24) | ((uint32_t)ub[9] << 16) |
		                  ((uint32_t)ub[10] << 8) | ub[11]);
		c.kind = ub[12] == VX_COUNT_EXPOSURE ? "exposure" : "evaluation";
		c.environment = (char *)e;
		c.flag_key = (char *)f;
		c.variant = variant;
		c.count = vx_be64_get(v.mv_data);
		if ((rc = fn(&c, arg)) != 0) {
			mdb_cursor_close(cur);
			return rc;
		}
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_err(NULL, rc, "cursor");
}

struct count_list {
	const char *env, *flag;
	ProtobufCAllocator *alloc;
	Vexil__V1__EvalCount **arr;
	size_t cnt, cap;
};

static int
count_collect(const Vexil__V1__EvalCount *in, void *arg)
{
	struct count_list *l = arg;
	Vexil__V1__EvalCount **bigger, *c;

	if ((*l->env && strcmp(l->env, in->environment) != 0) ||
	    (*l->flag && strcmp(l->flag, in->flag_key) != 0))
		return 0;
	if (l->cnt == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		if ((bigger = alloc_mem(l->alloc, l->cap * sizeof(*bigger))) == NULL)
			return VX_ENOMEM;
		if (l->cnt)
			memcpy(bigger, l->arr, l->cnt * sizeof(*bigger));
		free_mem(l->alloc, l->arr);
		l->arr = bigger;
	}
	size_t a = strlen(in->environment) + 1, b = strlen(in->flag_key) + 1,
	       v = strlen(in->variant) + 1;
	if ((c = alloc_mem(l->alloc, sizeof(*c) + a + b + v)) == NULL)
		return VX_ENOMEM;
	*c = *in;
	c->environment = memcpy((char *)(c + 1), in->environment, a);
	c->flag_key = memcpy((char *)(c + 1) + a, in->flag_key, b);
	c->variant = memcpy((char *)(c + 1) + a + b, in->variant, v);
	l->arr[l->cnt++] = c;
	return 0;
}

int
vx_store_evalcount_list(MDB_txn *txn, vx_store *s, uint64_t project_id, int32_t from_day,
    const char *env, const char *flag, ProtobufCAllocator *alloc,
    Vexil__V1__EvalCount ***out, size_t *n)
{
	struct count_list l = {env, flag, alloc, NULL, 0, 0};
	int rc;

	*out = NULL;
	*n = 0;
	rc = vx_store_evalcount_each(txn, s, project_id, from_day, count_collect, &l);
	if (rc != 0) {
		for (size_t i = 0; i < l.cnt; i++)
			free_mem(alloc, l.arr[i]);
		free_mem(alloc, l.arr);
		return rc;
	}
	*out = l.arr;
	*n = l.cnt;
	return 0;
}

int
vx_store_evallog_append(vx_wtxn *w, const Vexil__V1__EvalRecord *r)
{
	uint8_t key[16];
	uint64_t seq;
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_EVALLOG, &seq)) != 0)
		return rc;
	vx_be64_put(key, r->project_id);
	vx_be64_put(key + 8, seq);
	return put_msg(w, DB_EVAL_LOG, key, sizeof(key), &r->base);
}

int
vx_store_evallog_trim(vx_wtxn *w, uint64_t project_id, size_t keep)
{
	uint8_t end[16];
	MDB_cursor *cur;
	MDB_val k, v;
	size_t seen = 0;
	int rc;

	/* Walk back from the end of the project's range past the newest
	 * `keep`, then delete everything older. */
	vx_be64_put(end, project_id);
	memset(end + 8, 0xff, 8);
	if ((rc = mdb_cursor_open(w->txn, w->s->dbi[DB_EVAL_LOG], &cur)) != 0)
		return mdb_err(w, rc, "cursor");
	k.mv_size = sizeof(end);
	k.mv_data = end;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
				: rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : rc;
	while (rc == 0 && memcmp(k.mv_data, end, 8) == 0 && seen < keep) {
		seen++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	}
	while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, end, 8) == 0) {
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	}
	mdb_cursor_close(cur);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : mdb_err(w, rc, "trim eval log");
}

int
vx_store_evallog_list(MDB_txn *txn, vx_store *s, uint64_t project_id, size_t limit,
    ProtobufCAllocator *alloc, Vexil__V1__EvalRecord ***out, size_t *n)
{
	uint8_t prefix[8];
	vx_be64_put(prefix, project_id);
	return list_range(txn, s, DB_EVAL_LOG, prefix, 8, true, limit,
	    &vexil__v1__eval_record__descriptor, alloc, (void ***)out, n);
}

/* ---- users ---- */

int
vx_store_user_get(MDB_txn *txn, vx_store *s, uint64_t id, ProtobufCAllocator *alloc,
    Vexil__V1__User **out)
{
	uint8_t key[8];
	vx_be64_put(key, id);
	return get_msg(txn, s, DB_USERS, key, 8, &vexil__v1__user__descriptor, alloc,
	    (void **)out);
}

int
vx_store_user_find(MDB_txn *txn, vx_store *s, const char *email, ProtobufCAllocator *alloc,
    Vexil__V1__User **out)
{
	MDB_val k = {strlen(email), (void *)email}, v;
	int rc;

	if (k.mv_size == 0 || k.mv_size > KEY_MAX)
		return VX_ENOTFOUND;
	if ((rc = mdb_get(txn, s->dbi[DB_USER_EMAILS], &k, &v)) != 0)
		return mdb_err(NULL, rc, "user email");
	if (v.mv_size != 8)
		return VX_EIO;
	return vx_store_user_get(txn, s, vx_be64_get(v.mv_data), alloc, out);
}

int
vx_store_user_put(vx_wtxn *w, const Vexil__V1__User *u)
{
	uint8_t key[8];
	int rc;

	if (u->email == NULL || *u->email == '\0' || strlen(u->email) > KEY_MAX)
		return VX_EINVAL;
	vx_be64_put(key, u->id);
	if ((rc = put_raw(w, DB_USER_EMAILS, u->email, strlen(u->email), key, 8)) != 0)
		return rc;
	return put_msg(w, DB_USERS, key, 8, &u->base);
}

/* ---- figures ---- */

int
vx_store_stats_get(MDB_txn *txn, vx_store *s, vx_store_stats *out)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val k, v;
	const char *dir;
	char path[4096];
	struct stat sb;
	int rc;

	memset(out, 0, sizeof(*out));
	out->writes_total = atomic_load_explicit(&s->writes, memory_order_relaxed);
	out->commits_total = atomic_load_explicit(&s->commits, memory_order_relaxed);
	out->audit_trimmed_total =
	    atomic_load_explicit(&s->audit_trimmed, memory_order_relaxed);
	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_stat(s->env, &st)) != 0)
		return mdb_err(NULL, rc, "env info");
	out->map_size_bytes = info.me_mapsize;
	out->map_max_bytes = s->map_max;
	out->pages_used = (uint64_t)info.me_last_pgno + 1;
	out->page_size_bytes = st.ms_psize;
	out->readers = info.me_numreaders;
	out->max_readers = info.me_maxreaders;
	if (mdb_env_get_path(s->env, &dir) == 0 &&
	    snprintf(path, sizeof(path), "%s/data.mdb", dir) < (int)sizeof(path) &&
	    stat(path, &sb) == 0)
		out->data_file_bytes = (uint64_t)sb.st_size;
	if ((rc = mdb_stat(txn, s->dbi[DB_CHANGES], &st)) != 0)
		return mdb_err(NULL, rc, "stat changes");
	out->change_log_entries = st.ms_entries;
	if ((rc = mdb_stat(txn, s->dbi[DB_AUDIT], &st)) != 0)
		return mdb_err(NULL, rc, "stat audit");
	out->audit_entries = st.ms_entries;
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_PROJECTS], &cur)) != 0)
		return mdb_err(NULL, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Vexil__V1__Project *p =
		    vexil__v1__project__unpack(NULL, v.mv_size, v.mv_data);
		out->projects++;
		if (p != NULL) {
			out->revisions += p->revision;
			vexil__v1__project__free_unpacked(p, NULL);
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mdb_err(NULL, rc, "projects");
}

/* ---- schedules ---- */

int
vx_store_schedule_get(MDB_txn *txn, vx_store *s, uint64_t id, ProtobufCAllocator *alloc,
    Vexil__V1__Schedule **out)
{
	return key_get(txn, s, DB_SCHEDULES, &vexil__v1__schedule__descriptor, id, alloc,
	    (void **)out);
}

int
vx_store_schedule_put(vx_wtxn *w, const Vexil__V1__Schedule *sc)
{
	uint8_t key[8];
	vx_be64_put(key, sc->id);
	return put_msg(w, DB_SCHEDULES, key, sizeof(key), &sc->base);
}

int
vx_store_schedule_del(vx_wtxn *w, uint64_t id)
{
	uint8_t key[8];
	vx_be64_put(key, id);
	return del_key(w, DB_SCHEDULES, key, sizeof(key));
}

int
vx_store_schedule_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Schedule ***out, size_t *n)
{
	Vexil__V1__Schedule **all;
	size_t m = 0;
	int rc;

	/* Schedules are few (changes waiting for their time), so one project's
	 * are a filtered scan rather than a second index to keep in step. */
	rc = list_range(txn, s, DB_SCHEDULES, NULL, 0, false, 0,
	    &vexil__v1__schedule__descriptor, alloc, (void ***)&all, n);
	if (rc != 0 || project_id == 0) {
		*out = all;
		return rc;
	}
	for (size_t i = 0; i < *n; i++) {
		if (all[i]->project_id == project_id)
			all[m++] = all[i];
		else
			protobuf_c_message_free_unpacked(&all[i]->base, alloc);
	}
	*n = m;
	*out = all;
	return 0;
}
