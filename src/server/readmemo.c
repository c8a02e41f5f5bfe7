/*
 * Vexil — a slot's memo of one read snapshot: see readmemo.h.
 */
#include "server/readmemo.h"

#include <sodium.h>
#include <string.h>

void
vx_readmemo_init(vx_readmemo *m)
{
	memset(m, 0, sizeof(*m));
}

static void
forget(vx_readmemo *m)
{
	sodium_memzero(m->cred, sizeof(m->cred));
	m->cred_len = 0;
}

void
vx_readmemo_fini(vx_readmemo *m)
{
	forget(m);
	m->txnid = 0;
}

/* Schemes whose principal depends on the store alone. */
static bool
memoisable(const char *credential, size_t len)
{
	return len < VX_READMEMO_CRED && (strncmp(credential, "ApiKey ", 7) == 0 ||
	                                     strncmp(credential, "SdkKey ", 7) == 0);
}

int
vx_readmemo_authenticate(vx_readmemo *m, MDB_txn *txn, vx_store *s,
    const char *credential, vx_principal *who, const char **why)
{
	size_t id = mdb_txn_id(txn), len;
	int rc;

	if (id != m->txnid) {
		forget(m);
		m->txnid = id;
	}
	len = credential != NULL ? strlen(credential) : 0;
	/* Compared in constant time: the memo must not tell a caller how
	 * much of another client's key it guessed. */
	if (m->cred_len != 0 && len == m->cred_len &&
	    sodium_memcmp(m->cred, credential, len) == 0) {
		*who = m->who;
		return 0;
	}
	rc = vx_auth_authenticate(txn, s, credential, who, why);
	if (rc == 0 && memoisable(credential, len)) {
		forget(m);
		memcpy(m->cred, credential, len);
		m->cred_len = len;
		m->who = *who;
	}
	return rc;
}
