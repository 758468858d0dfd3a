/*
 * Unit tests for shamir.c: every K-subset (and every larger subset) of a
 * 7-of-5 split rebuilds the secret, in any order; fewer than K shares,
 * duplicates, shares of another split, corrupted shares and forged shares
 * (checksum recomputed) are rejected without writing any secret; limits
 * (lengths 1, 32, 1024; N = K = 255; bad K, N, lengths).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/shamir.h"

#define N 7
#define K 5

static uint8_t secret[SHAMIR_SECRET_MAX];
static struct shamir_share sh[N];

static void fill_secret(void)
{
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 37 + 11);
}

static void split7of5(void)
{
	fill_secret();
	cr_assert_eq(shamir_split(secret, 32, N, K, sh), 0);
}

/* Combine the shares named by the bits of mask, in order. */
static int combine_mask(unsigned mask, uint8_t *out, size_t cap, size_t *len,
			char *err, size_t errlen)
{
	struct shamir_share sub[N];
	unsigned m = 0;

	for (unsigned i = 0; i < N; i++)
		if (mask & (1u << i))
			sub[m++] = sh[i];
	return shamir_combine(sub, m, out, cap, len, err, errlen);
}

Test(split, every_subset_of_k_or_more_rebuilds, .init = split7of5)
{
	uint8_t out[64];
	size_t len;
	char err[128];
	unsigned counts[N + 1] = { 0 };

	for (unsigned mask = 1; mask < (1u << N); mask++) {
		unsigned m = (unsigned)__builtin_popcount(mask);

		if (m < K)
			continue;
		memset(out, 0, sizeof(out));
		cr_assert_eq(combine_mask(mask, out, sizeof(out), &len, err,
					  sizeof(err)), 0, "mask %#x: %s", mask, err);
		cr_assert_eq(len, 32);
		cr_assert(memcmp(out, secret, 32) == 0, "mask %#x", mask);
		counts[m]++;
	}
	cr_expect_eq(counts[5], 21);
	cr_expect_eq(counts[6], 7);
	cr_expect_eq(counts[7], 1);
}

Test(split, order_does_not_matter, .init = split7of5)
{
	struct shamir_share rev[N];
	uint8_t out[32];
	size_t len;

	for (unsigned i = 0; i < N; i++)
		rev[i] = sh[N - 1 - i];
	cr_assert_eq(shamir_combine(rev, K, out, sizeof(out), &len, NULL, 0), 0);
	cr_expect(memcmp(out, secret, 32) == 0);
}

Test(split, fewer_than_k_rejected_without_output, .init = split7of5)
{
	uint8_t out[64];
	size_t len;
	char err[128];
	unsigned tried = 0;

	for (unsigned mask = 1; mask < (1u << N); mask++) {
		unsigned m = (unsigned)__builtin_popcount(mask);
		char want[64];

		if (m >= K)
			continue;
		memset(out, 0xa5, sizeof(out));
		len = 99;
		cr_assert_eq(combine_mask(mask, out, sizeof(out), &len, err,
					  sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "need 5 shares, got %u", m);
		cr_assert_str_eq(err, want);
		cr_assert_eq(len, 0);
		for (size_t i = 0; i < sizeof(out); i++)
			cr_assert_eq(out[i], 0xa5);
		tried += m == 4;
	}
	cr_expect_eq(tried, 35);
}

Test(split, no_shares_rejected)
{
	uint8_t out[4];
	size_t len;
	char err[64];

	cr_expect_eq(shamir_combine(NULL, 0, out, 4, &len, err, sizeof(err)),
		     -EINVAL);
	cr_expect_str_eq(err, "no shares given");
}

Test(split, duplicates_rejected, .init = split7of5)
{
	struct shamir_share set[K + 1];
	uint8_t out[32];
	size_t len;
	char err[128];

	for (unsigned i = 0; i < K; i++)
		set[i] = sh[i];
	set[K] = sh[2];
	cr_expect_eq(shamir_combine(set, K + 1, out, sizeof(out), &len, err,
				    sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "duplicate share index 3") != NULL, "%s", err);
	/* K shares of which two are the same are not K shares */
	set[4] = sh[0];
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
				    sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "duplicate") != NULL, "%s", err);
	cr_expect_eq(len, 0);
}

Test(split, share_from_another_split_rejected, .init = split7of5)
{
	struct shamir_share other[N], set[K];
	uint8_t out[32];
	size_t len;
	char err[128];

	cr_assert_eq(shamir_split(secret, 32, N, K, other), 0);
	cr_expect(memcmp(other[0].set_id, sh[0].set_id, SHAMIR_SET_ID_LEN) != 0);
	cr_expect(memcmp(other[0].y, sh[0].y, 48) != 0);
	for (unsigned i = 0; i < K; i++)
		set[i] = sh[i];
	set[3] = other[3];
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
				    sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "shares from different splits") != NULL, "%s", err);
	/* another threshold or another length is another split too */
	cr_assert_eq(shamir_split(secret, 32, N, K - 1, other), 0);
	set[3] = other[3];
	memcpy(set[3].set_id, sh[0].set_id, SHAMIR_SET_ID_LEN);
	cr_assert_eq(shamir_share_checksum(&set[3], set[3].sum), 0);
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
				    sizeof(err)), -EINVAL);
	cr_assert_eq(shamir_split(secret, 31, N, K, other), 0);
	set[3] = other[3];
	memcpy(set[3].set_id, sh[0].set_id, SHAMIR_SET_ID_LEN);
	cr_assert_eq(shamir_share_checksum(&set[3], set[3].sum), 0);
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
				    sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "shares from different splits") != NULL, "%s", err);
}

Test(split, mixed_sets_with_forged_id_caught_by_secret_check, .init = split7of5)
{
	struct shamir_share other[N], set[K];
	uint8_t out[32];
	size_t len;
	char err[128];

	/* Same secret, same K, another split: its share forged to claim our
	 * set id (checksum recomputed) must not yield any secret. */
	cr_assert_eq(shamir_split(secret, 32, N, K, other), 0);
	for (unsigned i = 0; i < K; i++)
		set[i] = sh[i];
	set[1] = other[1];
	memcpy(set[1].set_id, sh[0].set_id, SHAMIR_SET_ID_LEN);
	cr_assert_eq(shamir_share_checksum(&set[1], set[1].sum), 0);
	memset(out, 0xa5, sizeof(out));
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
				    sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "wrong or tampered share set") != NULL, "%s", err);
	cr_expect_eq(len, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0xa5);
}

Test(split, forged_share_with_recomputed_checksum_caught, .init = split7of5)
{
	struct shamir_share set[K];
	uint8_t out[32];
	size_t len;
	char err[128];

	/* an attacker edits y bytes (secret, then check part) or the index */
	for (unsigned pos = 0; pos < 48; pos += 7) {
		for (unsigned i = 0; i < K; i++)
			set[i] = sh[i];
		set[2].y[pos] ^= 0x40;
		cr_assert_eq(shamir_share_checksum(&set[2], set[2].sum), 0);
		cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
					    sizeof(err)), -EBADMSG, "pos %u", pos);
		cr_expect(strstr(err, "wrong or tampered") != NULL, "%s", err);
	}
	for (unsigned i = 0; i < K; i++)
		set[i] = sh[i];
	set[4].index = 9;
	cr_assert_eq(shamir_share_checksum(&set[4], set[4].sum), 0);
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
				    sizeof(err)), -EBADMSG);
}

Test(split, corrupted_share_named, .init = split7of5)
{
	struct shamir_share set[K];
	uint8_t out[32];
	size_t len;
	char err[128];
	int rc;

	/* any bit of any field of share #4 (index 4) */
	for (unsigned i = 0; i < K; i++)
		set[i] = sh[i];
	for (size_t b = 0; b < 48; b++) {
		set[3].y[b] ^= 1;
		cr_assert_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
					    sizeof(err)), -EBADMSG);
		cr_assert_str_eq(err, "share #4 (index 4) fails its checksum: "
				 "it is corrupted");
		set[3].y[b] ^= 1;
	}
	for (size_t b = 0; b < SHAMIR_SET_ID_LEN; b++) {
		set[3].set_id[b] ^= 0x80;
		cr_assert_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
					    sizeof(err)), -EBADMSG);
		set[3].set_id[b] ^= 0x80;
	}
	for (size_t b = 0; b < SHAMIR_SUM_LEN; b++) {
		set[3].sum[b] ^= 0x02;
		cr_assert_eq(shamir_combine(set, K, out, sizeof(out), &len, err,
					    sizeof(err)), -EBADMSG);
		set[3].sum[b] ^= 0x02;
	}
	for (unsigned bit = 0; bit < 8; bit++) {
		set[3].index ^= (uint8_t)(1u << bit);
		rc = shamir_combine(set, K, out, sizeof(out), &len, err, sizeof(err));
		if (set[3].index == 0)          /* 4 ^ 4: not even a share */
			cr_assert(rc == -EINVAL && strstr(err, "malformed"),
				  "bit %u: %d %s", bit, rc, err);
		else
			cr_assert(rc == -EBADMSG, "bit %u: %d %s", bit, rc, err);
		set[3].index ^= (uint8_t)(1u << bit);
		set[3].threshold ^= (uint8_t)(1u << bit);
		rc = shamir_combine(set, K, out, sizeof(out), &len, err, sizeof(err));
		cr_assert(rc == -EBADMSG || rc == -EINVAL, "bit %u: %d", bit, rc);
		set[3].threshold ^= (uint8_t)(1u << bit);
	}
	cr_expect_eq(shamir_combine(set, K, out, sizeof(out), &len, NULL, 0), 0);
}

Test(split, secret_lengths_1_32_1024)
{
	static const size_t lens[] = { 1, 2, 31, 32, 33, 1023, 1024 };
	static const unsigned pick[K] = { 6, 2, 0, 4, 1 };
	static struct shamir_share s[N], set[K];
	static uint8_t out[SHAMIR_SECRET_MAX];
	size_t len;

	fill_secret();
	for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
		cr_assert_eq(shamir_split(secret, lens[t], N, K, s), 0);
		for (unsigned i = 0; i < K; i++)
			set[i] = s[pick[i]];
		cr_assert_eq(shamir_combine(set, K, out, sizeof(out), &len,
					    NULL, 0), 0, "len %zu", lens[t]);
		cr_assert_eq(len, lens[t]);
		cr_assert(memcmp(out, secret, len) == 0);
		/* the output buffer must hold the secret */
		cr_expect_eq(shamir_combine(set, K, out, lens[t] - 1, &len,
					    NULL, 0), -ERANGE);
	}
}

Test(split, n255_k255)
{
	struct shamir_share *s = calloc(255, sizeof(*s));
	uint8_t out[32];
	size_t len;
	char err[128];

	cr_assert_not_null(s);
	fill_secret();
	cr_assert_eq(shamir_split(secret, 32, 255, 255, s), 0);
	cr_expect_eq(s[254].index, 255);
	cr_assert_eq(shamir_combine(s, 255, out, sizeof(out), &len, err,
				    sizeof(err)), 0, "%s", err);
	cr_expect(memcmp(out, secret, 32) == 0);
	cr_expect_eq(shamir_combine(s + 1, 254, out, sizeof(out), &len, err,
				    sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "need 255 shares, got 254");
	free(s);
}

Test(split, k2_n2_and_k_equals_n)
{
	struct shamir_share s[3];
	uint8_t out[4];
	size_t len;

	fill_secret();
	cr_assert_eq(shamir_split(secret, 4, 2, 2, s), 0);
	cr_assert_eq(shamir_combine(s, 2, out, sizeof(out), &len, NULL, 0), 0);
	cr_expect(memcmp(out, secret, 4) == 0);
	cr_assert_eq(shamir_split(secret, 4, 3, 3, s), 0);
	cr_expect_eq(shamir_combine(s, 2, out, sizeof(out), &len, NULL, 0), -EINVAL);
	cr_assert_eq(shamir_combine(s, 3, out, sizeof(out), &len, NULL, 0), 0);
}

Test(split, bad_parameters_rejected)
{
	struct shamir_share *s = calloc(256, sizeof(*s));

	cr_assert_not_null(s);
	fill_secret();
	cr_expect_eq(shamir_split(secret, 32, 7, 1, s), -EINVAL);   /* K = 1 */
	cr_expect_eq(shamir_split(secret, 32, 7, 0, s), -EINVAL);
	cr_expect_eq(shamir_split(secret, 32, 4, 5, s), -EINVAL);   /* K > N */
	cr_expect_eq(shamir_split(secret, 32, 256, 5, s), -EINVAL); /* N > 255 */
	cr_expect_eq(shamir_split(secret, 0, 7, 5, s), -EINVAL);
	cr_expect_eq(shamir_split(secret, SHAMIR_SECRET_MAX + 1, 7, 5, s), -EINVAL);
	cr_expect_eq(shamir_split(NULL, 32, 7, 5, s), -EINVAL);
	cr_expect_eq(shamir_split(secret, 32, 7, 5, NULL), -EINVAL);
	cr_expect_eq(shamir_split_with_rng(secret, 32, 7, 5, s, NULL, NULL),
		     -EINVAL);
	free(s);
}

Test(split, shares_look_random, .init = split7of5)
{
	struct shamir_share again[N];

	/* two splits of one secret share nothing but the layout */
	cr_assert_eq(shamir_split(secret, 32, N, K, again), 0);
	for (unsigned i = 0; i < N; i++) {
		cr_expect(memcmp(again[i].y, sh[i].y, 48) != 0);
		cr_expect(memcmp(sh[i].y, secret, 32) != 0);
	}
}

static int failing_rng(void *ctx, uint8_t *buf, size_t n)
{
	unsigned *calls = ctx;

	memset(buf, 0x11, n);
	return ++*calls > 3 ? -EIO : 0;
}

Test(split, rng_failure_propagates_and_wipes)
{
	static const struct shamir_share zero;
	struct shamir_share s[3];
	unsigned calls = 0;

	fill_secret();
	cr_expect_eq(shamir_split_with_rng(secret, 8, 3, 2, s, failing_rng,
					   &calls), -EIO);
	for (unsigned i = 0; i < 3; i++)
		cr_expect(memcmp(&s[i], &zero, sizeof(zero)) == 0);
}
