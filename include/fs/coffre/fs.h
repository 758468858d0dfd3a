/*
 * coffre/fs.h — what the FUSE daemon (src/fs) offers its entry point
 * (src/cli/coffre.c): its options, their parser and the daemon itself.
 * Everything else of src/fs is private (src/fs/fs.h).
 */
#ifndef COFFRE_FS_PUBLIC_H
#define COFFRE_FS_PUBLIC_H

#include <stdbool.h>
#include <stdio.h>

struct fs_opts {
	const char *backing;
	const char *mountpoint;
	const char *confdir;          /* where conf=NAME is read (the build's) */
	const char *logdir;           /* the log file without /dev/log (the build's) */
	char *conf;                   /* conf=NAME: CONFDIR/NAME.conf */
	char *pin_file;
	char *log_file;
	char *bucket;
	char *metrics_file;           /* metrics_file=: rewritten every 10 s */
	bool foreground;
	bool allow_other;
	bool read_only;
	bool debug;
	bool nonempty_ok;             /* a mount point that is not empty */
	bool suid_ok, dev_ok;         /* else nosuid, nodev */
	unsigned readahead_kb;        /* bdi.c; 0: the kernel's default */
	unsigned max_dirty_ratio;     /* bdi.c; 0: the kernel's default */
	unsigned crypto_threads;      /* store_split_init; 0: none */
	unsigned max_fds;             /* inodes' O_PATH fds kept open */
	unsigned max_inodes;          /* inodes cached before pruning */
	char fuse_opts[4096];         /* mount options passed on to libfuse */
};

/* Readahead as large as the largest read request (1 MiB); the kernel
 * leaves every FUSE mount at 128 KiB. */
#define FS_DEFAULT_READAHEAD_KB 1024
/* Percent of the system's dirty-page limit the mount may hold (the
 * kernel gives FUSE mounts 1 %). */
#define FS_DEFAULT_MAX_DIRTY_RATIO 10
/* Backing O_PATH fds the inode table keeps open (least recently used
 * out; inodes are reopened by file handle). */
#define FS_DEFAULT_MAX_FDS 4096
/* Inodes the daemon may hold for the kernel (200 bytes each) before it
 * asks the kernel to forget the least recently used: 26 MiB. */
#define FS_DEFAULT_MAX_INODES 131072
#define FS_MIN_MAX_INODES 64

/* ---- options.c and daemon.c */
/* Parse the daemon's command line; 0 or -EINVAL with a message on stderr.
 * fs_opts_free releases what it allocated. */
int fs_parse_args(int argc, char **argv, struct fs_opts *o);
void fs_opts_free(struct fs_opts *o);
/* The mount options, for --help: printed from the parser's own table. */
void fs_usage(FILE *f, const char *confdir, const char *logdir);
/* The daemon: returns the exit status (coffre/exit.h). */
int fs_run(struct fs_opts *o);

#endif
