/*
 * keyops.c — directory key operations run by the daemon for coffrectl
 * (DESIGN.md §3 "Lifecycle"):
 *
 *   key rotate DIR   a new DEK version for the directory's new files
 *   key rekey DIR    re-encrypt the directory's files under its current key
 *                    (-r: and every subdirectory's, each under its own)
 *   key shred DIR    crypto-shred a directory tree: files inside that use
 *                    another directory's key are re-encrypted under their
 *                    own directory's key first, so everything inside dies
 *                    with it; the tree's key records are destroyed and
 *                    forgotten; then the master key is rotated leaving them
 *                    out, so old copies of the records no longer unseal
 *
 * Re-encryption writes a new ciphertext file beside the old one (new file
 * id, the new key named in its header, user xattrs re-sealed, owner, mode
 * and times kept), fsyncs it and swaps it in at the name, so a crash
 * leaves either version whole.  The file's inode is made first if the
 * kernel knows none and its data held write-locked from before the copy
 * to the swap, so every open and write waits; its mu is held from the
 * copy of the metadata to the swap, so metadata changes wait too
 * (inode_meta_lock).  The swap is an exchange, kept only if what it took
 * out is the file copied (inode_swap_in): a file saved over the name
 * meanwhile stays, and is looked at in turn.  The inode is then pointed
 * at the new file, so open handles and cached dentries keep working.  A
 * file with several hard links is skipped and reported: replacing it
 * would split its links.
 *
 * Progress goes to the client as "progress: " lines (coffre/progress.h):
 * files looked at of those counted first (a walk of the directories
 * alone, no file opened), then, for a shred, directory keys rewrapped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "coffre/progress.h"
#include "keyops.h"

#define COPY_CHUNK STORE_MAX_REQUEST

struct rekey_stats {
	unsigned done, skipped_links, failed;
	uint64_t seen, total;           /* files looked at, of those counted */
	struct progress *p;
};

/* Open the backing directory at a path relative to the mount root. */
int keyops_resolve(const char *rel, int *dfd_out, uint8_t id[COFFRE_ID_LEN])
{
	char *copy = strdup(rel), *save = NULL, *comp;
	struct dir_keys k;
	struct backing_name b;
	int dfd, next, err = 0;

	if (!copy)
		return -ENOMEM;
	dfd = openat(g_fs.root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		free(copy);
		return -errno;
	}
	for (comp = strtok_r(copy, "/", &save); comp && !err;
	     comp = strtok_r(NULL, "/", &save)) {
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			err = -EINVAL;
			break;
		}
		err = dir_keys_at(g_fs.keys, dfd, &k);
		if (!err)
			err = entry_name(&k, comp, &b);
		dir_keys_wipe(&k);
		if (err)
			break;
		next = io_open_untrusted(dfd, b.name, O_RDONLY, S_IFDIR);
		if (next < 0)
			err = next;
		close(dfd);
		dfd = next;
	}
	free(copy);
	if (!err)
		err = store_dir_id(dfd, id);
	if (err) {
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	*dfd_out = dfd;
	return 0;
}

/* Copy the plaintext of src into dst (holes stay holes). */
static int copy_plain(struct store_file *src, struct store_file *dst, uint8_t *buf)
{
	uint64_t off;
	ssize_t n;
	int err = store_truncate(dst, src->size);

	for (off = 0; !err && off < src->size; off += (uint64_t)n) {
		n = store_read(src, buf, COPY_CHUNK, off);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		if (!bytes_zero(buf, (size_t)n) &&
		    store_write(dst, buf, (size_t)n, off) != n)
			err = -EIO;
	}
	return err;
}

/* One file being re-keyed: what rekey_file's steps share. */
struct rekey {
	int dfd, fd, tfd;               /* its directory, the file, the new file */
	const char *name;               /* its name in dfd */
	struct stat st;                 /* the old file, as first seen */
	struct file_header oh, nh;      /* the old and the new header */
	struct aead_key *okey, *nkey;   /* the old and the new file key */
	struct store_file src;          /* the old file, read under okey */
	struct inode *i;                /* its inode, data open and write-locked */
	char tmp[64];                   /* the new file's temp name in dfd */
};

/* Stat the file and read its header: 1 if it needs re-keying, 0 if it is
 * already under (id, version) or shorter than an empty file (one being
 * created: no plaintext yet), -EMLINK if it is hard-linked, or -errno. */
static int rekey_needed(struct rekey *k, const uint8_t id[COFFRE_ID_LEN],
			uint32_t version)
{
	int err;

	if (fstat(k->fd, &k->st))
		return -errno;
	if ((uint64_t)k->st.st_size < cipher_size(g_fs.seg_size, 0))
		return 0;
	err = store_read_header(k->fd, &k->oh);
	if (err)
		return err;
	if (!memcmp(k->oh.dir_id, id, COFFRE_ID_LEN) && k->oh.dek_version == version)
		return 0;
	if (k->st.st_nlink > 1)
		return -EMLINK;
	return 1;
}

/* The file's inode, made if the kernel knows none (so that an open from
 * now on finds this one and waits for the swap): its data opened and
 * write-locked in k->i until rekey_end. */
static int rekey_lock_inode(struct rekey *k)
{
	char path[64];
	int fd, err = inode_fd_reserve(g_fs.inodes);

	if (err)
		return err;
	/* The object open at k->fd, whatever its name is by now. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", k->fd);
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = inode_get(g_fs.inodes, fd, &k->st, &k->i);
	if (err) {
		k->i = NULL;
		return err;
	}
	err = inode_open_data(g_fs.inodes, k->i);
	if (err) {
		inode_forget(g_fs.inodes, k->i, 1);
		k->i = NULL;
		return err;
	}
	pthread_rwlock_wrlock(&k->i->of->rw);
	return 0;
}

/* The new header (id, version, a fresh file id), both file keys, and the
 * old file opened for reading. */
static int rekey_keys(struct rekey *k, const uint8_t id[COFFRE_ID_LEN],
		      uint32_t version)
{
	int err;

	k->nh = k->oh;
	memcpy(k->nh.dir_id, id, COFFRE_ID_LEN);
	k->nh.dek_version = version;
	err = random_bytes(k->nh.file_id, sizeof(k->nh.file_id));
	if (!err)
		err = keyring_file_key(g_fs.keys, &k->oh, &k->okey);
	if (!err)
		err = keyring_file_key(g_fs.keys, &k->nh, &k->nkey);
	if (err)
		return err;
	return store_file_init(&k->src, k->fd, &k->oh, g_fs.strict_holes, k->okey,
			       NULL);
}

/* Create the new file beside the old one under a random temp name. */
static int rekey_create_tmp(struct rekey *k)
{
	uint8_t rnd[8];
	int err;

	err = random_bytes(rnd, sizeof(rnd));
	snprintf(k->tmp, sizeof(k->tmp),
		 COFFRE_REKEY_TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	k->tfd = err ? -1 : openat(k->dfd, k->tmp,
				   O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (k->tfd < 0) {
		k->tmp[0] = '\0';   /* nothing of ours there */
		return err ? err : -errno;
	}
	return 0;
}

/* Write the new file's header and plaintext; fsync it. */
static int rekey_copy(struct rekey *k, uint8_t *buf)
{
	struct store_file dst = { .fd = -1 };
	int err;

	err = store_create(k->tfd, &k->nh, k->nkey);
	if (!err)
		err = store_file_init(&dst, k->tfd, &k->nh, g_fs.strict_holes, k->nkey,
				      NULL);
	if (!err)
		err = copy_plain(&k->src, &dst, buf);
	if (!err && fsync(k->tfd))
		err = -errno;
	return err;
}

/* With i->mu held (metadata changes wait): give the new file the user
 * xattrs (re-sealed), owner, mode and times the old one has now; fsync
 * it. */
static int rekey_copy_meta(struct rekey *k)
{
	struct timespec ts[2];
	char from[64], to[64];
	struct stat st;
	int err;

	if (fstat(k->fd, &st))
		return -errno;
	snprintf(from, sizeof(from), "/proc/self/fd/%d", k->fd);
	snprintf(to, sizeof(to), "/proc/self/fd/%d", k->tfd);
	err = xattr_rekey(from, &k->oh, to, &k->nh);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (!err && (fchown(k->tfd, st.st_uid, st.st_gid) ||
		     fchmod(k->tfd, st.st_mode & 07777) || futimens(k->tfd, ts) ||
		     fsync(k->tfd)))
		err = -errno;
	return err;
}

/* Swap the new file in at the name through the inode table (lookups find
 * the inode under the new file from then on), if the name still holds the
 * file copied: the old one is then at the temp name, for rekey_end. */
static int rekey_swap(struct rekey *k)
{
	char to[64];
	struct stat nst;
	int pfd, err;

	snprintf(to, sizeof(to), "/proc/self/fd/%d", k->tfd);
	pfd = open(to, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	err = fstat(k->tfd, &nst) ? -errno :
	      inode_swap_in(g_fs.inodes, k->i, k->dfd, k->tmp, k->name, pfd, &nst);
	if (err == -EBUSY)
		k->tmp[0] = '\0';   /* it holds the user's file now: keep it */
	if (err)
		close(pfd);
	return err;
}

/* Point the inode at the new file and its key; the old key is freed by
 * rekey_end, after the lock. */
static void rekey_adopt(struct rekey *k)
{
	struct aead_key *old;

	old = k->i->of->key;
	close(k->i->of->sf.fd);
	k->i->of->sf.fd = k->tfd;
	k->tfd = -1;
	k->i->of->hdr = k->nh;
	k->i->of->key = k->nkey;
	k->i->of->sf.key = k->nkey;
	k->nkey = old;
}

/* Remove what the temp name holds (the new file if re-keying failed, the
 * old one once swapped out), unlock the inode, close and free the rest. */
static void rekey_end(struct rekey *k, int err)
{
	if (k->tmp[0])
		unlinkat(k->dfd, k->tmp, 0);
	if (err > 0)
		fsync(k->dfd);
	if (k->tfd >= 0)
		close(k->tfd);
	if (k->i) {
		pthread_rwlock_unlock(&k->i->of->rw);
		inode_close_data(k->i);
		inode_forget(g_fs.inodes, k->i, 1);
	}
	close(k->fd);
	aead_key_free(k->okey);
	aead_key_free(k->nkey);
}

/* Re-encrypt dfd/name under (id, version).  1 if done, 0 if it already
 * was, -EMLINK for a hard-linked file, -EAGAIN if the name was given
 * another file during the copy, or a negative errno. */
static int rekey_file(int dfd, const char *name, const uint8_t id[COFFRE_ID_LEN],
		      uint32_t version, uint8_t *buf)
{
	struct rekey k = { .dfd = dfd, .name = name, .tfd = -1,
			   .src = { .fd = -1 } };
	int err;

	k.fd = io_open_untrusted(dfd, name, O_RDWR, S_IFREG);
	if (k.fd < 0)
		return k.fd;
	err = rekey_needed(&k, id, version);
	if (err <= 0)
		goto out;
	err = rekey_lock_inode(&k);
	if (!err)
		err = rekey_keys(&k, id, version);
	if (!err)
		err = rekey_create_tmp(&k);
	if (!err)
		err = rekey_copy(&k, buf);
	if (!err) {
		/* Metadata changes wait from the copy of the metadata to the
		 * swap (inode_meta_lock). */
		pthread_mutex_lock(&k.i->mu);
		err = rekey_copy_meta(&k);
		if (!err)
			err = rekey_swap(&k);
		if (!err)
			rekey_adopt(&k);
		pthread_mutex_unlock(&k.i->mu);
	}
	if (!err)
		err = 1;
out:
	rekey_end(&k, err);
	return err;
}

/* A file left under its old key: count it and say which. */
static void rekey_failed(int dfd, const char *name, int err, struct rekey_stats *s)
{
	char path[64], *cp;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	cp = realpath(path, NULL);
	log_msg(LOG_ERR, "key rekey: %s/%s not re-encrypted: %s", cp ? cp : "?",
		name, err == -EAGAIN ? "replaced during each copy" : strerror(-err));
	free(cp);
	s->failed++;
}

/* A listing of dfd on a descriptor of its own (dfd stays open), or NULL. */
static DIR *listing(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* The next entry a user sees: not "." or "..", not the filesystem's own. */
static struct dirent *next_entry(DIR *d)
{
	struct dirent *de;

	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !entry_is_internal(de->d_name))
			return de;
	return NULL;
}

/* Re-key every regular file directly in dfd; subdirectories when `deep`,
 * each under its own id and current version (for shredding). */
static int rekey_dir(int dfd, const uint8_t id[COFFRE_ID_LEN], bool deep,
		     uint8_t *buf, struct rekey_stats *s)
{
	uint8_t sub_id[COFFRE_ID_LEN];
	uint32_t version;
	struct dirent *de;
	int sub, r, tries;
	DIR *d;

	r = keyring_current_version(g_fs.keys, id, &version);
	if (r)
		return r;
	d = listing(dfd);
	if (!d)
		return -EIO;
	while ((de = next_entry(d))) {
		if (de->d_type == DT_REG) {
			/* A file saved over this one during the copy is
			 * looked at in turn; one removed meanwhile is done. */
			for (tries = 0; tries < 3; tries++) {
				r = rekey_file(dfd, de->d_name, id, version, buf);
				if (r != -EAGAIN)
					break;
			}
			s->seen++;
			progress_update(s->p, "rekey", "files", s->seen,
					s->total > s->seen ? s->total : s->seen);
			if (r == 1)
				s->done++;
			else if (r == -EMLINK)
				s->skipped_links++;
			else if (r < 0 && r != -ENOENT)
				rekey_failed(dfd, de->d_name, r, s);
		} else if (de->d_type == DT_DIR && deep) {
			sub = io_open_untrusted(dfd, de->d_name, O_RDONLY, S_IFDIR);
			if (sub < 0)
				continue;
			if (store_dir_id(sub, sub_id) == 0)
				rekey_dir(sub, sub_id, true, buf, s);
			else
				s->failed++;
			close(sub);
		}
	}
	closedir(d);
	return 0;
}

int keyops_rotate(const char *rel, FILE *out)
{
	uint8_t id[COFFRE_ID_LEN];
	uint32_t version;
	int dfd, err = keyops_resolve(rel, &dfd, id);

	if (err)
		return err;
	close(dfd);
	err = keyring_rotate_dir(g_fs.keys, id, &version);
	if (!err)
		fprintf(out, "ok\nnew files in %s now use key version %u; `coffrectl "
			"key rekey` re-encrypts the existing ones\n", rel, version);
	return err;
}

/* The regular files in dfd (and below it when deep), by their directory
 * entries alone: the total progress counts against. */
static uint64_t count_files(int dfd, bool deep)
{
	DIR *d = listing(dfd);
	struct dirent *de;
	uint64_t n = 0;
	int sub;

	if (!d)
		return 0;
	while ((de = next_entry(d))) {
		if (de->d_type == DT_REG) {
			n++;
		} else if (de->d_type == DT_DIR && deep) {
			sub = io_open_untrusted(dfd, de->d_name, O_RDONLY, S_IFDIR);
			if (sub >= 0) {
				n += count_files(sub, true);
				close(sub);
			}
		}
	}
	closedir(d);
	return n;
}

int keyops_rekey(const char *rel, bool deep, FILE *out)
{
	struct progress p;
	struct rekey_stats s = { .p = &p };
	uint8_t id[COFFRE_ID_LEN], *buf = malloc(COPY_CHUNK);
	int dfd, err = buf ? keyops_resolve(rel, &dfd, id) : -ENOMEM;

	progress_init(&p, PROGRESS_WIRE, out, NULL);
	if (!err) {
		s.total = count_files(dfd, deep);
		progress_update(&p, "rekey", "files", 0, s.total);
		err = rekey_dir(dfd, id, deep, buf, &s);
		if (s.seen != s.total)   /* files came or went meanwhile */
			progress_update(&p, "rekey", "files", s.seen, s.seen);
		note_dir_tree(dfd);
		close(dfd);
	}
	if (buf)
		secmem_wipe(buf, COPY_CHUNK);   /* held plaintext */
	free(buf);
	if (!err && s.failed)
		err = -EIO;
	if (err)
		return err;
	fprintf(out, "ok\nre-encrypted %u file%s in %s%s", s.done,
		s.done == 1 ? "" : "s", rel, deep ? " and below" : "");
	if (s.skipped_links)
		fprintf(out, "; %u hard-linked file%s kept their key", s.skipped_links,
			s.skipped_links == 1 ? "" : "s");
	fprintf(out, "\n");
	return 0;
}

void keyops_rewrap_progress(size_t done, size_t total, void *ctx)
{
	progress_update(ctx, "rewrap", "keys", done, total);
}

/* ---- shredding */

#define MAX_SHRED_DIRS 65536

struct id_set {
	uint8_t (*ids)[COFFRE_ID_LEN];
	size_t n;
};

static bool id_in(const struct id_set *set, const uint8_t id[COFFRE_ID_LEN])
{
	size_t k;

	for (k = 0; k < set->n; k++)
		if (!memcmp(set->ids[k], id, COFFRE_ID_LEN))
			return true;
	return false;
}

/* Every directory id in the tree at dfd. */
static int collect_ids(int dfd, const uint8_t id[COFFRE_ID_LEN], struct id_set *set)
{
	uint8_t sub_id[COFFRE_ID_LEN];
	struct dirent *de;
	int sub, err = 0;
	DIR *d;

	if (set->n == MAX_SHRED_DIRS)
		return -E2BIG;
	memcpy(set->ids[set->n++], id, COFFRE_ID_LEN);
	d = listing(dfd);
	if (!d)
		return -EIO;
	/* A subdirectory missed would keep its keys: anything but one
	 * removed meanwhile fails the whole collection (and the shred). */
	while (!err && (de = next_entry(d))) {
		if (de->d_type != DT_DIR)
			continue;
		sub = io_open_untrusted(dfd, de->d_name, O_RDONLY, S_IFDIR);
		if (sub < 0) {
			err = sub == -ENOENT ? 0 : sub;
			continue;
		}
		err = store_dir_id(sub, sub_id);
		if (!err)
			err = collect_ids(sub, sub_id, set);
		close(sub);
	}
	closedir(d);
	return err;
}

/* Files outside the tree (not under `skip`, a backing inode) whose header
 * names one of the tree's keys. */
static unsigned count_outside(int dfd, const struct id_set *set, ino_t skip)
{
	DIR *d = listing(dfd);
	struct file_header h;
	struct dirent *de;
	unsigned count = 0;
	struct stat st;
	int sub, fd;

	if (!d)
		return 0;
	while ((de = next_entry(d))) {
		if (de->d_type == DT_DIR) {
			if (de->d_ino == skip)
				continue;
			sub = io_open_untrusted(dfd, de->d_name, O_RDONLY, S_IFDIR);
			if (sub >= 0) {
				if (fstat(sub, &st) == 0 && st.st_ino != skip)
					count += count_outside(sub, set, skip);
				close(sub);
			}
		} else if (de->d_type == DT_REG) {
			fd = io_open_untrusted(dfd, de->d_name, O_RDONLY, S_IFREG);
			if (fd >= 0 && store_read_header(fd, &h) == 0 && id_in(set, h.dir_id))
				count++;
			if (fd >= 0)
				close(fd);
		}
	}
	closedir(d);
	return count;
}

/* A destroyed key record must vanish from the bucket too. */
static void record_gone(const char *name, void *ctx)
{
	char path[128];

	(void)ctx;
	snprintf(path, sizeof(path), "%s/%s", COFFRE_KEYS_DIR, name);
	note(path);
}

int keyops_shred(const char *rel, const char *pin, bool dry_run, FILE *out)
{
	struct id_set set = { calloc(MAX_SHRED_DIRS, COFFRE_ID_LEN), 0 };
	struct progress p;
	struct rekey_stats s = { .p = &p };
	struct rotate_opts ro = { .progress = keyops_rewrap_progress,
				  .progress_ctx = &p };
	uint8_t id[COFFRE_ID_LEN], *buf = NULL;
	char err_text[512] = "";
	unsigned outside;
	struct stat st;
	size_t k;
	int dfd = -1, err;

	if (!set.ids)
		return -ENOMEM;
	if (!dry_run && !volume_check_pin(g_fs.vol, pin, strlen(pin))) {
		fprintf(out, "error: PIN rejected\n");
		err = 0;
		goto out;
	}
	err = keyops_resolve(rel, &dfd, id);
	if (!err && !memcmp(id, volume_conf(g_fs.vol)->root_id, COFFRE_ID_LEN))
		err = -EPERM;   /* the root key also authenticates the config */
	if (!err)
		err = fstat(dfd, &st) ? -errno : collect_ids(dfd, id, &set);
	if (err)
		goto out;
	outside = count_outside(g_fs.root_fd, &set, st.st_ino);
	if (dry_run) {
		fprintf(out, "ok\n%zu director%s; %u file%s outside %s use%s its keys "
			"and will read EIO after the shred\n", set.n,
			set.n == 1 ? "y" : "ies", outside, outside == 1 ? "" : "s", rel,
			outside == 1 ? "s" : "");
		goto out;
	}
	/* Everything inside dies with it: bring strays under the tree's keys. */
	progress_init(&p, PROGRESS_WIRE, out, NULL);
	s.total = count_files(dfd, true);
	progress_update(&p, "rekey", "files", 0, s.total);
	buf = malloc(COPY_CHUNK);
	err = buf ? rekey_dir(dfd, id, true, buf, &s) : -ENOMEM;
	if (err)
		goto out;
	if (s.seen != s.total)
		progress_update(&p, "rekey", "files", s.seen, s.seen);
	for (k = 0; k < set.n; k++) {
		err = volume_destroy_dir_keys(g_fs.vol, set.ids[k], record_gone,
					   NULL);
		if (err < 0)
			goto out;
		keyring_forget_dir(g_fs.keys, set.ids[k]);
	}
	log_msg(LOG_NOTICE, "shredded %zu directory key%s under %s", set.n,
		set.n == 1 ? "" : "s", rel);
	note_dir_tree(dfd);
	if (inode_shred_tree(g_fs.inodes, set.ids, set.n))
		log_msg(LOG_ERR, "out of memory marking open files under %s "
			"shredded: they may read until closed", rel);
	/* Old copies of the records die with the old master key. */
	err = volume_rotate_master(g_fs.vol, &ro, err_text, sizeof(err_text));
	if (err) {
		fprintf(out, "error: the keys are destroyed but the master key rotation "
			"failed (%s): run `coffrectl key rotate-master` to finish\n",
			err_text);
		err = 0;
		goto out;
	}
	fprintf(out, "ok\nshredded %s: %zu director%s, %u stray file%s re-encrypted "
		"first%s; master key rotated to v%u, the old one destroyed everywhere\n",
		rel, set.n, set.n == 1 ? "y" : "ies", s.done, s.done == 1 ? "" : "s",
		s.skipped_links ? " (hard-linked files kept their key)" : "",
		volume_conf(g_fs.vol)->mk_version);
out:
	if (dfd >= 0)
		close(dfd);
	if (buf)
		secmem_wipe(buf, COPY_CHUNK);   /* held plaintext */
	free(buf);
	free(set.ids);
	return err;
}
