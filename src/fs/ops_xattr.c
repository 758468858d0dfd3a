/*
 * ops_xattr.c — the extended-attribute operations; the encryption of names
 * and values is in xattr.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "ops.h"

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	int err = xattr_set(inode_of(g_fs.inodes, ino), name, value, size, flags);

	if (!err)
		note_inode(inode_of(g_fs.inodes, ino));
	ops_reply_err(req, -err);
}

static void reply_size_or_buf(fuse_req_t req, ssize_t n, size_t size,
			      const char *buf)
{
	if (n < 0)
		ops_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	n = xattr_get(inode_of(g_fs.inodes, ino), name, buf, size);
	reply_size_or_buf(req, n, size, buf);
	free(buf);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		ops_reply_err(req, ENOMEM);
		return;
	}
	n = xattr_list(inode_of(g_fs.inodes, ino), buf, size);
	reply_size_or_buf(req, n, size, buf);
	free(buf);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	int err = xattr_remove(inode_of(g_fs.inodes, ino), name);

	if (!err)
		note_inode(inode_of(g_fs.inodes, ino));
	ops_reply_err(req, -err);
}
