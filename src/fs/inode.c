/*
 * inode.c — the daemon's inode table.
 *
 * As in libfuse's passthrough_hp, an inode is keyed by its backing object's
 * (dev, ino), holds an O_PATH fd on it and is reference-counted by the
 * kernel's lookup/forget.  Hard links therefore share one inode, and an
 * unlinked or renamed-over file stays reachable through its fd while open.
 * A regular file's data state (shared O_RDWR fd, header, file key in
 * locked memory, plaintext size) lives here while any handle is open, so
 * every open of one file sees one size and one lock.  The table is an
 * object (the daemon's is g_fs.inodes) so that it can be tested alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/io.h"
#include "fs.h"

#define NBUCKETS 65521

struct inode_table {
	pthread_mutex_t lock;
	struct inode root;
	/* what opening a file's data needs */
	struct keyring *keys;
	uint32_t seg_size;
	bool strict_holes;
	size_t count;                 /* inodes in buckets (the root aside) */
	size_t fd_budget;             /* 0: none (see inode_fd_reserve) */
	atomic_size_t data_fds;       /* open files' O_RDWR fds */
	struct inode *buckets[NBUCKETS];
};

static size_t bucket(dev_t dev, ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) % NBUCKETS;
}

static void inode_setup(struct inode_table *t, struct inode *i, int fd,
			const struct stat *st)
{
	i->table = t;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	i->type = st->st_mode & S_IFMT;
	i->fd = fd;
	i->stale_fd = -1;
	i->sf.fd = -1;
	pthread_mutex_init(&i->mu, NULL);
	pthread_rwlock_init(&i->rw, NULL);
}

int inode_table_new(int root_fd, struct keyring *keys, uint32_t seg_size,
		    bool strict_holes, struct inode_table **out)
{
	struct inode_table *t;
	struct stat st;
	int fd = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int err = -errno;

		close(fd);
		return err;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->keys = keys;
	t->seg_size = seg_size;
	t->strict_holes = strict_holes;
	inode_setup(t, &t->root, fd, &st);
	t->root.nlookup = 1;
	*out = t;
	return 0;
}

void inode_table_set_fd_budget(struct inode_table *t, size_t budget)
{
	t->fd_budget = budget;
}

int inode_fd_reserve(struct inode_table *t)
{
	size_t used;

	if (!t->fd_budget)
		return 0;
	pthread_mutex_lock(&t->lock);
	used = t->count + 1 + atomic_load(&t->data_fds);
	pthread_mutex_unlock(&t->lock);
	return used < t->fd_budget ? 0 : -ENFILE;
}

struct inode *inode_table_root(struct inode_table *t)
{
	return &t->root;
}

static void inode_free(struct inode_table *t, struct inode *i)
{
	if (i->sf.fd >= 0)
		close(i->sf.fd);
	aead_key_free(i->key);
	close(i->fd);
	if (i->stale_fd >= 0)
		close(i->stale_fd);
	pthread_mutex_destroy(&i->mu);
	pthread_rwlock_destroy(&i->rw);
	if (i != &t->root)
		free(i);
}

void inode_table_free(struct inode_table *t)
{
	size_t b;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	for (b = 0; b < NBUCKETS; b++) {
		while (t->buckets[b]) {
			struct inode *i = t->buckets[b];

			t->buckets[b] = i->hnext;
			inode_free(t, i);
		}
	}
	pthread_mutex_unlock(&t->lock);
	inode_free(t, &t->root);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct inode *inode_of(struct inode_table *t, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &t->root : (struct inode *)(uintptr_t)ino;
}

fuse_ino_t inode_id(struct inode_table *t, struct inode *i)
{
	return i == &t->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

int inode_get(struct inode_table *t, int fd, const struct stat *st,
	      struct inode **out)
{
	size_t b = bucket(st->st_dev, st->st_ino);
	struct inode *i;

	if (st->st_dev == t->root.dev && st->st_ino == t->root.ino) {
		close(fd);
		pthread_mutex_lock(&t->lock);
		t->root.nlookup++;
		pthread_mutex_unlock(&t->lock);
		*out = &t->root;
		return 0;
	}
	pthread_mutex_lock(&t->lock);
	for (i = t->buckets[b]; i; i = i->hnext)
		if (i->ino == st->st_ino && i->dev == st->st_dev)
			break;
	if (i) {
		i->nlookup++;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		*out = i;
		return 0;
	}
	i = calloc(1, sizeof(*i));
	if (!i) {
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return -ENOMEM;
	}
	inode_setup(t, i, fd, st);
	i->nlookup = 1;
	i->hnext = t->buckets[b];
	t->buckets[b] = i;
	t->count++;
	pthread_mutex_unlock(&t->lock);
	*out = i;
	return 0;
}

size_t inode_table_count(struct inode_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count + 1;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void inode_forget(struct inode_table *t, struct inode *i, uint64_t n)
{
	struct inode **pp;

	pthread_mutex_lock(&t->lock);
	if (n > i->nlookup)
		n = i->nlookup;
	i->nlookup -= n;
	if (i->nlookup || i == &t->root) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	pp = &t->buckets[bucket(i->dev, i->ino)];
	while (*pp && *pp != i)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = i->hnext;
		t->count--;
	}
	pthread_mutex_unlock(&t->lock);
	inode_free(t, i);
}

void inode_path(const struct inode *i, char out[64])
{
	snprintf(out, 64, "/proc/self/fd/%d", i->fd);
}

int inode_dir_id(struct inode *dir, uint8_t id[COFFRE_ID_LEN])
{
	int err = 0;

	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	pthread_mutex_lock(&dir->mu);
	if (!dir->has_dir_id) {
		err = store_dir_id(dir->fd, dir->dir_id);
		if (err && !io_resource_error(err))
			log_ratelimited(LOG_ERR, "directory without a valid %s "
					"(backing inode %lu)", COFFRE_DIR_FILE,
					(unsigned long)dir->ino);
		else
			dir->has_dir_id = true;
	}
	if (!err)
		memcpy(id, dir->dir_id, COFFRE_ID_LEN);
	pthread_mutex_unlock(&dir->mu);
	return err;
}

/*
 * Authenticate the last segment at open.  The kernel answers reads past
 * its idea of the size without asking us, so an empty file's sealed
 * segment, or a file cut at a segment boundary, would otherwise read as a
 * shorter file instead of EIO.  It also checks the header, which is bound
 * into the key.  One segment per open.
 */
static int verify_tail(struct store_file *f)
{
	uint8_t byte;
	ssize_t n = store_read(f, &byte, 1, f->size ? f->size - 1 : 0);

	return n < 0 ? (int)n : 0;
}

/* With i->mu held: read the header, derive the key, load the size. */
static int load_data(struct inode_table *t, struct inode *i)
{
	char path[64];
	int err;

	inode_path(i, path);
	i->sf.fd = open(path, O_RDWR | O_CLOEXEC);
	if (i->sf.fd < 0)
		return -errno;
	err = store_read_header(i->sf.fd, &i->hdr);
	if (!err && i->hdr.seg_size != t->seg_size)
		err = -EIO;
	if (err) {
		char *cp = realpath(path, NULL);

		log_ratelimited(LOG_ERR, "%s: bad file header", cp ? cp : "?");
		free(cp);
		goto out;
	}
	err = keyring_file_key(t->keys, &i->hdr, &i->key);
	if (err)
		goto out;
	err = store_file_init(&i->sf, i->sf.fd, &i->hdr, t->strict_holes,
			      i->key, NULL);
	if (!err)
		err = verify_tail(&i->sf);
out:
	if (err) {
		aead_key_free(i->key);
		i->key = NULL;
		i->sf.key = NULL;
		close(i->sf.fd);
		i->sf.fd = -1;
		return io_resource_error(err) ? err : -EIO;
	}
	return 0;
}

int inode_open_data(struct inode_table *t, struct inode *i)
{
	int err = 0;

	if (i->type != S_IFREG)
		return -EINVAL;
	pthread_mutex_lock(&i->mu);
	if (!i->nopen) {
		err = inode_fd_reserve(t);
		if (!err)
			err = load_data(t, i);
		if (!err)
			atomic_fetch_add(&t->data_fds, 1);
	}
	if (!err)
		i->nopen++;
	pthread_mutex_unlock(&i->mu);
	return err;
}

void inode_close_data(struct inode *i)
{
	pthread_mutex_lock(&i->mu);
	if (i->nopen && --i->nopen == 0) {
		close(i->sf.fd);
		i->sf.fd = -1;
		atomic_fetch_sub(&i->table->data_fds, 1);
		i->sf.key = NULL;
		aead_key_free(i->key);
		i->key = NULL;
	}
	pthread_mutex_unlock(&i->mu);
}

struct inode *inode_find(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct inode *i;

	if (dev == t->root.dev && ino == t->root.ino)
		return NULL;
	pthread_mutex_lock(&t->lock);
	for (i = t->buckets[bucket(dev, ino)]; i; i = i->hnext)
		if (i->ino == ino && i->dev == dev) {
			i->nlookup++;
			break;
		}
	pthread_mutex_unlock(&t->lock);
	return i;
}

int inode_rename_over(struct inode_table *t, struct inode *i, int dfd,
		      const char *from, const char *to, int path_fd,
		      const struct stat *st)
{
	struct inode **pp;
	size_t b;

	/* Under the table lock, so that a lookup finds the inode under its
	 * old key until the rename and under the new one from then on. */
	pthread_mutex_lock(&t->lock);
	if (renameat(dfd, from, dfd, to)) {
		int err = -errno;

		pthread_mutex_unlock(&t->lock);
		return err;
	}
	pp = &t->buckets[bucket(i->dev, i->ino)];
	while (*pp && *pp != i)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = i->hnext;
	/* Other threads may be using the old fd right now: keep it open until
	 * the inode goes (one generation is enough: re-keys are rare). */
	if (i->stale_fd >= 0)
		close(i->stale_fd);
	i->stale_fd = i->fd;
	i->fd = path_fd;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	b = bucket(i->dev, i->ino);
	i->hnext = t->buckets[b];
	t->buckets[b] = i;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void inode_shred_tree(struct inode_table *t, const uint8_t (*ids)[COFFRE_ID_LEN],
		      size_t n)
{
	size_t b, k;
	struct inode *i;

	pthread_mutex_lock(&t->lock);
	for (b = 0; b < NBUCKETS; b++)
		for (i = t->buckets[b]; i; i = i->hnext) {
			pthread_mutex_lock(&i->mu);
			for (k = 0; k < n && i->nopen; k++)
				if (!memcmp(i->hdr.dir_id, ids[k], COFFRE_ID_LEN))
					i->shredded = true;
			pthread_mutex_unlock(&i->mu);
		}
	pthread_mutex_unlock(&t->lock);
}
