/*
 * libFuzzer target for the backing symlink target and blob parsers
 * (src/format/symlink.c).  The input is a backing link target.  Never
 * crashes; a sidecar reference is written back byte for byte, an inline
 * target of at most COFFRE_SYMLINK_INLINE_MAX characters too (base64url is
 * canonical), its length-only parse agrees, and a blob that parses has its
 * header written back byte for byte.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t blob[COFFRE_SYMLINK_BLOB_MAX];
static char enc[COFFRE_SYMLINK_ENC_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct symlink_target st, st2;
	struct symlink_hdr h;
	uint8_t hdr[COFFRE_SYMLINK_HDR_LEN];
	int n;

	if (symlink_target_parse(t, size, blob, sizeof(blob), &st) != 0)
		return 0;
	if (symlink_target_parse(t, size, NULL, 0, &st2) != 0 ||
	    st2.sidecar != st.sidecar)
		abort();
	if (st.sidecar) {
		symlink_target_write_sidecar(st.sidecar_id, enc);
		if (size != COFFRE_SYMLINK_SIDECAR_TARGET_LEN || memcmp(enc, t, size))
			abort();
		return 0;
	}
	if (st2.blob_len != st.blob_len)
		abort();
	n = symlink_target_write(blob, st.blob_len, enc, sizeof(enc));
	if (size <= COFFRE_SYMLINK_INLINE_MAX ?
	    n != (int)size || memcmp(enc, t, size) : n != -ENAMETOOLONG)
		abort();
	if (symlink_blob_parse(blob, st.blob_len, &h) == 0) {
		symlink_hdr_write(&h, hdr);
		if (memcmp(hdr, blob, sizeof(hdr)))
			abort();
	}
	return 0;
}
