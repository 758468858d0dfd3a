/*
 * Deterministic authenticated encryption with AES-SIV (RFC 5297), used for
 * entry names: the same name in the same directory always encrypts to the
 * same string, so a lookup is one encryption, while any change to the
 * ciphertext or the associated data (the directory id) is detected.
 *
 * OpenSSL 3 provides "AES-{128,192,256}-SIV" (S2V over AES-CMAC plus
 * AES-CTR); each is fetched once.  Exactly one associated-data string is
 * passed to S2V (an empty one is still a component, as in RFC 5297 §2.4),
 * and the output is laid out as in RFC 5297 §2.6: SIV(16) || ciphertext.
 * On decryption the SIV is the expected tag; a mismatch wipes the output.
 *
 * OpenSSL 3.0's SIV provider cannot finish a message with an empty
 * plaintext (it skips the empty update and then fails the final call), so
 * for len == 0 the SIV is computed here as RFC 5297 §2.4 S2V over AES-CMAC
 * (RFC 4493, via EVP_MAC "CMAC"): with one AD string A and an empty
 * plaintext, V = CMAC(K1, dbl(dbl(CMAC(K1, 0^128)) xor CMAC(K1, A)) xor
 * 10*), and there is no ciphertext.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "coffre/crypto.h"

#define SIV_LEN 16

static pthread_once_t siv_once = PTHREAD_ONCE_INIT;
/* Indexed by key_len / 16 - 2: 32, 48, 64-byte keys. */
static EVP_CIPHER *siv_cipher[3];
static EVP_MAC *cmac_impl;

static void siv_global_init(void)
{
	siv_cipher[0] = EVP_CIPHER_fetch(NULL, "AES-128-SIV", NULL);
	siv_cipher[1] = EVP_CIPHER_fetch(NULL, "AES-192-SIV", NULL);
	siv_cipher[2] = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL);
	cmac_impl = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_CMAC, NULL);
}

static const EVP_CIPHER *siv_cipher_for(size_t key_len)
{
	pthread_once(&siv_once, siv_global_init);
	switch (key_len) {
	case 32:
		return siv_cipher[0];
	case 48:
		return siv_cipher[1];
	case 64:
		return siv_cipher[2];
	default:
		return NULL;
	}
}

/* Doubling in GF(2^128) (RFC 5297 §2.3), constant time. */
static void siv_dbl(uint8_t d[SIV_LEN])
{
	uint8_t carry = (uint8_t)(0 - (d[0] >> 7));

	for (int i = 0; i < SIV_LEN - 1; i++)
		d[i] = (uint8_t)(d[i] << 1 | d[i + 1] >> 7);
	d[SIV_LEN - 1] = (uint8_t)(d[SIV_LEN - 1] << 1 ^ (carry & 0x87));
}

/* One AES-CMAC (RFC 4493) under k1.  Return: 0 or -EIO. */
static int siv_cmac(EVP_MAC_CTX *ctx, const uint8_t *k1, size_t k1_len,
		    const uint8_t *msg, size_t len, uint8_t out[SIV_LEN])
{
	static const uint8_t empty;
	static const char *const cbc[3] = {
		"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"
	};
	OSSL_PARAM params[2];
	size_t outl = 0;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
						     (char *)cbc[k1_len / 8 - 2], 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, k1, k1_len, params) ||
	    !EVP_MAC_update(ctx, msg ? msg : &empty, len) ||
	    !EVP_MAC_final(ctx, out, &outl, SIV_LEN) || outl != SIV_LEN)
		return -EIO;
	return 0;
}

/*
 * S2V(K1, ad, "") for an empty plaintext (see the top of the file).
 * Return: 0, -ENOMEM or -EIO.
 */
static int siv_s2v_empty(const uint8_t *key, size_t key_len,
			 const uint8_t *ad, size_t ad_len, uint8_t v[SIV_LEN])
{
	static const uint8_t zero[SIV_LEN];
	uint8_t d[SIV_LEN], t[SIV_LEN];
	size_t k1_len = key_len / 2;
	EVP_MAC_CTX *ctx = NULL;
	int err = -EIO;

	if (cmac_impl == NULL)
		goto out;
	err = -ENOMEM;
	ctx = EVP_MAC_CTX_new(cmac_impl);
	if (ctx == NULL)
		goto out;
	err = siv_cmac(ctx, key, k1_len, zero, sizeof(zero), d);
	if (err)
		goto out;
	err = siv_cmac(ctx, key, k1_len, ad, ad_len, t);
	if (err)
		goto out;
	siv_dbl(d);
	for (int i = 0; i < SIV_LEN; i++)
		d[i] ^= t[i];
	siv_dbl(d);
	d[0] ^= 0x80;
	err = siv_cmac(ctx, key, k1_len, d, sizeof(d), v);
out:
	OPENSSL_cleanse(d, sizeof(d));
	OPENSSL_cleanse(t, sizeof(t));
	EVP_MAC_CTX_free(ctx);
	return err;
}

static int siv_check_args(const uint8_t *key, size_t key_len,
			  const uint8_t *ad, size_t ad_len, size_t len)
{
	if (key == NULL || (key_len != 32 && key_len != 48 && key_len != 64))
		return -EINVAL;
	if ((ad == NULL && ad_len) || ad_len > INT_MAX || len > INT_MAX - 64)
		return -EINVAL;
	return 0;
}

/*
 * out = SIV || E(pt), len + 16 bytes.
 * Return: 0, -EINVAL, -ENOMEM or -EIO (provider failure).
 */
int siv_encrypt(const uint8_t *key, size_t key_len, const uint8_t *ad,
		size_t ad_len, const uint8_t *pt, size_t len, uint8_t *out)
{
	static const uint8_t empty;
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx = NULL;
	int outl;
	int err;

	err = siv_check_args(key, key_len, ad, ad_len, len);
	if (err)
		return err;
	if (out == NULL || (pt == NULL && len))
		return -EINVAL;
	cipher = siv_cipher_for(key_len);
	if (cipher == NULL)
		return -EIO;
	if (len == 0)
		return siv_s2v_empty(key, key_len, ad, ad_len, out);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	err = -EIO;
	if (!EVP_EncryptInit_ex2(ctx, cipher, key, NULL, NULL))
		goto out;
	/* One AD component, even when empty. */
	if (!EVP_EncryptUpdate(ctx, NULL, &outl, ad ? ad : &empty, (int)ad_len))
		goto out;
	if (!EVP_EncryptUpdate(ctx, out + SIV_LEN, &outl, pt, (int)len))
		goto out;
	if (!EVP_EncryptFinal_ex(ctx, out + SIV_LEN + len, &outl))
		goto out;
	if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SIV_LEN, out))
		goto out;
	err = 0;
out:
	if (err)
		OPENSSL_cleanse(out, len + SIV_LEN);
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

/*
 * pt = D(in), in_len - 16 bytes, only if the SIV verifies.
 * Return: 0, -EINVAL, -ENOMEM, -EBADMSG (short input or failed check).
 */
int siv_decrypt(const uint8_t *key, size_t key_len, const uint8_t *ad,
		size_t ad_len, const uint8_t *in, size_t in_len, uint8_t *pt)
{
	static const uint8_t empty;
	uint8_t siv[SIV_LEN];
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx = NULL;
	size_t len;
	int outl;
	int err;

	if (in == NULL)
		return -EINVAL;
	if (in_len < SIV_LEN)
		return -EBADMSG;
	len = in_len - SIV_LEN;
	err = siv_check_args(key, key_len, ad, ad_len, len);
	if (err)
		return err;
	if (pt == NULL && len)
		return -EINVAL;
	cipher = siv_cipher_for(key_len);
	if (cipher == NULL)
		return -EIO;
	if (len == 0) {
		err = siv_s2v_empty(key, key_len, ad, ad_len, siv);
		if (err == 0 && CRYPTO_memcmp(siv, in, SIV_LEN) != 0)
			err = -EBADMSG;
		return err;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	memcpy(siv, in, SIV_LEN);
	err = -EIO;
	if (!EVP_DecryptInit_ex2(ctx, cipher, key, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SIV_LEN, siv))
		goto out;
	if (!EVP_DecryptUpdate(ctx, NULL, &outl, ad ? ad : &empty, (int)ad_len))
		goto out;
	/* The provider checks the SIV inside this call; failure is auth. */
	err = -EBADMSG;
	if (!EVP_DecryptUpdate(ctx, pt, &outl, in + SIV_LEN, (int)len))
		goto out;
	if (EVP_DecryptFinal_ex(ctx, pt + len, &outl) <= 0)
		goto out;
	err = 0;
out:
	if (err && len > 0)
		OPENSSL_cleanse(pt, len);
	EVP_CIPHER_CTX_free(ctx);
	return err;
}
