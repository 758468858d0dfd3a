/*
 * Helpers shared by the version table's structures (doc/FORMAT.md
 * §12.1–§12.4) in src/format/v2: the residue window rule.
 * Private to src/format/v2 (and its white-box tests).
 */
#ifndef COFFRE_V2_TABLE_PRIV_H
#define COFFRE_V2_TABLE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/v2/table.h"

/*
 * The residue window carried by a level or record of generation gen
 * (§12.7): none (both 0), or lo <= hi, both valid generations, below gen
 * (the window holds generations of a session that ended before the one
 * that wrote the record started).
 */
static inline bool v2t_residue_valid(uint64_t lo, uint64_t hi, uint64_t gen)
{
	if (lo == 0 && hi == 0)
		return true;
	return v2_gen_valid(lo) && v2_gen_valid(hi) && lo <= hi && hi < gen;
}

#endif
