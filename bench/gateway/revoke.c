/*
 * bench_revoke — how soon a revoked SDK key is refused by every gateway
 * that evaluates at the edge (issue #16: a revoked key is refused at
 * every gateway within the push latency of the change).
 *
 * It starts the real vexild of this build (or --vexild PATH) with
 * --rate-limit 0 and, for each count G in --gateways (default 1,10), G
 * real vexil-gateway processes (or --gateway PATH) with their default
 * edge evaluation, all on one vexild: G gateways' worth of watchers of
 * the same project. Each round (--rounds, default 20) it creates an SDK
 * key of project "default" bound to production with libvexil and makes
 * every gateway evaluate with it (OFREP, one flag, on a keep-alive
 * connection per gateway) until each answers 200 from its edge (the key
 * cached, the snapshot live). One thread per gateway then keeps
 * evaluating with the key, one request a millisecond, while the main
 * thread revokes it (KeyService/RevokeSdkKey); each thread records the
 * time from just before the revocation was sent to the first 401 its
 * gateway answered. The pause matters: pollers without one make every
 * gateway send vexild a batch of thousands of evaluation records every
 * 100 ms, which on a small machine delays the revocation itself by
 * seconds.
 *
 * Figures over every (round, gateway): the median, p99 and maximum of
 * revoke-sent to refused, and the revocation's own round trip (ack).
 * Polling adds up to a millisecond and one request's time to each
 * figure; on a small machine G gateways and G pollers share its CPUs. No
 * thresholds: it exits 0 after printing a row per G, or non-zero with a
 * message when a process fails or a gateway still answers 200 five
 * seconds after the revocation.
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench_common.h"
#include "probe.h"

#define MAX_GATEWAYS 16
#define MAX_LEVELS 8
#define FLAG_KEY "revoke-probe"
#define GIVE_UP_NS 5000000000ull

struct opts {
	const char *vexild, *gateway;
	int levels[MAX_LEVELS], nlevels;
	int rounds;
};

struct poller {
	pthread_t thread;
	int fd;
	int port;
	const char *key;
	const atomic_uint_fast64_t *sent; /* ns the revocation was sent; 0: not yet */
	uint64_t refused_ns;              /* sent to the first 401; 0: none */
	int error;
};

/* One OFREP evaluation on fd: its status, or -1 when the exchange failed. */
static int
evaluate(int fd, const char *key)
{
	static const char body[] = "{\"context\":{\"targetingKey\":\"u1\"}}";
	char req[512], buf[8192];
	size_t got = 0, need = 0;
	int n, status = -1;
	const char *end, *cl;

	n = snprintf(req, sizeof(req),
	    "POST /ofrep/v1/evaluate/flags/" FLAG_KEY " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    key, sizeof(body) - 1, body);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	for (;;) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL) {
			if (got == sizeof(buf) - 1)
				return -1;
			continue;
		}
		if (status < 0) {
			if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
				return -1;
			cl = strcasestr(buf, "\r\ncontent-length:");
			need = (size_t)(end + 4 - buf) +
			       (cl ? strtoul(cl + 17, NULL, 10) : 0);
			if (need >= sizeof(buf))
				return -1;
		}
		if (got >= need)
			return status;
	}
}

static void *
poll_until_refused(void *arg)
{
	struct poller *p = arg;

	for (;;) {
		int status = evaluate(p->fd, p->key);
		uint64_t now = bench_now_ns(), sent = atomic_load(p->sent);

		if (status == 401 && sent != 0) {
			p->refused_ns = now - sent;
			return NULL;
		}
		if ((status != 200 && status != 401) || bench_interrupted) {
			p->error = status;
			return NULL;
		}
		if (sent != 0 && now - sent > GIVE_UP_NS)
			return NULL;
		bench_sleep_ms(1);
	}
}

/* One round over n gateways: out[i] is gateway i's revoke-to-refused. */
static int
round_once(
    struct bench_vexild *v, struct bench_gateway *gs, int n, uint64_t *out, uint64_t *ack)
{
	Vexil__V1__RevokeSdkKeyRequest in = VEXIL__V1__REVOKE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__Empty *e;
	struct poller ps[MAX_GATEWAYS];
	atomic_uint_fast64_t sent = 0;
	char key[128];
	vx_status st;
	int rc = 0, started = 0;

	if (bench_probe_sdk_key(v->client, key, sizeof(key), &in.id) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		ps[i] = (struct poller){.fd = bench_dial(gs[i].port),
		    .port = gs[i].port,
		    .key = key,
		    .sent = &sent};
		if (ps[i].fd < 0) {
			fprintf(stderr, "bench_revoke: cannot reach gateway %d: %s\n", i,
			    strerror(errno));
			rc = -1;
			break;
		}
		/* The first asks vexild and starts the watch; then the edge answers. */
		for (int k = 0; k < 3 && rc == 0; k++)
			if (evaluate(ps[i].fd, key) != 200) {
				fprintf(stderr,
				    "bench_revoke: gateway %d does not evaluate\n", i);
				rc = -1;
			}
		if (rc == 0 &&
		    pthread_create(&ps[i].thread, NULL, poll_until_refused, &ps[i]) == 0)
			started = i + 1;
		else
			rc = -1;
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		uint64_t t0;
		bench_sleep_ms(20);
		t0 = bench_now_ns();
		atomic_store(&sent, t0);
		if (vx_revoke_sdk_key(v->client, &in, &e, &st) != 0) {
			fprintf(stderr, "bench_revoke: RevokeSdkKey failed: %s\n",
			    st.message);
			rc = -1;
		} else {
			*ack = bench_now_ns() - t0;
			vx_free(e);
		}
	}
	if (rc != 0)
		atomic_store(
		    &sent, bench_now_ns() - GIVE_UP_NS); /* the pollers give up */
	for (int i = 0; i < started; i++) {
		pthread_join(ps[i].thread, NULL);
		if (rc == 0 && ps[i].refused_ns == 0) {
			fprintf(stderr,
			    "bench_revoke: gateway %d still answers a revoked key "
			    "(status %d)\n",
			    i, ps[i].error);
			rc = -1;
		}
		out[i] = ps[i].refused_ns;
	}
	for (int i = 0; i < n; i++)
		if (ps[i].fd >= 0)
			close(ps[i].fd);
	return rc;
}

static int
run_level(const struct opts *o, struct bench_vexild *v, const char *root, int n)
{
	struct bench_gateway gs[MAX_GATEWAYS];
	uint64_t *lat = calloc((size_t)(o->rounds * n), sizeof(*lat));
	uint64_t *acks = calloc((size_t)o->rounds, sizeof(*acks));
	char tag[32];
	int rc = -1, started = 0;

	memset(gs, 0, sizeof(gs));
	if (lat == NULL || acks == NULL)
		goto out;
	for (int i = 0; i < n; i++, started++) {
		snprintf(tag, sizeof(tag), "g%d-%d", n, i);
		if (bench_gateway_start(&gs[i], o->gateway, root, tag, v, NULL) != 0)
			goto out;
	}
	for (int r = 0; r < o->rounds && !bench_interrupted; r++)
		if (round_once(v, gs, n, lat + r * n, &acks[r]) != 0)
			goto out;
	qsort(lat, (size_t)(o->rounds * n), sizeof(*lat), bench_cmp_u64);
	qsort(acks, (size_t)o->rounds, sizeof(*acks), bench_cmp_u64);
	printf("%8d %8d %10.2f %10.2f %10.2f %10.2f\n", n, o->rounds,
	    (double)lat[bench_rank((size_t)(o->rounds * n), 0.5)] / 1e6,
	    (double)lat[bench_rank((size_t)(o->rounds * n), 0.99)] / 1e6,
	    (double)lat[o->rounds * n - 1] / 1e6,
	    (double)acks[bench_rank((size_t)o->rounds, 0.5)] / 1e6);
	fflush(stdout);
	rc = 0;
out:
	for (int i = 0; i < started; i++)
		if (bench_gateway_stop(&gs[i]) != 0)
			rc = -1;
	free(lat);
	free(acks);
	return rc;
}

int
main(int argc, char **argv)
{
	static const char *const args[] = {"--rate-limit", "0", NULL};
	struct opts o = {.vexild = VX_VEXILD_PATH,
	    .gateway = VX_GATEWAY_PATH,
	    .levels = {1, 10},
	    .nlevels = 2,
	    .rounds = 20};
	struct bench_vexild v = {.pid = 0};
	char root[64];
	int rc = 1;

	bench_init("bench_revoke");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0) {
			printf("usage: bench_revoke [--vexild PATH] [--gateway PATH] "
			       "[--gateways LIST (1,10)] [--rounds N (20)]\n");
			return 0;
		}
		if (val == NULL) {
			fprintf(stderr, "bench_revoke: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--vexild") == 0)
			o.vexild = val;
		else if (strcmp(a, "--gateway") == 0)
			o.gateway = val;
		else if (strcmp(a, "--gateways") == 0) {
			if (bench_parse_ints(a, val, 1, MAX_GATEWAYS, o.levels,
			        MAX_LEVELS, &o.nlevels) != 0)
				return 2;
		} else if (strcmp(a, "--rounds") == 0) {
			if (bench_parse_int(a, val, 1, 10000, &o.rounds) != 0)
				return 2;
		} else {
			fprintf(stderr, "bench_revoke: unknown option %s\n", a);
			return 2;
		}
	}
	if (bench_make_root(root, sizeof(root)) != 0)
		return 1;
	if (bench_vexild_start(&v, o.vexild, root, "revoke", BENCH_TCP, args) != 0 ||
	    bench_probe_create(v.client, FLAG_KEY, "revocation probe") != 0)
		goto out;
	printf("bench_revoke: revoke an SDK key, time until each gateway answers 401; "
	       "%d rounds, %ld CPUs\n",
	    o.rounds, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%8s %8s %10s %10s %10s %10s\n", "gateways", "rounds", "p50 ms", "p99 ms",
	    "max ms", "ack ms");
	rc = 0;
	for (int i = 0; i < o.nlevels && rc == 0 && !bench_interrupted; i++)
		rc = run_level(&o, &v, root, o.levels[i]) != 0;
out:
	if (bench_vexild_stop(&v) != 0)
		rc = 1;
	bench_remove_tree(root);
	return rc;
}
