/*
 * Vexil gateway tests: GET /metrics and GET /readyz, over real HTTP to
 * the vexil-gateway of this build in front of a real vexild.
 *
 * Every scrape is parsed as Prometheus's text format and checked for
 * what a scraper relies on: legal names, one TYPE per family, counters
 * named _total, histograms whose buckets only grow and end at their
 * count. The figures are then compared across two scrapes: each moves by
 * exactly the requests, evaluations, writes and events the test made.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"

static vx_harness h;
static vx_gateway g;

static void
setup(void)
{
	vx_harness_start(&h, NULL);
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the text format ---- */

#define MAX_SAMPLES 4096
#define MAX_FAMILIES 256

struct scrape {
	size_t n;
	char *key[MAX_SAMPLES]; /* name{labels} as written */
	double value[MAX_SAMPLES];
	size_t nf;
	char *family[MAX_FAMILIES];
	char *type[MAX_FAMILIES];
};

static bool
name_ok(const char *s, size_t n)
{
	if (n == 0 || !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') ||
	                  (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(s[i] == '_' || s[i] == ':' || (s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static const char *
type_of(const struct scrape *s, const char *family)
{
	for (size_t i = 0; i < s->nf; i++)
		if (strcmp(s->family[i], family) == 0)
			return s->type[i];
	return NULL;
}

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Parses and checks one scrape; fails the test on anything malformed. */
static void
parse(struct scrape *s, const char *text)
{
	char *copy = strdup(text), *line, *save = NULL;

	memset(s, 0, sizeof(*s));
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[200], type[32];
			cr_assert_eq(
			    sscanf(line + 7, "%199s %31s", name, type), 2, "%s", line);
			cr_assert(
			    name_ok(name, strlen(name)), "bad family name: %s", line);
			cr_assert_null(type_of(s, name), "second TYPE for %s", name);
			cr_assert(strcmp(type, "counter") == 0 ||
			              strcmp(type, "gauge") == 0 ||
			              strcmp(type, "histogram") == 0,
			    "unknown type: %s", line);
			if (strcmp(type, "counter") == 0)
				cr_assert(ends_with(name, strlen(name), "_total"),
				    "counter %s is not named _total", name);
			cr_assert_lt(s->nf, MAX_FAMILIES);
			s->family[s->nf] = strdup(name);
			s->type[s->nf++] = strdup(type);
			continue;
		}
		if (line[0] == '#')
			continue;
		char *sp = strrchr(line, ' ');
		cr_assert_not_null(sp, "no value: %s", line);
		*sp = '\0';
		size_t nl = strcspn(line, "{");
		cr_assert(name_ok(line, nl), "bad sample name: %s", line);
		char fam[200];
		snprintf(fam, sizeof(fam), "%.*s", (int)nl, line);
		const char *t = type_of(s, fam);
		if (t == NULL) {
			/* A histogram's _bucket, _sum and _count. */
			static const char *const parts[] = {"_bucket", "_sum", "_count"};
			for (size_t i = 0; t == NULL && i < 3; i++)
				if (ends_with(fam, nl, parts[i])) {
					fam[nl - strlen(parts[i])] = '\0';
					t = type_of(s, fam);
					cr_assert(t && strcmp(t, "histogram") == 0,
					    "%s: no histogram %s", line, fam);
				}
		}
		cr_assert_not_null(t, "sample %s has no TYPE line before it", line);
		char *end;
		double v = strtod(sp + 1, &end);
		cr_assert(
		    *end == '\0' && end != sp + 1, "bad value in %s %s", line, sp + 1);
		cr_assert_lt(s->n, MAX_SAMPLES);
		s->key[s->n] = strdup(line);
		s->value[s->n++] = v;
	}
	free(copy);
}

static void
scrape_free(struct scrape *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->key[i]);
	for (size_t i = 0; i < s->nf; i++) {
		free(s->family[i]);
		free(s->type[i]);
	}
}

/* A series' value; 0 when the scrape does not list it. */
static double
val(const struct scrape *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0)
			return s->value[i];
	return 0;
}

static bool
has(const struct scrape *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0)
			return true;
	return false;
}

/* Every histogram's buckets grow and end at its _count. */
static void
check_histograms(const struct scrape *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *k = s->key[i], *le = strstr(k, ",le=\"+Inf\"}");
		char count[512];
		double prev = 0;
		if (le == NULL)
			continue;
		/* name_bucket{labels,le="+Inf"} -> name_count{labels} */
		const char *b = strstr(k, "_bucket{");
		cr_assert_not_null(b, "%s", k);
		snprintf(count, sizeof(count), "%.*s_count{%.*s}", (int)(b - k), k,
		    (int)(le - (b + 8)), b + 8);
		cr_assert(has(s, count), "%s has no %s", k, count);
		cr_assert_eq(s->value[i], val(s, count), "%s: +Inf %g, count %g", k,
		    s->value[i], val(s, count));
		for (size_t j = 0; j < s->n; j++)
			if (strncmp(s->key[j], k, (size_t)(le - k)) == 0 &&
			    strstr(s->key[j], ",le=\"") == s->key[j] + (le - k)) {
				cr_assert_geq(s->value[j], prev, "%s falls", s->key[j]);
				prev = s->value[j];
			}
	}
}

static vx_http_res
get(const char *path, const char *auth)
{
	const char *hdrs[] = {auth, NULL};
	return vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt("%s%s", g.base, path),
	    .headers = auth ? hdrs : NULL});
}

static void
scrape(struct scrape *s)
{
	vx_http_res r = get("/metrics", NULL);

	cr_assert_eq(r.status, 200, "/metrics: %ld %s", r.status, r.body);
	cr_assert(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0, "%s",
	    r.content_type);
	parse(s, r.body);
	check_histograms(s);
	vx_http_res_free(&r);
}

static double
delta(const struct scrape *a, const struct scrape *b, const char *key)
{
	return val(b, key) - val(a, key);
}

static void
toggle(void)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	in.project = "default";
	in.key = "average_user";
	in.environment = "production";
	in.toggle = true;
	cr_assert_eq(vx_set_flag_enabled(h.admin, &in, &out, &st), 0, "%s", st.message);
	vx_free(out);
}

static void
sdk_key(char *out, size_t cap)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	vx_status st;

	in.project = "default";
	in.environment = "production";
	cr_assert_eq(vx_create_sdk_key(h.admin, &in, &k, &st), 0, "%s", st.message);
	snprintf(out, cap, "%s", k->secret);
	vx_free(k);
}

/* ---- /metrics ---- */

#define HTTP "vexil_http_requests_total"
#define HIST "vexil_http_request_duration_seconds_count"
#define CALLS "vexil_core_calls_total"

Test(metrics, counts_move_by_exactly_the_requests_made)
{
	const char *extra[] = {"--metrics-key", h.key, NULL};
	char auth[200];
	struct scrape a, b;

	vx_gateway_start(&g, &h, NULL, extra, NULL);
	snprintf(auth, sizeof(auth), "Authorization: ApiKey %s", h.key);
	scrape(&a);
	cr_assert_eq(val(&a, "vexil_core_up"), 1);
	for (int i = 0; i < 3; i++) {
		vx_http_res r = get("/health", NULL);
		cr_assert_eq(r.status, 200);
		vx_http_res_free(&r);
	}
	for (int i = 0; i < 2; i++) {
		vx_http_res r = get("/v1/flags", auth);
		cr_assert_eq(r.status, 200, "%s", r.body);
		vx_http_res_free(&r);
	}
	vx_http_res r = get("/no/such/thing", NULL);
	cr_assert_eq(r.status, 404);
	vx_http_res_free(&r);
	r = get("/v1/flags", "Authorization: ApiKey vxk_0000");
	cr_assert_eq(r.status, 401);
	vx_http_res_free(&r);
	for (int i = 0; i < 4; i++)
		toggle();
	scrape(&b);

	cr_assert_eq(
	    delta(&a, &b,
	        HTTP "{dialect=\"flag-service\",route=\"/health\",status=\"200\"}"),
	    3);
	cr_assert_eq(
	    delta(&a, &b, HIST "{dialect=\"flag-service\",route=\"/health\"}"), 3);
	cr_assert_eq(
	    delta(&a, &b,
	        HTTP "{dialect=\"platform-v1\",route=\"/v1/flags\",status=\"200\"}"),
	    2);
	cr_assert_eq(
	    delta(&a, &b,
	        HTTP "{dialect=\"platform-v1\",route=\"/v1/flags\",status=\"401\"}"),
	    1);
	cr_assert_eq(
	    delta(&a, &b, HIST "{dialect=\"platform-v1\",route=\"/v1/flags\"}"), 3);
	cr_assert_eq(
	    delta(&a, &b, HTTP "{dialect=\"flag-service\",route=\"\",status=\"404\"}"),
	    1);
	/* The first scrape is counted once it is answered. */
	cr_assert_eq(
	    val(&a, HTTP "{dialect=\"ops\",route=\"/metrics\",status=\"200\"}"), 0);
	cr_assert_eq(
	    val(&b, HTTP "{dialect=\"ops\",route=\"/metrics\",status=\"200\"}"), 1);
	/* Core calls: each scrape's own GetStats, the two listings. */
	cr_assert_eq(
	    delta(&a, &b, CALLS "{method=\"vexil.v1.OpsService/GetStats\",code=\"OK\"}"),
	    1);
	cr_assert_eq(delta(&a, &b,
	                 CALLS "{method=\"vexil.v1.FlagService/ListFlags\",code=\"OK\"}"),
	    2);
	cr_assert_eq(delta(&a, &b,
	                 "vexil_core_call_duration_seconds_count{method=\"vexil.v1."
	                 "FlagService/ListFlags\"}"),
	    2);
	/* vexild's figures: the four writes, nothing else. */
	cr_assert_eq(delta(&a, &b, "vexil_core_writes_total"), 4);
	cr_assert_eq(delta(&a, &b, "vexil_core_revisions"), 4);
	cr_assert_eq(delta(&a, &b, "vexil_core_change_log_entries"), 4);
	cr_assert_eq(delta(&a, &b, "vexil_core_audit_entries"), 4);
	cr_assert_eq(val(&b, "vexil_core_projects"), 1);
	cr_assert_eq(val(&b, "vexil_core_storage_ok{state=\"ok\"}"), 1);
	/* The edge's counters are served whether or not it answered yet. */
	cr_assert(has(&b, "vexil_edge_evaluations_total"));
	cr_assert(has(&b, "vexil_edge_snapshots"));
	cr_assert_geq(val(&b, "vexil_core_subscribers"), 1); /* the gateway's SUB */
	cr_assert_gt(val(&b, "vexil_core_lmdb_pages_used"), 0);
	cr_assert_geq(val(&b, "vexil_core_lmdb_map_size_bytes"),
	    val(&b, "vexil_core_lmdb_pages_used") *
	        val(&b, "vexil_core_lmdb_page_size_bytes"));
	scrape_free(&a);
	scrape_free(&b);
}

Test(metrics, evaluations_count_by_reason)
{
	static const char *const reasons[] = {"STATIC", "TARGETING_MATCH", "SPLIT",
	    "DISABLED", "DEFAULT", "PREREQUISITE_FAILED", "FLAG_NOT_FOUND", "ERROR",
	    "other"};
	char key[128], auth[200], series[128];
	struct scrape a, b;
	const cJSON *reason;

	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	sdk_key(key, sizeof(key));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	scrape(&a);
	cr_assert_eq(val(&a, "vexil_core_up"), 0, "no --metrics-key: no core figures");
	cr_assert(!has(&a, "vexil_core_writes_total"));
	const char *hdrs[] = {auth, "Content-Type: application/json", NULL};
	vx_http_res r = vx_http(&(vx_http_req){.method = "POST",
	    .url = vx_fmt("%s/ofrep/v1/evaluate/flags/average_user", g.base),
	    .headers = hdrs,
	    .body = "{\"context\":{\"targetingKey\":\"u1\"}}"});
	cr_assert_eq(r.status, 200, "%s", r.body);
	reason = cJSON_GetObjectItemCaseSensitive(r.json, "reason");
	cr_assert(cJSON_IsString(reason), "%s", r.body);
	/* OFREP's bulk call: one evaluation per flag of the project. */
	vx_http_res bulk = vx_http(&(vx_http_req){.method = "POST",
	    .url = vx_fmt("%s/ofrep/v1/evaluate/flags", g.base),
	    .headers = hdrs,
	    .body = "{\"context\":{\"targetingKey\":\"u1\"}}"});
	cr_assert_eq(bulk.status, 200, "%s", bulk.body);
	int nflags =
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(bulk.json, "flags"));
	cr_assert_gt(nflags, 0);
	scrape(&b);
	double total = 0;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(series, sizeof(series), "vexil_evaluations_total{reason=\"%s\"}",
		    reasons[i]);
		cr_assert(has(&b, series), "%s is not listed", series);
		total += delta(&a, &b, series);
	}
	snprintf(series, sizeof(series), "vexil_evaluations_total{reason=\"%s\"}",
	    reason->valuestring);
	cr_assert_geq(delta(&a, &b, series), 1, "%s did not move", series);
	cr_assert_eq(total, 1 + nflags);
	/* Each reason by itself: the bulk's are counted per request, one add
	 * per reason, and must still be exactly what the answers say. */
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		const cJSON *f;
		double want = strcmp(reason->valuestring, reasons[i]) == 0;
		cJSON_ArrayForEach(
		    f, cJSON_GetObjectItemCaseSensitive(bulk.json, "flags"))
		{
			const cJSON *fr = cJSON_GetObjectItemCaseSensitive(f, "reason");
			want += cJSON_IsString(fr) &&
			        strcmp(fr->valuestring, reasons[i]) == 0;
		}
		snprintf(series, sizeof(series), "vexil_evaluations_total{reason=\"%s\"}",
		    reasons[i]);
		cr_assert_eq(delta(&a, &b, series), want, "%s: %s", series, bulk.body);
	}
	cr_assert_eq(delta(&a, &b,
	                 HTTP "{dialect=\"ofrep\",route=\"/ofrep/v1/evaluate/flags/"
	                      "{key}\",status=\"200\"}"),
	    1);
	cr_assert_eq(
	    delta(&a, &b,
	        HTTP
	        "{dialect=\"ofrep\",route=\"/ofrep/v1/evaluate/flags\",status=\"200\"}"),
	    1);
	vx_http_res_free(&r);
	vx_http_res_free(&bulk);
	scrape_free(&a);
	scrape_free(&b);
}

Test(metrics, a_metrics_token_guards_the_scrape_only)
{
	const char *extra[] = {"--metrics-token", "s3cret-Token", NULL};
	vx_http_res r;

	vx_gateway_start(&g, &h, NULL, extra, NULL);
	r = get("/metrics", NULL);
	cr_assert_eq(r.status, 401);
	cr_assert(strstr(r.body, "--metrics-token") != NULL, "%s", r.body);
	vx_http_res_free(&r);
	r = get("/metrics", "Authorization: Bearer s3cret-Toke");
	cr_assert_eq(r.status, 401);
	vx_http_res_free(&r);
	r = get("/metrics", "Authorization: Bearer s3cret-Token");
	cr_assert_eq(r.status, 200);
	cr_assert(
	    strstr(r.body, "vexil_http_requests_total{dialect=\"ops\",route=\"/metrics\","
	                   "status=\"401\"} 2\n") != NULL,
	    "%s", r.body);
	vx_http_res_free(&r);
	r = get("/readyz", NULL);
	cr_assert_eq(r.status, 200);
	vx_http_res_free(&r);
}

/* ---- event streams ---- */

static int
dial_gateway(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	unsigned port = 0;
	int fd;

	cr_assert_eq(sscanf(g.base, "http://127.0.0.1:%u", &port), 1);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads from fd until buf holds `until` (buf gets a NUL). */
static void
read_until(int fd, char *buf, size_t cap, size_t *len, const char *until)
{
	while (strstr(buf, until) == NULL) {
		ssize_t n;
		cr_assert_lt(*len + 1, cap, "no %s in %s", until, buf);
		n = read(fd, buf + *len, cap - 1 - *len);
		cr_assert_gt(n, 0, "the stream ended before %s", until);
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

Test(metrics, event_streams_are_counted_open_and_sent)
{
	char key[128], buf[8192] = "", req[400];
	size_t len = 0;
	struct scrape a, b, c;
	int fd;

	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	sdk_key(key, sizeof(key));
	scrape(&a);
	fd = dial_gateway();
	snprintf(req, sizeof(req),
	    "GET /ofrep/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
	    "%s\r\n\r\n",
	    key);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	read_until(fd, buf, sizeof(buf), &len, "\r\n\r\n");
	cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
	toggle();
	read_until(fd, buf, sizeof(buf), &len, "refetchEvaluation");
	scrape(&b);
	cr_assert_eq(delta(&a, &b, "vexil_sse_streams_open"), 1);
	cr_assert_eq(delta(&a, &b, "vexil_sse_events_sent_total"), 1);
	close(fd);
	/* The gateway notices the close on its own time: wait for it. */
	for (int i = 0; i < 200; i++) {
		scrape(&c);
		if (val(&c, "vexil_sse_streams_open") ==
		    val(&a, "vexil_sse_streams_open"))
			break;
		scrape_free(&c);
		usleep(50000);
	}
	cr_assert_eq(
	    val(&c, "vexil_sse_streams_open"), val(&a, "vexil_sse_streams_open"));
	scrape_free(&a);
	scrape_free(&b);
	scrape_free(&c);
}

/* ---- /readyz ---- */

Test(metrics, readyz_follows_vexild)
{
	vx_http_res r;
	int i;

	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	r = get("/readyz", NULL);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ready\n");
	vx_http_res_free(&r);

	cr_assert_eq(vx_harness_stop(&h), 0);
	r = get("/readyz", NULL);
	cr_assert_eq(r.status, 503, "%ld %s", r.status, r.body);
	cr_assert(strstr(r.body, "not ready") && strstr(r.body, "vexild"), "%s", r.body);
	vx_http_res_free(&r);
	/* /health is the gateway's own liveness: still 200. */
	r = get("/health", NULL);
	cr_assert_eq(r.status, 200);
	vx_http_res_free(&r);

	vx_harness_restart(&h);
	for (i = 0; i < 100; i++) {
		r = get("/readyz", NULL);
		if (r.status == 200)
			break;
		vx_http_res_free(&r);
		usleep(100000);
	}
	cr_assert_eq(r.status, 200, "not ready again after vexild restarted: %s", r.body);
	vx_http_res_free(&r);
}
