/*
 * libFuzzer target for bucket_marker_parse() (src/replica/marker.c, the
 * bucket's .coffre-bucket marker): never crashes, and whatever it accepts
 * is written back byte for byte by bucket_marker_write().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/replica.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t uuid[COFFRE_ID_LEN], out[COFFRE_BUCKET_MARKER_LEN];

	if (bucket_marker_parse(data, size, uuid) != 0)
		return 0;
	bucket_marker_write(uuid, out);
	if (size != sizeof(out) || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
