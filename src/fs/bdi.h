/*
 * bdi.h — per-mount readahead and dirty-page limits (bdi.c).
 */
#ifndef COFFRE_FS_BDI_H
#define COFFRE_FS_BDI_H

/*
 * Set the readahead (KiB) and the share of the system's dirty-page limit
 * (percent, 1..100) of the topmost mount of type fstype (as in
 * /proc/self/mountinfo, e.g. "fuse.coffre") on mountpoint, an absolute
 * canonical path.  0 leaves a knob as the kernel set it.
 * Return: 0, -ENOENT (no such mount) or -errno from sysfs (-EACCES when
 * not root).
 */
int bdi_tune(const char *mountpoint, const char *fstype, unsigned readahead_kb,
	     unsigned max_ratio);

#endif
