/*
 * What the files of src/hsm share: the handle, the URI checks, the CK_RV to
 * errno mapping and the key-object lookup with its one retry.  Not a public
 * header: only the files of src/hsm include it.
 */
#ifndef COFFRE_HSM_PRIVATE_H
#define COFFRE_HSM_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "coffre/hsm.h"

/* A key object handle remembered for a label. */
struct hsm_key_ref {
	char *label;
	CK_OBJECT_HANDLE obj;
};

struct hsm {
	pthread_mutex_t lock;		/* serialises everything below */
	CK_FUNCTION_LIST **modules;	/* p11-kit module list we own, or NULL */
	CK_FUNCTION_LIST *module;	/* the module holding our token */
	bool module_alone;		/* module came from p11_kit_module_load */
	bool module_initialized;	/* h->module needs a finalize */
	bool modules_initialized;	/* every module of h->modules does */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	bool session_open;
	char label[33];			/* token label, blank padding removed */
	unsigned char serial[16];	/* token serial, as C_GetTokenInfo says */
	struct hsm_key_ref *keys;	/* cache of key handles by label */
	size_t nkeys, keys_cap;
};

/* A parsed, checked URI and where its module comes from. */
struct hsm_uri {
	P11KitUri *uri;
	const char *module_path;	/* borrowed from uri, or NULL */
	const char *module_name;	/* borrowed from uri, or NULL */
};

/* uri.c: parse and check a token URI.  Return: 0 or -EINVAL (err filled). */
int hsm_uri_parse(const char *text, struct hsm_uri *out, char *err,
		  size_t errlen);
void hsm_uri_free(struct hsm_uri *u);

/* rv.c: the errno for a PKCS#11 return value (see coffre/hsm.h). */
int hsm_rv_errno(CK_RV rv);
/* rv.c: a short name for a CK_RV, for messages. */
const char *hsm_rv_name(CK_RV rv);

/* session.c: with h->lock held, is our token still there and still the
 * token we logged in to?  A token whose storage vanished keeps its slot but
 * fails C_GetTokenInfo (SoftHSM2: CKR_GENERAL_ERROR).
 * Return: 0 or -ENODEV. */
int hsm_token_alive(struct hsm *h);

/* keys.c: with h->lock held, run op on the key object called label.  If the
 * cached handle went stale (CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID)
 * the label is looked up once more and op runs once more.
 * Return: 0, -ENOENT if no such key, or op's CK_RV mapped to an errno. */
typedef CK_RV hsm_key_op(struct hsm *h, CK_OBJECT_HANDLE obj, void *arg);
int hsm_with_key(struct hsm *h, const char *label, hsm_key_op *op, void *arg);
/* keys.c: with h->lock held, the one object of this class (CKO_SECRET_KEY:
 * AES keys only) carrying label.  Return: 0, -ENOENT, -ENODEV for a dead
 * token, -EIO if two objects carry the label, or a CK_RV as an errno. */
int hsm_find_object(struct hsm *h, CK_OBJECT_CLASS cls, const char *label,
		    CK_OBJECT_HANDLE *obj);
/* keys.c: drop every cached handle (h->lock held or handle private). */
void hsm_keys_forget_all(struct hsm *h);

#endif
