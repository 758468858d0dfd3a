/*
 * Random bytes and 96-bit GCM nonces.
 *
 * random_bytes() reads getrandom(2) directly (blocking until the kernel pool
 * is seeded, retrying EINTR and short reads).  Nonces come from a per-thread
 * pool of 341 nonces refilled by one getrandom() call, because a syscall per
 * nonce costs more than sealing a 4 KiB segment.  Random 96-bit nonces are
 * the NIST SP 800-38D §8.2.2 construction; the 2^32-per-key budget is the
 * caller's concern (per-file keys).
 *
 * A forked child inherits its parent's pool and would replay the parent's
 * next nonces under the same keys, so a pthread_atfork() child handler bumps
 * a generation counter and any pool filled in an older generation is thrown
 * away before use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"

#define POOL_NONCES 341
#define POOL_BYTES (POOL_NONCES * COFFRE_NONCE_LEN)

struct nonce_pool {
	uint8_t buf[POOL_BYTES];
	size_t used;		/* bytes already handed out */
	unsigned int gen;	/* fork generation the pool was filled in */
};

static _Thread_local struct nonce_pool pool = { .used = POOL_BYTES };
/* Starts at 1 so a never-filled pool (gen 0) is always stale. */
static atomic_uint fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void nonce_after_fork_child(void)
{
	atomic_fetch_add(&fork_generation, 1);
}

static void nonce_register_atfork(void)
{
	/* Cannot fail in glibc except on ENOMEM; then every draw refills. */
	if (pthread_atfork(NULL, NULL, nonce_after_fork_child) != 0)
		atomic_store(&fork_generation, 0);
}

int random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	ssize_t got;

	if (buf == NULL && n != 0)
		return -EINVAL;
	while (n > 0) {
		got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Return: 0, or -errno from getrandom() with the pool left empty. */
static int pool_refill(unsigned int gen)
{
	int err;

	err = random_bytes(pool.buf, sizeof(pool.buf));
	if (err) {
		pool.used = POOL_BYTES;
		return err;
	}
	pool.used = 0;
	pool.gen = gen;
	return 0;
}

int nonce_fill(uint8_t nonce[COFFRE_NONCE_LEN])
{
	unsigned int gen;
	int err;

	if (nonce == NULL)
		return -EINVAL;
	pthread_once(&atfork_once, nonce_register_atfork);
	gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
	/* gen 0 means the fork handler could not be registered: never reuse. */
	if (pool.used >= POOL_BYTES || pool.gen != gen || gen == 0) {
		err = pool_refill(gen);
		if (err)
			return err;
	}
	memcpy(nonce, pool.buf + pool.used, COFFRE_NONCE_LEN);
	/* A drawn nonce stays nowhere but in the caller's buffer. */
	OPENSSL_cleanse(pool.buf + pool.used, COFFRE_NONCE_LEN);
	pool.used += COFFRE_NONCE_LEN;
	return 0;
}
