/*
 * control.c — the daemon's side of the control socket (coffre/control.h).
 *
 * One thread accepts connections on /run/coffre/<hash>.sock (directory
 * 0700, socket 0600) and serves one command per connection.  The peer's
 * credentials (SO_PEERCRED) must be root or the user who mounted.  Commands:
 *   status         human-readable state: health and its warnings (health.c),
 *                  volume, HSMs, key cache, inodes and descriptors,
 *                  replication; last, "exit: N", the health level
 *   status-json    the same as one JSON object, then "exit: N"
 *   rotate-master PIN   a live master key rotation (DESIGN.md §3); the PIN
 *                  re-authenticates the caller
 *   key-rotate\tDIR, key-rekey\tDIR, key-rekey-tree\tDIR (-r),
 *   key-shred-check\tDIR, key-shred\tPIN\tDIR   directory key operations
 *                  (keyops.c); DIR is relative to the mount root
 * rotate-master, key-rekey* and key-shred write "progress: PHASE DONE/TOTAL
 * UNIT" lines before their answer (coffre/progress.h).
 *   metrics        "ok", then every metric in the Prometheus text format
 *                  (metrics.c)
 *   sync MS        wait up to MS milliseconds (-1: forever) until the
 *                  bucket holds everything written before
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "coffre/control.h"
#include "coffre/progress.h"
#include "coffre/replica.h"
#include "keyops.h"

static struct {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t thread;
	bool running;
	uid_t owner;
	const struct fs_opts *opts;
} ctl = { .fd = -1 };

/* Descriptors open in this process (-1: cannot tell, e.g. at the limit)
 * and its limit. */
static void fd_usage(long *open_fds, long *limit)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	struct rlimit rl;
	long n = -1;

	if (d) {
		n = 0;
		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		n--;                  /* opendir's own */
	}
	*open_fds = n;
	*limit = getrlimit(RLIMIT_NOFILE, &rl) ? -1 : (long)rl.rlim_cur;
}

static void status_body(FILE *f, bool json, const struct fs_health *h)
{
	struct volume_hsm st[COFFRE_MAX_HSMS];
	unsigned i, n = volume_hsm_status(g_fs.vol, st, COFFRE_MAX_HSMS), up = 0;
	char uuid[2 * COFFRE_ID_LEN + 1];
	struct replica_status rs;
	bool have_rep = fs_replica_status(&rs);
	struct inode_stats is;
	size_t entries;
	long fds, fd_limit;
	uint64_t unseals;
	bool pruning = fs_prune_active();

	fd_usage(&fds, &fd_limit);
	inode_table_stats(g_fs.inodes, &is);
	for (i = 0; i < n; i++)
		up += st[i].up;
	hex_encode(volume_conf(g_fs.vol)->uuid, COFFRE_ID_LEN, uuid);
	keyring_stats(g_fs.keys, &entries, &unseals);
	if (!json) {
		fprintf(f, "ok\nhealth: %s\n", fs_health_name(h->level));
		for (i = 0; i < h->n; i++)
			fprintf(f, "  warning: %s\n", h->w[i].text);
		fprintf(f, "mount: %s\nbacking: %s\nvolume: %s\nsegment size: %u\n"
			"hsms: %u of %u up%s\n", ctl.opts->mountpoint, ctl.opts->backing,
			uuid, g_fs.seg_size, up, n, up < n ? " (DEGRADED)" : "");
		for (i = 0; i < n; i++)
			fprintf(f, "  hsm %u: %s token=%s state=%s failovers=%lu (%s)\n",
				i + 1, st[i].uri, st[i].token[0] ? st[i].token : "?",
				st[i].state, st[i].failovers, st[i].reason);
		fprintf(f, "key cache: %zu keys, %llu HSM unseals\n", entries,
			(unsigned long long)unseals);
		fprintf(f, "inodes: %zu cached, %zu bytes each, max %zu (", is.inodes,
			sizeof(struct inode), is.max_inodes);
		if (pruning)
			fprintf(f, "passed %llu times, %llu pruned)",
				(unsigned long long)is.crossings,
				(unsigned long long)is.pruned);
		else
			fprintf(f, "KERNEL CANNOT PRUNE: unbounded)");
		fprintf(f, "; descriptors: %ld "
			"open of %ld (inodes %zu of %zu%s, open files %zu; %llu "
			"closed, %llu reopened by handle)\n",
			fds, fd_limit, is.path_fds, is.max_fds,
			is.handles ? "" : ", NO FILE HANDLES: unbounded",
			is.data_fds, (unsigned long long)is.evictions,
			(unsigned long long)is.reopens);
		if (!have_rep) {
			fprintf(f, "replication: off (no bucket)\n");
			return;
		}
		fprintf(f, "replication: bucket %s, %llu pending (%llu in memory, "
			"journal %llu bytes; oldest %llus, ~%llu bytes behind), "
			"%llu copied, %llu unchanged, %llu deleted, manifest "
			"generation %llu (%llu entries, %llu in memory)%s%s%s\n",
			replica_bucket_state_name(rs.bucket),
			(unsigned long long)rs.queued,
			(unsigned long long)rs.in_memory,
			(unsigned long long)rs.journal_bytes,
			(unsigned long long)rs.oldest_age_s,
			(unsigned long long)rs.bytes_behind,
			(unsigned long long)rs.copied, (unsigned long long)rs.skipped,
			(unsigned long long)rs.deleted,
			(unsigned long long)rs.generation,
			(unsigned long long)rs.manifest_entries,
			(unsigned long long)rs.manifest_in_memory,
			rs.manifest_suspicious ? ", MANIFEST SUSPICIOUS" : "",
			rs.last_error[0] ? "; last error: " : "", rs.last_error);
		return;
	}
	fprintf(f, "ok\n{\"health\": \"%s\", \"warnings\": [", fs_health_name(h->level));
	for (i = 0; i < h->n; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_write_str(f, h->w[i].text);
	}
	fprintf(f, "], \"mount\": ");
	json_write_str(f, ctl.opts->mountpoint);
	fprintf(f, ", \"backing\": ");
	json_write_str(f, ctl.opts->backing);
	fprintf(f, ", \"volume\": \"%s\", \"segment_size\": %u, \"degraded\": %s, "
		"\"hsms\": [", uuid, g_fs.seg_size, up < n ? "true" : "false");
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"uri\": ", i ? ", " : "");
		json_write_str(f, st[i].uri);
		fprintf(f, ", \"token\": ");
		json_write_str(f, st[i].token);
		fprintf(f, ", \"state\": \"%s\", \"failovers\": %lu, \"reason\": ",
			st[i].state, st[i].failovers);
		json_write_str(f, st[i].reason);
		fputc('}', f);
	}
	fprintf(f, "], \"key_cache\": {\"entries\": %zu, \"unseals\": %llu}",
		entries, (unsigned long long)unseals);
	fprintf(f, ", \"inodes\": {\"cached\": %zu, \"bytes_each\": %zu, "
		"\"max_inodes\": %zu, \"over_max\": %s, \"pruning\": %s, "
		"\"times_over\": %llu, \"pruned\": %llu, \"forgotten\": %llu}, "
		"\"descriptors\": {\"open\": %ld, \"limit\": %ld, \"inodes\": %zu, "
		"\"max_fds\": %zu, \"file_handles\": %s, \"open_files\": %zu, "
		"\"closed\": %llu, \"reopened\": %llu}", is.inodes,
		sizeof(struct inode), is.max_inodes,
		is.max_inodes && is.inodes > is.max_inodes ? "true" : "false",
		pruning ? "true" : "false", (unsigned long long)is.crossings,
		(unsigned long long)is.pruned, (unsigned long long)is.forgotten,
		fds, fd_limit, is.path_fds, is.max_fds,
		is.handles ? "true" : "false", is.data_fds,
		(unsigned long long)is.evictions, (unsigned long long)is.reopens);
	if (have_rep) {
		fprintf(f, ", \"replication\": {\"bucket\": \"%s\", \"queued\": %llu, "
			"\"in_memory\": %llu, \"journal_bytes\": %llu, "
			"\"oldest_pending_s\": %llu, \"bytes_behind\": %llu, "
			"\"copied\": %llu, \"skipped\": %llu, \"deleted\": %llu, "
			"\"generation\": %llu, \"manifest_entries\": %llu, "
			"\"manifest_in_memory\": %llu, \"manifest_suspicious\": %s, "
			"\"last_error\": ", replica_bucket_state_name(rs.bucket),
			(unsigned long long)rs.queued,
			(unsigned long long)rs.in_memory,
			(unsigned long long)rs.journal_bytes,
			(unsigned long long)rs.oldest_age_s,
			(unsigned long long)rs.bytes_behind,
			(unsigned long long)rs.copied, (unsigned long long)rs.skipped,
			(unsigned long long)rs.deleted,
			(unsigned long long)rs.generation,
			(unsigned long long)rs.manifest_entries,
			(unsigned long long)rs.manifest_in_memory,
			rs.manifest_suspicious ? "true" : "false");
		json_write_str(f, rs.last_error);
		fputc('}', f);
	}
	fprintf(f, "}\n");
}

static void status(FILE *f, bool json)
{
	static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
	static struct fs_health h;

	pthread_mutex_lock(&one);
	fs_health(&h);
	status_body(f, json, &h);
	fprintf(f, "exit: %d\n", h.level);
	pthread_mutex_unlock(&one);
}

static void rotate_master(FILE *f, const char *pin)
{
	static pthread_mutex_t one_at_a_time = PTHREAD_MUTEX_INITIALIZER;
	struct progress p;
	struct rotate_opts o = { .progress = keyops_rewrap_progress,
				 .progress_ctx = &p };
	char err[512] = "";
	int ret;

	if (!volume_check_pin(g_fs.vol, pin, strlen(pin))) {
		fprintf(f, "error: PIN rejected\n");
		return;
	}
	progress_init(&p, PROGRESS_WIRE, f, NULL);
	pthread_mutex_lock(&one_at_a_time);
	log_msg(LOG_NOTICE, "master key rotation from v%u",
		volume_conf(g_fs.vol)->mk_version);
	ret = volume_rotate_master(g_fs.vol, &o, err, sizeof(err));
	if (ret) {
		log_msg(LOG_ERR, "master key rotation failed: %s", err);
		fprintf(f, "error: %s\n", err);
	} else {
		note_keys();
		log_msg(LOG_NOTICE, "master key rotated to v%u",
			volume_conf(g_fs.vol)->mk_version);
		fprintf(f, "ok\nmaster key rotated to v%u; the old version is "
			"destroyed in every HSM\n", volume_conf(g_fs.vol)->mk_version);
	}
	pthread_mutex_unlock(&one_at_a_time);
}

/* Run a directory key operation and report a failure as one line. */
static void key_op(FILE *f, const char *line)
{
	const char *tab = strchr(line, '\t'), *rel = tab ? tab + 1 : "";
	int err;

	if (!strncmp(line, "key-rotate\t", 11))
		err = keyops_rotate(rel, f);
	else if (!strncmp(line, "key-rekey\t", 10))
		err = keyops_rekey(rel, false, f);
	else if (!strncmp(line, "key-rekey-tree\t", 15))
		err = keyops_rekey(rel, true, f);
	else if (!strncmp(line, "key-shred-check\t", 16))
		err = keyops_shred(rel, NULL, true, f);
	else if (!strncmp(line, "key-shred\t", 10) && strchr(rel, '\t')) {
		char pin[COFFRE_PIN_MAX + 1];
		size_t len = (size_t)(strchr(rel, '\t') - rel);

		if (len > COFFRE_PIN_MAX)
			len = COFFRE_PIN_MAX;
		memcpy(pin, rel, len);
		pin[len] = '\0';
		err = keyops_shred(strchr(rel, '\t') + 1, pin, false, f);
		secmem_wipe(pin, sizeof(pin));
	} else {
		fprintf(f, "error: malformed key command\n");
		return;
	}
	note_keys();
	if (err)
		fprintf(f, "error: %s%s\n", strerror(-err),
			err == -EPERM ? " (the root directory's key cannot be shredded)" :
			err == -ENOENT ? " (no such directory in the mount)" : "");
}

static void sync_bucket(FILE *f, int timeout_ms)
{
	struct replica_status rs;
	int err = fs_replica_sync(timeout_ms);

	if (err == -ENOTCONN)
		fprintf(f, "error: this mount has no bucket\n");
	else if (err == -ETIMEDOUT) {
		fs_replica_status(&rs);
		fprintf(f, "error: timed out with %llu changes pending (bucket %s%s%s)\n",
			(unsigned long long)rs.queued, replica_bucket_state_name(rs.bucket),
			rs.last_error[0] ? ": " : "", rs.last_error);
	} else if (err)
		fprintf(f, "error: %s\n", strerror(-err));
	else
		fprintf(f, "ok\n");
}

static void serve_one(int fd)
{
	char line[COFFRE_CONTROL_MAX_LINE];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char iobuf[COFFRE_CONTROL_MAX_LINE];
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != 0 && cred.uid != ctl.owner)) {
		close(fd);
		return;
	}
	f = fdopen(fd, "r+");
	if (!f) {
		close(fd);
		return;
	}
	/* The command line may carry a PIN: keep stdio's copy of it in a
	 * buffer of ours, wiped after use. */
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		secmem_wipe(iobuf, sizeof(iobuf));
		return;
	}
	line[strcspn(line, "\r\n")] = '\0';
	if (!strcmp(line, "status"))
		status(f, false);
	else if (!strcmp(line, "status-json"))
		status(f, true);
	else if (!strcmp(line, "metrics")) {
		fputs("ok\n", f);
		fs_metrics_write(f);
	}
	else if (!strncmp(line, "rotate-master ", 14))
		rotate_master(f, line + 14);
	else if (!strncmp(line, "key-", 4))
		key_op(f, line);
	else if (!strncmp(line, "sync ", 5))
		sync_bucket(f, atoi(line + 5));
	else
		fprintf(f, "error: unknown command '%.16s'\n", line);
	secmem_wipe(line, sizeof(line));
	fclose(f);
	secmem_wipe(iobuf, sizeof(iobuf));
}

static void *control_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(ctl.fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;   /* socket shut down */
		}
		serve_one(fd);
	}
}

int control_start(const struct fs_opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	ctl.opts = o;
	ctl.owner = getuid();
	if (mkdir(COFFRE_RUN_DIR, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(COFFRE_RUN_DIR, &st) || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	err = control_socket_path(o->mountpoint, ctl.path, sizeof(ctl.path));
	if (err)
		return err;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl.path);
	ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl.fd < 0)
		return -errno;
	unlink(ctl.path);   /* a stale socket of a dead daemon */
	if (bind(ctl.fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(ctl.path, 0600) || listen(ctl.fd, 8)) {
		err = -errno;
		goto fail;
	}
	if (pthread_create(&ctl.thread, NULL, control_main, NULL)) {
		err = -EAGAIN;
		goto fail;
	}
	ctl.running = true;
	return 0;
fail:
	close(ctl.fd);
	ctl.fd = -1;
	unlink(ctl.path);
	return err;
}

void control_stop(void)
{
	if (!ctl.running)
		return;
	shutdown(ctl.fd, SHUT_RDWR);
	pthread_join(ctl.thread, NULL);
	close(ctl.fd);
	unlink(ctl.path);
	ctl.running = false;
}
