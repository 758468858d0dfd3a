/*
 * pin.c — reading an HSM PIN from a file.
 *
 * PINs never come from the command line or the environment (both are
 * visible to other users through /proc).  The file must be a regular file
 * owned by root or by us and unreadable by group and others; a trailing
 * newline (or CRLF) is not part of the PIN.  The PIN lands in caller-given
 * locked memory; the read buffer is wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "coffre/keys.h"

int pin_read_file(const char *path, char *pin, char *err, size_t errlen)
{
	char buf[COFFRE_PIN_MAX + 3];   /* the PIN and a CRLF */
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open PIN file %s: %s", path,
			 strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen, "PIN file %s must be a regular file owned by "
			 "root with mode 0600 or stricter", path);
		return -EPERM;
	}
	n = io_read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n < 0 || n > COFFRE_PIN_MAX) {
		secmem_wipe(buf, sizeof(buf));
		snprintf(err, errlen, "PIN file %s is unreadable or too long", path);
		return -EINVAL;
	}
	if (n == 0 || memchr(buf, '\n', (size_t)n) || memchr(buf, '\0', (size_t)n)) {
		secmem_wipe(buf, sizeof(buf));
		snprintf(err, errlen, "PIN file %s must hold one non-empty line", path);
		return -EINVAL;
	}
	memcpy(pin, buf, (size_t)n);
	pin[n] = '\0';
	secmem_wipe(buf, sizeof(buf));
	return (int)n;
}
