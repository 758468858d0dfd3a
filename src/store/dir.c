/*
 * dir.c — a backing directory's identity: its .coffre.dir file (format in
 * format/dirfile.c), which holds the random directory id that names its
 * key and binds its entries' names, and survives renames.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "coffre/io.h"
#include "coffre/store.h"

int store_dir_id(int dirfd, uint8_t id[COFFRE_ID_LEN])
{
	uint8_t buf[COFFRE_DIR_FILE_LEN + 1];
	ssize_t n = io_read_small(dirfd, COFFRE_DIR_FILE, buf, sizeof(buf));

	if (n < 0 && io_resource_error((int)n))
		return (int)n;
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
	err = io_write_full(fd, buf, sizeof(buf));
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	return err;
}
