/*
 * Unit tests for the worker's paged manifest (src/replica/mstore.c),
 * checked against the in-memory manifest of manifest.c as a model: random
 * puts and deletes, folds to a file and reloads, with every lookup, the
 * count, ordered and inode iteration compared; a written file must be
 * byte for byte what manifest_write gives for the same entries.  Tamper
 * and truncation of the base, before and after load, are refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/crypto.h"
#include "coffre/io.h"
#include "coffre/replica.h"
#include "replica/replica_private.h"

static const uint8_t KEY[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14,
				 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
				 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t UUID[16] = { 0xcc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
				  13, 14, 0xdd };

static uint64_t rng = 0x1234567;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* One of a fixed pool of paths, so puts and deletes meet. */
static void pick_path(char *out, size_t cap, unsigned i)
{
	snprintf(out, cap, "d%02u/%s%05u", i % 37, i % 5 ? "f" : "sub/g", i);
}

static struct manifest_entry *mk(const char *path, uint64_t salt)
{
	struct manifest_entry *e = calloc(1, sizeof(*e));

	e->path = strdup(path);
	e->type = salt % 7 == 0 ? MANIFEST_DIR : MANIFEST_REG;
	e->mode = 0600;
	e->size = salt;
	e->ino = salt % 50;     /* many hard links */
	e->mtime_sec = (int64_t)salt;
	memcpy(e->digest, &salt, sizeof(salt));
	if (salt % 11 == 0) {
		e->n_xattrs = 1;
		e->xattrs = calloc(1, sizeof(*e->xattrs));
		e->xattrs[0].name = strdup("user.x");
		e->xattrs[0].value_len = (uint32_t)(salt % 300);
		e->xattrs[0].value = calloc(1, e->xattrs[0].value_len + 1);
	}
	return e;
}

static int tmpfile_fd(void)
{
	char name[] = "/tmp/mstore.XXXXXX";
	int fd = mkstemp(name);

	cr_assert_geq(fd, 0);
	unlink(name);
	return fd;
}

static uint8_t *slurp(int fd, size_t *len)
{
	struct stat st;
	uint8_t *buf;

	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_eq(io_pread_full(fd, buf, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return buf;
}

struct seq {
	const char **v;
	size_t n;
};

static int seq_cb(const struct manifest_entry *e, void *arg)
{
	struct seq *s = arg;

	s->v[s->n++] = strdup(e->path);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int count_cb(const struct manifest_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

struct ino_seen {
	uint64_t ino;
	size_t n;
	bool bad;
};

static int ino_cb(const struct manifest_entry *e, void *arg)
{
	struct ino_seen *s = arg;

	s->n++;
	if (e->ino != s->ino || e->type != MANIFEST_REG)
		s->bad = true;
	return 0;
}

static int model_ino_cb(const struct manifest_entry *e, void *arg)
{
	struct ino_seen *s = arg;

	if (e->type == MANIFEST_REG && e->ino == s->ino)
		s->n++;
	return 0;
}

/* Everything the store answers matches the model. */
static void compare(struct mstore *ms, struct manifest *m, unsigned pool)
{
	struct seq got = { calloc(pool + 1, sizeof(char *)), 0 };
	struct seq want = { calloc(pool + 1, sizeof(char *)), 0 };
	char path[64];

	cr_assert_eq(mstore_count(ms), manifest_count(m));
	for (unsigned i = 0; i < pool; i++) {
		const struct manifest_entry *w;
		struct manifest_entry *g;

		pick_path(path, sizeof(path), i);
		w = manifest_get(m, path);
		cr_assert_eq(mstore_get(ms, path, &g), 0);
		cr_assert_eq(!!g, !!w, "%s", path);
		if (g)
			cr_assert(manifest_entry_equal(g, w), "%s", path);
		cr_assert_eq(mstore_has(ms, path), !!w);
		manifest_entry_free(g);
	}
	cr_assert_eq(mstore_foreach(ms, "", seq_cb, &got), 0);
	manifest_foreach(m, seq_cb, &want);
	qsort(want.v, want.n, sizeof(char *), cmp_str);
	cr_assert_eq(got.n, want.n);
	for (size_t i = 0; i < got.n; i++) {
		cr_assert_str_eq(got.v[i], want.v[i]);
		free((char *)got.v[i]);
		free((char *)want.v[i]);
	}
	/* From the middle: exactly the tail. */
	if (want.n > 2) {
		size_t n = 0;

		cr_assert_eq(mstore_foreach(ms, "d18/", count_cb, &n), 0);
		cr_assert_gt(n, 0);
	}
	for (uint64_t ino = 0; ino < 50; ino += 7) {
		struct ino_seen a = { ino, 0, false }, b = { ino, 0, false };

		cr_assert_eq(mstore_foreach_ino(ms, ino, ino_cb, &a), 0);
		manifest_foreach(m, model_ino_cb, &b);
		cr_assert(!a.bad);
		cr_assert_eq(a.n, b.n, "ino %llu", (unsigned long long)ino);
	}
	free(got.v);
	free(want.v);
}

/* The store written to a file equals manifest_write of the model. */
static void check_written(struct mstore *ms, struct manifest *m)
{
	uint8_t *want, *got;
	size_t wlen, glen;
	int fd = tmpfile_fd();

	manifest_set_generation(m, mstore_generation(ms));
	cr_assert_eq(manifest_write(m, KEY, &want, &wlen), 0);
	cr_assert_eq(mstore_write(ms, KEY, &fd, 1), 0);
	got = slurp(fd, &glen);
	cr_assert_eq(glen, wlen);
	cr_assert(memcmp(got, want, wlen) == 0);
	cr_assert_eq(mstore_delta_count(ms), 0);
	free(want);
	free(got);
}

Test(mstore, random_against_model)
{
	const unsigned pool = 6000;
	struct manifest *m = manifest_new(UUID);
	struct mstore *ms;
	char path[64];

	cr_assert_eq(mstore_new(UUID, &ms), 0);
	for (int round = 0; round < 6; round++) {
		for (int op = 0; op < 5000; op++) {
			unsigned i = (unsigned)(rnd() % pool);
			uint64_t salt = rnd() % 100000;

			pick_path(path, sizeof(path), i);
			if (rnd() % 3 == 0) {
				int a = mstore_del(ms, path), b = manifest_del(m, path);

				cr_assert_eq(a, b, "del %s", path);
			} else {
				cr_assert_eq(mstore_put(ms, mk(path, salt)), 0);
				cr_assert_eq(manifest_put(m, mk(path, salt)), 0);
			}
		}
		compare(ms, m, pool);      /* base + delta */
		mstore_set_generation(ms, (uint64_t)round + 1);
		check_written(ms, m);      /* now all base */
		compare(ms, m, pool);
	}
	mstore_free(ms);
	manifest_free(m);
}

/* A file written by manifest_write loads (pass 1 and 2) and answers. */
Test(mstore, load_checked_file)
{
	const unsigned pool = 3000;
	struct manifest *m = manifest_new(UUID);
	struct manifest_hdr h;
	struct mstore *ms;
	uint8_t *buf;
	size_t len;
	char path[64];
	int fd = tmpfile_fd(), copy = tmpfile_fd();

	for (unsigned i = 0; i < pool; i += 2) {
		pick_path(path, sizeof(path), i);
		cr_assert_eq(manifest_put(m, mk(path, i)), 0);
	}
	manifest_set_generation(m, 41);
	cr_assert_eq(manifest_write(m, KEY, &buf, &len), 0);
	cr_assert_eq(io_write_full(fd, buf, len), 0);
	cr_assert_eq(mstore_check_file(fd, copy, KEY, &h), 0);
	cr_assert_eq(h.generation, 41);
	cr_assert_eq(h.count, manifest_count(m));
	close(fd);
	{
		size_t clen;
		uint8_t *c = slurp(copy, &clen);

		cr_assert_eq(clen, len);
		cr_assert(memcmp(c, buf, len) == 0, "the copy is the file");
		free(c);
	}
	cr_assert_eq(mstore_new(UUID, &ms), 0);
	cr_assert_eq(mstore_load(ms, copy, KEY), 0);
	cr_assert_eq(mstore_generation(ms), 41);
	compare(ms, m, pool);
	/* Changes on top of a loaded base. */
	for (unsigned i = 0; i < pool; i += 3) {
		pick_path(path, sizeof(path), i);
		if (i % 2) {
			cr_assert_eq(mstore_put(ms, mk(path, i + 1)), 0);
			cr_assert_eq(manifest_put(m, mk(path, i + 1)), 0);
		} else {
			cr_assert_eq(mstore_del(ms, path), 0);
			cr_assert_eq(manifest_del(m, path), 0);
		}
	}
	compare(ms, m, pool);
	check_written(ms, m);
	compare(ms, m, pool);
	mstore_free(ms);
	manifest_free(m);
	free(buf);
}

static int write_sample(uint8_t **buf, size_t *len)
{
	struct manifest *m = manifest_new(UUID);
	char path[64];
	int fd = tmpfile_fd();

	for (unsigned i = 0; i < 2000; i++) {
		pick_path(path, sizeof(path), i);
		manifest_put(m, mk(path, i));
	}
	cr_assert_eq(manifest_write(m, KEY, buf, len), 0);
	cr_assert_eq(io_write_full(fd, *buf, *len), 0);
	manifest_free(m);
	return fd;
}

/* Any flipped byte, a cut or an extension fails pass 1. */
Test(mstore, tampered_file_refused)
{
	struct manifest_hdr h;
	uint8_t *buf;
	size_t len;
	int fd = write_sample(&buf, &len);

	for (size_t i = 0; i < len; i += len / 97 + 1) {
		uint8_t b = buf[i] ^ 0x40;

		cr_assert_eq(io_pwrite_full(fd, &b, 1, i), 0);
		cr_assert_eq(mstore_check_file(fd, -1, KEY, &h), -EBADMSG, "byte %zu", i);
		cr_assert_eq(io_pwrite_full(fd, &buf[i], 1, i), 0);
	}
	cr_assert_eq(mstore_check_file(fd, -1, KEY, &h), 0);
	cr_assert_eq(ftruncate(fd, (off_t)len - 1), 0);
	cr_assert_eq(mstore_check_file(fd, -1, KEY, &h), -EBADMSG);
	{
		uint8_t tail[2] = { buf[len - 1], 0 };

		cr_assert_eq(io_pwrite_full(fd, tail, 2, len - 1), 0);
	}
	cr_assert_eq(mstore_check_file(fd, -1, KEY, &h), -EBADMSG);
	close(fd);
	free(buf);
}

/* A base changed after it was loaded: -EIO, the store says it is broken,
 * and a reset makes it usable (and empty) again. */
Test(mstore, base_changed_after_load)
{
	struct manifest_entry *e;
	struct mstore *ms;
	struct manifest_hdr h;
	uint8_t *buf, b;
	size_t len;
	int fd = write_sample(&buf, &len), dup_fd;

	cr_assert_eq(mstore_check_file(fd, -1, KEY, &h), 0);
	dup_fd = dup(fd);
	cr_assert_eq(mstore_new(UUID, &ms), 0);
	cr_assert_eq(mstore_load(ms, fd, KEY), 0);
	cr_assert_eq(mstore_get(ms, "d00/sub/g00000", &e), 0);
	cr_assert_not_null(e);
	manifest_entry_free(e);
	b = buf[len / 2] ^ 1;
	cr_assert_eq(io_pwrite_full(dup_fd, &b, 1, len / 2), 0);
	{
		size_t n = 0;

		cr_assert_eq(mstore_foreach(ms, "", count_cb, &n), -EIO);
	}
	cr_assert(mstore_broken(ms));
	mstore_reset(ms);
	cr_assert(!mstore_broken(ms));
	cr_assert_eq(mstore_count(ms), 0);
	cr_assert_eq(mstore_get(ms, "d00/sub/g00000", &e), 0);
	cr_assert_null(e);
	mstore_free(ms);
	close(dup_fd);
	free(buf);
}

/* The wrong volume's manifest is refused at load. */
Test(mstore, other_volume_refused)
{
	struct mstore *ms;
	uint8_t other[16] = { 0 }, *buf;
	size_t len;
	int fd = write_sample(&buf, &len);

	cr_assert_eq(mstore_new(other, &ms), 0);
	cr_assert_eq(mstore_load(ms, fd, KEY), -EXDEV);
	mstore_free(ms);
	free(buf);
}

/* An entry too large for a reader is never taken. */
Test(mstore, entry_too_large)
{
	struct manifest_entry *e = mk("big", 3);
	struct mstore *ms;

	e->n_xattrs = 20;
	e->xattrs = calloc(20, sizeof(*e->xattrs));
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "user.%02d", i);
		e->xattrs[i].name = strdup(name);
		e->xattrs[i].value_len = COFFRE_REPLICA_XATTR_VALUE_MAX;
		e->xattrs[i].value = calloc(1, COFFRE_REPLICA_XATTR_VALUE_MAX);
	}
	cr_assert_eq(mstore_new(UUID, &ms), 0);
	cr_assert_eq(mstore_put(ms, e), -E2BIG);
	cr_assert_eq(mstore_count(ms), 0);
	mstore_free(ms);
}
