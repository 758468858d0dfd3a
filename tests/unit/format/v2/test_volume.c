/* Unit tests for src/format/v2/volume.c (doc/FORMAT.md §10.1): the
 * canonical text by hand, an independent HMAC vector, every refusal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/v2/records.h"

#define COMMENT "# coffre volume \xe2\x80\x94 written by coffrectl; edits break its MAC\n"
#define LABEL_A "636f666672652d61202020202020202020202020202020202020202020202020"
#define SERIAL_A "30313233343536373839616263646566"
#define LABEL_B "636f666672652d62202020202020202020202020202020202020202020202020"
#define SERIAL_B "73657269616c2d622020202020202020"
#define HEAD \
	COMMENT \
	"format = 2\n" \
	"uuid = 00112233445566778899aabbccddeeff\n" \
	"generation = 42\n" \
	"segment_size = 16384\n" \
	"root_id = ffeeddccbbaa99887766554433221100\n" \
	"mk_version = 1\n" \
	"kcv = 0123456789abcdef\n"
#define TOKENS \
	"token = " LABEL_A " " SERIAL_A "\n" \
	"token = " LABEL_B " " SERIAL_B "\n"
#define RECOVERY \
	"recovery_key = x25519:1111111111111111111111111111111111111111111111111111111111111111\n" \
	"shares = 2/3\n"
#define BODY HEAD TOKENS RECOVERY
/* tests/fuzz/make_seeds_v2_records.py --vectors: Python's hmac over BODY
 * with the config key bytes(range(0x80, 0xa0)). */
#define MAC_HEX "1bfabe0faf077e34b16adfb0b45064a8e403e8cd4d6c8eb5b9df4a6192e20733"
#define TEXT BODY "mac = " MAC_HEX "\n"
#define ZMAC "mac = 0000000000000000000000000000000000000000000000000000000000000000\n"

static uint8_t key[32];
static struct volconf2 c;
static char buf[V2_CONF_MAX + 1];

static void setup(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
}

TestSuite(volconf2, .init = setup);

static int parse(const char *s, const char **why)
{
	return volconf2_parse(s, strlen(s), &c, why);
}

static bool zeroed(void)
{
	static const struct volconf2 z;

	return !memcmp(&c, &z, sizeof(z));
}

Test(volconf2, parses_and_verifies_independent_vector)
{
	const char *why = "x";

	cr_assert_eq(parse(TEXT, &why), 0);
	cr_assert_null(why);
	cr_assert_eq(c.uuid[0], 0x00);
	cr_assert_eq(c.uuid[15], 0xff);
	cr_assert_eq(c.generation, 42);
	cr_assert_eq(c.seg_size, 16384);
	cr_assert_eq(c.root_id[0], 0xff);
	cr_assert_eq(c.mk_version, 1);
	cr_assert_eq(c.kcv[7], 0xef);
	cr_assert_eq(c.n_tokens, 2);
	cr_assert_eq(memcmp(c.token[0].label, "coffre-a                        ", 32), 0);
	cr_assert_eq(memcmp(c.token[0].serial, "0123456789abcdef", 16), 0);
	cr_assert_eq(memcmp(c.token[1].serial, "serial-b        ", 16), 0);
	cr_assert(c.has_recovery);
	cr_assert_eq(c.recovery_pub[31], 0x11);
	cr_assert_eq(c.shares_k, 2);
	cr_assert_eq(c.shares_n, 3);
	cr_assert_eq(c.body_len, strlen(BODY));
	cr_assert_eq(volconf2_verify(key, TEXT, &c), 0);
	key[0] ^= 1;
	cr_assert_eq(volconf2_verify(key, TEXT, &c), -EBADMSG);
}

Test(volconf2, writes_canonical_form)
{
	uint8_t mac[32];
	int n, total;

	cr_assert_eq(parse(TEXT, NULL), 0);
	n = volconf2_write_body(&c, buf, sizeof(buf));
	cr_assert_eq(n, (int)strlen(BODY));
	cr_assert_str_eq(buf, BODY);
	cr_assert_eq(volconf2_mac(key, buf, (size_t)n, mac), 0);
	total = volconf2_write_mac(mac, buf, (size_t)n, sizeof(buf));
	cr_assert_eq(total, (int)strlen(TEXT));
	cr_assert_str_eq(buf, TEXT);
	cr_assert_eq(volconf2_write_body(&c, buf, (size_t)n), -ENOSPC);
	/* without a recovery key; one token */
	c.has_recovery = false;
	c.n_tokens = 1;
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)),
		     (int)strlen(HEAD "token = " LABEL_A " " SERIAL_A "\n"));
	cr_assert_str_eq(buf, HEAD "token = " LABEL_A " " SERIAL_A "\n");
}

Test(volconf2, every_flipped_body_byte_fails_the_mac)
{
	static char t[sizeof(TEXT)];
	size_t body = strlen(BODY);

	for (size_t i = 0; i < body; i++) {
		memcpy(t, TEXT, sizeof(TEXT));
		t[i] ^= 0x01;
		if (volconf2_parse(t, strlen(TEXT), &c, NULL) != 0)
			continue;       /* refused by the grammar already */
		cr_assert_eq(volconf2_verify(key, t, &c), -EBADMSG, "byte %zu", i);
	}
	/* and a flipped MAC digit */
	memcpy(t, TEXT, sizeof(TEXT));
	t[body + 6] = t[body + 6] == '0' ? '1' : '0';
	cr_assert_eq(volconf2_parse(t, strlen(t), &c, NULL), 0);
	cr_assert_eq(volconf2_verify(key, t, &c), -EBADMSG);
}

Test(volconf2, format_numbers)
{
	const char *why;

	cr_assert_eq(parse(COMMENT "format = 1\n" ZMAC, &why), -VOLCONF2_ENEEDS_UPGRADE);
	cr_assert_not_null(strstr(why, "coffrectl upgrade"));
	cr_assert(zeroed());
	cr_assert_eq(parse(COMMENT "format = 3\n" ZMAC, &why), -EPROTONOSUPPORT);
	cr_assert_eq(parse(COMMENT "format = 0\n" ZMAC, &why), -EPROTONOSUPPORT);
	cr_assert_eq(parse(COMMENT "format = 02\n" ZMAC, &why), -EINVAL);
	cr_assert_eq(parse(COMMENT "format = +2\n" ZMAC, &why), -EINVAL);
	cr_assert_neq(-VOLCONF2_ENEEDS_UPGRADE, -EPROTONOSUPPORT);
	cr_assert_neq(-VOLCONF2_ENEEDS_UPGRADE, -EINVAL);
}

Test(volconf2, moved_keys_refused_with_message)
{
	static const char *const lines[] = {
		"hsm = pkcs11:token=a\n", "bucket = /srv/b\n", "strict_holes = 1\n",
		"strict_holes = 0\n",
	};
	const char *why;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s%s", BODY, lines[i], ZMAC);
		cr_assert_eq(parse(buf, &why), -EINVAL);
		cr_assert_not_null(strstr(why, "/etc/coffre/NAME.conf"), "%s", lines[i]);
		cr_assert(zeroed());
	}
	/* a long version 1 hsm line too */
	snprintf(buf, sizeof(buf), "%shsm = pkcs11:%01000d\n%s", HEAD, 0, ZMAC);
	cr_assert_eq(parse(buf, &why), -EINVAL);
	cr_assert_not_null(strstr(why, "/etc/coffre/NAME.conf"));
	/* any other unknown key is only malformed */
	snprintf(buf, sizeof(buf), "%sfoo = 1\n%s", BODY, ZMAC);
	cr_assert_eq(parse(buf, &why), -EINVAL);
	cr_assert_null(strstr(why, "/etc/coffre"));
}

/* BODY with one line replaced (old must occur once) and ZMAC appended. */
static int parse_with(const char *old, const char *new)
{
	const char *at = strstr(BODY, old);

	cr_assert_not_null(at, "%s", old);
	snprintf(buf, sizeof(buf), "%.*s%s%s" ZMAC, (int)(at - BODY), BODY, new,
		 at + strlen(old));
	return volconf2_parse(buf, strlen(buf), &c, NULL);
}

Test(volconf2, value_bounds)
{
	static const struct { const char *old, *new; int err; } cases[] = {
		{ "generation = 42\n", "generation = 0\n", -EINVAL },
		{ "generation = 42\n", "generation = 1\n", 0 },
		{ "generation = 42\n", "generation = 549755813887\n", 0 },
		{ "generation = 42\n", "generation = 549755813888\n", -EINVAL },
		{ "generation = 42\n", "generation = 042\n", -EINVAL },
		{ "generation = 42\n", "generation = 99999999999999999999\n", -EINVAL },
		{ "segment_size = 16384\n", "segment_size = 4096\n", 0 },
		{ "segment_size = 16384\n", "segment_size = 65536\n", 0 },
		{ "segment_size = 16384\n", "segment_size = 2048\n", -EINVAL },
		{ "segment_size = 16384\n", "segment_size = 131072\n", -EINVAL },
		{ "segment_size = 16384\n", "segment_size = 12288\n", -EINVAL },
		{ "mk_version = 1\n", "mk_version = 0\n", -EINVAL },
		{ "mk_version = 1\n", "mk_version = 4294967295\n", 0 },
		{ "mk_version = 1\n", "mk_version = 4294967296\n", -EINVAL },
		{ "kcv = 0123456789abcdef\n", "kcv = 0123456789ABCDEF\n", -EINVAL },
		{ "kcv = 0123456789abcdef\n", "kcv = 0123456789abcde\n", -EINVAL },
		{ "uuid = 00112233445566778899aabbccddeeff\n",
		  "uuid = 00112233445566778899aabbccddeef\n", -EINVAL },
		{ "root_id = ffeeddccbbaa99887766554433221100\n",
		  "root_id = ffeeddccbbaa99887766554433221100 \n", -EINVAL },
		{ "shares = 2/3\n", "shares = 1/3\n", -EINVAL },
		{ "shares = 2/3\n", "shares = 3/2\n", -EINVAL },
		{ "shares = 2/3\n", "shares = 2/255\n", 0 },
		{ "shares = 2/3\n", "shares = 2/256\n", -EINVAL },
		{ "shares = 2/3\n", "", -EINVAL },
		{ RECOVERY, "", 0 },
		{ RECOVERY, "shares = 2/3\n", -EINVAL },
		{ "x25519:", "x25518:", -EINVAL },
		{ "format = 2\n", "", -EINVAL },
		{ "uuid = 00112233445566778899aabbccddeeff\n", "", -EINVAL },
		{ "generation = 42\n", "", -EINVAL },
		{ "kcv = 0123456789abcdef\n", "", -EINVAL },
		{ "format = 2\n", "format = 2\nformat = 2\n", -EINVAL },
		{ "kcv = 0123456789abcdef\n",
		  "kcv = 0123456789abcdef\nkcv = 0123456789abcdef\n", -EINVAL },
		{ "format = 2\n", "format  = 2\n", -EINVAL },
		{ "format = 2\n", "format = 2\r\n", -EINVAL },
		{ "format = 2\n", "# a comment\n\nformat = 2\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse_with(cases[i].old, cases[i].new), cases[i].err,
			     "case %zu: %s", i, cases[i].new);
		if (cases[i].err)
			cr_assert(zeroed());
	}
}

Test(volconf2, tokens)
{
	static const char *const ta = "token = " LABEL_A " " SERIAL_A "\n";
	static const char *const tb = "token = " LABEL_B " " SERIAL_B "\n";
	char many[1024] = "";
	char line[256];

	/* none, unsorted, duplicate */
	cr_assert_eq(parse_with(TOKENS, ""), -EINVAL);
	snprintf(line, sizeof(line), "%s%s", tb, ta);
	cr_assert_eq(parse_with(TOKENS, line), -EINVAL);
	snprintf(line, sizeof(line), "%s%s", ta, ta);
	cr_assert_eq(parse_with(TOKENS, line), -EINVAL);
	/* same label, serials in order */
	cr_assert_eq(parse_with(TOKENS, "token = " LABEL_A " " SERIAL_A "\n"
				"token = " LABEL_A " " SERIAL_B "\n"), 0);
	cr_assert_eq(c.n_tokens, 2);
	/* shape: separator, lengths, uppercase */
	cr_assert_eq(parse_with(TOKENS, "token = " LABEL_A "  " SERIAL_A "\n"), -EINVAL);
	cr_assert_eq(parse_with(TOKENS, "token = " LABEL_A "-" SERIAL_A "\n"), -EINVAL);
	cr_assert_eq(parse_with(TOKENS, "token = " LABEL_A " " SERIAL_A "0\n"), -EINVAL);
	cr_assert_eq(parse_with(TOKENS, "token = " LABEL_A "0 " SERIAL_A "\n"), -EINVAL);
	cr_assert_eq(parse_with(TOKENS, "token = " LABEL_A " 3031323334353637383961626364656F\n"),
		     -EINVAL);
	/* 8 tokens accepted, 9 refused */
	for (int i = 0; i < 9; i++) {
		snprintf(line, sizeof(line), "token = %064d %032d\n", i, 0);
		strcat(many, line);
		cr_assert_eq(parse_with(TOKENS, many), i < 8 ? 0 : -EINVAL, "%d", i);
	}
}

Test(volconf2, structure)
{
	cr_assert_eq(volconf2_parse(TEXT, 0, &c, NULL), -EINVAL);
	cr_assert_eq(volconf2_parse(NULL, 0, &c, NULL), -EINVAL);
	/* no mac, mac not last, text after the mac, no final newline */
	cr_assert_eq(parse(BODY, NULL), -EINVAL);
	cr_assert_eq(parse(HEAD ZMAC TOKENS, NULL), -EINVAL);
	cr_assert_eq(parse(TEXT "\n", NULL), -EINVAL);
	cr_assert_eq(parse(TEXT "# x\n", NULL), -EINVAL);
	cr_assert_eq(volconf2_parse(TEXT, strlen(TEXT) - 1, &c, NULL), -EINVAL);
	/* NUL, invalid UTF-8 */
	cr_assert_eq(volconf2_parse(TEXT, sizeof(TEXT), &c, NULL), -EINVAL);
	cr_assert_eq(parse("# \xff\n" BODY ZMAC, NULL), -EINVAL);
	/* over 64 KiB */
	memset(buf, '#', V2_CONF_MAX + 1);
	cr_assert_eq(volconf2_parse(buf, V2_CONF_MAX + 1, &c, NULL), -EINVAL);
}

Test(volconf2, writer_refuses_invalid)
{
	cr_assert_eq(parse(TEXT, NULL), 0);
	c.generation = 0;
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(parse(TEXT, NULL), 0);
	c.n_tokens = 0;
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(parse(TEXT, NULL), 0);
	c.token[1] = c.token[0];
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(parse(TEXT, NULL), 0);
	c.shares_k = 1;
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(parse(TEXT, NULL), 0);
	c.mk_version = 0;
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(parse(TEXT, NULL), 0);
	c.seg_size = 1000;
	cr_assert_eq(volconf2_write_body(&c, buf, sizeof(buf)), -EINVAL);
}
