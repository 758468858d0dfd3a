/*
 * libFuzzer target for intent_scan() and intent_parse() (doc/FORMAT.md
 * §12.4) under make_seeds_v2_table.py's key, uuid and g = 30.  Never
 * crashes; the records it accepts are a prefix of the input that
 * intent_write reproduces byte for byte, and the record after them, if
 * whole, fails its MAC.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define G 30
#define CAP 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct intent in[CAP];
	uint8_t key[COFFRE_KEY_LEN], uuid[COFFRE_ID_LEN], rec[V2_INTENT_LEN];
	size_t n, all;
	struct intent one;

	for (int i = 0; i < COFFRE_KEY_LEN; i++)
		key[i] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < COFFRE_ID_LEN; i++)
		uuid[i] = (uint8_t)(0x10 + i);
	if (intent_scan(key, uuid, G, data, size, in, CAP, &n) != 0) {
		if (n != 0)
			abort();
		return 0;
	}
	if (intent_scan(key, uuid, G, data, size, NULL, 0, &all) != 0 ||
	    all < n || (all > n && n != CAP))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (intent_write(key, uuid, G, (uint32_t)i, &in[i], rec) != 0 ||
		    memcmp(rec, data + i * V2_INTENT_LEN, V2_INTENT_LEN) != 0)
			abort();
	}
	if (all < CAP && (all + 1) * V2_INTENT_LEN <= size &&
	    intent_parse(key, uuid, G, (uint32_t)all, data + all * V2_INTENT_LEN,
			 V2_INTENT_LEN, &one) != -EBADMSG)
		abort();
	return 0;
}
