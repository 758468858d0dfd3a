/*
 * Shared by the hsm tests: a per-test SoftHSM2 token with a logged-in
 * handle (criterion .init/.fini hooks), and OpenSSL reference
 * implementations of what the token computes, for cross-checks.
 */
#ifndef COFFRE_TEST_HSM_FIXTURE_H
#define COFFRE_TEST_HSM_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "coffre/hsm.h"
#include "softhsm_token.h"

#define TEST_TOKEN "coffre-test"

extern struct test_softhsm fx_softhsm;
extern struct hsm *fx_hsm;
extern char fx_uri[256];

/* .init: private token store, one token TEST_TOKEN, fx_hsm logged in. */
void fx_token_open(void);
/* .init: private token store with no token and no handle. */
void fx_store_only(void);
/* .fini: close fx_hsm (if any) and remove the store. */
void fx_teardown(void);

/* OpenSSL AES-256-CMAC(key, msg), 16 bytes.  Return: 0 or -1. */
int ref_cmac(const uint8_t key[32], const uint8_t *msg, size_t len,
	     uint8_t mac[16]);
/* The same over 0^16, what a key check value is made of. */
int ref_cmac_zero(const uint8_t key[32], uint8_t mac[16]);
/* OpenSSL AES-256-GCM, 128-bit tag appended.  Return: 0 or -1. */
int ref_gcm_seal(const uint8_t key[32], const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t len, uint8_t *out);
/* A random key or IV from OpenSSL's DRBG (aborts the test on failure). */
void ref_random(void *buf, size_t n);

#endif
