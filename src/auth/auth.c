/*
 * Vexil — authentication and authorisation: see auth.h.
 */
#include "auth/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void
vx_auth_hash(const char *secret, uint8_t hash[32])
{
	crypto_generichash(hash, 32, (const unsigned char *)secret, strlen(secret),
	    NULL, 0);
}

void
vx_auth_new_key(const char *prefix, char secret[VX_KEY_LEN], uint8_t hash[32],
    char shown[VX_KEY_SHOWN + 1])
{
	uint8_t raw[20];

	randombytes_buf(raw, sizeof(raw));
	memcpy(secret, prefix, 4);
	vx_hex(secret + 4, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	vx_auth_hash(secret, hash);
	memcpy(shown, secret, VX_KEY_SHOWN);
	shown[VX_KEY_SHOWN] = '\0';
}

/* Checks a presented secret's shape and hashes it. */
static int
presented(const char *secret, const char *prefix, uint8_t hash[32])
{
	if (strlen(secret) != VX_KEY_LEN - 1 || strncmp(secret, prefix, 4) != 0)
		return VX_EAUTH;
	vx_auth_hash(secret, hash);
	return 0;
}

/*
 * The lookup found a key record; admit it when its hash matches in
 * constant time (the index matched on it already) and it is not revoked.
 */
static int
admit(const ProtobufCBinaryData *stored, const uint8_t hash[32], bool revoked, bool sdk,
    const char **why)
{
	if (stored->len != 32 || sodium_memcmp(stored->data, hash, 32) != 0) {
		*why = sdk ? "unknown SDK key" : "unknown API key";
		return VX_EAUTH;
	}
	if (revoked) {
		*why = sdk ? "SDK key has been revoked" : "API key has been revoked";
		return VX_EAUTH;
	}
	return 0;
}

static void
principal(vx_principal *who, enum vx_principal_kind kind, uint64_t id, uint64_t project_id,
    Vexil__V1__Role role, const char *env)
{
	who->kind = kind;
	who->id = id;
	who->project_id = project_id;
	who->role = role;
	snprintf(who->actor, sizeof(who->actor), "%s:%llu",
	    kind == VX_PRINCIPAL_SDKKEY ? "sdkkey" : "apikey", (unsigned long long)id);
	snprintf(who->env, sizeof(who->env), "%s", env);
}

static int
api_key(MDB_txn *txn, vx_store *s, const char *secret, vx_principal *who, const char **why)
{
	Vexil__V1__ApiKey *k = NULL;
	uint8_t hash[32];
	int rc;

	if (presented(secret, VX_APIKEY_PREFIX, hash) != 0) {
		*why = "malformed API key";
		return VX_EAUTH;
	}
	if ((rc = vx_store_apikey_find(txn, s, hash, NULL, &k)) == VX_ENOTFOUND) {
		*why = "unknown API key";
		return VX_EAUTH;
	}
	if (rc != 0)
		return rc;
	if ((rc = admit(&k->hash, hash, k->revoked, false, why)) == 0)
		principal(who, VX_PRINCIPAL_APIKEY, k->id, k->project_id, k->role, "");
	protobuf_c_message_free_unpacked(&k->base, NULL);
	return rc;
}

/* An SDK key reads its project (and only its environment, when bound). */
static int
sdk_key(MDB_txn *txn, vx_store *s, const char *secret, vx_principal *who, const char **why)
{
	Vexil__V1__SdkKey *k = NULL;
	uint8_t hash[32];
	int rc;

	if (presented(secret, VX_SDKKEY_PREFIX, hash) != 0) {
		*why = "malformed SDK key";
		return VX_EAUTH;
	}
	if ((rc = vx_store_sdkkey_find(txn, s, hash, NULL, &k)) == VX_ENOTFOUND) {
		*why = "unknown SDK key";
		return VX_EAUTH;
	}
	if (rc != 0)
		return rc;
	if ((rc = admit(&k->hash, hash, k->revoked, true, why)) == 0)
		principal(who, VX_PRINCIPAL_SDKKEY, k->id, k->project_id,
		    VEXIL__V1__ROLE__ROLE_READ, k->environment);
	protobuf_c_message_free_unpacked(&k->base, NULL);
	return rc;
}

int
vx_auth_authenticate(MDB_txn *txn, vx_store *s, const char *credential,
    vx_principal *who, const char **why)
{
	memset(who, 0, sizeof(*who));
	if (credential == NULL || *credential == '\0') {
		*why = "missing credential";
		return VX_EAUTH;
	}
	if (strncmp(credential, "ApiKey ", 7) == 0)
		return api_key(txn, s, credential + 7, who, why);
	if (strncmp(credential, "SdkKey ", 7) == 0)
		return sdk_key(txn, s, credential + 7, who, why);
	*why = "unsupported credential scheme (expected \"ApiKey <key>\" or \"SdkKey <key>\")";
	return VX_EAUTH;
}

int
vx_auth_check(const vx_principal *who, uint64_t project_id, Vexil__V1__Role need)
{
	if (who->kind == VX_PRINCIPAL_NONE)
		return VX_EAUTH;
	if (who->project_id != 0 && who->project_id != project_id)
		return project_id == 0 ? VX_EPERM : VX_ENOTFOUND;
	if ((int)who->role < (int)need)
		return VX_EPERM;
	return 0;
}

const char *
vx_role_name(Vexil__V1__Role role)
{
	switch (role) {
	case VEXIL__V1__ROLE__ROLE_READ: return "read";
	case VEXIL__V1__ROLE__ROLE_WRITE: return "write";
	case VEXIL__V1__ROLE__ROLE_ADMIN: return "admin";
	default: return "none";
	}
}

int
vx_role_parse(const char *s, Vexil__V1__Role *out)
{
	if (strcmp(s, "read") == 0)
		*out = VEXIL__V1__ROLE__ROLE_READ;
	else if (strcmp(s, "write") == 0)
		*out = VEXIL__V1__ROLE__ROLE_WRITE;
	else if (strcmp(s, "admin") == 0)
		*out = VEXIL__V1__ROLE__ROLE_ADMIN;
	else
		return VX_EINVAL;
	return 0;
}
