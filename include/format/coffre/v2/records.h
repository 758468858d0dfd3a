/*
 * Format version 2: the records of the backing directory and the HSMs that
 * are not part of an object (doc/FORMAT.md §8, §9.1, §9.3, §10.1): key
 * record, generation object value, user xattr blob, volume config.  Error
 * conventions are those of coffre/format.h (§0): -EINVAL malformed, short
 * or long, -EPROTO wrong magic, -EPROTONOSUPPORT wrong version, -EBADMSG a
 * failed tag or MAC; outputs zeroed on error.  Keys are the caller's,
 * passed in and never kept.
 */
#ifndef COFFRE_V2_RECORDS_H
#define COFFRE_V2_RECORDS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/v2/common.h"

/* ---- keyrec.c: key record (§9.1, 116 bytes) */

#define V2_KEYREC_MAGIC "CFRK"
#define V2_KEYREC_HDR_LEN 56        /* the HSM's GCM AAD */
#define V2_KEYREC_IV_LEN 12
#define V2_KEYREC_SEALED_LEN 48     /* GCM(MK, DEK[32]) || tag[16] */
#define V2_KEYREC_LEN (V2_KEYREC_HDR_LEN + V2_KEYREC_IV_LEN + V2_KEYREC_SEALED_LEN)
struct keyrec2 {
	uint8_t flags;                  /* src/keys' own; authenticated */
	uint8_t fs_uuid[COFFRE_ID_LEN];
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t dek_version;           /* >= 1 */
	uint32_t mk_version;            /* >= 1 */
	uint64_t gen;                   /* v2_gen_valid */
	uint8_t iv[V2_KEYREC_IV_LEN];
	uint8_t sealed[V2_KEYREC_SEALED_LEN];
};
int keyrec2_parse(const uint8_t *buf, size_t len, struct keyrec2 *r);
/* -EINVAL (out zeroed) if r holds what keyrec2_parse would refuse. */
int keyrec2_write(const struct keyrec2 *r, uint8_t out[V2_KEYREC_LEN]);
/* Bytes 0..56, the AAD of the HSM's C_Encrypt; -EINVAL as keyrec2_write. */
int keyrec2_aad(const struct keyrec2 *r, uint8_t out[V2_KEYREC_HDR_LEN]);
/* 0 if the record names itself (§13.4): fs_uuid is the volume's, and the
 * dir id and DEK version are those of its file name; else -EINVAL. */
int keyrec2_check_name(const struct keyrec2 *r,
		       const uint8_t fs_uuid[COFFRE_ID_LEN], const char *name);

/* ---- hsmgen.c: the generation object's CKA_VALUE (§9.3, 24 bytes) */

#define V2_HSMGEN_LEN 24
/* Reservation step S (§9.3). */
#define V2_HSMGEN_STEP 65536
/* reserved_gen = g + S for a generation g (§9.3, §12.7). */
#define V2_HSMGEN_RESERVED_MAX (V2_GEN_MAX + V2_HSMGEN_STEP)
struct hsmgen {
	uint64_t local_gen;     /* 0 or a generation */
	uint64_t bucket_gen;    /* 0 or a generation */
	uint64_t reserved_gen;  /* <= V2_HSMGEN_RESERVED_MAX */
};
/*
 * Exactly 24 bytes (version 1's 8 are -EINVAL: only upgrade reads them).
 * local_gen and bucket_gen are 0 or a valid generation, reserved_gen at
 * most V2_HSMGEN_RESERVED_MAX, and neither local_gen nor bucket_gen above
 * reserved_gen (hsm reseed writes local_gen = reserved_gen).
 */
int hsmgen_parse(const uint8_t *buf, size_t len, struct hsmgen *g);
/* -EINVAL (out zeroed) for what hsmgen_parse would refuse. */
int hsmgen_write(const struct hsmgen *g, uint8_t out[V2_HSMGEN_LEN]);
/* The field rules alone (what parse and write check). */
bool hsmgen_valid(const struct hsmgen *g);
/* acc = the field-wise maximum of acc and g (several HSMs or objects). */
void hsmgen_max(struct hsmgen *acc, const struct hsmgen *g);

/* ---- xattr.c: user xattr blob `.coffre/xattrs/<id>` (§8) */

#define V2_XATTR_MAGIC "CFRX"
#define V2_XATTR_HDR_LEN 32             /* the AAD */
#define V2_XATTR_OVERHEAD (V2_XATTR_HDR_LEN + COFFRE_SEG_OVERHEAD)
#define V2_XATTR_PLAIN_MAX (1u << 20)
#define V2_XATTR_BLOB_MAX (V2_XATTR_PLAIN_MAX + V2_XATTR_OVERHEAD)
#define V2_XATTR_NAME_MAX 250           /* without "user." */
#define V2_XATTR_VALUE_MAX 65536
#define V2_XATTR_COUNT_MAX UINT16_MAX
struct xattr2_hdr {
	uint8_t object_id[COFFRE_ID_LEN];
	uint64_t epoch;                 /* v2_epoch_valid */
};
/* Header of a whole blob of len bytes (V2_XATTR_OVERHEAD..BLOB_MAX). */
int xattr2_hdr_parse(const uint8_t *blob, size_t len, struct xattr2_hdr *h);
/* Bytes 0..32, the AAD; -EINVAL for an invalid epoch. */
int xattr2_aad(const struct xattr2_hdr *h, uint8_t out[V2_XATTR_HDR_LEN]);
/*
 * Seal a plaintext list (checked by xattr2_list_parse) under the xattr key
 * with a fresh random nonce: out gets len + V2_XATTR_OVERHEAD bytes (cap at
 * least that, else -ENOSPC); returns the blob length.
 */
int xattr2_seal(const uint8_t key[COFFRE_KEY_LEN], const struct xattr2_hdr *h,
		const uint8_t *pt, size_t len, uint8_t *out, size_t cap);
/*
 * Open a blob: header as xattr2_hdr_parse, -EBADMSG if it does not
 * authenticate, -EINVAL if the plaintext is not a valid list.  pt gets
 * len - V2_XATTR_OVERHEAD bytes (cap at least that, else -ENOSPC); returns
 * that length.  On error h and pt[0..cap) are zeroed.
 */
int xattr2_open(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *blob,
		size_t len, struct xattr2_hdr *h, uint8_t *pt, size_t cap);

/* One attribute: pointers into the caller's buffers; name without "user.". */
struct xattr2_attr {
	const uint8_t *name;
	size_t name_len;                /* 1..250, no NUL byte */
	const uint8_t *value;
	size_t value_len;               /* 0..65536 */
};
/* The plaintext of n attributes (strictly increasing names) into out;
 * returns its length; -EINVAL for a bad or misordered attribute or
 * n > 65535, -ENOSPC beyond V2_XATTR_PLAIN_MAX or cap. */
int xattr2_list_encode(const struct xattr2_attr *a, size_t n, uint8_t *out,
		       size_t cap);
/* Check a whole plaintext (count, then exactly count attributes in strictly
 * increasing order, nothing after, len <= V2_XATTR_PLAIN_MAX); returns the
 * count or -EINVAL. */
int xattr2_list_parse(const uint8_t *pt, size_t len);
struct xattr2_iter {
	struct rcur c;
	unsigned left;
};
/* Iterate a plaintext: xattr2_list_parse first (its error, iterator then
 * empty), then xattr2_iter_next gives 1 and the next attribute, 0 at the
 * end. */
int xattr2_iter_init(struct xattr2_iter *it, const uint8_t *pt, size_t len);
int xattr2_iter_next(struct xattr2_iter *it, struct xattr2_attr *a);
/* 0 and *a if the list holds name, -ENODATA if not, -EINVAL malformed. */
int xattr2_list_find(const uint8_t *pt, size_t len, const uint8_t *name,
		     size_t name_len, struct xattr2_attr *a);

/* ---- volume.c: volume config `.coffre.conf` (§10.1) */

#define V2_CONF_MAX COFFRE_CONF_MAX
#define V2_CONF_TOKENS_MAX 8
#define V2_TOKEN_LABEL_LEN 32           /* CK_TOKEN_INFO.label, blank-padded */
#define V2_TOKEN_SERIAL_LEN 16          /* CK_TOKEN_INFO.serialNumber */
/* A version 1 config ("format = 1"): the caller says to run `coffrectl
 * upgrade` (§17).  Distinct from -EPROTONOSUPPORT (any other version). */
#define VOLCONF2_ENEEDS_UPGRADE EMEDIUMTYPE
struct volconf2_token {
	uint8_t label[V2_TOKEN_LABEL_LEN];
	uint8_t serial[V2_TOKEN_SERIAL_LEN];
};
struct volconf2 {
	uint8_t uuid[COFFRE_ID_LEN];
	uint64_t generation;            /* v2_gen_valid */
	uint32_t seg_size;
	uint8_t root_id[COFFRE_ID_LEN];
	uint32_t mk_version;            /* >= 1 */
	uint8_t kcv[COFFRE_KCV_LEN];
	unsigned n_tokens;              /* 1..8, strictly increasing */
	struct volconf2_token token[V2_CONF_TOKENS_MAX];
	bool has_recovery;              /* recovery_key and shares */
	uint8_t recovery_pub[COFFRE_X25519_LEN];
	uint8_t shares_k, shares_n;     /* 2 <= K <= N <= 255 */
	uint8_t mac[COFFRE_MAC_LEN];
	size_t body_len;                /* bytes covered by the MAC (parse) */
};
/*
 * Parse text (len <= V2_CONF_MAX) in version 1's line syntax with the keys
 * of §10.1.  -EINVAL for anything malformed, including the keys `hsm`,
 * `bucket` and `strict_holes`; -VOLCONF2_ENEEDS_UPGRADE for `format = 1`;
 * -EPROTONOSUPPORT for another format number.  why (may be NULL) gets a
 * one-line reason on error, NULL on success.  The MAC is not checked here
 * (volconf2_verify).
 */
int volconf2_parse(const char *text, size_t len, struct volconf2 *c,
		   const char **why);
/* Everything but the mac line, canonical (§10.1), NUL-terminated; returns
 * its length, -ENOSPC if cap <= length, -EINVAL if c holds what
 * volconf2_parse would refuse. */
int volconf2_write_body(const struct volconf2 *c, char *out, size_t cap);
/* Append "mac = <64 hex>\n" and a NUL at out + body_len; returns the total
 * length, -ENOSPC / -EINVAL as volume_conf_write_mac. */
int volconf2_write_mac(const uint8_t mac[COFFRE_MAC_LEN], char *out,
		       size_t body_len, size_t cap);
/* HMAC-SHA256(config key, body[0..body_len)). */
int volconf2_mac(const uint8_t key[COFFRE_KEY_LEN], const char *body,
		 size_t body_len, uint8_t mac[COFFRE_MAC_LEN]);
/* 0 if c->mac (parsed from text) is the MAC of text[0..c->body_len) under
 * key, compared in constant time; -EBADMSG otherwise. */
int volconf2_verify(const uint8_t key[COFFRE_KEY_LEN], const char *text,
		    const struct volconf2 *c);

#endif
