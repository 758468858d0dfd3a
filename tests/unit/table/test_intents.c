/*
 * intents.c (doc/FORMAT.md §12.4): the range policy case by case, counted
 * in appends and fdatasyncs; group commit with 8 threads; carry to the
 * next generation; retire; scan of torn, foreign, tampered and hostile
 * files; the memory bound.  Real files in a temp directory; the records
 * are read back through src/format's intent_scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "coffre/crypto.h"
#include "coffre/io.h"
#include "coffre/table.h"

static char dir[] = "/tmp/coffre-intents-XXXXXX";
static int mdir = -1;
static uint8_t table_key[COFFRE_KEY_LEN];
static struct table_keys keys;

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	mdir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(mdir, 0);
	memset(table_key, 0x5a, sizeof(table_key));
	memset(keys.uuid, 0xc3, sizeof(keys.uuid));
	keys.key = table_key;
	tintents_test_before_sync = NULL;
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	tintents_test_before_sync = NULL;
	close(mdir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(intents, .init = setup, .fini = teardown);

static void oid(uint8_t id[COFFRE_ID_LEN], unsigned n)
{
	memset(id, 0, COFFRE_ID_LEN);
	/* random-looking first bytes (the hash), then n */
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)((n + 1) * 0x9d + i * 0x3b);
	memcpy(id + 8, &n, sizeof(n));
}

static void fname(uint64_t g, char *out)
{
	snprintf(out, 32, "intent.%llu", (unsigned long long)g);
}

/* The raw records of intent.<g> as the format reads them (not merged). */
static size_t records(uint64_t g, struct intent *out, size_t cap)
{
	char name[32];
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;

	fname(g, name);
	if (io_read_alloc(mdir, name, 64 << 20, &buf, &len) == -ENOENT)
		return 0;
	cr_assert_not_null(buf);
	cr_assert_eq(len % V2_INTENT_LEN, 0, "whole records only");
	cr_assert_eq(intent_scan(table_key, keys.uuid, g, buf, len, out, cap, &n), 0);
	cr_assert_eq(n, len / V2_INTENT_LEN, "every record verifies");
	free(buf);
	return n;
}

static void expect_rec(const struct intent *r, const uint8_t id[COFFRE_ID_LEN],
		       uint32_t first, uint32_t count)
{
	cr_expect_eq(r->kind, V2_INTENT_CONTENT);
	cr_expect(memcmp(r->object_id, id, COFFRE_ID_LEN) == 0);
	cr_expect_eq(r->first_group, first, "first %u, want %u", r->first_group,
		     first);
	cr_expect_eq(r->group_count, count, "count %u, want %u", r->group_count,
		     count);
}

static struct tintents_stats stats(struct tintents *t)
{
	struct tintents_stats s;

	tintents_stats(t, &s);
	return s;
}

Test(intents, sequential_writer)
{
	static struct intent r[64];
	struct tintents *t;
	uint8_t a[COFFRE_ID_LEN];
	struct tintents_stats s;

	oid(a, 1);
	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &t), 0);
	cr_assert_eq(tintents_declare(t, 5, a, 0, 1), -ESTALE, "g not open");
	cr_assert_eq(tintents_open(t, 5), 0);
	cr_assert_eq(tintents_open(t, 5), -EINVAL, "generations increase");
	/* Groups 0..159 one by one: {0}, then 16 at a time from 1. */
	for (uint32_t x = 0; x < 160; x++) {
		cr_assert_eq(tintents_declare(t, 5, a, x, 1), 0);
		cr_assert_geq(tintents_durable(t, 5), stats(t).appends);
	}
	s = stats(t);
	cr_assert_eq(s.declares, 160);
	cr_assert_eq(s.appends, 11, "one append per 16 groups (%llu)",
		     (unsigned long long)s.appends);
	cr_assert_eq(s.syncs, 11);
	cr_assert_eq(records(5, r, 64), 11);
	expect_rec(&r[0], a, 0, 1);
	for (unsigned i = 1; i < 11; i++)
		expect_rec(&r[i], a, 1 + 16 * (i - 1), 16);
	/* Covered groups cost nothing, again and across a range. */
	cr_assert_eq(tintents_declare(t, 5, a, 3, 150), 0);
	cr_assert_eq(stats(t).appends, 11);
	cr_assert_eq(stats(t).syncs, 11);
	cr_assert_eq(tintents_declare(t, 5, a, 0, 0), -EINVAL);
	cr_assert_eq(tintents_declare(t, 5, a, UINT32_MAX, 2), -EINVAL);
	tintents_free(t);
}

Test(intents, random_writer)
{
	static struct intent r[64];
	struct tintents *t;
	uint8_t b[COFFRE_ID_LEN], c[COFFRE_ID_LEN], d[COFFRE_ID_LEN];
	size_t n;

	oid(b, 2);
	oid(c, 3);
	oid(d, 4);
	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &t), 0);
	cr_assert_eq(tintents_open(t, 7), 0);
	/* 16 scattered groups: one record each. */
	for (uint32_t i = 0; i < 16; i++)
		cr_assert_eq(tintents_declare(t, 7, b, 1000 * i, 1), 0);
	cr_assert_eq(stats(t).appends, 16);
	/* The 17th: the aligned 64 holding it. */
	cr_assert_eq(tintents_declare(t, 7, b, 5003, 1), 0);
	cr_assert_eq(stats(t).appends, 17);
	for (uint32_t x = 4992; x < 5056; x++)
		cr_assert_eq(tintents_declare(t, 7, b, x, 1), 0);
	cr_assert_eq(stats(t).appends, 17, "inside the 64: nothing");
	cr_assert_eq(stats(t).syncs, 17);
	/* Right after it: the next 16, which takes precedence. */
	cr_assert_eq(tintents_declare(t, 7, b, 5056, 1), 0);
	cr_assert_eq(tintents_declare(t, 7, b, 70000, 1), 0);
	/* Another object has its own count: a single group, then a run cut
	 * at its next declared range. */
	cr_assert_eq(tintents_declare(t, 7, c, 10, 1), 0);
	cr_assert_eq(tintents_declare(t, 7, c, 20, 1), 0);
	cr_assert_eq(tintents_declare(t, 7, c, 11, 1), 0);
	/* A run clipped at the last group. */
	cr_assert_eq(tintents_declare(t, 7, c, UINT32_MAX - 4, 1), 0);
	cr_assert_eq(tintents_declare(t, 7, c, UINT32_MAX - 3, 1), 0);
	/* One call over three groups: two records, one fdatasync. */
	uint64_t syncs = stats(t).syncs;
	cr_assert_eq(tintents_declare(t, 7, d, 100, 3), 0);
	cr_assert_eq(stats(t).syncs, syncs + 1);
	n = records(7, r, 64);
	cr_assert_eq(n, 26);
	for (unsigned i = 0; i < 16; i++)
		expect_rec(&r[i], b, 1000 * i, 1);
	expect_rec(&r[16], b, 4992, 64);
	expect_rec(&r[17], b, 5056, 16);
	expect_rec(&r[18], b, 69952, 64);
	expect_rec(&r[19], c, 10, 1);
	expect_rec(&r[20], c, 20, 1);
	expect_rec(&r[21], c, 11, 9);
	expect_rec(&r[22], c, UINT32_MAX - 4, 1);
	expect_rec(&r[23], c, UINT32_MAX - 3, 4);
	expect_rec(&r[24], d, 100, 1);
	expect_rec(&r[25], d, 101, 16);
	tintents_free(t);
}

/* ---- group commit */

#define THREADS 8
#define PER_THREAD 40

static struct tintents *gc_t;
static atomic_int gc_inflight, gc_bad_overlap, gc_bad_order, gc_bad_durable,
	gc_missing;
static uint32_t gc_last_to;
static pthread_mutex_t gc_mu = PTHREAD_MUTEX_INITIALIZER;

/* Every fdatasync alone, each over records written since the one before
 * it, none twice; and those records are in the file before it starts. */
static void gc_hook(int fd, uint32_t from, uint32_t to)
{
	struct stat st;

	if (atomic_fetch_add(&gc_inflight, 1) != 0)
		atomic_fetch_add(&gc_bad_overlap, 1);
	pthread_mutex_lock(&gc_mu);
	if (from != gc_last_to || to <= from)
		atomic_fetch_add(&gc_bad_order, 1);
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)to * V2_INTENT_LEN)
		atomic_fetch_add(&gc_bad_order, 1);
	gc_last_to = to;
	pthread_mutex_unlock(&gc_mu);
	usleep(2000);                  /* a slow disk: others pile up */
	atomic_fetch_sub(&gc_inflight, 1);
}

static void *gc_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	size_t cap = THREADS * PER_THREAD;
	struct intent *r = malloc(cap * sizeof(*r));

	for (unsigned i = 0; i < PER_THREAD; i++) {
		uint8_t id[COFFRE_ID_LEN];
		char name[32];
		uint8_t *buf = NULL;
		size_t len = 0, n = 0, at = SIZE_MAX;

		oid(id, 100 + me * PER_THREAD + i);
		int err = tintents_declare(gc_t, 9, id, i, 1);
		if (err != 0) {
			atomic_fetch_add(&gc_missing, 1);
			continue;
		}
		/* Its record is in the file, and durable. */
		fname(9, name);
		while ((err = io_read_alloc(mdir, name, 1 << 20, &buf, &len)) ==
		       -EAGAIN)
			;              /* others append meanwhile */
		if (err == 0 &&
		    intent_scan(table_key, keys.uuid, 9, buf, len, r, cap, &n) == 0)
			for (size_t j = 0; j < n; j++)
				if (memcmp(r[j].object_id, id, COFFRE_ID_LEN) == 0 &&
				    r[j].first_group == i && r[j].group_count == 1)
					at = j;
		free(buf);
		if (at == SIZE_MAX)
			atomic_fetch_add(&gc_missing, 1);
		else if (tintents_durable(gc_t, 9) <= at)
			atomic_fetch_add(&gc_bad_durable, 1);
	}
	free(r);
	return NULL;
}

Test(intents, group_commit)
{
	pthread_t th[THREADS];
	struct tintents_stats s;

	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &gc_t), 0);
	cr_assert_eq(tintents_open(gc_t, 9), 0);
	tintents_test_before_sync = gc_hook;
	for (unsigned i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, gc_thread,
					    (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	tintents_test_before_sync = NULL;
	s = stats(gc_t);
	cr_log_info("%llu fdatasyncs for %llu declares",
		    (unsigned long long)s.syncs, (unsigned long long)s.declares);
	cr_assert_eq(atomic_load(&gc_missing), 0, "every record in the file");
	cr_assert_eq(atomic_load(&gc_bad_durable), 0, "durable at return");
	cr_assert_eq(atomic_load(&gc_bad_overlap), 0, "one fdatasync at a time");
	cr_assert_eq(atomic_load(&gc_bad_order), 0, "no bytes synced twice");
	cr_assert_eq(s.declares, THREADS * PER_THREAD);
	cr_assert_eq(s.appends, THREADS * PER_THREAD);
	cr_assert_lt(s.syncs, s.declares / 2, "shared: %llu fdatasyncs for %llu",
		     (unsigned long long)s.syncs, (unsigned long long)s.declares);
	cr_assert_eq(tintents_durable(gc_t, 9), THREADS * PER_THREAD);
	tintents_free(gc_t);
}

/* ---- carry, generations, retire */

static struct intent range(const uint8_t id[COFFRE_ID_LEN], uint32_t first,
			   uint32_t count)
{
	struct intent in = { .kind = V2_INTENT_CONTENT, .first_group = first,
			     .group_count = count };

	memcpy(in.object_id, id, COFFRE_ID_LEN);
	return in;
}

static bool exists(uint64_t g)
{
	char name[32];
	struct stat st;

	fname(g, name);
	return fstatat(mdir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Test(intents, carry_and_retire)
{
	static struct intent r[16];
	struct tintents *t;
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN];
	struct intent v[5];
	struct tintents_stats s0, s1;

	oid(a, 1);
	oid(b, 2);
	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &t), 0);
	cr_assert_eq(tintents_open(t, 10), 0);
	cr_assert_eq(tintents_declare(t, 10, a, 0, 1), 0);
	cr_assert_eq(tintents_declare(t, 10, b, 7, 1), 0);
	/* The freeze of 10: 11 opens; 10's declarers may still finish. */
	cr_assert_eq(tintents_open(t, 11), 0);
	cr_assert_eq(tintents_declare(t, 10, a, 100, 1), 0);
	cr_assert_not(exists(11), "created on first use only");
	cr_assert_eq(tintents_carry(t, 11, NULL, 0), 0);
	cr_assert_not(exists(11));
	v[0] = range(a, 0, 4);
	v[1] = range(a, 4, 2);          /* touches: joined */
	v[2] = range(a, 100, 1);
	v[3] = range(b, 7, 1);
	v[4] = range(b, 7, 0);
	cr_assert_eq(tintents_carry(t, 11, v, 5), -EINVAL, "count 0");
	cr_assert_not(exists(11), "nothing written for a refused list");
	s0 = stats(t);
	cr_assert_eq(tintents_carry(t, 11, v, 4), 0);
	s1 = stats(t);
	cr_assert_eq(s1.appends - s0.appends, 3);
	cr_assert_eq(s1.syncs - s0.syncs, 1, "one fdatasync for the carry");
	cr_assert_eq(tintents_durable(t, 11), 3);
	cr_assert_eq(records(11, r, 16), 3);
	expect_rec(&r[0], a, 0, 6);
	expect_rec(&r[1], a, 100, 1);
	expect_rec(&r[2], b, 7, 1);
	/* A write of 11 into a carried group costs nothing more. */
	for (uint32_t x = 0; x < 6; x++)
		cr_assert_eq(tintents_declare(t, 11, a, x, 1), 0);
	cr_assert_eq(tintents_declare(t, 11, b, 7, 1), 0);
	cr_assert_eq(stats(t).appends, s1.appends);
	cr_assert_eq(stats(t).syncs, s1.syncs);
	/* Carried groups are declared in 11: the one after runs 16. */
	cr_assert_eq(tintents_declare(t, 11, a, 6, 1), 0);
	cr_assert_eq(records(11, r, 16), 4);
	expect_rec(&r[3], a, 6, 16);
	/* Carrying what is already covered writes nothing. */
	v[0] = range(a, 2, 10);
	cr_assert_eq(tintents_carry(t, 11, v, 1), 0);
	cr_assert_eq(records(11, r, 16), 4);

	/* Retire: not the open generation; 10 once committed. */
	cr_assert_eq(tintents_retire(t, 11), -EBUSY);
	cr_assert(exists(10));
	cr_assert_eq(tintents_retire(t, 10), 0);
	cr_assert_not(exists(10));
	cr_assert_eq(tintents_declare(t, 10, a, 500, 1), -ESTALE);
	cr_assert_eq(tintents_retire(t, 10), 0, "already gone");
	cr_assert_eq(tintents_retire(t, 3), 0, "never written");
	cr_assert_eq(tintents_retire(t, 0), -EINVAL);
	/* Opening 12 keeps 11 (being committed), opening 13 drops it; its
	 * file stays until retired. */
	cr_assert_eq(tintents_open(t, 12), 0);
	cr_assert_eq(tintents_declare(t, 11, a, 900, 1), 0);
	cr_assert_eq(tintents_open(t, 13), 0);
	cr_assert_eq(tintents_declare(t, 11, a, 901, 1), -ESTALE);
	cr_assert(exists(11));
	cr_assert_eq(tintents_retire(t, 11), 0);
	cr_assert_not(exists(11));
	tintents_free(t);
}

/* ---- scan */

static void put_file(uint64_t g, const void *buf, size_t len)
{
	char name[32];
	int fd;

	fname(g, name);
	unlinkat(mdir, name, 0);
	fd = openat(mdir, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(io_write_full(fd, buf, len), 0);
	close(fd);
}

/* n records for g of volume uuid, written by src/format. */
static size_t make_records(uint8_t *buf, uint64_t g, const uint8_t *uuid,
			   const struct intent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(intent_write(table_key, uuid, g, (uint32_t)i, &v[i],
					  buf + i * V2_INTENT_LEN), 0);
	return n * V2_INTENT_LEN;
}

Test(intents, scan_merges_per_object)
{
	struct tintents *t;
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN];
	struct intent *out;
	size_t n;

	oid(a, 1);
	oid(b, 2);
	cr_assert(memcmp(a, b, COFFRE_ID_LEN) < 0, "a sorts first");
	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &t), 0);
	cr_assert_eq(tintents_open(t, 20), 0);
	for (uint32_t x = 0; x < 40; x++)       /* a: 0..48 in 4 records */
		cr_assert_eq(tintents_declare(t, 20, a, x, 1), 0);
	cr_assert_eq(tintents_declare(t, 20, b, 300, 1), 0);
	cr_assert_eq(tintents_declare(t, 20, b, 100, 1), 0);
	cr_assert_eq(tintents_declare(t, 20, b, 101, 1), 0);
	cr_assert_eq(tintents_declare(t, 20, a, 1000, 1), 0);
	tintents_free(t);
	cr_assert_eq(tintents_scan(mdir, &keys, 20, &out, &n), 0);
	cr_assert_eq(n, 4);
	expect_rec(&out[0], a, 0, 49);
	expect_rec(&out[1], a, 960, 64);   /* a has declared 49 */
	expect_rec(&out[2], b, 100, 17);
	expect_rec(&out[3], b, 300, 1);
	free(out);
	cr_assert_eq(tintents_scan(mdir, &keys, 21, &out, &n), -ENOENT);
	cr_assert_null(out);
	cr_assert_eq(tintents_scan(mdir, &keys, 0, &out, &n), -EINVAL);
	/* An empty file: nothing declared. */
	put_file(22, "", 0);
	cr_assert_eq(tintents_scan(mdir, &keys, 22, &out, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(out);
}

Test(intents, scan_torn_and_foreign)
{
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN], other[COFFRE_ID_LEN];
	uint8_t buf[8 * V2_INTENT_LEN], rec[V2_INTENT_LEN];
	struct intent v[5], *out;
	size_t len, n;

	oid(a, 1);
	oid(b, 2);
	memset(other, 0x3c, sizeof(other));
	v[0] = range(a, 0, 1);
	v[1] = range(b, 5, 2);
	v[2] = range(a, 1, 16);
	v[3] = range(a, 64, 64);
	v[4] = range(b, 9, 1);
	len = make_records(buf, 30, keys.uuid, v, 5);
	/* Cut in the middle of record 3: records 0..2. */
	for (size_t cut = 3 * V2_INTENT_LEN + 1; cut < 4 * V2_INTENT_LEN;
	     cut += 23) {
		put_file(30, buf, cut);
		cr_assert_eq(tintents_scan(mdir, &keys, 30, &out, &n), 0);
		cr_assert_eq(n, 2);
		expect_rec(&out[0], a, 0, 17);
		expect_rec(&out[1], b, 5, 2);
		free(out);
	}
	/* Whole: all five (b's 5..6 and 9 do not touch). */
	put_file(30, buf, len);
	cr_assert_eq(tintents_scan(mdir, &keys, 30, &out, &n), 0);
	cr_assert_eq(n, 4);
	expect_rec(&out[0], a, 0, 17);
	expect_rec(&out[1], a, 64, 64);
	expect_rec(&out[2], b, 5, 2);
	expect_rec(&out[3], b, 9, 1);
	free(out);
	/* Record 2 from generation 31, from another volume, at another
	 * index, or a flipped bit: the scan stops there. */
	for (int k = 0; k < 4; k++) {
		uint8_t tmp[sizeof(buf)];

		memcpy(tmp, buf, len);
		if (k == 0)
			cr_assert_eq(intent_write(table_key, keys.uuid, 31, 2, &v[2], rec), 0);
		else if (k == 1)
			cr_assert_eq(intent_write(table_key, other, 30, 2, &v[2], rec), 0);
		else if (k == 2)
			cr_assert_eq(intent_write(table_key, keys.uuid, 30, 3, &v[2], rec), 0);
		else {
			memcpy(rec, tmp + 2 * V2_INTENT_LEN, sizeof(rec));
			rec[5] ^= 0x01;
		}
		memcpy(tmp + 2 * V2_INTENT_LEN, rec, sizeof(rec));
		put_file(30, tmp, len);
		cr_assert_eq(tintents_scan(mdir, &keys, 30, &out, &n), 0);
		cr_assert_eq(n, 2, "case %d", k);
		expect_rec(&out[0], a, 0, 1);
		expect_rec(&out[1], b, 5, 2);
		free(out);
	}
	/* The whole file read as another generation: nothing. */
	put_file(32, buf, len);
	cr_assert_eq(tintents_scan(mdir, &keys, 32, &out, &n), 0);
	cr_assert_eq(n, 0);
	/* Records 0 and 1 swapped: nothing. */
	memcpy(rec, buf, V2_INTENT_LEN);
	memcpy(buf, buf + V2_INTENT_LEN, V2_INTENT_LEN);
	memcpy(buf + V2_INTENT_LEN, rec, V2_INTENT_LEN);
	put_file(30, buf, len);
	cr_assert_eq(tintents_scan(mdir, &keys, 30, &out, &n), 0);
	cr_assert_eq(n, 0);
}

/* A record whose MAC verifies but whose count is 0: tamper, not a torn
 * append (the MAC computed here from §12.4's text). */
Test(intents, scan_tamper)
{
	uint8_t a[COFFRE_ID_LEN], buf[3 * V2_INTENT_LEN];
	uint8_t in[16 + 8 + 4 + 32], mac[COFFRE_MAC_LEN];
	struct intent v[2], *out = (struct intent *)1;
	size_t n = 7;

	oid(a, 1);
	v[0] = range(a, 0, 1);
	v[1] = range(a, 8, 1);
	make_records(buf, 40, keys.uuid, v, 2);
	memcpy(buf + 2 * V2_INTENT_LEN, buf + V2_INTENT_LEN, V2_INTENT_LEN);
	/* record 2: count 0 */
	memset(buf + 2 * V2_INTENT_LEN + 8, 0, 4);
	memcpy(in, keys.uuid, 16);
	memset(in + 16, 0, 8);
	in[23] = 40;
	memset(in + 24, 0, 4);
	in[27] = 2;
	memcpy(in + 28, buf + 2 * V2_INTENT_LEN, 32);
	cr_assert_eq(hmac_sha256(table_key, sizeof(table_key), in, sizeof(in), mac), 0);
	memcpy(buf + 2 * V2_INTENT_LEN + 32, mac, 16);
	put_file(40, buf, sizeof(buf));
	cr_assert_eq(tintents_scan(mdir, &keys, 40, &out, &n), -EIO);
	cr_assert_null(out);
	cr_assert_eq(n, 0);
	/* The same with a reserved byte set instead. */
	buf[2 * V2_INTENT_LEN + 8 + 3] = 1;
	buf[2 * V2_INTENT_LEN + 13] = 1;
	memcpy(in + 28, buf + 2 * V2_INTENT_LEN, 32);
	cr_assert_eq(hmac_sha256(table_key, sizeof(table_key), in, sizeof(in), mac), 0);
	memcpy(buf + 2 * V2_INTENT_LEN + 32, mac, 16);
	put_file(40, buf, sizeof(buf));
	cr_assert_eq(tintents_scan(mdir, &keys, 40, &out, &n), -EIO);
	/* Control: without the reserved byte it is a good third record. */
	buf[2 * V2_INTENT_LEN + 13] = 0;
	memcpy(in + 28, buf + 2 * V2_INTENT_LEN, 32);
	cr_assert_eq(hmac_sha256(table_key, sizeof(table_key), in, sizeof(in), mac), 0);
	memcpy(buf + 2 * V2_INTENT_LEN + 32, mac, 16);
	put_file(40, buf, sizeof(buf));
	cr_assert_eq(tintents_scan(mdir, &keys, 40, &out, &n), 0);
	cr_assert_eq(n, 2, "a third record, the same as the second");
	expect_rec(&out[0], a, 0, 1);
	expect_rec(&out[1], a, 8, 1);
	free(out);
}

/* ---- hostile files at intent.<g> */

static void plant(uint64_t g, int kind)
{
	char name[32];

	fname(g, name);
	if (kind == 0)
		cr_assert_eq(mkfifoat(mdir, name, 0600), 0);
	else if (kind == 1)
		cr_assert_eq(symlinkat("/etc/passwd", mdir, name), 0);
	else
		cr_assert_eq(mkdirat(mdir, name, 0700), 0);
}

Test(intents, hostile_files, .timeout = 20)
{
	uint8_t a[COFFRE_ID_LEN];
	struct intent *out;
	struct tintents *t;
	size_t n;

	oid(a, 1);
	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &t), 0);
	for (int kind = 0; kind < 3; kind++) {
		uint64_t g = 50 + (uint64_t)kind;
		struct stat st;
		char name[32];

		plant(g, kind);
		/* Recovery: refused, no wait on the FIFO. */
		cr_assert_eq(tintents_scan(mdir, &keys, g, &out, &n), -EIO,
			     "kind %d", kind);
		cr_assert_null(out);
		/* The writer: never opened, every declare of g refused. */
		cr_assert_eq(tintents_open(t, g), 0);
		cr_assert_eq(tintents_declare(t, g, a, 0, 1), -EIO, "kind %d", kind);
		cr_assert_eq(tintents_declare(t, g, a, 9, 1), -EIO);
		cr_assert_eq(tintents_carry(t, g, (struct intent[]){ range(a, 1, 1) },
					    1), -EIO);
		fname(g, name);
		cr_assert_eq(fstatat(mdir, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		cr_assert_eq(st.st_mode & S_IFMT,
			     kind == 0 ? S_IFIFO : kind == 1 ? S_IFLNK : S_IFDIR,
			     "left as it was");
	}
	tintents_free(t);
	/* The target of the symlink is untouched. */
	struct stat st;
	cr_assert_eq(stat("/etc/passwd", &st), 0);
	cr_assert_gt(st.st_size, 0);
}

/* The file bound: a declare past TINTENTS_RECORDS_MAX records is refused
 * (-EFBIG), and the scan takes a full file but nothing larger. */
Test(intents, file_bound)
{
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN];
	struct intent *out;
	struct tintents *t;
	char name[32];
	size_t n;
	int fd;

	oid(a, 1);
	oid(b, 2);
	cr_assert_eq(tintents_new(mdir, &keys, TINTENTS_OBJECTS, &t), 0);
	cr_assert_eq(tintents_open(t, 60), 0);
	/* One call: {0}, then runs of 16, until the file is full. */
	cr_assert_eq(tintents_declare(t, 60, a, 0, 3000000), -EFBIG);
	cr_assert_eq(stats(t).appends, TINTENTS_RECORDS_MAX);
	cr_assert_eq(tintents_declare(t, 60, b, 0, 1), -EFBIG);
	/* What was written is covered: made durable on demand. */
	cr_assert_eq(tintents_declare(t, 60, a, 5, 1), 0);
	cr_assert_eq(tintents_durable(t, 60), TINTENTS_RECORDS_MAX);
	tintents_free(t);
	cr_assert_eq(tintents_scan(mdir, &keys, 60, &out, &n), 0);
	cr_assert_eq(n, 1);
	expect_rec(&out[0], a, 0, 1 + 16 * (TINTENTS_RECORDS_MAX - 1));
	free(out);
	/* One byte more (a torn 131073rd record): refused as too large. */
	fname(60, name);
	fd = openat(mdir, name, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)TINTENTS_RECORDS_MAX * V2_INTENT_LEN + 1), 0);
	close(fd);
	cr_assert_eq(tintents_scan(mdir, &keys, 60, &out, &n), -EIO);
}

/* ---- memory */

Test(intents, memory_bound)
{
	static struct intent r[4096];
	uint8_t id[COFFRE_ID_LEN];
	struct tintents_stats s0, s;
	struct tintents *t;
	size_t nr, covered;

	cr_assert_eq(tintents_new(mdir, &keys, 0, &t), -EINVAL);
	cr_assert_eq(tintents_new(mdir, &keys, 8, &t), 0);
	cr_assert_eq(tintents_open(t, 70), 0);
	s0 = stats(t);
	/* 20 objects in a table of 8: emptied twice; each object still
	 * declares once, and a forgotten one declares again. */
	for (unsigned i = 0; i < 20; i++) {
		oid(id, 1000 + i);
		cr_assert_eq(tintents_declare(t, 70, id, 3, 1), 0);
		cr_assert_leq(stats(t).objects, 8);
	}
	s = stats(t);
	cr_assert_eq(s.resets, 2);
	cr_assert_eq(s.appends, 20);
	cr_assert_eq(s.bytes, s0.bytes, "no growth");
	oid(id, 1019);
	cr_assert_eq(tintents_declare(t, 70, id, 3, 1), 0);
	cr_assert_eq(stats(t).appends, 20, "remembered");
	oid(id, 1000);
	cr_assert_eq(tintents_declare(t, 70, id, 3, 1), 0);
	cr_assert_eq(stats(t).appends, 21, "forgotten: declared again");
	/* One object, 200 scattered ranges of 64 (after its first 16): at
	 * most TINTENTS_RANGES remembered, and every group written is
	 * covered by a record in the file. */
	oid(id, 5);
	for (uint32_t i = 0; i < 216; i++)
		cr_assert_eq(tintents_declare(t, 70, id, 1000 * i + 7, 1), 0);
	cr_assert_eq(stats(t).bytes, s0.bytes, "no growth");
	for (uint32_t i = 0; i < 216; i++)
		cr_assert_eq(tintents_declare(t, 70, id, 1000 * i + 7, 1), 0);
	s = stats(t);
	cr_assert_geq(s.appends, 21 + 216 + 216 - 2 * TINTENTS_RANGES,
		      "the older ranges were forgotten (%llu)",
		      (unsigned long long)s.appends);
	nr = records(70, r, 4096);
	cr_assert_eq(nr, s.appends);
	covered = 0;
	for (uint32_t i = 0; i < 216; i++) {
		uint32_t x = 1000 * i + 7;

		for (size_t j = 0; j < nr; j++)
			if (memcmp(r[j].object_id, id, COFFRE_ID_LEN) == 0 &&
			    r[j].first_group <= x &&
			    x - r[j].first_group < r[j].group_count) {
				covered++;
				break;
			}
	}
	cr_assert_eq(covered, 216);
	/* The bound of table.h: about 540 B per object, two generations. */
	cr_log_info("%zu bytes for 8 objects in one generation", s.bytes);
	cr_assert_leq(s.bytes, sizeof(void *) * 64 + 8 * 600 + 16 * 4);
	tintents_free(t);
}
