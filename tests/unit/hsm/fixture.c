/*
 * Test fixture and OpenSSL references for the hsm tests (see fixture.h).
 * Criterion runs each test in its own process, so each test gets its own
 * SOFTHSM2_CONF and token directory and tests may run in parallel.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "fixture.h"

struct test_softhsm fx_softhsm;
struct hsm *fx_hsm;
char fx_uri[256];

void fx_store_only(void)
{
	int ret = test_softhsm_setup(&fx_softhsm);

	cr_assert_eq(ret, 0, "SoftHSM2 store setup: %s", strerror(-ret));
}

void fx_token_open(void)
{
	char err[256] = "";
	int ret;

	fx_store_only();
	ret = test_softhsm_init_token(&fx_softhsm, TEST_TOKEN, TEST_PIN,
				      TEST_SO_PIN);
	cr_assert_eq(ret, 0, "softhsm2-util --init-token failed");
	snprintf(fx_uri, sizeof(fx_uri), "pkcs11:token=%s", TEST_TOKEN);
	ret = hsm_open(fx_uri, TEST_PIN, strlen(TEST_PIN), &fx_hsm, err,
		       sizeof(err));
	cr_assert_eq(ret, 0, "hsm_open(%s): %d %s", fx_uri, ret, err);
}

void fx_teardown(void)
{
	hsm_close(fx_hsm);
	fx_hsm = NULL;
	test_softhsm_teardown(&fx_softhsm);
}

int ref_cmac_zero(const uint8_t key[32], uint8_t mac[16])
{
	static const uint8_t zero[16];

	return ref_cmac(key, zero, sizeof(zero), mac);
}

int ref_cmac(const uint8_t key[32], const uint8_t *msg, size_t len,
	     uint8_t mac[16])
{
	char cipher[] = "AES-256-CBC";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
						 cipher, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	size_t mac_len = 0;
	int ok;

	ok = ctx && EVP_MAC_init(ctx, key, 32, params) &&
	     EVP_MAC_update(ctx, msg, len) &&
	     EVP_MAC_final(ctx, mac, &mac_len, 16) && mac_len == 16;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	return ok ? 0 : -1;
}

int ref_gcm_seal(const uint8_t key[32], const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) &&
	     (aad_len == 0 ||
	      EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len)) &&
	     ((n = 0) == 0) &&
	     (len == 0 || EVP_EncryptUpdate(ctx, out, &n, pt, (int)len)) &&
	     EVP_EncryptFinal_ex(ctx, out + n, &fin) &&
	     (size_t)(n + fin) == len &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + len);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

void ref_random(void *buf, size_t n)
{
	cr_assert_eq(RAND_bytes(buf, (int)n), 1);
}
