/*
 * layout.c — the names of the backing tree (doc/FORMAT-v1.md §1): key
 * records `.coffre/keys/<32 hex dir id>.<DEK version>`, escrow blobs
 * `.coffre/escrow/mk-v<MK version>`, symlink sidecars
 * `.coffre/symlinks/<32 hex>`, and which entry names are the filesystem's
 * own.  Every parser is exact: one accepted spelling per value, so a name
 * read from an untrusted directory is checked before it is used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/format.h"

/* Canonical decimal 1..UINT32_MAX filling s (no sign, no leading zero). */
static int version_parse(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s[0] < '1' || s[0] > '9')
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int keyrec_name_write(const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		      char out[COFFRE_KEYREC_NAME_MAX])
{
	char hex[2 * COFFRE_ID_LEN + 1];

	hex_encode(dir_id, COFFRE_ID_LEN, hex);
	return snprintf(out, COFFRE_KEYREC_NAME_MAX, "%s.%u", hex, version);
}

int keyrec_name_parse(const char *name, uint8_t dir_id[COFFRE_ID_LEN],
		      uint32_t *version)
{
	*version = 0;
	if (strnlen(name, COFFRE_KEYREC_NAME_MAX) >= COFFRE_KEYREC_NAME_MAX ||
	    strlen(name) < 2 * COFFRE_ID_LEN + 2 || name[2 * COFFRE_ID_LEN] != '.' ||
	    hex_decode(name, 2 * COFFRE_ID_LEN, dir_id, COFFRE_ID_LEN) ||
	    version_parse(name + 2 * COFFRE_ID_LEN + 1, version)) {
		memset(dir_id, 0, COFFRE_ID_LEN);
		*version = 0;
		return -EINVAL;
	}
	return 0;
}

bool keyrec_name_of_dir(const char *name, const uint8_t dir_id[COFFRE_ID_LEN])
{
	char hex[2 * COFFRE_ID_LEN + 1];

	hex_encode(dir_id, COFFRE_ID_LEN, hex);
	return !strncmp(name, hex, 2 * COFFRE_ID_LEN) &&
	       name[2 * COFFRE_ID_LEN] == '.';
}

int escrow_name_write(uint32_t mk_version, char out[COFFRE_ESCROW_NAME_MAX])
{
	return snprintf(out, COFFRE_ESCROW_NAME_MAX, COFFRE_ESCROW_NAME_PREFIX "%u",
			mk_version);
}

int escrow_name_parse(const char *name, uint32_t *mk_version)
{
	size_t plen = strlen(COFFRE_ESCROW_NAME_PREFIX);

	*mk_version = 0;
	if (strncmp(name, COFFRE_ESCROW_NAME_PREFIX, plen) ||
	    version_parse(name + plen, mk_version)) {
		*mk_version = 0;
		return -EINVAL;
	}
	return 0;
}

bool name_is_internal(const char *backing)
{
	return !strncmp(backing, COFFRE_INTERNAL_PREFIX, COFFRE_INTERNAL_PREFIX_LEN) &&
	       !longname_is_entry(backing);
}

void symlink_id_write(const uint8_t id[COFFRE_SYMLINK_ID_LEN],
		      char out[COFFRE_SYMLINK_ID_HEX + 1])
{
	hex_encode(id, COFFRE_SYMLINK_ID_LEN, out);
}

int symlink_id_parse(const char *hex, size_t len,
		     uint8_t id[COFFRE_SYMLINK_ID_LEN])
{
	if (len != COFFRE_SYMLINK_ID_HEX) {
		memset(id, 0, COFFRE_SYMLINK_ID_LEN);
		return -EINVAL;
	}
	return hex_decode(hex, len, id, COFFRE_SYMLINK_ID_LEN);
}
