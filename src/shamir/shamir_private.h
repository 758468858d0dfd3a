/*
 * What the files of src/shamir share among themselves (and with the unit
 * tests): GF(2^8) arithmetic (gf256.c) and the constant-time standard
 * base64 used by the text form of shares (base64.c).
 */
#ifndef COFFRE_SHAMIR_PRIVATE_H
#define COFFRE_SHAMIR_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

/* ---- gf256.c: GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, constant time */

/* Product of a and b. */
uint8_t gf256_mul(uint8_t a, uint8_t b);
/* Multiplicative inverse a^254 (0 maps to 0). */
uint8_t gf256_inv(uint8_t a);

/* ---- base64.c: RFC 4648 §4 with padding, constant time per character */

/* Encode len bytes into out (cap bytes, NUL-terminated); returns the
 * number of characters or -ENOSPC. */
int b64std_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decode a canonical encoding (length a multiple of 4, '=' only as the
 * final padding, unused bits zero) of len characters into out (cap
 * bytes); returns the number of bytes, -EINVAL or -ENOSPC. */
int b64std_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif /* COFFRE_SHAMIR_PRIVATE_H */
