/*
 * Several handles and a token that goes away: two tokens of one module
 * open at once in one process, two handles on one token (a key replaced
 * behind a cached object handle), many threads on one handle, and a token
 * whose storage is deleted while it is open.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "fixture.h"

static struct hsm *h2;

static void fini(void)
{
	hsm_close(h2);
	h2 = NULL;
	fx_teardown();
}

TestSuite(hsm_tokens, .init = fx_token_open, .fini = fini, .timeout = 120);

static void assert_kcv(struct hsm *h, const char *label, const uint8_t key[32])
{
	uint8_t kcv[8], mac[16];

	cr_assert_eq(hsm_kcv(h, label, kcv), 0, "kcv on %s", hsm_label(h));
	cr_assert_eq(ref_cmac_zero(key, mac), 0);
	cr_assert_arr_eq(kcv, mac, 8, "kcv on %s", hsm_label(h));
}

static void open_second(const char *uri)
{
	char err[256] = "";

	cr_assert_eq(hsm_open(uri, TEST_PIN, strlen(TEST_PIN), &h2, err,
			      sizeof(err)), 0, "%s: %s", uri, err);
}

Test(hsm_tokens, two_tokens_in_one_process)
{
	uint8_t k1[32], k2[32], pt[40], ct[56], out[40], iv[12];

	char err[256] = "";

	/* Both tokens live in this test's store: SoftHSM2 reads its config
	 * and scans its token directory when the library is initialised,
	 * so a token made while a handle is open is only seen once every
	 * handle of the process is closed.  The second token is reached
	 * through module-path, the first through the registered module:
	 * one library, two managed views of it. */
	hsm_close(fx_hsm);
	fx_hsm = NULL;
	cr_assert_eq(test_softhsm_init_token(&fx_softhsm, "coffre-second",
					     TEST_PIN, TEST_SO_PIN), 0);
	cr_assert_eq(hsm_open(fx_uri, TEST_PIN, strlen(TEST_PIN), &fx_hsm, err,
			      sizeof(err)), 0, "%s", err);
	open_second("pkcs11:token=coffre-second?module-path="
		    TEST_SOFTHSM_MODULE);
	cr_assert_str_eq(hsm_label(h2), "coffre-second");

	ref_random(k1, sizeof(k1));
	ref_random(k2, sizeof(k2));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", k1), 0);
	cr_assert_eq(hsm_import_key(h2, "mk-1", k2), 0);
	assert_kcv(fx_hsm, "mk-1", k1);
	assert_kcv(h2, "mk-1", k2);

	/* Closing one handle leaves the other (same library) working. */
	ref_random(pt, sizeof(pt));
	ref_random(iv, sizeof(iv));
	cr_assert_eq(hsm_gcm_seal(h2, "mk-1", iv, NULL, 0, pt, sizeof(pt), ct),
		     0);
	hsm_close(fx_hsm);
	fx_hsm = NULL;
	assert_kcv(h2, "mk-1", k2);
	cr_assert_eq(hsm_gcm_open(h2, "mk-1", iv, NULL, 0, ct, sizeof(ct), out),
		     0);
	cr_assert_arr_eq(out, pt, sizeof(pt));
}

Test(hsm_tokens, two_handles_on_one_token_and_a_replaced_key)
{
	uint8_t k1[32], k2[32];

	open_second(fx_uri);
	ref_random(k1, sizeof(k1));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", k1), 0);
	/* h2 sees the object fx_hsm made, and caches its handle. */
	assert_kcv(h2, "mk-1", k1);
	assert_kcv(fx_hsm, "mk-1", k1);

	/* h2 replaces the key: fx_hsm's cached handle is now stale and must
	 * be looked up again rather than fail. */
	cr_assert_eq(hsm_destroy_key(h2, "mk-1"), 0);
	ref_random(k2, sizeof(k2));
	cr_assert_eq(hsm_import_key(h2, "mk-1", k2), 0);
	assert_kcv(fx_hsm, "mk-1", k2);

	/* Destroyed behind fx_hsm's back: not found, not a device error. */
	cr_assert_eq(hsm_destroy_key(h2, "mk-1"), 0);
	uint8_t kcv[8];
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv), -ENOENT);
}

#define THREADS 8
#define ROUNDS 40

static void *worker(void *arg)
{
	uint8_t pt[64], ct[80], out[64], iv[12], kcv[8];
	long id = (long)arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		memset(pt, (int)(id * ROUNDS + i), sizeof(pt));
		memset(iv, (int)id, sizeof(iv));
		iv[0] = (uint8_t)i;
		if (hsm_gcm_seal(fx_hsm, "mk-1", iv, iv, sizeof(iv), pt,
				 sizeof(pt), ct) ||
		    hsm_gcm_open(fx_hsm, "mk-1", iv, iv, sizeof(iv), ct,
				 sizeof(ct), out) ||
		    memcmp(out, pt, sizeof(pt)) || hsm_kcv(fx_hsm, "mk-1", kcv) ||
		    hsm_find_key(fx_hsm, "mk-1"))
			return (void *)1;
	}
	return NULL;
}

Test(hsm_tokens, one_handle_many_threads)
{
	pthread_t t[THREADS];
	uint8_t key[32];
	void *res;
	long i;

	ref_random(key, sizeof(key));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", key), 0);
	for (i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)i), 0);
	for (i = 0; i < THREADS; i++) {
		cr_assert_eq(pthread_join(t[i], &res), 0);
		cr_expect_null(res, "thread %ld failed", i);
	}
	assert_kcv(fx_hsm, "mk-1", key);
}

static const char *errname(int ret)
{
	switch (ret) {
	case 0: return "0";
	case -ENODEV: return "-ENODEV";
	case -EIO: return "-EIO";
	case -ENOENT: return "-ENOENT";
	default: return "other";
	}
}

Test(hsm_tokens, token_storage_removed_while_open)
{
	uint8_t key[32], kcv[8], pt[16] = { 0 }, ct[32], out[16], iv[12] = { 0 },
		rnd[8];
	int ret;

	ref_random(key, sizeof(key));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", key), 0);
	assert_kcv(fx_hsm, "mk-1", key);
	cr_assert_eq(hsm_gcm_seal(fx_hsm, "mk-1", iv, NULL, 0, pt, sizeof(pt),
				  ct), 0);

	cr_assert_eq(test_softhsm_remove_tokens(&fx_softhsm), 0);

	ret = hsm_kcv(fx_hsm, "mk-1", kcv);
	cr_log_info("token removed: hsm_kcv -> %s", errname(ret));
	cr_expect(ret == -ENODEV || ret == -EIO, "hsm_kcv: %d", ret);
	ret = hsm_gcm_seal(fx_hsm, "mk-1", iv, NULL, 0, pt, sizeof(pt), ct);
	cr_log_info("token removed: hsm_gcm_seal -> %s", errname(ret));
	cr_expect(ret == -ENODEV || ret == -EIO, "hsm_gcm_seal: %d", ret);
	ret = hsm_gcm_open(fx_hsm, "mk-1", iv, NULL, 0, ct, sizeof(ct), out);
	cr_log_info("token removed: hsm_gcm_open -> %s", errname(ret));
	cr_expect(ret == -ENODEV || ret == -EIO, "hsm_gcm_open: %d", ret);
	ret = hsm_find_key(fx_hsm, "mk-1");
	cr_log_info("token removed: hsm_find_key -> %s", errname(ret));
	cr_expect(ret == -ENODEV || ret == -EIO, "hsm_find_key: %d", ret);
	ret = hsm_import_key(fx_hsm, "mk-2", key);
	cr_log_info("token removed: hsm_import_key -> %s", errname(ret));
	cr_expect(ret == -ENODEV || ret == -EIO, "hsm_import_key: %d", ret);
	ret = hsm_random(fx_hsm, rnd, sizeof(rnd));
	cr_log_info("token removed: hsm_random -> %s", errname(ret));
	/* hsm_close in .fini must not crash either. */
}

/* Pins down what coffre/hsm.h warns about: login state is per process, so
 * a second handle on a token this process is logged in to is not a PIN
 * check.  If this ever fails, the token started checking again and the
 * warning in hsm.h can go. */
Test(hsm_tokens, second_login_in_one_process_is_not_a_pin_check)
{
	char err[256] = "";
	int ret;

	ret = hsm_open(fx_uri, "0000", 4, &h2, err, sizeof(err));
	cr_log_info("second hsm_open with a wrong PIN while logged in: %d", ret);
	cr_assert_eq(ret, 0, "%s", err);
	/* With no other handle open, the PIN is checked. */
	hsm_close(h2);
	h2 = NULL;
	hsm_close(fx_hsm);
	fx_hsm = NULL;
	cr_assert_eq(hsm_open(fx_uri, "0000", 4, &h2, err, sizeof(err)),
		     -EACCES);
}

Test(hsm_state, one_name_per_state)
{
	cr_assert_str_eq(hsm_state_name(HSM_UP), "up");
	cr_assert_str_eq(hsm_state_name(HSM_DOWN), "down");
	cr_assert_str_eq(hsm_state_name(HSM_NO_KEY), "no-key");
	cr_assert_str_eq(hsm_state_name(HSM_PIN_REJECTED), "pin-rejected");
	cr_assert_str_eq(hsm_state_name((enum hsm_state)99), "?");
}
