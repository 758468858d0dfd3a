/*
 * Write intents, `.coffre/manifest/intent.<g>` (doc/FORMAT.md §12.4, used
 * by §14.2 step 1, §14.3 "write", §14.5 step 3): the daemon's side.  The
 * records' bytes and MACs are src/format's (intent_write, intent_scan);
 * this file holds the policy and the durability:
 *
 *  - declare: before a write of generation g into a group of a committed
 *    object, the group is covered by a durable record of intent.<g>.  The
 *    range policy of §12.4, in this order: a group already covered costs
 *    nothing; a group right after a covered one declares the next 16 (up
 *    to the next covered range); an object that has declared 16 groups in
 *    g declares the aligned 64 holding the group; else the group alone.
 *  - group commit: records are written (pwrite, under the mutex) at index
 *    appended; one fdatasync at a time, outside the mutex, covers every
 *    record written before it began; a declarer whose record came after
 *    waits for the next one.  So nobody syncs the same bytes twice and
 *    concurrent declarers share syncs.
 *  - carry: at the freeze, the groups written in g - 1 of objects still
 *    open are appended to intent.<g> with one fdatasync.
 *  - retire and scan (recovery).
 *
 * Memory is bounded (table.h): forgetting a declaration is always safe,
 * since a forgotten group is declared again; memory never claims a group
 * that no record written to the file covers (merges are exact unions).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "coffre/table.h"
#include "coffre/v2/names.h"

#define GROUPS_END ((uint64_t)UINT32_MAX + 1)   /* one past the last group */
#define MANIFEST ".coffre/manifest/"

/* Groups first .. end - 1, covered by records [0, seq) once durable. */
struct trange {
	uint32_t first;
	uint32_t seq;
	uint64_t end;
};

/* One object's declarations in one generation: ranges sorted, disjoint
 * and not adjacent. */
struct tiobj {
	uint8_t id[COFFRE_ID_LEN];
	uint32_t nr;
	uint32_t declared;             /* groups of its records, saturating */
	struct trange r[TINTENTS_RANGES];
};

/* One generation's file and table. */
struct tigen {
	uint64_t g;                    /* 0: slot unused */
	int fd;                        /* -1 until created */
	int err;                       /* sticky: the file cannot be trusted */
	bool syncing, dropping;
	unsigned users;                /* declarers inside (fd in use) */
	uint32_t appended, synced;     /* records written, durable */
	size_t nobj, cap;
	struct tiobj *objs;            /* cap of them */
	uint32_t *slots;               /* nslots: 0 empty, else index + 1 */
	size_t nslots;                 /* a power of two >= 2 cap */
};

struct tintents {
	int mdir;
	const struct table_keys *k;
	size_t max_objects;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tigen gen[2];
	struct tintents_stats st;
};

static void intent_name(uint64_t g, char name[V2_MANIFEST_NAME_MAX])
{
	if (names2_manifest_write(N2_MF_INTENT, g, name) < 0)
		name[0] = '\0';        /* g checked by every caller */
}

/* ---- an object's ranges */

static int range_find(const struct tiobj *o, uint64_t x)
{
	for (uint32_t i = 0; i < o->nr; i++)
		if (o->r[i].first <= x && x < o->r[i].end)
			return (int)i;
	return -1;
}

/* The first group past x that a range covers (GROUPS_END if none). */
static uint64_t range_next(const struct tiobj *o, uint64_t x)
{
	for (uint32_t i = 0; i < o->nr; i++)
		if (o->r[i].first > x)
			return o->r[i].first;
	return GROUPS_END;
}

/* Add [first, end) durable at seq: overlapping and adjacent ranges are
 * joined (seq their maximum); with no room, the smallest range goes. */
static void range_add(struct tiobj *o, uint32_t first, uint64_t end,
		      uint32_t seq)
{
	struct trange n = { first, seq, end };
	uint32_t i, j = 0, at;

	for (i = 0; i < o->nr; i++) {
		struct trange r = o->r[i];

		if (r.first <= n.end && r.end >= n.first) {
			if (r.first < n.first)
				n.first = r.first;
			if (r.end > n.end)
				n.end = r.end;
			if (r.seq > n.seq)
				n.seq = r.seq;
		} else {
			o->r[j++] = r;
		}
	}
	o->nr = j;
	if (o->nr == TINTENTS_RANGES) {
		uint32_t small = 0;

		for (i = 1; i < o->nr; i++)
			if (o->r[i].end - o->r[i].first <
			    o->r[small].end - o->r[small].first)
				small = i;
		if (n.end - n.first <= o->r[small].end - o->r[small].first)
			return;                /* forget the new one */
		memmove(&o->r[small], &o->r[small + 1],
			(o->nr - small - 1) * sizeof(o->r[0]));
		o->nr--;
	}
	for (at = 0; at < o->nr && o->r[at].first < n.first; at++)
		;
	memmove(&o->r[at + 1], &o->r[at], (o->nr - at) * sizeof(o->r[0]));
	o->r[at] = n;
	o->nr++;
}

/* ---- a generation's table of objects */

static size_t id_hash(const uint8_t id[COFFRE_ID_LEN])
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));     /* ids are random */
	return (size_t)(h ^ (h >> 29));
}

/* The object's entry, added if new; a full table is emptied first. */
static struct tiobj *obj_get(struct tintents *t, struct tigen *G,
			     const uint8_t id[COFFRE_ID_LEN])
{
	size_t mask = G->nslots - 1, s = id_hash(id) & mask;
	struct tiobj *o;

	for (; G->slots[s]; s = (s + 1) & mask) {
		o = &G->objs[G->slots[s] - 1];
		if (memcmp(o->id, id, COFFRE_ID_LEN) == 0)
			return o;
	}
	if (G->nobj == G->cap) {
		memset(G->slots, 0, G->nslots * sizeof(G->slots[0]));
		G->nobj = 0;
		t->st.resets++;
		s = id_hash(id) & mask;
	}
	G->slots[s] = (uint32_t)(G->nobj + 1);
	o = &G->objs[G->nobj++];
	memset(o, 0, sizeof(*o));
	memcpy(o->id, id, COFFRE_ID_LEN);
	return o;
}

static struct tigen *gen_find(struct tintents *t, uint64_t g)
{
	for (int i = 0; i < 2; i++)
		if (t->gen[i].g == g && g != 0)
			return &t->gen[i];
	return NULL;
}

/* Forget G once its declarers have returned (mutex held). */
static void gen_drop(struct tintents *t, struct tigen *G)
{
	G->dropping = true;
	while (G->users)
		pthread_cond_wait(&t->cv, &t->mu);
	if (G->fd >= 0)
		close(G->fd);
	free(G->objs);
	free(G->slots);
	memset(G, 0, sizeof(*G));
	G->fd = -1;
}

/* ---- the file */

/* Create intent.<g>, and make its name durable (mutex held). */
static int gen_create(struct tintents *t, struct tigen *G)
{
	char name[V2_MANIFEST_NAME_MAX];
	int fd, err;

	intent_name(G->g, name);
	fd = openat(t->mdir, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		if (err != -EEXIST)
			return err;
		/* Generations are never used twice (§12.7): not ours. */
		log_msg(LOG_ERR, "%s%s: found before its first intent; writes "
			"of generation %llu refused", MANIFEST, name,
			(unsigned long long)G->g);
		G->err = -EIO;
		return G->err;
	}
	err = io_fsync_dir(t->mdir);
	if (err) {
		close(fd);
		log_msg(LOG_ERR, "%s%s: fsync of the directory failed (%s); "
			"writes of generation %llu refused", MANIFEST, name,
			strerror(-err), (unsigned long long)G->g);
		G->err = -EIO;
		return G->err;
	}
	G->fd = fd;
	return 0;
}

/* Write the next record (mutex held): *seq gets the records that must be
 * durable for it to be.  A failed write is not counted: the same index is
 * written again by the next append. */
static int gen_append(struct tintents *t, struct tigen *G,
		      const uint8_t id[COFFRE_ID_LEN], uint32_t first,
		      uint64_t end, uint32_t *seq)
{
	struct intent in = { .kind = V2_INTENT_CONTENT, .first_group = first,
			     .group_count = (uint32_t)(end - first) };
	uint8_t rec[V2_INTENT_LEN];
	int err;

	if (G->err)
		return G->err;
	if (G->fd < 0 && (err = gen_create(t, G)) != 0)
		return err;
	if (G->appended >= TINTENTS_RECORDS_MAX)
		return -EFBIG;
	memcpy(in.object_id, id, COFFRE_ID_LEN);
	err = intent_write(t->k->key, t->k->uuid, G->g, G->appended, &in, rec);
	if (!err)
		err = io_pwrite_full(G->fd, rec, sizeof(rec),
				     (uint64_t)G->appended * V2_INTENT_LEN);
	if (err)
		return err;
	*seq = ++G->appended;
	t->st.appends++;
	return 0;
}

void (*tintents_test_before_sync)(int fd, uint32_t from, uint32_t to);

static int datasync(int fd)
{
	int r;

	do
		r = fdatasync(fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* Return once records [0, need) are durable (mutex held, released during
 * the fdatasync).  A failed fdatasync is sticky: its pages may since read
 * as clean (§14.2 step 2), so nothing after it is known durable. */
static int gen_wait(struct tintents *t, struct tigen *G, uint32_t need)
{
	while (G->synced < need) {
		uint32_t target, from;
		int fd, err;

		if (G->err)
			return G->err;
		if (G->syncing) {
			pthread_cond_wait(&t->cv, &t->mu);
			continue;
		}
		G->syncing = true;
		target = G->appended;
		from = G->synced;
		fd = G->fd;
		pthread_mutex_unlock(&t->mu);
		if (tintents_test_before_sync)
			tintents_test_before_sync(fd, from, target);
		err = datasync(fd);
		pthread_mutex_lock(&t->mu);
		G->syncing = false;
		t->st.syncs++;
		if (err) {
			char name[V2_MANIFEST_NAME_MAX];

			intent_name(G->g, name);
			log_msg(LOG_ERR, "%s%s: fdatasync failed (%s); writes of "
				"generation %llu refused", MANIFEST, name,
				strerror(-err), (unsigned long long)G->g);
			G->err = -EIO;
		} else if (target > G->synced) {
			G->synced = target;
		}
		pthread_cond_broadcast(&t->cv);
	}
	return 0;
}

/* ---- the interface */

int tintents_new(int mdir, const struct table_keys *k, size_t max_objects,
		 struct tintents **out)
{
	struct tintents *t;

	*out = NULL;
	if (max_objects == 0 || max_objects > UINT32_MAX / 4)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->mdir = mdir;
	t->k = k;
	t->max_objects = max_objects;
	t->gen[0].fd = t->gen[1].fd = -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	*out = t;
	return 0;
}

void tintents_free(struct tintents *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	for (int i = 0; i < 2; i++)
		if (t->gen[i].g)
			gen_drop(t, &t->gen[i]);
	pthread_mutex_unlock(&t->mu);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int tintents_open(struct tintents *t, uint64_t g)
{
	struct tigen *G, *newest = NULL, *other = NULL;
	struct tiobj *objs;
	uint32_t *slots;
	size_t nslots = 2;

	if (!v2_gen_valid(g))
		return -EINVAL;
	while (nslots < 2 * t->max_objects)
		nslots *= 2;
	objs = calloc(t->max_objects, sizeof(*objs));
	slots = calloc(nslots, sizeof(*slots));
	if (!objs || !slots) {
		free(objs);
		free(slots);
		return -ENOMEM;
	}
	pthread_mutex_lock(&t->mu);
	for (int i = 0; i < 2; i++)
		if (t->gen[i].g && (!newest || t->gen[i].g > newest->g))
			newest = &t->gen[i];
	if (newest && g <= newest->g) {
		pthread_mutex_unlock(&t->mu);
		free(objs);
		free(slots);
		return -EINVAL;
	}
	/* Keep the newest (now the one being committed), drop the other. */
	other = newest == &t->gen[0] ? &t->gen[1] : &t->gen[0];
	if (other->g)
		gen_drop(t, other);
	G = other;
	G->g = g;
	G->fd = -1;
	G->objs = objs;
	G->cap = t->max_objects;
	G->slots = slots;
	G->nslots = nslots;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

/* Take G for a declare or carry (mutex held): NULL if not held. */
static struct tigen *gen_enter(struct tintents *t, uint64_t g)
{
	struct tigen *G = gen_find(t, g);

	if (!G || G->dropping)
		return NULL;
	G->users++;
	return G;
}

static void gen_leave(struct tintents *t, struct tigen *G)
{
	if (--G->users == 0 && G->dropping)
		pthread_cond_broadcast(&t->cv);
}

int tintents_declare(struct tintents *t, uint64_t g,
		     const uint8_t id[COFFRE_ID_LEN], uint32_t first,
		     uint32_t count)
{
	uint64_t x = first, end = (uint64_t)first + count;
	uint32_t need = 0;
	struct tigen *G;
	struct tiobj *o;
	int err = 0;

	if (count == 0 || end > GROUPS_END)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	G = gen_enter(t, g);
	if (!G) {
		pthread_mutex_unlock(&t->mu);
		return -ESTALE;
	}
	t->st.declares++;
	o = obj_get(t, G, id);
	while (x < end) {
		int i = range_find(o, x);
		uint64_t a = x, b, seq_end;
		uint32_t seq;

		if (i >= 0) {
			if (o->r[i].seq > need)
				need = o->r[i].seq;
			x = o->r[i].end;
			continue;
		}
		if (x > 0 && range_find(o, x - 1) >= 0) {
			b = x + TINTENTS_SEQ_RUN;
			seq_end = range_next(o, x);
			if (b > seq_end)
				b = seq_end;
		} else if (o->declared >= TINTENTS_SEQ_RUN) {
			a = x & ~(uint64_t)(TINTENTS_ALIGNED - 1);
			b = a + TINTENTS_ALIGNED;
		} else {
			b = x + 1;
		}
		if (b > GROUPS_END)
			b = GROUPS_END;
		err = gen_append(t, G, id, (uint32_t)a, b, &seq);
		if (err)
			break;
		o->declared = o->declared > UINT32_MAX - (b - a) ?
			UINT32_MAX : o->declared + (uint32_t)(b - a);
		range_add(o, (uint32_t)a, b, seq);
		need = seq;
		x = b;
	}
	if (!err)
		err = gen_wait(t, G, need);
	gen_leave(t, G);
	pthread_mutex_unlock(&t->mu);
	return err;
}

/* Append [first, end) of id for a carry, unless one range covers it. */
static int carry_one(struct tintents *t, struct tigen *G,
		     const uint8_t id[COFFRE_ID_LEN], uint32_t first,
		     uint64_t end, uint32_t *need)
{
	struct tiobj *o = obj_get(t, G, id);
	int i = range_find(o, first);
	uint32_t seq;
	int err;

	if (i >= 0 && o->r[i].end >= end) {
		if (o->r[i].seq > *need)
			*need = o->r[i].seq;
		return 0;
	}
	err = gen_append(t, G, id, first, end, &seq);
	if (err)
		return err;
	o->declared = o->declared > UINT32_MAX - (end - first) ?
		UINT32_MAX : o->declared + (uint32_t)(end - first);
	range_add(o, first, end, seq);
	*need = seq;
	return 0;
}

int tintents_carry(struct tintents *t, uint64_t g, const struct intent *v,
		   size_t n)
{
	uint32_t need = 0;
	struct tigen *G;
	size_t i, j;
	int err = 0;

	for (i = 0; i < n; i++)
		if (!intent_valid(&v[i]))
			return -EINVAL;
	pthread_mutex_lock(&t->mu);
	G = gen_enter(t, g);
	if (!G) {
		pthread_mutex_unlock(&t->mu);
		return -ESTALE;
	}
	for (i = 0; i < n && !err; i = j) {
		uint64_t first = v[i].first_group;
		uint64_t end = first + v[i].group_count;

		/* Join the following ranges of the same object that touch. */
		for (j = i + 1; j < n; j++) {
			uint64_t f = v[j].first_group;
			uint64_t e = f + v[j].group_count;

			if (memcmp(v[j].object_id, v[i].object_id,
				   COFFRE_ID_LEN) != 0 || f > end || e < first)
				break;
			if (f > first)
				f = first;
			if (e < end)
				e = end;
			if (e - f > UINT32_MAX)
				break;         /* a record's count is a u32 */
			first = f;
			end = e;
		}
		err = carry_one(t, G, v[i].object_id, (uint32_t)first, end,
				&need);
	}
	if (!err)
		err = gen_wait(t, G, need);
	gen_leave(t, G);
	pthread_mutex_unlock(&t->mu);
	return err;
}

int tintents_retire(struct tintents *t, uint64_t g)
{
	char name[V2_MANIFEST_NAME_MAX];
	struct tigen *G;

	if (!v2_gen_valid(g))
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	G = gen_find(t, g);
	if (G) {
		struct tigen *other = G == &t->gen[0] ? &t->gen[1] : &t->gen[0];

		if (!other->g || other->g < g) {
			pthread_mutex_unlock(&t->mu);
			return -EBUSY;         /* the open generation */
		}
		gen_drop(t, G);
	}
	pthread_mutex_unlock(&t->mu);
	intent_name(g, name);
	if (unlinkat(t->mdir, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

void tintents_stats(struct tintents *t, struct tintents_stats *s)
{
	pthread_mutex_lock(&t->mu);
	*s = t->st;
	s->objects = 0;
	s->bytes = sizeof(*t);
	for (int i = 0; i < 2; i++) {
		const struct tigen *G = &t->gen[i];

		if (!G->g)
			continue;
		s->objects += G->nobj;
		s->bytes += G->cap * sizeof(G->objs[0]) +
			    G->nslots * sizeof(G->slots[0]);
	}
	pthread_mutex_unlock(&t->mu);
}

uint32_t tintents_durable(struct tintents *t, uint64_t g)
{
	struct tigen *G;
	uint32_t n = 0;

	pthread_mutex_lock(&t->mu);
	G = gen_find(t, g);
	if (G)
		n = G->synced;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* ---- recovery */

static int intent_order(const void *pa, const void *pb)
{
	const struct intent *a = pa, *b = pb;
	int c = memcmp(a->object_id, b->object_id, COFFRE_ID_LEN);

	if (c)
		return c;
	return (a->first_group > b->first_group) - (a->first_group < b->first_group);
}

/* Sort v and join, per object, the ranges that overlap or touch (a joined
 * range whose count would pass a u32 is split there): the new count. */
static size_t intents_merge(struct intent *v, size_t n)
{
	size_t i, m = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), intent_order);
	for (i = 1; i < n; i++) {
		struct intent *cur = &v[m];
		uint64_t end = (uint64_t)cur->first_group + cur->group_count;
		uint64_t e = (uint64_t)v[i].first_group + v[i].group_count;

		if (memcmp(cur->object_id, v[i].object_id, COFFRE_ID_LEN) == 0 &&
		    v[i].first_group <= end &&
		    (e <= end || e - cur->first_group <= UINT32_MAX)) {
			if (e > end)
				cur->group_count = (uint32_t)(e - cur->first_group);
			continue;
		}
		v[++m] = v[i];
	}
	return m + 1;
}

int tintents_scan(int mdir, const struct table_keys *k, uint64_t g,
		  struct intent **out, size_t *n)
{
	char name[V2_MANIFEST_NAME_MAX];
	struct intent *v = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, cnt = 0;
	const char *why;
	int err;

	*out = NULL;
	*n = 0;
	if (!v2_gen_valid(g))
		return -EINVAL;
	intent_name(g, name);
	err = tread_whole(mdir, name, (size_t)TINTENTS_RECORDS_MAX * V2_INTENT_LEN,
			  &buf, &len, &why);
	if (why)
		goto tamper;
	if (err)
		return err;
	if (len >= V2_INTENT_LEN) {
		v = malloc(len / V2_INTENT_LEN * sizeof(*v));
		if (!v) {
			free(buf);
			return -ENOMEM;
		}
	}
	/* The leading records that are whole and verify: the rest is a torn
	 * append (or what followed one), never read. */
	err = intent_scan(k->key, k->uuid, g, buf, len, v,
			  len / V2_INTENT_LEN, &cnt);
	free(buf);
	if (err == -EINVAL) {
		free(v);
		why = "a record that verifies breaks a field rule";
		goto tamper;
	}
	if (err) {
		free(v);
		return err;
	}
	cnt = intents_merge(v, cnt);
	if (cnt == 0) {
		free(v);
		v = NULL;
	} else {
		struct intent *s = realloc(v, cnt * sizeof(*v));

		if (s)
			v = s;
	}
	*out = v;
	*n = cnt;
	return 0;
tamper:
	log_tampered(LOG_ERR, "version table tampered: %s%s: %s", MANIFEST,
			name, why);
	return -EIO;
}
