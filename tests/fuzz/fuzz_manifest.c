/*
 * libFuzzer target for manifest_parse() (src/replica/manifest.c).  The
 * input is a manifest body; the target appends its HMAC-SHA256 under a
 * fixed key so the fuzzer reaches the structural parser, and also feeds
 * the input as is (the MAC check path).  Never crashes; whatever parses is
 * written back byte for byte by manifest_write().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"
#include "coffre/replica.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[32] = "coffre fuzz manifest key 32 byte";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m = NULL;
	uint8_t *buf, *out = NULL;
	size_t out_len;

	if (manifest_parse(data, size, KEY, &m) == 0)
		manifest_free(m);          /* only if the fuzzer forged a MAC */
	buf = malloc(size + 32);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	hmac_sha256(KEY, 32, buf, size, buf + size);
	if (manifest_parse(buf, size + 32, KEY, &m) == 0) {
		if (manifest_write(m, KEY, &out, &out_len) != 0 ||
		    out_len != size + 32 || memcmp(out, buf, out_len) != 0)
			abort();
		free(out);
		manifest_free(m);
	} else if (m) {
		abort();
	}
	free(buf);
	return 0;
}
