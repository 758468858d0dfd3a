/*
 * symlink.c — the encrypted symlink blob and the backing link target
 * (doc/FORMAT-v1.md §9).  blob = dir id(16) || u32be(DEK version) || nonce ||
 * ct || tag: the header names the key (that directory's DEK version) and
 * is the GCM AAD.  The backing target is base64url(blob) when that fits
 * COFFRE_SYMLINK_INLINE_MAX, else "@<32 hex>" naming the sidecar
 * .coffre/symlinks/<32 hex> that holds the blob.  No keys here.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

void symlink_hdr_write(const struct symlink_hdr *h,
		       uint8_t out[COFFRE_SYMLINK_HDR_LEN])
{
	struct wcur w;

	wcur_init(&w, out, COFFRE_SYMLINK_HDR_LEN);
	wcur_bytes(&w, h->dir_id, COFFRE_ID_LEN);
	wcur_u32be(&w, h->dek_version);
}

int symlink_blob_parse(const uint8_t *blob, size_t len, struct symlink_hdr *h)
{
	struct rcur r;

	memset(h, 0, sizeof(*h));
	if (len <= COFFRE_SYMLINK_OVERHEAD || len > COFFRE_SYMLINK_BLOB_MAX)
		return -EINVAL;
	rcur_init(&r, blob, COFFRE_SYMLINK_HDR_LEN);
	rcur_bytes(&r, h->dir_id, COFFRE_ID_LEN);
	h->dek_version = rcur_u32be(&r);
	return 0;
}

int symlink_target_write(const uint8_t *blob, size_t len, char *out, size_t cap)
{
	int n = b64url_encode(blob, len, out, cap);

	if (n < 0)
		return n;
	return n > COFFRE_SYMLINK_INLINE_MAX ? -ENAMETOOLONG : n;
}

void symlink_target_write_sidecar(const uint8_t id[COFFRE_SYMLINK_ID_LEN],
				  char out[COFFRE_SYMLINK_SIDECAR_TARGET_LEN + 1])
{
	out[0] = COFFRE_SYMLINK_SIDECAR_MARK;
	symlink_id_write(id, out + 1);
}

int symlink_target_parse(const char *t, size_t len, uint8_t *blob, size_t cap,
			 struct symlink_target *st)
{
	int n;

	memset(st, 0, sizeof(*st));
	if (len == 0)
		return -EINVAL;
	if (t[0] == COFFRE_SYMLINK_SIDECAR_MARK) {
		if (symlink_id_parse(t + 1, len - 1, st->sidecar_id))
			return -EINVAL;
		st->sidecar = true;
		return 0;
	}
	if (!blob) {
		st->blob_len = len * 3 / 4;
		return 0;
	}
	n = b64url_decode(t, len, blob, cap);
	if (n < 0)
		return n;
	st->blob_len = (size_t)n;
	return 0;
}
