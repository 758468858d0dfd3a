/*
 * libFuzzer target for the xattr record (src/format/xattr.c).  The input
 * is a backing xattr name, a NUL, and its value.  Never crashes; the SIV
 * a short name yields is written back to exactly that name (when it is a
 * backing-sized name), a long one's to it whenever the writer picks the
 * long form, and a long form's value prefix checks; the value AAD is
 * identity || name.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t ID[COFFRE_ID_LEN] = "coffre fuzz id!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size), *value;
	uint8_t siv[COFFRE_XATTR_SIV_MAX], aad[COFFRE_XATTR_AAD_MAX];
	char name[COFFRE_XNAME_MAX + 1];
	size_t pre, vlen, plen;
	bool is_long;
	int n;

	if (!nul)
		return 0;
	value = nul + 1;
	vlen = size - (size_t)(value - data);
	n = xattr_name_siv((const char *)data, value, vlen, siv, &pre);
	if (n < 0)
		return 0;
	if (n <= COFFRE_TAG_LEN || n > COFFRE_XATTR_SIV_MAX || pre > vlen)
		abort();
	if (xattr_name_write(siv, (size_t)n, name, &is_long))
		abort();
	if (xattr_name_is_long((const char *)data)) {
		/* A long-form name with a short SIV parses (the daemon never
		 * writes one): only the written long form must match. */
		if ((is_long && strcmp(name, (const char *)data)) ||
		    pre != xattr_value_prefix_len((size_t)n, true) ||
		    xattr_value_prefix_check(value, vlen, siv, (size_t)n))
			abort();
	} else if (pre || (strlen((const char *)data) <= COFFRE_XNAME_MAX &&
			   (is_long || strcmp(name, (const char *)data)))) {
		abort();
	}
	plen = (size_t)n - COFFRE_TAG_LEN;
	if (xattr_value_aad(ID, siv, plen, aad) != (int)(COFFRE_ID_LEN + plen) ||
	    memcmp(aad, ID, COFFRE_ID_LEN) || memcmp(aad + COFFRE_ID_LEN, siv, plen))
		abort();
	return 0;
}
