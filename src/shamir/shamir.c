/*
 * Shamir's threshold secret sharing (A. Shamir, "How to share a secret",
 * CACM 22(11), 1979) over GF(2^8), byte by byte as in draft-mcgrew-tss-03
 * §3: byte j of the secret is the constant term of a random polynomial
 * f_j of degree K-1, share x holds f_j(x) for every j, and any K shares
 * give the secret back by Lagrange interpolation at x = 0; K-1 shares say
 * nothing about it.
 *
 * Like the draft's optional hash, a 16-byte check
 * SHA-256("coffre-shamir-check" || secret)[0..16) is appended before
 * splitting and verified (constant-time compare) after combining, so a
 * wrong share set gives -EBADMSG instead of a wrong secret.
 *
 * Relies on gf256.c (constant-time field arithmetic), share.c (the share
 * checksum) and OpenSSL (SHA-256; RAND_priv_bytes for the coefficients,
 * RAND_bytes for the public set id).  Interpolation works on the secret
 * bytes with constant-time multiplications only; the share indexes (public)
 * decide which shares are used.  All temporaries are wiped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "coffre/shamir.h"
#include "shamir_private.h"

static const char check_label[] = "coffre-shamir-check";

/* SHA-256("coffre-shamir-check" || secret), first 16 bytes. */
static int secret_check(const uint8_t *secret, size_t len,
			uint8_t check[SHAMIR_CHECK_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int err = -EIO;

	if (ctx == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, check_label, sizeof(check_label) - 1) != 1 ||
	    EVP_DigestUpdate(ctx, secret, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 ||
	    mdlen < SHAMIR_CHECK_LEN)
		goto out;
	memcpy(check, md, SHAMIR_CHECK_LEN);
	err = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(md, sizeof(md));
	return err;
}

/* ---- split */

static int rng_public(void *ctx, uint8_t *buf, size_t n)
{
	(void)ctx;
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

static int rng_private(void *ctx, uint8_t *buf, size_t n)
{
	(void)ctx;
	return RAND_priv_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

/* f(x) = c0 + a[0] x + ... + a[deg-1] x^deg by Horner's rule. */
static uint8_t poly_eval(uint8_t c0, const uint8_t *a, unsigned deg, uint8_t x)
{
	uint8_t acc = 0;

	for (unsigned d = deg; d > 0; d--)
		acc = gf256_mul(acc, x) ^ a[d - 1];
	return gf256_mul(acc, x) ^ c0;
}

static int split(const uint8_t *secret, size_t len, unsigned n, unsigned k,
		 struct shamir_share *out, shamir_rng_fn rng_id,
		 shamir_rng_fn rng_coef, void *rng_ctx)
{
	uint8_t msg[SHAMIR_Y_MAX], coef[255], set_id[SHAMIR_SET_ID_LEN];
	size_t ylen = len + SHAMIR_CHECK_LEN;
	unsigned i;
	int err = -EINVAL;

	if (out == NULL)
		return -EINVAL;
	if (secret == NULL || len == 0 || len > SHAMIR_SECRET_MAX ||
	    k < 2 || k > n || n > 255)
		goto out;
	memcpy(msg, secret, len);
	err = secret_check(secret, len, msg + len);
	if (err < 0)
		goto out;
	err = rng_id(rng_ctx, set_id, sizeof(set_id));
	if (err < 0)
		goto out;
	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].threshold = (uint8_t)k;
		out[i].index = (uint8_t)(i + 1);
		memcpy(out[i].set_id, set_id, sizeof(set_id));
		out[i].secret_len = (uint16_t)len;
	}
	for (size_t j = 0; j < ylen; j++) {
		err = rng_coef(rng_ctx, coef, k - 1);
		if (err < 0)
			goto out;
		for (i = 0; i < n; i++)
			out[i].y[j] = poly_eval(msg[j], coef, k - 1,
						(uint8_t)(i + 1));
	}
	for (i = 0; i < n; i++) {
		err = shamir_share_checksum(&out[i], out[i].sum);
		if (err < 0)
			goto out;
	}
	err = 0;
out:
	OPENSSL_cleanse(msg, sizeof(msg));
	OPENSSL_cleanse(coef, sizeof(coef));
	if (err < 0 && n <= 255)
		for (i = 0; i < n; i++)
			shamir_share_wipe(&out[i]);
	return err;
}

int shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned k,
		 struct shamir_share *out)
{
	return split(secret, len, n, k, out, rng_public, rng_private, NULL);
}

int shamir_split_with_rng(const uint8_t *secret, size_t len, unsigned n,
			  unsigned k, struct shamir_share *out,
			  shamir_rng_fn rng, void *rng_ctx)
{
	if (rng == NULL)
		return -EINVAL;
	return split(secret, len, n, k, out, rng, rng, rng_ctx);
}

/* ---- combine */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Checksums, then consistency, duplicates and count.  Returns 0 or the
 * error, with its message in err. */
static int check_share_set(const struct shamir_share *s, unsigned m,
			   char *err, size_t errlen)
{
	uint8_t sum[SHAMIR_SUM_LEN];
	bool seen[256] = { false };
	unsigned i;
	int rc = 0;

	if (m == 0) {
		set_err(err, errlen, "no shares given");
		return -EINVAL;
	}
	for (i = 0; i < m; i++) {
		rc = shamir_share_checksum(&s[i], sum);
		if (rc == -EINVAL) {
			set_err(err, errlen, "share #%u is malformed", i + 1);
			goto out;
		}
		if (rc < 0) {
			set_err(err, errlen, "cannot checksum share #%u", i + 1);
			goto out;
		}
		if (CRYPTO_memcmp(sum, s[i].sum, sizeof(sum)) != 0) {
			set_err(err, errlen, "share #%u (index %u) fails its "
				"checksum: it is corrupted", i + 1, s[i].index);
			rc = -EBADMSG;
			goto out;
		}
	}
	for (i = 1; i < m; i++) {
		if (s[i].threshold != s[0].threshold ||
		    s[i].secret_len != s[0].secret_len ||
		    CRYPTO_memcmp(s[i].set_id, s[0].set_id,
				  SHAMIR_SET_ID_LEN) != 0) {
			set_err(err, errlen, "shares from different splits "
				"(share #1 and share #%u)", i + 1);
			rc = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < m; i++) {
		if (seen[s[i].index]) {
			set_err(err, errlen, "duplicate share index %u "
				"(share #%u)", s[i].index, i + 1);
			rc = -EINVAL;
			goto out;
		}
		seen[s[i].index] = true;
	}
	if (m < s[0].threshold) {
		set_err(err, errlen, "need %u shares, got %u",
			s[0].threshold, m);
		rc = -EINVAL;
		goto out;
	}
out:
	OPENSSL_cleanse(sum, sizeof(sum));
	return rc;
}

/*
 * Lagrange basis at 0 for the public points x[0..k):
 * l_i = prod_{j != i} x_j / (x_j - x_i), and "-" is "+" (XOR) here.
 */
static void lagrange_at_zero(const uint8_t *x, unsigned k, uint8_t *l)
{
	for (unsigned i = 0; i < k; i++) {
		uint8_t num = 1, den = 1;

		for (unsigned j = 0; j < k; j++) {
			if (j == i)
				continue;
			num = gf256_mul(num, x[j]);
			den = gf256_mul(den, x[j] ^ x[i]);
		}
		l[i] = gf256_mul(num, gf256_inv(den));
	}
}

int shamir_combine(const struct shamir_share *shares, unsigned m,
		   uint8_t *secret, size_t cap, size_t *len,
		   char *err, size_t errlen)
{
	uint8_t rec[SHAMIR_Y_MAX], check[SHAMIR_CHECK_LEN], x[255], l[255];
	size_t slen = 0, ylen;
	unsigned k, i;
	int rc = -EINVAL;

	set_err(err, errlen, "%s", "");
	if (len != NULL)
		*len = 0;
	if (secret == NULL || len == NULL || (shares == NULL && m)) {
		set_err(err, errlen, "invalid arguments");
		return -EINVAL;
	}
	rc = check_share_set(shares, m, err, errlen);
	if (rc < 0)
		goto out;
	k = shares[0].threshold;
	slen = shares[0].secret_len;
	ylen = slen + SHAMIR_CHECK_LEN;
	if (cap < slen) {
		set_err(err, errlen, "secret of %zu bytes does not fit in %zu",
			slen, cap);
		rc = -ERANGE;
		goto out;
	}
	for (i = 0; i < k; i++)
		x[i] = shares[i].index;
	lagrange_at_zero(x, k, l);
	memset(rec, 0, sizeof(rec));
	for (size_t j = 0; j < ylen; j++) {
		uint8_t acc = 0;

		for (i = 0; i < k; i++)
			acc ^= gf256_mul(l[i], shares[i].y[j]);
		rec[j] = acc;
	}
	rc = secret_check(rec, slen, check);
	if (rc < 0) {
		set_err(err, errlen, "cannot compute the secret check");
		goto out;
	}
	if (CRYPTO_memcmp(check, rec + slen, SHAMIR_CHECK_LEN) != 0) {
		set_err(err, errlen, "the shares do not rebuild a valid secret "
			"(wrong or tampered share set)");
		rc = -EBADMSG;
		goto out;
	}
	memcpy(secret, rec, slen);
	*len = slen;
	rc = 0;
out:
	OPENSSL_cleanse(rec, sizeof(rec));
	OPENSSL_cleanse(check, sizeof(check));
	OPENSSL_cleanse(l, sizeof(l));
	return rc;
}
