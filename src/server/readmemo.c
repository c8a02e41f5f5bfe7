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

void
vx_credmemo_init(vx_credmemo *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

void
vx_credmemo_fini(vx_credmemo *m)
{
	sodium_memzero(m->cred, sizeof(m->cred));
	m->cred_len = 0;
	m->txnid = 0;
	pthread_mutex_destroy(&m->lock);
}

/* The principal another slot proved for credential (len) in snapshot txnid. */
static bool
shared_find(
    vx_credmemo *m, size_t txnid, const char *credential, size_t len, vx_principal *who)
{
	bool hit;

	pthread_mutex_lock(&m->lock);
	hit = m->txnid == txnid && m->cred_len != 0 && len == m->cred_len &&
	      sodium_memcmp(m->cred, credential, len) == 0;
	if (hit)
		*who = m->who;
	pthread_mutex_unlock(&m->lock);
	return hit;
}

static void
shared_keep(vx_credmemo *m, size_t txnid, const char *credential, size_t len,
    const vx_principal *who)
{
	pthread_mutex_lock(&m->lock);
	sodium_memzero(m->cred, sizeof(m->cred));
	memcpy(m->cred, credential, len);
	m->cred_len = len;
	m->who = *who;
	m->txnid = txnid;
	pthread_mutex_unlock(&m->lock);
}

static void
forget_cred(vx_readmemo *m)
{
	sodium_memzero(m->cred, sizeof(m->cred));
	m->cred_len = 0;
}

static void
forget_project(vx_readmemo *m)
{
	if (m->project != NULL)
		protobuf_c_message_free_unpacked(&m->project->base, NULL);
	m->project = NULL;
}

static void
forget(vx_readmemo *m)
{
	forget_cred(m);
	forget_project(m);
	m->env_project = m->name_id = 0;
}

void
vx_readmemo_fini(vx_readmemo *m)
{
	forget(m);
	m->txnid = 0;
}

/* Forgets everything learnt in another snapshot than txn's. */
static void
begin(vx_readmemo *m, MDB_txn *txn)
{
	size_t id = mdb_txn_id(txn);

	if (id != m->txnid) {
		forget(m);
		m->txnid = id;
	}
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
	size_t len;
	int rc;

	begin(m, txn);
	len = credential != NULL ? strlen(credential) : 0;
	/* Compared in constant time: the memo must not tell a caller how
	 * much of another client's key it guessed. */
	if (m->cred_len != 0 && len == m->cred_len &&
	    sodium_memcmp(m->cred, credential, len) == 0) {
		*who = m->who;
		return 0;
	}
	if (m->shared != NULL && len != 0 && memoisable(credential, len) &&
	    shared_find(m->shared, m->txnid, credential, len, who))
		rc = 0;
	else if ((rc = vx_auth_authenticate(txn, s, credential, who, why)) == 0 &&
	         m->shared != NULL && memoisable(credential, len))
		shared_keep(m->shared, m->txnid, credential, len, who);
	if (rc == 0 && memoisable(credential, len)) {
		forget_cred(m);
		memcpy(m->cred, credential, len);
		m->cred_len = len;
		m->who = *who;
	}
	return rc;
}

int
vx_readmemo_project_find(vx_readmemo *m, MDB_txn *txn, vx_store *s, uint64_t owner,
    const char *name, uint64_t *id)
{
	int rc;

	begin(m, txn);
	if (m->name_id != 0 && m->name_owner == owner && strcmp(m->name, name) == 0) {
		*id = m->name_id;
		return 0;
	}
	if ((rc = vx_store_project_find(txn, s, owner, name, id)) != 0)
		return rc;
	if (strlen(name) < sizeof(m->name)) {
		strcpy(m->name, name);
		m->name_owner = owner;
		m->name_id = *id;
	}
	return 0;
}

int
vx_readmemo_project(vx_readmemo *m, MDB_txn *txn, vx_store *s, uint64_t id,
    const Vexil__V1__Project **out)
{
	Vexil__V1__Project *p;
	int rc;

	begin(m, txn);
	if (m->project == NULL || m->project->id != id) {
		/* The heap, not the request's arena: it outlives the request. */
		if ((rc = vx_store_project_get(txn, s, id, NULL, &p)) != 0)
			return rc;
		forget_project(m);
		m->project = p;
	}
	*out = m->project;
	return 0;
}

int
vx_readmemo_env(
    vx_readmemo *m, MDB_txn *txn, vx_store *s, uint64_t project_id, const char *env)
{
	Vexil__V1__Environment *e;
	int rc;

	begin(m, txn);
	if (m->env_project == project_id && strcmp(m->env, env) == 0)
		return 0;
	if ((rc = vx_store_env_get(txn, s, project_id, env, NULL, &e)) != 0)
		return rc;
	protobuf_c_message_free_unpacked(&e->base, NULL);
	if (strlen(env) < sizeof(m->env)) {
		strcpy(m->env, env);
		m->env_project = project_id;
	}
	return 0;
}
