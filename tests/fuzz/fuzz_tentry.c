/*
 * libFuzzer target for tentry_parse() and tentry_key_parse() (doc/FORMAT.md
 * §12.1): never crashes; whatever either accepts is written back byte for
 * byte (canonical form), and an accepted entry's key parses alone unless
 * it is a tombstone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tentry e, k;
	uint8_t out[V2_TENTRY_LEN], key[V2_TKEY_LEN];

	if (tentry_key_parse(data, size, &k) == 0) {
		if (tentry_key_write(&k, key) != 0 || memcmp(key, data, size) != 0)
			abort();
	}
	if (tentry_parse(data, size, &e) != 0)
		return 0;
	if (size != sizeof(out) || tentry_write(&e, out) != 0 ||
	    memcmp(out, data, size) != 0)
		abort();
	if (tentry_key_parse(data, V2_TKEY_LEN, &k) != (e.tombstone ? -EINVAL : 0))
		abort();
	if (tkey_cmp(data, out) != 0)
		abort();
	return 0;
}
