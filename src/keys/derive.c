/*
 * derive.c — every key coffre derives, from one table of HKDF info strings
 * (HKDF-SHA256, RFC 5869), as fscrypt keeps its own.
 *
 * Directory keys (DEKs) and the root DEK never leave src/keys: callers get
 * only the derived key they need, in locked memory (OpenSSL's secure heap),
 * and give it back with derived_key_free() or aead_key_free(), which wipe
 * it.  Bytes are exactly those of FORMAT-v1.md §8 and, for format 2,
 * FORMAT.md §11: changing an info string changes every derived key, so
 * the table is part of the format.
 */
#include <errno.h>
#include <string.h>

#include "keys_private.h"

static const char *const kdf_info[] = {
	[KDF_CONTENT] = "coffre/v1/content",
	[KDF_NAMES] = "coffre/v1/names",
	[KDF_CONFIG] = "coffre/v1/config",
	[KDF_SYMLINK] = "coffre/v1/symlink",
	[KDF_XATTR] = "coffre/v1/xattr",
	[KDF_MANIFEST] = "coffre/v1/manifest",
	[KDF_ESCROW] = "coffre/v1/escrow",
	[KDF_OBJECT] = "coffre/v2/object",
	[KDF_DIR_META] = "coffre/v2/dir",
	[KDF_XATTR2] = "coffre/v2/xattr",
	[KDF_CONFIG2] = "coffre/v2/config",
	[KDF_TABLE] = "coffre/v2/table",
	[KDF_REPLICA] = "coffre/v2/replica",
};

int keys_kdf(enum keys_kdf purpose, const uint8_t *ikm, size_t ikm_len,
	     const uint8_t *salt, size_t salt_len, const uint8_t *info_tail,
	     size_t tail_len, uint8_t *out, size_t out_len)
{
	uint8_t info[KDF_INFO_MAX];
	size_t len = strlen(kdf_info[purpose]);
	int err;

	if (len + tail_len > sizeof(info))
		return -EINVAL;
	memcpy(info, kdf_info[purpose], len);
	if (tail_len)
		memcpy(info + len, info_tail, tail_len);
	err = hkdf_sha256(ikm, ikm_len, salt, salt_len, info, len + tail_len,
			  out, out_len);
	secmem_wipe(info, sizeof(info));
	return err;
}

void derived_key_free(struct derived_key *k)
{
	secmem_free(k, sizeof(*k));
}

/* A derived key of len bytes from a cached DEK. */
static int from_dek(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		    uint32_t version, enum keys_kdf purpose,
		    const uint8_t *salt, size_t salt_len, size_t len,
		    struct derived_key **out)
{
	struct derived_key *k = secmem_alloc(sizeof(*k));
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	int err = k && dek ? keyring_dek(kr, dir_id, version, dek) : -ENOMEM;

	if (!err)
		err = keys_kdf(purpose, dek, COFFRE_KEY_LEN, salt, salt_len, NULL,
			       0, k->key, len);
	secmem_free(dek, COFFRE_KEY_LEN);
	if (err) {
		derived_key_free(k);
		return err;
	}
	k->len = len;
	*out = k;
	return 0;
}

int keyring_file_key(struct keyring *kr, const struct file_header *h,
		     struct aead_key **out)
{
	uint8_t hdr[COFFRE_FILE_HEADER_LEN];
	struct aead_key *k = aead_key_new();
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	int err = k && dek ? keyring_dek(kr, h->dir_id, h->dek_version, dek) :
		  -ENOMEM;

	if (!err) {
		file_header_write(h, hdr);
		err = keys_kdf(KDF_CONTENT, dek, COFFRE_KEY_LEN, h->file_id,
			       COFFRE_ID_LEN, hdr, sizeof(hdr), k->key,
			       COFFRE_KEY_LEN);
	}
	secmem_free(dek, COFFRE_KEY_LEN);
	if (err) {
		aead_key_free(k);
		return err;
	}
	aead_key_init(k);
	*out = k;
	return 0;
}

int keyring_symlink_key(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
			uint32_t version, struct derived_key **out)
{
	return from_dek(kr, dir_id, version, KDF_SYMLINK, NULL, 0, COFFRE_KEY_LEN,
			out);
}

int keyring_xattr_keys(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		       const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		       struct derived_key **out)
{
	return from_dek(kr, dir_id, version, KDF_XATTR, id, COFFRE_ID_LEN,
			COFFRE_XATTR_KEYS_LEN, out);
}

int volume_manifest_key(struct volume *v, struct derived_key **out)
{
	return from_dek(v->keys, v->conf.root_id, 1, KDF_MANIFEST, NULL, 0,
			COFFRE_KEY_LEN, out);
}

/* ---- format 2 (FORMAT.md §11) */

int keyring_object_keys(struct keyring *kr, const struct obj_header *h,
			struct aead_key **content, struct derived_key **meta_map)
{
	uint8_t hdr[V2_OBJ_HEADER_LEN], *okm = secmem_alloc(KEYS_OBJECT_LEN);
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	struct derived_key *mm = secmem_alloc(sizeof(*mm));
	struct aead_key *ck = aead_key_new();
	int err = okm && dek && mm && ck ?
		  keyring_dek(kr, h->dir_id, h->dek_version, dek) : -ENOMEM;

	if (!err) {
		obj_header_write(h, hdr);
		err = keys_kdf(KDF_OBJECT, dek, COFFRE_KEY_LEN, h->file_id,
			       COFFRE_ID_LEN, hdr, sizeof(hdr), okm,
			       KEYS_OBJECT_LEN);
	}
	if (!err) {
		memcpy(ck->key, okm, COFFRE_KEY_LEN);
		aead_key_init(ck);
		memcpy(mm->key, okm + COFFRE_KEY_LEN, 2 * COFFRE_KEY_LEN);
		mm->len = 2 * COFFRE_KEY_LEN;
		*content = ck;
		*meta_map = mm;
		ck = NULL;
		mm = NULL;
	}
	secmem_free(okm, KEYS_OBJECT_LEN);
	secmem_free(dek, COFFRE_KEY_LEN);
	aead_key_free(ck);
	derived_key_free(mm);
	return err;
}

int keyring_dir_meta_key(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
			 struct derived_key **out)
{
	return from_dek(kr, dir_id, 1, KDF_DIR_META, dir_id, COFFRE_ID_LEN,
			COFFRE_KEY_LEN, out);
}

int keyring_xattr2_key(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		       const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		       struct derived_key **out)
{
	return from_dek(kr, dir_id, version, KDF_XATTR2, id, COFFRE_ID_LEN,
			COFFRE_KEY_LEN, out);
}

int keyring_root_key(struct keyring *kr, const uint8_t root_id[COFFRE_ID_LEN],
		     enum keys_root_purpose purpose, struct derived_key **out)
{
	static const enum keys_kdf kdf[] = {
		[KEYS_ROOT_CONFIG] = KDF_CONFIG2,
		[KEYS_ROOT_TABLE] = KDF_TABLE,
		[KEYS_ROOT_REPLICA] = KDF_REPLICA,
	};

	if ((unsigned)purpose >= sizeof(kdf) / sizeof(kdf[0]))
		return -EINVAL;
	return from_dek(kr, root_id, 1, kdf[purpose], NULL, 0, COFFRE_KEY_LEN, out);
}
