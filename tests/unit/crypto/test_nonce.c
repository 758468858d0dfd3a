/*
 * Unit tests for nonce.c: no repeated nonce over 100 000 draws (which spans
 * ~290 pool refills), a forked child never replays the parent's pooled
 * nonces, and random_bytes() fills large and empty requests.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffre/crypto.h"
#include "vectors.h"

#define DRAWS 100000

static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, COFFRE_NONCE_LEN);
}

Test(nonce, unique_over_100k_draws)
{
	uint8_t(*n)[COFFRE_NONCE_LEN] = malloc(DRAWS * COFFRE_NONCE_LEN);

	cr_assert_not_null(n);
	for (size_t i = 0; i < DRAWS; i++)
		cr_assert_eq(nonce_fill(n[i]), 0);
	qsort(n, DRAWS, COFFRE_NONCE_LEN, cmp_nonce);
	for (size_t i = 1; i < DRAWS; i++)
		cr_assert_neq(memcmp(n[i - 1], n[i], COFFRE_NONCE_LEN), 0,
			      "repeated nonce at %zu", i);
	cr_expect(!all_zero(n[DRAWS - 1], COFFRE_NONCE_LEN));
	free(n);
}

static void fork_and_compare(void)
{
	uint8_t parent_next[COFFRE_NONCE_LEN], child_first[COFFRE_NONCE_LEN];
	int fds[2], status;
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		uint8_t first[COFFRE_NONCE_LEN];

		close(fds[0]);
		if (nonce_fill(first) != 0 ||
		    write(fds[1], first, sizeof(first)) != sizeof(first))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], child_first, sizeof(child_first)),
		     (ssize_t)sizeof(child_first));
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(nonce_fill(parent_next), 0);
	cr_expect_neq(memcmp(child_first, parent_next, COFFRE_NONCE_LEN), 0,
		      "child replayed the parent's next nonce");
}

Test(nonce, fork_discards_pool)
{
	uint8_t n[COFFRE_NONCE_LEN];

	/* Fill the pool, then fork at several positions within it. */
	cr_assert_eq(nonce_fill(n), 0);
	fork_and_compare();
	for (int i = 0; i < 100; i++)
		cr_assert_eq(nonce_fill(n), 0);
	fork_and_compare();
	fork_and_compare();
}

Test(nonce, random_bytes_sizes)
{
	size_t len = 1 << 20;
	uint8_t *a = calloc(1, len), *b = calloc(1, len);
	size_t same = 0;

	cr_assert(a && b);
	cr_assert_eq(random_bytes(a, 0), 0);
	cr_expect(all_zero(a, len));
	cr_assert_eq(random_bytes(a, len), 0);
	cr_assert_eq(random_bytes(b, len), 0);
	cr_expect(!all_zero(a + len - 64, 64), "tail not filled");
	for (size_t i = 0; i < len; i++)
		same += a[i] == b[i];
	/* ~4096 expected; 6000 is > 30 standard deviations away. */
	cr_expect_lt(same, 6000, "%zu equal bytes", same);
	cr_expect_eq(random_bytes(NULL, 1), -EINVAL);
	cr_expect_eq(nonce_fill(NULL), -EINVAL);
	free(a);
	free(b);
}
