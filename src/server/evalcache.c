/*
 * Vexil — the compiled-flag cache: see evalcache.h.
 *
 * Snapshots live in a list keyed by (project, environment). Building runs
 * outside the lock; if two readers race to build the same revision, one
 * installs and the other's copy is freed. A snapshot for a revision older
 * than the installed one is never installed.
 */
#include "server/evalcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model/compile.h"

struct slot {
	struct slot *next;
	vx_snapshot *snap;
};

struct vx_evalcache {
	pthread_mutex_t lock;
	struct slot *slots;
};

int
vx_evalcache_alloc(vx_evalcache **out)
{
	vx_evalcache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VX_ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

static void
snap_free(vx_snapshot *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		vx_eval_flag_free(s->flags[i].flag);
		free(s->flags[i].rule_ids);
		free((char *)s->flags[i].key);
	}
	free(s->flags);
	free(s->env);
	free(s);
}

void
vx_evalcache_free(vx_evalcache *c)
{
	struct slot *s, *next;
	if (c == NULL)
		return;
	for (s = c->slots; s != NULL; s = next) {
		next = s->next;
		snap_free(s->snap);
		free(s);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int
build(MDB_txn *txn, vx_store *st, const Vexil__V1__Project *p, const char *env,
    vx_snapshot **out)
{
	Vexil__V1__Flag **flags = NULL;
	vx_snapshot *s;
	size_t n = 0;
	char err[200];
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL || (s->env = strdup(env)) == NULL) {
		free(s);
		return VX_ENOMEM;
	}
	s->project_id = p->id;
	s->revision = p->revision;
	if ((rc = vx_store_flag_list(txn, st, p->id, NULL, &flags, &n)) != 0)
		goto fail;
	if (n && (s->flags = calloc(n, sizeof(*s->flags))) == NULL) {
		rc = VX_ENOMEM;
		goto fail;
	}
	/* The store lists flags in key order, which is the order we search. */
	for (size_t i = 0; i < n; i++) {
		const Vexil__V1__FlagEnvConfig *cfg = NULL;
		vx_compiled *cf = &s->flags[s->n];
		for (size_t j = 0; j < flags[i]->n_envs; j++)
			if (strcmp(flags[i]->envs[j]->environment, env) == 0)
				cfg = flags[i]->envs[j];
		if (cfg == NULL)
			continue; /* every stored flag has every env; be safe anyway */
		if ((cf->key = strdup(flags[i]->key)) == NULL ||
		    (cfg->n_rules && (cf->rule_ids = calloc(cfg->n_rules, 8)) == NULL)) {
			free((char *)cf->key);
			rc = VX_ENOMEM;
			goto fail;
		}
		for (size_t j = 0; j < cfg->n_rules; j++)
			cf->rule_ids[j] = cfg->rules[j]->id;
		cf->type = flags[i]->type;
		rc = vx_flag_compile(flags[i], cfg, &cf->flag, err, sizeof(err));
		if (rc != 0) {
			vx_log(VX_LOG_ERROR, "eval: stored flag %s does not compile: %s",
			    flags[i]->key, err);
			free((char *)cf->key);
			free(cf->rule_ids);
			goto fail;
		}
		s->n++;
	}
	rc = 0;
fail:
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&flags[i]->base, NULL);
	free(flags);
	if (rc != 0) {
		snap_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
vx_evalcache_get(vx_evalcache *c, MDB_txn *txn, vx_store *st, const Vexil__V1__Project *p,
    const char *env, vx_snapshot **out)
{
	struct slot *sl;
	vx_snapshot *fresh, *old = NULL;
	int rc;

	pthread_mutex_lock(&c->lock);
	for (sl = c->slots; sl != NULL; sl = sl->next)
		if (sl->snap->project_id == p->id && strcmp(sl->snap->env, env) == 0)
			break;
	if (sl != NULL && sl->snap->revision == p->revision) {
		sl->snap->refs++;
		*out = sl->snap;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);

	if ((rc = build(txn, st, p, env, &fresh)) != 0)
		return rc;

	pthread_mutex_lock(&c->lock);
	for (sl = c->slots; sl != NULL; sl = sl->next)
		if (sl->snap->project_id == p->id && strcmp(sl->snap->env, env) == 0)
			break;
	if (sl == NULL && (sl = calloc(1, sizeof(*sl))) != NULL) {
		sl->next = c->slots;
		c->slots = sl;
	}
	if (sl != NULL && (sl->snap == NULL || sl->snap->revision < fresh->revision)) {
		old = sl->snap;
		fresh->refs = 1; /* the cache's own reference */
		sl->snap = fresh;
		if (old != NULL && --old->refs > 0)
			old = NULL;
	}
	fresh->refs++;
	pthread_mutex_unlock(&c->lock);
	snap_free(old);
	*out = fresh;
	return 0;
}

void
vx_evalcache_release(vx_evalcache *c, vx_snapshot *snap)
{
	bool last;
	pthread_mutex_lock(&c->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		snap_free(snap);
}

const vx_compiled *
vx_snapshot_find(const vx_snapshot *snap, const char *key)
{
	size_t lo = 0, hi = snap->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(snap->flags[mid].key, key);
		if (cmp == 0)
			return &snap->flags[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
