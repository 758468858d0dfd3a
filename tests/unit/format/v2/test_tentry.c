/* Unit tests for src/format/v2/tentry.c (doc/FORMAT.md §12.1): every kind's
 * layout written out by hand, every unused byte, every field bound. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/table.h"

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

static void fill_id(uint8_t id[16], uint8_t first)
{
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(first + i);
}

/* One sample per kind: the struct, and its bytes built from the table. */
static void sample(int kind, struct tentry *e, uint8_t b[V2_TENTRY_LEN])
{
	memset(e, 0, sizeof(*e));
	memset(b, 0, V2_TENTRY_LEN);
	e->kind = (uint8_t)kind;
	b[0] = (uint8_t)kind;
	switch (kind) {
	case V2_TK_CONF:
		e->u.conf.generation = 0x123456789aULL;
		be(b, 40, 0x123456789aULL, 8);
		break;
	case V2_TK_ESC:
	case V2_TK_ESCNEXT:
		e->u.esc.mk_version = 0x01020304;
		be(b, 1, 0x01020304, 4);
		for (int i = 0; i < 32; i++)
			e->u.esc.sha[i] = b[40 + i] = (uint8_t)(0xe0 + i);
		break;
	case V2_TK_KEY:
		fill_id(e->u.key.dir_id, 0x40);
		ids(b, 1, 0x40);
		e->u.key.dek_version = 7;
		be(b, 17, 7, 4);
		e->u.key.mk_version = 0x00010002;
		be(b, 40, 0x00010002, 4);
		e->u.key.state = V2_KEY_DESTROYED;
		b[44] = 2;
		e->u.key.gen = V2_GEN_MAX;
		be(b, 48, V2_GEN_MAX, 8);
		break;
	case V2_TK_OBJ:
		fill_id(e->u.obj.id, 0x50);
		ids(b, 1, 0x50);
		e->u.obj.meta_epoch = v2_epoch(4, 1);
		be(b, 40, (4ULL << 24) | 1, 8);
		e->u.obj.size = 0x7fffffffffffffffULL;
		be(b, 48, 0x7fffffffffffffffULL, 8);
		e->u.obj.xattr_epoch = v2_epoch(5, 0xffffff);
		be(b, 56, (5ULL << 24) | 0xffffff, 8);
		e->u.obj.seals = 0x80000001;
		be(b, 64, 0x80000001, 4);
		e->u.obj.names = 3;
		be(b, 68, 3, 4);
		e->u.obj.mtime = -2;
		be(b, 72, 0xfffffffffffffffeULL, 8);
		break;
	case V2_TK_NAME:
		fill_id(e->u.name.parent, 0x40);
		fill_id(e->u.name.name_id, 0x60);
		fill_id(e->u.name.object_id, 0x50);
		ids(b, 1, 0x40);
		ids(b, 17, 0x60);
		ids(b, 40, 0x50);
		e->u.name.type = 7;
		b[56] = 7;
		break;
	case V2_TK_MAP:
		fill_id(e->u.map.file_id, 0x50);
		ids(b, 1, 0x50);
		e->u.map.group = 0xfffffffe;
		be(b, 17, 0xfffffffe, 4);
		e->u.map.form = V2_MAP_EXPLICIT;
		b[40] = 2;
		e->u.map.count = 512;
		be(b, 44, 512, 4);
		e->u.map.epoch = 9ULL << 24;
		be(b, 48, 9ULL << 24, 8);
		break;
	case V2_TK_TORN:
		fill_id(e->u.torn.file_id, 0x50);
		ids(b, 1, 0x50);
		e->u.torn.segment = 0x1ffffffffffULL;
		be(b, 17, 0x1ffffffffffULL, 8);
		e->u.torn.gen = 6;
		be(b, 40, 6, 8);
		break;
	}
}

/* The bytes each kind uses (everything else must be zero). */
static bool used(int kind, size_t off)
{
	static const struct { size_t a, b; } r[9][4] = {
		[V2_TK_CONF] = {{0, 1}, {40, 48}},
		[V2_TK_ESC] = {{0, 5}, {40, 72}},
		[V2_TK_KEY] = {{0, 21}, {40, 45}, {48, 56}},
		[V2_TK_OBJ] = {{0, 17}, {40, 80}},
		[V2_TK_NAME] = {{0, 33}, {40, 57}},
		[V2_TK_MAP] = {{0, 21}, {40, 41}, {44, 56}},
		[V2_TK_TORN] = {{0, 25}, {40, 48}},
		[V2_TK_ESCNEXT] = {{0, 5}, {40, 72}},
	};

	for (int i = 0; i < 4; i++)
		if (off >= r[kind][i].a && off < r[kind][i].b)
			return true;
	return false;
}

static const uint8_t zero80[V2_TENTRY_LEN];

static void expect_bad(const uint8_t b[V2_TENTRY_LEN])
{
	struct tentry e;

	memset(&e, 0xa5, sizeof(e));
	cr_assert_eq(tentry_parse(b, V2_TENTRY_LEN, &e), -EINVAL);
	cr_assert_eq(memcmp(&e, zero80, sizeof(e) < 80 ? sizeof(e) : 80), 0);
}

static void expect_struct_bad(const struct tentry *e)
{
	uint8_t out[V2_TENTRY_LEN];

	memset(out, 0xa5, sizeof(out));
	cr_assert_not(tentry_valid(e));
	cr_assert_eq(tentry_write(e, out), -EINVAL);
	cr_assert_eq(memcmp(out, zero80, sizeof(out)), 0);
}

Test(tentry, sizes)
{
	cr_assert_eq(V2_TENTRY_LEN, 80);
	cr_assert_eq(V2_TKEY_LEN, 40);
	cr_assert(sizeof(struct tentry) <= 80);
}

Test(tentry, every_kind_writes_documented_layout_and_parses_back)
{
	for (int k = 1; k <= V2_TK_MAX; k++) {
		struct tentry e, back;
		uint8_t want[V2_TENTRY_LEN], got[V2_TENTRY_LEN], key[V2_TKEY_LEN];

		sample(k, &e, want);
		cr_assert_eq(tentry_write(&e, got), 0, "kind %d", k);
		cr_assert_eq(memcmp(got, want, sizeof(got)), 0, "kind %d", k);
		cr_assert_eq(tentry_parse(want, sizeof(want), &back), 0, "kind %d", k);
		cr_assert_eq(memcmp(&back, &e, sizeof(e)), 0, "kind %d", k);
		cr_assert_eq(tentry_key_write(&e, key), 0);
		cr_assert_eq(memcmp(key, want, sizeof(key)), 0);
		cr_assert_eq(tentry_key_parse(key, sizeof(key), &back), 0);
		cr_assert_eq(tkey_cmp(key, want), 0);
	}
}

Test(tentry, every_unused_byte_is_checked)
{
	for (int k = 1; k <= V2_TK_MAX; k++) {
		for (size_t off = 1; off < V2_TENTRY_LEN; off++) {
			struct tentry e;
			uint8_t b[V2_TENTRY_LEN];

			if (used(k, off))
				continue;
			sample(k, &e, b);
			b[off] = 0x01;
			expect_bad(b);
			if (off < V2_TKEY_LEN)
				cr_assert_eq(tentry_key_parse(b, V2_TKEY_LEN, &e), -EINVAL);
		}
	}
}

Test(tentry, short_long_and_kinds)
{
	struct tentry e;
	uint8_t b[V2_TENTRY_LEN + 1];

	sample(V2_TK_CONF, &e, b);
	b[80] = 0;
	for (size_t len = 0; len < V2_TENTRY_LEN; len++)
		cr_assert_eq(tentry_parse(b, len, &e), -EINVAL);
	cr_assert_eq(tentry_parse(b, sizeof(b), &e), -EINVAL);
	cr_assert_eq(tentry_key_parse(b, 39, &e), -EINVAL);
	cr_assert_eq(tentry_key_parse(b, 41, &e), -EINVAL);
	cr_assert_eq(tentry_parse(b, V2_TENTRY_LEN, &e), 0);
	for (int k = 0; k < 256; k++) {
		int base = k & 0x7f;

		if (base >= 1 && base <= V2_TK_MAX)
			continue;
		b[0] = (uint8_t)k;
		expect_bad(b);
	}
}

/* Set one field in the bytes and say whether the entry must parse. */
struct field_case {
	int kind;
	size_t off;
	int n;
	uint64_t v;
	bool ok;
};

Test(tentry, field_bounds)
{
	static const struct field_case cases[] = {
		{V2_TK_CONF, 40, 8, 0, false},
		{V2_TK_CONF, 40, 8, 1, true},
		{V2_TK_CONF, 40, 8, V2_GEN_MAX, true},
		{V2_TK_CONF, 40, 8, V2_GEN_MAX + 1, false},
		{V2_TK_ESC, 1, 4, 0, false},
		{V2_TK_ESC, 1, 4, 1, true},
		{V2_TK_ESCNEXT, 1, 4, 0, false},
		{V2_TK_ESCNEXT, 1, 4, 0xffffffff, true},
		{V2_TK_KEY, 17, 4, 0, false},
		{V2_TK_KEY, 17, 4, 1, true},
		{V2_TK_KEY, 40, 4, 0, false},
		{V2_TK_KEY, 40, 4, 1, true},
		{V2_TK_KEY, 44, 1, 0, false},
		{V2_TK_KEY, 44, 1, 1, true},
		{V2_TK_KEY, 44, 1, 2, true},
		{V2_TK_KEY, 44, 1, 3, false},
		{V2_TK_KEY, 48, 8, 0, false},
		{V2_TK_KEY, 48, 8, 1, true},
		{V2_TK_KEY, 48, 8, V2_GEN_MAX + 1, false},
		{V2_TK_OBJ, 40, 8, 0, false},
		{V2_TK_OBJ, 40, 8, V2_SEQ_MAX, false},           /* gen 0 */
		{V2_TK_OBJ, 40, 8, 1ULL << 24, true},
		{V2_TK_OBJ, 40, 8, (V2_GEN_MAX << 24) | V2_SEQ_MAX, true},
		{V2_TK_OBJ, 40, 8, 1ULL << 63, false},           /* legacy mark */
		{V2_TK_OBJ, 48, 8, 0, true},
		{V2_TK_OBJ, 48, 8, 0x8000000000000000ULL, false},
		{V2_TK_OBJ, 56, 8, 0, true},
		{V2_TK_OBJ, 56, 8, 1, false},
		{V2_TK_OBJ, 56, 8, 1ULL << 24, true},
		{V2_TK_OBJ, 64, 4, 0xffffffff, true},
		{V2_TK_OBJ, 68, 4, 0, true},
		{V2_TK_OBJ, 72, 8, 0x8000000000000000ULL, true},
		{V2_TK_NAME, 56, 1, 0, false},
		{V2_TK_NAME, 56, 1, 1, true},
		{V2_TK_NAME, 56, 1, 6, true},
		{V2_TK_NAME, 56, 1, 8, false},
		{V2_TK_MAP, 40, 1, 0, false},
		{V2_TK_MAP, 40, 1, 1, true},
		{V2_TK_MAP, 40, 1, 3, false},
		{V2_TK_MAP, 44, 4, 0, false},
		{V2_TK_MAP, 44, 4, 1, true},
		{V2_TK_MAP, 44, 4, 513, false},
		{V2_TK_MAP, 48, 8, (9ULL << 24) | 1, false},     /* explicit: seq 0 */
		{V2_TK_MAP, 48, 8, 0, false},
		{V2_TK_MAP, 48, 8, V2_GEN_MAX << 24, true},
		{V2_TK_MAP, 48, 8, (V2_GEN_MAX + 1) << 24, false},
		{V2_TK_TORN, 17, 8, 0, true},
		{V2_TK_TORN, 17, 8, 0x20000000000ULL, false},    /* group 2^32 */
		{V2_TK_TORN, 40, 8, 0, false},
		{V2_TK_TORN, 40, 8, V2_GEN_MAX, true},
		{V2_TK_TORN, 40, 8, V2_GEN_MAX + 1, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct field_case *fc = &cases[i];
		struct tentry e;
		uint8_t b[V2_TENTRY_LEN], again[V2_TENTRY_LEN];

		sample(fc->kind, &e, b);
		be(b, fc->off, fc->v, fc->n);
		if (fc->ok) {
			cr_assert_eq(tentry_parse(b, sizeof(b), &e), 0, "case %zu", i);
			cr_assert_eq(tentry_write(&e, again), 0);
			cr_assert_eq(memcmp(again, b, sizeof(b)), 0);
		} else {
			expect_bad(b);
		}
	}
}

Test(tentry, uniform_map_takes_any_valid_epoch)
{
	struct tentry e;
	uint8_t b[V2_TENTRY_LEN];

	sample(V2_TK_MAP, &e, b);
	b[40] = 1;
	be(b, 48, (9ULL << 24) | 77, 8);
	cr_assert_eq(tentry_parse(b, sizeof(b), &e), 0);
	cr_assert_eq(e.u.map.epoch, (9ULL << 24) | 77);
	be(b, 48, 77, 8);                                 /* gen 0 */
	expect_bad(b);
}

Test(tentry, esc_hash_zero_only_for_escnext)
{
	struct tentry e;
	uint8_t b[V2_TENTRY_LEN];

	sample(V2_TK_ESC, &e, b);
	memset(b + 40, 0, 32);
	expect_bad(b);
	sample(V2_TK_ESCNEXT, &e, b);
	memset(b + 40, 0, 32);
	cr_assert_eq(tentry_parse(b, sizeof(b), &e), 0);
}

Test(tentry, struct_rules_refused_by_writer)
{
	struct tentry e;
	uint8_t b[V2_TENTRY_LEN];

	sample(V2_TK_KEY, &e, b);
	e.u.key.state = 0;
	expect_struct_bad(&e);
	sample(V2_TK_MAP, &e, b);
	e.u.map.count = 0;
	expect_struct_bad(&e);
	sample(V2_TK_CONF, &e, b);
	e.kind = 0;
	expect_struct_bad(&e);
	e.kind = 9;
	expect_struct_bad(&e);
	sample(V2_TK_KEY, &e, b);
	e.u.key.dek_version = 0;
	e.tombstone = true;                     /* a tombstone's key obeys too */
	expect_struct_bad(&e);
}

Test(tentry, tombstones)
{
	for (int k = 1; k <= V2_TK_MAX; k++) {
		struct tentry e, back;
		uint8_t b[V2_TENTRY_LEN], got[V2_TENTRY_LEN], key[V2_TKEY_LEN];

		sample(k, &e, b);
		b[0] |= 0x80;
		memset(b + 40, 0, 40);
		cr_assert_eq(tentry_parse(b, sizeof(b), &back), 0, "kind %d", k);
		cr_assert(back.tombstone);
		cr_assert_eq(back.kind, k);
		/* the writer ignores the value fields of a tombstone */
		e.tombstone = true;
		cr_assert_eq(tentry_write(&e, got), 0);
		cr_assert_eq(memcmp(got, b, sizeof(b)), 0);
		for (size_t off = 40; off < 80; off++) {
			uint8_t t[V2_TENTRY_LEN];

			memcpy(t, b, sizeof(t));
			t[off] = 0x80;
			expect_bad(t);
		}
		/* a key alone never carries the bit */
		memcpy(key, b, sizeof(key));
		cr_assert_eq(tentry_key_parse(key, sizeof(key), &back), -EINVAL);
		cr_assert_eq(back.kind, 0);
	}
}

Test(tentry, order_is_kind_then_key_without_tombstone_bit)
{
	struct tentry e;
	uint8_t a[V2_TENTRY_LEN], b[V2_TENTRY_LEN];

	sample(V2_TK_CONF, &e, a);
	sample(V2_TK_ESC, &e, b);
	cr_assert_lt(tkey_cmp(a, b), 0);
	cr_assert_gt(tkey_cmp(b, a), 0);
	a[0] |= 0x80;                           /* CONF tombstone still first */
	cr_assert_lt(tkey_cmp(a, b), 0);
	sample(V2_TK_OBJ, &e, a);
	memcpy(b, a, sizeof(b));
	b[0] |= 0x80;
	cr_assert_eq(tkey_cmp(a, b), 0);
	b[79] ^= 1;                             /* values do not order */
	b[45] ^= 1;
	cr_assert_eq(tkey_cmp(a, b), 0);
	b[39] = 1;                              /* the last key byte does */
	cr_assert_lt(tkey_cmp(a, b), 0);
	b[39] = 0;
	b[16] = 0;                              /* 0x5f -> 0 */
	cr_assert_gt(tkey_cmp(a, b), 0);
	/* the kind byte outranks the key, unsigned */
	sample(V2_TK_ESCNEXT, &e, b);
	sample(V2_TK_TORN, &e, a);
	cr_assert_lt(tkey_cmp(a, b), 0);
}
