/*
 * decimal.c — canonical decimal numbers of format version 2 (doc/FORMAT.md
 * §0): one spelling per value, so 1..20 digits, no sign, no leading zero
 * (a lone "0" is the spelling of zero), checked against a range.
 */
#include <errno.h>

#include "decimal.h"

int v2_dec_parse(const char *s, size_t len, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	uint64_t v = 0;

	*out = 0;
	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}
