/*
 * keystore.c: sealed DEK records.  Sealing is checked against OpenSSL
 * AES-256-GCM with the master key's bytes (SP 800-38D), the file layout
 * and atomic write on disk, and every way a record can be moved or altered
 * (other directory, version, volume; header bytes under the AAD; length).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "keys_fixture.h"

TestSuite(keystore, .init = kfx_init, .fini = kfx_fini, .timeout = 120);

/* Byte offsets in the 108-byte record (doc/FORMAT-v1.md, "Key record"). */
#define OFF_FLAGS 5
#define OFF_UUID 8
#define OFF_DIR_ID 24
#define OFF_DEK_VERSION 40
#define OFF_MK_VERSION 44
#define OFF_SEALED 60

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Seal and write a random DEK for a random directory. */
static void make_record(uint8_t dir_id[COFFRE_ID_LEN], uint32_t version,
			uint8_t dek[COFFRE_KEY_LEN], struct key_record *r)
{
	ref_random(dir_id, COFFRE_ID_LEN);
	ref_random(dek, COFFRE_KEY_LEN);
	cr_assert_eq(keyrec_seal(kfx.pool, kfx.uuid, 1, dir_id, version, dek, r), 0);
	cr_assert_eq(keystore_write(kfx.keys_fd, r), 0);
}

Test(keystore, seal_write_read_unseal_round_trip)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], got[COFFRE_KEY_LEN];
	uint8_t ref[COFFRE_KEY_LEN], file[COFFRE_KEYREC_LEN + 8];
	uint8_t want[COFFRE_KEYREC_LEN];
	struct key_record r, back;
	char path[PATH_MAX];
	struct stat st;
	size_t tmp;

	make_record(id, 1, dek, &r);
	cr_assert_eq(r.dek_version, 1);
	cr_assert_eq(r.mk_version, 1);
	cr_assert_arr_eq(r.fs_uuid, kfx.uuid, COFFRE_ID_LEN);
	cr_assert_arr_eq(r.dir_id, id, COFFRE_ID_LEN);

	/* The file: 108 bytes, mode 0600, exactly the serialised record,
	 * and no temp file left beside it. */
	record_path(kfx.keys, id, 1, path);
	cr_assert_eq(lstat(path, &st), 0, "%s missing", path);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_size, COFFRE_KEYREC_LEN);
	cr_assert_eq(COFFRE_KEYREC_LEN, 108);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(get_file(path, file, sizeof(file)), COFFRE_KEYREC_LEN);
	keyrec_write(&r, want);
	cr_assert_arr_eq(file, want, COFFRE_KEYREC_LEN);
	cr_assert_eq(dir_count(kfx.keys, ".", &tmp), 1);
	cr_assert_eq(tmp, 0, "temp file left behind");

	/* The DEK is what OpenSSL opens with the MK and the header as AAD. */
	cr_assert_eq(ref_unseal(kfx.mk, &r, ref), 0, "not GCM under the MK");
	cr_assert_arr_eq(ref, dek, COFFRE_KEY_LEN);

	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 1, &back), 0);
	cr_assert_eq(memcmp(&back, &r, sizeof(r)), 0);
	cr_assert_eq(keyrec_unseal(kfx.pool, &back, got), 0);
	cr_assert_arr_eq(got, dek, COFFRE_KEY_LEN);
}

Test(keystore, every_seal_uses_a_fresh_iv)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	struct key_record a, b;

	ref_random(id, sizeof(id));
	ref_random(dek, sizeof(dek));
	cr_assert_eq(keyrec_seal(kfx.pool, kfx.uuid, 1, id, 1, dek, &a), 0);
	cr_assert_eq(keyrec_seal(kfx.pool, kfx.uuid, 1, id, 1, dek, &b), 0);
	cr_assert_arr_neq(a.iv, b.iv, sizeof(a.iv));
	cr_assert_arr_neq(a.sealed, b.sealed, sizeof(a.sealed));
}

Test(keystore, rewrite_replaces_the_record)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], dek2[COFFRE_KEY_LEN];
	uint8_t got[COFFRE_KEY_LEN];
	struct key_record r, r2, back;

	make_record(id, 1, dek, &r);
	ref_random(dek2, sizeof(dek2));
	cr_assert_eq(keyrec_seal(kfx.pool, kfx.uuid, 1, id, 1, dek2, &r2), 0);
	cr_assert_eq(keystore_write(kfx.keys_fd, &r2), 0);
	cr_assert_eq(dir_count(kfx.keys, NULL, NULL), 1);
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 1, &back), 0);
	cr_assert_eq(keyrec_unseal(kfx.pool, &back, got), 0);
	cr_assert_arr_eq(got, dek2, COFFRE_KEY_LEN);
}

Test(keystore, missing_record_is_enoent)
{
	uint8_t id[COFFRE_ID_LEN];
	struct key_record r;

	ref_random(id, sizeof(id));
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 1, &r), -ENOENT);
}

Test(keystore, record_moved_to_another_dir_id_is_eio)
{
	uint8_t id[COFFRE_ID_LEN], other[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	char from[PATH_MAX], to[PATH_MAX];
	struct key_record r;

	make_record(id, 1, dek, &r);
	ref_random(other, sizeof(other));
	record_path(kfx.keys, id, 1, from);
	record_path(kfx.keys, other, 1, to);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, other, 1, &r), -EIO);
}

Test(keystore, record_moved_to_another_version_is_eio)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	char from[PATH_MAX], to[PATH_MAX];
	struct key_record r;

	make_record(id, 1, dek, &r);
	record_path(kfx.keys, id, 1, from);
	record_path(kfx.keys, id, 2, to);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 2, &r), -EIO);
}

Test(keystore, record_of_another_volume_is_eio)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], uuid[COFFRE_ID_LEN];
	struct key_record r;

	make_record(id, 1, dek, &r);
	ref_random(uuid, sizeof(uuid));
	cr_assert_eq(keystore_read(kfx.keys_fd, uuid, id, 1, &r), -EIO);
	/* ... and the right volume still reads it. */
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 1, &r), 0);
}

/*
 * Rewrite a record with one header field changed, under the file name the
 * new header implies, so keystore_read() accepts it: only the AAD binding
 * inside the HSM can catch it.
 */
static void expect_header_edit_rejected(int field)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], got[COFFRE_KEY_LEN];
	uint8_t buf[COFFRE_KEYREC_LEN], new_id[COFFRE_ID_LEN];
	char from[PATH_MAX], to[PATH_MAX];
	struct key_record r, back;
	uint32_t version = 1;
	int ret;

	make_record(id, 1, dek, &r);
	record_path(kfx.keys, id, 1, from);
	cr_assert_eq(get_file(from, buf, sizeof(buf)), sizeof(buf));
	memcpy(new_id, id, sizeof(new_id));
	switch (field) {
	case OFF_DIR_ID:
		buf[OFF_DIR_ID + 3] ^= 0x01;
		new_id[3] ^= 0x01;
		break;
	case OFF_DEK_VERSION:
		version = 2;
		put_be32(buf + OFF_DEK_VERSION, version);
		break;
	case OFF_MK_VERSION: {
		/* An MK v2 exists, so the label resolves and only the tag
		 * can fail. */
		uint8_t mk2[COFFRE_KEY_LEN];

		kfx_import_mk(2, mk2);
		put_be32(buf + OFF_MK_VERSION, 2);
		break;
	}
	case OFF_FLAGS:
		buf[OFF_FLAGS] ^= 0x80;
		break;
	default:
		cr_assert_fail("bad field");
	}
	cr_assert_eq(unlink(from), 0);
	record_path(kfx.keys, new_id, version, to);
	put_file(to, buf, sizeof(buf), 0600);

	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, new_id, version, &back), 0,
		     "the renamed record must pass the file-level checks");
	memset(got, 0xa5, sizeof(got));
	ret = keyrec_unseal(kfx.pool, &back, got);
	cr_assert(ret == -EIO || ret == -EBADMSG,
		  "edited header at offset %d unsealed: %d", field, ret);
	cr_assert_arr_neq(got, dek, COFFRE_KEY_LEN);
	/* The HSM is fine afterwards: the original still unseals. */
	cr_assert_eq(keyrec_unseal(kfx.pool, &r, got), 0);
	cr_assert_arr_eq(got, dek, COFFRE_KEY_LEN);
}

Test(keystore, header_dir_id_is_bound_by_aad)
{
	expect_header_edit_rejected(OFF_DIR_ID);
}

Test(keystore, header_dek_version_is_bound_by_aad)
{
	expect_header_edit_rejected(OFF_DEK_VERSION);
}

Test(keystore, header_mk_version_is_bound_by_aad)
{
	expect_header_edit_rejected(OFF_MK_VERSION);
}

Test(keystore, header_flags_are_bound_by_aad)
{
	expect_header_edit_rejected(OFF_FLAGS);
}

Test(keystore, sealed_bytes_are_authenticated)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], got[COFFRE_KEY_LEN];
	struct key_record r, bad;
	size_t i;
	int ret;

	make_record(id, 1, dek, &r);
	/* Every IV byte, and a byte of the ciphertext and of the tag. */
	for (i = 0; i < sizeof(r.iv) + 2; i++) {
		bad = r;
		if (i < sizeof(r.iv))
			bad.iv[i] ^= 0x01;
		else if (i == sizeof(r.iv))
			bad.sealed[0] ^= 0x01;
		else
			bad.sealed[sizeof(bad.sealed) - 1] ^= 0x80;
		ret = keyrec_unseal(kfx.pool, &bad, got);
		cr_assert(ret == -EIO || ret == -EBADMSG, "case %zu: %d", i, ret);
	}
	cr_assert_eq(keyrec_unseal(kfx.pool, &r, got), 0);
}

Test(keystore, unseal_without_the_master_key_is_enoent)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], got[COFFRE_KEY_LEN];
	struct key_record r;

	make_record(id, 1, dek, &r);
	r.mk_version = 7;  /* no such MK on the token */
	cr_assert_eq(keyrec_unseal(kfx.pool, &r, got), -ENOENT);
}

static void expect_length_rejected(size_t len)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	uint8_t buf[2 * COFFRE_KEYREC_LEN];
	char path[PATH_MAX];
	struct key_record r;

	make_record(id, 1, dek, &r);
	record_path(kfx.keys, id, 1, path);
	cr_assert_eq(get_file(path, buf, sizeof(buf)), COFFRE_KEYREC_LEN);
	memset(buf + COFFRE_KEYREC_LEN, 0, sizeof(buf) - COFFRE_KEYREC_LEN);
	put_file(path, buf, len, 0600);
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 1, &r), -EIO,
		     "length %zu", len);
}

Test(keystore, truncated_record_is_eio)
{
	expect_length_rejected(COFFRE_KEYREC_LEN - 1);
	expect_length_rejected(COFFRE_KEYREC_HDR_LEN);
	expect_length_rejected(1);
	expect_length_rejected(0);
}

Test(keystore, oversized_record_is_eio)
{
	expect_length_rejected(COFFRE_KEYREC_LEN + 1);
	expect_length_rejected(2 * COFFRE_KEYREC_LEN);
}

Test(keystore, bad_magic_is_eio)
{
	uint8_t id[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN], buf[COFFRE_KEYREC_LEN];
	char path[PATH_MAX];
	struct key_record r;

	make_record(id, 1, dek, &r);
	record_path(kfx.keys, id, 1, path);
	cr_assert_eq(get_file(path, buf, sizeof(buf)), sizeof(buf));
	buf[0] ^= 0x20;
	put_file(path, buf, sizeof(buf), 0600);
	cr_assert_eq(keystore_read(kfx.keys_fd, kfx.uuid, id, 1, &r), -EIO);
}

Test(keystore, symlinked_record_is_refused)
{
	uint8_t id[COFFRE_ID_LEN], other[COFFRE_ID_LEN], dek[COFFRE_KEY_LEN];
	char target[PATH_MAX], link[PATH_MAX];
	struct key_record r;

	make_record(id, 1, dek, &r);
	ref_random(other, sizeof(other));
	record_path(kfx.keys, id, 1, target);
	record_path(kfx.keys, other, 1, link);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_lt(keystore_read(kfx.keys_fd, kfx.uuid, other, 1, &r), 0);
}

Test(keystore, mk_label_format)
{
	uint8_t uuid[COFFRE_ID_LEN];
	char label[COFFRE_MK_LABEL_MAX], want[COFFRE_MK_LABEL_MAX];
	static const uint32_t versions[] = { 1, 2, 10, 4294967295u };
	size_t i, j, off;

	/* A fixed case spelled out, then random ones built by hand. */
	for (i = 0; i < COFFRE_ID_LEN; i++)
		uuid[i] = (uint8_t)(i * 0x11);
	mk_label(uuid, 1, label);
	cr_assert_str_eq(label,
			 "coffre-mk-00112233445566778899aabbccddeeff-v1");
	for (j = 0; j < 20; j++) {
		ref_random(uuid, sizeof(uuid));
		for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
			off = (size_t)snprintf(want, sizeof(want), "coffre-mk-");
			for (size_t k = 0; k < COFFRE_ID_LEN; k++)
				off += (size_t)snprintf(want + off,
							sizeof(want) - off,
							"%02x", uuid[k]);
			snprintf(want + off, sizeof(want) - off, "-v%u",
				 versions[i]);
			mk_label(uuid, versions[i], label);
			cr_assert_str_eq(label, want);
			cr_assert_lt(strlen(label), COFFRE_MK_LABEL_MAX);
		}
	}
}
