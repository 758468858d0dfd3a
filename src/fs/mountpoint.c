/*
 * mountpoint.c — what a mount point must be before the daemon mounts on
 * it: a directory that answers (one left by a daemon that died says
 * "Transport endpoint is not connected": the message says how to clear
 * it), not a live coffre mount already (stacking is refused), and empty
 * unless nonempty_ok is given (a mount would hide what is there).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fs.h"
#include "coffre/io.h"
#include "coffre/mountinfo.h"

static int left_over(const char *path, char *msg, size_t cap)
{
	snprintf(msg, cap, "mount point %s is left over from a daemon that is gone "
		 "(%s): clear it with `fusermount3 -u %s` (or `umount -l %s`), then "
		 "mount again", path, strerror(ENOTCONN), path, path);
	return -ENOTCONN;
}

int mountpoint_check(const char *path, bool nonempty_ok, char mnt[PATH_MAX],
		     char *msg, size_t cap)
{
	struct mount_entry *m;
	struct statfs sf;
	struct stat st;
	int fd, ret;

	if (!realpath(path, mnt) || stat(mnt, &st)) {
		ret = -errno;
		if (ret == -ENOTCONN)
			return left_over(path, msg, cap);
		snprintf(msg, cap, "mount point %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(msg, cap, "mount point %s: %s", path, strerror(ENOTDIR));
		return -ENOTDIR;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		snprintf(msg, cap, "out of memory");
		return -ENOMEM;
	}
	ret = mountinfo_find("fuse.coffre", mnt, NULL, m);
	/* The kernel may still answer stat on a dead mount's root; statfs
	 * asks the daemon. */
	if (ret == 0 && statfs(mnt, &sf) && errno == ENOTCONN) {
		free(m);
		return left_over(path, msg, cap);
	}
	if (ret == 0)
		snprintf(msg, cap, "%s is already a coffre mount (of %s): unmount it "
			 "first, coffre does not mount on top of itself", path,
			 m->source);
	free(m);
	if (ret == 0)
		return -EBUSY;
	if (nonempty_ok)
		return 0;
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = fd < 0 ? -errno : io_dir_empty(fd, NULL);
	if (fd >= 0)
		close(fd);
	if (ret == 1)
		return 0;
	if (ret == 0) {
		snprintf(msg, cap, "mount point %s is not empty: the mount would hide "
			 "what is in it (-o nonempty_ok mounts anyway)", path);
		return -ENOTEMPTY;
	}
	snprintf(msg, cap, "mount point %s: %s", path, strerror(-ret));
	return ret;
}
