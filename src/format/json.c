/*
 * json.c — the one JSON string writer (RFC 8259 §7), for `coffrectl status
 * --json` (written by the daemon, src/fs/control.c) and `coffrectl verify
 * --json` (src/cli/verify.c).  It lives in src/format, the lowest module
 * both may call (fs and cli sit above it; format is bounded serialisation,
 * libc only), so neither calls upward nor keeps its own copy.
 *
 * The output is always valid JSON whatever the bytes: quote and backslash
 * are escaped, control characters and DEL become \u00XX, well-formed UTF-8
 * passes through as is, and any other byte (paths are bytes, not text) is
 * written as \u00XX, the code point of the same value.
 */
#include <stdio.h>

#include "coffre/format.h"

/* Length of the well-formed UTF-8 sequence at s (2 to 4), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)   /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;   /* overlong or a surrogate */
	if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return n;
}

void json_write_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			fputc(*p++, f);
		} else if ((n = utf8_seq(p))) {
			fwrite(p, 1, n, f);
			p += n;
		} else {
			fprintf(f, "\\u%04x", *p++);
		}
	}
	fputc('"', f);
}
