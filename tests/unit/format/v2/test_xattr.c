/* Unit tests for src/format/v2/xattr.c (doc/FORMAT.md §8): header by hand,
 * an independent AES-GCM vector, every refusal, the plaintext codec. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/records.h"

/*
 * tests/fuzz/make_seeds_v2_records.py --vectors: the list {a = "1",
 * bb = ""} sealed by Python's cryptography AESGCM under key 40..5f, nonce
 * a0..ab, object id 00..0f, epoch 5 << 24 | 7.
 */
static const char pt_hex[] = "00020161000000013102626200000000";
static const char blob_hex[] =
	"4346525802000000000102030405060708090a0b0c0d0e0f0000000005000007a0a1a2a3"
	"a4a5a6a7a8a9aaabd78d075ee2eb9c2c486d239c89bc30f6707967222ac79af4532d85da"
	"c957bd35";
#define BLOB_LEN 76
#define PT_LEN 16

static uint8_t key[32];

static void setup(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x40 + i);
}

static void kat(uint8_t blob[BLOB_LEN])
{
	cr_assert_eq(hex_decode(blob_hex, strlen(blob_hex), blob, BLOB_LEN), 0);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

TestSuite(xattr2, .init = setup);

Test(xattr2, opens_independent_vector)
{
	uint8_t blob[BLOB_LEN], pt[PT_LEN], want[PT_LEN], aad[32];
	struct xattr2_hdr h;

	kat(blob);
	cr_assert_eq(hex_decode(pt_hex, strlen(pt_hex), want, PT_LEN), 0);
	cr_assert_eq(xattr2_open(key, blob, sizeof(blob), &h, pt, sizeof(pt)),
		     PT_LEN);
	cr_assert_eq(memcmp(pt, want, PT_LEN), 0);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(h.object_id[i], i);
	cr_assert_eq(h.epoch, (UINT64_C(5) << 24) | 7);
	cr_assert_eq(xattr2_aad(&h, aad), 0);
	cr_assert_eq(memcmp(aad, blob, 32), 0);
}

Test(xattr2, header_layout_by_hand)
{
	struct xattr2_hdr h = { .epoch = 0x0102030405060708 };
	uint8_t want[32] = { 'C', 'F', 'R', 'X', 2, 0, 0, 0 }, got[32];

	for (int i = 0; i < 16; i++)
		h.object_id[i] = want[8 + i] = (uint8_t)(0xe0 + i);
	for (int i = 0; i < 8; i++)
		want[24 + i] = (uint8_t)(i + 1);
	cr_assert_eq(xattr2_aad(&h, got), 0);
	cr_assert_eq(memcmp(got, want, 32), 0);
	h.epoch = 0;
	cr_assert_eq(xattr2_aad(&h, got), -EINVAL);
	cr_assert(all_zero(got, 32));
	h.epoch = UINT64_C(1) << 63;    /* generation out of range */
	cr_assert_eq(xattr2_aad(&h, got), -EINVAL);
}

Test(xattr2, every_flipped_byte_refused)
{
	uint8_t blob[BLOB_LEN], pt[PT_LEN];
	struct xattr2_hdr h;

	for (size_t i = 0; i < BLOB_LEN; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			int err;

			kat(blob);
			blob[i] ^= (uint8_t)(1u << bit);
			memset(pt, 0x55, sizeof(pt));
			err = xattr2_open(key, blob, sizeof(blob), &h, pt, sizeof(pt));
			cr_assert_lt(err, 0, "byte %zu", i);
			if (i >= 32 || (i >= 8 && i < 24))
				cr_assert_eq(err, -EBADMSG, "byte %zu", i);
			cr_assert(all_zero(pt, sizeof(pt)));
			cr_assert(all_zero(&h, sizeof(h)));
		}
	}
}

Test(xattr2, header_refusals)
{
	uint8_t blob[BLOB_LEN], pt[PT_LEN];
	struct xattr2_hdr h;

	kat(blob);
	blob[0] = 'X';
	cr_assert_eq(xattr2_open(key, blob, BLOB_LEN, &h, pt, PT_LEN), -EPROTO);
	for (int v = 0; v < 256; v++) {
		kat(blob);
		blob[4] = (uint8_t)v;
		cr_assert_eq(xattr2_hdr_parse(blob, BLOB_LEN, &h),
			     v == 2 ? 0 : -EPROTONOSUPPORT);
	}
	for (int i = 5; i < 8; i++) {
		kat(blob);
		blob[i] = 1;
		cr_assert_eq(xattr2_hdr_parse(blob, BLOB_LEN, &h), -EINVAL);
		cr_assert(all_zero(&h, sizeof(h)));
	}
	/* epoch 0, generation 2^39 (top bit clear but too big) */
	kat(blob);
	memset(blob + 24, 0, 8);
	cr_assert_eq(xattr2_hdr_parse(blob, BLOB_LEN, &h), -EINVAL);
	kat(blob);
	memset(blob + 24, 0, 8);
	blob[24] = 0x80;
	cr_assert_eq(xattr2_hdr_parse(blob, BLOB_LEN, &h), -EINVAL);
	kat(blob);
	memset(blob + 24, 0, 8);
	blob[26] = 0x01;                /* gen 1, seq 0 */
	cr_assert_eq(xattr2_hdr_parse(blob, BLOB_LEN, &h), 0);
	/* lengths: a blob is at least 60 and at most 1 MiB + 60 bytes */
	for (size_t len = 0; len < V2_XATTR_OVERHEAD; len++)
		cr_assert_eq(xattr2_hdr_parse(blob, len, &h), -EINVAL);
	cr_assert_eq(xattr2_hdr_parse(blob, V2_XATTR_BLOB_MAX + 1, &h), -EINVAL);
	kat(blob);
	cr_assert_eq(xattr2_open(key, blob, BLOB_LEN - 1, &h, pt, PT_LEN), -EBADMSG);
	cr_assert_eq(xattr2_open(key, blob, BLOB_LEN, &h, pt, PT_LEN - 1), -ENOSPC);
}

Test(xattr2, seal_then_independent_open)
{
	const uint8_t name[] = "mime_type", value[] = "text/plain";
	struct xattr2_attr a = { name, 9, value, 10 };
	struct xattr2_hdr h = { .epoch = (UINT64_C(9) << 24) | 1 }, h2;
	uint8_t pt[64], blob[64 + V2_XATTR_OVERHEAD], back[64], aad[32];
	int n, b;

	memset(h.object_id, 0x3c, 16);
	n = xattr2_list_encode(&a, 1, pt, sizeof(pt));
	cr_assert_eq(n, 2 + 1 + 9 + 4 + 10);
	b = xattr2_seal(key, &h, pt, (size_t)n, blob, sizeof(blob));
	cr_assert_eq(b, n + 60);
	/* raw GCM with the AAD built by hand: bytes 0..32 of the blob */
	memcpy(aad, "CFRX\x02\0\0\0", 8);
	memset(aad + 8, 0x3c, 16);
	memcpy(aad + 24, "\0\0\0\0\x09\0\0\x01", 8);
	cr_assert_eq(memcmp(blob, aad, 32), 0);
	cr_assert_eq(gcm_decrypt_raw(key, 32, blob + 32, 12, aad, 32, blob + 44,
				     (size_t)n, blob + 44 + n, 16, back), 0);
	cr_assert_eq(memcmp(back, pt, (size_t)n), 0);
	cr_assert_eq(xattr2_open(key, blob, (size_t)b, &h2, back, sizeof(back)), n);
	cr_assert_eq(memcmp(&h, &h2, sizeof(h)), 0);
	/* a fresh nonce each time */
	cr_assert_eq(xattr2_seal(key, &h, pt, (size_t)n, back, sizeof(back)),
		     -ENOSPC);
	{
		uint8_t blob2[sizeof(blob)];

		cr_assert_eq(xattr2_seal(key, &h, pt, (size_t)n, blob2,
					 sizeof(blob2)), b);
		cr_assert_neq(memcmp(blob + 32, blob2 + 32, 12), 0);
	}
	/* a malformed plaintext is not sealed, a bad epoch neither */
	pt[1] = 2;
	cr_assert_eq(xattr2_seal(key, &h, pt, (size_t)n, blob, sizeof(blob)),
		     -EINVAL);
	pt[1] = 1;
	h.epoch = 0;
	cr_assert_eq(xattr2_seal(key, &h, pt, (size_t)n, blob, sizeof(blob)),
		     -EINVAL);
}

Test(xattr2, authenticated_but_malformed_plaintext)
{
	/* a sealed plaintext that is not a list (sealed here by raw GCM) */
	uint8_t blob[V2_XATTR_OVERHEAD + 3], pt[3] = { 0, 1, 0 }, out[3];
	struct xattr2_hdr h = { .epoch = UINT64_C(1) << 24 };

	cr_assert_eq(xattr2_aad(&h, blob), 0);
	memset(blob + 32, 7, 12);
	cr_assert_eq(gcm_encrypt_raw(key, 32, blob + 32, 12, blob, 32, pt, 3,
				     blob + 44, blob + 47, 16), 0);
	cr_assert_eq(xattr2_open(key, blob, sizeof(blob), &h, out, 3), -EINVAL);
	cr_assert(all_zero(out, 3));
	cr_assert(all_zero(&h, sizeof(h)));
}

Test(xattr2, count_zero_is_valid)
{
	uint8_t pt[2] = { 1, 1 }, blob[62], out[2];
	struct xattr2_hdr h = { .epoch = UINT64_C(3) << 24 };
	struct xattr2_iter it;
	struct xattr2_attr a;

	cr_assert_eq(xattr2_list_encode(NULL, 0, pt, sizeof(pt)), 2);
	cr_assert_eq(pt[0] | pt[1], 0);
	cr_assert_eq(xattr2_list_parse(pt, 2), 0);
	cr_assert_eq(xattr2_seal(key, &h, pt, 2, blob, sizeof(blob)), 62);
	cr_assert_eq(xattr2_open(key, blob, 62, &h, out, 2), 2);
	cr_assert_eq(xattr2_iter_init(&it, pt, 2), 0);
	cr_assert_eq(xattr2_iter_next(&it, &a), 0);
	cr_assert_eq(xattr2_list_find(pt, 2, (const uint8_t *)"a", 1, &a), -ENODATA);
	cr_assert_eq(xattr2_list_parse(pt, 0), -EINVAL);
	cr_assert_eq(xattr2_list_parse(pt, 1), -EINVAL);
}

/* Plaintext by hand: count, then (name_len, name, value_len, value)... */
static size_t hand(uint8_t *b, unsigned count, const char *const *names,
		   const size_t *vlens, size_t n)
{
	size_t o = 2;

	b[0] = (uint8_t)(count >> 8);
	b[1] = (uint8_t)count;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);

		b[o++] = (uint8_t)nl;
		memcpy(b + o, names[i], nl);
		o += nl;
		b[o++] = (uint8_t)(vlens[i] >> 24);
		b[o++] = (uint8_t)(vlens[i] >> 16);
		b[o++] = (uint8_t)(vlens[i] >> 8);
		b[o++] = (uint8_t)vlens[i];
		memset(b + o, 'v', vlens[i]);
		o += vlens[i];
	}
	return o;
}

Test(xattr2, codec_by_hand_and_order)
{
	const char *const names[] = { "a", "ab", "b" };
	const size_t vl[] = { 0, 3, 1 };
	const char *const bad_order[][2] = { { "b", "a" }, { "ab", "a" },
					     { "a", "a" } };
	const size_t vl2[] = { 0, 0 };
	uint8_t b[64], enc[64];
	struct xattr2_attr a[3], f;
	struct xattr2_iter it;
	size_t n = hand(b, 3, names, vl, 3);
	uint8_t v[3] = { 'v', 'v', 'v' };

	for (int i = 0; i < 3; i++)
		a[i] = (struct xattr2_attr){ (const uint8_t *)names[i],
					     strlen(names[i]), v, vl[i] };
	cr_assert_eq(xattr2_list_encode(a, 3, enc, sizeof(enc)), (int)n);
	cr_assert_eq(memcmp(enc, b, n), 0);
	cr_assert_eq(xattr2_list_parse(b, n), 3);
	cr_assert_eq(xattr2_iter_init(&it, b, n), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(xattr2_iter_next(&it, &f), 1);
		cr_assert_eq(f.name_len, strlen(names[i]));
		cr_assert_eq(memcmp(f.name, names[i], f.name_len), 0);
		cr_assert_eq(f.value_len, vl[i]);
	}
	cr_assert_eq(xattr2_iter_next(&it, &f), 0);
	cr_assert_eq(xattr2_list_find(b, n, (const uint8_t *)"ab", 2, &f), 0);
	cr_assert_eq(f.value_len, 3);
	cr_assert_eq(memcmp(f.value, "vvv", 3), 0);
	cr_assert_eq(xattr2_list_find(b, n, (const uint8_t *)"c", 1, &f), -ENODATA);
	/* trailing byte, short, count too high or too low */
	b[n] = 0;
	cr_assert_eq(xattr2_list_parse(b, n + 1), -EINVAL);
	cr_assert_eq(xattr2_list_find(b, n + 1, (const uint8_t *)"a", 1, &f), -EINVAL);
	cr_assert_eq(xattr2_iter_init(&it, b, n + 1), -EINVAL);
	cr_assert_eq(xattr2_iter_next(&it, &f), 0);
	for (size_t len = 0; len < n; len++)
		cr_assert_eq(xattr2_list_parse(b, len), -EINVAL);
	b[1] = 4;
	cr_assert_eq(xattr2_list_parse(b, n), -EINVAL);
	b[1] = 2;
	cr_assert_eq(xattr2_list_parse(b, n), -EINVAL);
	for (size_t i = 0; i < 3; i++) {
		const char *const *pair = bad_order[i];

		n = hand(b, 2, pair, vl2, 2);
		cr_assert_eq(xattr2_list_parse(b, n), -EINVAL);
		a[0] = (struct xattr2_attr){ (const uint8_t *)pair[0], strlen(pair[0]), NULL, 0 };
		a[1] = (struct xattr2_attr){ (const uint8_t *)pair[1], strlen(pair[1]), NULL, 0 };
		cr_assert_eq(xattr2_list_encode(a, 2, enc, sizeof(enc)), -EINVAL);
	}
	/* byte order is unsigned: 0x7f before 0x80 */
	{
		const char *const hi[] = { "\x7f", "\x80" };

		n = hand(b, 2, hi, vl2, 2);
		cr_assert_eq(xattr2_list_parse(b, n), 2);
	}
}

Test(xattr2, name_and_value_bounds)
{
	static uint8_t b[2 + 5 + 251 + 65537 + 8];
	static uint8_t name[251], val[65537];
	struct xattr2_attr a = { name, 0, val, 0 };
	uint8_t nul[2] = { 'a', 0 };

	memset(name, 'n', sizeof(name));
	memset(val, 'x', sizeof(val));
	/* name_len 0 and 251 refused, 1 and 250 accepted; by hand too */
	for (size_t nl = 0; nl <= 251; nl += (nl == 1 ? 249 : 1)) {
		int want = nl >= 1 && nl <= 250;

		a.name_len = nl;
		cr_assert_eq(xattr2_list_encode(&a, 1, b, sizeof(b)) > 0, want);
		b[0] = 0; b[1] = 1; b[2] = (uint8_t)nl;
		memset(b + 3, 'n', nl);
		memset(b + 3 + nl, 0, 4);
		cr_assert_eq(xattr2_list_parse(b, 3 + nl + 4) == 1, want, "%zu", nl);
		if (nl == 1)
			nl = 1;
	}
	a.name_len = 2;
	a.name = nul;
	cr_assert_eq(xattr2_list_encode(&a, 1, b, sizeof(b)), -EINVAL);
	b[0] = 0; b[1] = 1; b[2] = 2; b[3] = 'a'; b[4] = 0;
	memset(b + 5, 0, 4);
	cr_assert_eq(xattr2_list_parse(b, 9), -EINVAL);
	/* value_len 65536 accepted, 65537 refused */
	a.name = name;
	a.name_len = 1;
	a.value_len = 65536;
	cr_assert_eq(xattr2_list_encode(&a, 1, b, sizeof(b)), 2 + 5 + 1 + 65536);
	cr_assert_eq(xattr2_list_parse(b, 2 + 5 + 1 + 65536), 1);
	a.value_len = 65537;
	cr_assert_eq(xattr2_list_encode(&a, 1, b, sizeof(b)), -EINVAL);
	b[4] = 0; b[5] = 1; b[6] = 0; b[7] = 1;      /* 65537 by hand */
	cr_assert_eq(xattr2_list_parse(b, 2 + 5 + 1 + 65537), -EINVAL);
}

Test(xattr2, plaintext_limit)
{
	/* 15 values of 64 KiB with 1-byte names (15 * 65542 + 2 bytes), and a
	 * 16th that brings the total to exactly 1 MiB, then one byte over. */
	static uint8_t val[65536], out[V2_XATTR_PLAIN_MAX + 16];
	const size_t base = 15 * 65542 + 2;
	uint8_t names[16];
	struct xattr2_attr a[16];
	int n;

	for (int i = 0; i < 16; i++) {
		names[i] = (uint8_t)('A' + i);
		a[i] = (struct xattr2_attr){ &names[i], 1, val, sizeof(val) };
	}
	a[15].value_len = V2_XATTR_PLAIN_MAX - base - 6;
	n = xattr2_list_encode(a, 16, out, sizeof(out));
	cr_assert_eq(n, (int)V2_XATTR_PLAIN_MAX);
	cr_assert_eq(xattr2_list_parse(out, (size_t)n), 16);
	cr_assert_eq(xattr2_list_encode(a, 16, out, (size_t)n - 1), -ENOSPC);
	a[15].value_len++;
	cr_assert_eq(xattr2_list_encode(a, 16, out, sizeof(out)), -ENOSPC);
	/* the encoded list with its last value one byte longer, by hand: well
	 * formed but over 1 MiB */
	a[15].value_len--;
	cr_assert_eq(xattr2_list_encode(a, 16, out, sizeof(out)), n);
	out[base + 4] = (uint8_t)((a[15].value_len + 1) >> 8);
	out[base + 5] = (uint8_t)(a[15].value_len + 1);
	out[V2_XATTR_PLAIN_MAX] = 'x';
	cr_assert_eq(xattr2_list_parse(out, V2_XATTR_PLAIN_MAX + 1), -EINVAL);
}
