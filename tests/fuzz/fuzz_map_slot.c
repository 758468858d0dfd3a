/*
 * libFuzzer target for map_slot_parse() and map_slot_open() (doc/
 * FORMAT.md §5.2): input = legacy u8 (bit 0) || slot, the MAC under the
 * fixed map key of tests/fuzz/make_seeds_v2_object.py.  Never crashes;
 * what parses is written back byte for byte (bytes 0..4136; the writer's
 * MAC then verifies), and an opened slot is the one map_slot_select()
 * picks for its own values.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct map_slot_view v[2];
	static struct map_slot s;
	static uint8_t out[V2_MAP_SLOT_LEN];
	uint8_t key[COFFRE_KEY_LEN];
	struct map_expect e;
	bool legacy;

	if (size < 1)
		return 0;
	legacy = data[0] & 1;
	for (int i = 0; i < COFFRE_KEY_LEN; i++)
		key[i] = (uint8_t)(0x20 + i);
	if (map_slot_parse(data + 1, size - 1, legacy, &s) == 0) {
		if (map_slot_write(&s, key, out) != 0 ||
		    memcmp(out, data + 1, V2_MAP_MAC_OFF) != 0 ||
		    map_slot_open(key, out, sizeof(out), legacy, &v[0].s) != 0)
			abort();
	}
	v[0].result = map_slot_open(key, data + 1, size - 1, legacy, &v[0].s);
	if (v[0].result != 0)
		return 0;
	v[1].result = -ENODATA;
	memcpy(e.file_id, v[0].s.file_id, sizeof(e.file_id));
	e.group = v[0].s.group;
	e.count = v[0].s.count;
	e.version = v[0].s.version;
	if (map_slot_select(v, &e) != 0)
		abort();
	return 0;
}
