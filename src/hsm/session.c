/*
 * Finding one PKCS#11 token and logging in to it (PKCS #11 v2.40 base
 * specification: C_GetSlotList, C_GetTokenInfo, C_OpenSession, C_Login).
 *
 * Modules are loaded by p11-kit in "managed" mode: every hsm_open gets its
 * own view of a module, p11-kit reference-counts the real C_Initialize /
 * C_Finalize and closes only this handle's sessions, so two handles (even on
 * two tokens of one module) live side by side in one process.  The module
 * comes from the URI's module-path, else its module-name among p11-kit's
 * registered modules, else every registered module is searched.  Exactly
 * one initialised token must match the URI (by label, serial, manufacturer,
 * model; RFC 7512 matching done by p11-kit).
 *
 * The PIN is the caller's buffer, passed to C_Login once and never kept or
 * retried: a real HSM locks the user out after a few wrong PINs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm_private.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Copy a blank-padded PKCS#11 string into a C string without the padding. */
static void unpad(char *dst, const unsigned char *src, size_t n)
{
	while (n && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Where a matching token was found. */
struct token_match {
	CK_FUNCTION_LIST *module;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	unsigned count;
};

/* Look through one module's slots for initialised tokens matching the URI. */
static int search_module(CK_FUNCTION_LIST *m, P11KitUri *uri,
			 struct token_match *found)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG nslots = 0, i;
	CK_INFO minfo;
	CK_RV rv;
	int err = 0;

	rv = m->C_GetInfo(&minfo);
	if (rv != CKR_OK || !p11_kit_uri_match_module_info(uri, &minfo))
		goto out;
	rv = m->C_GetSlotList(CK_TRUE, NULL, &nslots);
	if (rv != CKR_OK || nslots == 0)
		goto out;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots) {
		err = -ENOMEM;
		goto out;
	}
	rv = m->C_GetSlotList(CK_TRUE, slots, &nslots);
	if (rv != CKR_OK)
		goto out;
	for (i = 0; i < nslots; i++) {
		CK_SLOT_INFO sinfo;
		CK_TOKEN_INFO tinfo;

		if (m->C_GetSlotInfo(slots[i], &sinfo) != CKR_OK ||
		    !p11_kit_uri_match_slot_info(uri, &sinfo))
			continue;
		if (m->C_GetTokenInfo(slots[i], &tinfo) != CKR_OK)
			continue;
		/* SoftHSM2 always offers one blank token; it is not a store. */
		if (!(tinfo.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (!p11_kit_uri_match_token_info(uri, &tinfo))
			continue;
		if (found->count++ == 0) {
			found->module = m;
			found->slot = slots[i];
			found->info = tinfo;
		}
	}
out:
	free(slots);
	return err;
}

/* Load and initialise the module(s) the URI asks for into h. */
static int load_modules(struct hsm *h, const struct hsm_uri *u, char *err,
			size_t errlen)
{
	CK_RV rv;

	if (u->module_path) {
		h->module = p11_kit_module_load(u->module_path, 0);
		if (!h->module) {
			set_err(err, errlen, "cannot load PKCS#11 module %s: %s",
				u->module_path, p11_kit_message());
			return -ENODEV;
		}
		h->module_alone = true;
	} else if (u->module_name) {
		h->modules = p11_kit_modules_load(NULL, 0);
		if (!h->modules) {
			set_err(err, errlen, "cannot load p11-kit modules: %s",
				p11_kit_message());
			return -ENODEV;
		}
		h->module = p11_kit_module_for_name(h->modules, u->module_name);
		if (!h->module) {
			set_err(err, errlen, "no p11-kit module named %s",
				u->module_name);
			return -ENODEV;
		}
	} else {
		h->modules = p11_kit_modules_load_and_initialize(0);
		if (!h->modules) {
			set_err(err, errlen, "cannot load p11-kit modules: %s",
				p11_kit_message());
			return -ENODEV;
		}
		h->modules_initialized = true;
		return 0;
	}
	rv = p11_kit_module_initialize(h->module);
	if (rv != CKR_OK) {
		set_err(err, errlen, "cannot initialise PKCS#11 module: %s",
			hsm_rv_name(rv));
		return -ENODEV;
	}
	h->module_initialized = true;
	return 0;
}

/* Find the one token; with every registered module loaded, finalise all
 * but the one holding it. */
static int find_token(struct hsm *h, const struct hsm_uri *u,
		      const char *text, char *err, size_t errlen)
{
	struct token_match found = { 0 };
	CK_FUNCTION_LIST **m;
	int ret;

	if (h->module_initialized) {
		ret = search_module(h->module, u->uri, &found);
	} else {
		ret = 0;
		for (m = h->modules; *m && !ret; m++)
			ret = search_module(*m, u->uri, &found);
	}
	if (ret)
		return ret;
	if (found.count == 0) {
		set_err(err, errlen, "no PKCS#11 token matches %s", text);
		return -ENODEV;
	}
	if (found.count > 1) {
		set_err(err, errlen, "ambiguous URI: %u tokens match %s",
			found.count, text);
		return -EINVAL;
	}
	if (!h->module_initialized) {
		for (m = h->modules; *m; m++)
			if (*m != found.module)
				p11_kit_module_finalize(*m);
		h->module = found.module;
		h->module_initialized = true;
		h->modules_initialized = false;
	}
	h->slot = found.slot;
	memcpy(h->serial, found.info.serialNumber, sizeof(h->serial));
	unpad(h->label, found.info.label, sizeof(found.info.label));
	return 0;
}

static int login(struct hsm *h, const char *pin, size_t pin_len, char *err,
		 size_t errlen)
{
	CK_RV rv;

	rv = h->module->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				      NULL, NULL, &h->session);
	if (rv != CKR_OK) {
		set_err(err, errlen, "token %s: cannot open a session: %s",
			h->label, hsm_rv_name(rv));
		return hsm_rv_errno(rv) == -ENOMEM ? -ENOMEM : -ENODEV;
	}
	h->session_open = true;

	rv = h->module->C_Login(h->session, CKU_USER,
				(CK_UTF8CHAR_PTR)(uintptr_t)pin, (CK_ULONG)pin_len);
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		return 0;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		set_err(err, errlen, "token %s: PIN incorrect", h->label);
		return -EACCES;
	case CKR_PIN_LOCKED:
		set_err(err, errlen, "token %s: PIN locked", h->label);
		return -EACCES;
	case CKR_PIN_EXPIRED:
		set_err(err, errlen, "token %s: PIN expired", h->label);
		return -EACCES;
	case CKR_USER_PIN_NOT_INITIALIZED:
		set_err(err, errlen, "token %s: user PIN not initialised",
			h->label);
		return -EACCES;
	default:
		set_err(err, errlen, "token %s: login failed: %s", h->label,
			hsm_rv_name(rv));
		return hsm_rv_errno(rv);
	}
}

int hsm_open(const char *uri, const char *pin, size_t pin_len,
	     struct hsm **out, char *err, size_t errlen)
{
	struct hsm_uri u = { 0 };
	struct hsm *h = NULL;
	int ret;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!pin && pin_len) {
		set_err(err, errlen, "no PIN");
		return -EINVAL;
	}
	ret = hsm_uri_parse(uri, &u, err, errlen);
	if (ret)
		return ret;

	h = calloc(1, sizeof(*h));
	if (!h) {
		ret = -ENOMEM;
		goto out;
	}
	ret = pthread_mutex_init(&h->lock, NULL);
	if (ret) {
		free(h);
		h = NULL;
		ret = -ret;
		goto out;
	}
	ret = load_modules(h, &u, err, errlen);
	if (ret)
		goto out;
	ret = find_token(h, &u, uri, err, errlen);
	if (ret)
		goto out;
	ret = login(h, pin, pin_len, err, errlen);
	if (ret)
		goto out;
	*out = h;
	h = NULL;
out:
	if (h)
		hsm_close(h);
	hsm_uri_free(&u);
	if (ret == -ENOMEM && err && errlen && !err[0])
		set_err(err, errlen, "out of memory");
	return ret;
}

int hsm_token_alive(struct hsm *h)
{
	CK_TOKEN_INFO info;
	CK_RV rv;

	rv = h->module->C_GetTokenInfo(h->slot, &info);
	if (rv != CKR_OK || !(info.flags & CKF_TOKEN_INITIALIZED) ||
	    memcmp(info.serialNumber, h->serial, sizeof(h->serial)) != 0)
		return -ENODEV;
	return 0;
}

void hsm_close(struct hsm *h)
{
	if (!h)
		return;
	/* No C_Logout: login state belongs to the whole process, and another
	 * handle may use the same token.  Closing our session (and, through
	 * p11-kit's managed finalize, every session of this handle) is ours
	 * to do; the token logs out when its last session closes. */
	if (h->session_open)
		h->module->C_CloseSession(h->session);
	if (h->module_initialized)
		p11_kit_module_finalize(h->module);
	if (h->modules_initialized)
		p11_kit_modules_finalize(h->modules);
	if (h->module_alone)
		p11_kit_module_release(h->module);
	if (h->modules)
		p11_kit_modules_release(h->modules);
	hsm_keys_forget_all(h);
	free(h->keys);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const char *hsm_label(const struct hsm *h)
{
	return h->label;
}

int hsm_random(struct hsm *h, void *buf, size_t n)
{
	CK_RV rv;

	if (!buf && n)
		return -EINVAL;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&h->lock);
	rv = h->module->C_GenerateRandom(h->session, buf, (CK_ULONG)n);
	pthread_mutex_unlock(&h->lock);
	if (rv != CKR_OK)
		OPENSSL_cleanse(buf, n);
	return hsm_rv_errno(rv);
}
