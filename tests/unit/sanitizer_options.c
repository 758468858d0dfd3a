/* Sanitizer defaults compiled into every criterion unit test (unit_dep's
 * sources), so that a leak fails the test binary however it is run.
 *
 * Criterion 2.4 runs each test in its own worker process (boxfort: fork,
 * then re-exec of the test binary as "boxfort-worker").  LeakSanitizer
 * checks a worker when it exits, after the test has reported its end, and
 * the runner ignores the exit status of a worker whose test has ended: a
 * leak found there, exitcode 23 and all, left the test and the binary
 * passing.  A worker killed by a signal after its end is another matter:
 * the runner warns that the test "crashed during its setup or teardown" and,
 * having warned, exits non-zero.  So sanitizers abort rather than exit.
 * ASAN_OPTIONS and LSAN_OPTIONS still override or add to these.
 *
 * Without ASan nothing calls these; they are plain unused functions. */
#include <errno.h>
#include <string.h>

const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void)
{
	return "abort_on_error=1";
}

/* The runner process runs no test code (tests, their .init and .fini all
 * run in workers), only criterion, and criterion leaks there: boxfort's
 * timeout requests (bxfi_push_timeout, 48 bytes, with .timeout tests).
 * libcriterion has no symbols, so only its module name can match, and a
 * suppression matches any frame of a stack: in a worker every allocation a
 * test makes has libcriterion frames below it.  Hence the suppression in
 * the runner only; in workers nothing is suppressed. */
const char *__lsan_default_suppressions(void)
{
	if (strcmp(program_invocation_short_name, "boxfort-worker") == 0)
		return "";
	return "leak:libcriterion.so\n";
}
