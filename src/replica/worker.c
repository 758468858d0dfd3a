/*
 * The replication worker (DESIGN §6 "Worker", "Outage").  One thread takes
 * pending paths (key records, escrow and config first) and makes the
 * bucket match the backing dir for each:
 *
 *  - regular file: hashed (XXH3-128); if the manifest already holds that
 *    digest and size, only its metadata is refreshed (no upload).  Else it
 *    is copied sequentially to `<dir>/.coffre.tmp.<random>` (O_EXCL),
 *    fsynced, renamed over its name and the directory fsynced.  If the
 *    source changed meanwhile (st_ino/size/mtime/ctime, the path now names
 *    another inode, or the digest of the copy differs from the first
 *    pass), the temp file is dropped and the copy redone;
 *  - directory: mkdir; a directory new to the manifest (or whose inode
 *    changed: renamed in) has its children queued;
 *  - symlink, fifo, socket, device: manifest entry only, no object;
 *  - vanished: the bucket object (or tree) is removed with its entries.
 *
 * Before touching the bucket it checks the marker through a freshly opened
 * bucket fd (an unmounted mount point has none).  Any error leaves the path
 * queued and backs off exponentially (100 ms doubling to 30 s); a
 * replica_sync() cuts the wait short.  When half the window is left in
 * memory it loads more from the backlog on disk (backlog.c); it rewrites
 * the journal when it has grown (rewrite.c), even while backing off, and
 * empties it when nothing is pending.  The manifest is published when the
 * queue drains, or every second while syncs wait or after 1,000 objects.
 * Never decrypts: ciphertext is copied as is.  src/io (the digest),
 * src/format.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/format.h"
#include "coffre/io.h"
#include "replica_private.h"

#define COPY_BUF (1u << 20)

static void bump(struct replica *r, uint64_t *counter, uint64_t n)
{
	pthread_mutex_lock(&r->lock);
	*counter += n;
	pthread_mutex_unlock(&r->lock);
}

static int enqueue(struct replica *r, const char *path, bool light, uint64_t seq)
{
	int err;

	if (replica_path_excluded(path))
		return 0;
	pthread_mutex_lock(&r->lock);
	err = backlog_add_locked(r, path, light, seq);
	pthread_mutex_unlock(&r->lock);
	return err;
}

int replica_open_bucket(struct replica *r, int *bfd)
{
	int fd, err;

	fd = open(r->bucket_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		replica_set_error(r, REPLICA_BUCKET_ERROR, "bucket %s: %s", r->bucket_dir,
				  strerror(-err));
		return err;
	}
	if ((err = replica_check_marker(fd, r->uuid)) != 0) {
		close(fd);
		if (err == -ENOENT || err == -EXDEV || err == -EINVAL)
			replica_set_error(r, REPLICA_BUCKET_NO_MARKER,
					  "bucket %s: %s %s (not mounted?)", r->bucket_dir,
					  err == -ENOENT ? "no" : err == -EXDEV ?
					  "another volume's" : "malformed",
					  COFFRE_BUCKET_MARKER);
		else
			replica_set_error(r, REPLICA_BUCKET_ERROR, "bucket %s: %s: %s",
					  r->bucket_dir, COFFRE_BUCKET_MARKER, strerror(-err));
		return err;
	}
	*bfd = fd;
	return 0;
}

struct copy_to {
	int fd;
	bool failed;
};

static int copy_chunk(void *arg, const void *p, size_t n, uint64_t off)
{
	struct copy_to *c = arg;
	int err = io_write_full(c->fd, p, n);

	(void)off;
	c->failed = err != 0;
	return err;
}

/* Read fd from the start to EOF, hashing it (and copying it to out_fd). */
static int hash_copy(int fd, int out_fd, uint8_t digest[IO_DIGEST_LEN],
		     uint8_t file_id[COFFRE_ID_LEN], bool *write_err)
{
	uint8_t hdr[COFFRE_FILE_HEADER_LEN];
	struct copy_to c = { out_fd, false };
	struct io_digest d = { .buf = malloc(COPY_BUF), .buflen = COPY_BUF,
			       .head = hdr, .head_len = sizeof(hdr),
			       .chunk = out_fd >= 0 ? copy_chunk : NULL, .arg = &c };
	struct file_header h;
	int err;

	*write_err = false;
	if (!d.buf)
		return -ENOMEM;
	err = io_digest_fd(fd, &d);
	free(d.buf);
	*write_err = c.failed;
	if (err)
		return err;
	memcpy(digest, d.digest, IO_DIGEST_LEN);
	memset(file_id, 0, COFFRE_ID_LEN);
	if (d.size >= sizeof(hdr) && file_header_parse(hdr, sizeof(hdr), &h) == 0)
		memcpy(file_id, h.file_id, COFFRE_ID_LEN);
	return 0;
}

static bool stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
	       a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Store e in the manifest if it differs from what is there; *changed says
 * whether it did (NULL: not wanted). */
static int record_changed(struct replica *r, struct manifest_entry *e,
			  bool *changed)
{
	struct manifest_entry *me;
	bool same;
	int err;

	if (changed)
		*changed = false;
	if ((err = mstore_get(r->man, e->path, &me)) != 0) {
		manifest_entry_free(e);
		return err;
	}
	same = me && manifest_entry_equal(me, e);
	manifest_entry_free(me);
	if (same) {
		manifest_entry_free(e);
		return 0;
	}
	r->man_dirty = true;
	if (changed)
		*changed = true;
	return mstore_put(r->man, e);
}

static int record(struct replica *r, struct manifest_entry *e)
{
	return record_changed(r, e, NULL);
}

struct links {
	struct replica *r;
	const char *path;
	uint64_t ino, seq;
};

static int links_cb(const struct manifest_entry *e, void *arg)
{
	struct links *l = arg;

	if (strcmp(e->path, l->path))
		return enqueue(l->r, e->path, false, l->seq);
	return 0;
}

/*
 * Mode, owner, times, size and xattrs belong to the inode: when one name's
 * entry changed, every other name the manifest holds for that inode is
 * stale too.  They are queued (not patched in place: a name may meanwhile
 * point at another inode); each is re-read, and since its entry then
 * matches, the ping-pong stops there.
 */
static int refresh_links(struct replica *r, const char *path,
			 const struct stat *st, uint64_t seq)
{
	struct links l = { r, path, (uint64_t)st->st_ino, seq };

	if (st->st_nlink > 1)
		return mstore_foreach_ino(r->man, (uint64_t)st->st_ino, links_cb, &l);
	return 0;
}

/* Which side an error of do_reg came from, for its message. */
enum reg_side {
	REG_BACKING,    /* reading the backing file */
	REG_BUCKET,     /* writing the bucket */
};

/* How a step of reg_try ends, besides 0 (go on) and -errno. */
enum {
	REG_DONE = 1,   /* the path is handled: nothing left to do */
	REG_RETRY,      /* the source changed under us: drop this try */
};

/* One try at copying a regular file: what reg_try's steps share. */
struct reg_copy {
	int fd, dfd, tfd;                  /* backing file, bucket dir, temp */
	struct stat st;                    /* the backing file when first read */
	struct manifest_entry *me;         /* its manifest entry, if any */
	struct manifest_entry *ne;         /* its new one */
	/* of the first pass, of the copy */
	uint8_t digest[IO_DIGEST_LEN], copy_digest[IO_DIGEST_LEN];
	char tmp[TMP_NAME_LEN];            /* the temp file's name in dfd */
	const char *base;                  /* the object's name in dfd */
	bool tmp_made;
};

/* Stat the opened backing file; REG_DONE if a light note finds it as the
 * manifest has it.  Else its new entry and the digest of a first pass. */
static int reg_read(struct replica *r, const char *path, bool light,
		    struct reg_copy *c)
{
	uint8_t fid[16];
	bool werr;
	int err;

	if (fstat(c->fd, &c->st) < 0)
		return -errno;
	if (!S_ISREG(c->st.st_mode))
		return -EAGAIN;   /* raced: changed type */
	if ((err = mstore_get(r->man, path, &c->me)) != 0)
		return err;
	if (light && c->me && manifest_stat_matches(c->me, &c->st)) {
		bump(r, &r->skipped, 1);
		return REG_DONE;
	}
	if ((err = manifest_entry_from_stat(r->backing_fd, path, &c->st, c->fd,
					    &c->ne)) != 0)
		return err;
	if ((err = hash_copy(c->fd, -1, c->digest, fid, &werr)) != 0)
		return err;
	memcpy(c->ne->digest, c->digest, IO_DIGEST_LEN);
	memcpy(c->ne->file_id, fid, COFFRE_ID_LEN);
	return 0;
}

/* The bucket already holds this digest and size: refresh the metadata
 * only (REG_DONE), unless the file changed while hashed (REG_RETRY).
 * 0: it does not, copy. */
static int reg_known(struct replica *r, const char *path, uint64_t seq,
		     struct reg_copy *c)
{
	const struct manifest_entry *me = c->me;
	struct stat st2;
	bool changed;
	int err;

	if (!me || me->type != MANIFEST_REG || me->size != (uint64_t)c->st.st_size ||
	    memcmp(me->digest, c->digest, IO_DIGEST_LEN) != 0)
		return 0;
	if (fstat(c->fd, &st2) < 0)
		return -errno;
	if (stat_changed(&c->st, &st2))
		return REG_RETRY;
	bump(r, &r->skipped, 1);
	err = record_changed(r, c->ne, &changed);
	c->ne = NULL;
	if (err)
		return err;
	if (changed && (err = refresh_links(r, path, &c->st, seq)) != 0)
		return err;
	return REG_DONE;
}

/* Copy the backing file to a new temp file in its bucket directory and
 * fsync it; *side says which side an error came from. */
static int reg_copy_tmp(int bfd, const char *path, struct reg_copy *c,
			enum reg_side *side)
{
	uint8_t fid[16];
	bool werr;
	int err;

	*side = REG_BUCKET;
	if ((err = bucket_open_parent(bfd, path, true, &c->dfd, &c->base)) != 0)
		return err;
	if ((c->tfd = bucket_tmp_create(c->dfd, c->tmp, O_WRONLY)) < 0)
		return c->tfd;
	c->tmp_made = true;
	if ((err = hash_copy(c->fd, c->tfd, c->copy_digest, fid, &werr)) != 0) {
		*side = werr ? REG_BUCKET : REG_BACKING;
		return err;
	}
	err = fsync(c->tfd) < 0 ? -errno : 0;
	if (close(c->tfd) < 0 && !err)
		err = -errno;
	c->tfd = -1;
	return err;
}

/* Call the test hook, if one is set, between a copy and its check. */
static void reg_hook(struct replica *r, const char *path)
{
	void (*hook)(void *, const char *);
	void *hook_arg;

	pthread_mutex_lock(&r->lock);
	hook = r->hook;
	hook_arg = r->hook_arg;
	pthread_mutex_unlock(&r->lock);
	if (hook)
		hook(hook_arg, path);
}

/* REG_RETRY if the source changed during the copy (its stat, the inode
 * its path names, or its digest); 0 if the copy is good. */
static int reg_check(struct replica *r, const char *path, struct reg_copy *c)
{
	struct stat st2, st3;

	if (fstat(c->fd, &st2) < 0)
		return -errno;
	if (!stat_changed(&c->st, &st2) &&
	    fstatat(r->backing_fd, path, &st3, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st3.st_ino == c->st.st_ino && memcmp(c->digest, c->copy_digest, IO_DIGEST_LEN) == 0)
		return 0;
	bump(r, &r->recopied, 1);
	return REG_RETRY;
}

/* Rename the temp file over the object and record its entry. */
static int reg_commit(struct replica *r, const char *path, uint64_t seq,
		      struct reg_copy *c)
{
	int err;

	if ((err = bucket_commit(c->dfd, c->tmp, c->base)) != 0)
		return err;
	c->tmp_made = false;
	bump(r, &r->copied, 1);
	err = record(r, c->ne);
	c->ne = NULL;
	if (err == 0)   /* other names of this inode are separate objects */
		err = refresh_links(r, path, &c->st, seq);
	return err;
}

/* Close what a try opened; drop its temp file unless committed. */
static void reg_drop(struct reg_copy *c)
{
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->tmp_made)
		unlinkat(c->dfd, c->tmp, 0);
	if (c->dfd >= 0)
		close(c->dfd);
	if (c->fd >= 0)
		close(c->fd);
	manifest_entry_free(c->ne);
	manifest_entry_free(c->me);
}

/* One try at bringing a regular file to the bucket: 0, -errno, or
 * REG_RETRY if the source changed under us (nothing is left behind). */
static int reg_try(struct replica *r, int bfd, const char *path, bool light,
		   uint64_t seq)
{
	struct reg_copy c = { .fd = -1, .dfd = -1, .tfd = -1 };
	enum reg_side side = REG_BACKING;
	int err;

	/* Raced if it vanished or changed type. */
	c.fd = io_open_untrusted(r->backing_fd, path, O_RDONLY, S_IFREG);
	if (c.fd < 0)
		return c.fd == -ENOENT || c.fd == -ENOTDIR || c.fd == -ELOOP ||
		       c.fd == -EINVAL ? -EAGAIN : c.fd;
	err = reg_read(r, path, light, &c);
	if (!err)
		err = reg_known(r, path, seq, &c);
	if (!err)
		err = reg_copy_tmp(bfd, path, &c, &side);
	if (!err) {
		reg_hook(r, path);
		err = reg_check(r, path, &c);
	}
	if (!err)
		err = reg_commit(r, path, seq, &c);
	if (err == REG_DONE)
		err = 0;
	if (err < 0 && err != -EAGAIN)
		replica_set_error(r, REPLICA_BUCKET_ERROR, "%s %s: %s",
				  side == REG_BUCKET ? "copy to bucket" : "read backing",
				  path, strerror(-err));
	reg_drop(&c);
	return err;
}

/* Bring a regular file to the bucket, trying again while it changes under
 * the copy; -EAGAIN (back to the tail) after REPLICA_COPY_TRIES tries. */
static int do_reg(struct replica *r, int bfd, const char *path, bool light,
		  uint64_t seq)
{
	int tries, err;

	for (tries = 0; tries < REPLICA_COPY_TRIES; tries++) {
		err = reg_try(r, bfd, path, light, seq);
		if (err != REG_RETRY)
			return err;
	}
	return -EAGAIN;    /* a hot file: back to the tail */
}

static int do_dir(struct replica *r, int bfd, const char *path, uint64_t seq)
{
	struct manifest_entry *ne = NULL, *me;
	struct stat st;
	struct dirent *de;
	char child[COFFRE_REPLICA_PATH_MAX + 2];
	bool enumerate;
	DIR *d = NULL;
	int fd, err;

	fd = io_open_untrusted(r->backing_fd, path, O_RDONLY, S_IFDIR);
	if (fd < 0)
		return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP ? -EAGAIN : fd;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if ((err = manifest_entry_from_stat(r->backing_fd, path, &st, fd, &ne)) != 0)
		goto out;
	if ((err = bucket_mkdir(bfd, path)) != 0) {
		replica_set_error(r, REPLICA_BUCKET_ERROR, "mkdir in bucket %s: %s", path,
				  strerror(-err));
		goto out;
	}
	if ((err = mstore_get(r->man, path, &me)) != 0)
		goto out;
	enumerate = !me || me->type != MANIFEST_DIR || me->ino != (uint64_t)st.st_ino;
	manifest_entry_free(me);
	err = record(r, ne);
	ne = NULL;
	if (err || !enumerate)
		goto out;
	if (!(d = fdopendir(fd))) {
		err = -errno;
		goto out;
	}
	fd = -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >
		    COFFRE_REPLICA_PATH_MAX)
			continue;
		if ((err = enqueue(r, child, true, seq)) != 0)
			break;
	}
out:
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	manifest_entry_free(ne);
	return err;
}

static int do_meta(struct replica *r, int bfd, const char *path,
		   const struct stat *st)
{
	struct manifest_entry *ne = NULL;
	int err;

	if ((err = manifest_entry_from_stat(r->backing_fd, path, st, -1, &ne)) != 0)
		return err == -ENOENT ? -EAGAIN : err;
	/* No object for these; drop one left by an earlier type. */
	if ((err = bucket_remove(bfd, path)) != 0) {
		replica_set_error(r, REPLICA_BUCKET_ERROR, "remove from bucket %s: %s", path,
				  strerror(-err));
		manifest_entry_free(ne);
		return err;
	}
	return record(r, ne);
}

/* The entries under a vanished directory, a batch at a time. */
#define VANISH_BATCH 4096

struct prefix {
	const char *pre;
	size_t len, n;
	char *v[VANISH_BATCH];
};

static int prefix_cb(const struct manifest_entry *e, void *arg)
{
	struct prefix *p = arg;

	/* Iteration starts at "pre/": the subtree is the run that follows. */
	if (strncmp(e->path, p->pre, p->len) != 0 || e->path[p->len] != '/')
		return 1;
	if (!(p->v[p->n] = strdup(e->path)))
		return -ENOMEM;
	return ++p->n == VANISH_BATCH;
}

/* Drop the entries of the subtree under path from the manifest. */
static int vanish_tree(struct replica *r, const char *path)
{
	struct prefix *p = malloc(sizeof(*p));
	char *from = NULL;
	int err = 0;

	if (!p || asprintf(&from, "%s/", path) < 0) {
		free(p);
		return -ENOMEM;
	}
	p->pre = path;
	p->len = strlen(path);
	do {
		int rc;

		p->n = 0;
		rc = mstore_foreach(r->man, from, prefix_cb, p);
		err = rc < 0 ? rc : 0;
		for (size_t i = 0; i < p->n; i++) {
			if (!err && (err = mstore_del(r->man, p->v[i])) == -ENOENT)
				err = 0;
			if (i + 1 < p->n)
				free(p->v[i]);
		}
		if (p->n) {
			free(from);
			from = p->v[p->n - 1];   /* go on after the last one */
			r->man_dirty = true;
			bump(r, &r->deleted, p->n);
		}
		if (!err && mstore_delta_count(r->man) >= r->delta_max)
			err = manifest_fold(r);
	} while (!err && p->n == VANISH_BATCH);
	free(from);
	free(p);
	return err;
}

static int do_vanish(struct replica *r, int bfd, const char *path)
{
	struct manifest_entry *me;
	bool tree;
	int err;

	if ((err = mstore_get(r->man, path, &me)) != 0)
		return err;
	tree = !me || me->type == MANIFEST_DIR;
	if ((err = bucket_remove(bfd, path)) != 0) {
		replica_set_error(r, REPLICA_BUCKET_ERROR, "remove from bucket %s: %s", path,
				  strerror(-err));
		manifest_entry_free(me);
		return err;
	}
	if (me) {
		manifest_entry_free(me);
		if ((err = mstore_del(r->man, path)) != 0 && err != -ENOENT)
			return err;
		r->man_dirty = true;
		bump(r, &r->deleted, 1);
	}
	return tree ? vanish_tree(r, path) : 0;
}

/* Make the bucket match the backing dir for one path. */
static int process(struct replica *r, const char *path, bool light, uint64_t seq)
{
	struct stat st;
	char parent[COFFRE_REPLICA_PATH_MAX + 1];
	const char *slash;
	int bfd, err;

	if ((err = replica_open_bucket(r, &bfd)) != 0)
		return err;
	if (fstatat(r->backing_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		if (err == -ENOENT || err == -ENOTDIR)
			err = do_vanish(r, bfd, path);
		else
			replica_set_error(r, REPLICA_BUCKET_ERROR, "stat backing %s: %s", path,
					  strerror(-err));
		goto out;
	}
	if (S_ISREG(st.st_mode))
		err = do_reg(r, bfd, path, light, seq);
	else if (S_ISDIR(st.st_mode))
		err = do_dir(r, bfd, path, seq);
	else
		err = do_meta(r, bfd, path, &st);
	/* A parent the manifest does not know yet (its mode, owner...). */
	if (err == 0 && (slash = strrchr(path, '/')) != NULL) {
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = '\0';
		if ((err = mstore_has(r->man, parent)) == 0)
			err = enqueue(r, parent, true, seq);
		else if (err == 1)
			err = 0;
	}
out:
	close(bfd);
	return err;
}

static void backoff_locked(struct replica *r)
{
	r->errors++;
	r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 100;
	if (r->backoff_ms > COFFRE_REPLICA_BACKOFF_MAX_MS)
		r->backoff_ms = COFFRE_REPLICA_BACKOFF_MAX_MS;
	r->retry_at_ms = replica_mono_ms() + r->backoff_ms;
}

static void success_locked(struct replica *r)
{
	r->backoff_ms = 0;
	r->state = REPLICA_BUCKET_OK;
	r->last_error[0] = '\0';
}

static void wait_until(struct replica *r, uint64_t deadline_ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ms / 1000),
		.tv_nsec = (long)(deadline_ms % 1000) * 1000000L,
	};

	pthread_cond_timedwait(&r->work_cv, &r->lock, &ts);
}

/* Publish the manifest covering notes <= covered (r->lock held). */
static void publish_locked(struct replica *r, int64_t covered)
{
	uint64_t jcur = r->jcur;   /* what was loaded is processed or pending */
	int bfd, err;

	pthread_mutex_unlock(&r->lock);
	err = replica_open_bucket(r, &bfd);
	if (err == 0) {
		err = manifest_publish(r, bfd);
		close(bfd);
		if (err)
			replica_set_error(r, REPLICA_BUCKET_ERROR, "write manifest: %s",
					  strerror(-err));
	}
	pthread_mutex_lock(&r->lock);
	if (err) {
		backoff_locked(r);
		return;
	}
	success_locked(r);
	r->jpub = jcur < r->jcur ? jcur : r->jcur;
	r->man_dirty = false;
	r->generation = mstore_generation(r->man);
	r->man_entries = mstore_count(r->man);
	r->man_delta = mstore_delta_count(r->man);
	r->man_written_ms = replica_mono_ms();
	r->since_man = 0;
	if (covered > r->manifest_seq)
		r->manifest_seq = covered;
	pthread_cond_broadcast(&r->done_cv);
}

/* Fold the manifest's full delta into a private base (r->lock held). */
static void fold_locked(struct replica *r)
{
	int err;

	pthread_mutex_unlock(&r->lock);
	err = manifest_fold(r);
	pthread_mutex_lock(&r->lock);
	r->folds++;
	r->man_delta = mstore_delta_count(r->man);
	if (err) {
		snprintf(r->last_error, sizeof(r->last_error), "fold manifest: %s",
			 strerror(-err));
		backoff_locked(r);
	}
}

void *replica_worker(void *arg)
{
	struct replica *r = arg;
	struct qent *e;
	int err;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		uint64_t now = replica_mono_ms();

		if (journal_rewrite_due_locked(r)) {
			journal_rewrite_locked(r);
			continue;
		}
		if (r->backoff_ms && now < r->retry_at_ms && !r->retry_now) {
			wait_until(r, r->retry_at_ms);
			continue;
		}
		r->retry_now = false;
		if (mstore_broken(r->man)) {
			/* Its base changed under us: trust nothing, compare afresh. */
			mstore_reset(r->man);
			r->suspicious = true;
			r->scanned = false;
			r->man_dirty = true;
			snprintf(r->last_error, sizeof(r->last_error),
				 "local manifest %s changed under the daemon: rescanning",
				 COFFRE_MANIFEST_MIRROR);
			memcpy(r->suspicious_why, r->last_error,
			       sizeof(r->suspicious_why));
			continue;
		}
		if (!r->scanned) {
			pthread_mutex_unlock(&r->lock);
			err = replica_scan(r);
			if (err)
				replica_set_error(r, REPLICA_BUCKET_ERROR,
						  "reconcile scan: %s", strerror(-err));
			pthread_mutex_lock(&r->lock);
			if (err)
				backoff_locked(r);
			else
				r->scanned = true;
			continue;
		}
		if (r->spilling && r->q.n <= r->window / 2 &&
		    (err = backlog_refill_locked(r)) != 0) {
			if (err != -EBADMSG)    /* else: said, and rescanning */
				snprintf(r->last_error, sizeof(r->last_error),
					 "read journal %s: %s", COFFRE_JOURNAL_FILE,
					 strerror(-err));
			backoff_locked(r);
			continue;
		}
		if ((e = queue_pop_locked(r)) != NULL) {
			bool light = e->light;
			uint64_t seq = e->seq_first;

			pthread_mutex_unlock(&r->lock);
			err = process(r, e->path, light, seq);
			pthread_mutex_lock(&r->lock);
			r->man_entries = mstore_count(r->man);
			r->man_delta = mstore_delta_count(r->man);
			if (err == 0) {
				queue_done_locked(r, e, QRES_OK);
				success_locked(r);
				r->since_man++;
			} else if (err == -EAGAIN) {
				queue_done_locked(r, e, QRES_RETRY_TAIL);
			} else {
				queue_done_locked(r, e, QRES_ERROR);
				backoff_locked(r);
				continue;
			}
			if (r->man_dirty && (r->sync_waiters || r->since_man >= 1000) &&
			    replica_mono_ms() - r->man_written_ms >= 1000)
				publish_locked(r, (int64_t)queue_min_seq_locked(r) - 1);
			if (mstore_delta_count(r->man) >= r->delta_max)
				fold_locked(r);
			continue;
		}
		if (r->spilling)
			continue;       /* more to load */
		/* Drained. */
		if (r->man_dirty) {
			publish_locked(r, (int64_t)r->noted_seq);
			continue;
		}
		if ((int64_t)r->noted_seq > r->manifest_seq || r->manifest_seq < 0) {
			r->manifest_seq = (int64_t)r->noted_seq;
			pthread_cond_broadcast(&r->done_cv);
		}
		if ((err = journal_compact_locked(r)) != 0)
			snprintf(r->last_error, sizeof(r->last_error),
				 "compact journal: %s", strerror(-err));
		if (!r->stop && !r->q.n && !r->spilling && !r->retry_now &&
		    !journal_rewrite_due_locked(r))
			pthread_cond_wait(&r->work_cv, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}
