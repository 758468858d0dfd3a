/*
 * bucketcheck.h — what verify.c (authenticating a bucket against the HSMs
 * and its manifest) shares with restore.c (rebuilding a volume from it).
 * Private to src/cli.
 */
#ifndef COFFRE_CLI_BUCKETCHECK_H
#define COFFRE_CLI_BUCKETCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "coffre/exit.h"
#include "coffre/keys.h"
#include "coffre/progress.h"
#include "coffre/replica.h"

/* What the coffrectl wrappers pass in (the PIN is already read). */
struct bucket_args {
	const char *bucket;
	const char *backing;          /* verify: live backing dir (rollback) */
	const char *target;           /* restore: the new backing dir */
	const char *const *uris;      /* from --hsm only, never the config */
	unsigned n_uris;
	const char *pin;
	size_t pin_len;
	bool json, force;
};

struct check_problem {
	char *path;
	char *what;
};

/* A regular file or directory found in the bucket. */
struct bucket_object {
	char *path;
	bool is_dir;
	uint64_t size;
	uint8_t digest[IO_DIGEST_LEN]; /* XXH3-128, canonical (files) */
	uint8_t file_id[COFFRE_ID_LEN]; /* from a coffre header, else zero */
};

struct bucket_check {
	const struct bucket_args *a;
	struct progress prog;         /* a line on stderr, or JSON lines */
	struct volume *vol;           /* the bucket, opened read-only */
	int bucket_fd;
	struct manifest *man;         /* NULL if missing or untrusted */
	uint8_t *man_bytes;           /* its authenticated bytes */
	size_t man_len;
	struct bucket_object *objs;   /* sorted by path */
	size_t n_objs, cap_objs;
	struct check_problem *problems;
	size_t n_problems, cap_problems;
	uint64_t files, dirs, keys, symlinks, specials, bytes;
	char err[512];                /* why the check could not run at all */
};

/* Run every check.  0: it ran (c->n_problems says how it went); < 0: it
 * could not (c->err says why).  bucket_check_free() in both cases. */
int bucket_check_run(struct bucket_check *c, const struct bucket_args *a);
void bucket_check_free(struct bucket_check *c);
/* bucket_check_run that, when the check cannot run, prints why (one line),
 * frees c and returns the exit status (coffre/exit.h: the PIN's, the HSMs'
 * or the bucket's).  0 when c holds a finished check. */
int bucket_check_start(struct bucket_check *c, const struct bucket_args *a);
/* The object at path (bsearch), or NULL. */
const struct bucket_object *bucket_object_find(const struct bucket_check *c,
					       const char *path);
/* Problems, one line each, and a summary (or one JSON object: the result
 * line after the progress lines). */
void bucket_check_report(const struct bucket_check *c, FILE *f, bool json);
/* Write s with every byte outside printable ASCII escaped (\xNN): names in
 * a bucket are untrusted and must not drive the terminal. */
void print_safe(FILE *f, const char *s);

/* The commands: exit status (0 all good, 1 problems or failure). */
int verify_command(const struct bucket_args *a);
int restore_command(const struct bucket_args *a);

#endif
