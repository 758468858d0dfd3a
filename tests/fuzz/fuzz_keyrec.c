/*
 * libFuzzer target for keyrec_parse(): never crashes; whatever it accepts
 * is written back byte for byte by keyrec_write(), and keyrec_aad() yields
 * exactly the first 48 bytes of the record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct key_record r;
	uint8_t out[COFFRE_KEYREC_LEN], aad[COFFRE_KEYREC_HDR_LEN];

	if (keyrec_parse(data, size, &r) != 0)
		return 0;
	keyrec_write(&r, out);
	if (size != sizeof(out) || memcmp(out, data, size) != 0)
		abort();
	keyrec_aad(&r, aad);
	if (memcmp(aad, data, sizeof(aad)) != 0)
		abort();
	return 0;
}
