/*
 * coffre.c — the FUSE daemon's entry point:
 *   coffre BACKING MOUNTPOINT -o conf=NAME[,pin_file=FILE,allow_other,...]
 *          [-f] [-d]
 * the form mount.fuse3 uses for `fuse.coffre` lines in /etc/fstab.  The
 * mount configuration NAME is read from COFFRE_CONFDIR (the build's
 * sysconfdir + "/coffre", or meson -Dconfdir=), compiled in: never taken
 * from the environment or the command line.  Returns once the mount is
 * ready (or failed, with a one-line reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/fs.h"

#ifndef COFFRE_CONFDIR
#error "COFFRE_CONFDIR must be defined by the build (meson -Dconfdir=)"
#endif

static void usage(void)
{
	printf("usage: coffre BACKING MOUNTPOINT -o conf=NAME[,OPTIONS] [-f] [-d]\n"
	       "\n"
	       "Mount the coffre volume in BACKING on MOUNTPOINT.\n"
	       "\n"
	       "options:\n"
	       "  -o conf=NAME       the mount configuration " COFFRE_CONFDIR "/NAME.conf\n"
	       "                     (root's, mode 0600): BACKING must be its backing\n"
	       "                     directory, the volume its uuid; the HSMs (and so the\n"
	       "                     PKCS#11 modules) are its hsm lines, never anything in\n"
	       "                     BACKING.  Required.  Written by `coffrectl init --conf\n"
	       "                     NAME`; an older volume moves over with `coffrectl conf\n"
	       "                     adopt BACKING NAME --hsm URI ...`\n"
	       "  -o pin_file=FILE   HSM user PIN (root-owned, mode 0600); default: the\n"
	       "                     configuration's pin_file, else a systemd credential\n"
	       "                     named coffre-pin\n"
	       "  -o bucket=DIR      replicate to DIR instead of the configuration's bucket\n"
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
		printf("coffre %s (mount configurations in %s)\n", COFFRE_VERSION,
		       COFFRE_CONFDIR);
		return 0;
	}
	if (fs_parse_args(argc, argv, &o)) {
		fs_opts_free(&o);
		return 2;
	}
	o.confdir = COFFRE_CONFDIR;
	ret = fs_run(&o);
	fs_opts_free(&o);
	return ret;
}
