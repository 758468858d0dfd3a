/*
 * par.c — a run of segment seals or opens shared between the calling
 * thread and an idle helper thread (DESIGN §5: large requests may be split
 * across threads above a threshold).
 *
 * Helpers are started by par_init and sleep until a caller hands one a
 * run.  Caller and helper then take chunks of the run from one atomic
 * counter, so a helper that is slow to get a CPU simply does less, and the
 * caller never waits for a chunk nobody has started.  A caller that finds
 * no helper idle (or none started) does the whole run itself.
 *
 * Safety: the helper raises `active` before it looks at the counter and
 * reads the run's function and context only after winning a chunk; the
 * caller, once the counter is exhausted, waits for `active` to drop before
 * returning (and before the slot can carry another run).  All of these
 * are sequentially consistent atomics.
 *
 * Relies on pthreads only; what a run does is the caller's function.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "par.h"

#define SC __ATOMIC_SEQ_CST

struct helper {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	unsigned long gen;            /* under lock: bumped for every run */
	bool busy;                    /* a caller owns the slot */
	bool active;                  /* the helper is taking chunks */
	uint64_t run;                 /* n << 32 | next item */
	size_t chunk;                 /* items per take */
	par_fn fn;
	void *ctx;
	int err;                      /* the helper's first error */
};

static struct helper helpers[PAR_MAX_HELPERS];
static size_t n_helpers;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

/* Claim the next chunk of h's run into [*lo, *hi); false when none is left. */
static bool take(struct helper *h, size_t *lo, size_t *hi)
{
	uint64_t v = __atomic_load_n(&h->run, SC);

	for (;;) {
		uint64_t n = v >> 32, k = v & 0xffffffffu, end;

		if (k >= n)
			return false;
		end = k + h->chunk < n ? k + h->chunk : n;
		if (__atomic_compare_exchange_n(&h->run, &v, n << 32 | end,
						false, SC, SC)) {
			*lo = (size_t)k;
			*hi = (size_t)end;
			return true;
		}
	}
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	unsigned long seen = 0;
	size_t lo, hi;

	for (;;) {
		pthread_mutex_lock(&h->lock);
		while (h->gen == seen)
			pthread_cond_wait(&h->wake, &h->lock);
		seen = h->gen;
		pthread_mutex_unlock(&h->lock);

		__atomic_store_n(&h->active, true, SC);
		while (take(h, &lo, &hi)) {
			int e = h->fn(h->ctx, lo, hi), zero = 0;

			if (e)
				__atomic_compare_exchange_n(&h->err, &zero, e,
							    false, SC, SC);
		}
		__atomic_store_n(&h->active, false, SC);
	}
	return NULL;
}

int par_init(unsigned count)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err = 0;

	if (count > PAR_MAX_HELPERS)
		return -EINVAL;
	if (pthread_attr_init(&attr) != 0)
		return -ENOMEM;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Helpers take no signals: those are the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&start_lock);
	while (n_helpers < count) {
		struct helper *h = &helpers[n_helpers];
		pthread_t t;

		pthread_mutex_init(&h->lock, NULL);
		pthread_cond_init(&h->wake, NULL);
		err = -pthread_create(&t, &attr, helper_main, h);
		if (err) {
			pthread_cond_destroy(&h->wake);
			pthread_mutex_destroy(&h->lock);
			break;
		}
		/* Published only now: callers look at n_helpers first. */
		__atomic_store_n(&n_helpers, n_helpers + 1, SC);
	}
	pthread_mutex_unlock(&start_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

/* An idle helper, now owned by the caller, or NULL. */
static struct helper *claim(void)
{
	size_t count = __atomic_load_n(&n_helpers, SC);

	for (size_t k = 0; k < count; k++) {
		struct helper *h = &helpers[k];

		if (!__atomic_load_n(&h->busy, __ATOMIC_RELAXED) &&
		    !__atomic_exchange_n(&h->busy, true, SC))
			return h;
	}
	return NULL;
}

int par_run(par_fn fn, void *ctx, size_t n, size_t min_split)
{
	struct helper *h;
	size_t lo, hi;
	int err = 0;

	if (n < min_split || n < 2 || n > UINT32_MAX)
		return fn(ctx, 0, n);
	h = claim();
	if (h == NULL)
		return fn(ctx, 0, n);
	h->fn = fn;
	h->ctx = ctx;
	h->chunk = n >= 32 ? n / 16 : 2;
	__atomic_store_n(&h->err, 0, SC);
	__atomic_store_n(&h->run, (uint64_t)n << 32, SC);
	pthread_mutex_lock(&h->lock);
	h->gen++;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);

	while (take(h, &lo, &hi)) {
		int e = fn(ctx, lo, hi);

		if (e && !err)
			err = e;
	}
	while (__atomic_load_n(&h->active, SC))
		sched_yield();
	if (!err)
		err = __atomic_load_n(&h->err, SC);
	__atomic_store_n(&h->busy, false, SC);
	return err;
}
