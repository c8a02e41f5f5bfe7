/*
 * Vexil tests — vexilctl as a newcomer meets it.
 *
 * Runs the vexilctl binary of this build against a real vexild: help on
 * every command, --version, the messages for a mistyped option or command,
 * an unreachable vexild, the toggle, how times, types, keys and watch lines
 * read, and a backup whose directory is missing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

VX_SERVER_SUITE(ctl, 120);

static char out[65536];

/* Runs vexilctl against h with the admin key, stdout and stderr into out;
 * returns its exit status. */
static int VX_PRINTF(1, 2) ctl(const char *fmt, ...)
{
	char args[1024], cmd[2048];
	size_t n;
	va_list ap;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "VEXIL_RPC=%s VEXIL_KEY=%s %s %s 2>&1", h.rpc, h.key,
	    VX_VEXILCTL_PATH, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(ctl, every_command_and_noun_prints_its_usage_on_help_and_exits_0)
{
	static const char *const forms[] = {"--help", "help", "flag --help",
	    "flag create --help", "flag toggle --help", "project --help", "eval --help",
	    "watch --help", "sdk-key revoke --help", "help flag", "help rule add",
	    "flag get --project x --help"};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		cr_assert_eq(ctl("%s", forms[i]), 0, "vexilctl %s: %s", forms[i], out);
		cr_assert(strstr(out, "usage: vexilctl") != NULL, "vexilctl %s: %s",
		    forms[i], out);
	}
	ctl("flag create --help");
	cr_assert(strstr(out, "--variant KEY=JSON") != NULL, "%s", out);
	ctl("flag --help");
	cr_assert(strstr(out, "flag toggle") != NULL, "%s", out);
}

/* The first line binary --version prints; it must exit 0. */
static const char *
version_of(const char *binary)
{
	static char line[256];
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s --version", binary);
	p = popen(cmd, "r");
	cr_assert_not_null(fgets(line, sizeof(line), p));
	cr_assert_eq(pclose(p), 0);
	return line;
}

Test(ctl, all_three_binaries_print_the_projects_version)
{
	cr_assert_str_eq(version_of(VX_VEXILCTL_PATH), "vexilctl " VX_VERSION "\n");
	cr_assert_str_eq(version_of(VX_VEXILD_PATH), "vexild " VX_VERSION "\n");
	cr_assert_str_eq(version_of(VX_GATEWAY_PATH), "vexil-gateway " VX_VERSION "\n");
}

Test(ctl, an_unknown_option_names_itself_and_suggests_the_closest)
{
	cr_assert_eq(ctl("flag get --project default average_user --jsn"), 2);
	cr_assert(strstr(out, "unknown option --jsn") != NULL, "%s", out);
	cr_assert(strstr(out, "did you mean --json?") != NULL, "%s", out);
	cr_assert_eq(
	    ctl("flag enable --project default average_user --evn production"), 2);
	cr_assert(strstr(out, "did you mean --env?") != NULL, "%s", out);
	cr_assert_eq(ctl("--rcp tcp://x project list"), 2);
	cr_assert(
	    strstr(out, "unknown option --rcp; did you mean --rpc?") != NULL, "%s", out);
}

Test(ctl, an_unknown_command_names_itself_and_suggests_the_closest)
{
	cr_assert_eq(ctl("flg list --project default"), 2);
	cr_assert(
	    strstr(out, "unknown command flg; did you mean flag?") != NULL, "%s", out);
	cr_assert_eq(ctl("flag crate --project default x"), 2);
	cr_assert(
	    strstr(out, "unknown command flag crate; did you mean flag create?") != NULL,
	    "%s", out);
	cr_assert_eq(ctl("help flag crate"), 2);
	cr_assert(strstr(out, "did you mean flag create?") != NULL, "%s", out);
}

Test(ctl, an_unreachable_vexild_is_named_at_once_not_after_the_timeout)
{
	char want[128];
	int port = vx_free_port();

	/* A ten-minute timeout: were it waited for, the suite's would fail. */
	cr_assert_eq(
	    ctl("--rpc tcp://127.0.0.1:%d --timeout 600000 project list", port), 1);
	snprintf(want, sizeof(want),
	    "cannot connect to tcp://127.0.0.1:%d: connection refused", port);
	cr_assert(strstr(out, want) != NULL, "%s", out);
}

Test(ctl, toggle_flips_a_flag_in_one_environment)
{
	cr_assert_eq(
	    ctl("flag toggle --project default average_user --env staging --json"), 0);
	cr_assert(strstr(out, "{\"environment\":\"staging\",\"enabled\":false") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "{\"environment\":\"production\",\"enabled\":true") != NULL,
	    "%s", out);
	cr_assert_eq(ctl("flag toggle --project default average_user --env staging"), 0);
	cr_assert(strstr(out, "env staging: on") != NULL, "%s", out);
}

/* Whether s holds an RFC 3339 UTC time with milliseconds. */
static bool
has_time(const char *s)
{
	for (; *s; s++) {
		int y, mo, d, hh, mm, ss, ms;
		char z;
		if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &hh, &mm, &ss,
		        &ms, &z) == 8 &&
		    z == 'Z' && y >= 2020)
			return true;
	}
	return false;
}

Test(ctl, times_types_and_keys_read_as_people_write_them)
{
	cr_assert_eq(ctl("flag get --project default average_user --json"), 0);
	cr_assert(strstr(out, "\"type\":\"boolean\"") != NULL, "%s", out);
	cr_assert(strstr(out, "\"created_at\":\"") != NULL && has_time(out), "%s", out);
	cr_assert_eq(ctl("flag get --project default average_user"), 0);
	cr_assert(
	    strstr(out, "type:        boolean") != NULL && has_time(out), "%s", out);
	/* Environments in one order: by key. */
	cr_assert(strstr(out, "env development") < strstr(out, "env production") &&
	              strstr(out, "env production") < strstr(out, "env staging"),
	    "%s", out);
	cr_assert_eq(ctl("key list"), 0);
	cr_assert(strncmp(out, "ID ", 3) == 0, "a header line: %s", out);
	cr_assert(strstr(out, " global ") != NULL, "%s", out);
	cr_assert_eq(ctl("key list --json"), 0);
	cr_assert(strstr(out, "\"role\":\"admin\"") != NULL, "%s", out);
	cr_assert_eq(ctl("audit --project default"), 0);
	cr_assert(strncmp(out, "TIME ", 5) == 0 && has_time(out), "%s", out);
}

Test(ctl, a_backup_into_a_missing_directory_says_so)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "%s/no/such/dir", h.dir);
	cr_assert_eq(ctl("backup %s/b.mdb", dir), 1);
	cr_assert(strstr(out, "does not exist") != NULL, "%s", out);
	cr_assert(strstr(out, dir) != NULL, "%s", out);
}

Test(ctl, watch_lines_carry_the_time_and_the_new_state)
{
	char log[300], line[1024];
	const char *argv[] = {VX_VEXILCTL_PATH, "--rpc", h.rpc, "--pub", h.pub, "--key",
	    h.key, "watch", NULL};
	bool seen = false;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/watch.log", h.dir);
	pid = vx_spawn(argv, log);
	/* Toggle until the watch prints the change: it may subscribe late. */
	while (!seen) {
		FILE *f;
		cr_assert_eq(
		    ctl("flag disable --project default admin_super --env production"),
		    0);
		usleep(100 * 1000);
		if ((f = fopen(log, "r")) == NULL)
			continue;
		while (!seen && fgets(line, sizeof(line), f))
			seen = strstr(line, "admin_super production off") != NULL;
		fclose(f);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_assert(has_time(line), "%s", line);
}

/*
 * A second vexild configured by VEXIL_* variables, with --rpc on the
 * command line overriding VEXIL_RPC: it serves where the command line
 * says, keeps its data where the environment says, and logs JSON.
 */
Test(ctl, vexild_takes_options_from_the_environment_and_the_command_line_wins)
{
	char data[280], log[300], env_rpc[64], rpc[64], pub[64], key[300];
	size_t n;
	const char *argv[] = {VX_VEXILD_PATH, "--rpc", rpc, NULL};
	FILE *f;
	pid_t pid;
	int rc;

	snprintf(data, sizeof(data), "%.256s/env-data", h.dir);
	snprintf(log, sizeof(log), "%s/env.log", h.dir);
	snprintf(env_rpc, sizeof(env_rpc), "tcp://127.0.0.1:%d", vx_free_port());
	snprintf(rpc, sizeof(rpc), "tcp://127.0.0.1:%d", vx_free_port());
	snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", vx_free_port());
	setenv("VEXIL_DATA", data, 1);
	setenv("VEXIL_RPC", env_rpc, 1);
	setenv("VEXIL_PUB", pub, 1);
	setenv("VEXIL_LOG_FORMAT", "json", 1);
	setenv("VEXIL_QUIET", "1", 1);
	pid = vx_spawn(argv, log);
	snprintf(key, sizeof(key), "%.280s/admin.key", data);
	/* Wait until it has written its key and answers on --rpc. */
	do {
		char cmd[1024];
		usleep(50 * 1000);
		if (access(key, R_OK) != 0)
			continue;
		snprintf(cmd, sizeof(cmd),
		    "%s --rpc %s --key $(cat %s) project list >/dev/null 2>&1",
		    VX_VEXILCTL_PATH, rpc, key);
		rc = system(cmd);
	} while (access(key, R_OK) != 0 || rc != 0);
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &rc, 0), pid);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	f = fopen(log, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	cr_assert(strncmp(out, "{\"time\":\"", 9) == 0, "JSON log lines: %s", out);
	cr_assert(strstr(out, rpc) != NULL, "serves on --rpc: %s", out);
	cr_assert(strstr(out, env_rpc) == NULL, "not on VEXIL_RPC: %s", out);
	cr_assert(strstr(out, pub) != NULL, "publishes on VEXIL_PUB: %s", out);
}

/* --stickiness/--group are the rollout's, or the split's without one. */
Test(ctl, rule_add_sets_the_rollout_and_split_stickiness)
{
	cr_assert_eq(ctl("flag create --project default banner --type string "
	                 "--variant blue='\"blue\"' --variant red='\"red\"'"),
	    0, "%s", out);
	cr_assert_eq(
	    ctl("rule add --project default banner --env production --rollout 25 "
	        "--stickiness account --group accounts --split blue=1,red=1 "
	        "--split-stickiness user_id --split-group colours --json"),
	    0, "%s", out);
	cr_assert(strstr(out, "\"stickiness\":\"account\"") != NULL, "%s", out);
	cr_assert(strstr(out, "\"group_id\":\"accounts\"") != NULL, "%s", out);
	cr_assert(strstr(out, "\"split_stickiness\":\"user_id\"") != NULL, "%s", out);
	cr_assert(strstr(out, "\"split_group_id\":\"colours\"") != NULL, "%s", out);
	cr_assert_eq(ctl("rule add --project default banner --env production "
	                 "--split blue=1,red=1 --stickiness email --json"),
	    0, "%s", out);
	cr_assert(strstr(out, "\"split_stickiness\":\"email\"") != NULL, "%s", out);
	cr_assert_eq(
	    ctl("rule add --project default banner --env production --variant red "
	        "--stickiness email"),
	    2, "%s", out);
	cr_assert(strstr(out, "need --rollout or --split") != NULL, "%s", out);
}

Test(ctl, a_protected_environment_turns_a_write_into_a_change_request)
{
	char key[200];
	const char *at;
	unsigned long long id = 0;

	cr_assert_eq(ctl("env protect --project default production"), 0, "%s", out);
	cr_assert(strstr(out, "[protected]") != NULL, "%s", out);
	vx_harness_key(&h, "default", VEXIL__V1__ROLE__ROLE_WRITE, key, sizeof(key));
	cr_assert_eq(ctl("flag disable --project default average_user --env production "
	                 "--key %s",
	                 key),
	    1, "%s", out);
	cr_assert_not_null(at = strstr(out, "change request "), "%s", out);
	cr_assert_eq(sscanf(at, "change request %llu opened", &id), 1, "%s", out);
	cr_assert_eq(ctl("change list --project default"), 0, "%s", out);
	cr_assert(
	    strstr(out, "SetFlagEnabled") != NULL && strstr(out, "production") != NULL,
	    "%s", out);
	cr_assert_eq(
	    ctl("change comment %llu --text 'after the release'", id), 0, "%s", out);
	cr_assert_eq(ctl("change show %llu --project default", id), 0, "%s", out);
	cr_assert(strstr(out, "\"key\":\"average_user\"") != NULL, "the write: %s", out);
	cr_assert(strstr(out, "after the release") != NULL, "%s", out);
	cr_assert_eq(ctl("change approve %llu --key %s", id, key), 1, "%s", out);
	cr_assert(strstr(out, "another member") != NULL, "%s", out);
	cr_assert_eq(ctl("change approve %llu", id), 0, "%s", out);
	cr_assert(strstr(out, "approved and applied") != NULL, "%s", out);
	cr_assert_eq(ctl("flag get --project default average_user"), 0, "%s", out);
	cr_assert(strstr(out, "production: off") != NULL, "%s", out);
	cr_assert_eq(ctl("env protect --project default production --off"), 0, "%s", out);
	cr_assert(strstr(out, "[protected]") == NULL, "%s", out);
}
