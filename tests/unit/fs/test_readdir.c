/*
 * readdirplus without a mount, under a keyring on a real SoftHSM2 token
 * (tests/unit/keys' fixture).  The binary is linked with --wrap for the
 * fuse_reply_* calls the listing makes, so that a test can make the reply
 * fail as an interrupted request's does: the lookups the reply carried
 * must then be forgotten, since the kernel took none of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fs/fs.h"
#include "fs/ops.h"
#include "keys_fixture.h"

int __wrap_fuse_reply_buf(fuse_req_t req, const char *buf, size_t size);
int __wrap_fuse_reply_err(fuse_req_t req, int err);
int __wrap_fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi);

static int reply_result;        /* what fuse_reply_buf returns */
static size_t replied;          /* bytes it was given */

int __wrap_fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	(void)req;
	(void)buf;
	replied = size;
	return reply_result;
}

int __wrap_fuse_reply_err(fuse_req_t req, int err)
{
	(void)req;
	(void)err;
	return 0;
}

int __wrap_fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	(void)req;
	(void)fi;
	return 0;
}

static struct keyring *kr;
static int dfd = -1;

static void setup(void)
{
	uint8_t id[COFFRE_ID_LEN];
	char path[PATH_MAX];

	cr_assert_eq(secmem_init(1u << 16), 0);
	kfx_init();
	kr = keyring_new(kfx.pool, kfx.keys_fd, kfx.uuid, 1, 8);
	cr_assert_not_null(kr);
	cr_assert_lt(snprintf(path, sizeof(path), "%s/vol", fx_softhsm.dir),
		     (int)sizeof(path));
	cr_assert_eq(mkdir(path, 0700), 0);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(keyring_new_dir(kr, id), 0);
	cr_assert_eq(store_dir_id_create(dfd, id), 0);
	g_fs.keys = kr;
	g_fs.seg_size = COFFRE_SEG_DEFAULT;
	cr_assert_eq(inode_table_new(dfd, kr, COFFRE_SEG_DEFAULT, false,
				     &g_fs.inodes), 0);
}

static void teardown(void)
{
	inode_table_free(g_fs.inodes);
	g_fs.inodes = NULL;
	g_fs.keys = NULL;
	keyring_free(kr);
	kr = NULL;
	if (dfd >= 0)
		close(dfd);
	dfd = -1;
	kfx_fini();
}

TestSuite(readdir, .init = setup, .fini = teardown, .timeout = 240);

static void make_files(int n)
{
	struct backing_name b;
	struct dir_keys k;
	char name[16];
	int j, fd;

	cr_assert_eq(dir_keys_at(kr, dfd, &k), 0);
	for (j = 0; j < n; j++) {
		snprintf(name, sizeof(name), "file%d", j);
		cr_assert_eq(entry_name(&k, name, &b), 0);
		fd = openat(dfd, b.name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	dir_keys_wipe(&k);
}

static size_t inodes(void)
{
	struct inode_stats s;

	inode_table_stats(g_fs.inodes, &s);
	return s.inodes;
}

/* One listing of the root, its reply returning `result`. */
static void list_root(int result)
{
	struct fuse_file_info fi;

	memset(&fi, 0, sizeof(fi));
	op_opendir(NULL, FUSE_ROOT_ID, &fi);
	cr_assert_neq(fi.fh, 0);
	reply_result = result;
	replied = 0;
	op_readdirplus(NULL, FUSE_ROOT_ID, 65536, 0, &fi);
	cr_assert_gt(replied, 0, "entries were sent");
	op_releasedir(NULL, FUSE_ROOT_ID, &fi);
}

Test(readdir, a_reply_that_fails_gives_its_lookups_back)
{
	make_files(3);
	cr_assert_eq(inodes(), 1, "the root only");
	list_root(-ENOENT);
	cr_assert_eq(inodes(), 1, "the kernel took no reference: none kept");
	list_root(0);
	cr_assert_eq(inodes(), 4, "one lookup each, for the kernel to forget");
}
