/*
 * Secret memory: a thin layer over OpenSSL's secure heap
 * (CRYPTO_secure_malloc_init), which is one mmap()ed arena that is mlock()ed,
 * fenced by PROT_NONE guard pages and marked MADV_DONTDUMP, and whose
 * allocations are wiped when freed.  secmem_init() also makes the process
 * non-dumpable (prctl PR_SET_DUMPABLE 0) so no core file or ptrace attach by
 * another user exposes keys.
 *
 * Without secmem_init() OpenSSL's secure allocator falls back to plain
 * malloc(): secmem_alloc() still returns zeroed memory that secmem_free()
 * wipes, which keeps the unit tests simple; the daemon always calls
 * secmem_init() first.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/prctl.h>

#include <openssl/crypto.h>

#include "coffre/crypto.h"

/* Smallest block the secure heap hands out: enough for small keys while
 * keeping the free-list bitmap small. */
#define SECMEM_MIN_BLOCK 32

static bool is_power_of_two(size_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/*
 * Create the secure heap (size bytes, a power of two) and drop dumpability.
 * Refuses (-EPERM) a heap OpenSSL could create but not lock or fence, since
 * then keys could reach swap.  Call once, before starting threads.
 * Return: 0, -EINVAL, -EALREADY, -ENOMEM, -EPERM or -errno from prctl.
 */
int secmem_init(size_t size)
{
	int ret;

	if (!is_power_of_two(size) || size < SECMEM_MIN_BLOCK)
		return -EINVAL;
	if (CRYPTO_secure_malloc_initialized())
		return -EALREADY;

	ret = CRYPTO_secure_malloc_init(size, SECMEM_MIN_BLOCK);
	if (ret == 0)
		return -ENOMEM;
	if (ret == 2) {
		/* Created, but mlock/mprotect/madvise failed. */
		CRYPTO_secure_malloc_done();
		return -EPERM;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return -errno;
	return 0;
}

void *secmem_alloc(size_t n)
{
	if (n == 0)
		return NULL;
	return OPENSSL_secure_zalloc(n);
}

void secmem_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_secure_clear_free(p, n);
}

void secmem_wipe(void *p, size_t n)
{
	if (p != NULL && n != 0)
		OPENSSL_cleanse(p, n);
}
