/*
 * names.c — the names of a version 2 backing tree, exactly (doc/FORMAT.md
 * §1.4): the fixed children of `.coffre/`, key record, escrow, id and
 * manifest names, `.coffre.dir`, long entries and their sidecars, temp
 * files, the shape of an encrypted name, and the classifier of a name met
 * in a data directory.  Spellings unchanged from version 1 are parsed by
 * layout.c and hex.c; version 1's long-name test (longname.c) checks only
 * the length, so the canonical base64url rule of version 2 is here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coffre/v2/names.h"
#include "decimal.h"

/* Longer than any name this file accepts, shorter than NAME_MAX. */
#define NAME_SCAN_MAX 256

static const char *const state_names[N2_STATE_COUNT] = {
	[N2_LOCK] = "lock", [N2_KEYS] = "keys", [N2_ESCROW] = "escrow",
	[N2_MAPS] = "maps", [N2_XATTRS] = "xattrs", [N2_LEGACY] = "legacy",
	[N2_MANIFEST] = "manifest", [N2_REPLICA] = "replica",
	[N2_UPGRADE] = "upgrade",
};

static const char *const manifest_names[N2_MF_COUNT] = {
	[N2_MF_BASE] = "base", [N2_MF_DELTA] = "delta", [N2_MF_LOG] = "log",
	[N2_MF_INTENT] = "intent",
};

int names2_state_child(const char *name, bool *is_dir)
{
	*is_dir = false;
	for (int i = 0; i < N2_STATE_COUNT; i++) {
		if (!strcmp(name, state_names[i])) {
			*is_dir = i != N2_LOCK && i != N2_UPGRADE;
			return i;
		}
	}
	return -EINVAL;
}

const char *names2_state_name(enum names2_state which)
{
	return (unsigned)which < N2_STATE_COUNT ? state_names[which] : NULL;
}

int names2_keyrec_parse(const char *name, uint8_t dir_id[COFFRE_ID_LEN],
			uint32_t *dek_version)
{
	return keyrec_name_parse(name, dir_id, dek_version);
}

int names2_keyrec_write(const uint8_t dir_id[COFFRE_ID_LEN],
			uint32_t dek_version, char out[V2_KEYREC_NAME_MAX])
{
	if (dek_version == 0)
		return -EINVAL;
	return keyrec_name_write(dir_id, dek_version, out);
}

int names2_escrow_parse(const char *name, uint32_t *mk_version)
{
	return escrow_name_parse(name, mk_version);
}

int names2_escrow_write(uint32_t mk_version, char out[V2_ESCROW_NAME_MAX])
{
	if (mk_version == 0)
		return -EINVAL;
	return escrow_name_write(mk_version, out);
}

int names2_id_parse(const char *name, uint8_t id[COFFRE_ID_LEN])
{
	return symlink_id_parse(name, strnlen(name, NAME_SCAN_MAX), id);
}

int names2_id_write(const uint8_t id[COFFRE_ID_LEN],
		    char out[V2_ID_NAME_LEN + 1])
{
	hex_encode(id, COFFRE_ID_LEN, out);
	return V2_ID_NAME_LEN;
}

int names2_manifest_parse(const char *name, enum names2_manifest *kind,
			  uint64_t *gen)
{
	size_t len = strnlen(name, NAME_SCAN_MAX);

	*kind = 0;
	*gen = 0;
	for (int i = 0; i < N2_MF_COUNT; i++) {
		size_t plen = strlen(manifest_names[i]);

		if (len <= plen || strncmp(name, manifest_names[i], plen) ||
		    name[plen] != '.')
			continue;
		if (v2_dec_parse(name + plen + 1, len - plen - 1, 1, V2_GEN_MAX,
				 gen))
			return -EINVAL;
		*kind = (enum names2_manifest)i;
		return 0;
	}
	return -EINVAL;
}

int names2_manifest_write(enum names2_manifest kind, uint64_t gen,
			  char out[V2_MANIFEST_NAME_MAX])
{
	if ((unsigned)kind >= N2_MF_COUNT || !v2_gen_valid(gen))
		return -EINVAL;
	return snprintf(out, V2_MANIFEST_NAME_MAX, "%s.%llu",
			manifest_names[kind], (unsigned long long)gen);
}

/* name[0..len) is ".coffre.L" + base64url of exactly 32 bytes, canonical. */
static bool long_entry(const char *name, size_t len)
{
	size_t plen = strlen(COFFRE_LONGNAME_PREFIX);
	uint8_t h[COFFRE_SHA256_LEN];

	return len == COFFRE_LONGNAME_LEN &&
	       !strncmp(name, COFFRE_LONGNAME_PREFIX, plen) &&
	       b64url_decode(name + plen, len - plen, h, sizeof(h)) ==
		       COFFRE_SHA256_LEN;
}

bool names2_is_long_entry(const char *name)
{
	return long_entry(name, strnlen(name, NAME_SCAN_MAX));
}

bool names2_is_long_sidecar(const char *name)
{
	size_t len = strnlen(name, NAME_SCAN_MAX);

	return len == COFFRE_LONGNAME_SIDECAR_LEN &&
	       long_entry(name, COFFRE_LONGNAME_LEN) &&
	       !strcmp(name + COFFRE_LONGNAME_LEN, COFFRE_LONGNAME_SIDECAR_SUFFIX);
}

static bool tmp_suffix_valid(const char *s, size_t len)
{
	if (len == 0 || len > V2_TMP_SUFFIX_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool names2_is_tmp(const char *name)
{
	size_t plen = strlen(V2_TMP_PREFIX);
	size_t len = strnlen(name, NAME_SCAN_MAX);

	return len > plen && !strncmp(name, V2_TMP_PREFIX, plen) &&
	       tmp_suffix_valid(name + plen, len - plen);
}

int names2_tmp_write(const char *suffix, char out[V2_TMP_NAME_MAX])
{
	size_t len = strnlen(suffix, V2_TMP_SUFFIX_MAX + 1);

	if (!tmp_suffix_valid(suffix, len))
		return -EINVAL;
	return snprintf(out, V2_TMP_NAME_MAX, V2_TMP_PREFIX "%s", suffix);
}

bool names2_is_enc_name(const char *enc, size_t len)
{
	uint8_t buf[V2_ENC_NAME_MAX_BYTES];
	int n;

	if (len > V2_ENC_NAME_MAX_LEN)
		return false;
	n = b64url_decode(enc, len, buf, sizeof(buf));
	return n >= V2_ENC_NAME_MIN_BYTES &&
	       (n - COFFRE_TAG_LEN) % COFFRE_NAME_PAD == 0;
}

enum names2_data names2_classify_data(const char *name, bool is_root)
{
	size_t len = strnlen(name, NAME_SCAN_MAX);

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return N2D_DOT;
	if (!strcmp(name, COFFRE_DIR_FILE))
		return N2D_DIR_FILE;
	if (names2_is_long_entry(name))
		return N2D_LONG_ENTRY;
	if (names2_is_long_sidecar(name))
		return N2D_LONG_SIDECAR;
	if (names2_is_tmp(name))
		return N2D_TMP;
	if (is_root && !strcmp(name, COFFRE_STATE_DIR))
		return N2D_STATE_DIR;
	if (is_root && !strcmp(name, COFFRE_CONF_FILE))
		return N2D_CONF;
	/* a backing name is at most 255 bytes; longer ones are long entries */
	if (len <= COFFRE_NAME_MAX && names2_is_enc_name(name, len))
		return N2D_ENC_NAME;
	return N2D_TAMPER;
}
