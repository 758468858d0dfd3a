/*
 * base64url without padding (RFC 4648 §5 alphabet, §3.2 "padding may be
 * omitted"), used to turn encrypted entry names into file names: '/' never
 * appears and the encoding is case-sensitive but filesystem-safe.
 *
 * The decoder is strict so that every byte string has exactly one accepted
 * encoding: no '=' or whitespace, no 1-character final quantum, and the
 * unused low bits of the last character must be zero (RFC 4648 §3.5).
 * Encoded names are ciphertext, not secrets, so table lookups are fine.
 */
#include <errno.h>
#include <limits.h>

#include "coffre/crypto.h"

static const char b64url_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of one character, or -1. */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static size_t b64url_encoded_len(size_t len)
{
	return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

int b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need, i, o = 0;
	uint32_t v;

	if (out == NULL || (in == NULL && len) || len > (size_t)INT_MAX / 2)
		return -EINVAL;
	need = b64url_encoded_len(len);
	if (need >= cap)
		return -ENAMETOOLONG;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return (int)o;
}

int b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t need, i, o = 0, rem = len % 4;
	uint32_t v = 0;
	int c;

	if ((in == NULL && len) || (out == NULL && cap) || len > INT_MAX)
		return -EINVAL;
	if (rem == 1)
		return -EINVAL;
	need = len / 4 * 3 + (rem == 0 ? 0 : rem - 1);
	if (need > cap)
		return -ENAMETOOLONG;
	for (i = 0; i < len; i++) {
		c = b64url_value((unsigned char)in[i]);
		if (c < 0)
			return -EINVAL;
		v = v << 6 | (uint32_t)c;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(v >> 16);
			out[o++] = (uint8_t)(v >> 8);
			out[o++] = (uint8_t)v;
			v = 0;
		}
	}
	if (rem == 2) {
		/* 12 bits: one byte plus 4 bits that must be zero. */
		if (v & 0xf)
			return -EINVAL;
		out[o++] = (uint8_t)(v >> 4);
	} else if (rem == 3) {
		/* 18 bits: two bytes plus 2 bits that must be zero. */
		if (v & 0x3)
			return -EINVAL;
		out[o++] = (uint8_t)(v >> 10);
		out[o++] = (uint8_t)(v >> 2);
	}
	return (int)o;
}
