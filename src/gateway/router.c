/*
 * Vexil gateway — route matching shared by every dialect: see router.h.
 *
 * Patterns are split once at startup; a request's path is split and
 * decoded once per request into the arena. Matching walks, in table
 * order, only the routes whose first segment hashes as the request's
 * (struct bucket): of the ~150 routes, the few that can match, where a
 * walk over all of them was most of an OFREP request's routing.
 */
#include "gateway/router.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 16

struct croute {
	const vx_gw_route *route;
	const vx_gw_dialect *dialect;
	char *copy;                  /* the pattern, split in place */
	size_t nseg;
	const char *seg[MAX_SEGS];   /* a literal, or the parameter name */
	bool param[MAX_SEGS];
	bool nonblocking; /* in its dialect's nonblocking list */
};

struct prefix {
	const char *text;
	size_t len;
	const vx_gw_dialect *dialect;
};

/* Routes by their first segment (FNV-1a, BUCKETS of them; a route whose
 * first segment is a parameter is in every bucket), in table order, so
 * a request is matched against the few that can match, first one wins as
 * in a scan of the whole table. Bucket BUCKETS holds the routes with no
 * segment ("/"). */
#define BUCKETS 64

struct bucket {
	size_t *idx; /* into routes */
	size_t n;
};

struct vx_gw_router {
	struct croute *routes;
	size_t n;
	struct bucket buckets[BUCKETS + 1];
	struct prefix *prefixes;
	size_t np;
	const vx_gw_dialect *fallback;
};

static int
compile(struct croute *c, const vx_gw_route *rt, const vx_gw_dialect *d)
{
	char *p, *slash;
	size_t nparam = 0;

	c->route = rt;
	c->dialect = d;
	for (const vx_gw_handler *h = d->nonblocking; h && *h; h++)
		c->nonblocking = c->nonblocking || *h == rt->fn;
	if (rt->pattern[0] != '/' || (c->copy = strdup(rt->pattern + 1)) == NULL)
		return rt->pattern[0] != '/' ? VX_EINVAL : VX_ENOMEM;
	for (p = c->copy; *p; p = slash + 1) {
		size_t len;
		if (c->nseg == MAX_SEGS)
			return VX_EINVAL;
		if ((slash = strchr(p, '/')) != NULL)
			*slash = '\0';
		len = strlen(p);
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			if (++nparam > VX_GW_MAX_PARAMS)
				return VX_EINVAL;
			p[len - 1] = '\0';
			c->seg[c->nseg] = p + 1;
			c->param[c->nseg] = true;
		} else {
			if (strchr(p, '{') || strchr(p, '}'))
				return VX_EINVAL;
			c->seg[c->nseg] = p;
		}
		c->nseg++;
		if (slash == NULL)
			break;
	}
	return 0;
}

static size_t
seg_bucket(const char *seg)
{
	return vx_fnv32(VX_FNV32_INIT, seg, strlen(seg)) & (BUCKETS - 1);
}

static void
bucket_add(struct bucket *b, size_t i)
{
	b->idx[b->n++] = i;
}

int
vx_gw_router_alloc(vx_gw_router **out, const vx_gw_dialect *const *dialects, size_t n,
    const vx_gw_dialect *fallback)
{
	vx_gw_router *rt;
	size_t nr = 0, np = 0;
	int rc = VX_ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		nr += dialects[i]->n_routes;
		for (const char *const *p = dialects[i]->prefixes; p && *p; p++)
			np++;
	}
	if ((rt = calloc(1, sizeof(*rt))) == NULL ||
	    (rt->routes = calloc(nr ? nr : 1, sizeof(*rt->routes))) == NULL ||
	    (rt->prefixes = calloc(np ? np : 1, sizeof(*rt->prefixes))) == NULL)
		goto fail;
	rt->fallback = fallback;
	for (size_t i = 0; i < n; i++) {
		const vx_gw_dialect *d = dialects[i];
		for (size_t j = 0; j < d->n_routes; j++)
			if ((rc = compile(&rt->routes[rt->n++], &d->routes[j], d)) != 0)
				goto fail;
		for (const char *const *p = d->prefixes; p && *p; p++) {
			rt->prefixes[rt->np].text = *p;
			rt->prefixes[rt->np].len = strlen(*p);
			rt->prefixes[rt->np].dialect = d;
			rt->np++;
		}
	}
	for (size_t b = 0; b <= BUCKETS; b++)
		if ((rt->buckets[b].idx = calloc(rt->n ? rt->n : 1, sizeof(size_t))) ==
		    NULL)
			goto fail;
	for (size_t i = 0; i < rt->n; i++) {
		const struct croute *c = &rt->routes[i];
		if (c->nseg == 0) {
			bucket_add(&rt->buckets[BUCKETS], i);
		} else if (c->param[0]) {
			for (size_t b = 0; b < BUCKETS; b++)
				bucket_add(&rt->buckets[b], i);
		} else {
			bucket_add(&rt->buckets[seg_bucket(c->seg[0])], i);
		}
	}
	*out = rt;
	return 0;
fail:
	vx_gw_router_free(rt);
	return rc;
}

void
vx_gw_router_free(vx_gw_router *rt)
{
	if (rt == NULL)
		return;
	for (size_t i = 0; rt->routes && i < rt->n; i++)
		free(rt->routes[i].copy);
	free(rt->routes);
	for (size_t b = 0; b <= BUCKETS; b++)
		free(rt->buckets[b].idx);
	free(rt->prefixes);
	free(rt);
}

const vx_gw_dialect *
vx_gw_router_owner(const vx_gw_router *rt, const char *path)
{
	const struct prefix *best = NULL;

	for (size_t i = 0; i < rt->np; i++) {
		const struct prefix *p = &rt->prefixes[i];
		/* Every prefix starts with '/': the byte after it tells most
		 * of them apart before a strncmp(). */
		if (p->len > 1 && path[0] != '\0' && path[1] != p->text[1])
			continue;
		if (strncmp(path, p->text, p->len) == 0 &&
		    (path[p->len] == '\0' || path[p->len] == '/') &&
		    (best == NULL || p->len > best->len))
			best = p;
	}
	return best ? best->dialect : rt->fallback;
}

/* Splits and decodes path into at most MAX_SEGS segments in the arena.
 * Returns the count, -1 for too many, -2 for one that does not decode. */
static long
split_path(vx_arena *a, const char *path, const char **seg)
{
	size_t n = 0, len = strlen(path);
	const char *p = path, *end;
	char *plain = NULL;

	if (*p == '/')
		p++;
	/* One trailing slash is ignored; "/" itself has no segments. */
	if (len > 1 && path[len - 1] == '/')
		len--;
	end = path + len;
	/* A path with no escape (most) is copied once and split in place. */
	if (memchr(path, '%', len) == NULL &&
	    (plain = vx_arena_alloc(a, len + 1)) != NULL)
		memcpy(plain, path, len);
	while (p < end) {
		const char *s = memchr(p, '/', (size_t)(end - p));
		size_t sl = (size_t)((s ? s : end) - p);
		char *d;
		if (n == MAX_SEGS)
			return -1;
		if (plain != NULL) {
			d = plain + (p - path);
			d[sl] = '\0';
		} else if ((d = vx_arena_alloc(a, sl + 1)) == NULL) {
			return -1;
		} else if (vx_gw_pct_decode(d, p, sl, false) < 0) {
			return -2;
		}
		seg[n++] = d;
		if (s == NULL)
			break;
		p = s + 1;
		/* "a/" inside the path leaves an empty last segment. */
		if (p == end) {
			if (n == MAX_SEGS)
				return -1;
			seg[n++] = "";
		}
	}
	return (long)n;
}

static bool
path_matches(const struct croute *c, const char **seg, size_t n)
{
	if (c->nseg != n)
		return false;
	/* From the last segment, which tells most routes of a bucket apart
	 * (they share the first), and the first byte before a strcmp(). */
	for (size_t i = n; i-- > 0;) {
		if (c->param[i]
		        ? seg[i][0] == '\0'
		        : c->seg[i][0] != seg[i][0] || strcmp(c->seg[i], seg[i]) != 0)
			return false;
	}
	return true;
}

static void
allow_add(char *allow, size_t cap, const char *method)
{
	size_t len = strlen(allow), ml = strlen(method);
	const char *p = allow;

	/* Each method once, even when several routes share a path. */
	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
			return;
		p += ml;
	}
	if (len + ml + 3 > cap)
		return;
	if (len) {
		memcpy(allow + len, ", ", 2);
		len += 2;
	}
	memcpy(allow + len, method, ml + 1);
}

void
vx_gw_router_dispatch(const vx_gw_router *rt, vx_gw_req *r)
{
	const char *seg[MAX_SEGS];
	const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	const vx_gw_dialect *path_owner = NULL;
	const struct bucket *bk;
	long n;

	r->dialect = vx_gw_router_owner(rt, r->path);
	n = split_path(r->arena, r->path, seg);
	if (n == -2) {
		vx_gw_fail(r, 400, NULL, "malformed path");
		return;
	}
	if (n < 0) {
		vx_gw_fail(r, 404, NULL, "Not found");
		return;
	}
	bk = &rt->buckets[n == 0 ? BUCKETS : seg_bucket(seg[0])];
	for (size_t i = 0; i < bk->n; i++) {
		const struct croute *c = &rt->routes[bk->idx[i]];
		if (!path_matches(c, seg, (size_t)n))
			continue;
		if (strcmp(c->route->method, method) != 0) {
			if (path_owner == NULL)
				path_owner = c->dialect;
			allow_add(r->allow, sizeof(r->allow), c->route->method);
			continue;
		}
		r->dialect = c->dialect;
		if (r->no_block && !c->nonblocking) {
			/* A worker routes it again, from the start. */
			r->blocked = true;
			return;
		}
		r->route = c->route;
		r->n_params = 0;
		for (size_t k = 0; k < c->nseg; k++) {
			if (!c->param[k])
				continue;
			r->param_names[r->n_params] = c->seg[k];
			r->params[r->n_params++] = seg[k];
		}
		r->allow[0] = '\0';
		c->route->fn(r);
		if (r->status == 0)
			vx_gw_fail(r, 500, NULL, "the handler gave no answer");
		return;
	}
	if (path_owner) {
		r->dialect = path_owner;
		vx_gw_fail(r, 405, NULL, "Method not allowed");
		return;
	}
	vx_gw_fail(r, 404, NULL, "Not found");
}
