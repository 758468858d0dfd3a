/*
 * The durable journal `.coffre/journal` in the backing directory: every
 * noted path is appended as u16be(len) || path || u32be(low 32 bits of
 * XXH3-64(path)) and made durable with fdatasync before replica_note()
 * returns.  Concurrent callers share one write + fdatasync (group commit:
 * while one caller flushes a batch, the others fill the next one and wait
 * on a condition variable).  A flush that fails is truncated away so the
 * file never holds a torn record before good ones.
 *
 * At open the journal is replayed into the queue; a torn or corrupt tail
 * (crash in the middle of an append) is cut off.  When the worker has
 * drained the queue the journal is compacted: an empty file is written
 * beside it, fsynced and renamed over it (then the directory fsynced).
 * Anything the journal may miss after a crash is found again by the
 * reconcile scan (scan.c).  libxxhash for the record check.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "coffre/io.h"
#include "replica_private.h"

#define JOURNAL_TMP ".coffre/journal.tmp"
#define JOURNAL_MAX (1u << 30)

static uint32_t rec_check(const char *p, size_t n)
{
	return (uint32_t)XXH3_64bits(p, n);
}

static int replay(struct replica *r, const uint8_t *buf, size_t len,
		  size_t *good)
{
	size_t off = 0;
	char path[COFFRE_REPLICA_PATH_MAX + 1];
	int err;

	while (len - off >= 2) {
		size_t n = (size_t)buf[off] << 8 | buf[off + 1];
		uint32_t chk;

		if (n == 0 || n > COFFRE_REPLICA_PATH_MAX || len - off - 2 < n + 4)
			break;
		memcpy(path, buf + off + 2, n);
		path[n] = '\0';
		chk = (uint32_t)buf[off + 2 + n] << 24 | (uint32_t)buf[off + 3 + n] << 16 |
		      (uint32_t)buf[off + 4 + n] << 8 | buf[off + 5 + n];
		if (chk != rec_check(path, n) || replica_path_check(path, n) != 0)
			break;
		off += n + 6;
		if (replica_path_excluded(path))
			continue;
		if ((err = queue_note_locked(r, path, false, true, 0, NULL)) != 0)
			return err;
	}
	*good = off;
	return 0;
}

int journal_open(struct replica *r)
{
	uint8_t *buf = NULL;
	size_t len = 0, good = 0;
	int err;

	if (mkdirat(r->backing_fd, COFFRE_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	r->jfd = openat(r->backing_fd, COFFRE_JOURNAL_FILE,
			O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r->jfd < 0)
		return -errno;
	{
		int dfd = openat(r->backing_fd, COFFRE_STATE_DIR,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (dfd < 0 || (err = io_fsync_dir(dfd)) != 0) {
			err = dfd < 0 ? -errno : err;
			if (dfd >= 0)
				close(dfd);
			goto out;
		}
		close(dfd);
	}
	err = io_read_alloc(r->backing_fd, COFFRE_JOURNAL_FILE, JOURNAL_MAX,
			    &buf, &len);
	if (err)
		goto out;
	if ((err = replay(r, buf, len, &good)) != 0)
		goto out;
	if (good != len) {
		/* A torn tail: cut it so later appends stay reachable. */
		if (ftruncate(r->jfd, (off_t)good) < 0 || fsync(r->jfd) < 0) {
			err = -errno;
			goto out;
		}
	}
	r->jsize = good;
	r->jbatch = 1;
	r->jdone = 0;
out:
	free(buf);
	if (err) {
		close(r->jfd);
		r->jfd = -1;
	}
	return err;
}

static int buf_append(struct replica *r, const char *path, size_t n)
{
	uint32_t chk = rec_check(path, n);

	if (r->jlen + n + 6 > r->jcap) {
		size_t cap = r->jcap ? r->jcap * 2 : 4096;
		uint8_t *p;

		while (cap < r->jlen + n + 6)
			cap *= 2;
		if (!(p = realloc(r->jbuf, cap)))
			return -ENOMEM;
		r->jbuf = p;
		r->jcap = cap;
	}
	r->jbuf[r->jlen++] = (uint8_t)(n >> 8);
	r->jbuf[r->jlen++] = (uint8_t)n;
	memcpy(r->jbuf + r->jlen, path, n);
	r->jlen += n;
	r->jbuf[r->jlen++] = (uint8_t)(chk >> 24);
	r->jbuf[r->jlen++] = (uint8_t)(chk >> 16);
	r->jbuf[r->jlen++] = (uint8_t)(chk >> 8);
	r->jbuf[r->jlen++] = (uint8_t)chk;
	return 0;
}

/* Flush the filling batch (r->lock held on entry and exit, dropped for
 * the I/O).  Only one flusher at a time. */
static void flush_batch(struct replica *r)
{
	uint8_t *buf = r->jbuf;
	size_t len = r->jlen, cap = r->jcap;
	uint64_t b = r->jbatch++;
	int err = 0;

	r->jflushing = true;
	r->jbuf = r->jspare;
	r->jcap = r->jspare_cap;
	r->jlen = 0;
	r->jspare = NULL;
	r->jspare_cap = 0;
	pthread_mutex_unlock(&r->lock);

	err = io_write_full(r->jfd, buf, len);
	if (err == 0 && fdatasync(r->jfd) < 0)
		err = -errno;
	if (err && ftruncate(r->jfd, (off_t)r->jsize) < 0) {
		/* Still torn: the next open cuts at the first bad record. */
	}

	pthread_mutex_lock(&r->lock);
	if (err == 0)
		r->jsize += len;
	if (err)
		r->jfail_bits |= 1ull << (b % 64);
	else
		r->jfail_bits &= ~(1ull << (b % 64));
	r->jdone = b;
	r->jflushing = false;
	r->jspare = buf;
	r->jspare_cap = cap;
	pthread_cond_broadcast(&r->jcv);
}

int journal_append_locked(struct replica *r, const char *path, size_t len)
{
	uint64_t mine;
	int err;

	if (r->jfd < 0)
		return -EBADF;
	if ((err = buf_append(r, path, len)) != 0)
		return err;
	mine = r->jbatch;
	while (r->jdone < mine) {
		if (!r->jflushing)
			flush_batch(r);
		else
			pthread_cond_wait(&r->jcv, &r->lock);
	}
	return (r->jfail_bits >> (mine % 64)) & 1 ? -EIO : 0;
}

int journal_compact_locked(struct replica *r)
{
	int fd, err = 0;

	if (r->jsize == 0 || r->jflushing || r->jlen || r->q.n)
		return 0;
	fd = openat(r->backing_fd, JOURNAL_TMP,
		    O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 ||
	    renameat(r->backing_fd, JOURNAL_TMP, r->backing_fd, COFFRE_JOURNAL_FILE) < 0) {
		err = -errno;
		close(fd);
		unlinkat(r->backing_fd, JOURNAL_TMP, 0);
		return err;
	}
	close(r->jfd);
	r->jfd = fd;
	r->jsize = 0;
	int dfd = openat(r->backing_fd, COFFRE_STATE_DIR,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0) {
		err = io_fsync_dir(dfd);
		close(dfd);
	}
	return err;
}

void journal_close(struct replica *r)
{
	if (r->jfd >= 0)
		close(r->jfd);
	r->jfd = -1;
	free(r->jbuf);
	free(r->jspare);
	r->jbuf = r->jspare = NULL;
	r->jlen = r->jcap = r->jspare_cap = 0;
}
