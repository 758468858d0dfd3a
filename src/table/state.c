/*
 * The committed state T and the session state (doc/FORMAT.md §12.5,
 * §12.6, §12.7).
 *
 * T is the entries of the records since the newest level, held as one
 * sorted immutable array (struct tmem), over the levels: at most one delta
 * and one base (struct tlvl, shared with the range sources started on
 * them).  A lookup asks memory, then the delta, then the base, the first
 * that holds the key answering (a tombstone: absent); a range merges the
 * three in key order, tombstones dropped.  Applying a record (§12.3: delete its Q keys, then put its
 * P entries) is one linear merge of the array with the record into a new
 * array, swapped in under the write lock; a delete leaves a tombstone only
 * when a level below may hold the key.  Lookups take the read lock; a
 * range source keeps a reference to the array it started on.
 *
 * Memory (§12.6): T's array holds at most E_c = 65,536 entries
 * (5 MiB); the levels, their header and top block each (8 KiB) and the
 * block cache (at most cache_bytes, 12 MiB by default); while a record is applied the old and the new array both live
 * (10 MiB), plus the arrays still referenced by open range sources.  A
 * generation holds at most V2_TLOG_MAX_PQ changes (80 bytes and at most 16
 * bytes of hash index each) and V2_TLOG_MAX_R removals (48 bytes); there
 * are at most two generations, the open one and the frozen one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/log.h"
#include "tstate.h"

/* ---- the array of T */

struct tmem *tmem_new(size_t n)
{
	struct tmem *m = malloc(sizeof(*m) + (n ? n : 1) * sizeof(m->v[0]));

	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->n = n;
	return m;
}

void tmem_put(struct tmem *m)
{
	if (m && atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

static struct tmem *tmem_get(struct tmem *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

/* Index of key in m, or -1. */
static ssize_t tmem_find(const struct tmem *m, const uint8_t key[V2_TKEY_LEN])
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = tkey_cmp(m->v[mid].b, key);

		if (cmp == 0)
			return (ssize_t)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * The merge of old with the record v: old's entries, each replaced or
 * deleted by the record's change of the same key, and the record's other
 * changes.  The record's puts and deletes are each sorted and disjoint
 * (tlog_parse checked), so they are walked as one sorted stream.  Returns
 * the count; fills out (room for that count) unless NULL.
 */
static size_t apply_merge(const struct tmem *old, const struct tlog_view *v,
			  bool keep_tombstones, struct tent *out)
{
	size_t i = 0, n = 0;
	uint32_t p = 0, q = 0;

	while (i < old->n || p < v->h.p || q < v->h.q) {
		const uint8_t *pk = p < v->h.p ? v->puts + (size_t)p * V2_TENTRY_LEN : NULL;
		const uint8_t *dk = q < v->h.q ? v->dels + (size_t)q * V2_TKEY_LEN : NULL;
		bool is_put = pk && (!dk || tkey_cmp(pk, dk) < 0);
		const uint8_t *ck = is_put ? pk : dk;
		int cmp = i == old->n ? 1 : !ck ? -1 : tkey_cmp(old->v[i].b, ck);

		if (cmp < 0) {
			if (out)
				out[n] = old->v[i];
			n++;
			i++;
			continue;
		}
		if (cmp == 0)
			i++;            /* replaced or deleted */
		if (is_put) {
			if (out)
				memcpy(out[n].b, pk, V2_TENTRY_LEN);
			n++;
			p++;
			continue;
		}
		q++;
		if (keep_tombstones) {
			if (out)
				tent_tombstone(dk, &out[n]);
			n++;
		}
	}
	return n;
}

size_t tstate_count_after(struct table *t, const struct tlog_view *v)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = apply_merge(t->mem, v, t->nlevels > 0, NULL);
	pthread_rwlock_unlock(&t->lock);
	return n;
}

int tstate_apply(struct table *t, const struct tlog_view *v)
{
	bool keep = t->nlevels > 0;
	struct tmem *m;
	size_t n;

	pthread_rwlock_wrlock(&t->lock);
	n = apply_merge(t->mem, v, keep, NULL);
	if (n > t->p.e_c) {
		pthread_rwlock_unlock(&t->lock);
		return -EFBIG;
	}
	m = tmem_new(n);
	if (!m) {
		pthread_rwlock_unlock(&t->lock);
		return -ENOMEM;
	}
	apply_merge(t->mem, v, keep, m->v);
	tmem_put(t->mem);
	t->mem = m;
	t->gen = v->h.gen;
	memcpy(t->mac, v->mac, sizeof(t->mac));
	t->last_type = v->h.type;
	t->last_flags = v->h.flags;
	t->records++;
	if (v->h.flags & V2_TLOG_RESIDUE_CLOSED)
		t->window = (struct twindow){ 0, 0 };
	else
		t->window = (struct twindow){ v->h.residue_lo, v->h.residue_hi };
	t->last_carried = t->window;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

/* ---- the levels */

struct tlvl *tlvl_open(struct tlevel_file *f)
{
	struct tlvl *l = malloc(sizeof(*l));

	if (!l)
		return NULL;
	atomic_init(&l->refs, 1);
	l->f = f;
	return l;
}

struct tlvl *tlvl_get(struct tlvl *l)
{
	if (l)
		atomic_fetch_add(&l->refs, 1);
	return l;
}

void tlvl_put(struct tlvl *l)
{
	if (l && atomic_fetch_sub(&l->refs, 1) == 1) {
		tlevel_file_close(l->f);
		free(l);
	}
}

void tstate_set_levels(struct table *t, struct tlvl *base, struct tlvl *delta)
{
	struct tlvl *newest = delta ? delta : base;
	const struct tlevel_header *h;

	if (base != t->base)
		tlvl_put(t->base);
	if (delta != t->delta)
		tlvl_put(t->delta);
	t->base = base;
	t->delta = delta;
	t->nlevels = (base != NULL) + (delta != NULL);
	t->base_gen = base ? tlevel_file_header(base->f)->gen : 0;
	t->delta_gen = delta ? tlevel_file_header(delta->f)->gen : 0;
	if (!newest)
		return;
	h = tlevel_file_header(newest->f);
	t->level_gen = h->gen;
	/* the chain goes on from the level (after a fold: unchanged) */
	t->gen = h->gen;
	memcpy(t->mac, h->anchor, COFFRE_MAC_LEN);
	t->last_carried = (struct twindow){ h->residue_lo, h->residue_hi };
	t->records = 0;
	if (t->mem->n) {
		struct tmem *m = tmem_new(0);

		if (m) {              /* else the old array stays: a fold's
				       * entries are also in its level */
			tmem_put(t->mem);
			t->mem = m;
		}
	}
}

/* ---- the table object */

void table_params_default(struct table_params *p)
{
	p->e_c = TABLE_E_C;
	p->fold_records = TABLE_FOLD_RECORDS;
	p->delta_ratio = TABLE_DELTA_RATIO;
	p->cache_bytes = TABLE_CACHE_DEFAULT;
}

int table_alloc(int mdir, const struct table_keys *k,
		const struct table_params *p, struct table **out)
{
	struct table *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if (p)
		t->p = *p;
	else
		table_params_default(&t->p);
	if (!t->p.e_c || !t->p.fold_records || !t->p.delta_ratio) {
		free(t);
		return -EINVAL;
	}
	t->mem = tmem_new(0);
	t->cache = tcache_new(t->p.cache_bytes);
	t->mdir = dup(mdir);
	if (!t->mem || !t->cache || t->mdir < 0) {
		int err = t->mdir < 0 ? -errno : -ENOMEM;

		if (t->mdir >= 0)
			close(t->mdir);
		tmem_put(t->mem);
		tcache_free(t->cache);
		free(t);
		return err;
	}
	t->k = *k;
	pthread_rwlock_init(&t->lock, NULL);
	pthread_rwlock_init(&t->slock, NULL);
	pthread_mutex_init(&t->commit_mu, NULL);
	*out = t;
	return 0;
}

void table_close(struct table *t)
{
	if (!t)
		return;
	tgen_free(t->open);
	tgen_free(t->frozen);
	tmem_put(t->mem);
	tlvl_put(t->delta);
	tlvl_put(t->base);
	tcache_free(t->cache);
	close(t->mdir);
	pthread_rwlock_destroy(&t->lock);
	pthread_rwlock_destroy(&t->slock);
	pthread_mutex_destroy(&t->commit_mu);
	free(t);
}

void table_info(struct table *t, struct table_info *i)
{
	memset(i, 0, sizeof(*i));
	pthread_rwlock_rdlock(&t->slock);
	if (t->open) {
		i->open_gen = t->open->gen;
		i->open_changes = t->open->n;
	}
	if (t->frozen)
		i->frozen_gen = t->frozen->gen;
	pthread_rwlock_rdlock(&t->lock);
	i->gen = t->gen;
	i->base = t->base_gen;
	i->delta = t->delta_gen;
	i->records = t->records;
	i->last_type = t->last_type;
	i->last_flags = t->last_flags;
	i->window = t->window;
	i->entries = t->mem->n;
	i->folds_delta = t->folds_delta;
	i->folds_base = t->folds_base;
	pthread_rwlock_unlock(&t->lock);
	tcache_stats(t->cache, &i->cache);
	pthread_rwlock_unlock(&t->slock);
}

/* ---- lookups and ranges in T */

int table_get(struct table *t, const uint8_t key[V2_TKEY_LEN], struct tent *e)
{
	ssize_t i;
	int err = -ENOENT;

	/* A fold holds the write lock while it runs: lookups wait for it
	 * (concurrency during folds can come later). */
	pthread_rwlock_rdlock(&t->lock);
	i = tmem_find(t->mem, key);
	if (i >= 0) {
		*e = t->mem->v[i];
		err = 0;
	}
	if (i < 0 && t->delta)
		err = tlevel_file_get(t->delta->f, key, e);
	if (i < 0 && err == -ENOENT && t->base)
		err = tlevel_file_get(t->base->f, key, e);
	pthread_rwlock_unlock(&t->lock);
	if (!err && tent_is_tombstone(e))
		err = -ENOENT;
	if (err)
		memset(e, 0, sizeof(*e));
	return err;
}

/* A range: the merge of T's sources, holding the array and the levels it
 * started on. */
struct range_src {
	struct tsrc s;
	struct tsrc *merge;
	struct tmem *mem;
	struct tlvl *delta, *base;
};

static int range_next(struct tsrc *s, struct tent *e)
{
	return tsrc_next(((struct range_src *)s)->merge, e);
}

static void range_free(struct tsrc *s)
{
	struct range_src *r = (struct range_src *)s;

	tsrc_free(r->merge);
	tmem_put(r->mem);
	tlvl_put(r->delta);
	tlvl_put(r->base);
	free(r);
}

int table_range(struct table *t, const uint8_t from[V2_TKEY_LEN],
		struct tsrc **out)
{
	struct range_src *r = calloc(1, sizeof(*r));
	struct tsrc *srcs[3] = { NULL, NULL, NULL };
	size_t n = 0;
	int err;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	pthread_rwlock_rdlock(&t->lock);
	r->mem = tmem_get(t->mem);
	r->delta = tlvl_get(t->delta);
	r->base = tlvl_get(t->base);
	pthread_rwlock_unlock(&t->lock);
	/* newest first: memory, the delta, the base */
	err = tsrc_array(r->mem->v, r->mem->n, from, &srcs[n]);
	if (!err && r->delta && !(err = tlevel_file_iter(r->delta->f, from,
							 &srcs[n + 1])))
		n++;
	if (!err && r->base && !(err = tlevel_file_iter(r->base->f, from,
							&srcs[n + 1])))
		n++;
	if (!err)
		err = tsrc_merge(srcs, ++n, true, &r->merge);
	else
		for (size_t j = 0; j <= n; j++)
			tsrc_free(srcs[j]);
	if (err) {
		r->merge = NULL;
		range_free(&r->s);
		return err;
	}
	r->s.next = range_next;
	r->s.free = range_free;
	*out = &r->s;
	return 0;
}

/* ---- a generation's changes */

#define TGEN_SLOTS_MIN 64

struct tgen *tgen_new(uint64_t gen)
{
	struct tgen *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->gen = gen;
	return g;
}

void tgen_free(struct tgen *g)
{
	if (!g)
		return;
	free(g->v);
	free(g->slot);
	free(g->rem);
	free(g);
}

/* FNV-1a of the key, tombstone bit cleared. */
static size_t key_hash(const uint8_t key[V2_TKEY_LEN])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < V2_TKEY_LEN; i++) {
		h ^= i ? key[i] : (uint8_t)(key[0] & ~V2_TOMBSTONE);
		h *= 0x100000001b3ull;
	}
	return (size_t)(h ^ h >> 29);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t tgen_slot(const struct tgen *g, const uint8_t key[V2_TKEY_LEN])
{
	size_t mask = g->nslot - 1, s = key_hash(key) & mask;

	while (g->slot[s] && tkey_cmp(g->v[g->slot[s] - 1].b, key) != 0)
		s = (s + 1) & mask;
	return s;
}

/* key's change in g: by the index while g is open, by bisection once
 * frozen (sorted, index dropped). */
static const struct tent *tgen_find(const struct tgen *g,
				    const uint8_t key[V2_TKEY_LEN])
{
	size_t s, lo = 0, hi;

	if (!g)
		return NULL;
	if (g->nslot) {
		s = tgen_slot(g, key);
		return g->slot[s] ? &g->v[g->slot[s] - 1] : NULL;
	}
	hi = g->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = tkey_cmp(g->v[mid].b, key);

		if (cmp == 0)
			return &g->v[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Room for one more change: the array and an index at most half full. */
static int tgen_reserve(struct tgen *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : TGEN_SLOTS_MIN;
		struct tent *v = realloc(g->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g->v = v;
		g->cap = cap;
	}
	if (2 * (g->n + 1) > g->nslot) {
		size_t nslot = g->nslot ? 2 * g->nslot : 2 * TGEN_SLOTS_MIN;
		uint32_t *old = g->slot;

		g->slot = calloc(nslot, sizeof(*g->slot));
		if (!g->slot) {
			g->slot = old;
			return -ENOMEM;
		}
		g->nslot = nslot;
		for (size_t i = 0; i < g->n; i++)
			g->slot[tgen_slot(g, g->v[i].b)] = (uint32_t)(i + 1);
		free(old);
	}
	return 0;
}

/* Put or replace the change e (a tombstone: a delete).  0, 1 at E_s,
 * -ENOSPC when full. */
static int tgen_set(struct tgen *g, const struct tent *e)
{
	size_t s;
	int err;

	if (g->nslot) {
		s = tgen_slot(g, e->b);
		if (g->slot[s]) {
			g->v[g->slot[s] - 1] = *e;
			return g->n >= TABLE_E_S;
		}
	}
	if (g->n >= V2_TLOG_MAX_PQ)
		return -ENOSPC;
	err = tgen_reserve(g);
	if (err)
		return err;
	g->v[g->n] = *e;
	g->slot[tgen_slot(g, e->b)] = (uint32_t)(g->n + 1);
	g->n++;
	return g->n >= TABLE_E_S;
}

static int tgen_add_removal(struct tgen *g, const struct tlog_removal *r)
{
	if (g->nrem >= V2_TLOG_MAX_R)
		return -ENOSPC;
	if (g->nrem == g->caprem) {
		size_t cap = g->caprem ? 2 * g->caprem : TGEN_SLOTS_MIN;
		struct tlog_removal *v = realloc(g->rem, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		g->rem = v;
		g->caprem = cap;
	}
	g->rem[g->nrem++] = *r;
	return g->nrem >= TABLE_E_S;
}

static int cmp_tent(const void *a, const void *b)
{
	return tent_cmp(a, b);
}

static int cmp_removal(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tlog_removal));
}

void tgen_sort(struct tgen *g)
{
	size_t w = 0;

	/* the index is no longer needed once a generation is frozen */
	free(g->slot);
	g->slot = NULL;
	g->nslot = 0;
	if (g->n)                       /* qsort: never a NULL array */
		qsort(g->v, g->n, sizeof(*g->v), cmp_tent);
	if (g->nrem)
		qsort(g->rem, g->nrem, sizeof(*g->rem), cmp_removal);
	for (size_t i = 0; i < g->nrem; i++)
		if (!w || cmp_removal(&g->rem[w - 1], &g->rem[i]))
			g->rem[w++] = g->rem[i];
	g->nrem = w;
}

/* ---- the session's changes */

static int change(struct table *t, const struct tent *e)
{
	int rc;

	pthread_rwlock_wrlock(&t->slock);
	rc = t->open ? tgen_set(t->open, e) : -ENXIO;
	pthread_rwlock_unlock(&t->slock);
	return rc;
}

int table_put(struct table *t, const struct tent *e)
{
	struct tentry d;

	if (tent_to(e, &d) != 0 || d.tombstone)
		return -EINVAL;
	return change(t, e);
}

int table_del(struct table *t, const uint8_t key[V2_TKEY_LEN])
{
	struct tent e;
	struct tentry d;

	if (key[0] & V2_TOMBSTONE)
		return -EINVAL;
	tent_tombstone(key, &e);
	if (tent_to(&e, &d) != 0)
		return -EINVAL;
	return change(t, &e);
}

int table_remove(struct table *t, const struct tlog_removal *r)
{
	int rc;

	pthread_rwlock_wrlock(&t->slock);
	rc = t->open ? tgen_add_removal(t->open, r) : -ENXIO;
	pthread_rwlock_unlock(&t->slock);
	return rc;
}

int table_get_live(struct table *t, const uint8_t key[V2_TKEY_LEN],
		   struct tent *e)
{
	const struct tent *c;

	pthread_rwlock_rdlock(&t->slock);
	c = tgen_find(t->open, key);
	if (!c)
		c = tgen_find(t->frozen, key);
	if (c)
		*e = *c;
	pthread_rwlock_unlock(&t->slock);
	if (!c)
		return table_get(t, key, e);
	if (tent_is_tombstone(e)) {
		memset(e, 0, sizeof(*e));
		return -ENOENT;
	}
	return 0;
}
