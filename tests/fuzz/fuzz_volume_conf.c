/*
 * libFuzzer target for volume_conf_parse().  Never crashes; for accepted
 * input: the MAC line starts at body_len and ends the text; the canonical
 * rewrite (write_body + write_mac) parses to the same values, and rewriting
 * that gives the same bytes again (parse -> write is a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out1[COFFRE_CONF_MAX + 1], out2[COFFRE_CONF_MAX + 1];

/* Serialise c canonically into out; the length, or abort. */
static size_t rewrite(const struct volume_conf *c, char *out)
{
	int body = volume_conf_write_body(c, out, COFFRE_CONF_MAX + 1);
	int total;

	if (body < 0)
		abort();
	total = volume_conf_write_mac(c->mac, out, (size_t)body,
				      COFFRE_CONF_MAX + 1);
	if (total < 0)
		abort();
	return (size_t)total;
}

static bool same_values(const struct volume_conf *a,
			const struct volume_conf *b)
{
	if (a->format != b->format || a->seg_size != b->seg_size ||
	    a->strict_holes != b->strict_holes ||
	    a->mk_version != b->mk_version || a->n_hsms != b->n_hsms ||
	    memcmp(a->uuid, b->uuid, sizeof(a->uuid)) != 0 ||
	    memcmp(a->root_id, b->root_id, sizeof(a->root_id)) != 0 ||
	    memcmp(a->kcv, b->kcv, sizeof(a->kcv)) != 0 ||
	    memcmp(a->mac, b->mac, sizeof(a->mac)) != 0)
		return false;
	for (unsigned i = 0; i < a->n_hsms; i++)
		if (strcmp(a->hsm[i], b->hsm[i]) != 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct volume_conf c, c1;
	const char *text = (const char *)data;
	size_t n1, n2;

	if (volume_conf_parse(text, size, &c) != 0)
		return 0;
	if (c.body_len >= size || size - c.body_len != 71 ||
	    memcmp(text + c.body_len, "mac = ", 6) != 0 ||
	    text[size - 1] != '\n')
		abort();
	n1 = rewrite(&c, out1);
	if (volume_conf_parse(out1, n1, &c1) != 0 || !same_values(&c, &c1))
		abort();
	n2 = rewrite(&c1, out2);
	if (n2 != n1 || memcmp(out1, out2, n1) != 0 || c1.body_len != n1 - 71)
		abort();
	return 0;
}
