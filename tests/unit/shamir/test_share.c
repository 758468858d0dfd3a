/*
 * Unit tests for share.c: binary and text round trips, every single-bit
 * flip of every byte of every share (binary and text) rejected, each
 * malformed field of the binary form rejected with -EINVAL, and malformed
 * text (header, "end" line, wrapping, base64, trailing garbage) rejected.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "coffre/shamir.h"

#define N 7
#define K 5

static struct shamir_share shares[N];
static const uint8_t secret32[32] = "thirty-two bytes of test secret";

static void make_shares(void)
{
	cr_assert_eq(shamir_split(secret32, sizeof(secret32), N, K, shares), 0);
}

static void expect_same(const struct shamir_share *a,
			const struct shamir_share *b)
{
	cr_expect_eq(a->threshold, b->threshold);
	cr_expect_eq(a->index, b->index);
	cr_expect_eq(a->secret_len, b->secret_len);
	cr_expect(memcmp(a->set_id, b->set_id, SHAMIR_SET_ID_LEN) == 0);
	cr_expect(memcmp(a->y, b->y, (size_t)a->secret_len + SHAMIR_CHECK_LEN) == 0);
	cr_expect(memcmp(a->sum, b->sum, SHAMIR_SUM_LEN) == 0);
}

/* Rewrite the trailing checksum of a binary share after editing it. */
static void fix_sum(uint8_t *bin, size_t len)
{
	uint8_t md[32];
	unsigned int mdlen;

	cr_assert_eq(EVP_Digest(bin, len - 16, md, &mdlen, EVP_sha256(), NULL), 1);
	memcpy(bin + len - 16, md, 16);
}

Test(share, binary_layout_and_round_trip, .init = make_shares)
{
	uint8_t bin[SHAMIR_SHARE_BIN_MAX];
	struct shamir_share back;
	int n;

	for (unsigned i = 0; i < N; i++) {
		n = shamir_share_write(&shares[i], bin, sizeof(bin));
		cr_assert_eq(n, 26 + 32 + 16 + 16);
		cr_expect(memcmp(bin, "CFRS\x01\x05", 6) == 0);
		cr_expect_eq(bin[6], i + 1);
		cr_expect_eq(bin[7], 0);
		cr_expect(memcmp(bin + 8, shares[i].set_id, 16) == 0);
		cr_expect_eq(bin[24], 0);
		cr_expect_eq(bin[25], 32);
		cr_assert_eq(shamir_share_parse(bin, (size_t)n, &back), 0);
		expect_same(&back, &shares[i]);
	}
	cr_expect_eq(shamir_share_write(&shares[0], bin, 89), -ENOSPC);
}

Test(share, text_round_trip, .init = make_shares)
{
	char txt[SHAMIR_SHARE_TEXT_MAX];
	struct shamir_share back;
	int n;

	for (unsigned i = 0; i < N; i++) {
		n = shamir_share_write_text(&shares[i], txt, sizeof(txt));
		cr_assert_gt(n, 0);
		cr_expect_eq(strlen(txt), (size_t)n);
		cr_expect(strncmp(txt, "coffre-share v1\n", 16) == 0);
		cr_expect(strcmp(txt + n - 5, "\nend\n") == 0);
		cr_assert_eq(shamir_share_parse_text(txt, (size_t)n, &back), 0);
		expect_same(&back, &shares[i]);
	}
	/* exact capacity works, one less does not */
	n = shamir_share_write_text(&shares[0], txt, sizeof(txt));
	cr_expect_eq(shamir_share_write_text(&shares[0], txt, (size_t)n + 1), n);
	cr_expect_eq(shamir_share_write_text(&shares[0], txt, (size_t)n), -ENOSPC);
}

Test(share, text_of_largest_share_fits_text_max)
{
	static uint8_t big[SHAMIR_SECRET_MAX];
	struct shamir_share *s = calloc(2, sizeof(*s)), back;
	char txt[SHAMIR_SHARE_TEXT_MAX];
	int n;

	cr_assert_not_null(s);
	memset(big, 0x5a, sizeof(big));
	cr_assert_eq(shamir_split(big, sizeof(big), 2, 2, s), 0);
	n = shamir_share_write_text(&s[1], txt, sizeof(txt));
	cr_assert_eq((size_t)n, sizeof(txt) - 1);
	cr_assert_eq(shamir_share_parse_text(txt, (size_t)n, &back), 0);
	expect_same(&back, &s[1]);
	free(s);
}

Test(share, crlf_and_missing_final_newline_accepted, .init = make_shares)
{
	char txt[SHAMIR_SHARE_TEXT_MAX], crlf[2 * SHAMIR_SHARE_TEXT_MAX];
	struct shamir_share back;
	size_t o = 0;
	int n;

	n = shamir_share_write_text(&shares[2], txt, sizeof(txt));
	cr_assert_gt(n, 0);
	cr_expect_eq(shamir_share_parse_text(txt, (size_t)n - 1, &back), 0);
	for (int i = 0; i < n; i++) {
		if (txt[i] == '\n')
			crlf[o++] = '\r';
		crlf[o++] = txt[i];
	}
	cr_assert_eq(shamir_share_parse_text(crlf, o, &back), 0);
	expect_same(&back, &shares[2]);
}

Test(share, every_bit_flip_of_binary_rejected, .init = make_shares)
{
	uint8_t bin[SHAMIR_SHARE_BIN_MAX];
	struct shamir_share back;
	int n, rc;

	for (unsigned i = 0; i < N; i++) {
		n = shamir_share_write(&shares[i], bin, sizeof(bin));
		cr_assert_gt(n, 0);
		for (int b = 0; b < n; b++)
			for (int bit = 0; bit < 8; bit++) {
				bin[b] ^= (uint8_t)(1u << bit);
				rc = shamir_share_parse(bin, (size_t)n, &back);
				cr_assert(rc == -EBADMSG || rc == -EINVAL,
					  "share %u byte %d bit %d: %d", i, b, bit, rc);
				bin[b] ^= (uint8_t)(1u << bit);
			}
		/* the checksum flips specifically report a checksum failure */
		bin[n - 1] ^= 1;
		cr_expect_eq(shamir_share_parse(bin, (size_t)n, &back), -EBADMSG);
		bin[n - 1] ^= 1;
		cr_expect_eq(shamir_share_parse(bin, (size_t)n, &back), 0);
	}
}

Test(share, every_bit_flip_of_text_rejected, .init = make_shares)
{
	char txt[SHAMIR_SHARE_TEXT_MAX];
	struct shamir_share back;
	int n, rc;

	for (unsigned i = 0; i < N; i++) {
		n = shamir_share_write_text(&shares[i], txt, sizeof(txt));
		cr_assert_gt(n, 0);
		for (int b = 0; b < n; b++)
			for (int bit = 0; bit < 8; bit++) {
				txt[b] = (char)(txt[b] ^ (1 << bit));
				rc = shamir_share_parse_text(txt, (size_t)n, &back);
				cr_assert(rc == -EBADMSG || rc == -EINVAL,
					  "share %u char %d bit %d: %d", i, b, bit, rc);
				txt[b] = (char)(txt[b] ^ (1 << bit));
			}
		cr_expect_eq(shamir_share_parse_text(txt, (size_t)n, &back), 0);
	}
}

/* Edit one field of a valid binary share (checksum recomputed so that
 * only the field check can reject it). */
static int parse_edited(size_t off, uint8_t val, size_t len_delta)
{
	uint8_t bin[SHAMIR_SHARE_BIN_MAX + 8];
	struct shamir_share back;
	int n = shamir_share_write(&shares[0], bin, sizeof(bin));
	size_t len;

	cr_assert_gt(n, 0);
	bin[off] = val;
	len = (size_t)n + len_delta;
	fix_sum(bin, len);
	return shamir_share_parse(bin, len, &back);
}

Test(share, malformed_binary_fields_rejected, .init = make_shares)
{
	cr_expect_eq(parse_edited(0, 'X', 0), -EINVAL);     /* magic */
	cr_expect_eq(parse_edited(4, 2, 0), -EINVAL);       /* version */
	cr_expect_eq(parse_edited(4, 0, 0), -EINVAL);
	cr_expect_eq(parse_edited(5, 1, 0), -EINVAL);       /* threshold 1 */
	cr_expect_eq(parse_edited(5, 0, 0), -EINVAL);       /* threshold 0 */
	cr_expect_eq(parse_edited(6, 0, 0), -EINVAL);       /* index 0 */
	cr_expect_eq(parse_edited(7, 1, 0), -EINVAL);       /* reserved */
	cr_expect_eq(parse_edited(25, 33, 0), -EINVAL);     /* length says 33 */
	cr_expect_eq(parse_edited(25, 31, 0), -EINVAL);     /* length says 31 */
	cr_expect_eq(parse_edited(25, 33, 1), 0);           /* consistent: ok */
	cr_expect_eq(parse_edited(25, 31, (size_t)-1), 0);
	cr_expect_eq(parse_edited(25, 0, (size_t)-32), -EINVAL);   /* length 0 */
	cr_expect_eq(parse_edited(24, 4, 0), -EINVAL);      /* 1056 > max */
	/* the edit that keeps everything valid is accepted (control) */
	cr_expect_eq(parse_edited(6, 200, 0), 0);
}

Test(share, truncated_and_extended_binary_rejected, .init = make_shares)
{
	uint8_t bin[SHAMIR_SHARE_BIN_MAX + 1];
	struct shamir_share back;
	int n = shamir_share_write(&shares[0], bin, sizeof(bin));

	cr_assert_gt(n, 0);
	for (int len = 0; len < n; len++)
		cr_expect_eq(shamir_share_parse(bin, (size_t)len, &back), -EINVAL,
			     "len %d", len);
	bin[n] = 0;
	cr_expect_eq(shamir_share_parse(bin, (size_t)n + 1, &back), -EINVAL);
	cr_expect_eq(shamir_share_parse(NULL, 10, &back), -EINVAL);
	cr_expect_eq(shamir_share_parse(bin, (size_t)n, NULL), -EINVAL);
}

static int parse_str(const char *s)
{
	struct shamir_share back;

	return shamir_share_parse_text(s, strlen(s), &back);
}

Test(share, malformed_text_rejected, .init = make_shares)
{
	char txt[SHAMIR_SHARE_TEXT_MAX], bad[2 * SHAMIR_SHARE_TEXT_MAX];
	const char *body;
	size_t blen;
	int n;

	n = shamir_share_write_text(&shares[0], txt, sizeof(txt));
	cr_assert_gt(n, 0);
	body = txt + 16;                /* after the header line */
	blen = (size_t)n - 16;

	/* control */
	cr_expect_eq(parse_str(txt), 0);
	/* missing header, wrong header, header without newline */
	cr_expect_eq(parse_str(body), -EINVAL);
	snprintf(bad, sizeof(bad), "coffre-share v2\n%s", body);
	cr_expect_eq(parse_str(bad), -EINVAL);
	snprintf(bad, sizeof(bad), " coffre-share v1\n%s", body);
	cr_expect_eq(parse_str(bad), -EINVAL);
	cr_expect_eq(parse_str("coffre-share v1"), -EINVAL);
	cr_expect_eq(parse_str("coffre-share v1\nend\n"), -EINVAL);
	cr_expect_eq(parse_str(""), -EINVAL);
	/* missing end line */
	memcpy(bad, txt, (size_t)n - 4);
	bad[n - 4] = '\0';
	cr_expect_eq(parse_str(bad), -EINVAL);
	/* "end " or "END" */
	snprintf(bad, sizeof(bad), "%.*send \n", n - 4, txt);
	cr_expect_eq(parse_str(bad), -EINVAL);
	snprintf(bad, sizeof(bad), "%.*sEND\n", n - 4, txt);
	cr_expect_eq(parse_str(bad), -EINVAL);
	/* trailing garbage: another line, a blank line, a second share */
	snprintf(bad, sizeof(bad), "%sx", txt);
	cr_expect_eq(parse_str(bad), -EINVAL);
	snprintf(bad, sizeof(bad), "%s\n", txt);
	cr_expect_eq(parse_str(bad), -EINVAL);
	snprintf(bad, sizeof(bad), "%s%s", txt, txt);
	cr_expect_eq(parse_str(bad), -EINVAL);
	/* bad base64: a bad character, a dropped character, wrong padding */
	strcpy(bad, txt);
	bad[20] = '*';
	cr_expect_eq(parse_str(bad), -EINVAL);
	snprintf(bad, sizeof(bad), "coffre-share v1\n%.*s%s", 10, body, body + 11);
	cr_expect_eq(parse_str(bad), -EINVAL);
	/* re-wrapped lines (not 64 per line) are not canonical */
	snprintf(bad, sizeof(bad), "coffre-share v1\n%.32s\n%s", body, body + 32);
	cr_expect_eq(parse_str(bad), -EINVAL);
	/* an empty line inside the base64 */
	snprintf(bad, sizeof(bad), "coffre-share v1\n\n%s", body);
	cr_expect_eq(parse_str(bad), -EINVAL);
	/* a line longer than 64: join the first two lines */
	{
		const char *nl = memchr(body, '\n', blen);

		cr_assert_not_null(nl);
		snprintf(bad, sizeof(bad), "coffre-share v1\n%.*s%s",
			 (int)(nl - body), body, nl + 1);
		cr_expect_eq(parse_str(bad), -EINVAL);
	}
	/* NUL inside */
	memcpy(bad, txt, (size_t)n);
	bad[30] = '\0';
	{
		struct shamir_share back;

		cr_expect_eq(shamir_share_parse_text(bad, (size_t)n, &back), -EINVAL);
	}
	cr_expect_eq(shamir_share_parse_text(NULL, 5, NULL), -EINVAL);
}

Test(share, text_of_foreign_binary_rejected)
{
	/* valid base64 and framing around something that is not a share */
	cr_expect_eq(parse_str("coffre-share v1\nZm9vYmFy\nend\n"), -EINVAL);
}

Test(share, write_rejects_malformed_share, .init = make_shares)
{
	uint8_t bin[SHAMIR_SHARE_BIN_MAX];
	char txt[SHAMIR_SHARE_TEXT_MAX];
	struct shamir_share s = shares[0];

	s.index = 0;
	cr_expect_eq(shamir_share_write(&s, bin, sizeof(bin)), -EINVAL);
	cr_expect_eq(shamir_share_write_text(&s, txt, sizeof(txt)), -EINVAL);
	s = shares[0];
	s.secret_len = SHAMIR_SECRET_MAX + 1;
	cr_expect_eq(shamir_share_write(&s, bin, sizeof(bin)), -EINVAL);
	s = shares[0];
	s.threshold = 1;
	cr_expect_eq(shamir_share_write(&s, bin, sizeof(bin)), -EINVAL);
}

Test(share, wipe_clears, .init = make_shares)
{
	static const struct shamir_share zero;

	shamir_share_wipe(&shares[0]);
	cr_expect(memcmp(&shares[0], &zero, sizeof(zero)) == 0);
	shamir_share_wipe(NULL);
}
