/*
 * derive.c: every key handed out of src/keys, recomputed independently
 * with OpenSSL's HKDF-SHA256 (RFC 5869, EVP_KDF) from the DEK as OpenSSL
 * opens its record with the master key's bytes: content, symlink, xattr
 * and manifest keys, their sizes, and that each lives in locked memory
 * (OpenSSL's secure heap).
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/crypto.h>

#include "keys_fixture.h"

/* As the daemon does at start: a secure heap, then the fixture. */
static void init(void)
{
	cr_assert_eq(secmem_init(1u << 16), 0);
	kfx_init();
}

TestSuite(derive, .init = init, .fini = kfx_fini, .timeout = 240);

static struct keyring *ring_with_dir(uint8_t id[COFFRE_ID_LEN],
				     uint8_t dek[COFFRE_KEY_LEN])
{
	struct keyring *kr = keyring_new(kfx.pool, kfx.keys_fd, kfx.uuid, 1, 8);

	cr_assert_not_null(kr);
	cr_assert_eq(keyring_new_dir(kr, id), 0);
	cr_assert_eq(ref_unseal_file(id, 1, dek), 0);
	return kr;
}

Test(derive, file_key_is_hkdf_of_dek_file_id_and_header)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], want[32];
	uint8_t info[17 + COFFRE_FILE_HEADER_LEN];
	struct keyring *kr = ring_with_dir(id, dek);
	struct file_header h = { .version = COFFRE_FORMAT_VERSION,
				 .seg_size = COFFRE_SEG_DEFAULT, .dek_version = 1 };
	struct aead_key *k, *k2;

	memcpy(h.dir_id, id, COFFRE_ID_LEN);
	memset(h.file_id, 0xa5, COFFRE_ID_LEN);
	memcpy(info, "coffre/v1/content", 17);
	file_header_write(&h, info + 17);
	ref_hkdf_full(dek, sizeof(dek), h.file_id, COFFRE_ID_LEN, info,
		      sizeof(info), want, sizeof(want));
	cr_assert_eq(keyring_file_key(kr, &h, &k), 0);
	cr_assert_arr_eq(k->key, want, 32);
	cr_assert_neq(k->id, 0);
	cr_assert(CRYPTO_secure_allocated(k), "the key is in locked memory");

	/* Any header field changes the key; the same header, the same key
	 * under a new id. */
	h.flags = COFFRE_HDR_STRICT_HOLES;
	cr_assert_eq(keyring_file_key(kr, &h, &k2), 0);
	cr_assert_arr_neq(k2->key, want, 32);
	aead_key_free(k2);
	h.flags = 0;
	cr_assert_eq(keyring_file_key(kr, &h, &k2), 0);
	cr_assert_arr_eq(k2->key, want, 32);
	cr_assert_neq(k2->id, k->id);
	aead_key_free(k2);

	/* A DEK version without a record: no key. */
	h.dek_version = 2;
	k2 = NULL;
	cr_assert_eq(keyring_file_key(kr, &h, &k2), -EIO);
	cr_assert_null(k2);
	aead_key_free(k);
	keyring_free(kr);
}

Test(derive, symlink_and_xattr_keys)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], obj[COFFRE_ID_LEN];
	uint8_t want[COFFRE_XATTR_KEYS_LEN];
	struct keyring *kr = ring_with_dir(id, dek);
	struct derived_key *k;

	ref_hkdf(dek, sizeof(dek), "coffre/v1/symlink", want, 32);
	cr_assert_eq(keyring_symlink_key(kr, id, 1, &k), 0);
	cr_assert_eq(k->len, 32);
	cr_assert_arr_eq(k->key, want, 32);
	cr_assert(CRYPTO_secure_allocated(k));
	derived_key_free(k);

	memset(obj, 0x3c, sizeof(obj));
	ref_hkdf_full(dek, sizeof(dek), obj, sizeof(obj),
		      (const uint8_t *)"coffre/v1/xattr", 15, want, sizeof(want));
	cr_assert_eq(keyring_xattr_keys(kr, obj, id, 1, &k), 0);
	cr_assert_eq(k->len, COFFRE_XATTR_KEYS_LEN);
	cr_assert_arr_eq(k->key, want, sizeof(want));
	derived_key_free(k);

	/* A directory's own xattrs: its id is the identity. */
	ref_hkdf_full(dek, sizeof(dek), id, COFFRE_ID_LEN,
		      (const uint8_t *)"coffre/v1/xattr", 15, want, sizeof(want));
	cr_assert_eq(keyring_xattr_keys(kr, id, id, 1, &k), 0);
	cr_assert_arr_eq(k->key, want, sizeof(want));
	derived_key_free(k);

	cr_assert_eq(keyring_symlink_key(kr, id, 2, &k), -EIO);
	keyring_free(kr);
}
