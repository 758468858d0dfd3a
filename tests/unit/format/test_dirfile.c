/* Unit tests for src/format/dirfile.c: layout, round trip, rejections. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static void sample_bytes(uint8_t b[COFFRE_DIR_FILE_LEN])
{
	memcpy(b, "CFRD", 4);
	b[4] = 1;
	b[5] = b[6] = b[7] = 0;
	for (int i = 0; i < 16; i++)
		b[8 + i] = (uint8_t)(0xa0 + i);
}

Test(dirfile, writes_documented_layout_and_round_trips)
{
	uint8_t id[COFFRE_ID_LEN], back[COFFRE_ID_LEN];
	uint8_t got[COFFRE_DIR_FILE_LEN], want[COFFRE_DIR_FILE_LEN];

	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(0xa0 + i);
	sample_bytes(want);
	dir_file_write(id, got);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0);
	cr_assert_eq(dir_file_parse(got, sizeof(got), back), 0);
	cr_assert_eq(memcmp(id, back, sizeof(id)), 0);
	dir_file_write(back, want);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0);
}

Test(dirfile, rejects_short_and_long)
{
	uint8_t buf[COFFRE_DIR_FILE_LEN + 1], id[COFFRE_ID_LEN];

	sample_bytes(buf);
	buf[COFFRE_DIR_FILE_LEN] = 0;
	for (size_t len = 0; len < COFFRE_DIR_FILE_LEN; len++)
		cr_assert_eq(dir_file_parse(buf, len, id), -EINVAL);
	cr_assert_eq(dir_file_parse(buf, sizeof(buf), id), -EINVAL);
}

Test(dirfile, rejects_wrong_magic_and_version)
{
	uint8_t buf[COFFRE_DIR_FILE_LEN], id[COFFRE_ID_LEN];

	for (int i = 0; i < 4; i++) {
		sample_bytes(buf);
		buf[i] ^= 1;
		cr_assert_eq(dir_file_parse(buf, sizeof(buf), id), -EPROTO);
		for (int k = 0; k < 16; k++)
			cr_assert_eq(id[k], 0);
	}
	sample_bytes(buf);
	memcpy(buf, "CFRF", 4);
	cr_assert_eq(dir_file_parse(buf, sizeof(buf), id), -EPROTO);
	for (int v = 0; v < 256; v++) {
		sample_bytes(buf);
		buf[4] = (uint8_t)v;
		cr_assert_eq(dir_file_parse(buf, sizeof(buf), id),
			     v == 1 ? 0 : -EPROTONOSUPPORT);
	}
}

Test(dirfile, rejects_reserved_bits)
{
	uint8_t buf[COFFRE_DIR_FILE_LEN], id[COFFRE_ID_LEN];

	for (int bit = 0; bit < 24; bit++) {
		sample_bytes(buf);
		buf[5 + bit / 8] |= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(dir_file_parse(buf, sizeof(buf), id), -EINVAL);
	}
}
