/*
 * Object-store operations on a directory tree (the bucket, and the backing
 * dir for replica's own files).  Only what s3fs/rclone mounts support is
 * used (DESIGN §6): mkdir, create with O_EXCL, sequential write, fsync,
 * rename of a file over another, unlink, rmdir, readdir.  An object is
 * always written to `<dir>/.coffre.tmp.<32 hex random>`, fsynced, renamed
 * over its name and the directory fsynced, so the bucket only ever holds
 * complete versions.  Directory fsync errors of EINVAL (filesystems that
 * cannot fsync a directory) are ignored.  libc and random_bytes().
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
#include "coffre/replica.h"
#include "replica_private.h"

int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsync_dir(int dfd)
{
	if (fsync(dfd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

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
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(dfd, comp, 0700) < 0 && errno != EEXIST) {
				err = -errno;
				goto fail;
			}
			if ((err = fsync_dir(dfd)) != 0)
				goto fail;
			nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			err = errno == ELOOP ? -ENOTDIR : -errno;
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

int bucket_tmp_create(int dfd, char name[TMP_NAME_LEN])
{
	uint8_t rnd[16];
	int fd, err;

	for (int tries = 0; tries < 8; tries++) {
		if ((err = random_bytes(rnd, sizeof(rnd))) != 0)
			return err;
		snprintf(name, TMP_NAME_LEN, ".coffre.tmp.");
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(name + 12 + 2 * i, 3, "%02x", rnd[i]);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return errno == ENOENT ? 0 : -errno;
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
	return fsync_dir(dfd);
}

int atomic_put(int root_fd, const char *relpath, const void *buf, size_t len)
{
	char tmp[TMP_NAME_LEN];
	const char *base;
	int dfd = -1, fd = -1, err;

	if ((err = bucket_open_parent(root_fd, relpath, true, &dfd, &base)) != 0)
		return err;
	if ((fd = bucket_tmp_create(dfd, tmp)) < 0) {
		err = fd;
		goto out;
	}
	if ((err = write_full(fd, buf, len)) != 0)
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
		err = fsync_dir(dfd);
	} else if (errno != EEXIST) {
		err = -errno;
	} else if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
	} else if (!S_ISDIR(st.st_mode)) {
		/* A file where the directory goes: the type changed. */
		if ((err = bucket_remove_at(dfd, base)) == 0) {
			err = mkdirat(dfd, base, 0700) < 0 ? -errno : fsync_dir(dfd);
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
		err = fsync_dir(dfd);
	close(dfd);
	return err;
}

int read_small_file(int dirfd, const char *relpath, size_t max,
		    uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	int fd, err = 0;

	fd = openat(dirfd, relpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size + 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > (size_t)st.st_size) {
			err = -EAGAIN;        /* grew while read */
			goto out;
		}
	}
	*out = buf;
	*out_len = off;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}
