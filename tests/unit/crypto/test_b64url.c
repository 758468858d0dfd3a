/*
 * Unit tests for b64url.c: RFC 4648 §10 test vectors in the URL-safe
 * alphabet without padding, the '-' and '_' characters, and rejection of
 * bad characters, impossible lengths, non-canonical trailing bits and short
 * output buffers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/crypto.h"

static const struct {
	const char *raw, *enc;
} rfc4648[] = {
	{ "", "" },           { "f", "Zg" },          { "fo", "Zm8" },
	{ "foo", "Zm9v" },    { "foob", "Zm9vYg" },   { "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
};

Test(b64url, rfc4648_vectors)
{
	char enc[16];
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t n = strlen(rfc4648[i].raw), e = strlen(rfc4648[i].enc);

		cr_expect_eq(b64url_encode((const uint8_t *)rfc4648[i].raw, n,
					   enc, sizeof(enc)), (int)e);
		cr_expect_str_eq(enc, rfc4648[i].enc);
		cr_expect_eq(b64url_decode(rfc4648[i].enc, e, dec, sizeof(dec)),
			     (int)n);
		cr_expect(memcmp(dec, rfc4648[i].raw, n) == 0);
	}
}

Test(b64url, url_safe_alphabet)
{
	static const uint8_t raw[] = { 0xfb, 0xff, 0xbf, 0xfe };
	uint8_t dec[4];
	char enc[8];

	cr_expect_eq(b64url_encode(raw, 4, enc, sizeof(enc)), 6);
	cr_expect_str_eq(enc, "-_-__g");
	cr_expect_eq(b64url_decode("-_-__g", 6, dec, sizeof(dec)), 4);
	cr_expect(memcmp(dec, raw, 4) == 0);
}

Test(b64url, round_trip_all_lengths)
{
	uint8_t raw[100], dec[100];
	char enc[140];
	int n;

	cr_assert_eq(random_bytes(raw, sizeof(raw)), 0);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		n = b64url_encode(raw, len, enc, sizeof(enc));
		cr_assert_eq((size_t)n, (len * 4 + 2) / 3, "len %zu", len);
		cr_assert_eq(strlen(enc), (size_t)n);
		cr_assert_eq(b64url_decode(enc, (size_t)n, dec, sizeof(dec)),
			     (int)len);
		cr_expect(memcmp(dec, raw, len) == 0, "len %zu", len);
	}
}

Test(b64url, rejects_bad_characters)
{
	static const char *const bad[] = {
		"Zm9v+mFy", "Zm9v/mFy", "Zm9vYg==", "Zm9vYg=", "Zm9 vYmFy",
		"Zm9v\nYmF", "Zm9v.mFy", "Zm\xc3\xa9v",
	};
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(b64url_decode(bad[i], strlen(bad[i]), dec,
					   sizeof(dec)), -EINVAL, "'%s'", bad[i]);
	/* An embedded NUL is a bad character too. */
	cr_expect_eq(b64url_decode("Zm\0v", 4, dec, sizeof(dec)), -EINVAL);
}

Test(b64url, rejects_bad_lengths_and_noncanonical_bits)
{
	uint8_t dec[16];

	cr_expect_eq(b64url_decode("Z", 1, dec, sizeof(dec)), -EINVAL);
	cr_expect_eq(b64url_decode("Zm9vY", 5, dec, sizeof(dec)), -EINVAL);
	/* "Zg" is 'f'; "Zh".."Zv" carry non-zero unused bits. */
	cr_expect_eq(b64url_decode("Zh", 2, dec, sizeof(dec)), -EINVAL);
	cr_expect_eq(b64url_decode("Zv", 2, dec, sizeof(dec)), -EINVAL);
	cr_expect_eq(b64url_decode("Zw", 2, dec, sizeof(dec)), 1);
	/* "Zm8" is "fo"; "Zm9" sets the last unused bit. */
	cr_expect_eq(b64url_decode("Zm9", 3, dec, sizeof(dec)), -EINVAL);
	cr_expect_eq(b64url_decode("Zm-", 3, dec, sizeof(dec)), -EINVAL);
}

Test(b64url, short_buffers)
{
	uint8_t dec[6];
	char enc[9];

	cr_expect_eq(b64url_encode((const uint8_t *)"foobar", 6, enc, 8),
		     -ENAMETOOLONG);
	cr_expect_eq(b64url_encode((const uint8_t *)"foobar", 6, enc, 9), 8);
	cr_expect_eq(b64url_encode((const uint8_t *)"", 0, enc, 0),
		     -ENAMETOOLONG);
	cr_expect_eq(b64url_decode("Zm9vYmFy", 8, dec, 5), -ENAMETOOLONG);
	cr_expect_eq(b64url_decode("Zm9vYmFy", 8, dec, 6), 6);
}
