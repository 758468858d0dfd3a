/*
 * Tampering tests for src/store/file.c: every byte of a small 3-segment
 * file flipped in turn (the header through a fresh header read and key
 * derivation, as an open does), truncation at a segment boundary and down
 * to the header, a segment appended from another file, swapped segments.
 * Every case must read -EIO and never put data in the caller's buffer.
 */
#include <stdio.h>

#include "store_test.h"

#include <criterion/redirect.h>

#define S 4096u
#define SIZE (2 * S + 100)
#define SENTINEL 0xa5

static uint8_t model[4 * S];

static void make_file(struct tfile *t, uint64_t size)
{
	tfile_create(t, S, false);
	for (size_t i = 0; i < size; i++)
		model[i] = (uint8_t)(i * 31 + 7);
	cr_assert_eq(store_write(&t->f, model, size, 0), (ssize_t)size);
}

/* Read [off, off+len) as a fresh open would: header, key, size, read.
 * Returns the read's result or the first error; b is checked untouched
 * on error. */
static ssize_t open_and_read(const struct tfile *t, uint8_t *b, size_t len,
			     uint64_t off)
{
	struct file_header h;
	struct aead_key k;
	struct store_file f;
	ssize_t n;

	memset(b, SENTINEL, len);
	if (store_read_header(t->f.fd, &h) != 0)
		return -EIO;
	cr_assert_eq(test_file_key(t->dek, &h, &k), 0);
	if (store_file_init(&f, t->f.fd, &h, false, &k, t->path) != 0)
		return -EIO;
	n = store_read(&f, b, len, off);
	if (n < 0)
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(b[i], SENTINEL,
				     "failed read wrote byte %zu", i);
	return n;
}

static void flip(const struct tfile *t, uint64_t pos, uint8_t mask)
{
	uint8_t c;

	cr_assert_eq(pread(t->f.fd, &c, 1, (off_t)pos), 1);
	c ^= mask;
	cr_assert_eq(pwrite(t->f.fd, &c, 1, (off_t)pos), 1);
}

Test(store_tamper, every_byte_flipped, .init = cr_redirect_stderr,
     .timeout = 280)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct tfile t;
	uint8_t b[4 * S];
	uint64_t total;

	make_file(&t, SIZE);
	total = backing_size(t.f.fd);
	cr_assert_eq(total, cipher_size(S, SIZE));
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), SIZE);
	cr_assert(memcmp(b, model, SIZE) == 0);

	for (uint64_t pos = 0; pos < total; pos++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			flip(&t, pos, masks[m]);
			cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO,
				     "byte %llu ^ %#x went unnoticed",
				     (unsigned long long)pos, masks[m]);
			if (pos >= COFFRE_FILE_HEADER_LEN) {
				/* Only the segment holding it fails. */
				uint64_t seg = (pos - COFFRE_FILE_HEADER_LEN) /
					       (S + COFFRE_SEG_OVERHEAD);

				for (uint64_t i = 0; i < 3; i++) {
					ssize_t want = i == 2 ? 100 : S;

					cr_assert_eq(open_and_read(&t, b, S, i * S),
						     i == seg ? -EIO : want);
					if (i != seg)
						cr_assert(memcmp(b, model + i * S,
								 (size_t)want) == 0);
				}
			}
			flip(&t, pos, masks[m]);
		}
	}
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), SIZE);
	cr_assert(memcmp(b, model, SIZE) == 0);
	tfile_destroy(&t);
}

Test(store_tamper, log_line_names_path_and_segment, .init = cr_redirect_stderr)
{
	struct tfile t;
	uint8_t b[4 * S];
	char want[128], got[512];

	make_file(&t, SIZE);
	flip(&t, seg_offset(S, 1) + 40, 0x04);
	cr_assert_eq(store_read(&t.f, b, sizeof(b), 0), -EIO);
	fflush(stderr);
	/* After the stamp, "coffre[PID] error: " (src/log's own tests check it). */
	snprintf(want, sizeof(want),
		 " error: authentication failed: %s segment 1\n", t.path);
	got[fread(got, 1, sizeof(got) - 1, cr_get_redirected_stderr())] = '\0';
	cr_assert(strlen(got) > strlen(want) &&
		  !strcmp(got + strlen(got) - strlen(want), want), "%s", got);
	cr_assert_eq(strchr(got, '\n'), got + strlen(got) - 1);
	tfile_destroy(&t);
}

Test(store_tamper, truncated, .init = cr_redirect_stderr)
{
	struct tfile t;
	uint8_t b[4 * S];

	/* By one segment, at a boundary: the new last one is unflagged. */
	make_file(&t, 3 * S);
	cr_assert_eq(ftruncate(t.f.fd, (off_t)cipher_size(S, 2 * S)), 0);
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	cr_assert_eq(open_and_read(&t, b, S, S), -EIO);
	cr_assert_eq(open_and_read(&t, b, S, 0), S, "segment 0 is intact");
	tfile_destroy(&t);

	/* The partial last segment cut off. */
	make_file(&t, SIZE);
	cr_assert_eq(ftruncate(t.f.fd, (off_t)cipher_size(S, 2 * S)), 0);
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	/* Down to one sealed-segment's length, to the header, to nothing. */
	cr_assert_eq(ftruncate(t.f.fd, COFFRE_FILE_HEADER_LEN + COFFRE_SEG_OVERHEAD), 0);
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	cr_assert_eq(ftruncate(t.f.fd, COFFRE_FILE_HEADER_LEN), 0);
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	cr_assert_eq(ftruncate(t.f.fd, 0), 0);
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	tfile_destroy(&t);
}

Test(store_tamper, short_backing_file, .init = cr_redirect_stderr)
{
	struct tfile t;
	uint8_t b[4 * S];

	/* The handle's size says more than the file holds. */
	make_file(&t, SIZE);
	cr_assert_eq(ftruncate(t.f.fd, (off_t)cipher_size(S, SIZE) - 1), 0);
	memset(b, SENTINEL, sizeof(b));
	cr_assert_eq(store_read(&t.f, b, sizeof(b), 0), -EIO);
	cr_assert_eq(b[0], SENTINEL);
	tfile_destroy(&t);
}

Test(store_tamper, segment_from_another_file, .init = cr_redirect_stderr)
{
	struct tfile t, other;
	uint8_t seg[S + COFFRE_SEG_OVERHEAD], b[5 * S];

	make_file(&other, 4 * S);
	cr_assert_eq(pread(other.f.fd, seg, sizeof(seg),
			   (off_t)seg_offset(S, 3)), (ssize_t)sizeof(seg));
	tfile_destroy(&other);

	make_file(&t, 3 * S);
	cr_assert_eq(pwrite(t.f.fd, seg, sizeof(seg), (off_t)seg_offset(S, 3)),
		     (ssize_t)sizeof(seg));
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	cr_assert_eq(open_and_read(&t, b, S, 3 * S), -EIO);

	/* In place of a middle segment, too. */
	cr_assert_eq(ftruncate(t.f.fd, (off_t)cipher_size(S, 3 * S)), 0);
	cr_assert_eq(pwrite(t.f.fd, seg, sizeof(seg), (off_t)seg_offset(S, 1)),
		     (ssize_t)sizeof(seg));
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	cr_assert_eq(open_and_read(&t, b, S, S), -EIO);
	tfile_destroy(&t);
}

Test(store_tamper, swapped_segments, .init = cr_redirect_stderr)
{
	struct tfile t;
	uint8_t s0[S + COFFRE_SEG_OVERHEAD], s1[S + COFFRE_SEG_OVERHEAD];
	uint8_t b[4 * S];

	make_file(&t, SIZE);
	cr_assert_eq(pread(t.f.fd, s0, sizeof(s0), (off_t)seg_offset(S, 0)),
		     (ssize_t)sizeof(s0));
	cr_assert_eq(pread(t.f.fd, s1, sizeof(s1), (off_t)seg_offset(S, 1)),
		     (ssize_t)sizeof(s1));
	cr_assert_eq(pwrite(t.f.fd, s1, sizeof(s1), (off_t)seg_offset(S, 0)),
		     (ssize_t)sizeof(s1));
	cr_assert_eq(pwrite(t.f.fd, s0, sizeof(s0), (off_t)seg_offset(S, 1)),
		     (ssize_t)sizeof(s0));
	cr_assert_eq(open_and_read(&t, b, sizeof(b), 0), -EIO);
	cr_assert_eq(open_and_read(&t, b, S, 0), -EIO);
	cr_assert_eq(open_and_read(&t, b, S, S), -EIO);
	cr_assert_eq(open_and_read(&t, b, 100, 2 * S), 100);
	tfile_destroy(&t);
}

Test(store_tamper, writes_refuse_bad_edges, .init = cr_redirect_stderr)
{
	/* A read-modify-write never re-seals data that did not authenticate. */
	struct tfile t;
	uint8_t b[16] = { 0 }, pt[S];

	make_file(&t, SIZE);
	flip(&t, seg_offset(S, 1) + 100, 0x10);
	cr_assert_eq(store_write(&t.f, b, sizeof(b), S + 5), -EIO);
	cr_assert_eq(raw_open(&t, 1, S, false, pt), -EBADMSG);
	cr_assert_eq(store_truncate(&t.f, S + 50), -EIO);
	cr_assert_eq(t.f.size, SIZE);
	/* Overwriting the whole segment replaces it. */
	cr_assert_eq(store_write(&t.f, model + S, S, S), S);
	cr_assert_eq(raw_open(&t, 1, S, false, pt), 0);
	tfile_destroy(&t);
}
