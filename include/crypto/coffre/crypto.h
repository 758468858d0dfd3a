/*
 * coffre crypto core: AES-256-GCM segments on per-thread contexts, HKDF and
 * HMAC (SHA-256), AES-256-SIV entry names with base64url, a bulk nonce pool
 * and locked secret memory.  Knows nothing of FUSE, HSMs or key custody:
 * every key comes in as an argument.
 *
 * All functions return 0 (or a length where documented) on success and a
 * negative errno on failure.  Authentication failures are -EBADMSG.  All are
 * safe to call from several threads at once.
 */
#ifndef COFFRE_CRYPTO_H
#define COFFRE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COFFRE_KEY_LEN 32       /* AES-256 */
#define COFFRE_NONCE_LEN 12     /* GCM 96-bit nonce */
#define COFFRE_TAG_LEN 16       /* GCM / SIV tag */
#define COFFRE_SEG_OVERHEAD (COFFRE_NONCE_LEN + COFFRE_TAG_LEN)
#define COFFRE_SIV_KEY_LEN 64   /* AES-256-SIV: two AES-256 keys */
#define COFFRE_KCV_LEN 8        /* key check value: CMAC(K, 0^128), 8 bytes */
#define COFFRE_MAC_LEN 32       /* HMAC-SHA256 */
#define COFFRE_SHA256_LEN 32
#define COFFRE_NAME_PAD 32      /* names padded to a multiple of this */
#define COFFRE_NAME_MAX 255     /* longest plaintext entry name */
/* Longest encoded (base64url) name: (256 + 16) * 4 / 3 rounded up, + NUL. */
#define COFFRE_ENC_NAME_MAX 368
/* Long-name form: prefix + base64url(SHA-256(encoded)) = 9 + 43 chars. */
#define COFFRE_LONGNAME_PREFIX ".coffre.L"
#define COFFRE_LONGNAME_LEN 52

/* ---- secmem.c: locked, non-dumpable, wiped memory (OpenSSL secure heap) */

/* Set up the secure heap (size bytes, power of two) and make the process
 * non-dumpable.  Call once at start-up, before any thread. */
int secmem_init(size_t size);
/* Zeroed locked memory, or NULL. */
void *secmem_alloc(size_t n);
/* Wipe and free (p may be NULL). */
void secmem_free(void *p, size_t n);
/* Wipe a buffer in a way the compiler keeps. */
void secmem_wipe(void *p, size_t n);

/* ---- nonce.c: random bytes */

/* A fresh random 96-bit nonce from a per-thread pool refilled by getrandom()
 * in bulk; the pool is discarded after fork(). */
int nonce_fill(uint8_t nonce[COFFRE_NONCE_LEN]);
/* n random bytes straight from getrandom() (ids, DEKs). */
int random_bytes(void *buf, size_t n);

/* ---- aead.c: AES-256-GCM */

/*
 * A content key with a process-unique id, so a thread's cached cipher
 * context is re-keyed only when the key it last used changes.  Lives in
 * secmem; aead_key_init() assigns the id after the bytes are filled in.
 */
struct aead_key {
	uint8_t key[COFFRE_KEY_LEN];
	uint64_t id;
};
void aead_key_init(struct aead_key *k);
/* A zeroed key in locked memory (fill ->key, then aead_key_init), or NULL. */
struct aead_key *aead_key_new(void);
/* Wipe this key's schedule from every thread's cached context (each
 * context still keyed with it is reset; OpenSSL wipes its state).  Call
 * when no thread is using the key any more. */
void aead_key_retire(const struct aead_key *k);
/* How many thread contexts hold this key's schedule (tests). */
size_t aead_key_users(const struct aead_key *k);
/* aead_key_retire, then wipe and free (k may be NULL). */
void aead_key_free(struct aead_key *k);

/*
 * Seal plaintext segment `index` (len bytes, may be 0) into
 * out = nonce(12) || ciphertext(len) || tag(16), with
 * AAD = u64be(index) || u8(is_last).  out and pt must not overlap.
 */
int seg_seal(const struct aead_key *k, uint64_t index, bool is_last,
	     const uint8_t *pt, size_t len, uint8_t *out);
/* Open a stored segment of in_len >= 28 bytes into pt (in_len - 28 bytes).
 * -EBADMSG if it does not authenticate with that index and flag. */
int seg_open(const struct aead_key *k, uint64_t index, bool is_last,
	     const uint8_t *in, size_t in_len, uint8_t *pt);

/*
 * The same cached-context path with a caller-given AAD (aad_len bytes):
 * format version 2 segments, whose AAD src/format/v2 builds (doc/FORMAT.md
 * §3).  out = nonce(12) || ciphertext(len) || tag(16); open takes that and
 * answers -EBADMSG if it does not authenticate with this AAD.
 */
int seg2_seal(const struct aead_key *k, const uint8_t *aad, size_t aad_len,
	      const uint8_t *pt, size_t len, uint8_t *out);
int seg2_open(const struct aead_key *k, const uint8_t *aad, size_t aad_len,
	      const uint8_t *in, size_t in_len, uint8_t *pt);

/* One-shot GCM with a random nonce, for small objects (symlink targets,
 * xattr values): out = nonce || ct || tag, len + 28 bytes. */
int aead_seal(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *aad,
	      size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out);
int aead_open(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *aad,
	      size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out);

/* Raw GCM with a caller-chosen IV (test vectors).  key_len 16, 24 or 32;
 * iv_len 1..128 (-EINVAL for 0, -EOPNOTSUPP above OpenSSL 3.0's 1024-bit
 * limit); tag_len 12..16. */
int gcm_encrypt_raw(const uint8_t *key, size_t key_len, const uint8_t *iv,
		    size_t iv_len, const uint8_t *aad, size_t aad_len,
		    const uint8_t *pt, size_t len, uint8_t *ct, uint8_t *tag,
		    size_t tag_len);
int gcm_decrypt_raw(const uint8_t *key, size_t key_len, const uint8_t *iv,
		    size_t iv_len, const uint8_t *aad, size_t aad_len,
		    const uint8_t *ct, size_t len, const uint8_t *tag,
		    size_t tag_len, uint8_t *pt);

/* ---- kdf.c: RFC 5869 HKDF-SHA256, RFC 2104 HMAC-SHA256, SHA-256 */

int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		size_t salt_len, const uint8_t *info, size_t info_len,
		uint8_t *out, size_t out_len);
int hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data,
		size_t len, uint8_t out[COFFRE_MAC_LEN]);
int sha256(const uint8_t *data, size_t len, uint8_t out[COFFRE_MAC_LEN]);
/* After computing a MAC into computed (err: how that went), compare its
 * first len bytes with stored in constant time: err if it failed, else 0
 * or -EBADMSG.  computed is wiped either way. */
int mac_check(int err, uint8_t computed[COFFRE_MAC_LEN], const uint8_t *stored,
	      size_t len);
/* Streaming HMAC-SHA256 (kdf.c): final frees; free alone abandons. */
struct hmac_stream;
int hmac_stream_new(const uint8_t *key, size_t key_len, struct hmac_stream **out);
int hmac_stream_update(struct hmac_stream *h, const void *data, size_t len);
int hmac_stream_final(struct hmac_stream *h, uint8_t out[COFFRE_MAC_LEN]);
void hmac_stream_free(struct hmac_stream *h);

/* ---- siv.c: RFC 5297 AES-SIV with one associated-data string */

/* out = SIV(16) || ciphertext(len).  key_len 32, 48 or 64. */
int siv_encrypt(const uint8_t *key, size_t key_len, const uint8_t *ad,
		size_t ad_len, const uint8_t *pt, size_t len, uint8_t *out);
/* in = SIV || ciphertext; pt gets in_len - 16 bytes.  -EBADMSG on failure. */
int siv_decrypt(const uint8_t *key, size_t key_len, const uint8_t *ad,
		size_t ad_len, const uint8_t *in, size_t in_len, uint8_t *pt);

/* ---- b64url.c: RFC 4648 §5 base64url without padding */

/* Writes a NUL-terminated encoding into out (cap bytes); returns its length
 * or -ENAMETOOLONG if it does not fit. */
int b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Returns the decoded length, -EINVAL on a bad character, a bad final
 * quantum or non-canonical trailing bits, -ENAMETOOLONG if cap is short. */
int b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* ---- names.c: entry names (padding + SIV + base64url, long names) */

/*
 * Encrypt entry `name` (1..255 bytes, no '/', not "." or "..") for the
 * directory whose name key and 16-byte id are given: zero-pad to a multiple
 * of 32, AES-256-SIV with the dir id as AD, base64url.  out gets the full
 * encoding (cap >= COFFRE_ENC_NAME_MAX).  Returns its length.
 */
int name_encrypt(const uint8_t key[COFFRE_SIV_KEY_LEN], const uint8_t dir_id[16],
		 const char *name, char *out, size_t cap);
/* Reverse of name_encrypt; out (cap >= 256) gets a NUL-terminated name and
 * its length is returned.  -EBADMSG for anything that is not a valid
 * encrypted name: bad base64url or length, failed authentication, malformed
 * padding, or a decrypted name that is empty, ".", ".." or contains '/'. */
int name_decrypt(const uint8_t key[COFFRE_SIV_KEY_LEN], const uint8_t dir_id[16],
		 const char *enc, size_t enc_len, char *out, size_t cap);
/* True if an encoding is too long to be a backing name (> 255 bytes). */
bool name_is_long(size_t enc_len);
/* The backing name for a long encoding: ".coffre.L" + b64url(SHA-256(enc)),
 * into out (cap >= COFFRE_LONGNAME_LEN + 1). */
int name_long_hash(const char *enc, size_t enc_len, char *out, size_t cap);

#endif
