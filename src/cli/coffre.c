/*
 * coffre.c — the FUSE daemon's entry point:
 *   coffre BACKING MOUNTPOINT -o conf=NAME[,pin_file=FILE,allow_other,...]
 *          [-f] [-d]
 * the form mount.fuse3 uses for `fuse.coffre` lines in /etc/fstab.  The
 * mount configuration NAME is read from COFFRE_CONFDIR (the build's
 * sysconfdir + "/coffre", or meson -Dconfdir=), compiled in: never taken
 * from the environment or the command line; so is COFFRE_LOGDIR, where it
 * logs when the system has no syslog socket.  Returns once the mount is
 * ready (or failed, with a one-line reason and an exit status of
 * coffre/exit.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/exit.h"
#include "coffre/fs.h"

#ifndef COFFRE_CONFDIR
#error "COFFRE_CONFDIR must be defined by the build (meson -Dconfdir=)"
#endif
#ifndef COFFRE_LOGDIR
#error "COFFRE_LOGDIR must be defined by the build (meson -Dlogdir=)"
#endif

static void usage(void)
{
	printf("usage: coffre BACKING MOUNTPOINT -o conf=NAME[,OPTIONS] [-f] [-d]\n"
	       "       coffre -o conf=NAME[,OPTIONS] [-f] [-d]   (its backing, mountpoint)\n"
	       "       coffre --help | --version\n"
	       "\n"
	       "Mount the coffre volume in BACKING on MOUNTPOINT (an empty directory,\n"
	       "not a mount of coffre already); return once it serves.\n"
	       "\n"
	       "  -f                 stay in the foreground (log to stderr)\n"
	       "  -d                 FUSE debug output (implies -f)\n"
	       "  -h, --help         this help\n"
	       "  -V, --version      the version\n"
	       "\n");
	fs_usage(stdout, COFFRE_CONFDIR, COFFRE_LOGDIR);
	printf("\n" COFFRE_EXIT_HELP);
}

int main(int argc, char **argv)
{
	struct fs_opts o;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage();
		return COFFRE_EXIT_OK;
	}
	if (argc == 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("coffre %s (mount configurations in %s)\n", COFFRE_VERSION,
		       COFFRE_CONFDIR);
		return COFFRE_EXIT_OK;
	}
	if (fs_parse_args(argc, argv, &o)) {
		fs_opts_free(&o);
		return COFFRE_EXIT_USAGE;
	}
	o.confdir = COFFRE_CONFDIR;
	o.logdir = COFFRE_LOGDIR;
	ret = fs_run(&o);
	fs_opts_free(&o);
	return ret;
}
