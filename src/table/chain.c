/*
 * Loading the version table (doc/FORMAT.md §12.5 steps 1, 2, 3 and 5):
 * the listing of .coffre/manifest/, the choice of base and delta (a pure
 * function of the listing and the deltas' headers), the records above the
 * newest level read in increasing order and chained, the leftovers, G and
 * the residue window W.  Step 4 (G against the HSMs' local_gen and the
 * bucket) is the caller's.
 *
 * The residue window, as read here (§12.7, §14.4, §14.5).  A record
 * carries a window [lo, hi] (0: none) and two flags.  Its window is *open*
 * unless the record carries "residue closed": that record is the first
 * commit after the recovery walk finished, and it still names the window
 * it closes.  At load, with g the last record's generation:
 *   - carried = the last record's window if open, else none;
 *   - if the last record is clean (an unmount), W = carried: a session
 *     that unmounted before its recovery walk finished leaves the walk to
 *     the next one;
 *   - else the session that wrote it ended without unmounting, and its
 *     open generation g + 1 and the next one g + 2 (a freeze had begun)
 *     may hold writes no record describes: W = [g + 1, g + 2], merged
 *     with carried as the smallest range holding both (carried.hi < g).
 * A level at the end (no record after it: a crash right after a fold)
 * has no clean flag; it is taken as not clean, with its residue fields as
 * the carried window.  An empty table has no window.
 *
 * The levels: the newest base is opened (header and top block verified,
 * level.c); each delta above it is opened too, for its header (its base's
 * gen and block-0 MAC), and tchain_choose picks the one naming this base.
 * The first record after the newest level chains to its gen and anchor.
 *
 * Memory: the listing (8 bytes a name, at most TABLE_LIST_MAX names, more
 * is tamper), one record at a time (at most V2_TLOG_MAX_LEN bytes) and the
 * two open levels (8 KiB each, their other blocks through the bounded
 * cache); the records apply into T (state.c), whose bound makes a loaded
 * state of more than E_c entries, or more than fold_records records after
 * the newest level, tamper: a writer folds before either (§12.6).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "tstate.h"

int tchain_tamper(enum names2_manifest kind, uint64_t gen, const char *why)
{
	char name[V2_MANIFEST_NAME_MAX];

	if (names2_manifest_write(kind, gen, name) < 0)
		strcpy(name, "?");
	log_tampered(LOG_ERR, "version table tampered: %s (%s)", name, why);
	return -EIO;
}

/* ---- step 1: the listing */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int grow_append(void **v, size_t *n, size_t size, const void *item)
{
	/* capacity: the next power of two at or above n */
	if ((*n & (*n - 1)) == 0) {
		void *nv = realloc(*v, (*n ? 2 * *n : 1) * size);

		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	memcpy((char *)*v + *n * size, item, size);
	(*n)++;
	return 0;
}

void tlist_free(struct tlist *l)
{
	for (int i = 0; i < N2_MF_COUNT; i++)
		free(l->gens[i]);
	for (size_t i = 0; i < l->ntmp; i++)
		free(l->tmp[i]);
	free(l->tmp);
	memset(l, 0, sizeof(*l));
}

static int list_name(struct tlist *l, const char *name)
{
	enum names2_manifest kind;
	uint64_t gen;

	if (names2_is_tmp(name)) {
		char *dup = strdup(name);
		int err;

		if (!dup)
			return -ENOMEM;
		err = grow_append((void **)&l->tmp, &l->ntmp, sizeof(dup), &dup);
		if (err)
			free(dup);
		return err;
	}
	if (names2_manifest_parse(name, &kind, &gen) != 0) {
		log_tampered(LOG_ERR, "version table tampered: unexpected name in "
			".coffre/manifest: %.80s", name);
		return -EIO;
	}
	return grow_append((void **)&l->gens[kind], &l->n[kind], sizeof(gen),
			   &gen);
}

int tlist_read(int mdir, struct tlist *l)
{
	int fd = openat(mdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	size_t total = 0;
	int err = 0;
	DIR *d;

	memset(l, 0, sizeof(*l));
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	errno = 0;
	while (!err && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++total > TABLE_LIST_MAX) {
			log_tampered(LOG_ERR, "version table tampered: more than %u "
				"names in .coffre/manifest", TABLE_LIST_MAX);
			err = -EIO;
			break;
		}
		err = list_name(l, de->d_name);
		errno = 0;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err) {
		tlist_free(l);
		return err;
	}
	for (int i = 0; i < N2_MF_COUNT; i++)
		if (l->n[i])
			qsort(l->gens[i], l->n[i], sizeof(uint64_t), cmp_u64);
	return 0;
}

/* ---- step 2: base and delta */

int tchain_choose(const struct tlist *l, const uint8_t *base_mac0,
		  tdelta_base_fn fn, void *arg, struct tchoice *c)
{
	const uint64_t *deltas = l->gens[N2_MF_DELTA];
	size_t nd = l->n[N2_MF_DELTA];

	memset(c, 0, sizeof(*c));
	if (l->n[N2_MF_BASE])
		c->base = l->gens[N2_MF_BASE][l->n[N2_MF_BASE] - 1];
	if (!c->base) {
		if (nd)
			return tchain_tamper(N2_MF_DELTA, deltas[nd - 1],
					     "a delta without a base");
		return 0;
	}
	if (!base_mac0 || !fn)
		return -EINVAL;
	/* newest first: the first that names this base is the delta */
	for (size_t i = nd; i-- > 0 && deltas[i] > c->base;) {
		struct tdelta_base b;
		int err = fn(arg, deltas[i], &b);

		if (err)
			return err;
		if (b.gen > c->base)
			return tchain_tamper(N2_MF_DELTA, deltas[i],
					     "its base is missing");
		if (b.gen < c->base)
			continue;      /* names an older base: a leftover */
		if (CRYPTO_memcmp(b.mac, base_mac0, COFFRE_MAC_LEN) != 0)
			return tchain_tamper(N2_MF_DELTA, deltas[i],
					     "names another base");
		if (!c->delta)
			c->delta = deltas[i];
	}
	return 0;
}

/* ---- step 5: the window */

int twindow_compute(uint64_t g, bool clean, bool closed, uint64_t lo,
		    uint64_t hi, struct twindow *w)
{
	struct twindow carried = { 0, 0 };

	if (!closed && lo)
		carried = (struct twindow){ lo, hi };
	*w = (struct twindow){ 0, 0 };
	if (g == 0)
		return 0;
	if (clean) {
		*w = carried;
		return 0;
	}
	if (g + 2 > V2_GEN_MAX)
		return -EOVERFLOW;
	*w = (struct twindow){ g + 1, g + 2 };
	if (carried.lo) {
		w->lo = carried.lo < w->lo ? carried.lo : w->lo;
		w->hi = carried.hi > w->hi ? carried.hi : w->hi;
	}
	return 0;
}

/* ---- step 3: the records */

/* Read, verify and chain log.<g>, and apply it to T. */
static int read_record(struct table *t, uint64_t g)
{
	char name[V2_MANIFEST_NAME_MAX];
	const char *why;
	struct tlog_view v;
	uint8_t *buf = NULL;
	size_t len;
	int err;

	names2_manifest_write(N2_MF_LOG, g, name);
	err = tread_whole(t->mdir, name, V2_TLOG_MAX_LEN, &buf, &len, &why);
	/* Listed, so gone or growing meanwhile is tamper too: a record is
	 * renamed into place whole and never written again. */
	if (err == -ENOENT)
		why = "removed while the table was loaded";
	else if (err == -EAGAIN)
		why = "changed size while read";
	if (why)
		return tchain_tamper(N2_MF_LOG, g, why);
	if (err)
		return err;
	err = tlog_parse(t->k.key, buf, len, &v);
	if (err) {
		err = tchain_tamper(N2_MF_LOG, g, err == -EBADMSG ?
				    "MAC does not verify" : "malformed");
		goto out;
	}
	if (v.h.gen != g || memcmp(v.h.uuid, t->k.uuid, COFFRE_ID_LEN) != 0) {
		err = tchain_tamper(N2_MF_LOG, g, "another generation or volume");
		goto out;
	}
	if (v.h.prev_gen != t->gen ||
	    CRYPTO_memcmp(v.h.prev_mac, t->mac, COFFRE_MAC_LEN) != 0) {
		err = tchain_tamper(N2_MF_LOG, g, "does not chain");
		goto out;
	}
	if (t->records >= t->p.fold_records) {
		err = tchain_tamper(N2_MF_LOG, g, "too many records");
		goto out;
	}
	err = tstate_apply(t, &v);
	if (err == -EFBIG)
		err = tchain_tamper(N2_MF_LOG, g, "too many entries");
out:
	free(buf);
	return err;
}

/* ---- leftovers */

static void remove_name(int mdir, const char *name)
{
	if (unlinkat(mdir, name, 0) < 0 && errno != ENOENT)
		log_msg(LOG_WARNING, "version table: cannot remove leftover "
			".coffre/manifest/%.80s: %m", name);
}

static void remove_gen(int mdir, enum names2_manifest kind, uint64_t gen)
{
	char name[V2_MANIFEST_NAME_MAX];

	if (names2_manifest_write(kind, gen, name) > 0)
		remove_name(mdir, name);
}

/* Every level but the chosen ones, the records at or below the newest
 * level, temp files; then mdir fsynced. */
static int remove_leftovers(struct table *t, const struct tlist *l,
			    const struct tchoice *c, uint64_t newest)
{
	size_t removed = l->ntmp;

	for (size_t i = 0; i < l->n[N2_MF_BASE]; i++)
		if (l->gens[N2_MF_BASE][i] != c->base) {
			remove_gen(t->mdir, N2_MF_BASE, l->gens[N2_MF_BASE][i]);
			removed++;
		}
	for (size_t i = 0; i < l->n[N2_MF_DELTA]; i++)
		if (l->gens[N2_MF_DELTA][i] != c->delta) {
			remove_gen(t->mdir, N2_MF_DELTA, l->gens[N2_MF_DELTA][i]);
			removed++;
		}
	for (size_t i = 0; i < l->n[N2_MF_LOG] && l->gens[N2_MF_LOG][i] <= newest;
	     i++) {
		remove_gen(t->mdir, N2_MF_LOG, l->gens[N2_MF_LOG][i]);
		removed++;
	}
	for (size_t i = 0; i < l->ntmp; i++)
		remove_name(t->mdir, l->tmp[i]);
	return removed ? io_fsync_dir(t->mdir) : 0;
}

/* ---- loading */

/* level.<gen> opened through T's cache, as a shared reference. */
static int open_level(struct table *t, uint8_t level, uint64_t gen,
		      struct tlvl **out)
{
	struct tlevel_file *f;
	int err = tlevel_file_open(t->mdir, level, gen, &t->k, t->cache, &f);

	*out = NULL;
	if (err)
		return err;
	*out = tlvl_open(f);
	if (!*out) {
		tlevel_file_close(f);
		return -ENOMEM;
	}
	return 0;
}

/* tchain_choose's question: what delta.<g>'s verified header names as
 * its base. */
static int delta_base(void *arg, uint64_t g, struct tdelta_base *b)
{
	struct table *t = arg;
	const struct tlevel_header *h;
	struct tlevel_file *f;
	int err = tlevel_file_open(t->mdir, V2_LEVEL_DELTA, g, &t->k, NULL, &f);

	if (err)
		return err;
	h = tlevel_file_header(f);
	b->gen = h->base_gen;
	memcpy(b->mac, h->base_mac, sizeof(b->mac));
	tlevel_file_close(f);
	return 0;
}

/* §12.5 step 2: the base and the delta, opened and made T's levels (the
 * chain then starts at the newest one's gen and anchor). */
static int open_levels(struct table *t, const struct tlist *l,
		       struct tchoice *c)
{
	struct tlvl *base = NULL, *delta = NULL;
	int err;

	memset(c, 0, sizeof(*c));
	if (!l->n[N2_MF_BASE])          /* no base: a delta is tamper */
		return tchain_choose(l, NULL, NULL, NULL, c);
	err = open_level(t, V2_LEVEL_BASE, l->gens[N2_MF_BASE][l->n[N2_MF_BASE] - 1],
			 &base);
	if (!err)
		err = tchain_choose(l, tlevel_file_mac0(base->f), delta_base, t, c);
	if (!err && c->delta)
		err = open_level(t, V2_LEVEL_DELTA, c->delta, &delta);
	if (!err && delta) {
		/* chosen for what its header names: checked again on the file
		 * now open (it could have been replaced in between) */
		const struct tlevel_header *h = tlevel_file_header(delta->f);

		if (h->base_gen != c->base ||
		    CRYPTO_memcmp(h->base_mac, tlevel_file_mac0(base->f),
				  COFFRE_MAC_LEN) != 0)
			err = tchain_tamper(N2_MF_DELTA, c->delta,
					    "names another base");
	}
	if (err) {
		tlvl_put(delta);
		tlvl_put(base);
		return err;
	}
	tstate_set_levels(t, base, delta);
	return 0;
}

int table_load(int mdir, const struct table_keys *k, bool may_write,
	       struct table **out)
{
	return table_load_params(mdir, k, may_write, NULL, out);
}

int table_load_params(int mdir, const struct table_keys *k, bool may_write,
		      const struct table_params *p, struct table **out)
{
	struct tchoice c;
	struct tlist l;
	struct table *t = NULL;
	uint64_t newest;
	int err;

	*out = NULL;
	err = tlist_read(mdir, &l);
	if (err)
		return err;
	err = table_alloc(mdir, k, p, &t);
	if (err)
		goto out;
	err = open_levels(t, &l, &c);
	if (err)
		goto out;
	newest = t->level_gen;
	for (size_t i = 0; i < l.n[N2_MF_LOG] && !err; i++)
		if (l.gens[N2_MF_LOG][i] > newest)
			err = read_record(t, l.gens[N2_MF_LOG][i]);
	if (err)
		goto out;
	if (t->records)
		err = twindow_compute(t->gen, t->last_flags & V2_TLOG_CLEAN,
				      false, t->window.lo, t->window.hi,
				      &t->window);
	else if (t->nlevels)
		err = twindow_compute(t->gen, false, false, t->last_carried.lo,
				      t->last_carried.hi, &t->window);
	if (!err && may_write)
		err = remove_leftovers(t, &l, &c, newest);
out:
	tlist_free(&l);
	if (err)
		table_close(t);
	else
		*out = t;
	return err;
}
