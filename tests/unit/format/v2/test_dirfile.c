/*
 * Unit tests for src/format/v2/dirfile.c (doc/FORMAT.md §6): the 768-byte
 * layout by hand, every refusal, a known-answer root slot sealed by an
 * independent implementation (make_seeds_v2_object.py --vectors), rdev 0
 * and the root's zero binding.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

#define EPOCH ((UINT64_C(5) << 24) | 3)
/* DIR_KEY = 40..5f, NONCE = a0..ab, dir_bound(), root record (01777). */
static const char kat_hex[] =
	"0000000005000003a0a1a2a3a4a5a6a7a8a9aaabd78f05c0e2eb9c2d796f41fe"
	"89bc30f6ef17f5c7ec6f852de2dcee9ae9c27ef85a977243c05024a1e85aa89e"
	"5eec27c9e24c0766ebf91210da709de571ded5908799ba101ef6e199363f2e6e"
	"b71f57eba11ab9440a5d423bf0fe81516a99e48148caa7a7c73658fd050f94cc"
	"b7ef8294";

static uint8_t key[32];

static void init_key(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x40 + i);
}

static void from_hex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* §6 by hand, with the known-answer slot in slot 0. */
static void file_bytes(uint8_t b[768])
{
	memset(b, 0, 768);
	memcpy(b, "CFRD\x02", 5);
	for (int i = 0; i < 16; i++)
		b[8 + i] = (uint8_t)(0x10 + i);
	from_hex(kat_hex, b + 256, (sizeof(kat_hex) - 1) / 2);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *q = p;

	for (size_t i = 0; i < n; i++)
		if (q[i])
			return false;
	return true;
}

static int parse(const uint8_t *b, size_t len)
{
	struct dirfile2 d;
	int r;

	memset(&d, 0xa5, sizeof(d));
	r = dirfile2_parse(b, len, &d);
	if (r)
		cr_expect(all_zero(&d, sizeof(d)));
	return r;
}

Test(dirfile2, layout_round_trip_and_bound)
{
	uint8_t b[768], out[768], bound[64];
	struct dirfile2 d;

	file_bytes(b);
	cr_assert_eq(dirfile2_parse(b, 768, &d), 0);
	cr_expect_eq(d.dir_id[0], 0x10);
	cr_expect_eq(memcmp(d.slot[0], b + 256, 256), 0);
	cr_expect(all_zero(d.slot[1], 256));
	dirfile2_write(&d, out);
	cr_expect_eq(memcmp(out, b, 768), 0);
	dirfile2_bound(d.dir_id, bound);
	cr_expect_eq(memcmp(bound, b, 64), 0);
}

Test(dirfile2, refusals)
{
	uint8_t b[769];

	file_bytes(b);
	b[768] = 0;
	cr_expect_eq(parse(b, 769), -EINVAL);
	cr_expect_eq(parse(b, 767), -EINVAL);
	cr_expect_eq(parse(b, 24), -EINVAL);   /* a version 1 .coffre.dir */
	b[3] = 'F';
	cr_expect_eq(parse(b, 768), -EPROTO);
	file_bytes(b);
	b[4] = 1;
	cr_expect_eq(parse(b, 768), -EPROTONOSUPPORT);
	for (int i = 5; i < 256; i++) {
		if (i >= 8 && i < 24)
			continue;
		file_bytes(b);
		b[i] = 0x10;
		cr_expect_eq(parse(b, 768), -EINVAL, "byte %d", i);
	}
}

Test(dirfile2, root_known_answer)
{
	uint8_t b[768];
	struct dirfile2 d;
	struct meta_record m;
	uint64_t epoch;
	bool stale;

	init_key();
	file_bytes(b);
	cr_assert_eq(dirfile2_parse(b, 768, &d), 0);
	cr_assert_eq(dirfile2_meta(key, &d, true, &epoch, &m, &stale), 0);
	cr_expect_eq(epoch, EPOCH);
	cr_expect_eq(m.mode, 01777);
	cr_expect(meta_binding_is_zero(&m));
	cr_expect_not(stale);
	cr_expect_eq(dirfile2_meta(key, &d, false, &epoch, &m, &stale), 0);
	/* The dir id is bound. */
	d.dir_id[3] ^= 1;
	cr_expect_eq(dirfile2_meta(key, &d, true, &epoch, &m, &stale),
		     -EBADMSG);
}

Test(dirfile2, binding_and_rdev)
{
	uint8_t bound[64];
	struct dirfile2 d;
	struct meta_record m, got;
	uint64_t epoch;
	bool stale;

	init_key();
	memset(&d, 0, sizeof(d));
	memset(d.dir_id, 0x77, 16);
	dirfile2_bound(d.dir_id, bound);
	memset(&m, 0, sizeof(m));
	m.mode = 02775;
	memset(m.cur_parent, 1, 16);
	memset(m.cur_name, 2, 16);
	cr_assert_eq(meta_slot_seal(key, bound, EPOCH, V2_KIND_DIR, &m,
				    d.slot[1]), 0);
	cr_expect_eq(dirfile2_meta(key, &d, false, &epoch, &got, &stale), 1);
	cr_expect_eq(got.mode, 02775);
	memset(&got, 0xa5, sizeof(got));
	cr_expect_eq(dirfile2_meta(key, &d, true, &epoch, &got, &stale),
		     -EBADMSG, "a root with a binding");
	cr_expect(all_zero(&got, sizeof(got)));
	cr_expect_eq(epoch, 0);
	m.rdev_minor = 1;
	cr_expect_eq(meta_slot_seal(key, bound, EPOCH, V2_KIND_DIR, &m,
				    d.slot[0]), -EINVAL);
	/* Sealed under a device's rules, it is refused as a directory's. */
	cr_assert_eq(meta_slot_seal(key, bound, EPOCH + 1, V2_KIND_CHR, &m,
				    d.slot[0]), 0);
	cr_expect_eq(dirfile2_meta(key, &d, false, &epoch, &got, &stale),
		     -EBADMSG);
}
