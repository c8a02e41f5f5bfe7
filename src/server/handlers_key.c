/*
 * Vexil — KeyService and AuditService handlers.
 *
 * An admin key manages the keys of its own scope: a project admin those of
 * its project, a global admin every key. A key never grants more than the
 * key that made it. The secret is returned once, at creation; only its
 * hash is stored, and listings never carry it.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;

struct key_op {
	vx_call *c;
	const void *in;
	void *out;
};

/* A new key's secret, its hash and its shown prefix, in the call's arena. */
struct secret {
	uint8_t hash[32];
	char text[VX_KEY_LEN];
	char shown[VX_KEY_SHOWN + 1];
};

static struct secret *
new_secret(vx_call *c, const char *prefix)
{
	struct secret *s = vx_arena_alloc(c->arena, sizeof(*s));
	if (s != NULL)
		vx_auth_new_key(prefix, s->text, s->hash, s->shown);
	return s;
}

/*
 * May the caller revoke a key of project_id that get() returned with rc?
 * Keys outside the caller's scope do not exist for it.
 */
static int
may_revoke(vx_call *c, int rc, const char *what, uint64_t id, uint64_t project_id)
{
	int allowed = VX_ENOTFOUND;

	if (rc == 0) {
		allowed = vx_auth_check(&c->who, project_id, 0, VEXIL__V1__ROLE__ROLE_ADMIN);
		/* A global key is out of sight for a key of one project. */
		if (allowed == VX_EPERM && project_id == 0 && c->who.project_id != 0)
			allowed = VX_ENOTFOUND;
	} else if (rc != VX_ENOTFOUND) {
		return rc;
	}
	if (allowed == VX_ENOTFOUND)
		return vx_fail(c, VX_ENOTFOUND, "id", NULL, "%s %llu not found", what,
		    (unsigned long long)id);
	if (allowed != 0)
		return vx_fail(c, VX_EPERM, NULL, NULL, "revoking keys needs an admin key");
	return 0;
}

static int
create_key_tx(vx_wtxn *w, void *arg)
{
	struct key_op *op = arg;
	const Vexil__V1__CreateApiKeyRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p = NULL;
	Vexil__V1__CreatedApiKey *out;
	Vexil__V1__ApiKey *k;
	struct secret *sec;
	int rc;

	/* A key bound to one project makes keys for that project. */
	if (*in->project || c->who.project_id != 0) {
		if ((rc = vx_call_project(c, vx_wtxn_txn(w), in->project,
			 VEXIL__V1__ROLE__ROLE_ADMIN, &p)) != 0)
			return rc;
	} else if ((rc = vx_auth_check(&c->who, 0, 0, VEXIL__V1__ROLE__ROLE_ADMIN)) != 0) {
		return vx_fail(c, rc, "project", NULL,
		    "a key for every project needs a global admin key");
	}
	out = vx_arena_alloc(c->arena, sizeof(*out));
	k = vx_arena_alloc(c->arena, sizeof(*k));
	if (!out || !k || (sec = new_secret(c, VX_APIKEY_PREFIX)) == NULL)
		return VX_ENOMEM;
	vexil__v1__created_api_key__init(out);
	vexil__v1__api_key__init(k);
	if ((rc = vx_store_next_id(w, VX_SEQ_APIKEY, &k->id)) != 0)
		return rc;
	k->name = in->name;
	k->project_id = p ? p->id : 0;
	k->role = in->role;
	k->hash.data = sec->hash;
	k->hash.len = 32;
	k->prefix = sec->shown;
	k->created_at = vx_now_ms();
	k->created_by = c->who.actor;
	if ((rc = vx_store_apikey_put(w, k)) != 0 ||
	    (rc = vx_store_audit(w, k->project_id, VEXIL__V1__CHANGE_KIND__KEY_CREATED,
		 sec->shown, c->who.actor, c->method)) != 0)
		return rc;
	/* The hash stays in the store; the reply carries the secret once. */
	k->hash.data = NULL;
	k->hash.len = 0;
	out->key = k;
	out->secret = sec->text;
	op->out = out;
	return 0;
}

static void
create_api_key(Vexil__V1__KeyService_Service *svc, const Vexil__V1__CreateApiKeyRequest *in,
    Vexil__V1__CreatedApiKey_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct key_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if ((rc = vx_check_text(c, "name", in->name, 1, VX_NAME_MAX)) != 0)
		goto out;
	if (in->role < VEXIL__V1__ROLE__ROLE_READ || in->role > VEXIL__V1__ROLE__ROLE_ADMIN) {
		rc = vx_fail(c, VX_EINVAL, "role", "enum", "role must be read, write or admin");
		goto out;
	}
	if ((int)in->role > (int)c->who.role) {
		rc = vx_fail(c, VX_EPERM, "role", NULL,
		    "a %s key cannot make a key with more rights", vx_role_name(c->who.role));
		goto out;
	}
	rc = vx_store_write(c->store, c->reader, create_key_tx, &op);
out:
	VX_REPLY(c, rc, op.out);
}

static void
list_api_keys(Vexil__V1__KeyService_Service *svc, const Vexil__V1__ListApiKeysRequest *in,
    Vexil__V1__ApiKeyList_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__ApiKeyList *out = NULL;
	Vexil__V1__Project *p = NULL;
	Vexil__V1__ApiKey **all;
	size_t n, k = 0;
	int rc;

	(void)svc;
	if (*in->project) {
		rc = vx_call_project(c, c->reader->txn, in->project, VEXIL__V1__ROLE__ROLE_ADMIN, &p);
	} else {
		rc = vx_auth_check(&c->who, c->who.project_id, 0, VEXIL__V1__ROLE__ROLE_ADMIN);
		if (rc != 0)
			rc = vx_fail(c, rc, NULL, NULL, "listing keys needs an admin key");
	}
	if (rc != 0 ||
	    (rc = vx_store_apikey_list(c->reader->txn, c->store, c->alloc, &all, &n)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__api_key_list__init(out);
	for (size_t i = 0; i < n; i++) {
		Vexil__V1__ApiKey *key = all[i];
		if (p != NULL && key->project_id != p->id)
			continue;
		if (c->who.project_id != 0 && key->project_id != c->who.project_id)
			continue;
		key->hash.data = NULL;
		key->hash.len = 0;
		all[k++] = key;
	}
	out->keys = all;
	out->n_keys = k;
out:
	VX_REPLY(c, rc, out);
}

/*
 * A revoked key of a project is a change of the project: its revision
 * moves and the PUB notice tells every gateway to forget the key at once
 * (a gateway caches credentials, edge.c). A global API key belongs to no
 * project; gateways drop it when their cache entry expires.
 */
static int
publish_revocation(vx_wtxn *w, vx_call *c, uint64_t project_id, uint64_t key_id)
{
	Vexil__V1__Project *p;
	int rc;

	if (project_id == 0)
		return 0;
	rc = vx_store_project_get(vx_wtxn_txn(w), c->store, project_id, c->alloc, &p);
	if (rc == VX_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__KEY_REVOKED, "", "",
	    key_id, c->who.actor, c->method);
}

static int
revoke_key_tx(vx_wtxn *w, void *arg)
{
	struct key_op *op = arg;
	const Vexil__V1__RevokeApiKeyRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__ApiKey *k;
	int rc;

	rc = vx_store_apikey_get(vx_wtxn_txn(w), c->store, in->id, c->alloc, &k);
	if ((rc = may_revoke(c, rc, "API key", in->id, rc == 0 ? k->project_id : 0)) != 0)
		return rc;
	if (k->revoked)
		return 0;
	k->revoked = true;
	if ((rc = vx_store_apikey_put(w, k)) != 0 ||
	    (rc = vx_store_audit(w, k->project_id, VEXIL__V1__CHANGE_KIND__KEY_REVOKED,
	         k->prefix, c->who.actor, c->method)) != 0)
		return rc;
	return publish_revocation(w, c, k->project_id, k->id);
}

static void
revoke_api_key(Vexil__V1__KeyService_Service *svc, const Vexil__V1__RevokeApiKeyRequest *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct key_op op = {c, in, NULL};
	int rc;

	(void)svc;
	rc = vx_store_write(c->store, c->reader, revoke_key_tx, &op);
	VX_REPLY(c, rc, &empty);
}

/* ---- SDK keys: bound to one project, and optionally one environment ---- */

int
vx_sdk_key_create(vx_wtxn *w, vx_call *c, uint64_t project_id, const char *env,
    Vexil__V1__SdkKey **out, char **secret)
{
	Vexil__V1__SdkKey *k = vx_arena_alloc(c->arena, sizeof(*k));
	struct secret *sec;
	int rc;

	if (k == NULL || (sec = new_secret(c, VX_SDKKEY_PREFIX)) == NULL)
		return VX_ENOMEM;
	vexil__v1__sdk_key__init(k);
	if ((rc = vx_store_next_id(w, VX_SEQ_SDKKEY, &k->id)) != 0)
		return rc;
	k->project_id = project_id;
	k->environment = (char *)(env ? env : "");
	k->hash.data = sec->hash;
	k->hash.len = 32;
	k->prefix = sec->shown;
	k->created_at = vx_now_ms();
	if ((rc = vx_store_sdkkey_put(w, k)) != 0 ||
	    (rc = vx_store_audit(w, project_id, VEXIL__V1__CHANGE_KIND__KEY_CREATED, sec->shown,
		 c->who.actor, c->method)) != 0)
		return rc;
	/* The hash stays in the store; replies carry the secret once. */
	k->hash.data = NULL;
	k->hash.len = 0;
	*out = k;
	*secret = sec->text;
	return 0;
}

int
vx_sdk_key_revoke(vx_wtxn *w, vx_call *c, uint64_t id)
{
	Vexil__V1__SdkKey *k;
	int rc = vx_store_sdkkey_get(vx_wtxn_txn(w), c->store, id, c->alloc, &k);

	if (rc == VX_ENOTFOUND || (rc == 0 && k->revoked))
		return 0;
	if (rc != 0)
		return rc;
	k->revoked = true;
	if ((rc = vx_store_sdkkey_put(w, k)) != 0)
		return rc;
	return vx_store_audit(w, k->project_id, VEXIL__V1__CHANGE_KIND__KEY_REVOKED, k->prefix,
	    c->who.actor, c->method);
}

static int
create_sdk_tx(vx_wtxn *w, void *arg)
{
	struct key_op *op = arg;
	const Vexil__V1__CreateSdkKeyRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	Vexil__V1__Environment *e;
	Vexil__V1__CreatedSdkKey *out;
	int rc;

	if ((rc = vx_call_project(c, vx_wtxn_txn(w), in->project, VEXIL__V1__ROLE__ROLE_ADMIN,
		 &p)) != 0)
		return rc;
	if (*in->environment) {
		rc = vx_store_env_get(vx_wtxn_txn(w), c->store, p->id, in->environment, c->alloc, &e);
		if (rc == VX_ENOTFOUND)
			return vx_fail(c, rc, "environment", NULL, "environment %.64s not found",
			    in->environment);
		if (rc != 0)
			return rc;
	}
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL)
		return VX_ENOMEM;
	vexil__v1__created_sdk_key__init(out);
	if ((rc = vx_sdk_key_create(w, c, p->id, in->environment, &out->key, &out->secret)) != 0)
		return rc;
	op->out = out;
	return 0;
}

static void
create_sdk_key(Vexil__V1__KeyService_Service *svc, const Vexil__V1__CreateSdkKeyRequest *in,
    Vexil__V1__CreatedSdkKey_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct key_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if (*in->environment == '\0' ||
	    (rc = vx_check_key(c, "environment", in->environment, 64)) == 0)
		rc = vx_store_write(c->store, c->reader, create_sdk_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static void
list_sdk_keys(Vexil__V1__KeyService_Service *svc, const Vexil__V1__ListSdkKeysRequest *in,
    Vexil__V1__SdkKeyList_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__SdkKeyList *out = NULL;
	Vexil__V1__Project *p;
	Vexil__V1__SdkKey **all;
	size_t n, k = 0;
	int rc;

	(void)svc;
	if ((rc = vx_call_project(c, c->reader->txn, in->project, VEXIL__V1__ROLE__ROLE_ADMIN,
		 &p)) != 0 ||
	    (rc = vx_store_sdkkey_list(c->reader->txn, c->store, c->alloc, &all, &n)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__sdk_key_list__init(out);
	for (size_t i = 0; i < n; i++) {
		if (all[i]->project_id != p->id)
			continue;
		all[i]->hash.data = NULL;
		all[i]->hash.len = 0;
		all[k++] = all[i];
	}
	out->keys = all;
	out->n_keys = k;
out:
	VX_REPLY(c, rc, out);
}

static int
revoke_sdk_tx(vx_wtxn *w, void *arg)
{
	struct key_op *op = arg;
	const Vexil__V1__RevokeSdkKeyRequest *in = op->in;
	vx_call *c = op->c;
	Vexil__V1__SdkKey *k;
	int rc;

	rc = vx_store_sdkkey_get(vx_wtxn_txn(w), c->store, in->id, c->alloc, &k);
	if ((rc = may_revoke(c, rc, "SDK key", in->id, rc == 0 ? k->project_id : 0)) != 0)
		return rc;
	if (k->revoked)
		return 0;
	if ((rc = vx_sdk_key_revoke(w, c, k->id)) != 0)
		return rc;
	return publish_revocation(w, c, k->project_id, k->id);
}

static void
revoke_sdk_key(Vexil__V1__KeyService_Service *svc, const Vexil__V1__RevokeSdkKeyRequest *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct key_op op = {c, in, NULL};
	int rc;

	(void)svc;
	rc = vx_store_write(c->store, c->reader, revoke_sdk_tx, &op);
	VX_REPLY(c, rc, &empty);
}

Vexil__V1__KeyService_Service vx_key_service = VEXIL__V1__KEY_SERVICE__INIT();

static void
list_audit(Vexil__V1__AuditService_Service *svc, const Vexil__V1__ListAuditRequest *in,
    Vexil__V1__AuditList_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__AuditList *out = NULL;
	Vexil__V1__Project *p;
	int rc;

	(void)svc;
	if ((rc = vx_call_project(c, c->reader->txn, in->project, VEXIL__V1__ROLE__ROLE_ADMIN,
		 &p)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__audit_list__init(out);
	rc = vx_store_audit_list(c->reader->txn, c->store, p->id, in->limit ? in->limit : 100,
	    c->alloc, &out->entries, &out->n_entries);
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__AuditService_Service vx_audit_service = VEXIL__V1__AUDIT_SERVICE__INIT();
