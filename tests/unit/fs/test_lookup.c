/*
 * ops_lookup_backing against a re-key's swap, without a mount: the
 * binary is linked with --wrap=name_to_handle_at, so that a test can run
 * a step at the exact point where a lookup has opened the name and not
 * yet added its inode (inode_get takes the handle before the table lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fs/fs.h"
#include "fs/ops.h"

int __real_name_to_handle_at(int dirfd, const char *path, struct file_handle *h,
			     int *mount_id, int flags);
int __wrap_name_to_handle_at(int dirfd, const char *path, struct file_handle *h,
			     int *mount_id, int flags);

static void (*hook)(void);   /* run once, at the next handle taken */

int __wrap_name_to_handle_at(int dirfd, const char *path, struct file_handle *h,
			     int *mount_id, int flags)
{
	void (*f)(void) = hook;

	hook = NULL;
	if (f)
		f();
	return __real_name_to_handle_at(dirfd, path, h, mount_id, flags);
}

static char dir[64];
static int dfd = -1;

static void touch(const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
	close(fd);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/coffre-lookup-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	g_fs.seg_size = COFFRE_SEG_DEFAULT;
	cr_assert_eq(inode_table_new(dfd, NULL, COFFRE_SEG_DEFAULT, false,
				     &g_fs.inodes), 0);
}

static void teardown(void)
{
	inode_table_free(g_fs.inodes);
	g_fs.inodes = NULL;
	unlinkat(dfd, "file", 0);
	unlinkat(dfd, "file.tmp", 0);
	close(dfd);
	rmdir(dir);
}

TestSuite(lookup, .init = setup, .fini = teardown, .timeout = 60);

/* What the re-key does (keyops.c): the file's inode, then its copy
 * swapped in at the name through the table. */
static struct inode *rekeyed;

static void rekey_swap(void)
{
	struct stat st;
	int fd, pfd;

	fd = openat(dfd, "file", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(inode_get(g_fs.inodes, fd, &st, &rekeyed), 0);
	pfd = openat(dfd, "file.tmp", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(fstat(pfd, &st), 0);
	cr_assert_eq(inode_swap_in(g_fs.inodes, rekeyed, dfd, "file.tmp", "file",
				   pfd, &st), 0);
	unlinkat(dfd, "file.tmp", 0);   /* the old file, swapped out there */
}

/* A lookup that opened the name before the swap and adds its inode after
 * it must not make a second inode for the file (keyed by the object the
 * copy replaced): it finds the re-key's. */
Test(lookup, a_swap_between_open_and_inode_get_gives_one_inode)
{
	struct inode *root = inode_table_root(g_fs.inodes), *i;
	struct stat old_st, st;

	touch("file");
	touch("file.tmp");
	cr_assert_eq(fstatat(dfd, "file", &old_st, AT_SYMLINK_NOFOLLOW), 0);
	hook = rekey_swap;
	cr_assert_eq(ops_lookup_backing(root, "file", &i, &st), 0);
	cr_assert_null(hook, "the swap ran during the lookup");
	cr_assert_eq(i, rekeyed, "one inode for the file, the re-key's");
	cr_assert_eq(i->ino, st.st_ino);
	cr_assert_neq(st.st_ino, old_st.st_ino, "the lookup saw the new file");
	cr_assert_null(inode_find(g_fs.inodes, old_st.st_dev, old_st.st_ino),
		       "no inode for the replaced object");
	cr_assert_eq(i->nlookup, 2);
	inode_forget(g_fs.inodes, i, 2);
}

/* Without a swap, a lookup makes one inode and a second finds it. */
Test(lookup, plain_lookups_share_an_inode)
{
	struct inode *root = inode_table_root(g_fs.inodes), *a, *b;
	struct stat st;

	touch("file");
	cr_assert_eq(ops_lookup_backing(root, "file", &a, &st), 0);
	cr_assert_eq(ops_lookup_backing(root, "file", &b, &st), 0);
	cr_assert_eq(a, b);
	cr_assert_eq(a->nlookup, 2);
	cr_assert_eq(ops_lookup_backing(root, "missing", &b, &st), -ENOENT);
	inode_forget(g_fs.inodes, a, 2);
}
