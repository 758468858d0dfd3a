/*
 * longname.c — long entry names (doc/FORMAT-v1.md §7).  An encoded name
 * longer than 255 bytes is stored under COFFRE_LONGNAME_PREFIX +
 * base64url(SHA-256(encoding)) (crypto/names.c name_long_hash) beside a
 * sidecar "<that>.name" holding the full encoding; the sidecar is only
 * believed if its content hashes to the entry's name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/format.h"

static bool has_longname_prefix(const char *backing)
{
	return !strncmp(backing, COFFRE_LONGNAME_PREFIX,
			strlen(COFFRE_LONGNAME_PREFIX));
}

bool longname_is_entry(const char *backing)
{
	return has_longname_prefix(backing) &&
	       strlen(backing) == COFFRE_LONGNAME_LEN;
}

bool longname_is_sidecar(const char *backing)
{
	return has_longname_prefix(backing) &&
	       strlen(backing) == COFFRE_LONGNAME_SIDECAR_LEN &&
	       !strcmp(backing + COFFRE_LONGNAME_LEN, COFFRE_LONGNAME_SIDECAR_SUFFIX);
}

int longname_sidecar_name(const char *entry, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s" COFFRE_LONGNAME_SIDECAR_SUFFIX, entry);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int longname_sidecar_check(const char *entry, const char *full, size_t len)
{
	char check[COFFRE_LONGNAME_LEN + 1];

	if (len == 0 || len > COFFRE_ENC_NAME_MAX ||
	    name_long_hash(full, len, check, sizeof(check)) < 0 ||
	    strcmp(check, entry))
		return -EBADMSG;
	return 0;
}
