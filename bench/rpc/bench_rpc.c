/*
 * bench_rpc — what one GetFlag and one Evaluate cost through vexild, next
 * to the floor.
 *
 * For each transport (ipc, tcp) it starts the real vexild (the one from
 * this build, or --vexild PATH) on a fresh temp data dir and free
 * addresses, creates two flags through libvexil, and then, for each method
 * (--method) and each concurrency level N, runs N threads that call it in
 * a loop through one shared vx_client: a short warm-up, then a fixed
 * measured time. `getflag` is vx_get_flag() on a flag with variants and
 * targeting rules; `evaluate` is vx_evaluate() (EvaluationService/Evaluate)
 * in production on a flag with an email ends_with rule, a country split,
 * a 30% rollout rule and a 50% environment rollout, over a pool of
 * contexts with varying user ids, emails, countries and plans, so every
 * rule and both rollouts are taken. Every measured call is timed with
 * CLOCK_MONOTONIC into a per-thread array allocated (and touched) before
 * the run, so the loop itself never allocates; the arrays are merged
 * afterwards for p50 and p99, and throughput is the successful calls over
 * the measured window.
 *
 * The floor runs in the same process and the same run: an nng REP socket
 * with 16 contexts, one thread each, that answers every request at once
 * with a pre-packed Response holding what vexild returned for the method
 * (the Flag, or an EvaluationResult), so the reply has the same size. It
 * is driven through the same client code path at the same levels, so the
 * ratio between the two is what vexild adds per request: envelope decode,
 * credential check, LMDB read, rule evaluation and the evaluation record,
 * reply build, and its threading. Client, floor and vexild share this
 * machine's CPUs; read the figures as relative to the floor on the same
 * box, not as absolute server cost.
 *
 * vexild queues every evaluation in a bounded buffer that a flusher writes
 * out in batches, dropping (and counting) records when it is full rather
 * than making the evaluation wait. After the evaluate points of a
 * transport the bench waits for a flush and calls GetEvalCounts once, and
 * prints how many evaluations vexild answered, how many it recorded and
 * how many it reports dropped.
 *
 * There are no thresholds. It prints a settings line and one row per
 * (method, transport, concurrency), and exits 0; or non-zero, with a
 * message, when vexild cannot be started or stopped or any call fails.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "vexil.h"

#ifndef VX_VEXILD_PATH
#define VX_VEXILD_PATH "vexild"
#endif

#define FLOOR_WORKERS 16
#define MAX_LEVELS 16
#define MAX_THREADS 1024
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
/*
 * Distinct evaluation contexts; a power of two. Enough that user ids do
 * not repeat within a flush of the evaluation records.
 */
#define EVAL_CASES 4096
/* vexild's flusher drains the evaluation records every 500 ms. */
#define EVAL_FLUSH_WAIT_MS 1500

static const char *const vexild_args[] = {"--workers", "16", NULL};

enum method { M_GETFLAG, M_EVALUATE, M_COUNT };
static const char *const method_names[M_COUNT] = {"getflag", "evaluate"};

struct opts {
	const char *vexild;
	double seconds;
	double warmup;
	bool transports[BENCH_TRANSPORTS];
	bool methods[M_COUNT];
	int levels[MAX_LEVELS];
	int nlevels;
};

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
 * The flag Evaluate runs on, in production: staff by email get the
 * treatment, the EU is split half and half, 30% of paying users get the
 * treatment, and everyone else is in a 50% environment rollout. The rules
 * are taken in that order, so a context that misses the first ones walks
 * all three before the rollout decides.
 */
static int
create_eval_flag(vx_client *c)
{
	Vexil__V1__Variant control = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant treatment = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant *variants[] = {&control, &treatment};
	char *staff_domains[] = {"@example.com"};
	char *eu_countries[] = {"DE", "FR", "NL", "SE", "ES", "IT"};
	char *paying_plans[] = {"pro", "enterprise"};
	Vexil__V1__Condition staff = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition eu = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition paying = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition *staff_conds[] = {&staff};
	Vexil__V1__Condition *eu_conds[] = {&eu};
	Vexil__V1__Condition *paying_conds[] = {&paying};
	Vexil__V1__WeightedVariant half_a = VEXIL__V1__WEIGHTED_VARIANT__INIT;
	Vexil__V1__WeightedVariant half_b = VEXIL__V1__WEIGHTED_VARIANT__INIT;
	Vexil__V1__WeightedVariant *split[] = {&half_a, &half_b};
	Vexil__V1__Rollout thirty = VEXIL__V1__ROLLOUT__INIT;
	Vexil__V1__Rollout env_rollout = VEXIL__V1__ROLLOUT__INIT;
	Vexil__V1__Rule staff_rule = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rule eu_rule = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rule paying_rule = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rule *rules[] = {&staff_rule, &eu_rule, &paying_rule};
	Vexil__V1__FlagEnvConfig prod = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__FlagEnvConfig *envs[] = {&prod};
	Vexil__V1__Flag flag = VEXIL__V1__FLAG__INIT;
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	control.key = "control";
	control.value = "\"classic\"";
	treatment.key = "treatment";
	treatment.value = "\"one-page\"";

	staff.attribute = "email";
	staff.operator_ = "ends_with";
	staff.values = staff_domains;
	staff.n_values = 1;
	staff.case_insensitive = true;
	staff_rule.name = "staff";
	staff_rule.priority = 30;
	staff_rule.enabled = true;
	staff_rule.conditions = staff_conds;
	staff_rule.n_conditions = 1;
	staff_rule.variant = "treatment";

	eu.attribute = "country";
	eu.operator_ = "in";
	eu.values = eu_countries;
	eu.n_values = 6;
	half_a.variant = "control";
	half_a.weight = 5000;
	half_b.variant = "treatment";
	half_b.weight = 5000;
	eu_rule.name = "EU split";
	eu_rule.priority = 20;
	eu_rule.enabled = true;
	eu_rule.conditions = eu_conds;
	eu_rule.n_conditions = 1;
	eu_rule.split = split;
	eu_rule.n_split = 2;

	paying.attribute = "plan";
	paying.operator_ = "in";
	paying.values = paying_plans;
	paying.n_values = 2;
	thirty.percentage = 30;
	thirty.stickiness = "user_id";
	paying_rule.name = "30% of paying users";
	paying_rule.priority = 10;
	paying_rule.enabled = true;
	paying_rule.conditions = paying_conds;
	paying_rule.n_conditions = 1;
	paying_rule.rollout = &thirty;
	paying_rule.variant = "treatment";

	env_rollout.stickiness = "user_id";
	prod.environment = "production";
	prod.enabled = true;
	prod.default_variant = "treatment";
	prod.off_variant = "control";
	prod.rollout_percentage = 50;
	prod.rollout = &env_rollout;
	prod.rules = rules;
	prod.n_rules = 3;

	flag.key = "bench-eval";
	flag.name = "One-page checkout";
	flag.description = "Evaluated by bench_rpc with varying contexts.";
	flag.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_STRING;
	flag.variants = variants;
	flag.n_variants = 2;
	flag.envs = envs;
	flag.n_envs = 1;

	in.project = "default";
	in.flag = &flag;
	if (vx_create_flag(c, &in, &out, &st) != 0) {
		fprintf(stderr, "bench_rpc: CreateFlag bench-eval failed: %s: %s%s%s\n",
		    vx_code_name(st.code), st.message, st.field[0] ? " field=" : "",
		    st.field);
		return -1;
	}
	vx_free(out);
	return 0;
}

/* One prepared Evaluate request; its pointers point into itself. */
struct eval_case {
	Vexil__V1__EvaluateRequest req;
	Vexil__V1__EvalContext ctx;
	Vexil__V1__EvalContext__AttributesEntry plan;
	Vexil__V1__EvalContext__AttributesEntry *attrs[1];
	Vexil__V1__AttrValue plan_value;
	char user[24];
	char email[48];
};

/*
 * Builds the context pool before any run, so the loaders only read it.
 * A quarter of the users are staff, six of sixteen countries are in the
 * EU split and two thirds of the plans pay; the ids are spread so that
 * neighbouring cases land in unrelated rollout buckets.
 */
static struct eval_case *
build_eval_cases(void)
{
	static char *const countries[16] = {"US", "DE", "BR", "FR", "JP", "IN", "NL", "GB",
	    "SE", "CA", "ES", "MX", "IT", "AU", "KR", "NG"};
	static char *const plans[3] = {"free", "pro", "enterprise"};
	struct eval_case *cs = calloc(EVAL_CASES, sizeof(*cs));

	if (cs == NULL) {
		fprintf(stderr, "bench_rpc: out of memory for the evaluation contexts\n");
		return NULL;
	}
	for (unsigned i = 0; i < EVAL_CASES; i++) {
		struct eval_case *e = &cs[i];
		unsigned id = (i * 2654435761u) % 100000000u;

		vexil__v1__evaluate_request__init(&e->req);
		vexil__v1__eval_context__init(&e->ctx);
		vexil__v1__eval_context__attributes_entry__init(&e->plan);
		vexil__v1__attr_value__init(&e->plan_value);
		snprintf(e->user, sizeof(e->user), "user-%08u", id);
		snprintf(e->email, sizeof(e->email), "%s@%s", e->user,
		    i % 4 == 0 ? "Example.com" : "mail.example.net");
		e->plan_value.kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
		e->plan_value.str = plans[i % 3];
		e->plan.key = "plan";
		e->plan.value = &e->plan_value;
		e->attrs[0] = &e->plan;
		e->ctx.user_id = e->user;
		e->ctx.email = e->email;
		e->ctx.country = countries[(i / 4) % 16];
		e->ctx.attributes = e->attrs;
		e->ctx.n_attributes = 1;
		e->req.project = "default";
		e->req.environment = "production";
		e->req.flag_key = "bench-eval";
		e->req.context = &e->ctx;
	}
	return cs;
}

/* ---- the floor's replies ---- */

struct canned {
	uint8_t *buf;
	size_t len;         /* the whole Response */
	size_t payload_len; /* the message in it */
};

/*
 * The floor's answer: Response{status{OK}, payload = msg packed}. vexild
 * packs the same two fields, so the sizes match.
 */
static int
pack_canned(const ProtobufCMessage *msg, struct canned *out)
{
	Vexil__V1__Response r = VEXIL__V1__RESPONSE__INIT;
	Vexil__V1__Status s = VEXIL__V1__STATUS__INIT;
	uint8_t *pb;

	out->payload_len = protobuf_c_message_get_packed_size(msg);
	if ((pb = malloc(out->payload_len ? out->payload_len : 1)) == NULL)
		return -1;
	protobuf_c_message_pack(msg, pb);
	s.code = VEXIL__V1__CODE__OK;
	r.status = &s;
	r.payload.data = pb;
	r.payload.len = out->payload_len;
	out->len = vexil__v1__response__get_packed_size(&r);
	if ((out->buf = malloc(out->len)) == NULL) {
		free(pb);
		return -1;
	}
	vexil__v1__response__pack(&r, out->buf);
	free(pb);
	return 0;
}

/* The Flag vexild returns for req, canned. */
static int
build_getflag_reply(vx_client *c, const Vexil__V1__GetFlagRequest *req, struct canned *out)
{
	Vexil__V1__Flag *f;
	vx_status st;
	int rc;

	if (vx_get_flag(c, req, &f, &st) != 0) {
		fprintf(stderr, "bench_rpc: GetFlag failed: %s: %s\n",
		    vx_code_name(st.code), st.message);
		return -1;
	}
	rc = pack_canned(&f->base, out);
	vx_free(f);
	return rc;
}

/*
 * The EvaluationResult vexild returns for the first context, canned. That
 * one is a staff user, so the answer carries a rule id: the largest of
 * the kinds of answer the pool gets, by a few bytes.
 */
static int
build_evaluate_reply(vx_client *c, const struct eval_case *cases, struct canned *out)
{
	Vexil__V1__EvaluationResult *r;
	vx_status st;
	int rc;

	if (vx_evaluate(c, &cases[0].req, &r, &st) != 0) {
		fprintf(stderr, "bench_rpc: Evaluate failed: %s: %s%s%s\n",
		    vx_code_name(st.code), st.message, st.field[0] ? " field=" : "",
		    st.field);
		return -1;
	}
	rc = pack_canned(&r->base, out);
	vx_free(r);
	return rc;
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
	/* Swapped between methods, while no call is in flight. */
	_Atomic(const struct canned *) reply;
	atomic_uint errors; /* failed receives or sends; should stay 0 */
	struct floor_worker w[FLOOR_WORKERS];
};

/* recv -> overwrite the body with the canned reply -> send, until closed. */
static void *
floor_worker_main(void *arg)
{
	struct floor_worker *w = arg;
	struct floor *fl = w->fl;
	const struct canned *reply;
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
		reply = atomic_load_explicit(&fl->reply, memory_order_acquire);
		/* Reusing the request message is what vexild does too. */
		nng_msg_clear(msg);
		if (nng_msg_append(msg, reply->buf, reply->len) != 0) {
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
floor_start(struct floor *fl, const char *root, enum bench_transport t,
    const struct canned *reply)
{
	int port, rv;

	memset(fl, 0, sizeof(*fl));
	atomic_init(&fl->reply, reply);
	atomic_init(&fl->errors, 0);
	if (t == BENCH_IPC) {
		snprintf(fl->url, sizeof(fl->url), "ipc://%s/floor-rpc.sock", root);
	} else {
		if (bench_free_ports(&port, 1) != 0)
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
	enum method method;
	const Vexil__V1__GetFlagRequest *getflag;
	const struct eval_case *cases; /* EVAL_CASES of them */
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
	unsigned next;  /* the next evaluation context */
	uint64_t *lat;  /* ns per measured call, preallocated */
	size_t cap;
	size_t n;
	uint64_t calls;
	uint64_t answered; /* successful calls, warm-up included */
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
	uint64_t answered;
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

/*
 * One call of the point's method. The reply is handed back for the caller
 * to free after taking the time: freeing is client cost too, but not part
 * of the round trip.
 */
static int
call_once(struct loader *l, void **out, vx_status *st)
{
	const struct point *pt = l->pt;
	int rc;

	if (pt->method == M_GETFLAG) {
		Vexil__V1__Flag *f = NULL;
		rc = vx_get_flag(pt->client, pt->getflag, &f, st);
		*out = f;
	} else {
		Vexil__V1__EvaluationResult *r = NULL;
		rc = vx_evaluate(pt->client, &pt->cases[l->next++ & (EVAL_CASES - 1)].req,
		    &r, st);
		*out = r;
	}
	return rc;
}

static void *
loader_main(void *arg)
{
	struct loader *l = arg;
	struct point *pt = l->pt;
	void *out;
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
	while (!bench_interrupted && bench_now_ns() < pt->warm_end) {
		out = NULL;
		rc = call_once(l, &out, &st);
		vx_free(out);
		if (rc != 0)
			note_error(l, rc, &st);
		else
			l->answered++;
	}
	while (!bench_interrupted && (t0 = bench_now_ns()) < pt->end) {
		out = NULL;
		rc = call_once(l, &out, &st);
		t1 = bench_now_ns();
		vx_free(out);
		if (rc != 0) {
			note_error(l, rc, &st);
			continue;
		}
		l->calls++;
		l->answered++;
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

/* Runs nthreads loaders of method m against client and summarises them into r. */
static int
run_point(vx_client *client, enum method m, const Vexil__V1__GetFlagRequest *getflag,
    const struct eval_case *cases, int nthreads, const struct opts *o, struct result *r)
{
	struct point pt = {.client = client, .method = m, .getflag = getflag, .cases = cases};
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
		/* Threads start at different contexts, 613 (a prime) apart. */
		ls[i].next = (unsigned)i * 613u;
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
	pt.warm_end = bench_now_ns() + (uint64_t)(o->warmup * 1e9);
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
		r->answered += ls[i].answered;
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
		qsort(all, total, sizeof(*all), bench_cmp_u64);
		r->p50_us = (double)all[bench_rank(total, 0.50)] / 1000.0;
		r->p99_us = (double)all[bench_rank(total, 0.99)] / 1000.0;
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
print_header(const struct opts *o, const struct canned *replies)
{
	printf("bench_rpc: one shared vx_client per target; %g s per point after %g s"
	       " warm-up; vexild --workers %s (%s); floor: in-process REP, %d ctx;"
	       " %ld CPUs\n",
	    o->seconds, o->warmup, vexild_args[1], o->vexild, FLOOR_WORKERS,
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("bench_rpc: replies: getflag %zu B (Flag %zu B); evaluate %zu B"
	       " (EvaluationResult %zu B), %d contexts\n",
	    replies[M_GETFLAG].len, replies[M_GETFLAG].payload_len, replies[M_EVALUATE].len,
	    replies[M_EVALUATE].payload_len, EVAL_CASES);
	printf("%-8s %-9s %5s | %9s %9s %10s | %9s %9s %10s | %9s %9s | %s\n", "method",
	    "transport", "conc", "vx_p50us", "vx_p99us", "vx_call/s", "fl_p50us", "fl_p99us",
	    "fl_call/s", "p50_vx/fl", "tput_fl/vx", "errors vx/fl");
	fflush(stdout);
}

static void
print_row(enum method m, enum bench_transport t, int conc, const struct result *v,
    const struct result *f)
{
	printf("%-8s %-9s %5d | %9.1f %9.1f %10.0f | %9.1f %9.1f %10.0f | %9.2f %9.2f | "
	       "%llu/%llu\n",
	    method_names[m], bench_transport_names[t], conc, v->p50_us, v->p99_us, v->rate,
	    f->p50_us, f->p99_us, f->rate, f->p50_us > 0 ? v->p50_us / f->p50_us : 0.0,
	    v->rate > 0 ? f->rate / v->rate : 0.0, (unsigned long long)v->errors,
	    (unsigned long long)f->errors);
	fflush(stdout);
}

/* Reports on stderr what the table cannot show; returns -1 on errors. */
static int
check_result(const char *who, enum method m, enum bench_transport t, int conc,
    const struct result *r)
{
	const char *mn = method_names[m], *tn = bench_transport_names[t];
	int rc = 0;

	if (r->errors) {
		fprintf(stderr, "bench_rpc: %s %s %s x%d: %llu calls failed; first: %s\n",
		    who, mn, tn, conc, (unsigned long long)r->errors, r->first_err);
		rc = -1;
	}
	if (r->calls == 0) {
		fprintf(stderr, "bench_rpc: %s %s %s x%d: no call succeeded\n", who, mn, tn,
		    conc);
		rc = -1;
	}
	if (r->max_ns >= STALL_NS)
		fprintf(stderr,
		    "bench_rpc: note: %s %s %s x%d: slowest call took %.1f ms\n", who, mn,
		    tn, conc, (double)r->max_ns / 1e6);
	if (r->dropped)
		fprintf(stderr,
		    "bench_rpc: note: %s %s %s x%d: %llu calls beyond the sample"
		    " arrays were counted but not timed\n",
		    who, mn, tn, conc, (unsigned long long)r->dropped);
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

/*
 * After the evaluate points: gives the flusher time to write what is
 * queued, then asks once. `answered` counts every Evaluate vexild answered
 * OK (setup, warm-up and measured); each of those queued one record or
 * was counted as dropped, so what is left over is what the flusher had
 * not written yet, or lost. Calls that failed on our side (timeouts) may
 * have been evaluated too.
 */
static int
report_eval_counts(vx_client *c, enum bench_transport t, uint64_t answered, uint64_t failed)
{
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	uint64_t recorded = 0, control = 0, treatment = 0;
	vx_status st;

	bench_sleep_ms(EVAL_FLUSH_WAIT_MS);
	in.project = "default";
	in.flag_key = "bench-eval";
	in.environment = "production";
	if (vx_get_eval_counts(c, &in, &out, &st) != 0) {
		fprintf(stderr, "bench_rpc: GetEvalCounts failed: %s: %s\n",
		    vx_code_name(st.code), st.message);
		return -1;
	}
	/* Summed over days, in case the run crossed midnight UTC. */
	for (size_t i = 0; i < out->n_counts; i++) {
		const Vexil__V1__EvalCount *e = out->counts[i];
		recorded += e->count;
		if (strcmp(e->variant, "control") == 0)
			control += e->count;
		else if (strcmp(e->variant, "treatment") == 0)
			treatment += e->count;
	}
	printf("evaluate %-4s eval records: vexild answered %llu Evaluate calls%s;"
	       " GetEvalCounts %.1f s later: %llu recorded (control %llu, treatment"
	       " %llu), %llu dropped, %lld unaccounted\n",
	    bench_transport_names[t], (unsigned long long)answered,
	    failed ? " (and some failed on our side)" : "", EVAL_FLUSH_WAIT_MS / 1000.0,
	    (unsigned long long)recorded, (unsigned long long)control,
	    (unsigned long long)treatment, (unsigned long long)out->dropped,
	    (long long)(answered - recorded - out->dropped));
	fflush(stdout);
	vx_free(out);
	return 0;
}

static int
run_transport(const struct opts *o, const char *root, enum bench_transport t,
    const struct eval_case *cases, bool *header_done)
{
	Vexil__V1__GetFlagRequest req = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	struct bench_vexild v = {.pid = 0};
	struct floor fl = {.open = false};
	struct canned replies[M_COUNT] = {{NULL, 0, 0}};
	struct result rv, rf;
	vx_client *fc = NULL;
	/* The setup evaluation that built the floor's reply counts too. */
	uint64_t eval_answered = 1, eval_failed = 0;
	int rc = -1, failed = 0;

	req.project = "default";
	req.key = "bench-flag";
	if (bench_vexild_start(&v, o->vexild, root, bench_transport_names[t], t,
		vexild_args) != 0 ||
	    create_bench_flag(v.client) != 0 || create_eval_flag(v.client) != 0 ||
	    build_getflag_reply(v.client, &req, &replies[M_GETFLAG]) != 0 ||
	    build_evaluate_reply(v.client, cases, &replies[M_EVALUATE]) != 0 ||
	    floor_start(&fl, root, t, &replies[M_GETFLAG]) != 0)
		goto out;
	{
		/* The floor ignores the credential; it is sent to match vexild. */
		vx_client_opts co = {.credential = v.key, .timeout_ms = BENCH_CALL_TIMEOUT_MS};
		if (vx_client_open(&fc, fl.url, &co) != 0) {
			fprintf(stderr, "bench_rpc: cannot open a client for %s\n",
			    fl.url);
			goto out;
		}
	}
	if (wait_floor(fc, &req, fl.url) != 0)
		goto out;
	if (!*header_done) {
		print_header(o, replies);
		*header_done = true;
	}
	for (int mi = 0; mi < M_COUNT && !bench_interrupted; mi++) {
		enum method m = (enum method)mi;
		if (!o->methods[m])
			continue;
		/* No call is in flight between points, so the swap is seen whole. */
		atomic_store_explicit(&fl.reply, &replies[m], memory_order_release);
		for (int i = 0; i < o->nlevels && !bench_interrupted; i++) {
			int n = o->levels[i];
			if (run_point(v.client, m, &req, cases, n, o, &rv) != 0 ||
			    run_point(fc, m, &req, cases, n, o, &rf) != 0)
				goto out;
			if (bench_interrupted)
				break;
			print_row(m, t, n, &rv, &rf);
			failed |= check_result("vexild", m, t, n, &rv) != 0;
			failed |= check_result("floor", m, t, n, &rf) != 0;
			if (m == M_EVALUATE) {
				eval_answered += rv.answered;
				eval_failed += rv.errors;
			}
			if (bench_vexild_check(&v, "under load") != 0)
				goto out;
		}
		if (m == M_EVALUATE && !bench_interrupted &&
		    report_eval_counts(v.client, t, eval_answered, eval_failed) != 0)
			failed = 1;
	}
	if (bench_interrupted) {
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
	if (bench_vexild_stop(&v) != 0)
		rc = -1;
	for (int m = 0; m < M_COUNT; m++)
		free(replies[m].buf);
	return rc;
}

/* ---- command line ---- */

static void
usage(FILE *to)
{
	fprintf(to,
	    "usage: bench_rpc [options]\n"
	    "  --vexild PATH          vexild to run (default %s)\n"
	    "  --method M             getflag, evaluate or all (default all)\n"
	    "  --seconds S            measured time per point (default 2)\n"
	    "  --warmup S             unmeasured calls before each point (default 0.3)\n"
	    "  --transports LIST      from ipc,tcp (default ipc,tcp)\n"
	    "  --concurrency LIST     threads per point, e.g. 1,16,64 (default)\n"
	    "  --help                 this text\n",
	    VX_VEXILD_PATH);
}

static int
parse_method(const char *v, struct opts *o)
{
	bool all = strcmp(v, "all") == 0;
	bool any = false;

	for (int m = 0; m < M_COUNT; m++) {
		o->methods[m] = all || strcmp(v, method_names[m]) == 0;
		any |= o->methods[m];
	}
	if (!any) {
		fprintf(stderr, "bench_rpc: unknown method %s (getflag, evaluate, all)\n", v);
		return -1;
	}
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
		for (t = 0; t < BENCH_TRANSPORTS; t++)
			if (strcmp(tok, bench_transport_names[t]) == 0)
				break;
		if (t == BENCH_TRANSPORTS) {
			fprintf(stderr, "bench_rpc: unknown transport %s (ipc, tcp)\n",
			    tok);
			return -1;
		}
		o->transports[t] = true;
	}
	for (t = 0; t < BENCH_TRANSPORTS; t++)
		if (o->transports[t])
			return 0;
	fprintf(stderr, "bench_rpc: --transports names none\n");
	return -1;
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
		} else if (strcmp(a, "--method") == 0) {
			if (parse_method(v, o) != 0)
				return -1;
		} else if (strcmp(a, "--seconds") == 0) {
			if (bench_parse_seconds(a, v, 0.01, &o->seconds) != 0)
				return -1;
		} else if (strcmp(a, "--warmup") == 0) {
			if (bench_parse_seconds(a, v, 0, &o->warmup) != 0)
				return -1;
		} else if (strcmp(a, "--transports") == 0) {
			if (parse_transports(v, o) != 0)
				return -1;
		} else if (strcmp(a, "--concurrency") == 0) {
			if (bench_parse_ints(a, v, 1, MAX_THREADS, o->levels, MAX_LEVELS,
				&o->nlevels) != 0)
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
	    .methods = {true, true},
	    .levels = {1, 16, 64},
	    .nlevels = 3,
	};
	struct eval_case *cases;
	char root[64];
	bool header_done = false;
	int rc = 0;

	bench_init("bench_rpc");
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if (access(o.vexild, X_OK) != 0) {
		fprintf(stderr,
		    "bench_rpc: cannot run vexild at %s: %s (use --vexild PATH)\n",
		    o.vexild, strerror(errno));
		return 1;
	}
	if ((cases = build_eval_cases()) == NULL)
		return 1;
	if (bench_make_root(root, sizeof(root)) != 0) {
		free(cases);
		return 1;
	}
	/* A failed transport does not hide the other's figures. */
	for (int t = 0; t < BENCH_TRANSPORTS && !bench_interrupted; t++)
		if (o.transports[t] &&
		    run_transport(&o, root, (enum bench_transport)t, cases, &header_done) != 0)
			rc = 1;
	if (bench_interrupted)
		rc = 1;
	bench_remove_tree(root);
	free(cases);
	return rc;
}
