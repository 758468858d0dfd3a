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

/* ---- format 2 (FORMAT.md §11) */

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	size_t k;

	cr_assert_eq(strlen(hex), 2 * len);
	for (k = 0; k < len; k++)
		cr_assert_eq(sscanf(hex + 2 * k, "%2hhx", &out[k]), 1);
}

/* Known answers computed with Python's hmac/hashlib (RFC 5869 written
 * out, independent of OpenSSL's HKDF) from DEK 00..1f, dir id 10..1f,
 * file id a5 x 16, and the fixed header of a regular native object with
 * 16 KiB segments under (dir id, version 1), written out byte by byte. */
Test(derive, v2_info_strings_known_answers)
{
	static const char hdr_hex[] =
		"4346524602010200000040000000040010111213141516171819"
		"1a1b1c1d1e1f00000001a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"
		"000000000000000000000000";
	static const struct {
		enum keys_kdf kdf;
		int salt;             /* 0 none, 1 dir id, 2 file id */
		size_t len;
		const char *hex;
	} kat[] = {
		{ KDF_DIR_META, 1, 32, "9ab476617f5b6d1c8425418a0558f42cf2e80582c580379a136e9339092f4cf4" },
		{ KDF_XATTR2, 2, 32, "3d2af72a5eb36f1ff801d8552df006cb443bb90413d2052a067397dbcaa14ca1" },
		{ KDF_CONFIG2, 0, 32, "4c8825d304120e0b18909306a0723b9af750efe46748a7f2f941a4f5612d85e3" },
		{ KDF_TABLE, 0, 32, "dd27c77d055343d2991cf564f52ba6e6c2863d2187399184f12ae609047b848f" },
		{ KDF_REPLICA, 0, 32, "5309031e66130f5bc9e037a0667baa33f96bbf7356040bf2f6c298afead3f7e8" },
	};
	uint8_t dek[32], dir_id[16], file_id[16], hdr[64], want[96], got[96];
	const uint8_t *salt[] = { NULL, dir_id, file_id };
	struct obj_header h;
	size_t k;

	for (k = 0; k < 32; k++)
		dek[k] = (uint8_t)k;
	for (k = 0; k < 16; k++)
		dir_id[k] = (uint8_t)(0x10 + k);
	memset(file_id, 0xa5, sizeof(file_id));
	unhex(hdr_hex, hdr, sizeof(hdr));
	/* The header is exactly what the format 2 writer gives. */
	cr_assert_eq(obj_header_parse(hdr, sizeof(hdr), &h), 0);
	cr_assert_arr_eq(h.dir_id, dir_id, 16);
	cr_assert_arr_eq(h.file_id, file_id, 16);

	unhex("0b72422bc60a963971cae4ebe98fddba7a6a668b3869cdcc56e9cdf097f5fd6b"
	      "3c50d2fc90fd7cf101977c95cb7923e91d6abcdec820d50db61c79e324325f1c"
	      "634b1c6cdb387c859b7578a26c0f93465054229ff231aaff5e3354d2607920b1",
	      want, 96);
	cr_assert_eq(keys_kdf(KDF_OBJECT, dek, 32, file_id, 16, hdr, 64, got, 96), 0);
	cr_assert_arr_eq(got, want, 96);
	for (k = 0; k < sizeof(kat) / sizeof(kat[0]); k++) {
		unhex(kat[k].hex, want, kat[k].len);
		cr_assert_eq(keys_kdf(kat[k].kdf, dek, 32, salt[kat[k].salt],
				      kat[k].salt ? 16 : 0, NULL, 0, got, kat[k].len), 0);
		cr_assert_arr_eq(got, want, kat[k].len, "purpose %d", (int)kat[k].kdf);
	}
}

/* Through the keyring: each key from the DEK its structure names, in
 * locked memory, and no two purposes alike. */
Test(derive, v2_keyring_keys)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], want[96], hdr[64];
	uint8_t info[16 + 64];
	struct keyring *kr = ring_with_dir(id, dek);
	struct obj_header h = { .kind = V2_KIND_REG, .layout = V2_LAYOUT_NATIVE,
				.seg_size = COFFRE_SEG_DEFAULT,
				.data_offset = V2_DATA_OFFSET, .dek_version = 1 };
	struct derived_key *mm, *k, *roots[3];
	struct aead_key *ck;
	int p;

	memcpy(h.dir_id, id, COFFRE_ID_LEN);
	memset(h.file_id, 0x5a, COFFRE_ID_LEN);
	obj_header_write(&h, hdr);
	memcpy(info, "coffre/v2/object", 16);
	memcpy(info + 16, hdr, 64);
	ref_hkdf_full(dek, sizeof(dek), h.file_id, COFFRE_ID_LEN, info,
		      sizeof(info), want, sizeof(want));
	cr_assert_eq(keyring_object_keys(kr, &h, &ck, &mm), 0);
	cr_assert_arr_eq(ck->key, want, 32, "content key: bytes 0..32");
	cr_assert_neq(ck->id, 0);
	cr_assert_eq(mm->len, 64);
	cr_assert_arr_eq(mm->key, want + 32, 64, "meta and map keys: 32..96");
	cr_assert(CRYPTO_secure_allocated(ck) && CRYPTO_secure_allocated(mm));
	aead_key_free(ck);
	derived_key_free(mm);
	/* The kind is in the header, so in the key. */
	h.kind = V2_KIND_SYMLINK;
	cr_assert_eq(keyring_object_keys(kr, &h, &ck, &mm), 0);
	cr_assert_arr_neq(ck->key, want, 32);
	aead_key_free(ck);
	derived_key_free(mm);
	h.dek_version = 2;      /* no such record */
	ck = NULL;
	mm = NULL;
	cr_assert_eq(keyring_object_keys(kr, &h, &ck, &mm), -EIO);
	cr_assert(!ck && !mm);

	ref_hkdf_full(dek, sizeof(dek), id, COFFRE_ID_LEN,
		      (const uint8_t *)"coffre/v2/dir", 13, want, 32);
	cr_assert_eq(keyring_dir_meta_key(kr, id, &k), 0);
	cr_assert_eq(k->len, 32);
	cr_assert_arr_eq(k->key, want, 32);
	derived_key_free(k);

	ref_hkdf_full(dek, sizeof(dek), h.file_id, COFFRE_ID_LEN,
		      (const uint8_t *)"coffre/v2/xattr", 15, want, 32);
	cr_assert_eq(keyring_xattr2_key(kr, h.file_id, id, 1, &k), 0);
	cr_assert_arr_eq(k->key, want, 32);
	derived_key_free(k);

	for (p = 0; p < 3; p++) {
		static const char *const info_of[] = { "coffre/v2/config",
			"coffre/v2/table", "coffre/v2/replica" };

		ref_hkdf_full(dek, sizeof(dek), NULL, 0, (const uint8_t *)info_of[p],
			      strlen(info_of[p]), want, 32);
		cr_assert_eq(keyring_root_key(kr, id, (enum keys_root_purpose)p,
					      &roots[p]), 0);
		cr_assert_eq(roots[p]->len, 32);
		cr_assert_arr_eq(roots[p]->key, want, 32, "%s", info_of[p]);
	}
	cr_assert_arr_neq(roots[0]->key, roots[1]->key, 32);
	cr_assert_arr_neq(roots[1]->key, roots[2]->key, 32);
	for (p = 0; p < 3; p++)
		derived_key_free(roots[p]);
	cr_assert_eq(keyring_root_key(kr, id, (enum keys_root_purpose)3, &k), -EINVAL);
	keyring_free(kr);
}
