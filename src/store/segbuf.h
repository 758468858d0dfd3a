/*
 * Private to src/store: per-thread segment buffers (segbuf.c).
 */
#ifndef COFFRE_STORE_SEGBUF_H
#define COFFRE_STORE_SEGBUF_H

#include <stddef.h>
#include <stdint.h>

#include "coffre/crypto.h"
#include "coffre/format.h"
#include "coffre/store.h"

/* A request of STORE_MAX_REQUEST bytes at any offset touches at most
 * STORE_MAX_REQUEST / seg_size + 1 segments: room for two more edge
 * segments at the largest segment size, and 28 bytes each at the smallest. */
#define SEGBUF_PLAIN_LEN ((size_t)STORE_MAX_REQUEST + 2u * COFFRE_SEG_MAX)
#define SEGBUF_MAX_SEGS (SEGBUF_PLAIN_LEN / COFFRE_SEG_MIN)
#define SEGBUF_CIPHER_LEN \
	(SEGBUF_PLAIN_LEN + SEGBUF_MAX_SEGS * (size_t)COFFRE_SEG_OVERHEAD)

struct segbuf {
	uint8_t *plain;        /* SEGBUF_PLAIN_LEN: a read's plaintext; a
				* write's two edge slots at 0 and
				* COFFRE_SEG_MAX */
	uint8_t *cipher;       /* SEGBUF_CIPHER_LEN: its stored segments */
	uint8_t *edge_plain;   /* COFFRE_SEG_MAX: one segment outside the */
	uint8_t *edge_cipher;  /* request (old last one, residue repair) */
};

/* This thread's buffers, allocated and pre-faulted on first use and freed
 * (plaintext wiped) at thread exit.  Return: 0 or -ENOMEM. */
int segbuf_get(struct segbuf **out);

#endif
