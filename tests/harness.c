/*
 * Vexil tests — the vexild harness: see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const *saved_extra;
static const char *saved_tls[5];  /* --tls-cert FILE --tls-key FILE, or none */

int
vx_free_port(void)
{
	/* The kernel may hand a just-closed port out again at once, so two
	 * calls in a row could name the same port: remember the recent ones. */
	static int recent[64];
	static unsigned next;
	int port;
	bool again;

	do {
		struct sockaddr_in a = {0};
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert(fd >= 0);
		cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
		cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
		port = ntohs(a.sin_port);
		close(fd);
		again = false;
		for (size_t i = 0; i < sizeof(recent) / sizeof(recent[0]); i++)
			again |= recent[i] == port;
	} while (again);
	recent[next++ % (sizeof(recent) / sizeof(recent[0]))] = port;
	return port;
}

pid_t
vx_spawn(const char *const *argv, const char *log)
{
	pid_t pid = fork();
	int fd;

	cr_assert(pid >= 0);
	if (pid == 0) {
		/* The child dies with the test (strictly: with the thread that
		 * started it), and keeps off the test's stdout. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

void
vx_harness_jwt_secret(vx_harness *h, uint8_t out[32])
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {10, "jwt.secret"}, v;

	cr_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 32);
	cr_assert(mdb_env_open(env, h->dir, MDB_RDONLY, 0600) == 0);
	cr_assert(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
	cr_assert(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
	cr_assert(mdb_get(txn, dbi, &k, &v) == 0);
	cr_assert_eq(v.mv_size, 32);
	memcpy(out, v.mv_data, 32);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

static void
spawn(vx_harness *h)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = VX_VEXILD_PATH;
	argv[n++] = "--data";
	argv[n++] = h->dir;
	argv[n++] = "--rpc";
	argv[n++] = h->rpc;
	argv[n++] = "--pub";
	argv[n++] = h->pub;
	for (const char *const *e = saved_tls; *e && n < 30; e++)
		argv[n++] = *e;
	for (const char *const *e = saved_extra; e && *e && n < 30; e++)
		argv[n++] = *e;
	argv[n] = NULL;
	h->pid = vx_spawn(argv, h->log);
}

static void
wait_ready(vx_harness *h)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_status st;
	FILE *f;

	/* The key file appears once the first start has committed. */
	for (int i = 0; i < 500; i++) {
		char path[300];
		snprintf(path, sizeof(path), "%s/admin.key", h->dir);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(h->key, sizeof(h->key), f))
				h->key[strcspn(h->key, "\n")] = '\0';
			fclose(f);
			if (h->key[0])
				break;
		}
		usleep(10000);
	}
	cr_assert(h->key[0], "vexild wrote no admin.key (see %s)", h->log);
	if (h->admin == NULL)
		h->admin = vx_harness_client(h, h->key);
	/* Short calls while waiting, and stop at once if vexild has died. */
	vx_client_set_timeout(h->admin, 500);
	for (int i = 0; i < 200; i++) {
		int status;
		if (vx_list_projects(h->admin, &in, &out, &st) == 0) {
			vx_free(out);
			vx_client_set_timeout(h->admin, 10000);
			return;
		}
		cr_assert(waitpid(h->pid, &status, WNOHANG) != h->pid,
		    "vexild exited during start-up (see %s)", h->log);
		usleep(20000);
	}
	cr_assert_fail("vexild did not answer (see %s)", h->log);
}

static void
start(vx_harness *h, const char *scheme, const char *const *extra_args)
{
	saved_extra = extra_args;
	if (h->dir[0] == '\0') {
		snprintf(h->dir, sizeof(h->dir), "/tmp/vexil-test-XXXXXX");
		cr_assert(mkdtemp(h->dir) != NULL);
	}
	snprintf(h->log, sizeof(h->log), "%s.log", h->dir);
	snprintf(h->rpc, sizeof(h->rpc), "%s://127.0.0.1:%d", scheme, vx_free_port());
	snprintf(h->pub, sizeof(h->pub), "%s://127.0.0.1:%d", scheme, vx_free_port());
	spawn(h);
	wait_ready(h);
}

void
vx_harness_start(vx_harness *h, const char *const *extra_args)
{
	memset(h, 0, sizeof(*h));
	saved_tls[0] = NULL;
	start(h, "tcp", extra_args);
}

void
vx_harness_start_in(vx_harness *h, const char *dir, const char *const *extra_args)
{
	memset(h, 0, sizeof(*h));
	saved_tls[0] = NULL;
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	start(h, "tcp", extra_args);
}

void
vx_harness_start_tls(vx_harness *h, const char *cert, const char *key, const char *ca,
    const char *const *extra_args)
{
	memset(h, 0, sizeof(*h));
	saved_tls[0] = "--tls-cert";
	saved_tls[1] = cert;
	saved_tls[2] = "--tls-key";
	saved_tls[3] = key;
	saved_tls[4] = NULL;
	snprintf(h->tls_ca, sizeof(h->tls_ca), "%s", ca);
	start(h, "tls+tcp", extra_args);
}

void
vx_harness_restart(vx_harness *h)
{
	spawn(h);
	wait_ready(h);
}

int
vx_harness_stop(vx_harness *h)
{
	int status = 0;

	if (h->pid <= 0)
		return -1;
	kill(h->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
	return -1;
}

void
vx_harness_fini(vx_harness *h)
{
	char cmd[600];

	if (h->pid > 0)
		vx_harness_stop(h);
	vx_client_close(h->admin);
	h->admin = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", h->dir, h->log);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h->dir);
}

vx_client *
vx_harness_client(vx_harness *h, const char *credential)
{
	vx_client_opts o = {.credential = credential, .timeout_ms = 10000};
	vx_status st;
	vx_client *c;

	o.tls_ca = h->tls_ca[0] ? h->tls_ca : NULL;
	o.status = &st;
	cr_assert(vx_client_open(&c, h->rpc, &o) == 0, "%s", st.message);
	return c;
}

void
vx_harness_key(vx_harness *h, const char *project, Vexil__V1__Role role, char *out,
    size_t cap)
{
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *k;
	vx_status st;

	in.name = "test";
	in.project = (char *)(project ? project : "");
	in.role = role;
	cr_assert(vx_create_api_key(h->admin, &in, &k, &st) == 0, "%s", st.message);
	snprintf(out, cap, "%s", k->secret);
	vx_free(k);
}

int
vx_harness_ctl(vx_harness *h, char *out, size_t cap, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	size_t n = 0, got;
	va_list ap;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --rpc %s --key %s %s 2>&1", VX_VEXILCTL_PATH,
	    h->rpc, h->key, args);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	/* Read to the end, so the child never blocks on a full pipe. */
	while ((got = fread(out + n, 1, cap - 1 - n, p)) > 0)
		if ((n += got) + 1 == cap)
			n = 0;
	out[n] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void
vx_harness_need_node(const char *web_dir, const char *const *packages, size_t n)
{
	char path[512];
	FILE *p = popen("command -v node", "r");

	cr_assert(p && fgets(path, sizeof(path), p) != NULL,
	    "node is not on PATH: ./tools/dev installs it");
	pclose(p);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/node_modules/%s/package.json", web_dir,
		    packages[i]);
		cr_assert(access(path, R_OK) == 0,
		    "%s is missing from %s/node_modules: run ./tools/dev to install it",
		    packages[i], web_dir);
	}
}

uint64_t
vx_project_revision(vx_client *c, const char *project)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	uint64_t rev;

	in.project = (char *)project;
	cr_assert(vx_get_project(c, &in, &p, &st) == 0, "GetProject %s: %s", project,
	    st.message);
	rev = p->revision;
	vx_free(p);
	return rev;
}
