/*
 * The encoding of one Shamir share, binary and text (layout in
 * include/shamir/coffre/shamir.h), its checksum and its strict parsers.
 *
 * Like draft-mcgrew-tss-03 §4 a share carries its index, its threshold and
 * an identifier common to one split, so that shares can be checked for
 * belonging together before they are combined; unlike it, each share also
 * carries its own integrity check (the first 16 bytes of SHA-256 over the
 * encoded share), so a custodian's corrupted copy is named precisely.
 * (The secret itself is checked after combining, in shamir.c.)
 *
 * Parsing reads through a bounds-checked cursor; the text form is
 * canonical (one accepted spelling per share, see shamir.h), decoded with
 * the constant-time base64 of base64.c.  Every temporary copy of a share
 * is wiped with OPENSSL_cleanse.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "coffre/shamir.h"
#include "shamir_private.h"

/* ---- bounded reader */

struct share_rd {
	const uint8_t *p;
	size_t len, off;
};

static int rd_bytes(struct share_rd *r, void *dst, size_t n)
{
	if (r->len - r->off < n)
		return -EINVAL;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int rd_u8(struct share_rd *r, uint8_t *v)
{
	return rd_bytes(r, v, 1);
}

static int rd_u16be(struct share_rd *r, uint16_t *v)
{
	uint8_t b[2];
	int err = rd_bytes(r, b, 2);

	if (err == 0)
		*v = (uint16_t)(b[0] << 8 | b[1]);
	return err;
}

/* ---- encoding */

static int share_well_formed(const struct shamir_share *s)
{
	if (s == NULL || s->threshold < 2 || s->index == 0 ||
	    s->secret_len == 0 || s->secret_len > SHAMIR_SECRET_MAX)
		return -EINVAL;
	return 0;
}

/* Everything the checksum covers: header and y.  Returns its length. */
static size_t share_encode_body(const struct shamir_share *s, uint8_t *out)
{
	size_t ylen = (size_t)s->secret_len + SHAMIR_CHECK_LEN, o = 0;

	memcpy(out, SHAMIR_MAGIC, 4);
	o += 4;
	out[o++] = SHAMIR_VERSION;
	out[o++] = s->threshold;
	out[o++] = s->index;
	out[o++] = 0;
	memcpy(out + o, s->set_id, SHAMIR_SET_ID_LEN);
	o += SHAMIR_SET_ID_LEN;
	out[o++] = (uint8_t)(s->secret_len >> 8);
	out[o++] = (uint8_t)s->secret_len;
	memcpy(out + o, s->y, ylen);
	return o + ylen;
}

static int sha256_prefix(const uint8_t *in, size_t len,
			 uint8_t sum[SHAMIR_SUM_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int err = 0;

	if (EVP_Digest(in, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < SHAMIR_SUM_LEN) {
		err = -EIO;
		goto out;
	}
	memcpy(sum, md, SHAMIR_SUM_LEN);
out:
	OPENSSL_cleanse(md, sizeof(md));
	return err;
}

void shamir_share_wipe(struct shamir_share *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, sizeof(*s));
}

int shamir_share_checksum(const struct shamir_share *s,
			  uint8_t sum[SHAMIR_SUM_LEN])
{
	uint8_t buf[SHAMIR_SHARE_BIN_MAX];
	size_t n;
	int err;

	if (sum == NULL || share_well_formed(s) < 0)
		return -EINVAL;
	n = share_encode_body(s, buf);
	err = sha256_prefix(buf, n, sum);
	OPENSSL_cleanse(buf, n);
	return err;
}

int shamir_share_write(const struct shamir_share *s, uint8_t *out, size_t cap)
{
	size_t n;

	if (out == NULL || share_well_formed(s) < 0)
		return -EINVAL;
	if (cap < SHAMIR_SHARE_BIN_LEN((size_t)s->secret_len))
		return -ENOSPC;
	n = share_encode_body(s, out);
	memcpy(out + n, s->sum, SHAMIR_SUM_LEN);
	return (int)(n + SHAMIR_SUM_LEN);
}

/* ---- binary parser */

int shamir_share_parse(const uint8_t *in, size_t len, struct shamir_share *out)
{
	struct share_rd r = { .p = in, .len = len, .off = 0 };
	uint8_t magic[4], version, reserved, sum[SHAMIR_SUM_LEN];
	int err = -EINVAL;

	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (in == NULL)
		goto out;
	if (rd_bytes(&r, magic, 4) < 0 || memcmp(magic, SHAMIR_MAGIC, 4) != 0 ||
	    rd_u8(&r, &version) < 0 || version != SHAMIR_VERSION ||
	    rd_u8(&r, &out->threshold) < 0 || rd_u8(&r, &out->index) < 0 ||
	    rd_u8(&r, &reserved) < 0 || reserved != 0 ||
	    rd_bytes(&r, out->set_id, SHAMIR_SET_ID_LEN) < 0 ||
	    rd_u16be(&r, &out->secret_len) < 0)
		goto out;
	if (share_well_formed(out) < 0 ||
	    len != SHAMIR_SHARE_BIN_LEN((size_t)out->secret_len))
		goto out;
	if (rd_bytes(&r, out->y, (size_t)out->secret_len + SHAMIR_CHECK_LEN) < 0 ||
	    rd_bytes(&r, out->sum, SHAMIR_SUM_LEN) < 0 || r.off != len)
		goto out;
	err = sha256_prefix(in, len - SHAMIR_SUM_LEN, sum);
	if (err < 0)
		goto out;
	if (CRYPTO_memcmp(sum, out->sum, SHAMIR_SUM_LEN) != 0)
		err = -EBADMSG;
out:
	if (err < 0)
		shamir_share_wipe(out);
	return err;
}

/* ---- text form */

int shamir_share_write_text(const struct shamir_share *s, char *out,
			    size_t cap)
{
	uint8_t bin[SHAMIR_SHARE_BIN_MAX];
	char b64[SHAMIR_B64_LEN(SHAMIR_SHARE_BIN_MAX) + 1];
	size_t o = 0, i, line, nb64 = 0, need;
	int n, err;

	if (out == NULL)
		return -EINVAL;
	n = shamir_share_write(s, bin, sizeof(bin));
	if (n < 0) {
		err = n;
		goto out;
	}
	n = b64std_encode(bin, (size_t)n, b64, sizeof(b64));
	if (n < 0) {
		err = n;
		goto out;
	}
	nb64 = (size_t)n;
	need = sizeof(SHAMIR_TEXT_HEADER) + nb64 +
	       (nb64 + SHAMIR_TEXT_LINE - 1) / SHAMIR_TEXT_LINE +
	       sizeof(SHAMIR_TEXT_TRAILER) + 1;
	if (cap < need) {
		err = -ENOSPC;
		goto out;
	}
	memcpy(out, SHAMIR_TEXT_HEADER "\n", sizeof(SHAMIR_TEXT_HEADER));
	o = sizeof(SHAMIR_TEXT_HEADER);
	for (i = 0; i < nb64; i += line) {
		line = nb64 - i < SHAMIR_TEXT_LINE ? nb64 - i : SHAMIR_TEXT_LINE;
		memcpy(out + o, b64 + i, line);
		o += line;
		out[o++] = '\n';
	}
	memcpy(out + o, SHAMIR_TEXT_TRAILER "\n", sizeof(SHAMIR_TEXT_TRAILER));
	o += sizeof(SHAMIR_TEXT_TRAILER);
	out[o] = '\0';
	err = (int)o;
out:
	OPENSSL_cleanse(bin, sizeof(bin));
	OPENSSL_cleanse(b64, sizeof(b64));
	return err;
}

/*
 * Next line of in[*off..len): its start and length without the "\n" or
 * "\r\n".  *had_nl tells whether a newline ended it (the last line of the
 * input may have none).  -EINVAL at the end of the input.
 */
static int next_line(const char *in, size_t len, size_t *off,
		     const char **line, size_t *line_len, int *had_nl)
{
	size_t start = *off, i = start;

	if (start >= len)
		return -EINVAL;
	while (i < len && in[i] != '\n')
		i++;
	*line = in + start;
	*line_len = i - start;
	*had_nl = i < len;
	*off = i < len ? i + 1 : i;
	if (*had_nl && *line_len > 0 && in[i - 1] == '\r')
		(*line_len)--;
	return 0;
}

static int line_is(const char *line, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(line, word, n) == 0;
}

int shamir_share_parse_text(const char *in, size_t len,
			    struct shamir_share *out)
{
	char b64[SHAMIR_B64_LEN(SHAMIR_SHARE_BIN_MAX)];
	uint8_t bin[SHAMIR_SHARE_BIN_MAX];
	size_t off = 0, nb64 = 0, n = 0, prev = SHAMIR_TEXT_LINE;
	const char *line;
	int had_nl, err = -EINVAL, dec;

	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (in == NULL)
		goto out;
	if (next_line(in, len, &off, &line, &n, &had_nl) < 0 || !had_nl ||
	    !line_is(line, n, SHAMIR_TEXT_HEADER))
		goto out;
	for (;;) {
		if (next_line(in, len, &off, &line, &n, &had_nl) < 0)
			goto out;                       /* no "end" line */
		if (line_is(line, n, SHAMIR_TEXT_TRAILER))
			break;
		/* Only the last base64 line may be short, none empty. */
		if (!had_nl || n == 0 || n > SHAMIR_TEXT_LINE ||
		    prev != SHAMIR_TEXT_LINE || n > sizeof(b64) - nb64)
			goto out;
		memcpy(b64 + nb64, line, n);
		nb64 += n;
		prev = n;
	}
	if (nb64 == 0 || off != len)                    /* trailing garbage */
		goto out;
	dec = b64std_decode(b64, nb64, bin, sizeof(bin));
	if (dec < 0)
		goto out;
	err = shamir_share_parse(bin, (size_t)dec, out);
out:
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(bin, sizeof(bin));
	if (err < 0)
		shamir_share_wipe(out);
	return err;
}
