/*
 * A string-keyed hash table with separate chaining, shared by the pending
 * queue and the in-memory manifest of src/replica.  Not thread-safe: each
 * user holds its own lock.  Keys are borrowed (the value owns its key).
 */
#ifndef COFFRE_REPLICA_STRMAP_H
#define COFFRE_REPLICA_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_node {
	const char *key;
	void *val;
	uint64_t hash;
	struct strmap_node *next;
};

struct strmap {
	struct strmap_node **b;
	size_t nb, n;
};

int strmap_init(struct strmap *m);
/* Drop every node (not the values); the table stays usable. */
void strmap_clear(struct strmap *m);
/* Free the table and its nodes (not the values). */
void strmap_fini(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Insert or replace key -> val; *old gets the replaced value or NULL. */
int strmap_put(struct strmap *m, const char *key, void *val, void **old);
/* Remove key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
/* Walk every value; a non-zero return from fn stops and is returned.
 * fn must not modify the map. */
int strmap_foreach(const struct strmap *m, int (*fn)(void *val, void *arg),
		   void *arg);

#endif
