/*
 * coffre.c — the FUSE daemon's entry point:
 *   coffre BACKING MOUNTPOINT [-o pin_file=FILE,allow_other,...] [-f] [-d]
 * the form mount.fuse3 uses for `fuse.coffre` lines in /etc/fstab.
 * Returns once the mount is ready (or failed, with a one-line reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/fs.h"

static void usage(void)
{
	printf("usage: coffre BACKING MOUNTPOINT [-o OPTIONS] [-f] [-d]\n"
	       "\n"
	       "Mount the coffre volume in BACKING on MOUNTPOINT.\n"
	       "\n"
	       "options:\n"
	       "  -o pin_file=FILE   HSM user PIN (root-owned, mode 0600); or a systemd\n"
	       "                     credential named coffre-pin\n"
	       "  -o allow_other     let other users in (file modes are enforced)\n"
	       "  -o log_file=FILE   log there instead of syslog\n"
	       "  -o max_inodes=N    inodes the daemon holds for the kernel (200 bytes\n"
	       "                     each) before it asks the kernel to forget the least\n"
	       "                     recently used, default 131072, 64 or more\n"
	       "  -o ro, nosuid, nodev, noexec, noatime, ...   generic mount options\n"
	       "  -f                 stay in the foreground (log to stderr)\n"
	       "  -d                 FUSE debug output (implies -f)\n");
}

int main(int argc, char **argv)
{
	struct fs_opts o;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage();
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("coffre %s\n", COFFRE_VERSION);
		return 0;
	}
	if (fs_parse_args(argc, argv, &o)) {
		fs_opts_free(&o);
		return 2;
	}
	ret = fs_run(&o);
	fs_opts_free(&o);
	return ret;
}
