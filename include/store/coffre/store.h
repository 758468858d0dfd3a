/*
 * coffre store: the encrypted content of one regular file on its backing fd
 * (header, then GCM segments; see doc/FORMAT-v1.md).  Reads and writes whole
 * requests with one pread/pwrite each, sealing segments on per-thread
 * buffers; never allocates on the data path.  No FUSE, no HSM: the file key
 * comes in with the handle.
 *
 * Concurrency: the caller serialises writers and truncation against
 * everything else on the same file (an rwlock per inode); several readers
 * may run at once.
 */
#ifndef COFFRE_STORE_H
#define COFFRE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffre/crypto.h"
#include "coffre/format.h"

struct store_file {
	int fd;                       /* backing file, opened O_RDWR */
	uint32_t seg_size;
	bool strict_holes;            /* all-zero segments are not holes */
	const struct aead_key *key;   /* file key (secmem) */
	uint64_t size;                /* plaintext size, kept by the store */
	const char *path;             /* for log lines; NULL: the fd's path */
	/* Store-private, start at 0: 1 + the index of a crash-residue segment
	 * (an earlier last segment still flagged last) that a read accepted;
	 * the next write or truncation re-seals it.  Set atomically by
	 * readers, consumed under the writer's exclusive lock. */
	uint64_t residue_hint;
};

/* Largest request the per-thread buffers take in one pass. */
#define STORE_MAX_REQUEST (1u << 20)

/* Let requests of STORE_SPLIT_MIN bytes or more have their segments
 * sealed or opened by this thread and one of `helpers` (at most
 * STORE_MAX_HELPERS) helper threads at once; 0 starts none.  Helpers are
 * never stopped.  Return: 0 or a negative errno. */
#define STORE_SPLIT_MIN (256u << 10)
#define STORE_MAX_HELPERS 8
int store_split_init(unsigned helpers);

/* Set up a handle on the ciphertext file open O_RDWR at fd, whose header
 * is h and file key `key`; zero segments are never holes if the header or
 * the volume (volume_strict) says so.  Loads the size: -EIO (logged) if no
 * plaintext size maps to the file's.  path names it in log lines (NULL:
 * found from the fd when logging). */
int store_file_init(struct store_file *f, int fd, const struct file_header *h,
		    bool volume_strict, const struct aead_key *key,
		    const char *path);
/* Write a new file's header and its single sealed empty segment at fd. */
int store_create(int fd, const struct file_header *h, const struct aead_key *key);
/* Read and parse a file's header. -EIO if absent or malformed. */
int store_read_header(int fd, struct file_header *h);
/* Set f->size from the backing size; -EIO if no plaintext size maps to it. */
int store_load_size(struct store_file *f);

/* Read up to len bytes at off (short at EOF).  Returns bytes read or
 * -EIO for data that does not authenticate (logged with f->path). */
ssize_t store_read(struct store_file *f, void *buf, size_t len, uint64_t off);
/* As store_read, without the copy: *view points into this thread's
 * buffer and stays valid until the thread's next store call.  len at most
 * STORE_MAX_REQUEST (-E2BIG otherwise). */
ssize_t store_read_view(struct store_file *f, size_t len, uint64_t off,
			const uint8_t **view);
/* Write len bytes at off, extending the file as needed (holes between the
 * old end and off stay sparse).  Returns len or a negative errno; on error
 * nothing half-written is left authenticated. */
ssize_t store_write(struct store_file *f, const void *buf, size_t len, uint64_t off);
/* Set the plaintext size (shrink or grow, growing leaves a hole). */
int store_truncate(struct store_file *f, uint64_t size);

/* ---- dir.c: a backing directory's .coffre.dir */

/* Read a directory's id; -EIO if the file is missing or malformed. */
int store_dir_id(int dirfd, uint8_t id[COFFRE_ID_LEN]);
/* Write a new directory's .coffre.dir durably (never over an existing one). */
int store_dir_id_create(int dirfd, const uint8_t id[COFFRE_ID_LEN]);

#endif
