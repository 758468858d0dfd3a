/*
 * Entry-name encryption (DESIGN §4 "Names"), after gocryptfs's
 * nametransform and Linux fscrypt's fname.c:
 *
 *   enc = base64url( AES-256-SIV(name_key, AD = dir_id,
 *                                name || NUL padding to a multiple of 32) )
 *
 * SIV (RFC 5297) is deterministic, so a lookup encrypts the name once and
 * opens the backing entry; the directory id as associated data makes an
 * entry moved between directories fail to decrypt.  Padding to 32 bytes
 * hides exact name lengths.  An encoding longer than NAME_MAX cannot be a
 * backing name; such entries are stored as ".coffre.L" + base64url(SHA-256
 * (enc)) with the full encoding in a sidecar (kept by the fs layer).
 *
 * name_decrypt() treats all of its input as hostile: any malformed
 * encoding, length, padding or resulting name is -EBADMSG.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"

#define DIR_ID_LEN 16
#define SIV_LEN 16
#define PADDED_MAX (COFFRE_NAME_MAX + 1)	/* 255 rounded up to 32 */
#define SEALED_MAX (SIV_LEN + PADDED_MAX)
#define SHA256_LEN 32

static bool name_is_valid(const char *name, size_t len)
{
	if (len == 0 || len > COFFRE_NAME_MAX)
		return false;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

/* Return: the encoding's length, -EINVAL (bad name) or -ENAMETOOLONG. */
int name_encrypt(const uint8_t key[COFFRE_SIV_KEY_LEN],
		 const uint8_t dir_id[16], const char *name, char *out,
		 size_t cap)
{
	uint8_t padded[PADDED_MAX];
	uint8_t sealed[SEALED_MAX];
	size_t len, padded_len;
	int ret;

	if (key == NULL || dir_id == NULL || name == NULL || out == NULL)
		return -EINVAL;
	len = strnlen(name, COFFRE_NAME_MAX + 1);
	if (len > COFFRE_NAME_MAX)
		return -ENAMETOOLONG;
	if (!name_is_valid(name, len))
		return -EINVAL;
	padded_len = (len + COFFRE_NAME_PAD - 1) / COFFRE_NAME_PAD *
		     COFFRE_NAME_PAD;
	memset(padded, 0, sizeof(padded));
	memcpy(padded, name, len);
	ret = siv_encrypt(key, COFFRE_SIV_KEY_LEN, dir_id, DIR_ID_LEN, padded,
			  padded_len, sealed);
	if (ret)
		goto out;
	ret = b64url_encode(sealed, SIV_LEN + padded_len, out, cap);
out:
	OPENSSL_cleanse(padded, sizeof(padded));
	return ret;
}

/*
 * Check padding and extract the name from a decrypted, padded buffer.
 * Return: the name's length, or -EBADMSG.
 */
static int name_unpad(const uint8_t *padded, size_t padded_len)
{
	const uint8_t *nul = memchr(padded, '\0', padded_len);
	size_t len = nul ? (size_t)(nul - padded) : padded_len;

	for (size_t i = len; i < padded_len; i++)
		if (padded[i] != 0)
			return -EBADMSG;
	/* A whole padding block is never added. */
	if (padded_len - len >= COFFRE_NAME_PAD)
		return -EBADMSG;
	if (!name_is_valid((const char *)padded, len))
		return -EBADMSG;
	return (int)len;
}

/* Return: the name's length, -EINVAL (bad arguments) or -EBADMSG. */
int name_decrypt(const uint8_t key[COFFRE_SIV_KEY_LEN],
		 const uint8_t dir_id[16], const char *enc, size_t enc_len,
		 char *out, size_t cap)
{
	uint8_t sealed[SEALED_MAX];
	uint8_t padded[PADDED_MAX];
	size_t padded_len = 0;
	int ret;

	if (key == NULL || dir_id == NULL || enc == NULL || out == NULL ||
	    cap < COFFRE_NAME_MAX + 1)
		return -EINVAL;
	ret = b64url_decode(enc, enc_len, sealed, sizeof(sealed));
	if (ret < 0) {
		ret = -EBADMSG;
		goto out;
	}
	if ((size_t)ret < SIV_LEN + COFFRE_NAME_PAD ||
	    ((size_t)ret - SIV_LEN) % COFFRE_NAME_PAD != 0) {
		ret = -EBADMSG;
		goto out;
	}
	padded_len = (size_t)ret - SIV_LEN;
	ret = siv_decrypt(key, COFFRE_SIV_KEY_LEN, dir_id, DIR_ID_LEN, sealed,
			  SIV_LEN + padded_len, padded);
	if (ret) {
		if (ret != -ENOMEM && ret != -EIO)
			ret = -EBADMSG;
		goto out;
	}
	ret = name_unpad(padded, padded_len);
	if (ret < 0)
		goto out;
	memcpy(out, padded, (size_t)ret);
	out[ret] = '\0';
out:
	OPENSSL_cleanse(padded, sizeof(padded));
	return ret;
}

bool name_is_long(size_t enc_len)
{
	return enc_len > COFFRE_NAME_MAX;
}

/* Return: COFFRE_LONGNAME_LEN, -EINVAL or -ENAMETOOLONG (cap too small). */
int name_long_hash(const char *enc, size_t enc_len, char *out, size_t cap)
{
	const size_t prefix_len = sizeof(COFFRE_LONGNAME_PREFIX) - 1;
	uint8_t digest[SHA256_LEN];
	int ret;

	if (enc == NULL || out == NULL)
		return -EINVAL;
	if (cap < COFFRE_LONGNAME_LEN + 1)
		return -ENAMETOOLONG;
	ret = sha256((const uint8_t *)enc, enc_len, digest);
	if (ret)
		return ret;
	memcpy(out, COFFRE_LONGNAME_PREFIX, prefix_len);
	ret = b64url_encode(digest, sizeof(digest), out + prefix_len,
			    cap - prefix_len);
	if (ret < 0)
		return ret;
	return (int)prefix_len + ret;
}
