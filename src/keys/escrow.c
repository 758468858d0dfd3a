/*
 * escrow.c — escrowing master keys to the recovery public key.
 *
 * Every master key version is sealed to the volume's X25519 recovery
 * public key (RFC 7748) at the moment it exists outside the HSMs (init,
 * rotation), ECIES-style: an ephemeral X25519 key pair, the shared secret
 * through HKDF-SHA256 (RFC 5869; salt = ephemeral pub || recovery pub,
 * info "coffre/v1/escrow") into an AES-256-GCM key, the MK sealed with the
 * blob header (volume, MK version, check value) as AAD.  No custodian is
 * needed to escrow; K custodians' shares rebuild the private key that
 * opens it (enrolling a replacement HSM).  Blobs live in
 * .coffre/escrow/mk-v<N>, written atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "coffre/io.h"
#include "keys_private.h"


static int x25519_pub(const uint8_t priv[COFFRE_X25519_LEN],
		      uint8_t pub[COFFRE_X25519_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t len = 32;
	int err = k && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32 ?
		  0 : -EIO;

	EVP_PKEY_free(k);
	return err;
}

static int x25519_shared(const uint8_t priv[COFFRE_X25519_LEN], const uint8_t peer[32],
			 uint8_t out[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *ctx = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t len = 32;
	int err = -EIO;

	if (ctx && p && EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_derive_set_peer(ctx, p) == 1 &&
	    EVP_PKEY_derive(ctx, out, &len) == 1 && len == 32)
		err = 0;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
	return err;
}

int recovery_pub_of(const uint8_t priv[COFFRE_X25519_LEN], uint8_t pub[COFFRE_X25519_LEN])
{
	return x25519_pub(priv, pub);
}

int recovery_keypair(uint8_t priv[COFFRE_X25519_LEN], uint8_t pub[COFFRE_X25519_LEN])
{
	int err = random_bytes(priv, 32);

	/* X25519 clamps any 32 random bytes into a valid scalar. */
	return err ? err : x25519_pub(priv, pub);
}

static int escrow_key(const uint8_t shared[32], const uint8_t eph_pub[32],
		      const uint8_t rk_pub[COFFRE_X25519_LEN], uint8_t key[32])
{
	uint8_t salt[64];

	memcpy(salt, eph_pub, 32);
	memcpy(salt + 32, rk_pub, 32);
	return keys_kdf(KDF_ESCROW, shared, 32, salt, sizeof(salt), NULL, 0,
			key, 32);
}

/* The secrets of one escrow operation, in locked memory. */
struct escrow_secrets {
	uint8_t eph[COFFRE_X25519_LEN];       /* ephemeral private key (seal) */
	uint8_t shared[COFFRE_X25519_LEN];    /* X25519 shared secret */
	uint8_t key[COFFRE_KEY_LEN];          /* the GCM key derived from it */
};

int escrow_seal(const uint8_t rk_pub[COFFRE_X25519_LEN],
		const uint8_t uuid[COFFRE_ID_LEN], uint32_t mk_version,
		const uint8_t kcv[COFFRE_KCV_LEN], const uint8_t mk[COFFRE_KEY_LEN],
		struct escrow_blob *out)
{
	struct escrow_secrets *x = secmem_alloc(sizeof(*x));
	uint8_t aad[COFFRE_ESCROW_HDR_LEN], sealed[12 + 32 + 16];
	int err;

	memset(out, 0, sizeof(*out));
	if (!x)
		return -ENOMEM;
	memcpy(out->fs_uuid, uuid, COFFRE_ID_LEN);
	out->mk_version = mk_version;
	memcpy(out->kcv, kcv, COFFRE_KCV_LEN);
	err = recovery_keypair(x->eph, out->eph_pub);
	if (!err)
		err = x25519_shared(x->eph, rk_pub, x->shared);
	if (!err)
		err = escrow_key(x->shared, out->eph_pub, rk_pub, x->key);
	if (!err) {
		escrow_aad(out, aad);
		err = aead_seal(x->key, aad, sizeof(aad), mk, COFFRE_KEY_LEN, sealed);
	}
	if (!err) {
		memcpy(out->nonce, sealed, 12);
		memcpy(out->sealed, sealed + 12, 48);
	}
	secmem_free(x, sizeof(*x));
	return err;
}

int escrow_open(const uint8_t rk_priv[COFFRE_X25519_LEN], const struct escrow_blob *e,
		uint8_t mk[COFFRE_KEY_LEN])
{
	struct escrow_secrets *x = secmem_alloc(sizeof(*x));
	uint8_t rk_pub[COFFRE_X25519_LEN], aad[COFFRE_ESCROW_HDR_LEN];
	uint8_t sealed[12 + 48];
	int err = x ? x25519_pub(rk_priv, rk_pub) : -ENOMEM;

	if (!err)
		err = x25519_shared(rk_priv, e->eph_pub, x->shared);
	if (!err)
		err = escrow_key(x->shared, e->eph_pub, rk_pub, x->key);
	if (!err) {
		escrow_aad(e, aad);
		memcpy(sealed, e->nonce, 12);
		memcpy(sealed + 12, e->sealed, 48);
		err = aead_open(x->key, aad, sizeof(aad), sealed, sizeof(sealed), mk);
	}
	secmem_free(x, sizeof(*x));
	return err;
}

int escrow_store(int root_fd, const struct escrow_blob *e)
{
	uint8_t buf[COFFRE_ESCROW_LEN];
	char name[64];
	int dir, err;

	if ((err = io_mkdir_beneath(root_fd, COFFRE_ESCROW_DIR, 0700)) != 0 && err != -EEXIST)
		return err;
	dir = io_open_dir(root_fd, COFFRE_ESCROW_DIR);
	if (dir < 0)
		return dir;
	escrow_write(e, buf);
	escrow_name_write(e->mk_version, name);
	err = io_replace(dir, name, buf, sizeof(buf), 0600);
	close(dir);
	return err;
}

int escrow_load(int root_fd, uint32_t mk_version, struct escrow_blob *e)
{
	uint8_t buf[COFFRE_ESCROW_LEN + 1];
	char name[64], path[128];
	ssize_t n;

	escrow_name_write(mk_version, name);
	snprintf(path, sizeof(path), "%s/%s", COFFRE_ESCROW_DIR, name);
	n = io_read_small(root_fd, path, buf, sizeof(buf));
	if (n < 0 && n != -EFBIG && n != -EINVAL)
		return (int)n;
	if (n < 0 || escrow_parse(buf, (size_t)n, e) || e->mk_version != mk_version)
		return -EIO;
	return 0;
}

int escrow_remove(int root_fd, uint32_t mk_version)
{
	char name[64];
	int dir = io_open_dir(root_fd, COFFRE_ESCROW_DIR), err;

	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	escrow_name_write(mk_version, name);
	err = unlinkat(dir, name, 0) && errno != ENOENT ? -errno : 0;
	close(dir);
	return err;
}
