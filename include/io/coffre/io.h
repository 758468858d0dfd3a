/*
 * coffre io: the file I/O every module shares, on libc and libxxhash only.
 * Whole reads and writes (EINTR retried, short counts looped), atomic
 * replace of a small file, reading a small file, checking a directory is
 * empty, the one open of anything from untrusted storage (the backing
 * directory, the bucket), and the XXH3-128 object digest of the manifest
 * (doc/FORMAT-v1.md).  Functions return 0 (or a count) or -errno.
 */
#ifndef COFFRE_IO_H
#define COFFRE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The object digest: XXH3-128, canonical (big-endian) bytes. */
#define IO_DIGEST_LEN 16

/* Read len bytes (from the file offset, or at off).  Return: the count,
 * which is less than len only if the file ended first, or -errno. */
ssize_t io_read_full(int fd, void *buf, size_t len);
ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Write all of buf.  Return: 0 or -errno; -EIO if the kernel accepts
 * nothing (a short write sets no errno). */
int io_write_full(int fd, const void *buf, size_t len);
int io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * beneath.c: open the relative path under dirfd ("a/b/c") without leaving
 * dirfd and without following a symlink anywhere on the way (openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or a walk
 * of O_NOFOLLOW components where the kernel lacks it).  flags as for
 * openat (O_CLOEXEC added); mode if O_CREAT.  Return: the fd, or -ELOOP
 * (a symlink), -EXDEV ("..", absolute), -ENOTDIR, or another -errno.
 */
int io_open_beneath(int dirfd, const char *path, int flags, mode_t mode);
/* The parent directory of path under dirfd, opened the same way (a dup of
 * dirfd for a single name); *base is path's last component.  For the
 * *at calls that take one name: unlinkat, renameat, mkdirat. */
int io_open_parent(int dirfd, const char *path, const char **base);
/* mkdirat of path under dirfd through io_open_parent: 0 or -errno. */
int io_mkdir_beneath(int dirfd, const char *path, mode_t mode);
/* Tests: use the walk even where openat2 exists. */
extern bool io_test_no_openat2;

/*
 * Open name under dirfd from untrusted storage, never following a symlink
 * and checking the type before anything is opened.  flags: O_RDONLY,
 * O_WRONLY or O_RDWR, maybe O_APPEND (never O_CREAT); O_CLOEXEC and
 * O_NOCTTY are added.  want is S_IFREG or S_IFDIR.  name may have several
 * components: none is followed if a symlink (io_open_beneath).  A regular file is
 * first opened O_PATH (which opens nothing: no FIFO wait, no device side
 * effect), checked with fstat, then reopened through /proc/self/fd with
 * flags, so the same inode is opened; a directory is opened with
 * O_DIRECTORY | O_NOFOLLOW.  Return: the fd, or -ELOOP (a symlink),
 * -ENOTDIR (not a directory where one is wanted), -EINVAL (anything but a
 * regular file where one is wanted: a directory, FIFO, device or socket),
 * or another -errno.
 */
int io_open_untrusted(int dirfd, const char *name, int flags, mode_t want);

/*
 * trusted.c: root's own configuration (/etc/coffre), trusted because of
 * who owns it.  io_check_trusted: fd is of type (S_IFDIR or S_IFREG),
 * owned by root, writable by neither group nor other: 0, -EPERM (owner or
 * mode), -ENOTDIR / -EINVAL (another type), -ELOOP (a symlink).
 * io_open_trusted_dir: open the absolute path (O_RDONLY | O_DIRECTORY)
 * from "/", one component at a time, each O_NOFOLLOW ("", "." and ".."
 * refused, -EINVAL), checking "/" and every directory on the way with
 * io_check_trusted; with create, a missing last component is made (mode
 * 0700).  On failure bad (badlen bytes, may be NULL) gets the path up to
 * the component at fault.  io_open_trusted_dir_at: the same for a relative
 * path under base, which the caller vouches for (tests).
 * io_read_trusted: read the regular file name in dirfd, opened O_RDONLY |
 * O_NOFOLLOW | O_NONBLOCK (a FIFO never waits) and checked as above, into
 * buf: its length, -EFBIG if larger than cap, -ELOOP (symlink), -EINVAL
 * (not a regular file), -EPERM, or another -errno.
 */
int io_check_trusted(int fd, mode_t type);
int io_open_trusted_dir(const char *path, bool create, char *bad, size_t badlen);
int io_open_trusted_dir_at(int base, const char *rel, bool create, char *bad,
			   size_t badlen);
ssize_t io_read_trusted(int dirfd, const char *name, void *buf, size_t cap);

/*
 * Resource errors: a full fd table, memory or disk is not a bad file nor a
 * failed HSM, and reaches the caller as itself.  io_resource_error: true
 * for -EMFILE, -ENFILE, -ENOMEM, -ENOSPC, -EDQUOT.  io_fds_exhausted: true
 * if this process cannot open one more fd right now (probed with one
 * O_PATH open; for error paths, where a library reports a generic error).
 */
bool io_resource_error(int err);

/* chmod name under dirfd, never through a symlink: a symlink there (an
 * entry swapped after it was made) is refused with -EOPNOTSUPP and
 * nothing it points to changes.  glibc does it on an O_PATH fd of the
 * entry itself (needs /proc).  Return: 0 or -errno. */
int io_chmod_at(int dirfd, const char *name, mode_t mode);
bool io_fds_exhausted(void);

/* Read fd from its offset into buf: the length, -EFBIG if it holds more
 * than cap bytes, or -errno. */
ssize_t io_read_capped(int fd, void *buf, size_t cap);
/* Read the regular file name (io_open_untrusted) into buf.  Return: its
 * length, -EFBIG if it holds more than cap bytes, or -errno. */
ssize_t io_read_small(int dirfd, const char *name, void *buf, size_t cap);

/* The same into a malloc'd buffer (one spare byte at the end, for a NUL)
 * of at most max bytes: -EFBIG if larger, -EAGAIN if it grew while read. */
int io_read_alloc(int dirfd, const char *name, size_t max, uint8_t **out,
		  size_t *out_len);

/* Open the directory path under dirfd ("a/b/c") through io_open_beneath:
 * never through a symlink, never above dirfd.  Return: the fd (O_RDONLY)
 * or -errno (-ENOTDIR for a symlink on the way, -EXDEV for ".."). */
int io_open_dir(int dirfd, const char *path);

/*
 * Replace name under dirfd with buf atomically: written to a temp file
 * `.coffre.tmp.<name without its leading dot>` in the same directory
 * (created O_EXCL | O_NOFOLLOW with mode, a stale one removed first),
 * fsynced, renamed over name, and the directory fsynced.  name may hold
 * a directory part ("a/b": the temp is a/.coffre.tmp.b; each directory on
 * the way is opened O_NOFOLLOW, never through a symlink).  On failure the
 * temp is removed and name is untouched.  Return: 0 or -errno.
 */
int io_replace(int dirfd, const char *name, const void *buf, size_t len,
	       mode_t mode);
/* As io_replace in dirfd itself (no directory part), with the temp named
 * tmp by the caller (the metrics file's must not end in .prom). */
int io_replace_as(int dirfd, const char *name, const char *tmp,
		  const void *buf, size_t len, mode_t mode);
/* As io_replace, but name must not exist: the complete temp is hard-linked
 * at name, so two writers cannot both succeed (-EEXIST for the second, and
 * for anything already there), and the temp is then removed. */
int io_create_new(int dirfd, const char *name, const void *buf, size_t len,
		  mode_t mode);

/* fsync a directory; EINVAL (a filesystem that cannot) is not an error. */
int io_fsync_dir(int dfd);

/* Whether directory dirfd holds nothing but ".", ".." and ignore (NULL:
 * nothing else).  Return: 1 empty, 0 not, or -errno. */
int io_dir_empty(int dirfd, const char *ignore);

/*
 * The object digest of the manifest: XXH3-128 of the whole file, from
 * offset 0 to EOF, as canonical (big-endian) bytes.  The caller gives the
 * read buffer; head (optional) receives the first head_len bytes; chunk
 * (optional) sees every piece read, at its offset, and a nonzero return
 * stops the walk with that value.
 */
struct io_digest {
	void *buf;                    /* read buffer, buflen bytes */
	size_t buflen;
	uint8_t *head;                /* NULL, or head_len bytes */
	size_t head_len;
	int (*chunk)(void *arg, const void *p, size_t n, uint64_t off);
	void *arg;
	uint8_t digest[IO_DIGEST_LEN]; /* out: XXH3-128, canonical */
	uint64_t size;                /* out: bytes hashed */
};
/* Return: 0, -errno of a read, -ENOMEM, or what chunk returned. */
int io_digest_fd(int fd, struct io_digest *d);

#endif
