/*
 * keys_private.h — what the files of src/keys share: the config file and
 * lock helpers (conf.c) and the master key ceremony (ceremony.c).  Not a
 * public header.
 */
#ifndef COFFRE_KEYS_PRIVATE_H
#define COFFRE_KEYS_PRIVATE_H

#include "coffre/hsm.h"
#include "coffre/keys.h"

/* Fill err with a one-line reason and return code. */
int keys_fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- conf.c */
int config_mac(const uint8_t root_dek[COFFRE_KEY_LEN], const char *body,
	       size_t len, uint8_t mac[32]);
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
		uint32_t version, const uint8_t *rk_pub, uint8_t kcv[8],
		struct escrow_blob *escrow, char *err, size_t errlen);
/* Split the recovery private key into n shares (threshold k), written to
 * dir/share-<i>-of-<n>.txt, mode 0400, never over an existing file. */
int shares_issue(const char *dir, unsigned n, unsigned k, const uint8_t rk_priv[32],
		 char *err, size_t errlen);
/* Rebuild the recovery private key from share files; it must match rk_pub. */
int shares_recover(const char *const *files, unsigned m, const uint8_t rk_pub[32],
		   uint8_t rk_priv[32], char *err, size_t errlen);

#endif
