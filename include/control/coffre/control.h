/*
 * coffre control socket: where a mount's socket lives and the one-line
 * protocol between `coffrectl` and the daemon.  A client connects, sends
 * one command line, reads the reply until the daemon closes.  Lines
 * starting "progress: " may come first ("progress: PHASE DONE/TOTAL UNIT",
 * coffre/progress.h; a client that does not parse them shows them on
 * stderr); then "ok" or "error: <reason>"; the rest is the command's
 * output.  Both ends check the other's credentials (SO_PEERCRED): the
 * daemon serves root and the user who mounted; the client talks only to a
 * daemon running as root or as itself.
 */
#ifndef COFFRE_CONTROL_H
#define COFFRE_CONTROL_H

#include <stddef.h>

#define COFFRE_RUN_DIR "/run/coffre"
#define COFFRE_CONTROL_MAX_LINE 4096

/* The socket path for a mount point (its real path is hashed):
 * /run/coffre/<32 hex>.sock.  Returns 0 or a negative errno. */
int control_socket_path(const char *mountpoint, char *out, size_t cap);

#endif
