/*
 * Vexil tests — storage faults, against the real vexild and gateway.
 *
 * - A full disk: the data dir is a small tmpfs the test mounts (skipped
 *   when mount(2) is not permitted), filled through writes. The refusal
 *   is RESOURCE_EXHAUSTED naming the full device (507 in each dialect's
 *   error format at the gateway), reads go on, and once a ballast file
 *   is deleted writes commit again without a restart.
 *   The shim below can also fail LMDB's page writes with ENOSPC, which
 *   tests the same refusal where mounting is not allowed.
 * - A failed sync: fault_shim.so, preloaded into vexild, makes fsync,
 *   fdatasync and msync fail while a file in the data dir exists. Several
 *   clients write meanwhile; no write that failed may be acknowledged,
 *   writes stay refused (UNAVAILABLE) until a restart, reads go on, and
 *   after the restart every acknowledged write is there and no refused
 *   one is.
 * - A data dir made read-only, or removed: writes are refused saying so,
 *   reads go on, vexild keeps running and stops cleanly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;
static char mnt[64]; /* a tmpfs this test mounted, or "" */

static void
teardown(void)
{
	if (g.pid > 0)
		vx_gateway_stop(&g);
	if (g.log[0])
		unlink(g.log);
	if (h.pid > 0)
		vx_harness_stop(&h);
	if (h.dir[0])
		chmod(h.dir, 0700);
	if (mnt[0] && umount(mnt) != 0)
		fprintf(stderr, "cannot unmount %s: %s\n", mnt, strerror(errno));
	vx_harness_fini(&h);
	if (mnt[0])
		rmdir(mnt);
}

TestSuite(storage, .fini = teardown, .timeout = 240);

/* Creates flag key in `default` with a name of name_len bytes. */
static int
create_flag(vx_client *c, const char *key, size_t name_len, vx_status *st)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out = NULL;
	char name[9000];
	int rc;

	if (name_len >= sizeof(name))
		name_len = sizeof(name) - 1;
	memset(name, 'n', name_len);
	name[name_len] = '\0';
	f.key = (char *)key;
	f.name = name_len ? name : NULL;
	in.project = "default";
	in.flag = &f;
	memset(st, 0, sizeof(*st));
	rc = vx_create_flag(c, &in, &out, st);
	if (rc == 0)
		vx_free(out);
	return rc;
}

/* Reads flag key of `default`: 0, or the call's error with st filled. */
static int
get_flag(vx_client *c, const char *key, vx_status *st)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out = NULL;
	int rc;

	in.project = "default";
	in.key = (char *)key;
	memset(st, 0, sizeof(*st));
	rc = vx_get_flag(c, &in, &out, st);
	if (rc == 0)
		vx_free(out);
	return rc;
}

static void
expect_present(vx_client *c, const char *key)
{
	vx_status st;

	cr_assert_eq(get_flag(c, key, &st), 0, "flag %s is missing: %s %s", key,
	    vx_code_name(st.code), st.message);
}

/* Runs `vexild --check` on dir: its exit status, its output in out. */
static int
check_dir(const char *dir, char *out, size_t cap)
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

/* vexild's log so far, in a static buffer. */
static const char *
vexild_log(void)
{
	static char buf[1 << 16];
	FILE *f = fopen(h.log, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* A gateway request with the admin key. */
static vx_http_res
gw(const char *method, const char *path, const char *body)
{
	const char *hdrs[] = {vx_fmt("Authorization: ApiKey %s", h.key),
	    "Content-Type: application/json", NULL};
	vx_http_req req = {.method = method,
	    .url = vx_fmt("%s%s", g.base, path),
	    .headers = hdrs,
	    .body = body};

	return vx_http(&req);
}

static const char *
json_str(const cJSON *o, const char *path0, const char *path1)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path0);

	if (path1 != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, path1);
	return cJSON_IsString(v) ? v->valuestring : "";
}

#define FULL_MAX 3000

Test(storage, a_full_disk_is_refused_by_name_and_writes_resume_when_space_returns)
{
	static bool acked[FULL_MAX];
	char ballast[128], key[32], pad[1500], out[8192];
	vx_status st;
	vx_http_res r;
	int n, nsmall, refused = -1;
	FILE *f;

	snprintf(mnt, sizeof(mnt), "/tmp/vexil-full-XXXXXX");
	cr_assert_not_null(mkdtemp(mnt));
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") != 0) {
		int e = errno;
		rmdir(mnt);
		mnt[0] = '\0';
		cr_skip_test("cannot mount a tmpfs to fill (%s): run as root or with "
		             "CAP_SYS_ADMIN to test a full disk",
		    strerror(e));
	}
	/* 1 MiB that an operator can delete to make room. */
	snprintf(ballast, sizeof(ballast), "%s/ballast", mnt);
	cr_assert_not_null(f = fopen(ballast, "w"));
	for (int i = 0; i < 256; i++) {
		char page[4096];
		memset(page, 'b', sizeof(page));
		cr_assert_eq(fwrite(page, 1, sizeof(page), f), sizeof(page));
	}
	cr_assert_eq(fclose(f), 0);
	vx_harness_start_in(&h, mnt, NULL);

	for (n = 0; n < FULL_MAX; n++) {
		snprintf(key, sizeof(key), "fill-%d", n);
		if (create_flag(h.admin, key, 8000, &st) != 0) {
			refused = n;
			break;
		}
		acked[n] = true;
	}
	cr_assert_geq(refused, 1, "the tmpfs never filled, or the first write failed");
	/* Small writes may still fit in pages LMDB freed: fill those too, so
	 * that the gateway's writes below find no room either. */
	for (nsmall = 0; nsmall < FULL_MAX; nsmall++) {
		snprintf(key, sizeof(key), "s%d", nsmall);
		if (create_flag(h.admin, key, 0, &st) != 0)
			break;
	}
	cr_assert_eq(st.code, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, "got %s: %s",
	    vx_code_name(st.code), st.message);
	cr_assert_eq(st.code, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, "got %s: %s",
	    vx_code_name(st.code), st.message);
	cr_assert_not_null(
	    strstr(st.message, "no space left on the device holding the data dir"), "%s",
	    st.message);
	cr_assert_str_eq(st.constraint, "disk_full");
	cr_assert_not_null(strstr(vexild_log(), "no space left on the device holding"),
	    "vexild's log does not say why");

	/* Reads go on; the refused write left nothing behind. */
	expect_present(h.admin, "fill-0");
	snprintf(key, sizeof(key), "fill-%d", refused);
	cr_assert_eq(get_flag(h.admin, key, &st), VX_ENOTFOUND);

	/* Each dialect answers 507 in its own error format. */
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	memset(pad, 'd', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	r = gw("POST", "/v1/flags",
	    vx_fmt(
	        "{\"key\":\"gw-full\",\"name\":\"Full\",\"description\":\"%s\"}", pad));
	cr_assert_eq(r.status, 507, "platform: %ld %s", r.status, r.body);
	cr_assert_str_eq(
	    json_str(r.json, "error", "code"), "insufficient_storage", "%s", r.body);
	cr_assert_not_null(
	    strstr(json_str(cJSON_GetObjectItem(r.json, "error"), "message", NULL),
	        "no space left"),
	    "%s", r.body);
	vx_http_res_free(&r);
	r = gw("POST", "/feature-toggles/",
	    vx_fmt("{\"name\":\"gw-full\",\"description\":\"%s\"}", pad));
	cr_assert_eq(r.status, 507, "toggles: %ld %s", r.status, r.body);
	cr_assert_not_null(
	    strstr(json_str(r.json, "detail", NULL), "no space left"), "%s", r.body);
	vx_http_res_free(&r);
	r = gw("POST", "/api/feature-flags/",
	    vx_fmt("{\"name_flag\":\"gw_full\",\"strategy\":\"%s\",\"status\":\"beta\","
	           "\"created_by\":1}",
	        pad));
	cr_assert_eq(r.status, 507, "table: %ld %s", r.status, r.body);
	cr_assert_not_null(
	    strstr(json_str(r.json, "detail", NULL), "no space left"), "%s", r.body);
	vx_http_res_free(&r);

	/* The check (next to the serving vexild) warns of the full device. */
	cr_assert_eq(check_dir(h.dir, out, sizeof(out)), 0, "vexild --check: %s", out);
	cr_assert_not_null(
	    strstr(out, "warning: less than 10% of the device"), "%s", out);

	/* Space comes back: the next write commits, with no restart. */
	cr_assert_eq(unlink(ballast), 0);
	cr_assert_eq(create_flag(h.admin, "after-space", 10, &st), 0, "%s: %s",
	    vx_code_name(st.code), st.message);
	r = gw("POST", "/v1/flags", "{\"key\":\"gw-after\",\"name\":\"After\"}");
	cr_assert_eq(r.status, 201, "platform after: %ld %s", r.status, r.body);
	vx_http_res_free(&r);

	/* Every acknowledged write survives a restart, and the data is sound. */
	cr_assert_eq(vx_gateway_stop(&g), 0);
	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_eq(check_dir(h.dir, out, sizeof(out)), 0, "vexild --check: %s", out);
	vx_harness_restart(&h);
	for (int i = 0; i < refused; i++) {
		snprintf(key, sizeof(key), "fill-%d", i);
		cr_assert(acked[i]);
		expect_present(h.admin, key);
	}
	for (int i = 0; i < nsmall; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		expect_present(h.admin, key);
	}
	expect_present(h.admin, "after-space");
}

/* Starts vexild on dir with fault_shim.so preloaded (only vexild gets it;
 * an ASan vexild lets it load first). */
static void
start_with_shim(const char *dir)
{
	const char *opts = getenv("ASAN_OPTIONS");
	char saved[512];

	snprintf(saved, sizeof(saved), "%s", opts ? opts : "");
	setenv("LD_PRELOAD", VX_FAULT_SHIM, 1);
	setenv("ASAN_OPTIONS",
	    vx_fmt("%s%sverify_asan_link_order=0", saved, saved[0] ? ":" : ""), 1);
	vx_harness_start_in(&h, dir, NULL);
	unsetenv("LD_PRELOAD");
	if (opts != NULL)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
}

/* The same refusal without mount(2): the shim fails LMDB's page writes
 * with ENOSPC while a file exists. */
Test(storage, enospc_from_the_device_is_refused_by_name_and_passes_without_a_restart)
{
	char dir[64], nospace[128];
	vx_status st;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/vexil-nospc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(nospace, sizeof(nospace), "%s/no-space", dir);
	setenv("VX_NOSPACE_FILE", nospace, 1);
	start_with_shim(dir);
	cr_assert_eq(create_flag(h.admin, "before", 0, &st), 0, "%s", st.message);

	cr_assert_not_null(f = fopen(nospace, "w"));
	fclose(f);
	for (int i = 0; i < 3; i++) {
		cr_assert_neq(create_flag(h.admin, "while-full", 100, &st), 0);
		cr_assert_eq(st.code, VEXIL__V1__CODE__RESOURCE_EXHAUSTED, "%s: %s",
		    vx_code_name(st.code), st.message);
		cr_assert_not_null(
		    strstr(
		        st.message, "no space left on the device holding the data dir"),
		    "%s", st.message);
		cr_assert_str_eq(st.constraint, "disk_full");
	}
	expect_present(h.admin, "before");
	cr_assert_not_null(strstr(vexild_log(), "No space left on device"), "%s", h.log);

	cr_assert_eq(unlink(nospace), 0);
	cr_assert_eq(create_flag(h.admin, "after", 0, &st), 0, "%s", st.message);
	cr_assert_eq(get_flag(h.admin, "while-full", &st), VX_ENOTFOUND);
	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_not_null(strstr(vexild_log(), "writes commit again"), "%s", h.log);
	unsetenv("VX_NOSPACE_FILE");
}

/* ---- a failed sync ---- */

#define WRITERS 4
#define PER_WRITER 400

struct writer {
	vx_client *c;
	int id;
	int done; /* writes made */
	bool acked[PER_WRITER];
	Vexil__V1__Code code[PER_WRITER];
	char message[256]; /* the first refusal's */
};

static atomic_int nacked;

static void *
write_loop(void *arg)
{
	struct writer *w = arg;
	int refused = 0;
	vx_status st;
	char key[32];

	for (w->done = 0; w->done < PER_WRITER && refused < 3; w->done++) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, w->done);
		if (create_flag(w->c, key, 0, &st) == 0) {
			w->acked[w->done] = true;
			atomic_fetch_add(&nacked, 1);
			continue;
		}
		w->code[w->done] = st.code;
		if (refused++ == 0)
			snprintf(w->message, sizeof(w->message), "%s", st.message);
	}
	return NULL;
}

Test(storage, a_failed_sync_is_never_acknowledged_and_stops_writes_until_a_restart)
{
	static struct writer ws[WRITERS];
	pthread_t t[WRITERS];
	char dir[64], fault[128], key[32], out[8192];
	int acked = 0, refused = 0;
	vx_status st;

	snprintf(dir, sizeof(dir), "/tmp/vexil-sync-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(fault, sizeof(fault), "%s/fail-sync", dir);
	setenv("VX_FAULT_FILE", fault, 1);
	start_with_shim(dir);

	atomic_init(&nacked, 0);
	for (int i = 0; i < WRITERS; i++) {
		ws[i].id = i;
		ws[i].c = vx_harness_client(&h, h.key);
		cr_assert_eq(pthread_create(&t[i], NULL, write_loop, &ws[i]), 0);
	}
	/* Let writes commit, then make every sync fail from now on. */
	while (atomic_load(&nacked) < 4 * WRITERS)
		usleep(1000);
	{
		FILE *f = fopen(fault, "w");
		cr_assert_not_null(f);
		fclose(f);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);

	for (int i = 0; i < WRITERS; i++) {
		for (int n = 0; n < ws[i].done; n++) {
			if (ws[i].acked[n]) {
				acked++;
				continue;
			}
			refused++;
			cr_assert_eq(ws[i].code[n], VEXIL__V1__CODE__UNAVAILABLE,
			    "w%d-%d: %s", i, n, vx_code_name(ws[i].code[n]));
		}
		cr_assert_not_null(
		    strstr(ws[i].message, "writes are stopped"), "%s", ws[i].message);
		cr_assert_not_null(
		    strstr(ws[i].message, "Input/output error"), "%s", ws[i].message);
	}
	cr_assert_geq(acked, 4 * WRITERS);
	cr_assert_geq(refused, 3 * WRITERS);
	cr_assert_not_null(strstr(vexild_log(), "errno 5"), "vexild logged no errno");

	/* The device looks healthy again, but vexild cannot know: writes stay
	 * refused, and reads go on. */
	cr_assert_eq(unlink(fault), 0);
	cr_assert_neq(create_flag(h.admin, "after-fault", 0, &st), 0);
	cr_assert_eq(st.code, VEXIL__V1__CODE__UNAVAILABLE);
	cr_assert_not_null(strstr(st.message, "restart vexild"), "%s", st.message);
	expect_present(h.admin, "w0-0");

	/* After a restart (no shim), every acknowledged write is there, and
	 * none that was refused. */
	cr_assert_eq(vx_harness_stop(&h), 0);
	cr_assert_eq(check_dir(h.dir, out, sizeof(out)), 0, "vexild --check: %s", out);
	vx_harness_restart(&h);
	for (int i = 0; i < WRITERS; i++) {
		for (int n = 0; n < ws[i].done; n++) {
			snprintf(key, sizeof(key), "w%d-%d", i, n);
			if (ws[i].acked[n])
				expect_present(h.admin, key);
			else
				cr_assert_eq(get_flag(h.admin, key, &st), VX_ENOTFOUND,
				    "%s was refused but is there", key);
		}
		vx_client_close(ws[i].c);
	}
	cr_assert_eq(create_flag(h.admin, "after-restart", 0, &st), 0, "%s", st.message);
	unsetenv("VX_FAULT_FILE");
}

/* ---- the data dir made read-only, or removed ---- */

Test(storage, a_data_dir_made_read_only_refuses_writes_by_name_until_it_is_writable)
{
	vx_status st;

	char file[300];

	vx_harness_start(&h, NULL);
	cr_assert_eq(create_flag(h.admin, "before", 0, &st), 0, "%s", st.message);
	/* chmod -R a-w, as an operator freezing the data dir would. */
	snprintf(file, sizeof(file), "%s/data.mdb", h.dir);
	cr_assert_eq(chmod(file, 0400), 0);
	cr_assert_eq(chmod(h.dir, 0500), 0);
	cr_assert_neq(create_flag(h.admin, "while-ro", 0, &st), 0);
	cr_assert_eq(st.code, VEXIL__V1__CODE__UNAVAILABLE, "%s", vx_code_name(st.code));
	cr_assert_not_null(strstr(st.message, "is read-only"), "%s", st.message);
	expect_present(h.admin, "before");

	cr_assert_eq(chmod(h.dir, 0700), 0);
	cr_assert_eq(chmod(file, 0600), 0);
	cr_assert_eq(create_flag(h.admin, "after", 0, &st), 0, "%s", st.message);
	cr_assert_eq(get_flag(h.admin, "while-ro", &st), VX_ENOTFOUND);
}

Test(storage, a_removed_data_dir_refuses_writes_and_vexild_keeps_serving_reads)
{
	char cmd[300];
	vx_status st;
	vx_http_res r;

	vx_harness_start(&h, NULL);
	cr_assert_eq(create_flag(h.admin, "before", 0, &st), 0, "%s", st.message);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h.dir);
	cr_assert_eq(system(cmd), 0);

	cr_assert_neq(create_flag(h.admin, "while-gone", 0, &st), 0);
	cr_assert_eq(st.code, VEXIL__V1__CODE__UNAVAILABLE, "%s", vx_code_name(st.code));
	cr_assert_not_null(
	    strstr(st.message, "no longer holds the data.mdb"), "%s", st.message);
	/* Reads come from the open file; vexild stays up and stops cleanly. */
	expect_present(h.admin, "before");
	/* The gateway passes the same refusal on: 503 in the dialect's body;
	 * its readiness (told by vexild with --metrics-key) reads degraded. */
	const char *args[] = {"--metrics-key", h.key, NULL};
	vx_gateway_start(&g, &h, NULL, args, NULL);
	r = gw("GET", "/readyz", NULL);
	cr_assert_eq(r.status, 200, "reads are served: %ld %s", r.status, r.body);
	cr_assert(strncmp(r.body, "degraded: gone: ", 16) == 0, "%s", r.body);
	vx_http_res_free(&r);
	r = gw("POST", "/v1/flags", "{\"key\":\"gw-gone\",\"name\":\"Gone\"}");
	cr_assert_eq(r.status, 503, "platform: %ld %s", r.status, r.body);
	cr_assert_str_eq(json_str(r.json, "error", "code"), "unavailable", "%s", r.body);
	cr_assert_not_null(strstr(r.body, "no longer holds the data.mdb"), "%s", r.body);
	vx_http_res_free(&r);
	r = gw("GET", "/v1/flags?limit=100", NULL);
	cr_assert_eq(r.status, 200, "a read: %ld %s", r.status, r.body);
	cr_assert_not_null(strstr(r.body, "\"key\":\"before\""), "%s", r.body);
	vx_http_res_free(&r);
	cr_assert_eq(vx_gateway_stop(&g), 0);
	cr_assert_eq(vx_harness_stop(&h), 0);
}
