/*
 * data.c — small private data objects on the token (PKCS #11 v2.40
 * CKO_DATA): how each HSM keeps the last bucket-manifest generation
 * written (DESIGN.md §6), so that a restore whose backing dir is gone
 * still detects a bucket rolled back as a whole.  Only a logged-in user
 * can read or change them (CKA_PRIVATE); they are not secrets.
 */
#include <errno.h>
#include <string.h>

#include "hsm_private.h"

#define DATA_MAX 256

int hsm_data_put(struct hsm *h, const char *label, const void *value, size_t len)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_HANDLE obj;
	CK_ATTRIBUTE val = { CKA_VALUE, (void *)(uintptr_t)value, len };
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_MODIFIABLE, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
		val,
	};
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
	if (err == -ENOENT) {
		rv = h->module->C_CreateObject(h->session, tmpl, 6, &obj);
		err = rv == CKR_OK ? 0 : hsm_rv_errno(rv);
	}
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
