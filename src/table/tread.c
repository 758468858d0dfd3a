/*
 * tread.c — a whole file of .coffre/manifest/ read into memory through
 * io_read_alloc (io_open_untrusted: no symlink followed, nothing but a
 * regular file opened, nothing blocks; its size bounded first), with the
 * reason a refusal is tamper (FORMAT.md §1.3, §12.3, §12.4).
 */
#include <errno.h>

#include "coffre/io.h"
#include "coffre/table.h"

int tread_whole(int mdir, const char *name, size_t max, uint8_t **buf,
		size_t *len, const char **why)
{
	int err = io_read_alloc(mdir, name, max, buf, len);

	*why = NULL;
	switch (err) {
	case -ELOOP:
		*why = "a symlink";
		break;
	case -EINVAL:
		*why = "not a regular file";
		break;
	case -EFBIG:
		*why = "larger than the format allows";
		break;
	default:
		return err;
	}
	return -EIO;
}
