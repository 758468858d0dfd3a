/*
 * client.h — the control-socket client used by coffrectl.
 */
#ifndef COFFRE_CLI_CLIENT_H
#define COFFRE_CLI_CLIENT_H

#include <stdbool.h>
#include <stdio.h>

/* Send one command to the daemon serving mountpoint and copy its output to
 * out.  Returns -1 if no daemon answered (why is printed), 1 if it refused
 * the command (its line printed), else the status of its "exit: N" line
 * (0 without one). */
int control_call(const char *mountpoint, const char *cmd, FILE *out);
/* control_call with no answer an ordinary failure: the exit status. */
int control_run(const char *mountpoint, const char *cmd, FILE *out);
/* control_call with the daemon's progress lines fed to p (NULL: stderr). */
struct progress;
int control_call_progress(const char *mountpoint, const char *cmd, FILE *out,
			  struct progress *p);
/* control_run of a long command: its progress on a terminal's stderr, or,
 * with json, as JSON lines on stdout ending with a result line holding
 * the answer (coffre/progress.h).  first_step: a step before the command
 * proper, whose answer goes to stderr if it succeeds (the result line is
 * the next step's).  The exit status. */
int control_run_progress(const char *mountpoint, const char *cmd, bool json,
			 bool first_step);

/* The coffre mount holding dir: its mount point and dir's path relative
 * to it.  -ENOENT if dir is not inside a coffre mount. */
int mount_of(const char *dir, char *mnt, size_t mcap, char *rel, size_t rcap);

#endif
