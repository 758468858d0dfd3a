/*
 * Private to src/store: runs split across a helper thread (par.c).
 */
#ifndef COFFRE_STORE_PAR_H
#define COFFRE_STORE_PAR_H

#include <stddef.h>

#include "coffre/store.h"

#define PAR_MAX_HELPERS STORE_MAX_HELPERS

/* Start helper threads until there are count (at most PAR_MAX_HELPERS;
 * never fewer than before).  Return: 0 or a negative errno. */
int par_init(unsigned count);

/* Do items [lo, hi) of a run; 0 or a negative errno. */
typedef int (*par_fn)(void *ctx, size_t lo, size_t hi);

/*
 * fn over [0, n): with n >= min_split and a helper idle, shared in chunks
 * between this thread and the helper; otherwise all of it here.  fn must
 * be safe to run on disjoint ranges at once.
 * Return: 0 or an error one of the chunks returned.
 */
int par_run(par_fn fn, void *ctx, size_t n, size_t min_split);

#endif
