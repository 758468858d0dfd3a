/*
 * symlink.c — encrypted symlink targets.
 *
 * A target is sealed with AES-256-GCM (crypto/aead.c) under
 * HKDF-SHA256(DEK, info "coffre/v1/symlink") of the directory it is created
 * in, with AAD = dir id || u32be(DEK version); the blob
 * dir id(16) || u32be(version) || nonce || ct || tag names its own key, so
 * renames and hard links across directories keep working.  The backing
 * symlink's target is base64url(blob).  When that would exceed the backing
 * filesystem's limit (PATH_MAX − 1) the blob is kept in a sidecar
 * .coffre/symlinks/<random hex> and the backing target is "@<hex>" ('@' is
 * not in the base64url alphabet), so targets up to PATH_MAX − 1 work.
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

#define SYMLINK_DIR ".coffre/symlinks"
#define BLOB_HDR (COFFRE_ID_LEN + 4)
#define BLOB_OVERHEAD (BLOB_HDR + COFFRE_SEG_OVERHEAD)
#define BLOB_MAX (PATH_MAX + BLOB_OVERHEAD)
#define INLINE_MAX (PATH_MAX - 1)


static int sidecar_dir(void)
{
	int fd = openat(g_fs.vol->root_fd, SYMLINK_DIR,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(g_fs.vol->root_fd, SYMLINK_DIR, 0700) && errno != EEXIST)
			return -errno;
		fd = openat(g_fs.vol->root_fd, SYMLINK_DIR,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd < 0 ? -errno : fd;
}

int symlink_create(int dirfd, const char *name, struct inode *dir,
		   const char *target)
{
	struct derived_key *key = NULL;
	uint8_t *blob = NULL, rid[16];
	char *enc = NULL, hex[33];
	size_t tlen = strlen(target), blen;
	uint32_t version;
	struct wcur w;
	int err, sfd = -1, fd;

	if (tlen == 0)
		return -ENOENT;
	if (tlen > PATH_MAX - 1)
		return -ENAMETOOLONG;
	blob = malloc(BLOB_MAX);
	enc = malloc(BLOB_MAX * 4 / 3 + 8);
	if (!blob || !enc) {
		err = -ENOMEM;
		goto out;
	}
	err = inode_dir_id(dir, blob);
	if (!err)
		err = keyring_current_version(g_fs.vol->keys, blob, &version);
	if (!err)
		err = keyring_symlink_key(g_fs.vol->keys, blob, version, &key);
	if (err)
		goto out;
	wcur_init(&w, blob + COFFRE_ID_LEN, 4);
	wcur_u32be(&w, version);
	err = aead_seal(key->key, blob, BLOB_HDR, (const uint8_t *)target, tlen,
			blob + BLOB_HDR);
	if (err)
		goto out;
	blen = BLOB_HDR + tlen + COFFRE_SEG_OVERHEAD;
	err = b64url_encode(blob, blen, enc, BLOB_MAX * 4 / 3 + 8);
	if (err < 0)
		goto out;
	if ((size_t)err > INLINE_MAX) {
		/* Too long for the backing filesystem: keep the blob aside. */
		err = random_bytes(rid, sizeof(rid));
		if (err)
			goto out;
		hex_encode(rid, sizeof(rid), hex);
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
		snprintf(enc, BLOB_MAX, "@%s", hex);
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
	int sfd, len;

	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (link[0] != '@') {
		len = b64url_decode(link, (size_t)n, blob, cap);
		return len < 0 ? -EIO : len;
	}
	sfd = sidecar_dir();
	if (sfd < 0)
		return -EIO;
	n = io_read_small(sfd, link + 1, blob, cap);
	close(sfd);
	return n < 0 ? -EIO : n;
}

int symlink_read(int fd, char *out, size_t cap)
{
	uint8_t *blob = malloc(BLOB_MAX);
	struct derived_key *key = NULL;
	struct rcur r;
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t version;
	ssize_t n;
	int err;

	if (!blob)
		return -ENOMEM;
	n = read_blob(fd, blob, BLOB_MAX);
	if (n < (ssize_t)BLOB_OVERHEAD + 1 || (size_t)n - BLOB_OVERHEAD >= cap) {
		err = -EIO;
		goto out;
	}
	rcur_init(&r, blob, BLOB_HDR);
	rcur_bytes(&r, dir_id, sizeof(dir_id));
	version = rcur_u32be(&r);
	err = keyring_symlink_key(g_fs.vol->keys, dir_id, version, &key);
	if (!err)
		err = aead_open(key->key, blob, BLOB_HDR, blob + BLOB_HDR,
				(size_t)n - BLOB_HDR, (uint8_t *)out);
	derived_key_free(key);
	if (err) {
		fprintf(stderr, "coffre: symlink target does not authenticate\n");
		err = -EIO;
		goto out;
	}
	out[(size_t)n - BLOB_OVERHEAD] = '\0';
	err = (int)((size_t)n - BLOB_OVERHEAD);
out:
	free(blob);
	return err;
}

int symlink_size(int fd, off_t *size)
{
	char link[PATH_MAX + 1];
	ssize_t n = readlinkat(fd, "", link, sizeof(link) - 1);
	struct stat st;
	size_t blen;
	int sfd, err;

	if (n <= 0)
		return -EIO;
	link[n] = '\0';
	if (link[0] == '@') {
		sfd = sidecar_dir();
		if (sfd < 0)
			return sfd;
		err = fstatat(sfd, link + 1, &st, AT_SYMLINK_NOFOLLOW);
		close(sfd);
		if (err)
			return -EIO;
		blen = (size_t)st.st_size;
	} else {
		blen = (size_t)n * 3 / 4;
	}
	if (blen <= BLOB_OVERHEAD)
		return -EIO;
	*size = (off_t)(blen - BLOB_OVERHEAD);
	return 0;
}

void symlink_remove_sidecar(int fd)
{
	char link[PATH_MAX + 1];
	ssize_t n = readlinkat(fd, "", link, sizeof(link) - 1);
	int sfd;

	if (n <= 1 || link[0] != '@')
		return;
	link[n] = '\0';
	sfd = sidecar_dir();
	if (sfd < 0)
		return;
	unlinkat(sfd, link + 1, 0);
	note_at(sfd, link + 1);
	close(sfd);
}
