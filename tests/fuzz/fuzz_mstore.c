/*
 * libFuzzer target for the worker's paged manifest loader (mstore.c:
 * mstore_check_file and mstore_load), differential against
 * manifest_parse().  The input is a manifest body; the target appends its
 * HMAC under a fixed key.  Both parsers must accept exactly the same
 * inputs; what they accept must iterate to the same entries in order, and
 * written back by mstore_write() give the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coffre/crypto.h"
#include "coffre/io.h"
#include "coffre/replica.h"
#include "replica/replica_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[32] = "coffre fuzz manifest key 32 byte";

struct walk {
	struct manifest *m;
	size_t n;
};

static int walk_cb(const struct manifest_entry *e, void *arg)
{
	struct walk *w = arg;
	const struct manifest_entry *x = manifest_get(w->m, e->path);

	if (!x || !manifest_entry_equal(x, e))
		abort();
	w->n++;
	return 0;
}

static void same_store(struct mstore *ms, struct manifest *m, const uint8_t *buf,
		       size_t len)
{
	struct walk w = { m, 0 };
	uint8_t *out;
	int fd = memfd_create("out", 0);

	if (mstore_count(ms) != manifest_count(m) ||
	    mstore_foreach(ms, "", walk_cb, &w) != 0 || w.n != manifest_count(m))
		abort();
	if (fd < 0 || mstore_write(ms, KEY, &fd, 1) != 0)
		abort();
	if (!(out = malloc(len)) || io_pread_full(fd, out, len, 0) != (ssize_t)len ||
	    memcmp(out, buf, len) != 0 || lseek(fd, 0, SEEK_END) != (off_t)len)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m = NULL;
	struct mstore *ms = NULL;
	struct manifest_hdr h;
	uint8_t *buf = malloc(size + 32);
	int fd = memfd_create("in", 0), pa, ld = -1;

	if (!buf || fd < 0)
		abort();
	if (size)
		memcpy(buf, data, size);
	hmac_sha256(KEY, 32, buf, size, buf + size);
	if (io_write_full(fd, buf, size + 32) != 0)
		abort();
	pa = manifest_parse(buf, size + 32, KEY, &m);
	if (mstore_check_file(fd, -1, KEY, &h) == 0) {
		if (mstore_new(h.uuid, &ms) != 0)
			abort();
		ld = mstore_load(ms, fd, KEY);    /* takes fd */
		fd = -1;
	}
	if ((pa == 0) != (ld == 0))
		abort();
	if (pa == 0)
		same_store(ms, m, buf, size + 32);
	mstore_free(ms);
	manifest_free(m);
	if (fd >= 0)
		close(fd);
	free(buf);
	return 0;
}
