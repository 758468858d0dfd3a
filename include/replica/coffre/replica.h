/*
 * coffre replica: asynchronous, crash-safe copy of the backing directory's
 * ciphertext to an untrusted bucket directory (DESIGN §6, doc/FORMAT-v1.md
 * §11 "Bucket: marker, journal, manifest").
 *
 * The bucket is an object store seen through a mount (s3fs, rclone): only
 * whole-file create, sequential write, fsync, rename of a file, unlink,
 * mkdir and rmdir are used there.  Modes, owners, times, symlink targets,
 * hard-link identity and user xattrs travel in an authenticated manifest.
 * replica never decrypts anything and never includes a FUSE header.
 *
 * Functions return 0 or a negative errno and are thread-safe unless said
 * otherwise.  Paths are relative to the backing root ("a/b", no leading or
 * trailing '/', no empty, "." or ".." component, at most 4095 bytes).
 */
#ifndef COFFRE_REPLICA_H
#define COFFRE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/format.h"
#include "coffre/io.h"

#define COFFRE_BUCKET_MARKER ".coffre.bucket"
#define COFFRE_BUCKET_MARKER_LEN 24
#define COFFRE_BUCKET_MAGIC "CFRB"
#define COFFRE_BUCKET_MANIFEST ".coffre.manifest"
#define COFFRE_JOURNAL_FILE ".coffre/journal"
#define COFFRE_MANIFEST_MIRROR ".coffre/manifest"
#define COFFRE_MANIFEST_MAGIC "CFRM"
#define COFFRE_MANIFEST_MAX (256u << 20)    /* bytes; larger is refused */
#define COFFRE_REPLICA_PATH_MAX 4095
#define COFFRE_REPLICA_XATTR_VALUE_MAX 65536
#define COFFRE_REPLICA_BACKOFF_MAX_MS 30000
#define COFFRE_REPLICA_WINDOW 8192           /* pending paths in memory */
#define COFFRE_JOURNAL_REWRITE_MIN (8u << 20) /* bytes; then at each doubling */

struct replica;

/* ---- replica.c: the replicator */

/*
 * Open the replicator for a backing directory (the fd stays the caller's
 * and must outlive replica_close()).  Creates `.coffre/` and the journal if
 * needed, replays the journal, loads the manifest (backing mirror and
 * bucket copy, whichever authenticates with the higher generation) and
 * starts the worker thread, which first reconciles the backing tree
 * against the manifest.  Returns quickly: it never waits on the bucket.
 * `manifest_key` (derived by the caller from the root DEK) is copied into
 * locked memory and wiped at close.  On failure a one-line reason is put
 * in err.
 */
int replica_open(int backing_root_fd, const char *bucket_dir,
		 const uint8_t volume_uuid[COFFRE_ID_LEN], const uint8_t manifest_key[COFFRE_KEY_LEN],
		 struct replica **out, char *err, size_t errlen);

/*
 * Limits of the replicas opened after the call (for tests; 0 restores a
 * default): at most `window` pending paths in memory (key records, escrow
 * and config aside), the rest in the journal only (the backlog, loaded
 * back as the window empties); and the journal size from which it is
 * rewritten without duplicates (then at each doubling); and the entries
 * the worker's manifest holds in memory before it folds them into its
 * base on disk.  Not to be called while a replica_open() runs.
 */
void replica_set_limits(size_t window, uint64_t rewrite_min, size_t delta_max);

/*
 * A backing path changed (created, written, chmod'ed, chown'ed, utimens'ed,
 * xattr set or removed, renamed to, linked to) or vanished (unlinked,
 * rmdir'ed, renamed from).  The path is appended to the journal and made
 * durable (fdatasync, shared by concurrent callers: group commit) before
 * this returns, unless it is already pending and journaled (in memory, or
 * known to be in the backlog), in which case no I/O is done.  Past the
 * in-memory window it is kept in the journal only.  Never waits on the
 * bucket.  Paths that are replica's or another module's scratch files
 * (.coffre/lock, the journal, temp files) are accepted and ignored.
 * -EINVAL for a malformed path; a journal write error is returned (the
 * path is still queued in memory, window or not).
 */
int replica_note(struct replica *r, const char *relpath);

/*
 * Wait until everything noted before the call is in the bucket and a
 * manifest covering it has been written (bucket and backing mirror).
 * Cuts a pending back-off short (one retry).  timeout_ms < 0 waits
 * forever.  0, or -ETIMEDOUT.
 */
int replica_sync(struct replica *r, int timeout_ms);

enum replica_bucket_state {
	REPLICA_BUCKET_UNKNOWN = 0,      /* nothing tried yet */
	REPLICA_BUCKET_OK,
	REPLICA_BUCKET_NO_MARKER,        /* missing or foreign .coffre.bucket */
	REPLICA_BUCKET_ERROR,            /* I/O error; see last_error */
};

struct replica_status {
	uint64_t queued;                  /* paths pending: in memory, plus
					   * the backlog's journal records
					   * (duplicates counted: at most) */
	uint64_t in_memory;               /* of them in memory */
	uint64_t journal_bytes;           /* size of the journal */
	uint64_t oldest_age_s;            /* age of the oldest pending note
					   * (a backlog: since it began) */
	uint64_t bytes_behind;            /* backing size of pending files
					   * in memory */
	uint64_t copied;                  /* objects written to the bucket */
	uint64_t skipped;                 /* unchanged objects not rewritten */
	uint64_t deleted;                 /* bucket objects removed */
	uint64_t recopied;                /* copies redone: source changed */
	uint64_t errors;                  /* attempts that failed and were
					   * retried after a back-off */
	uint64_t generation;              /* last manifest generation written */
	uint64_t manifest_entries;        /* entries in the worker's manifest */
	uint64_t manifest_in_memory;      /* of them held in memory (the rest
					   * in its base file on disk) */
	bool manifest_suspicious;         /* a stored manifest failed its MAC
					   * or was rolled back */
	enum replica_bucket_state bucket;
	char last_error[256];             /* "" if none since the last success */
};
void replica_status(struct replica *r, struct replica_status *st);
const char *replica_bucket_state_name(enum replica_bucket_state s);

/* Stop the worker and free everything.  Pending work stays in the journal
 * (and is found again by the reconcile scan) for the next open.  NULL ok. */
void replica_close(struct replica *r);

/*
 * Test and diagnostic hook: called by the worker after a file's copy is
 * written to its bucket temp file and before the source is re-checked for
 * changes made during the copy.  NULL to remove.  Not for production use.
 */
void replica_set_copy_hook(struct replica *r,
			   void (*hook)(void *arg, const char *relpath),
			   void *arg);

/* ---- marker.c: the bucket marker */

/* Write the marker (volume uuid) into an existing, empty bucket directory.
 * -ENOTEMPTY if it holds anything else (a matching marker alone is
 * accepted: idempotent). */
int replica_init_bucket(const char *bucket_dir, const uint8_t volume_uuid[COFFRE_ID_LEN],
			char *err, size_t errlen);
/* 0 if the bucket dir (an open fd) holds a marker for volume_uuid;
 * -ENOENT none, -EXDEV another volume's, -EINVAL malformed, or an I/O error. */
int replica_check_marker(int bucket_fd, const uint8_t volume_uuid[COFFRE_ID_LEN]);
/* Marker bytes: magic "CFRB", version 1, 3 zero bytes, uuid. */
int bucket_marker_parse(const uint8_t *buf, size_t len, uint8_t uuid[COFFRE_ID_LEN]);
void bucket_marker_write(const uint8_t uuid[COFFRE_ID_LEN],
			 uint8_t out[COFFRE_BUCKET_MARKER_LEN]);

/* ---- manifest.c: the authenticated manifest (format in doc/FORMAT-v1.md) */

enum manifest_type {
	MANIFEST_REG = 1, MANIFEST_DIR, MANIFEST_LNK, MANIFEST_FIFO,
	MANIFEST_SOCK, MANIFEST_CHR, MANIFEST_BLK,
};

struct manifest_xattr {
	char *name;                       /* 1..255 bytes, NUL-terminated */
	uint8_t *value;
	uint32_t value_len;               /* <= COFFRE_REPLICA_XATTR_VALUE_MAX */
};

struct manifest_entry {
	char *path;                       /* NUL-terminated, valid relpath */
	uint8_t type;                     /* enum manifest_type */
	uint32_t mode;                    /* permission bits, <= 07777 */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;              /* < 10^9 */
	uint64_t size;
	uint64_t ino;                     /* backing inode: hard-link identity */
	uint64_t rdev;                    /* devices only */
	uint8_t digest[IO_DIGEST_LEN];    /* XXH3-128 (canonical, big-endian) */
	uint8_t file_id[COFFRE_ID_LEN];   /* from a coffre file header, or 0 */
	char *target;                     /* symlinks only: backing target */
	uint16_t target_len;
	uint16_t n_xattrs;                /* sorted by name, unique */
	struct manifest_xattr *xattrs;
};

struct manifest;

struct manifest *manifest_new(const uint8_t volume_uuid[COFFRE_ID_LEN]);
void manifest_free(struct manifest *m);
uint64_t manifest_generation(const struct manifest *m);
void manifest_set_generation(struct manifest *m, uint64_t gen);
void manifest_uuid(const struct manifest *m, uint8_t uuid[COFFRE_ID_LEN]);
size_t manifest_count(const struct manifest *m);
/* The entry for a path, or NULL.  Owned by the manifest. */
const struct manifest_entry *manifest_get(const struct manifest *m,
					  const char *path);
/* Insert or replace; the manifest takes ownership of e (and its strings)
 * on success and on failure.  -EINVAL if e is not valid. */
int manifest_put(struct manifest *m, struct manifest_entry *e);
/* Remove (and free) a path's entry; 0, or -ENOENT. */
int manifest_del(struct manifest *m, const char *path);
/* Call fn for every entry, in no particular order; fn must not modify m.
 * A non-zero return stops the walk and is returned. */
int manifest_foreach(const struct manifest *m,
		     int (*fn)(const struct manifest_entry *e, void *arg),
		     void *arg);
void manifest_entry_free(struct manifest_entry *e);

/*
 * Serialise (entries sorted by path) with an HMAC-SHA256 under key.
 * *out is malloc'ed.  -EFBIG above COFFRE_MANIFEST_MAX.
 */
int manifest_write(const struct manifest *m, const uint8_t key[COFFRE_KEY_LEN],
		   uint8_t **out, size_t *out_len);
/*
 * Authenticate then parse.  -EBADMSG if the MAC fails (nothing is parsed:
 * never trust such a manifest), -EPROTO wrong magic, -EPROTONOSUPPORT
 * unknown version, -EINVAL malformed or not canonical (so that
 * manifest_write() of the result gives back the same bytes).
 */
int manifest_parse(const uint8_t *buf, size_t len, const uint8_t key[COFFRE_KEY_LEN],
		   struct manifest **out);

/* ---- path.c */

/* 0 if relpath is a valid relative path, -EINVAL otherwise. */
int replica_path_check(const char *relpath, size_t len);
/* True for scratch files that are never replicated (lock, journal, temps). */
bool replica_path_excluded(const char *relpath);

#endif
