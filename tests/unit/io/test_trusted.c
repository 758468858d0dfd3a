/*
 * Unit tests for src/io/trusted.c, the ownership and permission checks of
 * root's configuration (/etc/coffre/NAME.conf): a directory on the way or
 * the file that is group- or other-writable or not root's, a symlink
 * anywhere, a FIFO (which must not block), a socket, a directory where the
 * file is expected, a file too large: each refused with its own error and
 * the offending path.  Ownership cases need root (chown) and are skipped
 * otherwise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "coffre/io.h"

/* base is made by mkdtemp under /tmp (world-writable, sticky): the tests
 * walk below it with io_open_trusted_dir_at, vouching for base itself. */
static char base[64];
static int bfd = -1;

static void path_of(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", base, rel);
}

static void mk(const char *rel, mode_t mode)
{
	char p[256];

	path_of(p, sizeof(p), rel);
	cr_assert_eq(mkdir(p, mode), 0, "%s", p);
	cr_assert_eq(chmod(p, mode), 0);
}

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[256];
	int fd;

	path_of(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	cr_assert_geq(fd, 0, "%s", p);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(chmod(p, mode), 0);
}

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/coffre-trusted-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	cr_assert_geq(bfd = open(base, O_RDONLY | O_DIRECTORY), 0);
	mk("etc", 0755);
	mk("etc/coffre", 0700);
	put("etc/coffre/good.conf", "hello\n", 0600);
}

static void teardown(void)
{
	char cmd[160];

	close(bfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(trusted, .init = setup, .fini = teardown, .timeout = 20);

/* Open etc/coffre under base and read name; returns what io_read_trusted
 * returned, or the directory's error. */
static ssize_t read_conf(const char *name, char *buf, size_t cap, char *bad,
			 size_t badlen)
{
	int d = io_open_trusted_dir_at(bfd, "etc/coffre", false, bad, badlen);
	ssize_t n;

	if (d < 0)
		return d;
	n = io_read_trusted(d, name, buf, cap);
	close(d);
	return n;
}

static bool am_root(void)
{
	return geteuid() == 0;
}

Test(trusted, reads_a_good_file)
{
	char buf[64], bad[256] = "";

	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)),
		     am_root() ? 6 : -EPERM);
	if (am_root())
		cr_assert_eq(memcmp(buf, "hello\n", 6), 0);
}

Test(trusted, read_only_group_and_other_are_fine)
{
	char buf[64], p[256];

	if (!am_root())
		cr_skip_test("needs root");
	path_of(p, sizeof(p), "etc/coffre");
	cr_assert_eq(chmod(p, 0755), 0);
	put("etc/coffre/good.conf", "hello\n", 0644);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), NULL, 0), 6);
}

Test(trusted, writable_file_refused)
{
	char buf[64];

	if (!am_root())
		cr_skip_test("needs root");
	put("etc/coffre/good.conf", "hello\n", 0620);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), NULL, 0), -EPERM);
	put("etc/coffre/good.conf", "hello\n", 0602);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), NULL, 0), -EPERM);
}

Test(trusted, writable_directory_refused_with_its_path)
{
	char buf[64], bad[256] = "", p[256];

	if (!am_root())
		cr_skip_test("needs root");
	path_of(p, sizeof(p), "etc/coffre");
	cr_assert_eq(chmod(p, 0770), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)), -EPERM);
	cr_assert_str_eq(bad, "etc/coffre");
	cr_assert_eq(chmod(p, 0700), 0);
	/* an ancestor: world-writable refused, unless sticky (like /tmp) */
	path_of(p, sizeof(p), "etc");
	cr_assert_eq(chmod(p, 0777), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)), -EPERM);
	cr_assert_str_eq(bad, "etc");
	cr_assert_eq(chmod(p, 01777), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)), 6);
	/* ... but the trusted directory itself, never */
	path_of(p, sizeof(p), "etc/coffre");
	cr_assert_eq(chmod(p, 01777), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)), -EPERM);
}

Test(trusted, not_root_refused)
{
	char buf[64], bad[256] = "", p[256];

	if (!am_root())
		cr_skip_test("needs root");
	path_of(p, sizeof(p), "etc/coffre/good.conf");
	cr_assert_eq(chown(p, 65534, 0), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), NULL, 0), -EPERM);
	cr_assert_eq(chown(p, 0, 0), 0);
	path_of(p, sizeof(p), "etc");
	cr_assert_eq(chown(p, 65534, 0), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)), -EPERM);
	cr_assert_str_eq(bad, "etc");
	/* a group of its own is fine while it cannot write */
	cr_assert_eq(chown(p, 0, 65534), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), NULL, 0), 6);
}

Test(trusted, symlinks_refused)
{
	char buf[64], bad[256] = "", p[256], moved[256];

	if (!am_root())
		cr_skip_test("needs root");
	/* the file */
	path_of(p, sizeof(p), "etc/coffre/link.conf");
	cr_assert_eq(symlink("good.conf", p), 0);
	cr_assert_eq(read_conf("link.conf", buf, sizeof(buf), NULL, 0), -ELOOP);
	/* the directory */
	mk("real", 0700);
	put("real/x.conf", "x\n", 0600);
	path_of(p, sizeof(p), "etc/coffre");
	path_of(moved, sizeof(moved), "moved");
	cr_assert_eq(rename(p, moved), 0);
	cr_assert_eq(symlink("../real", p), 0);
	cr_assert_eq(read_conf("x.conf", buf, sizeof(buf), bad, sizeof(bad)), -ELOOP);
	cr_assert_str_eq(bad, "etc/coffre");
	/* an ancestor */
	path_of(p, sizeof(p), "etc");
	path_of(moved, sizeof(moved), "etc2");
	cr_assert_eq(rename(p, moved), 0);
	cr_assert_eq(symlink("etc2", p), 0);
	cr_assert_eq(read_conf("good.conf", buf, sizeof(buf), bad, sizeof(bad)), -ELOOP);
	cr_assert_str_eq(bad, "etc");
	/* no way around: ".." and "." are refused */
	cr_assert_eq(io_open_trusted_dir_at(bfd, "etc2/../etc2", false, NULL, 0),
		     -EINVAL);
	cr_assert_eq(io_open_trusted_dir_at(bfd, "./etc2", false, NULL, 0), -EINVAL);
}

Test(trusted, fifo_socket_directory_refused_without_blocking)
{
	char buf[64], p[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	time_t t0 = time(NULL);
	int s;

	if (!am_root())
		cr_skip_test("needs root");
	path_of(p, sizeof(p), "etc/coffre/fifo.conf");
	cr_assert_eq(mkfifo(p, 0600), 0);
	cr_assert_eq(read_conf("fifo.conf", buf, sizeof(buf), NULL, 0), -EINVAL);
	path_of(p, sizeof(p), "etc/coffre/sock.conf");
	cr_assert_lt(strlen(p), sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	cr_assert_geq(s = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_lt(read_conf("sock.conf", buf, sizeof(buf), NULL, 0), 0);
	close(s);
	mk("etc/coffre/dir.conf", 0700);
	cr_assert_eq(read_conf("dir.conf", buf, sizeof(buf), NULL, 0), -EINVAL);
	cr_assert_lt(time(NULL) - t0, 5);
	/* a directory where one is expected: a file is not */
	cr_assert_eq(io_open_trusted_dir_at(bfd, "etc/coffre/good.conf", false,
					    NULL, 0), -ENOTDIR);
}

Test(trusted, size_bound_and_missing)
{
	char buf[16];

	if (!am_root())
		cr_skip_test("needs root");
	put("etc/coffre/big.conf", "123456789", 0600);
	cr_assert_eq(read_conf("big.conf", buf, 8, NULL, 0), -EFBIG);
	cr_assert_eq(read_conf("big.conf", buf, 9, NULL, 0), 9);
	put("etc/coffre/big.conf", "12345678", 0600);
	cr_assert_eq(read_conf("big.conf", buf, 8, NULL, 0), 8);
	cr_assert_eq(read_conf("none.conf", buf, 8, NULL, 0), -ENOENT);
	cr_assert_eq(read_conf("a/b", buf, 8, NULL, 0), -EINVAL);
}

Test(trusted, create_makes_only_the_last_directory)
{
	char p[256];
	struct stat st;
	int fd;

	if (!am_root())
		cr_skip_test("needs root");
	cr_assert_eq(io_open_trusted_dir_at(bfd, "etc/new", false, NULL, 0), -ENOENT);
	fd = io_open_trusted_dir_at(bfd, "etc/new", true, NULL, 0);
	cr_assert_geq(fd, 0);
	close(fd);
	path_of(p, sizeof(p), "etc/new");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700);
	cr_assert_eq(io_open_trusted_dir_at(bfd, "etc/a/b", true, NULL, 0), -ENOENT);
	path_of(p, sizeof(p), "etc/a");
	cr_assert_neq(stat(p, &st), 0);
}

Test(trusted, absolute_walk_from_root)
{
	char bad[256] = "";
	struct stat st;
	int fd;

	cr_assert_eq(io_open_trusted_dir("relative", false, NULL, 0), -EINVAL);
	cr_assert_eq(io_open_trusted_dir("/etc/../etc", false, NULL, 0), -EINVAL);
	if (!am_root() || stat("/etc", &st) || st.st_uid || (st.st_mode & 022))
		cr_skip_test("needs root and a root-owned /etc");
	fd = io_open_trusted_dir("/etc", false, NULL, 0);
	cr_assert_geq(fd, 0);
	close(fd);
	fd = io_open_trusted_dir("/", false, NULL, 0);
	cr_assert_geq(fd, 0);
	close(fd);
	/* /tmp is world-writable but sticky: root's directory under it is
	 * trusted (a build, and its test configuration, may live there) */
	if (stat("/tmp", &st) == 0 && st.st_uid == 0 && (st.st_mode & S_ISVTX)) {
		fd = io_open_trusted_dir(base, false, bad, sizeof(bad));
		cr_assert_geq(fd, 0, "%s", bad);
		close(fd);
	}
}
