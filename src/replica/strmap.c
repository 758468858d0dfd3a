/*
 * String-keyed hash table (separate chaining, power-of-two bucket count,
 * doubled at load factor 1).  Keys are hashed with XXH3-64 (libxxhash);
 * the table holds no secrets.  Used by the pending queue and the manifest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "strmap.h"

int strmap_init(struct strmap *m)
{
	m->nb = 64;
	m->n = 0;
	m->b = calloc(m->nb, sizeof(*m->b));
	return m->b ? 0 : -ENOMEM;
}

void strmap_fini(struct strmap *m)
{
	strmap_clear(m);
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

void strmap_clear(struct strmap *m)
{
	for (size_t i = 0; m->b && i < m->nb; i++) {
		struct strmap_node *n = m->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n);
		}
		m->b[i] = NULL;
	}
	m->n = 0;
}

static uint64_t key_hash(const char *key)
{
	return XXH3_64bits(key, strlen(key));
}

static struct strmap_node **find(const struct strmap *m, const char *key,
				 uint64_t h)
{
	struct strmap_node **pp = &m->b[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			return pp;
	return pp;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_node **pp = find(m, key, key_hash(key));

	return *pp ? (*pp)->val : NULL;
}

static void grow(struct strmap *m)
{
	size_t nb = m->nb * 2;
	struct strmap_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return;            /* keep working with longer chains */
	for (size_t i = 0; i < m->nb; i++) {
		struct strmap_node *n = m->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

int strmap_put(struct strmap *m, const char *key, void *val, void **old)
{
	uint64_t h = key_hash(key);
	struct strmap_node **pp = find(m, key, h), *n;

	*old = NULL;
	if (*pp) {
		*old = (*pp)->val;
		(*pp)->val = val;
		(*pp)->key = key;
		return 0;
	}
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->key = key;
	n->val = val;
	n->hash = h;
	n->next = NULL;
	*pp = n;
	if (++m->n > m->nb)
		grow(m);
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_node **pp = find(m, key, key_hash(key)), *n = *pp;
	void *val;

	if (!n)
		return NULL;
	val = n->val;
	*pp = n->next;
	free(n);
	m->n--;
	return val;
}

int strmap_foreach(const struct strmap *m, int (*fn)(void *val, void *arg),
		   void *arg)
{
	int rc;

	for (size_t i = 0; i < m->nb; i++)
		for (struct strmap_node *n = m->b[i]; n; n = n->next)
			if ((rc = fn(n->val, arg)) != 0)
				return rc;
	return 0;
}
