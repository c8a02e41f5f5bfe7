/*
 * Vexil gateway tests: the OpenAPI document (docs/openapi.json), and
 * /openapi.json, /docs and /redoc over real HTTP.
 *
 * coverage: in process, every route of every dialect the router serves
 * (vx_gw_dialects) is an operation of the document, and every operation of
 * the document is a route: paths compare segment by segment, a "{name}"
 * segment matching any other "{name}" at the same position.
 *
 * docs_http: a vexild (the harness) and the vexil-gateway of this build;
 * the document served is the committed file byte for byte, the pages and
 * assets are served with their types and caching, and nothing outside the
 * allowlist is.
 *
 * docs_browser: the same, then web/tests/docs-render.mjs loads /docs and
 * /redoc in headless Chromium and counts the operations each renders.
 *
 * ui_http: the admin UI at /ui/ is every file of web/ui byte for byte,
 * with its type and the strict Content-Security-Policy, and nothing else.
 *
 * ui_browser: web/tests/ui.mjs drives the UI in headless Chromium, as a
 * person would, from sign-up to the audit log (the ctest entry `ui`).
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "gateway/dialects.h"
#include "harness.h"

extern const unsigned char vx_gw_openapi_json[];
extern const size_t vx_gw_openapi_json_len;

static const char *const methods[] = {
    "get", "put", "post", "delete", "patch", "head", "options", "trace"};

/* ---- helpers ---- */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "short read of %s", path);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static cJSON *
load_doc(void)
{
	char *text = slurp(VX_OPENAPI_PATH, NULL);
	cJSON *doc = cJSON_Parse(text);

	cr_assert_not_null(doc, "%s is not JSON", VX_OPENAPI_PATH);
	free(text);
	return doc;
}

/* "POST /api/projects/{}/flags": the method upper-cased, every "{name}"
 * segment written "{}", and no trailing slash. */
static void
route_key(char *out, size_t cap, const char *method, const char *pattern)
{
	size_t n = 0;

	for (const char *m = method; *m && n + 1 < cap; m++)
		out[n++] = (char)(*m >= 'a' && *m <= 'z' ? *m - 32 : *m);
	if (n + 1 < cap)
		out[n++] = ' ';
	for (const char *p = pattern; *p && n + 3 < cap;) {
		if (*p == '{') {
			out[n++] = '{';
			out[n++] = '}';
			while (*p && *p != '}')
				p++;
			if (*p)
				p++;
		} else {
			out[n++] = *p++;
		}
	}
	if (n > 1 && out[n - 1] == '/' && out[n - 2] != ' ')
		n--;
	out[n] = '\0';
}

struct keys {
	char k[256][160];
	size_t n;
};

static bool
keys_has(const struct keys *ks, const char *k)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->k[i], k) == 0)
			return true;
	return false;
}

static void
keys_add(struct keys *ks, const char *method, const char *pattern)
{
	cr_assert_lt(ks->n, 256, "more routes than the test expects");
	route_key(ks->k[ks->n], sizeof(ks->k[0]), method, pattern);
	ks->n++;
}

static void
served_routes(struct keys *ks)
{
	ks->n = 0;
	for (size_t d = 0; d < vx_gw_n_dialects; d++)
		for (size_t i = 0; i < vx_gw_dialects[d]->n_routes; i++)
			keys_add(ks, vx_gw_dialects[d]->routes[i].method,
			    vx_gw_dialects[d]->routes[i].pattern);
}

static void
documented_routes(struct keys *ks, cJSON *doc)
{
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths"), *p;

	ks->n = 0;
	cr_assert(cJSON_IsObject(paths), "the document has no paths");
	cJSON_ArrayForEach(p, paths)
	{
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
			if (cJSON_GetObjectItemCaseSensitive(p, methods[m]))
				keys_add(ks, methods[m], p->string);
	}
}

/* Appends "\n  key" to a report. */
static void
report(char *buf, size_t cap, const char *key)
{
	size_t n = strlen(buf);

	snprintf(buf + n, cap - n, "\n  %s", key);
}

/* ---- coverage: the router and the document, both ways ---- */

TestSuite(coverage, .timeout = 30);

Test(coverage, every_route_the_router_serves_is_in_the_document)
{
	static struct keys served, documented;
	char missing[8192] = "";
	cJSON *doc = load_doc();
	size_t n = 0;

	served_routes(&served);
	documented_routes(&documented, doc);
	cr_assert_gt(served.n, 0);
	for (size_t i = 0; i < served.n; i++)
		if (!keys_has(&documented, served.k[i])) {
			report(missing, sizeof(missing), served.k[i]);
			n++;
		}
	cJSON_Delete(doc);
	cr_expect_eq(
	    n, 0, "%zu routes served but not in docs/openapi.json:%s", n, missing);
}

Test(coverage, every_operation_in_the_document_is_served)
{
	static struct keys served, documented;
	char missing[8192] = "";
	cJSON *doc = load_doc();
	size_t n = 0;

	served_routes(&served);
	documented_routes(&documented, doc);
	cr_assert_gt(documented.n, 0);
	for (size_t i = 0; i < documented.n; i++)
		if (!keys_has(&served, documented.k[i])) {
			report(missing, sizeof(missing), documented.k[i]);
			n++;
		}
	cJSON_Delete(doc);
	cr_expect_eq(n, 0, "%zu operations in docs/openapi.json that no route serves:%s",
	    n, missing);
}

Test(coverage, a_route_key_compares_parameters_by_position)
{
	char a[160], b[160], c[160];

	route_key(a, sizeof(a), "get", "/api/projects/{project_id}/flags/{flag_id}");
	route_key(b, sizeof(b), "GET", "/api/projects/{id}/flags/{key}/");
	route_key(c, sizeof(c), "GET", "/api/projects/{id}/flags");
	cr_assert_str_eq(a, "GET /api/projects/{}/flags/{}");
	cr_assert_str_eq(a, b);
	cr_assert_str_neq(a, c);
}

/* Each operation is complete: an operationId (unique), a summary, a
 * defined tag, responses and a security requirement. */
Test(coverage, every_operation_is_described)
{
	cJSON *doc = load_doc();
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths"), *p;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(doc, "tags"), *t;
	static char ids[256][64];
	size_t n = 0;

	cr_assert_str_eq(
	    cJSON_GetObjectItemCaseSensitive(doc, "openapi")->valuestring, "3.1.0");
	cJSON_ArrayForEach(p, paths)
	{
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(p, methods[m]);
			const cJSON *id, *tag;
			bool known = false;
			if (o == NULL)
				continue;
			id = cJSON_GetObjectItemCaseSensitive(o, "operationId");
			cr_assert(cJSON_IsString(id), "%s %s has no operationId",
			    methods[m], p->string);
			for (size_t i = 0; i < n; i++)
				cr_assert_str_neq(ids[i], id->valuestring,
				    "operationId %s twice", id->valuestring);
			cr_assert_lt(n, 256);
			snprintf(ids[n++], sizeof(ids[0]), "%s", id->valuestring);
			cr_assert(cJSON_IsString(
			              cJSON_GetObjectItemCaseSensitive(o, "summary")),
			    "%s has no summary", id->valuestring);
			cr_assert(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			              o, "responses")) > 0,
			    "%s has no responses", id->valuestring);
			cr_assert(cJSON_IsArray(
			              cJSON_GetObjectItemCaseSensitive(o, "security")),
			    "%s says nothing about credentials", id->valuestring);
			tag = cJSON_GetArrayItem(
			    cJSON_GetObjectItemCaseSensitive(o, "tags"), 0);
			cr_assert(cJSON_IsString(tag), "%s has no tag", id->valuestring);
			cJSON_ArrayForEach(t, tags)
			{
				if (strcmp(cJSON_GetObjectItemCaseSensitive(t, "name")
				               ->valuestring,
				        tag->valuestring) == 0)
					known = true;
			}
			cr_assert(known, "%s has the undeclared tag %s", id->valuestring,
			    tag->valuestring);
		}
	}
	cr_assert_gt(n, 0);
	cJSON_Delete(doc);
}

Test(coverage, the_gateway_embeds_the_committed_document)
{
	size_t len;
	char *text = slurp(VX_OPENAPI_PATH, &len);

	cr_assert_eq(vx_gw_openapi_json_len, len,
	    "the build embeds %zu bytes, the file has %zu", vx_gw_openapi_json_len, len);
	cr_assert(memcmp(vx_gw_openapi_json, text, len) == 0);
	free(text);
}

/* ---- over HTTP ---- */

typedef struct res {
	long status;
	char *body;
	size_t len;
	char type[128];
	char cache[128];
	char csp[256];
} res;

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	res *r = ud;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + r->len, p, size * n);
	r->len += size * n;
	nb[r->len] = '\0';
	r->body = nb;
	return size * n;
}

static void
header_value(char *out, size_t cap, const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name), n;

	if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	line += nl + 1;
	len -= nl + 1;
	while (len > 0 && *line == ' ')
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	n = len < cap - 1 ? len : cap - 1;
	memcpy(out, line, n);
	out[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	res *r = ud;

	header_value(r->type, sizeof(r->type), p, size * n, "Content-Type");
	header_value(r->cache, sizeof(r->cache), p, size * n, "Cache-Control");
	header_value(r->csp, sizeof(r->csp), p, size * n, "Content-Security-Policy");
	return size * n;
}

/* GET base + path exactly as written: curl leaves "../" alone. */
static res
get(const char *base, const char *path)
{
	res r = {0};
	char url[1024];
	CURL *c = curl_easy_init();

	cr_assert_not_null(c);
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_cleanup(c);
	if (r.body == NULL)
		r.body = calloc(1, 1);
	return r;
}

static void
res_free(res *r)
{
	free(r->body);
	r->body = NULL;
}

static vx_harness h;
static vx_gateway g;

static void
start(const char *const *extra)
{
	vx_harness_start(&h, NULL);
	vx_gateway_start(&g, &h, NULL, extra, NULL);
}

static void
http_setup(void)
{
	start(NULL);
}

static void
teardown(void)
{
	vx_gateway_teardown(&g, &h);
}

/* The gateway still answers after whatever the test sent. */
static void
expect_serving(void)
{
	res r = get(g.base, "/health");

	cr_expect_eq(r.status, 200, "the gateway stopped serving");
	res_free(&r);
}

TestSuite(docs_http, .init = http_setup, .fini = teardown, .timeout = 120);

Test(docs_http, openapi_json_is_the_committed_file_byte_for_byte)
{
	size_t len;
	char *text = slurp(VX_OPENAPI_PATH, &len);
	res r = get(g.base, "/openapi.json");

	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.type, "application/json");
	cr_assert_eq(r.len, len, "served %zu bytes, the file has %zu", r.len, len);
	cr_assert(
	    memcmp(r.body, text, len) == 0, "the document served differs from the file");
	cr_assert_str_eq(r.cache, "no-cache");
	free(text);
	res_free(&r);
}

Test(docs_http, docs_and_redoc_are_html_pages_that_load_local_assets)
{
	res d = get(g.base, "/docs"), rd = get(g.base, "/redoc");

	cr_assert_eq(d.status, 200, "%s", d.body);
	cr_assert_str_eq(d.type, "text/html; charset=utf-8");
	cr_assert(strstr(d.body, "src=\"/docs/swagger-ui-bundle.js\""), "%s", d.body);
	cr_assert(strstr(d.body, "\"/openapi.json\""), "%s", d.body);
	cr_assert_eq(rd.status, 200, "%s", rd.body);
	cr_assert_str_eq(rd.type, "text/html; charset=utf-8");
	cr_assert(strstr(rd.body, "src=\"/docs/redoc.standalone.js\""), "%s", rd.body);
	cr_assert(strstr(rd.body, "spec-url=\"/openapi.json\""), "%s", rd.body);
	/* Nothing from anywhere else. */
	cr_assert_null(strstr(d.body, "://"), "%s", d.body);
	cr_assert_null(strstr(rd.body, "://"), "%s", rd.body);
	res_free(&d);
	res_free(&rd);
}

Test(docs_http, every_documented_asset_is_served_as_the_installed_file)
{
	static const struct {
		const char *name, *file, *type;
	} assets[] = {
	    {"swagger-ui.css", "swagger-ui-dist/swagger-ui.css",
	        "text/css; charset=utf-8"},
	    {"swagger-ui-bundle.js", "swagger-ui-dist/swagger-ui-bundle.js",
	        "text/javascript; charset=utf-8"},
	    {"favicon-32x32.png", "swagger-ui-dist/favicon-32x32.png", "image/png"},
	    {"redoc.standalone.js", "redoc/bundles/redoc.standalone.js",
	        "text/javascript; charset=utf-8"},
	};
	cJSON *doc = load_doc();
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(
	        cJSON_GetArrayItem(
	            cJSON_GetObjectItemCaseSensitive(
	                cJSON_GetObjectItemCaseSensitive(
	                    cJSON_GetObjectItemCaseSensitive(
	                        cJSON_GetObjectItemCaseSensitive(doc, "paths"),
	                        "/docs/{asset}"),
	                    "get"),
	                "parameters"),
	            0),
	        "schema"),
	    "enum");

	/* The document's allowlist is the one served. */
	cr_assert_eq(cJSON_GetArraySize(e), sizeof(assets) / sizeof(assets[0]));
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		char path[512];
		size_t len;
		char *want;
		res r;

		cr_assert_str_eq(
		    cJSON_GetArrayItem(e, (int)i)->valuestring, assets[i].name);
		snprintf(path, sizeof(path), "%s/%s", VX_WEB_DIR "/node_modules",
		    assets[i].file);
		want = slurp(path, &len);
		snprintf(path, sizeof(path), "/docs/%s", assets[i].name);
		r = get(g.base, path);
		cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
		cr_assert_str_eq(r.type, assets[i].type, "%s", path);
		cr_assert_str_eq(r.cache, "public, max-age=3600", "%s", path);
		cr_assert_eq(
		    r.len, len, "%s: %zu bytes, the file has %zu", path, r.len, len);
		cr_assert(memcmp(r.body, want, len) == 0, "%s differs from %s", path,
		    assets[i].file);
		free(want);
		res_free(&r);
	}
	cJSON_Delete(doc);
}

Test(docs_http, an_unknown_asset_is_404_naming_it)
{
	res r = get(g.base, "/docs/swagger-ui.js");

	cr_assert_eq(r.status, 404);
	cr_assert(strstr(r.body, "/docs/swagger-ui.js"), "%s", r.body);
	res_free(&r);
	/* In the package, but not in the allowlist. */
	r = get(g.base, "/docs/package.json");
	cr_assert_eq(r.status, 404, "%s", r.body);
	res_free(&r);
	expect_serving();
}

Test(docs_http, no_path_reaches_outside_the_allowlist)
{
	static const char *const tries[] = {
	    "/docs/../../../../etc/passwd",
	    "/docs/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
	    "/docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
	    "/docs/..%2Fpackage.json",
	    "/docs/..%2Fswagger-ui-dist%2Fswagger-ui.css",
	    "/docs/swagger-ui-dist%2Fswagger-ui.css",
	    "/docs/%2Fetc%2Fpasswd",
	    "/docs/swagger-ui.css%00.png",
	    "/docs/swagger-ui.css/..",
	    "/redoc/../docs/../../etc/passwd",
	};

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		res r = get(g.base, tries[i]);
		cr_expect(
		    r.status == 404 || r.status == 400, "%s: %ld", tries[i], r.status);
		cr_expect_null(
		    strstr(r.body, "root:"), "%s served /etc/passwd", tries[i]);
		/* An error names what was asked for; any file served is larger. */
		cr_expect_lt(r.len, 1024, "%s served %zu bytes", tries[i], r.len);
		res_free(&r);
	}
	expect_serving();
}

/* ---- without the assets ---- */

static void
no_assets_setup(void)
{
	static const char *const extra[] = {
	    "--assets", "/nonexistent/vexil-assets", NULL};

	start(extra);
}

TestSuite(docs_missing, .init = no_assets_setup, .fini = teardown, .timeout = 120);

Test(docs_missing, pages_answer_503_saying_how_to_install_the_assets)
{
	static const char *const paths[] = {
	    "/docs", "/redoc", "/docs/swagger-ui-bundle.js", "/docs/redoc.standalone.js"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		res r = get(g.base, paths[i]);
		cr_expect_eq(r.status, 503, "%s: %ld", paths[i], r.status);
		cr_expect(strstr(r.body, "./tools/dev"), "%s: %s", paths[i], r.body);
		cr_expect(strstr(r.body, "/nonexistent/vexil-assets"), "%s: %s", paths[i],
		    r.body);
		res_free(&r);
	}
	expect_serving();
}

Test(docs_missing, openapi_json_needs_no_assets)
{
	res r = get(g.base, "/openapi.json");

	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, vx_gw_openapi_json_len);
	res_free(&r);
}

/* ---- in a browser ---- */

static int
operations(void)
{
	cJSON *doc = load_doc();
	const cJSON *p;
	int n = 0;

	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(doc, "paths"))
	{
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
			n += cJSON_GetObjectItemCaseSensitive(p, methods[m]) != NULL;
	}
	cJSON_Delete(doc);
	return n;
}

TestSuite(docs_browser, .init = http_setup, .fini = teardown, .timeout = 300);

Test(docs_browser, swagger_ui_and_redoc_render_every_operation)
{
	char log[300], want[64];
	const char *argv[] = {"/usr/bin/env", "node", VX_WEB_DIR "/tests/docs-render.mjs",
	    g.base, VX_SHOT_DIR, NULL};
	int status;
	char *out;
	pid_t pid;

	cr_assert_eq(access("/usr/bin/chromium", X_OK), 0,
	    "/usr/bin/chromium is missing: ./tools/dev installs it");
	snprintf(log, sizeof(log), "%s.browser.log", h.dir);
	pid = vx_spawn(argv, log);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	out = slurp(log, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "docs-render.mjs failed:\n%s", out);
	snprintf(want, sizeof(want), "swagger-ui operations=%d", operations());
	cr_assert(strstr(out, want), "wanted \"%s\":\n%s", want, out);
	snprintf(want, sizeof(want), "redoc operations=%d", operations());
	cr_assert(strstr(out, want), "wanted \"%s\":\n%s", want, out);
	free(out);
	unlink(log);
}

/* ---- the admin UI ---- */

TestSuite(ui_http, .init = http_setup, .fini = teardown, .timeout = 120);

static const char *
ui_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return "application/octet-stream";
}

/* The policy forbids inline script and eval, and loads only from here. */
static void
expect_strict_csp(const res *r, const char *path)
{
	cr_expect(strstr(r->csp, "default-src 'self'"), "%s: CSP %s", path, r->csp);
	cr_expect(strstr(r->csp, "frame-ancestors 'none'"), "%s: CSP %s", path, r->csp);
	cr_expect_null(strstr(r->csp, "unsafe"), "%s: CSP %s", path, r->csp);
	cr_expect_null(strstr(r->csp, "*"), "%s: CSP %s", path, r->csp);
}

Test(ui_http, the_index_is_served_at_ui_with_a_strict_policy_and_no_inline_script)
{
	static const char *const paths[] = {"/ui/", "/ui", "/ui/index.html"};
	static const char ours[] = "<script type=\"module\" src=\"/ui/";

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		res r = get(g.base, paths[i]);
		const char *s;

		cr_assert_eq(r.status, 200, "%s: %s", paths[i], r.body);
		cr_expect_str_eq(r.type, "text/html; charset=utf-8", "%s", paths[i]);
		cr_expect_str_eq(r.cache, "no-cache", "%s", paths[i]);
		expect_strict_csp(&r, paths[i]);
		/* Every script is a file of ours, none inline; nothing names
		 * another host. */
		for (s = strstr(r.body, "<script"); s; s = strstr(s + 1, "<script"))
			cr_expect(strncmp(s, ours, sizeof(ours) - 1) == 0 &&
			              strstr(s, "></script>") == strchr(s, '>'),
			    "%s: an inline or foreign script: %.80s", paths[i], s);
		cr_expect_null(strstr(r.body, "://"), "%s", r.body);
		cr_expect_null(strstr(r.body, " style="), "%s", r.body);
		res_free(&r);
	}
}

Test(ui_http, every_file_of_web_ui_is_served_as_it_is_with_its_type)
{
	DIR *d = opendir(VX_WEB_DIR "/ui");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "cannot open %s", VX_WEB_DIR "/ui");
	while ((e = readdir(d)) != NULL) {
		char path[512];
		struct stat st;
		size_t len;
		char *want;
		res r;

		snprintf(path, sizeof(path), "%s/%s", VX_WEB_DIR "/ui", e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		want = slurp(path, &len);
		snprintf(path, sizeof(path), "/ui/%s", e->d_name);
		r = get(g.base, path);
		cr_expect_eq(r.status, 200, "%s: %s", path, r.body);
		cr_expect_str_eq(r.type, ui_type(e->d_name), "%s", path);
		expect_strict_csp(&r, path);
		cr_expect(r.len == len && memcmp(r.body, want, len) == 0,
		    "%s differs from web/ui/%s (%zu bytes, the file has %zu): rebuild",
		    path, e->d_name, r.len, len);
		free(want);
		res_free(&r);
		n++;
	}
	closedir(d);
	cr_assert_gt(n, 3, "web/ui holds %d files", n);
}

Test(ui_http, nothing_outside_web_ui_is_served_under_ui)
{
	static const char *const tries[] = {
	    "/ui/nope.js",
	    "/ui/../README.md",
	    "/ui/..%2FREADME.md",
	    "/ui/%2e%2e/%2e%2e/etc/passwd",
	    "/ui/app.js/..",
	    "/ui/app.js%00.html",
	    "/ui/tests%2Fui.mjs",
	};

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		res r = get(g.base, tries[i]);
		cr_expect(
		    r.status == 404 || r.status == 400, "%s: %ld", tries[i], r.status);
		cr_expect_lt(r.len, 1024, "%s served %zu bytes", tries[i], r.len);
		res_free(&r);
	}
	expect_serving();
}

TestSuite(ui_browser, .init = http_setup, .fini = teardown, .timeout = 300);

/* Runs web/tests/<script> against the gateway (screenshots into
 * build/ui-screens) and expects it to exit 0 printing `ok`. */
static void
run_ui_script(const char *script, const char *ok)
{
	char log[300], path[300];
	const char *argv[] = {
	    "/usr/bin/env", "node", path, g.base, VX_SHOT_DIR "/ui-screens", NULL};
	int status;
	char *out;
	pid_t pid;

	cr_assert_eq(access("/usr/bin/chromium", X_OK), 0,
	    "/usr/bin/chromium is missing: ./tools/dev installs it");
	(void)mkdir(VX_SHOT_DIR "/ui-screens", 0755);
	snprintf(path, sizeof(path), "%s/tests/%s", VX_WEB_DIR, script);
	snprintf(log, sizeof(log), "%s.%s.log", h.dir, script);
	pid = vx_spawn(argv, log);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	out = slurp(log, NULL);
	cr_assert(
	    WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed:\n%s", script, out);
	cr_assert(strstr(out, ok), "%s", out);
	free(out);
	unlink(log);
}

Test(ui_browser, a_new_user_manages_a_flag_end_to_end_in_chromium)
{
	run_ui_script("ui.mjs", "ui ok");
}

/* web/tests/ui-teams.mjs: members, a protected environment and the
 * change-request queue, as three people in three browser contexts. */
Test(ui_browser, members_review_a_change_to_production_in_chromium)
{
	run_ui_script("ui-teams.mjs", "ui-teams ok");
}
