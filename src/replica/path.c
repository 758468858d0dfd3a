/*
 * Relative backing paths as replica sees them: validation (no absolute
 * path, no empty, "." or ".." component, no NUL, at most 4095 bytes), the
 * scratch files that are never replicated, and which paths go first
 * (key records, escrow blobs and the volume config before any data that
 * needs them, DESIGN §3 "Keystore" and §6 "Worker").  libc only.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"
#include "coffre/replica.h"
#include "replica_private.h"

int replica_path_check(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > COFFRE_REPLICA_PATH_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] == '\0')
			return -EINVAL;
		if (i == len || p[i] == '/') {
			size_t n = i - start;

			if (n == 0 || (n == 1 && p[start] == '.') ||
			    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
				return -EINVAL;
			start = i + 1;
		}
	}
	return 0;
}

static bool has_prefix(const char *s, const char *pre)
{
	return strncmp(s, pre, strlen(pre)) == 0;
}

bool replica_path_excluded(const char *p)
{
	const char *base = strrchr(p, '/');

	base = base ? base + 1 : p;
	/* Temp files: io_replace's and ours, keyops.c's, and (below) the
	 * `.tmp.*` of older keystore.c and escrow.c. */
	if (has_prefix(base, COFFRE_TMP_PREFIX) ||
	    has_prefix(base, COFFRE_REKEY_TMP_PREFIX))
		return true;
	if (strcmp(p, COFFRE_BUCKET_MARKER) == 0 ||
	    strcmp(p, COFFRE_BUCKET_MANIFEST) == 0)
		return true;
	if (!has_prefix(p, COFFRE_STATE_DIR "/"))
		return false;
	if (has_prefix(base, ".tmp."))
		return true;
	return strcmp(p, COFFRE_LOCK_FILE) == 0 ||
	       has_prefix(p, COFFRE_JOURNAL_FILE) ||
	       has_prefix(p, COFFRE_MANIFEST_MIRROR);
}

bool replica_path_priority(const char *p)
{
	return strcmp(p, COFFRE_CONF_FILE) == 0 || strcmp(p, COFFRE_STATE_DIR) == 0 ||
	       has_prefix(p, COFFRE_KEYS_DIR) || has_prefix(p, COFFRE_ESCROW_DIR);
}
