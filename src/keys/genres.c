/*
 * genres.c — a session's generation reservation (doc/FORMAT.md §9.3
 * "Reservation", §12.7, §14.2 step 5, §14.4), as a state machine the
 * commit thread drives.  Pure: no HSM, no clock; the caller writes the
 * generation object (genobj.c) and reports what it wrote.
 *
 *  - start: s = max(G_c + 3, R); nothing is used until reserved_gen = s + S
 *    is held by every member up (genres_reserved), then s is open (the
 *    start record's generation).
 *  - each freeze opens the next generation, only below the reservation;
 *    the last reserved one (reserved_gen − 1) opens read-only: operations
 *    that change the volume fail with EROFS, and it stays empty for the
 *    clean record of an unmount.  Past it nothing opens.
 *  - from open generation g = reserved_gen − S/2 on, a raise to g + S is
 *    due at every commit until one succeeds.
 */
#include <errno.h>
#include <string.h>

#include "coffre/keys.h"
#include "coffre/v2/records.h"

#define S ((uint64_t)V2_HSMGEN_STEP)

int genres_start(struct genres *r, uint64_t committed, uint64_t hsm_reserved,
		 uint64_t *reservation)
{
	uint64_t s;

	memset(r, 0, sizeof(*r));
	*reservation = 0;
	if (committed > V2_GEN_MAX || hsm_reserved > V2_HSMGEN_RESERVED_MAX)
		return -EINVAL;
	s = committed + 3 > hsm_reserved ? committed + 3 : hsm_reserved;
	if (!v2_gen_valid(s))
		return -EOVERFLOW;
	r->start = s;
	*reservation = s + S;
	return 0;
}

void genres_reserved(struct genres *r, uint64_t reserved_gen)
{
	if (reserved_gen <= r->reserved)
		return;
	if (r->open == 0) {
		/* Only the start's own reservation (or more) opens s. */
		if (reserved_gen < r->start + S)
			return;
		r->open = r->start;
	}
	r->reserved = reserved_gen;
}

uint64_t genres_raise_due(const struct genres *r)
{
	if (r->start == 0)
		return 0;
	if (r->open == 0)
		return r->start + S;
	if (r->open >= r->reserved - S / 2)
		return r->open + S;
	return 0;
}

int genres_advance(struct genres *r)
{
	uint64_t next = r->open + 1;

	if (r->open == 0)
		return -EROFS;
	if (!v2_gen_valid(next))
		return -EOVERFLOW;
	if (next >= r->reserved)
		return -EROFS;
	r->open = next;
	return next == r->reserved - 1 ? 1 : 0;
}

bool genres_writable(const struct genres *r)
{
	return r->open != 0 && r->open + 1 < r->reserved;
}
