/*
 * client.c — coffrectl's side of the control socket (coffre/control.h):
 * connect to the daemon serving a mount point, check that it runs as root
 * or as us, send one command line and copy the reply out ("progress: "
 * lines to the caller's progress, or stderr; an "exit: N" line is the
 * command's exit status).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "coffre/exit.h"
#include "coffre/mountinfo.h"
#include "coffre/control.h"
#include "coffre/progress.h"

/* A "progress: " line: to p if it is one of ours (an old daemon's free
 * text to stderr, unless JSON is being written). */
static void show_progress(struct progress *p, const char *text)
{
	char phase[PROGRESS_PHASE_MAX], unit[PROGRESS_UNIT_MAX];
	uint64_t done, total;

	if (!p) {
		fputs(text, stderr);
		return;
	}
	if (progress_parse_wire(text, phase, unit, &done, &total) == 0)
		progress_update(p, phase, unit, done, total);
	else if (p->mode != PROGRESS_JSON)
		fputs(text, stderr);
}

int control_call_progress(const char *mountpoint, const char *cmd, FILE *out,
			  struct progress *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[COFFRE_CONTROL_MAX_LINE];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	bool first = true, json = p && p->mode == PROGRESS_JSON;
	int fd, err, exit_status = 0;
	FILE *f;

	err = control_socket_path(mountpoint, sa.sun_path, sizeof(sa.sun_path));
	if (err) {
		fprintf(stderr, "coffrectl: %s: %s\n", mountpoint, strerror(-err));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "coffrectl: no coffre daemon serves %s (%s)\n",
			mountpoint, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != 0 && cred.uid != getuid())) {
		fprintf(stderr, "coffrectl: the socket for %s is not served by root "
			"or by you: refusing to talk to it\n", mountpoint);
		close(fd);
		return -1;
	}
	/* Sent with write(2): the line may carry a PIN, which must not linger
	 * in a stdio buffer. */
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) ||
	    write(fd, "\n", 1) != 1) {
		fprintf(stderr, "coffrectl: cannot talk to the daemon: %s\n",
			strerror(errno));
		close(fd);
		return -1;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -1;
	}
	err = 1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "progress: ", 10)) {
			show_progress(p, line + 10);
			continue;
		}
		if (p)
			progress_end(p);
		if (!strncmp(line, "exit: ", 6) && !first) {
			exit_status = atoi(line + 6);
			continue;
		}
		if (first) {
			first = false;
			if (!strcmp(line, "ok\n")) {
				err = 0;
				continue;
			}
			fprintf(stderr, "coffrectl: %s", line);
			if (json)       /* the result line says why too */
				fputs(line, out);
			continue;
		}
		fputs(line, err ? stderr : out);
		if (err && json)
			fputs(line, out);
	}
	if (first)
		fprintf(stderr, "coffrectl: the daemon closed the connection\n");
	fclose(f);
	return first ? -1 : err ? err : exit_status;
}

int control_call(const char *mountpoint, const char *cmd, FILE *out)
{
	return control_call_progress(mountpoint, cmd, out, NULL);
}

int control_run(const char *mountpoint, const char *cmd, FILE *out)
{
	int ret = control_call(mountpoint, cmd, out);

	return ret < 0 ? COFFRE_EXIT_FAILURE : ret;
}

int control_run_progress(const char *mountpoint, const char *cmd, bool json,
			 bool first_step)
{
	char *text = NULL;
	size_t len = 0;
	struct progress p;
	FILE *out;
	int ret;

	progress_init(&p, progress_mode_for(json, isatty(2)), json ? stdout : stderr,
		      NULL);
	/* JSON: the answer becomes the result line's message. */
	out = json ? open_memstream(&text, &len) : stdout;
	if (!out)
		return COFFRE_EXIT_FAILURE;
	ret = control_call_progress(mountpoint, cmd, out, &p);
	progress_end(&p);
	if (ret < 0)
		ret = COFFRE_EXIT_FAILURE;
	if (json) {
		fclose(out);
		while (len && text[len - 1] == '\n')
			text[--len] = '\0';
		if (first_step && !ret)
			fprintf(stderr, "%s\n", text ? text : "");
		else
			progress_json_result(stdout, ret, text ? text : "");
		free(text);
	}
	return ret;
}

/* The longest fuse.coffre mount point that contains real. */
struct best_mount {
	const char *real;
	char mnt[PATH_MAX];
	size_t len;
};

static void consider(const struct mount_entry *e, void *arg)
{
	struct best_mount *b = arg;
	size_t len = strlen(e->point);

	if (strncmp(b->real, e->point, len) ||
	    (b->real[len] && b->real[len] != '/' && strcmp(e->point, "/")))
		return;
	if (len >= b->len) {
		b->len = len;
		snprintf(b->mnt, sizeof(b->mnt), "%s", e->point);
	}
}

int mount_of(const char *dir, char *mnt, size_t mcap, char *rel, size_t rcap)
{
	char real[PATH_MAX];
	struct best_mount b = { real, "", 0 };
	int err;

	if (!realpath(dir, real))
		return -errno;
	err = mountinfo_each("fuse.coffre", consider, &b);
	if (err)
		return err;
	if (!b.len)
		return -ENOENT;
	snprintf(mnt, mcap, "%s", b.mnt);
	snprintf(rel, rcap, "%s", real[b.len] == '/' ? real + b.len + 1 : real + b.len);
	return 0;
}
