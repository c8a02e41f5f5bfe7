/*
 * bench_soak — a long mixed load on vexild and the gateway, watching memory.
 *
 * It starts the vexild and vexil-gateway of this build on a temp data dir
 * and free ports (or is pointed at running ones with --rpc/--key and
 * --gateway, plus --vexild-pid/--gateway-pid to watch them), makes a
 * working set of flags, and then, for --seconds, issues --rate operations
 * a second from --threads threads, paced by one shared schedule so the
 * rate holds whatever the latency. The mix (--mix R,W,E,G, percent):
 *
 *   R  reads:       FlagService/GetFlag and ListFlags (libvexil, RPC)
 *   W  writes:      toggles, description updates, and a flag per thread
 *                   created and deleted in turn
 *   E  evaluations: EvaluationService/Evaluate with a fresh user id
 *   G  gateway:     POST /v1/sdk/evaluate through vexil-gateway (libcurl)
 *
 * Every --interval seconds it prints a row: time, operations done, errors,
 * and the resident memory of vexild and the gateway from /proc (VmRSS,
 * and RssAnon, the heap and stacks without LMDB's file pages, which grow
 * with the data and are the kernel's to drop). At the end it says whether
 * memory plateaued: after a warm-up fifth, the peak RssAnon of the second
 * half of the run may exceed that of the first half by at most 5% (or
 * 1 MiB).
 *
 * Retention: the vexild it starts keeps --keep N entries per project of
 * each log (--change-log-keep, --audit-keep, --eval-log-keep; default
 * 200, so a short run reaches the caps), and each row also shows the size
 * of its data file (data.mdb). Once the caps are reached, trimmed pages
 * are reused, so the file stops growing: after the warm-up fifth, the
 * file may grow in the second half by at most 5% of its size in the first
 * (or 256 KiB), which the end says. Exit status: 0 when every operation
 * succeeded, memory plateaued and the data file stopped growing, 1
 * otherwise, 2 for a usage error.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "vexil.h"

#define FLAGS 50
#define MAX_THREADS 64
#define MAX_SAMPLES 100000

struct opts {
	double seconds, interval;
	int rate, threads;
	int mix[4]; /* reads, writes, evaluations, gateway: percent */
	const char *rpc, *key, *gateway;
	pid_t vexild_pid, gateway_pid;
	const char *vexild, *gateway_bin;
	const char *keep; /* the started vexild's log caps */
};

struct sample {
	double t;
	uint64_t ops, errors;
	long rss[2], anon[2]; /* kB: vexild, gateway */
	long data_kb;         /* data.mdb, when we started vexild; else -1 */
};

static struct opts o;
static char rpc_url[300], key[128], gw_url[128];
static uint64_t t0;
static atomic_uint_fast64_t next_op, done_ops, errors;
static atomic_uint_fast64_t kind_ops[4], kind_errors[4];
static atomic_bool stop;

/* VmRSS and RssAnon of pid, in kB; -1 when it cannot be read. */
static void
mem_of(pid_t pid, long *rss, long *anon)
{
	char path[64], line[256];
	FILE *f;

	*rss = *anon = -1;
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			*anon = strtol(line + 8, NULL, 10);
	}
	fclose(f);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

struct worker {
	int id;
	vx_client *c;
	CURL *curl;
	struct curl_slist *headers;
	bool tmp_exists;
	int tmp_gen;
};

static int
op_read(struct worker *w, uint64_t k)
{
	vx_status st;
	char fk[32];

	if (k % 5 == 0) {
		Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
		Vexil__V1__FlagList *out;
		in.project = "default";
		in.limit = 20;
		in.offset = (uint32_t)(k % 40);
		if (vx_list_flags(w->c, &in, &out, &st) != 0)
			return -1;
		vx_free(out);
		return 0;
	}
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	snprintf(fk, sizeof(fk), "soak-%d", (int)(k % FLAGS));
	in.project = "default";
	in.key = fk;
	if (vx_get_flag(w->c, &in, &f, &st) != 0)
		return -1;
	vx_free(f);
	return 0;
}

static int
op_write(struct worker *w, uint64_t k)
{
	vx_status st;
	char fk[48];
	Vexil__V1__Flag *f;

	switch (k % 3) {
	case 0: {
		Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
		snprintf(fk, sizeof(fk), "soak-%d", (int)(k % FLAGS));
		in.project = "default";
		in.key = fk;
		in.environment = "staging";
		in.toggle = true;
		if (vx_set_flag_enabled(w->c, &in, &f, &st) != 0)
			return -1;
		vx_free(f);
		return 0;
	}
	case 1: {
		Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
		Vexil__V1__Flag u = VEXIL__V1__FLAG__INIT;
		char desc[64], *mask[] = {"description"};
		snprintf(fk, sizeof(fk), "soak-%d", (int)(k % FLAGS));
		snprintf(desc, sizeof(desc), "soak write %llu", (unsigned long long)k);
		u.description = desc;
		in.project = "default";
		in.key = fk;
		in.update = &u;
		in.update_mask = mask;
		in.n_update_mask = 1;
		if (vx_update_flag(w->c, &in, &f, &st) != 0)
			return -1;
		vx_free(f);
		return 0;
	}
	default:
		snprintf(fk, sizeof(fk), "tmp-%d-%d", w->id, w->tmp_gen);
		if (!w->tmp_exists) {
			Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
			Vexil__V1__Flag nf = VEXIL__V1__FLAG__INIT;
			in.project = "default";
			in.flag = &nf;
			nf.key = fk;
			if (vx_create_flag(w->c, &in, &f, &st) != 0)
				return -1;
			vx_free(f);
			w->tmp_exists = true;
		} else {
			Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
			Vexil__V1__Empty *e;
			in.project = "default";
			in.key = fk;
			if (vx_delete_flag(w->c, &in, &e, &st) != 0)
				return -1;
			vx_free(e);
			w->tmp_exists = false;
			w->tmp_gen++;
		}
		return 0;
	}
}

static int
op_eval(struct worker *w, uint64_t k)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *r;
	vx_status st;
	char fk[32], uid[32];

	snprintf(fk, sizeof(fk), "soak-%d", (int)(k % FLAGS));
	snprintf(uid, sizeof(uid), "user-%llu", (unsigned long long)k);
	ctx.user_id = uid;
	ctx.email = k % 2 ? "ann@example.com" : "bob@other.org";
	in.project = "default";
	in.environment = "production";
	in.flag_key = fk;
	in.context = &ctx;
	if (vx_evaluate(w->c, &in, &r, &st) != 0)
		return -1;
	vx_free(r);
	return 0;
}

static int
op_gateway(struct worker *w, uint64_t k)
{
	char body[200], url[200];
	long status = 0;

	snprintf(url, sizeof(url), "%s/v1/sdk/evaluate", gw_url);
	snprintf(body, sizeof(body),
	    "{\"project_id\":\"proj-1\",\"environment\":\"production\","
	    "\"user\":{\"id\":\"user-%llu\",\"email\":\"ann@example.com\"}}",
	    (unsigned long long)k);
	curl_easy_setopt(w->curl, CURLOPT_URL, url);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(w->curl) != CURLE_OK ||
	    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		return -1;
	return status == 200 ? 0 : -1;
}

/* Which kind operation k is, spread evenly by the mix. */
static int
kind_of(uint64_t k)
{
	int r = (int)((k * 37) % 100), acc = 0;

	for (int i = 0; i < 4; i++) {
		acc += o.mix[i];
		if (r < acc)
			return i;
	}
	return 0;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	int (*const ops[4])(struct worker *, uint64_t) = {op_read, op_write, op_eval,
		op_gateway};

	while (!atomic_load(&stop) && !bench_interrupted) {
		uint64_t k = atomic_fetch_add(&next_op, 1);
		/* Operation k is due at t0 + k / rate. */
		uint64_t due = t0 + (uint64_t)((double)k * 1e9 / o.rate), now = bench_now_ns();
		int kind = kind_of(k);
		if (due > now) {
			uint64_t ns = due - now;
			struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
			nanosleep(&ts, NULL);
		}
		if (atomic_load(&stop))
			break;
		if (ops[kind](w, k) != 0) {
			atomic_fetch_add(&errors, 1);
			atomic_fetch_add(&kind_errors[kind], 1);
		}
		atomic_fetch_add(&done_ops, 1);
		atomic_fetch_add(&kind_ops[kind], 1);
	}
	return NULL;
}

static int
setup_flags(vx_client *c)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	vx_status st;
	char fk[32];

	in.project = "default";
	in.flag = &f;
	f.key = fk;
	for (int i = 0; i < FLAGS; i++) {
		snprintf(fk, sizeof(fk), "soak-%d", i);
		if (vx_create_flag(c, &in, &out, &st) != 0) {
			if (st.code == VEXIL__V1__CODE__ALREADY_EXISTS)
				continue;
			fprintf(stderr, "bench_soak: cannot create %s: %s\n", fk, st.message);
			return -1;
		}
		vx_free(out);
	}
	return 0;
}

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: bench_soak [options]\n"
	    "  --seconds S       how long to run (default 60)\n"
	    "  --rate N          operations per second (default 300)\n"
	    "  --mix R,W,E,G     percent reads, writes, evaluations, gateway calls\n"
	    "                    (default 55,10,25,10)\n"
	    "  --threads N       client threads (default 8)\n"
	    "  --interval S      seconds between samples (default 5)\n"
	    "  --rpc URL --key KEY      use a running vexild instead of starting one\n"
	    "  --gateway URL            and a running gateway (http://host:port)\n"
	    "  --vexild-pid P --gateway-pid P   their processes, for the memory columns\n"
	    "  --vexild PATH --gateway-bin PATH the binaries to start\n"
	    "  --keep N          the started vexild's --change-log-keep, --audit-keep\n"
	    "                    and --eval-log-keep (default 200)\n");
}

static int
parse_args(int argc, char **argv)
{
	o.seconds = 60;
	o.interval = 5;
	o.rate = 300;
	o.threads = 8;
	o.mix[0] = 55, o.mix[1] = 10, o.mix[2] = 25, o.mix[3] = 10;
	o.vexild = VX_VEXILD_PATH;
	o.keep = "200";
	o.gateway_bin = VX_GATEWAY_PATH;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int n;
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL) {
			fprintf(stderr, "bench_soak: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--seconds") == 0) {
			if (bench_parse_seconds(a, v, 1, &o.seconds) != 0)
				return -1;
		} else if (strcmp(a, "--interval") == 0) {
			if (bench_parse_seconds(a, v, 0.5, &o.interval) != 0)
				return -1;
		} else if (strcmp(a, "--rate") == 0) {
			if (bench_parse_int(a, v, 1, 1000000, &o.rate) != 0)
				return -1;
		} else if (strcmp(a, "--threads") == 0) {
			if (bench_parse_int(a, v, 1, MAX_THREADS, &o.threads) != 0)
				return -1;
		} else if (strcmp(a, "--mix") == 0) {
			if (bench_parse_ints(a, v, 0, 100, o.mix, 4, &n) != 0)
				return -1;
			if (n != 4 || o.mix[0] + o.mix[1] + o.mix[2] + o.mix[3] != 100) {
				fprintf(stderr, "bench_soak: --mix takes four percentages that add "
				    "up to 100\n");
				return -1;
			}
		} else if (strcmp(a, "--rpc") == 0) {
			o.rpc = v;
		} else if (strcmp(a, "--key") == 0) {
			o.key = v;
		} else if (strcmp(a, "--gateway") == 0) {
			o.gateway = v;
		} else if (strcmp(a, "--vexild-pid") == 0 || strcmp(a, "--gateway-pid") == 0) {
			if (bench_parse_int(a, v, 1, 1 << 30, &n) != 0)
				return -1;
			*(a[2] == 'v' ? &o.vexild_pid : &o.gateway_pid) = (pid_t)n;
		} else if (strcmp(a, "--keep") == 0) {
			if (atoi(v) <= 0) {
				fprintf(stderr,
				    "bench_soak: --keep needs a positive number\n");
				return -1;
			}
			o.keep = v;
		} else if (strcmp(a, "--vexild") == 0) {
			o.vexild = v;
		} else if (strcmp(a, "--gateway-bin") == 0) {
			o.gateway_bin = v;
		} else {
			fprintf(stderr, "bench_soak: unknown option %s\n", a);
			usage(stderr);
			return -1;
		}
	}
	if ((o.rpc == NULL) != (o.key == NULL)) {
		fprintf(stderr, "bench_soak: --rpc and --key go together\n");
		return -1;
	}
	if (o.mix[3] > 0 && o.rpc != NULL && o.gateway == NULL) {
		fprintf(stderr, "bench_soak: with --rpc, give --gateway too (or a mix without "
		    "gateway calls)\n");
		return -1;
	}
	return 0;
}

static pid_t
start_gateway(const char *root, int port)
{
	char listen[64], log[300];
	pid_t pid;

	snprintf(listen, sizeof(listen), "http://127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/gateway.log", root);
	if ((pid = fork()) == 0) {
		FILE *f = freopen(log, "a", stderr);
		(void)f;
		execl(o.gateway_bin, o.gateway_bin, "--listen", listen, "--rpc", rpc_url,
		    "--quiet", (char *)NULL);
		_exit(127);
	}
	snprintf(gw_url, sizeof(gw_url), "%s", listen);
	return pid;
}

/* Waits until the gateway answers /health. */
static int
wait_gateway(CURL *curl)
{
	char url[200];
	long status = 0;

	snprintf(url, sizeof(url), "%s/health", gw_url);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	for (int i = 0; i < 200; i++) {
		if (curl_easy_perform(curl) == CURLE_OK &&
		    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
		    status == 200)
			return 0;
		bench_sleep_ms(25);
	}
	fprintf(stderr, "bench_soak: the gateway at %s does not answer\n", gw_url);
	return -1;
}

static void
print_row(const struct sample *s)
{
	printf("%7.0f %10llu %7llu %9ld %9ld %9ld %9ld %9ld\n", s->t,
	    (unsigned long long)s->ops, (unsigned long long)s->errors, s->rss[0],
	    s->anon[0], s->rss[1], s->anon[1], s->data_kb);
	fflush(stdout);
}

/* The peak of column `which` (0 vexild, 1 gateway) RssAnon over [a, b). */
static long
peak(const struct sample *s, size_t a, size_t b, int which)
{
	long m = -1;
	for (size_t i = a; i < b; i++)
		if (s[i].anon[which] > m)
			m = s[i].anon[which];
	return m;
}

static bool
plateaued(const struct sample *s, size_t n, int which, const char *name)
{
	size_t warm = n / 5, mid;
	long first, second, allowed;

	if (n - warm < 4) {
		printf("%s: too few samples to judge (run longer)\n", name);
		return false;
	}
	mid = warm + (n - warm) / 2;
	first = peak(s, warm, mid, which);
	second = peak(s, mid, n, which);
	if (first < 0 || second < 0) {
		printf("%s: memory not readable\n", name);
		return true;
	}
	allowed = first / 20 > 1024 ? first / 20 : 1024;
	printf("%s: peak RssAnon %ld kB in the first half, %ld kB in the second (%+ld kB, "
	    "allowed %ld): %s\n", name, first, second, second - first, allowed,
	    second - first <= allowed ? "plateaued" : "STILL GROWING");
	return second - first <= allowed;
}

/* data.mdb's size in kB, or -1. */
static long
data_kb(const char *dir)
{
	char path[400];
	struct stat sb;

	if (dir[0] == '\0')
		return -1;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	return stat(path, &sb) == 0 ? (long)(sb.st_size / 1024) : -1;
}

/* Whether the data file stopped growing, as plateaued() for memory. */
static bool
data_stopped(const struct sample *s, size_t n)
{
	size_t warm = n / 5, mid;
	long first = -1, second = -1, allowed;

	if (n - warm < 4)
		return false; /* plateaued() has said so */
	mid = warm + (n - warm) / 2;
	for (size_t i = warm; i < n; i++) {
		long *m = i < mid ? &first : &second;
		if (s[i].data_kb > *m)
			*m = s[i].data_kb;
	}
	if (first < 0 || second < 0) {
		printf("data file: not ours to watch (a running vexild)\n");
		return true;
	}
	allowed = first / 20 > 256 ? first / 20 : 256;
	printf(
	    "data file: %ld kB in the first half, %ld kB in the second (%+ld kB, allowed "
	    "%ld) with every log capped at %s per project: %s\n",
	    first, second, second - first, allowed, o.keep,
	    second - first <= allowed ? "stopped growing" : "STILL GROWING");
	return second - first <= allowed;
}

int
main(int argc, char **argv)
{
	static struct sample samples[MAX_SAMPLES];
	struct bench_vexild v = {0};
	struct worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	pid_t gateway = 0;
	char root[64] = "";
	size_t n = 0;
	int ports[1], rc = 1;
	bool ok;

	bench_init("bench_soak");
	if (parse_args(argc, argv) != 0)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (o.rpc == NULL) {
		const char *const args[] = {"--rate-limit", "0", "--change-log-keep",
		    o.keep, "--audit-keep", o.keep, "--eval-log-keep", o.keep, NULL};
		if (bench_make_root(root, sizeof(root)) != 0)
			return 1;
		if (bench_vexild_start(&v, o.vexild, root, "soak", BENCH_TCP, args) != 0)
			goto out;
		snprintf(rpc_url, sizeof(rpc_url), "%s", v.rpc);
		snprintf(key, sizeof(key), "%s", v.key);
		o.vexild_pid = v.pid;
	} else {
		snprintf(rpc_url, sizeof(rpc_url), "%s", o.rpc);
		snprintf(key, sizeof(key), "%s", o.key);
	}
	if (o.gateway != NULL) {
		snprintf(gw_url, sizeof(gw_url), "%s", o.gateway);
	} else if (o.mix[3] > 0) {
		if (bench_free_ports(ports, 1) != 0)
			goto out;
		gateway = start_gateway(root, ports[0]);
		o.gateway_pid = gateway;
	}

	memset(w, 0, sizeof(w));
	for (int i = 0; i < o.threads; i++) {
		vx_client_opts co = {.credential = key, .timeout_ms = 10000};
		char auth[200];
		w[i].id = i;
		if (vx_client_open(&w[i].c, rpc_url, &co) != 0 ||
		    (w[i].curl = curl_easy_init()) == NULL) {
			fprintf(stderr, "bench_soak: cannot open clients\n");
			goto out_clients;
		}
		snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", key);
		w[i].headers = curl_slist_append(NULL, auth);
		w[i].headers = curl_slist_append(w[i].headers, "Content-Type: application/json");
		curl_easy_setopt(w[i].curl, CURLOPT_HTTPHEADER, w[i].headers);
		curl_easy_setopt(w[i].curl, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(w[i].curl, CURLOPT_TIMEOUT_MS, 10000L);
		curl_easy_setopt(w[i].curl, CURLOPT_NOSIGNAL, 1L);
	}
	if (setup_flags(w[0].c) != 0 || (o.mix[3] > 0 && wait_gateway(w[0].curl) != 0))
		goto out_clients;

	printf("bench_soak: %.0f s at %d ops/s, mix reads %d%% writes %d%% evaluations %d%% "
	    "gateway %d%%, %d threads\n", o.seconds, o.rate, o.mix[0], o.mix[1], o.mix[2],
	    o.mix[3], o.threads);
	printf("%7s %10s %7s %9s %9s %9s %9s %9s\n", "time_s", "ops", "errors",
	    "vexild_kB", "(anon)", "gw_kB", "(anon)", "data_kB");
	t0 = bench_now_ns();
	for (int i = 0; i < o.threads; i++)
		pthread_create(&th[i], NULL, work, &w[i]);
	for (double next = 0; !bench_interrupted && n < MAX_SAMPLES; next += o.interval) {
		double now = (double)(bench_now_ns() - t0) / 1e9;
		if (next > now)
			bench_sleep_ms((int)((next - now) * 1000));
		struct sample *s = &samples[n++];
		s->t = (double)(bench_now_ns() - t0) / 1e9;
		s->ops = atomic_load(&done_ops);
		s->errors = atomic_load(&errors);
		mem_of(o.vexild_pid, &s->rss[0], &s->anon[0]);
		mem_of(o.gateway_pid, &s->rss[1], &s->anon[1]);
		s->data_kb = data_kb(o.rpc == NULL ? v.data : "");
		print_row(s);
		if (s->t + 0.1 >= o.seconds)
			break;
		if (o.rpc == NULL && bench_vexild_check(&v, "the soak") != 0)
			break;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < o.threads; i++)
		pthread_join(th[i], NULL);

	{
		double secs = (double)(bench_now_ns() - t0) / 1e9;
		static const char *const names[4] = {"reads", "writes", "evaluations", "gateway"};
		uint64_t total = atomic_load(&done_ops), bad = atomic_load(&errors);
		printf("\n%llu operations in %.1f s: %.0f ops/s (asked %d), %llu errors\n",
		    (unsigned long long)total, secs, (double)total / secs, o.rate,
		    (unsigned long long)bad);
		for (int i = 0; i < 4; i++)
			printf("  %-12s %10llu ops %7llu errors\n", names[i],
			    (unsigned long long)atomic_load(&kind_ops[i]),
			    (unsigned long long)atomic_load(&kind_errors[i]));
		ok = plateaued(samples, n, 0, "vexild");
		if (o.gateway_pid > 0)
			ok = plateaued(samples, n, 1, "gateway") && ok;
		ok = data_stopped(samples, n) && ok;
		rc = ok && bad == 0 && !bench_interrupted ? 0 : 1;
		printf("result: %s\n",
		    rc == 0 ? "PASS (no errors, memory plateaued, data file "
		              "stopped growing)"
		            : "FAIL");
	}
out_clients:
	for (int i = 0; i < o.threads; i++) {
		vx_client_close(w[i].c);
		if (w[i].curl)
			curl_easy_cleanup(w[i].curl);
		curl_slist_free_all(w[i].headers);
	}
out:
	if (gateway > 0) {
		kill(gateway, SIGTERM);
		waitpid(gateway, NULL, 0);
	}
	if (o.rpc == NULL && bench_vexild_stop(&v) != 0)
		rc = 1;
	if (root[0] != '\0')
		bench_remove_tree(root);
	curl_global_cleanup();
	return rc;
}
