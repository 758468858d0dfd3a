/*
 * Unit tests for the replication backlog (src/replica: backlog.c,
 * journal.c, rewrite.c, hset.c, jrecord.c) against temporary backing and
 * bucket directories, with a window of 16 paths in memory: a long outage
 * keeps memory within the window and the rest in the journal, and every
 * path arrives once the bucket is back (noted many times, across a
 * restart, with a torn tail); key records still go first; replica_sync
 * waits for spilled paths and does not starve under a steady backlog; the
 * journal is rewritten without duplicates; a path noted again after its
 * spilled record was loaded is copied again; replay streams a journal
 * larger than one read.  White-box: the record format
 * and the hash set are tested on their own.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coffre/replica.h"
#include "replica/replica_private.h"

#define WINDOW 16

static const uint8_t KEY[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
				 29, 30, 31, 32 };
static const uint8_t UUID[16] = { 0xb0, 0xb1, 0xb2, 0xb3, 4, 5, 6, 7, 8, 9, 10,
				  11, 12, 13, 14, 15 };

static char base[256], backing[300], bucket[300];
static int bfd = -1;

static void setup(void)
{
	snprintf(base, sizeof(base), "/var/tmp/coffre-backlog-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(backing, sizeof(backing), "%s/backing", base);
	snprintf(bucket, sizeof(bucket), "%s/bucket", base);
	cr_assert_eq(mkdir(backing, 0700), 0);
	cr_assert_eq(mkdir(bucket, 0700), 0);
	bfd = open(backing, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(bfd, 0);
	replica_set_limits(WINDOW, 0, 0);
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

TestSuite(backlog, .init = setup, .fini = teardown, .timeout = 180);

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

static void mkd(const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", backing, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

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

static void same(const char *rel)
{
	char a[4096], b[4096];
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

static const char *fname(int i)
{
	static char p[64];

	snprintf(p, sizeof(p), "d%d/file-%04d", i % 4, i);
	return p;
}

/* n files in d0..d3, each holding its name. */
static void make_files(int n)
{
	for (int d = 0; d < 4; d++) {
		char p[16];

		snprintf(p, sizeof(p), "d%d", d);
		mkd(p);
	}
	for (int i = 0; i < n; i++)
		put_file(fname(i), fname(i));
}

/* The journal's records: how many, how many for path (NULL: none). */
static size_t journal_count(const char *path, size_t *total)
{
	static uint8_t buf[4 << 20];
	struct jrec *j = malloc(sizeof(*j));
	ssize_t n = get(backing, COFFRE_JOURNAL_FILE, (char *)buf, sizeof(buf));
	size_t off = 0, hits = 0;

	cr_assert_not_null(j);
	cr_assert_geq(n, 0);
	cr_assert_lt((size_t)n, sizeof(buf) - 1);
	*total = 0;
	while (off < (size_t)n) {
		cr_assert_eq(jrec_parse(buf + off, (size_t)n - off, j), JREC_OK,
			     "bad record at %zu", off);
		if (path && strcmp(j->path, path) == 0)
			hits++;
		(*total)++;
		off += j->size;
	}
	free(j);
	return hits;
}

/* The status, memory checked: the window, and `.coffre` (a priority path,
 * found by the scan, kept in memory whatever the window). */
static void status_of(struct replica *r, struct replica_status *st)
{
	replica_status(r, st);
	cr_assert_leq(st->in_memory, WINDOW + 1, "%llu paths in memory",
		      (unsigned long long)st->in_memory);
}

Test(backlog, long_outage_memory_stays_within_the_window)
{
	struct replica_status st;
	struct replica *r;
	size_t total, first = 0;
	int n = 1000;

	make_files(n);
	r = open_r();               /* no marker: an outage */
	for (int round = 0; round < 3; round++) {
		if (round == 1) {
			/* Every path is in the journal (the scan, racing
			 * with the first notes, may have added a few). */
			for (int i = 0; i < n; i += 37)
				cr_assert_geq(journal_count(fname(i), &total), 1,
					      "%s", fname(i));
			cr_assert_leq(total, (size_t)n + 50, "%zu records", total);
			first = total;
		}
		for (int i = 0; i < n; i++) {
			if (round && i % (round + 1))
				continue;
			cr_assert_eq(replica_note(r, fname(i)), 0);
			if (i % 100 == 0)
				status_of(r, &st);
		}
	}
	cr_assert_eq(replica_sync(r, 200), -ETIMEDOUT);
	status_of(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_NO_MARKER);
	cr_assert_geq(st.queued, (uint64_t)n, "queued %llu", (unsigned long long)st.queued);
	cr_assert_gt(st.journal_bytes, 0);
	/* A pending path noted again, in memory or spilled, costs no
	 * record. */
	journal_count(NULL, &total);
	cr_assert_eq(total, first, "%zu records, %zu before", total, first);

	init_bucket();
	cr_assert_eq(replica_sync(r, 60000), 0);
	status_of(r, &st);
	cr_assert_eq(st.bucket, REPLICA_BUCKET_OK, "%s", st.last_error);
	cr_assert_eq(st.queued, 0);
	cr_assert_eq(st.copied, (uint64_t)n, "copied %llu", (unsigned long long)st.copied);
	replica_close(r);
	for (int i = 0; i < n; i++)
		same(fname(i));
	journal_count(NULL, &total);
	cr_assert_eq(total, 0, "the journal is emptied once drained");
}

/* Modification time of root/rel in ns. */
static int64_t mtime_ns(const char *root, const char *rel)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	cr_assert_eq(stat(p, &st), 0, "%s", p);
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static void key_record(const char *name)
{
	char p[128];

	mkd(".coffre/keys");
	snprintf(p, sizeof(p), ".coffre/keys/%s", name);
	put_file(p, "KEYRECORD");
}

Test(backlog, key_records_go_before_spilled_data)
{
	struct replica_status st;
	struct replica *r;
	int n = 300;

	make_files(n);
	mkd(".coffre");
	key_record("late");
	r = open_r();
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	cr_assert_eq(replica_note(r, ".coffre/keys/late"), 0);
	/* .coffre, .coffre/keys and the record are kept beyond the window. */
	replica_status(r, &st);
	cr_assert_leq(st.in_memory, WINDOW + 3);
	cr_assert_geq(st.queued, (uint64_t)n);
	init_bucket();
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < n; i++) {
		same(fname(i));
		cr_assert_leq(mtime_ns(bucket, ".coffre/keys/late"), mtime_ns(bucket, fname(i)),
			      "%s before the key record", fname(i));
	}
}

Test(backlog, replay_keeps_key_records_in_memory_past_the_window)
{
	struct replica *r;
	int n = 200;

	make_files(n);
	r = open_r();
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	/* Gone from the backing dir, so only the journal says so (the scan
	 * would not find it). */
	cr_assert_eq(replica_note(r, ".coffre/escrow/mk-v1"), 0);
	replica_close(r);

	r = open_r();
	pthread_mutex_lock(&r->lock);
	cr_assert_not_null(strmap_get(&r->q, ".coffre/escrow/mk-v1"),
			   "a priority record past the window is loaded at replay");
	cr_assert(r->spilling);
	cr_assert_leq(r->q.n, WINDOW + 1);
	pthread_mutex_unlock(&r->lock);
	replica_close(r);
}

static void slow_copy(void *arg, const char *path)
{
	(void)arg;
	(void)path;
	usleep(3000);
}

Test(backlog, sync_waits_for_spilled_paths)
{
	struct replica_status st;
	struct replica *r;
	int n = 400;

	make_files(n);
	r = open_r();
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	cr_assert_eq(replica_sync(r, 100), -ETIMEDOUT);
	/* Slow copies: the worker publishes partial manifests (every second
	 * while a sync waits), none of which may satisfy the sync. */
	replica_set_copy_hook(r, slow_copy, NULL);
	init_bucket();
	cr_assert_eq(replica_sync(r, 60000), 0);
	for (int i = 0; i < n; i++)
		same(fname(i));
	status_of(r, &st);
	cr_assert_eq(st.queued, 0);
	replica_close(r);
}

struct noter {
	struct replica *r;
	int n;
	volatile int done;           /* notes made */
	volatile bool stop;
};

static void *note_files(void *arg)
{
	struct noter *t = arg;
	char p[64];

	for (int i = 0; i < t->n && !t->stop; i++) {
		snprintf(p, sizeof(p), "s/f%05d", i);
		put_file(p, p);
		if (replica_note(t->r, p) != 0)
			return (void *)1;
		__atomic_store_n(&t->done, i + 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

Test(backlog, sync_under_a_steady_backlog_returns_before_it_empties)
{
	struct noter t = { .n = 3000 };
	struct replica_status st;
	struct replica *r;
	pthread_t th;
	void *rv;
	int before;
	char p[64];

	init_bucket();
	mkd("s");
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	replica_set_copy_hook(r, slow_copy, NULL);   /* ~300 copies/s */
	t.r = r;
	cr_assert_eq(pthread_create(&th, NULL, note_files, &t), 0);
	while (__atomic_load_n(&t.done, __ATOMIC_SEQ_CST) < 600)
		usleep(1000);
	before = __atomic_load_n(&t.done, __ATOMIC_SEQ_CST);
	cr_assert_eq(replica_sync(r, 60000), 0);
	status_of(r, &st);
	/* Everything noted before the sync is there, and the sync did not
	 * wait for the whole backlog, which new notes keep long. */
	for (int i = 0; i < before; i++) {
		snprintf(p, sizeof(p), "s/f%05d", i);
		same(p);
	}
	cr_assert_gt(st.queued, 0, "the sync waited for the backlog to empty");
	t.stop = true;
	pthread_join(th, &rv);
	cr_assert_null(rv);
	replica_set_copy_hook(r, NULL, NULL);
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < t.done; i++) {
		snprintf(p, sizeof(p), "s/f%05d", i);
		same(p);
	}
}

Test(backlog, restart_replays_spilled_paths)
{
	struct replica_status st;
	struct replica *r;
	size_t total;
	int n = 1000;

	make_files(n);
	r = open_r();               /* no marker */
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	replica_close(r);
	journal_count(NULL, &total);
	cr_assert_geq(total, (size_t)n);

	r = open_r();
	for (int k = 0; k < 5; k++) {
		status_of(r, &st);
		cr_assert_geq(st.queued, (uint64_t)n);
		usleep(50000);
	}
	init_bucket();
	cr_assert_eq(replica_sync(r, 60000), 0);
	status_of(r, &st);
	cr_assert_eq(st.queued, 0);
	replica_close(r);
	for (int i = 0; i < n; i++)
		same(fname(i));
}

Test(backlog, torn_tail_cut_after_a_backlog)
{
	struct replica *r;
	size_t total;
	char p[1024];
	int fd, n = 100;

	make_files(n);
	put_file("x3", "after the tear");
	r = open_r();
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	replica_close(r);
	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_JOURNAL_FILE);
	fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "\x00\x09" "d0/fi", 7), 7);     /* torn record */
	close(fd);
	r = open_r();
	cr_assert_eq(replica_note(r, "x3"), 0);
	replica_close(r);
	/* journal_count parses every record up to the end. */
	cr_assert_eq(journal_count("x3", &total), 1);
	for (int i = 0; i < n; i++)
		cr_assert_geq(journal_count(fname(i), &total), 1, "%s", fname(i));
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < n; i++)
		same(fname(i));
	same("x3");
}

/* Write a journal by hand: rounds × n records of fname(0..n-1). */
static size_t craft_journal(int n, int rounds)
{
	uint8_t rec[JREC_MAX];
	char p[1024];
	size_t size = 0;
	FILE *f;

	mkd(".coffre");
	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_JOURNAL_FILE);
	f = fopen(p, "wb");
	cr_assert_not_null(f);
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < n; i++) {
			size_t len = strlen(fname(i));

			jrec_write(rec, fname(i), len);
			cr_assert_eq(fwrite(rec, JREC_SIZE(len), 1, f), 1);
			size += JREC_SIZE(len);
		}
	cr_assert_eq(fclose(f), 0);
	return size;
}

static uint64_t journal_size(void)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_JOURNAL_FILE);
	cr_assert_eq(stat(p, &st), 0);
	return (uint64_t)st.st_size;
}

Test(backlog, rewrite_drops_duplicates_and_loses_nothing)
{
	struct replica *r;
	size_t total, size;
	int n = 50;

	replica_set_limits(WINDOW, 4096, 0);
	make_files(2 * n);
	size = craft_journal(n, 40);      /* 2000 records, 50 paths */
	r = open_r();                     /* no marker: nothing drains */
	/* Large at start: rewritten once (the worker does it first). */
	for (int k = 0; k < 500 && journal_size() >= size; k++)
		usleep(10000);
	cr_assert_lt(journal_size(), size / 10, "not rewritten: %llu bytes",
		     (unsigned long long)journal_size());
	/* Notes after the rewrite land in the new journal. */
	for (int i = n; i < 2 * n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	replica_close(r);
	for (int i = 0; i < 2 * n; i++) {
		size_t hits = journal_count(fname(i), &total);

		cr_assert_geq(hits, 1, "%s lost", fname(i));
		/* Once in memory's part, once in the backlog's at most. */
		cr_assert_leq(hits, 2, "%s: %zu records", fname(i), hits);
	}
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < 2 * n; i++)
		same(fname(i));
}

Test(backlog, rewrites_while_notes_go_on_lose_nothing)
{
	struct replica_status st;
	struct replica *r;
	size_t total;
	int n = 3000;

	replica_set_limits(WINDOW, 4096, 0);
	r = open_r();                     /* no marker */
	usleep(100000);                   /* the scan of an empty tree ends */
	make_files(n);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < n; i++) {
			cr_assert_eq(replica_note(r, fname(i)), 0);
			if (i % 50 == 0)
				usleep(2000);     /* let the worker in */
		}
	status_of(r, &st);
	cr_assert_geq(st.queued, (uint64_t)n);
	pthread_mutex_lock(&r->lock);
	cr_assert_geq(r->jrewrites, 3, "%llu rewrites, journal %llu at %llu: %s",
		      (unsigned long long)r->jrewrites, (unsigned long long)r->jsize,
		      (unsigned long long)r->jrewrite_at, st.last_error);
	pthread_mutex_unlock(&r->lock);
	replica_close(r);
	for (int i = 0; i < n; i++)
		cr_assert_geq(journal_count(fname(i), &total), 1, "%s lost", fname(i));
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < n; i++)
		same(fname(i));
}

Test(backlog, journal_record_format)
{
	uint8_t rec[JREC_MAX + 8];
	struct jrec *j = malloc(sizeof(*j));
	char longp[COFFRE_REPLICA_PATH_MAX + 2];

	cr_assert_not_null(j);
	jrec_write(rec, "a/b", 3);
	cr_assert_eq(rec[0], 0);
	cr_assert_eq(rec[1], 3);
	cr_assert_eq(memcmp(rec + 2, "a/b", 3), 0);
	cr_assert_eq(jrec_parse(rec, 9, j), JREC_OK);
	cr_assert_str_eq(j->path, "a/b");
	cr_assert_eq(j->size, 9);
	for (size_t k = 0; k < 9; k++)
		cr_assert_eq(jrec_parse(rec, k, j), JREC_SHORT, "%zu", k);
	rec[8] ^= 1;
	cr_assert_eq(jrec_parse(rec, 9, j), JREC_BAD, "bad check");
	jrec_write(rec, "a/..", 4);
	cr_assert_eq(jrec_parse(rec, 10, j), JREC_BAD, "bad path");
	rec[0] = 0;
	rec[1] = 0;
	cr_assert_eq(jrec_parse(rec, 10, j), JREC_BAD, "empty");
	memset(longp, 'x', sizeof(longp));
	jrec_write(rec, longp, COFFRE_REPLICA_PATH_MAX);
	cr_assert_eq(jrec_parse(rec, JREC_MAX, j), JREC_OK);
	rec[0] = 0x10;            /* 4096 */
	rec[1] = 0x00;
	cr_assert_eq(jrec_parse(rec, JREC_MAX + 8, j), JREC_BAD, "too long");
	free(j);
}

/* The hash set against a reference list, with deletes (backward shift)
 * in small tables full of collisions. */
Test(backlog, hash_set)
{
	enum { N = 200 };
	struct hkey k[N];
	bool in[N] = { false };
	struct hset s;
	uint64_t v;
	char p[32];

	hset_init(&s, 1024);
	cr_assert_eq(s.cap, 1024);
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "p%d", i);
		k[i] = hset_key(p, strlen(p));
		k[i].lo &= 0x1f;          /* 32 homes: long clusters */
		k[i].hi = (uint64_t)i + 1;
	}
	srand(7);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N;

		if (rand() % 2) {
			hset_add_min(&s, k[i], (uint64_t)i);
			in[i] = true;
		} else {
			cr_assert_eq(hset_del(&s, k[i]), in[i]);
			in[i] = false;
		}
		if (step % 97 == 0)
			for (int m = 0; m < N; m++) {
				cr_assert_eq(hset_get(&s, k[m], &v), in[m], "%d at %d", m, step);
				if (in[m])
					cr_assert_eq(v, (uint64_t)m);
			}
	}
	hset_add_min(&s, k[0], 0);
	hset_add_min(&s, k[0], 5);
	cr_assert(hset_get(&s, k[0], &v));
	cr_assert_eq(v, 0, "the lower value stays");
	hset_fini(&s);
	/* Half full: emptied before the next insert (it forgets). */
	hset_init(&s, 16);
	for (uint64_t i = 1; i <= 8; i++)
		hset_add_min(&s, (struct hkey){ i, i }, 0);
	cr_assert_eq(s.n, 8);
	hset_add_min(&s, (struct hkey){ 99, 99 }, 0);
	cr_assert_eq(s.n, 1);
	cr_assert_not(hset_get(&s, (struct hkey){ 1, 1 }, NULL));
	hset_fini(&s);
}

static bool in_bucket(const char *rel)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", bucket, rel);
	return stat(p, &st) == 0;
}

Test(backlog, a_path_noted_again_after_its_record_was_loaded_is_copied_again)
{
	struct replica *r;
	char away[400];
	int fd, n = 200;

	/* The directories first, so that no copy enqueues them and no
	 * directory copy enqueues the files again. */
	init_bucket();
	for (int d = 0; d < 4; d++) {
		char p[16];

		snprintf(p, sizeof(p), "d%d", d);
		mkd(p);
	}
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);
	/* The bucket path becomes a file: an outage. */
	snprintf(away, sizeof(away), "%s.away", bucket);
	cr_assert_eq(rename(bucket, away), 0);
	fd = open(bucket, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	for (int i = 0; i < n; i++) {
		put_file(fname(i), fname(i));
		cr_assert_eq(replica_note(r, fname(i)), 0);
	}
	replica_set_copy_hook(r, slow_copy, NULL);
	cr_assert_eq(unlink(bucket), 0);
	cr_assert_eq(rename(away, bucket), 0);
	/* fname(20) was spilled, loaded and copied; the backlog goes on. */
	for (int k = 0; k < 5000 && !in_bucket(fname(40)); k++)
		usleep(1000);
	cr_assert(in_bucket(fname(20)));
	cr_assert_not(in_bucket(fname(n - 1)), "the backlog is gone already");
	put_file(fname(20), "changed after its copy");
	cr_assert_eq(replica_note(r, fname(20)), 0);
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	same(fname(20));
}

Test(backlog, replay_streams_a_journal_larger_than_one_read)
{
	struct replica_status st;
	struct replica *r;
	uint8_t rec[JREC_MAX];
	char p[1024], path[128];
	size_t size = 0;
	int n = 8000;
	FILE *f;

	mkd(".coffre");
	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_JOURNAL_FILE);
	f = fopen(p, "wb");
	cr_assert_not_null(f);
	for (int i = 0; i < n; i++) {
		/* Gone paths: nothing to copy, only to account for. */
		int len = snprintf(path, sizeof(path), "gone/a-rather-long-name-%05d", i);

		jrec_write(rec, path, (size_t)len);
		cr_assert_eq(fwrite(rec, JREC_SIZE((size_t)len), 1, f), 1);
		size += JREC_SIZE((size_t)len);
	}
	cr_assert_eq(fclose(f), 0);
	cr_assert_gt(size, 3 * JCHUNK);
	r = open_r();               /* no marker */
	status_of(r, &st);
	cr_assert_geq(st.queued, (uint64_t)n, "queued %llu", (unsigned long long)st.queued);
	cr_assert_eq(st.journal_bytes, size, "the journal was cut");
	pthread_mutex_lock(&r->lock);
	cr_assert_eq(r->jsize, size);
	pthread_mutex_unlock(&r->lock);
	replica_close(r);
	cr_assert_eq(journal_size(), size);
}

static void fast_copy(void *arg, const char *path)
{
	(void)arg;
	(void)path;
	usleep(500);
}

/* The manifest mirror in the backing dir (the last one published). */
static struct manifest *mirror_manifest(void)
{
	static uint8_t buf[1 << 20];
	struct manifest *m = NULL;
	ssize_t n = get(backing, COFFRE_MANIFEST_MIRROR, (char *)buf, sizeof(buf));

	cr_assert_gt(n, 0);
	cr_assert_eq(manifest_parse(buf, (size_t)n, KEY, &m), 0);
	return m;
}

Test(backlog, rewrite_keeps_paths_copied_but_not_yet_published)
{
	struct manifest *m;
	struct replica *r;
	size_t total;
	uint64_t done;
	int n = 600, missing = 0;

	replica_set_limits(WINDOW, 1 << 20, 0);
	init_bucket();
	r = open_r();
	cr_assert_eq(replica_sync(r, 20000), 0);   /* a first manifest */
	make_files(n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	replica_set_copy_hook(r, fast_copy, NULL);
	/* Copies go on; no manifest is written before 1,000 objects
	 * (nobody syncs).  Then the journal is rewritten: the consumed
	 * records of what was copied must stay until a manifest has it. */
	for (int k = 0; k < 5000 && !in_bucket(fname(300)); k++)
		usleep(1000);
	pthread_mutex_lock(&r->lock);
	done = r->jrewrites;
	r->jrewrite_at = 0;
	pthread_cond_signal(&r->work_cv);
	pthread_mutex_unlock(&r->lock);
	for (int k = 0; k < 5000; k++) {
		pthread_mutex_lock(&r->lock);
		if (r->jrewrites > done)
			k = 5000;
		pthread_mutex_unlock(&r->lock);
		usleep(1000);
	}
	pthread_mutex_lock(&r->lock);
	cr_assert_gt(r->jrewrites, done, "no rewrite");
	pthread_mutex_unlock(&r->lock);
	replica_close(r);             /* a crash, as far as the manifest goes */
	m = mirror_manifest();
	for (int i = 0; i < n; i++) {
		if (manifest_get(m, fname(i)))
			continue;
		missing++;
		cr_assert_geq(journal_count(fname(i), &total), 1,
			      "%s is in no manifest and no journal", fname(i));
	}
	manifest_free(m);
	cr_assert_gt(missing, 0);
	r = open_r();
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < n; i++)
		same(fname(i));
}

/* The worker's manifest keeps at most 32 entries in memory: it folds
 * them into its base on disk, and the published manifest still holds every
 * path (also after a restart, which loads it).  Then the base is changed
 * under the running daemon: the worker notices, says so, rescans, and
 * publishes a manifest that is whole again. */
Test(backlog, manifest_delta_folds_and_a_changed_base_is_rescanned)
{
	struct replica_status st;
	struct manifest *m;
	struct replica *r;
	char p[1024];
	uint64_t folds;
	int n = 600, fd;

	replica_set_limits(WINDOW, 0, 32);
	init_bucket();
	make_files(n);
	r = open_r();
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	cr_assert_eq(replica_sync(r, 60000), 0);
	pthread_mutex_lock(&r->lock);
	folds = r->folds;
	pthread_mutex_unlock(&r->lock);
	cr_assert_gt(folds, 0, "no fold with a delta of 32");
	replica_close(r);
	m = mirror_manifest();
	for (int i = 0; i < n; i++) {
		cr_assert_not_null(manifest_get(m, fname(i)), "%s", fname(i));
		same(fname(i));
	}
	manifest_free(m);

	r = open_r();                  /* loads the mirror as its base */
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_status(r, &st);
	cr_assert(!st.manifest_suspicious, "%s", st.last_error);
	/* Flip bytes all through the base file (the inode the worker reads). */
	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_MANIFEST_MIRROR);
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	for (off_t off = 64; off < lseek(fd, 0, SEEK_END) - 64; off += 4096) {
		uint8_t b;

		cr_assert_eq(pread(fd, &b, 1, off), 1);
		b ^= 0x20;
		cr_assert_eq(pwrite(fd, &b, 1, off), 1);
	}
	close(fd);
	put_file(fname(5), "changed");
	cr_assert_eq(replica_note(r, fname(5)), 0);
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_status(r, &st);
	cr_assert(st.manifest_suspicious, "a changed base went unnoticed");
	replica_close(r);
	m = mirror_manifest();
	for (int i = 0; i < n; i++) {
		cr_assert_not_null(manifest_get(m, fname(i)), "%s", fname(i));
		same(fname(i));
	}
	manifest_free(m);
}

Test(backlog, a_bad_record_in_the_backlog_is_dropped_and_rescanned)
{
	struct replica *r;
	size_t total;
	char p[1024];
	uint8_t c;
	int fd, n = 200;

	r = open_r();               /* no marker */
	usleep(100000);
	make_files(n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(replica_note(r, fname(i)), 0);
	/* A byte of a spilled record flips on disk (the check catches it):
	 * records are 18 bytes, 1890 starts the 106th. */
	snprintf(p, sizeof(p), "%s/%s", backing, COFFRE_JOURNAL_FILE);
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, 1890 + 5), 1);
	c ^= 0x01;
	cr_assert_eq(pwrite(fd, &c, 1, 1890 + 5), 1);
	close(fd);
	init_bucket();
	/* The backlog from there is dropped; the scan finds its paths. */
	cr_assert_eq(replica_sync(r, 60000), 0);
	replica_close(r);
	for (int i = 0; i < n; i++)
		same(fname(i));
	journal_count(NULL, &total);
	cr_assert_eq(total, 0);
}
