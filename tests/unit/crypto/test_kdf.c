/*
 * Unit tests for kdf.c: every Wycheproof HKDF-SHA256 case, RFC 5869 test
 * cases 1-3, HKDF rebuilt from hmac_sha256 (RFC 5869 §2.2-2.3), RFC 4231
 * HMAC-SHA256 test cases 1-2 and FIPS 180-2 SHA-256 examples.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"
#include "vectors.h"

Test(kdf, wycheproof_hkdf_sha256)
{
	struct vec_file v;
	struct vec_case c;
	long invalid = 0;

	vec_open(&v, "hkdf_sha256_test.txt");
	while (vec_next(&v, &c)) {
		size_t ikm_len, salt_len, info_len, okm_len, size;
		uint8_t *ikm, *salt, *info, *okm, *out;
		char *end;
		int ret;

		cr_assert_eq(c.nfields, 6, "tcId %ld", c.tc_id);
		ikm = hex_alloc(c.field[1], &ikm_len);
		salt = hex_alloc(c.field[2], &salt_len);
		info = hex_alloc(c.field[3], &info_len);
		size = strtoul(c.field[4], &end, 10);
		cr_assert(*end == '\0');
		okm = hex_alloc(c.field[5], &okm_len);
		out = calloc(1, size + 1);
		cr_assert_not_null(out);
		ret = hkdf_sha256(ikm, ikm_len, salt, salt_len, info, info_len,
				  out, size);
		if (strcmp(c.result, "valid") == 0) {
			cr_expect_eq(ret, 0, "tcId %ld: %d", c.tc_id, ret);
			cr_expect_eq(okm_len, size);
			cr_expect(memcmp(out, okm, size) == 0, "tcId %ld: okm",
				  c.tc_id);
		} else {
			cr_assert_str_eq(c.result, "invalid");
			cr_expect_eq(ret, -EINVAL, "tcId %ld accepted", c.tc_id);
			cr_expect(all_zero(out, size));
			invalid++;
		}
		free(ikm); free(salt); free(info); free(okm); free(out);
	}
	vec_close(&v);
	cr_expect_gt(invalid, 0);
}

/* RFC 5869 Appendix A.1-A.3 (SHA-256). */
Test(kdf, rfc5869_test_cases_1_to_3)
{
	uint8_t ikm[80], salt[80], info[80], okm[82], out[82];
	size_t okm_len;

	/* A.1 */
	memset(ikm, 0x0b, 22);
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	okm_len = hex_into("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
			   "5db02d56ecc4c5bf34007208d5b887185865", okm, 82);
	cr_assert_eq(okm_len, 42);
	cr_assert_eq(hkdf_sha256(ikm, 22, salt, 13, info, 10, out, 42), 0);
	cr_expect(memcmp(out, okm, 42) == 0, "A.1");

	/* A.2: longer inputs/outputs */
	for (int i = 0; i < 80; i++) {
		ikm[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x60 + i);
		info[i] = (uint8_t)(0xb0 + i);
	}
	okm_len = hex_into("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8"
			   "a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
			   "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87"
			   "c14c01d5c1f3434f1d87", okm, 82);
	cr_assert_eq(okm_len, 82);
	cr_assert_eq(hkdf_sha256(ikm, 80, salt, 80, info, 80, out, 82), 0);
	cr_expect(memcmp(out, okm, 82) == 0, "A.2");

	/* A.3: zero-length salt and info */
	memset(ikm, 0x0b, 22);
	okm_len = hex_into("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879e"
			   "c3454e5f3c738d2d9d201395faa4b61a96c8", okm, 82);
	cr_assert_eq(okm_len, 42);
	cr_assert_eq(hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, out, 42), 0);
	cr_expect(memcmp(out, okm, 42) == 0, "A.3");
}

/* HKDF written out from its definition on top of hmac_sha256(). */
static void hkdf_reference(const uint8_t *ikm, size_t ikm_len,
			   const uint8_t *salt, size_t salt_len,
			   const uint8_t *info, size_t info_len, uint8_t *out,
			   size_t len)
{
	uint8_t zeros[32] = { 0 }, prk[32], t[32], buf[32 + 64 + 1];
	size_t done = 0, tlen = 0;

	cr_assert_leq(info_len, 64);
	if (salt_len == 0) {
		salt = zeros;
		salt_len = sizeof(zeros);
	}
	cr_assert_eq(hmac_sha256(salt, salt_len, ikm, ikm_len, prk), 0);
	for (uint8_t n = 1; done < len; n++) {
		memcpy(buf, t, tlen);
		memcpy(buf + tlen, info, info_len);
		buf[tlen + info_len] = n;
		cr_assert_eq(hmac_sha256(prk, 32, buf, tlen + info_len + 1, t), 0);
		tlen = 32;
		memcpy(out + done, t, len - done < 32 ? len - done : 32);
		done += len - done < 32 ? len - done : 32;
	}
}

Test(kdf, hkdf_matches_hmac_construction)
{
	uint8_t ikm[40], salt[32], info[64], a[200], b[200];

	cr_assert_eq(random_bytes(ikm, sizeof(ikm)), 0);
	cr_assert_eq(random_bytes(salt, sizeof(salt)), 0);
	cr_assert_eq(random_bytes(info, sizeof(info)), 0);
	for (size_t len = 1; len <= sizeof(a); len += 33) {
		cr_assert_eq(hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt),
					 info, 17, a, len), 0);
		hkdf_reference(ikm, sizeof(ikm), salt, sizeof(salt), info, 17,
			       b, len);
		cr_expect(memcmp(a, b, len) == 0, "len %zu", len);
		cr_assert_eq(hkdf_sha256(ikm, sizeof(ikm), NULL, 0, info, 0, a,
					 len), 0);
		hkdf_reference(ikm, sizeof(ikm), NULL, 0, info, 0, b, len);
		cr_expect(memcmp(a, b, len) == 0, "no salt, len %zu", len);
	}
}

Test(kdf, hkdf_rejects_bad_lengths)
{
	static uint8_t out[8161];
	uint8_t ikm[16] = { 1 };

	cr_expect_eq(hkdf_sha256(ikm, 16, NULL, 0, NULL, 0, out, 0), -EINVAL);
	cr_expect_eq(hkdf_sha256(ikm, 16, NULL, 0, NULL, 0, out, 8161), -EINVAL);
	cr_expect_eq(hkdf_sha256(ikm, 16, NULL, 0, NULL, 0, out, 8160), 0);
	cr_expect_eq(hkdf_sha256(NULL, 16, NULL, 0, NULL, 0, out, 32), -EINVAL);
}

/* RFC 4231 §4.2 and §4.3. */
Test(kdf, rfc4231_hmac_sha256)
{
	uint8_t key[20], mac[32], want[32];
	static const char data1[] = "Hi There";
	static const char data2[] = "what do ya want for nothing?";

	memset(key, 0x0b, sizeof(key));
	hex_into("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
		 want, 32);
	cr_assert_eq(hmac_sha256(key, 20, (const uint8_t *)data1,
				 strlen(data1), mac), 0);
	cr_expect(memcmp(mac, want, 32) == 0, "RFC 4231 case 1");

	hex_into("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		 want, 32);
	cr_assert_eq(hmac_sha256((const uint8_t *)"Jefe", 4,
				 (const uint8_t *)data2, strlen(data2), mac), 0);
	cr_expect(memcmp(mac, want, 32) == 0, "RFC 4231 case 2");
}

/* RFC 4231 §4.3 fed to the streaming HMAC a byte, then a split, at a time. */
Test(kdf, rfc4231_hmac_stream)
{
	static const char data[] = "what do ya want for nothing?";
	uint8_t mac[32], want[32];
	struct hmac_stream *h;

	hex_into("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		 want, 32);
	for (size_t split = 0; split <= strlen(data); split++) {
		cr_assert_eq(hmac_stream_new((const uint8_t *)"Jefe", 4, &h), 0);
		cr_assert_eq(hmac_stream_update(h, data, split), 0);
		cr_assert_eq(hmac_stream_update(h, data + split, strlen(data) - split), 0);
		cr_assert_eq(hmac_stream_final(h, mac), 0);
		cr_expect(memcmp(mac, want, 32) == 0, "split at %zu", split);
	}
	cr_assert_eq(hmac_stream_new((const uint8_t *)"Jefe", 4, &h), 0);
	for (size_t i = 0; i < strlen(data); i++)
		cr_assert_eq(hmac_stream_update(h, data + i, 1), 0);
	cr_assert_eq(hmac_stream_final(h, mac), 0);
	cr_expect(memcmp(mac, want, 32) == 0, "a byte at a time");
	cr_expect_eq(hmac_stream_final(NULL, mac), -EINVAL);
}

Test(kdf, sha256_known_answers)
{
	uint8_t md[32], want[32];

	hex_into("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		 want, 32);
	cr_assert_eq(sha256((const uint8_t *)"abc", 3, md), 0);
	cr_expect(memcmp(md, want, 32) == 0, "SHA-256(abc)");
	hex_into("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		 want, 32);
	cr_assert_eq(sha256(NULL, 0, md), 0);
	cr_expect(memcmp(md, want, 32) == 0, "SHA-256('')");
	cr_expect_eq(sha256(NULL, 1, md), -EINVAL);
}
