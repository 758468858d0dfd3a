/* Unit tests for src/format/symlink.c: symlink blob and backing target. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

Test(symlink, header_layout)
{
	struct symlink_hdr h, d;
	uint8_t blob[COFFRE_SYMLINK_OVERHEAD + 1];

	cr_assert_eq(COFFRE_SYMLINK_HDR_LEN, 20);
	cr_assert_eq(COFFRE_SYMLINK_OVERHEAD, 48);
	cr_assert_eq(COFFRE_SYMLINK_BLOB_MAX, PATH_MAX + 48);
	for (int i = 0; i < 16; i++)
		h.dir_id[i] = (uint8_t)i;
	h.dek_version = 0x01020304;
	memset(blob, 0xee, sizeof(blob));
	symlink_hdr_write(&h, blob);
	cr_assert_eq(memcmp(blob, "\0\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17"
			    "\1\2\3\4\xee", 21), 0);
	cr_assert_eq(symlink_blob_parse(blob, sizeof(blob), &d), 0);
	cr_assert_eq(memcmp(&d, &h, sizeof(d)), 0);
}

Test(symlink, blob_lengths)
{
	static uint8_t blob[COFFRE_SYMLINK_BLOB_MAX + 1];
	struct symlink_hdr h;

	cr_assert_eq(symlink_blob_parse(blob, COFFRE_SYMLINK_OVERHEAD, &h), -EINVAL);
	cr_assert_eq(symlink_blob_parse(blob, 0, &h), -EINVAL);
	cr_assert_eq(symlink_blob_parse(blob, COFFRE_SYMLINK_OVERHEAD + 1, &h), 0);
	cr_assert_eq(symlink_blob_parse(blob, COFFRE_SYMLINK_BLOB_MAX, &h), 0);
	cr_assert_eq(symlink_blob_parse(blob, COFFRE_SYMLINK_BLOB_MAX + 1, &h),
		     -EINVAL);
}

Test(symlink, inline_target)
{
	static uint8_t blob[COFFRE_SYMLINK_BLOB_MAX], back[COFFRE_SYMLINK_BLOB_MAX];
	static char enc[COFFRE_SYMLINK_ENC_MAX];
	struct symlink_target t;

	for (int i = 0; i < 20; i++)
		blob[i] = (uint8_t)i;
	cr_assert_eq(symlink_target_write(blob, 20, enc, sizeof(enc)), 27);
	cr_assert_str_eq(enc, "AAECAwQFBgcICQoLDA0ODxAREhM");   /* Python base64 */
	cr_assert_eq(symlink_target_parse(enc, 27, back, sizeof(back), &t), 0);
	cr_assert_not(t.sidecar);
	cr_assert_eq(t.blob_len, 20);
	cr_assert_eq(memcmp(back, blob, 20), 0);
	cr_assert_eq(symlink_target_parse(enc, 27, NULL, 0, &t), 0);
	cr_assert_eq(t.blob_len, 20);
	/* the longest inline encoding is PATH_MAX - 1 = 4095 characters */
	cr_assert_eq(symlink_target_write(blob, 3071, enc, sizeof(enc)), 4095);
	cr_assert_eq(symlink_target_parse(enc, 4095, back, sizeof(back), &t), 0);
	cr_assert_eq(t.blob_len, 3071);
	cr_assert_eq(symlink_target_write(blob, 3072, enc, sizeof(enc)), -ENAMETOOLONG);
	cr_assert_eq(symlink_target_write(blob, COFFRE_SYMLINK_BLOB_MAX, enc,
					  sizeof(enc)), -ENAMETOOLONG);
	/* bad base64url, non-canonical bits, short cap */
	cr_assert_eq(symlink_target_parse("AA=A", 4, back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("AB", 2, back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("", 0, back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("AAECAw", 6, back, 3, &t), -ENAMETOOLONG);
}

Test(symlink, sidecar_target)
{
	static const uint8_t id[16] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6,
					7, 8, 9, 10, 11 };
	char enc[COFFRE_SYMLINK_SIDECAR_TARGET_LEN + 1];
	uint8_t back[64];
	struct symlink_target t;

	symlink_target_write_sidecar(id, enc);
	cr_assert_str_eq(enc, "@deadbeef000102030405060708090a0b");
	cr_assert_eq(symlink_target_parse(enc, 33, back, sizeof(back), &t), 0);
	cr_assert(t.sidecar);
	cr_assert_eq(memcmp(t.sidecar_id, id, 16), 0);
	cr_assert_eq(symlink_target_parse(enc, 33, NULL, 0, &t), 0);
	cr_assert(t.sidecar);
	cr_assert_eq(symlink_target_parse(enc, 32, back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("@deadbeef000102030405060708090a0b0", 34,
					  back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("@DEADBEEF000102030405060708090A0B", 33,
					  back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("@../../../../../../../../etc/pass", 33,
					  back, sizeof(back), &t), -EINVAL);
	cr_assert_eq(symlink_target_parse("@", 1, back, sizeof(back), &t), -EINVAL);
	cr_assert_not(t.sidecar);
}
