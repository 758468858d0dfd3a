/*
 * libFuzzer target for mount_conf_parse() (/etc/coffre/NAME.conf).  Never
 * crashes; for accepted input: every path is absolute and normal, 1..8
 * URIs; the canonical rewrite parses to the same struct, and rewriting
 * that gives the same bytes again (parse -> write is a fixed point).  Also
 * exercises the NAME check on the input's first line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out1[COFFRE_MOUNT_CONF_MAX + 1], out2[COFFRE_MOUNT_CONF_MAX + 1];
static struct mount_conf c, c1, c2;

static void check_name(const uint8_t *data, size_t size)
{
	char name[COFFRE_MOUNT_NAME_MAX + 2], file[COFFRE_MOUNT_FILE_MAX];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	bool ok;

	memcpy(name, data, n);
	name[n] = '\0';
	ok = mount_conf_name_valid(name);
	if (ok != (mount_conf_file_name(name, file) == 0))
		abort();
	if (ok && (strlen(file) != strlen(name) + 5 || strchr(name, '/') ||
		   strchr(name, '.')))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int n1, n2;

	check_name(data, size);
	if (mount_conf_parse((const char *)data, size, &c) != 0)
		return 0;
	if (c.n_hsms < 1 || c.n_hsms > COFFRE_MAX_HSMS ||
	    !mount_conf_path_valid(c.backing, strlen(c.backing)) ||
	    (c.pin_file[0] && !mount_conf_path_valid(c.pin_file, strlen(c.pin_file))) ||
	    (c.bucket[0] && !mount_conf_path_valid(c.bucket, strlen(c.bucket))))
		abort();
	n1 = mount_conf_write(&c, out1, sizeof(out1));
	if (n1 < 0 || mount_conf_parse(out1, (size_t)n1, &c1) != 0 ||
	    memcmp(&c, &c1, sizeof(c)) != 0)
		abort();
	n2 = mount_conf_write(&c1, out2, sizeof(out2));
	if (n2 != n1 || memcmp(out1, out2, (size_t)n1) != 0 ||
	    mount_conf_parse(out2, (size_t)n2, &c2) != 0)
		abort();
	return 0;
}
