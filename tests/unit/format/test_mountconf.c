/* Unit tests for src/format/mountconf.c: the /etc/coffre/NAME.conf grammar
 * (doc/FORMAT.md §10.2), its names and paths, every malformed-line class
 * and the canonical writer. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

/* A valid file, one line per entry (without '\n'). */
static const char *const good[] = {
	"# hand-written, UTF-8: \xc3\xa9t\xc3\xa9",
	"backing = /srv/coffre/records",
	"",
	"uuid = 00112233445566778899aabbccddeeff",
	"hsm = pkcs11:token=a?module-path=/usr/lib/softhsm/libsofthsm2.so",
	"hsm = pkcs11:token=b;serial=1234",
	"pin_file = /etc/coffre/records.pin",
	"bucket = /mnt/bucket",
	"mountpoint = /srv/records",
};
#define N_GOOD (sizeof(good) / sizeof(good[0]))

static char text[COFFRE_MOUNT_CONF_MAX * 2];

/* Join lines with '\n' after each; put repl at index at (instead of the
 * line, or before it with insert). */
static size_t build(int at, const char *repl, bool insert)
{
	size_t n = 0;

	for (int i = 0; i < (int)N_GOOD; i++) {
		if (i == at) {
			if (repl)
				n += (size_t)sprintf(text + n, "%s\n", repl);
			if (!insert)
				continue;
		}
		n += (size_t)sprintf(text + n, "%s\n", good[i]);
	}
	if (at == (int)N_GOOD && repl)
		n += (size_t)sprintf(text + n, "%s\n", repl);
	return n;
}

static void expect_line(int at, const char *repl, bool insert, int err)
{
	struct mount_conf *mc = malloc(sizeof(*mc));
	size_t n = build(at, repl, insert);

	cr_assert_eq(mount_conf_parse(text, n, mc), err, "line %d '%s'", at,
		     repl ? repl : "(dropped)");
	if (err)
		cr_assert_eq(mc->n_hsms, 0, "struct not cleared on error");
	free(mc);
}

Test(mountconf, parses_hand_written_file)
{
	struct mount_conf *mc = malloc(sizeof(*mc));
	size_t n = build(-1, NULL, false);

	cr_assert_eq(mount_conf_parse(text, n, mc), 0);
	cr_assert_str_eq(mc->backing, "/srv/coffre/records");
	cr_assert_eq(mc->uuid[0], 0x00);
	cr_assert_eq(mc->uuid[15], 0xff);
	cr_assert_eq(mc->n_hsms, 2);
	cr_assert_str_eq(mc->hsm[0],
			 "pkcs11:token=a?module-path=/usr/lib/softhsm/libsofthsm2.so");
	cr_assert_str_eq(mc->hsm[1], "pkcs11:token=b;serial=1234");
	cr_assert_str_eq(mc->pin_file, "/etc/coffre/records.pin");
	cr_assert_str_eq(mc->bucket, "/mnt/bucket");
	cr_assert_str_eq(mc->mountpoint, "/srv/records");
	free(mc);
}

Test(mountconf, optional_keys_may_be_absent)
{
	expect_line(6, NULL, false, 0);         /* no pin_file */
	expect_line(7, NULL, false, 0);         /* no bucket */
	expect_line(8, NULL, false, 0);         /* no mountpoint */
}

Test(mountconf, required_keys)
{
	expect_line(1, NULL, false, -EINVAL);   /* no backing */
	expect_line(3, NULL, false, -EINVAL);   /* no uuid */
	/* no hsm at all */
	{
		struct mount_conf *mc = malloc(sizeof(*mc));
		const char *t = "backing = /b\nuuid = 00112233445566778899aabbccddeeff\n";

		cr_assert_eq(mount_conf_parse(t, strlen(t), mc), -EINVAL);
		free(mc);
	}
}

Test(mountconf, duplicates_and_unknown_keys)
{
	expect_line(1, "backing = /other", true, -EINVAL);
	expect_line(3, "uuid = ffeeddccbbaa99887766554433221100", true, -EINVAL);
	expect_line(6, "pin_file = /x", true, -EINVAL);
	expect_line(7, "bucket = /x", true, -EINVAL);
	expect_line(8, "mountpoint = /x", true, -EINVAL);
	expect_line(8, "mountpoint = x", false, -EINVAL);
	expect_line(8, "mountpoint = /srv/../x", false, -EINVAL);
	expect_line(1, "mac = 00", true, -EINVAL);
	expect_line(1, "format = 1", true, -EINVAL);
	expect_line(1, "module = /usr/lib/x.so", true, -EINVAL);
	expect_line(1, "Backing = /b", false, -EINVAL);
}

Test(mountconf, at_most_eight_hsms)
{
	char many[4096];
	size_t n = 0;

	n += (size_t)sprintf(many + n, "hsm = pkcs11:token=h0");
	for (int i = 1; i < 7; i++)
		n += (size_t)sprintf(many + n, "\nhsm = pkcs11:token=h%d", i);
	expect_line(5, many, true, -EINVAL);    /* 7 + 2 = 9 */
	expect_line(5, many, false, 0);         /* 7 + 1 = 8 */
	(void)n;
	{
		struct mount_conf *mc = malloc(sizeof(*mc));

		build(5, many, false);
		cr_assert_eq(mount_conf_parse(text, strlen(text), mc), 0);
		cr_assert_eq(mc->n_hsms, 8);
		cr_assert_str_eq(mc->hsm[1], "pkcs11:token=h0");
		cr_assert_str_eq(mc->hsm[7], "pkcs11:token=h6");
		free(mc);
	}
}

Test(mountconf, malformed_lines)
{
	expect_line(1, "backing=/b", false, -EINVAL);
	expect_line(1, "backing  = /b", false, -EINVAL);
	expect_line(1, "backing = /b ", false, -EINVAL);  /* trailing space */
	expect_line(1, "backing = /b c", false, 0);
	expect_line(1, " backing = /b", false, -EINVAL);
	expect_line(1, "backing =", false, -EINVAL);
	expect_line(1, "backing = ", false, -EINVAL);
	expect_line(3, "uuid = 00112233445566778899AABBCCDDEEFF", false, -EINVAL);
	expect_line(3, "uuid = 00112233445566778899aabbccddee", false, -EINVAL);
	expect_line(3, "uuid = 00112233445566778899aabbccddeeff00", false, -EINVAL);
	expect_line(4, "hsm = token=a", false, -EINVAL);
	expect_line(4, "hsm = pkcs11:token=a b", false, -EINVAL);
	expect_line(4, "hsm = PKCS11:token=a", false, -EINVAL);
	expect_line(1, "backing = /b\r", false, -EINVAL);
	expect_line(1, "backing = /b\t", false, -EINVAL);
}

Test(mountconf, paths_are_absolute_and_normal)
{
	static const char *const bad[] = {
		"backing = relative/dir", "backing = /", "backing = /a/",
		"backing = //a", "backing = /a//b", "backing = /a/./b",
		"backing = /a/../b", "backing = /a/.", "backing = /..",
		"pin_file = pin", "pin_file = /a/..", "bucket = ./b",
		"bucket = /b/",
	};
	static const char *const fine[] = {
		"backing = /a", "backing = /a/.b", "backing = /a/..b/c",
		"backing = /a/b c/d", "backing = /\xc3\xa9t\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int at = !strncmp(bad[i], "pin_file", 8) ? 6 :
			 !strncmp(bad[i], "bucket", 6) ? 7 : 1;

		expect_line(at, bad[i], false, -EINVAL);
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		expect_line(1, fine[i], false, 0);
}

Test(mountconf, long_values)
{
	char *line = malloc(2 * COFFRE_MOUNT_PATH_MAX);
	size_t n;

	n = (size_t)sprintf(line, "backing = /");
	memset(line + n, 'a', COFFRE_MOUNT_PATH_MAX - 2);   /* path 4095 bytes */
	line[n + COFFRE_MOUNT_PATH_MAX - 2] = '\0';
	expect_line(1, line, false, 0);
	line[n + COFFRE_MOUNT_PATH_MAX - 2] = 'a';
	line[n + COFFRE_MOUNT_PATH_MAX - 1] = '\0';
	expect_line(1, line, false, -EINVAL);               /* 4096 bytes */

	n = (size_t)sprintf(line, "hsm = pkcs11:");
	memset(line + n, 'x', COFFRE_URI_MAX - 1 - 7);      /* URI 1023 bytes */
	line[n + COFFRE_URI_MAX - 1 - 7] = '\0';
	expect_line(4, line, false, 0);
	strcat(line, "x");
	expect_line(4, line, false, -EINVAL);
	free(line);
}

Test(mountconf, text_rules)
{
	struct mount_conf *mc = malloc(sizeof(*mc));
	size_t n = build(-1, NULL, false);

	/* unterminated last line */
	cr_assert_eq(mount_conf_parse(text, n - 1, mc), -EINVAL);
	/* empty, NUL, bad UTF-8, too long */
	cr_assert_eq(mount_conf_parse(text, 0, mc), -EINVAL);
	cr_assert_eq(mount_conf_parse(NULL, 10, mc), -EINVAL);
	text[5] = '\0';
	cr_assert_eq(mount_conf_parse(text, n, mc), -EINVAL);
	n = build(0, "# \xc0\xaf overlong", false);
	cr_assert_eq(mount_conf_parse(text, n, mc), -EINVAL);
	n = build(-1, NULL, false);
	cr_assert_eq(mount_conf_parse(text, COFFRE_MOUNT_CONF_MAX + 1, mc), -EINVAL);
	/* padded with comments up to the limit: fine; one byte more: not */
	n = build(-1, NULL, false);
	while (n + 2 <= COFFRE_MOUNT_CONF_MAX) {
		size_t room = COFFRE_MOUNT_CONF_MAX - n - 1;   /* for '\n' */
		size_t k = room > 200 ? 200 : room;

		text[n] = '#';
		memset(text + n + 1, 'c', k - 1);
		text[n + k] = '\n';
		n += k + 1;
	}
	cr_assert_eq(n, COFFRE_MOUNT_CONF_MAX);
	cr_assert_eq(mount_conf_parse(text, n, mc), 0);
	text[n] = '\n';
	cr_assert_eq(mount_conf_parse(text, n + 1, mc), -EINVAL);
	free(mc);
}

static void sample(struct mount_conf *mc)
{
	memset(mc, 0, sizeof(*mc));
	strcpy(mc->backing, "/srv/b");
	for (int i = 0; i < 16; i++)
		mc->uuid[i] = (uint8_t)(0x10 + i);
	mc->n_hsms = 2;
	strcpy(mc->hsm[0], "pkcs11:token=a");
	strcpy(mc->hsm[1], "pkcs11:token=b?module-path=/usr/lib/x.so");
}

Test(mountconf, writer_canonical_and_round_trip)
{
	struct mount_conf *mc = malloc(sizeof(*mc)), *back = malloc(sizeof(*mc));
	char buf[8192], again[8192];
	const char *want =
		"# coffre mount configuration \xe2\x80\x94 root's, local, never "
		"part of the volume\n"
		"backing = /srv/b\n"
		"uuid = 101112131415161718191a1b1c1d1e1f\n"
		"hsm = pkcs11:token=a\n"
		"hsm = pkcs11:token=b?module-path=/usr/lib/x.so\n";
	int n;

	sample(mc);
	n = mount_conf_write(mc, buf, sizeof(buf));
	cr_assert_eq(n, (int)strlen(want));
	cr_assert_str_eq(buf, want);
	strcpy(mc->pin_file, "/etc/coffre/b.pin");
	strcpy(mc->bucket, "/mnt/bucket");
	strcpy(mc->mountpoint, "/srv/b");
	n = mount_conf_write(mc, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_eq(mount_conf_parse(buf, (size_t)n, back), 0);
	cr_assert_eq(memcmp(mc, back, sizeof(*mc)), 0);
	cr_assert_eq(mount_conf_write(back, again, sizeof(again)), n);
	cr_assert_str_eq(buf, again);
	/* every short buffer */
	for (size_t cap = 0; cap <= (size_t)n; cap++)
		cr_assert_eq(mount_conf_write(mc, buf, cap), -ENOSPC);
	free(mc);
	free(back);
}

Test(mountconf, writer_refuses_what_parse_refuses)
{
	struct mount_conf *mc = malloc(sizeof(*mc));
	char buf[8192];

	sample(mc);
	mc->n_hsms = 0;
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	sample(mc);
	mc->n_hsms = 9;
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	sample(mc);
	strcpy(mc->backing, "srv/b");
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	sample(mc);
	strcpy(mc->backing, "/srv/b\nhsm = pkcs11:token=evil");
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	sample(mc);
	strcpy(mc->bucket, "/a/../b");
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	sample(mc);
	strcpy(mc->mountpoint, "/srv/m\nhsm = pkcs11:token=evil");
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	sample(mc);
	strcpy(mc->hsm[1], "pkcs11:token=a\nbacking = /x");
	cr_assert_eq(mount_conf_write(mc, buf, sizeof(buf)), -EINVAL);
	free(mc);
}

Test(mountconf, names)
{
	static const char *const ok[] = {
		"a", "0", "demo", "records-2026", "a_b", "z9-_", "9a",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *const bad[] = {
		"", "-a", "_a", "A", "demo.conf", "a/b", "..", ".", "a b",
		"d\xc3\xa9mo", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"a\n", "Demo",
	};
	char file[COFFRE_MOUNT_FILE_MAX];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert(mount_conf_name_valid(ok[i]), "%s", ok[i]);
		cr_assert_eq(mount_conf_file_name(ok[i], file), 0);
		cr_assert_eq(strlen(file), strlen(ok[i]) + 5);
		cr_assert_str_eq(file + strlen(ok[i]), ".conf");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(mount_conf_name_valid(bad[i]), "%s", bad[i]);
		cr_assert_eq(mount_conf_file_name(bad[i], file), -EINVAL);
	}
}
