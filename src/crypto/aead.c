/*
 * AES-256-GCM (NIST SP 800-38D; McGrew & Viega, "The Galois/Counter Mode of
 * Operation") for file segments and small sealed objects, on OpenSSL 3.
 *
 * The fast path follows DESIGN §5: the cipher is fetched once
 * (EVP_CIPHER_fetch under pthread_once) and every thread keeps one encrypt
 * and one decrypt EVP_CIPHER_CTX for its whole life.  Each context remembers
 * the id of the aead_key it was last keyed with; a segment under the same
 * key re-initialises only the IV, so the AES key schedule and GHASH tables
 * are computed once per file, not once per segment.  The contexts are freed
 * (and wiped by OpenSSL) by a pthread_key destructor at thread exit.
 *
 * Key schedules do not outlive their key: every thread's contexts are
 * listed in a registry, and aead_key_free() (aead_key_retire()) resets,
 * under the context's own lock, every context still keyed with the key it
 * frees -- OpenSSL's GCM provider wipes its state (OPENSSL_clear_free) on
 * reset.  The owner takes that lock around each use: one uncontended
 * spinlock per segment, contended only while a key is being retired.
 *
 * Segment layout: nonce(12) || ciphertext || tag(16), with
 * AAD = u64be(index) || u8(is_last), so reordering, moving segments between
 * files and truncation at a segment boundary all fail authentication.
 * seg2_seal/seg2_open are the same cached-context path with the AAD given
 * by the caller: format version 2 segments (doc/FORMAT.md §3), whose AAD
 * and framing src/format/v2/segment.c builds; seg_seal/seg_open are them
 * with version 1's AAD.
 * Nonces are random (nonce.c).  A failed open wipes the output buffer so no
 * unauthenticated plaintext ever escapes.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "coffre/crypto.h"

#define SEG_AAD_LEN 9
/* OpenSSL's GCM_IV_MAX_SIZE (providers/.../ciphercommon_gcm.h). */
#define GCM_IV_MAX 128

/* Each thread writes its lock twice per segment: a struct of its own
 * cache line keeps two threads' locks from sharing one. */
#define CACHE_LINE 64

struct gcm_thread {
	pthread_spinlock_t lock;	/* owner while in use; aead_key_retire */
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	uint64_t enc_key_id;	/* 0: no key loaded */
	uint64_t dec_key_id;
	struct gcm_thread *prev, *next;	/* registry, under registry_lock */
} __attribute__((aligned(CACHE_LINE)));

static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
/* Indexed by key length / 8 - 2: AES-128, AES-192, AES-256. */
static EVP_CIPHER *gcm_cipher[3];
static pthread_key_t gcm_thread_key;
static bool gcm_ready;
static _Thread_local struct gcm_thread *gcm_self;
/* Key ids start at 1; 0 means "never initialised". */
static atomic_uint_fast64_t next_key_id = 1;
/* Every thread's contexts, so a retired key can be wiped from all. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gcm_thread *registry;

static void registry_add(struct gcm_thread *t)
{
	pthread_mutex_lock(&registry_lock);
	t->next = registry;
	if (registry)
		registry->prev = t;
	registry = t;
	pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct gcm_thread *t)
{
	pthread_mutex_lock(&registry_lock);
	if (t->prev)
		t->prev->next = t->next;
	else if (registry == t)
		registry = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&registry_lock);
}

static void gcm_thread_free(void *arg)
{
	struct gcm_thread *t = arg;

	if (t == NULL)
		return;
	registry_remove(t);
	EVP_CIPHER_CTX_free(t->enc);
	EVP_CIPHER_CTX_free(t->dec);
	pthread_spin_destroy(&t->lock);
	free(t);
	gcm_self = NULL;
}

static void gcm_global_init(void)
{
	static const char *const names[3] = {
		"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"
	};

	for (size_t i = 0; i < 3; i++) {
		gcm_cipher[i] = EVP_CIPHER_fetch(NULL, names[i], NULL);
		if (gcm_cipher[i] == NULL)
			return;
	}
	if (pthread_key_create(&gcm_thread_key, gcm_thread_free) != 0)
		return;
	gcm_ready = true;
}

static const EVP_CIPHER *gcm_cipher_for(size_t key_len)
{
	pthread_once(&gcm_once, gcm_global_init);
	if (!gcm_ready)
		return NULL;
	switch (key_len) {
	case 16:
		return gcm_cipher[0];
	case 24:
		return gcm_cipher[1];
	case 32:
		return gcm_cipher[2];
	default:
		return NULL;
	}
}

/* This thread's contexts, created on first use.  Return: NULL on failure. */
static struct gcm_thread *gcm_thread_get(void)
{
	const EVP_CIPHER *aes256 = gcm_cipher_for(COFFRE_KEY_LEN);
	struct gcm_thread *t;

	if (gcm_self != NULL)
		return gcm_self;
	if (aes256 == NULL)
		return NULL;
	if (posix_memalign((void **)&t, CACHE_LINE, sizeof(*t)) != 0)
		return NULL;
	memset(t, 0, sizeof(*t));
	if (pthread_spin_init(&t->lock, PTHREAD_PROCESS_PRIVATE) != 0) {
		free(t);
		return NULL;
	}
	t->enc = EVP_CIPHER_CTX_new();
	t->dec = EVP_CIPHER_CTX_new();
	if (t->enc == NULL || t->dec == NULL ||
	    !EVP_EncryptInit_ex2(t->enc, aes256, NULL, NULL, NULL) ||
	    !EVP_DecryptInit_ex2(t->dec, aes256, NULL, NULL, NULL) ||
	    pthread_setspecific(gcm_thread_key, t) != 0) {
		gcm_thread_free(t);
		return NULL;
	}
	registry_add(t);
	gcm_self = t;
	return t;
}

void aead_key_init(struct aead_key *k)
{
	k->id = atomic_fetch_add(&next_key_id, 1);
}

struct aead_key *aead_key_new(void)
{
	return secmem_alloc(sizeof(struct aead_key));
}

/* The cipher to pass when re-keying: NULL (keep the context, change the
 * key: no reallocation) unless aead_key_retire() reset the context. */
static const EVP_CIPHER *cipher_if_reset(EVP_CIPHER_CTX *ctx)
{
	return EVP_CIPHER_CTX_get0_cipher(ctx) ? NULL : gcm_cipher[2];
}

/* Drop a context's key: reset wipes the provider's state; the cipher is
 * set again on the next re-key (cipher_if_reset). */
static void ctx_wipe(EVP_CIPHER_CTX *ctx, uint64_t *key_id)
{
	EVP_CIPHER_CTX_reset(ctx);
	*key_id = 0;
}

void aead_key_retire(const struct aead_key *k)
{
	struct gcm_thread *t;

	if (k == NULL || k->id == 0)
		return;
	pthread_mutex_lock(&registry_lock);
	for (t = registry; t; t = t->next) {
		pthread_spin_lock(&t->lock);
		if (t->enc_key_id == k->id)
			ctx_wipe(t->enc, &t->enc_key_id);
		if (t->dec_key_id == k->id)
			ctx_wipe(t->dec, &t->dec_key_id);
		pthread_spin_unlock(&t->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

size_t aead_key_users(const struct aead_key *k)
{
	struct gcm_thread *t;
	size_t n = 0;

	pthread_mutex_lock(&registry_lock);
	for (t = registry; t; t = t->next) {
		pthread_spin_lock(&t->lock);
		n += (t->enc_key_id == k->id) + (t->dec_key_id == k->id);
		pthread_spin_unlock(&t->lock);
	}
	pthread_mutex_unlock(&registry_lock);
	return n;
}

void aead_key_free(struct aead_key *k)
{
	if (k == NULL)
		return;
	aead_key_retire(k);
	secmem_free(k, sizeof(*k));
}

static void seg_aad(uint64_t index, bool is_last, uint8_t aad[SEG_AAD_LEN])
{
	for (int i = 0; i < 8; i++)
		aad[i] = (uint8_t)(index >> (56 - 8 * i));
	aad[8] = is_last ? 1 : 0;
}

/*
 * Encrypt on an initialised GCM context: AAD, plaintext, tag.
 * Return: 0 or -EIO.
 */
static int gcm_run_encrypt(EVP_CIPHER_CTX *ctx, const uint8_t *aad,
			   size_t aad_len, const uint8_t *pt, size_t len,
			   uint8_t *ct, uint8_t *tag, size_t tag_len)
{
	int outl;

	if (aad_len > 0 &&
	    !EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len))
		return -EIO;
	if (len > 0 && !EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)len))
		return -EIO;
	if (!EVP_EncryptFinal_ex(ctx, ct + len, &outl))
		return -EIO;
	if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag_len, tag))
		return -EIO;
	return 0;
}

/*
 * Decrypt and verify on an initialised GCM context.  On any failure the
 * len bytes at pt are wiped.  Return: 0, -EBADMSG (tag mismatch) or -EIO.
 */
static int gcm_run_decrypt(EVP_CIPHER_CTX *ctx, const uint8_t *aad,
			   size_t aad_len, const uint8_t *ct, size_t len,
			   const uint8_t *tag, size_t tag_len, uint8_t *pt)
{
	uint8_t tag_copy[COFFRE_TAG_LEN];
	int outl;
	int err = -EIO;

	/* The ctrl interface takes a non-const pointer. */
	memcpy(tag_copy, tag, tag_len);
	if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag_len,
				 tag_copy))
		goto out;
	if (aad_len > 0 &&
	    !EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len))
		goto out;
	if (len > 0 && !EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)len))
		goto out;
	if (EVP_DecryptFinal_ex(ctx, pt + len, &outl) <= 0) {
		err = -EBADMSG;
		goto out;
	}
	err = 0;
out:
	if (err && len > 0)
		OPENSSL_cleanse(pt, len);
	return err;
}

/* Segments are at most a few MiB; OpenSSL's update takes an int. */
static bool len_ok(size_t len)
{
	return len <= (size_t)INT_MAX - 64;
}

int seg2_seal(const struct aead_key *k, const uint8_t *aad, size_t aad_len,
	      const uint8_t *pt, size_t len, uint8_t *out)
{
	struct gcm_thread *t;
	int err;

	if (k == NULL || k->id == 0 || out == NULL || (pt == NULL && len) ||
	    (aad == NULL && aad_len) || !len_ok(aad_len) || !len_ok(len))
		return -EINVAL;
	t = gcm_thread_get();
	if (t == NULL)
		return -ENOMEM;
	err = nonce_fill(out);
	if (err)
		return err;

	pthread_spin_lock(&t->lock);
	if (t->enc_key_id != k->id) {
		t->enc_key_id = 0;
		if (!EVP_EncryptInit_ex2(t->enc, cipher_if_reset(t->enc), k->key,
					 out, NULL)) {
			err = -EIO;
			goto out;
		}
		t->enc_key_id = k->id;
	} else if (!EVP_EncryptInit_ex2(t->enc, NULL, NULL, out, NULL)) {
		err = -EIO;
		goto out;
	}
	err = gcm_run_encrypt(t->enc, aad, aad_len, pt, len,
			      out + COFFRE_NONCE_LEN,
			      out + COFFRE_NONCE_LEN + len, COFFRE_TAG_LEN);
out:
	if (err) {
		/* Force a clean re-key next time; leave no partial output. */
		t->enc_key_id = 0;
		OPENSSL_cleanse(out, len + COFFRE_SEG_OVERHEAD);
	}
	pthread_spin_unlock(&t->lock);
	return err;
}

int seg2_open(const struct aead_key *k, const uint8_t *aad, size_t aad_len,
	      const uint8_t *in, size_t in_len, uint8_t *pt)
{
	struct gcm_thread *t;
	size_t len;
	int err;

	if (k == NULL || k->id == 0 || in == NULL ||
	    (aad == NULL && aad_len) || !len_ok(aad_len))
		return -EINVAL;
	if (in_len < COFFRE_SEG_OVERHEAD)
		return -EBADMSG;
	len = in_len - COFFRE_SEG_OVERHEAD;
	if ((pt == NULL && len) || !len_ok(len))
		return -EINVAL;
	t = gcm_thread_get();
	if (t == NULL)
		return -ENOMEM;

	pthread_spin_lock(&t->lock);
	if (t->dec_key_id != k->id) {
		t->dec_key_id = 0;
		if (!EVP_DecryptInit_ex2(t->dec, cipher_if_reset(t->dec), k->key,
					 in, NULL)) {
			err = -EIO;
			goto out;
		}
		t->dec_key_id = k->id;
	} else if (!EVP_DecryptInit_ex2(t->dec, NULL, NULL, in, NULL)) {
		err = -EIO;
		goto out;
	}
	err = gcm_run_decrypt(t->dec, aad, aad_len, in + COFFRE_NONCE_LEN,
			      len, in + COFFRE_NONCE_LEN + len, COFFRE_TAG_LEN,
			      pt);
out:
	if (err) {
		if (err != -EBADMSG)
			t->dec_key_id = 0;
		if (len > 0)
			OPENSSL_cleanse(pt, len);
	}
	pthread_spin_unlock(&t->lock);
	return err;
}

int seg_seal(const struct aead_key *k, uint64_t index, bool is_last,
	     const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t aad[SEG_AAD_LEN];

	seg_aad(index, is_last, aad);
	return seg2_seal(k, aad, sizeof(aad), pt, len, out);
}

int seg_open(const struct aead_key *k, uint64_t index, bool is_last,
	     const uint8_t *in, size_t in_len, uint8_t *pt)
{
	uint8_t aad[SEG_AAD_LEN];

	seg_aad(index, is_last, aad);
	return seg2_open(k, aad, sizeof(aad), in, in_len, pt);
}

/*
 * One GCM operation on a fresh context (one-shot and raw paths: not hot).
 * Return: 0, -EINVAL, -EOPNOTSUPP (IV over 128 bytes), -ENOMEM, -EBADMSG
 * (decrypt) or -EIO.
 */
static int gcm_oneshot(bool encrypt, const uint8_t *key, size_t key_len,
		       const uint8_t *iv, size_t iv_len, const uint8_t *aad,
		       size_t aad_len, const uint8_t *in, size_t len,
		       uint8_t *out, uint8_t *tag, const uint8_t *tag_in,
		       size_t tag_len)
{
	const EVP_CIPHER *cipher = gcm_cipher_for(key_len);
	OSSL_PARAM params[2];
	EVP_CIPHER_CTX *ctx = NULL;
	int err = -EINVAL;

	/* A zero-length IV is not GCM (SP 800-38D requires len(IV) >= 1);
	 * tags shorter than 96 bits are not accepted here. */
	if (key == NULL || iv == NULL || iv_len == 0 ||
	    (aad == NULL && aad_len) || !len_ok(aad_len) ||
	    (in == NULL && len) || (out == NULL && len) || !len_ok(len) ||
	    tag_len < 12 || tag_len > COFFRE_TAG_LEN)
		goto out;
	if (cipher == NULL)
		goto out;
	/* Valid GCM, but OpenSSL 3.0 caps the IV at 1024 bits. */
	err = -EOPNOTSUPP;
	if (iv_len > GCM_IV_MAX)
		goto out;
	err = -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_IVLEN,
						&iv_len);
	params[1] = OSSL_PARAM_construct_end();
	err = -EIO;
	if (encrypt) {
		if (!EVP_EncryptInit_ex2(ctx, cipher, NULL, NULL, params) ||
		    !EVP_EncryptInit_ex2(ctx, NULL, key, iv, NULL))
			goto out;
		err = gcm_run_encrypt(ctx, aad, aad_len, in, len, out, tag,
				      tag_len);
	} else {
		if (!EVP_DecryptInit_ex2(ctx, cipher, NULL, NULL, params) ||
		    !EVP_DecryptInit_ex2(ctx, NULL, key, iv, NULL))
			goto out;
		err = gcm_run_decrypt(ctx, aad, aad_len, in, len, tag_in,
				      tag_len, out);
	}
out:
	if (err && out != NULL && len > 0)
		OPENSSL_cleanse(out, len);
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

int gcm_encrypt_raw(const uint8_t *key, size_t key_len, const uint8_t *iv,
		    size_t iv_len, const uint8_t *aad, size_t aad_len,
		    const uint8_t *pt, size_t len, uint8_t *ct, uint8_t *tag,
		    size_t tag_len)
{
	if (tag == NULL)
		return -EINVAL;
	return gcm_oneshot(true, key, key_len, iv, iv_len, aad, aad_len, pt,
			   len, ct, tag, NULL, tag_len);
}

int gcm_decrypt_raw(const uint8_t *key, size_t key_len, const uint8_t *iv,
		    size_t iv_len, const uint8_t *aad, size_t aad_len,
		    const uint8_t *ct, size_t len, const uint8_t *tag,
		    size_t tag_len, uint8_t *pt)
{
	if (tag == NULL)
		return -EINVAL;
	return gcm_oneshot(false, key, key_len, iv, iv_len, aad, aad_len, ct,
			   len, pt, NULL, tag, tag_len);
}

int aead_seal(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *aad,
	      size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out)
{
	int err;

	if (out == NULL || !len_ok(len))
		return -EINVAL;
	err = nonce_fill(out);
	if (err)
		return err;
	err = gcm_encrypt_raw(key, COFFRE_KEY_LEN, out, COFFRE_NONCE_LEN, aad,
			      aad_len, pt, len, out + COFFRE_NONCE_LEN,
			      out + COFFRE_NONCE_LEN + len, COFFRE_TAG_LEN);
	if (err)
		OPENSSL_cleanse(out, COFFRE_NONCE_LEN + len + COFFRE_TAG_LEN);
	return err;
}

int aead_open(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *aad,
	      size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out)
{
	size_t len;

	if (in == NULL)
		return -EINVAL;
	if (in_len < COFFRE_SEG_OVERHEAD)
		return -EBADMSG;
	len = in_len - COFFRE_SEG_OVERHEAD;
	return gcm_decrypt_raw(key, COFFRE_KEY_LEN, in, COFFRE_NONCE_LEN, aad,
			       aad_len, in + COFFRE_NONCE_LEN, len,
			       in + COFFRE_NONCE_LEN + len, COFFRE_TAG_LEN,
			       out);
}
