/*
 * keyops.h — directory key operations (keyops.c), called from the control
 * socket.  Each writes "ok" and its report to out, or returns a negative
 * errno for the caller to report; the long ones write "progress: " lines
 * first (coffre/progress.h).
 */
#ifndef COFFRE_KEYOPS_H
#define COFFRE_KEYOPS_H

#include <stdio.h>

#include "fs.h"

/* rel: a directory path relative to the mount root. */
int keyops_resolve(const char *rel, int *dfd, uint8_t id[COFFRE_ID_LEN]);
int keyops_rotate(const char *rel, FILE *out);
/* deep: the subdirectories' files too, each under its directory's key. */
int keyops_rekey(const char *rel, bool deep, FILE *out);
/* dry_run: only count what the shred would touch (no PIN needed). */
int keyops_shred(const char *rel, const char *pin, bool dry_run, FILE *out);

/* volume_rotate_master's progress as "progress: rewrap" lines; ctx: the
 * struct progress writing them. */
void keyops_rewrap_progress(size_t done, size_t total, void *ctx);

#endif
