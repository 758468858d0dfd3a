/*
 * What the key does on the token, checked against OpenSSL computing the
 * same thing from the same key: the key check value (AES-CMAC of 0^16, RFC
 * 4493) and AES-256-GCM sealing/opening (SP 800-38D), tampering included.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "fixture.h"

static uint8_t key[32];

static void init(void)
{
	fx_token_open();
	ref_random(key, sizeof(key));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", key), 0);
}

TestSuite(hsm_cipher, .init = init, .fini = fx_teardown, .timeout = 120);

Test(hsm_cipher, kcv_equals_openssl_cmac)
{
	uint8_t kcv[8], mac[16], other[32];

	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv), 0);
	cr_assert_eq(ref_cmac_zero(key, mac), 0);
	cr_assert_arr_eq(kcv, mac, 8);

	/* A second key gives its own value. */
	ref_random(other, sizeof(other));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-2", other), 0);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-2", kcv), 0);
	cr_assert_eq(ref_cmac_zero(other, mac), 0);
	cr_assert_arr_eq(kcv, mac, 8);
	cr_assert_eq(hsm_kcv(fx_hsm, "nosuch", kcv), -ENOENT);
}

/* The OpenSSL reference is itself checked on a published answer:
 * NIST SP 800-38B appendix D.3 (AES-256), example 10, Mlen = 128. */
Test(hsm_cipher, openssl_cmac_reference_is_right)
{
	static const uint8_t k[32] = {
		0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe,
		0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
		0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7,
		0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
	};
	static const uint8_t m[16] = {
		0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
		0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a,
	};
	static const uint8_t t[16] = {
		0x28, 0xa7, 0x02, 0x3f, 0x45, 0x2e, 0x8f, 0x82,
		0xbd, 0x4b, 0xf2, 0x8d, 0x8c, 0x37, 0xc3, 0x5c,
	};
	uint8_t mac[16];

	cr_assert_eq(ref_cmac(k, m, sizeof(m), mac), 0);
	cr_assert_arr_eq(mac, t, sizeof(t));
}

Test(hsm_cipher, kcv_is_stable)
{
	uint8_t a[8], b[8];

	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", a), 0);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", b), 0);
	cr_assert_arr_eq(a, b, 8);
}

static const size_t lens[] = { 0, 1, 15, 16, 17, 100, 4096 };
static const size_t aad_lens[] = { 0, 1, 37, 300 };

Test(hsm_cipher, seal_equals_openssl_and_opens)
{
	static uint8_t pt[4096], aad[300], got[4096 + 16], want[4096 + 16],
		back[4096];
	uint8_t iv[12];
	size_t i, j;

	ref_random(pt, sizeof(pt));
	ref_random(aad, sizeof(aad));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (j = 0; j < sizeof(aad_lens) / sizeof(aad_lens[0]); j++) {
			size_t n = lens[i], an = aad_lens[j];

			ref_random(iv, sizeof(iv));
			cr_assert_eq(hsm_gcm_seal(fx_hsm, "mk-1", iv, aad, an,
						  pt, n, got), 0,
				     "seal len %zu aad %zu", n, an);
			cr_assert_eq(ref_gcm_seal(key, iv, aad, an, pt, n,
						  want), 0);
			cr_assert_arr_eq(got, want, n + 16,
					 "len %zu aad %zu differs from OpenSSL",
					 n, an);
			memset(back, 0xa5, sizeof(back));
			cr_assert_eq(hsm_gcm_open(fx_hsm, "mk-1", iv, aad, an,
						  got, n + 16, back), 0,
				     "open len %zu aad %zu", n, an);
			cr_assert_arr_eq(back, pt, n);
			/* Nothing written past the plaintext. */
			if (n < sizeof(back))
				cr_assert_eq(back[n], 0xa5);
		}
	}
}

Test(hsm_cipher, opens_openssl_ciphertext)
{
	uint8_t pt[120], aad[45], ct[120 + 16], back[120], iv[12];

	ref_random(pt, sizeof(pt));
	ref_random(aad, sizeof(aad));
	ref_random(iv, sizeof(iv));
	cr_assert_eq(ref_gcm_seal(key, iv, aad, sizeof(aad), pt, sizeof(pt),
				  ct), 0);
	cr_assert_eq(hsm_gcm_open(fx_hsm, "mk-1", iv, aad, sizeof(aad), ct,
				  sizeof(ct), back), 0);
	cr_assert_arr_eq(back, pt, sizeof(pt));
}

/* A bad tag must fail as -EBADMSG or -EIO (never 0, never -ENODEV), must
 * not leak plaintext, and must leave the token working. */
static void assert_rejected(int ret, const char *what)
{
	uint8_t kcv[8], mac[16];

	cr_assert(ret == -EBADMSG || ret == -EIO,
		  "%s: got %d, want -EBADMSG or -EIO", what, ret);
	cr_log_info("%s: SoftHSM2 reports a bad GCM tag as %s", what,
		    ret == -EIO ? "-EIO (CKR_GENERAL_ERROR)"
				: "-EBADMSG (CKR_ENCRYPTED_DATA_INVALID)");
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv), 0,
		     "%s: token unusable afterwards", what);
	cr_assert_eq(ref_cmac_zero(key, mac), 0);
	cr_assert_arr_eq(kcv, mac, 8);
}

Test(hsm_cipher, tampering_is_rejected_and_token_still_works)
{
	uint8_t pt[64], aad[20], ct[64 + 16], bad[64 + 16], out[64], iv[12],
		iv2[12], zero[64] = { 0 };
	size_t pos[] = { 0, 63, 64, 79 };
	size_t i;

	ref_random(pt, sizeof(pt));
	ref_random(aad, sizeof(aad));
	ref_random(iv, sizeof(iv));
	cr_assert_eq(hsm_gcm_seal(fx_hsm, "mk-1", iv, aad, sizeof(aad), pt,
				  sizeof(pt), ct), 0);

	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		memcpy(bad, ct, sizeof(ct));
		bad[pos[i]] ^= 0x01;
		memset(out, 0, sizeof(out));
		assert_rejected(hsm_gcm_open(fx_hsm, "mk-1", iv, aad,
					     sizeof(aad), bad, sizeof(bad),
					     out), pos[i] < 64 ? "flipped ciphertext"
							       : "flipped tag");
		cr_assert_arr_eq(out, zero, sizeof(out), "plaintext leaked");
	}

	aad[3] ^= 0x80;
	assert_rejected(hsm_gcm_open(fx_hsm, "mk-1", iv, aad, sizeof(aad), ct,
				     sizeof(ct), out), "wrong AAD");
	aad[3] ^= 0x80;
	assert_rejected(hsm_gcm_open(fx_hsm, "mk-1", iv, aad, sizeof(aad) - 1,
				     ct, sizeof(ct), out), "short AAD");
	memcpy(iv2, iv, sizeof(iv));
	iv2[11] ^= 0x01;
	assert_rejected(hsm_gcm_open(fx_hsm, "mk-1", iv2, aad, sizeof(aad), ct,
				     sizeof(ct), out), "wrong IV");
	assert_rejected(hsm_gcm_open(fx_hsm, "mk-1", iv, aad, sizeof(aad), ct,
				     sizeof(ct) - 1, out), "truncated");

	/* Still opens the genuine record. */
	cr_assert_eq(hsm_gcm_open(fx_hsm, "mk-1", iv, aad, sizeof(aad), ct,
				  sizeof(ct), out), 0);
	cr_assert_arr_eq(out, pt, sizeof(pt));
}

Test(hsm_cipher, wrong_key_is_rejected)
{
	uint8_t other[32], pt[32], ct[48], out[32], iv[12];

	ref_random(other, sizeof(other));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-2", other), 0);
	ref_random(pt, sizeof(pt));
	ref_random(iv, sizeof(iv));
	cr_assert_eq(hsm_gcm_seal(fx_hsm, "mk-1", iv, NULL, 0, pt, sizeof(pt),
				  ct), 0);
	assert_rejected(hsm_gcm_open(fx_hsm, "mk-2", iv, NULL, 0, ct,
				     sizeof(ct), out), "other key");
}

Test(hsm_cipher, short_input_and_bad_arguments)
{
	uint8_t buf[32] = { 0 }, iv[12] = { 0 }, out[32];

	cr_assert_eq(hsm_gcm_open(fx_hsm, "mk-1", iv, NULL, 0, buf, 15, out),
		     -EBADMSG);
	cr_assert_eq(hsm_gcm_open(fx_hsm, "mk-1", iv, NULL, 0, buf, 0, out),
		     -EBADMSG);
	cr_assert_eq(hsm_gcm_seal(fx_hsm, "mk-1", NULL, NULL, 0, buf, 16, out),
		     -EINVAL);
	cr_assert_eq(hsm_gcm_seal(fx_hsm, "mk-1", iv, NULL, 5, buf, 16, out),
		     -EINVAL);
	cr_assert_eq(hsm_gcm_seal(fx_hsm, "nosuch", iv, NULL, 0, buf, 16, out),
		     -ENOENT);
	cr_assert_eq(hsm_gcm_open(fx_hsm, "nosuch", iv, NULL, 0, buf, 32, out),
		     -ENOENT);
}
