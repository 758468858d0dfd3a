/*
 * Key objects: import, find, destroy, the attributes the token reports for
 * an imported master key, and (looking behind the API through the
 * module's function list) the policy the token enforces on it.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fixture.h"
#include "hsm/hsm_private.h"

TestSuite(hsm_keys, .init = fx_token_open, .fini = fx_teardown, .timeout = 60);

static void import_random(const char *label, uint8_t key[32])
{
	ref_random(key, 32);
	cr_assert_eq(hsm_import_key(fx_hsm, label, key), 0);
}

Test(hsm_keys, import_then_find)
{
	uint8_t key[32];

	cr_assert_eq(hsm_find_key(fx_hsm, "mk-1"), -ENOENT);
	import_random("mk-1", key);
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-1"), 0);
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-2"), -ENOENT);
	/* A prefix of a label is another label. */
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-"), -ENOENT);
}

Test(hsm_keys, import_twice_is_eexist)
{
	uint8_t key[32], other[32], kcv1[8], kcv2[8];

	import_random("mk-1", key);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv1), 0);
	ref_random(other, sizeof(other));
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", other), -EEXIST);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv2), 0);
	cr_assert_arr_eq(kcv1, kcv2, 8, "the first key must be untouched");
}

Test(hsm_keys, keys_survive_a_new_handle)
{
	uint8_t key[32], kcv1[8], kcv2[8];
	char err[256] = "";

	import_random("mk-1", key);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv1), 0);
	hsm_close(fx_hsm);
	fx_hsm = NULL;
	cr_assert_eq(hsm_open(fx_uri, TEST_PIN, strlen(TEST_PIN), &fx_hsm, err,
			      sizeof(err)), 0, "%s", err);
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-1"), 0);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv2), 0);
	cr_assert_arr_eq(kcv1, kcv2, 8);
}

Test(hsm_keys, destroy_then_find_is_enoent)
{
	uint8_t key[32], kcv[8];

	import_random("mk-1", key);
	import_random("mk-2", key);
	cr_assert_eq(hsm_destroy_key(fx_hsm, "mk-1"), 0);
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-1"), -ENOENT);
	cr_assert_eq(hsm_kcv(fx_hsm, "mk-1", kcv), -ENOENT);
	cr_assert_eq(hsm_destroy_key(fx_hsm, "mk-1"), -ENOENT);
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-2"), 0, "only mk-1 goes");
	/* The label is free again. */
	import_random("mk-1", key);
	cr_assert_eq(hsm_find_key(fx_hsm, "mk-1"), 0);
}

Test(hsm_keys, attributes_of_an_imported_key)
{
	struct hsm_key_attrs a;
	uint8_t key[32];

	import_random("mk-1", key);
	memset(&a, 0x55, sizeof(a));
	cr_assert_eq(hsm_key_attrs(fx_hsm, "mk-1", &a), 0);
	cr_assert_eq(a.sensitive, 1);
	cr_assert_eq(a.extractable, 0);
	cr_assert_eq(a.value_readable, 0);
	/* Imported, so it was once outside the token: PKCS#11 says these
	 * two must be false for a key made by C_CreateObject. */
	cr_assert_eq(a.always_sensitive, 0);
	cr_assert_eq(a.never_extractable, 0);
	cr_assert_eq(hsm_key_attrs(fx_hsm, "nosuch", &a), -ENOENT);
}

Test(hsm_keys, bad_arguments_are_einval)
{
	uint8_t key[32] = { 0 }, kcv[8];
	struct hsm_key_attrs a;
	char longlabel[300];

	memset(longlabel, 'a', sizeof(longlabel) - 1);
	longlabel[sizeof(longlabel) - 1] = '\0';
	cr_assert_eq(hsm_import_key(fx_hsm, "", key), -EINVAL);
	cr_assert_eq(hsm_import_key(fx_hsm, NULL, key), -EINVAL);
	cr_assert_eq(hsm_import_key(fx_hsm, "mk-1", NULL), -EINVAL);
	cr_assert_eq(hsm_import_key(fx_hsm, longlabel, key), -EINVAL);
	cr_assert_eq(hsm_find_key(fx_hsm, ""), -EINVAL);
	cr_assert_eq(hsm_destroy_key(fx_hsm, NULL), -EINVAL);
	cr_assert_eq(hsm_kcv(fx_hsm, "", kcv), -EINVAL);
	cr_assert_eq(hsm_key_attrs(fx_hsm, "", &a), -EINVAL);
}

/* White-box: the token itself refuses anything beyond GCM and CMAC. */
Test(hsm_keys, token_enforces_the_key_policy)
{
	CK_FUNCTION_LIST *m = fx_hsm->module;
	CK_SESSION_HANDLE s = fx_hsm->session;
	CK_ATTRIBUTE find = { CKA_LABEL, "mk-1", 4 };
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
	CK_BYTE iv[16] = { 0 };
	CK_MECHANISM cbc = { CKM_AES_CBC, iv, sizeof(iv) };
	CK_MECHANISM mac = { CKM_AES_CMAC, NULL, 0 };
	CK_BBOOL modifiable = CK_TRUE, wrap = CK_TRUE, derive = CK_TRUE;
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM_TYPE allowed[4];
	CK_ATTRIBUTE get[] = {
		{ CKA_MODIFIABLE, &modifiable, sizeof(modifiable) },
		{ CKA_WRAP, &wrap, sizeof(wrap) },
		{ CKA_DERIVE, &derive, sizeof(derive) },
		{ CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed) },
	};
	CK_ATTRIBUTE set = { CKA_EXTRACTABLE, &yes, sizeof(yes) };
	CK_ATTRIBUTE value = { CKA_VALUE, NULL, 0 };
	CK_OBJECT_HANDLE obj;
	CK_ULONG n = 0;
	uint8_t key[32];

	import_random("mk-1", key);
	cr_assert_eq(m->C_FindObjectsInit(s, &find, 1), CKR_OK);
	cr_assert_eq(m->C_FindObjects(s, &obj, 1, &n), CKR_OK);
	cr_assert_eq(m->C_FindObjectsFinal(s), CKR_OK);
	cr_assert_eq(n, 1);

	cr_assert_eq(m->C_GetAttributeValue(s, obj, get, 4), CKR_OK);
	cr_assert_eq(modifiable, CK_FALSE);
	cr_assert_eq(wrap, CK_FALSE);
	cr_assert_eq(derive, CK_FALSE);
	cr_assert_eq(get[3].ulValueLen, 2 * sizeof(CK_MECHANISM_TYPE));
	cr_assert((allowed[0] == CKM_AES_GCM && allowed[1] == CKM_AES_CMAC) ||
		  (allowed[1] == CKM_AES_GCM && allowed[0] == CKM_AES_CMAC));

	cr_assert_neq(m->C_EncryptInit(s, &ecb, obj), CKR_OK, "ECB allowed");
	cr_assert_neq(m->C_EncryptInit(s, &cbc, obj), CKR_OK, "CBC allowed");
	/* CMAC may sign (the key check value) but not verify. */
	cr_assert_neq(m->C_VerifyInit(s, &mac, obj), CKR_OK, "verify allowed");
	cr_assert_neq(m->C_SetAttributeValue(s, obj, &set, 1), CKR_OK,
		      "made extractable");
	cr_assert_eq(m->C_GetAttributeValue(s, obj, &value, 1),
		     CKR_ATTRIBUTE_SENSITIVE);
}

/* White-box: the token offers the two mechanisms the key is limited to,
 * with the flags coffre needs (GCM both ways, CMAC signing). */
Test(hsm_keys, token_offers_gcm_and_cmac)
{
	CK_FUNCTION_LIST *m = fx_hsm->module;
	CK_MECHANISM_TYPE list[512];
	CK_ULONG n = 512, i;
	CK_MECHANISM_INFO info;
	int gcm = 0, cmac = 0;

	cr_assert_eq(m->C_GetMechanismList(fx_hsm->slot, list, &n), CKR_OK);
	for (i = 0; i < n; i++) {
		gcm |= list[i] == CKM_AES_GCM;
		cmac |= list[i] == CKM_AES_CMAC;
	}
	cr_assert(gcm, "token has no CKM_AES_GCM");
	cr_assert(cmac, "token has no CKM_AES_CMAC");
	cr_assert_eq(m->C_GetMechanismInfo(fx_hsm->slot, CKM_AES_GCM, &info),
		     CKR_OK);
	cr_assert((info.flags & (CKF_ENCRYPT | CKF_DECRYPT)) ==
		  (CKF_ENCRYPT | CKF_DECRYPT));
	cr_assert_leq(info.ulMinKeySize, 32);
	cr_assert_geq(info.ulMaxKeySize, 32);
	cr_assert_eq(m->C_GetMechanismInfo(fx_hsm->slot, CKM_AES_CMAC, &info),
		     CKR_OK);
	cr_assert(info.flags & CKF_SIGN);
}
