/*
 * Vexil integration tests: users, login tokens (HS256 JWT), projects owned
 * by users, and the projects' primary SDK keys.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "harness.h"

VX_SERVER_SUITE(users, 120);

static Vexil__V1__User *
sign_up(const char *email, const char *password, int *rc, vx_status *st)
{
	Vexil__V1__RegisterRequest in = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__User *u = NULL;
	vx_client *anon = vx_harness_client(&h, NULL);
	in.email = (char *)email;
	in.password = (char *)password;
	*rc = vx_register_user(anon, &in, &u, st);
	vx_client_close(anon);
	return u;
}

/* Logs in and returns a client holding the user's token. */
static vx_client *
log_in(const char *email, const char *password, int *rc, vx_status *st)
{
	Vexil__V1__LoginRequest in = VEXIL__V1__LOGIN_REQUEST__INIT;
	Vexil__V1__LoginReply *r;
	vx_client *anon = vx_harness_client(&h, NULL), *c = NULL;
	char cred[600];

	in.email = (char *)email;
	in.password = (char *)password;
	*rc = vx_login(anon, &in, &r, st);
	vx_client_close(anon);
	if (*rc != 0)
		return NULL;
	cr_assert_str_empty(r->user->password_hash, "no hash in replies");
	snprintf(cred, sizeof(cred), "Bearer %s", r->token);
	c = vx_harness_client(&h, cred);
	vx_free(r);
	return c;
}

static vx_client *
user(const char *email)
{
	vx_status st;
	int rc;
	vx_free(sign_up(email, "secret-pw", &rc, &st));
	cr_assert_eq(rc, 0, "%s", st.message);
	vx_client *c = log_in(email, "secret-pw", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	return c;
}

Test(users, sign_up_validates_email_and_password_and_refuses_duplicates)
{
	vx_status st;
	int rc;
	Vexil__V1__User *u = sign_up("Dev@Example.com", "secret-pw", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(u->email, "dev@example.com");
	cr_assert_str_empty(u->password_hash);
	vx_free(u);
	sign_up("dev@example.com", "another-pw", &rc, &st);
	cr_assert_eq(rc, VX_EEXIST);
	sign_up("not-an-email", "secret-pw", &rc, &st);
	cr_assert_eq(rc, VX_EINVAL);
	cr_assert_str_eq(st.field, "email");
	sign_up("short@example.com", "12345", &rc, &st);
	cr_assert_eq(rc, VX_EINVAL);
	cr_assert_str_eq(st.field, "password");
}

Test(users, login_gives_a_token_that_names_the_user)
{
	Vexil__V1__GetMeRequest in = VEXIL__V1__GET_ME_REQUEST__INIT;
	Vexil__V1__User *me;
	vx_status st;
	int rc;

	vx_client *c = user("me@example.com");
	cr_assert(vx_get_me(c, &in, &me, &st) == 0, "%s", st.message);
	cr_assert_str_eq(me->email, "me@example.com");
	vx_free(me);
	vx_client_close(c);
	cr_assert_null(log_in("me@example.com", "wrong-pw", &rc, &st));
	cr_assert_eq(rc, VX_EAUTH);
	cr_assert_null(log_in("nobody@example.com", "secret-pw", &rc, &st));
	cr_assert_eq(rc, VX_EAUTH);
	/* An API key is not a user. */
	cr_assert_eq(vx_get_me(h.admin, &in, &me, &st), VX_EPERM);
}

Test(users, repeated_failed_logins_are_refused_for_a_while)
{
	vx_status st;
	int rc;
	vx_free(sign_up("brute@example.com", "secret-pw", &rc, &st));
	for (int i = 0; i < 5; i++) {
		cr_assert_null(log_in("brute@example.com", "guess", &rc, &st));
		cr_assert_eq(rc, VX_EAUTH);
	}
	cr_assert_null(log_in("brute@example.com", "secret-pw", &rc, &st));
	cr_assert_eq(
	    rc, VX_EFULL, "refused even with the right password: %s", st.message);
	cr_assert_eq(st.code, VEXIL__V1__CODE__RESOURCE_EXHAUSTED);
}

static int
call_me(const char *token)
{
	Vexil__V1__GetMeRequest in = VEXIL__V1__GET_ME_REQUEST__INIT;
	Vexil__V1__User *me;
	vx_status st;
	char cred[1200];
	snprintf(cred, sizeof(cred), "Bearer %s", token);
	vx_client *c = vx_harness_client(&h, cred);
	int rc = vx_get_me(c, &in, &me, &st);
	if (rc == 0)
		vx_free(me);
	vx_client_close(c);
	return rc;
}

Test(users, forged_expired_and_unsigned_tokens_are_refused)
{
	uint8_t secret[32], other[32];
	char token[512];
	vx_status st;
	int rc;
	int64_t now = vx_now_ms();

	vx_free(sign_up("jwt@example.com", "secret-pw", &rc, &st));
	cr_assert(sodium_init() >= 0);
	vx_harness_jwt_secret(&h, secret);
	vx_auth_set_jwt_secret(secret);
	cr_assert(vx_auth_jwt_issue(1, now, now + 60000, token, sizeof(token)) == 0);
	cr_assert_eq(call_me(token), 0, "a token signed with the server's secret works");
	cr_assert(vx_auth_jwt_issue(
	              1, now - 7200000, now - 3600000, token, sizeof(token)) == 0);
	cr_assert_eq(call_me(token), VX_EAUTH, "expired");
	memset(other, 7, sizeof(other));
	vx_auth_set_jwt_secret(other);
	cr_assert(vx_auth_jwt_issue(1, now, now + 60000, token, sizeof(token)) == 0);
	cr_assert_eq(call_me(token), VX_EAUTH, "signed with another secret");
	/* alg "none": {"alg":"none","typ":"JWT"} . {"sub":"1","exp":9999999999} . */
	cr_assert_eq(
	    call_me("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5"
	            "OTk5OTk5fQ."),
	    VX_EAUTH);
	cr_assert_eq(call_me("garbage"), VX_EAUTH);
	vx_auth_set_jwt_secret(secret);
	cr_assert(vx_auth_jwt_issue(99, now, now + 60000, token, sizeof(token)) == 0);
	cr_assert_eq(call_me(token), VX_EAUTH, "a token for a user that does not exist");
}

Test(users, users_see_only_their_own_projects)
{
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__ListProjectsRequest lp = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *pl;
	Vexil__V1__Project *p;
	vx_status st;
	char id[32];

	vx_client *a = user("a@example.com"), *b = user("b@example.com");
	cp.name = "My App";
	cr_assert(vx_create_project(a, &cp, &p, &st) == 0, "%s", st.message);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	cr_assert(strncmp(p->sdk_key, "sdk_", 4) == 0 && strlen(p->sdk_key) == 36,
	    "a readable primary SDK key in the documented form: %s", p->sdk_key);
	vx_free(p);
	/* The same name is fine for another user. */
	cr_assert(vx_create_project(b, &cp, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	cr_assert_eq(vx_create_project(a, &cp, &p, &st), VX_EEXIST);

	gp.project = id;
	cr_assert_eq(
	    vx_get_project(b, &gp, &p, &st), VX_ENOTFOUND, "another user's project");
	cr_assert(vx_get_project(a, &gp, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	cr_assert(vx_list_projects(b, &lp, &pl, &st) == 0);
	cr_assert_eq(pl->n_projects, 2, "b's own default (from sign-up) and My App");
	vx_free(pl);
	/* "default" is a's own, made at sign-up, never the API keys' one. */
	gp.project = "default";
	cr_assert(vx_get_project(a, &gp, &p, &st) == 0, "%s", st.message);
	cr_assert_neq(p->id, 1);
	cr_assert_neq(p->owner_user_id, 0);
	vx_free(p);
	vx_client_close(a);
	vx_client_close(b);
}

Test(users, regenerating_the_sdk_key_kills_the_old_one_at_once)
{
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__EvaluateAllRequest ea = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvaluationList *el;
	Vexil__V1__Project *p, *p2;
	vx_status st;
	char id[32], cred[100];

	vx_client *a = user("sdk@example.com");
	cp.name = "App";
	cr_assert(vx_create_project(a, &cp, &p, &st) == 0, "%s", st.message);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	snprintf(cred, sizeof(cred), "SdkKey %s", p->sdk_key);
	vx_client *sdk = vx_harness_client(&h, cred);
	/* An SDK key names its project by itself. */
	ea.project = "";
	ea.environment = "production";
	cr_assert(vx_evaluate_all(sdk, &ea, &el, &st) == 0, "%s", st.message);
	vx_free(el);

	gp.project = id;
	cr_assert(vx_regenerate_sdk_key(a, &gp, &p2, &st) == 0, "%s", st.message);
	cr_assert_str_neq(p2->sdk_key, p->sdk_key);
	cr_assert_eq(
	    vx_evaluate_all(sdk, &ea, &el, &st), VX_EAUTH, "the old key is dead");
	vx_client_close(sdk);
	snprintf(cred, sizeof(cred), "SdkKey %s", p2->sdk_key);
	sdk = vx_harness_client(&h, cred);
	cr_assert(vx_evaluate_all(sdk, &ea, &el, &st) == 0, "%s", st.message);
	vx_free(el);
	vx_client_close(sdk);
	vx_free(p);
	vx_free(p2);
	vx_client_close(a);
}

static Vexil__V1__AdmitReply *
admit_as(const char *cred, vx_status *st, int *rc)
{
	Vexil__V1__AdmitRequest in = VEXIL__V1__ADMIT_REQUEST__INIT;
	Vexil__V1__AdmitReply *out = NULL;
	vx_client *c = vx_harness_client(&h, cred);
	*rc = vx_admit(c, &in, &out, st);
	vx_client_close(c);
	return out;
}

Test(users, admit_counts_requests_per_api_key_per_minute)
{
	char key_a[128], key_b[128];
	vx_status st;
	int rc;

	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_READ, key_a, sizeof(key_a));
	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_READ, key_b, sizeof(key_b));
	for (int i = 1; i <= 100; i++) {
		Vexil__V1__AdmitReply *r = admit_as(key_a, &st, &rc);
		cr_assert_eq(rc, 0, "%s", st.message);
		cr_assert_not(r->rate->limited, "request %d is within the limit", i);
		cr_assert_eq(r->rate->limit, 100);
		cr_assert_eq(r->rate->remaining, 100 - i);
		cr_assert_str_eq(r->kind, "apikey");
		vx_free(r);
	}
	Vexil__V1__AdmitReply *r = admit_as(key_a, &st, &rc);
	cr_assert_eq(rc, 0);
	cr_assert(r->rate->limited, "the 101st is over");
	cr_assert_gt(r->rate->reset_at, vx_now_ms());
	vx_free(r);
	r = admit_as(key_b, &st, &rc);
	cr_assert(!r->rate->limited, "another key is unaffected");
	vx_free(r);
	cr_assert_null(
	    admit_as("ApiKey vxk_0000000000000000000000000000000000000000", &st, &rc));
	cr_assert_eq(rc, VX_EAUTH);
}

static Vexil__V1__LeaseTokensReply *
lease_as(const char *cred, uint32_t want, vx_status *st, int *rc)
{
	Vexil__V1__LeaseTokensRequest in = VEXIL__V1__LEASE_TOKENS_REQUEST__INIT;
	Vexil__V1__LeaseTokensReply *out = NULL;
	vx_client *c = vx_harness_client(&h, cred);

	in.want = want;
	*rc = vx_lease_tokens(c, &in, &out, st);
	vx_client_close(c);
	return out;
}

/* EdgeService/LeaseTokens takes blocks from the same window as Admit. */
Test(users, lease_tokens_takes_blocks_of_an_api_keys_window)
{
	char key[128], cred[160];
	Vexil__V1__LeaseTokensReply *l;
	Vexil__V1__AdmitReply *a;
	vx_status st;
	int rc;

	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_READ, key, sizeof(key));
	snprintf(cred, sizeof(cred), "ApiKey %s", key);
	a = admit_as(key, &st, &rc);
	cr_assert_eq(rc, 0, "%s", st.message);
	vx_free(a);
	l = lease_as(cred, 60, &st, &rc);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(l->granted, 60);
	cr_assert_eq(l->limit, 100);
	cr_assert_eq(l->remaining, 39, "1 admitted and 60 leased of 100");
	cr_assert_gt(l->reset_at, vx_now_ms());
	cr_assert_gt(l->valid_ms, 0);
	cr_assert_leq(l->valid_ms, 60000);
	vx_free(l);
	/* Only what is left, then nothing; Admit sees the window spent. */
	l = lease_as(cred, 60, &st, &rc);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(l->granted, 39);
	cr_assert_eq(l->remaining, 0);
	vx_free(l);
	l = lease_as(cred, 1, &st, &rc);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(l->granted, 0);
	vx_free(l);
	a = admit_as(key, &st, &rc);
	cr_assert(a->rate->limited, "the window was leased out whole");
	vx_free(a);

	/* Bad input names the field and takes nothing. */
	cr_assert_null(lease_as(cred, 0, &st, &rc));
	cr_assert_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_assert_str_eq(st.field, "want");
	cr_assert_null(lease_as(cred, 1001, &st, &rc));
	cr_assert_str_eq(st.field, "want");
	/* SDK keys may not lease; an unknown key is not admitted. */
	{
		Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
		Vexil__V1__Project *p;
		char sdk[160];

		gp.project = "default";
		cr_assert(vx_get_project(h.admin, &gp, &p, &st) == 0, "%s", st.message);
		snprintf(sdk, sizeof(sdk), "SdkKey %s", p->sdk_key);
		vx_free(p);
		cr_assert_null(lease_as(sdk, 1, &st, &rc));
		cr_assert_eq(
		    st.code, VEXIL__V1__CODE__PERMISSION_DENIED, "%s", st.message);
	}
	cr_assert_null(
	    lease_as("ApiKey vxk_0000000000000000000000000000000000000000", 1, &st, &rc));
	cr_assert_eq(rc, VX_EAUTH);
}

/* ---- the hashing lane's limit (--hash-workers, --hash-queue) ---- */

#define SIGNUPS 12

struct signup {
	vx_client *c;
	int i, rc;
	vx_status st;
};

static void *
signup_thread(void *arg)
{
	struct signup *s = arg;
	Vexil__V1__RegisterRequest in = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__User *u = NULL;
	char email[64];

	snprintf(email, sizeof(email), "burst%d@example.com", s->i);
	in.email = email;
	in.password = "secret-pw";
	s->rc = vx_register_user(s->c, &in, &u, &s->st);
	vx_free(u);
	return NULL;
}

/*
 * One hash at a time and one waiting: a burst of sign-ups gets some
 * through and the rest refused RESOURCE_EXHAUSTED, nothing half done
 * (refused users do not exist), and other RPCs are answered throughout,
 * because request workers never hash.
 */
Test(users, a_burst_of_sign_ups_past_the_hash_lane_is_refused_and_nothing_else_waits)
{
	static const char *const args[] = {
	    "--hash-workers", "1", "--hash-queue", "1", NULL};
	Vexil__V1__ListProjectsRequest lp = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *pl;
	struct signup s[SIGNUPS];
	pthread_t th[SIGNUPS];
	vx_client *anon;
	int ok = 0, refused = 0;
	vx_status st;

	vx_harness_fini(&h);
	vx_harness_start(&h, args);
	anon = vx_harness_client(&h, NULL);
	for (int i = 0; i < SIGNUPS; i++) {
		s[i] = (struct signup){.c = anon, .i = i};
		cr_assert_eq(pthread_create(&th[i], NULL, signup_thread, &s[i]), 0);
	}
	/* While the lane is busy, the request workers still answer. */
	cr_assert(vx_list_projects(h.admin, &lp, &pl, &st) == 0, "%s", st.message);
	vx_free(pl);
	for (int i = 0; i < SIGNUPS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < SIGNUPS; i++) {
		int rc;
		vx_client *c;
		char email[64];

		snprintf(email, sizeof(email), "burst%d@example.com", i);
		if (s[i].rc == 0) {
			ok++;
			c = log_in(email, "secret-pw", &rc, &st);
			cr_assert_eq(
			    rc, 0, "%s signed up, so logs in: %s", email, st.message);
			vx_client_close(c);
		} else {
			cr_assert_eq(s[i].st.code, VEXIL__V1__CODE__RESOURCE_EXHAUSTED,
			    "a sign-up fails only for the full lane: %s",
			    s[i].st.message);
			refused++;
			c = log_in(email, "secret-pw", &rc, &st);
			cr_assert_neq(
			    rc, 0, "a refused sign-up made no user (%s)", email);
		}
	}
	cr_assert_gt(ok, 0, "the lane serves");
	cr_assert_gt(
	    refused, 0, "%d sign-ups at once overflow one hash and one place", SIGNUPS);
	vx_client_close(anon);
}

/* ---- teams: members and roles (docs/teams.md) ---- */

/* Creates a project named name as c; returns its id as text in id. */
static uint64_t
new_project(vx_client *c, const char *name, char id[32])
{
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	uint64_t n;

	cp.name = (char *)name;
	cr_assert(vx_create_project(c, &cp, &p, &st) == 0, "%s", st.message);
	n = p->id;
	snprintf(id, 32, "%llu", (unsigned long long)n);
	vx_free(p);
	return n;
}

static int
add_member(vx_client *c, const char *project, const char *email, Vexil__V1__Role role,
    vx_status *st)
{
	Vexil__V1__AddMemberRequest in = VEXIL__V1__ADD_MEMBER_REQUEST__INIT;
	Vexil__V1__Member *m = NULL;
	int rc;

	in.project = (char *)project;
	in.email = (char *)email;
	in.role = role;
	rc = vx_add_member(c, &in, &m, st);
	vx_free(m);
	return rc;
}

static int
set_role(vx_client *c, const char *project, const char *email, Vexil__V1__Role role,
    vx_status *st)
{
	Vexil__V1__SetMemberRoleRequest in = VEXIL__V1__SET_MEMBER_ROLE_REQUEST__INIT;
	Vexil__V1__MemberRef ref = VEXIL__V1__MEMBER_REF__INIT;
	Vexil__V1__Member *m = NULL;
	int rc;

	ref.project = (char *)project;
	ref.email = (char *)email;
	in.member = &ref;
	in.role = role;
	rc = vx_set_member_role(c, &in, &m, st);
	vx_free(m);
	return rc;
}

static int
remove_member(vx_client *c, const char *project, const char *email, vx_status *st)
{
	Vexil__V1__MemberRef in = VEXIL__V1__MEMBER_REF__INIT;
	Vexil__V1__Empty *e = NULL;
	int rc;

	in.project = (char *)project;
	in.email = (char *)email;
	rc = vx_remove_member(c, &in, &e, st);
	vx_free(e);
	return rc;
}

static int
get_project(vx_client *c, const char *id, uint64_t *revision)
{
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	int rc;

	gp.project = (char *)id;
	if ((rc = vx_get_project(c, &gp, &p, &st)) == 0) {
		if (revision)
			*revision = p->revision;
		vx_free(p);
	}
	return rc;
}

static int
create_flag(vx_client *c, const char *project, const char *key, vx_status *st)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out = NULL;
	int rc;

	in.project = (char *)project;
	f.key = (char *)key;
	in.flag = &f;
	rc = vx_create_flag(c, &in, &out, st);
	vx_free(out);
	return rc;
}

/* Whether the project list c sees holds project id (owned_only or not). */
static bool
lists(vx_client *c, uint64_t id, bool owned_only)
{
	Vexil__V1__ListProjectsRequest lp = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *pl;
	vx_status st;
	bool found = false;

	lp.owned_only = owned_only;
	cr_assert(vx_list_projects(c, &lp, &pl, &st) == 0, "%s", st.message);
	for (size_t i = 0; i < pl->n_projects; i++)
		found = found || pl->projects[i]->id == id;
	vx_free(pl);
	return found;
}

Test(users, a_shared_project_gives_each_member_exactly_their_roles_rights)
{
	vx_client *ann = user("ann@example.com"), *bob = user("bob@example.com");
	vx_client *cat = user("cat@example.com");
	char id[32];
	uint64_t pid = new_project(ann, "Team", id), rev0 = 0, rev = 0;
	vx_status st;

	/* Not a member: the project does not exist for bob. */
	cr_assert_eq(get_project(bob, id, NULL), VX_ENOTFOUND);
	cr_assert(!lists(bob, pid, false));
	cr_assert_eq(create_flag(bob, id, "f0", &st), VX_ENOTFOUND);
	cr_assert_eq(
	    add_member(bob, id, "bob@example.com", VEXIL__V1__ROLE__ROLE_ADMIN, &st),
	    VX_ENOTFOUND, "no way in by oneself");

	/* read: sees it (and its list), may not write. Emails match in any case. */
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(
	    add_member(ann, id, "Bob@Example.com", VEXIL__V1__ROLE__ROLE_READ, &st), 0,
	    "%s", st.message);
	cr_assert_eq(get_project(bob, id, &rev), 0);
	cr_assert_eq(rev, rev0 + 1, "one change, one revision");
	cr_assert(lists(bob, pid, false));
	cr_assert(!lists(bob, pid, true), "owned_only lists bob's own projects only");
	cr_assert_eq(create_flag(bob, id, "f1", &st), VX_EPERM);
	cr_assert(strstr(st.message, "role read") != NULL, "%s", st.message);

	/* write: writes flags, cannot manage members. */
	cr_assert_eq(
	    set_role(ann, id, "bob@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(create_flag(bob, id, "f1", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(bob, id, "cat@example.com", VEXIL__V1__ROLE__ROLE_READ, &st),
	    VX_EPERM);

	/* admin: manages members, but the owner stays an admin. */
	cr_assert_eq(
	    set_role(ann, id, "bob@example.com", VEXIL__V1__ROLE__ROLE_ADMIN, &st), 0,
	    "%s", st.message);
	cr_assert_eq(
	    add_member(bob, id, "cat@example.com", VEXIL__V1__ROLE__ROLE_READ, &st), 0,
	    "%s", st.message);
	cr_assert_eq(remove_member(bob, id, "ann@example.com", &st), VX_ESTATE);
	cr_assert(strstr(st.message, "owner") != NULL, "%s", st.message);
	cr_assert_eq(
	    set_role(bob, id, "ann@example.com", VEXIL__V1__ROLE__ROLE_READ, &st),
	    VX_ESTATE);

	/* The audit log names the member who wrote, with their email. */
	Vexil__V1__ListAuditRequest la = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *al;
	bool named = false;
	la.project = id;
	cr_assert_eq(vx_list_audit(ann, &la, &al, &st), 0, "%s", st.message);
	for (size_t i = 0; i < al->n_entries; i++)
		named = named ||
		        (strstr(al->entries[i]->actor, "(bob@example.com)") != NULL &&
		            strcmp(al->entries[i]->target, "f1") == 0);
	vx_free(al);
	cr_assert(named, "bob's flag write is audited with bob's email");

	/* Removal takes effect on the next call; a member may leave alone. */
	cr_assert_eq(remove_member(ann, id, "bob@example.com", &st), 0, "%s", st.message);
	cr_assert_eq(get_project(bob, id, NULL), VX_ENOTFOUND);
	cr_assert_eq(create_flag(bob, id, "f2", &st), VX_ENOTFOUND);
	cr_assert_eq(remove_member(cat, id, "cat@example.com", &st), 0, "%s", st.message);
	cr_assert_eq(get_project(cat, id, NULL), VX_ENOTFOUND);
	vx_client_close(ann);
	vx_client_close(bob);
	vx_client_close(cat);
}

Test(users, member_changes_refuse_bad_input_and_change_nothing)
{
	vx_client *ann = user("owner@example.com"), *dan = user("dan@example.com");
	Vexil__V1__ListMembersRequest lm = VEXIL__V1__LIST_MEMBERS_REQUEST__INIT;
	Vexil__V1__MemberList *ml;
	char id[32];
	uint64_t rev0 = 0, rev = 0;
	vx_status st;

	new_project(ann, "Refusals", id);
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(
	    add_member(ann, id, "nobody@example.com", VEXIL__V1__ROLE__ROLE_READ, &st),
	    VX_ENOTFOUND);
	cr_assert(strstr(st.message, "nobody@example.com") != NULL, "%s", st.message);
	cr_assert_eq(add_member(ann, id, "dan@example.com",
	                 VEXIL__V1__ROLE__ROLE_UNSPECIFIED, &st),
	    VX_EINVAL);
	cr_assert_eq(
	    add_member(ann, id, "dan@example.com", (Vexil__V1__Role)9, &st), VX_EINVAL);
	cr_assert_eq(add_member(ann, id, "", VEXIL__V1__ROLE__ROLE_READ, &st), VX_EINVAL);
	cr_assert_eq(
	    add_member(ann, id, "owner@example.com", VEXIL__V1__ROLE__ROLE_READ, &st),
	    VX_EEXIST);
	cr_assert_eq(
	    set_role(ann, id, "dan@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st),
	    VX_ENOTFOUND, "not a member yet");
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "nothing was written");

	cr_assert_eq(
	    add_member(ann, id, "dan@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "dan@example.com", VEXIL__V1__ROLE__ROLE_READ, &st),
	    VX_EEXIST);
	lm.project = id;
	cr_assert_eq(vx_list_members(dan, &lm, &ml, &st), 0, "%s", st.message);
	cr_assert_eq(ml->n_members, 2);
	cr_assert_str_eq(ml->members[0]->email, "owner@example.com");
	cr_assert_eq(ml->members[0]->role, VEXIL__V1__ROLE__ROLE_ADMIN);
	cr_assert_str_eq(ml->members[1]->email, "dan@example.com");
	cr_assert_eq(ml->members[1]->role, VEXIL__V1__ROLE__ROLE_WRITE);
	vx_free(ml);
	vx_client_close(ann);
	vx_client_close(dan);
}

/* ---- protected environments and change requests (docs/teams.md) ---- */

#define PROD "production"

static int
protect(vx_client *c, const char *project, const char *env, bool on, vx_status *st)
{
	Vexil__V1__UpdateEnvironmentRequest in =
	    VEXIL__V1__UPDATE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment upd = VEXIL__V1__ENVIRONMENT__INIT, *out = NULL;
	char *mask[] = {"protected"};
	int rc;

	in.project = (char *)project;
	in.key = (char *)env;
	upd.protected_ = on;
	in.update = &upd;
	in.update_mask = mask;
	in.n_update_mask = 1;
	rc = vx_update_environment(c, &in, &out, st);
	vx_free(out);
	return rc;
}

static int
set_enabled(vx_client *c, const char *project, const char *key, const char *env, bool on,
    vx_status *st)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out = NULL;
	int rc;

	in.project = (char *)project;
	in.key = (char *)key;
	in.environment = (char *)env;
	in.enabled = on;
	rc = vx_set_flag_enabled(c, &in, &out, st);
	vx_free(out);
	return rc;
}

/* A write the protected environment stops: the change request's id. */
static uint64_t
propose(vx_client *c, const char *project, const char *key, bool on)
{
	vx_status st;
	unsigned long long id = 0;

	cr_assert_eq(
	    set_enabled(c, project, key, PROD, on, &st), VX_ESTATE, "%s", st.message);
	cr_assert_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_assert_str_eq(st.constraint, "change_request");
	cr_assert_eq(
	    sscanf(st.message, "change request %llu opened", &id), 1, "%s", st.message);
	return id;
}

static bool
enabled_in(vx_client *c, const char *project, const char *key, const char *env)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;
	bool on = false;

	in.project = (char *)project;
	in.key = (char *)key;
	cr_assert_eq(vx_get_flag(c, &in, &f, &st), 0, "%s", st.message);
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, env) == 0)
			on = f->envs[i]->enabled;
	vx_free(f);
	return on;
}

enum review_step { APPROVE, REJECT, WITHDRAW };

static int
review_as(
    vx_client *c, enum review_step step, const char *project, uint64_t id, vx_status *st)
{
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *sc = NULL;
	Vexil__V1__Empty *e = NULL;
	int rc;

	ref.project = (char *)project;
	ref.id = id;
	rc = step == APPROVE  ? vx_approve_change(c, &ref, &sc, st)
	     : step == REJECT ? vx_reject_change(c, &ref, &e, st)
	                      : vx_withdraw_change(c, &ref, &e, st);
	vx_free(sc);
	vx_free(e);
	return rc;
}

/* The ids of the project's open change requests, oldest first. */
static size_t
open_changes(vx_client *c, const char *project, uint64_t *ids, size_t cap)
{
	Vexil__V1__ListChangesRequest in = VEXIL__V1__LIST_CHANGES_REQUEST__INIT;
	Vexil__V1__ChangeList *cl;
	vx_status st;
	size_t n;

	in.project = (char *)project;
	cr_assert_eq(vx_list_changes(c, &in, &cl, &st), 0, "%s", st.message);
	n = cl->n_changes;
	for (size_t i = 0; i < n && i < cap; i++) {
		cr_assert_not_null(cl->changes[i]->review);
		cr_assert_str_eq(cl->changes[i]->review->environment, PROD);
		ids[i] = cl->changes[i]->id;
	}
	vx_free(cl);
	return n;
}

/* Whether the audit log holds an entry of kind on target by an actor
 * containing who. */
static bool
audited(vx_client *c, const char *project, Vexil__V1__ChangeKind kind, const char *target,
    const char *who)
{
	Vexil__V1__ListAuditRequest la = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *al;
	vx_status st;
	bool found = false;

	la.project = (char *)project;
	cr_assert_eq(vx_list_audit(c, &la, &al, &st), 0, "%s", st.message);
	for (size_t i = 0; i < al->n_entries; i++)
		found = found || (al->entries[i]->kind == kind &&
		                     strcmp(al->entries[i]->target, target) == 0 &&
		                     strstr(al->entries[i]->actor, who) != NULL);
	vx_free(al);
	return found;
}

Test(users, a_protected_change_waits_for_another_members_approval)
{
	vx_client *ann = user("pa@example.com"), *bob = user("pb@example.com");
	vx_client *cat = user("pc@example.com");
	Vexil__V1__CommentChangeRequest cm = VEXIL__V1__COMMENT_CHANGE_REQUEST__INIT;
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__ChangesRequest cq = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *cr;
	Vexil__V1__Schedule *sc;
	char id[32], target[40];
	uint64_t rev0 = 0, rev = 0, ids[4];
	vx_status st;

	new_project(ann, "Guarded", id);
	cr_assert_eq(create_flag(ann, id, "pay", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "pb@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "pc@example.com", VEXIL__V1__ROLE__ROLE_READ, &st), 0,
	    "%s", st.message);

	/* Only an admin protects an environment. */
	cr_assert_eq(protect(bob, id, PROD, true, &st), VX_EPERM);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);

	/* Other environments are as before; production's write is held. */
	cr_assert_eq(
	    set_enabled(bob, id, "pay", "staging", true, &st), 0, "%s", st.message);
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	uint64_t cr_id = propose(bob, id, "pay", true);
	cr_assert(!enabled_in(ann, id, "pay", PROD), "the write was not made");
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "a change request is no revision");
	cr_assert_eq(open_changes(cat, id, ids, 4), 1);
	cr_assert_eq(ids[0], cr_id);

	/* Anyone who reads the project may comment and look. */
	ref.project = id;
	ref.id = cr_id;
	cm.ref = &ref;
	cm.text = "ship it?";
	cr_assert_eq(vx_comment_change(cat, &cm, &sc, &st), 0, "%s", st.message);
	vx_free(sc);
	cr_assert_eq(vx_get_change(ann, &ref, &sc, &st), 0, "%s", st.message);
	cr_assert_eq(sc->review->n_comments, 1);
	cr_assert_str_eq(sc->review->comments[0]->text, "ship it?");
	cr_assert_eq(sc->review->base_revision, rev0);
	cr_assert(strstr(sc->actor, "(pb@example.com)") != NULL, "%s", sc->actor);
	vx_free(sc);

	/* Not the author, not a reader. */
	cr_assert_eq(review_as(bob, APPROVE, id, cr_id, &st), VX_EPERM);
	cr_assert(strstr(st.message, "another member") != NULL, "%s", st.message);
	cr_assert_eq(review_as(cat, APPROVE, id, cr_id, &st), VX_EPERM);
	cr_assert(strstr(st.message, "role read") != NULL, "%s", st.message);
	cr_assert(!enabled_in(ann, id, "pay", PROD));

	/* Another member with write or admin: one write, one revision, one
	 * change in the log (what a watcher is pushed). */
	cr_assert_eq(review_as(ann, APPROVE, id, cr_id, &st), 0, "%s", st.message);
	cr_assert(enabled_in(ann, id, "pay", PROD));
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0 + 1, "one approval, one revision");
	cq.project = id;
	cq.since = rev0;
	cr_assert_eq(vx_changes(ann, &cq, &cr, &st), 0, "%s", st.message);
	cr_assert_eq(cr->n_changes, 1);
	cr_assert_str_eq(cr->changes[0]->flag_key, "pay");
	cr_assert_str_eq(cr->changes[0]->environment, PROD);
	vx_free(cr);
	cr_assert_eq(open_changes(ann, id, ids, 4), 0, "applied, it is no longer open");
	cr_assert_eq(
	    review_as(ann, APPROVE, id, cr_id, &st), VX_ENOTFOUND, "applies once");

	/* The audit log tells the story with the users' emails. */
	snprintf(target, sizeof(target), "change:%llu", (unsigned long long)cr_id);
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__CHANGE_REQUESTED, target,
	    "(pb@example.com)"));
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__CHANGE_COMMENTED, target,
	    "(pc@example.com)"));
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__CHANGE_APPROVED, target,
	    "(pa@example.com)"));
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__FLAG_TOGGLED, "pay",
	              "(pb@example.com)"),
	    "the write itself is its author's");

	/* Lifted, production takes writes again. */
	cr_assert_eq(protect(ann, id, PROD, false, &st), 0, "%s", st.message);
	cr_assert_eq(set_enabled(bob, id, "pay", PROD, false, &st), 0, "%s", st.message);
	vx_client_close(ann);
	vx_client_close(bob);
	vx_client_close(cat);
}

Test(users, stale_withdrawn_and_rejected_change_requests_change_nothing)
{
	vx_client *ann = user("sa@example.com"), *bob = user("sb@example.com");
	Vexil__V1__CommentChangeRequest cm = VEXIL__V1__COMMENT_CHANGE_REQUEST__INIT;
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *sc = NULL;
	vx_client *key;
	char id[32], secret[200], cred[256], target[40];
	uint64_t rev0 = 0, rev = 0, ids[4];
	vx_status st;

	new_project(ann, "Stale", id);
	cr_assert_eq(create_flag(ann, id, "f", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "sb@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);

	/* The owner's own writes are held too. */
	uint64_t stale = propose(bob, id, "f", true);
	uint64_t own = propose(ann, id, "f", true);
	cr_assert_eq(open_changes(ann, id, ids, 4), 2);

	/* An admin API key bypasses protection, audited as such. */
	vx_harness_key(&h, id, VEXIL__V1__ROLE__ROLE_ADMIN, secret, sizeof(secret));
	snprintf(cred, sizeof(cred), "ApiKey %s", secret);
	key = vx_harness_client(&h, cred);
	cr_assert_eq(set_enabled(key, id, "f", PROD, true, &st), 0, "%s", st.message);
	cr_assert(enabled_in(ann, id, "f", PROD));
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__PROTECTION_BYPASSED,
	    "environment:" PROD, "apikey:"));

	/* The flag changed after both requests were made: stale. */
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(review_as(ann, APPROVE, id, stale, &st), VX_ESTATE);
	cr_assert_str_eq(st.constraint, "stale");
	cr_assert(
	    strstr(st.message, "propose the change again") != NULL, "%s", st.message);
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "a refused approval writes nothing");
	cr_assert_eq(open_changes(ann, id, ids, 4), 2, "a stale request stays listed");

	/* Only the author withdraws; a member with write rejects. */
	cr_assert_eq(review_as(ann, WITHDRAW, id, stale, &st), VX_EPERM);
	cr_assert_eq(review_as(bob, WITHDRAW, id, stale, &st), 0, "%s", st.message);
	cr_assert_eq(review_as(bob, REJECT, id, own, &st), 0, "%s", st.message);
	cr_assert_eq(open_changes(ann, id, ids, 4), 0);
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "withdrawing and rejecting change no flag");
	snprintf(target, sizeof(target), "change:%llu", (unsigned long long)stale);
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__CHANGE_WITHDRAWN, target,
	    "(sb@example.com)"));
	snprintf(target, sizeof(target), "change:%llu", (unsigned long long)own);
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__CHANGE_REJECTED, target,
	    "(sb@example.com)"));

	/* Gone or never there: not found; a bad comment changes nothing. */
	cr_assert_eq(review_as(ann, APPROVE, id, own, &st), VX_ENOTFOUND);
	cr_assert_eq(review_as(ann, APPROVE, id, 999999, &st), VX_ENOTFOUND);
	uint64_t open = propose(bob, id, "f", false);
	ref.project = id;
	ref.id = open;
	cm.ref = &ref;
	cm.text = "";
	cr_assert_eq(vx_comment_change(ann, &cm, &sc, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "text");
	cr_assert_eq(vx_get_change(ann, &ref, &sc, &st), 0, "%s", st.message);
	cr_assert_eq(sc->review->n_comments, 0);
	vx_free(sc);
	/* A change request is no schedule: ScheduleService does not see it. */
	Vexil__V1__CancelScheduleRequest cs = VEXIL__V1__CANCEL_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Empty *e = NULL;
	cs.project = id;
	cs.id = open;
	cr_assert_eq(vx_cancel_schedule(ann, &cs, &e, &st), VX_ENOTFOUND);
	vx_client_close(key);
	vx_client_close(ann);
	vx_client_close(bob);
}

/* Waits up to 30 s for cond, checking every 50 ms. */
#define WAIT_FOR(cond)                                                                   \
	do {                                                                             \
		for (int i_ = 0; i_ < 600 && !(cond); i_++)                              \
			usleep(50000);                                                   \
	} while (0)

Test(users, a_scheduled_protected_change_is_approved_ahead_of_its_time)
{
	vx_client *ann = user("ta@example.com"), *bob = user("tb@example.com");
	Vexil__V1__CreateScheduleRequest cs = VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
	Vexil__V1__SetFlagEnabledRequest w = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__ListSchedulesRequest ls = VEXIL__V1__LIST_SCHEDULES_REQUEST__INIT;
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__ScheduleList *sl;
	Vexil__V1__Schedule *sc;
	uint8_t buf[512];
	char id[32];
	uint64_t ids[4], rev0 = 0, rev = 0;
	vx_status st;

	new_project(ann, "Timed", id);
	cr_assert_eq(create_flag(ann, id, "t", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "tb@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);

	/* A scheduled write to a protected environment waits for review. */
	w.project = id;
	w.key = "t";
	w.environment = PROD;
	w.enabled = true;
	cs.method = "vexil.v1.FlagService/SetFlagEnabled";
	cs.payload.len = protobuf_c_message_pack(&w.base, buf);
	cs.payload.data = buf;
	cs.at = vx_now_ms() + 5000;
	cr_assert_eq(vx_create_schedule(bob, &cs, &sc, &st), 0, "%s", st.message);
	cr_assert_eq(sc->state, VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW);
	ref.id = sc->id;
	vx_free(sc);
	cr_assert_eq(open_changes(ann, id, ids, 4), 1);
	cr_assert_eq(ids[0], ref.id);
	ls.project = id;
	cr_assert_eq(vx_list_schedules(ann, &ls, &sl, &st), 0, "%s", st.message);
	cr_assert_eq(sl->n_schedules, 0, "not a schedule while in review");
	vx_free(sl);

	/* Approved ahead of its time: a pending schedule, made at its time. */
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(vx_approve_change(ann, &ref, &sc, &st), 0, "%s", st.message);
	cr_assert_eq(sc->state, VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING);
	cr_assert(strstr(sc->review->approved_by, "(ta@example.com)") != NULL);
	vx_free(sc);
	cr_assert_eq(open_changes(ann, id, ids, 4), 0);
	cr_assert_eq(vx_list_schedules(ann, &ls, &sl, &st), 0, "%s", st.message);
	cr_assert_eq(sl->n_schedules, 1);
	vx_free(sl);
	WAIT_FOR(enabled_in(ann, id, "t", PROD));
	cr_assert(enabled_in(ann, id, "t", PROD), "made at its time");
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0 + 1);
	vx_client_close(ann);
	vx_client_close(bob);
}

/* A held write's if_revision is its base: only its own flag's writes after
 * it make it stale. */
static uint64_t
propose_read(vx_client *c, const char *project, const char *key, bool on, uint64_t read)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out = NULL;
	unsigned long long id = 0;
	vx_status st;

	in.project = (char *)project;
	in.key = (char *)key;
	in.environment = PROD;
	in.enabled = on;
	in.if_revision = read;
	cr_assert_eq(vx_set_flag_enabled(c, &in, &out, &st), VX_ESTATE, "%s", st.message);
	cr_assert_eq(
	    sscanf(st.message, "change request %llu opened", &id), 1, "%s", st.message);
	return id;
}

Test(users, a_held_read_modify_write_is_stale_only_when_its_flag_changed)
{
	vx_client *ann = user("ra@example.com"), *bob = user("rb@example.com");
	char id[32];
	uint64_t read = 0;
	vx_status st;

	new_project(ann, "Reads", id);
	cr_assert_eq(create_flag(ann, id, "a", &st), 0, "%s", st.message);
	cr_assert_eq(create_flag(ann, id, "b", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "rb@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);
	cr_assert_eq(get_project(ann, id, &read), 0);

	uint64_t on_a = propose_read(bob, id, "a", true, read);
	uint64_t on_b = propose_read(bob, id, "b", true, read);
	/* Another flag's write moves the project, not these requests. */
	cr_assert_eq(create_flag(ann, id, "c", &st), 0, "%s", st.message);
	cr_assert_eq(review_as(ann, APPROVE, id, on_a, &st), 0, "%s", st.message);
	cr_assert_eq(review_as(ann, APPROVE, id, on_b, &st), 0, "%s", st.message);
	cr_assert(enabled_in(ann, id, "a", PROD) && enabled_in(ann, id, "b", PROD));
	/* Proposed on what was read before a changed: stale. */
	uint64_t off_a = propose_read(bob, id, "a", false, read);
	cr_assert_eq(review_as(ann, APPROVE, id, off_a, &st), VX_ESTATE);
	cr_assert_str_eq(st.constraint, "stale");
	cr_assert(enabled_in(ann, id, "a", PROD));
	vx_client_close(ann);
	vx_client_close(bob);
}

/* Whether the project's only schedule has failed (with its error into msg). */
static bool
schedule_failed(vx_client *c, const char *project, char *msg, size_t cap)
{
	Vexil__V1__ListSchedulesRequest ls = VEXIL__V1__LIST_SCHEDULES_REQUEST__INIT;
	Vexil__V1__ScheduleList *sl;
	vx_status st;
	bool failed;

	ls.project = (char *)project;
	cr_assert_eq(vx_list_schedules(c, &ls, &sl, &st), 0, "%s", st.message);
	cr_assert_eq(sl->n_schedules, 1);
	failed = sl->schedules[0]->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED;
	if (failed)
		snprintf(msg, cap, "%s", sl->schedules[0]->error->message);
	vx_free(sl);
	return failed;
}

Test(users, a_schedule_made_before_protection_fails_at_its_time)
{
	vx_client *ann = user("fa@example.com"), *bob = user("fb@example.com");
	Vexil__V1__CreateScheduleRequest cs = VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
	Vexil__V1__SetFlagEnabledRequest w = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Schedule *sc;
	uint8_t buf[512];
	char id[32], msg[256] = "";
	uint64_t ids[4];
	vx_status st;

	new_project(ann, "Before", id);
	cr_assert_eq(create_flag(ann, id, "x", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "fb@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	w.project = id;
	w.key = "x";
	w.environment = PROD;
	w.enabled = true;
	cs.method = "vexil.v1.FlagService/SetFlagEnabled";
	cs.payload.len = protobuf_c_message_pack(&w.base, buf);
	cs.payload.data = buf;
	cs.at = vx_now_ms() + 3000;
	cr_assert_eq(vx_create_schedule(bob, &cs, &sc, &st), 0, "%s", st.message);
	cr_assert_eq(sc->state, VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING);
	vx_free(sc);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);

	WAIT_FOR(schedule_failed(ann, id, msg, sizeof(msg)));
	cr_assert(strstr(msg, "is protected") != NULL, "%s", msg);
	cr_assert(!enabled_in(ann, id, "x", PROD));
	cr_assert_eq(open_changes(ann, id, ids, 4), 0, "no request is made for it");
	vx_client_close(ann);
	vx_client_close(bob);
}

/* A DeleteFlag of project's flag key: 0, or the refusal in st. */
static int
delete_flag(vx_client *c, const char *project, const char *key, vx_status *st)
{
	Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Empty *e = NULL;
	int rc;

	in.project = (char *)project;
	in.key = (char *)key;
	rc = vx_delete_flag(c, &in, &e, st);
	vx_free(e);
	return rc;
}

/* A CreateFlag of key (or one derived from name when key is NULL), on in
 * every environment when enabled. */
static int
create_flag_on(vx_client *c, const char *project, const char *key, const char *name,
    bool enabled, vx_status *st)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out = NULL;
	int rc;

	in.project = (char *)project;
	in.enabled = enabled;
	f.key = (char *)(key ? key : "");
	f.name = (char *)(name ? name : "");
	in.derive_key = key == NULL;
	in.flag = &f;
	rc = vx_create_flag(c, &in, &out, st);
	vx_free(out);
	return rc;
}

static bool
flag_exists(vx_client *c, const char *project, const char *key)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f = NULL;
	vx_status st;
	int rc;

	in.project = (char *)project;
	in.key = (char *)key;
	rc = vx_get_flag(c, &in, &f, &st);
	vx_free(f);
	cr_assert(rc == 0 || rc == VX_ENOTFOUND, "%s", st.message);
	return rc == 0;
}

/* The id of the change request a refused write opened (st its refusal). */
static uint64_t
opened(int rc, const vx_status *st)
{
	unsigned long long id = 0;

	cr_assert_eq(rc, VX_ESTATE, "%s", st->message);
	cr_assert_str_eq(st->constraint, "change_request");
	cr_assert_eq(
	    sscanf(st->message, "change request %llu opened", &id), 1, "%s", st->message);
	return id;
}

/* The diff change request id shows (its proposed change), in buf. */
static void
change_diff(vx_client *c, const char *project, uint64_t id, char *buf, size_t cap)
{
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *sc;
	vx_status st;

	ref.project = (char *)project;
	ref.id = id;
	cr_assert_eq(vx_get_change(c, &ref, &sc, &st), 0, "%s", st.message);
	snprintf(buf, cap, "%s", sc->review->diff);
	vx_free(sc);
}

Test(users,
    deleting_a_flag_or_creating_it_on_in_a_protected_environment_is_a_change_request)
{
	vx_client *ann = user("da@example.com"), *bob = user("db@example.com"), *key;
	char id[32], secret[200], cred[256], diff[4096];
	uint64_t rev0 = 0, rev = 0, ids[4];
	vx_status st;

	new_project(ann, "Deletes", id);
	cr_assert_eq(create_flag(ann, id, "old", &st), 0, "%s", st.message);
	cr_assert_eq(create_flag(ann, id, "kept", &st), 0, "%s", st.message);
	cr_assert_eq(
	    add_member(ann, id, "db@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);

	/* A delete is held: the flag stays, no revision; its diff shows
	 * production's state going. */
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	uint64_t del = opened(delete_flag(bob, id, "old", &st), &st);
	cr_assert(flag_exists(ann, id, "old"));
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0);
	change_diff(ann, id, del, diff, sizeof(diff));
	cr_assert(strstr(diff, PROD ".enabled: off → (none)") != NULL, "%s", diff);
	/* Approved by another member: deleted in one revision. */
	cr_assert_eq(review_as(bob, APPROVE, id, del, &st), VX_EPERM);
	cr_assert_eq(review_as(ann, APPROVE, id, del, &st), 0, "%s", st.message);
	cr_assert(!flag_exists(ann, id, "old"));
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0 + 1, "one approval, one revision");
	cr_assert(audited(
	    ann, id, VEXIL__V1__CHANGE_KIND__FLAG_DELETED, "old", "(db@example.com)"));

	/* A held delete of a flag changed since is stale, and deletes
	 * nothing. */
	uint64_t stale = opened(delete_flag(bob, id, "kept", &st), &st);
	cr_assert_eq(
	    set_enabled(bob, id, "kept", "staging", true, &st), 0, "%s", st.message);
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(review_as(ann, APPROVE, id, stale, &st), VX_ESTATE);
	cr_assert_str_eq(st.constraint, "stale");
	cr_assert(strstr(st.message, "flag kept changed") != NULL, "%s", st.message);
	cr_assert(flag_exists(ann, id, "kept"));
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "a stale approval writes nothing");
	cr_assert_eq(review_as(bob, WITHDRAW, id, stale, &st), 0, "%s", st.message);

	/* A flag created off everywhere needs no review; created on, it is
	 * held, and made when approved. */
	cr_assert_eq(
	    create_flag_on(bob, id, "quiet", NULL, false, &st), 0, "%s", st.message);
	uint64_t made = opened(create_flag_on(bob, id, "loud", NULL, true, &st), &st);
	cr_assert(!flag_exists(ann, id, "loud"));
	change_diff(ann, id, made, diff, sizeof(diff));
	cr_assert(strstr(diff, PROD ".enabled: (none) → on") != NULL, "%s", diff);
	/* A derived key is derived again at approval, from the name sent. */
	uint64_t named =
	    opened(create_flag_on(bob, id, NULL, "Big Launch", true, &st), &st);
	cr_assert_eq(open_changes(ann, id, ids, 4), 2);
	cr_assert_eq(review_as(ann, APPROVE, id, made, &st), 0, "%s", st.message);
	cr_assert(enabled_in(ann, id, "loud", PROD));
	cr_assert_eq(review_as(ann, APPROVE, id, named, &st), 0, "%s", st.message);
	cr_assert(enabled_in(ann, id, "Big-Launch", PROD));
	cr_assert(audited(
	    ann, id, VEXIL__V1__CHANGE_KIND__FLAG_CREATED, "loud", "(db@example.com)"));
	/* Approved again after its key was taken: refused, nothing made. */
	uint64_t twice = opened(create_flag_on(bob, id, "loud2", NULL, true, &st), &st);
	cr_assert_eq(
	    create_flag_on(ann, id, "loud2", NULL, false, &st), 0, "%s", st.message);
	cr_assert_neq(review_as(ann, APPROVE, id, twice, &st), 0);
	cr_assert(!enabled_in(ann, id, "loud2", PROD));

	/* A write API key's delete and create-on are held like a user's. */
	vx_harness_key(&h, id, VEXIL__V1__ROLE__ROLE_WRITE, secret, sizeof(secret));
	snprintf(cred, sizeof(cred), "ApiKey %s", secret);
	key = vx_harness_client(&h, cred);
	uint64_t by_key = opened(delete_flag(key, id, "quiet", &st), &st);
	opened(create_flag_on(key, id, "keyed", NULL, true, &st), &st);
	cr_assert(flag_exists(ann, id, "quiet") && !flag_exists(ann, id, "keyed"));
	cr_assert_eq(review_as(bob, APPROVE, id, by_key, &st), 0, "%s", st.message);
	cr_assert(!flag_exists(ann, id, "quiet"), "a member approves a key's request");
	cr_assert(
	    create_flag_on(ann, id, "quiet", NULL, false, &st) == 0, "%s", st.message);
	vx_client_close(key);

	/* An admin API key deletes directly, audited as a bypass. */
	vx_harness_key(&h, id, VEXIL__V1__ROLE__ROLE_ADMIN, secret, sizeof(secret));
	snprintf(cred, sizeof(cred), "ApiKey %s", secret);
	key = vx_harness_client(&h, cred);
	cr_assert_eq(delete_flag(key, id, "quiet", &st), 0, "%s", st.message);
	cr_assert(!flag_exists(ann, id, "quiet"));
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__PROTECTION_BYPASSED,
	    "environment:" PROD, "apikey:"));
	vx_client_close(key);
	vx_client_close(ann);
	vx_client_close(bob);
}

Test(users, a_protected_environment_is_deleted_only_after_its_protection_is_lifted)
{
	vx_client *ann = user("ea@example.com"), *bob = user("eb@example.com");
	Vexil__V1__DeleteEnvironmentRequest de =
	    VEXIL__V1__DELETE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__ListAuditRequest la = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *al;
	Vexil__V1__Empty *e = NULL;
	char id[32];
	uint64_t rev0 = 0, rev = 0;
	vx_status st;
	bool lifted = false;

	new_project(ann, "Envs", id);
	cr_assert_eq(
	    add_member(ann, id, "eb@example.com", VEXIL__V1__ROLE__ROLE_WRITE, &st), 0,
	    "%s", st.message);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);
	de.project = id;
	de.key = PROD;
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(vx_delete_environment(ann, &de, &e, &st), VX_ESTATE);
	cr_assert_str_eq(st.constraint, "protected");
	cr_assert(strstr(st.message, "lifts its protection") != NULL, "%s", st.message);
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "a refused delete changes nothing");
	/* Lifting it is an admin's, and the audit log says so. */
	cr_assert_eq(protect(bob, id, PROD, false, &st), VX_EPERM);
	cr_assert_eq(protect(ann, id, PROD, false, &st), 0, "%s", st.message);
	la.project = id;
	cr_assert_eq(vx_list_audit(ann, &la, &al, &st), 0, "%s", st.message);
	for (size_t i = 0; i < al->n_entries; i++)
		lifted = lifted ||
		         (al->entries[i]->kind ==
		                 VEXIL__V1__CHANGE_KIND__ENVIRONMENT_UPDATED &&
		             strcmp(al->entries[i]->detail, "protected: yes → no") == 0 &&
		             strstr(al->entries[i]->actor, "(ea@example.com)") != NULL);
	vx_free(al);
	cr_assert(lifted, "the audit log names who lifted the protection");
	cr_assert_eq(vx_delete_environment(ann, &de, &e, &st), 0, "%s", st.message);
	vx_free(e);
	vx_client_close(ann);
	vx_client_close(bob);
}

/* Imports the project's own export into it, with flag `key` (when given)
 * turned on or off in production; returns Import's result. */
static int
reimport(vx_client *c, const char *project, const char *key, bool on, vx_status *st)
{
	Vexil__V1__ExportRequest ex = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ImportRequest in = VEXIL__V1__IMPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	Vexil__V1__ImportReply *rep = NULL;
	int rc;

	ex.project = (char *)project;
	cr_assert_eq(vx_export(c, &ex, &out, st), 0, "%s", st->message);
	for (size_t i = 0; key != NULL && i < out->n_flags; i++)
		for (size_t j = 0;
		     strcmp(out->flags[i]->key, key) == 0 && j < out->flags[i]->n_envs;
		     j++)
			if (strcmp(out->flags[i]->envs[j]->environment, PROD) == 0)
				out->flags[i]->envs[j]->enabled = on;
	in.project = (char *)project;
	in.flags = out->flags;
	in.n_flags = out->n_flags;
	rc = vx_import(c, &in, &rep, st);
	vx_free(rep);
	vx_free(out);
	return rc;
}

/*
 * An import is one write of many flags and is never held for review, so
 * it may change a protected environment only with an admin API key
 * (audited as a bypass). Anyone else's import that would is refused,
 * naming the environment, and changes nothing; one that leaves the
 * protected environment as it is goes through.
 */
Test(users, an_import_changes_a_protected_environment_only_with_an_admin_api_key)
{
	vx_client *ann = user("ia@example.com"), *key;
	char id[32], secret[200], cred[256];
	uint64_t rev0 = 0, rev = 0;
	vx_status st;

	new_project(ann, "Imports", id);
	cr_assert_eq(create_flag(ann, id, "pay", &st), 0, "%s", st.message);
	cr_assert_eq(protect(ann, id, PROD, true, &st), 0, "%s", st.message);

	/* The same flags again (with rules numbered anew): nothing changes. */
	cr_assert_eq(reimport(ann, id, NULL, false, &st), 0, "%s", st.message);

	/* Turning pay on in production, even by the project's admin, is not. */
	cr_assert_eq(get_project(ann, id, &rev0), 0);
	cr_assert_eq(reimport(ann, id, "pay", true, &st), VX_ESTATE);
	cr_assert_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_assert_str_eq(st.constraint, "protected");
	cr_assert(
	    strstr(st.message, "flag pay: environment production is protected") != NULL,
	    "%s", st.message);
	cr_assert_eq(get_project(ann, id, &rev), 0);
	cr_assert_eq(rev, rev0, "a refused import changes nothing");
	cr_assert(!enabled_in(ann, id, "pay", PROD));

	/* A new flag that starts on there is refused too; one that starts
	 * off needs no review, as with CreateFlag. */
	Vexil__V1__ImportRequest in = VEXIL__V1__IMPORT_REQUEST__INIT;
	Vexil__V1__ImportReply *rep = NULL;
	Vexil__V1__Flag nf = VEXIL__V1__FLAG__INIT, *flags[] = {&nf};
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT, *cfgs[] = {&cfg};
	nf.key = "fresh";
	nf.envs = cfgs;
	nf.n_envs = 1;
	cfg.environment = PROD;
	cfg.enabled = true;
	in.project = id;
	in.flags = flags;
	in.n_flags = 1;
	cr_assert_eq(vx_import(ann, &in, &rep, &st), VX_ESTATE);
	cr_assert_str_eq(st.constraint, "protected");
	cfg.enabled = false;
	cr_assert_eq(vx_import(ann, &in, &rep, &st), 0, "%s", st.message);
	vx_free(rep);

	/* An admin API key may, audited as a bypass. */
	vx_harness_key(&h, id, VEXIL__V1__ROLE__ROLE_ADMIN, secret, sizeof(secret));
	snprintf(cred, sizeof(cred), "ApiKey %s", secret);
	key = vx_harness_client(&h, cred);
	cr_assert_eq(reimport(key, id, "pay", true, &st), 0, "%s", st.message);
	cr_assert(enabled_in(ann, id, "pay", PROD));
	cr_assert(audited(ann, id, VEXIL__V1__CHANGE_KIND__PROTECTION_BYPASSED,
	    "environment:" PROD, "apikey:"));
	vx_client_close(key);
	vx_client_close(ann);
}
