/*
 * The index of a level of the version table (doc/FORMAT.md §12.2): after
 * the Dn data blocks, tier 1 holds the 40-byte key of the first entry of
 * each data block, 100 per block (F1 = ⌈Dn/100⌉ blocks), tier k + 1 the
 * first key of each block of tier k (F(k+1) = ⌈Fk/100⌉), up to the first
 * tier of one block, the top.  Fn = F1 + … + Ftop; the file is
 * (1 + Dn + Fn) × 4096 bytes; block j of tier k covers blocks
 * 100j … 100j + 99 of tier k − 1 (tier 0: the data blocks).
 *
 * An index block: the keys at 40-byte strides, strictly increasing, zero
 * after the last up to the MAC (tlevel.c's).  A key is stored with bit 7
 * of its kind byte clear even where the data block starts with a
 * tombstone: the index orders keys, and a key is bytes 0..40 of an entry
 * with that bit cleared (§12.2, "Order and uniqueness").
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/table.h"
#include "table_priv.h"

static uint64_t ceil100(uint64_t f)
{
	return (f + V2_TINDEX_PER_BLOCK - 1) / V2_TINDEX_PER_BLOCK;
}

unsigned tindex_tiers(uint64_t dn)
{
	unsigned t = 0;

	if (dn == 0 || dn > UINT32_MAX)
		return 0;
	do {
		dn = ceil100(dn);
		t++;
	} while (dn > 1);
	return t;
}

uint64_t tindex_tier_blocks(uint64_t dn, unsigned k)
{
	if (k > tindex_tiers(dn))
		return 0;
	for (unsigned i = 0; i < k; i++)
		dn = ceil100(dn);
	return dn;
}

uint64_t tindex_blocks(uint64_t dn)
{
	unsigned tiers = tindex_tiers(dn);
	uint64_t fn = 0;

	for (unsigned k = 1; k <= tiers; k++)
		fn += tindex_tier_blocks(dn, k);
	return fn;
}

uint64_t tlevel_file_size(uint64_t dn)
{
	if (tindex_tiers(dn) == 0)
		return 0;
	return (1 + dn + tindex_blocks(dn)) * V2_TBLOCK_LEN;
}

uint64_t tindex_block_index(uint64_t dn, unsigned k, uint64_t j)
{
	uint64_t index = 1;

	if (tindex_tiers(dn) == 0 || j >= tindex_tier_blocks(dn, k))
		return UINT64_MAX;
	for (unsigned i = 0; i < k; i++)
		index += tindex_tier_blocks(dn, i);
	return index + j;
}

int tindex_children(uint64_t dn, unsigned k, uint64_t j, uint64_t *first,
		    uint32_t *count)
{
	uint64_t below;

	*first = 0;
	*count = 0;
	if (k < 1 || j >= tindex_tier_blocks(dn, k))
		return -EINVAL;
	below = tindex_tier_blocks(dn, k - 1);
	*first = j * V2_TINDEX_PER_BLOCK;
	*count = below - *first >= V2_TINDEX_PER_BLOCK ? V2_TINDEX_PER_BLOCK
						       : (uint32_t)(below - *first);
	return 0;
}

/* key may follow prev (NULL for the first) in an index. */
static bool index_key_fits(const uint8_t *prev, const uint8_t *key)
{
	struct tentry e;

	return tentry_key_parse(key, V2_TKEY_LEN, &e) == 0 &&
	       (!prev || tkey_cmp(prev, key) < 0);
}

int tindex_block_parse(const uint8_t *buf, size_t len, uint32_t count,
		       uint8_t (*keys)[V2_TKEY_LEN])
{
	uint8_t raw[2][V2_TKEY_LEN], mac[COFFRE_MAC_LEN];
	bool in_range = count >= 1 && count <= V2_TINDEX_PER_BLOCK;
	struct rcur c;
	bool ok = in_range && len == V2_TBLOCK_LEN;

	rcur_init(&c, buf, len);
	for (uint32_t i = 0; i < count && ok; i++) {
		uint8_t *cur = raw[i & 1];

		rcur_bytes(&c, cur, V2_TKEY_LEN);
		ok = index_key_fits(i ? raw[(i - 1) & 1] : NULL, cur);
		if (keys)
			memcpy(keys[i], cur, V2_TKEY_LEN);
	}
	ok = ok && rcur_zero(&c, V2_TBLOCK_BODY - (size_t)count * V2_TKEY_LEN);
	rcur_bytes(&c, mac, sizeof(mac));          /* tblock_verify's */
	if (!ok || !rcur_done(&c)) {
		if (keys && in_range)
			memset(keys, 0, (size_t)count * V2_TKEY_LEN);
		return -EINVAL;
	}
	return 0;
}

int tindex_block_write(const uint8_t (*keys)[V2_TKEY_LEN], uint32_t count,
		       uint8_t out[V2_TBLOCK_LEN])
{
	struct wcur c;

	memset(out, 0, V2_TBLOCK_LEN);
	if (count < 1 || count > V2_TINDEX_PER_BLOCK)
		return -EINVAL;
	wcur_init(&c, out, V2_TBLOCK_LEN);
	for (uint32_t i = 0; i < count; i++) {
		if (!index_key_fits(i ? keys[i - 1] : NULL, keys[i])) {
			memset(out, 0, V2_TBLOCK_LEN);
			return -EINVAL;
		}
		wcur_bytes(&c, keys[i], V2_TKEY_LEN);
	}
	return 0;
}

/* Key i of block j of tier k is the first key of block 100j + i of tier
 * k - 1, that is of data block (100j + i) * 100^(k-1): no tier needs the
 * one below it kept. */
int tindex_build(const uint8_t (*first_keys)[V2_TKEY_LEN], uint64_t dn,
		 uint8_t *out, size_t cap)
{
	uint8_t keys[V2_TINDEX_PER_BLOCK][V2_TKEY_LEN];
	unsigned tiers = tindex_tiers(dn);
	uint64_t fn = tindex_blocks(dn), step = 1;   /* 100^(k-1) */
	uint8_t *block = out;

	if (tiers == 0)
		return -EINVAL;
	if (cap / V2_TBLOCK_LEN < fn)
		return -ENOSPC;
	for (uint64_t i = 0; i < dn; i++) {
		if (!index_key_fits(i ? first_keys[i - 1] : NULL, first_keys[i])) {
			memset(out, 0, fn * V2_TBLOCK_LEN);
			return -EINVAL;
		}
	}
	for (unsigned k = 1; k <= tiers; k++) {
		for (uint64_t j = 0; j < tindex_tier_blocks(dn, k); j++) {
			uint64_t first;
			uint32_t count;

			tindex_children(dn, k, j, &first, &count);
			for (uint32_t i = 0; i < count; i++)
				memcpy(keys[i],
				       first_keys[(first + i) * step],
				       V2_TKEY_LEN);
			tindex_block_write((const uint8_t (*)[V2_TKEY_LEN])keys,
					   count, block);
			block += V2_TBLOCK_LEN;
		}
		step *= V2_TINDEX_PER_BLOCK;
	}
	return 0;
}
