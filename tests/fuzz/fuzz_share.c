/*
 * libFuzzer target for the Shamir share parsers (src/shamir/share.c, layout
 * in include/coffre/shamir.h): neither parser ever crashes; a text share
 * that parses re-serialises to a text that parses to the same share (and,
 * when the input used "\n" line ends and ended with one, to exactly the
 * input); a binary share that parses re-serialises to exactly the input.
 * Seeds: tests/fuzz/corpus/share/, written by tests/unit/shamir/kat.py --seeds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/shamir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_share(const struct shamir_share *a,
		       const struct shamir_share *b)
{
	if (a->threshold != b->threshold || a->index != b->index ||
	    a->secret_len != b->secret_len ||
	    memcmp(a->set_id, b->set_id, sizeof(a->set_id)) != 0 ||
	    memcmp(a->y, b->y, (size_t)a->secret_len + SHAMIR_CHECK_LEN) != 0 ||
	    memcmp(a->sum, b->sum, sizeof(a->sum)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct shamir_share s, back;
	static char txt[SHAMIR_SHARE_TEXT_MAX];
	static uint8_t bin[SHAMIR_SHARE_BIN_MAX];
	int rc, n;

	rc = shamir_share_parse_text((const char *)data, size, &s);
	if (rc == 0) {
		n = shamir_share_write_text(&s, txt, sizeof(txt));
		if (n < 0 || shamir_share_parse_text(txt, (size_t)n, &back) != 0)
			abort();
		same_share(&s, &back);
		if (memchr(data, '\r', size) == NULL && size > 0 &&
		    data[size - 1] == '\n' &&
		    ((size_t)n != size || memcmp(txt, data, size) != 0))
			abort();
	} else if (rc != -EINVAL && rc != -EBADMSG) {
		abort();
	}

	rc = shamir_share_parse(data, size, &s);
	if (rc == 0) {
		n = shamir_share_write(&s, bin, sizeof(bin));
		if (n < 0 || (size_t)n != size || memcmp(bin, data, size) != 0)
			abort();
	} else if (rc != -EINVAL && rc != -EBADMSG) {
		abort();
	}
	return 0;
}
