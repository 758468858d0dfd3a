/*
 * libFuzzer target for b64url_decode() (src/crypto/b64url.c, RFC 4648 §5
 * without padding): never crashes; whatever decodes re-encodes to exactly
 * the input (one canonical spelling per byte string), and the input read as
 * raw bytes survives encode then decode.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IN 4096

static uint8_t bin[MAX_IN], bin2[MAX_IN];
static char txt[MAX_IN * 2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int n, e;

	if (size > MAX_IN)
		return 0;
	n = b64url_decode((const char *)data, size, bin, sizeof(bin));
	if (n >= 0) {
		e = b64url_encode(bin, (size_t)n, txt, sizeof(txt));
		if (e < 0 || (size_t)e != size || memcmp(txt, data, size) != 0)
			abort();
	} else if (n != -EINVAL) {
		abort();
	}
	e = b64url_encode(data, size, txt, sizeof(txt));
	if (e < 0)
		abort();
	n = b64url_decode(txt, (size_t)e, bin2, sizeof(bin2));
	if (n < 0 || (size_t)n != size || memcmp(bin2, data, size) != 0)
		abort();
	return 0;
}
