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

/* ---- derive.c: the HKDF info table */
enum keys_kdf {
	KDF_CONTENT,      /* file contents (info tail: the file header) */
	KDF_NAMES,        /* a directory's entry names */
	KDF_CONFIG,       /* the config MAC (root DEK) */
	KDF_SYMLINK,      /* symlink targets */
	KDF_XATTR,        /* xattr names and values (salt: object id) */
	KDF_MANIFEST,     /* the bucket manifest's MAC (root DEK) */
	KDF_ESCROW,       /* escrow of a master key (X25519 shared secret) */
};
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
