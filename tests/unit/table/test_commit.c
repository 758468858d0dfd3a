/*
 * commit.c with state.c, chain.c and fold.c: a seeded model-based test.
 * Random puts, deletes and removals over 200 keys, freezes and commits
 * with random flags, reloads from disk after random commits (some after a
 * simulated crash: the last record deleted, a temp never renamed, or a
 * fold stopped at a random step past its level's link), each compared
 * with a simple model: T by lookups and by a full range, the session
 * through table_get_live, G, W (§12.7) and the window each record
 * carries.  Small limits (E_c 64, a fold every 6 records, a tiny block
 * cache) make it fold into deltas and bases many times; a level left as
 * the newest thing on disk is read as a record that is not clean.
 */
#include "tfixture.h"

enum { NK = 200, DEL = 0xffffffffu, STEPS = 12000, HIST = 12288 };

struct snap {
	unsigned T[NK];                 /* tag, 0 absent */
	uint64_t gen;
	uint16_t flags;
	struct twindow carried;         /* open window after the record */
	bool after_level;               /* the first record after a level */
	bool level_end;                 /* its record lost: the level is last */
};

static const struct table_params P = {
	.e_c = 64,
	.fold_records = 6,
	.delta_ratio = 4,
	.cache_bytes = 64 << 10,
};
static unsigned crash_step = ~0u;
static uint64_t folds_delta, folds_base;

static int stop_at(unsigned step)
{
	return step == crash_step;
}

static struct fx f;
static struct table *t;
static struct snap hist[HIST];
static size_t nhist;
static unsigned open_c[NK], frozen_c[NK];
static bool have_frozen;
static uint64_t open_gen;
static struct twindow W;                /* carried by the next record */

static void key(unsigned k, uint8_t out[V2_TKEY_LEN])
{
	struct tent e = fx_obj(k, 1);

	memcpy(out, e.b, V2_TKEY_LEN);
}

static void compare(void)
{
	const struct snap *m = &hist[nhist - 1];
	struct table_info i;
	struct tsrc *s;
	struct tent e;
	unsigned next = 0, present = 0;
	int rc;

	table_info(t, &i);
	cr_assert_eq(i.gen, m->gen);
	for (unsigned k = 0; k < NK; k++) {
		uint8_t kb[V2_TKEY_LEN];
		unsigned live = open_c[k] ? open_c[k] :
				have_frozen && frozen_c[k] ? frozen_c[k] : m->T[k];

		key(k, kb);
		rc = table_get(t, kb, &e);
		if (m->T[k]) {
			cr_assert_eq(rc, 0, "key %u", k);
			cr_assert_eq(fx_tag(&e), m->T[k]);
			present++;
		} else {
			cr_assert_eq(rc, -ENOENT, "key %u", k);
		}
		rc = table_get_live(t, kb, &e);
		if (live && live != DEL) {
			cr_assert_eq(rc, 0, "live key %u", k);
			cr_assert_eq(fx_tag(&e), live);
		} else {
			cr_assert_eq(rc, -ENOENT, "live key %u", k);
		}
	}
	cr_assert_leq(i.entries, P.e_c);
	cr_assert_leq(i.records, P.fold_records);
	cr_assert_leq(i.cache.bytes, i.cache.max_bytes);
	if (!i.base)
		cr_assert_eq(i.entries, present);
	cr_assert_eq(table_range(t, NULL, &s), 0);
	while ((rc = tsrc_next(s, &e)) == 1) {
		unsigned k = fx_key_of(&e);

		while (next < k)
			cr_assert_eq(m->T[next++], 0);
		cr_assert_eq(fx_tag(&e), m->T[k]);
		next++;
	}
	cr_assert_eq(rc, 0);
	while (next < NK)
		cr_assert_eq(m->T[next++], 0);
	tsrc_free(s);
}

static void push(uint64_t gen, uint16_t flags, const unsigned *changes)
{
	struct snap *n = &hist[nhist];

	cr_assert_lt(nhist, HIST);
	*n = hist[nhist - 1];
	if (changes)
		for (unsigned k = 0; k < NK; k++)
			if (changes[k])
				n->T[k] = changes[k] == DEL ? 0 : changes[k];
	n->gen = gen;
	n->flags = flags;
	n->carried = flags & V2_TLOG_RESIDUE_CLOSED ? (struct twindow){ 0, 0 } : W;
	n->level_end = false;
	n->after_level = false;
	if (t) {
		struct table_info i;

		table_info(t, &i);
		n->after_level = i.records == 1 && (i.base || i.delta);
	}
	nhist++;
}

static void close_table(void)
{
	struct table_info i;

	table_info(t, &i);
	folds_delta += i.folds_delta;
	folds_base += i.folds_base;
	table_close(t);
	t = NULL;
}

/* Load, check W from the model, start a session past it. */
static void reload(void)
{
	const struct snap *m = &hist[nhist - 1];
	struct twindow want = m->carried;
	struct table_info i;
	uint64_t s;

	cr_assert_eq(table_load_params(f.mdir, &f.k, true, &P, &t), 0);
	memset(open_c, 0, sizeof(open_c));
	have_frozen = false;
	if (m->gen && (m->level_end || !(m->flags & V2_TLOG_CLEAN))) {
		want.lo = want.lo ? want.lo : m->gen + 1;
		want.hi = m->gen + 2;
	}
	table_info(t, &i);
	cr_assert_eq(i.window.lo, want.lo, "G %llu", (unsigned long long)m->gen);
	cr_assert_eq(i.window.hi, want.hi);
	compare();
	W = want;
	s = m->gen + 3 + (unsigned)rand() % 3;
	cr_assert_eq(table_session_start(t, s), 0);
	cr_assert_eq(fx_header(&f, s, NULL).residue_lo, W.lo);
	cr_assert_eq(fx_header(&f, s, NULL).residue_hi, W.hi);
	push(s, 0, NULL);
	open_gen = s + 1;
}

static void setup(void)
{
	fx_setup(&f);
}

static void teardown(void)
{
	table_test_fold_step = NULL;
	table_close(t);
	fx_teardown(&f);
}

Test(commit, model, .init = setup, .fini = teardown)
{
	unsigned reloads = 0, crashes = 0, commits = 0, fold_crashes = 0;

	srand(20261203);
	table_test_fold_step = stop_at;
	memset(&hist[0], 0, sizeof(hist[0]));
	nhist = 1;
	reload();
	for (int step = 0; step < STEPS; step++) {
		int r = rand() % 100;
		unsigned k = (unsigned)rand() % NK;

		if (r < 45) {
			struct tent e;
			unsigned tag = 1 + (unsigned)rand() % 1000;

			e = fx_obj(k, tag);
			cr_assert_eq(table_put(t, &e), 0);
			open_c[k] = tag;
		} else if (r < 62) {
			uint8_t kb[V2_TKEY_LEN];

			key(k, kb);
			cr_assert_eq(table_del(t, kb), 0);
			open_c[k] = DEL;
		} else if (r < 66) {
			struct tlog_removal rm;

			memset(&rm, k, sizeof(rm));
			cr_assert_eq(table_remove(t, &rm), 0);
		} else if (r < 76) {
			uint64_t g;

			if (have_frozen) {
				cr_assert_eq(table_freeze(t, &g), -EBUSY);
				continue;
			}
			cr_assert_eq(table_freeze(t, &g), 0);
			cr_assert_eq(g, open_gen);
			memcpy(frozen_c, open_c, sizeof(open_c));
			memset(open_c, 0, sizeof(open_c));
			have_frozen = true;
			open_gen++;
		} else if (r < 90) {
			uint16_t flags = 0;
			struct tlog_header h;

			if (!have_frozen) {
				cr_assert_eq(table_commit(t, 0), -ENOENT);
				continue;
			}
			if (rand() % 5 == 0)
				flags |= V2_TLOG_CLEAN;
			if (W.lo && rand() % 4 == 0)
				flags |= V2_TLOG_RESIDUE_CLOSED;
			/* sometimes a crash in the fold, if one is due */
			crash_step = rand() % 2 == 0 ? (unsigned)rand() % 5 : ~0u;
			int rc = table_commit(t, flags);

			crash_step = ~0u;
			if (rc == -ECANCELED) {
				/* the new level is durable, the record not */
				close_table();
				hist[nhist - 1].level_end = true;
				fold_crashes++;
				reload();
				continue;
			}
			cr_assert_eq(rc, 0);
			h = fx_header(&f, open_gen - 1, NULL);
			cr_assert_eq(h.flags, flags);
			cr_assert_eq(h.residue_lo, W.lo, "the record carries W");
			cr_assert_eq(h.residue_hi, W.hi);
			cr_assert_eq(h.prev_gen, hist[nhist - 1].gen);
			push(open_gen - 1, flags, frozen_c);
			if (flags & V2_TLOG_RESIDUE_CLOSED)
				W = (struct twindow){ 0, 0 };
			have_frozen = false;
			commits++;
			compare();
		} else if (r < 95) {
			close_table();
			reloads++;
			if (nhist > 2 && rand() % 3 == 0) {
				char name[V2_MANIFEST_NAME_MAX];
				bool lvl = hist[nhist - 1].after_level;

				/* a crash lost the last record */
				fx_logname(hist[nhist - 1].gen, name);
				cr_assert_eq(unlinkat(f.mdir, name, 0), 0);
				nhist--;
				hist[nhist - 1].level_end = lvl;
				crashes++;
			}
			if (rand() % 4 == 0)
				fx_write(&f, ".coffre.tmp.log.99999", "x", 1);
			reload();
			cr_assert_not(fx_exists(&f, ".coffre.tmp.log.99999"));
		} else {
			compare();
		}
	}
	close_table();
	cr_log_info("%u commits, %u reloads, %u crashes, %u in folds; "
		    "%llu folds into deltas, %llu into bases", commits, reloads,
		    crashes, fold_crashes, (unsigned long long)folds_delta,
		    (unsigned long long)folds_base);
	cr_assert_gt(commits, 300);
	cr_assert_gt(reloads, 200);
	cr_assert_gt(crashes, 40);
	cr_assert_gt(fold_crashes, 10);
	cr_assert_gt(folds_delta, 50);
	cr_assert_gt(folds_base, 20);
}
