/*
 * Vexil tests — retention (--audit-keep) and vexild's figures
 * (OpsService/GetStats), over the wire against a real vexild.
 *
 * Each project keeps its newest --audit-keep audit entries; a write trims
 * at most VX_STORE_AUDIT_TRIM_MAX (4) of the oldest, so a smaller keep
 * after a restart converges over the next writes, by exactly that many
 * per write. GetStats counts every committed write and every trimmed
 * entry, and needs a global admin key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static vx_harness h;
/* Changed before a restart: the harness keeps a pointer to it. */
static const char *args[] = {"--audit-keep", "10", NULL};

static void
setup(void)
{
	vx_harness_start(&h, args);
}

static void
teardown(void)
{
	vx_harness_fini(&h);
}

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 120);

static void
toggle(const char *project, const char *flag)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	in.project = (char *)project;
	in.key = (char *)flag;
	in.environment = "production";
	in.toggle = true;
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &out, &st), 0, "%s", st.message);
	vx_free(out);
}

/* The project's audit log, newest first (the caller frees it). */
static Vexil__V1__AuditList *
audit(const char *project)
{
	Vexil__V1__ListAuditRequest in = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *out;
	vx_status st;

	in.project = (char *)project;
	in.limit = 1000;
	cr_assert_eq(vx_list_audit(h.admin, &in, &out, &st), 0, "%s", st.message);
	return out;
}

static size_t
audit_count(const char *project)
{
	Vexil__V1__AuditList *l = audit(project);
	size_t n = l->n_entries;

	vx_free(l);
	return n;
}

static Vexil__V1__CoreStats *
stats(void)
{
	Vexil__V1__GetStatsRequest in = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CoreStats *out;
	vx_status st;

	cr_assert_eq(vx_get_stats(h.admin, &in, &out, &st), 0, "%s", st.message);
	return out;
}

Test(retention, each_project_keeps_its_newest_audit_entries)
{
	Vexil__V1__AuditList *l;
	uint64_t rev;

	for (int i = 0; i < 25; i++)
		toggle("default", "average_user");
	l = audit("default");
	cr_assert_eq(l->n_entries, 10, "default keeps %zu audit entries", l->n_entries);
	/* The newest ten: consecutive revisions ending at the last write. */
	rev = l->entries[0]->revision;
	for (size_t i = 0; i < l->n_entries; i++) {
		cr_assert_eq(l->entries[i]->revision, rev - i,
		    "entry %zu is revision %llu", i,
		    (unsigned long long)l->entries[i]->revision);
		cr_assert_str_eq(
		    l->entries[i]->method, "vexil.v1.FlagService/SetFlagEnabled");
	}
	vx_free(l);

	/* Another project is counted apart: its own writes, its own ten. */
	Vexil__V1__CreateProjectRequest cp = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__CreateFlagRequest cf = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT;
	Vexil__V1__Project *p;
	Vexil__V1__Flag *fo;
	vx_status st;
	cp.name = "shop";
	cr_assert_eq(vx_create_project(h.admin, &cp, &p, &st), 0, "%s", st.message);
	vx_free(p);
	f.key = "checkout";
	cf.project = "shop";
	cf.flag = &f;
	cr_assert_eq(vx_create_flag(h.admin, &cf, &fo, &st), 0, "%s", st.message);
	vx_free(fo);
	size_t n0 = audit_count("shop");
	cr_assert_leq(n0, 7, "a new project has %zu audit entries", n0);
	for (int i = 0; i < 3; i++)
		toggle("shop", "checkout");
	cr_assert_eq(audit_count("shop"), n0 + 3);
	cr_assert_eq(audit_count("default"), 10);
	for (int i = 0; i < 10; i++)
		toggle("shop", "checkout");
	cr_assert_eq(audit_count("shop"), 10);
	cr_assert_eq(audit_count("default"), 10);
}

Test(retention, a_smaller_keep_converges_a_few_entries_per_write)
{
	for (int i = 0; i < 12; i++)
		toggle("default", "average_user");
	cr_assert_eq(audit_count("default"), 10);
	cr_assert_eq(vx_harness_stop(&h), 0);
	args[1] = "3";
	vx_harness_restart(&h);
	/* Nothing is trimmed until a write: a restart does no work. */
	cr_assert_eq(audit_count("default"), 10);
	toggle("default", "average_user"); /* 11, less 4 */
	cr_assert_eq(audit_count("default"), 7);
	toggle("default", "average_user"); /* 8, less 4 */
	cr_assert_eq(audit_count("default"), 4);
	toggle("default", "average_user"); /* 5, less 2 */
	cr_assert_eq(audit_count("default"), 3);
	toggle("default", "average_user");
	cr_assert_eq(audit_count("default"), 3);
	/* The counts kept in meta agree with the log: vexild --check is clean. */
	cr_assert_eq(vx_harness_stop(&h), 0);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "%s --check --data '%s' >/dev/null 2>&1", VX_VEXILD_PATH,
	    h.dir);
	cr_assert_eq(system(cmd), 0, "vexild --check found problems in %s", h.dir);
}

Test(retention, stats_count_writes_and_trims_exactly)
{
	Vexil__V1__CoreStats *a, *b;

	for (int i = 0; i < 12; i++) /* past the keep: every later write trims */
		toggle("default", "average_user");
	a = stats();
	for (int i = 0; i < 5; i++)
		toggle("default", "average_user");
	b = stats();
	cr_assert_eq(b->writes_total - a->writes_total, 5);
	cr_assert_eq(b->commits_total - a->commits_total, 5,
	    "one after another, each write is a transaction of its own");
	cr_assert_eq(b->audit_trimmed_total - a->audit_trimmed_total, 5);
	cr_assert_eq(b->revisions - a->revisions, 5);
	cr_assert_eq(b->change_log_entries - a->change_log_entries, 5);
	cr_assert_eq(b->audit_entries, a->audit_entries);
	cr_assert_eq(b->projects, 1);
	cr_assert_gt(b->pages_used, 0);
	cr_assert_gt(b->map_size_bytes, 0);
	cr_assert_geq(b->data_file_bytes, b->page_size_bytes);
	cr_assert_eq(b->hash_queue_capacity, 64);
	cr_assert_eq(b->eval_records_dropped_total, 0);
	cr_assert_str_eq(b->storage_state, "ok");
	cr_assert_str_eq(b->storage_why, "");
	vx_free(a);
	vx_free(b);
}

Test(retention, stats_need_a_global_admin_key)
{
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__GetStatsRequest gs = VEXIL__V1__GET_STATS_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	Vexil__V1__CoreStats *out;
	vx_status st;
	vx_client *c;

	in.name = "scoped";
	in.role = VEXIL__V1__ROLE__ROLE_ADMIN;
	in.project = "default";
	cr_assert_eq(vx_create_api_key(h.admin, &in, &k, &st), 0, "%s", st.message);
	c = vx_harness_client(&h, k->secret);
	cr_assert_eq(vx_get_stats(c, &gs, &out, &st), VX_EPERM);
	cr_assert_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	cr_assert(strstr(st.message, "global admin key") != NULL, "%s", st.message);
	vx_client_close(c);
	vx_free(k);
}
