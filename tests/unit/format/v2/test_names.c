/* Unit tests for src/format/v2/names.c (doc/FORMAT.md §1.4): every name of
 * the table, its exact spelling, the bounds and the classifier. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "coffre/v2/names.h"

Test(names2, state_children)
{
	static const struct { const char *n; int which; bool dir; } ok[] = {
		{ "lock", N2_LOCK, false }, { "keys", N2_KEYS, true },
		{ "escrow", N2_ESCROW, true }, { "maps", N2_MAPS, true },
		{ "xattrs", N2_XATTRS, true }, { "legacy", N2_LEGACY, true },
		{ "manifest", N2_MANIFEST, true }, { "replica", N2_REPLICA, true },
		{ "upgrade", N2_UPGRADE, false },
	};
	static const char *const bad[] = {
		"", "Lock", "lock ", "keys/", "symlinks", "lock.", ".", "..",
		"manifes", "manifests", "tmp",
	};
	bool dir;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(names2_state_child(ok[i].n, &dir), ok[i].which);
		cr_assert_eq(dir, ok[i].dir, "%s", ok[i].n);
		cr_assert_str_eq(names2_state_name(ok[i].which), ok[i].n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(names2_state_child(bad[i], &dir), -EINVAL, "%s", bad[i]);
		cr_assert_not(dir);
	}
	cr_assert_null(names2_state_name(N2_STATE_COUNT));
}

Test(names2, keyrec_names)
{
	uint8_t id[16], zero[16] = { 0 };
	uint32_t v;
	char out[V2_KEYREC_NAME_MAX];
	static const char *const bad[] = {
		"00112233445566778899aabbccddeeff.0",
		"00112233445566778899aabbccddeeff.01",
		"00112233445566778899aabbccddeeff.4294967296",
		"00112233445566778899aabbccddeeff.",
		"00112233445566778899aabbccddeeff",
		"00112233445566778899AABBCCDDEEFF.1",
		"00112233445566778899aabbccddeef.1",
		"00112233445566778899aabbccddeeff0.1",
		"00112233445566778899aabbccddeeff.+1",
		"00112233445566778899aabbccddeeff.1 ",
		"00112233445566778899aabbccddeeff_1",
	};

	cr_assert_eq(names2_keyrec_parse("00112233445566778899aabbccddeeff.4294967295",
					 id, &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(id[i], i * 0x11);
	cr_assert_eq(names2_keyrec_write(id, 1, out), 34);
	cr_assert_str_eq(out, "00112233445566778899aabbccddeeff.1");
	cr_assert_eq(names2_keyrec_write(id, 0, out), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(names2_keyrec_parse(bad[i], id, &v), -EINVAL, "%s", bad[i]);
		cr_assert_eq(v, 0);
		cr_assert_eq(memcmp(id, zero, 16), 0);
	}
}

Test(names2, escrow_names)
{
	uint32_t v;
	char out[V2_ESCROW_NAME_MAX];
	static const char *const bad[] = {
		"mk-v0", "mk-v01", "mk-v4294967296", "mk-v", "mk-1", "MK-v1",
		"mk-v1x", "xmk-v1",
	};

	cr_assert_eq(names2_escrow_parse("mk-v1", &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(names2_escrow_parse("mk-v4294967295", &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	cr_assert_eq(names2_escrow_write(12, out), 6);
	cr_assert_str_eq(out, "mk-v12");
	cr_assert_eq(names2_escrow_write(0, out), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(names2_escrow_parse(bad[i], &v), -EINVAL, "%s", bad[i]);
		cr_assert_eq(v, 0);
	}
}

Test(names2, id_names)
{
	uint8_t id[16], zero[16] = { 0 };
	char out[V2_ID_NAME_LEN + 1];

	cr_assert_eq(names2_id_parse("0123456789abcdef0123456789abcdef", id), 0);
	cr_assert_eq(id[0], 0x01);
	cr_assert_eq(id[15], 0xef);
	cr_assert_eq(names2_id_write(id, out), 32);
	cr_assert_str_eq(out, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(names2_id_parse("0123456789abcdef0123456789abcdeF", id), -EINVAL);
	cr_assert_eq(memcmp(id, zero, 16), 0);
	cr_assert_eq(names2_id_parse("0123456789abcdef0123456789abcde", id), -EINVAL);
	cr_assert_eq(names2_id_parse("0123456789abcdef0123456789abcdef0", id), -EINVAL);
	cr_assert_eq(names2_id_parse("0123456789abcdef0123456789abcdeg", id), -EINVAL);
	cr_assert_eq(names2_id_parse("", id), -EINVAL);
}

Test(names2, manifest_names)
{
	static const struct { const char *n; int kind; uint64_t gen; } ok[] = {
		{ "base.1", N2_MF_BASE, 1 }, { "delta.10", N2_MF_DELTA, 10 },
		{ "log.549755813887", N2_MF_LOG, (UINT64_C(1) << 39) - 1 },
		{ "intent.42", N2_MF_INTENT, 42 },
	};
	static const char *const bad[] = {
		"base.0", "base.01", "base.549755813888", "log.", "log",
		"log.-1", "log.+1", "log.1a", "Log.1", "logs.1", "base1",
		"intent.99999999999999999999", "delta..1", "log.18446744073709551617",
	};
	enum names2_manifest k;
	uint64_t g;
	char out[V2_MANIFEST_NAME_MAX];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(names2_manifest_parse(ok[i].n, &k, &g), 0, "%s", ok[i].n);
		cr_assert_eq((int)k, ok[i].kind);
		cr_assert_eq(g, ok[i].gen);
		cr_assert_eq(names2_manifest_write(k, g, out), (int)strlen(ok[i].n));
		cr_assert_str_eq(out, ok[i].n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(names2_manifest_parse(bad[i], &k, &g), -EINVAL, "%s", bad[i]);
		cr_assert_eq(g, 0);
	}
	cr_assert_eq(names2_manifest_write(N2_MF_LOG, 0, out), -EINVAL);
	cr_assert_eq(names2_manifest_write(N2_MF_LOG, UINT64_C(1) << 39, out), -EINVAL);
	cr_assert_eq(names2_manifest_write(N2_MF_COUNT, 1, out), -EINVAL);
	cr_assert_eq(names2_manifest_write(N2_MF_INTENT, (UINT64_C(1) << 39) - 1,
					   out), 19);
}

#define H43 "0123456789abcdefghijklmnopqrstuvwxyzABCDEFE"   /* low bits 0 */

Test(names2, long_names)
{
	cr_assert(names2_is_long_entry(".coffre.L" H43));
	cr_assert(names2_is_long_sidecar(".coffre.L" H43 ".name"));
	cr_assert_not(names2_is_long_sidecar(".coffre.L" H43));
	cr_assert_not(names2_is_long_entry(".coffre.L" H43 ".name"));
	/* non-canonical last character (low 2 bits set), bad characters,
	 * wrong lengths: v1's length-only test would take the first */
	cr_assert_not(names2_is_long_entry(".coffre.L0123456789abcdefghijklmnopqrstuvwxyzABCDEFF"));
	cr_assert_not(names2_is_long_sidecar(".coffre.L0123456789abcdefghijklmnopqrstuvwxyzABCDEFF.name"));
	cr_assert_not(names2_is_long_entry(".coffre.L0123456789abcdefghijklmnopqrstuvwxyzABCDE.E"));
	cr_assert_not(names2_is_long_entry(".coffre.L0123456789abcdefghijklmnopqrstuvwxyzABCDE=E"));
	cr_assert_not(names2_is_long_entry(".coffre.L" H43 "A"));
	cr_assert_not(names2_is_long_entry(".coffre.L0123456789abcdefghijklmnopqrstuvwxyzABCDE"));
	cr_assert_not(names2_is_long_entry(".coffre.l" H43));
	cr_assert_not(names2_is_long_sidecar(".coffre.L" H43 ".Name"));
	cr_assert_not(names2_is_long_sidecar(".coffre.L" H43 ".name."));
}

Test(names2, tmp_names)
{
	char suffix[202], name[260], out[V2_TMP_NAME_MAX];

	cr_assert(names2_is_tmp(".coffre.tmp.a"));
	cr_assert(names2_is_tmp(".coffre.tmp.AZaz09._-"));
	cr_assert(names2_is_tmp(".coffre.tmp.."));
	cr_assert_not(names2_is_tmp(".coffre.tmp."));
	cr_assert_not(names2_is_tmp(".coffre.tmp.a/b"));
	cr_assert_not(names2_is_tmp(".coffre.tmp.a b"));
	cr_assert_not(names2_is_tmp(".coffre.tmp.\xc3\xa9"));
	cr_assert_not(names2_is_tmp(".coffre.tmpa"));
	cr_assert_not(names2_is_tmp(".coffre.rekey.a"));
	memset(suffix, 'x', 200);
	suffix[200] = '\0';
	snprintf(name, sizeof(name), ".coffre.tmp.%s", suffix);
	cr_assert(names2_is_tmp(name));
	cr_assert_eq(names2_tmp_write(suffix, out), 212);
	cr_assert_str_eq(out, name);
	suffix[200] = 'x';
	suffix[201] = '\0';
	snprintf(name, sizeof(name), ".coffre.tmp.%s", suffix);
	cr_assert_not(names2_is_tmp(name));
	cr_assert_eq(names2_tmp_write(suffix, out), -EINVAL);
	cr_assert_eq(names2_tmp_write("", out), -EINVAL);
	cr_assert_eq(names2_tmp_write("a/b", out), -EINVAL);
}

/* base64url of n bytes of 0xfb, into out. */
static size_t enc(size_t n, char *out, size_t cap)
{
	uint8_t b[300];

	memset(b, 0xfb, n);
	return (size_t)b64url_encode(b, n, out, cap);
}

Test(names2, encrypted_name_shape)
{
	char s[400];
	size_t len;

	for (size_t n = 0; n <= 300; n++) {
		bool want = n >= 48 && n <= 272 && (n - 16) % 32 == 0;

		len = enc(n, s, sizeof(s));
		cr_assert_eq(names2_is_enc_name(s, len), want, "%zu", n);
	}
	len = enc(48, s, sizeof(s));
	cr_assert_eq(len, 64);
	s[10] = '+';
	cr_assert_not(names2_is_enc_name(s, len));
	s[10] = '=';
	cr_assert_not(names2_is_enc_name(s, len));
	len = enc(272, s, sizeof(s));
	cr_assert_eq(len, 363);
	/* 272 bytes: 363 characters, the last with 2 low bits that must be 0 */
	s[362] = 'B';
	cr_assert_not(names2_is_enc_name(s, len));
}

Test(names2, classify_data)
{
	char e48[100], e80[200], e240[400];
	size_t n;

	enc(48, e48, sizeof(e48));
	enc(80, e80, sizeof(e80));
	n = enc(240, e240, sizeof(e240));
	cr_assert_eq(n, 320);                  /* too long for a backing name */
	cr_assert_eq(names2_classify_data(".", false), N2D_DOT);
	cr_assert_eq(names2_classify_data("..", false), N2D_DOT);
	cr_assert_eq(names2_classify_data(".coffre.dir", false), N2D_DIR_FILE);
	cr_assert_eq(names2_classify_data(".coffre.L" H43, false), N2D_LONG_ENTRY);
	cr_assert_eq(names2_classify_data(".coffre.L" H43 ".name", false),
		     N2D_LONG_SIDECAR);
	cr_assert_eq(names2_classify_data(".coffre.tmp.x", false), N2D_TMP);
	cr_assert_eq(names2_classify_data(e48, false), N2D_ENC_NAME);
	cr_assert_eq(names2_classify_data(e80, false), N2D_ENC_NAME);
	cr_assert_eq(names2_classify_data(e240, false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data(".coffre", true), N2D_STATE_DIR);
	cr_assert_eq(names2_classify_data(".coffre.conf", true), N2D_CONF);
	cr_assert_eq(names2_classify_data(".coffre", false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data(".coffre.conf", false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data("", false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data("hello", false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data(".coffre.dirx", false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data(".coffre.rekey.1", false), N2D_TAMPER);
	cr_assert_eq(names2_classify_data(".coffre.L0123456789abcdefghijklmnopqrstuvwxyzABCDEFF",
					  false), N2D_TAMPER);
	e48[5] = '.';
	cr_assert_eq(names2_classify_data(e48, false), N2D_TAMPER);
}
