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
