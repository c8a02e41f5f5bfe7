/*
 * Vexil — the LMDB store.
 *
 * vexild is the only process that opens the data dir. It holds one LMDB
 * environment with a named database per entity and per index; values are
 * protobuf-encoded model messages (proto/vexil/v1/model.proto). Keys that
 * belong to a project start with the project id as 8 big-endian bytes, so
 * one project's environments or flags are one cursor range, in key order.
 *
 * Reads go through a vx_store_reader: one read transaction per worker,
 * renewed for a request and reset after it, never held open for long.
 * Writes go through vx_store_write(): the whole body runs in one write
 * transaction, which also bumps the project revision and appends to the
 * change log and the audit log, and commits with sync before returning.
 * Writes that arrive together from several threads are group-committed:
 * one thread runs up to VX_STORE_BATCH_MAX of them in one transaction
 * (a body that fails is rolled back alone: the batch runs again with each
 * body nested), and commits them with one fsync before any of them
 * returns. When the map is full, or a body of a batch fails, the
 * transaction is aborted and the bodies run again (the map grown up to a
 * cap first), so a body must only touch the store and memory it can
 * redo. Committed changes are handed to the commit hook in
 * revision order, under the writer lock, which is where vexild publishes.
 *
 * Every returned message is unpacked into the allocator the caller passes
 * (usually a request arena) and never points into the memory map, so it
 * stays valid after the transaction ends. The caller frees it through the
 * same allocator.
 */
#ifndef VX_STORE_H
#define VX_STORE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "vexil/v1/model.pb-c.h"
#include "vexil/v1/schedule.pb-c.h"

typedef struct vx_store vx_store;

/* Entity id sequences; each kind counts from 1. */
enum vx_seq {
	VX_SEQ_PROJECT,
	VX_SEQ_ENV,
	VX_SEQ_FLAG,
	VX_SEQ_RULE,
	VX_SEQ_APIKEY,
	VX_SEQ_SDKKEY,
	VX_SEQ_USER,
	VX_SEQ_AUDIT,
	VX_SEQ_EVALLOG,
	VX_SEQ_SEGMENT,
	VX_SEQ_SCHEDULE,
	VX_SEQ_COUNT_
};

typedef void (*vx_store_commit_fn)(void *arg, const Vexil__V1__Change *const *changes,
    size_t n);

typedef struct vx_store_opts {
	const char *path;        /* data dir; created when missing */
	size_t map_size;         /* initial map size; 0: 64 MiB */
	size_t map_max;          /* growth cap; 0: 16 GiB */
	bool no_sync;            /* opt-in: commit without fsync (MDB_NOSYNC) */
	size_t change_log_keep;  /* change log entries kept per project; 0: 100000 */
	size_t audit_keep;       /* audit entries kept per project; 0: all */
	vx_store_commit_fn on_commit;  /* called after each commit, may be NULL */
	void *on_commit_arg;
} vx_store_opts;

/*
 * Opens (creating when needed) the environment in opts->path, clears stale
 * reader slots with mdb_reader_check(), and opens every database.
 * @param[out] out  the store, to be closed with vx_store_close().
 * @return 0, VX_EIO when the dir or environment cannot be opened (the
 *         reason is logged), VX_ENOMEM.
 */
int vx_store_open(vx_store **out, const vx_store_opts *opts) VX_MUST_USE;
/* Closes the environment. No reader or write may be in progress. */
void vx_store_close(vx_store *s);
/*
 * Writes a compacted copy of the environment (mdb_env_copy2 with
 * MDB_CP_COMPACT) while readers and writers go on: into dir/data.mdb (dir
 * must exist), or, when vx_store_backup_is_file(dir), into the file dir
 * itself, which must not exist yet. Holds the map steady, so a write that
 * needs to grow the map waits for the copy.
 * @param[out] bytes  the size of the copy.
 * @return 0, VX_EEXIST when the copy's file already exists, VX_EIO.
 */
int vx_store_backup(vx_store *s, const char *dir, uint64_t *bytes) VX_MUST_USE;
/* True when a backup path names a file: it ends in ".mdb" and is not an
 * existing directory. */
bool vx_store_backup_is_file(const char *path);
/* The current map size in bytes. */
size_t vx_store_map_size(vx_store *s);

/* ---- storage faults ---- */

/*
 * What the store can do now, for readiness. Reads are served in every
 * state but VX_STORE_FAILED after LMDB itself gave up (the reason says so).
 *
 *  - VX_STORE_DISK_FULL: a commit found no space on the device holding the
 *    data dir (ENOSPC or EDQUOT, or a short write with the device nearly
 *    full). Writes are refused VX_ENOSPC while it lasts and are tried again
 *    as they come; the state clears when space is back or a write commits.
 *  - VX_STORE_READ_ONLY: data.mdb cannot be written (a read-only mount,
 *    or no write bit left on it, which holds even for root). Clears when
 *    it can be written again.
 *  - VX_STORE_GONE: data.mdb was removed or replaced under vexild (rm -rf,
 *    an unmount): a write would go to a file nobody will open again.
 *  - VX_STORE_FAILED: a commit failed with an I/O error (a write or an
 *    fsync/fdatasync): what reached the disk is unknown, so writes stay
 *    refused until vexild restarts.
 * The last three refuse writes with VX_EUNAVAIL.
 */
enum vx_store_state {
	VX_STORE_OK,
	VX_STORE_DISK_FULL,
	VX_STORE_READ_ONLY,
	VX_STORE_GONE,
	VX_STORE_FAILED,
};

/* "ok", "disk_full", "read_only", "gone", "failed". */
const char *vx_store_state_name(enum vx_store_state st);
/*
 * The store's state now, looking at the data dir as a write would, with
 * a sentence for an operator in why (cap bytes; "" when VX_STORE_OK).
 */
enum vx_store_state vx_store_state(vx_store *s, char *why, size_t cap);
/*
 * The message for a write refused with err (VX_ENOSPC or VX_EUNAVAIL):
 * what happened and what to do, into buf (cap bytes). Other codes get
 * vx_strerror(err).
 */
void vx_store_refusal(vx_store *s, int err, char *buf, size_t cap);
/*
 * Space on the device holding path: bytes this process may still use
 * (root may use the reserved blocks) and the device's size.
 * @return 0, or VX_EIO when statvfs fails.
 */
int vx_store_device_space(const char *path, uint64_t *avail, uint64_t *total) VX_MUST_USE;

/* ---- reading ---- */

typedef struct vx_store_reader {
	vx_store *s;
	MDB_txn *txn;   /* active between acquire and release */
	bool active;
	/*
	 * The request's write precondition (a request's if_revision): when
	 * not 0, a write passed this reader records a change to a project only
	 * if that project's revision was exactly this when the write began,
	 * and otherwise fails with VX_ESTALE, setting stale_revision to the
	 * revision found. Set by whoever serves the request; 0 after init.
	 */
	uint64_t if_revision;
	uint64_t stale_revision;
	/*
	 * Scheduled writes (server/schedule.c). dry_run: a write passed this
	 * reader runs its body and is then aborted, reporting success without
	 * committing or notifying anyone (how a schedule is checked when it is
	 * made). schedule_id: the write is schedule schedule_id's; it removes
	 * the schedule in the same transaction (failing VX_ENOTFOUND when the
	 * schedule is gone: cancelled meanwhile), its audit entries carry the
	 * id, and schedule_done is set once it has committed. Set by whoever
	 * serves the request; false and 0 after init.
	 */
	bool dry_run;
	uint64_t schedule_id;
	bool schedule_done;
	/*
	 * Set by a write passed this reader once it has committed with
	 * changes: the project and revision of its last change (so a reply
	 * can name what it made). Left as they were by a write that failed or
	 * changed no project; whoever serves the request clears them.
	 */
	uint64_t committed_project;
	uint64_t committed_revision;
} vx_store_reader;

/* Prepares a reader; takes no transaction yet. */
void vx_store_reader_init(vx_store_reader *r, vx_store *s);
/*
 * Aborts the reader's transaction, which frees its LMDB reader slot (a
 * reset one keeps it). The reader may be acquired again, with a new one.
 */
void vx_store_reader_fini(vx_store_reader *r);
/*
 * Starts (or renews) the reader's read transaction and pins the map.
 * @return 0, VX_EUNAVAIL when LMDB refuses every transaction after a
 *         failed commit, or VX_EIO.
 */
int vx_store_reader_acquire(vx_store_reader *r) VX_MUST_USE;
/* Resets the read transaction and unpins the map. Safe to call twice. */
void vx_store_reader_release(vx_store_reader *r);
/*
 * Takes the map's pages out of this process's page tables
 * (madvise(MADV_DONTNEED) on LMDB's read-only shared map), after a bulk
 * read that left megabytes mapped which nothing will read again soon (a
 * flag set compiled from thousands of flags). The pages stay in the page
 * cache: a later read maps them again, without I/O while they are cached.
 * They stop counting in vexild's resident set and can be reclaimed without
 * being unmapped first. Data is never lost: the map is read-only and the
 * file is its backing. txn is a live transaction of s in this thread,
 * which keeps the map in place, or NULL when this thread has none (the
 * map is then held in place for the call). Costs a walk of the page
 * tables, and the minor faults that map back what is read next; no I/O.
 */
void vx_store_unmap(MDB_txn *txn, vx_store *s);

/* ---- writing ---- */

typedef struct vx_wtxn vx_wtxn;

/*
 * LMDB reader slots: one per read transaction open or reset in any
 * process on the data dir. vexild's request slots hold one only while
 * receiving or serving (a parked long-poll, a request queued to a lane and
 * a spare slot give theirs back), so at most --workers (1024) plus its
 * lanes' threads, with room for the record flusher and vexilctl's offline
 * commands.
 */
#define VX_STORE_MAX_READERS 2048

/* Writes group-committed in one transaction at most. */
#define VX_STORE_BATCH_MAX 64

/* A write body. Returns 0 to commit, or a VX_E* code to abort. */
typedef int (*vx_store_write_fn)(vx_wtxn *w, void *arg);

/*
 * Runs fn in one write transaction and commits it (with fsync unless the
 * store was opened with no_sync), returning once it is durable. When
 * other threads write at the same time, fn may run on one of theirs,
 * inside a batch that commits once for all (group commit), and more than
 * once: fn must not rely on the calling thread. fn failing aborts
 * this write only; a failed commit fails every write of the batch, and
 * none is reported done. The commit hook sees each write's changes in the
 * order the writes were applied. A reader the calling thread holds must
 * be passed as r: it is released first, because growing the map waits
 * for every reader, and is left released. r's if_revision applies to the
 * write (see vx_store_reader).
 * A failed commit is never reported as done: see vx_store_state for how
 * it is classified.
 * @return fn's code when it fails (VX_ESTALE from vx_store_record_change
 *         when r's precondition does not hold); VX_EFULL when the map is at its cap;
 *         VX_ENOSPC when the device holding the data dir is full;
 *         VX_EUNAVAIL when the data dir is read-only or gone, or writes
 *         stopped after a failed commit (vx_store_refusal says which);
 *         VX_EIO on another storage error; otherwise 0, after the commit
 *         hook has seen the changes.
 */
int vx_store_write(vx_store *s, vx_store_reader *r, vx_store_write_fn fn, void *arg)
    VX_MUST_USE;
/* Writes queued for the next group commit (not yet in a running one). */
size_t vx_store_writes_waiting(vx_store *s);
/* The transaction behind a write body, for the store's own functions. */
MDB_txn *vx_wtxn_txn(vx_wtxn *w);

/*
 * Records a committed change to a project inside the write: bumps the
 * project's revision by one (updating *project in place and in the store),
 * appends a Change to the change log and an AuditEntry to the audit log.
 * @param actor   who made the change, "apikey:<id>" or "user:<id>".
 * @param method  the RPC, for the audit log.
 * @return 0, VX_EINVAL when the write already holds too many changes,
 *         VX_ESTALE when the write's if_revision precondition fails for
 *         this project (checked at its first change in the write),
 *         or a storage error.
 */
int vx_store_record_change(vx_wtxn *w, Vexil__V1__Project *project,
    Vexil__V1__ChangeKind kind, const char *environment, const char *flag_key,
    uint64_t entity_id, const char *actor, const char *method) VX_MUST_USE;
/* What the next audit entry of this write (vx_store_record_change's or
 * vx_store_audit's) says was changed (AuditEntry.detail); detail is
 * borrowed until then, and applies to that one entry only. */
void vx_store_audit_detail(vx_wtxn *w, const char *detail);
/* Appends to the audit log without touching a revision (key management). */
int vx_store_audit(vx_wtxn *w, uint64_t project_id, Vexil__V1__ChangeKind kind,
    const char *target, const char *actor, const char *method) VX_MUST_USE;

/* The last id a sequence gave (0 when none yet). */
int vx_store_seq_last(MDB_txn *txn, vx_store *s, enum vx_seq seq, uint64_t *last)
    VX_MUST_USE;
/* Takes the next id of a sequence. */
int vx_store_next_id(vx_wtxn *w, enum vx_seq seq, uint64_t *id) VX_MUST_USE;

/* ---- metadata ---- */

/* Reads a small metadata value into buf; *len gets its size. */
int vx_store_meta_get(MDB_txn *txn, vx_store *s, const char *key, void *buf,
    size_t cap, size_t *len) VX_MUST_USE;
int vx_store_meta_put(vx_wtxn *w, const char *key, const void *val, size_t len)
    VX_MUST_USE;

/*
 * Entity access. `txn` is a reader's or a write's transaction. Getters
 * return VX_ENOTFOUND when there is no such record, VX_ENOMEM when the
 * allocator fails, VX_EIO on a storage error or a record that does not
 * decode. Lists append every record in key order; the caller owns the
 * array (allocated through alloc) and each element.
 */

/* ---- projects ---- */
int vx_store_project_get(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__Project **out) VX_MUST_USE;
/* Finds a project by owner (a user id; 0 for projects made with API keys)
 * and name. */
int vx_store_project_find(MDB_txn *txn, vx_store *s, uint64_t owner, const char *name,
    uint64_t *id) VX_MUST_USE;
/* Inserts or replaces; keeps the name index in step. VX_EEXIST when the
 * owner has another project of that name. */
int vx_store_project_put(vx_wtxn *w, const Vexil__V1__Project *p) VX_MUST_USE;
/* Deletes the project with its environments and flags. */
int vx_store_project_del(vx_wtxn *w, const Vexil__V1__Project *p) VX_MUST_USE;
int vx_store_project_list(MDB_txn *txn, vx_store *s, ProtobufCAllocator *alloc,
    Vexil__V1__Project ***out, size_t *n) VX_MUST_USE;

/* ---- environments ---- */
int vx_store_env_get(MDB_txn *txn, vx_store *s, uint64_t project_id,
    const char *key, ProtobufCAllocator *alloc, Vexil__V1__Environment **out)
    VX_MUST_USE;
int vx_store_env_put(vx_wtxn *w, const Vexil__V1__Environment *e) VX_MUST_USE;
int vx_store_env_del(vx_wtxn *w, uint64_t project_id, const char *key) VX_MUST_USE;
int vx_store_env_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Environment ***out, size_t *n)
    VX_MUST_USE;

/* ---- flags ---- */
int vx_store_flag_get(MDB_txn *txn, vx_store *s, uint64_t project_id,
    const char *key, ProtobufCAllocator *alloc, Vexil__V1__Flag **out) VX_MUST_USE;
/*
 * The flag as stored: its packed Flag, which is also its wire form, for a
 * reply that sends it as it is. *out points into txn's pages and is valid
 * until txn ends; do not change it. 0, VX_ENOTFOUND, or another VX_E...
 */
int vx_store_flag_get_packed(MDB_txn *txn, vx_store *s, uint64_t project_id,
    const char *key, ProtobufCBinaryData *out) VX_MUST_USE;
int vx_store_flag_get_by_id(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__Flag **out) VX_MUST_USE;
/* Inserts or replaces, keeping the id index in step. */
int vx_store_flag_put(vx_wtxn *w, const Vexil__V1__Flag *f) VX_MUST_USE;
int vx_store_flag_del(vx_wtxn *w, const Vexil__V1__Flag *f) VX_MUST_USE;
int vx_store_flag_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Flag ***out, size_t *n) VX_MUST_USE;
/* ---- segments: keyed by (project id, name), listed in name order ---- */
int vx_store_segment_get(MDB_txn *txn, vx_store *s, uint64_t project_id, const char *name,
    ProtobufCAllocator *alloc, Vexil__V1__Segment **out) VX_MUST_USE;
/* Inserts or replaces. */
int vx_store_segment_put(vx_wtxn *w, const Vexil__V1__Segment *g) VX_MUST_USE;
int vx_store_segment_del(vx_wtxn *w, uint64_t project_id, const char *name) VX_MUST_USE;
int vx_store_segment_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Segment ***out, size_t *n) VX_MUST_USE;

/*
 * One page of a project's flags in key order: those `keep` accepts (all
 * when NULL), skipping `offset`, at most `limit` (0: none, just count).
 * *total gets how many were accepted in all. Records outside the page are
 * decoded only when there is a filter, and then not into alloc.
 */
int vx_store_flag_page(MDB_txn *txn, vx_store *s, uint64_t project_id, size_t offset,
    size_t limit, bool (*keep)(const Vexil__V1__Flag *, void *), void *arg,
    ProtobufCAllocator *alloc, Vexil__V1__Flag ***out, size_t *n, size_t *total)
    VX_MUST_USE;

/* ---- API keys ---- */
int vx_store_apikey_get(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__ApiKey **out) VX_MUST_USE;
/* Looks a key up by the hash of its secret. */
int vx_store_apikey_find(MDB_txn *txn, vx_store *s, const uint8_t hash[32],
    ProtobufCAllocator *alloc, Vexil__V1__ApiKey **out) VX_MUST_USE;
int vx_store_apikey_put(vx_wtxn *w, const Vexil__V1__ApiKey *k) VX_MUST_USE;
int vx_store_apikey_list(MDB_txn *txn, vx_store *s, ProtobufCAllocator *alloc,
    Vexil__V1__ApiKey ***out, size_t *n) VX_MUST_USE;

/* ---- users (email is the lookup key, stored lower-cased) ---- */
int vx_store_user_get(MDB_txn *txn, vx_store *s, uint64_t id, ProtobufCAllocator *alloc,
    Vexil__V1__User **out) VX_MUST_USE;
int vx_store_user_find(MDB_txn *txn, vx_store *s, const char *email,
    ProtobufCAllocator *alloc, Vexil__V1__User **out) VX_MUST_USE;
int vx_store_user_put(vx_wtxn *w, const Vexil__V1__User *u) VX_MUST_USE;

/* ---- SDK keys ---- */
int vx_store_sdkkey_get(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__SdkKey **out) VX_MUST_USE;
int vx_store_sdkkey_find(MDB_txn *txn, vx_store *s, const uint8_t hash[32],
    ProtobufCAllocator *alloc, Vexil__V1__SdkKey **out) VX_MUST_USE;
int vx_store_sdkkey_put(vx_wtxn *w, const Vexil__V1__SdkKey *k) VX_MUST_USE;
int vx_store_sdkkey_list(MDB_txn *txn, vx_store *s, ProtobufCAllocator *alloc,
    Vexil__V1__SdkKey ***out, size_t *n) VX_MUST_USE;

/* ---- schedules: keyed by id, listed in id order ---- */
int vx_store_schedule_get(MDB_txn *txn, vx_store *s, uint64_t id,
    ProtobufCAllocator *alloc, Vexil__V1__Schedule **out) VX_MUST_USE;
/* Inserts or replaces. */
int vx_store_schedule_put(vx_wtxn *w, const Vexil__V1__Schedule *sc) VX_MUST_USE;
int vx_store_schedule_del(vx_wtxn *w, uint64_t id) VX_MUST_USE;
/* Every schedule of every project (project_id 0), or of one. */
int vx_store_schedule_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    ProtobufCAllocator *alloc, Vexil__V1__Schedule ***out, size_t *n) VX_MUST_USE;

/* ---- evaluation records (written in batches, never one per evaluation) ---- */
enum vx_count_kind { VX_COUNT_EVALUATION, VX_COUNT_EXPOSURE };

/* Adds delta to the count of (project, day, kind, env, flag, variant). */
int vx_store_evalcount_add(vx_wtxn *w, uint64_t project_id, int32_t day, int kind,
    const char *env, const char *flag, const char *variant, uint64_t delta) VX_MUST_USE;
/* Counts of a project from from_day on, filtered by env and flag when
 * they are non-empty, in (day, env, flag, variant) order. */
int vx_store_evalcount_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    int32_t from_day, const char *env, const char *flag, ProtobufCAllocator *alloc,
    Vexil__V1__EvalCount ***out, size_t *n) VX_MUST_USE;
/* Calls fn with each count of a project from from_day on, in (day, kind,
 * env, flag, variant) order; the count's strings last only for the call.
 * Stops at fn's first non-zero return, which it returns. */
int vx_store_evalcount_each(MDB_txn *txn, vx_store *s, uint64_t project_id,
    int32_t from_day, int (*fn)(const Vexil__V1__EvalCount *c, void *arg),
    void *arg) VX_MUST_USE;
/* Appends to a project's recent log. */
int vx_store_evallog_append(vx_wtxn *w, const Vexil__V1__EvalRecord *r) VX_MUST_USE;
/* Drops all but the newest `keep` records of a project's log. */
int vx_store_evallog_trim(vx_wtxn *w, uint64_t project_id, size_t keep) VX_MUST_USE;
/* The recent log, newest first. */
int vx_store_evallog_list(MDB_txn *txn, vx_store *s, uint64_t project_id, size_t limit,
    ProtobufCAllocator *alloc, Vexil__V1__EvalRecord ***out, size_t *n) VX_MUST_USE;

/* ---- logs ---- */
/*
 * The change log of one project, oldest first, from revision `since`+1, at
 * most limit entries (0: all). *oldest gets the oldest retained revision
 * (0 when the log is empty), so a caller can tell a gap from no change.
 */
int vx_store_changes(MDB_txn *txn, vx_store *s, uint64_t project_id,
    uint64_t since, size_t limit, ProtobufCAllocator *alloc,
    Vexil__V1__Change ***out, size_t *n, uint64_t *oldest) VX_MUST_USE;
/* Drops the entry that falls out of a `keep`-entry window at revision. */
int vx_store_changes_trim(vx_wtxn *w, uint64_t project_id, uint64_t revision,
    size_t keep) VX_MUST_USE;
/* The audit log of one project (0: global entries), newest first. */
int vx_store_audit_list(MDB_txn *txn, vx_store *s, uint64_t project_id,
    size_t limit, ProtobufCAllocator *alloc, Vexil__V1__AuditEntry ***out,
    size_t *n) VX_MUST_USE;
/*
 * With audit_keep (vx_store_opts), each audit entry appended drops the
 * project's oldest while it has more than audit_keep, at most
 * VX_STORE_AUDIT_TRIM_MAX per entry: bounded work in every write, so a
 * smaller audit_keep on a large log converges over the next writes
 * instead of stalling one. The count per project is kept in meta
 * ("audit.count.<project id>", 8 bytes BE); a log without one (written
 * before audit_keep was set) is counted once, in its project's next write.
 */
#define VX_STORE_AUDIT_TRIM_MAX 4

/* ---- figures (OpsService/GetStats) ---- */

typedef struct vx_store_stats {
	uint64_t writes_total;        /* writes committed since open */
	uint64_t commits_total;       /* transactions they took (group commit) */
	uint64_t audit_trimmed_total; /* audit entries dropped since open */
	uint64_t projects;
	uint64_t revisions; /* the sum of the projects' revisions */
	uint64_t change_log_entries;
	uint64_t audit_entries;
	uint64_t map_size_bytes, map_max_bytes;
	uint64_t pages_used; /* the last page number used + 1 */
	uint32_t page_size_bytes;
	uint64_t data_file_bytes; /* data.mdb's size on disk */
	uint32_t readers, max_readers;
} vx_store_stats;

/*
 * Fills *out from txn (a read transaction) and the environment. Reads
 * every project record (to sum revisions), so it costs one cursor pass
 * over the projects.
 * @return 0, VX_EIO.
 */
int vx_store_stats_get(MDB_txn *txn, vx_store *s, vx_store_stats *out) VX_MUST_USE;

#endif
