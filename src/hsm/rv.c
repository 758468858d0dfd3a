/*
 * PKCS#11 return values (PKCS #11 v2.40 base specification, section 5.1)
 * turned into the errnos coffre/hsm.h promises.  The split matters to the
 * caller: -ENODEV means "this token is gone, fail over", -EBADMSG means
 * "this record is bad", -EIO means "cannot tell: probe with hsm_kcv()".
 */
#include <errno.h>

#include "hsm_private.h"

int hsm_rv_errno(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_SLOT_ID_INVALID:
	/* Logged out behind our back (token re-initialised, session lost):
	 * this handle cannot recover, another token may. */
	case CKR_USER_NOT_LOGGED_IN:
		return -ENODEV;
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
		return -EBADMSG;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		return -EACCES;
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
		return -ENOMEM;
	case CKR_ARGUMENTS_BAD:
		return -EINVAL;
	default:
		/* CKR_GENERAL_ERROR included: SoftHSM2 reports a bad GCM tag
		 * that way, so it must stay distinct from -ENODEV. */
		return -EIO;
	}
}

const char *hsm_rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
	case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_PIN_EXPIRED: return "CKR_PIN_EXPIRED";
	case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
	default: return "unexpected CK_RV";
	}
}
