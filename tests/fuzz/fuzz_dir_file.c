/*
 * libFuzzer target for dir_file_parse(): never crashes, and whatever it
 * accepts is written back byte for byte by dir_file_write().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t id[COFFRE_ID_LEN], out[COFFRE_DIR_FILE_LEN];

	if (dir_file_parse(data, size, id) != 0)
		return 0;
	dir_file_write(id, out);
	if (size != sizeof(out) || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
