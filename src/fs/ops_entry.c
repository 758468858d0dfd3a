/*
 * ops_entry.c — operations on names: lookup, mkdir, mknod, symlink, link,
 * unlink, rmdir, rename, readlink.
 *
 * The kernel has already checked permissions (default_permissions) and
 * holds the directory locks POSIX needs; the daemon runs as root, so new
 * objects are created with the caller's mode and then given to the caller
 * (with a setgid parent's group, as ext4 does).  A backing directory always
 * holds its .coffre.dir, so "empty" means "nothing but that" and rmdir or
 * a rename over an empty directory removes it first (restoring it if the
 * backing call fails).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/io.h"
#include "ops.h"

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode *p = inode_of(g_fs.inodes, parent), *i;
	struct backing_name b;
	struct stat st;
	int err = ops_backing_name(p, name, &b);

	if (!err)
		err = ops_lookup_backing(p, b.name, &i, &st);
	if (err)
		ops_reply_err(req, -err);
	else
		ops_entry_reply(req, i, &st);
}

/* Give a new entry to its owner; chown as root drops set-id bits, so the
 * mode is set again afterwards (not for symlinks, which have none). */
static int set_owner(fuse_req_t req, struct inode *parent, const char *bname,
		     mode_t mode)
{
	bool sgid;
	uid_t uid;
	gid_t gid;

	fs_new_owner(req, parent, &uid, &gid, &sgid);
	if (fchownat(parent->fd, bname, uid, gid, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (S_ISLNK(mode))
		return 0;
	if (S_ISDIR(mode) && sgid)
		mode |= S_ISGID;
	return io_chmod_at(parent->fd, bname, mode & 07777);
}

static void reply_new(fuse_req_t req, struct inode *parent, const char *bname)
{
	struct inode *i;
	struct stat st;
	int err = ops_lookup_backing(parent, bname, &i, &st);

	if (err)
		ops_reply_err(req, -err);
	else
		ops_entry_reply(req, i, &st);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct inode *p = inode_of(g_fs.inodes, parent);
	uint8_t id[COFFRE_ID_LEN];
	struct backing_name b;
	int err, dfd;

	err = ops_backing_name(p, name, &b);
	if (err)
		goto out;
	if (faccessat(p->fd, b.name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		err = -EEXIST;
		goto out;
	}
	/* The key record is durable before anything depends on it. */
	err = keyring_new_dir(g_fs.keys, id);
	if (!err)
		err = entry_sidecar_write(p->fd, &b);
	if (err)
		goto out;
	if (mkdirat(p->fd, b.name, 0700)) {
		err = -errno;
		if (err != -EEXIST)
			entry_sidecar_remove(p->fd, &b);
		goto out;
	}
	dfd = openat(p->fd, b.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = dfd < 0 ? -errno : store_dir_id_create(dfd, id);
	if (dfd >= 0)
		close(dfd);
	if (!err)
		err = set_owner(req, p, b.name, S_IFDIR | mode);
	if (!err) {
		char kname[COFFRE_KEYREC_NAME_MAX], rec[64];

		keyrec_name_write(id, 1, kname);
		snprintf(rec, sizeof(rec), "%s/%s", COFFRE_KEYS_DIR, kname);
		note(rec);                 /* the key record goes first */
		note_name(p->fd, &b);
	}
	if (err) {
		int d2 = openat(p->fd, b.name, O_RDONLY | O_DIRECTORY |
				O_NOFOLLOW | O_CLOEXEC);

		if (d2 >= 0) {
			unlinkat(d2, COFFRE_DIR_FILE, 0);
			close(d2);
		}
		unlinkat(p->fd, b.name, AT_REMOVEDIR);
		entry_sidecar_remove(p->fd, &b);
		goto out;
	}
	reply_new(req, p, b.name);
	return;
out:
	ops_reply_err(req, -err);
}

/* A new regular file: header and sealed empty segment, keyed by the
 * parent's current DEK.  Returns the O_RDWR fd, or a negative errno. */
int ops_create_file(struct inode *p, const char *bname, mode_t mode)
{
	struct file_header h;
	struct aead_key *key = NULL;
	int fd = -1, err;

	memset(&h, 0, sizeof(h));
	h.version = COFFRE_FORMAT_VERSION;
	h.flags = g_fs.strict_holes ? COFFRE_HDR_STRICT_HOLES : 0;
	h.seg_size = g_fs.seg_size;
	err = inode_dir_id(p, h.dir_id);
	if (!err)
		err = keyring_current_version(g_fs.keys, h.dir_id, &h.dek_version);
	if (!err)
		err = random_bytes(h.file_id, sizeof(h.file_id));
	if (!err)
		err = keyring_file_key(g_fs.keys, &h, &key);
	if (err)
		goto out;
	fd = openat(p->fd, bname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    mode & 07777);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = store_create(fd, &h, key);
	if (err) {
		close(fd);
		unlinkat(p->fd, bname, 0);
		fd = -1;
	}
out:
	aead_key_free(key);
	return err ? err : fd;
}

/* After creating entry b in p (err: how that went): give it to its owner
 * and reply, or undo it (but never an entry that was already there). */
static void finish_entry(fuse_req_t req, struct inode *p,
			 const struct backing_name *b, mode_t mode, int err)
{
	if (!err)
		err = set_owner(req, p, b->name, mode);
	if (!err) {
		note_name(p->fd, b);
		reply_new(req, p, b->name);
		return;
	}
	if (err != -EEXIST) {
		unlinkat(p->fd, b->name, 0);
		entry_sidecar_remove(p->fd, b);
	}
	ops_reply_err(req, -err);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	struct inode *p = inode_of(g_fs.inodes, parent);
	struct backing_name b;
	int err, fd;

	err = ops_backing_name(p, name, &b);
	if (!err)
		err = entry_sidecar_write(p->fd, &b);
	if (err)
		goto out;
	if (S_ISREG(mode)) {
		fd = ops_create_file(p, b.name, mode);
		err = fd < 0 ? fd : 0;
		if (fd >= 0)
			close(fd);
	} else if (S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) ||
		   S_ISBLK(mode)) {
		err = mknodat(p->fd, b.name, mode, rdev) ? -errno : 0;
	} else {
		err = -EINVAL;
	}
	finish_entry(req, p, &b, mode, err);
	return;
out:
	ops_reply_err(req, -err);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	struct inode *p = inode_of(g_fs.inodes, parent);
	struct backing_name b;
	int err;

	err = ops_backing_name(p, name, &b);
	if (!err)
		err = entry_sidecar_write(p->fd, &b);
	if (err)
		goto out;
	finish_entry(req, p, &b, S_IFLNK, symlink_create(p->fd, b.name, p, link));
	return;
out:
	ops_reply_err(req, -err);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	struct inode *p = inode_of(g_fs.inodes, newparent);
	struct backing_name b;
	int err;

	err = ops_backing_name(p, newname, &b);
	if (!err)
		err = entry_sidecar_write(p->fd, &b);
	if (err)
		goto out;
	if (linkat(i->fd, "", p->fd, b.name, AT_EMPTY_PATH)) {
		err = -errno;
		if (err != -EEXIST)
			entry_sidecar_remove(p->fd, &b);
		goto out;
	}
	note_name(p->fd, &b);
	reply_new(req, p, b.name);
	return;
out:
	ops_reply_err(req, -err);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode *p = inode_of(g_fs.inodes, parent);
	struct backing_name b;
	struct stat st;
	int err, fd = -1;

	err = ops_backing_name(p, name, &b);
	if (err)
		goto out;
	if (fstatat(p->fd, b.name, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (S_ISLNK(st.st_mode) && st.st_nlink == 1)
		fd = openat(p->fd, b.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	/* Kept whatever st_nlink said: another name may go meanwhile. */
	inode_keep_fd(g_fs.inodes, st.st_dev, st.st_ino);
	if (unlinkat(p->fd, b.name, 0)) {
		err = -errno;
		inode_unkeep_fd(g_fs.inodes, st.st_dev, st.st_ino);
		goto out;
	}
	inode_unkeep_fd_if_linked(g_fs.inodes, st.st_dev, st.st_ino);
	entry_sidecar_remove(p->fd, &b);
	note_name(p->fd, &b);
	if (fd >= 0)
		symlink_remove_sidecar(fd);
out:
	if (fd >= 0)
		close(fd);
	ops_reply_err(req, -err);
}

/* Empty the backing directory bname in p of its .coffre.dir so that it can
 * be removed or replaced; *dfd and id allow putting it back. */
static int detach_dir(struct inode *p, const char *bname, int *dfd,
		      uint8_t id[COFFRE_ID_LEN])
{
	int err;

	*dfd = openat(p->fd, bname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0)
		return -errno;
	/* It must hold nothing but its own .coffre.dir. */
	err = io_dir_empty(*dfd, COFFRE_DIR_FILE);
	err = err == 1 ? 0 : err == 0 ? -ENOTEMPTY : err;
	if (err)
		goto fail;
	if (store_dir_id(*dfd, id))
		memset(id, 0, COFFRE_ID_LEN);   /* nothing to put back */
	if (unlinkat(*dfd, COFFRE_DIR_FILE, 0) && errno != ENOENT) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	close(*dfd);
	*dfd = -1;
	return err;
}

static void reattach_dir(int dfd, const uint8_t id[COFFRE_ID_LEN])
{
	static const uint8_t zero[COFFRE_ID_LEN];

	if (memcmp(id, zero, COFFRE_ID_LEN))
		store_dir_id_create(dfd, id);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode *p = inode_of(g_fs.inodes, parent);
	uint8_t id[COFFRE_ID_LEN];
	struct backing_name b;
	struct stat st;
	bool kept;
	int err, dfd = -1;

	err = ops_backing_name(p, name, &b);
	if (!err)
		err = detach_dir(p, b.name, &dfd, id);
	if (err)
		goto out;
	kept = fstat(dfd, &st) == 0;
	if (kept)
		inode_keep_fd(g_fs.inodes, st.st_dev, st.st_ino);
	note_at(dfd, COFFRE_DIR_FILE);
	if (unlinkat(p->fd, b.name, AT_REMOVEDIR)) {
		err = -errno;
		reattach_dir(dfd, id);
		if (kept)
			inode_unkeep_fd(g_fs.inodes, st.st_dev, st.st_ino);
		goto out;
	}
	entry_sidecar_remove(p->fd, &b);
	note_name(p->fd, &b);
out:
	if (dfd >= 0)
		close(dfd);
	ops_reply_err(req, err == -ENOTDIR ? ENOTDIR : -err);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct inode *p = inode_of(g_fs.inodes, parent);
	struct inode *np = inode_of(g_fs.inodes, newparent);
	struct backing_name b1, b2;
	struct stat s1, s2;
	uint8_t id[COFFRE_ID_LEN];
	bool target_exists, target_goes = false;
	int err, dfd = -1, lfd = -1;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		err = -EINVAL;
		goto out;
	}
	err = ops_backing_name(p, name, &b1);
	if (!err)
		err = ops_backing_name(np, newname, &b2);
	if (err)
		goto out;
	if (fstatat(p->fd, b1.name, &s1, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		goto out;
	}
	target_exists = fstatat(np->fd, b2.name, &s2, AT_SYMLINK_NOFOLLOW) == 0;
	if (p == np && !strcmp(b1.name, b2.name))
		goto out;   /* same entry: nothing to do */
	if (target_exists && !(flags & RENAME_EXCHANGE)) {
		if (flags & RENAME_NOREPLACE) {
			err = -EEXIST;
			goto out;
		}
		if (s1.st_dev == s2.st_dev && s1.st_ino == s2.st_ino)
			goto out;   /* two links to one file: POSIX says no-op */
		if (S_ISDIR(s2.st_mode)) {
			if (!S_ISDIR(s1.st_mode)) {
				err = -EISDIR;
				goto out;
			}
			err = detach_dir(np, b2.name, &dfd, id);
			if (err)
				goto out;
		} else if (S_ISDIR(s1.st_mode)) {
			err = -ENOTDIR;
			goto out;
		} else if (S_ISLNK(s2.st_mode) && s2.st_nlink == 1) {
			lfd = openat(np->fd, b2.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
	}
	if (!(flags & RENAME_EXCHANGE) && !target_exists) {
		err = entry_sidecar_write(np->fd, &b2);
		if (err)
			goto out;
	}
	/* The target loses a name, maybe its last (kept whatever st_nlink
	 * said: another of its names may go meanwhile). */
	target_goes = target_exists && !(flags & RENAME_EXCHANGE);
	if (target_goes)
		inode_keep_fd(g_fs.inodes, s2.st_dev, s2.st_ino);
	if (renameat2(p->fd, b1.name, np->fd, b2.name, flags)) {
		err = -errno;
		if (target_goes)
			inode_unkeep_fd(g_fs.inodes, s2.st_dev, s2.st_ino);
		if (dfd >= 0)
			reattach_dir(dfd, id);
		if (!(flags & RENAME_EXCHANGE) && !target_exists)
			entry_sidecar_remove(np->fd, &b2);
		goto out;
	}
	if (target_goes)
		inode_unkeep_fd_if_linked(g_fs.inodes, s2.st_dev, s2.st_ino);
	if (!(flags & RENAME_EXCHANGE)) {
		if (lfd >= 0)
			symlink_remove_sidecar(lfd);   /* the replaced symlink */
		entry_sidecar_remove(p->fd, &b1);
		if (dfd >= 0)
			note_at(dfd, COFFRE_DIR_FILE);  /* the replaced directory's */
	}
	note_name(p->fd, &b1);
	note_name(np->fd, &b2);
	note_moved(np->fd, b2.name, p->fd, b1.name);
	if (flags & RENAME_EXCHANGE)
		note_moved(p->fd, b1.name, np->fd, b2.name);
out:
	if (dfd >= 0)
		close(dfd);
	if (lfd >= 0)
		close(lfd);
	ops_reply_err(req, -err);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	int n = symlink_read(inode_of(g_fs.inodes, ino)->fd, buf, sizeof(buf));

	if (n < 0)
		ops_reply_err(req, -n);
	else
		fuse_reply_readlink(req, buf);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct inode *p = inode_of(g_fs.inodes, parent), *i;
	struct backing_name b;
	struct stat st;
	int err, fd;

	err = ops_backing_name(p, name, &b);
	if (!err)
		err = entry_sidecar_write(p->fd, &b);
	if (err)
		goto out;
	fd = ops_create_file(p, b.name, mode);
	if (fd < 0) {
		err = fd;
		if (err != -EEXIST)
			entry_sidecar_remove(p->fd, &b);
		goto out;
	}
	close(fd);
	err = set_owner(req, p, b.name, mode);
	if (!err)
		err = ops_lookup_backing(p, b.name, &i, &st);
	if (err) {
		unlinkat(p->fd, b.name, 0);
		entry_sidecar_remove(p->fd, &b);
		goto out;
	}
	err = inode_open_data(g_fs.inodes, i);
	if (err) {
		inode_forget(g_fs.inodes, i, 1);
		goto out;
	}
	note_name(p->fd, &b);
	{
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.ino = inode_id(g_fs.inodes, i);
		e.attr = st;
		e.attr_timeout = g_fs.timeout;
		e.entry_timeout = g_fs.timeout;
		fi->fh = 0;
		fi->keep_cache = 1;
		if (fuse_reply_create(req, &e, fi) == -ENOENT) {
			inode_close_data(i);
			inode_forget(g_fs.inodes, i, 1);
		}
	}
	return;
out:
	ops_reply_err(req, -err);
}
