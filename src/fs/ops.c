/*
 * ops.c — the low-level operations table, session init/destroy and the
 * helpers the operation files share (entry replies, ownership of new
 * objects).  The operations themselves are in ops_entry.c (names),
 * ops_file.c (data and attributes), ops_dir.c (listing, statfs) and
 * ops_xattr.c.
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
	int fd, err;

	/* An object the table knows costs one fstatat (readdirplus asks
	 * for every entry); only a new one is opened. */
	if (fstatat(parent->fd, bname, st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	*out = inode_find(g_fs.inodes, st->st_dev, st->st_ino);
	if (*out == NULL) {
		err = inode_fd_reserve(g_fs.inodes);
		if (err)
			return err;
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
	}
	attr_translate((*out)->fd, st);
	if ((*out)->type == S_IFREG) {
		/* An open file's size is the one the store keeps. */
		pthread_mutex_lock(&(*out)->mu);
		if ((*out)->nopen)
			st->st_size = (off_t)(*out)->sf.size;
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

const struct fuse_lowlevel_ops coffre_ops = {
	.init = coffre_init,
	.destroy = coffre_destroy,
	.lookup = op_lookup,
	.forget = coffre_forget,
	.forget_multi = coffre_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.fallocate = op_fallocate,
};
