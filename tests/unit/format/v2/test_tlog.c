/* Unit tests for src/format/v2/tlog.c (doc/FORMAT.md §12.3): a record built
 * by hand with a MAC from an independent implementation, every flipped
 * byte, every rule behind the MAC, the size bounds. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/table.h"

/* python3 tests/fuzz/make_seeds_v2_table.py --kat, "tlog commit" */
static const char *KAT_MAC =
	"d751a5930e5e19d6fa43a31ad3b0ab39550f0f05bb19f9e5fb38d16913abc658";

#define REC_LEN (128 + 2 * 80 + 40 + 48 + 32)

static uint8_t key[32];

static void setup(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
}

TestSuite(tlog, .init = setup);

static void be(uint8_t *b, size_t off, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		b[off + (size_t)i] = (uint8_t)v;
}

static void ids(uint8_t *b, size_t off, uint8_t first)
{
	for (int i = 0; i < 16; i++)
		b[off + (size_t)i] = (uint8_t)(first + i);
}

/* The record of the known answer, by hand, without its MAC. */
static void record_bytes(uint8_t b[REC_LEN])
{
	uint8_t *p;

	memset(b, 0, REC_LEN);
	memcpy(b, "CFRL", 4);
	b[4] = 2;
	b[5] = 1;
	be(b, 6, 1, 2);                         /* clean */
	ids(b, 8, 0x10);
	be(b, 24, 20, 8);
	be(b, 32, 19, 8);
	memset(b + 40, 0xcc, 32);
	be(b, 72, 16, 8);
	be(b, 80, 17, 8);
	be(b, 88, 1700000000, 8);
	be(b, 96, 2, 4);
	be(b, 100, 1, 4);
	be(b, 104, 1, 4);
	p = b + 128;                            /* CONF 5 */
	p[0] = 1;
	be(p, 40, 5, 8);
	p += 80;                                /* NAME */
	p[0] = 5;
	ids(p, 1, 0x40);
	ids(p, 17, 0x60);
	ids(p, 40, 0x50);
	p[56] = 1;
	p += 80;                                /* deleted MAP key */
	p[0] = 6;
	ids(p, 1, 0x50);
	p += 40;                                /* removal */
	ids(p, 0, 0x40);
	ids(p, 16, 0x60);
	ids(p, 32, 0x50);
}

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* Recompute the MAC (the known answer checks the function itself). */
static void remac(uint8_t *b, size_t len)
{
	cr_assert_eq(hmac_sha256(key, 32, b, len - 32, b + len - 32), 0);
}

static void good_record(uint8_t b[REC_LEN])
{
	record_bytes(b);
	remac(b, REC_LEN);
}

static const uint8_t zeros[sizeof(struct tlog_view)];

static void expect(const uint8_t *b, size_t len, int want)
{
	struct tlog_view v;

	memset(&v, 0xa5, sizeof(v));
	cr_assert_eq(tlog_parse(key, b, len, &v), want);
	if (want)
		cr_assert_eq(memcmp(&v, zeros, sizeof(v)), 0);
}

Test(tlog, writes_documented_layout_with_known_mac)
{
	uint8_t want[REC_LEN], got[REC_LEN + 10];
	struct tlog_header h;
	struct tentry puts[2], del;
	struct tlog_removal rem;

	record_bytes(want);
	unhex(KAT_MAC, want + REC_LEN - 32, 32);
	memset(&h, 0, sizeof(h));
	h.type = V2_TLOG_TYPE_COMMIT;
	h.flags = V2_TLOG_CLEAN;
	ids(h.uuid, 0, 0x10);
	h.gen = 20;
	h.prev_gen = 19;
	memset(h.prev_mac, 0xcc, 32);
	h.residue_lo = 16;
	h.residue_hi = 17;
	h.time = 1700000000;
	h.p = 2;
	h.q = 1;
	h.r = 1;
	cr_assert_eq(tentry_parse(want + 128, 80, &puts[0]), 0);
	cr_assert_eq(tentry_parse(want + 208, 80, &puts[1]), 0);
	cr_assert_eq(tentry_key_parse(want + 288, 40, &del), 0);
	ids(rem.parent, 0, 0x40);
	ids(rem.name_id, 0, 0x60);
	ids(rem.object_id, 0, 0x50);
	cr_assert_eq(tlog_len(2, 1, 1), REC_LEN);
	cr_assert_eq(tlog_write(key, &h, puts, &del, &rem, got, sizeof(got)), REC_LEN);
	cr_assert_eq(memcmp(got, want, REC_LEN), 0);
	cr_assert_eq(tlog_write(key, &h, puts, &del, &rem, got, REC_LEN - 1), -ENOSPC);
}

Test(tlog, parses_into_a_view_over_the_buffer)
{
	uint8_t b[REC_LEN];
	struct tlog_view v;
	struct tentry e;
	struct tlog_removal r;

	record_bytes(b);
	unhex(KAT_MAC, b + REC_LEN - 32, 32);
	cr_assert_eq(tlog_parse(key, b, sizeof(b), &v), 0);
	cr_assert_eq(v.h.type, 1);
	cr_assert_eq(v.h.flags, 1);
	cr_assert_eq(v.h.gen, 20);
	cr_assert_eq(v.h.prev_gen, 19);
	cr_assert_eq(v.h.residue_lo, 16);
	cr_assert_eq(v.h.residue_hi, 17);
	cr_assert_eq(v.h.time, 1700000000);
	cr_assert_eq(memcmp(v.mac, b + REC_LEN - 32, 32), 0);
	cr_assert_eq(v.puts, b + 128);
	cr_assert_eq(v.dels, b + 288);
	cr_assert_eq(v.rems, b + 328);
	cr_assert_eq(tlog_put(&v, 0, &e), 0);
	cr_assert_eq(e.kind, V2_TK_CONF);
	cr_assert_eq(e.u.conf.generation, 5);
	cr_assert_eq(tlog_put(&v, 1, &e), 0);
	cr_assert_eq(e.kind, V2_TK_NAME);
	cr_assert_eq(e.u.name.type, 1);
	cr_assert_eq(tlog_put(&v, 2, &e), -EINVAL);
	cr_assert_eq(e.kind, 0);
	cr_assert_eq(tlog_del(&v, 0, &e), 0);
	cr_assert_eq(e.kind, V2_TK_MAP);
	cr_assert_eq(e.u.map.file_id[0], 0x50);
	cr_assert_eq(tlog_del(&v, 1, &e), -EINVAL);
	cr_assert_eq(tlog_removal(&v, 0, &r), 0);
	cr_assert_eq(r.parent[0], 0x40);
	cr_assert_eq(r.name_id[15], 0x6f);
	cr_assert_eq(r.object_id[0], 0x50);
	cr_assert_eq(tlog_removal(&v, 1, &r), -EINVAL);
	cr_assert_eq(r.parent[0], 0);
}

Test(tlog, every_flipped_byte_fails)
{
	uint8_t b[REC_LEN];

	good_record(b);
	expect(b, sizeof(b), 0);
	for (size_t off = 0; off < REC_LEN; off++) {
		int want = -EBADMSG;

		if (off < 4)
			want = -EPROTO;
		else if (off == 4)
			want = -EPROTONOSUPPORT;
		else if (off >= 96 && off < 108)
			want = -EINVAL;         /* counts: the length no longer fits */
		b[off] ^= 0x01;
		expect(b, sizeof(b), want);
		b[off] ^= 0x01;
	}
	key[31] ^= 1;
	expect(b, sizeof(b), -EBADMSG);
	key[31] ^= 1;
}

Test(tlog, short_long_and_bounds)
{
	uint8_t b[REC_LEN + 1];

	good_record(b);
	b[REC_LEN] = 0;
	for (size_t len = 0; len < REC_LEN; len++)
		cr_assert_neq(tlog_parse(key, b, len, &(struct tlog_view){0}), 0);
	expect(b, REC_LEN - 1, -EINVAL);
	expect(b, REC_LEN + 1, -EINVAL);
	expect(b, 159, -EINVAL);
	cr_assert_eq(tlog_len(0, 0, 0), 160);
	cr_assert_eq(tlog_len(65536, 0, 0), 128 + 80 * 65536 + 32);
	cr_assert_eq(tlog_len(0, 65536, 131072), 128 + 40 * 65536 + 48 * 131072 + 32);
	cr_assert_eq(tlog_len(65536, 1, 0), 0);
	cr_assert_eq(tlog_len(32768, 32769, 0), 0);
	cr_assert_eq(tlog_len(0, 0, 131073), 0);
	cr_assert_eq(tlog_len(UINT32_MAX, 1, 0), 0);
	cr_assert_eq(V2_TLOG_MAX_LEN, 11 * 1024 * 1024 + 160);
	/* a header claiming more than the bounds: refused before the MAC */
	good_record(b);
	be(b, 96, 65537, 4);
	be(b, 100, 0, 4);
	expect(b, REC_LEN, -EINVAL);
}

struct rcase {
	size_t off;
	int n;
	uint64_t v;
	int want;
};

Test(tlog, header_rules_behind_the_mac)
{
	static const struct rcase cases[] = {
		{5, 1, 0, -EINVAL},                     /* type */
		{5, 1, 2, 0},
		{5, 1, 3, -EINVAL},
		{6, 2, 3, 0},                           /* flags */
		{6, 2, 4, -EINVAL},
		{6, 2, 0x8000, -EINVAL},
		{24, 8, 0, -EINVAL},                    /* gen */
		{24, 8, 19, -EINVAL},                   /* == prev gen */
		{24, 8, 18, -EINVAL},
		{24, 8, V2_GEN_MAX, 0},
		{24, 8, V2_GEN_MAX + 1, -EINVAL},
		{32, 8, 0, -EINVAL},                    /* prev gen 0, MAC not zero */
		{32, 8, 1, 0},
		{72, 8, 0, -EINVAL},                    /* residue: lo 0, hi 17 */
		{72, 8, 17, 0},                         /* lo == hi */
		{72, 8, 18, -EINVAL},                   /* lo > hi */
		{80, 8, 19, 0},                         /* hi < gen */
		{80, 8, 20, -EINVAL},
		{88, 8, UINT64_MAX, 0},                 /* time: informational */
	};
	uint8_t b[REC_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		good_record(b);
		be(b, cases[i].off, cases[i].v, cases[i].n);
		remac(b, sizeof(b));
		expect(b, sizeof(b), cases[i].want);
	}
	good_record(b);                         /* no residue at all */
	memset(b + 72, 0, 16);
	remac(b, sizeof(b));
	expect(b, sizeof(b), 0);
	good_record(b);                         /* first record: 0 and zero */
	memset(b + 32, 0, 40);
	remac(b, sizeof(b));
	expect(b, sizeof(b), 0);
	good_record(b);                         /* prev gen set, MAC zero */
	memset(b + 40, 0, 32);
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	for (size_t off = 108; off < 128; off++) {
		good_record(b);
		b[off] = 0x10;
		remac(b, sizeof(b));
		expect(b, sizeof(b), -EINVAL);
	}
}

Test(tlog, body_rules_behind_the_mac)
{
	uint8_t b[REC_LEN], t[80];

	/* puts out of order */
	good_record(b);
	memcpy(t, b + 128, 80);
	memmove(b + 128, b + 208, 80);
	memcpy(b + 208, t, 80);
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	/* duplicate put */
	good_record(b);
	memcpy(b + 208, b + 128, 80);
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	/* a put that is a tombstone, a put that is invalid */
	good_record(b);
	b[208] |= 0x80;
	memset(b + 248, 0, 40);
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	good_record(b);
	b[208 + 56] = 8;                        /* NAME type 8 */
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	/* a deleted key among the puts, one with bit 7, an invalid one */
	good_record(b);
	memcpy(b + 288, b + 208, 40);
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	good_record(b);
	memcpy(b + 288, b + 128, 40);
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	good_record(b);
	b[288] |= 0x80;
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	good_record(b);
	b[288 + 30] = 1;                        /* past a MAP key */
	remac(b, sizeof(b));
	expect(b, sizeof(b), -EINVAL);
	/* a deleted key below, between and above the puts: fine */
	good_record(b);
	b[288] = V2_TK_ESC;
	memset(b + 289, 0, 39);
	b[292] = 1;
	remac(b, sizeof(b));
	expect(b, sizeof(b), 0);
}

/* A record of np puts, nq deletes and nr removals, all in order. */
static uint8_t *big_record(uint32_t np, uint32_t nq, uint32_t nr, size_t *len)
{
	struct tlog_header h = {0};
	struct tentry *puts = calloc(np + 1, sizeof(*puts));
	struct tentry *dels = calloc(nq + 1, sizeof(*dels));
	struct tlog_removal *rems = calloc(nr + 1, sizeof(*rems));
	uint8_t *out;

	*len = tlog_len(np, nq, nr);
	out = malloc(*len);
	cr_assert(puts && dels && rems && out && *len);
	for (uint32_t i = 0; i < np; i++) {
		puts[i].kind = V2_TK_TORN;
		be(puts[i].u.torn.file_id, 12, i, 4);
		puts[i].u.torn.gen = 1;
	}
	for (uint32_t i = 0; i < nq; i++) {
		dels[i].kind = V2_TK_OBJ;
		be(dels[i].u.obj.id, 12, i, 4);
	}
	for (uint32_t i = 0; i < nr; i++)
		be(rems[i].object_id, 12, i, 4);
	h.type = V2_TLOG_TYPE_COMMIT;
	h.gen = 2;
	h.p = np;
	h.q = nq;
	h.r = nr;
	cr_assert_eq(tlog_write(key, &h, puts, dels, rems, out, *len), (int)*len);
	free(puts);
	free(dels);
	free(rems);
	return out;
}

Test(tlog, largest_record)
{
	size_t len;
	uint8_t *b = big_record(65536 - 7, 7, 131072, &len);
	struct tlog_view v;
	struct tentry e;

	cr_assert_eq(len, V2_TLOG_MAX_LEN - 7 * 40);
	cr_assert_eq(tlog_parse(key, b, len, &v), 0);
	cr_assert_eq(tlog_put(&v, 65528, &e), 0);
	cr_assert_eq(e.u.torn.file_id[15], (uint8_t)65528);
	free(b);
	b = big_record(65536, 0, 131072, &len);
	cr_assert_eq(len, V2_TLOG_MAX_LEN);
	cr_assert_eq(tlog_parse(key, b, len, &v), 0);
	free(b);
}

Test(tlog, writer_refuses_what_the_parser_would)
{
	struct tlog_header h = {0};
	struct tentry puts[2] = {0}, dels[1] = {0};
	struct tlog_removal rems[2] = {0};
	uint8_t out[1024];

	h.type = V2_TLOG_TYPE_START;
	h.gen = 5;
	cr_assert_eq(tlog_write(key, &h, NULL, NULL, NULL, out, sizeof(out)), 160);
	h.gen = 0;
	memset(out, 0x5a, sizeof(out));
	cr_assert_eq(tlog_write(key, &h, NULL, NULL, NULL, out, sizeof(out)), -EINVAL);
	for (size_t i = 0; i < 160; i++)
		cr_assert_eq(out[i], 0);
	h.gen = 5;
	h.p = 2;
	puts[0].kind = puts[1].kind = V2_TK_CONF;
	puts[0].u.conf.generation = puts[1].u.conf.generation = 1;
	cr_assert_eq(tlog_write(key, &h, puts, dels, rems, out, sizeof(out)), -EINVAL);
	h.p = 1;
	h.q = 1;
	dels[0].kind = V2_TK_CONF;              /* deleted and put */
	cr_assert_eq(tlog_write(key, &h, puts, dels, rems, out, sizeof(out)), -EINVAL);
	h.q = 0;
	h.r = 2;                                /* two equal removals */
	cr_assert_eq(tlog_write(key, &h, puts, dels, rems, out, sizeof(out)), -EINVAL);
	rems[1].parent[0] = 1;
	cr_assert_eq(tlog_write(key, &h, puts, dels, rems, out, sizeof(out)),
		     (int)tlog_len(1, 0, 2));
	h.p = 65537;
	cr_assert_eq(tlog_write(key, &h, puts, dels, rems, out, sizeof(out)), -EINVAL);
}
