/*
 * Vexil gateway — the REST dialects this build serves.
 *
 * Each is a route table and an error writer (router.h) in a file of its
 * own; server.c hands them all to the one router. The other three
 * documents of DESIGN.md ("The REST dialects") join this list as they are
 * written.
 */
#ifndef VX_GW_DIALECTS_H
#define VX_GW_DIALECTS_H

#include "gateway/router.h"

/* flag-service-api.md: /health, /auth, /api/me, /api/projects, /sdk/v1. */
extern const vx_gw_dialect vx_gw_flagservice_dialect;
/* platform-api-v1.md: /v1. */
extern const vx_gw_dialect vx_gw_platform_dialect;
/* feature-flag-table-api.md: /api/feature-flags. */
extern const vx_gw_dialect vx_gw_table_dialect;
/* toggles-api.md: /feature-toggles. */
extern const vx_gw_dialect vx_gw_toggles_dialect;

#endif
