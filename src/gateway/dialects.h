/*
 * Vexil gateway — the REST dialects this build serves.
 *
 * Each is a route table and an error writer (router.h) in a file of its
 * own. dialects.c lists them; main.c hands the list to the server's router,
 * and the OpenAPI coverage test walks it. The first is the fallback that
 * answers paths no dialect owns.
 */
#ifndef VX_GW_DIALECTS_H
#define VX_GW_DIALECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/router.h"
#include "vexil/v1/service.pb-c.h"

/* flag-service-api.md: /health, /auth, /api/me, /api/projects, /sdk/v1. */
extern const vx_gw_dialect vx_gw_flagservice_dialect;
/* platform-api-v1.md: /v1. */
extern const vx_gw_dialect vx_gw_platform_dialect;
/* feature-flag-table-api.md: /api/feature-flags. */
extern const vx_gw_dialect vx_gw_table_dialect;
/* toggles-api.md: /feature-toggles. */
extern const vx_gw_dialect vx_gw_toggles_dialect;
/* OpenFeature's OFREP (dialect_ofrep.c): /ofrep. */
extern const vx_gw_dialect vx_gw_ofrep_dialect;
/* Unleash's client API for server-side SDKs (dialect_unleash.c):
 * GET /api/client/features. */
extern const vx_gw_dialect vx_gw_unleash_dialect;
/* Unleash's client register and metrics and its frontend API
 * (dialect_unleash_api.c): /api/client/register, /api/client/metrics,
 * /api/frontend. */
extern const vx_gw_dialect vx_gw_unleash_api_dialect;
/* A flagd sync source (dialect_flagd.c): /flagd/v1/{project}/{env}.json. */
extern const vx_gw_dialect vx_gw_flagd_dialect;
/* The API's documentation and the admin UI (dialect_docs.c): /openapi.json,
 * /docs, /redoc, /ui. */
extern const vx_gw_dialect vx_gw_docs_dialect;
/* Operating the gateway (dialect_ops.c): /metrics, /readyz. */
extern const vx_gw_dialect vx_gw_ops_dialect;

/* A file compiled into the binary by embed.cmake (its DIR mode): the admin
 * UI's web/ui. A table of them ends with a NULL name. */
typedef struct {
	const char *name;
	const unsigned char *data;
	size_t len;
} vx_gw_embedded;

/* Where /docs and /redoc find swagger-ui-dist and redoc (a node_modules
 * directory; --assets). dir is borrowed; set it before the server starts. */
void vx_gw_docs_set_assets(const char *dir);
const char *vx_gw_docs_assets(void);

/*
 * OFREP's credentials (dialect_ofrep.c), shared by the flagd sync source:
 * an SDK key goes straight on (*bound NULL: the core knows its
 * environment); an API key is admitted by vexild (*bound "", or 429).
 * false after answering (401 without a body, 429, or the core's refusal).
 */
bool vx_gw_ofrep_admit(vx_gw_req *r, const char **bound);

/*
 * The credentials of Unleash's APIs (dialect_unleash.c): the bare key in
 * Authorization, as Unleash SDKs send it, or OFREP's forms. An SDK key
 * goes straight on (the core authenticates it with the call); an API key
 * is admitted by vexild first. false after answering.
 */
bool vx_gw_unleash_admit(vx_gw_req *r);

/* 200 with the JSON text and an ETag that is its FNV-1a hash, or 304
 * when If-None-Match names that tag (dialect_unleash.c). */
void vx_gw_reply_tagged(vx_gw_req *r, const char *text);

/* FNV-1a, 64 bits, of s: an entity tag, not a secret (dialect_ofrep.c). */
uint64_t vx_gw_fnv1a(const char *s);
/* X-Vexil-Omitted: the keys of the flags a migrate report names
 * ("flag KEY: ..."), as many as fit (dialect_flagd.c). */
struct vx_mig_report;
void vx_gw_name_omitted(vx_gw_req *r, const struct vx_mig_report *rep);

/*
 * GetSnapshot for the sync dialects (dialect_flagd.c): the edge's live
 * snapshot, or the core's when a rule names a segment (the edge's carries
 * no segments). As vx_gw_edge_snapshot().
 */
int vx_gw_snapshot_whole(vx_gw_req *r, const Vexil__V1__GetSnapshotRequest *in,
    Vexil__V1__Snapshot **out, vx_status *st);

/* The error writer of the sync dialects (flagd's, Unleash's client API):
 * {"error": message}, and no body for 401 and 403 (dialect_flagd.c). */
void vx_gw_sync_error(vx_gw_req *r, int status, const char *field, const char *message);

/* Whether an If-None-Match value (a list of tags, or "*") names etag; a
 * weak tag compares weakly, which is all a 304 needs (dialect_ofrep.c). */
bool vx_gw_etag_matches(const char *inm, const char *etag);

/*
 * /metrics and /readyz (dialect_ops.c): token is --metrics-token (NULL or
 * "": none), the token a scrape must send as "Authorization: Bearer";
 * core_key is --metrics-key (NULL: none), the global admin API key whose
 * OpsService/GetStats adds vexild's figures to /metrics. Both borrowed
 * or copied before the server starts.
 * @return 0; VX_EINVAL for a token that is not one (vx_gw_token_ok);
 *         VX_ENOMEM.
 */
int vx_gw_ops_configure(const char *token, const char *core_key) VX_MUST_USE;

/* Every dialect served, in routing order; vx_gw_dialects[0] is the fallback. */
extern const vx_gw_dialect *const vx_gw_dialects[];
extern const size_t vx_gw_n_dialects;

#endif
