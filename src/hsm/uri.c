/*
 * Token URIs (RFC 7512, "The PKCS #11 URI Scheme"), parsed by p11-kit and
 * then narrowed to what coffre accepts:
 *
 *  - a token is named by its label, serial, manufacturer or model; at least
 *    one of them must be given.  A slot-id is refused: slot numbers change
 *    when tokens are initialised, so they cannot name a key store;
 *  - object attributes (object=, id=, type=) are refused: the URI names a
 *    token, the key labels come from the volume;
 *  - pin-value and pin-source are refused: PINs come from pin files only,
 *    never from a string that ends up in configs, logs or argv;
 *  - unknown path attributes are refused (a typo must not widen the match);
 *  - module-path / module-name are kept for the loader.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hsm_private.h"

static int uri_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int uri_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A URI field is set when p11-kit wrote a (blank padded) value into it. */
static bool field_set(const unsigned char *f)
{
	return f[0] != 0;
}

int hsm_uri_parse(const char *text, struct hsm_uri *out, char *err,
		  size_t errlen)
{
	CK_TOKEN_INFO *tok;
	CK_ULONG nattrs = 0;
	int ret, err_ret;

	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		return uri_fail(err, errlen, "empty PKCS#11 URI");

	out->uri = p11_kit_uri_new();
	if (!out->uri)
		return -ENOMEM;

	ret = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, out->uri);
	if (ret != P11_KIT_URI_OK) {
		err_ret = uri_fail(err, errlen, "bad PKCS#11 URI: %s",
				   p11_kit_uri_message(ret));
		goto fail;
	}
	if (p11_kit_uri_get_pin_value(out->uri) ||
	    p11_kit_uri_get_pin_source(out->uri)) {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI carries a PIN: PINs come from pin files only");
		goto fail;
	}
	if (p11_kit_uri_any_unrecognized(out->uri)) {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI has an unknown attribute");
		goto fail;
	}
	if (p11_kit_uri_get_slot_id(out->uri) != (CK_SLOT_ID)-1) {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI names a slot-id: name the token by label or serial");
		goto fail;
	}
	p11_kit_uri_get_attributes(out->uri, &nattrs);
	if (nattrs) {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI names an object: it must name a token only");
		goto fail;
	}
	tok = p11_kit_uri_get_token_info(out->uri);
	if (!field_set(tok->label) && !field_set(tok->serialNumber) &&
	    !field_set(tok->manufacturerID) && !field_set(tok->model)) {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI names no token (give token= or serial=)");
		goto fail;
	}
	out->module_path = p11_kit_uri_get_module_path(out->uri);
	out->module_name = p11_kit_uri_get_module_name(out->uri);
	if (out->module_path && out->module_name) {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI has both module-path and module-name");
		goto fail;
	}
	if (out->module_path && out->module_path[0] != '/') {
		err_ret = uri_fail(err, errlen,
				   "PKCS#11 URI module-path must be absolute");
		goto fail;
	}
	return 0;

fail:
	hsm_uri_free(out);
	return err_ret;
}

void hsm_uri_free(struct hsm_uri *u)
{
	if (u->uri)
		p11_kit_uri_free(u->uri);
	memset(u, 0, sizeof(*u));
}
