/*
 * Vexil — verifying a data dir: see check.h for what is checked.
 *
 * The checker shares the layout (layout.h) but not store.c's code: it
 * opens its own read-only environment, so it can run next to a serving
 * vexild (LMDB readers never block the writer) and never writes a byte. It reads
 * everything in one transaction, so what it sees is one committed state.
 */
#include "store/check.h"
#include "store/layout.h"

#include <lmdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/prereq.h"
#include "store/store.h"
#include "vexil/v1/model.pb-c.h"

/* Stop printing problems past this many; they are still counted. */
#define MAX_PRINTED 200

struct chk {
	MDB_txn *txn;
	MDB_dbi dbi[DB_COUNT_];
	bool have[DB_COUNT_];
	uint64_t seq[VX_SEQ_COUNT_];
	FILE *out;
	unsigned long problems;
};

static void VX_PRINTF(2, 3) problem(struct chk *k, const char *fmt, ...)
{
	va_list ap;

	if (++k->problems > MAX_PRINTED)
		return;
	fputs("problem: ", k->out);
	va_start(ap, fmt);
	vfprintf(k->out, fmt, ap);
	va_end(ap);
	fputc('\n', k->out);
}

/* The printable start of a key, for messages. */
static const char *
show(char *buf, size_t cap, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i, j = 0;

	for (i = 0; i < n && j + 5 < cap; i++) {
		if (p[i] >= 32 && p[i] < 127)
			buf[j++] = (char)p[i];
		else
			j += (size_t)snprintf(buf + j, cap - j, "\\x%02x", p[i]);
	}
	buf[j] = '\0';
	return buf;
}

static void *
unpack_val(const ProtobufCMessageDescriptor *desc, const MDB_val *v)
{
	return protobuf_c_message_unpack(desc, NULL, v->mv_size, v->mv_data);
}

static void *
decode(struct chk *k, int db, const ProtobufCMessageDescriptor *desc, const MDB_val *key,
    const MDB_val *v)
{
	char b[80];
	void *m = unpack_val(desc, v);

	if (m == NULL)
		problem(k, "%s: the record at key %s does not decode as %s",
		    vx_store_db_names[db], show(b, sizeof(b), key->mv_data, key->mv_size),
		    desc->name);
	return m;
}

static void
drop(void *m)
{
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* Looks a key up; returns true when found, with *v set. */
static bool
lookup(struct chk *k, int db, const void *key, size_t klen, MDB_val *v)
{
	MDB_val kv = {klen, (void *)key};

	if (!k->have[db])
		return false;
	return mdb_get(k->txn, k->dbi[db], &kv, v) == 0;
}

static bool
lookup_id(struct chk *k, int db, uint64_t id, MDB_val *v)
{
	uint8_t key[8];

	vx_be64_put(key, id);
	return lookup(k, db, key, 8, v);
}

typedef void (*walk_fn)(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg);

/* Calls fn for every record of db, in key order; returns how many. */
static size_t
walk(struct chk *k, int db, walk_fn fn, void *arg)
{
	MDB_cursor *cur;
	MDB_val key, v;
	size_t n = 0;
	int rc;

	if (!k->have[db])
		return 0;
	if ((rc = mdb_cursor_open(k->txn, k->dbi[db], &cur)) != 0) {
		problem(k, "%s: cannot open a cursor: %s", vx_store_db_names[db],
		    mdb_strerror(rc));
		return 0;
	}
	for (rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
		fn(k, &key, &v, arg);
		n++;
	}
	if (rc != MDB_NOTFOUND)
		problem(
		    k, "%s: read failed: %s", vx_store_db_names[db], mdb_strerror(rc));
	mdb_cursor_close(cur);
	return n;
}

/* An id must not be ahead of the sequence that handed it out. */
static void
check_seq(struct chk *k, int seq, uint64_t id, const char *what)
{
	if (id == 0 || id > k->seq[seq])
		problem(k, "%s has id %llu, but %s is %llu", what, (unsigned long long)id,
		    vx_store_seq_names[seq], (unsigned long long)k->seq[seq]);
}

/* ---- projects ---- */

static Vexil__V1__Project *
project_at(struct chk *k, uint64_t id)
{
	MDB_val v;

	if (!lookup_id(k, DB_PROJECTS, id, &v))
		return NULL;
	return unpack_val(&vexil__v1__project__descriptor, &v);
}

static void
each_project(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Project *p;
	uint8_t nk[520];
	size_t nlen;
	char what[160];
	MDB_val x;

	(void)arg;
	if (key->mv_size != 8) {
		problem(k, "projects: a key of %zu bytes (want 8)", key->mv_size);
		return;
	}
	if ((p = decode(k, DB_PROJECTS, &vexil__v1__project__descriptor, key, v)) == NULL)
		return;
	snprintf(what, sizeof(what), "project %llu (%.100s)", (unsigned long long)p->id,
	    p->name);
	if (p->id != vx_be64_get(key->mv_data))
		problem(k, "projects: %s is stored under id %llu", what,
		    (unsigned long long)vx_be64_get(key->mv_data));
	check_seq(k, VX_SEQ_PROJECT, p->id, what);
	nlen = vx_store_id_str_key(nk, sizeof(nk), p->owner_user_id, p->name);
	if (nlen == 0)
		problem(k, "projects: %s has an empty or oversized name", what);
	else if (!lookup(k, DB_PROJECT_NAMES, nk, nlen, &x))
		problem(k, "project_names: no entry for %s (owner %llu)", what,
		    (unsigned long long)p->owner_user_id);
	else if (x.mv_size != 8 || vx_be64_get(x.mv_data) != p->id)
		problem(k, "project_names: the name of %s points elsewhere", what);
	if (p->sdk_key_id != 0) {
		Vexil__V1__SdkKey *sk = NULL;
		if (!lookup_id(k, DB_SDKKEYS, p->sdk_key_id, &x) ||
		    (sk = unpack_val(&vexil__v1__sdk_key__descriptor, &x)) == NULL)
			problem(k,
			    "projects: %s has primary SDK key %llu, which does not exist",
			    what, (unsigned long long)p->sdk_key_id);
		else if (sk->project_id != p->id)
			problem(k,
			    "projects: %s has primary SDK key %llu of project %llu", what,
			    (unsigned long long)p->sdk_key_id,
			    (unsigned long long)sk->project_id);
		drop(sk);
	}
	drop(p);
}

static void
each_project_name(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Project *p;
	char b[80];

	(void)arg;
	show(b, sizeof(b), key->mv_size > 8 ? (const char *)key->mv_data + 8 : "",
	    key->mv_size > 8 ? key->mv_size - 8 : 0);
	if (key->mv_size <= 8 || v->mv_size != 8) {
		problem(k, "project_names: a malformed entry (%s)", b);
		return;
	}
	if ((p = project_at(k, vx_be64_get(v->mv_data))) == NULL) {
		problem(k,
		    "project_names: name %s points to project %llu, which does not exist",
		    b, (unsigned long long)vx_be64_get(v->mv_data));
		return;
	}
	if (p->owner_user_id != vx_be64_get(key->mv_data) ||
	    strlen(p->name) != key->mv_size - 8 ||
	    memcmp(p->name, (const char *)key->mv_data + 8, key->mv_size - 8) != 0)
		problem(k,
		    "project_names: name %s points to project %llu, which is named "
		    "%.100s",
		    b, (unsigned long long)p->id, p->name);
	drop(p);
}

/* ---- environments ---- */

static void
each_env(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Environment *e;
	uint8_t want[520];
	size_t wlen;
	char b[80], what[200];
	MDB_val x;

	(void)arg;
	if ((e = decode(k, DB_ENVS, &vexil__v1__environment__descriptor, key, v)) == NULL)
		return;
	snprintf(what, sizeof(what), "environment %llu (%llu/%.100s)",
	    (unsigned long long)e->id, (unsigned long long)e->project_id, e->key);
	wlen = vx_store_id_str_key(want, sizeof(want), e->project_id, e->key);
	if (wlen != key->mv_size || memcmp(want, key->mv_data, wlen) != 0)
		problem(k, "envs: %s is stored under key %s", what,
		    show(b, sizeof(b), key->mv_data, key->mv_size));
	check_seq(k, VX_SEQ_ENV, e->id, what);
	if (!lookup_id(k, DB_PROJECTS, e->project_id, &x))
		problem(k, "envs: %s belongs to a project that does not exist", what);
	drop(e);
}

/* ---- flags ---- */

static bool
has_variant(const Vexil__V1__Flag *f, const char *key)
{
	for (size_t i = 0; i < f->n_variants; i++)
		if (strcmp(f->variants[i]->key, key) == 0)
			return true;
	return false;
}

static void
check_flag_env(struct chk *k, const Vexil__V1__Flag *f,
    const Vexil__V1__FlagEnvConfig *cfg, const char *what)
{
	uint8_t ek[520];
	size_t elen =
	    vx_store_id_str_key(ek, sizeof(ek), f->project_id, cfg->environment);
	MDB_val x;

	if (elen == 0 || !lookup(k, DB_ENVS, ek, elen, &x))
		problem(k,
		    "flags: %s has a config for environment %.100s, which does not exist",
		    what, cfg->environment);
	if (!has_variant(f, cfg->default_variant) || !has_variant(f, cfg->off_variant))
		problem(k,
		    "flags: %s in %.100s serves a variant it does not have "
		    "(default %.100s, off %.100s)",
		    what, cfg->environment, cfg->default_variant, cfg->off_variant);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const Vexil__V1__Rule *r = cfg->rules[i];
		char rw[1024];
		snprintf(rw, sizeof(rw), "rule %llu of %s in %.100s",
		    (unsigned long long)r->id, what, cfg->environment);
		check_seq(k, VX_SEQ_RULE, r->id, rw);
		for (size_t j = 0; j < r->n_segments; j++) {
			uint8_t sk[520];
			size_t slen = vx_store_id_str_key(
			    sk, sizeof(sk), f->project_id, r->segments[j]);
			if (slen == 0 || !lookup(k, DB_SEGMENTS, sk, slen, &x))
				problem(k,
				    "flags: %s names segment %.100s, which does not "
				    "exist",
				    rw, r->segments[j]);
		}
		if (*r->variant && !has_variant(f, r->variant))
			problem(k,
			    "flags: %s serves variant %.100s, which the flag does not "
			    "have",
			    rw, r->variant);
		for (size_t j = 0; j < r->n_split; j++)
			if (!has_variant(f, r->split[j]->variant))
				problem(k,
				    "flags: %s splits to variant %.100s, which the flag "
				    "does not have",
				    rw, r->split[j]->variant);
	}
}

static void
each_flag(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Flag *f;
	uint8_t want[520];
	size_t wlen;
	char b[80], what[200];
	MDB_val x;

	(void)arg;
	if ((f = decode(k, DB_FLAGS, &vexil__v1__flag__descriptor, key, v)) == NULL)
		return;
	snprintf(what, sizeof(what), "flag %llu (%llu/%.100s)", (unsigned long long)f->id,
	    (unsigned long long)f->project_id, f->key);
	wlen = vx_store_id_str_key(want, sizeof(want), f->project_id, f->key);
	if (wlen != key->mv_size || memcmp(want, key->mv_data, wlen) != 0)
		problem(k, "flags: %s is stored under key %s", what,
		    show(b, sizeof(b), key->mv_data, key->mv_size));
	check_seq(k, VX_SEQ_FLAG, f->id, what);
	if (!lookup_id(k, DB_PROJECTS, f->project_id, &x))
		problem(k, "flags: %s belongs to a project that does not exist", what);
	if (!lookup_id(k, DB_FLAG_IDS, f->id, &x))
		problem(k, "flag_ids: no entry for %s", what);
	else if (x.mv_size != key->mv_size ||
	         memcmp(x.mv_data, key->mv_data, x.mv_size) != 0)
		problem(k, "flag_ids: the entry for %s points to key %s", what,
		    show(b, sizeof(b), x.mv_data, x.mv_size));
	for (size_t i = 0; i < f->n_envs; i++) {
		check_flag_env(k, f, f->envs[i], what);
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->envs[i]->environment, f->envs[j]->environment) == 0)
				problem(k,
				    "flags: %s has two configs for environment %.100s",
				    what, f->envs[i]->environment);
	}
	/* A flag may lack a config for an environment made after it: one is
	 * added (disabled) when first needed, so that is no problem. */
	drop(f);
}

/* ---- segments ---- */

static void
each_segment(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Segment *g;
	uint8_t want[520];
	size_t wlen;
	char b[80], what[200];
	MDB_val x;

	(void)arg;
	if ((g = decode(k, DB_SEGMENTS, &vexil__v1__segment__descriptor, key, v)) == NULL)
		return;
	snprintf(what, sizeof(what), "segment %llu (%llu/%.100s)",
	    (unsigned long long)g->id, (unsigned long long)g->project_id, g->name);
	wlen = vx_store_id_str_key(want, sizeof(want), g->project_id, g->name);
	if (wlen != key->mv_size || memcmp(want, key->mv_data, wlen) != 0)
		problem(k, "segments: %s is stored under key %s", what,
		    show(b, sizeof(b), key->mv_data, key->mv_size));
	check_seq(k, VX_SEQ_SEGMENT, g->id, what);
	if (!lookup_id(k, DB_PROJECTS, g->project_id, &x))
		problem(k, "segments: %s belongs to a project that does not exist", what);
	drop(g);
}

/* ---- schedules ---- */

static void
each_schedule(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Schedule *sc;
	char what[64];
	MDB_val x;

	(void)arg;
	if ((sc = decode(k, DB_SCHEDULES, &vexil__v1__schedule__descriptor, key, v)) ==
	    NULL)
		return;
	snprintf(what, sizeof(what), "schedule %llu", (unsigned long long)sc->id);
	if (key->mv_size != 8 || vx_be64_get(key->mv_data) != sc->id)
		problem(k, "schedules: %s is stored under another id", what);
	check_seq(k, VX_SEQ_SCHEDULE, sc->id, what);
	if (!lookup_id(k, DB_PROJECTS, sc->project_id, &x))
		problem(
		    k, "schedules: %s belongs to a project that does not exist", what);
	/* A change request awaits review with or without a time; approved
	 * ahead of its time, it is a schedule again. */
	bool review = sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_AWAITING_REVIEW;
	if (review && (sc->review == NULL || sc->at < 0))
		problem(k, "schedules: change request %s keeps no review", what);
	if (*sc->method == '\0' || (sc->at <= 0 && !review) ||
	    (sc->state != VEXIL__V1__SCHEDULE_STATE__SCHEDULE_PENDING &&
	        sc->state != VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED && !review) ||
	    (sc->caller != VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_API_KEY &&
	        sc->caller != VEXIL__V1__SCHEDULE_CALLER__SCHEDULE_CALLER_USER) ||
	    sc->caller_id == 0)
		problem(k, "schedules: %s lacks its method, time, state or caller", what);
	else if (sc->state == VEXIL__V1__SCHEDULE_STATE__SCHEDULE_FAILED &&
	         (sc->error == NULL || sc->error->code == VEXIL__V1__CODE__OK))
		problem(k, "schedules: %s failed but keeps no error", what);
	drop(sc);
}

/*
 * Prerequisites are checked a project at a time: flags are keyed by project
 * first, so one walk meets each project's flags together, and each of its
 * environments' graphs is checked as vexild checks it at write
 * (model/prereq.h).
 */
struct proj_flags {
	uint64_t project_id;
	Vexil__V1__Flag **flags;
	size_t n, cap;
	const char *env; /* the environment being checked */
};

static bool
on_prereq_problem(void *arg, const Vexil__V1__Flag *f, size_t prereq, size_t variant,
    int kind, const char *msg)
{
	struct chk *k = ((void **)arg)[0];
	struct proj_flags *pf = ((void **)arg)[1];

	(void)prereq;
	(void)variant;
	(void)kind;
	problem(k, "flags: flag %llu (%llu/%.100s) in %.100s: %s",
	    (unsigned long long)f->id, (unsigned long long)pf->project_id, f->key,
	    pf->env, msg);
	return true;
}

static void
check_project_graph(struct chk *k, struct proj_flags *pf)
{
	void *arg[2] = {k, pf};

	for (size_t i = 0; i < pf->n; i++) {
		for (size_t j = 0; j < pf->flags[i]->n_envs; j++) {
			const char *env = pf->flags[i]->envs[j]->environment;
			bool seen = false;
			/* Each environment once: the first flag that configures it. */
			for (size_t a = 0; a < i && !seen; a++)
				for (size_t b = 0; b < pf->flags[a]->n_envs && !seen; b++)
					seen = strcmp(pf->flags[a]->envs[b]->environment,
					           env) == 0;
			pf->env = env;
			if (!seen && vx_prereq_check(pf->flags, pf->n, env, NULL,
			                 on_prereq_problem, arg) != 0)
				problem(k, "flags: out of memory checking prerequisites");
		}
	}
	for (size_t i = 0; i < pf->n; i++)
		drop(pf->flags[i]);
	pf->n = 0;
}

static void
each_flag_graph(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	struct proj_flags *pf = arg;
	Vexil__V1__Flag *f, **bigger;

	(void)key;
	if ((f = unpack_val(&vexil__v1__flag__descriptor, v)) == NULL)
		return; /* each_flag reported it */
	if (pf->n > 0 && f->project_id != pf->project_id)
		check_project_graph(k, pf);
	pf->project_id = f->project_id;
	if (pf->n == pf->cap) {
		size_t cap = pf->cap ? pf->cap * 2 : 64;
		if ((bigger = realloc(pf->flags, cap * sizeof(*bigger))) == NULL) {
			problem(k, "flags: out of memory checking prerequisites");
			drop(f);
			return;
		}
		pf->flags = bigger;
		pf->cap = cap;
	}
	pf->flags[pf->n++] = f;
}

static void
each_flag_id(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Flag *f;
	MDB_val x;
	char b[80];

	(void)arg;
	if (key->mv_size != 8) {
		problem(k, "flag_ids: a key of %zu bytes (want 8)", key->mv_size);
		return;
	}
	if (!lookup(k, DB_FLAGS, v->mv_data, v->mv_size, &x)) {
		problem(k, "flag_ids: flag id %llu points to %s, where there is no flag",
		    (unsigned long long)vx_be64_get(key->mv_data),
		    show(b, sizeof(b), v->mv_data, v->mv_size));
		return;
	}
	f = unpack_val(&vexil__v1__flag__descriptor, &x);
	if (f != NULL && f->id != vx_be64_get(key->mv_data))
		problem(k, "flag_ids: flag id %llu points to flag %llu (%.100s)",
		    (unsigned long long)vx_be64_get(key->mv_data),
		    (unsigned long long)f->id, f->key);
	drop(f);
}

/* ---- API and SDK keys: a record by id and an index by hash ---- */

struct keykind {
	int db, hashdb, seq;
	const ProtobufCMessageDescriptor *desc;
	const char *name;
};

static const struct keykind apikeys = {DB_APIKEYS, DB_APIKEY_HASHES, VX_SEQ_APIKEY,
    &vexil__v1__api_key__descriptor, "API key"};
static const struct keykind sdkkeys = {DB_SDKKEYS, DB_SDKKEY_HASHES, VX_SEQ_SDKKEY,
    &vexil__v1__sdk_key__descriptor, "SDK key"};

/* The id and hash of either kind of key record. */
static void
key_fields(
    const struct keykind *kk, const void *m, uint64_t *id, ProtobufCBinaryData *hash)
{
	if (kk->db == DB_APIKEYS) {
		*id = ((const Vexil__V1__ApiKey *)m)->id;
		*hash = ((const Vexil__V1__ApiKey *)m)->hash;
	} else {
		*id = ((const Vexil__V1__SdkKey *)m)->id;
		*hash = ((const Vexil__V1__SdkKey *)m)->hash;
	}
}

static void
each_key(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	const struct keykind *kk = arg;
	ProtobufCBinaryData hash;
	uint64_t id;
	char what[64];
	void *m;
	MDB_val x;

	if (key->mv_size != 8) {
		problem(k, "%s: a key of %zu bytes (want 8)", vx_store_db_names[kk->db],
		    key->mv_size);
		return;
	}
	if ((m = decode(k, kk->db, kk->desc, key, v)) == NULL)
		return;
	key_fields(kk, m, &id, &hash);
	snprintf(what, sizeof(what), "%s %llu", kk->name, (unsigned long long)id);
	if (id != vx_be64_get(key->mv_data))
		problem(k, "%s: %s is stored under id %llu", vx_store_db_names[kk->db],
		    what, (unsigned long long)vx_be64_get(key->mv_data));
	check_seq(k, kk->seq, id, what);
	if (hash.len != 32)
		problem(k, "%s: %s has a hash of %zu bytes (want 32)",
		    vx_store_db_names[kk->db], what, hash.len);
	else if (!lookup(k, kk->hashdb, hash.data, 32, &x))
		problem(k, "%s: no entry for the hash of %s",
		    vx_store_db_names[kk->hashdb], what);
	else if (x.mv_size != 8 || vx_be64_get(x.mv_data) != id)
		problem(k, "%s: the hash of %s points elsewhere",
		    vx_store_db_names[kk->hashdb], what);
	drop(m);
}

static void
each_key_hash(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	const struct keykind *kk = arg;
	ProtobufCBinaryData hash;
	uint64_t id;
	void *m;
	MDB_val x;

	if (key->mv_size != 32 || v->mv_size != 8) {
		problem(k, "%s: a malformed entry (%zu-byte key, %zu-byte value)",
		    vx_store_db_names[kk->hashdb], key->mv_size, v->mv_size);
		return;
	}
	id = vx_be64_get(v->mv_data);
	if (!lookup_id(k, kk->db, id, &x) || (m = unpack_val(kk->desc, &x)) == NULL) {
		problem(k, "%s: a hash points to %s %llu, which does not exist",
		    vx_store_db_names[kk->hashdb], kk->name, (unsigned long long)id);
		return;
	}
	key_fields(kk, m, &id, &hash);
	if (hash.len != 32 || memcmp(hash.data, key->mv_data, 32) != 0)
		problem(k, "%s: a hash points to %s %llu, which has another hash",
		    vx_store_db_names[kk->hashdb], kk->name, (unsigned long long)id);
	drop(m);
}

/* ---- users ---- */

static void
each_user(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__User *u;
	MDB_val x;
	uint8_t nk[16 + 8];
	size_t nlen;

	(void)arg;
	if (key->mv_size != 8) {
		problem(k, "users: a key of %zu bytes (want 8)", key->mv_size);
		return;
	}
	if ((u = decode(k, DB_USERS, &vexil__v1__user__descriptor, key, v)) == NULL)
		return;
	if (u->id != vx_be64_get(key->mv_data))
		problem(k, "users: user %llu is stored under id %llu",
		    (unsigned long long)u->id,
		    (unsigned long long)vx_be64_get(key->mv_data));
	check_seq(k, VX_SEQ_USER, u->id, "a user");
	if (*u->email == '\0' ||
	    !lookup(k, DB_USER_EMAILS, u->email, strlen(u->email), &x))
		problem(k, "user_emails: no entry for user %llu (%.100s)",
		    (unsigned long long)u->id, u->email);
	else if (x.mv_size != 8 || vx_be64_get(x.mv_data) != u->id)
		problem(k, "user_emails: the email of user %llu points elsewhere",
		    (unsigned long long)u->id);
	/* Signing up makes the user's own `default` (vexild gives one at start
	 * to users from before that), and it cannot be deleted or renamed. */
	nlen = vx_store_id_str_key(nk, sizeof(nk), u->id, "default");
	if (nlen == 0 || !lookup(k, DB_PROJECT_NAMES, nk, nlen, &x))
		problem(k, "projects: user %llu (%.100s) has no project named default",
		    (unsigned long long)u->id, u->email);
	drop(u);
}

static void
each_user_email(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__User *u = NULL;
	MDB_val x;
	char b[80];

	(void)arg;
	show(b, sizeof(b), key->mv_data, key->mv_size);
	if (v->mv_size != 8) {
		problem(k, "user_emails: a malformed entry (%s)", b);
		return;
	}
	if (!lookup(k, DB_USERS, v->mv_data, 8, &x) ||
	    (u = unpack_val(&vexil__v1__user__descriptor, &x)) == NULL)
		problem(k, "user_emails: %s points to user %llu, which does not exist", b,
		    (unsigned long long)vx_be64_get(v->mv_data));
	else if (strlen(u->email) != key->mv_size ||
	         memcmp(u->email, key->mv_data, key->mv_size) != 0)
		problem(k, "user_emails: %s points to user %llu, whose email is %.100s",
		    b, (unsigned long long)u->id, u->email);
	drop(u);
}

/* ---- logs ---- */

/* The change log walk: one project's run of entries at a time. */
struct logrun {
	uint64_t pid, first, last;
	int last_kind;
	bool open;
	size_t projects;
};

static void
close_run(struct chk *k, struct logrun *run)
{
	Vexil__V1__Project *p;

	if (!run->open)
		return;
	run->open = false;
	run->projects++;
	if ((p = project_at(k, run->pid)) == NULL) {
		if (run->last_kind != VEXIL__V1__CHANGE_KIND__PROJECT_DELETED)
			problem(k,
			    "changes: project %llu does not exist, but its log does not "
			    "end with its deletion (last revision %llu)",
			    (unsigned long long)run->pid, (unsigned long long)run->last);
		return;
	}
	if (p->revision != run->last)
		problem(k,
		    "changes: project %llu (%.100s) is at revision %llu, its change log "
		    "ends at %llu",
		    (unsigned long long)p->id, p->name, (unsigned long long)p->revision,
		    (unsigned long long)run->last);
	drop(p);
}

static void
each_change(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	struct logrun *run = arg;
	Vexil__V1__Change *c;
	uint64_t pid, rev;

	if (key->mv_size != 16) {
		problem(k, "changes: a key of %zu bytes (want 16)", key->mv_size);
		return;
	}
	pid = vx_be64_get(key->mv_data);
	rev = vx_be64_get((const uint8_t *)key->mv_data + 8);
	if ((c = decode(k, DB_CHANGES, &vexil__v1__change__descriptor, key, v)) == NULL)
		return;
	if (c->project_id != pid || c->revision != rev)
		problem(k,
		    "changes: the entry at project %llu revision %llu says project %llu "
		    "revision %llu",
		    (unsigned long long)pid, (unsigned long long)rev,
		    (unsigned long long)c->project_id, (unsigned long long)c->revision);
	if (run->open && run->pid == pid) {
		if (rev != run->last + 1)
			problem(k,
			    "changes: project %llu's log jumps from revision %llu to "
			    "%llu",
			    (unsigned long long)pid, (unsigned long long)run->last,
			    (unsigned long long)rev);
	} else {
		close_run(k, run);
		run->open = true;
		run->pid = pid;
		run->first = rev;
	}
	run->last = rev;
	run->last_kind = c->kind;
	drop(c);
}

/* Projects with a revision need a log entry at that revision. */
static void
each_project_log(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__Project *p;
	uint8_t ck[16];
	MDB_val x;

	(void)arg;
	if (key->mv_size != 8 ||
	    (p = unpack_val(&vexil__v1__project__descriptor, v)) == NULL)
		return; /* already reported */
	vx_be64_put(ck, p->id);
	vx_be64_put(ck + 8, p->revision);
	if (p->revision == 0 || !lookup(k, DB_CHANGES, ck, 16, &x))
		problem(k,
		    "changes: no entry for project %llu (%.100s) at its revision %llu",
		    (unsigned long long)p->id, p->name, (unsigned long long)p->revision);
	drop(p);
}

/* One project's audit entries, counted to compare with the count that
 * --audit-keep keeps in meta (VX_STORE_AUDIT_COUNT_KEY). */
struct auditrun {
	bool open;
	uint64_t project, n;
};

static void
close_audit_run(struct chk *k, struct auditrun *run)
{
	char name[48];
	MDB_val v;

	if (!run->open)
		return;
	run->open = false;
	snprintf(name, sizeof(name), VX_STORE_AUDIT_COUNT_KEY,
	    (unsigned long long)run->project);
	if (!lookup(k, DB_META, name, strlen(name), &v))
		return; /* no count kept: nothing to agree with */
	if (v.mv_size != 8)
		problem(k, "meta: %s is %zu bytes (want 8)", name, v.mv_size);
	else if (vx_be64_get(v.mv_data) != run->n)
		problem(k,
		    "audit: project %llu has %llu entries, its count in meta says %llu",
		    (unsigned long long)run->project, (unsigned long long)run->n,
		    (unsigned long long)vx_be64_get(v.mv_data));
}

static void
each_audit(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	struct auditrun *run = arg;
	Vexil__V1__AuditEntry *a;

	if (key->mv_size == 16 &&
	    (!run->open || run->project != vx_be64_get(key->mv_data))) {
		close_audit_run(k, run);
		run->open = true;
		run->project = vx_be64_get(key->mv_data);
		run->n = 0;
	}
	if (key->mv_size == 16)
		run->n++;
	if (key->mv_size != 16) {
		problem(k, "audit: a key of %zu bytes (want 16)", key->mv_size);
		return;
	}
	if ((a = decode(k, DB_AUDIT, &vexil__v1__audit_entry__descriptor, key, v)) ==
	    NULL)
		return;
	if (a->project_id != vx_be64_get(key->mv_data) ||
	    a->seq != vx_be64_get((const uint8_t *)key->mv_data + 8))
		problem(k,
		    "audit: entry %llu of project %llu is stored under another key",
		    (unsigned long long)a->seq, (unsigned long long)a->project_id);
	check_seq(k, VX_SEQ_AUDIT, a->seq, "an audit entry");
	drop(a);
}

static void
each_eval_record(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	Vexil__V1__EvalRecord *r;

	(void)arg;
	if (key->mv_size != 16) {
		problem(k, "eval_log: a key of %zu bytes (want 16)", key->mv_size);
		return;
	}
	if ((r = decode(k, DB_EVAL_LOG, &vexil__v1__eval_record__descriptor, key, v)) ==
	    NULL)
		return;
	if (r->project_id != vx_be64_get(key->mv_data))
		problem(k,
		    "eval_log: a record of project %llu is stored under project %llu",
		    (unsigned long long)r->project_id,
		    (unsigned long long)vx_be64_get(key->mv_data));
	check_seq(k, VX_SEQ_EVALLOG, vx_be64_get((const uint8_t *)key->mv_data + 8),
	    "an evaluation record");
	drop(r);
}

static void
each_eval_count(struct chk *k, const MDB_val *key, const MDB_val *v, void *arg)
{
	const char *p = key->mv_data;
	size_t nuls = 0;

	(void)arg;
	for (size_t i = 13; i < key->mv_size; i++)
		nuls += p[i] == '\0';
	if (key->mv_size < 15 || nuls != 2 || v->mv_size != 8)
		problem(k,
		    "eval_counts: a malformed entry (%zu-byte key, %zu-byte value)",
		    key->mv_size, v->mv_size);
}

/* ---- driver ---- */

static void
read_meta(struct chk *k)
{
	MDB_val v;

	for (int i = 0; i < VX_SEQ_COUNT_; i++) {
		k->seq[i] = 0;
		if (!lookup(k, DB_META, vx_store_seq_names[i],
		        strlen(vx_store_seq_names[i]), &v))
			continue;
		if (v.mv_size != 8)
			problem(k, "meta: %s is %zu bytes (want 8)",
			    vx_store_seq_names[i], v.mv_size);
		else
			k->seq[i] = vx_be64_get(v.mv_data);
	}
	if (!lookup(k, DB_META, "bootstrapped", strlen("bootstrapped"), &v))
		problem(k, "meta: the data dir was never bootstrapped");
}

static void
report(struct chk *k, const char *what, size_t n, unsigned long before)
{
	fprintf(k->out, "checked %-14s %8zu  %s\n", what, n,
	    k->problems == before ? "ok" : "PROBLEMS");
}

/* A size for people: "12.3 MiB". */
static const char *
human(char buf[32], uint64_t bytes)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

/*
 * What an operator watches (README, Operating): the free space on the
 * device holding the data dir (a full one refuses writes), and how much of
 * the map is used (vexild doubles it when full, up to --map-max). Low free
 * space is a warning, not a problem: the data is sound.
 */
static void
report_space(MDB_env *env, const char *dir, FILE *out)
{
	MDB_envinfo info;
	MDB_stat st;
	uint64_t avail, total, used, map;
	char a[32], b[32];

	if (vx_store_device_space(dir, &avail, &total) == 0) {
		fprintf(out, "space device  %s free of %s (%.0f%%)\n", human(a, avail),
		    human(b, total), total ? 100.0 * (double)avail / (double)total : 0.0);
		if (total && avail < total / 10)
			fprintf(out,
			    "warning: less than 10%% of the device holding %s is free; "
			    "a full device refuses writes\n",
			    dir);
	} else {
		fprintf(out, "space device  unknown: statvfs %s failed\n", dir);
	}
	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0)
		return;
	map = info.me_mapsize;
	used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	fprintf(out,
	    "space map     %s used of %s (%.0f%% headroom before vexild grows it)\n",
	    human(a, used), human(b, map),
	    map ? 100.0 * (double)(map > used ? map - used : 0) / (double)map : 0.0);
}

#define STEP(label, db, fn, arg)                                                         \
	do {                                                                             \
		unsigned long before_ = k.problems;                                      \
		report(&k, label, walk(&k, db, fn, arg), before_);                       \
	} while (0)

int
vx_store_check(const char *dir, FILE *out, unsigned long *problems)
{
	MDB_env *env = NULL;
	struct chk k;
	struct logrun run;
	int rc;

	memset(&k, 0, sizeof(k));
	memset(&run, 0, sizeof(run));
	k.out = out;
	*problems = 0;
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, DB_COUNT_ + 8)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &k.txn)) != 0) {
		fprintf(
		    out, "cannot open the database in %s: %s\n", dir, mdb_strerror(rc));
		if (env != NULL)
			mdb_env_close(env);
		return VX_EIO;
	}
	for (int i = 0; i < DB_COUNT_; i++) {
		rc = mdb_dbi_open(k.txn, vx_store_db_names[i], 0, &k.dbi[i]);
		k.have[i] = rc == 0;
		/* A data dir no vexild with segments has opened yet has none. */
		if (rc != 0 &&
		    !((i == DB_SEGMENTS || i == DB_SCHEDULES) && rc == MDB_NOTFOUND))
			problem(&k, "database %s is missing: %s", vx_store_db_names[i], mdb_strerror(rc));
	}
	fprintf(out, "checking %s\n", dir);
	report_space(env, dir, out);
	read_meta(&k);
	STEP("projects", DB_PROJECTS, each_project, NULL);
	STEP("project_names", DB_PROJECT_NAMES, each_project_name, NULL);
	STEP("envs", DB_ENVS, each_env, NULL);
	STEP("flags", DB_FLAGS, each_flag, NULL);
	STEP("flag_ids", DB_FLAG_IDS, each_flag_id, NULL);
	STEP("segments", DB_SEGMENTS, each_segment, NULL);
	STEP("schedules", DB_SCHEDULES, each_schedule, NULL);
	{
		struct proj_flags pf = {0};
		unsigned long before = k.problems;
		size_t n = walk(&k, DB_FLAGS, each_flag_graph, &pf);
		check_project_graph(&k, &pf);
		free(pf.flags);
		report(&k, "prerequisites", n, before);
	}
	STEP("apikeys", DB_APIKEYS, each_key, (void *)&apikeys);
	STEP("apikey_hashes", DB_APIKEY_HASHES, each_key_hash, (void *)&apikeys);
	STEP("sdkkeys", DB_SDKKEYS, each_key, (void *)&sdkkeys);
	STEP("sdkkey_hashes", DB_SDKKEY_HASHES, each_key_hash, (void *)&sdkkeys);
	STEP("users", DB_USERS, each_user, NULL);
	STEP("user_emails", DB_USER_EMAILS, each_user_email, NULL);
	{
		unsigned long before = k.problems;
		size_t n = walk(&k, DB_CHANGES, each_change, &run);
		close_run(&k, &run);
		walk(&k, DB_PROJECTS, each_project_log, NULL);
		report(&k, "changes", n, before);
	}
	{
		struct auditrun ar = {0};
		unsigned long before = k.problems;
		size_t n = walk(&k, DB_AUDIT, each_audit, &ar);
		close_audit_run(&k, &ar);
		report(&k, "audit", n, before);
	}
	STEP("eval_log", DB_EVAL_LOG, each_eval_record, NULL);
	STEP("eval_counts", DB_EVAL_COUNTS, each_eval_count, NULL);
	mdb_txn_abort(k.txn);
	mdb_env_close(env);
	if (k.problems > MAX_PRINTED)
		fprintf(out, "(%lu more problems not shown)\n", k.problems - MAX_PRINTED);
	if (k.problems == 0)
		fprintf(out, "clean: no problems found\n");
	else
		fprintf(
		    out, "%lu problem%s found\n", k.problems, k.problems == 1 ? "" : "s");
	*problems = k.problems;
	return 0;
}
