/*
 * journal.c — log lines as journald's native datagrams (systemd's "Native
 * Journal Protocol": KEY=value lines, one datagram per entry, sent to
 * /run/systemd/journal/socket), so that under systemd each line keeps its
 * priority and carries fields a query can select on: COFFRE_VOLUME (the
 * volume id) and COFFRE_CLASS (the class of a finding, such as "tamper").
 * Used only when stderr is the journal's stream (JOURNAL_STREAM names its
 * device and inode, as systemd sets it for a service's stderr).  Values
 * never hold a newline (log_format writes control characters as '?'), so
 * the plain KEY=value form is enough.  libc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "coffre/log.h"
#include "log_private.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define VOLUME_MAX 64

static int journal_fd = -1;
static char volume[VOLUME_MAX + 1];

bool log_journal_stream(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!v || sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
	    fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

int log_use_journal(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path)
		path = JOURNAL_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = fd;
	return 0;
}

void log_set_volume(const char *id)
{
	snprintf(volume, sizeof(volume), "%s", id ? id : "");
}

bool log_journal_active(void)
{
	return journal_fd >= 0;
}

bool log_journal_send(int prio, const char *msg, size_t len, const char *class)
{
	char buf[LOG_LINE_MAX + 256];
	int n;

	if (journal_fd < 0)
		return false;
	n = snprintf(buf, sizeof(buf), "PRIORITY=%d\nSYSLOG_FACILITY=%d\n"
		     "SYSLOG_IDENTIFIER=coffre\nSYSLOG_PID=%ld\nMESSAGE=%.*s\n",
		     LOG_PRI(prio), LOG_DAEMON >> 3, (long)getpid(), (int)len, msg);
	if (n > 0 && (size_t)n < sizeof(buf) && volume[0])
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "COFFRE_VOLUME=%s\n",
			      volume);
	if (n > 0 && (size_t)n < sizeof(buf) && class)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "COFFRE_CLASS=%s\n",
			      class);
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return false;
	return send(journal_fd, buf, (size_t)n, MSG_NOSIGNAL) == n;
}
