/*
 * The bucket manifest (doc/FORMAT-v1.md §11): what an object store cannot hold
 * (type, mode, owner, mtime, hard-link identity, symlink target, user
 * xattrs) plus size, XXH3-128 digest and file id of every replicated path,
 * under a generation counter, authenticated with HMAC-SHA256 (RFC 2104)
 * keyed by the caller (derived from the root DEK).
 *
 * The MAC is checked before a single byte is parsed, in constant time
 * (CRYPTO_memcmp); a manifest that fails it is never trusted.  The parser
 * then reads only through the bounded cursor of src/format and accepts
 * only the canonical form (sorted unique paths and xattr names, zero
 * reserved fields, fields that do not apply left zero), so that
 * manifest_write() of what it returns gives the same bytes back (the fuzz
 * target checks this).  The in-memory table is a strmap keyed by path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"
#include "coffre/format.h"
#include "coffre/replica.h"
#include "replica_private.h"
#include "strmap.h"

#define MAC_LEN MANIFEST_MAC_LEN
/* Fixed part of an entry after the path. */
#define ENTRY_FIXED (1 + 4 + 4 + 4 + 8 + 4 + 8 + 8 + 8 + IO_DIGEST_LEN + COFFRE_ID_LEN)

struct manifest {
	uint8_t uuid[COFFRE_ID_LEN];
	uint64_t generation;
	struct strmap map;
};

struct manifest *manifest_new(const uint8_t volume_uuid[COFFRE_ID_LEN])
{
	struct manifest *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (strmap_init(&m->map) != 0) {
		free(m);
		return NULL;
	}
	memcpy(m->uuid, volume_uuid, COFFRE_ID_LEN);
	return m;
}

void manifest_entry_free(struct manifest_entry *e)
{
	if (!e)
		return;
	for (unsigned i = 0; e->xattrs && i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	free(e->target);
	free(e->path);
	free(e);
}

struct manifest_entry *manifest_entry_dup(const struct manifest_entry *e)
{
	struct manifest_entry *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	*d = *e;
	d->path = d->target = NULL;
	d->xattrs = NULL;
	d->n_xattrs = 0;
	if (!(d->path = strdup(e->path)) ||
	    (e->target_len && !(d->target = malloc(e->target_len + 1u))) ||
	    (e->n_xattrs && !(d->xattrs = calloc(e->n_xattrs, sizeof(*d->xattrs)))))
		goto fail;
	if (e->target_len) {
		memcpy(d->target, e->target, e->target_len);
		d->target[e->target_len] = '\0';
	}
	for (; d->n_xattrs < e->n_xattrs; d->n_xattrs++) {
		const struct manifest_xattr *x = &e->xattrs[d->n_xattrs];
		struct manifest_xattr *y = &d->xattrs[d->n_xattrs];

		y->value_len = x->value_len;
		if (!(y->name = strdup(x->name)) ||
		    !(y->value = malloc(x->value_len ? x->value_len : 1))) {
			d->n_xattrs++;
			goto fail;
		}
		memcpy(y->value, x->value, x->value_len);
	}
	return d;
fail:
	manifest_entry_free(d);
	return NULL;
}

static int free_cb(void *val, void *arg)
{
	(void)arg;
	manifest_entry_free(val);
	return 0;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	strmap_foreach(&m->map, free_cb, NULL);
	strmap_fini(&m->map);
	free(m);
}

uint64_t manifest_generation(const struct manifest *m) { return m->generation; }
void manifest_set_generation(struct manifest *m, uint64_t g) { m->generation = g; }
void manifest_uuid(const struct manifest *m, uint8_t uuid[COFFRE_ID_LEN])
{
	memcpy(uuid, m->uuid, COFFRE_ID_LEN);
}
size_t manifest_count(const struct manifest *m) { return m->map.n; }

const struct manifest_entry *manifest_get(const struct manifest *m,
					  const char *path)
{
	return strmap_get(&m->map, path);
}

static bool has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

/* The canonical-form rules shared by manifest_put() and the parser. */
int manifest_entry_valid(const struct manifest_entry *e)
{
	if (!e->path || replica_path_check(e->path, strlen(e->path)) != 0)
		return -EINVAL;
	if (e->type < MANIFEST_REG || e->type > MANIFEST_BLK ||
	    e->mode > 07777 || e->mtime_nsec >= 1000000000u)
		return -EINVAL;
	if ((e->type == MANIFEST_LNK) != (e->target_len > 0) ||
	    e->target_len > COFFRE_REPLICA_PATH_MAX ||
	    (e->target_len && (!e->target || has_nul(e->target, e->target_len))))
		return -EINVAL;
	if (e->rdev && e->type != MANIFEST_CHR && e->type != MANIFEST_BLK)
		return -EINVAL;
	if (e->n_xattrs && !e->xattrs)
		return -EINVAL;
	for (unsigned i = 0; i < e->n_xattrs; i++) {
		const struct manifest_xattr *x = &e->xattrs[i];
		size_t n = x->name ? strlen(x->name) : 0;

		if (n == 0 || n > 255 || x->value_len > COFFRE_REPLICA_XATTR_VALUE_MAX ||
		    (x->value_len && !x->value))
			return -EINVAL;
		if (i > 0 && strcmp(e->xattrs[i - 1].name, x->name) >= 0)
			return -EINVAL;
	}
	return 0;
}

int manifest_put(struct manifest *m, struct manifest_entry *e)
{
	void *old;
	int err;

	if ((err = manifest_entry_valid(e)) != 0)
		goto fail;
	if ((err = strmap_put(&m->map, e->path, e, &old)) != 0)
		goto fail;
	manifest_entry_free(old);
	return 0;
fail:
	manifest_entry_free(e);
	return err;
}

int manifest_del(struct manifest *m, const char *path)
{
	struct manifest_entry *e = strmap_del(&m->map, path);

	if (!e)
		return -ENOENT;
	manifest_entry_free(e);
	return 0;
}

struct foreach_ctx {
	int (*fn)(const struct manifest_entry *e, void *arg);
	void *arg;
};

static int foreach_cb(void *val, void *arg)
{
	struct foreach_ctx *c = arg;

	return c->fn(val, c->arg);
}

int manifest_foreach(const struct manifest *m,
		     int (*fn)(const struct manifest_entry *e, void *arg),
		     void *arg)
{
	struct foreach_ctx c = { fn, arg };

	return strmap_foreach(&m->map, foreach_cb, &c);
}

/* ---- serialise */

static int cmp_entry(const void *a, const void *b)
{
	const struct manifest_entry *x = *(const struct manifest_entry *const *)a;
	const struct manifest_entry *y = *(const struct manifest_entry *const *)b;

	return strcmp(x->path, y->path);
}

size_t manifest_entry_size(const struct manifest_entry *e)
{
	size_t n = 2 + strlen(e->path) + ENTRY_FIXED + 2 + e->target_len + 2;

	for (unsigned i = 0; i < e->n_xattrs; i++)
		n += 1 + strlen(e->xattrs[i].name) + 4 + e->xattrs[i].value_len;
	return n;
}

void manifest_hdr_encode(uint8_t out[MANIFEST_HDR_LEN], const struct manifest_hdr *h)
{
	struct wcur w;

	wcur_init(&w, out, MANIFEST_HDR_LEN);
	wcur_bytes(&w, COFFRE_MANIFEST_MAGIC, 4);
	wcur_u8(&w, 1);
	wcur_u8(&w, 0);
	wcur_u16be(&w, 0);
	wcur_bytes(&w, h->uuid, COFFRE_ID_LEN);
	wcur_u64be(&w, h->generation);
	wcur_u64be(&w, h->count);
}

void manifest_entry_encode(struct wcur *w, const struct manifest_entry *e)
{
	size_t pl = strlen(e->path);

	wcur_u16be(w, (uint16_t)pl);
	wcur_bytes(w, e->path, pl);
	wcur_u8(w, e->type);
	wcur_u32be(w, e->mode);
	wcur_u32be(w, e->uid);
	wcur_u32be(w, e->gid);
	wcur_u64be(w, (uint64_t)e->mtime_sec);
	wcur_u32be(w, e->mtime_nsec);
	wcur_u64be(w, e->size);
	wcur_u64be(w, e->ino);
	wcur_u64be(w, e->rdev);
	wcur_bytes(w, e->digest, IO_DIGEST_LEN);
	wcur_bytes(w, e->file_id, COFFRE_ID_LEN);
	wcur_u16be(w, e->target_len);
	wcur_bytes(w, e->target, e->target_len);
	wcur_u16be(w, e->n_xattrs);
	for (unsigned j = 0; j < e->n_xattrs; j++) {
		const struct manifest_xattr *x = &e->xattrs[j];
		size_t nl = strlen(x->name);

		wcur_u8(w, (uint8_t)nl);
		wcur_bytes(w, x->name, nl);
		wcur_u32be(w, x->value_len);
		wcur_bytes(w, x->value, x->value_len);
	}
}

struct collect {
	const struct manifest_entry **v;
	size_t n;
	uint64_t bytes;
};

static int collect_cb(const struct manifest_entry *e, void *arg)
{
	struct collect *c = arg;

	c->v[c->n++] = e;
	c->bytes += manifest_entry_size(e);
	return 0;
}

int manifest_write(const struct manifest *m, const uint8_t key[COFFRE_KEY_LEN],
		   uint8_t **out, size_t *out_len)
{
	struct collect c = { NULL, 0, MANIFEST_HDR_LEN + MAC_LEN };
	struct manifest_hdr h;
	struct wcur w;
	uint8_t *buf = NULL;
	int err;

	c.v = malloc((m->map.n ? m->map.n : 1) * sizeof(*c.v));
	if (!c.v)
		return -ENOMEM;
	manifest_foreach(m, collect_cb, &c);
	qsort(c.v, c.n, sizeof(*c.v), cmp_entry);
	if (c.bytes > COFFRE_MANIFEST_MAX) {
		err = -EFBIG;
		goto out;
	}
	if (!(buf = malloc(c.bytes))) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(h.uuid, m->uuid, COFFRE_ID_LEN);
	h.generation = m->generation;
	h.count = c.n;
	manifest_hdr_encode(buf, &h);
	wcur_init(&w, buf + MANIFEST_HDR_LEN, c.bytes - MANIFEST_HDR_LEN);
	for (size_t i = 0; i < c.n; i++)
		manifest_entry_encode(&w, c.v[i]);
	if (w.err || MANIFEST_HDR_LEN + w.off != c.bytes - MAC_LEN) {
		err = -EINVAL;
		goto out;
	}
	if ((err = hmac_sha256(key, 32, buf, c.bytes - MAC_LEN, buf + c.bytes - MAC_LEN)) != 0)
		goto out;
	*out = buf;
	*out_len = c.bytes;
	buf = NULL;
out:
	free(buf);
	free(c.v);
	return err;
}

/* ---- parse */

static char *rcur_str(struct rcur *c, size_t n)
{
	char *s;

	if (c->err || n > c->len - c->off) {
		c->err = true;
		return NULL;
	}
	s = malloc(n + 1);
	if (!s)
		return NULL;
	rcur_bytes(c, s, n);
	s[n] = '\0';
	return s;
}

int manifest_entry_parse(struct rcur *c, struct manifest_entry **out)
{
	struct manifest_entry *e = calloc(1, sizeof(*e));
	uint16_t pl;
	int err = -EINVAL;

	if (!e)
		return -ENOMEM;
	pl = rcur_u16be(c);
	if (!(e->path = rcur_str(c, pl)))
		goto fail_nomem;
	if (has_nul(e->path, pl))
		goto fail;
	e->type = rcur_u8(c);
	e->mode = rcur_u32be(c);
	e->uid = rcur_u32be(c);
	e->gid = rcur_u32be(c);
	e->mtime_sec = (int64_t)rcur_u64be(c);
	e->mtime_nsec = rcur_u32be(c);
	e->size = rcur_u64be(c);
	e->ino = rcur_u64be(c);
	e->rdev = rcur_u64be(c);
	rcur_bytes(c, e->digest, IO_DIGEST_LEN);
	rcur_bytes(c, e->file_id, COFFRE_ID_LEN);
	e->target_len = rcur_u16be(c);
	if (e->target_len) {
		if (!(e->target = rcur_str(c, e->target_len)))
			goto fail_nomem;
	}
	e->n_xattrs = rcur_u16be(c);
	if (c->err)
		goto fail;
	/* Each xattr takes at least 6 bytes: no allocation beyond the input. */
	if ((size_t)e->n_xattrs * 6 > c->len - c->off)
		goto fail;
	if (e->n_xattrs) {
		uint16_t n = e->n_xattrs;

		e->n_xattrs = 0;
		if (!(e->xattrs = calloc(n, sizeof(*e->xattrs)))) {
			err = -ENOMEM;
			goto fail;
		}
		for (; e->n_xattrs < n; e->n_xattrs++) {
			struct manifest_xattr *x = &e->xattrs[e->n_xattrs];
			uint8_t nl = rcur_u8(c);
			uint32_t vl;

			if (!(x->name = rcur_str(c, nl)))
				goto fail_nomem_x;
			if (has_nul(x->name, nl))
				goto fail_x;
			vl = rcur_u32be(c);
			if (c->err || vl > COFFRE_REPLICA_XATTR_VALUE_MAX ||
			    vl > c->len - c->off)
				goto fail_x;
			if (!(x->value = malloc(vl ? vl : 1))) {
				err = -ENOMEM;
				goto fail_x;
			}
			rcur_bytes(c, x->value, vl);
			x->value_len = vl;
		}
	}
	if (c->err || manifest_entry_valid(e) != 0)
		goto fail;
	*out = e;
	return 0;
fail_nomem_x:
	if (!c->err)
		err = -ENOMEM;
fail_x:
	e->n_xattrs++;             /* free the partly filled one too */
	goto fail;
fail_nomem:
	if (!c->err)
		err = -ENOMEM;
fail:
	manifest_entry_free(e);
	return err;
}

int manifest_hdr_parse(const uint8_t in[MANIFEST_HDR_LEN], struct manifest_hdr *h)
{
	uint8_t magic[4], version, r1;
	uint16_t r2;
	struct rcur c;

	rcur_init(&c, in, MANIFEST_HDR_LEN);
	rcur_bytes(&c, magic, 4);
	version = rcur_u8(&c);
	r1 = rcur_u8(&c);
	r2 = rcur_u16be(&c);
	rcur_bytes(&c, h->uuid, COFFRE_ID_LEN);
	h->generation = rcur_u64be(&c);
	h->count = rcur_u64be(&c);
	if (memcmp(magic, COFFRE_MANIFEST_MAGIC, 4) != 0)
		return -EPROTO;
	if (version != 1)
		return -EPROTONOSUPPORT;
	if (r1 || r2 || c.err)
		return -EINVAL;
	return 0;
}

ssize_t manifest_entry_span(const uint8_t *buf, size_t len)
{
	size_t off = 0, need;
	uint16_t n_x;

#define NEED(n) do { need = (n); if (need > MANIFEST_ENTRY_MAX) return -EINVAL; \
		     if (need > len) return 0; } while (0)
	NEED(2);
	off = 2 + ((size_t)buf[0] << 8 | buf[1]) + ENTRY_FIXED;
	NEED(off + 2);
	off += 2 + ((size_t)buf[off] << 8 | buf[off + 1]);
	NEED(off + 2);
	n_x = (uint16_t)(buf[off] << 8 | buf[off + 1]);
	off += 2;
	for (unsigned i = 0; i < n_x; i++) {
		NEED(off + 1);
		off += 1 + buf[off];
		NEED(off + 4);
		off += 4 + ((size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
			    (size_t)buf[off + 2] << 8 | buf[off + 3]);
	}
	NEED(off);
#undef NEED
	return (ssize_t)off;
}

int manifest_parse(const uint8_t *buf, size_t len, const uint8_t key[COFFRE_KEY_LEN],
		   struct manifest **out)
{
	struct manifest *m = NULL;
	struct manifest_entry *e = NULL;
	struct manifest_hdr h;
	char *prev = NULL;
	uint8_t mac[32];
	struct rcur c;
	int err;

	*out = NULL;
	if (len < MANIFEST_HDR_LEN + MAC_LEN || len > COFFRE_MANIFEST_MAX)
		return -EINVAL;
	if ((err = hmac_sha256(key, 32, buf, len - MAC_LEN, mac)) != 0)
		return err;
	if (CRYPTO_memcmp(mac, buf + len - MAC_LEN, MAC_LEN) != 0)
		return -EBADMSG;
	if ((err = manifest_hdr_parse(buf, &h)) != 0)
		return err;
	rcur_init(&c, buf + MANIFEST_HDR_LEN, len - MANIFEST_HDR_LEN - MAC_LEN);
	/* An entry takes at least 2 + 1 + ENTRY_FIXED + 4 bytes. */
	if (h.count > (c.len - c.off) / (2 + 1 + ENTRY_FIXED + 4))
		return -EINVAL;
	if (!(m = manifest_new(h.uuid)))
		return -ENOMEM;
	m->generation = h.generation;
	for (uint64_t i = 0; i < h.count; i++) {
		if ((err = manifest_entry_parse(&c, &e)) != 0)
			goto fail;
		if (prev && strcmp(prev, e->path) >= 0) {
			manifest_entry_free(e);
			err = -EINVAL;
			goto fail;
		}
		prev = e->path;
		if ((err = manifest_put(m, e)) != 0)
			goto fail;
	}
	if (!rcur_done(&c)) {
		err = -EINVAL;
		goto fail;
	}
	*out = m;
	return 0;
fail:
	manifest_free(m);
	return err;
}
