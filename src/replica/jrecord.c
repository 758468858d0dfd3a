/*
 * One journal record (doc/FORMAT-v1.md §11 "Journal"): u16be(n) || path ||
 * u32be(low 32 bits of XXH3-64(path)), n in 1..4095, the path a valid
 * relative path.  Written by journal.c, parsed by the replay, the refill
 * and the rewrite; fuzzed by tests/fuzz/fuzz_journal.c.  libxxhash.
 */
#include <string.h>
#include <xxhash.h>

#include "replica_private.h"

static uint32_t check(const char *p, size_t n)
{
	return (uint32_t)XXH3_64bits(p, n);
}

void jrec_write(uint8_t *out, const char *path, size_t n)
{
	uint32_t c = check(path, n);

	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	memcpy(out + 2, path, n);
	out[n + 2] = (uint8_t)(c >> 24);
	out[n + 3] = (uint8_t)(c >> 16);
	out[n + 4] = (uint8_t)(c >> 8);
	out[n + 5] = (uint8_t)c;
}

int jrec_parse(const uint8_t *buf, size_t len, struct jrec *out)
{
	size_t n;
	uint32_t c;

	if (len < 2)
		return JREC_SHORT;
	n = (size_t)buf[0] << 8 | buf[1];
	if (n == 0 || n > COFFRE_REPLICA_PATH_MAX)
		return JREC_BAD;
	if (len - 2 < n + JREC_CHECK_LEN)
		return JREC_SHORT;
	c = (uint32_t)buf[n + 2] << 24 | (uint32_t)buf[n + 3] << 16 |
	    (uint32_t)buf[n + 4] << 8 | buf[n + 5];
	if (c != check((const char *)buf + 2, n) ||
	    replica_path_check((const char *)buf + 2, n) != 0)
		return JREC_BAD;
	memcpy(out->path, buf + 2, n);
	out->path[n] = '\0';
	out->len = n;
	out->size = JREC_SIZE(n);
	return JREC_OK;
}
