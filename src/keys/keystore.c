/*
 * keystore.c — sealed DEK records in .coffre/keys/<dir id hex>.<version>.
 *
 * A DEK is sealed with C_Encrypt(CKM_AES_GCM) under the master key inside
 * the HSM, with the record's 48-byte header (fs uuid, dir id, DEK version,
 * MK version) as AAD: the equivalent of a KMS encryption context, so a
 * record copied to another directory, volume or version does not unseal.
 * Records are written atomically (io_replace: temp file, fsync, rename,
 * fsync dir).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coffre/hsm.h"
#include "coffre/io.h"
#include "keys_private.h"

void mk_label(const uint8_t uuid[COFFRE_ID_LEN], uint32_t mk_version,
	      char out[COFFRE_MK_LABEL_MAX])
{
	char hex[2 * COFFRE_ID_LEN + 1];

	hex_encode(uuid, COFFRE_ID_LEN, hex);
	snprintf(out, COFFRE_MK_LABEL_MAX, "coffre-mk-%s-v%u", hex, mk_version);
}

int keyrec_seal(struct hsm_pool *h, const uint8_t uuid[COFFRE_ID_LEN],
		uint32_t mk_version, const uint8_t dir_id[COFFRE_ID_LEN],
		uint32_t dek_version, const uint8_t dek[COFFRE_KEY_LEN],
		struct key_record *out)
{
	uint8_t aad[COFFRE_KEYREC_HDR_LEN];
	char label[COFFRE_MK_LABEL_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	out->version = COFFRE_FORMAT_VERSION;
	memcpy(out->fs_uuid, uuid, COFFRE_ID_LEN);
	memcpy(out->dir_id, dir_id, COFFRE_ID_LEN);
	out->dek_version = dek_version;
	out->mk_version = mk_version;
	err = random_bytes(out->iv, sizeof(out->iv));
	if (err)
		return err;
	keyrec_aad(out, aad);
	mk_label(uuid, mk_version, label);
	return hsm_pool_gcm_seal(h, label, out->iv, aad, sizeof(aad), dek,
				 COFFRE_KEY_LEN, out->sealed);
}

int keyrec_unseal(struct hsm_pool *h, const struct key_record *r,
		  uint8_t dek[COFFRE_KEY_LEN])
{
	uint8_t aad[COFFRE_KEYREC_HDR_LEN];
	char label[COFFRE_MK_LABEL_MAX];

	keyrec_aad(r, aad);
	mk_label(r->fs_uuid, r->mk_version, label);
	return hsm_pool_gcm_open(h, label, r->iv, aad, sizeof(aad), r->sealed,
				 sizeof(r->sealed), dek);
}

int keystore_write(int keys_dirfd, const struct key_record *r)
{
	uint8_t buf[COFFRE_KEYREC_LEN];
	char name[64];

	keyrec_name_write(r->dir_id, r->dek_version, name);
	keyrec_write(r, buf);
	return io_replace(keys_dirfd, name, buf, sizeof(buf), 0600);
}

int keystore_read(int keys_dirfd, const uint8_t uuid[COFFRE_ID_LEN],
		  const uint8_t dir_id[COFFRE_ID_LEN], uint32_t dek_version,
		  struct key_record *out)
{
	uint8_t buf[COFFRE_KEYREC_LEN + 1];
	char name[64];
	ssize_t n;

	keyrec_name_write(dir_id, dek_version, name);
	n = io_read_small(keys_dirfd, name, buf, sizeof(buf));
	if (n == -EFBIG || n == -EINVAL)
		return -EIO;          /* too long, or not a regular file */
	if (n < 0)
		return (int)n;
	if (keyrec_parse(buf, (size_t)n, out))
		return -EIO;
	if (memcmp(out->fs_uuid, uuid, COFFRE_ID_LEN) ||
	    memcmp(out->dir_id, dir_id, COFFRE_ID_LEN) ||
	    out->dek_version != dek_version)
		return -EIO;
	return 0;
}

int keystore_destroy_dir(int keys_dirfd, const uint8_t dir_id[COFFRE_ID_LEN],
			 void (*gone)(const char *name, void *ctx), void *ctx)
{
	int fd = openat(keys_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	int n = 0, err = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!keyrec_name_of_dir(de->d_name, dir_id))
			continue;
		if (unlinkat(keys_dirfd, de->d_name, 0)) {
			err = -errno;
		} else {
			n++;
			if (gone)
				gone(de->d_name, ctx);
		}
	}
	closedir(d);
	if (!err && fsync(keys_dirfd))
		err = -errno;
	return err ? err : n;
}
