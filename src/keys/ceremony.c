/*
 * ceremony.c — the key ceremonies of DESIGN.md §3 that touch the master
 * key or the custodians' shares:
 *
 *   mk_ceremony        draw a master key from the primary HSM's RNG into
 *                      locked memory, import it into every HSM (sensitive,
 *                      non-extractable), escrow it to the recovery public
 *                      key, wipe it: the only moments an MK is outside an HSM
 *   shares_issue       split the recovery private key (Shamir, src/shamir)
 *   shares_recover     rebuild it from K custodians' share files
 *   volume_enroll      bring in a new or replacement HSM from K shares
 *   volume_rotate_master   new MK version everywhere, rewrap every DEK
 *                      record (resumable), destroy the old one everywhere
 *   volume_reissue_shares  new recovery key and shares, escrows redone
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "coffre/shamir.h"
#include "keys_private.h"

#define SHARE_FILE_MAX 8192

int mk_ceremony(struct hsm **h, unsigned n, const uint8_t uuid[COFFRE_ID_LEN],
		uint32_t version, const uint8_t *rk_pub, uint8_t kcv[COFFRE_KCV_LEN],
		struct escrow_blob *escrow, char *err, size_t errlen)
{
	uint8_t *mk = secmem_alloc(COFFRE_KEY_LEN), other[8];
	char label[COFFRE_MK_LABEL_MAX];
	unsigned i;
	int ret;

	if (!mk)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	mk_label(uuid, version, label);
	ret = hsm_random(h[0], mk, COFFRE_KEY_LEN);
	if (ret)
		keys_set_err(err, errlen, ret, "cannot draw the master key from token "
			     "%s: %s", hsm_label(h[0]), strerror(-ret));
	for (i = 0; !ret && i < n; i++) {
		ret = hsm_import_key(h[i], label, mk);
		if (!ret)
			ret = hsm_kcv(h[i], label, i ? other : kcv);
		if (!ret && i && CRYPTO_memcmp(other, kcv, sizeof(other)))
			ret = -EKEYREJECTED;
		if (ret)
			keys_set_err(err, errlen, ret, "cannot create the master key on "
				     "token %s: %s", hsm_label(h[i]), strerror(-ret));
	}
	if (!ret && rk_pub) {
		ret = escrow_seal(rk_pub, uuid, version, kcv, mk, escrow);
		if (ret)
			keys_set_err(err, errlen, ret, "cannot escrow the master key");
	}
	secmem_free(mk, COFFRE_KEY_LEN);
	if (ret)
		for (i = 0; i < n; i++)
			hsm_destroy_key(h[i], label);
	return ret;
}

int shares_issue(const char *dir, unsigned n, unsigned k, const uint8_t rk_priv[32],
		 char *err, size_t errlen)
{
	struct shamir_share *sh = secmem_alloc(n * sizeof(*sh));
	char *text = secmem_alloc(SHAMIR_SHARE_TEXT_MAX), path[4096];
	unsigned i, written = 0;
	int ret, fd, len;

	if (!sh || !text) {
		ret = keys_set_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = keys_set_err(err, errlen, -errno, "cannot create %s: %s", dir,
				   strerror(errno));
		goto out;
	}
	ret = shamir_split(rk_priv, 32, n, k, sh);
	if (ret) {
		keys_set_err(err, errlen, ret, "cannot split the recovery key (%u of %u)",
			     k, n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		len = shamir_share_write_text(&sh[i], text, SHAMIR_SHARE_TEXT_MAX);
		snprintf(path, sizeof(path), "%s/share-%u-of-%u.txt", dir, i + 1, n);
		fd = len < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
					 0400);
		if (fd < 0) {
			ret = keys_set_err(err, errlen, len < 0 ? len : -errno,
					   "cannot write %s: %s", path,
					   len < 0 ? "encoding" : strerror(errno));
			goto out;
		}
		written++;
		if (io_write_full(fd, text, (size_t)len) || fsync(fd)) {
			ret = keys_set_err(err, errlen, -EIO, "cannot write %s", path);
			close(fd);
			goto out;
		}
		close(fd);
	}
out:
	if (ret)   /* never leave a partial share set behind */
		for (i = 0; i < written; i++) {
			snprintf(path, sizeof(path), "%s/share-%u-of-%u.txt", dir, i + 1, n);
			unlink(path);
		}
	secmem_free(sh, n * sizeof(*sh));
	secmem_free(text, SHAMIR_SHARE_TEXT_MAX);
	return ret;
}

static int read_share(const char *file, struct shamir_share *s, char *err,
		      size_t errlen)
{
	char *buf = secmem_alloc(SHARE_FILE_MAX);
	ssize_t n;
	int fd, ret;

	if (!buf)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	n = fd < 0 ? -1 : io_read_full(fd, buf, SHARE_FILE_MAX);
	if (fd >= 0)
		close(fd);
	if (n < 0 || n == SHARE_FILE_MAX) {
		ret = keys_set_err(err, errlen, -EINVAL, "cannot read share %s%s", file,
				   n == SHARE_FILE_MAX ? ": too large" : "");
		goto out;
	}
	ret = shamir_share_parse_text(buf, (size_t)n, s);
	if (ret)
		keys_set_err(err, errlen, ret, "share %s is %s", file,
			     ret == -EBADMSG ? "corrupted (checksum)" : "not a coffre share");
out:
	secmem_free(buf, SHARE_FILE_MAX);
	return ret;
}

int shares_recover(const char *const *files, unsigned m, const uint8_t rk_pub[32],
		   uint8_t rk_priv[32], char *err, size_t errlen)
{
	struct shamir_share *sh = secmem_alloc((m ? m : 1) * sizeof(*sh));
	uint8_t pub[32];
	char why[256] = "";
	size_t len = 0;
	unsigned i;
	int ret = 0;

	if (!sh)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	if (m == 0) {
		ret = keys_set_err(err, errlen, -EINVAL, "give the custodians' shares "
				   "with --share FILE (one per custodian)");
		goto out;
	}
	for (i = 0; i < m && !ret; i++)
		ret = read_share(files[i], &sh[i], err, errlen);
	if (ret)
		goto out;
	ret = shamir_combine(sh, m, rk_priv, 32, &len, why, sizeof(why));
	if (ret || len != 32) {
		ret = keys_set_err(err, errlen, ret ? ret : -EINVAL, "shares rejected: %s",
				   why[0] ? why : "wrong secret length");
		goto out;
	}
	/* The rebuilt key must be this volume's recovery key. */
	ret = recovery_pub_of(rk_priv, pub);
	if (ret || CRYPTO_memcmp(pub, rk_pub, 32)) {
		ret = keys_set_err(err, errlen, -EKEYREJECTED, "the shares are not this "
				   "volume's (their recovery key does not match)");
		goto out;
	}
out:
	if (ret)
		secmem_wipe(rk_priv, 32);
	for (i = 0; i < m; i++)
		shamir_share_wipe(&sh[i]);
	secmem_free(sh, (m ? m : 1) * sizeof(*sh));
	return ret;
}

/* From K custodians' shares, the recovery key rk and then, from the
 * escrow, the master key mk of the volume's current version. */
static int enroll_open_escrow(struct volume *v, const char *const *share_files,
			      unsigned m, uint8_t *rk, uint8_t *mk, char *err,
			      size_t errlen)
{
	struct escrow_blob e;
	int ret;

	if (!v->conf.has_recovery)
		return keys_set_err(err, errlen, -EOPNOTSUPP, "this volume has no recovery key "
				    "(made without --shares-dir): an HSM can only be cloned "
				    "from the custodians' shares");
	ret = shares_recover(share_files, m, v->conf.recovery_pub, rk, err, errlen);
	if (ret)
		return ret;
	ret = escrow_load(v->root_fd, v->conf.mk_version, &e);
	if (!ret)
		ret = escrow_open(rk, &e, mk);
	if (ret || memcmp(e.fs_uuid, v->conf.uuid, COFFRE_ID_LEN) ||
	    CRYPTO_memcmp(e.kcv, v->conf.kcv, sizeof(e.kcv)))
		return keys_set_err(err, errlen, -EIO, "the escrow of master key v%u is "
				    "missing or does not open", v->conf.mk_version);
	return 0;
}

/* Import mk into the token h (or find it there) and check its KCV;
 * *imported says whether this call created it. */
static int enroll_import(struct volume *v, struct hsm *h, const uint8_t *mk,
			 bool *imported, char *err, size_t errlen)
{
	uint8_t kcv[COFFRE_KCV_LEN];
	int ret;

	mk_label(v->conf.uuid, v->conf.mk_version, v->mk_label);
	ret = hsm_import_key(h, v->mk_label, mk);
	*imported = ret == 0;
	if (ret == -EEXIST)
		ret = 0;   /* already there: the check value decides */
	if (!ret)
		ret = hsm_kcv(h, v->mk_label, kcv);
	if (ret || CRYPTO_memcmp(kcv, v->conf.kcv, sizeof(kcv)))
		return keys_set_err(err, errlen, ret ? ret : -EKEYREJECTED, "token %s: the "
				    "master key does not check out", hsm_label(h));
	return 0;
}

/* Authenticate the config (text) with the new HSM alone; the root DEK
 * is left in root_dek. */
static int enroll_check_conf(struct volume *v, const char *uri, const char *pin,
			     size_t pin_len, const char *text, uint8_t *root_dek,
			     char *err, size_t errlen)
{
	bool degraded;
	int ret;

	ret = hsm_pool_open(&uri, 1, pin, pin_len, v->mk_label, v->conf.kcv,
			    &v->hsm, &degraded, err, errlen);
	if (ret)
		return ret;
	v->keys_fd = io_open_dir(v->root_fd, COFFRE_KEYS_DIR);
	v->keys = v->keys_fd < 0 ? NULL :
		keyring_new(v->hsm, v->keys_fd, v->conf.uuid, v->conf.mk_version, 0);
	ret = v->keys ? keyring_dek(v->keys, v->conf.root_id, 1, root_dek) : -EIO;
	if (!ret)
		ret = conf_verify(&v->conf, text, root_dek);
	if (ret)
		return keys_set_err(err, errlen, -EKEYREJECTED, "%s does not authenticate",
				    COFFRE_CONF_FILE);
	return 0;
}

/* List uri in the config, unless it is there already. */
static int enroll_add_uri(struct volume *v, const char *uri,
			  const uint8_t *root_dek, char *err, size_t errlen)
{
	unsigned i;
	int ret;

	for (i = 0; i < v->conf.n_hsms; i++)
		if (!strcmp(v->conf.hsm[i], uri))
			return 0;
	if (v->conf.n_hsms == COFFRE_MAX_HSMS)
		return keys_set_err(err, errlen, -ENOSPC, "the volume already lists "
				    "%d HSMs", COFFRE_MAX_HSMS);
	snprintf(v->conf.hsm[v->conf.n_hsms++], COFFRE_URI_MAX, "%s", uri);
	ret = conf_store(v->root_fd, &v->conf, root_dek);
	if (ret)
		keys_set_err(err, errlen, ret, "cannot update %s", COFFRE_CONF_FILE);
	return ret;
}

int volume_enroll(const char *backing, const char *uri, const char *pin,
		  size_t pin_len, const char *const *share_files, unsigned m,
		  char *err, size_t errlen)
{
	struct volume *v = calloc(1, sizeof(*v));
	uint8_t *rk = secmem_alloc(32), *mk = secmem_alloc(COFFRE_KEY_LEN);
	uint8_t *root_dek = secmem_alloc(COFFRE_KEY_LEN);
	struct hsm *h = NULL;
	bool imported = false;
	char *text = NULL;
	int ret;

	if (!v || !rk || !mk || !root_dek) {
		ret = keys_set_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(uri) >= COFFRE_URI_MAX) {
		ret = keys_set_err(err, errlen, -EINVAL, "HSM URI too long");
		goto out;
	}
	ret = volume_open_conf(backing, v, &text, err, errlen);
	if (!ret)
		ret = enroll_open_escrow(v, share_files, m, rk, mk, err, errlen);
	if (!ret)
		ret = hsm_open(uri, pin, pin_len, &h, err, errlen);
	if (!ret)
		ret = enroll_import(v, h, mk, &imported, err, errlen);
	if (ret)
		goto out;
	secmem_wipe(mk, COFFRE_KEY_LEN);
	secmem_wipe(rk, 32);

	/* Authenticate the config with the new HSM alone, then add it.  Until
	 * then the imported key is not trusted: a forged config and escrow
	 * (the recovery key is public) must not leave a key behind. */
	ret = enroll_check_conf(v, uri, pin, pin_len, text, root_dek, err, errlen);
	if (!ret)
		ret = enroll_add_uri(v, uri, root_dek, err, errlen);
out:
	if (ret && imported && h)
		hsm_destroy_key(h, v->mk_label);
	hsm_close(h);
	secmem_free(rk, 32);
	secmem_free(mk, COFFRE_KEY_LEN);
	secmem_free(root_dek, COFFRE_KEY_LEN);
	free(text);
	volume_close(v);
	return ret;
}

/* Every member of the pool, which must all be up for a ceremony. */
static int all_members(struct volume *v, struct hsm **h, unsigned *n, char *err,
		       size_t errlen)
{
	struct hsm_member_status st[COFFRE_MAX_HSMS];
	unsigned i;

	*n = hsm_pool_size(v->hsm);
	for (i = 0; i < *n; i++) {
		h[i] = hsm_pool_member(v->hsm, i);
		if (!h[i]) {
			unsigned m = hsm_pool_status(v->hsm, st, COFFRE_MAX_HSMS);

			return keys_set_err(err, errlen, -ENODEV, "HSM %s is down: this "
					    "ceremony needs every HSM of the volume",
					    i < m ? st[i].uri : "?");
		}
	}
	return 0;
}

/* Rewrap every DEK record still sealed under another MK version. */
static int rewrap_all(struct volume *v, uint32_t version,
		      void (*progress)(size_t, size_t, void *), void *ctx,
		      char *err, size_t errlen)
{
	uint8_t *dek = secmem_alloc(COFFRE_KEY_LEN), id[COFFRE_ID_LEN];
	struct key_record rec, fresh;
	size_t total = 0, done = 0;
	struct dirent *de;
	uint32_t ver;
	int fd, ret = dek ? 0 : -ENOMEM;
	DIR *d;

	for (int pass = 0; pass < 2 && !ret; pass++) {
		fd = openat(v->keys_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		d = fd < 0 ? NULL : fdopendir(fd);
		if (!d) {
			if (fd >= 0)
				close(fd);
			secmem_free(dek, COFFRE_KEY_LEN);
			return keys_set_err(err, errlen, -EIO, "cannot list %s", COFFRE_KEYS_DIR);
		}
		while (!ret && (de = readdir(d))) {
			if (keyrec_name_parse(de->d_name, id, &ver))
				continue;
			if (pass == 0) {
				total++;
				continue;
			}
			ret = keystore_read(v->keys_fd, v->conf.uuid, id, (uint32_t)ver, &rec);
			if (!ret && rec.mk_version != version) {
				ret = keyrec_unseal(v->hsm, &rec, dek);
				if (!ret)
					ret = keyrec_seal(v->hsm, v->conf.uuid, version, id,
							  (uint32_t)ver, dek, &fresh);
				if (!ret)
					ret = keystore_write(v->keys_fd, &fresh);
			}
			if (ret)
				keys_set_err(err, errlen, ret, "cannot rewrap %s/%s: %s",
					     COFFRE_KEYS_DIR, de->d_name, strerror(-ret));
			if (progress)
				progress(++done, total, ctx);
		}
		closedir(d);
	}
	if (!dek)
		keys_set_err(err, errlen, ret, "out of locked memory");
	secmem_free(dek, COFFRE_KEY_LEN);
	return ret;
}

int volume_rotate_master(struct volume *v, const struct rotate_opts *o,
			 char *err, size_t errlen)
{
	struct hsm *h[COFFRE_MAX_HSMS];
	uint8_t *rk = NULL, *root_dek = secmem_alloc(COFFRE_KEY_LEN), kcv[COFFRE_KCV_LEN];
	struct volume_conf conf = v->conf;
	struct escrow_blob e;
	char label[COFFRE_MK_LABEL_MAX], old_label[COFFRE_MK_LABEL_MAX];
	uint32_t old = v->conf.mk_version, next = old + 1;
	unsigned i, n, have = 0;
	int ret;

	err[0] = '\0';
	if (!root_dek)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	ret = all_members(v, h, &n, err, errlen);
	if (ret)
		goto out;
	if (o->shares_dir) {
		rk = secmem_alloc(32);
		ret = rk ? recovery_keypair(rk, conf.recovery_pub) : -ENOMEM;
		if (ret)
			goto out;
		conf.has_recovery = true;
		conf.shares_k = (uint8_t)o->shares_k;
		conf.shares_n = (uint8_t)o->shares_n;
		/* The new shares exist before anything depends on the new key:
		 * if they cannot be written, nothing has changed yet. */
		ret = shares_issue(o->shares_dir, o->shares_n, o->shares_k, rk, err,
				   errlen);
		if (ret)
			goto out;
	}
	mk_label(conf.uuid, old, old_label);
	mk_label(conf.uuid, next, label);

	/* Resume: the new key is in every HSM (and escrowed, if there is a
	 * recovery key) only if an earlier run got past the ceremony. */
	for (i = 0; i < n; i++)
		have += hsm_find_key(h[i], label) == 0;
	if (have == n && !o->shares_dir &&
	    (!conf.has_recovery || escrow_load(v->root_fd, next, &e) == 0)) {
		ret = hsm_kcv(h[0], label, kcv);
		log_msg(LOG_NOTICE, "resuming the rotation to master key v%u", next);
	} else {
		for (i = 0; i < n; i++)
			hsm_destroy_key(h[i], label);
		ret = mk_ceremony(h, n, conf.uuid, next,
				  conf.has_recovery ? conf.recovery_pub : NULL, kcv, &e,
				  err, errlen);
		if (!ret && conf.has_recovery)
			ret = escrow_store(v->root_fd, &e);
	}
	if (ret) {
		if (!err[0])
			keys_set_err(err, errlen, ret, "master key ceremony failed: %s",
				     strerror(-ret));
		goto out;
	}
	/* From here on new directories are sealed under the new key. */
	keyring_set_mk_version(v->keys, next);
	ret = rewrap_all(v, next, o->progress, o->progress_ctx, err, errlen);
	if (ret)
		goto out;
	ret = keyring_dek(v->keys, conf.root_id, 1, root_dek);
	conf.mk_version = next;
	memcpy(conf.kcv, kcv, sizeof(kcv));
	if (!ret)
		ret = conf_store(v->root_fd, &conf, root_dek);
	if (ret) {
		if (!err[0])
			keys_set_err(err, errlen, ret, "cannot update %s", COFFRE_CONF_FILE);
		goto out;
	}
	v->conf = conf;
	snprintf(v->mk_label, sizeof(v->mk_label), "%s", label);
	hsm_pool_set_master(v->hsm, label, kcv);
	/* The old key dies everywhere, with its escrow. */
	for (i = 0; i < n; i++) {
		int r = hsm_destroy_key(h[i], old_label);

		if (r && r != -ENOENT)
			log_msg(LOG_WARNING, "cannot destroy %s on token %s: %s",
				old_label, hsm_label(h[i]), strerror(-r));
	}
	escrow_remove(v->root_fd, old);
out:
	secmem_free(rk, 32);
	secmem_free(root_dek, COFFRE_KEY_LEN);
	return ret;
}

int volume_reissue_shares(struct volume *v, const char *const *share_files,
			  unsigned m, const char *dir, unsigned n, unsigned k,
			  char *err, size_t errlen)
{
	uint8_t *old = secmem_alloc(32), *fresh = secmem_alloc(32);
	uint8_t *mk = secmem_alloc(COFFRE_KEY_LEN), *root_dek = secmem_alloc(32);
	struct volume_conf conf = v->conf;
	struct escrow_blob e, ne;
	int ret;

	err[0] = '\0';
	if (!old || !fresh || !mk || !root_dek) {
		ret = keys_set_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (!conf.has_recovery) {
		ret = keys_set_err(err, errlen, -EOPNOTSUPP, "this volume has no recovery key; "
				   "add one with `coffrectl key rotate-master --shares-dir`");
		goto out;
	}
	ret = shares_recover(share_files, m, conf.recovery_pub, old, err, errlen);
	if (ret)
		goto out;
	ret = recovery_keypair(fresh, conf.recovery_pub);
	/* The current master key's escrow, opened and sealed to the new key. */
	if (!ret)
		ret = escrow_load(v->root_fd, conf.mk_version, &e);
	if (!ret)
		ret = escrow_open(old, &e, mk);
	if (!ret)
		ret = escrow_seal(conf.recovery_pub, conf.uuid, conf.mk_version, e.kcv,
				  mk, &ne);
	secmem_wipe(mk, COFFRE_KEY_LEN);
	if (ret) {
		keys_set_err(err, errlen, ret, "cannot redo the escrow of master key v%u",
			     conf.mk_version);
		goto out;
	}
	conf.shares_k = (uint8_t)k;
	conf.shares_n = (uint8_t)n;
	/* New shares first: until the config names the new key, the old shares
	 * and escrow stay valid. */
	ret = shares_issue(dir, n, k, fresh, err, errlen);
	if (ret)
		goto out;
	ret = keyring_dek(v->keys, conf.root_id, 1, root_dek);
	if (!ret)
		ret = escrow_store(v->root_fd, &ne);
	if (!ret)
		ret = conf_store(v->root_fd, &conf, root_dek);
	if (ret) {
		keys_set_err(err, errlen, ret, "cannot store the new escrow: %s",
			     strerror(-ret));
		goto out;
	}
	v->conf = conf;
out:
	secmem_free(old, 32);
	secmem_free(fresh, 32);
	secmem_free(mk, COFFRE_KEY_LEN);
	secmem_free(root_dek, 32);
	return ret;
}
