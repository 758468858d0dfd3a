/*
 * Unit tests for src/format/v2/map.c (doc/FORMAT.md §5.2): offsets, the
 * slot written byte for byte with a MAC computed by an independent
 * implementation (make_seeds_v2_object.py --vectors, Python hmac), every
 * refusal, every flipped byte, and the slot selection rule.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

#define EPOCH ((UINT64_C(5) << 24) | 3)
#define GEN7 (UINT64_C(7) << 24)
/* HMAC-SHA256(MAP_KEY = 20..3f, map_body()). */
static const uint8_t kat_mac[32] = {
	0x4e, 0xd0, 0x82, 0x19, 0x25, 0xdf, 0xd2, 0x3d, 0x62, 0xc6, 0x13,
	0xcc, 0x91, 0x1d, 0xf5, 0x45, 0x2d, 0xc8, 0xb1, 0x15, 0x53, 0x90,
	0x58, 0x98, 0xe4, 0x4c, 0xa1, 0x85, 0x1c, 0xe3, 0x6f, 0x41,
};

static uint8_t key[32];

static void init_key(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x20 + i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* §5.2 by hand: map_body() of the script, then its MAC. */
static void slot_bytes(uint8_t b[4168])
{
	memset(b, 0, 4168);
	memcpy(b, "CFRP\x02", 5);
	for (int i = 0; i < 16; i++)
		b[8 + i] = (uint8_t)(0x30 + i);
	b[27] = 2;
	b[31] = 3;
	put64(b + 32, GEN7);
	put64(b + 40, EPOCH);
	put64(b + 56, EPOCH + 1);
	memcpy(b + 4136, kat_mac, 32);
}

static void sample(struct map_slot *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 16; i++)
		s->file_id[i] = (uint8_t)(0x30 + i);
	s->group = 2;
	s->count = 3;
	s->version = GEN7;
	s->epoch[0] = EPOCH;
	s->epoch[2] = EPOCH + 1;
}

/* Recompute the MAC after an edit, so the field check is what refuses. */
static void remac(uint8_t b[4168])
{
	cr_assert_eq(hmac_sha256(key, 32, b, 4136, b + 4136), 0);
}

static int open_slot(const uint8_t *b, size_t len, bool legacy)
{
	struct map_slot s;
	int r;

	memset(&s, 0xa5, sizeof(s));
	r = map_slot_open(key, b, len, legacy, &s);
	if (r)
		cr_expect(bytes_zero(&s, sizeof(s)), "not zeroed (%d)", r);
	return r;
}

Test(map_slot, offsets)
{
	cr_expect_eq(map_slot_offset(0, 0), 0);
	cr_expect_eq(map_slot_offset(0, 1), 4168);
	cr_expect_eq(map_slot_offset(3, 0), 3 * 8336);
	cr_expect_eq(map_slot_offset(3, 1), 3 * 8336 + 4168);
	cr_expect_eq(map_slot_offset(UINT32_MAX, 1),
		     (uint64_t)UINT32_MAX * 8336 + 4168);
}

Test(map_slot, writes_documented_layout_with_known_mac)
{
	uint8_t got[4168], want[4168];
	struct map_slot s, back;

	init_key();
	sample(&s);
	slot_bytes(want);
	cr_assert_eq(map_slot_write(&s, key, got), 0);
	cr_assert_eq(memcmp(got, want, 4168), 0);
	cr_assert_eq(map_slot_open(key, want, 4168, false, &back), 0);
	cr_expect_eq(memcmp(&back, &s, sizeof(s)), 0);
}

Test(map_slot, every_flipped_byte_is_refused)
{
	uint8_t b[4169], bad[4168];

	init_key();
	slot_bytes(b);
	for (int i = 0; i < 4168; i++) {
		memcpy(bad, b, 4168);
		bad[i] ^= 0x04;
		cr_expect_eq(open_slot(bad, 4168, false), -EBADMSG, "byte %d",
			     i);
	}
	key[0] ^= 1;
	cr_expect_eq(open_slot(b, 4168, false), -EBADMSG);
	init_key();
	b[4168] = 0;
	cr_expect_eq(open_slot(b, 4169, false), -EINVAL);
	cr_expect_eq(open_slot(b, 4167, false), -EINVAL);
	memset(bad, 0, 4168);
	cr_expect_eq(open_slot(bad, 4168, false), -ENODATA);
}

Test(map_slot, field_refusals)
{
	uint8_t b[4168];

	init_key();
	slot_bytes(b);
	b[0] = 'X';
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), -EPROTO);
	slot_bytes(b);
	b[4] = 1;
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), -EPROTONOSUPPORT);
	for (int i = 5; i < 8; i++) {
		slot_bytes(b);
		b[i] = 1;
		remac(b);
		cr_expect_eq(open_slot(b, 4168, false), -EINVAL, "reserved %d",
			     i);
	}
	/* count 0 and 513 out, 1 and 512 in */
	slot_bytes(b);
	memset(b + 40, 0, 4096);
	b[31] = 0;
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), -EINVAL, "count 0");
	b[31] = 1;
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), 0, "count 1");
	b[30] = 2;
	b[31] = 0;
	for (int i = 0; i < 512; i++)
		put64(b + 40 + 8 * i, EPOCH);
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), 0, "count 512");
	b[31] = 1;
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), -EINVAL, "count 513");
	/* entries n..511 zero: entry 3 of a count of 3 */
	slot_bytes(b);
	put64(b + 40 + 3 * 8, EPOCH);
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), -EINVAL, "entry past count");
	slot_bytes(b);
	put64(b + 40 + 511 * 8, 1);
	remac(b);
	cr_expect_eq(open_slot(b, 4168, false), -EINVAL, "entry 511");
	/* version: gen << 24 with a valid gen */
	static const struct { uint64_t v; int want; } vers[] = {
		{ UINT64_C(1) << 24, 0 }, { V2_GEN_MAX << 24, 0 },
		{ 0, -EINVAL }, { (UINT64_C(7) << 24) | 1, -EINVAL },
		{ (V2_GEN_MAX + 1) << 24, -EINVAL }, { UINT64_MAX, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(vers) / sizeof(vers[0]); i++) {
		slot_bytes(b);
		put64(b + 32, vers[i].v);
		remac(b);
		cr_expect_eq(open_slot(b, 4168, false), vers[i].want,
			     "version %llx", (unsigned long long)vers[i].v);
	}
}

Test(map_slot, entries_native_and_legacy)
{
	static const struct { uint64_t e; int native, legacy; } cases[] = {
		{ 0, 0, 0 },
		{ EPOCH, 0, -EINVAL },
		{ UINT64_C(1) << 24, 0, -EINVAL },
		{ 0xffffff, -EINVAL, -EINVAL },          /* gen 0 */
		{ V2_GEN_MAX << 24 | 0xffffff, 0, -EINVAL },
		{ V2_LEGACY_MARK, -EINVAL, 0 },
		{ V2_LEGACY_MARK | 12345, -EINVAL, 0 },
		{ UINT64_MAX, -EINVAL, 0 },
	};
	uint8_t b[4168];

	init_key();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		slot_bytes(b);
		memset(b + 40, 0, 24);
		put64(b + 48, cases[i].e);
		remac(b);
		cr_expect_eq(open_slot(b, 4168, false), cases[i].native,
			     "native %zu", i);
		cr_expect_eq(open_slot(b, 4168, true), cases[i].legacy,
			     "legacy %zu", i);
	}
}

Test(map_slot, parse_alone_ignores_the_mac)
{
	uint8_t b[4168];
	struct map_slot s;

	init_key();
	slot_bytes(b);
	memset(b + 4136, 0x77, 32);
	cr_expect_eq(map_slot_parse(b, 4168, false, &s), 0);
	cr_expect_eq(map_slot_open(key, b, 4168, false, &s), -EBADMSG);
}

static struct map_slot_view mview(int result, uint64_t version,
				  uint32_t group, uint32_t count)
{
	struct map_slot_view v;

	memset(&v, 0, sizeof(v));
	v.result = result;
	if (result == 0) {
		sample(&v.s);
		v.s.version = version;
		v.s.group = group;
		v.s.count = count;
	}
	return v;
}

static int sel(struct map_slot_view a, struct map_slot_view b,
	       const struct map_expect *e)
{
	struct map_slot_view v[2] = { a, b };

	return map_slot_select(v, e);
}

Test(map_slot, selection_rule_every_case)
{
	struct map_expect e;
	const uint64_t V = GEN7, OLD = UINT64_C(6) << 24;

	memset(&e, 0, sizeof(e));
	for (int i = 0; i < 16; i++)
		e.file_id[i] = (uint8_t)(0x30 + i);
	e.group = 2;
	e.count = 3;
	e.version = V;
	cr_expect_eq(sel(mview(0, V, 2, 3), mview(-ENODATA, 0, 0, 0), &e), 0);
	cr_expect_eq(sel(mview(-ENODATA, 0, 0, 0), mview(0, V, 2, 3), &e), 1);
	cr_expect_eq(sel(mview(0, OLD, 2, 5), mview(0, V, 2, 3), &e), 1);
	cr_expect_eq(sel(mview(0, V, 2, 3), mview(-EBADMSG, 0, 0, 0), &e), 0);
	cr_expect_eq(sel(mview(-EINVAL, 0, 0, 0), mview(0, V, 2, 3), &e), 1);
	/* None holds V: tamper (also an older version alone: a rollback). */
	cr_expect_eq(sel(mview(0, OLD, 2, 3), mview(-ENODATA, 0, 0, 0), &e),
		     -EBADMSG);
	cr_expect_eq(sel(mview(-EBADMSG, 0, 0, 0), mview(-ENODATA, 0, 0, 0),
			 &e), -EBADMSG);
	cr_expect_eq(sel(mview(-ENODATA, 0, 0, 0), mview(-ENODATA, 0, 0, 0),
			 &e), -EBADMSG);
	/* Both claim V. */
	cr_expect_eq(sel(mview(0, V, 2, 3), mview(0, V, 2, 3), &e), -EBADMSG);
	/* V with other values. */
	cr_expect_eq(sel(mview(0, V, 3, 3), mview(0, OLD, 2, 3), &e), -EBADMSG);
	cr_expect_eq(sel(mview(0, V, 2, 4), mview(0, OLD, 2, 3), &e), -EBADMSG);
	e.file_id[15] ^= 1;
	cr_expect_eq(sel(mview(0, V, 2, 3), mview(0, OLD, 2, 3), &e), -EBADMSG);
}
