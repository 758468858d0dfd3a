/* Unit tests for src/format/xattr.c: the user xattr record. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)i;
}

Test(xattr, short_name)
{
	uint8_t siv[COFFRE_XATTR_SIV_MAX], back[COFFRE_XATTR_SIV_MAX];
	char name[COFFRE_XNAME_MAX + 1];
	bool is_long;
	size_t pre;

	for (int i = 0; i < 17; i++)
		siv[i] = (uint8_t)(0x10 + i);
	cr_assert_eq(xattr_name_write(siv, 17, name, &is_long), 0);
	cr_assert_not(is_long);
	cr_assert_str_eq(name, "user.EBESExQVFhcYGRobHB0eHyA");  /* Python base64 */
	cr_assert_not(xattr_name_is_long(name));
	cr_assert_eq(xattr_value_prefix_len(17, is_long), 0);
	cr_assert_eq(xattr_name_siv(name, NULL, 0, back, &pre), 17);
	cr_assert_eq(pre, 0);
	cr_assert_eq(memcmp(back, siv, 17), 0);
}

Test(xattr, form_boundary)
{
	uint8_t siv[COFFRE_XATTR_SIV_MAX], back[COFFRE_XATTR_SIV_MAX];
	char name[COFFRE_XNAME_MAX + 1];
	bool is_long;
	size_t pre;

	fill(siv, sizeof(siv));
	/* 187 bytes encode to 250 characters: "user." + 250 = 255 */
	cr_assert_eq(xattr_name_write(siv, 187, name, &is_long), 0);
	cr_assert_not(is_long);
	cr_assert_eq(strlen(name), 255);
	cr_assert_eq(xattr_name_siv(name, NULL, 0, back, &pre), 187);
	cr_assert_eq(xattr_name_write(siv, 188, name, &is_long), 0);
	cr_assert(is_long);
	cr_assert_eq(strlen(name), 6 + 43);
	cr_assert_eq(xattr_name_write(siv, COFFRE_XATTR_SIV_MAX, name, &is_long), 0);
	cr_assert(is_long);
	cr_assert_eq(xattr_name_write(siv, COFFRE_XATTR_SIV_MAX + 1, name, &is_long),
		     -ERANGE);
}

Test(xattr, long_name_and_prefix)
{
	uint8_t siv[200], back[COFFRE_XATTR_SIV_MAX], value[2 + 200 + 28];
	char name[COFFRE_XNAME_MAX + 1];
	bool is_long;
	size_t pre;

	fill(siv, sizeof(siv));
	cr_assert_eq(xattr_name_write(siv, 200, name, &is_long), 0);
	cr_assert(is_long);
	/* "user.#" + base64url(SHA-256(siv)), computed with Python hashlib */
	cr_assert_str_eq(name, "user.#GQHaHJ9pm0j2smNuZcv3Or-Z0EQe9n9cVApC9wUd7G8");
	cr_assert(xattr_name_is_long(name));
	cr_assert_eq(xattr_value_prefix_len(200, true), 202);
	memset(value, 0xaa, sizeof(value));
	xattr_value_prefix_write(siv, 200, value);
	cr_assert_eq(value[0], 0);
	cr_assert_eq(value[1], 200);
	cr_assert_eq(memcmp(value + 2, siv, 200), 0);
	cr_assert_eq(xattr_value_prefix_check(value, sizeof(value), siv, 200), 0);
	cr_assert_eq(xattr_name_siv(name, value, sizeof(value), back, &pre), 200);
	cr_assert_eq(pre, 202);
	cr_assert_eq(memcmp(back, siv, 200), 0);
	/* value too short, wrong length, wrong SIV, no value */
	cr_assert_eq(xattr_value_prefix_check(value, 201, siv, 200), -EBADMSG);
	cr_assert_eq(xattr_name_siv(name, value, 201, back, &pre), -EBADMSG);
	cr_assert_eq(xattr_name_siv(name, NULL, 0, back, &pre), -EBADMSG);
	value[1] = 199;
	cr_assert_eq(xattr_value_prefix_check(value, sizeof(value), siv, 200), -EBADMSG);
	cr_assert_eq(xattr_name_siv(name, value, sizeof(value), back, &pre), -EBADMSG);
	value[1] = 200;
	value[50] ^= 1;
	cr_assert_eq(xattr_value_prefix_check(value, sizeof(value), siv, 200), -EBADMSG);
	cr_assert_eq(xattr_name_siv(name, value, sizeof(value), back, &pre), -EBADMSG);
	/* a length beyond the SIV maximum, and one no longer than a tag */
	value[0] = 1;
	value[1] = 16;
	cr_assert_eq(xattr_name_siv(name, value, sizeof(value), back, &pre), -EBADMSG);
	value[0] = 0;
	cr_assert_eq(xattr_name_siv(name, value, sizeof(value), back, &pre), -EBADMSG);
}

Test(xattr, rejects_bad_names)
{
	uint8_t back[COFFRE_XATTR_SIV_MAX];
	size_t pre;

	cr_assert_eq(xattr_name_siv("trusted.AAAA", NULL, 0, back, &pre), -EBADMSG);
	cr_assert_eq(xattr_name_siv("user.", NULL, 0, back, &pre), -EBADMSG);
	/* 16 bytes: a tag and no name */
	cr_assert_eq(xattr_name_siv("user.AAAAAAAAAAAAAAAAAAAAAA", NULL, 0, back, &pre),
		     -EBADMSG);
	cr_assert_eq(xattr_name_siv("user.AAAAAAAAAAAAAAAAAAAAAAA=", NULL, 0, back,
				    &pre), -EBADMSG);
	cr_assert_eq(xattr_name_siv("user.#", NULL, 0, back, &pre), -EBADMSG);
}

Test(xattr, value_aad)
{
	static const uint8_t id[16] = "0123456789abcdef";
	uint8_t aad[COFFRE_XATTR_AAD_MAX];
	char big[COFFRE_XNAME_MAX + 1];

	cr_assert_eq(xattr_value_aad(id, "name", 4, aad), 20);
	cr_assert_eq(memcmp(aad, "0123456789abcdefname", 20), 0);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(xattr_value_aad(id, big, COFFRE_XNAME_MAX, aad),
		     COFFRE_XATTR_AAD_MAX);
	cr_assert_eq(xattr_value_aad(id, big, COFFRE_XNAME_MAX + 1, aad), -ERANGE);
	cr_assert_eq(COFFRE_XVALUE_MAX, 65536);
}
