/*
 * volume.c — the volume config `.coffre.conf`, version 2 (doc/FORMAT.md
 * §10.1): version 1's line syntax (conftext.c: strict UTF-8, `key = value`
 * lines, comments, canonical numbers and hex, `mac` last) with the keys
 * format (2), uuid, generation, segment_size, root_id, mk_version, kcv,
 * token (1..8, `<64 hex label> <32 hex serial>`, sorted, unique),
 * recovery_key and shares (both or neither) and mac.  Version 1's `hsm`,
 * `bucket` and `strict_holes` are refused with a message: HSMs and the
 * bucket live in /etc/coffre/NAME.conf (§10.2).  The MAC is
 * HMAC-SHA256(config key, bytes before the mac line), the key the caller's.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../conftext.h"
#include "coffre/v2/records.h"
#include "decimal.h"

/* Version 1's longest line ("hsm = " and a 1023-byte URI), longer than
 * any valid one here, so that a version 1 line reaches its message. */
#define CONF2_LINE_MAX (3 + CONF_SEP_LEN + COFFRE_URI_MAX - 1)
#define TOKEN_HEX_LEN (2 * V2_TOKEN_LABEL_LEN + 1 + 2 * V2_TOKEN_SERIAL_LEN)

enum conf2_key {
	K_FORMAT, K_UUID, K_GENERATION, K_SEG_SIZE, K_ROOT_ID, K_MK_VERSION,
	K_KCV, K_TOKEN, K_RECOVERY, K_SHARES, K_MAC, K_COUNT
};
#define OPTIONAL_KEYS ((1u << K_RECOVERY) | (1u << K_SHARES))
static const char *const key_names[K_COUNT] = {
	[K_FORMAT] = "format", [K_UUID] = "uuid",
	[K_GENERATION] = "generation", [K_SEG_SIZE] = "segment_size",
	[K_ROOT_ID] = "root_id", [K_MK_VERSION] = "mk_version",
	[K_KCV] = "kcv", [K_TOKEN] = "token", [K_RECOVERY] = "recovery_key",
	[K_SHARES] = "shares", [K_MAC] = "mac",
};
/* Version 1 keys whose values moved to the mount configuration. */
static const char *const moved_keys[] = { "hsm", "bucket", "strict_holes" };

#define WHY_MALFORMED "malformed volume config"
#define WHY_MOVED "hsm, bucket and strict_holes are not volume config keys " \
	"in format 2: HSMs and the bucket are configured in /etc/coffre/NAME.conf"
#define WHY_UPGRADE "volume format 1: run coffrectl upgrade"
#define WHY_VERSION "unknown volume format"

static int lookup_key(const char *k, size_t len, enum conf2_key *out)
{
	for (int i = 0; i < K_COUNT; i++) {
		if (conf_key_is(k, len, key_names[i])) {
			*out = (enum conf2_key)i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool moved_key(const char *k, size_t len)
{
	for (size_t i = 0; i < sizeof(moved_keys) / sizeof(moved_keys[0]); i++)
		if (conf_key_is(k, len, moved_keys[i]))
			return true;
	return false;
}

/* a < b, byte order of label || serial (the order of their hex lines). */
static bool token_less(const struct volconf2_token *a,
		       const struct volconf2_token *b)
{
	return memcmp(a, b, sizeof(*a)) < 0;
}

static int parse_token(const char *v, size_t len, struct volconf2 *c)
{
	struct volconf2_token *t = &c->token[c->n_tokens];

	if (c->n_tokens >= V2_CONF_TOKENS_MAX || len != TOKEN_HEX_LEN ||
	    v[2 * V2_TOKEN_LABEL_LEN] != ' ' ||
	    hex_decode(v, 2 * V2_TOKEN_LABEL_LEN, t->label, sizeof(t->label)) ||
	    hex_decode(v + 2 * V2_TOKEN_LABEL_LEN + 1, 2 * V2_TOKEN_SERIAL_LEN,
		       t->serial, sizeof(t->serial)))
		return -EINVAL;
	if (c->n_tokens > 0 && !token_less(&c->token[c->n_tokens - 1], t))
		return -EINVAL;         /* unsorted or duplicate */
	c->n_tokens++;
	return 0;
}

/* Check one value and store it into c (token lines append in order). */
static int parse_entry(enum conf2_key key, const char *v, size_t len,
		       struct volconf2 *c, const char **why)
{
	uint64_t u;

	switch (key) {
	case K_FORMAT:
		if (v2_dec_parse(v, len, 0, UINT32_MAX, &u))
			return -EINVAL;
		if (u == 1) {
			*why = WHY_UPGRADE;
			return -VOLCONF2_ENEEDS_UPGRADE;
		}
		if (u != COFFRE_V2_VERSION) {
			*why = WHY_VERSION;
			return -EPROTONOSUPPORT;
		}
		return 0;
	case K_UUID:
		return hex_decode(v, len, c->uuid, sizeof(c->uuid));
	case K_GENERATION:
		return v2_dec_parse(v, len, 1, V2_GEN_MAX, &c->generation);
	case K_SEG_SIZE:
		if (v2_dec_parse(v, len, 0, UINT32_MAX, &u) ||
		    !seg_size_valid((uint32_t)u))
			return -EINVAL;
		c->seg_size = (uint32_t)u;
		return 0;
	case K_ROOT_ID:
		return hex_decode(v, len, c->root_id, sizeof(c->root_id));
	case K_MK_VERSION:
		if (v2_dec_parse(v, len, 1, UINT32_MAX, &u))
			return -EINVAL;
		c->mk_version = (uint32_t)u;
		return 0;
	case K_KCV:
		return hex_decode(v, len, c->kcv, sizeof(c->kcv));
	case K_TOKEN:
		return parse_token(v, len, c);
	case K_RECOVERY:
		return conf_parse_x25519(v, len, c->recovery_pub);
	case K_SHARES:
		return conf_parse_shares(v, len, &c->shares_k, &c->shares_n);
	case K_MAC:
		return hex_decode(v, len, c->mac, sizeof(c->mac));
	case K_COUNT:
		break;
	}
	return -EINVAL;
}

int volconf2_parse(const char *text, size_t len, struct volconf2 *c,
		   const char **why)
{
	const char *reason = WHY_MALFORMED, *dummy;
	struct conf_line l;
	unsigned seen = 0;
	size_t pos = 0;
	int err = -EINVAL, r;

	if (!why)
		why = &dummy;
	*why = NULL;
	memset(c, 0, sizeof(*c));
	if (!text || len == 0 || len > V2_CONF_MAX ||
	    !conf_text_valid((const uint8_t *)text, len))
		goto out;
	while ((r = conf_next_line(text, len, &pos, CONF2_LINE_MAX, &l)) == 1) {
		enum conf2_key key;

		if (lookup_key(l.key, l.key_len, &key) != 0) {
			if (moved_key(l.key, l.key_len))
				reason = WHY_MOVED;
			goto out;
		}
		if (key != K_TOKEN && (seen & (1u << key)))
			goto out;               /* duplicate */
		seen |= 1u << key;
		if (key == K_MAC) {
			c->body_len = l.start;
			if (pos != len)
				goto out;       /* anything after the mac */
		}
		err = parse_entry(key, l.val, l.val_len, c, &reason);
		if (err)
			goto out;
		err = -EINVAL;
	}
	if (r < 0 || !(seen & (1u << K_MAC)))
		goto out;
	if ((seen | OPTIONAL_KEYS) != (1u << K_COUNT) - 1)   /* a key is missing */
		goto out;
	if (((seen >> K_RECOVERY) & 1) != ((seen >> K_SHARES) & 1))
		goto out;                       /* both or neither */
	c->has_recovery = seen & (1u << K_RECOVERY);
	err = 0;
out:
	if (err) {
		memset(c, 0, sizeof(*c));
		*why = reason;
	}
	return err;
}

/* The struct describes a config volconf2_parse() would accept. */
static bool conf2_valid(const struct volconf2 *c)
{
	if (!v2_gen_valid(c->generation) || !seg_size_valid(c->seg_size) ||
	    c->mk_version == 0 || c->n_tokens == 0 ||
	    c->n_tokens > V2_CONF_TOKENS_MAX)
		return false;
	if (c->has_recovery && (c->shares_k < 2 || c->shares_k > c->shares_n))
		return false;
	for (unsigned i = 1; i < c->n_tokens; i++)
		if (!token_less(&c->token[i - 1], &c->token[i]))
			return false;
	return true;
}

int volconf2_write_body(const struct volconf2 *c, char *out, size_t cap)
{
	struct wcur w;

	if (!conf2_valid(c))
		return -EINVAL;
	wcur_init(&w, out, cap);
	conf_put_str(&w, CONF_VOLUME_COMMENT "\n");
	conf_put_u64(&w, key_names[K_FORMAT], COFFRE_V2_VERSION);
	conf_put_hex(&w, key_names[K_UUID], c->uuid, sizeof(c->uuid));
	conf_put_u64(&w, key_names[K_GENERATION], c->generation);
	conf_put_u64(&w, key_names[K_SEG_SIZE], c->seg_size);
	conf_put_hex(&w, key_names[K_ROOT_ID], c->root_id, sizeof(c->root_id));
	conf_put_u64(&w, key_names[K_MK_VERSION], c->mk_version);
	conf_put_hex(&w, key_names[K_KCV], c->kcv, sizeof(c->kcv));
	for (unsigned i = 0; i < c->n_tokens; i++) {
		char v[TOKEN_HEX_LEN + 1];

		hex_encode(c->token[i].label, V2_TOKEN_LABEL_LEN, v);
		v[2 * V2_TOKEN_LABEL_LEN] = ' ';
		hex_encode(c->token[i].serial, V2_TOKEN_SERIAL_LEN,
			   v + 2 * V2_TOKEN_LABEL_LEN + 1);
		conf_put_line(&w, key_names[K_TOKEN], v);
	}
	if (c->has_recovery) {
		conf_put_x25519(&w, key_names[K_RECOVERY], c->recovery_pub);
		conf_put_shares(&w, key_names[K_SHARES], c->shares_k,
				c->shares_n);
	}
	wcur_u8(&w, '\0');
	if (w.err)
		return -ENOSPC;
	return (int)(w.off - 1);
}

int volconf2_write_mac(const uint8_t mac[COFFRE_MAC_LEN], char *out,
		       size_t body_len, size_t cap)
{
	/* the same mac line as version 1's */
	return volume_conf_write_mac(mac, out, body_len, cap);
}

int volconf2_mac(const uint8_t key[COFFRE_KEY_LEN], const char *body,
		 size_t body_len, uint8_t mac[COFFRE_MAC_LEN])
{
	return hmac_sha256(key, COFFRE_KEY_LEN, (const uint8_t *)body, body_len,
			   mac);
}

int volconf2_verify(const uint8_t key[COFFRE_KEY_LEN], const char *text,
		    const struct volconf2 *c)
{
	uint8_t mac[COFFRE_MAC_LEN];
	return mac_check(volconf2_mac(key, text, c->body_len, mac), mac, c->mac,
			 sizeof(mac));
}
