/*
 * Unit tests for src/store/file.c: a model-based random test (a plaintext
 * model kept in memory against 2,000 random writes and truncations, whole
 * and partial reads, fresh-handle sizes and the stored structure checked
 * after each), sparse holes, strict holes, crash residue and its repair,
 * header/size/key derivation, and reads from several threads.
 */
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>

#include "store_test.h"

#define MODEL_MAX (3u << 20)

struct model {
	uint8_t *data;      /* expected plaintext, MODEL_MAX bytes */
	uint8_t *scratch;   /* read-back buffer */
	uint8_t *src;       /* write source */
	uint64_t size;
};

static void model_write(struct model *m, uint64_t off, size_t len)
{
	if (off > m->size)
		memset(m->data + m->size, 0, off - m->size);
	memcpy(m->data + off, m->src, len);
	if (off + len > m->size)
		m->size = off + len;
}

static void model_truncate(struct model *m, uint64_t size)
{
	if (size > m->size)
		memset(m->data + m->size, 0, size - m->size);
	m->size = size;
}

static void model_check(struct tfile *t, struct model *m, uint64_t *rng,
			uint64_t seed, int op)
{
	struct store_file g = tfile_fresh(t);
	char ctx[96];
	ssize_t n;

	snprintf(ctx, sizeof(ctx), "seed %#llx op %d size %llu",
		 (unsigned long long)seed, op, (unsigned long long)m->size);
	cr_assert_eq(t->f.size, m->size, "%s", ctx);
	/* Whole file, asking for more than there is. */
	n = store_read(&t->f, m->scratch, MODEL_MAX, 0);
	cr_assert_eq(n, (ssize_t)m->size, "%s: read %zd", ctx, n);
	cr_assert(memcmp(m->scratch, m->data, m->size) == 0, "%s", ctx);
	/* A random range, possibly past EOF. */
	if (m->size > 0) {
		uint64_t off = prng_below(rng, m->size + 100);
		size_t len = (size_t)prng_below(rng, 3 * t->f.seg_size) + 1;
		size_t want = off >= m->size ? 0 :
			      (size_t)(m->size - off < len ? m->size - off : len);

		n = store_read(&t->f, m->scratch, len, off);
		cr_assert_eq(n, (ssize_t)want, "%s: range read", ctx);
		cr_assert(memcmp(m->scratch, m->data + off, want) == 0, "%s", ctx);
	}
	cr_assert_eq(store_load_size(&g), 0, "%s", ctx);
	cr_assert_eq(g.size, m->size, "%s: fresh size %llu", ctx,
		     (unsigned long long)g.size);
	check_structure(t, m->size, ctx);
}

static void model_run(uint32_t s, bool strict, int ops)
{
	struct tfile t;
	struct model m = { .size = 0 };
	uint64_t seed, rng;

	cr_assert_eq(random_bytes(&seed, sizeof(seed)), 0);
	seed |= 1;
	rng = seed;
	m.data = malloc(MODEL_MAX);
	m.scratch = malloc(MODEL_MAX);
	m.src = malloc(MODEL_MAX);
	cr_assert(m.data && m.scratch && m.src);
	tfile_create(&t, s, strict);

	for (int op = 0; op < ops; op++) {
		uint64_t r = prng_below(&rng, 100), off, size;
		size_t len;

		if (r < 60) {
			uint64_t kind = prng_below(&rng, 10);

			if (kind < 4)           /* inside or at EOF */
				off = prng_below(&rng, m.size + 1);
			else if (kind < 7)      /* past EOF: a gap */
				off = m.size + prng_below(&rng, 4 * s) + 1;
			else if (kind < 9)      /* near a segment boundary */
				off = (prng_below(&rng, m.size / s + 3)) * s +
				      prng_below(&rng, 3) - 1 + 1;
			else                    /* append */
				off = m.size;
			if (prng_below(&rng, 40) == 0)  /* > one request */
				len = (size_t)prng_below(&rng, STORE_MAX_REQUEST + 3 * s) + 1;
			else
				len = (size_t)prng_below(&rng, 3 * s) + 1;
			if (off + len > MODEL_MAX) {
				off = prng_below(&rng, MODEL_MAX / 2);
				len = (size_t)prng_below(&rng, 3 * s) + 1;
			}
			prng_fill(&rng, m.src, len);
			cr_assert_eq(store_write(&t.f, m.src, len, off),
				     (ssize_t)len, "seed %#llx op %d write",
				     (unsigned long long)seed, op);
			model_write(&m, off, len);
		} else {
			if (r < 75)             /* down */
				size = prng_below(&rng, m.size + 1);
			else if (r < 90)        /* up */
				size = m.size + prng_below(&rng, 5 * s);
			else if (r < 95)        /* to a boundary */
				size = prng_below(&rng, m.size / s + 3) * s;
			else
				size = 0;
			if (size > MODEL_MAX)
				size = MODEL_MAX / 3;
			cr_assert_eq(store_truncate(&t.f, size), 0,
				     "seed %#llx op %d truncate",
				     (unsigned long long)seed, op);
			model_truncate(&m, size);
		}
		model_check(&t, &m, &rng, seed, op);
	}
	tfile_destroy(&t);
	free(m.data);
	free(m.scratch);
	free(m.src);
}

Test(store_model, random_4k, .timeout = 280)
{
	model_run(4096, false, 2000);
}

Test(store_model, random_16k, .timeout = 280)
{
	model_run(16384, false, 2000);
}

Test(store_model, random_strict_4k, .timeout = 280)
{
	model_run(4096, true, 500);
}

/* Requests of 256 KiB and more shared with helper threads. */
Test(store_model, random_16k_split, .timeout = 280)
{
	cr_assert_eq(store_split_init(2), 0);
	model_run(16384, false, 1000);
}

Test(store_model, random_64k, .timeout = 280)
{
	model_run(65536, false, 300);
}

Test(store_file, empty_file)
{
	struct tfile t;
	uint8_t b[8];

	tfile_create(&t, 4096, false);
	cr_assert_eq(backing_size(t.f.fd),
		     COFFRE_FILE_HEADER_LEN + COFFRE_SEG_OVERHEAD);
	cr_assert_eq(store_read(&t.f, b, sizeof(b), 0), 0);
	cr_assert_eq(store_write(&t.f, b, 0, 100), 0);
	cr_assert_eq(t.f.size, 0);
	check_structure(&t, 0, "empty");
	tfile_destroy(&t);
}

Test(store_file, holes_stay_sparse)
{
	struct tfile t;
	struct stat st;
	uint8_t b[4096], z[4096] = { 0 };
	const uint64_t big = 100ull << 20;

	tfile_create(&t, 16384, false);
	memset(b, 0x5a, sizeof(b));
	cr_assert_eq(store_write(&t.f, b, 10, 0), 10);
	cr_assert_eq(store_truncate(&t.f, big), 0);
	cr_assert_eq(t.f.size, big);
	cr_assert_eq(fstat(t.f.fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, cipher_size(16384, big));
	cr_assert_lt((uint64_t)st.st_blocks * 512, 1u << 20,
		     "%llu bytes allocated", (unsigned long long)st.st_blocks * 512);
	cr_assert_eq(store_read(&t.f, b, sizeof(b), big - sizeof(b)),
		     (ssize_t)sizeof(b));
	cr_assert(memcmp(b, z, sizeof(b)) == 0);
	cr_assert_eq(store_read(&t.f, b, sizeof(b), big / 2), (ssize_t)sizeof(b));
	cr_assert(memcmp(b, z, sizeof(b)) == 0);
	/* A write far past EOF keeps the gap sparse too. */
	memset(b, 0x33, sizeof(b));
	cr_assert_eq(store_write(&t.f, b, sizeof(b), 2 * big), (ssize_t)sizeof(b));
	cr_assert_eq(fstat(t.f.fd, &st), 0);
	cr_assert_lt((uint64_t)st.st_blocks * 512, 1u << 20);
	cr_assert_eq(store_read(&t.f, b, sizeof(b), big + 12345), (ssize_t)sizeof(b));
	cr_assert(memcmp(b, z, sizeof(b)) == 0);
	cr_assert_eq(store_read(&t.f, b, sizeof(b), 2 * big), (ssize_t)sizeof(b));
	cr_assert_eq(b[0], 0x33);
	cr_assert_eq(b[4095], 0x33);
	tfile_destroy(&t);
}

Test(store_file, strict_holes_write_zeros)
{
	struct tfile t;
	struct stat st;

	tfile_create(&t, 4096, true);
	cr_assert_eq(store_truncate(&t.f, 64 * 4096 + 7), 0);
	cr_assert_eq(fstat(t.f.fd, &st), 0);
	/* Every segment really stored (sealed zeros), none a hole. */
	cr_assert_geq((uint64_t)st.st_blocks * 512, 64 * 4096);
	check_structure(&t, 64 * 4096 + 7, "strict truncate");
	tfile_destroy(&t);
}

Test(store_file, strict_holes_refuse_zeroed_segment)
{
	struct tfile t;
	struct store_file lax;
	uint8_t *src = malloc(3 * 4096), *b = malloc(3 * 4096);
	uint8_t zero[4096 + COFFRE_SEG_OVERHEAD] = { 0 };

	tfile_create(&t, 4096, true);
	memset(src, 0x77, 3 * 4096);
	cr_assert_eq(store_write(&t.f, src, 3 * 4096, 0), 3 * 4096);
	cr_assert_eq(pwrite(t.f.fd, zero, sizeof(zero),
			    (off_t)seg_offset(4096, 1)), (ssize_t)sizeof(zero));
	memset(b, 0xaa, 3 * 4096);
	cr_assert_eq(store_read(&t.f, b, 3 * 4096, 0), -EIO);
	cr_assert_eq(store_read(&t.f, b, 100, 4096 + 5), -EIO);
	for (size_t i = 0; i < 3 * 4096; i++)
		cr_assert_eq(b[i], 0xaa, "byte %zu written on failure", i);
	cr_assert_eq(store_read(&t.f, b, 4096, 0), 4096);
	cr_assert(memcmp(b, src, 4096) == 0);

	lax = tfile_fresh(&t);
	lax.strict_holes = false;
	cr_assert_eq(store_load_size(&lax), 0);
	cr_assert_eq(store_read(&lax, b, 3 * 4096, 0), 3 * 4096);
	cr_assert(memcmp(b, src, 4096) == 0);
	cr_assert(bytes_zero(b + 4096, 4096));
	cr_assert(memcmp(b + 8192, src + 8192, 4096) == 0);
	/* The last segment is never a hole. */
	cr_assert_eq(pwrite(t.f.fd, zero, sizeof(zero),
			    (off_t)seg_offset(4096, 2)), (ssize_t)sizeof(zero));
	cr_assert_eq(store_read(&lax, b, 4096, 8192), -EIO);
	tfile_destroy(&t);
	free(src);
	free(b);
}

/* Seal plaintext segment i of t as given and write it in place. */
static void put_segment(const struct tfile *t, uint64_t i, bool is_last,
			const uint8_t *pt, size_t pl)
{
	uint8_t out[16384 + COFFRE_SEG_OVERHEAD];

	cr_assert_eq(seg_seal(&t->key, i, is_last, pt, pl, out), 0);
	cr_assert_eq(pwrite(t->f.fd, out, pl + COFFRE_SEG_OVERHEAD,
			    (off_t)seg_offset(t->f.seg_size, i)),
		     (ssize_t)(pl + COFFRE_SEG_OVERHEAD));
}

/*
 * The state a crash leaves between "new segments written" and "old last
 * re-sealed": segments 0..1 full (1 still flagged last), then new ones
 * (with a hole at 2 if gap), the new last flagged.
 */
static void make_residue(struct tfile *t, uint8_t *model, bool gap)
{
	const uint32_t s = 4096;
	uint8_t pt[4096];

	tfile_create(t, s, false);
	for (size_t i = 0; i < 2 * s; i++)
		model[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(store_write(&t->f, model, 2 * s, 0), 2 * s);
	memset(model + 2 * s, 0, s);
	if (!gap) {
		memset(model + 2 * s, 0x42, s);
		put_segment(t, 2, false, model + 2 * s, s);
	}
	memset(model + 3 * s, 0x43, 100);
	put_segment(t, 3, true, model + 3 * s, 100);
	/* Segment 1 really is residue: it opens flagged only. */
	cr_assert_eq(raw_open(t, 1, s, true, pt), 0);
	cr_assert_eq(raw_open(t, 1, s, false, pt), -EBADMSG);
}

static void check_residue_reads(struct tfile *t, const uint8_t *model)
{
	struct store_file g = tfile_fresh(t);
	uint8_t b[4 * 4096];

	cr_assert_eq(store_load_size(&g), 0);
	cr_assert_eq(g.size, 3 * 4096 + 100);
	cr_assert_eq(store_read(&g, b, sizeof(b), 0), 3 * 4096 + 100);
	cr_assert(memcmp(b, model, 3 * 4096 + 100) == 0);
	t->f = g;
}

Test(store_residue, reads_back_and_next_write_repairs)
{
	for (int gap = 0; gap < 2; gap++) {
		struct tfile t;
		uint8_t model[4 * 4096], pt[4096];

		make_residue(&t, model, gap);
		check_residue_reads(&t, model);
		/* A write elsewhere: the read reported the residue. */
		model[5] = 0xee;
		cr_assert_eq(store_write(&t.f, model + 5, 1, 5), 1);
		cr_assert_eq(raw_open(&t, 1, 4096, false, pt), 0);
		cr_assert(memcmp(pt, model + 4096, 4096) == 0);
		check_structure(&t, 3 * 4096 + 100, "repaired");
		check_residue_reads(&t, model);
		tfile_destroy(&t);
	}
}

Test(store_residue, write_touching_it_repairs)
{
	struct tfile t;
	struct store_file g;
	uint8_t model[4 * 4096], pt[4096];

	make_residue(&t, model, false);
	g = tfile_fresh(&t);     /* no read first */
	cr_assert_eq(store_load_size(&g), 0);
	t.f = g;
	memset(model + 4096 + 10, 0x99, 20);
	cr_assert_eq(store_write(&t.f, model + 4096 + 10, 20, 4096 + 10), 20);
	cr_assert_eq(raw_open(&t, 1, 4096, false, pt), 0);
	check_structure(&t, 3 * 4096 + 100, "rewritten");
	check_residue_reads(&t, model);
	tfile_destroy(&t);
}

Test(store_residue, truncate_repairs)
{
	struct tfile t;
	uint8_t model[4 * 4096], pt[4096];

	make_residue(&t, model, true);
	check_residue_reads(&t, model);
	cr_assert_eq(store_truncate(&t.f, 3 * 4096 + 50), 0);
	cr_assert_eq(raw_open(&t, 1, 4096, false, pt), 0);
	check_structure(&t, 3 * 4096 + 50, "truncated");
	tfile_destroy(&t);
}

Test(store_file, extension_states_are_valid)
{
	/* Each step of an extension past a partial last segment leaves a
	 * valid file: check the end state and that the intermediate
	 * "padded, still last" form reads as the longer file. */
	struct tfile t;
	uint8_t a[100], b[4096], pt[4096];

	tfile_create(&t, 4096, false);
	memset(a, 0x11, sizeof(a));
	cr_assert_eq(store_write(&t.f, a, sizeof(a), 0), (ssize_t)sizeof(a));
	memset(a, 0x22, sizeof(a));
	cr_assert_eq(store_write(&t.f, a, sizeof(a), 5 * 4096 + 3),
		     (ssize_t)sizeof(a));
	check_structure(&t, 5 * 4096 + 103, "extended");
	cr_assert_eq(raw_open(&t, 0, 4096, false, pt), 0);
	cr_assert_eq(pt[99], 0x11);
	cr_assert(bytes_zero(pt + 100, 4096 - 100));
	cr_assert_eq(store_read(&t.f, b, sizeof(b), 5 * 4096), 103);
	cr_assert(bytes_zero(b, 3));
	cr_assert_eq(b[3], 0x22);
	tfile_destroy(&t);
}

Test(store_file, header_and_size_errors)
{
	struct tfile t;
	struct file_header h;
	uint8_t junk[COFFRE_FILE_HEADER_LEN];

	tfile_create(&t, 4096, false);
	cr_assert_eq(store_read_header(t.f.fd, &h), 0);
	cr_assert(memcmp(&h, &t.h, sizeof(h)) == 0);
	/* Too short for a file, and too short for a header. */
	cr_assert_eq(ftruncate(t.f.fd, COFFRE_FILE_HEADER_LEN + 27), 0);
	cr_assert_eq(store_load_size(&t.f), -EIO);
	cr_assert_eq(ftruncate(t.f.fd, COFFRE_FILE_HEADER_LEN + 4096 + 28 + 27), 0);
	cr_assert_eq(store_load_size(&t.f), -EIO);
	cr_assert_eq(ftruncate(t.f.fd, COFFRE_FILE_HEADER_LEN + 28 + 28), 0);
	cr_assert_eq(store_load_size(&t.f), 0);
	cr_assert_eq(t.f.size, 28, "a short last segment of 28 bytes is data");
	cr_assert_eq(ftruncate(t.f.fd, 47), 0);
	cr_assert_eq(store_read_header(t.f.fd, &h), -EIO);
	memset(junk, 'x', sizeof(junk));
	cr_assert_eq(pwrite(t.f.fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	cr_assert_eq(store_read_header(t.f.fd, &h), -EIO);
	file_header_write(&t.h, junk);
	junk[11] ^= 0x01;     /* seg_size 4097: not a power of two */
	cr_assert_eq(pwrite(t.f.fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	cr_assert_eq(store_read_header(t.f.fd, &h), -EIO);
	tfile_destroy(&t);
}

struct reader_arg {
	struct tfile *t;
	const uint8_t *model;
	uint64_t size, seed;
	int bad;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	uint8_t *b = malloc(STORE_MAX_REQUEST + 8192);
	uint64_t rng = a->seed;

	for (int i = 0; i < 300 && b != NULL; i++) {
		uint64_t off = prng_below(&rng, a->size);
		size_t len = (size_t)prng_below(&rng, STORE_MAX_REQUEST + 8192) + 1;
		size_t want = a->size - off < len ? (size_t)(a->size - off) : len;

		if (store_read(&a->t->f, b, len, off) != (ssize_t)want ||
		    memcmp(b, a->model + off, want) != 0)
			a->bad++;
	}
	free(b);
	return NULL;
}

Test(store_file, concurrent_readers, .timeout = 120)
{
	struct tfile t;
	const uint64_t size = 5 * STORE_MAX_REQUEST / 2 + 77;
	uint8_t *model = malloc(size);
	uint64_t rng = 0x1234567;
	pthread_t th[4];
	struct reader_arg a[4];

	tfile_create(&t, 16384, false);
	prng_fill(&rng, model, size);
	cr_assert_eq(store_write(&t.f, model, size, 0), (ssize_t)size);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){ &t, model, size, 99 + (uint64_t)i, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, reader, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(a[i].bad, 0, "thread %d saw wrong data", i);
	}
	tfile_destroy(&t);
	free(model);
}

Test(store_file, too_large)
{
	struct tfile t;
	uint8_t b[1] = { 1 };

	tfile_create(&t, 4096, false);
	cr_assert_eq(store_write(&t.f, b, 1, (uint64_t)INT64_MAX), -EFBIG);
	cr_assert_eq(store_write(&t.f, b, 1, UINT64_MAX), -EFBIG);
	cr_assert_eq(store_truncate(&t.f, (uint64_t)INT64_MAX), -EFBIG);
	cr_assert_eq(t.f.size, 0);
	tfile_destroy(&t);
}

/* store_read_view gives the same bytes as store_read, without the copy. */
Test(store_file, read_view_matches_read)
{
	static uint8_t data[200000], got[STORE_MAX_REQUEST];
	const uint64_t offs[] = { 0, 1, 4095, 4096, 16383, 16384, 100000, 199999 };
	const uint8_t *view;
	struct tfile t;
	ssize_t n, m;

	tfile_create(&t, 16384, false);
	cr_assert_eq(random_bytes(data, sizeof(data)), 0);
	cr_assert_eq(store_write(&t.f, data, sizeof(data), 0), (ssize_t)sizeof(data));
	for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		n = store_read_view(&t.f, 70000, offs[k], &view);
		m = store_read(&t.f, got, 70000, offs[k]);
		cr_assert_eq(n, m, "offset %llu", (unsigned long long)offs[k]);
		cr_assert_eq(memcmp(view, data + offs[k], (size_t)n), 0);
	}
	cr_assert_eq(store_read_view(&t.f, 10, sizeof(data), &view), 0);
	cr_assert_eq(store_read_view(&t.f, STORE_MAX_REQUEST + 1, 0, &view), -E2BIG);
	tfile_destroy(&t);
}

/* An empty file's sealed segment is checked by a view read too. */
Test(store_file, read_view_checks_empty_file)
{
	const uint8_t *view;
	struct tfile t;
	uint8_t b;

	tfile_create(&t, 4096, false);
	cr_assert_eq(store_read_view(&t.f, 100, 0, &view), 0);
	cr_assert_eq(pread(t.f.fd, &b, 1, COFFRE_FILE_HEADER_LEN + 20), 1);
	b ^= 1;
	cr_assert_eq(pwrite(t.f.fd, &b, 1, COFFRE_FILE_HEADER_LEN + 20), 1);
	cr_assert_eq(store_read_view(&t.f, 100, 0, &view), -EIO);
	tfile_destroy(&t);
}

/* With helpers sharing large reads: a tampered segment the helper may
 * open still fails the whole read before any byte is handed out, and
 * crash residue deep in a large read is still accepted. */
Test(store_file, split_reads_check_every_segment)
{
	static uint8_t data[40 * 16384], got[40 * 16384];
	const uint32_t s = 16384;
	struct tfile t;
	uint8_t b;
	off_t at = (off_t)seg_offset(s, 37) + 500;

	cr_assert_eq(store_split_init(2), 0);
	cr_assert_eq(random_bytes(data, sizeof(data)), 0);
	/* Residue: 0..19 written, 19 still flagged last, 20..39 after it. */
	tfile_create(&t, s, false);
	cr_assert_eq(store_write(&t.f, data, 20 * s, 0), 20 * s);
	for (uint64_t i = 20; i < 40; i++)
		put_segment(&t, i, i == 39, data + i * s, s);
	t.f = tfile_fresh(&t);
	cr_assert_eq(store_load_size(&t.f), 0);
	for (int rep = 0; rep < 20; rep++) {
		memset(got, 0, sizeof(got));
		cr_assert_eq(store_read(&t.f, got, sizeof(got), 0), (ssize_t)sizeof(got));
		cr_assert_eq(memcmp(got, data, sizeof(got)), 0);
	}
	/* Tampered: every large read fails and leaves the buffer alone. */
	cr_assert_eq(pread(t.f.fd, &b, 1, at), 1);
	b ^= 0x01;
	cr_assert_eq(pwrite(t.f.fd, &b, 1, at), 1);
	for (int rep = 0; rep < 20; rep++) {
		memset(got, 0xa5, sizeof(got));
		cr_assert_eq(store_read(&t.f, got, sizeof(got), 0), -EIO);
		for (size_t k = 0; k < sizeof(got); k++)
			cr_assert_eq(got[k], 0xa5, "byte %zu handed out", k);
	}
	tfile_destroy(&t);
}
