/*
 * Sealed DEK records, `.coffre/keys/<hex dir id>.<dek version>`
 * (doc/FORMAT-v1.md, "Key record"): 108 bytes,
 *
 *   header (48) = magic "CFRK" | version u8 | flags u8 | reserved u16 |
 *                 fs_uuid[16] | dir_id[16] | dek_version u32be |
 *                 mk_version u32be
 *   iv (12)     = the GCM IV the HSM used
 *   sealed (48) = AES-256-GCM(MK, DEK[32]) || tag[16]
 *
 * The HSM seals the DEK with C_Encrypt(CKM_AES_GCM) and the header bytes as
 * AAD (NIST SP 800-38D), like a KMS encryption context: a record copied to
 * another volume, directory or version no longer unseals.  This file only
 * checks the shape; the flags byte is authenticated by that AAD and is
 * interpreted by src/keys, not here.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

int keyrec_parse(const uint8_t *buf, size_t len, struct key_record *r)
{
	struct rcur c;
	uint8_t magic[4];
	uint16_t reserved;
	int err = -EINVAL;

	memset(r, 0, sizeof(*r));
	if (len != COFFRE_KEYREC_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	r->version = rcur_u8(&c);
	r->flags = rcur_u8(&c);
	reserved = rcur_u16be(&c);
	rcur_bytes(&c, r->fs_uuid, sizeof(r->fs_uuid));
	rcur_bytes(&c, r->dir_id, sizeof(r->dir_id));
	r->dek_version = rcur_u32be(&c);
	r->mk_version = rcur_u32be(&c);
	rcur_bytes(&c, r->iv, sizeof(r->iv));
	rcur_bytes(&c, r->sealed, sizeof(r->sealed));
	if (!rcur_done(&c))
		goto out;
	if (memcmp(magic, COFFRE_KEYREC_MAGIC, 4) != 0) {
		err = -EPROTO;
		goto out;
	}
	if (r->version != COFFRE_FORMAT_VERSION) {
		err = -EPROTONOSUPPORT;
		goto out;
	}
	if (reserved != 0 || r->dek_version == 0 || r->mk_version == 0)
		goto out;
	err = 0;
out:
	if (err)
		memset(r, 0, sizeof(*r));
	return err;
}

/* The 48 header bytes, into a cursor (shared by write and aad). */
static void keyrec_put_header(const struct key_record *r, struct wcur *c)
{
	wcur_bytes(c, COFFRE_KEYREC_MAGIC, 4);
	wcur_u8(c, COFFRE_FORMAT_VERSION);
	wcur_u8(c, r->flags);
	wcur_u16be(c, 0);
	wcur_bytes(c, r->fs_uuid, sizeof(r->fs_uuid));
	wcur_bytes(c, r->dir_id, sizeof(r->dir_id));
	wcur_u32be(c, r->dek_version);
	wcur_u32be(c, r->mk_version);
}

void keyrec_write(const struct key_record *r, uint8_t out[COFFRE_KEYREC_LEN])
{
	struct wcur c;

	wcur_init(&c, out, COFFRE_KEYREC_LEN);
	keyrec_put_header(r, &c);
	wcur_bytes(&c, r->iv, sizeof(r->iv));
	wcur_bytes(&c, r->sealed, sizeof(r->sealed));
}

void keyrec_aad(const struct key_record *r, uint8_t out[COFFRE_KEYREC_HDR_LEN])
{
	struct wcur c;

	wcur_init(&c, out, COFFRE_KEYREC_HDR_LEN);
	keyrec_put_header(r, &c);
}
