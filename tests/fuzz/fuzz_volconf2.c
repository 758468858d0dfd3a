/*
 * libFuzzer target for volconf2_parse() (doc/FORMAT.md §10.1).  Never
 * crashes; every refusal says why; for accepted input the mac line starts
 * at body_len and ends the text, the canonical rewrite parses to the same
 * values, and rewriting that gives the same bytes (a fixed point: the
 * syntax allows comments and any key order, so the input itself need not
 * be canonical).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/v2/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out1[V2_CONF_MAX + 1], out2[V2_CONF_MAX + 1];

static size_t rewrite(const struct volconf2 *c, char *out)
{
	int body = volconf2_write_body(c, out, V2_CONF_MAX + 1);
	int total;

	if (body < 0)
		abort();
	total = volconf2_write_mac(c->mac, out, (size_t)body, V2_CONF_MAX + 1);
	if (total < 0)
		abort();
	return (size_t)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct volconf2 c, c1;
	const char *text = (const char *)data, *why;
	size_t n1, n2;

	if (volconf2_parse(text, size, &c, &why) != 0) {
		if (!why)
			abort();
		return 0;
	}
	if (why || c.body_len >= size || size - c.body_len != 71 ||
	    memcmp(text + c.body_len, "mac = ", 6) != 0)
		abort();
	n1 = rewrite(&c, out1);
	if (volconf2_parse(out1, n1, &c1, NULL) != 0 ||
	    memcmp(&c, &c1, offsetof(struct volconf2, body_len)) != 0)
		abort();
	n2 = rewrite(&c1, out2);
	if (n2 != n1 || memcmp(out1, out2, n1) != 0 || c1.body_len != n1 - 71)
		abort();
	return 0;
}
