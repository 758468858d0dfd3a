/*
 * libFuzzer target for the names of the backing tree (src/format/layout.c,
 * longname.c).  The input is a directory entry name.  Never crashes; a key
 * record, escrow or symlink sidecar name that parses is written back byte
 * for byte (one spelling per value); a long-name sidecar's name is its
 * entry's plus ".name"; the input as a sidecar's content checks against
 * its own hash exactly when its length is a possible one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[COFFRE_KEYREC_NAME_MAX + 64];
	char h[COFFRE_LONGNAME_LEN + 1], entry[COFFRE_LONGNAME_LEN + 1];
	uint8_t id[COFFRE_ID_LEN];
	uint32_t v;
	int ok;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (keyrec_name_parse(s, id, &v) == 0) {
		keyrec_name_write(id, v, out);
		if (strcmp(out, s) || !keyrec_name_of_dir(s, id))
			abort();
	}
	if (escrow_name_parse(s, &v) == 0) {
		escrow_name_write(v, out);
		if (strcmp(out, s))
			abort();
	}
	if (symlink_id_parse(s, size, id) == 0) {
		symlink_id_write(id, out);
		if (size != COFFRE_SYMLINK_ID_HEX || memcmp(out, data, size))
			abort();
	}
	if (longname_is_entry(s) && name_is_internal(s))
		abort();
	if (longname_is_sidecar(s)) {
		memcpy(entry, s, COFFRE_LONGNAME_LEN);
		entry[COFFRE_LONGNAME_LEN] = '\0';
		if (!longname_is_entry(entry) ||
		    longname_sidecar_name(entry, out, sizeof(out)) || strcmp(out, s))
			abort();
	}
	if (name_long_hash(s, size, h, sizeof(h)) < 0 || !longname_is_entry(h) ||
	    name_is_internal(h))
		abort();
	ok = longname_sidecar_check(h, s, size) == 0;
	if (ok != (size > 0 && size <= COFFRE_ENC_NAME_MAX))
		abort();
	free(s);
	return 0;
}
