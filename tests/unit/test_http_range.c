/* Tests for net/http_range.c: the Range header against a file size.
 *
 * Inputs are handed over as heap copies of exactly their length, without a
 * NUL, so ASan catches any read past the end. */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_range.h"

#include "unit_util.h"

/* ---------------------------------------------------------------- ranges */

static const char *range_name(enum http_range_result r)
{
	switch (r) {
	case HTTP_RANGE_NONE:
		return "NONE";
	case HTTP_RANGE_OK:
		return "OK";
	case HTTP_RANGE_UNSATISFIABLE:
		return "UNSATISFIABLE";
	case HTTP_RANGE_IGNORE:
		return "IGNORE";
	}
	return "?";
}

#define SENTINEL UINT64_C(0xDEADBEEFDEADBEEF)

static enum http_range_result range(const char *v, size_t len, uint64_t size, uint64_t *f,
				    uint64_t *l)
{
	*f = *l = SENTINEL;
	char *copy = dup_exact(v, len);
	enum http_range_result r = http_range_parse(copy, len, size, f, l);
	free(copy);
	if (r == HTTP_RANGE_OK) {
		cr_assert(*f <= *l && *l < size, "%s: bad range %" PRIu64 "-%" PRIu64 " of %" PRIu64,
			  esc(v, len), *f, *l, size);
	} else {
		cr_assert(*f == SENTINEL && *l == SENTINEL, "%s: outputs written on %s",
			  esc(v, len), range_name(r));
	}
	return r;
}

struct range_case {
	const char *v;
	size_t len;
	uint64_t size;
	enum http_range_result want;
	uint64_t first, last;
};

#define R_OK(s, size, a, b) {L(s), size, HTTP_RANGE_OK, a, b}
#define R_416(s, size) {L(s), size, HTTP_RANGE_UNSATISFIABLE, 0, 0}
#define R_IGN(s, size) {L(s), size, HTTP_RANGE_IGNORE, 0, 0}

static const struct range_case range_cases[] = {
	/* a-b */
	R_OK("bytes=0-0", 10, 0, 0),
	R_OK("bytes=0-9", 10, 0, 9),
	R_OK("bytes=2-5", 10, 2, 5),
	R_OK("bytes=9-9", 10, 9, 9),
	R_OK("bytes=0-10", 10, 0, 9),
	R_OK("bytes=3-100", 10, 3, 9),
	R_OK("bytes=0-18446744073709551615", 10, 0, 9),
	R_OK("bytes=007-0009", 10, 7, 9),
	R_416("bytes=10-10", 10),
	R_416("bytes=10-20", 10),
	R_416("bytes=18446744073709551615-18446744073709551615", 10),
	R_IGN("bytes=5-2", 10),
	R_IGN("bytes=5-2", 3), /* invalid beats unsatisfiable */
	R_IGN("bytes=1-0", 0),
	/* a- */
	R_OK("bytes=0-", 10, 0, 9),
	R_OK("bytes=5-", 10, 5, 9),
	R_OK("bytes=9-", 10, 9, 9),
	R_416("bytes=10-", 10),
	R_416("bytes=11-", 10),
	R_416("bytes=18446744073709551615-", UINT64_MAX),
	R_OK("bytes=18446744073709551614-", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1),
	/* -n */
	R_OK("bytes=-1", 10, 9, 9),
	R_OK("bytes=-3", 10, 7, 9),
	R_OK("bytes=-10", 10, 0, 9),
	R_OK("bytes=-11", 10, 0, 9),
	R_OK("bytes=-18446744073709551615", 10, 0, 9),
	R_OK("bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1),
	R_OK("bytes=-1", 1, 0, 0),
	R_416("bytes=-0", 10),
	R_416("bytes=-000", 10),
	R_416("bytes=-0", 0),
	/* Empty file: every valid range is unsatisfiable. */
	R_416("bytes=0-0", 0),
	R_416("bytes=0-", 0),
	R_416("bytes=-5", 0),
	R_416("bytes=0-100", 0),
	R_IGN("bytes=0-1,2-3", 0),
	R_IGN("bytes=x", 0),
	/* Several ranges: the whole file, even when each would be fine. */
	R_IGN("bytes=0-1,5-6", 10),
	R_IGN("bytes=0-1, 5-6", 10),
	R_IGN("bytes=0-0,0-0", 10),
	R_IGN("bytes=-1,-2", 10),
	R_IGN("bytes=0-1,x", 10),
	R_IGN("bytes=20-30,40-50", 10),
	/* Empty list elements are skipped. */
	R_OK("bytes=0-1,", 10, 0, 1),
	R_OK("bytes=,0-1", 10, 0, 1),
	R_OK("bytes=, ,0-1 , ,", 10, 0, 1),
	R_IGN("bytes=,", 10),
	R_IGN("bytes= , ", 10),
	/* OWS around the value, after '=', around commas. */
	R_OK(" bytes=0-1", 10, 0, 1),
	R_OK("bytes=0-1 ", 10, 0, 1),
	R_OK("\t bytes=0-1 \t", 10, 0, 1),
	R_OK("bytes= 0-1", 10, 0, 1),
	R_OK("bytes=\t-2", 10, 8, 9),
	R_IGN("bytes =0-1", 10),
	R_IGN("bytes= 0 -1", 10),
	R_IGN("bytes=0 -1", 10),
	R_IGN("bytes=0- 1", 10),
	R_IGN("bytes=- 1", 10),
	R_IGN("bytes=0-1\r", 10),
	R_IGN("bytes=0-1\n", 10),
	/* Unit: case-insensitive "bytes", nothing else. */
	R_OK("Bytes=0-1", 10, 0, 1),
	R_OK("BYTES=0-1", 10, 0, 1),
	R_OK("bYtEs=0-1", 10, 0, 1),
	R_IGN("items=0-1", 10),
	R_IGN("byte=0-1", 10),
	R_IGN("bytesx=0-1", 10),
	R_IGN("xbytes=0-1", 10),
	R_IGN("bytes:0-1", 10),
	R_IGN("bytes", 10),
	R_IGN("=0-1", 10),
	R_IGN("0-1", 10),
	R_IGN("", 10),
	R_IGN("   ", 10),
	/* Malformed range-spec. */
	R_IGN("bytes=", 10),
	R_IGN("bytes=-", 10),
	R_IGN("bytes=--1", 10),
	R_IGN("bytes=1--2", 10),
	R_IGN("bytes=+1-2", 10),
	R_IGN("bytes=1-+2", 10),
	R_IGN("bytes=-+2", 10),
	R_IGN("bytes=a-b", 10),
	R_IGN("bytes=1", 10),
	R_IGN("bytes=1-2-3", 10),
	R_IGN("bytes=0x10-20", 10),
	R_IGN("bytes=1e2-", 10),
	R_IGN("bytes=1.5-2", 10),
	R_IGN("bytes=0-1;", 10),
	R_IGN("bytes==0-1", 10),
	R_IGN("bytes=0-1\0", 10),
	R_IGN("bytes=\0" "0-1", 10),
	/* Numbers beyond 2^64 - 1. */
	R_IGN("bytes=18446744073709551616-", 10),
	R_IGN("bytes=0-18446744073709551616", 10),
	R_IGN("bytes=-18446744073709551616", 10),
	R_IGN("bytes=99999999999999999999999-", 10),
	R_IGN("bytes=0-99999999999999999999999999999999999999", 10),
};

Test(range, table)
{
	for (size_t i = 0; i < N(range_cases); i++) {
		const struct range_case *c = &range_cases[i];
		uint64_t f, l;
		enum http_range_result r = range(c->v, c->len, c->size, &f, &l);
		cr_expect_eq(r, c->want, "\"%s\" size %" PRIu64 ": got %s, want %s",
			     esc(c->v, c->len), c->size, range_name(r), range_name(c->want));
		if (r == HTTP_RANGE_OK && c->want == HTTP_RANGE_OK)
			cr_expect(f == c->first && l == c->last,
				  "\"%s\" size %" PRIu64 ": got %" PRIu64 "-%" PRIu64
				  ", want %" PRIu64 "-%" PRIu64,
				  esc(c->v, c->len), c->size, f, l, c->first, c->last);
	}
}

Test(range, none_without_header)
{
	uint64_t f = SENTINEL, l = SENTINEL;
	cr_assert_eq(http_range_parse(NULL, 0, 10, &f, &l), HTTP_RANGE_NONE);
	cr_assert(f == SENTINEL && l == SENTINEL);
}

Test(range, length_bounds_input)
{
	uint64_t f, l;
	cr_assert_eq(range("bytes=0-12345", 9, 100, &f, &l), HTTP_RANGE_OK);
	cr_assert(f == 0 && l == 1);
	cr_assert_eq(range("bytes=0-1,2-3", 9, 100, &f, &l), HTTP_RANGE_OK);
	cr_assert_eq(range("bytes=0-1", 5, 100, &f, &l), HTTP_RANGE_IGNORE);
}

/* Every a-b, a- and -n over small sizes against the rules written out. */
Test(range, exhaustive_small)
{
	char v[64];
	uint64_t f, l;
	for (uint64_t size = 0; size < 12; size++) {
		for (uint64_t a = 0; a < 16; a++) {
			for (uint64_t b = 0; b < 16; b++) {
				int n = snprintf(v, sizeof(v), "bytes=%" PRIu64 "-%" PRIu64, a, b);
				enum http_range_result r = range(v, (size_t)n, size, &f, &l);
				if (a > b)
					cr_assert_eq(r, HTTP_RANGE_IGNORE, "%s/%" PRIu64, v, size);
				else if (a >= size)
					cr_assert_eq(r, HTTP_RANGE_UNSATISFIABLE, "%s/%" PRIu64, v,
						     size);
				else
					cr_assert(r == HTTP_RANGE_OK && f == a &&
							  l == (b < size ? b : size - 1),
						  "%s/%" PRIu64, v, size);
			}
			int n = snprintf(v, sizeof(v), "bytes=%" PRIu64 "-", a);
			enum http_range_result r = range(v, (size_t)n, size, &f, &l);
			if (a >= size)
				cr_assert_eq(r, HTTP_RANGE_UNSATISFIABLE, "%s/%" PRIu64, v, size);
			else
				cr_assert(r == HTTP_RANGE_OK && f == a && l == size - 1,
					  "%s/%" PRIu64, v, size);
			n = snprintf(v, sizeof(v), "bytes=-%" PRIu64, a);
			r = range(v, (size_t)n, size, &f, &l);
			if (a == 0 || size == 0)
				cr_assert_eq(r, HTTP_RANGE_UNSATISFIABLE, "%s/%" PRIu64, v, size);
			else
				cr_assert(r == HTTP_RANGE_OK && f == (a >= size ? 0 : size - a) &&
						  l == size - 1,
					  "%s/%" PRIu64, v, size);
		}
	}
}
