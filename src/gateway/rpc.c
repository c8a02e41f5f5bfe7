/*
 * Vexil gateway — admission and the OFREP key credential: see rpc.h.
 */
#include "gateway/rpc.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/edge.h"

int
vx_gw_admit(vx_gw_req *r, Vexil__V1__AdmitReply **out, vx_status *st)
{
	Vexil__V1__AdmitRequest in = VEXIL__V1__ADMIT_REQUEST__INIT;
	const Vexil__V1__RateLimit *rate;
	struct timespec ts;
	int64_t now, wait;
	int rc;

	uint64_t epoch = vx_gw_edge_epoch(r->rpc->edge);

	/* A key the edge knows is admitted there, against leased tokens; one
	 * it knew before vexild went away, while vexild cannot say. */
	if (vx_gw_edge_admit(r->rpc->edge, r, false, out) != 0) {
		if (vx_gw_would_block(r, st))
			return VX_EUNAVAIL;
		rc = vx_admit_as(vx_gw_client(r), VX_GW_OPTS(r), &in, out, st);
		if (rc != 0 && (st->code != VEXIL__V1__CODE__UNAVAILABLE ||
		                   vx_gw_edge_admit(r->rpc->edge, r, true, out) != 0))
			return rc;
		if (rc == 0)
			vx_gw_edge_admitted(r->rpc->edge, r->credential, *out, epoch);
	}
	if ((rate = (*out)->rate) == NULL || rate->limit == 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	wait = (rate->reset_at - now + 999) / 1000;
	/* The reset is unix seconds, as the platform document's example shows. */
	(void)vx_gw_set_header_int(r, "X-RateLimit-Limit", rate->limit);
	(void)vx_gw_set_header_int(r, "X-RateLimit-Remaining", rate->remaining);
	(void)vx_gw_set_header_int(r, "X-RateLimit-Reset", (rate->reset_at + 999) / 1000);
	if (!rate->limited)
		return 0;
	/* Seconds: RFC 9110 allows them, and the OFREP providers read them
	 * before trying a date. */
	(void)vx_gw_set_header(r, "Retry-After", "%lld", (long long)(wait > 0 ? wait : 1));
	return 1;
}

const char *
vx_gw_key_credential(vx_gw_req *r)
{
	const char *key = vx_gw_header(r, "Authorization");

	if (key && strncasecmp(key, "Bearer ", 7) == 0)
		key += 7;
	else
		key = vx_gw_header(r, "X-API-Key");
	if (key == NULL || !vx_gw_token_ok(key))
		return NULL;
	return vx_arena_join(r->arena, vx_is_sdk_key(key) ? "SdkKey" : "ApiKey", key);
}
