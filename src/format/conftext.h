/*
 * conftext.h — the line syntax shared by the two text configurations,
 * the volume's `.coffre.conf` (volume.c) and the mount configuration
 * `/etc/coffre/NAME.conf` (mountconf.c): doc/FORMAT-v1.md §6 and
 * doc/FORMAT.md §10.  Private to src/format.
 */
#ifndef COFFRE_FORMAT_CONFTEXT_H
#define COFFRE_FORMAT_CONFTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_SEP " = "
#define CONF_SEP_LEN 3
#define CONF_URI_SCHEME "pkcs11:"

/* The first line of a volume config, both versions. */
#define CONF_VOLUME_COMMENT \
	"# coffre volume \xe2\x80\x94 written by coffrectl; edits break its MAC"

struct wcur;

/* One `key = value` line: pointers into the text, no NUL. */
struct conf_line {
	const char *key, *val;
	size_t key_len, val_len;
	size_t start;                 /* offset of the line in the text */
};

/* Strict UTF-8 (RFC 3629) with no control character but '\n'. */
bool conf_text_valid(const uint8_t *s, size_t len);
/*
 * The next `key = value` line at *pos, skipping empty lines and '#'
 * comments.  Returns 1 (l filled, *pos past the line), 0 at the end, or
 * -EINVAL for a line without its '\n', longer than line_max bytes, or
 * without " = ".
 */
int conf_next_line(const char *text, size_t len, size_t *pos, size_t line_max,
		   struct conf_line *l);
/* Canonical decimal u32: 1..10 digits, no sign, no leading zero. */
int conf_parse_u32(const char *v, size_t len, uint32_t *out);
/* Shape of an RFC 7512 PKCS#11 URI: "pkcs11:", then printable ASCII
 * without space, shorter than max bytes. */
bool conf_uri_valid(const char *v, size_t len, size_t max);
/* True if key[0..len) is the NUL-terminated name. */
bool conf_key_is(const char *key, size_t len, const char *name);

/* "x25519:" and 64 hex digits: a recovery public key. */
int conf_parse_x25519(const char *v, size_t len, uint8_t pub[32]);
/* "K/N", canonical decimals, 2 <= K <= N <= 255: custodians' shares. */
int conf_parse_shares(const char *v, size_t len, uint8_t *k, uint8_t *n);
/* Writers: a `key = value` line, its value in hex (len <= 32), canonical
 * decimal, or "x25519:<hex>" and "K/N"; into a cursor (sticky overflow). */
void conf_put_str(struct wcur *w, const char *s);
void conf_put_line(struct wcur *w, const char *key, const char *value);
void conf_put_hex(struct wcur *w, const char *key, const uint8_t *v, size_t len);
void conf_put_u64(struct wcur *w, const char *key, uint64_t v);
void conf_put_x25519(struct wcur *w, const char *key, const uint8_t pub[32]);
void conf_put_shares(struct wcur *w, const char *key, uint8_t k, uint8_t n);

#endif
