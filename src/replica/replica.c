/*
 * The replicator's public face (include/replica/coffre/replica.h): open (journal
 * replay, manifest load, worker start), note (durable journal append with
 * group commit, kept in memory within the window or left in the backlog
 * on disk, then wake the worker), sync (wait until every earlier note is
 * published in a manifest), status and close.  The manifest key is
 * kept in the struct and wiped with OPENSSL_cleanse at close and on every
 * failure path.  pthreads; condition variables on CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "replica_private.h"

/* Limits for the replicas opened next (replica_set_limits). */
static size_t g_window = COFFRE_REPLICA_WINDOW;
static uint64_t g_rewrite_min = COFFRE_JOURNAL_REWRITE_MIN;
static size_t g_delta_max = MSTORE_DELTA_MAX;

void replica_set_limits(size_t window, uint64_t rewrite_min, size_t delta_max)
{
	g_window = window ? window : COFFRE_REPLICA_WINDOW;
	g_rewrite_min = rewrite_min ? rewrite_min : COFFRE_JOURNAL_REWRITE_MIN;
	g_delta_max = delta_max ? delta_max : MSTORE_DELTA_MAX;
}

uint64_t replica_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 4, 0)))
set_error(struct replica *r, enum replica_bucket_state st, bool suspicious,
	  const char *fmt, va_list ap)
{
	pthread_mutex_lock(&r->lock);
	vsnprintf(r->last_error, sizeof(r->last_error), fmt, ap);
	if (suspicious) {
		r->suspicious = true;
		memcpy(r->suspicious_why, r->last_error, sizeof(r->suspicious_why));
	}
	if (st != REPLICA_BUCKET_UNKNOWN)
		r->state = st;
	pthread_mutex_unlock(&r->lock);
}

void replica_set_error(struct replica *r, enum replica_bucket_state st,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(r, st, false, fmt, ap);
	va_end(ap);
}

void replica_set_suspicious(struct replica *r, enum replica_bucket_state st,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_error(r, st, true, fmt, ap);
	va_end(ap);
}

const char *replica_bucket_state_name(enum replica_bucket_state s)
{
	switch (s) {
	case REPLICA_BUCKET_OK: return "ok";
	case REPLICA_BUCKET_NO_MARKER: return "no marker";
	case REPLICA_BUCKET_ERROR: return "error";
	default: return "unknown";
	}
}

static int init_cond(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return -rc;
}

static void destroy(struct replica *r)
{
	queue_free_all(r);
	journal_close(r);
	mstore_free(r->man);
	if (r->backing_fd >= 0)
		close(r->backing_fd);
	free(r->bucket_dir);
	pthread_cond_destroy(&r->work_cv);
	pthread_cond_destroy(&r->done_cv);
	pthread_cond_destroy(&r->jcv);
	pthread_mutex_destroy(&r->lock);
	munlock(r->key, sizeof(r->key));
	OPENSSL_cleanse(r->key, sizeof(r->key));
	free(r);
}

int replica_open(int backing_root_fd, const char *bucket_dir,
		 const uint8_t volume_uuid[COFFRE_ID_LEN], const uint8_t manifest_key[COFFRE_KEY_LEN],
		 struct replica **out, char *errbuf, size_t errlen)
{
	struct replica *r;
	int err;

	*out = NULL;
	if (!bucket_dir || !*bucket_dir) {
		snprintf(errbuf, errlen, "no bucket directory given");
		return -EINVAL;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	r->jfd = -1;
	r->manifest_seq = -1;
	r->window = g_window;
	r->jrewrite_min = g_rewrite_min;
	r->delta_max = g_delta_max;
	r->jfloor_seq = UINT64_MAX;
	hset_init(&r->spilled, JSPILL_SET_SLOTS);
	pthread_mutex_init(&r->lock, NULL);
	init_cond(&r->work_cv);
	init_cond(&r->done_cv);
	init_cond(&r->jcv);
	mlock(r->key, sizeof(r->key));
	memcpy(r->key, manifest_key, 32);
	memcpy(r->uuid, volume_uuid, COFFRE_ID_LEN);
	r->backing_fd = fcntl(backing_root_fd, F_DUPFD_CLOEXEC, 3);
	if (r->backing_fd < 0 || !(r->bucket_dir = strdup(bucket_dir)) ||
	    strmap_init(&r->q) != 0) {
		err = r->backing_fd < 0 ? -errno : -ENOMEM;
		snprintf(errbuf, errlen, "replica: %s", strerror(-err));
		goto fail;
	}
	if ((err = journal_open(r)) != 0) {
		snprintf(errbuf, errlen, "replica journal %s: %s",
			 COFFRE_JOURNAL_FILE, strerror(-err));
		goto fail;
	}
	if ((err = manifest_load(r)) != 0) {
		snprintf(errbuf, errlen, "replica manifest: %s", strerror(-err));
		goto fail;
	}
	if ((err = -pthread_create(&r->worker, NULL, replica_worker, r)) != 0) {
		snprintf(errbuf, errlen, "replica worker: %s", strerror(-err));
		goto fail;
	}
	r->started = true;
	*out = r;
	return 0;
fail:
	destroy(r);
	return err;
}

int replica_note(struct replica *r, const char *relpath)
{
	size_t len = strlen(relpath);
	struct qent *e;
	uint64_t seq, batch;
	int err = 0, jerr = 0;

	if (replica_path_check(relpath, len) != 0)
		return -EINVAL;
	if (replica_path_excluded(relpath))
		return 0;
	pthread_mutex_lock(&r->lock);
	e = strmap_get(&r->q, relpath);
	if (e && e->journaled) {
		/* Pending and journaled: no I/O. */
		err = queue_note_locked(r, relpath, false, true, ++r->noted_seq, NULL);
	} else if (!e && backlog_full_locked(r, relpath)) {
		/* Past the window: the journal alone holds it. */
		err = backlog_note_locked(r, relpath, len);
	} else {
		/* Queued before the wait, so a sync meanwhile counts it. */
		if ((jerr = journal_note_locked(r, relpath, len, false, &seq, &batch)) != 0)
			seq = ++r->noted_seq;
		err = queue_note_locked(r, relpath, false, false, seq, NULL);
		if (!jerr)
			jerr = journal_wait_locked(r, batch);
		if (!jerr && (e = strmap_get(&r->q, relpath)) != NULL)
			e->journaled = true;
	}
	pthread_cond_signal(&r->work_cv);
	pthread_mutex_unlock(&r->lock);
	return err ? err : jerr;
}

int replica_sync(struct replica *r, int timeout_ms)
{
	uint64_t deadline = replica_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int64_t target;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	target = (int64_t)r->noted_seq;
	r->retry_now = true;
	r->sync_waiters++;
	pthread_cond_signal(&r->work_cv);
	while (!(r->scanned && r->manifest_seq >= target)) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&r->done_cv, &r->lock);
			continue;
		}
		uint64_t now = replica_mono_ms();
		struct timespec ts;

		if (now >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		/* Wake now and then to re-kick a backed-off worker. */
		if (deadline - now > 1000)
			now += 1000;
		else
			now = deadline;
		ts.tv_sec = (time_t)(now / 1000);
		ts.tv_nsec = (long)(now % 1000) * 1000000L;
		pthread_cond_timedwait(&r->done_cv, &r->lock, &ts);
	}
	r->sync_waiters--;
	pthread_mutex_unlock(&r->lock);
	return err;
}

struct behind {
	struct replica *r;
	uint64_t bytes, oldest, n;
};

static int behind_cb(void *val, void *arg)
{
	struct qent *e = val;
	struct behind *b = arg;
	struct stat st;

	if (e->since < b->oldest)
		b->oldest = e->since;
	if (b->n++ < 100000 &&
	    fstatat(b->r->backing_fd, e->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		b->bytes += (uint64_t)st.st_size;
	return 0;
}

void replica_status(struct replica *r, struct replica_status *st)
{
	struct behind b = { r, 0, UINT64_MAX, 0 };
	uint64_t now = replica_mono_ms() / 1000;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&r->lock);
	strmap_foreach(&r->q, behind_cb, &b);
	st->queued = r->q.n + r->nspill;
	if (r->spilling && r->spill_since < b.oldest)
		b.oldest = r->spill_since;
	st->oldest_age_s = b.oldest == UINT64_MAX || b.oldest > now ? 0 : now - b.oldest;
	st->in_memory = r->q.n;
	st->journal_bytes = r->jsize;
	st->bytes_behind = b.bytes;
	st->copied = r->copied;
	st->skipped = r->skipped;
	st->deleted = r->deleted;
	st->recopied = r->recopied;
	st->errors = r->errors;
	st->generation = r->generation;
	st->manifest_entries = r->man_entries;
	st->manifest_in_memory = r->man_delta;
	st->manifest_suspicious = r->suspicious;
	st->bucket = r->state;
	snprintf(st->last_error, sizeof(st->last_error), "%s",
		 r->last_error[0] ? r->last_error : r->suspicious_why);
	pthread_mutex_unlock(&r->lock);
}

void replica_set_copy_hook(struct replica *r,
			   void (*hook)(void *arg, const char *relpath), void *arg)
{
	pthread_mutex_lock(&r->lock);
	r->hook = hook;
	r->hook_arg = arg;
	pthread_mutex_unlock(&r->lock);
}

void replica_close(struct replica *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_broadcast(&r->work_cv);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->worker, NULL);
	}
	destroy(r);
}
