/*
 * Unit tests for src/format/v2/segment.c (doc/FORMAT.md §3): geometry and
 * the plaintext size rule with every refusal (version 1's cases carried
 * over to 1024 and 36), the 17-byte AAD, a known-answer segment sealed by
 * an independent implementation (make_seeds_v2_object.py --vectors), every
 * flipped byte, and the hole test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

#define EPOCH ((UINT64_C(5) << 24) | 3)
/* CONTENT_KEY = 60..7f, NONCE = a0..ab, i = 9, last, "coffre v2". */
static const char kat_hex[] =
	"0000000005000003a0a1a2a3a4a5a6a7a8a9aaab551290d3f157e76a7301dafc"
	"cbe2802ba70d3452fa1cc7fc42";
#define KAT_LEN 45

static void from_hex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void content_key(struct aead_key *k)
{
	for (int i = 0; i < 32; i++)
		k->key[i] = (uint8_t)(0x60 + i);
	aead_key_init(k);
}

Test(segment2, geometry)
{
	cr_expect_eq(seg_count(16384, 0), 1);
	cr_expect_eq(seg_count(16384, 1), 1);
	cr_expect_eq(seg_count(16384, 16384), 1);
	cr_expect_eq(seg_count(16384, 16385), 2);
	cr_expect_eq(seg2_offset(16384, 0), 1024);
	cr_expect_eq(seg2_offset(16384, 1), 1024 + 16420);
	cr_expect_eq(seg2_offset(4096, 3), 1024 + 3 * 4132);
	cr_expect_eq(seg2_offset(65536, UINT64_MAX / 2), UINT64_MAX);
	cr_expect_eq(cipher2_size(16384, 0), 1060);
	cr_expect_eq(cipher2_size(16384, 10), 1070);
	cr_expect_eq(cipher2_size(16384, 16384), 1024 + 16420);
	cr_expect_eq(cipher2_size(16384, 16385), 1024 + 16385 + 72);
	cr_expect_eq(cipher2_size(4096, (uint64_t)INT64_MAX), UINT64_MAX);
	cr_expect_eq(cipher2_size(4096, UINT64_MAX), UINT64_MAX);
}

static int ps(uint32_t s, uint64_t c, uint64_t *p)
{
	*p = 99;
	return plain2_size(s, c, p);
}

Test(segment2, plain_size_every_case)
{
	uint64_t p;

	cr_expect_eq(ps(16384, 1060, &p), 0);
	cr_expect_eq(p, 0);
	cr_expect_eq(ps(16384, 1059, &p), -EBADMSG);
	cr_expect_eq(p, 0);
	cr_expect_eq(ps(16384, 0, &p), -EBADMSG);
	cr_expect_eq(ps(16384, 1024, &p), -EBADMSG);
	cr_expect_eq(ps(16384, 1061, &p), 0);
	cr_expect_eq(p, 1);
	cr_expect_eq(ps(16384, 1024 + 16420, &p), 0);      /* rem 0 */
	cr_expect_eq(p, 16384);
	cr_expect_eq(ps(16384, 1024 + 2 * 16420, &p), 0);
	cr_expect_eq(p, 32768);
	for (uint64_t r = 1; r < 36; r++) {                 /* 0 < rem < 36 */
		cr_expect_eq(ps(16384, 1024 + 16420 + r, &p), -EBADMSG);
		cr_expect_eq(p, 0);
	}
	cr_expect_eq(ps(16384, 1024 + 16420 + 36, &p), -EBADMSG); /* empty */
	cr_expect_eq(ps(16384, 1024 + 16420 + 37, &p), 0);
	cr_expect_eq(p, 16385);
	cr_expect_eq(ps(16384, (uint64_t)INT64_MAX + 1, &p), -EBADMSG);
	cr_expect_eq(ps(16384, UINT64_MAX, &p), -EBADMSG);
	cr_expect_eq(ps(5000, 2000, &p), -EINVAL);
	cr_expect_eq(p, 0);
	cr_expect_eq(ps(0, 2000, &p), -EINVAL);
}

Test(segment2, sizes_map_back_exactly)
{
	static const uint32_t segs[] = { 4096, 16384, 65536 };

	for (size_t s = 0; s < 3; s++) {
		uint32_t S = segs[s];
		uint64_t plains[] = { 0, 1, S - 1, S, S + 1, 5ull * S,
				      5ull * S + 7, UINT64_C(1) << 40 };

		for (size_t i = 0; i < sizeof(plains) / sizeof(plains[0]); i++) {
			uint64_t c = cipher2_size(S, plains[i]), back;

			cr_assert_eq(plain2_size(S, c, &back), 0);
			cr_expect_eq(back, plains[i]);
		}
		/* The largest ciphertext is refused or maps back. */
		uint64_t back;
		if (plain2_size(S, (uint64_t)INT64_MAX, &back) == 0)
			cr_expect_eq(cipher2_size(S, back), (uint64_t)INT64_MAX);
	}
}

Test(segment2, aad_layout)
{
	uint8_t aad[17];

	segment2_aad(UINT64_C(0x0102030405060708), true,
		     UINT64_C(0x1112131415161718), aad);
	for (int i = 0; i < 8; i++) {
		cr_expect_eq(aad[i], 1 + i);
		cr_expect_eq(aad[9 + i], 0x11 + i);
	}
	cr_expect_eq(aad[8], 1);
	segment2_aad(0, false, 0, aad);
	cr_expect(bytes_zero(aad, 17));
}

Test(segment2, known_answer_opens)
{
	uint8_t seg[KAT_LEN], pt[KAT_LEN - 36];
	struct aead_key k;
	uint64_t e;

	content_key(&k);
	from_hex(kat_hex, seg, KAT_LEN);
	cr_expect_eq(segment2_epoch(seg, KAT_LEN), EPOCH);
	cr_assert_eq(segment2_open(&k, 9, true, seg, KAT_LEN, &e, pt), 0);
	cr_expect_eq(e, EPOCH);
	cr_expect_eq(memcmp(pt, "coffre v2", 9), 0);
	cr_expect_eq(segment2_open(&k, 9, false, seg, KAT_LEN, &e, pt),
		     -EBADMSG);
	cr_expect_eq(e, 0);
	cr_expect(bytes_zero(pt, sizeof(pt)));
	cr_expect_eq(segment2_open(&k, 8, true, seg, KAT_LEN, &e, pt),
		     -EBADMSG);
}

Test(segment2, every_flipped_byte_is_refused)
{
	uint8_t seg[KAT_LEN], bad[KAT_LEN], pt[KAT_LEN - 36];
	struct aead_key k;
	uint64_t e;

	content_key(&k);
	from_hex(kat_hex, seg, KAT_LEN);
	for (int i = 0; i < KAT_LEN; i++) {
		memcpy(bad, seg, KAT_LEN);
		bad[i] ^= 0x02;
		memset(pt, 0xa5, sizeof(pt));
		cr_expect_eq(segment2_open(&k, 9, true, bad, KAT_LEN, &e, pt),
			     -EBADMSG, "byte %d", i);
		cr_expect(bytes_zero(pt, sizeof(pt)), "byte %d", i);
	}
	cr_expect_eq(segment2_open(&k, 9, true, seg, 35, &e, pt), -EBADMSG);
	cr_expect_eq(segment2_open(&k, 9, true, seg, KAT_LEN - 1, &e, pt),
		     -EBADMSG);
	cr_expect_eq(segment2_epoch(seg, 35), 0);
}

Test(segment2, seal_matches_spec)
{
	uint8_t pt[100], seg[136], aad[17], back[100];
	struct aead_key k;
	uint64_t e;

	content_key(&k);
	for (int i = 0; i < 100; i++)
		pt[i] = (uint8_t)i;
	cr_assert_eq(segment2_seal(&k, 3, false, EPOCH, pt, 100, seg), 0);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(seg[i], (uint8_t)(EPOCH >> (56 - 8 * i)));
	/* Hand-built AAD, raw GCM. */
	memset(aad, 0, 17);
	aad[7] = 3;
	aad[8] = 0;
	memcpy(aad + 9, seg, 8);
	cr_assert_eq(gcm_decrypt_raw(k.key, 32, seg + 8, 12, aad, 17, seg + 20,
				     100, seg + 120, 16, back), 0);
	cr_expect_eq(memcmp(back, pt, 100), 0);
	cr_expect_eq(segment2_open(&k, 3, false, seg, 136, &e, back), 0);
	cr_expect_eq(e, EPOCH);
	/* An empty segment (kinds 3..6, an empty file). */
	cr_assert_eq(segment2_seal(&k, 0, true, EPOCH, NULL, 0, seg), 0);
	cr_expect_eq(segment2_open(&k, 0, true, seg, 36, &e, NULL), 0);
	/* Invalid epochs are neither sealed nor opened. */
	cr_expect_eq(segment2_seal(&k, 0, true, 0, pt, 100, seg), -EINVAL);
	cr_expect_eq(segment2_seal(&k, 0, true, V2_LEGACY_MARK | EPOCH, pt,
				   100, seg), -EINVAL);
	cr_assert_eq(segment2_seal(&k, 3, false, EPOCH, pt, 100, seg), 0);
	memset(seg, 0, 8);
	cr_expect_eq(segment2_open(&k, 3, false, seg, 136, &e, back),
		     -EBADMSG);
	cr_expect(bytes_zero(back, 100));
}

Test(segment2, holes)
{
	static uint8_t z[4096 + 37];

	cr_expect(segment2_is_hole(4096, z, 4132));
	cr_expect_not(segment2_is_hole(4096, z, 4131));
	cr_expect_not(segment2_is_hole(4096, z, 4133));
	cr_expect_not(segment2_is_hole(16384, z, 4132));
	z[4131] = 1;
	cr_expect_not(segment2_is_hole(4096, z, 4132));
	z[4131] = 0;
	z[0] = 1;
	cr_expect_not(segment2_is_hole(4096, z, 4132));
	cr_expect_not(segment2_is_hole(4096, NULL, 4132));
}
