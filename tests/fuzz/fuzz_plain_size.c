/*
 * libFuzzer target for the file geometry: the first 8 input bytes, big
 * endian, are used both as a ciphertext size and as a plaintext size, for
 * every valid segment size.  plain_size() must either refuse a ciphertext
 * size or return the one plaintext size that cipher_size() maps back to it;
 * every storable plaintext size must come back from plain_size().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	memcpy(b, data, size < 8 ? size : 8);
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	for (uint32_t s = COFFRE_SEG_MIN; s <= COFFRE_SEG_MAX; s <<= 1) {
		uint64_t p = 0, c, back = 0;
		int r = plain_size(s, v, &p);

		if (r == 0) {
			if (cipher_size(s, p) != v || p > v)
				abort();
		} else if (r != -EBADMSG || p != 0) {
			abort();
		}
		c = cipher_size(s, v);
		if (c == UINT64_MAX)
			continue;
		if (c > (uint64_t)INT64_MAX || plain_size(s, c, &back) != 0 ||
		    back != v)
			abort();
		if (seg_count(s, v) == 0 ||
		    seg_offset(s, seg_count(s, v) - 1) >= c)
			abort();
	}
	return 0;
}
