/*
 * xattr.c — the user xattr record (doc/FORMAT-v1.md §9).  A name "user.N" is
 * stored as "user." + base64url(SIV(N)); when that would not fit the
 * backing 255-byte limit, as "user.#" + base64url(SHA-256(SIV(N))) with
 * the value prefixed by u16be(len) || SIV(N) ('#' is not base64url, so the
 * two forms cannot be confused).  A value is sealed with AAD = identity ||
 * N.  No keys here: callers do the SIV and GCM.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

int xattr_name_write(const uint8_t *siv, size_t siv_len,
		     char out[COFFRE_XNAME_MAX + 1], bool *is_long)
{
	uint8_t digest[32];
	int err;

	*is_long = false;
	if (siv_len > COFFRE_XATTR_SIV_MAX)
		return -ERANGE;
	memcpy(out, COFFRE_XATTR_PREFIX, COFFRE_XATTR_PREFIX_LEN);
	err = b64url_encode(siv, siv_len, out + COFFRE_XATTR_PREFIX_LEN,
			    COFFRE_XNAME_MAX + 1 - COFFRE_XATTR_PREFIX_LEN);
	if (err >= 0)
		return 0;
	*is_long = true;
	err = sha256(siv, siv_len, digest);
	if (err)
		return err;
	memcpy(out, COFFRE_XATTR_LONG_MARK, COFFRE_XATTR_LONG_MARK_LEN);
	err = b64url_encode(digest, sizeof(digest), out + COFFRE_XATTR_LONG_MARK_LEN,
			    COFFRE_XNAME_MAX + 1 - COFFRE_XATTR_LONG_MARK_LEN);
	return err < 0 ? err : 0;
}

bool xattr_name_is_long(const char *backing)
{
	return !strncmp(backing, COFFRE_XATTR_LONG_MARK, COFFRE_XATTR_LONG_MARK_LEN);
}

size_t xattr_value_prefix_len(size_t siv_len, bool is_long)
{
	return is_long ? 2 + siv_len : 0;
}

void xattr_value_prefix_write(const uint8_t *siv, size_t siv_len, uint8_t *out)
{
	out[0] = (uint8_t)(siv_len >> 8);
	out[1] = (uint8_t)siv_len;
	memcpy(out + 2, siv, siv_len);
}

int xattr_value_prefix_check(const uint8_t *value, size_t len,
			     const uint8_t *siv, size_t siv_len)
{
	if (len < 2 + siv_len || value[0] != (uint8_t)(siv_len >> 8) ||
	    value[1] != (uint8_t)siv_len || memcmp(value + 2, siv, siv_len))
		return -EBADMSG;
	return 0;
}

int xattr_name_siv(const char *backing, const uint8_t *value, size_t value_len,
		   uint8_t siv[COFFRE_XATTR_SIV_MAX], size_t *pre)
{
	char check[COFFRE_XNAME_MAX + 1];
	uint8_t digest[32];
	size_t len;
	int n;

	*pre = 0;
	if (strncmp(backing, COFFRE_XATTR_PREFIX, COFFRE_XATTR_PREFIX_LEN))
		return -EBADMSG;
	if (!xattr_name_is_long(backing)) {
		n = b64url_decode(backing + COFFRE_XATTR_PREFIX_LEN,
				  strlen(backing + COFFRE_XATTR_PREFIX_LEN), siv,
				  COFFRE_XATTR_SIV_MAX);
		return n <= COFFRE_TAG_LEN ? -EBADMSG : n;
	}
	if (!value || value_len < 2)
		return -EBADMSG;
	len = (size_t)value[0] << 8 | value[1];
	if (len <= COFFRE_TAG_LEN || len > COFFRE_XATTR_SIV_MAX || 2 + len > value_len)
		return -EBADMSG;
	memcpy(siv, value + 2, len);
	if (sha256(siv, len, digest) ||
	    b64url_encode(digest, sizeof(digest), check, sizeof(check)) < 0 ||
	    strcmp(check, backing + COFFRE_XATTR_LONG_MARK_LEN))
		return -EBADMSG;
	*pre = 2 + len;
	return (int)len;
}

int xattr_value_aad(const uint8_t id[COFFRE_ID_LEN], const void *name,
		    size_t len, uint8_t out[COFFRE_XATTR_AAD_MAX])
{
	if (len > COFFRE_XNAME_MAX)
		return -ERANGE;
	memcpy(out, id, COFFRE_ID_LEN);
	memcpy(out + COFFRE_ID_LEN, name, len);
	return (int)(COFFRE_ID_LEN + len);
}
