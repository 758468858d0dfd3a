/*
 * libFuzzer target for dirfile2_parse() and dirfile2_meta() (doc/
 * FORMAT.md §6), the slots under the fixed dir meta key of
 * tests/fuzz/make_seeds_v2_object.py.  Never crashes; what parses is
 * written back byte for byte; a root's current meta has a zero binding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[COFFRE_KEY_LEN], out[V2_DIR_FILE_LEN];
	struct meta_record m;
	struct dirfile2 d;
	uint64_t epoch;
	bool stale;

	for (int i = 0; i < COFFRE_KEY_LEN; i++)
		key[i] = (uint8_t)(0x40 + i);
	if (dirfile2_parse(data, size, &d) != 0)
		return 0;
	dirfile2_write(&d, out);
	if (size != sizeof(out) || memcmp(out, data, size) != 0)
		abort();
	(void)dirfile2_meta(key, &d, false, &epoch, &m, &stale);
	if (dirfile2_meta(key, &d, true, &epoch, &m, &stale) >= 0 &&
	    (!meta_binding_is_zero(&m) || m.rdev_major || m.rdev_minor))
		abort();
	return 0;
}
