/*
 * state.c: the committed state T and the session's changes (doc/FORMAT.md
 * §12.5–§12.7): apply (deletes, then puts; replace), lookups and ranges
 * (a range keeps the state it started on), lookups through the session
 * (open, frozen, T), removals sorted and deduplicated, the early-commit
 * signal at E_s and the record bound, T's bound E_c (a fold first).
 */
#include "tfixture.h"

static struct fx f;
static struct table *t;

static void setup(void)
{
	fx_setup(&f);
	cr_assert_eq(table_load(f.mdir, &f.k, true, &t), 0);
	cr_assert_eq(table_session_start(t, 1), 0);
}

static void teardown(void)
{
	table_close(t);
	fx_teardown(&f);
}

TestSuite(state, .init = setup, .fini = teardown);

static void key(unsigned k, uint8_t out[V2_TKEY_LEN])
{
	struct tent e = fx_obj(k, 1);

	memcpy(out, e.b, V2_TKEY_LEN);
}

/* T's tag for k, 0 if absent. */
static unsigned get(unsigned k, bool live)
{
	uint8_t kb[V2_TKEY_LEN];
	struct tent e;
	int rc;

	key(k, kb);
	rc = live ? table_get_live(t, kb, &e) : table_get(t, kb, &e);
	if (rc == -ENOENT)
		return 0;
	cr_assert_eq(rc, 0);
	return fx_tag(&e);
}

static void put(unsigned k, unsigned tag)
{
	struct tent e = fx_obj(k, tag);

	cr_assert_geq(table_put(t, &e), 0);
}

static void del(unsigned k)
{
	uint8_t kb[V2_TKEY_LEN];

	key(k, kb);
	cr_assert_geq(table_del(t, kb), 0);
}

static void commit(uint16_t flags)
{
	uint64_t g;

	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_commit(t, flags), 0);
}

Test(state, apply_replace_delete_and_live_lookups)
{
	put(1, 10);
	put(2, 10);
	put(3, 10);
	put(2, 11);                     /* replaces the change to 2 */
	cr_assert_eq(get(2, true), 11);
	cr_assert_eq(get(2, false), 0, "not committed");
	commit(0);
	cr_assert_eq(get(1, false), 10);
	cr_assert_eq(get(2, false), 11);
	del(1);
	put(3, 12);
	put(4, 12);
	del(4);                         /* a put then a delete: a delete */
	del(99);                        /* deleting an absent key is harmless */
	cr_assert_eq(get(1, true), 0);
	cr_assert_eq(get(1, false), 10);
	uint64_t g;

	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_freeze(t, &g), -EBUSY);
	/* frozen, then a newer change in the open generation */
	put(3, 13);
	cr_assert_eq(get(3, true), 13, "open before frozen");
	cr_assert_eq(get(1, true), 0, "frozen before T");
	cr_assert_eq(get(2, true), 11, "T");
	cr_assert_eq(table_commit(t, 0), 0);
	cr_assert_eq(table_commit(t, 0), -ENOENT);
	cr_assert_eq(get(1, false), 0);
	cr_assert_eq(get(3, false), 12);
	cr_assert_eq(get(4, false), 0);
	cr_assert_eq(get(3, true), 13);
	commit(0);
	cr_assert_eq(get(3, false), 13);
	struct table_info i;

	table_info(t, &i);
	cr_assert_eq(i.entries, 2, "no level below: deletes leave nothing");
}

Test(state, ranges_keep_their_state)
{
	uint8_t from[V2_TKEY_LEN];
	struct tsrc *s;
	struct tent e;
	unsigned n = 0, want[] = { 5, 6, 8 };

	for (unsigned k = 1; k <= 8; k++)
		put(k, 20 + k);
	del(7);
	commit(0);
	key(5, from);
	cr_assert_eq(table_range(t, from, &s), 0);
	/* a commit while the range is read */
	del(6);
	put(9, 40);
	commit(0);
	while (tsrc_next(s, &e) == 1) {
		cr_assert_lt(n, 3);
		cr_assert_eq(fx_key_of(&e), want[n]);
		cr_assert_eq(fx_tag(&e), 20 + want[n]);
		n++;
	}
	cr_assert_eq(n, 3);
	tsrc_free(s);
	cr_assert_eq(table_range(t, NULL, &s), 0);
	n = 0;
	while (tsrc_next(s, &e) == 1)
		n++;
	cr_assert_eq(n, 7, "1-5, 8, 9");
	tsrc_free(s);
}

Test(state, removals_in_the_record)
{
	struct tlog_removal r[3];
	char name[V2_MANIFEST_NAME_MAX];
	struct tlog_view v;
	struct tlog_removal got;
	uint8_t *buf;
	size_t len;
	uint64_t g;

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++) {
		memset(r[i].parent, 1, 16);
		memset(r[i].name_id, 3 - i, 16);
		memset(r[i].object_id, 9, 16);
	}
	cr_assert_eq(table_remove(t, &r[0]), 0);
	cr_assert_eq(table_remove(t, &r[1]), 0);
	cr_assert_eq(table_remove(t, &r[0]), 0);
	cr_assert_eq(table_remove(t, &r[2]), 0);
	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_commit(t, 0), 0);
	fx_logname(g, name);
	buf = fx_read(&f, name, &len);
	cr_assert_eq(tlog_parse(fx_key, buf, len, &v), 0);
	cr_assert_eq(v.h.r, 3, "repeated removals once");
	cr_assert_eq(tlog_removal(&v, 0, &got), 0);
	cr_assert_eq(memcmp(&got, &r[2], sizeof(got)), 0, "sorted");
	free(buf);
}

Test(state, refused_changes)
{
	struct tent e = fx_obj(1, 1), tb;
	struct table *t2;
	uint8_t kb[V2_TKEY_LEN];

	tent_tombstone(e.b, &tb);
	cr_assert_eq(table_put(t, &tb), -EINVAL, "a put is never a tombstone");
	cr_assert_eq(table_del(t, tb.b), -EINVAL);
	e.b[48] = 0x80;                 /* OBJ.size > 2^63 - 1 */
	cr_assert_eq(table_put(t, &e), -EINVAL);
	cr_assert_eq(table_commit(t, 0x4), -EINVAL);
	cr_assert_eq(table_session_start(t, 9), -EBUSY);
	/* a second table object on the same directory, no session */
	cr_assert_eq(table_load(f.mdir, &f.k, false, &t2), 0);
	e = fx_obj(1, 1);
	key(1, kb);
	cr_assert_eq(table_put(t2, &e), -ENXIO);
	cr_assert_eq(table_del(t2, kb), -ENXIO);
	uint64_t g;

	cr_assert_eq(table_freeze(t2, &g), -ENXIO);
	cr_assert_eq(table_session_start(t2, 1), -EINVAL, "s > G");
	cr_assert_eq(table_session_start(t2, 3), -EINVAL, "past W = [2, 3]");
	cr_assert_eq(table_session_start(t2, 4), 0);
	table_close(t2);
	/* t's own next start record would collide: log.4 exists */
	cr_assert(fx_exists(&f, "log.4"));
}

/* E_s: the change that reaches 65,536 says an early commit is due;
 * replacing changes counts nothing; past the record bound: -ENOSPC. */
Test(state, early_commit_signal_and_record_bound)
{
	struct table_info i;

	for (unsigned k = 0; k < TABLE_E_S - 1; k++) {
		struct tent e = fx_obj(k, 2);

		cr_assert_eq(table_put(t, &e), 0, "change %u", k);
	}
	struct tent e = fx_obj(5, 3);

	cr_assert_eq(table_put(t, &e), 0, "a replacement is not a change");
	e = fx_obj(TABLE_E_S - 1, 2);
	cr_assert_eq(table_put(t, &e), 1, "the 65,536th");
	for (unsigned k = TABLE_E_S; k < V2_TLOG_MAX_PQ; k++) {
		e = fx_obj(k, 2);
		cr_assert_eq(table_put(t, &e), 1);
	}
	e = fx_obj(V2_TLOG_MAX_PQ, 2);
	cr_assert_eq(table_put(t, &e), -ENOSPC);
	e = fx_obj(7, 4);
	cr_assert_eq(table_put(t, &e), 1, "a replacement still fits");
	table_info(t, &i);
	cr_assert_eq(i.open_changes, V2_TLOG_MAX_PQ);
	cr_assert_eq(get(7, true), 4);
	cr_assert_eq(get(5, true), 3);
}

/* T never holds more than E_c entries: the commit that would pass it
 * folds first (into a base: there is none yet), then T's memory holds
 * that record alone. */
Test(state, memory_bound)
{
	struct table_info i;
	struct table *t2;

	for (unsigned k = 0; k < TABLE_E_C - 1; k++) {
		struct tent e = fx_obj(k, 2);

		cr_assert_geq(table_put(t, &e), 0);
	}
	commit(0);
	put(TABLE_E_C - 1, 2);
	commit(0);
	table_info(t, &i);
	cr_assert_eq(i.entries, TABLE_E_C);
	cr_assert_eq(i.base, 0);
	put(5, 9);                      /* a replacement fits */
	commit(0);
	put(TABLE_E_C, 2);              /* one more does not: a fold first */
	commit(0);
	table_info(t, &i);
	cr_assert_eq(i.folds_base, 1);
	cr_assert_neq(i.base, 0);
	cr_assert_eq(i.entries, 1, "the record alone");
	del(7);                         /* over a level: a tombstone */
	commit(0);
	table_info(t, &i);
	cr_assert_eq(i.entries, 2, "the put and a tombstone");
	cr_assert_leq(i.cache.bytes, i.cache.max_bytes);
	cr_assert_eq(get(TABLE_E_C, false), 2);
	cr_assert_eq(get(5, false), 9);
	cr_assert_eq(get(7, false), 0);
	cr_assert_eq(get(8, false), 2);
	/* on disk too */
	cr_assert_eq(table_load(f.mdir, &f.k, false, &t2), 0);
	table_info(t2, &i);
	cr_assert_eq(i.entries, 2);
	cr_assert_eq(i.records, 2);
	table_close(t2);
}
