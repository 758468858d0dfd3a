/*
 * control_path.c — where a mount's control socket lives: a 0700 directory
 * under /run, one socket per mount point, named by SHA-256 of the mount
 * point's real path (so any spelling of the path finds it, and no path
 * length limit of sockaddr_un is hit).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/control.h"
#include "coffre/crypto.h"
#include "coffre/format.h"

int control_socket_path(const char *mountpoint, char *out, size_t cap)
{
	char real[PATH_MAX], hex[33];
	uint8_t digest[32];
	int err;

	if (!realpath(mountpoint, real))
		return -errno;
	err = sha256((const uint8_t *)real, strlen(real), digest);
	if (err)
		return err;
	hex_encode(digest, 16, hex);
	if ((size_t)snprintf(out, cap, "%s/%s.sock", COFFRE_RUN_DIR, hex) >= cap)
		return -ENAMETOOLONG;
	return 0;
}
