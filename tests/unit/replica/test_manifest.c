/*
 * Unit tests for the bucket manifest, marker and path rules of src/replica:
 * round trip byte for byte, MAC tamper detection at every byte, canonical
 * form enforced (unsorted paths, bad fields), strict marker parsing and
 * relative path validation.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coffre/crypto.h"
#include "coffre/replica.h"

static const uint8_t KEY[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
				 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
				 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t UUID[16] = { 0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
				  13, 14, 0xbb };

static struct manifest_entry *mk(const char *path, uint8_t type)
{
	struct manifest_entry *e = calloc(1, sizeof(*e));

	e->path = strdup(path);
	e->type = type;
	e->mode = 0640;
	e->uid = 1000;
	e->gid = 100;
	e->mtime_sec = -5;
	e->mtime_nsec = 999999999;
	e->size = 12345;
	e->ino = 77;
	for (int i = 0; i < 16; i++) {
		e->digest[i] = (uint8_t)(i * 7 + strlen(path));
		e->file_id[i] = (uint8_t)(0xf0 ^ i);
	}
	if (type == MANIFEST_LNK) {
		e->target = strdup("AbCdEf-_target");
		e->target_len = (uint16_t)strlen(e->target);
	}
	if (type == MANIFEST_CHR)
		e->rdev = 0x0501;
	return e;
}

static void add_xattrs(struct manifest_entry *e)
{
	e->n_xattrs = 2;
	e->xattrs = calloc(2, sizeof(*e->xattrs));
	e->xattrs[0].name = strdup("user.a");
	e->xattrs[0].value = malloc(3);
	memcpy(e->xattrs[0].value, "\x00\x01\x02", 3);
	e->xattrs[0].value_len = 3;
	e->xattrs[1].name = strdup("user.b");
	e->xattrs[1].value = malloc(1);
	e->xattrs[1].value_len = 0;
}

static struct manifest *sample(void)
{
	struct manifest *m = manifest_new(UUID);
	struct manifest_entry *e;

	cr_assert_not_null(m);
	manifest_set_generation(m, 42);
	e = mk("dir/file", MANIFEST_REG);
	add_xattrs(e);
	cr_assert_eq(manifest_put(m, e), 0);
	cr_assert_eq(manifest_put(m, mk("dir", MANIFEST_DIR)), 0);
	cr_assert_eq(manifest_put(m, mk("dir/link", MANIFEST_LNK)), 0);
	cr_assert_eq(manifest_put(m, mk("fifo", MANIFEST_FIFO)), 0);
	cr_assert_eq(manifest_put(m, mk("dev", MANIFEST_CHR)), 0);
	cr_assert_eq(manifest_put(m, mk(".coffre/keys/abc", MANIFEST_REG)), 0);
	return m;
}

Test(manifest, round_trip)
{
	struct manifest *m = sample(), *p = NULL;
	uint8_t *buf, *buf2, uuid[16];
	size_t len, len2;
	const struct manifest_entry *e;

	cr_assert_eq(manifest_write(m, KEY, &buf, &len), 0);
	cr_assert_eq(manifest_parse(buf, len, KEY, &p), 0);
	cr_assert_eq(manifest_count(p), 6);
	cr_assert_eq(manifest_generation(p), 42);
	manifest_uuid(p, uuid);
	cr_assert_arr_eq(uuid, UUID, 16);
	e = manifest_get(p, "dir/file");
	cr_assert_not_null(e);
	cr_assert_eq(e->n_xattrs, 2);
	cr_assert_str_eq(e->xattrs[0].name, "user.a");
	cr_assert_eq(e->xattrs[0].value_len, 3);
	cr_assert_eq(e->mtime_sec, -5);
	cr_assert_eq(e->mtime_nsec, 999999999);
	e = manifest_get(p, "dir/link");
	cr_assert_eq(e->target_len, strlen("AbCdEf-_target"));
	cr_assert_eq(memcmp(e->target, "AbCdEf-_target", e->target_len), 0);
	cr_assert_eq(manifest_get(p, "dev")->rdev, 0x0501);
	cr_assert_eq(manifest_write(p, KEY, &buf2, &len2), 0);
	cr_assert_eq(len, len2);
	cr_assert_eq(memcmp(buf, buf2, len), 0);
	free(buf);
	free(buf2);
	manifest_free(m);
	manifest_free(p);
}

Test(manifest, empty_round_trip)
{
	struct manifest *m = manifest_new(UUID), *p;
	uint8_t *buf;
	size_t len;

	cr_assert_eq(manifest_write(m, KEY, &buf, &len), 0);
	cr_assert_eq(len, 40 + 32);
	cr_assert_eq(manifest_parse(buf, len, KEY, &p), 0);
	cr_assert_eq(manifest_count(p), 0);
	free(buf);
	manifest_free(m);
	manifest_free(p);
}

Test(manifest, tamper_every_byte_and_wrong_key)
{
	struct manifest *m = sample(), *p;
	uint8_t *buf, key2[32];
	size_t len;

	cr_assert_eq(manifest_write(m, KEY, &buf, &len), 0);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x01;
		cr_assert_eq(manifest_parse(buf, len, KEY, &p), -EBADMSG, "byte %zu", i);
		cr_assert_null(p);
		buf[i] ^= 0x01;
	}
	cr_assert_eq(manifest_parse(buf, len - 1, KEY, &p), -EBADMSG);
	cr_assert_eq(manifest_parse(buf, 10, KEY, &p), -EINVAL);
	memcpy(key2, KEY, 32);
	key2[31] ^= 0x80;
	cr_assert_eq(manifest_parse(buf, len, key2, &p), -EBADMSG);
	free(buf);
	manifest_free(m);
}

/* Re-MAC a modified body, so the structural checks are what is tested. */
static int parse_remac(uint8_t *buf, size_t len)
{
	struct manifest *p;
	int rc;

	hmac_sha256(KEY, 32, buf, len - 32, buf + len - 32);
	rc = manifest_parse(buf, len, KEY, &p);
	if (rc == 0)
		manifest_free(p);
	else
		cr_assert_null(p);
	return rc;
}

Test(manifest, structural_rejections)
{
	struct manifest *m = manifest_new(UUID);
	uint8_t *buf;
	size_t len;

	cr_assert_eq(manifest_put(m, mk("a", MANIFEST_REG)), 0);
	cr_assert_eq(manifest_put(m, mk("b", MANIFEST_REG)), 0);
	cr_assert_eq(manifest_write(m, KEY, &buf, &len), 0);
	/* header: magic(4) ver(1) res(3) uuid(16) gen(8) count(8) = 40 */
	buf[0] = 'X';
	cr_assert_eq(parse_remac(buf, len), -EPROTO);
	buf[0] = 'C';
	buf[4] = 2;
	cr_assert_eq(parse_remac(buf, len), -EPROTONOSUPPORT);
	buf[4] = 1;
	buf[6] = 1;
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[6] = 0;
	buf[39] = 3;        /* count too large */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[39] = 1;        /* count too small: trailing bytes */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[39] = 2;
	cr_assert_eq(parse_remac(buf, len), 0);
	/* entry 1: path_len(2) "a" type(1) mode(4)... */
	buf[43] = 9;        /* bad type */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[43] = 1;
	buf[44] = 0xff;     /* mode > 07777 */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[44] = 0;
	buf[42] = 'b';      /* duplicate path: not strictly increasing */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[42] = 'c';      /* unsorted */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[42] = '/';      /* absolute */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[42] = '\0';     /* NUL in path */
	cr_assert_eq(parse_remac(buf, len), -EINVAL);
	buf[42] = 'a';
	cr_assert_eq(parse_remac(buf, len), 0);
	free(buf);
	manifest_free(m);
}

Test(manifest, put_rejects_invalid_entries)
{
	struct manifest *m = manifest_new(UUID);
	struct manifest_entry *e;

	cr_assert_eq(manifest_put(m, mk("../x", MANIFEST_REG)), -EINVAL);
	cr_assert_eq(manifest_put(m, mk("a//b", MANIFEST_REG)), -EINVAL);
	e = mk("a", MANIFEST_REG);
	e->mtime_nsec = 1000000000u;
	cr_assert_eq(manifest_put(m, e), -EINVAL);
	e = mk("a", MANIFEST_LNK);
	free(e->target);
	e->target = NULL;
	e->target_len = 0;
	cr_assert_eq(manifest_put(m, e), -EINVAL);
	e = mk("a", MANIFEST_REG);
	e->rdev = 1;
	cr_assert_eq(manifest_put(m, e), -EINVAL);
	e = mk("a", MANIFEST_REG);
	add_xattrs(e);
	free(e->xattrs[1].name);
	e->xattrs[1].name = strdup("user.a");          /* duplicate name */
	cr_assert_eq(manifest_put(m, e), -EINVAL);
	cr_assert_eq(manifest_count(m), 0);
	cr_assert_eq(manifest_put(m, mk("a", MANIFEST_REG)), 0);
	cr_assert_eq(manifest_put(m, mk("a", MANIFEST_DIR)), 0);   /* replace */
	cr_assert_eq(manifest_count(m), 1);
	cr_assert_eq(manifest_get(m, "a")->type, MANIFEST_DIR);
	cr_assert_eq(manifest_del(m, "a"), 0);
	cr_assert_eq(manifest_del(m, "a"), -ENOENT);
	manifest_free(m);
}

Test(marker, parse_write)
{
	uint8_t buf[COFFRE_BUCKET_MARKER_LEN], uuid[16];

	bucket_marker_write(UUID, buf);
	cr_assert_eq(memcmp(buf, "CFRB\x01\0\0\0", 8), 0);
	cr_assert_eq(bucket_marker_parse(buf, sizeof(buf), uuid), 0);
	cr_assert_arr_eq(uuid, UUID, 16);
	cr_assert_eq(bucket_marker_parse(buf, sizeof(buf) - 1, uuid), -EINVAL);
	buf[0] = 'X';
	cr_assert_eq(bucket_marker_parse(buf, sizeof(buf), uuid), -EPROTO);
	buf[0] = 'C';
	buf[4] = 2;
	cr_assert_eq(bucket_marker_parse(buf, sizeof(buf), uuid), -EPROTONOSUPPORT);
	buf[4] = 1;
	buf[7] = 1;
	cr_assert_eq(bucket_marker_parse(buf, sizeof(buf), uuid), -EINVAL);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(uuid[i], 0);
}

Test(path, check_and_excluded)
{
	const char *good[] = { "a", "a/b", ".coffre/keys/x", "..a", "a/.b", "...", };
	const char *bad[] = { "", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "./a" };

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		cr_assert_eq(replica_path_check(good[i], strlen(good[i])), 0, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert_eq(replica_path_check(bad[i], strlen(bad[i])), -EINVAL, "%s", bad[i]);
	cr_assert_eq(replica_path_check("a\0b", 3), -EINVAL);
	cr_assert(replica_path_excluded(".coffre/lock"));
	cr_assert(replica_path_excluded(".coffre/journal"));
	cr_assert(replica_path_excluded(".coffre/manifest"));
	cr_assert(replica_path_excluded(".coffre/keys/.tmp.abc"));
	cr_assert(replica_path_excluded("x/.coffre.tmp.1234"));
	cr_assert(replica_path_excluded("x/.coffre.rekey.1234"));
	cr_assert_not(replica_path_excluded(".coffre/keys/abc"));
	cr_assert_not(replica_path_excluded(".coffre.conf"));
	cr_assert_not(replica_path_excluded("x/.coffre.dir"));
	cr_assert_not(replica_path_excluded("x/.tmp.abc"));
}

/* The fuzz seeds, written by make_manifest_seeds.py from the documented
 * layout independently of the C writer: valid_* parse and write back the
 * same bytes, every other seed is rejected. */
Test(manifest, independent_seeds)
{
	const char *names[] = { "valid_empty", "valid_one", "valid_full",
				"bad_magic", "bad_version", "bad_count", "unsorted",
				"dup_path", "dotdot", "bad_type", "target_on_file",
				"xattr_unsorted", "short" };
	static uint8_t buf[65536];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char p[1024];
		struct manifest *m = NULL;
		uint8_t *out;
		size_t n, out_len;
		FILE *f;
		int rc;

		snprintf(p, sizeof(p), "%s/%s", MANIFEST_CORPUS, names[i]);
		f = fopen(p, "rb");
		cr_assert_not_null(f, "%s", p);
		n = fread(buf, 1, sizeof(buf) - 32, f);
		fclose(f);
		hmac_sha256(KEY, 32, buf, n, buf + n);
		rc = manifest_parse(buf, n + 32, KEY, &m);
		if (strncmp(names[i], "valid_", 6) != 0) {
			cr_assert_neq(rc, 0, "%s accepted", names[i]);
			continue;
		}
		cr_assert_eq(rc, 0, "%s: %d", names[i], rc);
		cr_assert_eq(manifest_write(m, KEY, &out, &out_len), 0);
		cr_assert_eq(out_len, n + 32);
		cr_assert_eq(memcmp(out, buf, out_len), 0, "%s", names[i]);
		if (strcmp(names[i], "valid_full") == 0) {
			cr_assert_eq(manifest_count(m), 7);
			cr_assert_eq(manifest_generation(m), 99);
			cr_assert_eq(manifest_get(m, "d/f")->ino, manifest_get(m, "d/g")->ino);
		}
		free(out);
		manifest_free(m);
	}
}
