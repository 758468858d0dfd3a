/*
 * fs.h — private interface of the FUSE daemon (src/fs): the inode table,
 * entry names in the backing directory, symlink targets, xattrs, and the
 * low-level operations table.  Only src/fs and src/cli include it.
 */
#ifndef COFFRE_FS_H
#define COFFRE_FS_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "coffre/crypto.h"
#include "coffre/fs.h"
#include "coffre/format.h"
#include "coffre/keys.h"
#include "coffre/log.h"
#include "coffre/metrics.h"
#include "coffre/store.h"

/* ---- daemon-wide state */

struct inode;
struct inode_table;

struct fs {
	struct volume *vol;
	struct keyring *keys;         /* the volume's DEK cache */
	int root_fd;                  /* the backing root (the volume's) */
	struct inode_table *inodes;   /* inode.c */
	uint32_t seg_size;
	bool strict_holes;
	double timeout;               /* attr/entry cache timeout, seconds */
	uint32_t max_readahead;       /* bytes, negotiated at FUSE init */
	struct fuse_session *se;      /* for notifications (prune.c) */
};

extern struct fs g_fs;

/* ---- inode.c: inodes keyed by backing (dev, ino) */

/* File handles longer than this are not kept (ext4, xfs, btrfs and tmpfs
 * use 8 to 28 bytes): such an inode keeps its fd. */
#define INODE_HANDLE_MAX 40

struct inode {
	struct inode_table *table;    /* the table holding it */
	dev_t dev;
	ino_t ino;
	mode_t type;                  /* S_IFMT bits */
	/* table lock: */
	int fd;                       /* O_PATH fd, -1 while evicted; valid
					 while pinned (inode_pin) */
	int stale_fd;                 /* the fd before a re-key, closed at free */
	unsigned pins;                /* operations and opens using fd */
	bool in_lru, unhashed;
	unsigned keeps;               /* never evicted while > 0 (inode_keep_fd) */
	bool referenced;              /* looked up since a prune scan passed */
	uint64_t nlookup;             /* kernel references */
	struct inode *hnext, *lru_prev, *lru_next;
	/* set at lookup: the file handle, if any (fh_len 0: none) */
	uint8_t fh_len;
	int fh_type;
	unsigned char fh[INODE_HANDLE_MAX];
	pthread_mutex_t mu;           /* dir id, open state, a regular
					 file's metadata (inode_meta_lock) */
	/* directories */
	bool has_dir_id;
	uint8_t dir_id[COFFRE_ID_LEN];
	/* regular files */
	unsigned nopen;               /* mu */
	struct open_file *of;         /* while nopen > 0 */
};

/* A regular file's data while it is open (apart, so that the many inodes
 * the kernel caches stay small). */
struct open_file {
	pthread_rwlock_t rw;          /* data: readers shared, writers alone */
	struct file_header hdr;
	struct aead_key *key;         /* secmem */
	struct store_file sf;         /* sf.fd: O_RDWR backing fd */
	bool shredded;                /* its key was destroyed: data is EIO */
	bool dirty;                   /* written since the last replica note */
};

/* A table whose root inode is the backing directory root_fd (opened
 * again O_PATH, root_fd stays the caller's); keys (borrowed), seg_size and
 * strict_holes are what opening a file's data needs. */
int inode_table_new(int root_fd, struct keyring *keys, uint32_t seg_size,
		    bool strict_holes, struct inode_table **out);
/* Free every inode, the root's included, closing their fds (NULL: no-op). */
void inode_table_free(struct inode_table *t);
/* Descriptors: inodes' O_PATH fds and open files' fds together stay
 * within budget (0: no bound), so the rest of the process limit stays
 * reserved for the HSM modules, the replicator, the journal and the
 * control socket; at most max_fds O_PATH fds stay open (0: no bound), the
 * least recently used unpinned ones being closed first. */
void inode_table_set_fds(struct inode_table *t, size_t budget, size_t max_fds);
/* False if the backing filesystem has no file handles: then no O_PATH fd
 * can be closed and max_fds does not hold. */
bool inode_table_has_handles(struct inode_table *t);
/* What status shows: inodes held (the root included), their O_PATH fds,
 * open files' fds, the bounds, fds closed and reopened since the mount,
 * times the table went past max_inodes, inodes named for pruning and
 * inodes the kernel forgot. */
struct inode_stats {
	size_t inodes, path_fds, data_fds, max_fds, fd_budget, max_inodes;
	uint64_t evictions, reopens, crossings, pruned, forgotten;
	bool handles;
};
void inode_table_stats(struct inode_table *t, struct inode_stats *s);
/* Inodes: a soft bound (0: none).  Past it the pruner (prune.c) asks the
 * kernel to forget the inodes inode_prune_pick names; the table itself
 * never drops an inode the kernel holds. */
void inode_table_set_max_inodes(struct inode_table *t, size_t max_inodes);
/* Wait until the table holds more than max_inodes inodes: true, or false
 * once inode_prune_stop was called. */
bool inode_prune_wait(struct inode_table *t);
void inode_prune_stop(struct inode_table *t);
/* Past the bound, the ids (fuse_ino_t) of up to cap unpinned inodes, as
 * many as would bring the table back to INODE_PRUNE_LOW of the bound,
 * those looked up least recently first (a clock over the table: one
 * looked up since the hand last passed is spared once); 0 under it.  The
 * ids are names for the kernel only: their inodes may be gone by the time
 * it is told. */
size_t inode_prune_pick(struct inode_table *t, uint64_t *ids, size_t cap);
/* The level pruning aims at: 7/8 of the bound. */
#define INODE_PRUNE_LOW(max) ((max) - (max) / 8)
/* 0 if one more descriptor fits the budget (closing cached ones if need
 * be), -ENFILE if it does not (the caller fails with it, opening nothing). */
int inode_fd_reserve(struct inode_table *t);
/* Hold i->fd open for an operation: 0, -ESTALE if the object is gone,
 * -ENFILE.  Every success is paired with inode_unpin, after which i may
 * be freed (if the kernel forgot it meanwhile).  Never under i->mu. */
int inode_pin(struct inode_table *t, struct inode *i);
void inode_unpin(struct inode_table *t, struct inode *i);
/* The root inode: one lookup from the start, never freed by a forget. */
struct inode *inode_table_root(struct inode_table *t);
/* The inode for a fuse_ino_t. */
struct inode *inode_of(struct inode_table *t, fuse_ino_t ino);
fuse_ino_t inode_id(struct inode_table *t, struct inode *i);
/* Find or add the inode for an O_PATH fd just opened at the backing
 * object (the fd is taken over or closed), adding one lookup. */
int inode_get(struct inode_table *t, int fd, const struct stat *st,
	      struct inode **out);
/* The inode of a backing object if the table holds one (one lookup added,
 * drop it with inode_forget), else NULL. */
struct inode *inode_find(struct inode_table *t, dev_t dev, ino_t ino);
/* The backing object (dev, ino) may be about to lose its last name: if
 * the table holds its inode, that keeps its fd until forgotten (no handle
 * opens an unlinked object, and the kernel may still ask about it, for
 * example to write back its times).  Calls nest: each is undone by one
 * inode_unkeep_fd or one inode_unkeep_fd_if_linked. */
void inode_keep_fd(struct inode_table *t, dev_t dev, ino_t ino);
/* It did not lose it after all (the unlink or rename failed). */
void inode_unkeep_fd(struct inode_table *t, dev_t dev, ino_t ino);
/* After the unlink or rename: undo one keep if the object still has a
 * name, as its fd shows (a concurrent unlink of another of its names
 * makes an st_nlink read before the unlink stale). */
void inode_unkeep_fd_if_linked(struct inode_table *t, dev_t dev, ino_t ino);
/* Swap the backing object at `from` (a re-keyed copy: O_PATH path_fd,
 * stat st) in at `to` (both in dfd) with RENAME_EXCHANGE, if what is at
 * `to` is still i's object with no other name, and point i at it, as one
 * step for lookups: 0, path_fd taken over, the old object now at `from`
 * for the caller to remove.  Else nothing changes: -EAGAIN (`to` names
 * another object now), -EMLINK (the object got a second name) or -errno;
 * -EBUSY if a swap could not be undone (`from` then holds what `to` held:
 * keep it).  Caller holds of->rw, i->mu and a pin. */
int inode_swap_in(struct inode_table *t, struct inode *i, int dfd,
		  const char *from, const char *to, int path_fd,
		  const struct stat *st);
/* How many inodes inode_swap_in has moved so far: a lookup that sees it
 * change between opening a name and inode_get looks again (ops.c). */
uint64_t inode_table_swaps(struct inode_table *t);
/* Mark open files keyed by any of these directories as shredded (their
 * reads and writes fail with EIO from now on): 0 or -ENOMEM. */
int inode_shred_tree(struct inode_table *t, const uint8_t (*ids)[COFFRE_ID_LEN],
		     size_t n);
/* Drop n lookups; the inode is freed at zero (at its last unpin if
 * pinned). */
void inode_forget(struct inode_table *t, struct inode *i, uint64_t n);
/* A directory's id (read from its .coffre.dir on first use; dir pinned). */
int inode_dir_id(struct inode *dir, uint8_t id[COFFRE_ID_LEN]);
/* "/proc/self/fd/N" for a pinned inode's O_PATH fd. */
void inode_path(const struct inode *i, char out[64]);
/* Open the regular file's data (header, key, size) for one more user;
 * the inode stays pinned until the matching inode_close_data. */
int inode_open_data(struct inode_table *t, struct inode *i);
void inode_close_data(struct inode *i);
/* Around a change of a regular file's metadata (mode, owner, times, user
 * xattrs) and the reads of its xattrs: i->mu, which a re-key holds from
 * copying them to swapping its copy in (keyops.c), so that a change lands
 * before the copy or on the new file.  Nothing for other types (never
 * re-keyed).  Taken under neither i->mu nor of->rw. */
void inode_meta_lock(struct inode *i);
void inode_meta_unlock(struct inode *i);

/* ---- attr.c: what the kernel sees of a backing object */

/* fstat the backing object and translate: regular files get their
 * plaintext size, symlinks the length of their plaintext target. */
int attr_get(struct inode *i, struct stat *st);
/* The same for a backing stat already in hand (no inode yet). */
int attr_translate(int fd, struct stat *st);

/* ---- entry.c: entry names in a backing directory */

struct dir_keys {
	uint8_t id[COFFRE_ID_LEN];
	struct derived_key *name_key;  /* locked memory; dir_keys_wipe frees */
};
/* The id and name key of a directory; k->name_key is NULL on failure. */
int dir_keys_get(struct keyring *keys, struct inode *dir, struct dir_keys *k);
/* The same for the backing directory open at dirfd. */
int dir_keys_at(struct keyring *keys, int dirfd, struct dir_keys *k);
void dir_keys_wipe(struct dir_keys *k);
/* The backing name of `name` in a directory; *is_long if it is stored
 * under a hash with a sidecar; full gets the full encoding. */
struct backing_name {
	char name[COFFRE_ENC_NAME_MAX];
	char full[COFFRE_ENC_NAME_MAX];
	bool is_long;
};
int entry_name(const struct dir_keys *k, const char *name, struct backing_name *b);
/* Write the long-name sidecar (before the entry exists). */
int entry_sidecar_write(int dirfd, const struct backing_name *b);
/* Remove the long-name sidecar (after the entry is gone). */
void entry_sidecar_remove(int dirfd, const struct backing_name *b);
/* Plaintext name of a backing directory entry; -ENOENT for entries that
 * are the filesystem's own, -EBADMSG for ones that do not decrypt. */
int entry_plain(int dirfd, const struct dir_keys *k, const char *backing,
		char out[COFFRE_NAME_MAX + 1]);
/* True for names that belong to the filesystem (hidden from readdir). */
bool entry_is_internal(const char *backing);

/* ---- symlink.c: encrypted symlink targets */

/* Create a symlink at dirfd/name whose target is `target` encrypted under
 * the directory's current DEK; long ones go to a sidecar. */
int symlink_create(int dirfd, const char *name, struct inode *dir,
		   const char *target);
/* Decrypt the target of a backing symlink (fd: O_PATH on it). */
int symlink_read(int fd, char *out, size_t cap);
/* Plaintext length of the target, for st_size. */
int symlink_size(int fd, off_t *size);
/* Called before the last link to a backing symlink goes. */
void symlink_remove_sidecar(int fd);

/* ---- xattr.c: encrypted user.* extended attributes */

int xattr_set(struct inode *i, const char *name, const void *value,
	      size_t size, int flags);
ssize_t xattr_get(struct inode *i, const char *name, void *value, size_t size);
ssize_t xattr_list(struct inode *i, char *list, size_t size);
int xattr_remove(struct inode *i, const char *name);
/* Copy every user xattr of the backing file `from` (keys of header oh) to
 * `to` (keys of header nh), re-encrypted: for re-keying a file. */
int xattr_rekey(const char *from, const struct file_header *oh, const char *to,
		const struct file_header *nh);

/* ---- ops_*.c: the operations */

extern const struct fuse_lowlevel_ops coffre_ops;
void ops_entry_reply(fuse_req_t req, struct inode *i, const struct stat *st);
/* Owner for a new object: the caller, with the group of a setgid parent. */
void fs_new_owner(fuse_req_t req, struct inode *parent, uid_t *uid, gid_t *gid,
		  bool *inherit_sgid);

/* ---- replicate.c: telling the replicator what changed */
struct replica_status;
/* Start replication to bucket (NULL or "": none). */
int fs_replica_start(const char *bucket, char *err, size_t errlen);
void fs_replica_stop(void);
/* A backing path (relative to the root) changed or vanished. */
void note(const char *rel);
/* name in the backing directory dirfd (NULL: the directory itself). */
void note_at(int dirfd, const char *name);
/* An entry and its long-name sidecar. */
void note_name(int dirfd, const struct backing_name *b);
/* The backing object of an inode. */
void note_inode(struct inode *i);
/* A rename of old_name in olddir to new_name in newdir: both names, and
 * for a directory every path under it at its old and new place. */
void note_moved(int newdir, const char *new_name, int olddir, const char *old_name);
/* Everything under a backing directory (relative path). */
void note_tree(const char *rel);
/* Everything under the backing directory open at dfd. */
void note_dir_tree(int dfd);
/* The keystore, escrow, symlink sidecars and config (after key operations). */
void note_keys(void);
/* Wait for the bucket to hold everything noted so far; -ENOTCONN without
 * a bucket, -ETIMEDOUT. */
int fs_replica_sync(int timeout_ms);
bool fs_replica_status(struct replica_status *st);

/* ---- prune.c: keeping the kernel's inodes, and so the table, bounded */
/* Start the pruner once the kernel's protocol is known (FUSE init): it
 * needs FUSE_NOTIFY_PRUNE, protocol 7.45.  A no-op without a bound. */
void fs_prune_start(unsigned proto_major, unsigned proto_minor);
void fs_prune_stop(void);
/* True while the kernel takes prune notifications (false before init,
 * on an older kernel, or after it refused one). */
bool fs_prune_active(void);

/* ---- ticker.c: a function run at once, then every period seconds */

struct ticker {
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stop;
	unsigned period_s;
	void (*fn)(void);
};
#define TICKER_INIT { .mu = PTHREAD_MUTEX_INITIALIZER, \
		      .wake = PTHREAD_COND_INITIALIZER }
int ticker_start(struct ticker *t, void (*fn)(void), unsigned period_s);
/* Wake it, wait for it to end (a run under way finishes first). */
void ticker_stop(struct ticker *t);

/* ---- health.c: degraded or failing, and why (status and the log) */
#define FS_HEALTH_MAX 12
struct fs_health_warning {
	char key[16];                 /* "hsm 2", "bucket", "manifest" */
	char text[640];
};
struct fs_health {
	int level;                    /* COFFRE_HEALTH_OK, _DEGRADED, _FAILING */
	unsigned n;
	struct fs_health_warning w[FS_HEALTH_MAX];
};
void fs_health(struct fs_health *h);
const char *fs_health_name(int level);
/* A line for each warning in now and not in before (by key), and for each
 * one that cleared. */
void fs_health_log_changes(const struct fs_health *before, const struct fs_health *now);
/* The one-line summary systemd shows (STATUS=): "healthy", or the level
 * and the warnings, "; "-separated. */
void fs_health_line(const struct fs_health *h, char *out, size_t cap);
/* Check every period_s seconds, log the changes and send the new summary
 * as STATUS= (from the mount on). */
int fs_health_start(unsigned period_s);
void fs_health_stop(void);

/* ---- metrics.c: what the daemon counts, printed in the Prometheus text
 * format (coffre/metrics.h's table) for `coffrectl metrics` and the
 * metrics file */
#define FS_OPS(X) X(lookup) X(forget) X(forget_multi) X(getattr) X(setattr) \
	X(readlink) X(mknod) X(mkdir) X(unlink) X(rmdir) X(symlink) X(rename) \
	X(link) X(open) X(read) X(write) X(flush) X(release) X(fsync) \
	X(opendir) X(readdir) X(readdirplus) X(releasedir) X(fsyncdir) \
	X(statfs) X(setxattr) X(getxattr) X(listxattr) X(removexattr) \
	X(access) X(create) X(fallocate)
#define FS_OP_ID(op) FS_OP_##op,
enum fs_op { FS_OPS(FS_OP_ID) FS_OP_COUNT };
#undef FS_OP_ID
/* One request of op, which arrived at t0 (metrics_now_ns), has replied. */
void fs_metrics_op(enum fs_op op, uint64_t t0);
void fs_metrics_read(size_t bytes);
void fs_metrics_written(size_t bytes);
void fs_metrics_eio(void);
/* Every metric, in the text format, to f. */
void fs_metrics_write(FILE *f);
#define FS_METRICS_FILE_PERIOD_S 10
/* Rewrite path (checked by the parser: absolute, *.prom) every period_s
 * seconds until fs_metrics_file_stop; path NULL: nothing. */
int fs_metrics_file_start(const char *path, unsigned period_s);
void fs_metrics_file_stop(void);

/* ---- mountpoint.c: before mounting */
/* path is a directory that answers, not a coffre mount, and empty unless
 * nonempty_ok: 0 with its real path in mnt, or -errno with a one-line
 * message in msg (what to do included). */
int mountpoint_check(const char *path, bool nonempty_ok, char mnt[PATH_MAX],
		     char *msg, size_t cap);

/* ---- notify.c: sd_notify(3)'s protocol, to $NOTIFY_SOCKET if set */
/* One datagram of "KEY=VALUE" lines; 0 (also without $NOTIFY_SOCKET) or
 * -errno. */
int fs_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- control.c: the control socket */
int control_start(const struct fs_opts *o);
void control_stop(void);

#endif
