/*
 * The replication backlog (doc/DESIGN.md "Replication backlog"): past a
 * window of r->window paths in memory, pending paths live in the journal
 * only, from the spill cursor r->jcur (the first record not loaded) to its
 * end.  Here: whether a path goes to memory or to the backlog, the lower
 * bound of the seq of a record at an offset (what replica_sync relies on),
 * the set of paths with a record past jcur (so a note of one costs no
 * I/O), and the worker's refill from jcur in JCHUNK reads.  Key records,
 * escrow and config always stay in memory.  All functions run with
 * r->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/io.h"
#include "replica_private.h"

bool backlog_full_locked(struct replica *r, const char *path)
{
	return (r->spilling || r->q.n >= r->window) && !replica_path_priority(path);
}

/*
 * A note's seq is at least jbase + the offset of its record
 * (journal_note_locked), and the records of entries older than that
 * (scan, replay, worker) lie before jfloor_end with a seq of at least
 * jfloor_seq.  Non-decreasing in o.
 */
uint64_t backlog_seq_floor(const struct replica *r, uint64_t o)
{
	int64_t v = r->jbase + (int64_t)o;
	uint64_t s = v > 0 ? (uint64_t)v : 0;

	if (o < r->jfloor_end && r->jfloor_seq < s)
		s = r->jfloor_seq;
	return s;
}

static void floor_reset(struct replica *r)
{
	r->jfloor_end = 0;
	r->jfloor_seq = UINT64_MAX;
}

void backlog_start_locked(struct replica *r, uint64_t o)
{
	if (r->spilling)
		return;
	r->spilling = true;
	r->jcur = o;
	r->nspill = 0;
	r->spill_since = replica_mono_ms() / 1000;
	floor_reset(r);
	hset_clear(&r->spilled);
}

void backlog_end_locked(struct replica *r)
{
	r->spilling = false;
	r->jcur = r->jsize;
	r->nspill = 0;
	floor_reset(r);
	hset_fini(&r->spilled);
}

void backlog_flushed_locked(struct replica *r, const uint8_t *buf, size_t len,
			    uint64_t start, int err)
{
	struct jrec j;

	if (err) {
		/* Cut away: memory is the only place left for these. */
		for (size_t pos = 0; pos < len; pos += j.size) {
			if (jrec_parse(buf + pos, len - pos, &j) != JREC_OK)
				break;
			if (!replica_path_excluded(j.path))
				queue_note_locked(r, j.path, false, false,
						  backlog_seq_floor(r, start + pos), NULL);
		}
		if (r->jcur > r->jsize)
			r->jcur = r->jsize;
		return;
	}
	if (!r->spilling) {
		r->jcur = r->jsize;   /* all of it is in memory */
		return;
	}
	for (size_t pos = 0; pos < len; pos += j.size) {
		uint64_t o = start + pos;

		if (jrec_parse(buf + pos, len - pos, &j) != JREC_OK)
			break;
		if (o < r->jcur)
			continue;
		r->nspill++;
		hset_add_min(&r->spilled, hset_key(j.path, j.len), backlog_seq_floor(r, o));
	}
}

int backlog_note_locked(struct replica *r, const char *path, size_t len)
{
	uint64_t seq, batch;
	int err, e2;

	if (hset_get(&r->spilled, hset_key(path, len), NULL)) {
		/* A record of it waits past jcur: it is loaded, and copied,
		 * after now, under a lower seq than this note's. */
		r->noted_seq++;
		return 0;
	}
	if ((err = journal_note_locked(r, path, len, true, &seq, &batch)) != 0) {
		e2 = queue_note_locked(r, path, false, false, ++r->noted_seq, NULL);
		return e2 ? e2 : err;
	}
	/* A failed flush queued it in memory. */
	return journal_wait_locked(r, batch);
}

int backlog_add_locked(struct replica *r, const char *path, bool light,
		       uint64_t seq)
{
	size_t len = strlen(path);
	uint64_t lb;
	int err;

	if (strmap_get(&r->q, path) || !backlog_full_locked(r, path))
		return queue_note_locked(r, path, light, false, seq, NULL);
	if (hset_get(&r->spilled, hset_key(path, len), &lb) && lb <= seq)
		return 0;
	if ((err = journal_spill_locked(r, path, len, seq)) == 0 || err == -EIO)
		return 0;   /* -EIO: a failed flush queued it in memory */
	return queue_note_locked(r, path, light, false, seq, NULL);
}

/* A record that is not one where the backlog must hold one: drop the
 * backlog from there and let the reconcile scan find what it held. */
static void backlog_lost(struct replica *r, uint64_t o)
{
	snprintf(r->last_error, sizeof(r->last_error),
		 "journal %s: bad record at offset %llu: backlog dropped, rescanning",
		 COFFRE_JOURNAL_FILE, (unsigned long long)o);
	r->jcur = r->jpub = r->jsize;
	r->nspill = 0;
	floor_reset(r);
	hset_clear(&r->spilled);
	r->scanned = false;
	r->jrewrite_at = 0;    /* and rewrite it out of the file */
}

/* Load one record read at offset o. */
static int load(struct replica *r, const struct jrec *j, uint64_t o)
{
	struct qent *e;
	int err;

	if (replica_path_excluded(j->path))
		return 0;
	hset_del(&r->spilled, hset_key(j->path, j->len));
	err = queue_note_locked(r, j->path, false, true, backlog_seq_floor(r, o), &e);
	if (err == 0 && e->since > r->spill_since)
		e->since = r->spill_since;
	return err;
}

int backlog_refill_locked(struct replica *r)
{
	struct jrec j;

	while (r->spilling && r->q.n < r->window && !r->stop) {
		uint64_t off = r->jcur, end = r->jsize;
		size_t want, pos = 0;
		int fd = r->jfd, err;
		ssize_t n;

		if (off >= end) {
			if (r->jlen || r->jflushing) {
				/* Not durable yet: flush (what fails is
				 * queued in memory). */
				journal_flush_locked(r);
				continue;
			}
			backlog_end_locked(r);
			break;
		}
		want = end - off > JCHUNK ? JCHUNK : (size_t)(end - off);
		pthread_mutex_unlock(&r->lock);
		n = io_pread_full(fd, r->rbuf, want, off);   /* worker: fd stays */
		pthread_mutex_lock(&r->lock);
		if (n < 0)
			return (int)n;
		while (pos < (size_t)n && r->q.n < r->window) {
			int rc = jrec_parse(r->rbuf + pos, (size_t)n - pos, &j);

			if (rc == JREC_SHORT && pos > 0)
				break;     /* the rest comes with the next read */
			if (rc != JREC_OK) {
				backlog_lost(r, off + pos);
				return -EBADMSG;
			}
			if ((err = load(r, &j, off + pos)) != 0)
				return err;
			pos += j.size;
			r->jcur = off + pos;
			if (r->nspill)
				r->nspill--;
		}
		if (r->jcur >= r->jfloor_end)
			floor_reset(r);
	}
	return 0;
}
