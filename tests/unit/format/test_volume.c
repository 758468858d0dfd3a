/* Unit tests for src/format/volume.c: the .coffre.conf grammar, every
 * malformed-line class, the canonical writer and the MAC line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

#define MAC_HEX "000102030405060708090a0b0c0d0e0f" \
		"101112131415161718191a1b1c1d1e1f"

/* A valid config, one line per entry (without '\n'). */
static const char *const good[] = {
	"# hand-written test config, UTF-8: \xc3\xa9t\xc3\xa9",
	"format = 1",
	"uuid = 00112233445566778899aabbccddeeff",
	"segment_size = 16384",
	"strict_holes = 1",
	"",
	"root_id = ffeeddccbbaa99887766554433221100",
	"mk_version = 3",
	"kcv = 0123456789abcdef",
	"hsm = pkcs11:token=a",
	"hsm = pkcs11:token=b;object=x%20y",
	"mac = " MAC_HEX,
};
#define N_GOOD (sizeof(good) / sizeof(good[0]))

static char text[COFFRE_CONF_MAX * 2];

/* Join lines with '\n' after each; skip index `drop`; put `repl` at index
 * `at` (instead of, or with insert before, the original line). */
static size_t build(int drop, int at, const char *repl, bool insert)
{
	size_t n = 0;

	for (int i = 0; i < (int)N_GOOD; i++) {
		if (i == at) {
			n += (size_t)sprintf(text + n, "%s\n", repl);
			if (!insert)
				continue;
		}
		if (i == drop)
			continue;
		n += (size_t)sprintf(text + n, "%s\n", good[i]);
	}
	return n;
}

static size_t build_good(void)
{
	return build(-1, -1, NULL, false);
}

/* Replace line `at` by repl and expect err. */
static void expect_line(int at, const char *repl, int err)
{
	struct volume_conf c;
	size_t n = build(-1, at, repl, false);

	cr_assert_eq(volume_conf_parse(text, n, &c), err, "line '%s'", repl);
	if (err)
		cr_assert_eq(c.n_hsms, 0, "struct not cleared on error");
}

static void sample(struct volume_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->format = 1;
	for (int i = 0; i < 16; i++) {
		c->uuid[i] = (uint8_t)(0x11 * (i % 16));
		c->root_id[i] = (uint8_t)(0xff - i);
	}
	c->seg_size = COFFRE_SEG_DEFAULT;
	c->strict_holes = false;
	c->mk_version = 42;
	for (int i = 0; i < 8; i++)
		c->kcv[i] = (uint8_t)(0xa0 + i);
	c->n_hsms = 2;
	strcpy(c->hsm[0], "pkcs11:token=primary;pin-source=file:/x");
	strcpy(c->hsm[1], "pkcs11:serial=1234");
}

Test(volume, parses_hand_written_config)
{
	struct volume_conf c;
	size_t n = build_good();
	const uint8_t uuid[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
				   0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
				   0xee, 0xff };
	const uint8_t kcv[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };

	cr_assert_eq(volume_conf_parse(text, n, &c), 0);
	cr_assert_eq(c.format, 1);
	cr_assert_eq(memcmp(c.uuid, uuid, 16), 0);
	cr_assert_eq(c.seg_size, 16384);
	cr_assert(c.strict_holes);
	cr_assert_eq(c.root_id[0], 0xff);
	cr_assert_eq(c.root_id[15], 0x00);
	cr_assert_eq(c.mk_version, 3);
	cr_assert_eq(memcmp(c.kcv, kcv, 8), 0);
	cr_assert_eq(c.n_hsms, 2);
	cr_assert_str_eq(c.hsm[0], "pkcs11:token=a");
	cr_assert_str_eq(c.hsm[1], "pkcs11:token=b;object=x%20y");
	for (int i = 0; i < 32; i++)
		cr_assert_eq(c.mac[i], i);
	cr_assert_eq(c.body_len, n - strlen(good[N_GOOD - 1]) - 1);
	cr_assert_eq(memcmp(text + c.body_len, "mac = ", 6), 0);
}

Test(volume, keys_in_any_order)
{
	struct volume_conf c;
	size_t n = 0;

	for (int i = (int)N_GOOD - 2; i >= 0; i--)
		n += (size_t)sprintf(text + n, "%s\n", good[i]);
	n += (size_t)sprintf(text + n, "%s\n", good[N_GOOD - 1]);
	cr_assert_eq(volume_conf_parse(text, n, &c), 0);
	/* hsm lines keep their own order: priority */
	cr_assert_str_eq(c.hsm[0], "pkcs11:token=b;object=x%20y");
	cr_assert_str_eq(c.hsm[1], "pkcs11:token=a");
}

Test(volume, write_parse_round_trip)
{
	struct volume_conf c, back;
	char buf[8192], again[8192];
	uint8_t mac[32];
	int body, total, body2, total2;

	sample(&c);
	for (int i = 0; i < 32; i++)
		mac[i] = (uint8_t)(255 - i);
	body = volume_conf_write_body(&c, buf, sizeof(buf));
	cr_assert_gt(body, 0);
	cr_assert_eq(strlen(buf), (size_t)body);
	cr_assert_eq(strncmp(buf, "# coffre volume \xe2\x80\x94 written by "
			     "coffrectl; edits break its MAC\n", 61), 0);
	total = volume_conf_write_mac(mac, buf, (size_t)body, sizeof(buf));
	cr_assert_eq(total, body + 71);
	cr_assert_eq(strlen(buf), (size_t)total);
	cr_assert_eq(volume_conf_parse(buf, (size_t)total, &back), 0);
	cr_assert_eq(back.body_len, (size_t)body);
	cr_assert_eq(memcmp(back.mac, mac, 32), 0);
	cr_assert_eq(back.seg_size, c.seg_size);
	cr_assert_eq(back.strict_holes, c.strict_holes);
	cr_assert_eq(back.mk_version, c.mk_version);
	cr_assert_eq(memcmp(back.uuid, c.uuid, 16), 0);
	cr_assert_eq(memcmp(back.root_id, c.root_id, 16), 0);
	cr_assert_eq(memcmp(back.kcv, c.kcv, 8), 0);
	cr_assert_eq(back.n_hsms, 2);
	cr_assert_str_eq(back.hsm[0], c.hsm[0]);
	cr_assert_str_eq(back.hsm[1], c.hsm[1]);
	/* writing what was parsed gives the same bytes */
	body2 = volume_conf_write_body(&back, again, sizeof(again));
	total2 = volume_conf_write_mac(back.mac, again, (size_t)body2,
				       sizeof(again));
	cr_assert_eq(total2, total);
	cr_assert_eq(memcmp(buf, again, (size_t)total), 0);
}

Test(volume, writer_canonical_text)
{
	struct volume_conf c;
	char buf[4096];
	const char *want =
		"# coffre volume \xe2\x80\x94 written by coffrectl; edits break its MAC\n"
		"format = 1\n"
		"uuid = 00112233445566778899aabbccddeeff\n"
		"segment_size = 16384\n"
		"strict_holes = 0\n"
		"root_id = fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0\n"
		"mk_version = 42\n"
		"kcv = a0a1a2a3a4a5a6a7\n"
		"hsm = pkcs11:token=primary;pin-source=file:/x\n"
		"hsm = pkcs11:serial=1234\n";

	sample(&c);
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)),
		     (int)strlen(want));
	cr_assert_str_eq(buf, want);
}

Test(volume, writer_reports_short_buffer)
{
	struct volume_conf c;
	char buf[4096];
	int need;
	uint8_t mac[32] = { 0 };

	sample(&c);
	need = volume_conf_write_body(&c, buf, sizeof(buf));
	cr_assert_gt(need, 0);
	for (size_t cap = 0; cap <= (size_t)need; cap++)
		cr_assert_eq(volume_conf_write_body(&c, buf, cap), -ENOSPC);
	cr_assert_eq(volume_conf_write_body(&c, buf, (size_t)need + 1), need);
	for (size_t cap = (size_t)need; cap <= (size_t)need + 71; cap++)
		cr_assert_eq(volume_conf_write_mac(mac, buf, (size_t)need, cap),
			     -ENOSPC);
	cr_assert_eq(volume_conf_write_mac(mac, buf, (size_t)need,
					   (size_t)need + 72), need + 71);
}

Test(volume, writer_refuses_invalid_struct)
{
	struct volume_conf c;
	char buf[16384];

	sample(&c);
	c.format = 2;
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	c.seg_size = 1000;
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	c.mk_version = 0;
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	c.n_hsms = 0;
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	c.n_hsms = 9;
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	strcpy(c.hsm[1], "pkcs11:token=a b");
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	strcpy(c.hsm[1], "file:/etc/passwd");
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
	sample(&c);
	memset(c.hsm[0], 'a', COFFRE_URI_MAX);   /* not NUL-terminated */
	memcpy(c.hsm[0], "pkcs11:", 7);
	cr_assert_eq(volume_conf_write_body(&c, buf, sizeof(buf)), -EINVAL);
}

Test(volume, mac_line_must_start_a_line)
{
	char buf[256] = "format = 1";
	uint8_t mac[32] = { 0 };

	cr_assert_eq(volume_conf_write_mac(mac, buf, 10, sizeof(buf)), -EINVAL);
	cr_assert_eq(volume_conf_write_mac(mac, buf, 0, sizeof(buf)), 71);
}

Test(volume, eight_hsms_ok_nine_rejected)
{
	struct volume_conf c;
	char line[64];
	size_t n = 0;

	for (int i = 0; i < 10; i++) {       /* all but the hsm and mac lines */
		if (strncmp(good[i], "hsm", 3) == 0)
			continue;
		n += (size_t)sprintf(text + n, "%s\n", good[i]);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(line, sizeof(line), "hsm = pkcs11:token=t%d\n", i);
		n += (size_t)sprintf(text + n, "%s", line);
	}
	n += (size_t)sprintf(text + n, "mac = %s\n", MAC_HEX);
	cr_assert_eq(volume_conf_parse(text, n, &c), 0);
	cr_assert_eq(c.n_hsms, 8);
	cr_assert_str_eq(c.hsm[7], "pkcs11:token=t7");
	n = 0;
	for (int i = 0; i < 10; i++) {
		if (strncmp(good[i], "hsm", 3) == 0)
			continue;
		n += (size_t)sprintf(text + n, "%s\n", good[i]);
	}
	for (int i = 0; i < 9; i++)
		n += (size_t)sprintf(text + n, "hsm = pkcs11:token=t%d\n", i);
	n += (size_t)sprintf(text + n, "mac = %s\n", MAC_HEX);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
}

Test(volume, every_key_missing)
{
	struct volume_conf c;

	for (int i = 1; i < (int)N_GOOD; i++) {
		size_t n;

		if (good[i][0] == '\0')
			continue;
		if (i == 9)             /* first of two hsm lines: still one */
			continue;
		n = build(i, -1, NULL, false);
		if (i == 10) {          /* drop both hsm lines */
			cr_assert_eq(volume_conf_parse(text, n, &c), 0);
			n = build(10, 9, "# no hsm", false);
		}
		cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL,
			     "without '%s'", good[i]);
	}
}

Test(volume, every_key_duplicated)
{
	struct volume_conf c;

	for (int i = 1; i < (int)N_GOOD - 1; i++) {
		size_t n;

		if (good[i][0] == '\0' || strncmp(good[i], "hsm", 3) == 0)
			continue;
		n = build(-1, (int)N_GOOD - 1, good[i], true);
		cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL,
			     "twice '%s'", good[i]);
	}
	/* a second mac line, anywhere */
	cr_assert_eq(volume_conf_parse(text, build(-1, 1, good[N_GOOD - 1],
						   true), &c), -EINVAL);
}

Test(volume, mac_must_be_last)
{
	struct volume_conf c;
	size_t n = build_good();

	memcpy(text + n, "\n", 2);                  /* blank line after */
	cr_assert_eq(volume_conf_parse(text, n + 1, &c), -EINVAL);
	memcpy(text + n, "# x\n", 5);               /* comment after */
	cr_assert_eq(volume_conf_parse(text, n + 4, &c), -EINVAL);
	memcpy(text + n, "junk", 5);                /* unterminated junk */
	cr_assert_eq(volume_conf_parse(text, n + 4, &c), -EINVAL);
	/* mac moved before the hsm lines */
	n = 0;
	for (int i = 0; i < 9; i++)
		n += (size_t)sprintf(text + n, "%s\n", good[i]);
	n += (size_t)sprintf(text + n, "%s\n%s\n%s\n", good[N_GOOD - 1],
			     good[9], good[10]);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
}

Test(volume, malformed_lines)
{
	/* line without " = " */
	expect_line(1, "format=1", -EINVAL);
	expect_line(1, "format =1", -EINVAL);
	expect_line(1, "format= 1", -EINVAL);
	expect_line(1, "format  =  1", -EINVAL);
	expect_line(1, "format", -EINVAL);
	expect_line(1, " format = 1", -EINVAL);
	expect_line(1, "format = 1 ", -EINVAL);
	expect_line(1, "format = ", -EINVAL);
	expect_line(1, " = 1", -EINVAL);
	expect_line(1, "FORMAT = 1", -EINVAL);
	expect_line(5, " ", -EINVAL);              /* whitespace-only */
	expect_line(5, " # comment", -EINVAL);
	/* unknown key */
	expect_line(5, "buckets = /mnt/x", -EINVAL);
	/* the optional bucket must be an absolute path */
	expect_line(5, "bucket = /mnt/x", 0);
	expect_line(5, "bucket = mnt/x", -EINVAL);
	expect_line(5, "hsms = pkcs11:", -EINVAL);
	/* control characters */
	expect_line(5, "# tab\there", -EINVAL);
	expect_line(5, "# del\x7f", -EINVAL);
	expect_line(5, "# esc\x1b[0m", -EINVAL);
	/* invalid UTF-8 in a comment */
	expect_line(5, "# \xff", -EINVAL);
	expect_line(5, "# \xc0\xaf", -EINVAL);          /* overlong '/' */
	expect_line(5, "# \xe0\x80\xaf", -EINVAL);      /* overlong */
	expect_line(5, "# \xed\xa0\x80", -EINVAL);      /* surrogate */
	expect_line(5, "# \xf4\x90\x80\x80", -EINVAL);  /* > U+10FFFF */
	expect_line(5, "# \xc3", -EINVAL);              /* truncated */
	expect_line(5, "# \xe2\x80\x94 \xf0\x9f\x94\x91", 0);
}

Test(volume, values_out_of_range)
{
	expect_line(1, "format = 0", -EPROTONOSUPPORT);
	expect_line(1, "format = 2", -EPROTONOSUPPORT);
	expect_line(1, "format = 01", -EINVAL);
	expect_line(1, "format = +1", -EINVAL);
	expect_line(1, "format = 0x1", -EINVAL);
	expect_line(2, "uuid = 00112233445566778899aabbccddeef", -EINVAL);
	expect_line(2, "uuid = 00112233445566778899aabbccddeeff0", -EINVAL);
	expect_line(2, "uuid = 00112233445566778899AABBCCDDEEFF", -EINVAL);
	expect_line(2, "uuid = 00112233-4455-6677-8899-aabbccddeeff", -EINVAL);
	expect_line(3, "segment_size = 1000", -EINVAL);
	expect_line(3, "segment_size = 2048", -EINVAL);
	expect_line(3, "segment_size = 131072", -EINVAL);
	expect_line(3, "segment_size = 016384", -EINVAL);
	expect_line(3, "segment_size = 4096", 0);
	expect_line(3, "segment_size = 65536", 0);
	expect_line(4, "strict_holes = 2", -EINVAL);
	expect_line(4, "strict_holes = yes", -EINVAL);
	expect_line(4, "strict_holes = 00", -EINVAL);
	expect_line(4, "strict_holes = 0", 0);
	expect_line(6, "root_id = ", -EINVAL);
	expect_line(6, "root_id = zz112233445566778899aabbccddeeff", -EINVAL);
	expect_line(7, "mk_version = 0", -EINVAL);
	expect_line(7, "mk_version = -1", -EINVAL);
	expect_line(7, "mk_version = 4294967296", -EINVAL);
	expect_line(7, "mk_version = 99999999999", -EINVAL);
	expect_line(7, "mk_version = 4294967295", 0);
	expect_line(8, "kcv = 0123456789abcde", -EINVAL);
	expect_line(8, "kcv = 0123456789abcdef01", -EINVAL);
	expect_line(9, "hsm = file:/tmp/x", -EINVAL);
	expect_line(9, "hsm = pkcs11", -EINVAL);
	expect_line(9, "hsm = pkcs11:token=a b", -EINVAL);
	expect_line(9, "hsm = pkcs11:token=\xc3\xa9", -EINVAL);
	expect_line(9, "hsm = pkcs11:", 0);
	expect_line(11, "mac = " MAC_HEX "0", -EINVAL);
	expect_line(11, "mac = 00", -EINVAL);
	expect_line(11, "mac = ", -EINVAL);
}

Test(volume, longest_lines)
{
	char line[COFFRE_URI_MAX + 16];

	/* a 1023-byte URI is the longest line and is accepted */
	memcpy(line, "hsm = pkcs11:", 13);
	memset(line + 13, 'a', 1023 - 7);
	line[6 + 1023] = '\0';
	expect_line(9, line, 0);
	/* one more byte is an overlong line */
	memset(line + 13, 'a', 1024 - 7);
	line[6 + 1024] = '\0';
	expect_line(9, line, -EINVAL);
	/* comments obey the same limit */
	memset(line, '#', 1029);
	line[1029] = '\0';
	expect_line(5, line, 0);
	memset(line, '#', 1030);
	line[1030] = '\0';
	expect_line(5, line, -EINVAL);
}

Test(volume, crlf_nul_and_terminator)
{
	struct volume_conf c;
	size_t n = build_good();
	char *crlf = malloc(2 * n);
	size_t m = 0;

	cr_assert_not_null(crlf);
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\n')
			crlf[m++] = '\r';
		crlf[m++] = text[i];
	}
	cr_assert_eq(volume_conf_parse(crlf, m, &c), -EINVAL);
	free(crlf);
	/* a lone CR at the end of one value */
	expect_line(1, "format = 1\r", -EINVAL);
	/* a NUL byte anywhere */
	n = build_good();
	for (size_t i = 0; i < n; i += 37) {
		char saved = text[i];

		text[i] = '\0';
		cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
		text[i] = saved;
	}
	cr_assert_eq(volume_conf_parse(text, n, &c), 0);
	/* the last line must end with '\n' */
	cr_assert_eq(volume_conf_parse(text, n - 1, &c), -EINVAL);
	/* empty and NULL input */
	cr_assert_eq(volume_conf_parse(text, 0, &c), -EINVAL);
	cr_assert_eq(volume_conf_parse(NULL, 10, &c), -EINVAL);
}

Test(volume, too_large)
{
	struct volume_conf c;
	static char tail[COFFRE_CONF_MAX];
	size_t tl = build_good(), n = 0, pad = COFFRE_CONF_MAX - tl;

	/* comment lines, then the good config, exactly at the limit */
	memcpy(tail, text, tl);
	while (pad > 0) {
		size_t l = pad > 1000 ? 1000 : pad;

		memset(text + n, '#', l - 1);
		text[n + l - 1] = '\n';
		n += l;
		pad -= l;
	}
	memcpy(text + n, tail, tl);
	n += tl;
	cr_assert_eq(n, COFFRE_CONF_MAX);
	cr_assert_eq(volume_conf_parse(text, n, &c), 0);
	cr_assert_eq(c.body_len, n - strlen(good[N_GOOD - 1]) - 1);
	/* one byte more is refused */
	memmove(text + 1, text, n);
	text[0] = '\n';
	cr_assert_eq(volume_conf_parse(text, n + 1, &c), -EINVAL);
}

/* ---- the optional recovery key and shares lines */

#define RK_HEX "x25519:" MAC_HEX

Test(volume, recovery_key_and_shares_round_trip)
{
	struct volume_conf c, d;
	static char out[COFFRE_CONF_MAX];
	int len;

	sample(&c);
	c.has_recovery = true;
	for (int i = 0; i < 32; i++)
		c.recovery_pub[i] = (uint8_t)(i * 7);
	c.shares_k = 5;
	c.shares_n = 7;
	len = volume_conf_write_body(&c, out, sizeof(out));
	cr_assert_gt(len, 0);
	cr_assert_not_null(strstr(out, "\nshares = 5/7\n"));
	len = volume_conf_write_mac((const uint8_t *)"0123456789abcdef0123456789abcdef",
				    out, (size_t)len, sizeof(out));
	cr_assert_gt(len, 0);
	cr_assert_eq(volume_conf_parse(out, (size_t)len, &d), 0);
	cr_assert(d.has_recovery);
	cr_assert_eq(memcmp(d.recovery_pub, c.recovery_pub, 32), 0);
	cr_assert_eq(d.shares_k, 5);
	cr_assert_eq(d.shares_n, 7);
}

Test(volume, recovery_key_lines_come_together_and_are_checked)
{
	struct volume_conf c;
	size_t n;

	/* Both present: accepted. */
	n = build(-1, 10, "recovery_key = " RK_HEX "\nshares = 5/7\nhsm = pkcs11:token=b;object=x%20y", false);
	cr_assert_eq(volume_conf_parse(text, n, &c), 0);
	cr_assert(c.has_recovery);
	/* Only one of the two: refused. */
	n = build(-1, 10, "recovery_key = " RK_HEX, true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
	n = build(-1, 10, "shares = 5/7", true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
	/* Malformed values. */
	n = build(-1, 10, "recovery_key = x448:" MAC_HEX "\nshares = 5/7", true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
	n = build(-1, 10, "recovery_key = " RK_HEX "\nshares = 8/7", true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
	n = build(-1, 10, "recovery_key = " RK_HEX "\nshares = 1/7", true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
	n = build(-1, 10, "recovery_key = " RK_HEX "\nshares = 5/256", true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
	n = build(-1, 10, "recovery_key = " RK_HEX "\nshares = 5", true);
	cr_assert_eq(volume_conf_parse(text, n, &c), -EINVAL);
}
