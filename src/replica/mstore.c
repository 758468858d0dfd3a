/*
 * The worker's manifest, paged (DESIGN "The worker's manifest, paged";
 * file format: doc/FORMAT-v1.md §11).  A sorted base file on disk, read
 * through an index of ~16 KiB blocks (file offset, first path, SHA-256 of
 * the bytes, a Bloom filter of its regular files' inode numbers), plus a
 * bounded delta in memory: entries put, and tombstones for base paths
 * deleted, each knowing whether the base holds its path, so the entry
 * count stays exact.
 *
 * Writing merges base and delta in path order, a block at a time, into
 * one or more files with the HMAC computed on the way and the index of
 * the result built alongside; the first file then becomes the base.
 * Loading checks the MAC before a byte is parsed (pass 1, which can copy
 * the file, e.g. from the bucket), then parses every entry with the
 * canonical rules of manifest.c, computes the MAC again and indexes the
 * file (pass 2).  A block that later fails its SHA-256 marks the store
 * broken: the worker drops it and rescans.  src/crypto, src/io.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"
#include "coffre/io.h"
#include "replica_private.h"
#include "strmap.h"

#define BLOCK_TARGET (16u << 10)
#define READ_CHUNK (64u << 10)
#define BLOOM_WORDS 8                    /* 512 bits, 3 probes */
/* Offsets in an encoded entry after its 2 + n path bytes. */
#define AT_TYPE 0
#define AT_INO (1 + 4 + 4 + 4 + 8 + 4 + 8)

struct mblock {
	uint64_t off;                    /* in the base file */
	uint32_t len, n;                 /* bytes, entries */
	char *first;                     /* its first path */
	uint8_t hash[COFFRE_SHA256_LEN]; /* of its bytes */
	uint64_t bloom[BLOOM_WORDS];     /* its regular files' inodes */
};

struct mindex {
	struct mblock *v;
	size_t n, cap;
};

/* A block being built (writing or loading). */
struct bbuild {
	uint8_t *buf;
	size_t len, cap;
	uint32_t n;
	char *first;
	uint64_t bloom[BLOOM_WORDS];
};

struct dent {
	struct manifest_entry *e;        /* NULL: deleted */
	bool in_base;
	char path[];                     /* the delta's key */
};

struct mstore {
	uint8_t uuid[COFFRE_ID_LEN];
	uint64_t generation, count;
	int base_fd;                     /* -1: no base */
	struct mindex idx;
	struct strmap delta;
	uint8_t *cbuf;                   /* the last block read */
	size_t ccap, cached;             /* its index, or SIZE_MAX */
	bool broken;
};

/* ---- helpers */

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* strcmp order of a (al bytes) and b (bl bytes), neither holding a NUL. */
static int pathcmp(const void *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

static void bloom_bits(uint64_t ino, unsigned bit[3])
{
	uint64_t h = ino + 0x9e3779b97f4a7c15ull;

	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	h ^= h >> 31;
	for (int k = 0; k < 3; k++)
		bit[k] = (unsigned)(h >> (k * 9)) % (BLOOM_WORDS * 64);
}

static void bloom_add(uint64_t *b, uint64_t ino)
{
	unsigned bit[3];

	bloom_bits(ino, bit);
	for (int k = 0; k < 3; k++)
		b[bit[k] / 64] |= 1ull << (bit[k] % 64);
}

static bool bloom_has(const uint64_t *b, uint64_t ino)
{
	unsigned bit[3];

	bloom_bits(ino, bit);
	for (int k = 0; k < 3; k++)
		if (!(b[bit[k] / 64] & (1ull << (bit[k] % 64))))
			return false;
	return true;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : READ_CHUNK;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if (!(p = realloc(*buf, n)))
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static void index_free(struct mindex *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i].first);
	free(x->v);
	memset(x, 0, sizeof(*x));
}

/* Add an entry's bytes (whose path and inode are given) to the block. */
static int block_add(struct bbuild *b, const uint8_t *bytes, size_t len,
		     const struct manifest_entry *e)
{
	int err;

	if ((err = grow(&b->buf, &b->cap, b->len + len)) != 0)
		return err;
	if (b->n == 0 && !(b->first = strdup(e->path)))
		return -ENOMEM;
	if (bytes)
		memcpy(b->buf + b->len, bytes, len);
	if (e->type == MANIFEST_REG)
		bloom_add(b->bloom, e->ino);
	b->len += len;
	b->n++;
	return 0;
}

/* Close the block built in b as the one at file offset off of x. */
static int block_end(struct bbuild *b, struct mindex *x, uint64_t off)
{
	struct mblock *m;
	int err;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct mblock *v = realloc(x->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	m = &x->v[x->n];
	if ((err = sha256(b->buf, b->len, m->hash)) != 0)
		return err;
	m->off = off;
	m->len = (uint32_t)b->len;
	m->n = b->n;
	m->first = b->first;
	memcpy(m->bloom, b->bloom, sizeof(m->bloom));
	x->n++;
	b->first = NULL;
	b->len = 0;
	b->n = 0;
	memset(b->bloom, 0, sizeof(b->bloom));
	return 0;
}

static void bbuild_free(struct bbuild *b)
{
	free(b->buf);
	free(b->first);
}

/* ---- the store */

static int free_dent(void *val, void *arg)
{
	struct dent *d = val;

	(void)arg;
	manifest_entry_free(d->e);
	free(d);
	return 0;
}

static void delta_clear(struct mstore *ms)
{
	strmap_foreach(&ms->delta, free_dent, NULL);
	strmap_clear(&ms->delta);
}

static void base_drop(struct mstore *ms)
{
	if (ms->base_fd >= 0)
		close(ms->base_fd);
	ms->base_fd = -1;
	index_free(&ms->idx);
	ms->cached = SIZE_MAX;
}

int mstore_new(const uint8_t uuid[COFFRE_ID_LEN], struct mstore **out)
{
	struct mstore *ms = calloc(1, sizeof(*ms));

	*out = NULL;
	if (!ms)
		return -ENOMEM;
	if (strmap_init(&ms->delta) != 0) {
		free(ms);
		return -ENOMEM;
	}
	memcpy(ms->uuid, uuid, COFFRE_ID_LEN);
	ms->base_fd = -1;
	ms->cached = SIZE_MAX;
	*out = ms;
	return 0;
}

void mstore_free(struct mstore *ms)
{
	if (!ms)
		return;
	base_drop(ms);
	delta_clear(ms);
	strmap_fini(&ms->delta);
	free(ms->cbuf);
	free(ms);
}

uint64_t mstore_generation(const struct mstore *ms) { return ms->generation; }
void mstore_set_generation(struct mstore *ms, uint64_t g) { ms->generation = g; }
uint64_t mstore_count(const struct mstore *ms) { return ms->count; }
size_t mstore_delta_count(const struct mstore *ms) { return ms->delta.n; }
bool mstore_broken(const struct mstore *ms) { return ms->broken; }

void mstore_reset(struct mstore *ms)
{
	base_drop(ms);
	delta_clear(ms);
	ms->count = 0;
	ms->broken = false;
}

static int broken(struct mstore *ms)
{
	ms->broken = true;
	return -EIO;
}

/* Read block i into *buf and check it. */
static int block_read(struct mstore *ms, size_t i, uint8_t **buf, size_t *cap)
{
	const struct mblock *m = &ms->idx.v[i];
	uint8_t h[COFFRE_SHA256_LEN];
	ssize_t n;
	int err;

	if ((err = grow(buf, cap, m->len)) != 0)
		return err;
	n = io_pread_full(ms->base_fd, *buf, m->len, m->off);
	if (n < 0)
		return (int)n;
	if ((size_t)n != m->len)
		return broken(ms);
	if ((err = sha256(*buf, m->len, h)) != 0)
		return err;
	if (CRYPTO_memcmp(h, m->hash, sizeof(h)) != 0)
		return broken(ms);
	return 0;
}

/* The last block whose first path is <= path, or SIZE_MAX. */
static size_t block_for(const struct mindex *x, const char *path)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(x->v[mid].first, path) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : SIZE_MAX;
}

/* The next entry of a checked block at *off: its length, path and path
 * length; 0 at the end, -EIO if malformed (the index lied). */
static ssize_t next_entry(struct mstore *ms, const uint8_t *buf, size_t len,
			  size_t off, const uint8_t **path, size_t *plen)
{
	ssize_t span;

	if (off >= len)
		return 0;
	span = manifest_entry_span(buf + off, len - off);
	if (span <= 0 || len - off < 2 + (size_t)be16(buf + off) + AT_INO + 8)
		return broken(ms);
	*plen = be16(buf + off);
	*path = buf + off + 2;
	return span;
}

static int parse_at(struct mstore *ms, const uint8_t *p, size_t span,
		    struct manifest_entry **out)
{
	struct rcur c;
	int err;

	rcur_init(&c, p, span);
	if ((err = manifest_entry_parse(&c, out)) != 0)
		return err == -ENOMEM ? err : broken(ms);
	if (!rcur_done(&c)) {
		manifest_entry_free(*out);
		*out = NULL;
		return broken(ms);
	}
	return 0;
}

/* 1 if the base holds path (*out its entry if out), 0 if not, -errno. */
static int base_find(struct mstore *ms, const char *path,
		     struct manifest_entry **out)
{
	size_t i, off = 0, plen = strlen(path), el;
	const uint8_t *ep;
	ssize_t span;
	int err, c;

	if (out)
		*out = NULL;
	if (ms->base_fd < 0 || (i = block_for(&ms->idx, path)) == SIZE_MAX)
		return 0;
	if (ms->cached != i) {
		ms->cached = SIZE_MAX;
		if ((err = block_read(ms, i, &ms->cbuf, &ms->ccap)) != 0)
			return err;
		ms->cached = i;
	}
	for (; (span = next_entry(ms, ms->cbuf, ms->idx.v[i].len, off, &ep, &el)) > 0;
	     off += (size_t)span) {
		if ((c = pathcmp(ep, el, path, plen)) > 0)
			return 0;
		if (c == 0) {
			if (out && (err = parse_at(ms, ms->cbuf + off, (size_t)span, out)) != 0)
				return err;
			return 1;
		}
	}
	return span < 0 ? (int)span : 0;
}

int mstore_get(struct mstore *ms, const char *path, struct manifest_entry **out)
{
	struct dent *d = strmap_get(&ms->delta, path);
	int rc;

	*out = NULL;
	if (d) {
		if (d->e && !(*out = manifest_entry_dup(d->e)))
			return -ENOMEM;
		return 0;
	}
	rc = base_find(ms, path, out);
	return rc < 0 ? rc : 0;
}

int mstore_has(struct mstore *ms, const char *path)
{
	struct dent *d = strmap_get(&ms->delta, path);

	if (d)
		return d->e != NULL;
	return base_find(ms, path, NULL);
}

/* A new delta slot for path (its e NULL). */
static int dent_new(struct mstore *ms, const char *path, struct dent **out)
{
	size_t n = strlen(path);
	struct dent *d = malloc(sizeof(*d) + n + 1);
	void *old;
	int rc;

	if (!d)
		return -ENOMEM;
	if ((rc = base_find(ms, path, NULL)) < 0) {
		free(d);
		return rc;
	}
	d->e = NULL;
	d->in_base = rc == 1;
	memcpy(d->path, path, n + 1);
	if ((rc = strmap_put(&ms->delta, d->path, d, &old)) != 0) {
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int mstore_put(struct mstore *ms, struct manifest_entry *e)
{
	struct dent *d;
	int err;

	if ((err = manifest_entry_valid(e)) != 0)
		goto fail;
	if (manifest_entry_size(e) > MANIFEST_ENTRY_MAX) {
		err = -E2BIG;
		goto fail;
	}
	if (!(d = strmap_get(&ms->delta, e->path))) {
		if ((err = dent_new(ms, e->path, &d)) != 0)
			goto fail;
		if (d->in_base)
			ms->count--;    /* counted as in the base until now */
	}
	if (!d->e)
		ms->count++;
	manifest_entry_free(d->e);
	d->e = e;
	return 0;
fail:
	manifest_entry_free(e);
	return err;
}

int mstore_del(struct mstore *ms, const char *path)
{
	struct dent *d = strmap_get(&ms->delta, path);
	int err;

	if (!d) {
		if ((err = dent_new(ms, path, &d)) != 0)
			return err;
		if (!d->in_base) {
			strmap_del(&ms->delta, d->path);
			free(d);
			return -ENOENT;
		}
		ms->count--;
		return 0;
	}
	if (!d->e)
		return -ENOENT;
	manifest_entry_free(d->e);
	d->e = NULL;
	ms->count--;
	if (!d->in_base) {
		strmap_del(&ms->delta, d->path);
		free(d);
	}
	return 0;
}

/* ---- iteration */

struct dsort {
	struct dent **v;
	size_t n;
	const char *from;
};

static int dcollect(void *val, void *arg)
{
	struct dsort *s = arg;
	struct dent *d = val;

	if (strcmp(d->path, s->from) >= 0)
		s->v[s->n++] = d;
	return 0;
}

static int dcmp(const void *a, const void *b)
{
	return strcmp((*(struct dent *const *)a)->path, (*(struct dent *const *)b)->path);
}

int mstore_foreach(struct mstore *ms, const char *from,
		   int (*fn)(const struct manifest_entry *e, void *arg), void *arg)
{
	struct dsort s = { NULL, 0, from };
	size_t di = 0, flen = strlen(from), i, cap = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	if (!(s.v = malloc((ms->delta.n ? ms->delta.n : 1) * sizeof(*s.v))))
		return -ENOMEM;
	strmap_foreach(&ms->delta, dcollect, &s);
	qsort(s.v, s.n, sizeof(*s.v), dcmp);
	i = ms->base_fd < 0 ? ms->idx.n : block_for(&ms->idx, from);
	for (i = i == SIZE_MAX ? 0 : i; !rc && i < ms->idx.n; i++) {
		const struct mblock *m = &ms->idx.v[i];
		size_t off = 0, el;
		const uint8_t *ep;
		ssize_t span;

		if ((rc = block_read(ms, i, &buf, &cap)) != 0)
			break;
		for (; !rc && (span = next_entry(ms, buf, m->len, off, &ep, &el)) > 0;
		     off += (size_t)span) {
			struct manifest_entry *e;
			int c = 1;

			if (pathcmp(ep, el, from, flen) < 0)
				continue;
			/* Delta entries before this one, then this one. */
			while (di < s.n &&
			       (c = pathcmp(ep, el, s.v[di]->path, strlen(s.v[di]->path))) > 0) {
				if (s.v[di]->e && (rc = fn(s.v[di]->e, arg)) != 0)
					goto out;
				di++;
			}
			if (di < s.n && c == 0) {   /* the delta overrides it */
				if (s.v[di]->e)
					rc = fn(s.v[di]->e, arg);
				di++;
				continue;
			}
			if ((rc = parse_at(ms, buf + off, (size_t)span, &e)) != 0)
				goto out;
			rc = fn(e, arg);
			manifest_entry_free(e);
		}
		if (!rc && span < 0)
			rc = (int)span;
	}
	for (; !rc && di < s.n; di++)
		if (s.v[di]->e)
			rc = fn(s.v[di]->e, arg);
out:
	free(buf);
	free(s.v);
	return rc;
}

struct ino_ctx {
	uint64_t ino;
	int (*fn)(const struct manifest_entry *e, void *arg);
	void *arg;
};

static int dino(void *val, void *arg)
{
	struct dent *d = val;
	struct ino_ctx *c = arg;

	if (d->e && d->e->type == MANIFEST_REG && d->e->ino == c->ino)
		return c->fn(d->e, c->arg);
	return 0;
}

int mstore_foreach_ino(struct mstore *ms, uint64_t ino,
		       int (*fn)(const struct manifest_entry *e, void *arg), void *arg)
{
	struct ino_ctx c = { ino, fn, arg };
	char path[COFFRE_REPLICA_PATH_MAX + 1];
	size_t cap = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	for (size_t i = 0; !rc && ms->base_fd >= 0 && i < ms->idx.n; i++) {
		const struct mblock *m = &ms->idx.v[i];
		size_t off = 0, el;
		const uint8_t *ep;
		ssize_t span;

		if (!bloom_has(m->bloom, ino))
			continue;
		if ((rc = block_read(ms, i, &buf, &cap)) != 0)
			break;
		for (; !rc && (span = next_entry(ms, buf, m->len, off, &ep, &el)) > 0;
		     off += (size_t)span) {
			struct manifest_entry *e;

			if (ep[el + AT_TYPE] != MANIFEST_REG || be64(ep + el + AT_INO) != ino ||
			    el > COFFRE_REPLICA_PATH_MAX)
				continue;
			memcpy(path, ep, el);
			path[el] = '\0';
			if (strmap_get(&ms->delta, path))
				continue;       /* the delta has its say below */
			if ((rc = parse_at(ms, buf + off, (size_t)span, &e)) != 0)
				break;
			rc = fn(e, arg);
			manifest_entry_free(e);
		}
		if (!rc && span < 0)
			rc = (int)span;
	}
	free(buf);
	return rc ? rc : strmap_foreach(&ms->delta, dino, &c);
}

/* ---- writing */

struct wctx {
	const int *fds;
	size_t nfd;
	struct hmac_stream *h;
	struct bbuild b;
	struct mindex idx;
	uint64_t off, written;
};

static int emit(struct wctx *w, const void *p, size_t len)
{
	int err;

	if ((err = hmac_stream_update(w->h, p, len)) != 0)
		return err;
	for (size_t i = 0; i < w->nfd; i++)
		if ((err = io_write_full(w->fds[i], p, len)) != 0)
			return err;
	return 0;
}

static int flush_block(struct wctx *w)
{
	size_t len = w->b.len;
	int err;

	if (!len)
		return 0;
	if ((err = emit(w, w->b.buf, len)) != 0 ||
	    (err = block_end(&w->b, &w->idx, w->off)) != 0)
		return err;
	w->off += len;
	return 0;
}

static int write_cb(const struct manifest_entry *e, void *arg)
{
	struct wctx *w = arg;
	size_t size = manifest_entry_size(e), at = w->b.len;
	struct wcur c;
	int err;

	if ((err = block_add(&w->b, NULL, size, e)) != 0)
		return err;
	wcur_init(&c, w->b.buf + at, size);
	manifest_entry_encode(&c, e);
	if (c.err || c.off != size)
		return -EINVAL;
	w->written++;
	return w->b.len >= BLOCK_TARGET ? flush_block(w) : 0;
}

static void adopt(struct mstore *ms, int fd, struct mindex *idx)
{
	base_drop(ms);
	delta_clear(ms);
	ms->base_fd = fd;
	ms->idx = *idx;
	memset(idx, 0, sizeof(*idx));
}

int mstore_write(struct mstore *ms, const uint8_t key[COFFRE_KEY_LEN],
		 const int *fds, size_t n)
{
	struct wctx w = { .fds = fds, .nfd = n, .off = MANIFEST_HDR_LEN };
	struct manifest_hdr hdr;
	uint8_t hb[MANIFEST_HDR_LEN], mac[MANIFEST_MAC_LEN];
	int err;

	memcpy(hdr.uuid, ms->uuid, COFFRE_ID_LEN);
	hdr.generation = ms->generation;
	hdr.count = ms->count;
	manifest_hdr_encode(hb, &hdr);
	if ((err = hmac_stream_new(key, COFFRE_KEY_LEN, &w.h)) != 0)
		return err;
	if ((err = emit(&w, hb, sizeof(hb))) != 0 ||
	    (err = mstore_foreach(ms, "", write_cb, &w)) != 0 ||
	    (err = flush_block(&w)) != 0)
		goto out;
	if (w.written != ms->count) {
		err = -EIO;     /* the count drifted: a bug, never written */
		goto out;
	}
	err = hmac_stream_final(w.h, mac);
	w.h = NULL;
	for (size_t i = 0; !err && i < n; i++)
		err = io_write_full(fds[i], mac, sizeof(mac));
	if (!err)
		adopt(ms, fds[0], &w.idx);
out:
	hmac_stream_free(w.h);
	bbuild_free(&w.b);
	index_free(&w.idx);
	return err;
}

/* ---- loading */

int mstore_check_file(int fd, int copy_fd, const uint8_t key[COFFRE_KEY_LEN],
		      struct manifest_hdr *h)
{
	uint8_t hb[MANIFEST_HDR_LEN], mac[MANIFEST_MAC_LEN], want[MANIFEST_MAC_LEN];
	struct hmac_stream *hs = NULL;
	uint8_t *buf = NULL;
	uint64_t size, off = 0, body;
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < MANIFEST_HDR_LEN + MANIFEST_MAC_LEN)
		return -EINVAL;
	size = (uint64_t)st.st_size;
	body = size - MANIFEST_MAC_LEN;
	if (!(buf = malloc(READ_CHUNK)))
		return -ENOMEM;
	if ((err = hmac_stream_new(key, COFFRE_KEY_LEN, &hs)) != 0)
		goto out;
	while (off < size) {
		size_t want_n = size - off < READ_CHUNK ? (size_t)(size - off) : READ_CHUNK;
		ssize_t n = io_pread_full(fd, buf, want_n, off);
		size_t mac_part;

		if (n < 0) {
			err = (int)n;
			goto out;
		}
		if ((size_t)n != want_n) {
			err = -EBADMSG;     /* shrank while read */
			goto out;
		}
		if (copy_fd >= 0 && (err = io_write_full(copy_fd, buf, want_n)) != 0)
			goto out;
		if (off < MANIFEST_HDR_LEN)
			memcpy(hb + off, buf, MANIFEST_HDR_LEN - off < want_n ?
			       MANIFEST_HDR_LEN - off : want_n);
		mac_part = off + want_n > body ? (size_t)(off + want_n - body) : 0;
		if (mac_part > want_n)
			mac_part = want_n;
		if ((err = hmac_stream_update(hs, buf, want_n - mac_part)) != 0)
			goto out;
		if (mac_part)   /* the tail of the file: the MAC */
			memcpy(want + (off + want_n - mac_part - body),
			       buf + want_n - mac_part, mac_part);
		off += want_n;
	}
	err = hmac_stream_final(hs, mac);
	hs = NULL;
	if (err)
		goto out;
	if (CRYPTO_memcmp(mac, want, sizeof(mac)) != 0) {
		err = -EBADMSG;
		goto out;
	}
	err = manifest_hdr_parse(hb, h);
out:
	hmac_stream_free(hs);
	free(buf);
	return err;
}

/* Pass 2 state: a sliding read window over [MANIFEST_HDR_LEN, end). */
struct lctx {
	int fd;
	struct hmac_stream *h;
	uint8_t *rb;
	size_t len, pos, cap;
	uint64_t off, end;               /* next byte to read; MAC offset */
};

/* Make sure rb holds the whole entry at pos: its length, or -errno. */
static ssize_t load_entry(struct lctx *l)
{
	for (;;) {
		ssize_t span = manifest_entry_span(l->rb + l->pos, l->len - l->pos), n;
		size_t want;
		int err;

		if (span != 0)
			return span;
		if (l->off >= l->end)
			return -EINVAL;         /* ends inside an entry */
		memmove(l->rb, l->rb + l->pos, l->len - l->pos);
		l->len -= l->pos;
		l->pos = 0;
		if (l->len + READ_CHUNK > l->cap &&
		    (err = grow(&l->rb, &l->cap, l->len + READ_CHUNK)) != 0)
			return err;
		want = l->cap - l->len;
		if (want > l->end - l->off)
			want = (size_t)(l->end - l->off);
		n = io_pread_full(l->fd, l->rb + l->len, want, l->off);
		if (n < 0)
			return n;
		if ((size_t)n != want)
			return -EBADMSG;        /* shrank since pass 1 */
		if ((err = hmac_stream_update(l->h, l->rb + l->len, want)) != 0)
			return err;
		l->len += want;
		l->off += want;
	}
}

int mstore_load(struct mstore *ms, int fd, const uint8_t key[COFFRE_KEY_LEN])
{
	struct lctx l = { .fd = fd, .off = MANIFEST_HDR_LEN };
	uint8_t hb[MANIFEST_HDR_LEN], mac[MANIFEST_MAC_LEN], want[MANIFEST_MAC_LEN];
	char *prev = NULL;
	struct bbuild b = { 0 };
	struct mindex idx = { 0 };
	struct manifest_hdr hdr;
	uint64_t block_off = MANIFEST_HDR_LEN;
	struct stat st;
	ssize_t n;
	int err;

	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < MANIFEST_HDR_LEN + MANIFEST_MAC_LEN) {
		err = -EINVAL;
		goto fail;
	}
	l.end = (uint64_t)st.st_size - MANIFEST_MAC_LEN;
	if ((n = io_pread_full(fd, hb, sizeof(hb), 0)) != (ssize_t)sizeof(hb)) {
		err = n < 0 ? (int)n : -EBADMSG;
		goto fail;
	}
	if ((err = manifest_hdr_parse(hb, &hdr)) != 0)
		goto fail;
	if (memcmp(hdr.uuid, ms->uuid, COFFRE_ID_LEN) != 0) {
		err = -EXDEV;
		goto fail;
	}
	if ((err = grow(&l.rb, &l.cap, 2 * READ_CHUNK)) != 0 ||
	    (err = hmac_stream_new(key, COFFRE_KEY_LEN, &l.h)) != 0 ||
	    (err = hmac_stream_update(l.h, hb, sizeof(hb))) != 0)
		goto fail;
	for (uint64_t i = 0; i < hdr.count; i++) {
		struct manifest_entry *e;
		ssize_t span = load_entry(&l);

		if (span < 0) {
			err = (int)span;
			goto fail;
		}
		if ((err = parse_at(ms, l.rb + l.pos, (size_t)span, &e)) != 0) {
			ms->broken = false;     /* nothing was loaded */
			err = err == -ENOMEM ? err : -EINVAL;
			goto fail;
		}
		if (prev && strcmp(prev, e->path) >= 0)
			err = -EINVAL;
		free(prev);
		prev = e->path;
		e->path = NULL;
		if (!err)
			err = block_add(&b, l.rb + l.pos, (size_t)span,
					&(struct manifest_entry){ .path = prev, .type = e->type,
								  .ino = e->ino });
		manifest_entry_free(e);
		if (err)
			goto fail;
		l.pos += (size_t)span;
		if (b.len >= BLOCK_TARGET) {
			size_t len = b.len;

			if ((err = block_end(&b, &idx, block_off)) != 0)
				goto fail;
			block_off += len;
		}
	}
	if (l.pos != l.len || l.off != l.end) {
		err = -EINVAL;                  /* bytes after the last entry */
		goto fail;
	}
	if (b.len && (err = block_end(&b, &idx, block_off)) != 0)
		goto fail;
	err = hmac_stream_final(l.h, mac);
	l.h = NULL;
	if (err)
		goto fail;
	if ((n = io_pread_full(fd, want, sizeof(want), l.end)) != (ssize_t)sizeof(want)) {
		err = n < 0 ? (int)n : -EBADMSG;
		goto fail;
	}
	if (CRYPTO_memcmp(mac, want, sizeof(mac)) != 0) {
		err = -EBADMSG;                 /* changed since pass 1 */
		goto fail;
	}
	adopt(ms, fd, &idx);
	ms->generation = hdr.generation;
	ms->count = hdr.count;
	ms->broken = false;
	free(prev);
	bbuild_free(&b);
	free(l.rb);
	return 0;
fail:
	hmac_stream_free(l.h);
	free(prev);
	bbuild_free(&b);
	index_free(&idx);
	free(l.rb);
	close(fd);
	return err;
}
