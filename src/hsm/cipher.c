/*
 * What the master key does inside the token: AES-256-GCM sealing and
 * opening (NIST SP 800-38D; PKCS #11 v2.40 current mechanisms, CKM_AES_GCM
 * with CK_GCM_PARAMS) and a key check value, the first 8 bytes of
 * AES-CMAC(key, 0^16) (NIST SP 800-38B / RFC 4493; CKM_AES_CMAC).
 *
 * The IV is the caller's (96 bits), the tag 128 bits, single-part
 * C_Encrypt / C_Decrypt.  SoftHSM2's GCM C_Decrypt wants an output buffer as
 * long as the ciphertext including the tag, so opening goes through a
 * temporary buffer of in_len bytes that is wiped afterwards.  A bad tag comes
 * back from SoftHSM2 2.6 as CKR_GENERAL_ERROR (-EIO), from other tokens as
 * CKR_ENCRYPTED_DATA_INVALID (-EBADMSG); the caller tells a bad record from a
 * sick token by asking for the key check value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm_private.h"

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define CMAC_LEN 16

struct kcv_arg {
	uint8_t mac[CMAC_LEN];
};

static CK_RV kcv_op(struct hsm *h, CK_OBJECT_HANDLE obj, void *arg)
{
	struct kcv_arg *k = arg;
	CK_MECHANISM mech = { CKM_AES_CMAC, NULL, 0 };
	CK_BYTE zero[16] = { 0 };
	CK_ULONG mac_len = sizeof(k->mac);
	CK_RV rv;

	rv = h->module->C_SignInit(h->session, &mech, obj);
	if (rv != CKR_OK)
		return rv;
	rv = h->module->C_Sign(h->session, zero, sizeof(zero), k->mac, &mac_len);
	if (rv == CKR_OK && mac_len != sizeof(k->mac))
		rv = CKR_GENERAL_ERROR;
	return rv;
}

int hsm_kcv(struct hsm *h, const char *label, uint8_t kcv[COFFRE_KCV_LEN])
{
	struct kcv_arg k = { { 0 } };
	int ret;

	if (!label || !*label || !kcv)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	ret = hsm_with_key(h, label, kcv_op, &k);
	pthread_mutex_unlock(&h->lock);
	if (ret == 0)
		memcpy(kcv, k.mac, COFFRE_KCV_LEN);
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

/* One GCM operation: encrypt in -> out, or decrypt in -> out. */
struct gcm_arg {
	CK_GCM_PARAMS params;
	bool decrypt;
	const uint8_t *in;
	CK_ULONG in_len;
	uint8_t *out;
	CK_ULONG out_cap;
	CK_ULONG out_len;
};

static CK_RV gcm_op(struct hsm *h, CK_OBJECT_HANDLE obj, void *arg)
{
	struct gcm_arg *g = arg;
	CK_MECHANISM mech = { CKM_AES_GCM, &g->params, sizeof(g->params) };
	CK_BYTE_PTR in = (CK_BYTE_PTR)(uintptr_t)g->in;
	CK_RV rv;

	g->out_len = g->out_cap;
	if (g->decrypt) {
		rv = h->module->C_DecryptInit(h->session, &mech, obj);
		if (rv != CKR_OK)
			return rv;
		return h->module->C_Decrypt(h->session, in, g->in_len, g->out,
					    &g->out_len);
	}
	rv = h->module->C_EncryptInit(h->session, &mech, obj);
	if (rv != CKR_OK)
		return rv;
	return h->module->C_Encrypt(h->session, in, g->in_len, g->out,
				    &g->out_len);
}

static void gcm_params(CK_GCM_PARAMS *p, uint8_t iv_copy[GCM_IV_LEN],
		       const uint8_t iv[GCM_IV_LEN], const uint8_t *aad,
		       size_t aad_len)
{
	memcpy(iv_copy, iv, GCM_IV_LEN);
	p->pIv = iv_copy;
	p->ulIvLen = GCM_IV_LEN;
	p->ulIvBits = GCM_IV_LEN * 8;
	p->pAAD = (CK_BYTE_PTR)(uintptr_t)aad;
	p->ulAADLen = aad_len;
	p->ulTagBits = GCM_TAG_LEN * 8;
}

int hsm_gcm_seal(struct hsm *h, const char *label, const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t len, uint8_t *out)
{
	uint8_t iv_copy[GCM_IV_LEN];
	struct gcm_arg g = { 0 };
	int ret;

	if (!label || !*label || !iv || (!aad && aad_len) || (!pt && len) ||
	    !out || len > SIZE_MAX - GCM_TAG_LEN)
		return -EINVAL;
	gcm_params(&g.params, iv_copy, iv, aad, aad_len);
	g.in = pt;
	g.in_len = len;
	g.out = out;
	g.out_cap = len + GCM_TAG_LEN;

	pthread_mutex_lock(&h->lock);
	ret = hsm_with_key(h, label, gcm_op, &g);
	pthread_mutex_unlock(&h->lock);
	if (ret == 0 && g.out_len != len + GCM_TAG_LEN)
		ret = -EIO;
	if (ret)
		OPENSSL_cleanse(out, len + GCM_TAG_LEN);
	return ret;
}

int hsm_gcm_open(struct hsm *h, const char *label, const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *in,
		 size_t in_len, uint8_t *out)
{
	uint8_t iv_copy[GCM_IV_LEN];
	struct gcm_arg g = { 0 };
	uint8_t *tmp = NULL;
	int ret;

	if (!label || !*label || !iv || (!aad && aad_len) || !in || !out)
		return -EINVAL;
	if (in_len < GCM_TAG_LEN)
		return -EBADMSG;
	tmp = malloc(in_len);
	if (!tmp)
		return -ENOMEM;
	gcm_params(&g.params, iv_copy, iv, aad, aad_len);
	g.decrypt = true;
	g.in = in;
	g.in_len = in_len;
	g.out = tmp;
	g.out_cap = in_len;

	pthread_mutex_lock(&h->lock);
	ret = hsm_with_key(h, label, gcm_op, &g);
	pthread_mutex_unlock(&h->lock);
	if (ret)
		goto out;
	if (g.out_len != in_len - GCM_TAG_LEN) {
		ret = -EIO;
		goto out;
	}
	memcpy(out, tmp, g.out_len);
out:
	OPENSSL_cleanse(tmp, in_len);
	free(tmp);
	return ret;
}
