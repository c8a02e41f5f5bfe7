/*
 * bench_rpc — what one GetFlag, one Evaluate and one EvaluateAll cost
 * through vexild, next to the floor.
 *
 * For each transport (ipc, tcp) it starts the real vexild (the one from
 * this build, or --vexild PATH) on a fresh temp data dir and free
 * addresses, creates seven flags through libvexil (the default project
 * then holds ten, with the three it is seeded with), and then, for each
 * method (--method), each mode (--mode) and each level N of calls in
 * flight, measures vexild and the floor one after the other: a short
 * warm-up, then a fixed measured time. `getflag` is GetFlag on a flag
 * with variants and targeting rules; `evaluate` is
 * EvaluationService/Evaluate in production on a flag with an email
 * ends_with rule, a country split, a 30% rollout rule and a 50%
 * environment rollout, over a pool of contexts with varying user ids,
 * emails, countries and plans, so every rule and both rollouts are taken;
 * `evalall` is EvaluateAll over the project's ten flags with the same
 * contexts.
 *
 * Two modes. `sync` runs N threads that call the method in a loop through
 * one shared vx_client (libvexil's synchronous calls): what a threaded
 * service sees. `async` keeps N calls in flight from one client thread
 * over N REQ contexts driven by aio callbacks (async_load.c): what a
 * pipelining service sees, and the only way to load vexild past what
 * client threads can drive on a small box. Every measured call is timed
 * with CLOCK_MONOTONIC into arrays allocated (and touched) before the run;
 * p50 and p99 come from all of them, and throughput is the successful
 * calls over the measured window.
 *
 * The floor runs in the same run, as a separate process (this program
 * with --floor-serve): an nng REP socket with asynchronous contexts, in
 * the style of nng's demo/async, that answers every request at once with
 * a pre-packed Response holding what vexild returned for the method, so
 * the reply has the same size. The ratio between the two is what vexild
 * adds per request: envelope decode, credential check, LMDB read, rule
 * evaluation and the evaluation record, reply build, and its threading.
 * Client, floor and vexild share this machine's CPUs; read the figures as
 * relative to the floor on the same box, not as absolute server cost.
 *
 * vexild queues every evaluation in a bounded buffer that a flusher writes
 * out in batches, dropping (and counting) records when it is full rather
 * than making the evaluation wait. After the evaluate points of a
 * transport the bench waits for a flush and calls GetEvalCounts once, and
 * prints how many evaluations vexild answered, how many it recorded and
 * how many it reports dropped.
 *
 * There are no thresholds. It prints a settings line and one row per
 * (method, transport, mode, level), and exits 0; or non-zero, with a
 * message, when vexild or the floor cannot be started or stopped or any
 * call fails.
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

#include "async_load.h"
#include "bench_common.h"
#include "vexil.h"

#ifndef VX_VEXILD_PATH
#define VX_VEXILD_PATH "vexild"
#endif

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

/*
 * vexild's receiving contexts: its default, 64, unless --workers. With
 * fewer contexts than calls in flight, every request past them waits on
 * the pipe until a context asks for it, and nng then hands it to a task
 * thread instead of completing the receive on the pipe's own.
 */
static char workers_arg[12] = "64";
static const char *vexild_args[] = {"--workers", workers_arg, NULL};

enum method { M_GETFLAG, M_EVALUATE, M_EVALUATE_ALL, M_COUNT };
static const char *const method_names[M_COUNT] = {"getflag", "evaluate", "evalall"};
static const char *const method_rpc[M_COUNT] = {"vexil.v1.FlagService/GetFlag",
    "vexil.v1.EvaluationService/Evaluate", "vexil.v1.EvaluationService/EvaluateAll"};

enum mode { MODE_SYNC, MODE_ASYNC, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"sync", "async"};
/* Flags created besides bench-flag and bench-eval, for EvaluateAll's ten. */
#define EXTRA_FLAGS 5

struct opts {
	const char *vexild;
	double seconds;
	double warmup;
	bool transports[BENCH_TRANSPORTS];
	bool methods[M_COUNT];
	bool modes[MODE_COUNT];
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

	if (bench_create_flag(c, &flag) != 0)
		return -1;
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

	if (bench_create_flag(c, &flag) != 0)
		return -1;
	return 0;
}

/*
 * Plain boolean flags, enabled in production, so that EvaluateAll answers
 * for ten flags: these, the two above and the three the project is seeded
 * with.
 */
static int
create_extra_flags(vx_client *c)
{
	for (int i = 0; i < EXTRA_FLAGS; i++) {
		Vexil__V1__FlagEnvConfig prod = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
		Vexil__V1__FlagEnvConfig *envs[] = {&prod};
		Vexil__V1__Flag flag = VEXIL__V1__FLAG__INIT;
		char key[32];

		snprintf(key, sizeof(key), "bench-extra-%d", i);
		prod.environment = "production";
		prod.enabled = true;
		prod.rollout_percentage = 100;
		flag.key = key;
		flag.name = key;
		flag.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
		flag.envs = envs;
		flag.n_envs = 1;
		if (bench_create_flag(c, &flag) != 0)
			return -1;
	}
	return 0;
}

/* One prepared Evaluate request; its pointers point into itself. */
struct eval_case {
	Vexil__V1__EvaluateRequest req;
	Vexil__V1__EvaluateAllRequest all; /* the same context, every flag */
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
		vexil__v1__evaluate_all_request__init(&e->all);
		e->all.project = "default";
		e->all.environment = "production";
		e->all.context = &e->ctx;
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

/*
 * What vexild answers to method m, canned: the Flag for req; for Evaluate
 * and EvaluateAll, the answer for the first context, a staff user, so it
 * carries a rule id: the largest of the kinds of answer the pool gets, by
 * a few bytes.
 */
static int
build_reply(vx_client *c, enum method m, const Vexil__V1__GetFlagRequest *req,
    const struct eval_case *cases, struct canned *out)
{
	ProtobufCMessage *msg = NULL;
	vx_status st;
	int rc;

	if (m == M_GETFLAG)
		rc = vx_get_flag(c, req, (Vexil__V1__Flag **)&msg, &st);
	else if (m == M_EVALUATE)
		rc = vx_evaluate(
		    c, &cases[0].req, (Vexil__V1__EvaluationResult **)&msg, &st);
	else
		rc = vx_evaluate_all(
		    c, &cases[0].all, (Vexil__V1__EvaluationList **)&msg, &st);
	if (rc != 0) {
		fprintf(stderr, "bench_rpc: %s failed: %s: %s%s%s\n", method_rpc[m],
		    vx_code_name(st.code), st.message, st.field[0] ? " field=" : "",
		    st.field);
		return -1;
	}
	if (m == M_EVALUATE_ALL &&
	    ((Vexil__V1__EvaluationList *)msg)->n_results != EXTRA_FLAGS + 5)
		fprintf(stderr,
		    "bench_rpc: note: EvaluateAll answers %zu flags, not %d\n",
		    ((Vexil__V1__EvaluationList *)msg)->n_results, EXTRA_FLAGS + 5);
	rc = pack_canned(msg, out);
	vx_free(msg);
	return rc;
}

/* ---- the floor ---- */

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
	} else if (pt->method == M_EVALUATE) {
		Vexil__V1__EvaluationResult *r = NULL;
		rc = vx_evaluate(pt->client, &pt->cases[l->next++ & (EVAL_CASES - 1)].req,
		    &r, st);
		*out = r;
	} else {
		Vexil__V1__EvaluationList *r = NULL;
		rc = vx_evaluate_all(
		    pt->client, &pt->cases[l->next++ & (EVAL_CASES - 1)].all, &r, st);
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
	uint64_t **lats = NULL, last = 0;
	size_t cap, *ns = NULL;
	double budget;
	int started = 0, rc = -1;

	memset(r, 0, sizeof(*r));
	budget = o->seconds * SAMPLES_PER_SEC;
	if (budget > MAX_SAMPLES)
		budget = MAX_SAMPLES;
	cap = (size_t)(budget / nthreads);
	if (cap < MIN_SAMPLES)
		cap = MIN_SAMPLES;
	if ((ls = calloc((size_t)nthreads, sizeof(*ls))) == NULL ||
	    (lats = calloc((size_t)nthreads, sizeof(*lats))) == NULL ||
	    (ns = calloc((size_t)nthreads, sizeof(*ns))) == NULL)
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
		lats[i] = ls[i].lat;
		ns[i] = ls[i].n;
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
	if (result_percentiles(r, lats, ns, nthreads) != 0)
		goto nomem;
	if (last > pt.warm_end)
		r->rate = (double)r->calls * 1e9 / (double)(last - pt.warm_end);
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "bench_rpc: out of memory for %d threads\n", nthreads);
out:
	free(lats);
	free(ns);
	for (int i = 0; ls != NULL && i < nthreads; i++)
		free(ls[i].lat);
	free(ls);
	return rc;
}

/* ---- one transport ---- */

static void
print_header(const struct opts *o, const struct canned *replies)
{
	printf("bench_rpc: %g s per point after %g s warm-up; vexild --workers %s (%s);"
	       " sync: threads on one shared vx_client; async: REQ contexts on one"
	       " socket; floor: separate process, REP, %d async ctx; %ld CPUs\n",
	    o->seconds, o->warmup, vexild_args[1], o->vexild, FLOOR_CONTEXTS,
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("bench_rpc: replies: getflag %zu B (Flag %zu B); evaluate %zu B"
	       " (EvaluationResult %zu B); evalall %zu B (EvaluationList %zu B);"
	       " %d contexts\n",
	    replies[M_GETFLAG].len, replies[M_GETFLAG].payload_len,
	    replies[M_EVALUATE].len, replies[M_EVALUATE].payload_len,
	    replies[M_EVALUATE_ALL].len, replies[M_EVALUATE_ALL].payload_len, EVAL_CASES);
	printf("%-8s %-9s %-5s %5s | %9s %9s %10s | %9s %9s %10s | %9s %9s | %s\n",
	    "method", "transport", "mode", "conc", "vx_p50us", "vx_p99us", "vx_call/s",
	    "fl_p50us", "fl_p99us", "fl_call/s", "p50_vx/fl", "tput_vx/fl",
	    "errors vx/fl");
	fflush(stdout);
}

static void
print_row(enum method m, enum bench_transport t, enum mode md, int conc,
    const struct result *v, const struct result *f)
{
	printf("%-8s %-9s %-5s %5d | %9.1f %9.1f %10.0f | %9.1f %9.1f %10.0f | %9.2f "
	       "%9.2f | %llu/%llu\n",
	    method_names[m], bench_transport_names[t], mode_names[md], conc, v->p50_us,
	    v->p99_us, v->rate, f->p50_us, f->p99_us, f->rate,
	    f->p50_us > 0 ? v->p50_us / f->p50_us : 0.0,
	    f->rate > 0 ? v->rate / f->rate : 0.0, (unsigned long long)v->errors,
	    (unsigned long long)f->errors);
	fflush(stdout);
}

/* Reports on stderr what the table cannot show; returns -1 on errors. */
static int
check_result(const char *who, enum method m, enum bench_transport t, enum mode md,
    int conc, const struct result *r)
{
	const char *mn = method_names[m], *tn = bench_transport_names[t];
	const char *dn = mode_names[md];
	int rc = 0;

	if (r->errors) {
		fprintf(stderr,
		    "bench_rpc: %s %s %s %s x%d: %llu calls failed; first: %s\n", who, mn,
		    tn, dn, conc, (unsigned long long)r->errors, r->first_err);
		rc = -1;
	}
	if (r->calls == 0) {
		fprintf(stderr, "bench_rpc: %s %s %s %s x%d: no call succeeded\n", who,
		    mn, tn, dn, conc);
		rc = -1;
	}
	if (r->max_ns >= STALL_NS)
		fprintf(stderr,
		    "bench_rpc: note: %s %s %s %s x%d: slowest call took %.1f ms\n", who,
		    mn, tn, dn, conc, (double)r->max_ns / 1e6);
	if (r->dropped)
		fprintf(stderr,
		    "bench_rpc: note: %s %s %s %s x%d: %llu calls beyond the sample"
		    " arrays were counted but not timed\n",
		    who, mn, tn, dn, conc, (unsigned long long)r->dropped);
	return rc;
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

/* The packed envelopes the async mode cycles through, per method. */
struct envelopes {
	struct async_req *reqs[M_COUNT];
	size_t n[M_COUNT];
};

static void
envelopes_free(struct envelopes *e)
{
	for (int m = 0; m < M_COUNT; m++) {
		for (size_t i = 0; e->reqs[m] != NULL && i < e->n[m]; i++)
			free(e->reqs[m][i].buf);
		free(e->reqs[m]);
	}
}

static int
envelopes_build(struct envelopes *e, const Vexil__V1__GetFlagRequest *getflag,
    const struct eval_case *cases, const char *key)
{
	char cred[160];

	snprintf(cred, sizeof(cred), "%s%s", strchr(key, ' ') ? "" : "ApiKey ", key);
	for (int m = 0; m < M_COUNT; m++) {
		e->n[m] = m == M_GETFLAG ? 1 : EVAL_CASES;
		if ((e->reqs[m] = calloc(e->n[m], sizeof(struct async_req))) == NULL)
			return -1;
		for (size_t i = 0; i < e->n[m]; i++) {
			const ProtobufCMessage *in = m == M_GETFLAG ? &getflag->base
			                             : m == M_EVALUATE
			                                 ? &cases[i].req.base
			                                 : &cases[i].all.base;
			if (async_req_pack(&e->reqs[m][i], method_rpc[m], in, cred) != 0)
				return -1;
		}
	}
	return 0;
}

/* One point against one target (vexild or the floor). */
static int
measure(vx_client *client, const char *url, const struct envelopes *env, enum method m,
    enum mode md, const Vexil__V1__GetFlagRequest *getflag, const struct eval_case *cases,
    int n, const struct opts *o, struct result *r)
{
	struct async_point ap;
	double budget;

	if (md == MODE_SYNC)
		return run_point(client, m, getflag, cases, n, o, r);
	budget = o->seconds * SAMPLES_PER_SEC;
	if (budget > MAX_SAMPLES)
		budget = MAX_SAMPLES;
	ap = (struct async_point){.url = url,
	    .reqs = env->reqs[m],
	    .nreqs = env->n[m],
	    .inflight = n,
	    .warmup = o->warmup,
	    .seconds = o->seconds,
	    .cap =
	        (size_t)(budget / n) < MIN_SAMPLES ? MIN_SAMPLES : (size_t)(budget / n)};
	return async_run(&ap, r);
}

static int
run_transport(const struct opts *o, const char *self, const char *root,
    enum bench_transport t, const struct eval_case *cases, bool *header_done)
{
	Vexil__V1__GetFlagRequest req = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	struct bench_vexild v = {.pid = 0};
	struct floor_proc fl = {.pid = 0};
	struct canned replies[M_COUNT] = {{NULL, 0, 0}};
	struct envelopes env = {{NULL}, {0}};
	struct result rv, rf;
	vx_client *fc = NULL;
	char tag[32];
	/* The setup evaluations that built the floors' replies count too:
	 * Evaluate's, and EvaluateAll's of bench-eval among the ten. */
	uint64_t eval_answered = 2, eval_failed = 0;
	int rc = -1, failed = 0;

	req.project = "default";
	req.key = "bench-flag";
	if (bench_vexild_start(
	        &v, o->vexild, root, bench_transport_names[t], t, vexild_args) != 0 ||
	    create_bench_flag(v.client) != 0 || create_eval_flag(v.client) != 0 ||
	    create_extra_flags(v.client) != 0 ||
	    build_reply(v.client, M_GETFLAG, &req, cases, &replies[M_GETFLAG]) != 0 ||
	    build_reply(v.client, M_EVALUATE, &req, cases, &replies[M_EVALUATE]) != 0 ||
	    build_reply(
	        v.client, M_EVALUATE_ALL, &req, cases, &replies[M_EVALUATE_ALL]) != 0)
		goto out;
	if (envelopes_build(&env, &req, cases, v.key) != 0) {
		fprintf(stderr, "bench_rpc: out of memory for the request envelopes\n");
		goto out;
	}
	if (!*header_done) {
		print_header(o, replies);
		*header_done = true;
	}
	for (int mi = 0; mi < M_COUNT && !bench_interrupted; mi++) {
		enum method m = (enum method)mi;
		if (!o->methods[m])
			continue;
		/* A floor per method, answering with that method's reply. */
		snprintf(
		    tag, sizeof(tag), "%s-%s", bench_transport_names[t], method_names[m]);
		if (floor_proc_start(
		        &fl, self, root, tag, t, replies[m].buf, replies[m].len) != 0)
			goto out;
		{
			/* The floor ignores the credential; it is sent to match vexild.
			 */
			vx_client_opts co = {
			    .credential = v.key, .timeout_ms = BENCH_CALL_TIMEOUT_MS};
			if (vx_client_open(&fc, fl.url, &co) != 0) {
				fprintf(stderr,
				    "bench_rpc: cannot open a client for %s\n", fl.url);
				goto out;
			}
		}
		for (int md = 0; md < MODE_COUNT && !bench_interrupted; md++) {
			if (!o->modes[md])
				continue;
			for (int i = 0; i < o->nlevels && !bench_interrupted; i++) {
				int n = o->levels[i];
				if (measure(v.client, v.rpc, &env, m, (enum mode)md, &req,
				        cases, n, o, &rv) != 0 ||
				    measure(fc, fl.url, &env, m, (enum mode)md, &req,
				        cases, n, o, &rf) != 0)
					goto out;
				if (bench_interrupted)
					break;
				print_row(m, t, (enum mode)md, n, &rv, &rf);
				failed |= check_result("vexild", m, t, md, n, &rv) != 0;
				failed |= check_result("floor", m, t, md, n, &rf) != 0;
				if (m == M_EVALUATE) {
					eval_answered += rv.answered;
					eval_failed += rv.errors;
				}
				if (bench_vexild_check(&v, "under load") != 0)
					goto out;
			}
		}
		vx_client_close(fc);
		fc = NULL;
		if (floor_proc_stop(&fl) != 0)
			failed = 1;
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
	if (floor_proc_stop(&fl) != 0)
		rc = -1;
	if (bench_vexild_stop(&v) != 0)
		rc = -1;
	envelopes_free(&env);
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
	    "  --method M             getflag, evaluate, evalall or all (default all)\n"
	    "  --mode LIST            from sync,async (default sync,async)\n"
	    "  --seconds S            measured time per point (default 2)\n"
	    "  --warmup S             unmeasured calls before each point (default 0.3)\n"
	    "  --transports LIST      from ipc,tcp (default ipc,tcp)\n"
	    "  --concurrency LIST     calls in flight per point (threads in sync\n"
	    "                         mode, contexts in async), default 1,16,64\n"
	    "  --workers N            vexild's --workers (default 64, its own)\n"
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
		fprintf(stderr,
		    "bench_rpc: unknown method %s (getflag, evaluate, evalall, all)\n",
		    v);
		return -1;
	}
	return 0;
}

/*
 * Parses a comma list of names from names[0..n) into on[] (true for each
 * named); what names the kind in messages. None named is an error.
 */
static int
parse_names(const char *v, const char *what, const char *const *names, int n, bool *on)
{
	char buf[64], *tok, *save = NULL;
	bool any = false;
	int i;

	memset(on, 0, (size_t)n * sizeof(*on));
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < n; i++)
			if (strcmp(tok, names[i]) == 0)
				break;
		if (i == n) {
			fprintf(stderr, "bench_rpc: unknown %s %s\n", what, tok);
			return -1;
		}
		on[i] = any = true;
	}
	if (!any)
		fprintf(stderr, "bench_rpc: the %s list names none\n", what);
	return any ? 0 : -1;
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
		} else if (strcmp(a, "--mode") == 0) {
			if (parse_names(v, "mode", mode_names, MODE_COUNT, o->modes) != 0)
				return -1;
		} else if (strcmp(a, "--transports") == 0) {
			if (parse_names(v, "transport", bench_transport_names,
			        BENCH_TRANSPORTS, o->transports) != 0)
				return -1;
		} else if (strcmp(a, "--workers") == 0) {
			int n;
			if (bench_parse_int(a, v, 1, 1024, &n) != 0)
				return -1;
			snprintf(workers_arg, sizeof(workers_arg), "%d", n);
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
	    .methods = {true, true, true},
	    .modes = {true, true},
	    .levels = {1, 16, 64},
	    .nlevels = 3,
	};
	struct eval_case *cases;
	char root[64], self[512];
	bool header_done = false;
	ssize_t len;
	int rc = 0;

	bench_init("bench_rpc");
	/* The floor process: bench_rpc --floor-serve URL FILE (not in --help). */
	if (argc == 4 && strcmp(argv[1], "--floor-serve") == 0)
		return floor_serve_main(argv[2], argv[3]);
	if ((len = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
		fprintf(stderr, "bench_rpc: cannot find its own program: %s\n",
		    strerror(errno));
		return 1;
	}
	self[len] = '\0';
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
		    run_transport(&o, self, root, (enum bench_transport)t, cases,
		        &header_done) != 0)
			rc = 1;
	if (bench_interrupted)
		rc = 1;
	bench_remove_tree(root);
	free(cases);
	return rc;
}
