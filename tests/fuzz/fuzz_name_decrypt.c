/*
 * libFuzzer target for name_decrypt() (src/crypto/names.c) under a fixed
 * name key and dir id.  The input is tried two ways:
 *  - as an encoded backing name: decryption must fail cleanly or give a
 *    valid name that name_encrypt() turns back into exactly the input
 *    (SIV is deterministic and base64url canonical, so there is one
 *    encoding per name);
 *  - as a plaintext name: if name_encrypt() accepts it, name_decrypt() must
 *    give it back, and under another dir id it must not authenticate.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixed test key: bytes 0x00..0x3f.  Also used to make the seed corpus. */
static const uint8_t key[COFFRE_SIV_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
	0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b,
	0x3c, 0x3d, 0x3e, 0x3f,
};
static const uint8_t dir_id[16] = "coffre-fuzz-dir!";
static const uint8_t other_dir[16] = "coffre-fuzz-dir?";

static void as_encoding(const uint8_t *data, size_t size)
{
	char name[COFFRE_NAME_MAX + 1], enc[COFFRE_ENC_NAME_MAX];
	int n, e;

	n = name_decrypt(key, dir_id, (const char *)data, size, name,
			 sizeof(name));
	if (n < 0) {
		if (n != -EBADMSG)
			abort();
		return;
	}
	if ((size_t)n != strlen(name) || n == 0 || n > COFFRE_NAME_MAX ||
	    memchr(name, '/', (size_t)n) || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		abort();
	e = name_encrypt(key, dir_id, name, enc, sizeof(enc));
	if (e < 0 || (size_t)e != size || memcmp(enc, data, size) != 0)
		abort();
}

static void as_name(const uint8_t *data, size_t size)
{
	char name[COFFRE_NAME_MAX + 2], back[COFFRE_NAME_MAX + 1];
	char enc[COFFRE_ENC_NAME_MAX];
	int e, n;

	if (size > COFFRE_NAME_MAX + 1)
		return;
	memcpy(name, data, size);
	name[size] = '\0';
	e = name_encrypt(key, dir_id, name, enc, sizeof(enc));
	if (e < 0)
		return;
	n = name_decrypt(key, dir_id, enc, (size_t)e, back, sizeof(back));
	if (n < 0 || strcmp(back, name) != 0)
		abort();
	if (name_decrypt(key, other_dir, enc, (size_t)e, back,
			 sizeof(back)) != -EBADMSG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_encoding(data, size);
	as_name(data, size);
	return 0;
}
