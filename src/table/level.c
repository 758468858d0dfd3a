/*
 * Reading a level of the version table (doc/FORMAT.md §12.2, and §12.5
 * step 2's checks of one level): base.<gen> or delta.<gen>, opened from
 * untrusted storage.  Open verifies block 0 (the header, whose level and
 * gen must be the name's) and the top index block and keeps both; every
 * other block is read on demand with pread, its MAC verified and its
 * shape parsed before anything in it is used, and only then cached.
 *
 * A lookup descends from the top, one block per tier.  On the way it
 * checks that the index and the blocks agree: the key naming a block is
 * that block's first key, and every key of the block is below the next
 * key of the index (the keys within a block are strictly increasing, a
 * rule of the parsers).  An iterator walks the data blocks in order and
 * checks that each block starts above where the previous one ended.  Any
 * disagreement, a block that fails its MAC or its rules, or a file that
 * changed size is tamper: -EIO and one (rate-limited) log line naming the
 * file.  The MACs bind every block to its position, level, generation
 * and volume, so the checks on keys only catch a writer's fault; they
 * cost a few comparisons.
 *
 * Memory per open level: the header and the top block's keys (about
 * 4 KiB), and one 4 KiB block per live iterator; lookups use the stack.
 * The open level is read-only after open, so lookups and iterators may
 * run in any number of threads (the cache has its own lock); close only
 * after the last iterator is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "coffre/table.h"
#include "coffre/v2/names.h"

struct tlevel_file {
	int fd;
	const struct table_keys *k;
	struct tcache *c;
	uint64_t owner;
	struct tlevel_header h;
	uint8_t mac0[COFFRE_MAC_LEN];
	unsigned tiers;
	uint32_t top_count;
	uint8_t top[V2_TINDEX_PER_BLOCK][V2_TKEY_LEN];
	char name[V2_MANIFEST_NAME_MAX]; /* base.<gen>, delta.<gen> */
};

/* Tamper found in f's file: the log line, and -EIO. */
static int tamper(const char *name, uint64_t block, const char *why)
{
	log_tampered(LOG_ERR, "version table tampered: .coffre/manifest/%s "
			"block %llu: %s", name, (unsigned long long)block, why);
	return -EIO;
}

/* The key count of block j of tier `tier` (tier 0: entries). */
static uint32_t block_count(const struct tlevel_file *f, unsigned tier, uint64_t j)
{
	uint64_t first;
	uint32_t count;

	if (tier == 0)
		return tdata_count(f->h.n, j);
	tindex_children(f->h.dn, tier, j, &first, &count);
	return count;
}

/*
 * Read block `index` of the file into blk and check it: MAC, then shape
 * (tier 0: a data block; else an index block of tier `tier`, whose
 * position j in its tier gives its key count).  Through the cache.
 */
static int read_block(struct tlevel_file *f, unsigned tier, uint64_t j,
		      uint8_t blk[V2_TBLOCK_LEN])
{
	uint64_t index = tindex_block_index(f->h.dn, tier, j);
	uint32_t count = block_count(f, tier, j);
	ssize_t got;
	int err;

	if (index == UINT64_MAX || count == 0)
		return tamper(f->name, j, "no such block");
	if (tcache_get(f->c, f->owner, index, blk))
		return 0;
	got = io_pread_full(f->fd, blk, V2_TBLOCK_LEN, index * V2_TBLOCK_LEN);
	if (got < 0)
		return (int)got;
	if (got != V2_TBLOCK_LEN)
		return tamper(f->name, index, "cut short");
	err = tblock_verify(f->k->key, f->k->uuid, f->h.level, f->h.gen,
			    (uint32_t)index, blk, V2_TBLOCK_LEN);
	if (err == -EBADMSG)
		return tamper(f->name, index, "fails its MAC");
	if (err)
		return err;
	err = tier == 0 ? tdata_block_parse(blk, V2_TBLOCK_LEN, f->h.level, count, NULL)
			: tindex_block_parse(blk, V2_TBLOCK_LEN, count, NULL);
	if (err)
		return tamper(f->name, index, "breaks the rules of its block");
	tcache_put(f->c, f->owner, index, blk);
	return 0;
}

/* Key i of a verified block of tier `tier` (bit 7 cleared by tkey_cmp
 * where compared; an index key has it clear). */
static const uint8_t *block_key(const uint8_t *blk, unsigned tier, uint32_t i)
{
	return blk + (size_t)i * (tier ? V2_TKEY_LEN : V2_TENTRY_LEN);
}

/* The last i < count with keys[i] <= key, or -1. */
static long last_le(const uint8_t *blk, unsigned tier, uint32_t count,
		    const uint8_t key[V2_TKEY_LEN])
{
	long lo = 0, hi = (long)count;           /* answer in [lo - 1, hi) */

	while (lo < hi) {
		long mid = lo + (hi - lo) / 2;

		if (tkey_cmp(block_key(blk, tier, (uint32_t)mid), key) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/*
 * Descend from the top to the data block that holds key if any level
 * entry does: *j gets its number, blk its verified bytes.  1 if key is
 * below the level's first key (no such block), 0, or -errno.
 */
static int descend(struct tlevel_file *f, const uint8_t key[V2_TKEY_LEN],
		   uint64_t *j, uint8_t blk[V2_TBLOCK_LEN])
{
	/* hi: the index key after the block's (NULL: none, the end). */
	uint8_t lo[V2_TKEY_LEN], hi[V2_TKEY_LEN];
	bool has_hi = false;
	uint64_t pos;
	uint32_t count;
	long i;

	i = last_le(f->top[0], 1, f->top_count, key);
	if (i < 0)
		return 1;
	pos = (uint64_t)i;
	memcpy(lo, f->top[i], V2_TKEY_LEN);
	if ((uint32_t)i + 1 < f->top_count) {
		memcpy(hi, f->top[i + 1], V2_TKEY_LEN);
		has_hi = true;
	}
	for (unsigned tier = f->tiers - 1;; tier--) {
		int err = read_block(f, tier, pos, blk);

		if (err)
			return err;
		count = block_count(f, tier, pos);
		if (tkey_cmp(block_key(blk, tier, 0), lo) != 0 ||
		    (has_hi && tkey_cmp(block_key(blk, tier, count - 1), hi) >= 0))
			return tamper(f->name, tindex_block_index(f->h.dn, tier, pos),
				      "disagrees with the index");
		if (tier == 0)
			break;
		i = last_le(blk, tier, count, key);   /* >= 0: blk[0] == lo <= key */
		memcpy(lo, block_key(blk, tier, (uint32_t)i), V2_TKEY_LEN);
		if ((uint32_t)i + 1 < count) {
			memcpy(hi, block_key(blk, tier, (uint32_t)i + 1), V2_TKEY_LEN);
			has_hi = true;
		}
		pos = pos * V2_TINDEX_PER_BLOCK + (uint64_t)i;
	}
	*j = pos;
	return 0;
}

int tlevel_file_get(struct tlevel_file *f, const uint8_t key[V2_TKEY_LEN],
		    struct tent *e)
{
	uint8_t blk[V2_TBLOCK_LEN];
	uint64_t j;
	long i;
	int err = descend(f, key, &j, blk);

	if (err)
		return err < 0 ? err : -ENOENT;
	i = last_le(blk, 0, block_count(f, 0, j), key);
	if (i < 0 || tkey_cmp(block_key(blk, 0, (uint32_t)i), key) != 0)
		return -ENOENT;
	memcpy(e->b, block_key(blk, 0, (uint32_t)i), V2_TENTRY_LEN);
	return 0;
}

/* ---- open and close */

static int open_fail(int fd, int err)
{
	if (fd >= 0)
		close(fd);
	return err;
}

int tlevel_file_open(int mdir, uint8_t level, uint64_t gen,
		     const struct table_keys *k, struct tcache *c,
		     struct tlevel_file **out)
{
	uint8_t blk[V2_TBLOCK_LEN];
	struct tlevel_file *f;
	struct stat st;
	char name[V2_MANIFEST_NAME_MAX];
	uint64_t top, first;
	ssize_t got;
	int fd, err;

	*out = NULL;
	if ((level != V2_LEVEL_BASE && level != V2_LEVEL_DELTA) || !v2_gen_valid(gen))
		return -EINVAL;
	names2_manifest_write(level == V2_LEVEL_BASE ? N2_MF_BASE : N2_MF_DELTA,
			      gen, name);
	fd = io_open_untrusted(mdir, name, O_RDONLY | O_NONBLOCK, S_IFREG);
	if (fd == -ELOOP || fd == -EINVAL)
		return tamper(name, 0, "not a regular file");
	if (fd < 0)
		return fd;
	got = io_pread_full(fd, blk, V2_TBLOCK_LEN, 0);
	if (got < 0)
		return open_fail(fd, (int)got);
	if (got != V2_TBLOCK_LEN)
		return open_fail(fd, tamper(name, 0, "cut short"));
	err = tblock_verify(k->key, k->uuid, level, gen, 0, blk, V2_TBLOCK_LEN);
	if (err)
		return open_fail(fd, err == -EBADMSG ?
				 tamper(name, 0, "header fails its MAC") : err);
	f = calloc(1, sizeof(*f));
	if (!f)
		return open_fail(fd, -ENOMEM);
	f->fd = fd;
	f->k = k;
	f->c = c;
	memcpy(f->name, name, sizeof(name));
	memcpy(f->mac0, blk + V2_TBLOCK_BODY, COFFRE_MAC_LEN);
	if (tlevel_header_parse(blk, V2_TBLOCK_LEN, &f->h) != 0 ||
	    f->h.level != level || f->h.gen != gen ||
	    memcmp(f->h.uuid, k->uuid, COFFRE_ID_LEN) != 0) {
		err = tamper(name, 0, "bad header");
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if ((uint64_t)st.st_size != tlevel_file_size(f->h.dn)) {
		err = tamper(name, 0, "size disagrees with the header");
		goto fail;
	}
	f->tiers = tindex_tiers(f->h.dn);
	f->owner = c ? tcache_owner(c) : 0;
	tindex_children(f->h.dn, f->tiers, 0, &first, &f->top_count);
	top = tindex_block_index(f->h.dn, f->tiers, 0);
	/* The top block: verified and parsed here, kept as its keys. */
	got = io_pread_full(fd, blk, V2_TBLOCK_LEN, top * V2_TBLOCK_LEN);
	if (got < 0) {
		err = (int)got;
		goto fail;
	}
	err = got != V2_TBLOCK_LEN ? -EBADMSG :
	      tblock_verify(k->key, k->uuid, level, gen, (uint32_t)top, blk,
			    V2_TBLOCK_LEN);
	if (err == -EBADMSG) {
		err = tamper(name, top, "top block fails its MAC");
		goto fail;
	}
	if (err)
		goto fail;
	if (tindex_block_parse(blk, V2_TBLOCK_LEN, f->top_count, f->top) != 0) {
		err = tamper(name, top, "bad top block");
		goto fail;
	}
	*out = f;
	return 0;
fail:
	close(fd);
	free(f);
	return err;
}

void tlevel_file_close(struct tlevel_file *f)
{
	if (!f)
		return;
	tcache_drop(f->c, f->owner);
	close(f->fd);
	free(f);
}

const struct tlevel_header *tlevel_file_header(const struct tlevel_file *f)
{
	return &f->h;
}

const uint8_t *tlevel_file_mac0(const struct tlevel_file *f)
{
	return f->mac0;
}

/* ---- the iterator */

struct level_iter {
	struct tsrc s;
	struct tlevel_file *f;
	uint64_t j;                      /* data block in blk */
	uint32_t i, count;               /* next entry, entries in blk */
	bool done;
	uint8_t last[V2_TKEY_LEN];       /* the last key passed on */
	uint8_t blk[V2_TBLOCK_LEN];
};

static int iter_next(struct tsrc *s, struct tent *e)
{
	struct level_iter *it = (struct level_iter *)s;
	int err;

	if (it->done)
		return 0;
	if (it->i == it->count) {
		if (it->j + 1 >= it->f->h.dn) {
			it->done = true;
			return 0;
		}
		err = read_block(it->f, 0, it->j + 1, it->blk);
		if (err) {
			it->done = true;
			return err;
		}
		it->j++;
		it->i = 0;
		it->count = block_count(it->f, 0, it->j);
		if (tkey_cmp(it->blk, it->last) <= 0) {
			it->done = true;
			return tamper(it->f->name, 1 + it->j,
				      "starts below the block before it");
		}
	}
	memcpy(e->b, block_key(it->blk, 0, it->i), V2_TENTRY_LEN);
	memcpy(it->last, e->b, V2_TKEY_LEN);
	it->i++;
	return 1;
}

static void iter_free(struct tsrc *s)
{
	free(s);
}

int tlevel_file_iter(struct tlevel_file *f, const uint8_t from[V2_TKEY_LEN],
		     struct tsrc **out)
{
	struct level_iter *it = calloc(1, sizeof(*it));
	static const uint8_t start[V2_TKEY_LEN];   /* below every key */
	const uint8_t *key = from ? from : start;
	long i;
	int err;

	*out = NULL;
	if (!it)
		return -ENOMEM;
	it->s.next = iter_next;
	it->s.free = iter_free;
	it->f = f;
	err = descend(f, key, &it->j, it->blk);
	if (err < 0) {
		free(it);
		return err;
	}
	if (err == 1) {
		/* from is below every key: the whole level. */
		err = read_block(f, 0, 0, it->blk);
		if (err) {
			free(it);
			return err;
		}
		it->j = 0;
		it->i = 0;
		if (tkey_cmp(it->blk, f->top[0]) != 0) {
			free(it);
			return tamper(f->name, 1, "disagrees with the index");
		}
	} else {
		/* The first entry >= from. */
		i = last_le(it->blk, 0, block_count(f, 0, it->j), key);
		it->i = (uint32_t)i;
		if (tkey_cmp(block_key(it->blk, 0, (uint32_t)i), key) < 0)
			it->i++;
	}
	it->count = block_count(f, 0, it->j);
	/* The key before the first one passed on, for the order check:
	 * the block's own keys are ordered (parsed), so only the following
	 * blocks' first keys are compared, with the last one passed on. */
	if (it->i > 0)
		memcpy(it->last, block_key(it->blk, 0, it->i - 1), V2_TKEY_LEN);
	else
		memset(it->last, 0, sizeof(it->last));
	*out = &it->s;
	return 0;
}
