/*
 * beneath.c — open a relative path under a directory fd without leaving
 * it and without following any symlink on the way (untrusted storage: a
 * `.coffre` swapped for a symlink must not send root elsewhere).  openat2
 * with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS where
 * the kernel has it (Linux 5.6); otherwise a walk, one component at a
 * time, each opened O_PATH | O_DIRECTORY | O_NOFOLLOW, refusing "", "."
 * and "..".  libc and the kernel's openat2 ABI.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coffre/io.h"

bool io_test_no_openat2;
/* The kernel (or a seccomp filter: systemd's SystemCallFilter answers
 * EPERM) refused openat2 once: walk from then on. */
static atomic_bool no_openat2;

/* The walk: dirfd, then each component but the last; flags on the last. */
static int walk(int dirfd, const char *path, int flags, mode_t mode)
{
	char comp[NAME_MAX + 1];
	int fd = dirfd;

	if (path[0] == '/')
		return -EXDEV;
	for (;;) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);
		int next;

		if (n == 0 || n > NAME_MAX)
			next = n ? -ENAMETOOLONG : -EINVAL;
		else if ((n == 1 && path[0] == '.') || (n == 2 && !memcmp(path, "..", 2)))
			next = -EXDEV;
		else
			next = 0;
		if (next == 0) {
			memcpy(comp, path, n);
			comp[n] = '\0';
			next = slash ? openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
					      O_CLOEXEC) :
				       openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			if (next < 0)
				next = -errno;
		}
		if (fd != dirfd)
			close(fd);
		if (next < 0 || !slash)
			return next;
		fd = next;
		path = slash + 1;
	}
}

int io_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!io_test_no_openat2 && !atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		atomic_store_explicit(&no_openat2, true, memory_order_relaxed);
	}
	return walk(dirfd, path, flags, mode);
}

int io_open_parent(int dirfd, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	char parent[PATH_MAX];
	int fd;

	*base = slash ? slash + 1 : path;
	if (!**base)
		return -EINVAL;
	if (!slash) {
		fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	if ((size_t)(slash - path) >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	return io_open_beneath(dirfd, parent, O_RDONLY | O_DIRECTORY, 0);
}

int io_mkdir_beneath(int dirfd, const char *path, mode_t mode)
{
	const char *b;
	int fd = io_open_parent(dirfd, path, &b), err;

	if (fd < 0)
		return fd;
	err = mkdirat(fd, b, mode) ? -errno : 0;
	close(fd);
	return err;
}
