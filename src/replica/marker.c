/*
 * The bucket marker `.coffre.bucket` (24 bytes: "CFRB", version 1, three
 * zero bytes, volume uuid).  The worker writes nothing to a bucket
 * directory without the matching marker: an unmounted s3fs/rclone mount
 * point is an empty local directory, and filling / with replicas is an
 * outage, not a success (DESIGN §6).  Parsed through the bounded cursor of
 * src/format.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffre/format.h"
#include "coffre/io.h"
#include "coffre/replica.h"
#include "replica_private.h"

int bucket_marker_parse(const uint8_t *buf, size_t len, uint8_t uuid[COFFRE_ID_LEN])
{
	struct rcur c;
	uint8_t magic[4], res[3];
	uint8_t version;

	memset(uuid, 0, COFFRE_ID_LEN);
	if (len != COFFRE_BUCKET_MARKER_LEN)
		return -EINVAL;
	rcur_init(&c, buf, len);
	rcur_bytes(&c, magic, 4);
	version = rcur_u8(&c);
	rcur_bytes(&c, res, 3);
	rcur_bytes(&c, uuid, COFFRE_ID_LEN);
	if (!rcur_done(&c))
		return -EINVAL;
	if (memcmp(magic, COFFRE_BUCKET_MAGIC, 4) != 0)
		goto bad_magic;
	if (version != 1) {
		memset(uuid, 0, COFFRE_ID_LEN);
		return -EPROTONOSUPPORT;
	}
	if (res[0] | res[1] | res[2]) {
		memset(uuid, 0, COFFRE_ID_LEN);
		return -EINVAL;
	}
	return 0;
bad_magic:
	memset(uuid, 0, COFFRE_ID_LEN);
	return -EPROTO;
}

void bucket_marker_write(const uint8_t uuid[COFFRE_ID_LEN],
			 uint8_t out[COFFRE_BUCKET_MARKER_LEN])
{
	struct wcur c;

	wcur_init(&c, out, COFFRE_BUCKET_MARKER_LEN);
	wcur_bytes(&c, COFFRE_BUCKET_MAGIC, 4);
	wcur_u8(&c, 1);
	wcur_u8(&c, 0);
	wcur_u16be(&c, 0);
	wcur_bytes(&c, uuid, COFFRE_ID_LEN);
}

int replica_check_marker(int bucket_fd, const uint8_t volume_uuid[COFFRE_ID_LEN])
{
	uint8_t *buf = NULL, uuid[COFFRE_ID_LEN];
	size_t len;
	int err;

	err = io_read_alloc(bucket_fd, COFFRE_BUCKET_MARKER, 4096, &buf, &len);
	if (err == -EFBIG)
		err = -EINVAL;
	if (err)
		return err;
	err = bucket_marker_parse(buf, len, uuid);
	free(buf);
	if (err)
		return -EINVAL;
	return memcmp(uuid, volume_uuid, COFFRE_ID_LEN) == 0 ? 0 : -EXDEV;
}

int replica_init_bucket(const char *bucket_dir, const uint8_t volume_uuid[COFFRE_ID_LEN],
			char *errbuf, size_t errlen)
{
	uint8_t marker[COFFRE_BUCKET_MARKER_LEN];
	struct dirent *de;
	DIR *d = NULL;
	int fd, err = 0;

	fd = open(bucket_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "bucket %s: %s", bucket_dir, strerror(-err));
		return err;
	}
	err = replica_check_marker(fd, volume_uuid);
	if (err == 0)
		goto out;                      /* already this volume's bucket */
	d = fdopendir(dup(fd));
	if (!d) {
		err = -errno;
		snprintf(errbuf, errlen, "bucket %s: %s", bucket_dir, strerror(-err));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		err = -ENOTEMPTY;
		snprintf(errbuf, errlen, "bucket %s is not empty (%s)%s", bucket_dir,
			 de->d_name, strcmp(de->d_name, COFFRE_BUCKET_MARKER) == 0 ?
			 ": it belongs to another volume" : "");
		goto out;
	}
	bucket_marker_write(volume_uuid, marker);
	err = atomic_put(fd, COFFRE_BUCKET_MARKER, marker, sizeof(marker));
	if (err)
		snprintf(errbuf, errlen, "bucket %s: cannot write %s: %s", bucket_dir,
			 COFFRE_BUCKET_MARKER, strerror(-err));
out:
	if (d)
		closedir(d);
	close(fd);
	return err;
}
