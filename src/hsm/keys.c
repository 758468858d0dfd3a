/*
 * Master-key objects on the token: import, look up, destroy, inspect
 * (PKCS #11 v2.40: C_CreateObject, C_FindObjects*, C_DestroyObject,
 * C_GetAttributeValue).
 *
 * A key is an AES secret-key token object found by CKA_LABEL.  Its handle is
 * cached per label; PKCS#11 handles may go stale (another process destroyed
 * and re-created the object, the token's storage was reloaded), so a
 * CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID drops the cached handle
 * and the label is looked up once more — once, never in a loop.  A label
 * that is not found is checked against the token itself: SoftHSM2 shows a
 * token whose storage was deleted as stale handles, then as no objects at
 * all, then as a failing C_GetTokenInfo; that is -ENODEV, not -ENOENT.
 *
 * Imported keys are private, sensitive and non-extractable, may only
 * encrypt, decrypt and sign (AES-GCM for sealing, AES-CMAC for the key check
 * value) and carry CKA_ALLOWED_MECHANISMS = {CKM_AES_GCM, CKM_AES_CMAC}, so
 * even a logged-in user cannot read, wrap or derive from them.  SoftHSM2 2.6
 * accepts every attribute of the template, CKA_MODIFIABLE=FALSE included
 * (checked by tests/unit/hsm).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm_private.h"

#define HSM_KEY_LEN 32

static struct hsm_key_ref *cache_get(struct hsm *h, const char *label)
{
	size_t i;

	for (i = 0; i < h->nkeys; i++)
		if (strcmp(h->keys[i].label, label) == 0)
			return &h->keys[i];
	return NULL;
}

static void cache_forget(struct hsm *h, const char *label)
{
	struct hsm_key_ref *k = cache_get(h, label);

	if (!k)
		return;
	free(k->label);
	*k = h->keys[--h->nkeys];
}

/* Remember a handle; a full cache only costs a lookup later. */
static void cache_put(struct hsm *h, const char *label, CK_OBJECT_HANDLE obj)
{
	struct hsm_key_ref *k = cache_get(h, label), *grown;
	size_t cap;
	char *copy;

	if (k) {
		k->obj = obj;
		return;
	}
	if (h->nkeys == h->keys_cap) {
		cap = h->keys_cap ? 2 * h->keys_cap : 8;
		grown = realloc(h->keys, cap * sizeof(*grown));
		if (!grown)
			return;
		h->keys = grown;
		h->keys_cap = cap;
	}
	copy = strdup(label);
	if (!copy)
		return;
	h->keys[h->nkeys].label = copy;
	h->keys[h->nkeys].obj = obj;
	h->nkeys++;
}

void hsm_keys_forget_all(struct hsm *h)
{
	size_t i;

	for (i = 0; i < h->nkeys; i++)
		free(h->keys[i].label);
	h->nkeys = 0;
}

static int check_label(const char *label)
{
	if (!label || !*label || strlen(label) > 255)
		return -EINVAL;
	return 0;
}

int hsm_find_object(struct hsm *h, CK_OBJECT_CLASS cls, const char *label,
		    CK_OBJECT_HANDLE *obj)
{
	CK_KEY_TYPE type = CKK_AES;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
	};
	CK_OBJECT_HANDLE objs[2];
	CK_ULONG n = 0;
	CK_RV rv;

	/* Keys must also be AES keys; data objects have no key type. */
	rv = h->module->C_FindObjectsInit(h->session, tmpl,
					  cls == CKO_SECRET_KEY ? 3 : 2);
	if (rv != CKR_OK)
		return hsm_rv_errno(rv);
	rv = h->module->C_FindObjects(h->session, objs, 2, &n);
	h->module->C_FindObjectsFinal(h->session);
	if (rv != CKR_OK)
		return hsm_rv_errno(rv);
	/* Not found on a token that lost its storage is a dead token, not a
	 * missing object: the caller must fail over, not give up. */
	if (n == 0)
		return hsm_token_alive(h) ? -ENODEV : -ENOENT;
	/* Two objects under one label: which one is meant is not ours to guess. */
	if (n > 1)
		return -EIO;
	*obj = objs[0];
	return 0;
}

static int key_handle(struct hsm *h, const char *label, CK_OBJECT_HANDLE *obj)
{
	struct hsm_key_ref *k = cache_get(h, label);
	int ret;

	if (k) {
		*obj = k->obj;
		return 0;
	}
	ret = hsm_find_object(h, CKO_SECRET_KEY, label, obj);
	if (ret == 0)
		cache_put(h, label, *obj);
	return ret;
}

static bool stale_handle(CK_RV rv)
{
	return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID;
}

int hsm_with_key(struct hsm *h, const char *label, hsm_key_op *op, void *arg)
{
	CK_OBJECT_HANDLE obj;
	CK_RV rv;
	int ret, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		ret = key_handle(h, label, &obj);
		if (ret)
			return ret;
		rv = op(h, obj, arg);
		if (!stale_handle(rv))
			return hsm_rv_errno(rv);
		cache_forget(h, label);
	}
	/* A handle found a moment ago is already invalid: the token's
	 * storage is not what it was, this token cannot be trusted now. */
	return -ENODEV;
}

int hsm_find_key(struct hsm *h, const char *label)
{
	CK_OBJECT_HANDLE obj;
	int ret;

	ret = check_label(label);
	if (ret)
		return ret;
	pthread_mutex_lock(&h->lock);
	/* Ask the token, not the cache: the caller wants the truth. */
	cache_forget(h, label);
	ret = key_handle(h, label, &obj);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

int hsm_import_key(struct hsm *h, const char *label, const uint8_t key[COFFRE_KEY_LEN])
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM_TYPE allowed[] = { CKM_AES_GCM, CKM_AES_CMAC };
	uint8_t value[HSM_KEY_LEN];
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE, value, sizeof(value) },
		{ CKA_LABEL, (void *)(uintptr_t)label, label ? strlen(label) : 0 },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_MODIFIABLE, &no, sizeof(no) },
		{ CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed) },
	};
	CK_OBJECT_HANDLE obj;
	CK_RV rv;
	int ret;

	ret = check_label(label);
	if (ret)
		return ret;
	if (!key)
		return -EINVAL;
	/* The template's copy lives here, so it is wiped on every path. */
	memcpy(value, key, sizeof(value));

	pthread_mutex_lock(&h->lock);
	ret = hsm_find_object(h, CKO_SECRET_KEY, label, &obj);
	if (ret == 0 || ret == -EIO) {
		ret = ret == 0 ? -EEXIST : ret;
		goto out;
	}
	if (ret != -ENOENT)
		goto out;
	rv = h->module->C_CreateObject(h->session, tmpl,
				       sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	ret = hsm_rv_errno(rv);
	if (ret == 0)
		cache_put(h, label, obj);
out:
	pthread_mutex_unlock(&h->lock);
	OPENSSL_cleanse(value, sizeof(value));
	return ret;
}

static CK_RV destroy_op(struct hsm *h, CK_OBJECT_HANDLE obj, void *arg)
{
	(void)arg;
	return h->module->C_DestroyObject(h->session, obj);
}

int hsm_destroy_key(struct hsm *h, const char *label)
{
	int ret;

	ret = check_label(label);
	if (ret)
		return ret;
	pthread_mutex_lock(&h->lock);
	ret = hsm_with_key(h, label, destroy_op, NULL);
	/* Whatever happened, the handle is not to be trusted any more. */
	cache_forget(h, label);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static CK_RV attrs_op(struct hsm *h, CK_OBJECT_HANDLE obj, void *arg)
{
	struct hsm_key_attrs *a = arg;
	CK_BBOOL sens = 0, extr = 0, asens = 0, nextr = 0;
	CK_ATTRIBUTE flags[] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_ALWAYS_SENSITIVE, &asens, sizeof(asens) },
		{ CKA_NEVER_EXTRACTABLE, &nextr, sizeof(nextr) },
	};
	/* Only the length of CKA_VALUE is asked for: the value itself is
	 * never fetched, even from a token that would give it. */
	CK_ATTRIBUTE value = { CKA_VALUE, NULL, 0 };
	CK_RV rv;

	rv = h->module->C_GetAttributeValue(h->session, obj, flags, 4);
	if (rv != CKR_OK)
		return rv;
	rv = h->module->C_GetAttributeValue(h->session, obj, &value, 1);
	if (rv == CKR_ATTRIBUTE_SENSITIVE)
		a->value_readable = 0;
	else if (rv == CKR_OK)
		a->value_readable = value.ulValueLen != CK_UNAVAILABLE_INFORMATION;
	else
		return rv;
	a->sensitive = sens == CK_TRUE;
	a->extractable = extr == CK_TRUE;
	a->always_sensitive = asens == CK_TRUE;
	a->never_extractable = nextr == CK_TRUE;
	return CKR_OK;
}

int hsm_key_attrs(struct hsm *h, const char *label, struct hsm_key_attrs *a)
{
	int ret;

	ret = check_label(label);
	if (ret)
		return ret;
	if (!a)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	pthread_mutex_lock(&h->lock);
	ret = hsm_with_key(h, label, attrs_op, a);
	pthread_mutex_unlock(&h->lock);
	return ret;
}
