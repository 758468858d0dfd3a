/*
 * chain.c: loading (doc/FORMAT.md §12.5): the listing, the choice of base
 * and delta as a pure function, the window W (§12.7), and records on
 * disk: every kind of tamper (a flipped byte in each part, cut, extended,
 * deleted, reordered, replayed from another generation or volume, a
 * foreign name, a FIFO, symlink or directory at log.N) refused with -EIO,
 * crashes (last record gone, an unrenamed temp) read as the commit before.
 */
#include "tfixture.h"

/* ---- the pure choice */

struct dmap {
	uint64_t gen;
	struct tdelta_base b;
};
struct dctx {
	const struct dmap *m;
	size_t n;
	uint64_t asked[8];
	size_t nasked;
};

static int dfn(void *arg, uint64_t g, struct tdelta_base *b)
{
	struct dctx *c = arg;

	c->asked[c->nasked++] = g;
	for (size_t i = 0; i < c->n; i++)
		if (c->m[i].gen == g) {
			*b = c->m[i].b;
			return 0;
		}
	return -ENOENT;
}

static struct tlist mklist(uint64_t *bases, size_t nb, uint64_t *deltas,
			   size_t nd)
{
	struct tlist l;

	memset(&l, 0, sizeof(l));
	l.gens[N2_MF_BASE] = bases;
	l.n[N2_MF_BASE] = nb;
	l.gens[N2_MF_DELTA] = deltas;
	l.n[N2_MF_DELTA] = nd;
	return l;
}

Test(chain, choose_base_and_delta)
{
	uint8_t mac7[COFFRE_MAC_LEN], other[COFFRE_MAC_LEN];
	uint64_t bases[] = { 3, 7 }, deltas[] = { 5, 9, 12, 15 };
	struct dmap m[] = {
		{ 9, { 7, { 0 } } }, { 12, { 7, { 0 } } }, { 15, { 3, { 0 } } },
	};
	struct dctx c = { m, 3, { 0 }, 0 };
	struct tlist l = mklist(bases, 2, deltas, 4);
	struct tchoice ch;

	memset(mac7, 7, sizeof(mac7));
	memset(other, 8, sizeof(other));
	memcpy(m[0].b.mac, mac7, sizeof(mac7));
	memcpy(m[1].b.mac, mac7, sizeof(mac7));
	cr_assert_eq(tchain_choose(&l, mac7, dfn, &c, &ch), 0);
	cr_assert_eq(ch.base, 7);
	cr_assert_eq(ch.delta, 12, "the highest naming the base; 15 names base 3");
	for (size_t i = 0; i < c.nasked; i++)
		cr_assert_gt(c.asked[i], 7, "delta 5 is a leftover, never read");

	/* 12 names base 7 by another MAC: tamper */
	memcpy(m[1].b.mac, other, sizeof(other));
	c.nasked = 0;
	cr_assert_eq(tchain_choose(&l, mac7, dfn, &c, &ch), -EIO);
	/* 12 names base 8, newer than any base present: tamper */
	m[1].b.gen = 8;
	memcpy(m[1].b.mac, mac7, sizeof(mac7));
	c.nasked = 0;
	cr_assert_eq(tchain_choose(&l, mac7, dfn, &c, &ch), -EIO);
	/* every delta names an older base: base alone */
	m[0].b.gen = m[1].b.gen = 3;
	c.nasked = 0;
	cr_assert_eq(tchain_choose(&l, mac7, dfn, &c, &ch), 0);
	cr_assert_eq(ch.base, 7);
	cr_assert_eq(ch.delta, 0);
	/* the callback's error is passed on */
	l = mklist(bases, 2, (uint64_t[]){ 20 }, 1);
	c.nasked = 0;
	cr_assert_eq(tchain_choose(&l, mac7, dfn, &c, &ch), -ENOENT);
	/* no base: no delta either */
	l = mklist(NULL, 0, deltas, 1);
	cr_assert_eq(tchain_choose(&l, NULL, NULL, NULL, &ch), -EIO);
	l = mklist(NULL, 0, NULL, 0);
	cr_assert_eq(tchain_choose(&l, NULL, NULL, NULL, &ch), 0);
	cr_assert_eq(ch.base + ch.delta, 0);
}

Test(chain, window)
{
	struct twindow w;

	cr_assert_eq(twindow_compute(10, true, false, 0, 0, &w), 0);
	cr_assert_eq(w.lo, 0, "clean, nothing carried: none");
	cr_assert_eq(twindow_compute(10, true, false, 4, 5, &w), 0);
	cr_assert(w.lo == 4 && w.hi == 5, "clean, an open walk: carried");
	cr_assert_eq(twindow_compute(10, true, true, 4, 5, &w), 0);
	cr_assert_eq(w.lo, 0, "clean, closed: none");
	cr_assert_eq(twindow_compute(10, false, false, 0, 0, &w), 0);
	cr_assert(w.lo == 11 && w.hi == 12);
	cr_assert_eq(twindow_compute(10, false, false, 4, 5, &w), 0);
	cr_assert(w.lo == 4 && w.hi == 12, "merged with the carried window");
	cr_assert_eq(twindow_compute(10, false, true, 4, 5, &w), 0);
	cr_assert(w.lo == 11 && w.hi == 12, "closed: only the new one");
	cr_assert_eq(twindow_compute(0, false, false, 0, 0, &w), 0);
	cr_assert_eq(w.lo, 0, "an empty table has no window");
	cr_assert_eq(twindow_compute(V2_GEN_MAX - 1, false, false, 0, 0, &w),
		     -EOVERFLOW);
}

/* ---- on disk */

static struct fx f;

static void setup(void)
{
	fx_setup(&f);
}

static void teardown(void)
{
	fx_teardown(&f);
}

/* log.1 (start), then log.2 .. log.<n+1>, each putting OBJ(g, g). */
static void build(unsigned n)
{
	struct table *t;

	cr_assert_eq(table_load(f.mdir, &f.k, true, &t), 0);
	cr_assert_eq(table_session_start(t, 1), 0);
	for (unsigned i = 0; i < n; i++) {
		uint64_t g;
		struct tent e = fx_obj(2 + i, 2 + i);

		cr_assert_geq(table_put(t, &e), 0);
		cr_assert_eq(table_freeze(t, &g), 0);
		cr_assert_eq(g, 2 + i);
		cr_assert_eq(table_commit(t, 0), 0);
	}
	table_close(t);
}

static int load(struct table_info *i)
{
	struct table *t;
	int rc = table_load(f.mdir, &f.k, false, &t);

	if (!rc) {
		table_info(t, i);
		table_close(t);
	}
	return rc;
}

TestSuite(load, .init = setup, .fini = teardown);

Test(load, empty_and_chain)
{
	struct table_info i;

	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.gen, 0);
	cr_assert_eq(i.window.lo, 0);
	build(5);
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.gen, 6);
	cr_assert_eq(i.records, 6);
	cr_assert_eq(i.entries, 5);
	cr_assert_eq(i.last_type, V2_TLOG_TYPE_COMMIT);
	cr_assert(i.window.lo == 7 && i.window.hi == 8, "not clean: [G+1, G+2]");
}

/* Flip one byte at each offset class of log.4 (header, uuid, gen, prev
 * MAC, counts, the put, the MAC): refused every time. */
Test(load, flipped_bytes)
{
	size_t offs[] = { 0, 4, 5, 6, 8, 24, 32, 40, 72, 88, 96, 100, 108,
			  128, 150, 207, 208, 239 };
	char name[V2_MANIFEST_NAME_MAX];
	struct table_info i;
	uint8_t *buf;
	size_t len;

	build(4);
	fx_logname(4, name);
	buf = fx_read(&f, name, &len);
	cr_assert_eq(len, 240);
	for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
		buf[offs[j]] ^= 0x10;
		fx_write(&f, name, buf, len);
		cr_assert_eq(load(&i), -EIO, "byte %zu", offs[j]);
		buf[offs[j]] ^= 0x10;
	}
	fx_write(&f, name, buf, len);
	cr_assert_eq(load(&i), 0);
	/* cut, extended */
	fx_write(&f, name, buf, len - 1);
	cr_assert_eq(load(&i), -EIO);
	buf[len] = 0;
	fx_write(&f, name, buf, len + 1);
	cr_assert_eq(load(&i), -EIO);
	fx_write(&f, name, buf, 0);
	cr_assert_eq(load(&i), -EIO);
	free(buf);
}

Test(load, oversized_record_not_read)
{
	char name[V2_MANIFEST_NAME_MAX];
	struct table_info i;
	int fd;

	build(2);
	fx_logname(9, name);
	fd = openat(f.mdir, name, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)V2_TLOG_MAX_LEN + 1), 0);
	close(fd);
	cr_assert_eq(load(&i), -EIO);
}

Test(load, deleted_middle_or_first_record)
{
	char name[V2_MANIFEST_NAME_MAX];
	struct table_info i;

	build(4);
	fx_logname(3, name);
	cr_assert_eq(unlinkat(f.mdir, name, 0), 0);
	cr_assert_eq(load(&i), -EIO, "a gap followed by more records");
	teardown();
	setup();
	build(4);
	fx_logname(1, name);
	cr_assert_eq(unlinkat(f.mdir, name, 0), 0);
	cr_assert_eq(load(&i), -EIO, "the first record must have prev gen 0");
}

Test(load, reordered_records)
{
	struct table_info i;

	build(5);
	cr_assert_eq(renameat(f.mdir, "log.5", f.mdir, "log.x"), 0);
	cr_assert_eq(renameat(f.mdir, "log.6", f.mdir, "log.5"), 0);
	cr_assert_eq(renameat(f.mdir, "log.x", f.mdir, "log.6"), 0);
	cr_assert_eq(load(&i), -EIO);
}

Test(load, replayed_records)
{
	struct tlog_header h;
	uint8_t mac[COFFRE_MAC_LEN], m2[COFFRE_MAC_LEN];
	struct table_info i;
	uint8_t *buf;
	size_t len;

	build(3);
	/* log.3 again as log.9: its gen is 3 */
	buf = fx_read(&f, "log.3", &len);
	fx_write(&f, "log.9", buf, len);
	free(buf);
	cr_assert_eq(load(&i), -EIO);
	cr_assert_eq(unlinkat(f.mdir, "log.9", 0), 0);
	cr_assert_eq(load(&i), 0);

	/* a record of another volume (same key) that chains: its uuid */
	h = fx_header(&f, 4, mac);
	memset(&h, 0, sizeof(h));
	h.type = V2_TLOG_TYPE_COMMIT;
	memset(h.uuid, 0x5a, sizeof(h.uuid));
	h.gen = 5;
	h.prev_gen = 4;
	memcpy(h.prev_mac, mac, sizeof(mac));
	fx_raw_record(&f, &h, 77, m2);
	cr_assert_eq(load(&i), -EIO);
	/* the same with this volume's uuid is accepted (the control) */
	memcpy(h.uuid, f.k.uuid, sizeof(h.uuid));
	fx_raw_record(&f, &h, 77, m2);
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.gen, 5);

	/* a record chaining to log.4 by gen but not by MAC */
	h.gen = 6;
	h.prev_gen = 5;
	memset(h.prev_mac, 1, sizeof(h.prev_mac));
	fx_raw_record(&f, &h, 78, m2);
	cr_assert_eq(load(&i), -EIO);
}

Test(load, foreign_names_and_types)
{
	char name[V2_MANIFEST_NAME_MAX];
	struct table_info i;
	uint8_t *buf;
	size_t len;

	build(3);
	fx_write(&f, "log.07", "x", 1);
	cr_assert_eq(load(&i), -EIO, "a non-canonical number");
	cr_assert_eq(unlinkat(f.mdir, "log.07", 0), 0);
	fx_write(&f, "README", "x", 1);
	cr_assert_eq(load(&i), -EIO);
	cr_assert_eq(unlinkat(f.mdir, "README", 0), 0);
	cr_assert_eq(load(&i), 0);

	/* a FIFO, a symlink (to a good record), a directory at log.4 */
	fx_logname(4, name);
	buf = fx_read(&f, name, &len);
	cr_assert_eq(unlinkat(f.mdir, name, 0), 0);
	fx_write(&f, ".coffre.tmp.keep", buf, len);
	cr_assert_eq(mkfifoat(f.mdir, name, 0600), 0);
	cr_assert_eq(load(&i), -EIO, "a FIFO, never opened");
	cr_assert_eq(unlinkat(f.mdir, name, 0), 0);
	cr_assert_eq(symlinkat(".coffre.tmp.keep", f.mdir, name), 0);
	cr_assert_eq(load(&i), -EIO, "a symlink, never followed");
	cr_assert_eq(unlinkat(f.mdir, name, 0), 0);
	cr_assert_eq(mkdirat(f.mdir, name, 0700), 0);
	cr_assert_eq(load(&i), -EIO, "a directory");
	cr_assert_eq(unlinkat(f.mdir, name, AT_REMOVEDIR), 0);
	fx_write(&f, name, buf, len);
	cr_assert_eq(load(&i), 0);
	free(buf);
}

Test(load, levels)
{
	struct table_info i;

	build(2);
	fx_write(&f, "delta.3", "x", 1);
	cr_assert_eq(load(&i), -EIO, "a delta without a base");
	cr_assert_eq(unlinkat(f.mdir, "delta.3", 0), 0);
	fx_write(&f, "base.3", "x", 1);
	cr_assert_eq(load(&i), -EIO, "a base that does not verify");
}

Test(load, crash_cases)
{
	struct table_info i;
	struct table *t;
	uint64_t g;

	build(3);
	/* the last record lost: the state is the one before */
	cr_assert_eq(unlinkat(f.mdir, "log.4", 0), 0);
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.gen, 3);
	cr_assert_eq(i.entries, 2);
	cr_assert(i.window.lo == 4 && i.window.hi == 5);
	/* a temp never renamed: not read; kept by a reader, removed by a
	 * writer */
	fx_write(&f, ".coffre.tmp.log.4", "garbage", 7);
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.gen, 3);
	cr_assert(fx_exists(&f, ".coffre.tmp.log.4"));
	cr_assert_eq(table_load(f.mdir, &f.k, true, &t), 0);
	cr_assert_not(fx_exists(&f, ".coffre.tmp.log.4"));
	/* the next session starts past the window, and carries it */
	cr_assert_eq(table_session_start(t, 5), -EINVAL);
	cr_assert_eq(table_session_start(t, 6), 0);
	cr_assert_eq(fx_header(&f, 6, NULL).residue_lo, 4);
	cr_assert_eq(fx_header(&f, 6, NULL).residue_hi, 5);
	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_commit(t, V2_TLOG_CLEAN), 0);
	table_close(t);
	/* clean, but the walk never closed the window: still W */
	cr_assert_eq(load(&i), 0);
	cr_assert(i.window.lo == 4 && i.window.hi == 5);
	cr_assert_eq(fx_header(&f, 7, NULL).flags, V2_TLOG_CLEAN);
	/* a crash in the next session, before it closed: merged */
	cr_assert_eq(table_load(f.mdir, &f.k, true, &t), 0);
	cr_assert_eq(table_session_start(t, 10), 0);
	table_close(t);
	cr_assert_eq(load(&i), 0);
	cr_assert(i.window.lo == 4 && i.window.hi == 12);
	/* closed by the walk, then unmounted: none */
	cr_assert_eq(table_load(f.mdir, &f.k, true, &t), 0);
	cr_assert_eq(table_session_start(t, 13), 0);
	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_commit(t, V2_TLOG_RESIDUE_CLOSED), 0);
	cr_assert_eq(fx_header(&f, 14, NULL).residue_lo, 4, "names what it closes");
	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_commit(t, V2_TLOG_CLEAN), 0);
	cr_assert_eq(fx_header(&f, 15, NULL).residue_lo, 0);
	table_close(t);
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.window.lo, 0);
}

Test(load, record_count_bound)
{
	struct tlog_header h;
	uint8_t mac[COFFRE_MAC_LEN], last[COFFRE_MAC_LEN];
	struct table_info i;
	struct table *t;
	struct tent e;
	uint8_t kb[V2_TKEY_LEN];

	memset(&h, 0, sizeof(h));
	memset(mac, 0, sizeof(mac));
	memcpy(h.uuid, f.k.uuid, sizeof(h.uuid));
	h.type = V2_TLOG_TYPE_COMMIT;
	for (unsigned g = 1; g <= TABLE_FOLD_RECORDS; g++) {
		h.gen = g;
		h.prev_gen = g - 1;
		memcpy(h.prev_mac, mac, sizeof(mac));
		fx_raw_record(&f, &h, g, mac);
	}
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.records, TABLE_FOLD_RECORDS);
	/* a 1,025th on disk is tamper (a writer folds before it) */
	h.gen = TABLE_FOLD_RECORDS + 1;
	h.prev_gen = TABLE_FOLD_RECORDS;
	memcpy(h.prev_mac, mac, sizeof(mac));
	fx_raw_record(&f, &h, 9999, last);
	cr_assert_eq(load(&i), -EIO);
	cr_assert_eq(unlinkat(f.mdir, "log.1025", 0), 0);
	/* the writer folds the 1,024 records into base.1024 first */
	cr_assert_eq(table_load(f.mdir, &f.k, true, &t), 0);
	cr_assert_eq(table_session_start(t, TABLE_FOLD_RECORDS + 3), 0);
	table_info(t, &i);
	cr_assert_eq(i.base, TABLE_FOLD_RECORDS);
	cr_assert_eq(i.records, 1);
	cr_assert_eq(i.folds_base, 1);
	table_close(t);
	cr_assert(fx_exists(&f, "base.1024"));
	cr_assert(fx_exists(&f, "log.1027"));
	cr_assert_not(fx_exists(&f, "log.1"));
	cr_assert_not(fx_exists(&f, "log.1024"));
	cr_assert_eq(fx_header(&f, 1027, NULL).prev_gen, TABLE_FOLD_RECORDS);
	cr_assert_eq(load(&i), 0);
	cr_assert_eq(i.gen, 1027);
	cr_assert_eq(table_load(f.mdir, &f.k, false, &t), 0);
	for (unsigned g = 1; g <= TABLE_FOLD_RECORDS; g++) {
		struct tent want = fx_obj(g, 1);

		memcpy(kb, want.b, V2_TKEY_LEN);
		cr_assert_eq(table_get(t, kb, &e), 0, "key %u", g);
		cr_assert_eq(memcmp(e.b, want.b, V2_TENTRY_LEN), 0);
	}
	table_close(t);
}
