/*
 * Test helper: reader for the flat vector files written by
 * tests/vectors/convert.py from Project Wycheproof JSON, and hex decoding.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

#ifndef COFFRE_VECTOR_DIR
#error "COFFRE_VECTOR_DIR must name the directory of the converted vectors"
#endif

void vec_open(struct vec_file *v, const char *name)
{
	char path[4096];
	ssize_t n;

	memset(v, 0, sizeof(*v));
	v->declared = -1;
	snprintf(path, sizeof(path), "%s/%s", COFFRE_VECTOR_DIR, name);
	v->f = fopen(path, "r");
	cr_assert_not_null(v->f, "cannot open vector file %s", path);
	n = getline(&v->line, &v->cap, v->f);
	cr_assert(n > 0 && sscanf(v->line, "# count %ld", &v->declared) == 1,
		  "%s: missing '# count' header", path);
	cr_assert_gt(v->declared, 0);
}

bool vec_next(struct vec_file *v, struct vec_case *c)
{
	char *save = NULL, *tok, *end;
	ssize_t n;

	n = getline(&v->line, &v->cap, v->f);
	if (n <= 0)
		return false;
	memset(c, 0, sizeof(*c));
	tok = strtok_r(v->line, " \n", &save);
	cr_assert_not_null(tok, "empty vector line");
	c->tc_id = strtol(tok, &end, 10);
	cr_assert(*end == '\0', "bad tcId '%s'", tok);
	c->result = strtok_r(NULL, " \n", &save);
	cr_assert_not_null(c->result, "tcId %ld: no result", c->tc_id);
	while ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
		cr_assert_lt(c->nfields, VEC_MAX_FIELDS);
		c->field[c->nfields++] = tok;
	}
	v->read++;
	return true;
}

void vec_close(struct vec_file *v)
{
	cr_expect_eq(v->read, v->declared, "ran %ld of %ld vector cases",
		     v->read, v->declared);
	free(v->line);
	if (v->f != NULL)
		fclose(v->f);
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t hex_into(const char *hex, uint8_t *out, size_t cap)
{
	size_t n;
	int hi, lo;

	if (strcmp(hex, "-") == 0)
		return 0;
	n = strlen(hex);
	cr_assert(n % 2 == 0, "odd hex length: %s", hex);
	cr_assert_leq(n / 2, cap, "hex too long for buffer");
	for (size_t i = 0; i < n / 2; i++) {
		hi = hex_nibble(hex[2 * i]);
		lo = hex_nibble(hex[2 * i + 1]);
		cr_assert(hi >= 0 && lo >= 0, "bad hex: %s", hex);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n / 2;
}

uint8_t *hex_alloc(const char *hex, size_t *len)
{
	size_t cap = strlen(hex) / 2 + 1;
	uint8_t *p = malloc(cap);

	cr_assert_not_null(p);
	*len = hex_into(hex, p, cap);
	return p;
}

bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}
