/*
 * Vexil gateway tests — the gateway process and the HTTP client: see
 * client.h.
 */
#include "client.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	vx_http_res *res = arg;
	size_t len = size * n;
	char *b = realloc(res->body, res->len + len + 1);

	if (b == NULL)
		return 0;
	memcpy(b + res->len, p, len);
	res->len += len;
	b[res->len] = '\0';
	res->body = b;
	return len;
}

static void
header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), v;

	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	for (v = nl + 1; v < len && line[v] == ' '; v++)
		;
	while (len > v && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	snprintf(out, cap, "%.*s", (int)(len - v), line + v);
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	vx_http_res *res = arg;
	size_t len = size * n;

	header_value(p, len, "X-Request-Id", res->request_id, sizeof(res->request_id));
	header_value(p, len, "Content-Type", res->content_type, sizeof(res->content_type));
	header_value(p, len, "Allow", res->allow, sizeof(res->allow));
	header_value(p, len, "ETag", res->etag, sizeof(res->etag));
	header_value(p, len, "Retry-After", res->retry_after, sizeof(res->retry_after));
	header_value(p, len, "Vexil-Environment", res->vexil_env, sizeof(res->vexil_env));
	header_value(p, len, "Vexil-Rule-Id", res->vexil_rule, sizeof(res->vexil_rule));
	return len;
}

vx_http_res
vx_http(const vx_http_req *req)
{
	vx_http_res res;
	struct curl_slist *hs = NULL;
	CURL *c = curl_easy_init();

	memset(&res, 0, sizeof(res));
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body_len ? req->body_len : strlen(req->body)));
	}
	bool typed = false;
	for (const char *const *h = req->headers; h && *h; h++) {
		hs = curl_slist_append(hs, *h);
		typed = typed || strncasecmp(*h, "Content-Type:", 13) == 0;
	}
	if (req->body && !typed)
		hs = curl_slist_append(hs, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &res);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &res);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (req->cainfo)
		curl_easy_setopt(c, CURLOPT_CAINFO, req->cainfo);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	if (res.body == NULL)
		res.body = calloc(1, 1);
	res.json = cJSON_Parse(res.body);
	return res;
}

void
vx_http_res_free(vx_http_res *res)
{
	cJSON_Delete(res->json);
	free(res->body);
	memset(res, 0, sizeof(*res));
}

void
vx_gateway_start(vx_gateway *g, const vx_harness *h, const char *scheme,
    const char *const *extra, const char *cainfo)
{
	const char *argv[40];
	char listen[160], health[200];
	int n = 0;

	memset(g, 0, sizeof(*g));
	snprintf(g->base, sizeof(g->base), "%s://127.0.0.1:%d", scheme ? scheme : "http",
	    vx_free_port());
	snprintf(listen, sizeof(listen), "%s", g->base);
	snprintf(g->log, sizeof(g->log), "%s.gateway.log", h->dir);
	argv[n++] = VX_GATEWAY_PATH;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--rpc";
	argv[n++] = h->rpc;
	argv[n++] = "--sub";
	argv[n++] = h->pub;
	for (const char *const *e = extra; e && *e && n < 38; e++)
		argv[n++] = *e;
	argv[n] = NULL;
	g->pid = vx_spawn(argv, g->log);
	snprintf(health, sizeof(health), "%s/health", g->base);
	for (int i = 0; i < 500; i++) {
		vx_http_req rq = {.method = "GET", .url = health, .cainfo = cainfo};
		vx_http_res r = vx_http(&rq);
		long st = r.status;
		vx_http_res_free(&r);
		if (st == 200)
			return;
		usleep(20000);
	}
	cr_assert_fail("vexil-gateway did not answer (see %s)", g->log);
}

int
vx_gateway_stop(vx_gateway *g)
{
	int status = 0;

	if (g->pid <= 0)
		return -1;
	kill(g->pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(g->pid, &status, WNOHANG) == g->pid) {
			g->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &status, 0);
	g->pid = 0;
	return -1;
}

void
vx_gateway_teardown(vx_gateway *g, vx_harness *h)
{
	bool started = g->pid > 0;
	int rc = started ? vx_gateway_stop(g) : 0;
	char log[sizeof(g->log)];

	memcpy(log, g->log, sizeof(log));
	vx_harness_fini(h);
	cr_assert_eq(rc, 0, "SIGTERM makes the gateway exit 0, not %d (see %s)", rc, log);
	if (started)
		unlink(log);
}

const char *
vx_fmt(const char *f, ...)
{
	static char bufs[8][4096];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

struct racer {
	const vx_http_req *req;
	vx_http_res *res;
	pthread_barrier_t *go;
};

static void *
race_one(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	*r->res = vx_http(r->req);
	return NULL;
}

void
vx_http_race(const vx_http_req *reqs, size_t n, vx_http_res *out)
{
	pthread_t *th = calloc(n, sizeof(*th));
	struct racer *rs = calloc(n, sizeof(*rs));
	pthread_barrier_t go;

	cr_assert(th && rs && n > 0);
	cr_assert_eq(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
	for (size_t i = 0; i < n; i++) {
		rs[i] = (struct racer){&reqs[i], &out[i], &go};
		cr_assert_eq(pthread_create(&th[i], NULL, race_one, &rs[i]), 0);
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	free(rs);
	free(th);
}

void
vx_expect_writes(const vx_http_res *r, long status, uint64_t before, uint64_t after,
    uint64_t writes, const char *what)
{
	cr_assert_eq(r->status, status, "%s: status %ld, wanted %ld: %s", what, r->status,
	    status, r->body);
	cr_assert_eq(after - before, writes, "%s made %llu writes, not %llu", what,
	    (unsigned long long)(after - before), (unsigned long long)writes);
}
