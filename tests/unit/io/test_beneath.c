/*
 * Unit tests for src/io/beneath.c, with openat2 and with the walk that
 * replaces it on older kernels: a symlink at any component (a swapped
 * `.coffre`) is never followed, for reads, creates and the parent of an
 * unlink; "..", "." and absolute paths are refused; nothing outside the
 * directory is opened, made or removed.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"

static char base[64], inside[96], outside[96];
static int dfd = -1;

static void put(const char *dir, const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	cr_assert_not_null(f = fopen(p, "w"), "%s", p);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	char p[256];

	snprintf(base, sizeof(base), "/tmp/coffre-beneath-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(inside, sizeof(inside), "%s/in", base);
	snprintf(outside, sizeof(outside), "%s/out", base);
	cr_assert_eq(mkdir(inside, 0700), 0);
	cr_assert_eq(mkdir(outside, 0700), 0);
	snprintf(p, sizeof(p), "%s/real", inside);
	cr_assert_eq(mkdir(p, 0700), 0);
	put(inside, "real/file", "inside");
	put(outside, "file", "outside");
	/* .coffre swapped for a symlink to a directory outside */
	snprintf(p, sizeof(p), "%s/.coffre", inside);
	cr_assert_eq(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/link", inside);
	cr_assert_eq(symlink("real/file", p), 0);
	cr_assert_geq(dfd = open(inside, O_RDONLY | O_DIRECTORY), 0);
}

static void teardown(void)
{
	char cmd[160];

	close(dfd);
	io_test_no_openat2 = false;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

static bool outside_has(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", outside, name);
	return access(p, F_OK) == 0;
}

ParameterizedTestParameters(beneath, both_ways)
{
	static bool walk[] = { false, true };

	return cr_make_param_array(bool, walk, 2);
}

ParameterizedTest(bool *walk, beneath, both_ways, .init = setup, .fini = teardown)
{
	char buf[16] = "";
	const char *b;
	int fd;

	io_test_no_openat2 = *walk;
	/* Inside: opened. */
	cr_assert_geq(fd = io_open_beneath(dfd, "real/file", O_RDONLY, 0), 0);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 6);
	cr_assert_str_eq(buf, "inside");
	close(fd);
	/* Through the swapped directory: refused, read or create. */
	cr_assert_lt(io_open_beneath(dfd, ".coffre/file", O_RDONLY, 0), 0);
	cr_assert_lt(io_open_beneath(dfd, ".coffre/new", O_RDWR | O_CREAT, 0600), 0);
	cr_assert(!outside_has("new"));
	cr_assert_lt(io_open_untrusted(dfd, ".coffre/file", O_RDONLY, S_IFREG), 0);
	cr_assert_lt(io_open_untrusted(dfd, ".coffre", O_RDONLY, S_IFDIR), 0);
	/* A symlink as the last component: refused too. */
	cr_assert_eq(io_open_beneath(dfd, "link", O_RDONLY, 0), -ELOOP);
	/* Escapes. */
	cr_assert_eq(io_open_beneath(dfd, "../out/file", O_RDONLY, 0), -EXDEV);
	cr_assert_lt(io_open_beneath(dfd, outside, O_RDONLY | O_DIRECTORY, 0), 0);
	/* The parent of a multi-component name. */
	cr_assert_geq(fd = io_open_parent(dfd, "real/file", &b), 0);
	cr_assert_str_eq(b, "file");
	cr_assert_eq(faccessat(fd, b, F_OK, AT_SYMLINK_NOFOLLOW), 0);
	close(fd);
	cr_assert_lt(io_open_parent(dfd, ".coffre/file", &b), 0);
	cr_assert(outside_has("file"), "nothing outside was removed");
	cr_assert_geq(fd = io_open_parent(dfd, "single", &b), 0);
	cr_assert_str_eq(b, "single");
	close(fd);
	cr_assert_eq(io_open_parent(dfd, "real/", &b), -EINVAL);
}
