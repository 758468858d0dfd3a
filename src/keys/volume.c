/*
 * volume.c — creating and opening a volume: the config (.coffre.conf), the
 * volume lock, the master key ceremony at init and the checks at mount.
 *
 * init: the master key is drawn from the token's RNG into locked memory,
 * imported as a sensitive, non-extractable object, and wiped — the only
 * moment it exists outside the HSM.  The config is authenticated with
 * HMAC-SHA256 under HKDF-SHA256(root DEK, "coffre/v1/config") (RFC 2104,
 * RFC 5869), checked right after the HSM login at mount, so a tampered
 * config (another HSM URI, segment size, key check value) is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffre/hsm.h"
#include "coffre/io.h"
#include "keys_private.h"

/* Open every HSM named for a new volume: all must answer at init. */
static int open_all(const struct volume_init_opts *o, struct hsm **h,
		    char *err, size_t errlen)
{
	unsigned i;
	int ret;

	for (i = 0; i < o->n_hsms; i++) {
		if (strlen(o->hsm_uris[i]) >= COFFRE_URI_MAX)
			return keys_set_err(err, errlen, -EINVAL, "HSM URI too long");
		ret = hsm_open(o->hsm_uris[i], o->pin, o->pin_len, &h[i], err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* The options a volume is made with, checked before anything is touched. */
static int init_check_opts(const struct volume_init_opts *o, char *err,
			   size_t errlen)
{
	if (o->n_hsms == 0 || o->n_hsms > COFFRE_MAX_HSMS)
		return keys_set_err(err, errlen, -EINVAL, "give 1 to %d HSMs", COFFRE_MAX_HSMS);
	if (o->seg_size && !seg_size_valid(o->seg_size))
		return keys_set_err(err, errlen, -EINVAL,
			    "segment size must be a power of two from 4096 to 65536");
	return 0;
}

/* Create (or take) the backing root, which must be empty; *root is its fd. */
static int init_open_root(const char *backing, int *root, char *err,
			  size_t errlen)
{
	int ret;

	if (mkdir(backing, 0755) && errno != EEXIST)
		return keys_set_err(err, errlen, -errno, "cannot create %s: %s", backing,
			    strerror(errno));
	*root = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*root < 0)
		return keys_set_err(err, errlen, -errno, "cannot open %s: %s", backing,
			    strerror(errno));
	/* The backing root must be empty (a fresh volume never hides old data). */
	ret = io_dir_empty(*root, "lost+found");
	ret = ret == 1 ? 0 : ret == 0 ? -ENOTEMPTY : ret;
	if (ret)
		keys_set_err(err, errlen, ret, "%s is not empty: a volume is made in an "
		     "empty directory", backing);
	return ret;
}

/* Fill in the new config from the options: HSMs, bucket, fresh ids. */
static int init_conf_fill(struct volume_conf *conf,
			  const struct volume_init_opts *o, char *err,
			  size_t errlen)
{
	unsigned i;
	int ret;

	conf->format = COFFRE_FORMAT_VERSION;
	conf->seg_size = o->seg_size ? o->seg_size : COFFRE_SEG_DEFAULT;
	conf->strict_holes = o->strict_holes;
	conf->mk_version = 1;
	conf->n_hsms = o->n_hsms;
	for (i = 0; i < o->n_hsms; i++)
		snprintf(conf->hsm[i], COFFRE_URI_MAX, "%s", o->hsm_uris[i]);
	if (o->bucket) {
		if (o->bucket[0] != '/' || strlen(o->bucket) >= sizeof(conf->bucket))
			return keys_set_err(err, errlen, -EINVAL, "the bucket must be an "
					    "absolute path");
		snprintf(conf->bucket, sizeof(conf->bucket), "%s", o->bucket);
	}
	ret = random_bytes(conf->uuid, COFFRE_ID_LEN);
	if (!ret)
		ret = random_bytes(conf->root_id, COFFRE_ID_LEN);
	if (ret)
		keys_set_err(err, errlen, ret, "no randomness: %s", strerror(-ret));
	return ret;
}

/* With --shares-dir: the recovery key pair (its public half in the config). */
static int init_recovery_key(struct volume_conf *conf,
			     const struct volume_init_opts *o, uint8_t **rk_priv,
			     char *err, size_t errlen)
{
	int ret;

	if (!o->shares_dir)
		return 0;
	*rk_priv = secmem_alloc(32);
	ret = *rk_priv ? recovery_keypair(*rk_priv, conf->recovery_pub) : -ENOMEM;
	if (ret)
		return keys_set_err(err, errlen, ret, "cannot make the recovery key");
	conf->has_recovery = true;
	conf->shares_k = (uint8_t)o->shares_k;
	conf->shares_n = (uint8_t)o->shares_n;
	return 0;
}

/* The state and keys dirs, a fresh root DEK and its sealed key record. */
static int init_root_key(int root, const char *backing, struct hsm_pool *pool,
			 const struct volume_conf *conf, uint8_t *root_dek,
			 char *err, size_t errlen)
{
	struct key_record rec;
	int keys, ret;

	ret = mkdirat(root, COFFRE_STATE_DIR, 0700) ? -errno :
	      io_mkdir_beneath(root, COFFRE_KEYS_DIR, 0700);
	if (ret)
		return keys_set_err(err, errlen, ret, "cannot create %s/%s: %s", backing,
			   COFFRE_KEYS_DIR, strerror(-ret));
	keys = io_open_dir(root, COFFRE_KEYS_DIR);
	ret = keys < 0 ? keys : random_bytes(root_dek, COFFRE_KEY_LEN);
	if (!ret)
		ret = keyrec_seal(pool, conf->uuid, conf->mk_version, conf->root_id, 1,
				  root_dek, &rec);
	if (!ret)
		ret = keystore_write(keys, &rec);
	if (keys >= 0)
		close(keys);
	if (ret)
		keys_set_err(err, errlen, ret, "cannot write the root key record: %s",
		     strerror(-ret));
	return ret;
}

/* With a recovery key: the MK escrow and the custodians' shares. */
static int init_escrow(int root, const struct volume_init_opts *o,
		       const struct escrow_blob *escrow, const uint8_t *rk_priv,
		       char *err, size_t errlen)
{
	int ret;

	ret = escrow_store(root, escrow);
	if (!ret)
		ret = shares_issue(o->shares_dir, o->shares_n, o->shares_k,
				   rk_priv, err, errlen);
	if (ret && !err[0])
		keys_set_err(err, errlen, ret, "cannot write the escrow: %s",
			     strerror(-ret));
	return ret;
}

/* The root directory's dir file. */
static int init_dir_file(int root, const struct volume_conf *conf, char *err,
			 size_t errlen)
{
	uint8_t dirfile[COFFRE_DIR_FILE_LEN];
	int ret;

	dir_file_write(conf->root_id, dirfile);
	ret = io_replace(root, COFFRE_DIR_FILE, dirfile, sizeof(dirfile), 0600);
	if (ret)
		keys_set_err(err, errlen, ret, "cannot write %s: %s", COFFRE_DIR_FILE,
		     strerror(-ret));
	return ret;
}

/* Nothing usable was made: take the key out of the HSMs again. */
static void init_undo_key(struct hsm **h, struct hsm_pool *pool, unsigned n,
			  const char *label)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct hsm *x = h[i] ? h[i] :
			pool ? hsm_pool_member(pool, i) : NULL;

		if (x)
			hsm_destroy_key(x, label);
	}
}

int volume_init(const char *backing, struct volume_init_opts *o,
		char *err, size_t errlen)
{
	struct volume_conf *conf = NULL;
	struct hsm *h[COFFRE_MAX_HSMS] = { NULL };
	struct hsm_pool *pool = NULL;
	uint8_t *root_dek = NULL, *rk_priv = NULL;
	struct escrow_blob escrow;
	char label[COFFRE_MK_LABEL_MAX];
	int root = -1, ret;
	bool made_key = false, degraded;
	unsigned i;

	err[0] = '\0';
	ret = init_check_opts(o, err, errlen);
	if (ret)
		return ret;
	ret = init_open_root(backing, &root, err, errlen);
	if (ret)
		goto out;
	ret = open_all(o, h, err, errlen);
	if (ret)
		goto out;

	conf = calloc(1, sizeof(*conf));
	root_dek = secmem_alloc(COFFRE_KEY_LEN);
	if (!conf || !root_dek) {
		ret = keys_set_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	ret = init_conf_fill(conf, o, err, errlen);
	if (ret)
		goto out;
	mk_label(conf->uuid, conf->mk_version, label);
	ret = init_recovery_key(conf, o, &rk_priv, err, errlen);
	if (ret)
		goto out;
	ret = mk_ceremony(h, o->n_hsms, conf->uuid, conf->mk_version,
			  conf->has_recovery ? conf->recovery_pub : NULL, conf->kcv,
			  &escrow, err, errlen);
	if (ret)
		goto out;
	made_key = true;
	for (i = 0; i < o->n_hsms; i++) {
		hsm_close(h[i]);
		h[i] = NULL;
	}
	ret = hsm_pool_open((const char *const *)o->hsm_uris, o->n_hsms, o->pin,
			    o->pin_len, label, conf->kcv, &pool, &degraded, err, errlen);
	if (ret)
		goto out;

	ret = init_root_key(root, backing, pool, conf, root_dek, err, errlen);
	if (!ret && conf->has_recovery)
		ret = init_escrow(root, o, &escrow, rk_priv, err, errlen);
	if (!ret)
		ret = init_dir_file(root, conf, err, errlen);
	if (ret)
		goto out;

	ret = conf_store(root, conf, root_dek);
	if (!ret)
		memcpy(o->uuid, conf->uuid, COFFRE_ID_LEN);
	if (ret)
		keys_set_err(err, errlen, ret, "cannot write %s: %s", COFFRE_CONF_FILE,
			     strerror(-ret));
out:
	if (ret && made_key)
		init_undo_key(h, pool, o->n_hsms, label);
	secmem_free(root_dek, COFFRE_KEY_LEN);
	secmem_free(rk_priv, 32);
	free(conf);
	if (root >= 0)
		close(root);
	for (i = 0; i < COFFRE_MAX_HSMS; i++)
		hsm_close(h[i]);
	hsm_pool_close(pool);
	return ret;
}

int volume_open_conf(const char *backing, struct volume *v, char **text,
		     char *err, size_t errlen)
{
	struct stat lst;

	v->keys_fd = v->lock_fd = -1;
	v->root_fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->root_fd < 0)
		return keys_set_err(err, errlen, -errno, "cannot open %s: %s", backing,
				    strerror(errno));
	v->lock_fd = io_open_beneath(v->root_fd, COFFRE_LOCK_FILE, O_RDWR | O_CREAT |
				     O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
	if (v->lock_fd >= 0 && (fstat(v->lock_fd, &lst) < 0 || !S_ISREG(lst.st_mode))) {
		close(v->lock_fd);
		v->lock_fd = -EINVAL;     /* planted: a FIFO, a device */
	}
	if (v->lock_fd < 0) {
		int e = v->lock_fd;

		v->lock_fd = -1;
		return keys_set_err(err, errlen, e, "no volume at %s (%s: %s)",
				    backing, COFFRE_LOCK_FILE, strerror(-e));
	}
	if (volume_lock(v->lock_fd))
		return keys_set_err(err, errlen, -EBUSY, "%s is in use (mounted, or "
				    "another coffrectl holds its lock)", backing);
	return conf_read(v->root_fd, &v->conf, text, err, errlen);
}

/* Log into the HSMs at uris, unseal the root DEK from the keystore and
 * authenticate the config text read into v->conf; check the root's
 * .coffre.dir against it.  v->root_fd is open. */
static int open_keys(struct volume *v, const char *const *uris, unsigned n_uris,
		     const char *pin, size_t pin_len, const char *text,
		     char *err, size_t errlen)
{
	uint8_t *root_dek = NULL, dirbuf[COFFRE_DIR_FILE_LEN + 1];
	uint8_t dir_id[COFFRE_ID_LEN];
	ssize_t n;
	int ret;

	mk_label(v->conf.uuid, v->conf.mk_version, v->mk_label);
	ret = hsm_pool_open(uris, n_uris, pin, pin_len, v->mk_label, v->conf.kcv,
			    &v->hsm, &v->degraded, err, errlen);
	if (ret)
		goto out;
	v->keys_fd = io_open_dir(v->root_fd, COFFRE_KEYS_DIR);
	v->keys = v->keys_fd < 0 ? NULL :
		keyring_new(v->hsm, v->keys_fd, v->conf.uuid, v->conf.mk_version, 0);
	root_dek = secmem_alloc(COFFRE_KEY_LEN);
	if (!v->keys || !root_dek) {
		ret = keys_set_err(err, errlen, -EIO, "cannot open %s", COFFRE_KEYS_DIR);
		goto out;
	}
	ret = keyring_dek(v->keys, v->conf.root_id, 1, root_dek);
	if (!ret)
		ret = conf_verify(&v->conf, text, root_dek);
	if (ret) {
		ret = keys_set_err(err, errlen, -EKEYREJECTED, "%s does not authenticate "
			   "(tampered config or root key record)", COFFRE_CONF_FILE);
		goto out;
	}
	n = io_read_small(v->root_fd, COFFRE_DIR_FILE, dirbuf, sizeof(dirbuf));
	if (n < 0 || dir_file_parse(dirbuf, (size_t)n, dir_id) ||
	    memcmp(dir_id, v->conf.root_id, COFFRE_ID_LEN)) {
		ret = keys_set_err(err, errlen, -EIO, "root %s is missing or does not match "
			   "the config", COFFRE_DIR_FILE);
		goto out;
	}
	ret = 0;
out:
	secmem_free(root_dek, COFFRE_KEY_LEN);
	return ret;
}

/* The HSM URIs a volume is opened with: 1..COFFRE_MAX_HSMS, each short
 * enough for the pool. */
static int check_uris(const char *const *uris, unsigned n_uris, char *err,
		      size_t errlen)
{
	unsigned i;

	if (n_uris == 0 || n_uris > COFFRE_MAX_HSMS)
		return keys_set_err(err, errlen, -EINVAL, "give 1 to %d HSMs",
				    COFFRE_MAX_HSMS);
	for (i = 0; i < n_uris; i++)
		if (strlen(uris[i]) >= COFFRE_URI_MAX)
			return keys_set_err(err, errlen, -EINVAL, "HSM URI too long");
	return 0;
}

int volume_open(const char *backing, const char *const *uris, unsigned n_uris,
		const uint8_t *uuid, const char *pin, size_t pin_len,
		struct volume **out, char *err, size_t errlen)
{
	struct volume *v;
	char *text = NULL;
	int ret;

	*out = NULL;
	ret = check_uris(uris, n_uris, err, errlen);
	if (ret)
		return ret;
	v = calloc(1, sizeof(*v));
	if (!v)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	ret = volume_open_conf(backing, v, &text, err, errlen);
	if (ret)
		goto out;
	/* Not yet authenticated, but it decides nothing: a volume that is
	 * not the one configured is refused before any HSM is touched (the
	 * MAC check then makes the match authentic). */
	if (uuid && memcmp(uuid, v->conf.uuid, COFFRE_ID_LEN)) {
		char want[2 * COFFRE_ID_LEN + 1], have[2 * COFFRE_ID_LEN + 1];

		hex_encode(uuid, COFFRE_ID_LEN, want);
		hex_encode(v->conf.uuid, COFFRE_ID_LEN, have);
		ret = keys_set_err(err, errlen, -EXDEV, "%s holds volume %s, not %s "
				   "(the configured uuid)", backing, have, want);
		goto out;
	}
	/* The config's own hsm lines are never used: the backing dir must
	 * not choose the PKCS#11 module we load and hand the PIN to. */
	ret = open_keys(v, uris, n_uris, pin, pin_len, text, err, errlen);
	if (ret)
		goto out;
	*out = v;
	v = NULL;
out:
	free(text);
	volume_close(v);
	return ret;
}

int volume_conf_peek(const char *backing, struct volume_conf *out)
{
	char *text = NULL, err[256];
	int root, ret;

	root = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	ret = conf_read(root, out, &text, err, sizeof(err));
	close(root);
	free(text);
	return ret;
}

int volume_open_ro(const char *dir, const char *const *uris, unsigned n_uris,
		   const char *pin, size_t pin_len, struct volume **out,
		   char *err, size_t errlen)
{
	struct volume *v;
	char *text = NULL;
	int ret;

	*out = NULL;
	ret = check_uris(uris, n_uris, err, errlen);
	if (ret)
		return ret;
	v = calloc(1, sizeof(*v));
	if (!v)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	v->keys_fd = v->lock_fd = -1;
	v->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->root_fd < 0) {
		ret = keys_set_err(err, errlen, -errno, "cannot open %s: %s", dir,
				   strerror(errno));
		goto out;
	}
	/* The config's own hsm lines are never used: a copy of a volume in
	 * untrusted storage must not choose the PKCS#11 module we load. */
	ret = conf_read(v->root_fd, &v->conf, &text, err, errlen);
	if (!ret)
		ret = open_keys(v, uris, n_uris, pin, pin_len, text, err, errlen);
	if (ret)
		goto out;
	*out = v;
	v = NULL;
out:
	free(text);
	volume_close(v);
	return ret;
}

int volume_store_conf(struct volume *v, int dir_fd, const struct volume_conf *conf)
{
	uint8_t *root = secmem_alloc(COFFRE_KEY_LEN);
	int err = root ? keyring_dek(v->keys, v->conf.root_id, 1, root) : -ENOMEM;

	if (!err && (memcmp(conf->uuid, v->conf.uuid, COFFRE_ID_LEN) ||
		     memcmp(conf->root_id, v->conf.root_id, COFFRE_ID_LEN)))
		err = -EINVAL;
	if (!err)
		err = conf_store(dir_fd, conf, root);
	secmem_free(root, COFFRE_KEY_LEN);
	return err;
}

void volume_close(struct volume *v)
{
	if (!v)
		return;
	keyring_free(v->keys);
	hsm_pool_close(v->hsm);
	if (v->keys_fd >= 0)
		close(v->keys_fd);
	if (v->lock_fd >= 0)
		close(v->lock_fd);
	if (v->root_fd >= 0)
		close(v->root_fd);
	free(v);
}

unsigned volume_hsm_status(struct volume *v, struct volume_hsm *out,
			   unsigned max)
{
	struct hsm_member_status st[COFFRE_MAX_HSMS];
	unsigned i, n = hsm_pool_status(v->hsm, st, max < COFFRE_MAX_HSMS ?
					max : COFFRE_MAX_HSMS);

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].uri = st[i].uri;
		snprintf(out[i].token, sizeof(out[i].token), "%s", st[i].token);
		out[i].state = hsm_state_name(st[i].state);
		out[i].up = st[i].state == HSM_UP;
		snprintf(out[i].reason, sizeof(out[i].reason), "%s", st[i].reason);
		out[i].failovers = st[i].failovers;
		out[i].calls = st[i].calls;
		out[i].latency = st[i].latency;
	}
	return n;
}

void volume_monitor_hsms(struct volume *v, unsigned period_s)
{
	hsm_pool_monitor(v->hsm, period_s);
}

const struct volume_conf *volume_conf(const struct volume *v)
{
	return &v->conf;
}

struct keyring *volume_keyring(struct volume *v)
{
	return v->keys;
}

int volume_root_fd(const struct volume *v)
{
	return v->root_fd;
}

bool volume_degraded(const struct volume *v)
{
	return v->degraded;
}

int volume_read_keyrec(struct volume *v, const uint8_t dir_id[COFFRE_ID_LEN],
		       uint32_t version, struct key_record *out)
{
	return keystore_read(v->keys_fd, v->conf.uuid, dir_id, version, out);
}

int volume_destroy_dir_keys(struct volume *v, const uint8_t dir_id[COFFRE_ID_LEN],
			    void (*gone)(const char *name, void *ctx), void *ctx)
{
	return keystore_destroy_dir(v->keys_fd, dir_id, gone, ctx);
}

int volume_hsm_key_attrs(struct volume *v, unsigned i, struct hsm_key_attrs *a)
{
	struct hsm *h = hsm_pool_member(v->hsm, i);

	return h ? hsm_key_attrs(h, v->mk_label, a) : -ENODEV;
}

const char *volume_mk_label(const struct volume *v)
{
	return v->mk_label;
}

bool volume_check_pin(struct volume *v, const char *pin, size_t len)
{
	return hsm_pool_check_pin(v->hsm, pin, len);
}

int volume_check_keyrec(struct volume *v, const struct key_record *r)
{
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN);
	int err = dek ? keyrec_unseal(v->hsm, r, dek) : -ENOMEM;

	secmem_free(dek, COFFRE_KEY_LEN);
	return err;
}

static void generation_label(const struct volume *v, char out[GENOBJ_LABEL_MAX])
{
	genobj_label(v->conf.uuid, out);
}

uint64_t volume_generation_get(struct volume *v)
{
	char label[GENOBJ_LABEL_MAX];

	generation_label(v, label);
	return hsm_pool_counter_get(v->hsm, label);
}

int volume_generation_put(struct volume *v, uint64_t generation)
{
	char label[GENOBJ_LABEL_MAX];

	generation_label(v, label);
	if (generation <= hsm_pool_counter_get(v->hsm, label))
		return 0;
	return hsm_pool_counter_put(v->hsm, label, generation) ? 0 : -ENODEV;
}
