/*
 * keyring.c: the DEK cache.  DEKs are checked against the records opened
 * independently with OpenSSL and the master key's bytes, the name key
 * against OpenSSL's own HKDF-SHA256 (RFC 5869, EVP_KDF), and the cache's
 * promise (the HSM only on a miss, bounded size, LRU, thread safety)
 * through keyring_stats().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "keys_fixture.h"

TestSuite(keyring, .init = kfx_init, .fini = kfx_fini, .timeout = 240);

static struct keyring *new_ring(size_t capacity)
{
	struct keyring *kr = keyring_new(kfx.pool, kfx.keys_fd, kfx.uuid, 1,
					 capacity);

	cr_assert_not_null(kr);
	return kr;
}

static void stats(struct keyring *kr, size_t *entries, uint64_t *unseals)
{
	keyring_stats(kr, entries, unseals);
}

/* DEK (dir, version) as OpenSSL opens its record file. */
static void ref_dek(const uint8_t id[COFFRE_ID_LEN], uint32_t version,
		    uint8_t dek[COFFRE_KEY_LEN])
{
	cr_assert_eq(ref_unseal_file(id, version, dek), 0,
		     "record v%u does not open with the MK", version);
}

static void expect_dek(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		       uint32_t version)
{
	uint8_t got[COFFRE_KEY_LEN], want[COFFRE_KEY_LEN];

	ref_dek(id, version, want);
	cr_assert_eq(keyring_dek(kr, id, version, got), 0);
	cr_assert_arr_eq(got, want, COFFRE_KEY_LEN);
}

Test(keyring, new_dir_writes_a_record_and_caches_it)
{
	uint8_t id[COFFRE_ID_LEN], none[COFFRE_ID_LEN] = { 0 };
	char path[PATH_MAX];
	struct keyring *kr = new_ring(16);
	uint64_t unseals;
	size_t entries;

	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, 0);
	cr_assert_eq(unseals, 0);
	cr_assert_eq(keyring_new_dir(kr, id), 0);
	cr_assert_arr_neq(id, none, COFFRE_ID_LEN);
	record_path(kfx.keys, id, 1, path);
	cr_assert_eq(access(path, F_OK), 0, "no record %s", path);
	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, 1);
	cr_assert_eq(unseals, 0);

	/* A hit never touches the HSM. */
	for (int i = 0; i < 20; i++)
		expect_dek(kr, id, 1);
	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, 1);
	cr_assert_eq(unseals, 0);
	keyring_free(kr);
}

Test(keyring, new_dirs_get_distinct_ids_and_keys)
{
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN];
	uint8_t ka[COFFRE_KEY_LEN], kb[COFFRE_KEY_LEN];
	struct keyring *kr = new_ring(16);

	cr_assert_eq(keyring_new_dir(kr, a), 0);
	cr_assert_eq(keyring_new_dir(kr, b), 0);
	cr_assert_arr_neq(a, b, COFFRE_ID_LEN);
	cr_assert_eq(keyring_dek(kr, a, 1, ka), 0);
	cr_assert_eq(keyring_dek(kr, b, 1, kb), 0);
	cr_assert_arr_neq(ka, kb, COFFRE_KEY_LEN);
	keyring_free(kr);
}

Test(keyring, fresh_keyring_unseals_once_then_hits)
{
	uint8_t id[COFFRE_ID_LEN], key[COFFRE_SIV_KEY_LEN];
	struct keyring *kr = new_ring(16), *kr2;
	uint64_t unseals;
	size_t entries;
	uint32_t v;

	cr_assert_eq(keyring_new_dir(kr, id), 0);
	keyring_free(kr);

	kr2 = new_ring(16);
	for (int i = 0; i < 50; i++) {
		expect_dek(kr2, id, 1);
		cr_assert_eq(name_key_copy(kr2, id, key), 0);
		cr_assert_eq(keyring_current_version(kr2, id, &v), 0);
	}
	stats(kr2, &entries, &unseals);
	cr_assert_eq(entries, 1);
	cr_assert_eq(unseals, 1);
	keyring_free(kr2);
}

/* A directory without a record (never made, or shredded) reads as EIO, the
 * answer the filesystem gives for data it cannot authenticate. */
Test(keyring, unknown_directory_is_eio)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	struct keyring *kr = new_ring(4);
	uint64_t unseals;
	size_t entries;

	ref_random(id, sizeof(id));
	cr_assert_eq(keyring_dek(kr, id, 1, dek), -EIO);
	cr_assert_eq(keyring_new_dir(kr, id), 0);
	cr_assert_eq(keyring_dek(kr, id, 2, dek), -EIO);
	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, 1);
	keyring_free(kr);
}

Test(keyring, capacity_bounds_the_cache)
{
	enum { N = 10, CAP = 4 };
	uint8_t ids[N][COFFRE_ID_LEN];
	struct keyring *kr = new_ring(CAP);
	uint64_t unseals, before;
	size_t entries;
	int i, pass;

	for (i = 0; i < N; i++) {
		cr_assert_eq(keyring_new_dir(kr, ids[i]), 0);
		stats(kr, &entries, &unseals);
		cr_assert_leq(entries, CAP);
	}
	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, CAP);
	cr_assert_eq(unseals, 0);
	before = unseals;
	for (pass = 0; pass < 3; pass++)
		for (i = 0; i < N; i++) {
			expect_dek(kr, ids[i], 1);
			stats(kr, &entries, &unseals);
			cr_assert_leq(entries, CAP);
		}
	/* A cyclic scan over more directories than fit always misses. */
	cr_assert_eq(unseals - before, 3 * N, "unseals %lu",
		     (unsigned long)(unseals - before));
	keyring_free(kr);
}

Test(keyring, eviction_is_least_recently_used)
{
	uint8_t ids[5][COFFRE_ID_LEN];
	struct keyring *kr = new_ring(4);
	uint64_t unseals;
	size_t entries;
	int i;

	for (i = 0; i < 4; i++)
		cr_assert_eq(keyring_new_dir(kr, ids[i]), 0);
	/* Use the oldest: ids[1] is now the least recent. */
	expect_dek(kr, ids[0], 1);
	cr_assert_eq(keyring_new_dir(kr, ids[4]), 0);
	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, 4);
	cr_assert_eq(unseals, 0);
	expect_dek(kr, ids[0], 1);
	expect_dek(kr, ids[2], 1);
	expect_dek(kr, ids[3], 1);
	expect_dek(kr, ids[4], 1);
	stats(kr, &entries, &unseals);
	cr_assert_eq(unseals, 0, "a recently used key was evicted");
	expect_dek(kr, ids[1], 1);
	stats(kr, &entries, &unseals);
	cr_assert_eq(unseals, 1);
	cr_assert_eq(entries, 4);
	keyring_free(kr);
}

Test(keyring, capacity_one)
{
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN];
	struct keyring *kr = new_ring(1);
	uint64_t unseals;
	size_t entries;

	cr_assert_eq(keyring_new_dir(kr, a), 0);
	cr_assert_eq(keyring_new_dir(kr, b), 0);
	for (int i = 0; i < 5; i++) {
		expect_dek(kr, a, 1);
		expect_dek(kr, b, 1);
	}
	stats(kr, &entries, &unseals);
	cr_assert_eq(entries, 1);
	cr_assert_eq(unseals, 10);
	keyring_free(kr);
}

Test(keyring, name_key_is_hkdf_of_dek_v1)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	uint8_t got[COFFRE_SIV_KEY_LEN], want[COFFRE_SIV_KEY_LEN];
	uint8_t got2[COFFRE_SIV_KEY_LEN], other[COFFRE_ID_LEN];
	struct keyring *kr = new_ring(8), *kr2;

	cr_assert_eq(COFFRE_SIV_KEY_LEN, 64);
	cr_assert_eq(keyring_new_dir(kr, id), 0);
	ref_dek(id, 1, dek);
	ref_hkdf(dek, sizeof(dek), "coffre/v1/names", want, sizeof(want));
	cr_assert_eq(name_key_copy(kr, id, got), 0);
	cr_assert_arr_eq(got, want, sizeof(want));

	/* The same from a keyring that unsealed the record itself. */
	kr2 = new_ring(8);
	cr_assert_eq(name_key_copy(kr2, id, got2), 0);
	cr_assert_arr_eq(got2, want, sizeof(want));

	/* Another directory, another name key. */
	cr_assert_eq(keyring_new_dir(kr, other), 0);
	cr_assert_eq(name_key_copy(kr, other, got2), 0);
	cr_assert_arr_neq(got2, want, sizeof(want));
	keyring_free(kr2);
	keyring_free(kr);
}

/* A second DEK version, sealed and written the way a rotation would. */
static void add_version(const uint8_t id[COFFRE_ID_LEN], uint32_t version,
			uint8_t dek[COFFRE_KEY_LEN])
{
	struct key_record r;

	ref_random(dek, COFFRE_KEY_LEN);
	cr_assert_eq(keyrec_seal(kfx.pool, kfx.uuid, 1, id, version, dek, &r), 0);
	cr_assert_eq(keystore_write(kfx.keys_fd, &r), 0);
}

Test(keyring, current_version_follows_the_records)
{
	uint8_t id[COFFRE_ID_LEN], dek2[COFFRE_KEY_LEN], got[COFFRE_KEY_LEN];
	uint8_t nk1[COFFRE_SIV_KEY_LEN], nk2[COFFRE_SIV_KEY_LEN];
	struct keyring *kr = new_ring(8), *kr2;
	uint32_t v = 0;

	cr_assert_eq(keyring_new_dir(kr, id), 0);
	cr_assert_eq(keyring_current_version(kr, id, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(name_key_copy(kr, id, nk1), 0);

	add_version(id, 2, dek2);
	kr2 = new_ring(8);
	cr_assert_eq(keyring_current_version(kr2, id, &v), 0);
	cr_assert_eq(v, 2);
	cr_assert_eq(keyring_dek(kr2, id, 2, got), 0);
	cr_assert_arr_eq(got, dek2, COFFRE_KEY_LEN);
	expect_dek(kr2, id, 1);
	/* The name key stays on version 1. */
	cr_assert_eq(name_key_copy(kr2, id, nk2), 0);
	cr_assert_arr_eq(nk1, nk2, sizeof(nk1));
	keyring_free(kr2);
	keyring_free(kr);
}

/*
 * DESIGN.md §3: "A directory's current DEK version for new files is kept
 * inside its authenticated key record, never in an unauthenticated file."
 * A stray file named like a later version (empty, or another directory's
 * record) must not move new files onto a key that does not unseal.
 */
Test(keyring, junk_version_file_does_not_change_current_version)
{
	uint8_t id[COFFRE_ID_LEN], other[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	char path[PATH_MAX], src[PATH_MAX];
	uint8_t buf[COFFRE_KEYREC_LEN];
	struct keyring *kr = new_ring(8), *kr2;
	uint32_t v = 0;

	cr_assert_eq(keyring_new_dir(kr, id), 0);
	cr_assert_eq(keyring_new_dir(kr, other), 0);
	keyring_free(kr);

	record_path(kfx.keys, id, 2, path);
	put_file(path, "", 0, 0600);
	kr2 = new_ring(8);
	cr_assert_eq(keyring_current_version(kr2, id, &v), 0);
	cr_assert_eq(keyring_dek(kr2, id, v, dek), 0,
		     "current version %u does not unseal", v);
	cr_assert_eq(v, 1, "an empty %s made version %u current", path, v);
	keyring_free(kr2);

	record_path(kfx.keys, other, 1, src);
	cr_assert_eq(get_file(src, buf, sizeof(buf)), sizeof(buf));
	put_file(path, buf, sizeof(buf), 0600);
	kr2 = new_ring(8);
	cr_assert_eq(keyring_current_version(kr2, id, &v), 0);
	cr_assert_eq(v, 1, "another directory's record made version %u current",
		     v);
	keyring_free(kr2);
}

Test(keyring, tampered_record_is_eio_and_the_hsm_survives)
{
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	uint8_t buf[COFFRE_KEYREC_LEN], key[COFFRE_SIV_KEY_LEN];
	char path[PATH_MAX];
	struct keyring *kr = new_ring(8), *kr2;
	uint64_t unseals;
	size_t entries;
	uint32_t v;

	cr_assert_eq(keyring_new_dir(kr, a), 0);
	cr_assert_eq(keyring_new_dir(kr, b), 0);
	keyring_free(kr);

	record_path(kfx.keys, a, 1, path);
	cr_assert_eq(get_file(path, buf, sizeof(buf)), sizeof(buf));
	buf[COFFRE_KEYREC_LEN - 20] ^= 0x04;  /* inside the sealed DEK */
	put_file(path, buf, sizeof(buf), 0600);

	kr2 = new_ring(8);
	cr_assert_eq(keyring_dek(kr2, a, 1, dek), -EIO);
	cr_assert_eq(name_key_copy(kr2, a, key), -EIO);
	cr_assert_eq(keyring_current_version(kr2, a, &v), -EIO);
	stats(kr2, &entries, &unseals);
	cr_assert_eq(entries, 0);
	cr_assert_eq(unseals, 0);
	/* The token still works for the other directory. */
	expect_dek(kr2, b, 1);
	cr_assert_eq(hsm_find_key(fx_hsm, "nosuch"), -ENOENT);
	/* A bad record is not an HSM failure: no failover, member still up. */
	{
		struct hsm_member_status st[2];

		cr_assert_eq(hsm_pool_status(kfx.pool, st, 2), 1);
		cr_assert_eq(st[0].state, HSM_UP, "member: %s", st[0].reason);
		cr_assert_eq(st[0].failovers, 0);
	}
	stats(kr2, &entries, &unseals);
	cr_assert_eq(entries, 1);
	cr_assert_eq(unseals, 1);
	keyring_free(kr2);
}

Test(keyring, record_of_another_directory_is_eio)
{
	uint8_t a[COFFRE_ID_LEN], b[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	char pa[PATH_MAX], pb[PATH_MAX];
	struct keyring *kr = new_ring(8), *kr2;

	cr_assert_eq(keyring_new_dir(kr, a), 0);
	cr_assert_eq(keyring_new_dir(kr, b), 0);
	keyring_free(kr);
	record_path(kfx.keys, a, 1, pa);
	record_path(kfx.keys, b, 1, pb);
	cr_assert_eq(rename(pa, pb), 0);  /* b's record replaced by a's */
	kr2 = new_ring(8);
	cr_assert_eq(keyring_dek(kr2, b, 1, dek), -EIO);
	keyring_free(kr2);
}

/* ---- threads */

enum { T_DIRS = 50, T_THREADS = 4, T_OPS = 300, T_CAP = 8 };

struct shared {
	struct keyring *kr;
	uint8_t ids[T_DIRS][COFFRE_ID_LEN];
	uint8_t deks[T_DIRS][COFFRE_KEY_LEN];
	uint8_t names[T_DIRS][COFFRE_SIV_KEY_LEN];
};

struct worker {
	struct shared *s;
	unsigned seed;
	int bad, errors;
	size_t max_entries;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint8_t dek[COFFRE_KEY_LEN], nk[COFFRE_SIV_KEY_LEN];
	uint64_t unseals;
	size_t entries;
	uint32_t v;
	int i, d, ret;

	for (i = 0; i < T_OPS; i++) {
		d = rand_r(&w->seed) % T_DIRS;
		switch (rand_r(&w->seed) % 4) {
		case 0:
			ret = name_key_copy(w->s->kr, w->s->ids[d], nk);
			if (!ret && memcmp(nk, w->s->names[d], sizeof(nk)))
				w->bad++;
			break;
		case 1:
			ret = keyring_current_version(w->s->kr, w->s->ids[d], &v);
			if (!ret && v != 1)
				w->bad++;
			break;
		default:
			ret = keyring_dek(w->s->kr, w->s->ids[d], 1, dek);
			if (!ret && memcmp(dek, w->s->deks[d], sizeof(dek)))
				w->bad++;
		}
		if (ret)
			w->errors++;
		keyring_stats(w->s->kr, &entries, &unseals);
		if (entries > w->max_entries)
			w->max_entries = entries;
	}
	return NULL;
}

Test(keyring, concurrent_lookups_are_correct)
{
	static struct shared s;
	struct worker w[T_THREADS];
	pthread_t th[T_THREADS];
	struct keyring *kr = new_ring(T_DIRS);
	uint64_t unseals;
	size_t entries;
	int i;

	for (i = 0; i < T_DIRS; i++) {
		cr_assert_eq(keyring_new_dir(kr, s.ids[i]), 0);
		ref_dek(s.ids[i], 1, s.deks[i]);
		ref_hkdf(s.deks[i], COFFRE_KEY_LEN, "coffre/v1/names",
			 s.names[i], COFFRE_SIV_KEY_LEN);
	}
	keyring_free(kr);

	s.kr = new_ring(T_CAP);
	for (i = 0; i < T_THREADS; i++) {
		w[i] = (struct worker){ .s = &s, .seed = 0x5eed0000u + (unsigned)i };
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < T_THREADS; i++) {
		cr_assert_eq(pthread_join(th[i], NULL), 0);
		cr_expect_eq(w[i].bad, 0, "thread %d: %d wrong keys", i, w[i].bad);
		cr_expect_eq(w[i].errors, 0, "thread %d: %d errors", i,
			     w[i].errors);
		cr_expect_leq(w[i].max_entries, T_CAP);
	}
	stats(s.kr, &entries, &unseals);
	cr_assert_leq(entries, T_CAP);
	cr_assert_gt(unseals, T_CAP, "a cache of %d over %d dirs must miss",
		     T_CAP, T_DIRS);
	keyring_free(s.kr);
}
