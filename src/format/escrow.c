/*
 * escrow.c — the master-key escrow blob (.coffre/escrow/mk-v<N>), 128
 * bytes: a 36-byte header bound as AAD, the sender's ephemeral X25519
 * public key, and the GCM-sealed master key (see keys/escrow.c for the
 * ECIES construction and doc/FORMAT-v1.md §escrow).
 *
 *   "CFRE" | version u8 | reserved u8[3] (0) | fs uuid (16) |
 *   mk_version u32be (>= 1) | kcv (8) | ephemeral pub (32) | nonce (12) |
 *   sealed MK (32) || tag (16)
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"

static void write_header(struct wcur *w, const struct escrow_blob *e)
{
	wcur_bytes(w, COFFRE_ESCROW_MAGIC, 4);
	wcur_u8(w, COFFRE_FORMAT_VERSION);
	wcur_u8(w, 0);
	wcur_u16be(w, 0);
	wcur_bytes(w, e->fs_uuid, COFFRE_ID_LEN);
	wcur_u32be(w, e->mk_version);
	wcur_bytes(w, e->kcv, sizeof(e->kcv));
}

void escrow_aad(const struct escrow_blob *e, uint8_t out[COFFRE_ESCROW_HDR_LEN])
{
	struct wcur w;

	wcur_init(&w, out, COFFRE_ESCROW_HDR_LEN);
	write_header(&w, e);
}

void escrow_write(const struct escrow_blob *e, uint8_t out[COFFRE_ESCROW_LEN])
{
	struct wcur w;

	wcur_init(&w, out, COFFRE_ESCROW_LEN);
	write_header(&w, e);
	wcur_bytes(&w, e->eph_pub, sizeof(e->eph_pub));
	wcur_bytes(&w, e->nonce, sizeof(e->nonce));
	wcur_bytes(&w, e->sealed, sizeof(e->sealed));
}

int escrow_parse(const uint8_t *buf, size_t len, struct escrow_blob *e)
{
	uint8_t magic[4], version, rsv8;
	uint16_t rsv16;
	struct rcur r;

	memset(e, 0, sizeof(*e));
	if (!buf || len < 5)
		return -EINVAL;
	rcur_init(&r, buf, len);
	rcur_bytes(&r, magic, sizeof(magic));
	if (memcmp(magic, COFFRE_ESCROW_MAGIC, 4))
		return -EPROTO;
	version = rcur_u8(&r);
	if (version != COFFRE_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	rsv8 = rcur_u8(&r);
	rsv16 = rcur_u16be(&r);
	rcur_bytes(&r, e->fs_uuid, COFFRE_ID_LEN);
	e->mk_version = rcur_u32be(&r);
	rcur_bytes(&r, e->kcv, sizeof(e->kcv));
	rcur_bytes(&r, e->eph_pub, sizeof(e->eph_pub));
	rcur_bytes(&r, e->nonce, sizeof(e->nonce));
	rcur_bytes(&r, e->sealed, sizeof(e->sealed));
	if (!rcur_done(&r) || rsv8 || rsv16 || e->mk_version == 0) {
		memset(e, 0, sizeof(*e));
		return -EINVAL;
	}
	return 0;
}
