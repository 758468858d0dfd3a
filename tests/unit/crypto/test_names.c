/*
 * Unit tests for names.c: round trips for every name length, padding
 * boundaries, directory binding, every rejection name_decrypt promises
 * (built by sealing crafted plaintexts with siv_encrypt), the long-name
 * threshold and the long-name hash.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/crypto.h"

static uint8_t key[COFFRE_SIV_KEY_LEN];
static uint8_t dir[16];

static void setup(void)
{
	cr_assert_eq(random_bytes(key, sizeof(key)), 0);
	cr_assert_eq(random_bytes(dir, sizeof(dir)), 0);
}

TestSuite(names, .init = setup);

/* A name of len bytes using every byte value except NUL and '/'. */
static void make_name(char *name, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)(1 + (seed + i * 37) % 255);

		name[i] = (char)(c == '/' ? 'x' : c);
	}
	name[len] = '\0';
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		name[0] = 'y';
}

static size_t expected_enc_len(size_t name_len)
{
	size_t padded = (name_len + 31) / 32 * 32;

	return ((16 + padded) * 4 + 2) / 3;
}

Test(names, round_trip_all_lengths)
{
	char name[256], enc[COFFRE_ENC_NAME_MAX], back[256];
	int n;

	for (size_t len = 1; len <= COFFRE_NAME_MAX; len++) {
		make_name(name, len, (unsigned)len);
		n = name_encrypt(key, dir, name, enc, sizeof(enc));
		cr_assert_gt(n, 0, "len %zu: %d", len, n);
		cr_expect_eq((size_t)n, expected_enc_len(len), "len %zu", len);
		cr_expect_eq(strlen(enc), (size_t)n);
		cr_expect_lt((size_t)n, (size_t)COFFRE_ENC_NAME_MAX);
		cr_expect_eq(strcspn(enc, "/."), (size_t)n, "len %zu", len);
		cr_expect_eq(name_is_long((size_t)n), n > 255);
		memset(back, 'z', sizeof(back));
		cr_assert_eq(name_decrypt(key, dir, enc, (size_t)n, back,
					  sizeof(back)), (int)len, "len %zu", len);
		cr_expect_eq(memcmp(back, name, len + 1), 0, "len %zu", len);
	}
}

Test(names, padding_boundaries)
{
	char name[40], e31[COFFRE_ENC_NAME_MAX], e32[COFFRE_ENC_NAME_MAX];
	char e33[COFFRE_ENC_NAME_MAX], back[256];

	memset(name, 'a', sizeof(name));
	name[31] = '\0';
	cr_assert_eq(name_encrypt(key, dir, name, e31, sizeof(e31)), 64);
	name[31] = 'a';
	name[32] = '\0';
	cr_assert_eq(name_encrypt(key, dir, name, e32, sizeof(e32)), 64);
	name[32] = 'a';
	name[33] = '\0';
	cr_assert_eq(name_encrypt(key, dir, name, e33, sizeof(e33)), 107);
	cr_expect_eq(name_decrypt(key, dir, e31, 64, back, sizeof(back)), 31);
	cr_expect_eq(name_decrypt(key, dir, e32, 64, back, sizeof(back)), 32);
	cr_expect_eq(name_decrypt(key, dir, e33, 107, back, sizeof(back)), 33);
	cr_expect_str_eq(back, name);
}

Test(names, deterministic_and_bound_to_directory)
{
	char a[COFFRE_ENC_NAME_MAX], b[COFFRE_ENC_NAME_MAX], back[256];
	uint8_t other_dir[16], other_key[COFFRE_SIV_KEY_LEN];
	int n;

	memcpy(other_dir, dir, 16);
	other_dir[15] ^= 1;
	memcpy(other_key, key, sizeof(key));
	other_key[0] ^= 1;
	n = name_encrypt(key, dir, "report.pdf", a, sizeof(a));
	cr_assert_gt(n, 0);
	cr_assert_eq(name_encrypt(key, dir, "report.pdf", b, sizeof(b)), n);
	cr_expect_str_eq(a, b);
	cr_assert_eq(name_encrypt(key, other_dir, "report.pdf", b, sizeof(b)), n);
	cr_expect_str_neq(a, b);
	cr_expect_eq(name_decrypt(key, other_dir, a, (size_t)n, back,
				  sizeof(back)), -EBADMSG);
	cr_expect_eq(name_decrypt(other_key, dir, a, (size_t)n, back,
				  sizeof(back)), -EBADMSG);
}

Test(names, encrypt_rejects_bad_names)
{
	char enc[COFFRE_ENC_NAME_MAX], big[300];

	cr_expect_eq(name_encrypt(key, dir, "", enc, sizeof(enc)), -EINVAL);
	cr_expect_eq(name_encrypt(key, dir, ".", enc, sizeof(enc)), -EINVAL);
	cr_expect_eq(name_encrypt(key, dir, "..", enc, sizeof(enc)), -EINVAL);
	cr_expect_eq(name_encrypt(key, dir, "a/b", enc, sizeof(enc)), -EINVAL);
	cr_expect_eq(name_encrypt(key, dir, "/", enc, sizeof(enc)), -EINVAL);
	cr_expect_gt(name_encrypt(key, dir, "...", enc, sizeof(enc)), 0);
	cr_expect_gt(name_encrypt(key, dir, ".hidden", enc, sizeof(enc)), 0);
	memset(big, 'n', sizeof(big));
	big[256] = '\0';
	cr_expect_eq(name_encrypt(key, dir, big, enc, sizeof(enc)),
		     -ENAMETOOLONG);
	big[255] = '\0';
	cr_expect_eq(name_encrypt(key, dir, big, enc, sizeof(enc)), 363);
	cr_expect_eq(name_encrypt(key, dir, big, enc, 363), -ENAMETOOLONG);
}

/* Seal raw bytes as name_encrypt would, bypassing its checks. */
static int seal_raw(const void *padded, size_t len, char *enc)
{
	uint8_t sealed[16 + 320];

	cr_assert_leq(len, 320);
	cr_assert_eq(siv_encrypt(key, sizeof(key), dir, 16, padded, len,
				 sealed), 0);
	return b64url_encode(sealed, 16 + len, enc, 512);
}

static void expect_rejected(const char *enc, size_t len, const char *why)
{
	char back[256];

	memset(back, 'q', sizeof(back));
	cr_expect_eq(name_decrypt(key, dir, enc, len, back, sizeof(back)),
		     -EBADMSG, "accepted: %s", why);
}

Test(names, decrypt_rejections)
{
	uint8_t buf[320];
	char enc[512], good[COFFRE_ENC_NAME_MAX];
	int n, g;

	g = name_encrypt(key, dir, "hello", good, sizeof(good));
	cr_assert_eq(g, 64);

	/* bad base64: a character outside the alphabet, a 1-char quantum */
	memcpy(enc, good, (size_t)g + 1);
	enc[10] = '+';
	expect_rejected(enc, (size_t)g, "'+' in encoding");
	expect_rejected(good, 1, "1 character");
	expect_rejected(good, (size_t)g - 3, "length 4k+1");
	expect_rejected("", 0, "empty encoding");

	/* failed SIV: any changed character */
	for (int i = 0; i < g; i += 7) {
		memcpy(enc, good, (size_t)g + 1);
		enc[i] = enc[i] == 'A' ? 'B' : 'A';
		expect_rejected(enc, (size_t)g, "modified character");
	}

	/* short: a valid SIV of a 16-byte plaintext (16 + 16 < 48) */
	memset(buf, 'a', sizeof(buf));
	n = seal_raw(buf, 16, enc);
	expect_rejected(enc, (size_t)n, "16-byte padded name");
	n = seal_raw(buf, 0, enc);
	expect_rejected(enc, (size_t)n, "no name at all");

	/* length not 16 + a multiple of 32 */
	n = seal_raw(buf, 40, enc);
	expect_rejected(enc, (size_t)n, "40-byte padded name");
	n = seal_raw(buf, 33, enc);
	expect_rejected(enc, (size_t)n, "33-byte padded name");
	/* too long: 288 bytes is a multiple of 32 but over NAME_MAX */
	n = seal_raw(buf, 288, enc);
	expect_rejected(enc, (size_t)n, "288-byte padded name");

	/* empty name: all padding */
	memset(buf, 0, sizeof(buf));
	n = seal_raw(buf, 32, enc);
	expect_rejected(enc, (size_t)n, "empty name");

	/* padding with a non-NUL byte after the first NUL */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "abc", 3);
	buf[20] = 'x';
	n = seal_raw(buf, 32, enc);
	expect_rejected(enc, (size_t)n, "garbage in padding");
	buf[20] = 0;
	buf[31] = 1;
	n = seal_raw(buf, 32, enc);
	expect_rejected(enc, (size_t)n, "last padding byte non-zero");
	/* a whole block of padding that the encoder never writes */
	buf[31] = 0;
	n = seal_raw(buf, 64, enc);
	expect_rejected(enc, (size_t)n, "over-padded name");
	/* control: the same crafted form with proper padding is accepted */
	n = seal_raw(buf, 32, enc);
	{
		char back[256];

		cr_expect_eq(name_decrypt(key, dir, enc, (size_t)n, back,
					  sizeof(back)), 3);
		cr_expect_str_eq(back, "abc");
	}

	/* '/' in the name, "." and ".." */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "a/b", 3);
	n = seal_raw(buf, 32, enc);
	expect_rejected(enc, (size_t)n, "'/' in name");
	memset(buf, 0, sizeof(buf));
	buf[0] = '.';
	n = seal_raw(buf, 32, enc);
	expect_rejected(enc, (size_t)n, "\".\"");
	buf[1] = '.';
	n = seal_raw(buf, 32, enc);
	expect_rejected(enc, (size_t)n, "\"..\"");
}

Test(names, decrypt_needs_room)
{
	char enc[COFFRE_ENC_NAME_MAX], back[256];
	int n = name_encrypt(key, dir, "x", enc, sizeof(enc));

	cr_assert_gt(n, 0);
	cr_expect_eq(name_decrypt(key, dir, enc, (size_t)n, back, 255), -EINVAL);
	cr_expect_eq(name_decrypt(key, dir, enc, (size_t)n, back, 256), 1);
}

/* Padded 160 -> 176 sealed bytes -> 235 chars; 161 -> 192 -> 208 -> 278. */
Test(names, long_name_threshold)
{
	char name[256], enc[COFFRE_ENC_NAME_MAX];
	int n;

	cr_expect(!name_is_long(255));
	cr_expect(name_is_long(256));
	cr_expect(!name_is_long(0));
	memset(name, 'L', sizeof(name));
	name[160] = '\0';
	n = name_encrypt(key, dir, name, enc, sizeof(enc));
	cr_expect_eq(n, 235);
	cr_expect(!name_is_long((size_t)n));
	name[160] = 'L';
	name[161] = '\0';
	n = name_encrypt(key, dir, name, enc, sizeof(enc));
	cr_expect_eq(n, 278);
	cr_expect(name_is_long((size_t)n));
}

Test(names, long_name_hash)
{
	char enc[COFFRE_ENC_NAME_MAX], h1[64], h2[64], h3[64];
	uint8_t digest[32], decoded[40];
	int n;

	memset(enc, 0, sizeof(enc));
	n = name_encrypt(key, dir, "a-very-long-name", enc, sizeof(enc));
	cr_assert_gt(n, 0);
	cr_assert_eq(name_long_hash(enc, (size_t)n, h1, sizeof(h1)),
		     COFFRE_LONGNAME_LEN);
	cr_expect_eq(strlen(h1), (size_t)COFFRE_LONGNAME_LEN);
	cr_expect_eq(strncmp(h1, COFFRE_LONGNAME_PREFIX, 9), 0);
	cr_assert_eq(name_long_hash(enc, (size_t)n, h2, COFFRE_LONGNAME_LEN + 1),
		     COFFRE_LONGNAME_LEN);
	cr_expect_str_eq(h1, h2, "not deterministic");
	cr_expect_eq(name_long_hash(enc, (size_t)n, h3, COFFRE_LONGNAME_LEN),
		     -ENAMETOOLONG);
	/* The suffix is base64url(SHA-256(enc)). */
	cr_assert_eq(sha256((const uint8_t *)enc, (size_t)n, digest), 0);
	cr_assert_eq(b64url_decode(h1 + 9, 43, decoded, sizeof(decoded)), 32);
	cr_expect(memcmp(decoded, digest, 32) == 0);
	/* A different encoding hashes differently. */
	cr_assert_eq(name_long_hash(enc, (size_t)n - 1, h3, sizeof(h3)),
		     COFFRE_LONGNAME_LEN);
	cr_expect_str_neq(h1, h3);
	cr_expect_eq(strcspn(h1, "/"), strlen(h1));
}
