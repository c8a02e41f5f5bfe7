/*
 * Vexil integration tests: tls+tcp:// for vexild's RPC and PUB sockets.
 *
 * Each test makes a fresh self-signed certificate with the openssl CLI (it
 * is its own CA), starts vexild with both sockets on tls+tcp://, and talks
 * to it through libvexil, a watch, vexilctl and the gateway. A second,
 * unrelated certificate plays the wrong CA.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "vexil_watch.h"

static vx_harness h;
static char dir[64];
static char cert[128], key[128], other[128], other_key[128];

static void
make_cert(const char *crt, const char *k, const char *subject)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout '%s' -out '%s' -days 1 -subj '%s' "
	    "-addext 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1' "
	    ">/dev/null 2>&1",
	    k, crt, subject);
	cr_assert(system(cmd) == 0, "openssl could not make a test certificate");
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vexil-tls-XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(other, sizeof(other), "%s/other.pem", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	make_cert(cert, key, "/CN=127.0.0.1");
	make_cert(other, other_key, "/CN=127.0.0.1/O=someone else");
	unsetenv("VEXIL_TLS_CA");
	vx_harness_start_tls(&h, cert, key, cert, NULL);
}

static void
teardown(void)
{
	char cmd[128];
	int rc = vx_harness_stop(&h);

	cr_assert_eq(rc, 0, "vexild did not stop cleanly (see %s)", h.log);
	vx_harness_fini(&h);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 120);

/* The harness's admin client still answers: vexild kept serving. */
static void
assert_serving(void)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.project = "default";
	cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	cr_assert_str_eq(p->name, "default");
	vx_free(p);
}

static int
open_client(const char *url, const char *ca, vx_client **c, vx_status *st)
{
	vx_client_opts o = {.credential = h.key, .timeout_ms = 2000, .tls_ca = ca,
		.status = st};
	return vx_client_open(c, url, &o);
}

Test(tls, rpcs_work_with_the_right_ca)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_client *c;
	vx_status st;

	cr_assert(strncmp(h.rpc, "tls+tcp://", 10) == 0);
	cr_assert(open_client(h.rpc, cert, &c, &st) == 0, "%s", st.message);
	in.project = "default";
	f.key = "over-tls";
	f.name = "Over TLS";
	in.flag = &f;
	cr_assert(vx_create_flag(c, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_str_eq(out->key, "over-tls");
	vx_free(out);
	vx_client_close(c);
}

Test(tls, the_ca_can_come_from_vexil_tls_ca)
{
	vx_client *c;
	vx_status st;

	setenv("VEXIL_TLS_CA", cert, 1);
	cr_assert(open_client(h.rpc, NULL, &c, &st) == 0, "%s", st.message);
	vx_client_close(c);
}

Test(tls, a_client_without_a_ca_is_refused_with_a_clear_error)
{
	vx_client *c = NULL;
	vx_status st;

	cr_assert_eq(open_client(h.rpc, NULL, &c, &st), VX_EINVAL);
	cr_assert_null(c);
	cr_assert(strstr(st.message, "needs a CA file") != NULL, "%s", st.message);
	cr_assert(strstr(st.message, "VEXIL_TLS_CA") != NULL, "%s", st.message);
	/* An unreadable CA file names the file. */
	cr_assert_eq(open_client(h.rpc, "/nonexistent/ca.pem", &c, &st), VX_EINVAL);
	cr_assert(strstr(st.message, "/nonexistent/ca.pem") != NULL, "%s", st.message);
	/* A file that is no certificate is refused too. */
	cr_assert_eq(open_client(h.rpc, h.log, &c, &st), VX_EINVAL);
	cr_assert(strstr(st.message, "no usable PEM certificate") != NULL, "%s",
	    st.message);
	assert_serving();
}

Test(tls, a_client_with_the_wrong_ca_fails_and_vexild_keeps_serving)
{
	vx_client *c = NULL;
	vx_status st;

	cr_assert_eq(open_client(h.rpc, other, &c, &st), VX_EAUTH, "%s", st.message);
	cr_assert_null(c);
	cr_assert(strstr(st.message, "TLS handshake") != NULL, "%s", st.message);
	assert_serving();
	/* The right CA but a name the certificate does not carry. */
	vx_client_opts o = {.credential = h.key, .tls_ca = cert,
		.tls_server_name = "vexil.example.com", .status = &st};
	cr_assert_eq(vx_client_open(&c, h.rpc, &o), VX_EAUTH, "%s", st.message);
	assert_serving();
}

Test(tls, a_plain_tcp_client_gets_nothing_from_the_tls_port)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out = NULL;
	char url[1100];
	vx_client *c;
	vx_status st;
	int rc;

	snprintf(url, sizeof(url), "tcp://%s", h.rpc + strlen("tls+tcp://"));
	cr_assert(open_client(url, NULL, &c, &st) == 0, "%s", st.message);
	vx_client_set_timeout(c, 1000);
	rc = vx_list_projects(c, &in, &out, &st);
	cr_assert(rc == VX_ETIMEDOUT || rc == VX_ECLOSED, "rc %d: %s", rc, st.message);
	cr_assert_null(out);
	vx_client_close(c);
	assert_serving();
}

struct seen {
	atomic_int changes;
	char key[64];
};

static void
on_change(void *arg, const Vexil__V1__Change *ch, const Vexil__V1__Flag *f)
{
	struct seen *s = arg;

	if (f != NULL && ch->kind != VEXIL__V1__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED) {
		snprintf(s->key, sizeof(s->key), "%s", f->key);
		atomic_fetch_add(&s->changes, 1);
	}
}

Test(tls, a_watch_receives_changes_over_tls)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	struct seen s = {0};
	/* A long poll: the change must come from the PUB notice. */
	vx_watch_opts o = {.rpc_url = h.rpc, .pub_url = h.pub, .credential = h.key,
		.project = "default", .on_change = on_change, .arg = &s,
		.poll_ms = 60000, .tls_ca = cert};
	vx_watch *w;
	vx_status st;

	cr_assert(vx_watch_start(&w, &o, &st) == 0, "%s", st.message);
	in.project = "default";
	f.key = "watched";
	f.name = "Watched";
	in.flag = &f;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	for (int i = 0; i < 1000 && atomic_load(&s.changes) == 0; i++)
		usleep(10000);
	cr_assert_gt(atomic_load(&s.changes), 0, "no change arrived over tls+tcp://");
	cr_assert_str_eq(s.key, "watched");
	vx_watch_stop(w);

	/* The SUB side checks the certificate too. */
	o.tls_ca = other;
	cr_assert_neq(vx_watch_start(&w, &o, &st), 0);
	cr_assert(strstr(st.message, "TLS handshake") != NULL, "%s", st.message);
}

static int
run(const char *const *argv, const char *log)
{
	int status;
	pid_t pid = vx_spawn(argv, log);

	cr_assert(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool
file_has(const char *path, const char *needle)
{
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

Test(tls, vexilctl_takes_tls_ca_and_vexil_tls_ca)
{
	char log[128];
	const char *with[] = {VX_VEXILCTL_PATH, "--rpc", h.rpc, "--key", h.key,
		"--tls-ca", cert, "project", "get", "default", NULL};
	const char *without[] = {VX_VEXILCTL_PATH, "--rpc", h.rpc, "--key", h.key,
		"project", "get", "default", NULL};

	snprintf(log, sizeof(log), "%s/ctl.log", dir);
	cr_assert_eq(run(with, log), 0);
	cr_assert_eq(run(without, log), 1);
	cr_assert(file_has(log, "needs a CA file"));
	setenv("VEXIL_TLS_CA", cert, 1);
	cr_assert_eq(run(without, log), 0);
}

Test(tls, vexild_refuses_missing_or_bad_certificate_files)
{
	char log[128], data[128], junk[128], rpc[64], pub[64];
	FILE *f;

	snprintf(log, sizeof(log), "%s/bad.log", dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
	snprintf(rpc, sizeof(rpc), "tls+tcp://127.0.0.1:%d", vx_free_port());
	snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", vx_free_port());
	cr_assert((f = fopen(junk, "w")) != NULL);
	fputs("not a certificate\n", f);
	fclose(f);

	const char *none[] = {VX_VEXILD_PATH, "--data", data, "--rpc", rpc, "--pub", pub,
		NULL};
	cr_assert_eq(run(none, log), 2);
	cr_assert(file_has(log, "needs --tls-cert FILE and --tls-key FILE"));

	const char *missing[] = {VX_VEXILD_PATH, "--data", data, "--rpc", rpc, "--pub",
		pub, "--tls-cert", "/nonexistent/cert.pem", "--tls-key", key, NULL};
	cr_assert_eq(run(missing, log), 1);
	cr_assert(file_has(log, "--tls-cert /nonexistent/cert.pem: cannot read"));
	cr_assert(!file_has(log, "serving"), "vexild must not start");

	const char *bad[] = {VX_VEXILD_PATH, "--data", data, "--rpc", rpc, "--pub", pub,
		"--tls-cert", cert, "--tls-key", junk, NULL};
	cr_assert_eq(run(bad, log), 1);
	cr_assert(file_has(log, "--tls-key"));
	cr_assert(file_has(log, "not a PEM private key"));

	/* A key that is not the certificate's. */
	const char *pair[] = {VX_VEXILD_PATH, "--data", data, "--rpc", rpc, "--pub", pub,
		"--tls-cert", cert, "--tls-key", other_key, NULL};
	cr_assert_eq(run(pair, log), 1);
	cr_assert(file_has(log, "is not the key of the certificate"));

	const char *plain[] = {VX_VEXILD_PATH, "--data", data, "--rpc",
		"tcp://127.0.0.1:1", "--pub", pub, "--tls-cert", cert, "--tls-key", key, NULL};
	cr_assert_eq(run(plain, log), 2);
	cr_assert(file_has(log, "need a tls+tcp://"));
	assert_serving();
}

Test(tls, the_gateway_reaches_vexild_over_tls_with_vexil_tls_ca)
{
	char url[200];
	vx_gateway g;
	vx_http_res r;

	setenv("VEXIL_TLS_CA", cert, 1);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	snprintf(url, sizeof(url), "%s/auth/register", g.base);
	vx_http_req rq = {.method = "POST", .url = url,
		.body = "{\"email\":\"tls@example.com\",\"password\":\"secret-pw-123\"}"};
	r = vx_http(&rq);
	cr_assert_eq(r.status, 201, "status %ld: %s (see %s)", r.status,
	    r.body ? r.body : "", g.log);
	vx_http_res_free(&r);
	cr_assert_eq(vx_gateway_stop(&g), 0);
	unlink(g.log);
}

Test(tls, the_gateway_takes_rpc_tls_ca)
{
	const char *extra[] = {"--rpc-tls-ca", cert, NULL};
	char url[200];
	vx_gateway g;
	vx_http_res r;

	unsetenv("VEXIL_TLS_CA");
	vx_gateway_start(&g, &h, NULL, extra, NULL);
	snprintf(url, sizeof(url), "%s/auth/register", g.base);
	vx_http_req rq = {.method = "POST", .url = url,
		.body = "{\"email\":\"ca@example.com\",\"password\":\"secret-pw-123\"}"};
	r = vx_http(&rq);
	cr_assert_eq(r.status, 201, "status %ld: %s (see %s)", r.status,
	    r.body ? r.body : "", g.log);
	vx_http_res_free(&r);
	cr_assert_eq(vx_gateway_stop(&g), 0);
	unlink(g.log);
}
