/*
 * The volume config `.coffre.conf` at the backing root (doc/FORMAT-v1.md,
 * "Volume config"): UTF-8 text (RFC 3629), one `key = value` per line, '#'
 * comment lines and empty lines allowed, every line ended by '\n', and a
 * last line `mac = <64 hex>` holding an HMAC-SHA256 (RFC 2104) over every
 * byte before it.  The MAC is computed and checked by the callers (its key
 * derives from the root DEK); this file parses the text, places the MAC line
 * and writes the body in one canonical form.
 *
 * The grammar is strict on purpose: exactly one space on each side of '=',
 * no trailing spaces, no CR, no control characters, canonical decimal
 * numbers and lowercase hex, each key once (`hsm` 1..8 times, in priority
 * order).  Anything else is -EINVAL; a format number other than 1 is
 * -EPROTONOSUPPORT.  HSM URIs (RFC 7512) are only checked for shape here
 * ("pkcs11:" prefix, printable ASCII without spaces, < 1024 bytes); p11-kit
 * parses them in src/hsm.
 */
#include <errno.h>
#include <string.h>

#include "coffre/format.h"
#include "conftext.h"

/* The longest valid line: "hsm = " and a 1023-byte URI. */
#define CONF_LINE_MAX (3 + CONF_SEP_LEN + COFFRE_URI_MAX - 1)
#define CONF_MAC_LINE_LEN (3 + CONF_SEP_LEN + 64 + 1)

enum conf_key {
	K_FORMAT, K_UUID, K_SEG_SIZE, K_STRICT_HOLES, K_ROOT_ID, K_MK_VERSION,
	K_KCV, K_HSM, K_RECOVERY, K_SHARES, K_BUCKET, K_MAC, K_COUNT
};
/* Keys that may be absent: a volume made without custodians' shares or
 * without a bucket. */
#define OPTIONAL_KEYS ((1u << K_RECOVERY) | (1u << K_SHARES) | (1u << K_BUCKET))
static const char *const conf_key_names[K_COUNT] = {
	[K_FORMAT] = "format", [K_UUID] = "uuid",
	[K_SEG_SIZE] = "segment_size", [K_STRICT_HOLES] = "strict_holes",
	[K_ROOT_ID] = "root_id", [K_MK_VERSION] = "mk_version",
	[K_KCV] = "kcv", [K_HSM] = "hsm", [K_RECOVERY] = "recovery_key",
	[K_SHARES] = "shares", [K_BUCKET] = "bucket", [K_MAC] = "mac",
};

static int lookup_key(const char *k, size_t len, enum conf_key *out)
{
	for (int i = 0; i < K_COUNT; i++) {
		if (conf_key_is(k, len, conf_key_names[i])) {
			*out = (enum conf_key)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Check one value and store it into c (hsm lines append in order). */
static int parse_entry(enum conf_key key, const char *v, size_t len,
		       struct volume_conf *c)
{
	uint32_t u;
	int err;

	switch (key) {
	case K_FORMAT:
		err = conf_parse_u32(v, len, &u);
		if (err)
			return err;
		if (u != COFFRE_FORMAT_VERSION)
			return -EPROTONOSUPPORT;
		c->format = u;
		return 0;
	case K_UUID:
		return hex_decode(v, len, c->uuid, sizeof(c->uuid));
	case K_SEG_SIZE:
		err = conf_parse_u32(v, len, &u);
		if (err || !seg_size_valid(u))
			return -EINVAL;
		c->seg_size = u;
		return 0;
	case K_STRICT_HOLES:
		if (len != 1 || (v[0] != '0' && v[0] != '1'))
			return -EINVAL;
		c->strict_holes = v[0] == '1';
		return 0;
	case K_ROOT_ID:
		return hex_decode(v, len, c->root_id, sizeof(c->root_id));
	case K_MK_VERSION:
		err = conf_parse_u32(v, len, &u);
		if (err || u == 0)
			return -EINVAL;
		c->mk_version = u;
		return 0;
	case K_KCV:
		return hex_decode(v, len, c->kcv, sizeof(c->kcv));
	case K_HSM:
		if (c->n_hsms >= COFFRE_MAX_HSMS || !conf_uri_valid(v, len, COFFRE_URI_MAX))
			return -EINVAL;
		memcpy(c->hsm[c->n_hsms], v, len);
		c->hsm[c->n_hsms][len] = '\0';
		c->n_hsms++;
		return 0;
	case K_RECOVERY:
		err = conf_parse_x25519(v, len, c->recovery_pub);
		if (!err)
			c->has_recovery = true;
		return err;
	case K_SHARES:
		return conf_parse_shares(v, len, &c->shares_k, &c->shares_n);
	case K_BUCKET:
		/* an absolute path, printable ASCII or UTF-8, no control chars */
		if (len == 0 || len >= sizeof(c->bucket) || v[0] != '/')
			return -EINVAL;
		memcpy(c->bucket, v, len);
		c->bucket[len] = '\0';
		return 0;
	case K_MAC:
		return hex_decode(v, len, c->mac, sizeof(c->mac));
	case K_COUNT:
		break;
	}
	return -EINVAL;
}

int volume_conf_parse(const char *text, size_t len, struct volume_conf *c)
{
	struct conf_line l;
	unsigned seen = 0;
	size_t pos = 0;
	int err = -EINVAL, r;

	memset(c, 0, sizeof(*c));
	if (!text || len == 0 || len > COFFRE_CONF_MAX ||
	    !conf_text_valid((const uint8_t *)text, len))
		goto out;
	while ((r = conf_next_line(text, len, &pos, CONF_LINE_MAX, &l)) == 1) {
		enum conf_key key;

		if (lookup_key(l.key, l.key_len, &key) != 0)
			goto out;
		if (key != K_HSM && (seen & (1u << key)))
			goto out;               /* duplicate */
		seen |= 1u << key;
		if (key == K_MAC) {
			c->body_len = l.start;
			if (pos != len)
				goto out;       /* anything after the mac */
		}
		err = parse_entry(key, l.val, l.val_len, c);
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
	err = 0;
out:
	if (err)
		memset(c, 0, sizeof(*c));
	return err;
}

/* The struct describes a config volume_conf_parse() would accept. */
static bool conf_valid(const struct volume_conf *c)
{
	if (c->format != COFFRE_FORMAT_VERSION || !seg_size_valid(c->seg_size) ||
	    c->mk_version == 0 || c->n_hsms == 0 ||
	    c->n_hsms > COFFRE_MAX_HSMS)
		return false;
	if (c->has_recovery && (c->shares_k < 2 || c->shares_k > c->shares_n))
		return false;
	if (c->bucket[0] && (c->bucket[0] != '/' || strchr(c->bucket, '\n') ||
			     strnlen(c->bucket, sizeof(c->bucket)) == sizeof(c->bucket)))
		return false;
	for (unsigned i = 0; i < c->n_hsms; i++) {
		size_t n = strnlen(c->hsm[i], COFFRE_URI_MAX);

		if (n == COFFRE_URI_MAX || !conf_uri_valid(c->hsm[i], n, COFFRE_URI_MAX))
			return false;
	}
	return true;
}

int volume_conf_write_body(const struct volume_conf *c, char *out, size_t cap)
{
	struct wcur w;

	if (!conf_valid(c))
		return -EINVAL;
	wcur_init(&w, out, cap);
	conf_put_str(&w, CONF_VOLUME_COMMENT "\n");
	conf_put_u64(&w, conf_key_names[K_FORMAT], c->format);
	conf_put_hex(&w, conf_key_names[K_UUID], c->uuid, sizeof(c->uuid));
	conf_put_u64(&w, conf_key_names[K_SEG_SIZE], c->seg_size);
	conf_put_line(&w, conf_key_names[K_STRICT_HOLES], c->strict_holes ? "1" : "0");
	conf_put_hex(&w, conf_key_names[K_ROOT_ID], c->root_id, sizeof(c->root_id));
	conf_put_u64(&w, conf_key_names[K_MK_VERSION], c->mk_version);
	conf_put_hex(&w, conf_key_names[K_KCV], c->kcv, sizeof(c->kcv));
	for (unsigned i = 0; i < c->n_hsms; i++)
		conf_put_line(&w, conf_key_names[K_HSM], c->hsm[i]);
	if (c->has_recovery) {
		conf_put_x25519(&w, conf_key_names[K_RECOVERY], c->recovery_pub);
		conf_put_shares(&w, conf_key_names[K_SHARES], c->shares_k,
				c->shares_n);
	}
	if (c->bucket[0])
		conf_put_line(&w, conf_key_names[K_BUCKET], c->bucket);
	wcur_u8(&w, '\0');
	if (w.err)
		return -ENOSPC;
	return (int)(w.off - 1);
}

int volume_conf_write_mac(const uint8_t mac[32], char *out, size_t body_len,
			  size_t cap)
{
	struct wcur w;

	if (body_len > COFFRE_CONF_MAX - CONF_MAC_LINE_LEN)
		return -EINVAL;
	if (body_len > 0 && out[body_len - 1] != '\n')
		return -EINVAL;         /* the MAC must start a line */
	if (cap < body_len)
		return -ENOSPC;
	wcur_init(&w, out + body_len, cap - body_len);
	conf_put_hex(&w, conf_key_names[K_MAC], mac, 32);
	wcur_u8(&w, '\0');
	if (w.err)
		return -ENOSPC;
	return (int)(body_len + w.off - 1);
}
