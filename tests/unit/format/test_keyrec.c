/* Unit tests for src/format/keyrec.c: layout, AAD, round trip, rejections. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static void sample(struct key_record *r)
{
	memset(r, 0, sizeof(*r));
	r->version = COFFRE_FORMAT_VERSION;
	r->flags = 0;
	for (int i = 0; i < 16; i++) {
		r->fs_uuid[i] = (uint8_t)(0x20 + i);
		r->dir_id[i] = (uint8_t)(0x40 + i);
	}
	r->dek_version = 7;
	r->mk_version = 0x00010002;
	for (int i = 0; i < 12; i++)
		r->iv[i] = (uint8_t)(0x60 + i);
	for (int i = 0; i < 48; i++)
		r->sealed[i] = (uint8_t)(0x80 + i);
}

/* The byte layout of doc/FORMAT-v1.md, written out by hand. */
static void sample_bytes(uint8_t b[COFFRE_KEYREC_LEN])
{
	memcpy(b, "CFRK", 4);
	b[4] = 1;
	b[5] = 0;
	b[6] = b[7] = 0;
	for (int i = 0; i < 16; i++) {
		b[8 + i] = (uint8_t)(0x20 + i);
		b[24 + i] = (uint8_t)(0x40 + i);
	}
	b[40] = 0; b[41] = 0; b[42] = 0; b[43] = 7;
	b[44] = 0; b[45] = 1; b[46] = 0; b[47] = 2;
	for (int i = 0; i < 12; i++)
		b[48 + i] = (uint8_t)(0x60 + i);
	for (int i = 0; i < 48; i++)
		b[60 + i] = (uint8_t)(0x80 + i);
}

Test(keyrec, sizes)
{
	cr_assert_eq(COFFRE_KEYREC_HDR_LEN, 48);
	cr_assert_eq(COFFRE_KEYREC_LEN, 108);
}

Test(keyrec, writes_documented_layout_and_aad)
{
	struct key_record r;
	uint8_t got[COFFRE_KEYREC_LEN], want[COFFRE_KEYREC_LEN];
	uint8_t aad[COFFRE_KEYREC_HDR_LEN];

	sample(&r);
	sample_bytes(want);
	keyrec_write(&r, got);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0);
	keyrec_aad(&r, aad);
	cr_assert_eq(memcmp(aad, want, sizeof(aad)), 0);
}

Test(keyrec, aad_changes_with_every_bound_field)
{
	struct key_record r;
	uint8_t base[COFFRE_KEYREC_HDR_LEN], aad[COFFRE_KEYREC_HDR_LEN];

	sample(&r);
	keyrec_aad(&r, base);
	r.fs_uuid[15] ^= 1;
	keyrec_aad(&r, aad);
	cr_assert_neq(memcmp(aad, base, sizeof(aad)), 0);
	sample(&r);
	r.dir_id[0] ^= 1;
	keyrec_aad(&r, aad);
	cr_assert_neq(memcmp(aad, base, sizeof(aad)), 0);
	sample(&r);
	r.dek_version++;
	keyrec_aad(&r, aad);
	cr_assert_neq(memcmp(aad, base, sizeof(aad)), 0);
	sample(&r);
	r.mk_version++;
	keyrec_aad(&r, aad);
	cr_assert_neq(memcmp(aad, base, sizeof(aad)), 0);
	sample(&r);
	r.flags = 1;
	keyrec_aad(&r, aad);
	cr_assert_neq(memcmp(aad, base, sizeof(aad)), 0);
	/* the IV and the sealed bytes are not part of the AAD */
	sample(&r);
	r.iv[0] ^= 1;
	r.sealed[0] ^= 1;
	keyrec_aad(&r, aad);
	cr_assert_eq(memcmp(aad, base, sizeof(aad)), 0);
}

Test(keyrec, round_trip)
{
	struct key_record r, back;
	uint8_t buf[COFFRE_KEYREC_LEN], again[COFFRE_KEYREC_LEN];

	sample(&r);
	for (int f = 0; f < 256; f += 85) {
		r.flags = (uint8_t)f;
		keyrec_write(&r, buf);
		cr_assert_eq(keyrec_parse(buf, sizeof(buf), &back), 0);
		cr_assert_eq(memcmp(&r, &back, sizeof(r)), 0);
		keyrec_write(&back, again);
		cr_assert_eq(memcmp(buf, again, sizeof(buf)), 0);
	}
}

Test(keyrec, rejects_short_and_long)
{
	uint8_t buf[COFFRE_KEYREC_LEN + 1];
	struct key_record r;

	sample_bytes(buf);
	buf[COFFRE_KEYREC_LEN] = 0;
	for (size_t len = 0; len < COFFRE_KEYREC_LEN; len++)
		cr_assert_eq(keyrec_parse(buf, len, &r), -EINVAL);
	cr_assert_eq(keyrec_parse(buf, sizeof(buf), &r), -EINVAL);
	cr_assert_eq(keyrec_parse(buf, COFFRE_KEYREC_LEN, &r), 0);
}

Test(keyrec, rejects_wrong_magic_and_version)
{
	uint8_t buf[COFFRE_KEYREC_LEN];
	struct key_record r;

	for (int i = 0; i < 4; i++) {
		sample_bytes(buf);
		buf[i] ^= 0x80;
		cr_assert_eq(keyrec_parse(buf, sizeof(buf), &r), -EPROTO);
		cr_assert_eq(r.dek_version, 0);
	}
	for (int v = 0; v < 256; v++) {
		sample_bytes(buf);
		buf[4] = (uint8_t)v;
		cr_assert_eq(keyrec_parse(buf, sizeof(buf), &r),
			     v == 1 ? 0 : -EPROTONOSUPPORT);
	}
}

Test(keyrec, rejects_reserved_bits_and_zero_versions)
{
	uint8_t buf[COFFRE_KEYREC_LEN];
	struct key_record r;

	for (int bit = 0; bit < 16; bit++) {
		sample_bytes(buf);
		buf[6 + bit / 8] |= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(keyrec_parse(buf, sizeof(buf), &r), -EINVAL);
	}
	sample_bytes(buf);
	memset(buf + 40, 0, 4);
	cr_assert_eq(keyrec_parse(buf, sizeof(buf), &r), -EINVAL);
	sample_bytes(buf);
	memset(buf + 44, 0, 4);
	cr_assert_eq(keyrec_parse(buf, sizeof(buf), &r), -EINVAL);
}
