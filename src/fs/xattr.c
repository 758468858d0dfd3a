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
 * not open.  When that encoded name would not fit the backing 255-byte
 * limit (names over ~170 bytes), the attribute is stored under a hashed
 * name and its value carries the name (the record: format/xattr.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"

#define USER_PREFIX COFFRE_XATTR_PREFIX
#define PREFIX_LEN COFFRE_XATTR_PREFIX_LEN
#define XNAME_MAX COFFRE_XNAME_MAX
#define XVALUE_MAX COFFRE_XVALUE_MAX

struct xkeys {
	uint8_t id[COFFRE_ID_LEN];
	const uint8_t *key;        /* SIV name key || GCM value key (in dk) */
	struct derived_key *dk;    /* locked memory; xkeys_put frees */
};

/* The xattr keys of an object: its identity and the DEK that covers it. */
static int xkeys_derive(const uint8_t id[COFFRE_ID_LEN],
			const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
			struct xkeys *x)
{
	int err;

	memcpy(x->id, id, COFFRE_ID_LEN);
	x->key = NULL;
	err = keyring_xattr_keys(g_fs.keys, id, dir_id, version, &x->dk);
	if (err)
		x->dk = NULL;
	else
		x->key = x->dk->key;
	return err;
}

static void xkeys_put(struct xkeys *x)
{
	derived_key_free(x->dk);
	x->dk = NULL;
	x->key = NULL;
}

static int xkeys_get(struct inode *i, struct xkeys *x)
{
	uint8_t id[COFFRE_ID_LEN];
	struct file_header h;
	char path[64];
	int fd, err;

	x->dk = NULL;
	if (i->type == S_IFDIR) {
		err = inode_dir_id(i, id);
		return err ? err : xkeys_derive(id, id, 1, x);
	}
	if (i->type != S_IFREG)
		return -EPERM;
	inode_path(i, path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = store_read_header(fd, &h);
	close(fd);
	if (err)
		return -EIO;
	return xkeys_derive(h.file_id, h.dir_id, h.dek_version, x);
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

/* A user name's encrypted forms: its SIV and the backing xattr name. */
struct xname {
	char backing[XNAME_MAX + 1];
	uint8_t siv[COFFRE_XATTR_SIV_MAX];
	size_t siv_len;
	bool is_long;
};

static int backing_xname(const struct xkeys *x, const char *rest, struct xname *n)
{
	size_t len = strlen(rest);
	int err;

	if (len > XNAME_MAX)
		return -ERANGE;
	err = siv_encrypt(x->key, COFFRE_SIV_KEY_LEN, x->id, COFFRE_ID_LEN,
			  (const uint8_t *)rest, len, n->siv);
	if (err)
		return err;
	n->siv_len = len + COFFRE_TAG_LEN;
	return xattr_name_write(n->siv, n->siv_len, n->backing, &n->is_long);
}

/* The prefix a long-form value carries: u16be(len) || SIV(N). */
static size_t long_prefix_len(const struct xname *n)
{
	return xattr_value_prefix_len(n->siv_len, n->is_long);
}

static int value_aad(const struct xkeys *x, const char *rest, uint8_t *aad)
{
	return xattr_value_aad(x->id, rest, strlen(rest), aad);
}

static int xa_set(const char *path, const struct xkeys *x, const char *name,
		  const void *value, size_t size, int flags)
{
	uint8_t aad[COFFRE_XATTR_AAD_MAX], *stored = NULL;
	const char *rest;
	struct xname n;
	size_t pre;
	int err;

	err = user_name(name, &rest);
	if (!err)
		err = backing_xname(x, rest, &n);
	if (err)
		goto out;
	pre = long_prefix_len(&n);
	if (size > XVALUE_MAX - COFFRE_SEG_OVERHEAD - pre) {
		err = -E2BIG;
		goto out;
	}
	stored = malloc(pre + size + COFFRE_SEG_OVERHEAD);
	if (!stored) {
		err = -ENOMEM;
		goto out;
	}
	if (pre)
		xattr_value_prefix_write(n.siv, n.siv_len, stored);
	err = aead_seal(x->key + COFFRE_SIV_KEY_LEN, aad,
			(size_t)value_aad(x, rest, aad), value, size, stored + pre);
	if (err)
		goto out;
	if (setxattr(path, n.backing, stored, pre + size + COFFRE_SEG_OVERHEAD, flags))
		err = -errno;
out:
	free(stored);
	return err;
}

static ssize_t xa_get(const char *path, const struct xkeys *x, const char *name,
		      void *value, size_t size)
{
	uint8_t aad[COFFRE_XATTR_AAD_MAX], *sealed = NULL, *plain = NULL;
	const char *rest;
	struct xname xn;
	size_t pre;
	ssize_t n;
	int err;

	err = user_name(name, &rest);
	if (err)
		return err == -EOPNOTSUPP ? -ENODATA : err;
	err = backing_xname(x, rest, &xn);
	if (err)
		goto out;
	pre = long_prefix_len(&xn);
	sealed = malloc(XVALUE_MAX);
	plain = malloc(XVALUE_MAX);
	if (!sealed || !plain) {
		err = -ENOMEM;
		goto out;
	}
	n = getxattr(path, xn.backing, sealed, XVALUE_MAX);
	if (n < 0) {
		err = errno == ENODATA ? -ENODATA : -errno;
		goto out;
	}
	if ((size_t)n < pre + COFFRE_SEG_OVERHEAD ||
	    (pre && xattr_value_prefix_check(sealed, (size_t)n, xn.siv, xn.siv_len)) ||
	    aead_open(x->key + COFFRE_SIV_KEY_LEN, aad,
		      (size_t)value_aad(x, rest, aad), sealed + pre, (size_t)n - pre,
		      plain)) {
		char *cp = realpath(path, NULL);

		log_tampered(LOG_ERR, "%s: xattr value does not authenticate",
			     cp ? cp : "?");
		free(cp);
		err = -EIO;
		goto out;
	}
	n -= (ssize_t)(pre + COFFRE_SEG_OVERHEAD);
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
	return err;
}

/* The SIV of a listed backing name: decoded from a short name, or read
 * from the value of a long one (and checked against its hash).  Returns
 * the SIV length, or a negative errno for entries to skip. */
static int listed_siv(const char *path, const char *bname, uint8_t *siv,
		      uint8_t *scratch)
{
	ssize_t n = 0;
	size_t pre;

	if (xattr_name_is_long(bname)) {
		n = getxattr(path, bname, scratch, XVALUE_MAX);
		if (n < 0)
			return -EBADMSG;
	}
	return xattr_name_siv(bname, scratch, (size_t)n, siv, &pre);
}

static ssize_t xa_list(const char *path, const struct xkeys *x, char *list,
		       size_t size)
{
	uint8_t siv[COFFRE_XATTR_SIV_MAX], pt[XNAME_MAX + 1], *scratch = NULL;
	char *blist = NULL, *p;
	size_t total = 0, plen;
	ssize_t n;
	int err, slen;

	n = listxattr(path, NULL, 0);
	if (n <= 0) {
		err = n < 0 ? -errno : 0;
		goto out;
	}
	blist = malloc((size_t)n + 1);
	scratch = malloc(XVALUE_MAX);
	if (!blist || !scratch) {
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
		slen = listed_siv(path, p, siv, scratch);
		if (slen < 0 ||
		    siv_decrypt(x->key, COFFRE_SIV_KEY_LEN, x->id, COFFRE_ID_LEN, siv,
				(size_t)slen, pt)) {
			log_tampered(LOG_WARNING, "an xattr name does not "
				     "authenticate, skipped");
			continue;
		}
		plen = (size_t)slen - COFFRE_TAG_LEN;
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
	free(scratch);
	return err;
}

int xattr_set(struct inode *i, const char *name, const void *value,
	      size_t size, int flags)
{
	struct xkeys x;
	char path[64];
	int err;

	if (strncmp(name, USER_PREFIX, PREFIX_LEN))
		return -EOPNOTSUPP;
	inode_meta_lock(i);
	err = xkeys_get(i, &x);
	inode_path(i, path);
	if (!err)
		err = xa_set(path, &x, name, value, size, flags);
	inode_meta_unlock(i);
	xkeys_put(&x);
	return err;
}

ssize_t xattr_get(struct inode *i, const char *name, void *value, size_t size)
{
	struct xkeys x;
	char path[64];
	ssize_t n;
	int err;

	/* Answered before any I/O: the kernel asks for security.capability
	 * before every write(2) to a file. */
	if (strncmp(name, USER_PREFIX, PREFIX_LEN))
		return -ENODATA;
	inode_meta_lock(i);
	err = xkeys_get(i, &x);
	inode_path(i, path);
	if (err)
		n = err == -EPERM ? -ENODATA : err;
	else
		n = xa_get(path, &x, name, value, size);
	inode_meta_unlock(i);
	xkeys_put(&x);
	return n;
}

ssize_t xattr_list(struct inode *i, char *list, size_t size)
{
	struct xkeys x;
	char path[64];
	ssize_t n;
	int err;

	if (i->type != S_IFREG && i->type != S_IFDIR)
		return 0;
	inode_meta_lock(i);
	err = xkeys_get(i, &x);
	inode_path(i, path);
	n = err ? err : xa_list(path, &x, list, size);
	inode_meta_unlock(i);
	xkeys_put(&x);
	return n;
}

int xattr_rekey(const char *from, const struct file_header *oh, const char *to,
		const struct file_header *nh)
{
	struct xkeys ox = { .dk = NULL }, nx = { .dk = NULL };
	char *list = NULL, *name;
	uint8_t *value = malloc(XVALUE_MAX);
	ssize_t n, v;
	int err;

	err = value ? xkeys_derive(oh->file_id, oh->dir_id, oh->dek_version, &ox) :
		      -ENOMEM;
	if (!err)
		err = xkeys_derive(nh->file_id, nh->dir_id, nh->dek_version, &nx);
	n = err ? err : xa_list(from, &ox, NULL, 0);
	if (n <= 0) {
		err = (int)n;
		goto out;
	}
	list = malloc((size_t)n);
	n = list ? xa_list(from, &ox, list, (size_t)n) : -ENOMEM;
	for (name = list; n > 0 && name < list + n && !err; name += strlen(name) + 1) {
		v = xa_get(from, &ox, name, value, XVALUE_MAX);
		err = v < 0 ? (int)v : xa_set(to, &nx, name, value, (size_t)v, 0);
	}
	if (n < 0)
		err = (int)n;
out:
	free(list);
	if (value)
		secmem_wipe(value, XVALUE_MAX);
	free(value);
	xkeys_put(&ox);
	xkeys_put(&nx);
	return err;
}

int xattr_remove(struct inode *i, const char *name)
{
	char path[64];
	const char *rest;
	struct xkeys x;
	struct xname n;
	int err;

	err = user_name(name, &rest);
	if (err)
		return err == -EOPNOTSUPP ? -ENODATA : err;
	inode_meta_lock(i);
	err = xkeys_get(i, &x);
	if (!err)
		err = backing_xname(&x, rest, &n);
	if (!err) {
		inode_path(i, path);
		if (removexattr(path, n.backing))
			err = -errno;
	}
	inode_meta_unlock(i);
	xkeys_put(&x);
	return err;
}
