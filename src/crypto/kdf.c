/*
 * Hashing and key derivation on OpenSSL 3 providers: HKDF-SHA256
 * (RFC 5869; Krawczyk, "Cryptographic Extraction and Key Derivation", 2010),
 * HMAC-SHA256 (RFC 2104) and SHA-256 (FIPS 180-4).
 *
 * The KDF, MAC and digest implementations are fetched once (pthread_once)
 * so no call pays for an implicit provider lookup.  HKDF is used with the
 * extract-then-expand mode; an empty salt is passed by omitting the
 * parameter, which RFC 5869 §2.2 defines as HashLen zero bytes.  Output
 * longer than 255 * HashLen is refused (RFC 5869 §2.3).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "coffre/crypto.h"

#define SHA256_LEN 32
#define HKDF_MAX_OUT (255 * SHA256_LEN)

static pthread_once_t kdf_once = PTHREAD_ONCE_INIT;
static EVP_KDF *hkdf_impl;
static EVP_MAC *hmac_impl;
static EVP_MD *sha256_impl;

static void kdf_global_init(void)
{
	hkdf_impl = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	hmac_impl = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	sha256_impl = EVP_MD_fetch(NULL, OSSL_DIGEST_NAME_SHA2_256, NULL);
}

static void kdf_ensure_init(void)
{
	pthread_once(&kdf_once, kdf_global_init);
}

/* OpenSSL rejects NULL octet strings; an empty one needs a valid pointer. */
static void *nonnull(const uint8_t *p)
{
	static uint8_t empty;

	return p != NULL ? (void *)p : &empty;
}

/*
 * RFC 5869 HKDF-SHA256 into out (1..8160 bytes).
 * Return: 0, -EINVAL (bad lengths or pointers), -EIO (OpenSSL failure).
 */
int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		size_t salt_len, const uint8_t *info, size_t info_len,
		uint8_t *out, size_t out_len)
{
	OSSL_PARAM params[5];
	OSSL_PARAM *p = params;
	EVP_KDF_CTX *ctx = NULL;
	int err = -EINVAL;

	if (out == NULL || out_len == 0 || out_len > HKDF_MAX_OUT ||
	    (ikm == NULL && ikm_len) || (salt == NULL && salt_len) ||
	    (info == NULL && info_len))
		goto out;
	kdf_ensure_init();
	err = -EIO;
	if (hkdf_impl == NULL)
		goto out;
	ctx = EVP_KDF_CTX_new(hkdf_impl);
	if (ctx == NULL) {
		err = -ENOMEM;
		goto out;
	}
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)OSSL_DIGEST_NAME_SHA2_256, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 nonnull(ikm), ikm_len);
	if (salt_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 nonnull(salt), salt_len);
	if (info_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 nonnull(info), info_len);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) <= 0)
		goto out;
	err = 0;
out:
	if (err && out != NULL && out_len > 0)
		OPENSSL_cleanse(out, out_len);
	EVP_KDF_CTX_free(ctx);
	return err;
}

/* A streaming RFC 2104 HMAC-SHA256: new, any number of updates, final
 * (which frees it; free alone abandons it).  The keyed state is cleansed
 * when freed.  Return: 0, -EINVAL, -ENOMEM or -EIO. */
int hmac_stream_new(const uint8_t *key, size_t key_len, struct hmac_stream **out)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;

	*out = NULL;
	if (key == NULL && key_len)
		return -EINVAL;
	kdf_ensure_init();
	if (hmac_impl == NULL)
		return -EIO;
	if ((ctx = EVP_MAC_CTX_new(hmac_impl)) == NULL)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)OSSL_DIGEST_NAME_SHA2_256, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, nonnull(key), key_len, params)) {
		EVP_MAC_CTX_free(ctx);
		return -EIO;
	}
	*out = (struct hmac_stream *)ctx;
	return 0;
}

int hmac_stream_update(struct hmac_stream *h, const void *data, size_t len)
{
	if (h == NULL || (data == NULL && len))
		return -EINVAL;
	return EVP_MAC_update((EVP_MAC_CTX *)h, nonnull(data), len) ? 0 : -EIO;
}

int hmac_stream_final(struct hmac_stream *h, uint8_t out[COFFRE_MAC_LEN])
{
	size_t outl = 0;
	int err = -EINVAL;

	if (h != NULL && out != NULL)
		err = EVP_MAC_final((EVP_MAC_CTX *)h, out, &outl, SHA256_LEN) &&
		      outl == SHA256_LEN ? 0 : -EIO;
	if (err && out != NULL)
		OPENSSL_cleanse(out, SHA256_LEN);
	hmac_stream_free(h);
	return err;
}

void hmac_stream_free(struct hmac_stream *h)
{
	EVP_MAC_CTX_free((EVP_MAC_CTX *)h);
}

/* RFC 2104 HMAC-SHA256.  Return: 0, -EINVAL, -ENOMEM or -EIO. */
int mac_check(int err, uint8_t computed[COFFRE_MAC_LEN], const uint8_t *stored,
	      size_t len)
{
	if (!err && (len > COFFRE_MAC_LEN || CRYPTO_memcmp(computed, stored, len) != 0))
		err = -EBADMSG;
	OPENSSL_cleanse(computed, COFFRE_MAC_LEN);
	return err;
}

int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data,
		size_t len, uint8_t out[COFFRE_MAC_LEN])
{
	struct hmac_stream *h = NULL;
	int err;

	if (out == NULL || (data == NULL && len))
		return -EINVAL;
	if ((err = hmac_stream_new(key, key_len, &h)) == 0 &&
	    (err = hmac_stream_update(h, data, len)) == 0)
		return hmac_stream_final(h, out);   /* frees h, cleanses on error */
	hmac_stream_free(h);
	OPENSSL_cleanse(out, SHA256_LEN);
	return err;
}

/* FIPS 180-4 SHA-256.  Return: 0, -EINVAL or -EIO. */
int sha256(const uint8_t *data, size_t len, uint8_t out[COFFRE_SHA256_LEN])
{
	unsigned int outl = 0;

	if (out == NULL || (data == NULL && len))
		return -EINVAL;
	kdf_ensure_init();
	if (sha256_impl == NULL)
		return -EIO;
	if (!EVP_Digest(nonnull(data), len, out, &outl, sha256_impl, NULL) ||
	    outl != SHA256_LEN)
		return -EIO;
	return 0;
}
