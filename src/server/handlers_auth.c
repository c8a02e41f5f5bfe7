/*
 * Vexil — AuthService/Admit: authentication and rate limits for gateways.
 *
 * API keys are limited to --rate-limit requests per minute (a fixed
 * window per key, kept here in memory, so every gateway in front of this
 * vexild shares it). SDK keys and users are not limited here. An admitted
 * request over the limit is answered OK with rate.limited set, so that the
 * gateway can still send the X-RateLimit-* headers with its 429. Gateways
 * that evaluate at the edge take the same windows in blocks
 * (EdgeService/LeaseTokens, handlers_edge.c).
 */
#include "server/server.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 4096
#define WINDOW_MS 60000

static struct {
	uint64_t key_id;
	int64_t window_start;
	uint32_t used;
} windows[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t per_minute = 100;

void
vx_rate_limit_set(uint32_t limit)
{
	per_minute = limit;
}

uint32_t
vx_rate_take(uint64_t key_id, uint32_t want, Vexil__V1__RateLimit *rate)
{
	int64_t now = vx_now_ms();
	size_t i = (size_t)(key_id * 0x9E3779B97F4A7C15ull >> 52) % SLOTS, probe;
	uint32_t granted;

	rate->limit = per_minute;
	if (per_minute == 0)
		return want;
	pthread_mutex_lock(&lock);
	/* Linear probing; a slot whose window has ended is free to reuse. */
	for (probe = 0; probe < SLOTS; probe++, i = (i + 1) % SLOTS)
		if (windows[i].key_id == key_id || windows[i].key_id == 0 ||
		    now - windows[i].window_start >= WINDOW_MS)
			break;
	if (windows[i].key_id != key_id || now - windows[i].window_start >= WINDOW_MS) {
		windows[i].key_id = key_id;
		windows[i].window_start = now;
		windows[i].used = 0;
	}
	granted = per_minute - windows[i].used;
	if (granted > want)
		granted = want;
	windows[i].used += granted;
	rate->limited = granted < want;
	rate->remaining = per_minute - windows[i].used;
	rate->reset_at = windows[i].window_start + WINDOW_MS;
	pthread_mutex_unlock(&lock);
	return granted;
}

static void
admit(Vexil__V1__AuthService_Service *svc, const Vexil__V1__AdmitRequest *in,
    Vexil__V1__AdmitReply_Closure closure, void *closure_data)
{
	static const char *const kinds[] = {"none", "apikey", "sdkkey", "user"};
	vx_call *c = closure_data;
	Vexil__V1__AdmitReply *out = vx_arena_alloc(c->arena, sizeof(*out));
	Vexil__V1__RateLimit *rate = vx_arena_alloc(c->arena, sizeof(*rate));
	int rc = 0;

	(void)svc;
	(void)in;
	if (out == NULL || rate == NULL) {
		rc = VX_ENOMEM;
		out = NULL;
	} else {
		vexil__v1__admit_reply__init(out);
		vexil__v1__rate_limit__init(rate);
		out->kind = (char *)kinds[c->who.kind];
		out->id = c->who.id;
		out->project_id = c->who.project_id;
		out->role = c->who.role;
		out->environment = c->who.env;
		if (c->who.kind == VX_PRINCIPAL_APIKEY)
			(void)vx_rate_take(c->who.id, 1, rate);
		out->rate = rate;
	}
	VX_REPLY(c, rc, out);
}

Vexil__V1__AuthService_Service vx_auth_service = VEXIL__V1__AUTH_SERVICE__INIT();
