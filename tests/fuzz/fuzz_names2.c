/*
 * libFuzzer target for the names of a version 2 backing tree
 * (doc/FORMAT.md §1.4).  The input is a directory entry name.  Never
 * crashes; every name that parses is written back byte for byte (one
 * spelling per value); the data-directory classifier agrees with the
 * individual tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const char *a, int n, const char *b)
{
	if (n < 0 || (size_t)n != strlen(b) || strcmp(a, b) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, out[V2_TMP_NAME_MAX + 64];
	uint8_t id[COFFRE_ID_LEN];
	enum names2_manifest k;
	enum names2_data d;
	uint32_t v;
	uint64_t g;
	bool dir;
	int w;

	if (size > 512 || memchr(data, 0, size))
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	w = names2_state_child(s, &dir);
	if (w >= 0 && strcmp(names2_state_name((enum names2_state)w), s) != 0)
		abort();
	if (names2_keyrec_parse(s, id, &v) == 0)
		same(out, names2_keyrec_write(id, v, out), s);
	if (names2_escrow_parse(s, &v) == 0)
		same(out, names2_escrow_write(v, out), s);
	if (names2_id_parse(s, id) == 0)
		same(out, names2_id_write(id, out), s);
	if (names2_manifest_parse(s, &k, &g) == 0)
		same(out, names2_manifest_write(k, g, out), s);
	if (names2_is_tmp(s))
		same(out, names2_tmp_write(s + strlen(V2_TMP_PREFIX), out), s);
	for (int root = 0; root < 2; root++) {
		d = names2_classify_data(s, root);
		if ((d == N2D_LONG_ENTRY) != names2_is_long_entry(s) ||
		    (d == N2D_LONG_SIDECAR) != names2_is_long_sidecar(s) ||
		    (d == N2D_TMP) != names2_is_tmp(s) ||
		    (d == N2D_ENC_NAME && (size > 255 || !names2_is_enc_name(s, size))) ||
		    ((d == N2D_STATE_DIR || d == N2D_CONF) && !root))
			abort();
		/* an encrypted name re-encodes to itself */
		if (d == N2D_ENC_NAME) {
			uint8_t raw[V2_ENC_NAME_MAX_BYTES];
			char back[V2_ENC_NAME_MAX_LEN + 1];
			int n = b64url_decode(s, size, raw, sizeof(raw));

			if (n < 0 || b64url_encode(raw, (size_t)n, back, sizeof(back)) < 0 ||
			    strcmp(back, s) != 0)
				abort();
		}
	}
	free(s);
	return 0;
}
