/*
 * Vexil fuzz target — whole HTTP requests through the gateway's router
 * and dialects to a real vexild.
 *
 * LLVMFuzzerInitialize starts the vexild of this build on a temp data dir
 * and free loopback ports (as tests/harness.c does, without Criterion),
 * and makes the credentials a request may name: "$KEY" in a header
 * becomes the bootstrap admin API key, "$SDK" the default project's SDK
 * key, "$JWT" a user's token. An input is a request as sent, minus the
 * HTTP version:
 *
 *   POST /v1/flags?x=1
 *   Authorization: ApiKey $KEY
 *   Content-Type: application/json
 *
 *   {"key":"a","name":"A"}
 *
 * It is dispatched through router.h and http.h's vx_gw_req exactly as a
 * gateway worker does, with real handlers making real calls. Invariants:
 * one answer with a valid status, a JSON body that parses whenever the
 * content type says JSON, and vexild still alive after every request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "fuzz.h"
#include "gateway/dialects.h"
#include "gateway/router.h"
#include "gateway/rpc.h"
#include "vexil.h"

#define MAX_FIELDS 32

static vx_gw_router *router;
static vx_gw_rpc rpc;
static vx_arena arena;
static bool verbose;  /* VX_FUZZ_VERBOSE=1: print each answer */
static pid_t vexild;
static char dir[128], log_path[160];
static char key[128], sdk[128], jwt[1024], rpc_url[64];

static int
free_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		abort();
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
dump_log(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", log_path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no vexild log)\n");
}

static void
teardown(void)
{
	int status = 0;
	char cmd[200];

	if (vexild > 0) {
		kill(vexild, SIGTERM);
		waitpid(vexild, &status, 0);
		vexild = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "fuzz_gateway: vexild did not stop cleanly (status %d)\n",
			    status);
			dump_log();
		}
	}
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "fuzz_gateway: cannot remove %s\n", dir);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		_exit(1);
}

static void
start_vexild(void)
{
	char data[160], pub_url[64], path[200];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/vexil-fuzz-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log_path, sizeof(log_path), "%s/vexild.log", dir);
	snprintf(rpc_url, sizeof(rpc_url), "tcp://127.0.0.1:%d", free_port());
	snprintf(pub_url, sizeof(pub_url), "tcp://127.0.0.1:%d", free_port());
	if ((vexild = fork()) < 0)
		abort();
	if (vexild == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execl(VX_VEXILD_PATH, VX_VEXILD_PATH, "--data", data, "--rpc", rpc_url, "--pub",
		    pub_url, "--quiet", "--no-sync", "--rate-limit", "0", "--workers", "4",
		    (char *)NULL);
		_exit(127);
	}
	atexit(teardown);
	/* The admin key appears once the bootstrap has committed. */
	snprintf(path, sizeof(path), "%s/admin.key", data);
	for (int i = 0; i < 1000; i++) {
		if ((f = fopen(path, "r")) != NULL) {
			bool ok = fgets(key, sizeof(key), f) != NULL;
			fclose(f);
			key[strcspn(key, "\r\n")] = '\0';
			if (ok && key[0] != '\0')
				return;
		}
		if (waitpid(vexild, NULL, WNOHANG) == vexild) {
			vexild = 0;
			dump_log();
			abort();
		}
		usleep(10000);
	}
	fprintf(stderr, "fuzz_gateway: vexild did not start\n");
	abort();
}

static void
make_credentials(void)
{
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__RegisterRequest reg = VEXIL__V1__REGISTER_REQUEST__INIT;
	Vexil__V1__LoginRequest login = VEXIL__V1__LOGIN_REQUEST__INIT;
	Vexil__V1__Project *p;
	Vexil__V1__User *u;
	Vexil__V1__LoginReply *lr;
	vx_client_opts o = {.credential = key, .timeout_ms = 10000};
	vx_client *c;
	vx_status st;

	if (vx_client_open(&c, rpc_url, &o) != 0)
		abort();
	gp.project = "default";
	if (vx_get_project(c, &gp, &p, &st) != 0) {
		fprintf(stderr, "fuzz_gateway: GetProject: %s\n", st.message);
		abort();
	}
	snprintf(sdk, sizeof(sdk), "%s", p->sdk_key);
	vx_free(p);
	reg.email = login.email = "fuzz@example.com";
	reg.password = login.password = "fuzz-password-1";
	if (vx_register_user(c, &reg, &u, &st) != 0 || vx_login(c, &login, &lr, &st) != 0) {
		fprintf(stderr, "fuzz_gateway: register and login: %s\n", st.message);
		abort();
	}
	vx_free(u);
	snprintf(jwt, sizeof(jwt), "%s", lr->token);
	vx_free(lr);
	vx_client_close(c);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	verbose = getenv("VX_FUZZ_VERBOSE") != NULL;
	vx_log_set_level(VX_LOG_ERROR);
	start_vexild();
	make_credentials();
	if (vx_client_open(&rpc.client, rpc_url, NULL) != 0)
		abort();
	rpc.timeout_ms = 10000;
	if (vx_gw_router_alloc(&router, vx_gw_dialects, vx_gw_n_dialects, vx_gw_dialects[0]) != 0)
		abort();
	/* A gateway worker's arena. */
	vx_arena_init(&arena, (size_t)32 << 20);
	return 0;
}

/* A header value with $KEY, $SDK and $JWT replaced, in the arena. */
static const char *
substitute(const char *v)
{
	static const struct {
		const char *name;
		const char *value;
	} vars[] = {{"$KEY", key}, {"$SDK", sdk}, {"$JWT", jwt}};
	size_t cap = strlen(v) * 8 + sizeof(jwt) + 1, n = 0;
	char *out = vx_arena_alloc(&arena, cap);

	if (out == NULL)
		return v;
	while (*v != '\0' && n + 1 < cap) {
		size_t i;
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
			size_t len = strlen(vars[i].name), vlen = strlen(vars[i].value);
			if (strncmp(v, vars[i].name, len) == 0 && n + vlen + 1 < cap) {
				memcpy(out + n, vars[i].value, vlen);
				n += vlen;
				v += len;
				break;
			}
		}
		if (i == sizeof(vars) / sizeof(vars[0]))
			out[n++] = *v++;
	}
	out[n] = '\0';
	return out;
}

/* Cuts the next line (ending in \n or \r\n) off *p; NULL at the end. */
static char *
next_line(char **p, char *end)
{
	char *line = *p, *nl;

	if (line >= end)
		return NULL;
	if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
		nl = end;
	*p = nl < end ? nl + 1 : end;
	if (nl > line && nl[-1] == '\r')
		nl--;
	*nl = '\0';
	return line;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vx_gw_header_field fields[MAX_FIELDS];
	vx_gw_headers headers = {fields, 0};
	char *text, *p, *end, *line, *target;
	const char *path, *query;
	char rid[VX_GW_REQUEST_ID_MAX + 1];
	vx_gw_req r;

	if (size > 256 * 1024)
		return 0;
	vx_arena_reset(&arena);
	if ((text = vx_arena_alloc(&arena, size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p = text;
	end = text + size;
	/* The request line: METHOD TARGET. */
	if ((line = next_line(&p, end)) == NULL || (target = strchr(line, ' ')) == NULL)
		return 0;
	*target++ = '\0';
	if (*line == '\0' || strlen(line) != strcspn(line, " \t") || *target == '\0')
		return 0; /* nng's parser refuses such a request line */
	/* Headers up to an empty line; the rest is the body. */
	while ((line = next_line(&p, end)) != NULL && *line != '\0') {
		char *colon = strchr(line, ':'), *v;
		if (colon == NULL || colon == line || headers.n == MAX_FIELDS)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		fields[headers.n].name = line;
		fields[headers.n].value = substitute(v);
		headers.n++;
	}
	vx_gw_request_id(NULL, rid);
	vx_gw_split_target(target, &path, &query);
	vx_gw_req_init(&r, text, path, query, &headers, rid);
	r.arena = &arena;
	r.rpc = &rpc;
	r.body = (const uint8_t *)p;
	r.body_len = (size_t)(end - p);
	vx_gw_router_dispatch(router, &r);
	VX_FUZZ_ASSERT(r.status >= 100 && r.status <= 599, "status %d for %s %s", r.status,
	    text, path);
	if (r.res_len > 0 && r.content_type != NULL && strstr(r.content_type, "json") != NULL) {
		cJSON *j = cJSON_ParseWithLength(r.res_body, r.res_len);
		VX_FUZZ_ASSERT(j != NULL, "the %d body of %s %s is not JSON: %.*s", r.status, text,
		    path, (int)(r.res_len > 400 ? 400 : r.res_len), r.res_body);
		cJSON_Delete(j);
	}
	if (verbose)
		fprintf(stderr, "%d %s %s %.*s\n", r.status, text, path,
		    (int)(r.res_len > 200 ? 200 : r.res_len), r.res_body ? r.res_body : "");
	vx_gw_req_fini(&r);
	if (waitpid(vexild, NULL, WNOHANG) == vexild) {
		vexild = 0;
		dump_log();
		VX_FUZZ_ASSERT(false, "vexild died serving %s %s", text, path);
	}
	return 0;
}
