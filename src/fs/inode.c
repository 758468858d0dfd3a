/*
 * inode.c — the daemon's inode table.
 *
 * As in libfuse's passthrough_hp, an inode is keyed by its backing object's
 * (dev, ino) and reference-counted by the kernel's lookup/forget, so hard
 * links share one inode.  An inode's O_PATH fd is a cache: at most
 * max_fds of them stay open, least recently used first out, and an inode
 * whose fd was closed is reopened from the file handle taken at lookup
 * (open_by_handle_at, checked against its dev and ino), never by a path.
 * An operation pins the inodes it uses (inode_pin/inode_unpin): a pinned
 * fd is never closed and a pinned inode is never freed, even if the kernel
 * forgets it meanwhile.  Open files are pinned while open and keep their
 * O_RDWR fd too.  Without file handles (a backing filesystem that has
 * none) an inode keeps its fd for life.
 *
 * The kernel decides which inodes it keeps (until memory pressure, all of
 * them), so the table only bounds itself softly: past max_inodes it names
 * the inodes looked up least recently (a clock over the hash table, one
 * bit per inode) for the pruner (prune.c) to ask the kernel to forget.
 *
 * A regular file's data state (shared O_RDWR fd, header, file key in
 * locked memory, plaintext size) lives here while any handle is open, so
 * every open of one file sees one size and one lock.  The table is an
 * object (the daemon's is g_fs.inodes) so that it can be tested alone.
 *
 * Locks: t->lock (hash, lookups, pins, LRU, counters, the clock) is
 * innermost: it is taken under an inode's mu, never the other way round.
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
	/* descriptors */
	int mount_id;                 /* the root's; -1: no file handles */
	int mount_fd;                 /* the root, O_RDONLY (open_by_handle_at
					 takes no O_PATH fd); -1: no handles */
	size_t fd_budget;             /* 0: none (see inode_fd_reserve) */
	size_t max_fds;               /* O_PATH fds kept open (0: no bound) */
	size_t path_fds;              /* inodes' O_PATH fds open, root's too */
	atomic_size_t data_fds;       /* open files' O_RDWR fds */
	uint64_t evictions, reopens;
	atomic_uint_fast64_t swaps;   /* inodes moved by inode_swap_in */
	struct inode *lru_head, *lru_tail;   /* unpinned, with fd and handle */
	/* the soft bound on inodes (see inode_prune_pick) */
	size_t max_inodes;            /* 0: none */
	size_t hand;                  /* the clock's next bucket */
	bool prune_waiting, prune_stopped;
	pthread_cond_t prune_cond;    /* the pruner waits for the bound */
	uint64_t crossings, pruned, forgotten;
	struct inode *buckets[NBUCKETS];
};

static size_t bucket(dev_t dev, ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) % NBUCKETS;
}

/* The inode of (dev, ino) in the table, or NULL (t->lock held). */
static struct inode *find_locked(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct inode *i;

	for (i = t->buckets[bucket(dev, ino)]; i; i = i->hnext)
		if (i->ino == ino && i->dev == dev)
			break;
	return i;
}

/* ---- file handles */

union handle_buf {
	struct file_handle fh;
	unsigned char buf[sizeof(struct file_handle) + INODE_HANDLE_MAX];
};

/* The handle of the object open at fd, if it has one that fits and lives
 * on the root's mount (else the inode keeps its fd for life). */
static void handle_take(struct inode_table *t, struct inode *i, int fd)
{
	union handle_buf h;
	int mount_id;

	i->fh_len = 0;
	if (t->mount_id < 0)
		return;
	h.fh.handle_bytes = INODE_HANDLE_MAX;
	if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) ||
	    mount_id != t->mount_id || h.fh.handle_bytes == 0)
		return;
	i->fh_type = h.fh.handle_type;
	i->fh_len = (uint8_t)h.fh.handle_bytes;
	memcpy(i->fh, h.fh.f_handle, h.fh.handle_bytes);
}

/* Open the inode's object again from its handle: an O_PATH fd, or
 * -ESTALE if the object is gone or is no longer the one the inode was. */
static int handle_open(struct inode_table *t, struct inode *i)
{
	union handle_buf h;
	struct stat st;
	int fd;

	h.fh.handle_bytes = i->fh_len;
	h.fh.handle_type = i->fh_type;
	memcpy(h.fh.f_handle, i->fh, i->fh_len);
	fd = open_by_handle_at(t->mount_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESTALE : -errno;
	if (fstat(fd, &st) || st.st_dev != i->dev || st.st_ino != i->ino ||
	    (st.st_mode & S_IFMT) != i->type) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* ---- the LRU of unpinned O_PATH fds (t->lock held) */

static void lru_remove(struct inode_table *t, struct inode *i)
{
	if (!i->in_lru)
		return;
	if (i->lru_prev)
		i->lru_prev->lru_next = i->lru_next;
	else
		t->lru_head = i->lru_next;
	if (i->lru_next)
		i->lru_next->lru_prev = i->lru_prev;
	else
		t->lru_tail = i->lru_prev;
	i->lru_prev = i->lru_next = NULL;
	i->in_lru = false;
}

/* An inode nobody pins: its fd may go, the most recently used last. */
static void lru_add(struct inode_table *t, struct inode *i)
{
	if (i->in_lru || i->pins || i->fd < 0 || !i->fh_len || i->keeps ||
	    i == &t->root)
		return;
	i->lru_prev = NULL;
	i->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = i;
	else
		t->lru_tail = i;
	t->lru_head = i;
	i->in_lru = true;
}

/* Close the least recently used fds until at most max_fds stay open and
 * `more` new ones fit the budget; true if they do. */
static bool lru_trim(struct inode_table *t, size_t more)
{
	for (;;) {
		size_t used = t->path_fds + atomic_load(&t->data_fds) + more;
		bool over = (t->max_fds && t->path_fds + more > t->max_fds) ||
			    (t->fd_budget && used > t->fd_budget);
		struct inode *i = t->lru_tail;

		if (!over)
			return true;
		if (!i)
			return !t->fd_budget || used <= t->fd_budget;
		lru_remove(t, i);
		close(i->fd);
		i->fd = -1;
		t->path_fds--;
		t->evictions++;
	}
}

/* ---- the table */

static void inode_setup(struct inode_table *t, struct inode *i, int fd,
			const struct stat *st)
{
	i->table = t;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	i->type = st->st_mode & S_IFMT;
	i->fd = fd;
	i->stale_fd = -1;
	pthread_mutex_init(&i->mu, NULL);
}

int inode_table_new(int root_fd, struct keyring *keys, uint32_t seg_size,
		    bool strict_holes, struct inode_table **out)
{
	union handle_buf h;
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
	pthread_cond_init(&t->prune_cond, NULL);
	t->keys = keys;
	t->seg_size = seg_size;
	t->strict_holes = strict_holes;
	h.fh.handle_bytes = INODE_HANDLE_MAX;
	t->mount_fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->mount_fd < 0 ||
	    name_to_handle_at(fd, "", &h.fh, &t->mount_id, AT_EMPTY_PATH)) {
		t->mount_id = -1;
		if (t->mount_fd >= 0)
			close(t->mount_fd);
		t->mount_fd = -1;
	}
	inode_setup(t, &t->root, fd, &st);
	t->root.nlookup = 1;
	t->path_fds = t->mount_fd >= 0 ? 2 : 1;
	*out = t;
	return 0;
}

void inode_table_set_fds(struct inode_table *t, size_t budget, size_t max_fds)
{
	pthread_mutex_lock(&t->lock);
	t->fd_budget = budget;
	t->max_fds = max_fds;
	lru_trim(t, 0);
	pthread_mutex_unlock(&t->lock);
}

bool inode_table_has_handles(struct inode_table *t)
{
	return t->mount_id >= 0;
}

int inode_fd_reserve(struct inode_table *t)
{
	bool ok;

	pthread_mutex_lock(&t->lock);
	ok = lru_trim(t, 1);
	pthread_mutex_unlock(&t->lock);
	return ok ? 0 : -ENFILE;
}

struct inode *inode_table_root(struct inode_table *t)
{
	return &t->root;
}

static void open_file_free(struct open_file *of)
{
	if (!of)
		return;
	if (of->sf.fd >= 0)
		close(of->sf.fd);
	aead_key_free(of->key);
	pthread_rwlock_destroy(&of->rw);
	free(of);
}

static void inode_free(struct inode_table *t, struct inode *i)
{
	open_file_free(i->of);
	if (i->fd >= 0)
		close(i->fd);
	if (i->stale_fd >= 0)
		close(i->stale_fd);
	pthread_mutex_destroy(&i->mu);
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
	if (t->mount_fd >= 0)
		close(t->mount_fd);
	pthread_cond_destroy(&t->prune_cond);
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

int inode_pin(struct inode_table *t, struct inode *i)
{
	int fd;

	pthread_mutex_lock(&t->lock);
	i->pins++;
	lru_remove(t, i);
	if (i->fd >= 0) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	if (!lru_trim(t, 1)) {
		pthread_mutex_unlock(&t->lock);
		inode_unpin(t, i);
		return -ENFILE;
	}
	pthread_mutex_unlock(&t->lock);
	/* Pinned, the inode stays; two threads may both reopen it. */
	fd = handle_open(t, i);
	if (fd < 0) {
		inode_unpin(t, i);
		return fd;
	}
	pthread_mutex_lock(&t->lock);
	if (i->fd < 0) {
		i->fd = fd;
		t->path_fds++;
		t->reopens++;
		fd = -1;
	}
	pthread_mutex_unlock(&t->lock);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* With t->lock held: take i out of the table (nlookup reached 0). */
static void unhash(struct inode_table *t, struct inode *i)
{
	struct inode **pp = &t->buckets[bucket(i->dev, i->ino)];

	while (*pp && *pp != i)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = i->hnext;
		t->count--;
		t->forgotten++;
	}
	i->unhashed = true;
}

/* With t->lock held: if i is out of the table and unpinned, account for
 * its fd and return true (the caller frees it after unlocking). */
static bool release_locked(struct inode_table *t, struct inode *i)
{
	if (!i->unhashed || i->pins)
		return false;
	lru_remove(t, i);
	if (i->fd >= 0)
		t->path_fds--;
	return true;
}

void inode_unpin(struct inode_table *t, struct inode *i)
{
	int stale = -1;
	bool dead;

	pthread_mutex_lock(&t->lock);
	i->pins--;
	dead = release_locked(t, i);
	if (!dead && !i->pins) {
		/* Whoever used the fd from before a re-key is done. */
		stale = i->stale_fd;
		i->stale_fd = -1;
		lru_add(t, i);
		lru_trim(t, 0);
	}
	pthread_mutex_unlock(&t->lock);
	if (stale >= 0)
		close(stale);
	if (dead)
		inode_free(t, i);
}

/* With t->lock held: past the soft bound (the root counts). */
static bool over_bound(const struct inode_table *t)
{
	return t->max_inodes && t->count + 1 > t->max_inodes;
}

int inode_get(struct inode_table *t, int fd, const struct stat *st,
	      struct inode **out)
{
	size_t b = bucket(st->st_dev, st->st_ino);
	struct inode *i, *n;

	if (st->st_dev == t->root.dev && st->st_ino == t->root.ino) {
		close(fd);
		pthread_mutex_lock(&t->lock);
		t->root.nlookup++;
		pthread_mutex_unlock(&t->lock);
		*out = &t->root;
		return 0;
	}
	/* Made before the lock (a handle costs a system call); freed unused
	 * if the object already has an inode. */
	n = calloc(1, sizeof(*n));
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	handle_take(t, n, fd);
	pthread_mutex_lock(&t->lock);
	i = find_locked(t, st->st_dev, st->st_ino);
	if (i) {
		i->nlookup++;
		i->referenced = true;
		if (i->fd < 0) {             /* evicted: take this fd */
			i->fd = fd;
			fd = -1;
			t->path_fds++;
			lru_add(t, i);
			lru_trim(t, 0);
		}
		pthread_mutex_unlock(&t->lock);
		if (fd >= 0)
			close(fd);
		free(n);
		*out = i;
		return 0;
	}
	inode_setup(t, n, fd, st);
	n->nlookup = 1;
	n->referenced = true;
	n->hnext = t->buckets[b];
	t->buckets[b] = n;
	t->count++;
	t->path_fds++;
	lru_add(t, n);
	lru_trim(t, 0);
	if (t->max_inodes && t->count == t->max_inodes)   /* just past it */
		t->crossings++;
	if (t->prune_waiting && over_bound(t)) {
		t->prune_waiting = false;
		pthread_cond_signal(&t->prune_cond);
	}
	pthread_mutex_unlock(&t->lock);
	*out = n;
	return 0;
}

void inode_table_stats(struct inode_table *t, struct inode_stats *s)
{
	pthread_mutex_lock(&t->lock);
	s->inodes = t->count + 1;
	s->path_fds = t->path_fds;
	s->data_fds = atomic_load(&t->data_fds);
	s->max_fds = t->max_fds;
	s->fd_budget = t->fd_budget;
	s->evictions = t->evictions;
	s->reopens = t->reopens;
	s->max_inodes = t->max_inodes;
	s->crossings = t->crossings;
	s->pruned = t->pruned;
	s->forgotten = t->forgotten;
	s->handles = t->mount_id >= 0;
	pthread_mutex_unlock(&t->lock);
}

void inode_forget(struct inode_table *t, struct inode *i, uint64_t n)
{
	bool dead;

	pthread_mutex_lock(&t->lock);
	if (n > i->nlookup)
		n = i->nlookup;
	i->nlookup -= n;
	if (i->nlookup || i == &t->root || i->unhashed) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	unhash(t, i);
	dead = release_locked(t, i);   /* else the last unpin frees it */
	pthread_mutex_unlock(&t->lock);
	if (dead)
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
		if (!err)
			dir->has_dir_id = true;
		else if (!io_resource_error(err))   /* those are retried */
			log_tampered(LOG_ERR, "directory without a valid %s "
				     "(backing inode %lu)", COFFRE_DIR_FILE,
				     (unsigned long)dir->ino);
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

/* With i->mu held: open the data (i->of): read the header, derive the
 * key, load the size. */
static int load_data(struct inode_table *t, struct inode *i)
{
	struct open_file *of = calloc(1, sizeof(*of));
	char path[64];
	int err;

	if (!of)
		return -ENOMEM;
	pthread_rwlock_init(&of->rw, NULL);
	inode_path(i, path);
	of->sf.fd = open(path, O_RDWR | O_CLOEXEC);
	if (of->sf.fd < 0) {
		err = -errno;
		goto out;
	}
	err = store_read_header(of->sf.fd, &of->hdr);
	if (!err && of->hdr.seg_size != t->seg_size)
		err = -EIO;
	if (err) {
		char *cp = realpath(path, NULL);

		log_tampered(LOG_ERR, "%s: bad file header", cp ? cp : "?");
		free(cp);
		goto out;
	}
	err = keyring_file_key(t->keys, &of->hdr, &of->key);
	if (!err)
		err = store_file_init(&of->sf, of->sf.fd, &of->hdr, t->strict_holes,
				      of->key, NULL);
	if (!err)
		err = verify_tail(&of->sf);
out:
	if (err) {
		open_file_free(of);
		return io_resource_error(err) ? err : -EIO;
	}
	i->of = of;
	return 0;
}

int inode_open_data(struct inode_table *t, struct inode *i)
{
	int err;

	if (i->type != S_IFREG)
		return -EINVAL;
	/* Pinned while open: an open file's O_PATH fd is never closed. */
	err = inode_pin(t, i);
	if (err)
		return err;
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
	if (err)
		inode_unpin(t, i);
	return err;
}

void inode_meta_lock(struct inode *i)
{
	if (i->type == S_IFREG)
		pthread_mutex_lock(&i->mu);
}

void inode_meta_unlock(struct inode *i)
{
	if (i->type == S_IFREG)
		pthread_mutex_unlock(&i->mu);
}

void inode_close_data(struct inode *i)
{
	bool was_open;

	pthread_mutex_lock(&i->mu);
	was_open = i->nopen > 0;
	if (i->nopen && --i->nopen == 0) {
		open_file_free(i->of);
		i->of = NULL;
		atomic_fetch_sub(&i->table->data_fds, 1);
	}
	pthread_mutex_unlock(&i->mu);
	if (was_open)
		inode_unpin(i->table, i);
}

void inode_keep_fd(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct inode *i;

	if (dev == t->root.dev && ino == t->root.ino)
		return;
	/* Usually one look under the lock: cached, and its fd open. */
	pthread_mutex_lock(&t->lock);
	i = find_locked(t, dev, ino);
	if (!i || i->fd >= 0) {
		if (i) {
			i->keeps++;
			lru_remove(t, i);
		}
		pthread_mutex_unlock(&t->lock);
		return;
	}
	i->nlookup++;                  /* evicted: reopen it, pinned */
	pthread_mutex_unlock(&t->lock);
	if (inode_pin(t, i) == 0) {
		pthread_mutex_lock(&t->lock);
		i->keeps++;
		pthread_mutex_unlock(&t->lock);
		inode_unpin(t, i);
	}
	inode_forget(t, i, 1);
}

static void unkeep(struct inode_table *t, dev_t dev, ino_t ino, bool if_linked)
{
	struct inode *i;
	struct stat st;

	pthread_mutex_lock(&t->lock);
	i = find_locked(t, dev, ino);
	/* A kept inode's fd is open (inode_keep_fd reopened it). */
	if (i && i->keeps && if_linked &&
	    (i->fd < 0 || fstat(i->fd, &st) || st.st_nlink == 0))
		i = NULL;
	if (i && i->keeps && --i->keeps == 0) {
		lru_add(t, i);
		lru_trim(t, 0);
	}
	pthread_mutex_unlock(&t->lock);
}

void inode_unkeep_fd(struct inode_table *t, dev_t dev, ino_t ino)
{
	unkeep(t, dev, ino, false);
}

void inode_unkeep_fd_if_linked(struct inode_table *t, dev_t dev, ino_t ino)
{
	unkeep(t, dev, ino, true);
}

struct inode *inode_find(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct inode *i;

	if (dev == t->root.dev && ino == t->root.ino)
		return NULL;
	pthread_mutex_lock(&t->lock);
	i = find_locked(t, dev, ino);
	if (i) {
		i->nlookup++;
		i->referenced = true;
	}
	pthread_mutex_unlock(&t->lock);
	return i;
}

/* Exchange from and to (in dfd) if `to` is i's object with no other
 * name: 0, or nothing changed (swapped back) and -EAGAIN, -EMLINK or
 * -errno; -EBUSY if the swap back failed. */
static int swap_names(struct inode *i, int dfd, const char *from, const char *to)
{
	struct stat was;
	int err;

	if (renameat2(dfd, from, dfd, to, RENAME_EXCHANGE))
		return -errno;
	if (fstatat(dfd, from, &was, AT_SYMLINK_NOFOLLOW))
		err = -errno;
	else if (was.st_dev != i->dev || was.st_ino != i->ino)
		err = -EAGAIN;            /* replaced meanwhile */
	else if (was.st_nlink != 1)
		err = -EMLINK;            /* linked meanwhile */
	else
		return 0;
	if (renameat2(dfd, from, dfd, to, RENAME_EXCHANGE)) {
		log_msg(LOG_ERR, "re-key: a file replaced during its re-key could "
			"not be put back (%s); it is kept as %s", strerror(errno), from);
		return -EBUSY;
	}
	return err;
}

int inode_swap_in(struct inode_table *t, struct inode *i, int dfd,
		  const char *from, const char *to, int path_fd,
		  const struct stat *st)
{
	struct inode **pp;
	struct inode h;
	size_t b;
	int err;

	handle_take(t, &h, path_fd);
	/* Under the table lock, so that a lookup finds the inode under its
	 * old key until the swap and under the new one from then on. */
	pthread_mutex_lock(&t->lock);
	err = swap_names(i, dfd, from, to);
	if (err) {
		pthread_mutex_unlock(&t->lock);
		return err;
	}
	pp = &t->buckets[bucket(i->dev, i->ino)];
	while (*pp && *pp != i)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = i->hnext;
	/* Other threads may be using the old fd right now (the caller's
	 * pin keeps it open): keep it until the inode goes (one generation
	 * is enough: re-keys are rare). */
	if (i->stale_fd >= 0)
		close(i->stale_fd);
	i->stale_fd = i->fd;
	i->fd = path_fd;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	i->fh_type = h.fh_type;
	i->fh_len = h.fh_len;
	memcpy(i->fh, h.fh, h.fh_len);
	b = bucket(i->dev, i->ino);
	i->hnext = t->buckets[b];
	t->buckets[b] = i;
	atomic_fetch_add(&t->swaps, 1);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

uint64_t inode_table_swaps(struct inode_table *t)
{
	return atomic_load(&t->swaps);
}

/* With t->lock held: pin up to cap regular files that are pinned (open
 * files are) into out; the number there is, which may be more than cap. */
static size_t pin_open_files(struct inode_table *t, struct inode **out,
			     size_t cap)
{
	size_t b, n = 0;
	struct inode *i;

	for (b = 0; b < NBUCKETS; b++)
		for (i = t->buckets[b]; i; i = i->hnext)
			if (i->pins && i->type == S_IFREG && n++ < cap) {
				i->pins++;
				out[n - 1] = i;
			}
	return n;
}

int inode_shred_tree(struct inode_table *t, const uint8_t (*ids)[COFFRE_ID_LEN],
		     size_t n)
{
	struct inode **open = NULL, *i;
	size_t k, b, cap = 0, found;

	/* Look at each open file under its own lock, never under t->lock
	 * (mu is taken before t->lock): pin them all first. */
	for (;;) {
		pthread_mutex_lock(&t->lock);
		found = pin_open_files(t, open, cap);
		pthread_mutex_unlock(&t->lock);
		if (found <= cap)
			break;
		for (k = 0; k < cap; k++)
			inode_unpin(t, open[k]);
		free(open);
		cap = found + 64;
		open = malloc(cap * sizeof(*open));
		if (!open)
			return -ENOMEM;
	}
	for (k = 0; k < found; k++) {
		i = open[k];
		pthread_mutex_lock(&i->mu);
		for (b = 0; b < n && i->nopen; b++)
			if (!memcmp(i->of->hdr.dir_id, ids[b], COFFRE_ID_LEN))
				i->of->shredded = true;
		pthread_mutex_unlock(&i->mu);
		inode_unpin(t, i);
	}
	free(open);
	return 0;
}

/* ---- the soft bound on inodes */

/* Buckets the clock looks at per hold of the table lock. */
#define PRUNE_CHUNK 1024

void inode_table_set_max_inodes(struct inode_table *t, size_t max_inodes)
{
	pthread_mutex_lock(&t->lock);
	t->max_inodes = max_inodes;
	if (t->prune_waiting && over_bound(t)) {
		t->prune_waiting = false;
		pthread_cond_signal(&t->prune_cond);
	}
	pthread_mutex_unlock(&t->lock);
}

bool inode_prune_wait(struct inode_table *t)
{
	bool run;

	pthread_mutex_lock(&t->lock);
	while (!t->prune_stopped && !over_bound(t)) {
		t->prune_waiting = true;
		pthread_cond_wait(&t->prune_cond, &t->lock);
	}
	t->prune_waiting = false;
	run = !t->prune_stopped;
	pthread_mutex_unlock(&t->lock);
	return run;
}

void inode_prune_stop(struct inode_table *t)
{
	pthread_mutex_lock(&t->lock);
	t->prune_stopped = true;
	pthread_cond_broadcast(&t->prune_cond);
	pthread_mutex_unlock(&t->lock);
}

size_t inode_prune_pick(struct inode_table *t, uint64_t *ids, size_t cap)
{
	size_t n = 0, want, held, low, seen = 0, k, from;
	struct inode *i;

	/* Two turns at most: the first clears the bits it passes.  An
	 * inode named gets its bit back: the kernel may keep it (in use),
	 * and the next pass leaves it alone once. */
	while (seen < 2 * NBUCKETS) {
		pthread_mutex_lock(&t->lock);
		held = t->count + 1;
		low = INODE_PRUNE_LOW(t->max_inodes);
		want = t->max_inodes && held > low ? held - low : 0;
		if (!n && !over_bound(t))
			want = 0;
		if (want > cap)
			want = cap;
		from = n;
		for (k = 0; k < PRUNE_CHUNK && n < want; k++, seen++) {
			for (i = t->buckets[t->hand]; i && n < want;
			     i = i->hnext) {
				if (i->pins)
					continue;
				if (!i->referenced)
					ids[n++] = inode_id(t, i);
				i->referenced = !i->referenced;
			}
			t->hand = (t->hand + 1) % NBUCKETS;
		}
		t->pruned += n - from;
		pthread_mutex_unlock(&t->lock);
		if (n >= want)
			break;
	}
	return n;
}
