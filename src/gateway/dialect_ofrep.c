/*
 * Vexil gateway — the OpenFeature Remote Evaluation Protocol dialect (OFREP,
 * open-feature/protocol service/openapi.yaml): /ofrep/v1.
 *
 * Two evaluation endpoints over the one domain model, so any OpenFeature
 * SDK with an OFREP provider evaluates Vexil flags:
 *  - POST /ofrep/v1/evaluate/flags/{key}: one flag (server providers);
 *  - POST /ofrep/v1/evaluate/flags: every flag of the environment (client
 *    providers), with an ETag over the evaluated flags, 304 for a matching
 *    If-None-Match, and an `eventStreams` entry pointing at the change
 *    stream GET /ofrep/v1/events (sse.c).
 *
 * Credentials: "Authorization: Bearer <key>" or "X-API-Key: <key>", an SDK
 * key (sdk_..., or an old vxs_...) or an API key (vxk_...). A request with an API key is
 * admitted once through AuthService/Admit, like the platform dialect:
 * authentication and the rate limit (X-RateLimit-*, 429 with Retry-After in
 * seconds). vexild does not limit SDK keys, so a request with one makes a
 * single core call: the evaluation itself authenticates the key and, when
 * the context names no environment, evaluates the one the key is bound to
 * (a bound key given another environment is refused by the core).
 *
 * The context: `targetingKey` is the user id; `email`, `country`, `ip`
 * (strings) and `groups` (a list of strings) are the engine's well-known
 * fields; everything else is a custom attribute as it is (string, number,
 * boolean, list of strings). The environment is the SDK key's, when it is
 * bound to one; otherwise the context attribute `environment` names it.
 * `environment` only selects the target and is not an attribute rules see.
 *
 * Results: the value keeps the flag's type (the core's JSON text, parsed).
 * Reasons are the core's as they are (STATIC, TARGETING_MATCH, SPLIT,
 * DEFAULT, DISABLED): a context without targetingKey is no error, since the
 * engine's default stickiness falls back to a session id or a random value.
 *
 * Errors: 400 {key, errorCode, errorDetails} (the bulk form has no key),
 * 404 {key, errorCode: FLAG_NOT_FOUND, errorDetails}, 401, 403 and 429 with
 * no body, anything else {errorDetails}.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/dialects.h"
#include "gateway/edge.h"
#include "gateway/json.h"
#include "gateway/metrics.h"
#include "gateway/rpc.h"
#include "gateway/sse.h"
#include "gateway/status.h"

#define MAX_ATTRS 64
#define EVENTS_PATH "/ofrep/v1/events"
/* How long a client may keep the stream while idle (backgrounded). */
#define INACTIVITY_DELAY_SEC 120

/* ---- errors ---- */

/* The document's error bodies; see the top of the file. */
static void
write_error(vx_gw_req *r, int status, const char *code, const char *details)
{
	const char *key = vx_gw_param(r, "key");
	cJSON *o;
	bool ok;

	if (status == 401 || status == 403 || status == 429) {
		vx_gw_reply_empty(r, status);
		return;
	}
	o = cJSON_CreateObject();
	ok = o != NULL;
	if (ok && code && key)
		ok = cJSON_AddStringToObject(o, "key", key) != NULL;
	if (ok && code)
		ok = cJSON_AddStringToObject(o, "errorCode", code) != NULL;
	if (ok)
		ok = cJSON_AddStringToObject(o, "errorDetails", details) != NULL;
	vx_gw_reply_json(r, status, vx_gw_json_done(o, ok));
}

static void
failure(vx_gw_req *r, int status, const char *code, const char *fmt, ...)
    VX_PRINTF(4, 5);

static void
failure(vx_gw_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_error(r, status, code, msg);
}

/* The router's answers (unknown path, wrong method) and vx_gw_fail(). */
static void
error(vx_gw_req *r, int status, const char *field, const char *message)
{
	(void)field;
	write_error(r, status, status == 400 ? "GENERAL" : status == 404 &&
	    vx_gw_param(r, "key") ? "FLAG_NOT_FOUND" : NULL, message);
}

/* A refused core call. */
static void
fail_call(vx_gw_req *r, const vx_status *st)
{
	const char *msg = st->message[0] ? st->message : vx_code_name(st->code);
	int status = vx_gw_call_status(st);

	/* A key the core will not take (too long, bad characters) names no flag
	 * either. */
	if (strcmp(st->field, "flag_key") == 0 && (st->code == VEXIL__V1__CODE__NOT_FOUND ||
	    st->code == VEXIL__V1__CODE__INVALID_ARGUMENT))
		failure(r, 404, "FLAG_NOT_FOUND", "%s", msg);
	else if (strcmp(st->field, "project") == 0 && st->code == VEXIL__V1__CODE__INVALID_ARGUMENT)
		failure(r, 400, "INVALID_CONTEXT", "this API key is not bound to a project, so "
		    "there is nothing to evaluate: use an SDK key or a project's API key");
	else if (strcmp(st->field, "environment") == 0 && status < 500)
		failure(r, 400, "INVALID_CONTEXT", "context.environment: %s", msg);
	else if (status == 400)
		failure(r, 400, "INVALID_CONTEXT", "%s", msg);
	else
		write_error(r, status, NULL, msg);
}

/* ---- credentials and the rate limit ---- */

/*
 * Admits the request: an API key through AuthService/Admit (*bound is "":
 * API keys are not bound to an environment); an SDK key goes straight to
 * the evaluation (*bound is NULL: the core knows). false after answering.
 */
bool
vx_gw_ofrep_admit(vx_gw_req *r, const char **bound)
{
	Vexil__V1__AdmitReply *out;
	vx_status st;
	int rc;

	/* A dialect may have read the key in its own form (Unleash's bare
	 * Authorization) before. */
	if (r->credential == NULL && (r->credential = vx_gw_key_credential(r)) == NULL) {
		vx_gw_reply_empty(r, 401);
		return false;
	}
	if (strncmp(r->credential, "SdkKey ", 7) == 0) {
		*bound = NULL;
		return true;
	}
	if ((rc = vx_gw_admit(r, &out, &st)) < 0) {
		fail_call(r, &st);
		return false;
	}
	if (strcmp(out->kind, "apikey") != 0) {
		vx_gw_reply_empty(r, 401);
		return false;
	}
	if (rc == 1) {
		vx_gw_reply_empty(r, 429);
		return false;
	}
	*bound = out->environment ? out->environment : "";
	return true;
}

/* ---- the evaluation context ---- */

struct target {
	const char *env; /* the environment evaluated */
};

/* A context attribute that must be a string, or NULL. -1 after refusing. */
static int
context_string(vx_gw_req *r, const cJSON *v, char **out)
{
	if (!cJSON_IsString(v)) {
		failure(r, 400, "INVALID_CONTEXT", "context.%.64s must be a string", v->string);
		return -1;
	}
	*out = v->valuestring;
	return 0;
}

static int
context_groups(vx_gw_req *r, const cJSON *v, Vexil__V1__EvalContext *ctx)
{
	int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
	const cJSON *e;

	if (n < 0 || n > MAX_ATTRS ||
	    (ctx->groups = vx_arena_alloc(r->arena, (size_t)(n ? n : 1) *
	        sizeof(*ctx->groups))) == NULL) {
		failure(r, 400, "INVALID_CONTEXT",
		    "context.groups must be a list of at most %d strings", MAX_ATTRS);
		return -1;
	}
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsString(e)) {
			failure(r, 400, "INVALID_CONTEXT", "context.groups must be a list of strings");
			return -1;
		}
		ctx->groups[ctx->n_groups++] = e->valuestring;
	}
	return 0;
}

/* The context members read above; every other one is an attribute. */
static const char *const context_named[] = {
    "targetingKey", "environment", "email", "country", "ip", "groups", NULL};

/*
 * Reads {"context": {...}} into ctx and picks the environment (bound: ""
 * for an API key, which must have one in the context; NULL for an SDK key,
 * whose own the core uses when the context names none). 0; -1 after
 * answering.
 */
static int
read_context(vx_gw_req *r, const char *bound, Vexil__V1__EvalContext *ctx,
    struct target *t)
{
	const cJSON *c = NULL, *v;
	char *env = NULL;
	cJSON *b;
	int rc = 0;

	if (vx_gw_json_body(r, true, &b) != 0) {
		failure(r, 400, "PARSE_ERROR", "%s", r->err_msg);
		return -1;
	}
	if (vx_gw_json_object(r, b, "context", &c) < 0) {
		failure(r, 400, "INVALID_CONTEXT", "context must be an object");
		return -1;
	}
	for (v = c ? c->child : NULL; v && rc == 0; v = v->next) {
		if (cJSON_IsNull(v))
			continue;
		if (vx_gw_streq(v->string, "targetingKey"))
			rc = context_string(r, v, &ctx->user_id);
		else if (vx_gw_streq(v->string, "environment"))
			rc = context_string(r, v, &env);
		else if (vx_gw_streq(v->string, "email"))
			rc = context_string(r, v, &ctx->email);
		else if (vx_gw_streq(v->string, "country"))
			rc = context_string(r, v, &ctx->country);
		else if (vx_gw_streq(v->string, "ip"))
			rc = context_string(r, v, &ctx->ip);
		else if (vx_gw_streq(v->string, "groups"))
			rc = context_groups(r, v, ctx);
	}
	if (rc != 0)
		return -1;
	if (c && vx_gw_json_attrs(r, c, "context", context_named, MAX_ATTRS, ctx) != 0) {
		failure(r, 400, "INVALID_CONTEXT", "%s", r->err_msg);
		return -1;
	}
	t->env = env ? env : "";
	if (bound && t->env[0] == '\0') {
		failure(r, 400, "INVALID_CONTEXT", "no environment: this key is not bound to "
		    "one, so the context attribute environment must name it");
		return -1;
	}
	return 0;
}

/* ---- results ---- */

/* Whether s is a JSON number as RFC 8259 writes one (no sign +, no
 * leading zeros, no spaces). */
static bool
json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		s += strspn(s, "0123456789");
	else
		return false;
	if (*s == '.') {
		if (!(s[1] >= '0' && s[1] <= '9'))
			return false;
		s += 1 + strspn(s + 1, "0123456789");
	}
	if (*s == 'e' || *s == 'E') {
		s += (s[1] == '+' || s[1] == '-') ? 2 : 1;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		s += strspn(s, "0123456789");
	}
	return *s == '\0';
}

/*
 * The flag's own metadata (text values) as OFREP's metadata object: a
 * value that is a JSON number, true or false is sent as that type, any
 * other as a string; a flag without metadata has {}.
 */
/* The flag's metadata as an object: numbers, booleans and strings. */
static void
put_metadata(vx_gw_jbuf *jb, const Vexil__V1__EvaluationResult *e)
{
	VX_GW_JBUF_LIT(jb, ",\"metadata\":{");
	for (size_t i = 0; i < e->n_metadata; i++) {
		const char *k = e->metadata[i]->key, *v = e->metadata[i]->value;
		if (i > 0)
			VX_GW_JBUF_LIT(jb, ",");
		vx_gw_jbuf_str(jb, k);
		VX_GW_JBUF_LIT(jb, ":");
		if (json_number(v) || vx_gw_json_bool_text(v) >= 0)
			vx_gw_jbuf_value(jb, v);
		else
			vx_gw_jbuf_str(jb, v);
	}
	VX_GW_JBUF_LIT(jb, "}");
}

/*
 * One flag's result as the document's evaluationSuccess or
 * evaluationFailure, appended to jb; *status is what the single-flag
 * endpoint answers with it (200, 400 or 404). An answer without a value
 * (a disabled flag with Flag.disabled_serves_default, reason DISABLED; one
 * without a default variant, Flag.no_default_variant, reason DEFAULT) has
 * no value and no variant, so the caller's default stands, as flagd
 * answers; a flag whose definition did not translate (Flag.parse_error:
 * ERROR, no value) is the failure PARSE_ERROR. A number keeps the text it
 * is stored with (an integer stays an integer).
 */
static void
put_result(vx_gw_jbuf *jb, const Vexil__V1__EvaluationResult *e, int *status)
{
	const char *reason = e->reason, *code = NULL;
	bool no_value = e->value[0] == '\0' && (vx_gw_streq(reason, "DISABLED") ||
	                                           vx_gw_streq(reason, "DEFAULT"));
	bool literal =
	    !no_value && (vx_gw_json_bool_text(e->value) >= 0 || json_number(e->value));
	char details[256];
	cJSON *value = NULL;

	*status = 200;
	if (vx_gw_streq(reason, "FLAG_NOT_FOUND")) {
		*status = 404;
		code = "FLAG_NOT_FOUND";
		snprintf(details, sizeof(details), "flag %.128s not found", e->flag_key);
	} else if (vx_gw_streq(reason, "ERROR") && e->value[0] == '\0') {
		*status = 400;
		code = "PARSE_ERROR";
		snprintf(details, sizeof(details),
		    "flag %.128s has a definition that "
		    "could not be translated (vexilctl flag get says why)",
		    e->flag_key);
	} else if (!no_value && !literal && (value = cJSON_Parse(e->value)) == NULL) {
		*status = 400;
		code = "GENERAL";
		snprintf(details, sizeof(details), "flag %.128s has a stored value that is "
		    "not JSON", e->flag_key);
	}
	VX_GW_JBUF_LIT(jb, "{\"key\":");
	vx_gw_jbuf_str(jb, e->flag_key);
	if (code) {
		VX_GW_JBUF_LIT(jb, ",\"errorCode\":");
		vx_gw_jbuf_str(jb, code);
		VX_GW_JBUF_LIT(jb, ",\"errorDetails\":");
		vx_gw_jbuf_str(jb, details);
		VX_GW_JBUF_LIT(jb, "}");
		return;
	}
	if (!no_value) {
		/* true, false and numbers in their stored text; anything else
		 * from the tree parsed above (once). */
		VX_GW_JBUF_LIT(jb, ",\"value\":");
		if (literal)
			vx_gw_jbuf_raw(jb, e->value, strlen(e->value));
		else
			vx_gw_jbuf_tree(jb, value);
		cJSON_Delete(value);
		VX_GW_JBUF_LIT(jb, ",\"variant\":");
		vx_gw_jbuf_str(jb, e->variant);
	}
	VX_GW_JBUF_LIT(jb, ",\"reason\":");
	vx_gw_jbuf_str(jb, reason);
	put_metadata(jb, e);
	VX_GW_JBUF_LIT(jb, "}");
}

/* The environment evaluated, as a response header (OFREP's metadata is
 * the flag's own). */
static void
put_environment(vx_gw_req *r, const char *env)
{
	if (env && *env)
		(void)vx_gw_set_header_str(r, "Vexil-Environment", env);
}

/* ---- single flag ---- */

static void
evaluate_flag(vx_gw_req *r)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationResult *out;
	struct target t;
	const char *bound;
	vx_gw_jbuf jb = {0};
	vx_status st;
	int status;

	if (!vx_gw_ofrep_admit(r, &bound) || read_context(r, bound, &ctx, &t) != 0)
		return;
	/* An empty project is the key's own. */
	in.project = "";
	in.environment = (char *)t.env;
	in.flag_key = (char *)vx_gw_param(r, "key");
	in.context = &ctx;
	if (vx_gw_edge_evaluate(r->rpc->edge, r, &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_metrics_eval(out->reason);
	put_result(&jb, out, &status);
	put_environment(r, out->environment[0] ? out->environment : t.env);
	if (out->rule_id)
		(void)vx_gw_set_header_uint(r, "Vexil-Rule-Id", out->rule_id);
	vx_gw_jbuf_reply(r, status, &jb);
}

/* ---- bulk ---- */

/* FNV-1a over n bytes of s. */
static uint64_t
fnv1a_n(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

uint64_t
vx_gw_fnv1a(const char *s)
{
	return fnv1a_n(s, strlen(s));
}

bool
vx_gw_etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	while (inm && *inm) {
		inm += strspn(inm, " \t,");
		if (*inm == '*')
			return true;
		/* A weak tag compares weakly, which is all a 304 needs. */
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		if (strncmp(inm, etag, n) == 0 && (inm[n] == '\0' || inm[n] == ',' ||
		    inm[n] == ' ' || inm[n] == '\t'))
			return true;
		inm += strcspn(inm, ",");
	}
	return false;
}

/* A Host header that is safe to put in a URL: host[:port], no more. */
static bool
host_ok(const char *h)
{
	size_t n = h ? strlen(h) : 0;

	if (n == 0 || n > 255)
		return false;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		    (*h >= '0' && *h <= '9') || strchr(".-:[]_", *h)))
			return false;
	return true;
}

/*
 * eventStreams: the change stream, as an absolute URL (the document's
 * format: uri) made from the request's Host and scheme; X-Forwarded-Proto
 * wins, for a gateway behind a TLS-terminating proxy. Without a usable
 * Host there is no URL to give, and the entry is left out (clients poll).
 */
static void
put_event_streams(vx_gw_req *r, vx_gw_jbuf *jb)
{
	const char *host = vx_gw_header(r, "Host");
	const char *proto = vx_gw_header(r, "X-Forwarded-Proto");
	char url[320], delay[24];

	if (!host_ok(host))
		return;
	if (proto == NULL || (strcasecmp(proto, "http") != 0 && strcasecmp(proto, "https") != 0))
		proto = r->tls ? "https" : "http";
	snprintf(url, sizeof(url), "%s://%s%s", strcasecmp(proto, "https") == 0 ? "https" :
	    "http", host, EVENTS_PATH);
	snprintf(delay, sizeof(delay), "%d", INACTIVITY_DELAY_SEC);
	VX_GW_JBUF_LIT(jb, ",\"eventStreams\":[{\"type\":\"sse\",\"url\":");
	vx_gw_jbuf_str(jb, url);
	VX_GW_JBUF_LIT(jb, ",\"inactivityDelaySec\":");
	vx_gw_jbuf_raw(jb, delay, strlen(delay));
	VX_GW_JBUF_LIT(jb, "}]");
}

static void
evaluate_all(vx_gw_req *r)
{
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	struct target t;
	const char *bound;
	char etag[24];
	vx_gw_jbuf jb = {0};
	vx_status st;
	int status;

	if (!vx_gw_ofrep_admit(r, &bound) || read_context(r, bound, &ctx, &t) != 0)
		return;
	in.project = "";
	in.environment = (char *)t.env;
	in.context = &ctx;
	if (vx_gw_edge_evaluate_all(r->rpc->edge, r, &in, &out, &st) != 0) {
		fail_call(r, &st);
		return;
	}
	vx_gw_metrics_evals(out);
	VX_GW_JBUF_LIT(&jb, "{\"flags\":[");
	for (size_t i = 0, n = 0; i < out->n_results; i++) {
		if (out->results[i] == NULL)
			continue;
		if (n++ > 0)
			VX_GW_JBUF_LIT(&jb, ",");
		put_result(&jb, out->results[i], &status);
	}
	VX_GW_JBUF_LIT(&jb, "]");
	if (jb.failed) {
		free(jb.p);
		write_error(r, 500, NULL, "out of memory");
		return;
	}
	/* The tag covers the evaluated flags (the array's text): the same
	 * answer for the same context is the same tag, whatever else changed
	 * in the project. */
	snprintf(etag, sizeof(etag), "\"%016llx\"",
	    (unsigned long long)fnv1a_n(jb.p + 9, jb.len - 9));
	(void)vx_gw_set_header_str(r, "ETag", etag);
	put_environment(
	    r, out->n_results && out->results[0] && *out->results[0]->environment
	           ? out->results[0]->environment
	           : t.env);
	if (vx_gw_etag_matches(vx_gw_header(r, "If-None-Match"), etag)) {
		free(jb.p);
		vx_gw_reply_empty(r, 304);
		return;
	}
	put_event_streams(r, &jb);
	VX_GW_JBUF_LIT(&jb, "}");
	vx_gw_jbuf_reply(r, 200, &jb);
}

/* ---- the dialect ---- */

/* GET /ofrep/v1/events (the change stream) is served by sse.c. */
/* Tried on the connection's thread first (http.h): their only core
 * calls are vx_gw_admit() and the edge's. */
static const vx_gw_handler nonblocking[] = {evaluate_all, evaluate_flag, NULL};

static const vx_gw_route routes[] = {
	{"POST", "/ofrep/v1/evaluate/flags", evaluate_all},
	{"POST", "/ofrep/v1/evaluate/flags/{key}", evaluate_flag},
	{"GET", "/ofrep/v1/events", vx_gw_sse_events},
};

static const char *const prefixes[] = {"/ofrep", NULL};

const vx_gw_dialect vx_gw_ofrep_dialect = {
    .name = "ofrep",
    .prefixes = prefixes,
    .error = error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
    .nonblocking = nonblocking,
};
