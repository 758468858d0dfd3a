/*
 * Format version 2: the on-disk structures of the version table
 * (doc/FORMAT.md §12.1–§12.4): entries, the blocks of a level (base or
 * delta) and their index, commit records and write intents.  Pure parse,
 * write and MAC code: no I/O, no caches, no loading or folding policy
 * (src/table's).  Every MAC key is the table key, passed in by the caller.
 * Error conventions are those of coffre/format.h; -EBADMSG for a MAC that
 * does not verify.
 */
#ifndef COFFRE_V2_TABLE_H
#define COFFRE_V2_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/v2/common.h"

/* ---- tentry.c: entries (80 bytes), §12.1 */

#define V2_TENTRY_LEN 80
#define V2_TKEY_LEN 40                 /* bytes 0..40: kind, then key */
#define V2_TOMBSTONE 0x80              /* bit 7 of the kind byte (deltas) */
#define V2_SHA_LEN 32

enum v2_tkind {
	V2_TK_CONF = 1,
	V2_TK_ESC = 2,
	V2_TK_KEY = 3,
	V2_TK_OBJ = 4,
	V2_TK_NAME = 5,
	V2_TK_MAP = 6,
	V2_TK_TORN = 7,
	V2_TK_ESCNEXT = 8,
};
#define V2_TK_MAX V2_TK_ESCNEXT

#define V2_KEY_LIVE 1
#define V2_KEY_DESTROYED 2
#define V2_NAME_TYPE_MAX 7             /* 1..6 object kind, 7 directory */
#define V2_NAME_TYPE_DIR 7
#define V2_MAP_UNIFORM 1
#define V2_MAP_EXPLICIT 2
#define V2_MAP_GROUP_SEGS 512          /* segments per group (§5.1) */

/*
 * One entry: the kind selects the member of u.  A tombstone (delta levels
 * only) names its key; its value fields are zero.  ESC and ESCNEXT share
 * u.esc.
 */
struct tentry {
	uint8_t kind;                  /* enum v2_tkind, without bit 7 */
	bool tombstone;
	union {
		struct {
			uint64_t generation;
		} conf;
		struct {
			uint32_t mk_version;
			uint8_t sha[V2_SHA_LEN];    /* ESCNEXT: zero = removal */
		} esc;
		struct {
			uint8_t dir_id[COFFRE_ID_LEN];
			uint32_t dek_version;
			uint32_t mk_version;
			uint8_t state;
			uint64_t gen;
		} key;
		struct {
			uint8_t id[COFFRE_ID_LEN];
			uint64_t meta_epoch;
			uint64_t size;
			uint64_t xattr_epoch;  /* 0: no xattr blob */
			uint32_t seals;
			uint32_t names;
			int64_t mtime;
		} obj;
		struct {
			uint8_t parent[COFFRE_ID_LEN];
			uint8_t name_id[COFFRE_ID_LEN];
			uint8_t object_id[COFFRE_ID_LEN];
			uint8_t type;
		} name;
		struct {
			uint8_t file_id[COFFRE_ID_LEN];
			uint32_t group;
			uint8_t form;
			uint32_t count;
			uint64_t epoch;        /* uniform: the epoch; explicit: gen << 24 */
		} map;
		struct {
			uint8_t file_id[COFFRE_ID_LEN];
			uint64_t segment;
			uint64_t gen;
		} torn;
	} u;
};

/* Parse 80 bytes: every field rule checked, every unused byte zero.
 * Accepts a tombstone (kind | 0x80, value zero); where a tombstone may
 * stand is the caller's rule. */
int tentry_parse(const uint8_t *buf, size_t len, struct tentry *e);
/* Write 80 bytes; -EINVAL (and out zeroed) if e holds anything
 * tentry_parse would refuse. */
int tentry_write(const struct tentry *e, uint8_t out[V2_TENTRY_LEN]);
/* Bytes 0..40 alone (a deleted key of a commit record, a key of the
 * index): kind without bit 7 and the key fields; value fields zeroed. */
int tentry_key_parse(const uint8_t *buf, size_t len, struct tentry *e);
int tentry_key_write(const struct tentry *e, uint8_t out[V2_TKEY_LEN]);
/* The field rules alone (the same check parse and write use). */
bool tentry_valid(const struct tentry *e);
/* Order of §12.1 on bytes 0..40 with the tombstone bit cleared: <0, 0, >0. */
int tkey_cmp(const uint8_t a[V2_TKEY_LEN], const uint8_t b[V2_TKEY_LEN]);

/* ---- tlevel.c: blocks of a level (§12.2): MAC, header, data blocks */

#define V2_TBLOCK_LEN 4096
#define V2_TBLOCK_BODY 4064            /* the MAC is at 4064..4096 */
#define V2_TLEVEL_MAGIC "CFRT"
#define V2_LEVEL_BASE 0
#define V2_LEVEL_DELTA 1
#define V2_TDATA_PER_BLOCK 50
/* N such that Dn = ceil(N / 50) still fits the u32 field */
#define V2_TLEVEL_N_MAX ((uint64_t)UINT32_MAX * V2_TDATA_PER_BLOCK)

struct tlevel_header {
	uint8_t level;                 /* V2_LEVEL_BASE or V2_LEVEL_DELTA */
	uint8_t uuid[COFFRE_ID_LEN];
	uint64_t gen;
	uint64_t n;                    /* entries, >= 1 */
	uint32_t dn;                   /* data blocks, ceil(n / 50) */
	uint32_t fn;                   /* index blocks, tindex_blocks(dn) */
	uint8_t anchor[COFFRE_MAC_LEN];   /* MAC of log.<gen> */
	uint64_t residue_lo, residue_hi;
	uint64_t base_gen;             /* delta: its base's gen; base: 0 */
	uint8_t base_mac[COFFRE_MAC_LEN]; /* delta: MAC of its base's block 0 */
};

/* MAC of block `index` of the level (level, gen) of volume uuid, over
 * block[0..4064): written into block[4064..4096) / checked there in
 * constant time (-EBADMSG). */
int tblock_mac(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
	       uint8_t level, uint64_t gen, uint32_t index,
	       uint8_t block[V2_TBLOCK_LEN]);
int tblock_verify(const uint8_t key[COFFRE_KEY_LEN],
		  const uint8_t uuid[COFFRE_ID_LEN], uint8_t level, uint64_t gen,
		  uint32_t index, const uint8_t *block, size_t len);

/* Block 0, MAC bytes not looked at (tblock_verify first).  The writers
 * below write bytes 0..4064 and zero the MAC (tblock_mac after). */
int tlevel_header_parse(const uint8_t *buf, size_t len, struct tlevel_header *h);
int tlevel_header_write(const struct tlevel_header *h, uint8_t out[V2_TBLOCK_LEN]);
bool tlevel_header_valid(const struct tlevel_header *h);

/* Entries in data block j (0-based, file block 1 + j) of a level of n
 * entries: 50, or what is left for the last; 0 past the end. */
uint32_t tdata_count(uint64_t n, uint64_t j);
/* A data block of `count` entries (1..50) in strictly increasing order,
 * tombstones only if level is a delta, zero after the last entry.
 * out (room for count entries) may be NULL to check only. */
int tdata_block_parse(const uint8_t *buf, size_t len, uint8_t level,
		      uint32_t count, struct tentry *out);
int tdata_block_write(const struct tentry *e, uint32_t count, uint8_t level,
		      uint8_t out[V2_TBLOCK_LEN]);

/* ---- tindex.c: index geometry and index blocks (§12.2) */

#define V2_TINDEX_PER_BLOCK 100
#define V2_TINDEX_TIERS_MAX 6          /* 100^5 > 2^32 data blocks */

/* Tier k has tindex_tier_blocks(dn, k) blocks; tier 0 is the dn data
 * blocks, tiers 1..tindex_tiers(dn) the index, the last (the top) one
 * block.  dn >= 1; results for dn 0 or k past the top are 0. */
unsigned tindex_tiers(uint64_t dn);
uint64_t tindex_tier_blocks(uint64_t dn, unsigned k);
uint64_t tindex_blocks(uint64_t dn);                  /* Fn */
uint64_t tlevel_file_size(uint64_t dn);               /* (1 + Dn + Fn) * 4096 */
/* File block index of block j of tier k (tier 0: data block j is 1 + j);
 * UINT64_MAX if there is no such block. */
uint64_t tindex_block_index(uint64_t dn, unsigned k, uint64_t j);
/* Blocks of tier k - 1 that block j of tier k (k >= 1) covers: first,
 * and count (which is also the number of keys in that index block);
 * -EINVAL if there is no such block. */
int tindex_children(uint64_t dn, unsigned k, uint64_t j, uint64_t *first,
		    uint32_t *count);

/* An index block of `count` keys (1..100): each a valid key with bit 7
 * clear, strictly increasing, zero after the last.  keys (room for count
 * keys) may be NULL to check only. */
int tindex_block_parse(const uint8_t *buf, size_t len, uint32_t count,
		       uint8_t (*keys)[V2_TKEY_LEN]);
int tindex_block_write(const uint8_t (*keys)[V2_TKEY_LEN], uint32_t count,
		       uint8_t out[V2_TBLOCK_LEN]);
/* Every index block of a level, tier by tier, from the first key of each
 * of its dn data blocks (bit 7 cleared by the caller): out gets
 * tindex_blocks(dn) blocks, in file order, MACs zero (tblock_mac each at
 * tindex_block_index after).  -EINVAL for dn 0, a bad or unordered key,
 * -ENOSPC if cap < tindex_blocks(dn) * 4096. */
int tindex_build(const uint8_t (*first_keys)[V2_TKEY_LEN], uint64_t dn,
		 uint8_t *out, size_t cap);

/* ---- tlog.c: commit records log.<gen> (§12.3) */

#define V2_TLOG_MAGIC "CFRL"
#define V2_TLOG_HDR_LEN 128
#define V2_TLOG_REMOVAL_LEN 48
#define V2_TLOG_TYPE_COMMIT 1
#define V2_TLOG_TYPE_START 2
#define V2_TLOG_CLEAN 0x0001
#define V2_TLOG_RESIDUE_CLOSED 0x0002
#define V2_TLOG_MAX_PQ 65536u          /* P + Q: E_c, so a record fits after a fold */
#define V2_TLOG_MAX_R 131072u
/* 128 + 80 (P + Q) at most (deletes are shorter) + 48 R + 32 */
#define V2_TLOG_MAX_LEN ((size_t)V2_TLOG_HDR_LEN + \
			 (size_t)V2_TENTRY_LEN * V2_TLOG_MAX_PQ + \
			 (size_t)V2_TLOG_REMOVAL_LEN * V2_TLOG_MAX_R + COFFRE_MAC_LEN)

struct tlog_header {
	uint8_t type;
	uint16_t flags;
	uint8_t uuid[COFFRE_ID_LEN];
	uint64_t gen;
	uint64_t prev_gen;             /* 0 for the first record of a volume */
	uint8_t prev_mac[COFFRE_MAC_LEN];
	uint64_t residue_lo, residue_hi;
	uint64_t time;                 /* informational */
	uint32_t p, q, r;
};

struct tlog_removal {
	uint8_t parent[COFFRE_ID_LEN];
	uint8_t name_id[COFFRE_ID_LEN];
	uint8_t object_id[COFFRE_ID_LEN];
};

/* A verified record: the header, its MAC, and pointers into the caller's
 * buffer (which must outlive the view) for the accessors below. */
struct tlog_view {
	struct tlog_header h;
	uint8_t mac[COFFRE_MAC_LEN];
	const uint8_t *puts;           /* 80 * p bytes */
	const uint8_t *dels;           /* 40 * q bytes */
	const uint8_t *rems;           /* 48 * r bytes */
};

/* Total length of a record with these counts, 0 past the bounds. */
size_t tlog_len(uint32_t p, uint32_t q, uint32_t r);
/* Check magic (-EPROTO) and version (-EPROTONOSUPPORT), take the length
 * from P, Q, R (-EINVAL unless len is exactly it), verify the MAC
 * (-EBADMSG), then every rule of §12.3.  View zeroed on error. */
int tlog_parse(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *buf, size_t len,
	       struct tlog_view *v);
/* Decode put i, deleted key i, removal i of a verified view. */
int tlog_put(const struct tlog_view *v, uint32_t i, struct tentry *e);
int tlog_del(const struct tlog_view *v, uint32_t i, struct tentry *e);
int tlog_removal(const struct tlog_view *v, uint32_t i, struct tlog_removal *r);
/* Write a record of h->p puts, h->q deleted keys (their key fields) and
 * h->r removals, with its MAC; returns its length, -ENOSPC if cap is
 * short, -EINVAL (out zeroed up to cap) if tlog_parse would refuse it. */
int tlog_write(const uint8_t key[COFFRE_KEY_LEN], const struct tlog_header *h,
	       const struct tentry *puts, const struct tentry *dels,
	       const struct tlog_removal *rems, uint8_t *out, size_t cap);

/* ---- intent.c: write intents intent.<g> (§12.4) */

#define V2_INTENT_LEN 48
#define V2_INTENT_MAC_LEN 16
#define V2_INTENT_CONTENT 1

struct intent {
	uint8_t kind;                  /* V2_INTENT_CONTENT */
	uint32_t first_group;
	uint32_t group_count;          /* >= 1, first + count - 1 <= UINT32_MAX */
	uint8_t object_id[COFFRE_ID_LEN];
};

bool intent_valid(const struct intent *in);
/* Record `index` of intent.<g> of volume uuid, with its truncated MAC. */
int intent_write(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
		 uint64_t g, uint32_t index, const struct intent *in,
		 uint8_t out[V2_INTENT_LEN]);
/* One record: -EINVAL if short or long, -EBADMSG if its MAC fails, then
 * -EINVAL for a field rule. */
int intent_parse(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
		 uint64_t g, uint32_t index, const uint8_t *buf, size_t len,
		 struct intent *in);
/* A whole intent file: the leading records that are whole and verify
 * (at most cap of them if out is not NULL, into out; all of them if out is
 * NULL); *count gets their number.  A record that verifies but breaks a field rule is no
 * torn append: -EINVAL (and *count 0). */
int intent_scan(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
		uint64_t g, const uint8_t *buf, size_t len, struct intent *out,
		size_t cap, size_t *count);

#endif
