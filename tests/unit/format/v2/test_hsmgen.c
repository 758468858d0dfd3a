/* Unit tests for src/format/v2/hsmgen.c (doc/FORMAT.md §9.3): the 24 bytes
 * by hand, the field rules at their bounds, the field-wise maximum. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/records.h"

#define GMAX ((UINT64_C(1) << 39) - 1)

static void put64(uint8_t *b, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		b[k] = (uint8_t)(v >> (56 - 8 * k));
}

static void bytes(uint8_t b[24], uint64_t l, uint64_t bk, uint64_t r)
{
	put64(b, l);
	put64(b + 8, bk);
	put64(b + 16, r);
}

Test(hsmgen, layout)
{
	struct hsmgen g = { 0x0102030405, 0x0a0b0c, 0x1122334455 }, back;
	const uint8_t want[24] = {
		0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05,
		0, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c,
		0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
	};
	uint8_t got[24];

	cr_assert_eq(hsmgen_write(&g, got), 0);
	cr_assert_eq(memcmp(got, want, 24), 0);
	cr_assert_eq(hsmgen_parse(want, 24, &back), 0);
	cr_assert_eq(memcmp(&g, &back, sizeof(g)), 0);
}

Test(hsmgen, exact_length)
{
	uint8_t b[25] = { 0 };
	struct hsmgen g;

	bytes(b, 1, 1, 2);
	for (size_t len = 0; len <= 25; len++)
		cr_assert_eq(hsmgen_parse(b, len, &g), len == 24 ? 0 : -EINVAL);
	/* version 1's 8-byte value is refused here (only upgrade reads it) */
	cr_assert_eq(hsmgen_parse(b, 8, &g), -EINVAL);
}

Test(hsmgen, field_rules)
{
	static const struct { uint64_t l, b, r; int err; } cases[] = {
		{ 0, 0, 0, 0 },                         /* nothing yet */
		{ 0, 0, 3 + 65536, 0 },                 /* upgrade */
		{ 77, 0, 77, 0 },                       /* hsm reseed */
		{ 10, 12, 65546, 0 },                   /* bucket ahead of local */
		{ GMAX, GMAX, GMAX + 65536, 0 },        /* every bound */
		{ GMAX + 1, 0, GMAX + 65536, -EINVAL },
		{ 0, GMAX + 1, GMAX + 65536, -EINVAL },
		{ 0, 0, GMAX + 65537, -EINVAL },
		{ 0, 0, UINT64_MAX, -EINVAL },
		{ 101, 0, 100, -EINVAL },               /* local above reserved */
		{ 0, 101, 100, -EINVAL },               /* bucket above reserved */
		{ UINT64_C(1) << 63, 0, 0, -EINVAL },
	};
	uint8_t b[24], out[24];
	struct hsmgen g;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bytes(b, cases[i].l, cases[i].b, cases[i].r);
		cr_assert_eq(hsmgen_parse(b, 24, &g), cases[i].err, "case %zu", i);
		if (cases[i].err) {
			cr_assert_eq(g.local_gen | g.bucket_gen | g.reserved_gen, 0);
			g = (struct hsmgen){ cases[i].l, cases[i].b, cases[i].r };
			memset(out, 0x55, 24);
			cr_assert_eq(hsmgen_write(&g, out), -EINVAL);
			for (int k = 0; k < 24; k++)
				cr_assert_eq(out[k], 0);
		} else {
			cr_assert_eq(g.local_gen, cases[i].l);
			cr_assert_eq(g.bucket_gen, cases[i].b);
			cr_assert_eq(g.reserved_gen, cases[i].r);
			cr_assert_eq(hsmgen_write(&g, out), 0);
			cr_assert_eq(memcmp(out, b, 24), 0);
		}
	}
}

Test(hsmgen, fieldwise_max)
{
	struct hsmgen acc = { 0 };
	struct hsmgen a = { 50, 5, 70000 }, b = { 40, 45, 65600 };
	uint8_t out[24];

	hsmgen_max(&acc, &a);
	cr_assert_eq(memcmp(&acc, &a, sizeof(a)), 0);
	hsmgen_max(&acc, &b);
	cr_assert_eq(acc.local_gen, 50);
	cr_assert_eq(acc.bucket_gen, 45);
	cr_assert_eq(acc.reserved_gen, 70000);
	/* the maximum of valid values is valid */
	cr_assert_eq(hsmgen_write(&acc, out), 0);
	hsmgen_max(&acc, &(struct hsmgen){ 0 });
	cr_assert_eq(acc.reserved_gen, 70000);
}
