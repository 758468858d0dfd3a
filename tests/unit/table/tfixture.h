/*
 * Shared by the tests of chain.c, state.c and commit.c: a manifest
 * directory under a fresh mkdtemp() (removed at the end), a fixed uuid
 * and table key, OBJ entries tagged by who wrote them, and raw records
 * written straight through src/format (for records a writer never makes).
 */
#ifndef COFFRE_TEST_TFIXTURE_H
#define COFFRE_TEST_TFIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "coffre/table.h"

static const uint8_t fx_key[COFFRE_KEY_LEN] = {
	0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
	0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75,
	0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
};

struct fx {
	char dir[64];
	int mdir;
	struct table_keys k;
};

static inline void fx_setup(struct fx *f)
{
	strcpy(f->dir, "/tmp/coffre-table-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	f->mdir = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(f->mdir, 0);
	memset(f->k.uuid, 0xa5, sizeof(f->k.uuid));
	f->k.key = fx_key;
}

static inline void fx_teardown(struct fx *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(f->mdir, de->d_name, 0) < 0)
			unlinkat(f->mdir, de->d_name, AT_REMOVEDIR);
	if (d)
		closedir(d);
	close(f->mdir);
	cr_assert_eq(rmdir(f->dir), 0);
}

static inline bool fx_exists(struct fx *f, const char *name)
{
	struct stat st;

	return fstatat(f->mdir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static inline void fx_logname(uint64_t g, char name[V2_MANIFEST_NAME_MAX])
{
	cr_assert_gt(names2_manifest_write(N2_MF_LOG, g, name), 0);
}

/* OBJ(id = k) with meta epoch (tag << 24 | 1). */
static inline struct tent fx_obj(unsigned k, unsigned tag)
{
	struct tentry e = { .kind = V2_TK_OBJ };
	struct tent t;

	e.u.obj.id[12] = (uint8_t)(k >> 24);
	e.u.obj.id[13] = (uint8_t)(k >> 16);
	e.u.obj.id[14] = (uint8_t)(k >> 8);
	e.u.obj.id[15] = (uint8_t)k;
	e.u.obj.meta_epoch = v2_epoch(tag, 1);
	cr_assert_eq(tent_from(&e, &t), 0);
	return t;
}

static inline unsigned fx_tag(const struct tent *t)
{
	struct tentry e;

	cr_assert_eq(tent_to(t, &e), 0);
	return (unsigned)v2_epoch_gen(e.u.obj.meta_epoch);
}

static inline unsigned fx_key_of(const struct tent *t)
{
	return (unsigned)t->b[13] << 24 | (unsigned)t->b[14] << 16 |
	       (unsigned)t->b[15] << 8 | t->b[16];
}

/* Read a file of mdir whole (a record), malloc'd. */
static inline uint8_t *fx_read(struct fx *f, const char *name, size_t *len)
{
	int fd = openat(f->mdir, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;

	cr_assert_geq(fd, 0, "%s", name);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static inline void fx_write(struct fx *f, const char *name, const void *buf,
			    size_t len)
{
	int fd = openat(f->mdir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* The verified header of log.<g> (its MAC into mac, if not NULL). */
static inline struct tlog_header fx_header(struct fx *f, uint64_t g,
					   uint8_t *mac)
{
	char name[V2_MANIFEST_NAME_MAX];
	struct tlog_view v;
	uint8_t *buf;
	size_t len;

	fx_logname(g, name);
	buf = fx_read(f, name, &len);
	cr_assert_eq(tlog_parse(fx_key, buf, len, &v), 0, "%s", name);
	if (mac)
		memcpy(mac, v.mac, COFFRE_MAC_LEN);
	free(buf);
	return v.h;
}

/* Write a raw record log.<h->gen> with one put OBJ(k, tag); mac out. */
static inline void fx_raw_record(struct fx *f, struct tlog_header *h,
				 unsigned k, uint8_t mac[COFFRE_MAC_LEN])
{
	char name[V2_MANIFEST_NAME_MAX];
	struct tent t = fx_obj(k, 1);
	struct tentry e;
	uint8_t *buf;
	size_t len;
	int n;

	cr_assert_eq(tent_to(&t, &e), 0);
	h->p = 1;
	len = tlog_len(1, 0, 0);
	buf = malloc(len);
	n = tlog_write(fx_key, h, &e, NULL, NULL, buf, len);
	cr_assert_eq(n, (int)len);
	memcpy(mac, buf + len - COFFRE_MAC_LEN, COFFRE_MAC_LEN);
	fx_logname(h->gen, name);
	fx_write(f, name, buf, len);
	free(buf);
}

#endif
