/* Unit tests for src/format/json.c: one JSON string writer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

static char *json(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	json_write_str(f, s);
	fclose(f);
	return buf;
}

static void check(const char *in, const char *want)
{
	char *got = json(in);

	cr_assert_str_eq(got, want);
	free(got);
}

Test(json, plain_and_empty)
{
	check("", "\"\"");
	check("/mnt/a b", "\"/mnt/a b\"");
}

Test(json, escapes_quote_backslash_and_controls)
{
	check("a\"b\\c", "\"a\\\"b\\\\c\"");
	check("\x01\n\t\x1f\x7f", "\"\\u0001\\u000a\\u0009\\u001f\\u007f\"");
}

Test(json, keeps_utf8)
{
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
	      "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
}

Test(json, escapes_bytes_that_are_not_utf8)
{
	check("\xff", "\"\\u00ff\"");
	check("\xc3", "\"\\u00c3\"");                    /* cut short */
	check("\xc0\xaf", "\"\\u00c0\\u00af\"");         /* overlong */
	check("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""); /* surrogate */
	check("\xf4\x90\x80\x80x", "\"\\u00f4\\u0090\\u0080\\u0080x\"");
}
