/*
 * xattr.c — encrypted user.* extended attributes.
 *
 * Only the user namespace is offered, and only on regular files and
 * directories (as ext4 does).  Keys: HKDF-SHA256(DEK, salt = identity,
 * info "coffre/v1/xattr") gives 96 bytes: an AES-256-SIV key for names and
 * an AES-256-GCM key for values, where the identity is the file id of a
 * regular file (its DEK named by its header) or the id of a directory (its
 * own DEK).  A name "user.N" is stored as "user." + base64url(SIV(N)) with
 * the identity as associated data; a value as nonce || GCM(value) || tag
 * with AAD = identity || N, so a value moved to another name or file does
 * not open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"

#define USER_PREFIX "user."
#define PREFIX_LEN 5
#define XKEY_LEN (COFFRE_SIV_KEY_LEN + COFFRE_KEY_LEN)
#define XNAME_MAX 255
#define XVALUE_MAX 65536

struct xkeys {
	uint8_t id[COFFRE_ID_LEN];
	uint8_t key[XKEY_LEN];     /* SIV name key || GCM value key */
};

static int xkeys_get(struct inode *i, struct xkeys *x)
{
	uint8_t dek[COFFRE_KEY_LEN];
	struct file_header h;
	char path[64];
	int fd, err;

	if (i->type == S_IFDIR) {
		err = inode_dir_id(i, x->id);
		if (!err)
			err = keyring_dek(g_fs.vol->keys, x->id, 1, dek);
	} else if (i->type == S_IFREG) {
		inode_path(i, path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		err = store_read_header(fd, &h);
		close(fd);
		if (err)
			return -EIO;
		memcpy(x->id, h.file_id, COFFRE_ID_LEN);
		err = keyring_dek(g_fs.vol->keys, h.dir_id, h.dek_version, dek);
	} else {
		return -EPERM;
	}
	if (!err)
		err = hkdf_sha256(dek, sizeof(dek), x->id, COFFRE_ID_LEN,
				  (const uint8_t *)KDF_INFO_XATTR,
				  strlen(KDF_INFO_XATTR), x->key, sizeof(x->key));
	secmem_wipe(dek, sizeof(dek));
	return err;
}

static int user_name(const char *name, const char **rest)
{
	if (strncmp(name, USER_PREFIX, PREFIX_LEN))
		return -EOPNOTSUPP;
	*rest = name + PREFIX_LEN;
	if (!**rest)
		return -EINVAL;
	return 0;
}

/* "user." + base64url(SIV(rest)) */
static int backing_xname(const struct xkeys *x, const char *rest, char out[XNAME_MAX + 1])
{
	uint8_t buf[XNAME_MAX + COFFRE_TAG_LEN];
	size_t len = strlen(rest);
	int err;

	if (len > XNAME_MAX)
		return -ERANGE;
	err = siv_encrypt(x->key, COFFRE_SIV_KEY_LEN, x->id, COFFRE_ID_LEN,
			  (const uint8_t *)rest, len, buf);
	if (err)
		return err;
	memcpy(out, USER_PREFIX, PREFIX_LEN);
	err = b64url_encode(buf, len + COFFRE_TAG_LEN, out + PREFIX_LEN,
			    XNAME_MAX + 1 - PREFIX_LEN);
	return err < 0 ? -ERANGE : 0;
}

static int value_aad(const struct xkeys *x, const char *rest, uint8_t *aad)
{
	size_t len = strlen(rest);

	memcpy(aad, x->id, COFFRE_ID_LEN);
	memcpy(aad + COFFRE_ID_LEN, rest, len);
	return (int)(COFFRE_ID_LEN + len);
}

int xattr_set(struct inode *i, const char *name, const void *value,
	      size_t size, int flags)
{
	uint8_t aad[COFFRE_ID_LEN + XNAME_MAX], *sealed = NULL;
	char bname[XNAME_MAX + 1], path[64];
	const char *rest;
	struct xkeys x;
	int err;

	err = user_name(name, &rest);
	if (err)
		return err;
	if (size > XVALUE_MAX - COFFRE_SEG_OVERHEAD)
		return -E2BIG;
	err = xkeys_get(i, &x);
	if (!err)
		err = backing_xname(&x, rest, bname);
	if (err)
		goto out;
	sealed = malloc(size + COFFRE_SEG_OVERHEAD);
	if (!sealed) {
		err = -ENOMEM;
		goto out;
	}
	err = aead_seal(x.key + COFFRE_SIV_KEY_LEN, aad, (size_t)value_aad(&x, rest, aad),
			value, size, sealed);
	if (err)
		goto out;
	inode_path(i, path);
	if (setxattr(path, bname, sealed, size + COFFRE_SEG_OVERHEAD, flags))
		err = -errno;
out:
	free(sealed);
	secmem_wipe(&x, sizeof(x));
	return err;
}

ssize_t xattr_get(struct inode *i, const char *name, void *value, size_t size)
{
	uint8_t aad[COFFRE_ID_LEN + XNAME_MAX], *sealed = NULL, *plain = NULL;
	char bname[XNAME_MAX + 1], path[64];
	const char *rest;
	struct xkeys x;
	ssize_t n;
	int err;

	err = user_name(name, &rest);
	if (err)
		return err == -EOPNOTSUPP ? -ENODATA : err;
	err = xkeys_get(i, &x);
	if (err == -EPERM)
		return -ENODATA;
	if (!err)
		err = backing_xname(&x, rest, bname);
	if (err)
		goto out;
	sealed = malloc(XVALUE_MAX);
	plain = malloc(XVALUE_MAX);
	if (!sealed || !plain) {
		err = -ENOMEM;
		goto out;
	}
	inode_path(i, path);
	n = getxattr(path, bname, sealed, XVALUE_MAX);
	if (n < 0) {
		err = errno == ENODATA ? -ENODATA : -errno;
		goto out;
	}
	if (n < COFFRE_SEG_OVERHEAD ||
	    aead_open(x.key + COFFRE_SIV_KEY_LEN, aad,
		      (size_t)value_aad(&x, rest, aad), sealed, (size_t)n, plain)) {
		fprintf(stderr, "coffre: xattr value does not authenticate "
			"(backing inode %lu)\n", (unsigned long)i->ino);
		err = -EIO;
		goto out;
	}
	n -= COFFRE_SEG_OVERHEAD;
	if (size && (size_t)n > size)
		err = -ERANGE;
	else if (size)
		memcpy(value, plain, (size_t)n);
	if (!err)
		err = (int)n;
out:
	free(sealed);
	if (plain)
		secmem_wipe(plain, XVALUE_MAX);
	free(plain);
	secmem_wipe(&x, sizeof(x));
	return err;
}

ssize_t xattr_list(struct inode *i, char *list, size_t size)
{
	uint8_t dec[XNAME_MAX + COFFRE_TAG_LEN], pt[XNAME_MAX + 1];
	char *blist = NULL, path[64], *p;
	size_t total = 0, plen;
	struct xkeys x;
	ssize_t n;
	int err, dlen;

	if (i->type != S_IFREG && i->type != S_IFDIR)
		return 0;
	err = xkeys_get(i, &x);
	if (err)
		goto out;
	inode_path(i, path);
	n = listxattr(path, NULL, 0);
	if (n <= 0) {
		err = n < 0 ? -errno : 0;
		goto out;
	}
	blist = malloc((size_t)n + 1);
	if (!blist) {
		err = -ENOMEM;
		goto out;
	}
	n = listxattr(path, blist, (size_t)n);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	for (p = blist; p < blist + n; p += strlen(p) + 1) {
		if (strncmp(p, USER_PREFIX, PREFIX_LEN))
			continue;
		dlen = b64url_decode(p + PREFIX_LEN, strlen(p + PREFIX_LEN), dec,
				     sizeof(dec));
		if (dlen <= COFFRE_TAG_LEN ||
		    siv_decrypt(x.key, COFFRE_SIV_KEY_LEN, x.id, COFFRE_ID_LEN, dec,
				(size_t)dlen, pt)) {
			fprintf(stderr, "coffre: xattr name does not authenticate "
				"(backing inode %lu), skipped\n", (unsigned long)i->ino);
			continue;
		}
		plen = (size_t)dlen - COFFRE_TAG_LEN;
		if (memchr(pt, '\0', plen))
			continue;
		if (size) {
			if (total + PREFIX_LEN + plen + 1 > size) {
				err = -ERANGE;
				goto out;
			}
			memcpy(list + total, USER_PREFIX, PREFIX_LEN);
			memcpy(list + total + PREFIX_LEN, pt, plen);
			list[total + PREFIX_LEN + plen] = '\0';
		}
		total += PREFIX_LEN + plen + 1;
	}
	err = (int)total;
out:
	free(blist);
	secmem_wipe(&x, sizeof(x));
	return err;
}

int xattr_remove(struct inode *i, const char *name)
{
	char bname[XNAME_MAX + 1], path[64];
	const char *rest;
	struct xkeys x;
	int err;

	err = user_name(name, &rest);
	if (err)
		return err == -EOPNOTSUPP ? -ENODATA : err;
	err = xkeys_get(i, &x);
	if (!err)
		err = backing_xname(&x, rest, bname);
	if (!err) {
		inode_path(i, path);
		if (removexattr(path, bname))
			err = -errno;
	}
	secmem_wipe(&x, sizeof(x));
	return err;
}
