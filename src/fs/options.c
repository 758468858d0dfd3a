/*
 * options.c — the daemon's command line, in the form mount.fuse3 uses:
 *   coffre BACKING MOUNTPOINT [-o opt[,opt...]] [-f] [-d]
 * Our own options (conf=, pin_file=, log_file=, bucket=, readahead_kb=,
 * max_dirty_ratio=, crypto_threads=, max_fds=, max_inodes=) are taken out;
 * generic mount options are passed to libfuse; fstab-only options
 * (defaults, _netdev, auto, nofail, x-*, comment=...) are ignored; anything
 * else is refused with a one-line reason.  The PIN itself is never an option.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

static const char *const passed[] = {
	"rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
	"async", "sync", "dirsync", "atime", "noatime", "relatime",
	"norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime",
	"allow_other", "allow_root", "auto_unmount", NULL,
};
static const char *const ignored[] = {
	"defaults", "_netdev", "auto", "noauto", "nofail", "user", "nouser",
	"users", "default_permissions", NULL,
};

static bool in_list(const char *const *list, const char *opt)
{
	for (; *list; list++)
		if (!strcmp(*list, opt))
			return true;
	return false;
}

static int append(char *buf, size_t cap, const char *opt)
{
	size_t len = strlen(buf);
	int n = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", opt);

	return n < 0 || (size_t)n >= cap - len ? -E2BIG : 0;
}

/* "NAME=N" with lo <= N <= hi into *out: 1 if opt is NAME=..., 0 if it
 * is another option, -EINVAL (with a message) if N is bad. */
static int number_opt(const char *opt, const char *name, unsigned lo,
		      unsigned hi, unsigned *out)
{
	size_t n = strlen(name);
	unsigned long v;
	char *end;

	if (strncmp(opt, name, n) || opt[n] != '=')
		return 0;
	errno = 0;
	v = strtoul(opt + n + 1, &end, 10);
	if (opt[n + 1] < '0' || opt[n + 1] > '9' || *end || errno || v < lo || v > hi) {
		fprintf(stderr, "coffre: %s must be a number from %u to %u\n",
			name, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 1;
}

static int parse_opt(struct fs_opts *o, char *opt)
{
	int r;

	if (!*opt)
		return 0;
	r = number_opt(opt, "readahead_kb", 0, 1U << 20, &o->readahead_kb);
	if (!r)
		r = number_opt(opt, "max_dirty_ratio", 0, 100, &o->max_dirty_ratio);
	if (!r)
		r = number_opt(opt, "crypto_threads", 0, STORE_MAX_HELPERS,
			       &o->crypto_threads);
	if (!r)
		r = number_opt(opt, "max_fds", 16, 1U << 24, &o->max_fds);
	if (!r)
		r = number_opt(opt, "max_inodes", FS_MIN_MAX_INODES, UINT_MAX,
			       &o->max_inodes);
	if (r)
		return r < 0 ? r : 0;
	if (!strncmp(opt, "conf=", 5)) {
		free(o->conf);
		o->conf = strdup(opt + 5);
		return o->conf ? 0 : -ENOMEM;
	}
	if (!strncmp(opt, "pin_file=", 9)) {
		free(o->pin_file);
		o->pin_file = strdup(opt + 9);
		return o->pin_file ? 0 : -ENOMEM;
	}
	if (!strncmp(opt, "bucket=", 7)) {
		free(o->bucket);
		o->bucket = strdup(opt + 7);
		return o->bucket ? 0 : -ENOMEM;
	}
	if (!strncmp(opt, "log_file=", 9)) {
		free(o->log_file);
		o->log_file = strdup(opt + 9);
		return o->log_file ? 0 : -ENOMEM;
	}
	if (!strcmp(opt, "debug")) {
		o->debug = true;
		return 0;
	}
	if (in_list(ignored, opt) || !strncmp(opt, "x-", 2) ||
	    !strncmp(opt, "comment=", 8))
		return 0;
	if (!strcmp(opt, "allow_other"))
		o->allow_other = true;
	if (!strcmp(opt, "ro"))
		o->read_only = true;
	if (!strcmp(opt, "rw"))
		o->read_only = false;
	if (in_list(passed, opt))
		return append(o->fuse_opts, sizeof(o->fuse_opts), opt);
	fprintf(stderr, "coffre: unknown mount option '%s'\n", opt);
	return -EINVAL;
}

static int parse_opts(struct fs_opts *o, const char *list)
{
	char *copy = strdup(list), *save = NULL, *opt;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && !err;
	     opt = strtok_r(NULL, ",", &save))
		err = parse_opt(o, opt);
	free(copy);
	return err;
}

int fs_parse_args(int argc, char **argv, struct fs_opts *o)
{
	const char *pos[2];
	int i, npos = 0, err;

	memset(o, 0, sizeof(*o));
	o->readahead_kb = FS_DEFAULT_READAHEAD_KB;
	o->max_dirty_ratio = FS_DEFAULT_MAX_DIRTY_RATIO;
	o->max_fds = FS_DEFAULT_MAX_FDS;
	o->max_inodes = FS_DEFAULT_MAX_INODES;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o")) {
			if (++i == argc) {
				fprintf(stderr, "coffre: -o needs options\n");
				return -EINVAL;
			}
			err = parse_opts(o, argv[i]);
		} else if (!strncmp(argv[i], "-o", 2)) {
			err = parse_opts(o, argv[i] + 2);
		} else if (!strcmp(argv[i], "-f")) {
			o->foreground = true;
			err = 0;
		} else if (!strcmp(argv[i], "-d")) {
			o->debug = o->foreground = true;
			err = 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "coffre: unknown argument '%s'\n", argv[i]);
			return -EINVAL;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
			err = 0;
		} else {
			fprintf(stderr, "coffre: too many arguments\n");
			return -EINVAL;
		}
		if (err)
			return err;
	}
	if (npos != 2) {
		fprintf(stderr, "usage: coffre BACKING MOUNTPOINT -o conf=NAME[,pin_file=FILE,"
			"allow_other,...] [-f]\n");
		return -EINVAL;
	}
	o->backing = pos[0];
	o->mountpoint = pos[1];
	return 0;
}

void fs_opts_free(struct fs_opts *o)
{
	free(o->conf);
	free(o->pin_file);
	free(o->log_file);
	free(o->bucket);
	o->conf = o->pin_file = o->log_file = o->bucket = NULL;
}
