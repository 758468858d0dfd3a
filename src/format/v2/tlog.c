/*
 * Commit records of the version table, `.coffre/manifest/log.<gen>`
 * (doc/FORMAT.md §12.3):
 *
 *   magic "CFRL" | version 2 | type u8 | flags u16be | uuid[16] | gen |
 *   prev gen | prev MAC[32] | residue lo | residue hi | time | P u32 |
 *   Q u32 | R u32 | zero[20]                                  (128 bytes)
 *   P puts (80 bytes, §12.1) | Q deleted keys (40 bytes) |
 *   R removals (parent dir id ‖ name id ‖ object id, 48 bytes) |
 *   MAC = HMAC-SHA256(table key, every byte before it)
 *
 * The parser reads magic and version (to name what the bytes are not), the
 * counts (for the length, which must be exact), then verifies the MAC in
 * constant time, and only then looks at anything else.  The verified
 * record stays in the caller's buffer: a view points into it and the
 * accessors decode entry i, so an 11 MiB record is never copied.  The
 * writer checks what it wrote with the parser's own rules.  Rules the spec
 * leaves implicit, chosen strict: puts are not tombstones; the residue
 * window lies below gen (§12.7).
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/v2/table.h"
#include "table_priv.h"

#define TLOG_RESERVED 20
#define TLOG_FLAGS (V2_TLOG_CLEAN | V2_TLOG_RESIDUE_CLOSED)

size_t tlog_len(uint32_t p, uint32_t q, uint32_t r)
{
	if ((uint64_t)p + q > V2_TLOG_MAX_PQ || r > V2_TLOG_MAX_R)
		return 0;
	return V2_TLOG_HDR_LEN + (size_t)p * V2_TENTRY_LEN +
	       (size_t)q * V2_TKEY_LEN + (size_t)r * V2_TLOG_REMOVAL_LEN +
	       COFFRE_MAC_LEN;
}

static int tlog_mac(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *buf,
		    size_t total, uint8_t mac[COFFRE_MAC_LEN])
{
	return hmac_sha256(key, COFFRE_KEY_LEN, buf, total - COFFRE_MAC_LEN, mac);
}

/* The 128 header bytes after magic and version; true if the reserved
 * bytes are zero. */
static bool read_header(struct rcur *c, struct tlog_header *h)
{
	h->type = rcur_u8(c);
	h->flags = rcur_u16be(c);
	rcur_bytes(c, h->uuid, sizeof(h->uuid));
	h->gen = rcur_u64be(c);
	h->prev_gen = rcur_u64be(c);
	rcur_bytes(c, h->prev_mac, sizeof(h->prev_mac));
	h->residue_lo = rcur_u64be(c);
	h->residue_hi = rcur_u64be(c);
	h->time = rcur_u64be(c);
	h->p = rcur_u32be(c);
	h->q = rcur_u32be(c);
	h->r = rcur_u32be(c);
	return rcur_zero(c, TLOG_RESERVED);
}

static void write_header(struct wcur *c, const struct tlog_header *h)
{
	wcur_bytes(c, V2_TLOG_MAGIC, 4);
	wcur_u8(c, COFFRE_V2_VERSION);
	wcur_u8(c, h->type);
	wcur_u16be(c, h->flags);
	wcur_bytes(c, h->uuid, sizeof(h->uuid));
	wcur_u64be(c, h->gen);
	wcur_u64be(c, h->prev_gen);
	wcur_bytes(c, h->prev_mac, sizeof(h->prev_mac));
	wcur_u64be(c, h->residue_lo);
	wcur_u64be(c, h->residue_hi);
	wcur_u64be(c, h->time);
	wcur_u32be(c, h->p);
	wcur_u32be(c, h->q);
	wcur_u32be(c, h->r);
	wcur_zero(c, TLOG_RESERVED);
}

static bool header_valid(const struct tlog_header *h)
{
	if (h->type != V2_TLOG_TYPE_COMMIT && h->type != V2_TLOG_TYPE_START)
		return false;
	if (h->flags & ~TLOG_FLAGS)
		return false;
	if (!v2_gen_valid(h->gen) || h->gen <= h->prev_gen ||
	    (h->prev_gen != 0 && !v2_gen_valid(h->prev_gen)))
		return false;
	if ((h->prev_gen == 0) != bytes_zero(h->prev_mac, sizeof(h->prev_mac)))
		return false;
	return v2t_residue_valid(h->residue_lo, h->residue_hi, h->gen);
}

/* Point the view at the bodies of the record in buf (its length checked). */
static void view_bodies(struct tlog_view *v, const uint8_t *buf)
{
	v->puts = buf + V2_TLOG_HDR_LEN;
	v->dels = v->puts + (size_t)v->h.p * V2_TENTRY_LEN;
	v->rems = v->dels + (size_t)v->h.q * V2_TKEY_LEN;
}

/* Puts strictly increasing, no tombstone among them. */
static bool puts_valid(const struct tlog_view *v)
{
	uint8_t raw[2][V2_TENTRY_LEN];
	struct tentry e;
	struct rcur c;

	rcur_init(&c, v->puts, (size_t)v->h.p * V2_TENTRY_LEN);
	for (uint32_t i = 0; i < v->h.p; i++) {
		rcur_bytes(&c, raw[i & 1], V2_TENTRY_LEN);
		if (tentry_parse(raw[i & 1], V2_TENTRY_LEN, &e) != 0 || e.tombstone)
			return false;
		if (i && tkey_cmp(raw[(i - 1) & 1], raw[i & 1]) >= 0)
			return false;
	}
	return rcur_done(&c);
}

/* Deleted keys strictly increasing, none among the puts (both sorted: one
 * merge walk). */
static bool dels_valid(const struct tlog_view *v)
{
	uint8_t raw[2][V2_TKEY_LEN], put[V2_TENTRY_LEN];
	struct tentry e;
	struct rcur c, pc;
	bool have_put = false;

	rcur_init(&c, v->dels, (size_t)v->h.q * V2_TKEY_LEN);
	rcur_init(&pc, v->puts, (size_t)v->h.p * V2_TENTRY_LEN);
	for (uint32_t i = 0; i < v->h.q; i++) {
		uint8_t *cur = raw[i & 1];

		rcur_bytes(&c, cur, V2_TKEY_LEN);
		if (tentry_key_parse(cur, V2_TKEY_LEN, &e) != 0)
			return false;
		if (i && tkey_cmp(raw[(i - 1) & 1], cur) >= 0)
			return false;
		/* pass the puts below cur; one equal to it is refused */
		for (;;) {
			int cmp;

			if (!have_put) {
				if (rcur_done(&pc))
					break;
				rcur_bytes(&pc, put, V2_TENTRY_LEN);
				have_put = true;
			}
			cmp = tkey_cmp(put, cur);
			if (cmp == 0)
				return false;
			if (cmp > 0)
				break;
			have_put = false;
		}
	}
	return rcur_done(&c);
}

/* Removals strictly increasing (as 48-byte strings). */
static bool rems_valid(const struct tlog_view *v)
{
	uint8_t raw[2][V2_TLOG_REMOVAL_LEN];
	struct rcur c;

	rcur_init(&c, v->rems, (size_t)v->h.r * V2_TLOG_REMOVAL_LEN);
	for (uint32_t i = 0; i < v->h.r; i++) {
		rcur_bytes(&c, raw[i & 1], V2_TLOG_REMOVAL_LEN);
		if (i && memcmp(raw[(i - 1) & 1], raw[i & 1],
				V2_TLOG_REMOVAL_LEN) >= 0)
			return false;
	}
	return rcur_done(&c);
}

static bool body_valid(const struct tlog_view *v)
{
	return header_valid(&v->h) && puts_valid(v) && dels_valid(v) &&
	       rems_valid(v);
}

int tlog_parse(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *buf, size_t len,
	       struct tlog_view *v)
{
	uint8_t magic[4], version, mac[COFFRE_MAC_LEN];
	struct rcur c;
	size_t total;
	bool zero;
	int err = -EINVAL;

	memset(v, 0, sizeof(*v));
	if (len < V2_TLOG_HDR_LEN + COFFRE_MAC_LEN)
		return -EINVAL;
	rcur_init(&c, buf, V2_TLOG_HDR_LEN);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	zero = read_header(&c, &v->h);
	err = v2_magic_check(magic, V2_TLOG_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	total = tlog_len(v->h.p, v->h.q, v->h.r);
	if (!rcur_done(&c) || total == 0 || total != len)
		goto out;
	rcur_init(&c, buf + len - COFFRE_MAC_LEN, COFFRE_MAC_LEN);
	rcur_bytes(&c, v->mac, sizeof(v->mac));
	err = mac_check(tlog_mac(key, buf, len, mac), mac, v->mac, sizeof(mac));
	if (err)
		goto out;
	/* authenticated from here on */
	view_bodies(v, buf);
	if (!zero || !body_valid(v))
		err = -EINVAL;
out:
	if (err)
		memset(v, 0, sizeof(*v));
	return err;
}

int tlog_put(const struct tlog_view *v, uint32_t i, struct tentry *e)
{
	if (i >= v->h.p) {
		memset(e, 0, sizeof(*e));
		return -EINVAL;
	}
	return tentry_parse(v->puts + (size_t)i * V2_TENTRY_LEN, V2_TENTRY_LEN, e);
}

int tlog_del(const struct tlog_view *v, uint32_t i, struct tentry *e)
{
	if (i >= v->h.q) {
		memset(e, 0, sizeof(*e));
		return -EINVAL;
	}
	return tentry_key_parse(v->dels + (size_t)i * V2_TKEY_LEN, V2_TKEY_LEN, e);
}

int tlog_removal(const struct tlog_view *v, uint32_t i, struct tlog_removal *r)
{
	struct rcur c;

	memset(r, 0, sizeof(*r));
	if (i >= v->h.r)
		return -EINVAL;
	rcur_init(&c, v->rems + (size_t)i * V2_TLOG_REMOVAL_LEN,
		  V2_TLOG_REMOVAL_LEN);
	rcur_bytes(&c, r->parent, sizeof(r->parent));
	rcur_bytes(&c, r->name_id, sizeof(r->name_id));
	rcur_bytes(&c, r->object_id, sizeof(r->object_id));
	return 0;
}

int tlog_write(const uint8_t key[COFFRE_KEY_LEN], const struct tlog_header *h,
	       const struct tentry *puts, const struct tentry *dels,
	       const struct tlog_removal *rems, uint8_t *out, size_t cap)
{
	uint8_t raw[V2_TENTRY_LEN];
	struct tlog_view v;
	struct wcur c;
	size_t total = tlog_len(h->p, h->q, h->r);
	bool ok = true;

	if (total == 0)
		return -EINVAL;
	if (cap < total)
		return -ENOSPC;
	wcur_init(&c, out, total);
	write_header(&c, h);
	for (uint32_t i = 0; i < h->p && ok; i++) {
		ok = tentry_write(&puts[i], raw) == 0;
		wcur_bytes(&c, raw, V2_TENTRY_LEN);
	}
	for (uint32_t i = 0; i < h->q && ok; i++) {
		ok = tentry_key_write(&dels[i], raw) == 0;
		wcur_bytes(&c, raw, V2_TKEY_LEN);
	}
	for (uint32_t i = 0; i < h->r && ok; i++) {
		wcur_bytes(&c, rems[i].parent, COFFRE_ID_LEN);
		wcur_bytes(&c, rems[i].name_id, COFFRE_ID_LEN);
		wcur_bytes(&c, rems[i].object_id, COFFRE_ID_LEN);
	}
	memset(&v, 0, sizeof(v));
	v.h = *h;
	view_bodies(&v, out);
	if (!ok || !body_valid(&v) ||
	    tlog_mac(key, out, total, out + total - COFFRE_MAC_LEN) != 0) {
		memset(out, 0, total);
		return -EINVAL;
	}
	return (int)total;
}
