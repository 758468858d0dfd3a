/*
 * Levels of the version table (doc/FORMAT.md §12.2): a base
 * `.coffre/manifest/base.<gen>` or a delta `delta.<gen>`, 4096-byte blocks
 * each ending with
 *
 *   MAC = HMAC-SHA256(table key, uuid ‖ u8(level) ‖ u64be(gen) ‖
 *                     u32be(block index) ‖ block[0..4064))
 *
 * Block 0 is the header: magic "CFRT" | version 2 | level | reserved u16 |
 * uuid[16] | gen | N | Dn u32 | Fn u32 | anchor[32] | residue lo | residue
 * hi | base gen | base block 0 MAC[32] | zero[3928] | MAC[32].  Blocks
 * 1..Dn hold the entries (§12.1), 50 per block at 80-byte strides, the last
 * zero-filled after its last entry.  The index blocks are tindex.c's.
 *
 * The parsers here check the shape only and never look at the MAC bytes:
 * the caller verifies the block first (tblock_verify), since nothing in it
 * is to be acted on before.  Rules the spec leaves implicit, chosen strict
 * (every writer satisfies them): the anchor is never zero (a level is made
 * by folding at least one record, and a record's prev MAC is zero only with
 * prev gen 0); a delta's base MAC is never zero; the residue window lies
 * below gen.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/v2/table.h"
#include "table_priv.h"

#define MAC_PREFIX_LEN (COFFRE_ID_LEN + 1 + 8 + 4)
#define HDR_USED 136

static int block_mac(const uint8_t key[COFFRE_KEY_LEN],
		     const uint8_t uuid[COFFRE_ID_LEN], uint8_t level,
		     uint64_t gen, uint32_t index, const uint8_t *block,
		     uint8_t mac[COFFRE_MAC_LEN])
{
	uint8_t in[MAC_PREFIX_LEN + V2_TBLOCK_BODY];
	struct wcur c;

	wcur_init(&c, in, sizeof(in));
	wcur_bytes(&c, uuid, COFFRE_ID_LEN);
	wcur_u8(&c, level);
	wcur_u64be(&c, gen);
	wcur_u32be(&c, index);
	wcur_bytes(&c, block, V2_TBLOCK_BODY);
	return hmac_sha256(key, COFFRE_KEY_LEN, in, sizeof(in), mac);
}

int tblock_mac(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
	       uint8_t level, uint64_t gen, uint32_t index,
	       uint8_t block[V2_TBLOCK_LEN])
{
	return block_mac(key, uuid, level, gen, index, block,
			 block + V2_TBLOCK_BODY);
}

int tblock_verify(const uint8_t key[COFFRE_KEY_LEN],
		  const uint8_t uuid[COFFRE_ID_LEN], uint8_t level, uint64_t gen,
		  uint32_t index, const uint8_t *block, size_t len)
{
	uint8_t mac[COFFRE_MAC_LEN];
	int err;

	if (len != V2_TBLOCK_LEN)
		return -EINVAL;
	err = block_mac(key, uuid, level, gen, index, block, mac);
	return mac_check(err, mac, block + V2_TBLOCK_BODY, sizeof(mac));
}

bool tlevel_header_valid(const struct tlevel_header *h)
{
	if (h->level != V2_LEVEL_BASE && h->level != V2_LEVEL_DELTA)
		return false;
	if (!v2_gen_valid(h->gen) || h->n < 1 || h->n > V2_TLEVEL_N_MAX ||
	    h->dn != (h->n + V2_TDATA_PER_BLOCK - 1) / V2_TDATA_PER_BLOCK ||
	    h->fn != tindex_blocks(h->dn))
		return false;
	if (bytes_zero(h->anchor, sizeof(h->anchor)) ||
	    !v2t_residue_valid(h->residue_lo, h->residue_hi, h->gen))
		return false;
	if (h->level == V2_LEVEL_BASE)
		return h->base_gen == 0 &&
		       bytes_zero(h->base_mac, sizeof(h->base_mac));
	return v2_gen_valid(h->base_gen) && h->base_gen < h->gen &&
	       !bytes_zero(h->base_mac, sizeof(h->base_mac));
}

int tlevel_header_parse(const uint8_t *buf, size_t len, struct tlevel_header *h)
{
	struct rcur c;
	uint8_t magic[4], version, mac[COFFRE_MAC_LEN];
	uint16_t reserved;
	bool zero;
	int err = -EINVAL;

	memset(h, 0, sizeof(*h));
	if (len != V2_TBLOCK_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	h->level = rcur_u8(&c);
	reserved = rcur_u16be(&c);
	rcur_bytes(&c, h->uuid, sizeof(h->uuid));
	h->gen = rcur_u64be(&c);
	h->n = rcur_u64be(&c);
	h->dn = rcur_u32be(&c);
	h->fn = rcur_u32be(&c);
	rcur_bytes(&c, h->anchor, sizeof(h->anchor));
	h->residue_lo = rcur_u64be(&c);
	h->residue_hi = rcur_u64be(&c);
	h->base_gen = rcur_u64be(&c);
	rcur_bytes(&c, h->base_mac, sizeof(h->base_mac));
	zero = rcur_zero(&c, V2_TBLOCK_BODY - HDR_USED);
	rcur_bytes(&c, mac, sizeof(mac));          /* tblock_verify's */
	if (!rcur_done(&c))
		goto out;
	err = v2_magic_check(magic, V2_TLEVEL_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	if (reserved == 0 && zero && tlevel_header_valid(h))
		err = 0;
out:
	if (err)
		memset(h, 0, sizeof(*h));
	return err;
}

int tlevel_header_write(const struct tlevel_header *h, uint8_t out[V2_TBLOCK_LEN])
{
	struct wcur c;

	memset(out, 0, V2_TBLOCK_LEN);
	if (!tlevel_header_valid(h))
		return -EINVAL;
	wcur_init(&c, out, V2_TBLOCK_LEN);
	wcur_bytes(&c, V2_TLEVEL_MAGIC, 4);
	wcur_u8(&c, COFFRE_V2_VERSION);
	wcur_u8(&c, h->level);
	wcur_u16be(&c, 0);
	wcur_bytes(&c, h->uuid, sizeof(h->uuid));
	wcur_u64be(&c, h->gen);
	wcur_u64be(&c, h->n);
	wcur_u32be(&c, h->dn);
	wcur_u32be(&c, h->fn);
	wcur_bytes(&c, h->anchor, sizeof(h->anchor));
	wcur_u64be(&c, h->residue_lo);
	wcur_u64be(&c, h->residue_hi);
	wcur_u64be(&c, h->base_gen);
	wcur_bytes(&c, h->base_mac, sizeof(h->base_mac));
	return 0;
}

uint32_t tdata_count(uint64_t n, uint64_t j)
{
	uint64_t first;

	if (j >= n / V2_TDATA_PER_BLOCK + 1)
		return 0;
	first = j * V2_TDATA_PER_BLOCK;
	if (first >= n)
		return 0;
	return n - first >= V2_TDATA_PER_BLOCK ? V2_TDATA_PER_BLOCK
					       : (uint32_t)(n - first);
}

static bool data_args_valid(size_t len, uint8_t level, uint32_t count)
{
	return len == V2_TBLOCK_LEN && count >= 1 &&
	       count <= V2_TDATA_PER_BLOCK &&
	       (level == V2_LEVEL_BASE || level == V2_LEVEL_DELTA);
}

/* Entry e (raw bytes) may follow prev (raw, NULL for the first) in a level. */
static bool data_entry_fits(const uint8_t *prev, const uint8_t *raw,
			    const struct tentry *e, uint8_t level)
{
	if (e->tombstone && level != V2_LEVEL_DELTA)
		return false;
	return !prev || tkey_cmp(prev, raw) < 0;
}

int tdata_block_parse(const uint8_t *buf, size_t len, uint8_t level,
		      uint32_t count, struct tentry *out)
{
	uint8_t raw[2][V2_TENTRY_LEN], mac[COFFRE_MAC_LEN];
	struct tentry e;
	struct rcur c;
	bool ok;

	if (!data_args_valid(len, level, count)) {
		if (out && count >= 1 && count <= V2_TDATA_PER_BLOCK)
			memset(out, 0, count * sizeof(*out));
		return -EINVAL;
	}
	rcur_init(&c, buf, len);
	ok = true;
	for (uint32_t i = 0; i < count && ok; i++) {
		uint8_t *cur = raw[i & 1];

		rcur_bytes(&c, cur, V2_TENTRY_LEN);
		ok = tentry_parse(cur, V2_TENTRY_LEN, &e) == 0 &&
		     data_entry_fits(i ? raw[(i - 1) & 1] : NULL, cur, &e, level);
		if (out)
			out[i] = e;
	}
	ok = ok && rcur_zero(&c, V2_TBLOCK_BODY - (size_t)count * V2_TENTRY_LEN);
	rcur_bytes(&c, mac, sizeof(mac));          /* tblock_verify's */
	if (!ok || !rcur_done(&c)) {
		if (out)
			memset(out, 0, count * sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

int tdata_block_write(const struct tentry *e, uint32_t count, uint8_t level,
		      uint8_t out[V2_TBLOCK_LEN])
{
	uint8_t *prev = NULL;

	memset(out, 0, V2_TBLOCK_LEN);
	if (!data_args_valid(V2_TBLOCK_LEN, level, count))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t *raw = out + (size_t)i * V2_TENTRY_LEN;

		if (tentry_write(&e[i], raw) != 0 ||
		    !data_entry_fits(prev, raw, &e[i], level)) {
			memset(out, 0, V2_TBLOCK_LEN);
			return -EINVAL;
		}
		prev = raw;
	}
	return 0;
}
