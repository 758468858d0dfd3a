/* Unit tests for src/format/longname.c: long entry names and sidecars. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

/* The entries below are ".coffre.L" + base64url(SHA-256("abc")),
 * computed independently (Python hashlib). */

Test(longname, recognition)
{
	char e[] = ".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";

	cr_assert_eq(strlen(e), COFFRE_LONGNAME_LEN);
	cr_assert(longname_is_entry(e));
	cr_assert_not(longname_is_sidecar(e));
	cr_assert(longname_is_sidecar(".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0.name"));
	cr_assert_not(longname_is_sidecar(".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0.nam"));
	cr_assert_not(longname_is_sidecar(".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0.namex"));
	cr_assert_not(longname_is_sidecar(".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0xname"));
	cr_assert_not(longname_is_entry(".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa"));
	cr_assert_not(longname_is_entry(".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa00"));
	cr_assert_not(longname_is_entry(".coffre.XungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"));
}

Test(longname, sidecar_name)
{
	char side[COFFRE_LONGNAME_SIDECAR_LEN + 1];
	const char *e = ".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";

	cr_assert_eq(longname_sidecar_name(e, side, sizeof(side)), 0);
	cr_assert_str_eq(side, ".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0.name");
	cr_assert(longname_is_sidecar(side));
	cr_assert_eq(longname_sidecar_name(e, side, sizeof(side) - 1), -ENAMETOOLONG);
}

Test(longname, sidecar_check)
{
	const char *e = ".coffre.LungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";
	char big[COFFRE_ENC_NAME_MAX + 1];

	cr_assert_eq(longname_sidecar_check(e, "abc", 3), 0);
	cr_assert_eq(longname_sidecar_check(e, "abd", 3), -EBADMSG);
	cr_assert_eq(longname_sidecar_check(e, "abc", 2), -EBADMSG);
	cr_assert_eq(longname_sidecar_check(e, "abc", 0), -EBADMSG);
	memset(big, 'A', sizeof(big));
	cr_assert_eq(longname_sidecar_check(e, big, sizeof(big)), -EBADMSG);
	/* the boundary: COFFRE_ENC_NAME_MAX bytes are hashed, one more is not */
	{
		char h[COFFRE_LONGNAME_LEN + 1];

		cr_assert_geq(name_long_hash(big, COFFRE_ENC_NAME_MAX, h, sizeof(h)), 0);
		cr_assert_eq(longname_sidecar_check(h, big, COFFRE_ENC_NAME_MAX), 0);
	}
}
