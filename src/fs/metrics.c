/*
 * metrics.c — what the daemon counts and its Prometheus text (coffre/
 * metrics.h holds the table of names, help and types, and the writer).
 *
 * On the data path: each FUSE request is timed into its operation's
 * histogram (ops.c's timed wrappers), reads and writes add their bytes,
 * EIO replies are counted (ops_reply_err): relaxed atomic adds, no lock.
 * The rest is read from its owner when the metrics are written: the HSM
 * pool's per-member calls, latency and failovers (keys, hsm), the key
 * cache's hits and misses, the tamper count (log), replication (replica),
 * the health level (health.c).
 *
 * The metrics file (-o metrics_file=/dir/NAME.prom) is rewritten every
 * 10 s by a thread of its own: the whole text is built in memory, then
 * io_replace_as writes it to the temp .NAME.prom.tmp (created O_EXCL |
 * O_NOFOLLOW in the directory, which is opened O_DIRECTORY | O_NOFOLLOW)
 * and renames it over NAME.prom, so a reader sees the old file or the new
 * one, never part of one, and a symlink planted at either name is
 * replaced, never followed.  The temp's name does not end in .prom, which
 * node_exporter's textfile collector would read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "coffre/exit.h"
#include "coffre/io.h"
#include "coffre/replica.h"

#ifndef COFFRE_VERSION
#error "COFFRE_VERSION must be defined by the build"
#endif

#define FS_OP_NAME(op) #op,
static const char *const op_names[FS_OP_COUNT] = { FS_OPS(FS_OP_NAME) };
#undef FS_OP_NAME

static struct metrics_hist op_hist[FS_OP_COUNT];
static _Atomic uint64_t read_bytes, written_bytes, eio_replies;

void fs_metrics_op(enum fs_op op, uint64_t t0)
{
	metrics_hist_observe(&op_hist[op], metrics_now_ns() - t0);
}

void fs_metrics_read(size_t bytes)
{
	metrics_add(&read_bytes, bytes);
}

void fs_metrics_written(size_t bytes)
{
	metrics_add(&written_bytes, bytes);
}

void fs_metrics_eio(void)
{
	metrics_add(&eio_replies, 1);
}

/* ---- the text */

static void write_ops(FILE *f, const struct metric_label *vol)
{
	struct metrics_hist_snap s[FS_OP_COUNT];
	struct metric_label l[2] = { *vol, { "op", NULL } };
	unsigned i;

	for (i = 0; i < FS_OP_COUNT; i++)
		metrics_hist_read(&op_hist[i], &s[i]);
	expo_head(f, M_FUSE_REQUESTS);
	for (i = 0; i < FS_OP_COUNT; i++) {
		l[1].value = op_names[i];
		expo_u64(f, M_FUSE_REQUESTS, l, 2, metrics_hist_count(&s[i]));
	}
	expo_head(f, M_FUSE_DURATION);
	for (i = 0; i < FS_OP_COUNT; i++) {
		l[1].value = op_names[i];
		expo_hist(f, M_FUSE_DURATION, l, 2, &s[i]);
	}
}

static void write_hsms(FILE *f, const struct metric_label *vol)
{
	struct volume_hsm st[COFFRE_MAX_HSMS];
	unsigned i, n = volume_hsm_status(g_fs.vol, st, COFFRE_MAX_HSMS);
	char index[COFFRE_MAX_HSMS][12];
	struct metric_label l[COFFRE_MAX_HSMS][3];

	for (i = 0; i < n; i++) {
		snprintf(index[i], sizeof(index[i]), "%u", i + 1);
		l[i][0] = *vol;
		l[i][1] = (struct metric_label){ "hsm", index[i] };
		l[i][2] = (struct metric_label){ "token", st[i].token };
	}
	expo_head(f, M_HSM_UP);
	for (i = 0; i < n; i++)
		expo_u64(f, M_HSM_UP, l[i], 3, st[i].up);
	expo_head(f, M_HSM_CALLS);
	for (i = 0; i < n; i++)
		expo_u64(f, M_HSM_CALLS, l[i], 3, st[i].calls);
	expo_head(f, M_HSM_DURATION);
	for (i = 0; i < n; i++)
		expo_hist(f, M_HSM_DURATION, l[i], 3, &st[i].latency);
	expo_head(f, M_HSM_FAILOVERS);
	for (i = 0; i < n; i++)
		expo_u64(f, M_HSM_FAILOVERS, l[i], 3, st[i].failovers);
}

/* One metric, one sample with the volume label alone. */
static void single(FILE *f, enum metric_id id, const struct metric_label *vol,
		   uint64_t v)
{
	expo_head(f, id);
	expo_u64(f, id, vol, 1, v);
}

void fs_metrics_write(FILE *f)
{
	struct fs_health *h = malloc(sizeof(*h));   /* 8 KiB: not on a stack */
	char uuid[2 * COFFRE_ID_LEN + 1];
	struct metric_label vol = { "volume", uuid }, info[2];
	struct replica_status rs;
	uint64_t unseals, hits, misses;
	size_t entries;

	hex_encode(volume_conf(g_fs.vol)->uuid, COFFRE_ID_LEN, uuid);
	info[0] = vol;
	info[1] = (struct metric_label){ "version", COFFRE_VERSION };
	expo_head(f, M_BUILD_INFO);
	expo_u64(f, M_BUILD_INFO, info, 2, 1);
	if (h)
		fs_health(h);
	single(f, M_HEALTH, &vol, h ? (uint64_t)h->level : COFFRE_HEALTH_UNKNOWN);
	free(h);
	write_ops(f, &vol);
	single(f, M_READ_BYTES, &vol, metrics_get(&read_bytes));
	single(f, M_WRITTEN_BYTES, &vol, metrics_get(&written_bytes));
	single(f, M_EIO, &vol, metrics_get(&eio_replies));
	single(f, M_TAMPER, &vol, log_tamper_count());
	write_hsms(f, &vol);
	keyring_stats(g_fs.keys, &entries, &unseals);
	keyring_lookups(g_fs.keys, &hits, &misses);
	single(f, M_KEY_CACHE_HITS, &vol, hits);
	single(f, M_KEY_CACHE_MISSES, &vol, misses);
	single(f, M_KEY_CACHE_ENTRIES, &vol, entries);
	if (!fs_replica_status(&rs))
		return;       /* no bucket: no replication metrics */
	single(f, M_REPL_PENDING, &vol, rs.queued);
	single(f, M_REPL_LAG, &vol, rs.oldest_age_s);
	single(f, M_REPL_BEHIND, &vol, rs.bytes_behind);
	single(f, M_REPL_ERRORS, &vol, rs.errors);
}

/* ---- the metrics file */

static struct ticker file_ticker = TICKER_INIT;
static struct {
	char dir[PATH_MAX], name[NAME_MAX + 1], tmp[NAME_MAX + 1];
} mf;

static int write_file(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int dfd, err;

	if (!f)
		return -ENOMEM;
	fs_metrics_write(f);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	dfd = open(mf.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = dfd < 0 ? -errno :
	      io_replace_as(dfd, mf.name, mf.tmp, buf, len, 0644);
	if (dfd >= 0)
		close(dfd);
	free(buf);
	return err;
}

static void file_tick(void)
{
	int err = write_file();

	if (err)
		log_ratelimited(LOG_WARNING, "metrics file %s/%s: %s", mf.dir, mf.name,
				strerror(-err));
}

int fs_metrics_file_start(const char *path, unsigned period_s)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	if (!slash)
		return 0;
	if ((size_t)(slash - path) >= sizeof(mf.dir) ||
	    strlen(slash + 1) + 5 >= sizeof(mf.name))
		return -ENAMETOOLONG;
	snprintf(mf.dir, sizeof(mf.dir), "%.*s", slash == path ? 1 : (int)(slash - path),
		 path);
	snprintf(mf.name, sizeof(mf.name), "%s", slash + 1);
	snprintf(mf.tmp, sizeof(mf.tmp), ".%s.tmp", slash + 1);
	return ticker_start(&file_ticker, file_tick, period_s);
}

void fs_metrics_file_stop(void)
{
	ticker_stop(&file_ticker);
}
