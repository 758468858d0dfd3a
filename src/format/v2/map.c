/*
 * Map object slots, `.coffre/maps/<32 hex file id>` (doc/FORMAT.md §5.2):
 * the slot pair of group k at k * 8336, slot 0 at +0 and slot 1 at +4168,
 *
 *   slot = "CFRP" | version u8 (2) | 0[3] | file_id[16] | group u32be |
 *          count u32be | version u64be (gen << 24) | 512 x u64be epoch |
 *          HMAC-SHA256(map key, bytes 0..4136)
 *
 * MACed, not encrypted (epochs are not secret).  The MAC is checked, in
 * constant time, before any field is looked at; then the rule of §5.2
 * selects the slot that matches the committed MAP entry.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "coffre/v2/object.h"

uint64_t map_slot_offset(uint32_t group, unsigned slot)
{
	return (uint64_t)group * V2_MAP_PAIR_LEN +
	       (slot ? V2_MAP_SLOT_LEN : 0);
}

static bool entry_valid(uint64_t e, bool legacy)
{
	if (e == 0)
		return true;
	/* A legacy file's map holds marks only (§4); a native one epochs. */
	return legacy ? (e & V2_LEGACY_MARK) != 0 : v2_epoch_valid(e);
}

static bool slot_fields_valid(const struct map_slot *s, bool legacy)
{
	if (s->count < 1 || s->count > V2_MAP_ENTRIES)
		return false;
	if ((s->version & V2_SEQ_MAX) != 0 ||
	    !v2_gen_valid(v2_epoch_gen(s->version)))
		return false;
	for (uint32_t i = 0; i < V2_MAP_ENTRIES; i++) {
		if (i >= s->count ? s->epoch[i] != 0 :
				    !entry_valid(s->epoch[i], legacy))
			return false;
	}
	return true;
}

int map_slot_parse(const uint8_t *buf, size_t len, bool legacy,
		   struct map_slot *s)
{
	struct rcur c;
	uint8_t magic[4], version;
	bool reserved_zero;
	int err = -EINVAL;

	memset(s, 0, sizeof(*s));
	if (len != V2_MAP_SLOT_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, sizeof(magic));
	version = rcur_u8(&c);
	reserved_zero = rcur_zero(&c, 3);
	rcur_bytes(&c, s->file_id, sizeof(s->file_id));
	s->group = rcur_u32be(&c);
	s->count = rcur_u32be(&c);
	s->version = rcur_u64be(&c);
	for (int i = 0; i < V2_MAP_ENTRIES; i++)
		s->epoch[i] = rcur_u64be(&c);
	/* The MAC: map_slot_open's concern. */
	(void)rcur_zero(&c, COFFRE_MAC_LEN);
	if (!rcur_done(&c))
		goto out;
	err = v2_magic_check(magic, V2_MAP_MAGIC, version);
	if (err)
		goto out;
	err = -EINVAL;
	if (!reserved_zero || !slot_fields_valid(s, legacy))
		goto out;
	err = 0;
out:
	if (err)
		memset(s, 0, sizeof(*s));
	return err;
}

/* HMAC-SHA256(key, bytes 0..4136): both directions use it. */
static int slot_mac(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *buf,
		    uint8_t mac[COFFRE_MAC_LEN])
{
	return hmac_sha256(key, COFFRE_KEY_LEN, buf, V2_MAP_MAC_OFF, mac);
}

int map_slot_write(const struct map_slot *s, const uint8_t key[COFFRE_KEY_LEN],
		   uint8_t out[V2_MAP_SLOT_LEN])
{
	struct wcur c;
	int err;

	wcur_init(&c, out, V2_MAP_SLOT_LEN);
	wcur_bytes(&c, V2_MAP_MAGIC, 4);
	wcur_u8(&c, COFFRE_V2_VERSION);
	wcur_zero(&c, 3);
	wcur_bytes(&c, s->file_id, sizeof(s->file_id));
	wcur_u32be(&c, s->group);
	wcur_u32be(&c, s->count);
	wcur_u64be(&c, s->version);
	for (int i = 0; i < V2_MAP_ENTRIES; i++)
		wcur_u64be(&c, s->epoch[i]);
	err = slot_mac(key, out, out + V2_MAP_MAC_OFF);
	if (err)
		memset(out, 0, V2_MAP_SLOT_LEN);
	return err;
}

int map_slot_open(const uint8_t key[COFFRE_KEY_LEN], const uint8_t *buf,
		  size_t len, bool legacy, struct map_slot *s)
{
	uint8_t mac[COFFRE_MAC_LEN];
	int err;

	memset(s, 0, sizeof(*s));
	if (buf == NULL || len != V2_MAP_SLOT_LEN)
		return -EINVAL;
	if (bytes_zero(buf, len))
		return -ENODATA;
	err = mac_check(slot_mac(key, buf, mac), mac, buf + V2_MAP_MAC_OFF,
			sizeof(mac));
	if (err)
		return err;
	return map_slot_parse(buf, len, legacy, s);
}

static bool slot_matches(const struct map_slot_view *v,
			 const struct map_expect *e)
{
	return v->result == 0 && v->s.version == e->version;
}

int map_slot_select(const struct map_slot_view v[2],
		    const struct map_expect *e)
{
	bool m0 = slot_matches(&v[0], e), m1 = slot_matches(&v[1], e);
	int cur;

	if (m0 == m1)           /* neither holds V, or both claim it */
		return -EBADMSG;
	cur = m0 ? 0 : 1;
	if (memcmp(v[cur].s.file_id, e->file_id, COFFRE_ID_LEN) != 0 ||
	    v[cur].s.group != e->group || v[cur].s.count != e->count)
		return -EBADMSG;
	return cur;
}
