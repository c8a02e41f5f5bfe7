/*
 * test_murmur.c: the hash that places users in buckets.
 *
 * Users keep their buckets across SDKs and across an Unleash import only
 * if this hash is MurmurHash3_x86_32 bit for bit. The expected values come
 * from the reference C algorithm, recomputed independently when these tests
 * were written. The Unleash ones (73, 25) also appear in Unleash's own
 * normalizedValue tests.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "eval_int.h"
#include "helpers.h"

Test(murmur3, matches_the_reference_vectors)
{
	const struct {
		const char *in;
		uint32_t seed;
		uint32_t want;
	} v[] = {
		{ "", 0, 0 },
		{ "", 1, 0x514e28b7u },
		{ "", 0xffffffffu, 0x81f16f39u },
		{ "a", 0, 0x3c2569b2u },
		{ "ab", 0, 0x9bbfd75fu },
		{ "abc", 0, 0xb3dd93fau },
		{ "abcd", 0, 0x43ed676au },
		{ "hello", 0, 0x248bfa47u },
		{ "Hello, world!", 1234, 0xfaf6cdb3u },
		{ "The quick brown fox jumps over the lazy dog", 0,
		    0x2e4ff723u },
		{ "\xc3\xa9t\xc3\xa9", 0, 0x3393660fu }, /* UTF-8 bytes */
	};

	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		cr_expect_eq(vx_murmur3_32(v[i].in, strlen(v[i].in), v[i].seed),
		    v[i].want, "\"%s\" seed %u", v[i].in, (unsigned)v[i].seed);
}

Test(murmur3, gives_the_same_hash_however_the_input_is_split)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t len = strlen(s);
	uint32_t want = vx_murmur3_32(s, len, 42);

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			struct vxe_mm3 st;

			vxe_mm3_init(&st, 42);
			vxe_mm3_update(&st, s, a);
			vxe_mm3_update(&st, s + a, b - a);
			vxe_mm3_update(&st, s + b, len - b);
			cr_assert_eq(vxe_mm3_final(&st), want, "split %zu/%zu",
			    a, b);
		}
	}
}

Test(bucket, matches_unleash_normalized_value)
{
	/* normalizedValue(id, groupId) = murmur3("groupId:id", 0) % 100 + 1 */
	cr_expect_eq(vx_eval_bucket("gr1", "123", 0, 100), 73);
	cr_expect_eq(vx_eval_bucket("groupX", "999", 0, 100), 25);
	cr_expect_eq(vx_eval_bucket("new_checkout", "user-1", 0, 100), 82);
	cr_expect_eq(vx_eval_bucket("dark_mode", "alice", 0, 100), 33);
	cr_expect_eq(vx_eval_bucket("", "x", 0, 100), 74);
}

Test(bucket, matches_unleash_variant_buckets)
{
	/* normalizedVariantValue(id, groupId, totalWeight, 86028157) */
	cr_expect_eq(vx_eval_bucket("new_checkout", "user-1",
			 VX_EVAL_VARIANT_SEED, 1000),
	    365);
	cr_expect_eq(vx_eval_bucket("new_checkout", "user-1",
			 VX_EVAL_VARIANT_SEED, 10000),
	    5365);
	cr_expect_eq(vx_eval_bucket("dark_mode", "alice", VX_EVAL_VARIANT_SEED,
			 1000),
	    237);
	cr_expect_eq(vx_eval_bucket("flag", "42", VX_EVAL_VARIANT_SEED, 3), 1);
}

Test(bucket, hashes_long_inputs_whole_without_a_buffer)
{
	size_t n = 100000;
	char *group = malloc(n + 1), *joined = malloc(2 * n + 2);

	cr_assert_not_null(group);
	cr_assert_not_null(joined);
	for (size_t i = 0; i < n; i++)
		group[i] = (char)('a' + i % 26);
	group[n] = '\0';
	memcpy(joined, group, n);
	joined[n] = ':';
	memcpy(joined + n + 1, group, n + 1);
	cr_expect_eq(vx_eval_bucket(group, group, 7, 1u << 31),
	    vx_murmur3_32(joined, 2 * n + 1, 7) % (1u << 31) + 1);
	free(group);
	free(joined);
}

Test(bucket, is_zero_for_a_zero_modulus_and_hashes_null_as_empty)
{
	cr_expect_eq(vx_eval_bucket("g", "u", 0, 0), 0);
	cr_expect_eq(vx_eval_bucket(NULL, NULL, 0, 1u << 31),
	    vx_murmur3_32(":", 1, 0) % (1u << 31) + 1);
}
