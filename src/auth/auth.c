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
	rc = vx_store_apikey_find(txn, s, hash, NULL, &k);
	if (rc == VX_ENOTFOUND) {
		*why = "unknown API key";
		return VX_EAUTH;
	}
	if (rc != 0)
		return rc;
	/* The index matched on the hash; compare again in constant time. */
	rc = k->hash.len != 32 || sodium_memcmp(k->hash.data, hash, 32) != 0 || k->revoked;
	if (rc) {
		*why = k->revoked ? "API key has been revoked" : "unknown API key";
	} else {
		who->kind = VX_PRINCIPAL_APIKEY;
		who->id = k->id;
		who->project_id = k->project_id;
		who->role = k->role;
		snprintf(who->actor, sizeof(who->actor), "apikey:%llu",
		    (unsigned long long)k->id);
	}
	protobuf_c_message_free_unpacked(&k->base, NULL);
	return rc ? VX_EAUTH : 0;
}

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
	rc = vx_store_sdkkey_find(txn, s, hash, NULL, &k);
	if (rc == VX_ENOTFOUND) {
		*why = "unknown SDK key";
		return VX_EAUTH;
	}
	if (rc != 0)
		return rc;
	rc = k->hash.len != 32 || sodium_memcmp(k->hash.data, hash, 32) != 0 || k->revoked;
	if (rc) {
		*why = k->revoked ? "SDK key has been revoked" : "unknown SDK key";
	} else {
		who->kind = VX_PRINCIPAL_SDKKEY;
		who->id = k->id;
		who->project_id = k->project_id;
		who->role = VEXIL__V1__ROLE__ROLE_READ;
		snprintf(who->actor, sizeof(who->actor), "sdkkey:%llu",
		    (unsigned long long)k->id);
		snprintf(who->env, sizeof(who->env), "%s", k->environment);
	}
	protobuf_c_message_free_unpacked(&k->base, NULL);
	return rc ? VX_EAUTH : 0;
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
