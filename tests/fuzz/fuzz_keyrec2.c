/*
 * libFuzzer target for keyrec2_parse() (doc/FORMAT.md §9.1): never
 * crashes; whatever it accepts is written back byte for byte, and
 * keyrec2_aad() yields exactly the first 56 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyrec2 r;
	uint8_t out[V2_KEYREC_LEN], aad[V2_KEYREC_HDR_LEN];

	if (keyrec2_parse(data, size, &r) != 0)
		return 0;
	if (keyrec2_write(&r, out) != 0 || size != sizeof(out) ||
	    memcmp(out, data, size) != 0)
		abort();
	if (keyrec2_aad(&r, aad) != 0 || memcmp(aad, data, sizeof(aad)) != 0)
		abort();
	return 0;
}
