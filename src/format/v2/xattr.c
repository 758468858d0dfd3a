/*
 * xattr.c — the user xattr blob `.coffre/xattrs/<32 hex object id>`
 * (doc/FORMAT.md §8): every `user.` xattr of one object or directory in
 * one AES-256-GCM blob,
 *
 *   magic "CFRX" | version 2 | reserved[3] | object id[16] | epoch u64be |
 *   nonce[12] | ciphertext | tag[16]
 *
 * under the xattr key with AAD = bytes 0..32 and a random nonce; and its
 * plaintext: u16be count, then count attributes in strictly increasing
 * byte order of name, each u8 name_len (1..250, no NUL, without "user.") |
 * name | u32be value_len (<= 65536) | value; at most 1 MiB.  The key is
 * the caller's.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/v2/records.h"

#define XATTR_ATTR_FIXED 5      /* name_len u8 + value_len u32be */

int xattr2_hdr_parse(const uint8_t *blob, size_t len, struct xattr2_hdr *h)
{
	struct rcur c;
	uint8_t magic[4], version, reserved[3];
	int err = -EINVAL;

	memset(h, 0, sizeof(*h));
	if (len < V2_XATTR_OVERHEAD || len > V2_XATTR_BLOB_MAX)
		return -EINVAL;
	rcur_init(&c, blob, V2_XATTR_HDR_LEN);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	rcur_bytes(&c, reserved, sizeof(reserved));
	rcur_bytes(&c, h->object_id, sizeof(h->object_id));
	h->epoch = rcur_u64be(&c);
	if (!rcur_done(&c))
		goto out;
	err = v2_magic_check(magic, V2_XATTR_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	if ((reserved[0] | reserved[1] | reserved[2]) != 0 ||
	    !v2_epoch_valid(h->epoch))
		goto out;
	err = 0;
out:
	if (err)
		memset(h, 0, sizeof(*h));
	return err;
}

int xattr2_aad(const struct xattr2_hdr *h, uint8_t out[V2_XATTR_HDR_LEN])
{
	struct wcur c;

	if (!v2_epoch_valid(h->epoch)) {
		memset(out, 0, V2_XATTR_HDR_LEN);
		return -EINVAL;
	}
	wcur_init(&c, out, V2_XATTR_HDR_LEN);
	wcur_bytes(&c, V2_XATTR_MAGIC, 4);
	wcur_u8(&c, COFFRE_V2_VERSION);
	wcur_u8(&c, 0);
	wcur_u16be(&c, 0);
	wcur_bytes(&c, h->object_id, sizeof(h->object_id));
	wcur_u64be(&c, h->epoch);
	return 0;
}

int xattr2_seal(const uint8_t key[COFFRE_KEY_LEN], const struct xattr2_hdr *h,
		const uint8_t *pt, size_t len, uint8_t *out, size_t cap)
{
	int err;

	if (xattr2_list_parse(pt, len) < 0)
		return -EINVAL;
	if (cap < len + V2_XATTR_OVERHEAD)
		return -ENOSPC;
	err = xattr2_aad(h, out);
	if (!err)
		err = aead_seal(key, out, V2_XATTR_HDR_LEN, pt, len,
				out + V2_XATTR_HDR_LEN);
	if (err) {
		OPENSSL_cleanse(out, len + V2_XATTR_OVERHEAD);
		return err;
	}
	return (int)(len + V2_XATTR_OVERHEAD);
}

int xattr2_open(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *blob,
		size_t len, struct xattr2_hdr *h, uint8_t *pt, size_t cap)
{
	size_t pt_len;
	int err;

	err = xattr2_hdr_parse(blob, len, h);
	if (err)
		goto fail;
	pt_len = len - V2_XATTR_OVERHEAD;
	if (cap < pt_len) {
		err = -ENOSPC;
		goto fail;
	}
	/* the AAD is the stored header itself, which parsed as canonical */
	err = aead_open(key, blob, V2_XATTR_HDR_LEN, blob + V2_XATTR_HDR_LEN,
			len - V2_XATTR_HDR_LEN, pt);
	if (err)
		goto fail;
	if (xattr2_list_parse(pt, pt_len) < 0) {
		err = -EINVAL;
		goto fail;
	}
	return (int)pt_len;
fail:
	memset(h, 0, sizeof(*h));
	if (pt)
		OPENSSL_cleanse(pt, cap);
	return err;
}

static bool name_valid(const uint8_t *name, size_t len)
{
	return len >= 1 && len <= V2_XATTR_NAME_MAX && name &&
	       !memchr(name, 0, len);
}

/* a < b in byte order of name (a proper prefix sorts first). */
static bool name_less(const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	return d < 0 || (d == 0 && alen < blen);
}

int xattr2_list_encode(const struct xattr2_attr *a, size_t n, uint8_t *out,
		       size_t cap)
{
	struct wcur c;
	size_t total = 2;

	if (n > V2_XATTR_COUNT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!name_valid(a[i].name, a[i].name_len) ||
		    a[i].value_len > V2_XATTR_VALUE_MAX ||
		    (a[i].value_len && !a[i].value) ||
		    (i > 0 && !name_less(a[i - 1].name, a[i - 1].name_len,
					 a[i].name, a[i].name_len)))
			return -EINVAL;
		total += XATTR_ATTR_FIXED + a[i].name_len + a[i].value_len;
	}
	if (total > V2_XATTR_PLAIN_MAX || total > cap)
		return -ENOSPC;
	wcur_init(&c, out, cap);
	wcur_u16be(&c, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		wcur_u8(&c, (uint8_t)a[i].name_len);
		wcur_bytes(&c, a[i].name, a[i].name_len);
		wcur_u32be(&c, (uint32_t)a[i].value_len);
		wcur_bytes(&c, a[i].value, a[i].value_len);
	}
	return c.err ? -ENOSPC : (int)c.off;
}

/* The next attribute from a cursor; false if it is malformed. */
static bool read_attr(struct rcur *c, struct xattr2_attr *a)
{
	uint32_t vlen;

	memset(a, 0, sizeof(*a));
	a->name_len = rcur_u8(c);
	a->name = rcur_view(c, a->name_len);
	vlen = rcur_u32be(c);
	if (c->err || vlen > V2_XATTR_VALUE_MAX)
		return false;
	a->value_len = vlen;
	a->value = rcur_view(c, vlen);
	return !c->err && name_valid(a->name, a->name_len);
}

int xattr2_list_parse(const uint8_t *pt, size_t len)
{
	struct rcur c;
	struct xattr2_attr prev = { 0 }, cur;
	unsigned count;

	if (len > V2_XATTR_PLAIN_MAX)
		return -EINVAL;
	rcur_init(&c, pt, len);
	count = rcur_u16be(&c);
	for (unsigned i = 0; i < count; i++) {
		if (!read_attr(&c, &cur) ||
		    (i > 0 && !name_less(prev.name, prev.name_len, cur.name,
					 cur.name_len)))
			return -EINVAL;
		prev = cur;
	}
	if (!rcur_done(&c))
		return -EINVAL;
	return (int)count;
}

int xattr2_iter_init(struct xattr2_iter *it, const uint8_t *pt, size_t len)
{
	int n = xattr2_list_parse(pt, len);

	memset(it, 0, sizeof(*it));
	if (n < 0)
		return n;
	rcur_init(&it->c, pt, len);
	(void)rcur_u16be(&it->c);
	it->left = (unsigned)n;
	return 0;
}

int xattr2_iter_next(struct xattr2_iter *it, struct xattr2_attr *a)
{
	memset(a, 0, sizeof(*a));
	if (it->left == 0)
		return 0;
	if (!read_attr(&it->c, a)) {        /* cannot happen after parse */
		it->left = 0;
		return -EINVAL;
	}
	it->left--;
	return 1;
}

int xattr2_list_find(const uint8_t *pt, size_t len, const uint8_t *name,
		     size_t name_len, struct xattr2_attr *a)
{
	struct xattr2_iter it;
	int r = xattr2_iter_init(&it, pt, len);

	memset(a, 0, sizeof(*a));
	if (r < 0)
		return r;
	while ((r = xattr2_iter_next(&it, a)) == 1) {
		if (a->name_len == name_len && !memcmp(a->name, name, name_len))
			return 0;
	}
	memset(a, 0, sizeof(*a));
	return r < 0 ? r : -ENODATA;
}
