/*
 * Shared helpers for the store unit tests: temporary encrypted files with
 * a random DEK and header, a seeded PRNG for reproducible random runs, and
 * a structural check that every stored segment carries the right flag.
 */
#ifndef COFFRE_TEST_STORE_H
#define COFFRE_TEST_STORE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/crypto.h"
#include "coffre/format.h"
#include "coffre/store.h"

/* A file key as src/keys derives it (FORMAT-v1.md): HKDF-SHA256(DEK, salt =
 * file id, info = "coffre/v1/content" || header).  The store only needs a
 * key bound to the header; tests/unit/keys checks the real derivation. */
static inline int test_file_key(const uint8_t dek[COFFRE_KEY_LEN],
				const struct file_header *h, struct aead_key *k)
{
	uint8_t info[17 + COFFRE_FILE_HEADER_LEN];
	int err;

	memcpy(info, "coffre/v1/content", 17);
	file_header_write(h, info + 17);
	err = hkdf_sha256(dek, COFFRE_KEY_LEN, h->file_id, COFFRE_ID_LEN, info,
			  sizeof(info), k->key, COFFRE_KEY_LEN);
	if (!err)
		aead_key_init(k);
	return err;
}

struct tfile {
	char path[64];
	uint8_t dek[COFFRE_KEY_LEN];
	struct file_header h;
	struct aead_key key;
	struct store_file f;
};

/* A new empty file: random DEK, dir id, file id; store_create'd. */
static inline void tfile_create(struct tfile *t, uint32_t seg_size, bool strict)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->path, "/dev/shm/coffre-store-XXXXXX");
	t->f.fd = mkstemp(t->path);
	cr_assert(t->f.fd >= 0, "mkstemp: %s", strerror(errno));
	/* Only the fd is used: nothing is left behind if a test aborts. */
	unlink(t->path);
	cr_assert_eq(random_bytes(t->dek, sizeof(t->dek)), 0);
	cr_assert_eq(random_bytes(t->h.dir_id, sizeof(t->h.dir_id)), 0);
	cr_assert_eq(random_bytes(t->h.file_id, sizeof(t->h.file_id)), 0);
	t->h.version = COFFRE_FORMAT_VERSION;
	t->h.flags = strict ? COFFRE_HDR_STRICT_HOLES : 0;
	t->h.seg_size = seg_size;
	t->h.dek_version = 1;
	cr_assert_eq(test_file_key(t->dek, &t->h, &t->key), 0);
	cr_assert_eq(store_create(t->f.fd, &t->h, &t->key), 0);
	cr_assert_eq(store_file_init(&t->f, t->f.fd, &t->h, false, &t->key,
				     t->path), 0);
	cr_assert_eq(t->f.strict_holes, strict);
	cr_assert_eq(t->f.size, 0);
}

static inline void tfile_destroy(struct tfile *t)
{
	close(t->f.fd);
}

/* A second handle on the same backing fd, as a fresh open would make. */
static inline struct store_file tfile_fresh(const struct tfile *t)
{
	struct store_file g = {
		.fd = t->f.fd, .seg_size = t->f.seg_size,
		.strict_holes = t->f.strict_holes, .key = t->f.key,
		.path = t->f.path,
	};
	return g;
}

static inline uint64_t backing_size(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

/* xorshift64*: reproducible from the seed printed on failure. */
static inline uint64_t prng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline uint64_t prng_below(uint64_t *s, uint64_t n)
{
	return n == 0 ? 0 : prng_next(s) % n;
}

static inline void prng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(prng_next(s) >> 56);
}

/* Raw stored segment i of t (plaintext length pl) opened with a flag. */
static inline int raw_open(const struct tfile *t, uint64_t i, size_t pl,
			   bool is_last, uint8_t *pt)
{
	size_t n = pl + COFFRE_SEG_OVERHEAD;
	uint8_t *in = malloc(n);
	int err;

	cr_assert_not_null(in);
	cr_assert_eq(pread(t->f.fd, in, n, (off_t)seg_offset(t->f.seg_size, i)),
		     (ssize_t)n);
	err = seg_open(&t->key, i, is_last, in, n, pt);
	free(in);
	return err;
}

/*
 * The file is canonical for its size: the right length, and every segment
 * either a hole (non-last, non-strict, all zero) or opening with exactly
 * its own flag (no residue left behind).
 */
static inline void check_structure(const struct tfile *t, uint64_t size,
				   const char *ctx)
{
	uint32_t s = t->f.seg_size;
	uint64_t n = seg_count(s, size);
	uint8_t *in = malloc(s + COFFRE_SEG_OVERHEAD), *pt = malloc(s);

	cr_assert_eq(backing_size(t->f.fd), cipher_size(s, size), "%s", ctx);
	for (uint64_t i = 0; i < n; i++) {
		size_t pl = i + 1 < n ? s : (size_t)(size - i * s);
		size_t len = pl + COFFRE_SEG_OVERHEAD;

		cr_assert_eq(pread(t->f.fd, in, len,
				   (off_t)seg_offset(s, i)), (ssize_t)len);
		if (i + 1 < n && !t->f.strict_holes && bytes_zero(in, len))
			continue;
		cr_assert_eq(seg_open(&t->key, i, i + 1 == n, in, len, pt), 0,
			     "%s: segment %lu of %lu has the wrong flag",
			     ctx, (unsigned long)i, (unsigned long)n);
	}
	free(in);
	free(pt);
}

#endif
