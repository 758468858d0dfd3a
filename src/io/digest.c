/*
 * digest.c — the object digest of the manifest (doc/FORMAT-v1.md): XXH3-128
 * of a whole file, canonical big-endian bytes.  The replication worker,
 * `coffrectl verify` and `coffrectl restore` all hash with this one.
 */
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "coffre/io.h"

int io_digest_fd(int fd, struct io_digest *d)
{
	XXH3_state_t *xs = XXH3_createState();
	XXH128_canonical_t can;
	uint64_t off = 0;
	int err = 0;

	if (!xs)
		return -ENOMEM;
	XXH3_128bits_reset(xs);
	for (;;) {
		ssize_t n = io_pread_full(fd, d->buf, d->buflen, off);

		if (n < 0) {
			err = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		if (d->head && off < d->head_len)
			memcpy(d->head + off, d->buf,
			       (size_t)n < d->head_len - off ? (size_t)n :
			       d->head_len - off);
		XXH3_128bits_update(xs, d->buf, (size_t)n);
		if (d->chunk && (err = d->chunk(d->arg, d->buf, (size_t)n, off)) != 0)
			goto out;
		off += (uint64_t)n;
		if ((size_t)n < d->buflen)
			break;
	}
	XXH128_canonicalFromHash(&can, XXH3_128bits_digest(xs));
	memcpy(d->digest, can.digest, sizeof(d->digest));
	d->size = off;
out:
	XXH3_freeState(xs);
	return err;
}
