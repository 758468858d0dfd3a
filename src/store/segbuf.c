/*
 * Per-thread buffers for the store's data path (DESIGN §5, "No allocation
 * in the data path").  Each thread gets, on its first request, one block
 * holding a plaintext buffer and a ciphertext buffer big enough for
 * STORE_MAX_REQUEST bytes at any offset, plus one spare segment of each.
 * The block is touched at allocation so later requests never page-fault
 * on it, and it lives until the thread exits, when a pthread_key
 * destructor wipes the plaintext halves and frees it.
 *
 * Relies on pthreads and OpenSSL's OPENSSL_cleanse.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "segbuf.h"

#define SEGBUF_EDGE_PLAIN_LEN ((size_t)COFFRE_SEG_MAX)
#define SEGBUF_EDGE_CIPHER_LEN ((size_t)COFFRE_SEG_MAX + COFFRE_SEG_OVERHEAD)
#define SEGBUF_TOTAL (sizeof(struct segbuf) + SEGBUF_PLAIN_LEN + \
		      SEGBUF_CIPHER_LEN + SEGBUF_EDGE_PLAIN_LEN + \
		      SEGBUF_EDGE_CIPHER_LEN)

static pthread_once_t segbuf_once = PTHREAD_ONCE_INIT;
static pthread_key_t segbuf_key;
static bool segbuf_key_ok;
static _Thread_local struct segbuf *segbuf_self;

static void segbuf_free(void *arg)
{
	struct segbuf *b = arg;

	if (b == NULL)
		return;
	OPENSSL_cleanse(b->plain, SEGBUF_PLAIN_LEN);
	OPENSSL_cleanse(b->edge_plain, SEGBUF_EDGE_PLAIN_LEN);
	free(b);
	segbuf_self = NULL;
}

static void segbuf_global_init(void)
{
	segbuf_key_ok = pthread_key_create(&segbuf_key, segbuf_free) == 0;
}

int segbuf_get(struct segbuf **out)
{
	struct segbuf *b;
	uint8_t *p;

	*out = segbuf_self;
	if (segbuf_self != NULL)
		return 0;
	pthread_once(&segbuf_once, segbuf_global_init);
	if (!segbuf_key_ok)
		return -ENOMEM;
	b = malloc(SEGBUF_TOTAL);
	if (b == NULL)
		return -ENOMEM;
	/* Pre-fault every page now rather than on the first big request. */
	memset(b, 0, SEGBUF_TOTAL);
	p = (uint8_t *)(b + 1);
	b->plain = p;
	p += SEGBUF_PLAIN_LEN;
	b->cipher = p;
	p += SEGBUF_CIPHER_LEN;
	b->edge_plain = p;
	p += SEGBUF_EDGE_PLAIN_LEN;
	b->edge_cipher = p;
	if (pthread_setspecific(segbuf_key, b) != 0) {
		free(b);
		return -ENOMEM;
	}
	segbuf_self = b;
	*out = b;
	return 0;
}
