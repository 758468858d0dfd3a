/*
 * Bounds-checked reader and writer over a byte buffer (after s2n-tls's
 * "stuffer"): every parser in src/format reads untrusted bytes only through
 * these, so no parser does pointer arithmetic of its own.
 *
 * Errors are sticky: the first read or write that would cross the end sets
 * `err`, writes nothing (reads yield zeros) and every later call is a no-op,
 * so a parser can read a whole structure and check once at the end.
 * Multi-byte integers are big-endian (network order).  Relies on libc only.
 */
#include <string.h>

#include "coffre/format.h"

void rcur_init(struct rcur *c, const void *p, size_t len)
{
	c->p = p;
	c->len = p ? len : 0;
	c->off = 0;
	c->err = false;
}

/* Return a pointer to the next n bytes and advance, or NULL (and set err). */
static const uint8_t *rcur_take(struct rcur *c, size_t n)
{
	const uint8_t *q;

	if (c->err || n > c->len - c->off) {
		c->err = true;
		return NULL;
	}
	q = c->p + c->off;
	c->off += n;
	return q;
}

uint8_t rcur_u8(struct rcur *c)
{
	const uint8_t *q = rcur_take(c, 1);

	return q ? q[0] : 0;
}

uint16_t rcur_u16be(struct rcur *c)
{
	const uint8_t *q = rcur_take(c, 2);

	if (!q)
		return 0;
	return (uint16_t)((unsigned)q[0] << 8 | q[1]);
}

uint32_t rcur_u32be(struct rcur *c)
{
	const uint8_t *q = rcur_take(c, 4);

	if (!q)
		return 0;
	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
	       (uint32_t)q[2] << 8 | (uint32_t)q[3];
}

uint64_t rcur_u64be(struct rcur *c)
{
	const uint8_t *q = rcur_take(c, 8);
	uint64_t v = 0;

	if (!q)
		return 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | q[i];
	return v;
}

void rcur_bytes(struct rcur *c, void *out, size_t n)
{
	const uint8_t *q = rcur_take(c, n);

	if (!n)
		return;
	if (q)
		memcpy(out, q, n);
	else
		memset(out, 0, n);
}

const uint8_t *rcur_view(struct rcur *c, size_t n)
{
	return rcur_take(c, n);
}

bool rcur_done(const struct rcur *c)
{
	return !c->err && c->off == c->len;
}

bool bytes_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

bool rcur_zero(struct rcur *c, size_t n)
{
	const uint8_t *q = rcur_take(c, n);

	return q ? bytes_zero(q, n) : n == 0 && !c->err;
}

void wcur_init(struct wcur *c, void *p, size_t cap)
{
	c->p = p;
	c->cap = p ? cap : 0;
	c->off = 0;
	c->err = false;
}

/* Return a pointer to room for the next n bytes and advance, or NULL. */
static uint8_t *wcur_take(struct wcur *c, size_t n)
{
	uint8_t *q;

	if (c->err || n > c->cap - c->off) {
		c->err = true;
		return NULL;
	}
	q = c->p + c->off;
	c->off += n;
	return q;
}

void wcur_u8(struct wcur *c, uint8_t v)
{
	uint8_t *q = wcur_take(c, 1);

	if (q)
		q[0] = v;
}

void wcur_u16be(struct wcur *c, uint16_t v)
{
	uint8_t *q = wcur_take(c, 2);

	if (!q)
		return;
	q[0] = (uint8_t)(v >> 8);
	q[1] = (uint8_t)v;
}

void wcur_u32be(struct wcur *c, uint32_t v)
{
	uint8_t *q = wcur_take(c, 4);

	if (!q)
		return;
	q[0] = (uint8_t)(v >> 24);
	q[1] = (uint8_t)(v >> 16);
	q[2] = (uint8_t)(v >> 8);
	q[3] = (uint8_t)v;
}

void wcur_u64be(struct wcur *c, uint64_t v)
{
	uint8_t *q = wcur_take(c, 8);

	if (!q)
		return;
	for (int i = 7; i >= 0; i--, v >>= 8)
		q[i] = (uint8_t)v;
}

void wcur_bytes(struct wcur *c, const void *p, size_t n)
{
	uint8_t *q = wcur_take(c, n);

	if (q && n)
		memcpy(q, p, n);
}

void wcur_zero(struct wcur *c, size_t n)
{
	uint8_t *q = wcur_take(c, n);

	if (q && n)
		memset(q, 0, n);
}
