/*
 * The `.coffre.dir` file in every ciphertext directory (doc/FORMAT-v1.md,
 * "Directory file"): 24 bytes,
 *
 *   magic "CFRD" | version u8 | reserved[3] (zero) | dir_id[16]
 *
 * The dir id is random, made at mkdir and kept across renames; it selects
 * the directory's DEKs and is the associated data of its entry names.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

int dir_file_parse(const uint8_t *buf, size_t len, uint8_t dir_id[COFFRE_ID_LEN])
{
	struct rcur c;
	uint8_t magic[4], reserved[3];
	uint8_t version;
	int err = -EINVAL;

	memset(dir_id, 0, COFFRE_ID_LEN);
	if (len != COFFRE_DIR_FILE_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	rcur_bytes(&c, reserved, sizeof(reserved));
	rcur_bytes(&c, dir_id, COFFRE_ID_LEN);
	if (!rcur_done(&c))
		goto out;
	if (memcmp(magic, COFFRE_DIR_MAGIC, 4) != 0) {
		err = -EPROTO;
		goto out;
	}
	if (version != COFFRE_FORMAT_VERSION) {
		err = -EPROTONOSUPPORT;
		goto out;
	}
	if (reserved[0] | reserved[1] | reserved[2])
		goto out;
	err = 0;
out:
	if (err)
		memset(dir_id, 0, COFFRE_ID_LEN);
	return err;
}

void dir_file_write(const uint8_t dir_id[COFFRE_ID_LEN],
		    uint8_t out[COFFRE_DIR_FILE_LEN])
{
	static const uint8_t zero[3];
	struct wcur c;

	wcur_init(&c, out, COFFRE_DIR_FILE_LEN);
	wcur_bytes(&c, COFFRE_DIR_MAGIC, 4);
	wcur_u8(&c, COFFRE_FORMAT_VERSION);
	wcur_bytes(&c, zero, sizeof(zero));
	wcur_bytes(&c, dir_id, COFFRE_ID_LEN);
}
