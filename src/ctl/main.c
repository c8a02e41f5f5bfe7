/*
 * Vexil — vexilctl, the command line built on libvexil.
 *
 *   vexilctl [--rpc URL] [--key KEY] [--timeout MS] NOUN VERB [ARGS] [--json]
 *
 * The forms in usage() are a contract scripts rely on. Every failure exits
 * non-zero with one line on stderr: 1 when vexild refused or could not be
 * reached, 2 for a usage error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "json/pbjson.h"
#include "vexil.h"
#include "vexil_watch.h"

#define MAX_ARGS 64

static void
usage(FILE *to)
{
	fputs(
	    "usage: vexilctl [--rpc URL] [--pub URL] [--key KEY] [--timeout MS]\n"
	    "                [--tls-ca FILE] COMMAND [--json]\n"
	    "\n"
	    "  project create NAME [--description D]\n"
	    "  project list | get P | delete P\n"
	    "  project update P [--name N] [--description D]\n"
	    "  env create --project P KEY [--name N] [--description D]\n"
	    "  env list --project P | get --project P KEY | delete --project P KEY\n"
	    "  flag create --project P KEY [--name N] [--description D]\n"
	    "              [--type boolean|string|number|json] [--variant KEY=JSON ...]\n"
	    "              [--tag T ...] [--owner O]\n"
	    "  flag get --project P KEY\n"
	    "  flag list --project P [--tag T] [--limit N] [--offset N]\n"
	    "  flag update --project P KEY [--name N] [--description D] [--owner O]\n"
	    "              [--tag T ...]\n"
	    "  flag delete --project P KEY\n"
	    "  flag enable|disable --project P KEY --env E\n"
	    "  flag rollout --project P KEY --env E PERCENT\n"
	    "  flag require --project P KEY --env E PARENT [--when on|off]\n"
	    "               [--variant V ...]\n"
	    "  flag unrequire --project P KEY --env E PARENT\n"
	    "  rule add --project P KEY --env E [--cond '[?][!]ATTR OP V1,V2' ...]\n"
	    "           [--segment NAME ...] [--variant V | --split V=W,V=W]\n"
	    "           [--priority N] [--rollout PCT] [--stickiness ATTR] [--name N]\n"
	    "           [--disabled]\n"
	    "  segment create|update --project P NAME [--description D]\n"
	    "                 [--cond '[?][!]ATTR OP V1,V2' ...]\n"
	    "  segment list --project P | get --project P NAME | delete --project P "
	    "NAME\n"
	    "  rule list --project P KEY --env E | remove --project P KEY ID\n"
	    "  variant add --project P KEY VKEY JSON | list --project P KEY\n"
	    "  variant remove --project P KEY VKEY\n"
	    "  key create NAME --role read|write|admin [--project P]\n"
	    "  key list [--project P]\n"
	    "  key revoke ID\n"
	    "  sdk-key create --project P [--env E] | list --project P | revoke ID\n"
	    "  stats --project P [--flag KEY] [--env E] [--days N]\n"
	    "  evals --project P [--limit N]\n"
	    "  audit --project P [--limit N]\n"
	    "  watch [--project P]   (one line per change until interrupted)\n"
	    "  backup DIR|FILE.mdb   (a compacted copy, written by vexild on its host)\n"
	    "  eval --project P --env E KEY [--ctx ATTR=VALUE ...]\n"
	    "  eval --project P --env E --all [--ctx ATTR=VALUE ...]\n"
	    "\n"
	    "--project takes a project's id or name. The key falls back to $VEXIL_KEY,\n"
	    "the URLs to $VEXIL_RPC and $VEXIL_PUB (default tcp://127.0.0.1:7311 and "
	    "7312).\n"
	    "tls+tcp:// URLs check vexild's certificate against --tls-ca FILE, else\n"
	    "$VEXIL_TLS_CA.\n",
	    to);
}

struct args {
	const char *pos[MAX_ARGS];
	int npos;
	const char *name[MAX_ARGS];
	const char *val[MAX_ARGS];
	int nopt;
	bool json;
};

static int
parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			a->json = true;
		} else if ((strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "--disabled") == 0) &&
		    a->nopt < MAX_ARGS) {
			a->name[a->nopt] = argv[i] + 2;
			a->val[a->nopt++] = "1";
		} else if (strncmp(argv[i], "--", 2) == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "vexilctl: %s needs a value\n", argv[i]);
				return -1;
			}
			if (a->nopt == MAX_ARGS)
				return -1;
			a->name[a->nopt] = argv[i] + 2;
			a->val[a->nopt++] = argv[++i];
		} else {
			if (a->npos == MAX_ARGS)
				return -1;
			a->pos[a->npos++] = argv[i];
		}
	}
	return 0;
}

/* The last value of --name, or NULL. */
static const char *
opt(const struct args *a, const char *name)
{
	const char *v = NULL;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->name[i], name) == 0)
			v = a->val[i];
	return v;
}

/* Every value of a repeatable --name. */
static size_t
opts(const struct args *a, const char *name, char **out)
{
	size_t n = 0;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->name[i], name) == 0)
			out[n++] = (char *)a->val[i];
	return n;
}

/* A numeric --name in 0..max, left as is when absent; -1 after a message. */
static int
opt_u32(const struct args *a, const char *name, uint32_t max, uint32_t *out)
{
	const char *v = opt(a, name);
	uint64_t n;

	if (v == NULL)
		return 0;
	if (vx_parse_u64(v, &n) != 0 || n > max) {
		fprintf(stderr, "vexilctl: --%s must be a number from 0 to %u\n", name, max);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

static bool
has_opt(const struct args *a, const char *name)
{
	return opt(a, name) != NULL;
}

/* Refuses options the command does not know, so typos do not pass silently. */
static int
only_opts(const struct args *a, const char *const *known)
{
	for (int i = 0; i < a->nopt; i++) {
		const char *const *k = known;
		while (*k && strcmp(*k, a->name[i]) != 0)
			k++;
		if (*k == NULL) {
			fprintf(stderr, "vexilctl: unknown option --%s for this command\n",
			    a->name[i]);
			return -1;
		}
	}
	return 0;
}

static int
need_pos(const struct args *a, int n, const char *what)
{
	if (a->npos < n) {
		fprintf(stderr, "vexilctl: missing %s\n", what);
		return -1;
	}
	if (a->npos > n) {
		fprintf(stderr, "vexilctl: unexpected argument %s\n", a->pos[n]);
		return -1;
	}
	return 0;
}

static const char *
need_opt(const struct args *a, const char *name)
{
	const char *v = opt(a, name);
	if (v == NULL)
		fprintf(stderr, "vexilctl: --%s is required\n", name);
	return v;
}

static int
fail(int rc, const vx_status *st)
{
	if (st->field[0])
		fprintf(stderr, "vexilctl: %s: %s (field %s)\n", vx_code_name(st->code),
		    st->message, st->field);
	else
		fprintf(stderr, "vexilctl: %s: %s\n", vx_code_name(st->code), st->message);
	(void)rc;
	return 1;
}

static void
print_json(const void *m)
{
	cJSON *j = vx_pb_to_json(m);
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(j);
}

static void
print_project(const Vexil__V1__Project *p)
{
	printf("%-6llu %-24s rev %-6llu %s\n", (unsigned long long)p->id, p->name,
	    (unsigned long long)p->revision, p->description);
}

static void
print_env(const Vexil__V1__Environment *e)
{
	printf("%-16s %-24s %s\n", e->key, e->name, e->description);
}

/* "    requires beta (on: red,green)", one line per prerequisite. */
static void
print_prereqs(const Vexil__V1__FlagEnvConfig *cfg)
{
	for (size_t i = 0; i < cfg->n_prerequisites; i++) {
		const Vexil__V1__Prerequisite *p = cfg->prerequisites[i];
		printf("    requires %s (%s", p->flag_key, p->when_off ? "off" : "on");
		for (size_t j = 0; j < p->n_variants; j++)
			printf("%s%s", j ? "," : ": ", p->variants[j]);
		printf(")\n");
	}
}

static void
print_flag(const Vexil__V1__Flag *f, bool detail)
{
	printf("%-32s", f->key);
	for (size_t i = 0; i < f->n_envs; i++)
		printf(" %s=%s", f->envs[i]->environment, f->envs[i]->enabled ? "on" : "off");
	printf("\n");
	if (!detail)
		return;
	printf("  id: %llu\n  name: %s\n  description: %s\n  type: %s\n",
	    (unsigned long long)f->id, f->name, f->description,
	    protobuf_c_enum_descriptor_get_value(&vexil__v1__flag_type__descriptor,
		(int)f->type)->name);
	for (size_t i = 0; i < f->n_variants; i++)
		printf("  variant %s = %s\n", f->variants[i]->key, f->variants[i]->value);
	for (size_t i = 0; i < f->n_envs; i++) {
		printf("  env %s: %s, rollout %u%%, default %s, off %s, %zu rules\n",
		    f->envs[i]->environment, f->envs[i]->enabled ? "enabled" : "disabled",
		    f->envs[i]->rollout_percentage, f->envs[i]->default_variant,
		    f->envs[i]->off_variant, f->envs[i]->n_rules);
		print_prereqs(f->envs[i]);
	}
}

/* Prints a reply and frees it. */
static int
done(const struct args *a, void *m, void (*human)(const void *))
{
	if (a->json)
		print_json(m);
	else if (human)
		human(m);
	vx_free(m);
	return 0;
}

static void
human_project(const void *m)
{
	print_project(m);
}

static void
human_env(const void *m)
{
	print_env(m);
}

static void
human_flag(const void *m)
{
	print_flag(m, true);
}

static void
human_ok(const void *m)
{
	(void)m;
	printf("ok\n");
}

/* ---- commands ---- */

static int
cmd_project(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"description", "name", NULL};
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0)
		return 2;
	if (strcmp(verb, "create") == 0) {
		Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
		Vexil__V1__Project *out;
		if (need_pos(a, 1, "NAME") != 0)
			return 2;
		in.name = (char *)a->pos[0];
		in.description = (char *)(opt(a, "description") ? opt(a, "description") : "");
		if ((rc = vx_create_project(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_project);
	}
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
		Vexil__V1__ProjectList *out;
		if (need_pos(a, 0, "") != 0)
			return 2;
		if ((rc = vx_list_projects(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_projects; i++)
				print_project(out->projects[i]);
		return done(a, out, NULL);
	}
	if (strcmp(verb, "get") == 0) {
		Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
		Vexil__V1__Project *out;
		if (need_pos(a, 1, "project") != 0)
			return 2;
		in.project = (char *)a->pos[0];
		if ((rc = vx_get_project(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_project);
	}
	if (strcmp(verb, "update") == 0) {
		Vexil__V1__UpdateProjectRequest in = VEXIL__V1__UPDATE_PROJECT_REQUEST__INIT;
		Vexil__V1__Project upd = VEXIL__V1__PROJECT__INIT, *out;
		char *mask[2];
		if (need_pos(a, 1, "project") != 0)
			return 2;
		in.project = (char *)a->pos[0];
		in.update = &upd;
		in.update_mask = mask;
		if (has_opt(a, "name")) {
			upd.name = (char *)opt(a, "name");
			mask[in.n_update_mask++] = "name";
		}
		if (has_opt(a, "description")) {
			upd.description = (char *)opt(a, "description");
			mask[in.n_update_mask++] = "description";
		}
		if ((rc = vx_update_project(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_project);
	}
	if (strcmp(verb, "delete") == 0) {
		Vexil__V1__DeleteProjectRequest in = VEXIL__V1__DELETE_PROJECT_REQUEST__INIT;
		Vexil__V1__Empty *out;
		if (need_pos(a, 1, "project") != 0)
			return 2;
		in.project = (char *)a->pos[0];
		if ((rc = vx_delete_project(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	fprintf(stderr, "vexilctl: unknown command: project %s\n", verb);
	return 2;
}

static int
cmd_env(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "name", "description", NULL};
	const char *project;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (project = need_opt(a, "project")) == NULL)
		return 2;
	if (strcmp(verb, "create") == 0) {
		Vexil__V1__CreateEnvironmentRequest in = VEXIL__V1__CREATE_ENVIRONMENT_REQUEST__INIT;
		Vexil__V1__Environment *out;
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		in.name = (char *)(opt(a, "name") ? opt(a, "name") : "");
		in.description = (char *)(opt(a, "description") ? opt(a, "description") : "");
		if ((rc = vx_create_environment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_env);
	}
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListEnvironmentsRequest in = VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
		Vexil__V1__EnvironmentList *out;
		if (need_pos(a, 0, "") != 0)
			return 2;
		in.project = (char *)project;
		if ((rc = vx_list_environments(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_environments; i++)
				print_env(out->environments[i]);
		return done(a, out, NULL);
	}
	if (strcmp(verb, "get") == 0) {
		Vexil__V1__GetEnvironmentRequest in = VEXIL__V1__GET_ENVIRONMENT_REQUEST__INIT;
		Vexil__V1__Environment *out;
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		if ((rc = vx_get_environment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_env);
	}
	if (strcmp(verb, "delete") == 0) {
		Vexil__V1__DeleteEnvironmentRequest in = VEXIL__V1__DELETE_ENVIRONMENT_REQUEST__INIT;
		Vexil__V1__Empty *out;
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		if ((rc = vx_delete_environment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	fprintf(stderr, "vexilctl: unknown command: env %s\n", verb);
	return 2;
}

static int
parse_type(const char *s, Vexil__V1__FlagType *t)
{
	static const char *const names[] = {"boolean", "string", "number", "json"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*t = (Vexil__V1__FlagType)i;
			return 0;
		}
	}
	fprintf(stderr, "vexilctl: --type must be boolean, string, number or json\n");
	return -1;
}

/*
 * flag require|unrequire --project P KEY --env E PARENT [--when on|off]
 * [--variant V ...]: adds (or replaces) or removes the prerequisite on
 * PARENT in one environment. The flag is read, and its whole list for that
 * environment written back with UpdateFlagEnv; vexild checks the result
 * (parents of the project, no cycle) as for any write.
 */
static int
cmd_flag_require(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "env", "when", "variant", NULL};
	Vexil__V1__GetFlagRequest gin = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__Prerequisite mine = VEXIL__V1__PREREQUISITE__INIT;
	Vexil__V1__Prerequisite *list[VX_EVAL_PREREQ_MAX + 1];
	Vexil__V1__Flag *f = NULL, *out;
	const Vexil__V1__FlagEnvConfig *cur = NULL;
	char *mask[] = {"prerequisites"}, *vals[MAX_ARGS];
	bool add = strcmp(verb, "require") == 0;
	const char *project, *when = opt(a, "when");
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (project = need_opt(a, "project")) == NULL ||
	    (cfg.environment = (char *)need_opt(a, "env")) == NULL ||
	    need_pos(a, 2, "KEY PARENT") != 0)
		return 2;
	if (when != NULL && strcmp(when, "on") != 0 && strcmp(when, "off") != 0) {
		fprintf(stderr, "vexilctl: --when must be on or off\n");
		return 2;
	}
	mine.flag_key = (char *)a->pos[1];
	mine.when_off = when != NULL && strcmp(when, "off") == 0;
	mine.variants = vals;
	mine.n_variants = opts(a, "variant", vals);
	gin.project = (char *)project;
	gin.key = (char *)a->pos[0];
	if ((rc = vx_get_flag(c, &gin, &f, &st)) != 0)
		return fail(rc, &st);
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, cfg.environment) == 0)
			cur = f->envs[i];
	for (size_t i = 0; cur != NULL && i < cur->n_prerequisites; i++)
		if (strcmp(cur->prerequisites[i]->flag_key, mine.flag_key) != 0 &&
		    cfg.n_prerequisites < VX_EVAL_PREREQ_MAX)
			list[cfg.n_prerequisites++] = cur->prerequisites[i];
	if (add)
		list[cfg.n_prerequisites++] = &mine;
	cfg.prerequisites = list;
	in.project = (char *)project;
	in.key = (char *)a->pos[0];
	in.update = &cfg;
	in.update_mask = mask;
	in.n_update_mask = 1;
	rc = vx_update_flag_env(c, &in, &out, &st);
	vx_free(f);
	if (rc != 0)
		return fail(rc, &st);
	return done(a, out, human_flag);
}

static int
cmd_flag(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "name", "description", "type", "variant",
		"tag", "owner", "env", "limit", "offset", NULL};
	const char *project;
	char *tags[MAX_ARGS], *vals[MAX_ARGS];
	vx_status st;
	int rc;

	if (strcmp(verb, "require") == 0 || strcmp(verb, "unrequire") == 0)
		return cmd_flag_require(c, verb, a);
	if (only_opts(a, known) != 0 || (project = need_opt(a, "project")) == NULL)
		return 2;
	if (strcmp(verb, "create") == 0) {
		Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
		Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
		Vexil__V1__Variant vs[MAX_ARGS], *vp[MAX_ARGS];
		size_t nv;
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		f.key = (char *)a->pos[0];
		f.name = (char *)(opt(a, "name") ? opt(a, "name") : "");
		f.description = (char *)(opt(a, "description") ? opt(a, "description") : "");
		f.owner = (char *)(opt(a, "owner") ? opt(a, "owner") : "");
		if (has_opt(a, "type") && parse_type(opt(a, "type"), &f.type) != 0)
			return 2;
		f.n_tags = opts(a, "tag", tags);
		f.tags = tags;
		nv = opts(a, "variant", vals);
		for (size_t i = 0; i < nv; i++) {
			char *eq = strchr(vals[i], '=');
			if (eq == NULL) {
				fprintf(stderr, "vexilctl: --variant takes KEY=JSON, got %s\n",
				    vals[i]);
				return 2;
			}
			*eq = '\0';
			vexil__v1__variant__init(&vs[i]);
			vs[i].key = vals[i];
			vs[i].value = eq + 1;
			vp[i] = &vs[i];
		}
		f.variants = vp;
		f.n_variants = nv;
		in.project = (char *)project;
		in.flag = &f;
		if ((rc = vx_create_flag(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_flag);
	}
	if (strcmp(verb, "get") == 0) {
		Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
		Vexil__V1__Flag *out;
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		if ((rc = vx_get_flag(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_flag);
	}
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
		Vexil__V1__FlagList *out;
		if (need_pos(a, 0, "") != 0 || opt_u32(a, "limit", UINT32_MAX, &in.limit) != 0 ||
		    opt_u32(a, "offset", UINT32_MAX, &in.offset) != 0)
			return 2;
		in.project = (char *)project;
		in.tag = (char *)(opt(a, "tag") ? opt(a, "tag") : "");
		if ((rc = vx_list_flags(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_flags; i++)
				print_flag(out->flags[i], false);
		return done(a, out, NULL);
	}
	if (strcmp(verb, "update") == 0) {
		Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
		Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *out;
		char *mask[8];
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		in.update = &upd;
		in.update_mask = mask;
		if (has_opt(a, "name")) {
			upd.name = (char *)opt(a, "name");
			mask[in.n_update_mask++] = "name";
		}
		if (has_opt(a, "description")) {
			upd.description = (char *)opt(a, "description");
			mask[in.n_update_mask++] = "description";
		}
		if (has_opt(a, "owner")) {
			upd.owner = (char *)opt(a, "owner");
			mask[in.n_update_mask++] = "owner";
		}
		if (has_opt(a, "tag")) {
			upd.n_tags = opts(a, "tag", tags);
			upd.tags = tags;
			mask[in.n_update_mask++] = "tags";
		}
		if ((rc = vx_update_flag(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_flag);
	}
	if (strcmp(verb, "delete") == 0) {
		Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
		Vexil__V1__Empty *out;
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		if ((rc = vx_delete_flag(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	if (strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0) {
		Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
		Vexil__V1__Flag *out;
		if (need_pos(a, 1, "KEY") != 0 || (in.environment = (char *)need_opt(a, "env")) == NULL)
			return 2;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		in.enabled = strcmp(verb, "enable") == 0;
		if ((rc = vx_set_flag_enabled(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_flag);
	}
	if (strcmp(verb, "rollout") == 0) {
		Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
		Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
		Vexil__V1__Flag *out;
		char *mask[] = {"rollout_percentage"};
		uint64_t pct;
		if (need_pos(a, 2, "KEY PERCENT") != 0 || (cfg.environment = (char *)need_opt(a, "env")) == NULL)
			return 2;
		if (vx_parse_u64(a->pos[1], &pct) != 0 || pct > 100) {
			fprintf(stderr, "vexilctl: PERCENT must be 0..100\n");
			return 2;
		}
		cfg.rollout_percentage = (uint32_t)pct;
		in.project = (char *)project;
		in.key = (char *)a->pos[0];
		in.update = &cfg;
		in.update_mask = mask;
		in.n_update_mask = 1;
		if ((rc = vx_update_flag_env(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_flag);
	}
	fprintf(stderr, "vexilctl: unknown command: flag %s\n", verb);
	return 2;
}

static void
print_rule(const Vexil__V1__Rule *r)
{
	printf("%-6llu prio %-4d %-8s", (unsigned long long)r->id, r->priority,
	    r->enabled ? "enabled" : "disabled");
	for (size_t i = 0; i < r->n_conditions; i++) {
		printf(" %s%s%s %s ", r->conditions[i]->missing ? "?" : "",
		    r->conditions[i]->negate ? "!" : "", r->conditions[i]->attribute,
		    r->conditions[i]->operator_);
		for (size_t j = 0; j < r->conditions[i]->n_values; j++)
			printf("%s%s", j ? "," : "", r->conditions[i]->values[j]);
	}
	for (size_t i = 0; i < r->n_segments; i++)
		printf(" segment %s", r->segments[i]);
	if (r->rollout)
		printf(" rollout %u%%", r->rollout->percentage);
	if (r->n_split) {
		printf(" => split");
		for (size_t i = 0; i < r->n_split; i++)
			printf(" %s=%u", r->split[i]->variant, r->split[i]->weight);
	} else {
		printf(" => %s", r->variant);
	}
	printf("\n");
}

static void
human_rule(const void *m)
{
	print_rule(m);
}

/*
 * Parses "[?][!]ATTR OP V1,V2" in place: ! negates, ? makes the condition
 * hold when the context lacks the attribute (Condition.missing).
 */
static int
parse_cond(char *text, Vexil__V1__Condition *c, char **vals, size_t cap)
{
	char *save = NULL, *attr, *op, *rest;

	vexil__v1__condition__init(c);
	for (;; text++) {
		if (*text == '!' && !c->negate)
			c->negate = true;
		else if (*text == '?' && !c->missing)
			c->missing = true;
		else
			break;
	}
	attr = strtok_r(text, " ", &save);
	op = strtok_r(NULL, " ", &save);
	rest = strtok_r(NULL, "", &save);
	if (attr == NULL || op == NULL || rest == NULL) {
		fprintf(stderr, "vexilctl: --cond takes '[?][!]ATTR OP V1,V2'\n");
		return -1;
	}
	c->attribute = attr;
	c->operator_ = op;
	c->values = vals;
	for (char *v = strtok_r(rest, ",", &save); v && c->n_values < cap;
	     v = strtok_r(NULL, ",", &save))
		vals[c->n_values++] = v;
	return 0;
}

static int
cmd_rule(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "env", "cond", "variant", "split",
	    "priority", "rollout", "stickiness", "name", "disabled", "segment", NULL};
	const char *project;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (project = need_opt(a, "project")) == NULL)
		return 2;
	if (strcmp(verb, "add") == 0) {
		Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
		Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out;
		Vexil__V1__Condition conds[16], *cp[16];
		Vexil__V1__Rollout ro = VEXIL__V1__ROLLOUT__INIT;
		Vexil__V1__WeightedVariant wv[16], *wp[16];
		char *texts[MAX_ARGS], *vals[16][64], *split, *save = NULL,
		                                              *segs[MAX_ARGS];
		size_t n;
		uint64_t num;

		if (need_pos(a, 1, "KEY") != 0 || (in.environment = (char *)need_opt(a, "env")) == NULL)
			return 2;
		n = opts(a, "cond", texts);
		if (n > 16) {
			fprintf(stderr, "vexilctl: at most 16 --cond\n");
			return 2;
		}
		for (size_t i = 0; i < n; i++) {
			if (parse_cond(texts[i], &conds[i], vals[i], 64) != 0)
				return 2;
			cp[i] = &conds[i];
		}
		r.conditions = cp;
		r.n_conditions = n;
		r.segments = segs;
		r.n_segments = opts(a, "segment", segs);
		r.enabled = !has_opt(a, "disabled");
		r.name = (char *)(opt(a, "name") ? opt(a, "name") : "");
		r.variant = (char *)(opt(a, "variant") ? opt(a, "variant") : "");
		if (has_opt(a, "priority")) {
			char *end;
			long p = strtol(opt(a, "priority"), &end, 10);
			if (*end || p < -1000000 || p > 1000000) {
				fprintf(stderr, "vexilctl: --priority must be a number\n");
				return 2;
			}
			r.priority = (int32_t)p;
		}
		if (has_opt(a, "rollout")) {
			if (opt_u32(a, "rollout", 100, &ro.percentage) != 0)
				return 2;
			ro.stickiness = (char *)(opt(a, "stickiness") ? opt(a, "stickiness") : "");
			r.rollout = &ro;
		}
		if ((split = (char *)opt(a, "split")) != NULL) {
			for (char *it = strtok_r(split, ",", &save); it && r.n_split < 16;
			     it = strtok_r(NULL, ",", &save)) {
				char *eq = strchr(it, '=');
				if (eq == NULL || vx_parse_u64(eq + 1, &num) != 0 || num > 10000) {
					fprintf(stderr, "vexilctl: --split takes V=WEIGHT,...\n");
					return 2;
				}
				*eq = '\0';
				vexil__v1__weighted_variant__init(&wv[r.n_split]);
				wv[r.n_split].variant = it;
				wv[r.n_split].weight = (uint32_t)num;
				wp[r.n_split] = &wv[r.n_split];
				r.n_split++;
			}
			r.split = wp;
		}
		in.project = (char *)project;
		in.flag_key = (char *)a->pos[0];
		in.rule = &r;
		if ((rc = vx_create_rule(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_rule);
	}
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListRulesRequest in = VEXIL__V1__LIST_RULES_REQUEST__INIT;
		Vexil__V1__RuleList *out;
		if (need_pos(a, 1, "KEY") != 0 || (in.environment = (char *)need_opt(a, "env")) == NULL)
			return 2;
		in.project = (char *)project;
		in.flag_key = (char *)a->pos[0];
		if ((rc = vx_list_rules(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_rules; i++)
				print_rule(out->rules[i]);
		return done(a, out, NULL);
	}
	if (strcmp(verb, "remove") == 0) {
		Vexil__V1__RuleRef in = VEXIL__V1__RULE_REF__INIT;
		Vexil__V1__Empty *out;
		if (need_pos(a, 2, "KEY ID") != 0)
			return 2;
		if (vx_parse_u64(a->pos[1], &in.rule_id) != 0) {
			fprintf(stderr, "vexilctl: ID must be a number\n");
			return 2;
		}
		in.project = (char *)project;
		in.flag_key = (char *)a->pos[0];
		in.environment = (char *)(opt(a, "env") ? opt(a, "env") : "");
		if ((rc = vx_delete_rule(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	fprintf(stderr, "vexilctl: unknown command: rule %s\n", verb);
	return 2;
}

/* Variants change through UpdateFlag with the whole new list. */
static void
print_segment(const Vexil__V1__Segment *g, bool detail)
{
	printf("%-32s %zu conditions  %s\n", g->name, g->n_conditions, g->description);
	if (!detail)
		return;
	for (size_t i = 0; i < g->n_conditions; i++) {
		const Vexil__V1__Condition *k = g->conditions[i];
		printf("  %s%s%s %s ", k->missing ? "?" : "", k->negate ? "!" : "",
		    k->attribute, k->operator_);
		for (size_t j = 0; j < k->n_values; j++)
			printf("%s%s", j ? "," : "", k->values[j]);
		printf("\n");
	}
}

static void
human_segment(const void *m)
{
	print_segment(m, true);
}

static void
human_segments(const void *m)
{
	const Vexil__V1__SegmentList *l = m;
	for (size_t i = 0; i < l->n_segments; i++)
		print_segment(l->segments[i], false);
}

/*
 * segment create|update --project P NAME [--description D] [--cond C ...]
 * segment list --project P | get --project P NAME | delete --project P NAME
 * An update replaces the conditions when --cond is given.
 */
static int
cmd_segment(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "description", "cond", NULL};
	Vexil__V1__Segment g = VEXIL__V1__SEGMENT__INIT;
	Vexil__V1__Condition conds[16], *cp[16];
	char *texts[MAX_ARGS], *vals[16][64];
	const char *project;
	vx_status st;
	size_t n;
	int rc;

	if (only_opts(a, known) != 0 || (project = need_opt(a, "project")) == NULL)
		return 2;
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListSegmentsRequest in =
		    VEXIL__V1__LIST_SEGMENTS_REQUEST__INIT;
		Vexil__V1__SegmentList *out;
		in.project = (char *)project;
		if ((rc = vx_list_segments(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_segments);
	}
	if (need_pos(a, 1, "NAME") != 0)
		return 2;
	if (strcmp(verb, "get") == 0) {
		Vexil__V1__GetSegmentRequest in = VEXIL__V1__GET_SEGMENT_REQUEST__INIT;
		Vexil__V1__Segment *out;
		in.project = (char *)project;
		in.name = (char *)a->pos[0];
		if ((rc = vx_get_segment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_segment);
	}
	if (strcmp(verb, "delete") == 0) {
		Vexil__V1__DeleteSegmentRequest in =
		    VEXIL__V1__DELETE_SEGMENT_REQUEST__INIT;
		Vexil__V1__Empty *out;
		in.project = (char *)project;
		in.name = (char *)a->pos[0];
		if ((rc = vx_delete_segment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	if (strcmp(verb, "create") != 0 && strcmp(verb, "update") != 0) {
		fprintf(stderr, "vexilctl: unknown command: segment %s\n", verb);
		return 2;
	}
	if ((n = opts(a, "cond", texts)) > 16) {
		fprintf(stderr, "vexilctl: at most 16 --cond\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_cond(texts[i], &conds[i], vals[i], 64) != 0)
			return 2;
		cp[i] = &conds[i];
	}
	g.name = (char *)a->pos[0];
	g.description = (char *)(opt(a, "description") ? opt(a, "description") : "");
	g.conditions = cp;
	g.n_conditions = n;
	if (strcmp(verb, "create") == 0) {
		Vexil__V1__CreateSegmentRequest in =
		    VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;
		Vexil__V1__Segment *out;
		in.project = (char *)project;
		in.segment = &g;
		if ((rc = vx_create_segment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_segment);
	} else {
		Vexil__V1__UpdateSegmentRequest in =
		    VEXIL__V1__UPDATE_SEGMENT_REQUEST__INIT;
		Vexil__V1__Segment *out;
		char *mask[2];
		in.project = (char *)project;
		in.name = (char *)a->pos[0];
		in.update = &g;
		in.update_mask = mask;
		if (has_opt(a, "description"))
			mask[in.n_update_mask++] = "description";
		if (n > 0)
			mask[in.n_update_mask++] = "conditions";
		if ((rc = vx_update_segment(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_segment);
	}
}

static int
cmd_variant(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", NULL};
	Vexil__V1__GetFlagRequest g = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f, upd = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Variant nv = VEXIL__V1__VARIANT__INIT, **list;
	char *mask[] = {"variants"};
	vx_status st;
	size_t n = 0;
	int rc;

	if (only_opts(a, known) != 0 || (g.project = (char *)need_opt(a, "project")) == NULL)
		return 2;
	if (a->npos < 1) {
		fprintf(stderr, "vexilctl: missing KEY\n");
		return 2;
	}
	g.key = (char *)a->pos[0];
	if (strcmp(verb, "list") == 0) {
		if (need_pos(a, 1, "KEY") != 0)
			return 2;
		if ((rc = vx_get_flag(c, &g, &f, &st)) != 0)
			return fail(rc, &st);
		if (a->json) {
			printf("[");
			for (size_t i = 0; i < f->n_variants; i++) {
				cJSON *j = vx_pb_to_json(&f->variants[i]->base);
				char *t = j ? cJSON_PrintUnformatted(j) : NULL;
				printf("%s%s", i ? "," : "", t ? t : "null");
				free(t);
				cJSON_Delete(j);
			}
			printf("]\n");
		} else {
			for (size_t i = 0; i < f->n_variants; i++)
				printf("%-16s %s\n", f->variants[i]->key, f->variants[i]->value);
		}
		vx_free(f);
		return 0;
	}
	bool add = strcmp(verb, "add") == 0;
	if (!add && strcmp(verb, "remove") != 0) {
		fprintf(stderr, "vexilctl: unknown command: variant %s\n", verb);
		return 2;
	}
	if (need_pos(a, add ? 3 : 2, add ? "KEY VKEY JSON" : "KEY VKEY") != 0)
		return 2;
	if ((rc = vx_get_flag(c, &g, &f, &st)) != 0)
		return fail(rc, &st);
	list = calloc(f->n_variants + 1, sizeof(*list));
	if (list == NULL) {
		vx_free(f);
		return 1;
	}
	for (size_t i = 0; i < f->n_variants; i++)
		if (add || strcmp(f->variants[i]->key, a->pos[1]) != 0)
			list[n++] = f->variants[i];
	if (!add && n == f->n_variants) {
		fprintf(stderr, "vexilctl: flag %s has no variant %s\n", f->key, a->pos[1]);
		free(list);
		vx_free(f);
		return 1;
	}
	if (add) {
		nv.key = (char *)a->pos[1];
		nv.value = (char *)a->pos[2];
		list[n++] = &nv;
	}
	upd.variants = list;
	upd.n_variants = n;
	up.project = g.project;
	up.key = g.key;
	up.update = &upd;
	up.update_mask = mask;
	up.n_update_mask = 1;
	rc = vx_update_flag(c, &up, &out, &st);
	free(list);
	vx_free(f);
	if (rc != 0)
		return fail(rc, &st);
	return done(a, out, human_flag);
}

static void
human_key(const void *m)
{
	const Vexil__V1__CreatedApiKey *k = m;
	printf("id %llu, role %s: %s\n", (unsigned long long)k->key->id,
	    vx_role_name(k->key->role), k->secret);
}

static int
cmd_key(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "role", NULL};
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0)
		return 2;
	if (strcmp(verb, "create") == 0) {
		Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
		Vexil__V1__CreatedApiKey *out;
		const char *role;
		if (need_pos(a, 1, "NAME") != 0 || (role = need_opt(a, "role")) == NULL)
			return 2;
		if (vx_role_parse(role, &in.role) != 0) {
			fprintf(stderr, "vexilctl: --role must be read, write or admin\n");
			return 2;
		}
		in.name = (char *)a->pos[0];
		in.project = (char *)(opt(a, "project") ? opt(a, "project") : "");
		if ((rc = vx_create_api_key(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_key);
	}
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListApiKeysRequest in = VEXIL__V1__LIST_API_KEYS_REQUEST__INIT;
		Vexil__V1__ApiKeyList *out;
		if (need_pos(a, 0, "") != 0)
			return 2;
		in.project = (char *)(opt(a, "project") ? opt(a, "project") : "");
		if ((rc = vx_list_api_keys(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_keys; i++)
				printf("%-6llu %-16s %-6s project %-6llu %s%s\n",
				    (unsigned long long)out->keys[i]->id, out->keys[i]->prefix,
				    vx_role_name(out->keys[i]->role),
				    (unsigned long long)out->keys[i]->project_id, out->keys[i]->name,
				    out->keys[i]->revoked ? " (revoked)" : "");
		return done(a, out, NULL);
	}
	if (strcmp(verb, "revoke") == 0) {
		Vexil__V1__RevokeApiKeyRequest in = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
		Vexil__V1__Empty *out;
		if (need_pos(a, 1, "ID") != 0)
			return 2;
		if (vx_parse_u64(a->pos[0], &in.id) != 0) {
			fprintf(stderr, "vexilctl: ID must be a number\n");
			return 2;
		}
		if ((rc = vx_revoke_api_key(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	fprintf(stderr, "vexilctl: unknown command: key %s\n", verb);
	return 2;
}

static void
human_sdk_key(const void *m)
{
	const Vexil__V1__CreatedSdkKey *k = m;
	printf("id %llu, environment %s: %s\n", (unsigned long long)k->key->id,
	    *k->key->environment ? k->key->environment : "(any)", k->secret);
}

static int
cmd_sdk_key(vx_client *c, const char *verb, struct args *a)
{
	static const char *const known[] = {"project", "env", NULL};
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0)
		return 2;
	if (strcmp(verb, "create") == 0) {
		Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
		Vexil__V1__CreatedSdkKey *out;
		if (need_pos(a, 0, "") != 0 || (in.project = (char *)need_opt(a, "project")) == NULL)
			return 2;
		in.environment = (char *)(opt(a, "env") ? opt(a, "env") : "");
		if ((rc = vx_create_sdk_key(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_sdk_key);
	}
	if (strcmp(verb, "list") == 0) {
		Vexil__V1__ListSdkKeysRequest in = VEXIL__V1__LIST_SDK_KEYS_REQUEST__INIT;
		Vexil__V1__SdkKeyList *out;
		if (need_pos(a, 0, "") != 0 || (in.project = (char *)need_opt(a, "project")) == NULL)
			return 2;
		if ((rc = vx_list_sdk_keys(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_keys; i++)
				printf("%-6llu %-16s %-16s%s\n", (unsigned long long)out->keys[i]->id,
				    out->keys[i]->prefix,
				    *out->keys[i]->environment ? out->keys[i]->environment : "(any)",
				    out->keys[i]->revoked ? " (revoked)" : "");
		return done(a, out, NULL);
	}
	if (strcmp(verb, "revoke") == 0) {
		Vexil__V1__RevokeSdkKeyRequest in = VEXIL__V1__REVOKE_SDK_KEY_REQUEST__INIT;
		Vexil__V1__Empty *out;
		if (need_pos(a, 1, "ID") != 0)
			return 2;
		if (vx_parse_u64(a->pos[0], &in.id) != 0) {
			fprintf(stderr, "vexilctl: ID must be a number\n");
			return 2;
		}
		if ((rc = vx_revoke_sdk_key(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		return done(a, out, human_ok);
	}
	fprintf(stderr, "vexilctl: unknown command: sdk-key %s\n", verb);
	return 2;
}

static int
cmd_stats(vx_client *c, struct args *a)
{
	static const char *const known[] = {"project", "flag", "env", "days", NULL};
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "days", 3660, &in.days) != 0)
		return 2;
	in.flag_key = (char *)(opt(a, "flag") ? opt(a, "flag") : "");
	in.environment = (char *)(opt(a, "env") ? opt(a, "env") : "");
	if ((rc = vx_get_eval_counts(c, &in, &out, &st)) != 0)
		return fail(rc, &st);
	if (!a->json) {
		for (size_t i = 0; i < out->n_counts; i++) {
			time_t t = (time_t)out->counts[i]->day * 86400;
			struct tm tm;
			char day[16];
			gmtime_r(&t, &tm);
			strftime(day, sizeof(day), "%Y-%m-%d", &tm);
			printf("%s %-10s %-14s %-32s %-12s %llu\n", day, out->counts[i]->kind,
			    out->counts[i]->environment, out->counts[i]->flag_key,
			    out->counts[i]->variant, (unsigned long long)out->counts[i]->count);
		}
		if (out->dropped)
			printf("(%llu records dropped since vexild started)\n",
			    (unsigned long long)out->dropped);
	}
	return done(a, out, NULL);
}

static int
cmd_evals(vx_client *c, struct args *a)
{
	static const char *const known[] = {"project", "limit", NULL};
	Vexil__V1__ListEvalLogRequest in = VEXIL__V1__LIST_EVAL_LOG_REQUEST__INIT;
	Vexil__V1__EvalLog *out;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "limit", 100000, &in.limit) != 0)
		return 2;
	if ((rc = vx_list_eval_log(c, &in, &out, &st)) != 0)
		return fail(rc, &st);
	if (!a->json)
		for (size_t i = 0; i < out->n_records; i++)
			printf("%lld %-14s %-32s %-12s %-16s %s\n", (long long)out->records[i]->time,
			    out->records[i]->environment, out->records[i]->flag_key,
			    out->records[i]->variant, out->records[i]->reason,
			    out->records[i]->user_id);
	return done(a, out, NULL);
}

static int
cmd_backup(vx_client *c, struct args *a)
{
	static const char *const known[] = {NULL};
	Vexil__V1__BackupRequest in = VEXIL__V1__BACKUP_REQUEST__INIT;
	Vexil__V1__BackupReply *out;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || need_pos(a, 1, "DIR|FILE.mdb") != 0)
		return 2;
	in.path = (char *)a->pos[0];
	if ((rc = vx_backup(c, &in, &out, &st)) != 0)
		return fail(rc, &st);
	if (!a->json)
		printf("backup written to %s (%llu bytes)\n", out->path,
		    (unsigned long long)out->bytes);
	return done(a, out, NULL);
}

static int
cmd_audit(vx_client *c, struct args *a)
{
	static const char *const known[] = {"project", "limit", NULL};
	Vexil__V1__ListAuditRequest in = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *out;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "limit", 100000, &in.limit) != 0)
		return 2;
	if ((rc = vx_list_audit(c, &in, &out, &st)) != 0)
		return fail(rc, &st);
	if (!a->json)
		for (size_t i = 0; i < out->n_entries; i++)
			printf("%lld rev %-5llu %-16s %-40s %s\n", (long long)out->entries[i]->time,
			    (unsigned long long)out->entries[i]->revision, out->entries[i]->actor,
			    out->entries[i]->method, out->entries[i]->target);
	return done(a, out, NULL);
}

/*
 * --ctx ATTR=VALUE: user_id, email, country and ip are the well-known
 * attributes; groups takes a comma-separated list; any other attribute is a
 * number, true/false, or else a string.
 */
static int
build_ctx(const struct args *a, Vexil__V1__EvalContext *ctx,
    Vexil__V1__EvalContext__AttributesEntry *ents, Vexil__V1__EvalContext__AttributesEntry **eptrs,
    Vexil__V1__AttrValue *vals, Vexil__V1__StringList *lists, char **groups)
{
	char *items[MAX_ARGS];
	size_t n = opts(a, "ctx", items), ng = 0;

	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(items[i], '='), *v, *end;
		if (eq == NULL || eq == items[i]) {
			fprintf(stderr, "vexilctl: --ctx takes ATTR=VALUE, got %s\n", items[i]);
			return -1;
		}
		*eq = '\0';
		v = eq + 1;
		if (strcmp(items[i], "user_id") == 0) {
			ctx->user_id = v;
		} else if (strcmp(items[i], "email") == 0) {
			ctx->email = v;
		} else if (strcmp(items[i], "country") == 0) {
			ctx->country = v;
		} else if (strcmp(items[i], "ip") == 0) {
			ctx->ip = v;
		} else if (strcmp(items[i], "groups") == 0) {
			for (char *g = strtok(v, ","); g && ng < MAX_ARGS; g = strtok(NULL, ","))
				groups[ng++] = g;
			ctx->groups = groups;
			ctx->n_groups = ng;
		} else {
			Vexil__V1__AttrValue *val = &vals[ctx->n_attributes];
			Vexil__V1__EvalContext__AttributesEntry *e = &ents[ctx->n_attributes];
			vexil__v1__attr_value__init(val);
			vexil__v1__eval_context__attributes_entry__init(e);
			double d = strtod(v, &end);
			if (*v && *end == '\0') {
				val->kind_case = VEXIL__V1__ATTR_VALUE__KIND_NUM;
				val->num = d;
			} else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
				val->kind_case = VEXIL__V1__ATTR_VALUE__KIND_FLAG;
				val->flag = v[0] == 't';
			} else if (strchr(v, ',') != NULL) {
				Vexil__V1__StringList *l = &lists[ctx->n_attributes];
				vexil__v1__string_list__init(l);
				l->items = &groups[ng];
				for (char *g = strtok(v, ","); g && ng < MAX_ARGS; g = strtok(NULL, ","))
					groups[ng++] = g, l->n_items++;
				val->kind_case = VEXIL__V1__ATTR_VALUE__KIND_LIST;
				val->list = l;
			} else {
				val->kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
				val->str = v;
			}
			e->key = items[i];
			e->value = val;
			eptrs[ctx->n_attributes++] = e;
		}
	}
	ctx->attributes = eptrs;
	return 0;
}

static void
print_result(const Vexil__V1__EvaluationResult *r)
{
	printf("%-32s %-12s %-16s %s", r->flag_key, r->variant, r->reason, r->value);
	if (*r->prerequisite)
		printf(" (prerequisite %s)", r->prerequisite);
	printf("\n");
}

static int
cmd_eval(vx_client *c, struct args *a)
{
	static const char *const known[] = {"project", "env", "ctx", "all", NULL};
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvalContext__AttributesEntry ents[MAX_ARGS], *eptrs[MAX_ARGS];
	Vexil__V1__AttrValue vals[MAX_ARGS];
	Vexil__V1__StringList lists[MAX_ARGS];
	char *groups[MAX_ARGS];
	const char *project, *env;
	vx_status st;
	int rc;

	if (only_opts(a, known) != 0 || (project = need_opt(a, "project")) == NULL ||
	    (env = need_opt(a, "env")) == NULL || build_ctx(a, &ctx, ents, eptrs, vals, lists, groups) != 0)
		return 2;
	if (has_opt(a, "all")) {
		Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
		Vexil__V1__EvaluationList *out;
		if (need_pos(a, 0, "") != 0)
			return 2;
		in.project = (char *)project;
		in.environment = (char *)env;
		in.context = &ctx;
		if ((rc = vx_evaluate_all(c, &in, &out, &st)) != 0)
			return fail(rc, &st);
		if (!a->json)
			for (size_t i = 0; i < out->n_results; i++)
				print_result(out->results[i]);
		return done(a, out, NULL);
	}
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvaluationResult *out;
	if (need_pos(a, 1, "KEY") != 0)
		return 2;
	in.project = (char *)project;
	in.environment = (char *)env;
	in.flag_key = (char *)a->pos[0];
	in.context = &ctx;
	if ((rc = vx_evaluate(c, &in, &out, &st)) != 0)
		return fail(rc, &st);
	if (!a->json)
		print_result(out);
	return done(a, out, NULL);
}

static void
print_change(void *arg, const Vexil__V1__Change *c, const Vexil__V1__Flag *flag)
{
	const struct args *a = arg;
	const ProtobufCEnumValue *kind =
	    protobuf_c_enum_descriptor_get_value(&vexil__v1__change_kind__descriptor, (int)c->kind);
	const char *kname = c->kind == VEXIL__V1__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED
	    ? "RESYNC" : (kind ? kind->name : "UNKNOWN");

	if (a->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "revision", (double)c->revision);
		cJSON_AddNumberToObject(o, "project_id", (double)c->project_id);
		cJSON_AddStringToObject(o, "kind", kname);
		cJSON_AddStringToObject(o, "flag_key", c->flag_key ? c->flag_key : "");
		cJSON_AddStringToObject(o, "environment", c->environment ? c->environment : "");
		cJSON_AddItemToObject(o, "entity", flag ? vx_pb_to_json(&flag->base) : cJSON_CreateNull());
		char *t = cJSON_PrintUnformatted(o);
		if (t)
			printf("%s\n", t);
		free(t);
		cJSON_Delete(o);
	} else {
		printf("rev %-8llu %-22s %s%s%s\n", (unsigned long long)c->revision, kname,
		    c->flag_key ? c->flag_key : "", c->environment && *c->environment ? " " : "",
		    c->environment ? c->environment : "");
	}
	fflush(stdout);
}

/* Runs until SIGINT or SIGTERM, riding out vexild restarts. */
static int
cmd_watch(const char *rpc, const char *pub, const char *key, const char *tls_ca,
    struct args *a)
{
	static const char *const known[] = {"project", NULL};
	vx_watch_opts o = {0};
	vx_watch *w;
	vx_status st;
	sigset_t set;
	int sig, rc;

	if (only_opts(a, known) != 0 || need_pos(a, 0, "") != 0)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	o.rpc_url = rpc;
	o.pub_url = pub;
	o.credential = key;
	o.tls_ca = tls_ca;
	o.project = opt(a, "project") ? opt(a, "project") : "default";
	o.on_change = print_change;
	o.arg = a;
	if ((rc = vx_watch_start(&w, &o, &st)) != 0)
		return fail(rc, &st);
	sigwait(&set, &sig);
	vx_watch_stop(w);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *url = getenv("VEXIL_RPC"), *key = getenv("VEXIL_KEY");
	const char *pub = getenv("VEXIL_PUB"), *tls_ca = NULL;
	vx_client_opts co = {0};
	vx_status st;
	vx_client *c;
	struct args a;
	uint64_t t;
	int i = 1, rc;

	if (url == NULL || *url == '\0')
		url = "tcp://127.0.0.1:7311";
	if (pub == NULL || *pub == '\0')
		pub = "tcp://127.0.0.1:7312";
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "vexilctl: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--rpc") == 0) {
			url = argv[i + 1];
		} else if (strcmp(argv[i], "--pub") == 0) {
			pub = argv[i + 1];
		} else if (strcmp(argv[i], "--key") == 0) {
			key = argv[i + 1];
		} else if (strcmp(argv[i], "--tls-ca") == 0) {
			tls_ca = argv[i + 1];
		} else if (strcmp(argv[i], "--timeout") == 0) {
			if (vx_parse_u64(argv[i + 1], &t) != 0 || t == 0 || t > 3600000) {
				fprintf(stderr, "vexilctl: --timeout takes milliseconds\n");
				return 2;
			}
			co.timeout_ms = (int)t;
		} else {
			fprintf(stderr, "vexilctl: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *noun = argv[i++];
	bool verbless = strcmp(noun, "audit") == 0 || strcmp(noun, "eval") == 0 ||
	    strcmp(noun, "stats") == 0 || strcmp(noun, "evals") == 0 ||
	    strcmp(noun, "watch") == 0 || strcmp(noun, "backup") == 0;
	const char *verb = verbless ? "" : (i < argc ? argv[i++] : NULL);
	if (verb == NULL) {
		fprintf(stderr, "vexilctl: %s needs a command\n", noun);
		return 2;
	}
	if (parse_args(argc - i, argv + i, &a) != 0)
		return 2;
	if (key == NULL || *key == '\0') {
		fprintf(stderr, "vexilctl: no API key: pass --key or set VEXIL_KEY\n");
		return 2;
	}
	co.credential = key;
	co.tls_ca = tls_ca;
	co.status = &st;
	if (strcmp(noun, "watch") == 0)
		return cmd_watch(url, pub, key, tls_ca, &a);
	if ((rc = vx_client_open(&c, url, &co)) != 0) {
		fprintf(stderr, "vexilctl: cannot use %s: %s\n", url, st.message);
		return 1;
	}
	if (strcmp(noun, "project") == 0)
		rc = cmd_project(c, verb, &a);
	else if (strcmp(noun, "env") == 0)
		rc = cmd_env(c, verb, &a);
	else if (strcmp(noun, "flag") == 0)
		rc = cmd_flag(c, verb, &a);
	else if (strcmp(noun, "key") == 0)
		rc = cmd_key(c, verb, &a);
	else if (strcmp(noun, "audit") == 0)
		rc = cmd_audit(c, &a);
	else if (strcmp(noun, "eval") == 0)
		rc = cmd_eval(c, &a);
	else if (strcmp(noun, "rule") == 0)
		rc = cmd_rule(c, verb, &a);
	else if (strcmp(noun, "variant") == 0)
		rc = cmd_variant(c, verb, &a);
	else if (strcmp(noun, "segment") == 0)
		rc = cmd_segment(c, verb, &a);
	else if (strcmp(noun, "sdk-key") == 0)
		rc = cmd_sdk_key(c, verb, &a);
	else if (strcmp(noun, "stats") == 0)
		rc = cmd_stats(c, &a);
	else if (strcmp(noun, "evals") == 0)
		rc = cmd_evals(c, &a);
	else if (strcmp(noun, "backup") == 0)
		rc = cmd_backup(c, &a);
	else {
		fprintf(stderr, "vexilctl: unknown command %s\n", noun);
		rc = 2;
	}
	vx_client_close(c);
	return rc;
}
