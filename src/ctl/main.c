/*
 * Vexil — vexilctl, the command line built on libvexil.
 *
 *   vexilctl [--rpc URL] [--key KEY] [--timeout MS] NOUN [VERB] [ARGS] [--json]
 *
 * Every command is one row of `commands` (at the bottom): its noun and verb,
 * its usage, the options it takes and its handler. Parsing, --help,
 * `vexilctl help`, and the suggestions for a mistyped command or option all
 * come from that table, so a new command is a handler and one row. A
 * handler validates its arguments, makes its calls and prints the reply; it
 * returns the exit status.
 *
 * The forms in the usage lines are a contract scripts rely on. Every failure
 * exits non-zero with one line on stderr: 1 when vexild refused or could not
 * be reached, 2 for a usage error. Times print as RFC 3339 in UTC, tables
 * have a header line, and a flag's environments are listed by key.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "ctl/ctl.h"
#include "vexil.h"
#include "vexil_watch.h"
#include "json/pbjson.h"

#ifndef VX_VERSION
#define VX_VERSION "unknown"
#endif

struct command {
	const char *noun;
	const char *verb; /* NULL when the noun alone is the command */
	const char *args; /* the usage after "vexilctl NOUN [VERB]"; \n continues */
	/* The options it takes, space-separated; a trailing '=' marks one
	 * that takes a value. --json and --help are always accepted. */
	const char *opts;
	int (*run)(struct cli *s, struct args *a);
	const char *summary;
};

/* The options of vexilctl itself, before the command or among its own. */
static const char globals[] = "rpc= pub= key= timeout= tls-ca=";

static const struct command commands[];

/* ---- the command line ---- */

/* Whether spec lists the option name[0..len), and whether it takes a value. */
static bool
spec_has(const char *spec, const char *name, size_t len, bool *value)
{
	for (const char *p = spec; *p;) {
		size_t n = strcspn(p, " ");
		size_t k = n && p[n - 1] == '=' ? n - 1 : n;
		if (k == len && strncmp(p, name, len) == 0) {
			*value = k != n;
			return true;
		}
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* Levenshtein distance, for suggestions; long words count as far. */
static size_t
distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[48], prev, tmp;

	if (la >= 48 || lb >= 48)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = row[j] + 1;
			tmp = row[j];
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (prev + (a[i - 1] != b[j - 1]) < best)
				best = prev + (a[i - 1] != b[j - 1]);
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* Keeps in *best the candidate closest to word, if it is close enough. */
static void
closer(const char *word, size_t len, const char *cand, size_t clen, const char **best,
    size_t *best_len, size_t *best_d)
{
	size_t d = distance(word, len, cand, clen);

	if (d < *best_d && d < len && (d <= 2 || d <= len / 3)) {
		*best = cand;
		*best_len = clen;
		*best_d = d;
	}
}

/* The option of spec (or --json, --help) closest to name, into out. */
static bool
closest_option(const char *spec, const char *name, size_t len, char *out, size_t cap)
{
	const char *best = NULL;
	size_t best_len = 0, best_d = SIZE_MAX;

	closer(name, len, "json", 4, &best, &best_len, &best_d);
	closer(name, len, "help", 4, &best, &best_len, &best_d);
	for (const char *p = spec; *p;) {
		size_t n = strcspn(p, " ");
		closer(name, len, p, n && p[n - 1] == '=' ? n - 1 : n, &best, &best_len,
		    &best_d);
		p += n;
		p += strspn(p, " ");
	}
	if (best == NULL)
		return false;
	snprintf(out, cap, "%.*s", (int)best_len, best);
	return true;
}

static void
print_name(FILE *to, const struct command *cmd)
{
	fprintf(
	    to, "%s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

static void
unknown_option(const struct command *cmd, const char *name, size_t len)
{
	char near[48];

	fprintf(stderr, "vexilctl: unknown option --%.*s", (int)len, name);
	if (cmd) {
		fputs(" for ", stderr);
		print_name(stderr, cmd);
	}
	if (closest_option(cmd ? cmd->opts : globals, name, len, near, sizeof(near)) ||
	    (cmd && closest_option(globals, name, len, near, sizeof(near))))
		fprintf(stderr, "; did you mean --%s?", near);
	fputc('\n', stderr);
}

/* Sets a global option; false when name is not one. */
static bool
set_global(struct args *a, const char *name, const char *val)
{
	const char **slot = strcmp(name, "rpc") == 0       ? &a->rpc
	                    : strcmp(name, "pub") == 0     ? &a->pub
	                    : strcmp(name, "key") == 0     ? &a->key
	                    : strcmp(name, "tls-ca") == 0  ? &a->tls_ca
	                    : strcmp(name, "timeout") == 0 ? &a->timeout
	                                                   : NULL;
	if (slot)
		*slot = val;
	return slot != NULL;
}

/*
 * Splits argv into positionals and the options of cmd (NULL: the global
 * options only, and stops at the first positional, the command's noun).
 * Takes --opt VALUE and --opt=VALUE. Returns how many arguments it used, or
 * -1 after a message.
 */
static int
parse_args(const struct command *cmd, int argc, char **argv, struct args *a)
{
	int i;

	for (i = 0; i < argc; i++) {
		char *name = argv[i] + 2, *eq;
		const char *val = NULL;
		size_t len;
		bool takes, global;

		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
			if (cmd == NULL)
				break;
			if (a->npos == MAX_ARGS) {
				fprintf(stderr, "vexilctl: too many arguments\n");
				return -1;
			}
			a->pos[a->npos++] = argv[i];
			continue;
		}
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if (len == 4 && strncmp(name, "json", 4) == 0 && eq == NULL) {
			a->json = true;
			continue;
		}
		global = spec_has(globals, name, len, &takes);
		if (!global && (cmd == NULL || !spec_has(cmd->opts, name, len, &takes))) {
			unknown_option(cmd, name, len);
			return -1;
		}
		if (eq)
			*eq = '\0';
		if (takes) {
			val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
			if (val == NULL) {
				fprintf(stderr, "vexilctl: --%s needs a value\n", name);
				return -1;
			}
		} else if (eq) {
			fprintf(stderr, "vexilctl: --%s takes no value\n", name);
			return -1;
		} else {
			val = "1";
		}
		if (global) {
			set_global(a, name, val);
		} else if (a->nopt == MAX_ARGS) {
			fprintf(stderr, "vexilctl: too many options\n");
			return -1;
		} else {
			a->name[a->nopt] = name;
			a->val[a->nopt++] = val;
		}
	}
	return i;
}

/* The last value of --name, or NULL. */
const char *
opt(const struct args *a, const char *name)
{
	const char *v = NULL;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->name[i], name) == 0)
			v = a->val[i];
	return v;
}

/* The value of --name, or "" when absent. */
char *
opt_or_empty(const struct args *a, const char *name)
{
	const char *v = opt(a, name);
	return (char *)(v ? v : "");
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
int
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

bool
has_opt(const struct args *a, const char *name)
{
	return opt(a, name) != NULL;
}

int
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

/* The id at positional i, which must be the last: -1 after a message. */
int
need_id(const struct args *a, int i, const char *what, uint64_t *out)
{
	if (need_pos(a, i + 1, what) != 0)
		return -1;
	if (vx_parse_u64(a->pos[i], out) != 0) {
		fprintf(stderr, "vexilctl: ID must be a number\n");
		return -1;
	}
	return 0;
}

const char *
need_opt(const struct args *a, const char *name)
{
	const char *v = opt(a, name);
	if (v == NULL)
		fprintf(stderr, "vexilctl: --%s is required\n", name);
	return v;
}

/* The common "--project P KEY": -1 after a message. */
static int
need_project_key(const struct args *a, char **project, char **key)
{
	if ((*project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 1, "KEY") != 0)
		return -1;
	*key = (char *)a->pos[0];
	return 0;
}

int
fail(const vx_status *st)
{
	if (st->field[0])
		fprintf(stderr, "vexilctl: %s: %s (field %s)\n", vx_code_name(st->code),
		    st->message, st->field);
	else
		fprintf(
		    stderr, "vexilctl: %s: %s\n", vx_code_name(st->code), st->message);
	return 1;
}

/* ---- output ---- */

const char *
when(char buf[VX_TIME_LEN], int64_t ms)
{
	if (ms == 0)
		return "-";
	vx_format_time_ms(buf, ms);
	return buf;
}

static const char *
type_name(Vexil__V1__FlagType t)
{
	static const char *const names[] = {"boolean", "string", "number", "json"};
	return (unsigned)t < 4 ? names[t] : "unknown";
}

void
print_json(const void *m)
{
	cJSON *j = vx_pb_to_json(m);
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(j);
}

static int
by_env_key(const void *x, const void *y)
{
	const Vexil__V1__FlagEnvConfig *const *a = x, *const *b = y;
	return strcmp((*a)->environment, (*b)->environment);
}

/* A flag's environments in one order everywhere: by key. */
static void
sort_envs(Vexil__V1__Flag *f)
{
	if (f->n_envs > 1)
		qsort(f->envs, f->n_envs, sizeof(*f->envs), by_env_key);
}

static void
project_header(void)
{
	printf("%-6s %-24s %-8s %s\n", "ID", "NAME", "REVISION", "DESCRIPTION");
}

static void
print_project(const Vexil__V1__Project *p)
{
	printf("%-6llu %-24s %-8llu %s\n", (unsigned long long)p->id, p->name,
	    (unsigned long long)p->revision, p->description);
}

static void
env_header(void)
{
	printf("%-16s %-24s %s\n", "KEY", "NAME", "DESCRIPTION");
}

static void
print_env(const Vexil__V1__Environment *e)
{
	printf("%-16s %-24s %s%s\n", e->key, e->name, e->description,
	    e->protected_ ? " [protected]" : "");
}

static void
flag_header(void)
{
	printf("%-32s %s\n", "KEY", "ENVIRONMENTS");
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
print_flag(Vexil__V1__Flag *f, bool detail)
{
	char c[VX_TIME_LEN], u[VX_TIME_LEN];

	sort_envs(f);
	if (!detail) {
		printf("%-32s", f->key);
		for (size_t i = 0; i < f->n_envs; i++)
			printf(" %s=%s", f->envs[i]->environment,
			    f->envs[i]->enabled ? "on" : "off");
		printf("\n");
		return;
	}
	printf("key:         %s\nid:          %llu\nname:        %s\ndescription: %s\n"
	       "type:        %s\ncreated:     %s\nupdated:     %s\n",
	    f->key, (unsigned long long)f->id, f->name, f->description,
	    type_name(f->type), when(c, f->created_at), when(u, f->updated_at));
	if (f->disabled_serves_default)
		printf("when disabled: the caller's default (no value)\n");
	if (f->no_default_variant)
		printf("when no rule serves: the caller's default (no value), DEFAULT\n");
	else if (f->targeted_default)
		printf("when no rule serves: the default variant, DEFAULT\n");
	if (f->parse_error[0])
		printf("parse error: %s (answers ERROR)\n", f->parse_error);
	for (size_t i = 0; i < f->n_metadata; i++)
		printf("meta %s = %s\n", f->metadata[i]->key, f->metadata[i]->value);
	for (size_t i = 0; i < f->n_variants; i++)
		printf("variant %s = %s\n", f->variants[i]->key, f->variants[i]->value);
	for (size_t i = 0; i < f->n_envs; i++) {
		printf("env %s: %s, rollout %u%%, default %s, off %s, %zu rules\n",
		    f->envs[i]->environment, f->envs[i]->enabled ? "on" : "off",
		    f->envs[i]->rollout_percentage, f->envs[i]->default_variant,
		    f->envs[i]->off_variant, f->envs[i]->n_rules);
		print_prereqs(f->envs[i]);
	}
}

/* Prints a reply (as JSON, or with human when not NULL) and frees it. */
int
done(const struct args *a, void *m, void (*human)(void *))
{
	if (a->json)
		print_json(m);
	else if (human)
		human(m);
	vx_free(m);
	return 0;
}

static void
human_project(void *m)
{
	project_header();
	print_project(m);
}

void
human_env(void *m)
{
	env_header();
	print_env(m);
}

static void
human_flag(void *m)
{
	print_flag(m, true);
}

void
human_ok(void *m)
{
	(void)m;
	printf("ok\n");
}

/* A flag reply, its environments in order. */
static int
flag_done(const struct args *a, Vexil__V1__Flag *f)
{
	sort_envs(f);
	return done(a, f, human_flag);
}

/* ---- projects ---- */

static int
project_create(struct cli *s, struct args *a)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *out;
	vx_status st;

	if (need_pos(a, 1, "NAME") != 0)
		return 2;
	in.name = (char *)a->pos[0];
	in.description = opt_or_empty(a, "description");
	if (vx_create_project(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_project);
}

static int
project_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListProjectsRequest in = VEXIL__V1__LIST_PROJECTS_REQUEST__INIT;
	Vexil__V1__ProjectList *out;
	vx_status st;

	if (need_pos(a, 0, "") != 0)
		return 2;
	if (vx_list_projects(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		project_header();
		for (size_t i = 0; i < out->n_projects; i++)
			print_project(out->projects[i]);
	}
	return done(a, out, NULL);
}

static int
project_get(struct cli *s, struct args *a)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *out;
	vx_status st;

	if (need_pos(a, 1, "project") != 0)
		return 2;
	in.project = (char *)a->pos[0];
	if (vx_get_project(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_project);
}

static int
project_update(struct cli *s, struct args *a)
{
	Vexil__V1__UpdateProjectRequest in = VEXIL__V1__UPDATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project upd = VEXIL__V1__PROJECT__INIT, *out;
	char *mask[2];
	vx_status st;

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
	if (vx_update_project(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_project);
}

static int
project_delete(struct cli *s, struct args *a)
{
	Vexil__V1__DeleteProjectRequest in = VEXIL__V1__DELETE_PROJECT_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;

	if (need_pos(a, 1, "project") != 0)
		return 2;
	in.project = (char *)a->pos[0];
	if (vx_delete_project(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* ---- environments ---- */

static int
env_create(struct cli *s, struct args *a)
{
	Vexil__V1__CreateEnvironmentRequest in =
	    VEXIL__V1__CREATE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment *out;
	vx_status st;
	int rc;

	if (need_project_key(a, &in.project, &in.key) != 0)
		return 2;
	in.name = opt_or_empty(a, "name");
	in.description = opt_or_empty(a, "description");
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.EnvironmentService/CreateEnvironment", &in.base)) >= 0)
		return rc;
	if (vx_create_environment(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_env);
}

static int
by_key(const void *x, const void *y)
{
	const Vexil__V1__Environment *const *a = x, *const *b = y;
	return strcmp((*a)->key, (*b)->key);
}

static int
env_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListEnvironmentsRequest in =
	    VEXIL__V1__LIST_ENVIRONMENTS_REQUEST__INIT;
	Vexil__V1__EnvironmentList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0)
		return 2;
	if (vx_list_environments(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (out->n_environments > 1)
		qsort(out->environments, out->n_environments, sizeof(*out->environments),
		    by_key);
	if (!a->json) {
		env_header();
		for (size_t i = 0; i < out->n_environments; i++)
			print_env(out->environments[i]);
	}
	return done(a, out, NULL);
}

static int
env_get(struct cli *s, struct args *a)
{
	Vexil__V1__GetEnvironmentRequest in = VEXIL__V1__GET_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Environment *out;
	vx_status st;

	if (need_project_key(a, &in.project, &in.key) != 0)
		return 2;
	if (vx_get_environment(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_env);
}

static int
env_delete(struct cli *s, struct args *a)
{
	Vexil__V1__DeleteEnvironmentRequest in =
	    VEXIL__V1__DELETE_ENVIRONMENT_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;
	int rc;

	if (need_project_key(a, &in.project, &in.key) != 0)
		return 2;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.EnvironmentService/DeleteEnvironment", &in.base)) >= 0)
		return rc;
	if (vx_delete_environment(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* ---- flags ---- */

static int
parse_type(const char *s, Vexil__V1__FlagType *t)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, type_name((Vexil__V1__FlagType)i)) == 0) {
			*t = (Vexil__V1__FlagType)i;
			return 0;
		}
	}
	fprintf(stderr, "vexilctl: --type must be boolean, string, number or json\n");
	return -1;
}

/* Splits arg, the value of --name in the form KEY=..., at its first '='.
 * 0, or 2 after saying what is wrong. */
static int
kv_arg(const char *name, const char *form, char *arg, char **key, char **value)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL) {
		fprintf(stderr, "vexilctl: --%s takes %s, got %s\n", name, form, arg);
		return 2;
	}
	*eq = '\0';
	*key = arg;
	*value = eq + 1;
	return 0;
}

/*
 * --meta K=V ... and --when-disabled off|default into f (ents and ep have
 * room for MAX_ARGS). Sets *meta and *disabled when given; 0, or 2 after
 * saying what is wrong.
 */
static int
flag_extras(const struct args *a, Vexil__V1__Flag *f,
    Vexil__V1__Flag__MetadataEntry *ents, Vexil__V1__Flag__MetadataEntry **ep, bool *meta,
    bool *disabled)
{
	char *vals[MAX_ARGS];
	size_t n = opts(a, "meta", vals);

	*meta = has_opt(a, "meta");
	for (size_t i = 0; i < n; i++) {
		vexil__v1__flag__metadata_entry__init(&ents[i]);
		if (kv_arg("meta", "KEY=VALUE", vals[i], &ents[i].key, &ents[i].value) !=
		    0)
			return 2;
		ep[i] = &ents[i];
	}
	f->metadata = ep;
	f->n_metadata = n;
	*disabled = has_opt(a, "when-disabled");
	if (*disabled) {
		const char *w = opt(a, "when-disabled");
		if (strcmp(w, "off") != 0 && strcmp(w, "default") != 0) {
			fprintf(stderr,
			    "vexilctl: --when-disabled takes off (serve the off "
			    "variant) or default (no value: the caller's default), "
			    "got %s\n",
			    w);
			return 2;
		}
		f->disabled_serves_default = strcmp(w, "default") == 0;
	}
	return 0;
}

static int
flag_create(struct cli *s, struct args *a)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Variant vs[MAX_ARGS], *vp[MAX_ARGS];
	char *tags[MAX_ARGS], *vals[MAX_ARGS];
	Vexil__V1__Flag__MetadataEntry ments[MAX_ARGS], *mp[MAX_ARGS];
	bool meta, disabled;
	vx_status st;
	int rc;
	size_t nv;

	if (need_project_key(a, &in.project, &f.key) != 0)
		return 2;
	f.name = opt_or_empty(a, "name");
	f.description = opt_or_empty(a, "description");
	f.owner = opt_or_empty(a, "owner");
	if (has_opt(a, "type") && parse_type(opt(a, "type"), &f.type) != 0)
		return 2;
	f.n_tags = opts(a, "tag", tags);
	f.tags = tags;
	if (flag_extras(a, &f, ments, mp, &meta, &disabled) != 0)
		return 2;
	nv = opts(a, "variant", vals);
	for (size_t i = 0; i < nv; i++) {
		vexil__v1__variant__init(&vs[i]);
		if (kv_arg("variant", "KEY=JSON", vals[i], &vs[i].key, &vs[i].value) != 0)
			return 2;
		vp[i] = &vs[i];
	}
	f.variants = vp;
	f.n_variants = nv;
	in.flag = &f;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.FlagService/CreateFlag", &in.base)) >= 0)
		return rc;
	if (vx_create_flag(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return flag_done(a, out);
}

static int
flag_get(struct cli *s, struct args *a)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	if (need_project_key(a, &in.project, &in.key) != 0)
		return 2;
	if (vx_get_flag(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return flag_done(a, out);
}

static int
flag_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListFlagsRequest in = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "limit", UINT32_MAX, &in.limit) != 0 ||
	    opt_u32(a, "offset", UINT32_MAX, &in.offset) != 0)
		return 2;
	in.tag = opt_or_empty(a, "tag");
	if (vx_list_flags(s->c, &in, &out, &st) != 0)
		return fail(&st);
	for (size_t i = 0; i < out->n_flags; i++)
		sort_envs(out->flags[i]);
	if (!a->json) {
		flag_header();
		for (size_t i = 0; i < out->n_flags; i++)
			print_flag(out->flags[i], false);
	}
	return done(a, out, NULL);
}

static int
flag_update(struct cli *s, struct args *a)
{
	Vexil__V1__UpdateFlagRequest in = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT, *out;
	Vexil__V1__Flag__MetadataEntry ments[MAX_ARGS], *mp[MAX_ARGS];
	char *mask[8], *tags[MAX_ARGS];
	bool meta, disabled;
	vx_status st;
	int rc;

	if (need_project_key(a, &in.project, &in.key) != 0 ||
	    flag_extras(a, &upd, ments, mp, &meta, &disabled) != 0)
		return 2;
	in.update = &upd;
	in.update_mask = mask;
	if (meta)
		mask[in.n_update_mask++] = "metadata";
	if (disabled)
		mask[in.n_update_mask++] = "disabled_serves_default";
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
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.FlagService/UpdateFlag", &in.base)) >= 0)
		return rc;
	if (vx_update_flag(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return flag_done(a, out);
}

static int
flag_delete(struct cli *s, struct args *a)
{
	Vexil__V1__DeleteFlagRequest in = VEXIL__V1__DELETE_FLAG_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;
	int rc;

	if (need_project_key(a, &in.project, &in.key) != 0)
		return 2;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.FlagService/DeleteFlag", &in.base)) >= 0)
		return rc;
	if (vx_delete_flag(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* enable, disable and toggle: one SetFlagEnabled each, so a toggle is atomic. */
static int
set_enabled(struct cli *s, struct args *a, bool enabled, bool toggle)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	char *envs[MAX_ARGS];
	vx_status st;
	int rc;

	/* Every --env (or --env '*': all of them) in one write. */
	if (need_project_key(a, &in.project, &in.key) != 0 || need_opt(a, "env") == NULL)
		return 2;
	in.environments = envs;
	in.n_environments = opts(a, "env", envs);
	for (size_t i = 0; i < in.n_environments; i++)
		if (strcmp(envs[i], "*") == 0)
			in.all_environments = true;
	if (in.all_environments)
		in.n_environments = 0;
	in.enabled = enabled;
	in.toggle = toggle;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.FlagService/SetFlagEnabled", &in.base)) >= 0)
		return rc;
	if (vx_set_flag_enabled(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return flag_done(a, out);
}

static int
flag_enable(struct cli *s, struct args *a)
{
	return set_enabled(s, a, true, false);
}

static int
flag_disable(struct cli *s, struct args *a)
{
	return set_enabled(s, a, false, false);
}

static int
flag_toggle(struct cli *s, struct args *a)
{
	return set_enabled(s, a, false, true);
}

static int
flag_rollout(struct cli *s, struct args *a)
{
	Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__Flag *out;
	char *mask[] = {"rollout_percentage"};
	vx_status st;
	int rc;
	uint64_t pct;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 2, "KEY PERCENT") != 0 ||
	    (cfg.environment = (char *)need_opt(a, "env")) == NULL)
		return 2;
	if (vx_parse_u64(a->pos[1], &pct) != 0 || pct > 100) {
		fprintf(stderr, "vexilctl: PERCENT must be 0..100\n");
		return 2;
	}
	cfg.rollout_percentage = (uint32_t)pct;
	in.key = (char *)a->pos[0];
	in.update = &cfg;
	in.update_mask = mask;
	in.n_update_mask = 1;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.FlagService/UpdateFlagEnv", &in.base)) >= 0)
		return rc;
	if (vx_update_flag_env(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return flag_done(a, out);
}

/* ---- rules ---- */

static void
rule_header(void)
{
	printf("%-6s %-8s %-8s %s\n", "ID", "PRIORITY", "STATE", "CONDITIONS => SERVES");
}

static void
print_rule(const Vexil__V1__Rule *r)
{
	printf("%-6llu %-8d %-8s", (unsigned long long)r->id, r->priority,
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
human_rule(void *m)
{
	rule_header();
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
rule_add(struct cli *s, struct args *a)
{
	Vexil__V1__CreateRuleRequest in = VEXIL__V1__CREATE_RULE_REQUEST__INIT;
	Vexil__V1__Rule r = VEXIL__V1__RULE__INIT, *out;
	Vexil__V1__Condition conds[16], *cp[16];
	Vexil__V1__Rollout ro = VEXIL__V1__ROLLOUT__INIT;
	Vexil__V1__WeightedVariant wv[16], *wp[16];
	char *texts[MAX_ARGS], *vals[16][64], *split, *save = NULL, *segs[MAX_ARGS];
	vx_status st;
	int rc;
	size_t n;
	uint64_t num;

	if (need_project_key(a, &in.project, &in.flag_key) != 0 ||
	    (in.environment = (char *)need_opt(a, "env")) == NULL)
		return 2;
	r.segments = segs;
	r.n_segments = opts(a, "segment", segs);
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
	r.enabled = !has_opt(a, "disabled");
	r.name = opt_or_empty(a, "name");
	r.variant = opt_or_empty(a, "variant");
	if (has_opt(a, "priority")) {
		char *end;
		long p = strtol(opt(a, "priority"), &end, 10);
		if (*end || p < -1000000 || p > 1000000) {
			fprintf(stderr, "vexilctl: --priority must be a number\n");
			return 2;
		}
		r.priority = (int32_t)p;
	}
	/*
	 * --stickiness and --group are the rollout's (and so the split's too,
	 * as the engine reads them); with no --rollout they are the split's.
	 * --split-stickiness and --split-group give the split its own.
	 */
	if ((has_opt(a, "stickiness") || has_opt(a, "group")) && !has_opt(a, "rollout") &&
	    !has_opt(a, "split")) {
		fprintf(stderr,
		    "vexilctl: --stickiness and --group need --rollout or --split\n");
		return 2;
	}
	if (has_opt(a, "rollout")) {
		if (opt_u32(a, "rollout", 100, &ro.percentage) != 0)
			return 2;
		ro.stickiness = opt_or_empty(a, "stickiness");
		ro.group_id = opt_or_empty(a, "group");
		r.rollout = &ro;
	} else {
		r.split_stickiness = opt_or_empty(a, "stickiness");
		r.split_group_id = opt_or_empty(a, "group");
	}
	if (has_opt(a, "split-stickiness"))
		r.split_stickiness = opt_or_empty(a, "split-stickiness");
	if (has_opt(a, "split-group"))
		r.split_group_id = opt_or_empty(a, "split-group");
	if ((split = (char *)opt(a, "split")) != NULL) {
		for (char *it = strtok_r(split, ",", &save); it && r.n_split < 16;
		     it = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(it, '=');
			if (eq == NULL || vx_parse_u64(eq + 1, &num) != 0 ||
			    num > 10000) {
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
	in.rule = &r;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.RuleService/CreateRule", &in.base)) >= 0)
		return rc;
	if (vx_create_rule(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_rule);
}

static int
rule_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListRulesRequest in = VEXIL__V1__LIST_RULES_REQUEST__INIT;
	Vexil__V1__RuleList *out;
	vx_status st;

	if (need_project_key(a, &in.project, &in.flag_key) != 0 ||
	    (in.environment = (char *)need_opt(a, "env")) == NULL)
		return 2;
	if (vx_list_rules(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		rule_header();
		for (size_t i = 0; i < out->n_rules; i++)
			print_rule(out->rules[i]);
	}
	return done(a, out, NULL);
}

static int
rule_remove(struct cli *s, struct args *a)
{
	Vexil__V1__RuleRef in = VEXIL__V1__RULE_REF__INIT;
	Vexil__V1__Empty *out;
	vx_status st;
	int rc;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_id(a, 1, "KEY ID", &in.rule_id) != 0)
		return 2;
	in.flag_key = (char *)a->pos[0];
	in.environment = opt_or_empty(a, "env");
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.RuleService/DeleteRule", &in.base)) >= 0)
		return rc;
	if (vx_delete_rule(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* ---- variants: they change through UpdateFlag with the whole new list ---- */

static int
variant_list(struct cli *s, struct args *a)
{
	Vexil__V1__GetFlagRequest g = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Flag *f;
	vx_status st;

	if (need_project_key(a, &g.project, &g.key) != 0)
		return 2;
	if (vx_get_flag(s->c, &g, &f, &st) != 0)
		return fail(&st);
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
		printf("%-16s %s\n", "KEY", "VALUE");
		for (size_t i = 0; i < f->n_variants; i++)
			printf("%-16s %s\n", f->variants[i]->key, f->variants[i]->value);
	}
	vx_free(f);
	return 0;
}

/* Read-modify-write attempts before a busy flag's edit gives up. */
#define CAS_TRIES 20

/*
 * The read of a read-modify-write: the project's revision (*rev, for the
 * write's if_revision), then the flag, so an edit made in between refuses
 * the write instead of being lost. 0, or fail()'s code.
 */
static int
read_for_update(struct cli *s, const Vexil__V1__GetFlagRequest *g, uint64_t *rev,
    Vexil__V1__Flag **f, vx_status *st)
{
	Vexil__V1__GetProjectRequest gp = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;

	gp.project = g->project;
	if (vx_get_project(s->c, &gp, &p, st) != 0)
		return fail(st);
	*rev = p->revision;
	vx_free(p);
	if (vx_get_flag(s->c, g, f, st) != 0)
		return fail(st);
	return 0;
}

/*
 * Makes the one update of a guarded edit from flag f as read at project
 * revision rev (the update's if_revision). 0 with *out set; a negative
 * VX_E* code with st set; or a positive exit code after its own message.
 */
typedef int (*flag_edit_fn)(struct cli *s, const Vexil__V1__GetFlagRequest *g,
    const Vexil__V1__Flag *f, uint64_t rev, void *arg, Vexil__V1__Flag **out,
    vx_status *st);

/*
 * A read-modify-write of one flag: read (revision, then flag), let edit
 * make the update, and read again when a concurrent edit refused it
 * (FAILED_PRECONDITION on if_revision), up to CAS_TRIES times, so no edit
 * is lost. Prints the flag written, or fails.
 */
static int
edit_flag(struct cli *s, struct args *a, const Vexil__V1__GetFlagRequest *g,
    flag_edit_fn edit, void *arg)
{
	Vexil__V1__Flag *f, *out = NULL;
	uint64_t rev = 0;
	vx_status st;
	int rc;

	for (int attempt = 0;; attempt++) {
		if ((rc = read_for_update(s, g, &rev, &f, &st)) != 0)
			return rc;
		rc = edit(s, g, f, rev, arg, &out, &st);
		vx_free(f);
		if (rc == 0)
			return flag_done(a, out);
		if (rc > 0)
			return rc;
		if (rc != VX_ESTATE || strcmp(st.field, "if_revision") != 0 ||
		    attempt + 1 == CAS_TRIES)
			return fail(&st);
	}
}

/* A variant to add (json not NULL) or remove. */
struct variant_edit {
	const char *vkey, *json;
};

static int
write_variants(struct cli *s, const Vexil__V1__GetFlagRequest *g,
    const Vexil__V1__Flag *f, uint64_t rev, void *arg, Vexil__V1__Flag **out,
    vx_status *st)
{
	const struct variant_edit *ve = arg;
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag upd = VEXIL__V1__FLAG__INIT;
	Vexil__V1__Variant nv = VEXIL__V1__VARIANT__INIT, **list;
	char *mask[] = {"variants"};
	size_t n = 0;
	int rc;

	if ((list = calloc(f->n_variants + 1, sizeof(*list))) == NULL)
		return 1;
	for (size_t i = 0; i < f->n_variants; i++)
		if (ve->json != NULL || strcmp(f->variants[i]->key, ve->vkey) != 0)
			list[n++] = f->variants[i];
	if (ve->json == NULL && n == f->n_variants) {
		fprintf(
		    stderr, "vexilctl: flag %s has no variant %s\n", f->key, ve->vkey);
		free(list);
		return 1;
	}
	if (ve->json != NULL) {
		nv.key = (char *)ve->vkey;
		nv.value = (char *)ve->json;
		list[n++] = &nv;
	}
	upd.variants = list;
	upd.n_variants = n;
	up.project = g->project;
	up.key = g->key;
	up.update = &upd;
	up.update_mask = mask;
	up.n_update_mask = 1;
	up.if_revision = rev;
	rc = vx_update_flag(s->c, &up, out, st);
	free(list);
	return rc;
}

/* Adds (JSON given) or removes variant VKEY. */
static int
variant_change(struct cli *s, struct args *a, bool add)
{
	Vexil__V1__GetFlagRequest g = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	struct variant_edit ve;

	if ((g.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, add ? 3 : 2, add ? "KEY VKEY JSON" : "KEY VKEY") != 0)
		return 2;
	g.key = (char *)a->pos[0];
	ve.vkey = a->pos[1];
	ve.json = add ? a->pos[2] : NULL;
	return edit_flag(s, a, &g, write_variants, &ve);
}

static int
variant_add(struct cli *s, struct args *a)
{
	return variant_change(s, a, true);
}

static int
variant_remove(struct cli *s, struct args *a)
{
	return variant_change(s, a, false);
}

/* ---- prerequisites ---- */

/*
 * flag require|unrequire: adds (or replaces) or removes the prerequisite on
 * PARENT in one environment. The flag is read and its whole list for that
 * environment written back with UpdateFlagEnv, guarded by the project
 * revision read first (so a concurrent edit is retried, not lost); vexild
 * checks the result (parents of the project, no cycle) as for any write.
 */
/* The prerequisite on mine->flag_key to set (add) or drop, in env. */
struct prereq_edit {
	const char *env;
	Vexil__V1__Prerequisite *mine;
	bool add;
};

static int
write_prereqs(struct cli *s, const Vexil__V1__GetFlagRequest *g, const Vexil__V1__Flag *f,
    uint64_t rev, void *arg, Vexil__V1__Flag **out, vx_status *st)
{
	const struct prereq_edit *pe = arg;
	Vexil__V1__UpdateFlagEnvRequest in = VEXIL__V1__UPDATE_FLAG_ENV_REQUEST__INIT;
	Vexil__V1__FlagEnvConfig cfg = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__Prerequisite *list[VX_EVAL_PREREQ_MAX + 1];
	const Vexil__V1__FlagEnvConfig *cur = NULL;
	char *mask[] = {"prerequisites"};

	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, pe->env) == 0)
			cur = f->envs[i];
	for (size_t i = 0; cur != NULL && i < cur->n_prerequisites; i++)
		if (strcmp(cur->prerequisites[i]->flag_key, pe->mine->flag_key) != 0 &&
		    cfg.n_prerequisites < VX_EVAL_PREREQ_MAX)
			list[cfg.n_prerequisites++] = cur->prerequisites[i];
	if (pe->add)
		list[cfg.n_prerequisites++] = pe->mine;
	cfg.environment = (char *)pe->env;
	cfg.prerequisites = list;
	in.project = g->project;
	in.key = g->key;
	in.update = &cfg;
	in.update_mask = mask;
	in.n_update_mask = 1;
	in.if_revision = rev;
	return vx_update_flag_env(s->c, &in, out, st);
}

/*
 * flag require|unrequire: adds (or replaces) or removes the prerequisite on
 * PARENT in one environment: the flag's whole list for that environment is
 * written back with UpdateFlagEnv as a guarded edit (edit_flag); vexild
 * checks the result (parents of the project, no cycle) as for any write.
 */
static int
set_prereq(struct cli *s, struct args *a, bool add)
{
	Vexil__V1__GetFlagRequest g = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Prerequisite mine = VEXIL__V1__PREREQUISITE__INIT;
	struct prereq_edit pe = {.mine = &mine, .add = add};
	const char *when = opt(a, "when");
	char *vals[MAX_ARGS];

	if ((g.project = (char *)need_opt(a, "project")) == NULL ||
	    (pe.env = need_opt(a, "env")) == NULL || need_pos(a, 2, "KEY PARENT") != 0)
		return 2;
	g.key = (char *)a->pos[0];
	if (when != NULL && strcmp(when, "on") != 0 && strcmp(when, "off") != 0) {
		fprintf(stderr, "vexilctl: --when must be on or off\n");
		return 2;
	}
	mine.flag_key = (char *)a->pos[1];
	mine.when_off = when != NULL && strcmp(when, "off") == 0;
	mine.variants = vals;
	mine.n_variants = opts(a, "variant", vals);
	return edit_flag(s, a, &g, write_prereqs, &pe);
}

static int
flag_require(struct cli *s, struct args *a)
{
	return set_prereq(s, a, true);
}

static int
flag_unrequire(struct cli *s, struct args *a)
{
	return set_prereq(s, a, false);
}

/* ---- segments ---- */

/* The common "--project P NAME": -1 after a message. */
static int
need_project_name(const struct args *a, char **project, char **name)
{
	if ((*project = (char *)need_opt(a, "project")) == NULL || need_pos(a, 1, "NAME") != 0)
		return -1;
	*name = (char *)a->pos[0];
	return 0;
}

static void
print_segment(const Vexil__V1__Segment *g, bool detail)
{
	printf("%-32s %-10zu %s\n", g->name, g->n_conditions, g->description);
	if (!detail)
		return;
	for (size_t i = 0; i < g->n_conditions; i++) {
		const Vexil__V1__Condition *k = g->conditions[i];

		printf("  %s%s%s %s ", k->missing ? "?" : "", k->negate ? "!" : "", k->attribute,
		    k->operator_);
		for (size_t j = 0; j < k->n_values; j++)
			printf("%s%s", j ? "," : "", k->values[j]);
		printf("\n");
	}
}

static void
segment_header(void)
{
	printf("%-32s %-10s %s\n", "NAME", "CONDITIONS", "DESCRIPTION");
}

static void
human_segment(void *m)
{
	segment_header();
	print_segment(m, true);
}

static void
human_segments(void *m)
{
	const Vexil__V1__SegmentList *l = m;

	segment_header();
	for (size_t i = 0; i < l->n_segments; i++)
		print_segment(l->segments[i], false);
}

/* create (update false) or update: --cond replaces the conditions. */
static int
segment_write(struct cli *s, struct args *a, bool update)
{
	Vexil__V1__Segment g = VEXIL__V1__SEGMENT__INIT, *out;
	Vexil__V1__Condition conds[16], *cp[16];
	char *texts[MAX_ARGS], *vals[16][64], *project, *name, *mask[2];
	vx_status st;
	size_t n;
	int rc;

	if (need_project_name(a, &project, &name) != 0)
		return 2;
	if ((n = opts(a, "cond", texts)) > 16) {
		fprintf(stderr, "vexilctl: at most 16 --cond\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_cond(texts[i], &conds[i], vals[i], 64) != 0)
			return 2;
		cp[i] = &conds[i];
	}
	g.name = name;
	g.description = opt_or_empty(a, "description");
	g.conditions = cp;
	g.n_conditions = n;
	if (!update) {
		Vexil__V1__CreateSegmentRequest in = VEXIL__V1__CREATE_SEGMENT_REQUEST__INIT;

		in.project = project;
		in.segment = &g;
		if ((rc = ctl_schedule_write(
		         s, a, "vexil.v1.SegmentService/CreateSegment", &in.base)) >= 0)
			return rc;
		rc = vx_create_segment(s->c, &in, &out, &st);
	} else {
		Vexil__V1__UpdateSegmentRequest in = VEXIL__V1__UPDATE_SEGMENT_REQUEST__INIT;

		in.project = project;
		in.name = name;
		in.update = &g;
		in.update_mask = mask;
		if (has_opt(a, "description"))
			mask[in.n_update_mask++] = "description";
		if (n > 0)
			mask[in.n_update_mask++] = "conditions";
		if ((rc = ctl_schedule_write(
		         s, a, "vexil.v1.SegmentService/UpdateSegment", &in.base)) >= 0)
			return rc;
		rc = vx_update_segment(s->c, &in, &out, &st);
	}
	if (rc != 0)
		return fail(&st);
	return done(a, out, human_segment);
}

static int
segment_create(struct cli *s, struct args *a)
{
	return segment_write(s, a, false);
}

static int
segment_update(struct cli *s, struct args *a)
{
	return segment_write(s, a, true);
}

static int
segment_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListSegmentsRequest in = VEXIL__V1__LIST_SEGMENTS_REQUEST__INIT;
	Vexil__V1__SegmentList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL || need_pos(a, 0, "") != 0)
		return 2;
	if (vx_list_segments(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_segments);
}

static int
segment_get(struct cli *s, struct args *a)
{
	Vexil__V1__GetSegmentRequest in = VEXIL__V1__GET_SEGMENT_REQUEST__INIT;
	Vexil__V1__Segment *out;
	vx_status st;

	if (need_project_name(a, &in.project, &in.name) != 0)
		return 2;
	if (vx_get_segment(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_segment);
}

static int
segment_delete(struct cli *s, struct args *a)
{
	Vexil__V1__DeleteSegmentRequest in = VEXIL__V1__DELETE_SEGMENT_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;
	int rc;

	if (need_project_name(a, &in.project, &in.name) != 0)
		return 2;
	if ((rc = ctl_schedule_write(
	         s, a, "vexil.v1.SegmentService/DeleteSegment", &in.base)) >= 0)
		return rc;
	if (vx_delete_segment(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* ---- keys ---- */

/* A key's scope: its project's id, or "global" for every project. */
static const char *
scope(char buf[24], uint64_t project_id)
{
	if (project_id == 0)
		return "global";
	snprintf(buf, 24, "%llu", (unsigned long long)project_id);
	return buf;
}

static void
human_key(void *m)
{
	const Vexil__V1__CreatedApiKey *k = m;
	char p[24];

	printf("id %llu, role %s, project %s: %s\n", (unsigned long long)k->key->id,
	    vx_role_name(k->key->role), scope(p, k->key->project_id), k->secret);
}

static int
key_create(struct cli *s, struct args *a)
{
	Vexil__V1__CreateApiKeyRequest in = VEXIL__V1__CREATE_API_KEY_REQUEST__INIT;
	Vexil__V1__CreatedApiKey *out;
	const char *role;
	vx_status st;

	if (need_pos(a, 1, "NAME") != 0 || (role = need_opt(a, "role")) == NULL)
		return 2;
	if (vx_role_parse(role, &in.role) != 0) {
		fprintf(stderr, "vexilctl: --role must be read, write or admin\n");
		return 2;
	}
	in.name = (char *)a->pos[0];
	in.project = opt_or_empty(a, "project");
	if (vx_create_api_key(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_key);
}

static int
key_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListApiKeysRequest in = VEXIL__V1__LIST_API_KEYS_REQUEST__INIT;
	Vexil__V1__ApiKeyList *out;
	char p[24], t[VX_TIME_LEN];
	vx_status st;

	if (need_pos(a, 0, "") != 0)
		return 2;
	in.project = opt_or_empty(a, "project");
	if (vx_list_api_keys(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("%-6s %-16s %-6s %-8s %-24s %s\n", "ID", "PREFIX", "ROLE",
		    "PROJECT", "CREATED", "NAME");
		for (size_t i = 0; i < out->n_keys; i++)
			printf("%-6llu %-16s %-6s %-8s %-24s %s%s\n",
			    (unsigned long long)out->keys[i]->id, out->keys[i]->prefix,
			    vx_role_name(out->keys[i]->role),
			    scope(p, out->keys[i]->project_id),
			    when(t, out->keys[i]->created_at), out->keys[i]->name,
			    out->keys[i]->revoked ? " (revoked)" : "");
	}
	return done(a, out, NULL);
}

static int
key_revoke(struct cli *s, struct args *a)
{
	Vexil__V1__RevokeApiKeyRequest in = VEXIL__V1__REVOKE_API_KEY_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;

	if (need_id(a, 0, "ID", &in.id) != 0)
		return 2;
	if (vx_revoke_api_key(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

static void
human_sdk_key(void *m)
{
	const Vexil__V1__CreatedSdkKey *k = m;
	printf("id %llu, environment %s: %s\n", (unsigned long long)k->key->id,
	    *k->key->environment ? k->key->environment : "(any)", k->secret);
}

static int
sdk_key_create(struct cli *s, struct args *a)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *out;
	vx_status st;

	if (need_pos(a, 0, "") != 0 ||
	    (in.project = (char *)need_opt(a, "project")) == NULL)
		return 2;
	in.environment = opt_or_empty(a, "env");
	if (vx_create_sdk_key(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_sdk_key);
}

static int
sdk_key_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListSdkKeysRequest in = VEXIL__V1__LIST_SDK_KEYS_REQUEST__INIT;
	Vexil__V1__SdkKeyList *out;
	vx_status st;

	if (need_pos(a, 0, "") != 0 ||
	    (in.project = (char *)need_opt(a, "project")) == NULL)
		return 2;
	if (vx_list_sdk_keys(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("%-6s %-16s %s\n", "ID", "PREFIX", "ENVIRONMENT");
		for (size_t i = 0; i < out->n_keys; i++)
			printf("%-6llu %-16s %s%s\n",
			    (unsigned long long)out->keys[i]->id, out->keys[i]->prefix,
			    *out->keys[i]->environment ? out->keys[i]->environment
			                               : "(any)",
			    out->keys[i]->revoked ? " (revoked)" : "");
	}
	return done(a, out, NULL);
}

static int
sdk_key_revoke(struct cli *s, struct args *a)
{
	Vexil__V1__RevokeSdkKeyRequest in = VEXIL__V1__REVOKE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__Empty *out;
	vx_status st;

	if (need_id(a, 0, "ID", &in.id) != 0)
		return 2;
	if (vx_revoke_sdk_key(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_ok);
}

/* ---- records ---- */

static int
cmd_stats(struct cli *s, struct args *a)
{
	Vexil__V1__GetEvalCountsRequest in = VEXIL__V1__GET_EVAL_COUNTS_REQUEST__INIT;
	Vexil__V1__EvalCountList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "days", 3660, &in.days) != 0)
		return 2;
	in.flag_key = opt_or_empty(a, "flag");
	in.environment = opt_or_empty(a, "env");
	if (vx_get_eval_counts(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("%-10s %-10s %-14s %-32s %-12s %s\n", "DAY", "KIND", "ENVIRONMENT",
		    "FLAG", "VARIANT", "COUNT");
		for (size_t i = 0; i < out->n_counts; i++) {
			time_t t = (time_t)out->counts[i]->day * 86400;
			struct tm tm;
			char day[16];
			gmtime_r(&t, &tm);
			strftime(day, sizeof(day), "%Y-%m-%d", &tm);
			printf("%-10s %-10s %-14s %-32s %-12s %llu\n", day,
			    out->counts[i]->kind, out->counts[i]->environment,
			    out->counts[i]->flag_key, out->counts[i]->variant,
			    (unsigned long long)out->counts[i]->count);
		}
		if (out->dropped)
			printf("(%llu records dropped since vexild started)\n",
			    (unsigned long long)out->dropped);
	}
	return done(a, out, NULL);
}

static int
cmd_evals(struct cli *s, struct args *a)
{
	Vexil__V1__ListEvalLogRequest in = VEXIL__V1__LIST_EVAL_LOG_REQUEST__INIT;
	Vexil__V1__EvalLog *out;
	char t[VX_TIME_LEN];
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "limit", 100000, &in.limit) != 0)
		return 2;
	if (vx_list_eval_log(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("%-24s %-14s %-32s %-12s %-16s %s\n", "TIME", "ENVIRONMENT",
		    "FLAG", "VARIANT", "REASON", "USER");
		for (size_t i = 0; i < out->n_records; i++)
			printf("%-24s %-14s %-32s %-12s %-16s %s\n",
			    when(t, out->records[i]->time), out->records[i]->environment,
			    out->records[i]->flag_key, out->records[i]->variant,
			    out->records[i]->reason, out->records[i]->user_id);
	}
	return done(a, out, NULL);
}

static int
cmd_audit(struct cli *s, struct args *a)
{
	Vexil__V1__ListAuditRequest in = VEXIL__V1__LIST_AUDIT_REQUEST__INIT;
	Vexil__V1__AuditList *out;
	char t[VX_TIME_LEN];
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0 || opt_u32(a, "limit", 100000, &in.limit) != 0)
		return 2;
	if (vx_list_audit(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("%-24s %-8s %-16s %-40s %s\n", "TIME", "REVISION", "ACTOR",
		    "METHOD", "TARGET");
		for (size_t i = 0; i < out->n_entries; i++) {
			printf("%-24s %-8llu %-16s %-40s %s",
			    when(t, out->entries[i]->time),
			    (unsigned long long)out->entries[i]->revision,
			    out->entries[i]->actor, out->entries[i]->method,
			    out->entries[i]->target);
			/* A write vexild made at its scheduled time. */
			if (out->entries[i]->schedule_id)
				printf(" (schedule %llu)",
				    (unsigned long long)out->entries[i]->schedule_id);
			printf("\n");
		}
	}
	return done(a, out, NULL);
}

static int
cmd_backup(struct cli *s, struct args *a)
{
	Vexil__V1__BackupRequest in = VEXIL__V1__BACKUP_REQUEST__INIT;
	Vexil__V1__BackupReply *out;
	vx_status st;

	if (need_pos(a, 1, "DIR|FILE.mdb") != 0)
		return 2;
	in.path = (char *)a->pos[0];
	if (vx_backup(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json)
		printf("backup written to %s (%llu bytes)\n", out->path,
		    (unsigned long long)out->bytes);
	return done(a, out, NULL);
}

/* ---- evaluation ---- */

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

static void
result_header(void)
{
	printf("%-32s %-12s %-16s %s\n", "FLAG", "VARIANT", "REASON", "VALUE");
}

static int
cmd_eval(struct cli *s, struct args *a)
{
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvalContext__AttributesEntry ents[MAX_ARGS], *eptrs[MAX_ARGS];
	Vexil__V1__AttrValue vals[MAX_ARGS];
	Vexil__V1__StringList lists[MAX_ARGS];
	char *groups[MAX_ARGS];
	const char *project, *env;
	vx_status st;

	if ((project = need_opt(a, "project")) == NULL ||
	    (env = need_opt(a, "env")) == NULL ||
	    build_ctx(a, &ctx, ents, eptrs, vals, lists, groups) != 0)
		return 2;
	if (has_opt(a, "all")) {
		Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
		Vexil__V1__EvaluationList *out;
		if (need_pos(a, 0, "") != 0)
			return 2;
		in.project = (char *)project;
		in.environment = (char *)env;
		in.context = &ctx;
		if (vx_evaluate_all(s->c, &in, &out, &st) != 0)
			return fail(&st);
		if (!a->json) {
			result_header();
			for (size_t i = 0; i < out->n_results; i++)
				print_result(out->results[i]);
		}
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
	if (vx_evaluate(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		result_header();
		print_result(out);
	}
	return done(a, out, NULL);
}

/* ---- the change stream ---- */

/* "on" or "off" for the flag in the changed environment, else NULL. */
static const char *
state_in(const Vexil__V1__Flag *flag, const char *env)
{
	if (flag == NULL || env == NULL || *env == '\0')
		return NULL;
	for (size_t i = 0; i < flag->n_envs; i++)
		if (strcmp(flag->envs[i]->environment, env) == 0)
			return flag->envs[i]->enabled ? "on" : "off";
	return NULL;
}

static void
print_change(void *arg, const Vexil__V1__Change *c, const Vexil__V1__Flag *flag)
{
	const struct args *a = arg;
	const ProtobufCEnumValue *kind =
	    protobuf_c_enum_descriptor_get_value(&vexil__v1__change_kind__descriptor, (int)c->kind);
	const char *kname = c->kind == VEXIL__V1__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED
	                        ? "RESYNC"
	                        : (kind ? kind->name : "UNKNOWN");
	const char *state = state_in(flag, c->environment);
	char t[VX_TIME_LEN];

	vx_format_time_ms(t, c->time ? c->time : vx_now_ms());
	if (a->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "time", t);
		cJSON_AddNumberToObject(o, "revision", (double)c->revision);
		cJSON_AddNumberToObject(o, "project_id", (double)c->project_id);
		cJSON_AddStringToObject(o, "kind", kname);
		cJSON_AddStringToObject(o, "flag_key", c->flag_key ? c->flag_key : "");
		cJSON_AddStringToObject(o, "environment", c->environment ? c->environment : "");
		if (state)
			cJSON_AddStringToObject(o, "state", state);
		else
			cJSON_AddNullToObject(o, "state");
		cJSON_AddItemToObject(
		    o, "entity", flag ? vx_pb_to_json(&flag->base) : cJSON_CreateNull());
		char *text = cJSON_PrintUnformatted(o);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		printf("%s rev %-8llu %-22s %s%s%s%s%s\n", t,
		    (unsigned long long)c->revision, kname,
		    c->flag_key ? c->flag_key : "",
		    c->environment && *c->environment ? " " : "",
		    c->environment ? c->environment : "", state ? " " : "",
		    state ? state : "");
	}
	fflush(stdout);
}

/* Runs until SIGINT or SIGTERM, riding out vexild restarts. */
static int
cmd_watch(struct cli *s, struct args *a)
{
	vx_client_opts probe = {.credential = s->key, .tls_ca = s->tls_ca, .connect_now = true};
	vx_watch_opts o = {0};
	vx_client *c;
	vx_watch *w;
	vx_status st;
	sigset_t set;
	int sig;

	if (need_pos(a, 0, "") != 0)
		return 2;
	/* It waits for a vexild that is not there, but should say so. */
	probe.status = &st;
	if (vx_client_open(&c, s->rpc, &probe) == 0)
		vx_client_close(c);
	else
		fprintf(stderr, "vexilctl: %s; waiting for it\n", st.message);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	o.rpc_url = s->rpc;
	o.pub_url = s->pub;
	o.credential = s->key;
	o.tls_ca = s->tls_ca;
	o.project = opt(a, "project") ? opt(a, "project") : "default";
	o.on_change = print_change;
	o.arg = a;
	if (vx_watch_start(&w, &o, &st) != 0)
		return fail(&st);
	sigwait(&set, &sig);
	vx_watch_stop(w);
	return 0;
}

/* ---- members (docs/teams.md) ---- */

static void
print_member(const Vexil__V1__Member *m)
{
	char t[VX_TIME_LEN];

	printf("%-8llu %-32s %-6s %-24s %s\n", (unsigned long long)m->user_id, m->email,
	    vx_role_name(m->role), when(t, m->added_at), m->added_by);
}

static void
human_member(void *m)
{
	print_member(m);
}

/* --role R into *role: -1 after a message. */
static int
need_role(const struct args *a, Vexil__V1__Role *role)
{
	const char *r = need_opt(a, "role");

	if (r == NULL)
		return -1;
	if (vx_role_parse(r, role) != 0) {
		fprintf(stderr, "vexilctl: --role must be read, write or admin\n");
		return -1;
	}
	return 0;
}

/* "--project P MEMBER": MEMBER is a user id or an email. */
static int
need_member(const struct args *a, Vexil__V1__MemberRef *ref)
{
	if ((ref->project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 1, "MEMBER (an email or a user id)") != 0)
		return -1;
	if (vx_parse_u64(a->pos[0], &ref->user_id) != 0)
		ref->email = (char *)a->pos[0];
	return 0;
}

static int
member_add(struct cli *s, struct args *a)
{
	Vexil__V1__AddMemberRequest in = VEXIL__V1__ADD_MEMBER_REQUEST__INIT;
	Vexil__V1__Member *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 1, "EMAIL") != 0 || need_role(a, &in.role) != 0)
		return 2;
	in.email = (char *)a->pos[0];
	if (vx_add_member(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_member);
}

static int
member_list(struct cli *s, struct args *a)
{
	Vexil__V1__ListMembersRequest in = VEXIL__V1__LIST_MEMBERS_REQUEST__INIT;
	Vexil__V1__MemberList *out;
	vx_status st;

	if ((in.project = (char *)need_opt(a, "project")) == NULL ||
	    need_pos(a, 0, "") != 0)
		return 2;
	if (vx_list_members(s->c, &in, &out, &st) != 0)
		return fail(&st);
	if (!a->json) {
		printf("%-8s %-32s %-6s %-24s %s\n", "USER", "EMAIL", "ROLE", "ADDED",
		    "ADDED BY");
		for (size_t i = 0; i < out->n_members; i++)
			print_member(out->members[i]);
	}
	return done(a, out, NULL);
}

static int
member_role(struct cli *s, struct args *a)
{
	Vexil__V1__SetMemberRoleRequest in = VEXIL__V1__SET_MEMBER_ROLE_REQUEST__INIT;
	Vexil__V1__MemberRef ref = VEXIL__V1__MEMBER_REF__INIT;
	Vexil__V1__Member *out;
	vx_status st;

	if (need_member(a, &ref) != 0 || need_role(a, &in.role) != 0)
		return 2;
	in.member = &ref;
	if (vx_set_member_role(s->c, &in, &out, &st) != 0)
		return fail(&st);
	return done(a, out, human_member);
}

static int
member_remove(struct cli *s, struct args *a)
{
	Vexil__V1__MemberRef in = VEXIL__V1__MEMBER_REF__INIT;
	Vexil__V1__Empty *out;
	vx_status st;

	if (need_member(a, &in) != 0)
		return 2;
	if (vx_remove_member(s->c, &in, &out, &st) != 0)
		return fail(&st);
	vx_free(out);
	if (!a->json)
		printf("removed %s from %s\n", a->pos[0], in.project);
	return 0;
}

/* ---- the commands ---- */

#define FLAG_NEW                                                                         \
	"--project P KEY [--name N] [--description D]\n"                                 \
	"[--type boolean|string|number|json] [--variant KEY=JSON ...]\n"                 \
	"[--tag T ...] [--owner O] [--meta K=V ...] [--when-disabled off|default]\n" \
	"[--at TIME]"
#define SEGMENT_NEW                                                                      \
	"--project P NAME [--description D] [--cond '[?][!]ATTR OP V1,V2' ...]\n"        \
	"[--at TIME]"
#define RULE_NEW                                                                         \
	"--project P KEY --env E [--cond '[?][!]ATTR OP V1,V2' ...]\n"                   \
	"[--segment NAME ...] [--variant V | --split V=W,V=W] [--priority N]\n"          \
	"[--rollout PCT] "                                                               \
	"[--stickiness ATTR] [--group G] [--split-stickiness ATTR] [--split-group G]\n"  \
	"[--name N] [--disabled] [--at TIME]"

static const struct command commands[] = {
    {"project", "create", "NAME [--description D]", "description=", project_create,
        "Creates a project with the environments development, staging and production."},
    {"project", "list", "", "", project_list, "Lists the projects the key can see."},
    {"project", "get", "P", "", project_get, "Shows one project (by id or name)."},
    {"project", "update", "P [--name N] [--description D]", "name= description=",
        project_update, "Renames a project or changes its description."},
    {"project", "delete", "P", "", project_delete, "Deletes a project and all it holds."},
    {"env", "create", "--project P KEY [--name N] [--description D] [--at TIME]",
        "project= name= description= at=", env_create, "Creates an environment."},
    {"env", "list", "--project P", "project=", env_list,
        "Lists a project's environments."},
    {"env", "get", "--project P KEY", "project=", env_get, "Shows one environment."},
    {"env", "protect", "--project P KEY [--off]", "project= off", env_protect,
        "Protects an environment (admins only): a member's change to a flag's\n"
        "state there becomes a change request another member approves;\n"
        "--off lifts it."},
    {"env", "delete", "--project P KEY [--at TIME]", "project= at=", env_delete,
        "Deletes an environment and every flag's state in it."},
    {"flag", "create", FLAG_NEW,
        "project= name= description= type= variant= tag= owner= meta= when-disabled= "
        "at=",
        flag_create, "Creates a flag, off in every environment."},
    {"flag", "get", "--project P KEY", "project=", flag_get,
        "Shows a flag with its variants and its state per environment."},
    {"flag", "list", "--project P [--tag T] [--limit N] [--offset N]",
        "project= tag= limit= offset=", flag_list, "Lists flags and where each is on."},
    {"flag", "update",
        "--project P KEY [--name N] [--description D] [--owner O]\n[--tag T ...] "
        "[--meta K=V ...] [--when-disabled off|default] [--at TIME]",
        "project= name= description= owner= tag= meta= when-disabled= at=", flag_update,
        "Changes a flag's name, description, owner, tags, metadata (--meta replaces "
        "all of it) or what it serves where it is disabled."},
    {"flag", "delete", "--project P KEY [--at TIME]", "project= at=", flag_delete,
        "Deletes a flag."},
    {"flag", "enable", "--project P KEY --env E [--env E ...] | --env '*'\n[--at TIME]",
        "project= env= at=", flag_enable,
        "Turns a flag on in the environments named (* for all), in one write;\n"
        "with --at (RFC 3339, e.g. 2026-12-24T09:00:00Z) vexild makes the write\n"
        "then (every write command here that shows --at works so)."},
    {"flag", "disable", "--project P KEY --env E [--env E ...] | --env '*'\n[--at TIME]",
        "project= env= at=", flag_disable,
        "Turns a flag off in the environments named (* for all), in one write."},
    {"flag", "toggle", "--project P KEY --env E [--env E ...] [--at TIME]",
        "project= env= at=", flag_toggle,
        "Flips a flag on or off in each environment named, in one atomic write."},
    {"flag", "rollout", "--project P KEY --env E PERCENT [--at TIME]",
        "project= env= at=", flag_rollout,
        "Sets the share of users (0..100) who get the default variant."},
    {"flag", "stale", "--project P [--days N]", "project= days=", flag_stale,
        "Lists flags no environment evaluated in the last N days (default 30),\n"
        "and flags that served one variant to every evaluation in them, with\n"
        "the last day each environment evaluated them."},
    {"flag", "require",
        "--project P KEY --env E PARENT [--when on|off] [--variant V ...]",
        "project= env= when= variant=", flag_require,
        "Makes KEY serve its off variant in E unless PARENT is on (or off, or serves "
        "one of the variants)."},
    {"flag", "unrequire", "--project P KEY --env E PARENT", "project= env=",
        flag_unrequire, "Removes KEY's prerequisite on PARENT in E."},
    {"rule", "add", RULE_NEW,
        "project= env= cond= segment= variant= split= priority= rollout= stickiness= "
        "group= split-stickiness= split-group= name= disabled at=",
        rule_add, "Adds a targeting rule to a flag in one environment."},
    {"rule", "list", "--project P KEY --env E", "project= env=", rule_list,
        "Lists a flag's rules in one environment."},
    {"rule", "remove", "--project P KEY ID [--env E] [--at TIME]",
        "project= env= at=", rule_remove, "Removes a rule."},
    {"segment", "create", SEGMENT_NEW, "project= description= cond= at=", segment_create,
        "Keeps a named set of conditions that rules of the project's flags can name."},
    {"segment", "update", SEGMENT_NEW, "project= description= cond= at=", segment_update,
        "Changes a segment (its conditions when --cond is given) in one write."},
    {"segment", "list", "--project P", "project=", segment_list,
        "Lists a project's segments."},
    {"segment", "get", "--project P NAME", "project=", segment_get,
        "Shows a segment and its conditions."},
    {"segment", "delete", "--project P NAME [--at TIME]", "project= at=", segment_delete,
        "Deletes a segment no rule names."},
    {"variant", "add", "--project P KEY VKEY JSON", "project=", variant_add,
        "Adds a variant whose value is JSON of the flag's type."},
    {"variant", "list", "--project P KEY", "project=", variant_list,
        "Lists a flag's variants."},
    {"variant", "remove", "--project P KEY VKEY", "project=", variant_remove,
        "Removes a variant."},
    {"eval", NULL,
        "--project P --env E KEY [--ctx ATTR=VALUE ...]\n"
        "--project P --env E --all [--ctx ATTR=VALUE ...]",
        "project= env= ctx= all", cmd_eval,
        "Evaluates one flag (or --all) for a context: user_id, email, country, ip,\n"
        "groups=a,b, or any attribute (a number, true/false, a list a,b, a string)."},
    {"member", "add", "--project P EMAIL --role read|write|admin", "project= role=",
        member_add, "Shares a project with an existing user, with a role."},
    {"member", "list", "--project P", "project=", member_list,
        "Lists who shares a project: the owner (an admin), then the members."},
    {"member", "role", "--project P MEMBER --role read|write|admin", "project= role=",
        member_role, "Changes a member's role (MEMBER: an email or a user id)."},
    {"member", "remove", "--project P MEMBER", "project=", member_remove,
        "Removes a member (a member may remove themselves)."},
    {"key", "create", "NAME --role read|write|admin [--project P]", "role= project=",
        key_create, "Creates an API key, for one project or (no --project) all."},
    {"key", "list", "[--project P]", "project=", key_list, "Lists API keys."},
    {"key", "revoke", "ID", "", key_revoke, "Revokes an API key at once."},
    {"sdk-key", "create", "--project P [--env E]", "project= env=", sdk_key_create,
        "Creates an SDK key, which can only evaluate and follow changes."},
    {"sdk-key", "list", "--project P", "project=", sdk_key_list, "Lists SDK keys."},
    {"sdk-key", "revoke", "ID", "", sdk_key_revoke, "Revokes an SDK key at once."},
    {"stats", NULL, "--project P [--flag KEY] [--env E] [--days N]",
        "project= flag= env= days=", cmd_stats, "Counts evaluations per day."},
    {"evals", NULL, "--project P [--limit N]", "project= limit=", cmd_evals,
        "Lists recent evaluations."},
    {"audit", NULL, "--project P [--limit N]", "project= limit=", cmd_audit,
        "Lists recent changes: who did what, and when."},
    {"schedule", "list", "--project P", "project=", schedule_list,
        "Lists a project's scheduled writes, due first; a failed one with its error."},
    {"schedule", "cancel", "ID [--project P]", "project=", schedule_cancel,
        "Cancels a scheduled write, pending or failed."},
    {"change", "list", "--project P", "project=", change_list,
        "Lists a project's open change requests, oldest first."},
    {"change", "show", "ID [--project P]", "project=", change_show,
        "Shows a change request: the write it holds, its base revision and\n"
        "its comments."},
    {"change", "comment", "ID --text T [--project P]", "project= text=", change_comment,
        "Comments on a change request (any member)."},
    {"change", "approve", "ID [--project P]", "project=", change_approve,
        "Approves and applies a change request (another member with write or\n"
        "admin; refused as stale when its flag changed since it was made)."},
    {"change", "reject", "ID [--project P]", "project=", change_reject,
        "Rejects a change request (a member with write or admin)."},
    {"change", "withdraw", "ID [--project P]", "project=", change_withdraw,
        "Withdraws your own change request."},
    {"watch", NULL, "[--project P]", "project=", cmd_watch,
        "Prints one line per committed change until interrupted; rides out\n"
        "vexild restarts."},
    {"backup", NULL, "DIR|FILE.mdb", "", cmd_backup,
        "Makes vexild write a compacted copy of its database, on its host\n"
        "(an absolute path; never overwritten)."},
    {"import", NULL,
        "--format vexil|unleash|flagd FILE [--project P] [--env E] [--dry-run]",
        "format= project= env= dry-run", cmd_import,
        "Writes a project file's environments, segments and flags in one\n"
        "transaction: all or nothing, one revision (FILE - reads stdin).\n"
        "unleash: Unleash's feature export of one environment, into --env E;\n"
        "flagd: flagd's flag definitions, into --env E.\n"
        "What Vexil cannot express is listed and nothing is imported.\n"
        "--dry-run checks everything and prints the plan, changing nothing."},
    {"export", NULL, "--format vexil FILE [--project P]",
        "format= project= env=", cmd_export,
        "Writes a project's environments, segments and flags to FILE (- for\n"
        "stdout), as of one revision. unleash, flagd: environment --env E as\n"
        "an Unleash feature export or flagd definitions; what they cannot\n"
        "express is listed and nothing is written."},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* ---- help ---- */

/* Prints text, indenting the lines after the first by indent columns. */
static void
indented(FILE *to, const char *text, int indent)
{
	for (; *text; text++) {
		fputc(*text, to);
		if (*text == '\n')
			fprintf(to, "%*s", indent, "");
	}
}

static void
print_usage_line(FILE *to, const struct command *cmd, const char *lead)
{
	int n = fprintf(to, "%s", lead);

	print_name(to, cmd);
	n += (int)strlen(cmd->noun) + (cmd->verb ? (int)strlen(cmd->verb) + 1 : 0);
	if (*cmd->args) {
		fputc(' ', to);
		indented(to, cmd->args, n + 1);
	}
	fputc('\n', to);
}

static void
usage(FILE *to)
{
	fputs("usage: vexilctl [--rpc URL] [--pub URL] [--key KEY] [--timeout MS]\n"
	      "                [--tls-ca FILE] COMMAND [--json]\n"
	      "       vexilctl help [COMMAND] | --help | --version\n\n",
	    to);
	for (const struct command *c = commands; c->noun; c++)
		print_usage_line(to, c, "  ");
	fputs(
	    "\n"
	    "--project takes a project's id or name. The key falls back to $VEXIL_KEY,\n"
	    "the URLs to $VEXIL_RPC and $VEXIL_PUB (default tcp://127.0.0.1:7311 and "
	    "7312).\n"
	    "tls+tcp:// URLs check vexild's certificate against --tls-ca FILE, else\n"
	    "$VEXIL_TLS_CA. --json prints the reply as JSON. `vexilctl help COMMAND`\n"
	    "or `vexilctl COMMAND --help` tells more about one command.\n",
	    to);
}

static void
command_help(const struct command *cmd)
{
	print_usage_line(stdout, cmd, "usage: vexilctl ");
	fputs("\n", stdout);
	indented(stdout, cmd->summary, 0);
	fputs("\n\n--json prints the reply as JSON. vexilctl's own options (--rpc, "
	      "--key, ...)\n"
	      "go before the command or among its options: see vexilctl --help.\n",
	    stdout);
}

static void
noun_help(FILE *to, const char *noun)
{
	fprintf(to, "usage: vexilctl %s COMMAND\n\n", noun);
	for (const struct command *c = commands; c->noun; c++) {
		if (strcmp(c->noun, noun) != 0)
			continue;
		print_usage_line(to, c, "  ");
		fputs("      ", to);
		indented(to, c->summary, 6);
		fputc('\n', to);
	}
	fprintf(to, "\nvexilctl %s COMMAND --help tells more about one.\n", noun);
}

static const struct command *
find_noun(const char *noun)
{
	for (const struct command *c = commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0)
			return c;
	return NULL;
}

static const struct command *
find_verb(const char *noun, const char *verb)
{
	for (const struct command *c = commands; c->noun; c++)
		if (c->verb && strcmp(c->noun, noun) == 0 && strcmp(c->verb, verb) == 0)
			return c;
	return NULL;
}

static void
unknown_noun(const char *noun)
{
	const char *best = NULL;
	size_t best_len = 0, best_d = SIZE_MAX, len = strlen(noun);

	closer(noun, len, "help", 4, &best, &best_len, &best_d);
	for (const struct command *c = commands; c->noun; c++)
		closer(noun, len, c->noun, strlen(c->noun), &best, &best_len, &best_d);
	fprintf(stderr, "vexilctl: unknown command %s", noun);
	if (best)
		fprintf(stderr, "; did you mean %.*s?", (int)best_len, best);
	fputs(" (vexilctl --help lists them)\n", stderr);
}

static void
unknown_verb(const char *noun, const char *verb)
{
	const char *best = NULL;
	size_t best_len = 0, best_d = SIZE_MAX, len = strlen(verb);

	for (const struct command *c = commands; c->noun; c++)
		if (c->verb && strcmp(c->noun, noun) == 0)
			closer(verb, len, c->verb, strlen(c->verb), &best, &best_len,
			    &best_d);
	fprintf(stderr, "vexilctl: unknown command %s %s", noun, verb);
	if (best)
		fprintf(stderr, "; did you mean %s %.*s?", noun, (int)best_len, best);
	fprintf(stderr, " (vexilctl %s --help lists them)\n", noun);
}

/*
 * Finds the command named by argv (its noun, and its verb when it has
 * verbs) and sets *used to how many words that took. Returns NULL after a
 * message when there is none.
 */
static const struct command *
lookup(int argc, char **argv, int *used)
{
	const struct command *c = find_noun(argv[0]);

	if (c == NULL) {
		unknown_noun(argv[0]);
		return NULL;
	}
	*used = 1;
	if (c->verb == NULL)
		return c;
	if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
		fprintf(stderr, "vexilctl: %s needs a command:", argv[0]);
		for (; c->noun; c++)
			if (strcmp(c->noun, argv[0]) == 0)
				fprintf(stderr, " %s", c->verb);
		fputc('\n', stderr);
		return NULL;
	}
	if ((c = find_verb(argv[0], argv[1])) == NULL) {
		unknown_verb(argv[0], argv[1]);
		return NULL;
	}
	*used = 2;
	return c;
}

/* `vexilctl help [NOUN [VERB]]` and `vexilctl ... --help`. */
static int
help(int argc, char **argv)
{
	const struct command *c;
	int used;

	if (argc == 0) {
		usage(stdout);
		return 0;
	}
	if ((c = find_noun(argv[0])) != NULL && c->verb && argc == 1) {
		noun_help(stdout, argv[0]);
		return 0;
	}
	if ((c = lookup(argc, argv, &used)) == NULL)
		return 2;
	command_help(c);
	return 0;
}

static bool
wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	struct args a = {0};
	struct cli s = {0};
	vx_client_opts co = {0};
	const struct command *cmd;
	vx_status st;
	uint64_t t;
	int i = 1, n, used, rc;

	/* vexilctl's own options, up to the command. */
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("vexilctl %s\n", VX_VERSION);
			return 0;
		}
		/* Each of them but --json takes a value: --opt VALUE or --opt=VALUE. */
		n = strchr(argv[i], '=') || i + 1 >= argc ||
		            strcmp(argv[i], "--json") == 0
		        ? 1
		        : 2;
		if (parse_args(NULL, n, argv + i, &a) < 0)
			return 2;
		i += n - 1;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "help") == 0)
		return help(argc - i - 1, argv + i + 1);
	if (wants_help(argc - i, argv + i)) {
		const struct command *c = find_noun(argv[i]);
		if (c && c->verb &&
		    (i + 1 >= argc || strncmp(argv[i + 1], "-", 1) == 0)) {
			noun_help(stdout, argv[i]);
			return 0;
		}
		if ((cmd = lookup(argc - i, argv + i, &used)) == NULL)
			return 2;
		command_help(cmd);
		return 0;
	}
	if ((cmd = lookup(argc - i, argv + i, &used)) == NULL)
		return 2;
	i += used;
	if (parse_args(cmd, argc - i, argv + i, &a) < 0)
		return 2;

	s.rpc = a.rpc ? a.rpc : getenv("VEXIL_RPC");
	s.pub = a.pub ? a.pub : getenv("VEXIL_PUB");
	s.key = a.key ? a.key : getenv("VEXIL_KEY");
	s.tls_ca = a.tls_ca;
	if (s.rpc == NULL || *s.rpc == '\0')
		s.rpc = "tcp://127.0.0.1:7311";
	if (s.pub == NULL || *s.pub == '\0')
		s.pub = "tcp://127.0.0.1:7312";
	if (a.timeout) {
		if (vx_parse_u64(a.timeout, &t) != 0 || t == 0 || t > 3600000) {
			fprintf(stderr, "vexilctl: --timeout takes milliseconds\n");
			return 2;
		}
		co.timeout_ms = (int)t;
	}
	if (s.key == NULL || *s.key == '\0') {
		fprintf(stderr, "vexilctl: no API key: pass --key or set VEXIL_KEY\n");
		return 2;
	}
	/* watch makes its own connections and rides out vexild's absence. */
	if (cmd->run == cmd_watch)
		return cmd->run(&s, &a);
	co.credential = s.key;
	co.tls_ca = s.tls_ca;
	co.status = &st;
	co.connect_now = true;
	if (vx_client_open(&s.c, s.rpc, &co) != 0) {
		fprintf(stderr, "vexilctl: %s\n", st.message);
		return 1;
	}
	rc = cmd->run(&s, &a);
	vx_client_close(s.c);
	return rc;
}
