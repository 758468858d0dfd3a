/*
 * Native segments of format version 2 (doc/FORMAT.md §3): geometry, the
 * plaintext size from the ciphertext size (§3.1), the framing
 *
 *   segment i = epoch u64be | nonce[12] | ciphertext[n] | tag[16]
 *   AAD       = u64be(i) | u8(is_last) | u64be(epoch)
 *
 * sealed and opened through src/crypto's cached-context seg2_seal and
 * seg2_open under the caller's content key, and the hole test of §3.3.
 * Sizes are bounded by INT64_MAX, the largest off_t, as in version 1
 * (src/format/segment.c): cipher2_size() and plain2_size() invert each
 * other exactly.
 */
#include <errno.h>
#include <string.h>

#include "coffre/v2/object.h"

#define EPOCH_LEN 8                     /* the epoch in front of a segment */

uint64_t seg2_offset(uint32_t seg_size, uint64_t index)
{
	return layout_seg_offset(V2_DATA_OFFSET, V2_SEG_OVERHEAD, seg_size, index);
}

uint64_t cipher2_size(uint32_t seg_size, uint64_t plain)
{
	return layout_cipher_size(V2_DATA_OFFSET, V2_SEG_OVERHEAD, seg_size, plain);
}

int plain2_size(uint32_t seg_size, uint64_t csize, uint64_t *plain)
{
	return layout_plain_size(V2_DATA_OFFSET, V2_SEG_OVERHEAD, seg_size, csize,
				 plain);
}

void segment2_aad(uint64_t index, bool is_last, uint64_t epoch,
		  uint8_t out[V2_SEG_AAD_LEN])
{
	struct wcur c;

	wcur_init(&c, out, V2_SEG_AAD_LEN);
	wcur_u64be(&c, index);
	wcur_u8(&c, is_last ? 1 : 0);
	wcur_u64be(&c, epoch);
}

int segment2_seal(const struct aead_key *k, uint64_t index, bool is_last,
		  uint64_t epoch, const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t aad[V2_SEG_AAD_LEN];
	struct wcur c;
	int err;

	if (out == NULL || !v2_epoch_valid(epoch))
		return -EINVAL;
	segment2_aad(index, is_last, epoch, aad);
	err = seg2_seal(k, aad, sizeof(aad), pt, len, out + EPOCH_LEN);
	if (err) {
		memset(out, 0, EPOCH_LEN);
		return err;
	}
	wcur_init(&c, out, EPOCH_LEN);
	wcur_u64be(&c, epoch);
	return 0;
}

uint64_t segment2_epoch(const uint8_t *in, size_t in_len)
{
	struct rcur c;

	if (in_len < V2_SEG_OVERHEAD)
		return 0;
	rcur_init(&c, in, in_len);
	return rcur_u64be(&c);
}

int segment2_open(const struct aead_key *k, uint64_t index, bool is_last,
		  const uint8_t *in, size_t in_len, uint64_t *epoch,
		  uint8_t *pt)
{
	uint8_t aad[V2_SEG_AAD_LEN];
	uint64_t e;
	int err;

	*epoch = 0;
	if (in == NULL)
		return -EINVAL;
	if (in_len < V2_SEG_OVERHEAD)
		return -EBADMSG;
	e = segment2_epoch(in, in_len);
	if (!v2_epoch_valid(e)) {
		if (pt && in_len > V2_SEG_OVERHEAD)
			memset(pt, 0, in_len - V2_SEG_OVERHEAD);
		return -EBADMSG;
	}
	segment2_aad(index, is_last, e, aad);
	err = seg2_open(k, aad, sizeof(aad), in + EPOCH_LEN,
			in_len - EPOCH_LEN, pt);
	if (err == 0)
		*epoch = e;
	return err;
}

bool segment2_is_hole(uint32_t seg_size, const uint8_t *in, size_t in_len)
{
	return in != NULL && in_len == (uint64_t)seg_size + V2_SEG_OVERHEAD &&
	       bytes_zero(in, in_len);
}
