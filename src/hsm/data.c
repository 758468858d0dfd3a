/*
 * data.c — small private data objects on the token (PKCS #11 v2.40
 * CKO_DATA): how each HSM keeps the last bucket-manifest generation
 * written (DESIGN.md §6), so that a restore whose backing dir is gone
 * still detects a bucket rolled back as a whole.  Only a logged-in user
 * can read or change them (CKA_PRIVATE); they are not secrets.
 *
 * Version 1's counter is updated in place or destroyed and re-created
 * (hsm_data_put); format 2's generation object (doc/FORMAT.md §9.3) is
 * replaced in the other order, the new object created before the old
 * ones are destroyed (hsm_data_replace), so a crash in between leaves two
 * objects under the label, which hsm_data_get_all reads both of.
 */
#include <errno.h>
#include <string.h>

#include "hsm_private.h"

#define DATA_MAX HSM_DATA_MAX

/* With h->lock held: a new token object label = value. */
static int create_data(struct hsm *h, const char *label, const void *value,
		       size_t len)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE obj;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_MODIFIABLE, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
		{ CKA_VALUE, (void *)(uintptr_t)value, len },
	};

	return hsm_rv_errno(h->module->C_CreateObject(h->session, tmpl, 6, &obj));
}

int hsm_data_put(struct hsm *h, const char *label, const void *value, size_t len)
{
	CK_OBJECT_HANDLE obj;
	CK_ATTRIBUTE val = { CKA_VALUE, (void *)(uintptr_t)value, len };
	CK_RV rv;
	int err;

	if (!label || !*label || len > DATA_MAX)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	err = hsm_find_object(h, CKO_DATA, label, &obj);
	if (err == 0) {
		/* SoftHSM2 keeps CKA_VALUE read-only: replace the object. */
		rv = h->module->C_SetAttributeValue(h->session, obj, &val, 1);
		if (rv != CKR_OK) {
			rv = h->module->C_DestroyObject(h->session, obj);
			err = rv == CKR_OK ? -ENOENT : hsm_rv_errno(rv);
		}
	}
	if (err == -ENOENT)
		err = create_data(h, label, value, len);
	pthread_mutex_unlock(&h->lock);
	return err;
}

int hsm_data_get(struct hsm *h, const char *label, void *value, size_t cap)
{
	CK_OBJECT_HANDLE obj;
	CK_ATTRIBUTE val = { CKA_VALUE, value, cap };
	CK_RV rv;
	int err;

	if (!label || !*label)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	err = hsm_find_object(h, CKO_DATA, label, &obj);
	if (!err) {
		rv = h->module->C_GetAttributeValue(h->session, obj, &val, 1);
		err = rv == CKR_OK ? (int)val.ulValueLen : hsm_rv_errno(rv);
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

/* With h->lock held: every data object carrying label, at most max (more
 * is -E2BIG); none on a token that lost its storage is -ENODEV. */
static int find_all(struct hsm *h, const char *label, CK_OBJECT_HANDLE *objs,
		    unsigned max, unsigned *n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_OBJECT_HANDLE found[HSM_DATA_OBJECTS_MAX + 1];
	CK_ULONG got = 0;
	CK_RV rv;

	rv = h->module->C_FindObjectsInit(h->session, tmpl, 2);
	if (rv != CKR_OK)
		return hsm_rv_errno(rv);
	rv = h->module->C_FindObjects(h->session, found, max + 1, &got);
	h->module->C_FindObjectsFinal(h->session);
	if (rv != CKR_OK)
		return hsm_rv_errno(rv);
	if (got == 0 && hsm_token_alive(h))
		return -ENODEV;
	if (got > max)
		return -E2BIG;
	memcpy(objs, found, got * sizeof(*objs));
	*n = (unsigned)got;
	return 0;
}

static int check_args(const char *label, unsigned max)
{
	return !label || !*label || max > HSM_DATA_OBJECTS_MAX ? -EINVAL : 0;
}

int hsm_data_get_all(struct hsm *h, const char *label,
		     struct hsm_data_value *out, unsigned max)
{
	CK_OBJECT_HANDLE objs[HSM_DATA_OBJECTS_MAX];
	unsigned i, n = 0;
	CK_RV rv;
	int err;

	err = check_args(label, max);
	if (err)
		return err;
	pthread_mutex_lock(&h->lock);
	err = find_all(h, label, objs, max, &n);
	for (i = 0; !err && i < n; i++) {
		CK_ATTRIBUTE val = { CKA_VALUE, NULL, 0 };

		/* Its length first: a value too long is reported, not read. */
		rv = h->module->C_GetAttributeValue(h->session, objs[i], &val, 1);
		if (rv == CKR_OK && val.ulValueLen <= DATA_MAX) {
			val.pValue = out[i].value;
			rv = h->module->C_GetAttributeValue(h->session, objs[i],
							    &val, 1);
		}
		err = hsm_rv_errno(rv);
		out[i].len = val.ulValueLen;
	}
	pthread_mutex_unlock(&h->lock);
	return err ? err : (int)n;
}

int hsm_data_create(struct hsm *h, const char *label, const void *value,
		    size_t len)
{
	int err;

	if (check_args(label, 0) || len > DATA_MAX)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	err = create_data(h, label, value, len);
	pthread_mutex_unlock(&h->lock);
	return err;
}

int hsm_data_replace(struct hsm *h, const char *label, const void *value,
		     size_t len)
{
	CK_OBJECT_HANDLE objs[HSM_DATA_OBJECTS_MAX];
	unsigned i, n = 0;
	CK_RV rv;
	int err;

	if (check_args(label, 0) || len > DATA_MAX)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	/* The old ones, then the new one, then the old ones go: a crash in
	 * between leaves two objects, never none. */
	err = find_all(h, label, objs, HSM_DATA_OBJECTS_MAX, &n);
	if (!err)
		err = create_data(h, label, value, len);
	for (i = 0; !err && i < n; i++) {
		rv = h->module->C_DestroyObject(h->session, objs[i]);
		/* Gone already (another handle of ours replaced it). */
		if (rv != CKR_OBJECT_HANDLE_INVALID)
			err = hsm_rv_errno(rv);
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}
