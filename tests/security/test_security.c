/*
 * Vexil security tests: the matrix of issue #8, part 5, over the wire.
 *
 * One vexild and one vexil-gateway, with two tenants: A (everything named
 * "amark...", so that any of it leaking into B's replies is easy to spot)
 * and B. The REST side walks every route of every dialect from the
 * gateway's own route tables (vx_gw_dialects), and the nng side every
 * method of every service in proto/vexil/v1 from the generated service
 * descriptors; a route or method without an entry in the tables below
 * fails the test by name, so nothing added later goes unchecked. For each
 * one:
 *
 *  - object level: B's credential on A's ids gets 404/403 (NOT_FOUND or
 *    PERMISSION_DENIED), and nothing of A's in any reply to B;
 *  - authentication: no credential, a forged JWT (wrong signature), an
 *    expired JWT (signed with vexild's own secret), an unknown key and a
 *    revoked key get 401 (UNAUTHENTICATED);
 *  - function level: an SDK key on management routes gets 401/403, a
 *    read-role key on every write route 403 (PERMISSION_DENIED);
 *  - a positive control: A's own credential succeeds with the same path
 *    and body, so the refusals above are about the credential and not a
 *    malformed request (deletes and key regeneration run last, deepest
 *    first);
 *  - response hygiene, on every reply of the whole run: no API or SDK key
 *    in clear other than the one a reply has just created, no key hash,
 *    no Argon2id hash, no password, not the JWT secret, and no JSON field
 *    whose name holds "hash", "secret" or "password".
 *
 * Mass assignment has tests of its own below: ids, owners, projects,
 * hashes, revisions and timestamps in request bodies are ignored or
 * refused, checked on the stored record afterwards.
 *
 * Failures are collected and listed together, one line each, so one run
 * shows every hole at once.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "client.h"
#include "gateway/dialects.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;
static char pa_ref[32];  /* "proj-<id>" of A's API-key project */

/* ---- failures, collected ---- */

static char *fails;
static size_t nfails, fails_len;

static void VX_PRINTF(1, 2)
fail(const char *f, ...)
{
	char line[1024];
	va_list ap;
	size_t n;

	va_start(ap, f);
	vsnprintf(line, sizeof(line), f, ap);
	va_end(ap);
	n = strlen(line);
	fails = realloc(fails, fails_len + n + 2);
	cr_assert_not_null(fails);
	memcpy(fails + fails_len, line, n);
	fails[fails_len + n] = '\n';
	fails[fails_len + n + 1] = '\0';
	fails_len += n + 1;
	nfails++;
}

static void
assert_no_failures(void)
{
	cr_assert_eq(nfails, 0, "%zu security check(s) failed:\n%s", nfails,
	    fails ? fails : "");
}

/* ---- secrets that must never appear in a reply ---- */

#define MAX_SECRETS 256
static char *secrets[MAX_SECRETS];
static size_t nsecrets;

static void
add_secret(const char *s)
{
	if (nsecrets < MAX_SECRETS && s && *s)
		secrets[nsecrets++] = strdup(s);
}

static void
add_bytes_secret(const uint8_t *b, size_t n)
{
	char hex[2 * 64 + 1], b64[128];

	sodium_bin2hex(hex, sizeof(hex), b, n);
	add_secret(hex);
	sodium_bin2base64(b64, sizeof(b64), b, n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	add_secret(b64);
	sodium_bin2base64(b64, sizeof(b64), b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	add_secret(b64);
}

/* A key in clear, and its stored hash in the forms a reply could carry. */
static void
add_key_secret(const char *key)
{
	uint8_t hash[32];

	add_secret(key);
	vx_auth_hash(key, hash);
	add_bytes_secret(hash, sizeof(hash));
}

/* An SDK key may be shown in its project (the flag-service API does), but
 * its hash never. */
static void
add_sdk_key_hash(const char *key)
{
	uint8_t hash[32];

	vx_auth_hash(key, hash);
	add_bytes_secret(hash, sizeof(hash));
}

static bool
json_names_clean(const cJSON *j, const char *where, const char *allow_field)
{
	const cJSON *c;
	bool ok = true;

	for (c = j ? j->child : NULL; c; c = c->next) {
		if (c->string && (!allow_field || strcmp(c->string, allow_field) != 0) &&
		    (strcasestr(c->string, "hash") || strcasestr(c->string, "secret") ||
			strcasestr(c->string, "password"))) {
			fail("%s: the reply has a field named \"%s\"", where, c->string);
			ok = false;
		}
		ok &= json_names_clean(c, where, allow_field);
	}
	return ok;
}

/*
 * Scans one reply. `created` is the secret the reply itself has just made
 * (it may show it once), and `field` the field it comes in.
 */
static void
scan(const void *body, size_t len, const char *where, const char *created,
    const char *field, const cJSON *json)
{
	if (body == NULL)
		return;
	for (size_t i = 0; i < nsecrets; i++) {
		if (created && strcmp(secrets[i], created) == 0)
			continue;
		if (memmem(body, len, secrets[i], strlen(secrets[i])) != NULL)
			fail("%s: the reply carries a secret (%.12s...)", where, secrets[i]);
	}
	if (memmem(body, len, "$argon2", 7) != NULL)
		fail("%s: the reply carries a password hash", where);
	if (json)
		json_names_clean(json, where, created ? field : NULL);
}

/* ---- HTTP ---- */

static vx_http_res
http(const char *method, const char *path, const char *h1, const char *h2,
    const char *body)
{
	char url[1024], where[600];
	const char *headers[4] = {0};
	int n = 0;
	vx_http_res r;

	if (h1)
		headers[n++] = h1;
	if (h2)
		headers[n++] = h2;
	if (body)
		headers[n++] = "Content-Type: application/json";
	/* "{pa}" in a body stands for A's project ("proj-<id>"). */
	char buf[2048];
	const char *at = body ? strstr(body, "{pa}") : NULL;
	if (at) {
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - body), body, pa_ref, at + 4);
		body = buf;
	}
	snprintf(url, sizeof(url), "%s%s", g.base, path);
	vx_http_req rq = {.method = method, .url = url, .headers = headers, .body = body};
	r = vx_http(&rq);
	snprintf(where, sizeof(where), "%s %s", method, path);
	/* A key-creating reply may show its own new key, once, as "key". */
	const cJSON *k = r.json ? cJSON_GetObjectItemCaseSensitive(r.json, "key") : NULL;
	const char *created = NULL;
	if (r.status == 201 && cJSON_IsString(k) &&
	    (strncmp(k->valuestring, "vxk_", 4) == 0 || strncmp(k->valuestring, "vxs_", 4) == 0))
		created = k->valuestring;
	/* The OpenAPI document describes password fields: names there are fine. */
	scan(r.body, r.len, where, created, "key",
	    strncmp(path, "/openapi.json", 13) == 0 ? NULL : r.json);
	if (created)
		add_key_secret(created);
	return r;
}

static const char *
fmt(const char *f, ...)
{
	static char bufs[16][1024];
	static int next;
	char *b = bufs[next++ % 16];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static const char *
jstr(const vx_http_res *r, const char *name)
{
	const cJSON *v = r->json ? cJSON_GetObjectItemCaseSensitive(r->json, name) : NULL;
	static char num[32];

	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.0f", v->valuedouble);
		return num;
	}
	return NULL;
}

/* Makes something over HTTP and returns a field of the reply (copied). */
static void
make(const char *method, const char *path, const char *h1, const char *body,
    const char *field, char *out, size_t cap)
{
	vx_http_res r = http(method, path, h1, NULL, body);
	const char *v;

	cr_assert(r.status >= 200 && r.status < 300, "%s %s: %ld %s", method, path, r.status,
	    r.body ? r.body : "");
	v = jstr(&r, field);
	cr_assert_not_null(v, "%s %s: no %s in %s", method, path, field, r.body);
	snprintf(out, cap, "%s", v);
	vx_http_res_free(&r);
}

/* ---- the world ---- */

/* Tenant A and B over the API keys, and the `default` project. */
static char kA_admin[128], kA_read[128], kA_rev[128], kB_admin[128];
static char kD_admin[128], kD_read[128], kD_rev[128];
static char sA[128], sA_rev[128], sB[128], sD[128], sFS[128], sFS_rev[128];
static char jwtA[1024], jwtB[1024], jwt_expired[1024], jwt_forged[1024];
static char forged_key[64];
static uint64_t userA, userB;
/* A user project A's admin key adds as a member (/v1/members). */
static char jwtM[1024];
static uint64_t userM;
static char passwordA[] = "amark-password-1", passwordB[] = "b-password-123";

/* Ids of A's objects, per dialect. */
static char fs_proj[64], fs_flag[64], fs_rule[64];
static char pf_flag[64], pf_rule[64], pf_env[64], pf_key[64], pf_sched[64], pf_sdk[64];
static char pf_seg[64];
/* A's change requests, by A's write key (docs/teams.md): one to approve,
 * one to reject, one to withdraw, one to comment on. */
static uint64_t rpc_change_ids[4];
static char kA_write[128];
static char tb_id[64];

static const char tg_name[] = "amark-toggle";
static const char of_key[] = "amark-pflag";

static uint64_t
make_project(const char *name)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	uint64_t id;

	in.name = (char *)name;
	in.description = "";
	cr_assert(vx_create_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	id = p->id;
	vx_free(p);
	return id;
}

static uint64_t
make_key(const char *project, Vexil__V1__Role role, char *out, size_t cap)
{
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	vx_status st;
	uint64_t id;

	in.name = "security";
	in.project = (char *)project;
	in.role = role;
	cr_assert(vx_create_api_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	snprintf(out, cap, "%s", k->secret);
	id = k->key->id;
	vx_free(k);
	add_key_secret(out);
	return id;
}

static void
revoke_key(uint64_t id)
{
	Vexil__V1__RevokeApiKeyRequest in = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__Empty *e;
	vx_status st;

	in.id = id;
	cr_assert(vx_revoke_api_key(h.admin, &in, &e, &st) == 0, "%s", st.message);
	vx_free(e);
}

static uint64_t
make_sdk_key(const char *project, char *out, size_t cap)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	vx_status st;
	uint64_t id;

	in.project = (char *)project;
	in.environment = "";
	cr_assert(vx_create_sdk_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	snprintf(out, cap, "%s", k->secret);
	id = k->key->id;
	vx_free(k);
	add_sdk_key_hash(out);
	return id;
}

static void
revoke_sdk_key(uint64_t id)
{
	Vexil__V1__RevokeSdkKeyRequest in = VEXIL__V1__REVOKE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__Empty *e;
	vx_status st;

	in.id = id;
	cr_assert(vx_revoke_sdk_key(h.admin, &in, &e, &st) == 0, "%s", st.message);
	vx_free(e);
}

static uint64_t
make_user(const char *email, const char *password, char *jwt, size_t cap)
{
	Vexil__V1__RegisterRequest rq = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__LoginRequest lq = VEXIL__V1__LOGIN_REQUEST__INIT;
	Vexil__V1__User *u;
	Vexil__V1__LoginReply *l;
	vx_client *c = vx_harness_client(&h, NULL);
	vx_status st;
	uint64_t id;

	rq.email = lq.email = (char *)email;
	rq.password = lq.password = (char *)password;
	cr_assert(vx_register_user(c, &rq, &u, &st) == 0, "%s", st.message);
	id = u->id;
	vx_free(u);
	cr_assert(vx_login(c, &lq, &l, &st) == 0, "%s", st.message);
	snprintf(jwt, cap, "%s", l->token);
	vx_free(l);
	vx_client_close(c);
	return id;
}

static void
setup(void)
{
	const char *extra[] = {"--rate-limit", "0", NULL};
	uint8_t secret[32], wrong[32];
	int64_t now = (int64_t)time(NULL) * 1000;
	char bearer[1100], id[64];

	cr_assert(sodium_init() >= 0);
	vx_harness_start(&h, extra);
	add_key_secret(h.key);
	vx_harness_jwt_secret(&h, secret);
	add_bytes_secret(secret, sizeof(secret));
	add_secret(passwordA);
	add_secret(passwordB);
	add_secret("another-pw-1");      /* the matrix's /auth/register */
	add_secret("rpc-new-password");  /* the matrix's RegisterUser */

	snprintf(pa_ref, sizeof(pa_ref), "proj-%llu",
	    (unsigned long long)make_project("amarkpa"));
	make_project("pb");
	make_key("amarkpa", VEXIL__V1__ROLE__ROLE_ADMIN, kA_admin, sizeof(kA_admin));
	make_key("amarkpa", VEXIL__V1__ROLE__ROLE_READ, kA_read, sizeof(kA_read));
	revoke_key(make_key("amarkpa", VEXIL__V1__ROLE__ROLE_ADMIN, kA_rev, sizeof(kA_rev)));
	make_key("pb", VEXIL__V1__ROLE__ROLE_ADMIN, kB_admin, sizeof(kB_admin));
	make_key("default", VEXIL__V1__ROLE__ROLE_ADMIN, kD_admin, sizeof(kD_admin));
	make_key("default", VEXIL__V1__ROLE__ROLE_READ, kD_read, sizeof(kD_read));
	revoke_key(make_key("default", VEXIL__V1__ROLE__ROLE_ADMIN, kD_rev, sizeof(kD_rev)));
	make_sdk_key("amarkpa", sA, sizeof(sA));
	revoke_sdk_key(make_sdk_key("amarkpa", sA_rev, sizeof(sA_rev)));
	make_sdk_key("default", sD, sizeof(sD));
	make_sdk_key("pb", sB, sizeof(sB));
	/* A well-formed key nobody issued. */
	snprintf(forged_key, sizeof(forged_key), "vxk_%08x%08x%08x%08x%08x", randombytes_random(),
	    randombytes_random(), randombytes_random(), randombytes_random(),
	    randombytes_random());

	userA = make_user("amark@example.com", passwordA, jwtA, sizeof(jwtA));
	userB = make_user("b@example.com", passwordB, jwtB, sizeof(jwtB));
	userM = make_user("amark-member@example.com", passwordB, jwtM, sizeof(jwtM));
	vx_auth_set_jwt_secret(secret);
	cr_assert(vx_auth_jwt_issue(userA, now - 7200000, now - 3600000, jwt_expired,
		      sizeof(jwt_expired)) == 0);
	randombytes_buf(wrong, sizeof(wrong));
	vx_auth_set_jwt_secret(wrong);
	cr_assert(vx_auth_jwt_issue(userA, now, now + 3600000, jwt_forged,
		      sizeof(jwt_forged)) == 0);

	vx_gateway_start(&g, &h, NULL, NULL, NULL);

	/* flag-service: user A's project, flag and rule. */
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", jwtA);
	make("POST", "/api/projects", bearer, "{\"name\":\"amark-fsproj\",\"description\":\"d\"}",
	    "id", fs_proj, sizeof(fs_proj));
	make("GET", fmt("/api/projects/%s", fs_proj), bearer, NULL, "sdk_key", sFS, sizeof(sFS));
	add_sdk_key_hash(sFS);
	make("POST", fmt("/api/projects/%s/flags", fs_proj), bearer,
	    "{\"name\":\"amark flag\",\"key\":\"amark_fsflag\",\"enabled\":true}", "id", fs_flag,
	    sizeof(fs_flag));
	make("POST", fmt("/api/projects/%s/flags/%s/rules", fs_proj, fs_flag), bearer,
	    "{\"rule_type\":\"email_domain\",\"rule_value\":\"@amark.example\",\"priority\":1}",
	    "id", fs_rule, sizeof(fs_rule));
	/* A revoked SDK key of that project (a user's projects are numbered). */
	{
		Vexil__V1__ListProjectsRequest lp = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
		Vexil__V1__ProjectList *pl;
		vx_status st;
		cr_assert(vx_list_projects(h.admin, &lp, &pl, &st) == 0, "%s", st.message);
		for (size_t i = 0; i < pl->n_projects; i++)
			if (strcmp(pl->projects[i]->name, "amark-fsproj") == 0)
				snprintf(id, sizeof(id), "%llu",
				    (unsigned long long)pl->projects[i]->id);
		vx_free(pl);
		revoke_sdk_key(make_sdk_key(id, sFS_rev, sizeof(sFS_rev)));
	}
	snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", jwtB);
	make("POST", "/api/projects", bearer, "{\"name\":\"b-fsproj\"}", "id", id, sizeof(id));

	/* platform: tenant A's flag, rule, environment and a key to delete. */
	snprintf(bearer, sizeof(bearer), "Authorization: ApiKey %s", kA_admin);
	make("POST", "/v1/flags", bearer, "{\"key\":\"amark-pflag\",\"name\":\"amark\"}", "id",
	    pf_flag, sizeof(pf_flag));
	make("POST", fmt("/v1/flags/%s/rules", pf_flag), bearer,
	    "{\"type\":\"user\",\"attribute\":\"email\",\"operator\":\"ends_with\","
	    "\"values\":[\"@amark.example\"],\"environment\":\"staging\"}",
	    "id", pf_rule, sizeof(pf_rule));
	make("POST", "/v1/environments", bearer, "{\"key\":\"amarkenv\",\"name\":\"amark\"}", "id",
	    pf_env, sizeof(pf_env));
	make("POST", "/v1/api-keys", bearer,
	    fmt("{\"name\":\"amark-victim\",\"role\":\"read\",\"project_id\":\"%s\"}", pa_ref),
	    "id", pf_key, sizeof(pf_key));
	{
		/* A write scheduled an hour ahead (the ?at= extension). */
		char at[VX_TIME_LEN];
		vx_format_time_ms(at, vx_now_ms() + 3600 * 1000);
		make("PATCH", fmt("/v1/flags/%s/state?at=%s", pf_flag, at), bearer,
		    "{\"environment\":\"production\",\"enabled\":true}", "id", pf_sched,
		    sizeof(pf_sched));
	}
	{
		/* Four change requests of A's write key to amarkenv, protected
		 * while they are made. */
		Vexil__V1__UpdateEnvironmentRequest ue =
		    VEXIL__V1__UPDATE_ENVIRONMENT_REQUEST__INIT;
		Vexil__V1__SetFlagEnabledRequest se =
		    VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
		Vexil__V1__Environment upd = VEXIL__V1__ENVIRONMENT__INIT, *eout;
		Vexil__V1__Flag *fout = NULL;
		char *mask[] = {"protected"};
		unsigned long long cid;
		vx_status cst;
		vx_client *w;

		/* Their own flag: the matrix's writes to A's flag would make
		 * them stale. */
		Vexil__V1__CreateFlagRequest cf = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
		Vexil__V1__Flag nf = VEXIL__V1__FLAG__INIT;
		nf.key = "amark-cflag";
		cf.project = "amarkpa";
		cf.flag = &nf;
		cr_assert(
		    vx_create_flag(h.admin, &cf, &fout, &cst) == 0, "%s", cst.message);
		vx_free(fout);
		make_key(
		    "amarkpa", VEXIL__V1__ROLE__ROLE_WRITE, kA_write, sizeof(kA_write));
		ue.project = se.project = "amarkpa";
		ue.key = se.environment = "amarkenv";
		ue.update = &upd;
		ue.update_mask = mask;
		ue.n_update_mask = 1;
		for (int on = 1; on >= 0; on--) {
			upd.protected_ = on;
			cr_assert(vx_update_environment(h.admin, &ue, &eout, &cst) == 0,
			    "%s", cst.message);
			vx_free(eout);
			if (!on)
				break;
			w = vx_harness_client(&h, fmt("ApiKey %s", kA_write));
			se.key = "amark-cflag";
			for (int i = 0; i < 4; i++) {
				se.enabled = true; /* held: the flag stays off */
				cr_assert(vx_set_flag_enabled(w, &se, &fout, &cst) != 0);
				cr_assert(
				    sscanf(cst.message, "change request %llu", &cid) == 1,
				    "%s", cst.message);
				rpc_change_ids[i] = cid;
			}
			vx_client_close(w);
		}
	}
	make("POST", "/v1/sdk-keys", bearer, "{\"environment\":\"staging\"}", "id", pf_sdk,
	    sizeof(pf_sdk));
	make("POST", "/v1/segments", bearer, "{\"name\":\"amark-v1seg\"}", "id", pf_seg,
	    sizeof(pf_seg));

	/* table and toggles: records of the default project. */
	snprintf(bearer, sizeof(bearer), "Authorization: ApiKey %s", kD_admin);
	make("POST", "/api/feature-flags/", bearer,
	    "{\"name_flag\":\"amark_table\",\"strategy\":\"amark\",\"status\":\"beta\","
	    "\"created_by\":1}",
	    "id", tb_id, sizeof(tb_id));
	make("POST", "/feature-toggles/", bearer,
	    "{\"name\":\"amark-toggle\",\"description\":\"amark\",\"owner\":\"amark\","
	    "\"metadata\":{}}",
	    "name", id, sizeof(id));
}

static void
teardown(void)
{
	int rc = vx_gateway_stop(&g);
	char log[sizeof(g.log)];

	int vrc = vx_harness_stop(&h);

	memcpy(log, g.log, sizeof(log));
	cr_assert_eq(vrc, 0, "vexild did not stop cleanly (see %s)", h.log);
	vx_harness_fini(&h);
	cr_assert_eq(rc, 0, "the gateway did not stop cleanly (see %s)", log);
	unlink(log);
	for (size_t i = 0; i < nsecrets; i++)
		free(secrets[i]);
	free(fails);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 600);

/* ---- the REST matrix ---- */

enum scheme {
	S_PUBLIC,  /* no credential at all */
	S_LOGIN,   /* public, takes email and password */
	S_JWT,     /* flag-service /api: Authorization: Bearer <jwt> */
	S_SDK,     /* flag-service /sdk: X-SDK-Key */
	S_APIKEY,  /* platform: Authorization: ApiKey <key> (or a user's Bearer <jwt>) */
	S_V1JWT,   /* platform, what a user does with Bearer <jwt> (make a project) */
	S_FA,      /* table, toggles: ApiKey <key> or Bearer <jwt> */
	S_OFREP,   /* Authorization: Bearer <key> or X-API-Key: <key> */
	S_STREAM,  /* OFREP's event stream: only refusals are tried */
};

struct route_case {
	const char *method, *pattern;
	enum scheme scheme;
	bool write;        /* a read-role key gets 403 */
	const char *body;  /* a minimal valid body, or NULL */
};

/*
 * Every route of every dialect. Bodies create things under names no other
 * case uses, so each positive control can succeed once.
 */
static const struct route_case cases[] = {
	/* flag-service */
	{"GET", "/health", S_PUBLIC, false, NULL},
	{"POST", "/auth/register", S_LOGIN, false,
	    "{\"email\":\"new@example.com\",\"password\":\"another-pw-1\"}"},
	{"POST", "/auth/login", S_LOGIN, false,
	    "{\"email\":\"amark@example.com\",\"password\":\"amark-password-1\"}"},
	{"GET", "/api/me", S_JWT, false, NULL},
	{"POST", "/api/projects", S_JWT, true, "{\"name\":\"sec-new-project\"}"},
	{"GET", "/api/projects", S_JWT, false, NULL},
	{"GET", "/api/projects/{project_id}", S_JWT, false, NULL},
	{"PUT", "/api/projects/{project_id}", S_JWT, true, "{\"description\":\"changed\"}"},
	{"DELETE", "/api/projects/{project_id}", S_JWT, true, NULL},
	{"POST", "/api/projects/{project_id}/regenerate-key", S_JWT, true, NULL},
	{"POST", "/api/projects/{project_id}/flags", S_JWT, true,
	    "{\"name\":\"sec new\",\"key\":\"sec_new_flag\"}"},
	{"GET", "/api/projects/{project_id}/flags", S_JWT, false, NULL},
	{"GET", "/api/projects/{project_id}/flags/{flag_id}", S_JWT, false, NULL},
	{"PUT", "/api/projects/{project_id}/flags/{flag_id}", S_JWT, true,
	    "{\"description\":\"changed\"}"},
	{"DELETE", "/api/projects/{project_id}/flags/{flag_id}", S_JWT, true, NULL},
	{"POST", "/api/projects/{project_id}/flags/{flag_id}/toggle", S_JWT, true, NULL},
	{"POST", "/api/projects/{project_id}/flags/{flag_id}/rules", S_JWT, true,
	    "{\"rule_type\":\"user_id\",\"rule_value\":\"u1\",\"priority\":2}"},
	{"GET", "/api/projects/{project_id}/flags/{flag_id}/rules", S_JWT, false, NULL},
	{"GET", "/api/projects/{project_id}/flags/{flag_id}/rules/{rule_id}", S_JWT, false,
	    NULL},
	{"PUT", "/api/projects/{project_id}/flags/{flag_id}/rules/{rule_id}", S_JWT, true,
	    "{\"priority\":3}"},
	{"DELETE", "/api/projects/{project_id}/flags/{flag_id}/rules/{rule_id}", S_JWT, true,
	    NULL},
	{"POST", "/sdk/v1/evaluate", S_SDK, false, "{\"user_id\":\"u1\"}"},
	/* platform v1 */
	{"GET", "/v1/flags", S_APIKEY, false, NULL},
	{"POST", "/v1/flags", S_APIKEY, true, "{\"key\":\"sec-new-flag\"}"},
	{"GET", "/v1/flags/{flag_id}", S_APIKEY, false, NULL},
	{"PUT", "/v1/flags/{flag_id}", S_APIKEY, true, "{\"description\":\"changed\"}"},
	{"DELETE", "/v1/flags/{flag_id}", S_APIKEY, true, NULL},
	{"PATCH", "/v1/flags/{flag_id}/state", S_APIKEY, true,
	    "{\"environment\":\"staging\",\"enabled\":true}"},
	{"POST", "/v1/flags/{flag_id}/rules", S_APIKEY, true,
	    "{\"type\":\"user\",\"attribute\":\"country\",\"operator\":\"equals\","
	    "\"values\":[\"DE\"],\"environment\":\"production\"}"},
	{"PATCH", "/v1/flags/{flag_id}/rules/{rule_id}", S_APIKEY, true, "{\"priority\":4}"},
	{"DELETE", "/v1/flags/{flag_id}/rules/{rule_id}", S_APIKEY, true, NULL},
	{"GET", "/v1/environments", S_APIKEY, false, NULL},
	{"POST", "/v1/environments", S_APIKEY, true, "{\"key\":\"secnewenv\"}"},
	{"DELETE", "/v1/environments/{environment_id}", S_APIKEY, true, NULL},
	{"PATCH", "/v1/environments/{environment_id}", S_APIKEY, true,
	    "{\"name\":\"renamed\"}"},
	{"GET", "/v1/members", S_APIKEY, false, NULL},
	{"POST", "/v1/members", S_APIKEY, true,
	    "{\"email\":\"amark-member@example.com\",\"role\":\"read\","
	    "\"project_id\":\"{pa}\"}"},
	{"PATCH", "/v1/members/{member_id}", S_APIKEY, true, "{\"role\":\"write\"}"},
	{"DELETE", "/v1/members/{member_id}", S_APIKEY, true, NULL},
	{"GET", "/v1/sdk/config", S_APIKEY, false, NULL},
	{"POST", "/v1/sdk/evaluate", S_APIKEY, false,
	    "{\"environment\":\"production\",\"user\":{\"id\":\"u1\"}}"},
	/* Exposure is evaluation telemetry, as an SDK sends it: not a write. */
	{"POST", "/v1/analytics/exposure", S_APIKEY, false,
	    "{\"flag_key\":\"amark-pflag\",\"environment\":\"production\",\"user_id\":\"u1\","
	    "\"timestamp\":\"2025-04-07T18:10:00Z\",\"client_id\":\"web\"}"},
	{"GET", "/v1/analytics/flags/{flag_id}/stats", S_APIKEY, false, NULL},
	{"GET", "/v1/analytics/evaluations", S_APIKEY, false, NULL},
	{"POST", "/v1/api-keys", S_APIKEY, true,
	    "{\"name\":\"sec-new\",\"role\":\"read\",\"project_id\":\"{pa}\"}"},
	{"GET", "/v1/api-keys", S_APIKEY, false, NULL},
	{"DELETE", "/v1/api-keys/{key_id}", S_APIKEY, true, NULL},
	/* Vexil extensions: scheduled writes and stale flags. */
	{"GET", "/v1/flags/stale", S_APIKEY, false, NULL},
	{"GET", "/v1/schedules", S_APIKEY, false, NULL},
	{"DELETE", "/v1/schedules/{schedule_id}", S_APIKEY, true, NULL},
	/* Vexil extensions: change requests (withdrawn by their author). */
	{"GET", "/v1/change-requests", S_APIKEY, false, NULL},
	{"POST", "/v1/change-requests/{change_id}/approve", S_APIKEY, true, NULL},
	{"POST", "/v1/change-requests/{change_id}/reject", S_APIKEY, true, NULL},
	{"POST", "/v1/change-requests/{change_id}/withdraw", S_APIKEY, false, NULL},
	{"POST", "/v1/change-requests/{change_id}/comments", S_APIKEY, false,
	    "{\"text\":\"looks right\"}"},
	/* the admin UI's extensions */
	{"POST", "/v1/sdk-keys", S_APIKEY, true, "{\"environment\":\"production\"}"},
	{"GET", "/v1/sdk-keys", S_APIKEY, false, NULL},
	{"DELETE", "/v1/sdk-keys/{sdk_key_id}", S_APIKEY, true, NULL},
	{"PUT", "/v1/flags/{flag_id}/prerequisites", S_APIKEY, true,
	    "{\"environment\":\"staging\",\"prerequisites\":[]}"},
	{"GET", "/v1/segments", S_APIKEY, false, NULL},
	{"POST", "/v1/segments", S_APIKEY, true, "{\"name\":\"sec-new-seg\"}"},
	{"GET", "/v1/segments/{segment_name}", S_APIKEY, false, NULL},
	{"PUT", "/v1/segments/{segment_name}", S_APIKEY, true, "{\"description\":\"changed\"}"},
	{"DELETE", "/v1/segments/{segment_name}", S_APIKEY, true, NULL},
	{"GET", "/v1/projects", S_APIKEY, false, NULL},
	{"POST", "/v1/projects", S_V1JWT, true, "{\"name\":\"sec-new-v1-project\"}"},
	{"GET", "/v1/audit", S_APIKEY, false, NULL},
	/* feature-flag table */
	{"POST", "/api/feature-flags", S_FA, true,
	    "{\"name_flag\":\"sec_new\",\"strategy\":\"s\",\"status\":\"beta\",\"created_by\":1}"},
	{"GET", "/api/feature-flags", S_FA, false, NULL},
	{"GET", "/api/feature-flags/{feature_flag_id}", S_FA, false, NULL},
	{"PUT", "/api/feature-flags/{feature_flag_id}", S_FA, true,
	    "{\"name_flag\":\"amark_table\",\"strategy\":\"changed\",\"status\":\"beta\","
	    "\"updated_by\":1}"},
	{"DELETE", "/api/feature-flags/{feature_flag_id}", S_FA, true, NULL},
	/* toggles */
	{"POST", "/feature-toggles", S_FA, true,
	    "{\"name\":\"sec-new\",\"description\":\"d\",\"owner\":\"o\",\"metadata\":{}}"},
	{"GET", "/feature-toggles", S_FA, false, NULL},
	{"GET", "/feature-toggles/{toggle_name}", S_FA, false, NULL},
	{"PUT", "/feature-toggles/{toggle_name}", S_FA, true,
	    "{\"environment\":\"staging\",\"is_active\":true}"},
	/* OFREP */
	{"POST", "/ofrep/v1/evaluate/flags", S_OFREP, false, "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"production\"}}"},
	{"POST", "/ofrep/v1/evaluate/flags/{key}", S_OFREP, false,
	    "{\"context\":{\"targetingKey\":\"u1\",\"environment\":\"production\"}}"},
	{"GET", "/ofrep/v1/events", S_STREAM, false, NULL},
	/* docs */
	{"GET", "/openapi.json", S_PUBLIC, false, NULL},
	{"GET", "/docs", S_PUBLIC, false, NULL},
	{"GET", "/docs/{asset}", S_PUBLIC, false, NULL},
	{"GET", "/redoc", S_PUBLIC, false, NULL},
	/* flagd sync source: OFREP's credentials */
	{"GET", "/flagd/v1/{project}/{file}", S_OFREP, false, NULL},
	/* Unleash's client API: OFREP's credentials (and the bare key) */
	{"GET", "/api/client/features", S_OFREP, false, NULL},
	/* Unleash's register, metrics and frontend API: the same; metrics are
	 * evaluation telemetry, not a write */
	{"POST", "/api/client/register", S_OFREP, false, "{\"appName\":\"sec\"}"},
	{"POST", "/api/client/metrics", S_OFREP, false,
	    "{\"appName\":\"sec\",\"bucket\":{\"start\":\"2026-12-07T10:00:00Z\","
	    "\"stop\":\"2026-12-07T10:01:00Z\",\"toggles\":{\"amark-pflag\":{\"yes\":1}}}}"},
	{"GET", "/api/frontend", S_OFREP, false, NULL},
	{"POST", "/api/frontend", S_OFREP, false,
	    "{\"context\":{\"userId\":\"u1\",\"environment\":\"production\"}}"},
	{"POST", "/api/frontend/client/register", S_OFREP, false, "{\"appName\":\"sec\"}"},
	{"POST", "/api/frontend/client/metrics", S_OFREP, false,
	    "{\"appName\":\"sec\",\"bucket\":{\"start\":\"2026-12-07T10:00:00Z\","
	    "\"stop\":\"2026-12-07T10:01:00Z\",\"toggles\":{}}}"},
	{"GET", "/ui", S_PUBLIC, false, NULL},
	{"GET", "/ui/{asset}", S_PUBLIC, false, NULL},
	/* ops: open unless --metrics-token (tests/gateway/test_metrics.c) */
	{"GET", "/metrics", S_PUBLIC, false, NULL},
	{"GET", "/readyz", S_PUBLIC, false, NULL},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static const struct route_case *
case_for(const char *method, const char *pattern)
{
	for (size_t i = 0; i < N_CASES; i++)
		if (strcmp(cases[i].method, method) == 0 && strcmp(cases[i].pattern, pattern) == 0)
			return &cases[i];
	return NULL;
}

/* A's value for a path parameter of pattern. */
static const char *
param(const char *pattern, const char *name)
{
	bool v1 = strncmp(pattern, "/v1/", 4) == 0;

	if (strcmp(name, "project_id") == 0)
		return fs_proj;
	if (strcmp(name, "flag_id") == 0)
		return v1 ? pf_flag : fs_flag;
	if (strcmp(name, "rule_id") == 0)
		return v1 ? pf_rule : fs_rule;
	if (strcmp(name, "environment_id") == 0)
		return pf_env;
	if (strcmp(name, "key_id") == 0)
		return pf_key;
	if (strcmp(name, "schedule_id") == 0)
		return pf_sched;
	if (strcmp(name, "change_id") == 0)
		return fmt("change-%llu",
		    (unsigned long long)
		        rpc_change_ids[strstr(pattern, "/approve")    ? 0
		                       : strstr(pattern, "/reject")   ? 1
		                       : strstr(pattern, "/withdraw") ? 2
		                                                      : 3]);
	if (strcmp(name, "sdk_key_id") == 0)
		return pf_sdk;
	if (strcmp(name, "member_id") == 0)
		return fmt("user-%llu", (unsigned long long)userM);
	if (strcmp(name, "segment_name") == 0)
		return "amark-v1seg";
	if (strcmp(name, "feature_flag_id") == 0)
		return tb_id;
	if (strcmp(name, "toggle_name") == 0)
		return tg_name;
	if (strcmp(name, "key") == 0)
		return of_key;
	if (strcmp(name, "asset") == 0)
		return strncmp(pattern, "/ui/", 4) == 0 ? "app.js" : "swagger-ui.css";
	if (strcmp(name, "project") == 0)
		return "amarkpa";
	if (strcmp(name, "file") == 0)
		return "production.json";
	return NULL;
}

/* The path with A's ids in it; false (and a failure) for an unknown one. */
static bool
fill(const char *method, const char *pattern, char *out, size_t cap)
{
	const char *p = pattern;
	size_t n = 0;

	while (*p && n + 1 < cap) {
		if (*p == '{') {
			char name[64];
			const char *end = strchr(p, '}');
			const char *v;
			snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
			if ((v = param(pattern, name)) == NULL) {
				fail("%s: no value for the path parameter {%s}", pattern, name);
				return false;
			}
			n += (size_t)snprintf(out + n, cap - n, "%s", v);
			p = end + 1;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	/* Required query parameters. */
	if ((strcmp(method, "GET") == 0 && strcmp(pattern, "/v1/sdk/config") == 0) ||
	    strncmp(pattern, "/api/client/", 12) == 0 ||
	    strncmp(pattern, "/api/frontend", 13) == 0)
		snprintf(out + n, cap - n, "?environment=production");
	return true;
}

static bool
has_params(const char *pattern)
{
	return strchr(pattern, '{') != NULL;
}

/* Checks one request's status against the allowed ones (0-terminated). */
static vx_http_res
expect(const struct route_case *c, const char *path, const char *what, const char *h1,
    const char *h2, const int *allowed)
{
	vx_http_res r = http(c->method, path, h1, h2, c->body);
	bool ok = false;

	for (const int *a = allowed; *a; a++)
		ok |= r.status == *a;
	if (!ok)
		fail("%s %s (%s): %s got %ld: %.200s", c->method, c->pattern, path, what,
		    r.status, r.body ? r.body : "");
	/* OFREP answers 401 and 403 with no body. */
	if ((c->scheme == S_OFREP || c->scheme == S_STREAM) &&
	    (r.status == 401 || r.status == 403) && r.len > 0)
		fail("%s %s: %s got %ld with a body: %.200s", c->method, c->pattern, what,
		    r.status, r.body);
	return r;
}

static void
expect_free(const struct route_case *c, const char *path, const char *what,
    const char *h1, const char *h2, const int *allowed)
{
	vx_http_res r = expect(c, path, what, h1, h2, allowed);
	vx_http_res_free(&r);
}

static const int only_401[] = {401, 0};
static const int only_403[] = {403, 0};
static const int s401_403[] = {401, 403, 0};
static const int s403_404[] = {403, 404, 0};

/* The credentials of one scheme, as headers. "": the check does not apply. */
struct creds {
	char owner[1100];         /* A's own */
	char other[1100];         /* B's */
	char other2[1100];        /* B's too, another way */
	char forged_jwt[1100], expired_jwt[1100], unknown_key[200], revoked[200];
	char sdk[3][200];         /* an SDK key where a management key belongs */
	char read[200];           /* a read-role key of A's */
};

#define SET(field, f, v) snprintf(c->field, sizeof(c->field), f, v)

static void
creds_for(enum scheme s, struct creds *c)
{
	memset(c, 0, sizeof(*c));
	switch (s) {
	case S_JWT:
		SET(owner, "Authorization: Bearer %s", jwtA);
		SET(other, "Authorization: Bearer %s", jwtB);
		SET(forged_jwt, "Authorization: Bearer %s", jwt_forged);
		SET(expired_jwt, "Authorization: Bearer %s", jwt_expired);
		SET(unknown_key, "Authorization: Bearer %s", forged_key);
		SET(revoked, "Authorization: Bearer %s", kA_rev);
		SET(sdk[0], "Authorization: Bearer %s", sFS);
		SET(sdk[1], "Authorization: ApiKey %s", kA_admin);
		break;
	case S_SDK:
		SET(owner, "X-SDK-Key: %s", sFS);
		SET(unknown_key, "X-SDK-Key: vxs_%s", forged_key + 4);
		SET(revoked, "X-SDK-Key: %s", sFS_rev);
		SET(forged_jwt, "X-SDK-Key: %s", jwt_forged);
		break;
	case S_APIKEY:
		SET(owner, "Authorization: ApiKey %s", kA_admin);
		SET(other, "Authorization: ApiKey %s", kB_admin);
		SET(forged_jwt, "Authorization: Bearer %s", jwt_forged);
		SET(expired_jwt, "Authorization: Bearer %s", jwt_expired);
		SET(unknown_key, "Authorization: ApiKey %s", forged_key);
		SET(revoked, "Authorization: ApiKey %s", kA_rev);
		SET(sdk[0], "Authorization: ApiKey %s", sA);
		SET(sdk[1], "Authorization: SdkKey %s", sA);
		SET(read, "Authorization: ApiKey %s", kA_read);
		/* A user acts on projects of their own, never A's. */
		SET(other2, "Authorization: Bearer %s", jwtB);
		break;
	case S_V1JWT:
		SET(owner, "Authorization: Bearer %s", jwtA);
		SET(other, "Authorization: Bearer %s", jwtB);
		SET(forged_jwt, "Authorization: Bearer %s", jwt_forged);
		SET(expired_jwt, "Authorization: Bearer %s", jwt_expired);
		SET(unknown_key, "Authorization: ApiKey %s", forged_key);
		SET(revoked, "Authorization: ApiKey %s", kA_rev);
		SET(sdk[0], "Authorization: Bearer %s", sA);
		SET(sdk[1], "Authorization: ApiKey %s", sA);
		SET(read, "Authorization: ApiKey %s", kA_read);
		break;
	case S_FA:
		SET(owner, "Authorization: ApiKey %s", kD_admin);
		SET(other, "Authorization: ApiKey %s", kB_admin);
		/* A user acts on a project of their own, never the keys' default. */
		SET(other2, "Authorization: Bearer %s", jwtB);
		SET(forged_jwt, "Authorization: Bearer %s", jwt_forged);
		SET(expired_jwt, "Authorization: Bearer %s", jwt_expired);
		SET(unknown_key, "Authorization: ApiKey %s", forged_key);
		SET(revoked, "Authorization: ApiKey %s", kD_rev);
		SET(sdk[0], "Authorization: ApiKey %s", sD);
		SET(sdk[1], "Authorization: Bearer %s", sD);
		SET(sdk[2], "Authorization: SdkKey %s", sD);
		SET(read, "Authorization: ApiKey %s", kD_read);
		break;
	case S_OFREP:
		SET(owner, "Authorization: Bearer %s", kA_read);
		SET(other, "X-API-Key: %s", kB_admin);
		SET(other2, "Authorization: Bearer %s", sB);  /* B's SDK key */
		SET(forged_jwt, "Authorization: Bearer %s", jwt_forged);
		SET(expired_jwt, "Authorization: Bearer %s", jwt_expired);
		SET(unknown_key, "X-API-Key: %s", forged_key);
		SET(revoked, "Authorization: Bearer %s", sA_rev);
		break;
	case S_STREAM:
		SET(forged_jwt, "Authorization: Bearer %s", jwt_forged);
		SET(unknown_key, "X-API-Key: %s", forged_key);
		SET(revoked, "Authorization: Bearer %s", kA_rev);
		break;
	default:
		break;
	}
}

/*
 * Whether a reply to B shows anything of A's. What B put in the path
 * itself (OFREP echoes the flag key it was asked for) is blanked first.
 */
static bool
mentions_a(const vx_http_res *r, const char *path)
{
	char *b, *at, seg[256];
	const char *p = path;
	bool found;

	if (r->body == NULL)
		return false;
	b = strdup(r->body);
	cr_assert_not_null(b);
	while (*p) {
		size_t n = strcspn(++p, "/?");
		snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
		while (n >= 3 && (at = strstr(b, seg)) != NULL)
			memset(at, '_', n);
		p += n;
		if (*p == '?')
			break;
	}
	found = strstr(b, "amark") != NULL || strstr(b, sFS) != NULL || strstr(b, sA) != NULL;
	free(b);
	return found;
}

/* Every check of one route but the positive control. */
static void
refusals(const struct route_case *c, const char *path)
{
	struct creds k;
	vx_http_res r;

	creds_for(c->scheme, &k);
	if (c->scheme == S_PUBLIC || c->scheme == S_LOGIN)
		return;
	expect_free(c, path, "no credential", NULL, NULL, only_401);
	if (k.forged_jwt[0])
		expect_free(c, path, "a forged JWT", k.forged_jwt, NULL, only_401);
	if (k.expired_jwt[0])
		expect_free(c, path, "an expired JWT", k.expired_jwt, NULL, only_401);
	if (k.unknown_key[0])
		expect_free(c, path, "an unknown key", k.unknown_key, NULL, only_401);
	if (k.revoked[0])
		expect_free(c, path, "a revoked key", k.revoked, NULL, only_401);
	for (int i = 0; i < 3; i++)
		if (k.sdk[i][0])
			expect_free(c, path, fmt("a wrong kind of key (%.30s)", k.sdk[i]), k.sdk[i],
			    NULL, s401_403);
	if (k.read[0] && c->write)
		expect_free(c, path, "a read-role key", k.read, NULL, only_403);
	for (int i = 0; i < 2; i++) {
		const char *other = i == 0 ? k.other : k.other2;
		if (!other[0])
			continue;
		/* Another tenant: A's ids are not found; lists hold nothing of A's. */
		if (has_params(c->pattern))
			r = expect(c, path, fmt("another tenant's credential (%.24s)", other), other,
			    NULL, s403_404);
		else
			r = http(c->method, path, other, NULL, c->body);
		if (mentions_a(&r, path))
			fail("%s %s: another tenant's reply shows A's data: %.200s", c->method,
			    path, r.body);
		vx_http_res_free(&r);
	}
}

static void
positive(const struct route_case *c, const char *path)
{
	struct creds k;
	vx_http_res r;

	creds_for(c->scheme, &k);
	if (c->scheme == S_STREAM)
		return;  /* it streams: the refusals are the point */
	if (c->scheme == S_LOGIN || c->scheme == S_PUBLIC)
		r = http(c->method, path, NULL, NULL, c->body);
	else if (strstr(c->pattern, "/withdraw")) /* its author's */
		r = http(c->method, path, fmt("Authorization: ApiKey %s", kA_write), NULL,
		    c->body);
	else
		r = http(c->method, path, k.owner, NULL, c->body);
	if (r.status < 200 || r.status > 299)
		fail("%s %s (%s): the owner's own request got %ld: %.200s", c->method,
		    c->pattern, path, r.status, r.body ? r.body : "");
	vx_http_res_free(&r);
}

static bool
late(const vx_gw_route *rt)
{
	return strcmp(rt->method, "DELETE") == 0 || strstr(rt->pattern, "regenerate-key");
}

static int
depth(const char *pattern)
{
	int n = 0;
	for (const char *p = pattern; *p; p++)
		n += *p == '/';
	return n;
}

Test(security, every_rest_route_of_every_dialect)
{
	const vx_gw_route *later[256];
	size_t nlater = 0;
	char path[512];

	for (size_t d = 0; d < vx_gw_n_dialects; d++) {
		const vx_gw_dialect *dl = vx_gw_dialects[d];
		for (size_t i = 0; i < dl->n_routes; i++) {
			const vx_gw_route *rt = &dl->routes[i];
			const struct route_case *c = case_for(rt->method, rt->pattern);
			if (c == NULL) {
				fail("%s %s (dialect %s): no entry in the security matrix", rt->method,
				    rt->pattern, dl->name);
				continue;
			}
			if (!fill(rt->method, rt->pattern, path, sizeof(path)))
				continue;
			refusals(c, path);
			if (late(rt)) {
				cr_assert_lt(nlater, 256);
				later[nlater++] = rt;
			} else {
				positive(c, path);
			}
		}
	}
	/* Deletes and key regeneration last, the deepest paths first. */
	for (size_t i = 0; i < nlater; i++)
		for (size_t j = i + 1; j < nlater; j++)
			if (depth(later[j]->pattern) > depth(later[i]->pattern)) {
				const vx_gw_route *t = later[i];
				later[i] = later[j];
				later[j] = t;
			}
	for (size_t i = 0; i < nlater; i++) {
		if (fill(later[i]->method, later[i]->pattern, path, sizeof(path)))
			positive(case_for(later[i]->method, later[i]->pattern), path);
	}
	assert_no_failures();
}

/* An entry for a route that no longer exists is stale: say so. */
Test(security, the_matrix_names_only_routes_that_exist)
{
	for (size_t i = 0; i < N_CASES; i++) {
		bool found = false;
		for (size_t d = 0; d < vx_gw_n_dialects; d++)
			for (size_t j = 0; j < vx_gw_dialects[d]->n_routes; j++)
				found |= strcmp(vx_gw_dialects[d]->routes[j].method, cases[i].method) == 0 &&
				    strcmp(vx_gw_dialects[d]->routes[j].pattern, cases[i].pattern) == 0;
		if (!found)
			fail("%s %s: in the security matrix but served by no dialect",
			    cases[i].method, cases[i].pattern);
	}
	assert_no_failures();
}

/* ---- the nng matrix ---- */

/* Every service of proto/vexil/v1; the test checks the .proto for more. */
static const ProtobufCServiceDescriptor *const services[] = {
    &vexil__v1__project_service__descriptor,
    &vexil__v1__user_service__descriptor,
    &vexil__v1__environment_service__descriptor,
    &vexil__v1__flag_service__descriptor,
    &vexil__v1__rule_service__descriptor,
    &vexil__v1__key_service__descriptor,
    &vexil__v1__audit_service__descriptor,
    &vexil__v1__evaluation_service__descriptor,
    &vexil__v1__watch_service__descriptor,
    &vexil__v1__admin_service__descriptor,
    &vexil__v1__auth_service__descriptor,
    &vexil__v1__segment_service__descriptor,
    &vexil__v1__member_service__descriptor,
    &vexil__v1__edge_service__descriptor,
    &vexil__v1__schedule_service__descriptor,
    &vexil__v1__stale_service__descriptor,
    &vexil__v1__change_service__descriptor,
    &vexil__v1__ops_service__descriptor,
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

enum rpc_kind {
	R_PUBLIC,   /* no credential needed */
	R_ANY,      /* any credential; touches no project of A's */
	R_PROJECT,  /* acts on A's project (or an object in it) */
	R_GLOBAL,   /* a global admin key only */
};

struct rpc_case {
	const char *method;       /* "vexil.v1.FlagService/GetFlag" */
	enum rpc_kind kind;
	Vexil__V1__Role role;     /* the least role that may call it */
	bool sdk;                 /* SDK keys may call it */
	int late;                 /* destroys something: positive control last,
	                           * in this order (0: not late) */
};

#define READ VEXIL__V1__ROLE__ROLE_READ
#define WRITE VEXIL__V1__ROLE__ROLE_WRITE
#define ADMIN VEXIL__V1__ROLE__ROLE_ADMIN

static const struct rpc_case rpc_cases[] = {
    {"vexil.v1.ProjectService/CreateProject", R_ANY, WRITE, false, 0},
    {"vexil.v1.ProjectService/GetProject", R_PROJECT, READ, false, 0},
    {"vexil.v1.ProjectService/ListProjects", R_ANY, READ, false, 0},
    {"vexil.v1.ProjectService/UpdateProject", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.ProjectService/DeleteProject", R_PROJECT, ADMIN, false, 9},
    {"vexil.v1.ProjectService/RegenerateSdkKey", R_PROJECT, WRITE, false, 4},
    {"vexil.v1.UserService/RegisterUser", R_PUBLIC, READ, false, 0},
    {"vexil.v1.UserService/Login", R_PUBLIC, READ, false, 0},
    {"vexil.v1.UserService/GetMe", R_ANY, READ, false, 0},
    {"vexil.v1.EnvironmentService/CreateEnvironment", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.EnvironmentService/GetEnvironment", R_PROJECT, READ, false, 0},
    {"vexil.v1.EnvironmentService/ListEnvironments", R_PROJECT, READ, false, 0},
    {"vexil.v1.EnvironmentService/UpdateEnvironment", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.EnvironmentService/DeleteEnvironment", R_PROJECT, ADMIN, false, 6},
    {"vexil.v1.FlagService/CreateFlag", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.FlagService/GetFlag", R_PROJECT, READ, false, 0},
    {"vexil.v1.FlagService/ListFlags", R_PROJECT, READ, false, 0},
    {"vexil.v1.FlagService/UpdateFlag", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.FlagService/DeleteFlag", R_PROJECT, WRITE, false, 5},
    {"vexil.v1.FlagService/SetFlagEnabled", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.FlagService/UpdateFlagEnv", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.RuleService/CreateRule", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.RuleService/GetRule", R_PROJECT, READ, false, 0},
    {"vexil.v1.RuleService/ListRules", R_PROJECT, READ, false, 0},
    {"vexil.v1.RuleService/UpdateRule", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.RuleService/DeleteRule", R_PROJECT, WRITE, false, 1},
    {"vexil.v1.KeyService/CreateApiKey", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.KeyService/ListApiKeys", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.KeyService/RevokeApiKey", R_PROJECT, ADMIN, false, 2},
    {"vexil.v1.KeyService/CreateSdkKey", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.KeyService/ListSdkKeys", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.KeyService/RevokeSdkKey", R_PROJECT, ADMIN, false, 3},
    {"vexil.v1.AuditService/ListAudit", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.EvaluationService/Evaluate", R_PROJECT, READ, true, 0},
    {"vexil.v1.EvaluationService/EvaluateAll", R_PROJECT, READ, true, 0},
    {"vexil.v1.EvaluationService/GetSnapshot", R_PROJECT, READ, true, 0},
    {"vexil.v1.EvaluationService/GetEvalCounts", R_PROJECT, READ, false, 0},
    {"vexil.v1.EvaluationService/RecordExposure", R_PROJECT, READ, false, 0},
    {"vexil.v1.EvaluationService/ListEvalLog", R_PROJECT, READ, false, 0},
    {"vexil.v1.WatchService/Changes", R_PROJECT, READ, true, 0},
    {"vexil.v1.AdminService/Backup", R_GLOBAL, ADMIN, false, 0},
    {"vexil.v1.AdminService/Import", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.AdminService/Export", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.OpsService/GetStats", R_GLOBAL, ADMIN, false, 0},
    {"vexil.v1.AuthService/Admit", R_ANY, READ, true, 0},
    {"vexil.v1.SegmentService/CreateSegment", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.SegmentService/GetSegment", R_PROJECT, READ, false, 0},
    {"vexil.v1.SegmentService/ListSegments", R_PROJECT, READ, false, 0},
    {"vexil.v1.SegmentService/UpdateSegment", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.SegmentService/DeleteSegment", R_PROJECT, WRITE, false, 1},
    {"vexil.v1.EdgeService/RecordEvaluations", R_PROJECT, READ, true, 0},
    {"vexil.v1.EdgeService/LeaseTokens", R_ANY, READ, false, 0},
    /* A's user joins A's API-key project, changes role, then leaves. */
    {"vexil.v1.MemberService/AddMember", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.MemberService/ListMembers", R_PROJECT, READ, false, 0},
    {"vexil.v1.MemberService/SetMemberRole", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.MemberService/RemoveMember", R_PROJECT, ADMIN, false, 0},
    {"vexil.v1.ScheduleService/CreateSchedule", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.ScheduleService/ListSchedules", R_PROJECT, READ, false, 0},
    {"vexil.v1.ScheduleService/CancelSchedule", R_PROJECT, WRITE, false, 1},
    {"vexil.v1.StaleService/StaleFlags", R_PROJECT, READ, false, 0},
    {"vexil.v1.ChangeService/ListChanges", R_PROJECT, READ, false, 0},
    {"vexil.v1.ChangeService/GetChange", R_PROJECT, READ, false, 0},
    {"vexil.v1.ChangeService/CommentChange", R_PROJECT, READ, false, 0},
    {"vexil.v1.ChangeService/ApproveChange", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.ChangeService/RejectChange", R_PROJECT, WRITE, false, 0},
    {"vexil.v1.ChangeService/WithdrawChange", R_PROJECT, READ, false, 0},
};
#define N_RPC_CASES (sizeof(rpc_cases) / sizeof(rpc_cases[0]))

static const struct rpc_case *
rpc_case_for(const char *name)
{
	for (size_t i = 0; i < N_RPC_CASES; i++)
		if (strcmp(rpc_cases[i].method, name) == 0)
			return &rpc_cases[i];
	return NULL;
}

/* Ids the generic filler puts into inputs. */
static uint64_t rpc_rule_id, rpc_key_id, rpc_sdk_id, rpc_schedule_id;
static char backup_dir[300];

/* Allocations of one filled input, freed together. */
struct fillmem {
	void *p[32];
	int n;
};

/*
 * Fills a request from its descriptor: every field a name says what it is
 * ("project", "flag_key", "environment", "rule_id", ...) gets A's object,
 * and nested messages are filled the same way. New things get new names.
 */
static void
fill_msg(ProtobufCMessage *m, const char *method, bool top, struct fillmem *fm)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool env_msg = strstr(d->name, "Environment") != NULL;
	bool creates = strstr(method, "/Create") != NULL;

	/* A schedule of a write to A's flag, an hour ahead. */
	if (strcmp(d->short_name, "CreateScheduleRequest") == 0) {
		Vexil__V1__CreateScheduleRequest *cs = (void *)m;
		Vexil__V1__SetFlagEnabledRequest w =
		    VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
		w.project = "amarkpa";
		w.key = "amark-pflag";
		w.environment = "production";
		w.enabled = true;
		cr_assert_lt(fm->n, 32);
		cs->payload.len = protobuf_c_message_get_packed_size(&w.base);
		cr_assert_not_null(cs->payload.data = malloc(cs->payload.len + 1));
		fm->p[fm->n++] = cs->payload.data;
		protobuf_c_message_pack(&w.base, cs->payload.data);
		cs->method = "vexil.v1.FlagService/SetFlagEnabled";
		cs->at = vx_now_ms() + 3600 * 1000;
		return;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void *at = (char *)m + f->offset;
		const char *n = f->name, *v = NULL;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			/* Updates change one harmless field. */
			static char *desc[] = {"description"}, *enabled[] = {"enabled"},
				    *name[] = {"name"};
			if (strcmp(n, "update_mask") != 0)
				continue;
			*(size_t *)((char *)m + f->quantifier_offset) = 1;
			*(char ***)at = strstr(method, "UpdateFlagEnv") ? enabled
			    : strstr(method, "UpdateRule")             ? name
								       : desc;
			continue;
		}
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING:
			if (strcmp(d->short_name, "RuleRef") == 0 && strcmp(n, "environment") == 0)
				v = NULL; /* rule ids are unique */
			else if (strcmp(n, "project") == 0)
				v = "amarkpa";
			else if (strcmp(n, "flag_key") == 0)
				v = "amark-pflag";
			else if (strcmp(n, "key") == 0 && env_msg)
				v = creates ? "secrpcenv" : "amarkenv";
			else if (strcmp(n, "key") == 0)
				v = creates && !top ? "sec-rpc-flag" : "amark-pflag";
			else if (strcmp(n, "environment") == 0)
				v = "production";
			else if (strcmp(n, "variant") == 0)
				v = "on";
			else if (strcmp(n, "name") == 0 && strstr(method, "Segment"))
				v = creates && !top ? "sec-rpc-seg" : "amark-seg";
			else if (strcmp(n, "name") == 0)
				v = "sec rpc";
			else if (strcmp(n, "description") == 0)
				v = "changed";
			else if (strcmp(n, "email") == 0)
				v = strstr(method, "/Register") ? "rpc-new@example.com"
				    : "amark@example.com";
			else if (strcmp(n, "password") == 0)
				v = strstr(method, "/Register") ? "rpc-new-password" : passwordA;
			else if (strcmp(n, "path") == 0)
				v = backup_dir;
			else if (strcmp(n, "text") == 0) /* CommentChange */
				v = "looks right";
			else if (strcmp(n, "user_id") == 0)
				v = "u1";
			if (v)
				*(const char **)at = v;
			break;
		case PROTOBUF_C_TYPE_UINT64:
			if (strcmp(n, "rule_id") == 0)
				*(uint64_t *)at = rpc_rule_id;
			else if (strcmp(n, "id") == 0 && top && strstr(method, "RevokeApiKey"))
				*(uint64_t *)at = rpc_key_id;
			else if (strcmp(n, "id") == 0 && top && strstr(method, "RevokeSdkKey"))
				*(uint64_t *)at = rpc_sdk_id;
			else if (strcmp(n, "id") == 0 && top &&
			         strstr(method, "CancelSchedule"))
				*(uint64_t *)at = rpc_schedule_id;
			else if (strcmp(n, "id") == 0 &&
			         strcmp(d->short_name, "ChangeRef") == 0)
				*(uint64_t *)at =
				    rpc_change_ids[strstr(method, "Approve")    ? 0
				                   : strstr(method, "Reject")   ? 1
				                   : strstr(method, "Withdraw") ? 2
				                                                : 3];
			break;
		case PROTOBUF_C_TYPE_UINT32:
			if (strcmp(n, "want") == 0) /* LeaseTokens */
				*(uint32_t *)at = 1;
			break;
		case PROTOBUF_C_TYPE_ENUM:
			if (strcmp(n, "role") == 0)
				*(int *)at = READ;
			break;
		case PROTOBUF_C_TYPE_MESSAGE: {
			const ProtobufCMessageDescriptor *sub = f->descriptor;
			ProtobufCMessage *s;
			/* The parts a request needs: a new flag or rule, a rule's
			 * reference, an evaluation context, an update. */
			if (strcmp(n, "flag") != 0 && strcmp(n, "rule") != 0 &&
			    strcmp(n, "ref") != 0 && strcmp(n, "context") != 0 &&
			    strcmp(n, "update") != 0 && strcmp(n, "segment") != 0 &&
			    strcmp(n, "member") != 0)
				break;
			cr_assert_lt(fm->n, 32);
			s = calloc(1, sub->sizeof_message);
			cr_assert_not_null(s);
			fm->p[fm->n++] = s;
			protobuf_c_message_init(sub, s);
			fill_msg(s, method, false, fm);
			*(ProtobufCMessage **)at = s;
			break;
		}
		default:
			break;
		}
	}
}

/* Packs a reply and scans it, bytes and field names. */
static void
scan_reply(const ProtobufCMessage *m, const char *where)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	const char *created = NULL;
	const ProtobufCFieldDescriptor *sf;

	cr_assert_not_null(buf);
	protobuf_c_message_pack(m, buf);
	/* CreatedApiKey and CreatedSdkKey show their own new key, once. */
	sf = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "secret");
	if (sf && sf->type == PROTOBUF_C_TYPE_STRING && strncmp(m->descriptor->short_name, "Created", 7) == 0)
		created = *(const char *const *)((const char *)m + sf->offset);
	scan(buf, len, where, created, NULL, NULL);
	free(buf);
	if (created)
		add_key_secret(created);
}

/* Fields named *hash*, *secret*, *password* must be empty in any reply. */
static void
scan_names(const ProtobufCMessage *m, const char *where, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields && depth < 8; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *at = (const char *)m + f->offset;
		bool bad = strstr(f->name, "hash") || strstr(f->name, "password") ||
		    (strstr(f->name, "secret") && strncmp(d->short_name, "Created", 7) != 0);

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt = *(const size_t *)((const char *)m + f->quantifier_offset);
			if (f->type == PROTOBUF_C_TYPE_MESSAGE)
				for (size_t j = 0; j < cnt; j++)
					scan_names(((ProtobufCMessage *const *)*(void *const *)at)[j], where,
					    depth + 1);
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_STRING && bad) {
			const char *s = *(const char *const *)at;
			if (s && *s)
				fail("%s: the reply fills %s.%s", where, d->name, f->name);
		} else if (f->type == PROTOBUF_C_TYPE_BYTES && bad) {
			if (((const ProtobufCBinaryData *)at)->len)
				fail("%s: the reply fills %s.%s", where, d->name, f->name);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(void *const *)at) {
			scan_names(*(ProtobufCMessage *const *)at, where, depth + 1);
		}
	}
}

static const Vexil__V1__Code c_other[1];

/*
 * One call with a credential ("" for none); checks the code is one of
 * codes (0-terminated list; NULL: OK) and scans the reply.
 */
static void
rpc_expect(const ProtobufCServiceDescriptor *svc, unsigned m, const char *cred,
    const char *what, const Vexil__V1__Code *codes)
{
	char where[200];
	ProtobufCMessage *in, *out = NULL;
	struct fillmem fm = {0};
	vx_status st;
	bool ok = false;

	snprintf(where, sizeof(where), "%s/%s", svc->name, svc->methods[m].name);
	in = calloc(1, svc->methods[m].input->sizeof_message);
	cr_assert_not_null(in);
	protobuf_c_message_init(svc->methods[m].input, in);
	fill_msg(in, where, true, &fm);
	if (vx_call_as(h.admin, cred, NULL, svc, m, in, 0, NULL, &out, &st) != 0)
		out = NULL;
	if (codes == c_other) {
		ok = true;
	} else if (codes == NULL) {
		ok = st.code == VEXIL__V1__CODE__OK;
	} else {
		for (const Vexil__V1__Code *c = codes; *c; c++)
			ok |= st.code == *c;
	}
	if (!ok)
		fail("%s: %s got %s: %s", where, what, vx_code_name(st.code), st.message);
	if (out && codes == c_other) {
		size_t len = protobuf_c_message_get_packed_size(out);
		uint8_t *buf = malloc(len + 1);
		cr_assert_not_null(buf);
		protobuf_c_message_pack(out, buf);
		if (memmem(buf, len, "amark", 5) != NULL)
			fail("%s: %s sees A's data", where, what);
		free(buf);
	}
	if (out) {
		scan_reply(out, where);
		scan_names(out, where, 0);
		vx_free(out);
	}
	for (int i = 0; i < fm.n; i++)
		free(fm.p[i]);
	free(in);
}

static const Vexil__V1__Code c_unauth[] = {VEXIL__V1__CODE__UNAUTHENTICATED, 0};
/* Another tenant on a call that names no project of A's: any code, but
 * nothing of A's in the reply. */
static const Vexil__V1__Code c_other[] = {0};
static const Vexil__V1__Code c_denied[] = {VEXIL__V1__CODE__PERMISSION_DENIED, 0};
static const Vexil__V1__Code c_hidden[] = {VEXIL__V1__CODE__NOT_FOUND,
	VEXIL__V1__CODE__PERMISSION_DENIED, 0};

static void
rpc_refusals(const ProtobufCServiceDescriptor *svc, unsigned m, const struct rpc_case *c)
{
	if (c->kind == R_PUBLIC)
		return;
	rpc_expect(svc, m, "", "no credential", c_unauth);
	rpc_expect(svc, m, fmt("Bearer %s", jwt_forged), "a forged JWT", c_unauth);
	rpc_expect(svc, m, fmt("Bearer %s", jwt_expired), "an expired JWT", c_unauth);
	rpc_expect(svc, m, fmt("ApiKey %s", forged_key), "an unknown key", c_unauth);
	rpc_expect(svc, m, fmt("ApiKey %s", kA_rev), "a revoked key", c_unauth);
	rpc_expect(svc, m, fmt("SdkKey %s", sA_rev), "a revoked SDK key", c_unauth);
	rpc_expect(svc, m, fmt("ApiKey %s", sA), "an SDK key sent as an API key", c_unauth);
	rpc_expect(svc, m, fmt("SdkKey %s", kA_admin), "an API key sent as an SDK key",
	    c_unauth);
	if (!c->sdk)
		rpc_expect(svc, m, fmt("SdkKey %s", sA), "an SDK key", c_denied);
	if (c->role > READ || c->kind == R_GLOBAL)
		rpc_expect(svc, m, fmt("ApiKey %s", kA_read), "a read-role key", c_denied);
	if (c->kind == R_GLOBAL)
		rpc_expect(svc, m, fmt("ApiKey %s", kA_admin), "a project's admin key", c_denied);
	if (c->kind == R_PROJECT) {
		rpc_expect(svc, m, fmt("ApiKey %s", kB_admin), "another project's admin key",
		    c_hidden);
		rpc_expect(svc, m, fmt("Bearer %s", jwtB), "another user's JWT", c_hidden);
	} else if (c->kind == R_ANY) {
		rpc_expect(svc, m, fmt("ApiKey %s", kB_admin), "another project's admin key",
		    c_other);
		rpc_expect(svc, m, fmt("Bearer %s", jwtB), "another user's JWT", c_other);
	}
}

static void
rpc_positive(const ProtobufCServiceDescriptor *svc, unsigned m, const struct rpc_case *c)
{
	/* Making projects takes a global key; GetMe a user's token. */
	if (c->kind == R_GLOBAL || strcmp(c->method, "vexil.v1.ProjectService/CreateProject") == 0)
		rpc_expect(svc, m, fmt("ApiKey %s", h.key), "the global admin key", NULL);
	else if (strcmp(c->method, "vexil.v1.UserService/GetMe") == 0)
		rpc_expect(svc, m, fmt("Bearer %s", jwtA), "A's own JWT", NULL);
	else if (c->kind == R_PUBLIC)
		rpc_expect(svc, m, "", "no credential (public)", NULL);
	else if (strcmp(c->method, "vexil.v1.ChangeService/WithdrawChange") == 0)
		rpc_expect(svc, m, fmt("ApiKey %s", kA_write),
		    "its author, A's write key", NULL);
	else
		rpc_expect(svc, m, fmt("ApiKey %s", kA_admin), "A's own admin key", NULL);
}

static uint64_t
num_after_dash(const char *s)
{
	const char *d = strrchr(s, '-');
	return d ? strtoull(d + 1, NULL, 10) : 0;
}

Test(security, every_rpc_method_of_every_service)
{
	struct {
		const ProtobufCServiceDescriptor *svc;
		unsigned m;
		const struct rpc_case *c;
	} late[64];
	size_t nlate = 0;
	char name[200];

	rpc_rule_id = num_after_dash(pf_rule);
	rpc_key_id = num_after_dash(pf_key);
	{
		/* A's segment, for the segment methods to find. */
		Vexil__V1__CreateSegmentRequest sg =
		    VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
		Vexil__V1__Segment seg = VEXIL__V1__SEGMENT__INIT, *gout;
		vx_status gst;
		seg.name = "amark-seg";
		sg.project = "amarkpa";
		sg.segment = &seg;
		cr_assert(
		    vx_create_segment(h.admin, &sg, &gout, &gst) == 0, "%s", gst.message);
		vx_free(gout);
	}
	{
		/* A's schedule, for CancelSchedule to cancel. */
		Vexil__V1__CreateScheduleRequest cs =
		    VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
		Vexil__V1__Schedule *sout;
		struct fillmem sfm = {0};
		vx_status sst;
		fill_msg(&cs.base, "vexil.v1.ScheduleService/CreateSchedule", true, &sfm);
		cr_assert(vx_create_schedule(h.admin, &cs, &sout, &sst) == 0, "%s",
		    sst.message);
		rpc_schedule_id = sout->id;
		vx_free(sout);
		for (int i = 0; i < sfm.n; i++)
			free(sfm.p[i]);
	}
	rpc_sdk_id = make_sdk_key("amarkpa", name, sizeof(name));
	snprintf(backup_dir, sizeof(backup_dir), "%s.backup", h.dir);

	for (size_t s = 0; s < N_SERVICES; s++) {
		for (unsigned m = 0; m < services[s]->n_methods; m++) {
			snprintf(name, sizeof(name), "%s/%s", services[s]->name,
			    services[s]->methods[m].name);
			const struct rpc_case *c = rpc_case_for(name);
			if (c == NULL) {
				fail("%s: no entry in the security matrix", name);
				continue;
			}
			rpc_refusals(services[s], m, c);
			if (c->late) {
				late[nlate].svc = services[s];
				late[nlate].m = m;
				late[nlate++].c = c;
			} else {
				rpc_positive(services[s], m, c);
			}
		}
	}
	for (int order = 1; order <= 9; order++)
		for (size_t i = 0; i < nlate; i++)
			if (late[i].c->late == order)
				rpc_positive(late[i].svc, late[i].m, late[i].c);
	if (system(fmt("rm -rf '%s'", backup_dir)) != 0)
		fprintf(stderr, "could not remove %s\n", backup_dir);
	assert_no_failures();
}

/* Every service in the .proto files is walked above. */
Test(security, every_service_of_the_proto_is_in_the_matrix)
{
	DIR *dir = opendir(VX_SOURCE_DIR "/proto/vexil/v1");
	const struct dirent *de;
	char line[512], svc[128], full[160];

	cr_assert_not_null(dir);
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);
		FILE *f;

		if (len < 6 || strcmp(de->d_name + len - 6, ".proto") != 0)
			continue;
		f = fopen(fmt(VX_SOURCE_DIR "/proto/vexil/v1/%s", de->d_name), "r");
		cr_assert_not_null(f, "%s", de->d_name);
		while (fgets(line, sizeof(line), f)) {
			bool found = false;
			if (sscanf(line, "service %127s {", svc) != 1)
				continue;
			snprintf(full, sizeof(full), "vexil.v1.%s", svc);
			for (size_t s = 0; s < N_SERVICES; s++)
				found |= strcmp(services[s]->name, full) == 0;
			if (!found)
				fail("service %s (%s): not walked by the security matrix",
				    full, de->d_name);
		}
		fclose(f);
	}
	closedir(dir);
	for (size_t i = 0; i < N_RPC_CASES; i++) {
		bool found = false;
		for (size_t s = 0; s < N_SERVICES; s++)
			for (unsigned m = 0; m < services[s]->n_methods; m++)
				found |= strcmp(fmt("%s/%s", services[s]->name, services[s]->methods[m].name),
				    rpc_cases[i].method) == 0;
		if (!found)
			fail("%s: in the security matrix but no such method", rpc_cases[i].method);
	}
	assert_no_failures();
}

/* ---- mass assignment ---- */

/*
 * A reply to a body carrying fields the caller may not set: either a
 * refusal (4xx, nothing stored) or a success that ignored them. Returns
 * the reply on success, NULL (freed) on a refusal.
 */
static vx_http_res *
assigned(const char *method, const char *path, const char *auth, const char *body,
    vx_http_res *r)
{
	*r = http(method, path, auth, NULL, body);
	if (r->status >= 400 && r->status < 500) {
		vx_http_res_free(r);
		return NULL;
	}
	if (r->status < 200 || r->status > 299)
		fail("%s %s with extra fields: %ld %.200s", method, path, r->status,
		    r->body ? r->body : "");
	return r->status >= 200 && r->status <= 299 ? r : NULL;
}

static void
not_equal(const vx_http_res *r, const char *field, const char *forbidden, const char *where)
{
	const char *v = jstr(r, field);
	if (v && strcmp(v, forbidden) == 0)
		fail("%s: %s was taken from the body (%s)", where, field, v);
}

static long
status_of(const char *method, const char *path, const char *auth)
{
	vx_http_res r = http(method, path, auth, NULL, NULL);
	long st = r.status;
	vx_http_res_free(&r);
	return st;
}

Test(security, rest_bodies_cannot_set_ids_owners_hashes_or_times)
{
	char a[1100], b[1100], ka[200], kb[200], kd[200], id[64], sdk_before[128];
	vx_http_res r, *ok;

	snprintf(a, sizeof(a), "Authorization: Bearer %s", jwtA);
	snprintf(b, sizeof(b), "Authorization: Bearer %s", jwtB);
	snprintf(ka, sizeof(ka), "Authorization: ApiKey %s", kA_admin);
	snprintf(kb, sizeof(kb), "Authorization: ApiKey %s", kB_admin);
	snprintf(kd, sizeof(kd), "Authorization: ApiKey %s", kD_admin);

	/* flag-service: a project cannot be given an id, an owner or a key. */
	if ((ok = assigned("POST", "/api/projects", a,
		 fmt("{\"name\":\"ma-proj\",\"id\":\"%s\",\"owner_id\":%llu,\"user_id\":%llu,"
		     "\"sdk_key\":\"vxs_0000000000000000000000000000000000000000\","
		     "\"created_at\":\"2000-01-01T00:00:00Z\"}",
		     fs_proj, (unsigned long long)userB, (unsigned long long)userB),
		 &r))) {
		not_equal(ok, "id", fs_proj, "POST /api/projects");
		not_equal(ok, "sdk_key", "vxs_0000000000000000000000000000000000000000",
		    "POST /api/projects");
		not_equal(ok, "created_at", "2000-01-01T00:00:00Z", "POST /api/projects");
		snprintf(id, sizeof(id), "%s", jstr(ok, "id"));
		vx_http_res_free(ok);
		if (status_of("GET", fmt("/api/projects/%s", id), b) != 404)
			fail("POST /api/projects: owner_id in the body gave user B the project");
		if (status_of("GET", fmt("/api/projects/%s", id), a) != 200)
			fail("POST /api/projects: user A lost the project made with owner_id");
	}
	make("GET", fmt("/api/projects/%s", fs_proj), a, NULL, "sdk_key", sdk_before,
	    sizeof(sdk_before));
	if ((ok = assigned("PUT", fmt("/api/projects/%s", fs_proj), a,
		 "{\"name\":\"amark-fsproj\",\"id\":\"00000000-0000-4000-8000-000000000001\","
		 "\"owner_id\":2,\"sdk_key\":\"vxs_0000000000000000000000000000000000000000\"}",
		 &r)))
		vx_http_res_free(ok);
	make("GET", fmt("/api/projects/%s", fs_proj), a, NULL, "sdk_key", id, sizeof(id));
	if (strcmp(id, sdk_before) != 0)
		fail("PUT /api/projects/{project_id}: sdk_key was taken from the body");
	/* A flag cannot be put into another project through its body. */
	if ((ok = assigned("POST", fmt("/api/projects/%s/flags", fs_proj), a,
		 "{\"name\":\"ma\",\"key\":\"ma_flag\",\"id\":\"x\",\"project_id\":\"00000002-0000-4000-8000-000000000001\"}",
		 &r))) {
		snprintf(id, sizeof(id), "%s", jstr(ok, "id"));
		vx_http_res_free(ok);
		if (status_of("GET", fmt("/api/projects/%s/flags/%s", fs_proj, id), a) != 200)
			fail("POST /api/projects/{project_id}/flags: project_id in the body moved the flag");
	}

	/* platform: ids, projects, times and revisions in a flag's body. */
	if ((ok = assigned("POST", "/v1/flags", ka,
		 "{\"key\":\"ma-flag\",\"id\":\"flag-9999\",\"project_id\":\"proj-2\","
		 "\"created_at\":\"2000-01-01T00:00:00Z\",\"updated_at\":\"2000-01-01T00:00:00Z\","
		 "\"revision\":99}",
		 &r))) {
		not_equal(ok, "id", "flag-9999", "POST /v1/flags");
		not_equal(ok, "created_at", "2000-01-01T00:00:00Z", "POST /v1/flags");
		snprintf(id, sizeof(id), "%s", jstr(ok, "id"));
		vx_http_res_free(ok);
		if (status_of("GET", fmt("/v1/flags/%s", id), kb) != 404)
			fail("POST /v1/flags: project_id in the body put the flag in B's project");
		if (status_of("GET", fmt("/v1/flags/%s", id), ka) != 200)
			fail("POST /v1/flags: the flag is not in the caller's project");
		if ((ok = assigned("PUT", fmt("/v1/flags/%s", id), ka,
			 "{\"id\":\"flag-1\",\"project_id\":\"proj-2\",\"created_at\":\"2000-01-01T00:00:00Z\"}",
			 &r))) {
			not_equal(ok, "id", "flag-1", "PUT /v1/flags/{flag_id}");
			not_equal(ok, "created_at", "2000-01-01T00:00:00Z", "PUT /v1/flags/{flag_id}");
			vx_http_res_free(ok);
		}
		if (status_of("GET", fmt("/v1/flags/%s", id), ka) != 200)
			fail("PUT /v1/flags/{flag_id}: the body moved or renumbered the flag");
	}
	/* A key's hash, id or prefix cannot be chosen: the key still works. */
	if ((ok = assigned("POST", "/v1/api-keys", ka,
		 "{\"name\":\"ma\",\"role\":\"read\",\"project_id\":\"{pa}\",\"id\":\"key-1\","
		 "\"key_hash\":\"00\",\"hash\":\"AAAA\",\"prefix\":\"vxk_evil\",\"revoked\":true}",
		 &r))) {
		char key[128];
		not_equal(ok, "id", "key-1", "POST /v1/api-keys");
		not_equal(ok, "prefix", "vxk_evil", "POST /v1/api-keys");
		snprintf(key, sizeof(key), "%s", jstr(ok, "key") ? jstr(ok, "key") : "");
		vx_http_res_free(ok);
		if (status_of("GET", "/v1/flags", fmt("Authorization: ApiKey %s", key)) != 200)
			fail("POST /v1/api-keys: hash or revoked in the body spoiled the new key");
	}

	/* table: the record's id comes from the path, never the body. */
	if ((ok = assigned("POST", "/api/feature-flags/", kd,
		 "{\"name_flag\":\"ma_table\",\"strategy\":\"s\",\"status\":\"beta\",\"created_by\":1,"
		 "\"id\":99999,\"created_at\":\"2000-01-01T00:00:00\"}",
		 &r))) {
		not_equal(ok, "id", "99999", "POST /api/feature-flags");
		snprintf(id, sizeof(id), "%s", jstr(ok, "id"));
		vx_http_res_free(ok);
		if ((ok = assigned("PUT", fmt("/api/feature-flags/%s", id), kd,
			 "{\"name_flag\":\"ma_table\",\"strategy\":\"t\",\"status\":\"beta\","
			 "\"updated_by\":1,\"id\":4242}",
			 &r)))
			vx_http_res_free(ok);
		if (status_of("GET", fmt("/api/feature-flags/%s", id), kd) != 200)
			fail("PUT /api/feature-flags/{feature_flag_id}: id in the body moved the record");
		if (status_of("GET", "/api/feature-flags/4242", kd) != 404)
			fail("PUT /api/feature-flags/{feature_flag_id}: id in the body made record 4242");
	}

	/* toggles: no id, project or creation time from the body. */
	if ((ok = assigned("POST", "/feature-toggles/", kd,
		 "{\"name\":\"ma-toggle\",\"description\":\"d\",\"owner\":\"o\",\"metadata\":{},"
		 "\"id\":7,\"created_at\":\"2000-01-01T00:00:00\",\"project_id\":2}",
		 &r))) {
		const char *ca = jstr(ok, "created_at");
		if (ca && strncmp(ca, "2000-01-01", 10) == 0)
			fail("POST /feature-toggles: created_at was taken from the body");
		vx_http_res_free(ok);
		if (status_of("GET", "/feature-toggles/ma-toggle", kd) != 200)
			fail("POST /feature-toggles: project_id in the body moved the toggle");
	}
	assert_no_failures();
}

Test(security, rpc_inputs_cannot_set_ids_projects_hashes_or_times)
{
	Vexil__V1__CreateFlagRequest cf = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__UpdateFlagRequest uf = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__UpdateProjectRequest up = VEXIL__V1__UPDATE_PROJECT_REQUEST__INIT;
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__CreateRuleRequest cr = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, upd = VEXIL__V1__FLAG__INIT, *out, *out2;
	Vexil__V1__Project pu = VEXIL__V1__PROJECT__INIT, *p0, *p1;
	Vexil__V1__Rule rule = VEXIL__V1__RULE__INIT, *rout;
	char *mask[] = {"description"};
	vx_client *c = vx_harness_client(&h, kA_admin);
	vx_status st;

	gp.project = "amarkpa";
	cr_assert(vx_get_project(c, &gp, &p0, &st) == 0, "%s", st.message);

	/* CreateFlag: id, project_id and times are the server's. */
	f.key = "ma-rpc";
	f.id = 777777;
	f.project_id = p0->id + 1;
	f.created_at = 1;
	f.updated_at = 1;
	cf.project = "amarkpa";
	cf.flag = &f;
	if (vx_create_flag(c, &cf, &out, &st) == 0) {
		if (out->id == 777777 || out->project_id != p0->id || out->created_at == 1)
			fail("CreateFlag: id %llu, project %llu, created_at %lld came from the input",
			    (unsigned long long)out->id, (unsigned long long)out->project_id,
			    (long long)out->created_at);
		/* UpdateFlag: the update's id and project are not fields to set. */
		upd.id = 1;
		upd.project_id = p0->id + 1;
		upd.description = "changed";
		upd.created_at = 1;
		uf.project = "amarkpa";
		uf.key = "ma-rpc";
		uf.update = &upd;
		uf.update_mask = mask;
		uf.n_update_mask = 1;
		if (vx_update_flag(c, &uf, &out2, &st) == 0) {
			if (out2->id != out->id || out2->project_id != p0->id ||
			    out2->created_at != out->created_at)
				fail("UpdateFlag: id, project or created_at changed");
			vx_free(out2);
		} else if (st.code != VEXIL__V1__CODE__INVALID_ARGUMENT) {
			fail("UpdateFlag with extra fields: %s", st.message);
		}
		vx_free(out);
	} else if (st.code != VEXIL__V1__CODE__INVALID_ARGUMENT) {
		fail("CreateFlag with extra fields: %s", st.message);
	}

	/* CreateRule: id, seq and times are the server's. */
	rule.id = 999999;
	rule.seq = 5;
	rule.created_at = 1;
	rule.variant = "on";
	cr.project = "amarkpa";
	cr.flag_key = "amark-pflag";
	cr.environment = "production";
	cr.rule = &rule;
	if (vx_create_rule(c, &cr, &rout, &st) == 0) {
		if (rout->id == 999999 || rout->created_at == 1)
			fail("CreateRule: id or created_at came from the input");
		vx_free(rout);
	} else if (st.code != VEXIL__V1__CODE__INVALID_ARGUMENT) {
		fail("CreateRule with extra fields: %s", st.message);
	}

	/* UpdateProject: id, owner, revision and SDK key stay. */
	pu.id = p0->id + 100;
	pu.owner_user_id = userB;
	pu.revision = 1;
	pu.sdk_key = "vxs_0000000000000000000000000000000000000000";
	pu.description = "changed";
	up.project = "amarkpa";
	up.update = &pu;
	up.update_mask = mask;
	up.n_update_mask = 1;
	if (vx_update_project(c, &up, &p1, &st) == 0)
		vx_free(p1);
	else if (st.code != VEXIL__V1__CODE__INVALID_ARGUMENT)
		fail("UpdateProject with extra fields: %s", st.message);
	cr_assert(vx_get_project(c, &gp, &p1, &st) == 0, "%s", st.message);
	if (p1->id != p0->id || p1->owner_user_id != p0->owner_user_id ||
	    strcmp(p1->sdk_key, p0->sdk_key) != 0 || p1->revision < p0->revision)
		fail("UpdateProject: id, owner, SDK key or revision came from the input");
	vx_free(p1);
	vx_free(p0);
	vx_client_close(c);
	assert_no_failures();
}

/* ---- projects named in bodies and queries ---- */

/*
 * Where a body or query names the project (toggles' `application`, a
 * platform key's `project_id`), a key still reaches only its own scope.
 */
Test(security, a_project_named_in_a_body_or_query_stays_in_the_key_scope)
{
	char kb[200], kd[200], ka[200], pb_ref[32];
	vx_http_res r;
	static const int refused[] = {403, 404, 0};
	struct {
		const char *method, *path, *auth, *body;
	} tries[] = {
		{"POST", "/feature-toggles/", kd,
		    "{\"name\":\"x-app\",\"description\":\"d\",\"owner\":\"o\",\"metadata\":{},"
		    "\"application\":\"pb\"}"},
		{"GET", "/feature-toggles/?application=default", kb, NULL},
		{"GET", "/feature-toggles/amark-toggle?application=default", kb, NULL},
		{"PUT", "/feature-toggles/amark-toggle?application=default", kb,
		    "{\"environment\":\"staging\",\"is_active\":false}"},
		{"GET", "/feature-toggles/?application=amarkpa", kd, NULL},
		{"POST", "/v1/api-keys", ka, NULL},
	};

	snprintf(kb, sizeof(kb), "Authorization: ApiKey %s", kB_admin);
	snprintf(kd, sizeof(kd), "Authorization: ApiKey %s", kD_admin);
	snprintf(ka, sizeof(ka), "Authorization: ApiKey %s", kA_admin);
	/* B's project, by its id, in A's key request. */
	{
		Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
		Vexil__V1__Project *p;
		vx_status st;
		in.project = "pb";
		cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
		snprintf(pb_ref, sizeof(pb_ref), "proj-%llu", (unsigned long long)p->id);
		vx_free(p);
	}
	tries[5].body = fmt("{\"name\":\"x\",\"role\":\"admin\",\"project_id\":\"%s\"}", pb_ref);
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		bool ok = false;
		r = http(tries[i].method, tries[i].path, tries[i].auth, NULL, tries[i].body);
		for (const int *a = refused; *a; a++)
			ok |= r.status == *a;
		if (!ok)
			fail("%s %s: a project outside the key's scope got %ld: %.200s",
			    tries[i].method, tries[i].path, r.status, r.body ? r.body : "");
		if (tries[i].auth == kb && mentions_a(&r, tries[i].path))
			fail("%s %s: B sees A's data: %.200s", tries[i].method, tries[i].path,
			    r.body);
		vx_http_res_free(&r);
	}
	/* The toggle B tried to switch off is as it was. */
	r = http("GET", "/feature-toggles/amark-toggle", kd, NULL, NULL);
	if (r.status != 200)
		fail("GET /feature-toggles/amark-toggle: %ld after B's tries", r.status);
	vx_http_res_free(&r);
	assert_no_failures();
}
