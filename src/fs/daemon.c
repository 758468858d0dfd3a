/*
 * daemon.c — start-up, the session loop and shut-down of the daemon.
 *
 * Start-up follows DESIGN.md §3: fork first; the child initialises PKCS#11
 * (its state does not survive fork()), logs in, checks the volume, mounts,
 * and reports "ok" or a one-line reason to the parent through a pipe; the
 * parent exits with the child's exit status (coffre/exit.h).  So `mount`
 * fails on a wrong PIN and no dead mount is ever left.  The mount point is
 * checked first (mount_point.c).  Once the volume is open, log lines go to
 * log_file=, to stderr with -f, else to syslog when /dev/log exists, else
 * to LOGDIR/NAME.log (doc/DESIGN.md, "Logs").  Under systemd (Type=notify)
 * it sends READY=1 once the mount serves and STOPPING=1 on the way out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "bdi.h"
#include "fs.h"
#include "coffre/exit.h"
#include "coffre/io.h"
#include "coffre/mountinfo.h"

#define SECURE_HEAP (4u << 20)
#define CRED_NAME "coffre-pin"
/* The start-up verdict: one write to a pipe, atomic up to PIPE_BUF. */
#define REPORT_MAX 4096

static int report_fd = -1;

/* Tell the waiting parent how start-up ended (once). */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	char msg[REPORT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (report_fd >= 0) {
		if (write(report_fd, msg, (size_t)n) < 0)
			perror("coffre: report");
		close(report_fd);
		report_fd = -1;
	} else if (strcmp(msg, "ok")) {
		fprintf(stderr, "coffre: %s\n", msg);
	}
}

/* The parent: the child's one line; on failure, wait (10 s at most) until
 * the child has cleaned up and gone, so a failed mount leaves no daemon,
 * and exit with its status. */
static int wait_child(int fd, pid_t pid)
{
	char msg[REPORT_MAX + 1];
	ssize_t n = read(fd, msg, sizeof(msg) - 1);
	int status = 0, code = COFFRE_EXIT_FAILURE;
	pid_t done = 0;

	close(fd);
	if (n > 0) {
		msg[n] = '\0';
		if (!strcmp(msg, "ok"))
			return COFFRE_EXIT_OK;
	}
	for (int i = 0; i < 1000 && (done = waitpid(pid, &status, WNOHANG)) == 0; i++)
		usleep(10000);
	if (done == pid && WIFEXITED(status) && WEXITSTATUS(status))
		code = WEXITSTATUS(status);
	if (n <= 0)
		fprintf(stderr, "coffre: the daemon died during start-up\n");
	else
		fprintf(stderr, "coffre: %s\n", msg);
	return code;
}

/* What others (a PKCS#11 module, libfuse) write on stderr, to syslog. */
static void *syslog_relay(void *arg)
{
	FILE *in = fdopen((int)(intptr_t)arg, "r");
	char line[1024];

	if (!in)
		return NULL;
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		syslog(LOG_WARNING, "%s", line);
	}
	fclose(in);
	return NULL;
}

/* A log file: appended to, never through a symlink, a regular file. */
static int open_log_at(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
			O_NOCTTY | O_CLOEXEC | O_NONBLOCK, 0600);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	/* Ours alone: not another user's file, nor a hard link planted to
	 * make the daemon append to a file elsewhere. */
	if (st.st_uid != geteuid() || st.st_nlink != 1) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* No syslog socket: LOGDIR (made root-only 0700, checked like /etc/coffre
 * all the way from /) / NAME.log, and where it is said on stderr. */
static int open_fallback_log(const struct fs_opts *o, char *where, size_t cap)
{
	char name[COFFRE_MOUNT_NAME_MAX + 8];
	int dirfd, fd;

	snprintf(where, cap, "%s", o->logdir);
	dirfd = io_open_trusted_dir(o->logdir, true, where, cap);
	if (dirfd < 0)
		return dirfd;
	snprintf(name, sizeof(name), "%s.log", o->conf);
	fd = open_log_at(dirfd, name);
	if (fd >= 0 && io_check_trusted(fd, S_IFREG)) {
		close(fd);
		fd = -EPERM;
	}
	close(dirfd);
	snprintf(where, cap, "%s/%s", o->logdir, name);
	if (fd >= 0)
		fprintf(stderr, "coffre: no syslog socket (/dev/log): logging to %s\n",
			where);
	return fd;
}

/* Where the log lines go from now on (see the top of this file); where,
 * on failure, what could not be opened. */
static int redirect_stdio(const struct fs_opts *o, char *where, size_t cap)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), fds[2], log = -1;
	bool to_file = o->log_file || (!o->foreground && access("/dev/log", F_OK));
	pthread_t t;

	if (null < 0)
		return -errno;
	/* Under systemd (stderr is the journal's stream): native entries,
	 * each with its priority and the volume's id. */
	if (!o->log_file && log_journal_stream() && log_use_journal(NULL) == 0)
		to_file = false;
	snprintf(where, cap, "%s", o->log_file ? o->log_file : "");
	if (to_file)
		log = o->log_file ? open_log_at(AT_FDCWD, o->log_file) :
		      open_fallback_log(o, where, cap);
	if (log < 0 && to_file) {
		close(null);
		return log;
	}
	dup2(null, 0);
	dup2(null, 1);
	close(null);
	if (log >= 0) {
		dup2(log, 2);
		close(log);
	} else if (!o->foreground) {
		if (pipe2(fds, O_CLOEXEC))
			return -errno;
		openlog("coffre", LOG_PID, LOG_DAEMON);
		log_use_syslog(true);
		dup2(fds[1], 2);
		close(fds[1]);
		if (pthread_create(&t, NULL, syslog_relay, (void *)(intptr_t)fds[0]))
			return -EAGAIN;
		pthread_detach(t);
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	return 0;
}

/* The systemd credential "coffre-pin" into path, if there is one. */
static bool pin_credential(char *path, size_t cap)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");

	if (!creds)
		return false;
	snprintf(path, cap, "%s/%s", creds, CRED_NAME);
	return access(path, F_OK) == 0;
}

/* The PIN: pin_file= (the option, else the mount configuration's line,
 * unless a systemd credential "coffre-pin" is given: serve_mount_conf),
 * or that credential. */
static int read_pin(const struct fs_opts *o, char *pin, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (o->pin_file)
		return pin_read_file(o->pin_file, pin, err, errlen);
	if (pin_credential(path, sizeof(path)))
		return pin_read_file(path, pin, err, errlen);
	snprintf(err, errlen, "no PIN: give -o pin_file=FILE, a pin_file line in "
		 "%s/%s.conf or a systemd credential named %s", o->confdir,
		 o->conf ? o->conf : "NAME", CRED_NAME);
	return -EINVAL;
}

/* Every inode the kernel remembers holds an O_PATH fd: lift the soft
 * limit on open files to the hard one (as passthrough_hp does). */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Descriptors for inodes and open files: the limit less a reserve (a
 * quarter, at most FS_FD_RESERVE) that the HSM modules, the replicator,
 * its journal, the control socket and transient opens always find. */
#define FS_FD_RESERVE 256
static size_t fd_budget(void)
{
	struct rlimit rl;
	size_t limit, reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	limit = (size_t)rl.rlim_cur;
	reserve = limit / 4 < FS_FD_RESERVE ? limit / 4 : FS_FD_RESERVE;
	return limit - reserve;
}

/*
 * FUSE worker threads: two per online CPU, at least 4 (a request that
 * blocks on the backing store or the HSM does not stall the others), at
 * most 16.  Each worker holds a 1 MiB libfuse request buffer and the
 * store's per-thread buffers, so the cap bounds the daemon's memory.
 * Workers never exit when idle: a re-created one would re-allocate and
 * pre-fault its buffers.
 */
static unsigned int worker_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		return 4;
	return n > 8 ? 16 : (unsigned int)(2 * n);
}

/*
 * A live mount of this backing dir (its fsname is BACKING) is refused at
 * once, with where it is mounted; the volume lock alone would first wait
 * for a daemon that might be on its way out.
 */
static bool already_mounted(const char *backing)
{
	struct mount_entry *m = malloc(sizeof(*m));
	bool found = m && mountinfo_find("fuse.coffre", NULL, backing, m) == 0;

	if (found)
		report("%s is already mounted on %s", backing, m->point);
	free(m);
	return found;
}

/* Append s to out (cap bytes, NUL-terminated) quoted for a POSIX shell
 * when it holds anything but [A-Za-z0-9_./:=,+-]. */
static void shell_word(char *out, size_t cap, const char *s)
{
	size_t len = strlen(out);
	bool plain = *s != '\0';

	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_./:=,+-", *p))
			plain = false;
	if (plain) {
		snprintf(out + len, cap - len, "%s", s);
		return;
	}
	if (len + 1 < cap)
		out[len++] = '\'';
	for (; *s && len + 5 < cap; s++) {
		if (*s == '\'') {
			memcpy(out + len, "'\\''", 4);
			len += 4;
		} else {
			out[len++] = *s;
		}
	}
	if (len + 1 < cap)
		out[len++] = '\'';
	out[len] = '\0';
}

/* A configuration name from the backing dir's last component: lowercase,
 * other characters '-', at most 64; "NAME" if nothing is left. */
static void suggest_name(const char *backing, char out[COFFRE_MOUNT_NAME_MAX + 1])
{
	const char *b = strrchr(backing, '/');
	size_t n = 0;

	for (b = b ? b + 1 : backing; *b && n < COFFRE_MOUNT_NAME_MAX; b++) {
		char ch = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			out[n++] = ch;
		else if (n && (ch == '_' || ch == '-' || ch == '.'))
			out[n++] = ch == '.' ? '-' : ch;
	}
	out[n] = '\0';
	if (!mount_conf_name_valid(out))
		snprintf(out, COFFRE_MOUNT_NAME_MAX + 1, "NAME");
}

/*
 * No conf=: refused, with the one command that moves the volume over.  The
 * HSM URIs offered are the volume config's own hsm lines, read but not
 * authenticated (no HSM may be touched to check them), so they are shown
 * without their query attributes (module-path, module-name): nothing the
 * backing dir wrote is offered as a library to load.
 */
static void refuse_without_conf(const struct fs_opts *o, const char *backing)
{
	struct volume_conf *vc = malloc(sizeof(*vc));
	char name[COFFRE_MOUNT_NAME_MAX + 1], cmd[REPORT_MAX - 512] = "", pin[PATH_MAX];
	unsigned i, n = 0;

	suggest_name(backing, name);
	snprintf(cmd, sizeof(cmd), "coffrectl conf adopt ");
	shell_word(cmd, sizeof(cmd), backing);
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s", name);
	if (vc && volume_conf_peek(backing, vc) == 0)
		n = vc->n_hsms;
	for (i = 0; i < n; i++) {
		vc->hsm[i][strcspn(vc->hsm[i], "?")] = '\0';
		strncat(cmd, " --hsm ", sizeof(cmd) - strlen(cmd) - 1);
		shell_word(cmd, sizeof(cmd), vc->hsm[i]);
	}
	if (!n)
		strncat(cmd, " --hsm URI", sizeof(cmd) - strlen(cmd) - 1);
	strncat(cmd, " --pin-file ", sizeof(cmd) - strlen(cmd) - 1);
	shell_word(cmd, sizeof(cmd), !o->pin_file ? "FILE" :
		   realpath(o->pin_file, pin) ? pin : o->pin_file);
	report("%s: no mount configuration given: the HSMs (and PKCS#11 modules) "
	       "of a volume come only from %s/NAME.conf, named with -o conf=NAME, "
	       "never from the backing dir.  Move this volume over once with\n  %s\n"
	       "(%s; add ?module-path=... where p11-kit does not know the module), "
	       "then mount it with -o conf=%s", backing, o->confdir, cmd,
	       n ? "HSM URIs as its config lists them, unverified: check them" :
	       "its HSMs' URIs", name);
	free(vc);
}

/*
 * The mount configuration conf=NAME: loaded and checked (SOURCE is its
 * backing directory); pin_file= and bucket= options win over its lines,
 * and so does a systemd credential over its pin_file.
 */
static int serve_mount_conf(struct fs_opts *o, const char *backing,
			    struct mount_conf *mc)
{
	char err[512] = "", path[PATH_MAX];
	int ret;

	if (!o->conf) {
		refuse_without_conf(o, backing);
		return -EINVAL;
	}
	ret = mount_conf_load(o->confdir, o->conf, mc, err, sizeof(err));
	if (!ret)
		ret = mount_conf_check_source(mc, backing, err, sizeof(err));
	if (ret) {
		report("%s", err);
		return ret;
	}
	/* The PIN: pin_file=, else a systemd credential (the unit's own
	 * choice), else the configuration's pin_file. */
	if (!o->pin_file && mc->pin_file[0] && !pin_credential(path, sizeof(path)) &&
	    !(o->pin_file = strdup(mc->pin_file)))
		ret = -ENOMEM;
	if (!o->bucket && mc->bucket[0] && !(o->bucket = strdup(mc->bucket)))
		ret = -ENOMEM;
	if (ret)
		report("out of memory");
	return ret;
}

/*
 * Locked memory, the backing dir's real path into backing, the mount
 * configuration, logging set up, the PIN read and the volume opened into
 * g_fs.vol with the configuration's HSMs.  Returns 0 or the exit status;
 * on failure the reason has been reported and nothing is left to undo.
 */
static int serve_open_volume(struct fs_opts *o, char *backing)
{
	char err[512] = "", *pin, where[PATH_MAX];
	const char *uris[COFFRE_MAX_HSMS];
	struct mount_conf *mc = NULL;
	int ret, pin_len;

	if (secmem_init(SECURE_HEAP)) {
		report("cannot set up locked memory for keys (RLIMIT_MEMLOCK?)");
		return COFFRE_EXIT_FAILURE;
	}
	pin = secmem_alloc(COFFRE_PIN_MAX + 1);
	if (!pin || !realpath(o->backing, backing)) {
		report("cannot open backing directory %s: %s", o->backing,
		       strerror(errno));
		secmem_free(pin, COFFRE_PIN_MAX + 1);
		return COFFRE_EXIT_FAILURE;
	}
	mc = malloc(sizeof(*mc));
	ret = mc ? serve_mount_conf(o, backing, mc) : -ENOMEM;
	if (!mc)
		report("out of memory");
	if (ret || already_mounted(backing)) {
		secmem_free(pin, COFFRE_PIN_MAX + 1);
		free(mc);
		return ret == -ENOMEM || !ret ? COFFRE_EXIT_FAILURE : COFFRE_EXIT_CONFIG;
	}
	/* From here on, what the lower layers log goes to the log (the
	 * parent only gets report()'s one line), unless in the foreground. */
	ret = redirect_stdio(o, where, sizeof(where));
	if (ret) {
		report("cannot log to %s: %s", where, strerror(-ret));
		secmem_free(pin, COFFRE_PIN_MAX + 1);
		free(mc);
		return COFFRE_EXIT_FAILURE;
	}
	for (unsigned i = 0; i < mc->n_hsms; i++)
		uris[i] = mc->hsm[i];
	hex_encode(mc->uuid, COFFRE_ID_LEN, where);
	log_set_volume(where);
	pin_len = read_pin(o, pin, err, sizeof(err));
	ret = pin_len < 0 ? pin_len :
	      /* The configured path, checked to be SOURCE: SOURCE is not
	       * opened again, so swapping it meanwhile changes nothing. */
	      volume_open(mc->backing, uris, mc->n_hsms, mc->uuid, pin,
			  (size_t)pin_len, &g_fs.vol, err, sizeof(err));
	secmem_free(pin, COFFRE_PIN_MAX + 1);
	free(mc);
	if (ret)
		report("%s", err);
	return pin_len < 0 ? COFFRE_EXIT_CONFIG : coffre_exit_of_errno(ret);
}

/* The file system's state: settings, crypto threads, inodes, replication.
 * Returns 0 or the exit status. */
static int serve_fs_init(const struct fs_opts *o)
{
	char err[512] = "";
	int ret;

	g_fs.keys = volume_keyring(g_fs.vol);
	g_fs.root_fd = volume_root_fd(g_fs.vol);
	g_fs.seg_size = volume_conf(g_fs.vol)->seg_size;
	g_fs.strict_holes = volume_conf(g_fs.vol)->strict_holes;
	g_fs.timeout = 1.0;
	/* The kernel cuts the mount's readahead down to this at init. */
	g_fs.max_readahead = o->readahead_kb > STORE_MAX_REQUEST / 1024 ?
			     o->readahead_kb * 1024 : STORE_MAX_REQUEST;
	ret = store_split_init(o->crypto_threads);
	if (ret)
		log_msg(LOG_WARNING, "%u crypto threads asked for, fewer "
			"started: %s", o->crypto_threads, strerror(-ret));
	ret = inode_table_new(g_fs.root_fd, g_fs.keys, g_fs.seg_size,
			      g_fs.strict_holes, &g_fs.inodes);
	if (ret) {
		report("cannot open the backing root: %s", strerror(-ret));
		return COFFRE_EXIT_FAILURE;
	}
	inode_table_set_fds(g_fs.inodes, fd_budget(), o->max_fds);
	inode_table_set_max_inodes(g_fs.inodes, o->max_inodes);
	if (!inode_table_has_handles(g_fs.inodes))
		log_msg(LOG_WARNING, "the backing filesystem has no file handles: "
			"every inode the kernel caches keeps a descriptor "
			"(max_fds=%u does not hold)", o->max_fds);
	/* The bucket is the mount configuration's (or bucket=), never the
	 * volume config's: its line is only compared, to say what is off. */
	if (!o->bucket && volume_conf(g_fs.vol)->bucket[0])
		log_msg(LOG_WARNING, "the volume's config names the bucket %s, but "
			"neither conf=%s nor bucket= does: not replicating",
			volume_conf(g_fs.vol)->bucket, o->conf);
	/* Replication never blocks the mount: a bucket that is down is an
	 * outage the worker rides out, reported by `coffrectl status`. */
	ret = fs_replica_start(o->bucket ? o->bucket : "", err, sizeof(err));
	if (ret)
		report("cannot start replication: %s", err);
	return ret ? COFFRE_EXIT_BUCKET : 0;
}

/* libfuse's arguments: fsname=BACKING (what fstab names, so that `mount
 * -a` sees it mounted), the user's -o options, -d. */
static int serve_fuse_args(const struct fs_opts *o, const char *backing,
			   struct fuse_args *args)
{
	char opts[2 * PATH_MAX + 4096 + 128], fsname[2 * PATH_MAX];

	if (strchr(backing, ',')) {
		report("backing path must not contain a comma");
		return -EINVAL;
	}
	/* libfuse's option parser takes a backslash as an escape. */
	for (size_t k = 0, w = 0; w + 2 < sizeof(fsname); k++) {
		if (backing[k] == '\\')
			fsname[w++] = '\\';
		fsname[w++] = backing[k];
		if (!backing[k])
			break;
	}
	fsname[sizeof(fsname) - 1] = '\0';
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=coffre,"
		 "default_permissions%s%s", fsname, o->fuse_opts[0] ? "," : "",
		 o->fuse_opts);
	if (fuse_opt_add_arg(args, "coffre") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts) ||
	    (o->debug && fuse_opt_add_arg(args, "-d"))) {
		report("out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Mounted: tune the bdi, log, start the monitor and the control socket,
 * and tell the parent. */
static void serve_mounted(const struct fs_opts *o, const char *backing,
			  const char *mnt)
{
	static struct fs_health health;
	char line[512];
	int ret;

	ret = bdi_tune(mnt, "fuse.coffre", o->readahead_kb, o->max_dirty_ratio);
	if (ret)
		log_msg(LOG_WARNING, "readahead and dirty limit left at the "
			"kernel's defaults: %s", strerror(-ret));
	log_msg(LOG_NOTICE, "mounted %s on %s (conf=%s)%s", backing, o->mountpoint,
		o->conf,
		volume_degraded(g_fs.vol) ? " (DEGRADED: not every HSM answers; "
		"see `coffrectl status`)" : "");
	volume_monitor_hsms(g_fs.vol, 5);
	ret = fs_health_start(5);
	if (ret)
		log_msg(LOG_WARNING, "no health watch (%s): the warnings of "
			"`coffrectl status` will not be logged", strerror(-ret));
	ret = control_start(o);
	if (ret)
		log_msg(LOG_WARNING, "no control socket (%s): `coffrectl status` "
			"will not reach this mount", strerror(-ret));
	ret = fs_metrics_file_start(o->metrics_file, FS_METRICS_FILE_PERIOD_S);
	if (ret)
		log_msg(LOG_WARNING, "no metrics file %s: %s", o->metrics_file,
			strerror(-ret));
	report("ok");
	fs_health(&health);
	fs_health_line(&health, line, sizeof(line));
	fs_notify("READY=1\nSTATUS=%s", line);
	if (chdir("/"))
		log_msg(LOG_WARNING, "chdir /: %s", strerror(errno));
}

/* The session loop, until unmounted or signalled. */
static int serve_loop(const struct fs_opts *o, struct fuse_session *se)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int ret;

	if (!cfg) {
		fs_metrics_file_stop();
		fs_health_stop();
		control_stop();       /* nothing may answer once serve frees */
		return -ENOMEM;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, worker_threads());
	fuse_loop_cfg_set_idle_threads(cfg, worker_threads());
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	/* libfuse's signal handlers end the loop with the signal's number:
	 * SIGTERM (systemctl stop), SIGINT and SIGHUP are a clean stop. */
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
	fs_notify("STOPPING=1\nSTATUS=unmounting %s", o->mountpoint);
	/* First: once the mount is gone, `coffrectl status` must say no
	 * daemon serves it (exit 3), not answer while the threads stop. */
	control_stop();
	fs_prune_stop();
	log_msg(LOG_NOTICE, "unmounting %s", o->mountpoint);
	fs_metrics_file_stop();
	fs_health_stop();
	return ret;
}

static int serve(struct fs_opts *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	char backing[PATH_MAX], mnt[PATH_MAX], msg[REPORT_MAX];
	int ret;

	umask(0);
	raise_fd_limit();
	/* The mount point first: nothing is opened or logged into for one
	 * that would be refused. */
	if (mountpoint_check(o->mountpoint, o->nonempty_ok, mnt, msg, sizeof(msg))) {
		report("%s", msg);
		return COFFRE_EXIT_MOUNTPOINT;
	}
	ret = serve_open_volume(o, backing);
	if (ret)
		return ret;
	ret = serve_fs_init(o);
	if (!ret && serve_fuse_args(o, backing, &args))
		ret = COFFRE_EXIT_FAILURE;
	if (ret)
		goto out;
	ret = COFFRE_EXIT_FAILURE;
	se = fuse_session_new(&args, &coffre_ops, sizeof(coffre_ops), NULL);
	if (!se) {
		report("cannot create the FUSE session (bad mount option?)");
		goto out;
	}
	if (fuse_set_signal_handlers(se)) {
		report("cannot set up signal handlers");
		goto out_session;
	}
	if (fuse_session_mount(se, o->mountpoint)) {
		report("cannot mount on %s (is /dev/fuse usable?)", o->mountpoint);
		ret = COFFRE_EXIT_MOUNTPOINT;
		goto out_handlers;
	}
	serve_mounted(o, backing, mnt);
	g_fs.se = se;                 /* the pruner starts at FUSE init */
	ret = serve_loop(o, se) ? COFFRE_EXIT_FAILURE : COFFRE_EXIT_OK;
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out_session:
	g_fs.se = NULL;
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	fs_replica_stop();
	inode_table_free(g_fs.inodes);
	g_fs.inodes = NULL;
	volume_close(g_fs.vol);
	g_fs.vol = NULL;
	g_fs.keys = NULL;
	g_fs.root_fd = -1;
	return ret;
}

/*
 * `coffre -o conf=NAME` without BACKING and MOUNTPOINT (what the unit
 * coffre@NAME.service runs): the configuration's backing and mountpoint
 * lines.  The file is read again, and checked against BACKING, when the
 * volume is opened.  Returns 0 or the exit status.
 */
static int conf_mount_args(struct fs_opts *o)
{
	static char backing[COFFRE_MOUNT_PATH_MAX], mountpoint[COFFRE_MOUNT_PATH_MAX];
	struct mount_conf *mc = malloc(sizeof(*mc));
	char err[512] = "";
	int ret = mc ? mount_conf_load(o->confdir, o->conf, mc, err, sizeof(err)) : -ENOMEM;

	if (!ret && !mc->mountpoint[0]) {
		snprintf(err, sizeof(err), "%s/%s.conf has no mountpoint line: give "
			 "BACKING and MOUNTPOINT", o->confdir, o->conf);
		ret = -EINVAL;
	}
	if (!ret) {
		memcpy(backing, mc->backing, sizeof(backing));
		memcpy(mountpoint, mc->mountpoint, sizeof(mountpoint));
		o->backing = backing;
		o->mountpoint = mountpoint;
	} else {
		fprintf(stderr, "coffre: %s\n", mc ? err : "out of memory");
	}
	free(mc);
	if (ret)
		return ret == -ENOMEM ? COFFRE_EXIT_FAILURE : COFFRE_EXIT_CONFIG;
	return 0;
}

int fs_run(struct fs_opts *o)
{
	int fds[2], ret;
	pid_t pid;

	if (!o->mountpoint && (ret = conf_mount_args(o)))
		return ret;
	if (o->foreground)
		return serve(o);
	if (pipe2(fds, O_CLOEXEC)) {
		log_msg(LOG_ERR, "pipe: %s", strerror(errno));
		return COFFRE_EXIT_FAILURE;
	}
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		return COFFRE_EXIT_FAILURE;
	}
	if (pid > 0) {
		close(fds[1]);
		return wait_child(fds[0], pid);
	}
	close(fds[0]);
	report_fd = fds[1];
	setsid();
	return serve(o);
}
