/*
 * src/table: the version table of format 2 (doc/FORMAT.md §12; DESIGN.md
 * "Format 2", step 4 of the implementation plan).  It sits between
 * src/format (the bytes of entries, blocks, records and intents) and
 * src/keys: it is handed its key and the volume's uuid, and never sees a
 * DEK.  Until the switch (step 14) nothing but its tests calls it.
 *
 * Pieces, one file each:
 *   tent.c     raw 80-byte entries (what memory and disk hold)
 *   cache.c    the bounded cache of verified 4 KiB blocks (§12.6)
 *   level.c    a base or delta file: open, look up, iterate (§12.2)
 *   lwrite.c   writing a level, streamed (§12.2)
 *   merge.c    merging sorted sources, newest first
 *   chain.c    loading: levels, records, leftovers, G, the window (§12.5)
 *   state.c    the committed state T and the session state (§12.5–§12.7)
 *   commit.c   freezing a generation, log.<g> (§12.3)
 *   fold.c     folding records into a delta or a base (§12.6)
 *   intents.c  write intents: declare, make durable, carry, scan (§12.4)
 *
 * Entries travel as their 80 encoded bytes (struct tent), ordered by
 * tkey_cmp on bytes 0..40 with the tombstone bit cleared; decode one with
 * tentry_parse when a field is needed.  Errors: negative errno; -EIO is
 * tamper found in storage (a block or record that fails its MAC or its
 * rules), always with a log line naming the file.
 */
#ifndef COFFRE_TABLE_H
#define COFFRE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/v2/names.h"
#include "coffre/v2/table.h"

/* The volume's identity and table key (FORMAT.md §11), owned by the
 * caller (locked memory) and outliving every table object using them. */
struct table_keys {
	uint8_t uuid[COFFRE_ID_LEN];
	const uint8_t *key;            /* COFFRE_KEY_LEN bytes */
};

/* ---- tent.c: raw entries */

struct tent {
	uint8_t b[V2_TENTRY_LEN];
};
/* tkey_cmp of the two entries' keys. */
int tent_cmp(const struct tent *a, const struct tent *b);
static inline bool tent_is_tombstone(const struct tent *e)
{
	return (e->b[0] & V2_TOMBSTONE) != 0;
}
/* Encode / decode through src/format (every rule checked). */
int tent_from(const struct tentry *in, struct tent *out);
int tent_to(const struct tent *in, struct tentry *out);
/* The tombstone of a key (bytes 0..40 of an entry; value zero). */
void tent_tombstone(const uint8_t key[V2_TKEY_LEN], struct tent *out);
/* The smallest key of a range: kind, then the first `len` key bytes
 * (a directory's NAME listing: kind NAME, its 16-byte id). */
void tent_range_start(uint8_t kind, const void *prefix, size_t len,
		      uint8_t out[V2_TKEY_LEN]);
/* Whether e's key starts with that kind and prefix. */
bool tent_in_range(const struct tent *e, uint8_t kind, const void *prefix,
		   size_t len);

/* ---- tread.c: a whole manifest file */

/* Read name in mdir whole (io_read_alloc: at most max bytes): 0, or -EIO
 * with *why the reason when what is there is tamper (a symlink, not a
 * regular file, too large), or the error as is (-ENOENT, -EAGAIN: it grew
 * while read, a resource error) with *why NULL. */
int tread_whole(int mdir, const char *name, size_t max, uint8_t **buf,
		size_t *len, const char **why);

/* ---- a sorted source of entries (levels, memory, merges) */

struct tsrc {
	/* 1 with *e filled, 0 at the end, or -errno (-EIO: tamper). */
	int (*next)(struct tsrc *s, struct tent *e);
	void (*free)(struct tsrc *s);
};
static inline int tsrc_next(struct tsrc *s, struct tent *e)
{
	return s->next(s, e);
}
static inline void tsrc_free(struct tsrc *s)
{
	if (s)
		s->free(s);
}
/* A source over n sorted entries in memory (not copied: they must stay
 * until the source is freed). */
int tsrc_array(const struct tent *v, size_t n, const uint8_t from[V2_TKEY_LEN],
	       struct tsrc **out);

/* ---- merge.c */

/* Merge n sources, srcs[0] the newest: for a key in several, the newest
 * wins; with drop_tombstones, a winning tombstone hides the key (the
 * committed state, a fold into a base), else it is passed on (a fold
 * into a delta).  Takes ownership of the sources.  A source that goes
 * backwards (a key not greater than its previous one) is tamper: -EIO. */
int tsrc_merge(struct tsrc **srcs, size_t n, bool drop_tombstones,
	       struct tsrc **out);

/* ---- cache.c: verified blocks, bounded (§12.6) */

struct tcache;
struct tcache_stats {
	size_t bytes, max_bytes;
	uint64_t hits, misses, evictions;
};
/* At most max_bytes of blocks (table_cache=, default 12 MiB), each block
 * counted with its overhead (about 4.2 KiB), the hash buckets too.  One
 * mutex; every function but new and free is thread-safe, and a NULL
 * cache caches nothing. */
struct tcache *tcache_new(size_t max_bytes);
void tcache_free(struct tcache *c);
/* A unique owner id for a level opened once (blocks of a closed level
 * are never returned to another). */
uint64_t tcache_owner(struct tcache *c);
/* Copy block (owner, index) into out: true if cached. */
bool tcache_get(struct tcache *c, uint64_t owner, uint64_t index,
		uint8_t out[V2_TBLOCK_LEN]);
/* Cache a block that has just verified. */
void tcache_put(struct tcache *c, uint64_t owner, uint64_t index,
		const uint8_t blk[V2_TBLOCK_LEN]);
/* Forget every block of owner (its level was closed). */
void tcache_drop(struct tcache *c, uint64_t owner);
void tcache_stats(struct tcache *c, struct tcache_stats *s);

/* ---- level.c: reading a level */

struct tlevel_file;
/* Open base.<gen> or delta.<gen> in the manifest directory mdir (by
 * io_open_untrusted: a regular file of exactly the size its header
 * gives), verify block 0 (the header, whose gen and level must be the
 * name's) and the top index block, and keep those two in memory. */
int tlevel_file_open(int mdir, uint8_t level, uint64_t gen,
		     const struct table_keys *k, struct tcache *c,
		     struct tlevel_file **out);
void tlevel_file_close(struct tlevel_file *f);
const struct tlevel_header *tlevel_file_header(const struct tlevel_file *f);
/* The MAC of block 0 (a delta names its base by it). */
const uint8_t *tlevel_file_mac0(const struct tlevel_file *f);
/* Look key up: 0 and *e (a tombstone, in a delta, says "deleted"),
 * -ENOENT, or -EIO (a block that fails its MAC or whose keys are out of
 * order or disagree with the index). */
int tlevel_file_get(struct tlevel_file *f, const uint8_t key[V2_TKEY_LEN],
		    struct tent *e);
/* The entries from the first key >= from (NULL: the first), in order.
 * Lookups and iterators may run in several threads at once (an open
 * level does not change); free every iterator before closing. */
int tlevel_file_iter(struct tlevel_file *f, const uint8_t from[V2_TKEY_LEN],
		     struct tsrc **out);

/* ---- lwrite.c: writing a level */

struct tlevel_writer;
/* Begin base.<gen> (level 0) or delta.<gen> (level 1) in mdir: a private
 * temp file `.coffre.tmp.<name>` (O_EXCL; a stale one is removed first);
 * the first keys of data blocks spill to another, unlinked at once, past
 * 64 blocks, so memory stays bounded (about 10 KiB) whatever the entry
 * count. */
int tlevel_writer_new(int mdir, uint8_t level, uint64_t gen,
		      const struct table_keys *k, struct tlevel_writer **out);
/* Append an entry, keys strictly increasing; a tombstone only in a delta.
 * -EINVAL refuses that entry (the writer goes on); an I/O error is kept
 * and returned again, by finish too. */
int tlevel_writer_add(struct tlevel_writer *w, const struct tent *e);
/* Finish: h gives anchor, residue and (a delta) base gen and base MAC;
 * the writer fills magic, level, uuid, gen, N, Dn and Fn.  Index tiers,
 * header, MACs; fsync; linked into place (-EEXIST if the name exists:
 * never replaced), the temp removed; fsync of mdir.  At least one entry
 * (N >= 1).  mac0 (may be NULL) gets the new block 0's MAC.  The writer
 * is freed either way, and on failure nothing is left in mdir. */
int tlevel_writer_finish(struct tlevel_writer *w, const struct tlevel_header *h,
			 uint8_t mac0[COFFRE_MAC_LEN]);
void tlevel_writer_abort(struct tlevel_writer *w);
/* First keys spilled to the writer's temp file so far (tests: the memory
 * bound). */
uint64_t tlevel_writer_spilled(const struct tlevel_writer *w);

/* ---- intents.c: write intents intent.<g> (§12.4, §14.2 step 1) */

/*
 * The daemon's intents: declare the groups a write of generation g is about
 * to overwrite (the range policy of §12.4), make them durable with one
 * fdatasync shared by concurrent declarers, carry the groups still being
 * written into the next generation, retire a committed generation's file.
 * Thread safe.  Memory: at most two generations (the open one and the one
 * being committed), each tracking at most max_objects objects of at most
 * TINTENTS_RANGES merged ranges: 536 B per object and 8 B of hash slots,
 * allocated when the generation opens (544 KiB per generation at the
 * default TINTENTS_OBJECTS, 1.1 MiB in all).  Forgetting is always safe
 * (a group forgotten is declared again), so past max_objects the
 * generation's table is emptied and past TINTENTS_RANGES an object's
 * smallest range is dropped.  open, carry, retire and free are the commit
 * thread's; declare is any writer's.
 */
#define TINTENTS_RANGES 32             /* merged ranges per object */
#define TINTENTS_OBJECTS 1024          /* default max_objects */
/* Records in one intent.<g>, written or read (6 MiB): a declare past it is
 * refused with -EFBIG (the caller commits early and retries in g + 1). */
#define TINTENTS_RECORDS_MAX 131072u
#define TINTENTS_SEQ_RUN 16            /* "the next 16" */
#define TINTENTS_ALIGNED 64            /* "the aligned range of 64" */

struct tintents;
struct tintents_stats {
	uint64_t declares;             /* tintents_declare calls */
	uint64_t appends;              /* records written */
	uint64_t syncs;                /* fdatasyncs */
	uint64_t resets;               /* tables emptied (max_objects reached) */
	size_t objects;                /* objects tracked, both generations */
	size_t bytes;                  /* memory held */
};

/* In the manifest directory mdir (not owned, kept open by the caller). */
int tintents_new(int mdir, const struct table_keys *k, size_t max_objects,
		 struct tintents **out);
/* Closes the files (they stay; tintents_retire removes them). */
void tintents_free(struct tintents *t);
/* Open generation g (> every generation opened before): writes of g may
 * declare from now on.  A generation older than the one before is
 * dropped from memory (after its declarers have returned). */
int tintents_open(struct tintents *t, uint64_t g);
/*
 * Before a write of generation g (open, or the one before it, still
 * finishing) into groups first .. first + count - 1 of a committed object:
 * declare what the policy of §12.4 says, and return once every group is
 * covered by a durable record (intent.<g> created on first use,
 * O_CREAT | O_EXCL | O_NOFOLLOW, 0600, and mdir fsynced).  0; -ESTALE (g
 * is not held), -EFBIG (the file is full), -EIO (a file found at
 * intent.<g> before its creation, or an fdatasync that failed: every
 * later declare of g fails too), or another -errno.
 */
int tintents_declare(struct tintents *t, uint64_t g,
		     const uint8_t id[COFFRE_ID_LEN], uint32_t first,
		     uint32_t count);
/* At the freeze of g - 1: append to intent.<g> (g open) the n ranges
 * (kind V2_INTENT_CONTENT) written in g - 1 of objects still open for
 * writing, adjacent ranges of one object given in order merged, and make
 * them durable with one fdatasync; a declare of g into one of them waits
 * for that fdatasync only.  Errors as tintents_declare. */
int tintents_carry(struct tintents *t, uint64_t g, const struct intent *v,
		   size_t n);
/* A commit of a generation >= g is durable (or the recovery walk closed
 * the window holding g): drop g from memory and remove intent.<g>
 * (absent: 0).  -EBUSY if g is the open generation. */
int tintents_retire(struct tintents *t, uint64_t g);
void tintents_stats(struct tintents *t, struct tintents_stats *s);
/* Records of intent.<g> known durable (0 if g is not held). */
uint32_t tintents_durable(struct tintents *t, uint64_t g);
/* Tests: called before each fdatasync, outside the mutex, with the
 * records it makes durable: those from index `from` up to `to`. */
extern void (*tintents_test_before_sync)(int fd, uint32_t from, uint32_t to);

/*
 * Recovery (§14.5 step 3): the ranges declared in intent.<g> (opened by
 * io_open_untrusted, at most TINTENTS_RECORDS_MAX records), the leading
 * whole records that verify (a torn append ends the file), merged per
 * object: sorted by object id then first group, overlapping and adjacent
 * ranges joined.  *out (malloc'd, NULL if *n is 0) is the caller's to
 * free.  0; -ENOENT (no file: nothing declared in g); -EIO and a log line
 * for tamper (not a regular file, too large, a record that verifies but
 * breaks a field rule); or another -errno.
 */
int tintents_scan(int mdir, const struct table_keys *k, uint64_t g,
		  struct intent **out, size_t *n);

/* ---- chain.c, state.c, commit.c, fold.c: loading, the committed state T,
 * the session, folds (§12.5–§12.7). */

#define TABLE_E_C 65536u               /* entries in memory, §12.6 */
#define TABLE_E_S 32768u               /* changes per generation: early commit, §12.6 */
#define TABLE_FOLD_RECORDS 1024u       /* records after the newest level */
#define TABLE_LIST_MAX 65536u          /* names in .coffre/manifest/ */
#define TABLE_DELTA_RATIO 4u           /* a delta past N(base) / 4: a base */
#define TABLE_CACHE_DEFAULT ((size_t)12 << 20)  /* table_cache= */

/* The limits of §12.6, settable for tests (table_params_default gives
 * the spec's).  A writer and every later loader of a volume must use the
 * same e_c and fold_records: a loader finding more is tamper. */
struct table_params {
	uint32_t e_c;                  /* entries in memory: TABLE_E_C */
	uint32_t fold_records;         /* records after the newest level */
	uint32_t delta_ratio;          /* fold into a base when the new delta
					* would hold more than N(base) / this */
	size_t cache_bytes;            /* the block cache (table_cache=) */
};
void table_params_default(struct table_params *p);

/* The names of .coffre/manifest/ (§12.5 step 1), each kind's generations
 * in increasing order, and the temp files (.coffre.tmp.*: never read,
 * removed by a loader that may write). */
struct tlist {
	uint64_t *gens[N2_MF_COUNT];   /* by enum names2_manifest */
	size_t n[N2_MF_COUNT];
	char **tmp;
	size_t ntmp;
};
/* List mdir: any other name (or more than TABLE_LIST_MAX) is tamper:
 * -EIO and a log line. */
int tlist_read(int mdir, struct tlist *l);
void tlist_free(struct tlist *l);

/* What a delta's header says of its base (read by the level reader). */
struct tdelta_base {
	uint64_t gen;
	uint8_t mac[COFFRE_MAC_LEN];
};
typedef int (*tdelta_base_fn)(void *arg, uint64_t delta_gen,
			      struct tdelta_base *b);
/* §12.5 step 2 as a pure function of the listing: base = the highest
 * base; delta = the highest delta above it naming it (gen and base_mac0,
 * the MAC of that base's block 0, NULL without a base).  fn is asked
 * only for deltas above the base.  -EIO (logged): a delta without any
 * base, one naming the base's gen with another MAC, or a newer base than
 * the newest present.  Every other base and delta is a leftover. */
struct tchoice {
	uint64_t base, delta;          /* 0: none */
};
int tchain_choose(const struct tlist *l, const uint8_t *base_mac0,
		  tdelta_base_fn fn, void *arg, struct tchoice *c);

/* The residue window W (§12.7), [lo, hi]; lo == 0: none. */
struct twindow {
	uint64_t lo, hi;
};
/* W at load from the last record (or level) of generation g: its clean
 * flag, its residue-closed flag and the window it carries.  -EOVERFLOW if
 * g + 2 is not a valid generation. */
int twindow_compute(uint64_t g, bool clean, bool closed, uint64_t lo,
		    uint64_t hi, struct twindow *w);

struct table;
struct table_info {
	uint64_t gen;                  /* G (§12.5 step 4): 0 for an empty table */
	uint64_t base, delta;          /* levels' gens, 0: none */
	uint32_t records;              /* records since the newest level */
	uint8_t last_type;             /* of log.<gen>; 0: none */
	uint16_t last_flags;
	struct twindow window;         /* W: carried by every record until closed */
	size_t entries;                /* in memory (tombstones included) */
	uint64_t open_gen, frozen_gen; /* session: 0 if none */
	size_t open_changes;
	uint64_t folds_delta, folds_base;  /* folds made by this table */
	struct tcache_stats cache;     /* the levels' block cache */
};

/* Load the table of the manifest directory mdir (dup'd; the caller keeps
 * its own): §12.5 steps 1-3 and 5, the base and delta opened (their
 * header and top block verified, every other block when read).  Step 4
 * (against the HSMs' local_gen and the bucket) is the caller's, from
 * table_info's gen.  may_write: leftovers and temp files are removed (and
 * mdir fsynced).  Errors: -EIO tamper ("version table tampered: log.N"),
 * or the -errno of a read.  p: NULL for the spec's limits. */
int table_load(int mdir, const struct table_keys *k, bool may_write,
	       struct table **out);
int table_load_params(int mdir, const struct table_keys *k, bool may_write,
		      const struct table_params *p, struct table **out);
/* Free every range source first (they read through the table's cache). */
void table_close(struct table *t);
void table_info(struct table *t, struct table_info *i);

/* The committed state T: key's entry (0), -ENOENT, or -EIO. */
int table_get(struct table *t, const uint8_t key[V2_TKEY_LEN], struct tent *e);
/* T's entries from the first key >= from (NULL: all), tombstones dropped.
 * The source keeps the state it started on (commits go on meanwhile). */
int table_range(struct table *t, const uint8_t from[V2_TKEY_LEN],
		struct tsrc **out);

/* A session (§12.7, §14.4): write the start record log.<s> (type 2,
 * carrying W; s > G, s >= G + 3 if W is open) and open generation s + 1.
 * The reservation in the HSMs is the caller's. */
int table_session_start(struct table *t, uint64_t s);
/* Changes to the open generation; a change to a key already changed in
 * it replaces that change.  0, 1 when the generation has reached E_s
 * changes (an early commit is due), -ENOSPC when it is full (§12.3's
 * record bounds: the caller waits for the commit), -EINVAL, -ENXIO
 * without a session. */
int table_put(struct table *t, const struct tent *e);
int table_del(struct table *t, const uint8_t key[V2_TKEY_LEN]);
int table_remove(struct table *t, const struct tlog_removal *r);
/* Through the session: the open generation, the frozen one, then T. */
int table_get_live(struct table *t, const uint8_t key[V2_TKEY_LEN],
		   struct tent *e);
/* Freeze the open generation g (new changes go to g + 1): *g gets it;
 * -EBUSY if one is frozen and not yet committed. */
int table_freeze(struct table *t, uint64_t *g);
/* Commit the frozen generation: log.<g> (temp, fsync, link at its name
 * never over a file, fsync of mdir) with flags (V2_TLOG_CLEAN,
 * V2_TLOG_RESIDUE_CLOSED) and W, then apply it to T.  Folds first when
 * §12.6 says so (fold.c; a start record too).  -ENOENT if nothing is
 * frozen; -EFBIG if the record alone would take T's memory past E_c (the
 * caller commits earlier); on error nothing is applied and g stays
 * frozen (after a fold that failed past its link, the table must be
 * closed and loaded again). */
int table_commit(struct table *t, uint16_t flags);

/* Tests: called by a fold at each step past the new level's link (step
 * 0: linked, nothing removed; step i: i files removed); non-zero stops
 * the fold there with -ECANCELED, as a crash would. */
extern int (*table_test_fold_step)(unsigned step);

#endif
