/*
 * Version table entries (doc/FORMAT.md §12.1): 80 bytes,
 *
 *   kind u8 (bit 7: tombstone, deltas only, §12.2) | key[39] | value[40]
 *
 * key and value kind-specific and zero-padded.  The field rules checked
 * here, from §0 and the sections the table names:
 *   CONF     generation a valid gen;
 *   ESC      mk_version >= 1, hash not all zero (a SHA-256 never is);
 *   KEY      dek_version >= 1, mk_version >= 1, state 1 or 2, gen valid;
 *   OBJ      meta_epoch a valid epoch, xattr_epoch 0 or a valid epoch,
 *            size <= INT64_MAX;
 *   NAME     type 1..7;
 *   MAP      form 1 (epoch valid) or 2 (epoch = gen << 24, gen valid),
 *            count 1..512;
 *   TORN     segment in a group a MAP can name (< 512 * 2^32), gen valid;
 *   ESCNEXT  mk_version >= 1 (hash zero: the blob is being removed).
 * A tombstone's key obeys the same rules; its value is zero.  Order is
 * bytes 0..40 with bit 7 cleared.
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/table.h"
#include "table_priv.h"

#define TORN_SEGMENT_MAX ((UINT64_C(1) << 32) * V2_MAP_GROUP_SEGS - 1)

static bool key_valid(const struct tentry *e)
{
	switch (e->kind) {
	case V2_TK_CONF:
	case V2_TK_OBJ:
	case V2_TK_NAME:
	case V2_TK_MAP:
		return true;
	case V2_TK_ESC:
	case V2_TK_ESCNEXT:
		return e->u.esc.mk_version >= 1;
	case V2_TK_KEY:
		return e->u.key.dek_version >= 1;
	case V2_TK_TORN:
		return e->u.torn.segment <= TORN_SEGMENT_MAX;
	default:
		return false;
	}
}

static bool value_valid(const struct tentry *e)
{
	switch (e->kind) {
	case V2_TK_CONF:
		return v2_gen_valid(e->u.conf.generation);
	case V2_TK_ESC:
		return !bytes_zero(e->u.esc.sha, sizeof(e->u.esc.sha));
	case V2_TK_ESCNEXT:
		return true;
	case V2_TK_KEY:
		return e->u.key.mk_version >= 1 &&
		       (e->u.key.state == V2_KEY_LIVE ||
			e->u.key.state == V2_KEY_DESTROYED) &&
		       v2_gen_valid(e->u.key.gen);
	case V2_TK_OBJ:
		return v2_epoch_valid(e->u.obj.meta_epoch) &&
		       (e->u.obj.xattr_epoch == 0 ||
			v2_epoch_valid(e->u.obj.xattr_epoch)) &&
		       e->u.obj.size <= (uint64_t)INT64_MAX;
	case V2_TK_NAME:
		return e->u.name.type >= 1 && e->u.name.type <= V2_NAME_TYPE_MAX;
	case V2_TK_MAP:
		if (e->u.map.count < 1 || e->u.map.count > V2_MAP_GROUP_SEGS ||
		    !v2_epoch_valid(e->u.map.epoch))
			return false;
		if (e->u.map.form == V2_MAP_UNIFORM)
			return true;
		return e->u.map.form == V2_MAP_EXPLICIT &&
		       (e->u.map.epoch & V2_SEQ_MAX) == 0;
	case V2_TK_TORN:
		return v2_gen_valid(e->u.torn.gen);
	default:
		return false;
	}
}

bool tentry_valid(const struct tentry *e)
{
	return key_valid(e) && (e->tombstone || value_valid(e));
}

/* Bytes 1..40: the key fields of e->kind, then zeros. */
static bool read_key(struct rcur *c, struct tentry *e)
{
	switch (e->kind) {
	case V2_TK_ESC:
	case V2_TK_ESCNEXT:
		e->u.esc.mk_version = rcur_u32be(c);
		break;
	case V2_TK_KEY:
		rcur_bytes(c, e->u.key.dir_id, COFFRE_ID_LEN);
		e->u.key.dek_version = rcur_u32be(c);
		break;
	case V2_TK_OBJ:
		rcur_bytes(c, e->u.obj.id, COFFRE_ID_LEN);
		break;
	case V2_TK_NAME:
		rcur_bytes(c, e->u.name.parent, COFFRE_ID_LEN);
		rcur_bytes(c, e->u.name.name_id, COFFRE_ID_LEN);
		break;
	case V2_TK_MAP:
		rcur_bytes(c, e->u.map.file_id, COFFRE_ID_LEN);
		e->u.map.group = rcur_u32be(c);
		break;
	case V2_TK_TORN:
		rcur_bytes(c, e->u.torn.file_id, COFFRE_ID_LEN);
		e->u.torn.segment = rcur_u64be(c);
		break;
	}
	return rcur_zero(c, V2_TKEY_LEN - c->off);
}

static void write_key(struct wcur *c, const struct tentry *e)
{
	switch (e->kind) {
	case V2_TK_ESC:
	case V2_TK_ESCNEXT:
		wcur_u32be(c, e->u.esc.mk_version);
		break;
	case V2_TK_KEY:
		wcur_bytes(c, e->u.key.dir_id, COFFRE_ID_LEN);
		wcur_u32be(c, e->u.key.dek_version);
		break;
	case V2_TK_OBJ:
		wcur_bytes(c, e->u.obj.id, COFFRE_ID_LEN);
		break;
	case V2_TK_NAME:
		wcur_bytes(c, e->u.name.parent, COFFRE_ID_LEN);
		wcur_bytes(c, e->u.name.name_id, COFFRE_ID_LEN);
		break;
	case V2_TK_MAP:
		wcur_bytes(c, e->u.map.file_id, COFFRE_ID_LEN);
		wcur_u32be(c, e->u.map.group);
		break;
	case V2_TK_TORN:
		wcur_bytes(c, e->u.torn.file_id, COFFRE_ID_LEN);
		wcur_u64be(c, e->u.torn.segment);
		break;
	}
	wcur_zero(c, V2_TKEY_LEN - c->off);
}

/* Bytes 40..80: the value fields of e->kind, then zeros. */
static bool read_value(struct rcur *c, struct tentry *e)
{
	bool ok = true;

	switch (e->kind) {
	case V2_TK_CONF:
		e->u.conf.generation = rcur_u64be(c);
		break;
	case V2_TK_ESC:
	case V2_TK_ESCNEXT:
		rcur_bytes(c, e->u.esc.sha, V2_SHA_LEN);
		break;
	case V2_TK_KEY:
		e->u.key.mk_version = rcur_u32be(c);
		e->u.key.state = rcur_u8(c);
		ok = rcur_zero(c, 3);
		e->u.key.gen = rcur_u64be(c);
		break;
	case V2_TK_OBJ:
		e->u.obj.meta_epoch = rcur_u64be(c);
		e->u.obj.size = rcur_u64be(c);
		e->u.obj.xattr_epoch = rcur_u64be(c);
		e->u.obj.seals = rcur_u32be(c);
		e->u.obj.names = rcur_u32be(c);
		e->u.obj.mtime = (int64_t)rcur_u64be(c);
		break;
	case V2_TK_NAME:
		rcur_bytes(c, e->u.name.object_id, COFFRE_ID_LEN);
		e->u.name.type = rcur_u8(c);
		break;
	case V2_TK_MAP:
		e->u.map.form = rcur_u8(c);
		ok = rcur_zero(c, 3);
		e->u.map.count = rcur_u32be(c);
		e->u.map.epoch = rcur_u64be(c);
		break;
	case V2_TK_TORN:
		e->u.torn.gen = rcur_u64be(c);
		break;
	}
	return rcur_zero(c, V2_TENTRY_LEN - c->off) && ok;
}

static void write_value(struct wcur *c, const struct tentry *e)
{
	switch (e->kind) {
	case V2_TK_CONF:
		wcur_u64be(c, e->u.conf.generation);
		break;
	case V2_TK_ESC:
	case V2_TK_ESCNEXT:
		wcur_bytes(c, e->u.esc.sha, V2_SHA_LEN);
		break;
	case V2_TK_KEY:
		wcur_u32be(c, e->u.key.mk_version);
		wcur_u8(c, e->u.key.state);
		wcur_zero(c, 3);
		wcur_u64be(c, e->u.key.gen);
		break;
	case V2_TK_OBJ:
		wcur_u64be(c, e->u.obj.meta_epoch);
		wcur_u64be(c, e->u.obj.size);
		wcur_u64be(c, e->u.obj.xattr_epoch);
		wcur_u32be(c, e->u.obj.seals);
		wcur_u32be(c, e->u.obj.names);
		wcur_u64be(c, (uint64_t)e->u.obj.mtime);
		break;
	case V2_TK_NAME:
		wcur_bytes(c, e->u.name.object_id, COFFRE_ID_LEN);
		wcur_u8(c, e->u.name.type);
		break;
	case V2_TK_MAP:
		wcur_u8(c, e->u.map.form);
		wcur_zero(c, 3);
		wcur_u32be(c, e->u.map.count);
		wcur_u64be(c, e->u.map.epoch);
		break;
	case V2_TK_TORN:
		wcur_u64be(c, e->u.torn.gen);
		break;
	}
	wcur_zero(c, V2_TENTRY_LEN - c->off);
}

/* The kind byte and key; tombstone allowed or not. */
static bool read_kind_key(struct rcur *c, struct tentry *e, bool tomb_ok)
{
	uint8_t k = rcur_u8(c);

	e->tombstone = (k & V2_TOMBSTONE) != 0;
	e->kind = k & (uint8_t)~V2_TOMBSTONE;
	if (e->kind < 1 || e->kind > V2_TK_MAX || (e->tombstone && !tomb_ok))
		return false;
	return read_key(c, e);
}

int tentry_parse(const uint8_t *buf, size_t len, struct tentry *e)
{
	struct rcur c;
	bool ok;

	memset(e, 0, sizeof(*e));
	if (len != V2_TENTRY_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	ok = read_kind_key(&c, e, true);
	if (ok)
		ok = e->tombstone ? rcur_zero(&c, V2_TENTRY_LEN - V2_TKEY_LEN)
				  : read_value(&c, e);
	if (!ok || !rcur_done(&c) || !tentry_valid(e)) {
		memset(e, 0, sizeof(*e));
		return -EINVAL;
	}
	return 0;
}

int tentry_key_parse(const uint8_t *buf, size_t len, struct tentry *e)
{
	struct rcur c;

	memset(e, 0, sizeof(*e));
	if (len != V2_TKEY_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	if (!read_kind_key(&c, e, false) || !rcur_done(&c) || !key_valid(e)) {
		memset(e, 0, sizeof(*e));
		return -EINVAL;
	}
	return 0;
}

/* A tombstone's value fields are not looked at and are written zero. */
int tentry_write(const struct tentry *e, uint8_t out[V2_TENTRY_LEN])
{
	struct wcur c;

	memset(out, 0, V2_TENTRY_LEN);
	if (!tentry_valid(e))
		return -EINVAL;
	wcur_init(&c, out, V2_TENTRY_LEN);
	wcur_u8(&c, (uint8_t)(e->kind | (e->tombstone ? V2_TOMBSTONE : 0)));
	write_key(&c, e);
	if (!e->tombstone)
		write_value(&c, e);
	return 0;
}

/* Bytes 0..40 of e without bit 7: the key alone (value not looked at). */
int tentry_key_write(const struct tentry *e, uint8_t out[V2_TKEY_LEN])
{
	struct wcur c;

	memset(out, 0, V2_TKEY_LEN);
	if (!key_valid(e))
		return -EINVAL;
	wcur_init(&c, out, V2_TKEY_LEN);
	wcur_u8(&c, e->kind);
	write_key(&c, e);
	return 0;
}

int tkey_cmp(const uint8_t a[V2_TKEY_LEN], const uint8_t b[V2_TKEY_LEN])
{
	uint8_t ka = a[0] & (uint8_t)~V2_TOMBSTONE;
	uint8_t kb = b[0] & (uint8_t)~V2_TOMBSTONE;

	if (ka != kb)
		return ka < kb ? -1 : 1;
	return memcmp(a + 1, b + 1, V2_TKEY_LEN - 1);
}
