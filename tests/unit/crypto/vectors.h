/*
 * Test helper: reads the flat vector files made by tests/vectors/convert.py
 * ("# count N" then "tcId result field..." per line, '-' for empty) and
 * decodes hex.  Shared by the crypto unit tests only.
 */
#ifndef COFFRE_TEST_VECTORS_H
#define COFFRE_TEST_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VEC_MAX_FIELDS 16

struct vec_file {
	FILE *f;
	char *line;
	size_t cap;
	long declared;		/* from "# count N" */
	long read;		/* cases returned so far */
};

struct vec_case {
	long tc_id;
	const char *result;	/* "valid", "invalid", "acceptable" */
	size_t nfields;
	const char *field[VEC_MAX_FIELDS];
};

/* Open a converted file in the test build directory; aborts the test on
 * failure. */
void vec_open(struct vec_file *v, const char *name);
/* Next case, or false at end of file. */
bool vec_next(struct vec_file *v, struct vec_case *c);
void vec_close(struct vec_file *v);

/* Decode a hex field ('-' is empty) into a fresh buffer (never NULL, free
 * with free()); *len gets its length.  Aborts on malformed hex. */
uint8_t *hex_alloc(const char *hex, size_t *len);
/* Decode a hex literal into a fixed buffer; returns its length. */
size_t hex_into(const char *hex, uint8_t *out, size_t cap);

bool all_zero(const uint8_t *p, size_t n);

#endif
