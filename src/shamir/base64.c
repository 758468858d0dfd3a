/*
 * Standard base64 with padding (RFC 4648 §4), for the text form that
 * custodians keep on paper or in files.  Shares are secret material, so
 * each character is mapped to and from its 6-bit value with arithmetic
 * masks instead of an indexed table, and the decoder accumulates errors
 * rather than stopping at the first bad character: the time taken depends
 * on the length only.
 *
 * The decoder is strict so that every byte string has one accepted
 * spelling: the length is a multiple of 4, '=' appears only as the final
 * padding, and the unused low bits of the last quantum are zero (§3.5).
 */
#include <errno.h>
#include <limits.h>

#include "shamir_private.h"

/* All-ones if a < b, else 0 (a, b < 2^31). */
static unsigned int ct_lt_mask(unsigned int a, unsigned int b)
{
	return 0u - ((a - b) >> 31);
}

/* All-ones if lo <= c <= hi, else 0. */
static unsigned int ct_range_mask(unsigned int c, unsigned int lo,
				  unsigned int hi)
{
	return ~ct_lt_mask(c, lo) & ~ct_lt_mask(hi, c);
}

/* Character for a 6-bit value. */
static char b64_char(unsigned int v)
{
	unsigned int c = v + 'A';

	c += 6u & ~ct_lt_mask(v, 26);            /* 26..51 -> 'a'..'z' */
	c -= 75u & ~ct_lt_mask(v, 52);           /* 52..61 -> '0'..'9' */
	c -= 15u & ~ct_lt_mask(v, 62);           /* 62 -> '+' */
	c += 3u & ~ct_lt_mask(v, 63);            /* 63 -> '/' */
	return (char)(c & 0xffu);
}

/* 6-bit value of a character; *bad gets all-ones if it is not one. */
static unsigned int b64_value(unsigned char ch, unsigned int *bad)
{
	unsigned int c = ch, v = 0, ok = 0, m;

	m = ct_range_mask(c, 'A', 'Z');
	v |= (c - 'A') & m;
	ok |= m;
	m = ct_range_mask(c, 'a', 'z');
	v |= (c - 'a' + 26) & m;
	ok |= m;
	m = ct_range_mask(c, '0', '9');
	v |= (c - '0' + 52) & m;
	ok |= m;
	m = ct_range_mask(c, '+', '+');
	v |= 62u & m;
	ok |= m;
	m = ct_range_mask(c, '/', '/');
	v |= 63u & m;
	ok |= m;
	*bad |= ~ok;
	return v & 63u;
}

int b64std_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t need, i, o = 0;
	uint32_t v;

	if (out == NULL || (in == NULL && len) || len > (size_t)INT_MAX / 2)
		return -EINVAL;
	need = (len + 2) / 3 * 4;
	if (need >= cap)
		return -ENOSPC;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_char(v >> 18 & 63);
		out[o++] = b64_char(v >> 12 & 63);
		out[o++] = b64_char(v >> 6 & 63);
		out[o++] = b64_char(v & 63);
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64_char(v >> 18 & 63);
		out[o++] = b64_char(v >> 12 & 63);
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_char(v >> 18 & 63);
		out[o++] = b64_char(v >> 12 & 63);
		out[o++] = b64_char(v >> 6 & 63);
		out[o++] = '=';
	}
	out[o] = '\0';
	v = 0;
	return (int)o;
}

int b64std_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned int bad = 0;
	size_t pad = 0, nout, i, o = 0;
	uint32_t v;

	if ((in == NULL && len) || out == NULL || len > (size_t)INT_MAX)
		return -EINVAL;
	if (len % 4 != 0)
		return -EINVAL;
	/* Where the padding is depends on the length only: not secret. */
	if (len >= 4 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	nout = len / 4 * 3 - pad;
	if (nout > cap)
		return -ENOSPC;
	for (i = 0; i + 4 <= len; i += 4) {
		size_t q = len - 4 - i == 0 ? pad : 0;

		v = b64_value(s[i], &bad) << 18 | b64_value(s[i + 1], &bad) << 12;
		if (q == 2) {
			bad |= 0u - (unsigned int)((v & 0xffffu) != 0);
			out[o++] = (uint8_t)(v >> 16);
			break;
		}
		v |= b64_value(s[i + 2], &bad) << 6;
		if (q == 1) {
			bad |= 0u - (unsigned int)((v & 0xffu) != 0);
			out[o++] = (uint8_t)(v >> 16);
			out[o++] = (uint8_t)(v >> 8);
			break;
		}
		v |= b64_value(s[i + 3], &bad);
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	v = 0;
	return bad ? -EINVAL : (int)o;
}
