/*
 * prune.c — keeps the kernel's FUSE inodes, and so the daemon's inode
 * table, near max_inodes.
 *
 * The daemon holds an inode (200 bytes) for as long as the kernel
 * remembers it, and the kernel forgets only when its dentries are evicted,
 * that is under memory pressure: 10 minutes of creating files grew it to
 * 176 MiB (issue 14).  Past the bound, a thread names the inodes
 * looked up least recently (inode_prune_pick) in a FUSE_NOTIFY_PRUNE
 * notification (protocol 7.45): for each, the kernel drops the dentries
 * nobody uses (d_prune_aliases), the inode goes with its last one and a
 * FORGET comes back.  Dentries in use (open files, working directories)
 * stay, and nothing else changes for them; so do directories holding
 * negative dentries (names looked up and not found, or removed), which
 * the kernel keeps until memory pressure.  An entry timeout of 0 would
 * not do: the kernel keeps such dentries too (see DESIGN.md).
 *
 * The notification is written to /dev/fuse from this thread only, which
 * holds no lock meanwhile: the kernel may wait on requests the workers
 * answer (an inode being written back), so no worker may send it.
 */
#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "fs.h"

/* From the kernel's include/uapi/linux/fuse.h (7.45), which neither
 * libfuse 3.14 nor older kernel headers know. */
#define PRUNE_NOTIFY_CODE 9           /* FUSE_NOTIFY_PRUNE */
#define PRUNE_MINOR 45
struct prune_out {                    /* struct fuse_notify_prune_out */
	uint32_t count;
	uint32_t padding;
	uint64_t spare;
};

/* Ids per round (a round is followed by a pause) and per notification
 * (the kernel's own batch). */
#define PRUNE_ROUND 16384
#define PRUNE_BATCH 512
/* Pause after a round, doubled while the kernel forgets nothing (it
 * keeps inodes in use, and directories holding negative dentries), up to
 * the maximum: a round naming 16,384 inodes costs some 30 ms of CPU. */
#define PRUNE_PAUSE_MS 10
#define PRUNE_PAUSE_MAX_MS 5000

static struct {
	pthread_t thread;
	bool running;
	atomic_bool active;
	pthread_mutex_t mu;           /* stopping, for the pauses */
	pthread_cond_t cond;
	bool stopping;
	uint64_t ids[PRUNE_ROUND];
} pr = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

bool fs_prune_active(void)
{
	return atomic_load(&pr.active);
}

/* One FUSE_NOTIFY_PRUNE: 0 or -errno (-EINVAL from a kernel without it). */
static int notify_prune(const uint64_t *ids, size_t n)
{
	struct fuse_out_header oh = {
		.len = (uint32_t)(sizeof(oh) + sizeof(struct prune_out) +
				  n * sizeof(*ids)),
		.error = PRUNE_NOTIFY_CODE,
	};
	struct prune_out po = { .count = (uint32_t)n };
	struct iovec iov[3] = {
		{ &oh, sizeof(oh) }, { &po, sizeof(po) },
		{ (void *)ids, n * sizeof(*ids) },
	};

	return writev(fuse_session_fd(g_fs.se), iov, 3) < 0 ? -errno : 0;
}

/* Sleep ms milliseconds; false if stopped meanwhile. */
static bool pause_ms(unsigned ms)
{
	struct timespec ts;
	bool stopping;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pr.mu);
	while (!pr.stopping &&
	       pthread_cond_clockwait(&pr.cond, &pr.mu, CLOCK_MONOTONIC,
				      &ts) != ETIMEDOUT)
		;
	stopping = pr.stopping;
	pthread_mutex_unlock(&pr.mu);
	return !stopping;
}

static uint64_t forgotten(void)
{
	struct inode_stats s;

	inode_table_stats(g_fs.inodes, &s);
	return s.forgotten;
}

static size_t max_inodes(void)
{
	struct inode_stats s;

	inode_table_stats(g_fs.inodes, &s);
	return s.max_inodes;
}

static void *prune_main(void *arg)
{
	unsigned pause = PRUNE_PAUSE_MS;
	uint64_t before;
	size_t n, k;
	int err = 0;

	(void)arg;
	while (inode_prune_wait(g_fs.inodes)) {
		before = forgotten();
		n = inode_prune_pick(g_fs.inodes, pr.ids, PRUNE_ROUND);
		for (k = 0; k < n && !err; k += PRUNE_BATCH)
			err = notify_prune(pr.ids + k, n - k < PRUNE_BATCH ?
					   n - k : PRUNE_BATCH);
		if (err == -EINVAL || err == -ENOSYS) {
			log_msg(LOG_WARNING, "the kernel refused "
				"FUSE_NOTIFY_PRUNE (%s): max_inodes=%zu does "
				"not hold", strerror(-err), max_inodes());
			break;
		}
		if (err == -ENODEV || err == -ENOTCONN || err == -EBADF)
			break;          /* unmounted */
		if (err)
			log_ratelimited(LOG_ERR, "FUSE_NOTIFY_PRUNE: %s",
					strerror(-err));
		err = 0;
		/* FORGETs arrive through the workers meanwhile. */
		if (!pause_ms(pause))
			break;
		if (forgotten() > before)
			pause = PRUNE_PAUSE_MS;
		else if (pause < PRUNE_PAUSE_MAX_MS)
			pause *= 2;
	}
	atomic_store(&pr.active, false);
	return NULL;
}

void fs_prune_start(unsigned proto_major, unsigned proto_minor)
{
	size_t max = max_inodes();
	sigset_t all, old;
	int err;

	if (!max || pr.running || !g_fs.se)
		return;
	if (proto_major < 7 ||
	    (proto_major == 7 && proto_minor < PRUNE_MINOR)) {
		log_msg(LOG_WARNING, "the kernel's FUSE (protocol %u.%u) cannot "
			"be asked to forget inodes (7.%u, Linux 6.18): "
			"max_inodes=%zu does not hold", proto_major, proto_minor,
			PRUNE_MINOR, max);
		return;
	}
	atomic_store(&pr.active, true);
	/* The thread takes no signals (a write interrupted by one would be
	 * an error to log): those are the session's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&pr.thread, NULL, prune_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		atomic_store(&pr.active, false);
		log_msg(LOG_WARNING, "cannot start the inode pruner: "
			"max_inodes=%zu does not hold", max);
		return;
	}
	pr.running = true;
}

void fs_prune_stop(void)
{
	if (!pr.running)
		return;
	pthread_mutex_lock(&pr.mu);
	pr.stopping = true;
	pthread_cond_broadcast(&pr.cond);
	pthread_mutex_unlock(&pr.mu);
	inode_prune_stop(g_fs.inodes);
	pthread_join(pr.thread, NULL);
	pr.running = false;
}
