/*
 * Rewriting the journal without its duplicates (doc/DESIGN.md
 * "Replication backlog"), by the worker, when the journal has doubled
 * since it was last rewritten (and holds at least r->jrewrite_min bytes).
 * The new journal holds, in order:
 *
 *   P: one record per journaled path in memory (they are pending and
 *      their records may lie anywhere before jcur);
 *   K: the records loaded since the last manifest was published
 *      [jpub, jcur): their paths may be copied but in no manifest yet;
 *   D: the backlog [jcur, E);
 *   T: what was appended after E, as it is.
 *
 * Duplicates are dropped from K (and what P holds) and from D, apart: a
 * record past jcur is never dropped for one before it, whose seq it may
 * not bound.  The first record of a path is kept, through a bounded set
 * of 128-bit path hashes, emptied when half full: duplicates far apart
 * may stay, a path is never lost.  The rest of what lies before jcur is
 * done and published: it goes.
 *
 * P and D are written without the lock, while notes go on appending to
 * the old journal; then the tail is caught up, the lock held for its last
 * part, the temp file fsynced, renamed over the journal and the directory
 * fsynced, and r->jfd swapped (no flush runs then).  A crash before the
 * rename leaves the old journal, after it the new: each holds every path
 * pending.  Offsets move: jcur becomes P + K, jpub P, and jbase moves so
 * that the seq bound of every record (backlog_seq_floor) can only go down.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/io.h"
#include "replica_private.h"

struct rw {
	int in, out;
	uint8_t *ibuf, *obuf;      /* JCHUNK each */
	size_t olen;
	uint64_t out_off;          /* bytes put in out (obuf included) */
	struct hset *dup;          /* NULL: keep every record */
	uint64_t fe, fe_new;       /* the floor's end, old and new */
	uint64_t count;            /* records put */
	struct jrec j;
};

static int out_flush(struct rw *w)
{
	int err = w->olen ? io_write_full(w->out, w->obuf, w->olen) : 0;

	w->olen = 0;
	return err;
}

static int out_put(struct rw *w, const void *p, size_t n)
{
	int err;

	if (n == 0)
		return 0;
	if (w->olen + n > JCHUNK && (err = out_flush(w)) != 0)
		return err;
	if (n > JCHUNK)
		err = io_write_full(w->out, p, n);
	else {
		memcpy(w->obuf + w->olen, p, n);
		w->olen += n;
		err = 0;
	}
	w->out_off += n;
	return err;
}

/* Copy the records of the old journal in [from, to) to the new one. */
static int copy_range(struct rw *w, uint64_t from, uint64_t to)
{
	uint64_t off = from;        /* offset of ibuf[0] */
	size_t have = 0, pos;
	int err;

	while (off + have < to) {
		size_t want = JCHUNK - have;
		ssize_t n;

		if (want > to - off - have)
			want = (size_t)(to - off - have);
		n = io_pread_full(w->in, w->ibuf + have, want, off + have);
		if (n < 0)
			return (int)n;
		if ((size_t)n < want)
			return -EBADMSG;    /* shorter than we wrote it */
		have += (size_t)n;
		for (pos = 0; pos < have; pos += w->j.size) {
			int rc = jrec_parse(w->ibuf + pos, have - pos, &w->j);
			bool keep = true;

			if (rc == JREC_SHORT && off + have < to)
				break;
			if (rc != JREC_OK)
				return -EBADMSG;
			if (w->dup) {
				struct hkey k = hset_key(w->j.path, w->j.len);

				if (hset_get(w->dup, k, NULL))
					keep = false;
				else
					hset_add_min(w->dup, k, 0);
			}
			if (keep) {
				if ((err = out_put(w, w->ibuf + pos, w->j.size)) != 0)
					return err;
				w->count++;
			}
			if (off + pos < w->fe)
				w->fe_new = w->out_off;
		}
		memmove(w->ibuf, w->ibuf + pos, have - pos);
		off += pos;
		have -= pos;
	}
	return 0;
}

struct prefix {
	uint8_t *buf;
	size_t len, cap;
	struct hset *dup;          /* gets the paths of P */
	int err;
};

static int prefix_cb(void *val, void *arg)
{
	struct qent *e = val;
	struct prefix *p = arg;
	size_t n = strlen(e->path);

	if (!e->journaled)
		return 0;
	if (p->len + JREC_SIZE(n) > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 65536;
		uint8_t *b;

		while (cap < p->len + JREC_SIZE(n))
			cap *= 2;
		if (!(b = realloc(p->buf, cap)))
			return p->err = -ENOMEM;
		p->buf = b;
		p->cap = cap;
	}
	jrec_write(p->buf + p->len, e->path, n);
	p->len += JREC_SIZE(n);
	hset_add_min(p->dup, hset_key(e->path, n), 0);
	return 0;
}

bool journal_rewrite_due_locked(struct replica *r)
{
	return r->jfd >= 0 && r->jsize > 0 && r->jsize >= r->jrewrite_at;
}

/* Put the new journal in place of the old (r->lock held, no flush
 * running, the new one complete): fsync, rename, swap, remap offsets. */
static int swap_in(struct replica *r, struct rw *w, uint64_t c, uint64_t e0,
		   uint64_t p, uint64_t k, uint64_t d)
{
	uint64_t size = w->out_off;
	int err;

	if ((err = out_flush(w)) != 0)
		return err;
	if (fsync(w->out) < 0)
		return -errno;
	if ((err = state_rename(r, JOURNAL_TMP, COFFRE_JOURNAL_FILE)) != 0)
		return err;
	close(r->jfd);
	r->jfd = w->out;
	w->out = -1;
	if (r->spilling && c < e0 && r->jcur == c)
		r->jcur = k;
	else if (r->jcur >= e0)
		r->jcur = k + d + (r->jcur - e0);
	else
		r->jcur = k;            /* cannot be: load it all again */
	r->jpub = p;
	if (r->jfloor_end <= c) {
		r->jfloor_end = 0;
		r->jfloor_seq = UINT64_MAX;
	} else if (r->jfloor_end <= r->jsize) {
		r->jfloor_end = w->fe_new;
	} else {
		r->jfloor_end = size + (r->jfloor_end - r->jsize);
	}
	r->jbase += (int64_t)c - (int64_t)k;
	r->jsize = size;
	r->jbroken = false;
	r->jrewrites++;
	if (r->spilling)
		r->nspill = w->count;   /* of D and T */
	return journal_fsync_dir(r);
}

int journal_rewrite_locked(struct replica *r)
{
	struct hset dup;
	struct prefix pre = { NULL, 0, 0, &dup, 0 };
	struct rw w = { .in = r->jfd, .out = -1, .fe = r->jfloor_end };
	uint64_t c = r->jcur, e = r->jsize, e0 = 0, p = 0, k = 0, d = 0;
	uint64_t pub = r->jpub;
	bool locked = true;
	int err;

	r->jrewrite_at = UINT64_MAX;       /* not again meanwhile */
	if (!r->spilling || c > e)
		c = e;                     /* no backlog durable yet */
	if (pub > c)
		pub = c;
	hset_init(&dup, JREWRITE_SET_SLOTS);
	if ((err = strmap_foreach(&r->q, prefix_cb, &pre)) != 0)
		goto out;
	pthread_mutex_unlock(&r->lock);
	locked = false;

	w.ibuf = malloc(JCHUNK);
	w.obuf = malloc(JCHUNK);
	if (!w.ibuf || !w.obuf) {
		err = -ENOMEM;
		goto out;
	}
	w.out = journal_open_file(r, JOURNAL_TMP, O_TRUNC);
	if (w.out < 0) {
		err = w.out;
		goto out;
	}
	if ((err = out_put(&w, pre.buf, pre.len)) != 0)
		goto out;
	p = w.out_off;
	free(pre.buf);
	pre.buf = NULL;
	w.fe_new = p;
	w.dup = &dup;
	if ((err = copy_range(&w, pub, c)) != 0)
		goto out;
	k = w.out_off;
	w.count = 0;
	hset_clear(&dup);
	if ((err = copy_range(&w, c, e)) != 0)
		goto out;
	w.dup = NULL;
	hset_fini(&dup);
	d = w.out_off - k;
	e0 = e;

	/* Catch up with the appends, without the lock while they are many. */
	for (;;) {
		uint64_t e2;

		pthread_mutex_lock(&r->lock);
		locked = true;
		e2 = r->jsize;
		if (e2 - e <= JSPILL_FLUSH)
			break;
		pthread_mutex_unlock(&r->lock);
		locked = false;
		if ((err = copy_range(&w, e, e2)) != 0)
			goto out;
		e = e2;
	}
	pthread_mutex_unlock(&r->lock);
	locked = false;
	if ((err = out_flush(&w)) != 0)
		goto out;
	if (fsync(w.out) < 0) {
		err = -errno;
		goto out;
	}
	pthread_mutex_lock(&r->lock);
	locked = true;
	while (r->jflushing)
		pthread_cond_wait(&r->jcv, &r->lock);
	if ((err = copy_range(&w, e, r->jsize)) != 0)
		goto out;
	err = swap_in(r, &w, c, e0, p, k, d);
out:
	if (!locked)
		pthread_mutex_lock(&r->lock);
	if (w.out >= 0) {
		close(w.out);
		state_unlink(r, JOURNAL_TMP);
	}
	if (err)
		snprintf(r->last_error, sizeof(r->last_error), "rewrite journal %s: %s",
			 COFFRE_JOURNAL_FILE, strerror(-err));
	r->jrewrite_at = 2 * r->jsize > r->jrewrite_min ? 2 * r->jsize : r->jrewrite_min;
	hset_fini(&dup);
	free(pre.buf);
	free(w.ibuf);
	free(w.obuf);
	return err;
}
