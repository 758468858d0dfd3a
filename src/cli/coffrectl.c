/*
 * coffrectl.c — administration of coffre volumes (see `coffrectl --help`).
 *
 * Options may come before or after the arguments.  PINs come from files
 * only (never argv or the environment).  Every failure prints one line
 * that says what to do and exits non-zero with the volume unchanged.
 * Commands that need a running mount talk to its daemon over the control
 * socket (client.c); the rest open the volume themselves, which takes its
 * lock, so they refuse a mounted volume.  Those log into the HSMs named by
 * a mount configuration (--conf NAME: COFFRE_CONFDIR/NAME.conf) or on the
 * command line (--hsm URI), never by anything in the backing dir or the
 * bucket (doc/FORMAT.md §10.2).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include "bucketcheck.h"
#include "client.h"
#include "coffre/exit.h"
#include "coffre/hsm.h"
#include "coffre/keys.h"
#include "coffre/progress.h"
#include "coffre/replica.h"

#ifndef COFFRE_CONFDIR
#error "COFFRE_CONFDIR must be defined by the build (meson -Dconfdir=)"
#endif
#ifndef COFFRE_VERSION
#error "COFFRE_VERSION must be defined by the build"
#endif

#define MAX_ARGS 16
#define MAX_SHARES 255

struct cli {
	const char *hsm[COFFRE_MAX_HSMS];
	unsigned n_hsm;
	const char *conf;             /* --conf NAME */
	const char *pin_file;
	const char *shares_dir;
	const char *bucket;
	const char *backing;
	const char *mountpoint;       /* init, conf adopt: the mountpoint line */
	unsigned timeout;
	const char *share[MAX_SHARES];
	unsigned n_share;
	unsigned shares_n, shares_k;
	uint32_t seg_size;
	bool strict_holes, json, yes, force, recursive;
	const char *args[MAX_ARGS];
	unsigned n_args;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: coffrectl COMMAND [options] ARGS\n"
"\n"
"The HSMs of a volume (and so the PKCS#11 modules loaded) come only from its\n"
"mount configuration " COFFRE_CONFDIR "/NAME.conf (--conf NAME; root's, mode\n"
"0600) or from --hsm on the command line: never from the backing dir or a\n"
"bucket.  `coffre BACKING MOUNTPOINT -o conf=NAME` mounts with the same file.\n"
"\n"
"volumes:\n"
"  init --conf NAME --hsm URI [--hsm URI ...] --pin-file FILE\n"
"       [--segment-size N] [--strict-holes] [--shares-dir DIR [--shares N]\n"
"       [--threshold K]] [--bucket DIR] [--mountpoint PATH] BACKING\n"
"      create a volume in the empty directory BACKING and its mount\n"
"      configuration NAME (which must not exist yet: backing, uuid, the HSMs\n"
"      in the order given, the PIN file's and the bucket's absolute paths).\n"
"      The master key is drawn from the first token's RNG and imported,\n"
"      non-extractable, into every HSM (primary first); their check values\n"
"      must agree.  With --shares-dir, a recovery key is made, every master\n"
"      key is escrowed to it, and its private half is split into N\n"
"      custodians' shares (default 7, any K=5 rebuild it), one file each,\n"
"      mode 0400.  Without it the HSMs hold the only copies of the master\n"
"      key.  With --bucket, the (empty) bucket directory gets the volume's\n"
"      marker and mounts replicate to it.  With --mountpoint, the\n"
"      configuration names where `coffre -o conf=NAME` mounts it.\n"
"  conf adopt BACKING NAME --hsm URI [--hsm URI ...] --pin-file FILE\n"
"       [--bucket DIR] [--mountpoint PATH] [--force]\n"
"      write the mount configuration NAME for an existing volume (one made\n"
"      before mount configurations, or restored): the HSMs are the ones\n"
"      given, never the volume's config's; each must answer and hold the\n"
"      volume's master key (its check value), and the config must\n"
"      authenticate with them.  The bucket is --bucket, else the one the\n"
"      (authenticated) volume config names.  An existing NAME is replaced\n"
"      only with --force (its mountpoint line is kept unless --mountpoint\n"
"      gives another).  Works on a mounted volume too.\n"
"  status MOUNTPOINT [--json]\n"
"      state of a running mount: HSMs (up, down, failovers), key cache,\n"
"      replication (pending paths, in memory and in the journal, oldest\n"
"      change, bytes behind, last bucket error)\n"
"  metrics MOUNTPOINT\n"
"      a running mount's metrics in the Prometheus text format (the same\n"
"      as its -o metrics_file=): requests and latency per FUSE operation,\n"
"      bytes, EIO and tamper counts, HSM calls, latency, failovers and\n"
"      state, key cache, replication, health\n"
"  sync MOUNTPOINT [--timeout SECONDS]\n"
"      flush the mount (syncfs) and wait until the bucket holds everything\n"
"      written before; non-zero with a reason if the timeout expires\n"
"  verify BUCKET --conf NAME | --hsm URI [--hsm URI ...] [--pin-file FILE]\n"
"       [--backing DIR] [--json]\n"
"      authenticate every object of a bucket with the HSMs' keys (config,\n"
"      key records, directory ids, names, every segment of every file,\n"
"      symlink targets, xattrs) and check it against its manifest: missing,\n"
"      extra, swapped or changed objects; with --backing, a manifest older\n"
"      than the backing dir's (a rolled-back bucket).  The HSMs are the\n"
"      configuration's or the ones given, never the bucket's config's.  One\n"
"      line per problem; exit 0 only if everything checks out\n"
"  restore BUCKET NEWBACKING --conf NAME | --hsm URI [--hsm URI ...]\n"
"       [--pin-file FILE] [--force] [--json]\n"
"      rebuild a volume in the empty (or new) directory NEWBACKING from the\n"
"      bucket and the HSMs: verified first (refused on any problem unless\n"
"      --force), objects copied, symlinks, special files, hard links,\n"
"      xattrs, owners, modes and times recreated from the manifest, the\n"
"      config rewritten for those HSMs.  No mount configuration is written:\n"
"      `conf adopt NEWBACKING NAME ...` makes one (it prints the command)\n"
"\n"
"HSMs:\n"
"  hsm show BACKING --conf NAME | --hsm URI ... [--pin-file FILE]\n"
"      each HSM's state and its master key object's attributes\n"
"  hsm enroll BACKING --hsm URI --pin-file FILE --share FILE [--share FILE ...]\n"
"       [--conf NAME]\n"
"      bring in a new or replacement HSM: K shares rebuild the recovery key,\n"
"      which opens the escrow of the master key; it is imported into the\n"
"      token and the token is added to the volume and, with --conf, to the\n"
"      mount configuration NAME (rewritten atomically): mounts use it from\n"
"      then on.  No other HSM is opened.\n"
"\n"
"keys:\n"
"  key rotate-master MOUNTPOINT | BACKING --conf NAME | --hsm URI ...\n"
"       [--pin-file FILE] [--shares-dir DIR [--shares N] [--threshold K]]\n"
"       [--json]\n"
"      a new master key version in every HSM, every directory key rewrapped\n"
"      (resumable: run it again if interrupted), the old version destroyed in\n"
"      every HSM.  On a MOUNTPOINT the running daemon does it, live, with its\n"
"      HSMs (--pin-file FILE is required there).  With --shares-dir a new\n"
"      recovery key and shares are made as well.\n"
"  key rotate DIR\n"
"      a new key version for the new files of DIR (inside a mount)\n"
"  key rekey DIR [-r] [--json]\n"
"      re-encrypt DIR's files under its current key; with -r every\n"
"      subdirectory's too, each under its own current key\n"
"  key shred DIR --pin-file FILE [--yes] [--json]\n"
"      crypto-shred DIR and everything under it: files inside that use other\n"
"      directories' keys are re-encrypted first, its key records are destroyed\n"
"      in the backing dir and every cache, and the master key is rotated so\n"
"      old copies of the records (backups) no longer unseal.  Says how many\n"
"      files elsewhere share its keys and asks first (--yes for scripts).\n"
"  shares reissue BACKING --conf NAME | --hsm URI ... [--pin-file FILE]\n"
"       --share FILE ... --shares-dir DIR [--shares N] [--threshold K]\n"
"      a custodian leaves: K current shares open the recovery key; a new\n"
"      recovery key and new shares are made; the escrow is redone\n"
"\n"
"options:\n"
"  --conf NAME         the mount configuration " COFFRE_CONFDIR "/NAME.conf\n"
"                      (NAME: [a-z0-9][a-z0-9_-]{0,63}): its HSMs, and its\n"
"                      pin_file unless --pin-file is given; BACKING must be\n"
"                      its backing directory\n"
"  --hsm URI           PKCS#11 URI (RFC 7512) of a token, e.g. 'pkcs11:token=coffre'\n"
"                      (module found through p11-kit) or with\n"
"                      '?module-path=/usr/lib/softhsm/libsofthsm2.so'\n"
"  --pin-file FILE     file holding the tokens' user PIN (mode 0600)\n"
"  --segment-size N    plaintext bytes per segment: 4096..65536, a power of two\n"
"                      (default 16384)\n"
"  --strict-holes      store encrypted zero segments: no unauthenticated holes\n"
"  --shares-dir DIR    where custodians' share files are written\n"
"  --shares N          number of custodians (default 7)\n"
"  --threshold K       shares needed to recover (default 5)\n"
"  --share FILE        one custodian's share (repeat for each)\n"
"  --json              machine-readable output: status's one object; for\n"
"                      the long commands (verify, restore, key rekey,\n"
"                      rotate-master, shred) one JSON object per line,\n"
"                      progress events then a result\n"
"  -r, --recursive     key rekey: the subdirectories too\n"
"  --mountpoint PATH   init, conf adopt: where the configuration mounts\n"
"  --yes               do not ask before shredding\n"
"  --bucket DIR        bucket directory (an s3fs/rclone mount, NFS, a disk)\n"
"  --timeout SECONDS   how long sync waits (default: forever)\n"
"  --backing DIR       verify: the live backing dir (rollback check)\n"
"  --force             restore from a bucket that fails verification;\n"
"                      conf adopt over an existing configuration\n"
"  -h, --help          this help\n"
"  -V, --version       the version\n"
"\n"
"The long commands show their progress on stderr when it is a terminal.\n"
"\n"
COFFRE_EXIT_HELP
"  status answers like a monitoring plugin: 0 healthy, 1 degraded, 2 failing,\n"
"  3 unknown (no daemon answers)\n");
}

static int parse_uint(const char *opt, const char *v, unsigned lo, unsigned hi,
		      unsigned *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (!*v || *end || n < lo || n > hi) {
		fprintf(stderr, "coffrectl: %s must be a number from %u to %u\n", opt,
			lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

/* The options that take a value (take_value's). */
static bool takes_value(const char *a)
{
	static const char *const with_value[] = {
		"--hsm", "--share", "--pin-file", "--conf", "--shares-dir", "--bucket",
		"--backing", "--timeout", "--shares", "--threshold", "--segment-size",
		"--mountpoint",
	};

	for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
		if (!strcmp(a, with_value[i]))
			return true;
	return false;
}

static int take_value(struct cli *c, const char *a, const char *v)
{
	unsigned n;

	if (!strcmp(a, "--hsm")) {
		if (c->n_hsm == COFFRE_MAX_HSMS) {
			fprintf(stderr, "coffrectl: at most %d HSMs\n", COFFRE_MAX_HSMS);
			return -EINVAL;
		}
		c->hsm[c->n_hsm++] = v;
	} else if (!strcmp(a, "--share")) {
		if (c->n_share == MAX_SHARES) {
			fprintf(stderr, "coffrectl: too many shares\n");
			return -EINVAL;
		}
		c->share[c->n_share++] = v;
	} else if (!strcmp(a, "--pin-file")) {
		c->pin_file = v;
	} else if (!strcmp(a, "--conf")) {
		c->conf = v;
	} else if (!strcmp(a, "--shares-dir")) {
		c->shares_dir = v;
	} else if (!strcmp(a, "--bucket")) {
		c->bucket = v;
	} else if (!strcmp(a, "--backing")) {
		c->backing = v;
	} else if (!strcmp(a, "--mountpoint")) {
		c->mountpoint = v;
	} else if (!strcmp(a, "--timeout")) {
		return parse_uint(a, v, 0, 86400, &c->timeout);
	} else if (!strcmp(a, "--shares")) {
		return parse_uint(a, v, 2, 255, &c->shares_n);
	} else if (!strcmp(a, "--threshold")) {
		return parse_uint(a, v, 2, 255, &c->shares_k);
	} else if (!strcmp(a, "--segment-size")) {
		if (parse_uint(a, v, COFFRE_SEG_MIN, COFFRE_SEG_MAX, &n) ||
		    !seg_size_valid(n)) {
			fprintf(stderr, "coffrectl: --segment-size must be a power of "
				"two from 4096 to 65536\n");
			return -EINVAL;
		}
		c->seg_size = n;
	} else {
		return 1;   /* not an option with a value */
	}
	return 0;
}

static int parse(int argc, char **argv, int first, struct cli *c)
{
	int i, r;

	memset(c, 0, sizeof(*c));
	for (i = first; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--strict-holes")) {
			c->strict_holes = true;
		} else if (!strcmp(a, "--json")) {
			c->json = true;
		} else if (!strcmp(a, "--yes")) {
			c->yes = true;
		} else if (!strcmp(a, "--force")) {
			c->force = true;
		} else if (!strcmp(a, "-r") || !strcmp(a, "--recursive")) {
			c->recursive = true;
		} else if (a[0] == '-' && a[1]) {
			if (!takes_value(a)) {
				fprintf(stderr, "coffrectl: unknown option %s (see --help)\n", a);
				return -EINVAL;
			}
			if (i + 1 == argc) {
				fprintf(stderr, "coffrectl: %s needs a value (see --help)\n", a);
				return -EINVAL;
			}
			r = take_value(c, a, argv[i + 1]);
			if (r)
				return r;
			i++;
		} else if (c->n_args < MAX_ARGS) {
			c->args[c->n_args++] = a;
		} else {
			fprintf(stderr, "coffrectl: too many arguments\n");
			return -EINVAL;
		}
	}
	return 0;
}

/* --shares/--threshold only make sense with --shares-dir; defaults 7/5. */
static int shares_args(struct cli *c)
{
	if (!c->shares_dir) {
		if (c->shares_n || c->shares_k) {
			fprintf(stderr, "coffrectl: --shares and --threshold need "
				"--shares-dir DIR\n");
			return -EINVAL;
		}
		return 0;
	}
	if (!c->shares_n)
		c->shares_n = c->shares_k > 7 ? c->shares_k : 7;
	if (!c->shares_k)
		c->shares_k = c->shares_n < 5 ? c->shares_n : 5;
	if (c->shares_k > c->shares_n) {
		fprintf(stderr, "coffrectl: --threshold %u is more than --shares %u\n",
			c->shares_k, c->shares_n);
		return -EINVAL;
	}
	return 0;
}

static char *load_pin(const struct cli *c, int *len)
{
	char err[256], *pin;

	if (!c->pin_file) {
		fprintf(stderr, "coffrectl: --pin-file FILE is required (PINs are never "
			"taken from the command line)\n");
		return NULL;
	}
	pin = secmem_alloc(COFFRE_PIN_MAX + 1);
	if (!pin)
		return NULL;
	*len = pin_read_file(c->pin_file, pin, err, sizeof(err));
	if (*len < 0) {
		fprintf(stderr, "coffrectl: %s\n", err);
		secmem_free(pin, COFFRE_PIN_MAX + 1);
		return NULL;
	}
	return pin;
}

static void free_pin(char *pin)
{
	secmem_free(pin, COFFRE_PIN_MAX + 1);
}

/* The mount configuration of --conf (one per run). */
static struct mount_conf g_mc;

/*
 * The HSMs a command logs into: --conf NAME (its hsm lines, and its
 * pin_file unless --pin-file is given; backing, if not NULL, must be its
 * backing directory) or --hsm URI.  Never the backing dir's: a usage error
 * without either.  Returns 0, or the exit status: 2 (usage), 78 (the
 * configuration is refused).
 */
static int take_hsms(struct cli *c, const char *backing)
{
	char err[512] = "";
	unsigned i;

	if (c->conf && c->n_hsm) {
		fprintf(stderr, "coffrectl: give --conf NAME or --hsm URI, not both\n");
		return 2;
	}
	if (!c->conf) {
		if (c->n_hsm)
			return 0;
		fprintf(stderr, "coffrectl: name the HSMs with --conf NAME (%s/NAME.conf) "
			"or --hsm URI: they are never taken from the backing dir or a "
			"bucket\n", COFFRE_CONFDIR);
		return 2;
	}
	if (mount_conf_load(COFFRE_CONFDIR, c->conf, &g_mc, err, sizeof(err)) ||
	    (backing && mount_conf_check_source(&g_mc, backing, err, sizeof(err)))) {
		fprintf(stderr, "coffrectl: %s\n", err);
		return COFFRE_EXIT_CONFIG;
	}
	for (i = 0; i < g_mc.n_hsms; i++)
		c->hsm[i] = g_mc.hsm[i];
	c->n_hsm = g_mc.n_hsms;
	if (!c->pin_file && g_mc.pin_file[0])
		c->pin_file = g_mc.pin_file;
	return 0;
}

/* Open a volume that is not mounted (the lock refuses a mounted one), with
 * the HSMs of take_hsms() (already called), into *v: 0 or the exit
 * status. */
static int open_volume(const struct cli *c, const char *backing, struct volume **v)
{
	char err[512] = "", *pin;
	int len, ret;

	*v = NULL;
	pin = load_pin(c, &len);
	if (!pin)
		return COFFRE_EXIT_CONFIG;
	/* With --conf, the configured path (checked to be backing). */
	ret = volume_open(c->conf ? g_mc.backing : backing, c->hsm, c->n_hsm,
			  c->conf ? g_mc.uuid : NULL, pin, (size_t)len, v, err,
			  sizeof(err));
	free_pin(pin);
	if (ret)
		fprintf(stderr, "coffrectl: %s\n", err);
	return coffre_exit_of_errno(ret);
}

/*
 * An absolute path without symlinks for p; p itself need not exist yet
 * (init makes BACKING), its parent must.  0 or -errno.
 */
static int abs_path(const char *p, char out[PATH_MAX])
{
	char dir[PATH_MAX], parent[PATH_MAX];
	const char *base;
	char *slash;
	size_t n = strlen(p);

	if (realpath(p, out))
		return 0;
	if (errno != ENOENT)
		return -errno;
	if (n == 0 || n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, p, n + 1);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	slash = strrchr(dir, '/');
	base = slash ? slash + 1 : dir;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return -EINVAL;
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (dir[0] ? dir : "/") : ".", parent))
		return -errno;
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(parent, "/") ? parent : "",
			     base) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Fill a mount configuration from paths given on the command line (made
 * absolute): "" for a NULL optional one.  One line on stderr on failure. */
static int conf_paths(struct mount_conf *mc, const char *backing,
		      const struct cli *c)
{
	const struct { const char *what, *in; char *out; } p[] = {
		{ "BACKING", backing, mc->backing },
		{ "--pin-file", c->pin_file, mc->pin_file },
		{ "--bucket", c->bucket, mc->bucket },
		{ "--mountpoint", c->mountpoint, mc->mountpoint },
	};
	char abs[PATH_MAX];

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		int err = p[i].in ? abs_path(p[i].in, abs) : 0;

		if (!p[i].in) {
			p[i].out[0] = '\0';
			continue;
		}
		if (!err && (strlen(abs) >= COFFRE_MOUNT_PATH_MAX ||
			     !mount_conf_path_valid(abs, strlen(abs))))
			err = -EINVAL;
		if (err) {
			fprintf(stderr, "coffrectl: %s %s: %s\n", p[i].what, p[i].in,
				err == -EINVAL ? "cannot be written in a mount "
				"configuration (control characters, trailing space?)" :
				strerror(-err));
			return err;
		}
		snprintf(p[i].out, COFFRE_MOUNT_PATH_MAX, "%s", abs);
	}
	return 0;
}

/* --conf NAME for a new configuration: a valid name, a trusted directory
 * (or none yet), no such file unless replace. */
static int conf_name_free(const char *name, bool replace, const char *how)
{
	int r;

	if (!mount_conf_name_valid(name)) {
		fprintf(stderr, "coffrectl: --conf %s: a configuration name is "
			"[a-z0-9][a-z0-9_-]{0,63}\n", name);
		return -EINVAL;
	}
	r = mount_conf_exists(COFFRE_CONFDIR, name);
	if (r < 0) {
		fprintf(stderr, "coffrectl: %s: %s (it must be root's and writable by "
			"no one else, from /)\n", COFFRE_CONFDIR, strerror(-r));
		return r;
	}
	if (r > 0 && !replace) {
		fprintf(stderr, "coffrectl: %s/%s.conf exists already (another volume's?): "
			"%s\n", COFFRE_CONFDIR, name, how);
		return -EEXIST;
	}
	return 0;
}

/* conf adopt --force without --mountpoint: the mountpoint line of the
 * configuration replaced is kept (none if it does not load). */
static void keep_mountpoint(struct mount_conf *mc, const char *name)
{
	struct mount_conf *old = malloc(sizeof(*old));
	char err[512];

	if (old && mount_conf_exists(COFFRE_CONFDIR, name) > 0 &&
	    mount_conf_load(COFFRE_CONFDIR, name, old, err, sizeof(err)) == 0)
		memcpy(mc->mountpoint, old->mountpoint, sizeof(mc->mountpoint));
	free(old);
}

static bool bucket_is_empty(const char *dir)
{
	struct dirent *de;
	bool empty = true;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

/* The HSMs in order and the volume uuid into mc (paths already there). */
static void conf_hsms(struct mount_conf *mc, const struct cli *c,
		      const uint8_t uuid[COFFRE_ID_LEN])
{
	unsigned i;

	memcpy(mc->uuid, uuid, COFFRE_ID_LEN);
	mc->n_hsms = c->n_hsm;
	for (i = 0; i < c->n_hsm; i++)
		snprintf(mc->hsm[i], COFFRE_URI_MAX, "%s", c->hsm[i]);
}

static int cmd_init(struct cli *c)
{
	struct volume_init_opts o;
	char err[512] = "", *pin, bucket[PATH_MAX];
	struct mount_conf *mc = &g_mc;
	int len, ret;

	if (c->n_args != 1 || c->n_hsm == 0 || !c->conf) {
		fprintf(stderr, "usage: coffrectl init --conf NAME --hsm URI --pin-file FILE "
			"[--segment-size N] [--shares-dir DIR] [--bucket DIR] BACKING\n");
		return 2;
	}
	if (shares_args(c))
		return 2;
	/* Everything the mount configuration needs is checked first: a volume
	 * is made only if its configuration can be written. */
	if (conf_name_free(c->conf, false, "choose another --conf NAME, or remove "
			   "it if it is stale") ||
	    conf_paths(mc, c->args[0], c))
		return 1;
	conf_hsms(mc, c, (const uint8_t[COFFRE_ID_LEN]){ 0 });
	if (mount_conf_write(mc, err, 0) == -EINVAL) {
		fprintf(stderr, "coffrectl: an --hsm URI cannot be written in a mount "
			"configuration\n");
		return 1;
	}
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	memset(&o, 0, sizeof(o));
	o.hsm_uris = c->hsm;
	o.n_hsms = c->n_hsm;
	o.pin = pin;
	o.pin_len = (size_t)len;
	o.seg_size = c->seg_size;
	o.strict_holes = c->strict_holes;
	o.shares_dir = c->shares_dir;
	o.shares_n = c->shares_n;
	o.shares_k = c->shares_k;
	if (c->bucket && !realpath(c->bucket, bucket)) {
		fprintf(stderr, "coffrectl: bucket %s: %s\n", c->bucket, strerror(errno));
		free_pin(pin);
		return 1;
	}
	o.bucket = c->bucket ? bucket : NULL;
	if (c->bucket && !bucket_is_empty(bucket)) {
		fprintf(stderr, "coffrectl: the bucket %s must be an empty directory\n",
			bucket);
		free_pin(pin);
		return COFFRE_EXIT_BUCKET;
	}
	ret = volume_init(c->args[0], &o, err, sizeof(err));
	free_pin(pin);
	if (ret) {
		fprintf(stderr, "coffrectl: init failed: %s\n", err);
		return coffre_exit_of_errno(ret);
	}
	if (c->bucket && replica_init_bucket(bucket, o.uuid, err, sizeof(err))) {
		fprintf(stderr, "coffrectl: the volume is made, but its bucket is not "
			"usable: %s\n", err);
		return COFFRE_EXIT_BUCKET;
	}
	conf_hsms(mc, c, o.uuid);
	ret = mount_conf_store(COFFRE_CONFDIR, c->conf, mc, false, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "coffrectl: the volume is made, but its mount "
			"configuration is not: %s; write it with `coffrectl conf adopt "
			"%s NAME --hsm URI ... --pin-file FILE`\n", err, mc->backing);
		return 1;
	}
	printf("coffre volume created in %s (%u HSM%s)\n", c->args[0], c->n_hsm,
	       c->n_hsm > 1 ? "s" : "");
	printf("mount configuration: %s/%s.conf\n", COFFRE_CONFDIR, c->conf);
	if (c->shares_dir)
		printf("recovery key split into %u shares (any %u recover it) in %s:\n"
		       "hand one file to each custodian and delete it here\n",
		       c->shares_n, c->shares_k, c->shares_dir);
	else
		printf("WARNING: no recovery key (no --shares-dir): the HSMs hold the "
		       "only copies of the master key; add one later with `coffrectl "
		       "key rotate-master --shares-dir DIR`\n");
	if (c->bucket)
		printf("replicas go to %s\n", bucket);
	if (mc->mountpoint[0])
		printf("mount it with: coffre -o conf=%s (on %s)\n", c->conf,
		       mc->mountpoint);
	else
		printf("mount it with: coffre %s MOUNTPOINT -o conf=%s\n", c->args[0],
		       c->conf);
	return 0;
}

static int cmd_hsm_show(struct cli *c)
{
	struct volume_hsm st[COFFRE_MAX_HSMS];
	struct hsm_key_attrs a;
	struct volume *v;
	unsigned i, n;
	int ret = 0;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl hsm show BACKING --conf NAME | --hsm "
			"URI ... [--pin-file FILE]\n");
		return 2;
	}
	if ((ret = take_hsms(c, c->args[0])))
		return ret;
	if ((ret = open_volume(c, c->args[0], &v)))
		return ret;
	n = volume_hsm_status(v, st, COFFRE_MAX_HSMS);
	printf("master key: %s\nrecovery key: %s\n", volume_mk_label(v),
	       volume_conf(v)->has_recovery ? "yes" : "none");
	for (i = 0; i < n; i++) {
		printf("\nhsm %u: %s\ntoken: %s\nstate: %s%s%s\n", i + 1, st[i].uri,
		       st[i].token[0] ? st[i].token : "?", st[i].state,
		       st[i].up ? "" : ": ",
		       st[i].up ? "" : st[i].reason);
		ret = volume_hsm_key_attrs(v, i, &a);
		if (ret == -ENODEV)
			continue;
		if (ret) {
			fprintf(stderr, "coffrectl: cannot read key attributes: %s\n",
				strerror(-ret));
			break;
		}
		printf("sensitive: %s\nextractable: %s\nalways_sensitive: %s\n"
		       "never_extractable: %s\nvalue_readable: %s\n",
		       a.sensitive ? "yes" : "no", a.extractable ? "yes" : "no",
		       a.always_sensitive ? "yes" : "no",
		       a.never_extractable ? "yes" : "no",
		       a.value_readable ? "yes" : "no");
	}
	volume_close(v);
	return ret ? 1 : 0;
}

/* Before an enrollment: uri added to the mount configuration NAME (g_mc,
 * loaded and checked) unless it is there already, and the result checked,
 * so that a token is enrolled only if the file can list it. */
static int enroll_conf_add(const struct cli *c, const char *uri)
{
	char err[1];
	unsigned i;

	for (i = 0; i < g_mc.n_hsms; i++)
		if (!strcmp(g_mc.hsm[i], uri))
			return 0;
	if (g_mc.n_hsms == COFFRE_MAX_HSMS) {
		fprintf(stderr, "coffrectl: %s/%s.conf lists %d HSMs already: replace "
			"one there by hand first\n", COFFRE_CONFDIR, c->conf,
			COFFRE_MAX_HSMS);
		return -ENOSPC;
	}
	snprintf(g_mc.hsm[g_mc.n_hsms++], COFFRE_URI_MAX, "%s", uri);
	if (mount_conf_write(&g_mc, err, 0) == -EINVAL) {
		fprintf(stderr, "coffrectl: --hsm %s cannot be written in a mount "
			"configuration\n", uri);
		return -EINVAL;
	}
	return 0;
}

/* After it: the configuration rewritten atomically. */
static int enroll_conf_store(const struct cli *c)
{
	char err[512] = "";

	if (mount_conf_store(COFFRE_CONFDIR, c->conf, &g_mc, true, err, sizeof(err))) {
		fprintf(stderr, "coffrectl: the token is enrolled, but %s\n", err);
		return -EIO;
	}
	return 0;
}

static int cmd_hsm_enroll(struct cli *c)
{
	char err[512] = "", *pin;
	struct volume_conf *vc;
	int len, ret;

	if (c->n_args != 1 || c->n_hsm != 1) {
		fprintf(stderr, "usage: coffrectl hsm enroll BACKING --hsm URI "
			"--pin-file FILE --share FILE [--share FILE ...] [--conf NAME]\n");
		return 2;
	}
	/* --conf names the configuration to add the token to (its HSMs are
	 * not opened: the shares and the new token alone do it). */
	if (c->conf) {
		vc = malloc(sizeof(*vc));
		ret = mount_conf_load(COFFRE_CONFDIR, c->conf, &g_mc, err, sizeof(err));
		if (!ret)
			ret = mount_conf_check_source(&g_mc, c->args[0], err, sizeof(err));
		if (!ret && (!vc || volume_conf_peek(c->args[0], vc) ||
			     memcmp(vc->uuid, g_mc.uuid, COFFRE_ID_LEN))) {
			snprintf(err, sizeof(err), "%s does not hold the volume %s/%s.conf "
				 "is for", c->args[0], COFFRE_CONFDIR, c->conf);
			ret = -EXDEV;
		}
		free(vc);
		if (ret) {
			fprintf(stderr, "coffrectl: %s\n", err);
			return 1;
		}
		if (enroll_conf_add(c, c->hsm[0]))
			return 1;
	}
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	ret = volume_enroll(c->args[0], c->hsm[0], pin, (size_t)len, c->share,
			    c->n_share, err, sizeof(err));
	free_pin(pin);
	if (ret) {
		fprintf(stderr, "coffrectl: enroll failed: %s\n", err);
		return coffre_exit_of_errno(ret);
	}
	if (c->conf && enroll_conf_store(c))
		return 1;
	printf("enrolled %s: it holds the master key and is part of the volume\n",
	       c->hsm[0]);
	if (c->conf)
		printf("%s/%s.conf lists it: mounts use it from now on\n", COFFRE_CONFDIR,
		       c->conf);
	else
		printf("no --conf: mounts use it once it is in the volume's mount "
		       "configuration (run this again with --conf NAME)\n");
	return 0;
}

static void rewrap_progress(size_t done, size_t total, void *ctx)
{
	progress_update(ctx, "rewrap", "keys", done, total);
}

static bool is_backing(const char *path)
{
	char conf[4096];
	struct stat st;

	snprintf(conf, sizeof(conf), "%s/%s", path, COFFRE_CONF_FILE);
	return stat(conf, &st) == 0;
}

static int cmd_rotate_master(struct cli *c)
{
	struct rotate_opts o = { 0 };
	char err[512] = "", cmd[COFFRE_PIN_MAX + 64], msg[600], *pin;
	struct progress p;
	struct volume *v;
	int ret, len;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl key rotate-master MOUNTPOINT | BACKING "
			"--conf NAME | --hsm URI ... [--pin-file FILE] [--shares-dir DIR]\n");
		return 2;
	}
	if (shares_args(c))
		return 2;
	if (!is_backing(c->args[0])) {
		/* A mount: the daemon rotates; the PIN re-authenticates us. */
		if (c->shares_dir) {
			fprintf(stderr, "coffrectl: --shares-dir works on an unmounted "
				"BACKING only (the shares are written by this command)\n");
			return 2;
		}
		pin = load_pin(c, &len);
		if (!pin)
			return 1;
		snprintf(cmd, sizeof(cmd), "rotate-master %s", pin);
		free_pin(pin);
		ret = control_run_progress(c->args[0], cmd, c->json, false);
		secmem_wipe(cmd, sizeof(cmd));
		return ret;
	}
	if ((ret = take_hsms(c, c->args[0])))
		return ret;
	if ((ret = open_volume(c, c->args[0], &v)))
		return ret;
	o.shares_dir = c->shares_dir;
	o.shares_n = c->shares_n;
	o.shares_k = c->shares_k;
	progress_init(&p, progress_mode_for(c->json, isatty(2)),
		      c->json ? stdout : stderr, NULL);
	o.progress = rewrap_progress;
	o.progress_ctx = &p;
	ret = volume_rotate_master(v, &o, err, sizeof(err));
	progress_end(&p);
	if (ret) {
		snprintf(msg, sizeof(msg), "rotation failed: %s", err);
		fprintf(stderr, "coffrectl: %s\n", msg);
	} else {
		snprintf(msg, sizeof(msg), "master key rotated to v%u; the old "
			 "version is destroyed in every HSM", volume_conf(v)->mk_version);
		if (!c->json)
			printf("%s\n", msg);
	}
	volume_close(v);
	ret = coffre_exit_of_errno(ret);
	if (c->json)
		progress_json_result(stdout, ret, msg);
	return ret;
}

/* A failure before the daemon is asked: one line, and with --json the
 * result line too.  Returns status. */
static int refuse(const struct cli *c, int status, const char *msg)
{
	fprintf(stderr, "coffrectl: %s\n", msg);
	if (c->json)
		progress_json_result(stdout, status, msg);
	return status;
}

/* A directory key command: run by the daemon serving the directory, as
 * the control command key-WIRE (a long one shows its progress). */
static int dir_key_command(struct cli *c, const char *verb, const char *wire,
			   bool long_running)
{
	char mnt[PATH_MAX], rel[PATH_MAX], cmd[PATH_MAX + 32], msg[PATH_MAX + 64];
	int err;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl key %s DIR (a directory inside a "
			"coffre mount)\n", verb);
		return 2;
	}
	err = mount_of(c->args[0], mnt, sizeof(mnt), rel, sizeof(rel));
	if (err) {
		snprintf(msg, sizeof(msg), "%s is not a directory inside a coffre "
			 "mount", c->args[0]);
		return refuse(c, 1, msg);
	}
	if (strchr(rel, '\t') || strchr(rel, '\n'))
		return refuse(c, 1, "a path with a tab or newline cannot be sent to "
			      "the daemon");
	snprintf(cmd, sizeof(cmd), "key-%s\t%s", wire, rel[0] ? rel : ".");
	return long_running ? control_run_progress(mnt, cmd, c->json, false) :
	       control_run(mnt, cmd, stdout);
}

static int cmd_key_rotate(struct cli *c)
{
	return dir_key_command(c, "rotate", "rotate", false);
}

/* -r: the subdirectories too, each under its own current key. */
static int cmd_key_rekey(struct cli *c)
{
	return dir_key_command(c, "rekey", c->recursive ? "rekey-tree" : "rekey",
			       true);
}

static int cmd_key_shred(struct cli *c)
{
	char mnt[PATH_MAX], rel[PATH_MAX], cmd[PATH_MAX + COFFRE_PIN_MAX + 32];
	char answer[16], msg[PATH_MAX + 64], *pin;
	int err, len;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl key shred DIR --pin-file FILE [--yes] "
			"[--json]\n");
		return 2;
	}
	err = mount_of(c->args[0], mnt, sizeof(mnt), rel, sizeof(rel));
	if (err || strchr(rel, '\t') || strchr(rel, '\n')) {
		snprintf(msg, sizeof(msg), "%s is not a directory inside a coffre "
			 "mount", c->args[0]);
		return refuse(c, 1, msg);
	}
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	/* With --json, stdout holds JSON lines only: the check goes to stderr. */
	snprintf(cmd, sizeof(cmd), "key-shred-check\t%s", rel[0] ? rel : ".");
	fprintf(c->json ? stderr : stdout, "crypto-shredding %s destroys its keys "
		"for good: ", c->args[0]);
	fflush(c->json ? stderr : stdout);
	err = c->json ? control_run_progress(mnt, cmd, true, true) :
	      control_run(mnt, cmd, stdout);
	if (err) {
		free_pin(pin);
		return err;
	}
	if (!c->yes) {
		fprintf(c->json ? stderr : stdout, "type 'shred' to go on: ");
		fflush(c->json ? stderr : stdout);
		if (!fgets(answer, sizeof(answer), stdin) || strcmp(answer, "shred\n")) {
			free_pin(pin);
			return refuse(c, 1, "not shredded");
		}
	}
	snprintf(cmd, sizeof(cmd), "key-shred\t%s\t%s", pin, rel[0] ? rel : ".");
	free_pin(pin);
	err = control_run_progress(mnt, cmd, c->json, false);
	secmem_wipe(cmd, sizeof(cmd));
	return err;
}

static int cmd_shares_reissue(struct cli *c)
{
	char err[512] = "";
	struct volume *v;
	int ret;

	if (c->n_args != 1 || !c->shares_dir) {
		fprintf(stderr, "usage: coffrectl shares reissue BACKING --conf NAME | "
			"--hsm URI ... [--pin-file FILE] --share FILE ... --shares-dir DIR "
			"[--shares N] [--threshold K]\n");
		return 2;
	}
	if (shares_args(c))
		return 2;
	if ((ret = take_hsms(c, c->args[0])))
		return ret;
	if ((ret = open_volume(c, c->args[0], &v)))
		return ret;
	ret = volume_reissue_shares(v, c->share, c->n_share, c->shares_dir,
				    c->shares_n, c->shares_k, err, sizeof(err));
	volume_close(v);
	if (ret) {
		fprintf(stderr, "coffrectl: reissue failed: %s\n", err);
		return 1;
	}
	printf("new recovery key split into %u shares (any %u recover it) in %s; "
	       "the old shares no longer open anything\n", c->shares_n, c->shares_k,
	       c->shares_dir);
	return 0;
}

/* verify and restore: the bucket is checked with the HSMs named here. */
static int bucket_command(struct cli *c, bool restore)
{
	struct bucket_args a;
	char *pin;
	int len, ret;

	if (c->n_args != (restore ? 2u : 1u) || (c->n_hsm == 0 && !c->conf) ||
	    (restore && c->backing) || (!restore && c->force)) {
		fprintf(stderr, restore ?
			"usage: coffrectl restore BUCKET NEWBACKING --conf NAME | --hsm URI "
			"[--hsm URI ...] [--pin-file FILE] [--force] [--json]\n" :
			"usage: coffrectl verify BUCKET --conf NAME | --hsm URI [--hsm URI "
			"...] [--pin-file FILE] [--backing DIR] [--json]\n");
		return 2;
	}
	if ((ret = take_hsms(c, NULL)))
		return ret;
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	memset(&a, 0, sizeof(a));
	a.bucket = c->args[0];
	a.target = restore ? c->args[1] : NULL;
	a.backing = c->backing;
	a.uris = c->hsm;
	a.n_uris = c->n_hsm;
	a.pin = pin;
	a.pin_len = (size_t)len;
	a.json = c->json;
	a.force = c->force;
	ret = restore ? restore_command(&a) : verify_command(&a);
	free_pin(pin);
	return ret;
}

static int cmd_verify(struct cli *c)
{
	return bucket_command(c, false);
}

static int cmd_restore(struct cli *c)
{
	return bucket_command(c, true);
}

/*
 * conf adopt BACKING NAME: the mount configuration of an existing volume,
 * from the HSMs on the command line only.  The volume is opened read-only
 * with them (no lock: it may be mounted): every one must answer and hold
 * the master key with the config's check value, and the config must
 * authenticate (its MAC, under the root key they unseal).  Its own hsm
 * lines are never opened.
 */
static int cmd_conf_adopt(struct cli *c)
{
	struct volume_hsm st[COFFRE_MAX_HSMS];
	char err[512] = "", *pin;
	struct mount_conf *mc = &g_mc;
	const struct volume_conf *vc;
	struct volume *v = NULL;
	unsigned i, n;
	int len, ret;

	if (c->n_args != 2 || c->n_hsm == 0 || c->conf) {
		fprintf(stderr, "usage: coffrectl conf adopt BACKING NAME --hsm URI "
			"[--hsm URI ...] --pin-file FILE [--bucket DIR] [--force]%s\n",
			c->conf ? " (the HSMs come from --hsm, not --conf)" : "");
		return 2;
	}
	if (conf_name_free(c->args[1], c->force, "give --force to replace it") ||
	    conf_paths(mc, c->args[0], c))
		return 1;
	if (!c->mountpoint)
		keep_mountpoint(mc, c->args[1]);
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	ret = volume_open_ro(mc->backing, c->hsm, c->n_hsm, pin, (size_t)len, &v, err,
			     sizeof(err));
	free_pin(pin);
	if (ret) {
		fprintf(stderr, "coffrectl: %s is not adopted: %s\n", c->args[0], err);
		return coffre_exit_of_errno(ret);
	}
	n = volume_hsm_status(v, st, COFFRE_MAX_HSMS);
	for (i = 0; i < n && !ret; i++) {
		if (st[i].up)
			continue;
		fprintf(stderr, "coffrectl: %s is not adopted: HSM %s is %s%s%s (each "
			"HSM given must hold the volume's master key)\n", c->args[0],
			st[i].uri, st[i].state, st[i].reason[0] ? ": " : "", st[i].reason);
		ret = -ENODEV;
	}
	vc = volume_conf(v);
	conf_hsms(mc, c, vc->uuid);
	if (!ret && !c->bucket && vc->bucket[0]) {
		if (!mount_conf_path_valid(vc->bucket, strlen(vc->bucket))) {
			fprintf(stderr, "coffrectl: the volume's bucket %s cannot be "
				"written in a mount configuration: give --bucket DIR\n",
				vc->bucket);
			ret = -EINVAL;
		} else {
			snprintf(mc->bucket, sizeof(mc->bucket), "%s", vc->bucket);
		}
	}
	volume_close(v);
	if (ret)
		return 1;
	ret = mount_conf_store(COFFRE_CONFDIR, c->args[1], mc, c->force, err,
			       sizeof(err));
	if (ret) {
		fprintf(stderr, "coffrectl: %s\n", err);
		return 1;
	}
	printf("wrote %s/%s.conf: %s with %u HSM%s%s%s\n", COFFRE_CONFDIR, c->args[1],
	       mc->backing, mc->n_hsms, mc->n_hsms > 1 ? "s" : "",
	       mc->bucket[0] ? ", replicating to " : "", mc->bucket);
	if (mc->mountpoint[0])
		printf("mount it with: coffre -o conf=%s (on %s)\n", c->args[1],
		       mc->mountpoint);
	else
		printf("mount it with: coffre %s MOUNTPOINT -o conf=%s\n", mc->backing,
		       c->args[1]);
	return 0;
}

struct command {
	const char *word1, *word2;
	int (*run)(struct cli *c);
};

static int cmd_metrics(struct cli *c)
{
	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl metrics MOUNTPOINT\n");
		return 2;
	}
	return control_run(c->args[0], "metrics", stdout);
}

static const struct command commands[] = {
	{ "init", NULL, cmd_init },
	{ "conf", "adopt", cmd_conf_adopt },
	{ "hsm", "show", cmd_hsm_show },
	{ "hsm", "enroll", cmd_hsm_enroll },
	{ "key", "rotate-master", cmd_rotate_master },
	{ "key", "rotate", cmd_key_rotate },
	{ "key", "rekey", cmd_key_rekey },
	{ "key", "shred", cmd_key_shred },
	{ "shares", "reissue", cmd_shares_reissue },
	{ "verify", NULL, cmd_verify },
	{ "restore", NULL, cmd_restore },
	{ "metrics", NULL, cmd_metrics },
};

static int cmd_sync(struct cli *c)
{
	char cmd[64];
	int fd;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl sync MOUNTPOINT [--timeout SECONDS]\n");
		return 2;
	}
	/* Pages the kernel's writeback cache holds reach the daemon first. */
	fd = open(c->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd)) {
		fprintf(stderr, "coffrectl: cannot flush %s: %s\n", c->args[0],
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "sync %d", c->timeout ? (int)c->timeout * 1000 : -1);
	return control_run(c->args[0], cmd, stdout);
}

static int cmd_status(struct cli *c)
{
	int ret;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl status MOUNTPOINT [--json]\n");
		return COFFRE_HEALTH_UNKNOWN;
	}
	ret = control_call(c->args[0], c->json ? "status-json" : "status", stdout);
	return ret < 0 || ret > COFFRE_HEALTH_FAILING ? COFFRE_HEALTH_UNKNOWN : ret;
}

int main(int argc, char **argv)
{
	struct cli c;
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("coffrectl %s (mount configurations in %s)\n", COFFRE_VERSION,
		       COFFRE_CONFDIR);
		return 0;
	}
	if (secmem_init(1u << 20))
		fprintf(stderr, "coffrectl: warning: no locked memory for keys\n");
	if (!strcmp(argv[1], "status"))
		return parse(argc, argv, 2, &c) ? COFFRE_HEALTH_UNKNOWN : cmd_status(&c);
	if (!strcmp(argv[1], "sync"))
		return parse(argc, argv, 2, &c) ? 2 : cmd_sync(&c);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *k = &commands[i];

		if (strcmp(argv[1], k->word1))
			continue;
		if (k->word2 && (argc < 3 || strcmp(argv[2], k->word2)))
			continue;
		if (parse(argc, argv, k->word2 ? 3 : 2, &c))
			return 2;
		return k->run(&c);
	}
	fprintf(stderr, "coffrectl: unknown command '%s%s%s' (see --help)\n", argv[1],
		argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
	return 2;
}
