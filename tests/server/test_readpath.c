/*
 * Vexil integration tests: what vexild's read path answers, checked byte
 * by byte over the wire. GetFlag by key sends the flag as stored (it is
 * stored in its wire form), so its payload must be exactly the stored
 * bytes, decode to what GetFlag by id (which decodes and packs again)
 * answers, and follow every commit.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

VX_SERVER_SUITE(readpath, 60);

/* A call with the admin key; *payload (malloc'd) is the reply's payload. */
static Vexil__V1__Code
raw_get_flag(const char *key, uint64_t id, uint8_t **payload, size_t *plen)
{
	Vexil__V1__GetFlagRequest in = VEXIL__V1__GET_FLAG_REQUEST__INIT;
	Vexil__V1__Request req = VEXIL__V1__REQUEST__INIT;
	Vexil__V1__Response *r;
	Vexil__V1__Code code;
	uint8_t inbuf[256];
	nng_socket s;
	nng_msg *m;
	char cred[160];

	in.project = "default";
	in.key = (char *)key;
	in.id = id;
	snprintf(cred, sizeof(cred), "ApiKey %s", h.key);
	req.method = "vexil.v1.FlagService/GetFlag";
	req.credential = cred;
	req.payload.len = vexil__v1__get_flag_request__pack(&in, inbuf);
	req.payload.data = inbuf;
	cr_assert(nng_req0_open(&s) == 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	cr_assert(nng_dial(s, h.rpc, NULL, 0) == 0);
	cr_assert(nng_msg_alloc(&m, vexil__v1__request__get_packed_size(&req)) == 0);
	vexil__v1__request__pack(&req, nng_msg_body(m));
	cr_assert(nng_sendmsg(s, m, 0) == 0);
	cr_assert(nng_recvmsg(s, &m, 0) == 0);
	r = vexil__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	cr_assert_not_null(r);
	cr_assert_not_null(r->status);
	code = r->status->code;
	*plen = r->payload.len;
	*payload = malloc(r->payload.len + 1);
	cr_assert_not_null(*payload);
	if (r->payload.len > 0) /* a NOT_FOUND carries none (data NULL) */
		memcpy(*payload, r->payload.data, r->payload.len);
	if (code == VEXIL__V1__CODE__NOT_FOUND) {
		cr_expect_not_null(r->status->details);
		if (r->status->details)
			cr_expect_str_eq(r->status->details->field, "key");
	}
	vexil__v1__response__free_unpacked(r, NULL);
	nng_msg_free(m);
	nng_close(s);
	return code;
}

/* The bytes vexild's LMDB holds for flag `key` (read-only, beside it). */
static size_t
stored_flag(const char *key, uint8_t **out)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t len = 0;

	*out = NULL;
	cr_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	cr_assert(mdb_env_open(env, h.dir, MDB_RDONLY, 0600) == 0);
	cr_assert(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0);
	cr_assert(mdb_dbi_open(txn, "flags", 0, &dbi) == 0);
	cr_assert(mdb_cursor_open(txn, dbi, &cur) == 0);
	while (*out == NULL && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		Vexil__V1__Flag *f = vexil__v1__flag__unpack(NULL, v.mv_size, v.mv_data);
		cr_assert_not_null(f);
		if (strcmp(f->key, key) == 0) {
			len = v.mv_size;
			*out = malloc(len);
			memcpy(*out, v.mv_data, len);
		}
		vexil__v1__flag__free_unpacked(f, NULL);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	cr_assert_not_null(*out, "flag %s is stored", key);
	return len;
}

static void
create_flag(const char *key)
{
	Vexil__V1__CreateFlagRequest in = VEXIL__V1__CREATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag f = VEXIL__V1__FLAG__INIT;
	Vexil__V1__Variant a = VEXIL__V1__VARIANT__INIT, b = VEXIL__V1__VARIANT__INIT;
	Vexil__V1__Variant *vs[] = {&a, &b};
	Vexil__V1__Flag__MetadataEntry md = VEXIL__V1__FLAG__METADATA_ENTRY__INIT;
	Vexil__V1__Flag__MetadataEntry *mds[] = {&md};
	char *tags[] = {"checkout", "ünïcode"};
	Vexil__V1__Flag *out;
	vx_status st;

	f.key = (char *)key;
	f.name = "Read path";
	f.description = "stored and sent as it is";
	f.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_STRING;
	a.key = "control";
	a.value = "\"a\"";
	b.key = "treatment";
	b.value = "\"b\"";
	f.variants = vs;
	f.n_variants = 2;
	md.key = "team";
	md.value = "payments";
	f.metadata = mds;
	f.n_metadata = 1;
	f.tags = tags;
	f.n_tags = 2;
	in.project = "default";
	in.flag = &f;
	cr_assert(vx_create_flag(h.admin, &in, &out, &st) == 0, "%s", st.message);
	vx_free(out);
}

Test(readpath, get_flag_by_key_sends_the_stored_bytes_and_by_id_the_same_flag)
{
	uint8_t *bykey, *byid, *stored, *repacked;
	size_t nkey, nid, nstored;
	Vexil__V1__Flag *f;

	create_flag("raw-bytes");
	cr_assert_eq(raw_get_flag("raw-bytes", 0, &bykey, &nkey), VEXIL__V1__CODE__OK);
	nstored = stored_flag("raw-bytes", &stored);
	cr_expect_eq(nkey, nstored);
	cr_expect(memcmp(bykey, stored, nkey < nstored ? nkey : nstored) == 0,
	    "GetFlag's payload is the stored flag, byte for byte");

	f = vexil__v1__flag__unpack(NULL, nkey, bykey);
	cr_assert_not_null(f, "the payload decodes as a Flag");
	cr_expect_str_eq(f->name, "Read path");
	cr_expect_eq(f->n_variants, 2);
	cr_expect_eq(f->n_envs, 3, "every environment's config is there");
	repacked = malloc(vexil__v1__flag__get_packed_size(f));
	cr_expect_eq(vexil__v1__flag__pack(f, repacked), nkey);
	cr_expect(memcmp(repacked, bykey, nkey) == 0, "and packs back to the same bytes");
	cr_assert_eq(raw_get_flag("", f->id, &byid, &nid), VEXIL__V1__CODE__OK);
	cr_expect_eq(nid, nkey);
	cr_expect(memcmp(byid, bykey, nkey < nid ? nkey : nid) == 0,
	    "GetFlag by id (decoded and packed again) answers the same bytes");
	vexil__v1__flag__free_unpacked(f, NULL);
	free(bykey);
	free(byid);
	free(stored);
	free(repacked);
}

Test(readpath, get_flag_after_a_commit_sends_the_new_flag_and_a_missing_one_is_not_found)
{
	Vexil__V1__UpdateFlagRequest up = VEXIL__V1__UPDATE_FLAG_REQUEST__INIT;
	Vexil__V1__Flag rename = VEXIL__V1__FLAG__INIT, *out, *f;
	char *mask[] = {"name"};
	uint8_t *before, *after, *stored, *none;
	size_t nb, na, ns, nn;
	vx_status st;

	create_flag("moves");
	cr_assert_eq(raw_get_flag("moves", 0, &before, &nb), VEXIL__V1__CODE__OK);
	up.project = "default";
	up.key = "moves";
	rename.name = "Renamed";
	up.update = &rename;
	up.update_mask = mask;
	up.n_update_mask = 1;
	cr_assert(vx_update_flag(h.admin, &up, &out, &st) == 0, "%s", st.message);
	vx_free(out);
	cr_assert_eq(raw_get_flag("moves", 0, &after, &na), VEXIL__V1__CODE__OK);
	f = vexil__v1__flag__unpack(NULL, na, after);
	cr_assert_not_null(f);
	cr_expect_str_eq(f->name, "Renamed", "the read after the commit sees it");
	vexil__v1__flag__free_unpacked(f, NULL);
	ns = stored_flag("moves", &stored);
	cr_expect(na == ns && memcmp(after, stored, na) == 0);
	cr_expect(na != nb || memcmp(after, before, na) != 0);
	cr_expect_eq(
	    raw_get_flag("no-such-flag", 0, &none, &nn), VEXIL__V1__CODE__NOT_FOUND);
	cr_expect_eq(nn, 0, "a refusal carries no payload");
	free(before);
	free(after);
	free(stored);
	free(none);
}
