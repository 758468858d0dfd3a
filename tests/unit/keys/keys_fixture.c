/*
 * Test fixture and OpenSSL references for the keys tests (see
 * keys_fixture.h).  The master key is imported from bytes the test keeps so
 * every sealed record can be opened a second way, with OpenSSL's AES-GCM
 * (NIST SP 800-38D), without the code under test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "keys_fixture.h"

struct kfx kfx;

void kfx_import_mk(uint32_t version, uint8_t mk[COFFRE_KEY_LEN])
{
	char label[COFFRE_MK_LABEL_MAX];

	ref_random(mk, COFFRE_KEY_LEN);
	mk_label(kfx.uuid, version, label);
	cr_assert_eq(hsm_import_key(fx_hsm, label, mk), 0, "import %s", label);
}

void kfx_init(void)
{
	const char *uris[1];
	char label[COFFRE_MK_LABEL_MAX], err[256] = "";
	uint8_t kcv[8];
	bool degraded = true;
	int ret;

	fx_token_open();
	ref_random(kfx.uuid, sizeof(kfx.uuid));
	kfx_import_mk(1, kfx.mk);
	mk_label(kfx.uuid, 1, label);
	cr_assert_eq(hsm_kcv(fx_hsm, label, kcv), 0);
	uris[0] = fx_uri;
	ret = hsm_pool_open(uris, 1, TEST_PIN, strlen(TEST_PIN), label, kcv,
			    &kfx.pool, &degraded, err, sizeof(err));
	cr_assert_eq(ret, 0, "hsm_pool_open: %d %s", ret, err);
	cr_assert_not(degraded);
	cr_assert_lt(snprintf(kfx.keys, sizeof(kfx.keys), "%s/keys",
			      fx_softhsm.dir), (int)sizeof(kfx.keys));
	cr_assert_eq(mkdir(kfx.keys, 0700), 0);
	kfx.keys_fd = open(kfx.keys, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(kfx.keys_fd, 0);
}

void kfx_fini(void)
{
	hsm_pool_close(kfx.pool);
	kfx.pool = NULL;
	if (kfx.keys_fd >= 0)
		close(kfx.keys_fd);
	kfx.keys_fd = -1;
	fx_teardown();
}

int ref_gcm_open(const uint8_t key[32], const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *in,
		 size_t in_len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t len = in_len - 16;
	int n = 0, fin = 0, ok;

	ok = ctx && in_len >= 16 &&
	     EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) &&
	     EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) &&
	     EVP_DecryptUpdate(ctx, out, &n, in, (int)len) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
				 (void *)(in + len)) &&
	     EVP_DecryptFinal_ex(ctx, out + n, &fin) > 0;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int ref_unseal(const uint8_t mk[COFFRE_KEY_LEN], const struct key_record *r,
	       uint8_t dek[COFFRE_KEY_LEN])
{
	uint8_t aad[COFFRE_KEYREC_HDR_LEN];

	keyrec_aad(r, aad);
	return ref_gcm_open(mk, r->iv, aad, sizeof(aad), r->sealed,
			    sizeof(r->sealed), dek);
}

int ref_unseal_file(const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		    uint8_t dek[COFFRE_KEY_LEN])
{
	uint8_t buf[COFFRE_KEYREC_LEN];
	struct key_record r;
	char path[PATH_MAX];

	record_path(kfx.keys, dir_id, version, path);
	if (get_file(path, buf, sizeof(buf)) != sizeof(buf) ||
	    keyrec_parse(buf, sizeof(buf), &r))
		return -1;
	return ref_unseal(kfx.mk, &r, dek);
}

void ref_hkdf_full(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		   size_t salt_len, const uint8_t *info, size_t info_len,
		   uint8_t *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	char digest[] = "SHA256";
	OSSL_PARAM p[5], *q = p;

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
						 ikm_len);
	if (salt_len)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt, salt_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
						 info_len);
	*q = OSSL_PARAM_construct_end();
	cr_assert_not_null(ctx);
	cr_assert_eq(EVP_KDF_derive(ctx, out, len, p), 1);
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
}

void ref_hkdf(const uint8_t *ikm, size_t ikm_len, const char *info,
	      uint8_t *out, size_t len)
{
	ref_hkdf_full(ikm, ikm_len, NULL, 0, (const uint8_t *)info, strlen(info),
		      out, len);
}

int name_key_copy(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		  uint8_t out[COFFRE_SIV_KEY_LEN])
{
	struct derived_key *k;
	int err = keyring_name_key(kr, dir_id, &k);

	if (err)
		return err;
	cr_assert_eq(k->len, COFFRE_SIV_KEY_LEN);
	memcpy(out, k->key, COFFRE_SIV_KEY_LEN);
	derived_key_free(k);
	return 0;
}

void record_path(const char *dir, const uint8_t dir_id[COFFRE_ID_LEN],
		 uint32_t version, char out[PATH_MAX])
{
	char hex[2 * COFFRE_ID_LEN + 1];
	size_t i;

	/* Formatted here byte by byte, not with the code under test. */
	for (i = 0; i < COFFRE_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", dir_id[i]);
	cr_assert_lt(snprintf(out, PATH_MAX, "%s/%s.%u", dir, hex, version),
		     PATH_MAX);
}

void put_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(fchmod(fd, mode), 0);
	if (len)
		cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	cr_assert_eq(close(fd), 0);
}

size_t get_file(const char *path, void *buf, size_t cap)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, cap);
	close(fd);
	cr_assert_geq(n, 0);
	return (size_t)n;
}

size_t dir_count(const char *dir, const char *prefix, size_t *with_prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, p = 0;

	cr_assert_not_null(d, "opendir %s", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (prefix && !strncmp(de->d_name, prefix, strlen(prefix)))
			p++;
	}
	closedir(d);
	if (with_prefix)
		*with_prefix = p;
	return n;
}
