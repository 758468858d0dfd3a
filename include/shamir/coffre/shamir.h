/*
 * coffre Shamir secret sharing: the recovery key's private half is split
 * among custodians (default 5 of 7) and rebuilt from any K of the shares.
 * Modelled on draft-mcgrew-tss-03 (threshold secret sharing over GF(2^8)
 * with the AES polynomial), with a coffre-specific share encoding.
 *
 * Security properties:
 *  - GF(2^8) arithmetic is constant time (no secret-indexed tables, no
 *    secret-dependent branches); random coefficients come from the OpenSSL
 *    DRBG (RAND_priv_bytes) and are wiped after use.
 *  - Each share carries its own checksum (first 16 bytes of SHA-256 over
 *    the encoded share), so a corrupted share is named, not used.
 *  - The secret is split together with a 16-byte check
 *    SHA-256("coffre-shamir-check" || secret)[0..16) that is verified after
 *    combining, so a wrong share set (mixed splits, a share forged with a
 *    recomputed checksum) yields -EBADMSG, never a wrong secret.
 *
 * Binary share (all integers big-endian):
 *   "CFRS" | version u8 (1) | threshold K u8 | index x u8 (1..255) |
 *   reserved u8 (0) | set id (16) | secret length u16 (1..1024) |
 *   y (secret length + 16 bytes) | checksum (16) = SHA-256(all before)[0..16)
 * Text share (what custodian files hold):
 *   "coffre-share v1\n" | base64 (RFC 4648 §4, with padding) of the binary,
 *   wrapped at 64 characters per line, each line ending "\n" | "end\n"
 *
 * All functions return 0 (or a length where documented) on success and a
 * negative errno on failure; all are safe to call from several threads.
 */
#ifndef COFFRE_SHAMIR_H
#define COFFRE_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#define SHAMIR_SECRET_MAX 1024  /* longest secret, bytes */
#define SHAMIR_CHECK_LEN 16     /* embedded secret check */
#define SHAMIR_SET_ID_LEN 16    /* identifies one split */
#define SHAMIR_SUM_LEN 16       /* per-share checksum */
#define SHAMIR_Y_MAX (SHAMIR_SECRET_MAX + SHAMIR_CHECK_LEN)
#define SHAMIR_MAGIC "CFRS"
#define SHAMIR_VERSION 1
#define SHAMIR_HDR_LEN 26       /* magic .. secret length */
#define SHAMIR_SHARE_BIN_LEN(secret_len) \
	(SHAMIR_HDR_LEN + (secret_len) + SHAMIR_CHECK_LEN + SHAMIR_SUM_LEN)
#define SHAMIR_SHARE_BIN_MAX SHAMIR_SHARE_BIN_LEN(SHAMIR_SECRET_MAX)
#define SHAMIR_TEXT_HEADER "coffre-share v1"
#define SHAMIR_TEXT_TRAILER "end"
#define SHAMIR_TEXT_LINE 64
#define SHAMIR_B64_LEN(n) (((n) + 2) / 3 * 4)
/* Largest text share including its NUL: header, base64, newlines, trailer. */
#define SHAMIR_SHARE_TEXT_MAX \
	(sizeof(SHAMIR_TEXT_HEADER) + SHAMIR_B64_LEN(SHAMIR_SHARE_BIN_MAX) + \
	 (SHAMIR_B64_LEN(SHAMIR_SHARE_BIN_MAX) + SHAMIR_TEXT_LINE - 1) / \
	 SHAMIR_TEXT_LINE + sizeof(SHAMIR_TEXT_TRAILER) + 1)

/*
 * One share, decoded.  `y` holds secret_len + SHAMIR_CHECK_LEN bytes: the
 * polynomials evaluated at x = index.  `sum` is the checksum as written or
 * read; shamir_combine() recomputes and compares it.  A share is secret
 * material: wipe it with shamir_share_wipe().
 */
struct shamir_share {
	uint8_t threshold;
	uint8_t index;
	uint8_t set_id[SHAMIR_SET_ID_LEN];
	uint16_t secret_len;
	uint8_t y[SHAMIR_Y_MAX];
	uint8_t sum[SHAMIR_SUM_LEN];
};

/* Randomness source: fill buf with n bytes, return 0 or a negative errno. */
typedef int (*shamir_rng_fn)(void *ctx, uint8_t *buf, size_t n);

/* ---- shamir.c: split and combine */

/*
 * Split secret (1..SHAMIR_SECRET_MAX bytes) into n shares out[0..n) with
 * threshold k (2 <= k <= n <= 255); share i gets index i + 1.  The set id
 * is drawn from RAND_bytes, the coefficients from RAND_priv_bytes.
 * On failure every out[] is wiped.  -EINVAL on bad arguments.
 */
int shamir_split(const uint8_t *secret, size_t len, unsigned n, unsigned k,
		 struct shamir_share *out);

/*
 * As shamir_split(), with every random byte taken from rng, in this order
 * (so known-answer tests are reproducible): the 16-byte set id, then for
 * each byte position j of secret || check, in order, the k - 1
 * coefficients a_1 .. a_{k-1} of the polynomial
 * f_j(x) = (secret || check)[j] + a_1 x + ... + a_{k-1} x^(k-1).
 */
int shamir_split_with_rng(const uint8_t *secret, size_t len, unsigned n,
			  unsigned k, struct shamir_share *out,
			  shamir_rng_fn rng, void *rng_ctx);

/*
 * Rebuild the secret from m shares into secret (cap bytes) and *len.
 * Checks, each with its own message in err (errlen bytes, may be NULL/0):
 *  -EINVAL   no shares, or a share that is not well formed;
 *  -EBADMSG  a share whose checksum fails (the message names it);
 *  -EINVAL   shares from different splits (set id, threshold or length);
 *  -EINVAL   a duplicated share index;
 *  -EINVAL   fewer than K shares ("need K shares, got M");
 *  -ERANGE   cap smaller than the secret;
 *  -EBADMSG  the combined secret fails its embedded check (wrong or
 *            tampered share set).
 * Exactly K shares (the first K given) are interpolated.  On any failure
 * nothing is written to secret and *len is 0.
 */
int shamir_combine(const struct shamir_share *shares, unsigned m,
		   uint8_t *secret, size_t cap, size_t *len,
		   char *err, size_t errlen);

/* ---- share.c: encoding, parsing, checksum */

/* Wipe a share (OPENSSL_cleanse). */
void shamir_share_wipe(struct shamir_share *s);

/* Compute the checksum of s as it would be encoded (does not store it). */
int shamir_share_checksum(const struct shamir_share *s,
			  uint8_t sum[SHAMIR_SUM_LEN]);

/* Encode s (with its stored sum) into out (cap bytes); returns the length
 * written or -EINVAL (share not well formed) / -ENOSPC. */
int shamir_share_write(const struct shamir_share *s, uint8_t *out, size_t cap);

/* Decode a binary share of exactly len bytes.  -EINVAL if malformed
 * (magic, version, reserved byte, threshold < 2, index 0, length out of
 * range or not matching len), -EBADMSG if its checksum fails.  out is
 * wiped on failure. */
int shamir_share_parse(const uint8_t *in, size_t len, struct shamir_share *out);

/* Text form: returns the number of characters written (out is
 * NUL-terminated) or -EINVAL / -ENOSPC. */
int shamir_share_write_text(const struct shamir_share *s, char *out,
			    size_t cap);

/*
 * Parse a text share of len characters: the header line, base64 lines of
 * exactly 64 characters except a last one of 1..64, the "end" line, and
 * nothing after it.  Lines end in "\n" or "\r\n"; the newline after "end"
 * may be missing.  The base64 must be canonical (padding only at the end,
 * unused bits zero).  Errors as shamir_share_parse().
 */
int shamir_share_parse_text(const char *in, size_t len,
			    struct shamir_share *out);

#endif /* COFFRE_SHAMIR_H */
