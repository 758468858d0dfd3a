/*
 * fuzz_mount_opts.c — libFuzzer target for the daemon's command line
 * (src/fs/options.c), the parser of what fstab and mount.fuse3 hand us.
 * The input is split on NUL bytes into argv.  A parse that succeeds must
 * have exactly two positional arguments and an option string libfuse can
 * take (no empty options, no doubled commas).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/fs.h"

#define MAX_ARGV 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[MAX_ARGV + 1];
	struct fs_opts o;
	int argc = 1;
	size_t i, start = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "coffre";
	for (i = 0; i <= size && argc < MAX_ARGV; i++) {
		if (buf[i] == '\0') {
			argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	if (fs_parse_args(argc, argv, &o) == 0) {
		size_t len = strlen(o.fuse_opts);

		/* Both, or neither with conf= (its backing and mountpoint). */
		if (!o.backing != !o.mountpoint || (!o.backing && !o.conf))
			abort();
		if (len && (o.fuse_opts[0] == ',' || o.fuse_opts[len - 1] == ',' ||
			    strstr(o.fuse_opts, ",,")))
			abort();
	}
	fs_opts_free(&o);
	free(buf);
	return 0;
}
