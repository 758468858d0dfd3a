/*
 * libFuzzer target for plain2_size() (doc/FORMAT.md §3.1): input =
 * seg_size u32be || ciphertext size u64be.  Every accepted size maps back
 * exactly through cipher2_size(), and its last segment ends the file.
 */
#include <stdint.h>
#include <stdlib.h>

#include "coffre/v2/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t csize = 0, plain, n, last;
	uint32_t seg = 0;

	if (size != 12)
		return 0;
	for (int i = 0; i < 4; i++)
		seg = seg << 8 | data[i];
	for (int i = 4; i < 12; i++)
		csize = csize << 8 | data[i];
	if (plain2_size(seg, csize, &plain) != 0)
		return 0;
	if (cipher2_size(seg, plain) != csize)
		abort();
	n = seg_count(seg, plain);
	last = plain - (n - 1) * seg;
	if (last > seg || (plain > 0 && last == 0) ||
	    seg2_offset(seg, n - 1) + last + V2_SEG_OVERHEAD != csize)
		abort();
	return 0;
}
