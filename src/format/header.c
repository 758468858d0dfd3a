/*
 * The 48-byte header at the start of every ciphertext file (doc/FORMAT-v1.md,
 * "File header"):
 *
 *   magic "CFRF" | version u8 | flags u8 | reserved u16 | seg_size u32be |
 *   dir_id[16] | dek_version u32be | file_id[16]
 *
 * The header names the DEK the file was written with (dir id + version) and
 * is bound into the file key as HKDF info (RFC 5869), so any edit of it makes
 * every segment fail authentication.  This file only checks its shape.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

int file_header_parse(const uint8_t *buf, size_t len, struct file_header *h)
{
	struct rcur c;
	uint8_t magic[4];
	uint16_t reserved;
	int err = -EINVAL;

	memset(h, 0, sizeof(*h));
	if (len != COFFRE_FILE_HEADER_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	h->version = rcur_u8(&c);
	h->flags = rcur_u8(&c);
	reserved = rcur_u16be(&c);
	h->seg_size = rcur_u32be(&c);
	rcur_bytes(&c, h->dir_id, sizeof(h->dir_id));
	h->dek_version = rcur_u32be(&c);
	rcur_bytes(&c, h->file_id, sizeof(h->file_id));
	if (!rcur_done(&c))
		goto out;
	if (memcmp(magic, COFFRE_FILE_MAGIC, 4) != 0) {
		err = -EPROTO;
		goto out;
	}
	if (h->version != COFFRE_FORMAT_VERSION) {
		err = -EPROTONOSUPPORT;
		goto out;
	}
	if ((h->flags & ~COFFRE_HDR_STRICT_HOLES) || reserved != 0 ||
	    !seg_size_valid(h->seg_size) || h->dek_version == 0)
		goto out;
	err = 0;
out:
	if (err)
		memset(h, 0, sizeof(*h));
	return err;
}

void file_header_write(const struct file_header *h,
		       uint8_t out[COFFRE_FILE_HEADER_LEN])
{
	struct wcur c;

	wcur_init(&c, out, COFFRE_FILE_HEADER_LEN);
	wcur_bytes(&c, COFFRE_FILE_MAGIC, 4);
	wcur_u8(&c, COFFRE_FORMAT_VERSION);
	wcur_u8(&c, h->flags);
	wcur_u16be(&c, 0);
	wcur_u32be(&c, h->seg_size);
	wcur_bytes(&c, h->dir_id, sizeof(h->dir_id));
	wcur_u32be(&c, h->dek_version);
	wcur_bytes(&c, h->file_id, sizeof(h->file_id));
}
