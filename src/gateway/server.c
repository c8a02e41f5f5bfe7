/*
 * Vexil gateway — the HTTP server's listener and lifecycle: see server.h.
 *
 * This file only listens (http:// over TCP, https:// through nng's TLS,
 * configured by src/wire), hands each accepted stream to the connection
 * layer (conn.c), and starts and stops the pieces in order: the worker
 * pool (pool.c), the connections, the listener. It knows no dialect and
 * no HTTP syntax.
 */
#include "gateway/server.h"

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conn.h"
#include "gateway/pool.h"
#include "gateway/router.h"
#include "wire/wire.h"

/* A stop waits this long for responses being written before it closes
 * their connections. */
#define DRAIN_WRITE_MS 2000
/* What a core request holds besides the body: the credential, the method
 * name, the request id, the path's parameters and protobuf's tags. */
#define ENVELOPE_ROOM (VX_GW_CREDENTIAL_MAX + 4096)

struct vx_gw_server {
	vx_gw_opts o;
	nng_stream_listener *lst;
	nng_aio *acc;
	vx_gw_router *router;
	vx_gw_pool *pool;
	vx_gw_conns *conns;
	pthread_mutex_t mu;
	pthread_cond_t idle; /* accepting turned false */
	bool accepting;      /* the accept aio is busy */
	bool stopping;
};

static void
on_accept(void *arg)
{
	vx_gw_server *s = arg;
	int rv = nng_aio_result(s->acc);
	bool again;

	/* rv != 0: a failed handshake or a connection reset before it was
	 * taken; nng backs off by itself when out of descriptors. A stream
	 * accepted while stopping goes to the connections all the same:
	 * they close it with the others (the stop waits for this callback
	 * before it closes them). */
	if (rv == 0)
		vx_gw_conns_accept(s->conns, nng_aio_get_output(s->acc, 0));
	pthread_mutex_lock(&s->mu);
	again = !s->stopping && rv != NNG_ECLOSED;
	if (!again) {
		s->accepting = false;
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->mu);
	if (again)
		nng_stream_listener_accept(s->lst, s->acc);
}

static int
listen_http(vx_gw_server *s, bool *tls)
{
	nng_tls_config *cfg = NULL;
	nng_url *url = NULL;
	char addr[300];
	int rv, rc = VX_EINVAL;

	if ((rv = nng_url_parse(&url, s->o.listen_url)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: bad --listen URL %s: %s", s->o.listen_url,
		    nng_strerror(rv));
		goto out;
	}
	*tls = strcmp(url->u_scheme, "https") == 0;
	if (!*tls && strcmp(url->u_scheme, "http") != 0) {
		vx_log(VX_LOG_ERROR, "gateway: --listen must be http:// or https://");
		goto out;
	}
	if (*tls != (s->o.tls_cert != NULL) || *tls != (s->o.tls_key != NULL)) {
		vx_log(VX_LOG_ERROR, "gateway: https:// needs --tls-cert and --tls-key, "
		                     "and they need https://");
		goto out;
	}
	if ((url->u_path[0] && strcmp(url->u_path, "/") != 0) || url->u_port[0] == '\0') {
		vx_log(
		    VX_LOG_ERROR, "gateway: --listen takes a scheme, host and port only");
		goto out;
	}
	/* nng's stream URLs: tcp://, and tls+tcp:// for TLS over TCP. */
	snprintf(addr, sizeof(addr), "%s://%s", *tls ? "tls+tcp" : "tcp", url->u_host);
	if ((rv = nng_stream_listener_alloc(&s->lst, addr)) != 0) {
		vx_log(
		    VX_LOG_ERROR, "gateway: %s: %s", s->o.listen_url, nng_strerror(rv));
		goto out;
	}
	if (*tls) {
		if ((rc = vx_wire_tls_server_config(s->o.tls_cert, s->o.tls_key, &cfg)) !=
		    0)
			goto out;
		rc = VX_EINVAL;
		/* The listener holds its own reference to the configuration. */
		if ((rv = nng_stream_listener_set_ptr(s->lst, NNG_OPT_TLS_CONFIG, cfg)) !=
		    0) {
			vx_log(VX_LOG_ERROR, "gateway: TLS: %s", nng_strerror(rv));
			goto out;
		}
	}
	rc = VX_ENOMEM;
	if ((rv = nng_aio_alloc(&s->acc, on_accept, s)) != 0)
		goto out;
	if ((rv = nng_stream_listener_listen(s->lst)) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: cannot listen on %s: %s", s->o.listen_url,
		    nng_strerror(rv));
		rc = VX_EIO;
		goto out;
	}
	s->accepting = true;
	nng_stream_listener_accept(s->lst, s->acc);
	rc = 0;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	if (url)
		nng_url_free(url);
	return rc;
}

/* The body limit: what fits in one core request (vexild's --max-msg less
 * the envelope), or --max-body when that is smaller. */
static int
body_limit(vx_gw_opts *o)
{
	size_t room = ENVELOPE_ROOM + o->max_url;
	size_t max_msg = o->max_msg ? o->max_msg : VX_WIRE_MAX_MSG;

	if (max_msg <= room) {
		vx_log(VX_LOG_ERROR,
		    "gateway: --max-msg %zu leaves no room for a body "
		    "(a core request needs %zu bytes besides it)",
		    max_msg, room);
		return VX_EINVAL;
	}
	if (o->max_body == 0) {
		o->max_body = max_msg - room;
	} else if (o->max_body > max_msg - room) {
		vx_log(VX_LOG_ERROR,
		    "gateway: --max-body %zu does not fit in vexild's "
		    "--max-msg %zu with the request around it: at most %zu",
		    o->max_body, max_msg, max_msg - room);
		return VX_EINVAL;
	}
	return 0;
}

/* Frees what start set up; the listener, connections and workers are
 * stopped already. */
static void
free_all(vx_gw_server *s)
{
	if (s->acc)
		nng_aio_free(s->acc);
	if (s->lst)
		nng_stream_listener_free(s->lst);
	vx_gw_pool_stop(s->pool);
	vx_gw_conns_free(s->conns);
	/*
	 * No nng_fini(): by now every aio of ours has finished and none is
	 * started again (connections are torn down, the accept aio freed),
	 * so no callback can reach s. Connections' aios may still sit on
	 * nng's reaper list, which touches nothing of ours. (nng 1.5.2's
	 * nng_fini() now and then waited forever on its expiry threads.)
	 */
	vx_gw_router_free(s->router);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Stops accepting and waits until the accept aio is done. */
static void
stop_listening(vx_gw_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	if (s->lst)
		nng_stream_listener_close(s->lst);
	pthread_mutex_lock(&s->mu);
	while (s->accepting)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

int
vx_gw_server_start(vx_gw_server **out, const vx_gw_opts *o)
{
	vx_gw_server *s;
	bool tls = false;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VX_ENOMEM;
	s->o = *o;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	if ((rc = body_limit(&s->o)) != 0)
		goto fail;
	if ((rc = vx_gw_router_alloc(
	         &s->router, o->dialects, o->n_dialects, o->dialects[0])) != 0) {
		vx_log(VX_LOG_ERROR, "gateway: route table: %s", vx_strerror(rc));
		goto fail;
	}
	/* The scheme decides whether requests are marked tls; the listener
	 * starts last, once everything it hands work to runs. */
	tls = strncmp(o->listen_url, "https:", 6) == 0;
	vx_gw_pool_opts po = {
	    .workers = o->workers,
	    .queue = o->queue,
	    .max_header_bytes = o->max_header_bytes,
	    .max_headers = o->max_headers,
	    .router = s->router,
	    .rpc = o->rpc,
	    .tls = tls,
	    .quiet = o->quiet,
	    .answer = vx_gw_conn_answer,
	};
	if ((rc = vx_gw_pool_start(&s->pool, &po)) != 0)
		goto fail;
	vx_gw_conn_opts co = {
	    .max_url = o->max_url,
	    .max_headers = o->max_headers,
	    .max_header_bytes = o->max_header_bytes,
	    .max_body = s->o.max_body,
	    .max_conns = o->max_conns,
	    .header_timeout_ms = o->header_timeout_ms,
	    .body_timeout_ms = o->body_timeout_ms,
	    .idle_timeout_ms = o->idle_timeout_ms,
	    .quiet = o->quiet,
	    .router = s->router,
	    .pool = s->pool,
	};
	if ((rc = vx_gw_conns_alloc(&s->conns, &co)) != 0 ||
	    (rc = listen_http(s, &tls)) != 0)
		goto fail;
	vx_log(VX_LOG_INFO,
	    "gateway: listening on %s, %d workers, bodies up to %zu bytes", o->listen_url,
	    o->workers, s->o.max_body);
	*out = s;
	return 0;
fail:
	stop_listening(s);
	free_all(s);
	return rc;
}

void
vx_gw_server_stop(vx_gw_server *s)
{
	/* Requests already read are answered; new ones get 503. */
	vx_gw_pool_drain(s->pool);
	/* From here on no job is taken and nothing is accepted. */
	vx_gw_pool_close(s->pool);
	stop_listening(s);
	vx_gw_conns_close(s->conns, true);
	(void)vx_gw_conns_wait(s->conns, DRAIN_WRITE_MS);
	vx_gw_conns_close(s->conns, false);
	(void)vx_gw_conns_wait(s->conns, -1);
	free_all(s);
}
