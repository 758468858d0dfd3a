/*
 * libFuzzer target for the replica journal's record parser (jrec_parse,
 * src/replica/jrecord.c), walked as the replay, the refill and the
 * rewrite walk it: record after record until one is short or bad.  Never
 * crashes; whatever it accepts is a valid relative path inside the input,
 * is written back byte for byte by jrec_write(), and is short (not bad)
 * when cut by one byte.  Seeds in corpus/journal: records written by
 * jrec_write (one, several, the longest path the target's -max_len
 * allows), a torn tail, a bad check, a bad path, a zero length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jrec j, k;
	static uint8_t out[JREC_MAX];
	size_t pos = 0;

	while (pos < size) {
		int rc = jrec_parse(data + pos, size - pos, &j);

		if (rc == JREC_SHORT || rc == JREC_BAD)
			break;
		if (rc != JREC_OK || j.size != JREC_SIZE(j.len) || j.size > size - pos ||
		    j.len != strlen(j.path) || replica_path_check(j.path, j.len) != 0)
			abort();
		jrec_write(out, j.path, j.len);
		if (memcmp(out, data + pos, j.size) != 0)
			abort();
		if (jrec_parse(data + pos, j.size - 1, &k) != JREC_SHORT)
			abort();
		pos += j.size;
	}
	return 0;
}
