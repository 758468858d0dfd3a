/*
 * entry.c: entry names in backing directories, without a mount, under a
 * keyring on a real SoftHSM2 token (tests/unit/keys' fixture).  Names
 * round-trip at every length, long ones through a sidecar that must be
 * their own, internal names stay hidden, and a name belongs to its
 * directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/crypto.h>

#include "fs/fs.h"
#include "keys_fixture.h"

static struct keyring *kr;
static int dfd[2] = { -1, -1 };             /* two backing directories */
static uint8_t ids[2][COFFRE_ID_LEN];
static struct dir_keys dk[2];
static size_t secure_before;                /* locked memory in use at start */

/* A backing directory as mkdir makes it: a key record, then .coffre.dir. */
static void make_dir(int n)
{
	char path[PATH_MAX];

	cr_assert_lt(snprintf(path, sizeof(path), "%s/dir%d", fx_softhsm.dir, n),
		     (int)sizeof(path));
	cr_assert_eq(mkdir(path, 0700), 0);
	dfd[n] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd[n], 0);
	cr_assert_eq(keyring_new_dir(kr, ids[n]), 0);
	cr_assert_eq(store_dir_id_create(dfd[n], ids[n]), 0);
	cr_assert_eq(dir_keys_at(kr, dfd[n], &dk[n]), 0);
	cr_assert_not_null(dk[n].name_key);
	cr_assert_arr_eq(dk[n].id, ids[n], COFFRE_ID_LEN);
}

/* As the daemon does at start: a secure heap, then the fixture. */
static void setup(void)
{
	cr_assert_eq(secmem_init(1u << 16), 0);
	kfx_init();
	secure_before = CRYPTO_secure_used();
	kr = keyring_new(kfx.pool, kfx.keys_fd, kfx.uuid, 1, 8);
	cr_assert_not_null(kr);
	make_dir(0);
	make_dir(1);
}

static void teardown(void)
{
	int n;

	for (n = 0; n < 2; n++) {
		dir_keys_wipe(&dk[n]);
		if (dfd[n] >= 0)
			close(dfd[n]);
		dfd[n] = -1;
	}
	keyring_free(kr);
	kr = NULL;
	/* Every name key went back (LSan does not see the secure heap).
	 * Criterion only reports a failure here; locked_memory_goes_back
	 * fails on it. */
	cr_expect_eq(CRYPTO_secure_used(), secure_before);
	kfx_fini();
}

TestSuite(entry, .init = setup, .fini = teardown, .timeout = 240);

/* A name of len bytes: a repeated letter, or multi-byte UTF-8 ("é") with an
 * ASCII tail to make up the length. */
static void make_name(char *out, size_t len, bool utf8)
{
	size_t k = 0;

	if (utf8)
		for (; k + 2 <= len; k += 2)
			memcpy(out + k, "\xc3\xa9", 2);
	for (; k < len; k++)
		out[k] = (char)('a' + k % 26);
	out[len] = '\0';
}

/* entry_name, the sidecar for a long one, and entry_plain back. */
static void round_trip(int n, const char *name, struct backing_name *b)
{
	char out[COFFRE_NAME_MAX + 1];

	cr_assert_eq(entry_name(&dk[n], name, b), 0, "entry_name len %zu",
		     strlen(name));
	cr_assert_eq(b->is_long, strlen(b->full) > 255);
	cr_assert_leq(strlen(b->name), 255);
	cr_assert_not(entry_is_internal(b->name), "%s", b->name);
	if (b->is_long) {
		cr_assert_eq(strncmp(b->name, COFFRE_LONGNAME_PREFIX,
				     strlen(COFFRE_LONGNAME_PREFIX)), 0);
		cr_assert_eq(strlen(b->name), COFFRE_LONGNAME_LEN);
		cr_assert_eq(entry_sidecar_write(dfd[n], b), 0);
	} else {
		cr_assert_str_eq(b->name, b->full);
		cr_assert_eq(entry_sidecar_write(dfd[n], b), 0, "a no-op");
	}
	memset(out, 0x55, sizeof(out));
	cr_assert_eq(entry_plain(dfd[n], &dk[n], b->name, out), 0,
		     "entry_plain len %zu", strlen(name));
	cr_assert_str_eq(out, name);
}

static bool sidecar_exists(int n, const struct backing_name *b)
{
	char side[COFFRE_ENC_NAME_MAX + 8];

	cr_assert_eq(longname_sidecar_name(b->name, side, sizeof(side)), 0);
	return faccessat(dfd[n], side, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void sidecar_path(int n, const struct backing_name *b, char *out,
			 size_t cap)
{
	char side[COFFRE_ENC_NAME_MAX + 8];

	cr_assert_eq(longname_sidecar_name(b->name, side, sizeof(side)), 0);
	cr_assert_lt(snprintf(out, cap, "%s/dir%d/%s", fx_softhsm.dir, n, side),
		     (int)cap);
}

Test(entry, short_names_round_trip)
{
	static const char *const names[] = {
		"a", "hello.txt", "with space", ".hidden", "...", "-dash",
		"\xc3\xa9t\xc3\xa9", "\xe6\x96\x87\xe4\xbb\xb6", ".coffre",
		".coffre.dir", ".coffre.Lnot-really", "x.name",
	};
	struct backing_name b, b2;
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		round_trip(0, names[k], &b);
		cr_assert_not(b.is_long);
		cr_assert_str_neq(b.name, names[k]);
		/* Deterministic: the same name, the same backing name. */
		cr_assert_eq(entry_name(&dk[0], names[k], &b2), 0);
		cr_assert_str_eq(b2.name, b.name);
	}
	/* A user's name that looks internal is encrypted like any other. */
	cr_assert_eq(entry_name(&dk[0], ".coffre.dir", &b), 0);
	cr_assert_str_neq(b.name, ".coffre.dir");
}

Test(entry, every_length_round_trips)
{
	char name[COFFRE_NAME_MAX + 1];
	struct backing_name b;
	size_t len, nshort = 0, nlong = 0;
	bool was_long = false;

	for (len = 1; len <= COFFRE_NAME_MAX; len++) {
		make_name(name, len, false);
		round_trip(0, name, &b);
		/* Longer names are never shorter encodings. */
		cr_assert(b.is_long || !was_long, "len %zu", len);
		was_long = b.is_long;
		if (b.is_long)
			nlong++;
		else
			nshort++;
		cr_assert_eq(sidecar_exists(0, &b), b.is_long);
	}
	cr_assert_gt(nshort, 0);
	cr_assert_gt(nlong, 0);
}

Test(entry, names_at_the_255_byte_limit)
{
	char name[COFFRE_NAME_MAX + 1], other[COFFRE_NAME_MAX + 1];
	struct backing_name b, b2;

	make_name(name, COFFRE_NAME_MAX, false);
	round_trip(0, name, &b);
	cr_assert(b.is_long);
	cr_assert_gt(strlen(b.full), 255);

	/* 255 bytes of two-byte characters (and one ASCII byte). */
	make_name(other, COFFRE_NAME_MAX, true);
	round_trip(0, other, &b2);
	cr_assert(b2.is_long);
	cr_assert_str_neq(b2.name, b.name);

	/* Names differing in the last byte only: two entries, two sidecars. */
	other[COFFRE_NAME_MAX - 1] = name[COFFRE_NAME_MAX - 1] == 'z' ? 'y' : 'z';
	memcpy(other, name, COFFRE_NAME_MAX - 1);
	round_trip(0, other, &b2);
	cr_assert_str_neq(b2.name, b.name);
	round_trip(0, name, &b);
}

Test(entry, too_long_is_enametoolong)
{
	char name[COFFRE_NAME_MAX + 2];
	struct backing_name b;

	make_name(name, COFFRE_NAME_MAX + 1, false);
	cr_assert_eq(entry_name(&dk[0], name, &b), -ENAMETOOLONG);
	make_name(name, COFFRE_NAME_MAX + 1, true);
	cr_assert_eq(entry_name(&dk[0], name, &b), -ENAMETOOLONG);
}

Test(entry, long_name_sidecar_missing)
{
	char name[COFFRE_NAME_MAX + 1], out[COFFRE_NAME_MAX + 1];
	struct backing_name b;

	make_name(name, 200, false);
	round_trip(0, name, &b);
	cr_assert(b.is_long);
	entry_sidecar_remove(dfd[0], &b);
	cr_assert_not(sidecar_exists(0, &b));
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), -EBADMSG);
	/* Removing it twice, or for a short name, is harmless. */
	entry_sidecar_remove(dfd[0], &b);
	/* Written again, the name is back. */
	cr_assert_eq(entry_sidecar_write(dfd[0], &b), 0);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), 0);
	cr_assert_str_eq(out, name);
}

Test(entry, long_name_sidecars_swapped)
{
	char n1[COFFRE_NAME_MAX + 1], n2[COFFRE_NAME_MAX + 1];
	char p1[PATH_MAX], p2[PATH_MAX], tmp[PATH_MAX + 4];
	char out[COFFRE_NAME_MAX + 1];
	struct backing_name b1, b2;

	make_name(n1, 240, false);
	make_name(n2, 241, false);
	round_trip(0, n1, &b1);
	round_trip(0, n2, &b2);
	cr_assert(b1.is_long && b2.is_long);
	sidecar_path(0, &b1, p1, sizeof(p1));
	sidecar_path(0, &b2, p2, sizeof(p2));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p1);
	cr_assert_eq(rename(p1, tmp), 0);
	cr_assert_eq(rename(p2, p1), 0);
	cr_assert_eq(rename(tmp, p2), 0);

	/* Each sidecar decrypts fine on its own, but is not this entry's. */
	strcpy(out, "unchanged");
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b1.name, out), -EBADMSG);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b2.name, out), -EBADMSG);
	cr_assert_str_neq(out, n1);
	cr_assert_str_neq(out, n2);

	/* Another entry's encoding written under this entry's sidecar name. */
	put_file(p1, b2.full, strlen(b2.full), 0600);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b1.name, out), -EBADMSG);
	put_file(p1, b1.full, strlen(b1.full), 0600);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b1.name, out), 0);
	cr_assert_str_eq(out, n1);
}

Test(entry, long_name_sidecar_truncated_or_extended)
{
	char name[COFFRE_NAME_MAX + 1], path[PATH_MAX], out[COFFRE_NAME_MAX + 1];
	char buf[COFFRE_ENC_NAME_MAX + 2];
	struct backing_name b;
	size_t len, cut[] = { 0, 1, 255, 0 };
	size_t k;

	make_name(name, COFFRE_NAME_MAX, false);
	round_trip(0, name, &b);
	len = strlen(b.full);
	cut[3] = len - 1;
	sidecar_path(0, &b, path, sizeof(path));
	for (k = 0; k < sizeof(cut) / sizeof(cut[0]); k++) {
		put_file(path, b.full, cut[k], 0600);
		cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), -EBADMSG,
			     "sidecar cut to %zu of %zu", cut[k], len);
	}
	/* One byte too many, or a flipped byte. */
	memcpy(buf, b.full, len);
	buf[len] = 'A';
	put_file(path, buf, len + 1, 0600);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), -EBADMSG);
	buf[len / 2] = buf[len / 2] == 'A' ? 'B' : 'A';
	put_file(path, buf, len, 0600);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), -EBADMSG);
	/* A sidecar that is a directory. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), -EBADMSG);
	cr_assert_eq(rmdir(path), 0);
	cr_assert_eq(entry_sidecar_write(dfd[0], &b), 0);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b.name, out), 0);
	cr_assert_str_eq(out, name);
}

Test(entry, internal_names_are_hidden)
{
	static const char *const internal[] = {
		".coffre", ".coffre.dir", ".coffre.x", ".coffre-anything",
	};
	char name[COFFRE_NAME_MAX + 1], side[COFFRE_ENC_NAME_MAX + 8];
	char out[COFFRE_NAME_MAX + 1];
	struct backing_name b;
	size_t k;

	for (k = 0; k < sizeof(internal) / sizeof(internal[0]); k++) {
		cr_assert(entry_is_internal(internal[k]), "%s", internal[k]);
		cr_assert_eq(entry_plain(dfd[0], &dk[0], internal[k], out), -ENOENT,
			     "%s", internal[k]);
	}
	/* A long entry is a user's; its sidecar is the filesystem's. */
	make_name(name, 230, false);
	round_trip(0, name, &b);
	cr_assert_eq(longname_sidecar_name(b.name, side, sizeof(side)), 0);
	cr_assert_not(entry_is_internal(b.name));
	cr_assert(entry_is_internal(side));
	cr_assert_eq(entry_plain(dfd[0], &dk[0], side, out), -ENOENT);

	/* Not internal: ordinary and dot names. */
	cr_assert_not(entry_is_internal("a"));
	cr_assert_not(entry_is_internal(".cof"));
	cr_assert_not(entry_is_internal(".hidden"));
}

Test(entry, dot_and_dotdot)
{
	char out[COFFRE_NAME_MAX + 1];

	cr_assert_eq(entry_plain(dfd[0], &dk[0], ".", out), 0);
	cr_assert_str_eq(out, ".");
	cr_assert_eq(entry_plain(dfd[0], &dk[0], "..", out), 0);
	cr_assert_str_eq(out, "..");
	cr_assert_not(entry_is_internal("."));
	cr_assert_not(entry_is_internal(".."));
}

Test(entry, garbage_does_not_decrypt)
{
	static const char *const junk[] = {
		"a", "plain.txt", "!!!!", ".coffre.Lshort",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	char out[COFFRE_NAME_MAX + 1];
	size_t k;

	for (k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
		int err = entry_plain(dfd[0], &dk[0], junk[k], out);

		cr_assert(err == -EBADMSG || (err == -ENOENT &&
			  entry_is_internal(junk[k])), "%s: %d", junk[k], err);
	}
}

Test(entry, a_name_belongs_to_its_directory)
{
	char name[COFFRE_NAME_MAX + 1], out[COFFRE_NAME_MAX + 1];
	char from[PATH_MAX], to[PATH_MAX];
	struct backing_name b0, b1, bl;
	struct dir_keys mixed;

	cr_assert_arr_neq(ids[0], ids[1], COFFRE_ID_LEN);
	round_trip(0, "report.pdf", &b0);
	round_trip(1, "report.pdf", &b1);
	cr_assert_str_neq(b0.name, b1.name);
	/* Decrypted under the other directory's key and id: refused. */
	strcpy(out, "unchanged");
	cr_assert_eq(entry_plain(dfd[1], &dk[1], b0.name, out), -EBADMSG);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], b1.name, out), -EBADMSG);
	cr_assert_str_neq(out, "report.pdf");

	/* The right key with the wrong id (as if .coffre.dir were swapped). */
	mixed = dk[0];
	memcpy(mixed.id, ids[1], COFFRE_ID_LEN);
	cr_assert_eq(entry_plain(dfd[0], &mixed, b0.name, out), -EBADMSG);

	/* A long name with its sidecar moved to the other directory. */
	make_name(name, COFFRE_NAME_MAX, false);
	round_trip(0, name, &bl);
	sidecar_path(0, &bl, from, sizeof(from));
	sidecar_path(1, &bl, to, sizeof(to));
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(entry_plain(dfd[1], &dk[1], bl.name, out), -EBADMSG);
	cr_assert_eq(entry_plain(dfd[0], &dk[0], bl.name, out), -EBADMSG);
}

Test(entry, dir_keys_of_an_inode)
{
	struct inode_table *t = NULL;
	struct dir_keys k = { 0 };
	struct backing_name b;
	char out[COFFRE_NAME_MAX + 1];
	size_t used;
	int fd;

	/* dir1 as the root of a table: its inode's keys are dir_keys_at's. */
	cr_assert_eq(inode_table_new(dfd[1], kr, COFFRE_SEG_DEFAULT, false, &t), 0);
	used = CRYPTO_secure_used();
	cr_assert_eq(dir_keys_get(kr, inode_table_root(t), &k), 0);
	cr_assert(CRYPTO_secure_allocated(k.name_key), "in locked memory");
	cr_assert_arr_eq(k.id, ids[1], COFFRE_ID_LEN);
	cr_assert_eq(entry_name(&k, "x", &b), 0);
	cr_assert_eq(entry_plain(dfd[1], &dk[1], b.name, out), 0);
	cr_assert_str_eq(out, "x");
	dir_keys_wipe(&k);
	cr_assert_null(k.name_key);
	cr_assert_eq(CRYPTO_secure_used(), used);
	inode_table_free(t);

	/* A directory without .coffre.dir has no keys. */
	cr_assert_eq(mkdirat(dfd[0], "bare", 0700), 0);
	fd = openat(dfd[0], "bare", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_neq(dir_keys_at(kr, fd, &k), 0);
	cr_assert_null(k.name_key);
	close(fd);
}

Test(entry, locked_memory_goes_back)
{
	char name[COFFRE_NAME_MAX + 1], out[COFFRE_NAME_MAX + 1];
	size_t used = CRYPTO_secure_used();
	struct keyring *kr2;
	struct backing_name b;
	struct dir_keys k[2];
	int n;

	kr2 = keyring_new(kfx.pool, kfx.keys_fd, kfx.uuid, 1, 8);
	cr_assert_not_null(kr2);
	make_name(name, COFFRE_NAME_MAX, true);
	for (n = 0; n < 2; n++) {
		cr_assert_eq(dir_keys_at(kr2, dfd[n], &k[n]), 0);
		cr_assert(CRYPTO_secure_allocated(k[n].name_key));
		cr_assert_eq(entry_name(&k[n], name, &b), 0);
		cr_assert_eq(entry_sidecar_write(dfd[n], &b), 0);
		cr_assert_eq(entry_plain(dfd[n], &k[n], b.name, out), 0);
		cr_assert_str_eq(out, name);
	}
	for (n = 0; n < 2; n++)
		dir_keys_wipe(&k[n]);
	keyring_free(kr2);
	cr_assert_eq(CRYPTO_secure_used(), used);
}
