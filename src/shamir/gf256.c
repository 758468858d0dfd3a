/*
 * Arithmetic in GF(2^8) = GF(2)[x] / (x^8 + x^4 + x^3 + x + 1), the field
 * of AES (FIPS-197 §4) and of draft-mcgrew-tss-03 §3.
 *
 * Shamir shares are computed on secret bytes, so everything here is
 * constant time: multiplication is shift-and-add where each conditional
 * XOR is a mask (0x00 or 0xff) built from a bit, never a branch, and there
 * are no log/exp tables (a table indexed by a secret leaks it through the
 * cache).  Inversion is exponentiation by the fixed exponent 254
 * (a^255 = 1 for a != 0), which also maps 0 to 0 without a branch.
 */
#include "shamir_private.h"

uint8_t gf256_mul(uint8_t a, uint8_t b)
{
	unsigned int x = a, y = b, r = 0, mask;

	for (int i = 0; i < 8; i++) {
		/* r += x if the low bit of y is set */
		mask = 0u - (y & 1u);
		r ^= x & mask;
		/* x *= the polynomial "x": shift, reduce if bit 7 fell out */
		mask = 0u - (x >> 7 & 1u);
		x = ((x << 1) ^ (0x1bu & mask)) & 0xffu;
		y >>= 1;
	}
	return (uint8_t)r;
}

uint8_t gf256_inv(uint8_t a)
{
	/* a^254 = a^2 * a^4 * a^8 * ... * a^128 */
	uint8_t sq = a, r = 1;

	for (int i = 0; i < 7; i++) {
		sq = gf256_mul(sq, sq);
		r = gf256_mul(r, sq);
	}
	return r;
}
