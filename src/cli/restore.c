/*
 * restore.c — `coffrectl restore BUCKET NEWBACKING`: rebuild a volume from
 * a bucket and the HSMs alone (DESIGN §6).
 *
 * The bucket is verified first (verify.c; refused on any problem unless
 * --force).  Then, in manifest (path) order, so parents come first:
 * directories are made, regular files copied (holes kept sparse, each
 * copy's XXH3-128 checked again against the manifest, so a bucket that
 * changed since it was verified is caught), and what the bucket cannot
 * hold is recreated from the authenticated manifest: symlinks (backing
 * targets, already ciphertext), fifos, sockets and devices (mknod), hard
 * links (entries sharing a backing inode number), user xattrs (backing,
 * already ciphertext).  The config is rewritten with the HSM URIs given, no
 * bucket line and a fresh MAC under the root DEK (keys/volume.c
 * volume_store_conf); the manifest is kept as .coffre/manifest.  Owners,
 * modes and times are set last, children before their directories.
 * Nothing is written outside NEWBACKING: every call is relative to its fd
 * and every entry's parent must be a directory of the manifest.  Relies on
 * verify.c, src/keys, src/replica (manifest) and libxxhash.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bucketcheck.h"
#include "coffre/io.h"

#define COPY_CHUNK (1u << 16)

struct rentry {
	const struct manifest_entry *e;
	bool created;
};

struct restore {
	struct bucket_check *c;
	int root;                     /* NEWBACKING */
	struct rentry *v;             /* sorted by path */
	size_t n;
	size_t *by_ino;               /* indices of non-directories, by inode */
	size_t n_ino;
	uint8_t *buf;
	uint64_t files, links, others, bytes;
	uint64_t total_bytes;         /* of the regular files to copy */
};

static int fail(const char *path, const char *what, int err)
{
	fprintf(stderr, "coffrectl: restore: ");
	print_safe(stderr, path);
	fprintf(stderr, ": %s%s%s\n", what, err ? ": " : "", err ? strerror(-err) : "");
	return err ? err : -EIO;
}

static int list_cb(const struct manifest_entry *e, void *arg)
{
	struct restore *r = arg;

	r->v[r->n++].e = e;
	return 0;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct rentry *)a)->e->path,
		      ((const struct rentry *)b)->e->path);
}

static struct restore *g_sort;    /* qsort has no context argument */

static int cmp_ino(const void *a, const void *b)
{
	const struct manifest_entry *x = g_sort->v[*(const size_t *)a].e;
	const struct manifest_entry *y = g_sort->v[*(const size_t *)b].e;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 :
	       *(const size_t *)a > *(const size_t *)b;
}

/* An earlier entry already made that shares i's backing inode, or NULL. */
static const char *link_source(struct restore *r, size_t i)
{
	const struct manifest_entry *e = r->v[i].e;
	size_t lo = 0, hi = r->n_ino;

	while (lo < hi) {                 /* first index with this inode */
		size_t mid = (lo + hi) / 2;

		if (r->v[r->by_ino[mid]].e->ino < e->ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < r->n_ino && r->v[r->by_ino[lo]].e->ino == e->ino; lo++) {
		size_t j = r->by_ino[lo];

		if (j >= i)
			break;
		if (r->v[j].created && r->v[j].e->type == e->type)
			return r->v[j].e->path;
	}
	return NULL;
}

struct copy_out {
	int fd;
	int err;                      /* the write's, else 0 */
};

static int write_chunk(void *arg, const void *p, size_t n, uint64_t off)
{
	struct copy_out *c = arg;

	if (!bytes_zero(p, n))
		c->err = io_pwrite_full(c->fd, p, n, off);
	return c->err;
}

/* Copy a bucket object, keeping zero blocks as holes, and check it is
 * still what the manifest lists. */
static int copy_file(struct restore *r, const struct manifest_entry *e)
{
	struct copy_out c = { -1, 0 };
	struct io_digest d = { .buf = r->buf, .buflen = COPY_CHUNK,
			       .chunk = write_chunk, .arg = &c };
	int in = -1, err = 0;

	in = io_open_untrusted(r->c->bucket_fd, e->path, O_RDONLY, S_IFREG);
	if (in < 0) {
		err = fail(e->path, "cannot open in the bucket", in);
		goto out;
	}
	c.fd = openat(r->root, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		      O_CLOEXEC, 0600);
	if (c.fd < 0) {
		err = fail(e->path, "cannot create", -errno);
		goto out;
	}
	err = io_digest_fd(in, &d);
	if (err) {
		err = fail(e->path, c.err ? "cannot write" : "cannot read the bucket",
			   err);
		goto out;
	}
	if (ftruncate(c.fd, (off_t)d.size)) {
		err = fail(e->path, "cannot write", -errno);
		goto out;
	}
	if (d.size != e->size || memcmp(d.digest, e->digest, IO_DIGEST_LEN)) {
		err = fail(e->path, "changed in the bucket since it was verified", 0);
		goto out;
	}
	r->bytes += d.size;
	progress_update(&r->c->prog, "copy", "bytes", r->bytes,
			r->total_bytes > r->bytes ? r->total_bytes : r->bytes);
out:
	if (in >= 0)
		close(in);
	if (c.fd >= 0)
		close(c.fd);
	return err;
}

static int set_xattrs(struct restore *r, const struct manifest_entry *e)
{
	unsigned i;
	int fd, err = 0;

	if (!e->n_xattrs)
		return 0;
	fd = openat(r->root, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(e->path, "cannot open", -errno);
	for (i = 0; i < e->n_xattrs && !err; i++)
		if (fsetxattr(fd, e->xattrs[i].name, e->xattrs[i].value,
			      e->xattrs[i].value_len, 0))
			err = fail(e->path, "cannot set an xattr", -errno);
	close(fd);
	return err;
}

static mode_t node_type(uint8_t t)
{
	return t == MANIFEST_FIFO ? S_IFIFO : t == MANIFEST_SOCK ? S_IFSOCK :
	       t == MANIFEST_CHR ? S_IFCHR : S_IFBLK;
}

/* Entry i, its parent already made. */
static int make_entry(struct restore *r, size_t i)
{
	const struct manifest_entry *e = r->v[i].e;
	const char *src;
	int err = 0;

	if (e->type != MANIFEST_DIR && (src = link_source(r, i))) {
		if (linkat(r->root, src, r->root, e->path, 0))
			return fail(e->path, "cannot make the hard link", -errno);
		r->links++;
		r->v[i].created = true;
		return 0;
	}
	switch (e->type) {
	case MANIFEST_DIR:
		if (mkdirat(r->root, e->path, 0700))
			return fail(e->path, "cannot make the directory", -errno);
		break;
	case MANIFEST_REG:
		if (!bucket_object_find(r->c, e->path) && r->c->a->force) {
			fprintf(stderr, "coffrectl: restore: skipped (missing from the "
				"bucket): ");
			print_safe(stderr, e->path);
			fputc('\n', stderr);
			return 0;
		}
		err = copy_file(r, e);
		r->files++;
		break;
	case MANIFEST_LNK:
		if (symlinkat(e->target, r->root, e->path))
			return fail(e->path, "cannot make the symlink", -errno);
		r->others++;
		break;
	default:
		if (mknodat(r->root, e->path, node_type(e->type) | 0600, (dev_t)e->rdev))
			return fail(e->path, "cannot make the node", -errno);
		r->others++;
		break;
	}
	if (!err)
		r->v[i].created = true;
	if (!err && (e->type == MANIFEST_REG || e->type == MANIFEST_DIR))
		err = set_xattrs(r, e);
	return err;
}

/* Owner, mode, time: symlinks keep their mode, times are set last. */
static int set_meta(struct restore *r, const struct manifest_entry *e)
{
	struct timespec ts[2];
	int err;

	if (fchownat(r->root, e->path, e->uid, e->gid, AT_SYMLINK_NOFOLLOW))
		return fail(e->path, "cannot set the owner", -errno);
	if (e->type != MANIFEST_LNK &&
	    (err = io_chmod_at(r->root, e->path, e->mode)) != 0)
		return fail(e->path, "cannot set the mode", err);
	ts[0].tv_sec = ts[1].tv_sec = e->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
	if (utimensat(r->root, e->path, ts, AT_SYMLINK_NOFOLLOW))
		return fail(e->path, "cannot set the times", -errno);
	return 0;
}

/* Every entry's parent is the root or a directory of the manifest: no
 * path may lead through a symlink or a file. */
static int check_parents(struct restore *r)
{
	char parent[COFFRE_REPLICA_PATH_MAX + 1];
	size_t i;

	for (i = 0; i < r->n; i++) {
		const char *p = r->v[i].e->path, *slash = strrchr(p, '/');
		const struct manifest_entry *pe;

		if (!slash)
			continue;
		memcpy(parent, p, (size_t)(slash - p));
		parent[slash - p] = '\0';
		pe = manifest_get(r->c->man, parent);
		if (!pe || pe->type != MANIFEST_DIR)
			return fail(p, "its parent is not a directory of the manifest", 0);
	}
	return 0;
}

static int write_manifest(struct restore *r)
{
	int err = io_replace(r->root, COFFRE_MANIFEST_MIRROR, r->c->man_bytes,
			     r->c->man_len, 0600);

	return err ? fail(COFFRE_MANIFEST_MIRROR, "cannot write", err) : 0;
}

static int write_conf(struct restore *r)
{
	const struct bucket_args *a = r->c->a;
	struct volume_conf *conf = malloc(sizeof(*conf));
	unsigned i;
	int err;

	if (!conf)
		return fail(COFFRE_CONF_FILE, "out of memory", -ENOMEM);
	*conf = *volume_conf(r->c->vol);
	memset(conf->hsm, 0, sizeof(conf->hsm));
	conf->n_hsms = a->n_uris;
	for (i = 0; i < a->n_uris; i++)
		snprintf(conf->hsm[i], sizeof(conf->hsm[i]), "%s", a->uris[i]);
	conf->bucket[0] = '\0';
	err = volume_store_conf(r->c->vol, r->root, conf);
	free(conf);
	return err ? fail(COFFRE_CONF_FILE, "cannot write", err) : 0;
}

/* NEWBACKING: made if absent, else it must be an empty directory. */
static int open_target(const char *dir)
{
	int fd, empty;

	if (mkdir(dir, 0755) && errno != EEXIST)
		return fail(dir, "cannot create", -errno);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(dir, "cannot open", -errno);
	empty = io_dir_empty(fd, NULL);
	if (empty != 1) {
		close(fd);
		return empty < 0 ? fail(dir, "cannot read", empty) :
		       fail(dir, "is not empty (a volume is restored into an "
			    "empty or new directory)", 0);
	}
	return fd;
}

static int run(struct restore *r)
{
	size_t i;
	int err;

	r->v = calloc(manifest_count(r->c->man) + 1, sizeof(*r->v));
	r->by_ino = calloc(manifest_count(r->c->man) + 1, sizeof(*r->by_ino));
	r->buf = malloc(COPY_CHUNK);
	if (!r->v || !r->by_ino || !r->buf)
		return fail(r->c->a->target, "out of memory", -ENOMEM);
	manifest_foreach(r->c->man, list_cb, r);
	qsort(r->v, r->n, sizeof(*r->v), cmp_path);
	for (i = 0; i < r->n; i++)
		if (r->v[i].e->type != MANIFEST_DIR)
			r->by_ino[r->n_ino++] = i;
	g_sort = r;
	qsort(r->by_ino, r->n_ino, sizeof(*r->by_ino), cmp_ino);
	g_sort = NULL;
	if ((err = check_parents(r)))
		return err;
	/* The copy phase's total (hard links counted as often as named). */
	for (i = 0; i < r->n; i++)
		if (r->v[i].e->type == MANIFEST_REG &&
		    !replica_path_excluded(r->v[i].e->path))
			r->total_bytes += r->v[i].e->size;
	for (i = 0; i < r->n; i++) {
		const struct manifest_entry *e = r->v[i].e;

		if (replica_path_excluded(e->path) || !strcmp(e->path, COFFRE_CONF_FILE))
			continue;
		if ((err = make_entry(r, i)))
			return err;
	}
	if (r->bytes != r->total_bytes)     /* the last line: done = total */
		progress_update(&r->c->prog, "copy", "bytes", r->bytes, r->bytes);
	if ((err = write_conf(r)) || (err = write_manifest(r)))
		return err;
	for (i = r->n; i-- > 0;) {
		const struct manifest_entry *e = r->v[i].e;

		if (!r->v[i].created)
			continue;
		if ((err = set_meta(r, e)))
			return err;
	}
	if (syncfs(r->root))
		return fail(r->c->a->target, "cannot flush", -errno);
	return 0;
}

int restore_command(const struct bucket_args *a)
{
	struct bucket_check c;
	struct restore r;
	char msg[PATH_MAX + 256];
	int err;

	err = bucket_check_start(&c, a);
	if (err)
		return err;
	if (c.n_problems || !c.man) {
		bucket_check_report(&c, stderr, false);
		if (!c.man || !a->force) {
			fprintf(stderr, "coffrectl: refusing to restore from a bucket that "
				"fails verification%s\n", c.man ? " (--force restores "
				"what authenticates anyway)" : ": its manifest is unusable");
			if (a->json)
				progress_json_result(stdout, COFFRE_EXIT_BUCKET,
						     "refused: the bucket fails verification");
			bucket_check_free(&c);
			return COFFRE_EXIT_BUCKET;
		}
		fprintf(stderr, "coffrectl: --force: restoring despite the problems "
			"above\n");
	}
	memset(&r, 0, sizeof(r));
	r.c = &c;
	r.root = open_target(a->target);
	err = r.root < 0 ? r.root : run(&r);
	progress_end(&c.prog);
	if (r.root >= 0)
		close(r.root);
	if (!err)
		snprintf(msg, sizeof(msg), "restored %zu entries (%" PRIu64 " files, %"
			 PRIu64 " bytes, %" PRIu64 " hard links, %" PRIu64 " symlinks "
			 "and special files) from generation %" PRIu64 " into %s", r.n,
			 r.files, r.bytes, r.links, r.others,
			 manifest_generation(c.man), a->target);
	else
		snprintf(msg, sizeof(msg), "restore failed: %s is incomplete; remove "
			 "it before trying again", a->target);
	if (a->json) {
		progress_json_result(stdout, err ? 1 : 0, msg);
	} else if (!err) {
		printf("%s\n", msg);
		/* A restore writes no mount configuration (a drill must not
		 * redirect a production one): say how to make one. */
		printf("to mount it, write its mount configuration NAME:\n  coffrectl "
		       "conf adopt %s NAME", a->target);
		for (unsigned i = 0; i < a->n_uris; i++)
			printf(" --hsm '%s'", a->uris[i]);
		printf(" --pin-file FILE\nthen: coffre %s MOUNTPOINT -o conf=NAME\n",
		       a->target);
	} else if (r.root >= 0) {
		fprintf(stderr, "coffrectl: %s\n", msg);
	}
	free(r.v);
	free(r.by_ino);
	free(r.buf);
	bucket_check_free(&c);
	return err ? 1 : 0;
}
