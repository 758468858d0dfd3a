/*
 * What the files of src/replica share: the replicator's state, the pending
 * queue, the journal, bucket primitives and the worker's entry points.
 *
 * Locking: r->lock guards the queue, the journal buffers, the counters and
 * the status; the in-memory manifest (r->man) belongs to the worker thread
 * alone (and to replica_open() before the worker starts).
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
#include "strmap.h"

#define TMP_NAME_LEN 48
#define REPLICA_COPY_TRIES 3

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
	bool jflushing;

	/* status */
	uint64_t copied, skipped, deleted, recopied, generation;
	enum replica_bucket_state state;
	bool suspicious;
	char last_error[256];

	/* worker only */
	struct manifest *man;
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

/* path.c */
bool replica_path_priority(const char *relpath);

/* bucket.c: object-store primitives, paths relative to root_fd */
int bucket_open_parent(int root_fd, const char *relpath, bool create,
		       int *dfd, const char **base);
int bucket_tmp_create(int dfd, char name[TMP_NAME_LEN]);
int bucket_commit(int dfd, const char *tmp, const char *base);
int bucket_remove_at(int dfd, const char *name);
int bucket_remove(int root_fd, const char *relpath);
int bucket_mkdir(int root_fd, const char *relpath);
int atomic_put(int root_fd, const char *relpath, const void *buf, size_t len);

/* queue.c (r->lock held) */
int queue_note_locked(struct replica *r, const char *path, bool light,
		      bool journaled, uint64_t seq, struct qent **out);
struct qent *queue_pop_locked(struct replica *r);
void queue_done_locked(struct replica *r, struct qent *e, int res);
/* Smallest seq_first pending, or noted_seq + 1 if nothing is. */
uint64_t queue_min_seq_locked(struct replica *r);
void queue_free_all(struct replica *r);

/* journal.c */
int journal_open(struct replica *r);
/* Append a path and wait until it is durable (r->lock held; may wait). */
int journal_append_locked(struct replica *r, const char *path, size_t len);
/* Rewrite an empty journal if the queue is drained (r->lock held). */
int journal_compact_locked(struct replica *r);
void journal_close(struct replica *r);

/* manifest_io.c (worker) */
int manifest_load(struct replica *r);
int manifest_publish(struct replica *r, int bucket_fd);
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
