/* Unit tests for src/format/v2/tlevel.c (doc/FORMAT.md §12.2): the block MAC
 * against vectors of an independent implementation, the header and data
 * blocks written out by hand, every rule and reserved byte. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/table.h"

/*
 * Known answers from python3 hmac/hashlib (tests/fuzz/make_seeds_v2_table.py
 * --kat): key 00..1f, uuid 10..1f, and the bodies built below.
 */
static const char *KAT_HEADER =
	"6611b8388ddfc8532bdec60125307fadf99e8f8861ec6da693de4c202a7cc551";
static const char *KAT_DATA =
	"8a45fff8ab2a3c93326a2b5418c0053663b81def16bffc06f432e7a9246a7824";

static uint8_t key[32], uuid[16];

static void setup(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)(0x10 + i);
}

static void be(uint8_t *b, size_t off, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		b[off + (size_t)i] = (uint8_t)v;
}

static void unhex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* A base header of gen 10, N = 1, by hand. */
static void header_bytes(uint8_t b[V2_TBLOCK_LEN])
{
	memset(b, 0, V2_TBLOCK_LEN);
	memcpy(b, "CFRT", 4);
	b[4] = 2;
	b[5] = 0;
	memcpy(b + 8, uuid, 16);
	be(b, 24, 10, 8);
	be(b, 32, 1, 8);
	be(b, 40, 1, 4);
	be(b, 44, 1, 4);
	memset(b + 48, 0xaa, 32);
}

static void header_sample(struct tlevel_header *h)
{
	memset(h, 0, sizeof(*h));
	h->level = V2_LEVEL_BASE;
	memcpy(h->uuid, uuid, 16);
	h->gen = 10;
	h->n = 1;
	h->dn = 1;
	h->fn = 1;
	memset(h->anchor, 0xaa, 32);
}

/* A delta header: gen 12, N 120 (3 data blocks), residue 4..5, base 10. */
static void delta_bytes(uint8_t b[V2_TBLOCK_LEN])
{
	header_bytes(b);
	b[5] = 1;
	be(b, 24, 12, 8);
	be(b, 32, 120, 8);
	be(b, 40, 3, 4);
	be(b, 80, 4, 8);
	be(b, 88, 5, 8);
	be(b, 96, 10, 8);
	memset(b + 104, 0xbb, 32);
}

/* The CONF and OBJ entries of make_seeds_v2_table.py (e_conf(), e_obj()). */
static void conf_bytes(uint8_t b[80])
{
	memset(b, 0, 80);
	b[0] = 1;
	be(b, 40, 5, 8);
}

static void obj_bytes(uint8_t b[80])
{
	memset(b, 0, 80);
	b[0] = 4;
	for (int i = 0; i < 16; i++)
		b[1 + i] = (uint8_t)(0x50 + i);
	be(b, 40, (4ULL << 24) | 1, 8);
	be(b, 48, 12345, 8);
	be(b, 56, 0, 8);
	be(b, 64, 9, 4);
	be(b, 68, 1, 4);
	be(b, 72, UINT64_MAX, 8);
}

static const uint8_t zeros[sizeof(struct tlevel_header) + 4096];

static void expect_header(const uint8_t *b, int want)
{
	struct tlevel_header h;

	memset(&h, 0xa5, sizeof(h));
	cr_assert_eq(tlevel_header_parse(b, V2_TBLOCK_LEN, &h), want);
	if (want)
		cr_assert_eq(memcmp(&h, zeros, sizeof(h)), 0);
}

TestSuite(tlevel, .init = setup);

Test(tlevel, header_layout_and_mac_known_answer)
{
	struct tlevel_header h, back;
	uint8_t want[V2_TBLOCK_LEN], got[V2_TBLOCK_LEN], mac[32];

	header_sample(&h);
	header_bytes(want);
	memset(got, 0x5a, sizeof(got));
	cr_assert_eq(tlevel_header_write(&h, got), 0);
	cr_assert_eq(memcmp(got, want, sizeof(got)), 0);
	cr_assert_eq(tblock_mac(key, uuid, 0, 10, 0, got), 0);
	unhex(KAT_HEADER, mac, 32);
	cr_assert_eq(memcmp(got + 4064, mac, 32), 0);
	cr_assert_eq(tblock_verify(key, uuid, 0, 10, 0, got, sizeof(got)), 0);
	cr_assert_eq(tlevel_header_parse(got, sizeof(got), &back), 0);
	cr_assert_eq(memcmp(&back, &h, sizeof(h)), 0);
}

Test(tlevel, data_block_layout_and_mac_known_answer)
{
	struct tentry e[2], back[2];
	uint8_t want[V2_TBLOCK_LEN], got[V2_TBLOCK_LEN], mac[32];

	memset(want, 0, sizeof(want));
	conf_bytes(want);
	obj_bytes(want + 80);
	cr_assert_eq(tentry_parse(want, 80, &e[0]), 0);
	cr_assert_eq(tentry_parse(want + 80, 80, &e[1]), 0);
	cr_assert_eq(tdata_block_write(e, 2, V2_LEVEL_DELTA, got), 0);
	cr_assert_eq(memcmp(got, want, sizeof(got)), 0);
	cr_assert_eq(tblock_mac(key, uuid, 1, 12, 7, got), 0);
	unhex(KAT_DATA, mac, 32);
	cr_assert_eq(memcmp(got + 4064, mac, 32), 0);
	cr_assert_eq(tdata_block_parse(got, sizeof(got), V2_LEVEL_DELTA, 2, back), 0);
	cr_assert_eq(memcmp(back, e, sizeof(e)), 0);
}

Test(tlevel, mac_binds_every_byte_and_every_input)
{
	uint8_t b[V2_TBLOCK_LEN], u2[16];

	header_bytes(b);
	cr_assert_eq(tblock_mac(key, uuid, 0, 10, 0, b), 0);
	for (size_t off = 0; off < V2_TBLOCK_LEN; off++) {
		b[off] ^= 0x01;
		cr_assert_eq(tblock_verify(key, uuid, 0, 10, 0, b, sizeof(b)),
			     -EBADMSG, "byte %zu", off);
		b[off] ^= 0x01;
	}
	memcpy(u2, uuid, 16);
	u2[15] ^= 1;
	cr_assert_eq(tblock_verify(key, u2, 0, 10, 0, b, sizeof(b)), -EBADMSG);
	cr_assert_eq(tblock_verify(key, uuid, 1, 10, 0, b, sizeof(b)), -EBADMSG);
	cr_assert_eq(tblock_verify(key, uuid, 0, 11, 0, b, sizeof(b)), -EBADMSG);
	cr_assert_eq(tblock_verify(key, uuid, 0, 10, 1, b, sizeof(b)), -EBADMSG);
	key[0] ^= 1;
	cr_assert_eq(tblock_verify(key, uuid, 0, 10, 0, b, sizeof(b)), -EBADMSG);
	key[0] ^= 1;
	cr_assert_eq(tblock_verify(key, uuid, 0, 10, 0, b, sizeof(b) - 1), -EINVAL);
	cr_assert_eq(tblock_verify(key, uuid, 0, 10, 0, b, sizeof(b)), 0);
}

Test(tlevel, header_short_long_magic_version)
{
	uint8_t b[V2_TBLOCK_LEN + 1];
	struct tlevel_header h;

	header_bytes(b);
	b[V2_TBLOCK_LEN] = 0;
	cr_assert_eq(tlevel_header_parse(b, V2_TBLOCK_LEN - 1, &h), -EINVAL);
	cr_assert_eq(tlevel_header_parse(b, V2_TBLOCK_LEN + 1, &h), -EINVAL);
	cr_assert_eq(tlevel_header_parse(b, 0, &h), -EINVAL);
	for (int i = 0; i < 4; i++) {
		header_bytes(b);
		b[i] ^= 0x80;
		expect_header(b, -EPROTO);
	}
	for (int v = 0; v < 256; v++) {
		header_bytes(b);
		b[4] = (uint8_t)v;
		expect_header(b, v == 2 ? 0 : -EPROTONOSUPPORT);
	}
	/* the MAC bytes are tblock_verify's, not the parser's */
	header_bytes(b);
	memset(b + 4064, 0xee, 32);
	expect_header(b, 0);
}

Test(tlevel, header_reserved_bytes)
{
	uint8_t b[V2_TBLOCK_LEN];

	for (size_t off = 6; off < 4064; off++) {
		if (off == 8)
			off = 136;
		header_bytes(b);
		b[off] = 0x01;
		expect_header(b, -EINVAL);
	}
}

struct hcase {
	bool delta;
	size_t off;
	int n;
	uint64_t v;
	int want;
};

Test(tlevel, header_field_rules)
{
	static const struct hcase cases[] = {
		{false, 5, 1, 2, -EINVAL},                 /* level */
		{false, 24, 8, 0, -EINVAL},                /* gen */
		{false, 24, 8, V2_GEN_MAX, 0},
		{false, 24, 8, V2_GEN_MAX + 1, -EINVAL},
		{false, 32, 8, 0, -EINVAL},                /* N >= 1 */
		{false, 32, 8, 50, 0},                     /* Dn 1 */
		{false, 32, 8, 51, -EINVAL},               /* needs Dn 2 */
		{false, 40, 4, 0, -EINVAL},
		{false, 40, 4, 2, -EINVAL},
		{false, 44, 4, 0, -EINVAL},                /* Fn */
		{false, 44, 4, 2, -EINVAL},
		{false, 80, 8, 1, -EINVAL},                /* lo without hi */
		{false, 88, 8, 1, -EINVAL},                /* hi without lo */
		{false, 96, 8, 1, -EINVAL},                /* base: base gen 0 */
		{false, 104, 1, 1, -EINVAL},               /* base: base MAC 0 */
		{false, 135, 1, 1, -EINVAL},
		{true, 0, 0, 0, 0},
		{true, 96, 8, 0, -EINVAL},                 /* delta: base gen >= 1 */
		{true, 96, 8, 1, 0},
		{true, 96, 8, 11, 0},                      /* < gen 12 */
		{true, 96, 8, 12, -EINVAL},
		{true, 80, 8, 6, -EINVAL},                 /* lo > hi */
		{true, 80, 8, 5, 0},                       /* lo == hi */
		{true, 88, 8, 11, 0},                      /* hi < gen */
		{true, 88, 8, 12, -EINVAL},
		{true, 32, 8, 101, 0},                     /* 3 data blocks */
		{true, 32, 8, 100, -EINVAL},
		{true, 32, 8, 151, -EINVAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hcase *c = &cases[i];
		uint8_t b[V2_TBLOCK_LEN];

		if (c->delta)
			delta_bytes(b);
		else
			header_bytes(b);
		if (c->n)
			be(b, c->off, c->v, c->n);
		cr_assert_eq(tlevel_header_parse(b, sizeof(b), &(struct tlevel_header){0}),
			     c->want, "case %zu", i);
	}
}

Test(tlevel, header_zero_macs_refused)
{
	uint8_t b[V2_TBLOCK_LEN];

	header_bytes(b);
	memset(b + 48, 0, 32);                         /* anchor */
	expect_header(b, -EINVAL);
	delta_bytes(b);
	memset(b + 104, 0, 32);                        /* base block 0 MAC */
	expect_header(b, -EINVAL);
	delta_bytes(b);
	memset(b + 104, 0, 31);                        /* one byte is enough */
	expect_header(b, 0);
}

Test(tlevel, header_large_geometry)
{
	struct tlevel_header h, back;
	uint8_t b[V2_TBLOCK_LEN];

	header_sample(&h);
	h.n = V2_TLEVEL_N_MAX;
	h.dn = UINT32_MAX;
	h.fn = (uint32_t)tindex_blocks(UINT32_MAX);
	cr_assert_eq(tlevel_header_write(&h, b), 0);
	cr_assert_eq(tlevel_header_parse(b, sizeof(b), &back), 0);
	cr_assert_eq(memcmp(&back, &h, sizeof(h)), 0);
	h.n++;                                       /* Dn would not fit */
	cr_assert_eq(tlevel_header_write(&h, b), -EINVAL);
	cr_assert_eq(memcmp(b, zeros, sizeof(b)), 0);
}

Test(tlevel, data_counts)
{
	cr_assert_eq(tdata_count(1, 0), 1);
	cr_assert_eq(tdata_count(1, 1), 0);
	cr_assert_eq(tdata_count(50, 0), 50);
	cr_assert_eq(tdata_count(50, 1), 0);
	cr_assert_eq(tdata_count(51, 1), 1);
	cr_assert_eq(tdata_count(120, 2), 20);
	cr_assert_eq(tdata_count(V2_TLEVEL_N_MAX, UINT32_MAX - 1), 50);
	cr_assert_eq(tdata_count(V2_TLEVEL_N_MAX, UINT32_MAX), 0);
	cr_assert_eq(tdata_count(UINT64_MAX, UINT64_MAX), 0);
}

/* A full block of 50 OBJ entries with ids 0..49. */
static void full_block(struct tentry e[50], uint8_t b[V2_TBLOCK_LEN])
{
	memset(b, 0, V2_TBLOCK_LEN);
	for (int i = 0; i < 50; i++) {
		obj_bytes(b + 80 * i);
		memset(b + 80 * i + 1, 0, 16);
		b[80 * i + 16] = (uint8_t)i;
		cr_assert_eq(tentry_parse(b + 80 * i, 80, &e[i]), 0);
	}
}

Test(tlevel, data_block_rules)
{
	struct tentry e[50], out[50];
	uint8_t b[V2_TBLOCK_LEN], w[V2_TBLOCK_LEN];
	static const struct tentry zero_e[50];

	full_block(e, b);
	cr_assert_eq(tdata_block_write(e, 50, V2_LEVEL_BASE, w), 0);
	cr_assert_eq(memcmp(w, b, sizeof(b)), 0);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, out), 0);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, NULL), 0);
	/* counts: too few leaves an entry in the zero tail; too many, 0, 51 */
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 49, out), -EINVAL);
	cr_assert_eq(memcmp(out, zero_e, 49 * sizeof(*out)), 0);
	memset(b + 80 * 40, 0, 80 * 10);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 41, out), -EINVAL);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 40, out), 0);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 0, out), -EINVAL);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 51, NULL), -EINVAL);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), 2, 40, NULL), -EINVAL);
	cr_assert_eq(tdata_block_parse(b, sizeof(b) - 1, V2_LEVEL_BASE, 40, NULL), -EINVAL);
	/* every byte of the zero tail, the MAC excepted */
	for (size_t off = 80 * 40; off < 4096; off++) {
		b[off] = 0x40;
		cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 40, NULL),
			     off < 4064 ? -EINVAL : 0, "byte %zu", off);
		b[off] = 0;
	}
	/* strictly increasing: a duplicate, a swap */
	full_block(e, b);
	b[80 * 7 + 16] = 6;
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, NULL), -EINVAL);
	full_block(e, b);
	b[80 * 7 + 16] = 8;
	b[80 * 8 + 16] = 7;
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, NULL), -EINVAL);
	/* an invalid entry anywhere */
	full_block(e, b);
	b[80 * 49 + 40 + 7] = 0;                   /* meta epoch 4<<24 | 0: fine */
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, NULL), 0);
	memset(b + 80 * 49 + 40, 0, 8);            /* meta epoch 0 */
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, NULL), -EINVAL);
	/* the writer refuses what the parser would */
	full_block(e, b);
	e[3] = e[2];
	memset(w, 0x5a, sizeof(w));
	cr_assert_eq(tdata_block_write(e, 50, V2_LEVEL_BASE, w), -EINVAL);
	cr_assert_eq(memcmp(w, zeros, sizeof(w)), 0);
	cr_assert_eq(tdata_block_write(e, 0, V2_LEVEL_BASE, w), -EINVAL);
	cr_assert_eq(tdata_block_write(e, 51, V2_LEVEL_BASE, w), -EINVAL);
}

Test(tlevel, tombstones_only_in_a_delta)
{
	struct tentry e[50];
	uint8_t b[V2_TBLOCK_LEN], w[V2_TBLOCK_LEN];

	full_block(e, b);
	b[80 * 5] |= 0x80;
	memset(b + 80 * 5 + 40, 0, 40);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_BASE, 50, NULL), -EINVAL);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_DELTA, 50, e), 0);
	cr_assert(e[5].tombstone);
	cr_assert_eq(tdata_block_write(e, 50, V2_LEVEL_DELTA, w), 0);
	cr_assert_eq(memcmp(w, b, sizeof(b)), 0);
	cr_assert_eq(tdata_block_write(e, 50, V2_LEVEL_BASE, w), -EINVAL);
	/* a key appears once, as a put or as a tombstone */
	memcpy(b + 80 * 6, b + 80 * 5, 40);
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_DELTA, 50, NULL), -EINVAL);
	b[80 * 6] &= 0x7f;
	cr_assert_eq(tdata_block_parse(b, sizeof(b), V2_LEVEL_DELTA, 50, NULL), -EINVAL);
}
