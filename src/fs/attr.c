/*
 * attr.c — translating a backing object's stat into what the kernel sees.
 *
 * Regular files report their plaintext size (computed from the ciphertext
 * size, see format/segment.c, or the open file's tracked size); symlinks
 * report the length of their plaintext target.  A ciphertext size that maps
 * to no plaintext size is reported as the largest size it could hold, and
 * open() of that file fails with EIO: stat and unlink keep working so the
 * damaged file can be inspected and removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

static void regular_size(struct stat *st)
{
	uint64_t plain, body;

	if (plain_size(g_fs.seg_size, (uint64_t)st->st_size, &plain) == 0) {
		st->st_size = (off_t)plain;
		return;
	}
	body = (uint64_t)st->st_size > COFFRE_FILE_HEADER_LEN ?
	       (uint64_t)st->st_size - COFFRE_FILE_HEADER_LEN : 0;
	st->st_size = (off_t)(body > COFFRE_SEG_OVERHEAD ? body - COFFRE_SEG_OVERHEAD : 0);
}

int attr_translate(int fd, struct stat *st)
{
	off_t size;

	if (S_ISREG(st->st_mode)) {
		regular_size(st);
	} else if (S_ISLNK(st->st_mode)) {
		if (symlink_size(fd, &size) == 0)
			st->st_size = size;
	}
	return 0;
}

int attr_get(struct inode *i, struct stat *st)
{
	if (fstatat(i->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (i == inode_table_root(g_fs.inodes) && st->st_nlink > 2)
		st->st_nlink--;   /* the hidden .coffre state directory */
	if (i->type == S_IFREG) {
		pthread_mutex_lock(&i->mu);
		if (i->nopen)
			st->st_size = (off_t)i->of->sf.size;
		else
			regular_size(st);
		pthread_mutex_unlock(&i->mu);
		return 0;
	}
	return attr_translate(i->fd, st);
}
