/*
 * conf.c — the volume config file and the volume lock: reading and
 * checking .coffre.conf (ownership, mode, syntax), authenticating it with
 * HMAC-SHA256 under HKDF-SHA256(root DEK, "coffre/v1/config") (RFC 2104,
 * RFC 5869), writing it back atomically with a fresh MAC, and the
 * exclusive lock a mounted volume holds.
 */
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

#include "coffre/io.h"
#include "keys_private.h"

int keys_set_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* HMAC-SHA256 of the config text under HKDF-SHA256(root DEK, KDF_INFO_CONFIG). */
static int conf_mac(const uint8_t root_dek[COFFRE_KEY_LEN], const char *body,
		    size_t len, uint8_t mac[COFFRE_MAC_LEN])
{
	uint8_t *key = secmem_alloc(COFFRE_KEY_LEN);
	int err = key ? keys_kdf(KDF_CONFIG, root_dek, COFFRE_KEY_LEN, NULL, 0,
				 NULL, 0, key, COFFRE_KEY_LEN) : -ENOMEM;

	if (!err)
		err = hmac_sha256(key, COFFRE_KEY_LEN, (const uint8_t *)body, len, mac);
	secmem_free(key, COFFRE_KEY_LEN);
	return err;
}

/* Read and parse the config; it must be a regular file owned by root (or
 * us) and writable by nobody else: it names the HSM modules we load. */
int conf_read(int root, struct volume_conf *conf, char **text_out,
		     char *err, size_t errlen)
{
	struct stat st;
	char *text = malloc(COFFRE_CONF_MAX + 1);
	ssize_t n;
	int fd, ret;

	if (!text)
		return keys_set_err(err, errlen, -ENOMEM, "out of memory");
	fd = io_open_untrusted(root, COFFRE_CONF_FILE, O_RDONLY, S_IFREG);
	if (fd < 0 && fd != -EINVAL) {
		ret = keys_set_err(err, errlen, fd, "no volume here (%s: %s); run "
			   "`coffrectl init` first", COFFRE_CONF_FILE, strerror(-fd));
		goto out;
	}
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
		if (fd >= 0)
			close(fd);
		ret = keys_set_err(err, errlen, -EPERM, "%s must be a regular file owned by "
			   "root and writable by no one else", COFFRE_CONF_FILE);
		goto out;
	}
	n = io_read_full(fd, text, COFFRE_CONF_MAX + 1);
	close(fd);
	if (n < 0 || n > COFFRE_CONF_MAX) {
		ret = keys_set_err(err, errlen, -EINVAL, "%s is unreadable or too large",
			   COFFRE_CONF_FILE);
		goto out;
	}
	ret = volume_conf_parse(text, (size_t)n, conf);
	if (ret) {
		keys_set_err(err, errlen, -EINVAL, "%s is malformed", COFFRE_CONF_FILE);
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
int volume_lock(int fd)
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

int conf_store(int root_fd, const struct volume_conf *conf,
	       const uint8_t root_dek[COFFRE_KEY_LEN])
{
	char *text = calloc(1, COFFRE_CONF_MAX);
	uint8_t mac[32];
	int len, err;

	if (!text)
		return -ENOMEM;
	len = volume_conf_write_body(conf, text, COFFRE_CONF_MAX);
	err = len < 0 ? len : conf_mac(root_dek, text, (size_t)len, mac);
	if (!err)
		len = volume_conf_write_mac(mac, text, (size_t)len, COFFRE_CONF_MAX);
	if (!err)
		err = len < 0 ? len :
		      io_replace(root_fd, COFFRE_CONF_FILE, text, (size_t)len, 0600);
	free(text);
	return err;
}

int conf_verify(const struct volume_conf *conf, const char *text,
		const uint8_t root_dek[COFFRE_KEY_LEN])
{
	uint8_t mac[32];
	int err = conf_mac(root_dek, text, conf->body_len, mac);

	if (!err && CRYPTO_memcmp(mac, conf->mac, sizeof(mac)))
		err = -EKEYREJECTED;
	return err;
}
