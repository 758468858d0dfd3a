/*
 * Segment I/O of one encrypted regular file on its backing fd (DESIGN §4
 * "Files" and §5; doc/FORMAT-v1.md).  The file is a 48-byte header, then
 * segment i at 48 + i * (S + 28), each nonce || ciphertext || tag sealed
 * with AES-256-GCM (NIST SP 800-38D) under the file key, AAD = index and
 * an is_last flag that exactly the physically last segment carries.  The
 * file key is HKDF-SHA256 (RFC 5869) of the directory's DEK, bound to the
 * header.
 *
 * Reads take one pread per request, open every segment into a per-thread
 * buffer and copy out only when all of them authenticated.  Writes seal
 * the segments they cover whole straight from the caller's buffer, build
 * only the (at most two) partial edge segments in a per-thread slot
 * (read-modify-write), and write everything with one pwrite.  Holes (an
 * all-zero non-last segment) read as zeros unless the volume has strict
 * holes, in which case gaps are written as sealed zeros instead.
 *
 * Requests of STORE_SPLIT_MIN bytes or more may have their segments
 * opened or sealed by a helper thread too (par.c, off unless
 * store_split_init started helpers).
 *
 * Crash safety when a write extends the file past its last segment: the
 * old last segment is first re-sealed to a full zero-padded segment still
 * flagged last if it was partial (a valid, longer file), then the new
 * segments are written (the new last one flagged), then the old last
 * segment is re-sealed unflagged.  A crash between the last two writes
 * leaves a "residue": a full segment flagged last followed by valid ones,
 * which reads back and is re-sealed by the next write.  Never a partial
 * segment followed by data.  After an I/O error f->size still describes
 * what the backing file holds.
 *
 * Relies on crypto (seg_seal/seg_open), format (header,
 * geometry), segbuf.c and par.c.  Callers serialise writers (see store.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffre/io.h"
#include "coffre/log.h"
#include "coffre/store.h"
#include "par.h"
#include "segbuf.h"

#define OVH ((size_t)COFFRE_SEG_OVERHEAD)

/* Internal: open_segment() accepted an interrupted extension's segment. */
#define SEG_RESIDUE 1

/* Plaintext bytes of segment i in a file of `size` bytes (0 past the end). */
static size_t seg_plain_len(uint32_t seg_size, uint64_t size, uint64_t i)
{
	uint64_t start = i * seg_size;

	if (size <= start)
		return 0;
	return size - start < seg_size ? (size_t)(size - start) : seg_size;
}

static uint64_t last_index(const struct store_file *f)
{
	return seg_count(f->seg_size, f->size) - 1;
}

/* Largest plaintext size whose ciphertext still fits in an off_t. */
static bool size_ok(uint32_t seg_size, uint64_t size)
{
	return cipher_size(seg_size, size) <= (uint64_t)INT64_MAX;
}

/* Return: 0, -ENODATA if the file ends first, or -errno. */
static inline int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = io_pread_full(fd, buf, len, off);

	return n < 0 ? (int)n : (size_t)n < len ? -ENODATA : 0;
}

/* Log "coffre: WHAT: FILE[ segment N]" (seg < 0: none), naming the file
 * by f->path, else by the backing path the kernel has for its fd (one
 * readlink, only when something goes wrong).  Rate-limited: what it
 * reports comes from untrusted storage, read as often as anyone likes.
 * tamper: a finding about the stored data, counted (log_rl_tamper). */
static void __attribute__((cold)) complain(const struct store_file *f,
					   const char *what, int64_t seg,
					   bool tamper)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_DEFAULT;
	char link[32], buf[PATH_MAX];
	const char *name = f->path;
	ssize_t n;

	if (name == NULL) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", f->fd);
		n = readlink(link, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		name = n > 0 ? buf : "(unnamed file)";
	}
	if (seg >= 0 && tamper)
		log_rl_tamper(&rl, LOG_ERR, "%s: %s segment %" PRId64, what, name, seg);
	else if (tamper)
		log_rl_tamper(&rl, LOG_ERR, "%s: %s", what, name);
	else
		log_rl(&rl, LOG_ERR, "%s: %s", what, name);
}

/* A pread that came back short: the file is shorter than its size. */
static int short_read(const struct store_file *f, int err)
{
	if (err != -ENODATA)
		return err;
	complain(f, "truncated ciphertext", -1, true);
	return -EIO;
}

/*
 * Open stored segment i (in_len bytes) of a file whose last segment is
 * `last` into pt.  A non-last all-zero segment is a hole (zeros) unless
 * strict; a non-last segment sealed as last is crash residue, accepted and
 * remembered in f->residue_hint.  pt holds nothing on failure.
 * Return: 0, SEG_RESIDUE, -EIO (logged) or another -errno.
 */
static int open_segment(struct store_file *f, uint64_t i, uint64_t last,
			const uint8_t *in, size_t in_len, uint8_t *pt)
{
	int err;

	if (i != last && !f->strict_holes && bytes_zero(in, in_len)) {
		memset(pt, 0, in_len - OVH);
		return 0;
	}
	err = seg_open(f->key, i, i == last, in, in_len, pt);
	if (err != -EBADMSG)
		return err;
	if (i != last && seg_open(f->key, i, true, in, in_len, pt) == 0) {
		__atomic_store_n(&f->residue_hint, i + 1, __ATOMIC_RELAXED);
		return SEG_RESIDUE;
	}
	complain(f, "authentication failed", (int64_t)i, true);
	return -EIO;
}

/* Read and open segment i of the current file into pt (its plaintext
 * length), with `scratch` for the ciphertext.  Return: as open_segment. */
static int load_segment(struct store_file *f, uint8_t *scratch, uint64_t i,
			uint8_t *pt)
{
	size_t in_len = seg_plain_len(f->seg_size, f->size, i) + OVH;
	int err;

	err = pread_full(f->fd, scratch, in_len, seg_offset(f->seg_size, i));
	if (err)
		return short_read(f, err);
	return open_segment(f, i, last_index(f), scratch, in_len, pt);
}

/* Seal the first pl bytes of sb->edge_plain as segment i and write it. */
static int seal_write_edge(struct store_file *f, struct segbuf *sb,
			   uint64_t i, bool is_last, size_t pl)
{
	int err;

	err = seg_seal(f->key, i, is_last, sb->edge_plain, pl, sb->edge_cipher);
	if (err)
		return err;
	return io_pwrite_full(f->fd, sb->edge_cipher, pl + OVH,
			      seg_offset(f->seg_size, i));
}

/*
 * Re-seal unflagged a residue segment a read has reported, if it is still
 * one.  Best effort: an authentication failure stays for reads to report,
 * a failed write leaves the hint for next time.
 */
static void repair_residue(struct store_file *f, struct segbuf *sb)
{
	uint64_t hint = __atomic_exchange_n(&f->residue_hint, 0,
					    __ATOMIC_RELAXED);
	uint64_t i = hint - 1;

	if (hint == 0 || i >= last_index(f))
		return;
	if (load_segment(f, sb->edge_cipher, i, sb->edge_plain) != SEG_RESIDUE)
		return;
	if (seal_write_edge(f, sb, i, false, f->seg_size) != 0)
		__atomic_store_n(&f->residue_hint, hint, __ATOMIC_RELAXED);
}

/* Requests of at least STORE_SPLIT_MIN bytes (and 4 segments) are shared
 * with a helper thread once store_split_init has started some (par.c). */
static size_t par_min_segs(uint32_t seg_size)
{
	size_t n = STORE_SPLIT_MIN / seg_size;

	return n < 4 ? 4 : n;
}

int store_split_init(unsigned helpers)
{
	return par_init(helpers);
}

/* Segments [first + lo, first + hi) of a read pass, opened into sb->plain. */
struct open_run {
	struct store_file *f;
	struct segbuf *sb;
	uint64_t first, last;
};

static int open_some(void *ctx, size_t lo, size_t hi)
{
	const struct open_run *r = ctx;
	const uint32_t s = r->f->seg_size;
	const size_t stride = (size_t)s + OVH;

	for (size_t k = lo; k < hi; k++) {
		uint64_t i = r->first + k;
		int err = open_segment(r->f, i, r->last, r->sb->cipher + k * stride,
				       seg_plain_len(s, r->f->size, i) + OVH,
				       r->sb->plain + k * s);

		if (err < 0)
			return err;
	}
	return 0;
}

/* Open the segments covering [off, off + len) (one request of at most
 * STORE_MAX_REQUEST bytes, off < f->size) into sb->plain; *at gets where
 * off lands in it. */
static int read_pass(struct store_file *f, struct segbuf *sb, size_t len,
		     uint64_t off, size_t *at)
{
	const uint32_t s = f->seg_size;
	const size_t stride = (size_t)s + OVH;
	const uint64_t last = last_index(f);
	const uint64_t first_i = off / s, last_i = (off + len - 1) / s;
	const uint64_t start = seg_offset(s, first_i);
	size_t span = (size_t)(last_i - first_i) * stride +
		      seg_plain_len(s, f->size, last_i) + OVH;
	struct open_run run = { f, sb, first_i, last };
	int err;

	err = pread_full(f->fd, sb->cipher, span, start);
	if (err)
		return short_read(f, err);
	err = par_run(open_some, &run, (size_t)(last_i - first_i + 1),
		      par_min_segs(s));
	if (err < 0)
		return err;
	*at = (size_t)(off - first_i * s);
	return 0;
}

ssize_t store_read(struct store_file *f, void *buf, size_t len, uint64_t off)
{
	struct segbuf *sb;
	size_t done = 0, at;
	int err;

	if (!seg_size_valid(f->seg_size))
		return -EINVAL;
	if (len == 0 || (off >= f->size && f->size > 0))
		return 0;
	err = segbuf_get(&sb);
	if (err)
		return err;
	if (f->size == 0) {
		/* No data to read, but the sealed empty segment is what
		 * tells an empty file from one cut down to its header. */
		err = load_segment(f, sb->cipher, 0, sb->plain);
		return err < 0 ? err : 0;
	}
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		size_t chunk = len - done;

		if (chunk > STORE_MAX_REQUEST)
			chunk = STORE_MAX_REQUEST;
		err = read_pass(f, sb, chunk, off + done, &at);
		if (err)
			return err;
		memcpy((uint8_t *)buf + done, sb->plain + at, chunk);
		done += chunk;
	}
	return (ssize_t)done;
}

/* Read-only zeros: the source of sealed zero segments (untouched .bss,
 * so it costs no memory). */
static uint8_t zero_seg[COFFRE_SEG_MAX];

/*
 * Assemble in `slot` the new plaintext (pl bytes) of edge segment e of a
 * request [off, end) writing buf (zeros if NULL): the existing data the
 * request does not overwrite, the request's bytes, zeros in any gap.
 * Only the bytes that are not overwritten are loaded or zeroed.
 */
static int build_edge(struct store_file *f, struct segbuf *sb, uint8_t *slot,
		      uint64_t e, size_t pl, const uint8_t *buf, uint64_t off,
		      uint64_t end)
{
	const uint64_t base = e * f->seg_size;
	const size_t lo = (size_t)((off > base ? off : base) - base);
	const size_t hi = (size_t)((end < base + pl ? end : base + pl) - base);
	size_t have = seg_plain_len(f->seg_size, f->size, e);
	int err;

	if (have > 0 && (lo > 0 || hi < have)) {
		err = load_segment(f, sb->cipher, e, slot);
		if (err < 0)
			return err;
	} else {
		have = 0;
	}
	if (lo > have)
		memset(slot + have, 0, lo - have);
	if (pl > (hi > have ? hi : have))
		memset(slot + (hi > have ? hi : have), 0,
		       pl - (hi > have ? hi : have));
	if (buf != NULL)
		memcpy(slot + lo, buf + (base + lo - off), hi - lo);
	else
		memset(slot + lo, 0, hi - lo);
	return 0;
}

/* Segments [first + lo, first + hi) of a write pass, sealed into
 * sb->cipher: the edge slots where built, else straight from buf (or
 * zeros). */
struct seal_run {
	struct store_file *f;
	struct segbuf *sb;
	const uint8_t *buf;
	uint64_t off, first, last, new_last, new_size;
	const uint8_t *src[2];
};

static int seal_some(void *ctx, size_t lo, size_t hi)
{
	const struct seal_run *r = ctx;
	const uint32_t s = r->f->seg_size;
	const size_t stride = (size_t)s + OVH;

	for (size_t k = lo; k < hi; k++) {
		uint64_t i = r->first + k;
		const uint8_t *pt;
		int err;

		if (i == r->first && r->src[0] != NULL)
			pt = r->src[0];
		else if (i == r->last && r->last != r->first && r->src[1] != NULL)
			pt = r->src[1];
		else if (r->buf != NULL)
			pt = r->buf + (i * s - r->off);
		else
			pt = zero_seg;
		err = seg_seal(r->f->key, i, i == r->new_last, pt,
			       seg_plain_len(s, r->new_size, i),
			       r->sb->cipher + k * stride);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Write len (>= 1) bytes of buf, or zeros if buf is NULL, at off; the
 * request touches at most STORE_MAX_REQUEST / S + 1 segments.  Segments
 * the request covers whole are sealed straight from buf; only the (at
 * most two) edge segments are assembled in sb->plain.
 */
static int write_pass(struct store_file *f, struct segbuf *sb,
		      const uint8_t *buf, size_t len, uint64_t off)
{
	const uint32_t s = f->seg_size;
	const size_t stride = (size_t)s + OVH;
	const uint64_t old_size = f->size;
	const uint64_t old_last = last_index(f);
	const size_t old_pl = seg_plain_len(s, old_size, old_last);
	const uint64_t end = off + len;
	const uint64_t new_size = end > old_size ? end : old_size;
	const uint64_t new_last = seg_count(s, new_size) - 1;
	const uint64_t first = off / s, last = (end - 1) / s;
	/* The request starts past the old last segment, which stops being
	 * last: it must be re-sealed, zero-padded, unflagged. */
	const bool reseal_old = old_last < first;
	const uint8_t *src[2] = { NULL, NULL };
	struct seal_run run;
	size_t span;
	int err;

	/* Edges first: they read the old contents of the cipher buffer's
	 * first segment, which the seal loop below overwrites. */
	for (int k = 0; k < 2; k++) {
		uint64_t e = k == 0 ? first : last;
		size_t pl = seg_plain_len(s, new_size, e);
		uint8_t *slot = sb->plain + (size_t)k * COFFRE_SEG_MAX;

		if (k == 1 && last == first)
			break;
		if (off <= e * s && end >= e * s + pl)
			continue;       /* covered whole: sealed from buf */
		err = build_edge(f, sb, slot, e, pl, buf, off, end);
		if (err < 0)
			return err;
		src[k] = slot;
	}
	if (reseal_old && old_pl > 0) {
		err = load_segment(f, sb->edge_cipher, old_last, sb->edge_plain);
		if (err < 0)
			return err;
	}
	if (reseal_old && old_pl < s)
		memset(sb->edge_plain + old_pl, 0, s - old_pl);

	run = (struct seal_run){ f, sb, buf, off, first, last, new_last,
				 new_size, { src[0], src[1] } };
	err = par_run(seal_some, &run, (size_t)(last - first + 1),
		      par_min_segs(s));
	if (err)
		return err;
	span = (size_t)(last - first) * stride +
	       seg_plain_len(s, new_size, last) + OVH;

	if (reseal_old && old_pl < s) {
		/* A partial last segment never precedes data: make it full
		 * (still last) before anything is written after it. */
		err = seal_write_edge(f, sb, old_last, true, s);
		if (err)
			goto fail;
		f->size = (old_last + 1) * s;
	}
	err = io_pwrite_full(f->fd, sb->cipher, span, seg_offset(s, first));
	if (err)
		goto fail;
	f->size = new_size;
	if (reseal_old &&
	    seal_write_edge(f, sb, old_last, false, s) != 0) {
		/* The data is written and the file reads back as residue;
		 * the next write retries the re-seal. */
		__atomic_store_n(&f->residue_hint, old_last + 1,
				 __ATOMIC_RELAXED);
	}
	return 0;
fail:
	/* Drop whatever an extension left past the last valid state. */
	if (new_size > f->size &&
	    ftruncate(f->fd, (off_t)cipher_size(s, f->size)) != 0)
		complain(f, "cannot undo a failed write", -1, false);
	return err;
}

/* Bytes from off up to the segment boundary at most STORE_MAX_REQUEST on. */
static size_t chunk_limit(uint32_t seg_size, uint64_t off)
{
	uint64_t stop = (off + STORE_MAX_REQUEST) / seg_size * seg_size;

	return (size_t)(stop - off);
}

/* Strict holes: extend the file with sealed zeros up to `target`. */
static int zero_fill(struct store_file *f, struct segbuf *sb, uint64_t target)
{
	int err;

	while (f->size < target) {
		uint64_t left = target - f->size;
		size_t chunk = chunk_limit(f->seg_size, f->size);

		if (left < chunk)
			chunk = (size_t)left;
		err = write_pass(f, sb, NULL, chunk, f->size);
		if (err)
			return err;
	}
	return 0;
}

ssize_t store_write(struct store_file *f, const void *buf, size_t len,
		    uint64_t off)
{
	struct segbuf *sb;
	size_t done = 0;
	int err;

	if (!seg_size_valid(f->seg_size))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX || off > UINT64_MAX - len ||
	    !size_ok(f->seg_size, off + len))
		return -EFBIG;
	err = segbuf_get(&sb);
	if (err)
		return err;
	repair_residue(f, sb);
	if (f->strict_holes && off > f->size) {
		err = zero_fill(f, sb, off);
		if (err)
			return err;
	}
	while (done < len) {
		uint64_t o = off + done;
		size_t chunk = chunk_limit(f->seg_size, o);

		if (chunk > len - done)
			chunk = len - done;
		err = write_pass(f, sb, (const uint8_t *)buf + done, chunk, o);
		if (err)
			return done > 0 ? (ssize_t)done : err;
		done += chunk;
	}
	return (ssize_t)len;
}

/* Cut the file to size < f->size: the new last segment is re-sealed,
 * flagged, from its existing plaintext. */
static int shrink(struct store_file *f, struct segbuf *sb, uint64_t size)
{
	const uint32_t s = f->seg_size;
	const uint64_t m = size == 0 ? 0 : (size - 1) / s;
	const size_t pl = seg_plain_len(s, size, m);
	int err;

	if (size > 0) {
		err = load_segment(f, sb->edge_cipher, m, sb->edge_plain);
		if (err < 0)
			return err;
	}
	err = seg_seal(f->key, m, true, sb->edge_plain, pl, sb->edge_cipher);
	if (err)
		return err;
	if (pl == s) {
		/* Full: flagged in place first is a valid (residue) state. */
		err = io_pwrite_full(f->fd, sb->edge_cipher, pl + OVH,
				     seg_offset(s, m));
		if (err)
			return err;
		if (ftruncate(f->fd, (off_t)cipher_size(s, size)) != 0)
			return -errno;
		f->size = size;
		return 0;
	}
	if (ftruncate(f->fd, (off_t)cipher_size(s, size)) != 0)
		return -errno;
	f->size = size;
	return io_pwrite_full(f->fd, sb->edge_cipher, pl + OVH, seg_offset(s, m));
}

int store_truncate(struct store_file *f, uint64_t size)
{
	struct segbuf *sb;
	uint64_t m, off;
	int err;

	if (!seg_size_valid(f->seg_size))
		return -EINVAL;
	if (size == f->size)
		return 0;
	if (!size_ok(f->seg_size, size))
		return -EFBIG;
	err = segbuf_get(&sb);
	if (err)
		return err;
	repair_residue(f, sb);
	if (size < f->size)
		return shrink(f, sb, size);
	if (f->strict_holes)
		return zero_fill(f, sb, size);
	/* Grow: zeros in the new last segment, holes before it. */
	m = (size - 1) / f->seg_size;
	off = m * f->seg_size > f->size ? m * f->seg_size : f->size;
	return write_pass(f, sb, NULL, (size_t)(size - off), off);
}

int store_create(int fd, const struct file_header *h, const struct aead_key *key)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN + COFFRE_SEG_OVERHEAD];
	int err;

	if (!seg_size_valid(h->seg_size))
		return -EINVAL;
	file_header_write(h, buf);
	err = seg_seal(key, 0, true, NULL, 0, buf + COFFRE_FILE_HEADER_LEN);
	if (err)
		return err;
	return io_pwrite_full(fd, buf, sizeof(buf), 0);
}

int store_read_header(int fd, struct file_header *h)
{
	uint8_t buf[COFFRE_FILE_HEADER_LEN];

	if (pread_full(fd, buf, sizeof(buf), 0) != 0 ||
	    file_header_parse(buf, sizeof(buf), h) != 0)
		return -EIO;
	return 0;
}

int store_file_init(struct store_file *f, int fd, const struct file_header *h,
		    bool volume_strict, const struct aead_key *key,
		    const char *path)
{
	*f = (struct store_file){
		.fd = fd,
		.seg_size = h->seg_size,
		.strict_holes = volume_strict ||
				(h->flags & COFFRE_HDR_STRICT_HOLES),
		.key = key,
		.path = path,
	};
	return store_load_size(f);
}

int store_load_size(struct store_file *f)
{
	struct stat st;
	uint64_t size;

	if (!seg_size_valid(f->seg_size))
		return -EINVAL;
	if (fstat(f->fd, &st) != 0)
		return -errno;
	if (st.st_size < 0 ||
	    plain_size(f->seg_size, (uint64_t)st.st_size, &size) != 0) {
		complain(f, "impossible ciphertext size", -1, true);
		return -EIO;
	}
	f->size = size;
	return 0;
}

ssize_t store_read_view(struct store_file *f, size_t len, uint64_t off,
			const uint8_t **view)
{
	struct segbuf *sb;
	size_t at;
	int err;

	*view = NULL;
	if (len > STORE_MAX_REQUEST)
		return -E2BIG;
	if (f->size == 0 || off >= f->size)   /* EOF (an empty file is checked) */
		return store_read(f, NULL, f->size == 0 ? 1 : 0, 0);
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (len == 0)
		return 0;
	err = segbuf_get(&sb);
	if (!err)
		err = read_pass(f, sb, len, off, &at);
	if (err)
		return err;
	*view = sb->plain + at;
	return (ssize_t)len;
}
