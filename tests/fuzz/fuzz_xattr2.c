/*
 * libFuzzer target for the user xattr blob (doc/FORMAT.md §8), under a
 * fixed key.  The first byte picks the mode: even, the rest is a blob for
 * xattr2_open(); odd, the rest is a plaintext, sealed first when
 * xattr2_list_parse() accepts it, so the codec is reached.  Never crashes;
 * an accepted plaintext re-encodes byte for byte from its iterated
 * attributes, every attribute is found by xattr2_list_find(), and a sealed
 * blob opens to the same plaintext and header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ATTRS 4096

static const uint8_t key[COFFRE_KEY_LEN] = {
	0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b,
	0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
	0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
};
static struct xattr2_attr attrs[MAX_ATTRS];

/* An accepted plaintext: iterate, look up, re-encode; abort on mismatch. */
static void check_list(const uint8_t *pt, size_t len, int count)
{
	struct xattr2_iter it;
	struct xattr2_attr f;
	uint8_t *again;
	int n = 0, r;

	if (xattr2_iter_init(&it, pt, len) != 0)
		abort();
	while ((r = xattr2_iter_next(&it, &attrs[n])) == 1) {
		if (++n > count || n > MAX_ATTRS)
			abort();
	}
	if (r != 0 || n != count)
		abort();
	for (int i = 0; i < n; i++)
		if (xattr2_list_find(pt, len, attrs[i].name, attrs[i].name_len,
				     &f) != 0 || f.value != attrs[i].value)
			abort();
	again = malloc(len ? len : 1);
	if (!again)
		return;
	if (xattr2_list_encode(attrs, (size_t)n, again, len) != (int)len ||
	    memcmp(again, pt, len) != 0)
		abort();
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xattr2_hdr h = { .epoch = (UINT64_C(5) << 24) | 7 }, h2;
	uint8_t *blob, *pt;
	int n, count;

	if (size < 1)
		return 0;
	data++;
	size--;
	if (!(data[-1] & 1)) {
		pt = malloc(size + 1);
		if (!pt)
			return 0;
		n = xattr2_open(key, data, size, &h2, pt, size + 1);
		if (n >= 0)
			check_list(pt, (size_t)n, xattr2_list_parse(pt, (size_t)n));
		free(pt);
		return 0;
	}
	count = xattr2_list_parse(data, size);
	if (count < 0)
		return 0;
	check_list(data, size, count);
	blob = malloc(size + V2_XATTR_OVERHEAD);
	pt = malloc(size + 1);
	if (blob && pt) {
		memset(h.object_id, 0xa5, sizeof(h.object_id));
		n = xattr2_seal(key, &h, data, size, blob, size + V2_XATTR_OVERHEAD);
		if (n != (int)(size + V2_XATTR_OVERHEAD) ||
		    xattr2_open(key, blob, (size_t)n, &h2, pt, size + 1) != (int)size ||
		    memcmp(pt, data, size) != 0 || memcmp(&h, &h2, sizeof(h)) != 0)
			abort();
	}
	free(blob);
	free(pt);
	return 0;
}
