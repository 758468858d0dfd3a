/*
 * replicate.c — the daemon's side of replication (src/replica): starting
 * the replicator for the volume's bucket, and telling it which backing
 * paths each operation changed (DESIGN.md §6 "Journal").  Paths are
 * relative to the backing root; a backing object is found from its fd
 * through /proc/self/fd.  With no bucket configured every call is a no-op.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffre/replica.h"
#include "fs.h"

static struct {
	struct replica *r;
	char root[PATH_MAX];
	size_t root_len;
	pthread_t thread;
	bool running, stopping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t stored;               /* generation last put in the HSMs */
} rep = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* Record the manifest generation in the HSMs when it moved on, so a bucket
 * rolled back as a whole is caught even without the backing dir. */
static void store_generation(void)
{
	struct replica_status st;

	replica_status(rep.r, &st);
	if (st.generation > rep.stored &&
	    volume_generation_put(g_fs.vol, st.generation) == 0)
		rep.stored = st.generation;
}

static void *generation_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&rep.lock);
	while (!rep.stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 2;
		pthread_cond_timedwait(&rep.wake, &rep.lock, &ts);
		if (!rep.stopping)
			store_generation();
	}
	pthread_mutex_unlock(&rep.lock);
	return NULL;
}

int fs_replica_start(const char *bucket, char *err, size_t errlen)
{
	struct derived_key *key = NULL;
	char path[64];
	ssize_t n;
	int ret;

	if (!bucket || !bucket[0])
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", g_fs.root_fd);
	n = readlink(path, rep.root, sizeof(rep.root) - 1);
	if (n <= 0) {
		snprintf(err, errlen, "cannot name the backing root");
		return -EIO;
	}
	rep.root[n] = '\0';
	rep.root_len = (size_t)n;
	ret = volume_manifest_key(g_fs.vol, &key);
	if (!ret)
		ret = replica_open(g_fs.root_fd, bucket, volume_conf(g_fs.vol)->uuid,
				   key->key, &rep.r, err, errlen);
	derived_key_free(key);
	if (ret)
		return ret;
	rep.stored = volume_generation_get(g_fs.vol);
	rep.running = pthread_create(&rep.thread, NULL, generation_main, NULL) == 0;
	return 0;
}

void fs_replica_stop(void)
{
	if (rep.running) {
		pthread_mutex_lock(&rep.lock);
		rep.stopping = true;
		pthread_cond_signal(&rep.wake);
		pthread_mutex_unlock(&rep.lock);
		pthread_join(rep.thread, NULL);
		rep.running = false;
	}
	if (rep.r) {
		pthread_mutex_lock(&rep.lock);
		store_generation();
		pthread_mutex_unlock(&rep.lock);
	}
	replica_close(rep.r);
	rep.r = NULL;
}

void note(const char *rel)
{
	int err;

	if (!rep.r || !rel[0])
		return;
	err = replica_note(rep.r, rel);
	if (err)
		log_ratelimited(LOG_ERR, "replication journal: %s: %s", rel,
				strerror(-err));
}

/* The path of fd relative to the backing root, into out; false if it is
 * not under it (or deleted). */
static bool rel_of_fd(int fd, char *out, size_t cap)
{
	char link[64], abs[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, abs, sizeof(abs) - 1);
	if (n <= 0)
		return false;
	abs[n] = '\0';
	if (strncmp(abs, rep.root, rep.root_len) ||
	    (abs[rep.root_len] && abs[rep.root_len] != '/') ||
	    strstr(abs, " (deleted)"))
		return false;
	snprintf(out, cap, "%s", abs[rep.root_len] ? abs + rep.root_len + 1 : "");
	return true;
}

void note_at(int dirfd, const char *name)
{
	char rel[PATH_MAX], full[PATH_MAX + NAME_MAX + 2];

	if (!rep.r || !rel_of_fd(dirfd, rel, sizeof(rel)))
		return;
	if (!name)
		note(rel);
	else if (!rel[0])
		note(name);
	else if ((size_t)snprintf(full, sizeof(full), "%s/%s", rel, name) < sizeof(full))
		note(full);
}

void note_inode(struct inode *i)
{
	char rel[PATH_MAX];

	if (rep.r && rel_of_fd(i->fd, rel, sizeof(rel)))
		note(rel);
}

void note_name(int dirfd, const struct backing_name *b)
{
	char side[COFFRE_ENC_NAME_MAX + 8];

	note_at(dirfd, b->name);
	if (b->is_long) {
		if (!longname_sidecar_name(b->name, side, sizeof(side)))
			note_at(dirfd, side);
	}
}

/* Note every path under the backing directory dfd, named rel; after a
 * move (old_rel not NULL) also the same paths under its old name. */
static void note_walk(int dfd, const char *rel, const char *old_rel)
{
	char nchild[PATH_MAX], ochild[PATH_MAX];
	struct dirent *de;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), sub;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(nchild, sizeof(nchild), "%s%s%s", rel,
				     rel[0] ? "/" : "", de->d_name) >= sizeof(nchild) ||
		    (old_rel && (size_t)snprintf(ochild, sizeof(ochild), "%s/%s",
						 old_rel, de->d_name) >= sizeof(ochild)))
			continue;
		note(nchild);
		if (old_rel)
			note(ochild);
		if (de->d_type == DT_DIR) {
			sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				     O_CLOEXEC);
			if (sub >= 0) {
				note_walk(sub, nchild, old_rel ? ochild : NULL);
				close(sub);
			}
		}
	}
	closedir(d);
}

void note_moved(int newdir, const char *new_name, int olddir, const char *old_name)
{
	char nrel[PATH_MAX], orel[PATH_MAX], n[PATH_MAX + NAME_MAX + 2];
	char o[PATH_MAX + NAME_MAX + 2];
	int dfd;

	if (!rep.r || !rel_of_fd(newdir, nrel, sizeof(nrel)) ||
	    !rel_of_fd(olddir, orel, sizeof(orel)))
		return;
	snprintf(n, sizeof(n), "%s%s%s", nrel, nrel[0] ? "/" : "", new_name);
	snprintf(o, sizeof(o), "%s%s%s", orel, orel[0] ? "/" : "", old_name);
	note(n);
	note(o);
	dfd = openat(newdir, new_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0) {
		note_walk(dfd, n, o);
		close(dfd);
	}
}

void note_tree(const char *rel)
{
	int dfd;

	if (!rep.r)
		return;
	dfd = rel[0] ? openat(g_fs.root_fd, rel, O_RDONLY | O_DIRECTORY |
			      O_NOFOLLOW | O_CLOEXEC) :
		       openat(g_fs.root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		note(rel);   /* gone: the note propagates the delete */
		return;
	}
	note(rel);
	note_walk(dfd, rel, NULL);
	close(dfd);
}

void note_dir_tree(int dfd)
{
	char rel[PATH_MAX];

	if (rep.r && rel_of_fd(dfd, rel, sizeof(rel)))
		note_tree(rel);
}

void note_keys(void)
{
	char name[COFFRE_ESCROW_NAME_MAX], old[64];
	uint32_t v;

	/* Escrows of master keys rotated away are deleted: say so too. */
	for (v = 1; rep.r && v < volume_conf(g_fs.vol)->mk_version; v++) {
		escrow_name_write(v, name);
		snprintf(old, sizeof(old), "%s/%s", COFFRE_ESCROW_DIR, name);
		note(old);
	}
	note(COFFRE_CONF_FILE);
	note_tree(COFFRE_KEYS_DIR);
	note_tree(COFFRE_ESCROW_DIR);
	note_tree(COFFRE_SYMLINK_DIR);
}

int fs_replica_sync(int timeout_ms)
{
	int err = rep.r ? replica_sync(rep.r, timeout_ms) : -ENOTCONN;

	if (!err) {
		pthread_mutex_lock(&rep.lock);
		store_generation();
		pthread_mutex_unlock(&rep.lock);
	}
	return err;
}

bool fs_replica_status(struct replica_status *st)
{
	if (!rep.r)
		return false;
	replica_status(rep.r, st);
	return true;
}
