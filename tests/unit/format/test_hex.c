/* Unit tests for src/format/hex.c: lowercase encode, strict decode. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

Test(hex, encodes_lowercase)
{
	const uint8_t in[] = { 0x00, 0x01, 0x9a, 0xbc, 0xef, 0xff };
	char out[13];

	hex_encode(in, sizeof(in), out);
	cr_assert_str_eq(out, "00019abcefff");
	hex_encode(in, 0, out);
	cr_assert_str_eq(out, "");
}

Test(hex, round_trips_every_byte)
{
	uint8_t in[256], back[256];
	char txt[513];

	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	hex_encode(in, sizeof(in), txt);
	cr_assert_eq(strlen(txt), 512);
	cr_assert_eq(hex_decode(txt, 512, back, sizeof(back)), 0);
	cr_assert_eq(memcmp(in, back, sizeof(in)), 0);
}

Test(hex, accepts_exactly_the_lowercase_digits)
{
	for (int ch = 0; ch < 256; ch++) {
		char txt[2] = { '0', (char)ch };
		uint8_t b = 0xee;
		bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
		int want = ok ? 0 : -EINVAL;

		cr_assert_eq(hex_decode(txt, 2, &b, 1), want, "char %d", ch);
		if (ok)
			cr_assert_eq(b, ch <= '9' ? ch - '0' : ch - 'a' + 10);
		txt[0] = (char)ch;
		txt[1] = '0';
		cr_assert_eq(hex_decode(txt, 2, &b, 1), want, "char %d", ch);
	}
}

Test(hex, rejects_wrong_length)
{
	uint8_t out[4];

	cr_assert_eq(hex_decode("0011223", 7, out, 4), -EINVAL);
	cr_assert_eq(hex_decode("001122334", 9, out, 4), -EINVAL);
	cr_assert_eq(hex_decode("0011", 4, out, 4), -EINVAL);
	cr_assert_eq(hex_decode("00112233", 8, out, 3), -EINVAL);
	cr_assert_eq(hex_decode("", 0, out, 0), 0);
}

Test(hex, rejects_uppercase_space_and_prefix)
{
	uint8_t out[2];

	cr_assert_eq(hex_decode("AB01", 4, out, 2), -EINVAL);
	cr_assert_eq(hex_decode("0x01", 4, out, 2), -EINVAL);
	cr_assert_eq(hex_decode(" 001", 4, out, 2), -EINVAL);
	cr_assert_eq(hex_decode("00\0" "1", 4, out, 2), -EINVAL);
	cr_assert_eq(hex_decode("ab01", 4, out, 2), 0);
	cr_assert_eq(out[0], 0xab);
	cr_assert_eq(out[1], 0x01);
}
