/*
 * Vexil — authentication and authorisation: see auth.h.
 */
#include "auth/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
vx_auth_hash(const char *secret, uint8_t hash[32])
{
	crypto_generichash(
	    hash, 32, (const unsigned char *)secret, strlen(secret), NULL, 0);
}

void
vx_auth_new_key(const char *prefix, char secret[VX_KEY_LEN], uint8_t hash[32],
    char shown[VX_KEY_SHOWN + 1])
{
	static const char alnum[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t raw[20];

	memcpy(secret, prefix, 4);
	if (strcmp(prefix, VX_SDKKEY_PREFIX) == 0) {
		/* The documented form; 32 of 62 symbols are 190 bits. */
		for (size_t i = 0; i < VX_SDKKEY_CHARS; i++)
			secret[4 + i] = alnum[randombytes_uniform(sizeof(alnum) - 1)];
		secret[4 + VX_SDKKEY_CHARS] = '\0';
	} else {
		randombytes_buf(raw, sizeof(raw));
		vx_hex(secret + 4, raw, sizeof(raw));
		sodium_memzero(raw, sizeof(raw));
	}
	vx_auth_hash(secret, hash);
	memcpy(shown, secret, VX_KEY_SHOWN);
	shown[VX_KEY_SHOWN] = '\0';
}

static bool
all_alnum(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* Checks a presented secret's shape and hashes it: prefix + 40 characters,
 * or for SDK keys also the documented "sdk_" + 32 alphanumerics. */
static int
presented(const char *secret, const char *prefix, uint8_t hash[32])
{
	size_t n = strlen(secret);
	bool sdk = strcmp(prefix, VX_SDKKEY_PREFIX) == 0;

	if (sdk && n == 4 + VX_SDKKEY_CHARS &&
	    strncmp(secret, VX_SDKKEY_PREFIX, 4) == 0 && all_alnum(secret + 4))
		;
	else if (n != VX_KEY_LEN - 1 ||
	         strncmp(secret, sdk ? VX_SDKKEY_PREFIX_OLD : prefix, 4) != 0)
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
principal(vx_principal *who, enum vx_principal_kind kind, uint64_t id,
    uint64_t project_id, Vexil__V1__Role role, const char *env)
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
api_key(
    MDB_txn *txn, vx_store *s, const char *secret, vx_principal *who, const char **why)
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
sdk_key(
    MDB_txn *txn, vx_store *s, const char *secret, vx_principal *who, const char **why)
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

/* ---- JWT (HS256) ---- */

static uint8_t jwt_secret[32];
/* The only header we issue or accept: the algorithm is pinned. */
static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

void
vx_auth_set_jwt_secret(const uint8_t secret[32])
{
	memcpy(jwt_secret, secret, 32);
}

static size_t
b64url(char *out, size_t cap, const void *in, size_t len)
{
	if (sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) >
	    cap)
		return 0;
	sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return strlen(out);
}

int
vx_auth_jwt_issue(uint64_t user_id, int64_t now_ms, int64_t exp_ms, char *out, size_t cap)
{
	char payload[128], mac_b64[64];
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	size_t n, m;

	snprintf(payload, sizeof(payload), "{\"sub\":\"%llu\",\"iat\":%lld,\"exp\":%lld}",
	    (unsigned long long)user_id, (long long)(now_ms / 1000),
	    (long long)(exp_ms / 1000));
	if ((n = b64url(out, cap, jwt_header, strlen(jwt_header))) == 0 || n + 2 >= cap)
		return VX_EINVAL;
	out[n++] = '.';
	if ((m = b64url(out + n, cap - n, payload, strlen(payload))) == 0)
		return VX_EINVAL;
	n += m;
	crypto_auth_hmacsha256(mac, (const unsigned char *)out, n, jwt_secret);
	if (b64url(mac_b64, sizeof(mac_b64), mac, sizeof(mac)) == 0 ||
	    n + 1 + strlen(mac_b64) + 1 > cap)
		return VX_EINVAL;
	out[n++] = '.';
	strcpy(out + n, mac_b64);
	return 0;
}

/* A number after `"name":` in a small JSON object we issued, or -1. */
static long long
json_number(const char *json, const char *name)
{
	char pat[32];
	const char *p;
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	if ((p = strstr(json, pat)) == NULL)
		return -1;
	p += strlen(pat);
	if (*p == '"')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	return strtoll(p, NULL, 10);
}

int
vx_auth_jwt_verify(const char *token, int64_t now_ms, uint64_t *user_id, const char **why)
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES],
	    given[crypto_auth_hmacsha256_BYTES + 4];
	char payload[256], header[128];
	const char *dot1, *dot2;
	size_t plen = 0, hlen = 0, mlen = 0;
	long long exp, sub;

	*why = "invalid token";
	if (strlen(token) > 1024 || (dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL || strchr(dot2 + 1, '.') != NULL)
		return VX_EAUTH;
	if (sodium_base642bin((unsigned char *)header, sizeof(header) - 1, token,
	        (size_t)(dot1 - token), NULL, &hlen, NULL,
	        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return VX_EAUTH;
	header[hlen] = '\0';
	if (strcmp(header, jwt_header) != 0) {
		*why = "unsupported token algorithm";
		return VX_EAUTH;
	}
	if (sodium_base642bin(given, sizeof(given), dot2 + 1, strlen(dot2 + 1), NULL,
	        &mlen, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    mlen != crypto_auth_hmacsha256_BYTES)
		return VX_EAUTH;
	crypto_auth_hmacsha256(
	    mac, (const unsigned char *)token, (size_t)(dot2 - token), jwt_secret);
	if (sodium_memcmp(mac, given, sizeof(mac)) != 0) {
		*why = "token signature does not match";
		return VX_EAUTH;
	}
	if (sodium_base642bin((unsigned char *)payload, sizeof(payload) - 1, dot1 + 1,
	        (size_t)(dot2 - dot1 - 1), NULL, &plen, NULL,
	        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return VX_EAUTH;
	payload[plen] = '\0';
	if ((exp = json_number(payload, "exp")) < 0) {
		*why = "token has no expiry";
		return VX_EAUTH;
	}
	if (exp * 1000 <= now_ms) {
		*why = "token has expired";
		return VX_EAUTH;
	}
	if ((sub = json_number(payload, "sub")) <= 0)
		return VX_EAUTH;
	*user_id = (uint64_t)sub;
	return 0;
}

static int
bearer(MDB_txn *txn, vx_store *s, const char *token, vx_principal *who, const char **why)
{
	uint64_t id;
	int rc;

	if ((rc = vx_auth_jwt_verify(token, vx_now_ms(), &id, why)) != 0)
		return rc;
	/* A token outlives nothing: a deleted user's token stops working. */
	return vx_auth_principal(txn, s, VX_PRINCIPAL_USER, id, who, why);
}

int
vx_auth_principal(MDB_txn *txn, vx_store *s, enum vx_principal_kind kind, uint64_t id,
    vx_principal *who, const char **why)
{
	Vexil__V1__ApiKey *k;
	Vexil__V1__User *u;
	int rc;

	memset(who, 0, sizeof(*who));
	if (kind == VX_PRINCIPAL_APIKEY) {
		if ((rc = vx_store_apikey_get(txn, s, id, NULL, &k)) == VX_ENOTFOUND) {
			*why = "unknown API key";
			return VX_EAUTH;
		}
		if (rc != 0)
			return rc;
		if (k->revoked) {
			*why = "API key revoked";
			rc = VX_EAUTH;
		} else {
			principal(
			    who, VX_PRINCIPAL_APIKEY, k->id, k->project_id, k->role, "");
		}
		protobuf_c_message_free_unpacked(&k->base, NULL);
		return rc;
	}
	if (kind == VX_PRINCIPAL_USER) {
		if ((rc = vx_store_user_get(txn, s, id, NULL, &u)) == VX_ENOTFOUND) {
			*why = "unknown user";
			return VX_EAUTH;
		}
		if (rc != 0)
			return rc;
		/* A signed-up user: admin of the projects they own, and what
		 * their membership gives them in others' (vx_auth_check_project). */
		who->kind = VX_PRINCIPAL_USER;
		who->id = id;
		who->project_id = 0;
		who->role = VEXIL__V1__ROLE__ROLE_ADMIN;
		vx_auth_user_actor(who, id, u->email);
		protobuf_c_message_free_unpacked(&u->base, NULL);
		return 0;
	}
	*why = "no such principal";
	return VX_EAUTH;
}

int
vx_auth_authenticate(MDB_txn *txn, vx_store *s, const char *credential, vx_principal *who,
    const char **why)
{
	memset(who, 0, sizeof(*who));
	if (credential == NULL || *credential == '\0') {
		*why = "missing credential";
		return VX_EAUTH;
	}
	/* A client that knows only the new SDK prefix sends an SDK key of
	 * the old form as an API key; it is still an SDK key. A new one must
	 * come as what it is. */
	if (strncmp(credential, "ApiKey ", 7) == 0)
		return strncmp(credential + 7, VX_SDKKEY_PREFIX_OLD, 4) == 0
		           ? sdk_key(txn, s, credential + 7, who, why)
		           : api_key(txn, s, credential + 7, who, why);
	if (strncmp(credential, "SdkKey ", 7) == 0)
		return sdk_key(txn, s, credential + 7, who, why);
	if (strncmp(credential, "Bearer ", 7) == 0)
		return bearer(txn, s, credential + 7, who, why);
	*why = "unsupported credential scheme (expected ApiKey, SdkKey or Bearer)";
	return VX_EAUTH;
}

int
vx_auth_check(
    const vx_principal *who, uint64_t project_id, uint64_t owner, Vexil__V1__Role need)
{
	if (who->kind == VX_PRINCIPAL_NONE)
		return VX_EAUTH;
	if (who->kind == VX_PRINCIPAL_USER) {
		if (project_id == 0)
			return (int)need <= VEXIL__V1__ROLE__ROLE_WRITE ? 0 : VX_EPERM;
		return owner == who->id ? 0 : VX_ENOTFOUND;
	}
	if (who->project_id != 0 && who->project_id != project_id)
		return project_id == 0 ? VX_EPERM : VX_ENOTFOUND;
	if ((int)who->role < (int)need)
		return VX_EPERM;
	return 0;
}

Vexil__V1__Role
vx_auth_member_role(const Vexil__V1__Project *p, uint64_t user_id)
{
	if (user_id != 0 && p->owner_user_id == user_id)
		return VEXIL__V1__ROLE__ROLE_ADMIN;
	for (size_t i = 0; i < p->n_members; i++)
		if (p->members[i]->user_id == user_id)
			return p->members[i]->role;
	return VEXIL__V1__ROLE__ROLE_UNSPECIFIED;
}

int
vx_auth_check_project(
    const vx_principal *who, const Vexil__V1__Project *p, Vexil__V1__Role need)
{
	Vexil__V1__Role role;

	if (who->kind != VX_PRINCIPAL_USER)
		return vx_auth_check(who, p->id, p->owner_user_id, need);
	role = vx_auth_member_role(p, who->id);
	if (role == VEXIL__V1__ROLE__ROLE_UNSPECIFIED)
		return VX_ENOTFOUND;
	return (int)role < (int)need ? VX_EPERM : 0;
}

void
vx_auth_user_actor(vx_principal *who, uint64_t id, const char *email)
{
	snprintf(who->actor, sizeof(who->actor), "user:%llu (%s)", (unsigned long long)id,
	    email);
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
