/*
 * Where the manifest lives and what goes in an entry.  The manifest is
 * written to the bucket as `.coffre.manifest` (temp + fsync + rename) and
 * then mirrored in the backing dir as `.coffre/manifest`, each write with
 * the next generation.  At open both copies are read; only one that passes
 * its MAC is used (the higher generation wins); one that fails its MAC, or
 * a bucket copy older than the local mirror (a rolled-back bucket), is
 * reported as suspicious and never trusted.
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

static int load_one(struct replica *r, int dirfd, const char *path,
		    struct manifest **out, const char *where)
{
	uint8_t *buf = NULL, uuid[COFFRE_ID_LEN];
	size_t len;
	int err;

	*out = NULL;
	err = io_read_alloc(dirfd, path, COFFRE_MANIFEST_MAX, &buf, &len);
	if (err == -ENOENT)
		return 0;
	if (err == 0)
		err = manifest_parse(buf, len, r->key, out);
	free(buf);
	if (err == 0) {
		manifest_uuid(*out, uuid);
		if (memcmp(uuid, r->uuid, COFFRE_ID_LEN) != 0) {
			manifest_free(*out);
			*out = NULL;
			err = -EXDEV;
		}
	}
	if (err) {
		r->suspicious = true;
		replica_set_error(r, REPLICA_BUCKET_ERROR, "%s manifest %s refused: %s",
				  where, path, err == -EBADMSG ? "fails authentication" :
				  err == -EXDEV ? "belongs to another volume" : strerror(-err));
	}
	return 0;
}

int manifest_load(struct replica *r)
{
	struct manifest *local = NULL, *remote = NULL;
	int bfd = -1;

	load_one(r, r->backing_fd, COFFRE_MANIFEST_MIRROR, &local, "local");
	if (replica_open_bucket(r, &bfd) == 0) {
		load_one(r, bfd, COFFRE_BUCKET_MANIFEST, &remote, "bucket");
		close(bfd);
	}
	if (local && remote &&
	    manifest_generation(remote) < manifest_generation(local)) {
		r->suspicious = true;
		replica_set_error(r, REPLICA_BUCKET_ERROR,
				  "bucket manifest rolled back (generation %llu < %llu)",
				  (unsigned long long)manifest_generation(remote),
				  (unsigned long long)manifest_generation(local));
	}
	if (remote && (!local ||
		       manifest_generation(remote) > manifest_generation(local))) {
		manifest_free(local);
		local = remote;
		remote = NULL;
	}
	if (!local && !(local = manifest_new(r->uuid))) {
		manifest_free(remote);
		return -ENOMEM;
	}
	/* Never reuse a generation, whatever was refused. */
	if (remote && manifest_generation(remote) > manifest_generation(local))
		manifest_set_generation(local, manifest_generation(remote));
	manifest_free(remote);
	r->man = local;
	r->generation = manifest_generation(local);
	return 0;
}

int manifest_publish(struct replica *r, int bucket_fd)
{
	uint8_t *buf = NULL;
	size_t len;
	uint64_t gen = manifest_generation(r->man) + 1;
	int err;

	manifest_set_generation(r->man, gen);
	if ((err = manifest_write(r->man, r->key, &buf, &len)) != 0)
		goto out;
	if ((err = atomic_put(bucket_fd, COFFRE_BUCKET_MANIFEST, buf, len)) != 0)
		goto out;
	err = atomic_put(r->backing_fd, COFFRE_MANIFEST_MIRROR, buf, len);
out:
	free(buf);
	if (err)
		manifest_set_generation(r->man, gen - 1);
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
