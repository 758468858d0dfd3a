/*
 * Write intents, `.coffre/manifest/intent.<g>` (doc/FORMAT.md §12.4):
 * 48-byte records, appended,
 *
 *   kind u8 (1 content) | zero[3] | first group u32 | group count u32 |
 *   zero[4] | object id[16] |
 *   the first 16 bytes of HMAC-SHA256(table key, uuid ‖ u64be(g) ‖
 *     u32be(record index) ‖ bytes 0..32)
 *
 * with record index = byte offset / 48.  A reader takes the leading
 * records that are whole and verify and stops at the first that is short
 * or fails (a torn append).  A record that verifies but breaks a field
 * rule is no torn append, and refuses the file.  Rule the spec leaves
 * implicit, chosen strict: the range first .. first + count - 1 fits in a
 * u32 group number.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/v2/table.h"
#include "table_priv.h"

#define BODY_LEN (V2_INTENT_LEN - V2_INTENT_MAC_LEN)
#define MAC_IN_LEN (COFFRE_ID_LEN + 8 + 4 + BODY_LEN)

/* The full HMAC of record `index`, whose bytes 0..32 are body. */
static int intent_mac(const uint8_t key[COFFRE_KEY_LEN],
		      const uint8_t uuid[COFFRE_ID_LEN], uint64_t g,
		      uint32_t index, const uint8_t body[BODY_LEN],
		      uint8_t mac[COFFRE_MAC_LEN])
{
	uint8_t in[MAC_IN_LEN];
	struct wcur c;

	wcur_init(&c, in, sizeof(in));
	wcur_bytes(&c, uuid, COFFRE_ID_LEN);
	wcur_u64be(&c, g);
	wcur_u32be(&c, index);
	wcur_bytes(&c, body, BODY_LEN);
	return hmac_sha256(key, COFFRE_KEY_LEN, in, sizeof(in), mac);
}

bool intent_valid(const struct intent *in)
{
	return in->kind == V2_INTENT_CONTENT && in->group_count >= 1 &&
	       (uint64_t)in->first_group + in->group_count <=
		       (uint64_t)UINT32_MAX + 1;
}

int intent_write(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
		 uint64_t g, uint32_t index, const struct intent *in,
		 uint8_t out[V2_INTENT_LEN])
{
	uint8_t mac[COFFRE_MAC_LEN];
	struct wcur c;
	int err;

	memset(out, 0, V2_INTENT_LEN);
	if (!intent_valid(in))
		return -EINVAL;
	wcur_init(&c, out, V2_INTENT_LEN);
	wcur_u8(&c, in->kind);
	wcur_zero(&c, 3);
	wcur_u32be(&c, in->first_group);
	wcur_u32be(&c, in->group_count);
	wcur_zero(&c, 4);
	wcur_bytes(&c, in->object_id, COFFRE_ID_LEN);
	err = intent_mac(key, uuid, g, index, out, mac);
	if (err)
		memset(out, 0, V2_INTENT_LEN);
	else
		wcur_bytes(&c, mac, V2_INTENT_MAC_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return err;
}

int intent_parse(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
		 uint64_t g, uint32_t index, const uint8_t *buf, size_t len,
		 struct intent *in)
{
	uint8_t body[BODY_LEN], tag[V2_INTENT_MAC_LEN], mac[COFFRE_MAC_LEN];
	struct rcur c;
	bool zero;
	int err;

	memset(in, 0, sizeof(*in));
	if (len != V2_INTENT_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, body, sizeof(body));
	rcur_bytes(&c, tag, sizeof(tag));
	err = mac_check(intent_mac(key, uuid, g, index, body, mac), mac, tag,
			sizeof(tag));
	if (err)
		return err;
	/* authenticated from here on */
	rcur_init(&c, body, sizeof(body));
	in->kind = rcur_u8(&c);
	zero = rcur_zero(&c, 3);
	in->first_group = rcur_u32be(&c);
	in->group_count = rcur_u32be(&c);
	zero = rcur_zero(&c, 4) && zero;
	rcur_bytes(&c, in->object_id, sizeof(in->object_id));
	if (!zero || !rcur_done(&c) || !intent_valid(in)) {
		memset(in, 0, sizeof(*in));
		return -EINVAL;
	}
	return 0;
}

int intent_scan(const uint8_t key[COFFRE_KEY_LEN], const uint8_t uuid[COFFRE_ID_LEN],
		uint64_t g, const uint8_t *buf, size_t len, struct intent *out,
		size_t cap, size_t *count)
{
	size_t records = len / V2_INTENT_LEN, n;
	struct rcur c;

	*count = 0;
	if (records > UINT32_MAX)
		records = (size_t)UINT32_MAX + 1;   /* indexes 0..2^32-1 */
	rcur_init(&c, buf, len);
	for (n = 0; n < records && (!out || n < cap); n++) {
		uint8_t rec[V2_INTENT_LEN];
		struct intent in;
		int err;

		rcur_bytes(&c, rec, sizeof(rec));
		err = intent_parse(key, uuid, g, (uint32_t)n, rec, sizeof(rec), &in);
		if (err == -EBADMSG)
			break;
		if (err) {
			if (out)
				memset(out, 0, n * sizeof(*out));
			return err;
		}
		if (out)
			out[n] = in;
	}
	*count = n;
	return 0;
}
