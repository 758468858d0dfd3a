/*
 * decimal.h — canonical decimal numbers of format version 2 (doc/FORMAT.md
 * §0: no sign, no leading zero), shared by names.c and volume.c.  Private
 * to src/format/v2.
 */
#ifndef COFFRE_FORMAT_V2_DECIMAL_H
#define COFFRE_FORMAT_V2_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* s[0..len) is canonical decimal in [min, max] (max < 10^19); -EINVAL. */
int v2_dec_parse(const char *s, size_t len, uint64_t min, uint64_t max,
		 uint64_t *out);

#endif
