/*
 * Test helper: a SoftHSM2 configuration and token directory of the test's
 * own under a fresh mkdtemp() directory, tokens initialised with
 * softhsm2-util, and removal of it all.  The C twin of tests/softhsm.sh.
 */
#ifndef COFFRE_TEST_SOFTHSM_TOKEN_H
#define COFFRE_TEST_SOFTHSM_TOKEN_H

#include <limits.h>

/* The SoftHSM2 library as Debian installs it, for module-path= URIs. */
#define TEST_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TEST_PIN "1234"
#define TEST_SO_PIN "12345678"

struct test_softhsm {
	char dir[PATH_MAX];	/* the mkdtemp() directory */
	char tokens[PATH_MAX];	/* directories.tokendir */
	char conf[PATH_MAX];	/* softhsm2.conf, exported as SOFTHSM2_CONF */
};

/* Make the directory and config, setenv SOFTHSM2_CONF.  Return: 0 or -errno. */
int test_softhsm_setup(struct test_softhsm *t);
/* Initialise the first free slot as a token LABEL.  Return: 0 or -errno. */
int test_softhsm_init_token(const struct test_softhsm *t, const char *label,
			    const char *pin, const char *so_pin);
/* Remove every token directory under tokendir (the token "vanishes").
 * Return: 0 or -errno. */
int test_softhsm_remove_tokens(const struct test_softhsm *t);
/* rm -rf the whole directory; safe to call twice or after a failed setup. */
void test_softhsm_teardown(struct test_softhsm *t);

#endif
