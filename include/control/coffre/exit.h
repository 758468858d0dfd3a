/*
 * coffre/exit.h — the exit statuses of coffre and coffrectl, one table for
 * both programs (doc/DESIGN.md, "Exit statuses"), and the class of a
 * negative errno as the lower layers return it.  sysexits.h values where
 * one fits; `coffrectl status` has its own four (a monitoring plugin's).
 * Header only, libc only.
 */
#ifndef COFFRE_EXIT_H
#define COFFRE_EXIT_H

#include <errno.h>

enum coffre_exit {
	COFFRE_EXIT_OK = 0,
	COFFRE_EXIT_FAILURE = 1,        /* any other runtime error */
	COFFRE_EXIT_USAGE = 2,          /* bad command line */
	COFFRE_EXIT_TAMPERED = 65,      /* EX_DATAERR: the volume does not authenticate */
	COFFRE_EXIT_HSM = 69,           /* EX_UNAVAILABLE: no HSM answers, or none
					 * holds the master key */
	COFFRE_EXIT_MOUNTPOINT = 73,    /* EX_CANTCREAT: the mount point is refused */
	COFFRE_EXIT_BUCKET = 74,        /* EX_IOERR: the bucket is missing, refused or behind */
	COFFRE_EXIT_PIN = 77,           /* EX_NOPERM: the PIN is wrong, locked or expired */
	COFFRE_EXIT_CONFIG = 78,        /* EX_CONFIG: the mount configuration is refused */
};

/* `coffrectl status`: like a monitoring plugin's. */
enum coffre_health {
	COFFRE_HEALTH_OK = 0,
	COFFRE_HEALTH_DEGRADED = 1,
	COFFRE_HEALTH_FAILING = 2,
	COFFRE_HEALTH_UNKNOWN = 3,      /* no answer */
};

/* The exit status of a failure the lower layers report as -errno (hsm:
 * -EACCES a rejected PIN, -ENODEV no HSM answers, -ENOKEY the HSMs answer
 * but none holds the master key; keys: -EKEYREJECTED a config or key that
 * does not authenticate, -EBADMSG a tampered object). */
static inline int coffre_exit_of_errno(int neg_errno)
{
	switch (neg_errno) {
	case 0:
		return COFFRE_EXIT_OK;
	case -EACCES:
		return COFFRE_EXIT_PIN;
	case -ENODEV:
	case -ENOKEY:
		return COFFRE_EXIT_HSM;
	case -EKEYREJECTED:
	case -EBADMSG:
		return COFFRE_EXIT_TAMPERED;
	default:
		return COFFRE_EXIT_FAILURE;
	}
}

/* The text `--help` shows for both programs. */
#define COFFRE_EXIT_HELP \
	"exit status:\n" \
	"  0   success\n" \
	"  1   any other runtime error\n" \
	"  2   usage: a bad command line\n" \
	"  65  the volume does not authenticate (tampered config, key or data)\n" \
	"  69  no HSM answers, or none holds the master key\n" \
	"  73  the mount point is refused (missing, not empty, already a mount)\n" \
	"  74  the bucket is missing, refused or does not verify\n" \
	"  77  the PIN is rejected (wrong, locked or expired)\n" \
	"  78  the mount configuration is refused\n"

#endif
