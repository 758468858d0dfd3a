/*
 * Format version 2 objects (doc/FORMAT.md §2): the 64-byte fixed header
 * (§2.1), the header region and the legacy companion around it (§2.2,
 * §4), and the 96-byte meta record (§2.4) with the kinds of §2.5.
 *
 *   fixed header = "CFRF" | version u8 (2) | kind u8 | layout u8 | 0 u8 |
 *                  seg_size u32be | data_offset u32be | dir_id[16] |
 *                  dek_version u32be | file_id[16] | 0[12]
 *   region       = header[64] | 0[192] | slot 0[256] | slot 1[256] |
 *                  0[256] (native only: a companion stops at 768)
 *   meta record  = mode | uid | gid | flags | rdev major | rdev minor
 *                  (u32be each) | cur parent[16] | cur name[16] |
 *                  prev parent[16] | prev name[16] | 0[8]
 *
 * The slots are kept as raw bytes here; metaslot.c opens them.
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

#define HDR_RESERVED_LEN 12
#define REC_RESERVED_LEN 8

static bool header_fields_valid(const struct obj_header *h)
{
	if (h->kind < V2_KIND_REG || h->kind > V2_KIND_BLK)
		return false;
	if (!seg_size_valid(h->seg_size) || h->dek_version == 0)
		return false;
	if (h->layout == V2_LAYOUT_NATIVE)
		return h->data_offset == V2_DATA_OFFSET;
	if (h->layout == V2_LAYOUT_LEGACY)
		return h->kind == V2_KIND_REG && h->data_offset == 0;
	return false;
}

int obj_header_parse(const uint8_t *buf, size_t len, struct obj_header *h)
{
	struct rcur c;
	uint8_t magic[4], version, reserved;
	bool tail_zero;
	int err = -EINVAL;

	memset(h, 0, sizeof(*h));
	if (len != V2_OBJ_HEADER_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	h->kind = rcur_u8(&c);
	h->layout = rcur_u8(&c);
	reserved = rcur_u8(&c);
	h->seg_size = rcur_u32be(&c);
	h->data_offset = rcur_u32be(&c);
	rcur_bytes(&c, h->dir_id, sizeof(h->dir_id));
	h->dek_version = rcur_u32be(&c);
	rcur_bytes(&c, h->file_id, sizeof(h->file_id));
	tail_zero = rcur_zero(&c, HDR_RESERVED_LEN);
	if (!rcur_done(&c))
		goto out;
	err = v2_magic_check(magic, V2_OBJ_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	if (reserved != 0 || !tail_zero || !header_fields_valid(h))
		goto out;
	err = 0;
out:
	if (err)
		memset(h, 0, sizeof(*h));
	return err;
}

static void header_put(const struct obj_header *h, struct wcur *c)
{
	wcur_bytes(c, V2_OBJ_MAGIC, 4);
	wcur_u8(c, COFFRE_V2_VERSION);
	wcur_u8(c, h->kind);
	wcur_u8(c, h->layout);
	wcur_u8(c, 0);
	wcur_u32be(c, h->seg_size);
	wcur_u32be(c, h->data_offset);
	wcur_bytes(c, h->dir_id, sizeof(h->dir_id));
	wcur_u32be(c, h->dek_version);
	wcur_bytes(c, h->file_id, sizeof(h->file_id));
	wcur_zero(c, HDR_RESERVED_LEN);
}

void obj_header_write(const struct obj_header *h,
		      uint8_t out[V2_OBJ_HEADER_LEN])
{
	struct wcur c;

	wcur_init(&c, out, V2_OBJ_HEADER_LEN);
	header_put(h, &c);
}

bool obj_is_legacy_file(const uint8_t *buf, size_t len)
{
	struct rcur c;
	uint8_t magic[4], version;

	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	return !c.err && memcmp(magic, V2_OBJ_MAGIC, 4) == 0 &&
	       version == COFFRE_FORMAT_VERSION;
}

/* The layout a region or companion of this length must have, or 0. */
static uint8_t region_layout(size_t len)
{
	if (len == V2_REGION_LEN)
		return V2_LAYOUT_NATIVE;
	if (len == V2_COMPANION_LEN)
		return V2_LAYOUT_LEGACY;
	return 0;
}

int obj_region_parse(const uint8_t *buf, size_t len, struct obj_region *r)
{
	uint8_t layout = region_layout(len);
	struct rcur c;
	bool gaps_zero;
	int err;

	memset(r, 0, sizeof(*r));
	if (layout == 0)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, r->header, sizeof(r->header));
	gaps_zero = rcur_zero(&c, V2_META_SLOT0_OFF - V2_OBJ_HEADER_LEN);
	rcur_bytes(&c, r->slot[0], sizeof(r->slot[0]));
	rcur_bytes(&c, r->slot[1], sizeof(r->slot[1]));
	if (layout == V2_LAYOUT_NATIVE)
		gaps_zero = rcur_zero(&c, V2_REGION_LEN - V2_COMPANION_LEN) &&
			    gaps_zero;
	err = -EINVAL;
	if (!rcur_done(&c))
		goto out;
	err = obj_header_parse(r->header, sizeof(r->header), &r->h);
	if (err)
		goto out;
	err = -EINVAL;
	if (!gaps_zero || r->h.layout != layout)
		goto out;
	err = 0;
out:
	if (err)
		memset(r, 0, sizeof(*r));
	return err;
}

int obj_region_write(const struct obj_region *r, uint8_t *out, size_t len)
{
	struct wcur c;

	if (region_layout(len) == 0 || region_layout(len) != r->h.layout)
		return -EINVAL;
	wcur_init(&c, out, len);
	header_put(&r->h, &c);
	wcur_zero(&c, V2_META_SLOT0_OFF - V2_OBJ_HEADER_LEN);
	wcur_bytes(&c, r->slot[0], sizeof(r->slot[0]));
	wcur_bytes(&c, r->slot[1], sizeof(r->slot[1]));
	wcur_zero(&c, len - c.off);
	return 0;
}

static bool id_zero(const uint8_t id[COFFRE_ID_LEN])
{
	return bytes_zero(id, COFFRE_ID_LEN);
}

/* A (parent, name) pair is both zero or both set. */
static bool pair_ok(const uint8_t parent[COFFRE_ID_LEN],
		    const uint8_t name[COFFRE_ID_LEN])
{
	return id_zero(parent) == id_zero(name);
}

bool meta_record_valid(const struct meta_record *m, uint8_t kind)
{
	bool has_rdev = kind == V2_KIND_CHR || kind == V2_KIND_BLK;
	bool cur = !id_zero(m->cur_parent), prev = !id_zero(m->prev_parent);

	if (kind > V2_KIND_BLK)
		return false;
	if (m->mode > V2_META_MODE_MAX || (m->flags & ~V2_META_LINK) != 0)
		return false;
	if (!has_rdev && (m->rdev_major != 0 || m->rdev_minor != 0))
		return false;
	if (!pair_ok(m->cur_parent, m->cur_name) ||
	    !pair_ok(m->prev_parent, m->prev_name))
		return false;
	/* A prev is only ever the cur a re-seal replaced (§7.3). */
	if (prev && !cur)
		return false;
	return !(m->flags & V2_META_LINK) || prev;
}

int meta_record_parse(const uint8_t *buf, size_t len, uint8_t kind,
		      struct meta_record *m)
{
	struct rcur c;
	bool tail_zero;
	int err = -EINVAL;

	memset(m, 0, sizeof(*m));
	if (len != V2_META_REC_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	m->mode = rcur_u32be(&c);
	m->uid = rcur_u32be(&c);
	m->gid = rcur_u32be(&c);
	m->flags = rcur_u32be(&c);
	m->rdev_major = rcur_u32be(&c);
	m->rdev_minor = rcur_u32be(&c);
	rcur_bytes(&c, m->cur_parent, sizeof(m->cur_parent));
	rcur_bytes(&c, m->cur_name, sizeof(m->cur_name));
	rcur_bytes(&c, m->prev_parent, sizeof(m->prev_parent));
	rcur_bytes(&c, m->prev_name, sizeof(m->prev_name));
	tail_zero = rcur_zero(&c, REC_RESERVED_LEN);
	if (rcur_done(&c) && tail_zero && meta_record_valid(m, kind))
		err = 0;
	if (err)
		memset(m, 0, sizeof(*m));
	return err;
}

void meta_record_write(const struct meta_record *m,
		       uint8_t out[V2_META_REC_LEN])
{
	struct wcur c;

	wcur_init(&c, out, V2_META_REC_LEN);
	wcur_u32be(&c, m->mode);
	wcur_u32be(&c, m->uid);
	wcur_u32be(&c, m->gid);
	wcur_u32be(&c, m->flags);
	wcur_u32be(&c, m->rdev_major);
	wcur_u32be(&c, m->rdev_minor);
	wcur_bytes(&c, m->cur_parent, sizeof(m->cur_parent));
	wcur_bytes(&c, m->cur_name, sizeof(m->cur_name));
	wcur_bytes(&c, m->prev_parent, sizeof(m->prev_parent));
	wcur_bytes(&c, m->prev_name, sizeof(m->prev_name));
	wcur_zero(&c, REC_RESERVED_LEN);
}

bool meta_binding_is_zero(const struct meta_record *m)
{
	return m->flags == 0 && id_zero(m->cur_parent) &&
	       id_zero(m->cur_name) && id_zero(m->prev_parent) &&
	       id_zero(m->prev_name);
}
