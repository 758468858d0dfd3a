/*
 * coffre keys: the sealed DEK records of the keystore (.coffre/keys/), the
 * locked LRU cache of unsealed DEKs that keeps the HSM off the data path,
 * every key derived from a DEK, and the volume (config, lock, root key)
 * that ties them to an HSM.
 * Knows nothing of FUSE.  Functions return 0 or a negative errno and are
 * thread-safe unless said otherwise.
 */
#ifndef COFFRE_KEYS_H
#define COFFRE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/crypto.h"
#include "coffre/format.h"
#include "coffre/metrics.h"
#include "coffre/v2/object.h"
#include "coffre/v2/records.h"

struct hsm_pool;
struct keyring;

#define COFFRE_MK_LABEL_MAX 64
#define COFFRE_PIN_MAX 256

/* Sealing and unsealing DEK records, the keystore's writes and the escrow's
 * seal and open are src/keys' own (keys_private.h): no DEK or master key
 * crosses this header. */

/* ---- escrow.c: master keys escrowed to the recovery key (X25519 ECIES) */

/* Read and check .coffre/escrow/mk-v<N> in the directory root_fd (a
 * backing dir or a bucket): no secret, the blob is sealed. */
int escrow_load(int root_fd, uint32_t mk_version, struct escrow_blob *e);

/* ---- derive.c: the keys derived from DEKs (one table of HKDF infos) */

/* SIV name key (64) || GCM value key (32) of one object's xattrs. */
#define COFFRE_XATTR_KEYS_LEN (COFFRE_SIV_KEY_LEN + COFFRE_KEY_LEN)

/* A derived key in locked memory; derived_key_free() wipes and frees it. */
struct derived_key {
	size_t len;
	uint8_t key[COFFRE_XATTR_KEYS_LEN];   /* the first len bytes */
};
void derived_key_free(struct derived_key *k);
/* A file's content key: HKDF-SHA256(DEK named by the header, salt = file
 * id, info = "coffre/v1/content" || header), in locked memory with a
 * fresh id; free it with aead_key_free() (which also wipes it from every
 * thread's cipher contexts). */
int keyring_file_key(struct keyring *kr, const struct file_header *h,
		     struct aead_key **out);
/* The symlink target key of a directory's DEK version (32 bytes). */
int keyring_symlink_key(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
			uint32_t version, struct derived_key **out);
/* The xattr keys of the object with identity id (a file id, or a
 * directory's own id), under the DEK (dir_id, version): 96 bytes. */
int keyring_xattr_keys(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		       const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		       struct derived_key **out);

/* Format 2 (FORMAT.md §11; nothing calls these before the switch).
 * An object's keys: HKDF-SHA256(DEK named by its fixed header, salt = file
 * id, info = "coffre/v2/object" || fixed header[64], 96 bytes): the
 * content key (segments) as an aead_key, and meta key || map key (64
 * bytes) in *meta_map. */
#define KEYS_OBJECT_LEN (3 * COFFRE_KEY_LEN)
int keyring_object_keys(struct keyring *kr, const struct obj_header *h,
			struct aead_key **content, struct derived_key **meta_map);
/* A directory's .coffre.dir meta key: DEK (dir, version 1), salt dir id. */
int keyring_dir_meta_key(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
			 struct derived_key **out);
/* An object's (or directory's) xattr blob key, under the DEK (dir_id,
 * version) of its fixed header (a directory: its own, version 1). */
int keyring_xattr2_key(struct keyring *kr, const uint8_t id[COFFRE_ID_LEN],
		       const uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
		       struct derived_key **out);
/* The keys of the root DEK (root_id, version 1), 32 bytes each. */
enum keys_root_purpose {
	KEYS_ROOT_CONFIG,     /* .coffre.conf's MAC */
	KEYS_ROOT_TABLE,      /* the version table's MACs */
	KEYS_ROOT_REPLICA,    /* the replicator's copy index */
};
int keyring_root_key(struct keyring *kr, const uint8_t root_id[COFFRE_ID_LEN],
		     enum keys_root_purpose purpose, struct derived_key **out);

/* ---- keyring.c: DEK cache */

/* The directory's name key (64 bytes, from its DEK version 1).  -EIO
 * (logged) if its key record is missing, malformed or does not unseal. */
int keyring_name_key(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		     struct derived_key **out);
/* The DEK version new files in this directory use. */
int keyring_current_version(struct keyring *kr,
			    const uint8_t dir_id[COFFRE_ID_LEN], uint32_t *version);
/* A new directory: random id and DEK, record sealed and written durably
 * (before the caller creates anything that depends on it), cached. */
int keyring_new_dir(struct keyring *kr, uint8_t dir_id[COFFRE_ID_LEN]);
/* A new DEK version for a directory's new files (record written durably,
 * cached, made current); *version gets it. */
int keyring_rotate_dir(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN],
		       uint32_t *version);
/* Wipe every cached version of a directory's key (crypto-shredding). */
void keyring_forget_dir(struct keyring *kr, const uint8_t dir_id[COFFRE_ID_LEN]);
/* Entries in the cache and HSM unseals so far (status, tests). */
void keyring_stats(struct keyring *kr, size_t *entries, uint64_t *unseals);
/* Lookups answered from the cache and lookups that read a record (the
 * metrics). */
void keyring_lookups(struct keyring *kr, uint64_t *hits, uint64_t *misses);

/* ---- volume.c: a volume's config, lock and keys */

/* An open volume (opaque: see the accessors below). */
struct volume;

struct volume_init_opts {
	const char *const *hsm_uris;  /* primary first */
	unsigned n_hsms;
	const char *pin;
	size_t pin_len;
	uint32_t seg_size;            /* 0: default */
	bool strict_holes;
	const char *shares_dir;       /* NULL: no recovery key */
	unsigned shares_n, shares_k;  /* custodians, threshold */
	const char *bucket;           /* NULL: no bucket in the config */
	uint8_t uuid[COFFRE_ID_LEN];  /* out: the new volume's id */
};
/* Create a volume in an empty (or absent) backing directory: master key
 * drawn from the primary token's RNG into locked memory, imported into
 * every HSM (their check values must agree), wiped; root DEK; config with
 * its MAC.  Every HSM must answer.  err gets a one-line reason. */
int volume_init(const char *backing, struct volume_init_opts *o,
		char *err, size_t errlen);
/*
 * Open a volume for mounting: lock it (-EBUSY if mounted), check the
 * config's ownership and mode, check that it is the volume uuid (if not
 * NULL) before any HSM is touched, log into the HSMs at uris (from the
 * mount configuration or the command line: never the config's own hsm
 * lines, which select nothing), degraded if some are down, unseal the root
 * DEK, verify the config MAC.
 */
int volume_open(const char *backing, const char *const *uris, unsigned n_uris,
		const uint8_t *uuid, const char *pin, size_t pin_len,
		struct volume **out, char *err, size_t errlen);
/* Read and parse the backing dir's .coffre.conf WITHOUT authenticating it
 * (no lock, no HSM): for messages only (what to type to adopt a volume). */
int volume_conf_peek(const char *backing, struct volume_conf *out);
void volume_close(struct volume *v);
/* Open a copy of a volume read-only (a bucket: no lock taken, nothing
 * created in dir) with the HSMs at uris -- never the config's own hsm
 * lines -- and authenticate its config, as volume_open() does. */
int volume_open_ro(const char *dir, const char *const *uris, unsigned n_uris,
		   const char *pin, size_t pin_len, struct volume **out,
		   char *err, size_t errlen);
/* Write conf (same uuid and root id as v's) as .coffre.conf in the
 * directory dir_fd, atomically, with a fresh MAC under v's root DEK. */
int volume_store_conf(struct volume *v, int dir_fd, const struct volume_conf *conf);
/* 0 if a key record unseals with the volume's HSMs (the DEK is wiped at
 * once), -EBADMSG if it does not. */
int volume_check_keyrec(struct volume *v, const struct key_record *r);
/* The bucket manifest's MAC key (32 bytes, from the root DEK). */
int volume_manifest_key(struct volume *v, struct derived_key **out);
/* The last bucket-manifest generation, as kept in the HSMs (the highest
 * any answering HSM holds; 0 if none), and recording a newer one in every
 * HSM that is up (an older one is ignored).  DESIGN.md §6. */
uint64_t volume_generation_get(struct volume *v);
int volume_generation_put(struct volume *v, uint64_t generation);
/* Re-authentication of destructive commands against the mount's PIN. */
bool volume_check_pin(struct volume *v, const char *pin, size_t len);
/* Every HSM's state (for status); returns the count. */
struct volume_hsm {
	const char *uri;              /* as configured (lives with the volume) */
	char token[33];               /* token label, "" if unknown */
	const char *state;            /* "up", "down", ... (hsm_state_name) */
	bool up;
	char reason[160];             /* why it is not up, "" if it is */
	unsigned long failovers;      /* times it was marked down */
	uint64_t calls;               /* operations run on it */
	struct metrics_hist_snap latency;   /* and how long each took */
};
unsigned volume_hsm_status(struct volume *v, struct volume_hsm *out,
			   unsigned max);
/* Watch the HSMs in the background (every period_s seconds): a member
 * that comes back is used again. */
void volume_monitor_hsms(struct volume *v, unsigned period_s);

/* ---- the open volume's parts */
/* The authenticated config (read-only). */
const struct volume_conf *volume_conf(const struct volume *v);
/* The DEK cache: the derivations above take it. */
struct keyring *volume_keyring(struct volume *v);
/* The backing root, O_RDONLY|O_DIRECTORY (the volume keeps it open). */
int volume_root_fd(const struct volume *v);
/* Some HSMs did not answer at open. */
bool volume_degraded(const struct volume *v);
/* Read the sealed record of (dir_id, version) from the keystore, checked
 * as keystore_read() does. */
int volume_read_keyrec(struct volume *v, const uint8_t dir_id[COFFRE_ID_LEN],
		       uint32_t version, struct key_record *out);
/* Crypto-shred one directory: every record of it removed (keystore_
 * destroy_dir), gone called with each name; returns how many. */
int volume_destroy_dir_keys(struct volume *v, const uint8_t dir_id[COFFRE_ID_LEN],
			    void (*gone)(const char *name, void *ctx), void *ctx);
/* The current master key's object label, and its attributes in the i-th
 * HSM (for `coffrectl hsm show`); -ENODEV if that HSM is not open. */
const char *volume_mk_label(const struct volume *v);
struct hsm_key_attrs;
int volume_hsm_key_attrs(struct volume *v, unsigned i, struct hsm_key_attrs *a);

/* ---- ceremony.c: HSM enrolment, master key rotation, custodians */

/* Bring in a new or replacement HSM from K custodians' share files: the
 * recovery key is rebuilt, the current master key's escrow opened and
 * imported (non-extractable) into the token at uri, its check value
 * verified, the URI added to the config.  The volume must not be mounted.
 * Every copy of a secret is wiped. */
int volume_enroll(const char *backing, const char *uri, const char *pin,
		  size_t pin_len, const char *const *share_files, unsigned m,
		  char *err, size_t errlen);

struct rotate_opts {
	/* Optional: a new recovery key and shares (adds one to a volume made
	 * without, or replaces the current one). */
	const char *shares_dir;
	unsigned shares_n, shares_k;
	void (*progress)(size_t done, size_t total, void *ctx);
	void *progress_ctx;
};
/* A new master key version in every HSM (all must be up), escrowed; every
 * DEK record rewrapped (resumable: run it again after an interruption);
 * the config updated; the old version destroyed in every HSM with its
 * escrow.  Works on an open volume, mounted or not. */
int volume_rotate_master(struct volume *v, const struct rotate_opts *o,
			 char *err, size_t errlen);
/* K current shares open the recovery key; a new key pair and n shares
 * (threshold k) in dir; the escrow redone under the new public key. */
int volume_reissue_shares(struct volume *v, const char *const *share_files,
			  unsigned m, const char *dir, unsigned n, unsigned k,
			  char *err, size_t errlen);

/* ---- genobj.c: format 2's generation object in the HSMs (FORMAT.md
 * §9.3): local_gen, bucket_gen, reserved_gen on every member, the current
 * value kept in memory, members caught up before they count as up.  Not
 * yet called by the running version 1 code. */

struct genobj;
#define GENOBJ_LABEL_MAX 64
/* "coffre-gen-<uuid hex>", the label of version 1's counter too. */
void genobj_label(const uint8_t uuid[COFFRE_ID_LEN], char out[GENOBJ_LABEL_MAX]);
/* The object of volume uuid in pool (no I/O).  It becomes the pool's join
 * hook: a member that comes back is caught up before it counts as up. */
int genobj_open(struct hsm_pool *pool, const uint8_t uuid[COFFRE_ID_LEN],
		struct genobj **out);
void genobj_close(struct genobj *g);

struct genobj_member {
	bool answered;                /* up, and read */
	unsigned objects;             /* under the label (2 after a crash) */
	struct hsmgen value;          /* their field-wise maximum (0 if none) */
};
struct genobj_info {
	unsigned answered;            /* members read */
	unsigned held;                /* of which holding the object */
	bool some_without;            /* an answering member holds none */
	int bad_member;               /* whose value was refused, or -1 */
	size_t bad_len;               /* that value's length */
	struct genobj_member m[COFFRE_MAX_HSMS];  /* by pool position */
};
/* Catch every answering member up after the read (sessions that write;
 * readers that write nothing leave the HSMs alone). */
#define GENOBJ_CATCH_UP 1u
/*
 * Read every member that is up: *value gets each field's maximum over them
 * and over every object on one token (0 if none holds one: info->held 0,
 * and §9.3 says who may go on).  A device error marks the member down and
 * the read goes on.  -ENODEV if no member answers; -EINVAL if a value is
 * not 24 valid bytes (version 1's 8 included), -E2BIG for more than
 * HSM_DATA_OBJECTS_MAX objects: info->bad_member names the member, and
 * the log its token; a resource error (-ENOMEM, -ENFILE, -EMFILE) as is.
 * info may be NULL.
 */
int genobj_read(struct genobj *g, unsigned flags, struct hsmgen *value,
		struct genobj_info *info);
/*
 * Store the field-wise maximum of value and the current value (all three
 * fields) on every member that is up, each object replaced by create, then
 * destroy.  0 when every member up at the end holds it and one at least
 * is up; -ENODEV if none is; a member failing with a device error is
 * marked down and the write goes on; a resource error fails it and marks
 * nobody down.  -EINVAL for a value hsmgen_write refuses.
 */
int genobj_write(struct genobj *g, const struct hsmgen *value);
/* The generation the session loaded (§12.5): a member that comes back
 * later with a higher local_gen reports "volume rolled back". */
void genobj_set_loaded(struct genobj *g, uint64_t gen);
/* The current value is not known to be on every member up (a write
 * failed, or a member came back higher): write again (every commit tick). */
bool genobj_pending(struct genobj *g);
struct genobj_status {
	struct hsmgen current;        /* max of what was read and written */
	bool pending;
	bool rolled_back;             /* tamper: "volume rolled back" */
	uint64_t rolled_back_gen;     /* the local_gen that showed it */
	char rolled_back_token[33];   /* the member that held it */
};
void genobj_status(struct genobj *g, struct genobj_status *st);
/*
 * `coffrectl hsm reseed` (an offline ceremony): local_gen = the table's
 * last generation, bucket_gen = 0, reserved_gen = that generation, or the
 * highest any member holds if higher (no generation is handed out twice).
 * Every configured member must be up (-ENODEV) and take it.
 */
int genobj_reseed(struct genobj *g, uint64_t last_gen);

/* ---- genres.c: a session's generation reservation (FORMAT.md §9.3
 * "Reservation", §12.7): what the commit thread may open and when it must
 * raise reserved_gen.  Pure; not thread-safe (the commit thread owns it). */

struct genres {
	uint64_t start;     /* s, the session's first generation (start record) */
	uint64_t reserved;  /* reserved_gen held by every member up (0: none yet) */
	uint64_t open;      /* the open generation (0 until the start is reserved) */
};
/* A session over committed generation G_c and the HSMs' reserved_gen R:
 * s = max(G_c + 3, R), *reservation = s + S to write before anything is
 * used.  -EOVERFLOW past the last generation, -EINVAL for input no valid
 * table or generation object gives. */
int genres_start(struct genres *r, uint64_t committed, uint64_t hsm_reserved,
		 uint64_t *reservation);
/* A write of the generation object holding reserved_gen succeeded (every
 * member up holds it).  The first that reaches s + S opens s. */
void genres_reserved(struct genres *r, uint64_t reserved_gen);
/* The reserved_gen to write now, 0 if none is due: s + S until the start
 * is reserved; g + S once the open generation g reaches reserved_gen −
 * S/2 (the commit thread then writes local_gen at once, §14.2 step 5),
 * at every commit until a raise succeeds. */
uint64_t genres_raise_due(const struct genres *r);
/* Open the next generation (the freeze of a commit, or after the start
 * record): 0, or 1 when it is the last reserved one (writes fail with
 * EROFS until a raise succeeds: log it once); -EROFS if it is not
 * reserved (nothing opened), -EOVERFLOW past the last generation. */
int genres_advance(struct genres *r);
/* Whether an operation that changes the volume may run in the open
 * generation (false: EROFS; reads go on). */
bool genres_writable(const struct genres *r);

/* ---- mountconf.c: the mount configuration CONFDIR/NAME.conf (FORMAT.md
 * §10.2), the only source of a volume's HSMs */

/* Read, check (NAME; CONFDIR and the file root's, not group/other-
 * writable, no symlink on the way; a regular file) and parse it.  err gets
 * one line; -ENOENT if there is no such file. */
int mount_conf_load(const char *confdir, const char *name, struct mount_conf *mc,
		    char *err, size_t errlen);
/* 0 if source is the directory mc->backing names (st_dev, st_ino). */
int mount_conf_check_source(const struct mount_conf *mc, const char *source,
			    char *err, size_t errlen);
/* 1 if CONFDIR/NAME.conf exists, 0 if not, or -errno. */
int mount_conf_exists(const char *confdir, const char *name);
/* Write it atomically (temp, fsync, rename, fsync of CONFDIR), mode 0600;
 * CONFDIR is made (0700) if missing.  Without replace, an existing file is
 * -EEXIST. */
int mount_conf_store(const char *confdir, const char *name,
		     const struct mount_conf *mc, bool replace, char *err,
		     size_t errlen);

/* ---- pin.c: PIN files */

/* Read a PIN from a file (a regular file owned by root or us, mode 0600 or
 * stricter), without a trailing newline or CRLF, into locked memory of
 * COFFRE_PIN_MAX + 1 bytes (NUL-terminated).  Returns the length or a
 * negative errno. */
int pin_read_file(const char *path, char *pin, char *err, size_t errlen);

#endif
