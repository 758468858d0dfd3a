/*
 * ops_dir.c — listing and whole-filesystem operations: opendir, readdir,
 * readdirplus, releasedir, fsyncdir, statfs, access.
 *
 * Listings decrypt each backing name under the directory's name key; the
 * filesystem's own entries (.coffre*) are hidden, and an entry that does
 * not decrypt is logged and skipped rather than failing the listing
 * (DESIGN.md §4).  Offsets are the backing directory's own (d_off), so a
 * listing resumes where the kernel asks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ops.h"

/* An open directory.  Its name key is derived for each readdir call and
 * freed at its end: an open directory holds no locked memory. */
struct dir_handle {
	DIR *dp;
	off_t offset;
	struct dirent *entry;          /* read but not yet returned */
};

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	struct dir_handle *d = calloc(1, sizeof(*d));
	struct dir_keys k;
	int fd, err;

	if (!d) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	/* A directory whose keys are gone fails here, as it always has. */
	err = dir_keys_get(g_fs.keys, i, &k);
	dir_keys_wipe(&k);
	if (err)
		goto fail;
	fd = openat(i->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		err = -errno;
		close(fd);
		goto fail;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		free(d);
	}
	return;
fail:
	free(d);
	ops_reply_err(req, -err);
}

static bool is_dot(const char *n)
{
	return !strcmp(n, ".") || !strcmp(n, "..");
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct inode *dir = inode_of(g_fs.inodes, ino), **kids = NULL;
	char name[COFFRE_NAME_MAX + 1], *buf, *p;
	size_t rem = size, used, nkids = 0, max_kids = size / 64 + 1, room;
	struct dir_keys k;
	int err;

	err = dir_keys_get(g_fs.keys, dir, &k);
	/* One allocation: the reply, then (readdirplus) the inodes it looks
	 * up, to forget if it never arrives. */
	room = (size + sizeof(*kids) - 1) / sizeof(*kids) * sizeof(*kids);
	buf = err ? NULL : calloc(1, room + (plus ? max_kids * sizeof(*kids) : 0));
	if (buf && plus)
		kids = (struct inode **)(void *)(buf + room);
	if (!buf) {
		dir_keys_wipe(&k);
		free(buf);
		ops_reply_err(req, err ? -err : ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	p = buf;
	for (;;) {
		struct fuse_entry_param e;
		struct inode *child = NULL;
		struct dirent *de;

		if (nkids == max_kids)   /* never: entries take more room */
			break;
		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				if (errno)
					err = -errno;
				break;
			}
		}
		de = d->entry;
		err = entry_plain(dirfd(d->dp), &k, de->d_name, name);
		if (err) {
			if (err != -ENOENT)
				log_tampered(LOG_WARNING, "entry %s in directory "
					     "(backing inode %lu) does not "
					     "decrypt, skipped", de->d_name,
					     (unsigned long)dir->ino);
			err = 0;
			d->offset = de->d_off;
			d->entry = NULL;
			continue;
		}
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = de->d_ino;
		e.attr.st_mode = (mode_t)DTTOIF(de->d_type);
		if (plus && !is_dot(name)) {
			err = ops_lookup_backing(dir, de->d_name, &child, &e.attr);
			if (err == -ENOENT) {        /* gone meanwhile */
				err = 0;
				d->offset = de->d_off;
				d->entry = NULL;
				continue;
			}
			if (err)
				break;
			e.ino = inode_id(g_fs.inodes, child);
			e.attr_timeout = g_fs.timeout;
			e.entry_timeout = g_fs.timeout;
			used = fuse_add_direntry_plus(req, p, rem, name, &e, de->d_off);
		} else if (plus) {
			used = fuse_add_direntry_plus(req, p, rem, name, &e, de->d_off);
		} else {
			used = fuse_add_direntry(req, p, rem, name, &e.attr, de->d_off);
		}
		if (used > rem) {
			if (child)
				inode_forget(g_fs.inodes, child, 1);
			break;
		}
		p += used;
		rem -= used;
		if (child)
			kids[nkids++] = child;
		d->offset = de->d_off;
		d->entry = NULL;
	}
	dir_keys_wipe(&k);
	if (err && rem == size)
		ops_reply_err(req, -err);
	else if (fuse_reply_buf(req, buf, size - rem))
		while (nkids)   /* the kernel took no reference */
			inode_forget(g_fs.inodes, kids[--nkids], 1);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	ops_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);

	(void)ino;
	ops_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(g_fs.root_fd, &sv)) {
		ops_reply_err(req, errno);
		return;
	}
	sv.f_namemax = COFFRE_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* Only asked when default_permissions is off; answers from the modes. */
void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	mode_t bits;

	if (attr_get(inode_of(g_fs.inodes, ino), &st)) {
		ops_reply_err(req, ENOENT);
		return;
	}
	if (mask == F_OK || ctx->uid == 0) {
		ops_reply_err(req, (ctx->uid == 0 && (mask & X_OK) &&
				     !S_ISDIR(st.st_mode) && !(st.st_mode & 0111)) ?
				    EACCES : 0);
		return;
	}
	bits = ctx->uid == st.st_uid ? (st.st_mode >> 6) :
	       ctx->gid == st.st_gid ? (st.st_mode >> 3) : st.st_mode;
	ops_reply_err(req, ((mode_t)mask & ~bits & 7) ? EACCES : 0);
}
