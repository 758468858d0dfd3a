/*
 * Unit tests for src/store/par.c: runs shared with helper threads do every
 * item exactly once, from one caller or from several at once; short runs
 * and runs with no helper started stay on the caller; errors from either
 * side come back; a helper really takes part.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "store/par.h"

#define MAX_ITEMS 300

struct run {
	unsigned char done[MAX_ITEMS];    /* times each item was done */
	pthread_t caller;
	size_t calls, by_others, fail_at;
	bool wait_for_other;              /* item 0 waits for another thread */
};

static int count_items(void *ctx, size_t lo, size_t hi)
{
	struct run *r = ctx;
	bool other = !pthread_equal(pthread_self(), r->caller);

	__atomic_add_fetch(&r->calls, 1, __ATOMIC_SEQ_CST);
	if (other)
		__atomic_add_fetch(&r->by_others, hi - lo, __ATOMIC_SEQ_CST);
	if (lo == 0 && r->wait_for_other) {
		time_t end = time(NULL) + 10;

		while (!__atomic_load_n(&r->by_others, __ATOMIC_SEQ_CST) &&
		       time(NULL) < end)
			sched_yield();
	}
	for (size_t k = lo; k < hi; k++) {
		__atomic_add_fetch(&r->done[k], 1, __ATOMIC_SEQ_CST);
		if (k == r->fail_at)
			return -EIO;
	}
	return 0;
}

static void run_and_check(size_t n, size_t min_split)
{
	struct run r;

	memset(&r, 0, sizeof(r));
	r.caller = pthread_self();
	r.fail_at = SIZE_MAX;
	cr_assert_eq(par_run(count_items, &r, n, min_split), 0);
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(r.done[k], 1, "n %zu item %zu done %u times", n, k, r.done[k]);
	for (size_t k = n; k < MAX_ITEMS; k++)
		cr_assert_eq(r.done[k], 0);
	if (n < min_split)
		cr_assert(r.calls == 1 && r.by_others == 0, "short run split");
}

Test(par, no_helpers_means_one_call_here)
{
	struct run r;

	memset(&r, 0, sizeof(r));
	r.caller = pthread_self();
	r.fail_at = SIZE_MAX;
	cr_assert_eq(par_run(count_items, &r, 200, 4), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.by_others, 0);
	for (size_t k = 0; k < 200; k++)
		cr_assert_eq(r.done[k], 1);
}

Test(par, every_item_once)
{
	cr_assert_eq(par_init(2), 0);
	for (size_t n = 0; n <= MAX_ITEMS; n += 7)
		for (int rep = 0; rep < 20; rep++)
			run_and_check(n, 4);
	run_and_check(3, 4);
	run_and_check(64, 65);
}

Test(par, a_helper_takes_part)
{
	struct run r;

	cr_assert_eq(par_init(1), 0);
	memset(&r, 0, sizeof(r));
	r.caller = pthread_self();
	r.fail_at = SIZE_MAX;
	r.wait_for_other = true;
	cr_assert_eq(par_run(count_items, &r, 64, 4), 0);
	cr_assert_gt(r.by_others, 0, "the helper did nothing in 10 s");
	for (size_t k = 0; k < 64; k++)
		cr_assert_eq(r.done[k], 1);
}

Test(par, errors_come_back_from_either_side)
{
	cr_assert_eq(par_init(1), 0);
	for (size_t at = 0; at < 64; at += 9) {
		struct run r;

		memset(&r, 0, sizeof(r));
		r.caller = pthread_self();
		r.fail_at = at;
		r.wait_for_other = at > 32;     /* make the helper reach it */
		cr_assert_eq(par_run(count_items, &r, 64, 4), -EIO, "fail at %zu", at);
		cr_assert_eq(r.done[at], 1);
	}
}

static void *caller_thread(void *arg)
{
	(void)arg;
	for (int rep = 0; rep < 300; rep++)
		run_and_check((size_t)(rep * 37) % MAX_ITEMS + 1, 4);
	return NULL;
}

Test(par, several_callers_at_once, .timeout = 120)
{
	pthread_t t[6];

	cr_assert_eq(par_init(2), 0);
	for (int k = 0; k < 6; k++)
		cr_assert_eq(pthread_create(&t[k], NULL, caller_thread, NULL), 0);
	for (int k = 0; k < 6; k++)
		cr_assert_eq(pthread_join(t[k], NULL), 0);
}

Test(par, too_many_helpers)
{
	cr_assert_eq(par_init(PAR_MAX_HELPERS + 1), -EINVAL);
	cr_assert_eq(par_init(PAR_MAX_HELPERS), 0);
	cr_assert_eq(par_init(1), 0);   /* never fewer */
	run_and_check(MAX_ITEMS, 4);
}
