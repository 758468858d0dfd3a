/*
 * bdi.c — the kernel's per-mount readahead and dirty-page knobs for a FUSE
 * mount we have just made (/sys/class/bdi/MAJ:MIN/{read_ahead_kb,
 * max_ratio}).
 *
 * The kernel gives every FUSE mount 128 KiB of readahead whatever
 * max_readahead the daemon negotiates, and caps its dirty pages at 1 % of
 * the system's dirty limit (strictly), to protect the system from
 * unprivileged daemons.  A root daemon may raise both; the mount's device
 * number is found in /proc/self/mountinfo by mount point, so no request is
 * sent to the filesystem, which is not serving yet.
 *
 * Self-contained (libc only): bench/passthrough.c uses it too, so that the
 * no-crypto baseline runs with exactly coffre's settings.
 */
#include "bdi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012, \134) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * The "MAJ:MIN" of the topmost mount of type fstype on mountpoint (an
 * absolute, canonical path), rebuilt from its two numbers so that nothing
 * else can reach the sysfs path.  Return: 0, -ENOENT or -ENOMEM.
 */
static int find_dev(const char *mountpoint, const char *fstype, char *dev,
		    size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t len = 0;
	int err = -ENOENT;

	if (!f)
		return -errno;
	/* id parent MAJ:MIN root mountpoint options [tags...] - type source super */
	while (getline(&line, &len, f) > 0) {
		char *save = NULL, *majmin, *mnt, *sep, *type;
		unsigned maj, min;
		int used = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		type = strtok_r(sep + 3, " \n", &save);
		save = NULL;
		if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save))
			continue;
		majmin = strtok_r(NULL, " ", &save);
		if (!strtok_r(NULL, " ", &save))
			continue;
		mnt = strtok_r(NULL, " ", &save);
		if (!majmin || !mnt || !type || strcmp(type, fstype) ||
		    sscanf(majmin, "%u:%u%n", &maj, &min, &used) != 2 ||
		    majmin[used] != '\0')
			continue;
		unescape(mnt);
		if (strcmp(mnt, mountpoint))
			continue;
		snprintf(dev, cap, "%u:%u", maj, min);  /* the last is the topmost */
		err = 0;
	}
	if (ferror(f) && err)
		err = -EIO;
	free(line);
	fclose(f);
	return err;
}

static int write_knob(const char *dev, const char *knob, unsigned value)
{
	char path[128];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/%s", dev, knob);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fprintf(f, "%u\n", value) < 0)
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

int bdi_tune(const char *mountpoint, const char *fstype, unsigned readahead_kb,
	     unsigned max_ratio)
{
	char dev[32];
	int err;

	if (readahead_kb == 0 && max_ratio == 0)
		return 0;
	err = find_dev(mountpoint, fstype, dev, sizeof(dev));
	if (!err && readahead_kb)
		err = write_knob(dev, "read_ahead_kb", readahead_kb);
	if (!err && max_ratio)
		err = write_knob(dev, "max_ratio", max_ratio);
	return err;
}
