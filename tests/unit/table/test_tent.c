/*
 * tent.c: raw entries ordered by key with the tombstone bit cleared,
 * ranges by kind and prefix, and the array source's start at a key.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "coffre/table.h"

static struct tent name_entry(uint8_t parent, uint8_t name)
{
	struct tentry e = { .kind = V2_TK_NAME };
	struct tent t;

	memset(e.u.name.parent, parent, COFFRE_ID_LEN);
	memset(e.u.name.name_id, name, COFFRE_ID_LEN);
	memset(e.u.name.object_id, 0x77, COFFRE_ID_LEN);
	e.u.name.type = 1;
	cr_assert_eq(tent_from(&e, &t), 0);
	return t;
}

Test(tent, order_and_tombstones)
{
	struct tent a = name_entry(1, 1), b = name_entry(1, 2), c = name_entry(2, 0);
	struct tent ta;
	struct tentry d;

	cr_assert_lt(tent_cmp(&a, &b), 0);
	cr_assert_lt(tent_cmp(&b, &c), 0);
	cr_assert_gt(tent_cmp(&c, &a), 0);
	tent_tombstone(a.b, &ta);
	cr_assert(tent_is_tombstone(&ta));
	cr_assert_not(tent_is_tombstone(&a));
	cr_assert_eq(tent_cmp(&ta, &a), 0, "a tombstone orders as its key");
	cr_assert(memcmp(ta.b + V2_TKEY_LEN, (uint8_t[40]){ 0 }, 40) == 0);
	cr_assert_eq(tent_to(&ta, &d), 0);
	cr_assert(d.tombstone);
	cr_assert_eq(tent_to(&a, &d), 0);
	cr_assert_eq(d.u.name.type, 1);
	/* An entry that breaks a rule is neither written nor read. */
	a.b[79] = 1;
	cr_assert_neq(tent_to(&a, &d), 0);
}

Test(tent, ranges)
{
	uint8_t parent[COFFRE_ID_LEN], from[V2_TKEY_LEN];
	struct tent v[4] = { name_entry(1, 9), name_entry(2, 1), name_entry(2, 5),
			     name_entry(3, 0) };
	struct tent e;
	struct tsrc *s;
	int n = 0;

	memset(parent, 2, sizeof(parent));
	tent_range_start(V2_TK_NAME, parent, sizeof(parent), from);
	cr_assert_eq(tsrc_array(v, 4, from, &s), 0);
	while (tsrc_next(s, &e) == 1 && tent_in_range(&e, V2_TK_NAME, parent,
						      sizeof(parent)))
		n++;
	tsrc_free(s);
	cr_assert_eq(n, 2, "the listing of directory 2");
	cr_assert_not(tent_in_range(&v[0], V2_TK_OBJ, NULL, 0));
	cr_assert(tent_in_range(&v[0], V2_TK_NAME, NULL, 0));
	/* From past the end, and from NULL (the start). */
	memset(parent, 9, sizeof(parent));
	tent_range_start(V2_TK_NAME, parent, sizeof(parent), from);
	cr_assert_eq(tsrc_array(v, 4, from, &s), 0);
	cr_assert_eq(tsrc_next(s, &e), 0);
	tsrc_free(s);
	cr_assert_eq(tsrc_array(v, 4, NULL, &s), 0);
	cr_assert_eq(tsrc_next(s, &e), 1);
	cr_assert_eq(tent_cmp(&e, &v[0]), 0);
	tsrc_free(s);
}
