/*
 * libFuzzer target for meta_slot_open() and the reading rule,
 * meta_slots_read() (doc/FORMAT.md §2.3): input = kind u8 || bound
 * header[64] || slot 0[256] || slot 1[256], under the fixed meta key of
 * tests/fuzz/make_seeds_v2_object.py (so its valid seeds authenticate).
 * Never crashes; the current record is one that one slot opens to, with
 * its epoch, and a re-seal of it opens back to the same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/object.h"

#define IN_LEN (1 + V2_BOUND_LEN + 2 * V2_META_SLOT_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[COFFRE_KEY_LEN], slot[V2_META_SLOT_LEN];
	const uint8_t *bound = data + 1, *s0 = bound + V2_BOUND_LEN;
	const uint8_t *s1 = s0 + V2_META_SLOT_LEN;
	struct meta_record m, one, back;
	uint64_t epoch, e1, eb;
	bool stale;
	int cur;

	for (int i = 0; i < COFFRE_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	if (size != IN_LEN) {
		(void)meta_slot_open(key, data, data, size, 1, &epoch, &m);
		return 0;
	}
	cur = meta_slots_read(key, bound, s0, s1, data[0], &epoch, &m, &stale);
	if (cur < 0)
		return 0;
	if (cur > 1 || meta_slot_open(key, bound, cur ? s1 : s0,
				      V2_META_SLOT_LEN, data[0], &e1, &one) ||
	    e1 != epoch || memcmp(&one, &m, sizeof(m)) != 0)
		abort();
	if (meta_slot_seal(key, bound, epoch, data[0], &m, slot) != 0 ||
	    meta_slot_open(key, bound, slot, sizeof(slot), data[0], &eb,
			   &back) != 0 ||
	    eb != epoch || memcmp(&back, &m, sizeof(m)) != 0)
		abort();
	return 0;
}
