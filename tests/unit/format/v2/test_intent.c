/* Unit tests for src/format/v2/intent.c (doc/FORMAT.md §12.4): the layout
 * by hand, the truncated MAC against an independent implementation, every
 * flipped byte, the field rules, and the scan of a whole file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/table.h"

/* python3 tests/fuzz/make_seeds_v2_table.py --kat, "intent g 30 index 2" */
static const char *KAT_TAG = "daa90649f658a402638fbcd2973d5ddc";

static uint8_t key[32], uuid[16];

static void setup(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)(0x10 + i);
}

TestSuite(intent, .init = setup);

static void sample(struct intent *in)
{
	memset(in, 0, sizeof(*in));
	in->kind = V2_INTENT_CONTENT;
	in->first_group = 4;
	in->group_count = 16;
	for (int i = 0; i < 16; i++)
		in->object_id[i] = (uint8_t)(0x50 + i);
}

/* Bytes 0..32 of the sample, by hand. */
static void body_bytes(uint8_t b[32])
{
	memset(b, 0, 32);
	b[0] = 1;
	b[7] = 4;
	b[11] = 16;
	for (int i = 0; i < 16; i++)
		b[16 + i] = (uint8_t)(0x50 + i);
}

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static const uint8_t zeros[64];

Test(intent, layout_and_known_answer)
{
	struct intent in, back;
	uint8_t want[48], got[48];

	sample(&in);
	body_bytes(want);
	unhex(KAT_TAG, want + 32, 16);
	cr_assert_eq(intent_write(key, uuid, 30, 2, &in, got), 0);
	cr_assert_eq(memcmp(got, want, 48), 0);
	cr_assert_eq(intent_parse(key, uuid, 30, 2, want, 48, &back), 0);
	cr_assert_eq(memcmp(&back, &in, sizeof(in)), 0);
}

Test(intent, mac_binds_bytes_index_gen_uuid_key)
{
	struct intent in;
	uint8_t b[48];

	sample(&in);
	cr_assert_eq(intent_write(key, uuid, 30, 2, &in, b), 0);
	for (size_t off = 0; off < 48; off++) {
		b[off] ^= 0x20;
		memset(&in, 0xa5, sizeof(in));
		cr_assert_eq(intent_parse(key, uuid, 30, 2, b, 48, &in), -EBADMSG,
			     "byte %zu", off);
		cr_assert_eq(memcmp(&in, zeros, sizeof(in)), 0);
		b[off] ^= 0x20;
	}
	cr_assert_eq(intent_parse(key, uuid, 30, 3, b, 48, &in), -EBADMSG);
	cr_assert_eq(intent_parse(key, uuid, 31, 2, b, 48, &in), -EBADMSG);
	uuid[0] ^= 1;
	cr_assert_eq(intent_parse(key, uuid, 30, 2, b, 48, &in), -EBADMSG);
	uuid[0] ^= 1;
	key[0] ^= 1;
	cr_assert_eq(intent_parse(key, uuid, 30, 2, b, 48, &in), -EBADMSG);
	key[0] ^= 1;
	cr_assert_eq(intent_parse(key, uuid, 30, 2, b, 47, &in), -EINVAL);
	cr_assert_eq(intent_parse(key, uuid, 30, 2, b, 49, &in), -EINVAL);
	cr_assert_eq(intent_parse(key, uuid, 30, 2, b, 48, &in), 0);
}

/* A record whose body is b, with a valid MAC (written by hand). */
static void remac(uint8_t b[48], uint32_t index)
{
	uint8_t in[16 + 8 + 4 + 32], mac[32];

	memcpy(in, uuid, 16);
	memset(in + 16, 0, 8);
	in[23] = 30;
	in[24] = (uint8_t)(index >> 24);
	in[25] = (uint8_t)(index >> 16);
	in[26] = (uint8_t)(index >> 8);
	in[27] = (uint8_t)index;
	memcpy(in + 28, b, 32);
	cr_assert_eq(hmac_sha256(key, 32, in, sizeof(in), mac), 0);
	memcpy(b + 32, mac, 16);
}

Test(intent, field_rules_behind_the_mac)
{
	struct intent in;
	uint8_t b[48];

	for (size_t off = 1; off < 16; off++) {
		if (off >= 4 && off < 12)
			continue;
		body_bytes(b);
		b[off] = 1;
		remac(b, 0);
		cr_assert_eq(intent_parse(key, uuid, 30, 0, b, 48, &in), -EINVAL,
			     "byte %zu", off);
	}
	for (int kind = 0; kind < 256; kind++) {
		body_bytes(b);
		b[0] = (uint8_t)kind;
		remac(b, 0);
		cr_assert_eq(intent_parse(key, uuid, 30, 0, b, 48, &in),
			     kind == 1 ? 0 : -EINVAL);
	}
	body_bytes(b);
	b[11] = 0;                                  /* count 0 */
	remac(b, 0);
	cr_assert_eq(intent_parse(key, uuid, 30, 0, b, 48, &in), -EINVAL);
	body_bytes(b);
	memset(b + 4, 0xff, 4);                     /* first 2^32 - 1 ... */
	b[11] = 1;                                  /* ... count 1: fits */
	remac(b, 0);
	cr_assert_eq(intent_parse(key, uuid, 30, 0, b, 48, &in), 0);
	b[11] = 2;                                  /* past group 2^32 - 1 */
	remac(b, 0);
	cr_assert_eq(intent_parse(key, uuid, 30, 0, b, 48, &in), -EINVAL);
	/* the writer refuses the same */
	sample(&in);
	in.group_count = 0;
	memset(b, 0x5a, sizeof(b));
	cr_assert_eq(intent_write(key, uuid, 30, 0, &in, b), -EINVAL);
	cr_assert_eq(memcmp(b, zeros, 48), 0);
	sample(&in);
	in.kind = 2;
	cr_assert_eq(intent_write(key, uuid, 30, 0, &in, b), -EINVAL);
}

Test(intent, scan_stops_at_the_first_short_or_failing_record)
{
	uint8_t f[5 * 48];
	struct intent in, out[5];
	size_t n;

	sample(&in);
	for (uint32_t i = 0; i < 5; i++) {
		in.first_group = i * 100;
		cr_assert_eq(intent_write(key, uuid, 30, i, &in, f + 48 * i), 0);
	}
	cr_assert_eq(intent_scan(key, uuid, 30, f, sizeof(f), out, 5, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(out[3].first_group, 300);
	cr_assert_eq(intent_scan(key, uuid, 30, f, sizeof(f), NULL, 0, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(intent_scan(key, uuid, 30, f, sizeof(f), out, 2, &n), 0);
	cr_assert_eq(n, 2);
	/* a torn tail: whole records only */
	for (size_t len = 0; len < sizeof(f); len++) {
		cr_assert_eq(intent_scan(key, uuid, 30, f, len, out, 5, &n), 0);
		cr_assert_eq(n, len / 48);
	}
	/* a record that fails stops the scan, whatever follows */
	f[48 * 2 + 40] ^= 1;
	cr_assert_eq(intent_scan(key, uuid, 30, f, sizeof(f), out, 5, &n), 0);
	cr_assert_eq(n, 2);
	f[48 * 2 + 40] ^= 1;
	/* records swapped: their indexes no longer match */
	memcpy(f + 48 * 4, f + 48 * 3, 48);
	cr_assert_eq(intent_scan(key, uuid, 30, f, sizeof(f), out, 5, &n), 0);
	cr_assert_eq(n, 4);
	/* of another generation: none */
	cr_assert_eq(intent_scan(key, uuid, 29, f, sizeof(f), out, 5, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(intent_scan(key, uuid, 30, NULL, 0, out, 5, &n), 0);
	cr_assert_eq(n, 0);
}

Test(intent, scan_refuses_a_verified_malformed_record)
{
	uint8_t f[3 * 48];
	struct intent in, out[3];
	size_t n = 99;

	sample(&in);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(intent_write(key, uuid, 30, i, &in, f + 48 * i), 0);
	f[48 + 13] = 1;                             /* reserved byte */
	remac(f + 48, 1);
	cr_assert_eq(intent_scan(key, uuid, 30, f, sizeof(f), out, 3, &n), -EINVAL);
	cr_assert_eq(n, 0);
	cr_assert_eq(memcmp(out, zeros, sizeof(out[0])), 0);
}
