/*
 * The pending queue in memory: one entry per path (a strmap) on one of two
 * FIFO lists, key records/escrow/config first (DESIGN §3: records reach
 * the bucket before the data that needs them).  A path noted again while
 * pending is not queued twice: its generation is bumped, so a copy that
 * raced with a change is redone.  Every note carries a sequence number;
 * replica_sync() waits until no entry older than its target remains, in
 * memory or in the backlog on disk (backlog.c), whose bound counts here.
 * All functions run with r->lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica_private.h"

static void list_push(struct replica *r, struct qent *e, bool at_head)
{
	int l = e->prio ? 1 : 0;

	e->prev = e->next = NULL;
	if (!r->head[l]) {
		r->head[l] = r->tail[l] = e;
	} else if (at_head) {
		e->next = r->head[l];
		r->head[l]->prev = e;
		r->head[l] = e;
	} else {
		e->prev = r->tail[l];
		r->tail[l]->next = e;
		r->tail[l] = e;
	}
}

static void list_unlink(struct replica *r, struct qent *e)
{
	int l = e->prio ? 1 : 0;

	if (e->prev)
		e->prev->next = e->next;
	else
		r->head[l] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		r->tail[l] = e->prev;
	e->prev = e->next = NULL;
}

int queue_note_locked(struct replica *r, const char *path, bool light,
		      bool journaled, uint64_t seq, struct qent **out)
{
	struct qent *e = strmap_get(&r->q, path);
	void *old;
	int err;

	if (e) {
		if (!light)
			e->light = false;
		e->journaled |= journaled;
		e->gen++;
		/* Seqs of notes only grow; a record loaded from the backlog
		 * or a scan entry may carry an older one. */
		if (e->in_flight) {
			if (!e->renoted || seq < e->renote_seq)
				e->renote_seq = seq;
			e->renoted = true;
		} else if (seq < e->seq_first) {
			e->seq_first = seq;
		}
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->path = strdup(path))) {
		free(e);
		return -ENOMEM;
	}
	e->gen = 1;
	e->seq_first = seq;
	e->since = replica_mono_ms() / 1000;
	e->light = light;
	e->journaled = journaled;
	e->prio = replica_path_priority(path);
	if ((err = strmap_put(&r->q, e->path, e, &old)) != 0) {
		free(e->path);
		free(e);
		return err;
	}
	list_push(r, e, false);
out:
	if (out)
		*out = e;
	return 0;
}

struct qent *queue_pop_locked(struct replica *r)
{
	struct qent *e = r->head[1] ? r->head[1] : r->head[0];

	if (!e)
		return NULL;
	list_unlink(r, e);
	e->in_flight = true;
	e->taken_gen = e->gen;
	return e;
}

void queue_done_locked(struct replica *r, struct qent *e, int res)
{
	e->in_flight = false;
	if (res == QRES_OK && e->gen == e->taken_gen) {
		strmap_del(&r->q, e->path);
		free(e->path);
		free(e);
		return;
	}
	if (res == QRES_OK) {
		/* Noted again while being copied: what is in the bucket is
		 * older than the last note. */
		e->seq_first = e->renote_seq;
		e->since = replica_mono_ms() / 1000;
	} else if (e->renoted && e->renote_seq < e->seq_first) {
		e->seq_first = e->renote_seq;
	}
	e->renoted = false;
	list_push(r, e, res == QRES_ERROR);
}

struct minseq {
	uint64_t min;
};

static int min_cb(void *val, void *arg)
{
	struct qent *e = val;
	struct minseq *m = arg;

	if (e->seq_first < m->min)
		m->min = e->seq_first;
	if (e->renoted && e->renote_seq < m->min)
		m->min = e->renote_seq;
	return 0;
}

uint64_t queue_min_seq_locked(struct replica *r)
{
	struct minseq m = { r->noted_seq + 1 };
	uint64_t b;

	strmap_foreach(&r->q, min_cb, &m);
	if (r->spilling && (b = backlog_seq_floor(r, r->jcur)) < m.min)
		m.min = b;
	return m.min;
}

static int free_cb(void *val, void *arg)
{
	struct qent *e = val;

	(void)arg;
	free(e->path);
	free(e);
	return 0;
}

void queue_free_all(struct replica *r)
{
	strmap_foreach(&r->q, free_cb, NULL);
	strmap_fini(&r->q);
	r->head[0] = r->head[1] = r->tail[0] = r->tail[1] = NULL;
}
