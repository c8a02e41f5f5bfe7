/*
 * Vexil integration tests: one request, one core write (issue 15).
 *
 * The core operations the REST dialects used to emulate with several
 * writes: setting state in several environments at once, a rule together
 * with the platform API's fallthrough, a key derived from a name, a
 * user's own `default` project made at sign-up, and the if_revision
 * precondition. Each makes exactly one revision, and races of them lose
 * nothing. Also the text every request must hold (UTF-8, no NUL) and the
 * SDK key form.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "auth/auth.h"
#include "harness.h"
#include "store/store.h"

VX_SERVER_SUITE(atomic, 120);

#define P "default"

static uint64_t
revision(void)
{
	return vx_project_revision(h.admin, P);
}

static void
make_flag(const char *key)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_status st;

	f.key = (char *)key;
	in.project = P;
	in.flag = &f;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

static Vexil__V1__Flag *
get_flag(const char *key)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;

	in.project = P;
	in.key = (char *)key;
	cr_assert(vx_get_flag(h.admin, &in, &f, &st) == 0, "%s", st.message);
	return f;
}

static const Vexil__V1__FlagEnvConfig *
env_of(const Vexil__V1__Flag *f, const char *env)
{
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, env) == 0)
			return f->envs[i];
	cr_assert_fail("flag %s has no config for %s", f->key, env);
	return NULL;
}

static const char *const envs[] = {"development", "staging", "production"};

/* ---- several environments at once ---- */

Test(atomic, set_flag_enabled_in_every_environment_is_one_revision)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;
	uint64_t rev;

	make_flag("multi");
	rev = revision();
	in.project = P;
	in.key = "multi";
	in.all_environments = true;
	in.enabled = true;
	cr_assert(vx_set_flag_enabled(h.admin, &in, &f, &st) == 0, "%s", st.message);
	for (size_t i = 0; i < 3; i++)
		cr_assert(env_of(f, envs[i])->enabled, "%s", envs[i]);
	vx_free(f);
	cr_assert_eq(revision(), rev + 1);

	/* A list of environments: those, and no other. */
	char *two[] = {"development", "staging"};
	in.all_environments = false;
	in.environments = two;
	in.n_environments = 2;
	in.enabled = false;
	cr_assert(vx_set_flag_enabled(h.admin, &in, &f, &st) == 0, "%s", st.message);
	cr_assert_not(env_of(f, "development")->enabled);
	cr_assert_not(env_of(f, "staging")->enabled);
	cr_assert(env_of(f, "production")->enabled);
	vx_free(f);
	cr_assert_eq(revision(), rev + 2);

	/* Toggle flips each named environment once, even when named twice. */
	char *dup[] = {"staging", "staging"};
	in.environment = "production";
	in.environments = dup;
	in.toggle = true;
	cr_assert(vx_set_flag_enabled(h.admin, &in, &f, &st) == 0, "%s", st.message);
	cr_assert(env_of(f, "staging")->enabled);
	cr_assert_not(env_of(f, "production")->enabled);
	vx_free(f);
	cr_assert_eq(revision(), rev + 3);
}

Test(atomic, a_multi_environment_write_naming_an_unknown_environment_changes_nothing)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;
	uint64_t rev;
	char *bad[] = {"development", "nope"};

	make_flag("partial");
	rev = revision();
	in.project = P;
	in.key = "partial";
	in.environments = bad;
	in.n_environments = 2;
	in.enabled = true;
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &f, &st), VX_ENOTFOUND);
	cr_assert_str_eq(st.field, "environment");
	cr_assert_eq(revision(), rev);
	f = get_flag("partial");
	cr_assert_not(env_of(f, "development")->enabled, "no half update");
	vx_free(f);

	/* all_environments excludes naming any; naming none is refused. */
	in.all_environments = true;
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &f, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "all_environments");
	in.all_environments = false;
	in.n_environments = 0;
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &f, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "environment");
	cr_assert_eq(revision(), rev);
}

Test(atomic, update_flag_sets_fields_and_state_in_every_environment_in_one_revision)
{
	Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *f;
	Vexil__V1__FlagEnvConfig all = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__FlagEnvConfig prod = VEXIL__V1__FLAG_ENV_CONFIG__INIT,
	                         *more[] = {&prod};
	char *mask[] = {"name", "env.enabled"};
	vx_status st;
	uint64_t rev;

	make_flag("table");
	rev = revision();
	upd.name = "Table record";
	all.enabled = true;
	prod.environment = "production";
	prod.enabled = false;
	in.project = P;
	in.key = "table";
	in.update = &upd;
	in.update_mask = mask;
	in.n_update_mask = 2;
	in.env = &all;
	in.all_environments = true;
	in.envs = more;
	in.n_envs = 1;
	cr_assert(vx_update_flag(h.admin, &in, &f, &st) == 0, "%s", st.message);
	cr_assert_str_eq(f->name, "Table record");
	cr_assert(env_of(f, "development")->enabled);
	cr_assert(env_of(f, "staging")->enabled);
	cr_assert_not(env_of(f, "production")->enabled, "a later entry wins");
	vx_free(f);
	cr_assert_eq(revision(), rev + 1);

	/* envs without an env.* field in the mask say nothing: refused. */
	in.n_update_mask = 1;
	cr_assert_eq(vx_update_flag(h.admin, &in, &f, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "update_mask");
	cr_assert_eq(revision(), rev + 1);
}

struct setter {
	vx_harness *h;
	bool enabled;
	int rounds;
	int ok;
};

static void *
set_all(void *arg)
{
	struct setter *s = arg;
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	vx_client *c = vx_harness_client(s->h, s->h->key);
	Vexil__V1__Flag *f;
	vx_status st;

	in.project = P;
	in.key = "race";
	in.all_environments = true;
	for (int i = 0; i < s->rounds; i++) {
		in.enabled = (i + s->enabled) % 2 == 0;
		if (vx_set_flag_enabled(c, &in, &f, &st) == 0) {
			s->ok++;
			vx_free(f);
		}
	}
	vx_client_close(c);
	return NULL;
}

Test(atomic, concurrent_all_environment_sets_leave_every_environment_agreeing)
{
	enum { N = 4, ROUNDS = 15 };
	struct setter s[N];
	pthread_t t[N];
	uint64_t rev;
	int ok = 0;

	make_flag("race");
	rev = revision();
	for (int i = 0; i < N; i++) {
		s[i] = (struct setter){&h, i % 2, ROUNDS, 0};
		pthread_create(&t[i], NULL, set_all, &s[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += s[i].ok;
	}
	cr_assert_eq(ok, N * ROUNDS);
	cr_assert_eq(revision(), rev + N * ROUNDS, "one revision per write, none lost");
	Vexil__V1__Flag *f = get_flag("race");
	bool first = env_of(f, envs[0])->enabled;
	for (size_t i = 1; i < 3; i++)
		cr_assert_eq(env_of(f, envs[i])->enabled, first, "environments agree");
	vx_free(f);
}

/* ---- derived keys ---- */

static Vexil__V1__Flag *
create_named(vx_client *c, const char *name, bool enabled, int *rc, vx_status *st)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out = NULL;

	f.name = (char *)name;
	in.project = P;
	in.flag = &f;
	in.derive_key = true;
	in.enabled = enabled;
	*rc = vx_create_flag(c, &in, &out, st);
	return out;
}

Test(atomic, create_flag_derives_a_unique_key_from_the_name)
{
	Vexil__V1__Flag *f;
	vx_status st;
	uint64_t rev = revision();
	int rc;

	f = create_named(h.admin, "New checkout!", false, &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(f->key, "New-checkout");
	cr_assert_str_eq(f->name, "New checkout!");
	cr_assert_not(env_of(f, "production")->enabled);
	vx_free(f);
	f = create_named(h.admin, "New checkout?", true, &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(f->key, "New-checkout-2");
	for (size_t i = 0; i < 3; i++)
		cr_assert(env_of(f, envs[i])->enabled, "enabled: every environment");
	vx_free(f);
	f = create_named(h.admin, "plain_key", false, &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(f->key, "plain_key", "a valid key is kept");
	vx_free(f);
	f = create_named(h.admin, "!!!", false, &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_str_eq(f->key, "flag");
	vx_free(f);
	cr_assert_eq(revision(), rev + 4, "one revision each");

	/* derive_key with a key, or without a name, is refused. */
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag fl = VEXIL__V1__FLAG__INIT;
	fl.key = "k";
	fl.name = "n";
	in.project = P;
	in.flag = &fl;
	in.derive_key = true;
	cr_assert_eq(vx_create_flag(h.admin, &in, &f, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "flag.key");
	fl.key = "";
	fl.name = "";
	cr_assert_eq(vx_create_flag(h.admin, &in, &f, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "flag.name");
	cr_assert_eq(revision(), rev + 4);
}

struct creator {
	vx_harness *h;
	int n;
	char keys[10][140];
};

static void *
create_many(void *arg)
{
	struct creator *cr = arg;
	vx_client *c = vx_harness_client(cr->h, cr->h->key);
	vx_status st;
	int rc;

	for (int i = 0; i < 10; i++) {
		Vexil__V1__Flag *f = create_named(c, "Same name", false, &rc, &st);
		if (rc == 0) {
			snprintf(cr->keys[cr->n++], sizeof(cr->keys[0]), "%s", f->key);
			vx_free(f);
		}
	}
	vx_client_close(c);
	return NULL;
}

Test(atomic, concurrent_creates_with_one_name_all_succeed_with_distinct_keys)
{
	enum { N = 4 };
	struct creator *cr = calloc(N, sizeof(*cr));
	pthread_t t[N];
	uint64_t rev = revision();

	for (int i = 0; i < N; i++) {
		cr[i].h = &h;
		pthread_create(&t[i], NULL, create_many, &cr[i]);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(cr[i].n, 10, "no create refused");
		for (int a = 0; a < 10; a++)
			for (int j = i; j < N; j++)
				for (int b = j == i ? a + 1 : 0; b < 10; b++)
					cr_assert_str_neq(cr[i].keys[a], cr[j].keys[b]);
	}
	cr_assert_eq(revision(), rev + N * 10);
	free(cr);
}

/* ---- rules with the platform API's fallthrough ---- */

static uint64_t
add_rule(vx_client *c, const char *key, const char *value, int *rc, vx_status *st)
{
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Condition cond = VEXIL__V1__CONDITION__INIT, *cs[] = {&cond};
	char *vals[] = {(char *)value};
	uint64_t id = 0;

	cond.attribute = "email";
	cond.operator_ = "equals";
	cond.values = vals;
	cond.n_values = 1;
	r.conditions = cs;
	r.n_conditions = 1;
	r.enabled = true;
	r.variant = "on";
	in.project = P;
	in.flag_key = (char *)key;
	in.environment = "production";
	in.rule = &r;
	in.targeted_fallthrough = true;
	if ((*rc = vx_create_rule(c, &in, &out, st)) == 0) {
		id = out->id;
		vx_free(out);
	}
	return id;
}

static int
del_rule(vx_client *c, const char *key, uint64_t id, vx_status *st)
{
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Empty *e;
	int rc;

	ref.project = P;
	ref.flag_key = (char *)key;
	ref.rule_id = id;
	ref.targeted_fallthrough = true;
	if ((rc = vx_delete_rule(c, &ref, &e, st)) == 0)
		vx_free(e);
	return rc;
}

Test(atomic, a_rule_and_its_fallthrough_change_in_one_revision)
{
	Vexil__V1__Flag *f;
	vx_status st;
	uint64_t rev, id;
	int rc;

	make_flag("targeted");
	rev = revision();
	id = add_rule(h.admin, "targeted", "a@x.io", &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(revision(), rev + 1);
	f = get_flag("targeted");
	cr_assert_str_eq(env_of(f, "production")->default_variant, "off", "targets only");
	cr_assert_str_eq(
	    env_of(f, "staging")->default_variant, "on", "other envs unchanged");
	vx_free(f);
	cr_assert_eq(del_rule(h.admin, "targeted", id, &st), 0, "%s", st.message);
	cr_assert_eq(revision(), rev + 2);
	f = get_flag("targeted");
	cr_assert_str_eq(
	    env_of(f, "production")->default_variant, "on", "everyone again");
	vx_free(f);
}

struct rule_job {
	vx_harness *h;
	int add; /* 1: add a rule; 0: delete rule_id */
	uint64_t rule_id;
	int rc;
	pthread_barrier_t *go;
};

static void *
rule_job(void *arg)
{
	struct rule_job *j = arg;
	vx_client *c = vx_harness_client(j->h, j->h->key);
	vx_status st;

	pthread_barrier_wait(j->go);
	if (j->add)
		add_rule(c, "rr", "new@x.io", &j->rc, &st);
	else
		j->rc = del_rule(c, "rr", j->rule_id, &st);
	vx_client_close(c);
	return NULL;
}

static void
race_rules(
    int nrules, const int *add, int njobs, size_t want_rules, const char *want_default)
{
	struct rule_job j[4];
	pthread_t t[4];
	pthread_barrier_t go;
	uint64_t ids[4], rev;
	vx_status st;
	int rc, del = 0;

	make_flag("rr");
	for (int i = 0; i < nrules; i++) {
		ids[i] = add_rule(h.admin, "rr", "old@x.io", &rc, &st);
		cr_assert_eq(rc, 0, "%s", st.message);
	}
	rev = revision();
	pthread_barrier_init(&go, NULL, (unsigned)njobs);
	for (int i = 0; i < njobs; i++) {
		j[i] = (struct rule_job){&h, add[i], add[i] ? 0 : ids[del++], -1, &go};
		pthread_create(&t[i], NULL, rule_job, &j[i]);
	}
	for (int i = 0; i < njobs; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(j[i].rc, 0);
	}
	pthread_barrier_destroy(&go);
	cr_assert_eq(revision(), rev + (uint64_t)njobs, "one revision per request");
	Vexil__V1__Flag *f = get_flag("rr");
	const Vexil__V1__FlagEnvConfig *cfg = env_of(f, "production");
	cr_assert_eq(cfg->n_rules, want_rules);
	cr_assert_str_eq(cfg->default_variant, want_default);
	vx_free(f);
	Vexil__V1__DeleteFlagRequest df = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Empty *e;
	df.project = P;
	df.key = "rr";
	cr_assert(vx_delete_flag(h.admin, &df, &e, &st) == 0, "%s", st.message);
	vx_free(e);
}

Test(atomic, concurrent_deletes_of_the_last_two_rules_leave_the_flag_on_for_everyone)
{
	static const int add[] = {0, 0};

	for (int round = 0; round < 10; round++)
		race_rules(2, add, 2, 0, "on");
}

Test(atomic, a_delete_racing_an_add_leaves_the_flag_targeted)
{
	static const int add[] = {0, 1};

	for (int round = 0; round < 10; round++)
		race_rules(1, add, 2, 1, "off");
}

/* ---- if_revision ---- */

Test(atomic, if_revision_refuses_a_write_after_a_concurrent_edit)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;
	uint64_t rev;

	make_flag("guarded");
	rev = revision();
	in.project = P;
	in.key = "guarded";
	in.environment = "production";
	in.enabled = true;
	in.if_revision = rev - 1;
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &f, &st), VX_ESTATE);
	cr_assert_eq(st.code, VEXIL__V1__CODE__FAILED_PRECONDITION);
	cr_assert_str_eq(st.field, "if_revision");
	cr_assert_eq(revision(), rev, "nothing written");
	f = get_flag("guarded");
	cr_assert_not(env_of(f, "production")->enabled);
	vx_free(f);
	in.if_revision = rev;
	cr_assert(vx_set_flag_enabled(h.admin, &in, &f, &st) == 0, "%s", st.message);
	vx_free(f);
	cr_assert_eq(revision(), rev + 1);
	/* The same revision again is now stale. */
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &f, &st), VX_ESTATE);

	/* Every write request carries it: a rule, a flag delete. */
	int rc;
	Vexil__V1__CreateRuleRequest cr = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *ro;
	cr.project = P;
	cr.flag_key = "guarded";
	cr.environment = "production";
	cr.rule = &r;
	r.variant = "on";
	cr.if_revision = rev;
	cr_assert_eq(vx_create_rule(h.admin, &cr, &ro, &st), VX_ESTATE);
	Vexil__V1__DeleteFlagRequest df = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Empty *e;
	df.project = P;
	df.key = "guarded";
	df.if_revision = rev;
	cr_assert_eq(vx_delete_flag(h.admin, &df, &e, &st), VX_ESTATE);
	df.if_revision = rev + 1;
	rc = vx_delete_flag(h.admin, &df, &e, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	vx_free(e);
}

/* ---- text ---- */

/* Sends CreateFlag with the given packed payload under the admin key. */
static Vexil__V1__Response *
raw_create_flag(const uint8_t *payload, size_t plen)
{
	Vexil__V1__Request req = VEXIL__V1__REQUEST__INIT;
	Vexil__V1__Response *r = NULL;
	char cred[160];
	nng_socket s;
	nng_msg *m;
	size_t len;

	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	req.method = "vexil.v1.FlagService/CreateFlag";
	req.credential = cred;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = plen;
	len = vexil__v1__request__get_packed_size(&req);
	cr_assert(nng_req0_open(&s) == 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	cr_assert(nng_dial(s, h.rpc, NULL, 0) == 0);
	cr_assert(nng_msg_alloc(&m, len) == 0);
	vexil__v1__request__pack(&req, nng_msg_body(m));
	cr_assert(nng_sendmsg(s, m, 0) == 0);
	cr_assert(nng_recvmsg(s, &m, 0) == 0);
	r = vexil__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	nng_close(s);
	cr_assert_not_null(r);
	return r;
}

/* Packs a CreateFlag whose strings may hold the byte 0x01, then turns
 * every 0x01 into a NUL: what a JSON "\u0000" becomes. */
static Vexil__V1__Response *
create_with_nul(Vexil__V1__Flag *f)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	uint8_t buf[2048];
	size_t n;

	in.project = P;
	in.flag = f;
	n = vexil__v1__create_flag_request__pack(&in, buf);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == 0x01)
			buf[i] = 0;
	return raw_create_flag(buf, n);
}

static void
assert_refused(Vexil__V1__Response *r, const char *field, const char *constraint)
{
	cr_assert_not_null(r->status);
	cr_assert_eq(
	    r->status->code, VEXIL__V1__CODE__INVALID_ARGUMENT, "%s", r->status->message);
	cr_assert_not_null(r->status->details);
	cr_assert_str_eq(r->status->details->field, field, "%s", r->status->message);
	cr_assert_str_eq(r->status->details->constraint, constraint);
	vexil__v1__response__free_unpacked(r, NULL);
}

Test(atomic, a_nul_inside_any_string_is_refused_naming_the_field)
{
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT;
	Vexil__V1__Variant v = VEXIL__V1__VARIANT__INIT, *vs[] = {&v};
	Vexil__V1__Flag__MetadataEntry me = VEXIL__V1__FLAG__METADATA_ENTRY__INIT,
	                               *ms[] = {&me};
	uint64_t rev = revision();
	int rc;

	f.key = "nul\x01tail";
	assert_refused(create_with_nul(&f), "flag.key", "nul");
	f.key = "fine";
	f.description = "a\x01"
	                "b";
	assert_refused(create_with_nul(&f), "flag.description", "nul");
	f.description = "";
	v.key = "on\x01";
	v.value = "true";
	f.variants = vs;
	f.n_variants = 1;
	assert_refused(create_with_nul(&f), "flag.variants.key", "nul");
	f.n_variants = 0;
	me.key = "meta";
	me.value = "v\x01";
	f.metadata = ms;
	f.n_metadata = 1;
	assert_refused(create_with_nul(&f), "flag.metadata.value", "nul");
	cr_assert_eq(revision(), rev, "nothing created");
	/* Nor was anything cut at the NUL and stored. */
	Vexil__V1__GetFlagRequest g = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;
	g.project = P;
	g.key = "nul";
	rc = vx_get_flag(h.admin, &g, &out, &st);
	cr_assert_eq(rc, VX_ENOTFOUND);
}

Test(atomic, invalid_utf8_in_any_string_is_refused_naming_the_field)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_status st;
	uint64_t rev = revision();
	static const char *const bad[] = {
	    "\xff",
	    "caf\xc3",
	    "\xc0\xaf",
	    "\xed\xa0\x80",
	    "\xf4\x90\x80\x80",
	    "\xe2\x82",
	};

	in.project = P;
	in.flag = &f;
	f.key = "utf";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.name = (char *)bad[i];
		cr_assert_eq(
		    vx_create_flag(h.admin, &in, &out, &st), VX_EINVAL, "case %zu", i);
		cr_assert_str_eq(st.field, "flag.name");
		cr_assert_str_eq(st.constraint, "utf8");
	}
	/* The project name of a read is checked too. */
	Vexil__V1__ListFlagsRequest lf = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *fl;
	lf.project = "de\xff"
	             "fault";
	cr_assert_eq(vx_list_flags(h.admin, &lf, &fl, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "project");
	cr_assert_eq(revision(), rev);
	/* Valid multi-byte text is fine. */
	f.name = "caf\xc3\xa9 \xf0\x9f\x9a\x80";
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_str_eq(out->name, "caf\xc3\xa9 \xf0\x9f\x9a\x80");
	vx_free(out);
}

Test(atomic, values_echoed_in_error_messages_are_escaped)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	in.project = P;
	in.key = "line\nbreak\x1b[31m";
	cr_assert_eq(vx_get_flag(h.admin, &in, &out, &st), VX_ENOTFOUND);
	cr_assert_null(strchr(st.message, '\n'), "%s", st.message);
	cr_assert_null(strchr(st.message, '\x1b'), "%s", st.message);
	cr_assert_not_null(
	    strstr(st.message, "line\\x0abreak\\x1b[31m"), "%s", st.message);
}

/* ---- users and keys ---- */

Test(atomic, register_user_creates_the_users_own_default_project)
{
	Vexil__V1__RegisterRequest rq = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__LoginRequest lq = VEXIL__V1__LOGIN_REQUEST__INIT;
	Vexil__V1__LoginReply *lr;
	Vexil__V1__User *u;
	vx_status st;
	char cred[600];
	vx_client *anon = vx_harness_client(&h, NULL);

	rq.email = lq.email = "new@example.com";
	rq.password = lq.password = "secret-pw";
	cr_assert(vx_register_user(anon, &rq, &u, &st) == 0, "%s", st.message);
	uint64_t uid = u->id;
	vx_free(u);
	cr_assert(vx_login(anon, &lq, &lr, &st) == 0, "%s", st.message);
	snprintf(cred, sizeof(cred), "Bearer %s", lr->token);
	vx_free(lr);
	vx_client_close(anon);

	vx_client *me = vx_harness_client(&h, cred);
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	gp.project = "default";
	cr_assert(vx_get_project(me, &gp, &p, &st) == 0, "%s", st.message);
	cr_assert_eq(p->owner_user_id, uid);
	cr_assert_eq(p->revision, 1, "created in one write");
	cr_assert(strncmp(p->sdk_key, "sdk_", 4) == 0);
	vx_free(p);
	Vexil__V1__ListEnvironmentsRequest le =
	    VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
	Vexil__V1__EnvironmentList *el;
	le.project = "default";
	cr_assert(vx_list_environments(me, &le, &el, &st) == 0, "%s", st.message);
	cr_assert_eq(el->n_environments, 3);
	vx_free(el);
	vx_client_close(me);
}

static bool
sdk_form(const char *k)
{
	if (strlen(k) != 36 || strncmp(k, "sdk_", 4) != 0)
		return false;
	for (size_t i = 4; i < 36; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
		        (k[i] >= '0' && k[i] <= '9')))
			return false;
	return true;
}

/* An SDK key of the default project as vexild issued them before sdk_. */
static int
put_old_key(vx_wtxn *w, void *arg)
{
	Vexil__V1__SdkKey k = VEXIL__V1__SDK_KEY__INIT;
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_SDKKEY, &k.id)) != 0)
		return rc;
	k.project_id = 1;
	k.hash.data = arg;
	k.hash.len = 32;
	k.prefix = "vxs_01234567";
	k.created_at = 1;
	return vx_store_sdkkey_put(w, &k);
}

static int
evaluate_with(const char *cred)
{
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvaluationList *out;
	vx_status st;
	vx_client *c = vx_harness_client(&h, cred);
	int rc;

	in.environment = "production";
	rc = vx_evaluate_all(c, &in, &out, &st);
	if (rc == 0)
		vx_free(out);
	vx_client_close(c);
	return rc;
}

Test(atomic, sdk_keys_have_the_documented_form_and_old_keys_still_work)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	vx_status st;
	char cred[100];

	in.project = P;
	cr_assert(vx_create_sdk_key(h.admin, &in, &k, &st) == 0, "%s", st.message);
	cr_assert(sdk_form(k->secret), "%s", k->secret);
	cr_assert_eq(strncmp(k->key->prefix, k->secret, 12), 0);
	snprintf(cred, sizeof(cred), "SdkKey %s", k->secret);
	cr_assert_eq(evaluate_with(cred), 0);
	/* A new SDK key is no API key. */
	snprintf(cred, sizeof(cred), "ApiKey %s", k->secret);
	cr_assert_eq(evaluate_with(cred), VX_EAUTH);
	vx_free(k);

	/* A key issued before, in the old form, put straight into the store. */
	static const char old[] = "vxs_0123456789abcdef0123456789abcdef01234567";
	cr_assert_eq(vx_harness_stop(&h), 0);
	vx_store *s;
	vx_store_opts o = {.path = h.dir};
	cr_assert(vx_store_open(&s, &o) == 0);
	uint8_t hash[32];
	vx_auth_hash(old, hash);
	cr_assert(vx_store_write(s, NULL, put_old_key, hash) == 0);
	vx_store_close(s);
	vx_harness_restart(&h);
	snprintf(cred, sizeof(cred), "SdkKey %s", old);
	cr_assert_eq(evaluate_with(cred), 0, "an old vxs_ key is accepted");
	snprintf(cred, sizeof(cred), "ApiKey %s", old);
	cr_assert_eq(evaluate_with(cred), 0);
	snprintf(cred, sizeof(cred), "SdkKey sdk_%032d", 0);
	cr_assert_eq(evaluate_with(cred), VX_EAUTH, "an unknown key is not");
}

Test(atomic, a_project_key_makes_keys_for_its_own_project)
{
	Vexil__V1__CreateApiKeyRequest ak = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreateSdkKeyRequest sk = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *a;
	Vexil__V1__CreatedSdkKey *s;
	vx_status st;
	char key[128];

	vx_harness_key(&h, P, VEXIL__V1__ROLE__ROLE_ADMIN, key, sizeof(key));
	vx_client *c = vx_harness_client(&h, key);
	ak.name = "child";
	ak.role = VEXIL__V1__ROLE__ROLE_READ;
	cr_assert(vx_create_api_key(c, &ak, &a, &st) == 0, "%s", st.message);
	cr_assert_eq(a->key->project_id, 1);
	vx_free(a);
	cr_assert(vx_create_sdk_key(c, &sk, &s, &st) == 0, "%s", st.message);
	cr_assert_eq(s->key->project_id, 1);
	vx_free(s);
	vx_client_close(c);
}

/* ---- vexilctl's read-modify-write ---- */

Test(atomic, concurrent_vexilctl_variant_adds_lose_no_variant)
{
	enum { N = 6 };
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Variant v = VEXIL__V1__VARIANT__INIT, *vs[] = {&v};
	char cmd[N][800];
	FILE *p[N];
	vx_status st;

	f.key = "colors";
	f.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_STRING;
	v.key = "base";
	v.value = "\"base\"";
	f.variants = vs;
	f.n_variants = 1;
	in.project = P;
	in.flag = &f;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	/* All at once: each reads the same list and writes it back longer. */
	for (int i = 0; i < N; i++) {
		snprintf(cmd[i], sizeof(cmd[i]),
		    "%s --rpc %s --key %s variant add --project default colors c%d "
		    "'\"c%d\"' 2>&1",
		    VX_VEXILCTL_PATH, h.rpc, h.key, i, i);
		cr_assert_not_null(p[i] = popen(cmd[i], "r"));
	}
	for (int i = 0; i < N; i++) {
		char buf[256];
		while (fgets(buf, sizeof(buf), p[i]) != NULL)
			;
		int rc = pclose(p[i]);
		cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "vexilctl %d failed", i);
	}
	Vexil__V1__Flag *got = get_flag("colors");
	cr_assert_eq(got->n_variants, 1 + N, "every concurrent add kept");
	vx_free(got);
}

/* ---- every user has their own default ---- */

/* A user as vexild stored them before sign-up made their `default`. */
static int
put_bare_user(vx_wtxn *w, void *arg)
{
	Vexil__V1__User u = VEXIL__V1__USER__INIT;
	int rc;

	if ((rc = vx_store_next_id(w, VX_SEQ_USER, &u.id)) != 0)
		return rc;
	u.email = "old@example.com";
	u.password_hash = "x";
	u.created_at = 1;
	*(uint64_t *)arg = u.id;
	return vx_store_user_put(w, &u);
}

static int
check_dir(void)
{
	char cmd[600];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s --check --data %s >/dev/null 2>&1", VX_VEXILD_PATH,
	    h.dir);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(atomic, users_from_before_get_their_default_at_start_and_check_requires_it)
{
	vx_store *s;
	vx_store_opts o = {.path = h.dir};
	uint64_t uid;

	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert(vx_store_open(&s, &o) == 0);
	cr_assert(vx_store_write(s, NULL, put_bare_user, &uid) == 0);
	vx_store_close(s);
	cr_assert_eq(check_dir(), 1, "--check reports the user without a default");
	vx_harness_restart(&h);
	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_eq(check_dir(), 0, "clean once vexild gave it");
	vx_harness_restart(&h);
}

Test(atomic, a_default_project_cannot_be_renamed)
{
	Vexil__V1__UpdateProjectRequest in = VEXIL__V1__UPDATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project upd = VEXIL__V1__PROJECT__INIT, *p;
	char *mask[] = {"name"};
	vx_status st;
	uint64_t rev = revision();

	upd.name = "renamed";
	in.project = P;
	in.update = &upd;
	in.update_mask = mask;
	in.n_update_mask = 1;
	cr_assert_eq(vx_update_project(h.admin, &in, &p, &st), VX_ESTATE);
	cr_assert_str_eq(st.field, "name");
	cr_assert_eq(revision(), rev);
	mask[0] = "description";
	upd.description = "still fine";
	cr_assert(vx_update_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	vx_free(p);
}

Test(atomic, a_flag_name_is_long_text_and_a_long_name_derives_a_short_key)
{
	char *name = malloc(5001);
	Vexil__V1__Flag *f;
	vx_status st;
	int rc;

	memset(name, 'n', 5000);
	name[5000] = '\0';
	name[10] = ' ';
	f = create_named(h.admin, name, false, &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(strlen(f->name), 5000);
	cr_assert_eq(strlen(f->key), 120, "the derived key is cut to 120: %s", f->key);
	vx_free(f);
	f = create_named(h.admin, name, false, &rc, &st);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(strlen(f->key), 122, "with -2: %s", f->key);
	vx_free(f);
	free(name);
}

Test(atomic, vexilctl_enables_a_flag_in_every_environment_in_one_write)
{
	char cmd[800];
	uint64_t rev;
	int rc;

	make_flag("ctl_all");
	rev = revision();
	snprintf(cmd, sizeof(cmd),
	    "%s --rpc %s --key %s flag enable --project default ctl_all --env '*' >/dev/null 2>&1",
	    VX_VEXILCTL_PATH, h.rpc, h.key);
	rc = system(cmd);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	cr_assert_eq(revision(), rev + 1);
	Vexil__V1__Flag *f = get_flag("ctl_all");
	for (size_t i = 0; i < 3; i++)
		cr_assert(env_of(f, envs[i])->enabled, "%s", envs[i]);
	vx_free(f);
	snprintf(cmd, sizeof(cmd),
	    "%s --rpc %s --key %s flag disable --project default ctl_all --env staging "
	    "--env production >/dev/null 2>&1",
	    VX_VEXILCTL_PATH, h.rpc, h.key);
	rc = system(cmd);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	cr_assert_eq(revision(), rev + 2);
	f = get_flag("ctl_all");
	cr_assert(env_of(f, "development")->enabled);
	cr_assert_not(env_of(f, "staging")->enabled);
	cr_assert_not(env_of(f, "production")->enabled);
	vx_free(f);
}

/*
 * A write's reply names the project it changed and the revision it made
 * (vx_status.project_id and .revision, from the envelope), so a cache
 * kept from change notices can tell it is behind its own write before the
 * notice comes; a read, a refusal and a write that changed nothing name
 * none. Also vx_client_opts.on_commit hears each one.
 */
static uint64_t heard_project, heard_revision;
static int heard;

static void
on_commit(void *arg, uint64_t project_id, uint64_t revision_made)
{
	(void)arg;
	heard_project = project_id;
	heard_revision = revision_made;
	heard++;
}

Test(atomic, a_write_reply_names_the_project_and_revision_it_made)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Project *p;
	vx_client *c;
	vx_status st;

	cr_assert_eq(vx_client_open(&c, h.rpc,
	                 &(vx_client_opts){.credential = h.key, .on_commit = on_commit}),
	    0);
	f.key = "named-revision";
	in.project = P;
	in.flag = &f;
	cr_assert(vx_create_flag(c, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	gp.project = P;
	cr_assert(vx_get_project(c, &gp, &p, &st) == 0, "%s", st.message);
	cr_assert_eq(st.revision, 0, "a read names revision %llu",
	    (unsigned long long)st.revision);
	cr_assert_eq(heard, 1);
	cr_assert_eq(heard_project, p->id);
	cr_assert_eq(heard_revision, p->revision);
	vx_free(p);
	/* Refused: nothing committed, nothing named, nothing heard. */
	cr_assert(vx_create_flag(c, &in, &out, &st) != 0);
	cr_assert_eq(st.revision, 0);
	cr_assert_eq(heard, 1);
	vx_client_close(c);
}
