/*
 * coffre on-disk format: bounded parse/serialise of every structure the
 * filesystem stores (see doc/FORMAT-v1.md).  No I/O policy, no keys: callers
 * pass bytes in and get bytes or structs out.
 *
 * Parsers return 0 or a negative errno: -EINVAL for short, oversized or
 * malformed input, -EPROTO for a wrong magic, -EPROTONOSUPPORT for an
 * unknown format version.  On error the output struct is zeroed.  Writers
 * always write version COFFRE_FORMAT_VERSION and zero reserved fields.
 */
#ifndef COFFRE_FORMAT_H
#define COFFRE_FORMAT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coffre/crypto.h"

#define COFFRE_FORMAT_VERSION 1
#define COFFRE_ID_LEN 16
#define COFFRE_X25519_LEN 32     /* a recovery or ephemeral key */

/* ---- cursor.c: bounds-checked reader and writer */

struct rcur {
	const uint8_t *p;
	size_t len, off;
	bool err;             /* sticky: set by any read past the end */
};
struct wcur {
	uint8_t *p;
	size_t cap, off;
	bool err;             /* sticky: set by any write past cap */
};
void rcur_init(struct rcur *c, const void *p, size_t len);
uint8_t rcur_u8(struct rcur *c);
uint16_t rcur_u16be(struct rcur *c);
uint32_t rcur_u32be(struct rcur *c);
uint64_t rcur_u64be(struct rcur *c);
void rcur_bytes(struct rcur *c, void *out, size_t n);
/* The next n bytes in place (and advance), or NULL (and set err). */
const uint8_t *rcur_view(struct rcur *c, size_t n);
/* True when every read succeeded and all input was consumed. */
bool rcur_done(const struct rcur *c);
/* Whether n bytes are all zero (reserved fields: writers zero them,
 * readers check them). */
bool bytes_zero(const void *p, size_t n);
/* Read n bytes: true if they were there and all zero. */
bool rcur_zero(struct rcur *c, size_t n);
void wcur_init(struct wcur *c, void *p, size_t cap);
void wcur_u8(struct wcur *c, uint8_t v);
void wcur_u16be(struct wcur *c, uint16_t v);
void wcur_u32be(struct wcur *c, uint32_t v);
void wcur_u64be(struct wcur *c, uint64_t v);
void wcur_bytes(struct wcur *c, const void *p, size_t n);
void wcur_zero(struct wcur *c, size_t n);   /* n zero bytes */

/* ---- segment.c: file geometry */

#define COFFRE_SEG_MIN 4096u
#define COFFRE_SEG_MAX 65536u
#define COFFRE_SEG_DEFAULT 16384u
bool seg_size_valid(uint32_t seg_size);  /* power of two in [4 KiB, 64 KiB] */
/* Number of stored segments for a plaintext size (an empty file has one). */
uint64_t seg_count(uint32_t seg_size, uint64_t plain_size);
/* Byte offset of segment i in the ciphertext file. */
uint64_t seg_offset(uint32_t seg_size, uint64_t index);
/* UINT64_MAX if the ciphertext would be larger than INT64_MAX (EFBIG). */
uint64_t cipher_size(uint32_t seg_size, uint64_t plain_size);
/* The same three for any layout (segments of seg_size + overhead bytes
 * from data_offset); the version 1 ones above and format 2's seg2_offset,
 * cipher2_size and plain2_size are these with their layout's numbers. */
uint64_t layout_seg_offset(uint32_t data_offset, uint32_t overhead,
			   uint32_t seg_size, uint64_t index);
uint64_t layout_cipher_size(uint32_t data_offset, uint32_t overhead,
			    uint32_t seg_size, uint64_t plain_size);
int layout_plain_size(uint32_t data_offset, uint32_t overhead, uint32_t seg_size,
		      uint64_t cipher_size, uint64_t *plain);
/* Plaintext size for a ciphertext file size; -EBADMSG if no plaintext size
 * maps to it (shorter than header + one sealed segment, a last segment
 * shorter than the overhead, an empty last segment after a full one, larger
 * than INT64_MAX); -EINVAL for an invalid seg_size. */
int plain_size(uint32_t seg_size, uint64_t cipher_size, uint64_t *plain);

/* ---- header.c: file header (48 bytes) */

#define COFFRE_FILE_HEADER_LEN 48
#define COFFRE_FILE_MAGIC "CFRF"
#define COFFRE_HDR_STRICT_HOLES 0x01   /* flag: zero segments are never holes */
struct file_header {
	uint8_t version;
	uint8_t flags;
	uint32_t seg_size;
	uint8_t dir_id[COFFRE_ID_LEN];     /* which directory's DEK ...  */
	uint32_t dek_version;              /* ... and which version of it */
	uint8_t file_id[COFFRE_ID_LEN];
};
int file_header_parse(const uint8_t *buf, size_t len, struct file_header *h);
void file_header_write(const struct file_header *h,
		       uint8_t out[COFFRE_FILE_HEADER_LEN]);

/* ---- dirfile.c: .coffre.dir (24 bytes) */

#define COFFRE_DIR_FILE ".coffre.dir"
#define COFFRE_DIR_FILE_LEN 24
#define COFFRE_DIR_MAGIC "CFRD"
int dir_file_parse(const uint8_t *buf, size_t len, uint8_t dir_id[COFFRE_ID_LEN]);
void dir_file_write(const uint8_t dir_id[COFFRE_ID_LEN],
		    uint8_t out[COFFRE_DIR_FILE_LEN]);

/* ---- keyrec.c: sealed DEK record (48-byte header = GCM AAD, IV, 48 sealed) */

#define COFFRE_KEYREC_MAGIC "CFRK"
#define COFFRE_KEYREC_HDR_LEN 48
#define COFFRE_KEYREC_LEN (COFFRE_KEYREC_HDR_LEN + 12 + 48)
struct key_record {
	uint8_t version;
	uint8_t flags;                    /* src/keys' own; authenticated */
	uint8_t fs_uuid[COFFRE_ID_LEN];
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t dek_version;
	uint32_t mk_version;
	uint8_t iv[12];
	uint8_t sealed[48];               /* GCM(DEK) || tag */
};
int keyrec_parse(const uint8_t *buf, size_t len, struct key_record *r);
void keyrec_write(const struct key_record *r, uint8_t out[COFFRE_KEYREC_LEN]);
/* The header bytes that the HSM binds as AAD when sealing. */
void keyrec_aad(const struct key_record *r, uint8_t out[COFFRE_KEYREC_HDR_LEN]);

/* ---- escrow.c: a master key escrowed to the recovery public key */

#define COFFRE_ESCROW_MAGIC "CFRE"
#define COFFRE_ESCROW_HDR_LEN 36
#define COFFRE_ESCROW_LEN (COFFRE_ESCROW_HDR_LEN + 32 + 12 + 48)
struct escrow_blob {
	uint8_t fs_uuid[COFFRE_ID_LEN];
	uint32_t mk_version;
	uint8_t kcv[COFFRE_KCV_LEN];       /* of the escrowed master key */
	uint8_t eph_pub[COFFRE_X25519_LEN]; /* sender's X25519 public key */
	uint8_t nonce[12];
	uint8_t sealed[48];                /* GCM(MK) || tag */
};
int escrow_parse(const uint8_t *buf, size_t len, struct escrow_blob *e);
void escrow_write(const struct escrow_blob *e, uint8_t out[COFFRE_ESCROW_LEN]);
/* The 36 header bytes, bound as GCM AAD. */
void escrow_aad(const struct escrow_blob *e, uint8_t out[COFFRE_ESCROW_HDR_LEN]);

/* ---- volume.c: .coffre.conf, a line-oriented text file with a MAC line */

#define COFFRE_CONF_FILE ".coffre.conf"
#define COFFRE_CONF_MAX 65536
#define COFFRE_MAX_HSMS 8
#define COFFRE_URI_MAX 1024
struct volume_conf {
	uint32_t format;
	uint8_t uuid[COFFRE_ID_LEN];
	uint32_t seg_size;
	bool strict_holes;
	uint8_t root_id[COFFRE_ID_LEN];
	uint32_t mk_version;
	uint8_t kcv[COFFRE_KCV_LEN];       /* CMAC(MK, 0^16), first 8 bytes */
	unsigned n_hsms;
	char hsm[COFFRE_MAX_HSMS][COFFRE_URI_MAX];
	bool has_recovery;                 /* recovery_key and shares present */
	uint8_t recovery_pub[COFFRE_X25519_LEN]; /* X25519 public key (escrow) */
	uint8_t shares_k, shares_n;        /* custodians' threshold, count */
	char bucket[COFFRE_URI_MAX];       /* bucket directory, "" if none */
	uint8_t mac[COFFRE_MAC_LEN];
	size_t body_len;                   /* bytes covered by the MAC (parse) */
};
/*
 * Parse text (len bytes, at most COFFRE_CONF_MAX).  Every known key must
 * appear exactly once ("hsm" one or more times, in order; "recovery_key =
 * x25519:<64 hex>" and "shares = K/N" both or neither), unknown keys and
 * malformed lines are -EINVAL, and the last line must be "mac = <64 hex>".
 * Sets body_len to the length of the text before that line.
 */
int volume_conf_parse(const char *text, size_t len, struct volume_conf *c);
/* Write everything but the MAC line, NUL-terminated; returns the length
 * (without the NUL), -ENOSPC if cap <= length, -EINVAL if the struct holds
 * something volume_conf_parse() would refuse. */
int volume_conf_write_body(const struct volume_conf *c, char *out, size_t cap);
/* Append "mac = <hex>\n" and a NUL at out + body_len; returns the total
 * length (without the NUL), -ENOSPC if it does not fit, -EINVAL if the
 * body does not end with '\n'. */
int volume_conf_write_mac(const uint8_t mac[COFFRE_MAC_LEN], char *out, size_t body_len,
			  size_t cap);

/* ---- mountconf.c: the mount configuration /etc/coffre/NAME.conf
 * (doc/FORMAT.md §10.2): root's, local, never in the backing dir or the
 * bucket, no MAC.  The only source of the HSMs (and so of the PKCS#11
 * modules) a volume is opened with. */

#define COFFRE_MOUNT_CONF_MAX 65536
#define COFFRE_MOUNT_NAME_MAX 64           /* NAME, without ".conf" */
#define COFFRE_MOUNT_CONF_SUFFIX ".conf"
/* "NAME.conf" and its NUL */
#define COFFRE_MOUNT_FILE_MAX (COFFRE_MOUNT_NAME_MAX + 5 + 1)
#define COFFRE_MOUNT_PATH_MAX 4096         /* a path value and its NUL */
struct mount_conf {
	char backing[COFFRE_MOUNT_PATH_MAX];  /* absolute, normalised */
	uint8_t uuid[COFFRE_ID_LEN];          /* the volume it is for */
	unsigned n_hsms;                      /* 1..COFFRE_MAX_HSMS */
	char hsm[COFFRE_MAX_HSMS][COFFRE_URI_MAX]; /* priority order */
	char pin_file[COFFRE_MOUNT_PATH_MAX]; /* "" if none */
	char bucket[COFFRE_MOUNT_PATH_MAX];   /* "" if none */
	char mountpoint[COFFRE_MOUNT_PATH_MAX]; /* "" if none */
};
/* NAME matches [a-z0-9][a-z0-9_-]{0,63}. */
bool mount_conf_name_valid(const char *name);
/* "NAME.conf" into out; -EINVAL if name is not valid. */
int mount_conf_file_name(const char *name, char out[COFFRE_MOUNT_FILE_MAX]);
/* An absolute path without empty, "." or ".." components, without a
 * trailing '/' or space ("/" itself is refused), shorter than
 * COFFRE_MOUNT_PATH_MAX. */
bool mount_conf_path_valid(const char *p, size_t len);
/*
 * Parse text (len bytes, at most COFFRE_MOUNT_CONF_MAX) in the line syntax
 * of .coffre.conf: `backing` and `uuid` once, `hsm` 1..8 times (in
 * priority order; any RFC 7512 attribute, module-path included),
 * `pin_file`, `bucket` and `mountpoint` at most once; paths as
 * mount_conf_path_valid.
 * Unknown keys, duplicates and malformed lines are -EINVAL (mc zeroed).
 */
int mount_conf_parse(const char *text, size_t len, struct mount_conf *mc);
/* The canonical text, NUL-terminated; returns its length, -ENOSPC if cap
 * <= length, -EINVAL if mc holds what mount_conf_parse() would refuse. */
int mount_conf_write(const struct mount_conf *mc, char *out, size_t cap);

/* ---- layout.c: the names of the backing tree (doc/FORMAT-v1.md §1) */

#define COFFRE_STATE_DIR ".coffre"
#define COFFRE_KEYS_DIR ".coffre/keys"
#define COFFRE_LOCK_FILE ".coffre/lock"
#define COFFRE_ESCROW_DIR ".coffre/escrow"
#define COFFRE_SYMLINK_DIR ".coffre/symlinks"
/* Every backing name of the filesystem's own starts with this. */
#define COFFRE_INTERNAL_PREFIX ".coffre"
#define COFFRE_INTERNAL_PREFIX_LEN 7
/* Scratch files (never replicated): temp + rename, and rekey copies. */
#define COFFRE_TMP_PREFIX ".coffre.tmp."
#define COFFRE_REKEY_TMP_PREFIX ".coffre.rekey."
/* Key record "<32 hex dir id>.<DEK version>", escrow "mk-v<MK version>":
 * versions in canonical decimal, 1..UINT32_MAX, no leading zero. */
#define COFFRE_KEYREC_NAME_MAX (2 * COFFRE_ID_LEN + 1 + 10 + 1)
#define COFFRE_ESCROW_NAME_PREFIX "mk-v"
#define COFFRE_ESCROW_NAME_MAX (4 + 10 + 1)
/* A symlink sidecar .coffre/symlinks/<32 lowercase hex>. */
#define COFFRE_SYMLINK_ID_LEN 16
#define COFFRE_SYMLINK_ID_HEX (2 * COFFRE_SYMLINK_ID_LEN)

/* Write the name (NUL-terminated); returns its length. */
int keyrec_name_write(const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		      char out[COFFRE_KEYREC_NAME_MAX]);
/* Exact: -EINVAL unless name is 32 lowercase hex, '.', a canonical version. */
int keyrec_name_parse(const char *name, uint8_t dir_id[COFFRE_ID_LEN],
		      uint32_t *version);
/* True if name starts "<hex dir id>." (every record of a directory). */
bool keyrec_name_of_dir(const char *name, const uint8_t dir_id[COFFRE_ID_LEN]);
int escrow_name_write(uint32_t mk_version, char out[COFFRE_ESCROW_NAME_MAX]);
int escrow_name_parse(const char *name, uint32_t *mk_version);
/* True if a backing entry name is the filesystem's own (".coffre*" but not
 * a long-name entry): never shown, never a user's entry. */
bool name_is_internal(const char *backing);
/* out gets 32 lowercase hex digits and a NUL. */
void symlink_id_write(const uint8_t id[COFFRE_SYMLINK_ID_LEN],
		      char out[COFFRE_SYMLINK_ID_HEX + 1]);
/* Exact: len must be 32, digits 0-9a-f; -EINVAL otherwise. */
int symlink_id_parse(const char *hex, size_t len,
		     uint8_t id[COFFRE_SYMLINK_ID_LEN]);

/* ---- longname.c: long entry names and their sidecars (doc/FORMAT-v1.md §7) */

/* An entry is COFFRE_LONGNAME_PREFIX + 43 base64url (crypto/names.c); its
 * sidecar is that + ".name" and holds the full encoding. */
#define COFFRE_LONGNAME_SIDECAR_SUFFIX ".name"
#define COFFRE_LONGNAME_SIDECAR_LEN (COFFRE_LONGNAME_LEN + 5)
bool longname_is_entry(const char *backing);
bool longname_is_sidecar(const char *backing);
/* The sidecar's name for a long entry; -ENAMETOOLONG if cap is short. */
int longname_sidecar_name(const char *entry, char *out, size_t cap);
/* 0 if full[0..len) (a sidecar's content, 1..COFFRE_ENC_NAME_MAX bytes) is
 * the encoding hashed into the long entry name; -EBADMSG otherwise. */
int longname_sidecar_check(const char *entry, const char *full, size_t len);

/* ---- symlink.c: symlink blob and backing link target (doc/FORMAT-v1.md §9) */

/* blob = dir id(16) || u32be(DEK version) || nonce || ct || tag; the 20
 * header bytes are the GCM AAD. */
#define COFFRE_SYMLINK_HDR_LEN (COFFRE_ID_LEN + 4)
#define COFFRE_SYMLINK_OVERHEAD (COFFRE_SYMLINK_HDR_LEN + COFFRE_SEG_OVERHEAD)
#define COFFRE_SYMLINK_TARGET_MAX (PATH_MAX - 1)   /* plaintext target */
#define COFFRE_SYMLINK_BLOB_MAX (PATH_MAX + COFFRE_SYMLINK_OVERHEAD)
/* Longest inline backing target; a longer encoding goes to a sidecar. */
#define COFFRE_SYMLINK_INLINE_MAX (PATH_MAX - 1)
/* Room for the inline encoding of any blob, with its NUL. */
#define COFFRE_SYMLINK_ENC_MAX (COFFRE_SYMLINK_BLOB_MAX * 4 / 3 + 8)
/* "@<32 hex>" ('@' is not base64url) names a sidecar. */
#define COFFRE_SYMLINK_SIDECAR_MARK '@'
#define COFFRE_SYMLINK_SIDECAR_TARGET_LEN (1 + COFFRE_SYMLINK_ID_HEX)
struct symlink_hdr {
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t dek_version;
};
void symlink_hdr_write(const struct symlink_hdr *h,
		       uint8_t out[COFFRE_SYMLINK_HDR_LEN]);
/* A whole blob: -EINVAL unless OVERHEAD < len <= BLOB_MAX; h from its
 * header.  The target is len - COFFRE_SYMLINK_OVERHEAD bytes. */
int symlink_blob_parse(const uint8_t *blob, size_t len, struct symlink_hdr *h);
/* The inline target base64url(blob) into out; returns its length, or
 * -ENAMETOOLONG if longer than COFFRE_SYMLINK_INLINE_MAX or cap. */
int symlink_target_write(const uint8_t *blob, size_t len, char *out, size_t cap);
/* The sidecar target "@<hex id>". */
void symlink_target_write_sidecar(const uint8_t id[COFFRE_SYMLINK_ID_LEN],
				  char out[COFFRE_SYMLINK_SIDECAR_TARGET_LEN + 1]);
struct symlink_target {
	bool sidecar;                      /* else inline */
	uint8_t sidecar_id[COFFRE_SYMLINK_ID_LEN];
	size_t blob_len;                   /* inline: the blob's length */
};
/*
 * A backing link target t[0..len).  "@" + exactly 32 lowercase hex: a
 * sidecar (id set).  Anything else is inline: decoded into blob (cap
 * bytes), or, with blob NULL, only its decoded length computed (not
 * validated).  -EINVAL for an empty target, a malformed sidecar reference
 * or bad base64url, -ENAMETOOLONG if cap is short.
 */
int symlink_target_parse(const char *t, size_t len, uint8_t *blob, size_t cap,
			 struct symlink_target *st);

/* ---- xattr.c: user xattr record (doc/FORMAT-v1.md §9) */

/* Backing name "user." + base64url(SIV(N)), or, when that exceeds 255
 * bytes, "user.#" + base64url(SHA-256(SIV(N))) with the value prefixed by
 * u16be(len) || SIV(N).  Value AAD = identity || N. */
#define COFFRE_XATTR_PREFIX "user."
#define COFFRE_XATTR_PREFIX_LEN 5
#define COFFRE_XATTR_LONG_MARK "user.#"
#define COFFRE_XATTR_LONG_MARK_LEN 6
#define COFFRE_XNAME_MAX 255               /* a backing or plaintext name */
#define COFFRE_XATTR_SIV_MAX (COFFRE_XNAME_MAX + COFFRE_TAG_LEN)
#define COFFRE_XVALUE_MAX 65536            /* a backing value */
#define COFFRE_XATTR_AAD_MAX (COFFRE_ID_LEN + COFFRE_XNAME_MAX)
/* The backing name for SIV(N) (siv_len <= COFFRE_XATTR_SIV_MAX); is_long
 * tells which form.  Returns 0 or a negative errno. */
int xattr_name_write(const uint8_t *siv, size_t siv_len,
		     char out[COFFRE_XNAME_MAX + 1], bool *is_long);
bool xattr_name_is_long(const char *backing);
/* The value prefix of a long-form name (0 for a short one). */
size_t xattr_value_prefix_len(size_t siv_len, bool is_long);
void xattr_value_prefix_write(const uint8_t *siv, size_t siv_len, uint8_t *out);
/* 0 if value[0..len) starts with the long-form prefix of siv; -EBADMSG. */
int xattr_value_prefix_check(const uint8_t *value, size_t len,
			     const uint8_t *siv, size_t siv_len);
/*
 * The SIV named by a backing xattr name: decoded from a short name, or
 * read from the value's prefix of a long one (value may be NULL for a
 * short name) and checked against the hash in the name; *pre gets the
 * prefix length.  Returns the SIV length (> COFFRE_TAG_LEN), or -EBADMSG.
 */
int xattr_name_siv(const char *backing, const uint8_t *value, size_t value_len,
		   uint8_t siv[COFFRE_XATTR_SIV_MAX], size_t *pre);
/* identity || name[0..len) into out; returns its length, -ERANGE if len
 * exceeds COFFRE_XNAME_MAX. */
int xattr_value_aad(const uint8_t id[COFFRE_ID_LEN], const void *name,
		    size_t len, uint8_t out[COFFRE_XATTR_AAD_MAX]);

/* ---- hex helpers (shared by volume.c and the CLI) */
/* Lowercase; out gets 2*len digits and a NUL. */
void hex_encode(const uint8_t *in, size_t len, char *out /* 2*len + 1 */);
/* Strict: len must be 2*out_len, digits 0-9a-f only; -EINVAL otherwise
 * (out is then zeroed). */
int hex_decode(const char *in, size_t len, uint8_t *out, size_t out_len);

/* ---- json.c: the JSON string writer (daemon status and the CLI) */
/* s as a quoted JSON string: always valid JSON, UTF-8 kept, other bytes
 * \u00XX. */
void json_write_str(FILE *f, const char *s);

#endif
