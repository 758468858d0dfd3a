/*
 * Format 2's generation object in the HSMs (src/keys/genobj.c; FORMAT.md
 * §9.3) on two real SoftHSM2 tokens in a pool: read and write, two
 * objects under the label after a crash inside a replace, refused
 * lengths, a member down during writes and caught up when it comes back
 * (never a lower value on any token), a member holding a higher local_gen
 * (volume rolled back), resource errors against device errors, catching
 * up at a session's read, and `hsm reseed`.  Tokens are inspected through
 * handles of their own, not through the pool.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "coffre/hsm.h"
#include "coffre/keys.h"
#include "fixture.h"

#define S ((uint64_t)V2_HSMGEN_STEP)
#define N 2

static const char *const names[N] = { "gen-a", "gen-b" };
static char uris[N][64];
static struct hsm *tok[N];             /* our own handles on the tokens */
static struct hsm_pool *pool;
static struct genobj *go;
static uint8_t uuid[COFFRE_ID_LEN];
static char label[GENOBJ_LABEL_MAX];

static void init(void)
{
	const char *u[N];
	uint8_t mk[32], kcv[8];
	char err[256] = "";
	bool degraded = true;
	int i, ret;

	fx_store_only();
	for (i = 0; i < N; i++)
		cr_assert_eq(test_softhsm_init_token(&fx_softhsm, names[i],
				TEST_PIN, TEST_SO_PIN), 0);
	ref_random(mk, sizeof(mk));
	ref_random(uuid, sizeof(uuid));
	genobj_label(uuid, label);
	for (i = 0; i < N; i++) {
		snprintf(uris[i], sizeof(uris[i]), "pkcs11:token=%s", names[i]);
		u[i] = uris[i];
		ret = hsm_open(uris[i], TEST_PIN, strlen(TEST_PIN), &tok[i], err,
			       sizeof(err));
		cr_assert_eq(ret, 0, "%s: %s", uris[i], err);
		cr_assert_eq(hsm_import_key(tok[i], "mk-1", mk), 0);
	}
	cr_assert_eq(hsm_kcv(tok[0], "mk-1", kcv), 0);
	ret = hsm_pool_open(u, N, TEST_PIN, strlen(TEST_PIN), "mk-1", kcv,
			    &pool, &degraded, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_not(degraded);
	cr_assert_eq(genobj_open(pool, uuid, &go), 0);
}

static void fini(void)
{
	int i;

	genobj_close(go);
	go = NULL;
	hsm_pool_close(pool);
	pool = NULL;
	for (i = 0; i < N; i++) {
		hsm_close(tok[i]);
		tok[i] = NULL;
	}
	fx_teardown();
}

TestSuite(genobj, .init = init, .fini = fini, .timeout = 120);

static struct hsmgen V(uint64_t local, uint64_t bucket, uint64_t reserved)
{
	struct hsmgen v = { local, bucket, reserved };

	return v;
}

static void assert_value(const struct hsmgen *got, struct hsmgen want,
			 const char *what)
{
	cr_assert(got->local_gen == want.local_gen &&
		  got->bucket_gen == want.bucket_gen &&
		  got->reserved_gen == want.reserved_gen,
		  "%s: (%llu, %llu, %llu), want (%llu, %llu, %llu)", what,
		  (unsigned long long)got->local_gen,
		  (unsigned long long)got->bucket_gen,
		  (unsigned long long)got->reserved_gen,
		  (unsigned long long)want.local_gen,
		  (unsigned long long)want.bucket_gen,
		  (unsigned long long)want.reserved_gen);
}

/* A token's objects under the label, straight from the token: their count,
 * and in *v their field-wise maximum. */
static int raw_get(int i, struct hsmgen *v)
{
	struct hsm_data_value vals[HSM_DATA_OBJECTS_MAX];
	struct hsmgen one;
	int n, k;

	memset(v, 0, sizeof(*v));
	n = hsm_data_get_all(tok[i], label, vals, HSM_DATA_OBJECTS_MAX);
	cr_assert_geq(n, 0, "token %d: %d", i, n);
	for (k = 0; k < n; k++) {
		cr_assert_eq(hsmgen_parse(vals[k].value, vals[k].len, &one), 0,
			     "token %d object %d of %zu bytes", i, k, vals[k].len);
		hsmgen_max(v, &one);
	}
	return n;
}

static void assert_token(int i, struct hsmgen want, int objects)
{
	struct hsmgen v;
	char what[32];

	snprintf(what, sizeof(what), "token %s", names[i]);
	cr_assert_eq(raw_get(i, &v), objects, "%s: object count", what);
	assert_value(&v, want, what);
}

/* One more object on token i, as a crash between create and destroy
 * leaves it. */
static void raw_add(int i, struct hsmgen v)
{
	uint8_t buf[V2_HSMGEN_LEN];

	cr_assert_eq(hsmgen_write(&v, buf), 0);
	cr_assert_eq(hsm_data_create(tok[i], label, buf, sizeof(buf)), 0);
}

static enum hsm_state state(int i)
{
	struct hsm_member_status st[N];

	cr_assert_eq(hsm_pool_status(pool, st, N), N);
	return st[i].state;
}

static unsigned long failovers(int i)
{
	struct hsm_member_status st[N];

	cr_assert_eq(hsm_pool_status(pool, st, N), N);
	return st[i].failovers;
}

Test(genobj, read_write_round_trip)
{
	struct genobj_info info;
	struct hsmgen v;

	cr_assert_eq(genobj_read(go, 0, &v, &info), 0);
	assert_value(&v, V(0, 0, 0), "nothing yet");
	cr_assert_eq(info.answered, N);
	cr_assert_eq(info.held, 0);
	cr_assert(info.some_without);
	cr_assert_eq(info.bad_member, -1);

	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 10, 3, 100 }), 0);
	assert_token(0, V(10, 3, 100), 1);
	assert_token(1, V(10, 3, 100), 1);
	cr_assert_eq(genobj_read(go, 0, &v, &info), 0);
	assert_value(&v, V(10, 3, 100), "read back");
	cr_assert_eq(info.held, N);
	cr_assert_not(info.some_without);
	cr_assert_eq(info.m[1].objects, 1);
	assert_value(&info.m[1].value, V(10, 3, 100), "member 1");
	cr_assert_not(genobj_pending(go));

	/* Never lower: each field the maximum of what was read and written. */
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 9, 2, 99 }), 0);
	assert_token(0, V(10, 3, 100), 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 11, 0, 100 }), 0);
	assert_token(0, V(11, 3, 100), 1);
	assert_token(1, V(11, 3, 100), 1);
	cr_assert_not(genobj_pending(go));

	/* A value no writer makes is refused before any token sees it. */
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 12, 0, 11 }), -EINVAL);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 1, 0,
				  V2_HSMGEN_RESERVED_MAX + 1 }), -EINVAL);
	assert_token(1, V(11, 3, 100), 1);
}

Test(genobj, crash_between_create_and_destroy)
{
	struct genobj_info info;
	struct hsmgen v;

	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 10, 0, 50 }), 0);
	/* The new object made, the old one not yet destroyed. */
	raw_add(0, V(20, 4, 30));
	cr_assert_eq(genobj_read(go, 0, &v, &info), 0);
	assert_value(&v, V(20, 4, 50), "the maximum over both objects");
	cr_assert_eq(info.m[0].objects, 2);
	cr_assert_eq(info.m[1].objects, 1);
	/* The next write leaves one object, holding the maximum. */
	cr_assert_eq(genobj_write(go, &v), 0);
	assert_token(0, V(20, 4, 50), 1);
	assert_token(1, V(20, 4, 50), 1);
}

static void refused(size_t len)
{
	struct genobj_info info;
	struct hsmgen v;
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	cr_assert_eq(hsm_data_create(tok[1], label, buf, len), 0);
	cr_assert_eq(genobj_read(go, 0, &v, &info), -EINVAL, "%zu bytes", len);
	cr_assert_eq(info.bad_member, 1);
	cr_assert_eq(info.bad_len, len);
	assert_value(&v, V(0, 0, 0), "nothing from a refused read");
	/* Not a device error: nobody is failed over. */
	cr_assert_eq(state(1), HSM_UP);
}

Test(genobj, version_1_value_refused) { refused(8); }
Test(genobj, value_of_23_bytes_refused) { refused(23); }
Test(genobj, value_of_25_bytes_refused) { refused(25); }

Test(genobj, invalid_24_bytes_refused)
{
	struct genobj_info info;
	struct hsmgen v;
	uint8_t buf[V2_HSMGEN_LEN] = { 0 };

	buf[7] = 9;                 /* local_gen 9 above reserved_gen 0 */
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 1, 0, 5 }), 0);
	cr_assert_eq(hsm_data_create(tok[0], label, buf, sizeof(buf)), 0);
	cr_assert_eq(genobj_read(go, GENOBJ_CATCH_UP, &v, &info), -EINVAL);
	cr_assert_eq(info.bad_member, 0);
	cr_assert_eq(info.bad_len, V2_HSMGEN_LEN);
}

/* Field-wise: every token's value only ever grows. */
static struct hsmgen seen[N];

static void assert_grew(void)
{
	struct hsmgen v;
	int i;

	for (i = 0; i < N; i++) {
		raw_get(i, &v);
		cr_assert(v.local_gen >= seen[i].local_gen &&
			  v.bucket_gen >= seen[i].bucket_gen &&
			  v.reserved_gen >= seen[i].reserved_gen,
			  "token %s went lower", names[i]);
		seen[i] = v;
	}
}

Test(genobj, member_down_during_writes_then_caught_up)
{
	struct hsmgen v, cur;
	struct genobj_status st;
	uint64_t g;

	memset(seen, 0, sizeof(seen));
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 1, 0, S }), 0);
	assert_grew();
	/* A device error on member 1: marked down, the write goes on. */
	hsm_pool_inject(pool, 1, -ENODEV, 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 2, 0, S }), 0);
	cr_assert_eq(state(1), HSM_DOWN);
	cr_assert_eq(failovers(1), 1);
	assert_token(0, V(2, 0, S), 1);
	assert_token(1, V(1, 0, S), 1);
	for (g = 3; g < 40; g++) {
		v = V(g, g / 2, g < 20 ? S : g + S);
		cr_assert_eq(genobj_write(go, &v), 0);
		assert_grew();
	}
	genobj_status(go, &st);
	cur = st.current;
	assert_value(&cur, V(39, 19, 39 + S), "current");
	assert_token(1, V(1, 0, S), 1);

	/* It answers again, but catching up fails (a resource error): it
	 * does not count as up, and holds what it held. */
	hsm_pool_inject(pool, 1, -ENOMEM, 1);
	hsm_pool_reconnect(pool);
	cr_assert_eq(state(1), HSM_DOWN);
	assert_token(1, V(1, 0, S), 1);
	/* Next round: caught up before it is up. */
	hsm_pool_reconnect(pool);
	cr_assert_eq(state(1), HSM_UP);
	assert_token(1, cur, 1);
	assert_grew();
	cr_assert_not(genobj_pending(go));
	cr_assert_not(st.rolled_back);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 40, 0, 40 + S }), 0);
	assert_token(1, V(40, 19, 40 + S), 1);
	assert_token(0, V(40, 19, 40 + S), 1);
	assert_grew();
}

Test(genobj, member_back_with_a_higher_local_gen_is_a_rollback)
{
	struct genobj_status st;
	struct hsmgen v;

	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 100, 0, 100 + S }), 0);
	cr_assert_eq(genobj_read(go, GENOBJ_CATCH_UP, &v, NULL), 0);
	genobj_set_loaded(go, 100);
	hsm_pool_inject(pool, 1, -ENODEV, 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 101, 0, 100 + S }), 0);
	cr_assert_eq(state(1), HSM_DOWN);
	/* Member 1 holds what a history the mount never saw wrote. */
	cr_assert_eq(hsm_data_replace(tok[1], label,
		(uint8_t[V2_HSMGEN_LEN]){ [6] = 0, [7] = 150, [23] = 150,
					  [21] = 1 }, V2_HSMGEN_LEN), 0);
	assert_token(1, V(150, 0, 150 + S), 1);
	hsm_pool_reconnect(pool);
	cr_assert_eq(state(1), HSM_UP);
	genobj_status(go, &st);
	cr_assert(st.rolled_back);
	cr_assert_eq(st.rolled_back_gen, 150);
	cr_assert_str_eq(st.rolled_back_token, "gen-b");
	/* The pool takes it; the member that stayed up is now behind. */
	assert_value(&st.current, V(150, 0, 150 + S), "current");
	cr_assert(st.pending);
	assert_token(0, V(101, 0, 100 + S), 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 102, 0, 100 + S }), 0);
	assert_token(0, V(150, 0, 150 + S), 1);
	cr_assert_not(genobj_pending(go));
}

Test(genobj, member_back_higher_but_not_past_the_load)
{
	struct genobj_status st;

	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 100, 0, 100 + S }), 0);
	genobj_set_loaded(go, 100);
	hsm_pool_inject(pool, 1, -ENODEV, 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 100, 0, 100 + S }), 0);
	/* A higher bucket_gen alone: taken, no rollback. */
	cr_assert_eq(hsm_data_replace(tok[1], label,
		(uint8_t[V2_HSMGEN_LEN]){ [7] = 100, [15] = 90, [21] = 1,
					  [23] = 100 }, V2_HSMGEN_LEN), 0);
	hsm_pool_reconnect(pool);
	cr_assert_eq(state(1), HSM_UP);
	genobj_status(go, &st);
	cr_assert_not(st.rolled_back);
	assert_value(&st.current, V(100, 90, 100 + S), "current");
}

Test(genobj, resource_error_is_not_a_device_error)
{
	struct hsmgen v;
	int err;

	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 5, 0, 5 + S }), 0);
	for (err = 0; err < 3; err++) {
		int e = err == 0 ? -ENOMEM : err == 1 ? -ENFILE : -EMFILE;

		hsm_pool_inject(pool, 0, e, 1);
		cr_assert_eq(genobj_write(go, &(struct hsmgen){ 6 + err, 0,
					  6 + S }), e);
		cr_assert_eq(state(0), HSM_UP);
		cr_assert_eq(state(1), HSM_UP);
		cr_assert_eq(failovers(0), 0);
		cr_assert(genobj_pending(go));
	}
	/* Retried: every member up takes the current value. */
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 8, 0, 6 + S }), 0);
	assert_token(0, V(8, 0, 6 + S), 1);
	assert_token(1, V(8, 0, 6 + S), 1);
	cr_assert_not(genobj_pending(go));

	/* A device error (and an ambiguous one) fails the member over. */
	hsm_pool_inject(pool, 0, -EIO, 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 9, 0, 6 + S }), 0);
	cr_assert_eq(state(0), HSM_DOWN);
	assert_token(1, V(9, 0, 6 + S), 1);
	/* The last member fails too: nobody holds the write. */
	hsm_pool_inject(pool, 1, -ENODEV, 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 10, 0, 10 + S }),
		     -ENODEV);
	cr_assert(genobj_pending(go));
	cr_assert_eq(genobj_read(go, 0, &v, NULL), -ENODEV);
	/* Both come back and take the raise no member held. */
	hsm_pool_reconnect(pool);
	cr_assert_eq(state(0), HSM_UP);
	cr_assert_eq(state(1), HSM_UP);
	assert_token(0, V(10, 0, 10 + S), 1);
	assert_token(1, V(10, 0, 10 + S), 1);
}

Test(genobj, a_session_catches_members_up_at_its_read)
{
	struct genobj_info info;
	struct hsmgen v;

	raw_add(0, V(10, 0, 10 + S));
	raw_add(1, V(7, 5, 9));
	/* A reader that writes nothing leaves the tokens alone. */
	cr_assert_eq(genobj_read(go, 0, &v, &info), 0);
	assert_value(&v, V(10, 5, 10 + S), "read");
	assert_token(1, V(7, 5, 9), 1);
	cr_assert(genobj_pending(go));
	cr_assert_eq(genobj_read(go, GENOBJ_CATCH_UP, &v, &info), 0);
	assert_value(&v, V(10, 5, 10 + S), "read");
	assert_token(0, V(10, 5, 10 + S), 1);
	assert_token(1, V(10, 5, 10 + S), 1);
	cr_assert_not(genobj_pending(go));
}

Test(genobj, no_object_anywhere_creates_nothing)
{
	struct genobj_info info;
	struct hsmgen v;

	cr_assert_eq(genobj_read(go, GENOBJ_CATCH_UP, &v, &info), 0);
	cr_assert_eq(info.held, 0);
	assert_token(0, V(0, 0, 0), 0);
	assert_token(1, V(0, 0, 0), 0);
}

Test(genobj, reseed)
{
	struct hsmgen v;

	cr_assert_eq(genobj_reseed(go, 12), 0);
	assert_token(0, V(12, 0, 12), 1);
	assert_token(1, V(12, 0, 12), 1);
	cr_assert_eq(genobj_write(go, &(struct hsmgen){ 50, 7, 50 + S }), 0);
	/* The backing dir is trusted as found (a lower local_gen, bucket_gen
	 * 0); reserved_gen keeps every generation handed out before. */
	cr_assert_eq(genobj_reseed(go, 40), 0);
	assert_token(0, V(40, 0, 50 + S), 1);
	assert_token(1, V(40, 0, 50 + S), 1);
	cr_assert_eq(genobj_read(go, 0, &v, NULL), 0);
	assert_value(&v, V(40, 0, 50 + S), "read after reseed");
	/* Every HSM must take part. */
	hsm_pool_inject(pool, 1, -ENODEV, 1);
	cr_assert_eq(genobj_read(go, 0, &v, NULL), 0);
	cr_assert_eq(state(1), HSM_DOWN);
	cr_assert_eq(genobj_reseed(go, 60), -ENODEV);
	assert_token(0, V(40, 0, 50 + S), 1);
}

Test(genobj, version_1_counter_unchanged)
{
	struct hsm_data_value vals[HSM_DATA_OBJECTS_MAX];

	/* Same label, version 1's 8 bytes, updated in place or re-created
	 * (hsm_data_put): one object, as before. */
	cr_assert_eq(hsm_pool_counter_put(pool, label, 5), N);
	cr_assert_eq(hsm_pool_counter_put(pool, label, 7), N);
	cr_assert_eq(hsm_pool_counter_get(pool, label), 7);
	cr_assert_eq(hsm_data_get_all(tok[0], label, vals, HSM_DATA_OBJECTS_MAX), 1);
	cr_assert_eq(vals[0].len, 8);
	cr_assert_eq(vals[0].value[7], 7);
}

static volatile int writing;

static void *reconnector(void *arg)
{
	(void)arg;
	while (writing)
		hsm_pool_reconnect(pool);
	return NULL;
}

Test(genobj, members_coming_back_while_the_commit_thread_writes)
{
	struct genobj_status st;
	pthread_t t;
	uint64_t g;
	int ret[121];

	writing = 1;
	cr_assert_eq(pthread_create(&t, NULL, reconnector, NULL), 0);
	for (g = 1; g <= 120; g++) {
		if (g % 10 == 0) {
			/* One member down at a time: the writes still hold. */
			while (state(0) != HSM_UP || state(1) != HSM_UP)
				usleep(1000);
			hsm_pool_inject(pool, (unsigned)(g / 10) % N, -ENODEV, 1);
		}
		ret[g] = genobj_write(go, &(struct hsmgen){ g, g / 3, g + S });
	}
	writing = 0;
	pthread_join(t, NULL);
	for (g = 1; g <= 120; g++)
		cr_assert_eq(ret[g], 0, "write %llu", (unsigned long long)g);
	hsm_pool_reconnect(pool);
	cr_assert_eq(state(0), HSM_UP);
	cr_assert_eq(state(1), HSM_UP);
	genobj_status(go, &st);
	assert_value(&st.current, V(120, 40, 120 + S), "current");
	/* Whoever missed the last write was caught up coming back. */
	assert_token(0, st.current, 1);
	assert_token(1, st.current, 1);
}
