/*
 * notify.c — systemd's service notification protocol (sd_notify(3)),
 * without libsystemd: one datagram of "KEY=VALUE" lines to the AF_UNIX
 * socket $NOTIFY_SOCKET names (a path, or '@' for the abstract
 * namespace).  What the unit coffre@.service (Type=notify) waits for:
 * READY=1 once the mount serves, STATUS= the health line, STOPPING=1 on
 * the way out.  Without $NOTIFY_SOCKET it does nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs.h"

int fs_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[1024];
	size_t len;
	va_list ap;
	ssize_t sent;
	int fd, n;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EAFNOSUPPORT;   /* vsock: and relative paths: not ours */
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';  /* abstract: no trailing NUL counted */
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1,
		      MSG_NOSIGNAL, (struct sockaddr *)&sa,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				  (path[0] == '/')));
	n = sent < 0 ? -errno : 0;
	close(fd);
	return n;
}
