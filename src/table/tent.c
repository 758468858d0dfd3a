/*
 * Raw version table entries (doc/FORMAT.md §12.1): the 80 bytes that
 * levels, records and memory hold, compared by key and converted to and
 * from struct tentry through src/format, which checks every rule.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/table.h"

int tent_cmp(const struct tent *a, const struct tent *b)
{
	return tkey_cmp(a->b, b->b);
}

int tent_from(const struct tentry *in, struct tent *out)
{
	return tentry_write(in, out->b);
}

int tent_to(const struct tent *in, struct tentry *out)
{
	return tentry_parse(in->b, sizeof(in->b), out);
}

void tent_tombstone(const uint8_t key[V2_TKEY_LEN], struct tent *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->b, key, V2_TKEY_LEN);
	out->b[0] |= V2_TOMBSTONE;
}

void tent_range_start(uint8_t kind, const void *prefix, size_t len,
		      uint8_t out[V2_TKEY_LEN])
{
	memset(out, 0, V2_TKEY_LEN);
	out[0] = kind;
	if (len > V2_TKEY_LEN - 1)
		len = V2_TKEY_LEN - 1;
	if (len)
		memcpy(out + 1, prefix, len);
}

bool tent_in_range(const struct tent *e, uint8_t kind, const void *prefix,
		   size_t len)
{
	if ((e->b[0] & (uint8_t)~V2_TOMBSTONE) != kind)
		return false;
	if (len > V2_TKEY_LEN - 1)
		len = V2_TKEY_LEN - 1;
	return len == 0 || memcmp(e->b + 1, prefix, len) == 0;
}

/* ---- a source over an array */

struct array_src {
	struct tsrc s;
	const struct tent *v;
	size_t n, i;
};

static int array_next(struct tsrc *s, struct tent *e)
{
	struct array_src *a = (struct array_src *)s;

	if (a->i == a->n)
		return 0;
	*e = a->v[a->i++];
	return 1;
}

static void array_free(struct tsrc *s)
{
	free(s);
}

int tsrc_array(const struct tent *v, size_t n, const uint8_t from[V2_TKEY_LEN],
	       struct tsrc **out)
{
	struct array_src *a = calloc(1, sizeof(*a));
	size_t lo = 0, hi = n;

	if (!a)
		return -ENOMEM;
	/* The first entry whose key is >= from. */
	while (from && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tkey_cmp(v[mid].b, from) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	a->s.next = array_next;
	a->s.free = array_free;
	a->v = v;
	a->n = n;
	a->i = lo;
	*out = &a->s;
	return 0;
}
