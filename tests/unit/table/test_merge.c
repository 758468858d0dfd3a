/*
 * merge.c: sources merged newest first (doc/FORMAT.md §12.5, §12.6):
 * equal keys across three and more sources, tombstones hidden or passed
 * on, a source going backwards or failing, and a seeded randomized
 * comparison with a model.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "coffre/table.h"

/* OBJ(id = k) with meta epoch (tag << 24 | 1): the value says who wrote it. */
static struct tent obj(unsigned k, unsigned tag)
{
	struct tentry e = { .kind = V2_TK_OBJ };
	struct tent t;

	e.u.obj.id[14] = (uint8_t)(k >> 8);
	e.u.obj.id[15] = (uint8_t)k;
	e.u.obj.meta_epoch = v2_epoch(tag, 1);
	cr_assert_eq(tent_from(&e, &t), 0);
	return t;
}

static struct tent tomb(unsigned k)
{
	struct tent a = obj(k, 1), t;

	tent_tombstone(a.b, &t);
	return t;
}

static unsigned key_of(const struct tent *t)
{
	return (unsigned)t->b[15] << 8 | t->b[16];
}

static unsigned tag_of(const struct tent *t)
{
	struct tentry e;

	cr_assert_eq(tent_to(t, &e), 0);
	return (unsigned)v2_epoch_gen(e.u.obj.meta_epoch);
}

static struct tsrc *arr(const struct tent *v, size_t n)
{
	struct tsrc *s;

	cr_assert_eq(tsrc_array(v, n, NULL, &s), 0);
	return s;
}

Test(merge, newest_wins_across_three)
{
	struct tent a[] = { obj(1, 10), tomb(3), obj(5, 10) };
	struct tent b[] = { obj(1, 20), obj(2, 20), obj(3, 20), obj(6, 20) };
	struct tent c[] = { obj(0, 30), obj(1, 30), obj(3, 30), obj(5, 30),
			    obj(6, 30), obj(7, 30) };
	struct tsrc *srcs[3], *m;
	struct tent e;
	/* expected (key, tag) with tombstones dropped */
	unsigned want[][2] = { { 0, 30 }, { 1, 10 }, { 2, 20 }, { 5, 10 },
			       { 6, 20 }, { 7, 30 } };
	size_t i = 0;

	srcs[0] = arr(a, 3);
	srcs[1] = arr(b, 4);
	srcs[2] = arr(c, 6);
	cr_assert_eq(tsrc_merge(srcs, 3, true, &m), 0);
	while (tsrc_next(m, &e) == 1) {
		cr_assert_lt(i, 6);
		cr_assert_not(tent_is_tombstone(&e));
		cr_assert_eq(key_of(&e), want[i][0]);
		cr_assert_eq(tag_of(&e), want[i][1], "key %u", want[i][0]);
		i++;
	}
	cr_assert_eq(i, 6);
	cr_assert_eq(tsrc_next(m, &e), 0, "the end stays the end");
	tsrc_free(m);

	/* passed on: the tombstone of 3 appears, in its place */
	srcs[0] = arr(a, 3);
	srcs[1] = arr(b, 4);
	srcs[2] = arr(c, 6);
	cr_assert_eq(tsrc_merge(srcs, 3, false, &m), 0);
	i = 0;
	while (tsrc_next(m, &e) == 1) {
		if (key_of(&e) == 3) {
			cr_assert(tent_is_tombstone(&e));
			cr_assert_eq(e.b[0], V2_TK_OBJ | V2_TOMBSTONE);
		}
		i++;
	}
	cr_assert_eq(i, 7);
	tsrc_free(m);
}

Test(merge, tombstone_in_older_source_is_hidden_by_newer_put)
{
	struct tent a[] = { obj(4, 10) };
	struct tent b[] = { tomb(4) };
	struct tent c[] = { obj(4, 30) };
	struct tsrc *srcs[3] = { arr(a, 1), arr(b, 1), arr(c, 1) }, *m;
	struct tent e;

	cr_assert_eq(tsrc_merge(srcs, 3, true, &m), 0);
	cr_assert_eq(tsrc_next(m, &e), 1);
	cr_assert_eq(tag_of(&e), 10);
	cr_assert_eq(tsrc_next(m, &e), 0);
	tsrc_free(m);
	/* the newest is a tombstone: nothing, however many older puts */
	srcs[0] = arr(b, 1);
	srcs[1] = arr(a, 1);
	srcs[2] = arr(c, 1);
	cr_assert_eq(tsrc_merge(srcs, 3, true, &m), 0);
	cr_assert_eq(tsrc_next(m, &e), 0);
	tsrc_free(m);
}

Test(merge, empty_and_none)
{
	struct tsrc *srcs[2] = { arr(NULL, 0), arr(NULL, 0) }, *m;
	struct tent e;

	cr_assert_eq(tsrc_merge(srcs, 2, true, &m), 0);
	cr_assert_eq(tsrc_next(m, &e), 0);
	tsrc_free(m);
	cr_assert_eq(tsrc_merge(NULL, 0, true, &m), 0);
	cr_assert_eq(tsrc_next(m, &e), 0);
	tsrc_free(m);
}

Test(merge, source_going_backwards_is_tamper)
{
	struct tent good[] = { obj(1, 10), obj(9, 10) };
	struct tent back[] = { obj(2, 20), obj(5, 20), obj(3, 20), obj(8, 20) };
	struct tent rep[] = { obj(2, 20), obj(2, 21) };
	struct tent first_bad[] = { obj(7, 20), obj(6, 20) };
	struct tsrc *srcs[2], *m;
	struct tent e;
	int rc, seen = 0;

	srcs[0] = arr(good, 2);
	srcs[1] = arr(back, 4);
	cr_assert_eq(tsrc_merge(srcs, 2, true, &m), 0);
	while ((rc = tsrc_next(m, &e)) == 1) {
		cr_assert_lt(key_of(&e), 5, "nothing past the fault");
		seen++;
	}
	cr_assert_eq(rc, -EIO);
	cr_assert_eq(tsrc_next(m, &e), -EIO, "sticky");
	tsrc_free(m);
	cr_assert_leq(seen, 2);

	srcs[0] = arr(rep, 2);
	srcs[1] = arr(good, 2);
	cr_assert_eq(tsrc_merge(srcs, 2, false, &m), 0);
	cr_assert_eq(tsrc_next(m, &e), 1);
	cr_assert_eq(tsrc_next(m, &e), -EIO, "a repeated key");
	tsrc_free(m);

	/* the entry before the fault is never given out */
	srcs[0] = arr(good, 2);
	srcs[1] = arr(first_bad, 2);
	cr_assert_eq(tsrc_merge(srcs, 2, true, &m), 0);
	cr_assert_eq(tsrc_next(m, &e), 1);
	cr_assert_eq(key_of(&e), 1);
	cr_assert_eq(tsrc_next(m, &e), -EIO);
	tsrc_free(m);
}

/* A source that fails after k entries. */
struct fail_src {
	struct tsrc s;
	unsigned i, k;
	int err;
};

static int fail_next(struct tsrc *s, struct tent *e)
{
	struct fail_src *f = (struct fail_src *)s;

	if (f->i == f->k)
		return f->err;
	*e = obj(100 + f->i++, 50);
	return 1;
}

static void fail_free(struct tsrc *s)
{
	free(s);
}

Test(merge, failing_source_propagates)
{
	struct fail_src *f = calloc(1, sizeof(*f));
	struct tent a[] = { obj(1, 10), obj(200, 10) };
	struct tsrc *srcs[2], *m;
	struct tent e;
	int rc, n = 0;

	f->s.next = fail_next;
	f->s.free = fail_free;
	f->k = 3;
	f->err = -EIO;
	srcs[0] = arr(a, 2);
	srcs[1] = &f->s;
	cr_assert_eq(tsrc_merge(srcs, 2, true, &m), 0);
	while ((rc = tsrc_next(m, &e)) == 1)
		n++;
	cr_assert_eq(rc, -EIO);
	cr_assert_eq(n, 3, "entry 1 and 100, 101 before the failure");
	tsrc_free(m);

	/* failing at once: the merge is refused, every source freed */
	f = calloc(1, sizeof(*f));
	f->s.next = fail_next;
	f->s.free = fail_free;
	f->err = -EIO;
	srcs[0] = arr(a, 2);
	srcs[1] = &f->s;
	cr_assert_eq(tsrc_merge(srcs, 2, true, &m), -EIO);
	cr_assert_null(m);
}

/* Seeded: 5 sources over 64 keys, each key in a source with probability
 * 1/3 as a put or (1/4 of those) a tombstone; compared with the model
 * "first source holding the key". */
Test(merge, randomized_against_model)
{
	enum { NS = 5, NK = 64, ROUNDS = 300 };

	srand(4242);
	for (int round = 0; round < ROUNDS; round++) {
		static struct tent v[NS][NK];
		size_t n[NS] = { 0 };
		int model[NK][2];      /* [key] = { source, tombstone } or -1 */
		struct tsrc *srcs[NS], *m;
		bool drop = round & 1;
		struct tent e;
		int rc;
		unsigned next_key = 0;

		for (unsigned k = 0; k < NK; k++) {
			model[k][0] = -1;
			for (int s = 0; s < NS; s++) {
				if (rand() % 3)
					continue;
				bool t = rand() % 4 == 0;

				v[s][n[s]++] = t ? tomb(k) : obj(k, 10 + s);
				if (model[k][0] < 0) {
					model[k][0] = s;
					model[k][1] = t;
				}
			}
		}
		for (int s = 0; s < NS; s++)
			srcs[s] = arr(v[s], n[s]);
		cr_assert_eq(tsrc_merge(srcs, NS, drop, &m), 0);
		while ((rc = tsrc_next(m, &e)) == 1) {
			unsigned k = key_of(&e);

			/* every model key skipped was absent or hidden */
			for (; next_key < k; next_key++)
				cr_assert(model[next_key][0] < 0 ||
					  (drop && model[next_key][1]),
					  "round %d key %u missing", round, next_key);
			cr_assert_eq(next_key, k);
			cr_assert_geq(model[k][0], 0);
			cr_assert_eq(tent_is_tombstone(&e), model[k][1] != 0);
			if (!model[k][1])
				cr_assert_eq(tag_of(&e), 10u + model[k][0]);
			next_key++;
		}
		cr_assert_eq(rc, 0);
		for (; next_key < NK; next_key++)
			cr_assert(model[next_key][0] < 0 ||
				  (drop && model[next_key][1]));
		tsrc_free(m);
	}
}
