/*
 * File geometry: where segment i lives and how a ciphertext file size maps
 * to a plaintext size and back (doc/FORMAT-v1.md, "Segments").
 *
 * A file is a 48-byte header followed by segments; every segment but the
 * last holds seg_size bytes of plaintext, the last holds 1..seg_size (0 only
 * for an empty file, which still stores one sealed empty segment so that
 * cutting a file down to its header is detected).  Each stored segment adds
 * nonce(12) + tag(16) = 28 bytes.  Sizes are bounded by INT64_MAX, the
 * largest off_t: cipher_size() answers UINT64_MAX for a plaintext too large
 * to store, and plain_size() refuses ciphertext sizes above INT64_MAX, so
 * every answer of one is inverted exactly by the other.
 */
#include <errno.h>

#include "coffre/format.h"

#define SEG_OVERHEAD 28u   /* GCM nonce + tag, see crypto.h */

bool seg_size_valid(uint32_t seg_size)
{
	return seg_size >= COFFRE_SEG_MIN && seg_size <= COFFRE_SEG_MAX &&
	       (seg_size & (seg_size - 1)) == 0;
}

uint64_t seg_count(uint32_t seg_size, uint64_t plain_size)
{
	if (plain_size == 0 || seg_size == 0)
		return 1;
	return plain_size / seg_size + (plain_size % seg_size != 0);
}

/* The geometry of both layouts: segments of seg_size + overhead bytes
 * from data_offset (version 1: 48 and 28; version 2: 1024 and 36). */
uint64_t layout_seg_offset(uint32_t data_offset, uint32_t overhead,
			   uint32_t seg_size, uint64_t index)
{
	uint64_t stride = (uint64_t)seg_size + overhead;

	if (index > (UINT64_MAX - data_offset) / stride)
		return UINT64_MAX;
	return data_offset + index * stride;
}

uint64_t layout_cipher_size(uint32_t data_offset, uint32_t overhead,
			    uint32_t seg_size, uint64_t plain)
{
	uint64_t n = seg_count(seg_size, plain);
	uint64_t limit = (uint64_t)INT64_MAX;

	/* plain + data_offset + overhead * n <= INT64_MAX, term by term */
	if (plain > limit - data_offset)
		return UINT64_MAX;
	limit -= data_offset + plain;
	if (n > limit / overhead)
		return UINT64_MAX;
	return data_offset + plain + (uint64_t)overhead * n;
}

int layout_plain_size(uint32_t data_offset, uint32_t overhead, uint32_t seg_size,
		      uint64_t csize, uint64_t *plain)
{
	uint64_t stride, body, full, rem;

	*plain = 0;
	if (!seg_size_valid(seg_size))
		return -EINVAL;
	if (csize > (uint64_t)INT64_MAX || csize < (uint64_t)data_offset + overhead)
		return -EBADMSG;
	stride = (uint64_t)seg_size + overhead;
	body = csize - data_offset;
	full = body / stride;
	rem = body % stride;
	if (rem == 0) {                 /* last segment is a full one */
		*plain = full * seg_size;
		return 0;
	}
	if (rem < overhead)             /* a partial segment, torn */
		return -EBADMSG;
	if (rem == overhead && full > 0)
		return -EBADMSG;        /* empty last segment after data */
	*plain = full * seg_size + (rem - overhead);
	return 0;
}

uint64_t seg_offset(uint32_t seg_size, uint64_t index)
{
	return layout_seg_offset(COFFRE_FILE_HEADER_LEN, SEG_OVERHEAD, seg_size,
				 index);
}

uint64_t cipher_size(uint32_t seg_size, uint64_t plain)
{
	return layout_cipher_size(COFFRE_FILE_HEADER_LEN, SEG_OVERHEAD, seg_size,
				  plain);
}

int plain_size(uint32_t seg_size, uint64_t csize, uint64_t *plain)
{
	return layout_plain_size(COFFRE_FILE_HEADER_LEN, SEG_OVERHEAD, seg_size,
				 csize, plain);
}
