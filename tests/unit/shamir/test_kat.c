/*
 * Known-answer tests for shamir.c and share.c.
 *
 * 1. With the deterministic RNG below (a SHA-256 counter-mode stream), a
 *    split must give exactly the share bytes computed by kat.py, an
 *    independent Python model (log/exp-table field arithmetic, its own
 *    encoder and base64); the hex below is its output, pasted.
 * 2. Hand-computed polynomials: with every coefficient 0x53, whose inverse
 *    is 0xca (FIPS-197 §4.4), f(x) = s + 0x53 x gives s ^ 0x01 at x = 0xca,
 *    s ^ 0x53 at x = 1, s ^ 0xa6 at x = 2, s ^ 0xf5 at x = 3; and
 *    f(x) = s + 0x53 x + 0x53 x^2 gives s at x = 1 and s ^ 0x01 ^ 0xca at
 *    x = 0xca.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "coffre/shamir.h"

/* SHA-256("coffre-shamir-kat" || u32be(counter)) blocks, consumed in order. */
struct kat_rng {
	uint8_t block[32];
	size_t used;
	uint32_t ctr;
};

static int kat_rng_fill(void *ctx, uint8_t *buf, size_t n)
{
	struct kat_rng *r = ctx;
	static const char label[] = "coffre-shamir-kat";

	for (size_t i = 0; i < n; i++) {
		if (r->used == sizeof(r->block)) {
			uint8_t in[sizeof(label) - 1 + 4];
			unsigned int len;

			memcpy(in, label, sizeof(label) - 1);
			in[sizeof(label) - 1] = (uint8_t)(r->ctr >> 24);
			in[sizeof(label)] = (uint8_t)(r->ctr >> 16);
			in[sizeof(label) + 1] = (uint8_t)(r->ctr >> 8);
			in[sizeof(label) + 2] = (uint8_t)r->ctr;
			if (EVP_Digest(in, sizeof(in), r->block, &len,
				       EVP_sha256(), NULL) != 1)
				return -EIO;
			r->ctr++;
			r->used = 0;
		}
		buf[i] = r->block[r->used++];
	}
	return 0;
}

static void hex_to_bin(const char *hex, uint8_t *out, size_t *len)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*len = n;
}

static void expect_shares(const struct shamir_share *s, const char *const *hex,
			  unsigned n)
{
	uint8_t want[SHAMIR_SHARE_BIN_MAX], got[SHAMIR_SHARE_BIN_MAX];
	size_t wlen;
	int glen;

	for (unsigned i = 0; i < n; i++) {
		hex_to_bin(hex[i], want, &wlen);
		glen = shamir_share_write(&s[i], got, sizeof(got));
		cr_assert_eq(glen, (int)wlen, "share %u", i + 1);
		cr_expect(memcmp(got, want, wlen) == 0, "share %u differs", i + 1);
	}
}

static const char *const kat_7of5[] = {
	"434652530105010041a93f4405cf916339d38199f8e890f400082b1749b54a992b226682f9554714cba77ba564083672b5fee721ddba8fc742b185155deaf6ea9c65",
	"434652530105020041a93f4405cf916339d38199f8e890f40008422d677578ac3cb3ff5615696276e0ef9c8f8abf0644dca6f0a5122815d6567c3e5b3521e0085dc6",
	"434652530105030041a93f4405cf916339d38199f8e890f40008bad3cac7a589c219e3162a6dd22f456a0be5441ac2a097c5e23ba6d3d429bd28a1b4a7586f208f6f",
	"434652530105040041a93f4405cf916339d38199f8e890f4000870df2f6bb33cbf7f66ab3163c81870ec259056fc0a4dbe68fab180be25841fe568604db3356ff1e7",
	"434652530105050041a93f4405cf916339d38199f8e890f40008b59e21e5e3205c8ba74823b4c617e62330fc4a17cacab15a29182d3878813b9aa55c10a8a6df7f34",
	"434652530105060041a93f4405cf916339d38199f8e890f40008a6c1525dd06771a69fc1953584d9abffc8da1b3cf23a50a0c33f7595d2ea9f9f0a47a99a943fde6c",
	"434652530105070041a93f4405cf916339d38199f8e890f40008d306deb265a24725cea08870dd738f91eb66441f5b7afc367146d579c5ceb87b013c3d3035dbd77a",
};

static const char kat_7of5_text1[] =
	"coffre-share v1\n"
	"Q0ZSUwEFAQBBqT9EBc+RYznTgZn46JD0AAgrF0m1SpkrImaC+VVHFMune6VkCDZy\n"
	"tf7nId26j8dCsYUVXer26pxl\n"
	"end\n";

static const char *const kat_3of2[] = {
	"434652530102010041a93f4405cf916339d38199f8e890f4000173a0c0ca424e16961c0d14cf035f67de8387450bda10b440c13f0eb8993be92e6f",
	"434652530102020041a93f4405cf916339d38199f8e890f40001a39998a37fab558588055563ae85da7a0bfd07f6505a33c01e16f599ef465b80ea",
	"434652530102030041a93f4405cf916339d38199f8e890f400011a8e59849d019d7d0df46a073c3ab1ef739f12b01aa3c748b07942f706ebc7da4c",
};

static const char kat_3of2_text1[] =
	"coffre-share v1\n"
	"Q0ZSUwECAQBBqT9EBc+RYznTgZn46JD0AAFzoMDKQk4WlhwNFM8DX2feg4dFC9oQ\n"
	"tEDBPw64mTvpLm8=\n"
	"end\n";

Test(kat, split_7of5_matches_python_model)
{
	static const uint8_t secret[] = "coffre\0\xff";
	struct kat_rng rng = { .used = 32 };
	struct shamir_share s[7];
	char txt[SHAMIR_SHARE_TEXT_MAX];
	uint8_t out[8];
	size_t len;

	cr_assert_eq(shamir_split_with_rng(secret, 8, 7, 5, s, kat_rng_fill,
					   &rng), 0);
	expect_shares(s, kat_7of5, 7);
	cr_assert_gt(shamir_share_write_text(&s[0], txt, sizeof(txt)), 0);
	cr_expect_str_eq(txt, kat_7of5_text1);
	cr_assert_eq(shamir_combine(s + 2, 5, out, sizeof(out), &len, NULL, 0), 0);
	cr_expect_eq(len, 8);
	cr_expect(memcmp(out, secret, 8) == 0);
}

Test(kat, split_3of2_one_byte_matches_python_model)
{
	static const uint8_t secret[] = { 0xca };
	struct kat_rng rng = { .used = 32 };
	struct shamir_share s[3], parsed;
	char txt[SHAMIR_SHARE_TEXT_MAX];

	cr_assert_eq(shamir_split_with_rng(secret, 1, 3, 2, s, kat_rng_fill,
					   &rng), 0);
	expect_shares(s, kat_3of2, 3);
	cr_assert_gt(shamir_share_write_text(&s[0], txt, sizeof(txt)), 0);
	cr_expect_str_eq(txt, kat_3of2_text1);
	/* and the Python model's text parses back to the same share */
	cr_assert_eq(shamir_share_parse_text(kat_3of2_text1,
					     strlen(kat_3of2_text1), &parsed), 0);
	cr_expect(memcmp(parsed.y, s[0].y, 17) == 0);
}

/* Set id 0xee..., then every coefficient 0x53. */
static int const53_rng(void *ctx, uint8_t *buf, size_t n)
{
	bool *first = ctx;

	memset(buf, *first ? 0xee : 0x53, n);
	*first = false;
	return 0;
}

/* secret || SHA-256("coffre-shamir-check" || secret)[0..16) */
static void with_check(const uint8_t *secret, size_t len, uint8_t *msg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[32];
	unsigned int mdlen;

	cr_assert_not_null(ctx);
	cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	cr_assert_eq(EVP_DigestUpdate(ctx, "coffre-shamir-check", 19), 1);
	cr_assert_eq(EVP_DigestUpdate(ctx, secret, len), 1);
	cr_assert_eq(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	EVP_MD_CTX_free(ctx);
	memcpy(msg, secret, len);
	memcpy(msg + len, md, 16);
}

Test(kat, hand_computed_degree_1)
{
	static const uint8_t secret[] = { 0x00 };
	struct shamir_share *s = calloc(255, sizeof(*s));
	uint8_t msg[17], out[1];
	bool first = true;
	size_t len;

	cr_assert_not_null(s);
	cr_assert_eq(shamir_split_with_rng(secret, 1, 255, 2, s, const53_rng,
					   &first), 0);
	with_check(secret, 1, msg);
	for (size_t j = 0; j < 17; j++) {
		cr_expect_eq(s[0].y[j], msg[j] ^ 0x53, "x=1 byte %zu", j);
		cr_expect_eq(s[1].y[j], msg[j] ^ 0xa6, "x=2 byte %zu", j);
		cr_expect_eq(s[2].y[j], msg[j] ^ 0xf5, "x=3 byte %zu", j);
		cr_expect_eq(s[0xca - 1].y[j], msg[j] ^ 0x01, "x=0xca byte %zu", j);
	}
	cr_expect_eq(s[0xca - 1].y[0], 0x01);
	cr_expect(memcmp(s[0].set_id, "\xee\xee\xee\xee", 4) == 0);
	/* shares 0xca and 3 interpolate back to 0x00 */
	{
		struct shamir_share pair[2] = { s[0xca - 1], s[2] };

		cr_assert_eq(shamir_combine(pair, 2, out, 1, &len, NULL, 0), 0);
		cr_expect_eq(out[0], 0x00);
	}
	free(s);
}

Test(kat, hand_computed_degree_2)
{
	static const uint8_t secret[] = { 0x9d, 0x00, 0xff };
	struct shamir_share *s = calloc(255, sizeof(*s));
	uint8_t msg[19];
	bool first = true;

	cr_assert_not_null(s);
	cr_assert_eq(shamir_split_with_rng(secret, 3, 255, 3, s, const53_rng,
					   &first), 0);
	with_check(secret, 3, msg);
	for (size_t j = 0; j < 19; j++) {
		cr_expect_eq(s[0].y[j], msg[j], "x=1 byte %zu", j);
		cr_expect_eq(s[0xca - 1].y[j], msg[j] ^ 0x01 ^ 0xca,
			     "x=0xca byte %zu", j);
	}
	free(s);
}
