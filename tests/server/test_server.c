/*
 * Vexil integration tests: vexild over the wire through libvexil.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

VX_SERVER_SUITE(server, 60);

static Vexil__V1__Flag *
create_flag(vx_client *c, const char *project, const char *key, vx_status *st, int *rc)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out = NULL;

	f.key = (char *)key;
	in.project = (char *)project;
	in.flag = &f;
	*rc = vx_create_flag(c, &in, &out, st);
	return out;
}

static Vexil__V1__Flag *
get_flag(vx_client *c, const char *project, const char *key, int *rc)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out = NULL;
	vx_status st;

	in.project = (char *)project;
	in.key = (char *)key;
	*rc = vx_get_flag(c, &in, &out, &st);
	return out;
}

static uint64_t
revision(vx_client *c, const char *project)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	uint64_t rev;

	in.project = (char *)project;
	cr_assert(vx_get_project(c, &in, &p, &st) == 0, "%s", st.message);
	rev = p->revision;
	vx_free(p);
	return rev;
}

Test(server, a_fresh_database_holds_the_three_seeded_table_api_flags)
{
	static const char *const keys[] = {"admin_super", "average_user", "professional_tools"};
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	vx_status st;

	in.project = "default";
	cr_assert(vx_list_flags(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_eq(out->n_flags, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_str_eq(out->flags[i]->key, keys[i]);
		cr_assert_eq(out->flags[i]->n_metadata, 3, "status, strategy, variation");
		for (size_t j = 0; j < out->flags[i]->n_envs; j++)
			cr_assert(out->flags[i]->envs[j]->enabled);
	}
	vx_free(out);
	/* Seeded once: a restart does not seed again. */
	cr_assert_eq(vx_harness_stop(&h), 0);
	vx_harness_restart(&h);
	cr_assert(vx_list_flags(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_eq(out->n_flags, 3);
	vx_free(out);
}

Test(server, fresh_database_has_the_default_project_with_three_environments)
{
	Vexil__V1__ListEnvironmentsRequest in = VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
	Vexil__V1__EnvironmentList *out;
	vx_status st;
	struct stat sb;
	char path[300];

	in.project = "default";
	cr_assert(vx_list_environments(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_eq(out->n_environments, 3);
	/* Listed in key order. */
	cr_assert_str_eq(out->environments[0]->key, "development");
	cr_assert_str_eq(out->environments[1]->key, "production");
	cr_assert_str_eq(out->environments[2]->key, "staging");
	vx_free(out);
	snprintf(path, sizeof(path), "%s/admin.key", h.dir);
	cr_assert(stat(path, &sb) == 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
}

Test(server, crud_round_trip_survives_a_restart)
{
	Vexil__V1__Flag *f;
	vx_status st;
	int rc;
	char key_before[128];

	f = create_flag(h.admin, "default", "checkout", &st, &rc);
	cr_assert_eq(rc, 0, "%s", st.message);
	cr_assert_eq(f->n_envs, 3);
	cr_assert_eq(f->n_variants, 2, "boolean flags get on/off variants");
	uint64_t id = f->id;
	vx_free(f);

	/* Duplicate keys are refused. */
	f = create_flag(h.admin, "default", "checkout", &st, &rc);
	cr_assert_eq(rc, VX_EEXIST);
	cr_assert_eq(st.code, VEXIL__V1__CODE__ALREADY_EXISTS);

	/* Update name and tags. */
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag u = VEXIL__V1__FLAG__INIT;
	char *mask[] = {"name", "tags"}, *tags[] = {"web", "beta"};
	u.name = "Checkout v2";
	u.tags = tags;
	u.n_tags = 2;
	up.project = "default";
	up.key = "checkout";
	up.update = &u;
	up.update_mask = mask;
	up.n_update_mask = 2;
	cr_assert(vx_update_flag(h.admin, &up, &f, &st) == 0, "%s", st.message);
	cr_assert_str_eq(f->name, "Checkout v2");
	cr_assert_eq(f->id, id, "the id never changes");
	vx_free(f);

	/* Toggle in production. */
	Vexil__V1__SetFlagEnabledRequest en = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	en.project = "default";
	en.key = "checkout";
	en.environment = "production";
	en.enabled = true;
	cr_assert(vx_set_flag_enabled(h.admin, &en, &f, &st) == 0, "%s", st.message);
	vx_free(f);

	/* A rule in production. */
	Vexil__V1__CreateRuleRequest cr = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *rout;
	Vexil__V1__Condition cond = VEXIL__V1__CONDITION__INIT, *conds[] = {&cond};
	char *vals[] = {"@example.com"};
	cond.attribute = "email";
	cond.operator_ = "ends_with";
	cond.values = vals;
	cond.n_values = 1;
	r.conditions = conds;
	r.n_conditions = 1;
	r.enabled = true;
	r.priority = 5;
	r.variant = "on";
	cr.project = "default";
	cr.flag_key = "checkout";
	cr.environment = "production";
	cr.rule = &r;
	cr_assert(vx_create_rule(h.admin, &cr, &rout, &st) == 0, "%s", st.message);
	cr_assert_gt(rout->id, 0);
	uint64_t rule_id = rout->id;
	vx_free(rout);

	snprintf(key_before, sizeof(key_before), "%s", h.key);
	cr_assert_eq(vx_harness_stop(&h), 0, "SIGTERM exits 0");
	vx_harness_restart(&h);
	cr_assert_str_eq(h.key, key_before, "admin.key is never rewritten");

	f = get_flag(h.admin, "default", "checkout", &rc);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(f->name, "Checkout v2");
	cr_assert_eq(f->n_tags, 2);
	Vexil__V1__FlagEnvConfig *prod = NULL;
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, "production") == 0)
			prod = f->envs[i];
	cr_assert_not_null(prod);
	cr_assert(prod->enabled);
	cr_assert_eq(prod->n_rules, 1);
	cr_assert_eq(prod->rules[0]->id, rule_id);
	cr_assert_str_eq(prod->rules[0]->conditions[0]->operator_, "ends_with");
	vx_free(f);

	/* Delete the rule, then the flag. */
	Vexil__V1__RuleRef ref = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Empty *e;
	ref.project = "default";
	ref.flag_key = "checkout";
	ref.rule_id = rule_id;
	cr_assert(vx_delete_rule(h.admin, &ref, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	cr_assert_eq(vx_get_rule(h.admin, &ref, &rout, &st), VX_ENOTFOUND);
	Vexil__V1__DeleteFlagRequest del = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	del.project = "default";
	del.key = "checkout";
	cr_assert(vx_delete_flag(h.admin, &del, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	f = get_flag(h.admin, "default", "checkout", &rc);
	cr_assert_eq(rc, VX_ENOTFOUND);
}

Test(server, every_write_bumps_the_revision_by_exactly_one)
{
	uint64_t before = revision(h.admin, "default");
	vx_status st;
	int rc;

	for (int i = 0; i < 5; i++) {
		char key[32];
		snprintf(key, sizeof(key), "f%d", i);
		vx_free(create_flag(h.admin, "default", key, &st, &rc));
		cr_assert_eq(rc, 0, "%s", st.message);
	}
	/* A refused write changes nothing. */
	vx_free(create_flag(h.admin, "default", "f0", &st, &rc));
	cr_assert_eq(rc, VX_EEXIST);
	cr_assert_eq(revision(h.admin, "default"), before + 5);
}

Test(server, projects_crud_and_names_are_unique)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.name = "acme";
	in.description = "Acme Corp";
	cr_assert(vx_create_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	char id[32];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	vx_free(p);
	cr_assert_eq(vx_create_project(h.admin, &in, &p, &st), VX_EEXIST);
	in.name = "12345";
	cr_assert_eq(vx_create_project(h.admin, &in, &p, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "name");

	/* By id or by name. */
	Vexil__V1__GetProjectRequest g = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	g.project = id;
	cr_assert(vx_get_project(h.admin, &g, &p, &st) == 0, "%s", st.message);
	cr_assert_str_eq(p->name, "acme");
	vx_free(p);

	Vexil__V1__DeleteProjectRequest d = VEXIL__V1__DELETE_PROJECT_REQUEST__INIT;
	Vexil__V1__Empty *e;
	d.project = "acme";
	cr_assert(vx_delete_project(h.admin, &d, &e, &st) == 0, "%s", st.message);
	vx_free(e);
	g.project = "acme";
	cr_assert_eq(vx_get_project(h.admin, &g, &p, &st), VX_ENOTFOUND);
	d.project = "default";
	cr_assert_eq(vx_delete_project(h.admin, &d, &e, &st), VX_ESTATE);
}

struct worker_arg {
	vx_harness *h;
	int id;
	int ok;
};

static void *
client_thread(void *p)
{
	struct worker_arg *a = p;
	vx_client *c = vx_harness_client(a->h, a->h->key);
	vx_status st;
	int rc;

	for (int i = 0; i < 10; i++) {
		char key[48];
		snprintf(key, sizeof(key), "c%d-f%d", a->id, i);
		Vexil__V1__Flag *f = create_flag(c, "default", key, &st, &rc);
		if (rc == 0) {
			vx_free(f);
			f = get_flag(c, "default", key, &rc);
			if (rc == 0 && strcmp(f->key, key) == 0)
				a->ok++;
			vx_free(f);
		}
	}
	vx_client_close(c);
	return NULL;
}

Test(server, thirty_two_concurrent_clients_all_succeed)
{
	enum { N = 32, SEEDED = 3 };
	pthread_t t[N];
	struct worker_arg a[N];
	uint64_t before = revision(h.admin, "default");

	for (int i = 0; i < N; i++) {
		a[i] = (struct worker_arg){&h, i, 0};
		pthread_create(&t[i], NULL, client_thread, &a[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(a[i].ok, 10, "client %d: %d of 10", i, a[i].ok);
	}
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	vx_status st;
	in.project = "default";
	in.limit = 7;
	cr_assert(vx_list_flags(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_eq(out->total, N * 10 + SEEDED);
	cr_assert_eq(out->n_flags, 7);
	vx_free(out);
	cr_assert_eq(revision(h.admin, "default"), before + N * 10);
}

Test(server, vexilctl_creates_reads_and_toggles_a_flag)
{
	char cmd[4096], line[4096];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
	    "%s --rpc %s --key %s flag create --project default cli-flag --name 'CLI flag' "
	    "--json >/dev/null && %s --rpc %s --key %s flag enable --project default cli-flag "
	    "--env staging >/dev/null && %s --rpc %s --key %s flag get --project default "
	    "cli-flag --json",
	    VX_VEXILCTL_PATH, h.rpc, h.key, VX_VEXILCTL_PATH, h.rpc, h.key, VX_VEXILCTL_PATH,
	    h.rpc, h.key);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(line, sizeof(line), p));
	cr_assert_eq(pclose(p), 0);
	cr_assert(strstr(line, "\"key\":\"cli-flag\"") != NULL, "%s", line);
	cr_assert(strstr(line, "{\"environment\":\"staging\",\"enabled\":true") != NULL, "%s",
	    line);

	/* A failure exits non-zero with one line on stderr. */
	snprintf(cmd, sizeof(cmd), "%s --rpc %s --key %s flag get --project default nope 2>&1",
	    VX_VEXILCTL_PATH, h.rpc, h.key);
	p = popen(cmd, "r");
	cr_assert_not_null(fgets(line, sizeof(line), p));
	cr_assert_neq(pclose(p), 0);
	cr_assert(strstr(line, "NOT_FOUND") != NULL, "%s", line);
}

Test(server, a_hot_backup_is_a_working_data_dir)
{
	Vexil__V1__BackupRequest in = VEXIL__V1__BACKUP_REQUEST__INIT;
	Vexil__V1__BackupReply *out;
	vx_status st;
	char dir[300], key[128];
	int rc;

	vx_free(create_flag(h.admin, "default", "kept", &st, &rc));
	cr_assert_eq(rc, 0);
	snprintf(dir, sizeof(dir), "%s.backup", h.dir);
	in.path = dir;
	cr_assert(vx_backup(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_gt(out->bytes, 0);
	vx_free(out);
	cr_assert_eq(vx_backup(h.admin, &in, &out, &st), VX_EEXIST, "never over a backup");
	in.path = "relative/path";
	cr_assert_eq(vx_backup(h.admin, &in, &out, &st), VX_EINVAL);
	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_ADMIN, key, sizeof(key));
	vx_client *scoped = vx_harness_client(&h, key);
	in.path = dir;
	cr_assert_eq(vx_backup(scoped, &in, &out, &st), VX_EPERM);
	vx_client_close(scoped);

	/* Serve the backup: the flag is there. */
	cr_assert_eq(vx_harness_stop(&h), 0);
	char cmd[1500];
	snprintf(cmd, sizeof(cmd), "cp '%s/admin.key' '%s/' && rm -rf '%s' && mv '%s' '%s'", h.dir,
	    dir, h.dir, dir, h.dir);
	cr_assert(system(cmd) == 0);
	vx_harness_restart(&h);
	Vexil__V1__Flag *f = get_flag(h.admin, "default", "kept", &rc);
	cr_assert_eq(rc, 0, "the backed-up flag is served");
	vx_free(f);
}

Test(server, toggle_flips_inside_the_write_and_one_update_changes_flag_and_state)
{
	Vexil__V1__SetFlagEnabledRequest en = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag u = VEXIL__V1__FLAG__INIT, *f;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	char *mask[] = {"name", "env.enabled", "env.rollout_percentage"};
	vx_status st;
	int rc;

	vx_free(create_flag(h.admin, "default", "flip", &st, &rc));
	cr_assert_eq(rc, 0);
	en.project = "default";
	en.key = "flip";
	en.environment = "staging";
	en.toggle = true;
	for (int i = 0; i < 3; i++) {
		cr_assert(vx_set_flag_enabled(h.admin, &en, &f, &st) == 0, "%s", st.message);
		for (size_t j = 0; j < f->n_envs; j++)
			if (strcmp(f->envs[j]->environment, "staging") == 0)
				cr_assert_eq(f->envs[j]->enabled, i % 2 == 0, "toggle %d", i);
		vx_free(f);
	}

	uint64_t before = revision(h.admin, "default");
	u.name = "Flip";
	cfg.environment = "production";
	cfg.enabled = true;
	cfg.rollout_percentage = 40;
	up.project = "default";
	up.key = "flip";
	up.update = &u;
	up.update_mask = mask;
	up.n_update_mask = 3;
	up.env = &cfg;
	cr_assert(vx_update_flag(h.admin, &up, &f, &st) == 0, "%s", st.message);
	cr_assert_str_eq(f->name, "Flip");
	for (size_t j = 0; j < f->n_envs; j++)
		if (strcmp(f->envs[j]->environment, "production") == 0) {
			cr_assert(f->envs[j]->enabled);
			cr_assert_eq(f->envs[j]->rollout_percentage, 40);
		}
	vx_free(f);
	cr_assert_eq(revision(h.admin, "default"), before + 1, "one write");
	up.env = NULL;
	cr_assert_eq(vx_update_flag(h.admin, &up, &f, &st), VX_EINVAL);
	cr_assert_str_eq(st.field, "env.environment");
}
