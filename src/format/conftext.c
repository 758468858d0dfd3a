/*
 * conftext.c — the line syntax of coffre's text configurations (volume.c's
 * `.coffre.conf`, mountconf.c's `/etc/coffre/NAME.conf`): strict UTF-8
 * (RFC 3629) without control characters, `\n`-terminated `key = value`
 * lines with exactly one space on each side of '=', '#' comments and empty
 * lines, canonical decimal numbers, and the shape of a PKCS#11 URI
 * (RFC 7512).  No I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/format.h"
#include "conftext.h"

#define CONF_X25519_PREFIX "x25519:"
#define CONF_X25519_PREFIX_LEN 7

/*
 * Strict UTF-8 (RFC 3629 §4: no overlong forms, no surrogates, nothing above
 * U+10FFFF) with no control characters other than '\n': so no NUL, no CR,
 * no tab, no DEL.
 */
bool conf_text_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;

		if (b < 0x80) {
			if ((b < 0x20 && b != '\n') || b == 0x7f)
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			n = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			n = 2;
			if (b == 0xe0)
				lo = 0xa0;      /* overlong */
			else if (b == 0xed)
				hi = 0x9f;      /* surrogates */
		} else if (b >= 0xf0 && b <= 0xf4) {
			n = 3;
			if (b == 0xf0)
				lo = 0x90;      /* overlong */
			else if (b == 0xf4)
				hi = 0x8f;      /* above U+10FFFF */
		} else {
			return false;
		}
		if (n > len - i - 1)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

int conf_next_line(const char *text, size_t len, size_t *pos, size_t line_max,
		   struct conf_line *l)
{
	while (*pos < len) {
		const char *line = text + *pos;
		const char *nl = memchr(line, '\n', len - *pos);
		const char *sep;
		size_t line_len;

		if (!nl)
			return -EINVAL;         /* unterminated */
		line_len = (size_t)(nl - line);
		if (line_len > line_max)
			return -EINVAL;
		if (line_len == 0 || line[0] == '#') {
			*pos += line_len + 1;
			continue;
		}
		sep = memmem(line, line_len, CONF_SEP, CONF_SEP_LEN);
		if (!sep)
			return -EINVAL;
		l->start = *pos;
		l->key = line;
		l->key_len = (size_t)(sep - line);
		l->val = sep + CONF_SEP_LEN;
		l->val_len = line_len - l->key_len - CONF_SEP_LEN;
		*pos += line_len + 1;
		return 1;
	}
	return 0;
}

int conf_parse_u32(const char *v, size_t len, uint32_t *out)
{
	uint64_t x = 0;

	if (len == 0 || len > 10 || (len > 1 && v[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

/* RFC 3986 percent-encodes everything that is not printable ASCII. */
bool conf_uri_valid(const char *v, size_t len, size_t max)
{
	size_t scheme = sizeof(CONF_URI_SCHEME) - 1;

	if (len < scheme || len >= max || memcmp(v, CONF_URI_SCHEME, scheme) != 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return false;
	return true;
}

bool conf_key_is(const char *key, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(key, name, len) == 0;
}

int conf_parse_x25519(const char *v, size_t len, uint8_t pub[32])
{
	if (len != CONF_X25519_PREFIX_LEN + 64 ||
	    memcmp(v, CONF_X25519_PREFIX, CONF_X25519_PREFIX_LEN)) {
		memset(pub, 0, 32);
		return -EINVAL;
	}
	return hex_decode(v + CONF_X25519_PREFIX_LEN, 64, pub, 32);
}

int conf_parse_shares(const char *v, size_t len, uint8_t *k, uint8_t *n)
{
	const char *slash = memchr(v, '/', len);
	uint32_t kk, nn;

	if (!slash || conf_parse_u32(v, (size_t)(slash - v), &kk) ||
	    conf_parse_u32(slash + 1, len - (size_t)(slash - v) - 1, &nn) ||
	    kk < 2 || kk > nn || nn > 255)
		return -EINVAL;
	*k = (uint8_t)kk;
	*n = (uint8_t)nn;
	return 0;
}

void conf_put_str(struct wcur *w, const char *s)
{
	wcur_bytes(w, s, strlen(s));
}

void conf_put_line(struct wcur *w, const char *key, const char *value)
{
	conf_put_str(w, key);
	conf_put_str(w, CONF_SEP);
	conf_put_str(w, value);
	conf_put_str(w, "\n");
}

void conf_put_hex(struct wcur *w, const char *key, const uint8_t *v, size_t len)
{
	char hex[2 * 32 + 1];

	hex_encode(v, len, hex);
	conf_put_line(w, key, hex);
}

void conf_put_u64(struct wcur *w, const char *key, uint64_t v)
{
	char dec[24];

	snprintf(dec, sizeof(dec), "%llu", (unsigned long long)v);
	conf_put_line(w, key, dec);
}

void conf_put_x25519(struct wcur *w, const char *key, const uint8_t pub[32])
{
	char v[CONF_X25519_PREFIX_LEN + 64 + 1];

	memcpy(v, CONF_X25519_PREFIX, CONF_X25519_PREFIX_LEN);
	hex_encode(pub, 32, v + CONF_X25519_PREFIX_LEN);
	conf_put_line(w, key, v);
}

void conf_put_shares(struct wcur *w, const char *key, uint8_t k, uint8_t n)
{
	char sh[8];

	snprintf(sh, sizeof(sh), "%u/%u", (unsigned)k, (unsigned)n);
	conf_put_line(w, key, sh);
}
