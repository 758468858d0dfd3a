/*
 * keyops.h — directory key operations (keyops.c), called from the control
 * socket.  Each writes "ok" and its report to out, or returns a negative
 * errno for the caller to report.
 */
#ifndef COFFRE_KEYOPS_H
#define COFFRE_KEYOPS_H

#include <stdio.h>

#include "fs.h"

/* rel: a directory path relative to the mount root. */
int keyops_resolve(const char *rel, int *dfd, uint8_t id[COFFRE_ID_LEN]);
int keyops_rotate(const char *rel, FILE *out);
int keyops_rekey(const char *rel, FILE *out);
/* dry_run: only count what the shred would touch (no PIN needed). */
int keyops_shred(const char *rel, const char *pin, bool dry_run, FILE *out);

#endif
