/*
 * Unit tests for gf256.c: every one of the 65536 products and every
 * inverse against a slow reference (carry-less product, then reduction by
 * long division modulo x^8 + x^4 + x^3 + x + 1), plus the worked examples
 * of FIPS-197 §4.2.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "shamir/shamir_private.h"

/* Schoolbook: carry-less 15-bit product, then long division by 0x11b. */
static uint8_t ref_mul(unsigned a, unsigned b)
{
	unsigned p = 0;

	for (unsigned i = 0; i < 8; i++)
		if (b & (1u << i))
			p ^= a << i;
	for (int d = 14; d >= 8; d--)
		if (p & (1u << d))
			p ^= 0x11bu << (d - 8);
	return (uint8_t)p;
}

Test(gf256, fips197_examples)
{
	cr_expect_eq(gf256_mul(0x57, 0x83), 0xc1);
	cr_expect_eq(gf256_mul(0x57, 0x13), 0xfe);
	cr_expect_eq(gf256_mul(0x57, 0x02), 0xae);
	cr_expect_eq(gf256_mul(0x57, 0x04), 0x47);
	cr_expect_eq(gf256_mul(0x57, 0x08), 0x8e);
	cr_expect_eq(gf256_mul(0x57, 0x10), 0x07);
	cr_expect_eq(gf256_mul(0x53, 0xca), 0x01);
	cr_expect_eq(gf256_inv(0x53), 0xca);
}

Test(gf256, all_products_match_reference)
{
	unsigned bad = 0;

	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++)
			if (gf256_mul((uint8_t)a, (uint8_t)b) != ref_mul(a, b))
				bad++;
	cr_expect_eq(bad, 0, "%u of 65536 products differ", bad);
	cr_expect_eq(ref_mul(0x57, 0x83), 0xc1, "reference itself is wrong");
}

Test(gf256, all_inverses_match_reference)
{
	cr_expect_eq(gf256_inv(0), 0);
	for (unsigned a = 1; a < 256; a++) {
		unsigned want = 0;

		for (unsigned b = 1; b < 256; b++)
			if (ref_mul(a, b) == 1) {
				want = b;
				break;
			}
		cr_assert_neq(want, 0);
		cr_expect_eq(gf256_inv((uint8_t)a), want, "inverse of %#x", a);
	}
}

Test(gf256, field_laws)
{
	/* commutative, and distributes over XOR (spot check on a grid) */
	for (unsigned a = 0; a < 256; a += 7)
		for (unsigned b = 0; b < 256; b += 5) {
			cr_assert_eq(gf256_mul((uint8_t)a, (uint8_t)b),
				     gf256_mul((uint8_t)b, (uint8_t)a));
			for (unsigned c = 0; c < 256; c += 37)
				cr_assert_eq(gf256_mul((uint8_t)a, (uint8_t)(b ^ c)),
					     gf256_mul((uint8_t)a, (uint8_t)b) ^
					     gf256_mul((uint8_t)a, (uint8_t)c));
		}
}
