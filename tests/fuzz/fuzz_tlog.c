/*
 * libFuzzer target for tlog_parse() (doc/FORMAT.md §12.3) under a fixed
 * table key (make_seeds_v2_table.py's TKEY).  Mutations mostly fail the
 * MAC, so the first byte selects: 0 parse the rest as is, 1 first
 * recompute the MAC over the rest (when it is long enough), so that the
 * rules behind the MAC are reached.  Never crashes; whatever is accepted
 * decodes entry by entry and is written back byte for byte by tlog_write.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t key[COFFRE_KEY_LEN];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tentry *puts = NULL, *dels = NULL;
	struct tlog_removal *rems = NULL;
	struct tlog_view v;
	uint8_t *buf, *out;
	size_t len;

	if (size < 1 || data[0] > 1)
		return 0;
	for (int i = 0; i < COFFRE_KEY_LEN; i++)
		key[i] = (uint8_t)(0xc0 + i);
	len = size - 1;
	buf = malloc(len + 1);
	out = malloc(len + 1);
	if (!buf || !out)
		abort();
	memcpy(buf, data + 1, len);
	if (data[0] == 1 && len >= COFFRE_MAC_LEN &&
	    hmac_sha256(key, sizeof(key), buf, len - COFFRE_MAC_LEN,
			buf + len - COFFRE_MAC_LEN) != 0)
		abort();
	if (tlog_parse(key, buf, len, &v) != 0)
		goto out;
	puts = calloc(v.h.p + 1, sizeof(*puts));
	dels = calloc(v.h.q + 1, sizeof(*dels));
	rems = calloc(v.h.r + 1, sizeof(*rems));
	if (!puts || !dels || !rems)
		abort();
	for (uint32_t i = 0; i < v.h.p; i++)
		if (tlog_put(&v, i, &puts[i]) != 0 || puts[i].tombstone)
			abort();
	for (uint32_t i = 0; i < v.h.q; i++)
		if (tlog_del(&v, i, &dels[i]) != 0)
			abort();
	for (uint32_t i = 0; i < v.h.r; i++)
		if (tlog_removal(&v, i, &rems[i]) != 0)
			abort();
	if (tlog_put(&v, v.h.p, &puts[v.h.p]) == 0 ||
	    tlog_del(&v, v.h.q, &dels[v.h.q]) == 0 ||
	    tlog_removal(&v, v.h.r, &rems[v.h.r]) == 0)
		abort();
	if (tlog_write(key, &v.h, puts, dels, rems, out, len) != (int)len ||
	    memcmp(out, buf, len) != 0)
		abort();
out:
	free(puts);
	free(dels);
	free(rems);
	free(buf);
	free(out);
	return 0;
}
