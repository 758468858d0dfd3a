/*
 * Records written by a session (doc/FORMAT.md §12.3, §12.7, §14.2 step 3,
 * §14.4): the start record log.<s>, the freeze of the open generation and
 * the commit of the frozen one as log.<g>.  A record is built whole in
 * memory by tlog_write, verified back by tlog_parse (the view T is
 * applied from, the same path as loading), written to a temp file,
 * fsynced, linked at its name (never over an existing file), the temp
 * removed and .coffre/manifest fsynced (io_create_new); only then applied
 * to T.  Each record chains to the one before (or to the newest level)
 * and carries W until a record with "residue closed" ends it.
 *
 * Memory while a record is written: the record (at most V2_TLOG_MAX_LEN,
 * 11 MiB + 160 bytes) and its changes decoded (at most V2_TLOG_MAX_PQ
 * struct tentry), then T's apply (state.c).
 *
 * A fold (§12.6, fold.c) comes first when the record would take T's
 * memory past E_c or too many records follow the newest level.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "tstate.h"

#define RECORD_MODE 0600

/* The changes of g (sorted) as puts and deleted keys for tlog_write. */
static int decode_changes(const struct tgen *g, struct tentry **puts,
			  struct tentry **dels, uint32_t *p, uint32_t *q)
{
	*p = *q = 0;
	*puts = calloc(g->n ? g->n : 1, sizeof(**puts));
	*dels = calloc(g->n ? g->n : 1, sizeof(**dels));
	if (!*puts || !*dels)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		struct tentry e;

		if (tent_to(&g->v[i], &e) != 0)
			return -EINVAL;
		if (e.tombstone) {
			e.tombstone = false;
			(*dels)[(*q)++] = e;
		} else {
			(*puts)[(*p)++] = e;
		}
	}
	return 0;
}

/*
 * Write log.<gen> of type and flags with g's changes (NULL: none) and
 * apply it to T.  Called under commit_mu, so the chain's tail and W are
 * stable.
 */
static int write_record(struct table *t, uint8_t type, uint16_t flags,
			uint64_t gen, const struct tgen *g)
{
	struct tentry *puts = NULL, *dels = NULL;
	char name[V2_MANIFEST_NAME_MAX];
	struct tlog_header h = {
		.type = type,
		.flags = flags,
		.gen = gen,
		.time = (uint64_t)time(NULL),
	};
	struct tlog_view v;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	memcpy(h.uuid, t->k.uuid, sizeof(h.uuid));
	pthread_rwlock_rdlock(&t->lock);
	h.prev_gen = t->gen;
	memcpy(h.prev_mac, t->mac, sizeof(h.prev_mac));
	h.residue_lo = t->window.lo;
	h.residue_hi = t->window.hi;
	pthread_rwlock_unlock(&t->lock);
	if (g) {
		rc = decode_changes(g, &puts, &dels, &h.p, &h.q);
		if (rc)
			goto out;
		h.r = (uint32_t)g->nrem;
	}
	len = tlog_len(h.p, h.q, h.r);
	rc = -EINVAL;
	if (!len)
		goto out;
	rc = -ENOMEM;
	buf = malloc(len);
	if (!buf)
		goto out;
	rc = tlog_write(t->k.key, &h, puts, dels, g ? g->rem : NULL, buf, len);
	if (rc < 0)
		goto out;
	rc = tlog_parse(t->k.key, buf, len, &v);
	if (rc)
		goto out;
	rc = tfold_first(t, &v);
	if (rc)
		goto out;
	names2_manifest_write(N2_MF_LOG, gen, name);
	rc = io_create_new(t->mdir, name, buf, len, RECORD_MODE);
	if (rc) {
		log_msg(LOG_ERR, "version table: cannot write "
			".coffre/manifest/%s: %s", name, strerror(-rc));
		goto out;
	}
	/* durable: T follows (only -ENOMEM can fail here, and then T is
	 * behind the disk: the caller must stop and reload) */
	rc = tstate_apply(t, &v);
out:
	free(puts);
	free(dels);
	free(buf);
	return rc;
}

int table_session_start(struct table *t, uint64_t s)
{
	int rc;

	pthread_mutex_lock(&t->commit_mu);
	rc = -EBUSY;
	if (t->session)
		goto out;
	rc = -EINVAL;
	if (!v2_gen_valid(s) || !v2_gen_valid(s + 1) || s <= t->gen ||
	    (t->gen && s < t->gen + 3) || (t->window.lo && s <= t->window.hi))
		goto out;
	rc = write_record(t, V2_TLOG_TYPE_START, 0, s, NULL);
	if (rc)
		goto out;
	pthread_rwlock_wrlock(&t->slock);
	t->open = tgen_new(s + 1);
	t->session = t->open != NULL;
	pthread_rwlock_unlock(&t->slock);
	if (!t->session)
		rc = -ENOMEM;
out:
	pthread_mutex_unlock(&t->commit_mu);
	return rc;
}

int table_freeze(struct table *t, uint64_t *g)
{
	struct tgen *next;
	int rc = 0;

	*g = 0;
	pthread_rwlock_wrlock(&t->slock);
	if (!t->session)
		rc = -ENXIO;
	else if (t->frozen)
		rc = -EBUSY;
	else if (!v2_gen_valid(t->open->gen + 1))
		rc = -EOVERFLOW;
	if (!rc) {
		next = tgen_new(t->open->gen + 1);
		if (!next) {
			rc = -ENOMEM;
		} else {
			tgen_sort(t->open);
			t->frozen = t->open;
			t->open = next;
			*g = t->frozen->gen;
		}
	}
	pthread_rwlock_unlock(&t->slock);
	return rc;
}

int table_commit(struct table *t, uint16_t flags)
{
	struct tgen *g;
	int rc;

	if (flags & ~(V2_TLOG_CLEAN | V2_TLOG_RESIDUE_CLOSED))
		return -EINVAL;
	pthread_mutex_lock(&t->commit_mu);
	/* only a commit (this one, under commit_mu) drops a frozen gen */
	pthread_rwlock_rdlock(&t->slock);
	g = t->frozen;
	pthread_rwlock_unlock(&t->slock);
	rc = -ENOENT;
	if (g)
		rc = write_record(t, V2_TLOG_TYPE_COMMIT, flags, g->gen, g);
	if (!rc) {
		pthread_rwlock_wrlock(&t->slock);
		t->frozen = NULL;
		pthread_rwlock_unlock(&t->slock);
		tgen_free(g);
	}
	pthread_mutex_unlock(&t->commit_mu);
	return rc;
}
