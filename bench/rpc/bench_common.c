/*
 * bench_common — see bench_common.h. The vexild handling is the one
 * bench_rpc grew: fork and exec with only async-signal-safe calls in the
 * child, readiness by a real RPC with the bootstrap admin key, and a stop
 * that reaps the process and shows its log when it did not exit cleanly.
 * vexil-gateway is spawned, checked and stopped by the same code, and is
 * ready when GET /health answers 200.
 */
#include "bench_common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000
#define MAX_EXTRA_ARGS 16

const char *bench_prog = "bench";
volatile sig_atomic_t bench_interrupted;

const char *const bench_transport_names[BENCH_TRANSPORTS] = {"ipc", "tcp"};

static void
on_signal(int sig)
{
	(void)sig;
	bench_interrupted = 1;
}

void
bench_init(const char *prog)
{
	struct sigaction sa;

	bench_prog = prog;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A peer that goes away must fail a send, not kill the bench. */
	signal(SIGPIPE, SIG_IGN);
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
bench_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- temp dir and addresses ---- */

int
bench_make_root(char *root, size_t cap)
{
	snprintf(root, cap, "/tmp/vexil-bench-XXXXXX");
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "%s: mkdtemp: %s\n", bench_prog, strerror(errno));
		return -1;
	}
	return 0;
}

void
bench_remove_tree(const char *path)
{
	char sub[4096];
	struct dirent *e;
	struct stat sb;
	DIR *d;

	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
				bench_remove_tree(sub);
			else if (unlink(sub) != 0)
				fprintf(stderr, "%s: cannot remove %s: %s\n", bench_prog, sub,
				    strerror(errno));
		}
		closedir(d);
	}
	if (rmdir(path) != 0 && errno != ENOENT)
		fprintf(stderr, "%s: cannot remove %s: %s\n", bench_prog, path,
		    strerror(errno));
}

/*
 * All n sockets stay bound until every port is known, so the kernel cannot
 * hand out one twice; a port can still be taken by someone else before we
 * listen on it.
 */
int
bench_free_ports(int *ports, int n)
{
	int fds[4], rc = 0, i;

	for (i = 0; i < n && i < 4; i++) {
		struct sockaddr_in a = {0};
		socklen_t len = sizeof(a);

		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    bind(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) != 0) {
			fprintf(stderr, "%s: cannot find a free port: %s\n", bench_prog,
			    strerror(errno));
			if (fds[i] >= 0)
				close(fds[i]);
			rc = -1;
			break;
		}
		ports[i] = ntohs(a.sin_port);
	}
	while (i-- > 0)
		close(fds[i]);
	return rc;
}

/* Prints the end of vexild's log, which says why it did not come up. */
static void
print_log_tail(const char *path)
{
	char buf[2048];
	size_t n;
	long size;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0) {
		fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0,
		    SEEK_SET);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fprintf(stderr, "--- end of %s ---\n%s%s", path, buf,
		    n && buf[n - 1] != '\n' ? "\n" : "");
	}
	fclose(f);
}

static void
describe_exit(char *buf, size_t cap, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, cap, "wait status %d", status);
}

/* ---- child processes ---- */

/*
 * Forks and execs argv[0] with its output appended to log; the child only
 * makes async-signal-safe calls, so argv is built before the fork.
 */
int
bench_spawn(pid_t *pid, const char *log, const char *const *argv)
{
	pid_t parent = getpid();
	long maxfd = sysconf(_SC_OPEN_MAX);
	int fd;

	if (maxfd < 0 || maxfd > 4096)
		maxfd = 4096;
	*pid = fork();
	if (*pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", bench_prog, strerror(errno));
		*pid = 0;
		return -1;
	}
	if (*pid > 0)
		return 0;
	/*
	 * Our own process group keeps a terminal ^C away from the child, so
	 * the parent decides when it stops; the death signal stops it if the
	 * parent dies without cleaning up.
	 */
	setpgid(0, 0);
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
#else
	(void)parent;
#endif
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	/* nng's descriptors and our sockets must not live on in the child. */
	for (fd = 3; fd < maxfd; fd++)
		close(fd);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Appends the NULL-terminated extra args to argv[0..*argc); NULL-terminates. */
static int
add_args(const char **argv, int *argc, int cap, const char *const *args, const char *name)
{
	for (; args != NULL && *args != NULL; args++) {
		if (*argc == cap) {
			fprintf(stderr, "%s: too many %s arguments\n", bench_prog, name);
			return -1;
		}
		argv[(*argc)++] = *args;
	}
	argv[*argc] = NULL;
	return 0;
}

static bool
child_exited(pid_t *pid, int *status)
{
	if (*pid <= 0)
		return true;
	if (waitpid(*pid, status, WNOHANG) == *pid) {
		*pid = 0;
		return true;
	}
	return false;
}

static int
child_check(pid_t *pid, const char *log, const char *name, const char *during)
{
	char why[64];
	int status = 0;

	if (*pid <= 0 || !child_exited(pid, &status))
		return 0;
	describe_exit(why, sizeof(why), status);
	fprintf(stderr, "%s: %s died %s (%s)\n", bench_prog, name, during, why);
	print_log_tail(log);
	return -1;
}

/* SIGTERM, then SIGKILL past STOP_TIMEOUT_MS; 0 when it exited with status 0. */
int
bench_child_stop(pid_t *pid, const char *log, const char *name)
{
	uint64_t deadline;
	char why[64];
	int status = 0;

	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	deadline = bench_now_ns() + STOP_TIMEOUT_MS * 1000000ull;
	while (!child_exited(pid, &status)) {
		if (bench_now_ns() > deadline) {
			fprintf(stderr,
			    "%s: %s did not stop within %d ms of SIGTERM; killing it\n",
			    bench_prog, name, STOP_TIMEOUT_MS);
			kill(*pid, SIGKILL);
			waitpid(*pid, &status, 0);
			*pid = 0;
			print_log_tail(log);
			return -1;
		}
		bench_sleep_ms(5);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		describe_exit(why, sizeof(why), status);
		fprintf(stderr, "%s: %s stopped with %s\n", bench_prog, name, why);
		print_log_tail(log);
		return -1;
	}
	return 0;
}

/* ---- vexild ---- */

static int
vexild_spawn(struct bench_vexild *v, const char *path, const char *const *args)
{
	const char *argv[8 + MAX_EXTRA_ARGS + 1] = {path, "--data", v->data, "--rpc", v->rpc,
	    "--pub", v->pub, "--quiet"};
	int argc = 8;

	if (add_args(argv, &argc, 8 + MAX_EXTRA_ARGS, args, "vexild") != 0)
		return -1;
	return bench_spawn(&v->pid, v->log, argv);
}

bool
bench_vexild_exited(struct bench_vexild *v, int *status)
{
	return child_exited(&v->pid, status);
}

int
bench_vexild_check(struct bench_vexild *v, const char *during)
{
	return child_check(&v->pid, v->log, "vexild", during);
}

/* Waits for admin.key, then until an RPC with it succeeds. */
static int
vexild_wait_ready(struct bench_vexild *v)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	uint64_t deadline = bench_now_ns() + START_TIMEOUT_MS * 1000000ull;
	char path[300], why[64];
	vx_status st = {0};
	int status = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/admin.key", v->data);
	for (;;) {
		if (bench_vexild_exited(v, &status)) {
			describe_exit(why, sizeof(why), status);
			fprintf(stderr, "%s: vexild exited during startup (%s)\n",
			    bench_prog, why);
			print_log_tail(v->log);
			return -1;
		}
		if (bench_interrupted)
			return -1;
		if (v->key[0] == '\0' && (f = fopen(path, "r")) != NULL) {
			/* bootstrap renames the file into place, so it is whole. */
			if (fgets(v->key, sizeof(v->key), f) != NULL)
				v->key[strcspn(v->key, "\r\n")] = '\0';
			fclose(f);
		}
		if (v->key[0] != '\0' && v->client == NULL) {
			/* Short timeout while waiting, so a dead vexild is seen soon. */
			vx_client_opts o = {.credential = v->key, .timeout_ms = 250};
			if (vx_client_open(&v->client, v->rpc, &o) != 0) {
				fprintf(stderr, "%s: cannot open a client for %s\n",
				    bench_prog, v->rpc);
				return -1;
			}
		}
		if (v->client != NULL) {
			if (vx_list_projects(v->client, &in, &out, &st) == 0) {
				vx_free(out);
				vx_client_set_timeout(v->client, BENCH_CALL_TIMEOUT_MS);
				return 0;
			}
		}
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "%s: vexild did not answer on %s within %d ms%s%s\n",
			    bench_prog, v->rpc, START_TIMEOUT_MS, st.message[0] ? ": " : "",
			    st.message);
			print_log_tail(v->log);
			return -1;
		}
		bench_sleep_ms(10);
	}
}

int
bench_vexild_start(struct bench_vexild *v, const char *path, const char *root,
    const char *tag, enum bench_transport t, const char *const *args)
{
	int ports[2];

	memset(v, 0, sizeof(*v));
	snprintf(v->data, sizeof(v->data), "%s/vexild-%s", root, tag);
	snprintf(v->log, sizeof(v->log), "%s/vexild-%s.log", root, tag);
	if (t == BENCH_IPC) {
		snprintf(v->rpc, sizeof(v->rpc), "ipc://%s/vexild-%s-rpc.sock", root, tag);
		snprintf(v->pub, sizeof(v->pub), "ipc://%s/vexild-%s-pub.sock", root, tag);
	} else {
		if (bench_free_ports(ports, 2) != 0)
			return -1;
		snprintf(v->rpc, sizeof(v->rpc), "tcp://127.0.0.1:%d", ports[0]);
		snprintf(v->pub, sizeof(v->pub), "tcp://127.0.0.1:%d", ports[1]);
	}
	if (mkdir(v->data, 0700) != 0) {
		fprintf(stderr, "%s: mkdir %s: %s\n", bench_prog, v->data, strerror(errno));
		return -1;
	}
	if (vexild_spawn(v, path, args) != 0)
		return -1;
	return vexild_wait_ready(v);
}

int
bench_vexild_stop(struct bench_vexild *v)
{
	vx_client_close(v->client);
	v->client = NULL;
	return bench_child_stop(&v->pid, v->log, "vexild");
}

/* ---- vexil-gateway ---- */

int
bench_dial(int port)
{
	struct sockaddr_in a = {0};
	int fd;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True when GET /health answers 200; each try waits at most a second. */
static bool
gateway_healthy(const struct bench_gateway *g)
{
	static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: close\r\n\r\n";
	struct timeval tv = {1, 0};
	char buf[32];
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = bench_dial(g->port)) < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return false;
	}
	while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
}

int
bench_gateway_start(struct bench_gateway *g, const char *path, const char *root,
    const char *tag, const struct bench_vexild *v, const char *const *args)
{
	const char *argv[8 + MAX_EXTRA_ARGS + 1] = {path, "--listen", g->listen, "--rpc",
	    v->rpc, "--sub", v->pub, "--quiet"};
	uint64_t deadline;
	char why[64];
	int argc = 8, status = 0;

	memset(g, 0, sizeof(*g));
	snprintf(g->log, sizeof(g->log), "%s/gateway-%s.log", root, tag);
	if (bench_free_ports(&g->port, 1) != 0)
		return -1;
	snprintf(g->listen, sizeof(g->listen), "http://127.0.0.1:%d", g->port);
	if (add_args(argv, &argc, 8 + MAX_EXTRA_ARGS, args, "gateway") != 0 ||
	    bench_spawn(&g->pid, g->log, argv) != 0)
		return -1;
	deadline = bench_now_ns() + START_TIMEOUT_MS * 1000000ull;
	for (;;) {
		if (child_exited(&g->pid, &status)) {
			describe_exit(why, sizeof(why), status);
			fprintf(stderr, "%s: the gateway exited during startup (%s)\n",
			    bench_prog, why);
			print_log_tail(g->log);
			return -1;
		}
		if (bench_interrupted)
			return -1;
		if (gateway_healthy(g))
			return 0;
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "%s: the gateway did not answer GET %s/health within %d ms\n",
			    bench_prog, g->listen, START_TIMEOUT_MS);
			print_log_tail(g->log);
			return -1;
		}
		bench_sleep_ms(10);
	}
}

int
bench_gateway_check(struct bench_gateway *g, const char *during)
{
	return child_check(&g->pid, g->log, "the gateway", during);
}

int
bench_gateway_stop(struct bench_gateway *g)
{
	return bench_child_stop(&g->pid, g->log, "the gateway");
}

/* ---- figures ---- */

int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

size_t
bench_rank(size_t n, double p)
{
	size_t rank = (size_t)(p * (double)n);
	if ((double)rank < p * (double)n)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return rank - 1;
}

/* ---- options ---- */

int
bench_parse_int(const char *opt, const char *v, int min, int max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		fprintf(stderr, "%s: %s: %s is not in %d..%d\n", bench_prog, opt, v, min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

int
bench_parse_ints(const char *opt, const char *v, int min, int max, int *out, int cap,
    int *n)
{
	char buf[256], *tok, *save = NULL;

	*n = 0;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == cap) {
			fprintf(stderr, "%s: %s takes at most %d values\n", bench_prog, opt,
			    cap);
			return -1;
		}
		if (bench_parse_int(opt, tok, min, max, &out[*n]) != 0)
			return -1;
		(*n)++;
	}
	if (*n == 0) {
		fprintf(stderr, "%s: %s names none\n", bench_prog, opt);
		return -1;
	}
	return 0;
}

int
bench_parse_seconds(const char *opt, const char *v, double min, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !(d >= min) || d > 3600) {
		fprintf(stderr, "%s: %s needs a number of seconds (%g..3600)\n", bench_prog,
		    opt, min);
		return -1;
	}
	*out = d;
	return 0;
}

int
bench_create_flag(vx_client *c, Vexil__V1__Flag *flag)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	in.project = "default";
	in.flag = flag;
	if (vx_create_flag(c, &in, &out, &st) != 0) {
		fprintf(stderr, "%s: CreateFlag %s failed: %s: %s%s%s\n", bench_prog,
		    flag->key, vx_code_name(st.code), st.message,
		    st.field[0] ? " field=" : "", st.field);
		return -1;
	}
	vx_free(out);
	return 0;
}

int
bench_vexild_bulk_client(struct bench_vexild *v, vx_client **out)
{
	vx_client_opts co = {.credential = v->key, .timeout_ms = 600000, .max_msg = 64u << 20};

	if (vx_client_open(out, v->rpc, &co) != 0) {
		fprintf(stderr, "%s: cannot open a client for %s\n", bench_prog, v->rpc);
		return -1;
	}
	return 0;
}
