/*
 * hsmgen.c — the value of the HSM generation object `coffre-gen-<uuid>`
 * (doc/FORMAT.md §9.3): exactly 24 bytes, local_gen | bucket_gen |
 * reserved_gen, each u64be; and the field-wise maximum a reader takes over
 * the HSMs (and the objects of one token) that answer.
 *
 * What a correct writer can never store, and so is refused: a local_gen or
 * bucket_gen that is neither 0 (upgrade, reseed) nor a generation (§0); a
 * reserved_gen above the largest generation + S (it is s + S or g + S,
 * §9.3, §12.7); a local_gen or bucket_gen above reserved_gen (every
 * generation used is below it, or equal after `hsm reseed`).  These hold
 * for every value written and survive the field-wise maximum.  Nothing
 * here decides what a value means (rollback, reservation): src/hsm does.
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/records.h"

static bool gen_or_zero(uint64_t g)
{
	return g == 0 || v2_gen_valid(g);
}

bool hsmgen_valid(const struct hsmgen *g)
{
	return gen_or_zero(g->local_gen) && gen_or_zero(g->bucket_gen) &&
	       g->reserved_gen <= V2_HSMGEN_RESERVED_MAX &&
	       g->local_gen <= g->reserved_gen &&
	       g->bucket_gen <= g->reserved_gen;
}

int hsmgen_parse(const uint8_t *buf, size_t len, struct hsmgen *g)
{
	struct rcur c;

	memset(g, 0, sizeof(*g));
	if (len != V2_HSMGEN_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	g->local_gen = rcur_u64be(&c);
	g->bucket_gen = rcur_u64be(&c);
	g->reserved_gen = rcur_u64be(&c);
	if (!rcur_done(&c) || !hsmgen_valid(g)) {
		memset(g, 0, sizeof(*g));
		return -EINVAL;
	}
	return 0;
}

int hsmgen_write(const struct hsmgen *g, uint8_t out[V2_HSMGEN_LEN])
{
	struct wcur c;

	if (!hsmgen_valid(g)) {
		memset(out, 0, V2_HSMGEN_LEN);
		return -EINVAL;
	}
	wcur_init(&c, out, V2_HSMGEN_LEN);
	wcur_u64be(&c, g->local_gen);
	wcur_u64be(&c, g->bucket_gen);
	wcur_u64be(&c, g->reserved_gen);
	return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void hsmgen_max(struct hsmgen *acc, const struct hsmgen *g)
{
	acc->local_gen = max_u64(acc->local_gen, g->local_gen);
	acc->bucket_gen = max_u64(acc->bucket_gen, g->bucket_gen);
	acc->reserved_gen = max_u64(acc->reserved_gen, g->reserved_gen);
}
