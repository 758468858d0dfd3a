/*
 * Writing a level of the version table (doc/FORMAT.md §12.2), streamed:
 * base.<gen> or delta.<gen> in the manifest directory.
 *
 * The file is written in the temp `.coffre.tmp.<base|delta>.<gen>`,
 * created O_EXCL | O_NOFOLLOW in mdir (a stale one, left by a crash, is
 * removed first; the name is one §1.4 allows and loading removes).  Data
 * blocks go out in order with their MACs as entries arrive (blocks 1..Dn);
 * the first key of each is kept in a buffer of KEYS_BUF keys which spills
 * to a second temp file, `.coffre.tmp.<base|delta>.<gen>.keys`, unlinked as
 * soon as it is created (so it never outlives the writer, even a crash).
 * At finish the index follows tier by tier: key i of block j of tier k is
 * the first key of data block (100j + i) · 100^(k−1) (tindex.c), read back
 * from the keys, so no tier is held.  Then the header at offset 0, fsync,
 * a hard link at the final name (never over an existing file: -EEXIST),
 * the temp removed, and mdir fsynced.  On abort or failure the temps are
 * removed and nothing is left.
 *
 * Memory, whatever N: the writer (one pending block of 50 decoded entries,
 * one 4 KiB block buffer, KEYS_BUF first keys: about 10 KiB) and, at
 * finish, one tier block of 100 keys on the stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/format.h"
#include "coffre/io.h"
#include "coffre/table.h"
#include "coffre/v2/names.h"

/* First keys held before spilling: 64 data blocks' worth. */
#define KEYS_BUF 64

struct tlevel_writer {
	int mdir, fd, spill;
	int err;                         /* sticky: the first failure */
	uint8_t level;
	uint64_t gen;
	const struct table_keys *k;
	uint64_t n;                      /* entries added */
	uint64_t dn;                     /* data blocks written */
	uint8_t last[V2_TKEY_LEN];       /* key of the last entry added */
	uint32_t npend;
	struct tentry pend[V2_TDATA_PER_BLOCK];
	uint64_t spilled;                /* first keys in the spill file */
	uint32_t nkeys;                  /* first keys in keys[] after those */
	uint8_t keys[KEYS_BUF][V2_TKEY_LEN];
	uint8_t blk[V2_TBLOCK_LEN];
	char name[V2_MANIFEST_NAME_MAX]; /* base.<gen>, delta.<gen> */
	char tmp[48];                    /* .coffre.tmp.<name> */
};

int tlevel_writer_new(int mdir, uint8_t level, uint64_t gen,
		      const struct table_keys *k, struct tlevel_writer **out)
{
	struct tlevel_writer *w;
	char spill[56];
	int err;

	*out = NULL;
	if ((level != V2_LEVEL_BASE && level != V2_LEVEL_DELTA) || !v2_gen_valid(gen))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->mdir = mdir;
	w->level = level;
	w->gen = gen;
	w->k = k;
	w->fd = w->spill = -1;
	names2_manifest_write(level == V2_LEVEL_BASE ? N2_MF_BASE : N2_MF_DELTA,
			      gen, w->name);
	snprintf(w->tmp, sizeof(w->tmp), COFFRE_TMP_PREFIX "%s", w->name);
	snprintf(spill, sizeof(spill), "%s.keys", w->tmp);
	unlinkat(mdir, w->tmp, 0);               /* left by a crash */
	unlinkat(mdir, spill, 0);
	w->fd = openat(mdir, w->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		       O_CLOEXEC, 0600);
	if (w->fd < 0) {
		err = -errno;
		free(w);
		return err;
	}
	w->spill = openat(mdir, spill, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
			  O_CLOEXEC, 0600);
	if (w->spill < 0 || unlinkat(mdir, spill, 0) < 0) {
		err = -errno;
		tlevel_writer_abort(w);
		return err;
	}
	*out = w;
	return 0;
}

void tlevel_writer_abort(struct tlevel_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		close(w->fd);
		unlinkat(w->mdir, w->tmp, 0);
	}
	if (w->spill >= 0)
		close(w->spill);
	free(w);
}

uint64_t tlevel_writer_spilled(const struct tlevel_writer *w)
{
	return w->spilled;
}

/* MAC block `index` in w->blk and write it in place. */
static int put_block(struct tlevel_writer *w, uint64_t index)
{
	int err = tblock_mac(w->k->key, w->k->uuid, w->level, w->gen,
			     (uint32_t)index, w->blk);

	if (!err)
		err = io_pwrite_full(w->fd, w->blk, V2_TBLOCK_LEN,
				     index * V2_TBLOCK_LEN);
	return err;
}

/* Keep the first key of the data block just written. */
static int keep_key(struct tlevel_writer *w, const uint8_t key[V2_TKEY_LEN])
{
	int err;

	if (w->nkeys == KEYS_BUF) {
		err = io_pwrite_full(w->spill, w->keys, sizeof(w->keys),
				     w->spilled * V2_TKEY_LEN);
		if (err)
			return err;
		w->spilled += KEYS_BUF;
		w->nkeys = 0;
	}
	memcpy(w->keys[w->nkeys], key, V2_TKEY_LEN);
	w->keys[w->nkeys][0] &= (uint8_t)~V2_TOMBSTONE;
	w->nkeys++;
	return 0;
}

/* Write the pending entries as data block dn. */
static int flush_data(struct tlevel_writer *w)
{
	int err = tdata_block_write(w->pend, w->npend, w->level, w->blk);

	if (!err)
		err = keep_key(w, w->blk);
	if (!err)
		err = put_block(w, 1 + w->dn);
	if (err)
		return err;
	w->dn++;
	w->npend = 0;
	return 0;
}

int tlevel_writer_add(struct tlevel_writer *w, const struct tent *e)
{
	struct tentry *d = &w->pend[w->npend];

	if (w->err)
		return w->err;
	if ((w->n > 0 && tkey_cmp(w->last, e->b) >= 0) ||
	    (tent_is_tombstone(e) && w->level != V2_LEVEL_DELTA) ||
	    tent_to(e, d) != 0)
		return -EINVAL;                  /* refused; the writer goes on */
	if (w->n == V2_TLEVEL_N_MAX)
		return -EFBIG;
	memcpy(w->last, e->b, V2_TKEY_LEN);
	w->n++;
	if (++w->npend == V2_TDATA_PER_BLOCK)
		w->err = flush_data(w);
	return w->err;
}

/* First keys first..first + count - 1 (of data blocks) into out. */
static int read_keys(struct tlevel_writer *w, uint64_t first, uint32_t count,
		     uint8_t (*out)[V2_TKEY_LEN])
{
	uint32_t from_file = 0;
	ssize_t got;

	if (first < w->spilled) {
		from_file = w->spilled - first < count ? (uint32_t)(w->spilled - first)
						       : count;
		got = io_pread_full(w->spill, out, (size_t)from_file * V2_TKEY_LEN,
				    first * V2_TKEY_LEN);
		if (got < 0)
			return (int)got;
		if (got != (ssize_t)from_file * V2_TKEY_LEN)
			return -EIO;             /* our own temp, cut under us */
	}
	for (uint32_t i = from_file; i < count; i++)
		memcpy(out[i], w->keys[first + i - w->spilled], V2_TKEY_LEN);
	return 0;
}

/* The index, tier by tier (tindex.c's geometry). */
static int write_index(struct tlevel_writer *w)
{
	uint8_t keys[V2_TINDEX_PER_BLOCK][V2_TKEY_LEN];
	unsigned tiers = tindex_tiers(w->dn);
	uint64_t step = 1;                       /* 100^(k-1) */
	int err;

	for (unsigned k = 1; k <= tiers; k++) {
		for (uint64_t j = 0; j < tindex_tier_blocks(w->dn, k); j++) {
			uint64_t first;
			uint32_t count;

			tindex_children(w->dn, k, j, &first, &count);
			if (step == 1) {
				err = read_keys(w, first, count, keys);
			} else {
				err = 0;
				for (uint32_t i = 0; i < count && !err; i++)
					err = read_keys(w, (first + i) * step, 1,
							&keys[i]);
			}
			if (!err)
				err = tindex_block_write((const uint8_t (*)[V2_TKEY_LEN])keys,
							 count, w->blk);
			if (!err)
				err = put_block(w, tindex_block_index(w->dn, k, j));
			if (err)
				return err;
		}
		step *= V2_TINDEX_PER_BLOCK;
	}
	return 0;
}

static int finish(struct tlevel_writer *w, const struct tlevel_header *h,
		  uint8_t mac0[COFFRE_MAC_LEN])
{
	struct tlevel_header hh = *h;
	int err;

	if (w->err)
		return w->err;
	if (w->n == 0)
		return -EINVAL;
	if (w->npend && (err = flush_data(w)) != 0)
		return err;
	if ((err = write_index(w)) != 0)
		return err;
	hh.level = w->level;
	memcpy(hh.uuid, w->k->uuid, COFFRE_ID_LEN);
	hh.gen = w->gen;
	hh.n = w->n;
	hh.dn = (uint32_t)w->dn;
	hh.fn = (uint32_t)tindex_blocks(w->dn);
	if ((err = tlevel_header_write(&hh, w->blk)) != 0 ||
	    (err = put_block(w, 0)) != 0)
		return err;
	if (mac0)
		memcpy(mac0, w->blk + V2_TBLOCK_BODY, COFFRE_MAC_LEN);
	if (fsync(w->fd) < 0)
		return -errno;
	if (linkat(w->mdir, w->tmp, w->mdir, w->name, 0) < 0)
		return -errno;
	return 0;
}

int tlevel_writer_finish(struct tlevel_writer *w, const struct tlevel_header *h,
			 uint8_t mac0[COFFRE_MAC_LEN])
{
	int err = finish(w, h, mac0), mdir = w->mdir;

	tlevel_writer_abort(w);                  /* closes, removes the temp */
	if (err) {
		if (mac0)
			memset(mac0, 0, COFFRE_MAC_LEN);
		return err;
	}
	return io_fsync_dir(mdir);
}
