/*
 * keyring.c — the DEK cache: unsealed directory keys in locked memory.
 *
 * An LRU of (dir id, DEK version) -> DEK, with the directory's name key
 * (HKDF-SHA256(DEK v1, info "coffre/v1/names"), RFC 5869) kept beside its
 * first version.  Every entry lives in the OpenSSL secure heap (mlocked,
 * MADV_DONTDUMP) and is wiped on eviction and on keyring_free().  The HSM
 * is called only on a miss, without holding the cache lock, so hits never
 * wait for the HSM.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/hsm.h"
#include "coffre/io.h"
#include "coffre/log.h"
#include "keys_private.h"

struct dek_entry {
	struct dek_entry *prev, *next;   /* LRU, most recent first */
	struct dek_entry *hnext;         /* hash chain */
	bool used;
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t version;
	uint32_t current;                /* v1 entries: version for new files */
	uint8_t dek[COFFRE_KEY_LEN];
	uint8_t name_key[COFFRE_SIV_KEY_LEN];  /* v1 entries only */
};

struct keyring {
	pthread_mutex_t lock;
	pthread_rwlock_t seal_lock;      /* new records vs. MK rotation */
	struct hsm_pool *hsm;
	int keys_fd;
	uint8_t uuid[COFFRE_ID_LEN];
	uint32_t mk_version;
	size_t capacity, nbuckets, count;
	uint64_t unseals;
	uint64_t hits, misses;           /* lookups, for the metrics */
	struct dek_entry *entries;       /* secmem, capacity entries */
	struct dek_entry **buckets;
	struct dek_entry *head, *tail;
};

static size_t bucket_of(const struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
			uint32_t version)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));       /* ids are random */
	return (size_t)((h ^ (version * 0x9e3779b97f4a7c15ull)) % kr->nbuckets);
}

struct keyring *keyring_new(struct hsm_pool *h, int keys_dirfd,
			    const uint8_t uuid[COFFRE_ID_LEN], uint32_t mk_version,
			    size_t capacity)
{
	struct keyring *kr = calloc(1, sizeof(*kr));

	if (!kr)
		return NULL;
	kr->capacity = capacity ? capacity : 1024;
	kr->nbuckets = kr->capacity * 2 + 1;
	kr->entries = secmem_alloc(kr->capacity * sizeof(struct dek_entry));
	kr->buckets = calloc(kr->nbuckets, sizeof(*kr->buckets));
	if (!kr->entries || !kr->buckets) {
		keyring_free(kr);
		return NULL;
	}
	pthread_mutex_init(&kr->lock, NULL);
	pthread_rwlock_init(&kr->seal_lock, NULL);
	kr->hsm = h;
	kr->keys_fd = keys_dirfd;
	memcpy(kr->uuid, uuid, COFFRE_ID_LEN);
	kr->mk_version = mk_version;
	return kr;
}

void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	secmem_free(kr->entries, kr->capacity * sizeof(struct dek_entry));
	free(kr->buckets);
	pthread_mutex_destroy(&kr->lock);
	pthread_rwlock_destroy(&kr->seal_lock);
	free(kr);
}

static void lru_unlink(struct keyring *kr, struct dek_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		kr->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		kr->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct keyring *kr, struct dek_entry *e)
{
	e->prev = NULL;
	e->next = kr->head;
	if (kr->head)
		kr->head->prev = e;
	kr->head = e;
	if (!kr->tail)
		kr->tail = e;
}

static struct dek_entry *find(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
			      uint32_t version)
{
	struct dek_entry *e = kr->buckets[bucket_of(kr, id, version)];

	for (; e; e = e->hnext)
		if (e->version == version && !memcmp(e->dir_id, id, COFFRE_ID_LEN))
			return e;
	return NULL;
}

static void evict(struct keyring *kr, struct dek_entry *e)
{
	struct dek_entry **pp = &kr->buckets[bucket_of(kr, e->dir_id, e->version)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(kr, e);
	secmem_wipe(e, sizeof(*e));
	kr->count--;
}

/* Called with the lock held: a free slot, evicting the least recent. */
static struct dek_entry *slot(struct keyring *kr)
{
	size_t i;

	if (kr->count == kr->capacity)
		evict(kr, kr->tail);
	for (i = 0; i < kr->capacity; i++)
		if (!kr->entries[i].used)
			return &kr->entries[i];
	return NULL;  /* unreachable: count < capacity */
}

/*
 * The DEK version new files use: the highest version whose record exists
 * and unseals (so a stray or copied file cannot change it; DESIGN.md §3).
 * Called once per directory, on its first unseal.
 */
static uint32_t probe_current(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN])
{
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	struct key_record rec;
	uint32_t v = 1;

	while (dek && keystore_read(kr->keys_fd, kr->uuid, id, v + 1, &rec) == 0 &&
	       keyrec_unseal(kr->hsm, &rec, dek) == 0)
		v++;
	secmem_free(dek, COFFRE_KEY_LEN);
	return v;
}

/* Insert a DEK (and derived material) under the lock. */
static int insert(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		  uint32_t version, const uint8_t dek[COFFRE_KEY_LEN],
		  uint32_t current, struct dek_entry **out)
{
	struct dek_entry *e = find(kr, id, version);
	size_t b;
	int err;

	if (e)
		goto done;
	e = slot(kr);
	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	memcpy(e->dir_id, id, COFFRE_ID_LEN);
	e->version = version;
	e->current = current;
	memcpy(e->dek, dek, COFFRE_KEY_LEN);
	if (version == 1) {
		err = keys_kdf(KDF_NAMES, dek, COFFRE_KEY_LEN, NULL, 0, NULL, 0,
			       e->name_key, sizeof(e->name_key));
		if (err) {
			secmem_wipe(e, sizeof(*e));
			return err;
		}
	}
	e->used = true;
	b = bucket_of(kr, id, version);
	e->hnext = kr->buckets[b];
	kr->buckets[b] = e;
	kr->count++;
	lru_push(kr, e);
	*out = e;
	return 0;
done:
	lru_unlink(kr, e);
	lru_push(kr, e);
	*out = e;
	return 0;
}

/* Look up or unseal; returns with the lock held and *out set on success. */
static int get_locked(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		      uint32_t version, struct dek_entry **out)
{
	struct key_record rec;
	uint8_t *dek;
	uint32_t current = 0;
	int err;

	pthread_mutex_lock(&kr->lock);
	*out = find(kr, id, version);
	if (*out) {
		kr->hits++;
		lru_unlink(kr, *out);
		lru_push(kr, *out);
		return 0;
	}
	kr->misses++;
	pthread_mutex_unlock(&kr->lock);

	dek = secmem_alloc(COFFRE_KEY_LEN);
	if (!dek)
		return -ENOMEM;
	err = keystore_read(kr->keys_fd, kr->uuid, id, version, &rec);
	if (err && io_resource_error(err)) {
		log_ratelimited(LOG_ERR, "cannot read a key record: %s",
				strerror(-err));
		goto out;
	}
	if (err) {
		char name[COFFRE_KEYREC_NAME_MAX];

		keyrec_name_write(id, version, name);
		if (err == -ENOENT)
			log_ratelimited(LOG_ERR, "%s/%s: no (shredded or lost) key "
					"record", COFFRE_KEYS_DIR, name);
		else
			log_tampered(LOG_ERR, "%s/%s: bad key record",
				     COFFRE_KEYS_DIR, name);
		err = -EIO;
		goto out;
	}
	/* The pool tells a bad record (-EBADMSG) from a dead HSM by probing. */
	err = keyrec_unseal(kr->hsm, &rec, dek);
	if (err == -ENFILE) {
		log_ratelimited(LOG_ERR, "cannot unseal a key record: out of file "
				"descriptors");
		goto out;
	}
	if (err) {
		char name[COFFRE_KEYREC_NAME_MAX];

		keyrec_name_write(id, version, name);
		if (err == -EBADMSG)    /* the HSM answers: the record is bad */
			log_tampered(LOG_ERR, "%s/%s: cannot unseal key record: %s",
				     COFFRE_KEYS_DIR, name, strerror(-err));
		else
			log_ratelimited(LOG_ERR, "%s/%s: cannot unseal key record: %s",
					COFFRE_KEYS_DIR, name, strerror(-err));
		err = -EIO;
		goto out;
	}
	if (version == 1)
		current = probe_current(kr, id);
	pthread_mutex_lock(&kr->lock);
	kr->unseals++;
	err = insert(kr, id, version, dek, current, out);
	if (err)
		pthread_mutex_unlock(&kr->lock);
out:
	secmem_free(dek, COFFRE_KEY_LEN);
	return err;
}

int keyring_dek(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		uint32_t version, uint8_t dek[COFFRE_KEY_LEN])
{
	struct dek_entry *e;
	int err = get_locked(kr, dir_id, version, &e);

	if (err)
		return err;
	memcpy(dek, e->dek, COFFRE_KEY_LEN);
	pthread_mutex_unlock(&kr->lock);
	return 0;
}

int keyring_name_key(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		     struct derived_key **out)
{
	struct derived_key *k = secmem_alloc(sizeof(*k));
	struct dek_entry *e;
	int err = k ? get_locked(kr, dir_id, 1, &e) : -ENOMEM;

	if (err) {
		derived_key_free(k);
		return err;
	}
	memcpy(k->key, e->name_key, COFFRE_SIV_KEY_LEN);
	pthread_mutex_unlock(&kr->lock);
	k->len = COFFRE_SIV_KEY_LEN;
	*out = k;
	return 0;
}

int keyring_current_version(struct keyring *kr,
			    const uint8_t dir_id[COFFRE_ID_LEN], uint32_t *version)
{
	struct dek_entry *e;
	int err = get_locked(kr, dir_id, 1, &e);

	if (err)
		return err;
	*version = e->current;
	pthread_mutex_unlock(&kr->lock);
	return 0;
}

int keyring_new_dir(struct keyring *kr, uint8_t dir_id[COFFRE_ID_LEN])
{
	struct key_record rec;
	struct dek_entry *e;
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	int err;

	if (!dek)
		return -ENOMEM;
	err = random_bytes(dir_id, COFFRE_ID_LEN);
	if (!err)
		err = random_bytes(dek, COFFRE_KEY_LEN);
	/* The seal lock keeps a master key rotation from switching versions
	 * between sealing this record and writing it. */
	pthread_rwlock_rdlock(&kr->seal_lock);
	if (!err)
		err = keyrec_seal(kr->hsm, kr->uuid, kr->mk_version, dir_id, 1, dek,
				  &rec);
	if (!err)
		err = keystore_write(kr->keys_fd, &rec);
	pthread_rwlock_unlock(&kr->seal_lock);
	if (err)
		goto out;
	pthread_mutex_lock(&kr->lock);
	err = insert(kr, dir_id, 1, dek, 1, &e);
	pthread_mutex_unlock(&kr->lock);
out:
	secmem_free(dek, COFFRE_KEY_LEN);
	return err;
}

int keyring_rotate_dir(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		       uint32_t *version)
{
	struct key_record rec;
	struct dek_entry *e, *v1;
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	uint32_t next;
	int err;

	if (!dek)
		return -ENOMEM;
	err = keyring_current_version(kr, dir_id, &next);
	next++;
	if (!err)
		err = random_bytes(dek, COFFRE_KEY_LEN);
	pthread_rwlock_rdlock(&kr->seal_lock);
	if (!err)
		err = keyrec_seal(kr->hsm, kr->uuid, kr->mk_version, dir_id, next, dek,
				  &rec);
	if (!err)
		err = keystore_write(kr->keys_fd, &rec);
	pthread_rwlock_unlock(&kr->seal_lock);
	if (!err) {
		pthread_mutex_lock(&kr->lock);
		err = insert(kr, dir_id, next, dek, 0, &e);
		v1 = find(kr, dir_id, 1);
		if (v1)
			v1->current = next;
		pthread_mutex_unlock(&kr->lock);
		*version = next;
	}
	secmem_free(dek, COFFRE_KEY_LEN);
	return err;
}

void keyring_forget_dir(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN])
{
	size_t i;

	pthread_mutex_lock(&kr->lock);
	for (i = 0; i < kr->capacity; i++)
		if (kr->entries[i].used &&
		    !memcmp(kr->entries[i].dir_id, dir_id, COFFRE_ID_LEN))
			evict(kr, &kr->entries[i]);
	pthread_mutex_unlock(&kr->lock);
}

void keyring_set_mk_version(struct keyring *kr, uint32_t mk_version)
{
	pthread_rwlock_wrlock(&kr->seal_lock);
	kr->mk_version = mk_version;
	pthread_rwlock_unlock(&kr->seal_lock);
}

void keyring_stats(struct keyring *kr, size_t *entries, uint64_t *unseals)
{
	pthread_mutex_lock(&kr->lock);
	*entries = kr->count;
	*unseals = kr->unseals;
	pthread_mutex_unlock(&kr->lock);
}

void keyring_lookups(struct keyring *kr, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&kr->lock);
	*hits = kr->hits;
	*misses = kr->misses;
	pthread_mutex_unlock(&kr->lock);
}
