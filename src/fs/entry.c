/*
 * entry.c — entry names in the backing directories.
 *
 * A name is encrypted under its parent directory's name key with the
 * parent's id as associated data (crypto/names.c: zero padding to 32 bytes,
 * AES-256-SIV, base64url).  An encoding longer than 255 bytes is stored
 * under a hashed long name with a sidecar holding the full encoding
 * (format/longname.c).  A sidecar belongs to the name, not to the object:
 * it is written before the entry appears and removed after it goes.
 * Everything else named ".coffre*" is the filesystem's own and never shown
 * (format/layout.c name_is_internal).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coffre/io.h"
#include "fs.h"

int dir_keys_get(struct keyring *keys, struct inode *dir, struct dir_keys *k)
{
	int err = inode_dir_id(dir, k->id);

	k->name_key = NULL;
	return err ? err : keyring_name_key(keys, k->id, &k->name_key);
}

int dir_keys_at(struct keyring *keys, int dirfd, struct dir_keys *k)
{
	int err = store_dir_id(dirfd, k->id);

	k->name_key = NULL;
	return err ? err : keyring_name_key(keys, k->id, &k->name_key);
}

void dir_keys_wipe(struct dir_keys *k)
{
	derived_key_free(k->name_key);
	k->name_key = NULL;
}

int entry_name(const struct dir_keys *k, const char *name, struct backing_name *b)
{
	int len;

	if (strlen(name) > COFFRE_NAME_MAX)
		return -ENAMETOOLONG;
	len = name_encrypt(k->name_key->key, k->id, name, b->full, sizeof(b->full));
	if (len < 0)
		return len;
	b->is_long = name_is_long((size_t)len);
	if (!b->is_long) {
		memcpy(b->name, b->full, (size_t)len + 1);
		return 0;
	}
	len = name_long_hash(b->full, (size_t)len, b->name, sizeof(b->name));
	return len < 0 ? len : 0;
}

int entry_sidecar_write(int dirfd, const struct backing_name *b)
{
	char side[COFFRE_ENC_NAME_MAX + 8];
	size_t len = strlen(b->full);
	int fd, err = 0;

	if (!b->is_long)
		return 0;
	if (longname_sidecar_name(b->name, side, sizeof(side)))
		return -ENAMETOOLONG;
	fd = openat(dirfd, side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	err = io_write_full(fd, b->full, len);
	close(fd);
	return err;
}

void entry_sidecar_remove(int dirfd, const struct backing_name *b)
{
	char side[COFFRE_ENC_NAME_MAX + 8];

	if (!b->is_long || longname_sidecar_name(b->name, side, sizeof(side)))
		return;
	unlinkat(dirfd, side, 0);
}

bool entry_is_internal(const char *backing)
{
	return name_is_internal(backing);
}

int entry_plain(int dirfd, const struct dir_keys *k, const char *backing,
		char out[COFFRE_NAME_MAX + 1])
{
	char full[COFFRE_ENC_NAME_MAX + 1], side[COFFRE_ENC_NAME_MAX + 8];
	ssize_t n;

	if (!strcmp(backing, ".") || !strcmp(backing, "..")) {
		snprintf(out, COFFRE_NAME_MAX + 1, "%s", backing);
		return 0;
	}
	if (entry_is_internal(backing))
		return -ENOENT;
	if (!longname_is_entry(backing)) {
		n = name_decrypt(k->name_key->key, k->id, backing, strlen(backing), out,
				 COFFRE_NAME_MAX + 1);
		return n < 0 ? (int)n : 0;
	}
	if (longname_sidecar_name(backing, side, sizeof(side)))
		return -EBADMSG;
	n = io_read_small(dirfd, side, full, sizeof(full) - 1);
	/* The sidecar must be the one for this hashed name. */
	if (n <= 0 || longname_sidecar_check(backing, full, (size_t)n))
		return -EBADMSG;
	full[n] = '\0';
	n = name_decrypt(k->name_key->key, k->id, full, (size_t)n, out,
			 COFFRE_NAME_MAX + 1);
	return n < 0 ? (int)n : 0;
}
