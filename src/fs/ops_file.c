/*
 * ops_file.c — data and attributes: open, read, write, flush, release,
 * fsync, fallocate, getattr, setattr.
 *
 * A file's data state lives in its inode (inode.c) while open: the store
 * (store/file.c) seals and opens segments; this file only takes the
 * inode's lock (readers shared, writers and truncation alone) and talks to
 * the kernel.  Read replies use a per-thread buffer that only grows, so the
 * data path does not allocate.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ops.h"

static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;
static __thread uint8_t *rbuf;
static __thread size_t rbuf_len;

static void rbuf_free(void *p)
{
	free(p);
}

static void rbuf_init(void)
{
	pthread_key_create(&rbuf_key, rbuf_free);
}

static uint8_t *read_buffer(size_t size)
{
	uint8_t *p;

	if (size <= rbuf_len)
		return rbuf;
	pthread_once(&rbuf_once, rbuf_init);
	if (size < STORE_MAX_REQUEST)
		size = STORE_MAX_REQUEST;
	p = realloc(rbuf, size);
	if (!p)
		return NULL;
	rbuf = p;
	rbuf_len = size;
	pthread_setspecific(rbuf_key, p);
	return p;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	int err;

	if (i->type != S_IFREG) {
		ops_reply_err(req, i->type == S_IFDIR ? EISDIR : EINVAL);
		return;
	}
	err = inode_open_data(g_fs.inodes, i);
	if (!err && (fi->flags & O_TRUNC)) {
		pthread_rwlock_wrlock(&i->of->rw);
		err = i->of->shredded ? -EIO : store_truncate(&i->of->sf, 0);
		pthread_rwlock_unlock(&i->of->rw);
		if (err)
			inode_close_data(i);
	}
	if (err) {
		ops_reply_err(req, -err);
		return;
	}
	fi->fh = 0;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		inode_close_data(i);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	const uint8_t *view = NULL;
	uint8_t *buf = NULL;
	ssize_t n;

	(void)fi;
	pthread_rwlock_rdlock(&i->of->rw);
	if (i->of->shredded) {
		n = -EIO;
	} else if (size <= STORE_MAX_REQUEST) {
		/* The common case: reply straight from the store's buffer. */
		n = store_read_view(&i->of->sf, size, (uint64_t)off, &view);
	} else {
		buf = read_buffer(size);
		n = buf ? store_read(&i->of->sf, buf, size, (uint64_t)off) : -ENOMEM;
		view = buf;
	}
	pthread_rwlock_unlock(&i->of->rw);
	if (n < 0) {
		ops_reply_err(req, (int)-n);
	} else {
		fs_metrics_read((size_t)n);
		fuse_reply_buf(req, (const char *)view, (size_t)n);
	}
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	ssize_t n;

	(void)fi;
	if (off < 0) {
		ops_reply_err(req, EINVAL);
		return;
	}
	pthread_rwlock_wrlock(&i->of->rw);
	n = i->of->shredded ? -EIO : store_write(&i->of->sf, buf, size, (uint64_t)off);
	i->of->dirty = true;
	pthread_rwlock_unlock(&i->of->rw);
	if (n < 0) {
		ops_reply_err(req, (int)-n);
	} else {
		fs_metrics_written((size_t)n);
		fuse_reply_write(req, (size_t)n);
	}
}

/* Written data reaches the replication journal at close and at fsync
 * (DESIGN.md §6), not at every write. */
static void note_if_dirty(struct inode *i)
{
	bool dirty;

	pthread_rwlock_wrlock(&i->of->rw);
	dirty = i->of->dirty;
	i->of->dirty = false;
	pthread_rwlock_unlock(&i->of->rw);
	if (dirty)
		note_inode(i);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	note_if_dirty(inode_of(g_fs.inodes, ino));
	ops_reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	note_if_dirty(inode_of(g_fs.inodes, ino));
	inode_close_data(inode_of(g_fs.inodes, ino));
	ops_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	int err;

	(void)fi;
	pthread_rwlock_rdlock(&i->of->rw);
	err = (datasync ? fdatasync(i->of->sf.fd) : fsync(i->of->sf.fd)) ? errno : 0;
	pthread_rwlock_unlock(&i->of->rw);
	if (!err)
		note_if_dirty(i);
	ops_reply_err(req, err);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	uint64_t end = (uint64_t)offset + (uint64_t)length, from;
	int err = 0;

	(void)fi;
	if (mode) {
		ops_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (offset < 0 || length <= 0) {
		ops_reply_err(req, EINVAL);
		return;
	}
	pthread_rwlock_wrlock(&i->of->rw);
	if (i->of->shredded)
		err = -EIO;
	else if (end > i->of->sf.size) {
		/* Reserve the space first, so ENOSPC changes nothing; the
		 * reserved zero segments read as holes (zeros). */
		from = seg_offset(i->of->sf.seg_size, (uint64_t)offset / i->of->sf.seg_size);
		if (fallocate(i->of->sf.fd, FALLOC_FL_KEEP_SIZE, (off_t)from,
			      (off_t)(cipher_size(i->of->sf.seg_size, end) - from)))
			err = -errno;
		if (!err)
			err = store_truncate(&i->of->sf, end);
	}
	pthread_rwlock_unlock(&i->of->rw);
	if (!err)
		note_inode(i);
	ops_reply_err(req, -err);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int err = attr_get(inode_of(g_fs.inodes, ino), &st);

	(void)fi;
	if (err)
		ops_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, g_fs.timeout);
}

static int set_size(struct inode *i, uint64_t size)
{
	int err;

	if (i->type == S_IFDIR)
		return -EISDIR;
	if (i->type != S_IFREG)
		return -EINVAL;
	err = inode_open_data(g_fs.inodes, i);
	if (err)
		return err;
	pthread_rwlock_wrlock(&i->of->rw);
	err = i->of->shredded ? -EIO : store_truncate(&i->of->sf, size);
	pthread_rwlock_unlock(&i->of->rw);
	inode_close_data(i);
	return err;
}

static void set_time(struct timespec *ts, int to_set, int flag, int now_flag,
		     const struct timespec *value)
{
	if (to_set & now_flag) {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_NOW;
	} else if (to_set & flag) {
		*ts = *value;
	} else {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_OMIT;
	}
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct inode *i = inode_of(g_fs.inodes, ino);
	struct timespec ts[2];
	struct stat st;
	char path[64];
	int err = 0;

	(void)fi;
	if (to_set & FUSE_SET_ATTR_SIZE)
		err = set_size(i, (uint64_t)attr->st_size);
	/* The rest is made before a re-key copies it or on its copy. */
	inode_meta_lock(i);
	if (!err && (to_set & FUSE_SET_ATTR_MODE)) {
		inode_path(i, path);
		if (i->type == S_IFLNK)
			err = -EOPNOTSUPP;
		else if (chmod(path, attr->st_mode & 07777))
			err = -errno;
	}
	if (!err && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(i->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			err = -errno;
	}
	if (!err && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
		set_time(&ts[0], to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW,
			 &attr->st_atim);
		set_time(&ts[1], to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW,
			 &attr->st_mtim);
		if (utimensat(i->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			err = -errno;
	}
	inode_meta_unlock(i);
	if (!err) {
		note_inode(i);
		err = attr_get(i, &st);
	}
	if (err)
		ops_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, g_fs.timeout);
}
