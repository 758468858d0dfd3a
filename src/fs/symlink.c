/*
 * symlink.c — encrypted symlink targets.
 *
 * A target is sealed with AES-256-GCM (crypto/aead.c) under
 * HKDF-SHA256(DEK, info "coffre/v1/symlink") of the directory it is created
 * in, with AAD = the blob's header dir id || u32be(DEK version); the blob
 * (format/symlink.c) names its own key, so renames and hard links across
 * directories keep working.  The backing symlink's target is
 * base64url(blob).  When that would exceed the backing filesystem's limit
 * (PATH_MAX − 1) the blob is kept in a sidecar .coffre/symlinks/<random
 * hex> and the backing target is "@<hex>", so targets up to PATH_MAX − 1
 * work.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "fs.h"

static int sidecar_dir(void)
{
	int fd = io_open_dir(g_fs.root_fd, COFFRE_SYMLINK_DIR), err;

	if (fd == -ENOENT) {
		err = io_mkdir_beneath(g_fs.root_fd, COFFRE_SYMLINK_DIR, 0700);
		if (err && err != -EEXIST)
			return err;
		fd = io_open_dir(g_fs.root_fd, COFFRE_SYMLINK_DIR);
	}
	return fd;
}

int symlink_create(int dirfd, const char *name, struct inode *dir,
		   const char *target)
{
	uint8_t *blob = NULL, rid[COFFRE_SYMLINK_ID_LEN];
	struct derived_key *key = NULL;
	char *enc = NULL, hex[COFFRE_SYMLINK_ID_HEX + 1];
	size_t tlen = strlen(target), blen;
	struct symlink_hdr h;
	int err, sfd = -1, fd;

	if (tlen == 0)
		return -ENOENT;
	if (tlen > COFFRE_SYMLINK_TARGET_MAX)
		return -ENAMETOOLONG;
	blob = malloc(COFFRE_SYMLINK_BLOB_MAX);
	enc = malloc(COFFRE_SYMLINK_ENC_MAX);
	if (!blob || !enc) {
		err = -ENOMEM;
		goto out;
	}
	err = inode_dir_id(dir, h.dir_id);
	if (!err)
		err = keyring_current_version(g_fs.keys, h.dir_id, &h.dek_version);
	if (!err)
		err = keyring_symlink_key(g_fs.keys, h.dir_id, h.dek_version,
					  &key);
	if (err)
		goto out;
	symlink_hdr_write(&h, blob);
	err = aead_seal(key->key, blob, COFFRE_SYMLINK_HDR_LEN, (const uint8_t *)target,
			tlen, blob + COFFRE_SYMLINK_HDR_LEN);
	if (err)
		goto out;
	blen = COFFRE_SYMLINK_HDR_LEN + tlen + COFFRE_SEG_OVERHEAD;
	err = symlink_target_write(blob, blen, enc, COFFRE_SYMLINK_ENC_MAX);
	if (err == -ENAMETOOLONG) {
		/* Too long for the backing filesystem: keep the blob aside. */
		err = random_bytes(rid, sizeof(rid));
		if (err)
			goto out;
		symlink_id_write(rid, hex);
		sfd = sidecar_dir();
		if (sfd < 0) {
			err = sfd;
			goto out;
		}
		fd = openat(sfd, hex, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = -errno;
			goto out;
		}
		err = io_write_full(fd, blob, blen);
		if (!err && fsync(fd))
			err = -errno;
		close(fd);
		if (err)
			goto out_unlink;
		symlink_target_write_sidecar(rid, enc);
	} else if (err < 0) {
		goto out;
	}
	err = symlinkat(enc, dirfd, name) ? -errno : 0;
	if (!err && sfd >= 0)
		note_at(sfd, hex);
out_unlink:
	if (err && sfd >= 0)
		unlinkat(sfd, hex, 0);
out:
	if (sfd >= 0)
		close(sfd);
	derived_key_free(key);
	free(blob);
	free(enc);
	return err < 0 ? err : 0;
}

/* The blob behind a backing symlink: inline (base64url) or from a sidecar. */
static ssize_t read_blob(int fd, uint8_t *blob, size_t cap)
{
	char link[PATH_MAX + 1];
	ssize_t n = readlinkat(fd, "", link, sizeof(link) - 1);
	struct symlink_target t;
	int sfd;

	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (symlink_target_parse(link, (size_t)n, blob, cap, &t))
		return -EIO;
	if (!t.sidecar)
		return (ssize_t)t.blob_len;
	sfd = sidecar_dir();
	if (sfd < 0)
		return -EIO;
	n = io_read_small(sfd, link + 1, blob, cap);
	close(sfd);
	return n < 0 ? -EIO : n;
}

int symlink_read(int fd, char *out, size_t cap)
{
	uint8_t *blob = malloc(COFFRE_SYMLINK_BLOB_MAX);
	struct derived_key *key = NULL;
	struct symlink_hdr h;
	ssize_t n;
	int err;

	if (!blob)
		return -ENOMEM;
	n = read_blob(fd, blob, COFFRE_SYMLINK_BLOB_MAX);
	if (n < 0 || symlink_blob_parse(blob, (size_t)n, &h) ||
	    (size_t)n - COFFRE_SYMLINK_OVERHEAD >= cap) {
		err = -EIO;
		goto out;
	}
	err = keyring_symlink_key(g_fs.keys, h.dir_id, h.dek_version, &key);
	if (!err)
		err = aead_open(key->key, blob, COFFRE_SYMLINK_HDR_LEN,
				blob + COFFRE_SYMLINK_HDR_LEN,
				(size_t)n - COFFRE_SYMLINK_HDR_LEN, (uint8_t *)out);
	derived_key_free(key);
	if (err) {
		log_tampered(LOG_ERR, "symlink target does not authenticate");
		err = -EIO;
		goto out;
	}
	out[(size_t)n - COFFRE_SYMLINK_OVERHEAD] = '\0';
	err = (int)((size_t)n - COFFRE_SYMLINK_OVERHEAD);
out:
	free(blob);
	return err;
}

int symlink_size(int fd, off_t *size)
{
	char link[PATH_MAX + 1];
	ssize_t n = readlinkat(fd, "", link, sizeof(link) - 1);
	struct symlink_target t;
	struct stat st;
	size_t blen;
	int sfd, err;

	if (n <= 0)
		return -EIO;
	link[n] = '\0';
	if (symlink_target_parse(link, (size_t)n, NULL, 0, &t))
		return -EIO;
	if (t.sidecar) {
		sfd = sidecar_dir();
		if (sfd < 0)
			return sfd;
		err = fstatat(sfd, link + 1, &st, AT_SYMLINK_NOFOLLOW);
		close(sfd);
		if (err)
			return -EIO;
		blen = (size_t)st.st_size;
	} else {
		blen = t.blob_len;
	}
	if (blen <= COFFRE_SYMLINK_OVERHEAD)
		return -EIO;
	*size = (off_t)(blen - COFFRE_SYMLINK_OVERHEAD);
	return 0;
}

void symlink_remove_sidecar(int fd)
{
	char link[PATH_MAX + 1];
	ssize_t n = readlinkat(fd, "", link, sizeof(link) - 1);
	struct symlink_target t;
	int sfd;

	if (n <= 1)
		return;
	link[n] = '\0';
	if (symlink_target_parse(link, (size_t)n, NULL, 0, &t) || !t.sidecar)
		return;
	sfd = sidecar_dir();
	if (sfd < 0)
		return;
	unlinkat(sfd, link + 1, 0);
	note_at(sfd, link + 1);
	close(sfd);
}
