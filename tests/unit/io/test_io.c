/*
 * Unit tests for src/io: the full read/write loops against a pipe fed or
 * drained slowly while a timer interrupts them (short counts and EINTR),
 * EOF counts, io_replace (content on success, no temp left on failure),
 * io_read_small caps, io_open_untrusted refusing a FIFO (without
 * blocking), a symlink, a directory and a device, io_dir_empty, and the
 * digest against XXH3_128bits of the same bytes.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <xxhash.h>

#include "coffre/format.h"
#include "coffre/io.h"

#define BIG (4u << 20)

static char dir[64];
static int dfd = -1;
static volatile sig_atomic_t ticks;

static void tick(int sig)
{
	(void)sig;
	ticks++;
}

/* SIGALRM every 200 us, without SA_RESTART: blocking calls see EINTR. */
static void timer_on(void)
{
	struct sigaction sa = { .sa_handler = tick };
	struct itimerval it = { { 0, 200 }, { 0, 200 } };

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void timer_off(void)
{
	struct itimerval it = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_IGN);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/coffre-io-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	char cmd[96];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		cr_log_warn("cannot remove %s", dir);
}

TestSuite(io, .init = setup, .fini = teardown);

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
	return p;
}

struct pipe_job {
	int fd;
	uint8_t *buf;
	size_t len;
	ssize_t ret;
};

/* Feed a pipe in small pieces, with pauses. */
static void *slow_writer(void *arg)
{
	struct pipe_job *j = arg;

	for (size_t off = 0; off < j->len;) {
		size_t n = j->len - off < 3001 ? j->len - off : 3001;
		ssize_t w = write(j->fd, j->buf + off, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
		if (off % 7 == 0)
			usleep(50);
	}
	close(j->fd);
	return NULL;
}

/* Drain a pipe in small pieces, with pauses. */
static void *slow_reader(void *arg)
{
	struct pipe_job *j = arg;
	size_t off = 0;

	for (;;) {
		size_t n = j->len - off < 2999 ? j->len - off : 2999;
		ssize_t r = n ? read(j->fd, j->buf + off, n) : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
		if (off % 5 == 0)
			usleep(50);
	}
	j->ret = (ssize_t)off;
	close(j->fd);
	return NULL;
}

static void block_alarm(bool block)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

Test(io, read_full_short_counts_and_eintr)
{
	uint8_t *src = pattern(BIG, 1), *dst = malloc(BIG + 16);
	struct pipe_job j = { .buf = src, .len = BIG };
	pthread_t t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	j.fd = p[1];
	block_alarm(true);              /* the signals go to this thread */
	cr_assert_eq(pthread_create(&t, NULL, slow_writer, &j), 0);
	block_alarm(false);
	ticks = 0;
	timer_on();
	cr_assert_eq(io_read_full(p[0], dst, BIG), (ssize_t)BIG);
	/* At EOF: the count, then 0. */
	cr_assert_eq(io_read_full(p[0], dst, 16), 0);
	timer_off();
	pthread_join(t, NULL);
	cr_assert(ticks > 0, "no signal arrived during the read");
	cr_assert_eq(memcmp(src, dst, BIG), 0);
	close(p[0]);
	free(src);
	free(dst);
}

Test(io, write_full_short_counts_and_eintr)
{
	uint8_t *src = pattern(BIG, 2), *dst = malloc(BIG);
	struct pipe_job j = { .buf = dst, .len = BIG };
	pthread_t t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	j.fd = p[0];
	block_alarm(true);
	cr_assert_eq(pthread_create(&t, NULL, slow_reader, &j), 0);
	block_alarm(false);
	ticks = 0;
	timer_on();
	cr_assert_eq(io_write_full(p[1], src, BIG), 0);
	timer_off();
	close(p[1]);
	pthread_join(t, NULL);
	cr_assert(ticks > 0, "no signal arrived during the write");
	cr_assert_eq(j.ret, (ssize_t)BIG);
	cr_assert_eq(memcmp(src, dst, BIG), 0);
	free(src);
	free(dst);
}

Test(io, write_full_error_is_errno)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(io_write_full(p[1], "x", 1), -EPIPE);
	close(p[1]);
	cr_assert_eq(io_write_full(-1, "x", 1), -EBADF);
	cr_assert_eq(io_pwrite_full(-1, "x", 1, 0), -EBADF);
	cr_assert_eq(io_read_full(-1, p, 1), -EBADF);
}

Test(io, pread_pwrite_full)
{
	uint8_t *src = pattern(100000, 3), buf[100];
	int fd = openat(dfd, "f", O_RDWR | O_CREAT | O_EXCL, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(io_pwrite_full(fd, src, 100000, 5), 0);
	cr_assert_eq(io_pread_full(fd, buf, 100, 1005), 100);
	cr_assert_eq(memcmp(buf, src + 1000, 100), 0);
	/* Past the end: the count read. */
	cr_assert_eq(io_pread_full(fd, buf, 100, 100000 - 20), 25);
	cr_assert_eq(io_pread_full(fd, buf, 100, 200000), 0);
	close(fd);
	free(src);
}

static bool exists(const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static size_t count_entries(void)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

Test(io, replace)
{
	char buf[64];
	struct stat st;

	cr_assert_eq(io_replace(dfd, ".conf", "one", 3, 0640), 0);
	cr_assert_eq(io_read_small(dfd, ".conf", buf, sizeof(buf)), 3);
	cr_assert_eq(memcmp(buf, "one", 3), 0);
	cr_assert_eq(fstatat(dfd, ".conf", &st, 0), 0);
	cr_assert_eq(st.st_mode & 0777, 0640 & ~umask(022));
	/* A stale temp (a crash) is no obstacle. */
	cr_assert_eq(mkdirat(dfd, "d", 0700), 0);
	int fd = openat(dfd, "d/" COFFRE_TMP_PREFIX "conf", O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(io_replace(dfd, "d/.conf", "second", 6, 0600), 0);
	cr_assert_eq(io_read_small(dfd, "d/.conf", buf, sizeof(buf)), 6);
	cr_assert_eq(memcmp(buf, "second", 6), 0);
	cr_assert_not(exists("d/" COFFRE_TMP_PREFIX "conf"));
	cr_assert_eq(io_replace(dfd, "d/.conf", "", 0, 0600), 0);
	cr_assert_eq(io_read_small(dfd, "d/.conf", buf, sizeof(buf)), 0);
	cr_assert_eq(count_entries(), 2);
}

/* io_create_new never replaces: whatever holds the name (a file, a
 * dangling symlink, a directory) stays as it was, and no temp is left. */
Test(io, create_new_is_exclusive)
{
	char buf[64];

	cr_assert_eq(io_create_new(dfd, "n.conf", "first", 5, 0600), 0);
	cr_assert_eq(io_create_new(dfd, "n.conf", "second", 6, 0600), -EEXIST);
	cr_assert_eq(io_read_small(dfd, "n.conf", buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "first", 5), 0);
	cr_assert_eq(symlinkat("/nonexistent", dfd, "l.conf"), 0);
	cr_assert_eq(io_create_new(dfd, "l.conf", "x", 1, 0600), -EEXIST);
	cr_assert_eq(mkdirat(dfd, "d.conf", 0700), 0);
	cr_assert_eq(io_create_new(dfd, "d.conf", "x", 1, 0600), -EEXIST);
	cr_assert_not(exists(COFFRE_TMP_PREFIX "n.conf"));
	cr_assert_not(exists(COFFRE_TMP_PREFIX "l.conf"));
	cr_assert_eq(count_entries(), 3);
}

/* io_replace's temp names (the tests above find them by format.h's
 * COFFRE_TMP_PREFIX, which io cannot include) are the filesystem's own. */
Test(io, replace_temp_is_internal)
{
	cr_assert(name_is_internal(COFFRE_TMP_PREFIX "conf"));
}

Test(io, replace_failure_leaves_no_temp)
{
	char buf[8];

	/* The rename fails: a non-empty directory holds the name. */
	cr_assert_eq(mkdirat(dfd, "x", 0700), 0);
	cr_assert_eq(mkdirat(dfd, "x/y", 0700), 0);
	cr_assert_eq(io_replace(dfd, "x", "data", 4, 0600), -EISDIR);
	cr_assert_not(exists(COFFRE_TMP_PREFIX "x"));
	cr_assert(exists("x/y"));
	/* The write fails after a short count (RLIMIT_FSIZE): -EFBIG, not a
	 * stale errno, and no temp. */
	struct rlimit rl = { 2, 2 };

	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_eq(io_replace(dfd, "f", "data", 4, 0600), -EFBIG);
	cr_assert_not(exists(COFFRE_TMP_PREFIX "f"));
	cr_assert_not(exists("f"));
	/* No directory for the temp. */
	cr_assert_eq(io_replace(dfd, "nodir/f", "da", 2, 0600), -ENOENT);
	cr_assert_eq(io_read_small(dfd, "x", buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(count_entries(), 1);
}

Test(io, read_small_cap)
{
	char buf[8];

	cr_assert_eq(io_replace(dfd, "s", "12345678", 8, 0600), 0);
	cr_assert_eq(io_read_small(dfd, "s", buf, 8), 8);
	cr_assert_eq(io_read_small(dfd, "s", buf, 7), -EFBIG);
	cr_assert_eq(io_read_small(dfd, "s", buf, 0), -EFBIG);
	cr_assert_eq(io_read_small(dfd, "absent", buf, 8), -ENOENT);
}

Test(io, read_alloc)
{
	uint8_t *p = NULL;
	size_t len = 0;

	cr_assert_eq(io_replace(dfd, "s", "12345678", 8, 0600), 0);
	cr_assert_eq(io_read_alloc(dfd, "s", 8, &p, &len), 0);
	cr_assert_eq(len, 8);
	cr_assert_eq(memcmp(p, "12345678", 8), 0);
	free(p);
	cr_assert_eq(io_read_alloc(dfd, "s", 7, &p, &len), -EFBIG);
	cr_assert_eq(io_read_alloc(dfd, ".", 100, &p, &len), -EINVAL);
}

Test(io, open_untrusted, .timeout = 10)
{
	int fd;

	cr_assert_eq(mkfifoat(dfd, "fifo", 0600), 0);
	cr_assert_eq(symlinkat("target", dfd, "link"), 0);
	cr_assert_eq(io_replace(dfd, "target", "t", 1, 0600), 0);
	cr_assert_eq(mkdirat(dfd, "sub", 0700), 0);
	cr_assert_eq(symlinkat("sub", dfd, "dlink"), 0);

	/* No reader on the FIFO: a blocking open would hang here. */
	cr_assert_eq(io_open_untrusted(dfd, "fifo", O_RDONLY, S_IFREG), -EINVAL);
	cr_assert_eq(io_open_untrusted(dfd, "fifo", O_RDONLY, S_IFDIR), -ENOTDIR);
	cr_assert_eq(io_open_untrusted(dfd, "link", O_RDONLY, S_IFREG), -ELOOP);
	fd = io_open_untrusted(dfd, "dlink", O_RDONLY, S_IFDIR);
	cr_assert(fd == -ELOOP || fd == -ENOTDIR, "symlink to a dir opened: %d", fd);
	cr_assert_eq(io_open_untrusted(dfd, "sub", O_RDONLY, S_IFREG), -EINVAL);
	cr_assert_eq(io_open_untrusted(dfd, "target", O_RDONLY, S_IFDIR), -ENOTDIR);
	{
		int dev = open("/dev", O_RDONLY | O_DIRECTORY);

		cr_assert_eq(io_open_untrusted(dev, "null", O_RDONLY, S_IFREG), -EINVAL);
		cr_assert_eq(io_open_untrusted(dev, "null", O_RDONLY, S_IFDIR), -ENOTDIR);
		close(dev);
	}
	/* Untrusted names are relative: an absolute one leaves the directory. */
	cr_assert_eq(io_open_untrusted(dfd, "/dev/null", O_RDONLY, S_IFREG), -EXDEV);
	cr_assert_eq(io_open_untrusted(dfd, "absent", O_RDONLY, S_IFREG), -ENOENT);
	cr_assert_eq(io_open_untrusted(dfd, "new", O_RDWR | O_CREAT, S_IFREG), -EINVAL);
	cr_assert_eq(io_open_untrusted(dfd, "target", O_RDONLY, S_IFLNK), -EINVAL);

	fd = io_open_untrusted(dfd, "target", O_RDWR, S_IFREG);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "O_NONBLOCK left on");
	cr_assert_neq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	cr_assert_eq((fcntl(fd, F_GETFL) & O_ACCMODE), O_RDWR);
	close(fd);
	fd = io_open_untrusted(dfd, "target", O_RDONLY | O_NONBLOCK, S_IFREG);
	cr_assert_neq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "the caller's O_NONBLOCK");
	close(fd);
	fd = io_open_untrusted(dfd, "sub", O_RDONLY, S_IFDIR);
	cr_assert_geq(fd, 0);
	close(fd);
}

Test(io, dir_empty)
{
	int sub;

	cr_assert_eq(io_dir_empty(dfd, NULL), 1);
	cr_assert_eq(mkdirat(dfd, "lost+found", 0700), 0);
	cr_assert_eq(io_dir_empty(dfd, NULL), 0);
	cr_assert_eq(io_dir_empty(dfd, "lost+found"), 1);
	cr_assert_eq(io_dir_empty(dfd, ".coffre.dir"), 0);
	sub = openat(dfd, "lost+found", O_RDONLY | O_DIRECTORY);
	cr_assert_eq(io_dir_empty(sub, NULL), 1);
	close(sub);
	cr_assert_eq(io_dir_empty(-1, NULL), -EBADF);
}

struct copy {
	uint8_t *out;
	size_t pieces;
	int fail_at;
};

static int copy_chunk(void *arg, const void *p, size_t n, uint64_t off)
{
	struct copy *c = arg;

	if (c->fail_at >= 0 && c->pieces == (size_t)c->fail_at)
		return -ENOSPC;
	memcpy(c->out + off, p, n);
	c->pieces++;
	return 0;
}

static void check_digest(size_t n, size_t buflen)
{
	uint8_t *src = pattern(n, (unsigned)n), *copy = calloc(1, n + 1);
	uint8_t head[48] = { 0 }, *rbuf = malloc(buflen);
	struct copy c = { .out = copy, .fail_at = -1 };
	struct io_digest d = { .buf = rbuf, .buflen = buflen, .head = head,
			       .head_len = sizeof(head), .chunk = copy_chunk,
			       .arg = &c };
	XXH128_canonical_t can;
	int fd = openat(dfd, "obj", O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(io_pwrite_full(fd, src, n, 0), 0);
	cr_assert_eq(io_digest_fd(fd, &d), 0);
	XXH128_canonicalFromHash(&can, XXH3_128bits(src, n));
	cr_assert_eq(memcmp(d.digest, can.digest, 16), 0, "digest of %zu bytes", n);
	cr_assert_eq(d.size, n);
	cr_assert_eq(memcmp(copy, src, n), 0);
	cr_assert_eq(memcmp(head, src, n < 48 ? n : 48), 0);
	close(fd);
	free(src);
	free(copy);
	free(rbuf);
}

Test(io, digest)
{
	check_digest(0, 4096);
	check_digest(1, 4096);
	check_digest(47, 16);
	check_digest(4096, 4096);
	check_digest(1000003, 65536);
}

Test(io, digest_chunk_error_stops)
{
	uint8_t *src = pattern(10000, 9), *copy = calloc(1, 10000), rbuf[1000];
	struct copy c = { .out = copy, .fail_at = 3 };
	struct io_digest d = { .buf = rbuf, .buflen = sizeof(rbuf),
			       .chunk = copy_chunk, .arg = &c };
	int fd = openat(dfd, "obj", O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert_eq(io_pwrite_full(fd, src, 10000, 0), 0);
	cr_assert_eq(io_digest_fd(fd, &d), -ENOSPC);
	cr_assert_eq(c.pieces, 3);
	cr_assert_eq(io_digest_fd(-1, &d), -EBADF);
	close(fd);
	free(src);
	free(copy);
}

/* chmod never reaches through a symlink: a swapped-in link is refused
 * and its target keeps its mode; a real entry changes. */
Test(io, chmod_at_does_not_follow)
{
	int fd = openat(dfd, "target", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct stat st;

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(symlinkat("target", dfd, "link"), 0);
	cr_assert_eq(io_chmod_at(dfd, "link", 04777), -EOPNOTSUPP);
	cr_assert_eq(fstatat(dfd, "target", &st, 0), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(io_chmod_at(dfd, "target", 0640), 0);
	cr_assert_eq(fstatat(dfd, "target", &st, 0), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(io_chmod_at(dfd, "missing", 0600), -ENOENT);
}

/* io_replace never writes through a symlinked directory on the way. */
Test(io, replace_does_not_follow_a_symlinked_directory)
{
	cr_assert_eq(mkdirat(dfd, "real", 0700), 0);
	cr_assert_eq(symlinkat("real", dfd, "via"), 0);
	cr_assert_eq(io_replace(dfd, "via/f", "x", 1, 0600), -ENOTDIR);
	cr_assert_not(exists("real/f"));
	cr_assert_eq(io_replace(dfd, "real/f", "x", 1, 0600), 0);
	cr_assert(exists("real/f"));
}

/* io_open_dir walks a path one O_NOFOLLOW component at a time. */
Test(io, open_dir_does_not_follow)
{
	int fd;

	cr_assert_eq(mkdirat(dfd, "a", 0700), 0);
	cr_assert_eq(mkdirat(dfd, "a/b", 0700), 0);
	cr_assert_eq(symlinkat("a", dfd, "l"), 0);
	fd = io_open_dir(dfd, "a/b");
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(io_open_dir(dfd, "l/b"), -ENOTDIR);
	cr_assert_eq(io_open_dir(dfd, "a/l"), -ENOENT);
	cr_assert_eq(symlinkat("b", dfd, "a/lb"), 0);
	cr_assert_eq(io_open_dir(dfd, "a/lb"), -ENOTDIR);
	cr_assert_eq(io_open_dir(dfd, ""), -EINVAL);
}
