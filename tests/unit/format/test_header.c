/* Unit tests for src/format/header.c: layout, round trip, every rejection. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static void sample(struct file_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version = COFFRE_FORMAT_VERSION;
	h->flags = COFFRE_HDR_STRICT_HOLES;
	h->seg_size = 16384;
	for (int i = 0; i < COFFRE_ID_LEN; i++) {
		h->dir_id[i] = (uint8_t)(0x10 + i);
		h->file_id[i] = (uint8_t)(0xf0 - i);
	}
	h->dek_version = 0x01020304;
}

/* The byte layout of doc/FORMAT-v1.md, written out by hand. */
static void sample_bytes(uint8_t b[COFFRE_FILE_HEADER_LEN])
{
	memcpy(b, "CFRF", 4);
	b[4] = 1;                       /* version */
	b[5] = 1;                       /* flags: strict holes */
	b[6] = b[7] = 0;                /* reserved */
	b[8] = 0; b[9] = 0; b[10] = 0x40; b[11] = 0;   /* 16384 */
	for (int i = 0; i < 16; i++)
		b[12 + i] = (uint8_t)(0x10 + i);
	b[28] = 1; b[29] = 2; b[30] = 3; b[31] = 4;
	for (int i = 0; i < 16; i++)
		b[32 + i] = (uint8_t)(0xf0 - i);
}

Test(header, writes_documented_layout)
{
	struct file_header h;
	uint8_t got[COFFRE_FILE_HEADER_LEN], want[COFFRE_FILE_HEADER_LEN];

	sample(&h);
	sample_bytes(want);
	file_header_write(&h, got);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0);
}

Test(header, round_trip)
{
	struct file_header h, back;
	uint8_t buf[COFFRE_FILE_HEADER_LEN], again[COFFRE_FILE_HEADER_LEN];

	sample(&h);
	for (uint32_t s = COFFRE_SEG_MIN; s <= COFFRE_SEG_MAX; s <<= 1) {
		for (uint8_t f = 0; f <= 1; f++) {
			h.seg_size = s;
			h.flags = f;
			file_header_write(&h, buf);
			cr_assert_eq(file_header_parse(buf, sizeof(buf), &back), 0);
			cr_assert_eq(memcmp(&h, &back, sizeof(h)), 0);
			file_header_write(&back, again);
			cr_assert_eq(memcmp(buf, again, sizeof(buf)), 0);
		}
	}
}

Test(header, rejects_short_and_long)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN + 1];
	struct file_header h;

	sample_bytes(buf);
	buf[COFFRE_FILE_HEADER_LEN] = 0;
	for (size_t len = 0; len < COFFRE_FILE_HEADER_LEN; len++)
		cr_assert_eq(file_header_parse(buf, len, &h), -EINVAL);
	cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EINVAL);
	cr_assert_eq(file_header_parse(buf, COFFRE_FILE_HEADER_LEN, &h), 0);
}

Test(header, rejects_wrong_magic)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN];
	struct file_header h;

	for (int i = 0; i < 4; i++) {
		sample_bytes(buf);
		buf[i] ^= 0x20;
		cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EPROTO);
		cr_assert_eq(h.seg_size, 0);    /* nothing half-parsed */
	}
	sample_bytes(buf);
	memcpy(buf, "CFRD", 4);
	cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EPROTO);
}

Test(header, rejects_wrong_version)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN];
	struct file_header h;
	const uint8_t bad[] = { 0, 2, 3, 0x81, 0xff };

	for (size_t i = 0; i < sizeof(bad); i++) {
		sample_bytes(buf);
		buf[4] = bad[i];
		cr_assert_eq(file_header_parse(buf, sizeof(buf), &h),
			     -EPROTONOSUPPORT);
	}
}

Test(header, rejects_unknown_flags_and_reserved_bits)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN];
	struct file_header h;

	for (int bit = 1; bit < 8; bit++) {
		sample_bytes(buf);
		buf[5] |= (uint8_t)(1u << bit);
		cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EINVAL);
	}
	for (int bit = 0; bit < 16; bit++) {
		sample_bytes(buf);
		buf[6 + bit / 8] |= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EINVAL);
	}
}

Test(header, rejects_bad_segment_size)
{
	const uint32_t bad[] = { 0, 1, 2048, 4095, 4097, 12288, 65535, 131072,
				 0x80000000u, 0xffffffffu };
	uint8_t buf[COFFRE_FILE_HEADER_LEN];
	struct file_header h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sample_bytes(buf);
		buf[8] = (uint8_t)(bad[i] >> 24);
		buf[9] = (uint8_t)(bad[i] >> 16);
		buf[10] = (uint8_t)(bad[i] >> 8);
		buf[11] = (uint8_t)bad[i];
		cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EINVAL,
			     "seg size %u", bad[i]);
	}
}

Test(header, rejects_dek_version_zero)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN];
	struct file_header h;

	sample_bytes(buf);
	memset(buf + 28, 0, 4);
	cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), -EINVAL);
	buf[31] = 1;
	cr_assert_eq(file_header_parse(buf, sizeof(buf), &h), 0);
	cr_assert_eq(h.dek_version, 1);
}

Test(header, writer_always_writes_current_version)
{
	struct file_header h, back;
	uint8_t buf[COFFRE_FILE_HEADER_LEN];

	sample(&h);
	h.version = 0;                  /* forgotten by a caller */
	file_header_write(&h, buf);
	cr_assert_eq(buf[4], COFFRE_FORMAT_VERSION);
	cr_assert_eq(file_header_parse(buf, sizeof(buf), &back), 0);
	cr_assert_eq(back.version, COFFRE_FORMAT_VERSION);
}
