/*
 * trusted.c — opening root's own configuration (the mount configurations
 * in /etc/coffre, doc/FORMAT.md §10.2), which is trusted only because of
 * who owns it: the directory is reached from "/" one component at a time,
 * never through a symlink, and "/", every directory on the way and the
 * directory itself must be owned by root and writable by neither group
 * nor other, except that a directory on the way may be writable if it has
 * the sticky bit (/tmp: nobody else may rename or remove root's entries
 * there, and the next one is checked in turn); the file is opened O_NOFOLLOW | O_NONBLOCK (a FIFO does not
 * wait) and must be a regular file with the same owner and mode rules and
 * a bounded size.  libc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"

int io_check_trusted(int fd, mode_t type)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((st.st_mode & S_IFMT) != type)
		return S_ISLNK(st.st_mode) ? -ELOOP :
		       type == S_IFDIR ? -ENOTDIR : -EINVAL;
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

/* A directory on the way to the trusted one: root's, and not writable
 * by group or other unless sticky. */
static int check_ancestor(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 || ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
			       !(st.st_mode & S_ISVTX)))
		return -EPERM;
	return 0;
}

/* Record in bad the part of the walk that failed: base's name (if any),
 * then rel up to and including the component at [0, end). */
static void note_bad(char *bad, size_t badlen, const char *prefix,
		     const char *rel, size_t end)
{
	if (bad && badlen)
		snprintf(bad, badlen, "%s%.*s", prefix, (int)end, rel);
}

/* One directory component under dir, never through a symlink (-ELOOP
 * then), made (0700) if missing and create is set. */
static int open_component(int dir, const char *comp, bool create)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int fd = openat(dir, comp, flags);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dir, comp, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(dir, comp, flags);
	}
	if (fd >= 0)
		return fd;
	/* O_NOFOLLOW | O_DIRECTORY on a symlink says ENOTDIR or ELOOP. */
	fd = -errno;
	if (fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		fd = -ELOOP;
	return fd;
}

/* The walk under base (already checked by the caller); prefix names base
 * in bad. */
static int walk(int base, const char *rel, bool create, const char *prefix,
		char *bad, size_t badlen)
{
	char comp[NAME_MAX + 1];
	size_t off = 0;
	int fd = -1, err;

	for (;;) {
		const char *c = rel + off;
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		bool last = !slash || !slash[1];
		int next;

		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.')) {
			err = n > NAME_MAX ? -ENAMETOOLONG : -EINVAL;
			break;
		}
		memcpy(comp, c, n);
		comp[n] = '\0';
		next = open_component(fd < 0 ? base : fd, comp, last && create);
		if (fd >= 0)
			close(fd);
		fd = next;
		err = fd < 0 ? fd : last ? io_check_trusted(fd, S_IFDIR) :
					      check_ancestor(fd);
		off += n;
		if (err || last)
			break;
		off++;
	}
	if (!err)
		return fd;
	note_bad(bad, badlen, prefix, rel, off);
	if (fd >= 0)
		close(fd);
	return err;
}

int io_open_trusted_dir_at(int base, const char *rel, bool create, char *bad,
			   size_t badlen)
{
	if (!rel || rel[0] == '/' || !rel[0])
		return -EINVAL;
	return walk(base, rel, create, "", bad, badlen);
}

int io_open_trusted_dir(const char *path, bool create, char *bad, size_t badlen)
{
	int root, fd, err;

	if (!path || path[0] != '/')
		return -EINVAL;
	root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	err = check_ancestor(root);
	if (err) {
		note_bad(bad, badlen, "/", "", 0);
		close(root);
		return err;
	}
	while (*path == '/')
		path++;
	if (!*path)
		return root;                    /* "/" itself */
	fd = walk(root, path, create, "/", bad, badlen);
	close(root);
	return fd;
}

ssize_t io_read_trusted(int dirfd, const char *name, void *buf, size_t cap)
{
	ssize_t n;
	int fd, err;

	if (strchr(name, '/'))
		return -EINVAL;
	/* Looked at before it is opened: nothing but a regular file is. */
	fd = io_open_untrusted(dirfd, name, O_RDONLY, S_IFREG);
	if (fd < 0)
		return fd;             /* -ELOOP for a symlink */
	err = io_check_trusted(fd, S_IFREG);
	if (err) {
		close(fd);
		return err;
	}
	n = io_read_capped(fd, buf, cap);
	close(fd);
	return n;
}
