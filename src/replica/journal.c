/*
 * The durable journal `.coffre/journal` in the backing directory: every
 * noted path is appended as a record (jrecord.c) and made durable with
 * fdatasync before replica_note() returns.  Concurrent callers share one
 * write + fdatasync (group commit: while one caller flushes a batch, the
 * others fill the next one and wait on a condition variable).  A flush
 * that fails is truncated away so the file never holds a torn record
 * before good ones, and its records are queued in memory.  The worker's
 * and the scan's records past the window are buffered without a wait.
 *
 * At open the journal is replayed in JCHUNK reads (never whole): the
 * priority paths and the first window of the others are queued, the rest
 * is left as the backlog (backlog.c), and a torn or corrupt tail (crash
 * in the middle of an append) is cut off.  When nothing is pending the
 * journal is emptied: an empty file is written beside it, fsynced and
 * renamed over it (then the directory fsynced); rewrite.c rewrites it
 * without duplicates when it grows.  Anything the journal may miss after
 * a crash is found again by the reconcile scan (scan.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "replica_private.h"

/* One replayed record at offset o. */
static int replay_one(struct replica *r, const struct jrec *j, uint64_t o)
{
	if (replica_path_excluded(j->path))
		return 0;
	if (strmap_get(&r->q, j->path) || !backlog_full_locked(r, j->path)) {
		if (r->spilling)
			r->nspill++;     /* read again by the refill */
		return queue_note_locked(r, j->path, false, true, 0, NULL);
	}
	backlog_start_locked(r, o);
	r->nspill++;
	hset_add_min(&r->spilled, hset_key(j->path, j->len), 0);
	return 0;
}

/* Replay the journal from the start; *good: the length of its good part. */
static int replay(struct replica *r, uint64_t *good)
{
	struct jrec *j = malloc(sizeof(*j));
	uint64_t off = 0;          /* file offset of r->rbuf[0] */
	size_t have = 0, pos;
	bool eof = false;
	int rc = JREC_OK, err = 0;

	if (!j)
		return -ENOMEM;
	while (rc == JREC_OK) {
		while (!eof && have < JCHUNK) {
			ssize_t n = io_pread_full(r->jfd, r->rbuf + have, JCHUNK - have,
						  off + have);

			if (n < 0) {
				err = (int)n;
				goto out;
			}
			eof = (size_t)n < JCHUNK - have;
			have += (size_t)n;
		}
		for (pos = 0; pos < have; pos += j->size) {
			if ((rc = jrec_parse(r->rbuf + pos, have - pos, j)) != JREC_OK)
				break;
			if ((err = replay_one(r, j, off + pos)) != 0)
				goto out;
		}
		if (rc == JREC_SHORT && !eof)
			rc = JREC_OK;      /* the record goes on in the next read */
		else if (pos == have && eof)
			rc = JREC_SHORT;   /* the end */
		memmove(r->rbuf, r->rbuf + pos, have - pos);
		off += pos;
		have -= pos;
	}
	*good = off;
out:
	free(j);
	return err;
}

int journal_open_file(struct replica *r, const char *rel, int flags)
{
	struct stat st;
	int err, fd = io_open_beneath(r->backing_fd, rel, flags | O_RDWR | O_APPEND |
				      O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0600);

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;   /* planted there: a FIFO would stall appends */
	else
		return fd;
	close(fd);
	return err;
}

int state_rename(struct replica *r, const char *from, const char *to)
{
	const char *fb, *tb;
	int fd = io_open_parent(r->backing_fd, from, &fb), td, err = 0;

	if (fd < 0)
		return fd;
	if ((td = io_open_parent(r->backing_fd, to, &tb)) < 0) {
		close(fd);
		return td;
	}
	if (renameat(fd, fb, td, tb) < 0)
		err = -errno;
	close(fd);
	close(td);
	return err;
}

void state_unlink(struct replica *r, const char *rel)
{
	const char *b;
	int fd = io_open_parent(r->backing_fd, rel, &b);

	if (fd >= 0) {
		unlinkat(fd, b, 0);
		close(fd);
	}
}

int journal_fsync_dir(struct replica *r)
{
	int dfd = io_open_beneath(r->backing_fd, COFFRE_STATE_DIR,
				  O_RDONLY | O_DIRECTORY, 0);
	int err;

	if (dfd < 0)
		return dfd;
	err = io_fsync_dir(dfd);
	close(dfd);
	return err;
}

int journal_open(struct replica *r)
{
	uint64_t good = 0;
	struct stat st;
	int err;

	if (mkdirat(r->backing_fd, COFFRE_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	r->jfd = journal_open_file(r, COFFRE_JOURNAL_FILE, 0);
	if (r->jfd < 0)
		return r->jfd;
	if ((err = journal_fsync_dir(r)) != 0)
		goto out;
	if (fstat(r->jfd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!r->rbuf && !(r->rbuf = malloc(JCHUNK))) {
		err = -ENOMEM;
		goto out;
	}
	if ((err = replay(r, &good)) != 0)
		goto out;
	if (good != (uint64_t)st.st_size) {
		/* A torn tail: cut it so later appends stay reachable. */
		if (ftruncate(r->jfd, (off_t)good) < 0 || fsync(r->jfd) < 0) {
			err = -errno;
			goto out;
		}
	}
	r->jsize = good;
	r->jbase = 0;
	if (r->spilling) {
		/* Notes of an earlier run: every sync waits for them. */
		r->jfloor_seq = 0;
		r->jfloor_end = good;
	} else {
		r->jcur = good;
	}
	/* What an earlier run left is rewritten once now if it is large. */
	r->jrewrite_at = good > r->jrewrite_min ? good : r->jrewrite_min;
	r->jbatch = 1;
	r->jdone = 0;
out:
	if (err) {
		close(r->jfd);
		r->jfd = -1;
	}
	return err;
}

static int buf_append(struct replica *r, const char *path, size_t n)
{
	if (r->jlen + JREC_SIZE(n) > r->jcap) {
		size_t cap = r->jcap ? r->jcap * 2 : 4096;
		uint8_t *p;

		while (cap < r->jlen + JREC_SIZE(n))
			cap *= 2;
		if (!(p = realloc(r->jbuf, cap)))
			return -ENOMEM;
		r->jbuf = p;
		r->jcap = cap;
	}
	jrec_write(r->jbuf + r->jlen, path, n);
	r->jlen += JREC_SIZE(n);
	return 0;
}

/* Flush the filling batch (r->lock held on entry and exit, dropped for
 * the I/O).  Only one flusher at a time. */
static void flush_batch(struct replica *r)
{
	uint8_t *buf = r->jbuf;
	size_t len = r->jlen, cap = r->jcap;
	uint64_t b = r->jbatch++, start = r->jsize;
	int err = 0;

	r->jflushing = true;
	r->jinflight = len;
	r->jbuf = r->jspare;
	r->jcap = r->jspare_cap;
	r->jlen = 0;
	r->jspare = NULL;
	r->jspare_cap = 0;
	pthread_mutex_unlock(&r->lock);

	/* jsize and jbroken are stable while we flush. */
	if (r->jbroken && ftruncate(r->jfd, (off_t)start) < 0)
		err = -EIO;
	else
		r->jbroken = false;
	if (err == 0)
		err = io_write_full(r->jfd, buf, len);
	if (err == 0 && fdatasync(r->jfd) < 0)
		err = -errno;
	if (err && ftruncate(r->jfd, (off_t)start) < 0)
		r->jbroken = true;   /* cut before the next append, or at open */

	pthread_mutex_lock(&r->lock);
	if (err == 0)
		r->jsize += len;
	backlog_flushed_locked(r, buf, len, start, err);
	if (err)
		r->jfail_bits |= 1ull << (b % 64);
	else
		r->jfail_bits &= ~(1ull << (b % 64));
	r->jdone = b;
	r->jflushing = false;
	r->jinflight = 0;
	r->jspare = buf;
	r->jspare_cap = cap;
	pthread_cond_broadcast(&r->jcv);
}

int journal_wait_locked(struct replica *r, uint64_t batch)
{
	while (r->jdone < batch) {
		if (!r->jflushing)
			flush_batch(r);
		else
			pthread_cond_wait(&r->jcv, &r->lock);
	}
	return (r->jfail_bits >> (batch % 64)) & 1 ? -EIO : 0;
}

int journal_flush_locked(struct replica *r)
{
	if (!r->jlen && !r->jflushing)
		return 0;
	return journal_wait_locked(r, r->jlen ? r->jbatch : r->jbatch - 1);
}

/* The offset the next buffered byte will land at. */
static uint64_t jtail(const struct replica *r)
{
	return r->jsize + r->jinflight + r->jlen;
}

int journal_note_locked(struct replica *r, const char *path, size_t len,
			bool spill, uint64_t *seq, uint64_t *batch)
{
	uint64_t o = jtail(r);
	int64_t lb = r->jbase + (int64_t)o;
	int err;

	if (r->jfd < 0)
		return -EBADF;
	if ((err = buf_append(r, path, len)) != 0)
		return err;
	if (spill)
		backlog_start_locked(r, o);
	/* Above every earlier note, and at least what its offset tells
	 * the backlog (backlog_seq_floor). */
	*seq = r->noted_seq + 1;
	if (lb > 0 && (uint64_t)lb > *seq)
		*seq = (uint64_t)lb;
	r->noted_seq = *seq;
	*batch = r->jbatch;
	return 0;
}

int journal_spill_locked(struct replica *r, const char *path, size_t len,
			 uint64_t seq)
{
	uint64_t o = jtail(r);
	int err;

	if (r->jfd < 0)
		return -EBADF;
	if ((err = buf_append(r, path, len)) != 0)
		return err;
	backlog_start_locked(r, o);
	if (seq < backlog_seq_floor(r, o)) {
		/* Older than its offset says: a floor up to this record. */
		if (seq < r->jfloor_seq)
			r->jfloor_seq = seq;
		r->jfloor_end = o + JREC_SIZE(len);
	}
	if (r->jlen >= JSPILL_FLUSH)
		return journal_flush_locked(r);
	return 0;
}

int journal_compact_locked(struct replica *r)
{
	int fd, err = 0;

	if (r->jsize == 0 || r->jflushing || r->jlen || r->q.n || r->spilling)
		return 0;
	fd = journal_open_file(r, JOURNAL_TMP, O_TRUNC);
	if (fd < 0)
		return fd;
	if (fsync(fd) < 0 ||
	    renameat(r->backing_fd, JOURNAL_TMP, r->backing_fd, COFFRE_JOURNAL_FILE) < 0) {
		err = -errno;
		close(fd);
		unlinkat(r->backing_fd, JOURNAL_TMP, 0);
		return err;
	}
	close(r->jfd);
	r->jfd = fd;
	r->jbase += (int64_t)r->jsize;   /* bounds keep growing */
	r->jsize = 0;
	r->jcur = 0;
	r->jpub = 0;
	r->jbroken = false;
	r->jrewrite_at = r->jrewrite_min;
	return journal_fsync_dir(r);
}

void journal_close(struct replica *r)
{
	if (r->jfd >= 0 && r->jlen) {
		/* The worker's records past the window: best effort (the
		 * scan finds them again). */
		if (io_write_full(r->jfd, r->jbuf, r->jlen) == 0)
			fdatasync(r->jfd);
	}
	if (r->jfd >= 0)
		close(r->jfd);
	r->jfd = -1;
	free(r->jbuf);
	free(r->jspare);
	free(r->rbuf);
	r->jbuf = r->jspare = r->rbuf = NULL;
	r->jlen = r->jcap = r->jspare_cap = 0;
	hset_fini(&r->spilled);
}
