/*
 * Vexil gateway — the one router every dialect shares.
 *
 * A dialect (one REST document, struct vx_gw_dialect in http.h) is a table
 * of routes, the path prefixes it owns, and the way it writes errors. The router matches
 * a request's method and path against every dialect's routes: path patterns are
 * '/'-separated literal segments and "{name}" segments that capture one
 * percent-decoded segment. When nothing matches, the dialect owning the
 * longest matching prefix answers 404 (no route has this path) or 405 (a
 * route has the path, with other methods; the Allow header lists them), in
 * its own error format. A path no dialect owns gets the fallback dialect's
 * 404.
 *
 * HEAD is routed as GET (conn.c drops the body of a HEAD response). A single
 * trailing slash is ignored, so "/api/projects/" is "/api/projects".
 */
#ifndef VX_GW_ROUTER_H
#define VX_GW_ROUTER_H

#include <stddef.h>

#include "common/common.h"
#include "gateway/http.h"

typedef struct vx_gw_router vx_gw_router;

/*
 * Compiles the route tables of n dialects. fallback answers paths no
 * dialect owns (it must be one of them).
 * @return 0; VX_EINVAL for a malformed pattern (too many segments or
 *         parameters, an unclosed brace); VX_ENOMEM.
 */
int vx_gw_router_alloc(vx_gw_router **out, const vx_gw_dialect *const *dialects, size_t n,
    const vx_gw_dialect *fallback) VX_MUST_USE;
void vx_gw_router_free(vx_gw_router *rt);

/* The dialect that owns path (the fallback when none does). Does no I/O
 * and takes no lock, so nng's callback may call it. */
const vx_gw_dialect *vx_gw_router_owner(const vx_gw_router *rt, const char *path);

/*
 * Routes r (path, method) and runs the handler, which answers. Sets
 * r->dialect and the parameters first. Answers 400 itself for a path that
 * does not decode, and 404/405 as above. Needs r->arena. With r->no_block
 * a route whose handler is not in its dialect's nonblocking list is not
 * run: r->blocked is set instead, and r has no answer.
 */
void vx_gw_router_dispatch(const vx_gw_router *rt, vx_gw_req *r);

#endif
