/*
 * Format version 2 (doc/FORMAT.md): what every version 2 structure shares.
 * Generations, epochs and the legacy mark (§0, §4); error conventions are
 * those of coffre/format.h.  Nothing here writes or reads storage.
 */
#ifndef COFFRE_V2_COMMON_H
#define COFFRE_V2_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "coffre/format.h"

#define COFFRE_V2_VERSION 2

/* 1 <= gen < 2^39, so the top bit of an epoch is always clear (§0). */
#define V2_GEN_MAX ((UINT64_C(1) << 39) - 1)
#define V2_SEQ_BITS 24
#define V2_SEQ_MAX ((UINT32_C(1) << V2_SEQ_BITS) - 1)
/* Top bit of a map entry: a legacy (version 1) segment's tag mark (§4). */
#define V2_LEGACY_MARK (UINT64_C(1) << 63)

static inline bool v2_gen_valid(uint64_t gen)
{
	return gen >= 1 && gen <= V2_GEN_MAX;
}

/* epoch = gen << 24 | seq; the caller checks v2_gen_valid(gen). */
static inline uint64_t v2_epoch(uint64_t gen, uint32_t seq)
{
	return gen << V2_SEQ_BITS | (seq & V2_SEQ_MAX);
}

static inline uint64_t v2_epoch_gen(uint64_t epoch)
{
	return epoch >> V2_SEQ_BITS;
}

/* An epoch a writer may have issued: its generation valid (so >= 1). */
static inline bool v2_epoch_valid(uint64_t epoch)
{
	return v2_gen_valid(v2_epoch_gen(epoch));
}

/* A structure's magic and version byte: 0, -EPROTO for another magic, or
 * -EPROTONOSUPPORT for a version other than 2 (§0). */
static inline int v2_magic_check(const uint8_t magic[4], const char *want,
				 uint8_t version)
{
	if (memcmp(magic, want, 4) != 0)
		return -EPROTO;
	return version == COFFRE_V2_VERSION ? 0 : -EPROTONOSUPPORT;
}

#endif
