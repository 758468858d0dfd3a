/*
 * `.coffre.dir`, version 2 (doc/FORMAT.md §6): 768 bytes,
 *
 *   "CFRD" | version u8 (2) | 0[3] | dir_id[16] | 0[40] | 0[192] |
 *   meta slot 0[256] | meta slot 1[256]
 *
 * Bytes 0..64 are the bound header of the slots, which metaslot.c seals
 * and opens as for objects (§2.3) under the caller's dir meta key, with
 * rdev 0; a root directory's binding is zero.
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

#define DIR_HDR_TAIL (V2_META_SLOT0_OFF - 24)   /* 0[40] | 0[192] */

static void bound_put(const uint8_t dir_id[COFFRE_ID_LEN], struct wcur *c)
{
	wcur_bytes(c, V2_DIR_MAGIC, 4);
	wcur_u8(c, COFFRE_V2_VERSION);
	wcur_zero(c, 3);
	wcur_bytes(c, dir_id, COFFRE_ID_LEN);
	wcur_zero(c, V2_BOUND_LEN - 24);
}

int dirfile2_parse(const uint8_t *buf, size_t len, struct dirfile2 *d)
{
	struct rcur c;
	uint8_t magic[4], version;
	bool zero;
	int err = -EINVAL;

	memset(d, 0, sizeof(*d));
	if (len != V2_DIR_FILE_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	zero = rcur_zero(&c, 3);
	rcur_bytes(&c, d->dir_id, sizeof(d->dir_id));
	zero = rcur_zero(&c, DIR_HDR_TAIL) && zero;
	rcur_bytes(&c, d->slot[0], sizeof(d->slot[0]));
	rcur_bytes(&c, d->slot[1], sizeof(d->slot[1]));
	if (!rcur_done(&c))
		goto out;
	err = v2_magic_check(magic, V2_DIR_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	if (!zero)
		goto out;
	err = 0;
out:
	if (err)
		memset(d, 0, sizeof(*d));
	return err;
}

void dirfile2_write(const struct dirfile2 *d, uint8_t out[V2_DIR_FILE_LEN])
{
	struct wcur c;

	wcur_init(&c, out, V2_DIR_FILE_LEN);
	bound_put(d->dir_id, &c);
	wcur_zero(&c, V2_META_SLOT0_OFF - V2_BOUND_LEN);
	wcur_bytes(&c, d->slot[0], sizeof(d->slot[0]));
	wcur_bytes(&c, d->slot[1], sizeof(d->slot[1]));
}

void dirfile2_bound(const uint8_t dir_id[COFFRE_ID_LEN],
		    uint8_t out[V2_BOUND_LEN])
{
	struct wcur c;

	wcur_init(&c, out, V2_BOUND_LEN);
	bound_put(dir_id, &c);
}

int dirfile2_meta(const uint8_t key[COFFRE_KEY_LEN], const struct dirfile2 *d,
		  bool is_root, uint64_t *epoch, struct meta_record *m,
		  bool *stale_bad)
{
	uint8_t bound[V2_BOUND_LEN];
	int cur;

	dirfile2_bound(d->dir_id, bound);
	cur = meta_slots_read(key, bound, d->slot[0], d->slot[1], V2_KIND_DIR,
			      epoch, m, stale_bad);
	if (cur >= 0 && is_root && !meta_binding_is_zero(m)) {
		*epoch = 0;
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	return cur;
}
