/*
 * Vexil gateway — the API's own documentation: /openapi.json, /docs and
 * /redoc.
 *
 * /openapi.json is docs/openapi.json, compiled into the binary by
 * embed.cmake (openapi_json.c in the build tree), so the document served is
 * always the one the build was made from. /docs (Swagger UI) and /redoc
 * (ReDoc) are two small pages of our own that load their script and
 * stylesheet from this gateway (/docs/<asset>) and read /openapi.json:
 * nothing comes from anywhere else, so they work offline.
 *
 * The assets are the npm packages swagger-ui-dist and redoc, which
 * ./tools/dev installs into web/node_modules; the gateway finds them under
 * --assets DIR (vx_gw_docs_set_assets()). Only the files in the allowlist
 * below are served, each under a fixed name mapped to a fixed relative path,
 * so no request can name any other file. Missing assets make /docs, /redoc
 * and the asset paths answer 503 with a message that says how to install
 * them; /openapi.json needs nothing on disk.
 *
 * /ui/ is the admin UI (web/ui: our own HTML, script and CSS, no framework
 * and no build step), compiled into the binary like /openapi.json
 * (embed.cmake, ui_assets.c in the build tree): /ui/ is its index.html and
 * /ui/<file> any other file of the directory, nothing else. Every /ui
 * answer carries a strict Content-Security-Policy header (scripts,
 * styles and requests from this gateway only, no inline script, no eval),
 * and the UI calls only the documented APIs (docs/ui.md).
 *
 * Errors are text/plain: these paths are read by browsers and people.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/dialects.h"

/* Written by embed.cmake from docs/openapi.json. */
extern const unsigned char vx_gw_openapi_json[];
extern const size_t vx_gw_openapi_json_len;
/* Written by embed.cmake from web/ui. */
extern const vx_gw_embedded vx_gw_ui_files[];

#ifndef VX_ASSETS_DIR
#define VX_ASSETS_DIR "web/node_modules"
#endif

/* Larger than any asset we serve (swagger-ui-bundle.js is ~1.5 MB). */
#define ASSET_MAX (16u << 20)
/* Pages and the document change with the build; assets with npm. */
#define CACHE_PAGE "no-cache"
#define CACHE_ASSET "public, max-age=3600"

static const char *assets_dir = VX_ASSETS_DIR;

void
vx_gw_docs_set_assets(const char *dir)
{
	assets_dir = dir;
}

const char *
vx_gw_docs_assets(void)
{
	return assets_dir;
}

struct asset {
	const char *name; /* as requested: /docs/<name> */
	const char *file; /* under the assets dir */
	const char *type;
};

static const struct asset assets[] = {
    {"swagger-ui.css", "swagger-ui-dist/swagger-ui.css", "text/css; charset=utf-8"},
    {"swagger-ui-bundle.js", "swagger-ui-dist/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8"},
    {"favicon-32x32.png", "swagger-ui-dist/favicon-32x32.png", "image/png"},
    {"redoc.standalone.js", "redoc/bundles/redoc.standalone.js",
        "text/javascript; charset=utf-8"},
};

#define N_ASSETS (sizeof(assets) / sizeof(assets[0]))

/*
 * The pages may load nothing but this gateway's own files: ReDoc's sidebar
 * fetches its logo from cdn.redoc.ly whatever the options say, and the
 * policy stops that (and anything like it) in the browser. Inline scripts
 * and styles are the pages' own and the libraries' (styled-components);
 * ReDoc runs its search index in a blob: worker.
 */
#define CSP                                                                              \
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; "    \
	"script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "          \
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "              \
	"worker-src 'self' blob:\">\n"

static const char swagger_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" CSP
    "<title>Vexil API - Swagger UI</title>\n"
    "<link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\">\n"
    "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
    "</head>\n"
    "<body>\n"
    "<div id=\"swagger-ui\"></div>\n"
    "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
    "<script>\n"
    "window.ui = SwaggerUIBundle({\n"
    "  url: \"/openapi.json\",\n"
    "  dom_id: \"#swagger-ui\",\n"
    "  deepLinking: true,\n"
    "  validatorUrl: null,\n" /* no badge fetched from swagger.io */
    "  presets: [SwaggerUIBundle.presets.apis],\n"
    "  layout: \"BaseLayout\"\n"
    "});\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

static const char redoc_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" CSP
    "<title>Vexil API - ReDoc</title>\n"
    "<link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\">\n"
    "<style>body { margin: 0; padding: 0; }</style>\n"
    "</head>\n"
    "<body>\n"
    "<redoc spec-url=\"/openapi.json\"></redoc>\n"
    "<script src=\"/docs/redoc.standalone.js\"></script>\n"
    "</body>\n"
    "</html>\n";

static void
docs_error(vx_gw_req *r, int status, const char *field, const char *message)
{
	char buf[600];
	int n;

	(void)field;
	/* The message may quote the path asked for: never let it be sniffed
	 * as HTML. */
	(void)vx_gw_set_header(r, "X-Content-Type-Options", "nosniff");
	n = snprintf(buf, sizeof(buf), "%s\n", message);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	vx_gw_reply(r, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

static void
missing(vx_gw_req *r, const struct asset *a)
{
	vx_gw_fail(r, 503, NULL,
	    "API documentation assets are not installed (%s/%s is missing): run "
	    "./tools/dev to install them (npm ci in web/), or give vexil-gateway "
	    "--assets DIR naming a node_modules with swagger-ui-dist and redoc",
	    assets_dir, a->file);
}

static bool
asset_present(const struct asset *a)
{
	char path[4096];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/%s", assets_dir, a->file);

	return n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

static const struct asset *
asset_named(const char *name)
{
	for (size_t i = 0; i < N_ASSETS; i++)
		if (strcmp(assets[i].name, name) == 0)
			return &assets[i];
	return NULL;
}

/* Reads the whole file into a heap buffer. Returns 0, or an errno. */
static int
read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf = NULL;
	int err = 0;

	if (f == NULL)
		return errno;
	if (fstat(fileno(f), &st) != 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > ASSET_MAX) {
		err = EFBIG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		err = ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		err = EIO;
		goto out;
	}
	*out = buf;
	*len = (size_t)st.st_size;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return err;
}

/* The admin UI may run nothing but its own files and talk to nothing but
 * this gateway (no inline script or style, no eval: none is allowed), and
 * is never framed. index.html adds a <meta> policy for what the header's
 * size (VX_GW_HEADER_VALUE_MAX) leaves out: base-uri, form-action, object-src. */
#define UI_CSP "default-src 'self'; frame-ancestors 'none'"
_Static_assert(sizeof(UI_CSP) <= VX_GW_HEADER_VALUE_MAX, "UI_CSP fits a header value");

static const char *
ui_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static void
ui_file(vx_gw_req *r, const char *name)
{
	const vx_gw_embedded *f = vx_gw_ui_files;

	while (f->name != NULL && strcmp(f->name, name) != 0)
		f++;
	if (f->name == NULL) {
		vx_gw_fail(
		    r, 404, "asset", "No such file of the admin UI: /ui/%.100s", name);
		return;
	}
	(void)vx_gw_set_header(r, "Content-Security-Policy", UI_CSP);
	(void)vx_gw_set_header(r, "X-Content-Type-Options", "nosniff");
	(void)vx_gw_set_header(r, "Referrer-Policy", "no-referrer");
	/* The files change with the build. */
	(void)vx_gw_set_header(r, "Cache-Control", CACHE_PAGE);
	vx_gw_reply(r, 200, ui_type(f->name), f->data, f->len);
}

static void
ui_index(vx_gw_req *r)
{
	ui_file(r, "index.html");
}

static void
ui_asset(vx_gw_req *r)
{
	const char *name = vx_gw_param(r, "asset");

	ui_file(r, name ? name : "");
}

static void
openapi(vx_gw_req *r)
{
	(void)vx_gw_set_header(r, "Cache-Control", CACHE_PAGE);
	vx_gw_reply(
	    r, 200, "application/json", vx_gw_openapi_json, vx_gw_openapi_json_len);
}

/* A page is served only when the asset it loads is there, so a browser
 * gets the 503 that explains rather than a blank page. */
static void
page(vx_gw_req *r, const char *html, size_t len, const char *needs)
{
	const struct asset *a = asset_named(needs);

	if (!asset_present(a)) {
		missing(r, a);
		return;
	}
	(void)vx_gw_set_header(r, "Cache-Control", CACHE_PAGE);
	vx_gw_reply(r, 200, "text/html; charset=utf-8", html, len);
}

static void
swagger(vx_gw_req *r)
{
	page(r, swagger_page, sizeof(swagger_page) - 1, "swagger-ui-bundle.js");
}

static void
redoc(vx_gw_req *r)
{
	page(r, redoc_page, sizeof(redoc_page) - 1, "redoc.standalone.js");
}

static void
asset(vx_gw_req *r)
{
	const char *name = vx_gw_param(r, "asset");
	const struct asset *a = name ? asset_named(name) : NULL;
	char path[4096];
	char *data = NULL;
	size_t len = 0;
	int n, err;

	if (a == NULL) {
		vx_gw_fail(r, 404, "asset", "No such documentation asset: /docs/%.100s",
		    name ? name : "");
		return;
	}
	n = snprintf(path, sizeof(path), "%s/%s", assets_dir, a->file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		vx_gw_fail(r, 500, NULL, "the --assets path is too long");
		return;
	}
	if ((err = read_file(path, &data, &len)) != 0) {
		if (err == ENOENT || err == ENOTDIR) {
			missing(r, a);
			return;
		}
		vx_log(VX_LOG_ERROR, "docs: cannot read %s: %s", path, strerror(err));
		vx_gw_fail(
		    r, 500, NULL, "cannot read /docs/%s: %s", a->name, strerror(err));
		return;
	}
	(void)vx_gw_set_header(r, "Cache-Control", CACHE_ASSET);
	vx_gw_reply(r, 200, a->type, data, len);
	free(data);
}

/* Every route here is in docs/openapi.json under the tag "meta", the
 * asset route as /docs/{asset} with the allowlist as its enum. */
static const vx_gw_route routes[] = {
    {"GET", "/openapi.json", openapi},
    {"GET", "/docs", swagger},
    {"GET", "/docs/{asset}", asset},
    {"GET", "/redoc", redoc},
    {"GET", "/ui", ui_index},
    {"GET", "/ui/{asset}", ui_asset},
};

static const char *const prefixes[] = {"/openapi.json", "/docs", "/redoc", "/ui", NULL};

const vx_gw_dialect vx_gw_docs_dialect = {
    .name = "docs",
    .prefixes = prefixes,
    .error = docs_error,
    .routes = routes,
    .n_routes = sizeof(routes) / sizeof(routes[0]),
};
