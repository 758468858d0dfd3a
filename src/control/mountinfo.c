/*
 * mountinfo.c — finding a mount in /proc/self/mountinfo by type, mount
 * point or source, without touching the mounted filesystem (which may be
 * our own, not serving yet).
 *
 * A line is: id parent MAJ:MIN root mountpoint options [optional fields...]
 * " - " type source super-options (proc(5)); paths carry octal escapes
 * (\040 for a space...).  The last matching line is the topmost mount.
 *
 * Self-contained (libc only, its own library): the daemon, coffrectl
 * (src/cli/client.c) and bench/passthrough.c (through bdi.c) use it.
 */
#include "coffre/mountinfo.h"

#include <errno.h>
#include <stdbool.h>
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

/* Parse one line into e (its type in *type); false if it is malformed. */
static bool parse_line(char *line, struct mount_entry *e, char **type)
{
	char *save = NULL, *majmin, *mnt, *sep, *src;
	int used = 0;

	sep = strstr(line, " - ");
	if (!sep)
		return false;
	*sep = '\0';
	*type = strtok_r(sep + 3, " \n", &save);
	src = strtok_r(NULL, " \n", &save);
	save = NULL;
	if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save))
		return false;
	majmin = strtok_r(NULL, " ", &save);
	if (!strtok_r(NULL, " ", &save))
		return false;
	mnt = strtok_r(NULL, " ", &save);
	if (!majmin || !mnt || !*type || !src ||
	    sscanf(majmin, "%u:%u%n", &e->major, &e->minor, &used) != 2 ||
	    majmin[used] != '\0' || strlen(mnt) >= sizeof(e->point) ||
	    strlen(src) >= sizeof(e->source))
		return false;
	unescape(mnt);
	unescape(src);
	strcpy(e->point, mnt);
	strcpy(e->source, src);
	return true;
}

int mountinfo_each(const char *fstype,
		   void (*fn)(const struct mount_entry *e, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct mount_entry *e = malloc(sizeof(*e));
	char *line = NULL, *type;
	size_t len = 0;
	int err = 0;

	if (!f || !e) {
		err = f ? -ENOMEM : -errno;
		goto out;
	}
	while (getline(&line, &len, f) > 0)
		if (parse_line(line, e, &type) && !strcmp(type, fstype))
			fn(e, arg);
	if (ferror(f))
		err = -EIO;
out:
	free(line);
	free(e);
	if (f)
		fclose(f);
	return err;
}

struct find {
	const char *point, *source;
	struct mount_entry *out;
	bool found;
};

static void match(const struct mount_entry *e, void *arg)
{
	struct find *q = arg;

	if ((q->point && strcmp(e->point, q->point)) ||
	    (q->source && strcmp(e->source, q->source)))
		return;
	*q->out = *e;           /* the last match is the topmost */
	q->found = true;
}

int mountinfo_find(const char *fstype, const char *point, const char *source,
		   struct mount_entry *out)
{
	struct find q = { point, source, out, false };
	int err = mountinfo_each(fstype, match, &q);

	return err ? err : q.found ? 0 : -ENOENT;
}
