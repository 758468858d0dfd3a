/*
 * Format version 2 objects and directories (doc/FORMAT.md §2, §3, §5.2,
 * §6): the fixed header and header region, meta records and their sealed
 * slots with the slot reading rule, native segment geometry and framing,
 * map object slots with their selection rule, and `.coffre.dir`.  Pure
 * parse/write, seal/open and MAC/verify: keys are the caller's, passed in
 * and never kept; nothing here reads or writes storage.  Error conventions
 * are those of coffre/format.h; -EBADMSG for what does not authenticate.
 */
#ifndef COFFRE_V2_OBJECT_H
#define COFFRE_V2_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/format.h"
#include "coffre/v2/common.h"

/* ---- object.c: fixed header (§2.1), header region (§2.2), meta record
 * (§2.4), kinds (§2.5) */

#define V2_OBJ_MAGIC "CFRF"
#define V2_OBJ_HEADER_LEN 64
#define V2_REGION_LEN 1024          /* native header region */
#define V2_COMPANION_LEN 768        /* .coffre/legacy/<id> (§4) */
#define V2_DATA_OFFSET 1024
#define V2_META_SLOT_LEN 256
#define V2_META_SLOT0_OFF 256
#define V2_META_SLOT1_OFF 512

enum v2_kind {
	V2_KIND_DIR = 0,            /* not stored: a directory's meta (§6) */
	V2_KIND_REG = 1,
	V2_KIND_SYMLINK = 2,
	V2_KIND_FIFO = 3,
	V2_KIND_SOCK = 4,
	V2_KIND_CHR = 5,
	V2_KIND_BLK = 6,
};
#define V2_LAYOUT_LEGACY 1
#define V2_LAYOUT_NATIVE 2

struct obj_header {
	uint8_t kind;                       /* 1..6 */
	uint8_t layout;                     /* V2_LAYOUT_* */
	uint32_t seg_size;
	uint32_t data_offset;               /* 1024 native, 0 legacy */
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t dek_version;               /* >= 1 */
	uint8_t file_id[COFFRE_ID_LEN];
};
/* Exactly 64 bytes.  Native: layout 2, data_offset 1024; legacy (a
 * companion's): kind 1, layout 1, data_offset 0. */
int obj_header_parse(const uint8_t *buf, size_t len, struct obj_header *h);
void obj_header_write(const struct obj_header *h,
		      uint8_t out[V2_OBJ_HEADER_LEN]);
/* The first five bytes are "CFRF" 01: a version 1 (legacy) file (§4). */
bool obj_is_legacy_file(const uint8_t *buf, size_t len);

/* A header region (1024 bytes, layout 2) or a legacy companion (768
 * bytes, layout 1): the fixed header, its 64 bytes as stored (the AAD's
 * bound header and the key derivation's info) and the two raw slots. */
struct obj_region {
	struct obj_header h;
	uint8_t header[V2_OBJ_HEADER_LEN];
	uint8_t slot[2][V2_META_SLOT_LEN];
};
int obj_region_parse(const uint8_t *buf, size_t len, struct obj_region *r);
/* Writes the header region (len 1024, layout 2) or a companion (len 768,
 * layout 1) from r->h and r->slot; -EINVAL if len does not fit the layout. */
int obj_region_write(const struct obj_region *r, uint8_t *out, size_t len);

#define V2_META_REC_LEN 96
#define V2_META_MODE_MAX 07777
#define V2_META_LINK 0x1u
struct meta_record {
	uint32_t mode;                      /* permission bits, <= 07777 */
	uint32_t uid, gid;
	uint32_t flags;                     /* V2_META_LINK only */
	uint32_t rdev_major, rdev_minor;    /* kinds 5 and 6 only */
	uint8_t cur_parent[COFFRE_ID_LEN], cur_name[COFFRE_ID_LEN];
	uint8_t prev_parent[COFFRE_ID_LEN], prev_name[COFFRE_ID_LEN];
};
/* kind: the object's (1..6), or V2_KIND_DIR for a `.coffre.dir`.  A
 * binding half zero (a parent without a name or the reverse), a prev
 * without a cur, or `link` without a prev is refused. */
/* The rules of §2.4 for a record of that kind (V2_KIND_DIR for a
 * directory): what parse checks after the bytes. */
bool meta_record_valid(const struct meta_record *m, uint8_t kind);
int meta_record_parse(const uint8_t *buf, size_t len, uint8_t kind,
		      struct meta_record *m);
void meta_record_write(const struct meta_record *m,
		       uint8_t out[V2_META_REC_LEN]);
/* cur, prev and flags all zero (a root directory's meta, §6). */
bool meta_binding_is_zero(const struct meta_record *m);

/* ---- metaslot.c: meta slots (§2.3), shared by objects and directories */

#define V2_META_MAGIC "CFRM"
#define V2_BOUND_LEN 64                 /* fixed header, or .coffre.dir 0..64 */
#define V2_META_AAD_LEN 76
/* AAD = "CFRM" || bound[64] || u64be(epoch): both directions use it. */
void meta_slot_aad(const uint8_t bound[V2_BOUND_LEN], uint64_t epoch,
		   uint8_t out[V2_META_AAD_LEN]);
/* Seal m (parsed back first: -EINVAL if malformed for kind) under key with
 * a random nonce and a valid epoch into a 256-byte slot.  On error the
 * slot is zeroed. */
int meta_slot_seal(const uint8_t key[COFFRE_KEY_LEN],
		   const uint8_t bound[V2_BOUND_LEN], uint64_t epoch,
		   uint8_t kind, const struct meta_record *m,
		   uint8_t slot[V2_META_SLOT_LEN]);
/* Open a slot: 0 (authentic, *epoch and *m set), -ENODATA (256 zero
 * bytes: empty), -EBADMSG (neither: does not authenticate, an invalid
 * epoch, a non-zero byte after the tag), -EINVAL (wrong length, or an
 * authentic record that is malformed).  Outputs zeroed unless 0. */
int meta_slot_open(const uint8_t key[COFFRE_KEY_LEN],
		   const uint8_t bound[V2_BOUND_LEN], const uint8_t *slot,
		   size_t len, uint8_t kind, uint64_t *epoch,
		   struct meta_record *m);

/* One slot, as meta_slot_open classified it, for the reading rule. */
enum meta_slot_state {
	V2_SLOT_EMPTY,                  /* -ENODATA */
	V2_SLOT_AUTHENTIC,              /* 0 */
	V2_SLOT_BAD,                    /* -EBADMSG: neither */
	V2_SLOT_MALFORMED,              /* anything else: tamper */
};
struct meta_slot_view {
	enum meta_slot_state state;
	uint64_t epoch;                 /* AUTHENTIC only */
	struct meta_record rec;         /* AUTHENTIC only */
};
enum meta_slot_state meta_slot_state_of(int open_result);
/*
 * The reading rule of §2.3: the authentic slot with the higher epoch
 * (slot 0 for two equal authentic records).  Return 0 or 1, or -EBADMSG
 * (tamper): no authentic slot, two authentic slots of one epoch with
 * different records, or a MALFORMED slot.  *stale_bad (may be NULL) is set
 * when the other slot is neither empty nor authentic (a torn write that
 * fsck --repair zeroes), cleared otherwise.
 */
int meta_slot_pick(const struct meta_slot_view v[2], bool *stale_bad);
/* Open both slots and apply the rule: the current slot's index, epoch and
 * record, or -EBADMSG (outputs zeroed). */
int meta_slots_read(const uint8_t key[COFFRE_KEY_LEN],
		    const uint8_t bound[V2_BOUND_LEN],
		    const uint8_t slot0[V2_META_SLOT_LEN],
		    const uint8_t slot1[V2_META_SLOT_LEN], uint8_t kind,
		    uint64_t *epoch, struct meta_record *m, bool *stale_bad);
/* Writing (§2.3): the slot a new record goes to (the one not holding the
 * current, slot 0 when there is none: current < 0), or -EINVAL unless
 * new_epoch is valid and strictly greater than cur_epoch. */
int meta_slot_next(int current, uint64_t cur_epoch, uint64_t new_epoch);

/* ---- segment.c: native segments (§3) */

#define V2_SEG_HDR_LEN 20                /* epoch[8] || nonce[12] */
#define V2_SEG_OVERHEAD 36               /* + tag[16] */
#define V2_SEG_AAD_LEN 17
/* seg_count (format.h) counts segments in both layouts. */
/* UINT64_MAX if past UINT64_MAX. */
uint64_t seg2_offset(uint32_t seg_size, uint64_t index);
/* UINT64_MAX if the ciphertext would be larger than INT64_MAX. */
uint64_t cipher2_size(uint32_t seg_size, uint64_t plain_size);
/* §3.1: -EBADMSG for a size no plaintext maps to, -EINVAL for seg_size. */
int plain2_size(uint32_t seg_size, uint64_t cipher_size, uint64_t *plain);
/* AAD = u64be(i) || u8(is_last) || u64be(epoch). */
void segment2_aad(uint64_t index, bool is_last, uint64_t epoch,
		  uint8_t out[V2_SEG_AAD_LEN]);
/* out (len + 36 bytes) = epoch || nonce || ct || tag; epoch valid. */
int segment2_seal(const struct aead_key *k, uint64_t index, bool is_last,
		  uint64_t epoch, const uint8_t *pt, size_t len, uint8_t *out);
/* The stored epoch, unauthenticated (to compare with the expected epoch
 * before opening), or 0 if in_len < 36. */
uint64_t segment2_epoch(const uint8_t *in, size_t in_len);
/* Open a stored segment into pt (in_len - 36 bytes) and give its epoch:
 * -EBADMSG if shorter than 36, an invalid epoch, or not authentic (pt and
 * *epoch zeroed). */
int segment2_open(const struct aead_key *k, uint64_t index, bool is_last,
		  const uint8_t *in, size_t in_len, uint64_t *epoch,
		  uint8_t *pt);
/* §3.3: exactly seg_size + 36 stored bytes, all zero. */
bool segment2_is_hole(uint32_t seg_size, const uint8_t *in, size_t in_len);

/* ---- map.c: map object slots (§5.2) */

#define V2_MAP_MAGIC "CFRP"
#define V2_MAP_ENTRIES 512
#define V2_MAP_SLOT_LEN 4168
#define V2_MAP_PAIR_LEN 8336
#define V2_MAP_MAC_OFF 4136
struct map_slot {
	uint8_t file_id[COFFRE_ID_LEN];
	uint32_t group;
	uint32_t count;                     /* 1..512 */
	uint64_t version;                   /* gen << 24 */
	uint64_t epoch[V2_MAP_ENTRIES];     /* count..511 zero */
};
/* Offset of slot (0 or 1) of group k in the map object. */
uint64_t map_slot_offset(uint32_t group, unsigned slot);
/* The fields, unauthenticated (map_slot_open checks the MAC first).
 * legacy: entries are 0 or the legacy mark; else 0 or a valid epoch. */
int map_slot_parse(const uint8_t *buf, size_t len, bool legacy,
		   struct map_slot *s);
/* Write the slot and its MAC under key.  On error out is zeroed. */
int map_slot_write(const struct map_slot *s, const uint8_t key[COFFRE_KEY_LEN],
		   uint8_t out[V2_MAP_SLOT_LEN]);
/* Open: -EINVAL (length), -ENODATA (an unused, all-zero slot), -EBADMSG
 * (MAC), then map_slot_parse's answers.  s zeroed unless 0. */
int map_slot_open(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *buf,
		  size_t len, bool legacy, struct map_slot *s);

/* The committed MAP entry's values an explicit map must match. */
struct map_expect {
	uint8_t file_id[COFFRE_ID_LEN];
	uint32_t group;
	uint32_t count;
	uint64_t version;
};
struct map_slot_view {
	int result;                         /* map_slot_open's */
	struct map_slot s;                  /* when result is 0 */
};
/* §5.2: the slot whose version is e->version, and whose file id, group
 * and count equal e's: 0 or 1, or -EBADMSG (tamper): none, both, or one
 * with other values.  The other slot may be anything. */
int map_slot_select(const struct map_slot_view v[2],
		    const struct map_expect *e);

/* ---- dirfile.c: `.coffre.dir` version 2 (§6) */

#define V2_DIR_MAGIC "CFRD"
#define V2_DIR_FILE_LEN 768
struct dirfile2 {
	uint8_t dir_id[COFFRE_ID_LEN];
	uint8_t slot[2][V2_META_SLOT_LEN];
};
int dirfile2_parse(const uint8_t *buf, size_t len, struct dirfile2 *d);
void dirfile2_write(const struct dirfile2 *d, uint8_t out[V2_DIR_FILE_LEN]);
/* Bytes 0..64 of the file: the slots' bound header. */
void dirfile2_bound(const uint8_t dir_id[COFFRE_ID_LEN],
		    uint8_t out[V2_BOUND_LEN]);
/* The current meta (meta_slots_read with the directory's bound header,
 * rdev 0); a root's binding must be zero.  -EBADMSG (tamper). */
int dirfile2_meta(const uint8_t key[COFFRE_KEY_LEN], const struct dirfile2 *d,
		  bool is_root, uint64_t *epoch, struct meta_record *m,
		  bool *stale_bad);

#endif
