/*
 * Vexil — authentication and authorisation in the core.
 *
 * Every request carries its credential; vexild resolves it to a principal
 * here and every handler asks vx_auth_check() before it reads or writes a
 * project. Keys are random secrets with a recognisable prefix ("vxk_" for
 * API keys); only their BLAKE2b-256 hash is stored, and lookups go by that
 * hash, so no secret ever sits in the data dir. A slow password hash would
 * add nothing for 160-bit random keys and would cost every request.
 */
#ifndef VX_AUTH_H
#define VX_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "store/store.h"

/* VX_APIKEY_PREFIX and VX_SDKKEY_PREFIX are in common.h: clients tell
 * the two kinds apart by them too. */
/* The longest key + NUL: "vxk_" (or an old "vxs_") + 40 hex digits. A
 * new SDK key is shorter: "sdk_" + VX_SDKKEY_CHARS alphanumerics. */
#define VX_KEY_LEN 45
/* How much of a key is kept in clear to recognise it: "vxk_" + 8. */
#define VX_KEY_SHOWN 12

enum vx_principal_kind {
	VX_PRINCIPAL_NONE,
	VX_PRINCIPAL_APIKEY,
	VX_PRINCIPAL_SDKKEY,
	VX_PRINCIPAL_USER, /* a JWT: admin of the projects the user owns */
};

/* How long a login token is valid. */
#define VX_JWT_TTL_MS (24LL * 3600 * 1000)

typedef struct vx_principal {
	enum vx_principal_kind kind;
	uint64_t id;
	uint64_t project_id; /* 0: every project */
	Vexil__V1__Role role;
	/* "apikey:<id>", or "user:<id> (<email>)" with the email at the time,
	 * for logs and the audit log */
	char actor[300];
	char env[72];   /* an SDK key's environment, or "" for any */
} vx_principal;

/*
 * Makes a new key secret with prefix VX_APIKEY_PREFIX (then 40 hex digits)
 * or VX_SDKKEY_PREFIX (then VX_SDKKEY_CHARS letters and digits).
 * @param[out] secret  VX_KEY_LEN bytes: the key, NUL-terminated.
 * @param[out] hash    its hash, the only form that is stored.
 * @param[out] shown   VX_KEY_SHOWN+1 bytes: the recognisable prefix.
 */
void vx_auth_new_key(const char *prefix, char secret[VX_KEY_LEN], uint8_t hash[32],
    char shown[VX_KEY_SHOWN + 1]);
/* Hashes a presented secret for lookup. */
void vx_auth_hash(const char *secret, uint8_t hash[32]);

/* Sets the HS256 secret (32 random bytes kept in the data dir). */
void vx_auth_set_jwt_secret(const uint8_t secret[32]);
/*
 * Issues an HS256 JWT for user_id, valid until exp_ms (unix ms).
 * @return 0, or VX_EINVAL when out (cap bytes) is too small.
 */
int vx_auth_jwt_issue(
    uint64_t user_id, int64_t now_ms, int64_t exp_ms, char *out, size_t cap) VX_MUST_USE;
/*
 * Verifies a JWT: exactly the header we issue (the algorithm is pinned),
 * a signature that matches in constant time, and an `exp` in the future.
 * @return 0 with *user_id set, or VX_EAUTH with *why.
 */
int vx_auth_jwt_verify(
    const char *token, int64_t now_ms, uint64_t *user_id, const char **why) VX_MUST_USE;

/*
 * Resolves a credential ("ApiKey <key>", "SdkKey <key>" or "Bearer <jwt>")
 * to a principal.
 * An SDK key is a read principal of its project, bound to its environment
 * when it has one; the dispatcher lets it call evaluation methods only.
 * @return 0; VX_EAUTH when the credential is missing, malformed, unknown
 *         or revoked (the message in *why says which, without the secret);
 *         VX_EIO on a storage error.
 */
int vx_auth_authenticate(MDB_txn *txn, vx_store *s, const char *credential,
    vx_principal *who, const char **why) VX_MUST_USE;

/*
 * Loads a principal again by kind (API key or user) and id, as the
 * credential would resolve now: for work done later on someone's behalf
 * (a scheduled write).
 * @return 0; VX_EAUTH when the key is gone or revoked or the user is
 *         gone (*why says which); VX_EIO on a storage error.
 */
int vx_auth_principal(MDB_txn *txn, vx_store *s, enum vx_principal_kind kind, uint64_t id,
    vx_principal *who, const char **why) VX_MUST_USE;

/*
 * May `who` act on project_id, owned by user `owner` (0: no user), with
 * at least `need`? project_id 0 asks about a global action: users may
 * create projects (need <= write) and nothing more.
 * @return 0; VX_ENOTFOUND when the project lies outside the principal's
 *         scope, so that its existence does not leak; VX_EPERM when the
 *         role is too low.
 */
int vx_auth_check(const vx_principal *who, uint64_t project_id, uint64_t owner,
    Vexil__V1__Role need) VX_MUST_USE;

/*
 * May `who` act on project p with at least `need`? As vx_auth_check(),
 * and a user who is not p's owner acts with their role as one of p's
 * members (p->members); a user who is neither does not see p.
 */
/* A user's role in p: admin for its owner, a member's own role, or
 * ROLE_UNSPECIFIED for anyone else. */
Vexil__V1__Role vx_auth_member_role(const Vexil__V1__Project *p, uint64_t user_id);

/* Sets who->actor for user id with their email: "user:<id> (<email>)". */
void vx_auth_user_actor(vx_principal *who, uint64_t id, const char *email);

int vx_auth_check_project(const vx_principal *who, const Vexil__V1__Project *p,
    Vexil__V1__Role need) VX_MUST_USE;

/* "read", "write", "admin"; and back (VX_EINVAL for anything else). */
const char *vx_role_name(Vexil__V1__Role role);
int vx_role_parse(const char *s, Vexil__V1__Role *out) VX_MUST_USE;

#endif
