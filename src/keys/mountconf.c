/*
 * mountconf.c — the mount configuration CONFDIR/NAME.conf (doc/FORMAT.md
 * §10.2; CONFDIR is the build's, /etc/coffre by default): loading it with
 * its trust checks (io/trusted.c: root's, not group/other-writable, the
 * whole way from "/", never through a symlink, never blocking), checking
 * that a mount's SOURCE is its backing directory, and writing it
 * atomically (temp, fsync, rename, fsync of the directory; mode 0600).
 * The HSMs of a volume, and so the PKCS#11 modules loaded, come only from
 * here: nothing in the backing dir or the bucket selects a library.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "keys_private.h"

#define NAME_RULE "[a-z0-9][a-z0-9_-]{0,63}"

/* The trusted directory, or a one-line reason in err. */
static int open_confdir(const char *confdir, bool create, char *err,
			size_t errlen)
{
	char bad[PATH_MAX] = "";
	int fd = io_open_trusted_dir(confdir, create, bad, sizeof(bad));

	if (fd >= 0)
		return fd;
	if (fd == -ENOENT)
		return keys_set_err(err, errlen, fd, "%s does not exist (no mount "
				    "configuration was ever written here)", confdir);
	if (fd == -EPERM)
		return keys_set_err(err, errlen, fd, "%s: %s must be owned by root and "
				    "writable by no one else", confdir, bad);
	if (fd == -ELOOP)
		return keys_set_err(err, errlen, fd, "%s: %s is a symlink (none may be "
				    "on the way to a mount configuration)", confdir, bad);
	return keys_set_err(err, errlen, fd, "%s: %s: %s", confdir,
			    bad[0] ? bad : confdir, strerror(-fd));
}

int mount_conf_load(const char *confdir, const char *name, struct mount_conf *mc,
		    char *err, size_t errlen)
{
	char file[COFFRE_MOUNT_FILE_MAX], *text = NULL;
	ssize_t n;
	int dfd, ret;

	memset(mc, 0, sizeof(*mc));
	if (mount_conf_file_name(name, file))
		return keys_set_err(err, errlen, -EINVAL, "conf=%s: a configuration "
				    "name is %s", name, NAME_RULE);
	dfd = open_confdir(confdir, false, err, errlen);
	if (dfd < 0)
		return dfd;
	text = malloc(COFFRE_MOUNT_CONF_MAX);
	n = text ? io_read_trusted(dfd, file, text, COFFRE_MOUNT_CONF_MAX) : -ENOMEM;
	close(dfd);
	switch (n) {
	case -ENOENT:
		ret = keys_set_err(err, errlen, -ENOENT, "no mount configuration "
				   "%s/%s: make it with `coffrectl init --conf %s` or "
				   "`coffrectl conf adopt BACKING %s --hsm URI ...`",
				   confdir, file, name, name);
		break;
	case -ELOOP:
		ret = keys_set_err(err, errlen, -ELOOP, "%s/%s is a symlink: refused",
				   confdir, file);
		break;
	case -EINVAL:
		ret = keys_set_err(err, errlen, -EINVAL, "%s/%s is not a regular file: "
				   "refused", confdir, file);
		break;
	case -EPERM:
		ret = keys_set_err(err, errlen, -EPERM, "%s/%s must be owned by root and "
				   "writable by no one else", confdir, file);
		break;
	case -EFBIG:
		ret = keys_set_err(err, errlen, -EFBIG, "%s/%s is larger than %d bytes",
				   confdir, file, COFFRE_MOUNT_CONF_MAX);
		break;
	default:
		if (n < 0) {
			ret = keys_set_err(err, errlen, (int)n, "cannot read %s/%s: %s",
					   confdir, file, strerror((int)-n));
			break;
		}
		ret = mount_conf_parse(text, (size_t)n, mc);
		if (ret)
			keys_set_err(err, errlen, ret, "%s/%s is malformed (see "
				     "doc/FORMAT.md §10.2: backing, uuid, 1 to %d hsm "
				     "lines, pin_file, bucket)", confdir, file,
				     COFFRE_MAX_HSMS);
	}
	free(text);
	return ret;
}

int mount_conf_check_source(const struct mount_conf *mc, const char *source,
			    char *err, size_t errlen)
{
	struct stat a, b;

	if (stat(source, &a) < 0)
		return keys_set_err(err, errlen, -errno, "cannot open %s: %s", source,
				    strerror(errno));
	if (stat(mc->backing, &b) < 0)
		return keys_set_err(err, errlen, -errno, "the configured backing "
				    "directory %s: %s", mc->backing, strerror(errno));
	if (!S_ISDIR(a.st_mode) || !S_ISDIR(b.st_mode) || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return keys_set_err(err, errlen, -EXDEV, "%s is not the backing "
				    "directory this configuration is for (%s)", source,
				    mc->backing);
	return 0;
}

int mount_conf_exists(const char *confdir, const char *name)
{
	char file[COFFRE_MOUNT_FILE_MAX];
	struct stat st;
	int dfd, ret;

	if (mount_conf_file_name(name, file))
		return -EINVAL;
	dfd = io_open_trusted_dir(confdir, false, NULL, 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	ret = fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 :
	      errno == ENOENT ? 0 : -errno;
	close(dfd);
	return ret;
}

int mount_conf_store(const char *confdir, const char *name,
		     const struct mount_conf *mc, bool replace, char *err,
		     size_t errlen)
{
	char file[COFFRE_MOUNT_FILE_MAX], *text = NULL;
	int dfd, len, ret;

	if (mount_conf_file_name(name, file))
		return keys_set_err(err, errlen, -EINVAL, "%s: a configuration name is "
				    "%s", name, NAME_RULE);
	dfd = open_confdir(confdir, true, err, errlen);
	if (dfd < 0)
		return dfd;
	text = malloc(COFFRE_MOUNT_CONF_MAX);
	len = text ? mount_conf_write(mc, text, COFFRE_MOUNT_CONF_MAX) : -ENOMEM;
	ret = len < 0 ? len : replace ? io_replace(dfd, file, text, (size_t)len, 0600) :
	      io_create_new(dfd, file, text, (size_t)len, 0600);
	if (ret == -EEXIST)
		keys_set_err(err, errlen, ret, "%s/%s exists already (another "
			     "volume's?)", confdir, file);
	else if (ret)
		keys_set_err(err, errlen, ret, "cannot write %s/%s: %s", confdir, file,
			     ret == -EINVAL ? "a value is not allowed there" :
			     strerror(-ret));
	free(text);
	close(dfd);
	return ret;
}
