/* Unit tests for src/format/cursor.c: bounds, sticky errors, byte order. */
#include <criterion/criterion.h>
#include <string.h>

#include "coffre/format.h"

Test(cursor, reads_big_endian_and_finishes)
{
	const uint8_t buf[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
				0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				'x', 'y' };
	struct rcur c;
	uint8_t two[2];

	rcur_init(&c, buf, sizeof(buf));
	cr_assert_eq(rcur_u8(&c), 0xab);
	cr_assert_eq(rcur_u16be(&c), 0x1234);
	cr_assert_eq(rcur_u32be(&c), 0xdeadbeefu);
	cr_assert_eq(rcur_u64be(&c), 0x0102030405060708ull);
	cr_assert_not(rcur_done(&c));
	rcur_bytes(&c, two, 2);
	cr_assert_eq(memcmp(two, "xy", 2), 0);
	cr_assert(rcur_done(&c));
}

Test(cursor, read_past_end_is_sticky)
{
	const uint8_t buf[] = { 1, 2, 3 };
	struct rcur c;
	uint8_t out[4] = { 9, 9, 9, 9 };

	rcur_init(&c, buf, sizeof(buf));
	cr_assert_eq(rcur_u32be(&c), 0);
	cr_assert(c.err);
	cr_assert_eq(c.off, 0);
	/* a later read that would fit still fails: the error is sticky */
	cr_assert_eq(rcur_u8(&c), 0);
	rcur_bytes(&c, out, 2);
	cr_assert_eq(out[0], 0);
	cr_assert_eq(out[1], 0);
	cr_assert_eq(out[2], 9);
	cr_assert_not(rcur_done(&c));
}

Test(cursor, each_width_fails_one_byte_short)
{
	const uint8_t buf[8] = { 0 };
	struct rcur c;

	rcur_init(&c, buf, 0);
	rcur_u8(&c);
	cr_assert(c.err);
	rcur_init(&c, buf, 1);
	rcur_u16be(&c);
	cr_assert(c.err);
	rcur_init(&c, buf, 3);
	rcur_u32be(&c);
	cr_assert(c.err);
	rcur_init(&c, buf, 7);
	rcur_u64be(&c);
	cr_assert(c.err);
	rcur_init(&c, buf, 8);
	rcur_u64be(&c);
	cr_assert(rcur_done(&c));
}

Test(cursor, bytes_longer_than_the_rest_fail_and_zero_fill)
{
	const uint8_t buf[4] = { 1, 2, 3, 4 };
	struct rcur c;
	uint8_t out[3] = { 9, 9, 9 };

	rcur_init(&c, buf, sizeof(buf));
	rcur_u16be(&c);
	rcur_bytes(&c, out, 3);
	cr_assert(c.err);
	cr_assert_eq(c.off, 2);
	cr_assert_eq(out[0] | out[1] | out[2], 0);
}

Test(cursor, null_buffer_is_empty)
{
	struct rcur c;
	struct wcur w;

	rcur_init(&c, NULL, 100);
	cr_assert(rcur_done(&c));
	rcur_u8(&c);
	cr_assert(c.err);
	wcur_init(&w, NULL, 100);
	wcur_u8(&w, 1);
	cr_assert(w.err);
}

Test(cursor, writes_big_endian)
{
	uint8_t buf[17];
	const uint8_t want[17] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
				   1, 2, 3, 4, 5, 6, 7, 8, 'x', 'y' };
	struct wcur w;

	wcur_init(&w, buf, sizeof(buf));
	wcur_u8(&w, 0xab);
	wcur_u16be(&w, 0x1234);
	wcur_u32be(&w, 0xdeadbeefu);
	wcur_u64be(&w, 0x0102030405060708ull);
	wcur_bytes(&w, "xy", 2);
	cr_assert_not(w.err);
	cr_assert_eq(w.off, sizeof(buf));
	cr_assert_eq(memcmp(buf, want, sizeof(buf)), 0);
}

Test(cursor, write_past_cap_is_sticky_and_writes_nothing)
{
	uint8_t buf[8];
	struct wcur w;

	memset(buf, 0x55, sizeof(buf));
	wcur_init(&w, buf, 6);
	wcur_u32be(&w, 0x01020304);
	wcur_u64be(&w, 0);          /* does not fit: no partial write */
	cr_assert(w.err);
	cr_assert_eq(w.off, 4);
	cr_assert_eq(buf[4], 0x55);
	cr_assert_eq(buf[5], 0x55);
	wcur_u8(&w, 1);             /* would fit, but the error is sticky */
	cr_assert_eq(buf[4], 0x55);
	cr_assert_eq(w.off, 4);
}
