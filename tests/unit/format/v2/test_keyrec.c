/* Unit tests for src/format/v2/keyrec.c (doc/FORMAT.md §9.1): the layout
 * by hand, the AAD against an independent GCM vector, every refusal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/records.h"

/*
 * tests/fuzz/make_seeds_v2_records.py --vectors: keyrec(flags=0xa5), the
 * DEK bytes(range(0xc0, 0xe0)) sealed by Python's cryptography AESGCM
 * under MK = bytes(range(0x10, 0x30)) with IV 60..6b and AAD = bytes 0..56.
 */
static const char kat_hex[] =
	"4346524b02a50000202122232425262728292a2b2c2d2e2f404142434445464748494a4b"
	"4c4d4e4f00000007000000030000000000001234606162636465666768696a6b668c91a5"
	"0a4073eba8cbac5775b4d2ed53c3d62ebf12da41888ab91984366a7912ac7fcdcfa0714f"
	"366b071f1b931406";

static void kat(uint8_t b[V2_KEYREC_LEN])
{
	cr_assert_eq(hex_decode(kat_hex, strlen(kat_hex), b, V2_KEYREC_LEN), 0);
}

static void sample(struct keyrec2 *r)
{
	memset(r, 0, sizeof(*r));
	r->flags = 0xa5;
	for (int i = 0; i < 16; i++) {
		r->fs_uuid[i] = (uint8_t)(0x20 + i);
		r->dir_id[i] = (uint8_t)(0x40 + i);
	}
	r->dek_version = 7;
	r->mk_version = 3;
	r->gen = 0x1234;
	for (int i = 0; i < 12; i++)
		r->iv[i] = (uint8_t)(0x60 + i);
}

/* The table of §9.1, offset by offset (sealed bytes 0x80..). */
static void sample_bytes(uint8_t b[V2_KEYREC_LEN])
{
	memset(b, 0, V2_KEYREC_LEN);
	memcpy(b, "CFRK", 4);
	b[4] = 2;
	b[5] = 0xa5;
	for (int i = 0; i < 16; i++) {
		b[8 + i] = (uint8_t)(0x20 + i);
		b[24 + i] = (uint8_t)(0x40 + i);
	}
	b[43] = 7;
	b[47] = 3;
	b[54] = 0x12;
	b[55] = 0x34;
	for (int i = 0; i < 12; i++)
		b[56 + i] = (uint8_t)(0x60 + i);
	for (int i = 0; i < 48; i++)
		b[68 + i] = (uint8_t)(0x80 + i);
}

Test(keyrec2, sizes)
{
	cr_assert_eq(V2_KEYREC_HDR_LEN, 56);
	cr_assert_eq(V2_KEYREC_LEN, 116);
}

Test(keyrec2, writes_documented_layout)
{
	struct keyrec2 r;
	uint8_t got[V2_KEYREC_LEN], want[V2_KEYREC_LEN];

	sample(&r);
	for (int i = 0; i < 48; i++)
		r.sealed[i] = (uint8_t)(0x80 + i);
	sample_bytes(want);
	cr_assert_eq(keyrec2_write(&r, got), 0);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0);
}

Test(keyrec2, aad_opens_independent_vector)
{
	uint8_t b[V2_KEYREC_LEN], aad[V2_KEYREC_HDR_LEN], again[V2_KEYREC_LEN];
	uint8_t mk[32], dek[32];
	struct keyrec2 r, want;

	kat(b);
	cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), 0);
	sample(&want);
	memcpy(want.sealed, r.sealed, sizeof(want.sealed));
	cr_assert_eq(memcmp(&r, &want, sizeof(r)), 0);
	cr_assert_eq(keyrec2_aad(&r, aad), 0);
	cr_assert_eq(memcmp(aad, b, sizeof(aad)), 0);
	for (int i = 0; i < 32; i++)
		mk[i] = (uint8_t)(0x10 + i);
	cr_assert_eq(gcm_decrypt_raw(mk, 32, r.iv, 12, aad, sizeof(aad),
				     r.sealed, 32, r.sealed + 32, 16, dek), 0);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(dek[i], 0xc0 + i);
	/* a changed header byte no longer opens */
	for (size_t i = 0; i < sizeof(aad); i++) {
		aad[i] ^= 1;
		cr_assert_eq(gcm_decrypt_raw(mk, 32, r.iv, 12, aad, sizeof(aad),
					     r.sealed, 32, r.sealed + 32, 16, dek),
			     -EBADMSG);
		aad[i] ^= 1;
	}
	cr_assert_eq(keyrec2_write(&r, again), 0);
	cr_assert_eq(memcmp(again, b, sizeof(b)), 0);
}

Test(keyrec2, flags_are_opaque)
{
	uint8_t b[V2_KEYREC_LEN];
	struct keyrec2 r;

	for (int f = 0; f < 256; f++) {
		sample_bytes(b);
		b[5] = (uint8_t)f;
		cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), 0);
		cr_assert_eq(r.flags, f);
	}
}

Test(keyrec2, rejects_short_and_long)
{
	uint8_t b[V2_KEYREC_LEN + 1];
	struct keyrec2 r;

	sample_bytes(b);
	b[V2_KEYREC_LEN] = 0;
	for (size_t len = 0; len < V2_KEYREC_LEN; len++)
		cr_assert_eq(keyrec2_parse(b, len, &r), -EINVAL);
	cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), -EINVAL);
	cr_assert_eq(keyrec2_parse(NULL, 0, &r), -EINVAL);
}

static bool zeroed(const struct keyrec2 *r)
{
	static const struct keyrec2 z;

	return !memcmp(r, &z, sizeof(z));
}

Test(keyrec2, rejects_magic_version_reserved)
{
	uint8_t b[V2_KEYREC_LEN];
	struct keyrec2 r;

	for (int i = 0; i < 4; i++) {
		sample_bytes(b);
		b[i] ^= 0x20;
		cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), -EPROTO);
		cr_assert(zeroed(&r));
	}
	for (int v = 0; v < 256; v++) {
		sample_bytes(b);
		b[4] = (uint8_t)v;
		cr_assert_eq(keyrec2_parse(b, sizeof(b), &r),
			     v == 2 ? 0 : -EPROTONOSUPPORT);
		if (v != 2)
			cr_assert(zeroed(&r));
	}
	for (int bit = 0; bit < 16; bit++) {
		sample_bytes(b);
		b[6 + bit / 8] |= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), -EINVAL);
		cr_assert(zeroed(&r));
	}
}

Test(keyrec2, field_bounds)
{
	uint8_t b[V2_KEYREC_LEN];
	struct keyrec2 r;
	static const struct { uint64_t gen; int err; } gens[] = {
		{ 0, -EINVAL }, { 1, 0 }, { (UINT64_C(1) << 39) - 1, 0 },
		{ UINT64_C(1) << 39, -EINVAL }, { UINT64_MAX, -EINVAL },
	};

	sample_bytes(b);
	memset(b + 40, 0, 4);
	cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), -EINVAL);
	cr_assert(zeroed(&r));
	sample_bytes(b);
	memset(b + 44, 0, 4);
	cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), -EINVAL);
	sample_bytes(b);
	memset(b + 40, 0xff, 8);        /* both 2^32 - 1 */
	cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), 0);
	cr_assert_eq(r.dek_version, UINT32_MAX);
	cr_assert_eq(r.mk_version, UINT32_MAX);
	for (size_t i = 0; i < sizeof(gens) / sizeof(gens[0]); i++) {
		sample_bytes(b);
		for (int k = 0; k < 8; k++)
			b[48 + k] = (uint8_t)(gens[i].gen >> (56 - 8 * k));
		cr_assert_eq(keyrec2_parse(b, sizeof(b), &r), gens[i].err);
		if (!gens[i].err)
			cr_assert_eq(r.gen, gens[i].gen);
	}
}

Test(keyrec2, writer_refuses_invalid)
{
	struct keyrec2 r;
	uint8_t out[V2_KEYREC_LEN], aad[V2_KEYREC_HDR_LEN];

	sample(&r);
	r.gen = 0;
	memset(out, 0x55, sizeof(out));
	cr_assert_eq(keyrec2_write(&r, out), -EINVAL);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0);
	cr_assert_eq(keyrec2_aad(&r, aad), -EINVAL);
	sample(&r);
	r.dek_version = 0;
	cr_assert_eq(keyrec2_write(&r, out), -EINVAL);
	sample(&r);
	r.mk_version = 0;
	cr_assert_eq(keyrec2_write(&r, out), -EINVAL);
	sample(&r);
	r.gen = UINT64_C(1) << 39;
	cr_assert_eq(keyrec2_write(&r, out), -EINVAL);
}

Test(keyrec2, check_name)
{
	struct keyrec2 r;
	uint8_t uuid[16];

	sample(&r);
	memcpy(uuid, r.fs_uuid, 16);
	cr_assert_eq(keyrec2_check_name(&r, uuid,
		"404142434445464748494a4b4c4d4e4f.7"), 0);
	cr_assert_eq(keyrec2_check_name(&r, uuid,
		"404142434445464748494a4b4c4d4e4f.8"), -EINVAL);
	cr_assert_eq(keyrec2_check_name(&r, uuid,
		"404142434445464748494a4b4c4d4e40.7"), -EINVAL);
	cr_assert_eq(keyrec2_check_name(&r, uuid,
		"404142434445464748494a4b4c4d4e4f.07"), -EINVAL);
	cr_assert_eq(keyrec2_check_name(&r, uuid,
		"404142434445464748494A4B4C4D4E4F.7"), -EINVAL);
	uuid[0] ^= 1;
	cr_assert_eq(keyrec2_check_name(&r, uuid,
		"404142434445464748494a4b4c4d4e4f.7"), -EINVAL);
}
