/*
 * health.c — how the mount is doing, in one place: the level `coffrectl
 * status` exits with (0 healthy, 1 degraded, 2 failing, coffre/exit.h) and
 * the warnings it shows, and a thread that logs each warning when it
 * appears and when it clears, so that every warning status shows is in
 * the log too, and tells systemd the summary line (STATUS=) when it
 * changes.
 *   failing:  no HSM answers; the bucket has no marker (nothing replicates)
 *   degraded: an HSM is down; the bucket's last attempt failed; a stored
 *             manifest failed its check (suspicious)
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "coffre/exit.h"
#include "coffre/replica.h"

static void add(struct fs_health *h, int level, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(struct fs_health *h, int level, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (level > h->level)
		h->level = level;
	if (h->n == FS_HEALTH_MAX)
		return;
	snprintf(h->w[h->n].key, sizeof(h->w[h->n].key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(h->w[h->n].text, sizeof(h->w[h->n].text), fmt, ap);
	va_end(ap);
	h->n++;
}

void fs_health(struct fs_health *h)
{
	struct volume_hsm st[COFFRE_MAX_HSMS];
	unsigned i, n = volume_hsm_status(g_fs.vol, st, COFFRE_MAX_HSMS), up = 0;
	struct replica_status rs;
	char key[16];

	memset(h, 0, sizeof(*h));
	for (i = 0; i < n; i++)
		up += st[i].up;
	for (i = 0; i < n; i++) {
		if (st[i].up)
			continue;
		snprintf(key, sizeof(key), "hsm %u", i + 1);
		add(h, up ? COFFRE_HEALTH_DEGRADED : COFFRE_HEALTH_FAILING, key,
		    "HSM %u (%s) is %s%s%s", i + 1, st[i].uri, st[i].state,
		    st[i].reason[0] ? ": " : "", st[i].reason);
	}
	if (!fs_replica_status(&rs))
		return;
	if (rs.bucket == REPLICA_BUCKET_NO_MARKER)
		add(h, COFFRE_HEALTH_FAILING, "bucket", "the bucket has no marker: "
		    "nothing replicates (%s)", rs.last_error);
	else if (rs.bucket == REPLICA_BUCKET_ERROR)
		add(h, COFFRE_HEALTH_DEGRADED, "bucket", "replication is failing, "
		    "%llu paths pending: %s", (unsigned long long)rs.queued,
		    rs.last_error);
	if (rs.manifest_suspicious)
		add(h, COFFRE_HEALTH_DEGRADED, "manifest", "a stored bucket manifest "
		    "failed its check (MANIFEST SUSPICIOUS): run `coffrectl verify`");
}

const char *fs_health_name(int level)
{
	return level == COFFRE_HEALTH_OK ? "healthy" :
	       level == COFFRE_HEALTH_DEGRADED ? "degraded" : "failing";
}

void fs_health_line(const struct fs_health *h, char *out, size_t cap)
{
	size_t len;

	snprintf(out, cap, "%s", fs_health_name(h->level));
	for (unsigned i = 0; i < h->n; i++) {
		len = strlen(out);
		snprintf(out + len, cap - len, "%s%s", i ? "; " : ": ", h->w[i].text);
	}
}

/* ---- the thread that logs the warnings */

static struct ticker watcher = TICKER_INIT;
static struct fs_health seen;         /* the watcher's alone */
static bool first_look = true;

static const struct fs_health_warning *find(const struct fs_health *h, const char *key)
{
	for (unsigned i = 0; i < h->n; i++)
		if (!strcmp(h->w[i].key, key))
			return &h->w[i];
	return NULL;
}

void fs_health_log_changes(const struct fs_health *before, const struct fs_health *now)
{
	for (unsigned i = 0; i < now->n; i++)
		if (!find(before, now->w[i].key))
			log_msg(now->level == COFFRE_HEALTH_FAILING ? LOG_ERR : LOG_WARNING,
				"%s: %s", fs_health_name(now->level), now->w[i].text);
	for (unsigned i = 0; i < before->n; i++)
		if (!find(now, before->w[i].key))
			log_msg(LOG_NOTICE, "cleared: %s", before->w[i].text);
}

/* The summary as STATUS= when it changed (not the first: READY=1 carries
 * that one, sent by the daemon once the mount serves). */
static void notify_changes(bool first, const struct fs_health *now)
{
	static char last[512];
	char line[512];

	fs_health_line(now, line, sizeof(line));
	if (!first && strcmp(line, last))
		fs_notify("STATUS=%s", line);
	memcpy(last, line, sizeof(last));
}

static void watch(void)
{
	static struct fs_health now;

	fs_health(&now);
	fs_health_log_changes(&seen, &now);
	notify_changes(first_look, &now);
	first_look = false;
	seen = now;
}

int fs_health_start(unsigned period_s)
{
	memset(&seen, 0, sizeof(seen));
	first_look = true;
	return ticker_start(&watcher, watch, period_s);
}

void fs_health_stop(void)
{
	ticker_stop(&watcher);
}
