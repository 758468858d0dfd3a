/*
 * Unit tests for aead.c: every Wycheproof AES-GCM case (all key and IV
 * sizes through the raw functions, the AES-256/96-bit-IV cases also through
 * aead_open), the AES-256 test cases 13-16 of McGrew & Viega's GCM
 * specification, segment round trips and tampering, and the per-thread
 * re-key logic.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"
#include "vectors.h"

Test(aead, wycheproof_aes_gcm)
{
	struct vec_file v;
	struct vec_case c;
	long oneshot_cases = 0, too_long_iv = 0;

	vec_open(&v, "aes_gcm_test.txt");
	while (vec_next(&v, &c)) {
		size_t key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
		uint8_t *key, *iv, *aad, *msg, *ct, *tag, *out, *out_tag, *sealed;
		bool valid = strcmp(c.result, "valid") == 0;
		int ret;

		cr_assert_eq(c.nfields, 9, "tcId %ld: field count", c.tc_id);
		cr_assert(valid || strcmp(c.result, "invalid") == 0,
			  "tcId %ld: unexpected result %s", c.tc_id, c.result);
		key = hex_alloc(c.field[3], &key_len);
		iv = hex_alloc(c.field[4], &iv_len);
		aad = hex_alloc(c.field[5], &aad_len);
		msg = hex_alloc(c.field[6], &msg_len);
		ct = hex_alloc(c.field[7], &ct_len);
		tag = hex_alloc(c.field[8], &tag_len);
		cr_assert_eq(msg_len, ct_len);
		out = calloc(1, msg_len + 1);
		out_tag = calloc(1, COFFRE_TAG_LEN);
		cr_assert(out && out_tag);

		ret = gcm_encrypt_raw(key, key_len, iv, iv_len, aad, aad_len,
				      msg, msg_len, out, out_tag, tag_len);
		if (iv_len > 128) {
			/*
			 * OpenSSL 3.0 caps GCM IVs at 1024 bits: these cases
			 * cannot run; the API must say so, not compute garbage.
			 */
			cr_expect_eq(ret, -EOPNOTSUPP, "tcId %ld", c.tc_id);
			cr_expect_eq(gcm_decrypt_raw(key, key_len, iv, iv_len,
						     aad, aad_len, ct, ct_len,
						     tag, tag_len, out),
				     -EOPNOTSUPP, "tcId %ld", c.tc_id);
			too_long_iv++;
			goto next;
		}
		if (iv_len == 0) {
			cr_expect_neq(ret, 0, "tcId %ld: empty IV accepted",
				      c.tc_id);
		} else {
			cr_expect_eq(ret, 0, "tcId %ld: encrypt %d", c.tc_id, ret);
			if (valid) {
				cr_expect(memcmp(out, ct, ct_len) == 0,
					  "tcId %ld: ciphertext", c.tc_id);
				cr_expect(memcmp(out_tag, tag, tag_len) == 0,
					  "tcId %ld: tag", c.tc_id);
			} else {
				cr_expect(memcmp(out_tag, tag, tag_len) != 0,
					  "tcId %ld: invalid tag recomputed",
					  c.tc_id);
			}
		}

		memset(out, 0xa5, msg_len);
		ret = gcm_decrypt_raw(key, key_len, iv, iv_len, aad, aad_len,
				      ct, ct_len, tag, tag_len, out);
		if (valid) {
			cr_expect_eq(ret, 0, "tcId %ld: decrypt %d", c.tc_id, ret);
			cr_expect(memcmp(out, msg, msg_len) == 0,
				  "tcId %ld: plaintext", c.tc_id);
		} else {
			cr_expect_neq(ret, 0, "tcId %ld: invalid accepted",
				      c.tc_id);
			if (iv_len != 0)
				cr_expect_eq(ret, -EBADMSG, "tcId %ld: %d",
					     c.tc_id, ret);
			cr_expect(all_zero(out, msg_len),
				  "tcId %ld: plaintext left on failure",
				  c.tc_id);
		}

		/* The production one-shot path: 256-bit key, 96-bit nonce. */
		if (key_len == COFFRE_KEY_LEN && iv_len == COFFRE_NONCE_LEN &&
		    tag_len == COFFRE_TAG_LEN) {
			sealed = malloc(ct_len + COFFRE_SEG_OVERHEAD);
			cr_assert_not_null(sealed);
			memcpy(sealed, iv, iv_len);
			memcpy(sealed + iv_len, ct, ct_len);
			memcpy(sealed + iv_len + ct_len, tag, tag_len);
			memset(out, 0xa5, msg_len);
			ret = aead_open(key, aad, aad_len, sealed,
					ct_len + COFFRE_SEG_OVERHEAD, out);
			if (valid) {
				cr_expect_eq(ret, 0, "tcId %ld: aead_open",
					     c.tc_id);
				cr_expect(memcmp(out, msg, msg_len) == 0);
			} else {
				cr_expect_eq(ret, -EBADMSG, "tcId %ld: aead_open",
					     c.tc_id);
				cr_expect(all_zero(out, msg_len));
			}
			oneshot_cases++;
			free(sealed);
		}
next:
		free(key); free(iv); free(aad); free(msg); free(ct); free(tag);
		free(out); free(out_tag);
	}
	vec_close(&v);
	/* 66 AES-256/96-bit cases; only the three 2056-bit IVs are out. */
	cr_expect_eq(oneshot_cases, 66);
	cr_expect_eq(too_long_iv, 3);
}

/*
 * McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B,
 * test cases 13-16 (256-bit key).
 */
struct gcm_kat {
	const char *key, *iv, *aad, *pt, *ct, *tag;
};

static const char gcm_k15[] =
	"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char gcm_p15[] =
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
static const char gcm_c15[] =
	"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

static const struct gcm_kat gcm_spec[] = {
	{ /* 13 */
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "-", "-", "-",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ /* 14 */
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "-",
	  "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ /* 15 */
	  gcm_k15, "cafebabefacedbaddecaf888", "-", gcm_p15, gcm_c15,
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ /* 16: test case 15 truncated to 60 bytes, with AAD */
	  gcm_k15, "cafebabefacedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2", NULL, NULL,
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

Test(aead, gcm_spec_test_cases_13_to_16)
{
	for (size_t i = 0; i < sizeof(gcm_spec) / sizeof(gcm_spec[0]); i++) {
		const struct gcm_kat *t = &gcm_spec[i];
		uint8_t key[32], iv[12], aad[20], pt[64], ct[64], tag[16];
		uint8_t out[64], out_tag[16];
		size_t key_len, iv_len, aad_len, pt_len, ct_len;

		key_len = hex_into(t->key, key, sizeof(key));
		iv_len = hex_into(t->iv, iv, sizeof(iv));
		aad_len = hex_into(t->aad, aad, sizeof(aad));
		pt_len = hex_into(t->pt ? t->pt : gcm_p15, pt, sizeof(pt));
		ct_len = hex_into(t->ct ? t->ct : gcm_c15, ct, sizeof(ct));
		if (t->pt == NULL)
			pt_len = ct_len = 60;
		hex_into(t->tag, tag, sizeof(tag));

		cr_assert_eq(gcm_encrypt_raw(key, key_len, iv, iv_len, aad,
					     aad_len, pt, pt_len, out, out_tag,
					     16), 0);
		cr_expect(memcmp(out, ct, ct_len) == 0, "case %zu ct", i + 13);
		cr_expect(memcmp(out_tag, tag, 16) == 0, "case %zu tag", i + 13);
		cr_assert_eq(gcm_decrypt_raw(key, key_len, iv, iv_len, aad,
					     aad_len, ct, ct_len, tag, 16, out),
			     0);
		cr_expect(memcmp(out, pt, pt_len) == 0, "case %zu pt", i + 13);
	}
}

static void make_key(struct aead_key *k, uint8_t fill)
{
	memset(k->key, fill, sizeof(k->key));
	k->key[0] ^= 0x5c;
	aead_key_init(k);
}

/* Check a sealed segment independently with the raw GCM function. */
static void expect_segment_is(const uint8_t *sealed, size_t len,
			      const uint8_t key[32], uint64_t index,
			      bool is_last, const uint8_t *pt)
{
	uint8_t aad[9];
	uint8_t *out = malloc(len + 1);

	cr_assert_not_null(out);
	for (int i = 0; i < 8; i++)
		aad[i] = (uint8_t)(index >> (56 - 8 * i));
	aad[8] = is_last;
	cr_expect_eq(gcm_decrypt_raw(key, 32, sealed, 12, aad, 9, sealed + 12,
				     len, sealed + 12 + len, 16, out), 0,
		     "segment does not follow nonce||ct||tag, AAD index||last");
	cr_expect(memcmp(out, pt, len) == 0);
	free(out);
}

Test(aead, segment_round_trip_sizes)
{
	static const size_t sizes[] = { 0, 1, 4096, 16384, 65536 };
	struct aead_key k;

	make_key(&k, 0x11);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		uint8_t *pt = malloc(len + 1), *back = malloc(len + 1);
		uint8_t *sealed = malloc(len + COFFRE_SEG_OVERHEAD);
		uint8_t *again = malloc(len + COFFRE_SEG_OVERHEAD);
		uint64_t index = (uint64_t)s * 0x0102030405ULL;

		cr_assert(pt && back && sealed && again);
		cr_assert_eq(random_bytes(pt, len), 0);
		for (int last = 0; last <= 1; last++) {
			cr_assert_eq(seg_seal(&k, index, last, pt, len, sealed), 0);
			expect_segment_is(sealed, len, k.key, index, last, pt);
			memset(back, 0xa5, len);
			cr_assert_eq(seg_open(&k, index, last, sealed,
					      len + COFFRE_SEG_OVERHEAD, back), 0,
				     "size %zu last %d", len, last);
			cr_expect(memcmp(back, pt, len) == 0, "size %zu", len);
			/* Fresh nonce each time: same input, new output. */
			cr_assert_eq(seg_seal(&k, index, last, pt, len, again), 0);
			cr_expect(memcmp(sealed, again,
					 len + COFFRE_SEG_OVERHEAD) != 0);
		}
		free(pt); free(back); free(sealed); free(again);
	}
}

Test(aead, segment_tampering_is_rejected)
{
	enum { LEN = 4096, SEALED = LEN + COFFRE_SEG_OVERHEAD };
	static const size_t flips[] = { 0, 11, 12, 12 + LEN / 2, 12 + LEN - 1,
					12 + LEN, SEALED - 1 };
	static uint8_t pt[LEN], sealed[SEALED], bad[SEALED], out[LEN];
	struct aead_key k, other;

	make_key(&k, 0x22);
	make_key(&other, 0x23);
	cr_assert_eq(random_bytes(pt, LEN), 0);
	cr_assert_eq(seg_seal(&k, 7, false, pt, LEN, sealed), 0);

	memset(out, 0xa5, LEN);
	cr_expect_eq(seg_open(&k, 8, false, sealed, SEALED, out), -EBADMSG);
	cr_expect(all_zero(out, LEN), "plaintext left after wrong index");
	memset(out, 0xa5, LEN);
	cr_expect_eq(seg_open(&k, 7, true, sealed, SEALED, out), -EBADMSG);
	cr_expect(all_zero(out, LEN));
	cr_expect_eq(seg_open(&k, 7 | (1ULL << 63), false, sealed, SEALED, out),
		     -EBADMSG);
	cr_expect_eq(seg_open(&other, 7, false, sealed, SEALED, out), -EBADMSG);
	cr_expect_eq(seg_open(&k, 7, false, sealed, SEALED - 1, out), -EBADMSG);
	cr_expect_eq(seg_open(&k, 7, false, sealed, COFFRE_SEG_OVERHEAD - 1,
			      out), -EBADMSG);

	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, sealed, SEALED);
		bad[flips[i]] ^= 0x01;
		memset(out, 0xa5, LEN);
		cr_expect_eq(seg_open(&k, 7, false, bad, SEALED, out), -EBADMSG,
			     "flipped byte %zu accepted", flips[i]);
		cr_expect(all_zero(out, LEN), "plaintext left, byte %zu",
			  flips[i]);
	}
	/* After all those failures the cached context still works. */
	cr_expect_eq(seg_open(&k, 7, false, sealed, SEALED, out), 0);
	cr_expect(memcmp(out, pt, LEN) == 0);
}

Test(aead, uninitialised_key_is_refused)
{
	struct aead_key k;
	uint8_t out[COFFRE_SEG_OVERHEAD];

	memset(&k, 0, sizeof(k));
	cr_expect_eq(seg_seal(&k, 0, true, NULL, 0, out), -EINVAL);
	cr_expect_eq(seg_open(&k, 0, true, out, sizeof(out), NULL), -EINVAL);
}

/* seg2_seal/seg2_open: the cached path with a caller's AAD (format 2). */
Test(aead, seg2_caller_aad)
{
	enum { LEN = 100, SEALED = LEN + COFFRE_SEG_OVERHEAD };
	static const uint8_t aad[17] = { 0, 0, 0, 0, 0, 0, 0, 5, 1,
					 0, 0, 0, 0, 1, 0, 0, 2 };
	uint8_t pt[LEN], sealed[SEALED], bad[SEALED], out[LEN], other[17];
	uint8_t v1aad[9] = { 0, 0, 0, 0, 0, 0, 0, 5, 1 };
	struct aead_key k;

	make_key(&k, 0x31);
	cr_assert_eq(random_bytes(pt, LEN), 0);
	cr_assert_eq(seg2_seal(&k, aad, sizeof(aad), pt, LEN, sealed), 0);
	/* Independently: raw GCM with the same AAD opens it. */
	cr_expect_eq(gcm_decrypt_raw(k.key, 32, sealed, 12, aad, sizeof(aad),
				     sealed + 12, LEN, sealed + 12 + LEN, 16,
				     out), 0);
	cr_expect(memcmp(out, pt, LEN) == 0);
	memset(out, 0, LEN);
	cr_expect_eq(seg2_open(&k, aad, sizeof(aad), sealed, SEALED, out), 0);
	cr_expect(memcmp(out, pt, LEN) == 0);
	/* Every AAD byte is bound, and so is its length. */
	for (size_t i = 0; i < sizeof(aad); i++) {
		memcpy(other, aad, sizeof(aad));
		other[i] ^= 0x80;
		memset(out, 0xa5, LEN);
		cr_expect_eq(seg2_open(&k, other, sizeof(other), sealed,
				       SEALED, out), -EBADMSG, "aad byte %zu", i);
		cr_expect(all_zero(out, LEN));
	}
	cr_expect_eq(seg2_open(&k, aad, 16, sealed, SEALED, out), -EBADMSG);
	memcpy(bad, sealed, SEALED);
	bad[SEALED - 1] ^= 1;
	cr_expect_eq(seg2_open(&k, aad, sizeof(aad), bad, SEALED, out),
		     -EBADMSG);
	cr_expect_eq(seg2_open(&k, aad, sizeof(aad), sealed,
			       COFFRE_SEG_OVERHEAD - 1, out), -EBADMSG);
	cr_expect_eq(seg2_open(&k, NULL, 1, sealed, SEALED, out), -EINVAL);
	cr_expect_eq(seg2_seal(&k, NULL, 1, pt, LEN, sealed), -EINVAL);
	/* seg_seal is seg2_seal with version 1's AAD. */
	cr_assert_eq(seg_seal(&k, 5, true, pt, LEN, sealed), 0);
	cr_expect_eq(seg2_open(&k, v1aad, sizeof(v1aad), sealed, SEALED, out),
		     0);
	cr_assert_eq(seg2_seal(&k, v1aad, sizeof(v1aad), pt, LEN, sealed), 0);
	cr_expect_eq(seg_open(&k, 5, true, sealed, SEALED, out), 0);
	cr_expect(memcmp(out, pt, LEN) == 0);
}

Test(aead, keys_get_distinct_ids)
{
	struct aead_key a, b;

	make_key(&a, 1);
	make_key(&b, 1);
	cr_expect_neq(a.id, 0);
	cr_expect_neq(a.id, b.id);
}

/* Alternating keys on one thread: each segment must be under its own key. */
Test(aead, rekey_when_key_changes)
{
	uint8_t pt[100], sealed[100 + COFFRE_SEG_OVERHEAD], out[100];
	struct aead_key keys[3];

	for (int i = 0; i < 3; i++)
		make_key(&keys[i], (uint8_t)(0x40 + i));
	cr_assert_eq(random_bytes(pt, sizeof(pt)), 0);
	for (int round = 0; round < 30; round++) {
		struct aead_key *k = &keys[(round * 7 / 3) % 3];
		struct aead_key *wrong = &keys[(round * 7 / 3 + 1) % 3];

		cr_assert_eq(seg_seal(k, (uint64_t)round, false, pt,
				      sizeof(pt), sealed), 0);
		expect_segment_is(sealed, sizeof(pt), k->key, (uint64_t)round,
				  false, pt);
		cr_expect_eq(seg_open(wrong, (uint64_t)round, false, sealed,
				      sizeof(sealed), out), -EBADMSG);
		cr_expect_eq(seg_open(k, (uint64_t)round, false, sealed,
				      sizeof(sealed), out), 0, "round %d", round);
		cr_expect(memcmp(out, pt, sizeof(pt)) == 0);
	}
}

/* A thread that seals and opens with a key, then waits (as an idle FUSE
 * worker does) until told to use its contexts again. */
struct idler {
	const struct aead_key *key;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int step;                     /* 1: first use done; 2: go again */
	int failures;
};

static void idler_use(struct idler *d)
{
	uint8_t pt[64] = { 7 }, sealed[64 + COFFRE_SEG_OVERHEAD], out[64];

	if (seg_seal(d->key, 3, true, pt, sizeof(pt), sealed) ||
	    seg_open(d->key, 3, true, sealed, sizeof(sealed), out) ||
	    memcmp(out, pt, sizeof(pt)))
		d->failures++;
}

static void *idler_thread(void *arg)
{
	struct idler *d = arg;

	idler_use(d);
	pthread_mutex_lock(&d->mu);
	d->step = 1;
	pthread_cond_broadcast(&d->cv);
	while (d->step != 2)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
	idler_use(d);              /* contexts were reset: re-keyed cleanly */
	return NULL;
}

/* A retired key leaves no schedule in any thread's contexts, even in a
 * thread that stays idle, and those contexts keep working afterwards. */
Test(aead, retire_wipes_idle_threads_contexts)
{
	struct aead_key *k = aead_key_new(), *k2 = aead_key_new();
	struct idler d = { .mu = PTHREAD_MUTEX_INITIALIZER,
			   .cv = PTHREAD_COND_INITIALIZER };
	pthread_t th;

	cr_assert(k && k2);
	make_key(k, 0x21);
	make_key(k2, 0x22);
	d.key = k;
	cr_assert_eq(pthread_create(&th, NULL, idler_thread, &d), 0);
	pthread_mutex_lock(&d.mu);
	while (d.step != 1)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
	idler_use(&(struct idler){ .key = k2 });
	cr_assert_eq(aead_key_users(k), 2, "encrypt and decrypt contexts");
	cr_assert_eq(aead_key_users(k2), 2);

	aead_key_retire(k);
	cr_assert_eq(aead_key_users(k), 0);
	cr_assert_eq(aead_key_users(k2), 2, "other keys are left alone");

	pthread_mutex_lock(&d.mu);
	d.step = 2;
	pthread_cond_broadcast(&d.cv);
	pthread_mutex_unlock(&d.mu);
	pthread_join(th, NULL);
	cr_assert_eq(d.failures, 0);
	aead_key_free(k);
	aead_key_free(k2);
}

struct sealer {
	struct aead_key key;
	int failures;
};

static void *sealer_thread(void *arg)
{
	struct sealer *s = arg;
	uint8_t pt[512], sealed[512 + COFFRE_SEG_OVERHEAD], out[512];
	uint8_t aad[9] = { 0 };

	for (uint64_t i = 0; i < 2000; i++) {
		memset(pt, (int)(i & 0xff), sizeof(pt));
		pt[0] = s->key.key[1];
		if (seg_seal(&s->key, i, i % 5 == 0, pt, sizeof(pt), sealed)) {
			s->failures++;
			continue;
		}
		for (int b = 0; b < 8; b++)
			aad[b] = (uint8_t)(i >> (56 - 8 * b));
		aad[8] = i % 5 == 0;
		/* Independent check on a fresh context, then the cached one. */
		if (gcm_decrypt_raw(s->key.key, 32, sealed, 12, aad, 9,
				    sealed + 12, sizeof(pt),
				    sealed + 12 + sizeof(pt), 16, out) ||
		    memcmp(out, pt, sizeof(pt)) != 0)
			s->failures++;
		if (seg_open(&s->key, i, i % 5 == 0, sealed, sizeof(sealed),
			     out) || memcmp(out, pt, sizeof(pt)) != 0)
			s->failures++;
	}
	return NULL;
}

Test(aead, concurrent_threads_with_different_keys)
{
	enum { N = 4 };
	struct sealer s[N];
	pthread_t tid[N];

	for (int i = 0; i < N; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		make_key(&s[i].key, (uint8_t)(0x70 + i));
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(pthread_create(&tid[i], NULL, sealer_thread,
					    &s[i]), 0);
	for (int i = 0; i < N; i++) {
		pthread_join(tid[i], NULL);
		cr_expect_eq(s[i].failures, 0, "thread %d: %d failures", i,
			     s[i].failures);
	}
}

Test(aead, oneshot_round_trip_and_aad_binding)
{
	uint8_t key[32], other[32], pt[300], sealed[300 + 28], out[300];
	static const uint8_t aad[] = "file-id||user.comment";

	cr_assert_eq(random_bytes(key, sizeof(key)), 0);
	memcpy(other, key, sizeof(key));
	other[31] ^= 0x80;
	cr_assert_eq(random_bytes(pt, sizeof(pt)), 0);
	for (size_t len = 0; len <= sizeof(pt); len += 150) {
		cr_assert_eq(aead_seal(key, aad, sizeof(aad), pt, len, sealed), 0);
		cr_expect_eq(aead_open(key, aad, sizeof(aad), sealed, len + 28,
				       out), 0);
		cr_expect(memcmp(out, pt, len) == 0);
		cr_expect_eq(aead_open(key, aad, sizeof(aad) - 1, sealed,
				       len + 28, out), -EBADMSG);
		cr_expect_eq(aead_open(other, aad, sizeof(aad), sealed, len + 28,
				       out), -EBADMSG);
		cr_expect_eq(aead_open(key, NULL, 0, sealed, len + 28, out),
			     -EBADMSG);
	}
	cr_expect_eq(aead_open(key, NULL, 0, sealed, 27, out), -EBADMSG);
}

Test(aead, raw_rejects_bad_parameters)
{
	uint8_t key[32] = { 0 }, iv[12] = { 0 }, buf[16] = { 0 }, tag[16];

	cr_expect_eq(gcm_encrypt_raw(key, 20, iv, 12, NULL, 0, buf, 16, buf,
				     tag, 16), -EINVAL);
	cr_expect_eq(gcm_encrypt_raw(key, 32, iv, 0, NULL, 0, buf, 16, buf,
				     tag, 16), -EINVAL);
	cr_expect_eq(gcm_encrypt_raw(key, 32, iv, 12, NULL, 0, buf, 16, buf,
				     tag, 8), -EINVAL);
	cr_expect_eq(gcm_decrypt_raw(key, 32, iv, 12, NULL, 0, buf, 16, tag,
				     17, buf), -EINVAL);
}
