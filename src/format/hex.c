/*
 * Hexadecimal (RFC 4648 §8, "base16") for ids, key check values and MACs in
 * text files.  Encoding is lowercase.  Decoding is strict so that every value
 * has exactly one spelling: the length must be exactly 2 * out_len and only
 * the characters 0-9 and a-f are accepted (no uppercase, no whitespace, no
 * prefix).  Decoding runs in time independent of the digit values (no
 * table lookups indexed by secret data) because MACs pass through it.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static const char hex_digits[] = "0123456789abcdef";

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* Value of a lowercase hex digit, or -1; branch-free on the character. */
static int hex_value(unsigned char ch)
{
	int c = ch;
	/* masks are all-ones when c is in the range, zero otherwise */
	int is_num = ((('0' - 1) - c) & (c - ('9' + 1))) >> 8;
	int is_low = ((('a' - 1) - c) & (c - ('f' + 1))) >> 8;

	return -1 + ((c - '0' + 1) & is_num) + ((c - 'a' + 11) & is_low);
}

int hex_decode(const char *in, size_t len, uint8_t *out, size_t out_len)
{
	int bad = 0;

	if (len != 2 * out_len || (out_len && (!in || !out)))
		return -EINVAL;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value((unsigned char)in[2 * i]);
		int lo = hex_value((unsigned char)in[2 * i + 1]);

		bad |= hi | lo;
		out[i] = (uint8_t)(((hi & 0x0f) << 4) | (lo & 0x0f));
	}
	if (bad < 0) {
		memset(out, 0, out_len);
		return -EINVAL;
	}
	return 0;
}
