/*
 * libFuzzer target for escrow_parse(): never crashes; whatever it accepts
 * is written back byte for byte by escrow_write(), and escrow_aad() yields
 * exactly the first 36 bytes of the blob.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct escrow_blob e;
	uint8_t out[COFFRE_ESCROW_LEN], aad[COFFRE_ESCROW_HDR_LEN];

	if (escrow_parse(data, size, &e) != 0)
		return 0;
	escrow_write(&e, out);
	if (size != sizeof(out) || memcmp(out, data, size) != 0)
		abort();
	escrow_aad(&e, aad);
	if (memcmp(aad, data, sizeof(aad)) != 0)
		abort();
	return 0;
}
