/* Unit tests for src/format/escrow.c: the master-key escrow blob. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static void sample(struct escrow_blob *e)
{
	memset(e, 0, sizeof(*e));
	for (int i = 0; i < 16; i++)
		e->fs_uuid[i] = (uint8_t)i;
	e->mk_version = 7;
	for (int i = 0; i < 8; i++)
		e->kcv[i] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < 32; i++)
		e->eph_pub[i] = (uint8_t)(0x40 + i);
	for (int i = 0; i < 12; i++)
		e->nonce[i] = (uint8_t)(0x80 + i);
	for (int i = 0; i < 48; i++)
		e->sealed[i] = (uint8_t)(0x10 + i);
}

Test(escrow, round_trip_and_layout)
{
	struct escrow_blob e, d;
	uint8_t buf[COFFRE_ESCROW_LEN], aad[COFFRE_ESCROW_HDR_LEN];

	sample(&e);
	escrow_write(&e, buf);
	cr_assert_eq(memcmp(buf, "CFRE\x01\0\0\0", 8), 0);
	cr_assert_eq(buf[24], 0);
	cr_assert_eq(buf[27], 7);            /* mk_version, big-endian */
	cr_assert_eq(escrow_parse(buf, sizeof(buf), &d), 0);
	cr_assert_eq(memcmp(&d, &e, sizeof(d)), 0);
	escrow_aad(&e, aad);
	cr_assert_eq(memcmp(aad, buf, sizeof(aad)), 0);
}

Test(escrow, rejects_bad_input)
{
	struct escrow_blob e, d;
	uint8_t buf[COFFRE_ESCROW_LEN + 1];

	sample(&e);
	escrow_write(&e, buf);
	cr_assert_eq(escrow_parse(buf, COFFRE_ESCROW_LEN - 1, &d), -EINVAL);
	buf[COFFRE_ESCROW_LEN] = 0;
	cr_assert_eq(escrow_parse(buf, COFFRE_ESCROW_LEN + 1, &d), -EINVAL);
	cr_assert_eq(escrow_parse(buf, 3, &d), -EINVAL);
	buf[0] = 'X';
	cr_assert_eq(escrow_parse(buf, COFFRE_ESCROW_LEN, &d), -EPROTO);
	buf[0] = 'C';
	buf[4] = 2;
	cr_assert_eq(escrow_parse(buf, COFFRE_ESCROW_LEN, &d), -EPROTONOSUPPORT);
	buf[4] = 1;
	buf[5] = 1;
	cr_assert_eq(escrow_parse(buf, COFFRE_ESCROW_LEN, &d), -EINVAL);
	buf[5] = 0;
	memset(buf + 24, 0, 4);              /* mk_version 0 */
	cr_assert_eq(escrow_parse(buf, COFFRE_ESCROW_LEN, &d), -EINVAL);
	for (size_t i = 0; i < sizeof(d); i++)
		cr_assert_eq(((uint8_t *)&d)[i], 0, "struct not cleared on error");
}
