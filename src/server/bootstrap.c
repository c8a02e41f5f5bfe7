/*
 * Vexil — the first start of a data dir.
 *
 * A fresh database gets the `default` project (with its three
 * environments) and a global admin API key. The key's secret is written to
 * <data>/admin.key with mode 0600 before the transaction that stores its
 * hash commits: if we crash in between, the next start finds no bootstrap
 * mark and makes a new key, overwriting a file that never worked. Once the
 * mark is committed the file is never written again.
 *
 * The same first write seeds the three flags the feature-flag-table API
 * documents (specs/feature-flag-table-api.md, "Dados iniciais"), enabled
 * in every environment, their extra columns kept as flag metadata. Being
 * part of the bootstrap write, they are created exactly once, on a new
 * database. (That write records one change per entity, revisions 1..4.)
 *
 * Every start also gives each user who signed up before RegisterUser made
 * the user's own `default` project one now, so that every user has it.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include <unistd.h>

#define MARK "bootstrapped"

static const struct seed {
	const char *key, *status, *strategy, *variation;
} seeds[] = {
	{"average_user", "active", "restricted_access",
	    "{\"percentage\": 25, \"target_group\": \"standard_users\"}"},
	{"admin_super", "active", "unrestricted_access",
	    "{\"allowed_roles\": [\"admin\", \"superadmin\"], \"visible_logs\": true}"},
	{"professional_tools", "active", "role_based_access",
	    "{\"features\": [\"advanced_analytics\", \"bulk_export\"], "
	    "\"allowed_roles\": [\"pro\", \"specialist\"]}"},
};

static int
seed_flags(vx_wtxn *w, vx_call *c, Vexil__V1__Project *p)
{
	static const char *const envs[] = {"development", "staging", "production"};
	int rc;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		Vexil__V1__Flag *f = vx_arena_alloc(c->arena, sizeof(*f));
		Vexil__V1__Flag__MetadataEntry *m = vx_arena_alloc(c->arena, 3 * sizeof(*m));
		Vexil__V1__Flag__MetadataEntry **mp = vx_arena_alloc(c->arena, 3 * sizeof(*mp));
		if (f == NULL || m == NULL || mp == NULL)
			return VX_ENOMEM;
		vexil__v1__flag__init(f);
		f->key = (char *)seeds[i].key;
		const char *kv[3][2] = {{"status", seeds[i].status},
			{"strategy", seeds[i].strategy}, {"variation", seeds[i].variation}};
		for (int j = 0; j < 3; j++) {
			vexil__v1__flag__metadata_entry__init(&m[j]);
			m[j].key = (char *)kv[j][0];
			m[j].value = (char *)kv[j][1];
			mp[j] = &m[j];
		}
		f->metadata = mp;
		f->n_metadata = 3;
		for (int j = 0; j < 3; j++)
			if ((rc = vx_flag_add_env(c, f, envs[j])) != 0)
				return rc;
		/* vx_flag_add_env left the variants to the core's defaults. */
		for (size_t j = 0; j < f->n_envs; j++) {
			f->envs[j]->enabled = true;
			f->envs[j]->default_variant = "";
			f->envs[j]->off_variant = "";
		}
		if ((rc = vx_flag_create(w, c, p, f)) != 0)
			return rc;
	}
	return 0;
}

struct boot {
	vx_store *s;
	const char *dir;
	char path[4096];
	vx_arena arena;
};

static int
write_secret(const char *path, const char *secret)
{
	char tmp[4200];
	int fd;
	size_t len = strlen(secret);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (write(fd, secret, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0) {
		close(fd);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	vx_log(VX_LOG_ERROR, "bootstrap: cannot write %s: %s", path, strerror(errno));
	unlink(tmp);
	return VX_EIO;
}

static int
bootstrap_tx(vx_wtxn *w, void *arg)
{
	struct boot *b = arg;
	vx_call c;
	Vexil__V1__Project *p;
	Vexil__V1__ApiKey k = VEXIL__V1__API_KEY__INIT;
	uint8_t hash[32], one = 1;
	char secret[VX_KEY_LEN], shown[VX_KEY_SHOWN + 1];
	size_t len;
	int rc;

	rc = vx_store_meta_get(vx_wtxn_txn(w), b->s, MARK, &one, 1, &len);
	if (rc == 0)
		return VX_EEXIST;
	if (rc != VX_ENOTFOUND)
		return rc;

	memset(&c, 0, sizeof(c));
	c.store = b->s;
	c.arena = &b->arena;
	c.alloc = &b->arena.pb;
	c.method = "bootstrap";
	strcpy(c.who.actor, "system");
	if ((rc = vx_project_create(w, &c, "default", "The default project", 0, &p)) != 0 ||
	    (rc = seed_flags(w, &c, p)) != 0)
		return rc;

	vx_auth_new_key(VX_APIKEY_PREFIX, secret, hash, shown);
	if ((rc = vx_store_next_id(w, VX_SEQ_APIKEY, &k.id)) != 0)
		return rc;
	k.name = "bootstrap admin";
	k.project_id = 0;
	k.role = VEXIL__V1__ROLE__ROLE_ADMIN;
	k.hash.data = hash;
	k.hash.len = 32;
	k.prefix = shown;
	k.created_at = vx_now_ms();
	k.created_by = "system";
	if ((rc = vx_store_apikey_put(w, &k)) != 0 ||
	    (rc = vx_store_audit(w, 0, VEXIL__V1__CHANGE_KIND__KEY_CREATED, shown, "system",
		 "bootstrap")) != 0)
		return rc;
	one = 1;
	if ((rc = vx_store_meta_put(w, MARK, &one, 1)) != 0)
		return rc;
	return write_secret(b->path, secret);
}

/* The HS256 secret: 32 random bytes, made once and kept in the store. */
struct jwt {
	vx_store *s;
	uint8_t secret[32];
};

static int
jwt_secret_tx(vx_wtxn *w, void *arg)
{
	struct jwt *j = arg;
	size_t len;
	int rc = vx_store_meta_get(vx_wtxn_txn(w), j->s, "jwt.secret", j->secret, 32, &len);

	if (rc == 0 && len == 32)
		return VX_EEXIST; /* nothing to write */
	if (rc != 0 && rc != VX_ENOTFOUND)
		return rc;
	randombytes_buf(j->secret, 32);
	return vx_store_meta_put(w, "jwt.secret", j->secret, 32);
}

/* Users given their `default` per write (each is one change). */
#define USERS_PER_WRITE 8

struct user_defaults {
	vx_store *s;
	vx_arena arena;
	uint64_t from, next;  /* user ids: this write starts at from */
};

static int
user_defaults_tx(vx_wtxn *w, void *arg)
{
	struct user_defaults *u = arg;
	MDB_txn *txn = vx_wtxn_txn(w);
	Vexil__V1__Project *p;
	Vexil__V1__User *usr;
	uint64_t last, pid;
	size_t made = 0;
	vx_call c;
	int rc;

	if ((rc = vx_store_seq_last(txn, u->s, VX_SEQ_USER, &last)) != 0)
		return rc;
	vx_arena_reset(&u->arena);
	memset(&c, 0, sizeof(c));
	c.store = u->s;
	c.arena = &u->arena;
	c.alloc = &u->arena.pb;
	c.method = "bootstrap";
	for (u->next = u->from; u->next <= last && made < USERS_PER_WRITE; u->next++) {
		rc = vx_store_user_get(txn, u->s, u->next, NULL, &usr);
		if (rc == VX_ENOTFOUND)
			continue;
		if (rc != 0)
			return rc;
		vx_auth_user_actor(&c.who, u->next, usr->email);
		protobuf_c_message_free_unpacked(&usr->base, NULL);
		rc = vx_store_project_find(txn, u->s, u->next, VX_USER_PROJECT, &pid);
		if (rc == 0)
			continue;
		if (rc != VX_ENOTFOUND)
			return rc;
		if ((rc = vx_project_create(w, &c, VX_USER_PROJECT, VX_USER_PROJECT_DESC, u->next,
			 &p)) != 0)
			return rc;
		made++;
	}
	return made ? 0 : VX_EEXIST; /* nothing to write */
}

/* Gives every user without one their own `default` project. */
static int
user_defaults(vx_store *s)
{
	struct user_defaults u = {.s = s, .from = 1};
	int rc;

	vx_arena_init(&u.arena, 1 << 20);
	while ((rc = vx_store_write(s, NULL, user_defaults_tx, &u)) == 0) {
		vx_log(VX_LOG_INFO, "users up to %llu now have their own default project",
		    (unsigned long long)(u.next - 1));
		u.from = u.next;
	}
	vx_arena_fini(&u.arena);
	return rc == VX_EEXIST ? 0 : rc;
}

int
vx_bootstrap(vx_store *s, const char *data_dir)
{
	struct boot b;
	int rc;

	b.s = s;
	b.dir = data_dir;
	snprintf(b.path, sizeof(b.path), "%s/admin.key", data_dir);
	vx_arena_init(&b.arena, 1 << 20);
	rc = vx_store_write(s, NULL, bootstrap_tx, &b);
	vx_arena_fini(&b.arena);
	if (rc == 0)
		vx_log(VX_LOG_INFO,
		    "new data dir: created project \"default\"; the admin API key is in %s",
		    b.path);
	else if (rc != VX_EEXIST)
		return rc;

	struct jwt j = {.s = s};
	rc = vx_store_write(s, NULL, jwt_secret_tx, &j);
	if (rc != 0 && rc != VX_EEXIST)
		return rc;
	vx_auth_set_jwt_secret(j.secret);
	sodium_memzero(j.secret, sizeof(j.secret));
	return user_defaults(s);
}
