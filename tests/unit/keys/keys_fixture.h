/*
 * Shared by the keys tests: a per-test SoftHSM2 token (tests/unit/hsm's
 * fixture) holding a master key whose bytes the test knows, a keys
 * directory under the token's temp dir, an OpenSSL reference for opening
 * a sealed record, and small file helpers.
 */
#ifndef COFFRE_TEST_KEYS_FIXTURE_H
#define COFFRE_TEST_KEYS_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffre/keys.h"
#include "keys/keys_private.h"
#include "fixture.h"

struct kfx {
	uint8_t uuid[COFFRE_ID_LEN];        /* the volume of the records */
	uint8_t mk[COFFRE_KEY_LEN];         /* MK version 1, also on the token */
	char keys[PATH_MAX];                /* the keys directory */
	int keys_fd;
	struct hsm_pool *pool;              /* the token, as the keys module uses it */
};
extern struct kfx kfx;

/* .init: token, random uuid, MK v1 imported as mk_label(uuid, 1) (with
 * fx_hsm), a one-member HSM pool over the token checked against that key,
 * an empty keys directory opened as kfx.keys_fd. */
void kfx_init(void);
/* .fini: close the pool and the keys dir, then fx_teardown(). */
void kfx_fini(void);
/* Import a random key as MK `version` of kfx.uuid; its bytes in mk. */
void kfx_import_mk(uint32_t version, uint8_t mk[COFFRE_KEY_LEN]);

/* OpenSSL AES-256-GCM open of ct||tag.  Return: 0, or -1 if the tag fails. */
int ref_gcm_open(const uint8_t key[32], const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *in,
		 size_t in_len, uint8_t *out);
/* Open a key record with the MK bytes, independently of the HSM. */
int ref_unseal(const uint8_t mk[COFFRE_KEY_LEN], const struct key_record *r,
	       uint8_t dek[COFFRE_KEY_LEN]);
/* Open the record file of (dir id, version) in kfx.keys with kfx.mk. */
int ref_unseal_file(const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		    uint8_t dek[COFFRE_KEY_LEN]);

/* RFC 5869 HKDF-SHA256 by OpenSSL's EVP_KDF (salt_len 0: no salt). */
void ref_hkdf_full(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		   size_t salt_len, const uint8_t *info, size_t info_len,
		   uint8_t *out, size_t len);
/* The same with an empty salt and a string info. */
void ref_hkdf(const uint8_t *ikm, size_t ikm_len, const char *info,
	      uint8_t *out, size_t len);
/* keyring_name_key's bytes, copied out (the key itself freed). */
int name_key_copy(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		  uint8_t out[COFFRE_SIV_KEY_LEN]);
/* <dir>/<hex id>.<version> */
void record_path(const char *dir, const uint8_t dir_id[COFFRE_ID_LEN],
		 uint32_t version, char out[PATH_MAX]);
/* Create or replace path with exactly these bytes and this mode. */
void put_file(const char *path, const void *buf, size_t len, mode_t mode);
/* Read a whole (small) file; returns its length. */
size_t get_file(const char *path, void *buf, size_t cap);
/* Entries of a directory other than . and .., and whether one starts
 * with prefix (prefix may be NULL). */
size_t dir_count(const char *dir, const char *prefix, size_t *with_prefix);

#endif
