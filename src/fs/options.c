/*
 * options.c — the daemon's command line, in the form mount.fuse3 uses:
 *   coffre BACKING MOUNTPOINT [-o opt[,opt...]] [-f] [-d]
 * or, with both left out, the mount configuration's backing and mountpoint.
 * One table (own[]) holds coffre's own options: the parser takes them out
 * and fs_usage() prints `coffre --help` from it, so the two cannot drift.
 * Generic mount options (passed[]) go to libfuse, and nosuid and nodev
 * unless suid_ok or dev_ok is given: plain suid and dev are ignored, since
 * mount.fuse3 adds them to every fstab line that does not say nosuid or
 * nodev, so they cannot tell what was asked for.  fstab-only options
 * (ignored[], x-*, comment=...) are dropped; anything else is refused with a one-line reason.  The PIN
 * itself is never an option.  libc only (the mount_opts fuzz target
 * rebuilds this file alone).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

enum opt_kind { OPT_STRING, OPT_NUMBER, OPT_FLAG };

struct opt_def {
	const char *name;
	enum opt_kind kind;
	size_t field;                 /* offsetof in struct fs_opts */
	unsigned lo, hi;              /* OPT_NUMBER's range */
	const char *arg, *help;       /* for fs_usage */
};

#define STR(n, f, a, h) { n, OPT_STRING, offsetof(struct fs_opts, f), 0, 0, a, h }
#define NUM(n, f, l, u, h) { n, OPT_NUMBER, offsetof(struct fs_opts, f), l, u, "N", h }
#define FLAG(n, f, h) { n, OPT_FLAG, offsetof(struct fs_opts, f), 0, 0, NULL, h }

static const struct opt_def own[] = {
	STR("conf", conf, "NAME", "required: the mount configuration CONFDIR/NAME.conf "
	    "(root's, mode 0600): BACKING must be its backing directory (without "
	    "BACKING and MOUNTPOINT, its backing and mountpoint lines), the volume "
	    "its uuid; the HSMs (and so the PKCS#11 modules) are its hsm lines, "
	    "never anything in BACKING.  Written by `coffrectl init --conf NAME`; "
	    "an older volume moves over with `coffrectl conf adopt BACKING NAME "
	    "--hsm URI ...`"),
	STR("pin_file", pin_file, "FILE", "the HSM user PIN (root-owned, mode 0600); "
	    "default: a systemd credential named coffre-pin, else the "
	    "configuration's pin_file"),
	STR("bucket", bucket, "DIR", "replicate to DIR instead of the "
	    "configuration's bucket"),
	STR("log_file", log_file, "FILE", "log there (RFC 3339 timestamps); "
	    "default: syslog, or LOGDIR/NAME.log when there is no /dev/log, or "
	    "stderr with -f"),
	STR("metrics_file", metrics_file, "FILE", "write the metrics there "
	    "every 10 s (Prometheus text, replaced atomically, for "
	    "node_exporter's textfile collector): an absolute path ending in "
	    ".prom"),
	NUM("readahead_kb", readahead_kb, 0, 1U << 20, "the mount's readahead, "
	    "default 1024 (the kernel gives FUSE mounts 128); 0 keeps the kernel's"),
	NUM("max_dirty_ratio", max_dirty_ratio, 0, 100, "percent of the system's "
	    "dirty-page limit this mount may hold, default 10 (the kernel gives "
	    "FUSE mounts 1); 0 keeps the kernel's"),
	NUM("crypto_threads", crypto_threads, 0, STORE_MAX_HELPERS, "extra threads "
	    "that share the sealing and opening of requests of 256 KiB or more, "
	    "default 0"),
	NUM("max_fds", max_fds, 16, 1U << 24, "backing descriptors kept open for "
	    "cached inodes, default 4096; past it the least recently used are "
	    "closed and reopened by file handle"),
	NUM("max_inodes", max_inodes, FS_MIN_MAX_INODES, UINT_MAX, "inodes held "
	    "for the kernel (200 bytes each), default 131072; past it the kernel "
	    "is asked to forget the least recently used"),
	FLAG("nonempty_ok", nonempty_ok, "mount on a mount point that is not "
	     "empty (refused otherwise: what is in it would be hidden)"),
	FLAG("suid_ok", suid_ok, "honour set-user-id and set-group-id bits "
	     "(default nosuid; plain suid is ignored: mount.fuse3 adds it to every "
	     "fstab line)"),
	FLAG("dev_ok", dev_ok, "honour device files (default nodev; plain dev is "
	     "ignored: mount.fuse3 adds it to every fstab line)"),
	FLAG("debug", debug, "FUSE debug output (as -d)"),
};

static const char *const passed[] = {
	"rw", "ro", "nosuid", "nodev", "exec", "noexec",
	"async", "sync", "dirsync", "atime", "noatime", "relatime",
	"norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime",
	"allow_other", "allow_root", "auto_unmount", NULL,
};
static const char *const ignored[] = {
	"defaults", "_netdev", "auto", "noauto", "nofail", "user", "nouser",
	"users", "default_permissions", "suid", "dev", NULL,
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

/* opt added to the options passed on to libfuse; one line if they no
 * longer fit. */
static int pass_on(struct fs_opts *o, const char *opt)
{
	if (!append(o->fuse_opts, sizeof(o->fuse_opts), opt))
		return 0;
	fprintf(stderr, "coffre: too many mount options: those passed on to "
		"libfuse hold at most %zu bytes\n", sizeof(o->fuse_opts) - 1);
	return -E2BIG;
}

/* opt is d's: its value stored in o. */
static int take_own(struct fs_opts *o, const struct opt_def *d, const char *val)
{
	char *field = (char *)o + d->field, *end;
	unsigned long v;

	switch (d->kind) {
	case OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case OPT_STRING:
		free(*(char **)field);
		*(char **)field = strdup(val);
		return *(char **)field ? 0 : -ENOMEM;
	case OPT_NUMBER:
		errno = 0;
		v = strtoul(val, &end, 10);
		if (*val < '0' || *val > '9' || *end || errno || v < d->lo || v > d->hi) {
			fprintf(stderr, "coffre: %s must be a number from %u to %u\n",
				d->name, d->lo, d->hi);
			return -EINVAL;
		}
		*(unsigned *)field = (unsigned)v;
		return 0;
	}
	return -EINVAL;
}

static int parse_opt(struct fs_opts *o, char *opt)
{
	size_t n;

	if (!*opt)
		return 0;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		n = strlen(own[i].name);
		if (strncmp(opt, own[i].name, n))
			continue;
		if (own[i].kind == OPT_FLAG ? opt[n] == '\0' : opt[n] == '=')
			return take_own(o, &own[i], opt + n + (opt[n] == '='));
		if (opt[n] == '\0' || opt[n] == '=') {
			fprintf(stderr, "coffre: mount option %s %s\n", own[i].name,
				own[i].kind == OPT_FLAG ? "takes no value" :
				"needs a value");
			return -EINVAL;
		}
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
		return pass_on(o, opt);
	fprintf(stderr, "coffre: unknown mount option '%s'%s\n", opt,
		!strcmp(opt, "nonempty") ? " (coffre's is nonempty_ok)" :
		" (see coffre --help)");
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

/* node_exporter's textfile collector reads *.prom files only; the daemon
 * runs from / once mounted. */
static int check_metrics_file(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (!path)
		return 0;
	if (path[0] != '/' || n < 6 || strcmp(path + n - 5, ".prom") ||
	    path[n - 6] == '/') {
		fprintf(stderr, "coffre: metrics_file=%s: must be an absolute path "
			"whose name ends in .prom (node_exporter's textfile "
			"collector reads no other)\n", path);
		return -EINVAL;
	}
	return 0;
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
			fprintf(stderr, "coffre: unknown option '%s' (see coffre --help)\n",
				argv[i]);
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
	/* A mount is nosuid and nodev unless suid_ok or dev_ok says otherwise
	 * (libfuse's own default, said here so that it is ours). */
	if (pass_on(o, o->suid_ok ? "suid" : "nosuid") ||
	    pass_on(o, o->dev_ok ? "dev" : "nodev"))
		return -E2BIG;
	/* No BACKING and MOUNTPOINT: the configuration's (its backing and
	 * mountpoint lines; fs_run reads them). */
	if (npos != 2 && (npos != 0 || !o->conf)) {
		fprintf(stderr, "usage: coffre [BACKING MOUNTPOINT] -o conf=NAME[,pin_file=FILE,"
			"allow_other,...] [-f]\n");
		return -EINVAL;
	}
	o->backing = npos ? pos[0] : NULL;
	o->mountpoint = npos ? pos[1] : NULL;
	return check_metrics_file(o->metrics_file);
}

/* text, wrapped at 78 columns, each line indented by indent. */
static void wrap(FILE *f, const char *text, int indent)
{
	int col = indent;

	fprintf(f, "%*s", indent, "");
	while (*text) {
		size_t w = strcspn(text, " ");

		if (col > indent && col + 1 + (int)w > 78) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, text);
		col += (int)w;
		text += w;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

static void list_line(FILE *f, const char *what, const char *const *list)
{
	char line[1024];
	size_t len;

	snprintf(line, sizeof(line), "%s", what);
	for (; *list; list++) {
		len = strlen(line);
		snprintf(line + len, sizeof(line) - len, " %s%s", *list, list[1] ? "," : "");
	}
	wrap(f, line, 2);
}

void fs_usage(FILE *f, const char *confdir, const char *logdir)
{
	char head[64], help[1024], *p;

	fprintf(f, "mount options (-o opt[,opt...]):\n");
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		snprintf(head, sizeof(head), "%s%s%s", own[i].name, own[i].arg ? "=" : "",
			 own[i].arg ? own[i].arg : "");
		fprintf(f, "  %s\n", head);
		snprintf(help, sizeof(help), "%s", own[i].help);
		/* CONFDIR and LOGDIR as this build has them. */
		if ((p = strstr(help, "CONFDIR")) || (p = strstr(help, "LOGDIR"))) {
			char rest[1024];
			bool conf = !strncmp(p, "CONFDIR", 7);

			snprintf(rest, sizeof(rest), "%s", p + (conf ? 7 : 6));
			snprintf(p, sizeof(help) - (size_t)(p - help), "%s%s",
				 conf ? confdir : logdir, rest);
		}
		wrap(f, help, 6);
	}
	list_line(f, "generic, passed to the kernel (and nosuid, nodev unless "
		  "suid_ok, dev_ok):", passed);
	list_line(f, "accepted and ignored (fstab's): x-*, comment=*,", ignored);
}

void fs_opts_free(struct fs_opts *o)
{
	free(o->conf);
	free(o->pin_file);
	free(o->log_file);
	free(o->bucket);
	free(o->metrics_file);
	o->conf = o->pin_file = o->log_file = o->bucket = o->metrics_file = NULL;
}
