/*
 * murmur.c: MurmurHash3 x86_32 and Unleash's normalised bucket.
 *
 * Rollouts and splits must put every user in the same bucket as Unleash does,
 * so that imported flags keep their users. That needs the hash bit for bit:
 * Austin Appleby's MurmurHash3_x86_32, with blocks read little-endian
 * whatever the host's byte order. The hash is incremental, so a bucket
 * hashes "<group>", ":" and "<value>" in turn. It never has to assemble
 * them in a buffer, so any length works without allocating. The one-shot
 * vx_murmur3_32() is the same code with a single update. The mixing steps
 * are inline in eval_int.h, where evaluate.c finishes a bucket's hash from
 * its rollout's precomputed prefix with vxe_mm3_finish().
 */
#include <string.h>

#include "eval_int.h"

void
vxe_mm3_init(struct vxe_mm3 *st, uint32_t seed)
{
	st->h = seed;
	st->carry = 0;
	st->total = 0;
	st->ncarry = 0;
}

void
vxe_mm3_update(struct vxe_mm3 *st, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* The reference mixes in the length as a 32-bit int. */
	st->total += (uint32_t)len;

	/* Finish a block left partial by the previous piece. */
	while (st->ncarry != 0 && len != 0) {
		st->carry |= (uint32_t)*p++ << (8 * st->ncarry);
		len--;
		if (++st->ncarry == 4) {
			st->h = vxe_mm3_mix(st->h, st->carry);
			st->carry = 0;
			st->ncarry = 0;
		}
	}
	for (; len >= 4; p += 4, len -= 4)
		st->h = vxe_mm3_mix(st->h, vxe_mm3_load(p));
	while (len != 0) {
		st->carry |= (uint32_t)*p++ << (8 * st->ncarry++);
		len--;
	}
}

uint32_t
vxe_mm3_final(const struct vxe_mm3 *st)
{
	uint32_t h = st->h;

	if (st->ncarry != 0)
		h ^= vxe_mm3_scramble(st->carry);
	return vxe_mm3_fmix(h ^ st->total);
}

uint32_t
vx_murmur3_32(const void *data, size_t len, uint32_t seed)
{
	struct vxe_mm3 st;

	vxe_mm3_init(&st, seed);
	vxe_mm3_update(&st, data, len);
	return vxe_mm3_final(&st);
}

uint32_t
vx_eval_bucket(const char *group, const char *stickiness, uint32_t seed,
    uint32_t modulus)
{
	struct vxe_mm3 st;

	if (modulus == 0)
		return 0;
	vxe_mm3_init(&st, seed);
	if (group != NULL)
		vxe_mm3_update(&st, group, strlen(group));
	vxe_mm3_update(&st, ":", 1);
	if (stickiness != NULL)
		vxe_mm3_update(&st, stickiness, strlen(stickiness));
	return vxe_mm3_final(&st) % modulus + 1;
}
