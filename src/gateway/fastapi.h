/*
 * Vexil gateway — shared by the FastAPI-shaped dialects (fastapi.c).
 *
 * Errors are {"detail": "..."}; validation errors are one 422 with
 * {"detail": [{"loc", "msg", "type"}]} listing every field at fault, with
 * pydantic v2's error types.
 */
#ifndef VX_GW_FASTAPI_H
#define VX_GW_FASTAPI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/http.h"

/*
 * FastAPI's validation errors, collected like pydantic collects them: one
 * entry per field at fault, all answered together as one 422.
 */
struct vx_fa_errors {
	cJSON *list;  /* NULL until the first error */
	bool oom;
};

/* The dialects' error writer: {"detail": message} with FastAPI's wording
 * for the router's 404 and 405. */
void vx_fa_error(vx_gw_req *r, int status, const char *field, const char *message);
/* Records a validation fault at loc [where, field] (field may be NULL). */
void vx_fa_add(struct vx_fa_errors *v, const char *where, const char *field,
    const char *type, const char *msg);
/* Answers the collected faults as one 422; false when there were none. */
bool vx_fa_reply(vx_gw_req *r, struct vx_fa_errors *v);
/* The body as a JSON object; false after answering 422. */
bool vx_fa_body(vx_gw_req *r, cJSON **out);
/* Field checks: 1 present, 0 absent (or null), -1 wrong (recorded in v). */
int vx_fa_str(struct vx_fa_errors *v, const cJSON *o, const char *name, const char **out);
int vx_fa_bool(struct vx_fa_errors *v, const cJSON *o, const char *name, bool *out);
int vx_fa_int(struct vx_fa_errors *v, const cJSON *o, const char *name, int64_t *out);
int vx_fa_obj(struct vx_fa_errors *v, const cJSON *o, const char *name, const cJSON **out);
/* "Authorization: Bearer <jwt>" or "ApiKey <key>" becomes the request's
 * credential, and an API key is admitted through its rate limit
 * (vx_gw_admit); false after answering 401 "Not authenticated", the
 * core's refusal of the key, or 429. */
bool vx_fa_need_credential(vx_gw_req *r);
/* Adds item under name (false when item is NULL). */
bool vx_fa_put(cJSON *o, const char *name, cJSON *item);
/* An RFC 3339 string from unix ms. */
cJSON *vx_fa_time(int64_t ms);

#endif
