/*
 * ops.c — the low-level operations table, session init/destroy and the
 * helpers the operation files share (entry replies, ownership of new
 * objects).  The operations themselves are in ops_entry.c (names),
 * ops_file.c (data and attributes), ops_dir.c (listing, statfs) and
 * ops_xattr.c.
 *
 * Every operation that touches an inode's backing object pins the inodes
 * it names for its length (the pinned_* wrappers below), so that their
 * O_PATH fds are open while it runs; reads, writes and the other calls on
 * open files use the open file's own fd and pin nothing.
 *
 * FUSE settings follow DESIGN.md §5: writeback cache (the kernel owns sizes
 * and times), no splice (data is transformed in user space), 1 MiB
 * max_write, parallel directory operations.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "ops.h"

struct fs g_fs;

void ops_entry_reply(fuse_req_t req, struct inode *i, const struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = inode_id(g_fs.inodes, i);
	e.attr = *st;
	e.attr_timeout = g_fs.timeout;
	e.entry_timeout = g_fs.timeout;
	if (fuse_reply_entry(req, &e) == -ENOENT)
		inode_forget(g_fs.inodes, i, 1);   /* the kernel did not take the reference */
}

void fs_new_owner(fuse_req_t req, struct inode *parent, uid_t *uid, gid_t *gid,
		  bool *inherit_sgid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;

	*uid = ctx->uid;
	*gid = ctx->gid;
	*inherit_sgid = false;
	if (fstatat(parent->fd, "", &st, AT_EMPTY_PATH) == 0 &&
	    (st.st_mode & S_ISGID)) {
		*gid = st.st_gid;
		*inherit_sgid = true;
	}
}

int ops_lookup_backing(struct inode *parent, const char *bname,
		       struct inode **out, struct stat *st)
{
	struct stat now;
	uint64_t swaps;
	int fd, err, tries = 0;

again:
	/* An object the table knows costs one fstatat (readdirplus asks
	 * for every entry); only a new one is opened. */
	if (fstatat(parent->fd, bname, st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	*out = inode_find(g_fs.inodes, st->st_dev, st->st_ino);
	if (*out == NULL) {
		err = inode_fd_reserve(g_fs.inodes);
		if (err)
			return err;
		swaps = inode_table_swaps(g_fs.inodes);
		fd = openat(parent->fd, bname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, st)) {
			err = -errno;
			close(fd);
			return err;
		}
		err = inode_get(g_fs.inodes, fd, st, out);
		if (err)
			return err;
		/* A re-key that swapped its copy in at this name after the
		 * openat has moved the file's inode to the copy: this one
		 * would be a second inode, of the replaced object. */
		if (inode_table_swaps(g_fs.inodes) != swaps && tries++ < 3 &&
		    (fstatat(parent->fd, bname, &now, AT_SYMLINK_NOFOLLOW) ||
		     now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
			inode_forget(g_fs.inodes, *out, 1);
			goto again;
		}
	}
	if ((*out)->type == S_IFLNK) {
		/* The target's length is read through the inode's fd. */
		err = inode_pin(g_fs.inodes, *out);
		if (err) {
			inode_forget(g_fs.inodes, *out, 1);
			return err;
		}
		attr_translate((*out)->fd, st);
		inode_unpin(g_fs.inodes, *out);
	} else {
		attr_translate(-1, st);
	}
	if ((*out)->type == S_IFREG) {
		/* An open file's size is the one the store keeps. */
		pthread_mutex_lock(&(*out)->mu);
		if ((*out)->nopen)
			st->st_size = (off_t)(*out)->of->sf.size;
		pthread_mutex_unlock(&(*out)->mu);
	}
	return 0;
}

int ops_backing_name(struct inode *parent, const char *name,
		     struct backing_name *b)
{
	struct dir_keys k;
	int err;

	if (parent->type != S_IFDIR)
		return -ENOTDIR;
	if (strlen(name) > COFFRE_NAME_MAX)
		return -ENAMETOOLONG;
	err = dir_keys_get(g_fs.keys, parent, &k);
	if (!err)
		err = entry_name(&k, name, b);
	dir_keys_wipe(&k);
	return err;
}

static void coffre_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				  FUSE_CAP_SPLICE_MOVE);
	conn->max_write = STORE_MAX_REQUEST;
	conn->max_read = 0;
	conn->max_readahead = g_fs.max_readahead;
	fs_prune_start(conn->proto_major, conn->proto_minor);
}

static void coffre_destroy(void *userdata)
{
	(void)userdata;
}

static void coffre_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(g_fs.inodes, inode_of(g_fs.inodes, ino), nlookup);
	fuse_reply_none(req);
}

static void coffre_forget_multi(fuse_req_t req, size_t count,
				struct fuse_forget_data *forgets)
{
	size_t k;

	for (k = 0; k < count; k++)
		inode_forget(g_fs.inodes, inode_of(g_fs.inodes, forgets[k].ino),
			     forgets[k].nlookup);
	fuse_reply_none(req);
}

/* ---- pinned operations: pin, run, unpin (an error replies at once) */

void ops_reply_err(fuse_req_t req, int err)
{
	if (err == EIO)
		fs_metrics_eio();
	fuse_reply_err(req, err);
}

static bool pin(fuse_req_t req, fuse_ino_t ino)
{
	int err = inode_pin(g_fs.inodes, inode_of(g_fs.inodes, ino));

	if (err)
		ops_reply_err(req, -err);
	return !err;
}

static bool pin2(fuse_req_t req, fuse_ino_t a, fuse_ino_t b)
{
	if (!pin(req, a))
		return false;
	if (pin(req, b))
		return true;
	inode_unpin(g_fs.inodes, inode_of(g_fs.inodes, a));
	return false;
}

static void unpin(fuse_ino_t ino)
{
	inode_unpin(g_fs.inodes, inode_of(g_fs.inodes, ino));
}

static void pinned_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (pin(req, parent)) {
		op_lookup(req, parent, name);
		unpin(parent);
	}
}

static void pinned_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (pin(req, ino)) {
		op_getattr(req, ino, fi);
		unpin(ino);
	}
}

static void pinned_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			   int to_set, struct fuse_file_info *fi)
{
	if (pin(req, ino)) {
		op_setattr(req, ino, attr, to_set, fi);
		unpin(ino);
	}
}

static void pinned_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (pin(req, ino)) {
		op_readlink(req, ino);
		unpin(ino);
	}
}

static void pinned_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, dev_t rdev)
{
	if (pin(req, parent)) {
		op_mknod(req, parent, name, mode, rdev);
		unpin(parent);
	}
}

static void pinned_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	if (pin(req, parent)) {
		op_mkdir(req, parent, name, mode);
		unpin(parent);
	}
}

static void pinned_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (pin(req, parent)) {
		op_unlink(req, parent, name);
		unpin(parent);
	}
}

static void pinned_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (pin(req, parent)) {
		op_rmdir(req, parent, name);
		unpin(parent);
	}
}

static void pinned_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			   const char *name)
{
	if (pin(req, parent)) {
		op_symlink(req, link, parent, name);
		unpin(parent);
	}
}

static void pinned_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	if (pin2(req, parent, newparent)) {
		op_rename(req, parent, name, newparent, newname, flags);
		unpin(newparent);
		unpin(parent);
	}
}

static void pinned_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	if (pin2(req, ino, newparent)) {
		op_link(req, ino, newparent, newname);
		unpin(newparent);
		unpin(ino);
	}
}

static void pinned_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (pin(req, ino)) {
		op_opendir(req, ino, fi);
		unpin(ino);
	}
}

static void pinned_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	if (pin(req, ino)) {
		op_readdir(req, ino, size, off, fi);
		unpin(ino);
	}
}

static void pinned_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			       off_t off, struct fuse_file_info *fi)
{
	if (pin(req, ino)) {
		op_readdirplus(req, ino, size, off, fi);
		unpin(ino);
	}
}

static void pinned_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	if (pin(req, ino)) {
		op_setxattr(req, ino, name, value, size, flags);
		unpin(ino);
	}
}

static void pinned_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	if (pin(req, ino)) {
		op_getxattr(req, ino, name, size);
		unpin(ino);
	}
}

static void pinned_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (pin(req, ino)) {
		op_listxattr(req, ino, size);
		unpin(ino);
	}
}

static void pinned_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (pin(req, ino)) {
		op_removexattr(req, ino, name);
		unpin(ino);
	}
}

static void pinned_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	if (pin(req, ino)) {
		op_access(req, ino, mask);
		unpin(ino);
	}
}

static void pinned_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			  mode_t mode, struct fuse_file_info *fi)
{
	if (pin(req, parent)) {
		op_create(req, parent, name, mode, fi);
		unpin(parent);
	}
}

/* Every request the kernel sends is counted and timed, from its arrival
 * here to the return of its handler, which has replied (metrics.c):
 * TIMED(op, handler, (parameters), (arguments)) defines timed_op. */
#define TIMED(op, fn, params, args)				\
	static void timed_##op params				\
	{							\
		uint64_t t0 = metrics_now_ns();			\
								\
		fn args;					\
		fs_metrics_op(FS_OP_##op, t0);			\
	}
TIMED(lookup, pinned_lookup, (fuse_req_t req, fuse_ino_t parent,
      const char *name), (req, parent, name))
TIMED(forget, coffre_forget, (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup),
      (req, ino, nlookup))
TIMED(forget_multi, coffre_forget_multi, (fuse_req_t req, size_t count,
      struct fuse_forget_data *forgets), (req, count, forgets))
TIMED(getattr, pinned_getattr, (fuse_req_t req, fuse_ino_t ino,
      struct fuse_file_info *fi), (req, ino, fi))
TIMED(setattr, pinned_setattr, (fuse_req_t req, fuse_ino_t ino,
      struct stat *attr, int to_set, struct fuse_file_info *fi), (req, ino, attr,
      to_set, fi))
TIMED(readlink, pinned_readlink, (fuse_req_t req, fuse_ino_t ino), (req, ino))
TIMED(mknod, pinned_mknod, (fuse_req_t req, fuse_ino_t parent, const char *name,
      mode_t mode, dev_t rdev), (req, parent, name, mode, rdev))
TIMED(mkdir, pinned_mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name,
      mode_t mode), (req, parent, name, mode))
TIMED(unlink, pinned_unlink, (fuse_req_t req, fuse_ino_t parent,
      const char *name), (req, parent, name))
TIMED(rmdir, pinned_rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name),
      (req, parent, name))
TIMED(symlink, pinned_symlink, (fuse_req_t req, const char *link,
      fuse_ino_t parent, const char *name), (req, link, parent, name))
TIMED(rename, pinned_rename, (fuse_req_t req, fuse_ino_t parent,
      const char *name, fuse_ino_t newparent, const char *newname,
      unsigned int flags), (req, parent, name, newparent, newname, flags))
TIMED(link, pinned_link, (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
      const char *newname), (req, ino, newparent, newname))
TIMED(open, op_open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
      (req, ino, fi))
TIMED(read, op_read, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
      struct fuse_file_info *fi), (req, ino, size, off, fi))
TIMED(write, op_write, (fuse_req_t req, fuse_ino_t ino, const char *buf,
      size_t size, off_t off, struct fuse_file_info *fi), (req, ino, buf, size,
      off, fi))
TIMED(flush, op_flush, (fuse_req_t req, fuse_ino_t ino,
      struct fuse_file_info *fi), (req, ino, fi))
TIMED(release, op_release, (fuse_req_t req, fuse_ino_t ino,
      struct fuse_file_info *fi), (req, ino, fi))
TIMED(fsync, op_fsync, (fuse_req_t req, fuse_ino_t ino, int datasync,
      struct fuse_file_info *fi), (req, ino, datasync, fi))
TIMED(opendir, pinned_opendir, (fuse_req_t req, fuse_ino_t ino,
      struct fuse_file_info *fi), (req, ino, fi))
TIMED(readdir, pinned_readdir, (fuse_req_t req, fuse_ino_t ino, size_t size,
      off_t off, struct fuse_file_info *fi), (req, ino, size, off, fi))
TIMED(readdirplus, pinned_readdirplus, (fuse_req_t req, fuse_ino_t ino,
      size_t size, off_t off, struct fuse_file_info *fi), (req, ino, size, off,
      fi))
TIMED(releasedir, op_releasedir, (fuse_req_t req, fuse_ino_t ino,
      struct fuse_file_info *fi), (req, ino, fi))
TIMED(fsyncdir, op_fsyncdir, (fuse_req_t req, fuse_ino_t ino, int datasync,
      struct fuse_file_info *fi), (req, ino, datasync, fi))
TIMED(statfs, op_statfs, (fuse_req_t req, fuse_ino_t ino), (req, ino))
TIMED(setxattr, pinned_setxattr, (fuse_req_t req, fuse_ino_t ino,
      const char *name, const char *value, size_t size, int flags), (req, ino,
      name, value, size, flags))
TIMED(getxattr, pinned_getxattr, (fuse_req_t req, fuse_ino_t ino,
      const char *name, size_t size), (req, ino, name, size))
TIMED(listxattr, pinned_listxattr, (fuse_req_t req, fuse_ino_t ino, size_t size),
      (req, ino, size))
TIMED(removexattr, pinned_removexattr, (fuse_req_t req, fuse_ino_t ino,
      const char *name), (req, ino, name))
TIMED(access, pinned_access, (fuse_req_t req, fuse_ino_t ino, int mask), (req,
      ino, mask))
TIMED(create, pinned_create, (fuse_req_t req, fuse_ino_t parent,
      const char *name, mode_t mode, struct fuse_file_info *fi), (req, parent,
      name, mode, fi))
TIMED(fallocate, op_fallocate, (fuse_req_t req, fuse_ino_t ino, int mode,
      off_t offset, off_t length, struct fuse_file_info *fi), (req, ino, mode,
      offset, length, fi))
#undef TIMED

const struct fuse_lowlevel_ops coffre_ops = {
	.init = coffre_init,
	.destroy = coffre_destroy,
	.lookup = timed_lookup,
	.forget = timed_forget,
	.forget_multi = timed_forget_multi,
	.getattr = timed_getattr,
	.setattr = timed_setattr,
	.readlink = timed_readlink,
	.mknod = timed_mknod,
	.mkdir = timed_mkdir,
	.unlink = timed_unlink,
	.rmdir = timed_rmdir,
	.symlink = timed_symlink,
	.rename = timed_rename,
	.link = timed_link,
	.open = timed_open,
	.read = timed_read,
	.write = timed_write,
	.flush = timed_flush,
	.release = timed_release,
	.fsync = timed_fsync,
	.opendir = timed_opendir,
	.readdir = timed_readdir,
	.readdirplus = timed_readdirplus,
	.releasedir = timed_releasedir,
	.fsyncdir = timed_fsyncdir,
	.statfs = timed_statfs,
	.setxattr = timed_setxattr,
	.getxattr = timed_getxattr,
	.listxattr = timed_listxattr,
	.removexattr = timed_removexattr,
	.access = timed_access,
	.create = timed_create,
	.fallocate = timed_fallocate,
};
