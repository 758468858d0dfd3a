/*
 * hsm_open: finding a token by RFC 7512 URI through p11-kit (registered
 * modules, module-path, module-name), the URIs coffre refuses, and login
 * failures.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fixture.h"

static struct hsm *h;

static void store_with_token(void)
{
	fx_store_only();
	cr_assert_eq(test_softhsm_init_token(&fx_softhsm, TEST_TOKEN, TEST_PIN,
					     TEST_SO_PIN), 0);
}

static void fini(void)
{
	hsm_close(h);
	h = NULL;
	fx_teardown();
}

static int open_uri(const char *uri, const char *pin, char *err, size_t errlen)
{
	return hsm_open(uri, pin, strlen(pin), &h, err, errlen);
}

/* The handle works: the token answers and gives random bytes. */
static void assert_usable(void)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	cr_assert_str_eq(hsm_label(h), TEST_TOKEN);
	cr_assert_eq(hsm_random(h, a, sizeof(a)), 0);
	cr_assert_eq(hsm_random(h, b, sizeof(b)), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
}

TestSuite(hsm_open, .init = store_with_token, .fini = fini, .timeout = 60);

Test(hsm_open, by_label_through_registered_modules)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN, TEST_PIN, err,
			      sizeof(err)), 0, "%s", err);
	assert_usable();
}

Test(hsm_open, by_module_path)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN "?module-path="
			      TEST_SOFTHSM_MODULE, TEST_PIN, err, sizeof(err)),
		     0, "%s", err);
	assert_usable();
}

Test(hsm_open, by_module_name)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN
			      "?module-name=softhsm2", TEST_PIN, err,
			      sizeof(err)), 0, "%s", err);
	assert_usable();
}

Test(hsm_open, by_model_and_label_percent_encoded)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:model=SoftHSM%20v2;token=coffre%2dtest",
			      TEST_PIN, err, sizeof(err)), 0, "%s", err);
	assert_usable();
}

Test(hsm_open, wrong_pin_is_eacces_and_names_token)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN, "4321", err,
			      sizeof(err)), -EACCES);
	cr_assert_null(h);
	cr_assert_not_null(strstr(err, TEST_TOKEN), "message: %s", err);
	cr_assert_null(strchr(err, '\n'));
}

Test(hsm_open, empty_pin_is_eacces)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN, "", err,
			      sizeof(err)), -EACCES, "%s", err);
}

Test(hsm_open, unknown_token_is_enodev)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=nosuch", TEST_PIN, err,
			      sizeof(err)), -ENODEV);
	cr_assert_null(h);
	cr_assert_neq(err[0], '\0');
	cr_assert_eq(open_uri("pkcs11:token=nosuch?module-path="
			      TEST_SOFTHSM_MODULE, TEST_PIN, err, sizeof(err)),
		     -ENODEV);
}

Test(hsm_open, unknown_module_is_enodev)
{
	char err[256] = "";

	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN
			      "?module-path=/nonexistent/libnothing.so",
			      TEST_PIN, err, sizeof(err)), -ENODEV);
	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN
			      "?module-name=nosuchmodule", TEST_PIN, err,
			      sizeof(err)), -ENODEV);
}

Test(hsm_open, ambiguous_uri_is_einval)
{
	char err[256] = "";

	cr_assert_eq(test_softhsm_init_token(&fx_softhsm, "coffre-second",
					     TEST_PIN, TEST_SO_PIN), 0);
	cr_assert_eq(open_uri("pkcs11:manufacturer=SoftHSM%20project",
			      TEST_PIN, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "ambiguous"), "message: %s", err);
	/* ...while naming one of them still works. */
	cr_assert_eq(open_uri("pkcs11:manufacturer=SoftHSM%20project;"
			      "token=coffre-second", TEST_PIN, err,
			      sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(hsm_label(h), "coffre-second");
}

/* Every URI coffre must refuse, and the word the message must contain. */
static const struct {
	const char *uri, *why;
} bad_uris[] = {
	{ "pkcs11:token=" TEST_TOKEN "?pin-value=1234", "PIN" },
	{ "pkcs11:token=" TEST_TOKEN "?pin-source=file:/etc/pin", "PIN" },
	{ "pkcs11:slot-id=0", "slot" },
	{ "pkcs11:token=" TEST_TOKEN ";slot-id=1", "slot" },
	{ "pkcs11:token=" TEST_TOKEN ";object=mk-1", "object" },
	{ "pkcs11:token=" TEST_TOKEN ";type=secret-key", "object" },
	{ "pkcs11:token=" TEST_TOKEN ";tokn=x", "unknown" },
	{ "pkcs11:", "no token" },
	{ "pkcs11:library-manufacturer=SoftHSM", "no token" },
	{ "pkcs11:slot-description=x", "no token" },
	{ "http://example.com/", "URI" },
	{ "pkcs11:token=%zz", "URI" },
	{ "", "URI" },
	{ "pkcs11:token=" TEST_TOKEN "?module-path=libsofthsm2.so", "absolute" },
	{ "pkcs11:token=" TEST_TOKEN "?module-path=" TEST_SOFTHSM_MODULE
	  "&module-name=softhsm2", "both" },
};

Test(hsm_open, refused_uris_are_einval)
{
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(open_uri(bad_uris[i].uri, TEST_PIN, err,
				      sizeof(err)), -EINVAL, "%s", bad_uris[i].uri);
		cr_expect_null(h, "%s", bad_uris[i].uri);
		cr_expect_not_null(strstr(err, bad_uris[i].why),
				   "%s: message \"%s\"", bad_uris[i].uri, err);
		hsm_close(h);
		h = NULL;
	}
}

Test(hsm_open, null_uri_is_einval)
{
	char err[64];

	cr_assert_eq(hsm_open(NULL, TEST_PIN, 4, &h, err, sizeof(err)),
		     -EINVAL);
}

Test(hsm_open, tiny_error_buffer_is_truncated_not_overrun)
{
	char err[8];

	memset(err, 'x', sizeof(err));
	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN, "0000", err,
			      sizeof(err)), -EACCES);
	cr_assert_eq(err[sizeof(err) - 1], '\0');
	cr_assert_eq(open_uri("pkcs11:token=" TEST_TOKEN, "0000", NULL, 0),
		     -EACCES);
}
