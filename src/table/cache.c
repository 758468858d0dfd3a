/*
 * The block cache of the version table (doc/FORMAT.md §12.6): verified
 * 4 KiB blocks of the levels, keyed by (owner, block index), an owner
 * being one open level.  One mutex; a hash table of chained nodes for
 * O(1) get and put, and one doubly linked list in use order for LRU
 * eviction.  Blocks are copied in and out, so none is pinned.
 *
 * Memory: the cache never holds more than max_bytes, counted honestly:
 * each block costs its node (the 4096 bytes, keys and links) plus
 * NODE_MALLOC_OVERHEAD for the allocator, and the bucket array (fixed at
 * creation, sized for the most blocks that fit) is counted from the start.
 * A max_bytes too small for the buckets and one block caches nothing.
 * Nodes are allocated on put and reused on eviction; tcache_drop walks
 * the whole list (levels are closed rarely: once per fold).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/table.h"

/* What the allocator adds to each block's node (glibc: one size word,
 * rounded to 16). */
#define NODE_MALLOC_OVERHEAD 16

struct tc_node {
	uint64_t owner, index;
	struct tc_node *hnext;           /* bucket chain */
	struct tc_node *prev, *next;     /* use order, most recent first */
	uint8_t blk[V2_TBLOCK_LEN];
};

#define NODE_COST (sizeof(struct tc_node) + NODE_MALLOC_OVERHEAD)

struct tcache {
	pthread_mutex_t mu;
	struct tc_node **buckets;
	size_t nbuckets;                 /* a power of two, or 0 */
	size_t cap;                      /* blocks that fit */
	size_t count;
	struct tc_node *head, *tail;     /* head: most recently used */
	uint64_t next_owner;
	struct tcache_stats st;
};

static size_t bucket_of(const struct tcache *c, uint64_t owner, uint64_t index)
{
	uint64_t h = owner * 0x9e3779b97f4a7c15ull ^ index;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (size_t)h & (c->nbuckets - 1);
}

struct tcache *tcache_new(size_t max_bytes)
{
	struct tcache *c = calloc(1, sizeof(*c));
	size_t blocks, nb = 1;

	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->next_owner = 1;
	c->st.max_bytes = max_bytes;
	/* Buckets: one per block that fits, rounded up to a power of two
	 * (at most twice that); counted in bytes, then the blocks. */
	blocks = max_bytes / NODE_COST;
	while (nb < blocks)
		nb <<= 1;
	while (blocks > 0 && nb * sizeof(*c->buckets) + blocks * NODE_COST > max_bytes)
		blocks--;
	if (blocks > 0) {
		c->buckets = calloc(nb, sizeof(*c->buckets));
		if (!c->buckets) {
			pthread_mutex_destroy(&c->mu);
			free(c);
			return NULL;
		}
		c->nbuckets = nb;
		c->cap = blocks;
		c->st.bytes = nb * sizeof(*c->buckets);
	}
	return c;
}

void tcache_free(struct tcache *c)
{
	struct tc_node *n, *next;

	if (!c)
		return;
	for (n = c->head; n; n = next) {
		next = n->next;
		free(n);
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

uint64_t tcache_owner(struct tcache *c)
{
	uint64_t o;

	pthread_mutex_lock(&c->mu);
	o = c->next_owner++;
	pthread_mutex_unlock(&c->mu);
	return o;
}

/* ---- list and chain, under the mutex */

static void list_unlink(struct tcache *c, struct tc_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

static void list_push_front(struct tcache *c, struct tc_node *n)
{
	n->prev = NULL;
	n->next = c->head;
	if (c->head)
		c->head->prev = n;
	c->head = n;
	if (!c->tail)
		c->tail = n;
}

static struct tc_node *find(struct tcache *c, uint64_t owner, uint64_t index)
{
	struct tc_node *n = c->buckets[bucket_of(c, owner, index)];

	while (n && (n->owner != owner || n->index != index))
		n = n->hnext;
	return n;
}

static void chain_remove(struct tcache *c, struct tc_node *n)
{
	struct tc_node **p = &c->buckets[bucket_of(c, n->owner, n->index)];

	while (*p != n)
		p = &(*p)->hnext;
	*p = n->hnext;
	n->hnext = NULL;
}

/* Take n out of the cache (its memory still allocated). */
static void detach(struct tcache *c, struct tc_node *n)
{
	chain_remove(c, n);
	list_unlink(c, n);
	c->count--;
	c->st.bytes -= NODE_COST;
}

bool tcache_get(struct tcache *c, uint64_t owner, uint64_t index,
		uint8_t out[V2_TBLOCK_LEN])
{
	struct tc_node *n = NULL;

	if (!c)
		return false;
	pthread_mutex_lock(&c->mu);
	if (c->nbuckets)
		n = find(c, owner, index);
	if (n) {
		memcpy(out, n->blk, V2_TBLOCK_LEN);
		list_unlink(c, n);
		list_push_front(c, n);
		c->st.hits++;
	} else {
		c->st.misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return n != NULL;
}

void tcache_put(struct tcache *c, uint64_t owner, uint64_t index,
		const uint8_t blk[V2_TBLOCK_LEN])
{
	struct tc_node *n;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->cap == 0)
		goto out;
	n = find(c, owner, index);
	if (n) {
		/* Verified twice (two readers raced): the same bytes. */
		list_unlink(c, n);
	} else {
		if (c->count < c->cap) {
			n = malloc(sizeof(*n));
			if (!n)
				goto out;       /* a cache may forget */
		} else {
			n = c->tail;            /* reuse the least recent */
			detach(c, n);
			c->st.evictions++;
		}
		n->owner = owner;
		n->index = index;
		n->hnext = c->buckets[bucket_of(c, owner, index)];
		c->buckets[bucket_of(c, owner, index)] = n;
		c->count++;
		c->st.bytes += NODE_COST;
	}
	memcpy(n->blk, blk, V2_TBLOCK_LEN);
	list_push_front(c, n);
out:
	pthread_mutex_unlock(&c->mu);
}

void tcache_drop(struct tcache *c, uint64_t owner)
{
	struct tc_node *n, *next;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	for (n = c->head; n; n = next) {
		next = n->next;
		if (n->owner == owner) {
			detach(c, n);
			free(n);
		}
	}
	pthread_mutex_unlock(&c->mu);
}

void tcache_stats(struct tcache *c, struct tcache_stats *s)
{
	pthread_mutex_lock(&c->mu);
	*s = c->st;
	pthread_mutex_unlock(&c->mu);
}
