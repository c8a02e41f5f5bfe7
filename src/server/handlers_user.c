/*
 * Vexil — UserService: sign-up, login and the current user.
 *
 * Passwords are hashed with Argon2id (crypto_pwhash_str, the interactive
 * limits: 64 MiB and a few tenths of a second each). Hashing is the one
 * expensive thing a request can ask for, so these handlers run in
 * vexild's slow lane (server.c): two threads of their own with a bounded
 * queue, off the request workers, which keep serving everything else.
 * Repeated failed logins for one email are refused with RESOURCE_EXHAUSTED
 * (429 at the gateway) for a while: a fixed window per email, in memory.
 */
#include "server/server.h"

#include "eval/eval.h" /* vx_murmur3_32 */

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define FAIL_LIMIT 5 /* failures per window before refusing */
#define FAIL_WINDOW_MS (5 * 60 * 1000)
#define THROTTLE_SLOTS 1024

/* Failed logins by email hash; a collision only makes throttling stricter. */
static struct {
	uint32_t tag;
	int failures;
	int64_t window_start;
} throttle[THROTTLE_SLOTS];
static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t
email_tag(const char *email)
{
	return vx_murmur3_32(email, strlen(email), 0x5eed);
}

static char dummy_hash[crypto_pwhash_STRBYTES];

static void
make_dummy(void)
{
	if (crypto_pwhash_str(dummy_hash, "not a password", 14,
	        crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = '\0';
}

static bool
throttled(const char *email)
{
	uint32_t t = email_tag(email);
	int64_t now = vx_now_ms();
	bool refuse;

	pthread_mutex_lock(&throttle_lock);
	size_t i = t % THROTTLE_SLOTS;
	refuse = throttle[i].tag == t &&
	         now - throttle[i].window_start < FAIL_WINDOW_MS &&
	         throttle[i].failures >= FAIL_LIMIT;
	pthread_mutex_unlock(&throttle_lock);
	return refuse;
}

static void
note_failure(const char *email, bool failed)
{
	uint32_t t = email_tag(email);
	int64_t now = vx_now_ms();
	size_t i = t % THROTTLE_SLOTS;

	pthread_mutex_lock(&throttle_lock);
	if (!failed) {
		if (throttle[i].tag == t)
			throttle[i].failures = 0;
	} else if (throttle[i].tag != t ||
	           now - throttle[i].window_start >= FAIL_WINDOW_MS) {
		throttle[i].tag = t;
		throttle[i].failures = 1;
		throttle[i].window_start = now;
	} else {
		throttle[i].failures++;
	}
	pthread_mutex_unlock(&throttle_lock);
}

/* Lower-cases and checks an email: one @, a local part, a dotted domain. */
static int
check_email(vx_call *c, const char *in, char **out)
{
	size_t n = strlen(in);
	const char *at = strchr(in, '@');
	char *e;

	if (n == 0)
		return vx_fail(c, VX_EINVAL, "email", "required", "email is required");
	if (n > 254 || at == NULL || at == in || strchr(at + 1, '@') != NULL ||
	    strchr(at + 1, '.') == NULL || at[1] == '.' || in[n - 1] == '.')
		return vx_fail(
		    c, VX_EINVAL, "email", "format", "email is not a valid address");
	if ((e = vx_arena_strdup(c->arena, in)) == NULL)
		return VX_ENOMEM;
	for (char *p = e; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127)
			return vx_fail(c, VX_EINVAL, "email", "format",
			    "email is not a valid address");
		*p = (char)tolower((unsigned char)*p);
	}
	*out = e;
	return 0;
}

static Vexil__V1__User *
public_user(vx_call *c, const Vexil__V1__User *u)
{
	Vexil__V1__User *out = vx_arena_alloc(c->arena, sizeof(*out));
	if (out != NULL) {
		*out = *u;
		out->password_hash = "";
	}
	return out;
}

struct user_op {
	vx_call *c;
	char *email;
	char *hash;
	Vexil__V1__User *out;
};

static int
register_tx(vx_wtxn *w, void *arg)
{
	struct user_op *op = arg;
	vx_call *c = op->c;
	Vexil__V1__User *u, *old;
	Vexil__V1__Project *p;
	int rc;

	rc = vx_store_user_find(vx_wtxn_txn(w), c->store, op->email, c->alloc, &old);
	if (rc == 0)
		return vx_fail(
		    c, VX_EEXIST, "email", "unique", "email is already registered");
	if (rc != VX_ENOTFOUND)
		return rc;
	if ((u = vx_arena_alloc(c->arena, sizeof(*u))) == NULL)
		return VX_ENOMEM;
	vexil__v1__user__init(u);
	if ((rc = vx_store_next_id(w, VX_SEQ_USER, &u->id)) != 0)
		return rc;
	u->email = op->email;
	u->password_hash = op->hash;
	u->created_at = vx_now_ms();
	if ((rc = vx_store_user_put(w, u)) != 0 ||
	    (rc = vx_store_audit(w, 0, VEXIL__V1__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED,
	         u->email, "", c->method)) != 0)
		return rc;
	/* The user's own `default` project comes with the account, so no API
	 * has to create it on first use (two first requests would race). */
	vx_auth_user_actor(&c->who, u->id, u->email);
	if ((rc = vx_project_create(
	         w, c, VX_USER_PROJECT, VX_USER_PROJECT_DESC, u->id, &p)) != 0)
		return rc;
	op->out = public_user(c, u);
	return op->out ? 0 : VX_ENOMEM;
}

static void
register_user(Vexil__V1__UserService_Service *svc, const Vexil__V1__RegisterRequest *in,
    Vexil__V1__User_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct user_op op = {c, NULL, NULL, NULL};
	size_t plen = strlen(in->password);
	int rc;

	(void)svc;
	if ((rc = check_email(c, in->email, &op.email)) != 0)
		goto out;
	if (plen < 6 || plen > 1024) {
		rc = vx_fail(c, VX_EINVAL, "password",
		    plen < 6 ? "min_length" : "max_length",
		    plen < 6 ? "password must be at least 6 characters"
		             : "password must be at most 1024 characters");
		goto out;
	}
	if ((op.hash = vx_arena_alloc(c->arena, crypto_pwhash_STRBYTES)) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	/* Hash before the write: the writer lock is never held for Argon2. */
	vx_store_reader_release(c->reader);
	rc = crypto_pwhash_str(op.hash, in->password, plen,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE);
	if (rc != 0) {
		rc = vx_fail(
		    c, VX_ENOMEM, NULL, NULL, "out of memory hashing the password");
		goto out;
	}
	rc = vx_store_write(c->store, c->reader, register_tx, &op);
out:
	VX_REPLY(c, rc, op.out);
}

static void
login(Vexil__V1__UserService_Service *svc, const Vexil__V1__LoginRequest *in,
    Vexil__V1__LoginReply_Closure closure, void *closure_data)
{
	/* An unknown email is verified against a dummy, so both cost the same. */
	static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
	vx_call *c = closure_data;
	Vexil__V1__LoginReply *out = NULL;
	Vexil__V1__User *u = NULL;
	char *email = NULL, *token;
	int64_t now = vx_now_ms();
	bool ok;
	int rc;

	(void)svc;
	if ((rc = check_email(c, in->email, &email)) != 0)
		goto out;
	if (throttled(email)) {
		rc = vx_fail(c, VX_EFULL, "email", "throttled",
		    "too many failed logins; try again later");
		goto out;
	}
	rc = vx_store_user_find(c->reader->txn, c->store, email, c->alloc, &u);
	if (rc != 0 && rc != VX_ENOTFOUND)
		goto out;
	vx_store_reader_release(c->reader);
	if (u == NULL)
		pthread_once(&dummy_once, make_dummy);
	ok = crypto_pwhash_str_verify(u ? u->password_hash : dummy_hash, in->password,
	         strlen(in->password)) == 0 &&
	     u != NULL;
	note_failure(email, !ok);
	if (!ok) {
		rc = vx_fail(c, VX_EAUTH, NULL, NULL, "invalid email or password");
		goto out;
	}
	out = vx_arena_alloc(c->arena, sizeof(*out));
	token = vx_arena_alloc(c->arena, 512);
	if (out == NULL || token == NULL) {
		rc = VX_ENOMEM;
		out = NULL;
		goto out;
	}
	vexil__v1__login_reply__init(out);
	if ((out->user = public_user(c, u)) == NULL) {
		rc = VX_ENOMEM;
		out = NULL;
		goto out;
	}
	out->expires_at = now + VX_JWT_TTL_MS;
	if ((rc = vx_auth_jwt_issue(u->id, now, out->expires_at, token, 512)) != 0)
		out = NULL;
	else
		out->token = token;
out:
	VX_REPLY(c, rc, out);
}

static void
get_me(Vexil__V1__UserService_Service *svc, const Vexil__V1__GetMeRequest *in,
    Vexil__V1__User_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__User *u = NULL, *out = NULL;
	int rc;

	(void)svc;
	(void)in;
	if (c->who.kind != VX_PRINCIPAL_USER)
		rc = vx_fail(
		    c, VX_EPERM, "credential", NULL, "this call needs a user's token");
	else if ((rc = vx_store_user_get(
	              c->reader->txn, c->store, c->who.id, c->alloc, &u)) == 0 &&
	         (out = public_user(c, u)) == NULL)
		rc = VX_ENOMEM;
	VX_REPLY(c, rc, out);
}

Vexil__V1__UserService_Service vx_user_service = VEXIL__V1__USER_SERVICE__INIT();
