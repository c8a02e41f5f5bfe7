/*
 * bench_http_floor: the bare nng HTTP server, as a floor for bench/gateway.
 *
 * nng's own HTTP server (nng/supplemental/http) answering every GET of
 * /floor with a fixed small JSON body: no routing of ours, no dialect, no
 * core. bench/gateway/run.sh runs wrk against it next to the gateway, so
 * that the gateway's figures read as a fraction of what HTTP on nng costs
 * on the same machine in the same minute.
 *
 *   bench_http_floor http://127.0.0.1:PORT
 *
 * Serves until SIGTERM or SIGINT.
 */
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char body[] = "{\"status\":\"ok\"}";

int
main(int argc, char **argv)
{
	nng_http_server *srv = NULL;
	nng_http_handler *h = NULL;
	nng_url *url = NULL;
	sigset_t set;
	int rv, sig;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_http_floor http://HOST:PORT\n");
		return 2;
	}
	/* Wait for the signal in sigwait, not in a handler. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rv = nng_url_parse(&url, argv[1])) != 0 ||
	    (rv = nng_http_server_hold(&srv, url)) != 0 ||
	    (rv = nng_http_handler_alloc_static(
	         &h, "/floor", body, strlen(body), "application/json")) != 0 ||
	    (rv = nng_http_server_add_handler(srv, h)) != 0 ||
	    (rv = nng_http_server_start(srv)) != 0) {
		fprintf(stderr, "bench_http_floor: %s: %s\n", argv[1], nng_strerror(rv));
		return 1;
	}
	sigwait(&set, &sig);
	nng_http_server_stop(srv);
	nng_http_server_release(srv);
	nng_url_free(url);
	return 0;
}
