/*
 * Vexil tests — operations: `vexild --check` and hot backup and restore.
 *
 * The check runs the real vexild binary on a real data dir: one left by a
 * mixed workload must pass, and one we corrupt through LMDB directly (an
 * index entry deleted, a revision bumped, a record that does not decode)
 * must fail, naming the problem. The backup test takes `vexilctl backup
 * FILE.mdb` while writers commit, restores it the way README.md says, and
 * serves it.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

VX_SERVER_SUITE(ops, 300);

/* Runs vexilctl against h with the admin key; returns its exit status. */
static char ctl_out[8192];
#define ctl(...) vx_harness_ctl(&h, ctl_out, sizeof(ctl_out), __VA_ARGS__)

/* Runs `vexild --check` on dir; returns its exit status, output in out. */
static int
check(const char *dir, char *out, size_t cap)
{
	char cmd[600];
	size_t n = 0, got;
	FILE *p;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s --check --data '%s' 2>&1", VX_VEXILD_PATH, dir);
	cr_assert_not_null(p = popen(cmd, "r"));
	while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A bit of everything the store keeps. */
static void
workload(void)
{
	Vexil__V1__RegisterRequest reg = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__User *u;
	vx_status st;
	vx_client *anon = vx_harness_client(&h, NULL);

	cr_assert_eq(ctl("project create shop --description 'web shop'"), 0);
	cr_assert_eq(ctl("env create --project shop qa"), 0);
	cr_assert_eq(ctl("flag create --project shop checkout --tag web"), 0);
	cr_assert_eq(ctl("flag create --project shop banner --type string "
	    "--variant blue='\"blue\"' --variant red='\"red\"'"), 0);
	cr_assert_eq(ctl("rule add --project shop checkout --env production "
	    "--cond 'email ends_with @example.com' --variant on --priority 10"), 0);
	cr_assert_eq(ctl("rule add --project shop banner --env qa --split blue=50,red=50"), 0);
	cr_assert_eq(ctl("flag enable --project shop checkout --env production"), 0);
	cr_assert_eq(ctl("flag rollout --project shop checkout --env staging 30"), 0);
	cr_assert_eq(ctl("flag update --project shop checkout --name Checkout"), 0);
	cr_assert_eq(ctl("env delete --project shop staging"), 0);
	cr_assert_eq(ctl("flag delete --project shop banner"), 0);
	cr_assert_eq(ctl("key create ci --role write --project shop"), 0);
	cr_assert_eq(ctl("sdk-key create --project shop --env production"), 0);
	cr_assert_eq(ctl("project create gone"), 0);
	cr_assert_eq(ctl("flag create --project gone f"), 0);
	cr_assert_eq(ctl("project delete gone"), 0);
	cr_assert_eq(ctl("eval --project shop --env production checkout --ctx user_id=u1 "
	    "--ctx email=a@example.com"), 0);
	{
		/* An open change request: production protected, a write key's
		 * toggle held for review. */
		Vexil__V1__SetFlagEnabledRequest se =
		    VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
		Vexil__V1__Flag *f = NULL;
		char key[200], cred[256];
		vx_client *w;

		cr_assert_eq(
		    ctl("env protect --project shop production"), 0, "%s", ctl_out);
		vx_harness_key(&h, "shop", VEXIL__V1__ROLE__ROLE_WRITE, key, sizeof(key));
		snprintf(cred, sizeof(cred), "ApiKey %s", key);
		w = vx_harness_client(&h, cred);
		se.project = "shop";
		se.key = "checkout";
		se.environment = "production";
		cr_assert_eq(
		    vx_set_flag_enabled(w, &se, &f, &st), VX_ESTATE, "%s", st.message);
		cr_assert_str_eq(st.constraint, "change_request");
		vx_client_close(w);
	}
	reg.email = "Ops@Example.com";
	reg.password = "correct horse battery";
	cr_assert(vx_register_user(anon, &reg, &u, &st) == 0, "%s", st.message);
	vx_free(u);
	vx_client_close(anon);
}

Test(ops, a_database_after_a_workload_checks_clean_while_served_and_stopped)
{
	char out[16384];

	workload();
	cr_assert_eq(check(h.dir, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "clean: no problems found") != NULL, "%s", out);
	cr_assert(strstr(out, "checked flag_ids") != NULL, "it says what it checked: %s", out);
	cr_assert(strstr(out, "checked prerequisites") != NULL, "%s", out);
	/* What to watch: the device's free space and the map's headroom. */
	cr_assert(strstr(out, "space device") != NULL && strstr(out, " free of ") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "space map") != NULL && strstr(out, "headroom") != NULL,
	    "%s", out);
	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 0, "%s", out);
	/* It wrote nothing: vexild starts and serves as before. */
	vx_harness_restart(&h);
	cr_assert_eq(ctl("flag get --project shop checkout"), 0);
}

Test(ops, a_database_with_prerequisites_and_segments_checks_clean)
{
	char out[16384];

	cr_assert_eq(ctl("project create shop"), 0);
	cr_assert_eq(ctl("flag create --project shop payments"), 0);
	cr_assert_eq(ctl("flag create --project shop checkout"), 0);
	cr_assert_eq(ctl("flag create --project shop upsell"), 0);
	cr_assert_eq(ctl("flag require --project shop checkout --env production payments "
	                 "--variant on"),
	    0);
	cr_assert_eq(
	    ctl("flag require --project shop upsell --env production checkout"), 0);
	cr_assert_eq(
	    ctl("flag require --project shop upsell --env staging payments --when off"),
	    0);
	cr_assert_neq(ctl("flag require --project shop payments --env production upsell"),
	    0, "a cycle is refused");
	cr_assert_neq(
	    ctl("flag delete --project shop checkout"), 0, "checkout is required");
	cr_assert_eq(ctl("segment create --project shop staff --cond 'email ends_with "
	                 "@shop.example'"),
	    0);
	cr_assert_eq(
	    ctl("rule add --project shop checkout --env production --segment staff "
	        "--variant on"),
	    0);
	cr_assert_neq(ctl("segment delete --project shop staff"), 0, "staff is in use");
	cr_assert_eq(check(h.dir, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "checked prerequisites") != NULL, "%s", out);
	cr_assert(strstr(out, "checked segments") != NULL, "%s", out);
	cr_assert(strstr(out, "clean: no problems found") != NULL, "%s", out);
	cr_assert_eq(
	    ctl("flag unrequire --project shop upsell --env production checkout"), 0);
	cr_assert_eq(ctl("flag delete --project shop upsell"), 0);
	cr_assert_eq(
	    ctl("flag unrequire --project shop checkout --env production payments"), 0);
	cr_assert_eq(ctl("flag delete --project shop checkout"), 0);
}

Test(ops, check_of_a_missing_data_dir_fails_and_says_so)
{
	char out[4096], dir[300];

	snprintf(dir, sizeof(dir), "%s/nope", h.dir);
	cr_assert_eq(check(dir, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "cannot open the database") != NULL, "%s", out);
	cr_assert(access(dir, F_OK) != 0, "the check creates nothing");
}

/* Opens the stopped vexild's environment for surgery. */
static MDB_env *
open_env(MDB_txn **txn)
{
	MDB_env *env;

	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 32), 0);
	cr_assert_eq(mdb_env_open(env, h.dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, txn), 0);
	return env;
}

static MDB_dbi
dbi(MDB_txn *txn, const char *name)
{
	MDB_dbi d;
	cr_assert_eq(mdb_dbi_open(txn, name, 0, &d), 0, "database %s", name);
	return d;
}

static void
close_env(MDB_env *env, MDB_txn *txn)
{
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(ops, a_deleted_flag_id_entry_is_named)
{
	MDB_txn *txn;
	MDB_env *env;
	MDB_cursor *cur;
	MDB_val k, v;
	char out[16384];

	workload();
	env = open_env(&txn);
	cr_assert_eq(mdb_cursor_open(txn, dbi(txn, "flag_ids"), &cur), 0);
	cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_LAST), 0);
	cr_assert_eq(mdb_cursor_del(cur, 0), 0);
	mdb_cursor_close(cur);
	close_env(env, txn);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "problem: flag_ids: no entry for flag") != NULL, "%s", out);
	cr_assert(strstr(out, "(2/checkout)") != NULL, "the flag is named: %s", out);
	cr_assert(strstr(out, "1 problem found") != NULL, "%s", out);
}

Test(ops, a_bumped_revision_is_named)
{
	MDB_txn *txn;
	MDB_env *env;
	MDB_val k, v;
	uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 2};
	Vexil__V1__Project *p;
	char out[16384];

	workload();
	env = open_env(&txn);
	k.mv_size = 8;
	k.mv_data = key;
	cr_assert_eq(mdb_get(txn, dbi(txn, "projects"), &k, &v), 0);
	p = vexil__v1__project__unpack(NULL, v.mv_size, v.mv_data);
	cr_assert_not_null(p);
	p->revision++;
	uint8_t buf[4096];
	v.mv_size = vexil__v1__project__pack(p, buf);
	v.mv_data = buf;
	vexil__v1__project__free_unpacked(p, NULL);
	cr_assert_eq(mdb_put(txn, dbi(txn, "projects"), &k, &v, 0), 0);
	close_env(env, txn);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "problem: changes: project 2 (shop) is at revision") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "its change log ends at") != NULL, "%s", out);
}

Test(ops, an_audit_count_that_disagrees_with_the_log_is_named)
{
	MDB_txn *txn;
	MDB_env *env;
	MDB_val k = {strlen("audit.count.1"), "audit.count.1"}, v;
	uint8_t n[8] = {0, 0, 0, 0, 0, 0, 0, 99};
	char out[16384];

	workload();
	env = open_env(&txn);
	v.mv_size = sizeof(n);
	v.mv_data = n;
	cr_assert_eq(mdb_put(txn, dbi(txn, "meta"), &k, &v, 0), 0);
	close_env(env, txn);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "problem: audit: project 1 has ") != NULL, "%s", out);
	cr_assert(strstr(out, "its count in meta says 99") != NULL, "%s", out);
}

Test(ops, a_lost_key_hash_and_an_undecodable_record_are_named)
{
	MDB_txn *txn;
	MDB_env *env;
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t junk[3] = {0xff, 0xff, 0xff};
	char out[16384];

	workload();
	env = open_env(&txn);
	cr_assert_eq(mdb_cursor_open(txn, dbi(txn, "apikey_hashes"), &cur), 0);
	cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	cr_assert_eq(mdb_cursor_del(cur, 0), 0);
	mdb_cursor_close(cur);
	cr_assert_eq(mdb_cursor_open(txn, dbi(txn, "envs"), &cur), 0);
	cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	v.mv_size = sizeof(junk);
	v.mv_data = junk;
	cr_assert_eq(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
	mdb_cursor_close(cur);
	close_env(env, txn);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "problem: apikey_hashes: no entry for the hash of API key") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "problem: envs: the record at key") != NULL, "%s", out);
	cr_assert(strstr(out, "does not decode as vexil.v1.Environment") != NULL, "%s", out);
}

/* ---- backup and restore ---- */

struct writer {
	atomic_bool *stop;
	atomic_int done;
	int id;
};

static void *
write_flags(void *arg)
{
	struct writer *w = arg;
	vx_client *c = vx_harness_client(&h, h.key);
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_status st;
	char key[48];

	in.project = "default";
	in.flag = &f;
	f.key = key;
	for (int i = 0; !atomic_load(w->stop); i++) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, i);
		if (vx_create_flag(c, &in, &out, &st) != 0)
			break;
		vx_free(out);
		atomic_store(&w->done, i + 1);
	}
	vx_client_close(c);
	return NULL;
}

Test(ops, a_hot_backup_file_taken_under_writes_restores_checks_clean_and_serves)
{
	enum { W = 3 };
	pthread_t t[W];
	struct writer w[W];
	atomic_bool stop = false;
	int before[W];
	char file[300], out[16384], cmd[1500];

	workload();
	for (int i = 0; i < W; i++) {
		w[i] = (struct writer){.stop = &stop, .id = i};
		atomic_init(&w[i].done, 0);
		pthread_create(&t[i], NULL, write_flags, &w[i]);
	}
	/* Let the writers get going, then back up while they commit. */
	while (atomic_load(&w[W - 1].done) < 20)
		usleep(1000);
	for (int i = 0; i < W; i++)
		before[i] = atomic_load(&w[i].done);
	snprintf(file, sizeof(file), "%s.backup.mdb", h.dir);
	cr_assert_eq(ctl("backup %s", file), 0, "vexilctl backup FILE works");
	usleep(20000);
	atomic_store(&stop, true);
	for (int i = 0; i < W; i++)
		pthread_join(t[i], NULL);
	cr_assert_gt(atomic_load(&w[0].done), before[0], "writers went on during the backup");
	cr_assert_neq(ctl("backup %s", file), 0, "never over an existing backup");
	cr_assert_neq(ctl("backup relative.mdb"), 0, "the path must be absolute");

	/* Restore as README.md says: stop, put the copy in as data.mdb with
	 * admin.key, check, start. */
	cr_assert_eq(vx_harness_stop(&h), 0);
	snprintf(cmd, sizeof(cmd),
	    "set -e; d='%s'; mkdir \"$d.restored\"; cp \"$d/admin.key\" \"$d.restored/\"; "
	    "cp '%s' \"$d.restored/data.mdb\"; rm -rf \"$d\"; mv \"$d.restored\" \"$d\"; rm '%s'",
	    h.dir, file, file);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 0, "%s", out);
	vx_harness_restart(&h);
	cr_assert_eq(ctl("flag get --project shop checkout"), 0, "the workload is there");
	for (int i = 0; i < W; i++)
		for (int j = 0; j < before[i]; j++)
			cr_assert_eq(ctl("flag get --project default w%d-%d", i, j), 0,
			    "flag w%d-%d, acknowledged before the backup began, is there", i, j);
	/* And the restored vexild takes writes. */
	cr_assert_eq(ctl("flag create --project default after-restore"), 0);
	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_eq(check(h.dir, out, sizeof(out)), 0, "%s", out);
}

/*
 * A cycle and a missing segment written behind vexild's back (it refuses
 * both at write) are named: shop's payments is made to require checkout,
 * which requires payments, and a rule of checkout to name a segment that
 * is not there.
 */
Test(ops, a_stored_prerequisite_cycle_and_a_missing_segment_are_named)
{
	MDB_txn *txn;
	MDB_env *env;
	MDB_val k, v;
	uint8_t key[64] = {0, 0, 0, 0, 0, 0, 0, 2}, buf[8192];
	Vexil__V1__Flag *f;
	Vexil__V1__Prerequisite p = VEXIL__V1__PREREQUISITE__INIT, *pp[] = {&p};
	char out[16384], *segs[] = {"ghost"};

	cr_assert_eq(ctl("project create shop"), 0);
	cr_assert_eq(ctl("flag create --project shop payments"), 0);
	cr_assert_eq(ctl("flag create --project shop checkout"), 0);
	cr_assert_eq(
	    ctl("flag require --project shop checkout --env production payments"), 0);
	cr_assert_eq(
	    ctl("rule add --project shop checkout --env staging --variant on"), 0);
	env = open_env(&txn);

	memcpy(key + 8, "payments", 8);
	k.mv_size = 16;
	k.mv_data = key;
	cr_assert_eq(mdb_get(txn, dbi(txn, "flags"), &k, &v), 0);
	cr_assert_not_null(f = vexil__v1__flag__unpack(NULL, v.mv_size, v.mv_data));
	p.flag_key = "checkout";
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, "production") == 0) {
			f->envs[i]->prerequisites = pp;
			f->envs[i]->n_prerequisites = 1;
		}
	cr_assert_lt(vexil__v1__flag__get_packed_size(f), sizeof(buf));
	v.mv_size = vexil__v1__flag__pack(f, buf);
	v.mv_data = buf;
	for (size_t i = 0; i < f->n_envs; i++) { /* not ours to free */
		f->envs[i]->prerequisites = NULL;
		f->envs[i]->n_prerequisites = 0;
	}
	vexil__v1__flag__free_unpacked(f, NULL);
	cr_assert_eq(mdb_put(txn, dbi(txn, "flags"), &k, &v, 0), 0);

	memcpy(key + 8, "checkout", 8);
	cr_assert_eq(mdb_get(txn, dbi(txn, "flags"), &k, &v), 0);
	cr_assert_not_null(f = vexil__v1__flag__unpack(NULL, v.mv_size, v.mv_data));
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, "staging") == 0) {
			cr_assert_eq(f->envs[i]->n_rules, 1);
			f->envs[i]->rules[0]->segments = segs;
			f->envs[i]->rules[0]->n_segments = 1;
			v.mv_size = vexil__v1__flag__pack(f, buf);
			v.mv_data = buf;
			f->envs[i]->rules[0]->segments = NULL;
			f->envs[i]->rules[0]->n_segments = 0;
		}
	vexil__v1__flag__free_unpacked(f, NULL);
	cr_assert_eq(mdb_put(txn, dbi(txn, "flags"), &k, &v, 0), 0);
	close_env(env, txn);

	cr_assert_eq(check(h.dir, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "cycle: ") != NULL, "%s", out);
	cr_assert(strstr(out, "in production") != NULL, "%s", out);
	cr_assert(
	    strstr(out, "names segment ghost, which does not exist") != NULL, "%s", out);
	/* vexild still starts and serves: the cycle's flags serve ERROR. */
	vx_harness_restart(&h);
	cr_assert_eq(ctl("eval --project shop --env production checkout"), 0);
}
