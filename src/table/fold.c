/*
 * Folding the version table (doc/FORMAT.md §12.6): before the commit
 * thread writes a record that would take T's memory past E_c, or when
 * fold_records records already follow the newest level, it folds those
 * records into a new level at the last record's generation g:
 *
 *   - a delta delta.<g>: merge(memory, old delta), tombstones passed on
 *     (a delete becomes a tombstone); header: anchor = MAC of log.<g>,
 *     residue = the window log.<g> carries ("residue closed": none), its
 *     base's gen and block-0 MAC;
 *   - a base base.<g>: merge(memory, delta, base), tombstones dropped,
 *     when the new delta would hold more than N(base) / delta_ratio
 *     entries (a first streaming pass counts them), when it would be
 *     empty, or when there is no base yet.
 *
 * The level writer streams it out, fsyncs it and links it into place
 * (never over a file) and fsyncs .coffre/manifest (lwrite.c); only then
 * are the levels it replaces and the records at or below g removed, and
 * T reset to the new level(s) with an empty memory array.  A crash at any
 * point leaves the old levels and their records (before the link: the
 * temp is a leftover) or the new level, which loading chooses over what
 * is left of the old ones (leftovers, removed by a loader that writes).
 * The chain's tail does not move: the next record chains to log.<g>'s
 * gen and MAC, which are the new level's gen and anchor.
 *
 * Locking: called under commit_mu (commits wait), the fold holds T's
 * write lock from start to end, so lookups and new ranges wait for it
 * too (ranges already started keep their levels, whose files stay
 * readable once unlinked); letting lookups go on during a fold can come
 * later.  Changes to the session go on (they take slock only).
 *
 * Memory, whatever the table's size: one entry per merged source, one
 * block per level iterator, the writer's ~10 KiB, the block cache's bound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "tstate.h"

int (*table_test_fold_step)(unsigned step);

static int fold_stop(unsigned step)
{
	return table_test_fold_step && table_test_fold_step(step) ? -ECANCELED : 0;
}

/* The sources of the new level, newest first: memory, the delta, and the
 * base when folding into a base.  *out gets their merge. */
static int fold_sources(struct table *t, bool with_base, struct tsrc **out)
{
	struct tsrc *srcs[3] = { NULL, NULL, NULL };
	size_t n = 1;
	int err = tsrc_array(t->mem->v, t->mem->n, NULL, &srcs[0]);

	if (!err && t->delta && !(err = tlevel_file_iter(t->delta->f, NULL,
							 &srcs[n])))
		n++;
	if (!err && with_base && t->base &&
	    !(err = tlevel_file_iter(t->base->f, NULL, &srcs[n])))
		n++;
	if (err) {
		for (size_t i = 0; i < n; i++)
			tsrc_free(srcs[i]);
		return err;
	}
	return tsrc_merge(srcs, n, with_base, out);
}

/* Entries the new delta would hold: a streaming pass over its sources. */
static int count_delta(struct table *t, uint64_t *n)
{
	struct tsrc *m;
	struct tent e;
	int rc = fold_sources(t, false, &m);

	*n = 0;
	if (rc)
		return rc;
	while ((rc = tsrc_next(m, &e)) == 1)
		(*n)++;
	tsrc_free(m);
	return rc;
}

/* Write level.<g> (g: the last record's) from its sources. */
static int write_level(struct table *t, uint8_t level)
{
	struct tlevel_header h;
	struct tlevel_writer *w;
	struct tsrc *m;
	struct tent e;
	uint64_t n = 0;
	int rc;

	memset(&h, 0, sizeof(h));
	memcpy(h.anchor, t->mac, COFFRE_MAC_LEN);
	h.residue_lo = t->last_carried.lo;
	h.residue_hi = t->last_carried.hi;
	if (level == V2_LEVEL_DELTA) {
		h.base_gen = t->base_gen;
		memcpy(h.base_mac, tlevel_file_mac0(t->base->f), COFFRE_MAC_LEN);
	}
	rc = tlevel_writer_new(t->mdir, level, t->gen, &t->k, &w);
	if (rc)
		return rc;
	rc = fold_sources(t, level == V2_LEVEL_BASE, &m);
	while (!rc && (rc = tsrc_next(m, &e)) == 1) {
		rc = tlevel_writer_add(w, &e);
		n++;
	}
	tsrc_free(m);
	if (!rc && !n)
		rc = -ENODATA;          /* nothing to fold: a level has N >= 1 */
	if (rc) {
		tlevel_writer_abort(w);
		return rc;
	}
	return tlevel_writer_finish(w, &h, NULL);
}

static void remove_name(int mdir, enum names2_manifest kind, uint64_t gen)
{
	char name[V2_MANIFEST_NAME_MAX];

	names2_manifest_write(kind, gen, name);
	if (unlinkat(mdir, name, 0) < 0 && errno != ENOENT)
		log_msg(LOG_WARNING, "version table: cannot remove "
			".coffre/manifest/%s after a fold: %m", name);
}

/* The levels the new one replaces, then the records at or below g (a
 * listing: at most TABLE_LIST_MAX names), then mdir fsynced.  A file
 * that cannot be removed is left for the next loader. */
static int remove_folded(struct table *t, bool to_base, uint64_t g)
{
	unsigned step = 0;
	struct tlist l;
	int rc;

	if (t->delta) {
		remove_name(t->mdir, N2_MF_DELTA, t->delta_gen);
		if ((rc = fold_stop(++step)) != 0)
			return rc;
	}
	if (to_base && t->base) {
		remove_name(t->mdir, N2_MF_BASE, t->base_gen);
		if ((rc = fold_stop(++step)) != 0)
			return rc;
	}
	rc = tlist_read(t->mdir, &l);
	if (rc)
		return rc;
	for (size_t i = 0; i < l.n[N2_MF_LOG] && l.gens[N2_MF_LOG][i] <= g; i++) {
		remove_name(t->mdir, N2_MF_LOG, l.gens[N2_MF_LOG][i]);
		if ((rc = fold_stop(++step)) != 0)
			break;
	}
	tlist_free(&l);
	return rc ? rc : io_fsync_dir(t->mdir);
}

/* The fold itself, under T's write lock. */
static int fold(struct table *t)
{
	uint8_t level = V2_LEVEL_BASE;
	struct tlvl *nl = NULL;
	uint64_t g = t->gen, n = 0;
	int rc;

	if (t->base) {
		rc = count_delta(t, &n);
		if (rc)
			return rc;
		if (n && n <= tlevel_file_header(t->base->f)->n / t->p.delta_ratio)
			level = V2_LEVEL_DELTA;
	}
	rc = write_level(t, level);
	if (rc) {
		log_msg(LOG_ERR, "version table: cannot fold into "
			".coffre/manifest/%s.%llu: %s", level ? "delta" : "base",
			(unsigned long long)g, strerror(-rc));
		return rc;
	}
	/* durable: from here a crash leaves the new level */
	rc = fold_stop(0);
	if (!rc) {
		struct tlevel_file *f;

		rc = tlevel_file_open(t->mdir, level, g, &t->k, t->cache, &f);
		if (!rc && !(nl = tlvl_open(f))) {
			tlevel_file_close(f);
			rc = -ENOMEM;
		}
	}
	if (!rc)
		rc = remove_folded(t, level == V2_LEVEL_BASE, g);
	if (rc) {
		tlvl_put(nl);
		return rc;
	}
	if (level == V2_LEVEL_BASE) {
		tstate_set_levels(t, nl, NULL);
		t->folds_base++;
	} else {
		tstate_set_levels(t, t->base, nl);
		t->folds_delta++;
	}
	return 0;
}

int tfold_first(struct table *t, const struct tlog_view *v)
{
	bool due;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	due = t->records >= t->p.fold_records;
	pthread_rwlock_unlock(&t->lock);
	if (!due && tstate_count_after(t, v) <= t->p.e_c)
		return 0;
	pthread_rwlock_wrlock(&t->lock);
	if (t->records)
		rc = fold(t);
	pthread_rwlock_unlock(&t->lock);
	if (!rc && tstate_count_after(t, v) > t->p.e_c) {
		log_msg(LOG_ERR, "version table: log.%llu alone holds more than "
			"%u entries", (unsigned long long)v->h.gen, t->p.e_c);
		rc = -EFBIG;
	}
	return rc;
}
