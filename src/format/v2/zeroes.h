/*
 * Private to src/format/v2: runs of zero bytes, the reserved and padding
 * fields of version 2 structures (doc/FORMAT.md §0: writers zero every
 * reserved byte, readers check it), read and written through the cursor.
 */
#ifndef COFFRE_V2_ZEROES_H
#define COFFRE_V2_ZEROES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/format.h"

static inline bool v2_all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Read n bytes through the cursor and say whether they were all zero. */
static inline bool v2_rcur_zero(struct rcur *c, size_t n)
{
	uint8_t buf[256];
	bool zero = true;

	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		rcur_bytes(c, buf, k);
		zero = v2_all_zero(buf, k) && zero;
		n -= k;
	}
	return zero;
}

static inline void v2_wcur_zero(struct wcur *c, size_t n)
{
	static const uint8_t zero[256];

	while (n > 0) {
		size_t k = n < sizeof(zero) ? n : sizeof(zero);

		wcur_bytes(c, zero, k);
		n -= k;
	}
}

#endif
