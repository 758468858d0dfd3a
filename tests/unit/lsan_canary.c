/* A test that leaks on purpose, registered (ASan builds only) as one that
 * must fail: if a leak under a criterion test stops failing the binary
 * (criterion's handling of workers, the options or the suppressions in
 * sanitizer_options.c), this canary passes and the run fails. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

Test(lsan_canary, leaks)
{
	/* Several, so a stale register holding the last one cannot hide all. */
	for (int i = 0; i < 8; i++) {
		sink = malloc(64);
		cr_assert_not_null(sink);
		memset(sink, 0xa5, 64);
	}
	sink = NULL;
}
