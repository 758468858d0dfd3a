/*
 * io.c — whole reads and writes, the one open of untrusted storage, small
 * files (read, atomic replace) and the empty-directory check.  libc only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"

/* Read until len bytes or EOF, with pread at off + done when off >= 0. */
static ssize_t read_loop(int fd, void *buf, size_t len, int64_t off)
{
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = off < 0 ? read(fd, p + done, len - done) :
			    pread(fd, p + done, len - done,
				  (off_t)(off + (int64_t)done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t io_read_full(int fd, void *buf, size_t len)
{
	return read_loop(fd, buf, len, -1);
}

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	return read_loop(fd, buf, len, (int64_t)off);
}

int io_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int io_open_untrusted(int dirfd, const char *name, int flags, mode_t want)
{
	char path[32];
	struct stat st;
	int pfd, fd;

	if ((flags & (O_CREAT | O_TMPFILE)) || (want != S_IFREG && want != S_IFDIR))
		return -EINVAL;
	flags |= O_CLOEXEC | O_NOCTTY;
	if (want == S_IFDIR) {
		/* The kernel checks the type: nothing else is opened. */
		return io_open_beneath(dirfd, name, flags | O_NOFOLLOW | O_DIRECTORY, 0);
	}
	/* Look before opening: an O_PATH fd opens nothing (no FIFO wait, no
	 * device side effect, no controlling tty) and pins the inode that the
	 * reopen through /proc then opens. */
	pfd = io_open_beneath(dirfd, name, O_PATH | O_NOFOLLOW, 0);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, &st) < 0) {
		fd = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fd = S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, flags & ~O_NOFOLLOW);
	if (fd < 0)
		fd = -errno;
out:
	close(pfd);
	return fd;
}

ssize_t io_read_capped(int fd, void *buf, size_t cap)
{
	ssize_t n = io_read_full(fd, buf, cap);
	uint8_t more;

	if (n == (ssize_t)cap) {
		ssize_t m = io_read_full(fd, &more, 1);

		n = m < 0 ? m : m > 0 ? -EFBIG : n;
	}
	return n;
}

ssize_t io_read_small(int dirfd, const char *name, void *buf, size_t cap)
{
	int fd = io_open_untrusted(dirfd, name, O_RDONLY, S_IFREG);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = io_read_capped(fd, buf, cap);
	close(fd);
	return n;
}

int io_read_alloc(int dirfd, const char *name, size_t max, uint8_t **out,
		  size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t n;
	int fd, err = 0;

	fd = io_open_untrusted(dirfd, name, O_RDONLY, S_IFREG);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	/* One byte more than its size: growth while read shows. */
	n = io_read_full(fd, buf, (size_t)st.st_size + 1);
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	if (n > st.st_size) {
		err = -EAGAIN;
		goto out;
	}
	*out = buf;
	*out_len = (size_t)n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* format.h's COFFRE_TMP_PREFIX (io is below format; tests/unit/io checks
 * the two agree): replication and the daemon skip these names. */
#define TMP_PREFIX ".coffre.tmp."

int io_open_dir(int dirfd, const char *path)
{
	int fd;

	if (!*path)
		return -EINVAL;
	fd = io_open_beneath(dirfd, path, O_RDONLY | O_DIRECTORY, 0);
	return fd == -ELOOP ? -ENOTDIR : fd;
}

/* Write buf to the temp tmp in dfd, then rename it over name, or with
 * `exclusive` link it at name (EEXIST if something is there). */
static int put_file_via(int dfd, const char *name, const char *tmp,
			const void *buf, size_t len, mode_t mode, bool exclusive)
{
	int fd, err;

	unlinkat(dfd, tmp, 0);                /* left by a crash */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    mode);
	if (fd < 0)
		return -errno;
	err = io_write_full(fd, buf, len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && (exclusive ? linkat(dfd, tmp, dfd, name, 0) :
		     renameat(dfd, tmp, dfd, name)) < 0)
		err = -errno;
	if (err || exclusive)
		unlinkat(dfd, tmp, 0);
	if (err)
		return err;
	return fsync(dfd) < 0 ? -errno : 0;
}

/* io_replace, or with `exclusive` io_create_new. */
static int put_file(int dirfd, const char *name, const void *buf, size_t len,
		    mode_t mode, bool exclusive)
{
	const char *slash = strrchr(name, '/'), *base;
	char tmp[NAME_MAX + 1];
	int dfd, err;

	if (slash) {
		if ((dfd = io_open_parent(dirfd, name, &base)) < 0)
			return dfd == -ELOOP ? -ENOTDIR : dfd;
		err = put_file(dfd, base, buf, len, mode, exclusive);
		close(dfd);
		return err;
	}
	base = name[0] == '.' ? name + 1 : name;
	if (!*name || strlen(TMP_PREFIX) + strlen(base) >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s", base);
	return put_file_via(dirfd, name, tmp, buf, len, mode, exclusive);
}

int io_replace_as(int dirfd, const char *name, const char *tmp,
		  const void *buf, size_t len, mode_t mode)
{
	if (!*name || !*tmp || strchr(name, '/') || strchr(tmp, '/'))
		return -EINVAL;
	return put_file_via(dirfd, name, tmp, buf, len, mode, false);
}

int io_replace(int dirfd, const char *name, const void *buf, size_t len,
	       mode_t mode)
{
	return put_file(dirfd, name, buf, len, mode, false);
}

int io_create_new(int dirfd, const char *name, const void *buf, size_t len,
		  mode_t mode)
{
	return put_file(dirfd, name, buf, len, mode, true);
}

int io_fsync_dir(int dfd)
{
	return fsync(dfd) < 0 && errno != EINVAL ? -errno : 0;
}

int io_dir_empty(int dirfd, const char *ignore)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	int empty = 1;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int err = -errno;

		close(fd);
		return err;
	}
	errno = 0;
	while (empty && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (!ignore || strcmp(de->d_name, ignore)))
			empty = 0;
	if (empty && errno)
		empty = -errno;
	closedir(d);
	return empty;
}

bool io_resource_error(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM ||
	       err == -ENOSPC || err == -EDQUOT;
}

bool io_fds_exhausted(void)
{
	int fd = open("/", O_PATH | O_CLOEXEC);

	if (fd < 0)
		return errno == EMFILE || errno == ENFILE;
	close(fd);
	return false;
}

int io_chmod_at(int dirfd, const char *name, mode_t mode)
{
	return fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}
