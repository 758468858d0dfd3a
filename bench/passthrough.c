/*
 * passthrough.c — a FUSE passthrough with no cryptography, the ceiling that
 * coffre is measured against in bench/compare.sh.
 *
 * It mirrors a SOURCE directory at a mount point through the libfuse 3
 * low-level API with exactly coffre's FUSE settings (src/fs/ops.c
 * coffre_init and src/fs/daemon.c): writeback cache, no splice, 1 MiB
 * max_write and max_readahead, keep_cache on open, 1 s attribute and entry
 * timeouts, default_permissions, the multithreaded loop with clone_fd 0
 * and as many worker threads (2 per CPU, 4 to 16, none exiting when
 * idle), coffre's readahead and dirty-page limit (src/fs/bdi.c) and its
 * xattr policy.  Whatever coffre costs beyond this program is the price of its
 * format and cryptography, not of FUSE.
 *
 * Inodes are kept in a hash table keyed by the backing (st_dev, st_ino),
 * each holding an O_PATH descriptor and a lookup count that the kernel's
 * forget requests bring back to zero (the scheme of libfuse's
 * example/passthrough_hp, written anew here).  Open files carry their
 * backing descriptor in fi->fh; open directories a DIR stream.
 *
 * Usage: passthrough [-f] [-d] SOURCE MOUNTPOINT
 * It daemonises once mounted unless -f is given.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs/bdi.h"

#define PT_TIMEOUT 1.0
#define PT_MAX_REQUEST (1u << 20)
#define PT_BUCKETS 4096u

struct pt_inode {
	struct pt_inode *next;	/* hash chain */
	int fd;			/* O_PATH to the backing object */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;	/* kernel references; freed at zero */
};

struct pt_dir {
	DIR *dp;
	off_t pos;		/* offset of the next entry in dp */
	struct dirent *pending;	/* read but not yet sent */
};

static struct pt_inode pt_root;
static struct pt_inode *pt_table[PT_BUCKETS];
static pthread_mutex_t pt_lock = PTHREAD_MUTEX_INITIALIZER;

static struct pt_inode *inode_of(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &pt_root;
	return (struct pt_inode *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(const struct pt_inode *i)
{
	return i == &pt_root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

static size_t bucket_of(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev;

	return (size_t)(h >> 20) % PT_BUCKETS;
}

/* "/proc/self/fd/N" for an O_PATH descriptor, for the calls that take no
 * AT_EMPTY_PATH (open, chmod, truncate, utimes, link). */
static void proc_path(int fd, char buf[64])
{
	snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

static int stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

/*
 * Take a reference on the inode for (dev, ino), adopting fd if the inode is
 * new and closing it otherwise.  Return: the inode or NULL (ENOMEM).
 */
static struct pt_inode *inode_get(int fd, const struct stat *st)
{
	size_t b = bucket_of(st->st_dev, st->st_ino);
	struct pt_inode *i;

	if (st->st_dev == pt_root.dev && st->st_ino == pt_root.ino) {
		close(fd);
		return &pt_root;
	}
	pthread_mutex_lock(&pt_lock);
	for (i = pt_table[b]; i; i = i->next)
		if (i->dev == st->st_dev && i->ino == st->st_ino)
			break;
	if (i) {
		i->nlookup++;
		close(fd);
	} else {
		i = calloc(1, sizeof(*i));
		if (i) {
			i->fd = fd;
			i->dev = st->st_dev;
			i->ino = st->st_ino;
			i->nlookup = 1;
			i->next = pt_table[b];
			pt_table[b] = i;
		} else {
			close(fd);
		}
	}
	pthread_mutex_unlock(&pt_lock);
	return i;
}

static void inode_forget(struct pt_inode *i, uint64_t n)
{
	struct pt_inode **pp;

	if (i == &pt_root)
		return;
	pthread_mutex_lock(&pt_lock);
	if (i->nlookup > n) {
		i->nlookup -= n;
		pthread_mutex_unlock(&pt_lock);
		return;
	}
	for (pp = &pt_table[bucket_of(i->dev, i->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == i) {
			*pp = i->next;
			break;
		}
	}
	pthread_mutex_unlock(&pt_lock);
	close(i->fd);
	free(i);
}

/* Look name up under parent and fill e.  Return: 0 or a negative errno. */
static int do_lookup(struct pt_inode *parent, const char *name,
		     struct fuse_entry_param *e)
{
	struct pt_inode *i;
	int fd, err;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = PT_TIMEOUT;
	e->entry_timeout = PT_TIMEOUT;
	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = stat_fd(fd, &e->attr);
	if (err) {
		close(fd);
		return err;
	}
	i = inode_get(fd, &e->attr);
	if (!i)
		return -ENOMEM;
	e->ino = ino_of(i);
	return 0;
}

static void reply_entry(fuse_req_t req, struct pt_inode *parent,
			const char *name, int err)
{
	struct fuse_entry_param e;

	if (!err)
		err = do_lookup(parent, name, &e);
	if (err)
		fuse_reply_err(req, -err);
	else if (fuse_reply_entry(req, &e) == -ENOENT)
		inode_forget(inode_of(e.ino), 1);
}

static void pt_init(void *userdata, struct fuse_conn_info *conn)
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
	conn->max_write = PT_MAX_REQUEST;
	conn->max_read = 0;
	conn->max_readahead = PT_MAX_REQUEST;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_entry(req, inode_of(parent), name, 0);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(inode_of(ino), nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t k = 0; k < count; k++)
		inode_forget(inode_of(forgets[k].ino), forgets[k].nlookup);
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int err;

	(void)fi;
	err = stat_fd(inode_of(ino)->fd, &st);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, PT_TIMEOUT);
}

static int set_times(int ifd, const struct stat *attr, int valid,
		     struct fuse_file_info *fi)
{
	struct timespec tv[2] = {
		{ .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT }
	};
	char path[64];

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (fi)
		return futimens((int)fi->fh, tv) ? -errno : 0;
	proc_path(ifd, path);
	return utimensat(AT_FDCWD, path, tv, 0) ? -errno : 0;
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	struct pt_inode *i = inode_of(ino);
	char path[64];
	struct stat st;
	int err = 0;

	proc_path(i->fd, path);
	if (valid & FUSE_SET_ATTR_MODE) {
		if (fi ? fchmod((int)fi->fh, attr->st_mode) :
		    chmod(path, attr->st_mode))
			err = -errno;
	}
	if (!err && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(i->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			err = -errno;
	}
	if (!err && (valid & FUSE_SET_ATTR_SIZE)) {
		if (fi ? ftruncate((int)fi->fh, attr->st_size) :
		    truncate(path, attr->st_size))
			err = -errno;
	}
	if (!err && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		err = set_times(i->fd, attr, valid, fi);
	if (!err)
		err = stat_fd(i->fd, &st);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, PT_TIMEOUT);
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(inode_of(ino)->fd, "", buf, sizeof(buf));

	if (n < 0)
		fuse_reply_err(req, errno);
	else if ((size_t)n >= sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct pt_inode *p = inode_of(parent);

	reply_entry(req, p, name, mkdirat(p->fd, name, mode) ? -errno : 0);
}

static void pt_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	struct pt_inode *p = inode_of(parent);

	reply_entry(req, p, name, symlinkat(target, p->fd, name) ? -errno : 0);
}

static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		    const char *name)
{
	struct pt_inode *p = inode_of(parent);
	char path[64];

	proc_path(inode_of(ino)->fd, path);
	reply_entry(req, p, name,
		    linkat(AT_FDCWD, path, p->fd, name, AT_SYMLINK_FOLLOW) ?
		    -errno : 0);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, unlinkat(inode_of(parent)->fd, name, 0) ? errno : 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, unlinkat(inode_of(parent)->fd, name, AT_REMOVEDIR) ?
		       errno : 0);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, renameat2(inode_of(parent)->fd, name,
				      inode_of(newparent)->fd, newname, flags) ?
		       errno : 0);
}

/*
 * Open flags for the backing file.  The writeback cache makes the kernel
 * read pages of files opened write-only and do appends itself, so O_WRONLY
 * becomes O_RDWR and O_APPEND is dropped; O_DIRECT is dropped too, as the
 * kernel already bypassed its own cache and coffre ignores it as well.
 */
static int backing_flags(int flags)
{
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return (flags & ~(O_APPEND | O_DIRECT | O_NOFOLLOW)) | O_CLOEXEC;
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct pt_inode *p = inode_of(parent);
	struct fuse_entry_param e;
	int fd, err;

	fd = openat(p->fd, name, backing_flags(fi->flags) | O_CREAT, mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	err = do_lookup(p, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, -err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		close(fd);
		inode_forget(inode_of(e.ino), 1);
	}
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[64];
	int fd;

	proc_path(inode_of(ino)->fd, path);
	fd = open(path, backing_flags(fi->flags) & ~O_CREAT);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		close(fd);
}

/* Reads go through a per-thread buffer allocated once, as coffre's do
 * (fuse_reply_data without splice would malloc and free 1 MiB a read,
 * and glibc's mmap threshold then makes the figure bimodal). */
static __thread char *pt_rbuf;
static __thread size_t pt_rbuf_len;

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	size_t done = 0;

	(void)ino;
	if (size > pt_rbuf_len) {
		size_t want = size > PT_MAX_REQUEST ? size : PT_MAX_REQUEST;
		char *p = realloc(pt_rbuf, want);

		if (p == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		pt_rbuf = p;
		pt_rbuf_len = want;
	}
	while (done < size) {
		ssize_t n = pread((int)fi->fh, pt_rbuf + done, size - done,
				  off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fuse_reply_err(req, errno);
			return;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	fuse_reply_buf(req, pt_rbuf, done);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t done = 0;

	(void)ino;
	while (done < size) {
		ssize_t n = pwrite((int)fi->fh, buf + done, size - done,
				   off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fuse_reply_err(req, errno);
			return;
		}
		done += (size_t)n;
	}
	fuse_reply_write(req, done);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = (int)fi->fh;

	(void)ino;
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0);
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pt_dir *d = calloc(1, sizeof(*d));
	int fd;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(inode_of(ino)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		free(d);
	}
}

/*
 * Fill one readdir(plus) reply from the directory stream.  With plus, every
 * entry but "." and ".." is looked up, taking a reference the kernel will
 * forget, as coffre's readdirplus does.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct pt_dir *d = (struct pt_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->pos) {
		seekdir(d->dp, off);
		d->pos = off;
		d->pending = NULL;
	}
	for (;;) {
		struct fuse_entry_param e = { .attr.st_ino = 0 };
		struct dirent *de = d->pending;
		bool dot;
		size_t n;

		if (!de) {
			errno = 0;
			de = readdir(d->dp);
			if (!de) {
				err = -errno;
				break;
			}
			d->pending = de;
		}
		dot = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
		if (plus && !dot) {
			err = do_lookup(inode_of(ino), de->d_name, &e);
			if (err)
				break;
			n = fuse_add_direntry_plus(req, p, left, de->d_name,
						   &e, de->d_off);
			if (n > left) {
				inode_forget(inode_of(e.ino), 1);
				break;
			}
		} else {
			e.attr.st_ino = de->d_ino;
			e.attr.st_mode = (mode_t)de->d_type << 12;
			n = plus ? fuse_add_direntry_plus(req, p, left,
							  de->d_name, &e, de->d_off) :
				   fuse_add_direntry(req, p, left, de->d_name,
						     &e.attr, de->d_off);
			if (n > left)
				break;
		}
		p += n;
		left -= n;
		d->pos = de->d_off;
		d->pending = NULL;
	}
	if (p == buf && err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct pt_dir *d = (struct pt_dir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct pt_dir *d = (struct pt_dir *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);

	(void)ino;
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(inode_of(ino)->fd, &sv))
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/*
 * Extended attributes, with coffre's policy (src/fs/xattr.c): user.* only,
 * on regular files and directories; any other name is answered before any
 * I/O.  Without these the kernel would mark the connection as having no
 * xattrs and skip the getxattr("security.capability") it otherwise sends
 * before every write(2), a round trip coffre cannot avoid.
 */
static bool user_xattr(fuse_ino_t ino, const char *name, char path[64])
{
	struct pt_inode *i = inode_of(ino);
	struct stat st;

	if (strncmp(name, "user.", 5) || stat_fd(i->fd, &st) ||
	    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		return false;
	proc_path(i->fd, path);
	return true;
}

static void reply_xattr(fuse_req_t req, ssize_t n, size_t size, const char *buf)
{
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void pt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char path[64], *buf = size ? malloc(size) : NULL;

	if (size && !buf)
		fuse_reply_err(req, ENOMEM);
	else if (!user_xattr(ino, name, path))
		fuse_reply_err(req, ENODATA);
	else
		reply_xattr(req, getxattr(path, name, buf, size), size, buf);
	free(buf);
}

/* listxattr of path, keeping only the user.* names (as coffre lists);
 * sets errno and returns -1 on failure. */
static ssize_t user_names(const char *path, char *buf, size_t size)
{
	char all[65536];
	ssize_t n = listxattr(path, all, sizeof(all));
	size_t out = 0;

	for (ssize_t k = 0; n > 0 && k < n; k += (ssize_t)strlen(all + k) + 1) {
		size_t len = strlen(all + k) + 1;

		if (strncmp(all + k, "user.", 5))
			continue;
		if (size && out + len > size) {
			errno = ERANGE;
			return -1;
		}
		if (size)
			memcpy(buf + out, all + k, len);
		out += len;
	}
	return n < 0 ? -1 : (ssize_t)out;
}

static void pt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[64], *buf = size ? malloc(size) : NULL;

	if (size && !buf)
		fuse_reply_err(req, ENOMEM);
	else if (!user_xattr(ino, "user.", path))
		reply_xattr(req, 0, size, buf);
	else
		reply_xattr(req, user_names(path, buf, size), size, buf);
	free(buf);
}

static void pt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char path[64];

	if (!user_xattr(ino, name, path))
		fuse_reply_err(req, EOPNOTSUPP);
	else
		fuse_reply_err(req, setxattr(path, name, value, size, flags) ? errno : 0);
}

static void pt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char path[64];

	if (!user_xattr(ino, name, path))
		fuse_reply_err(req, ENODATA);
	else
		fuse_reply_err(req, removexattr(path, name) ? errno : 0);
}

static const struct fuse_lowlevel_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.forget_multi = pt_forget_multi,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.mkdir = pt_mkdir,
	.symlink = pt_symlink,
	.link = pt_link,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.create = pt_create,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.setxattr = pt_setxattr,
	.removexattr = pt_removexattr,
};

static int usage(void)
{
	fprintf(stderr, "usage: passthrough [-f] [-d] SOURCE MOUNTPOINT\n");
	return 2;
}

/* coffre's worker count (src/fs/daemon.c): 2 per CPU, 4 to 16. */
static unsigned int worker_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		return 4;
	return n > 8 ? 16 : (unsigned int)(2 * n);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg = NULL;
	struct fuse_session *se = NULL;
	char source[PATH_MAX], mnt[PATH_MAX], opts[PATH_MAX + 128];
	bool foreground = false, debug = false;
	int c, ret = 1;
	struct stat st;

	while ((c = getopt(argc, argv, "fd")) != -1) {
		if (c == 'f')
			foreground = true;
		else if (c == 'd')
			debug = foreground = true;
		else
			return usage();
	}
	if (argc - optind != 2)
		return usage();
	if (!realpath(argv[optind], source) || strchr(source, ',')) {
		fprintf(stderr, "passthrough: bad source %s\n", argv[optind]);
		return 1;
	}
	umask(0);
	pt_root.fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pt_root.fd < 0 || stat_fd(pt_root.fd, &st)) {
		perror("passthrough: source");
		return 1;
	}
	pt_root.dev = st.st_dev;
	pt_root.ino = st.st_ino;
	pt_root.nlookup = 2;
	snprintf(opts, sizeof(opts), "fsname=passthrough:%s,subtype=passthrough,"
		 "default_permissions", source);
	if (fuse_opt_add_arg(&args, "passthrough") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts) ||
	    (debug && fuse_opt_add_arg(&args, "-d")))
		goto out;
	se = fuse_session_new(&args, &pt_ops, sizeof(pt_ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out;
	if (!realpath(argv[optind + 1], mnt) ||
	    fuse_session_mount(se, argv[optind + 1])) {
		fuse_remove_signal_handlers(se);
		goto out;
	}
	/* coffre's defaults (src/fs/fs.h) */
	if (bdi_tune(mnt, "fuse.passthrough", 1024, 10))
		fprintf(stderr, "passthrough: readahead and dirty limit left "
			"at the kernel's defaults\n");
	if (fuse_daemonize(foreground))
		goto out_unmount;
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, worker_threads());
	fuse_loop_cfg_set_idle_threads(cfg, worker_threads());
	ret = fuse_session_loop_mt(se, cfg) ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
out_unmount:
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	close(pt_root.fd);
	return ret;
}
