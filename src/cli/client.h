/*
 * client.h — the control-socket client used by coffrectl.
 */
#ifndef COFFRE_CLI_CLIENT_H
#define COFFRE_CLI_CLIENT_H

#include <stdbool.h>
#include <stdio.h>

/* Send one command to the daemon serving mountpoint and copy its output to
 * out.  Returns the exit status for coffrectl (0 ok, 1 error, printed). */
int control_call(const char *mountpoint, const char *cmd, FILE *out);

/* The coffre mount holding dir: its mount point and dir's path relative
 * to it.  -ENOENT if dir is not inside a coffre mount. */
int mount_of(const char *dir, char *mnt, size_t mcap, char *rel, size_t rcap);

#endif
