/*
 * libFuzzer target for file_header_parse(): never crashes, and whatever it
 * accepts is written back byte for byte by file_header_write().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct file_header h, again;
	uint8_t out[COFFRE_FILE_HEADER_LEN];

	if (file_header_parse(data, size, &h) != 0)
		return 0;
	file_header_write(&h, out);
	if (size != sizeof(out) || memcmp(out, data, size) != 0)
		abort();
	if (file_header_parse(out, sizeof(out), &again) != 0 ||
	    memcmp(&again, &h, sizeof(h)) != 0)
		abort();
	return 0;
}
