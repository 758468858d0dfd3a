/* Unit tests for src/format/layout.c: the names of the backing tree. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static const uint8_t ID[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
#define ID_HEX "00112233445566778899aabbccddeeff"

Test(layout, names_are_the_old_spellings)
{
	cr_assert_str_eq(COFFRE_STATE_DIR, ".coffre");
	cr_assert_str_eq(COFFRE_KEYS_DIR, ".coffre/keys");
	cr_assert_str_eq(COFFRE_ESCROW_DIR, ".coffre/escrow");
	cr_assert_str_eq(COFFRE_LOCK_FILE, ".coffre/lock");
	cr_assert_str_eq(COFFRE_SYMLINK_DIR, ".coffre/symlinks");
	cr_assert_str_eq(COFFRE_DIR_FILE, ".coffre.dir");
	cr_assert_str_eq(COFFRE_CONF_FILE, ".coffre.conf");
	cr_assert_str_eq(COFFRE_TMP_PREFIX, ".coffre.tmp.");
	cr_assert_str_eq(COFFRE_REKEY_TMP_PREFIX, ".coffre.rekey.");
	cr_assert(name_is_internal(COFFRE_TMP_PREFIX "x"));
	cr_assert(name_is_internal(COFFRE_REKEY_TMP_PREFIX "x"));
}

Test(layout, keyrec_name_round_trip)
{
	char name[COFFRE_KEYREC_NAME_MAX];
	uint8_t id[16];
	uint32_t v;

	cr_assert_eq(keyrec_name_write(ID, 1, name), 34);
	cr_assert_str_eq(name, ID_HEX ".1");
	cr_assert_eq(keyrec_name_parse(name, id, &v), 0);
	cr_assert_eq(memcmp(id, ID, 16), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(keyrec_name_write(ID, UINT32_MAX, name), 43);
	cr_assert_str_eq(name, ID_HEX ".4294967295");
	cr_assert_eq(keyrec_name_parse(name, id, &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert(keyrec_name_of_dir(name, ID));
	id[0] = 1;
	cr_assert_not(keyrec_name_of_dir(name, id));
}

Test(layout, keyrec_name_exact)
{
	static const char *const bad[] = {
		"", ID_HEX, ID_HEX ".", ID_HEX ".0", ID_HEX ".01", ID_HEX ".+1",
		ID_HEX ".-1", ID_HEX ". 1", ID_HEX ".1 ", ID_HEX ".1a",
		ID_HEX ".4294967296", ID_HEX ".10000000000", ID_HEX ".99999999999",
		"00112233445566778899AABBCCDDEEFF.1",
		"00112233445566778899aabbccddeef.1", "00112233445566778899aabbccddeeff0.1",
		ID_HEX "-1", ".tmp." ID_HEX ".1",
	};
	uint8_t id[16];
	uint32_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(keyrec_name_parse(bad[i], id, &v), -EINVAL, "%s", bad[i]);
		cr_assert_eq(v, 0);
	}
}

Test(layout, escrow_name)
{
	static const char *const bad[] = {
		"", "mk-v", "mk-v0", "mk-v01", "mk-v1x", "mk-v-1", "mk-v+1",
		"mk-v4294967296", "MK-v1", "mk-1", ".tmp.mk-v1", "mk-v1 ",
	};
	char name[COFFRE_ESCROW_NAME_MAX];
	uint32_t v;

	cr_assert_eq(escrow_name_write(3, name), 5);
	cr_assert_str_eq(name, "mk-v3");
	cr_assert_eq(escrow_name_parse(name, &v), 0);
	cr_assert_eq(v, 3);
	cr_assert_eq(escrow_name_write(UINT32_MAX, name), 14);
	cr_assert_str_eq(name, "mk-v4294967295");
	cr_assert_eq(escrow_name_parse(name, &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(escrow_name_parse(bad[i], &v), -EINVAL, "%s", bad[i]);
}

Test(layout, internal_names)
{
	char longname[COFFRE_LONGNAME_LEN + 1];

	cr_assert(name_is_internal(".coffre"));
	cr_assert(name_is_internal(".coffre.dir"));
	cr_assert(name_is_internal(".coffre.conf"));
	cr_assert(name_is_internal(".coffre.tmp.x"));
	cr_assert(name_is_internal(".coffre.Lshort"));
	cr_assert_not(name_is_internal(".coffr"));
	cr_assert_not(name_is_internal("coffre"));
	cr_assert_not(name_is_internal("AAAA"));
	memset(longname, 'A', sizeof(longname));
	memcpy(longname, COFFRE_LONGNAME_PREFIX, strlen(COFFRE_LONGNAME_PREFIX));
	longname[COFFRE_LONGNAME_LEN] = '\0';
	cr_assert_not(name_is_internal(longname));   /* a user's long name */
}

Test(layout, symlink_id)
{
	char hex[COFFRE_SYMLINK_ID_HEX + 1];
	uint8_t id[16];

	symlink_id_write(ID, hex);
	cr_assert_str_eq(hex, ID_HEX);
	cr_assert_eq(symlink_id_parse(hex, 32, id), 0);
	cr_assert_eq(memcmp(id, ID, 16), 0);
	cr_assert_eq(symlink_id_parse(hex, 31, id), -EINVAL);
	cr_assert_eq(symlink_id_parse(ID_HEX "0", 33, id), -EINVAL);
	cr_assert_eq(symlink_id_parse("00112233445566778899AABBCCDDEEFF", 32, id),
		     -EINVAL);
	cr_assert_eq(symlink_id_parse("../../../../../../../etc/passwdxx", 32, id),
		     -EINVAL);
	cr_assert_eq(symlink_id_parse("", 0, id), -EINVAL);
}
