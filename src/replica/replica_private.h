/*
 * What the files of src/replica share: the replicator's state, the pending
 * queue, the journal and its backlog, bucket primitives and the worker's
 * entry points.
 *
 * Locking: r->lock guards the queue, the journal buffers and offsets, the
 * backlog, the counters and the status; the in-memory manifest (r->man)
 * belongs to the worker thread alone (and to replica_open() before the
 * worker starts).  Only the worker reads the backlog, rewrites or empties
 * the journal (so it may read the journal without the lock), and only
 * while no flush is running may r->jfd change.
 */
#ifndef COFFRE_REPLICA_PRIVATE_H
#define COFFRE_REPLICA_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "coffre/format.h"
#include "coffre/replica.h"
#include "hset.h"
#include "strmap.h"

#define TMP_NAME_LEN 48
#define REPLICA_COPY_TRIES 3
#define JCHUNK (64u << 10)              /* journal reads (replay, refill) */
#define JSPILL_FLUSH (1u << 20)         /* unwaited records flushed by then */
#define JSPILL_SET_SLOTS (1u << 15)     /* backlog path set: 768 KiB */
#define JREWRITE_SET_SLOTS (1u << 17)   /* rewrite duplicate filter: 3 MiB */

/* A journal record: u16be(len) || path || u32be(check) (jrecord.c). */
#define JREC_CHECK_LEN 4
#define JREC_SIZE(n) ((n) + 2 + JREC_CHECK_LEN)
#define JREC_MAX JREC_SIZE(COFFRE_REPLICA_PATH_MAX)
enum { JREC_OK, JREC_SHORT, JREC_BAD };
struct jrec {
	char path[COFFRE_REPLICA_PATH_MAX + 1];
	size_t len;               /* of path */
	size_t size;              /* of the record */
};

/* A pending path. */
struct qent {
	char *path;
	uint64_t gen;            /* bumped by every note */
	uint64_t taken_gen;      /* gen when the worker took it */
	uint64_t seq_first;      /* seq of the earliest unprocessed note */
	uint64_t renote_seq;     /* first note while in flight */
	uint64_t since;          /* monotonic seconds of seq_first */
	bool renoted, in_flight, journaled, light, prio;
	struct qent *prev, *next;
};

enum { QRES_OK, QRES_RETRY_TAIL, QRES_ERROR };

struct replica {
	int backing_fd;
	char *bucket_dir;
	uint8_t uuid[COFFRE_ID_LEN];
	uint8_t key[COFFRE_KEY_LEN];

	pthread_mutex_t lock;
	pthread_cond_t work_cv;      /* worker: something to do */
	pthread_cond_t done_cv;      /* sync waiters: manifest_seq moved */
	pthread_cond_t jcv;          /* journal appenders: a flush ended */
	pthread_t worker;
	bool started, stop, retry_now, scanned;

	/* queue */
	struct strmap q;
	struct qent *head[2], *tail[2];   /* [1] = key records and config */
	uint64_t noted_seq;
	int64_t manifest_seq;             /* all notes <= this are published */
	int sync_waiters;

	/* journal (group commit) */
	int jfd;
	uint8_t *jbuf, *jspare;
	size_t jlen, jcap, jspare_cap;
	uint64_t jbatch, jdone;           /* filling batch id, last flushed */
	uint64_t jfail_bits;              /* bit (batch % 64): that flush failed */
	uint64_t jsize;                   /* bytes durable in the journal */
	uint64_t jinflight;               /* bytes of the batch being flushed */
	bool jflushing;
	bool jbroken;                     /* a failed flush could not be cut */

	/* backlog: the journal from jcur on, not loaded (backlog.c) */
	size_t window;                    /* paths in memory (prio aside) */
	bool spilling;                    /* a backlog exists */
	uint64_t jcur;                    /* first record not loaded */
	uint64_t jpub;                    /* records before: in memory or in
					   * a published manifest */
	int64_t jbase;                    /* record at o: noted >= jbase + o */
	uint64_t jfloor_end, jfloor_seq;  /* records before jfloor_end: >= jfloor_seq */
	uint64_t nspill;                  /* records from jcur on (approx.) */
	uint64_t spill_since;             /* monotonic seconds it began */
	struct hset spilled;              /* paths with a record past jcur */
	uint8_t *rbuf;                    /* JCHUNK, for replay and refill */
	uint64_t jrewrite_min, jrewrite_at;   /* rewrite at this size */
	uint64_t jrewrites;               /* done (tests) */

	/* status */
	uint64_t copied, skipped, deleted, recopied, generation;
	uint64_t errors;                 /* rounds failed and backed off */
	uint64_t man_entries, man_delta;  /* the worker's manifest, as of
					   * its last step */
	enum replica_bucket_state state;
	bool suspicious;
	char last_error[256];
	char suspicious_why[256];     /* why suspicious was set: kept, shown
				       * when no later error is */

	/* worker only */
	struct mstore *man;
	size_t delta_max;                 /* fold the delta past this */
	uint64_t folds;                   /* done (tests) */
	bool man_dirty;
	unsigned backoff_ms;
	uint64_t retry_at_ms;
	uint64_t man_written_ms;
	uint64_t since_man;

	void (*hook)(void *arg, const char *relpath);
	void *hook_arg;
};

uint64_t replica_mono_ms(void);
void replica_set_error(struct replica *r, enum replica_bucket_state st,
		       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, and the manifest is suspicious from now on, for that reason
 * (a success clears last_error, not the reason). */
void replica_set_suspicious(struct replica *r, enum replica_bucket_state st,
			    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* path.c */
bool replica_path_priority(const char *relpath);

/* bucket.c: object-store primitives, paths relative to root_fd */
int bucket_open_parent(int root_fd, const char *relpath, bool create,
		       int *dfd, const char **base);
/* A new temp file in dfd opened with accmode (O_WRONLY or O_RDWR). */
int bucket_tmp_create(int dfd, char name[TMP_NAME_LEN], int accmode);
int bucket_commit(int dfd, const char *tmp, const char *base);
int bucket_remove_at(int dfd, const char *name);
int bucket_remove(int root_fd, const char *relpath);
int bucket_mkdir(int root_fd, const char *relpath);
int atomic_put(int root_fd, const char *relpath, const void *buf, size_t len);

/* queue.c (r->lock held) */
/* Note a path in memory; a path there already is merged (its earliest
 * unprocessed seq lowered to seq if that is lower). */
int queue_note_locked(struct replica *r, const char *path, bool light,
		      bool journaled, uint64_t seq, struct qent **out);
struct qent *queue_pop_locked(struct replica *r);
void queue_done_locked(struct replica *r, struct qent *e, int res);
/* Smallest seq pending (in memory or in the backlog), or noted_seq + 1
 * if nothing is. */
uint64_t queue_min_seq_locked(struct replica *r);
void queue_free_all(struct replica *r);

/* jrecord.c: one journal record */
void jrec_write(uint8_t *out, const char *path, size_t len);
/* JREC_OK (*out filled), JREC_SHORT (buf ends inside the record), or
 * JREC_BAD (bad length, check or path). */
int jrec_parse(const uint8_t *buf, size_t len, struct jrec *out);

/* journal.c (r->lock held; the waits drop it) */
#define JOURNAL_TMP ".coffre/journal.tmp"
/* Open and replay (before the worker starts). */
int journal_open(struct replica *r);
/* Buffer a note's record; it gets a new seq (*seq) and *batch is the
 * flush to wait for.  spill: the path is not kept in memory (the backlog
 * starts at this record if there was none). */
int journal_note_locked(struct replica *r, const char *path, size_t len,
			bool spill, uint64_t *seq, uint64_t *batch);
/* Wait until batch is durable: 0, or -EIO if that flush failed (its
 * records were then queued in memory). */
int journal_wait_locked(struct replica *r, uint64_t batch);
/* Buffer the record of a path past the window for the worker or the scan
 * (seq: the entry's), flushing only every JSPILL_FLUSH bytes. */
int journal_spill_locked(struct replica *r, const char *path, size_t len,
			 uint64_t seq);
/* Flush whatever is buffered and wait for it. */
int journal_flush_locked(struct replica *r);
/* fsync the directory of the journal. */
/* Open (creating) a journal file of the state directory for appending:
 * O_NOFOLLOW, non-blocking, and refused (-EINVAL) unless a regular file;
 * flags adds e.g. O_TRUNC.  Return: the fd or -errno. */
int journal_open_file(struct replica *r, const char *rel, int flags);
int journal_fsync_dir(struct replica *r);
/* Rename or unlink a file of the state directory (".coffre/x"), never
 * through a symlink (io_open_parent). */
int state_rename(struct replica *r, const char *from, const char *to);
void state_unlink(struct replica *r, const char *rel);
/* Empty the journal if nothing is pending (worker). */
int journal_compact_locked(struct replica *r);
void journal_close(struct replica *r);

/* rewrite.c (worker, r->lock held, dropped while it works) */
bool journal_rewrite_due_locked(struct replica *r);
int journal_rewrite_locked(struct replica *r);

/* backlog.c (r->lock held) */
/* Whether a path not in memory must go to the backlog. */
bool backlog_full_locked(struct replica *r, const char *path);
/* The lowest seq a record at offset o may carry. */
uint64_t backlog_seq_floor(const struct replica *r, uint64_t o);
/* The backlog begins at offset o (if it had not). */
void backlog_start_locked(struct replica *r, uint64_t o);
void backlog_end_locked(struct replica *r);
/* A batch of records landed at offset start: 0 or -EIO (failed). */
void backlog_flushed_locked(struct replica *r, const uint8_t *buf, size_t len,
			    uint64_t start, int err);
/* A note (replica_note) of a path not in memory past the window. */
int backlog_note_locked(struct replica *r, const char *path, size_t len);
/* An entry of the worker or the scan: in memory, or in the backlog. */
int backlog_add_locked(struct replica *r, const char *path, bool light,
		       uint64_t seq);
/* Load records from jcur until the window is full (worker). */
int backlog_refill_locked(struct replica *r);

/* manifest.c: the entry codec shared by manifest_parse/write and mstore.c */
#define MANIFEST_HDR_LEN 40
#define MANIFEST_MAC_LEN 32
/* An encoded entry larger than this is refused (never written: see
 * manifest_entry_from_stat). */
#define MANIFEST_ENTRY_MAX (1u << 20)
struct manifest_hdr {
	uint8_t uuid[COFFRE_ID_LEN];
	uint64_t generation, count;
};
void manifest_hdr_encode(uint8_t out[MANIFEST_HDR_LEN], const struct manifest_hdr *h);
/* 0, -EPROTO (magic), -EPROTONOSUPPORT (version) or -EINVAL. */
int manifest_hdr_parse(const uint8_t in[MANIFEST_HDR_LEN], struct manifest_hdr *h);
int manifest_entry_valid(const struct manifest_entry *e);
size_t manifest_entry_size(const struct manifest_entry *e);
void manifest_entry_encode(struct wcur *w, const struct manifest_entry *e);
/* One entry in canonical form (not its order among others). */
int manifest_entry_parse(struct rcur *c, struct manifest_entry **out);
/* Bytes of the entry that buf starts with: > 0, 0 if buf ends inside it,
 * -EINVAL if it would pass MANIFEST_ENTRY_MAX. */
ssize_t manifest_entry_span(const uint8_t *buf, size_t len);
struct manifest_entry *manifest_entry_dup(const struct manifest_entry *e);

/* mstore.c: the worker's manifest, paged (DESIGN "The worker's manifest,
 * paged").  Not thread-safe: the worker owns it. */
#define MSTORE_DELTA_MAX 65536u
struct mstore;
struct mindex;
int mstore_new(const uint8_t uuid[COFFRE_ID_LEN], struct mstore **out);
void mstore_free(struct mstore *ms);
uint64_t mstore_generation(const struct mstore *ms);
void mstore_set_generation(struct mstore *ms, uint64_t gen);
uint64_t mstore_count(const struct mstore *ms);
size_t mstore_delta_count(const struct mstore *ms);
/* The base failed its check since the last reset. */
bool mstore_broken(const struct mstore *ms);
/* Drop base and delta (keeps the generation). */
void mstore_reset(struct mstore *ms);
/* *out: an owned copy of path's entry, or NULL.  0 or -errno (-EIO: the
 * base failed its check). */
int mstore_get(struct mstore *ms, const char *path, struct manifest_entry **out);
/* 1 if path has an entry, 0 if not, or -errno. */
int mstore_has(struct mstore *ms, const char *path);
/* Takes e (freed on error). */
int mstore_put(struct mstore *ms, struct manifest_entry *e);
/* -ENOENT if path has no entry. */
int mstore_del(struct mstore *ms, const char *path);
/* Entries in path order from the first >= from; fn must not change the
 * store; a non-zero return from fn stops and is returned. */
int mstore_foreach(struct mstore *ms, const char *from,
		   int (*fn)(const struct manifest_entry *e, void *arg), void *arg);
/* Every regular-file entry with this inode number, in no order. */
int mstore_foreach_ino(struct mstore *ms, uint64_t ino,
		       int (*fn)(const struct manifest_entry *e, void *arg), void *arg);
/* Check a manifest file's MAC (pass 1) reading it from offset 0, copying
 * it to copy_fd if >= 0; *h its header.  -EBADMSG: it fails the MAC. */
int mstore_check_file(int fd, int copy_fd, const uint8_t key[COFFRE_KEY_LEN],
		      struct manifest_hdr *h);
/* Make the checked file fd (the store takes it) the base (pass 2: parse,
 * MAC again, index); the delta is dropped. */
int mstore_load(struct mstore *ms, int fd, const uint8_t key[COFFRE_KEY_LEN]);
/* Write base + delta as one manifest (the store's generation) to every
 * fd of fds, empty files, fds[0] readable.  On success fds[0] is the new
 * base (the store takes it) and the delta is empty; on error nothing
 * changes and the caller keeps its fds. */
int mstore_write(struct mstore *ms, const uint8_t key[COFFRE_KEY_LEN],
		 const int *fds, size_t n);

/* manifest_io.c (worker) */
int manifest_load(struct replica *r);
/* Write the manifest to the bucket and the mirror with the next
 * generation; the mirror becomes the store's base. */
int manifest_publish(struct replica *r, int bucket_fd);
/* Fold the delta into a new private base (no publish). */
int manifest_fold(struct replica *r);
bool manifest_stat_matches(const struct manifest_entry *e, const struct stat *st);
int manifest_entry_from_stat(int backing_fd, const char *path,
			     const struct stat *st, int fd,
			     struct manifest_entry **out);
bool manifest_entry_equal(const struct manifest_entry *a,
			  const struct manifest_entry *b);

/* scan.c (worker): reconcile the backing tree against the manifest */
int replica_scan(struct replica *r);

/* worker.c */
int replica_open_bucket(struct replica *r, int *bfd);
void *replica_worker(void *arg);

#endif
