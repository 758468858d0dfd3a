/*
 * libFuzzer target for obj_header_parse() and obj_region_parse() (doc/
 * FORMAT.md §2.1, §2.2, §4): never crashes; whatever either accepts is
 * written back byte for byte (canonical form), and a region's header is
 * its first 64 bytes, parsed alike.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct obj_header h, again;
	struct obj_region r;
	uint8_t out[V2_REGION_LEN];

	if (obj_header_parse(data, size, &h) == 0) {
		obj_header_write(&h, out);
		if (size != V2_OBJ_HEADER_LEN || memcmp(out, data, size) != 0)
			abort();
	}
	if (obj_region_parse(data, size, &r) == 0) {
		if (obj_region_write(&r, out, size) != 0 ||
		    memcmp(out, data, size) != 0 ||
		    memcmp(r.header, data, V2_OBJ_HEADER_LEN) != 0 ||
		    obj_header_parse(data, V2_OBJ_HEADER_LEN, &again) != 0 ||
		    memcmp(&again, &r.h, sizeof(again)) != 0)
			abort();
	}
	(void)obj_is_legacy_file(data, size);
	return 0;
}
