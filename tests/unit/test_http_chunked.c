/* Tests for net/http_parse.c's chunked-body skipper under arbitrary feeding
 * (request heads: test_http_parse.c). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

#include "unit_util.h"

/* ---- chunked ----------------------------------------------------------- */

#define NEXT_REQ "GET /next HTTP/1.1\r\n"

struct chunk_case {
	const char *name;
	const char *raw; /* body followed by NEXT_REQ */
	size_t len;
	uint64_t decoded;
};

static const struct chunk_case chunk_cases[] = {
	{"single", L("5\r\nhello\r\n0\r\n\r\n" NEXT_REQ), 5},
	{"empty", L("0\r\n\r\n" NEXT_REQ), 0},
	{"extensions", L("5;name=value;x\r\nhello\r\n6 ; e=\"q;\"\r\n world\r\n0;last\r\n\r\n" NEXT_REQ), 11},
	{"trailers", L("3\r\nabc\r\n0\r\nChecksum: xyz\r\nX-T: 1\r\n\r\n" NEXT_REQ), 3},
	{"LF only", L("3\nabc\n0\nT: v\n\n" NEXT_REQ), 3},
	{"hex case and zeros", L("000A\r\n0123456789\r\nf\r\n0123456789abcde\r\n0000\r\n\r\n" NEXT_REQ), 25},
	{"data looks like framing", L("5\r\n\r\n0\r\n\r\n0\r\n\r\n" NEXT_REQ), 5},
	{"many small chunks", L("1\r\na\r\n1\r\nb\r\n2\r\ncd\r\n1\r\ne\r\n0\r\n\r\n" NEXT_REQ), 5},
};

static void chunk_expect(const char *what, const char *buf, size_t len, uint64_t decoded, size_t body,
			 bool splits)
{
	struct http_chunked c;
	bool done;
	size_t consumed = 0;

	/* Whole. */
	http_chunked_init(&c);
	ssize_t n = http_chunked_skip(&c, buf, len, UINT64_MAX, &done);
	cr_assert_eq(n, (ssize_t)body, "%s whole: %zd want %zu", what, n, body);
	cr_assert(done, "%s whole: not done", what);
	cr_assert_eq(c.total, decoded, "%s whole: total", what);
	n = http_chunked_skip(&c, buf + body, len - body, UINT64_MAX, &done);
	cr_assert_eq(n, 0, "%s: consumed after done", what);
	cr_assert(done);

	/* One byte at a time. */
	http_chunked_init(&c);
	done = false;
	for (size_t i = 0; i < len && !done; i++) {
		n = http_chunked_skip(&c, buf + i, 1, UINT64_MAX, &done);
		cr_assert_eq(n, 1, "%s bytewise: byte %zu gave %zd", what, i, n);
		consumed++;
	}
	cr_assert(done, "%s bytewise: not done", what);
	cr_assert_eq(consumed, body, "%s bytewise: consumed %zu", what, consumed);
	n = http_chunked_skip(&c, buf + body, 1, UINT64_MAX, &done);
	cr_assert_eq(n, 0);

	/* Every split into two parts. */
	for (size_t k = 0; splits && k <= len; k++) {
		http_chunked_init(&c);
		ssize_t a = http_chunked_skip(&c, buf, k, UINT64_MAX, &done);
		cr_assert_geq(a, 0, "%s split %zu", what, k);
		if (done) {
			cr_assert_eq(a, (ssize_t)body, "%s split %zu: first part", what, k);
			continue;
		}
		cr_assert_eq(a, (ssize_t)k, "%s split %zu: partial consume", what, k);
		ssize_t b = http_chunked_skip(&c, buf + k, len - k, UINT64_MAX, &done);
		cr_assert(done, "%s split %zu: not done", what, k);
		cr_assert_eq((size_t)(a + b), body, "%s split %zu: total %zd", what, k, a + b);
		cr_assert_eq(c.total, decoded, "%s split %zu", what, k);
	}
}

Test(http_chunked, valid_bodies)
{
	for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
		const struct chunk_case *cc = &chunk_cases[i];
		char *buf = malloc(cc->len);
		memcpy(buf, cc->raw, cc->len);
		chunk_expect(cc->name, buf, cc->len, cc->decoded, cc->len - strlen(NEXT_REQ), true);
		free(buf);
	}
}

Test(http_chunked, large_chunk_and_limits)
{
	struct sbuf b = {0};
	sb_puts(&b, "1000;ext\r\n");
	sb_rep(&b, 'd', 0x1000);
	sb_puts(&b, "\r\n0\r\n\r\n");
	size_t body = b.len;
	sb_puts(&b, NEXT_REQ);
	chunk_expect("4 KiB chunk", b.p, b.len, 0x1000, body, true);
	free(b.p);

	/* Size line of exactly 4096 bytes is fine. */
	b = (struct sbuf){0};
	sb_puts(&b, "1;");
	sb_rep(&b, 'e', 4094);
	sb_puts(&b, "\r\nx\r\n0\r\n\r\n");
	struct http_chunked c;
	bool done;
	http_chunked_init(&c);
	cr_assert_eq(http_chunked_skip(&c, b.p, b.len, 100, &done), (ssize_t)b.len);
	cr_assert(done);
	free(b.p);

	/* 64 trailer lines are fine. */
	b = (struct sbuf){0};
	sb_puts(&b, "0\r\n");
	for (int i = 0; i < 64; i++)
		sb_puts(&b, "T: v\r\n");
	sb_puts(&b, "\r\n");
	http_chunked_init(&c);
	cr_assert_eq(http_chunked_skip(&c, b.p, b.len, 0, &done), (ssize_t)b.len);
	cr_assert(done);
	free(b.p);

	/* The line bound is per line: long trailers add up past 4 KiB. */
	b = (struct sbuf){0};
	sb_puts(&b, "1;");
	sb_rep(&b, 'e', 3000);
	sb_puts(&b, "\r\nx\r\n0;");
	sb_rep(&b, 'e', 3000);
	sb_puts(&b, "\r\n");
	for (int i = 0; i < 10; i++) {
		sb_puts(&b, "X-T: ");
		sb_rep(&b, 't', 3000);
		sb_puts(&b, "\r\n");
	}
	sb_puts(&b, "\r\n");
	body = b.len;
	sb_puts(&b, NEXT_REQ);
	chunk_expect("long lines", b.p, b.len, 1, body, false);
	free(b.p);

	/* max_body is inclusive. */
	static const char six[] = "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
	http_chunked_init(&c);
	cr_assert_eq(http_chunked_skip(&c, six, sizeof(six) - 1, 6, &done), (ssize_t)sizeof(six) - 1);
	cr_assert(done);
	cr_assert_eq(c.total, 6);
}

/* Expects `status` both when fed whole and when fed one byte at a time. */
static void chunk_bad(const char *what, const char *raw, size_t len, uint64_t max, ssize_t status)
{
	struct http_chunked c;
	bool done = false;
	http_chunked_init(&c);
	ssize_t n = http_chunked_skip(&c, raw, len, max, &done);
	cr_assert_eq(n, status, "%s whole: %zd", what, n);
	cr_assert(!done);
	n = http_chunked_skip(&c, L("0\r\n\r\n"), max, &done);
	cr_assert_eq(n, status, "%s: error must stick, got %zd", what, n);

	http_chunked_init(&c);
	n = 1;
	for (size_t i = 0; i < len && n == 1; i++)
		n = http_chunked_skip(&c, raw + i, 1, max, &done);
	cr_assert_eq(n, status, "%s bytewise: %zd", what, n);
}

Test(http_chunked, malformed)
{
	static const struct {
		const char *name, *raw;
		size_t len;
		uint64_t max;
		ssize_t status;
	} t[] = {
		{"bad hex", L("g\r\nx\r\n0\r\n\r\n"), 100, -400},
		{"hex then junk", L("5x\r\nhello\r\n0\r\n\r\n"), 100, -400},
		{"0x prefix", L("0x5\r\nhello\r\n"), 100, -400},
		{"empty size line", L("\r\n5\r\nhello\r\n"), 100, -400},
		{"leading space", L(" 5\r\nhello\r\n"), 100, -400},
		{"negative", L("-5\r\nhello\r\n"), 100, -400},
		{"space without ext", L("5 \r\nhello\r\n0\r\n\r\n"), 100, -400},
		{"bare CR in size line", L("5\rhello\r\n"), 100, -400},
		{"bare CR in ext", L("5;a\rb\r\nhello\r\n"), 100, -400},
		{"size overflow", L("10000000000000000\r\n"), UINT64_MAX, -400},
		{"size overflow 17 F", L("FFFFFFFFFFFFFFFFF\r\n"), UINT64_MAX, -400},
		{"missing CRLF after data", L("5\r\nhelloX\r\n0\r\n\r\n"), 100, -400},
		{"junk instead of CRLF after data", L("3\r\nabcX0\r\n\r\n"), 100, -400},
		{"CR without LF after data", L("5\r\nhello\rX0\r\n\r\n"), 100, -400},
		{"bare CR in trailer", L("0\r\nT: a\rb\r\n\r\n"), 100, -400},
		{"bare CR at end", L("0\r\n\rX"), 100, -400},
		{"CR CR LF after size", L("5\r\r\nhello\r\n"), 100, -400},
		{"CR CR LF after data", L("5\r\nhello\r\r\n0\r\n\r\n"), 100, -400},
		{"CR CR LF in trailer", L("0\r\nT: v\r\r\n\r\n"), 100, -400},
		{"CR CR LF at end", L("0\r\n\r\r\n"), 100, -400},
		{"over max_body", L("5\r\nhello\r\n0\r\n\r\n"), 4, -413},
		{"over max_body over chunks", L("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), 5, -413},
		{"huge chunk", L("FFFFFFFFFFFFFFFF\r\n"), 1 << 20, -413},
		{"nonzero chunk with max 0", L("1\r\n"), 0, -413},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		chunk_bad(t[i].name, t[i].raw, t[i].len, t[i].max, t[i].status);
}

Test(http_chunked, oversized_lines)
{
	struct sbuf b = {0};
	sb_puts(&b, "1;");
	sb_rep(&b, 'e', 4095); /* size line of 4097 bytes */
	sb_puts(&b, "\r\nx\r\n0\r\n\r\n");
	chunk_bad("ext line 4097", b.p, b.len, 100, -400);
	free(b.p);

	b = (struct sbuf){0};
	sb_puts(&b, "5;");
	sb_rep(&b, 'e', 5000);
	chunk_bad("unterminated ext", b.p, b.len, 100, -400);
	free(b.p);

	b = (struct sbuf){0};
	sb_rep(&b, '0', 5000); /* only digits, still bounded */
	chunk_bad("endless zeros", b.p, b.len, 100, -400);
	free(b.p);

	b = (struct sbuf){0};
	sb_puts(&b, "0\r\nX-Big: ");
	sb_rep(&b, 't', 5000);
	sb_puts(&b, "\r\n\r\n");
	chunk_bad("trailer line", b.p, b.len, 100, -400);
	free(b.p);

	b = (struct sbuf){0};
	sb_puts(&b, "0\r\n");
	for (int i = 0; i < 65; i++)
		sb_puts(&b, "T: v\r\n");
	sb_puts(&b, "\r\n");
	chunk_bad("65 trailers", b.p, b.len, 100, -400);
	free(b.p);
}
