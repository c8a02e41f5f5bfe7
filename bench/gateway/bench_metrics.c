/*
 * bench_metrics: what counting one request costs the gateway's metrics
 * registry (src/gateway/metrics.h): vx_gw_metrics_http() in a tight loop,
 * from 1 and then 2 threads at once, printing nanoseconds per counted
 * request per thread. Each thread counts into its own shard, so the two
 * figures stay close unless the machine is busy. No thresholds.
 *
 *   build/bench_metrics [COUNT]   (default 20000000 per thread)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "gateway/dialects.h"
#include "gateway/metrics.h"

static long count = 20000000;

static void *
run(void *arg)
{
	const vx_gw_dialect *d = vx_gw_dialects[1];

	(void)arg;
	for (long i = 0; i < count; i++)
		vx_gw_metrics_http(d, &d->routes[(size_t)i % d->n_routes], 200, 1000 + (uint64_t)i);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t th[2];

	if (argc > 1 && (count = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: bench_metrics [COUNT]\n");
		return 2;
	}
	if (vx_gw_metrics_init(vx_gw_dialects, vx_gw_n_dialects) != 0)
		return 1;
	for (int n = 1; n <= 2; n++) {
		uint64_t t0 = vx_mono_ns();
		for (int i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, run, NULL) != 0)
				return 1;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		printf("bench_metrics: %d thread%s: %.1f ns per counted request\n", n,
		    n > 1 ? "s" : "", (double)(vx_mono_ns() - t0) / (double)count);
	}
	return 0;
}
