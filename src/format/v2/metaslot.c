/*
 * Meta slots (doc/FORMAT.md §2.3), the same for objects (bound header =
 * the fixed header) and directories (bytes 0..64 of `.coffre.dir`, §6):
 *
 *   slot = epoch u64be | nonce[12] | GCM(meta key, record[96]) | tag[16] |
 *          0[124]
 *   AAD  = "CFRM" | bound header[64] | u64be(epoch)
 *
 * and the rule that picks the current record out of the two slots.  The
 * meta key is the caller's; the record's plaintext is wiped from the stack
 * on every path.  The epoch is read before it is authenticated only to be
 * put in the AAD.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/v2/object.h"

#define SLOT_SEALED_OFF 8
#define SLOT_SEALED_LEN (COFFRE_NONCE_LEN + V2_META_REC_LEN + COFFRE_TAG_LEN)
#define SLOT_TAIL_OFF (SLOT_SEALED_OFF + SLOT_SEALED_LEN)

void meta_slot_aad(const uint8_t bound[V2_BOUND_LEN], uint64_t epoch,
		   uint8_t out[V2_META_AAD_LEN])
{
	struct wcur c;

	wcur_init(&c, out, V2_META_AAD_LEN);
	wcur_bytes(&c, V2_META_MAGIC, 4);
	wcur_bytes(&c, bound, V2_BOUND_LEN);
	wcur_u64be(&c, epoch);
}

int meta_slot_seal(const uint8_t key[COFFRE_KEY_LEN],
		   const uint8_t bound[V2_BOUND_LEN], uint64_t epoch,
		   uint8_t kind, const struct meta_record *m,
		   uint8_t slot[V2_META_SLOT_LEN])
{
	uint8_t rec[V2_META_REC_LEN], aad[V2_META_AAD_LEN];
	struct wcur c;
	int err = -EINVAL;

	memset(slot, 0, V2_META_SLOT_LEN);
	if (!v2_epoch_valid(epoch) || !meta_record_valid(m, kind))
		goto out;
	meta_record_write(m, rec);
	wcur_init(&c, slot, V2_META_SLOT_LEN);
	wcur_u64be(&c, epoch);
	meta_slot_aad(bound, epoch, aad);
	err = aead_seal(key, aad, sizeof(aad), rec, sizeof(rec),
			slot + SLOT_SEALED_OFF);
out:
	if (err)
		memset(slot, 0, V2_META_SLOT_LEN);
	OPENSSL_cleanse(rec, sizeof(rec));
	return err;
}

int meta_slot_open(const uint8_t key[COFFRE_KEY_LEN],
		   const uint8_t bound[V2_BOUND_LEN], const uint8_t *slot,
		   size_t len, uint8_t kind, uint64_t *epoch,
		   struct meta_record *m)
{
	uint8_t sealed[SLOT_SEALED_LEN], rec[V2_META_REC_LEN];
	uint8_t aad[V2_META_AAD_LEN];
	struct rcur c;
	uint64_t e;
	bool tail_zero;
	int err = -EINVAL;

	*epoch = 0;
	memset(m, 0, sizeof(*m));
	memset(rec, 0, sizeof(rec));
	if (len != V2_META_SLOT_LEN)
		return -EINVAL;
	if (bytes_zero(slot, len))
		return -ENODATA;
	rcur_init(&c, slot, len);
	e = rcur_u64be(&c);
	rcur_bytes(&c, sealed, sizeof(sealed));
	tail_zero = rcur_zero(&c, V2_META_SLOT_LEN - SLOT_TAIL_OFF);
	if (!rcur_done(&c))
		goto out;
	err = -EBADMSG;
	if (!tail_zero || !v2_epoch_valid(e))
		goto out;
	meta_slot_aad(bound, e, aad);
	err = aead_open(key, aad, sizeof(aad), sealed, sizeof(sealed), rec);
	if (err)
		goto out;
	/* Authentic, yet not a record: only a holder of the key writes that. */
	err = meta_record_parse(rec, sizeof(rec), kind, m);
	if (err)
		goto out;
	*epoch = e;
out:
	OPENSSL_cleanse(rec, sizeof(rec));
	if (err) {
		*epoch = 0;
		memset(m, 0, sizeof(*m));
	}
	return err;
}

enum meta_slot_state meta_slot_state_of(int open_result)
{
	switch (open_result) {
	case 0:
		return V2_SLOT_AUTHENTIC;
	case -ENODATA:
		return V2_SLOT_EMPTY;
	case -EBADMSG:
		return V2_SLOT_BAD;
	default:
		return V2_SLOT_MALFORMED;
	}
}

int meta_slot_pick(const struct meta_slot_view v[2], bool *stale_bad)
{
	bool auth0 = v[0].state == V2_SLOT_AUTHENTIC;
	bool auth1 = v[1].state == V2_SLOT_AUTHENTIC;
	int cur;

	if (stale_bad)
		*stale_bad = false;
	if (v[0].state == V2_SLOT_MALFORMED || v[1].state == V2_SLOT_MALFORMED)
		return -EBADMSG;
	if (!auth0 && !auth1)
		return -EBADMSG;
	if (auth0 && auth1) {
		if (v[0].epoch == v[1].epoch &&
		    memcmp(&v[0].rec, &v[1].rec, sizeof(v[0].rec)) != 0)
			return -EBADMSG;
		return v[1].epoch > v[0].epoch ? 1 : 0;
	}
	cur = auth0 ? 0 : 1;
	if (stale_bad)
		*stale_bad = v[1 - cur].state == V2_SLOT_BAD;
	return cur;
}

int meta_slots_read(const uint8_t key[COFFRE_KEY_LEN],
		    const uint8_t bound[V2_BOUND_LEN],
		    const uint8_t slot0[V2_META_SLOT_LEN],
		    const uint8_t slot1[V2_META_SLOT_LEN], uint8_t kind,
		    uint64_t *epoch, struct meta_record *m, bool *stale_bad)
{
	const uint8_t *slots[2] = { slot0, slot1 };
	struct meta_slot_view v[2];
	int cur;

	for (int i = 0; i < 2; i++) {
		int r = meta_slot_open(key, bound, slots[i], V2_META_SLOT_LEN,
				       kind, &v[i].epoch, &v[i].rec);

		v[i].state = meta_slot_state_of(r);
	}
	cur = meta_slot_pick(v, stale_bad);
	if (cur < 0) {
		*epoch = 0;
		memset(m, 0, sizeof(*m));
	} else {
		*epoch = v[cur].epoch;
		*m = v[cur].rec;
	}
	OPENSSL_cleanse(v, sizeof(v));
	return cur;
}

int meta_slot_next(int current, uint64_t cur_epoch, uint64_t new_epoch)
{
	if (current > 1 || !v2_epoch_valid(new_epoch))
		return -EINVAL;
	if (current < 0)
		return 0;
	if (new_epoch <= cur_epoch)
		return -EINVAL;
	return 1 - current;
}
