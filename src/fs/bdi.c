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
 * Relies on mountinfo.c and libc only: bench/passthrough.c uses both, so
 * that the no-crypto baseline runs with exactly coffre's settings.
 */
#include "bdi.h"
#include "coffre/mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct mount_entry *m;
	char dev[32];
	int err;

	if (readahead_kb == 0 && max_ratio == 0)
		return 0;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* Rebuilt from two numbers: nothing else can reach the sysfs path. */
	err = mountinfo_find(fstype, mountpoint, NULL, m);
	if (!err)
		snprintf(dev, sizeof(dev), "%u:%u", m->major, m->minor);
	free(m);
	if (!err && readahead_kb)
		err = write_knob(dev, "read_ahead_kb", readahead_kb);
	if (!err && max_ratio)
		err = write_knob(dev, "max_ratio", max_ratio);
	return err;
}
