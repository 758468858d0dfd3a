/*
 * libFuzzer target for hsmgen_parse() (doc/FORMAT.md §9.3): never crashes;
 * an accepted value is written back byte for byte, and the field-wise
 * maximum of two accepted values (the input's halves, when it holds 48
 * bytes) is accepted by the writer too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsmgen a, b;
	uint8_t out[V2_HSMGEN_LEN];

	if (size == 2 * V2_HSMGEN_LEN) {
		if (hsmgen_parse(data, V2_HSMGEN_LEN, &a) == 0 &&
		    hsmgen_parse(data + V2_HSMGEN_LEN, V2_HSMGEN_LEN, &b) == 0) {
			hsmgen_max(&a, &b);
			if (hsmgen_write(&a, out) != 0 || a.local_gen < b.local_gen ||
			    a.bucket_gen < b.bucket_gen ||
			    a.reserved_gen < b.reserved_gen)
				abort();
		}
		return 0;
	}
	if (hsmgen_parse(data, size, &a) != 0)
		return 0;
	if (hsmgen_write(&a, out) != 0 || size != sizeof(out) ||
	    memcmp(out, data, size) != 0)
		abort();
	return 0;
}
