/*
 * keyrec.c — key record, version 2 (doc/FORMAT.md §9.1): a sealed DEK at
 * `.coffre/keys/<32 hex dir id>.<dek version>`, 116 bytes,
 *
 *   header (56) = magic "CFRK" | version 2 | flags u8 | reserved u16 |
 *                 fs_uuid[16] | dir_id[16] | dek_version u32be |
 *                 mk_version u32be | gen u64be
 *   iv (12)     = the GCM IV the HSM used
 *   sealed (48) = AES-256-GCM(MK, DEK[32]) || tag[16]
 *
 * The header is the AAD of the HSM's C_Encrypt(CKM_AES_GCM), so the HSM
 * seals and opens; this file checks the shape and builds the AAD.  The
 * flags byte is authenticated by that AAD and interpreted by src/keys.
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/names.h"
#include "coffre/v2/records.h"

static bool keyrec2_valid(const struct keyrec2 *r)
{
	return r->dek_version != 0 && r->mk_version != 0 && v2_gen_valid(r->gen);
}

int keyrec2_parse(const uint8_t *buf, size_t len, struct keyrec2 *r)
{
	struct rcur c;
	uint8_t magic[4], version;
	uint16_t reserved;
	int err = -EINVAL;

	memset(r, 0, sizeof(*r));
	if (len != V2_KEYREC_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	r->flags = rcur_u8(&c);
	reserved = rcur_u16be(&c);
	rcur_bytes(&c, r->fs_uuid, sizeof(r->fs_uuid));
	rcur_bytes(&c, r->dir_id, sizeof(r->dir_id));
	r->dek_version = rcur_u32be(&c);
	r->mk_version = rcur_u32be(&c);
	r->gen = rcur_u64be(&c);
	rcur_bytes(&c, r->iv, sizeof(r->iv));
	rcur_bytes(&c, r->sealed, sizeof(r->sealed));
	if (!rcur_done(&c))
		goto out;
	err = v2_magic_check(magic, V2_KEYREC_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	if (reserved != 0 || !keyrec2_valid(r))
		goto out;
	err = 0;
out:
	if (err)
		memset(r, 0, sizeof(*r));
	return err;
}

/* The 56 header bytes, into a cursor (shared by write and aad). */
static void keyrec2_put_header(const struct keyrec2 *r, struct wcur *c)
{
	wcur_bytes(c, V2_KEYREC_MAGIC, 4);
	wcur_u8(c, COFFRE_V2_VERSION);
	wcur_u8(c, r->flags);
	wcur_u16be(c, 0);
	wcur_bytes(c, r->fs_uuid, sizeof(r->fs_uuid));
	wcur_bytes(c, r->dir_id, sizeof(r->dir_id));
	wcur_u32be(c, r->dek_version);
	wcur_u32be(c, r->mk_version);
	wcur_u64be(c, r->gen);
}

int keyrec2_write(const struct keyrec2 *r, uint8_t out[V2_KEYREC_LEN])
{
	struct wcur c;

	if (!keyrec2_valid(r)) {
		memset(out, 0, V2_KEYREC_LEN);
		return -EINVAL;
	}
	wcur_init(&c, out, V2_KEYREC_LEN);
	keyrec2_put_header(r, &c);
	wcur_bytes(&c, r->iv, sizeof(r->iv));
	wcur_bytes(&c, r->sealed, sizeof(r->sealed));
	return 0;
}

int keyrec2_aad(const struct keyrec2 *r, uint8_t out[V2_KEYREC_HDR_LEN])
{
	struct wcur c;

	if (!keyrec2_valid(r)) {
		memset(out, 0, V2_KEYREC_HDR_LEN);
		return -EINVAL;
	}
	wcur_init(&c, out, V2_KEYREC_HDR_LEN);
	keyrec2_put_header(r, &c);
	return 0;
}

int keyrec2_check_name(const struct keyrec2 *r,
		       const uint8_t fs_uuid[COFFRE_ID_LEN], const char *name)
{
	uint8_t dir_id[COFFRE_ID_LEN];
	uint32_t version;

	if (names2_keyrec_parse(name, dir_id, &version) != 0 ||
	    version != r->dek_version ||
	    memcmp(dir_id, r->dir_id, COFFRE_ID_LEN) != 0 ||
	    memcmp(fs_uuid, r->fs_uuid, COFFRE_ID_LEN) != 0)
		return -EINVAL;
	return 0;
}
