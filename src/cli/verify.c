/*
 * verify.c — `coffrectl verify BUCKET`: authenticate every object of a
 * bucket (DESIGN §6, doc/FORMAT-v1.md §11) with the keys the HSMs named on
 * the command line hold, and check it against its manifest.
 *
 * The bucket is untrusted: the HSM URIs come from --hsm only (never from
 * the config it holds), it is opened without a lock and nothing is written
 * to it, and every name printed from it is escaped.  Checks: the config's
 * MAC (keys/volume.c volume_open_ro), the marker, the manifest's MAC
 * (HMAC-SHA256, RFC 2104, key HKDF-SHA256(root DEK, "coffre/v1/manifest"),
 * RFC 5869), every key record unsealed by the HSM (AES-GCM, NIST SP
 * 800-38D), every escrow blob parsed, every directory id and name key,
 * every entry name (AES-SIV, RFC 5297, long names via their sidecar), every
 * segment of every file (src/store), every symlink target and user xattr;
 * then the manifest against the objects: missing, extra, swapped (file id),
 * size and XXH3-128 digest, and a generation lower than the one the HSMs
 * last recorded or than the backing mirror's (a rolled-back bucket).  Relies on src/keys, src/store,
 * src/replica (manifest parser), src/crypto and libxxhash.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucketcheck.h"
#include "coffre/io.h"
#include "coffre/store.h"

#define READ_CHUNK (1u << 20)

/* An encrypted directory of the bucket and its id (sorted by path). */
struct dir_rec {
	char *path;
	uint8_t id[COFFRE_ID_LEN];
	bool ok;                      /* its id read and its name key unsealed */
};

struct walk {
	struct bucket_check *c;
	struct dir_rec *dirs;
	size_t n_dirs, cap_dirs;
	uint8_t *buf;                 /* READ_CHUNK bytes */
	uint64_t total_bytes, done_bytes;
	size_t done_objs;
};

/* ---- problems */

static void problem(struct bucket_check *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct bucket_check *c, const char *path, const char *fmt, ...)
{
	struct check_problem *p;
	va_list ap;
	char what[512];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (c->n_problems == c->cap_problems) {
		size_t cap = c->cap_problems ? 2 * c->cap_problems : 32;

		p = realloc(c->problems, cap * sizeof(*p));
		if (!p)
			return;
		c->problems = p;
		c->cap_problems = cap;
	}
	p = &c->problems[c->n_problems];
	p->path = strdup(path[0] ? path : ".");
	p->what = strdup(what);
	if (p->path && p->what)
		c->n_problems++;
	else {
		free(p->path);
		free(p->what);
	}
}

void print_safe(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

void bucket_check_report(const struct bucket_check *c, FILE *f, bool json)
{
	size_t i;

	if (json) {
		fprintf(f, "{\"event\": \"result\", \"ok\": %s, \"exit\": %d, "
			"\"objects\": %zu, \"files\": %" PRIu64
			", \"directories\": %" PRIu64 ", \"key_records\": %" PRIu64
			", \"symlinks\": %" PRIu64 ", \"bytes\": %" PRIu64
			", \"generation\": %" PRIu64 ", \"problems\": [",
			c->n_problems ? "false" : "true",
			c->n_problems ? COFFRE_EXIT_BUCKET : COFFRE_EXIT_OK, c->n_objs,
			c->files, c->dirs,
			c->keys, c->symlinks, c->bytes,
			c->man ? manifest_generation(c->man) : 0);
		for (i = 0; i < c->n_problems; i++) {
			fputs(i ? ", {\"path\": " : "{\"path\": ", f);
			json_write_str(f, c->problems[i].path);
			fputs(", \"problem\": ", f);
			json_write_str(f, c->problems[i].what);
			fputc('}', f);
		}
		fputs("]}\n", f);
		return;
	}
	for (i = 0; i < c->n_problems; i++) {
		print_safe(f, c->problems[i].path);
		fputs(": ", f);
		print_safe(f, c->problems[i].what);
		fputc('\n', f);
	}
	fprintf(f, "%zu objects checked: %" PRIu64 " files (%" PRIu64 " bytes), %"
		PRIu64 " directories, %" PRIu64 " key records, %" PRIu64
		" symlinks, %" PRIu64 " other entries; manifest generation %" PRIu64
		"\n", c->n_objs, c->files, c->bytes, c->dirs, c->keys, c->symlinks,
		c->specials, c->man ? manifest_generation(c->man) : 0);
	if (c->n_problems)
		fprintf(f, "%zu problem%s: the bucket is NOT a faithful copy\n",
			c->n_problems, c->n_problems > 1 ? "s" : "");
	else
		fprintf(f, "OK: every object authenticates and matches the manifest\n");
}

static void progress(struct walk *w, bool end)
{
	if (end)
		progress_end(&w->c->prog);
	else
		progress_update(&w->c->prog, "verify", "bytes", w->done_bytes,
				w->total_bytes);
}

/* ---- collecting the bucket's objects */

static int add_object(struct bucket_check *c, const char *path, bool is_dir,
		      uint64_t size)
{
	struct bucket_object *o;

	if (c->n_objs == c->cap_objs) {
		size_t cap = c->cap_objs ? 2 * c->cap_objs : 64;

		o = realloc(c->objs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		c->objs = o;
		c->cap_objs = cap;
	}
	o = &c->objs[c->n_objs];
	memset(o, 0, sizeof(*o));
	if (!(o->path = strdup(path)))
		return -ENOMEM;
	o->is_dir = is_dir;
	o->size = size;
	c->n_objs++;
	return 0;
}

/* Walk the bucket directory open as fd, whose relative path is path[0..plen). */
static int collect(struct walk *w, int fd, char *path, size_t plen)
{
	struct bucket_check *c = w->c;
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int err = 0;

	if (!d) {
		close(fd);
		return -errno;
	}
	while (!err && (de = readdir(d))) {
		size_t n = strlen(de->d_name), len = plen ? plen + 1 + n : n;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len > COFFRE_REPLICA_PATH_MAX) {
			problem(c, de->d_name, "path longer than %d bytes",
				COFFRE_REPLICA_PATH_MAX);
			continue;
		}
		if (plen)
			path[plen] = '/';
		memcpy(path + (plen ? plen + 1 : 0), de->d_name, n + 1);
		if (replica_path_excluded(path))
			goto next;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			problem(c, path, "cannot stat: %s", strerror(errno));
			goto next;
		}
		if (S_ISREG(st.st_mode)) {
			err = add_object(c, path, false, (uint64_t)st.st_size);
			w->total_bytes += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = io_open_untrusted(dirfd(d), de->d_name, O_RDONLY,
						    S_IFDIR);

			err = add_object(c, path, true, 0);
			if (!err && sub < 0)
				problem(c, path, "cannot open: %s", strerror(-sub));
			else if (!err)
				err = collect(w, sub, path, len);
		} else {
			problem(c, path, "not a regular file or directory (a bucket "
				"holds only those)");
		}
next:
		path[plen] = '\0';
	}
	closedir(d);
	return err;
}

static int cmp_obj(const void *a, const void *b)
{
	return strcmp(((const struct bucket_object *)a)->path,
		      ((const struct bucket_object *)b)->path);
}

const struct bucket_object *bucket_object_find(const struct bucket_check *c,
					       const char *path)
{
	struct bucket_object key = { .path = (char *)path };

	if (!c->n_objs)
		return NULL;
	return bsearch(&key, c->objs, c->n_objs, sizeof(key), cmp_obj);
}

/* ---- directories and names */

static int cmp_dir(const void *a, const void *b)
{
	return strcmp(((const struct dir_rec *)a)->path,
		      ((const struct dir_rec *)b)->path);
}

static struct dir_rec *dir_find(struct walk *w, const char *path)
{
	struct dir_rec key = { .path = (char *)path };

	return bsearch(&key, w->dirs, w->n_dirs, sizeof(key), cmp_dir);
}

/* Objects come in path order, so appending keeps w->dirs sorted. */
static struct dir_rec *dir_add(struct walk *w, const char *path)
{
	struct dir_rec *d;

	if (w->n_dirs == w->cap_dirs) {
		size_t cap = w->cap_dirs ? 2 * w->cap_dirs : 64;

		d = realloc(w->dirs, cap * sizeof(*d));
		if (!d)
			return NULL;
		w->dirs = d;
		w->cap_dirs = cap;
	}
	d = &w->dirs[w->n_dirs];
	memset(d, 0, sizeof(*d));
	if (!(d->path = strdup(path)))
		return NULL;
	w->n_dirs++;
	return d;
}

/* Split path into its parent (into parent, "" for the root) and base. */
static const char *split(const char *path, char *parent)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		parent[0] = '\0';
		return path;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	return slash + 1;
}

static bool is_internal(const char *path)
{
	return !strcmp(path, COFFRE_STATE_DIR) ||
	       !strncmp(path, COFFRE_STATE_DIR "/", strlen(COFFRE_STATE_DIR) + 1);
}

/* Decrypt the name of entry `path` (base name base) in directory d. */
static void check_name(struct walk *w, const char *path, const struct dir_rec *d,
		       const char *base)
{
	struct bucket_check *c = w->c;
	char full[COFFRE_ENC_NAME_MAX + 1], side[COFFRE_REPLICA_PATH_MAX + 8];
	char plain[COFFRE_NAME_MAX + 1];
	struct derived_key *key;
	const char *enc = base;
	ssize_t n;

	if (!d || !d->ok)
		return;               /* the directory's own problem is listed */
	if (longname_is_entry(base)) {
		n = longname_sidecar_name(path, side, sizeof(side)) ? -ENAMETOOLONG :
		    io_read_small(c->bucket_fd, side, full, sizeof(full) - 1);
		if (n <= 0 || (size_t)n >= sizeof(full) - 1) {
			problem(c, path, "long name without its .name sidecar");
			return;
		}
		if (longname_sidecar_check(base, full, (size_t)n)) {
			problem(c, path, "the .name sidecar is not this entry's");
			return;
		}
		full[n] = '\0';
		enc = full;
	}
	if (keyring_name_key(volume_keyring(c->vol), d->id, &key)) {
		problem(c, path, "the directory's name key is unavailable");
		return;
	}
	if (name_decrypt(key->key, d->id, enc, strlen(enc), plain, sizeof(plain)) < 0)
		problem(c, path, "the name does not decrypt in this directory "
			"(tampered, or moved from another directory)");
	derived_key_free(key);
	secmem_wipe(plain, sizeof(plain));
}

static void check_dir(struct walk *w, const char *path)
{
	struct bucket_check *c = w->c;
	struct derived_key *key;
	struct dir_rec *d = dir_add(w, path);
	char name[COFFRE_KEYREC_NAME_MAX];
	int fd;

	if (!d)
		return;
	fd = io_open_untrusted(c->bucket_fd, path, O_RDONLY, S_IFDIR);
	if (fd < 0 || store_dir_id(fd, d->id)) {
		problem(c, path, "directory without a valid %s", COFFRE_DIR_FILE);
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	if (keyring_name_key(volume_keyring(c->vol), d->id, &key)) {
		keyrec_name_write(d->id, 1, name);
		problem(c, path, "its key record %s/%s is missing or does not unseal",
			COFFRE_KEYS_DIR, name);
		return;
	}
	derived_key_free(key);
	d->ok = true;
}

/* ---- objects */

/* The object digest of a bucket file (io_digest_fd) and the file id of
 * its coffre header, if it starts with one. */
static int hash_object(struct walk *w, int fd, struct bucket_object *o)
{
	uint8_t hdr[COFFRE_FILE_HEADER_LEN];
	struct io_digest d = { .buf = w->buf, .buflen = READ_CHUNK,
			       .head = hdr, .head_len = sizeof(hdr) };
	struct file_header h;
	int err = io_digest_fd(fd, &d);

	if (err)
		return err;
	memcpy(o->digest, d.digest, IO_DIGEST_LEN);
	if (d.size >= sizeof(hdr) && !file_header_parse(hdr, sizeof(hdr), &h))
		memcpy(o->file_id, h.file_id, COFFRE_ID_LEN);
	o->size = d.size;
	return 0;
}

/* Find the first segment of [off, off + len) that does not authenticate. */
static uint64_t bad_segment(struct walk *w, struct store_file *sf, uint64_t off,
			    size_t len)
{
	uint64_t s;

	for (s = off; s < off + len; s += sf->seg_size)
		if (store_read(sf, w->buf, sf->seg_size, s) < 0)
			return s / sf->seg_size;
	return off / sf->seg_size;
}

/* Authenticate every segment of a coffre file. */
static void check_content(struct walk *w, int fd, const char *path)
{
	struct bucket_check *c = w->c;
	struct aead_key *key = NULL;
	char name[COFFRE_KEYREC_NAME_MAX];
	struct store_file sf;
	struct file_header h;
	uint64_t off = 0;
	ssize_t n;

	if (store_read_header(fd, &h)) {
		problem(c, path, "not a coffre file (malformed or missing header)");
		goto out;
	}
	n = keyring_file_key(volume_keyring(c->vol), &h, &key);
	if (n == -EIO) {
		keyrec_name_write(h.dir_id, h.dek_version, name);
		problem(c, path, "its key record %s/%s is missing or does "
			"not unseal", COFFRE_KEYS_DIR, name);
		goto out;
	}
	if (n) {
		problem(c, path, "cannot derive its file key");
		goto out;
	}
	if (store_file_init(&sf, fd, &h, volume_conf(c->vol)->strict_holes, key, path)) {
		problem(c, path, "its size fits no plaintext size (truncated or "
			"extended)");
		goto out;
	}
	do {
		size_t want = sf.size - off < READ_CHUNK ? (size_t)(sf.size - off) :
			      READ_CHUNK;

		n = store_read(&sf, w->buf, want ? want : 1, off);
		if (n < 0) {
			problem(c, path, "segment %" PRIu64 " does not authenticate",
				bad_segment(w, &sf, off, want ? want : 1));
			goto out;
		}
		if ((size_t)n != want) {
			problem(c, path, "short read at offset %" PRIu64, off);
			goto out;
		}
		off += (uint64_t)n;
	} while (off < sf.size);
out:
	secmem_wipe(w->buf, READ_CHUNK);
	aead_key_free(key);
}

/* .coffre/keys/<hex dir id>.<version>: the record it claims to be, unsealed. */
static void check_keyrec(struct walk *w, const char *path, const char *base)
{
	struct bucket_check *c = w->c;
	uint8_t dir_id[COFFRE_ID_LEN];
	struct key_record rec;
	uint32_t ver;

	c->keys++;
	if (keyrec_name_parse(base, dir_id, &ver)) {
		problem(c, path, "not a key record name");
		return;
	}
	if (volume_read_keyrec(c->vol, dir_id, ver, &rec)) {
		problem(c, path, "malformed, or a record of another volume, "
			"directory or version");
		return;
	}
	if (volume_check_keyrec(c->vol, &rec))
		problem(c, path, "does not unseal with the HSM (tampered key record)");
}

static void check_escrow(struct walk *w, const char *path, const char *base)
{
	struct bucket_check *c = w->c;
	struct escrow_blob e;
	uint32_t ver;

	if (escrow_name_parse(base, &ver)) {
		problem(c, path, "not an escrow blob name");
		return;
	}
	if (escrow_load(volume_root_fd(c->vol), ver, &e) ||
	    memcmp(e.fs_uuid, volume_conf(c->vol)->uuid, COFFRE_ID_LEN))
		problem(c, path, "malformed escrow blob, or another volume's");
	else if (ver == volume_conf(c->vol)->mk_version &&
		 memcmp(e.kcv, volume_conf(c->vol)->kcv, sizeof(e.kcv)))
		problem(c, path, "escrows a master key whose check value is not the "
			"volume's");
}

static void check_object(struct walk *w, struct bucket_object *o)
{
	struct bucket_check *c = w->c;
	char parent[COFFRE_REPLICA_PATH_MAX + 1];
	const char *base = split(o->path, parent);
	bool encrypted_dir_entry = !is_internal(o->path) &&
				   strcmp(o->path, COFFRE_CONF_FILE);
	int fd, err;

	if (o->is_dir) {
		c->dirs++;
		if (!encrypted_dir_entry)
			return;
		if (name_is_internal(base))
			problem(c, o->path, "unexpected filesystem directory");
		else
			check_name(w, o->path, dir_find(w, parent), base);
		check_dir(w, o->path);
		return;
	}
	fd = io_open_untrusted(c->bucket_fd, o->path, O_RDONLY, S_IFREG);
	if (fd < 0) {
		problem(c, o->path, "cannot open: %s", strerror(-fd));
		return;
	}
	err = hash_object(w, fd, o);
	if (err)
		problem(c, o->path, "cannot read: %s", strerror(-err));
	c->bytes += o->size;
	if (!strcmp(parent, COFFRE_KEYS_DIR))
		check_keyrec(w, o->path, base);
	else if (!strcmp(parent, COFFRE_ESCROW_DIR))
		check_escrow(w, o->path, base);
	else if (encrypted_dir_entry) {
		if (!strcmp(base, COFFRE_DIR_FILE) || longname_is_sidecar(base))
			;     /* read with its directory / its entry */
		else if (name_is_internal(base))
			problem(c, o->path, "unexpected filesystem file");
		else {
			c->files++;
			check_name(w, o->path, dir_find(w, parent), base);
			check_content(w, fd, o->path);
		}
	}
	close(fd);
}

/* ---- manifest-only entries: symlinks, special files, xattrs */

static void check_symlink(struct walk *w, const struct manifest_entry *e)
{
	struct bucket_check *c = w->c;
	uint8_t *blob = malloc(COFFRE_SYMLINK_BLOB_MAX);
	uint8_t *plain = malloc(COFFRE_SYMLINK_BLOB_MAX);
	struct derived_key *key = NULL;
	char side[sizeof(COFFRE_SYMLINK_DIR) + 1 + COFFRE_SYMLINK_ID_HEX];
	char hex[COFFRE_SYMLINK_ID_HEX + 1];
	struct symlink_target t;
	struct symlink_hdr h;
	ssize_t n;
	int err;

	c->symlinks++;
	if (!blob || !plain) {
		problem(c, e->path, "out of memory");
		goto out;
	}
	err = symlink_target_parse(e->target, e->target_len, blob,
				   COFFRE_SYMLINK_BLOB_MAX, &t);
	if (err && e->target_len && e->target[0] == COFFRE_SYMLINK_SIDECAR_MARK) {
		problem(c, e->path, "malformed symlink sidecar reference");
		goto out;
	}
	n = err ? err : (ssize_t)t.blob_len;
	if (!err && t.sidecar) {
		symlink_id_write(t.sidecar_id, hex);
		snprintf(side, sizeof(side), "%s/%s", COFFRE_SYMLINK_DIR, hex);
		n = io_read_small(c->bucket_fd, side, blob, COFFRE_SYMLINK_BLOB_MAX);
		if (n < 0) {
			problem(c, e->path, "its target's sidecar %s is missing", side);
			goto out;
		}
	}
	if (n < 0 || symlink_blob_parse(blob, (size_t)n, &h)) {
		problem(c, e->path, "malformed symlink target");
		goto out;
	}
	err = keyring_symlink_key(volume_keyring(c->vol), h.dir_id, h.dek_version, &key);
	if (!err)
		err = aead_open(key->key, blob, COFFRE_SYMLINK_HDR_LEN,
				blob + COFFRE_SYMLINK_HDR_LEN,
				(size_t)n - COFFRE_SYMLINK_HDR_LEN, plain);
	if (err)
		problem(c, e->path, "the symlink target does not authenticate");
	derived_key_free(key);
	secmem_wipe(plain, COFFRE_SYMLINK_BLOB_MAX);
out:
	free(blob);
	free(plain);
}

/* Every user xattr of a file or directory: name and value authenticate
 * under the object's xattr keys (doc/FORMAT-v1.md §9). */
static void check_xattrs(struct walk *w, const struct manifest_entry *e)
{
	struct bucket_check *c = w->c;
	uint8_t id[COFFRE_ID_LEN], dir_id[COFFRE_ID_LEN];
	uint8_t siv[COFFRE_XATTR_SIV_MAX];
	struct derived_key *dk = NULL;
	const uint8_t *xk;
	uint8_t aad[COFFRE_XATTR_AAD_MAX];
	uint8_t *plain = NULL;
	uint32_t version = 1;
	struct file_header h;
	struct dir_rec *d;
	size_t pre, plen;
	unsigned i;
	int err, fd, slen;

	if (!e->n_xattrs)
		return;
	if (e->type == MANIFEST_DIR) {
		if (!(d = dir_find(w, e->path)) || !d->ok)
			return;
		memcpy(id, d->id, COFFRE_ID_LEN);
		memcpy(dir_id, d->id, COFFRE_ID_LEN);
	} else {
		fd = io_open_untrusted(c->bucket_fd, e->path, O_RDONLY, S_IFREG);
		err = fd < 0 ? -EIO : store_read_header(fd, &h);
		if (fd >= 0)
			close(fd);
		if (err)
			return;       /* the file's own problem is listed */
		memcpy(id, h.file_id, COFFRE_ID_LEN);
		memcpy(dir_id, h.dir_id, COFFRE_ID_LEN);
		version = h.dek_version;
	}
	err = keyring_xattr_keys(volume_keyring(c->vol), id, dir_id, version, &dk);
	if (err || !(plain = malloc(COFFRE_REPLICA_XATTR_VALUE_MAX + COFFRE_XNAME_MAX))) {
		problem(c, e->path, "cannot derive its xattr keys");
		goto out;
	}
	xk = dk->key;
	for (i = 0; i < e->n_xattrs; i++) {
		const struct manifest_xattr *x = &e->xattrs[i];

		slen = xattr_name_siv(x->name, x->value, x->value_len, siv, &pre);
		if (slen < 0 || siv_decrypt(xk, COFFRE_SIV_KEY_LEN, id, COFFRE_ID_LEN,
					    siv, (size_t)slen, plain)) {
			problem(c, e->path, "xattr %s: the name does not authenticate",
				x->name);
			continue;
		}
		plen = (size_t)slen - COFFRE_TAG_LEN;
		xattr_value_aad(id, plain, plen, aad);
		if (x->value_len < pre + COFFRE_SEG_OVERHEAD ||
		    aead_open(xk + COFFRE_SIV_KEY_LEN, aad, COFFRE_ID_LEN + plen,
			      x->value + pre, x->value_len - pre, plain))
			problem(c, e->path, "xattr %s: the value does not authenticate",
				x->name);
		secmem_wipe(plain, COFFRE_REPLICA_XATTR_VALUE_MAX);
		secmem_wipe(aad, sizeof(aad));
	}
out:
	derived_key_free(dk);
	free(plain);
}

/* ---- the manifest against the objects */

struct fid {
	const uint8_t *id;
	const char *path;
};

static int cmp_fid(const void *a, const void *b)
{
	const struct fid *x = a, *y = b;
	int r = memcmp(x->id, y->id, COFFRE_ID_LEN);

	return r ? r : strcmp(x->path, y->path);
}

static int cmp_fid_id(const void *a, const void *b)
{
	return memcmp(((const struct fid *)a)->id, ((const struct fid *)b)->id, COFFRE_ID_LEN);
}

struct mlist {
	const struct manifest_entry **v;
	size_t n;
};

static int mlist_cb(const struct manifest_entry *e, void *arg)
{
	struct mlist *l = arg;

	l->v[l->n++] = e;
	return 0;
}

static int cmp_mentry(const void *a, const void *b)
{
	return strcmp((*(const struct manifest_entry *const *)a)->path,
		      (*(const struct manifest_entry *const *)b)->path);
}

static const char *type_name(uint8_t t)
{
	static const char *const names[] = { "?", "file", "directory", "symlink",
		"fifo", "socket", "character device", "block device" };

	return t <= MANIFEST_BLK ? names[t] : "?";
}

static void compare(struct walk *w)
{
	struct bucket_check *c = w->c;
	static const uint8_t zero[COFFRE_ID_LEN];
	struct mlist l = { NULL, 0 };
	struct fid *ids = NULL, key;
	size_t i, n_ids = 0;
	char parent[COFFRE_REPLICA_PATH_MAX + 1];

	l.v = malloc((manifest_count(c->man) + 1) * sizeof(*l.v));
	ids = malloc((manifest_count(c->man) + 1) * sizeof(*ids));
	if (!l.v || !ids) {
		problem(c, COFFRE_BUCKET_MANIFEST, "out of memory");
		goto out;
	}
	manifest_foreach(c->man, mlist_cb, &l);
	qsort(l.v, l.n, sizeof(*l.v), cmp_mentry);
	for (i = 0; i < l.n; i++)
		if (l.v[i]->type == MANIFEST_REG && memcmp(l.v[i]->file_id, zero, COFFRE_ID_LEN))
			ids[n_ids++] = (struct fid){ l.v[i]->file_id, l.v[i]->path };
	qsort(ids, n_ids, sizeof(*ids), cmp_fid);

	for (i = 0; i < l.n; i++) {
		const struct manifest_entry *e = l.v[i];
		const struct bucket_object *o = bucket_object_find(c, e->path);
		const struct fid *other;
		const char *base;

		if (e->type == MANIFEST_REG || e->type == MANIFEST_DIR) {
			if (!o) {
				problem(c, e->path, "missing from the bucket (the manifest "
					"lists a %s)", type_name(e->type));
				continue;
			}
			if (o->is_dir != (e->type == MANIFEST_DIR)) {
				problem(c, e->path, "is a %s in the bucket, a %s in the "
					"manifest", o->is_dir ? "directory" : "file",
					type_name(e->type));
				continue;
			}
			if (e->type == MANIFEST_REG && memcmp(o->file_id, e->file_id, COFFRE_ID_LEN)) {
				key.id = o->file_id;
				other = n_ids ? bsearch(&key, ids, n_ids, sizeof(key),
							cmp_fid_id) : NULL;
				if (other)
					problem(c, e->path, "swapped: holds the file the "
						"manifest lists at %s", other->path);
				else
					problem(c, e->path, "holds another file than the "
						"manifest lists (file id differs)");
			} else if (e->type == MANIFEST_REG && o->size != e->size) {
				problem(c, e->path, "size %" PRIu64 ", the manifest says %"
					PRIu64, o->size, e->size);
			} else if (e->type == MANIFEST_REG && memcmp(o->digest, e->digest, IO_DIGEST_LEN)) {
				problem(c, e->path, "content differs from the manifest "
					"(XXH3-128 digest)");
			}
			check_xattrs(w, e);
			continue;
		}
		if (o) {
			problem(c, e->path, "is a %s in the bucket, a %s in the manifest",
				o->is_dir ? "directory" : "file", type_name(e->type));
			continue;
		}
		/* Symlinks and special files live in the manifest alone. */
		if (e->type != MANIFEST_LNK)
			c->specials++;
		if (is_internal(e->path))
			continue;
		base = split(e->path, parent);
		check_name(w, e->path, dir_find(w, parent), base);
		if (e->type == MANIFEST_LNK)
			check_symlink(w, e);
	}
	for (i = 0; i < c->n_objs; i++)
		if (!manifest_get(c->man, c->objs[i].path))
			problem(c, c->objs[i].path, "extra object: not in the manifest");
out:
	free(l.v);
	free(ids);
}

/* ---- manifest loading */

static int load_manifest(int dirfd, const char *path, const uint8_t key[32],
			 struct manifest **out, uint8_t **bytes, size_t *len)
{
	uint8_t *buf = NULL;
	size_t n;
	int err;

	*out = NULL;
	err = io_read_alloc(dirfd, path, COFFRE_MANIFEST_MAX, &buf, &n);
	if (err)
		return err == -EFBIG ? -EINVAL : err;
	err = manifest_parse(buf, n, key, out);
	if (!err && bytes) {
		*bytes = buf;
		*len = n;
		buf = NULL;
	}
	free(buf);
	return err;
}

static const char *manifest_error(int err)
{
	return err == -EBADMSG ? "fails authentication (tampered, or not made with "
				 "these keys)" :
	       err == -ENOENT ? "missing" : "malformed";
}

static void check_manifest(struct bucket_check *c)
{
	struct manifest *mirror = NULL;
	struct derived_key *dk;
	const uint8_t *key;
	uint8_t uuid[COFFRE_ID_LEN];
	int err;

	if (volume_manifest_key(c->vol, &dk)) {
		problem(c, COFFRE_BUCKET_MANIFEST, "cannot derive the manifest key");
		return;
	}
	key = dk->key;
	err = load_manifest(c->bucket_fd, COFFRE_BUCKET_MANIFEST, key, &c->man,
			    &c->man_bytes, &c->man_len);
	if (err) {
		problem(c, COFFRE_BUCKET_MANIFEST, "%s", manifest_error(err));
	} else {
		manifest_uuid(c->man, uuid);
		if (memcmp(uuid, volume_conf(c->vol)->uuid, COFFRE_ID_LEN)) {
			problem(c, COFFRE_BUCKET_MANIFEST, "belongs to another volume");
			manifest_free(c->man);
			c->man = NULL;
		}
	}
	/* The HSMs remember the last generation the daemon wrote: a bucket
	 * rolled back as a whole is caught even with the backing dir gone. */
	if (c->man) {
		uint64_t known = volume_generation_get(c->vol);

		if (manifest_generation(c->man) < known)
			problem(c, COFFRE_BUCKET_MANIFEST, "rolled back: generation %"
				PRIu64 ", the HSMs last recorded %" PRIu64,
				manifest_generation(c->man), known);
	}
	if (c->a->backing) {
		int bfd = open(c->a->backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		err = bfd < 0 ? -errno :
		      load_manifest(bfd, COFFRE_MANIFEST_MIRROR, key, &mirror, NULL, NULL);
		if (bfd >= 0)
			close(bfd);
		if (err)
			problem(c, COFFRE_MANIFEST_MIRROR, "in %s: %s", c->a->backing,
				manifest_error(err));
		else if (c->man && manifest_generation(c->man) < manifest_generation(mirror))
			problem(c, COFFRE_BUCKET_MANIFEST, "rolled back: generation %"
				PRIu64 ", the backing dir's mirror has %" PRIu64,
				manifest_generation(c->man), manifest_generation(mirror));
		manifest_free(mirror);
	}
	derived_key_free(dk);
}

/* ---- the whole check */

int bucket_check_run(struct bucket_check *c, const struct bucket_args *a)
{
	struct walk w = { .c = c };
	char *path = NULL;
	struct dir_rec *root;
	size_t i;
	int err, fd;

	memset(c, 0, sizeof(*c));
	c->a = a;
	c->bucket_fd = -1;
	progress_init(&c->prog, progress_mode_for(a->json, isatty(2)),
		      a->json ? stdout : stderr, NULL);
	err = volume_open_ro(a->bucket, a->uris, a->n_uris, a->pin, a->pin_len,
			     &c->vol, c->err, sizeof(c->err));
	if (err)
		return err;
	c->bucket_fd = volume_root_fd(c->vol);
	err = replica_check_marker(c->bucket_fd, volume_conf(c->vol)->uuid);
	if (err)
		problem(c, COFFRE_BUCKET_MARKER, "%s", err == -ENOENT ? "missing" :
			err == -EXDEV ? "belongs to another volume" : "malformed");
	check_manifest(c);

	path = malloc(COFFRE_REPLICA_PATH_MAX + 2);
	w.buf = malloc(READ_CHUNK);
	fd = openat(c->bucket_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!path || !w.buf || fd < 0) {
		err = -EIO;
		snprintf(c->err, sizeof(c->err), "cannot read %s: %s", a->bucket,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	path[0] = '\0';
	err = collect(&w, fd, path, 0);
	if (err) {
		snprintf(c->err, sizeof(c->err), "cannot walk %s: %s", a->bucket,
			 strerror(-err));
		goto out;
	}
	qsort(c->objs, c->n_objs, sizeof(*c->objs), cmp_obj);
	root = dir_add(&w, "");
	if (!root) {
		err = -ENOMEM;
		snprintf(c->err, sizeof(c->err), "out of memory");
		goto out;
	}
	memcpy(root->id, volume_conf(c->vol)->root_id, COFFRE_ID_LEN);
	root->ok = true;              /* checked by volume_open_ro */
	for (i = 0; i < c->n_objs; i++) {
		check_object(&w, &c->objs[i]);
		w.done_objs = i + 1;
		w.done_bytes += c->objs[i].size;
		progress(&w, false);
	}
	if (c->man)
		compare(&w);
	progress(&w, true);
	err = 0;
out:
	for (i = 0; i < w.n_dirs; i++)
		free(w.dirs[i].path);
	free(w.dirs);
	if (w.buf)
		secmem_wipe(w.buf, READ_CHUNK);
	free(w.buf);
	free(path);
	return err;
}

void bucket_check_free(struct bucket_check *c)
{
	size_t i;

	for (i = 0; i < c->n_problems; i++) {
		free(c->problems[i].path);
		free(c->problems[i].what);
	}
	free(c->problems);
	for (i = 0; i < c->n_objs; i++)
		free(c->objs[i].path);
	free(c->objs);
	manifest_free(c->man);
	free(c->man_bytes);
	volume_close(c->vol);        /* closes bucket_fd (its root_fd) */
	memset(c, 0, sizeof(*c));
	c->bucket_fd = -1;
}

int bucket_check_start(struct bucket_check *c, const struct bucket_args *a)
{
	int err = bucket_check_run(c, a), code = coffre_exit_of_errno(err);

	if (err == 0)
		return 0;
	progress_end(&c->prog);
	fprintf(stderr, "coffrectl: cannot verify %s: ", a->bucket);
	print_safe(stderr, c->err);
	fputc('\n', stderr);
	/* A wrong PIN or no HSM is theirs; anything else is the bucket's. */
	code = code == COFFRE_EXIT_PIN || code == COFFRE_EXIT_HSM ? code :
	       COFFRE_EXIT_BUCKET;
	if (a->json)
		progress_json_result(stdout, code, c->err);
	bucket_check_free(c);
	return code;
}

int verify_command(const struct bucket_args *a)
{
	struct bucket_check c;
	int ret;

	ret = bucket_check_start(&c, a);
	if (ret)
		return ret;
	bucket_check_report(&c, stdout, a->json);
	ret = c.n_problems ? COFFRE_EXIT_BUCKET : COFFRE_EXIT_OK;
	bucket_check_free(&c);
	return ret;
}
