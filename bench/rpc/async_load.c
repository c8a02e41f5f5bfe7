/*
 * async_load — asynchronous load on a raw REQ socket, and the floor
 * process it is compared with (async_load.h says why each is shaped so).
 */
#include "async_load.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vexil/v1/envelope.pb-c.h"

/* How long a reply may take before the call counts as failed. */
#define CALL_TIMEOUT_MS 5000
/* How long the floor may take to answer its first request. */
#define FLOOR_READY_MS 5000

int
async_req_pack(struct async_req *out, const char *method, const ProtobufCMessage *in,
    const char *credential)
{
	Vexil__V1__Request req = VEXIL__V1__REQUEST__INIT;
	size_t plen = protobuf_c_message_get_packed_size(in);
	uint8_t *pb = malloc(plen ? plen : 1);

	if (pb == NULL)
		return -1;
	protobuf_c_message_pack(in, pb);
	req.method = (char *)method;
	req.credential = (char *)credential;
	req.payload.data = pb;
	req.payload.len = plen;
	out->len = vexil__v1__request__get_packed_size(&req);
	if ((out->buf = malloc(out->len)) == NULL) {
		free(pb);
		return -1;
	}
	vexil__v1__request__pack(&req, out->buf);
	free(pb);
	return 0;
}

int
result_percentiles(struct result *r, uint64_t *const *lats, const size_t *ns, int k)
{
	uint64_t *all;
	size_t total = 0;

	for (int i = 0; i < k; i++)
		total += ns[i];
	if (total == 0)
		return 0;
	if ((all = malloc(total * sizeof(*all))) == NULL)
		return -1;
	total = 0;
	for (int i = 0; i < k; i++) {
		memcpy(all + total, lats[i], ns[i] * sizeof(*all));
		total += ns[i];
	}
	qsort(all, total, sizeof(*all), bench_cmp_u64);
	r->p50_us = (double)all[bench_rank(total, 0.50)] / 1000.0;
	r->p99_us = (double)all[bench_rank(total, 0.99)] / 1000.0;
	free(all);
	return 0;
}

/* ---- the load ---- */

struct run;

struct slot {
	struct run *run;
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
	size_t next;
	uint64_t t0;
	uint64_t *lat;
	size_t n;
	uint64_t calls, answered, errors, dropped, last_end, max_ns;
	char first_err[320];
};

struct run {
	const struct async_point *p;
	nng_socket sock;
	uint64_t warm_end, end;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int active;
	struct slot *slots;
};

/* Counts a failed call; the first one's reason is kept: what, then detail. */
static void
slot_error(struct slot *s, const char *what, const char *detail)
{
	if (s->errors++ == 0)
		snprintf(s->first_err, sizeof(s->first_err), "%s%s", what, detail);
}

/* The slot sends no more; the last one out wakes the run. */
static void
slot_finish(struct slot *s)
{
	struct run *run = s->run;

	pthread_mutex_lock(&run->lock);
	if (--run->active == 0)
		pthread_cond_signal(&run->cond);
	pthread_mutex_unlock(&run->lock);
}

static void
slot_send(struct slot *s)
{
	const struct async_point *p = s->run->p;
	const struct async_req *q = &p->reqs[s->next++ % p->nreqs];
	nng_msg *m;

	if (nng_msg_alloc(&m, q->len) != 0) {
		slot_error(s, "out of memory", "");
		slot_finish(s);
		return;
	}
	memcpy(nng_msg_body(m), q->buf, q->len);
	s->sending = true;
	s->t0 = bench_now_ns();
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, CALL_TIMEOUT_MS);
	nng_ctx_send(s->ctx, s->aio);
}

/* OK when the reply is a Response with status OK; else names the code. */
static bool
reply_ok(struct slot *s, nng_msg *m)
{
	Vexil__V1__Response *r =
	    vexil__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	bool ok;

	if (r == NULL) {
		slot_error(s, "malformed reply", "");
		return false;
	}
	ok = r->status != NULL && r->status->code == VEXIL__V1__CODE__OK;
	if (!ok)
		slot_error(
		    s, r->status ? r->status->message : "reply without status", "");
	vexil__v1__response__free_unpacked(r, NULL);
	return ok;
}

static void
slot_cb(void *arg)
{
	struct slot *s = arg;
	struct run *run = s->run;
	int rv = nng_aio_result(s->aio);
	uint64_t t1;
	nng_msg *m;
	bool ok;

	if (s->sending) {
		s->sending = false;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			slot_error(s, "send: ", nng_strerror(rv));
			slot_finish(s);
			return;
		}
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	t1 = bench_now_ns();
	if (rv != 0) {
		slot_error(s, "receive: ", nng_strerror(rv));
		ok = false;
	} else {
		m = nng_aio_get_msg(s->aio);
		ok = reply_ok(s, m);
		nng_msg_free(m);
	}
	if (ok) {
		s->answered++;
		if (s->t0 >= run->warm_end) {
			s->calls++;
			s->last_end = t1;
			if (t1 - s->t0 > s->max_ns)
				s->max_ns = t1 - s->t0;
			if (s->n < run->p->cap)
				s->lat[s->n++] = t1 - s->t0;
			else
				s->dropped++;
		}
	}
	if (rv == NNG_ECLOSED || t1 >= run->end || bench_interrupted)
		slot_finish(s);
	else
		slot_send(s);
}

int
async_run(const struct async_point *p, struct result *r)
{
	struct run run = {.p = p};
	uint64_t **lats = NULL, last = 0;
	size_t *ns = NULL;
	int n = p->inflight, opened = 0, rv, rc = -1;

	memset(r, 0, sizeof(*r));
	if ((lats = calloc((size_t)n, sizeof(*lats))) == NULL ||
	    (ns = calloc((size_t)n, sizeof(*ns))) == NULL)
		goto nomem;
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);
	if ((run.slots = calloc((size_t)n, sizeof(*run.slots))) == NULL)
		goto nomem;
	for (int i = 0; i < n; i++) {
		run.slots[i].run = &run;
		/* Contexts start at different requests, 613 (a prime) apart. */
		run.slots[i].next = (size_t)i * 613u;
		if ((run.slots[i].lat = malloc(p->cap * sizeof(uint64_t))) == NULL)
			goto nomem;
		/* Fault the pages in now rather than inside the timed loop. */
		memset(run.slots[i].lat, 0, p->cap * sizeof(uint64_t));
	}
	if ((rv = nng_req0_open(&run.sock)) != 0 ||
	    (rv = nng_socket_set_size(run.sock, NNG_OPT_RECVMAXSZ, VX_WIRE_MAX_MSG)) !=
	        0 ||
	    (rv = nng_dial(run.sock, p->url, NULL, 0)) != 0) {
		fprintf(stderr, "%s: async load on %s: %s\n", bench_prog, p->url,
		    nng_strerror(rv));
		goto out;
	}
	for (; opened < n; opened++) {
		struct slot *s = &run.slots[opened];
		if ((rv = nng_ctx_open(&s->ctx, run.sock)) != 0 ||
		    (rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0) {
			fprintf(
			    stderr, "%s: async load: %s\n", bench_prog, nng_strerror(rv));
			goto out;
		}
	}
	run.warm_end = bench_now_ns() + (uint64_t)(p->warmup * 1e9);
	run.end = run.warm_end + (uint64_t)(p->seconds * 1e9);
	run.active = n;
	for (int i = 0; i < n; i++)
		slot_send(&run.slots[i]);
	pthread_mutex_lock(&run.lock);
	while (run.active > 0)
		pthread_cond_wait(&run.cond, &run.lock);
	pthread_mutex_unlock(&run.lock);

	for (int i = 0; i < n; i++) {
		struct slot *s = &run.slots[i];
		lats[i] = s->lat;
		ns[i] = s->n;
		r->calls += s->calls;
		r->answered += s->answered;
		r->dropped += s->dropped;
		if (s->errors && r->errors == 0)
			snprintf(r->first_err, sizeof(r->first_err), "%s", s->first_err);
		r->errors += s->errors;
		if (s->last_end > last)
			last = s->last_end;
		if (s->max_ns > r->max_ns)
			r->max_ns = s->max_ns;
	}
	if (result_percentiles(r, lats, ns, n) != 0)
		goto nomem;
	if (last > run.warm_end)
		r->rate = (double)r->calls * 1e9 / (double)(last - run.warm_end);
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "%s: out of memory for %d contexts\n", bench_prog, n);
out:
	/* Every slot has finished (or none started): no callback is pending. */
	for (int i = 0; i < opened; i++) {
		nng_aio_free(run.slots[i].aio);
		nng_ctx_close(run.slots[i].ctx);
	}
	if (nng_socket_id(run.sock) > 0)
		nng_close(run.sock);
	for (int i = 0; run.slots != NULL && i < n; i++)
		free(run.slots[i].lat);
	free(run.slots);
	free(lats);
	free(ns);
	pthread_cond_destroy(&run.cond);
	pthread_mutex_destroy(&run.lock);
	return rc;
}

/* ---- the floor process ---- */

struct floor_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
};

static const uint8_t *floor_reply;
static size_t floor_reply_len;
static atomic_uint floor_errors;

/* recv -> the body becomes the canned reply -> send -> recv, until closed. */
static void
floor_cb(void *arg)
{
	struct floor_ctx *f = arg;
	int rv = nng_aio_result(f->aio);
	nng_msg *m;

	if (f->sending) {
		f->sending = false;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(f->aio));
			if (rv == NNG_ECLOSED)
				return;
			atomic_fetch_add(&floor_errors, 1);
		}
		nng_ctx_recv(f->ctx, f->aio);
		return;
	}
	if (rv != 0) {
		if (rv == NNG_ECLOSED)
			return;
		atomic_fetch_add(&floor_errors, 1);
		nng_ctx_recv(f->ctx, f->aio);
		return;
	}
	m = nng_aio_get_msg(f->aio);
	/* Reusing the request message is what vexild does too. */
	nng_msg_clear(m);
	if (nng_msg_append(m, floor_reply, floor_reply_len) != 0) {
		nng_msg_free(m);
		atomic_fetch_add(&floor_errors, 1);
		nng_ctx_recv(f->ctx, f->aio);
		return;
	}
	f->sending = true;
	nng_aio_set_msg(f->aio, m);
	nng_ctx_send(f->ctx, f->aio);
}

int
floor_serve_main(const char *url, const char *file)
{
	static struct floor_ctx ctxs[FLOOR_CONTEXTS];
	static uint8_t buf[1 << 20];
	nng_socket sock;
	FILE *in = fopen(file, "rb");
	int rv;

	if (in == NULL) {
		fprintf(stderr, "floor: %s: %s\n", file, strerror(errno));
		return 1;
	}
	floor_reply_len = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	floor_reply = buf;
	if ((rv = nng_rep0_open(&sock)) != 0 ||
	    (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, VX_WIRE_MAX_MSG)) != 0 ||
	    (rv = nng_listen(sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "floor: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	for (int i = 0; i < FLOOR_CONTEXTS; i++) {
		if ((rv = nng_ctx_open(&ctxs[i].ctx, sock)) != 0 ||
		    (rv = nng_aio_alloc(&ctxs[i].aio, floor_cb, &ctxs[i])) != 0) {
			fprintf(stderr, "floor: %s\n", nng_strerror(rv));
			return 1;
		}
		nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
	}
	while (!bench_interrupted)
		bench_sleep_ms(20);
	nng_close(sock);
	for (int i = 0; i < FLOOR_CONTEXTS; i++)
		nng_aio_free(ctxs[i].aio);
	if (atomic_load(&floor_errors) != 0) {
		fprintf(
		    stderr, "floor: %u transport errors\n", atomic_load(&floor_errors));
		return 1;
	}
	return 0;
}

/* One request and its reply on a fresh REQ socket, retried until ready. */
static int
floor_wait_ready(const struct floor_proc *f)
{
	uint64_t deadline = bench_now_ns() + FLOOR_READY_MS * 1000000ull;
	nng_socket s;
	nng_msg *m = NULL;
	int rv;

	if ((rv = nng_req0_open(&s)) != 0)
		goto fail;
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, FLOOR_READY_MS);
	while ((rv = nng_dial(s, f->url, NULL, 0)) != 0 && bench_now_ns() < deadline)
		bench_sleep_ms(10);
	if (rv == 0 && (rv = nng_msg_alloc(&m, 0)) == 0) {
		/* A failed send leaves the message with us. */
		if ((rv = nng_sendmsg(s, m, 0)) != 0)
			nng_msg_free(m);
		else if ((rv = nng_recvmsg(s, &m, 0)) == 0)
			nng_msg_free(m);
	}
	nng_close(s);
	if (rv == 0)
		return 0;
fail:
	fprintf(stderr, "%s: the floor on %s did not answer: %s\n", bench_prog, f->url,
	    nng_strerror(rv));
	return -1;
}

int
floor_proc_start(struct floor_proc *f, const char *self, const char *root,
    const char *tag, enum bench_transport t, const uint8_t *reply, size_t len)
{
	char log[300];
	const char *argv[] = {self, "--floor-serve", f->url, f->reply_path, NULL};
	FILE *out;
	int port;

	f->pid = 0;
	snprintf(f->reply_path, sizeof(f->reply_path), "%s/floor-%s.bin", root, tag);
	if ((out = fopen(f->reply_path, "wb")) == NULL ||
	    fwrite(reply, 1, len, out) != len || fclose(out) != 0) {
		fprintf(stderr, "%s: cannot write %s\n", bench_prog, f->reply_path);
		return -1;
	}
	if (t == BENCH_IPC) {
		snprintf(f->url, sizeof(f->url), "ipc://%s/floor-%s.sock", root, tag);
	} else {
		if (bench_free_ports(&port, 1) != 0)
			return -1;
		snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%d", port);
	}
	snprintf(log, sizeof(log), "%s/floor-%s.log", root, tag);
	if (bench_spawn(&f->pid, log, argv) != 0)
		return -1;
	return floor_wait_ready(f);
}

int
floor_proc_stop(struct floor_proc *f)
{
	char log[300];

	snprintf(
	    log, sizeof(log), "%.*s.log", (int)strlen(f->reply_path) - 4, f->reply_path);
	return bench_child_stop(&f->pid, log, "the floor");
}
