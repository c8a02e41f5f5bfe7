/*
 * Vexil — vexilctl's scheduled writes and stale-flag report.
 *
 * A write command given `--at TIME` sends its request, exactly as it would
 * send it now, to ScheduleService/CreateSchedule with its method name
 * (ctl_schedule_write): vexild checks it now and makes it at TIME. `schedule
 * list` and `schedule cancel` manage what is waiting; `flag stale` prints
 * StaleService's report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "eval/eval.h"

#define DAY_MS 86400000LL

/* "SetFlagEnabled" of "vexil.v1.FlagService/SetFlagEnabled". */
static const char *
short_method(const char *m)
{
	const char *slash = strrchr(m, '/');
	return slash ? slash + 1 : m;
}

static const char *
state_name(Vexil__V1__ScheduleState s)
{
	return s == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING  ? "pending"
	       : s == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED ? "failed"
	       : s == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW
	           ? "review" /* a change request (vexilctl change) */
	           : "unknown";
}

static void
schedule_header(void)
{
	printf("%-6s %-24s %-8s %-20s %-24s %s\n", "ID", "AT", "STATE", "WRITE", "TARGET",
	    "BY");
}

static void
print_schedule(const Vexil__V1__Schedule *sc)
{
	char t[VX_TIME_LEN];

	printf("%-6llu %-24s %-8s %-20s %-24s %s\n", (unsigned long long)sc->id,
	    when(t, sc->at), state_name(sc->state), short_method(sc->method),
	    *sc->target ? sc->target : "-", sc->actor);
	if (sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED && sc->error)
		printf("       failed %s: %s: %s\n", when(t, sc->failed_at),
		    vx_code_name(sc->error->code), sc->error->message);
}

static void
human_schedule(void *m)
{
	schedule_header();
	print_schedule(m);
}

int
ctl_schedule_write(
    struct cli *s, struct args *a, const char *method, const ProtobufCMessage *in)
{
	Vexil__V1__CreateScheduleRequest req = VEXIL__V1__CREATE_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Schedule *out;
	const char *at = opt(a, "at");
	vx_status st;
	int rc;

	if (at == NULL)
		return -1;
	if (!vx_parse_rfc3339_ms(at, &req.at)) {
		fprintf(stderr,
		    "vexilctl: --at takes an RFC 3339 time such as 2026-12-24T09:00:00Z, "
		    "got %s\n",
		    at);
		return 2;
	}
	req.method = (char *)method;
	req.payload.len = protobuf_c_message_get_packed_size(in);
	if ((req.payload.data = malloc(req.payload.len + 1)) == NULL) {
		fprintf(stderr, "vexilctl: out of memory\n");
		return 1;
	}
	protobuf_c_message_pack(in, req.payload.data);
	rc = vx_create_schedule(s->c, &req, &out, &st);
	free(req.payload.data);
	if (rc != 0)
		return fail(&st);
	return done(a, out, human_schedule);
}

int
schedule_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListSchedulesRequest in = VEXIL__V1__LIST_SCHEDULES_REQUEST__INIT;
	Vexil__V1__ScheduleList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0)
		return 2;
	if (vx_list_schedules(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		schedule_header();
		for (size_t i = 0; i < out->n_schedules; i++)
			print_schedule(out->schedules[i]);
	}
	return done(a, out, NULL);
}

int
schedule_cancel(struct cli *s, struct args *a)
{
	Vexil__V1__CancelScheduleRequest in = VEXIL__V1__CANCEL_SCHEDULE_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;

	if (need_id(a, 0, "ID", &in.id) != 0)
		return 2;
	in.project = opt_or_empty(a, "project");
	if (vx_cancel_schedule(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* A day number as its date, "never" for 0. */
static const char *
day_name(char buf[VX_TIME_LEN], int32_t day)
{
	if (day == 0)
		return "never";
	vx_format_time_ms(buf, (int64_t)day * DAY_MS);
	buf[10] = '\0';
	return buf;
}

int
flag_stale(struct cli *s, struct args *a)
{
	Vexil__V1__StaleFlagsRequest in = VEXIL__V1__STALE_FLAGS_REQUEST__INIT;
	Vexil__V1__StaleFlagsReply *out;
	char t[VX_TIME_LEN], d[VX_TIME_LEN];
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "days", 3650, &in.days) != 0)
		return 2;
	if (vx_stale_flags(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("# since %s (%u days)\n", day_name(d, out->from_day), out->days);
		printf("%-32s %-14s %-10s %-24s %s\n", "KEY", "STALE", "VARIANT",
		    "CREATED", "LAST EVALUATED");
		for (size_t i = 0; i < out->n_flags; i++) {
			const Vexil__V1__StaleFlag *f = out->flags[i];
			printf("%-32s %-14s %-10s %-24s", f->key,
			    f->reason == VEXIL__V1__STALE_REASON__STALE_ONE_VARIANT
			        ? "one-variant"
			        : "not-evaluated",
			    *f->variant ? f->variant : "-", when(t, f->created_at));
			for (size_t j = 0; j < f->n_envs; j++)
				printf(" %s=%s", f->envs[j]->environment,
				    day_name(d, f->envs[j]->last_day));
			printf("\n");
		}
	}
	return done(a, out, NULL);
}
