/*
 * Format version 2: the names of the backing tree, exactly (doc/FORMAT.md
 * §1, §1.4).  Every name read from storage is parsed here against the one
 * spelling its writer produces before any part of it is used.  Spellings
 * unchanged from version 1 are those of coffre/format.h (layout.c,
 * longname.c); this header adds the version 2 ones and the classifiers.
 *
 * Parsers take a NUL-terminated directory entry name and return 0 (or a
 * non-negative class) or -EINVAL, outputs zeroed on error.  Writers return
 * the name's length, or -EINVAL for a value no parser would accept.
 */
#ifndef COFFRE_V2_NAMES_H
#define COFFRE_V2_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/v2/common.h"

/* ---- the fixed children of .coffre/ */

enum names2_state {
	N2_LOCK, N2_KEYS, N2_ESCROW, N2_MAPS, N2_XATTRS, N2_LEGACY,
	N2_MANIFEST, N2_REPLICA, N2_UPGRADE, N2_STATE_COUNT
};
/* The enum value of name, or -EINVAL; *is_dir tells whether it must be a
 * directory (all but lock and upgrade). */
int names2_state_child(const char *name, bool *is_dir);
/* The spelling of a fixed child (NULL for an invalid value). */
const char *names2_state_name(enum names2_state which);

/* ---- .coffre/keys/<32 hex dir id>.<dek version 1..2^32-1> */

#define V2_KEYREC_NAME_MAX COFFRE_KEYREC_NAME_MAX
int names2_keyrec_parse(const char *name, uint8_t dir_id[COFFRE_ID_LEN],
			uint32_t *dek_version);
int names2_keyrec_write(const uint8_t dir_id[COFFRE_ID_LEN],
			uint32_t dek_version, char out[V2_KEYREC_NAME_MAX]);

/* ---- .coffre/escrow/mk-v<mk version 1..2^32-1> */

#define V2_ESCROW_NAME_MAX COFFRE_ESCROW_NAME_MAX
int names2_escrow_parse(const char *name, uint32_t *mk_version);
int names2_escrow_write(uint32_t mk_version, char out[V2_ESCROW_NAME_MAX]);

/* ---- .coffre/{maps,xattrs,legacy}/<32 hex id> */

#define V2_ID_NAME_LEN (2 * COFFRE_ID_LEN)
int names2_id_parse(const char *name, uint8_t id[COFFRE_ID_LEN]);
int names2_id_write(const uint8_t id[COFFRE_ID_LEN],
		    char out[V2_ID_NAME_LEN + 1]);

/* ---- .coffre/manifest/{base,delta,log,intent}.<gen 1..2^39-1> */

enum names2_manifest {
	N2_MF_BASE, N2_MF_DELTA, N2_MF_LOG, N2_MF_INTENT, N2_MF_COUNT
};
/* "intent." and 12 digits, NUL */
#define V2_MANIFEST_NAME_MAX 20
int names2_manifest_parse(const char *name, enum names2_manifest *kind,
			  uint64_t *gen);
int names2_manifest_write(enum names2_manifest kind, uint64_t gen,
			  char out[V2_MANIFEST_NAME_MAX]);

/* ---- any directory: .coffre.dir, long names, temp files */

/* ".coffre.L" + 43 canonical base64url characters (of 32 bytes). */
bool names2_is_long_entry(const char *name);
/* A long entry's name + ".name". */
bool names2_is_long_sidecar(const char *name);
#define V2_TMP_PREFIX COFFRE_TMP_PREFIX
#define V2_TMP_SUFFIX_MAX 200
#define V2_TMP_NAME_MAX (sizeof(V2_TMP_PREFIX) - 1 + V2_TMP_SUFFIX_MAX + 1)
/* ".coffre.tmp." + 1..200 bytes of [A-Za-z0-9._-]. */
bool names2_is_tmp(const char *name);
int names2_tmp_write(const char *suffix, char out[V2_TMP_NAME_MAX]);

/* ---- data directories: an encrypted name (§7.1) */

/* Longest encoding: 272 bytes in base64url. */
#define V2_ENC_NAME_MIN_BYTES 48
#define V2_ENC_NAME_MAX_BYTES 272
#define V2_ENC_NAME_MAX_LEN 363
/* enc[0..len) is canonical base64url of 16 + 32k bytes, 48..272 bytes. */
bool names2_is_enc_name(const char *enc, size_t len);

enum names2_data {
	N2D_DOT,           /* "." or ".." (readdir's own) */
	N2D_DIR_FILE,      /* .coffre.dir */
	N2D_LONG_ENTRY,    /* .coffre.L<43> */
	N2D_LONG_SIDECAR,  /* .coffre.L<43>.name */
	N2D_TMP,           /* .coffre.tmp.<suffix> */
	N2D_STATE_DIR,     /* .coffre, at the root only */
	N2D_CONF,          /* .coffre.conf, at the root only */
	N2D_ENC_NAME,      /* a candidate encrypted name (not yet decrypted) */
	N2D_TAMPER,        /* anything else */
};
/* Classify an entry met in a data directory (is_root: the backing root). */
enum names2_data names2_classify_data(const char *name, bool is_root);

#endif
