/*
 * Merging sorted sources of raw entries, newest first (doc/FORMAT.md
 * §12.5: memory, then the delta, then the base; §12.6: a fold).  For a key
 * held by several sources the one of the lowest index wins; a winning
 * tombstone hides the key (drop_tombstones) or is passed on.  Every source
 * must give strictly increasing keys: one going backwards (or repeating a
 * key) is tamper, -EIO, sticky.  Memory: one entry per source.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/log.h"
#include "coffre/table.h"

struct head {
	struct tsrc *src;
	struct tent e;          /* the next entry, if live */
	bool live;
	bool started;           /* e has been set once (for the order check) */
};

struct merge_src {
	struct tsrc s;
	bool drop_tombstones;
	int err;                /* sticky: 0, or the first -errno */
	size_t n;
	struct head h[];
};

/* Advance source i past its current entry, checking the order. */
static int head_advance(struct head *h)
{
	struct tent prev = h->e;
	int rc = tsrc_next(h->src, &h->e);

	if (rc < 0)
		return rc;
	h->live = rc == 1;
	if (h->live && h->started && tent_cmp(&prev, &h->e) >= 0) {
		log_tampered(LOG_ERR, "version table tampered: entries out of order");
		return -EIO;
	}
	h->started = true;
	return 0;
}

static int merge_next(struct tsrc *s, struct tent *e)
{
	struct merge_src *m = (struct merge_src *)s;

	while (!m->err) {
		struct head *win = NULL;

		for (size_t i = 0; i < m->n; i++)
			if (m->h[i].live &&
			    (!win || tent_cmp(&m->h[i].e, &win->e) < 0))
				win = &m->h[i];
		if (!win)
			return 0;
		*e = win->e;
		/* the winner is the newest holding this key: pass the rest */
		for (size_t i = 0; i < m->n && !m->err; i++)
			if (m->h[i].live && tent_cmp(&m->h[i].e, e) == 0)
				m->err = head_advance(&m->h[i]);
		if (m->err)
			break;
		if (!(m->drop_tombstones && tent_is_tombstone(e)))
			return 1;
	}
	memset(e, 0, sizeof(*e));
	return m->err;
}

static void merge_free(struct tsrc *s)
{
	struct merge_src *m = (struct merge_src *)s;

	for (size_t i = 0; i < m->n; i++)
		tsrc_free(m->h[i].src);
	free(m);
}

int tsrc_merge(struct tsrc **srcs, size_t n, bool drop_tombstones,
	       struct tsrc **out)
{
	struct merge_src *m = calloc(1, sizeof(*m) + n * sizeof(m->h[0]));

	*out = NULL;
	if (!m) {
		for (size_t i = 0; i < n; i++)
			tsrc_free(srcs[i]);
		return -ENOMEM;
	}
	m->s.next = merge_next;
	m->s.free = merge_free;
	m->drop_tombstones = drop_tombstones;
	m->n = n;
	for (size_t i = 0; i < n; i++)
		m->h[i].src = srcs[i];
	/* the first entry of each source */
	for (size_t i = 0; i < n && !m->err; i++)
		m->err = head_advance(&m->h[i]);
	if (m->err) {
		int err = m->err;

		merge_free(&m->s);
		return err;
	}
	*out = &m->s;
	return 0;
}
