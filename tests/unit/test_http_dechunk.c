/* Tests for http_chunked_decode (net/http_chunked.c, declared in
 * net/http_upstream.h): the proxy's decoder of an upstream's chunked body
 * for an HTTP/1.0 client, fed at every split point, with extensions,
 * trailers, malformed framing and long lines (the skipper it shares its
 * machine with: test_http_chunked.c). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"
#include "net/http_upstream.h"

#include "unit_util.h"

/* ---- chunked decoding ------------------------------------------------------ */

#define NEXT "HTTP/1.1 200 OK\r\n"

struct dechunk_case {
	const char *name;
	const char *raw; /* the body, then NEXT */
	const char *data;
};

static const struct dechunk_case dechunk_cases[] = {
	{"single", "5\r\nhello\r\n0\r\n\r\n" NEXT, "hello"},
	{"empty", "0\r\n\r\n" NEXT, ""},
	{"extensions", "5;name=value;x\r\nhello\r\n6 ; e=\"q;\"\r\n world\r\n0;last\r\n\r\n" NEXT,
	 "hello world"},
	{"trailers", "3\r\nabc\r\n0\r\nChecksum: xyz\r\nX-T: 1\r\n\r\n" NEXT, "abc"},
	{"LF only", "3\nabc\n0\nT: v\n\n" NEXT, "abc"},
	{"hex case", "000A\r\n0123456789\r\nf\r\n0123456789abcde\r\n0000\r\n\r\n" NEXT,
	 "01234567890123456789abcde"},
	{"data looks like framing", "5\r\n\r\n0\r\n\r\n0\r\n\r\n" NEXT, "\r\n0\r\n"},
};

/* Decodes buf[0..len) fed in pieces of `step` bytes (0: two parts split at
 * `at`); returns the bytes consumed, the data in data[]. */
static ssize_t dechunk(const char *buf, size_t len, size_t step, size_t at, char *data,
		       size_t *dlen, bool *done)
{
	struct http_chunked c;
	http_chunked_init(&c);
	size_t off = 0;
	*dlen = 0;
	*done = false;
	while (off < len && !*done) {
		size_t n = step ? step : (off < at ? at - off : len - off);
		if (n > len - off)
			n = len - off;
		char *piece = dup_exact(buf + off, n);
		char *out = malloc(n ? n : 1); /* at most n bytes are written */
		size_t got = 9999;
		ssize_t k = http_chunked_decode(&c, piece, n, out, &got, done);
		free(piece);
		if (k < 0) {
			free(out);
			return -1;
		}
		cr_assert_leq(got, (size_t)k);
		memcpy(data + *dlen, out, got);
		free(out);
		*dlen += got;
		off += (size_t)k;
		cr_assert((size_t)k == n || *done, "consumed %zd of %zu without being done", k, n);
		if (n == 0)
			break;
	}
	return (ssize_t)off;
}

Test(http_dechunk, every_split)
{
	for (size_t i = 0; i < N(dechunk_cases); i++) {
		const struct dechunk_case *c = &dechunk_cases[i];
		size_t len = strlen(c->raw), body = len - strlen(NEXT);
		char data[256];
		size_t dlen;
		bool done;
		for (size_t step = 1; step <= len; step++) {
			ssize_t k = dechunk(c->raw, len, step, 0, data, &dlen, &done);
			cr_assert_eq(k, (ssize_t)body, "%s step %zu: %zd", c->name, step, k);
			cr_assert(done);
			cr_assert(dlen == strlen(c->data) && !memcmp(data, c->data, dlen),
				  "%s step %zu: '%s'", c->name, step, esc(data, dlen));
		}
		for (size_t at = 0; at <= len; at++) {
			ssize_t k = dechunk(c->raw, len, 0, at, data, &dlen, &done);
			cr_assert_eq(k, (ssize_t)body, "%s at %zu: %zd", c->name, at, k);
			cr_assert(dlen == strlen(c->data) && !memcmp(data, c->data, dlen),
				  "%s at %zu", c->name, at);
		}
	}
}

Test(http_dechunk, malformed)
{
	static const char *bad[] = {
		"x\r\n", "5\r\nhelloX", "5\r\nhello\r0", "5 x\r\n", "\r\n", "5\rx",
		"fffffffffffffffff\r\n", "0\r\nT: v\rx",
	};
	for (size_t i = 0; i < N(bad); i++) {
		size_t len = strlen(bad[i]);
		char data[64];
		size_t dlen;
		bool done;
		for (size_t step = 1; step <= len; step++)
			cr_assert_eq(dechunk(bad[i], len, step, 0, data, &dlen, &done), -1,
				     "case %zu step %zu", i, step);
		/* An error sticks. */
		struct http_chunked c;
		http_chunked_init(&c);
		size_t got;
		cr_assert_eq(http_chunked_decode(&c, bad[i], len, data, &got, &done), -1);
		cr_assert_eq(http_chunked_decode(&c, "0\r\n\r\n", 5, data, &got, &done), -1);
	}
	/* Size and trailer lines over 4 KiB. */
	static char big[5000];
	memset(big, '0', sizeof(big));
	struct http_chunked c;
	http_chunked_init(&c);
	char *out = malloc(sizeof(big));
	size_t got;
	bool done;
	cr_assert_eq(http_chunked_decode(&c, big, sizeof(big), out, &got, &done), -1);
	memcpy(big, "0\r\nT: ", 6);
	memset(big + 6, 'v', sizeof(big) - 6);
	http_chunked_init(&c);
	cr_assert_eq(http_chunked_decode(&c, big, sizeof(big), out, &got, &done), -1);
	free(out);
}

/* A large chunk copies through whole, in any piece size. */
Test(http_dechunk, large)
{
	enum { SIZE = 100000 };
	char *raw = malloc(SIZE + 64), *data = malloc(SIZE);
	int k = sprintf(raw, "%x\r\n", SIZE);
	for (int i = 0; i < SIZE; i++)
		raw[k + i] = (char)(i * 7);
	memcpy(raw + k + SIZE, "\r\n0\r\n\r\n", 7);
	size_t len = (size_t)k + SIZE + 7, dlen;
	bool done;
	static const size_t steps[] = {1, 7, 4096, 65536, 1 << 20};
	for (size_t s = 0; s < N(steps); s++) {
		cr_assert_eq(dechunk(raw, len, steps[s], 0, data, &dlen, &done), (ssize_t)len);
		cr_assert(done);
		cr_assert_eq(dlen, SIZE);
		cr_assert(memcmp(data, raw + k, SIZE) == 0);
	}
	free(raw);
	free(data);
}
