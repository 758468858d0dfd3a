/*
 * Unit tests for src/keys/escrow.c: master keys sealed to the X25519
 * recovery key.  The ECDH step is checked against RFC 7748 §6.1's
 * published keys; the rest by round trips and every kind of tampering.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/keys.h"
#include "keys/keys_private.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

Test(escrow, recovery_public_key_matches_rfc7748)
{
	/* RFC 7748 §6.1: Alice's private and public keys. */
	uint8_t priv[32], want[32], pub[32];

	hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", priv, 32);
	hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want, 32);
	cr_assert_eq(recovery_pub_of(priv, pub), 0);
	cr_assert_eq(memcmp(pub, want, 32), 0);
}

static void fixture(uint8_t priv[32], uint8_t pub[32], uint8_t uuid[16],
		    uint8_t mk[32], uint8_t kcv[8])
{
	cr_assert_eq(recovery_keypair(priv, pub), 0);
	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)i;
	for (int i = 0; i < 32; i++)
		mk[i] = (uint8_t)(0xa5 ^ i);
	for (int i = 0; i < 8; i++)
		kcv[i] = (uint8_t)i;
}

Test(escrow, seal_open_round_trip_and_fresh_ephemeral_keys)
{
	uint8_t priv[32], pub[32], uuid[16], mk[32], kcv[8], out[32];
	struct escrow_blob a, b;

	fixture(priv, pub, uuid, mk, kcv);
	cr_assert_eq(escrow_seal(pub, uuid, 3, kcv, mk, &a), 0);
	cr_assert_eq(escrow_seal(pub, uuid, 3, kcv, mk, &b), 0);
	cr_assert_neq(memcmp(a.eph_pub, b.eph_pub, 32), 0);
	cr_assert_eq(a.mk_version, 3);
	cr_assert_eq(escrow_open(priv, &a, out), 0);
	cr_assert_eq(memcmp(out, mk, 32), 0);
}

Test(escrow, wrong_key_or_tampering_does_not_open)
{
	uint8_t priv[32], pub[32], other[32], opub[32], uuid[16], mk[32], kcv[8];
	uint8_t out[32];
	struct escrow_blob e, t;

	fixture(priv, pub, uuid, mk, kcv);
	cr_assert_eq(recovery_keypair(other, opub), 0);
	cr_assert_eq(escrow_seal(pub, uuid, 1, kcv, mk, &e), 0);
	cr_assert_eq(escrow_open(other, &e, out), -EBADMSG);
	/* Every header field is bound: volume, version, check value. */
	t = e; t.fs_uuid[0] ^= 1;
	cr_assert_eq(escrow_open(priv, &t, out), -EBADMSG);
	t = e; t.mk_version++;
	cr_assert_eq(escrow_open(priv, &t, out), -EBADMSG);
	t = e; t.kcv[7] ^= 0x80;
	cr_assert_eq(escrow_open(priv, &t, out), -EBADMSG);
	t = e; t.eph_pub[5] ^= 1;
	cr_assert_neq(escrow_open(priv, &t, out), 0);
	t = e; t.nonce[0] ^= 1;
	cr_assert_eq(escrow_open(priv, &t, out), -EBADMSG);
	for (size_t i = 0; i < sizeof(e.sealed); i++) {
		t = e;
		t.sealed[i] ^= 0x01;
		cr_assert_eq(escrow_open(priv, &t, out), -EBADMSG, "byte %zu", i);
	}
}

Test(escrow, store_load_remove)
{
	char dir[] = "/tmp/coffre-escrow-XXXXXX";
	uint8_t priv[32], pub[32], uuid[16], mk[32], kcv[8];
	struct escrow_blob e, l;
	int root;

	cr_assert_not_null(mkdtemp(dir));
	root = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(root, 0);
	cr_assert_eq(mkdirat(root, ".coffre", 0700), 0);
	fixture(priv, pub, uuid, mk, kcv);
	cr_assert_eq(escrow_seal(pub, uuid, 2, kcv, mk, &e), 0);
	cr_assert_eq(escrow_store(root, &e), 0);
	cr_assert_eq(escrow_load(root, 2, &l), 0);
	cr_assert_eq(memcmp(&l, &e, sizeof(l)), 0);
	cr_assert_eq(escrow_load(root, 3, &l), -ENOENT);
	cr_assert_eq(escrow_remove(root, 2), 0);
	cr_assert_eq(escrow_load(root, 2, &l), -ENOENT);
	cr_assert_eq(escrow_remove(root, 2), 0);   /* already gone is fine */
	unlinkat(root, ".coffre/escrow", AT_REMOVEDIR);
	unlinkat(root, ".coffre", AT_REMOVEDIR);
	close(root);
	rmdir(dir);
}
