/*
 * Vexil — StaleService: which flags of a project look stale.
 *
 * Read from the evaluation counts vexild already keeps (evalrec.h: one
 * count per project, UTC day, environment, flag and variant), in one pass
 * over the project's counts with a cursor, so the report costs one read
 * however many days are kept. Two kinds of flag are reported, in key
 * order: those no environment evaluated in the last N days (never, or not
 * since), and those evaluated in that window that served one and the same
 * variant to every evaluation in every environment. Each comes with the
 * last day it was evaluated in each environment of the project.
 */
#include "server/server.h"

#include <string.h>

#define DAY_MS 86400000LL
#define DAYS_DEFAULT 30
#define DAYS_MAX 3650

struct stale_scan {
	vx_call *c;
	Vexil__V1__Flag **flags; /* in key order */
	size_t nflags;
	Vexil__V1__Environment **envs;
	size_t nenvs;
	int32_t from_day;
	Vexil__V1__StaleEnv *cells; /* nflags x nenvs */
	const char **variant;       /* per flag: the one served in the window */
	bool *mixed;                /* per flag: more than one variant */
};

static Vexil__V1__Flag **
find_flag(struct stale_scan *s, const char *key)
{
	size_t lo = 0, hi = s->nflags;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(s->flags[mid]->key, key);
		if (d == 0)
			return &s->flags[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
tally(const Vexil__V1__EvalCount *cnt, void *arg)
{
	struct stale_scan *s = arg;
	Vexil__V1__Flag **f;
	Vexil__V1__StaleEnv *cell;
	size_t fi, ei;

	/* Exposures say a user saw something, not that a flag was asked. */
	if (strcmp(cnt->kind, "evaluation") != 0 || cnt->count == 0 ||
	    (f = find_flag(s, cnt->flag_key)) == NULL)
		return 0;
	fi = (size_t)(f - s->flags);
	for (ei = 0; ei < s->nenvs; ei++)
		if (strcmp(s->envs[ei]->key, cnt->environment) == 0)
			break;
	if (ei == s->nenvs) /* an environment deleted since */
		return 0;
	cell = &s->cells[fi * s->nenvs + ei];
	if (cnt->day > cell->last_day)
		cell->last_day = cnt->day;
	if (cnt->day < s->from_day)
		return 0;
	cell->evaluations += cnt->count;
	if (s->variant[fi] == NULL) {
		if ((s->variant[fi] = vx_arena_strdup(s->c->arena, cnt->variant)) == NULL)
			return VX_ENOMEM;
	} else if (strcmp(s->variant[fi], cnt->variant) != 0) {
		s->mixed[fi] = true;
	}
	return 0;
}

/* Appends flag fi to the report when it is stale. */
static int
report(struct stale_scan *s, size_t fi, Vexil__V1__StaleFlagsReply *out)
{
	Vexil__V1__StaleFlag *sf;

	if (s->variant[fi] != NULL && s->mixed[fi])
		return 0;
	if ((sf = vx_arena_alloc(s->c->arena, sizeof(*sf))) == NULL ||
	    (sf->envs = vx_arena_alloc(
	         s->c->arena, (s->nenvs ? s->nenvs : 1) * sizeof(*sf->envs))) == NULL)
		return VX_ENOMEM;
	Vexil__V1__StaleEnv **envs = sf->envs;
	vexil__v1__stale_flag__init(sf);
	sf->envs = envs;
	sf->key = s->flags[fi]->key;
	sf->created_at = s->flags[fi]->created_at;
	if (s->variant[fi] == NULL) {
		sf->reason = VEXIL__V1__STALE_REASON__STALE_NOT_EVALUATED;
	} else {
		sf->reason = VEXIL__V1__STALE_REASON__STALE_ONE_VARIANT;
		sf->variant = (char *)s->variant[fi];
	}
	for (size_t ei = 0; ei < s->nenvs; ei++) {
		Vexil__V1__StaleEnv *cell = &s->cells[fi * s->nenvs + ei];
		cell->environment = s->envs[ei]->key;
		sf->envs[sf->n_envs++] = cell;
	}
	out->flags[out->n_flags++] = sf;
	return 0;
}

static void
stale_flags(Vexil__V1__StaleService_Service *svc, const Vexil__V1__StaleFlagsRequest *in,
    Vexil__V1__StaleFlagsReply_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__StaleFlagsReply *out = NULL;
	Vexil__V1__Project *p;
	struct stale_scan s = {.c = c};
	MDB_txn *txn = c->reader->txn;
	uint32_t days = in->days ? in->days : DAYS_DEFAULT;
	int rc;

	(void)svc;
	if (days > DAYS_MAX) {
		rc = vx_fail(
		    c, VX_EINVAL, "days", "range", "days must be 1 to %d", DAYS_MAX);
		goto done;
	}
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0 ||
	    (rc = vx_store_flag_list(
	         txn, c->store, p->id, c->alloc, &s.flags, &s.nflags)) != 0 ||
	    (rc = vx_store_env_list(txn, c->store, p->id, c->alloc, &s.envs, &s.nenvs)) !=
	        0)
		goto done;
	s.from_day = (int32_t)(vx_now_ms() / DAY_MS) - (int32_t)days + 1;
	s.cells = vx_arena_alloc(c->arena, (s.nflags * s.nenvs + 1) * sizeof(*s.cells));
	s.variant = vx_arena_alloc(c->arena, (s.nflags + 1) * sizeof(*s.variant));
	s.mixed = vx_arena_alloc(c->arena, s.nflags + 1);
	out = vx_arena_alloc(c->arena, sizeof(*out));
	if (s.cells == NULL || s.variant == NULL || s.mixed == NULL || out == NULL ||
	    (out->flags = vx_arena_alloc(
	         c->arena, (s.nflags + 1) * sizeof(*out->flags))) == NULL) {
		rc = VX_ENOMEM;
		goto done;
	}
	Vexil__V1__StaleFlag **flags = out->flags;
	vexil__v1__stale_flags_reply__init(out);
	out->flags = flags;
	out->days = days;
	out->from_day = s.from_day;
	for (size_t i = 0; i < s.nflags * s.nenvs; i++)
		vexil__v1__stale_env__init(&s.cells[i]);
	memset(s.variant, 0, (s.nflags + 1) * sizeof(*s.variant));
	memset(s.mixed, 0, s.nflags + 1);
	/* Every day kept, for the last evaluation; the window for the rest. */
	if ((rc = vx_store_evalcount_each(txn, c->store, p->id, 0, tally, &s)) != 0)
		goto done;
	for (size_t fi = 0; fi < s.nflags && rc == 0; fi++)
		rc = report(&s, fi, out);
done:
	VX_REPLY(c, rc, out);
}

Vexil__V1__StaleService_Service vx_stale_service = VEXIL__V1__STALE_SERVICE__INIT();
