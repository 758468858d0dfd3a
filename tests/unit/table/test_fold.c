/*
 * fold.c with chain.c and state.c: levels made by folds and loaded back
 * (doc/FORMAT.md §12.2, §12.5 step 2, §12.6).  A scripted history folds
 * into base.4, delta.8, delta.12 (replacing delta.8), then base.16; a
 * fold stopped at each of its steps past the link (a crash) reloads to
 * exactly the same state; tampered levels and chains are refused; stale
 * levels are leftovers, ignored and removed by a loader that writes.
 */
#include "tfixture.h"

enum { NK = 400 };

static struct fx f;
static struct table *t;
static unsigned T[NK];                  /* the model: tags, 0 absent */
static const struct table_params P = {
	.e_c = 1000,
	.fold_records = 4,
	.delta_ratio = 4,
	.cache_bytes = 256 << 10,
};
static unsigned crash_step = ~0u;

static int stop_at(unsigned step)
{
	return step == crash_step;
}

static void setup(void)
{
	fx_setup(&f);
	memset(T, 0, sizeof(T));
	table_test_fold_step = stop_at;
	t = NULL;
}

static void teardown(void)
{
	table_test_fold_step = NULL;
	table_close(t);
	fx_teardown(&f);
}

TestSuite(fold, .init = setup, .fini = teardown, .timeout = 120);

static void key(unsigned k, uint8_t out[V2_TKEY_LEN])
{
	struct tent e = fx_obj(k, 1);

	memcpy(out, e.b, V2_TKEY_LEN);
}

static int load_ro(struct table **out)
{
	return table_load_params(f.mdir, &f.k, false, &P, out);
}

/* Load (writing: leftovers removed) and start a session at G + 3. */
static void open_t(void)
{
	struct table_info i;

	cr_assert_eq(table_load_params(f.mdir, &f.k, true, &P, &t), 0);
	table_info(t, &i);
	cr_assert_eq(table_session_start(t, i.gen + 3 > 1 ? i.gen + 3 : 1), 0);
}

/* A commit putting keys [p, p + np) with tag and deleting [d, d + nd). */
static int commit(unsigned p, unsigned np, unsigned tag, unsigned d,
		  unsigned nd)
{
	uint64_t g;
	int rc;

	for (unsigned k = p; k < p + np; k++) {
		struct tent e = fx_obj(k, tag);

		cr_assert_geq(table_put(t, &e), 0);
	}
	for (unsigned k = d; k < d + nd; k++) {
		uint8_t kb[V2_TKEY_LEN];

		key(k, kb);
		cr_assert_geq(table_del(t, kb), 0);
	}
	cr_assert_eq(table_freeze(t, &g), 0);
	rc = table_commit(t, 0);
	if (rc == 0) {
		for (unsigned k = p; k < p + np; k++)
			T[k] = tag;
		for (unsigned k = d; k < d + nd; k++)
			T[k] = 0;
	}
	return rc;
}

/* T against the model, by lookups and by a full range. */
static void check(struct table *tt)
{
	unsigned next = 0;
	struct tsrc *s;
	struct tent e;
	int rc;

	for (unsigned k = 0; k < NK; k++) {
		uint8_t kb[V2_TKEY_LEN];

		key(k, kb);
		rc = table_get(tt, kb, &e);
		if (T[k]) {
			cr_assert_eq(rc, 0, "key %u", k);
			cr_assert_eq(fx_tag(&e), T[k], "key %u", k);
		} else {
			cr_assert_eq(rc, -ENOENT, "key %u", k);
		}
	}
	cr_assert_eq(table_range(tt, NULL, &s), 0);
	while ((rc = tsrc_next(s, &e)) == 1) {
		unsigned k = fx_key_of(&e);

		while (next < k)
			cr_assert_eq(T[next++], 0, "key %u", next - 1);
		cr_assert_eq(fx_tag(&e), T[k]);
		next++;
	}
	cr_assert_eq(rc, 0);
	while (next < NK)
		cr_assert_eq(T[next++], 0);
	tsrc_free(s);
}

/* The scripted history: log.1 the start, then log.2.. as below; with
 * fold_records 4: base.4 before log.5, delta.8 before 9, delta.12
 * (replacing delta.8) before 13, base.16 before 17 (the new delta would
 * pass N(base) / 4).  Each row: puts [p, p + np) with a tag, deletes
 * [d, d + nd). */
static const unsigned script[][5] = {
	{ 0, 200, 2, 0, 0 },    /* 2 */
	{ 200, 10, 3, 0, 0 },   /* 3 */
	{ 0, 0, 0, 0, 5 },      /* 4 */
	{ 5, 5, 5, 0, 0 },      /* 5: base.4 first */
	{ 10, 5, 6, 0, 0 },     /* 6 */
	{ 0, 0, 0, 15, 5 },     /* 7 */
	{ 300, 5, 8, 0, 0 },    /* 8 */
	{ 20, 5, 9, 0, 0 },     /* 9: delta.8 first */
	{ 30, 1, 10, 0, 0 },    /* 10 */
	{ 0, 0, 0, 31, 1 },     /* 11 */
	{ 32, 1, 12, 0, 0 },    /* 12 */
	{ 40, 1, 13, 0, 0 },    /* 13: delta.12 first */
	{ 320, 60, 14, 0, 0 },  /* 14 */
	{ 0, 0, 0, 50, 10 },    /* 15 */
	{ 60, 1, 16, 0, 0 },    /* 16 */
	{ 61, 1, 17, 0, 0 },    /* 17: base.16 first */
};

static int history_next(unsigned g)
{
	const unsigned *s = script[g - 2];

	return commit(s[0], s[1], s[2], s[3], s[4]);
}

/* A fresh table through log.<upto>. */
static int history(unsigned upto)
{
	int rc = 0;

	cr_assert_eq(table_load_params(f.mdir, &f.k, true, &P, &t), 0);
	cr_assert_eq(table_session_start(t, 1), 0);
	for (unsigned g = 2; g <= upto && !rc; g++)
		rc = history_next(g);
	return rc;
}

static void expect_files(const char *const *present, const char *const *absent)
{
	for (; *present; present++)
		cr_assert(fx_exists(&f, *present), "%s", *present);
	for (; *absent; absent++)
		cr_assert_not(fx_exists(&f, *absent), "%s", *absent);
}

Test(fold, scripted_levels)
{
	struct table_info i;
	struct table *r;

	cr_assert_eq(history(17), 0);
	table_info(t, &i);
	cr_assert_eq(i.folds_base, 2);
	cr_assert_eq(i.folds_delta, 2);
	cr_assert_eq(i.base, 16);
	cr_assert_eq(i.delta, 0);
	cr_assert_eq(i.records, 1);
	check(t);
	expect_files((const char *[]){ "base.16", "log.17", NULL },
		     (const char *[]){ "base.4", "delta.8", "delta.12", "log.16",
				       "log.13", NULL });
	table_close(t);
	t = NULL;
	cr_assert_eq(load_ro(&r), 0);
	table_info(r, &i);
	cr_assert_eq(i.gen, 17);
	cr_assert_eq(i.base, 16);
	check(r);
	table_close(r);

	/* the states in between, each loaded back */
	for (unsigned upto = 5; upto <= 16; upto++) {
		teardown();
		setup();
		cr_assert_eq(history(upto), 0);
		table_info(t, &i);
		cr_assert_eq(i.base, upto >= 5 ? 4u : 0u);
		cr_assert_eq(i.delta, upto >= 13 ? 12u : upto >= 9 ? 8u : 0u);
		cr_assert_leq(i.records, P.fold_records);
		check(t);
		cr_assert_eq(load_ro(&r), 0);
		check(r);
		table_close(r);
	}
}

/* The fold before log.<g> (g = 13: delta.12 replacing delta.8, or 17:
 * base.16 replacing base.4 and delta.12) stopped at each step: the
 * reloaded state is exactly the one before, G the folded record's, the
 * new level chosen, leftovers removed; and the history goes on. */
static void crash_each_step(unsigned g, const char *newlevel)
{
	unsigned stops = 0;

	for (unsigned step = 0;; step++) {
		unsigned before[NK];
		struct table_info i;
		struct table *r;
		int rc;

		teardown();
		setup();
		cr_assert_eq(history(g - 1), 0);
		memcpy(before, T, sizeof(T));
		/* and a temp of the level left by an earlier crash */
		fx_write(&f, ".coffre.tmp.delta.99", "x", 1);
		crash_step = step;
		rc = history_next(g);
		crash_step = ~0u;
		if (rc == 0)
			break;
		cr_assert_eq(rc, -ECANCELED);
		stops++;
		table_close(t);
		t = NULL;
		cr_assert_eq(memcmp(before, T, sizeof(T)), 0);
		cr_assert(fx_exists(&f, newlevel));
		cr_assert_eq(load_ro(&r), 0);
		table_info(r, &i);
		cr_assert_eq(i.gen, g - 1, "G: the last record folded");
		cr_assert_eq(i.records, 0, "the new level is the newest");
		cr_assert(i.window.lo == g && i.window.hi == g + 1,
			  "a level at the end reads as a record not clean");
		check(r);
		table_close(r);
		open_t();                       /* removes the leftovers */
		check(t);
		cr_assert_not(fx_exists(&f, ".coffre.tmp.delta.99"));
		for (unsigned l = 1; l < g; l++) {
			char name[V2_MANIFEST_NAME_MAX];

			fx_logname(l, name);
			cr_assert_not(fx_exists(&f, name), "%s", name);
		}
		cr_assert_eq(commit(70, 3, 21, 0, 0), 0);
		check(t);
	}
	cr_assert_geq(stops, 5, "stopped at %u steps", stops);
}

Test(fold, crash_at_each_step)
{
	crash_each_step(13, "delta.12");
	crash_each_step(17, "base.16");
}

/* ---- tamper */

/* Write level.<gen> straight through the writer: keys [0, n) tagged 1,
 * with the given base fields; returns its block-0 MAC. */
static void raw_level(const struct table_keys *k, uint8_t level, uint64_t gen,
		      unsigned n, uint64_t base_gen, const uint8_t *base_mac,
		      uint8_t mac0[COFFRE_MAC_LEN])
{
	struct tlevel_writer *w;
	struct tlevel_header h;

	cr_assert_eq(tlevel_writer_new(f.mdir, level, gen, k, &w), 0);
	for (unsigned i = 0; i < n; i++) {
		struct tent e = fx_obj(i, 1);

		cr_assert_eq(tlevel_writer_add(w, &e), 0);
	}
	memset(&h, 0, sizeof(h));
	memset(h.anchor, 0x3c, sizeof(h.anchor));
	h.base_gen = base_gen;
	if (base_mac)
		memcpy(h.base_mac, base_mac, COFFRE_MAC_LEN);
	cr_assert_eq(tlevel_writer_finish(w, &h, mac0), 0);
}

static int load_rc(void)
{
	struct table *r;
	int rc = load_ro(&r);

	table_close(r);
	return rc;
}

/* History through log.13: base.4, delta.12, log.13. */
static void levels_13(void)
{
	cr_assert_eq(history(13), 0);
	table_close(t);
	t = NULL;
	cr_assert_eq(load_rc(), 0);
}

Test(fold, tamper_delta_of_another_base)
{
	uint8_t mac[COFFRE_MAC_LEN];
	size_t len;
	uint8_t *good;

	levels_13();
	/* base.4 replaced by another base of gen 4: delta.12 names gen 4
	 * with another MAC */
	good = fx_read(&f, "base.4", &len);
	cr_assert_eq(unlinkat(f.mdir, "base.4", 0), 0);
	raw_level(&f.k, V2_LEVEL_BASE, 4, 30, 0, NULL, mac);
	cr_assert_eq(load_rc(), -EIO, "a delta from another base");
	fx_write(&f, "base.4", good, len);
	cr_assert_eq(load_rc(), 0);
	free(good);
	/* a delta above naming the base's gen with another MAC */
	memset(mac, 0x77, sizeof(mac));
	raw_level(&f.k, V2_LEVEL_DELTA, 20, 3, 4, mac, NULL);
	cr_assert_eq(load_rc(), -EIO, "names the base's gen, another MAC");
	cr_assert_eq(unlinkat(f.mdir, "delta.20", 0), 0);
	/* a delta naming a base newer than every base present */
	raw_level(&f.k, V2_LEVEL_DELTA, 20, 3, 6, mac, NULL);
	cr_assert_eq(load_rc(), -EIO, "its base is missing");
	cr_assert_eq(unlinkat(f.mdir, "delta.20", 0), 0);
	cr_assert_eq(load_rc(), 0);
}

Test(fold, tamper_base_of_another_volume_or_gen)
{
	struct table_keys other = f.k;
	uint8_t *good;
	size_t len;

	levels_13();
	good = fx_read(&f, "base.4", &len);
	/* another volume: same key, another uuid */
	other.uuid[0] ^= 1;
	cr_assert_eq(unlinkat(f.mdir, "base.4", 0), 0);
	raw_level(&other, V2_LEVEL_BASE, 4, 30, 0, NULL, NULL);
	cr_assert_eq(load_rc(), -EIO, "a base of another volume");
	cr_assert_eq(unlinkat(f.mdir, "base.4", 0), 0);
	/* another generation: base.4's bytes as base.5, then as base.4
	 * with base.5 removed but its block 0 from a level of gen 5 */
	fx_write(&f, "base.4", good, len);
	fx_write(&f, "base.5", good, len);
	cr_assert_eq(load_rc(), -EIO, "a base copied to another generation");
	cr_assert_eq(unlinkat(f.mdir, "base.5", 0), 0);
	cr_assert_eq(load_rc(), 0);
	/* a flipped byte past the header: found when the block is read */
	good[len - 100] ^= 1;             /* the last block is the top */
	fx_write(&f, "base.4", good, len);
	cr_assert_eq(load_rc(), -EIO, "the top block fails its MAC");
	good[len - 100] ^= 1;
	good[4096 + 10] ^= 1;             /* the first data block */
	fx_write(&f, "base.4", good, len);
	{
		/* data blocks are read on demand */
		struct table *r;
		uint8_t kb[V2_TKEY_LEN];
		struct tent e;
		struct tsrc *s;
		int rc;

		cr_assert_eq(load_ro(&r), 0);
		key(45, kb);              /* in block 1, not in the delta */
		cr_assert_eq(table_get(r, kb, &e), -EIO);
		cr_assert_eq(table_range(r, NULL, &s), -EIO);
		key(150, kb);                   /* in a later block: fine */
		cr_assert_eq(table_get(r, kb, &e), 0);
		cr_assert_eq(table_range(r, kb, &s), 0);
		while ((rc = tsrc_next(s, &e)) == 1)
			;
		cr_assert_eq(rc, 0);
		tsrc_free(s);
		table_close(r);
	}
	free(good);
}

Test(fold, tamper_chain_and_missing_base)
{
	struct tlog_header h;
	uint8_t mac[COFFRE_MAC_LEN];
	uint8_t *good;
	size_t len;

	levels_13();
	/* log.13 must chain to delta.12: gen 12 and its anchor */
	good = fx_read(&f, "log.13", &len);
	h = fx_header(&f, 13, NULL);
	cr_assert_eq(h.prev_gen, 12);
	h.p = 0;
	h.prev_mac[0] ^= 1;
	fx_raw_record(&f, &h, 40, mac);
	cr_assert_eq(load_rc(), -EIO, "chains by gen, not by MAC");
	h.prev_mac[0] ^= 1;
	h.prev_gen = 8;
	fx_raw_record(&f, &h, 40, mac);
	cr_assert_eq(load_rc(), -EIO, "chains to the folded record's gen");
	h.prev_gen = 12;
	fx_raw_record(&f, &h, 40, mac);
	cr_assert_eq(load_rc(), 0, "the control");
	fx_write(&f, "log.13", good, len);
	free(good);
	/* a record at or below the level (even one that chains to
	 * nothing): a leftover, never read */
	memset(&h, 0, sizeof(h));
	h.type = V2_TLOG_TYPE_COMMIT;
	memcpy(h.uuid, f.k.uuid, sizeof(h.uuid));
	h.gen = 10;
	h.prev_gen = 3;
	memset(h.prev_mac, 0x19, sizeof(h.prev_mac));
	fx_raw_record(&f, &h, 99, mac);
	cr_assert_eq(load_rc(), 0);
	cr_assert(fx_exists(&f, "log.10"));
	{
		struct table *w;

		cr_assert_eq(table_load_params(f.mdir, &f.k, true, &P, &w), 0);
		table_close(w);
	}
	cr_assert_not(fx_exists(&f, "log.10"), "removed by a loader that writes");
	/* the base deleted, the delta left */
	cr_assert_eq(unlinkat(f.mdir, "base.4", 0), 0);
	cr_assert_eq(load_rc(), -EIO, "a delta without its base");
}

Test(fold, stale_levels_are_leftovers)
{
	uint8_t mac[COFFRE_MAC_LEN];
	struct table_info i;
	struct table *r;

	levels_13();
	memset(mac, 0x42, sizeof(mac));
	/* above the base, naming an older base: ignored */
	raw_level(&f.k, V2_LEVEL_DELTA, 30, 3, 2, mac, NULL);
	/* at or below the base, an older base, an older delta of this
	 * base: ignored */
	raw_level(&f.k, V2_LEVEL_DELTA, 3, 3, 2, mac, NULL);
	raw_level(&f.k, V2_LEVEL_BASE, 2, 3, 0, NULL, NULL);
	/* above the base, naming it, older than delta.12 */
	{
		struct tlevel_file *bf;

		cr_assert_eq(tlevel_file_open(f.mdir, V2_LEVEL_BASE, 4, &f.k,
					      NULL, &bf), 0);
		raw_level(&f.k, V2_LEVEL_DELTA, 6, 3, 4, tlevel_file_mac0(bf),
			  NULL);
		tlevel_file_close(bf);
	}
	cr_assert_eq(load_ro(&r), 0);
	table_info(r, &i);
	cr_assert_eq(i.base, 4);
	cr_assert_eq(i.delta, 12);
	cr_assert_eq(i.gen, 13);
	check(r);
	table_close(r);
	expect_files((const char *[]){ "delta.30", "delta.3", "base.2",
				       "delta.6", NULL },
		     (const char *[]){ NULL });
	open_t();
	check(t);
	expect_files((const char *[]){ "base.4", "delta.12", NULL },
		     (const char *[]){ "delta.30", "delta.3", "base.2",
				       "delta.6", NULL });
}

/* ---- a million entries (§12.6: memory bounded whatever the size) */

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>

#define BIG_N 1000000u
#define BIG_NEW 5000u

/* The table after every commit: base entry i is OBJ(2i + 2) tagged
 * 1 + i % 1000, deleted if i % 101 == 7 and i < BIG_N / 2, replaced
 * (tag 2000 + i % 1000) if i % 103 == 5; OBJ(2j + 3), j < BIG_NEW, new
 * (tag 3000 + j % 100).  0: absent. */
static unsigned big_expect(unsigned k, bool changed)
{
	unsigned i = k / 2 - 1, j = (k - 3) / 2;

	if (k % 2 == 0 && k >= 2 && i < BIG_N) {
		if (changed && i % 101 == 7 && i < BIG_N / 2)
			return 0;
		if (changed && i % 103 == 5)
			return 2000 + i % 1000;
		return 1 + i % 1000;
	}
	if (changed && k % 2 == 1 && k >= 3 && j < BIG_NEW)
		return 3000 + j % 100;
	return 0;
}

static long heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long)mi.uordblks;
}

static long rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every change of big_expect, in key order, committed 3,000 at a time:
 * returns their count. */
static unsigned big_commits(void)
{
	unsigned n = 0;
	uint64_t g;

	for (unsigned k = 2; k < 2 * BIG_N + 2; k++) {
		unsigned was = big_expect(k, false), now = big_expect(k, true);

		if (was == now)
			continue;
		if (now) {
			struct tent e = fx_obj(k, now);

			cr_assert_geq(table_put(t, &e), 0);
		} else {
			uint8_t kb[V2_TKEY_LEN];

			key(k, kb);
			cr_assert_geq(table_del(t, kb), 0);
		}
		if (++n % 3000 == 0) {
			cr_assert_eq(table_freeze(t, &g), 0);
			cr_assert_eq(table_commit(t, 0), 0);
		}
	}
	cr_assert_eq(table_freeze(t, &g), 0);
	cr_assert_eq(table_commit(t, 0), 0);
	return n;
}

/* Lookups (spot checks) and a full ordered walk against big_expect. */
static void big_check(struct table *tt)
{
	unsigned next = 0, count = 0, want = 0;
	struct tsrc *s;
	struct tent e;
	int rc;

	srand(7);
	for (unsigned n = 0; n < 20000; n++) {
		unsigned k = (unsigned)rand() % (2 * BIG_N + 10);
		uint8_t kb[V2_TKEY_LEN];

		key(k, kb);
		rc = table_get(tt, kb, &e);
		if (big_expect(k, true)) {
			cr_assert_eq(rc, 0, "key %u", k);
			cr_assert_eq(fx_tag(&e), big_expect(k, true));
		} else {
			cr_assert_eq(rc, -ENOENT, "key %u", k);
		}
	}
	cr_assert_eq(table_range(tt, NULL, &s), 0);
	while ((rc = tsrc_next(s, &e)) == 1) {
		unsigned k = fx_key_of(&e);

		cr_assert(k >= next, "in order");
		if (k != next + 1 && count)
			for (unsigned m = next + 1; m < k; m++)
				cr_assert_eq(big_expect(m, true), 0, "key %u", m);
		if (big_expect(k, true) != fx_tag(&e))
			cr_assert_fail("key %u: tag %u", k, fx_tag(&e));
		next = k;
		count++;
	}
	cr_assert_eq(rc, 0);
	tsrc_free(s);
	for (unsigned k = 0; k < 2 * BIG_N + 10; k++)
		want += big_expect(k, true) != 0;
	cr_assert_eq(count, want);
}

Test(fold, million_entries_bounded, .timeout = 300)
{
	struct table_params p;
	struct tlevel_writer *w;
	struct tlevel_header h;
	struct table_info i;
	long heap0, heap_peak = 0, rss0;
	double t0 = now_s(), t_base, t_load, t_commit, t_check, t_fold;
	struct stat st;
	bool bad = false;
	unsigned changes;

	/* base.5 straight through the level writer */
	cr_assert_eq(tlevel_writer_new(f.mdir, V2_LEVEL_BASE, 5, &f.k, &w), 0);
	for (unsigned n = 0; n < BIG_N && !bad; n++) {
		struct tentry d = { .kind = V2_TK_OBJ };
		struct tent e;
		unsigned k = 2 * n + 2;

		d.u.obj.id[12] = (uint8_t)(k >> 24);
		d.u.obj.id[13] = (uint8_t)(k >> 16);
		d.u.obj.id[14] = (uint8_t)(k >> 8);
		d.u.obj.id[15] = (uint8_t)k;
		d.u.obj.meta_epoch = v2_epoch(1 + n % 1000, 1);
		bad = tent_from(&d, &e) != 0 || tlevel_writer_add(w, &e) != 0;
	}
	cr_assert_not(bad);
	memset(&h, 0, sizeof(h));
	memset(h.anchor, 0x5e, sizeof(h.anchor));
	cr_assert_eq(tlevel_writer_finish(w, &h, NULL), 0);
	cr_assert_eq(fstatat(f.mdir, "base.5", &st, 0), 0);
	t_base = now_s();

	/* load, commit the changes: folds into a delta on the way */
	table_params_default(&p);
	p.fold_records = 4;
	heap0 = heap_used();
	rss0 = rss_kib();
	cr_assert_eq(table_load_params(f.mdir, &f.k, true, &p, &t), 0);
	t_load = now_s();
	cr_assert_eq(table_session_start(t, 8), 0);
	changes = big_commits();
	t_commit = now_s();
	table_info(t, &i);
	cr_assert_eq(i.base, 5);
	cr_assert_neq(i.delta, 0, "folded into a delta");
	cr_assert_geq(i.folds_delta, 1);
	cr_assert_leq(i.entries, p.e_c);
	if (heap_used() - heap0 > heap_peak)
		heap_peak = heap_used() - heap0;
	big_check(t);
	t_check = now_s();
	if (heap_used() - heap0 > heap_peak)
		heap_peak = heap_used() - heap0;
	table_info(t, &i);
	cr_assert_leq(i.cache.bytes, i.cache.max_bytes);
	cr_assert_eq(i.cache.max_bytes, TABLE_CACHE_DEFAULT);
	table_close(t);
	t = NULL;

	/* again with a ratio that makes the next fold a base: a million
	 * entries rewritten, streamed */
	p.delta_ratio = 1000;
	cr_assert_eq(table_load_params(f.mdir, &f.k, true, &p, &t), 0);
	table_info(t, &i);
	cr_assert_eq(table_session_start(t, i.gen + 3), 0);
	for (unsigned n = 0; n < p.fold_records; n++) {
		uint64_t g;
		struct tent e = fx_obj(2 * BIG_N + 11 + 2 * n, 4000);

		cr_assert_geq(table_put(t, &e), 0);
		cr_assert_eq(table_freeze(t, &g), 0);
		cr_assert_eq(table_commit(t, 0), 0);
	}
	t_fold = now_s();
	cr_assert_not(fx_exists(&f, "base.5"));
	table_info(t, &i);
	cr_assert_eq(i.folds_base, 1);
	cr_assert_gt(i.base, 5, "base.5 replaced");
	if (heap_used() - heap0 > heap_peak)
		heap_peak = heap_used() - heap0;
	cr_log_info("1M entries: base %.1f MB written in %.2f s; load %.3f s; "
		    "%u changes in records of 3,000 %.2f s; 20,000 lookups and a full walk "
		    "%.2f s; fold into a base %.2f s; heap growth peak %.1f MiB; "
		    "max RSS %ld -> %ld KiB", st.st_size / 1e6, t_base - t0,
		    t_load - t_base, changes, t_commit - t_load, t_check - t_commit,
		    t_fold - t_check, heap_peak / 1048576.0, rss0, rss_kib());
	if (heap0) {
		/* the cache's 12 MiB, T's array (two during an apply), a
		 * record: far under the table's 83 MB (not under ASan, whose
		 * allocator mallinfo2 does not see) */
		cr_assert_lt(heap_peak, 20l << 20, "heap grew by %ld", heap_peak);
		cr_assert_lt(rss_kib(), 48l << 10, "max RSS %ld KiB", rss_kib());
	}
}
