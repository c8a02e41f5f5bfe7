/*
 * Vexil integration tests: hostile and mistaken input. Each case gets the
 * right status (or a closed pipe), changes nothing, and vexild keeps
 * serving.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

VX_SERVER_SUITE(bad_input, 60);

/* Sends raw bytes on a REQ socket; returns the decoded Response or NULL. */
static Vexil__V1__Response *
raw_call(const void *buf, size_t len, int timeout_ms)
{
	nng_socket s;
	nng_msg *m;
	Vexil__V1__Response *r = NULL;

	cr_assert(nng_req0_open(&s) == 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	cr_assert(nng_dial(s, h.rpc, NULL, 0) == 0);
	cr_assert(nng_msg_alloc(&m, len) == 0);
	memcpy(nng_msg_body(m), buf, len);
	if (nng_sendmsg(s, m, 0) != 0) {
		nng_msg_free(m);
	} else if (nng_recvmsg(s, &m, 0) == 0) {
		r = vexil__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		cr_assert_not_null(r, "every reply decodes");
		nng_msg_free(m);
	}
	nng_close(s);
	return r;
}

static Vexil__V1__Response *
envelope_call(const char *method, const char *cred, const void *payload, size_t plen)
{
	Vexil__V1__Request req = VEXIL__V1__REQUEST__INIT;
	uint8_t *buf;
	size_t len;
	Vexil__V1__Response *r;

	req.method = (char *)method;
	req.credential = (char *)cred;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = plen;
	len = vexil__v1__request__get_packed_size(&req);
	buf = malloc(len);
	vexil__v1__request__pack(&req, buf);
	r = raw_call(buf, len, 5000);
	free(buf);
	return r;
}

/* vexild still answers a good call. */
static void
assert_serving(void)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_status st;
	cr_assert(vx_list_projects(h.admin, &in, &out, &st) == 0, "still serving: %s",
	    st.message);
	vx_free(out);
}

static Vexil__V1__Code
code_of(Vexil__V1__Response *r)
{
	cr_assert_not_null(r);
	cr_assert_not_null(r->status);
	Vexil__V1__Code c = r->status->code;
	vexil__v1__response__free_unpacked(r, NULL);
	return c;
}

Test(bad_input, random_bytes_get_invalid_argument)
{
	uint8_t junk[512];
	srand(42);
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand();
		Vexil__V1__Response *r = raw_call(junk, 1 + (size_t)(rand() % 512), 5000);
		cr_assert_eq(code_of(r), VEXIL__V1__CODE__INVALID_ARGUMENT);
	}
	assert_serving();
}

Test(bad_input, an_unknown_method_is_unimplemented)
{
	char cred[200];
	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	cr_assert_eq(
	    code_of(envelope_call("vexil.v1.FlagService/DropAllTables", cred, "", 0)),
	    VEXIL__V1__CODE__UNIMPLEMENTED);
	assert_serving();
}

Test(bad_input, a_malformed_payload_is_invalid_argument)
{
	char cred[200];
	static const uint8_t bad[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01};
	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	cr_assert_eq(code_of(envelope_call(
	                 "vexil.v1.FlagService/GetFlag", cred, bad, sizeof(bad))),
	    VEXIL__V1__CODE__INVALID_ARGUMENT);
	assert_serving();
}

Test(bad_input, an_oversized_message_closes_the_pipe_and_the_server_keeps_serving)
{
	size_t len = 2 * 1024 * 1024;
	uint8_t *big = calloc(1, len);
	Vexil__V1__Response *r = raw_call(big, len, 1000);
	free(big);
	cr_assert_null(r, "no reply to a message over the limit");
	assert_serving();
}

Test(bad_input, missing_forged_and_revoked_credentials_are_unauthenticated)
{
	cr_assert_eq(
	    code_of(envelope_call("vexil.v1.ProjectService/ListProjects", "", "", 0)),
	    VEXIL__V1__CODE__UNAUTHENTICATED);
	cr_assert_eq(code_of(envelope_call("vexil.v1.ProjectService/ListProjects",
	                 "ApiKey vxk_0000000000000000000000000000000000000000", "", 0)),
	    VEXIL__V1__CODE__UNAUTHENTICATED);
	cr_assert_eq(code_of(envelope_call("vexil.v1.ProjectService/ListProjects",
	                 "Bearer not.a.jwt", "", 0)),
	    VEXIL__V1__CODE__UNAUTHENTICATED);

	/* A revoked key stops working at once. */
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	Vexil__V1__RevokeApiKeyRequest rv = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__Empty *e;
	Vexil__V1__ListProjectsRequest lp = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *pl;
	vx_status st;
	in.name = "temp";
	in.role = VEXIL__V1__ROLE__ROLE_READ;
	cr_assert(vx_create_api_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	cr_assert_null(k->key->hash.data, "no hash in replies");
	vx_client *c = vx_harness_client(&h, k->secret);
	cr_assert(vx_list_projects(c, &lp, &pl, &st) == 0, "%s", st.message);
	vx_free(pl);
	rv.id = k->key->id;
	cr_assert(vx_revoke_api_key(h.admin, &rv, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	cr_assert_eq(vx_list_projects(c, &lp, &pl, &st), VX_EAUTH);
	cr_assert(strstr(st.message, "revoked") != NULL, "%s", st.message);
	vx_client_close(c);
	vx_free(k);
	assert_serving();
}

Test(bad_input, a_key_from_another_project_sees_nothing_and_a_read_key_cannot_write)
{
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	char key_a[128], key_read[128];

	cp.name = "tenant-a";
	cr_assert(vx_create_project(h.admin, &cp, &p, &st) == 0, "%s", st.message);
	vx_free(p);
	vx_harness_key(&h, "tenant-a", VEXIL__V1__ROLE__ROLE_ADMIN, key_a, sizeof(key_a));
	vx_harness_key(
	    &h, "default", VEXIL__V1__ROLE__ROLE_READ, key_read, sizeof(key_read));

	vx_client *a = vx_harness_client(&h, key_a);
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	gp.project = "default";
	cr_assert_eq(vx_get_project(a, &gp, &p, &st), VX_ENOTFOUND,
	    "another tenant's project does not exist for this key");
	gp.project = "1";
	cr_assert_eq(vx_get_project(a, &gp, &p, &st), VX_ENOTFOUND);
	Vexil__V1__ListProjectsRequest lp = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *pl;
	cr_assert(vx_list_projects(a, &lp, &pl, &st) == 0);
	cr_assert_eq(pl->n_projects, 1);
	cr_assert_str_eq(pl->projects[0]->name, "tenant-a");
	vx_free(pl);
	/* Nor can it create projects or global keys: a key it makes without
	 * naming a project is for its own project. */
	cp.name = "sneaky";
	cr_assert_eq(vx_create_project(a, &cp, &p, &st), VX_EPERM);
	Vexil__V1__CreateApiKeyRequest ck = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	ck.name = "global";
	ck.role = VEXIL__V1__ROLE__ROLE_ADMIN;
	cr_assert(vx_create_api_key(a, &ck, &k, &st) == 0, "%s", st.message);
	cr_assert_neq(k->key->project_id, 0, "not a global key");
	cr_assert_neq(k->key->project_id, 1, "not the default project");
	vx_free(k);
	vx_client_close(a);

	vx_client *r = vx_harness_client(&h, key_read);
	Vexil__V1__CreateFlagRequest cf = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	f.key = "nope";
	cf.project = "default";
	cf.flag = &f;
	cr_assert_eq(vx_create_flag(r, &cf, &out, &st), VX_EPERM);
	cr_assert_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	vx_client_close(r);
	assert_serving();
}

Test(bad_input, invalid_flags_and_rules_are_refused_naming_the_field)
{
	Vexil__V1__CreateFlagRequest cf = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Variant v1 = VEXIL__V1__VARIANT__INIT, v2 = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant *vs[] = {&v1, &v2};
	vx_status st;

	cf.project = "default";
	cf.flag = &f;
	f.key = "-leading-dash";
	cr_assert_eq(vx_create_flag(h.admin, &cf, &out, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "flag.key");

	/* A number flag whose variant is not a number. */
	f.key = "limit";
	f.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_NUMBER;
	v1.key = "low";
	v1.value = "10";
	v2.key = "high";
	v2.value = "\"lots\"";
	f.variants = vs;
	f.n_variants = 2;
	cr_assert_eq(vx_create_flag(h.admin, &cf, &out, &st), VX_EINVAL);
	v2.value = "1000";
	cr_assert(vx_create_flag(h.admin, &cf, &out, &st) == 0, "%s", st.message);
	vx_free(out);

	/* An invalid regex is refused when the rule is written. */
	Vexil__V1__CreateRuleRequest cr = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *rout;
	Vexil__V1__Condition c = VEXIL__V1__CONDITION__INIT, *cs[] = {&c};
	char *vals[] = {"([unclosed"};
	c.attribute = "email";
	c.operator_ = "matches";
	c.values = vals;
	c.n_values = 1;
	r.conditions = cs;
	r.n_conditions = 1;
	r.variant = "high";
	r.enabled = true;
	cr.project = "default";
	cr.flag_key = "limit";
	cr.environment = "production";
	cr.rule = &r;
	cr_assert_eq(vx_create_rule(h.admin, &cr, &rout, &st), VX_EINVAL);
	cr_assert(strstr(st.message, "regex") || strstr(st.message, "pattern"), "%s",
	    st.message);
	/* An unknown operator too. */
	c.operator_ = "resembles";
	vals[0] = "x";
	cr_assert_eq(vx_create_rule(h.admin, &cr, &rout, &st), VX_EINVAL);
	cr_assert(strstr(st.message, "resembles") != NULL, "%s", st.message);
	/* A rule serving a variant the flag does not have. */
	c.operator_ = "equals";
	r.variant = "medium";
	cr_assert_eq(vx_create_rule(h.admin, &cr, &rout, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "rules[0].variant");
	/* An unknown environment. */
	r.variant = "high";
	cr.environment = "qa";
	cr_assert_eq(vx_create_rule(h.admin, &cr, &rout, &st), VX_ENOTFOUND);

	/* None of it changed the flag. */
	Vexil__V1__GetFlagRequest gf = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	gf.project = "default";
	gf.key = "limit";
	cr_assert(vx_get_flag(h.admin, &gf, &out, &st) == 0);
	for (size_t i = 0; i < out->n_envs; i++)
		cr_assert_eq(out->envs[i]->n_rules, 0);
	vx_free(out);
	assert_serving();
}

Test(bad_input, connections_past_the_limit_are_refused_and_the_rest_keep_working)
{
	static const char *const args[] = {"--max-conns", "3", NULL};
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_client *c[4];
	vx_status st;

	vx_harness_fini(&h);
	vx_harness_start(&h, args); /* h.admin holds one connection */
	for (int i = 0; i < 2; i++) {
		c[i] = vx_harness_client(&h, h.key);
		cr_assert(vx_list_projects(c[i], &in, &out, &st) == 0, "%s", st.message);
		vx_free(out);
	}
	c[2] = vx_harness_client(&h, h.key);
	vx_client_set_timeout(c[2], 500);
	cr_assert_neq(vx_list_projects(c[2], &in, &out, &st), 0, "the fourth is refused");
	/* And stays refused while it redials: a refusal frees no slot (each
	 * one used to, and the redial after it got in). */
	for (int i = 0; i < 3; i++)
		cr_assert_neq(vx_list_projects(c[2], &in, &out, &st), 0,
		    "the fourth is still refused (call %d)", i + 2);
	assert_serving();
	/*
	 * A freed slot lets the waiting client in (it keeps redialling). Until
	 * vexild has seen the first client go, a redial is still refused: it
	 * connects and is closed at once, and a call that went out on it fails
	 * UNAVAILABLE ("Connection reset"), so the client asks again.
	 */
	vx_client_close(c[0]);
	vx_client_set_timeout(c[2], 1000);
	int rc = -1;
	for (int i = 0; i < 20 && rc != 0; i++) {
		rc = vx_list_projects(c[2], &in, &out, &st);
		cr_assert(rc == 0 || st.code == VEXIL__V1__CODE__UNAVAILABLE ||
		              st.code == VEXIL__V1__CODE__DEADLINE_EXCEEDED,
		    "refused, not failed otherwise: %s", st.message);
	}
	cr_assert_eq(rc, 0, "let in once a slot is free: %s", st.message);
	vx_free(out);
	vx_client_close(c[1]);
	vx_client_close(c[2]);
}
