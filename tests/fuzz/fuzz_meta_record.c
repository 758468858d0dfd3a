/*
 * libFuzzer target for meta_record_parse() (doc/FORMAT.md §2.4): input =
 * kind u8 || record.  Never crashes; whatever it accepts is written back
 * byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_record m;
	uint8_t out[V2_META_REC_LEN];

	if (size < 1 || meta_record_parse(data + 1, size - 1, data[0], &m) != 0)
		return 0;
	meta_record_write(&m, out);
	if (size - 1 != sizeof(out) || memcmp(out, data + 1, sizeof(out)) != 0)
		abort();
	if (m.mode > V2_META_MODE_MAX || (m.flags & ~V2_META_LINK) != 0)
		abort();
	return 0;
}
