/*
 * volume.c: creating a volume in an empty directory and opening it, with
 * every check the mount relies on: the lock, the PIN, the config's mode and
 * its HMAC-SHA256 (RFC 2104) under HKDF-SHA256(root DEK, "coffre/v1/config")
 * (RFC 5869, recomputed here with OpenSSL), the key check value, the
 * master key's presence on the token, and the root directory id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "keys_fixture.h"

static char backing[PATH_MAX];
static char errbuf[512];

static void path_in(const char *base, const char *name, char out[PATH_MAX])
{
	cr_assert_lt(snprintf(out, PATH_MAX, "%s/%s", base, name), PATH_MAX);
}

/* A token and no logged-in handle: volume_init/open log in themselves,
 * and a PIN check needs no other session of ours on the token. */
static void vinit(void)
{
	int ret;

	fx_store_only();
	ret = test_softhsm_init_token(&fx_softhsm, TEST_TOKEN, TEST_PIN,
				      TEST_SO_PIN);
	cr_assert_eq(ret, 0, "softhsm2-util --init-token failed");
	snprintf(fx_uri, sizeof(fx_uri), "pkcs11:token=%s", TEST_TOKEN);
	path_in(fx_softhsm.dir, "vol", backing);
	errbuf[0] = '\0';
}

TestSuite(volume, .init = vinit, .fini = fx_teardown, .timeout = 120);

static int init_vol(const char *dir, uint32_t seg_size, bool strict)
{
	const char *uris[1] = { fx_uri };
	struct volume_init_opts o = {
		.hsm_uris = uris, .n_hsms = 1, .pin = TEST_PIN, .pin_len = strlen(TEST_PIN),
		.seg_size = seg_size, .strict_holes = strict,
	};

	errbuf[0] = '\0';
	return volume_init(dir, &o, errbuf, sizeof(errbuf));
}

static int open_vol(const char *dir, const char *pin, struct volume **v)
{
	const char *uris[1] = { fx_uri };

	errbuf[0] = '\0';
	*v = NULL;
	return volume_open(dir, uris, 1, NULL, pin, strlen(pin), v, errbuf,
			   sizeof(errbuf));
}

static void must_init(void)
{
	int ret = init_vol(backing, 0, false);

	cr_assert_eq(ret, 0, "volume_init: %d %s", ret, errbuf);
}

static void must_open_close(void)
{
	struct volume *v;
	int ret = open_vol(backing, TEST_PIN, &v);

	cr_assert_eq(ret, 0, "volume_open: %d %s", ret, errbuf);
	volume_close(v);
}

static void ref_hmac(const uint8_t key[32], const void *msg, size_t len,
		     uint8_t mac[32])
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	char digest[] = "SHA256";
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	size_t n = 0;

	cr_assert_not_null(ctx);
	cr_assert_eq(EVP_MAC_init(ctx, key, 32, p), 1);
	cr_assert_eq(EVP_MAC_update(ctx, msg, len), 1);
	cr_assert_eq(EVP_MAC_final(ctx, mac, &n, 32), 1);
	cr_assert_eq(n, 32);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
}

/* Replace the first occurrence of `from` in the config by `to`. */
static void edit_conf(const char *dir, const char *from, const char *to)
{
	static char text[COFFRE_CONF_MAX + 1], out[COFFRE_CONF_MAX + 64];
	char path[PATH_MAX], *at;
	size_t n, pre;

	path_in(dir, COFFRE_CONF_FILE, path);
	n = get_file(path, text, COFFRE_CONF_MAX);
	text[n] = '\0';
	at = strstr(text, from);
	cr_assert_not_null(at, "no \"%s\" in the config:\n%s", from, text);
	pre = (size_t)(at - text);
	memcpy(out, text, pre);
	memcpy(out + pre, to, strlen(to));
	memcpy(out + pre + strlen(to), at + strlen(from), n - pre - strlen(from));
	put_file(path, out, n - strlen(from) + strlen(to), 0600);
}

/* The value of "key = value" in the config. */
static void conf_value(const char *dir, const char *key, char *out, size_t cap)
{
	static char text[COFFRE_CONF_MAX + 1];
	char path[PATH_MAX], pat[64], *at, *end;

	path_in(dir, COFFRE_CONF_FILE, path);
	text[get_file(path, text, COFFRE_CONF_MAX)] = '\0';
	snprintf(pat, sizeof(pat), "\n%s = ", key);
	at = strstr(text, pat);
	cr_assert_not_null(at, "no %s line", key);
	at += strlen(pat);
	end = strchr(at, '\n');
	cr_assert_not_null(end);
	cr_assert_lt((size_t)(end - at), cap);
	memcpy(out, at, (size_t)(end - at));
	out[end - at] = '\0';
}

Test(volume, init_then_open)
{
	uint8_t root_dek[COFFRE_KEY_LEN], ref_root[COFFRE_KEY_LEN];
	uint8_t cfg_key[32], mac[32], kcv[8], id[COFFRE_ID_LEN];
	uint8_t dirfile[COFFRE_DIR_FILE_LEN + 1];
	static char text[COFFRE_CONF_MAX + 1];
	char label[COFFRE_MK_LABEL_MAX], path[PATH_MAX];
	struct volume *v;
	struct stat st;
	size_t n;
	int ret;

	must_init();
	ret = open_vol(backing, TEST_PIN, &v);
	cr_assert_eq(ret, 0, "volume_open: %d %s", ret, errbuf);
	cr_assert_not_null(v);

	cr_assert_eq(v->conf.format, COFFRE_FORMAT_VERSION);
	cr_assert_eq(v->conf.seg_size, COFFRE_SEG_DEFAULT);
	cr_assert_eq(v->conf.strict_holes, false);
	cr_assert_eq(v->conf.mk_version, 1);
	cr_assert_eq(v->conf.n_hsms, 1);
	cr_assert_str_eq(v->conf.hsm[0], fx_uri);
	cr_assert_arr_neq(v->conf.uuid, v->conf.root_id, COFFRE_ID_LEN);
	mk_label(v->conf.uuid, 1, label);
	cr_assert_str_eq(v->mk_label, label);
	cr_assert_geq(v->root_fd, 0);
	cr_assert_geq(v->keys_fd, 0);
	cr_assert_geq(v->lock_fd, 0);
	cr_assert_not_null(v->hsm);
	cr_assert_not_null(v->keys);
	cr_assert_not(v->degraded);

	/* The KCV in the config is the token's for that label. */
	cr_assert_eq(hsm_pool_kcv(v->hsm, v->mk_label, kcv), 0);
	cr_assert_arr_eq(kcv, v->conf.kcv, sizeof(kcv));

	/* The config MAC, recomputed with OpenSSL from the root DEK. */
	cr_assert_eq(keyring_dek(v->keys, v->conf.root_id, 1, root_dek), 0);
	ref_hkdf(root_dek, sizeof(root_dek), "coffre/v1/config", cfg_key,
		 sizeof(cfg_key));
	path_in(backing, COFFRE_CONF_FILE, path);
	n = get_file(path, text, COFFRE_CONF_MAX);
	cr_assert_eq(v->conf.body_len + 3 + 3 + 64 + 1, n);
	ref_hmac(cfg_key, text, v->conf.body_len, mac);
	cr_assert_arr_eq(mac, v->conf.mac, sizeof(mac));

	/* The root DEK is the one sealed in its record. */
	{
		uint8_t rec[COFFRE_KEYREC_LEN];
		struct key_record r;
		char keys[PATH_MAX];

		path_in(backing, COFFRE_KEYS_DIR, keys);
		record_path(keys, v->conf.root_id, 1, path);
		cr_assert_eq(get_file(path, rec, sizeof(rec)), sizeof(rec));
		cr_assert_eq(keyrec_parse(rec, sizeof(rec), &r), 0);
		cr_assert_eq(keyrec_unseal(v->hsm, &r, ref_root), 0);
		cr_assert_arr_eq(ref_root, root_dek, COFFRE_KEY_LEN);
		cr_assert_arr_eq(r.fs_uuid, v->conf.uuid, COFFRE_ID_LEN);
	}

	/* Files and modes. */
	path_in(backing, COFFRE_CONF_FILE, path);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	path_in(backing, COFFRE_STATE_DIR, path);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700);
	path_in(backing, COFFRE_DIR_FILE, path);
	cr_assert_eq(get_file(path, dirfile, sizeof(dirfile)), COFFRE_DIR_FILE_LEN);
	cr_assert_eq(dir_file_parse(dirfile, COFFRE_DIR_FILE_LEN, id), 0);
	cr_assert_arr_eq(id, v->conf.root_id, COFFRE_ID_LEN);
	/* No temp file left at the root. */
	{
		size_t tmp;

		dir_count(backing, ".coffre.tmp", &tmp);
		cr_assert_eq(tmp, 0);
	}
	volume_close(v);
}

Test(volume, init_options_reach_the_config)
{
	struct volume *v;
	int ret;

	ret = init_vol(backing, 4096, true);
	cr_assert_eq(ret, 0, "%d %s", ret, errbuf);
	ret = open_vol(backing, TEST_PIN, &v);
	cr_assert_eq(ret, 0, "%d %s", ret, errbuf);
	cr_assert_eq(v->conf.seg_size, 4096);
	cr_assert_eq(v->conf.strict_holes, true);
	volume_close(v);
}

Test(volume, two_volumes_share_a_token)
{
	char other[PATH_MAX];
	struct volume *a, *b;
	int ret;

	path_in(fx_softhsm.dir, "vol2", other);
	must_init();
	ret = init_vol(other, 65536, false);
	cr_assert_eq(ret, 0, "%d %s", ret, errbuf);
	cr_assert_eq(open_vol(backing, TEST_PIN, &a), 0, "%s", errbuf);
	cr_assert_eq(open_vol(other, TEST_PIN, &b), 0, "%s", errbuf);
	cr_assert_arr_neq(a->conf.uuid, b->conf.uuid, COFFRE_ID_LEN);
	cr_assert_str_neq(a->mk_label, b->mk_label);
	cr_assert_arr_neq(a->conf.kcv, b->conf.kcv, 8);
	volume_close(b);
	volume_close(a);
}

Test(volume, init_in_a_non_empty_dir_is_enotempty)
{
	char path[PATH_MAX];
	size_t n;

	cr_assert_eq(mkdir(backing, 0755), 0);
	path_in(backing, "data.txt", path);
	put_file(path, "x", 1, 0644);
	cr_assert_eq(init_vol(backing, 0, false), -ENOTEMPTY);
	cr_assert_neq(errbuf[0], '\0');
	n = dir_count(backing, NULL, NULL);
	cr_assert_eq(n, 1, "init created %zu entries", n - 1);
	path_in(backing, COFFRE_CONF_FILE, path);
	cr_assert_neq(access(path, F_OK), 0);

	/* A hidden entry alone counts too. */
	path_in(backing, "data.txt", path);
	cr_assert_eq(unlink(path), 0);
	path_in(backing, ".hidden", path);
	put_file(path, "", 0, 0600);
	cr_assert_eq(init_vol(backing, 0, false), -ENOTEMPTY);
	cr_assert_eq(dir_count(backing, NULL, NULL), 1);
}

Test(volume, init_twice_is_enotempty)
{
	must_init();
	cr_assert_eq(init_vol(backing, 0, false), -ENOTEMPTY);
	must_open_close();
}

Test(volume, init_beside_lost_and_found)
{
	char path[PATH_MAX];

	cr_assert_eq(mkdir(backing, 0755), 0);
	path_in(backing, "lost+found", path);
	cr_assert_eq(mkdir(path, 0700), 0);
	must_init();
	must_open_close();
}

Test(volume, init_bad_segment_size_is_einval)
{
	static const uint32_t bad[] = { 1, 1000, 2048, 4095, 4097, 12288,
					131072, 0x80000000u, 0xffffffffu };
	struct stat st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(init_vol(backing, bad[i], false), -EINVAL,
			     "seg size %u", bad[i]);
		cr_assert_neq(errbuf[0], '\0');
		cr_assert_neq(stat(backing, &st), 0, "dir created for %u", bad[i]);
	}
	for (uint32_t s = 4096; s <= 65536; s *= 2) {
		char dir[PATH_MAX];
		struct volume *v;

		cr_assert_lt(snprintf(dir, sizeof(dir), "%s/seg%u",
				      fx_softhsm.dir, s), (int)sizeof(dir));
		cr_assert_eq(init_vol(dir, s, false), 0, "%u: %s", s, errbuf);
		cr_assert_eq(open_vol(dir, TEST_PIN, &v), 0, "%s", errbuf);
		cr_assert_eq(v->conf.seg_size, s);
		volume_close(v);
	}
}

Test(volume, second_open_is_ebusy_until_close)
{
	struct volume *v, *w;

	must_init();
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), 0, "%s", errbuf);
	cr_assert_eq(open_vol(backing, TEST_PIN, &w), -EBUSY);
	cr_assert_null(w);
	cr_assert_neq(errbuf[0], '\0');
	volume_close(v);
	must_open_close();
}

Test(volume, wrong_pin_is_eacces)
{
	struct volume *v;

	must_init();
	cr_assert_eq(open_vol(backing, "9999", &v), -EACCES, "%s", errbuf);
	cr_assert_null(v);
	cr_assert_not_null(strstr(errbuf, "PIN"), "err: %s", errbuf);
	/* The failed attempt released the lock. */
	must_open_close();
}

Test(volume, edited_segment_size_is_ekeyrejected)
{
	struct volume *v;
	char seg[32];

	must_init();
	conf_value(backing, "segment_size", seg, sizeof(seg));
	cr_assert_str_eq(seg, "16384");
	edit_conf(backing, "segment_size = 16384\n", "segment_size = 32768\n");
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EKEYREJECTED, "%s",
		     errbuf);
	cr_assert_null(v);
	/* Undo: it opens again, so nothing else was the cause. */
	edit_conf(backing, "segment_size = 32768\n", "segment_size = 16384\n");
	must_open_close();
}

Test(volume, edited_strict_holes_is_ekeyrejected)
{
	struct volume *v;
	char val[32];

	must_init();
	conf_value(backing, "strict_holes", val, sizeof(val));
	edit_conf(backing, "strict_holes = ",
		  !strcmp(val, "0") || !strcmp(val, "false") ?
		  "strict_holes = 1" : "strict_holes = 0");
	/* Either the parser or the MAC refuses it. */
	cr_assert_lt(open_vol(backing, TEST_PIN, &v), 0);
	cr_assert_null(v);
}

Test(volume, swapped_kcv_is_refused)
{
	char other[PATH_MAX], kcv_a[64], kcv_b[64], from[96], to[96];
	struct volume *v;

	path_in(fx_softhsm.dir, "vol2", other);
	must_init();
	cr_assert_eq(init_vol(other, 0, false), 0, "%s", errbuf);
	conf_value(backing, "kcv", kcv_a, sizeof(kcv_a));
	conf_value(other, "kcv", kcv_b, sizeof(kcv_b));
	cr_assert_str_neq(kcv_a, kcv_b);
	snprintf(from, sizeof(from), "kcv = %s\n", kcv_a);
	snprintf(to, sizeof(to), "kcv = %s\n", kcv_b);
	edit_conf(backing, from, to);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EKEYREJECTED, "%s",
		     errbuf);
	cr_assert_null(v);
	cr_assert_not_null(strstr(errbuf, "check value"), "err: %s", errbuf);
}

Test(volume, group_writable_config_is_eperm)
{
	char path[PATH_MAX];
	struct volume *v;

	must_init();
	path_in(backing, COFFRE_CONF_FILE, path);
	cr_assert_eq(chmod(path, 0620), 0);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EPERM, "%s", errbuf);
	cr_assert_eq(chmod(path, 0602), 0);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EPERM, "%s", errbuf);
	/* Readable by others is fine: the config holds no secret. */
	cr_assert_eq(chmod(path, 0644), 0);
	must_open_close();
}

Test(volume, config_owned_by_another_user_is_eperm)
{
	char path[PATH_MAX];
	struct volume *v;

	if (geteuid() != 0)
		cr_skip_test("needs root to chown");
	must_init();
	path_in(backing, COFFRE_CONF_FILE, path);
	cr_assert_eq(chown(path, 65534, 65534), 0);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EPERM, "%s", errbuf);
}

Test(volume, missing_config_fails)
{
	char path[PATH_MAX];
	struct volume *v;

	must_init();
	path_in(backing, COFFRE_CONF_FILE, path);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -ENOENT, "%s", errbuf);
	cr_assert_null(v);
	cr_assert_neq(errbuf[0], '\0');
}

Test(volume, open_of_a_plain_dir_fails)
{
	struct volume *v;

	cr_assert_eq(mkdir(backing, 0755), 0);
	cr_assert_lt(open_vol(backing, TEST_PIN, &v), 0);
	cr_assert_null(v);
	cr_assert_neq(errbuf[0], '\0');
}

Test(volume, config_symlink_is_refused)
{
	char path[PATH_MAX], moved[PATH_MAX];
	struct volume *v;

	must_init();
	path_in(backing, COFFRE_CONF_FILE, path);
	path_in(fx_softhsm.dir, "conf.elsewhere", moved);
	cr_assert_eq(rename(path, moved), 0);
	cr_assert_eq(symlink(moved, path), 0);
	cr_assert_lt(open_vol(backing, TEST_PIN, &v), 0);
	cr_assert_null(v);
}

/* Every HSM answers but none holds the key: -ENOKEY (exit 69), said so. */
Test(volume, removed_master_key_is_enokey)
{
	char label[COFFRE_MK_LABEL_MAX], err[256] = "";
	struct volume *v;
	struct hsm *h;

	must_init();
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), 0, "%s", errbuf);
	memcpy(label, v->mk_label, sizeof(label));
	volume_close(v);

	cr_assert_eq(hsm_open(fx_uri, TEST_PIN, strlen(TEST_PIN), &h, err,
			      sizeof(err)), 0, "%s", err);
	cr_assert_eq(hsm_destroy_key(h, label), 0);
	hsm_close(h);

	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -ENOKEY, "%s", errbuf);
	cr_assert_null(v);
	cr_assert_not_null(strstr(errbuf, TEST_TOKEN), "err: %s", errbuf);
	cr_assert_not_null(strstr(errbuf, "none holds the master key"), "err: %s",
			   errbuf);
}

Test(volume, replaced_root_dir_file_fails)
{
	uint8_t id[COFFRE_ID_LEN], buf[COFFRE_DIR_FILE_LEN];
	char path[PATH_MAX];
	struct volume *v;

	must_init();
	ref_random(id, sizeof(id));
	dir_file_write(id, buf);
	path_in(backing, COFFRE_DIR_FILE, path);
	put_file(path, buf, sizeof(buf), 0600);
	cr_assert_lt(open_vol(backing, TEST_PIN, &v), 0);
	cr_assert_null(v);
	cr_assert_neq(errbuf[0], '\0');

	cr_assert_eq(unlink(path), 0);
	cr_assert_lt(open_vol(backing, TEST_PIN, &v), 0);
	cr_assert_null(v);
}

Test(volume, root_record_of_another_volume_is_refused)
{
	char other[PATH_MAX], a_keys[PATH_MAX], b_keys[PATH_MAX];
	char a_rec[PATH_MAX], b_rec[PATH_MAX];
	uint8_t a_root[COFFRE_ID_LEN];
	struct volume *v;

	path_in(fx_softhsm.dir, "vol2", other);
	must_init();
	cr_assert_eq(init_vol(other, 0, false), 0, "%s", errbuf);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), 0, "%s", errbuf);
	memcpy(a_root, v->conf.root_id, sizeof(a_root));
	volume_close(v);
	cr_assert_eq(open_vol(other, TEST_PIN, &v), 0, "%s", errbuf);
	path_in(backing, COFFRE_KEYS_DIR, a_keys);
	path_in(other, COFFRE_KEYS_DIR, b_keys);
	record_path(a_keys, a_root, 1, a_rec);
	record_path(b_keys, v->conf.root_id, 1, b_rec);
	volume_close(v);
	/* B's root record under A's root name: wrong volume and directory. */
	cr_assert_eq(rename(b_rec, a_rec), 0);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EKEYREJECTED, "%s",
		     errbuf);
	cr_assert_null(v);
}

/* The config's hsm lines select nothing: an edited module-path (issue 10,
 * case 3) is not loaded (that would fail with -ENODEV, "no module"); the
 * HSMs given log in, and the edit is caught by the MAC. */
Test(volume, edited_hsm_line_is_not_used)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 128];
	struct volume *v;

	must_init();
	snprintf(from, sizeof(from), "hsm = %s\n", fx_uri);
	snprintf(to, sizeof(to), "hsm = pkcs11:token=%s?module-path=/nonexistent/"
		 "evil.so\n", TEST_TOKEN);
	edit_conf(backing, from, to);
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), -EKEYREJECTED, "%s", errbuf);
	cr_assert_null(v);
	edit_conf(backing, to, from);
	must_open_close();
}

/* The configured uuid must be the volume's, checked before any HSM. */
Test(volume, wrong_uuid_is_refused_before_the_hsm)
{
	const char *uris[1] = { "pkcs11:token=no-such-token-here" };
	uint8_t uuid[COFFRE_ID_LEN];
	struct volume *v;

	must_init();
	cr_assert_eq(open_vol(backing, TEST_PIN, &v), 0, "%s", errbuf);
	memcpy(uuid, v->conf.uuid, sizeof(uuid));
	volume_close(v);
	uuid[0] ^= 1;
	/* No such token: had it been tried, the error would say so. */
	cr_assert_eq(volume_open(backing, uris, 1, uuid, TEST_PIN, strlen(TEST_PIN),
				 &v, errbuf, sizeof(errbuf)), -EXDEV, "%s", errbuf);
	cr_assert_null(v);
	cr_assert_not_null(strstr(errbuf, "not"), "%s", errbuf);
	uuid[0] ^= 1;
	uris[0] = fx_uri;
	cr_assert_eq(volume_open(backing, uris, 1, uuid, TEST_PIN, strlen(TEST_PIN),
				 &v, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	volume_close(v);
	/* No HSM at all is a usage error. */
	cr_assert_eq(volume_open(backing, uris, 0, NULL, TEST_PIN, strlen(TEST_PIN),
				 &v, errbuf, sizeof(errbuf)), -EINVAL);
}
