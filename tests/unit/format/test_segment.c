/* Unit tests for src/format/segment.c: sizes and offsets, checked against
 * an independent model that lays the segments out one by one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "coffre/format.h"

#define OVH 28u

/* Ciphertext size by laying out segments: header, then each segment's
 * plaintext plus nonce and tag; an empty file stores one empty segment. */
static uint64_t model_cipher_size(uint32_t s, uint64_t p)
{
	uint64_t size = COFFRE_FILE_HEADER_LEN;
	uint64_t left = p;

	do {
		uint64_t n = left < s ? left : s;

		size += n + OVH;
		left -= n;
	} while (left > 0);
	return size;
}

Test(segment, seg_size_valid_is_power_of_two_in_range)
{
	int n_valid = 0;

	for (uint32_t s = 0; s <= 2 * COFFRE_SEG_MAX; s++) {
		bool want = (s == 4096 || s == 8192 || s == 16384 ||
			     s == 32768 || s == 65536);

		cr_assert_eq(seg_size_valid(s), want, "size %u", s);
		n_valid += want;
	}
	cr_assert_eq(n_valid, 5);
	cr_assert_not(seg_size_valid(UINT32_MAX));
	cr_assert_not(seg_size_valid(1u << 31));
	cr_assert(seg_size_valid(COFFRE_SEG_DEFAULT));
}

Test(segment, seg_count_and_offsets)
{
	cr_assert_eq(seg_count(4096, 0), 1);
	cr_assert_eq(seg_count(4096, 1), 1);
	cr_assert_eq(seg_count(4096, 4096), 1);
	cr_assert_eq(seg_count(4096, 4097), 2);
	cr_assert_eq(seg_count(4096, 3 * 4096), 3);
	cr_assert_eq(seg_count(65536, UINT64_MAX), (UINT64_MAX >> 16) + 1);
	cr_assert_eq(seg_offset(4096, 0), 48);
	cr_assert_eq(seg_offset(4096, 1), 48 + 4096 + 28);
	cr_assert_eq(seg_offset(16384, 5), 48 + 5 * (16384 + 28));
	cr_assert_eq(seg_offset(4096, UINT64_MAX), UINT64_MAX);
}

Test(segment, exhaustive_round_trip_4k)
{
	const uint32_t s = 4096;

	for (uint64_t p = 0; p <= 3 * s + 5; p++) {
		uint64_t c = cipher_size(s, p), back = ~0ull;

		cr_assert_eq(c, model_cipher_size(s, p), "p=%llu",
			     (unsigned long long)p);
		cr_assert_eq(plain_size(s, c, &back), 0);
		cr_assert_eq(back, p, "p=%llu", (unsigned long long)p);
	}
}

/* Every ciphertext size in a range maps back exactly or is rejected, and
 * the accepted ones are exactly the images of plaintext sizes. */
static void check_cipher_range(uint32_t s, uint64_t max_plain)
{
	uint64_t top = model_cipher_size(s, max_plain);
	uint8_t *is_image = calloc(top + 1, 1);
	uint64_t accepted = 0;

	cr_assert_not_null(is_image);
	for (uint64_t p = 0; p <= max_plain; p++)
		is_image[model_cipher_size(s, p)] = 1;
	for (uint64_t c = 0; c <= top; c++) {
		uint64_t p = 0;
		int r = plain_size(s, c, &p);

		if (is_image[c]) {
			cr_assert_eq(r, 0, "c=%llu", (unsigned long long)c);
			cr_assert_eq(cipher_size(s, p), c);
			accepted++;
		} else {
			cr_assert_eq(r, -EBADMSG, "c=%llu",
				     (unsigned long long)c);
		}
	}
	cr_assert_eq(accepted, max_plain + 1);
	free(is_image);
}

Test(segment, every_cipher_size_maps_back_or_is_rejected)
{
	check_cipher_range(4096, 3 * 4096 + 5);
	for (uint32_t s = COFFRE_SEG_MIN; s <= COFFRE_SEG_MAX; s <<= 1)
		check_cipher_range(s, 2 * (uint64_t)s + 100);
}

Test(segment, named_rejections)
{
	const uint32_t s = 4096;
	uint64_t p = 12345;

	/* shorter than header + one sealed segment */
	cr_assert_eq(plain_size(s, 0, &p), -EBADMSG);
	cr_assert_eq(p, 0);
	cr_assert_eq(plain_size(s, 48, &p), -EBADMSG);
	cr_assert_eq(plain_size(s, 48 + 27, &p), -EBADMSG);
	/* exactly header + empty segment: the empty file */
	cr_assert_eq(plain_size(s, 48 + 28, &p), 0);
	cr_assert_eq(p, 0);
	/* a torn trailing partial segment */
	cr_assert_eq(plain_size(s, 48 + s + 28 + 27, &p), -EBADMSG);
	cr_assert_eq(plain_size(s, 48 + s + 28 + 1, &p), -EBADMSG);
	/* an empty last segment after a full one */
	cr_assert_eq(plain_size(s, 48 + s + 28 + 28, &p), -EBADMSG);
	/* the smallest non-empty last segment after a full one */
	cr_assert_eq(plain_size(s, 48 + s + 28 + 29, &p), 0);
	cr_assert_eq(p, s + 1);
	/* a bad segment size is a caller error, not corruption */
	cr_assert_eq(plain_size(1000, 48 + 28, &p), -EINVAL);
}

Test(segment, limits_near_int64_max)
{
	for (uint32_t s = COFFRE_SEG_MIN; s <= COFFRE_SEG_MAX; s <<= 1) {
		uint64_t lo = 0, hi = (uint64_t)INT64_MAX, p = 0;

		/* largest plaintext whose ciphertext size fits an off_t */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo + 1) / 2;

			if (cipher_size(s, mid) != UINT64_MAX)
				lo = mid;
			else
				hi = mid - 1;
		}
		cr_assert_leq(cipher_size(s, lo), (uint64_t)INT64_MAX);
		cr_assert_gt(cipher_size(s, lo), (uint64_t)INT64_MAX - s - 2 * OVH);
		cr_assert_eq(cipher_size(s, lo + 1), UINT64_MAX);
		cr_assert_eq(plain_size(s, cipher_size(s, lo), &p), 0);
		cr_assert_eq(p, lo);
		cr_assert_eq(cipher_size(s, UINT64_MAX), UINT64_MAX);
		cr_assert_eq(plain_size(s, (uint64_t)INT64_MAX + 1, &p), -EBADMSG);
		cr_assert_eq(plain_size(s, UINT64_MAX, &p), -EBADMSG);
		/* every ciphertext size near the top maps back or is refused */
		for (uint64_t c = (uint64_t)INT64_MAX - 3 * (s + OVH);
		     c <= (uint64_t)INT64_MAX; c++) {
			if (plain_size(s, c, &p) == 0)
				cr_assert_eq(cipher_size(s, p), c);
		}
	}
}
