/*
 * Project Wycheproof AES-GCM vectors (aes_gcm_test.json, flattened by
 * tests/vectors/convert.py) run through the token: every case with a
 * 256-bit key, 96-bit IV and 128-bit tag (the only shape coffre's API
 * takes) is imported into the token as a master key; valid cases must seal
 * to the published ct || tag and open back to the message, invalid ones must
 * be refused by hsm_gcm_open.  The file path comes from HSM_GCM_VECTORS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "fixture.h"

TestSuite(hsm_wycheproof, .init = fx_token_open, .fini = fx_teardown,
	  .timeout = 240);

#define MAX_FIELD 4096

/* Lower-case hex, or "-" for empty, into buf.  Return: length or -1. */
static long unhex(const char *s, uint8_t *buf, size_t cap)
{
	size_t n = strlen(s), i;
	unsigned hi, lo;

	if (strcmp(s, "-") == 0)
		return 0;
	if (n % 2 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%1x%1x", &hi, &lo) != 2)
			return -1;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

struct gcm_case {
	char result[16];
	uint8_t key[32], iv[12], aad[MAX_FIELD], msg[MAX_FIELD],
		ct[MAX_FIELD + 16];
	long key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
};

/* Parse "tcId result keySize ivSize tagSize key iv aad msg ct tag".
 * Return: 1 for a case of our shape, 0 for another shape, -1 if malformed. */
static int parse_case(char *line, struct gcm_case *c, long *tc)
{
	char *f[11], *save = NULL;
	uint8_t tag[16];
	int i;

	for (i = 0; i < 11; i++) {
		f[i] = strtok_r(i ? NULL : line, " \n", &save);
		if (!f[i])
			return -1;
	}
	*tc = strtol(f[0], NULL, 10);
	if (strcmp(f[2], "256") || strcmp(f[3], "96") || strcmp(f[4], "128"))
		return 0;
	snprintf(c->result, sizeof(c->result), "%s", f[1]);
	c->key_len = unhex(f[5], c->key, sizeof(c->key));
	c->iv_len = unhex(f[6], c->iv, sizeof(c->iv));
	c->aad_len = unhex(f[7], c->aad, sizeof(c->aad));
	c->msg_len = unhex(f[8], c->msg, sizeof(c->msg));
	c->ct_len = unhex(f[9], c->ct, MAX_FIELD);
	c->tag_len = unhex(f[10], tag, sizeof(tag));
	if (c->key_len != 32 || c->iv_len != 12 || c->aad_len < 0 ||
	    c->msg_len < 0 || c->ct_len < 0 || c->tag_len != 16)
		return -1;
	memcpy(c->ct + c->ct_len, tag, 16);
	return 1;
}

static void run_case(struct gcm_case *c, long tc)
{
	static uint8_t sealed[MAX_FIELD + 16], opened[MAX_FIELD + 16];
	size_t in_len = (size_t)c->ct_len + 16;
	int ret;

	cr_assert_eq(hsm_import_key(fx_hsm, "wp", c->key), 0, "tc %ld", tc);
	ret = hsm_gcm_open(fx_hsm, "wp", c->iv, c->aad, (size_t)c->aad_len,
			   c->ct, in_len, opened);
	if (strcmp(c->result, "valid") == 0) {
		cr_expect_eq(ret, 0, "tc %ld: valid case refused (%d)", tc, ret);
		cr_expect_eq(c->ct_len, c->msg_len, "tc %ld", tc);
		if (ret == 0)
			cr_expect_arr_eq(opened, c->msg, (size_t)c->msg_len,
					 "tc %ld: wrong plaintext", tc);
		ret = hsm_gcm_seal(fx_hsm, "wp", c->iv, c->aad,
				   (size_t)c->aad_len, c->msg,
				   (size_t)c->msg_len, sealed);
		cr_expect_eq(ret, 0, "tc %ld: seal %d", tc, ret);
		if (ret == 0)
			cr_expect_arr_eq(sealed, c->ct, in_len,
					 "tc %ld: wrong ct||tag", tc);
	} else {
		cr_expect(ret == -EBADMSG || ret == -EIO,
			  "tc %ld (%s): accepted or wrong error %d", tc,
			  c->result, ret);
	}
	cr_assert_eq(hsm_destroy_key(fx_hsm, "wp"), 0, "tc %ld", tc);
}

Test(hsm_wycheproof, aes_256_gcm_through_the_token)
{
	static struct gcm_case c;
	const char *path = getenv("HSM_GCM_VECTORS");
	long declared = -1, lines = 0, ran = 0, valid = 0, tc;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int kind;

	cr_assert_not_null(path, "HSM_GCM_VECTORS is not set");
	f = fopen(path, "re");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		if (line[0] == '#') {
			sscanf(line, "# count %ld", &declared);
			continue;
		}
		lines++;
		kind = parse_case(line, &c, &tc);
		cr_assert_geq(kind, 0, "malformed vector line %ld", lines);
		if (kind == 0)
			continue;
		run_case(&c, tc);
		ran++;
		valid += strcmp(c.result, "valid") == 0;
	}
	free(line);
	fclose(f);
	cr_assert_eq(lines, declared, "read %ld of %ld cases", lines, declared);
	/* Wycheproof v0 has 66 such cases (39 valid, 27 invalid). */
	cr_assert_geq(ran, 60, "only %ld AES-256/96/128 cases", ran);
	cr_assert_gt(valid, 0);
	cr_assert_gt(ran - valid, 0);
	cr_log_info("%ld AES-256-GCM cases through the token, %ld valid", ran,
		    valid);
}
