/*
 * The bounded hash set of hset.h: linear probing over a power-of-two
 * table, deletion by backward shift (no tombstones), emptied when half
 * full.  Keys are XXH3-128 of a path (libxxhash): two distinct paths
 * sharing a key is a 2^-128 event per pair, which the callers accept.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "hset.h"

void hset_init(struct hset *s, size_t cap)
{
	size_t c = 16;

	while (c < cap)
		c *= 2;
	s->slot = NULL;
	s->cap = c;
	s->n = 0;
}

void hset_fini(struct hset *s)
{
	free(s->slot);
	s->slot = NULL;
	s->n = 0;
}

void hset_clear(struct hset *s)
{
	if (s->slot)
		memset(s->slot, 0, s->cap * sizeof(*s->slot));
	s->n = 0;
}

struct hkey hset_key(const char *path, size_t len)
{
	XXH128_hash_t h = XXH3_128bits(path, len);
	struct hkey k = { h.low64, h.high64 };

	if (!k.lo && !k.hi)
		k.lo = 1;
	return k;
}

static bool empty(const struct hslot *e)
{
	return !e->k.lo && !e->k.hi;
}

static bool same(struct hkey a, struct hkey b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

/* The slot holding k, or the empty slot where it would go. */
static size_t find(const struct hset *s, struct hkey k)
{
	size_t mask = s->cap - 1, i = (size_t)k.lo & mask;

	while (!empty(&s->slot[i]) && !same(s->slot[i].k, k))
		i = (i + 1) & mask;
	return i;
}

bool hset_get(const struct hset *s, struct hkey k, uint64_t *val)
{
	size_t i;

	if (!s->slot || !s->n)
		return false;
	i = find(s, k);
	if (empty(&s->slot[i]))
		return false;
	if (val)
		*val = s->slot[i].val;
	return true;
}

void hset_add_min(struct hset *s, struct hkey k, uint64_t val)
{
	size_t i;

	if (!s->slot && !(s->slot = calloc(s->cap, sizeof(*s->slot))))
		return;
	i = find(s, k);
	if (!empty(&s->slot[i])) {
		if (val < s->slot[i].val)
			s->slot[i].val = val;
		return;
	}
	if (s->n >= s->cap / 2) {
		hset_clear(s);
		i = find(s, k);
	}
	s->slot[i].k = k;
	s->slot[i].val = val;
	s->n++;
}

bool hset_del(struct hset *s, struct hkey k)
{
	size_t mask, i, j;

	if (!s->slot || !s->n)
		return false;
	mask = s->cap - 1;
	i = find(s, k);
	if (empty(&s->slot[i]))
		return false;
	/* Backward shift: pull each later member of the cluster into the
	 * hole unless its home lies cyclically in (hole, its slot]. */
	for (j = (i + 1) & mask; !empty(&s->slot[j]); j = (j + 1) & mask) {
		size_t home = (size_t)s->slot[j].k.lo & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slot[i] = s->slot[j];
			i = j;
		}
	}
	memset(&s->slot[i], 0, sizeof(s->slot[i]));
	s->n--;
	return true;
}
