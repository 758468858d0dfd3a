/*
 * dir.c — a backing directory's identity: its .coffre.dir file (format in
 * format/dirfile.c), which holds the random directory id that names its
 * key and binds its entries' names, and survives renames.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "coffre/store.h"

int store_dir_id(int dirfd, uint8_t id[COFFRE_ID_LEN])
{
	uint8_t buf[COFFRE_DIR_FILE_LEN + 1];
	int fd = openat(dirfd, COFFRE_DIR_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -EIO;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n < 0 || dir_file_parse(buf, (size_t)n, id) ? -EIO : 0;
}

int store_dir_id_create(int dirfd, const uint8_t id[COFFRE_ID_LEN])
{
	uint8_t buf[COFFRE_DIR_FILE_LEN];
	int fd, err = 0;

	dir_file_write(id, buf);
	fd = openat(dirfd, COFFRE_DIR_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}
