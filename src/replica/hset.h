/*
 * A bounded set of 128-bit path hashes (XXH3-128), each with a 64-bit
 * value, in one open-addressed table of fixed size: the replicator's
 * memory of which paths have a journal record it has not loaded yet
 * (backlog.c), and the duplicate filter of a journal rewrite (rewrite.c).
 * When half full it is emptied before the next insert: it forgets, so a
 * caller must treat "absent" as "unknown", never as "not there".  Not
 * thread-safe: each user holds its own lock.
 */
#ifndef COFFRE_REPLICA_HSET_H
#define COFFRE_REPLICA_HSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hkey {
	uint64_t lo, hi;          /* never both zero (the empty slot) */
};

struct hslot {
	struct hkey k;
	uint64_t val;
};

struct hset {
	struct hslot *slot;       /* NULL until the first insert */
	size_t cap, n;            /* cap: a power of two */
};

void hset_init(struct hset *s, size_t cap);
/* Free the table (the set stays usable: it is allocated again on use). */
void hset_fini(struct hset *s);
void hset_clear(struct hset *s);
/* The key of a path. */
struct hkey hset_key(const char *path, size_t len);
/* Whether k is there, and its value in *val (may be NULL). */
bool hset_get(const struct hset *s, struct hkey k, uint64_t *val);
/* Add k with val, or lower its value to val if it is there.  Out of
 * memory, the key is not added (the set forgets). */
void hset_add_min(struct hset *s, struct hkey k, uint64_t val);
/* Whether k was there (and is not any more). */
bool hset_del(struct hset *s, struct hkey k);

#endif
