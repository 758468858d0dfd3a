/*
 * Where the manifest lives and what goes in an entry.  The manifest is
 * written to the bucket as `.coffre.manifest` and mirrored in the backing
 * dir as `.coffre/manifest` (both streamed at once by mstore.c into temp
 * files, fsynced, renamed: the bucket's first), each write with the next
 * generation; the mirror is then the store's base.  At open both copies
 * are checked; only one that passes its MAC is used (the higher
 * generation wins; a winning bucket copy is copied into a private file
 * first); one that fails its MAC, or a bucket copy older than the local
 * mirror (a rolled-back bucket), is reported as suspicious and never
 * trusted.  When the delta is full and no publish happens, it is folded
 * into a private base (manifest_fold).
 *
 * Entries are made from lstat() of the backing path plus, for regular
 * files and directories, the `user.` xattrs of the backing inode (names
 * and values are already ciphertext, doc/FORMAT-v1.md §9) and, for symlinks,
 * the backing target (already ciphertext).  libc, src/format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "coffre/format.h"
#include "coffre/io.h"
#include "replica_private.h"

/* The mirror's name in the state directory. */
#define MIRROR_NAME (&COFFRE_MANIFEST_MIRROR[sizeof(COFFRE_STATE_DIR)])

static void refused(struct replica *r, const char *where, const char *path, int err)
{
	replica_set_suspicious(r, REPLICA_BUCKET_ERROR, "%s manifest %s refused: %s",
			       where, path, err == -EBADMSG ? "fails authentication" :
			       err == -EXDEV ? "belongs to another volume" :
			       strerror(-err));
}

/* Check one stored manifest opened as fd (an io_open_untrusted result;
 * taken) in pass 1, copying it to copy_fd if >= 0: the fd, -ENOENT, or
 * another -errno (said). */
static int check_one(struct replica *r, int fd, const char *path, int copy_fd,
		     struct manifest_hdr *h, const char *where)
{
	int err;

	if (fd == -ENOENT)
		return fd;
	err = fd < 0 ? fd : mstore_check_file(fd, copy_fd, r->key, h);
	if (!err && memcmp(h->uuid, r->uuid, COFFRE_ID_LEN) != 0)
		err = -EXDEV;
	if (err) {
		if (fd >= 0)
			close(fd);
		refused(r, where, path, err);
		return err;
	}
	return fd;
}

/* The state directory, and a new temp file in it (O_RDWR): its fd. */
static int state_tmp(struct replica *r, int *sdir, char name[TMP_NAME_LEN])
{
	int fd;

	*sdir = io_open_untrusted(r->backing_fd, COFFRE_STATE_DIR, O_RDONLY, S_IFDIR);
	if (*sdir < 0)
		return *sdir;
	if ((fd = bucket_tmp_create(*sdir, name, O_RDWR)) < 0) {
		close(*sdir);
		*sdir = -1;
	}
	return fd;
}

/* A private temp file (already unlinked) in the state directory. */
static int private_tmp(struct replica *r)
{
	char name[TMP_NAME_LEN];
	int sdir, fd = state_tmp(r, &sdir, name);

	if (fd >= 0) {
		unlinkat(sdir, name, 0);
		close(sdir);
	}
	return fd;
}

/* Whether the unchecked header of the manifest at fd has a generation
 * above gen (worth copying before it is checked). */
static bool newer(int fd, uint64_t gen)
{
	uint8_t hb[MANIFEST_HDR_LEN];
	struct manifest_hdr h;

	return io_pread_full(fd, hb, sizeof(hb), 0) == (ssize_t)sizeof(hb) &&
	       manifest_hdr_parse(hb, &h) == 0 && h.generation > gen;
}

int manifest_load(struct replica *r)
{
	struct manifest_hdr lh = { 0 }, rh = { 0 };
	int lfd, rfd = -1, cfd = -1, bfd = -1, err;

	if ((err = mstore_new(r->uuid, &r->man)) != 0)
		return err;
	lfd = check_one(r, io_open_untrusted(r->backing_fd, COFFRE_MANIFEST_MIRROR,
					     O_RDONLY, S_IFREG),
			COFFRE_MANIFEST_MIRROR, -1, &lh, "local");
	if (replica_open_bucket(r, &bfd) == 0) {
		rfd = io_open_untrusted(bfd, COFFRE_BUCKET_MANIFEST, O_RDONLY, S_IFREG);
		close(bfd);
		/* Copied (into a private file) only if it may win. */
		if (rfd >= 0 && (lfd < 0 || newer(rfd, lh.generation)))
			cfd = private_tmp(r);
		rfd = check_one(r, rfd, COFFRE_BUCKET_MANIFEST, cfd, &rh, "bucket");
	}
	if (lfd >= 0 && rfd >= 0 && rh.generation < lh.generation) {
		replica_set_suspicious(r, REPLICA_BUCKET_ERROR,
				       "bucket manifest rolled back (generation %llu < %llu)",
				       (unsigned long long)rh.generation,
				       (unsigned long long)lh.generation);
	}
	if (rfd >= 0 && cfd >= 0 && (lfd < 0 || rh.generation > lh.generation)) {
		if ((err = mstore_load(r->man, cfd, r->key)) != 0)
			refused(r, "bucket", COFFRE_BUCKET_MANIFEST, err);
		cfd = -1;
	} else if (lfd >= 0) {
		if ((err = mstore_load(r->man, lfd, r->key)) != 0)
			refused(r, "local", COFFRE_MANIFEST_MIRROR, err);
		lfd = -1;
	}
	/* Never reuse a generation, whatever was refused. */
	if (lh.generation > mstore_generation(r->man))
		mstore_set_generation(r->man, lh.generation);
	if (rh.generation > mstore_generation(r->man))
		mstore_set_generation(r->man, rh.generation);
	r->generation = mstore_generation(r->man);
	r->man_entries = mstore_count(r->man);
	for (int *fd = (int[]){ lfd, rfd, cfd }, i = 0; i < 3; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return 0;
}

int manifest_publish(struct replica *r, int bucket_fd)
{
	char bname[TMP_NAME_LEN], lname[TMP_NAME_LEN];
	int sdir = -1, lfd = -1, btmp, err;

	mstore_set_generation(r->man, mstore_generation(r->man) + 1);
	if ((btmp = bucket_tmp_create(bucket_fd, bname, O_WRONLY)) < 0)
		return btmp;
	if ((lfd = state_tmp(r, &sdir, lname)) < 0) {
		err = lfd;
		goto drop;
	}
	err = mstore_write(r->man, r->key, (int[]){ lfd, btmp }, 2);
	if (err) {
		close(lfd);
		goto drop;
	}
	/* lfd is the store's base now (named lname until renamed). */
	err = fsync(btmp) < 0 ? -errno : 0;
	if (close(btmp) < 0 && !err)
		err = -errno;
	btmp = -1;
	if (!err)
		err = bucket_commit(bucket_fd, bname, COFFRE_BUCKET_MANIFEST);
	if (err)
		goto drop;
	if (fsync(lfd) < 0 || renameat(sdir, lname, sdir, MIRROR_NAME) < 0) {
		err = -errno;
		unlinkat(sdir, lname, 0);
		goto out;
	}
	err = io_fsync_dir(sdir);
	goto out;
drop:
	if (btmp >= 0)
		close(btmp);
	unlinkat(bucket_fd, bname, 0);
	if (sdir >= 0)
		unlinkat(sdir, lname, 0);
out:
	if (sdir >= 0)
		close(sdir);
	return err;
}

int manifest_fold(struct replica *r)
{
	int fd = private_tmp(r), err;

	if (fd < 0)
		return fd;
	if ((err = mstore_write(r->man, r->key, &fd, 1)) != 0)
		close(fd);
	return err;
}

static uint8_t type_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return MANIFEST_REG;
	case S_IFDIR: return MANIFEST_DIR;
	case S_IFLNK: return MANIFEST_LNK;
	case S_IFIFO: return MANIFEST_FIFO;
	case S_IFSOCK: return MANIFEST_SOCK;
	case S_IFCHR: return MANIFEST_CHR;
	case S_IFBLK: return MANIFEST_BLK;
	default: return 0;
	}
}

bool manifest_stat_matches(const struct manifest_entry *e, const struct stat *st)
{
	return e->type == type_of(st->st_mode) &&
	       e->mode == (st->st_mode & 07777) &&
	       e->uid == st->st_uid && e->gid == st->st_gid &&
	       e->mtime_sec == st->st_mtim.tv_sec &&
	       e->mtime_nsec == (uint32_t)st->st_mtim.tv_nsec &&
	       e->size == (uint64_t)st->st_size && e->ino == st->st_ino;
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct manifest_xattr *)a)->name,
		      ((const struct manifest_xattr *)b)->name);
}

/* The user.* xattrs of an open regular file or directory, sorted. */
static int read_xattrs(int fd, struct manifest_entry *e)
{
	char *names = NULL;
	ssize_t n;
	size_t count = 0;
	int err = 0;

	n = flistxattr(fd, NULL, 0);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (n == 0)
		return 0;
	if (!(names = malloc((size_t)n + 1)))
		return -ENOMEM;
	n = flistxattr(fd, names, (size_t)n);
	if (n < 0) {
		err = errno == ERANGE ? -EAGAIN : -errno;
		goto out;
	}
	names[n] = '\0';
	for (char *p = names; p < names + n; p += strlen(p) + 1)
		if (strncmp(p, "user.", 5) == 0 && strlen(p) <= 255)
			count++;
	if (count == 0)
		goto out;
	if (count > UINT16_MAX || !(e->xattrs = calloc(count, sizeof(*e->xattrs)))) {
		err = count > UINT16_MAX ? -E2BIG : -ENOMEM;
		goto out;
	}
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		struct manifest_xattr *x;
		ssize_t vl;

		if (strncmp(p, "user.", 5) != 0 || strlen(p) > 255)
			continue;
		x = &e->xattrs[e->n_xattrs++];
		if (!(x->name = strdup(p))) {
			err = -ENOMEM;
			goto out;
		}
		vl = fgetxattr(fd, p, NULL, 0);
		if (vl >= 0 && vl <= COFFRE_REPLICA_XATTR_VALUE_MAX &&
		    (x->value = malloc(vl ? (size_t)vl : 1)) != NULL)
			vl = fgetxattr(fd, p, x->value, (size_t)vl);
		else if (vl >= 0)
			vl = vl > COFFRE_REPLICA_XATTR_VALUE_MAX ? (errno = E2BIG, -1) :
			     (errno = ENOMEM, -1);
		if (vl < 0) {
			/* Removed or grown since listed: try again later. */
			err = errno == ENODATA || errno == ERANGE ? -EAGAIN : -errno;
			goto out;
		}
		x->value_len = (uint32_t)vl;
	}
	qsort(e->xattrs, e->n_xattrs, sizeof(*e->xattrs), cmp_xattr);
out:
	free(names);
	return err;
}

int manifest_entry_from_stat(int backing_fd, const char *path,
			     const struct stat *st, int fd,
			     struct manifest_entry **out)
{
	struct manifest_entry *e = calloc(1, sizeof(*e));
	char target[COFFRE_REPLICA_PATH_MAX + 1];
	int err = 0;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	if (!(e->path = strdup(path))) {
		err = -ENOMEM;
		goto fail;
	}
	e->type = type_of(st->st_mode);
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e->size = (uint64_t)st->st_size;
	e->ino = st->st_ino;
	if (e->type == MANIFEST_CHR || e->type == MANIFEST_BLK)
		e->rdev = st->st_rdev;
	if (e->type == MANIFEST_LNK) {
		ssize_t n = readlinkat(backing_fd, path, target, sizeof(target));

		if (n < 0) {
			err = -errno;
			goto fail;
		}
		if (n == 0 || (size_t)n >= sizeof(target)) {
			err = -ENAMETOOLONG;
			goto fail;
		}
		if (!(e->target = strndup(target, (size_t)n))) {
			err = -ENOMEM;
			goto fail;
		}
		e->target_len = (uint16_t)n;
	}
	if (fd >= 0 && (err = read_xattrs(fd, e)) != 0)
		goto fail;
	if (manifest_entry_size(e) > MANIFEST_ENTRY_MAX) {
		err = -E2BIG;   /* never written: a reader refuses it */
		goto fail;
	}
	*out = e;
	return 0;
fail:
	manifest_entry_free(e);
	return err;
}

bool manifest_entry_equal(const struct manifest_entry *a,
			  const struct manifest_entry *b)
{
	if (strcmp(a->path, b->path) || a->type != b->type || a->mode != b->mode ||
	    a->uid != b->uid || a->gid != b->gid || a->mtime_sec != b->mtime_sec ||
	    a->mtime_nsec != b->mtime_nsec || a->size != b->size ||
	    a->ino != b->ino || a->rdev != b->rdev ||
	    memcmp(a->digest, b->digest, IO_DIGEST_LEN) ||
	    memcmp(a->file_id, b->file_id, COFFRE_ID_LEN) ||
	    a->target_len != b->target_len || a->n_xattrs != b->n_xattrs)
		return false;
	if (a->target_len && memcmp(a->target, b->target, a->target_len))
		return false;
	for (unsigned i = 0; i < a->n_xattrs; i++) {
		const struct manifest_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];

		if (strcmp(x->name, y->name) || x->value_len != y->value_len ||
		    (x->value_len && memcmp(x->value, y->value, x->value_len)))
			return false;
	}
	return true;
}
