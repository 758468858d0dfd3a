/*
 * cache.c: blocks come back as put, per owner; the byte bound holds with
 * its per-block overhead counted; LRU order decides what goes; counters;
 * drop by owner; a small cache keeps nothing; many threads at once.
 * Randomized against a model of LRU (seeded, reproducible).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "coffre/table.h"

static void fill(uint8_t blk[V2_TBLOCK_LEN], uint64_t owner, uint64_t index)
{
	for (size_t i = 0; i < V2_TBLOCK_LEN; i += 8) {
		uint64_t v = owner * 1000003u + index * 7919u + i;

		memcpy(blk + i, &v, 8);
	}
}

static bool is(const uint8_t blk[V2_TBLOCK_LEN], uint64_t owner, uint64_t index)
{
	uint8_t want[V2_TBLOCK_LEN];

	fill(want, owner, index);
	return memcmp(blk, want, sizeof(want)) == 0;
}

/* How many blocks a cache of max bytes holds: put until it evicts. */
static size_t capacity(struct tcache *c)
{
	uint8_t blk[V2_TBLOCK_LEN];
	struct tcache_stats s;
	size_t n = 0;

	fill(blk, 99, 0);
	for (;;) {
		tcache_put(c, 99, n, blk);
		tcache_stats(c, &s);
		if (s.evictions)
			return n;
		n++;
		cr_assert_lt(n, 100000);
	}
}

Test(cache, get_put_bound_and_lru)
{
	size_t max = 64 * 4096;
	struct tcache *c = tcache_new(max);
	uint8_t blk[V2_TBLOCK_LEN];
	struct tcache_stats s;
	uint64_t a, b;
	size_t cap;

	cr_assert_not_null(c);
	a = tcache_owner(c);
	b = tcache_owner(c);
	cr_assert_neq(a, b);
	cr_assert_not(tcache_get(c, a, 1, blk));
	fill(blk, a, 1);
	tcache_put(c, a, 1, blk);
	memset(blk, 0, sizeof(blk));
	cr_assert(tcache_get(c, a, 1, blk));
	cr_assert(is(blk, a, 1));
	cr_assert_not(tcache_get(c, b, 1, blk), "another owner's block");
	cr_assert_not(tcache_get(c, a, 2, blk));
	tcache_stats(c, &s);
	cr_assert_eq(s.hits, 1);
	cr_assert_eq(s.misses, 3);
	cr_assert_eq(s.max_bytes, max);
	cr_assert_gt(s.bytes, 4096, "a block costs more than its bytes");
	tcache_free(c);

	/* The overhead is counted: fewer than max / 4096 blocks fit. */
	c = tcache_new(max);
	cap = capacity(c);
	tcache_stats(c, &s);
	cr_assert_lt(cap, 64);
	cr_assert_geq(cap, 60);
	cr_assert_leq(s.bytes, max);
	tcache_free(c);
	/* At least 64 bytes a block besides its 4096: keys, links and the
	 * allocator's header. */
	c = tcache_new(1000 * 4096);
	cap = capacity(c);
	cr_assert_leq(cap, 1000 * 4096 / (4096 + 64));
	cr_assert_geq(cap, 1000 * 4096 / (4096 + 128));
	tcache_free(c);

	/* LRU: touch block 0, insert one more: block 1 goes, 0 stays. */
	c = tcache_new(max);
	cap = capacity(c);            /* blocks 0..cap-1 of owner 99, then cap */
	cr_assert_not(tcache_get(c, 99, 0, blk), "the least recent went");
	cr_assert(tcache_get(c, 99, 1, blk));
	fill(blk, 7, 7);
	tcache_put(c, 7, 7, blk);
	cr_assert(tcache_get(c, 99, 1, blk), "just used, kept");
	cr_assert_not(tcache_get(c, 99, 2, blk), "least recent, evicted");
	tcache_stats(c, &s);
	cr_assert_eq(s.evictions, 2);
	tcache_free(c);
}

Test(cache, drop_and_tiny)
{
	struct tcache *c = tcache_new(1 << 20);
	uint8_t blk[V2_TBLOCK_LEN];
	struct tcache_stats s, s0;
	uint64_t a = tcache_owner(c), b = tcache_owner(c);

	tcache_stats(c, &s0);
	for (uint64_t i = 0; i < 20; i++) {
		fill(blk, a, i);
		tcache_put(c, a, i, blk);
		fill(blk, b, i);
		tcache_put(c, b, i, blk);
	}
	tcache_drop(c, a);
	for (uint64_t i = 0; i < 20; i++) {
		cr_assert_not(tcache_get(c, a, i, blk));
		cr_assert(tcache_get(c, b, i, blk));
		cr_assert(is(blk, b, i));
	}
	tcache_drop(c, b);
	tcache_stats(c, &s);
	cr_assert_eq(s.bytes, s0.bytes, "only the buckets are left");
	tcache_free(c);

	/* Too small for one block: nothing kept, nothing above max. */
	c = tcache_new(4096);
	fill(blk, 1, 1);
	tcache_put(c, 1, 1, blk);
	cr_assert_not(tcache_get(c, 1, 1, blk));
	tcache_stats(c, &s);
	cr_assert_leq(s.bytes, 4096);
	tcache_free(c);
	c = tcache_new(0);
	tcache_put(c, 1, 1, blk);
	cr_assert_not(tcache_get(c, 1, 1, blk));
	tcache_free(c);
	/* A NULL cache is no cache. */
	tcache_put(NULL, 1, 1, blk);
	cr_assert_not(tcache_get(NULL, 1, 1, blk));
}

/* The model: keys in use order, most recent last. */
struct model {
	uint64_t key[64];
	size_t n;
};

static long model_find(struct model *m, uint64_t key)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->key[i] == key)
			return (long)i;
	return -1;
}

static void model_touch(struct model *m, long i)
{
	uint64_t k = m->key[i];

	memmove(&m->key[i], &m->key[i + 1], (m->n - (size_t)i - 1) * sizeof(k));
	m->key[m->n - 1] = k;
}

Test(cache, random_against_lru_model)
{
	struct tcache *c = tcache_new(16 * 4096 + 4096);
	uint8_t blk[V2_TBLOCK_LEN];
	struct tcache_stats s;
	struct model m = { .n = 0 };
	uint64_t hits = 0, misses = 0, evictions = 0;
	size_t cap = capacity(c);

	tcache_drop(c, 99);
	srandom(20260101);
	for (int step = 0; step < 20000; step++) {
		uint64_t owner = 1 + (uint64_t)(random() % 3);
		uint64_t index = (uint64_t)(random() % 12);
		uint64_t key = owner << 32 | index;
		long i = model_find(&m, key);
		int op = (int)(random() % 100);

		if (op < 50) {
			bool got = tcache_get(c, owner, index, blk);

			cr_assert_eq(got, i >= 0, "step %d", step);
			if (got) {
				cr_assert(is(blk, owner, index));
				model_touch(&m, i);
				hits++;
			} else {
				misses++;
			}
		} else if (op < 98) {
			fill(blk, owner, index);
			tcache_put(c, owner, index, blk);
			if (i >= 0) {
				model_touch(&m, i);
			} else {
				if (m.n == cap) {
					memmove(&m.key[0], &m.key[1],
						(m.n - 1) * sizeof(key));
					m.n--;
					evictions++;
				}
				m.key[m.n++] = key;
			}
		} else {
			size_t w = 0;

			tcache_drop(c, owner);
			for (size_t r = 0; r < m.n; r++)
				if (m.key[r] >> 32 != owner)
					m.key[w++] = m.key[r];
			m.n = w;
		}
		tcache_stats(c, &s);
		cr_assert_leq(s.bytes, s.max_bytes);
		cr_assert_eq(s.hits, hits);
		cr_assert_eq(s.misses, misses);
		cr_assert_eq(s.evictions, evictions + 1, "step %d", step);
	}
	tcache_free(c);
}

struct worker {
	struct tcache *c;
	unsigned seed;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	uint8_t blk[V2_TBLOCK_LEN];

	for (int i = 0; i < 20000; i++) {
		uint64_t owner = 1 + rand_r(&w->seed) % 4;
		uint64_t index = rand_r(&w->seed) % 50;

		if (tcache_get(w->c, owner, index, blk)) {
			cr_assert(is(blk, owner, index));
		} else {
			fill(blk, owner, index);
			tcache_put(w->c, owner, index, blk);
		}
		if (i % 5000 == 4999)
			tcache_drop(w->c, owner);
	}
	return NULL;
}

Test(cache, threads)
{
	struct tcache *c = tcache_new(40 * 4096);
	struct worker w[4];
	pthread_t t[4];
	struct tcache_stats s;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ c, (unsigned)i + 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	tcache_stats(c, &s);
	cr_assert_eq(s.hits + s.misses, 80000);
	cr_assert_leq(s.bytes, s.max_bytes);
	cr_assert_gt(s.evictions, 0);
	tcache_free(c);
}
