/*
 * inode.c: the inode table over a temporary backing directory, without a
 * mount.  Lookups of one backing object share an inode, forgets free it at
 * zero (closing its fds), the root is never freed, inode_swap_in moves
 * an inode to its new (dev, ino), and past max_inodes the table names the
 * inodes looked up least recently for the kernel to forget.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fs/fs.h"

static char dir[64];
static int dfd = -1;
static struct inode_table *tab;
static size_t fds_before;

/* Open fds of this process (the directory handle itself cancels out). */
static size_t fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void touch(const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
	close(fd);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/coffre-inode-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	fds_before = fd_count();
	cr_assert_eq(inode_table_new(dfd, NULL, COFFRE_SEG_DEFAULT, false, &tab), 0);
	cr_assert_not_null(tab);
}

static void teardown(void)
{
	DIR *d;
	struct dirent *de;

	inode_table_free(tab);
	tab = NULL;
	d = fdopendir(dfd);
	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    unlinkat(dfd, de->d_name, 0))
				unlinkat(dfd, de->d_name, AT_REMOVEDIR);
		closedir(d);
	}
	rmdir(dir);
}

TestSuite(inode, .init = setup, .fini = teardown, .timeout = 60);

/* What ops_lookup_backing does: an O_PATH fd on the entry, then the table. */
static struct inode *lookup(const char *name)
{
	struct inode *i = NULL;
	struct stat st;
	int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", name, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(inode_get(tab, fd, &st, &i), 0);
	cr_assert_not_null(i);
	return i;
}

static void backing_stat(const char *name, struct stat *st)
{
	cr_assert_eq(fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW), 0);
}

Test(inode, lookups_of_one_object_share_an_inode)
{
	struct inode *a, *b, *c;
	struct stat st;

	touch("f");
	touch("g");
	backing_stat("f", &st);
	a = lookup("f");
	cr_assert_eq(a->nlookup, 1);
	cr_assert_eq(a->dev, st.st_dev);
	cr_assert_eq(a->ino, st.st_ino);
	cr_assert_eq(a->type, S_IFREG);
	b = lookup("f");
	cr_assert_eq(b, a, "a second lookup finds the same inode");
	cr_assert_eq(a->nlookup, 2);
	c = lookup("g");
	cr_assert_neq(c, a);
	cr_assert_eq(c->nlookup, 1);

	/* inode_find adds a lookup; forgets drop them. */
	cr_assert_eq(inode_find(tab, st.st_dev, st.st_ino), a);
	cr_assert_eq(a->nlookup, 3);
	inode_forget(tab, a, 2);
	cr_assert_eq(a->nlookup, 1);
	cr_assert_eq(inode_find(tab, st.st_dev, st.st_ino), a);
	inode_forget(tab, a, 2);
	/* At zero it is gone: a find misses, a lookup makes a new one. */
	cr_assert_null(inode_find(tab, st.st_dev, st.st_ino));
	a = lookup("f");
	cr_assert_eq(a->nlookup, 1);
	/* A forget of more than it holds frees it too. */
	inode_forget(tab, a, 5);
	cr_assert_null(inode_find(tab, st.st_dev, st.st_ino));
	inode_forget(tab, c, 1);
}

Test(inode, hard_links_share_an_inode)
{
	struct inode *a, *b;

	touch("f");
	cr_assert_eq(linkat(dfd, "f", dfd, "link", 0), 0);
	a = lookup("f");
	b = lookup("link");
	cr_assert_eq(a, b);
	cr_assert_eq(a->nlookup, 2);
	/* Unlinking one name changes nothing: the inode holds its fd. */
	cr_assert_eq(unlinkat(dfd, "f", 0), 0);
	inode_forget(tab, a, 1);
	cr_assert_eq(lookup("link"), b);
	inode_forget(tab, b, 2);
}

Test(inode, directories_and_ids)
{
	struct inode *d, *root = inode_table_root(tab);

	cr_assert_eq(mkdirat(dfd, "sub", 0700), 0);
	d = lookup("sub");
	cr_assert_eq(d->type, S_IFDIR);
	cr_assert_neq(d, root);
	/* A fuse_ino_t is the inode's address, the root's FUSE_ROOT_ID. */
	cr_assert_eq(inode_id(tab, root), FUSE_ROOT_ID);
	cr_assert_eq(inode_of(tab, FUSE_ROOT_ID), root);
	cr_assert_neq(inode_id(tab, d), FUSE_ROOT_ID);
	cr_assert_eq(inode_of(tab, inode_id(tab, d)), d);
	inode_forget(tab, d, 1);
}

Test(inode, root_is_never_freed)
{
	struct inode *root = inode_table_root(tab), *r;
	struct stat st;

	cr_assert_not_null(root);
	cr_assert_eq(root->type, S_IFDIR);
	cr_assert_eq(root->nlookup, 1);
	cr_assert_eq(fstat(dfd, &st), 0);
	cr_assert_eq(root->dev, st.st_dev);
	cr_assert_eq(root->ino, st.st_ino);

	/* A lookup of the backing root (".." from a child, say) is the root. */
	r = lookup(".");
	cr_assert_eq(r, root);
	cr_assert_eq(root->nlookup, 2);
	/* inode_find never hands out the root. */
	cr_assert_null(inode_find(tab, st.st_dev, st.st_ino));
	cr_assert_eq(root->nlookup, 2);

	/* Forgetting every lookup, and more, leaves it in place and usable. */
	inode_forget(tab, root, 2);
	cr_assert_eq(root->nlookup, 0);
	inode_forget(tab, root, 10);
	cr_assert_eq(inode_table_root(tab), root);
	cr_assert_eq(inode_of(tab, FUSE_ROOT_ID), root);
	cr_assert_geq(fcntl(root->fd, F_GETFD), 0, "the root's fd is open");
	cr_assert_eq(fstat(root->fd, &st), 0);
	cr_assert_eq(lookup("."), root);
	cr_assert_eq(root->nlookup, 1);
}

Test(inode, swap_in_moves_the_inode)
{
	struct stat old_st, new_st, st;
	struct inode *i, *j;
	int old_fd, pfd;

	touch("file");
	touch("file.tmp");
	backing_stat("file", &old_st);
	i = lookup("file");
	old_fd = i->fd;
	cr_assert_eq(i->stale_fd, -1);

	pfd = openat(dfd, "file.tmp", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(fstat(pfd, &new_st), 0);

	/* A failed swap changes nothing and leaves path_fd to the caller. */
	cr_assert_eq(inode_swap_in(tab, i, dfd, "missing", "file", pfd,
				   &new_st), -ENOENT);
	cr_assert_eq(i->fd, old_fd);
	cr_assert_eq(i->ino, old_st.st_ino);
	cr_assert_eq(inode_find(tab, old_st.st_dev, old_st.st_ino), i);
	inode_forget(tab, i, 1);

	cr_assert_eq(inode_swap_in(tab, i, dfd, "file.tmp", "file", pfd,
				   &new_st), 0);
	cr_assert_eq(i->dev, new_st.st_dev);
	cr_assert_eq(i->ino, new_st.st_ino);
	cr_assert_eq(i->fd, pfd);
	cr_assert_eq(i->stale_fd, old_fd, "the old fd stays open until the free");
	backing_stat("file.tmp", &st);
	cr_assert_eq(st.st_ino, old_st.st_ino, "the old file, for the caller");
	cr_assert_eq(unlinkat(dfd, "file.tmp", 0), 0);

	/* Under the old key: nothing; under the new one, and by name: it. */
	cr_assert_null(inode_find(tab, old_st.st_dev, old_st.st_ino));
	cr_assert_eq(inode_find(tab, new_st.st_dev, new_st.st_ino), i);
	cr_assert_eq(i->nlookup, 2);
	j = lookup("file");
	cr_assert_eq(j, i);
	/* Once nobody pins the inode, nobody uses the old fd: it goes. */
	cr_assert_eq(inode_pin(tab, i), 0);
	inode_unpin(tab, i);
	cr_assert_eq(i->stale_fd, -1);
	cr_assert_eq(fcntl(old_fd, F_GETFD), -1, "the old fd is closed");
	inode_forget(tab, i, 3);
	cr_assert_null(inode_find(tab, new_st.st_dev, new_st.st_ino));
}

/* The copy goes in only over the object the inode is: a name that holds
 * another object by now (an editor's save, renamed over it), or the
 * object with a second name, is left as it was, the copy back at its
 * temp name. */
Test(inode, swap_in_only_replaces_the_inodes_object)
{
	struct stat old_st, new_st, saved_st, st;
	struct inode *i;
	int pfd;

	touch("file");
	touch("file.tmp");
	touch("saved");
	backing_stat("file", &old_st);
	i = lookup("file");
	pfd = openat(dfd, "file.tmp", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(fstat(pfd, &new_st), 0);

	cr_assert_eq(renameat(dfd, "saved", dfd, "file"), 0);
	backing_stat("file", &saved_st);
	cr_assert_eq(inode_swap_in(tab, i, dfd, "file.tmp", "file", pfd,
				   &new_st), -EAGAIN);
	backing_stat("file", &st);
	cr_assert_eq(st.st_ino, saved_st.st_ino, "the saved file stays");
	backing_stat("file.tmp", &st);
	cr_assert_eq(st.st_ino, new_st.st_ino, "the copy is back at its temp name");
	cr_assert_eq(i->ino, old_st.st_ino, "the inode did not move");
	inode_forget(tab, i, 1);

	/* The object at the name, but with a second name: refused. */
	i = lookup("file");
	cr_assert_eq(linkat(dfd, "file", dfd, "link", 0), 0);
	cr_assert_eq(inode_swap_in(tab, i, dfd, "file.tmp", "file", pfd,
				   &new_st), -EMLINK);
	backing_stat("file", &st);
	cr_assert_eq(st.st_ino, saved_st.st_ino);
	cr_assert_eq(i->ino, saved_st.st_ino);
	backing_stat("file.tmp", &st);
	cr_assert_eq(st.st_ino, new_st.st_ino);

	/* The name gone: nothing to replace. */
	cr_assert_eq(unlinkat(dfd, "file", 0), 0);
	cr_assert_eq(inode_swap_in(tab, i, dfd, "file.tmp", "file", pfd,
				   &new_st), -ENOENT);
	backing_stat("file.tmp", &st);
	cr_assert_eq(st.st_ino, new_st.st_ino);
	close(pfd);
	inode_forget(tab, i, 1);
}

Test(inode, freed_inodes_close_their_fds)
{
	struct inode *i[8], *again;
	struct stat st;
	char name[16];
	size_t k, with_table = fd_count();
	int pfd;

	cr_assert_eq(with_table, fds_before + 2,
		     "the root's O_PATH fd and the one open_by_handle_at takes");
	for (k = 0; k < 8; k++) {
		snprintf(name, sizeof(name), "f%zu", k);
		touch(name);
		i[k] = lookup(name);
	}
	cr_assert_eq(fd_count(), with_table + 8);

	/* A lookup of a known object closes the fd it was given. */
	again = lookup("f0");
	cr_assert_eq(again, i[0]);
	cr_assert_eq(fd_count(), with_table + 8);
	inode_forget(tab, again, 1);
	cr_assert_eq(fd_count(), with_table + 8, "one lookup still held");

	for (k = 0; k < 4; k++)
		inode_forget(tab, i[k], 1);
	cr_assert_eq(fd_count(), with_table + 4);

	/* A swapped-in inode holds two fds until it goes. */
	touch("f4.tmp");
	pfd = openat(dfd, "f4.tmp", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(fstat(pfd, &st), 0);
	cr_assert_eq(inode_swap_in(tab, i[4], dfd, "f4.tmp", "f4", pfd, &st), 0);
	cr_assert_eq(fd_count(), with_table + 5);
	inode_forget(tab, i[4], 1);
	cr_assert_eq(fd_count(), with_table + 3);

	/* The rest, and the root's, go with the table. */
	inode_table_free(tab);
	tab = NULL;
	cr_assert_eq(fd_count(), fds_before);
}

Test(inode, new_fails_on_a_closed_fd)
{
	struct inode_table *t = NULL;

	cr_assert_eq(inode_table_new(-1, NULL, COFFRE_SEG_DEFAULT, false, &t),
		     -EBADF);
	cr_assert_null(t);
	inode_table_free(NULL);
}

/* With a budget, the table says when one more descriptor would pass it:
 * the root counts, a pinned inode's fd cannot be closed, an unpinned one
 * is closed to make room, a forget gives the room back, 0 means no bound. */
Test(inode, fd_budget_is_kept)
{
	struct inode *a, *b;

	cr_assert(inode_table_has_handles(tab), "the test directory has handles");
	cr_assert_eq(inode_fd_reserve(tab), 0, "no budget: no bound");
	inode_table_set_fds(tab, 4, 0);
	touch("a");
	touch("b");
	cr_assert_eq(inode_fd_reserve(tab), 0);       /* root: 2 of 4 */
	a = lookup("a");
	cr_assert_eq(inode_pin(tab, a), 0);
	cr_assert_eq(inode_fd_reserve(tab), 0);       /* 3 of 4 */
	b = lookup("b");
	cr_assert_eq(inode_pin(tab, b), 0);
	cr_assert_eq(inode_fd_reserve(tab), -ENFILE, "4 of 4, all pinned");
	inode_unpin(tab, b);
	cr_assert_eq(inode_fd_reserve(tab), 0, "b's fd is closed for room");
	cr_assert_eq(b->fd, -1);
	cr_assert_eq(a->fd >= 0, true, "a is pinned: kept");
	inode_forget(tab, b, 1);
	inode_unpin(tab, a);
	inode_forget(tab, a, 1);
	inode_table_set_fds(tab, 0, 0);
	cr_assert_eq(inode_fd_reserve(tab), 0);
}

/* max_fds bounds the open O_PATH fds whatever the number of inodes; the
 * least recently used go first; a pin reopens an evicted inode from its
 * file handle (same object), and lookups of it still find one inode. */
Test(inode, fds_are_bounded_and_reopened_by_handle)
{
	enum { N = 200, MAX = 8 };
	struct inode *in[N];
	struct inode_stats s;
	struct stat st;
	char name[16];
	size_t k, with_table = fd_count();

	inode_table_set_fds(tab, 0, MAX);
	for (k = 0; k < N; k++) {
		snprintf(name, sizeof(name), "f%03zu", k);
		touch(name);
		in[k] = lookup(name);
		cr_assert_leq(fd_count(), with_table + MAX, "after %zu lookups", k + 1);
	}
	inode_table_stats(tab, &s);
	cr_assert_eq(s.inodes, N + 1);
	cr_assert_eq(s.path_fds, MAX);
	cr_assert_eq(s.evictions, N + 2 - MAX, "the root's two fds count");
	cr_assert_eq(in[0]->fd, -1, "the oldest went first");
	cr_assert_geq(in[N - 1]->fd, 0, "the newest stays");

	/* A pin reopens the object it was, by handle. */
	cr_assert_eq(inode_pin(tab, in[0]), 0);
	cr_assert_geq(in[0]->fd, 0);
	cr_assert_eq(fstat(in[0]->fd, &st), 0);
	cr_assert_eq(st.st_ino, in[0]->ino);
	cr_assert_leq(fd_count(), with_table + MAX);
	/* Pinned, it is never closed, whatever else is looked up. */
	for (k = 1; k < N; k++) {
		cr_assert_eq(inode_pin(tab, in[k]), 0);
		inode_unpin(tab, in[k]);
	}
	cr_assert_eq(fstat(in[0]->fd, &st), 0);
	cr_assert_eq(st.st_ino, in[0]->ino);
	inode_unpin(tab, in[0]);
	inode_table_stats(tab, &s);
	cr_assert_geq(s.reopens, N - MAX);

	/* A lookup of an evicted inode finds it and gives it the new fd. */
	cr_assert_eq(in[1]->fd, -1);
	cr_assert_eq(lookup("f001"), in[1]);
	cr_assert_geq(in[1]->fd, 0);
	inode_forget(tab, in[1], 1);

	/* The object gone, an evicted inode cannot be reopened: ESTALE. */
	cr_assert_eq(unlinkat(dfd, "f002", 0), 0);
	cr_assert_eq(in[2]->fd, -1);
	cr_assert_eq(inode_pin(tab, in[2]), -ESTALE);

	for (k = 0; k < N; k++)
		inode_forget(tab, in[k], 1);
	cr_assert_eq(fd_count(), with_table);
}

/* A pinned inode the kernel forgets is freed at its last unpin, not
 * before (an operation may still be using it). */
Test(inode, forget_while_pinned_frees_at_unpin)
{
	struct inode *i;
	struct stat st;
	size_t with_table = fd_count();

	touch("p");
	backing_stat("p", &st);
	i = lookup("p");
	cr_assert_eq(inode_pin(tab, i), 0);
	cr_assert_eq(inode_pin(tab, i), 0);
	inode_forget(tab, i, 1);
	cr_assert_null(inode_find(tab, st.st_dev, st.st_ino), "out of the table");
	cr_assert_eq(fcntl(i->fd, F_GETFD) >= 0, true, "its fd still open");
	inode_unpin(tab, i);
	cr_assert_eq(fd_count(), with_table + 1);
	inode_unpin(tab, i);
	cr_assert_eq(fd_count(), with_table, "freed at the last unpin");
	/* A new lookup makes a new inode. */
	i = lookup("p");
	cr_assert_eq(i->nlookup, 1);
	inode_forget(tab, i, 1);
}

/* An object about to lose its last name keeps its inode's fd (no handle
 * opens an unlinked object): calls on it work until the kernel forgets. */
Test(inode, an_unlinked_object_keeps_its_fd)
{
	struct inode *i, *other;
	struct stat st;

	inode_table_set_fds(tab, 0, 3);   /* the root's two and one more */
	touch("gone");
	touch("other");
	backing_stat("gone", &st);
	i = lookup("gone");
	inode_keep_fd(tab, st.st_dev, st.st_ino);
	cr_assert_eq(unlinkat(dfd, "gone", 0), 0);
	other = lookup("other");          /* would have evicted i */
	cr_assert_geq(i->fd, 0);
	cr_assert_eq(inode_pin(tab, i), 0);
	cr_assert_eq(fstat(i->fd, &st), 0);
	cr_assert_eq(st.st_nlink, 0);
	inode_unpin(tab, i);
	inode_forget(tab, i, 1);
	/* An evicted inode is reopened first, then kept. */
	touch("gone2");
	backing_stat("gone2", &st);
	i = lookup("gone2");              /* evicts other */
	cr_assert_eq(other->fd, -1);
	backing_stat("other", &st);
	inode_keep_fd(tab, st.st_dev, st.st_ino);
	cr_assert_geq(other->fd, 0, "reopened by handle");
	cr_assert_eq(unlinkat(dfd, "other", 0), 0);
	cr_assert_eq(inode_pin(tab, other), 0, "still there after the unlink");
	inode_unpin(tab, other);
	inode_forget(tab, i, 1);
	inode_forget(tab, other, 1);
	/* Nothing cached: nothing to keep. */
	inode_keep_fd(tab, st.st_dev, st.st_ino + 1000000);
}

/* The ids of inode_prune_pick: distinct, never the root nor a pinned
 * inode, each one of the live ones in[from..n) (NULL: forgotten). */
static void check_named(const uint64_t *ids, size_t k, struct inode **in,
			size_t from, size_t n)
{
	size_t a, b;

	for (a = 0; a < k; a++) {
		cr_assert_neq(ids[a], (uint64_t)FUSE_ROOT_ID, "never the root");
		for (b = 0; b < a; b++)
			cr_assert_neq(ids[a], ids[b], "named twice");
		for (b = from; b < n; b++)
			if (in[b] && ids[a] == inode_id(tab, in[b]))
				break;
		cr_assert_lt(b, n, "id %zu: not one of in[%zu..%zu)", a, from, n);
	}
}

/* What the kernel does with them: forget each (one lookup). */
static void kernel_forgets(const uint64_t *ids, size_t k, struct inode **in,
			   size_t n)
{
	size_t a, b;

	for (a = 0; a < k; a++)
		for (b = 0; b < n; b++)
			if (in[b] && ids[a] == inode_id(tab, in[b])) {
				cr_assert_eq(in[b]->nlookup, 1);
				inode_forget(tab, in[b], 1);
				in[b] = NULL;
			}
}

/* Past max_inodes the table names as many unpinned inodes as bring it back
 * to 7/8 of the bound, sparing those looked up since the clock last
 * passed. */
Test(inode, past_the_bound_the_least_recently_looked_up_are_named)
{
	enum { N = 100, MAX = 64, LOW = 56, PINNED = 4, AGAIN = 10, MORE = 30 };
	struct inode *in[N + MORE];
	uint64_t ids[N + MORE];
	struct inode_stats s;
	size_t k, n, again = 0;
	char name[16];

	inode_table_set_max_inodes(tab, MAX);
	cr_assert_eq(INODE_PRUNE_LOW(MAX), LOW);
	for (k = 0; k < N; k++) {
		snprintf(name, sizeof(name), "f%03zu", k);
		touch(name);
		in[k] = lookup(name);
		if (k + 2 <= MAX)   /* the root counts */
			cr_assert_eq(inode_prune_pick(tab, ids, N), 0,
				     "under the bound: nothing");
	}
	for (k = 0; k < PINNED; k++)
		cr_assert_eq(inode_pin(tab, in[k]), 0);

	/* At most cap; the kernel forgets them. */
	cr_assert_eq(inode_prune_pick(tab, ids, 5), 5);
	check_named(ids, 5, in, PINNED, N);
	kernel_forgets(ids, 5, in, N);
	/* Then as many as bring the table (root included) back to LOW. */
	n = inode_prune_pick(tab, ids, N);
	cr_assert_eq(n, N + 1 - 5 - LOW);
	check_named(ids, n, in, PINNED, N);
	kernel_forgets(ids, n, in, N);
	cr_assert_eq(inode_prune_pick(tab, ids, N), 0, "at the low mark");
	inode_table_stats(tab, &s);
	cr_assert_eq(s.inodes, LOW);
	cr_assert_eq(s.pruned, N + 1 - LOW);
	cr_assert_eq(s.max_inodes, MAX);

	/* AGAIN survivors looked up again and MORE new inodes are spared
	 * while enough others are left: only the rest is named. */
	for (k = PINNED; k < N && again < AGAIN; k++)
		if (in[k]) {
			snprintf(name, sizeof(name), "f%03zu", k);
			cr_assert_eq(lookup(name), in[k]);
			inode_forget(tab, in[k], 1);   /* one lookup, as before */
			in[k] = NULL;                  /* not to be named */
			again++;
		}
	for (k = N; k < N + MORE; k++) {
		snprintf(name, sizeof(name), "g%03zu", k);
		touch(name);
		in[k] = lookup(name);
	}
	n = inode_prune_pick(tab, ids, N + MORE);
	cr_assert_eq(n, MORE, "back to LOW");
	check_named(ids, n, in, PINNED, N);

	for (k = 0; k < PINNED; k++)
		inode_unpin(tab, in[k]);
}

static void *prune_waiter(void *arg)
{
	return inode_prune_wait(arg) ? arg : NULL;
}

/* The pruner sleeps until a lookup takes the table past the bound, and
 * not at all once stopped; each time past the bound counts once. */
Test(inode, the_pruner_waits_for_the_bound)
{
	enum { MAX = 64 };
	struct inode_stats s;
	pthread_t th;
	void *ret;
	char name[16];
	size_t k;

	inode_table_set_max_inodes(tab, MAX);
	cr_assert_eq(pthread_create(&th, NULL, prune_waiter, tab), 0);
	for (k = 0; k < MAX; k++) {          /* MAX + 1 with the root */
		snprintf(name, sizeof(name), "f%03zu", k);
		touch(name);
		lookup(name);
	}
	cr_assert_eq(pthread_join(th, &ret), 0);
	cr_assert_eq(ret, tab, "woken, not stopped");
	inode_table_stats(tab, &s);
	cr_assert_eq(s.crossings, 1);
	cr_assert_eq(inode_prune_wait(tab), true, "still over: at once");
	touch("g");
	lookup("g");
	inode_table_stats(tab, &s);
	cr_assert_eq(s.crossings, 1, "the same crossing");
	inode_prune_stop(tab);
	cr_assert_eq(inode_prune_wait(tab), false);
}

/* Keeps nest (two unlinks of two names of one object at once), and the
 * check after an unlink looks at the object, not at what st_nlink said
 * before: kept while it has no name, given back while it has one. */
Test(inode, keeps_nest_and_follow_the_link_count)
{
	struct inode *i, *other;
	struct stat st;

	inode_table_set_fds(tab, 0, 3);   /* the root's two and one more */
	touch("a");
	touch("other");
	cr_assert_eq(linkat(dfd, "a", dfd, "b", 0), 0);
	backing_stat("a", &st);
	i = lookup("a");
	inode_keep_fd(tab, st.st_dev, st.st_ino);   /* unlink of a ... */
	inode_keep_fd(tab, st.st_dev, st.st_ino);   /* ... and of b, at once */
	cr_assert_eq(unlinkat(dfd, "a", 0), 0);
	cr_assert_eq(unlinkat(dfd, "b", 0), 0);
	inode_unkeep_fd_if_linked(tab, st.st_dev, st.st_ino);
	inode_unkeep_fd(tab, st.st_dev, st.st_ino); /* one of them "failed" */
	other = lookup("other");                    /* would evict i */
	cr_assert_geq(i->fd, 0, "kept: its last name is gone");
	cr_assert_eq(inode_pin(tab, i), 0);
	inode_unpin(tab, i);
	inode_forget(tab, i, 1);
	inode_forget(tab, other, 1);

	/* Still linked after the unlink of one name: given back. */
	touch("c");
	cr_assert_eq(linkat(dfd, "c", dfd, "d", 0), 0);
	backing_stat("c", &st);
	i = lookup("c");
	inode_keep_fd(tab, st.st_dev, st.st_ino);
	cr_assert_eq(unlinkat(dfd, "c", 0), 0);
	inode_unkeep_fd_if_linked(tab, st.st_dev, st.st_ino);
	other = lookup("other");                    /* evicts i */
	cr_assert_eq(i->fd, -1, "back in the LRU");
	cr_assert_eq(inode_pin(tab, i), 0, "reopened by handle");
	inode_unpin(tab, i);
	inode_forget(tab, i, 1);
	inode_forget(tab, other, 1);
}

/* An object that keeps its name after all (the unlink failed) gives its
 * fd back to the LRU, and a file with a second name is not kept: its
 * handle still opens it after one name goes. */
Test(inode, a_kept_fd_is_given_back)
{
	struct inode *i, *other;
	struct stat st;

	inode_table_set_fds(tab, 0, 3);   /* the root's two and one more */
	touch("stays");
	touch("other");
	backing_stat("stays", &st);
	i = lookup("stays");
	inode_keep_fd(tab, st.st_dev, st.st_ino);
	inode_unkeep_fd(tab, st.st_dev, st.st_ino);
	other = lookup("other");          /* evicts i again */
	cr_assert_eq(i->fd, -1, "back in the LRU");
	cr_assert_eq(inode_pin(tab, i), 0, "reopened by handle");
	inode_unpin(tab, i);
	inode_forget(tab, other, 1);

	/* Two names, one unlinked without keeping: the handle still works. */
	cr_assert_eq(linkat(dfd, "stays", dfd, "link", 0), 0);
	cr_assert_eq(unlinkat(dfd, "stays", 0), 0);
	other = lookup("other");
	cr_assert_eq(i->fd, -1);
	cr_assert_eq(inode_pin(tab, i), 0);
	inode_unpin(tab, i);
	inode_forget(tab, i, 1);
	inode_forget(tab, other, 1);
}
