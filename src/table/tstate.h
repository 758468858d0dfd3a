/*
 * Private to src/table: the table object shared by chain.c (loading),
 * state.c (the committed state T and the session state), commit.c
 * (start records, freezing, commits) and fold.c (folds).  doc/FORMAT.md
 * §12.5–§12.7.
 */
#ifndef COFFRE_TABLE_TSTATE_H
#define COFFRE_TABLE_TSTATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "coffre/table.h"

/* The entries of the records since the newest level, sorted, immutable
 * once built: applying a record builds the next one.  A range source
 * holds a reference to the one it started on. */
struct tmem {
	atomic_size_t refs;
	size_t n;                      /* <= TABLE_E_C */
	struct tent v[];
};

/* An open level, shared by T and the range sources started on it: closed
 * when the last reference goes (a fold replaces it meanwhile). */
struct tlvl {
	atomic_size_t refs;
	struct tlevel_file *f;
};

/* The changes of one generation: one per key (a put, or a tombstone for a
 * delete), in arrival order with a hash index, and the removals.  At most
 * V2_TLOG_MAX_PQ changes and V2_TLOG_MAX_R removals (§12.3). */
struct tgen {
	uint64_t gen;
	struct tent *v;
	size_t n, cap;
	uint32_t *slot;                /* open addressing: index + 1, 0 empty */
	size_t nslot;
	struct tlog_removal *rem;
	size_t nrem, caprem;
};

struct table {
	struct table_keys k;           /* uuid copied, key pointer borrowed */
	int mdir;
	struct table_params p;
	struct tcache *cache;          /* the levels' verified blocks */

	/* T, under lock: lookups shared, apply exclusive */
	pthread_rwlock_t lock;
	struct tmem *mem;
	/* the levels (NULL: none); the newest one's gen and anchor are where
	 * the first record chains */
	struct tlvl *base, *delta;
	size_t nlevels;
	uint64_t base_gen, delta_gen;
	uint64_t level_gen;
	uint64_t folds_delta, folds_base;
	/* the chain's tail: the last record (or the level) */
	uint64_t gen;
	uint8_t mac[COFFRE_MAC_LEN];
	uint8_t last_type;
	uint16_t last_flags;
	uint32_t records;
	struct twindow window;         /* carried by the next record */
	/* the window the last record (or level) carries, "residue closed"
	 * taken as none: a fold's residue fields (§12.2) */
	struct twindow last_carried;

	/* the session, under slock (taken before lock) */
	pthread_rwlock_t slock;
	bool session;
	struct tgen *open, *frozen;
	/* one commit at a time (held across the record's write) */
	pthread_mutex_t commit_mu;
};

/* state.c */
int table_alloc(int mdir, const struct table_keys *k,
		const struct table_params *p, struct table **out);
struct tmem *tmem_new(size_t n);
void tmem_put(struct tmem *m);
/* Apply a verified record to T (§12.3: its deletes, then its puts), by a
 * linear merge into a new array.  -EFBIG (T unchanged) if T's memory
 * would pass TABLE_E_C entries. */
int tstate_apply(struct table *t, const struct tlog_view *v);
/* The entries T's memory would hold once v is applied. */
size_t tstate_count_after(struct table *t, const struct tlog_view *v);
struct tgen *tgen_new(uint64_t gen);
void tgen_free(struct tgen *g);
/* Sort g's changes by key and its removals, dropping repeated removals. */
void tgen_sort(struct tgen *g);

/* An open level: a reference taken / dropped (the last closes it). */
struct tlvl *tlvl_open(struct tlevel_file *f);
struct tlvl *tlvl_get(struct tlvl *l);
void tlvl_put(struct tlvl *l);
/* Make base and delta (references handed over, either NULL) T's levels,
 * with an empty memory array: the chain's tail, level_gen/anchor and the
 * carried window become the newest level's.  The old levels' references
 * are dropped.  Under the write lock (or before the table is shared). */
void tstate_set_levels(struct table *t, struct tlvl *base, struct tlvl *delta);

/* fold.c */
/* Before writing the record v: fold the records since the newest level
 * when §12.6 says so (v would take T's memory past E_c, or fold_records
 * records follow the level).  0 (folded or nothing due), -EFBIG (v alone
 * is past E_c), -ECANCELED (the test hook), or the -errno of the fold.
 * Called under commit_mu. */
int tfold_first(struct table *t, const struct tlog_view *v);

/* chain.c */
/* "version table tampered: <name>" (one line), -EIO. */
int tchain_tamper(enum names2_manifest kind, uint64_t gen, const char *why);

#endif
