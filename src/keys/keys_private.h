/*
 * keys_private.h — what the files of src/keys share: the config file and
 * lock helpers (conf.c) and the master key ceremony (ceremony.c).  Not a
 * public header.
 */
#ifndef COFFRE_KEYS_PRIVATE_H
#define COFFRE_KEYS_PRIVATE_H

#include <sys/types.h>

#include "coffre/hsm.h"
#include "coffre/keys.h"

/* An open volume; the rest of the tree sees it through keys.h. */
struct volume {
	int root_fd;                  /* backing root, O_PATH|O_DIRECTORY */
	int keys_fd;                  /* .coffre/keys */
	int lock_fd;                  /* holds the exclusive volume lock */
	struct volume_conf conf;
	struct hsm_pool *hsm;
	bool degraded;                /* some HSMs did not answer at open */
	struct keyring *keys;
	char mk_label[COFFRE_MK_LABEL_MAX];
};

/* ---- keystore.c: sealed DEK records (DEKs in and out: src/keys only) */
/* Remove every record of a directory (crypto-shredding), calling gone (may
 * be NULL) with each removed file's name; returns how many. */
int keystore_destroy_dir(int keys_dirfd, const uint8_t dir_id[COFFRE_ID_LEN],
			 void (*gone)(const char *name, void *ctx), void *ctx);

/* "coffre-mk-<uuid hex>-v<version>" */
void mk_label(const uint8_t uuid[COFFRE_ID_LEN], uint32_t mk_version,
	      char out[COFFRE_MK_LABEL_MAX]);
/* Seal a DEK under the master key (HSM GCM, record header as AAD). */
int keyrec_seal(struct hsm_pool *h, const uint8_t uuid[COFFRE_ID_LEN],
		uint32_t mk_version, const uint8_t dir_id[COFFRE_ID_LEN],
		uint32_t dek_version, const uint8_t dek[COFFRE_KEY_LEN],
		struct key_record *out);
/* Unseal; -EBADMSG if the record does not authenticate. */
int keyrec_unseal(struct hsm_pool *h, const struct key_record *r,
		  uint8_t dek[COFFRE_KEY_LEN]);
/* Atomic write: temp file, fsync, rename, fsync dir. */
int keystore_write(int keys_dirfd, const struct key_record *r);
/* Read and check that the record is the one asked for; -ENOENT if absent,
 * -EIO if malformed or for another volume/directory/version. */
int keystore_read(int keys_dirfd, const uint8_t uuid[COFFRE_ID_LEN],
		  const uint8_t dir_id[COFFRE_ID_LEN], uint32_t dek_version,
		  struct key_record *out);


/* ---- escrow.c: the master key in and out of its escrow */
/* A fresh X25519 recovery key pair (private half: caller wipes). */
int recovery_keypair(uint8_t priv[COFFRE_X25519_LEN], uint8_t pub[COFFRE_X25519_LEN]);
/* The public half of a recovery private key. */
int recovery_pub_of(const uint8_t priv[COFFRE_X25519_LEN],
		    uint8_t pub[COFFRE_X25519_LEN]);
/* Seal a master key to the recovery public key. */
int escrow_seal(const uint8_t rk_pub[COFFRE_X25519_LEN],
		const uint8_t uuid[COFFRE_ID_LEN], uint32_t mk_version,
		const uint8_t kcv[COFFRE_KCV_LEN], const uint8_t mk[COFFRE_KEY_LEN],
		struct escrow_blob *out);
/* Open with the recovery private key; -EBADMSG if it does not open. */
int escrow_open(const uint8_t rk_priv[COFFRE_X25519_LEN], const struct escrow_blob *e,
		uint8_t mk[COFFRE_KEY_LEN]);
/* .coffre/escrow/mk-v<N>: atomic write, remove. */
int escrow_store(int root_fd, const struct escrow_blob *e);
int escrow_remove(int root_fd, uint32_t mk_version);

/* ---- keyring.c: the cache's life, made and freed with its volume */
struct keyring *keyring_new(struct hsm_pool *h, int keys_dirfd,
			    const uint8_t uuid[COFFRE_ID_LEN], uint32_t mk_version,
			    size_t capacity);
void keyring_free(struct keyring *kr);
/* Seal new directories' records under this master key version. */
void keyring_set_mk_version(struct keyring *kr, uint32_t mk_version);

/* ---- derive.c: the HKDF info table */
enum keys_kdf {
	KDF_CONTENT,      /* file contents (info tail: the file header) */
	KDF_NAMES,        /* a directory's entry names */
	KDF_CONFIG,       /* the config MAC (root DEK) */
	KDF_SYMLINK,      /* symlink targets */
	KDF_XATTR,        /* xattr names and values (salt: object id) */
	KDF_MANIFEST,     /* the bucket manifest's MAC (root DEK) */
	KDF_ESCROW,       /* escrow of a master key (X25519 shared secret) */
	/* Format 2 (FORMAT.md §11) */
	KDF_OBJECT,       /* content || meta || map keys (salt: file id; info
			   * tail: the 64-byte fixed header) */
	KDF_DIR_META,     /* a directory's .coffre.dir slots (salt: dir id) */
	KDF_XATTR2,       /* an object's xattr blob (salt: object id) */
	KDF_CONFIG2,      /* the config MAC (root DEK) */
	KDF_TABLE,        /* the version table's MACs (root DEK) */
	KDF_REPLICA,      /* the replicator's copy index (root DEK) */
};
/* The longest info: a purpose string and a fixed header. */
#define KDF_INFO_MAX (32 + 64)
/* HKDF-SHA256(ikm, salt, info = the purpose's string || info_tail). */
int keys_kdf(enum keys_kdf purpose, const uint8_t *ikm, size_t ikm_len,
	     const uint8_t *salt, size_t salt_len, const uint8_t *info_tail,
	     size_t tail_len, uint8_t *out, size_t out_len);

/* ---- keyring.c: a DEK copied out of the cache (unsealed on a miss), for
 * src/keys itself and its tests only: nothing outside keys sees a DEK.
 * -EIO (logged) if its record is missing, malformed or does not unseal. */
int keyring_dek(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		uint32_t version, uint8_t dek[COFFRE_KEY_LEN]);

/* Fill err with a one-line reason and return code. */
int keys_set_err(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- conf.c */
/* Read, check ownership/mode and parse .coffre.conf; *text_out (malloc'd)
 * keeps the bytes for conf_verify. */
int conf_read(int root, struct volume_conf *conf, char **text_out, char *err,
	      size_t errlen);
/* -EKEYREJECTED unless the MAC verifies under the root DEK. */
int conf_verify(const struct volume_conf *conf, const char *text,
		const uint8_t root_dek[COFFRE_KEY_LEN]);
/* Write the config with a fresh MAC. */
int conf_store(int root_fd, const struct volume_conf *conf,
	       const uint8_t root_dek[COFFRE_KEY_LEN]);
/* Take the exclusive volume lock, waiting a little for an exiting daemon;
 * -EBUSY if it stays held. */
int volume_lock(int fd);

/* ---- volume.c */
/* Open the backing root, take the lock, read (not yet authenticate) the
 * config into v (fds set; v->hsm/keys left NULL). */
int volume_open_conf(const char *backing, struct volume *v, char **text,
		     char *err, size_t errlen);

/* ---- ceremony.c */
/*
 * The master key ceremony: a key drawn from h[0]'s RNG into locked memory,
 * imported as `coffre-mk-<uuid>-v<version>` into every h[i] (their check
 * values must agree; kcv gets it), escrowed to rk_pub if given (escrow
 * filled), wiped.  On failure the label is destroyed again everywhere.
 */
int mk_ceremony(struct hsm **h, unsigned n, const uint8_t uuid[COFFRE_ID_LEN],
		uint32_t version, const uint8_t *rk_pub, uint8_t kcv[COFFRE_KCV_LEN],
		struct escrow_blob *escrow, char *err, size_t errlen);
/* Split the recovery private key into n shares (threshold k), written to
 * dir/share-<i>-of-<n>.txt, mode 0400, never over an existing file. */
int shares_issue(const char *dir, unsigned n, unsigned k, const uint8_t rk_priv[32],
		 char *err, size_t errlen);
/* Rebuild the recovery private key from share files; it must match rk_pub. */
int shares_recover(const char *const *files, unsigned m, const uint8_t rk_pub[32],
		   uint8_t rk_priv[32], char *err, size_t errlen);

#endif
