/*
 * The reconcile scan run by the worker when the replicator opens (DESIGN
 * §6 "Journal": "at mount the backing dir is reconciled against the
 * manifest, so nothing is missed after a crash").  Every backing path
 * whose lstat() does not match its manifest entry (type, mode, owner,
 * mtime, size, inode) or that has none is queued; so is every manifest
 * path that no longer exists in the backing dir (or changed type).  Queued
 * entries are "light": the worker skips them again cheaply if the stat
 * matches by the time it gets there.  Sequence 0: a replica_sync() waits
 * for all of them.  Past the in-memory window they go to the backlog on
 * disk like any note (backlog.c).  libc only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "replica_private.h"

static int note(struct replica *r, const char *path)
{
	int err;

	pthread_mutex_lock(&r->lock);
	err = backlog_add_locked(r, path, true, 0);
	pthread_mutex_unlock(&r->lock);
	return err;
}

/* Walk the directory open as fd whose path is prefix ("" for the root). */
static int walk(struct replica *r, int fd, char *path, size_t plen)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int err = 0;

	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while (!err && (de = readdir(d)) != NULL) {
		struct manifest_entry *me;
		struct stat st;
		size_t n = strlen(de->d_name);
		size_t len = plen ? plen + 1 + n : n;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (len > COFFRE_REPLICA_PATH_MAX)
			continue;
		if (plen)
			path[plen] = '/';
		memcpy(path + (plen ? plen + 1 : 0), de->d_name, n + 1);
		if (replica_path_excluded(path))
			goto next;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				err = -errno;
			goto next;
		}
		if ((err = mstore_get(r->man, path, &me)) != 0)
			goto next;
		if (!me || !manifest_stat_matches(me, &st))
			err = note(r, path);
		manifest_entry_free(me);
		if (!err && S_ISDIR(st.st_mode)) {
			int sub = io_open_untrusted(dirfd(d), de->d_name, O_RDONLY,
						    S_IFDIR);

			if (sub >= 0)
				err = walk(r, sub, path, len);
			else if (sub != -ENOENT && sub != -ENOTDIR)
				err = sub;
		}
next:
		path[plen] = '\0';
	}
	closedir(d);
	return err;
}

static int gone_cb(const struct manifest_entry *e, void *arg)
{
	struct replica *r = arg;
	struct stat st;

	if (fstatat(r->backing_fd, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
		return note(r, e->path);
	}
	return 0;
}

int replica_scan(struct replica *r)
{
	char *path = malloc(COFFRE_REPLICA_PATH_MAX + 2);
	int fd, err;

	if (!path)
		return -ENOMEM;
	path[0] = '\0';
	fd = openat(r->backing_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if ((err = walk(r, fd, path, 0)) != 0)
		goto out;
	err = mstore_foreach(r->man, "", gone_cb, r);
out:
	free(path);
	return err;
}
