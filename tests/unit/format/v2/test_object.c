/*
 * Unit tests for src/format/v2/object.c (doc/FORMAT.md §2.1, §2.2, §2.4,
 * §2.5, §4): the fixed header, the header region and companion, and the
 * meta record, against bytes written out by hand from the tables; every
 * refusal, and zeroed output on error.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

static void sample_header(struct obj_header *h)
{
	memset(h, 0, sizeof(*h));
	h->kind = V2_KIND_REG;
	h->layout = V2_LAYOUT_NATIVE;
	h->seg_size = 16384;
	h->data_offset = 1024;
	for (int i = 0; i < 16; i++) {
		h->dir_id[i] = (uint8_t)(0x10 + i);
		h->file_id[i] = (uint8_t)(0x30 + i);
	}
	h->dek_version = 3;
}

/* §2.1 offset by offset. */
static void header_bytes(uint8_t b[64])
{
	memset(b, 0, 64);
	memcpy(b, "CFRF", 4);
	b[4] = 2;
	b[5] = 1;
	b[6] = 2;
	b[7] = 0;
	b[8] = 0; b[9] = 0; b[10] = 0x40; b[11] = 0;      /* 16384 */
	b[12] = 0; b[13] = 0; b[14] = 0x04; b[15] = 0;    /* 1024 */
	for (int i = 0; i < 16; i++) {
		b[16 + i] = (uint8_t)(0x10 + i);
		b[36 + i] = (uint8_t)(0x30 + i);
	}
	b[32] = 0; b[33] = 0; b[34] = 0; b[35] = 3;
	/* 52..64 reserved, zero */
}

static void expect_header_refused(const uint8_t *b, size_t len, int want,
				  const char *what)
{
	struct obj_header h;

	memset(&h, 0xa5, sizeof(h));
	cr_expect_eq(obj_header_parse(b, len, &h), want, "%s", what);
	cr_expect(bytes_zero(&h, sizeof(h)), "%s: output not zeroed", what);
}

Test(obj_header, sizes)
{
	cr_assert_eq(V2_OBJ_HEADER_LEN, 64);
	cr_assert_eq(V2_REGION_LEN, 1024);
	cr_assert_eq(V2_COMPANION_LEN, 768);
	cr_assert_eq(V2_META_REC_LEN, 96);
}

Test(obj_header, writes_documented_layout_and_parses_it)
{
	struct obj_header h, back;
	uint8_t got[64], want[64];

	sample_header(&h);
	header_bytes(want);
	obj_header_write(&h, got);
	cr_assert_eq(memcmp(got, want, 64), 0);
	cr_assert_eq(obj_header_parse(want, 64, &back), 0);
	cr_expect_eq(memcmp(&back, &h, sizeof(h)), 0);
}

Test(obj_header, every_kind_and_seg_size_bound)
{
	uint8_t b[64];
	struct obj_header h;

	for (int k = 0; k <= 8; k++) {
		header_bytes(b);
		b[5] = (uint8_t)k;
		cr_expect_eq(obj_header_parse(b, 64, &h),
			     k >= 1 && k <= 6 ? 0 : -EINVAL, "kind %d", k);
	}
	static const struct { uint32_t s; int want; } segs[] = {
		{ 4096, 0 }, { 65536, 0 }, { 8192, 0 }, { 2048, -EINVAL },
		{ 131072, -EINVAL }, { 4095, -EINVAL }, { 12288, -EINVAL },
		{ 0, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		header_bytes(b);
		b[8] = (uint8_t)(segs[i].s >> 24);
		b[9] = (uint8_t)(segs[i].s >> 16);
		b[10] = (uint8_t)(segs[i].s >> 8);
		b[11] = (uint8_t)segs[i].s;
		cr_expect_eq(obj_header_parse(b, 64, &h), segs[i].want,
			     "seg_size %u", segs[i].s);
	}
}

Test(obj_header, refusals)
{
	uint8_t b[65];

	header_bytes(b);
	expect_header_refused(b, 63, -EINVAL, "short");
	b[64] = 0;
	expect_header_refused(b, 65, -EINVAL, "long");
	expect_header_refused(NULL, 0, -EINVAL, "empty");
	b[0] = 'X';
	expect_header_refused(b, 64, -EPROTO, "magic");
	header_bytes(b);
	b[3] = 'D';
	expect_header_refused(b, 64, -EPROTO, "magic CFRD");
	header_bytes(b);
	b[4] = 1;
	expect_header_refused(b, 64, -EPROTONOSUPPORT, "version 1");
	b[4] = 3;
	expect_header_refused(b, 64, -EPROTONOSUPPORT, "version 3");
	header_bytes(b);
	b[7] = 1;
	expect_header_refused(b, 64, -EINVAL, "reserved byte 7");
	for (int i = 52; i < 64; i++) {
		header_bytes(b);
		b[i] = 0x80;
		expect_header_refused(b, 64, -EINVAL, "reserved tail");
	}
	header_bytes(b);
	b[35] = 0;
	expect_header_refused(b, 64, -EINVAL, "dek_version 0");
	header_bytes(b);
	b[6] = 3;
	expect_header_refused(b, 64, -EINVAL, "layout 3");
	header_bytes(b);
	b[6] = 0;
	expect_header_refused(b, 64, -EINVAL, "layout 0");
	header_bytes(b);
	b[14] = 0; /* data_offset 0 with layout 2 */
	expect_header_refused(b, 64, -EINVAL, "native data_offset 0");
	header_bytes(b);
	b[15] = 1; /* 1025 */
	expect_header_refused(b, 64, -EINVAL, "native data_offset 1025");
}

Test(obj_header, legacy_companion_header)
{
	uint8_t b[64];
	struct obj_header h;

	header_bytes(b);
	b[6] = 1;
	b[14] = 0;
	cr_expect_eq(obj_header_parse(b, 64, &h), 0);
	cr_expect_eq(h.layout, V2_LAYOUT_LEGACY);
	cr_expect_eq(h.data_offset, 0);
	b[5] = 2;
	expect_header_refused(b, 64, -EINVAL, "legacy symlink");
	b[5] = 1;
	b[14] = 4;
	expect_header_refused(b, 64, -EINVAL, "legacy data_offset 1024");
}

Test(obj_header, legacy_file_recognised)
{
	uint8_t v1[48] = { 'C', 'F', 'R', 'F', 1 };
	uint8_t b[64];

	cr_expect(obj_is_legacy_file(v1, sizeof(v1)));
	cr_expect(obj_is_legacy_file(v1, 5));
	cr_expect_not(obj_is_legacy_file(v1, 4));
	header_bytes(b);
	cr_expect_not(obj_is_legacy_file(b, 64));
	v1[0] = 'X';
	cr_expect_not(obj_is_legacy_file(v1, sizeof(v1)));
}

static void region_bytes(uint8_t b[1024])
{
	memset(b, 0, 1024);
	header_bytes(b);
	memset(b + 256, 0x11, 256);
	memset(b + 512, 0x22, 256);
}

Test(obj_region, native_layout)
{
	uint8_t b[1024], out[1024];
	struct obj_region r;

	region_bytes(b);
	cr_assert_eq(obj_region_parse(b, 1024, &r), 0);
	cr_expect_eq(memcmp(r.header, b, 64), 0);
	cr_expect_eq(r.h.layout, V2_LAYOUT_NATIVE);
	cr_expect_eq(r.slot[0][0], 0x11);
	cr_expect_eq(r.slot[0][255], 0x11);
	cr_expect_eq(r.slot[1][0], 0x22);
	memset(out, 0xee, sizeof(out));
	cr_assert_eq(obj_region_write(&r, out, 1024), 0);
	cr_expect_eq(memcmp(out, b, 1024), 0);
	cr_expect_eq(obj_region_write(&r, out, 768), -EINVAL);
	cr_expect_eq(obj_region_write(&r, out, 1000), -EINVAL);
}

Test(obj_region, refusals)
{
	static const size_t gaps[] = { 64, 200, 255, 768, 900, 1023 };
	uint8_t b[1025];
	struct obj_region r;

	for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
		region_bytes(b);
		b[gaps[i]] = 1;
		memset(&r, 0xa5, sizeof(r));
		cr_expect_eq(obj_region_parse(b, 1024, &r), -EINVAL,
			     "gap byte %zu", gaps[i]);
		cr_expect(bytes_zero(&r, sizeof(r)));
	}
	region_bytes(b);
	b[1024] = 0;
	cr_expect_eq(obj_region_parse(b, 1025, &r), -EINVAL);
	cr_expect_eq(obj_region_parse(b, 1023, &r), -EINVAL);
	cr_expect_eq(obj_region_parse(b, 64, &r), -EINVAL);
	b[0] = 'X';
	cr_expect_eq(obj_region_parse(b, 1024, &r), -EPROTO);
	/* A native header in a companion, and a legacy one in a region. */
	region_bytes(b);
	cr_expect_eq(obj_region_parse(b, 768, &r), -EINVAL);
	b[6] = 1;
	b[14] = 0;
	cr_expect_eq(obj_region_parse(b, 1024, &r), -EINVAL);
	cr_expect_eq(obj_region_parse(b, 768, &r), 0);
	cr_expect_eq(r.h.layout, V2_LAYOUT_LEGACY);
}

Test(obj_region, companion_round_trip)
{
	uint8_t b[1024], out[768];
	struct obj_region r;

	region_bytes(b);
	b[6] = 1;
	b[14] = 0;
	cr_assert_eq(obj_region_parse(b, 768, &r), 0);
	cr_assert_eq(obj_region_write(&r, out, 768), 0);
	cr_expect_eq(memcmp(out, b, 768), 0);
	cr_expect_eq(obj_region_write(&r, b, 1024), -EINVAL);
}

static void sample_record(struct meta_record *m)
{
	memset(m, 0, sizeof(*m));
	m->mode = 04755;
	m->uid = 1000;
	m->gid = 100;
	memset(m->cur_parent, 0x51, 16);
	memset(m->cur_name, 0x52, 16);
}

/* §2.4 by hand: the plaintext of make_seeds_v2_object.py's meta_record(). */
static void record_bytes(uint8_t b[96])
{
	memset(b, 0, 96);
	b[2] = 0x09; b[3] = 0xed;                  /* 04755 */
	b[6] = 0x03; b[7] = 0xe8;                  /* 1000 */
	b[11] = 100;
	memset(b + 24, 0x51, 16);
	memset(b + 40, 0x52, 16);
}

static void expect_record(const uint8_t *b, uint8_t kind, int want,
			  const char *what)
{
	struct meta_record m;

	memset(&m, 0xa5, sizeof(m));
	cr_expect_eq(meta_record_parse(b, 96, kind, &m), want, "%s", what);
	if (want)
		cr_expect(bytes_zero(&m, sizeof(m)), "%s: not zeroed", what);
}

Test(meta_record, writes_documented_layout)
{
	struct meta_record m, back;
	uint8_t got[96], want[96];

	sample_record(&m);
	record_bytes(want);
	meta_record_write(&m, got);
	cr_assert_eq(memcmp(got, want, 96), 0);
	cr_assert_eq(meta_record_parse(want, 96, V2_KIND_REG, &back), 0);
	cr_expect_eq(memcmp(&back, &m, sizeof(m)), 0);
	m.flags = V2_META_LINK;
	m.rdev_major = 0x01020304;
	m.rdev_minor = 0x05060708;
	memset(m.prev_parent, 0x61, 16);
	memset(m.prev_name, 0x62, 16);
	meta_record_write(&m, got);
	cr_expect_eq(got[15], 1);
	cr_expect_eq(got[16], 1);
	cr_expect_eq(got[23], 8);
	cr_expect_eq(got[56], 0x61);
	cr_expect_eq(got[87], 0x62);
	cr_expect(bytes_zero(got + 88, 8));
}

Test(meta_record, mode_flags_and_reserved)
{
	uint8_t b[97];

	record_bytes(b);
	b[2] = 0x0f; b[3] = 0xff;                  /* 07777 */
	expect_record(b, V2_KIND_REG, 0, "mode 07777");
	b[2] = 0x10; b[3] = 0x00;                  /* 010000 */
	expect_record(b, V2_KIND_REG, -EINVAL, "mode 010000");
	record_bytes(b);
	b[0] = 0x80;
	expect_record(b, V2_KIND_REG, -EINVAL, "mode high bit");
	for (int bit = 1; bit < 32; bit++) {
		record_bytes(b);
		b[15 - bit / 8] = (uint8_t)(1u << (bit % 8));
		expect_record(b, V2_KIND_REG, -EINVAL, "flag bit");
	}
	for (int i = 88; i < 96; i++) {
		record_bytes(b);
		b[i] = 1;
		expect_record(b, V2_KIND_REG, -EINVAL, "reserved");
	}
	record_bytes(b);
	struct meta_record m;
	cr_expect_eq(meta_record_parse(b, 95, 1, &m), -EINVAL);
	b[96] = 0;
	cr_expect_eq(meta_record_parse(b, 97, 1, &m), -EINVAL);
}

Test(meta_record, rdev_only_for_devices)
{
	uint8_t b[96];

	for (int kind = 0; kind <= 7; kind++) {
		bool dev = kind == 5 || kind == 6;

		record_bytes(b);
		b[19] = 8;
		expect_record(b, (uint8_t)kind, dev ? 0 : -EINVAL, "major");
		record_bytes(b);
		b[20] = 1;
		expect_record(b, (uint8_t)kind, dev ? 0 : -EINVAL, "minor");
		record_bytes(b);
		expect_record(b, (uint8_t)kind, kind <= 6 ? 0 : -EINVAL,
			      "no rdev");
	}
}

Test(meta_record, binding_shape)
{
	uint8_t b[96];
	struct meta_record m;

	record_bytes(b);
	memset(b + 56, 0x61, 32);                   /* prev */
	expect_record(b, 1, 0, "cur and prev");
	b[15] = 1;
	expect_record(b, 1, 0, "link with prev");
	record_bytes(b);
	b[15] = 1;
	expect_record(b, 1, -EINVAL, "link without prev");
	record_bytes(b);
	memset(b + 40, 0, 16);
	expect_record(b, 1, -EINVAL, "cur parent without name");
	record_bytes(b);
	memset(b + 56, 0x61, 16);
	expect_record(b, 1, -EINVAL, "prev parent without name");
	record_bytes(b);
	memset(b + 24, 0, 32);
	expect_record(b, 1, 0, "no binding");
	cr_assert_eq(meta_record_parse(b, 96, 0, &m), 0);
	cr_expect(meta_binding_is_zero(&m));
	memset(b + 56, 0x61, 32);
	expect_record(b, 1, -EINVAL, "prev without cur");
	record_bytes(b);
	cr_assert_eq(meta_record_parse(b, 96, 1, &m), 0);
	cr_expect_not(meta_binding_is_zero(&m));
}
