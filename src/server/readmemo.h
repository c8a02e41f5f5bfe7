/*
 * Vexil — what a request slot learnt in one read snapshot, for its next
 * requests in the same one.
 *
 * Every read request begins by proving its credential: it hashes the key
 * (BLAKE2b), looks the hash up in LMDB and decodes the key record. A
 * client sends the same key on every call, so each slot of the REP socket
 * keeps the last credential it admitted and the principal it proved. The
 * memo is keyed on the LMDB transaction id of the request's read
 * transaction: two read transactions with the same id see the same
 * committed data, so a hit answers exactly what the lookup would. Any
 * commit (a revoked key, a changed role, anything) moves the id, and the
 * next request through the slot forgets the memo and looks again, so a
 * revoked key is refused by the first request that can see the revocation.
 *
 * Only API and SDK keys are memoised: what they prove depends on the store
 * alone. A bearer token also depends on the clock (it expires), so it is
 * verified on every request. Refusals are not memoised either.
 *
 * An evaluation (or a GetFlag) then finds its project by name, decodes it
 * (members and all) and checks that its environment exists; the memo keeps the last
 * name found, project decoded and environment found, under the same rule. The project is
 * shared by the slot's requests, so it is handed out read-only; the caller still checks
 * the principal's access to it on every request.
 *
 * A memo belongs to one slot, used by one thread at a time; it takes no
 * lock. The remembered secret is wiped when it is replaced and at fini.
 */
#ifndef VX_READMEMO_H
#define VX_READMEMO_H

#include <pthread.h>

#include "auth/auth.h"
#include "store/store.h"

/* The longest credential remembered: a scheme, a space and a key. */
#define VX_READMEMO_CRED 64
/* The longest project name remembered, + NUL. */
#define VX_READMEMO_NAME 128
/* The longest environment key remembered, + NUL. */
#define VX_READMEMO_ENV 72

/*
 * The last credential any slot admitted, shared by every slot (under a
 * mutex) and held to the same rule: the same read snapshot and the same
 * credential. A commit moves the snapshot of every slot at once, and the
 * slots it wakes (the long-polls parked on its project) and the requests
 * that follow all prove the same few keys: the first proves it, and the
 * others copy its principal instead of hashing and looking it up again.
 */
typedef struct vx_credmemo {
	pthread_mutex_t lock;
	size_t txnid; /* 0: nothing remembered */
	size_t cred_len;
	char cred[VX_READMEMO_CRED];
	vx_principal who;
} vx_credmemo;

void vx_credmemo_init(vx_credmemo *m);
/* Wipes what m remembers. */
void vx_credmemo_fini(vx_credmemo *m);

typedef struct vx_readmemo {
	vx_credmemo *shared; /* consulted when the slot's own memo misses; or NULL */
	size_t txnid;    /* the snapshot the memo holds for; 0: none yet */
	size_t cred_len; /* 0: no credential remembered */
	char cred[VX_READMEMO_CRED];
	vx_principal who;
	uint64_t name_id; /* 0: no project name remembered */
	uint64_t name_owner;
	char name[VX_READMEMO_NAME];
	Vexil__V1__Project *project; /* NULL: none remembered */
	uint64_t env_project;        /* 0: no environment remembered */
	char env[VX_READMEMO_ENV];
} vx_readmemo;

void vx_readmemo_init(vx_readmemo *m);
/* Wipes what m remembers. */
void vx_readmemo_fini(vx_readmemo *m);

/*
 * vx_auth_authenticate(txn, s, credential, who, why), answered from m when
 * the slot admitted the same credential in a read transaction with the
 * same id as txn (or from m->shared when any slot did), and remembered in
 * m (and m->shared) when it is admitted now.
 * @param txn  the request's active read transaction. Every txn passed to
 *             the memo must be a read transaction: a write transaction's
 *             id is that of the snapshot its commit will make.
 * @return what vx_auth_authenticate() returns.
 */
int vx_readmemo_authenticate(vx_readmemo *m, MDB_txn *txn, vx_store *s,
    const char *credential, vx_principal *who, const char **why) VX_MUST_USE;

/*
 * vx_store_project_find(txn, s, owner, name, id), from m when the slot
 * found the same name for the same owner in a read transaction with the
 * same id, and remembered in m otherwise.
 */
int vx_readmemo_project_find(vx_readmemo *m, MDB_txn *txn, vx_store *s, uint64_t owner,
    const char *name, uint64_t *id) VX_MUST_USE;

/*
 * Project id as stored in txn: from m when the slot decoded it in a read
 * transaction with the same id, and remembered in m otherwise. *out stays
 * valid until the next call on m (or fini); do not change it.
 * @return 0, or what vx_store_project_get() returns (VX_ENOTFOUND...).
 */
int vx_readmemo_project(vx_readmemo *m, MDB_txn *txn, vx_store *s, uint64_t id,
    const Vexil__V1__Project **out) VX_MUST_USE;

/*
 * Whether project_id has environment env in txn (0, or VX_ENOTFOUND), from
 * m when the slot found it in a read transaction with the same id.
 * @return 0, VX_ENOTFOUND, or what vx_store_env_get() returns.
 */
int vx_readmemo_env(vx_readmemo *m, MDB_txn *txn, vx_store *s, uint64_t project_id,
    const char *env) VX_MUST_USE;

#endif
