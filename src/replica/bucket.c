/*
 * Object-store operations on a directory tree (the bucket, and the backing
 * dir for replica's own files).  Only what s3fs/rclone mounts support is
 * used (DESIGN §6): mkdir, create with O_EXCL, sequential write, fsync,
 * rename of a file over another, unlink, rmdir, readdir.  An object is
 * always written to `<dir>/.coffre.tmp.<32 hex random>`, fsynced, renamed
 * over its name and the directory fsynced, so the bucket only ever holds
 * complete versions.  Directory fsync errors of EINVAL (filesystems that
 * cannot fsync a directory) are ignored (io_fsync_dir).  src/io and
 * random_bytes().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/crypto.h"
#include "coffre/io.h"
#include "coffre/replica.h"
#include "replica_private.h"

int bucket_open_parent(int root_fd, const char *relpath, bool create,
		       int *dfd_out, const char **base_out)
{
	char comp[256];
	const char *p = relpath, *slash;
	int dfd = dup(root_fd), nfd, err;

	if (dfd < 0)
		return -errno;
	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);

		if (n >= sizeof(comp)) {
			err = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		nfd = io_open_untrusted(dfd, comp, O_RDONLY, S_IFDIR);
		if (nfd == -ENOENT && create) {
			if (mkdirat(dfd, comp, 0700) < 0 && errno != EEXIST) {
				err = -errno;
				goto fail;
			}
			if ((err = io_fsync_dir(dfd)) != 0)
				goto fail;
			nfd = io_open_untrusted(dfd, comp, O_RDONLY, S_IFDIR);
		}
		if (nfd < 0) {
			err = nfd == -ELOOP ? -ENOTDIR : nfd;
			goto fail;
		}
		close(dfd);
		dfd = nfd;
		p = slash + 1;
	}
	*dfd_out = dfd;
	*base_out = p;
	return 0;
fail:
	close(dfd);
	return err;
}

int bucket_tmp_create(int dfd, char name[TMP_NAME_LEN], int accmode)
{
	uint8_t rnd[16];
	int fd, err;

	for (int tries = 0; tries < 8; tries++) {
		if ((err = random_bytes(rnd, sizeof(rnd))) != 0)
			return err;
		int n = snprintf(name, TMP_NAME_LEN, "%s", COFFRE_TMP_PREFIX);

		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(name + n + 2 * i, 3, "%02x", rnd[i]);
		fd = openat(dfd, name, accmode | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Remove name under dfd whatever it is: a file, or a tree (depth first). */
int bucket_remove_at(int dfd, const char *name)
{
	DIR *d;
	struct dirent *de;
	int sub, err = 0;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	sub = io_open_untrusted(dfd, name, O_RDONLY, S_IFDIR);
	if (sub < 0)
		return sub == -ENOENT ? 0 : sub;
	d = fdopendir(sub);
	if (!d) {
		err = -errno;
		close(sub);
		return err;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((err = bucket_remove_at(dirfd(d), de->d_name)) != 0)
			break;
	}
	closedir(d);
	if (err == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		err = -errno;
	return err;
}

int bucket_commit(int dfd, const char *tmp, const char *base)
{
	int err;

	if (renameat(dfd, tmp, dfd, base) < 0) {
		if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST)
			return -errno;
		/* A directory where the file goes: the type changed. */
		if ((err = bucket_remove_at(dfd, base)) != 0)
			return err;
		if (renameat(dfd, tmp, dfd, base) < 0)
			return -errno;
	}
	return io_fsync_dir(dfd);
}

int atomic_put(int root_fd, const char *relpath, const void *buf, size_t len)
{
	char tmp[TMP_NAME_LEN];
	const char *base;
	int dfd = -1, fd = -1, err;

	if ((err = bucket_open_parent(root_fd, relpath, true, &dfd, &base)) != 0)
		return err;
	if ((fd = bucket_tmp_create(dfd, tmp, O_WRONLY)) < 0) {
		err = fd;
		goto out;
	}
	if ((err = io_write_full(fd, buf, len)) != 0)
		goto out_unlink;
	if (fsync(fd) < 0) {
		err = -errno;
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		err = -errno;
		goto out_unlink;
	}
	fd = -1;
	if ((err = bucket_commit(dfd, tmp, base)) == 0)
		goto out;
out_unlink:
	unlinkat(dfd, tmp, 0);
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return err;
}

int bucket_mkdir(int root_fd, const char *relpath)
{
	const char *base;
	struct stat st;
	int dfd, err;

	if ((err = bucket_open_parent(root_fd, relpath, true, &dfd, &base)) != 0)
		return err;
	if (mkdirat(dfd, base, 0700) == 0) {
		err = io_fsync_dir(dfd);
	} else if (errno != EEXIST) {
		err = -errno;
	} else if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
	} else if (!S_ISDIR(st.st_mode)) {
		/* A file where the directory goes: the type changed. */
		if ((err = bucket_remove_at(dfd, base)) == 0) {
			err = mkdirat(dfd, base, 0700) < 0 ? -errno : io_fsync_dir(dfd);
		}
	}
	close(dfd);
	return err;
}

int bucket_remove(int root_fd, const char *relpath)
{
	const char *base;
	int dfd, err;

	err = bucket_open_parent(root_fd, relpath, false, &dfd, &base);
	if (err == -ENOENT || err == -ENOTDIR)
		return 0;            /* no parent, so nothing to remove */
	if (err)
		return err;
	if ((err = bucket_remove_at(dfd, base)) == 0)
		err = io_fsync_dir(dfd);
	close(dfd);
	return err;
}
