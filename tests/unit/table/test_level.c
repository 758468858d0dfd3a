/*
 * level.c and lwrite.c: levels written by the streaming writer and read
 * back by lookup, full iteration and iteration from random keys (1, 49,
 * 50, 51, 5,000 and 600,000 entries: one and two index tiers; three
 * tiers' geometry through the format functions); a delta with tombstones;
 * the writer's refusals and its temp files; tamper of every kind of block
 * (flip, swap, blocks from another level, generation or volume, cut,
 * extension, a renamed file, index keys that disagree under valid MACs):
 * -EIO and never a wrong entry; the cache's bound and hit rate over many
 * levels; an iterator beside threads that look up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "coffre/io.h"
#include "coffre/table.h"

static const uint8_t table_key[COFFRE_KEY_LEN] = {
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45,
	0x67, 0x89, 0xab, 0xcd, 0xef, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
	0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
};
static struct table_keys K = {
	.uuid = { 0xc0, 0xff, 0x4e, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
	.key = table_key,
};

static char tmpdir[64];
static int mdir = -1;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/coffre-level-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	mdir = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(mdir, 0);
}

static void teardown(void)
{
	DIR *d = fdopendir(dup(mdir));
	struct dirent *de;

	if (d)
		rewinddir(d);          /* the dup shares mdir's offset */
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(mdir, de->d_name, de->d_type == DT_DIR ?
				 AT_REMOVEDIR : 0);
	}
	if (d)
		closedir(d);
	close(mdir);
	rmdir(tmpdir);
}

TestSuite(level, .init = setup, .fini = teardown, .timeout = 240);

/* ---- entries: OBJ of id (0, 2i + 2); the odd ids are absent */

static struct tent obj(uint64_t id)
{
	struct tentry e = { .kind = V2_TK_OBJ };
	struct tent t;
	uint64_t i = id / 2;

	for (int b = 0; b < 8; b++)
		e.u.obj.id[8 + b] = (uint8_t)(id >> (56 - 8 * b));
	e.u.obj.meta_epoch = (uint64_t)1 << 24 | (i & 0xffffff);
	e.u.obj.size = i;
	e.u.obj.names = 1;
	e.u.obj.mtime = (int64_t)i;
	cr_assert_eq(tent_from(&e, &t), 0);
	return t;
}

static struct tent ent(uint64_t i)
{
	return obj(2 * i + 2);
}

/* In delta tests every third entry is a tombstone. */
static struct tent dent(uint64_t i)
{
	struct tent t = ent(i), d;

	if (i % 3 != 0)
		return t;
	tent_tombstone(t.b, &d);
	return d;
}

static void absent_key(uint64_t i, uint8_t key[V2_TKEY_LEN])
{
	struct tent t = obj(2 * i + 1);      /* just below ent(i) */

	memcpy(key, t.b, V2_TKEY_LEN);
}

typedef struct tent (*entfn)(uint64_t);

static void header_for(uint8_t level, struct tlevel_header *h,
		       const uint8_t *base_mac)
{
	memset(h, 0, sizeof(*h));
	memset(h->anchor, 0xa7, sizeof(h->anchor));
	if (level == V2_LEVEL_DELTA) {
		h->base_gen = 1;
		memcpy(h->base_mac, base_mac, COFFRE_MAC_LEN);
	}
}

static void write_level(const struct table_keys *k, uint8_t level, uint64_t gen,
			uint64_t n, entfn f, uint8_t mac0[COFFRE_MAC_LEN])
{
	static const uint8_t some_mac[COFFRE_MAC_LEN] = { 1, 2, 3 };
	struct tlevel_writer *w;
	struct tlevel_header h;

	cr_assert_eq(tlevel_writer_new(mdir, level, gen, k, &w), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct tent e = f(i);

		cr_assert_eq(tlevel_writer_add(w, &e), 0, "entry %llu",
			     (unsigned long long)i);
	}
	header_for(level, &h, some_mac);
	cr_assert_eq(tlevel_writer_finish(w, &h, mac0), 0);
}

static void check_get(struct tlevel_file *f, uint64_t n, entfn fn)
{
	uint8_t key[V2_TKEY_LEN];
	struct tent e, want;

	for (uint64_t i = 0; i < n; i++) {
		want = fn(i);
		cr_assert_eq(tlevel_file_get(f, want.b, &e), 0, "entry %llu",
			     (unsigned long long)i);
		cr_assert(memcmp(e.b, want.b, sizeof(e.b)) == 0);
		absent_key(i, key);
		cr_assert_eq(tlevel_file_get(f, key, &e), -ENOENT);
	}
	absent_key(n, key);                       /* past the last */
	cr_assert_eq(tlevel_file_get(f, key, &e), -ENOENT);
	memset(key, 0, sizeof(key));
	key[0] = V2_TK_CONF;                      /* below the first */
	cr_assert_eq(tlevel_file_get(f, key, &e), -ENOENT);
	memset(key, 0xff, sizeof(key));
	key[0] = V2_TK_ESCNEXT;                   /* above every OBJ */
	cr_assert_eq(tlevel_file_get(f, key, &e), -ENOENT);
}

/* Iterate from `from` (NULL: the start), expecting entries first..
 * first + max - 1 (or to n), then the end if it came. */
static void check_iter(struct tlevel_file *f, const uint8_t *from, uint64_t first,
		       uint64_t max, uint64_t n, entfn fn)
{
	struct tsrc *s;
	struct tent e, want;
	uint64_t i;

	cr_assert_eq(tlevel_file_iter(f, from, &s), 0);
	for (i = first; i < n && i < first + max; i++) {
		want = fn(i);
		int r = tsrc_next(s, &e);

		cr_assert_eq(r, 1, "entry %llu: %d", (unsigned long long)i, r);
		cr_assert(memcmp(e.b, want.b, sizeof(e.b)) == 0, "entry %llu",
			  (unsigned long long)i);
	}
	if (i == n)
		cr_assert_eq(tsrc_next(s, &e), 0);
	tsrc_free(s);
}

static void check_level(uint8_t level, uint64_t n, entfn fn, size_t cache,
			unsigned tiers)
{
	struct tcache *c = tcache_new(cache);
	struct tlevel_file *f;
	const struct tlevel_header *h;
	uint8_t mac0[COFFRE_MAC_LEN], key[V2_TKEY_LEN];

	write_level(&K, level, 5, n, fn, mac0);
	cr_assert_eq(tlevel_file_open(mdir, level, 5, &K, c, &f), 0);
	h = tlevel_file_header(f);
	cr_assert_eq(h->n, n);
	cr_assert_eq(h->dn, (n + 49) / 50);
	cr_assert_eq(h->fn, tindex_blocks(h->dn));
	cr_assert_eq(tindex_tiers(h->dn), tiers);
	cr_assert_eq(h->gen, 5);
	cr_assert_eq(h->level, level);
	cr_assert(memcmp(tlevel_file_mac0(f), mac0, sizeof(mac0)) == 0);
	check_get(f, n, fn);
	check_iter(f, NULL, 0, n, n, fn);
	srandom((unsigned)n);
	for (int r = 0; r < 200; r++) {
		uint64_t i = (uint64_t)random() % (n + 1);

		absent_key(i, key);
		check_iter(f, key, i, 120, n, fn);
		if (i < n) {
			struct tent t = fn(i);

			check_iter(f, t.b, i, 120, n, fn);
		}
	}
	tlevel_file_close(f);
	tcache_free(c);
}

Test(level, sizes)
{
	static const uint64_t sizes[] = { 1, 49, 50, 51, 5000, 5001, 5051 };
	static const unsigned tiers[] = { 1, 1, 1, 1, 1, 2, 2 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		check_level(V2_LEVEL_BASE, sizes[i], ent, 1 << 20, tiers[i]);
		cr_assert_eq(unlinkat(mdir, "base.5", 0), 0);
	}
}

Test(level, delta_with_tombstones)
{
	struct tlevel_file *f;
	struct tent e;
	struct tent t0 = ent(0);

	check_level(V2_LEVEL_DELTA, 5051, dent, 1 << 20, 2);
	cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_DELTA, 5, &K, NULL, &f), 0);
	cr_assert_eq(tlevel_file_get(f, t0.b, &e), 0);
	cr_assert(tent_is_tombstone(&e), "a tombstone says deleted");
	cr_assert_eq(tlevel_file_header(f)->base_gen, 1);
	tlevel_file_close(f);
	/* The level is its name's: not a base. */
	cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_BASE, 5, &K, NULL, &f), -ENOENT);
}

/* Bytes in use on the heap (0 under ASan, whose allocator is its own). */
static long heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long)mi.uordblks;
}

Test(level, large_three_tiers_bounded_writer)
{
	const uint64_t n = 600000;
	struct tlevel_writer *w;
	struct tlevel_header h;
	struct tcache *c = tcache_new(12 << 20);
	struct tlevel_file *f;
	struct tcache_stats st;
	long before, peak = 0;
	struct stat sb;
	bool bad = false;

	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 9, &K, &w), 0);
	before = heap_used();
	for (uint64_t i = 0; i < n && !bad; i++) {
		if (i == 1000)
			before = heap_used();   /* OpenSSL's first use is behind */
		struct tentry d = { .kind = V2_TK_OBJ };
		struct tent e;

		/* ent(i) without the test framework's allocations */
		for (int b = 0; b < 8; b++)
			d.u.obj.id[8 + b] = (uint8_t)((2 * i + 2) >> (56 - 8 * b));
		d.u.obj.meta_epoch = (uint64_t)1 << 24 | ((i + 1) & 0xffffff);
		d.u.obj.size = i + 1;
		d.u.obj.names = 1;
		d.u.obj.mtime = (int64_t)i + 1;
		bad = tent_from(&d, &e) != 0 || tlevel_writer_add(w, &e) != 0;
		if (i % 10000 == 0 && i > 1000 && heap_used() - before > peak)
			peak = heap_used() - before;
	}
	cr_assert_not(bad);
	cr_assert_leq(peak, 4096, "the heap grew by %ld while writing", peak);
	cr_assert_geq(tlevel_writer_spilled(w), 11000, "first keys spilled");
	header_for(V2_LEVEL_BASE, &h, NULL);
	cr_assert_eq(tlevel_writer_finish(w, &h, NULL), 0);
	cr_assert_eq(fstatat(mdir, "base.9", &sb, 0), 0);
	cr_assert_eq((uint64_t)sb.st_size, (1 + 12000 + 120 + 2 + 1) * 4096ull);

	cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_BASE, 9, &K, c, &f), 0);
	/* 12,000 data blocks: 120 tier-1 blocks, 2 of tier 2, the top. */
	cr_assert_eq(tindex_tiers(tlevel_file_header(f)->dn), 3);
	check_get(f, n, ent);
	check_iter(f, NULL, 0, n, n, ent);
	srandom(600000);
	for (int r = 0; r < 300; r++) {
		uint64_t i = (uint64_t)random() % n;
		uint8_t key[V2_TKEY_LEN];

		absent_key(i, key);
		check_iter(f, key, i, 60, n, ent);
	}
	tcache_stats(c, &st);
	cr_assert_leq(st.bytes, st.max_bytes);
	cr_assert_gt(st.evictions, 0, "12,120 blocks do not fit in 12 MiB");
	tlevel_file_close(f);
	tcache_free(c);
}

Test(level, tier_geometry)
{
	/* Up to 100 data blocks one tier, up to 10,000 two, up to 1,000,000
	 * three (50 million entries); past that four (too big to write in a
	 * test: 4 GiB). */
	cr_assert_eq(tindex_tiers(100), 1);
	cr_assert_eq(tindex_tiers(101), 2);
	cr_assert_eq(tindex_tiers(10000), 2);
	cr_assert_eq(tindex_tiers(10001), 3);
	cr_assert_eq(tindex_tiers(12000), 3);
	cr_assert_eq(tindex_tiers(1000000), 3);
	cr_assert_eq(tindex_tiers(1000001), 4);
	cr_assert_eq(tindex_tier_blocks(12000, 1), 120);
	cr_assert_eq(tindex_tier_blocks(12000, 2), 2);
	cr_assert_eq(tindex_tier_blocks(12000, 3), 1);
	cr_assert_eq(tindex_blocks(1000000), 10000 + 100 + 1);
	cr_assert_eq(tlevel_file_size(1000000), (1 + 1000000 + 10101) * 4096ull);
	cr_assert_eq(tindex_block_index(1000000, 3, 0), 1 + 1000000 + 10000 + 100);
	cr_assert_eq(tindex_blocks(1000001), 10001 + 101 + 2 + 1);
}

/* ---- the writer's refusals and its files */

static int count_files(void)
{
	DIR *d = fdopendir(dup(mdir));
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	rewinddir(d);                  /* the dup shares mdir's offset */
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			n++;
		}
	}
	closedir(d);
	return n;
}

Test(level, writer_refusals)
{
	struct tlevel_writer *w;
	struct tlevel_header h;
	struct tent e0 = ent(0), e1 = ent(1), t1;
	uint8_t mac0[COFFRE_MAC_LEN], mac_again[COFFRE_MAC_LEN];
	struct tlevel_file *f;

	header_for(V2_LEVEL_BASE, &h, NULL);
	cr_assert_eq(tlevel_writer_new(mdir, 2, 5, &K, &w), -EINVAL);
	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 0, &K, &w), -EINVAL);
	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 1ull << 39, &K, &w),
		     -EINVAL);

	/* Order, tombstones in a base, a bad entry: refused, writer goes on. */
	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 5, &K, &w), 0);
	cr_assert_eq(count_files(), 1, "the temp (the key spill is unlinked)");
	cr_assert_eq(tlevel_writer_add(w, &e1), 0);
	cr_assert_eq(tlevel_writer_add(w, &e1), -EINVAL, "a key twice");
	cr_assert_eq(tlevel_writer_add(w, &e0), -EINVAL, "backwards");
	tent_tombstone(e1.b, &t1);
	t1.b[V2_TKEY_LEN - 1]++;
	cr_assert_eq(tlevel_writer_add(w, &t1), -EINVAL, "a tombstone in a base");
	e0 = ent(5);
	e0.b[30] = 1;                       /* key padding */
	cr_assert_eq(tlevel_writer_add(w, &e0), -EINVAL, "a bad entry");
	tlevel_writer_abort(w);
	cr_assert_eq(count_files(), 0, "abort leaves nothing");

	/* No entries; a header the format refuses (zero anchor). */
	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 5, &K, &w), 0);
	cr_assert_eq(tlevel_writer_finish(w, &h, NULL), -EINVAL);
	cr_assert_eq(count_files(), 0);
	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 5, &K, &w), 0);
	cr_assert_eq(tlevel_writer_add(w, &e1), 0);
	memset(h.anchor, 0, sizeof(h.anchor));
	cr_assert_eq(tlevel_writer_finish(w, &h, mac0), -EINVAL);
	cr_assert_eq(count_files(), 0);

	/* Never over an existing level; a stale temp is replaced. */
	write_level(&K, V2_LEVEL_BASE, 5, 70, ent, mac0);
	cr_assert_eq(count_files(), 1);
	cr_assert_eq(tlevel_writer_new(mdir, V2_LEVEL_BASE, 5, &K, &w), 0);
	cr_assert_eq(tlevel_writer_add(w, &e1), 0);
	header_for(V2_LEVEL_BASE, &h, NULL);
	cr_assert_eq(tlevel_writer_finish(w, &h, mac_again), -EEXIST);
	cr_assert_eq(count_files(), 1, "no temp left");
	cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_BASE, 5, &K, NULL, &f), 0);
	cr_assert_eq(tlevel_file_header(f)->n, 70, "the old level untouched");
	cr_assert(memcmp(tlevel_file_mac0(f), mac0, sizeof(mac0)) == 0);
	tlevel_file_close(f);
	cr_assert_eq(close(openat(mdir, ".coffre.tmp.base.6", O_CREAT | O_WRONLY, 0600)), 0);
	write_level(&K, V2_LEVEL_BASE, 6, 10, ent, NULL);
	cr_assert_eq(count_files(), 2, "base.5, base.6");
}

/* ---- tamper: every reply is right or -EIO */

#define TN 10000                 /* 200 data blocks, tier 1: 2 blocks, top */
#define TDN 200
#define TOP (1 + TDN + 2)

static uint8_t *file_get(const char *name, size_t *len)
{
	uint8_t *buf;

	cr_assert_eq(io_read_alloc(mdir, name, 64 << 20, &buf, len), 0);
	return buf;
}

static void file_put(const char *name, const uint8_t *buf, size_t len)
{
	unlinkat(mdir, name, 0);
	cr_assert_eq(io_create_new(mdir, name, buf, len, 0600), 0);
}

/* Open base.5 and read all of it: the count of -EIO replies (lookups and
 * the iteration's end); every entry that comes back is the right one.
 * -1 if the open itself is refused (with -EIO).  With `forged` (blocks
 * re-MACed with the key: a writer's fault, not an attacker's), the
 * iteration may pass on a forged entry of an odd id before it finds the
 * disagreement at the next block. */
static int probe_forged(bool forged)
{
	struct tcache *c = tcache_new(1 << 20);
	struct tlevel_file *f;
	struct tsrc *s;
	struct tent e, want;
	int err, eio = 0;
	uint64_t i;

	err = tlevel_file_open(mdir, V2_LEVEL_BASE, 5, &K, c, &f);
	if (err) {
		cr_assert_eq(err, -EIO);
		tcache_free(c);
		return -1;
	}
	for (i = 0; i < TN; i++) {
		want = ent(i);
		err = tlevel_file_get(f, want.b, &e);
		if (err == -EIO) {
			eio++;
			continue;
		}
		cr_assert_eq(err, 0, "entry %llu", (unsigned long long)i);
		cr_assert(memcmp(e.b, want.b, sizeof(e.b)) == 0);
	}
	/* The iteration: genuine entries, strictly increasing (blocks that
	 * disagree with the index under valid MACs may skip some). */
	err = tlevel_file_iter(f, NULL, &s);
	for (i = 0; s && (err = tsrc_next(s, &e)) == 1; i++) {
		uint64_t id = 0, k;

		for (int b = 0; b < 8; b++)
			id = id << 8 | e.b[9 + b];
		k = (id - 2) / 2;
		cr_assert_geq(k, i, "entry %llu", (unsigned long long)i);
		i = k;
		want = forged && id % 2 ? obj(id) : ent(k);
		cr_assert(memcmp(e.b, want.b, sizeof(e.b)) == 0, "entry %llu",
			  (unsigned long long)k);
	}
	tsrc_free(s);
	if (err) {
		cr_assert_eq(err, -EIO);
		eio++;
	} else {
		cr_assert_eq(i, TN);
	}
	tlevel_file_close(f);
	tcache_free(c);
	return eio;
}

static int probe(void)
{
	return probe_forged(false);
}

static void flip(uint8_t *buf, uint64_t block, size_t off)
{
	buf[block * V2_TBLOCK_LEN + off] ^= 0x01;
}

static void reset(const uint8_t *orig, uint8_t *buf, size_t len)
{
	memcpy(buf, orig, len);
}

Test(level, tamper)
{
	struct table_keys other = K;
	uint8_t *orig, *buf, *b, *d, tmp[V2_TBLOCK_LEN];
	size_t len, lb, ld;

	write_level(&K, V2_LEVEL_DELTA, 5, TN, ent, NULL);
	write_level(&K, V2_LEVEL_BASE, 4, TN, ent, NULL);
	other.uuid[0] ^= 0xff;
	write_level(&other, V2_LEVEL_BASE, 3, TN, ent, NULL);
	write_level(&K, V2_LEVEL_BASE, 5, TN, ent, NULL);
	orig = file_get("base.5", &len);
	cr_assert_eq(len, (TOP + 1) * V2_TBLOCK_LEN);
	buf = malloc(len);
	cr_assert_eq(probe(), 0, "untouched");

	/* Header: a field, a reserved byte, the MAC. */
	for (size_t off = 0; off < V2_TBLOCK_LEN; off += 1000) {
		reset(orig, buf, len);
		flip(buf, 0, off);
		file_put("base.5", buf, len);
		cr_assert_eq(probe(), -1, "header byte %zu", off);
	}
	/* Top block, and its MAC. */
	for (size_t off = 0; off < V2_TBLOCK_LEN; off += 4095) {
		reset(orig, buf, len);
		flip(buf, TOP, off);
		file_put("base.5", buf, len);
		cr_assert_eq(probe(), -1, "top byte %zu", off);
	}
	/* A data block: its 50 lookups and the iteration fail. */
	reset(orig, buf, len);
	flip(buf, 1 + 7, 123);
	file_put("base.5", buf, len);
	cr_assert_eq(probe(), 50 + 1);
	reset(orig, buf, len);
	flip(buf, TDN, 4080);                     /* the last's MAC */
	file_put("base.5", buf, len);
	cr_assert_eq(probe(), 50 + 1);
	/* A tier-1 index block: lookups under it (100 data blocks). */
	reset(orig, buf, len);
	flip(buf, 1 + TDN + 1, 7);
	file_put("base.5", buf, len);
	cr_assert_eq(probe(), 5000);
	/* Two data blocks swapped. */
	reset(orig, buf, len);
	memcpy(buf + 3 * V2_TBLOCK_LEN, orig + 4 * V2_TBLOCK_LEN, V2_TBLOCK_LEN);
	memcpy(buf + 4 * V2_TBLOCK_LEN, orig + 3 * V2_TBLOCK_LEN, V2_TBLOCK_LEN);
	file_put("base.5", buf, len);
	cr_assert_eq(probe(), 100 + 1);
	/* The same block of another level, generation, volume (same
	 * entries, so only the MAC tells). */
	b = file_get("delta.5", &lb);
	cr_assert_eq(lb, len);
	for (int which = 0; which < 3; which++) {
		const char *from = which == 0 ? "delta.5" : which == 1 ? "base.4"
								    : "base.3";

		d = file_get(from, &ld);
		cr_assert_eq(ld, len);
		for (uint64_t blk = 0; blk <= TOP; blk += TOP / 3) {
			int got;

			reset(orig, buf, len);
			memcpy(buf + blk * V2_TBLOCK_LEN, d + blk * V2_TBLOCK_LEN,
			       V2_TBLOCK_LEN);
			file_put("base.5", buf, len);
			got = probe();
			cr_assert(got == -1 || got > 0, "block %llu of %s",
				  (unsigned long long)blk, from);
		}
		free(d);
	}
	free(b);
	/* Cut, extended, by a block or a byte. */
	file_put("base.5", orig, len - V2_TBLOCK_LEN);
	cr_assert_eq(probe(), -1);
	file_put("base.5", orig, len - 1);
	cr_assert_eq(probe(), -1);
	reset(orig, buf, len);
	file_put("base.5", orig, 100);
	cr_assert_eq(probe(), -1);
	file_put("base.5", orig, 0);
	cr_assert_eq(probe(), -1);
	buf = realloc(buf, len + V2_TBLOCK_LEN);
	memcpy(buf, orig, len);
	memcpy(buf + len, orig + len - V2_TBLOCK_LEN, V2_TBLOCK_LEN);
	file_put("base.5", buf, len + V2_TBLOCK_LEN);
	cr_assert_eq(probe(), -1);
	file_put("base.5", buf, len + 1);
	cr_assert_eq(probe(), -1);
	/* Renamed: base.4 as base.5, delta.5 as base.5. */
	b = file_get("base.4", &lb);
	file_put("base.5", b, lb);
	cr_assert_eq(probe(), -1);
	free(b);
	b = file_get("delta.5", &lb);
	file_put("base.5", b, lb);
	cr_assert_eq(probe(), -1);
	free(b);

	/* Index and blocks that disagree under valid MACs (a writer's
	 * fault): data blocks 3 and 4 swapped and re-MACed in place. */
	reset(orig, buf, len);
	memcpy(tmp, buf + 3 * V2_TBLOCK_LEN, V2_TBLOCK_LEN);
	memcpy(buf + 3 * V2_TBLOCK_LEN, buf + 4 * V2_TBLOCK_LEN, V2_TBLOCK_LEN);
	memcpy(buf + 4 * V2_TBLOCK_LEN, tmp, V2_TBLOCK_LEN);
	cr_assert_eq(tblock_mac(K.key, K.uuid, 0, 5, 3, buf + 3 * V2_TBLOCK_LEN), 0);
	cr_assert_eq(tblock_mac(K.key, K.uuid, 0, 5, 4, buf + 4 * V2_TBLOCK_LEN), 0);
	file_put("base.5", buf, len);
	cr_assert_eq(probe(), 100 + 1);
	/* A tier-1 key moved down within its gap (still ordered): the block
	 * it names starts above it. */
	reset(orig, buf, len);
	{
		uint8_t *key = buf + (1 + TDN) * V2_TBLOCK_LEN + 10 * V2_TKEY_LEN;

		cr_assert_eq(key[16], 1002 & 0xff);
		key[16] -= 1;                    /* entry 500's id - 1: > 499's */
		cr_assert_eq(tblock_mac(K.key, K.uuid, 0, 5, 1 + TDN,
					buf + (1 + TDN) * V2_TBLOCK_LEN), 0);
	}
	file_put("base.5", buf, len);
	cr_assert_eq(probe(), 50, "block 10's lookups");

	/* A block whose first key is its index key but whose last passes
	 * the next one: data block 10's last entry (549) made 551.5. */
	reset(orig, buf, len);
	{
		struct tent odd = obj(1103);     /* between 550 (1102) and 551 */

		memcpy(buf + 11 * V2_TBLOCK_LEN + 49 * V2_TENTRY_LEN, odd.b,
		       V2_TENTRY_LEN);
		cr_assert_eq(tblock_mac(K.key, K.uuid, 0, 5, 11,
					buf + 11 * V2_TBLOCK_LEN), 0);
	}
	file_put("base.5", buf, len);
	cr_assert_eq(probe_forged(true), 50 + 1, "block 10's lookups, the iteration");

	/* The first entry of the level made smaller than the index says:
	 * the iteration from the start refuses at once. */
	reset(orig, buf, len);
	{
		struct tent odd = obj(1);

		memcpy(buf + V2_TBLOCK_LEN, odd.b, V2_TENTRY_LEN);
		cr_assert_eq(tblock_mac(K.key, K.uuid, 0, 5, 1, buf + V2_TBLOCK_LEN), 0);
	}
	file_put("base.5", buf, len);
	cr_assert_eq(probe_forged(true), 50 + 1, "block 0's lookups, the iteration");

	/* Not a regular file; absent. */
	unlinkat(mdir, "base.5", 0);
	cr_assert_eq(mkdirat(mdir, "base.5", 0700), 0);
	cr_assert_eq(probe(), -1);
	unlinkat(mdir, "base.5", AT_REMOVEDIR);
	cr_assert_eq(symlinkat("base.4", mdir, "base.5"), 0);
	cr_assert_eq(probe(), -1);
	unlinkat(mdir, "base.5", 0);
	{
		struct tlevel_file *f;

		cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_BASE, 5, &K, NULL, &f),
			     -ENOENT);
	}
	free(buf);
	free(orig);
}

/* ---- the cache over many levels */

Test(level, cache_bound_and_hits)
{
	struct tcache *c = tcache_new(64 * 4096);
	struct tlevel_file *f[8];
	struct tcache_stats s, s1;
	struct tent e;

	for (uint64_t g = 1; g <= 8; g++) {
		write_level(&K, V2_LEVEL_BASE, g, 5000, ent, NULL);
		cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_BASE, g, &K, c, &f[g - 1]), 0);
	}
	/* Every entry of every level: 800 data blocks through 64. */
	for (int l = 0; l < 8; l++) {
		for (uint64_t i = 0; i < 5000; i += 7) {
			struct tent want = ent(i);

			cr_assert_eq(tlevel_file_get(f[l], want.b, &e), 0);
			cr_assert(memcmp(e.b, want.b, sizeof(e.b)) == 0);
			tcache_stats(c, &s);
			cr_assert_leq(s.bytes, s.max_bytes);
		}
	}
	tcache_stats(c, &s);
	cr_assert_geq(s.evictions, 800 - 64);
	/* A working set that fits (40 blocks of one level): the second
	 * pass hits every time. */
	for (int pass = 0; pass < 2; pass++) {
		tcache_stats(c, &s1);
		for (uint64_t i = 0; i < 2000; i++) {
			struct tent want = ent(i);

			cr_assert_eq(tlevel_file_get(f[3], want.b, &e), 0);
		}
		tcache_stats(c, &s);
		if (pass == 1) {
			cr_assert_eq(s.misses, s1.misses, "all hits");
			cr_assert_eq(s.hits - s1.hits, 2000);
		}
	}
	/* Closing a level drops its blocks. */
	tcache_stats(c, &s1);
	tlevel_file_close(f[3]);
	tcache_stats(c, &s);
	cr_assert_lt(s.bytes, s1.bytes - 39 * 4096);
	for (int l = 0; l < 8; l++)
		if (l != 3)
			tlevel_file_close(f[l]);
	tcache_free(c);
}

/* ---- threads: lookups beside an iterator */

struct looker {
	struct tlevel_file *f;
	unsigned seed;
	int bad;
};

static void *look(void *arg)
{
	struct looker *l = arg;
	struct tent e;

	for (int r = 0; r < 20000; r++) {
		uint64_t i = rand_r(&l->seed) % 20000;
		struct tent want = ent(i);

		if (tlevel_file_get(l->f, want.b, &e) != 0 ||
		    memcmp(e.b, want.b, sizeof(e.b)) != 0)
			l->bad++;
	}
	return NULL;
}

Test(level, threads)
{
	struct tcache *c = tcache_new(50 * 4096);
	struct tlevel_file *f;
	struct looker l[2];
	pthread_t t[2];

	write_level(&K, V2_LEVEL_BASE, 5, 20000, ent, NULL);
	cr_assert_eq(tlevel_file_open(mdir, V2_LEVEL_BASE, 5, &K, c, &f), 0);
	for (int i = 0; i < 2; i++) {
		l[i] = (struct looker){ f, (unsigned)i + 7, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, look, &l[i]), 0);
	}
	for (int pass = 0; pass < 3; pass++)
		check_iter(f, NULL, 0, 20000, 20000, ent);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(l[i].bad, 0);
	}
	tlevel_file_close(f);
	tcache_free(c);
}

/* ---- randomized against a model: random sets of OBJ and NAME entries,
 * tombstones, lookups of present and absent keys, iterations from random
 * keys compared with tsrc_array over the sorted model (seeded). */

static int tent_qcmp(const void *a, const void *b)
{
	return tent_cmp(a, b);
}

static struct tent random_entry(unsigned *seed, bool delta)
{
	struct tentry e;
	struct tent t, d;

	memset(&e, 0, sizeof(e));
	if (rand_r(seed) % 2) {
		e.kind = V2_TK_OBJ;
		for (int b = 0; b < COFFRE_ID_LEN; b++)
			e.u.obj.id[b] = (uint8_t)(rand_r(seed) % 4);  /* collisions */
		e.u.obj.meta_epoch = (uint64_t)(1 + rand_r(seed) % 100) << 24;
		e.u.obj.size = (uint64_t)rand_r(seed);
	} else {
		e.kind = V2_TK_NAME;
		for (int b = 0; b < COFFRE_ID_LEN; b++) {
			e.u.name.parent[b] = (uint8_t)(rand_r(seed) % 3);
			e.u.name.name_id[b] = (uint8_t)rand_r(seed);
			e.u.name.object_id[b] = (uint8_t)rand_r(seed);
		}
		e.u.name.type = (uint8_t)(1 + rand_r(seed) % V2_NAME_TYPE_MAX);
	}
	cr_assert_eq(tent_from(&e, &t), 0);
	if (!delta || rand_r(seed) % 4)
		return t;
	tent_tombstone(t.b, &d);
	return d;
}

Test(level, random_against_model)
{
	struct tcache *c = tcache_new(32 * 4096);
	unsigned seed = 20261203;

	for (int round = 0; round < 12; round++) {
		uint8_t level = round % 2 ? V2_LEVEL_DELTA : V2_LEVEL_BASE;
		size_t want = 1 + (size_t)rand_r(&seed) % (round < 6 ? 120 : 8000);
		struct tent *m = calloc(want, sizeof(*m));
		struct tlevel_writer *w;
		struct tlevel_header h;
		struct tlevel_file *f;
		size_t n = 0;
		uint64_t gen = 10 + (uint64_t)round;

		for (size_t i = 0; i < want; i++)
			m[i] = random_entry(&seed, level == V2_LEVEL_DELTA);
		qsort(m, want, sizeof(*m), tent_qcmp);
		for (size_t i = 0; i < want; i++)           /* one per key */
			if (n == 0 || tent_cmp(&m[n - 1], &m[i]) != 0)
				m[n++] = m[i];
		cr_assert_eq(tlevel_writer_new(mdir, level, gen, &K, &w), 0);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(tlevel_writer_add(w, &m[i]), 0);
		header_for(level, &h, (const uint8_t[COFFRE_MAC_LEN]){ 9 });
		cr_assert_eq(tlevel_writer_finish(w, &h, NULL), 0);
		cr_assert_eq(tlevel_file_open(mdir, level, gen, &K, c, &f), 0);
		cr_assert_eq(tlevel_file_header(f)->n, n);
		for (size_t i = 0; i < n; i++) {
			struct tent got;

			cr_assert_eq(tlevel_file_get(f, m[i].b, &got), 0);
			cr_assert(memcmp(got.b, m[i].b, sizeof(got.b)) == 0);
		}
		for (int q = 0; q < 2000; q++) {
			struct tent probe_e = random_entry(&seed, false), got;
			struct tent *hit = bsearch(&probe_e, m, n, sizeof(*m), tent_qcmp);
			int err = tlevel_file_get(f, probe_e.b, &got);

			if (hit) {
				cr_assert_eq(err, 0);
				cr_assert(memcmp(got.b, hit->b, sizeof(got.b)) == 0);
			} else {
				cr_assert_eq(err, -ENOENT, "round %d query %d", round, q);
			}
		}
		for (int q = 0; q < 50; q++) {
			struct tent from = q ? random_entry(&seed, false) : m[0];
			struct tsrc *a, *s;
			struct tent x, y;
			int ra, rs, k = 0;

			cr_assert_eq(tsrc_array(m, n, from.b, &a), 0);
			cr_assert_eq(tlevel_file_iter(f, from.b, &s), 0);
			do {
				ra = tsrc_next(a, &x);
				rs = tsrc_next(s, &y);
				cr_assert_eq(rs, ra, "round %d iteration %d, entry %d",
					     round, q, k);
				if (ra == 1)
					cr_assert(memcmp(x.b, y.b, sizeof(x.b)) == 0);
				k++;
			} while (ra == 1 && k < 400);
			tsrc_free(a);
			tsrc_free(s);
		}
		tlevel_file_close(f);
		free(m);
	}
	tcache_free(c);
}
