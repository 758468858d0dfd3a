/*
 * Unit tests for base64.c (RFC 4648 §4, with padding): the §10 test
 * vectors, the whole alphabet, round trips of all lengths, and rejection
 * of non-canonical or malformed input and of short buffers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <openssl/rand.h>

#include "shamir/shamir_private.h"

static const struct {
	const char *raw, *enc;
} rfc4648[] = {
	{ "", "" },             { "f", "Zg==" },        { "fo", "Zm8=" },
	{ "foo", "Zm9v" },      { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

Test(base64, rfc4648_vectors)
{
	char enc[16];
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = strlen(rfc4648[i].raw), e = strlen(rfc4648[i].enc);

		cr_expect_eq(b64std_encode((const uint8_t *)rfc4648[i].raw, n,
					   enc, sizeof(enc)), (int)e);
		cr_expect_str_eq(enc, rfc4648[i].enc);
		cr_expect_eq(b64std_decode(rfc4648[i].enc, e, dec, sizeof(dec)),
			     (int)n);
		cr_expect(memcmp(dec, rfc4648[i].raw, n) == 0);
	}
}

Test(base64, whole_alphabet)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t raw[48], dec[48];
	char enc[65];

	/* 64 consecutive 6-bit values 0..63 packed into 48 bytes */
	for (unsigned i = 0; i < 16; i++) {
		unsigned v = (4 * i) << 18 | (4 * i + 1) << 12 |
			     (4 * i + 2) << 6 | (4 * i + 3);

		raw[3 * i] = (uint8_t)(v >> 16);
		raw[3 * i + 1] = (uint8_t)(v >> 8);
		raw[3 * i + 2] = (uint8_t)v;
	}
	cr_assert_eq(b64std_encode(raw, 48, enc, sizeof(enc)), 64);
	cr_expect_str_eq(enc, alphabet);
	cr_assert_eq(b64std_decode(alphabet, 64, dec, sizeof(dec)), 48);
	cr_expect(memcmp(dec, raw, 48) == 0);
}

Test(base64, round_trip_all_lengths)
{
	uint8_t raw[200], dec[200];
	char enc[300];
	int n;

	cr_assert_eq(RAND_bytes(raw, sizeof(raw)), 1);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		n = b64std_encode(raw, len, enc, sizeof(enc));
		cr_assert_eq((size_t)n, (len + 2) / 3 * 4, "len %zu", len);
		cr_assert_eq(b64std_decode(enc, (size_t)n, dec, len), (int)len);
		cr_assert(memcmp(dec, raw, len) == 0);
	}
}

Test(base64, rejects_malformed)
{
	static const char *bad[] = {
		"Zg=", "Zg", "Z", "Zm9vY", /* length not a multiple of 4 */
		"Zh==", "Zm9=",            /* unused bits not zero */
		"Zg==Zg==", "Z=g=", "=Zg=", "====", "Z===", "Zm=v",
		"Zm-v", "Zm_v", "Zm9v\n", "Zm 9", "Zm9\xc3", "Zm\0v",
	};
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = i == sizeof(bad) / sizeof(bad[0]) - 1 ? 4 : strlen(bad[i]);

		cr_expect_eq(b64std_decode(bad[i], n, dec, sizeof(dec)), -EINVAL,
			     "accepted \"%s\"", bad[i]);
	}
}

Test(base64, short_buffers)
{
	uint8_t dec[2];
	char enc[9];

	cr_expect_eq(b64std_encode((const uint8_t *)"foobar", 6, enc, 8), -ENOSPC);
	cr_expect_eq(b64std_encode((const uint8_t *)"foobar", 6, enc, 9), 8);
	cr_expect_eq(b64std_decode("Zm9v", 4, dec, sizeof(dec)), -ENOSPC);
	cr_expect_eq(b64std_decode("Zm8=", 4, dec, sizeof(dec)), 2);
}
