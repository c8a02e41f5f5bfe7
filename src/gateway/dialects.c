/*
 * Vexil gateway — the list of dialects served: see dialects.h.
 */
#include "gateway/dialects.h"

const vx_gw_dialect *const vx_gw_dialects[] = {&vx_gw_flagservice_dialect,
    &vx_gw_platform_dialect, &vx_gw_table_dialect, &vx_gw_toggles_dialect,
    &vx_gw_ofrep_dialect, &vx_gw_flagd_dialect, &vx_gw_unleash_dialect,
    &vx_gw_unleash_api_dialect, &vx_gw_docs_dialect, &vx_gw_ops_dialect};
const size_t vx_gw_n_dialects = sizeof(vx_gw_dialects) / sizeof(vx_gw_dialects[0]);
