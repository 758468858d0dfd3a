/*
 * genobj.c — format 2's generation object in the HSMs (doc/FORMAT.md §9.3;
 * used by §12.5 step 4, §14.2 step 5, §14.4): a private CKO_DATA object
 * `coffre-gen-<uuid hex>` on every member of the pool, holding local_gen,
 * bucket_gen and reserved_gen (src/format/v2/hsmgen.c).
 *
 *  - Reading: each field is the maximum over the members that answer and
 *    over every object with the label on one token (a crash inside a
 *    replace leaves two).  A value of any other length than 24, or one
 *    hsmgen_parse refuses, fails the read and names the member.
 *  - The current value, kept here, is the field-wise maximum of what was
 *    read and written; a write stores it (never anything lower), all three
 *    fields, to every member up, by create-then-destroy
 *    (hsm_data_replace).  Device errors mark a member down and the write
 *    goes on (hsm_pool_each); resource errors fail it and mark nobody.
 *  - Catching up: a member that comes back (the pool's join hook), or one
 *    that answered the read of a session that writes, is written the
 *    current value where its own is lower in any field, before it counts
 *    as up.  Where its own is higher the current value takes it; a
 *    local_gen above the generation the session loaded is a rollback the
 *    mount missed: reported ("volume rolled back") and kept for status.
 *
 * Locks: w serialises readers and writers (taken before the pool's lock);
 * mu guards the state and is taken alone or inside the pool's lock, as the
 * join hook runs under it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/hsm.h"
#include "coffre/keys.h"
#include "coffre/log.h"

struct genobj {
	struct hsm_pool *pool;
	char label[GENOBJ_LABEL_MAX];
	pthread_mutex_t w;
	pthread_mutex_t mu;
	struct hsmgen cur;             /* max of what was read and written */
	uint64_t loaded;               /* generation the session loaded */
	bool loaded_set;
	bool pending;                  /* cur is not known to be on every member up */
	bool rolled_back;
	uint64_t rb_gen;
	char rb_token[33];
};

void genobj_label(const uint8_t uuid[COFFRE_ID_LEN], char out[GENOBJ_LABEL_MAX])
{
	char hex[2 * COFFRE_ID_LEN + 1];

	hex_encode(uuid, COFFRE_ID_LEN, hex);
	snprintf(out, GENOBJ_LABEL_MAX, "coffre-gen-%s", hex);
}

static bool lower_somewhere(const struct hsmgen *a, const struct hsmgen *b)
{
	return a->local_gen < b->local_gen || a->bucket_gen < b->bucket_gen ||
	       a->reserved_gen < b->reserved_gen;
}

static bool is_zero(const struct hsmgen *v)
{
	return !v->local_gen && !v->bucket_gen && !v->reserved_gen;
}

/* One member's value: the maximum over its objects.  -EINVAL (and *len)
 * for a value that is refused; returns the number of objects. */
static int member_value(struct hsm *h, const char *label, struct hsmgen *out,
			size_t *bad_len)
{
	struct hsm_data_value vals[HSM_DATA_OBJECTS_MAX];
	struct hsmgen v;
	int n, i, err;

	memset(out, 0, sizeof(*out));
	n = hsm_data_get_all(h, label, vals, HSM_DATA_OBJECTS_MAX);
	for (i = 0; i < n; i++) {
		err = hsmgen_parse(vals[i].value, vals[i].len, &v);
		if (err) {
			*bad_len = vals[i].len;
			return err;
		}
		hsmgen_max(out, &v);
	}
	return n;
}

static void log_refused(struct hsm *h, const char *label, int err, size_t len)
{
	if (err == -E2BIG)
		log_msg(LOG_ERR, "HSM %s: more than %d objects %s", hsm_label(h),
			HSM_DATA_OBJECTS_MAX, label);
	else if (len != V2_HSMGEN_LEN)
		log_msg(LOG_ERR, "HSM %s: generation object %s refused: %zu "
			"bytes, not %d%s", hsm_label(h), label, len,
			V2_HSMGEN_LEN, len == 8 ? " (version 1's counter: "
			"coffrectl upgrade)" : "");
	else
		log_msg(LOG_ERR, "HSM %s: generation object %s refused: a "
			"value no writer makes", hsm_label(h), label);
}

/* With mu held: cur takes v; a higher local_gen than the session loaded is
 * a rollback the read at mount missed. */
static void take(struct genobj *g, struct hsm *h, const struct hsmgen *v)
{
	if (!lower_somewhere(&g->cur, v))
		return;
	if (g->loaded_set && v->local_gen > g->loaded && !g->rolled_back) {
		g->rolled_back = true;
		g->rb_gen = v->local_gen;
		snprintf(g->rb_token, sizeof(g->rb_token), "%s", hsm_label(h));
		log_msg(LOG_ERR, "volume rolled back: HSM %s holds generation "
			"%" PRIu64 ", above the %" PRIu64 " this session loaded",
			hsm_label(h), v->local_gen, g->loaded);
	}
	hsmgen_max(&g->cur, v);
	/* The members up before are now lower. */
	g->pending = true;
}

/* hsm_pool_each: store the current value on one member. */
static int put_op(struct hsm *h, unsigned i, void *arg)
{
	struct genobj *g = arg;
	uint8_t buf[V2_HSMGEN_LEN];
	int err;

	(void)i;
	pthread_mutex_lock(&g->mu);
	err = hsmgen_write(&g->cur, buf);
	pthread_mutex_unlock(&g->mu);
	return err ? err : hsm_data_replace(h, g->label, buf, sizeof(buf));
}

/* Join hook, and the catching up of a read: read the member's own value,
 * take what is higher, write the current value where it is lower. */
static int catch_up_op(struct hsm *h, unsigned i, void *arg)
{
	struct genobj *g = arg;
	struct hsmgen own, cur;
	size_t len = 0;
	int err;

	err = member_value(h, g->label, &own, &len);
	if (err < 0) {
		if (err == -EINVAL || err == -E2BIG)
			log_refused(h, g->label, err, len);
		return err;
	}
	pthread_mutex_lock(&g->mu);
	take(g, h, &own);
	cur = g->cur;
	pthread_mutex_unlock(&g->mu);
	if (is_zero(&cur) || !lower_somewhere(&own, &cur))
		return 0;
	log_msg(LOG_NOTICE, "HSM %s: generation object caught up", hsm_label(h));
	return put_op(h, i, g);
}

int genobj_open(struct hsm_pool *pool, const uint8_t uuid[COFFRE_ID_LEN],
		struct genobj **out)
{
	struct genobj *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->pool = pool;
	genobj_label(uuid, g->label);
	pthread_mutex_init(&g->w, NULL);
	pthread_mutex_init(&g->mu, NULL);
	hsm_pool_set_join(pool, catch_up_op, g);
	*out = g;
	return 0;
}

void genobj_close(struct genobj *g)
{
	if (!g)
		return;
	hsm_pool_set_join(g->pool, NULL, NULL);
	pthread_mutex_destroy(&g->w);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

struct read_args {
	struct genobj *g;
	struct genobj_info *info;
	struct hsmgen max;
	size_t bad_len;
};

static int read_op(struct hsm *h, unsigned i, void *arg)
{
	struct read_args *a = arg;
	struct genobj_member *m = i < COFFRE_MAX_HSMS ? &a->info->m[i] : NULL;
	struct hsmgen own;
	int n;

	n = member_value(h, a->g->label, &own, &a->bad_len);
	if (n < 0) {
		if (n == -EINVAL || n == -E2BIG)
			log_refused(h, a->g->label, n, a->bad_len);
		return n;
	}
	if (m) {
		m->answered = true;
		m->objects = (unsigned)n;
		m->value = own;
	}
	if (n == 0)
		a->info->some_without = true;
	else
		a->info->held++;
	hsmgen_max(&a->max, &own);
	pthread_mutex_lock(&a->g->mu);
	take(a->g, h, &own);
	pthread_mutex_unlock(&a->g->mu);
	return 0;
}

/* After a read: pending if a member read holds less than the current
 * value. */
static void settle(struct genobj *g, const struct genobj_info *info)
{
	bool lower = false;
	unsigned i;

	pthread_mutex_lock(&g->mu);
	for (i = 0; i < COFFRE_MAX_HSMS; i++)
		if (info->m[i].answered && !is_zero(&g->cur) &&
		    lower_somewhere(&info->m[i].value, &g->cur))
			lower = true;
	g->pending = lower;
	pthread_mutex_unlock(&g->mu);
}

int genobj_read(struct genobj *g, unsigned flags, struct hsmgen *value,
		struct genobj_info *info)
{
	struct genobj_info scratch;
	struct read_args a = { g, info ? info : &scratch, { 0 }, 0 };
	unsigned at = 0;
	int n;

	memset(a.info, 0, sizeof(*a.info));
	a.info->bad_member = -1;
	memset(value, 0, sizeof(*value));
	pthread_mutex_lock(&g->w);
	n = hsm_pool_each(g->pool, read_op, &a, &at);
	if (n == -EINVAL || n == -E2BIG) {
		a.info->bad_member = (int)at;
		a.info->bad_len = a.bad_len;
	}
	if (n >= 0) {
		a.info->answered = (unsigned)n;
		*value = a.max;
	}
	if (n == 0)
		n = -ENODEV;
	if (n > 0)
		settle(g, a.info);
	/* A session that writes catches every member up before using it. */
	if (n > 0 && (flags & GENOBJ_CATCH_UP) && a.info->held) {
		pthread_mutex_lock(&g->mu);
		g->pending = false;     /* take() sets it again if it must */
		pthread_mutex_unlock(&g->mu);
		n = hsm_pool_each(g->pool, catch_up_op, g, &at);
		if (n <= 0) {
			pthread_mutex_lock(&g->mu);
			g->pending = true;
			pthread_mutex_unlock(&g->mu);
		}
		if (n == 0)
			n = -ENODEV;
	}
	pthread_mutex_unlock(&g->w);
	return n < 0 ? n : 0;
}

/* With w held: store cur on every member up (exactly: all of them when
 * all is set). */
static int write_cur(struct genobj *g, bool all)
{
	struct hsmgen before;
	unsigned at = 0;
	int n;

	pthread_mutex_lock(&g->mu);
	before = g->cur;
	pthread_mutex_unlock(&g->mu);
	n = hsm_pool_each(g->pool, put_op, g, &at);
	if (n == 0 || (all && n > 0 && (unsigned)n < hsm_pool_size(g->pool)))
		n = -ENODEV;
	pthread_mutex_lock(&g->mu);
	/* A member that came back with a higher value before the write was
	 * written it too; one that comes back later is caught up by the
	 * join hook.  Anything else is written again (genobj_pending). */
	g->pending = n < 0 || lower_somewhere(&before, &g->cur);
	pthread_mutex_unlock(&g->mu);
	return n < 0 ? n : 0;
}

int genobj_write(struct genobj *g, const struct hsmgen *value)
{
	int err;

	if (!hsmgen_valid(value))
		return -EINVAL;
	pthread_mutex_lock(&g->w);
	pthread_mutex_lock(&g->mu);
	/* Never lower: the maximum of what was read and written.  Raised
	 * even if no member takes it now: the join hook then writes it. */
	hsmgen_max(&g->cur, value);
	pthread_mutex_unlock(&g->mu);
	err = write_cur(g, false);
	pthread_mutex_unlock(&g->w);
	return err;
}

int genobj_reseed(struct genobj *g, uint64_t last_gen)
{
	struct hsm_member_status st[COFFRE_MAX_HSMS];
	struct hsmgen v, seen = { 0 };
	unsigned i, n = hsm_pool_status(g->pool, st, COFFRE_MAX_HSMS);
	int err;

	if (n < hsm_pool_size(g->pool))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (st[i].state != HSM_UP)
			return -ENODEV;
	err = genobj_read(g, 0, &seen, NULL);
	if (err)
		return err;
	/* local_gen and bucket_gen are set as the backing dir stands; no
	 * generation reserved before is ever handed out again. */
	v.local_gen = last_gen;
	v.bucket_gen = 0;
	v.reserved_gen = seen.reserved_gen > last_gen ? seen.reserved_gen : last_gen;
	if (!hsmgen_valid(&v))
		return -EINVAL;
	pthread_mutex_lock(&g->w);
	pthread_mutex_lock(&g->mu);
	g->cur = v;
	pthread_mutex_unlock(&g->mu);
	err = write_cur(g, true);
	pthread_mutex_unlock(&g->w);
	return err;
}

void genobj_set_loaded(struct genobj *g, uint64_t gen)
{
	pthread_mutex_lock(&g->mu);
	g->loaded = gen;
	g->loaded_set = true;
	pthread_mutex_unlock(&g->mu);
}

bool genobj_pending(struct genobj *g)
{
	bool p;

	pthread_mutex_lock(&g->mu);
	p = g->pending;
	pthread_mutex_unlock(&g->mu);
	return p;
}

void genobj_status(struct genobj *g, struct genobj_status *st)
{
	pthread_mutex_lock(&g->mu);
	st->current = g->cur;
	st->pending = g->pending;
	st->rolled_back = g->rolled_back;
	st->rolled_back_gen = g->rb_gen;
	snprintf(st->rolled_back_token, sizeof(st->rolled_back_token), "%s",
		 g->rb_token);
	pthread_mutex_unlock(&g->mu);
}
