/*
 * Unit tests for siv.c: every Wycheproof AES-SIV-CMAC case (256/384/512-bit
 * keys), the RFC 5297 Appendix A.1 example, tampering and bad arguments.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"
#include "vectors.h"

Test(siv, wycheproof_aes_siv_cmac)
{
	struct vec_file v;
	struct vec_case c;
	long by_size[3] = { 0 };

	vec_open(&v, "aes_siv_cmac_test.txt");
	while (vec_next(&v, &c)) {
		size_t key_len, aad_len, msg_len, ct_len;
		uint8_t *key, *aad, *msg, *ct, *out;
		bool valid = strcmp(c.result, "valid") == 0;
		int ret;

		cr_assert_eq(c.nfields, 5, "tcId %ld", c.tc_id);
		cr_assert(valid || strcmp(c.result, "invalid") == 0);
		key = hex_alloc(c.field[1], &key_len);
		aad = hex_alloc(c.field[2], &aad_len);
		msg = hex_alloc(c.field[3], &msg_len);
		ct = hex_alloc(c.field[4], &ct_len);
		cr_assert_eq(ct_len, msg_len + 16, "tcId %ld", c.tc_id);
		cr_assert(key_len == 32 || key_len == 48 || key_len == 64);
		by_size[key_len / 16 - 2]++;
		out = calloc(1, ct_len);
		cr_assert_not_null(out);

		ret = siv_encrypt(key, key_len, aad, aad_len, msg, msg_len, out);
		cr_expect_eq(ret, 0, "tcId %ld: encrypt %d", c.tc_id, ret);
		if (valid)
			cr_expect(memcmp(out, ct, ct_len) == 0,
				  "tcId %ld: output", c.tc_id);
		else
			cr_expect(memcmp(out, ct, ct_len) != 0,
				  "tcId %ld: invalid output produced", c.tc_id);

		memset(out, 0xa5, ct_len);
		ret = siv_decrypt(key, key_len, aad, aad_len, ct, ct_len, out);
		if (valid) {
			cr_expect_eq(ret, 0, "tcId %ld: decrypt %d", c.tc_id, ret);
			cr_expect(memcmp(out, msg, msg_len) == 0,
				  "tcId %ld: plaintext", c.tc_id);
		} else {
			cr_expect_eq(ret, -EBADMSG, "tcId %ld accepted (%d)",
				     c.tc_id, ret);
			cr_expect(all_zero(out, msg_len),
				  "tcId %ld: plaintext left", c.tc_id);
		}
		free(key); free(aad); free(msg); free(ct); free(out);
	}
	vec_close(&v);
	for (int i = 0; i < 3; i++)
		cr_expect_gt(by_size[i], 0, "no cases for key size %d",
			     (i + 2) * 128);
}

/* RFC 5297 Appendix A.1: deterministic authenticated encryption. */
Test(siv, rfc5297_a1)
{
	uint8_t key[32], ad[24], pt[14], want[30], out[30], back[14];

	hex_into("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"
		 "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", key, sizeof(key));
	hex_into("101112131415161718191a1b1c1d1e1f2021222324252627", ad,
		 sizeof(ad));
	hex_into("112233445566778899aabbccddee", pt, sizeof(pt));
	hex_into("85632d07c6e8f37f950acd320a2ecc93"
		 "40c02b9690c4dc04daef7f6afe5c", want, sizeof(want));
	cr_assert_eq(siv_encrypt(key, 32, ad, 24, pt, 14, out), 0);
	cr_expect(memcmp(out, want, 30) == 0);
	cr_assert_eq(siv_decrypt(key, 32, ad, 24, want, 30, back), 0);
	cr_expect(memcmp(back, pt, 14) == 0);
}

Test(siv, tampering_and_bad_arguments)
{
	uint8_t key[64], ad[16], pt[64], sealed[80], bad[80], out[64];

	cr_assert_eq(random_bytes(key, sizeof(key)), 0);
	cr_assert_eq(random_bytes(ad, sizeof(ad)), 0);
	cr_assert_eq(random_bytes(pt, sizeof(pt)), 0);
	cr_assert_eq(siv_encrypt(key, 64, ad, 16, pt, 64, sealed), 0);

	for (size_t i = 0; i < sizeof(sealed); i += 9) {
		memcpy(bad, sealed, sizeof(bad));
		bad[i] ^= 0x20;
		memset(out, 0xa5, sizeof(out));
		cr_expect_eq(siv_decrypt(key, 64, ad, 16, bad, 80, out),
			     -EBADMSG, "byte %zu", i);
		cr_expect(all_zero(out, sizeof(out)));
	}
	cr_expect_eq(siv_decrypt(key, 64, ad, 15, sealed, 80, out), -EBADMSG);
	cr_expect_eq(siv_decrypt(key, 64, NULL, 0, sealed, 80, out), -EBADMSG);
	cr_expect_eq(siv_decrypt(key, 64, ad, 16, sealed, 79, out), -EBADMSG);
	cr_expect_eq(siv_decrypt(key, 64, ad, 16, sealed, 15, out), -EBADMSG);
	cr_expect_eq(siv_decrypt(key, 63, ad, 16, sealed, 80, out), -EINVAL);
	cr_expect_eq(siv_encrypt(key, 16, ad, 16, pt, 64, out), -EINVAL);

	/* Deterministic: same inputs, same output. */
	cr_assert_eq(siv_encrypt(key, 64, ad, 16, pt, 64, bad), 0);
	cr_expect(memcmp(bad, sealed, sizeof(sealed)) == 0);
	cr_assert_eq(siv_decrypt(key, 64, ad, 16, sealed, 80, out), 0);
	cr_expect(memcmp(out, pt, sizeof(pt)) == 0);
}
