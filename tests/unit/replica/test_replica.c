/*
 * Unit tests for the replicator (src/replica) against temporary backing
 * and bucket directories: no FUSE, no HSM.  Tree copy with key records,
 * symlink and fifo; unchanged objects skipped; a file changed during its
 * copy copied again; missing marker and broken bucket are outages that
 * catch up; restart from the journal; deletes and renames; sync timeout;
 * group commit from 4 threads; tampered and rolled-back manifests.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "coffre/replica.h"

static const uint8_t KEY[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5,
				 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 42, 43 };
static const uint8_t UUID[16] = { 0x10, 0x20, 0x30, 0x40, 5, 6, 7, 8, 9, 10,
				  11, 12, 13, 14, 15, 16 };

static char base[256], backing[300], bucket[300];
static int bfd = -1;

static void setup(void)
{
	snprintf(base, sizeof(base), "/var/tmp/coffre-replica-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(backing, sizeof(backing), "%s/backing", base);
	snprintf(bucket, sizeof(bucket), "%s/bucket", base);
	cr_assert_eq(mkdir(backing, 0700), 0);
	cr_assert_eq(mkdir(bucket, 0700), 0);
	bfd = open(backing, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(bfd, 0);
}

static void teardown(void)
{
	char cmd[600];

	if (bfd >= 0)
		close(bfd);
	bfd = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", base);
}

TestSuite(replica, .init = setup, .fini = teardown, .timeout = 120);

static void put_file(const char *rel, const char *content)
{
	char p[1024];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", backing, rel);
	f = fopen(p, "wb");
	cr_assert_not_null(f, "%s", p);
	fputs(content, f);
	cr_assert_eq(fclose(f), 0);
}

static void mkd(const char *root, const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

/* Contents of root/rel into buf; -1 if it does not exist. */
static ssize_t get(const char *root, const char *rel, char *buf, size_t cap)
{
	char p[1024];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static bool exists(const char *root, const char *rel)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static void same(const char *rel)
{
	char a[65536], b[65536];
	ssize_t na = get(backing, rel, a, sizeof(a)), nb = get(bucket, rel, b, sizeof(b));

	cr_assert_geq(na, 0, "backing %s", rel);
	cr_assert_eq(na, nb, "bucket %s: %zd vs %zd", rel, nb, na);
	cr_assert_eq(memcmp(a, b, (size_t)na), 0, "bucket %s differs", rel);
}

static struct replica *open_r(void)
{
	struct replica *r = NULL;
	char err[256] = "";

	cr_assert_eq(replica_open(bfd, bucket, UUID, KEY, &r, err, sizeof(err)), 0, "%s", err);
	return r;
}

static void init_bucket(void)
{
	char err[256] = "";

	cr_assert_eq(replica_init_bucket(bucket, UUID, err, sizeof(err)), 0, "%s", err);
}

static struct manifest *bucket_manifest(void)
{
	char p[1024];
	uint8_t *buf = malloc(COFFRE_MANIFEST_MAX > 1 << 22 ? 1 << 22 : COFFRE_MANIFEST_MAX);
	struct manifest *m = NULL;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", bucket, COFFRE_BUCKET_MANIFEST);
	fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	n = read(fd, buf, 1 << 22);
	close(fd);
	cr_assert_gt(n, 0);
	cr_assert_eq(manifest_parse(buf, (size_t)n, KEY, &m), 0);
	free(buf);
	return m;
}

static void make_tree(void)
{
	char p[1024];

	mkd(backing, "d1");
	mkd(backing, "d1/d2");
	mkd(backing, ".coffre");
	mkd(backing, ".coffre/keys");
	put_file(".coffre.conf", "format=1\nmac=...\n");
	put_file(".coffre/keys/rec1", "KEYRECORD1");
	put_file(".coffre/lock", "");
	put_file("d1/.coffre.dir", "CFRDxxxxxxxxxxxxxxxxxxxx");
	put_file("f0", "top level file");
	put_file("d1/f1", "file one");
	put_file("d1/d2/f2", "file two, deeper");
	put_file("d1/d2/.coffre.tmp.abc", "scratch");
	snprintf(p, sizeof(p), "%s/d1/link", backing);
	cr_assert_eq(symlink("CipherTarget_B64", p), 0);
	snprintf(p, sizeof(p), "%s/d1/fifo", backing);
	cr_assert_eq(mkfifo(p, 0600), 0);
}

Test(replica, tree_copy_by_reconcile_scan)
{
	struct replica *r;
	struct replica_status st;
	struct manifest *m;
	const struct manifest_entry *e;

	make_tree();
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_OK, "%s", st.last_error);
	cr_assert_eq(st.queued, 0);
	cr_assert_eq(st.copied, 6, "copied %llu", (unsigned long long)st.copied);
	cr_assert_geq(st.generation, 1);
	replica_close(r);

	same(".coffre.conf");
	same(".coffre/keys/rec1");
	same("d1/.coffre.dir");
	same("f0");
	same("d1/f1");
	same("d1/d2/f2");
	cr_assert_not(exists(bucket, ".coffre/lock"));
	cr_assert_not(exists(bucket, ".coffre/journal"));
	cr_assert_not(exists(bucket, ".coffre/manifest"));
	cr_assert_not(exists(bucket, "d1/d2/.coffre.tmp.abc"));
	cr_assert_not(exists(bucket, "d1/link"));
	cr_assert_not(exists(bucket, "d1/fifo"));

	m = bucket_manifest();
	e = manifest_get(m, "d1/link");
	cr_assert_not_null(e);
	cr_assert_eq(e->type, MANIFEST_LNK);
	cr_assert_eq(e->target_len, strlen("CipherTarget_B64"));
	cr_assert_eq(memcmp(e->target, "CipherTarget_B64", e->target_len), 0);
	e = manifest_get(m, "d1/fifo");
	cr_assert_not_null(e);
	cr_assert_eq(e->type, MANIFEST_FIFO);
	cr_assert_eq(e->mode, 0600);
	e = manifest_get(m, "d1/d2");
	cr_assert_not_null(e);
	cr_assert_eq(e->type, MANIFEST_DIR);
	e = manifest_get(m, "d1/f1");
	cr_assert_eq(e->size, 8);
	cr_assert_null(manifest_get(m, ".coffre/lock"));
	manifest_free(m);

	/* The backing mirror holds the same bytes. */
	{
		char a[65536], b[65536];
		ssize_t na = get(bucket, COFFRE_BUCKET_MANIFEST, a, sizeof(a));
		ssize_t nb = get(backing, COFFRE_MANIFEST_MIRROR, b, sizeof(b));

		cr_assert_gt(na, 0);
		cr_assert_eq(na, nb);
		cr_assert_eq(memcmp(a, b, (size_t)na), 0);
	}
}

Test(replica, key_records_before_data)
{
	struct replica *r;
	struct stat a, b;
	char p[1024];

	mkd(backing, ".coffre");
	mkd(backing, ".coffre/keys");
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof(p), "data%02d", i);
		put_file(p, "data");
	}
	put_file(".coffre/keys/zz", "KEY");
	init_bucket();
	r = open_r();
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof(p), "data%02d", i);
		cr_assert_eq(replica_note(r, p), 0);
	}
	cr_assert_eq(replica_note(r, ".coffre/keys/zz"), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	snprintf(p, sizeof(p), "%s/.coffre/keys/zz", bucket);
	cr_assert_eq(stat(p, &a), 0);
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof(p), "%s/data%02d", bucket, i);
		cr_assert_eq(stat(p, &b), 0);
		cr_assert(a.st_mtim.tv_sec < b.st_mtim.tv_sec ||
			  (a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
			   a.st_mtim.tv_nsec <= b.st_mtim.tv_nsec), "data%02d before key", i);
	}
}

Test(replica, unchanged_objects_skipped)
{
	struct replica *r;
	struct replica_status st;

	make_tree();
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.copied, 6);
	/* Noted again but unchanged: hashed, not uploaded. */
	cr_assert_eq(replica_note(r, "f0"), 0);
	cr_assert_eq(replica_note(r, "d1/f1"), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.copied, 6);
	cr_assert_geq(st.skipped, 2);
	put_file("d1/f1", "file one, changed");
	cr_assert_eq(replica_note(r, "d1/f1"), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.copied, 7);
	same("d1/f1");
	replica_close(r);

	/* A restart with nothing changed uploads nothing. */
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.copied, 0);
	replica_close(r);
}

static void modify_once(void *arg, const char *path)
{
	int *calls = arg;

	if (strcmp(path, "hot") == 0 && (*calls)++ == 0)
		put_file("hot", "second version, longer than the first");
}

Test(replica, file_changed_during_copy_is_copied_again)
{
	struct replica *r;
	struct replica_status st;
	struct manifest *m;
	int calls = 0;

	init_bucket();
	put_file("hot", "first version");
	r = open_r();
	replica_set_copy_hook(r, modify_once, &calls);
	cr_assert_eq(replica_note(r, "hot"), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	replica_close(r);
	cr_assert_geq(calls, 2);
	cr_assert_geq(st.recopied, 1);
	same("hot");
	m = bucket_manifest();
	cr_assert_eq(manifest_get(m, "hot")->size, strlen("second version, longer than the first"));
	manifest_free(m);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

Test(replica, missing_marker_is_an_outage_then_catches_up)
{
	struct replica *r;
	struct replica_status st;

	put_file("a", "alpha");
	r = open_r();
	cr_assert_eq(replica_note(r, "a"), 0);
	cr_assert_eq(replica_sync(r, 400), -ETIMEDOUT);
	replica_status(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_NO_MARKER);
	cr_assert_neq(st.last_error[0], '\0');
	cr_assert_geq(st.queued, 1);
	cr_assert_eq(count_entries(bucket), 0, "nothing written without a marker");
	init_bucket();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_OK);
	cr_assert_eq(st.last_error[0], '\0');
	replica_close(r);
	same("a");
}

Test(replica, foreign_marker_refused)
{
	struct replica *r;
	struct replica_status st;
	uint8_t other[16] = { 1 };
	char err[256];

	cr_assert_eq(replica_init_bucket(bucket, other, err, sizeof(err)), 0);
	cr_assert_eq(replica_init_bucket(bucket, UUID, err, sizeof(err)), -ENOTEMPTY);
	put_file("a", "alpha");
	r = open_r();
	cr_assert_eq(replica_note(r, "a"), 0);
	cr_assert_eq(replica_sync(r, 300), -ETIMEDOUT);
	replica_status(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_NO_MARKER);
	replica_close(r);
	cr_assert_not(exists(bucket, "a"));
}

Test(replica, broken_bucket_writes_keep_working_then_recover)
{
	struct replica *r;
	struct replica_status st;
	char away[400], p[64];
	int fd;

	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	/* The bucket path becomes a file: every bucket operation fails. */
	snprintf(away, sizeof(away), "%s.away", bucket);
	cr_assert_eq(rename(bucket, away), 0);
	fd = open(bucket, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "file%02d", i);
		put_file(p, p);
		cr_assert_eq(replica_note(r, p), 0, "note never fails for the bucket");
	}
	cr_assert_eq(replica_sync(r, 300), -ETIMEDOUT);
	replica_status(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_ERROR);
	cr_assert_geq(st.queued, 20);
	cr_assert_geq(st.bytes_behind, 20 * 6);
	cr_assert_neq(st.last_error[0], '\0');
	cr_assert_eq(unlink(bucket), 0);
	cr_assert_eq(rename(away, bucket), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_OK);
	cr_assert_eq(st.queued, 0);
	replica_close(r);
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "file%02d", i);
		same(p);
	}
}

Test(replica, type_conflict_in_bucket_is_repaired)
{
	struct replica *r;

	init_bucket();
	mkd(backing, "d");
	put_file("d/f", "inner");
	put_file("g", "plain file");
	/* Stale objects of the wrong type where the bucket needs others. */
	{
		char p[1024];
		int fd;

		snprintf(p, sizeof(p), "%s/d", bucket);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		close(fd);
		mkd(bucket, "g");
		mkd(bucket, "g/sub");
	}
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	same("d/f");
	same("g");
}

/* Records of a journal file: how many, and whether path is among them. */
static size_t journal_has(const char *path, size_t *total)
{
	static char buf[1 << 20];
	ssize_t n = get(backing, COFFRE_JOURNAL_FILE, buf, sizeof(buf));
	size_t off = 0, hits = 0;

	*total = 0;
	cr_assert_geq(n, 0);
	while (off + 2 <= (size_t)n) {
		size_t l = (size_t)(uint8_t)buf[off] << 8 | (uint8_t)buf[off + 1];

		cr_assert_leq(off + 2 + l + 4, (size_t)n);
		if (path && l == strlen(path) && memcmp(buf + off + 2, path, l) == 0)
			hits++;
		(*total)++;
		off += 2 + l + 4;
	}
	cr_assert_eq(off, (size_t)n);
	return hits;
}

Test(replica, restart_replays_journal)
{
	struct replica *r;
	struct replica_status st;
	char p[64];
	size_t total;

	r = open_r();               /* no marker: nothing drains */
	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof(p), "n%03d", i);
		put_file(p, p);
		cr_assert_eq(replica_note(r, p), 0);
	}
	replica_close(r);
	cr_assert_eq(journal_has("n042", &total), 1);
	cr_assert_eq(total, 100);
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.copied, 100);
	replica_close(r);
	for (int i = 0; i < 100; i++) {
		snprintf(p, sizeof(p), "n%03d", i);
		same(p);
	}
	/* Drained: the journal was compacted. */
	journal_has(NULL, &total);
	cr_assert_eq(total, 0);
}

Test(replica, torn_journal_tail_is_cut)
{
	struct replica *r;
	char p[1024];
	size_t total;
	int fd;

	r = open_r();
	cr_assert_eq(replica_note(r, "x1"), 0);
	replica_close(r);
	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_JOURNAL_FILE);
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "\x00\x05x2", 4), 4);     /* torn record */
	close(fd);
	r = open_r();
	cr_assert_eq(replica_note(r, "x3"), 0);
	replica_close(r);
	cr_assert_eq(journal_has("x1", &total), 1);
	cr_assert_eq(journal_has("x3", &total), 1);
	cr_assert_eq(total, 2);
}

Test(replica, deletes_and_renames_propagate)
{
	struct replica *r;
	struct manifest *m;
	char a[1024], b[1024];

	init_bucket();
	mkd(backing, "dir");
	mkd(backing, "dir/sub");
	put_file("dir/sub/deep", "deep");
	put_file("dir/x", "x");
	put_file("old", "renamed file");
	put_file("gone", "deleted file");
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);

	snprintf(a, sizeof(a), "%s/old", backing);
	snprintf(b, sizeof(b), "%s/new", backing);
	cr_assert_eq(rename(a, b), 0);
	cr_assert_eq(replica_note(r, "old"), 0);
	cr_assert_eq(replica_note(r, "new"), 0);
	snprintf(a, sizeof(a), "%s/gone", backing);
	cr_assert_eq(unlink(a), 0);
	cr_assert_eq(replica_note(r, "gone"), 0);
	snprintf(a, sizeof(a), "%s/dir", backing);
	snprintf(b, sizeof(b), "%s/moved", backing);
	cr_assert_eq(rename(a, b), 0);
	cr_assert_eq(replica_note(r, "dir"), 0);
	cr_assert_eq(replica_note(r, "moved"), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);

	cr_assert_not(exists(bucket, "old"));
	cr_assert_not(exists(bucket, "gone"));
	cr_assert_not(exists(bucket, "dir"));
	same("new");
	same("moved/x");
	same("moved/sub/deep");
	m = bucket_manifest();
	cr_assert_null(manifest_get(m, "old"));
	cr_assert_null(manifest_get(m, "gone"));
	cr_assert_null(manifest_get(m, "dir"));
	cr_assert_null(manifest_get(m, "dir/sub/deep"));
	cr_assert_not_null(manifest_get(m, "moved/sub/deep"));
	cr_assert_not_null(manifest_get(m, "new"));
	manifest_free(m);
}

Test(replica, deletes_while_down_found_by_reconcile)
{
	struct replica *r;
	char a[1024];

	init_bucket();
	put_file("keep", "k");
	put_file("drop", "d");
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	/* Changed while no daemon ran (and nothing noted). */
	snprintf(a, sizeof(a), "%s/drop", backing);
	cr_assert_eq(unlink(a), 0);
	put_file("keep", "k, changed offline");
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	cr_assert_not(exists(bucket, "drop"));
	same("keep");
}

Test(replica, hard_links_and_xattrs_in_manifest)
{
	struct replica *r;
	struct manifest *m;
	const struct manifest_entry *a, *b;
	char p[1024], q[1024];
	bool xattr_ok;

	init_bucket();
	put_file("one", "linked");
	snprintf(p, sizeof(p), "%s/one", backing);
	snprintf(q, sizeof(q), "%s/two", backing);
	cr_assert_eq(link(p, q), 0);
	xattr_ok = setxattr(p, "user.QkFTRTY0", "sealed-value", 12, 0) == 0;
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	same("one");
	same("two");
	m = bucket_manifest();
	a = manifest_get(m, "one");
	b = manifest_get(m, "two");
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_eq(a->ino, b->ino);
	cr_assert_eq(memcmp(a->digest, b->digest, 16), 0);
	if (xattr_ok) {
		cr_assert_eq(a->n_xattrs, 1);
		cr_assert_str_eq(a->xattrs[0].name, "user.QkFTRTY0");
		cr_assert_eq(a->xattrs[0].value_len, 12);
		cr_assert_eq(memcmp(a->xattrs[0].value, "sealed-value", 12), 0);
	}
	manifest_free(m);
}

Test(replica, tampered_manifest_is_not_trusted)
{
	struct replica *r;
	struct replica_status st;
	char p[1024];
	int fd;
	uint8_t c;

	init_bucket();
	put_file("a", "alpha");
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	/* Flip a byte in both copies. */
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", i ? bucket : backing,
			 i ? COFFRE_BUCKET_MANIFEST : COFFRE_MANIFEST_MIRROR);
		fd = open(p, O_RDWR);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, &c, 1, 50), 1);
		c ^= 0x40;
		cr_assert_eq(pwrite(fd, &c, 1, 50), 1);
		close(fd);
	}
	r = open_r();
	replica_status(r, &st);
	cr_assert(st.manifest_suspicious);
	/* The worker may already have copied something, which clears the
	 * error state (suspicious stays); until then the reason is shown. */
	if (st.bucket == REPLICA_BUCKET_ERROR)
		cr_assert_neq(strstr(st.last_error, "authentication"), NULL, "%s",
			      st.last_error);
	/* Treated as absent: everything is copied again, a good one written. */
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_status(r, &st);
	cr_assert_eq(st.copied, 1);
	cr_assert(st.manifest_suspicious);
	replica_close(r);
	manifest_free(bucket_manifest());
}

Test(replica, rolled_back_bucket_manifest_detected)
{
	struct replica *r;
	struct replica_status st;
	char old[65536], p[1024];
	ssize_t n;
	int fd;

	init_bucket();
	put_file("a", "alpha");
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	n = get(bucket, COFFRE_BUCKET_MANIFEST, old, sizeof(old));
	cr_assert_gt(n, 0);
	put_file("b", "beta");
	cr_assert_eq(replica_note(r, "b"), 0);
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_close(r);
	snprintf(p, sizeof(p), "%s/%s", bucket, COFFRE_BUCKET_MANIFEST);
	fd = open(p, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, old, (size_t)n), n);
	close(fd);
	r = open_r();
	replica_status(r, &st);
	cr_assert(st.manifest_suspicious);
	cr_assert_neq(strstr(st.last_error, "rolled back"), NULL, "%s", st.last_error);
	replica_close(r);
}

struct noter {
	struct replica *r;
	int id;
};

static void *note_many(void *arg)
{
	struct noter *n = arg;
	char p[64];

	for (int i = 0; i < 1000; i++) {
		snprintf(p, sizeof(p), "t%d/p%04d", n->id, i);
		if (replica_note(n->r, p) != 0)
			return (void *)1;
	}
	return NULL;
}

Test(replica, group_commit_four_threads)
{
	struct replica *r;
	struct noter n[4];
	pthread_t t[4];
	size_t total;
	char p[64];

	r = open_r();               /* no marker: the journal keeps everything */
	for (int i = 0; i < 4; i++) {
		n[i].r = r;
		n[i].id = i;
		cr_assert_eq(pthread_create(&t[i], NULL, note_many, &n[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;

		pthread_join(t[i], &rv);
		cr_assert_null(rv);
	}
	replica_close(r);
	journal_has(NULL, &total);
	cr_assert_eq(total, 4000);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 1000; j += 97) {
			snprintf(p, sizeof(p), "t%d/p%04d", i, j);
			cr_assert_eq(journal_has(p, &total), 1, "%s", p);
		}
}

Test(replica, note_rejects_bad_paths)
{
	struct replica *r = open_r();

	cr_assert_eq(replica_note(r, "/abs"), -EINVAL);
	cr_assert_eq(replica_note(r, "a/../b"), -EINVAL);
	cr_assert_eq(replica_note(r, ""), -EINVAL);
	cr_assert_eq(replica_note(r, ".coffre/lock"), 0);
	replica_close(r);
}
