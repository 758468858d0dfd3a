/*
 * libFuzzer target for the level block parsers (doc/FORMAT.md §12.2).  The
 * first byte selects the parser: 0 header, 1 data block of a base, 2 data
 * block of a delta, 3 index block; for 1..3 the second byte is the entry
 * or key count.  The rest is the 4096-byte block.  Never crashes; whatever
 * is accepted is written back byte for byte over bytes 0..4064 (the MAC is
 * tblock_verify's), and the block MAC verifies after tblock_mac.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[COFFRE_KEY_LEN] = {1, 2, 3};

static void check_same(const uint8_t *in, uint8_t out[V2_TBLOCK_LEN])
{
	uint8_t uuid[COFFRE_ID_LEN] = {0};

	if (memcmp(out, in, V2_TBLOCK_BODY) != 0)
		abort();
	if (tblock_mac(key, uuid, 0, 1, 0, out) != 0 ||
	    tblock_verify(key, uuid, 0, 1, 0, out, V2_TBLOCK_LEN) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tentry e[V2_TDATA_PER_BLOCK];
	static uint8_t keys[V2_TINDEX_PER_BLOCK][V2_TKEY_LEN];
	uint8_t out[V2_TBLOCK_LEN];
	struct tlevel_header h;

	if (size < 1)
		return 0;
	if (data[0] == 0) {
		if (tlevel_header_parse(data + 1, size - 1, &h) != 0)
			return 0;
		if (tlevel_header_write(&h, out) != 0)
			abort();
		check_same(data + 1, out);
		return 0;
	}
	if (size < 2 || data[0] > 3)
		return 0;
	if (data[0] < 3) {
		uint8_t level = data[0] == 1 ? V2_LEVEL_BASE : V2_LEVEL_DELTA;

		if (tdata_block_parse(data + 2, size - 2, level, data[1], e) != 0)
			return 0;
		if (tdata_block_write(e, data[1], level, out) != 0)
			abort();
	} else {
		if (tindex_block_parse(data + 2, size - 2, data[1], keys) != 0)
			return 0;
		if (tindex_block_write((const uint8_t (*)[V2_TKEY_LEN])keys,
				       data[1], out) != 0)
			abort();
	}
	check_same(data + 2, out);
	return 0;
}
