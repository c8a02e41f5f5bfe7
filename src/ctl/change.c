/*
 * Vexil — vexilctl's protected environments and change requests
 * (docs/teams.md): `env protect` and `change list|show|comment|approve|
 * reject|withdraw`, over ChangeService.
 */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

int
env_protect(struct cli *s, struct args *a)
{
	Vexil__V1__UpdateEnvironmentRequest in =
	    VEXIL__V1__UPDATE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment upd = VEXIL__V1__ENVIRONMENT__INIT, *out;
	char *mask[] = {"protected"};
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 1, "KEY") != 0)
		return 2;
	in.key = (char *)a->pos[0];
	upd.protected_ = !has_opt(a, "off");
	in.update = &upd;
	in.update_mask = mask;
	in.n_update_mask = 1;
	if (vx_update_environment(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_env);
}

/* "SetFlagEnabled" of "vexil.v1.FlagService/SetFlagEnabled". */
static const char *
write_name(const char *m)
{
	const char *slash = strrchr(m, '/');
	return slash ? slash + 1 : m;
}

/* The input of a flag or rule write (what a change request holds). */
static const ProtobufCMessageDescriptor *
write_input(const char *method)
{
	static const ProtobufCServiceDescriptor *const svcs[] = {
	    &vexil__v1__flag_service__descriptor, &vexil__v1__rule_service__descriptor};
	const ProtobufCMethodDescriptor *md;
	size_t len;

	for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
		len = strlen(svcs[i]->name);
		if (strncmp(method, svcs[i]->name, len) == 0 && method[len] == '/' &&
		    (md = protobuf_c_service_descriptor_get_method_by_name(
		         svcs[i], method + len + 1)) != NULL)
			return md->input;
	}
	return NULL;
}

static void
change_header(void)
{
	printf("%-6s %-24s %-14s %-20s %-24s %s\n", "ID", "OPENED", "ENVIRONMENT",
	    "WRITE", "TARGET", "BY");
}

static void
print_change(const Vexil__V1__Schedule *sc)
{
	char t[VX_TIME_LEN];

	printf("%-6llu %-24s %-14s %-20s %-24s %s\n", (unsigned long long)sc->id,
	    when(t, sc->created_at), sc->review ? sc->review->environment : "-",
	    write_name(sc->method), *sc->target ? sc->target : "-", sc->actor);
}

/* One request in full: the list line, its base, the write and comments. */
static void
human_change(void *m)
{
	const Vexil__V1__Schedule *sc = m;
	const ProtobufCMessageDescriptor *d = write_input(sc->method);
	ProtobufCMessage *w = NULL;
	char t[VX_TIME_LEN];

	change_header();
	print_change(sc);
	if (sc->review == NULL)
		return;
	printf("base revision %llu\n", (unsigned long long)sc->review->base_revision);
	if (d != NULL)
		w = protobuf_c_message_unpack(d, NULL, sc->payload.len, sc->payload.data);
	if (w != NULL) {
		printf("write %s ", sc->method);
		print_json(w);
		protobuf_c_message_free_unpacked(w, NULL);
	}
	for (size_t i = 0; i < sc->review->n_comments; i++) {
		const Vexil__V1__ChangeComment *c = sc->review->comments[i];
		printf("%s %s: %s\n", when(t, c->time), c->actor, c->text);
	}
}

int
change_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListChangesRequest in = VEXIL__V1__LIST_CHANGES_REQUEST__INIT;
	Vexil__V1__ChangeList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0)
		return 2;
	if (vx_list_changes(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		change_header();
		for (size_t i = 0; i < out->n_changes; i++)
			print_change(out->changes[i]);
	}
	return done(a, out, NULL);
}

/* The request ID names, of --project P when given. */
static int
change_ref(struct args *a, Vexil__V1__ChangeRef *ref)
{
	if (need_id(a, 0, "ID", &ref->id) != 0)
		return -1;
	ref->project = opt_or_empty(a, "project");
	return 0;
}

int
change_show(struct cli *s, struct args *a)
{
	Vexil__V1__ChangeRef in = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *out;
	vx_status st;

	if (change_ref(a, &in) != 0)
		return 2;
	if (vx_get_change(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_change);
}

int
change_comment(struct cli *s, struct args *a)
{
	Vexil__V1__CommentChangeRequest in = VEXIL__V1__COMMENT_CHANGE_REQUEST__INIT;
	Vexil__V1__ChangeRef ref = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *out;
	vx_status st;

	if ((in.text = (char *)need_opt(a, "text")) == NULL || change_ref(a, &ref) != 0)
		return 2;
	in.ref = &ref;
	if (vx_comment_change(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_change);
}

int
change_approve(struct cli *s, struct args *a)
{
	Vexil__V1__ChangeRef in = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Schedule *out;
	vx_status st;

	if (change_ref(a, &in) != 0)
		return 2;
	if (vx_approve_change(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json)
		printf("change request %llu approved and applied\n",
		    (unsigned long long)out->id);
	return done(a, out, NULL);
}

/* Reject or withdraw: the request is dropped. */
static int
change_drop(struct cli *s, struct args *a, bool withdraw)
{
	Vexil__V1__ChangeRef in = VEXIL__V1__CHANGE_REF__INIT;
	Vexil__V1__Empty *out;
	vx_status st;
	int rc;

	if (change_ref(a, &in) != 0)
		return 2;
	rc = withdraw ? vx_withdraw_change(s->c, &in, &out, &st)
	              : vx_reject_change(s->c, &in, &out, &st);
	if (rc != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

int
change_reject(struct cli *s, struct args *a)
{
	return change_drop(s, a, false);
}

int
change_withdraw(struct cli *s, struct args *a)
{
	return change_drop(s, a, true);
}
