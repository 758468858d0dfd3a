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
#include "coffre/keys.h"

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static int config_mac(const uint8_t root_dek[COFFRE_KEY_LEN], const char *body,
		      size_t len, uint8_t mac[32])
{
	uint8_t key[32];
	int err;

	err = hkdf_sha256(root_dek, COFFRE_KEY_LEN, NULL, 0,
			  (const uint8_t *)KDF_INFO_CONFIG, strlen(KDF_INFO_CONFIG),
			  key, sizeof(key));
	if (!err)
		err = hmac_sha256(key, sizeof(key), (const uint8_t *)body, len, mac);
	secmem_wipe(key, sizeof(key));
	return err;
}

/* Write a small file atomically (temp, fsync, rename, fsync dir). */
static int write_atomic(int dirfd, const char *name, const void *buf, size_t len,
			mode_t mode)
{
	char tmp[256];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), ".coffre.tmp.%s", name[0] == '.' ? name + 1 : name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && renameat(dirfd, tmp, dirfd, name))
		err = -errno;
	if (err) {
		unlinkat(dirfd, tmp, 0);
		return err;
	}
	return fsync(dirfd) ? -errno : 0;
}

/* The backing root must be empty (a fresh volume never hides old data). */
static int check_empty(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int err = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "lost+found"))
			err = -ENOTEMPTY;
	closedir(d);
	return err;
}

/* Open every HSM named for a new volume: all must answer at init. */
static int open_all(const struct volume_init_opts *o, struct hsm **h,
		    char *err, size_t errlen)
{
	unsigned i;
	int ret;

	for (i = 0; i < o->n_hsms; i++) {
		if (strlen(o->hsm_uris[i]) >= COFFRE_URI_MAX)
			return fail(err, errlen, -EINVAL, "HSM URI too long");
		ret = hsm_open(o->hsm_uris[i], o->pin, o->pin_len, &h[i], err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* The ceremony: a master key drawn from the primary's RNG into locked
 * memory, imported into every HSM, wiped; every check value must agree. */
static int master_key_ceremony(struct hsm **h, unsigned n, const char *label,
			       uint8_t kcv[8], char *err, size_t errlen)
{
	uint8_t *mk = secmem_alloc(COFFRE_KEY_LEN), other[8];
	unsigned i;
	int ret;

	if (!mk)
		return fail(err, errlen, -ENOMEM, "out of memory");
	ret = hsm_random(h[0], mk, COFFRE_KEY_LEN);
	for (i = 0; !ret && i < n; i++) {
		ret = hsm_import_key(h[i], label, mk);
		if (!ret)
			ret = hsm_kcv(h[i], label, i ? other : kcv);
		if (!ret && i && CRYPTO_memcmp(other, kcv, sizeof(other)))
			ret = -EKEYREJECTED;
		if (ret)
			fail(err, errlen, ret, "cannot create the master key on token "
			     "%s: %s", hsm_label(h[i]), strerror(-ret));
	}
	if (ret && ret != -ENOMEM && !err[0])
		fail(err, errlen, ret, "cannot draw the master key: %s", strerror(-ret));
	secmem_free(mk, COFFRE_KEY_LEN);
	if (ret) {
		/* Leave no half-made volume key behind. */
		for (i = 0; i < n; i++)
			hsm_destroy_key(h[i], label);
	}
	return ret;
}

int volume_init(const char *backing, const struct volume_init_opts *o,
		char *err, size_t errlen)
{
	struct volume_conf *conf = NULL;
	struct hsm *h[COFFRE_MAX_HSMS] = { NULL };
	struct hsm_pool *pool = NULL;
	struct key_record rec;
	uint8_t *root_dek = NULL;
	uint8_t dirfile[COFFRE_DIR_FILE_LEN];
	char label[COFFRE_MK_LABEL_MAX], *text = NULL;
	int root = -1, keys = -1, ret, len;
	bool made_key = false, degraded;
	unsigned i;

	err[0] = '\0';
	if (o->n_hsms == 0 || o->n_hsms > COFFRE_MAX_HSMS)
		return fail(err, errlen, -EINVAL, "give 1 to %d HSMs", COFFRE_MAX_HSMS);
	if (o->seg_size && !seg_size_valid(o->seg_size))
		return fail(err, errlen, -EINVAL,
			    "segment size must be a power of two from 4096 to 65536");
	if (mkdir(backing, 0755) && errno != EEXIST)
		return fail(err, errlen, -errno, "cannot create %s: %s", backing,
			    strerror(errno));
	root = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return fail(err, errlen, -errno, "cannot open %s: %s", backing,
			    strerror(errno));
	ret = check_empty(root);
	if (ret) {
		fail(err, errlen, ret, "%s is not empty: a volume is made in an "
		     "empty directory", backing);
		goto out;
	}
	ret = open_all(o, h, err, errlen);
	if (ret)
		goto out;

	conf = calloc(1, sizeof(*conf));
	text = calloc(1, COFFRE_CONF_MAX);
	root_dek = secmem_alloc(COFFRE_KEY_LEN);
	if (!conf || !text || !root_dek) {
		ret = fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	conf->format = COFFRE_FORMAT_VERSION;
	conf->seg_size = o->seg_size ? o->seg_size : COFFRE_SEG_DEFAULT;
	conf->strict_holes = o->strict_holes;
	conf->mk_version = 1;
	conf->n_hsms = o->n_hsms;
	for (i = 0; i < o->n_hsms; i++)
		snprintf(conf->hsm[i], COFFRE_URI_MAX, "%s", o->hsm_uris[i]);
	ret = random_bytes(conf->uuid, COFFRE_ID_LEN);
	if (!ret)
		ret = random_bytes(conf->root_id, COFFRE_ID_LEN);
	if (ret) {
		fail(err, errlen, ret, "no randomness: %s", strerror(-ret));
		goto out;
	}
	mk_label(conf->uuid, conf->mk_version, label);
	ret = master_key_ceremony(h, o->n_hsms, label, conf->kcv, err, errlen);
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

	if (mkdirat(root, COFFRE_STATE_DIR, 0700) ||
	    mkdirat(root, COFFRE_KEYS_DIR, 0700)) {
		ret = fail(err, errlen, -errno, "cannot create %s/%s: %s", backing,
			   COFFRE_KEYS_DIR, strerror(errno));
		goto out;
	}
	keys = openat(root, COFFRE_KEYS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = keys < 0 ? -errno : random_bytes(root_dek, COFFRE_KEY_LEN);
	if (!ret)
		ret = keyrec_seal(pool, conf->uuid, conf->mk_version, conf->root_id, 1,
				  root_dek, &rec);
	if (!ret)
		ret = keystore_write(keys, &rec);
	if (ret) {
		fail(err, errlen, ret, "cannot write the root key record: %s",
		     strerror(-ret));
		goto out;
	}
	dir_file_write(conf->root_id, dirfile);
	ret = write_atomic(root, COFFRE_DIR_FILE, dirfile, sizeof(dirfile), 0600);
	if (ret) {
		fail(err, errlen, ret, "cannot write %s: %s", COFFRE_DIR_FILE,
		     strerror(-ret));
		goto out;
	}

	len = volume_conf_write_body(conf, text, COFFRE_CONF_MAX);
	ret = len < 0 ? len : config_mac(root_dek, text, (size_t)len, conf->mac);
	if (!ret)
		len = volume_conf_write_mac(conf->mac, text, (size_t)len, COFFRE_CONF_MAX);
	ret = ret ? ret : len < 0 ? len :
		write_atomic(root, COFFRE_CONF_FILE, text, (size_t)len, 0600);
	if (ret)
		fail(err, errlen, ret, "cannot write %s: %s", COFFRE_CONF_FILE,
		     strerror(-ret));
out:
	if (ret && made_key) {
		/* Nothing usable was made: take the key out of the HSMs again. */
		for (i = 0; i < o->n_hsms; i++) {
			struct hsm *x = h[i] ? h[i] :
				pool ? hsm_pool_member(pool, i) : NULL;

			if (x)
				hsm_destroy_key(x, label);
		}
	}
	secmem_free(root_dek, COFFRE_KEY_LEN);
	free(conf);
	free(text);
	if (keys >= 0)
		close(keys);
	if (root >= 0)
		close(root);
	for (i = 0; i < COFFRE_MAX_HSMS; i++)
		hsm_close(h[i]);
	hsm_pool_close(pool);
	return ret;
}

/* Read and parse the config; it must be a regular file owned by root (or
 * us) and writable by nobody else: it names the HSM modules we load. */
static int read_conf(int root, struct volume_conf *conf, char **text_out,
		     char *err, size_t errlen)
{
	struct stat st;
	char *text = malloc(COFFRE_CONF_MAX + 1);
	ssize_t n;
	int fd, ret;

	if (!text)
		return fail(err, errlen, -ENOMEM, "out of memory");
	fd = openat(root, COFFRE_CONF_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = fail(err, errlen, -errno, "no volume here (%s: %s); run "
			   "`coffrectl init` first", COFFRE_CONF_FILE, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
		close(fd);
		ret = fail(err, errlen, -EPERM, "%s must be a regular file owned by "
			   "root and writable by no one else", COFFRE_CONF_FILE);
		goto out;
	}
	n = read(fd, text, COFFRE_CONF_MAX + 1);
	close(fd);
	if (n < 0 || n > COFFRE_CONF_MAX) {
		ret = fail(err, errlen, -EINVAL, "%s is unreadable or too large",
			   COFFRE_CONF_FILE);
		goto out;
	}
	ret = volume_conf_parse(text, (size_t)n, conf);
	if (ret) {
		fail(err, errlen, -EINVAL, "%s is malformed", COFFRE_CONF_FILE);
		ret = -EINVAL;
		goto out;
	}
	*text_out = text;
	return 0;
out:
	free(text);
	return ret;
}

/* The volume lock.  A daemon that was just unmounted may still be exiting
 * (umount returns before it does), so wait a little before calling the
 * volume busy. */
static int lock_volume(int fd)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		usleep(50 * 1000);
	}
	return -EBUSY;
}

int volume_open(const char *backing, const char *pin, size_t pin_len,
		struct volume **out, char *err, size_t errlen)
{
	struct volume *v = calloc(1, sizeof(*v));
	uint8_t *root_dek = NULL, mac[32], dirbuf[COFFRE_DIR_FILE_LEN + 1];
	uint8_t dir_id[COFFRE_ID_LEN];
	const char *uris[COFFRE_MAX_HSMS];
	char *text = NULL;
	unsigned i;
	ssize_t n;
	int ret, fd;

	if (!v)
		return fail(err, errlen, -ENOMEM, "out of memory");
	v->keys_fd = v->lock_fd = -1;
	v->root_fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->root_fd < 0) {
		ret = fail(err, errlen, -errno, "cannot open %s: %s", backing,
			   strerror(errno));
		goto out;
	}
	v->lock_fd = openat(v->root_fd, COFFRE_LOCK_FILE,
			    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (v->lock_fd < 0) {
		ret = fail(err, errlen, -errno, "no volume at %s (%s: %s)", backing,
			   COFFRE_LOCK_FILE, strerror(errno));
		goto out;
	}
	if (lock_volume(v->lock_fd)) {
		ret = fail(err, errlen, -EBUSY, "%s is already mounted (volume lock "
			   "held)", backing);
		goto out;
	}
	ret = read_conf(v->root_fd, &v->conf, &text, err, errlen);
	if (ret)
		goto out;

	mk_label(v->conf.uuid, v->conf.mk_version, v->mk_label);
	for (i = 0; i < v->conf.n_hsms; i++)
		uris[i] = v->conf.hsm[i];
	ret = hsm_pool_open(uris, v->conf.n_hsms, pin, pin_len, v->mk_label,
			    v->conf.kcv, &v->hsm, &v->degraded, err, errlen);
	if (ret)
		goto out;
	v->keys_fd = openat(v->root_fd, COFFRE_KEYS_DIR,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	v->keys = v->keys_fd < 0 ? NULL :
		keyring_new(v->hsm, v->keys_fd, v->conf.uuid, v->conf.mk_version, 0);
	root_dek = secmem_alloc(COFFRE_KEY_LEN);
	if (!v->keys || !root_dek) {
		ret = fail(err, errlen, -EIO, "cannot open %s", COFFRE_KEYS_DIR);
		goto out;
	}
	ret = keyring_dek(v->keys, v->conf.root_id, 1, root_dek);
	if (!ret)
		ret = config_mac(root_dek, text, v->conf.body_len, mac);
	if (ret || CRYPTO_memcmp(mac, v->conf.mac, sizeof(mac))) {
		ret = fail(err, errlen, -EKEYREJECTED, "%s does not authenticate "
			   "(tampered config or root key record)", COFFRE_CONF_FILE);
		goto out;
	}
	fd = openat(v->root_fd, COFFRE_DIR_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, dirbuf, sizeof(dirbuf));
	if (fd >= 0)
		close(fd);
	if (n < 0 || dir_file_parse(dirbuf, (size_t)n, dir_id) ||
	    memcmp(dir_id, v->conf.root_id, COFFRE_ID_LEN)) {
		ret = fail(err, errlen, -EIO, "root %s is missing or does not match "
			   "the config", COFFRE_DIR_FILE);
		goto out;
	}
	*out = v;
	v = NULL;
	ret = 0;
out:
	secmem_free(root_dek, COFFRE_KEY_LEN);
	free(text);
	volume_close(v);
	return ret;
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

unsigned volume_hsm_status(struct volume *v, struct hsm_member_status *out,
			   unsigned max)
{
	return hsm_pool_status(v->hsm, out, max);
}
