/*
 * mountconf.c — the mount configuration `/etc/coffre/NAME.conf`
 * (doc/FORMAT.md §10.2): which backing directory, which volume (uuid),
 * which HSMs in priority order (PKCS#11 URIs, RFC 7512, module-path
 * allowed: this file, root's, is the only place a module is named), and
 * optionally the PIN file, the bucket and the mount point (what the
 * systemd unit coffre@NAME.service and `coffre -o conf=NAME` mount on).  The line syntax is that of
 * `.coffre.conf` (conftext.c), without a MAC: the file is trusted because
 * of who owns it, which its reader checks (src/io, trusted.c).  No I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/format.h"
#include "conftext.h"

#define MOUNT_COMMENT "# coffre mount configuration \xe2\x80\x94 root's, " \
	"local, never part of the volume"

enum mkey { M_BACKING, M_UUID, M_HSM, M_PIN_FILE, M_BUCKET, M_MOUNTPOINT, M_COUNT };
static const char *const mkey_names[M_COUNT] = {
	[M_BACKING] = "backing", [M_UUID] = "uuid", [M_HSM] = "hsm",
	[M_PIN_FILE] = "pin_file", [M_BUCKET] = "bucket",
	[M_MOUNTPOINT] = "mountpoint",
};
#define REQUIRED_KEYS ((1u << M_BACKING) | (1u << M_UUID) | (1u << M_HSM))
/* The longest valid line: "mountpoint = " and a path. */
#define MOUNT_LINE_MAX (10 + CONF_SEP_LEN + COFFRE_MOUNT_PATH_MAX - 1)

bool mount_conf_name_valid(const char *name)
{
	size_t n = strnlen(name, COFFRE_MOUNT_NAME_MAX + 1);

	if (n == 0 || n > COFFRE_MOUNT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

int mount_conf_file_name(const char *name, char out[COFFRE_MOUNT_FILE_MAX])
{
	if (!mount_conf_name_valid(name))
		return -EINVAL;
	snprintf(out, COFFRE_MOUNT_FILE_MAX, "%s%s", name, COFFRE_MOUNT_CONF_SUFFIX);
	return 0;
}

bool mount_conf_path_valid(const char *p, size_t len)
{
	size_t i = 1;

	if (len < 2 || len >= COFFRE_MOUNT_PATH_MAX || p[0] != '/' ||
	    p[len - 1] == '/' || p[len - 1] == ' ')
		return false;
	for (i = 0; i < len; i++)
		if ((uint8_t)p[i] < 0x20 || p[i] == 0x7f)
			return false;           /* no NUL, '\n', control */
	i = 1;
	/* Each component after a '/': not empty, not "." nor "..". */
	while (i <= len) {
		const char *c = p + i;
		const char *slash = memchr(c, '/', len - i);
		size_t n = slash ? (size_t)(slash - c) : len - i;

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		i += n + 1;
	}
	return true;
}

static int put_path(char *dst, const char *v, size_t len)
{
	if (!mount_conf_path_valid(v, len))
		return -EINVAL;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

static int parse_entry(enum mkey key, const char *v, size_t len,
		       struct mount_conf *mc)
{
	switch (key) {
	case M_BACKING:
		return put_path(mc->backing, v, len);
	case M_UUID:
		return hex_decode(v, len, mc->uuid, sizeof(mc->uuid));
	case M_HSM:
		if (mc->n_hsms >= COFFRE_MAX_HSMS ||
		    !conf_uri_valid(v, len, COFFRE_URI_MAX))
			return -EINVAL;
		memcpy(mc->hsm[mc->n_hsms], v, len);
		mc->hsm[mc->n_hsms][len] = '\0';
		mc->n_hsms++;
		return 0;
	case M_PIN_FILE:
		return put_path(mc->pin_file, v, len);
	case M_BUCKET:
		return put_path(mc->bucket, v, len);
	case M_MOUNTPOINT:
		return put_path(mc->mountpoint, v, len);
	case M_COUNT:
		break;
	}
	return -EINVAL;
}

int mount_conf_parse(const char *text, size_t len, struct mount_conf *mc)
{
	struct conf_line l;
	unsigned seen = 0;
	size_t pos = 0;
	int err = -EINVAL, r;

	memset(mc, 0, sizeof(*mc));
	if (!text || len == 0 || len > COFFRE_MOUNT_CONF_MAX ||
	    !conf_text_valid((const uint8_t *)text, len))
		goto out;
	while ((r = conf_next_line(text, len, &pos, MOUNT_LINE_MAX, &l)) == 1) {
		int key;

		for (key = 0; key < M_COUNT; key++)
			if (conf_key_is(l.key, l.key_len, mkey_names[key]))
				break;
		if (key == M_COUNT)
			goto out;               /* unknown */
		if (key != M_HSM && (seen & (1u << key)))
			goto out;               /* duplicate */
		if (l.val_len == 0 || l.val[l.val_len - 1] == ' ')
			goto out;               /* FORMAT-v1.md §6: no trailing space */
		seen |= 1u << key;
		if (parse_entry((enum mkey)key, l.val, l.val_len, mc))
			goto out;
	}
	if (r == 0 && (seen & REQUIRED_KEYS) == REQUIRED_KEYS)
		err = 0;
out:
	if (err)
		memset(mc, 0, sizeof(*mc));
	return err;
}

static void put_line(struct wcur *w, const char *key, const char *value)
{
	wcur_bytes(w, key, strlen(key));
	wcur_bytes(w, CONF_SEP, CONF_SEP_LEN);
	wcur_bytes(w, value, strlen(value));
	wcur_u8(w, '\n');
}

static bool path_ok(const char *p, bool optional)
{
	size_t n = strnlen(p, COFFRE_MOUNT_PATH_MAX);

	if (optional && n == 0)
		return true;
	return n < COFFRE_MOUNT_PATH_MAX && mount_conf_path_valid(p, n) &&
	       conf_text_valid((const uint8_t *)p, n);
}

/* The struct holds what mount_conf_parse() accepts. */
static bool mount_conf_valid(const struct mount_conf *mc)
{
	if (mc->n_hsms == 0 || mc->n_hsms > COFFRE_MAX_HSMS ||
	    !path_ok(mc->backing, false) || !path_ok(mc->pin_file, true) ||
	    !path_ok(mc->bucket, true) || !path_ok(mc->mountpoint, true))
		return false;
	for (unsigned i = 0; i < mc->n_hsms; i++) {
		size_t n = strnlen(mc->hsm[i], COFFRE_URI_MAX);

		if (n == COFFRE_URI_MAX ||
		    !conf_uri_valid(mc->hsm[i], n, COFFRE_URI_MAX))
			return false;
	}
	return true;
}

int mount_conf_write(const struct mount_conf *mc, char *out, size_t cap)
{
	char hex[2 * COFFRE_ID_LEN + 1];
	struct wcur w;

	if (!mount_conf_valid(mc))
		return -EINVAL;
	wcur_init(&w, out, cap);
	wcur_bytes(&w, MOUNT_COMMENT "\n", sizeof(MOUNT_COMMENT));
	put_line(&w, mkey_names[M_BACKING], mc->backing);
	hex_encode(mc->uuid, sizeof(mc->uuid), hex);
	put_line(&w, mkey_names[M_UUID], hex);
	for (unsigned i = 0; i < mc->n_hsms; i++)
		put_line(&w, mkey_names[M_HSM], mc->hsm[i]);
	if (mc->pin_file[0])
		put_line(&w, mkey_names[M_PIN_FILE], mc->pin_file);
	if (mc->bucket[0])
		put_line(&w, mkey_names[M_BUCKET], mc->bucket);
	if (mc->mountpoint[0])
		put_line(&w, mkey_names[M_MOUNTPOINT], mc->mountpoint);
	wcur_u8(&w, '\0');
	if (w.err)
		return -ENOSPC;
	return (int)(w.off - 1);
}
