/* Unit tests for src/format/v2/tindex.c (doc/FORMAT.md §12.2): the index
 * geometry computed by hand, index blocks, and the tier builder. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/table.h"

Test(tindex, geometry_by_hand)
{
	/* dn, tiers, F1, F2, F3, Fn */
	static const uint64_t g[][6] = {
		{1, 1, 1, 0, 0, 1},
		{100, 1, 1, 0, 0, 1},
		{101, 2, 2, 1, 0, 3},
		{10000, 2, 100, 1, 0, 101},
		{10001, 3, 101, 2, 1, 104},
		{1000000, 3, 10000, 100, 1, 10101},  /* "three tiers up to a million" */
		{1000001, 4, 10001, 101, 2, 10105},  /* + F4 = 1 */
	};

	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		uint64_t dn = g[i][0];

		cr_assert_eq(tindex_tiers(dn), g[i][1], "dn %lu", (unsigned long)dn);
		cr_assert_eq(tindex_tier_blocks(dn, 0), dn);
		for (unsigned k = 1; k <= 3; k++)
			cr_assert_eq(tindex_tier_blocks(dn, k), g[i][1 + k],
				     "dn %lu tier %u", (unsigned long)dn, k);
		cr_assert_eq(tindex_tier_blocks(dn, tindex_tiers(dn)), 1);
		cr_assert_eq(tindex_tier_blocks(dn, tindex_tiers(dn) + 1), 0);
		cr_assert_eq(tindex_blocks(dn), g[i][5]);
		cr_assert_eq(tlevel_file_size(dn), (1 + dn + g[i][5]) * 4096);
		/* the top is the last block of the file */
		cr_assert_eq(tindex_block_index(dn, tindex_tiers(dn), 0),
			     tlevel_file_size(dn) / 4096 - 1);
	}
	/* dn = 2^32 - 1: 42949673, 429497, 4295, 43, 1 */
	cr_assert_eq(tindex_tiers(UINT32_MAX), 5);
	cr_assert_eq(tindex_blocks(UINT32_MAX), 42949673 + 429497 + 4295 + 43 + 1);
	cr_assert_eq(tindex_tiers(0), 0);
	cr_assert_eq(tindex_tiers((uint64_t)UINT32_MAX + 1), 0);
	cr_assert_eq(tindex_blocks(0), 0);
	cr_assert_eq(tlevel_file_size(0), 0);
}

Test(tindex, block_indexes_and_children)
{
	uint64_t first;
	uint32_t count;

	/* dn 101: header 0, data 1..101, tier 1 at 102..103, top at 104 */
	cr_assert_eq(tindex_block_index(101, 0, 0), 1);
	cr_assert_eq(tindex_block_index(101, 0, 100), 101);
	cr_assert_eq(tindex_block_index(101, 0, 101), UINT64_MAX);
	cr_assert_eq(tindex_block_index(101, 1, 0), 102);
	cr_assert_eq(tindex_block_index(101, 1, 1), 103);
	cr_assert_eq(tindex_block_index(101, 1, 2), UINT64_MAX);
	cr_assert_eq(tindex_block_index(101, 2, 0), 104);
	cr_assert_eq(tindex_block_index(101, 3, 0), UINT64_MAX);
	cr_assert_eq(tindex_block_index(0, 0, 0), UINT64_MAX);

	cr_assert_eq(tindex_children(101, 1, 0, &first, &count), 0);
	cr_assert_eq(first, 0);
	cr_assert_eq(count, 100);
	cr_assert_eq(tindex_children(101, 1, 1, &first, &count), 0);
	cr_assert_eq(first, 100);
	cr_assert_eq(count, 1);
	cr_assert_eq(tindex_children(101, 2, 0, &first, &count), 0);
	cr_assert_eq(first, 0);
	cr_assert_eq(count, 2);
	cr_assert_eq(tindex_children(101, 2, 1, &first, &count), -EINVAL);
	cr_assert_eq(tindex_children(101, 3, 0, &first, &count), -EINVAL);
	cr_assert_eq(tindex_children(101, 0, 0, &first, &count), -EINVAL);
	cr_assert_eq(count, 0);
	cr_assert_eq(tindex_children(10001, 3, 0, &first, &count), 0);
	cr_assert_eq(count, 2);
	cr_assert_eq(tindex_children(10001, 2, 1, &first, &count), 0);
	cr_assert_eq(first, 100);
	cr_assert_eq(count, 1);
}

/* Key i: an OBJ key whose id ends with u32be(i * 3 + 1). */
static void obj_key(uint8_t k[V2_TKEY_LEN], uint32_t i)
{
	uint32_t v = i * 3 + 1;

	memset(k, 0, V2_TKEY_LEN);
	k[0] = V2_TK_OBJ;
	k[13] = (uint8_t)(v >> 24);
	k[14] = (uint8_t)(v >> 16);
	k[15] = (uint8_t)(v >> 8);
	k[16] = (uint8_t)v;
}

static const uint8_t zeros[V2_TBLOCK_LEN];

Test(tindex, index_block_layout_and_rules)
{
	uint8_t keys[100][V2_TKEY_LEN], out[100][V2_TKEY_LEN];
	uint8_t want[V2_TBLOCK_LEN], b[V2_TBLOCK_LEN];

	memset(want, 0, sizeof(want));
	for (uint32_t i = 0; i < 100; i++) {
		obj_key(keys[i], i);
		memcpy(want + 40 * i, keys[i], 40);
	}
	cr_assert_eq(tindex_block_write((const uint8_t (*)[40])keys, 100, b), 0);
	cr_assert_eq(memcmp(b, want, sizeof(b)), 0);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 100, out), 0);
	cr_assert_eq(memcmp(out, keys, sizeof(out)), 0);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 99, out), -EINVAL);
	cr_assert_eq(memcmp(out, zeros, 99 * 40), 0);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 101, NULL), -EINVAL);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 0, NULL), -EINVAL);
	cr_assert_eq(tindex_block_parse(b, sizeof(b) + 0, 100, NULL), 0);
	cr_assert_eq(tindex_block_parse(b, sizeof(b) - 1, 100, NULL), -EINVAL);

	/* 3 keys: every byte of the tail up to the MAC must be zero */
	cr_assert_eq(tindex_block_write((const uint8_t (*)[40])keys, 3, b), 0);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), 0);
	for (size_t off = 120; off < 4096; off++) {
		b[off] = 0x04;
		cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL),
			     off < 4064 ? -EINVAL : 0, "byte %zu", off);
		b[off] = 0;
	}
	/* order, duplicates, tombstone bit, invalid keys, padding */
	memcpy(b + 40, b, 40);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), -EINVAL);
	memcpy(b + 40, keys[2], 40);
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), -EINVAL);
	memcpy(b + 40, keys[1], 40);
	b[80] |= 0x80;
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), -EINVAL);
	b[80] = 9;
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), -EINVAL);
	b[80] = V2_TK_OBJ;
	b[80 + 17] = 1;                      /* past an OBJ key's 16 bytes */
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), -EINVAL);
	b[80 + 17] = 0;
	cr_assert_eq(tindex_block_parse(b, sizeof(b), 3, NULL), 0);
	/* the writer refuses the same */
	memcpy(keys[1], keys[0], 40);
	memset(b, 0x5a, sizeof(b));
	cr_assert_eq(tindex_block_write((const uint8_t (*)[40])keys, 3, b), -EINVAL);
	cr_assert_eq(memcmp(b, zeros, sizeof(b)), 0);
	cr_assert_eq(tindex_block_write((const uint8_t (*)[40])keys, 0, b), -EINVAL);
	cr_assert_eq(tindex_block_write((const uint8_t (*)[40])keys, 101, b), -EINVAL);
}

static void check_build(uint64_t dn)
{
	uint8_t (*first)[V2_TKEY_LEN] = calloc(dn, V2_TKEY_LEN);
	uint64_t fn = tindex_blocks(dn), top = tindex_tiers(dn);
	uint8_t *out = calloc(fn, V2_TBLOCK_LEN);
	uint8_t keys[100][V2_TKEY_LEN];

	cr_assert(first && out);
	for (uint64_t i = 0; i < dn; i++)
		obj_key(first[i], (uint32_t)i);
	cr_assert_eq(tindex_build((const uint8_t (*)[40])first, dn, out,
				  fn * V2_TBLOCK_LEN), 0);
	for (unsigned k = 1; k <= top; k++) {
		for (uint64_t j = 0; j < tindex_tier_blocks(dn, k); j++) {
			uint64_t bi = tindex_block_index(dn, k, j), c0, step = 1;
			uint32_t n;

			for (unsigned t = 1; t < k; t++)
				step *= 100;
			cr_assert_eq(tindex_children(dn, k, j, &c0, &n), 0);
			cr_assert_eq(tindex_block_parse(out + (bi - 1 - dn) * 4096,
							4096, n, keys), 0);
			/* key i: first key of block c0 + i of the tier below */
			for (uint32_t i = 0; i < n; i++)
				cr_assert_eq(memcmp(keys[i], first[(c0 + i) * step], 40), 0,
					     "dn %lu tier %u block %lu key %u",
					     (unsigned long)dn, k, (unsigned long)j, i);
		}
	}
	free(first);
	free(out);
}

Test(tindex, build_tiers)
{
	check_build(1);
	check_build(100);
	check_build(101);
	check_build(250);
	check_build(10001);
}

Test(tindex, build_refusals)
{
	uint8_t first[250][V2_TKEY_LEN], out[4 * 4096];

	for (uint32_t i = 0; i < 250; i++)
		obj_key(first[i], i);
	cr_assert_eq(tindex_blocks(250), 4);
	cr_assert_eq(tindex_build((const uint8_t (*)[40])first, 250, out,
				  sizeof(out) - 1), -ENOSPC);
	cr_assert_eq(tindex_build((const uint8_t (*)[40])first, 0, out,
				  sizeof(out)), -EINVAL);
	/* an unordered key: nothing written */
	memcpy(first[150], first[10], 40);
	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(tindex_build((const uint8_t (*)[40])first, 250, out,
				  sizeof(out)), -EINVAL);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0);
}
