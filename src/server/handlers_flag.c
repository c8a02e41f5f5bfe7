/*
 * Vexil — FlagService and RuleService handlers.
 *
 * A flag is one record: its variants and, per environment, its state,
 * rollout and ordered rules. Every mutation goes through flag_write(): load
 * the flag in the write transaction, let the operation change it, check the
 * whole result (vx_flag_check, which also compiles it with the evaluation
 * engine, so an invalid regex or variant value is refused when written),
 * store it and record one change. Rules are kept in evaluation order:
 * highest priority first, ties in creation order.
 */
#include "server/server.h"
#include "server/flagdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static Vexil__V1__Empty empty = VEXIL__V1__EMPTY__INIT;

Vexil__V1__FlagEnvConfig *
vx_flag_env(const Vexil__V1__Flag *f, const char *env)
{
	for (size_t i = 0; i < f->n_envs; i++)
		if (strcmp(f->envs[i]->environment, env) == 0)
			return f->envs[i];
	return NULL;
}

/* The variant served when a flag is on, and when it is off. */
static const char *
variant_on(const Vexil__V1__Flag *f)
{
	return f->n_variants ? f->variants[0]->key : "";
}

static const char *
variant_off(const Vexil__V1__Flag *f)
{
	return f->n_variants ? f->variants[f->n_variants - 1]->key : "";
}

int
vx_flag_add_env(vx_call *c, Vexil__V1__Flag *f, const char *env)
{
	Vexil__V1__FlagEnvConfig **bigger, *cfg;

	bigger = vx_arena_alloc(c->arena, (f->n_envs + 1) * sizeof(*bigger));
	cfg = vx_arena_alloc(c->arena, sizeof(*cfg));
	if (bigger == NULL || cfg == NULL)
		return VX_ENOMEM;
	if (f->n_envs)
		memcpy(bigger, f->envs, f->n_envs * sizeof(*bigger));
	vexil__v1__flag_env_config__init(cfg);
	cfg->environment = (char *)env;
	cfg->enabled = false;
	cfg->default_variant = (char *)variant_on(f);
	cfg->off_variant = (char *)variant_off(f);
	cfg->rollout_percentage = 100;
	bigger[f->n_envs] = cfg;
	f->envs = bigger;
	f->n_envs++;
	return 0;
}

/* Boolean flags with no variants get on=true and off=false. */
static int
default_variants(vx_call *c, Vexil__V1__Flag *f)
{
	Vexil__V1__Variant **v;

	if (f->n_variants > 0 || f->type != VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN)
		return 0;
	v = vx_arena_alloc(c->arena, 2 * sizeof(*v));
	if (v == NULL || (v[0] = vx_arena_alloc(c->arena, sizeof(**v))) == NULL ||
	    (v[1] = vx_arena_alloc(c->arena, sizeof(**v))) == NULL)
		return VX_ENOMEM;
	vexil__v1__variant__init(v[0]);
	vexil__v1__variant__init(v[1]);
	v[0]->key = "on";
	v[0]->value = "true";
	v[1]->key = "off";
	v[1]->value = "false";
	f->variants = v;
	f->n_variants = 2;
	return 0;
}

static int
rule_cmp(const void *a, const void *b)
{
	const Vexil__V1__Rule *x = *(Vexil__V1__Rule *const *)a;
	const Vexil__V1__Rule *y = *(Vexil__V1__Rule *const *)b;
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
sort_rules(Vexil__V1__FlagEnvConfig *cfg)
{
	if (cfg->n_rules > 1)
		qsort(cfg->rules, cfg->n_rules, sizeof(*cfg->rules), rule_cmp);
}

/* Gives new rules (id 0) an id, a creation order and timestamps. */
static int
number_rules(vx_wtxn *w, Vexil__V1__FlagEnvConfig *cfg)
{
	int64_t now = vx_now_ms();
	int rc;

	for (size_t i = 0; i < cfg->n_rules; i++) {
		Vexil__V1__Rule *r = cfg->rules[i];
		if (r->id != 0)
			continue;
		if ((rc = vx_store_next_id(w, VX_SEQ_RULE, &r->id)) != 0)
			return rc;
		r->seq = r->id;
		r->created_at = r->updated_at = now;
	}
	sort_rules(cfg);
	return 0;
}

/* ---- the shared write path ---- */

typedef int (*flag_mutate_fn)(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg);

struct flag_op {
	vx_call *c;
	const char *project;
	const char *key;
	Vexil__V1__ChangeKind kind;
	const char *env; /* for the change notice */
	flag_mutate_fn mutate;
	void *arg;
	Vexil__V1__Flag *out;
};

/* rc, recorded as the flag key not found when it is VX_ENOTFOUND. */
static int
flag_found(vx_call *c, int rc, const Vexil__V1__Project *p, const char *key)
{
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "key", NULL,
		    "flag %.128s not found in project %.100s", key, p->name);
	return rc;
}

static int
flag_load(vx_call *c, MDB_txn *txn, const Vexil__V1__Project *p, const char *key,
    Vexil__V1__Flag **out)
{
	return flag_found(
	    c, vx_store_flag_get(txn, c->store, p->id, key, c->alloc, out), p, key);
}

/*
 * GetFlag by key: the flag is stored as a packed Flag, its wire form, so
 * the reply carries the stored bytes as they are (c->out_packed) instead
 * of decoding and packing them again; *out is a stand-in.
 */
static int
flag_load_packed(
    vx_call *c, const Vexil__V1__Project *p, const char *key, Vexil__V1__Flag **out)
{
	static const Vexil__V1__Flag stand_in = VEXIL__V1__FLAG__INIT;
	int rc = vx_store_flag_get_packed(
	    c->reader->txn, c->store, p->id, key, &c->out_packed);

	if (rc != 0) {
		c->out_packed.len = 0;
		c->out_packed.data = NULL;
		return flag_found(c, rc, p, key);
	}
	*out = (Vexil__V1__Flag *)&stand_in; /* packed as nothing: out_packed is sent */
	return 0;
}

static int
flag_write_tx(vx_wtxn *w, void *arg)
{
	struct flag_op *op = arg;
	vx_call *c = op->c;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Project *p;
	Vexil__V1__Flag *f;
	struct vx_protect guard;
	char *before = NULL, *after, *detail;
	int rc;

	if ((rc = vx_call_project(
	         c, txn, op->project, VEXIL__V1__ROLE__ROLE_WRITE, &p)) != 0 ||
	    (rc = flag_load(c, txn, p, op->key, &f)) != 0 ||
	    (rc = vx_protect_before(c, txn, p, f, &guard)) != 0)
		return rc;
	/* The audit entry says what changed (flagdiff.h), and so does a
	 * change request. */
	bool gone = op->kind == VEXIL__V1__CHANGE_KIND__FLAG_DELETED;
	if ((!gone || guard.n > 0) && (before = vx_flag_summary(c->arena, f)) == NULL)
		return VX_ENOMEM;
	guard.summary = before;
	if ((rc = op->mutate(c, w, p, f, op->arg)) != 0)
		return rc;
	if (gone) {
		/* Deleting a flag changes every protected environment it has. */
		if ((rc = vx_protect_delete(c, w, p, f, &guard)) != 0)
			return rc;
		rc = vx_store_flag_del(w, f);
	} else {
		for (size_t i = 0; i < f->n_envs; i++)
			if ((rc = number_rules(w, f->envs[i])) != 0)
				return rc;
		if ((rc = vx_flag_check(c, txn, f)) != 0 ||
		    (rc = vx_protect_after(c, w, p, f, &guard)) != 0)
			return rc;
		f->updated_at = vx_now_ms();
		f->updated_by = c->who.actor;
		rc = vx_store_flag_put(w, f);
	}
	if (rc != 0)
		return rc;
	op->out = f;
	if (!gone) {
		if ((after = vx_flag_summary(c->arena, f)) == NULL ||
		    (detail = vx_flag_diff(c->arena, before, after)) == NULL)
			return VX_ENOMEM;
		vx_store_audit_detail(w, detail);
	}
	return vx_store_record_change(
	    w, p, op->kind, op->env, f->key, f->id, c->who.actor, c->method);
}

static int
flag_write(vx_call *c, const char *project, const char *key, Vexil__V1__ChangeKind kind,
    const char *env, flag_mutate_fn mutate, void *arg, Vexil__V1__Flag **out)
{
	struct flag_op op = {c, project, key, kind, env ? env : "", mutate, arg, NULL};
	int rc;

	if (key == NULL || *key == '\0')
		return vx_fail(c, VX_EINVAL, "key", "required", "flag key is required");
	rc = vx_store_write(c->store, c->reader, flag_write_tx, &op);
	*out = op.out;
	return rc;
}

/* ---- flags ---- */

struct create_op {
	vx_call *c;
	const Vexil__V1__CreateFlagRequest *in;
	Vexil__V1__Flag *out;
};

/* Derived keys: a base of at most SLUG_MAX leaves room for "-100000". */
#define SLUG_MAX 120
#define SUFFIX_MAX 100000

static bool
key_ok(const char *s)
{
	for (size_t i = 0; s[i]; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '_' && ch != '-' && ch != '.')))
			return false;
	}
	return *s != '\0';
}

/* The base of a key derived from a name: the name when it is a valid key
 * of at most SLUG_MAX; else its letters, digits, '_' and '.' with every
 * other run of bytes as one '-', from the first letter or digit ("flag"
 * when nothing is left). */
static char *
key_base(vx_call *c, const char *name)
{
	size_t n = strlen(name), o = 0;
	char *k;

	if (n <= SLUG_MAX && key_ok(name))
		return vx_arena_strdup(c->arena, name);
	if ((k = vx_arena_alloc(c->arena, SLUG_MAX + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n && o < SLUG_MAX; i++) {
		char ch = name[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9');
		if (alnum || (o > 0 && (ch == '_' || ch == '.')))
			k[o++] = ch;
		else if (o > 0 && k[o - 1] != '-')
			k[o++] = '-';
	}
	while (o > 0 && k[o - 1] == '-')
		o--;
	k[o] = '\0';
	return o ? k : vx_arena_strdup(c->arena, "flag");
}

/* Sets f->key to the first of base, base-2, base-3, ... that is free in p. */
static int
derive_key(vx_call *c, MDB_txn *txn, Vexil__V1__Project *p, Vexil__V1__Flag *f)
{
	Vexil__V1__Flag *old;
	char *base = key_base(c, f->name), *key;
	int rc;

	if (base == NULL)
		return VX_ENOMEM;
	for (int n = 1; n <= SUFFIX_MAX; n++) {
		key = n == 1 ? base : vx_arena_printf(c->arena, "%s-%d", base, n);
		if (key == NULL)
			return VX_ENOMEM;
		rc = vx_store_flag_get(txn, c->store, p->id, key, c->alloc, &old);
		if (rc == VX_ENOTFOUND) {
			f->key = key;
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	return vx_fail(c, VX_EEXIST, "key", "unique",
	    "every key derived from this name is taken in project %.100s", p->name);
}

/* Adds an enabled config for every environment the flag does not configure. */
static int
enable_everywhere(vx_call *c, MDB_txn *txn, Vexil__V1__Project *p, Vexil__V1__Flag *f)
{
	Vexil__V1__Environment **envs;
	size_t n;
	int rc;

	if ((rc = vx_store_env_list(txn, c->store, p->id, c->alloc, &envs, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (vx_flag_env(f, envs[i]->key) != NULL)
			continue;
		if ((rc = vx_flag_add_env(c, f, envs[i]->key)) != 0)
			return rc;
		f->envs[f->n_envs - 1]->enabled = true;
	}
	return 0;
}

int
vx_flag_prepare(vx_wtxn *w, vx_call *c, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const Vexil__V1__Flag *old)
{
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Environment **envs;
	size_t nenvs;
	int rc;

	/* Server-owned fields are never taken from the request. */
	if (old != NULL) {
		f->id = old->id;
		f->created_at = old->created_at;
		f->created_by = old->created_by;
	} else {
		if ((rc = vx_store_next_id(w, VX_SEQ_FLAG, &f->id)) != 0)
			return rc;
		f->created_at = vx_now_ms();
		f->created_by = c->who.actor;
	}
	f->project_id = p->id;
	f->updated_at = vx_now_ms();
	f->updated_by = c->who.actor;
	if (*f->name == '\0')
		f->name = f->key;
	if ((rc = default_variants(c, f)) != 0)
		return rc;
	/* Every environment of the project gets a config; given ones are kept. */
	if ((rc = vx_store_env_list(txn, c->store, p->id, c->alloc, &envs, &nenvs)) != 0)
		return rc;
	for (size_t i = 0; i < f->n_envs; i++) {
		Vexil__V1__FlagEnvConfig *cfg = f->envs[i];
		for (size_t j = 0; j < cfg->n_rules; j++)
			cfg->rules[j]->id = 0;
		if (*cfg->default_variant == '\0')
			cfg->default_variant = (char *)variant_on(f);
		if (*cfg->off_variant == '\0')
			cfg->off_variant = (char *)variant_off(f);
		if ((rc = number_rules(w, cfg)) != 0)
			return rc;
	}
	for (size_t i = 0; i < nenvs; i++)
		if (vx_flag_env(f, envs[i]->key) == NULL &&
		    (rc = vx_flag_add_env(c, f, envs[i]->key)) != 0)
			return rc;
	return 0;
}

int
vx_flag_create(vx_wtxn *w, vx_call *c, Vexil__V1__Project *p, Vexil__V1__Flag *f)
{
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Flag *old;
	int rc;

	rc = vx_store_flag_get(txn, c->store, p->id, f->key, c->alloc, &old);
	if (rc == 0)
		return vx_fail(c, VX_EEXIST, "key", "unique",
		    "flag %s already exists in project %.100s", f->key, p->name);
	if (rc != VX_ENOTFOUND)
		return rc;
	if ((rc = vx_flag_prepare(w, c, p, f, NULL)) != 0 ||
	    (rc = vx_flag_check(c, txn, f)) != 0 || (rc = vx_store_flag_put(w, f)) != 0)
		return rc;
	return vx_store_record_change(w, p, VEXIL__V1__CHANGE_KIND__FLAG_CREATED, "",
	    f->key, f->id, c->who.actor, c->method);
}

static int
create_flag_tx(vx_wtxn *w, void *arg)
{
	struct create_op *op = arg;
	vx_call *c = op->c;
	Vexil__V1__Project *p;
	Vexil__V1__Flag *f;
	int rc;

	if ((rc = vx_call_project(c, vx_wtxn_txn(w), op->in->project,
	         VEXIL__V1__ROLE__ROLE_WRITE, &p)) != 0)
		return rc;
	/* The write fills in a copy: a held create is stored as it was sent
	 * (a derived key is derived again when it is approved). */
	if ((f = vx_arena_alloc(c->arena, sizeof(*f))) == NULL)
		return VX_ENOMEM;
	*f = *op->in->flag;
	if (op->in->derive_key && (rc = derive_key(c, vx_wtxn_txn(w), p, f)) != 0)
		return rc;
	if (op->in->enabled && (rc = enable_everywhere(c, vx_wtxn_txn(w), p, f)) != 0)
		return rc;
	/* A flag that starts on in a protected environment is a change of
	 * it: held after the create's own checks, or, approved, checked for
	 * staleness before the create records its own change. */
	if ((c->review != NULL && (rc = vx_protect_create(c, w, p, f)) != 0) ||
	    (rc = vx_flag_create(w, c, p, f)) != 0 ||
	    (c->review == NULL && (rc = vx_protect_create(c, w, p, f)) != 0))
		return rc;
	op->out = f;
	return 0;
}

static void
create_flag(Vexil__V1__FlagService_Service *svc, const Vexil__V1__CreateFlagRequest *in,
    Vexil__V1__Flag_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct create_op op = {c, in, NULL};
	int rc;

	(void)svc;
	if (in->flag == NULL)
		rc = vx_fail(c, VX_EINVAL, "flag", "required", "flag is required");
	else if (in->derive_key && *in->flag->key != '\0')
		rc = vx_fail(c, VX_EINVAL, "flag.key", "derived",
		    "flag.key must be empty when derive_key is set");
	else if (in->derive_key)
		rc = vx_check_text(c, "flag.name", in->flag->name, 1, VX_FLAG_NAME_MAX);
	else
		rc = vx_check_key(c, "flag.key", in->flag->key, VX_KEY_MAX);
	if (rc == 0)
		rc = vx_store_write(c->store, c->reader, create_flag_tx, &op);
	VX_REPLY(c, rc, op.out);
}

static void
get_flag(Vexil__V1__FlagService_Service *svc, const Vexil__V1__GetFlagRequest *in,
    Vexil__V1__Flag_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	const Vexil__V1__Project *p;
	Vexil__V1__Flag *f = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_view(c, in->project, &p)) != 0)
		goto out;
	if (*in->key) {
		rc = flag_load_packed(c, p, in->key, &f);
	} else if (in->id) {
		rc = vx_store_flag_get_by_id(
		    c->reader->txn, c->store, in->id, c->alloc, &f);
		if (rc == 0 && f->project_id != p->id)
			rc = VX_ENOTFOUND;
		if (rc == VX_ENOTFOUND)
			rc = vx_fail(c, rc, "id", NULL,
			    "flag %llu not found in project %.100s",
			    (unsigned long long)in->id, p->name);
	} else {
		rc = vx_fail(
		    c, VX_EINVAL, "key", "required", "flag key or id is required");
	}
out:
	VX_REPLY(c, rc, f);
}

/* ListFlags' filters: an exact tag and a text searched for in the key,
 * the name and the tags; NULL or "" passes everything. */
struct flag_filter {
	const char *tag, *search;
};

/* Whether needle occurs in hay, ASCII letters without case (keys and
 * names are UTF-8; other bytes compare exactly). */
static bool
contains_text(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

static bool
flag_passes(const Vexil__V1__Flag *f, void *arg)
{
	const struct flag_filter *ff = arg;
	bool tag = !*ff->tag, text = !*ff->search || contains_text(f->key, ff->search) ||
	                             contains_text(f->name, ff->search);

	for (size_t i = 0; i < f->n_tags; i++) {
		tag = tag || strcmp(f->tags[i], ff->tag) == 0;
		text = text || contains_text(f->tags[i], ff->search);
	}
	return tag && text;
}

/* A page of flags; without a limit, at most this many come back. */
#define LIST_MAX 1000

static void
list_flags(Vexil__V1__FlagService_Service *svc, const Vexil__V1__ListFlagsRequest *in,
    Vexil__V1__FlagList_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Project *p;
	Vexil__V1__FlagList *out = NULL;
	struct flag_filter ff = {in->tag, in->search};
	size_t total;
	int rc;

	(void)svc;
	if ((rc = vx_call_project_read(c, in->project, &p)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__flag_list__init(out);
	rc = vx_store_flag_page(c->reader->txn, c->store, p->id, in->offset,
	    in->limit && in->limit < LIST_MAX ? in->limit : LIST_MAX,
	    *in->tag || *in->search ? flag_passes : NULL, &ff, c->alloc, &out->flags,
	    &out->n_flags, &total);
	out->total = (uint32_t)total;
out:
	VX_REPLY(c, rc, out);
}

static const char *const flag_mask[] = {"name", "description", "tags", "owner",
    "metadata", "type", "variants", "env.enabled", "env.default_variant",
    "env.off_variant", "env.rollout_percentage", "env.rollout", "env.prerequisites",
    "disabled_serves_default", NULL};

static int env_config(vx_call *c, MDB_txn *txn, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const char *env, Vexil__V1__FlagEnvConfig **out);

static bool
mask_has_env(char **mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(mask[i], "env.", 4) == 0)
			return true;
	return false;
}

/* Applies the env-config fields named in mask (each after `prefix`). */
static int
apply_env_mask(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *u, char **m, size_t nm, const char *prefix)
{
	static const char *const fields[] = {"enabled", "default_variant", "off_variant",
	    "rollout_percentage", "rollout", "prerequisites"};
	Vexil__V1__FlagEnvConfig *cfg;
	bool want[6];
	char name[40];
	int rc;

	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "%s%s", prefix, fields[i]);
		want[i] = vx_mask_has(m, nm, name);
	}
	if ((rc = env_config(c, vx_wtxn_txn(w), p, f, u->environment, &cfg)) != 0)
		return rc;
	if (want[0])
		cfg->enabled = u->enabled;
	if (want[1])
		cfg->default_variant = u->default_variant;
	if (want[2])
		cfg->off_variant = u->off_variant;
	if (want[3])
		cfg->rollout_percentage = u->rollout_percentage;
	if (want[4])
		cfg->rollout = u->rollout;
	if (want[5]) {
		cfg->prerequisites = u->prerequisites;
		cfg->n_prerequisites = u->n_prerequisites;
	}
	return 0;
}

/* Something done to one environment's config by each_env(). */
typedef int (*env_fn)(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *u, void *arg);

/*
 * Calls fn for every environment of the project (all; u as the template,
 * its environment replaced), else for `one` when it names an environment,
 * then for each of more[] in order; an environment is done once, by its
 * last mention.
 */
static int
each_env(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, bool all,
    const Vexil__V1__FlagEnvConfig *one, Vexil__V1__FlagEnvConfig *const *more,
    size_t nmore, env_fn fn, void *arg)
{
	Vexil__V1__FlagEnvConfig u;
	int rc;

	if (all) {
		Vexil__V1__Environment **envs;
		size_t n;
		if ((rc = vx_store_env_list(
		         vx_wtxn_txn(w), c->store, p->id, c->alloc, &envs, &n)) != 0)
			return rc;
		for (size_t i = 0; i < n; i++) {
			u = *one;
			u.environment = envs[i]->key;
			if ((rc = fn(c, w, p, f, &u, arg)) != 0)
				return rc;
		}
	} else if (one != NULL && *one->environment != '\0' &&
	           (rc = fn(c, w, p, f, one, arg)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < nmore; i++)
		if ((rc = fn(c, w, p, f, more[i], arg)) != 0)
			return rc;
	return 0;
}

static int
apply_env_fn(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *u, void *arg)
{
	const Vexil__V1__UpdateFlagRequest *in = arg;
	return apply_env_mask(c, w, p, f, u, in->update_mask, in->n_update_mask, "env.");
}

/*
 * Checks the environments a multi-environment request names: `all` (with
 * more[] after it when more_with_all), or `one` and/or more[]; at least
 * one. *env gets the one environment the change notice names, or "" for
 * several.
 */
static int
check_env_targets(vx_call *c, bool all, const char *one, const char *one_field,
    char **more, size_t nmore, const char *more_field, bool more_with_all,
    const char **env)
{
	int rc;

	*env = "";
	if (all && (*one || (nmore && !more_with_all)))
		return vx_fail(c, VX_EINVAL, "all_environments", "exclusive",
		    "all_environments names every environment: name no other");
	if (*one && (rc = vx_check_key(c, one_field, one, 64)) != 0)
		return rc;
	for (size_t i = 0; i < nmore; i++)
		if ((rc = vx_check_key(c, more_field, more[i], 64)) != 0)
			return rc;
	if (all)
		return 0;
	if (!*one && nmore == 0)
		return vx_fail(c, VX_EINVAL, one_field, "required",
		    "%s (or environments, or all_environments) is required", one_field);
	if (nmore == 0 || (!*one && nmore == 1))
		*env = *one ? one : more[0];
	return 0;
}

static int
update_flag_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	const Vexil__V1__UpdateFlagRequest *in = arg;
	const Vexil__V1__Flag *u = in->update;
	char **m = in->update_mask;
	size_t nm = in->n_update_mask;

	if (vx_mask_has(m, nm, "name"))
		f->name = *u->name ? u->name : f->key;
	if (vx_mask_has(m, nm, "description"))
		f->description = u->description;
	if (vx_mask_has(m, nm, "owner"))
		f->owner = u->owner;
	if (vx_mask_has(m, nm, "type"))
		f->type = u->type;
	if (vx_mask_has(m, nm, "tags")) {
		f->tags = u->tags;
		f->n_tags = u->n_tags;
	}
	if (vx_mask_has(m, nm, "metadata")) {
		f->metadata = u->metadata;
		f->n_metadata = u->n_metadata;
	}
	if (vx_mask_has(m, nm, "disabled_serves_default"))
		f->disabled_serves_default = u->disabled_serves_default;
	if (vx_mask_has(m, nm, "variants")) {
		f->variants = u->variants;
		f->n_variants = u->n_variants;
		int rc = default_variants(c, f);
		if (rc != 0)
			return rc;
	}
	if (!mask_has_env(m, nm))
		return 0;
	return each_env(c, w, p, f, in->all_environments, in->env, in->envs, in->n_envs,
	    apply_env_fn, (void *)in);
}

/* The environments an UpdateFlag's env.* fields go to; *env as above. */
static int
check_update_envs(vx_call *c, const Vexil__V1__UpdateFlagRequest *in, const char **env)
{
	bool has_env = mask_has_env(in->update_mask, in->n_update_mask);
	const char *one = in->env ? in->env->environment : "";
	char **more = NULL;
	int rc;

	*env = "";
	if (!has_env) {
		if (in->all_environments || in->n_envs)
			return vx_fail(c, VX_EINVAL, "update_mask", "required",
			    "update_mask names no env.* field for the environments to "
			    "change");
		return 0;
	}
	if (in->all_environments && in->env == NULL)
		return vx_fail(c, VX_EINVAL, "env", "required",
		    "env holds the values all_environments sets");
	if (in->n_envs &&
	    (more = vx_arena_alloc(c->arena, in->n_envs * sizeof(*more))) == NULL)
		return VX_ENOMEM;
	for (size_t i = 0; i < in->n_envs; i++)
		more[i] = in->envs[i]->environment;
	rc = check_env_targets(c, in->all_environments, one, "env.environment", more,
	    in->n_envs, "envs.environment", true, env);
	return rc;
}

static void
update_flag(Vexil__V1__FlagService_Service *svc, const Vexil__V1__UpdateFlagRequest *in,
    Vexil__V1__Flag_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Flag *f = NULL;
	const char *env;
	int rc;

	(void)svc;
	if (in->update == NULL)
		rc = vx_fail(c, VX_EINVAL, "update", "required", "update is required");
	else if ((rc = vx_check_mask(c, in->update_mask, in->n_update_mask, flag_mask)) !=
	         0)
		;
	else if ((rc = check_update_envs(c, in, &env)) == 0)
		rc = flag_write(c, in->project, in->key,
		    VEXIL__V1__CHANGE_KIND__FLAG_UPDATED, env, update_flag_mut,
		    (void *)in, &f);
	VX_REPLY(c, rc, f);
}

static int
delete_flag_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	(void)p;
	(void)arg;
	return vx_prereq_dependents_check(c, vx_wtxn_txn(w), f);
}

static void
delete_flag(Vexil__V1__FlagService_Service *svc, const Vexil__V1__DeleteFlagRequest *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Flag *f;
	int rc;

	(void)svc;
	rc = flag_write(c, in->project, in->key, VEXIL__V1__CHANGE_KIND__FLAG_DELETED, "",
	    delete_flag_mut, NULL, &f);
	VX_REPLY(c, rc, &empty);
}

/* Finds (creating when the environment exists) a flag's env config. */
static int
env_config(vx_call *c, MDB_txn *txn, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const char *env, Vexil__V1__FlagEnvConfig **out)
{
	Vexil__V1__Environment *e;
	int rc;

	if ((*out = vx_flag_env(f, env)) != NULL)
		return 0;
	rc = vx_store_env_get(txn, c->store, p->id, env, c->alloc, &e);
	if (rc == VX_ENOTFOUND)
		return vx_fail(c, rc, "environment", NULL,
		    "environment %.64s not found in project %.100s", env, p->name);
	if (rc != 0 || (rc = vx_flag_add_env(c, f, env)) != 0)
		return rc;
	*out = f->envs[f->n_envs - 1];
	return 0;
}

static int
set_enabled_fn(vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *u, void *arg)
{
	const Vexil__V1__SetFlagEnabledRequest *in = arg;
	Vexil__V1__FlagEnvConfig *cfg;
	int rc = env_config(c, vx_wtxn_txn(w), p, f, u->environment, &cfg);
	if (rc == 0)
		cfg->enabled = in->toggle ? !cfg->enabled : in->enabled;
	return rc;
}

static int
set_enabled_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	const Vexil__V1__SetFlagEnabledRequest *in = arg;
	Vexil__V1__FlagEnvConfig one = VEXIL__V1__FLAG_ENV_CONFIG__INIT, **more = NULL;
	size_t n = 0;

	one.environment = in->environment;
	/* Each environment once, so that toggling flips it once. */
	if (in->n_environments &&
	    (more = vx_arena_alloc(c->arena, in->n_environments * sizeof(*more))) == NULL)
		return VX_ENOMEM;
	for (size_t i = 0; i < in->n_environments; i++) {
		bool dup = strcmp(in->environments[i], in->environment) == 0;
		for (size_t j = 0; !dup && j < n; j++)
			dup = strcmp(more[j]->environment, in->environments[i]) == 0;
		if (dup)
			continue;
		if ((more[n] = vx_arena_alloc(c->arena, sizeof(**more))) == NULL)
			return VX_ENOMEM;
		vexil__v1__flag_env_config__init(more[n]);
		more[n++]->environment = in->environments[i];
	}
	return each_env(
	    c, w, p, f, in->all_environments, &one, more, n, set_enabled_fn, arg);
}

static void
set_flag_enabled(Vexil__V1__FlagService_Service *svc,
    const Vexil__V1__SetFlagEnabledRequest *in, Vexil__V1__Flag_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Flag *f = NULL;
	const char *env;
	int rc;

	(void)svc;
	if ((rc = check_env_targets(c, in->all_environments, in->environment,
	         "environment", in->environments, in->n_environments, "environments",
	         false, &env)) == 0)
		rc = flag_write(c, in->project, in->key,
		    VEXIL__V1__CHANGE_KIND__FLAG_TOGGLED, env, set_enabled_mut,
		    (void *)in, &f);
	VX_REPLY(c, rc, f);
}

static const char *const env_cfg_mask[] = {"enabled", "default_variant", "off_variant",
    "rollout_percentage", "rollout", "prerequisites", NULL};

static int
update_env_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	const Vexil__V1__UpdateFlagEnvRequest *in = arg;
	return apply_env_mask(
	    c, w, p, f, in->update, in->update_mask, in->n_update_mask, "");
}

static void
update_flag_env(Vexil__V1__FlagService_Service *svc,
    const Vexil__V1__UpdateFlagEnvRequest *in, Vexil__V1__Flag_Closure closure,
    void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Flag *f = NULL;
	int rc;

	(void)svc;
	if (in->update == NULL)
		rc = vx_fail(c, VX_EINVAL, "update", "required", "update is required");
	else if ((rc = vx_check_key(
	              c, "update.environment", in->update->environment, 64)) == 0 &&
	         (rc = vx_check_mask(
	              c, in->update_mask, in->n_update_mask, env_cfg_mask)) == 0)
		rc = flag_write(c, in->project, in->key,
		    VEXIL__V1__CHANGE_KIND__FLAG_UPDATED, in->update->environment,
		    update_env_mut, (void *)in, &f);
	VX_REPLY(c, rc, f);
}

Vexil__V1__FlagService_Service vx_flag_service = VEXIL__V1__FLAG_SERVICE__INIT();

/* ---- rules ---- */

/* Finds rule id in the flag (in env when given). */
static int
rule_find(vx_call *c, Vexil__V1__Flag *f, const char *env, uint64_t id,
    Vexil__V1__FlagEnvConfig **cfg_out, size_t *idx)
{
	for (size_t i = 0; i < f->n_envs; i++) {
		Vexil__V1__FlagEnvConfig *cfg = f->envs[i];
		if (*env && strcmp(cfg->environment, env) != 0)
			continue;
		for (size_t j = 0; j < cfg->n_rules; j++) {
			if (cfg->rules[j]->id == id) {
				*cfg_out = cfg;
				*idx = j;
				return 0;
			}
		}
	}
	return vx_fail(c, VX_ENOTFOUND, "rule_id", NULL,
	    "rule %llu not found in flag %.128s", (unsigned long long)id, f->key);
}

/* The platform API's model (CreateRuleRequest.targeted_fallthrough): an
 * environment with rules serves only the users they match. */
static void
targeted_fallthrough(const Vexil__V1__Flag *f, Vexil__V1__FlagEnvConfig *cfg)
{
	cfg->default_variant =
	    cfg->n_rules > 0 ? cfg->off_variant : (char *)variant_on(f);
}

struct rule_arg {
	const Vexil__V1__CreateRuleRequest *create;
	const Vexil__V1__UpdateRuleRequest *update;
	const Vexil__V1__RuleRef *ref;
	Vexil__V1__Rule *out;
};

static int
create_rule_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	struct rule_arg *ra = arg;
	Vexil__V1__FlagEnvConfig *cfg;
	Vexil__V1__Rule **bigger, *r = ra->create->rule;
	int rc = env_config(c, vx_wtxn_txn(w), p, f, ra->create->environment, &cfg);

	if (rc != 0)
		return rc;
	if ((bigger = vx_arena_alloc(c->arena, (cfg->n_rules + 1) * sizeof(*bigger))) ==
	    NULL)
		return VX_ENOMEM;
	if (cfg->n_rules)
		memcpy(bigger, cfg->rules, cfg->n_rules * sizeof(*bigger));
	r->id = 0; /* assigned by number_rules() */
	bigger[cfg->n_rules] = r;
	cfg->rules = bigger;
	cfg->n_rules++;
	if (ra->create->targeted_fallthrough)
		targeted_fallthrough(f, cfg);
	ra->out = r;
	return 0;
}

static void
create_rule(Vexil__V1__RuleService_Service *svc, const Vexil__V1__CreateRuleRequest *in,
    Vexil__V1__Rule_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct rule_arg ra = {.create = in};
	Vexil__V1__Flag *f;
	int rc;

	(void)svc;
	if (in->rule == NULL)
		rc = vx_fail(c, VX_EINVAL, "rule", "required", "rule is required");
	else if ((rc = vx_check_key(c, "environment", in->environment, 64)) == 0)
		rc = flag_write(c, in->project, in->flag_key,
		    VEXIL__V1__CHANGE_KIND__RULE_CREATED, in->environment,
		    create_rule_mut, &ra, &f);
	VX_REPLY(c, rc, ra.out);
}

static int
read_flag(vx_call *c, const char *project, const char *key, Vexil__V1__Flag **f)
{
	Vexil__V1__Project *p;
	int rc;

	if (key == NULL || *key == '\0')
		return vx_fail(
		    c, VX_EINVAL, "flag_key", "required", "flag_key is required");
	if ((rc = vx_call_project_read(c, project, &p)) != 0)
		return rc;
	return flag_load(c, c->reader->txn, p, key, f);
}

static void
get_rule(Vexil__V1__RuleService_Service *svc, const Vexil__V1__RuleRef *in,
    Vexil__V1__Rule_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Flag *f;
	Vexil__V1__FlagEnvConfig *cfg;
	Vexil__V1__Rule *r = NULL;
	size_t idx;
	int rc;

	(void)svc;
	if ((rc = read_flag(c, in->project, in->flag_key, &f)) == 0 &&
	    (rc = rule_find(c, f, in->environment, in->rule_id, &cfg, &idx)) == 0)
		r = cfg->rules[idx];
	VX_REPLY(c, rc, r);
}

static void
list_rules(Vexil__V1__RuleService_Service *svc, const Vexil__V1__ListRulesRequest *in,
    Vexil__V1__RuleList_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__Flag *f;
	Vexil__V1__FlagEnvConfig *cfg;
	Vexil__V1__RuleList *out = NULL;
	int rc;

	(void)svc;
	if ((rc = vx_check_key(c, "environment", in->environment, 64)) != 0 ||
	    (rc = read_flag(c, in->project, in->flag_key, &f)) != 0)
		goto out;
	if ((out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = VX_ENOMEM;
		goto out;
	}
	vexil__v1__rule_list__init(out);
	if ((cfg = vx_flag_env(f, in->environment)) != NULL) {
		out->rules = cfg->rules;
		out->n_rules = cfg->n_rules;
	}
out:
	VX_REPLY(c, rc, out);
}

static const char *const rule_mask[] = {"name", "priority", "enabled", "conditions",
    "rollout", "variant", "split", "segments", "split_stickiness", NULL};

static int
update_rule_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	struct rule_arg *ra = arg;
	const Vexil__V1__Rule *u = ra->update->update;
	char **m = ra->update->update_mask;
	size_t nm = ra->update->n_update_mask;
	Vexil__V1__FlagEnvConfig *cfg;
	Vexil__V1__Rule *r;
	size_t idx;
	int rc;

	(void)w;
	(void)p;
	if ((rc = rule_find(c, f, ra->ref->environment, ra->ref->rule_id, &cfg, &idx)) !=
	    0)
		return rc;
	r = cfg->rules[idx];
	if (vx_mask_has(m, nm, "name"))
		r->name = u->name;
	if (vx_mask_has(m, nm, "priority"))
		r->priority = u->priority;
	if (vx_mask_has(m, nm, "enabled"))
		r->enabled = u->enabled;
	if (vx_mask_has(m, nm, "conditions")) {
		r->conditions = u->conditions;
		r->n_conditions = u->n_conditions;
	}
	if (vx_mask_has(m, nm, "rollout"))
		r->rollout = u->rollout;
	if (vx_mask_has(m, nm, "variant"))
		r->variant = u->variant;
	if (vx_mask_has(m, nm, "split")) {
		r->split = u->split;
		r->n_split = u->n_split;
	}
	if (vx_mask_has(m, nm, "segments")) {
		r->segments = u->segments;
		r->n_segments = u->n_segments;
	}
	/* Empty: the split buckets by the rollout's stickiness again, as a
	 * rule created without one does; a name is checked with the flag. */
	if (vx_mask_has(m, nm, "split_stickiness"))
		r->split_stickiness = u->split_stickiness;
	r->updated_at = vx_now_ms();
	ra->out = r;
	return 0;
}

/* The mask, and a new split stickiness named as the request names it (the
 * flag's check would say rules[N]), checked as a new rule's is. */
static int
check_rule_update(vx_call *c, const Vexil__V1__UpdateRuleRequest *in)
{
	int rc = vx_check_mask(c, in->update_mask, in->n_update_mask, rule_mask);

	if (rc == 0 &&
	    vx_mask_has(in->update_mask, in->n_update_mask, "split_stickiness") &&
	    *in->update->split_stickiness)
		rc = vx_check_key(
		    c, "update.split_stickiness", in->update->split_stickiness, 64);
	return rc;
}

static void
update_rule(Vexil__V1__RuleService_Service *svc, const Vexil__V1__UpdateRuleRequest *in,
    Vexil__V1__Rule_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct rule_arg ra = {.update = in, .ref = in->ref};
	Vexil__V1__Flag *f;
	int rc;

	(void)svc;
	if (in->ref == NULL || in->update == NULL)
		rc = vx_fail(c, VX_EINVAL, in->ref ? "update" : "ref", "required",
		    "%s is required", in->ref ? "update" : "ref");
	else if ((rc = check_rule_update(c, in)) == 0)
		rc = flag_write(c, in->ref->project, in->ref->flag_key,
		    VEXIL__V1__CHANGE_KIND__RULE_UPDATED, in->ref->environment,
		    update_rule_mut, &ra, &f);
	VX_REPLY(c, rc, ra.out);
}

static int
delete_rule_mut(
    vx_call *c, vx_wtxn *w, Vexil__V1__Project *p, Vexil__V1__Flag *f, void *arg)
{
	struct rule_arg *ra = arg;
	Vexil__V1__FlagEnvConfig *cfg;
	size_t idx;
	int rc;

	(void)w;
	(void)p;
	if ((rc = rule_find(c, f, ra->ref->environment, ra->ref->rule_id, &cfg, &idx)) !=
	    0)
		return rc;
	memmove(&cfg->rules[idx], &cfg->rules[idx + 1],
	    (cfg->n_rules - idx - 1) * sizeof(*cfg->rules));
	cfg->n_rules--;
	if (ra->ref->targeted_fallthrough)
		targeted_fallthrough(f, cfg);
	return 0;
}

static void
delete_rule(Vexil__V1__RuleService_Service *svc, const Vexil__V1__RuleRef *in,
    Vexil__V1__Empty_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	struct rule_arg ra = {.ref = in};
	Vexil__V1__Flag *f;
	int rc;

	(void)svc;
	rc =
	    flag_write(c, in->project, in->flag_key, VEXIL__V1__CHANGE_KIND__RULE_DELETED,
	        in->environment, delete_rule_mut, &ra, &f);
	VX_REPLY(c, rc, &empty);
}

Vexil__V1__RuleService_Service vx_rule_service = VEXIL__V1__RULE_SERVICE__INIT();
