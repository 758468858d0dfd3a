/*
 * Unit tests for secmem.c.  Criterion runs each test in its own process, so
 * each may set up the secure heap afresh.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"
#include "vectors.h"

Test(secmem, init_locks_heap_and_drops_dumpability)
{
	uint8_t *p;
	size_t used;

	cr_assert_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	cr_assert_eq(secmem_init(1 << 16), 0);
	cr_expect(CRYPTO_secure_malloc_initialized());
	cr_expect_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	cr_expect_eq(secmem_init(1 << 16), -EALREADY);

	used = CRYPTO_secure_used();
	p = secmem_alloc(64);
	cr_assert_not_null(p);
	cr_expect(CRYPTO_secure_allocated(p), "not from the secure heap");
	cr_expect_gt(CRYPTO_secure_used(), used);
	cr_expect(all_zero(p, 64));
	memset(p, 0x5a, 64);
	secmem_free(p, 64);
	cr_expect_eq(CRYPTO_secure_used(), used);
	secmem_free(NULL, 0);
}

Test(secmem, init_rejects_bad_sizes)
{
	cr_expect_eq(secmem_init(0), -EINVAL);
	cr_expect_eq(secmem_init(3000), -EINVAL);
	cr_expect_eq(secmem_init((1 << 16) + 1), -EINVAL);
	cr_expect(!CRYPTO_secure_malloc_initialized());
}

Test(secmem, works_without_init)
{
	uint8_t *p = secmem_alloc(100);

	cr_assert_not_null(p);
	cr_expect(all_zero(p, 100));
	memset(p, 0xff, 100);
	secmem_wipe(p, 100);
	cr_expect(all_zero(p, 100));
	secmem_free(p, 100);
	cr_expect_null(secmem_alloc(0));
	secmem_wipe(NULL, 10);
}
