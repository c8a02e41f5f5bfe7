/*
 * bench_rpc — what one GetFlag costs through vexild, next to the floor.
 *
 * For each transport (ipc, tcp) it starts the real vexild (the one from
 * this build, or --vexild PATH) on a fresh temp data dir and free
 * addresses, creates one flag with variants and targeting rules through
 * libvexil, and then, for each concurrency level N, runs N threads that
 * call vx_get_flag() in a loop through one shared vx_client: a short
 * warm-up, then a fixed measured time. Every measured call is timed with
 * CLOCK_MONOTONIC into a per-thread array allocated (and touched) before
 * the run, so the loop itself never allocates; the arrays are merged
 * afterwards for p50 and p99, and throughput is the successful calls over
 * the measured window.
 *
 * The floor runs in the same process and the same run: an nng REP socket
 * with 16 contexts, one thread each, that answers every request at once
 * with a pre-packed Response holding the very Flag vexild returned, so the
 * reply has the same size. It is driven through the same client code path
 * (vx_client_open + vx_get_flag) at the same levels, so the ratio between
 * the two is what vexild adds per request: envelope decode, credential
 * check, LMDB read, reply build, and its threading. Client, floor and
 * vexild share this machine's CPUs; read the figures as relative to the
 * floor on the same box, not as absolute server cost.
 *
 * There are no thresholds. It prints a settings line and one row per
 * (transport, concurrency), and exits 0; or non-zero, with a message,
 * when vexild cannot be started or stopped or any call fails.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "vexil.h"

#ifndef VX_VEXILD_PATH
#define VX_VEXILD_PATH "vexild"
#endif

#define VEXILD_WORKERS "16"
#define FLOOR_WORKERS 16
#define MAX_LEVELS 16
#define MAX_THREADS 1024
#define CALL_TIMEOUT_MS 5000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 5000
/* A call slower than this is reported as a stall (on stderr). */
#define STALL_NS (100 * 1000000ull)
/*
 * Latency slots per second of run, shared by all threads of a point. It is
 * far above what loopback RPC reaches on one box, so a thread running
 * several times its fair share still records every call.
 */
#define SAMPLES_PER_SEC 1000000.0
/* Bounds the arrays of long runs (128 MiB); later calls are counted only. */
#define MAX_SAMPLES (16.0 * 1024 * 1024)
#define MIN_SAMPLES 16384

enum transport { T_IPC, T_TCP, T_COUNT };
static const char *const transport_names[T_COUNT] = {"ipc", "tcp"};

struct opts {
	const char *vexild;
	double seconds;
	double warmup;
	bool transports[T_COUNT];
	int levels[MAX_LEVELS];
	int nlevels;
};

/* Set by SIGINT/SIGTERM so that loaders stop and cleanup still runs. */
static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- temp dir and addresses ---- */

/* Removes path and everything under it; the tree is ours and shallow. */
static void
remove_tree(const char *path)
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
				remove_tree(sub);
			else if (unlink(sub) != 0)
				fprintf(stderr, "bench_rpc: cannot remove %s: %s\n", sub,
				    strerror(errno));
		}
		closedir(d);
	}
	if (rmdir(path) != 0 && errno != ENOENT)
		fprintf(stderr, "bench_rpc: cannot remove %s: %s\n", path,
		    strerror(errno));
}

/*
 * Finds n distinct free TCP ports on 127.0.0.1. All n sockets stay bound
 * until every port is known, so the kernel cannot hand out one twice; a
 * port can still be taken by someone else before we listen on it.
 */
static int
free_ports(int *ports, int n)
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
			fprintf(stderr, "bench_rpc: cannot find a free port: %s\n",
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

/* ---- vexild ---- */

struct vexild {
	pid_t pid;
	char data[256];
	char log[300];
	char rpc[300];
	char pub[300];
	char key[128];
	vx_client *client; /* admin key; used for setup and for the load */
};

/* Forks and execs vexild; the child only makes async-signal-safe calls. */
static int
vexild_spawn(struct vexild *v, const char *path)
{
	const char *argv[] = {path, "--data", v->data, "--rpc", v->rpc, "--pub", v->pub,
	    "--quiet", "--workers", VEXILD_WORKERS, NULL};
	pid_t parent = getpid();
	long maxfd = sysconf(_SC_OPEN_MAX);
	int fd;

	if (maxfd < 0 || maxfd > 4096)
		maxfd = 4096;
	v->pid = fork();
	if (v->pid < 0) {
		fprintf(stderr, "bench_rpc: fork: %s\n", strerror(errno));
		return -1;
	}
	if (v->pid > 0)
		return 0;
	/*
	 * Our own process group keeps a terminal ^C away from vexild, so the
	 * parent decides when it stops; the death signal stops it if the
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
	if ((fd = open(v->log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	/* nng's descriptors from earlier runs must not live on in vexild. */
	for (fd = 3; fd < maxfd; fd++)
		close(fd);
	execv(path, (char *const *)argv);
	_exit(127);
}

/* True once vexild has exited; *status is its wait status if we reaped it here. */
static bool
vexild_exited(struct vexild *v, int *status)
{
	if (v->pid <= 0)
		return true;
	if (waitpid(v->pid, status, WNOHANG) == v->pid) {
		v->pid = 0;
		return true;
	}
	return false;
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

/* Waits for admin.key, then until an RPC with it succeeds. */
static int
vexild_wait_ready(struct vexild *v)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	uint64_t deadline = now_ns() + START_TIMEOUT_MS * 1000000ull;
	char path[300], why[64];
	vx_status st = {0};
	int status = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/admin.key", v->data);
	for (;;) {
		if (vexild_exited(v, &status)) {
			describe_exit(why, sizeof(why), status);
			fprintf(stderr, "bench_rpc: vexild exited during startup (%s)\n",
			    why);
			print_log_tail(v->log);
			return -1;
		}
		if (interrupted)
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
				fprintf(stderr,
				    "bench_rpc: cannot open a client for %s\n", v->rpc);
				return -1;
			}
		}
		if (v->client != NULL) {
			if (vx_list_projects(v->client, &in, &out, &st) == 0) {
				vx_free(out);
				vx_client_set_timeout(v->client, CALL_TIMEOUT_MS);
				return 0;
			}
		}
		if (now_ns() > deadline) {
			fprintf(stderr,
			    "bench_rpc: vexild did not answer on %s within %d ms%s%s\n",
			    v->rpc, START_TIMEOUT_MS, st.message[0] ? ": " : "",
			    st.message);
			print_log_tail(v->log);
			return -1;
		}
		sleep_ms(10);
	}
}

static int
vexild_start(struct vexild *v, const char *path, const char *root, enum transport t)
{
	const char *name = transport_names[t];
	int ports[2];

	memset(v, 0, sizeof(*v));
	snprintf(v->data, sizeof(v->data), "%s/vexild-%s", root, name);
	snprintf(v->log, sizeof(v->log), "%s/vexild-%s.log", root, name);
	if (t == T_IPC) {
		snprintf(v->rpc, sizeof(v->rpc), "ipc://%s/vexild-rpc.sock", root);
		snprintf(v->pub, sizeof(v->pub), "ipc://%s/vexild-pub.sock", root);
	} else {
		if (free_ports(ports, 2) != 0)
			return -1;
		snprintf(v->rpc, sizeof(v->rpc), "tcp://127.0.0.1:%d", ports[0]);
		snprintf(v->pub, sizeof(v->pub), "tcp://127.0.0.1:%d", ports[1]);
	}
	if (mkdir(v->data, 0700) != 0) {
		fprintf(stderr, "bench_rpc: mkdir %s: %s\n", v->data, strerror(errno));
		return -1;
	}
	if (vexild_spawn(v, path) != 0)
		return -1;
	return vexild_wait_ready(v);
}

/*
 * Closes the client, sends SIGTERM and reaps vexild, killing it if it has
 * not stopped in time. Returns 0 when it exited cleanly (status 0).
 */
static int
vexild_stop(struct vexild *v)
{
	uint64_t deadline;
	char why[64];
	int status = 0;

	vx_client_close(v->client);
	v->client = NULL;
	if (v->pid <= 0)
		return 0;
	kill(v->pid, SIGTERM);
	deadline = now_ns() + STOP_TIMEOUT_MS * 1000000ull;
	while (!vexild_exited(v, &status)) {
		if (now_ns() > deadline) {
			fprintf(stderr,
			    "bench_rpc: vexild did not stop within %d ms of SIGTERM;"
			    " killing it\n",
			    STOP_TIMEOUT_MS);
			kill(v->pid, SIGKILL);
			waitpid(v->pid, &status, 0);
			v->pid = 0;
			print_log_tail(v->log);
			return -1;
		}
		sleep_ms(5);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		describe_exit(why, sizeof(why), status);
		fprintf(stderr, "bench_rpc: vexild stopped with %s\n", why);
		print_log_tail(v->log);
		return -1;
	}
	return 0;
}

/* ---- the flag ---- */

/*
 * A string flag as a product team would have it: two variants, tags,
 * metadata, and in production two rules (a targeted one and a split with
 * a rollout), so the reply carries every kind of nested message. The other
 * environments get vexild's defaults.
 */
static int
create_bench_flag(vx_client *c)
{
	Vexil__V1__Variant control = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant treatment = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant *variants[] = {&control, &treatment};
	Vexil__V1__Flag__MetadataEntry team = VEXIL__V1__FLAG__METADATA_ENTRY__INIT;
	Vexil__V1__Flag__MetadataEntry ticket = VEXIL__V1__FLAG__METADATA_ENTRY__INIT;
	Vexil__V1__Flag__MetadataEntry *metadata[] = {&team, &ticket};
	char *tags[] = {"bench", "checkout", "experiment"};
	char *staff_domains[] = {"@example.com", "@example.org"};
	char *plans[] = {"pro", "enterprise"};
	char *countries[] = {"DE", "FR", "NL", "SE"};
	Vexil__V1__Condition staff = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition paying = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition eu = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition *beta_conds[] = {&staff, &paying};
	Vexil__V1__Condition *eu_conds[] = {&eu};
	Vexil__V1__WeightedVariant half_a = VEXIL__V1__WEIGHTED_VARIANT__INIT;
	Vexil__V1__WeightedVariant half_b = VEXIL__V1__WEIGHTED_VARIANT__INIT;
	Vexil__V1__WeightedVariant *split[] = {&half_a, &half_b};
	Vexil__V1__Rollout rollout = VEXIL__V1__ROLLOUT__INIT;
	Vexil__V1__Rule beta = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rule eu_rollout = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rule *rules[] = {&beta, &eu_rollout};
	Vexil__V1__FlagEnvConfig prod = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__FlagEnvConfig *envs[] = {&prod};
	Vexil__V1__Flag flag = VEXIL__V1__FLAG__INIT;
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	control.key = "control";
	control.value = "\"blue\"";
	control.description = "The current checkout button";
	treatment.key = "treatment";
	treatment.value = "\"green\"";
	treatment.description = "The redesigned checkout button";
	team.key = "team";
	team.value = "payments";
	ticket.key = "ticket";
	ticket.value = "PAY-1234";

	staff.attribute = "email";
	staff.operator_ = "ends_with";
	staff.values = staff_domains;
	staff.n_values = 2;
	staff.case_insensitive = true;
	paying.attribute = "plan";
	paying.operator_ = "in";
	paying.values = plans;
	paying.n_values = 2;
	beta.name = "staff on paid plans";
	beta.priority = 10;
	beta.enabled = true;
	beta.conditions = beta_conds;
	beta.n_conditions = 2;
	beta.variant = "treatment";

	eu.attribute = "country";
	eu.operator_ = "in";
	eu.values = countries;
	eu.n_values = 4;
	rollout.percentage = 25;
	rollout.stickiness = "user_id";
	half_a.variant = "control";
	half_a.weight = 5000;
	half_b.variant = "treatment";
	half_b.weight = 5000;
	eu_rollout.name = "EU gradual rollout";
	eu_rollout.priority = 5;
	eu_rollout.enabled = true;
	eu_rollout.conditions = eu_conds;
	eu_rollout.n_conditions = 1;
	eu_rollout.rollout = &rollout;
	eu_rollout.split = split;
	eu_rollout.n_split = 2;

	prod.environment = "production";
	prod.enabled = true;
	prod.default_variant = "control";
	prod.off_variant = "control";
	prod.rollout_percentage = 100;
	prod.rules = rules;
	prod.n_rules = 2;

	flag.key = "bench-flag";
	flag.name = "Checkout button colour";
	flag.description = "Which checkout button a user sees; created by bench_rpc.";
	flag.tags = tags;
	flag.n_tags = 3;
	flag.owner = "payments-team";
	flag.metadata = metadata;
	flag.n_metadata = 2;
	flag.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_STRING;
	flag.variants = variants;
	flag.n_variants = 2;
	flag.envs = envs;
	flag.n_envs = 1;

	in.project = "default";
	in.flag = &flag;
	if (vx_create_flag(c, &in, &out, &st) != 0) {
		fprintf(stderr, "bench_rpc: CreateFlag failed: %s: %s%s%s\n",
		    vx_code_name(st.code), st.message, st.field[0] ? " field=" : "",
		    st.field);
		return -1;
	}
	vx_free(out);
	return 0;
}

/*
 * The floor's answer: Response{status{OK}, payload = the Flag vexild
 * returned, packed}. vexild packs the same two fields, so the sizes match.
 */
static int
build_floor_reply(vx_client *c, const Vexil__V1__GetFlagRequest *req, uint8_t **reply,
    size_t *reply_len, size_t *flag_len)
{
	Vexil__V1__Response r = VEXIL__V1__RESPONSE__INIT;
	Vexil__V1__Status s = VEXIL__V1__STATUS__INIT;
	Vexil__V1__Flag *f;
	uint8_t *fb;
	vx_status st;

	if (vx_get_flag(c, req, &f, &st) != 0) {
		fprintf(stderr, "bench_rpc: GetFlag failed: %s: %s\n",
		    vx_code_name(st.code), st.message);
		return -1;
	}
	*flag_len = vexil__v1__flag__get_packed_size(f);
	if ((fb = malloc(*flag_len ? *flag_len : 1)) == NULL) {
		vx_free(f);
		return -1;
	}
	vexil__v1__flag__pack(f, fb);
	vx_free(f);
	s.code = VEXIL__V1__CODE__OK;
	r.status = &s;
	r.payload.data = fb;
	r.payload.len = *flag_len;
	*reply_len = vexil__v1__response__get_packed_size(&r);
	if ((*reply = malloc(*reply_len)) == NULL) {
		free(fb);
		return -1;
	}
	vexil__v1__response__pack(&r, *reply);
	free(fb);
	return 0;
}

/* ---- the floor ---- */

struct floor_worker {
	struct floor *fl;
	pthread_t thread;
	bool started;
	nng_ctx ctx;
	nng_aio *aio;
};

struct floor {
	nng_socket sock;
	bool open;
	char url[300];
	const uint8_t *reply;
	size_t reply_len;
	atomic_uint errors; /* failed receives or sends; should stay 0 */
	struct floor_worker w[FLOOR_WORKERS];
};

/* recv -> overwrite the body with the canned reply -> send, until closed. */
static void *
floor_worker_main(void *arg)
{
	struct floor_worker *w = arg;
	struct floor *fl = w->fl;
	nng_msg *msg;
	int rv;

	for (;;) {
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if ((rv = nng_aio_result(w->aio)) != 0) {
			if (rv == NNG_ECLOSED)
				break;
			atomic_fetch_add(&fl->errors, 1);
			continue;
		}
		msg = nng_aio_get_msg(w->aio);
		/* Reusing the request message is what vexild does too. */
		nng_msg_clear(msg);
		if (nng_msg_append(msg, fl->reply, fl->reply_len) != 0) {
			nng_msg_free(msg);
			atomic_fetch_add(&fl->errors, 1);
			continue;
		}
		nng_aio_set_msg(w->aio, msg);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if ((rv = nng_aio_result(w->aio)) != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			if (rv == NNG_ECLOSED)
				break;
			atomic_fetch_add(&fl->errors, 1);
		}
	}
	return NULL;
}

static void
floor_stop(struct floor *fl)
{
	if (!fl->open)
		return;
	/* Closing the socket fails every pending receive with NNG_ECLOSED. */
	nng_close(fl->sock);
	for (int i = 0; i < FLOOR_WORKERS; i++) {
		if (fl->w[i].started)
			pthread_join(fl->w[i].thread, NULL);
		if (fl->w[i].aio != NULL)
			nng_aio_free(fl->w[i].aio);
	}
	fl->open = false;
}

static int
floor_start(struct floor *fl, const char *root, enum transport t, const uint8_t *reply,
    size_t reply_len)
{
	int port, rv;

	memset(fl, 0, sizeof(*fl));
	fl->reply = reply;
	fl->reply_len = reply_len;
	atomic_init(&fl->errors, 0);
	if (t == T_IPC) {
		snprintf(fl->url, sizeof(fl->url), "ipc://%s/floor-rpc.sock", root);
	} else {
		if (free_ports(&port, 1) != 0)
			return -1;
		snprintf(fl->url, sizeof(fl->url), "tcp://127.0.0.1:%d", port);
	}
	if ((rv = nng_rep0_open(&fl->sock)) != 0)
		goto fail;
	fl->open = true;
	/* Same cap as vexild (vx_wire_harden), since nng 1.5 has none. */
	rv = nng_socket_set_size(fl->sock, NNG_OPT_RECVMAXSZ, VX_WIRE_MAX_MSG);
	if (rv != 0 || (rv = nng_listen(fl->sock, fl->url, NULL, 0)) != 0)
		goto fail;
	for (int i = 0; i < FLOOR_WORKERS; i++) {
		struct floor_worker *w = &fl->w[i];
		w->fl = fl;
		if ((rv = nng_ctx_open(&w->ctx, fl->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0)
			goto fail;
		if (pthread_create(&w->thread, NULL, floor_worker_main, w) != 0) {
			rv = NNG_ENOMEM;
			goto fail;
		}
		w->started = true;
	}
	return 0;
fail:
	fprintf(stderr, "bench_rpc: floor on %s: %s\n", fl->url, nng_strerror(rv));
	floor_stop(fl);
	return -1;
}

/* ---- load ---- */

struct point {
	vx_client *client;
	const Vexil__V1__GetFlagRequest *req;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go;
	bool abort;
	uint64_t warm_end; /* measured calls start at or after this */
	uint64_t end;      /* and no call starts at or after this */
};

struct loader {
	struct point *pt;
	pthread_t thread;
	uint64_t *lat; /* ns per measured call, preallocated */
	size_t cap;
	size_t n;
	uint64_t calls;
	uint64_t errors;
	uint64_t dropped; /* measured calls beyond cap: counted, not timed */
	uint64_t last_end;
	uint64_t max_ns;
	vx_status first_err;
};

struct result {
	double p50_us;
	double p99_us;
	double rate;
	uint64_t calls;
	uint64_t errors;
	uint64_t dropped;
	uint64_t max_ns;
	char first_err[320];
};

static void
note_error(struct loader *l, int rc, const vx_status *st)
{
	if (l->errors++ == 0) {
		l->first_err = *st;
		if (l->first_err.message[0] == '\0')
			snprintf(l->first_err.message, sizeof(l->first_err.message), "%s",
			    vx_strerror(rc));
	}
}

static void *
loader_main(void *arg)
{
	struct loader *l = arg;
	struct point *pt = l->pt;
	Vexil__V1__Flag *out;
	vx_status st;
	uint64_t t0, t1;
	int rc;

	pthread_mutex_lock(&pt->lock);
	while (!pt->go)
		pthread_cond_wait(&pt->cond, &pt->lock);
	pthread_mutex_unlock(&pt->lock);
	if (pt->abort)
		return NULL;

	/* Warm-up: connections, client contexts and caches; not recorded. */
	while (!interrupted && now_ns() < pt->warm_end) {
		rc = vx_get_flag(pt->client, pt->req, &out, &st);
		vx_free(out);
		if (rc != 0)
			note_error(l, rc, &st);
	}
	while (!interrupted && (t0 = now_ns()) < pt->end) {
		rc = vx_get_flag(pt->client, pt->req, &out, &st);
		t1 = now_ns();
		/* Freeing is client cost too, but not part of the round trip. */
		vx_free(out);
		if (rc != 0) {
			note_error(l, rc, &st);
			continue;
		}
		l->calls++;
		l->last_end = t1;
		if (t1 - t0 > l->max_ns)
			l->max_ns = t1 - t0;
		if (l->n < l->cap)
			l->lat[l->n++] = t1 - t0;
		else
			l->dropped++;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0), in microseconds. */
static double
percentile_us(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p * (double)n);
	if ((double)rank < p * (double)n)
		rank++;
	if (rank == 0)
		rank = 1;
	return (double)v[rank - 1] / 1000.0;
}

/* Runs nthreads loaders against client and summarises them into r. */
static int
run_point(vx_client *client, const Vexil__V1__GetFlagRequest *req, int nthreads,
    const struct opts *o, struct result *r)
{
	struct point pt = {.client = client, .req = req};
	struct loader *ls;
	uint64_t *all = NULL, last = 0;
	size_t cap, total = 0;
	double budget;
	int started = 0, rc = -1;

	memset(r, 0, sizeof(*r));
	budget = o->seconds * SAMPLES_PER_SEC;
	if (budget > MAX_SAMPLES)
		budget = MAX_SAMPLES;
	cap = (size_t)(budget / nthreads);
	if (cap < MIN_SAMPLES)
		cap = MIN_SAMPLES;
	if ((ls = calloc((size_t)nthreads, sizeof(*ls))) == NULL)
		goto nomem;
	for (int i = 0; i < nthreads; i++) {
		ls[i].pt = &pt;
		ls[i].cap = cap;
		if ((ls[i].lat = malloc(cap * sizeof(uint64_t))) == NULL)
			goto nomem;
		/* Fault the pages in now rather than inside the timed loop. */
		memset(ls[i].lat, 0, cap * sizeof(uint64_t));
	}
	pthread_mutex_init(&pt.lock, NULL);
	pthread_cond_init(&pt.cond, NULL);
	for (; started < nthreads; started++) {
		struct loader *l = &ls[started];
		if (pthread_create(&l->thread, NULL, loader_main, l) != 0)
			break;
	}

	/* Release every thread at once, with the phase times already set. */
	pthread_mutex_lock(&pt.lock);
	pt.abort = started < nthreads;
	pt.warm_end = now_ns() + (uint64_t)(o->warmup * 1e9);
	pt.end = pt.warm_end + (uint64_t)(o->seconds * 1e9);
	pt.go = true;
	pthread_cond_broadcast(&pt.cond);
	pthread_mutex_unlock(&pt.lock);
	for (int i = 0; i < started; i++)
		pthread_join(ls[i].thread, NULL);
	pthread_cond_destroy(&pt.cond);
	pthread_mutex_destroy(&pt.lock);
	if (pt.abort) {
		fprintf(stderr, "bench_rpc: could only start %d of %d threads\n", started,
		    nthreads);
		goto out;
	}

	for (int i = 0; i < nthreads; i++) {
		total += ls[i].n;
		r->calls += ls[i].calls;
		r->dropped += ls[i].dropped;
		if (ls[i].errors && r->errors == 0)
			snprintf(r->first_err, sizeof(r->first_err), "%s: %s",
			    vx_code_name(ls[i].first_err.code), ls[i].first_err.message);
		r->errors += ls[i].errors;
		if (ls[i].last_end > last)
			last = ls[i].last_end;
		if (ls[i].max_ns > r->max_ns)
			r->max_ns = ls[i].max_ns;
	}
	if (total > 0) {
		if ((all = malloc(total * sizeof(*all))) == NULL)
			goto nomem;
		total = 0;
		for (int i = 0; i < nthreads; i++) {
			memcpy(all + total, ls[i].lat, ls[i].n * sizeof(*all));
			total += ls[i].n;
		}
		qsort(all, total, sizeof(*all), cmp_u64);
		r->p50_us = percentile_us(all, total, 0.50);
		r->p99_us = percentile_us(all, total, 0.99);
	}
	if (last > pt.warm_end)
		r->rate = (double)r->calls * 1e9 / (double)(last - pt.warm_end);
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "bench_rpc: out of memory for %d threads\n", nthreads);
out:
	free(all);
	for (int i = 0; ls != NULL && i < nthreads; i++)
		free(ls[i].lat);
	free(ls);
	return rc;
}

/* ---- one transport ---- */

static void
print_header(const struct opts *o, size_t reply_len, size_t flag_len)
{
	printf("bench_rpc: GetFlag via one shared vx_client per target; %g s per point"
	       " after %g s warm-up; vexild --workers %s (%s); floor: in-process REP,"
	       " %d ctx; reply %zu B (Flag %zu B); %ld CPUs\n",
	    o->seconds, o->warmup, VEXILD_WORKERS, o->vexild, FLOOR_WORKERS, reply_len,
	    flag_len, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-9s %5s | %9s %9s %10s | %9s %9s %10s | %9s %9s | %s\n", "transport",
	    "conc", "vx_p50us", "vx_p99us", "vx_call/s", "fl_p50us", "fl_p99us",
	    "fl_call/s", "p50_vx/fl", "tput_fl/vx", "errors vx/fl");
	fflush(stdout);
}

static void
print_row(enum transport t, int conc, const struct result *v, const struct result *f)
{
	printf("%-9s %5d | %9.1f %9.1f %10.0f | %9.1f %9.1f %10.0f | %9.2f %9.2f | "
	       "%llu/%llu\n",
	    transport_names[t], conc, v->p50_us, v->p99_us, v->rate, f->p50_us, f->p99_us,
	    f->rate, f->p50_us > 0 ? v->p50_us / f->p50_us : 0.0,
	    v->rate > 0 ? f->rate / v->rate : 0.0, (unsigned long long)v->errors,
	    (unsigned long long)f->errors);
	fflush(stdout);
}

/* Reports on stderr what the table cannot show; returns -1 on errors. */
static int
check_result(const char *who, enum transport t, int conc, const struct result *r)
{
	int rc = 0;

	if (r->errors) {
		fprintf(stderr, "bench_rpc: %s %s x%d: %llu calls failed; first: %s\n",
		    who, transport_names[t], conc, (unsigned long long)r->errors,
		    r->first_err);
		rc = -1;
	}
	if (r->calls == 0) {
		fprintf(stderr, "bench_rpc: %s %s x%d: no call succeeded\n", who,
		    transport_names[t], conc);
		rc = -1;
	}
	if (r->max_ns >= STALL_NS)
		fprintf(stderr, "bench_rpc: note: %s %s x%d: slowest call took %.1f ms\n",
		    who, transport_names[t], conc, (double)r->max_ns / 1e6);
	if (r->dropped)
		fprintf(stderr,
		    "bench_rpc: note: %s %s x%d: %llu calls beyond the sample"
		    " arrays were counted but not timed\n",
		    who, transport_names[t], conc, (unsigned long long)r->dropped);
	return rc;
}

/* Waits until one call through c succeeds (the floor dials in the background). */
static int
wait_floor(vx_client *c, const Vexil__V1__GetFlagRequest *req, const char *url)
{
	Vexil__V1__Flag *out;
	vx_status st;

	if (vx_get_flag(c, req, &out, &st) != 0) {
		fprintf(stderr, "bench_rpc: the floor on %s did not answer: %s\n", url,
		    st.message);
		return -1;
	}
	vx_free(out);
	return 0;
}

static int
run_transport(const struct opts *o, const char *root, enum transport t, bool *header_done)
{
	Vexil__V1__GetFlagRequest req = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	struct vexild v = {.pid = 0};
	struct floor fl = {.open = false};
	struct result rv, rf;
	vx_client *fc = NULL;
	uint8_t *reply = NULL;
	size_t reply_len = 0, flag_len = 0;
	int rc = -1, failed = 0, status;
	char why[64];

	req.project = "default";
	req.key = "bench-flag";
	if (vexild_start(&v, o->vexild, root, t) != 0 ||
	    create_bench_flag(v.client) != 0 ||
	    build_floor_reply(v.client, &req, &reply, &reply_len, &flag_len) != 0 ||
	    floor_start(&fl, root, t, reply, reply_len) != 0)
		goto out;
	{
		/* The floor ignores the credential; it is sent to match vexild. */
		vx_client_opts co = {.credential = v.key, .timeout_ms = CALL_TIMEOUT_MS};
		if (vx_client_open(&fc, fl.url, &co) != 0) {
			fprintf(stderr, "bench_rpc: cannot open a client for %s\n",
			    fl.url);
			goto out;
		}
	}
	if (wait_floor(fc, &req, fl.url) != 0)
		goto out;
	if (!*header_done) {
		print_header(o, reply_len, flag_len);
		*header_done = true;
	}
	for (int i = 0; i < o->nlevels && !interrupted; i++) {
		int n = o->levels[i];
		if (run_point(v.client, &req, n, o, &rv) != 0 ||
		    run_point(fc, &req, n, o, &rf) != 0)
			goto out;
		if (interrupted)
			break;
		print_row(t, n, &rv, &rf);
		failed |= check_result("vexild", t, n, &rv) != 0;
		failed |= check_result("floor", t, n, &rf) != 0;
		if (vexild_exited(&v, &status)) {
			describe_exit(why, sizeof(why), status);
			fprintf(stderr, "bench_rpc: vexild died under load (%s)\n", why);
			print_log_tail(v.log);
			goto out;
		}
	}
	if (interrupted) {
		fprintf(stderr, "bench_rpc: interrupted\n");
		goto out;
	}
	rc = failed ? -1 : 0;
out:
	vx_client_close(fc);
	floor_stop(&fl);
	if (atomic_load(&fl.errors) != 0) {
		fprintf(stderr, "bench_rpc: the floor server saw %u transport errors\n",
		    atomic_load(&fl.errors));
		rc = -1;
	}
	if (vexild_stop(&v) != 0)
		rc = -1;
	free(reply);
	return rc;
}

/* ---- command line ---- */

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: bench_rpc [options]\n"
	    "  --vexild PATH          vexild to run (default %s)\n"
	    "  --seconds S            measured time per point (default 2)\n"
	    "  --warmup S             unmeasured calls before each point (default 0.3)\n"
	    "  --transports LIST      from ipc,tcp (default ipc,tcp)\n"
	    "  --concurrency LIST     threads per point, e.g. 1,16,64 (default)\n"
	    "  --help                 this text\n",
	    VX_VEXILD_PATH);
}

static int
parse_seconds(const char *opt, const char *v, double min, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !(d >= min) || d > 3600) {
		fprintf(stderr, "bench_rpc: %s needs a number of seconds (%g..3600)\n",
		    opt, min);
		return -1;
	}
	*out = d;
	return 0;
}

static int
parse_transports(const char *v, struct opts *o)
{
	char buf[64], *tok, *save = NULL;
	int t;

	memset(o->transports, 0, sizeof(o->transports));
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (t = 0; t < T_COUNT; t++)
			if (strcmp(tok, transport_names[t]) == 0)
				break;
		if (t == T_COUNT) {
			fprintf(stderr, "bench_rpc: unknown transport %s (ipc, tcp)\n",
			    tok);
			return -1;
		}
		o->transports[t] = true;
	}
	for (t = 0; t < T_COUNT; t++)
		if (o->transports[t])
			return 0;
	fprintf(stderr, "bench_rpc: --transports names none\n");
	return -1;
}

static int
parse_levels(const char *v, struct opts *o)
{
	char buf[256], *tok, *save = NULL, *end;
	long n;

	o->nlevels = 0;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		errno = 0;
		n = strtol(tok, &end, 10);
		if (errno != 0 || end == tok || *end != '\0' || n < 1 ||
		    n > MAX_THREADS) {
			fprintf(stderr, "bench_rpc: concurrency %s is not in 1..%d\n",
			    tok, MAX_THREADS);
			return -1;
		}
		if (o->nlevels == MAX_LEVELS) {
			fprintf(stderr, "bench_rpc: at most %d concurrency levels\n",
			    MAX_LEVELS);
			return -1;
		}
		o->levels[o->nlevels++] = (int)n;
	}
	if (o->nlevels == 0) {
		fprintf(stderr, "bench_rpc: --concurrency names none\n");
		return -1;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL) {
			fprintf(stderr, "bench_rpc: %s needs a value\n", a);
			usage(stderr);
			return -1;
		}
		i++;
		if (strcmp(a, "--vexild") == 0) {
			o->vexild = v;
		} else if (strcmp(a, "--seconds") == 0) {
			if (parse_seconds(a, v, 0.01, &o->seconds) != 0)
				return -1;
		} else if (strcmp(a, "--warmup") == 0) {
			if (parse_seconds(a, v, 0, &o->warmup) != 0)
				return -1;
		} else if (strcmp(a, "--transports") == 0) {
			if (parse_transports(v, o) != 0)
				return -1;
		} else if (strcmp(a, "--concurrency") == 0) {
			if (parse_levels(v, o) != 0)
				return -1;
		} else {
			fprintf(stderr, "bench_rpc: unknown option %s\n", a);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = {
	    .vexild = VX_VEXILD_PATH,
	    .seconds = 2.0,
	    .warmup = 0.3,
	    .transports = {true, true},
	    .levels = {1, 16, 64},
	    .nlevels = 3,
	};
	struct sigaction sa;
	char root[64];
	bool header_done = false;
	int rc = 0;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if (access(o.vexild, X_OK) != 0) {
		fprintf(stderr,
		    "bench_rpc: cannot run vexild at %s: %s (use --vexild PATH)\n",
		    o.vexild, strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Under /tmp, not $TMPDIR: ipc paths must fit in sun_path. */
	snprintf(root, sizeof(root), "/tmp/vexil-bench-XXXXXX");
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "bench_rpc: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	/* A failed transport does not hide the other's figures. */
	for (int t = 0; t < T_COUNT && !interrupted; t++)
		if (o.transports[t] &&
		    run_transport(&o, root, (enum transport)t, &header_done) != 0)
			rc = 1;
	if (interrupted)
		rc = 1;
	remove_tree(root);
	return rc;
}
