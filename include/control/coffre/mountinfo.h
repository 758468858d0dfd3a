/*
 * coffre/mountinfo.h — looking up mounts in /proc/self/mountinfo
 * (src/control/mountinfo.c): the daemon, coffrectl and the bench passthrough.
 */
#ifndef COFFRE_MOUNTINFO_H
#define COFFRE_MOUNTINFO_H

#include <limits.h>

struct mount_entry {
	unsigned major, minor;        /* the mount's device (its bdi) */
	char point[PATH_MAX];         /* mount point, escapes undone */
	char source[PATH_MAX];        /* source (fsname), escapes undone */
};

/* Call fn for every mount of type fstype, in mount order (the last one
 * on a mount point is the topmost).  Return: 0 or -errno. */
int mountinfo_each(const char *fstype,
		   void (*fn)(const struct mount_entry *e, void *arg), void *arg);

/*
 * The topmost mount of type fstype (e.g. "fuse.coffre") whose mount point
 * is point and whose source is source (either may be NULL: any).
 * Return: 0 with *out filled, -ENOENT, or -errno reading mountinfo.
 */
int mountinfo_find(const char *fstype, const char *point, const char *source,
		   struct mount_entry *out);

#endif
