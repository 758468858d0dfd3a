/*
 * Unit tests for src/format/v2/metaslot.c (doc/FORMAT.md §2.3): the AAD
 * byte by byte, a known-answer slot sealed by an independent
 * implementation (tests/fuzz/make_seeds_v2_object.py --vectors, Python
 * `cryptography` AESGCM), seal checked with raw GCM, every flipped byte,
 * and every case of the reading rule and of the writer's slot choice.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

/* make_seeds_v2_object.py: META_KEY = 00..1f, NONCE = a0..ab,
 * EPOCH = 5 << 24 | 3, bound = obj_header(), record = meta_record(). */
static const char kat_slot_hex[] =
	"0000000005000003a0a1a2a3a4a5a6a7a8a9aaabe61875c045cb0157626587b7"
	"077ac0de70ac591092b7426ccd5f77d72efa2450832716aefe73026c0dce569a"
	"5b28d1ab1549141a3082482c415e0b5ea47085b0b4bc856f30a5e4e0f4e2ff18"
	"8fceccbacd0baba4c5c1997aee753e9ab19a4d949394c35a6bf1346ea53ec469"
	"8bd917a7";
#define EPOCH ((UINT64_C(5) << 24) | 3)

static void from_hex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void meta_key(uint8_t k[32])
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)i;
}

/* obj_header() of the script: §2.1 by hand. */
static void bound_bytes(uint8_t b[64])
{
	memset(b, 0, 64);
	memcpy(b, "CFRF\x02\x01\x02\x00\x00\x00\x40\x00\x00\x00\x04\x00", 16);
	for (int i = 0; i < 16; i++) {
		b[16 + i] = (uint8_t)(0x10 + i);
		b[36 + i] = (uint8_t)(0x30 + i);
	}
	b[35] = 3;
}

static void kat_slot(uint8_t s[256])
{
	memset(s, 0, 256);
	from_hex(kat_slot_hex, s, (sizeof(kat_slot_hex) - 1) / 2);
}

static void sample_record(struct meta_record *m)
{
	memset(m, 0, sizeof(*m));
	m->mode = 04755;
	m->uid = 1000;
	m->gid = 100;
	memset(m->cur_parent, 0x51, 16);
	memset(m->cur_name, 0x52, 16);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *q = p;

	for (size_t i = 0; i < n; i++)
		if (q[i])
			return false;
	return true;
}

Test(meta_slot, aad_layout)
{
	uint8_t bound[64], aad[76];

	bound_bytes(bound);
	meta_slot_aad(bound, UINT64_C(0x0102030405060708), aad);
	cr_expect_eq(memcmp(aad, "CFRM", 4), 0);
	cr_expect_eq(memcmp(aad + 4, bound, 64), 0);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(aad[68 + i], i + 1);
}

Test(meta_slot, known_answer_opens)
{
	uint8_t key[32], bound[64], slot[256];
	struct meta_record m, want;
	uint64_t epoch;

	meta_key(key);
	bound_bytes(bound);
	kat_slot(slot);
	sample_record(&want);
	cr_assert_eq(meta_slot_open(key, bound, slot, 256, V2_KIND_REG, &epoch,
				    &m), 0);
	cr_expect_eq(epoch, EPOCH);
	cr_expect_eq(memcmp(&m, &want, sizeof(m)), 0);
}

Test(meta_slot, seal_matches_spec)
{
	uint8_t key[32], bound[64], slot[256], aad[76], rec[96], want[96];
	struct meta_record m;

	meta_key(key);
	bound_bytes(bound);
	sample_record(&m);
	cr_assert_eq(meta_slot_seal(key, bound, EPOCH, V2_KIND_REG, &m, slot),
		     0);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(slot[i], (uint8_t)(EPOCH >> (56 - 8 * i)));
	cr_expect(all_zero(slot + 132, 124));
	/* AAD by hand, opened with raw GCM. */
	memcpy(aad, "CFRM", 4);
	memcpy(aad + 4, bound, 64);
	memcpy(aad + 68, slot, 8);
	cr_assert_eq(gcm_decrypt_raw(key, 32, slot + 8, 12, aad, 76, slot + 20,
				     96, slot + 116, 16, rec), 0);
	meta_record_write(&m, want);
	cr_expect_eq(memcmp(rec, want, 96), 0);
}

Test(meta_slot, seal_refusals_zero_the_slot)
{
	uint8_t key[32], bound[64], slot[256];
	struct meta_record m;

	meta_key(key);
	bound_bytes(bound);
	sample_record(&m);
	memset(slot, 0xa5, 256);
	cr_expect_eq(meta_slot_seal(key, bound, 0, 1, &m, slot), -EINVAL);
	cr_expect(all_zero(slot, 256));
	memset(slot, 0xa5, 256);
	cr_expect_eq(meta_slot_seal(key, bound, V2_LEGACY_MARK | 5, 1, &m,
				    slot), -EINVAL);
	cr_expect(all_zero(slot, 256));
	cr_expect_eq(meta_slot_seal(key, bound, 0xffffff, 1, &m, slot),
		     -EINVAL, "gen 0");
	m.rdev_major = 1;
	memset(slot, 0xa5, 256);
	cr_expect_eq(meta_slot_seal(key, bound, EPOCH, 1, &m, slot), -EINVAL);
	cr_expect(all_zero(slot, 256));
	cr_expect_eq(meta_slot_seal(key, bound, EPOCH, 5, &m, slot), 0);
}

static int open_slot(const uint8_t *slot, size_t len)
{
	uint8_t key[32], bound[64];
	struct meta_record m;
	uint64_t epoch = 77;
	int r;

	meta_key(key);
	bound_bytes(bound);
	memset(&m, 0xa5, sizeof(m));
	r = meta_slot_open(key, bound, slot, len, V2_KIND_REG, &epoch, &m);
	if (r) {
		cr_expect_eq(epoch, 0);
		cr_expect(all_zero(&m, sizeof(m)));
	}
	return r;
}

Test(meta_slot, every_flipped_byte_is_refused)
{
	uint8_t slot[257], bad[256];

	kat_slot(slot);
	cr_assert_eq(open_slot(slot, 256), 0);
	for (int i = 0; i < 256; i++) {
		memcpy(bad, slot, 256);
		bad[i] ^= 0x01;
		cr_expect_eq(open_slot(bad, 256), -EBADMSG, "byte %d", i);
	}
	slot[256] = 0;
	cr_expect_eq(open_slot(slot, 257), -EINVAL);
	cr_expect_eq(open_slot(slot, 255), -EINVAL);
	memset(bad, 0, 256);
	cr_expect_eq(open_slot(bad, 256), -ENODATA);
}

Test(meta_slot, bound_header_kind_and_key_are_bound)
{
	uint8_t key[32], bound[64], slot[256];
	struct meta_record m;
	uint64_t epoch;

	meta_key(key);
	bound_bytes(bound);
	kat_slot(slot);
	for (int i = 0; i < 64; i++) {
		bound[i] ^= 0x80;
		cr_expect_eq(meta_slot_open(key, bound, slot, 256, 1, &epoch,
					    &m), -EBADMSG, "bound byte %d", i);
		bound[i] ^= 0x80;
	}
	key[31] ^= 1;
	cr_expect_eq(meta_slot_open(key, bound, slot, 256, 1, &epoch, &m),
		     -EBADMSG);
	key[31] ^= 1;
	/* Authentic but not a record for that kind: malformed, not "bad". */
	cr_expect_eq(meta_slot_open(key, bound, slot, 256, 9, &epoch, &m),
		     -EINVAL);
}

Test(meta_slot, invalid_epochs_are_neither)
{
	uint8_t key[32], bound[64], slot[256];
	struct meta_record m;
	uint64_t e;

	meta_key(key);
	bound_bytes(bound);
	sample_record(&m);
	cr_assert_eq(meta_slot_seal(key, bound, EPOCH, 1, &m, slot), 0);
	memset(slot, 0, 8);              /* epoch 0, rest intact */
	cr_expect_eq(meta_slot_open(key, bound, slot, 256, 1, &e, &m),
		     -EBADMSG);
	slot[7] = 1;                     /* gen 0 */
	cr_expect_eq(meta_slot_open(key, bound, slot, 256, 1, &e, &m),
		     -EBADMSG);
	slot[0] = 0x80;                  /* top bit */
	cr_expect_eq(meta_slot_open(key, bound, slot, 256, 1, &e, &m),
		     -EBADMSG);
}

static struct meta_slot_view view(enum meta_slot_state s, uint64_t epoch,
				  uint32_t mode)
{
	struct meta_slot_view v;

	memset(&v, 0, sizeof(v));
	v.state = s;
	if (s == V2_SLOT_AUTHENTIC) {
		v.epoch = epoch;
		v.rec.mode = mode;
	}
	return v;
}

static int pick(struct meta_slot_view a, struct meta_slot_view b,
		bool *stale)
{
	struct meta_slot_view v[2] = { a, b };

	return meta_slot_pick(v, stale);
}

Test(meta_slot, reading_rule_every_case)
{
	const enum meta_slot_state E = V2_SLOT_EMPTY, A = V2_SLOT_AUTHENTIC,
		B = V2_SLOT_BAD, M = V2_SLOT_MALFORMED;
	bool stale = true;

	/* No authentic slot: tamper. */
	cr_expect_eq(pick(view(E, 0, 0), view(E, 0, 0), &stale), -EBADMSG);
	cr_expect_eq(pick(view(B, 0, 0), view(E, 0, 0), &stale), -EBADMSG);
	cr_expect_eq(pick(view(E, 0, 0), view(B, 0, 0), &stale), -EBADMSG);
	cr_expect_eq(pick(view(B, 0, 0), view(B, 0, 0), &stale), -EBADMSG);
	/* One authentic, the other empty or neither (torn). */
	cr_expect_eq(pick(view(A, 5, 1), view(E, 0, 0), &stale), 0);
	cr_expect_not(stale);
	cr_expect_eq(pick(view(E, 0, 0), view(A, 5, 1), &stale), 1);
	cr_expect_not(stale);
	cr_expect_eq(pick(view(A, 5, 1), view(B, 0, 0), &stale), 0);
	cr_expect(stale);
	cr_expect_eq(pick(view(B, 0, 0), view(A, 5, 1), &stale), 1);
	cr_expect(stale);
	cr_expect_eq(pick(view(B, 0, 0), view(A, 5, 1), NULL), 1);
	/* Two authentic: the highest epoch, wherever it is. */
	cr_expect_eq(pick(view(A, 5, 1), view(A, 6, 2), &stale), 1);
	cr_expect_not(stale);
	cr_expect_eq(pick(view(A, 7, 1), view(A, 6, 2), &stale), 0);
	/* Same epoch: same record fine, different records tamper. */
	cr_expect_eq(pick(view(A, 6, 2), view(A, 6, 2), &stale), 0);
	cr_expect_eq(pick(view(A, 6, 1), view(A, 6, 2), &stale), -EBADMSG);
	/* An authentic record that does not parse: tamper, always. */
	cr_expect_eq(pick(view(A, 5, 1), view(M, 0, 0), &stale), -EBADMSG);
	cr_expect_eq(pick(view(M, 0, 0), view(A, 5, 1), &stale), -EBADMSG);
	cr_expect_eq(meta_slot_state_of(0), A);
	cr_expect_eq(meta_slot_state_of(-ENODATA), E);
	cr_expect_eq(meta_slot_state_of(-EBADMSG), B);
	cr_expect_eq(meta_slot_state_of(-EINVAL), M);
}

Test(meta_slot, read_both_slots)
{
	uint8_t key[32], bound[64], s0[256], s1[256];
	struct meta_record m, newer, got;
	uint64_t epoch;
	bool stale;

	meta_key(key);
	bound_bytes(bound);
	kat_slot(s0);
	sample_record(&m);
	newer = m;
	newer.mode = 0600;
	cr_assert_eq(meta_slot_seal(key, bound, EPOCH + 1, 1, &newer, s1), 0);
	cr_expect_eq(meta_slots_read(key, bound, s0, s1, 1, &epoch, &got,
				     &stale), 1);
	cr_expect_eq(epoch, EPOCH + 1);
	cr_expect_eq(got.mode, 0600);
	s1[100] ^= 1;                   /* torn: the older one stands */
	cr_expect_eq(meta_slots_read(key, bound, s0, s1, 1, &epoch, &got,
				     &stale), 0);
	cr_expect_eq(epoch, EPOCH);
	cr_expect(stale);
	cr_expect_eq(memcmp(&got, &m, sizeof(m)), 0);
	s0[100] ^= 1;
	memset(&got, 0xa5, sizeof(got));
	cr_expect_eq(meta_slots_read(key, bound, s0, s1, 1, &epoch, &got,
				     &stale), -EBADMSG);
	cr_expect_eq(epoch, 0);
	cr_expect(all_zero(&got, sizeof(got)));
	/* Same epoch, different records (a replayed seal): tamper. */
	kat_slot(s0);
	cr_assert_eq(meta_slot_seal(key, bound, EPOCH, 1, &newer, s1), 0);
	cr_expect_eq(meta_slots_read(key, bound, s0, s1, 1, &epoch, &got,
				     &stale), -EBADMSG);
}

Test(meta_slot, writer_slot_choice)
{
	cr_expect_eq(meta_slot_next(-1, 0, EPOCH), 0);
	cr_expect_eq(meta_slot_next(0, EPOCH, EPOCH + 1), 1);
	cr_expect_eq(meta_slot_next(1, EPOCH, EPOCH + 1), 0);
	cr_expect_eq(meta_slot_next(0, EPOCH, EPOCH), -EINVAL);
	cr_expect_eq(meta_slot_next(1, EPOCH, EPOCH - 1), -EINVAL);
	cr_expect_eq(meta_slot_next(-1, 0, 0), -EINVAL);
	cr_expect_eq(meta_slot_next(0, EPOCH, V2_LEGACY_MARK | EPOCH),
		     -EINVAL);
	cr_expect_eq(meta_slot_next(2, EPOCH, EPOCH + 1), -EINVAL);
}
